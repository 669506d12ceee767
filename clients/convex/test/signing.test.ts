// Signing and option checks, without a stack: the specification's test vector, raw keys checked
// against an independent HMAC, and unusable options refused without echoing the secret.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test } from "node:test";

import { createTenantKeys } from "../src/index.js";
import { RequestSigner, newWebhookId } from "../src/signing.js";

test("a whsec_ key signs the specification's test vector", () => {
  const signer = new RequestSigner("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
  const headers = signer.sign(
    "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
    '{"email":"test@example.com","username":"test_user"}',
    new Date(1649367553 * 1000),
  );
  assert.deepEqual(headers, {
    "webhook-id": "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
    "webhook-timestamp": "1649367553",
    "webhook-signature": "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
  });
});

test("a raw key signs with its bytes, as the functions read the generated secret", () => {
  const key = "Abc123Def456Ghi789Jkl012Mno345Pqr678Stu901Vwx234";
  const body = '{"tenantId":"org_1","provider":"vapi"}';
  const expected = createHmac("sha256", Buffer.from(key, "utf8"))
    .update(`msg_1.1700000000.${body}`)
    .digest("base64");
  const headers = new RequestSigner(key).sign("msg_1", body, new Date(1700000000 * 1000));
  assert.equal(headers["webhook-signature"], `v1,${expected}`);
});

test("unusable signing secrets are refused without being echoed", () => {
  const bad = [
    "short-raw-key",
    "whsec_c2hvcnQ=",
    "whsec_%%%not-base64%%%",
    "Abc123Def456Ghi789Jkl012Mno345 Pqr678Stu901Vwx234",
  ];
  for (const secret of bad) {
    assert.throws(
      () => new RequestSigner(secret),
      (error: unknown) =>
        error instanceof TypeError && !error.message.includes(secret.replace("whsec_", "")),
    );
  }
});

test("unusable client options are refused", () => {
  const signingSecret = "Abc123Def456Ghi789Jkl012Mno345Pqr678Stu901Vwx234";
  assert.throws(() => createTenantKeys({ baseUrl: "not a url", signingSecret }), TypeError);
  assert.throws(() => createTenantKeys({ baseUrl: "ftp://example.com", signingSecret }), TypeError);
  assert.throws(
    () => createTenantKeys({ baseUrl: "https://example.com", signingSecret, maxAttempts: 0 }),
    TypeError,
  );
});

test("a signer shows nothing of its key when printed or serialised", async () => {
  const { inspect } = await import("node:util");
  const key = "Abc123Def456Ghi789Jkl012Mno345Pqr678Stu901Vwx234";
  const signer = new RequestSigner(key);
  const client = createTenantKeys({ baseUrl: "https://example.com", signingSecret: key });
  for (const shown of [inspect(signer, { depth: 10, showHidden: true }), JSON.stringify(signer),
    inspect(client, { depth: 10, showHidden: true })]) {
    assert.ok(!shown.includes(key) && !shown.includes("Abc123"), shown);
  }
});

test("fresh webhook ids are distinct", () => {
  const ids = new Set(Array.from({ length: 1000 }, newWebhookId));
  assert.equal(ids.size, 1000);
  for (const id of ids) assert.match(id, /^msg_[0-9a-f]{32}$/);
});
