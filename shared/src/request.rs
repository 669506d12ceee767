//! The JSON bodies of the operations, parsed into typed, validated requests.
//!
//! Parsing is by hand over `serde_json::Value` rather than derived, so that each wrong field gets
//! its documented code and no error message ever quotes a value from the body.

use std::cell::RefCell;
use std::collections::HashSet;
use std::time::Duration;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::Error;
use crate::credentials::{Completeness, Credentials, View};
use crate::provider::{PROVIDERS, Provider};
use crate::store::VersionChoice;
use crate::tenant::TenantId;

/// Longest accepted `expectedVersionId` (Secrets Manager version ids are 32–64 characters).
const MAX_VERSION_ID_LEN: usize = 64;

/// `connect-integration`: create or replace a tenant's credentials for a provider.
#[derive(Debug)]
pub struct ConnectRequest {
    /// Whose credentials.
    pub tenant: TenantId,
    /// For which provider.
    pub provider: &'static Provider,
    /// Every field of the provider.
    pub credentials: Credentials,
    /// Check the credentials with the provider before storing them (default `false`).
    pub verify: bool,
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
    /// The oldest cached value the caller accepts (`maxAgeSeconds`; `refresh: true` is zero).
    /// `None`: the default of the view (the cache's TTL for `public`, zero otherwise).
    pub max_age: Option<Duration>,
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
    /// Check the merged credentials with the provider before storing them (default `false`).
    pub verify: bool,
}

/// Which integrations `disconnect-integration` takes out of reach.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// One provider's.
    One(&'static Provider),
    /// Every provider of the registry the tenant has (offboarding).
    AllProviders,
}

/// `disconnect-integration`: schedule the deletion of a tenant's credentials (or purge them).
#[derive(Debug)]
pub struct DisconnectRequest {
    /// Whose credentials.
    pub tenant: TenantId,
    /// One provider, or all of them.
    pub target: Target,
    /// Delete at once, with no recovery window (only where the stack allows it).
    pub purge: bool,
}

/// `list-integrations`: a tenant's integrations and their states.
#[derive(Debug)]
pub struct ListRequest {
    /// Whose integrations.
    pub tenant: TenantId,
}

impl ConnectRequest {
    /// Parses a connect-integration body.
    ///
    /// # Errors
    /// `invalid_json`, `invalid_request`, `invalid_tenant_id`, `unknown_provider` or
    /// `invalid_credentials`, as documented.
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let fields = object(body, &["tenantId", "provider", "credentials", "verify"])?;
        let tenant = tenant(&fields)?;
        let provider = provider(&fields)?;
        let credentials = credentials(&fields, provider, Completeness::AllFields)?;
        let verify = verify(&fields, provider)?;
        Ok(ConnectRequest {
            tenant,
            provider,
            credentials,
            verify,
        })
    }
}

