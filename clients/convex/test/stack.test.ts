// The client against the real local stack: moto's Secrets Manager and the six release binaries
// behind the Lambda Runtime API emulator, started by `cargo test -p tenant-keys-e2e --test
// convex` (which `./scripts/test` runs). Without that stack these tests fail, never skip.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { inspect } from "node:util";

import {
  PROVIDERS,
  type TenantKeys,
  TenantKeysError,
  type TenantKeysOptions,
  createTenantKeys,
  operatorProvider,
} from "../src/index.js";
import { type Seen, type Step, startProxy } from "./proxy.js";

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: these tests need the local stack; run ./scripts/test, or ` +
        "cargo test -p tenant-keys-e2e --test convex with a moto server",
    );
  }
  return value;
}

const baseUrl = required("TENANT_KEYS_URL");
const signingSecret = required("TENANT_KEYS_SIGNING_SECRET");
const whsecSigningSecret = required("TENANT_KEYS_SIGNING_SECRET_WHSEC");
/** Part of every credential value, so the runner can check the functions never print one. */
const marker = required("TENANT_KEYS_TEST_VALUE_MARKER");
const functionsProviders = JSON.parse(required("TENANT_KEYS_PROVIDERS")) as unknown;

const client = createTenantKeys({ baseUrl, signingSecret });

function tenant(): string {
  return `org_ts${randomBytes(8).toString("hex")}`;
}

function secretValue(label: string): string {
  return `${label}-${marker}-${randomBytes(6).toString("hex")}`;
}

function masked(value: string): string {
  return `****${value.slice(-4)}`;
}

/** Asserts that `promise` rejects with a `TenantKeysError` of `status` and `code`. */
async function rejectsWith(promise: Promise<unknown>, status: number, code: string) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof TenantKeysError, `not a TenantKeysError: ${String(error)}`);
    assert.equal(error.name, "TenantKeysError");
    assert.equal(error.status, status);
    assert.equal(error.code, code);
    assert.ok(error.title.length > 0 && error.detail.length > 0);
    assert.equal(error.message, `${status} ${error.title}: ${error.detail} (${code})`);
    return true;
  });
}

/**
 * Runs `body` with a client that reaches the stack through a scripted proxy (see proxy.ts), and
 * the requests the proxy saw; the proxy is closed afterwards, also when `body` fails.
 */
async function throughProxy(
  script: Step[],
  after: Step,
  options: Partial<TenantKeysOptions>,
  body: (viaProxy: TenantKeys, seen: Seen[]) => Promise<void>,
): Promise<void> {
  const proxy = await startProxy(baseUrl, script, after);
  try {
    await body(createTenantKeys({ baseUrl: proxy.baseUrl, signingSecret, ...options }), proxy.seen);
  } finally {
    await proxy.close();
  }
}

test("the client's provider table is the functions' registry", () => {
  const ours = Object.entries(PROVIDERS).map(([id, provider]) => ({
    id,
    fields: provider.fields.map((name) => ({
      name,
      public: (provider.public as readonly string[]).includes(name),
    })),
  }));
  assert.deepEqual(ours, functionsProviders);
});

describe("round trips", () => {
  test("vapi: connect, reconnect, every view, update with and without a version, previous", async () => {
    const tenantId = tenant();
    const first = { publicApiKey: secretValue("pk"), privateApiKey: secretValue("sk") };
    const created = await client.connectIntegration({ tenantId, provider: "vapi", credentials: first });
    assert.equal(created.created, true);
    assert.equal(created.tenantId, tenantId);
    assert.equal(created.provider, "vapi");
    assert.deepEqual(created.credentials, {
      publicApiKey: masked(first.publicApiKey),
      privateApiKey: masked(first.privateApiKey),
    });

    const second = { publicApiKey: secretValue("pk"), privateApiKey: secretValue("sk") };
    const replaced = await client.connectIntegration({ tenantId, provider: "vapi", credentials: second });
    assert.equal(replaced.created, false);
    assert.notEqual(replaced.versionId, created.versionId);

    const full = await client.fetchKey({ tenantId, provider: "vapi" }); // full reads are fresh
    assert.equal(full.versionId, replaced.versionId);
    assert.deepEqual(full.credentials, second);

    const widget = await client.fetchKey({ tenantId, provider: "vapi", view: "public" });
    assert.deepEqual(widget.credentials, { publicApiKey: second.publicApiKey });

    const settings = await client.fetchKey({ tenantId, provider: "vapi", view: "masked" });
    assert.deepEqual(settings.credentials, {
      publicApiKey: masked(second.publicApiKey),
      privateApiKey: masked(second.privateApiKey),
    });

    const previous = await client.fetchKey({ tenantId, provider: "vapi", version: "previous" });
    assert.equal(previous.versionId, created.versionId);
    assert.deepEqual(previous.credentials, first);

    const rotated = secretValue("sk");
    const swapped = await client.updateKey({
      tenantId,
      provider: "vapi",
      credentials: { privateApiKey: rotated },
      expectedVersionId: replaced.versionId,
    });
    assert.equal(swapped.created, false);
    assert.equal(swapped.changed, true);
    assert.deepEqual(swapped.credentials, {
      publicApiKey: masked(second.publicApiKey),
      privateApiKey: masked(rotated),
    });

    const publicRotated = secretValue("pk");
    const merged = await client.updateKey({
      tenantId,
      provider: "vapi",
      credentials: { publicApiKey: publicRotated },
    });
    assert.notEqual(merged.versionId, swapped.versionId);
    const after = await client.fetchKey({ tenantId, provider: "vapi" });
    assert.equal(after.versionId, merged.versionId);
    assert.deepEqual(after.credentials, { publicApiKey: publicRotated, privateApiKey: rotated });

    const unchanged = await client.updateKey({
      tenantId,
      provider: "vapi",
      credentials: { privateApiKey: rotated },
    });
    assert.equal(unchanged.changed, false);
    assert.equal(unchanged.versionId, merged.versionId);
    const byId = await client.fetchKey({ tenantId, provider: "vapi", versionId: created.versionId });
    assert.deepEqual(byId.credentials, first);
    const cachedOk = await client.fetchKey({ tenantId, provider: "vapi", view: "public", maxAgeSeconds: 60 });
    assert.deepEqual(cachedOk.credentials, { publicApiKey: publicRotated });
  });

  test("openai: connect, then the public view holds no field", async () => {
    const tenantId = tenant();
    const credentials = { apiKey: secretValue("sk-openai") };
    await client.connectIntegration({ tenantId, provider: "openai", credentials });
    const full = await client.fetchKey({ tenantId, provider: "openai" });
    assert.deepEqual(full.credentials, credentials);
    const widget = await client.fetchKey({ tenantId, provider: "openai", view: "public" });
    assert.deepEqual(widget.credentials, {});
  });

  test("a whsec_ signing secret works as well as the generated raw key", async () => {
    const whsecClient = createTenantKeys({ baseUrl, signingSecret: whsecSigningSecret });
    const tenantId = tenant();
    const credentials = { apiKey: secretValue("sk-openai") };
    const written = await whsecClient.connectIntegration({ tenantId, provider: "openai", credentials });
    const read = await client.fetchKey({ tenantId, provider: "openai" });
    assert.equal(read.versionId, written.versionId);
  });
});

describe("an operator's provider", () => {
  test("stripe, which only the stack's operator file defines: connect, views, update, list", async () => {
    // tests/fixtures/operator/providers.json: the stack's release binaries were built with it.
    const stripe = operatorProvider("stripe");
    const tenantId = tenant();
    const publishableKey = `pk_test_${randomBytes(8).toString("hex")}`;
    const secretKey = `sk_test_${randomBytes(8).toString("hex")}`;
    const connected = await client.connectIntegration({
      tenantId,
      provider: stripe,
      credentials: { publishableKey, secretKey },
    });
    assert.equal(connected.provider, "stripe");
    assert.equal(connected.credentials.secretKey, masked(secretKey));
    const widget = await client.fetchKey({ tenantId, provider: stripe, view: "public" });
    assert.deepEqual(widget.credentials, { publishableKey });
    const rotated = `rk_live_${randomBytes(8).toString("hex")}`;
    await client.updateKey({ tenantId, provider: stripe, credentials: { secretKey: rotated } });
    const full = await client.fetchKey({ tenantId, provider: stripe });
    assert.deepEqual(full.credentials, { publishableKey, secretKey: rotated });
    const listed = await client.listIntegrations({ tenantId });
    assert.deepEqual(
      listed.integrations.map(({ provider, status }) => [provider, status]),
      [["stripe", "connected"]],
    );
    // Loosely typed, checked by the functions: a field stripe does not have.
    await rejectsWith(
      client.updateKey({ tenantId, provider: stripe, credentials: { apiKey: "sk_test_1" } }),
      400,
      "invalid_credentials",
    );
    assert.throws(() => operatorProvider("Stripe"), TypeError);
  });
});

describe("lifecycle", () => {
  test("disconnect, not_found with deletionDate, list, reconnect restores, offboard", async () => {
    const tenantId = tenant();
    const first = { publicApiKey: secretValue("pk"), privateApiKey: secretValue("sk") };
    await client.connectIntegration({ tenantId, provider: "vapi", credentials: first });
    await client.connectIntegration({
      tenantId,
      provider: "openai",
      credentials: { apiKey: secretValue("sk-openai") },
    });

    const gone = await client.disconnectIntegration({ tenantId, provider: "vapi" });
    assert.equal(gone.provider, "vapi");
    assert.equal(gone.purged, false);
    assert.ok(Date.parse(gone.deletionDate) > Date.now());
    const again = await client.disconnectIntegration({ tenantId, provider: "vapi" });
    assert.equal(again.deletionDate, gone.deletionDate);
    await assert.rejects(client.fetchKey({ tenantId, provider: "vapi" }), (error: unknown) => {
      assert.ok(error instanceof TenantKeysError);
      assert.equal(error.code, "not_found");
      assert.equal(error.deletionDate, gone.deletionDate);
      return true;
    });
    const listed = await client.listIntegrations({ tenantId });
    assert.deepEqual(
      listed.integrations.map(({ provider, status }) => [provider, status]),
      [
        ["vapi", "disconnected"],
        ["openai", "connected"],
      ],
    );
    assert.equal(listed.integrations[0]?.deletionDate, gone.deletionDate);

    const second = { publicApiKey: secretValue("pk"), privateApiKey: secretValue("sk") };
    const restored = await client.connectIntegration({ tenantId, provider: "vapi", credentials: second });
    assert.equal(restored.restored, true);
    assert.equal(restored.created, false);
    const previous = await client.fetchKey({ tenantId, provider: "vapi", version: "previous" });
    assert.deepEqual(previous.credentials, first);

    const offboarded = await client.disconnectIntegration({ tenantId, allProviders: true });
    assert.deepEqual(offboarded.integrations.map((i) => i.provider), ["vapi", "openai"]);
    const none = await client.disconnectIntegration({ tenantId: tenant(), allProviders: true });
    assert.deepEqual(none.integrations, []);
    assert.deepEqual((await client.listIntegrations({ tenantId: tenant() })).integrations, []);
  });

  test("403 purge_disabled where the stack does not allow purge; 404 for never connected", async () => {
    const tenantId = tenant();
    await client.connectIntegration({
      tenantId,
      provider: "openai",
      credentials: { apiKey: secretValue("sk-openai") },
    });
    await rejectsWith(
      client.disconnectIntegration({ tenantId, provider: "openai", purge: true }),
      403,
      "purge_disabled",
    );
    await client.fetchKey({ tenantId, provider: "openai" }); // nothing was done
    await rejectsWith(
      client.disconnectIntegration({ tenantId: tenant(), provider: "vapi" }),
      404,
      "not_found",
    );
  });
});

describe("verify", () => {
  test("a key the provider accepts is stored and verified; a refused one is 422 and not stored", async () => {
    const tenantId = tenant();
    const good = { publicApiKey: secretValue("pk"), privateApiKey: secretValue("sk") };
    const stored = await client.connectIntegration({ tenantId, provider: "vapi", credentials: good, verify: true });
    assert.equal(stored.verified, true);
    const plain = await client.updateKey({ tenantId, provider: "vapi", credentials: { publicApiKey: secretValue("pk") } });
    assert.equal(plain.verified, undefined);
    await rejectsWith(
      client.updateKey({
        tenantId,
        provider: "vapi",
        credentials: { privateApiKey: secretValue("sk-wrong") },
        verify: true,
      }),
      422,
      "credentials_rejected",
    );
    const current = await client.fetchKey({ tenantId, provider: "vapi" });
    assert.equal(current.versionId, plain.versionId, "nothing written");
  });
});

describe("call-provider", () => {
  test("callProvider: Vapi's answer with the key put in by the stack; refusals are TenantKeysError", async () => {
    const tenantId = tenant();
    const stored = await client.connectIntegration({
      tenantId,
      provider: "vapi",
      credentials: { publicApiKey: secretValue("pk"), privateApiKey: secretValue("sk") },
    });
    const answer = await client.callProvider({ tenantId, provider: "vapi", method: "GET", path: "/assistant" });
    assert.equal(answer.status, 200);
    assert.equal(answer.versionId, stored.versionId);
    assert.deepEqual((answer.json() as { id: string }[]).map((a) => a.id), ["asst_1"]);
    assert.equal(answer.headers.get("tenant-keys-provider"), "vapi");
    await rejectsWith(
      client.callProvider({ tenantId, provider: "vapi", method: "GET", path: "/../admin" }),
      400,
      "invalid_request",
    );
    await rejectsWith(
      client.callProvider({ tenantId: tenant(), provider: "vapi", method: "GET", path: "/assistant" }),
      404,
      "not_found",
    );
  });

  test("providerFetch: a provider SDK's fetch, its placeholder key dropped", async () => {
    const tenantId = tenant();
    await client.connectIntegration({
      tenantId,
      provider: "vapi",
      credentials: { publicApiKey: secretValue("pk"), privateApiKey: secretValue("sk") },
    });
    const vapiFetch = client.providerFetch(tenantId, "vapi");
    const response = await vapiFetch("https://api.vapi.ai/phone-number?limit=1", {
      headers: { authorization: "Bearer placeholder", accept: "application/json" },
    });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), [{ id: "pn_1", number: "+15550100", provider: "vapi" }]);
    // The mock refuses the placeholder: had it been sent instead of the stored key, this is 401.
    const posted = await vapiFetch(new Request("https://api.vapi.ai/assistant", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer placeholder-wrong" },
      body: JSON.stringify({ name: "Support" }),
    }));
    assert.equal(posted.status, 200);
  });
});

describe("typed errors", () => {
  test("400 invalid_tenant_id", async () => {
    await rejectsWith(
      client.fetchKey({ tenantId: "../org_other", provider: "vapi" }),
      400,
      "invalid_tenant_id",
    );
  });

  test("400 unknown_provider", async () => {
    await rejectsWith(
      client.fetchKey({ tenantId: tenant(), provider: operatorProvider("paypal") }),
      400,
      "unknown_provider",
    );
  });

  test("400 invalid_credentials, and the value is nowhere in the error", async () => {
    const value = ` ${secretValue("sk")}`;
    const call = client.connectIntegration({
      tenantId: tenant(),
      provider: "vapi",
      credentials: { publicApiKey: secretValue("pk"), privateApiKey: value },
    });
    await rejectsWith(call, 400, "invalid_credentials");
    const error = await call.catch((e: unknown) => e);
    for (const shown of [String(error), inspect(error, { depth: 10, showHidden: true }), JSON.stringify(error)]) {
      assert.ok(!shown.includes(value.trim()), shown);
      assert.ok(!shown.includes(marker), shown);
    }
  });

  test("401 unauthorized with another signing key", async () => {
    const stranger = createTenantKeys({ baseUrl, signingSecret: randomBytes(24).toString("hex") });
    await rejectsWith(stranger.fetchKey({ tenantId: tenant(), provider: "vapi" }), 401, "unauthorized");
  });

  test("404 not_found: never connected, and no previous version", async () => {
    const tenantId = tenant();
    await rejectsWith(client.fetchKey({ tenantId, provider: "vapi" }), 404, "not_found");
    await rejectsWith(
      client.updateKey({ tenantId, provider: "vapi", credentials: { privateApiKey: secretValue("sk") } }),
      404,
      "not_found",
    );
    await client.connectIntegration({
      tenantId,
      provider: "openai",
      credentials: { apiKey: secretValue("sk-openai") },
    });
    await rejectsWith(
      client.fetchKey({ tenantId, provider: "openai", version: "previous" }),
      404,
      "not_found",
    );
  });

  test("409 version_conflict for a stale expectedVersionId", async () => {
    const tenantId = tenant();
    const first = await client.connectIntegration({
      tenantId,
      provider: "openai",
      credentials: { apiKey: secretValue("sk-openai") },
    });
    await client.updateKey({ tenantId, provider: "openai", credentials: { apiKey: secretValue("sk-openai") } });
    await rejectsWith(
      client.updateKey({
        tenantId,
        provider: "openai",
        credentials: { apiKey: secretValue("sk-openai") },
        expectedVersionId: first.versionId,
      }),
      409,
      "version_conflict",
    );
  });

  test("409 idempotency_conflict for a reused key with other credentials", async () => {
    const tenantId = tenant();
    const idempotencyKey = `connect-${tenantId}`;
    await client.connectIntegration(
      { tenantId, provider: "openai", credentials: { apiKey: secretValue("sk-openai") } },
      { idempotencyKey },
    );
    await rejectsWith(
      client.connectIntegration(
        { tenantId, provider: "openai", credentials: { apiKey: secretValue("sk-openai") } },
        { idempotencyKey },
      ),
      409,
      "idempotency_conflict",
    );
  });
});

describe("idempotent retries", () => {
  test("a connect and an update retried with the same key each write once", async () => {
    const tenantId = tenant();
    const connect = {
      tenantId,
      provider: "vapi" as const,
      credentials: { publicApiKey: secretValue("pk"), privateApiKey: secretValue("sk") },
    };
    const first = await client.connectIntegration(connect, { idempotencyKey: `c-${tenantId}` });
    const again = await client.connectIntegration(connect, { idempotencyKey: `c-${tenantId}` });
    assert.equal(again.versionId, first.versionId);
    assert.equal(again.created, true);
    await rejectsWith(client.fetchKey({ tenantId, provider: "vapi", version: "previous" }), 404, "not_found");

    const update = { tenantId, provider: "vapi" as const, credentials: { privateApiKey: secretValue("sk") } };
    const updated = await client.updateKey(update, { idempotencyKey: `u-${tenantId}` });
    const retried = await client.updateKey(update, { idempotencyKey: `u-${tenantId}` });
    assert.equal(retried.versionId, updated.versionId);
    const current = await client.fetchKey({ tenantId, provider: "vapi", refresh: true });
    assert.equal(current.versionId, updated.versionId);
    const previous = await client.fetchKey({ tenantId, provider: "vapi", version: "previous" });
    assert.equal(previous.versionId, first.versionId);
  });

  test("a malformed idempotency key is refused before anything is sent", async () => {
    await assert.rejects(
      client.fetchKey({ tenantId: tenant(), provider: "vapi" }, { idempotencyKey: "two words" }),
      TypeError,
    );
  });
});

describe("bounded retries", () => {
  test("503 twice, then the stack: the third attempt succeeds, after Retry-After, with one id", async () => {
    await throughProxy(["503", "503"], "pass", { maxAttempts: 3 }, async (viaProxy, seen) => {
      const tenantId = tenant();
      const started = Date.now();
      const written = await viaProxy.connectIntegration({
        tenantId,
        provider: "openai",
        credentials: { apiKey: secretValue("sk-openai") },
      });
      const elapsed = Date.now() - started;
      assert.equal(written.created, true);
      assert.equal(seen.length, 3);
      assert.equal(new Set(seen.map((request) => request.headers["webhook-id"])).size, 1);
      assert.ok(elapsed >= 1900, `Retry-After: 1 was not honoured (${elapsed} ms for 3 attempts)`);
      await rejectsWith(
        client.fetchKey({ tenantId, provider: "openai", version: "previous" }),
        404,
        "not_found",
      );
    });
  });

  test("503 on every attempt: the caller gets the 503 after exactly maxAttempts", async () => {
    await throughProxy([], "503", { maxAttempts: 3, maxRetryDelayMs: 1_000 }, async (viaProxy, seen) => {
      await rejectsWith(
        viaProxy.fetchKey({ tenantId: tenant(), provider: "vapi" }),
        503,
        "upstream_unavailable",
      );
      assert.equal(seen.length, 3);
    });
  });

  test("a Retry-After longer than maxRetryDelayMs: the 503 is thrown without a retry", async () => {
    await throughProxy([], "503", { maxAttempts: 3, maxRetryDelayMs: 20 }, async (viaProxy, seen) => {
      await rejectsWith(
        viaProxy.fetchKey({ tenantId: tenant(), provider: "vapi" }),
        503,
        "upstream_unavailable",
      );
      assert.equal(seen.length, 1);
    });
  });

  test("a dropped connection is retried with the same id and writes once", async () => {
    await throughProxy(["drop"], "pass", {}, async (viaProxy, seen) => {
      const written = await viaProxy.connectIntegration({
        tenantId: tenant(),
        provider: "openai",
        credentials: { apiKey: secretValue("sk-openai") },
      });
      assert.equal(written.created, true);
      assert.equal(seen.length, 2);
      assert.equal(seen[0]?.headers["webhook-id"], seen[1]?.headers["webhook-id"]);
    });
  });

  test("no answer at all: network_error after maxAttempts", async () => {
    await throughProxy([], "drop", { maxAttempts: 2, maxRetryDelayMs: 20 }, async (viaProxy, seen) => {
      await rejectsWith(viaProxy.fetchKey({ tenantId: tenant(), provider: "vapi" }), 0, "network_error");
      assert.equal(seen.length, 2);
    });
  });

  test("a 4xx is answered at once, never retried", async () => {
    await throughProxy([], "pass", { maxAttempts: 5 }, async (viaProxy, seen) => {
      await rejectsWith(viaProxy.fetchKey({ tenantId: tenant(), provider: "vapi" }), 404, "not_found");
      assert.equal(seen.length, 1);
    });
  });

  test("a gateway's HTML error page becomes unexpected_response, without its text", async () => {
    await throughProxy([], "502-html", { maxAttempts: 2, maxRetryDelayMs: 20 }, async (viaProxy, seen) => {
      const call = viaProxy.fetchKey({ tenantId: tenant(), provider: "vapi" });
      await rejectsWith(call, 502, "unexpected_response");
      const error = await call.catch((e: unknown) => e);
      assert.ok(!String(error).includes("Bad Gateway"));
      assert.equal(seen.length, 2);
    });
  });
});
