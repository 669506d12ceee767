//! Checking credentials with the provider before they are stored (`"verify": true` on connect
//! and update): one cheap, read-only request described by the catalog ([`Check`]), with the key
//! where the provider takes it (a Bearer token, a header, Basic, a query parameter). Its answer's
//! status decides; redirects are not followed; the body is never read, passed back or logged
//! (it may echo the key). The request goes through [`ProviderClient`].

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::Full;

use crate::Error;
use crate::credentials::Credentials;
use crate::deadline::Deadline;
use crate::outbound::{ProviderClient, fill, put_key, value_of};
use crate::provider::{Check, Provider};

/// The longest a check may take, whatever the request's deadline leaves.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

impl ProviderClient {
    /// Checks `credentials` of `provider` with the provider, within the request's deadline.
    ///
    /// # Errors
    /// `invalid_request` when the provider has no check; `credentials_rejected` (naming the
    /// field) when the provider refuses the key; `provider_unavailable` on a timeout, a 5xx, a
    /// 429, any other unexpected status, or no connection.
    pub async fn check(
        &self,
        deadline: &Deadline,
        provider: &'static Provider,
        credentials: &Credentials,
    ) -> Result<(), Error> {
        let check = required_check(provider)?;
        let request = build_request(provider, check, credentials)?;
        let response = self
            .send(deadline, CHECK_TIMEOUT, request)
            .await
            .map_err(|_| unavailable(provider))?;
        let status = response.status().as_u16();
        drop(response); // the body is never read: it may echo the key
        if check.accepted.contains(&status) {
            Ok(())
        } else if check.rejected.contains(&status) {
            Err(Error::CredentialsRejected {
                provider: provider.id,
                field: check.send.refused_field(),
            })
        } else {
            Err(unavailable(provider))
        }
    }
}

/// The request of `check` for `credentials`: the key where the catalog says, every `{field}` of
/// the path and query percent-encoded (so a value cannot change the host or the path), the key's
/// headers marked sensitive (never printed).
///
/// # Errors
/// `invalid_credentials` when a value cannot be sent in a header.
fn build_request(
    provider: &'static Provider,
    check: &'static Check,
    credentials: &Credentials,
) -> Result<Request<Full<Bytes>>, Error> {
    let target = fill(check.path, true, &value_of(credentials))?;
    let mut builder = Request::builder()
        .method(Method::from_bytes(check.method.as_bytes()).map_err(|_| unavailable(provider))?)
        .header(header::USER_AGENT, "tenant-keys");
    for (name, value) in check.headers {
        builder = builder.header(*name, *value);
    }
    let (builder, target) = put_key(&check.send, credentials, builder, target)?;
    builder
        .uri(format!("{}{target}", check.base_url(provider)))
        .body(Full::new(Bytes::new()))
        .map_err(|_| unavailable(provider))
}

/// `provider_unavailable`: the provider could not say whether it accepts the key.
fn unavailable(provider: &'static Provider) -> Error {
    Error::ProviderUnavailable {
        provider: provider.id,
    }
}

