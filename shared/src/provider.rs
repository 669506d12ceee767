//! The provider registry: which third-party services tenant-keys stores keys for, their fields, and
//! how a key can be checked with the provider before it is stored.
//!
//! It is data, not code: the providers are the entries of `providers/catalog.json`, which
//! `build.rs` checks and turns into [`PROVIDERS`] at build time (see `catalog.rs`).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

use regex_lite::Regex;

use crate::Error;
use crate::template::{Piece, anchored, pieces};

/// One credential field of a provider.
#[derive(Debug)]
pub struct Field {
    /// The field's name in requests, responses and the stored JSON (camelCase).
    pub name: &'static str,
    /// Whether fetch-key's `public` view may return it (safe to ship to a browser).
    pub public: bool,
    /// The fewest characters a value may have, if the catalog says.
    pub min_length: Option<usize>,
    /// The most characters a value may have, if the catalog says.
    pub max_length: Option<usize>,
    /// A regular expression the whole value must match, if the catalog gives one.
    pub pattern: Option<&'static str>,
}

impl Field {
    /// Why `value` breaks this field's catalog rules (length bounds, pattern), if it does. Names
    /// the rule, never the value.
    pub fn broken_rule(&self, value: &str) -> Option<String> {
        let length = value.chars().count();
        if let Some(min) = self.min_length.filter(|min| length < *min) {
            return Some(format!("must be at least {min} characters"));
        }
        if let Some(max) = self.max_length.filter(|max| length > *max) {
            return Some(format!("must be at most {max} characters"));
        }
        let pattern = self.pattern?;
        (!matches(pattern, value)).then(|| format!("must match the pattern {pattern}"))
    }
}

/// Whether `value` matches the whole of `pattern`. Each pattern is compiled once per container
/// ([`anchored`], as build.rs compiled it); one that did not compile would refuse every value.
fn matches(pattern: &'static str, value: &str) -> bool {
    static COMPILED: LazyLock<Mutex<HashMap<&'static str, Option<Regex>>>> =
        LazyLock::new(Mutex::default);
    let mut compiled = COMPILED.lock().unwrap_or_else(PoisonError::into_inner);
    compiled
        .entry(pattern)
        .or_insert_with(|| anchored(pattern).ok())
        .as_ref()
        .is_some_and(|re| re.is_match(value))
}

/// How to check a provider's credentials: one cheap, read-only request that the provider accepts
/// with a valid key and refuses with an invalid one.
#[derive(Debug)]
pub struct Check {
    /// The HTTP method.
    pub method: &'static str,
    /// The provider's API base, e.g. `https://api.example.com` (see [`Check::base_url`]).
    pub base_url: &'static str,
    /// Path and query of the request, e.g. `/assistant?limit=1`; `{field}` stands for the value
    /// of a credential field, percent-encoded.
    pub path: &'static str,
    /// How the key is sent.
    pub send: SendKey,
    /// Headers sent as they are, e.g. an API version.
    pub headers: &'static [(&'static str, &'static str)],
    /// Statuses that mean the key was accepted.
    pub accepted: &'static [u16],
    /// Statuses that mean the key was refused.
    pub rejected: &'static [u16],
}

/// Where a check puts the key. A value template holds `{field}` placeholders.
#[derive(Debug)]
pub enum SendKey {
    /// `Authorization: Bearer <field>`.
    Bearer(&'static str),
    /// A header `name` whose value is the template `value`.
    Header {
        /// The header's name, lowercase.
        name: &'static str,
        /// The value template, e.g. `Token {apiKey}`.
        value: &'static str,
    },
    /// `Authorization: Basic base64(<username>:<password>)`, both fields.
    Basic {
        /// The field sent as the user name.
        username: &'static str,
        /// The field sent as the password.
        password: &'static str,
    },
    /// A query parameter `name` whose value is the template `value`, percent-encoded.
    Query {
        /// The parameter's name.
        name: &'static str,
        /// The value template, e.g. `{apiKey}`.
        value: &'static str,
    },
}

impl SendKey {
    /// The field a refusal names: the secret the provider checked.
    pub fn refused_field(&self) -> &'static str {
        match self {
            SendKey::Bearer(field) => field,
            SendKey::Basic { password, .. } => password,
            SendKey::Header { value, .. } | SendKey::Query { value, .. } => pieces(value)
                .unwrap_or_default()
                .into_iter()
                .find_map(|piece| match piece {
                    Piece::Field(name) => Some(name),
                    Piece::Text(_) => None,
                })
                .unwrap_or(value),
        }
    }
}

