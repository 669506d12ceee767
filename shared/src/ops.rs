//! The three operations — connect, fetch, update — written against [`SecretStore`].
//!
//! One write path: every write that replaces a value (connect on an existing secret, update)
//! writes the new version under a private label ([`STAGE_PENDING`]) and then moves `AWSCURRENT` to
//! it with a compare-and-swap, so the labels are right on AWS and on moto alike and a version
//! becomes current in one atomic step.
//!
//! Idempotency: every write's `ClientRequestToken` (which becomes the version id) is derived from
//! the request's `webhook-id`, the secret name and the version it builds on, so a retried request
//! repeats the same write and Secrets Manager ignores it; the same `webhook-id` with another value
//! is refused (`idempotency_conflict`). When a compare-and-swap fails because the label moved, the
//! new holder is checked: if it is this request's own version (a lost answer, or a concurrent
//! duplicate of the request), the write succeeded.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::Error;
use crate::auth::WebhookId;
use crate::cache::{Lookup, ReadCache};
use crate::credentials::{Credentials, View};
use crate::deadline::Deadline;
use crate::request::{ConnectRequest, FetchRequest, UpdateRequest, VersionChoice};
use crate::store::{
    STAGE_CURRENT, STAGE_PENDING, STAGE_PREVIOUS, SecretStore, Selector, StoreError, StoredSecret,
};

/// The most compare-and-swap rounds one request takes. A round that loses has written one
/// version, so one update writes at most this many versions (AWS refuses writes to a secret once
/// about 100 of its versions are younger than 24 h).
pub const MAX_WRITE_ROUNDS: u32 = 3;
/// The most times connect tries to move `AWSCURRENT` to its version when other writes keep
/// landing in between. A move writes no version, so this bound only limits time and calls.
pub const MAX_MOVE_ROUNDS: u32 = 8;
/// Upper bound of the random pause before the second round; it doubles each round after.
const UPDATE_BACKOFF_BASE: Duration = Duration::from_millis(40);

/// What a write did.
#[derive(Debug)]
pub struct Written {
    /// The version that holds the request's credentials.
    pub version_id: String,
    /// Whether the secret was created by this request (connect only).
    pub created: bool,
    /// Whether a version was written (false: an update that changed nothing).
    pub changed: bool,
    /// The credentials now stored.
    pub credentials: Credentials,
}

/// What a read found.
#[derive(Debug)]
pub struct Fetched {
    /// The version read.
    pub version_id: String,
    /// Its credentials.
    pub credentials: Credentials,
}

/// Creates or replaces a tenant's credentials for a provider.
///
/// CreateSecret (tagged `tenant-id`, `provider`, `managed-by=tenant-keys`); if the secret exists,
/// the new value is written under the private label and made current (a replace: whatever version
/// is current is replaced, and a lost move retries the move, not the write). Of concurrent
/// connects for a new tenant exactly one creates the secret. A retry of a request whose version is
/// still current answers as the first attempt did (`created` again for the creating request).
///
/// # Errors
/// `idempotency_conflict` when the `webhook-id` was used with other credentials;
/// `version_conflict` when a retried request's version has been replaced by a newer write since
/// its first attempt (it is not applied again); `secret_unavailable` when the secret is scheduled
/// for deletion; `too_many_writes`; store failures.
pub async fn connect(
    store: &SecretStore,
    deadline: &Deadline,
    request: &ConnectRequest,
    webhook_id: &WebhookId,
) -> Result<Written, Error> {
    let name = request.tenant.secret_name(request.provider);
    let value = request.credentials.to_stored();
    let token = version_token(webhook_id, &name, "connect");
    let tags = [
        ("tenant-id", request.tenant.as_str()),
        ("provider", request.provider.id),
        ("managed-by", "tenant-keys"),
    ];
    let written = |created| Written {
        version_id: token.clone(),
        created,
        changed: true,
        credentials: request.credentials.clone(),
    };
    match store.create(deadline, &name, &value, &token, &tags).await {
        Ok(_) => return Ok(written(true)),
        Err(StoreError::AlreadyExists) => {}
        Err(err) => return Err(err.into()),
    }
    let put = store
        .put_pending(deadline, &name, &value, &token)
        .await
        .map_err(idempotency_conflict)?;
    if put.holds(STAGE_CURRENT) {
        // A retry of a request whose version is current; the creating request finds it alone.
        let created = store.versions(deadline, &name).await?.is_only(&token);
        return Ok(written(created));
    }
    if !put.holds(STAGE_PENDING) {
        // The version exists from an earlier attempt and another write has replaced it since.
        return Err(Error::VersionConflict(
            "this webhook-id was already applied and a newer write has replaced it since; fetch the credentials"
                .into(),
        ));
    }
    make_current(store, deadline, &name, &token).await?;
    Ok(written(false))
}

