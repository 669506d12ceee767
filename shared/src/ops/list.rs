//! list-integrations: which providers a tenant has connected or disconnected, from DescribeSecret
//! alone (never a value, masked or not).

use crate::Error;
use crate::deadline::Deadline;
use crate::provider::{PROVIDERS, Provider};
use crate::request::ListRequest;
use crate::store::{STAGE_CURRENT, SecretStore, StoreError};

/// One provider's integration of a tenant.
#[derive(Debug)]
pub struct Integration {
    /// The provider.
    pub provider: &'static Provider,
    /// The current version.
    pub version_id: Option<String>,
    /// When the secret was created (RFC 3339).
    pub created_date: Option<String>,
    /// When it last changed (RFC 3339).
    pub last_changed_date: Option<String>,
    /// `Some` when disconnected: the date the secret is deleted (RFC 3339).
    pub deletion_date: Option<String>,
}

/// Describes the tenant's secret of every registry provider, a few at a time
/// ([`per_provider`](super::per_provider)), and lists those that exist, in the registry's order.
///
/// # Errors
/// Store failures (one failing describe fails the request).
pub async fn list(
    store: &SecretStore,
    deadline: &Deadline,
    request: &ListRequest,
) -> Result<Vec<Integration>, Error> {
    let each = PROVIDERS
        .iter()
        .map(|provider| describe(store, deadline, request, provider))
        .collect();
    let described = super::rounds::per_provider(each).await?;
    Ok(described.into_iter().flatten().collect())
}

/// The tenant's integration of `provider`, if its secret exists (connected or disconnected).
async fn describe(
    store: &SecretStore,
    deadline: &Deadline,
    request: &ListRequest,
    provider: &'static Provider,
) -> Result<Option<Integration>, Error> {
    match store
        .describe(deadline, &request.tenant.secret_name(provider))
        .await
    {
        Ok(described) => Ok(Some(Integration {
            provider,
            version_id: described.holding(STAGE_CURRENT).map(str::to_owned),
            created_date: described.created_date,
            last_changed_date: described.last_changed_date,
            deletion_date: described.deletion_date,
        })),
        Err(StoreError::NotFound) => Ok(None),
        Err(err) => Err(Error::from(err)),
    }
}
