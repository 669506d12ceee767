//! The JSON bodies of the three operations, parsed into typed, validated requests.
//!
//! Parsing is by hand over `serde_json::Value` rather than derived, so that each wrong field gets
//! its documented code and no error message ever quotes a value from the body.

use serde_json::{Map, Value};

use crate::Error;
use crate::credentials::{Completeness, Credentials, View};
use crate::provider::Provider;
use crate::tenant::TenantId;

/// Longest accepted `expectedVersionId` (Secrets Manager version ids are 32–64 characters).
const MAX_VERSION_ID_LEN: usize = 64;

/// Which version fetch-key reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionChoice {
    /// `AWSCURRENT`.
    Current,
    /// `AWSPREVIOUS`: the value before the last write.
    Previous,
}

/// `connect-integration`: create or replace a tenant's credentials for a provider.
#[derive(Debug)]
pub struct ConnectRequest {
    /// Whose credentials.
    pub tenant: TenantId,
    /// For which provider.
    pub provider: &'static Provider,
    /// Every field of the provider.
    pub credentials: Credentials,
}

/// `fetch-key`: read a tenant's credentials.
#[derive(Debug)]
pub struct FetchRequest {
    /// Whose credentials.
    pub tenant: TenantId,
    /// For which provider.
    pub provider: &'static Provider,
    /// Which fields, how shown (default [`View::Full`]).
    pub view: View,
    /// Which version (default [`VersionChoice::Current`]).
    pub version: VersionChoice,
    /// Skip the container's read cache (default `false`).
    pub refresh: bool,
}

/// `update-key`: merge some fields into the current credentials.
#[derive(Debug)]
pub struct UpdateRequest {
    /// Whose credentials.
    pub tenant: TenantId,
    /// For which provider.
    pub provider: &'static Provider,
    /// The fields to change.
    pub changes: Credentials,
    /// When set, write only if this is still the current version.
    pub expected_version_id: Option<String>,
}

impl ConnectRequest {
    /// Parses a connect-integration body.
    ///
    /// # Errors
    /// `invalid_json`, `invalid_request`, `invalid_tenant_id`, `unknown_provider` or
    /// `invalid_credentials`, as documented.
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let fields = object(body, &["tenantId", "provider", "credentials"])?;
        let tenant = tenant(&fields)?;
        let provider = provider(&fields)?;
        let credentials = credentials(&fields, provider, Completeness::AllFields)?;
        Ok(ConnectRequest {
            tenant,
            provider,
            credentials,
        })
    }
}

impl FetchRequest {
    /// Parses a fetch-key body.
    ///
    /// # Errors
    /// `invalid_json`, `invalid_request` (also for an unknown `view` or `version`, or a
    /// `refresh` that is not a boolean),
    /// `invalid_tenant_id` or `unknown_provider`.
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let fields = object(
            body,
            &["tenantId", "provider", "view", "version", "refresh"],
        )?;
        let tenant = tenant(&fields)?;
        let provider = provider(&fields)?;
        let view = match optional_string(&fields, "view")? {
            None | Some("full") => View::Full,
            Some("public") => View::Public,
            Some("masked") => View::Masked,
            Some(_) => {
                return Err(Error::InvalidRequest(
                    "view must be one of: full, public, masked".into(),
                ));
            }
        };
        let version = match optional_string(&fields, "version")? {
            None | Some("current") => VersionChoice::Current,
            Some("previous") => VersionChoice::Previous,
            Some(_) => {
                return Err(Error::InvalidRequest(
                    "version must be one of: current, previous".into(),
                ));
            }
        };
        let refresh = match fields.get("refresh") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(refresh)) => *refresh,
            Some(_) => {
                return Err(Error::InvalidRequest(
                    "refresh must be true or false".into(),
                ));
            }
        };
        Ok(FetchRequest {
            tenant,
            provider,
            view,
            version,
            refresh,
        })
    }
}

impl UpdateRequest {
    /// Parses an update-key body.
    ///
    /// # Errors
    /// `invalid_json`, `invalid_request` (also for a malformed `expectedVersionId`),
    /// `invalid_tenant_id`, `unknown_provider` or `invalid_credentials`.
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let fields = object(
            body,
            &["tenantId", "provider", "credentials", "expectedVersionId"],
        )?;
        let tenant = tenant(&fields)?;
        let provider = provider(&fields)?;
        let changes = credentials(&fields, provider, Completeness::SomeFields)?;
        let expected_version_id = optional_string(&fields, "expectedVersionId")?
            .map(|id| {
                let well_formed = !id.is_empty()
                    && id.len() <= MAX_VERSION_ID_LEN
                    && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
                well_formed.then(|| id.to_owned()).ok_or_else(|| {
                    Error::InvalidRequest(
                        "expectedVersionId must be a version id (1-64 letters, digits or '-')"
                            .into(),
                    )
                })
            })
            .transpose()?;
        Ok(UpdateRequest {
            tenant,
            provider,
            changes,
            expected_version_id,
        })
    }
}