/// A provider and the fields its credentials consist of. Every field is required on connect.
#[derive(Debug)]
pub struct Provider {
    /// The provider's id in requests and in the secret name (`tenant/<tenantId>/<id>`).
    pub id: &'static str,
    /// The credential fields, all required.
    pub fields: &'static [Field],
    /// How to check a key with the provider, if it can be checked cheaply.
    pub check: Option<Check>,
    /// The provider's API, if call-provider may call it with the tenant's key.
    pub api: Option<Api>,
}

/// A provider's API as call-provider calls it: the base every call stays under, and the key's
/// place.
#[derive(Debug)]
pub struct Api {
    /// `https://host[:port]` and an optional base path (see [`Api::base_url`]).
    pub base_url: &'static str,
    /// How the key is sent.
    pub send: SendKey,
    /// Headers sent with every call unless the caller sets them (e.g. an API version).
    pub headers: &'static [(&'static str, &'static str)],
    /// The methods a caller may use.
    pub methods: &'static [&'static str],
    /// The paths a caller may reach, by prefix; empty: any path under the base URL.
    pub path_prefixes: &'static [&'static str],
}

/// Environment variable prefix overriding a provider's API base URL, e.g.
/// `PROVIDER_API_BASE_URL_VAPI=http://127.0.0.1:8080` — for local use and tests only.
pub const API_BASE_URL_ENV_PREFIX: &str = "PROVIDER_API_BASE_URL_";

impl Api {
    /// The base URL calls go to: the catalog's, unless `PROVIDER_API_BASE_URL_<PROVIDER>`
    /// overrides it (local use and tests).
    pub fn base_url(&self, provider: &Provider) -> String {
        std::env::var(format!(
            "{API_BASE_URL_ENV_PREFIX}{}",
            provider.id.to_ascii_uppercase()
        ))
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| self.base_url.to_owned())
    }

    /// The header the key goes in, lowercase (`authorization` for Bearer and Basic); `None` when
    /// it goes in the query.
    pub fn key_header(&self) -> Option<&'static str> {
        match &self.send {
            SendKey::Bearer(_) | SendKey::Basic { .. } => Some("authorization"),
            SendKey::Header { name, .. } => Some(name),
            SendKey::Query { .. } => None,
        }
    }

    /// The query parameter the key goes in, if it goes in the query.
    pub fn key_query(&self) -> Option<&'static str> {
        match &self.send {
            SendKey::Query { name, .. } => Some(name),
            _ => None,
        }
    }
}

include!(concat!(env!("OUT_DIR"), "/providers.rs"));

/// Environment variable prefix overriding a provider's check base URL, e.g.
/// `PROVIDER_CHECK_BASE_URL_ACME=http://127.0.0.1:8080` for a provider `acme` — for local use
/// and tests only.
pub const CHECK_BASE_URL_ENV_PREFIX: &str = "PROVIDER_CHECK_BASE_URL_";

impl Check {
    /// The base URL the check goes to: the provider's, unless
    /// `PROVIDER_CHECK_BASE_URL_<PROVIDER>` overrides it (local use and tests).
    pub fn base_url(&self, provider: &Provider) -> String {
        std::env::var(format!(
            "{CHECK_BASE_URL_ENV_PREFIX}{}",
            provider.id.to_ascii_uppercase()
        ))
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| self.base_url.to_owned())
    }
}

