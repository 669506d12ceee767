//! The signing keys as the signing secret holds them now: read at start-up, read again once they
//! are older than a bounded age, and — at most once per short interval per container — when a
//! signature matches none of them. So a key added to the secret works at once, a key removed
//! stops working within the age bound, with no redeploy or restart, and unsigned traffic cannot
//! drive more than one Secrets Manager call per interval. A failed re-read keeps the keys the
//! container has and says so in the log (the store's description, never a value).

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use http::HeaderMap;

use crate::Error;
use crate::auth::{SigningKeys, WebhookId};
use crate::deadline::Deadline;
use crate::store::{SecretStore, VersionChoice};

/// Default age after which the keys are read again (the Secrets Manager Lambda extension caches
/// for 300 s; shorter bounds how long a removed key keeps working).
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60);
/// Default shortest time between two reads of the signing secret (after a miss or a failure).
pub const DEFAULT_RECHECK_INTERVAL: Duration = Duration::from_secs(5);

/// Where the keys come from and how often they are read again.
#[derive(Debug)]
struct Source {
    store: SecretStore,
    secret_id: String,
    max_age: Duration,
    recheck_interval: Duration,
}

/// When the keys were read, and when a read was last tried.
#[derive(Debug, Clone, Copy)]
struct Reads {
    loaded: Instant,
    attempted: Instant,
}

/// A function's signing keys for the life of its container. `Debug` shows no key.
#[derive(Debug)]
pub struct KeyRing {
    keys: RwLock<Arc<SigningKeys>>,
    reads: tokio::sync::Mutex<Reads>,
    source: Option<Source>,
}

impl KeyRing {
    /// Keys that are never read again (tests, tools).
    pub fn fixed(keys: SigningKeys) -> Self {
        KeyRing::new(keys, None)
    }

    /// Keys just read from `secret_id` in `store`, read again after `max_age`, or on a signature
    /// they do not verify, never twice within `recheck_interval`.
    pub fn from_secret(
        keys: SigningKeys,
        store: SecretStore,
        secret_id: String,
        max_age: Duration,
        recheck_interval: Duration,
    ) -> Self {
        let source = Source {
            store,
            secret_id,
            max_age,
            recheck_interval,
        };
        KeyRing::new(keys, Some(source))
    }

    fn new(keys: SigningKeys, source: Option<Source>) -> Self {
        let now = Instant::now();
        KeyRing {
            keys: RwLock::new(Arc::new(keys)),
            reads: tokio::sync::Mutex::new(Reads {
                loaded: now,
                attempted: now,
            }),
            source,
        }
    }

    fn current(&self) -> Arc<SigningKeys> {
        self.keys
            .read()
            .expect("the key lock is never poisoned")
            .clone()
    }

