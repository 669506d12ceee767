// Generated from tenant_keys::error::CODES and tenant_keys::template::RESERVED_HEADERS by
// shared/tests/error_codes.rs:
// do not edit. Run `TENANT_KEYS_REGENERATE=1 cargo test -p tenant-keys-shared --test error_codes`
// after changing the codes.

/** The error codes of the tenant-keys API contract (docs/api.md, "Errors"), with their status. */
export const API_ERROR_STATUS = {
  invalid_json: 400,
  invalid_request: 400,
  invalid_tenant_id: 400,
  unknown_provider: 400,
  invalid_credentials: 400,
  unauthorized: 401,
  purge_disabled: 403,
  full_view_disabled: 403,
  not_found: 404,
  method_not_allowed: 405,
  version_conflict: 409,
  idempotency_conflict: 409,
  secret_unavailable: 409,
  payload_too_large: 413,
  credentials_rejected: 422,
  too_many_writes: 429,
  invalid_stored_value: 500,
  internal: 500,
  provider_answer_unusable: 502,
  provider_unavailable: 503,
  upstream_unavailable: 503,
} as const satisfies Record<string, number>;

/** The error codes of the tenant-keys API contract. */
export const API_ERROR_CODES = Object.keys(API_ERROR_STATUS) as (keyof typeof API_ERROR_STATUS)[];

/** Headers call-provider sets itself, or that belong to one hop: a call may not send them. */
export const RESERVED_HEADERS = [
  "authorization",
  "proxy-authorization",
  "host",
  "cookie",
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "te",
  "trailer",
  "upgrade",
  "proxy-connection",
  "accept-encoding",
  "forwarded",
  "x-forwarded-for",
] as const;
