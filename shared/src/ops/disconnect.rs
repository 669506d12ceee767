//! disconnect-integration: take a tenant's credentials out of reach — scheduled for deletion
//! after the stack's recovery window (a reconnect restores them until then), or purged at once.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Error;
use crate::auth::WebhookId;
use crate::deadline::Deadline;
use crate::provider::{PROVIDERS, Provider};
use crate::request::{DisconnectRequest, Target};
use crate::store::{SecretStore, StoreError};
use crate::tenant::TenantId;

use super::rounds::{call_retrying_lifted_refusals, per_provider, version_token};

/// The stack's disconnect settings.
#[derive(Debug, Clone, Copy)]
pub struct DisconnectPolicy {
    /// Days between a disconnect and the deletion (Secrets Manager's recovery window, 7–30).
    pub recovery_days: u8,
    /// Whether `purge` (deletion at once, no recovery) is allowed.
    pub allow_purge: bool,
}

impl Default for DisconnectPolicy {
    /// 7 days, purge not allowed (the template's defaults).
    fn default() -> Self {
        DisconnectPolicy {
            recovery_days: 7,
            allow_purge: false,
        }
    }
}

/// One integration taken out of reach.
#[derive(Debug)]
pub struct Disconnected {
    /// Whose.
    pub provider: &'static Provider,
    /// When Secrets Manager deletes (or deleted) the secret, RFC 3339.
    pub deletion_date: String,
    /// Whether it was deleted at once, with no recovery.
    pub purged: bool,
}

/// Disconnects one provider's credentials, or every provider's the tenant has (a few at a time).
///
/// Idempotent: disconnecting a secret already scheduled for deletion answers its deletion date.
/// With `allProviders`, a tenant with none gets an empty list; if one provider fails, the request
/// fails, and a retry finishes the rest.
///
/// At most once per `webhook-id` and integration: before its DeleteSecret, a disconnect marks the
/// secret with a tag named after its `webhook-id` ([`mark_of`]) holding the time; the same
/// request coming again finds its mark, and if a version was written at or after that time (a
/// reconnect, or any write), it changes nothing and answers `version_conflict`. Marks older than
/// [`MARK_LIFETIME`] are removed as new ones are set. A purge deletes the secret and its tags
/// with it: a replayed purge after a reconnect is not recognized (purge is off by default).
///
/// # Errors
/// `purge_disabled` (before any call) when purge is asked for and not allowed; `not_found` when
/// the one provider asked for was never connected; `version_conflict` for a replay, as above;
/// store failures.
pub async fn disconnect(
    store: &SecretStore,
    deadline: &Deadline,
    policy: &DisconnectPolicy,
    request: &DisconnectRequest,
    webhook_id: &WebhookId,
) -> Result<Vec<Disconnected>, Error> {
    if request.purge && !policy.allow_purge {
        return Err(Error::PurgeDisabled);
    }
    // The recovery window, or none for a purge.
    let window = (!request.purge).then_some(policy.recovery_days);
    let one = |provider| {
        disconnect_one(
            store,
            deadline,
            &request.tenant,
            provider,
            window,
            webhook_id,
        )
    };
    match request.target {
        Target::One(provider) => match one(provider).await? {
            Some(disconnected) => Ok(vec![disconnected]),
            None => Err(Error::NotFound(
                "no credentials are connected for this tenant and provider".into(),
            )),
        },
        Target::AllProviders => {
            let each = PROVIDERS.iter().map(one).collect();
            let disconnected = per_provider(each).await?;
            Ok(disconnected.into_iter().flatten().collect())
        }
    }
}

/// The prefix of the tags that mark a disconnect; the rest is [`mark_of`]'s digest. The stack's
/// IAM lets disconnect-integration set and remove only tags named so.
pub const MARK_PREFIX: &str = "tenant-keys-disconnect-";
/// How long a disconnect's mark is kept: well beyond the longest a signed request can be replayed
/// (its timestamp may be 5 minutes ahead of the function's clock when it first comes, and is
/// accepted until 5 minutes behind).
pub const MARK_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// How much earlier than a mark a version may have been written and still count as written after
/// it: the function's clock and Secrets Manager's may differ by this much. A retry of a disconnect
/// whose DeleteSecret failed, within this time of another write, is refused rather than applied.
const CLOCK_MARGIN_SECONDS: f64 = 1.0;

