//! connect-integration: create a tenant's secret, or replace its value (restoring a disconnected
//! one).

use crate::Error;
use crate::auth::WebhookId;
use crate::deadline::Deadline;
use crate::outbound::ProviderClient;
use crate::request::ConnectRequest;
use crate::store::{STAGE_CURRENT, STAGE_PENDING, SecretStore, StoreError};

use super::Written;
use super::rounds::{backoff, idempotency_conflict, kept_changing, version_token};

/// The most times connect tries to move `AWSCURRENT` to its version when other writes keep
/// landing in between. A move writes no version, so this bound only limits time and calls.
pub const MAX_MOVE_ROUNDS: u32 = 8;

/// Creates or replaces a tenant's credentials for a provider.
///
/// CreateSecret (tagged `tenant-id`, `provider`, `managed-by=tenant-keys`); if the secret exists,
/// the new value is written under the private label and made current (a replace: whatever version
/// is current is replaced, and a lost move retries the move, not the write). Of concurrent
/// connects for a new tenant exactly one creates the secret. A retry of a request whose version is
/// still current answers as the first attempt did (`created` again for the creating request).
/// A secret scheduled for deletion (disconnected) is restored first (`restored`): its value before
/// the disconnect becomes the previous version.
///
/// At most once per `webhook-id`: both version ids derive from it, and the secret's full version
/// list (unlabelled versions too, which AWS keeps for at least 24 hours) shows whether it wrote
/// before. A replay whose write is no longer current, or whose integration was disconnected
/// since, is `version_conflict` and changes nothing (it never restores); with other credentials
/// it is `idempotency_conflict`.
///
/// With a `checker` (the request asked to `verify`), the credentials are checked with the provider
/// before anything is written.
///
/// # Errors
/// `credentials_rejected` or `provider_unavailable` from the check (nothing written);
/// `idempotency_conflict` when the `webhook-id` was used with other credentials;
/// `version_conflict` when a retried request's version has been replaced by a newer write since
/// its first attempt, or the integration was disconnected since (it is not applied again); `upstream_unavailable` when the name of a purged
/// secret is not free yet; `too_many_writes`; store failures.
pub async fn connect(
    store: &SecretStore,
    deadline: &Deadline,
    request: &ConnectRequest,
    webhook_id: &WebhookId,
    checker: Option<&ProviderClient>,
) -> Result<Written, Error> {
    if let Some(checker) = checker {
        checker
            .check(deadline, request.provider, &request.credentials)
            .await?;
    }
    let name = request.tenant.secret_name(request.provider);
    let value = request.credentials.to_stored();
    // Two tokens: AWS ignores a CreateSecret whose token and value match an existing version, so
    // a create made with the token of this request's own earlier replace would "succeed". The
    // create token is used by CreateSecret alone: its success means this request created the
    // secret (now, or in an earlier attempt whose answer was lost).
    let create_token = version_token(webhook_id, &name, "create");
    let token = version_token(webhook_id, &name, "connect");
    let tags = [
        ("tenant-id", request.tenant.as_str()),
        ("provider", request.provider.id),
        ("managed-by", "tenant-keys"),
    ];
    let written = |version_id: &str, created, restored| Written {
        version_id: version_id.to_owned(),
        created,
        changed: true,
        restored,
        verified: checker.is_some(),
        credentials: request.credentials.clone(),
    };
    let created = store
        .create(deadline, &name, &value, &create_token, &tags)
        .await;
    match &created {
        Ok(_) => return Ok(written(&create_token, true, false)),
        // AWS refuses CreateSecret of a name scheduled for deletion (InvalidRequestException);
        // moto answers ResourceExistsException.
        Err(StoreError::AlreadyExists | StoreError::Refused) => {}
        Err(_) => return Err(created.unwrap_err().into()),
    }
    // Every version the secret has, labelled or not: whether this webhook-id wrote before.
    let listed = match store.all_versions(deadline, &name).await {
        Ok(listed) => listed,
        Err(StoreError::NotFound) => Vec::new(),
        Err(err) => return Err(err.into()),
    };
    let wrote_before = |token: &str| listed.iter().any(|version| version.id == token);
    if wrote_before(&create_token) {
        // This webhook-id created the secret. CreateSecret with its token and the same value
        // would have been ignored (answered as a success), so an existing secret means other
        // credentials; one scheduled for deletion means the integration was disconnected since
        // (AWS refuses the call before it compares): either way, nothing is written again.
        return Err(match created {
            Err(StoreError::AlreadyExists) => Error::IdempotencyConflict,
            _ => already_applied("disconnected or replaced since"),
        });
    }
    let replayed = wrote_before(&token);
    // This request's replace was written before: if the integration has been disconnected since,
    // it is never restored by it. (AWS would refuse the write below; checked first, so that no
    // store that accepts writes to a secret scheduled for deletion, as moto does, decides it.)
    if replayed
        && store
            .describe(deadline, &name)
            .await?
            .deletion_date
            .is_some()
    {
        return Err(already_applied("disconnected since"));
    }
    let mut restored = false;
    let put = match store.put_pending(deadline, &name, &value, &token).await {
        // A replay of a replace that a disconnect has followed: never restored again.
        Err(StoreError::Refused) if replayed => {
            return Err(already_applied("disconnected since"));
        }
        // AWS refuses writes to a secret scheduled for deletion: restore it, then write.
        Err(StoreError::Refused) => {
            store.restore(deadline, &name).await?;
            restored = true;
            store.put_pending(deadline, &name, &value, &token).await
        }
        other => other,
    };
    let put = match put {
        // The name of a purged secret is freed asynchronously: CreateSecret is refused and
        // the secret is gone. Retrying shortly succeeds.
        Err(StoreError::NotFound) => {
            return Err(StoreError::Unavailable(
                "the secret was deleted and its name is not free yet".into(),
            )
            .into());
        }
        other => other.map_err(idempotency_conflict)?,
    };
    if put.holds(STAGE_CURRENT) {
        // A retry of a request whose replace is current.
        return Ok(written(&token, false, restored));
    }
    if !put.holds(STAGE_PENDING) {
        // The version exists from an earlier attempt and another write has replaced it since.
        return Err(already_applied("replaced since"));
    }
    restored |= make_current(store, deadline, &name, &token).await?;
    Ok(written(&token, false, restored))
}

