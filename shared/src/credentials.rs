//! `Credentials`: a provider's credential values, validated, with views that hide what must stay
//! hidden. `Debug` never prints a value.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::Error;
use crate::provider::Provider;

/// Longest accepted credential value, in bytes.
pub const MAX_VALUE_BYTES: usize = 4096;

/// How many trailing characters the masked view may show.
const MASK_VISIBLE_CHARS: usize = 4;
/// Values shorter than this are masked completely, so the visible tail is never most of the value.
const MASK_MIN_CHARS_FOR_TAIL: usize = 12;

/// Which part of the credentials a response shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Every field, in plain text.
    Full,
    /// Only the fields the provider marks public, in plain text.
    Public,
    /// Every field, with at most its last 4 characters visible.
    Masked,
}

/// Whether a request must carry every field of the provider (connect) or some (update).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completeness {
    /// Every field of the provider is required.
    AllFields,
    /// At least one field, each known to the provider.
    SomeFields,
}

/// Credential values of one provider, keyed by field name. Only known fields can be in it.
#[derive(Clone)]
pub struct Credentials {
    provider: &'static Provider,
    values: BTreeMap<&'static str, String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("provider", &self.provider.id)
            .field("fields", &self.values.keys().collect::<Vec<_>>())
            .field("values", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// Reads the `credentials` object of a request.
    ///
    /// # Errors
    /// [`Error::InvalidCredentials`], naming the field (never the value), when a field is unknown,
    /// not a string, empty, longer than 4096 bytes, has control characters or surrounding
    /// whitespace, or breaks the field's catalog rules (length bounds, pattern); when a required
    /// field is missing ([`Completeness::AllFields`]) or the object is empty.
    pub fn from_request(
        provider: &'static Provider,
        raw: &Map<String, Value>,
        completeness: Completeness,
    ) -> Result<Self, Error> {
        let invalid = |msg: String| Error::InvalidCredentials(msg);
        let mut values = BTreeMap::new();
        for (name, value) in raw {
            // The unknown name is never quoted: a key pasted where a field name goes is still a
            // key. The provider's own field names are.
            let field = provider.field(name).ok_or_else(|| {
                invalid(format!(
                    "credentials has an unknown field; the fields of provider {} are: {}",
                    provider.id,
                    provider.field_names().join(", ")
                ))
            })?;
            let Value::String(value) = value else {
                return Err(invalid(format!(
                    "credentials.{} must be a string",
                    field.name
                )));
            };
            let broken = check_value(value)
                .err()
                .map(str::to_owned)
                .or_else(|| field.broken_rule(value));
            if let Some(why) = broken {
                return Err(invalid(format!("credentials.{} {why}", field.name)));
            }
            values.insert(field.name, value.clone());
        }
        match completeness {
            Completeness::AllFields => {
                if let Some(missing) = provider
                    .fields
                    .iter()
                    .find(|f| !values.contains_key(f.name))
                {
                    return Err(invalid(format!(
                        "credentials.{} is required for provider {}",
                        missing.name, provider.id
                    )));
                }
            }
            Completeness::SomeFields => {
                if values.is_empty() {
                    return Err(invalid(
                        "credentials must contain at least one field".into(),
                    ));
                }
            }
        }
        Ok(Credentials { provider, values })
    }

    /// Reads a stored secret: exactly the flat JSON object of the provider's fields, as Echo
    /// writes it (`{"publicApiKey":"…","privateApiKey":"…"}`).
    ///
    /// # Errors
    /// [`Error::InvalidStoredValue`] when it is not JSON, not an object, has a non-string value, an
    /// unknown field or lacks a field. The error carries nothing of the stored text.
    pub fn from_stored(provider: &'static Provider, stored: &str) -> Result<Self, Error> {
        let object: Map<String, Value> =
            serde_json::from_str(stored).map_err(|_| Error::InvalidStoredValue)?;
        let mut values = BTreeMap::new();
        for (name, value) in object {
            let field = provider.field(&name).ok_or(Error::InvalidStoredValue)?;
            let Value::String(value) = value else {
                return Err(Error::InvalidStoredValue);
            };
            values.insert(field.name, value);
        }
        if provider.fields.iter().any(|f| !values.contains_key(f.name)) {
            return Err(Error::InvalidStoredValue);
        }
        Ok(Credentials { provider, values })
    }

    /// The JSON text stored in Secrets Manager: the flat object of fields.
    pub fn to_stored(&self) -> String {
        Value::Object(self.plain(|_| true)).to_string()
    }

    /// Overwrites this credentials' fields with those of `changes` (same provider).
    pub fn merge(&mut self, changes: &Credentials) {
        debug_assert_eq!(self.provider.id, changes.provider.id);
        for (name, value) in &changes.values {
            self.values.insert(name, value.clone());
        }
    }

    /// Whether every field of `part` is in `self` with the same value.
    pub fn contains(&self, part: &Credentials) -> bool {
        part.values
            .iter()
            .all(|(name, value)| self.values.get(name) == Some(value))
    }

    /// The provider these credentials are for.
    pub fn provider(&self) -> &'static Provider {
        self.provider
    }