/// Moves `AWSCURRENT` to `token` from whichever version holds it, retrying only the move when
/// another write lands in between.
async fn make_current(
    store: &SecretStore,
    deadline: &Deadline,
    name: &str,
    token: &str,
) -> Result<(), Error> {
    for round in 0..MAX_MOVE_ROUNDS {
        if round > 0 {
            deadline.pause(backoff(round)).await?;
        }
        let versions = store.versions(deadline, name).await?;
        if versions.deletion_date.is_some() {
            // AWS refuses the write before this point; moto accepts it (a known gap).
            return Err(Error::SecretUnavailable);
        }
        let current = versions
            .holding(STAGE_CURRENT)
            .ok_or_else(|| Error::Internal(format!("{name} has no AWSCURRENT version")))?;
        if current == token {
            return Ok(()); // our own move landed, its answer was lost
        }
        match store.move_current(deadline, name, token, current).await {
            Ok(()) => return Ok(()),
            Err(StoreError::StageMoved) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(kept_changing(MAX_MOVE_ROUNDS))
}

/// Reads a tenant's credentials: the current or previous version, or one by id.
///
/// Freshness: a value is served from the container's cache only if it is younger than the
/// request's `max_age` (default: the cache's TTL for the public view, zero — a fresh read — for
/// the others); an older entry is revalidated with DescribeSecret.
///
/// # Errors
/// `not_found` when never connected, scheduled for deletion (with its date), or there is no
/// such version; `invalid_stored_value` when the stored text is not the provider's JSON object;
/// store failures. None is cached.
pub async fn fetch(
    store: &SecretStore,
    cache: &ReadCache,
    deadline: &Deadline,
    request: &FetchRequest,
) -> Result<Fetched, Error> {
    let name = request.tenant.secret_name(request.provider);
    let selector = match &request.version {
        VersionChoice::Current => Selector::Stage(STAGE_CURRENT),
        VersionChoice::Previous => Selector::Stage(STAGE_PREVIOUS),
        VersionChoice::Id(id) => Selector::Version(id),
    };
    let max_age = request.max_age.unwrap_or(match request.view {
        View::Public => cache.ttl(),
        View::Full | View::Masked => Duration::ZERO,
    });
    if let Some(cached) =
        servable_from_cache(store, cache, deadline, &name, selector, max_age).await?
    {
        return fetched(request, &cached);
    }
    let stored = match store.get(deadline, &name, selector).await {
        Ok(stored) => stored,
        Err(err) => {
            cache.forget(&name, selector);
            return Err(read_failure(store, deadline, &name, &request.version, err).await);
        }
    };
    let answer = fetched(request, &stored)?;
    cache.store(&name, selector, &stored);
    Ok(answer)
}

/// The cached value of a read if it may be served: younger than `max_age`, or older but
/// revalidated with DescribeSecret (which reads no value): the secret is not scheduled for
/// deletion and, for a stage, the same version still holds it (a version's value never changes).
async fn servable_from_cache(
    store: &SecretStore,
    cache: &ReadCache,
    deadline: &Deadline,
    name: &str,
    selector: Selector<'_>,
    max_age: Duration,
) -> Result<Option<StoredSecret>, Error> {
    match cache.lookup(name, selector, max_age) {
        Lookup::Miss => Ok(None),
        Lookup::Fresh(cached) => Ok(Some(cached)),
        Lookup::Stale(cached) => {
            let versions = store.versions(deadline, name).await.map_err(|err| {
                cache.forget(name, selector);
                Error::from(err)
            })?;
            if let Some(deletion_date) = versions.deletion_date {
                cache.forget(name, selector);
                return Err(Error::ScheduledForDeletion { deletion_date });
            }
            let unchanged = match selector {
                Selector::Stage(stage) => {
                    versions.holding(stage) == Some(cached.version_id.as_str())
                }
                Selector::Version(_) => true,
            };
            if unchanged {
                cache.store(name, selector, &cached);
                Ok(Some(cached))
            } else {
                Ok(None)
            }
        }
    }
}

/// The error a failed read answers. Secrets Manager refuses reads of a secret scheduled for
/// deletion; DescribeSecret (which still answers) says since when.
async fn read_failure(
    store: &SecretStore,
    deadline: &Deadline,
    name: &str,
    version: &VersionChoice,
    err: StoreError,
) -> Error {
    match (err, version) {
        (StoreError::Refused, _) => match store.versions(deadline, name).await {
            Ok(versions) => match versions.deletion_date {
                Some(deletion_date) => Error::ScheduledForDeletion { deletion_date },
                None => StoreError::Refused.into(),
            },
            Err(err) => err.into(),
        },
        (StoreError::NotFound, VersionChoice::Previous) => {
            Error::NotFound("no previous version of these credentials exists".into())
        }
        (StoreError::NotFound, VersionChoice::Id(_)) => {
            Error::NotFound("these credentials have no version with this versionId".into())
        }
        (err, _) => err.into(),
    }
}

fn fetched(request: &FetchRequest, stored: &StoredSecret) -> Result<Fetched, Error> {
    Ok(Fetched {
        credentials: Credentials::from_stored(request.provider, &stored.value)?,
        version_id: stored.version_id.clone(),
    })
}

/// Merges some fields into the current credentials and makes the result the new current version.
///
/// Each round reads the current version (and, alongside, the version map that tells a retry of
/// this very request). If the merged value equals the current one, nothing is written
/// (`changed: false`). Otherwise it writes the merged value under a private label and then moves
/// `AWSCURRENT` to it only if the version read is still current (compare-and-swap). A failed swap
/// whose label moved to this request's own version succeeded (a lost answer, or a concurrent
/// duplicate of the request). With `expectedVersionId`, a lost swap is `version_conflict`;
/// without it, the round is retried (with jitter) on the newer value, up to [`MAX_WRITE_ROUNDS`].
///
/// # Errors
/// `not_found` when never connected or scheduled for deletion; `version_conflict`;
/// `idempotency_conflict` when the `webhook-id` was used with other credentials;
/// `too_many_writes`; `invalid_stored_value`; store failures.
pub async fn update(
    store: &SecretStore,
    deadline: &Deadline,
    request: &UpdateRequest,
    webhook_id: &WebhookId,
) -> Result<Written, Error> {
    let name = request.tenant.secret_name(request.provider);
    for round in 0..MAX_WRITE_ROUNDS {
        if round > 0 {
            deadline.pause(backoff(round)).await?;
        }
        // The version map (for the retry check) and the current value, read side by side.
        let (versions, current) = tokio::join!(
            store.versions(deadline, &name),
            store.get(deadline, &name, Selector::Stage(STAGE_CURRENT))
        );
        let versions = versions?;
        if let Some(deletion_date) = versions.deletion_date {
            return Err(Error::ScheduledForDeletion { deletion_date });
        }
        let current = current?;
        let current_id = versions
            .holding(STAGE_CURRENT)
            .ok_or_else(|| Error::Internal(format!("{name} has no AWSCURRENT version")))?
            .to_owned();
        if current.version_id != current_id {
            continue; // a write landed between the two reads: start the round again
        }
        let mut credentials = Credentials::from_stored(request.provider, &current.value)?;
        let answer = |version_id: String, changed: bool, credentials: Credentials| Written {
            version_id,
            created: false,
            changed,
            credentials,
        };

        // A retry of a request that already won: its version is current, built on the previous.
        let is_retry_of_last_write = versions
            .holding(STAGE_PREVIOUS)
            .is_some_and(|previous| current_id == version_token(webhook_id, &name, previous));
        if is_retry_of_last_write {
            return if credentials.contains(&request.changes) {
                Ok(answer(current_id, true, credentials))
            } else {
                Err(Error::IdempotencyConflict)
            };
        }
        if request
            .expected_version_id
            .as_ref()
            .is_some_and(|expected| *expected != current_id)
        {
            return Err(stale_expected_version());
        }
        if credentials.contains(&request.changes) {
            return Ok(answer(current_id, false, credentials));
        }

        credentials.merge(&request.changes);
        let token = version_token(webhook_id, &name, &current_id);
        store
            .put_pending(deadline, &name, &credentials.to_stored(), &token)
            .await
            .map_err(idempotency_conflict)?;
        match store
            .move_current(deadline, &name, &token, &current_id)
            .await
        {
            Ok(()) => return Ok(answer(token, true, credentials)),
            Err(StoreError::StageMoved) => {
                let now = store.versions(deadline, &name).await?;
                if now.holding(STAGE_CURRENT) == Some(token.as_str()) {
                    return Ok(answer(token, true, credentials));
                }
                if request.expected_version_id.is_some() {
                    return Err(stale_expected_version());
                }
            }
            Err(err) => return Err(err.into()),
        }
    }
    Err(kept_changing(MAX_WRITE_ROUNDS))
}

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

/// A write whose token already holds another value: the `webhook-id` was reused.
fn idempotency_conflict(err: StoreError) -> Error {
    match err {
        StoreError::AlreadyExists => Error::IdempotencyConflict,
        other => other.into(),
    }
}

fn kept_changing(rounds: u32) -> Error {
    Error::VersionConflict(format!(
        "the credentials kept changing concurrently ({rounds} rounds); fetch them and retry"
    ))
}

fn stale_expected_version() -> Error {
    Error::VersionConflict(
        "expectedVersionId is no longer the current version; fetch the credentials and retry"
            .into(),
    )
}

/// A random pause in `[0, base * 2^(attempt-1))`, capped at one second ("full jitter").
fn backoff(attempt: u32) -> Duration {
    let ceiling = UPDATE_BACKOFF_BASE
        .saturating_mul(1 << (attempt - 1).min(5))
        .min(Duration::from_secs(1));
    ceiling.mul_f64(rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Completeness;
    use crate::provider::Provider;
    use crate::store::QuotaIsNotRetried;
    use crate::tenant::TenantId;
    use aws_sdk_secretsmanager::Client;
    use aws_sdk_secretsmanager::config::http::HttpResponse;
    use aws_sdk_secretsmanager::operation::create_secret::CreateSecretOutput;
    use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
    use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
    use aws_sdk_secretsmanager::operation::put_secret_value::PutSecretValueOutput;
    use aws_sdk_secretsmanager::operation::update_secret_version_stage::UpdateSecretVersionStageOutput;
    use aws_sdk_secretsmanager::primitives::DateTime;
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
    use aws_smithy_types::body::SdkBody;
    use serde_json::json;

    const STORED: &str =
        r#"{"publicApiKey":"pub-1234567890abcd","privateApiKey":"priv-0987654321wxyz"}"#;
    const NAME: &str = "tenant/org_1/vapi";

    fn store(rules: &[&Rule]) -> SecretStore {
        let client: Client = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, rules, |c| c
            .retry_config(
                crate::config::retry_config().with_initial_backoff(Duration::from_millis(1))
            )
            .retry_classifier(QuotaIsNotRetried));
        SecretStore::new(client)
    }

    fn deadline() -> Deadline {
        Deadline::after(Duration::from_secs(10))
    }

    /// A Secrets Manager error response, parsed by the SDK as the real one would be.
    fn aws_error(status: u16, kind: &str) -> HttpResponse {
        let body = json!({"__type": kind, "message": "injected"}).to_string();
        let mut response = HttpResponse::new(status.try_into().unwrap(), SdkBody::from(body));
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.1");
        response
    }

    fn vapi() -> &'static Provider {
        Provider::find("vapi").unwrap()
    }

    fn fetch_request() -> FetchRequest {
        FetchRequest {
            tenant: TenantId::parse("org_1").unwrap(),
            provider: vapi(),
            view: View::Full,
            version: VersionChoice::Current,
            max_age: None,
        }
    }

    fn connect_request() -> ConnectRequest {
        let raw =
            json!({"publicApiKey": "pub-1234567890abcd", "privateApiKey": "priv-0987654321wxyz"});
        ConnectRequest {
            tenant: TenantId::parse("org_1").unwrap(),
            provider: vapi(),
            credentials: Credentials::from_request(
                vapi(),
                raw.as_object().unwrap(),
                Completeness::AllFields,
            )
            .unwrap(),
        }
    }

    fn update_request_of(private: &str, expected: Option<&str>) -> UpdateRequest {
        let raw = json!({ "privateApiKey": private });
        UpdateRequest {
            tenant: TenantId::parse("org_1").unwrap(),
            provider: vapi(),
            changes: Credentials::from_request(
                vapi(),
                raw.as_object().unwrap(),
                Completeness::SomeFields,
            )
            .unwrap(),
            expected_version_id: expected.map(str::to_owned),
        }
    }

    fn update_request(expected: Option<&str>) -> UpdateRequest {
        update_request_of("priv-new-000000000000", expected)
    }

    fn describe_output(current: &str) -> DescribeSecretOutput {
        DescribeSecretOutput::builder()
            .version_ids_to_stages(current.to_owned(), vec![STAGE_CURRENT.to_owned()])
            .build()
    }

    fn current_is(version: &str) -> (Rule, Rule) {
        let id = version.to_owned();
        let describe = mock!(Client::describe_secret).then_output(move || describe_output(&id));
        let id = version.to_owned();
        let get = mock!(Client::get_secret_value).then_output(move || {
            GetSecretValueOutput::builder()
                .version_id(id.clone())
                .secret_string(STORED)
                .build()
        });
        (describe, get)
    }

    /// PutSecretValue answering as Secrets Manager does for a fresh write under the private label.
    fn fresh_put() -> Rule {
        mock!(Client::put_secret_value)
            .match_requests(|req| req.version_stages() == [STAGE_PENDING])
            .then_compute_output(|req| {
                PutSecretValueOutput::builder()
                    .version_id(req.client_request_token().unwrap())
                    .version_stages(STAGE_PENDING)
                    .build()
            })
    }

    #[tokio::test]
    async fn throttling_that_outlasts_the_retries_is_upstream_unavailable() {
        let throttled = mock!(Client::get_secret_value)
            .sequence()
            .http_response(|| aws_error(400, "ThrottlingException"))
            .repeatedly()
            .build();
        let err = fetch(
            &store(&[&throttled]),
            &ReadCache::disabled(),
            &deadline(),
            &fetch_request(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "upstream_unavailable");
        assert_eq!(
            throttled.num_calls(),
            3,
            "the SDK retries a bounded number of times"
        );
    }

    #[tokio::test]
    async fn a_short_throttling_burst_is_absorbed_by_the_retries() {
        let rule = mock!(Client::get_secret_value)
            .sequence()
            .http_response(|| aws_error(400, "ThrottlingException"))
            .http_response(|| aws_error(500, "InternalServiceError"))
            .output(|| {
                GetSecretValueOutput::builder()
                    .version_id("v1")
                    .secret_string(STORED)
                    .build()
            })
            .build();
        let fetched = fetch(
            &store(&[&rule]),
            &ReadCache::disabled(),
            &deadline(),
            &fetch_request(),
        )
        .await
        .unwrap();
        assert_eq!(fetched.version_id, "v1");
    }

    #[tokio::test]
    async fn server_errors_that_persist_are_upstream_unavailable() {
        let rule = mock!(Client::create_secret)
            .sequence()
            .http_response(|| aws_error(503, "ServiceUnavailable"))
            .repeatedly()
            .build();
        let err = connect(
            &store(&[&rule]),
            &deadline(),
            &connect_request(),
            &WebhookId::new_for_tests("m1"),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "upstream_unavailable");
    }

    #[tokio::test]
    async fn access_denied_is_internal_and_names_no_value() {
        let rule = mock!(Client::get_secret_value)
            .then_http_response(|| aws_error(400, "AccessDeniedException"));
        let err = fetch(
            &store(&[&rule]),
            &ReadCache::disabled(),
            &deadline(),
            &fetch_request(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "internal");
        assert_eq!(err.detail(), "internal error");
    }

    #[tokio::test]
    async fn a_read_of_a_secret_scheduled_for_deletion_is_not_found_with_its_date() {
        // AWS: GetSecretValue of a secret scheduled for deletion is InvalidRequestException, while
        // DescribeSecret still answers, with DeletedDate.
        let get = mock!(Client::get_secret_value)
            .then_http_response(|| aws_error(400, "InvalidRequestException"));
        let describe = mock!(Client::describe_secret).then_output(|| {
            DescribeSecretOutput::builder()
                .version_ids_to_stages("v1", vec![STAGE_CURRENT.to_owned()])
                .deleted_date(DateTime::from_secs(1_800_000_000))
                .build()
        });
        let err = fetch(
            &store(&[&get, &describe]),
            &ReadCache::disabled(),
            &deadline(),
            &fetch_request(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "not_found");
        assert!(
            matches!(&err, Error::ScheduledForDeletion { deletion_date } if deletion_date == "2027-01-15T08:00:00Z"),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn losing_the_create_race_replaces_the_value_and_reports_not_created() {
        let create = mock!(Client::create_secret)
            .then_http_response(|| aws_error(400, "ResourceExistsException"));
        let put = fresh_put();
        let describe = mock!(Client::describe_secret).then_output(|| describe_output("winner"));
        let cas = mock!(Client::update_secret_version_stage)
            .match_requests(|req| req.remove_from_version_id() == Some("winner"))
            .then_output(|| UpdateSecretVersionStageOutput::builder().build());
        let written = connect(
            &store(&[&create, &put, &describe, &cas]),
            &deadline(),
            &connect_request(),
            &WebhookId::new_for_tests("m1"),
        )
        .await
        .unwrap();
        assert!(!written.created);
        assert!(written.changed);
        assert_eq!((put.num_calls(), cas.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn a_replace_whose_move_loses_retries_the_move_not_the_write() {
        let create = mock!(Client::create_secret)
            .then_http_response(|| aws_error(400, "ResourceExistsException"));
        let put = fresh_put();
        let describe = mock!(Client::describe_secret)
            .sequence()
            .output(|| describe_output("v1"))
            .output(|| describe_output("v2"))
            .build();
        let cas = mock!(Client::update_secret_version_stage)
            .sequence()
            .http_response(|| aws_error(400, "InvalidParameterException"))
            .output(|| UpdateSecretVersionStageOutput::builder().build())
            .build();
        connect(
            &store(&[&create, &put, &describe, &cas]),
            &deadline(),
            &connect_request(),
            &WebhookId::new_for_tests("m1"),
        )
        .await
        .unwrap();
        assert_eq!((put.num_calls(), cas.num_calls()), (1, 2));
    }

    #[tokio::test]
    async fn a_retried_connect_after_a_newer_write_is_not_applied_again() {
        // The version of this webhook-id exists and has since become AWSPREVIOUS: Secrets Manager
        // ignores the repeated PutSecretValue and answers with the labels the version holds.
        let create = mock!(Client::create_secret)
            .then_http_response(|| aws_error(400, "ResourceExistsException"));
        let put = mock!(Client::put_secret_value).then_compute_output(|req| {
            PutSecretValueOutput::builder()
                .version_id(req.client_request_token().unwrap())
                .version_stages(STAGE_PREVIOUS)
                .build()
        });
        let cas = mock!(Client::update_secret_version_stage)
            .then_output(|| UpdateSecretVersionStageOutput::builder().build());
        let err = connect(
            &store(&[&create, &put, &cas]),
            &deadline(),
            &connect_request(),
            &WebhookId::new_for_tests("m1"),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "version_conflict");
        assert_eq!(cas.num_calls(), 0, "AWSCURRENT never moves back");
    }

    #[tokio::test]
    async fn winning_the_create_reports_created() {
        let create = mock!(Client::create_secret).then_compute_output(|req| {
            assert_eq!(req.tags().len(), 3);
            CreateSecretOutput::builder()
                .version_id(req.client_request_token().unwrap())
                .build()
        });
        let written = connect(
            &store(&[&create]),
            &deadline(),
            &connect_request(),
            &WebhookId::new_for_tests("m1"),
        )
        .await
        .unwrap();
        assert!(written.created);
    }

    #[tokio::test]
    async fn a_lost_compare_and_swap_with_expected_version_is_a_conflict_and_leaves_current_alone()
    {
        let (describe, get) = current_is("v1");
        let put = fresh_put();
        let cas = mock!(Client::update_secret_version_stage)
            .then_http_response(|| aws_error(400, "InvalidParameterException"));
        let err = update(
            &store(&[&describe, &get, &put, &cas]),
            &deadline(),
            &update_request(Some("v1")),
            &WebhookId::new_for_tests("m1"),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "version_conflict");
        assert_eq!(cas.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_compare_and_swap_that_landed_with_its_answer_lost_is_a_success() {
        // The swap succeeds but its answer is lost; the SDK's retry then fails with
        // InvalidParameterException because the label has moved — to this request's own version.
        let webhook_id = WebhookId::new_for_tests("m1");
        let ours = version_token(&webhook_id, NAME, "v1");
        let get = current_is("v1").1;
        let describe = mock!(Client::describe_secret)
            .sequence()
            .output(|| describe_output("v1"))
            .output(move || describe_output(&ours))
            .build();
        let put = fresh_put();
        let cas = mock!(Client::update_secret_version_stage)
            .sequence()
            .http_response(|| aws_error(500, "InternalServiceError"))
            .http_response(|| aws_error(400, "InvalidParameterException"))
            .build();
        let written = update(
            &store(&[&describe, &get, &put, &cas]),
            &deadline(),
            &update_request(Some("v1")),
            &webhook_id,
        )
        .await
        .unwrap();
        assert!(written.changed);
        assert_eq!(written.version_id, version_token(&webhook_id, NAME, "v1"));
        assert_eq!((put.num_calls(), cas.num_calls()), (1, 2));
    }

    #[tokio::test]
    async fn a_lost_compare_and_swap_without_expected_version_is_retried_on_the_new_value() {
        let (describe, get) = current_is("v1");
        let put = fresh_put();
        let cas = mock!(Client::update_secret_version_stage)
            .sequence()
            .http_response(|| aws_error(400, "InvalidParameterException"))
            .output(|| UpdateSecretVersionStageOutput::builder().build())
            .build();
        let written = update(
            &store(&[&describe, &get, &put, &cas]),
            &deadline(),
            &update_request(None),
            &WebhookId::new_for_tests("m1"),
        )
        .await
        .unwrap();
        assert_eq!(cas.num_calls(), 2);
        assert_eq!(
            describe.num_calls(),
            3,
            "after the lost swap: who holds the label, then the second round's read"
        );
        assert_eq!(
            written.credentials.view(View::Full)["publicApiKey"],
            "pub-1234567890abcd"
        );
    }

    #[tokio::test]
    async fn contention_writes_at_most_max_write_rounds_versions() {
        let (describe, get) = current_is("v1");
        let put = fresh_put();
        let cas = mock!(Client::update_secret_version_stage)
            .sequence()
            .http_response(|| aws_error(400, "InvalidParameterException"))
            .repeatedly()
            .build();
        let err = update(
            &store(&[&describe, &get, &put, &cas]),
            &deadline(),
            &update_request(None),
            &WebhookId::new_for_tests("m1"),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "version_conflict");
        assert_eq!(put.num_calls() as u32, MAX_WRITE_ROUNDS);
    }

    #[tokio::test]
    async fn an_update_that_changes_nothing_writes_nothing() {
        let (describe, get) = current_is("v1");
        let put = fresh_put();
        let written = update(
            &store(&[&describe, &get, &put]),
            &deadline(),
            &update_request_of("priv-0987654321wxyz", None),
            &WebhookId::new_for_tests("m1"),
        )
        .await
        .unwrap();
        assert!(!written.changed);
        assert_eq!(written.version_id, "v1");
        assert_eq!(put.num_calls(), 0);
    }

    #[tokio::test]
    async fn the_version_quota_is_too_many_writes_at_once_and_nothing_moves() {
        let (describe, get) = current_is("v1");
        let put = mock!(Client::put_secret_value)
            .sequence()
            .http_response(|| aws_error(400, "LimitExceededException"))
            .repeatedly()
            .build();
        let cas = mock!(Client::update_secret_version_stage)
            .then_output(|| UpdateSecretVersionStageOutput::builder().build());
        let err = update(
            &store(&[&describe, &get, &put, &cas]),
            &deadline(),
            &update_request(None),
            &WebhookId::new_for_tests("m1"),
        )
        .await
        .unwrap_err();
        assert_eq!(
            (err.code(), err.status().as_u16()),
            ("too_many_writes", 429)
        );
        assert_eq!(put.num_calls(), 1, "LimitExceededException is not retried");
        assert_eq!(cas.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_stale_expected_version_is_refused_before_any_write() {
        let (describe, get) = current_is("v2");
        let put = fresh_put();
        let err = update(
            &store(&[&describe, &get, &put]),
            &deadline(),
            &update_request(Some("v1")),
            &WebhookId::new_for_tests("m1"),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "version_conflict");
        assert_eq!(put.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_failed_write_during_update_never_moves_the_current_version() {
        let (describe, get) = current_is("v1");
        let put = mock!(Client::put_secret_value)
            .sequence()
            .http_response(|| aws_error(500, "InternalServiceError"))
            .repeatedly()
            .build();
        let cas = mock!(Client::update_secret_version_stage)
            .then_output(|| UpdateSecretVersionStageOutput::builder().build());
        let err = update(
            &store(&[&describe, &get, &put, &cas]),
            &deadline(),
            &update_request(None),
            &WebhookId::new_for_tests("m1"),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "upstream_unavailable");
        assert_eq!(cas.num_calls(), 0);
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
        for round in 1..MAX_WRITE_ROUNDS {
            assert!(backoff(round) <= Duration::from_secs(1));
        }
        assert!(backoff(1) < UPDATE_BACKOFF_BASE);
    }
}
