//! call-provider: one call to the provider's API as the tenant, with the key put in here. The
//! caller never holds the key: it is read from the tenant's secret (or the container's cache, as
//! fetch-key's freshness rules allow), put where the catalog's `api` says, and every stored
//! non-public value in the provider's answer — body or header — is replaced by `****` before the
//! answer leaves. The answer is asked for uncompressed, so that redaction sees the real bytes; an
//! encoded one is refused.
//!
//! A key rotated since it was cached works at once: a 401 or 403 from the provider makes one
//! fresh read, and the call is made again once if the version changed.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use memchr::memmem;

use crate::Error;
use crate::cache::ReadCache;
use crate::call_request::{CallBody, CallRequest};
use crate::credentials::{Credentials, View};
use crate::deadline::Deadline;
use crate::outbound::{ProviderClient, percent_encode, put_key};
use crate::request::FetchRequest;
use crate::store::{SecretStore, VersionChoice};

use super::fetch;

/// The longest a call to the provider may take, whatever the request's deadline leaves.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(25);
/// The largest answer passed back: Lambda answers at most 6 MB, and a binary body is
/// base64-encoded on the way (4/3 of its size).
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
/// What a stored value is replaced by in an answer.
pub const REDACTED: &str = "****";

/// The provider's headers passed back (values redacted too); any other is dropped.
const PASSED_HEADERS: [&str; 12] = [
    "content-type",
    "content-language",
    "content-disposition",
    "etag",
    "last-modified",
    "expires",
    "retry-after",
    "location",
    "link",
    "x-request-id",
    "request-id",
    "www-authenticate",
];
/// Prefixes of the provider's rate-limit headers, passed back too.
const PASSED_PREFIXES: [&str; 3] = ["x-ratelimit-", "ratelimit-", "anthropic-ratelimit-"];

/// The provider's answer, as it may leave.
#[derive(Debug)]
pub struct Called {
    /// The provider's status.
    pub status: StatusCode,
    /// The provider's headers that may be passed back, redacted.
    pub headers: HeaderMap,
    /// The provider's body, redacted.
    pub body: Bytes,
    /// The version of the key the call was made with.
    pub version_id: String,
    /// Whether the key came from the container's cache.
    pub from_cache: bool,
    /// Whether a 401/403 made a fresh read and the call was made again with a newer key.
    pub retried: bool,
    /// Time spent waiting for the provider, in milliseconds.
    pub provider_ms: f64,
}

/// Calls the provider as `request` says, with the tenant's current key.
///
/// # Errors
/// `not_found` (with `deletionDate` when disconnected) as fetch-key answers; `invalid_credentials`
/// when a stored value cannot be sent; `provider_unavailable` when the provider does not answer
/// in time or cannot be reached; `provider_answer_unusable` when its answer is larger than
/// [`MAX_ANSWER_BYTES`] or encoded; store failures.
pub async fn call(
    store: &SecretStore,
    cache: &ReadCache,
    client: &ProviderClient,
    deadline: &Deadline,
    request: &CallRequest,
) -> Result<Called, Error> {
    let read = |max_age| FetchRequest {
        tenant: request.tenant.clone(),
        provider: request.provider,
        view: View::Full,
        version: VersionChoice::Current,
        max_age: Some(max_age),
    };
    let mut key = fetch(
        store,
        cache,
        deadline,
        &read(request.max_age.unwrap_or(cache.ttl())),
    )
    .await?;
    let mut answer = send(client, deadline, request, &key.credentials).await?;
    let mut retried = false;
    if matches!(answer.status.as_u16(), 401 | 403) {
        let fresh = fetch(store, cache, deadline, &read(Duration::ZERO)).await?;
        if fresh.version_id != key.version_id {
            key = fresh;
            answer = send(client, deadline, request, &key.credentials).await?;
            retried = true;
        }
    }
    let secrets = stored_secrets(&key.credentials);
    Ok(Called {
        status: answer.status,
        headers: passed_headers(&answer.headers, &secrets),
        body: redact(&answer.body, &secrets),
        version_id: key.version_id,
        from_cache: key.from_cache,
        retried,
        provider_ms: answer.elapsed.as_secs_f64() * 1000.0,
    })
}

