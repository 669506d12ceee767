//! Requests to providers' APIs, for key checks (`verify`) and call-provider: one HTTP client per
//! container, and the one way a key is put into a request, as the catalog's `send` says.
//!
//! The client is hyper with rustls on aws-lc-rs and the system's trust roots — the TLS stack the
//! AWS SDK already brings, so no second TLS implementation is linked. It is built on first use,
//! so functions and requests that never reach a provider pay nothing for it. It follows no
//! redirect.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::request::Builder;
use http::{HeaderValue, Request, Response, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::Error;
use crate::credentials::{Credentials, View};
use crate::deadline::{Deadline, TimeUp};
use crate::provider::SendKey;
use crate::template::{Piece, pieces};

/// The one HTTP client to providers.
pub struct ProviderClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl std::fmt::Debug for ProviderClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderClient").finish_non_exhaustive()
    }
}

/// Why a request got no answer: the deadline (or the limit) passed, or no connection.
#[derive(Debug)]
pub enum NoAnswer {
    /// The request's deadline or the call's limit passed first.
    TimeUp,
    /// The connection failed or broke.
    Failed,
}

impl From<TimeUp> for NoAnswer {
    fn from(_: TimeUp) -> Self {
        NoAnswer::TimeUp
    }
}

impl ProviderClient {
    /// A client trusting the system's roots (`SSL_CERT_FILE` and friends, as the SDK does).
    ///
    /// # Errors
    /// `internal` when no root certificate can be loaded.
    pub fn new() -> Result<Self, Error> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let https = HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)
            .map_err(|err| Error::Internal(format!("no trust roots for provider calls: {err}")))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(ProviderClient {
            client: Client::builder(TokioExecutor::new()).build(https),
        })
    }

    /// Sends `request` and waits for the answer's head, for at most `limit` and never past the
    /// request's deadline.
    ///
    /// # Errors
    /// [`NoAnswer`].
    pub async fn send(
        &self,
        deadline: &Deadline,
        limit: Duration,
        request: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, NoAnswer> {
        deadline
            .within(limit, || self.client.request(request))
            .await?
            .map_err(|_| NoAnswer::Failed)
    }
}

/// Puts the key of `credentials` into a request to `target` (path and query) the way `send`
/// says: a header marked sensitive (never printed), or a query parameter. Every `{field}` of a
/// query value is percent-encoded, so a value cannot change the host or the path.
///
/// # Errors
/// `invalid_credentials` when a value cannot be sent (in a header, or `.`/`..` in a path).
pub fn put_key(
    send: &SendKey,
    credentials: &Credentials,
    mut builder: Builder,
    mut target: String,
) -> Result<(Builder, String), Error> {
    let value = value_of(credentials);
    let secret_header = |name: &str, text: String| -> Result<HeaderValue, Error> {
        let mut header = HeaderValue::try_from(text)
            .map_err(|_| Error::InvalidCredentials(format!("{name} cannot be sent")))?;
        header.set_sensitive(true);
        Ok(header)
    };
    builder = match send {
        SendKey::Bearer(field) => builder.header(
            header::AUTHORIZATION,
            secret_header(field, format!("Bearer {}", value(field)?))?,
        ),
        SendKey::Header {
            name,
            value: template,
        } => builder.header(*name, secret_header(name, fill(template, false, &value)?)?),
        SendKey::Basic { username, password } => {
            let pair = format!("{}:{}", value(username)?, value(password)?);
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            builder.header(
                header::AUTHORIZATION,
                secret_header(password, format!("Basic {encoded}"))?,
            )
        }
        SendKey::Query {
            name,
            value: template,
        } => {
            let separator = if target.contains('?') { '&' } else { '?' };
            target = format!(
                "{target}{separator}{name}={}",
                fill(template, true, &value)?
            );
            builder
        }
    };
    Ok((builder, target))
}

/// The value of a field of `credentials`, by name (every field of a provider is stored).
pub fn value_of(credentials: &Credentials) -> impl Fn(&str) -> Result<String, Error> + use<> {
    let (values, provider) = (credentials.view(View::Full), credentials.provider().id);
    move |field| {
        values[field]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::Internal(format!("{provider} has no {field}")))
    }
}

/// `template` with each `{field}` replaced by `value(field)`, percent-encoded when `encode`.
///
/// # Errors
/// `invalid_credentials` for a value of `.` or `..` to encode (servers resolve them in a path,
/// encoded or not; no key is either).
pub fn fill(
    template: &str,
    encode: bool,
    value: &dyn Fn(&str) -> Result<String, Error>,
) -> Result<String, Error> {
    let mut out = String::new();
    // build.rs refused every template that does not parse.
    for piece in pieces(template).unwrap_or_default() {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Field(name) if encode => {
                let value = value(name)?;
                if value == "." || value == ".." {
                    return Err(Error::InvalidCredentials(format!("{name} cannot be sent")));
                }
                out.push_str(&percent_encode(&value));
            }
            Piece::Field(name) => out.push_str(&value(name)?),
        }
    }
    Ok(out)
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so a value stays one path
/// segment or one query value.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