    /// Checks a request's signature ([`SigningKeys::verify`]) with the keys as they are now.
    /// Only a request whose headers pass [`SigningKeys::check_headers`] (an id and a fresh,
    /// plausible timestamp) and whose signature no key verifies can make the function read the
    /// signing secret again, and then at most once per recheck interval.
    ///
    /// # Errors
    /// [`Error::Unauthorized`], whichever check failed.
    pub async fn verify(
        &self,
        deadline: &Deadline,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<WebhookId, Error> {
        self.reread_if(deadline, |source, reads, now| {
            now.duration_since(reads.loaded) >= source.max_age
                && now.duration_since(reads.attempted) >= source.recheck_interval
        })
        .await;
        let id = SigningKeys::check_headers(headers)?;
        if self.current().signed_by_any(headers, body) {
            return Ok(id);
        }
        // A key added since the last read works at once: read again, unless a read was tried
        // within the interval (so unsigned traffic makes at most one call per interval).
        let reread = self
            .reread_if(deadline, |source, reads, now| {
                now.duration_since(reads.attempted) >= source.recheck_interval
            })
            .await;
        if reread && self.current().signed_by_any(headers, body) {
            Ok(id)
        } else {
            Err(Error::Unauthorized)
        }
    }

    /// Reads the signing secret again when `due` says so (checked under the lock, so concurrent
    /// requests make one read). Returns whether new keys were read.
    async fn reread_if(
        &self,
        deadline: &Deadline,
        due: impl Fn(&Source, &Reads, Instant) -> bool,
    ) -> bool {
        let Some(source) = &self.source else {
            return false;
        };
        let mut reads = self.reads.lock().await;
        let now = Instant::now();
        if !due(source, &reads, now) {
            return false;
        }
        reads.attempted = now;
        let read = source
            .store
            .get(deadline, &source.secret_id, &VersionChoice::Current)
            .await;
        let parsed = read
            .map_err(|err| err.to_string())
            .and_then(|secret| SigningKeys::parse(&secret.value).map_err(|err| err.to_string()));
        match parsed {
            Ok(keys) => {
                *self.keys.write().expect("the key lock is never poisoned") = Arc::new(keys);
                reads.loaded = now;
                true
            }
            Err(cause) => {
                tracing::warn!(
                    secret_id = source.secret_id,
                    cause,
                    "re-reading the webhook signing secret failed; the keys read before stay in use"
                );
                false
            }
        }
    }
}

impl From<SigningKeys> for KeyRing {
    fn from(keys: SigningKeys) -> Self {
        KeyRing::fixed(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Signer;
    use crate::ops::mocks::{aws_error, store};
    use aws_sdk_secretsmanager::Client;
    use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
    use aws_smithy_mocks::{Rule, mock};

    const OLD: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const NEW: &str = "whsec_Zm9yIHRlc3RzIG9ubHksIG5vdCBhIHJlYWwga2V5IQ==";

    fn holding(text: String) -> Rule {
        mock!(Client::get_secret_value).then_output(move || {
            GetSecretValueOutput::builder()
                .version_id("v")
                .secret_string(text.clone())
                .build()
        })
    }

    fn signed_by(key: &str) -> HeaderMap {
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let signature = Signer::parse(key)
            .unwrap()
            .sign("msg_1", timestamp, b"{}")
            .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("webhook-id", "msg_1".parse().unwrap());
        headers.insert("webhook-timestamp", timestamp.to_string().parse().unwrap());
        headers.insert("webhook-signature", signature.parse().unwrap());
        headers
    }

    fn ring(rules: &[&Rule], max_age: Duration, recheck: Duration) -> KeyRing {
        KeyRing::from_secret(
            SigningKeys::parse(OLD).unwrap(),
            store(rules),
            "signing".into(),
            max_age,
            recheck,
        )
    }

    fn deadline() -> Deadline {
        Deadline::after(Duration::from_secs(10))
    }

    #[tokio::test]
    async fn a_key_added_to_the_secret_works_at_once() {
        let rotated = holding(format!("{OLD} {NEW}"));
        let keys = ring(&[&rotated], DEFAULT_MAX_AGE, Duration::ZERO);
        let body = b"{}";
        assert!(
            keys.verify(&deadline(), &signed_by(NEW), body)
                .await
                .is_ok()
        );
        assert!(
            keys.verify(&deadline(), &signed_by(OLD), body)
                .await
                .is_ok()
        );
        assert_eq!(rotated.num_calls(), 1, "the old key needed no read");
    }

    #[tokio::test]
    async fn a_removed_key_stops_working_once_the_keys_are_older_than_their_age() {
        let revoked = holding(NEW.into());
        let keys = ring(&[&revoked], Duration::from_millis(50), Duration::ZERO);
        assert!(
            keys.verify(&deadline(), &signed_by(OLD), b"{}")
                .await
                .is_ok()
        );
        assert_eq!(revoked.num_calls(), 0);
        tokio::time::sleep(Duration::from_millis(60)).await;
        let err = keys.verify(&deadline(), &signed_by(OLD), b"{}").await;
        assert!(matches!(err, Err(Error::Unauthorized)));
        assert!(
            keys.verify(&deadline(), &signed_by(NEW), b"{}")
                .await
                .is_ok()
        );
    }

    async fn flood(keys: &Arc<KeyRing>, key: &'static str) {
        let requests = (0..200).map(|_| {
            let keys = keys.clone();
            tokio::spawn(async move { keys.verify(&deadline(), &signed_by(key), b"{}").await })
        });
        for answer in futures_util::future::join_all(requests).await {
            assert!(matches!(answer.unwrap(), Err(Error::Unauthorized)));
        }
    }

    #[tokio::test]
    async fn a_flood_of_bad_signatures_makes_at_most_one_read_per_interval() {
        let unchanged = holding(OLD.into());
        let keys = Arc::new(ring(
            &[&unchanged],
            DEFAULT_MAX_AGE,
            Duration::from_millis(300),
        ));
        // The start-up read is the first interval's read.
        flood(&keys, NEW).await;
        assert_eq!(unchanged.num_calls(), 0);
        tokio::time::sleep(Duration::from_millis(350)).await;
        flood(&keys, NEW).await;
        assert_eq!(unchanged.num_calls(), 1, "one read for the whole interval");
    }

    #[tokio::test]
    async fn a_request_with_a_stale_or_implausible_timestamp_reads_nothing() {
        let rotated = holding(format!("{OLD} {NEW}"));
        let keys = ring(&[&rotated], DEFAULT_MAX_AGE, Duration::ZERO);
        for timestamp in ["1", "-9223372036854775808", "", "99999999999"] {
            let mut headers = signed_by(NEW);
            headers.insert("webhook-timestamp", timestamp.parse().unwrap());
            assert!(matches!(
                keys.verify(&deadline(), &headers, b"{}").await,
                Err(Error::Unauthorized)
            ));
        }
        let mut no_id = signed_by(NEW);
        no_id.remove("webhook-id");
        assert!(keys.verify(&deadline(), &no_id, b"{}").await.is_err());
        assert_eq!(
            rotated.num_calls(),
            0,
            "only a fresh, unverified signature reads"
        );
        assert!(
            keys.verify(&deadline(), &signed_by(NEW), b"{}")
                .await
                .is_ok()
        );
        assert_eq!(rotated.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_failed_reread_keeps_serving_with_the_keys_it_has() {
        let failing = mock!(Client::get_secret_value)
            .sequence()
            .http_response(|| aws_error(500, "InternalServiceError"))
            .repeatedly()
            .build();
        let keys = ring(&[&failing], Duration::ZERO, Duration::ZERO);
        assert!(
            keys.verify(&deadline(), &signed_by(OLD), b"{}")
                .await
                .is_ok()
        );
        assert!(failing.num_calls() >= 1, "the age bound made it read");
        assert!(matches!(
            keys.verify(&deadline(), &signed_by(NEW), b"{}").await,
            Err(Error::Unauthorized)
        ));
    }
}