impl FetchRequest {
    /// Parses a fetch-key body.
    ///
    /// # Errors
    /// `invalid_json`, `invalid_request` (also for an unknown `view` or `version`, a malformed
    /// `versionId`, `version` with `versionId`, a `refresh` that is not a boolean, a
    /// `maxAgeSeconds` that is not a whole number ≥ 0, or `refresh` with `maxAgeSeconds`),
    /// `invalid_tenant_id` or `unknown_provider`.
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let fields = object(
            body,
            &[
                "tenantId",
                "provider",
                "view",
                "version",
                "versionId",
                "refresh",
                "maxAgeSeconds",
            ],
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
        let version = match (
            optional_string(&fields, "version")?,
            version_id(&fields, "versionId")?,
        ) {
            (Some(_), Some(_)) => {
                return Err(Error::InvalidRequest(
                    "version and versionId cannot be used together".into(),
                ));
            }
            (None, Some(id)) => VersionChoice::Id(id),
            (None | Some("current"), None) => VersionChoice::Current,
            (Some("previous"), None) => VersionChoice::Previous,
            (Some(_), None) => {
                return Err(Error::InvalidRequest(
                    "version must be one of: current, previous".into(),
                ));
            }
        };
        let max_age = max_age(&fields)?;
        Ok(FetchRequest {
            tenant,
            provider,
            view,
            version,
            max_age,
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
            &[
                "tenantId",
                "provider",
                "credentials",
                "expectedVersionId",
                "verify",
            ],
        )?;
        let tenant = tenant(&fields)?;
        let provider = provider(&fields)?;
        let changes = credentials(&fields, provider, Completeness::SomeFields)?;
        let expected_version_id = version_id(&fields, "expectedVersionId")?;
        let verify = verify(&fields, provider)?;
        Ok(UpdateRequest {
            tenant,
            provider,
            changes,
            expected_version_id,
            verify,
        })
    }
}

impl DisconnectRequest {
    /// Parses a disconnect-integration body.
    ///
    /// # Errors
    /// `invalid_json`, `invalid_request` (also for `provider` with `allProviders: true`, or an
    /// `allProviders` or `purge` that is not a boolean), `invalid_tenant_id` or `unknown_provider`.
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let fields = object(body, &["tenantId", "provider", "allProviders", "purge"])?;
        let tenant = tenant(&fields)?;
        let all_providers = optional_bool(&fields, "allProviders")?.unwrap_or(false);
        let target = match (all_providers, fields.contains_key("provider")) {
            (true, true) => {
                return Err(Error::InvalidRequest(
                    "provider and allProviders cannot be used together".into(),
                ));
            }
            (true, false) => Target::AllProviders,
            (false, _) => Target::One(provider(&fields)?),
        };
        let purge = optional_bool(&fields, "purge")?.unwrap_or(false);
        Ok(DisconnectRequest {
            tenant,
            target,
            purge,
        })
    }
}

impl ListRequest {
    /// Parses a list-integrations body.
    ///
    /// # Errors
    /// `invalid_json`, `invalid_request` or `invalid_tenant_id`.
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let fields = object(body, &["tenantId"])?;
        Ok(ListRequest {
            tenant: tenant(&fields)?,
        })
    }
}

/// The body as a JSON object holding only `allowed` fields, with no key twice in any object.
pub(crate) fn object(body: &[u8], allowed: &[&str]) -> Result<Map<String, Value>, Error> {
    refuse_duplicate_keys(body, allowed)?;
    let value: Value = serde_json::from_slice(body).map_err(|_| Error::InvalidJson)?;
    let Value::Object(fields) = value else {
        return Err(Error::InvalidRequest(
            "the body must be a JSON object".into(),
        ));
    };
    // The unknown name is never quoted: a key pasted where a field name goes is still a key.
    if fields.keys().any(|k| !allowed.contains(&k.as_str())) {
        return Err(Error::InvalidRequest(format!(
            "the body has an unknown field; allowed fields: {}",
            allowed.join(", ")
        )));
    }
    Ok(fields)
}

/// Refuses a body in which one object holds the same key twice, anywhere in it. JSON parsers
/// disagree on such a body (serde_json keeps the last value, others the first), so whatever a
/// caller's code or a proxy in between read from it may not be what would be stored. The detail
/// names the key only when the contract or the catalog knows it; any other name is never quoted.
fn refuse_duplicate_keys(body: &[u8], allowed: &[&str]) -> Result<(), Error> {
    let twice = RefCell::new(None);
    let mut document = serde_json::Deserializer::from_slice(body);
    let walked = UniqueKeys(&twice)
        .deserialize(&mut document)
        .and_then(|()| document.end());
    match (walked, twice.into_inner()) {
        (Ok(()), _) => Ok(()),
        (Err(_), Some(key)) => {
            let known = allowed.contains(&key.as_str())
                || PROVIDERS.iter().any(|p| p.field(&key).is_some());
            let named = if known {
                format!("the key `{key}`")
            } else {
                "a key".to_owned()
            };
            Err(Error::InvalidRequest(format!(
                "{named} appears twice in one object; each key may appear once"
            )))
        }
        (Err(_), None) => Err(Error::InvalidJson),
    }
}

/// Walks a JSON document and stops at the first key that appears twice in one object, which it
/// leaves in the cell.
struct UniqueKeys<'a>(&'a RefCell<Option<String>>);

impl<'de> DeserializeSeed<'de> for UniqueKeys<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        while items.next_element_seed(UniqueKeys(self.0))?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = entries.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                *self.0.borrow_mut() = Some(key);
                return Err(A::Error::custom("a key appears twice"));
            }
            entries.next_value_seed(UniqueKeys(self.0))?;
        }
        Ok(())
    }
}