/// The provider's answer as received (before redaction).
struct Upstream {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    elapsed: Duration,
}

/// Sends the call once with `credentials` and reads the whole answer.
async fn send(
    client: &ProviderClient,
    deadline: &Deadline,
    request: &CallRequest,
    credentials: &Credentials,
) -> Result<Upstream, Error> {
    let provider = request.provider.id;
    let unreachable = || Error::ProviderUnreachable { provider };
    let mut target = request.path.clone();
    for (index, (name, value)) in request.query.iter().enumerate() {
        target.push(if index == 0 { '?' } else { '&' });
        target.push_str(&percent_encode(name));
        target.push('=');
        target.push_str(&percent_encode(value));
    }
    let mut builder = Request::builder()
        .method(request.method)
        .header(header::USER_AGENT, "tenant-keys")
        .header(header::ACCEPT_ENCODING, "identity");
    let caller_sets = |name: &str| request.headers.iter().any(|(n, _)| n == name);
    for (name, value) in request.api.headers {
        if !caller_sets(name) {
            builder = builder.header(*name, *value);
        }
    }
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let body = match &request.body {
        None => Bytes::new(),
        Some(CallBody::Json(value)) => {
            if !caller_sets("content-type") {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
            }
            Bytes::from(value.to_string())
        }
        Some(CallBody::Text(text)) => {
            if !caller_sets("content-type") {
                builder = builder.header(header::CONTENT_TYPE, "text/plain; charset=utf-8");
            }
            Bytes::from(text.clone())
        }
    };
    let (builder, target) = put_key(&request.api.send, credentials, builder, target)?;
    let outgoing = builder
        .uri(format!(
            "{}{target}",
            request.api.base_url(request.provider)
        ))
        .body(Full::new(body))
        .map_err(|_| Error::InvalidRequest("the call cannot be sent as given".into()))?;
    let started = Instant::now();
    let response = client
        .send(deadline, CALL_TIMEOUT, outgoing)
        .await
        .map_err(|_| unreachable())?;
    let (parts, incoming) = response.into_parts();
    let encoded = parts
        .headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|encoding| encoding != "identity");
    if encoded {
        return Err(Error::ProviderAnswerUnusable {
            provider,
            why: "it is compressed although an uncompressed answer was asked for, so it cannot be checked for keys",
        });
    }
    let remaining = CALL_TIMEOUT.saturating_sub(started.elapsed());
    let collected = deadline
        .within(remaining, || {
            Limited::new(incoming, MAX_ANSWER_BYTES).collect()
        })
        .await
        .map_err(|_| unreachable())?;
    let body = match collected {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => {
            return Err(Error::ProviderAnswerUnusable {
                provider,
                why: "it is larger than 4 MiB",
            });
        }
        Err(_) => return Err(unreachable()),
    };
    Ok(Upstream {
        status: parts.status,
        headers: parts.headers,
        body,
        elapsed: started.elapsed(),
    })
}

/// Every form in which a stored non-public value may appear in an answer: as it is, JSON-escaped
/// and percent-encoded; longest first, so a value that holds another is replaced whole.
fn stored_secrets(credentials: &Credentials) -> Vec<Vec<u8>> {
    let mut forms: Vec<Vec<u8>> = Vec::new();
    for value in credentials
        .view(View::Full)
        .iter()
        .filter_map(|(name, value)| {
            let public = credentials
                .provider()
                .field(name)
                .is_some_and(|field| field.public);
            (!public).then_some(value.as_str()?)
        })
    {
        let escaped = serde_json::to_string(value).unwrap_or_default();
        let escaped = escaped.trim_matches('"');
        for form in [value, escaped, &percent_encode(value)] {
            if !form.is_empty() && !forms.iter().any(|f| f == form.as_bytes()) {
                forms.push(form.as_bytes().to_vec());
            }
        }
    }
    forms.sort_by_key(|form| std::cmp::Reverse(form.len()));
    forms
}