/// The tag that marks the disconnect of `webhook_id` on secret `name`: [`MARK_PREFIX`] and 32 hex
/// characters of SHA-256 over both (tag keys are at most 128 characters; a webhook-id may be
/// longer and hold characters a tag key may not).
pub fn mark_of(webhook_id: &WebhookId, name: &str) -> String {
    let digest = version_token(webhook_id, name, "disconnect");
    format!("{MARK_PREFIX}{}", &digest[..32])
}

/// Schedules the deletion of one secret after `window` days, or (`None`) purges it, marking it
/// first as disconnected by `webhook_id`. `None` when the tenant never connected this provider.
async fn disconnect_one(
    store: &SecretStore,
    deadline: &Deadline,
    tenant: &TenantId,
    provider: &'static Provider,
    window: Option<u8>,
    webhook_id: &WebhookId,
) -> Result<Option<Disconnected>, Error> {
    let name = tenant.secret_name(provider);
    let disconnected = |deletion_date| {
        Some(Disconnected {
            provider,
            deletion_date,
            purged: window.is_none(),
        })
    };
    let described = match store.describe(deadline, &name).await {
        Err(StoreError::NotFound) => return Ok(None),
        other => other?,
    };
    match (&described.deletion_date, window) {
        // Already disconnected: answer as the first disconnect did.
        (Some(deletion_date), Some(_)) => return Ok(disconnected(deletion_date.clone())),
        // A purge of a disconnected secret (the usual erasure path): nothing to mark, as AWS
        // refuses changes to a secret scheduled for deletion; delete it at once.
        (Some(_), None) => return delete(store, deadline, &name, window, disconnected).await,
        (None, _) => {}
    }
    let mark = mark_of(webhook_id, &name);
    if let Some(marked_at) = described
        .tags
        .get(&mark)
        .and_then(|at| at.parse::<f64>().ok())
    {
        let listed = store.all_versions(deadline, &name).await?;
        let written_since = listed.iter().any(|version| {
            version
                .created
                .is_some_and(|created| created >= marked_at - CLOCK_MARGIN_SECONDS)
        });
        if written_since {
            return Err(Error::VersionConflict(
                "this webhook-id already disconnected these credentials, and they were reconnected or written since; nothing was done: send a new disconnect to disconnect them again"
                    .into(),
            ));
        }
    }
    mark_disconnect(store, deadline, &name, &mark, &described.tags).await;
    delete(store, deadline, &name, window, disconnected).await
}

/// DeleteSecret after `window` days, or at once; a refusal because a disconnect landed first
/// answers that disconnect's date.
async fn delete(
    store: &SecretStore,
    deadline: &Deadline,
    name: &str,
    window: Option<u8>,
    disconnected: impl Fn(String) -> Option<Disconnected>,
) -> Result<Option<Disconnected>, Error> {
    match call_retrying_lifted_refusals(store, deadline, name, || {
        store.delete(deadline, name, window)
    })
    .await
    {
        Ok(Ok(deletion_date)) => Ok(disconnected(deletion_date)),
        Ok(Err(StoreError::NotFound)) => Ok(None),
        Ok(Err(err)) => Err(err.into()),
        // Already scheduled for deletion: answer as the first disconnect did.
        Err(Error::ScheduledForDeletion { deletion_date }) => Ok(disconnected(deletion_date)),
        Err(err) => Err(err),
    }
}