/// `version_conflict`: this webhook-id's write was applied before and is no longer current
/// (`since` says what happened); nothing is written again.
fn already_applied(since: &str) -> Error {
    Error::VersionConflict(format!(
        "this webhook-id was already applied and the integration was {since}; nothing was written: fetch the credentials"
    ))
}

/// Moves `AWSCURRENT` to `token` from whichever version holds it, retrying only the move when
/// another write lands in between. Returns whether the secret had to be restored (moto accepts
/// writes to a secret scheduled for deletion, which AWS refuses earlier; and a disconnect may land
/// while the connect runs: the connect, which answers last, then restores the secret, so the final
/// state is the one the last answer describes).
async fn make_current(
    store: &SecretStore,
    deadline: &Deadline,
    name: &str,
    token: &str,
) -> Result<bool, Error> {
    let mut restored = false;
    for round in 0..MAX_MOVE_ROUNDS {
        if round > 0 {
            deadline.pause(backoff(round)).await?;
        }
        let mut described = store.describe(deadline, name).await?;
        if described.deletion_date.is_some() {
            store.restore(deadline, name).await?;
            restored = true;
            described = store.describe(deadline, name).await?;
        }
        let current = described
            .holding(STAGE_CURRENT)
            .ok_or_else(|| Error::Internal(format!("{name} has no AWSCURRENT version")))?;
        if current != token {
            match store.move_current(deadline, name, token, current).await {
                Ok(()) => {}
                Err(StoreError::StageMoved) => continue,
                // AWS refuses the move when a disconnect landed since the describe.
                Err(StoreError::Refused) => continue,
                Err(err) => return Err(err.into()),
            }
        } // else: our own move landed, its answer was lost
        if store
            .describe(deadline, name)
            .await?
            .deletion_date
            .is_some()
        {
            store.restore(deadline, name).await?;
            restored = true;
        }
        return Ok(restored);
    }
    Err(kept_changing(MAX_MOVE_ROUNDS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::mocks::*;
    use crate::store::STAGE_PREVIOUS;
    use aws_sdk_secretsmanager::Client;
    use aws_sdk_secretsmanager::operation::create_secret::CreateSecretOutput;
    use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
    use aws_sdk_secretsmanager::operation::put_secret_value::PutSecretValueOutput;
    use aws_sdk_secretsmanager::operation::restore_secret::RestoreSecretOutput;
    use aws_sdk_secretsmanager::operation::update_secret_version_stage::UpdateSecretVersionStageOutput;
    use aws_sdk_secretsmanager::primitives::DateTime;
    use aws_smithy_mocks::mock;

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
            None,
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "upstream_unavailable");
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
            None,
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
            .output(|| describe_output("v1"))
            .output(|| describe_output("v2"))
            .output(|| describe_output("ours"))
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
            None,
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
        let describe = mock!(Client::describe_secret).then_output(|| describe_output("newer"));
        let err = connect(
            &store(&[&create, &put, &cas, &describe]),
            &deadline(),
            &connect_request(),
            &WebhookId::new_for_tests("m1"),
            None,
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "version_conflict");
        assert_eq!(cas.num_calls(), 0, "AWSCURRENT never moves back");
    }

    #[tokio::test]
    async fn a_reconnect_restores_a_disconnected_secret_then_writes() {
        // AWS: CreateSecret and PutSecretValue of a secret scheduled for deletion are refused
        // (InvalidRequestException) until RestoreSecret.
        let create = mock!(Client::create_secret)
            .then_http_response(|| aws_error(400, "InvalidRequestException"));
        let refused_put = mock!(Client::put_secret_value)
            .sequence()
            .http_response(|| aws_error(400, "InvalidRequestException"))
            .build();
        let put = fresh_put();
        let restore =
            mock!(Client::restore_secret).then_output(|| RestoreSecretOutput::builder().build());
        let describe = mock!(Client::describe_secret).then_output(|| describe_output("old"));
        let cas = mock!(Client::update_secret_version_stage)
            .match_requests(|req| req.remove_from_version_id() == Some("old"))
            .then_output(|| UpdateSecretVersionStageOutput::builder().build());
        let written = connect(
            &store(&[&create, &refused_put, &put, &restore, &describe, &cas]),
            &deadline(),
            &connect_request(),
            &WebhookId::new_for_tests("m1"),
            None,
        )
        .await
        .unwrap();
        assert!(written.restored && !written.created && written.changed);
        assert_eq!(restore.num_calls(), 1);
        assert_eq!((put.num_calls(), cas.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn new_secrets_use_the_stacks_kms_key_when_it_has_one() {
        let create = mock!(Client::create_secret).then_compute_output(|req| {
            assert_eq!(req.kms_key_id(), Some("arn:aws:kms:us-east-1:1:key/k"));
            CreateSecretOutput::builder().build()
        });
        connect(
            &store(&[&create]).with_kms_key(Some("arn:aws:kms:us-east-1:1:key/k".into())),
            &deadline(),
            &connect_request(),
            &WebhookId::new_for_tests("m1"),
            None,
        )
        .await
        .unwrap();
        assert_eq!(create.num_calls(), 1);
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
            None,
        )
        .await
        .unwrap();
        assert!(written.created);
    }

    #[tokio::test]
    async fn a_retried_replace_is_never_reported_as_created() {
        // AWS ignores a CreateSecret whose ClientRequestToken and value match an existing version
        // of the secret (CreateSecret API reference, ClientRequestToken; moto 5.2.5 does the
        // same). The soak run found a connect whose first attempt replaced the value and failed
        // afterwards: its retry's CreateSecret, made with the same token, "succeeded" and
        // answered 201 for a secret created long before.
        let webhook_id = WebhookId::new_for_tests("m1");
        let replaced = version_token(&webhook_id, NAME, "connect");
        let ignored_create = {
            let replaced = replaced.clone();
            mock!(Client::create_secret)
                .match_requests(move |req| req.client_request_token() == Some(replaced.as_str()))
                .then_output(|| CreateSecretOutput::builder().build())
        };
        let exists = mock!(Client::create_secret)
            .then_http_response(|| aws_error(400, "ResourceExistsException"));
        // The earlier attempt's version is current: PutSecretValue replays it.
        let replayed = mock!(Client::put_secret_value).then_compute_output(|req| {
            PutSecretValueOutput::builder()
                .version_id(req.client_request_token().unwrap())
                .version_stages(STAGE_PENDING)
                .version_stages(STAGE_CURRENT)
                .build()
        });
        let describe = {
            let replaced = replaced.clone();
            mock!(Client::describe_secret).then_output(move || describe_output(&replaced))
        };
        let written = connect(
            &store(&[&ignored_create, &exists, &replayed, &describe]),
            &deadline(),
            &connect_request(),
            &webhook_id,
            None,
        )
        .await
        .unwrap();
        assert!(!written.created);
        assert_eq!(written.version_id, replaced);
    }

    #[tokio::test]
    async fn a_reused_webhook_id_with_other_credentials_is_refused_before_any_write() {
        // This webhook-id created the secret, and two writes have replaced it since: on AWS its
        // version has no label left, so DescribeSecret no longer lists it (found by the attack
        // run: the reuse was then applied as a replace). CreateSecret with its token and another
        // value is refused (the name is taken); the full version list still has it.
        let webhook_id = WebhookId::new_for_tests("m1");
        let created = version_token(&webhook_id, NAME, "create");
        let create = mock!(Client::create_secret)
            .then_http_response(|| aws_error(400, "ResourceExistsException"));
        let describe = mock!(Client::describe_secret).then_output(|| describe_output("v9"));
        let listed = listed(&[&created, "v8", "v9"]);
        let put = fresh_put();
        let err = connect(
            &store(&[&create, &describe, &listed, &put]),
            &deadline(),
            &connect_request(),
            &webhook_id,
            None,
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "idempotency_conflict");
        assert_eq!(put.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_replayed_connect_after_a_disconnect_does_not_restore_the_integration() {
        // This webhook-id's replace was current when the integration was disconnected. Before:
        // the replay's refused PutSecretValue made it restore the secret, reconnecting it. The
        // disconnect is seen by DescribeSecret, or (landing just after it) by AWS's refusal.
        let webhook_id = WebhookId::new_for_tests("m1");
        let replace = version_token(&webhook_id, NAME, "connect");
        for disconnect_seen_first in [true, false] {
            let create = mock!(Client::create_secret)
                .then_http_response(|| aws_error(400, "InvalidRequestException"));
            let listed = listed(&[&replace, "v1"]);
            let describe = mock!(Client::describe_secret).then_output(move || {
                let described = DescribeSecretOutput::builder();
                if disconnect_seen_first {
                    described.deleted_date(DateTime::from_secs(1_800_000_000))
                } else {
                    described
                }
                .build()
            });
            let put = mock!(Client::put_secret_value)
                .then_http_response(|| aws_error(400, "InvalidRequestException"));
            let restore = mock!(Client::restore_secret)
                .then_output(|| RestoreSecretOutput::builder().build());
            let err = connect(
                &store(&[&create, &listed, &describe, &put, &restore]),
                &deadline(),
                &connect_request(),
                &webhook_id,
                None,
            )
            .await
            .unwrap_err();
            assert_eq!(err.code(), "version_conflict");
            assert!(
                err.detail().contains("disconnected since"),
                "{}",
                err.detail()
            );
            assert_eq!(restore.num_calls(), 0, "the replay never restores");
            assert_eq!(put.num_calls(), usize::from(!disconnect_seen_first));
        }
    }

    #[tokio::test]
    async fn a_replayed_creating_connect_after_a_disconnect_writes_nothing() {
        // The secret this webhook-id created is scheduled for deletion: AWS refuses CreateSecret
        // before it compares tokens; the version list shows the create.
        let webhook_id = WebhookId::new_for_tests("m1");
        let created = version_token(&webhook_id, NAME, "create");
        let create = mock!(Client::create_secret)
            .then_http_response(|| aws_error(400, "InvalidRequestException"));
        let listed = listed(&[&created]);
        let put = fresh_put();
        let restore =
            mock!(Client::restore_secret).then_output(|| RestoreSecretOutput::builder().build());
        let err = connect(
            &store(&[&create, &listed, &put, &restore]),
            &deadline(),
            &connect_request(),
            &webhook_id,
            None,
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "version_conflict");
        assert_eq!((put.num_calls(), restore.num_calls()), (0, 0));
    }
}