/// `bytes` with every occurrence of each of `secrets` replaced by [`REDACTED`].
fn redact(bytes: &[u8], secrets: &[Vec<u8>]) -> Bytes {
    let mut text = bytes.to_vec();
    for secret in secrets {
        let finder = memmem::Finder::new(secret);
        if finder.find(&text).is_none() {
            continue;
        }
        let mut out = Vec::with_capacity(text.len());
        let mut from = 0;
        for at in finder.find_iter(&text) {
            if at < from {
                continue;
            }
            out.extend_from_slice(&text[from..at]);
            out.extend_from_slice(REDACTED.as_bytes());
            from = at + secret.len();
        }
        out.extend_from_slice(&text[from..]);
        text = out;
    }
    Bytes::from(text)
}

/// The provider's headers that may be passed back, each value redacted.
fn passed_headers(headers: &HeaderMap, secrets: &[Vec<u8>]) -> HeaderMap {
    let mut passed = HeaderMap::new();
    for (name, value) in headers {
        let named = PASSED_HEADERS.contains(&name.as_str())
            || PASSED_PREFIXES
                .iter()
                .any(|prefix| name.as_str().starts_with(prefix));
        if !named {
            continue;
        }
        if let Ok(value) = HeaderValue::from_maybe_shared(redact(value.as_bytes(), secrets)) {
            passed.append(HeaderName::from(name), value);
        }
    }
    passed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Provider;

    fn twilio(token: &str) -> Credentials {
        let stored = serde_json::json!({
            "accountSid": "AC0123456789abcdef0123456789abcdef",
            "authToken": token,
        })
        .to_string();
        Credentials::from_stored(Provider::find("twilio").unwrap(), &stored).unwrap()
    }

    #[test]
    fn every_form_of_a_stored_secret_is_redacted_and_nothing_else() {
        let credentials = twilio("tok/en+1\"quote");
        let secrets = stored_secrets(&credentials);
        let body = br#"{"auth_token":"tok/en+1\"quote","raw":"tok/en+1"quote","url":"tok%2Fen%2B1%22quote","sid":"AC0123456789abcdef0123456789abcdef"}"#;
        let redacted = String::from_utf8(redact(body, &secrets).to_vec()).unwrap();
        assert!(
            !redacted.contains("tok/en") && !redacted.contains("tok%2F"),
            "{redacted}"
        );
        assert_eq!(redacted.matches(REDACTED).count(), 4, "{redacted}");
        // The account SID is a field too, and not public: also redacted.
        assert!(
            !redacted.contains("AC0123456789abcdef0123456789abcdef"),
            "{redacted}"
        );
    }

    #[test]
    fn a_public_value_is_left_in_the_answer() {
        let vapi = Provider::find("vapi").unwrap();
        let credentials = Credentials::from_stored(
            vapi,
            r#"{"publicApiKey":"pk-public-000000","privateApiKey":"sk-private-000000"}"#,
        )
        .unwrap();
        let secrets = stored_secrets(&credentials);
        let body = b"pk-public-000000 sk-private-000000";
        assert_eq!(&redact(body, &secrets)[..], b"pk-public-000000 ****");
    }

    #[test]
    fn only_the_listed_headers_pass_and_their_values_are_redacted() {
        let credentials = twilio("secret-token-0000");
        let secrets = stored_secrets(&credentials);
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        headers.insert("x-ratelimit-remaining", "99".parse().unwrap());
        headers.insert("set-cookie", "session=1".parse().unwrap());
        headers.insert("x-echo", "secret-token-0000".parse().unwrap());
        headers.insert(
            "location",
            "https://api.example/secret-token-0000".parse().unwrap(),
        );
        let passed = passed_headers(&headers, &secrets);
        assert_eq!(passed.len(), 3);
        assert_eq!(passed["location"], "https://api.example/****");
        assert!(passed.get("set-cookie").is_none() && passed.get("x-echo").is_none());
    }
}
