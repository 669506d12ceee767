//! fetch-key: read a tenant's credentials, fresh or through the container's cache.

use std::time::Duration;

use crate::Error;
use crate::cache::{Lookup, ReadCache};
use crate::credentials::{Credentials, View};
use crate::deadline::Deadline;
use crate::request::FetchRequest;
use crate::store::{SecretStore, StoreError, StoredSecret, VersionChoice};

use super::rounds::call_retrying_lifted_refusals;

/// What a read found.
#[derive(Debug)]
pub struct Fetched {
    /// The version read.
    pub version_id: String,
    /// Its credentials.
    pub credentials: Credentials,
    /// Whether it was served from the container's cache.
    pub from_cache: bool,
}

/// Reads a tenant's credentials: the current or previous version, or one by id.
///
/// Freshness: a value is served from the container's cache only if it is younger than the
/// request's `max_age` (default: the cache's TTL for the public view, zero — a fresh read — for
/// the others); an older entry is revalidated with DescribeSecret.
///
/// # Errors
/// `not_found` when never connected, scheduled for deletion (with its date), or there is no
/// such version (a read refused while a reconnect restored the secret is made again); `invalid_stored_value` when the stored text is not the provider's JSON object;
/// store failures. None is cached.
pub async fn fetch(
    store: &SecretStore,
    cache: &ReadCache,
    deadline: &Deadline,
    request: &FetchRequest,
) -> Result<Fetched, Error> {
    let name = request.tenant.secret_name(request.provider);
    let version = &request.version;
    let max_age = request.max_age.unwrap_or(match request.view {
        View::Public => cache.ttl(),
        View::Full | View::Masked => Duration::ZERO,
    });
    if let Some(cached) =
        servable_from_cache(store, cache, deadline, &name, version, max_age).await?
    {
        return fetched(request, &cached, true);
    }
    let read = call_retrying_lifted_refusals(store, deadline, &name, || {
        store.get(deadline, &name, version)
    })
    .await
    .and_then(|read| read.map_err(|err| read_failure(version, err)));
    let stored = match read {
        Ok(stored) => stored,
        Err(err) => {
            cache.forget(&name, version);
            return Err(err);
        }
    };
    let answer = fetched(request, &stored, false)?;
    cache.store(&name, version, &stored);
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
    version: &VersionChoice,
    max_age: Duration,
) -> Result<Option<StoredSecret>, Error> {
    match cache.lookup(name, version, max_age) {
        Lookup::Miss => Ok(None),
        Lookup::Fresh(cached) => Ok(Some(cached)),
        Lookup::Stale(cached) => {
            let described = store.describe(deadline, name).await.map_err(|err| {
                cache.forget(name, version);
                Error::from(err)
            })?;
            if let Some(deletion_date) = described.deletion_date {
                cache.forget(name, version);
                return Err(Error::ScheduledForDeletion { deletion_date });
            }
            let unchanged = match version.stage() {
                Some(stage) => described.holding(stage) == Some(cached.version_id.as_str()),
                None => true,
            };
            if unchanged {
                cache.store(name, version, &cached);
                Ok(Some(cached))
            } else {
                Ok(None)
            }
        }
    }
}

/// The error a failed read answers (a refusal — scheduled for deletion — is settled before, by
/// [`call_retrying_lifted_refusals`]).
fn read_failure(version: &VersionChoice, err: StoreError) -> Error {
    match (err, version) {
        (StoreError::NotFound, VersionChoice::Previous) => {
            Error::NotFound("no previous version of these credentials exists".into())
        }
        (StoreError::NotFound, VersionChoice::Id(_)) => {
            Error::NotFound("these credentials have no version with this versionId".into())
        }
        (err, _) => err.into(),
    }
}

