/**
 * Standard Webhooks signing of requests, done by the `standardwebhooks` package: this file only
 * reads the signing secret in the formats the functions accept and builds the three headers.
 */
import { Webhook } from "standardwebhooks";

const WHSEC_PREFIX = "whsec_";
/** The shortest key the functions accept, in bytes (raw) or decoded bytes (`whsec_`). */
const MIN_KEY_BYTES = 24;

/** The three headers that authenticate a request. */
export interface SignatureHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

/**
 * Reads a signing secret — `whsec_<base64>` or a raw key of at least 24 characters (what the SAM
 * stack generates), as the functions do — and signs with it. The key is held in a private field:
 * printing or serialising a signer shows nothing of it.
 */
export class RequestSigner {
  readonly #webhook: Webhook;

  /** Throws a `TypeError` (which never contains the secret) when the secret is not usable. */
  constructor(signingSecret: string) {
    if (typeof signingSecret !== "string" || /\s/.test(signingSecret)) {
      throw new TypeError(
        "signingSecret must be one key (whsec_<base64> or a raw key of at least 24 characters), without whitespace",
      );
    }
    this.#webhook = signingSecret.startsWith(WHSEC_PREFIX)
      ? encodedKey(signingSecret)
      : rawKey(signingSecret);
  }

  /** The headers for `body` sent as message `webhookId` at `at`. */
  sign(webhookId: string, body: string, at: Date): SignatureHeaders {
    return {
      "webhook-id": webhookId,
      "webhook-timestamp": Math.floor(at.getTime() / 1000).toString(),
      "webhook-signature": this.#webhook.sign(webhookId, at, body),
    };
  }
}

function encodedKey(secret: string): Webhook {
  let decodedLength: number;
  try {
    decodedLength = atob(secret.slice(WHSEC_PREFIX.length)).length;
  } catch {
    throw new TypeError("signingSecret starts with whsec_ but the rest is not base64");
  }
  if (decodedLength < MIN_KEY_BYTES) {
    throw new TypeError(`signingSecret's whsec_ key must decode to at least ${MIN_KEY_BYTES} bytes`);
  }
  return new Webhook(secret);
}

function rawKey(secret: string): Webhook {
  const bytes = new TextEncoder().encode(secret);
  if (bytes.length < MIN_KEY_BYTES) {
    throw new TypeError(
      `signingSecret must be whsec_<base64> or a raw key of at least ${MIN_KEY_BYTES} characters`,
    );
  }
  return new Webhook(bytes, { format: "raw" });
}

/** A fresh, unguessable webhook id (`msg_` and 32 hex digits) for a call without an idempotency key. */
export function newWebhookId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `msg_${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}
