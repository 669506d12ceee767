// A scripted HTTP endpoint in front of the local stack: each request is answered by the next
// scripted step (a 503, a dropped connection, a gateway error page) or passed through to the
// stack, and recorded, so a test can see what the client sent and how often.
import { type IncomingHttpHeaders, createServer } from "node:http";
import type { AddressInfo } from "node:net";

/** What the proxy does with one request. */
export type Step = "pass" | "503" | "drop" | "502-html";

/** One request the proxy received. */
export interface Seen {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A running proxy: `baseUrl` takes the place of the stack's base URL. */
export interface Proxy {
  baseUrl: string;
  seen: Seen[];
  close(): Promise<void>;
}

/**
 * Starts a proxy to `upstreamBaseUrl` that plays `script` one step per request, then `after` for
 * every further request.
 */
export async function startProxy(
  upstreamBaseUrl: string,
  script: Step[],
  after: Step = "pass",
): Promise<Proxy> {
  const upstream = new URL(upstreamBaseUrl);
  const seen: Seen[] = [];
  const server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    seen.push({ path: request.url ?? "", headers: request.headers, body });
    const step = script.shift() ?? after;
    switch (step) {
      case "503":
        response.writeHead(503, { "content-type": "application/problem+json", "retry-after": "1" });
        response.end(
          JSON.stringify({
            type: "urn:tenant-keys:problem:upstream_unavailable",
            title: "Upstream unavailable",
            status: 503,
            detail: "scripted by the test proxy",
            code: "upstream_unavailable",
          }),
        );
        return;
      case "drop":
        request.socket.destroy();
        return;
      case "502-html":
        response.writeHead(502, { "content-type": "text/html" });
        response.end("<html><body>Bad Gateway</body></html>");
        return;
      case "pass": {
        await passThrough();
        return;
      }
    }

    async function passThrough() {
      try {
        const headers: Record<string, string> = {};
        for (const name of ["content-type", "webhook-id", "webhook-timestamp", "webhook-signature"]) {
          const value = request.headers[name];
          if (typeof value === "string") headers[name] = value;
        }
        const answer = await fetch(new URL(request.url ?? "/", upstream.origin), {
          method: request.method ?? "POST",
          headers,
          body,
        });
        const out: Record<string, string> = {};
        answer.headers.forEach((value, name) => {
          if (name !== "content-length" && name !== "transfer-encoding") out[name] = value;
        });
        response.writeHead(answer.status, out);
        response.end(await answer.text());
      } catch {
        request.socket.destroy(); // the stack is unreachable: the client sees a network error
      }
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}${upstream.pathname.replace(/\/+$/, "")}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
