// The drop-in for Echo's `convex/lib/secrets.ts` (`@tenant-keys/convex/secrets-manager`) against
// the local stack the runner (tests/convex.rs) started: its default exports read
// TENANT_KEYS_URL and TENANT_KEYS_SIGNING_SECRET on first use, as in a Convex deployment.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";

import { TenantKeysError, createTenantKeys } from "../src/index.js";
import {
  ResourceNotFoundException,
  getSecretValue,
  parseSecretString,
  upsertSecret,
} from "../src/secrets-manager.js";

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run ./scripts/test (tests/convex.rs sets it)`);
  return value;
}

const marker = required("TENANT_KEYS_TEST_VALUE_MARKER");
/** A tenant whose Vapi secret the runner wrote straight into Secrets Manager, as Echo does. */
const echoTenant = required("TENANT_KEYS_TEST_ECHO_TENANT");
const echoValue = JSON.parse(required("TENANT_KEYS_TEST_ECHO_VALUE")) as Record<string, string>;
/** A tenant whose stored Vapi value has Echo's `publicAPIKey` typo. */
const misspelledTenant = required("TENANT_KEYS_TEST_MISSPELLED_TENANT");

const client = createTenantKeys({
  baseUrl: required("TENANT_KEYS_URL"),
  signingSecret: required("TENANT_KEYS_SIGNING_SECRET"),
});

function tenant(): string {
  return `org_sm${randomBytes(8).toString("hex")}`;
}

function value(label: string): string {
  return `${label}-${marker}-${randomBytes(6).toString("hex")}`;
}

/** The tenant has no integration at all: nothing was stored. */
async function nothingStored(tenantId: string): Promise<void> {
  assert.deepEqual((await client.listIntegrations({ tenantId })).integrations, []);
}

async function rejectsNotFound(promise: Promise<unknown>, disconnected: boolean): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ResourceNotFoundException);
    assert.ok(error instanceof TenantKeysError);
    assert.equal(error.name, "ResourceNotFoundException");
    assert.equal((error as { name: string }).name, "ResourceNotFoundException");
    assert.equal(error.status, 404);
    assert.equal(error.code, "not_found");
    assert.equal(typeof error.deletionDate === "string", disconnected);
    return true;
  });
}

describe("the drop-in for Echo's lib/secrets.ts", () => {
  test("upsertSecret, then getSecretValue and parseSecretString, as Echo's callers use them", async () => {
    const tenantId = tenant();
    const name = `tenant/${tenantId}/vapi`;
    const first = { publicApiKey: value("pk"), privateApiKey: value("sk") };
    await upsertSecret(name, first);
    const read = await getSecretValue(name);
    assert.equal(read.Name, name);
    assert.deepEqual(read.VersionStages, ["AWSCURRENT"]);
    assert.ok(read.VersionId.length > 0);
    assert.deepEqual(parseSecretString<typeof first>(read), first);

    // A second upsert replaces the value (Echo's PutSecretValue path), as a new version.
    const second = { publicApiKey: first.publicApiKey, privateApiKey: value("sk2") };
    await upsertSecret(name, second);
    const again = await getSecretValue(name);
    assert.deepEqual(parseSecretString(again), second);
    assert.notEqual(again.VersionId, read.VersionId);
  });

  test("a secret Echo wrote with the AWS SDK is read as it is", async () => {
    const read = await getSecretValue(`tenant/${echoTenant}/vapi`);
    assert.deepEqual(parseSecretString(read), echoValue);
  });

  test("a stored value with Echo's publicAPIKey typo is a clear error, not a silent null", async () => {
    await assert.rejects(getSecretValue(`tenant/${misspelledTenant}/vapi`), (error: unknown) => {
      assert.ok(error instanceof TenantKeysError);
      assert.equal(error.code, "invalid_stored_value");
      assert.ok(!error.message.includes(marker), "no value in the message");
      return true;
    });
  });

  test("never connected and disconnected: an error named ResourceNotFoundException", async () => {
    const tenantId = tenant();
    const name = `tenant/${tenantId}/vapi`;
    await rejectsNotFound(getSecretValue(name), false);
    await upsertSecret(name, { publicApiKey: value("pk"), privateApiKey: value("sk") });
    await client.disconnectIntegration({ tenantId, provider: "vapi" });
    await rejectsNotFound(getSecretValue(name), true);
  });

  test("a bad name or value is an error naming the rule, and nothing is stored", async () => {
    const tenantId = tenant();
    const full = { publicApiKey: value("pk"), privateApiKey: value("sk") };
    for (const name of [`tenant/${tenantId}`, `tenants/${tenantId}/vapi`, `tenant/${tenantId}/vapi/x`, ""]) {
      await assert.rejects(upsertSecret(name, full), {
        name: "TypeError",
        message: "a secret name must be tenant/<tenantId>/<provider>",
      });
      await assert.rejects(getSecretValue(name), TypeError);
    }
    await assert.rejects(upsertSecret(`tenant/${tenantId}/vapi`, { publicApiKey: full.publicApiKey }), {
      name: "TypeError",
      message: "the secret value needs the field privateApiKey of provider vapi",
    });
    await assert.rejects(upsertSecret(`tenant/${tenantId}/vapi`, { ...full, publicAPIKey: full.publicApiKey }), {
      name: "TypeError",
      message: "publicAPIKey is not a field of provider vapi (its fields: publicApiKey, privateApiKey)",
    });
    await assert.rejects(upsertSecret(`tenant/${tenantId}/vapi`, { ...full, privateApiKey: 42 }), {
      name: "TypeError",
      message: "the secret value's field privateApiKey must be a string",
    });
    // The functions' own rules: a provider no catalog has, a tenant id outside the rules.
    await assert.rejects(upsertSecret(`tenant/${tenantId}/paypal`, { apiKey: value("k") }), {
      name: "TenantKeysError",
      code: "unknown_provider",
    });
    await assert.rejects(upsertSecret(`tenant/..${tenantId}/vapi`, full), {
      name: "TenantKeysError",
      code: "invalid_tenant_id",
    });
    await nothingStored(tenantId);
  });

  test("parseSecretString is Echo's: null on a missing or unparsable string", () => {
    assert.equal(parseSecretString({}), null);
    assert.equal(parseSecretString({ SecretString: "" }), null);
    assert.equal(parseSecretString({ SecretString: "{not json" }), null);
    assert.deepEqual(parseSecretString({ SecretString: '{"a":"b"}' }), { a: "b" });
  });
});
