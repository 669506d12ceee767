// No call of the client follows a redirect (issue 27): a stack URL that answers 3xx with a
// Location on another server gets the signed request once, and that other server gets nothing —
// neither the body (credentials) nor the webhook-* headers. Two local servers play the parts.
import assert from "node:assert/strict";
import { type IncomingHttpHeaders, type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";

import { TenantKeysError, createTenantKeys } from "../src/index.js";
import { secretsModule } from "../src/secrets-manager.js";

const signingSecret = "Abc123Def456Ghi789Jkl012Mno345Pqr678Stu901Vwx234";
const privateKey = "sk-redirected-never-0123456789";

interface Received {
  method: string | undefined;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A server that records every request and answers `answer(request)`. */
async function server(
  answer: (received: Received) => { status: number; headers: Record<string, string> },
): Promise<{ url: string; host: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => {
      const seen = { method: request.method, headers: request.headers, body };
      received.push(seen);
      const { status, headers } = answer(seen);
      response.writeHead(status, { "content-type": "application/json", ...headers });
      response.end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, host: `127.0.0.1:${port}`, received, server };
}

// The server a redirect points to: it would answer like the stack, to show that nothing reached it.
const elsewhere = await server(() => ({ status: 200, headers: {} }));
let status = 307;
const redirecting = await server(() => ({
  status,
  headers: { location: `${elsewhere.url}/stolen` },
}));
after(() => {
  elsewhere.server.close();
  redirecting.server.close();
});

for (const code of [301, 302, 303, 307, 308]) {
  test(`a ${code} is an error naming the status and the Location's host, and is not followed`, async () => {
    status = code;
    const before = redirecting.received.length;
    const client = createTenantKeys({ baseUrl: redirecting.url, signingSecret, maxAttempts: 3 });
    await assert.rejects(
      client.connectIntegration({
        tenantId: "org_1",
        provider: "vapi",
        credentials: { publicApiKey: "pk-public-1", privateApiKey: privateKey },
      }),
      (error: unknown) => {
        assert.ok(error instanceof TenantKeysError);
        assert.equal(error.code, "redirect_refused");
        assert.equal(error.status, code);
        assert.match(error.message, new RegExp(`${code}.*host ${elsewhere.host}`));
        assert.ok(!error.message.includes(privateKey));
        return true;
      },
    );
    assert.equal(redirecting.received.length, before + 1, "sent once, not retried");
    assert.equal(elsewhere.received.length, 0, "nothing reached the Location");
  });
}

test("the drop-in for Echo's lib/secrets.ts follows no redirect either", async () => {
  status = 307;
  const dropIn = secretsModule(() => createTenantKeys({ baseUrl: redirecting.url, signingSecret }));
  await assert.rejects(
    dropIn.upsertSecret("tenant/org_1/vapi", { publicApiKey: "pk-public-1", privateApiKey: privateKey }),
    (error: unknown) => error instanceof TenantKeysError && error.code === "redirect_refused",
  );
  await assert.rejects(
    dropIn.getSecretValue("tenant/org_1/vapi"),
    (error: unknown) => error instanceof TenantKeysError && error.code === "redirect_refused",
  );
  assert.equal(elsewhere.received.length, 0, "nothing reached the Location");
});
