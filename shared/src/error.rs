//! The one error type of tenant-keys, with its stable `code`, HTTP `status` and `title`.
//!
//! Every message here is written for the caller and never carries a credential value: details name
//! fields, never their contents. The mapping of an [`Error`] to a response lives in [`crate::http`].

use http::StatusCode;

/// Everything that can make a request fail, each variant one documented problem `code`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The HTTP method is not `POST`.
    #[error("only POST is accepted")]
    MethodNotAllowed,
    /// The body is larger than the function takes ([`crate::Operation::max_body_bytes`]).
    #[error("the request body is larger than this function takes (64 KiB; call-provider: 5 MiB)")]
    PayloadTooLarge,
    /// The webhook signature is missing, invalid or its timestamp is out of tolerance.
    #[error("missing or invalid webhook signature")]
    Unauthorized,
    /// The body is not JSON.
    #[error("the request body is not valid JSON")]
    InvalidJson,
    /// The body is JSON but not a request of this operation (unknown or missing field, wrong type).
    #[error("{0}")]
    InvalidRequest(String),
    /// `tenantId` breaks the tenant id rules.
    #[error("{0}")]
    InvalidTenantId(String),
    /// `provider` is not in the registry.
    #[error("{0}")]
    UnknownProvider(String),
    /// `credentials` has an unknown, missing or malformed field.
    #[error("{0}")]
    InvalidCredentials(String),
    /// The secret (or the asked version of it) does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The secret is scheduled for deletion (disconnected); `deletion_date` is AWS's date for it.
    /// Answered as `not_found`, with `deletionDate` in the problem body.
    #[error(
        "these credentials were disconnected: their secret is scheduled for deletion on {deletion_date}; until then a reconnect restores them"
    )]
    ScheduledForDeletion {
        /// When Secrets Manager deletes the secret (RFC 3339).
        deletion_date: String,
    },
    /// `expectedVersionId` is no longer the current version.
    #[error("{0}")]
    VersionConflict(String),
    /// `purge` was asked for, but the stack does not allow it (`AllowPurge=false`).
    #[error("purge is disabled in this stack (AllowPurge is false); nothing was done")]
    PurgeDisabled,
    /// The same `webhook-id` was used before with different credentials.
    #[error("this webhook-id was already used for a different request")]
    IdempotencyConflict,
    /// Secrets Manager refuses to change the secret in its present state (scheduled for deletion).
    #[error("the secret cannot be written now; it may be scheduled for deletion")]
    SecretUnavailable,
    /// `verify`: the provider refused the key (401/403); nothing was stored.
    #[error("{provider} refused the {field}; nothing was stored")]
    CredentialsRejected {
        /// The provider.
        provider: &'static str,
        /// The field it was sent.
        field: &'static str,
    },
    /// `verify`: the provider did not answer usably (timeout, 5xx, 429, no connection); nothing
    /// was stored.
    #[error("{provider} could not check the key now; nothing was stored; retry later")]
    ProviderUnavailable {
        /// The provider.
        provider: &'static str,
    },
    /// fetch-key: the full view of a provider with non-public fields, in a stack that keeps keys
    /// in (`FullViewAllowed=false`).
    #[error(
        "this stack does not hand out {provider}'s non-public fields (FullViewAllowed is false): use call-provider to use the key, or the masked or public view"
    )]
    FullViewDisabled {
        /// The provider.
        provider: &'static str,
    },
    /// call-provider: the provider did not answer in time, or could not be reached.
    #[error("{provider} did not answer in time or could not be reached; retry later")]
    ProviderUnreachable {
        /// The provider.
        provider: &'static str,
    },
    /// call-provider: the provider answered, but its answer cannot be passed on.
    #[error("{provider}'s answer cannot be passed on: {why}")]
    ProviderAnswerUnusable {
        /// The provider.
        provider: &'static str,
        /// Why (a fixed text).
        why: &'static str,
    },
    /// Secrets Manager refuses new versions of the secret: AWS's version quota is spent.
    #[error(
        "Secrets Manager refuses new versions of these credentials: AWS's quota of about 100 versions of one secret created within 24 hours is reached; nothing was changed; retry later"
    )]
    TooManyWrites,
    /// The stored secret is not the flat JSON object of the provider's fields.
    #[error("the stored secret is not a JSON object of this provider's fields")]
    InvalidStoredValue,
    /// Secrets Manager stayed throttled or unreachable after the SDK's retries.
    #[error("Secrets Manager is unavailable; retry later")]
    UpstreamUnavailable,
    /// Anything else. The inner text is logged, never returned to the caller.
    #[error("internal error")]
    Internal(String),
}

