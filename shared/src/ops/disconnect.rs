//! disconnect-integration: take a tenant's credentials out of reach — scheduled for deletion
//! after the stack's recovery window (a reconnect restores them until then), or purged at once.

use crate::Error;
use crate::deadline::Deadline;
use crate::provider::{PROVIDERS, Provider};
use crate::request::{DisconnectRequest, Target};
use crate::store::{SecretStore, StoreError};
use crate::tenant::TenantId;

use super::unless_disconnected;

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
/// # Errors
/// `purge_disabled` (before any call) when purge is asked for and not allowed; `not_found` when
/// the one provider asked for was never connected; store failures.
pub async fn disconnect(
    store: &SecretStore,
    deadline: &Deadline,
    policy: &DisconnectPolicy,
    request: &DisconnectRequest,
) -> Result<Vec<Disconnected>, Error> {
    if request.purge && !policy.allow_purge {
        return Err(Error::PurgeDisabled);
    }
    // The recovery window, or none for a purge.
    let window = (!request.purge).then_some(policy.recovery_days);
    match request.target {
        Target::One(provider) => {
            match disconnect_one(store, deadline, &request.tenant, provider, window).await? {
                Some(disconnected) => Ok(vec![disconnected]),
                None => Err(Error::NotFound(
                    "no credentials are connected for this tenant and provider".into(),
                )),
            }
        }
        Target::AllProviders => {
            let each = PROVIDERS
                .iter()
                .map(|provider| disconnect_one(store, deadline, &request.tenant, provider, window))
                .collect();
            let disconnected = super::per_provider(each).await?;
            Ok(disconnected.into_iter().flatten().collect())
        }
    }
}

/// Schedules the deletion of one secret after `window` days, or (`None`) purges it. `None` when
/// the tenant never connected this provider.
async fn disconnect_one(
    store: &SecretStore,
    deadline: &Deadline,
    tenant: &TenantId,
    provider: &'static Provider,
    window: Option<u8>,
) -> Result<Option<Disconnected>, Error> {
    let name = tenant.secret_name(provider);
    let disconnected = |deletion_date| {
        Some(Disconnected {
            provider,
            deletion_date,
            purged: window.is_none(),
        })
    };
    if window.is_none() {
        // A forced deletion of a name that does not exist may succeed: check it exists first.
        match store.versions(deadline, &name).await {
            Err(StoreError::NotFound) => return Ok(None),
            Err(err) => return Err(err.into()),
            Ok(_) => {}
        }
    }
    match unless_disconnected(store, deadline, &name, || {
        store.delete(deadline, &name, window)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::mocks::*;
    use crate::tenant::TenantId;
    use aws_sdk_secretsmanager::Client;
    use aws_sdk_secretsmanager::operation::delete_secret::DeleteSecretOutput;
    use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
    use aws_sdk_secretsmanager::primitives::DateTime;
    use aws_smithy_mocks::mock;

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
        )
        .await
        .unwrap_err();
        assert_eq!((err.code(), err.status().as_u16()), ("purge_disabled", 403));
        assert_eq!(delete.num_calls(), 0);
    }

    #[tokio::test]
    async fn disconnecting_again_answers_the_scheduled_date() {
        // AWS refuses DeleteSecret on a secret already scheduled for deletion.
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
        )
        .await
        .unwrap();
        assert_eq!(answer[0].deletion_date, "2027-01-15T08:00:00Z");
        assert!(!answer[0].purged);
    }

    #[tokio::test]
    async fn all_providers_fails_if_one_fails() {
        let delete = mock!(Client::delete_secret)
            .match_requests(|req| req.secret_id() == Some("tenant/org_1/vapi"))
            .then_output(|| {
                DeleteSecretOutput::builder()
                    .deletion_date(DateTime::from_secs(1_800_000_000))
                    .build()
            });
        let failing = mock!(Client::delete_secret)
            .sequence()
            .http_response(|| aws_error(500, "InternalServiceError"))
            .repeatedly()
            .build();
        let err = disconnect(
            &store(&[&delete, &failing]),
            &deadline(),
            &DisconnectPolicy::default(),
            &request(Target::AllProviders, false),
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
            .output(|| {
                DeleteSecretOutput::builder()
                    .deletion_date(DateTime::from_secs(1_800_000_000))
                    .build()
            })
            .build();
        let describe =
            mock!(Client::describe_secret).then_output(|| DescribeSecretOutput::builder().build());
        let answer = disconnect(
            &store(&[&delete, &describe]),
            &deadline(),
            &DisconnectPolicy::default(),
            &request(Target::One(vapi()), false),
        )
        .await
        .unwrap();
        assert_eq!(answer[0].deletion_date, "2027-01-15T08:00:00Z");
        assert_eq!(delete.num_calls(), 2);
    }
}
