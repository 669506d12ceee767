// The drop-in for Echo's `convex/lib/secrets.ts` in the Edge-like runtime Convex's default runtime
// is (vitest's edge-runtime environment: no Node built-ins), against the local stack: its default
// exports read TENANT_KEYS_URL and TENANT_KEYS_SIGNING_SECRET on first use. The client's own suite
// (clients/convex/test/secrets-manager.test.ts) runs it under Node, as a "use node" file would.
import { getSecretValue, parseSecretString, upsertSecret } from "@tenant-keys/convex/secrets-manager";
import { expect, test } from "vitest";

const marker = process.env.TENANT_KEYS_TEST_VALUE_MARKER;

test("upsertSecret, getSecretValue and parseSecretString round-trip in the default runtime", async () => {
  expect(marker, "run under tests/convex.rs (./scripts/test)").toBeTruthy();
  const name = `tenant/org_edge${Math.random().toString(16).slice(2, 10)}/vapi`;
  const value = { publicApiKey: `pk-${marker}-edge`, privateApiKey: `sk-${marker}-edge` };
  await upsertSecret(name, value);
  const read = await getSecretValue(name);
  expect(read.Name).toBe(name);
  expect(parseSecretString(read)).toEqual(value);
  await expect(getSecretValue(`${name.slice(0, -4)}openai`)).rejects.toMatchObject({
    name: "ResourceNotFoundException",
    status: 404,
  });
});
