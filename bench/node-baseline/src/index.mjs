// fetch-key as a Node.js Lambda function with @aws-sdk/client-secrets-manager v3: the baseline of
// BENCHMARKS.md. It does the same work per request as the Rust function without its cache:
// verify the Standard Webhooks signature, GetSecretValue, answer JSON. A minimal Runtime API loop
// stands in for the managed Node.js runtime, so it runs behind the same emulator.
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { createHmac, timingSafeEqual } from "node:crypto";

const api = process.env.AWS_LAMBDA_RUNTIME_API;
const runtime = `${api.startsWith("http") ? api : `http://${api}`}/2018-06-01/runtime/invocation`;
const client = new SecretsManagerClient({});

const signing = await client.send(new GetSecretValueCommand({ SecretId: process.env.WEBHOOK_SECRET_ID }));
const keys = signing.SecretString.trim().split(/\s+/).map((k) => Buffer.from(k.replace(/^whsec_/, ""), "base64"));

function verified(headers, body) {
  const id = headers["webhook-id"];
  const timestamp = Number(headers["webhook-timestamp"]);
  const signatures = (headers["webhook-signature"] ?? "").split(" ");
  if (!id || !Number.isInteger(timestamp) || Math.abs(Date.now() / 1000 - timestamp) > 300) return false;
  return keys.some((key) => {
    const expected = Buffer.from(createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64"));
    return signatures.some((s) => {
      const given = Buffer.from(s.split(",")[1] ?? "");
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
  });
}

function answer(statusCode, body) {
  return {
    statusCode,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
    body: JSON.stringify(body),
    isBase64Encoded: false,
    cookies: [],
  };
}

async function handler(event) {
  const body = event.isBase64Encoded ? Buffer.from(event.body, "base64").toString() : event.body ?? "";
  if (!verified(event.headers ?? {}, body)) return answer(401, { code: "unauthorized" });
  const { tenantId, provider } = JSON.parse(body);
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(tenantId)) return answer(400, { code: "invalid_tenant_id" });
  const secret = await client.send(
    new GetSecretValueCommand({ SecretId: `tenant/${tenantId}/${provider}`, VersionStage: "AWSCURRENT" }),
  );
  return answer(200, { tenantId, provider, versionId: secret.VersionId, credentials: JSON.parse(secret.SecretString) });
}

for (;;) {
  const next = await fetch(`${runtime}/next`);
  const requestId = next.headers.get("lambda-runtime-aws-request-id");
  let result;
  try {
    result = await handler(await next.json());
  } catch (error) {
    console.error("handler failed:", error?.name ?? "error");
    result = answer(500, { code: "internal" });
  }
  const posted = await fetch(`${runtime}/${requestId}/response`, { method: "POST", body: JSON.stringify(result) });
  if (!posted.ok) console.error("runtime API refused the response:", posted.status, await posted.text());
}
