/**
 * The providers tenant-keys stores keys for and their credential fields: generated from the
 * functions' catalog (`providers/catalog.json`) into `providers.generated.ts`, and compared with
 * the functions' registry by the tests. Every type of the client is derived from this table.
 */
import { PROVIDERS } from "./providers.generated.js";

export { PROVIDERS };

/** A provider id, as in `tenant/<tenantId>/<provider>`. */
export type Provider = keyof typeof PROVIDERS;

/** The names of a provider's credential fields. */
export type FieldOf<P extends Provider> = (typeof PROVIDERS)[P]["fields"][number];

/** The names of the fields the `public` view returns (safe to ship to a browser). */
export type PublicFieldOf<P extends Provider> = (typeof PROVIDERS)[P]["public"][number];

/** A provider's full credentials: every field is a string, and every field is required on connect. */
export type Credentials<P extends Provider> = { [K in FieldOf<P>]: string };

/**
 * How fetch-key returns credentials: `full` (every field), `public` (only the public fields),
 * `masked` (every field, at most its last 4 characters shown).
 */
export type View = "full" | "public" | "masked";

/** Which version fetch-key reads: the current one, or the one before the last write. */
export type KeyVersion = "current" | "previous";

/** The credentials a view returns: `public` narrows the type to the public fields. */
export type ViewedCredentials<P extends Provider, V extends View> = V extends "public"
  ? { [K in PublicFieldOf<P>]: string }
  : Credentials<P>;
