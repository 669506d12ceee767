//! The three operations — connect, fetch, update — written against [`SecretStore`].
//!
//! Idempotency: every write's `ClientRequestToken` (which becomes the version id) is derived from
//! the request's `webhook-id`, the secret name and the version it builds on, so a retried request
//! repeats the same write and Secrets Manager ignores it; the same `webhook-id` with another value
//! is refused (`idempotency_conflict`).

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::Error;
use crate::auth::WebhookId;
use crate::cache::{Lookup, ReadCache};
use crate::credentials::Credentials;
use crate::request::{ConnectRequest, FetchRequest, UpdateRequest, VersionChoice};
use crate::store::{
    STAGE_CURRENT, STAGE_PENDING, STAGE_PREVIOUS, SecretStore, Selector, StoreError, StoredSecret,
};

/// How many compare-and-swap rounds an update without `expectedVersionId` tries before giving up.
pub const MAX_UPDATE_ATTEMPTS: u32 = 8;
/// Upper bound of the random pause before the second round; it doubles each round after.
const UPDATE_BACKOFF_BASE: Duration = Duration::from_millis(40);

/// What a write did.
#[derive(Debug)]
pub struct Written {
    /// The version that holds the request's credentials.
    pub version_id: String,
    /// Whether the secret was created by this request (connect only).
    pub created: bool,
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
/// PutSecretValue makes the new value current. Of concurrent connects for a new tenant exactly one
/// creates the secret. A retry of the creating request reports `created` again.
///
/// # Errors
/// `idempotency_conflict` when the `webhook-id` was used with other credentials; store failures.
pub async fn connect(
    store: &SecretStore,
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
    let (version_id, created) = match store.create(&name, &value, &token, &tags).await {
        Ok(version_id) => (version_id, true),
        Err(StoreError::AlreadyExists) => {
            let version_id = store
                .put(&name, &value, &token, None)
                .await
                .map_err(idempotency_conflict)?;
            // A retry of the request that created the secret finds its own version alone.
            let created = store.versions(&name).await?.is_only(&version_id);
            (version_id, created)
        }
        Err(err) => return Err(err.into()),
    };
    Ok(Written {
        version_id,
        created,
        credentials: request.credentials.clone(),
    })
}

/// Reads a tenant's credentials, current or previous version, through the container's cache
/// (bypassed when the request asks for `refresh`).
///
/// # Errors
/// `not_found` when never connected (or there is no previous version); `invalid_stored_value`
/// when the stored text is not the provider's JSON object; store failures. None is cached.
pub async fn fetch(
    store: &SecretStore,
    cache: &ReadCache,
    request: &FetchRequest,
) -> Result<Fetched, Error> {
    let name = request.tenant.secret_name(request.provider);
    let stage = match request.version {
        VersionChoice::Current => STAGE_CURRENT,
        VersionChoice::Previous => STAGE_PREVIOUS,
    };
    if !request.refresh
        && let Some(cached) = servable_from_cache(store, cache, &name, stage).await?
    {
        return fetched(request, &cached);
    }
    let stored = store
        .get(&name, Selector::Stage(stage))
        .await
        .map_err(|err| {
            cache.forget(&name, stage);
            match (err, request.version) {
                (StoreError::NotFound, VersionChoice::Previous) => {
                    Error::NotFound("no previous version of these credentials exists".into())
                }
                (err, _) => err.into(),
            }
        })?;
    let answer = fetched(request, &stored)?;
    cache.store(&name, stage, &stored);
    Ok(answer)
}

/// The cached version of `(name, stage)` if it may be served: within the TTL, or past it but
/// still the version holding `stage` (checked with DescribeSecret, which reads no value).
async fn servable_from_cache(
    store: &SecretStore,
    cache: &ReadCache,
    name: &str,
    stage: &'static str,
) -> Result<Option<StoredSecret>, Error> {
    match cache.lookup(name, stage) {
        Lookup::Miss => Ok(None),
        Lookup::Fresh(cached) => Ok(Some(cached)),
        Lookup::Stale(cached) => {
            let versions = store.versions(name).await.map_err(|err| {
                cache.forget(name, stage);
                Error::from(err)
            })?;
            if versions.holding(stage) == Some(cached.version_id.as_str()) {
                cache.store(name, stage, &cached);
                Ok(Some(cached))
            } else {
                Ok(None)
            }
        }
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
/// this very request), writes the merged value under a private label and then
/// moves `AWSCURRENT` to it only if the version read is still current (compare-and-swap). With
/// `expectedVersionId`, a lost swap is `version_conflict`; without it, the round is retried (with
/// jitter) on the newer value, so concurrent updates of different fields all survive.
///
/// # Errors
/// `not_found` when never connected; `version_conflict`; `idempotency_conflict` when the
/// `webhook-id` was used with other credentials; `invalid_stored_value`; store failures.
pub async fn update(
    store: &SecretStore,
    request: &UpdateRequest,
    webhook_id: &WebhookId,
) -> Result<Written, Error> {
    let name = request.tenant.secret_name(request.provider);
    for attempt in 0..MAX_UPDATE_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(backoff(attempt)).await;
        }
        // The version map (for the retry check) and the current value, read side by side.
        let (versions, current) = tokio::join!(
            store.versions(&name),
            store.get(&name, Selector::Stage(STAGE_CURRENT))
        );
        let (versions, current) = (versions?, current?);
        let current_id = versions
            .holding(STAGE_CURRENT)
            .ok_or_else(|| Error::Internal(format!("{name} has no AWSCURRENT version")))?
            .to_owned();
        if current.version_id != current_id {
            continue; // a write landed between the two reads: start the round again
        }

        // A retry of a request that already won: its version is current, built on the previous.
        let is_retry_of_last_write = versions
            .holding(STAGE_PREVIOUS)
            .is_some_and(|previous| current_id == version_token(webhook_id, &name, previous));
        let mut credentials = Credentials::from_stored(request.provider, &current.value)?;
        if is_retry_of_last_write {
            return if credentials.contains(&request.changes) {
                Ok(Written {
                    version_id: current_id,
                    created: false,
                    credentials,
                })
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

        credentials.merge(&request.changes);
        let token = version_token(webhook_id, &name, &current_id);
        store
            .put(
                &name,
                &credentials.to_stored(),
                &token,
                Some(&[STAGE_PENDING]),
            )
            .await
            .map_err(idempotency_conflict)?;
        match store.move_current(&name, &token, &current_id).await {
            Ok(()) => {
                return Ok(Written {
                    version_id: token,
                    created: false,
                    credentials,
                });
            }
            Err(StoreError::StageMoved) if request.expected_version_id.is_none() => continue,
            Err(StoreError::StageMoved) => return Err(stale_expected_version()),
            Err(err) => return Err(err.into()),
        }
    }
    Err(Error::VersionConflict(format!(
        "the credentials kept changing concurrently ({MAX_UPDATE_ATTEMPTS} attempts); retry"
    )))
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
    use crate::credentials::{Completeness, View};
    use crate::provider::Provider;
    use crate::tenant::TenantId;
    use aws_sdk_secretsmanager::Client;
    use aws_sdk_secretsmanager::config::http::HttpResponse;
    use aws_sdk_secretsmanager::operation::create_secret::CreateSecretOutput;
    use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
    use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
    use aws_sdk_secretsmanager::operation::put_secret_value::PutSecretValueOutput;
    use aws_sdk_secretsmanager::operation::update_secret_version_stage::UpdateSecretVersionStageOutput;
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
    use aws_smithy_types::body::SdkBody;
    use serde_json::json;

    const STORED: &str =
        r#"{"publicApiKey":"pub-1234567890abcd","privateApiKey":"priv-0987654321wxyz"}"#;

    fn store(rules: &[&Rule]) -> SecretStore {
        let client: Client = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, rules, |c| c
            .retry_config(
                crate::config::retry_config().with_initial_backoff(Duration::from_millis(1))
            ));
        SecretStore::new(client)
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
            refresh: false,
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

    fn update_request(expected: Option<&str>) -> UpdateRequest {
        let raw = json!({"privateApiKey": "priv-new-000000000000"});
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

    fn current_is(version: &str) -> (Rule, Rule) {
        let id = version.to_owned();
        let describe = mock!(Client::describe_secret).then_output(move || {
            DescribeSecretOutput::builder()
                .version_ids_to_stages(id.clone(), vec![STAGE_CURRENT.to_owned()])
                .build()
        });
        let id = version.to_owned();
        let get = mock!(Client::get_secret_value).then_output(move || {
            GetSecretValueOutput::builder()
                .version_id(id.clone())
                .secret_string(STORED)
                .build()
        });
        (describe, get)
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
        let fetched = fetch(&store(&[&rule]), &ReadCache::disabled(), &fetch_request())
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
        let err = fetch(&store(&[&rule]), &ReadCache::disabled(), &fetch_request())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "internal");
        assert_eq!(err.detail(), "internal error");
    }

    #[tokio::test]
    async fn losing_the_create_race_replaces_the_value_and_reports_not_created() {
        let create = mock!(Client::create_secret)
            .then_http_response(|| aws_error(400, "ResourceExistsException"));
        let put = mock!(Client::put_secret_value)
            .match_requests(|req| req.version_stages().is_empty())
            .then_compute_output(|req| {
                PutSecretValueOutput::builder()
                    .version_id(req.client_request_token().unwrap())
                    .build()
            });
        let describe = mock!(Client::describe_secret).then_output(|| {
            DescribeSecretOutput::builder()
                .version_ids_to_stages("winner", vec![STAGE_PREVIOUS.to_owned()])
                .version_ids_to_stages("ours", vec![STAGE_CURRENT.to_owned()])
                .build()
        });
        let written = connect(
            &store(&[&create, &put, &describe]),
            &connect_request(),
            &WebhookId::new_for_tests("m1"),
        )
        .await
        .unwrap();
        assert!(!written.created);
        assert_eq!(put.num_calls(), 1);
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
        let put = mock!(Client::put_secret_value)
            .match_requests(|req| req.version_stages() == [STAGE_PENDING])
            .then_output(|| PutSecretValueOutput::builder().build());
        let cas = mock!(Client::update_secret_version_stage)
            .then_http_response(|| aws_error(400, "InvalidParameterException"));
        let err = update(
            &store(&[&describe, &get, &put, &cas]),
            &update_request(Some("v1")),
            &WebhookId::new_for_tests("m1"),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "version_conflict");
        assert_eq!(cas.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_lost_compare_and_swap_without_expected_version_is_retried_on_the_new_value() {
        let (describe, get) = current_is("v1");
        let put =
            mock!(Client::put_secret_value).then_output(|| PutSecretValueOutput::builder().build());
        let cas = mock!(Client::update_secret_version_stage)
            .sequence()
            .http_response(|| aws_error(400, "InvalidParameterException"))
            .output(|| UpdateSecretVersionStageOutput::builder().build())
            .build();
        let written = update(
            &store(&[&describe, &get, &put, &cas]),
            &update_request(None),
            &WebhookId::new_for_tests("m1"),
        )
        .await
        .unwrap();
        assert_eq!(cas.num_calls(), 2);
        assert_eq!(
            describe.num_calls(),
            2,
            "the second round re-reads the current version"
        );
        assert_eq!(
            written.credentials.view(View::Full)["publicApiKey"],
            "pub-1234567890abcd"
        );
    }

    #[tokio::test]
    async fn a_stale_expected_version_is_refused_before_any_write() {
        let (describe, get) = current_is("v2");
        let put =
            mock!(Client::put_secret_value).then_output(|| PutSecretValueOutput::builder().build());
        let err = update(
            &store(&[&describe, &get, &put]),
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
        for attempt in 1..MAX_UPDATE_ATTEMPTS {
            assert!(backoff(attempt) <= Duration::from_secs(1));
        }
        assert!(backoff(1) < UPDATE_BACKOFF_BASE);
    }
}