pub(crate) fn tenant(fields: &Map<String, Value>) -> Result<TenantId, Error> {
    match fields.get("tenantId") {
        Some(Value::String(raw)) => TenantId::parse(raw),
        Some(_) => Err(Error::InvalidTenantId("tenantId must be a string".into())),
        None => Err(Error::InvalidTenantId("tenantId is required".into())),
    }
}

pub(crate) fn provider(fields: &Map<String, Value>) -> Result<&'static Provider, Error> {
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

/// An optional version id field: 1–64 letters, digits or `-` (Secrets Manager's are 32–64).
fn version_id(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, Error> {
    optional_string(fields, name)?
        .map(|id| {
            let well_formed = !id.is_empty()
                && id.len() <= MAX_VERSION_ID_LEN
                && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            well_formed.then(|| id.to_owned()).ok_or_else(|| {
                Error::InvalidRequest(format!(
                    "{name} must be a version id (1-64 letters, digits or '-')"
                ))
            })
        })
        .transpose()
}

/// `verify`: a boolean, and only for a provider that can be checked.
fn verify(fields: &Map<String, Value>, provider: &'static Provider) -> Result<bool, Error> {
    let verify = optional_bool(fields, "verify")?.unwrap_or(false);
    if verify {
        crate::verify::required_check(provider)?;
    }
    Ok(verify)
}

/// `refresh` or `maxAgeSeconds` (not both): the oldest cached value the caller accepts.
pub(crate) fn max_age(fields: &Map<String, Value>) -> Result<Option<Duration>, Error> {
    let refresh = optional_bool(fields, "refresh")?;
    let max_age_seconds = match fields.get("maxAgeSeconds") {
        None | Some(Value::Null) => None,
        Some(Value::Number(seconds)) if seconds.as_u64().is_some() => seconds.as_u64(),
        Some(_) => {
            return Err(Error::InvalidRequest(
                "maxAgeSeconds must be a whole number of seconds, 0 or more".into(),
            ));
        }
    };
    match (refresh, max_age_seconds) {
        (Some(_), Some(_)) => Err(Error::InvalidRequest(
            "refresh and maxAgeSeconds cannot be used together (refresh is maxAgeSeconds: 0)"
                .into(),
        )),
        (Some(true), None) => Ok(Some(Duration::ZERO)),
        (_, Some(seconds)) => Ok(Some(Duration::from_secs(seconds))),
        (Some(false) | None, None) => Ok(None),
    }
}

pub(crate) fn optional_bool(
    fields: &Map<String, Value>,
    name: &str,
) -> Result<Option<bool>, Error> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(value)) => Ok(Some(*value)),
        Some(_) => Err(Error::InvalidRequest(format!(
            "{name} must be true or false"
        ))),
    }
}