fn fetched(
    request: &FetchRequest,
    stored: &StoredSecret,
    from_cache: bool,
) -> Result<Fetched, Error> {
    Ok(Fetched {
        credentials: Credentials::from_stored(request.provider, &stored.value)?,
        version_id: stored.version_id.clone(),
        from_cache,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::mocks::*;
    use crate::store::{STAGE_CURRENT, STAGE_PREVIOUS};
    use aws_sdk_secretsmanager::Client;
    use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
    use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
    use aws_sdk_secretsmanager::primitives::DateTime;
    use aws_smithy_mocks::mock;

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

    fn describe_deleted() -> DescribeSecretOutput {
        DescribeSecretOutput::builder()
            .version_ids_to_stages("v1", vec![STAGE_CURRENT.to_owned()])
            .deleted_date(DateTime::from_secs(1_800_000_000))
            .build()
    }

    #[tokio::test]
    async fn a_read_refused_while_a_reconnect_restores_reads_again() {
        // The interleaving the soak run found: GetSecretValue is refused (scheduled for deletion),
        // a reconnect's RestoreSecret lands, and DescribeSecret shows no deletion any more. The
        // read is made again and answers from the final state.
        let get = mock!(Client::get_secret_value)
            .sequence()
            .http_response(|| aws_error(400, "InvalidRequestException"))
            .output(|| {
                GetSecretValueOutput::builder()
                    .version_id("v2")
                    .secret_string(STORED)
                    .build()
            })
            .build();
        let describe = mock!(Client::describe_secret).then_output(|| describe_output("v2"));
        let fetched = fetch(
            &store(&[&get, &describe]),
            &ReadCache::disabled(),
            &deadline(),
            &fetch_request(),
        )
        .await
        .unwrap();
        assert_eq!(fetched.version_id, "v2");
        assert_eq!((get.num_calls(), describe.num_calls()), (2, 1));
    }

    #[tokio::test]
    async fn a_read_refused_again_after_a_restore_answers_the_new_deletion_date() {
        // Refused, restored in between, refused again (a second disconnect): not found, dated.
        let get = mock!(Client::get_secret_value)
            .sequence()
            .http_response(|| aws_error(400, "InvalidRequestException"))
            .times(2)
            .build();
        let describe = mock!(Client::describe_secret)
            .sequence()
            .output(|| describe_output("v1"))
            .output(describe_deleted)
            .build();
        let err = fetch(
            &store(&[&get, &describe]),
            &ReadCache::disabled(),
            &deadline(),
            &fetch_request(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, Error::ScheduledForDeletion { deletion_date } if deletion_date == "2027-01-15T08:00:00Z"),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_secret_that_keeps_flipping_is_a_bounded_conflict_never_secret_unavailable() {
        let get = mock!(Client::get_secret_value)
            .sequence()
            .http_response(|| aws_error(400, "InvalidRequestException"))
            .repeatedly()
            .build();
        let describe = mock!(Client::describe_secret).then_output(|| describe_output("v1"));
        let err = fetch(
            &store(&[&get, &describe]),
            &ReadCache::disabled(),
            &deadline(),
            &fetch_request(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            (err.code(), err.status().as_u16()),
            ("version_conflict", 409)
        );
        assert_eq!(get.num_calls() as u32, crate::ops::MAX_REFUSED_ROUNDS);
    }

    #[tokio::test]
    async fn the_previous_version_of_a_disconnected_secret_is_not_found_with_its_date() {
        // AWS refuses GetSecretValue of a secret scheduled for deletion before it looks up the
        // stage (moto answers ResourceNotFoundException for a missing AWSPREVIOUS first).
        let get = mock!(Client::get_secret_value)
            .match_requests(|req| req.version_stage() == Some(STAGE_PREVIOUS))
            .then_http_response(|| aws_error(400, "InvalidRequestException"));
        let describe = mock!(Client::describe_secret).then_output(describe_deleted);
        let request = FetchRequest {
            version: VersionChoice::Previous,
            ..fetch_request()
        };
        let err = fetch(
            &store(&[&get, &describe]),
            &ReadCache::disabled(),
            &deadline(),
            &request,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, Error::ScheduledForDeletion { .. }),
            "{err:?}"
        );
    }
}