    /// The credentials as a response shows them.
    pub fn view(&self, view: View) -> Map<String, Value> {
        match view {
            View::Full => self.plain(|_| true),
            View::Public => {
                self.plain(|name| self.provider.field(name).is_some_and(|field| field.public))
            }
            View::Masked => self
                .values
                .iter()
                .map(|(name, value)| (name.to_string(), Value::String(mask(value))))
                .collect(),
        }
    }

    fn plain(&self, include: impl Fn(&str) -> bool) -> Map<String, Value> {
        self.values
            .iter()
            .filter(|(name, _)| include(name))
            .map(|(name, value)| (name.to_string(), Value::String(value.clone())))
            .collect()
    }
}

/// Why a credential value is not acceptable, if it is not.
fn check_value(value: &str) -> Result<(), &'static str> {
    if value.is_empty() {
        return Err("must not be empty");
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err("must be at most 4096 bytes");
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    if value.starts_with(char::is_whitespace) || value.ends_with(char::is_whitespace) {
        return Err("must not start or end with whitespace");
    }
    Ok(())
}

/// `****` followed by at most the last 4 characters; short values show nothing.
fn mask(value: &str) -> String {
    let chars = value.chars().count();
    let visible = if chars >= MASK_MIN_CHARS_FOR_TAIL {
        MASK_VISIBLE_CHARS
    } else {
        0
    };
    let tail: String = value.chars().skip(chars - visible).collect();
    format!("****{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vapi() -> &'static Provider {
        Provider::find("vapi").unwrap()
    }

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn vapi_credentials() -> Credentials {
        let raw = object(
            json!({"publicApiKey": "pub-1234567890abcd", "privateApiKey": "priv-0987654321wxyz"}),
        );
        Credentials::from_request(vapi(), &raw, Completeness::AllFields).unwrap()
    }

    #[test]
    fn connect_needs_every_field() {
        let raw = object(json!({"publicApiKey": "pub-1234567890abcd"}));
        let err = Credentials::from_request(vapi(), &raw, Completeness::AllFields).unwrap_err();
        assert_eq!(err.code(), "invalid_credentials");
        assert!(err.detail().contains("privateApiKey"));
    }

    #[test]
    fn update_needs_at_least_one_field() {
        let err =
            Credentials::from_request(vapi(), &Map::new(), Completeness::SomeFields).unwrap_err();
        assert_eq!(err.code(), "invalid_credentials");
    }

    #[test]
    fn bad_values_are_rejected_naming_the_field_not_the_value() {
        let long = "x".repeat(MAX_VALUE_BYTES + 1);
        for bad in [
            json!(""),
            json!(" sk-secret-value"),
            json!("sk-secret-value\n"),
            json!("sk-secret\u{7}value"),
            json!(long),
            json!(42),
            json!(null),
            json!({"nested": "sk-secret-value"}),
        ] {
            let raw = object(json!({"privateApiKey": bad}));
            let err =
                Credentials::from_request(vapi(), &raw, Completeness::SomeFields).unwrap_err();
            assert_eq!(err.code(), "invalid_credentials");
            assert!(err.detail().contains("privateApiKey"), "{}", err.detail());
            assert!(!err.detail().contains("sk-secret"), "{}", err.detail());
        }
    }

    #[test]
    fn a_value_of_exactly_4096_bytes_is_accepted() {
        let raw = object(json!({"privateApiKey": "é".repeat(MAX_VALUE_BYTES / 2)}));
        assert!(Credentials::from_request(vapi(), &raw, Completeness::SomeFields).is_ok());
    }

    #[test]
    fn unknown_fields_are_rejected_and_pasted_values_never_echoed() {
        // Found by the attack run: a name of letters and digits (40 hex characters here) was
        // quoted back as `credentials.<name>`.
        let pasted = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b";
        for name in ["publicAPIKey", pasted, "sk-live-abc/def"] {
            let raw = object(json!({name: "x"}));
            let err =
                Credentials::from_request(vapi(), &raw, Completeness::SomeFields).unwrap_err();
            assert_eq!(err.code(), "invalid_credentials");
            assert!(!err.detail().contains(name), "{}", err.detail());
            assert_eq!(
                err.detail(),
                "credentials has an unknown field; the fields of provider vapi are: publicApiKey, privateApiKey"
            );
        }
    }

    #[test]
    fn debug_never_shows_values() {
        let printed = format!("{:?}", vapi_credentials());
        assert!(printed.contains("publicApiKey"));
        assert!(!printed.contains("pub-1234567890abcd"));
        assert!(!printed.contains("priv-0987654321wxyz"));
    }

    #[test]
    fn views_show_what_they_promise() {
        let creds = vapi_credentials();
        assert_eq!(
            Value::Object(creds.view(View::Public)),
            json!({"publicApiKey": "pub-1234567890abcd"})
        );
        assert_eq!(
            Value::Object(creds.view(View::Masked)),
            json!({"publicApiKey": "****abcd", "privateApiKey": "****wxyz"})
        );
        assert_eq!(creds.view(View::Full).len(), 2);
    }

    #[test]
    fn short_values_are_masked_completely() {
        assert_eq!(mask("abcdefghijk"), "****");
        assert_eq!(mask("abcdefghijkl"), "****ijkl");
        assert_eq!(mask("ééééééééééééé"), "****éééé");
    }

    #[test]
    fn stored_echo_value_round_trips() {
        let stored = r#"{"publicApiKey":"pub","privateApiKey":"priv"}"#;
        let creds = Credentials::from_stored(vapi(), stored).unwrap();
        let again: Value = serde_json::from_str(&creds.to_stored()).unwrap();
        assert_eq!(again, serde_json::from_str::<Value>(stored).unwrap());
    }

    #[test]
    fn stored_values_of_the_wrong_shape_are_refused() {
        for stored in [
            "not json",
            "[]",
            r#"{"publicApiKey":"pub"}"#,
            r#"{"publicAPIKey":"pub","privateApiKey":"priv"}"#,
            r#"{"publicApiKey":"pub","privateApiKey":7}"#,
        ] {
            let err = Credentials::from_stored(vapi(), stored).unwrap_err();
            assert_eq!(err.code(), "invalid_stored_value", "{stored}");
        }
    }

    #[test]
    fn merge_overwrites_only_the_given_fields() {
        let mut creds = vapi_credentials();
        let change = object(json!({"privateApiKey": "priv-new-value-0000"}));
        let change = Credentials::from_request(vapi(), &change, Completeness::SomeFields).unwrap();
        creds.merge(&change);
        assert!(creds.contains(&change));
        assert_eq!(creds.view(View::Full)["publicApiKey"], "pub-1234567890abcd");
    }
}