/// The provider's check.
///
/// # Errors
/// `invalid_request` when the provider cannot be checked.
pub fn required_check(provider: &'static Provider) -> Result<&'static Check, Error> {
    provider.check.as_ref().ok_or_else(|| {
        Error::InvalidRequest(format!(
            "{} keys cannot be checked with the provider; send the request without verify",
            provider.id
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Field;
    use serde_json::{Value, json};

    static UNCHECKABLE: Provider = Provider {
        id: "nocheck",
        fields: &[Field {
            name: "apiKey",
            public: false,
            min_length: None,
            max_length: None,
            pattern: None,
        }],
        check: None,
        api: None,
    };

    #[test]
    fn verify_for_a_provider_without_a_check_is_invalid_request() {
        assert_eq!(
            required_check(&UNCHECKABLE).unwrap_err().code(),
            "invalid_request"
        );
        assert!(required_check(Provider::find("vapi").unwrap()).is_ok());
    }

    /// The request a built-in provider's check makes for `values`, read as a stored secret: an
    /// update checks the stored fields it merges with, which no field rule has judged.
    fn request_of(id: &str, values: Value) -> Request<Full<Bytes>> {
        let provider = Provider::find(id).unwrap();
        let credentials = Credentials::from_stored(provider, &values.to_string()).unwrap();
        build_request(provider, provider.check.as_ref().unwrap(), &credentials).unwrap()
    }

    fn header<'a>(request: &'a Request<Full<Bytes>>, name: &str) -> Option<&'a str> {
        request.headers().get(name).map(|v| v.to_str().unwrap())
    }

    #[test]
    fn each_way_of_sending_a_key_builds_the_providers_request() {
        let bearer = request_of("groq", json!({"apiKey": "gsk-1"}));
        assert_eq!(bearer.uri(), "https://api.groq.com/openai/v1/models");
        assert_eq!(header(&bearer, "authorization"), Some("Bearer gsk-1"));

        let named = request_of("anthropic", json!({"apiKey": "sk-ant-1"}));
        assert_eq!(named.uri(), "https://api.anthropic.com/v1/models?limit=1");
        assert_eq!(header(&named, "x-api-key"), Some("sk-ant-1"));
        assert_eq!(header(&named, "anthropic-version"), Some("2023-06-01"));
        assert_eq!(header(&named, "authorization"), None);

        let template = request_of("deepgram", json!({"apiKey": "dg-1"}));
        assert_eq!(header(&template, "authorization"), Some("Token dg-1"));

        let basic = request_of("twilio", json!({"accountSid": "AC123", "authToken": "tok"}));
        assert_eq!(
            basic.uri(),
            "https://api.twilio.com/2010-04-01/Accounts/AC123.json"
        );
        // base64("AC123:tok")
        assert_eq!(header(&basic, "authorization"), Some("Basic QUMxMjM6dG9r"));

        let query = request_of("gemini", json!({"apiKey": "AIza-1"}));
        assert_eq!(
            query.uri(),
            "https://generativelanguage.googleapis.com/v1beta/models?pageSize=1&key=AIza-1"
        );
        for request in [&bearer, &named, &template, &basic] {
            for (_, value) in request.headers() {
                let secret = ["gsk-1", "sk-ant-1", "dg-1", "Basic"]
                    .iter()
                    .any(|k| value.to_str().unwrap().contains(k));
                assert_eq!(value.is_sensitive(), secret, "{value:?}");
            }
        }
    }

    #[test]
    fn a_value_cannot_change_the_host_or_the_path() {
        let sneaky = request_of(
            "twilio",
            json!({"accountSid": "../../evil.example/x?y=1#", "authToken": "t"}),
        );
        assert_eq!(sneaky.uri().host(), Some("api.twilio.com"));
        assert_eq!(
            sneaky.uri().path(),
            "/2010-04-01/Accounts/..%2F..%2Fevil.example%2Fx%3Fy%3D1%23.json"
        );
        let query = request_of("gemini", json!({"apiKey": "a&key=b c"}));
        assert_eq!(query.uri().query(), Some("pageSize=1&key=a%26key%3Db%20c"));
        // Found by the attack run: `.` and `..` pass percent-encoding unchanged.
        let twilio = Provider::find("twilio").unwrap();
        for dots in [".", ".."] {
            let stored = json!({"accountSid": dots, "authToken": "t"}).to_string();
            let credentials = Credentials::from_stored(twilio, &stored).unwrap();
            let err =
                build_request(twilio, twilio.check.as_ref().unwrap(), &credentials).unwrap_err();
            assert_eq!(err.code(), "invalid_credentials");
            assert_eq!(err.detail(), "accountSid cannot be sent");
        }
        let gemini = Provider::find("gemini").unwrap();
        let stored = json!({"apiKey": ".."}).to_string();
        let credentials = Credentials::from_stored(gemini, &stored).unwrap();
        assert!(build_request(gemini, gemini.check.as_ref().unwrap(), &credentials).is_err());
    }

    #[test]
    fn a_refusal_names_the_secret_the_provider_checked() {
        let field = |id: &str| {
            Provider::find(id)
                .unwrap()
                .check
                .as_ref()
                .unwrap()
                .send
                .refused_field()
        };
        assert_eq!(field("vapi"), "privateApiKey");
        assert_eq!(field("twilio"), "authToken");
        assert_eq!(field("deepgram"), "apiKey");
        assert_eq!(field("gemini"), "apiKey");
    }
}
