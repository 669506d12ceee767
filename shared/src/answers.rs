//! The JSON bodies the functions answer with, one type each, as the API reference (`docs/api.md`) shows
//! them. Problems (`application/problem+json`) are [`Problem`]; [`crate::http`] writes them all.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::Error;
use crate::credentials::View;
use crate::ops::{Disconnected, Fetched, Integration, Written};
use crate::tenant::TenantId;

/// connect-integration's and update-key's answer: the credentials only masked.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteAnswer<'a> {
    tenant_id: &'a str,
    provider: &'static str,
    version_id: String,
    created: bool,
    changed: bool,
    restored: bool,
    credentials: Map<String, Value>,
    /// Only when the request asked to verify.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    verified: bool,
}

impl<'a> WriteAnswer<'a> {
    /// What `written` to `provider` of `tenant` answers.
    pub fn new(tenant: &'a TenantId, provider: &'static str, written: Written) -> Self {
        WriteAnswer {
            tenant_id: tenant.as_str(),
            provider,
            version_id: written.version_id,
            created: written.created,
            changed: written.changed,
            restored: written.restored,
            credentials: written.credentials.view(View::Masked),
            verified: written.verified,
        }
    }
}

/// fetch-key's answer: the credentials in the view asked for.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FetchAnswer<'a> {
    tenant_id: &'a str,
    provider: &'static str,
    version_id: String,
    credentials: Map<String, Value>,
}

impl<'a> FetchAnswer<'a> {
    /// What `fetched` answers in `view`.
    pub fn new(tenant: &'a TenantId, provider: &'static str, fetched: Fetched, view: View) -> Self {
        FetchAnswer {
            tenant_id: tenant.as_str(),
            provider,
            version_id: fetched.version_id,
            credentials: fetched.credentials.view(view),
        }
    }
}

/// One provider disconnected: disconnect-integration's answer for one provider, and an entry of
/// its `allProviders` answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DisconnectedEntry<'a> {
    /// Only in the one-provider answer (it is the top level there).
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_id: Option<&'a str>,
    provider: &'static str,
    deletion_date: String,
    purged: bool,
}

impl<'a> DisconnectedEntry<'a> {
    /// The one-provider answer.
    pub fn one(tenant: &'a TenantId, disconnected: Disconnected) -> Self {
        DisconnectedEntry {
            tenant_id: Some(tenant.as_str()),
            ..DisconnectedEntry::entry(disconnected)
        }
    }

    fn entry(disconnected: Disconnected) -> Self {
        DisconnectedEntry {
            tenant_id: None,
            provider: disconnected.provider.id,
            deletion_date: disconnected.deletion_date,
            purged: disconnected.purged,
        }
    }
}

/// disconnect-integration's answer with `allProviders`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DisconnectAllAnswer<'a> {
    tenant_id: &'a str,
    integrations: Vec<DisconnectedEntry<'a>>,
}

impl<'a> DisconnectAllAnswer<'a> {
    /// Every provider `disconnected` for `tenant`.
    pub fn new(tenant: &'a TenantId, disconnected: Vec<Disconnected>) -> Self {
        DisconnectAllAnswer {
            tenant_id: tenant.as_str(),
            integrations: disconnected
                .into_iter()
                .map(DisconnectedEntry::entry)
                .collect(),
        }
    }
}

/// list-integrations' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListAnswer<'a> {
    tenant_id: &'a str,
    integrations: Vec<IntegrationEntry>,
}

/// One entry of list-integrations' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct IntegrationEntry {
    provider: &'static str,
    /// `connected`, or `disconnected` (then with `deletionDate`).
    status: &'static str,
    version_id: Option<String>,
    created_date: Option<String>,
    last_changed_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deletion_date: Option<String>,
}

impl<'a> ListAnswer<'a> {
    /// The integrations of `tenant`.
    pub fn new(tenant: &'a TenantId, integrations: Vec<Integration>) -> Self {
        ListAnswer {
            tenant_id: tenant.as_str(),
            integrations: integrations
                .into_iter()
                .map(|integration| IntegrationEntry {
                    provider: integration.provider.id,
                    status: if integration.deletion_date.is_some() {
                        "disconnected"
                    } else {
                        "connected"
                    },
                    version_id: integration.version_id,
                    created_date: integration.created_date,
                    last_changed_date: integration.last_changed_date,
                    deletion_date: integration.deletion_date,
                })
                .collect(),
        }
    }
}

/// A refusal, as RFC 9457 problem details with the problem `code` beside them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// `urn:tenant-keys:problem:<code>`.
    r#type: String,
    title: &'static str,
    status: u16,
    detail: String,
    code: &'static str,
    /// `not_found` of a disconnected integration: when it is deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    deletion_date: Option<String>,
}

impl Problem {
    /// The problem `err` answers.
    pub fn new(err: &Error) -> Self {
        Problem {
            r#type: format!("urn:tenant-keys:problem:{}", err.code()),
            title: err.title(),
            status: err.status().as_u16(),
            detail: err.detail(),
            code: err.code(),
            deletion_date: match err {
                Error::ScheduledForDeletion { deletion_date } => Some(deletion_date.clone()),
                _ => None,
            },
        }
    }
}