impl std::fmt::Display for Check {
    /// How the check goes, e.g. `GET https://api.example.com/v1/me, Bearer apiKey`
    /// (never a value: only field names).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}{}, ", self.method, self.base_url, self.path)?;
        match &self.send {
            SendKey::Bearer(field) => write!(f, "Bearer {field}")?,
            SendKey::Header { name, value } => write!(f, "header {name}: {value}")?,
            SendKey::Basic { username, password } => write!(f, "Basic {username}:{password}")?,
            SendKey::Query { name, value } => write!(f, "query {name}={value}")?,
        }
        for (name, value) in self.headers {
            write!(f, ", {name}: {value}")?;
        }
        Ok(())
    }
}

impl Provider {
    /// Looks a provider up by id.
    pub fn find(id: &str) -> Option<&'static Provider> {
        PROVIDERS.iter().find(|p| p.id == id)
    }

    /// Looks a provider up by id, as a request field.
    ///
    /// # Errors
    /// [`Error::UnknownProvider`] when no provider has this id.
    pub fn parse(id: &str) -> Result<&'static Provider, Error> {
        Self::find(id).ok_or_else(|| {
            let known: Vec<&str> = PROVIDERS.iter().map(|p| p.id).collect();
            Error::UnknownProvider(format!("provider must be one of: {}", known.join(", ")))
        })
    }

    /// The names of the provider's fields, in catalog order.
    pub fn field_names(&self) -> Vec<&'static str> {
        self.fields.iter().map(|f| f.name).collect()
    }

    /// The field called `name`, if this provider has one.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vapi_has_a_public_and_a_private_key() {
        let vapi = Provider::find("vapi").unwrap();
        assert!(vapi.field("publicApiKey").unwrap().public);
        assert!(!vapi.field("privateApiKey").unwrap().public);
        assert!(vapi.field("publicAPIKey").is_none());
    }

    #[test]
    fn unknown_provider_is_rejected_with_its_code() {
        let err = Provider::parse("stripe").unwrap_err();
        assert_eq!(err.code(), "unknown_provider");
        assert!(err.detail().contains("vapi"));
    }

    #[test]
    fn field_rules_name_the_rule_never_the_value() {
        let rules = Field {
            name: "token",
            public: false,
            min_length: Some(4),
            max_length: Some(6),
            pattern: Some("tk_[a-z]+"),
        };
        assert_eq!(rules.broken_rule("tk_ab"), None);
        assert_eq!(
            rules.broken_rule("tk_").as_deref(),
            Some("must be at least 4 characters")
        );
        assert_eq!(
            rules.broken_rule("tk_abcd").as_deref(),
            Some("must be at most 6 characters")
        );
        // The whole value must match, not a part of it.
        assert_eq!(
            rules.broken_rule("xtk_ab").as_deref(),
            Some("must match the pattern tk_[a-z]+")
        );
        assert_eq!(
            rules.broken_rule("tk_aB").as_deref(),
            Some("must match the pattern tk_[a-z]+")
        );
        let short = Field {
            min_length: None,
            max_length: Some(3),
            pattern: None,
            ..rules
        };
        // Characters, not bytes.
        assert_eq!(short.broken_rule("éèê"), None);
    }

    #[test]
    fn a_twilio_account_sid_must_look_like_one() {
        let sid = Provider::find("twilio")
            .unwrap()
            .field("accountSid")
            .unwrap();
        assert_eq!(sid.broken_rule(&format!("AC{}", "0a".repeat(16))), None);
        // The auth token pasted where the SID goes.
        assert!(sid.broken_rule(&"0a".repeat(16)).is_some());
    }

    #[test]
    fn provider_ids_are_unique() {
        for (i, p) in PROVIDERS.iter().enumerate() {
            assert!(PROVIDERS[i + 1..].iter().all(|q| q.id != p.id), "{}", p.id);
        }
    }
}
