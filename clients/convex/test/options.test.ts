// Call options without a stack, through the `fetch` option: aborting stops a call even while it
// waits to retry, and the answer of the injected `fetch` is what the caller gets.
import assert from "node:assert/strict";
import { test } from "node:test";

import { TenantKeysError, createTenantKeys } from "../src/index.js";

const signingSecret = "Abc123Def456Ghi789Jkl012Mno345Pqr678Stu901Vwx234";

function problem503(): Response {
  return new Response(
    JSON.stringify({ title: "Upstream unavailable", detail: "d", code: "upstream_unavailable", status: 503 }),
    { status: 503, headers: { "retry-after": "30" } },
  );
}

test("an abort during the wait before a retry ends the call at once", async () => {
  let calls = 0;
  const client = createTenantKeys({
    baseUrl: "https://tenant-keys.example",
    signingSecret,
    maxRetryDelayMs: 30_000,
    fetch: async () => {
      calls += 1;
      return problem503();
    },
  });
  const controller = new AbortController();
  const started = Date.now();
  setTimeout(() => controller.abort(new Error("caller gave up")), 50);
  await assert.rejects(
    client.fetchKey({ tenantId: "org_1", provider: "vapi" }, { signal: controller.signal }),
    /caller gave up/,
  );
  assert.equal(calls, 1);
  assert.ok(Date.now() - started < 5_000);
});

test("the injected fetch receives the signed POST and its answer is returned", async () => {
  const seen: { url: string; init: RequestInit }[] = [];
  const client = createTenantKeys({
    baseUrl: "https://tenant-keys.example/prod/",
    signingSecret,
    fetch: async (url, init) => {
      seen.push({ url: String(url), init: init ?? {} });
      return new Response(
        JSON.stringify({ tenantId: "org_1", provider: "openai", versionId: "v1", credentials: { apiKey: "k" } }),
        { status: 200 },
      );
    },
  });
  const answer = await client.fetchKey({ tenantId: "org_1", provider: "openai" }, { idempotencyKey: "fetch-1" });
  assert.equal(answer.versionId, "v1");
  assert.equal(seen.length, 1);
  assert.equal(seen[0]?.url, "https://tenant-keys.example/prod/fetch-key");
  assert.equal(seen[0]?.init.method, "POST");
  const headers = seen[0]?.init.headers as Record<string, string>;
  assert.equal(headers["webhook-id"], "fetch-1");
  assert.match(headers["webhook-signature"] ?? "", /^v1,[A-Za-z0-9+/]+=*$/);
  assert.equal(seen[0]?.init.body, JSON.stringify({ tenantId: "org_1", provider: "openai" }));
});

test("a 2xx answer that is not the API's is an unexpected_response, not a result", async () => {
  const client = createTenantKeys({
    baseUrl: "https://tenant-keys.example",
    signingSecret,
    fetch: async () => new Response("<html>login</html>", { status: 200 }),
  });
  await assert.rejects(client.fetchKey({ tenantId: "org_1", provider: "vapi" }), (error: unknown) => {
    assert.ok(error instanceof TenantKeysError);
    assert.equal(error.code, "unexpected_response");
    assert.equal(error.status, 200);
    return true;
  });
});

test("an attempt that never answers times out and is retried, even if fetch ignores its signal", async () => {
  let calls = 0;
  const client = createTenantKeys({
    baseUrl: "https://tenant-keys.example",
    signingSecret,
    maxAttempts: 2,
    attemptTimeoutMs: 100,
    maxRetryDelayMs: 10,
    fetch: () => {
      calls += 1;
      return new Promise<Response>(() => {}); // like Convex's fetch: no signal support, no answer
    },
  });
  const started = Date.now();
  await assert.rejects(client.fetchKey({ tenantId: "org_1", provider: "vapi" }), (error: unknown) => {
    assert.ok(error instanceof TenantKeysError);
    assert.equal(error.code, "network_error");
    assert.match(error.detail, /within 100 ms/);
    return true;
  });
  assert.equal(calls, 2);
  assert.ok(Date.now() - started < 5_000);
});

test("an answer whose Retry-After is longer than the client would wait is not retried", async () => {
  let calls = 0;
  const client = createTenantKeys({
    baseUrl: "https://tenant-keys.example",
    signingSecret,
    fetch: async () => {
      calls += 1;
      return new Response(
        JSON.stringify({ title: "Too many writes", detail: "d", code: "too_many_writes", status: 429 }),
        { status: 429, headers: { "retry-after": "3600" } },
      );
    },
  });
  const started = Date.now();
  await assert.rejects(
    client.updateKey({ tenantId: "org_1", provider: "openai", credentials: { apiKey: "sk-x" } }),
    (err: unknown) => err instanceof TenantKeysError && err.code === "too_many_writes" && err.status === 429,
  );
  assert.equal(calls, 1);
  assert.ok(Date.now() - started < 1_000);
});

test("a not_found of disconnected credentials carries its deletionDate", async () => {
  const client = createTenantKeys({
    baseUrl: "https://tenant-keys.example",
    signingSecret,
    fetch: async () =>
      new Response(
        JSON.stringify({
          title: "Not found",
          detail: "these credentials were disconnected",
          code: "not_found",
          status: 404,
          deletionDate: "2026-12-07T10:00:00Z",
        }),
        { status: 404 },
      ),
  });
  await assert.rejects(
    client.fetchKey({ tenantId: "org_1", provider: "vapi", versionId: "v1", maxAgeSeconds: 60 }),
    (err: unknown) => err instanceof TenantKeysError && err.deletionDate === "2026-12-07T10:00:00Z",
  );
});

test("numeric options are validated like maxAttempts", () => {
  const base = { baseUrl: "https://tenant-keys.example", signingSecret };
  for (const bad of [
    { maxRetryDelayMs: -1 },
    { maxRetryDelayMs: 1.5 },
    { maxRetryDelayMs: Number.NaN },
    { attemptTimeoutMs: 0 },
    { attemptTimeoutMs: 10_000_000 },
    { maxAttempts: 0 },
  ]) {
    assert.throws(() => createTenantKeys({ ...base, ...bad }), TypeError, JSON.stringify(bad));
  }
  const client = createTenantKeys(base);
  assert.throws(
    () => client.fetchKey({ tenantId: "org_1", provider: "vapi", maxAgeSeconds: -5 }),
    TypeError,
  );
});

test("an error code from a newer stack is kept as its string", async () => {
  const client = createTenantKeys({
    baseUrl: "https://tenant-keys.example",
    signingSecret,
    fetch: async () =>
      new Response(
        JSON.stringify({ title: "Brand new", detail: "d", code: "brand_new_code", status: 422 }),
        { status: 422 },
      ),
  });
  await assert.rejects(
    client.fetchKey({ tenantId: "org_1", provider: "vapi" }),
    (err: unknown) => err instanceof TenantKeysError && err.code === "brand_new_code" && err.status === 422,
  );
});
