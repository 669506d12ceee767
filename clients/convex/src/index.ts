/**
 * @tenant-keys/convex — a typed client for the tenant-keys functions, for Convex actions.
 *
 * ```ts
 * const tenantKeys = createTenantKeys({
 *   baseUrl: process.env.TENANT_KEYS_URL!,
 *   signingSecret: process.env.TENANT_KEYS_SIGNING_SECRET!,
 * });
 * // provider: an id of PROVIDERS (or operatorProvider(id) for one an operator added)
 * const { credentials } = await tenantKeys.fetchKey({ tenantId: orgId, provider, view: "public" });
 * ```
 */
export { createTenantKeys } from "./client.js";
export type {
  CallOptions,
  CallProviderRequest,
  ConnectRequest,
  DisconnectRequest,
  DisconnectResult,
  Disconnected,
  FetchRequest,
  FetchResult,
  Freshness,
  Integration,
  ListResult,
  OffboardRequest,
  OffboardResult,
  ProviderMethod,
  ProviderResponse,
  TenantKeys,
  TenantKeysOptions,
  UpdateRequest,
  VersionChoice,
  WriteResult,
} from "./client.js";
export { TenantKeysError } from "./errors.js";
export type { ApiErrorCode, TenantKeysErrorCode } from "./errors.js";
export { API_ERROR_STATUS, RESERVED_HEADERS } from "./contract.generated.js";
export { PROVIDERS, operatorProvider } from "./providers.js";
export type {
  BuiltInProvider,
  Credentials,
  FieldOf,
  OperatorProvider,
  Provider,
  PublicFieldOf,
  View,
  ViewedCredentials,
} from "./providers.js";
