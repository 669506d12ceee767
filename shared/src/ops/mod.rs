//! The operations, one module each, written against [`SecretStore`]: [`connect`], [`fetch`],
//! [`update`], [`disconnect`], [`list`], and [`call`] (call-provider, which reads as fetch does).
//!
//! One write path: every write that replaces a value (connect on an existing secret, update)
//! writes the new version under a private label ([`crate::store::STAGE_PENDING`]) and then moves
//! `AWSCURRENT` to it with a compare-and-swap, so the labels are right on AWS and on moto alike and
//! a version becomes current in one atomic step.
//!
//! Idempotency: every write's `ClientRequestToken` (which becomes the version id) is derived from
//! the request's `webhook-id` and the secret name (and, for an update's later rounds, the version
//! it builds on), so a retried request repeats the same write and Secrets Manager ignores it; the
//! same `webhook-id` with another value is refused (`idempotency_conflict`). A write takes effect
//! at most once per `webhook-id`: the secret's versions (unlabelled ones too) record which ids
//! wrote, and a disconnect leaves a mark (see each operation). When a compare-and-swap fails
//! because the label moved, the new holder is checked: if it is this request's own version (a lost
//! answer, or a concurrent duplicate of the request), the write succeeded. The helpers several
//! operations share are in `rounds.rs`.
//!
//! [`SecretStore`]: crate::store::SecretStore

use crate::credentials::Credentials;

pub mod call;
pub mod connect;
pub mod disconnect;
pub mod fetch;
pub mod list;
pub mod update;

pub use call::{Called, call};
pub use connect::connect;
pub use disconnect::{DisconnectPolicy, Disconnected, disconnect};
pub use fetch::{Fetched, fetch};
pub use list::{Integration, list};
pub use update::update;

mod rounds;
pub use rounds::{MAX_REFUSED_ROUNDS, version_token};

/// What a write did.
#[derive(Debug)]
pub struct Written {
    /// The version that holds the request's credentials.
    pub version_id: String,
    /// Whether the secret was created by this request (connect only).
    pub created: bool,
    /// Whether a version was written (false: an update that changed nothing).
    pub changed: bool,
    /// Whether a disconnected secret was restored by this request (connect only).
    pub restored: bool,
    /// Whether the provider accepted the credentials (only checked when the request asks).
    pub verified: bool,
    /// The credentials now stored.
    pub credentials: Credentials,
}

#[cfg(test)]
pub(crate) mod mocks;