/// Sets this disconnect's mark and removes marks past [`MARK_LIFETIME`]. Best effort: a
/// disconnect takes keys out of reach and is never refused because its bookkeeping failed (the
/// failure is logged; that disconnect alone is then not recognized if replayed).
async fn mark_disconnect(
    store: &SecretStore,
    deadline: &Deadline,
    name: &str,
    mark: &str,
    tags: &HashMap<String, String>,
) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let expired: Vec<String> = tags
        .iter()
        .filter(|(key, at)| {
            key.starts_with(MARK_PREFIX)
                && at
                    .parse::<f64>()
                    .is_ok_and(|at| at < now.saturating_sub(MARK_LIFETIME).as_secs_f64())
        })
        .map(|(key, _)| key.clone())
        .collect();
    let at = format!("{:.3}", now.as_secs_f64());
    let new_mark = [(mark, at.as_str())];
    let (removed, marked) = tokio::join!(
        async {
            if expired.is_empty() {
                Ok(())
            } else {
                store.untag(deadline, name, &expired).await
            }
        },
        store.tag(deadline, name, &new_mark)
    );
    for (what, outcome) in [
        ("remove expired marks", removed),
        ("mark the disconnect", marked),
    ] {
        if let Err(err) = outcome {
            tracing::warn!(cause = %err, "could not {what}; the disconnect goes on");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::mocks::*;
    use crate::tenant::TenantId;
    use aws_sdk_secretsmanager::Client;
    use aws_sdk_secretsmanager::operation::delete_secret::DeleteSecretOutput;
    use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
    use aws_sdk_secretsmanager::operation::list_secret_version_ids::ListSecretVersionIdsOutput;
    use aws_sdk_secretsmanager::operation::tag_resource::TagResourceOutput;
    use aws_sdk_secretsmanager::operation::untag_resource::UntagResourceOutput;
    use aws_sdk_secretsmanager::primitives::DateTime;
    use aws_sdk_secretsmanager::types::{SecretVersionsListEntry, Tag};
    use aws_smithy_mocks::{Rule, mock};

    /// DescribeSecret of a live secret with `tags`.
    fn live_with(tags: &[(&str, &str)]) -> Rule {
        let tags: Vec<Tag> = tags
            .iter()
            .map(|(key, value)| Tag::builder().key(*key).value(*value).build())
            .collect();
        mock!(Client::describe_secret).then_output(move || {
            DescribeSecretOutput::builder()
                .set_tags(Some(tags.clone()))
                .build()
        })
    }

    fn scheduled() -> DeleteSecretOutput {
        DeleteSecretOutput::builder()
            .deletion_date(DateTime::from_secs(1_800_000_000))
            .build()
    }

    fn id() -> WebhookId {
        WebhookId::new_for_tests("m1")
    }

    fn request(target: Target, purge: bool) -> DisconnectRequest {
        DisconnectRequest {
            tenant: TenantId::parse("org_1").unwrap(),
            target,
            purge,
        }
    }

    #[tokio::test]
    async fn a_purge_that_is_not_allowed_calls_nothing() {
        let delete =
            mock!(Client::delete_secret).then_output(|| DeleteSecretOutput::builder().build());
        let err = disconnect(
            &store(&[&delete]),
            &deadline(),
            &DisconnectPolicy::default(),
            &request(Target::AllProviders, true),
            &id(),
        )
        .await
        .unwrap_err();
        assert_eq!((err.code(), err.status().as_u16()), ("purge_disabled", 403));
        assert_eq!(delete.num_calls(), 0);
    }

    #[tokio::test]
    async fn disconnecting_again_answers_the_scheduled_date() {
        // AWS refuses DeleteSecret on a secret already scheduled for deletion: it is not called.
        let delete = mock!(Client::delete_secret)
            .then_http_response(|| aws_error(400, "InvalidRequestException"));
        let describe = mock!(Client::describe_secret).then_output(|| {
            DescribeSecretOutput::builder()
                .deleted_date(DateTime::from_secs(1_800_000_000))
                .build()
        });
        let answer = disconnect(
            &store(&[&delete, &describe]),
            &deadline(),
            &DisconnectPolicy::default(),
            &request(Target::One(vapi()), false),
            &id(),
        )
        .await
        .unwrap();
        assert_eq!(answer[0].deletion_date, "2027-01-15T08:00:00Z");
        assert!(!answer[0].purged);
        assert_eq!(delete.num_calls(), 0);
    }

    #[tokio::test]
    async fn all_providers_fails_if_one_fails() {
        let delete = mock!(Client::delete_secret)
            .match_requests(|req| req.secret_id() == Some("tenant/org_1/vapi"))
            .then_output(scheduled);
        let failing = mock!(Client::delete_secret)
            .sequence()
            .http_response(|| aws_error(500, "InternalServiceError"))
            .repeatedly()
            .build();
        let describe = live_with(&[]);
        let err = disconnect(
            &store(&[&delete, &failing, &describe]),
            &deadline(),
            &DisconnectPolicy::default(),
            &request(Target::AllProviders, false),
            &id(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "upstream_unavailable");
    }

    #[tokio::test]
    async fn a_disconnect_refused_while_a_reconnect_restores_disconnects_again() {
        // DeleteSecret is refused (already scheduled), a reconnect restores the secret, and
        // DescribeSecret shows no deletion: the disconnect is made again and answers its own date.
        let delete = mock!(Client::delete_secret)
            .sequence()
            .http_response(|| aws_error(400, "InvalidRequestException"))
            .output(scheduled)
            .build();
        let describe = live_with(&[]);
        let answer = disconnect(
            &store(&[&delete, &describe]),
            &deadline(),
            &DisconnectPolicy::default(),
            &request(Target::One(vapi()), false),
            &id(),
        )
        .await
        .unwrap();
        assert_eq!(answer[0].deletion_date, "2027-01-15T08:00:00Z");
        assert_eq!(delete.num_calls(), 2);
    }

    /// ListSecretVersionIds with one version created at `created` (Unix seconds).
    fn written_at(created: i64) -> Rule {
        mock!(Client::list_secret_version_ids).then_output(move || {
            ListSecretVersionIdsOutput::builder()
                .versions(
                    SecretVersionsListEntry::builder()
                        .version_id("v")
                        .created_date(DateTime::from_secs(created))
                        .build(),
                )
                .build()
        })
    }

    async fn disconnect_vapi(rules: &[&Rule]) -> Result<Vec<Disconnected>, Error> {
        disconnect(
            &store(rules),
            &deadline(),
            &DisconnectPolicy::default(),
            &request(Target::One(vapi()), false),
            &id(),
        )
        .await
    }

    #[tokio::test]
    async fn a_replayed_disconnect_after_a_reconnect_does_nothing() {
        // Found by the attack run: a captured disconnect replayed after a reconnect disconnected
        // again. Its mark says when it ran; the reconnect wrote a version after that.
        let mark = mark_of(&id(), NAME);
        let describe = live_with(&[(&mark, "1800000000.000"), ("tenant-id", "org_1")]);
        let listed = written_at(1_800_000_005);
        let delete = mock!(Client::delete_secret).then_output(scheduled);
        let err = disconnect_vapi(&[&describe, &listed, &delete])
            .await
            .unwrap_err();
        assert_eq!(err.code(), "version_conflict");
        assert_eq!(delete.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_retried_disconnect_whose_delete_failed_deletes() {
        // Marked, then DeleteSecret failed; nothing was written since: the retry goes through.
        let mark = mark_of(&id(), NAME);
        let describe = live_with(&[(&mark, "1800000000.000")]);
        let listed = written_at(1_799_990_000);
        let delete = mock!(Client::delete_secret).then_output(scheduled);
        let answer = disconnect_vapi(&[&describe, &listed, &delete])
            .await
            .unwrap();
        assert_eq!(answer[0].deletion_date, "2027-01-15T08:00:00Z");
        assert_eq!(delete.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_disconnect_marks_itself_and_removes_only_expired_marks() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let (expired, recent) = (format!("{MARK_PREFIX}old"), format!("{MARK_PREFIX}new"));
        let describe = live_with(&[
            (
                &expired,
                &format!("{}.5", now - MARK_LIFETIME.as_secs() - 10),
            ),
            (&recent, &format!("{}.5", now - 60)),
            ("tenant-id", "org_1"),
        ]);
        let untag = mock!(Client::untag_resource)
            .match_requests(move |req| req.tag_keys() == [format!("{MARK_PREFIX}old")])
            .then_output(|| UntagResourceOutput::builder().build());
        let mark = mark_of(&id(), NAME);
        let tag = mock!(Client::tag_resource)
            .match_requests(move |req| {
                req.tags().len() == 1 && req.tags()[0].key() == Some(mark.as_str())
            })
            .then_output(|| TagResourceOutput::builder().build());
        let delete = mock!(Client::delete_secret).then_output(scheduled);
        disconnect_vapi(&[&describe, &untag, &tag, &delete])
            .await
            .unwrap();
        assert_eq!((untag.num_calls(), tag.num_calls()), (1, 1));
        assert_eq!(delete.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_mark_that_cannot_be_set_never_stops_a_disconnect() {
        let describe = live_with(&[]);
        let tag = mock!(Client::tag_resource)
            .sequence()
            .http_response(|| aws_error(400, "LimitExceededException"))
            .repeatedly()
            .build();
        let delete = mock!(Client::delete_secret).then_output(scheduled);
        let answer = disconnect_vapi(&[&describe, &tag, &delete]).await.unwrap();
        assert_eq!(answer.len(), 1);
        assert!(tag.num_calls() >= 1);
    }
}
