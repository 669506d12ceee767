//! Checking credentials with the provider before they are stored (`"verify": true` on connect
//! and update): one cheap, read-only request described by the registry ([`Check`]), with the key
//! as a Bearer token. Its answer's status decides; the body is never read, passed back or logged
//! (it may echo the key).
//!
//! The HTTP client is hyper with rustls on aws-lc-rs and the system's trust roots — the TLS stack
//! the AWS SDK already brings, so no second TLS implementation is linked. It is built on first use,
//! so functions and requests that never verify pay nothing for it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, header};
use http_body_util::Empty;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::Error;
use crate::credentials::{Credentials, View};
use crate::deadline::{Deadline, MIN_CALL_TIME};
use crate::provider::{Check, Provider};

/// The longest a check may take, whatever the request's deadline leaves.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends the registry's checks.
pub struct ProviderChecker {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl std::fmt::Debug for ProviderChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderChecker").finish_non_exhaustive()
    }
}

impl ProviderChecker {
    /// A checker trusting the system's roots (`SSL_CERT_FILE` and friends, as the SDK does).
    ///
    /// # Errors
    /// `internal` when no root certificate can be loaded.
    pub fn new() -> Result<Self, Error> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let https = HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)
            .map_err(|err| Error::Internal(format!("no trust roots for provider checks: {err}")))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(ProviderChecker {
            client: Client::builder(TokioExecutor::new()).build(https),
        })
    }

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
        let unavailable = || Error::ProviderUnavailable {
            provider: provider.id,
        };
        let key = credentials.view(View::Full)[check.field]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::Internal(format!("{} has no {}", provider.id, check.field)))?;
        let mut authorization = HeaderValue::try_from(format!("Bearer {key}"))
            .map_err(|_| Error::InvalidCredentials(format!("{} cannot be sent", check.field)))?;
        authorization.set_sensitive(true);
        let request = Request::builder()
            .method(Method::from_bytes(check.method.as_bytes()).map_err(|_| unavailable())?)
            .uri(format!("{}{}", check.base_url(provider), check.path))
            .header(header::AUTHORIZATION, authorization)
            .header(header::USER_AGENT, "tenant-keys")
            .body(Empty::new())
            .map_err(|_| unavailable())?;
        let remaining = deadline.remaining();
        if remaining < MIN_CALL_TIME {
            return Err(unavailable());
        }
        let response =
            tokio::time::timeout(remaining.min(CHECK_TIMEOUT), self.client.request(request))
                .await
                .map_err(|_| unavailable())?
                .map_err(|_| unavailable())?;
        let status = response.status().as_u16();
        drop(response); // the body is never read: it may echo the key
        if check.accepted.contains(&status) {
            Ok(())
        } else if check.rejected.contains(&status) {
            Err(Error::CredentialsRejected {
                provider: provider.id,
                field: check.field,
            })
        } else {
            Err(unavailable())
        }
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

    static UNCHECKABLE: Provider = Provider {
        id: "nocheck",
        fields: &[Field {
            name: "apiKey",
            public: false,
        }],
        check: None,
    };

    #[test]
    fn verify_for_a_provider_without_a_check_is_invalid_request() {
        assert_eq!(
            required_check(&UNCHECKABLE).unwrap_err().code(),
            "invalid_request"
        );
        assert!(required_check(Provider::find("vapi").unwrap()).is_ok());
    }
}
