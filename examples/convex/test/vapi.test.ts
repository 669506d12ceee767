// Echo's Vapi flows, run: the example's actions, queries and mutations execute under convex-test
// against the local tenant-keys stack (moto + the release binaries behind the Lambda Runtime API
// emulator) that `cargo test -p tenant-keys-e2e --test convex` starts. Only Vapi's API is stubbed,
// by the mock the runner points the stack at (the key check, `verify`, and call-provider's calls):
// it refuses keys containing "wrong" and lists one assistant and one phone number. The example
// never holds the private key: its dashboard calls Vapi through call-provider. Without the stack
// these tests fail, never skip.
import { createTenantKeys } from "@tenant-keys/convex";
import { convexTest } from "convex-test";
import { describe, expect, test } from "vitest";

import { api } from "../convex/_generated/api";
import schema from "../convex/schema";

const modules = import.meta.glob("../convex/**/!(*.*.*)*.*s");

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

const stack = createTenantKeys({
  baseUrl: required("TENANT_KEYS_URL"),
  signingSecret: required("TENANT_KEYS_SIGNING_SECRET"),
});
/** Part of every key, so the runner can check the functions never print one. */
const marker = required("TENANT_KEYS_TEST_VALUE_MARKER");

function random(): string {
  return Math.random().toString(16).slice(2, 10);
}

function key(label: string): string {
  return `${label}-${marker}-${random()}`;
}

describe("Echo's Vapi flows on tenant-keys", () => {
  test("connect → widget → dashboard → new key used at once → disconnect → reconnect restores", async () => {
    const t = convexTest(schema, modules);
    const orgId = `org_ex${random()}`;
    const member = t.withIdentity({ subject: "user_1", orgId });
    const plugins = () => t.run((ctx) => ctx.db.query("plugins").collect());
    const publicApiKey = key("pk");
    const firstKey = key("sk");

    // A key Vapi refuses (tenant-keys checks it first): nothing stored, no row.
    await expect(
      member.action(api.private.secrets.connectVapi, {
        publicApiKey,
        privateApiKey: key("sk-wrong"),
        submissionId: random(),
      }),
    ).rejects.toThrow(/refused the privateApiKey/);
    expect(await plugins()).toEqual([]);
    expect((await stack.listIntegrations({ tenantId: orgId })).integrations).toEqual([]);

    // Connect (checked with Vapi): stored, and the plugins row written.
    const connected = await member.action(api.private.secrets.connectVapi, {
      publicApiKey,
      privateApiKey: firstKey,
      submissionId: random(),
    });
    expect(connected.restored).toBe(false);
    expect(connected.keys.privateApiKey).toBe(`****${firstKey.slice(-4)}`);
    expect(await plugins()).toMatchObject([{ organizationId: orgId, service: "vapi" }]);

    // The widget's public key (no session), and the dashboard's assistants with the private key.
    expect(await t.action(api.public.vapi.getVapiPublicKey, { organizationId: orgId })).toEqual({
      publicApiKey,
    });
    expect(await member.action(api.private.vapi.getAssistants, {})).toEqual([
      { id: "asst_1", name: "Support" },
    ]);
    expect(await member.action(api.private.vapi.getPhoneNumbers, {})).toEqual([
      { id: "pn_1", number: "+15550100" },
    ]);

    // Reconnect with a new private key: the dashboard goes on working, and a fresh call is made
    // with the new version.
    const secondKey = key("sk");
    await member.action(api.private.secrets.connectVapi, {
      publicApiKey,
      privateApiKey: secondKey,
      submissionId: random(),
    });
    expect(await member.action(api.private.vapi.getAssistants, {})).toHaveLength(1);
    const current = await stack.fetchKey({ tenantId: orgId, provider: "vapi", view: "masked" });
    const fresh = await stack.callProvider({
      tenantId: orgId,
      provider: "vapi",
      method: "GET",
      path: "/assistant",
      maxAgeSeconds: 0,
    });
    expect(fresh.versionId).toBe(current.versionId);
    expect(await member.action(api.private.vapi.getVapiConnection, {})).toMatchObject({
      connected: true,
      privateApiKey: `****${secondKey.slice(-4)}`,
    });

    // Disconnect: the row goes, the widget gets nothing, the secret is scheduled for deletion.
    const removed = await member.action(api.private.plugins.remove, { service: "vapi" });
    expect(removed.deletionDate).toEqual(expect.any(String));
    expect(await plugins()).toEqual([]);
    expect(await t.action(api.public.vapi.getVapiPublicKey, { organizationId: orgId })).toBeNull();
    expect(await member.action(api.private.vapi.getVapiConnection, {})).toEqual({ connected: false });
    await expect(member.action(api.private.vapi.getAssistants, {})).rejects.toThrow(
      /not connected/,
    );
    expect((await stack.listIntegrations({ tenantId: orgId })).integrations).toMatchObject([
      { provider: "vapi", status: "disconnected", deletionDate: removed.deletionDate },
    ]);
    // Disconnecting again is harmless.
    await member.action(api.private.plugins.remove, { service: "vapi" });

    // Reconnect: the secret is restored; the keys before the disconnect are the previous version.
    const thirdKey = key("sk");
    const restored = await member.action(api.private.secrets.connectVapi, {
      publicApiKey,
      privateApiKey: thirdKey,
      submissionId: random(),
    });
    expect(restored.restored).toBe(true);
    expect(await plugins()).toHaveLength(1);
    expect(await t.action(api.public.vapi.getVapiPublicKey, { organizationId: orgId })).toEqual({
      publicApiKey,
    });
    const previous = await stack.fetchKey({ tenantId: orgId, provider: "vapi", version: "previous" });
    expect(previous.credentials.privateApiKey).toBe(secondKey);
  });

  test("only a signed-in organization member can connect or disconnect", async () => {
    const t = convexTest(schema, modules);
    const args = { publicApiKey: key("pk"), privateApiKey: key("sk"), submissionId: random() };
    await expect(t.action(api.private.secrets.connectVapi, args)).rejects.toThrow(
      /Identity not found/,
    );
    await expect(
      t.withIdentity({ subject: "user_2" }).action(api.private.plugins.remove, { service: "vapi" }),
    ).rejects.toThrow(/Organization not found/);
  });
});