/// Every problem code with its HTTP status, in the order of the error table in `docs/api.md`: the
/// one list of codes. That table is checked against it, and the TypeScript client's list is
/// generated from it
/// (`shared/tests/error_codes.rs`), and every [`Error`] maps to one of these.
pub const CODES: [(u16, &str); 21] = [
    (400, "invalid_json"),
    (400, "invalid_request"),
    (400, "invalid_tenant_id"),
    (400, "unknown_provider"),
    (400, "invalid_credentials"),
    (401, "unauthorized"),
    (403, "purge_disabled"),
    (403, "full_view_disabled"),
    (404, "not_found"),
    (405, "method_not_allowed"),
    (409, "version_conflict"),
    (409, "idempotency_conflict"),
    (409, "secret_unavailable"),
    (413, "payload_too_large"),
    (422, "credentials_rejected"),
    (429, "too_many_writes"),
    (500, "invalid_stored_value"),
    (500, "internal"),
    (502, "provider_answer_unusable"),
    (503, "provider_unavailable"),
    (503, "upstream_unavailable"),
];

impl Error {
    /// The stable machine-readable problem code, as documented in `docs/api.md`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::MethodNotAllowed => "method_not_allowed",
            Error::PayloadTooLarge => "payload_too_large",
            Error::Unauthorized => "unauthorized",
            Error::InvalidJson => "invalid_json",
            Error::InvalidRequest(_) => "invalid_request",
            Error::InvalidTenantId(_) => "invalid_tenant_id",
            Error::UnknownProvider(_) => "unknown_provider",
            Error::InvalidCredentials(_) => "invalid_credentials",
            Error::NotFound(_) | Error::ScheduledForDeletion { .. } => "not_found",
            Error::VersionConflict(_) => "version_conflict",
            Error::IdempotencyConflict => "idempotency_conflict",
            Error::PurgeDisabled => "purge_disabled",
            Error::SecretUnavailable => "secret_unavailable",
            Error::TooManyWrites => "too_many_writes",
            Error::CredentialsRejected { .. } => "credentials_rejected",
            Error::ProviderUnavailable { .. } | Error::ProviderUnreachable { .. } => {
                "provider_unavailable"
            }
            Error::FullViewDisabled { .. } => "full_view_disabled",
            Error::ProviderAnswerUnusable { .. } => "provider_answer_unusable",
            Error::InvalidStoredValue => "invalid_stored_value",
            Error::UpstreamUnavailable => "upstream_unavailable",
            Error::Internal(_) => "internal",
        }
    }

    /// The HTTP status the problem is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::InvalidJson
            | Error::InvalidRequest(_)
            | Error::InvalidTenantId(_)
            | Error::UnknownProvider(_)
            | Error::InvalidCredentials(_) => StatusCode::BAD_REQUEST,
            Error::PurgeDisabled | Error::FullViewDisabled { .. } => StatusCode::FORBIDDEN,
            Error::NotFound(_) | Error::ScheduledForDeletion { .. } => StatusCode::NOT_FOUND,
            Error::VersionConflict(_) | Error::IdempotencyConflict | Error::SecretUnavailable => {
                StatusCode::CONFLICT
            }
            Error::TooManyWrites => StatusCode::TOO_MANY_REQUESTS,
            Error::CredentialsRejected { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Error::UpstreamUnavailable
            | Error::ProviderUnavailable { .. }
            | Error::ProviderUnreachable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::ProviderAnswerUnusable { .. } => StatusCode::BAD_GATEWAY,
            Error::InvalidStoredValue | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short human-readable summary of the problem type (the same for every instance of a code).
    pub fn title(&self) -> &'static str {
        match self {
            Error::MethodNotAllowed => "Method not allowed",
            Error::PayloadTooLarge => "Payload too large",
            Error::Unauthorized => "Unauthorized",
            Error::InvalidJson => "Invalid JSON",
            Error::InvalidRequest(_) => "Invalid request",
            Error::InvalidTenantId(_) => "Invalid tenant id",
            Error::UnknownProvider(_) => "Unknown provider",
            Error::InvalidCredentials(_) => "Invalid credentials",
            Error::NotFound(_) | Error::ScheduledForDeletion { .. } => "Not found",
            Error::VersionConflict(_) => "Version conflict",
            Error::IdempotencyConflict => "Idempotency conflict",
            Error::PurgeDisabled => "Purge disabled",
            Error::SecretUnavailable => "Secret unavailable",
            Error::TooManyWrites => "Too many writes",
            Error::CredentialsRejected { .. } => "Credentials rejected",
            Error::ProviderUnavailable { .. } | Error::ProviderUnreachable { .. } => {
                "Provider unavailable"
            }
            Error::FullViewDisabled { .. } => "Full view disabled",
            Error::ProviderAnswerUnusable { .. } => "Provider answer unusable",
            Error::InvalidStoredValue => "Invalid stored value",
            Error::UpstreamUnavailable => "Upstream unavailable",
            Error::Internal(_) => "Internal error",
        }
    }

    /// The text returned to the caller as `detail`. For [`Error::Internal`] it is generic: the
    /// inner text is only for the log.
    pub fn detail(&self) -> String {
        self.to_string()
    }
}
