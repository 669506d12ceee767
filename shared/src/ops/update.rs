//! update-key: merge fields into a tenant's credentials, by compare-and-swap.

use futures_util::future::OptionFuture;

use crate::Error;
use crate::auth::WebhookId;
use crate::credentials::Credentials;
use crate::deadline::Deadline;
use crate::outbound::ProviderClient;
use crate::request::UpdateRequest;
use crate::store::{
    STAGE_CURRENT, STAGE_PENDING, STAGE_PREVIOUS, SecretStore, StoreError, VersionChoice,
};

use super::Written;
use super::rounds::{backoff, deletion_lifted, idempotency_conflict, kept_changing, version_token};

/// The most compare-and-swap rounds one request takes. A round that loses has written one
/// version, so one update writes at most this many versions (AWS refuses writes to a secret once
/// about 100 of its versions are younger than 24 h).
pub const MAX_WRITE_ROUNDS: u32 = 3;

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
/// At most once per `webhook-id`: the first round's write has the id's own version id
/// ([`first_write_token`]), looked up beside the first reads. If that version exists and is not
/// current, this request (or another with the same id) wrote before: with other changes it is
/// `idempotency_conflict`; with the same changes, unless that write is still pending (a
/// concurrent duplicate in flight), it is `version_conflict` and nothing is written — a replay
/// never moves `AWSCURRENT` back.
///
/// With a `checker` (the request asked to `verify`), the merged credentials are checked with the
/// provider before anything is written — also when they equal the stored ones.
///
/// # Errors
/// `not_found` when never connected or scheduled for deletion (also when a disconnect lands
/// during the update; a refusal that a reconnect has lifted starts the round again);
/// `version_conflict` (also for a replay, as above);
/// `credentials_rejected` or `provider_unavailable` from the check (nothing written);
/// `idempotency_conflict` when the `webhook-id` was used with other credentials;
/// `too_many_writes`; `invalid_stored_value`; store failures.
pub async fn update(
    store: &SecretStore,
    deadline: &Deadline,
    request: &UpdateRequest,
    webhook_id: &WebhookId,
    checker: Option<&ProviderClient>,
) -> Result<Written, Error> {
    let name = request.tenant.secret_name(request.provider);
    let first_token = first_write_token(webhook_id, &name);
    let first_write = VersionChoice::Id(first_token.clone());
    // Whether the webhook-id's first write has been looked up (once, in the first round that
    // reads the secret).
    let mut looked_up = false;
    // The merged credentials last checked with the provider: a later round checks again only if
    // a concurrent write changed them.
    let mut checked: Option<String> = None;
    for round in 0..MAX_WRITE_ROUNDS {
        if round > 0 {
            deadline.pause(backoff(round)).await?;
        }
        // The version map (for the retry check), the current value and, the first time, this
        // webhook-id's first write, read side by side.
        let lookup = (!looked_up).then(|| store.get(deadline, &name, &first_write));
        let (described, current, earlier) = tokio::join!(
            store.describe(deadline, &name),
            store.get(deadline, &name, &VersionChoice::Current),
            OptionFuture::from(lookup)
        );
        let described = described?;
        if let Some(deletion_date) = described.deletion_date {
            return Err(Error::ScheduledForDeletion { deletion_date });
        }
        let current = match current {
            // Refused (scheduled for deletion) though the DescribeSecret beside it saw no
            // deletion: a disconnect or a restore landed between the two reads. Start again.
            Err(StoreError::Refused) => continue,
            other => other?,
        };
        let current_id = described
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
            restored: false,
            verified: checker.is_some(),
            credentials,
        };

        // A retry of a request that already won: its version is current (the first write's, or
        // a later round's, built on the previous version).
        let is_retry_of_last_write = current_id == first_token
            || described
                .holding(STAGE_PREVIOUS)
                .is_some_and(|previous| current_id == version_token(webhook_id, &name, previous));
        if is_retry_of_last_write {
            return if credentials.contains(&request.changes) {
                Ok(answer(current_id, true, credentials))
            } else {
                Err(Error::IdempotencyConflict)
            };
        }
        if let Some(earlier) = earlier {
            match earlier {
                Ok(earlier) => {
                    let in_flight = described.holds(&first_token, STAGE_PENDING);
                    written_before(request, &earlier.value, in_flight)?;
                }
                Err(StoreError::NotFound) => {}
                // Refused: a disconnect landed beside the DescribeSecret; the next round sees it.
                Err(StoreError::Refused) => continue,
                Err(err) => return Err(err.into()),
            }
            looked_up = true;
        }
        if request
            .expected_version_id
            .as_ref()
            .is_some_and(|expected| *expected != current_id)
        {
            return Err(stale_expected_version());
        }
        let unchanged = credentials.contains(&request.changes);
        credentials.merge(&request.changes);
        let merged = credentials.to_stored();
        if let Some(checker) = checker
            && checked.as_ref() != Some(&merged)
        {
            checker
                .check(deadline, request.provider, &credentials)
                .await?;
            checked = Some(merged.clone());
        }
        if unchanged {
            return Ok(answer(current_id, false, credentials));
        }

        let token = if round == 0 {
            first_token.clone()
        } else {
            version_token(webhook_id, &name, &current_id)
        };
        match store.put_pending(deadline, &name, &merged, &token).await {
            // A disconnect landed since the read (AWS refuses writes to a secret scheduled for
            // deletion): not found, dated; or a reconnect restored it already: start again.
            Err(StoreError::Refused) => {
                deletion_lifted(store, deadline, &name).await?;
                continue;
            }
            other => other.map_err(idempotency_conflict)?,
        };
        match store
            .move_current(deadline, &name, &token, &current_id)
            .await
        {
            Ok(()) => return Ok(answer(token, true, credentials)),
            Err(StoreError::Refused) => deletion_lifted(store, deadline, &name).await?,
            Err(StoreError::StageMoved) => {
                let now = store.describe(deadline, &name).await?;
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

/// The version id of an update's first write: derived from the `webhook-id` and the secret name
/// alone, so it names the request whatever the secret held when it came.
fn first_write_token(webhook_id: &WebhookId, name: &str) -> String {
    version_token(webhook_id, name, "update")
}

/// What an earlier write under this request's `webhook-id` (its first write, not current) means:
/// `idempotency_conflict` when it did not carry these changes; `version_conflict` when it did and
/// has left the pending label (it was made current and replaced since, or lost to a concurrent
/// write); `Ok` while it is still pending — a concurrent duplicate of this request in flight,
/// which this one may complete.
fn written_before(request: &UpdateRequest, earlier: &str, in_flight: bool) -> Result<(), Error> {
    let earlier = Credentials::from_stored(request.provider, earlier)?;
    if !earlier.contains(&request.changes) {
        return Err(Error::IdempotencyConflict);
    }
    if in_flight {
        return Ok(());
    }
    Err(Error::VersionConflict(
        "this webhook-id already wrote these changes, and that version is no longer current (replaced since, or lost to a concurrent write); nothing was written: fetch the credentials and send the change again with a new webhook-id"
            .into(),
    ))
}

fn stale_expected_version() -> Error {
    Error::VersionConflict(
        "expectedVersionId is no longer the current version; fetch the credentials and retry"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::View;
    use crate::ops::mocks::*;
    use aws_sdk_secretsmanager::Client;
    use aws_sdk_secretsmanager::operation::update_secret_version_stage::UpdateSecretVersionStageOutput;
    use aws_smithy_mocks::{Rule, mock};

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
            None,
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
        let ours = first_write_token(&webhook_id, NAME);
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
            None,
        )
        .await
        .unwrap();
        assert!(written.changed);
        assert_eq!(written.version_id, first_write_token(&webhook_id, NAME));
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
            None,
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
            None,
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
            None,
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
            None,
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
            None,
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
            None,
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "upstream_unavailable");
        assert_eq!(cas.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_read_refused_while_a_reconnect_restores_starts_the_round_again() {
        // GetSecretValue is refused (scheduled for deletion) while the DescribeSecret beside it
        // already sees the restore: the round starts again and the update goes through.
        let describe = mock!(Client::describe_secret).then_output(|| describe_output("v1"));
        let get = mock!(Client::get_secret_value)
            .match_requests(|req| req.version_stage().is_some())
            .sequence()
            .http_response(|| aws_error(400, "InvalidRequestException"))
            .output(|| {
                aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput::builder()
                    .version_id("v1")
                    .secret_string(STORED)
                    .build()
            })
            .build();
        let put = fresh_put();
        let cas = mock!(Client::update_secret_version_stage)
            .then_output(|| UpdateSecretVersionStageOutput::builder().build());
        let written = update(
            &store(&[&describe, &get, &put, &cas]),
            &deadline(),
            &update_request(None),
            &WebhookId::new_for_tests("m1"),
            None,
        )
        .await
        .unwrap();
        assert!(written.changed);
        assert_eq!((get.num_calls(), put.num_calls()), (2, 1));
    }

    #[tokio::test]
    async fn a_write_refused_by_a_disconnect_that_landed_is_not_found_with_its_date() {
        // The read saw a live secret; a disconnect lands before PutSecretValue, which AWS refuses.
        let describe = mock!(Client::describe_secret)
            .sequence()
            .output(|| describe_output("v1"))
            .output(|| {
                aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput::builder()
                    .version_ids_to_stages("v1", vec![STAGE_CURRENT.to_owned()])
                    .deleted_date(aws_sdk_secretsmanager::primitives::DateTime::from_secs(
                        1_800_000_000,
                    ))
                    .build()
            })
            .build();
        let get = current_is("v1").1;
        let put = mock!(Client::put_secret_value)
            .then_http_response(|| aws_error(400, "InvalidRequestException"));
        let cas = mock!(Client::update_secret_version_stage)
            .then_output(|| UpdateSecretVersionStageOutput::builder().build());
        let err = update(
            &store(&[&describe, &get, &put, &cas]),
            &deadline(),
            &update_request(None),
            &WebhookId::new_for_tests("m1"),
            None,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, Error::ScheduledForDeletion { deletion_date } if deletion_date == "2027-01-15T08:00:00Z"),
            "{err:?}"
        );
        assert_eq!(cas.num_calls(), 0);
    }

    /// DescribeSecret's answer: `current` holds AWSCURRENT, and `pending`, if any, the private
    /// label.
    fn labels(current: &str, pending: Option<&str>) -> Rule {
        let (current, pending) = (current.to_owned(), pending.map(str::to_owned));
        mock!(Client::describe_secret).then_output(move || {
            let mut output =
                aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput::builder()
                    .version_ids_to_stages(current.clone(), vec![STAGE_CURRENT.to_owned()]);
            if let Some(pending) = &pending {
                output =
                    output.version_ids_to_stages(pending.clone(), vec![STAGE_PENDING.to_owned()]);
            }
            output.build()
        })
    }

    /// GetSecretValue of this webhook-id's first write, holding the private key `private`.
    fn first_write_holding(webhook_id: &WebhookId, private: &str) -> Rule {
        let (first, stored) = (
            first_write_token(webhook_id, NAME),
            format!(r#"{{"publicApiKey":"pub-1234567890abcd","privateApiKey":"{private}"}}"#),
        );
        mock!(Client::get_secret_value)
            .match_requests(move |req| req.version_id() == Some(first.as_str()))
            .then_output(move || {
                aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput::builder()
                    .version_id("first")
                    .secret_string(stored.clone())
                    .build()
            })
    }

    #[tokio::test]
    async fn a_replayed_update_after_a_later_write_moves_nothing_back() {
        // Found by the attack run: the update's version was current, a later write replaced it,
        // and the captured request, replayed byte for byte, wrote the old key again (its token
        // was derived from the version it built on, which had changed).
        let webhook_id = WebhookId::new_for_tests("m1");
        let (describe, get) = current_is("v3");
        let first = first_write_holding(&webhook_id, "priv-new-000000000000");
        let put = fresh_put();
        let cas = mock!(Client::update_secret_version_stage)
            .then_output(|| UpdateSecretVersionStageOutput::builder().build());
        let err = update(
            &store(&[&describe, &get, &first, &put, &cas]),
            &deadline(),
            &update_request(None),
            &webhook_id,
            None,
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "version_conflict");
        assert_eq!((put.num_calls(), cas.num_calls()), (0, 0));
    }

    #[tokio::test]
    async fn a_reused_webhook_id_with_other_changes_is_refused_whatever_came_between() {
        // Found by the attack run: k1 under M, then another write, then k3 under M was applied.
        let webhook_id = WebhookId::new_for_tests("m1");
        for current in ["v2", "v3"] {
            let (describe, get) = current_is(current);
            let first = first_write_holding(&webhook_id, "priv-k1-0000000000000");
            let put = fresh_put();
            let err = update(
                &store(&[&describe, &get, &first, &put]),
                &deadline(),
                &update_request_of("priv-k3-0000000000000", None),
                &webhook_id,
                None,
            )
            .await
            .unwrap_err();
            assert_eq!(err.code(), "idempotency_conflict");
            assert_eq!(put.num_calls(), 0);
        }
    }

    #[tokio::test]
    async fn a_duplicate_of_an_update_still_in_flight_completes_it() {
        // The first delivery wrote its version (still under the private label) and has not moved
        // AWSCURRENT yet: the duplicate repeats the write (ignored) and makes the same swap.
        let webhook_id = WebhookId::new_for_tests("m1");
        let first_id = first_write_token(&webhook_id, NAME);
        let describe = labels("v1", Some(&first_id));
        let get = current_is("v1").1;
        let first = first_write_holding(&webhook_id, "priv-new-000000000000");
        let put = fresh_put();
        let cas = mock!(Client::update_secret_version_stage)
            .then_output(|| UpdateSecretVersionStageOutput::builder().build());
        let written = update(
            &store(&[&describe, &get, &first, &put, &cas]),
            &deadline(),
            &update_request(None),
            &webhook_id,
            None,
        )
        .await
        .unwrap();
        assert_eq!(written.version_id, first_id);
        assert_eq!(cas.num_calls(), 1);
    }
}
