//! What several operations share: the version ids derived from a `webhook-id`, the bounded
//! per-provider work, the pause between rounds, and the retry of a call Secrets Manager refused
//! while a disconnect was being undone by a reconnect.

use std::future::Future;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt, stream};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::auth::WebhookId;
use crate::deadline::Deadline;
use crate::store::{SecretStore, StoreError};

/// The most times a call refused while its secret was scheduled for deletion is made again after
/// DescribeSecret shows the deletion gone (a reconnect restored the secret in between).
pub const MAX_REFUSED_ROUNDS: u32 = 3;

/// Upper bound of the random pause before the second round; it doubles each round after.
const UPDATE_BACKOFF_BASE: Duration = Duration::from_millis(40);

/// The `ClientRequestToken` of a write: 64 hex characters of SHA-256 over the secret name, the
/// version the write builds on and the `webhook-id`.
pub fn version_token(webhook_id: &WebhookId, secret_name: &str, base: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"tenant-keys/v1\n")
        .chain_update(secret_name.as_bytes())
        .chain_update(b"\n")
        .chain_update(base.as_bytes())
        .chain_update(b"\n")
        .chain_update(webhook_id.as_str().as_bytes())
        .finalize();
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// How many per-provider calls (list-integrations, an `allProviders` disconnect) one request makes
/// side by side. Each call in flight holds a connection of its own (a cold container opens as many
/// TLS connections), so a catalog of many providers is gone through this many at a time rather
/// than all at once; the request's deadline bounds every call.
pub(crate) const PROVIDERS_AT_ONCE: usize = 8;

/// Runs one future per provider, [`PROVIDERS_AT_ONCE`] at a time, and returns their results in the
/// order given; the first error fails the whole.
///
/// The futures come made (they do nothing until polled): a mapping closure inside the stream
/// would make the handler's future not `Send` for every lifetime (rust-lang/rust#89976).
pub(crate) async fn per_provider<T>(
    each: Vec<impl Future<Output = Result<T, Error>>>,
) -> Result<Vec<T>, Error> {
    stream::iter(each)
        .buffered(PROVIDERS_AT_ONCE)
        .try_collect()
        .await
}

/// A write whose token already holds another value: the `webhook-id` was reused.
pub(crate) fn idempotency_conflict(err: StoreError) -> Error {
    match err {
        StoreError::AlreadyExists => Error::IdempotencyConflict,
        other => other.into(),
    }
}

/// What a refusal of Secrets Manager (InvalidRequestException) on `name` means: `not_found` with the
/// deletion date when DescribeSecret shows the secret scheduled for deletion; `Ok` when it no
/// longer does — a reconnect restored it since the refused call, which may then be made again.
pub(crate) async fn deletion_lifted(
    store: &SecretStore,
    deadline: &Deadline,
    name: &str,
) -> Result<(), Error> {
    match store.describe(deadline, name).await?.deletion_date {
        Some(deletion_date) => Err(Error::ScheduledForDeletion { deletion_date }),
        None => Ok(()),
    }
}

/// Makes `call` on `name`, again each time Secrets Manager refuses it while the refusal has
/// passed ([`deletion_lifted`]: a disconnect and a reconnect interleaved with it), at most
/// [`MAX_REFUSED_ROUNDS`] times, each call within the request's deadline. The outer error is the
/// answer (`not_found` with the deletion date, or `version_conflict` when the secret kept being
/// disconnected and restored); the inner result is the call's own outcome, for the operation to
/// read.
pub(crate) async fn call_retrying_lifted_refusals<T, F, Fut>(
    store: &SecretStore,
    deadline: &Deadline,
    name: &str,
    mut call: F,
) -> Result<Result<T, StoreError>, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    for _ in 0..MAX_REFUSED_ROUNDS {
        match call().await {
            Err(StoreError::Refused) => deletion_lifted(store, deadline, name).await?,
            outcome => return Ok(outcome),
        }
    }
    Err(Error::VersionConflict(format!(
        "the credentials were disconnected and reconnected concurrently ({MAX_REFUSED_ROUNDS} times); retry"
    )))
}

pub(crate) fn kept_changing(rounds: u32) -> Error {
    Error::VersionConflict(format!(
        "the credentials kept changing concurrently ({rounds} rounds); fetch them and retry"
    ))
}

/// A random pause in `[0, base * 2^(attempt-1))`, capped at one second ("full jitter").
pub(crate) fn backoff(attempt: u32) -> Duration {
    let ceiling = UPDATE_BACKOFF_BASE
        .saturating_mul(1 << (attempt - 1).min(5))
        .min(Duration::from_secs(1));
    ceiling.mul_f64(rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::update;

    #[tokio::test]
    async fn per_provider_runs_a_bounded_number_at_once_and_keeps_the_order() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let (in_flight, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let each: Vec<_> = (0..20)
            .map(|i| {
                let (in_flight, most) = (&in_flight, &most);
                async move {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, Error>(i)
                }
            })
            .collect();
        assert_eq!(
            per_provider(each).await.unwrap(),
            (0..20).collect::<Vec<_>>()
        );
        assert_eq!(most.load(Ordering::SeqCst), PROVIDERS_AT_ONCE);
    }

    #[test]
    fn version_tokens_are_deterministic_64_hex_chars_and_depend_on_every_input() {
        let id = WebhookId::new_for_tests("msg_1");
        let token = version_token(&id, "tenant/a/vapi", "connect");
        assert_eq!(token.len(), 64);
        assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(token, version_token(&id, "tenant/a/vapi", "connect"));
        assert_ne!(token, version_token(&id, "tenant/b/vapi", "connect"));
        assert_ne!(token, version_token(&id, "tenant/a/vapi", "v1"));
        assert_ne!(
            token,
            version_token(
                &WebhookId::new_for_tests("msg_2"),
                "tenant/a/vapi",
                "connect"
            )
        );
    }

    #[test]
    fn backoff_stays_under_its_ceiling() {
        for round in 1..update::MAX_WRITE_ROUNDS {
            assert!(backoff(round) <= Duration::from_secs(1));
        }
        assert!(backoff(1) < UPDATE_BACKOFF_BASE);
    }
}
