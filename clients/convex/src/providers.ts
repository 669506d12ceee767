/**
 * The providers tenant-keys stores keys for and their credential fields: generated from the
 * functions' catalog (`providers/catalog.json`) into `providers.generated.ts`, and compared with
 * the functions' registry by the tests. Every type of the client is derived from this table.
 */
import { PROVIDERS } from "./providers.generated.js";

export { PROVIDERS };

/** A built-in provider's id: its fields are typed from the catalog. */
export type BuiltInProvider = keyof typeof PROVIDERS;

declare const operatorBrand: unique symbol;

/**
 * The id of a provider an operator added to the functions' catalog (`providers/operator.json`),
 * which this client's types do not know: make one with {@link operatorProvider}. Its fields are
 * typed loosely (any name, string values) and checked by the functions when called.
 */
export type OperatorProvider = string & { readonly [operatorBrand]: true };

/** A provider id, as in `tenant/<tenantId>/<provider>`. */
export type Provider = BuiltInProvider | OperatorProvider;

/** The names of a provider's credential fields (any string for an operator's provider). */
export type FieldOf<P extends Provider> = P extends infer B extends BuiltInProvider
  ? (typeof PROVIDERS)[B]["fields"][number]
  : string;

/** The names of the fields the `public` view returns (safe to ship to a browser). */
export type PublicFieldOf<P extends Provider> = P extends infer B extends BuiltInProvider
  ? (typeof PROVIDERS)[B]["public"][number]
  : string;

/** A provider's full credentials: every field is a string, and every field is required on connect. */
export type Credentials<P extends Provider> = { [K in FieldOf<P>]: string };

/**
 * How fetch-key returns credentials: `full` (every field), `public` (only the public fields),
 * `masked` (every field, at most its last 4 characters shown).
 */
export type View = "full" | "public" | "masked";

/** The credentials a view returns: `public` narrows the type to the public fields. */
export type ViewedCredentials<P extends Provider, V extends View> = V extends "public"
  ? { [K in PublicFieldOf<P>]: string }
  : Credentials<P>;

/** A catalog id: 1-40 of a-z, 0-9 and -, starting with a letter or digit. */
const PROVIDER_ID = /^[a-z0-9][a-z0-9-]{0,39}$/;

/**
 * Names a provider an operator added to the functions' catalog, for use with every operation:
 * `tenantKeys.fetchKey({ tenantId, provider: operatorProvider("stripe") })`. No client release is
 * needed for it; the functions answer `unknown_provider` (400) if their build does not have it, and
 * `invalid_credentials` for a field it does not have. Throws a `TypeError` for an id no catalog
 * entry can have.
 */
export function operatorProvider(id: string): OperatorProvider {
  if (!PROVIDER_ID.test(id)) {
    throw new TypeError("a provider id is 1-40 of a-z, 0-9 and -, starting with a letter or digit");
  }
  return id as OperatorProvider;
}