pub(crate) fn optional_string<'a>(
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
        assert_eq!(request.max_age, None);
    }

    #[test]
    fn fetch_freshness_and_version_id_fields() {
        let parse = |extra: &str| {
            FetchRequest::parse(
                format!(r#"{{"tenantId":"a","provider":"vapi",{extra}}}"#).as_bytes(),
            )
        };
        assert_eq!(
            parse(r#""maxAgeSeconds":30"#).unwrap().max_age,
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse(r#""refresh":true"#).unwrap().max_age,
            Some(Duration::ZERO)
        );
        assert_eq!(parse(r#""refresh":false"#).unwrap().max_age, None);
        assert_eq!(
            parse(r#""versionId":"v-1""#).unwrap().version,
            VersionChoice::Id("v-1".into())
        );
        for bad in [
            r#""refresh":true,"maxAgeSeconds":1"#,
            r#""maxAgeSeconds":-1"#,
            r#""maxAgeSeconds":1.5"#,
            r#""maxAgeSeconds":"60""#,
            r#""version":"current","versionId":"v1""#,
            r#""versionId":"../x""#,
            r#""versionId":"""#,
        ] {
            assert_eq!(code(parse(bad)), "invalid_request", "{bad}");
        }
    }

    #[test]
    fn disconnect_takes_one_provider_or_all_of_them() {
        let parse = |body: &str| DisconnectRequest::parse(body.as_bytes());
        let one = parse(r#"{"tenantId":"a","provider":"vapi"}"#).unwrap();
        assert!(matches!(one.target, Target::One(p) if p.id == "vapi"));
        assert!(!one.purge);
        let all = parse(r#"{"tenantId":"a","allProviders":true,"purge":true}"#).unwrap();
        assert!(matches!(all.target, Target::AllProviders));
        assert!(all.purge);
        for (bad, expected) in [
            (
                r#"{"tenantId":"a","provider":"vapi","allProviders":true}"#,
                "invalid_request",
            ),
            (
                r#"{"tenantId":"a","allProviders":"yes"}"#,
                "invalid_request",
            ),
            (
                r#"{"tenantId":"a","provider":"vapi","purge":1}"#,
                "invalid_request",
            ),
            (r#"{"tenantId":"a"}"#, "unknown_provider"),
            (
                r#"{"tenantId":"a","allProviders":false}"#,
                "unknown_provider",
            ),
            (r#"{"provider":"vapi"}"#, "invalid_tenant_id"),
        ] {
            assert_eq!(code(parse(bad)), expected, "{bad}");
        }
        assert_eq!(
            code(ListRequest::parse(br#"{"tenantId":"a","provider":"vapi"}"#)),
            "invalid_request"
        );
        assert_eq!(
            ListRequest::parse(br#"{"tenantId":"a"}"#)
                .unwrap()
                .tenant
                .as_str(),
            "a"
        );
    }

    #[test]
    fn a_key_twice_in_any_object_is_refused_naming_it_only_when_known() {
        // Found by the attack run: the last value won silently.
        let twice = [
            (
                r#"{"tenantId":"org_1","tenantId":"org_2","provider":"vapi"}"#,
                Some("tenantId"),
            ),
            (
                r#"{"tenantId":"org_1","provider":"vapi","credentials":{"privateApiKey":"a","privateApiKey":"b"}}"#,
                Some("privateApiKey"),
            ),
            (
                r#"{"tenantId":"org_1","provider":"vapi","x":[{"sk-live-abc":1,"sk-live-abc":2}]}"#,
                None,
            ),
        ];
        for (body, named) in twice {
            for err in [
                UpdateRequest::parse(body.as_bytes()).unwrap_err(),
                FetchRequest::parse(body.as_bytes()).unwrap_err(),
            ] {
                assert_eq!(err.code(), "invalid_request", "{body}");
                let detail = err.detail();
                assert!(detail.contains("appears twice"), "{detail}");
                match named {
                    Some(key) => assert!(detail.contains(&format!("`{key}`")), "{detail}"),
                    None => assert!(!detail.contains("sk-live"), "{detail}"),
                }
            }
        }
        // The same key in two different objects is fine.
        let body = br#"{"tenantId":"org_1","provider":"vapi","credentials":{"privateApiKey":"k"}}"#;
        assert!(UpdateRequest::parse(body).is_ok());
        // Not JSON stays invalid_json, also after a first object.
        assert_eq!(
            code(FetchRequest::parse(br#"{"tenantId":"a"} x"#)),
            "invalid_json"
        );
        assert_eq!(
            code(FetchRequest::parse(br#"{"tenantId":"#)),
            "invalid_json"
        );
    }

    #[test]
    fn error_details_never_quote_values_from_the_body() {
        let body = br#"{"tenantId":"org_1","provider":"vapi","credentials":{"privateApiKey":" sk-live-SECRET"}}"#;
        let err = UpdateRequest::parse(body).unwrap_err();
        assert!(!err.detail().contains("SECRET"));
        let body = br#"{"tenantId":"org_1","sk-live-SECRET":"x"}"#;
        let err = FetchRequest::parse(body).unwrap_err();
        assert!(!err.detail().contains("SECRET"));
        // Found by the attack run: a key of letters and digits only was quoted back.
        let body = br#"{"tenantId":"org_1","provider":"vapi","AKIAIOSFODNN7EXAMPLE":"x"}"#;
        let err = FetchRequest::parse(body).unwrap_err();
        assert!(!err.detail().contains("AKIA"), "{}", err.detail());
        assert!(err.detail().contains("allowed fields: tenantId, provider"));
    }
}