/// The body as a JSON object holding only `allowed` fields.
fn object(body: &[u8], allowed: &[&str]) -> Result<Map<String, Value>, Error> {
    let value: Value = serde_json::from_slice(body).map_err(|_| Error::InvalidJson)?;
    let Value::Object(fields) = value else {
        return Err(Error::InvalidRequest(
            "the body must be a JSON object".into(),
        ));
    };
    if let Some(unknown) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
        let named = if unknown.len() <= 40 && unknown.chars().all(|c| c.is_ascii_alphanumeric()) {
            format!("unknown field `{unknown}`")
        } else {
            "unknown field".to_owned()
        };
        return Err(Error::InvalidRequest(format!(
            "{named}; allowed fields: {}",
            allowed.join(", ")
        )));
    }
    Ok(fields)
}

fn tenant(fields: &Map<String, Value>) -> Result<TenantId, Error> {
    match fields.get("tenantId") {
        Some(Value::String(raw)) => TenantId::parse(raw),
        Some(_) => Err(Error::InvalidTenantId("tenantId must be a string".into())),
        None => Err(Error::InvalidTenantId("tenantId is required".into())),
    }
}

fn provider(fields: &Map<String, Value>) -> Result<&'static Provider, Error> {
    match fields.get("provider") {
        Some(Value::String(raw)) => Provider::parse(raw),
        Some(_) => Err(Error::UnknownProvider("provider must be a string".into())),
        None => Err(Error::UnknownProvider("provider is required".into())),
    }
}

fn credentials(
    fields: &Map<String, Value>,
    provider: &'static Provider,
    completeness: Completeness,
) -> Result<Credentials, Error> {
    match fields.get("credentials") {
        Some(Value::Object(raw)) => Credentials::from_request(provider, raw, completeness),
        Some(_) => Err(Error::InvalidCredentials(
            "credentials must be an object of strings".into(),
        )),
        None => Err(Error::InvalidCredentials("credentials is required".into())),
    }
}

fn optional_string<'a>(
    fields: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, Error> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(Error::InvalidRequest(format!("{name} must be a string"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(result: Result<impl std::fmt::Debug, Error>) -> &'static str {
        result.unwrap_err().code()
    }

    #[test]
    fn a_full_connect_request_parses() {
        let body = br#"{"tenantId":"org_1","provider":"vapi","credentials":{"publicApiKey":"pk","privateApiKey":"sk"}}"#;
        let request = ConnectRequest::parse(body).unwrap();
        assert_eq!(request.tenant.as_str(), "org_1");
        assert_eq!(request.provider.id, "vapi");
    }

    #[test]
    fn each_bad_part_gets_its_own_code() {
        assert_eq!(code(FetchRequest::parse(b"not json")), "invalid_json");
        assert_eq!(code(FetchRequest::parse(b"")), "invalid_json");
        assert_eq!(code(FetchRequest::parse(b"[1]")), "invalid_request");
        assert_eq!(
            code(FetchRequest::parse(
                br#"{"tenantId":"a","provider":"vapi","extra":1}"#
            )),
            "invalid_request"
        );
        assert_eq!(
            code(FetchRequest::parse(
                br#"{"tenantId":"a/b","provider":"vapi"}"#
            )),
            "invalid_tenant_id"
        );
        assert_eq!(
            code(FetchRequest::parse(br#"{"provider":"vapi"}"#)),
            "invalid_tenant_id"
        );
        assert_eq!(
            code(FetchRequest::parse(
                br#"{"tenantId":"a","provider":"nope"}"#
            )),
            "unknown_provider"
        );
        assert_eq!(
            code(FetchRequest::parse(
                br#"{"tenantId":"a","provider":"vapi","view":"all"}"#
            )),
            "invalid_request"
        );
        assert_eq!(
            code(FetchRequest::parse(
                br#"{"tenantId":"a","provider":"vapi","version":"v1"}"#
            )),
            "invalid_request"
        );
        assert_eq!(
            code(ConnectRequest::parse(
                br#"{"tenantId":"a","provider":"vapi","credentials":"sk"}"#
            )),
            "invalid_credentials"
        );
        assert_eq!(
            code(UpdateRequest::parse(
                br#"{"tenantId":"a","provider":"vapi","credentials":{}}"#
            )),
            "invalid_credentials"
        );
        assert_eq!(
            code(UpdateRequest::parse(
                br#"{"tenantId":"a","provider":"vapi","credentials":{"apiKey":"x"}}"#
            )),
            "invalid_credentials"
        );
        assert_eq!(
            code(UpdateRequest::parse(
                br#"{"tenantId":"a","provider":"vapi","credentials":{"privateApiKey":"x"},"expectedVersionId":"../x"}"#
            )),
            "invalid_request"
        );
    }

    #[test]
    fn fetch_defaults_to_the_full_current_version() {
        let request = FetchRequest::parse(br#"{"tenantId":"a","provider":"openai"}"#).unwrap();
        assert_eq!(request.view, View::Full);
        assert_eq!(request.version, VersionChoice::Current);
    }

    #[test]
    fn error_details_never_quote_values_from_the_body() {
        let body = br#"{"tenantId":"org_1","provider":"vapi","credentials":{"privateApiKey":" sk-live-SECRET"}}"#;
        let err = UpdateRequest::parse(body).unwrap_err();
        assert!(!err.detail().contains("SECRET"));
        let body = br#"{"tenantId":"org_1","sk-live-SECRET":"x"}"#;
        let err = FetchRequest::parse(body).unwrap_err();
        assert!(!err.detail().contains("SECRET"));
    }
}
