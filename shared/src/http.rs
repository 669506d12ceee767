//! The HTTP edge: method and size checks, authentication, dispatch to the operations, the JSON
//! answers, and the one place where an [`Error`] becomes an `application/problem+json` response.
//! Each request ends in exactly one JSON log line (the audit trail: operation, tenant, provider,
//! outcome, request id, `webhook-id`, version read or written) and one metrics line.

use std::sync::OnceLock;
use std::time::Instant;

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{Value, json};

use crate::Error;
use crate::cache::ReadCache;
use crate::credentials::View;
use crate::deadline::{Deadline, FALLBACK_BUDGET};
use crate::keyring::KeyRing;
use crate::metrics::{MetricsWriter, RequestMetrics};
use crate::ops::{self, DisconnectPolicy, Written};
use crate::request::{
    ConnectRequest, DisconnectRequest, FetchRequest, ListRequest, Target, UpdateRequest,
};
use crate::store::SecretStore;
use crate::verify::ProviderChecker;

/// Largest accepted request body: 64 KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Seconds a caller is asked to wait after `upstream_unavailable`.
const RETRY_AFTER_SECONDS: &str = "2";
/// Seconds a caller is asked to wait after `too_many_writes`: AWS's version quota frees up as
/// versions turn 24 hours old, so nothing helps within minutes; an hour is the least honest wait.
const QUOTA_RETRY_AFTER_SECONDS: &str = "3600";

/// Which function is serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `connect-integration`.
    ConnectIntegration,
    /// `fetch-key`.
    FetchKey,
    /// `update-key`.
    UpdateKey,
    /// `disconnect-integration`.
    DisconnectIntegration,
    /// `list-integrations`.
    ListIntegrations,
}

impl Operation {
    /// Every operation, one function each, in the order the docs list them. A new operation is
    /// added here; `shared/tests/operations_everywhere.rs` then names every other place that
    /// must know it.
    pub const ALL: [Operation; 5] = [
        Operation::ConnectIntegration,
        Operation::FetchKey,
        Operation::UpdateKey,
        Operation::DisconnectIntegration,
        Operation::ListIntegrations,
    ];

    /// The function's name: its package, binary and route, and its name in logs.
    pub fn name(self) -> &'static str {
        match self {
            Operation::ConnectIntegration => "connect-integration",
            Operation::FetchKey => "fetch-key",
            Operation::UpdateKey => "update-key",
            Operation::DisconnectIntegration => "disconnect-integration",
            Operation::ListIntegrations => "list-integrations",
        }
    }
}

/// One function's state for the life of its container: the store, the signing keys,
/// fetch-key's read cache and disconnect-integration's policy.
#[derive(Debug)]
pub struct App {
    store: SecretStore,
    keys: KeyRing,
    cache: ReadCache,
    disconnect_policy: DisconnectPolicy,
    metrics: MetricsWriter,
    /// Built on the first request that asks to `verify`.
    checker: OnceLock<ProviderChecker>,
}

/// What the log and metrics lines may say of a request: only validated ids, never values.
#[derive(Default)]
struct LogFields {
    tenant_id: Option<String>,
    provider: Option<&'static str>,
    /// The caller's `webhook-id`, once the signature is verified.
    webhook_id: Option<String>,
    /// The version read or written.
    version_id: Option<String>,
    /// fetch-key: whether the value came from the cache.
    cache_hit: Option<bool>,
}

impl App {
    /// Puts a function together from its store, signing keys and read cache, with the default
    /// [`DisconnectPolicy`] and no metrics output ([`App::with_metrics`] adds it).
    pub fn new(store: SecretStore, keys: impl Into<KeyRing>, cache: ReadCache) -> Self {
        App {
            store,
            keys: keys.into(),
            cache,
            disconnect_policy: DisconnectPolicy::default(),
            metrics: MetricsWriter::silent(),
            checker: OnceLock::new(),
        }
    }

    /// The provider checker, built on first use; `None` when the request does not verify.
    fn checker(&self, verify: bool) -> Result<Option<&ProviderChecker>, Error> {
        if !verify {
            return Ok(None);
        }
        if self.checker.get().is_none() {
            let _ = self.checker.set(ProviderChecker::new()?);
        }
        Ok(self.checker.get())
    }

    /// The same function writing its metrics with `metrics`.
    pub fn with_metrics(self, metrics: MetricsWriter) -> Self {
        App { metrics, ..self }
    }

    /// The same function with another disconnect policy (recovery window, purge allowed).
    pub fn with_disconnect_policy(self, disconnect_policy: DisconnectPolicy) -> Self {
        App {
            disconnect_policy,
            ..self
        }
    }

    /// Serves one request of `operation` and logs it. Never fails: every error is a problem
    /// response.
    pub async fn handle(&self, operation: Operation, request: Request) -> Response<Body> {
        let started = Instant::now();
        let deadline = request
            .lambda_context_ref()
            .map(|context| Deadline::from_lambda_deadline_ms(context.deadline))
            .unwrap_or_else(|| Deadline::after(FALLBACK_BUDGET));
        let mut log = LogFields::default();
        // On the heap: the operations' futures are large (reads joined side by side), and a
        // caller's stack, a test's or a runtime's, need not hold them.
        let outcome = Box::pin(self.serve(operation, &request, &deadline, &mut log)).await;
        let request_id = request
            .lambda_context_ref()
            .map(|context| context.request_id.as_str())
            .unwrap_or_default();
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let tenant_id = log.tenant_id.as_deref().unwrap_or_default();
        let provider = log.provider.unwrap_or_default();
        let webhook_id = log.webhook_id.as_deref().unwrap_or_default();
        let version_id = log.version_id.as_deref().unwrap_or_default();
        self.metrics.emit(&RequestMetrics {
            operation: operation.name(),
            outcome: outcome.as_ref().map_or_else(Error::code, |_| "ok"),
            latency_ms,
            secrets_manager_calls: deadline.calls(),
            cache_hit: log.cache_hit,
            tenant_id,
            request_id,
            webhook_id,
        });
        match outcome {
            Ok((status, body)) => {
                tracing::info!(
                    operation = operation.name(),
                    tenant_id,
                    provider,
                    status = status.as_u16(),
                    outcome = "ok",
                    latency_ms,
                    request_id,
                    webhook_id,
                    version_id,
                    "request served"
                );
                respond(status, "application/json", body)
            }
            Err(err) => {
                let status = err.status();
                let cause = match &err {
                    Error::Internal(cause) => cause.as_str(),
                    _ => "",
                };
                let log_message = "request refused";
                if status.is_server_error() {
                    tracing::error!(operation = operation.name(), tenant_id, provider, status = status.as_u16(), outcome = err.code(), detail = %err.detail(), cause, latency_ms, request_id, webhook_id, "{log_message}");
                } else {
                    tracing::info!(operation = operation.name(), tenant_id, provider, status = status.as_u16(), outcome = err.code(), detail = %err.detail(), latency_ms, request_id, webhook_id, "{log_message}");
                }
                problem(&err)
            }
        }
    }

    async fn serve(
        &self,
        operation: Operation,
        request: &Request,
        deadline: &Deadline,
        log: &mut LogFields,
    ) -> Result<(StatusCode, Value), Error> {
        if request.method() != http::Method::POST {
            return Err(Error::MethodNotAllowed);
        }
        let body: &[u8] = request.body().as_ref();
        if body.len() > MAX_BODY_BYTES {
            return Err(Error::PayloadTooLarge);
        }
        let webhook_id = self.keys.verify(deadline, request.headers(), body).await?;
        log.webhook_id = Some(webhook_id.as_str().to_owned());
        match operation {
            Operation::ConnectIntegration => {
                let request = ConnectRequest::parse(body)?;
                log.tenant_id = Some(request.tenant.as_str().to_owned());
                log.provider = Some(request.provider.id);
                let checker = self.checker(request.verify)?;
                let written =
                    ops::connect(&self.store, deadline, &request, &webhook_id, checker).await?;
                log.version_id = Some(written.version_id.clone());
                let status = if written.created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                Ok((
                    status,
                    written_body(request.tenant.as_str(), request.provider.id, written),
                ))
            }
            Operation::FetchKey => {
                let request = FetchRequest::parse(body)?;
                log.tenant_id = Some(request.tenant.as_str().to_owned());
                log.provider = Some(request.provider.id);
                let fetched = ops::fetch(&self.store, &self.cache, deadline, &request).await?;
                log.version_id = Some(fetched.version_id.clone());
                log.cache_hit = Some(fetched.from_cache);
                Ok((
                    StatusCode::OK,
                    json!({
                        "tenantId": request.tenant.as_str(),
                        "provider": request.provider.id,
                        "versionId": fetched.version_id,
                        "credentials": fetched.credentials.view(request.view),
                    }),
                ))
            }
            Operation::UpdateKey => {
                let request = UpdateRequest::parse(body)?;
                log.tenant_id = Some(request.tenant.as_str().to_owned());
                log.provider = Some(request.provider.id);
                let checker = self.checker(request.verify)?;
                let written =
                    ops::update(&self.store, deadline, &request, &webhook_id, checker).await?;
                log.version_id = Some(written.version_id.clone());
                Ok((
                    StatusCode::OK,
                    written_body(request.tenant.as_str(), request.provider.id, written),
                ))
            }
            Operation::DisconnectIntegration => {
                let request = DisconnectRequest::parse(body)?;
                log.tenant_id = Some(request.tenant.as_str().to_owned());
                if let Target::One(provider) = request.target {
                    log.provider = Some(provider.id);
                }
                let disconnected = ops::disconnect(
                    &self.store,
                    deadline,
                    &self.disconnect_policy,
                    &request,
                    &webhook_id,
                )
                .await?;
                let tenant_id = request.tenant.as_str();
                let body = match request.target {
                    Target::One(_) => disconnected
                        .first()
                        .map(|one| {
                            json!({
                                "tenantId": tenant_id,
                                "provider": one.provider.id,
                                "deletionDate": one.deletion_date,
                                "purged": one.purged,
                            })
                        })
                        .ok_or_else(|| Error::Internal("disconnect answered nothing".into()))?,
                    Target::AllProviders => json!({
                        "tenantId": tenant_id,
                        "integrations": disconnected
                            .iter()
                            .map(|one| json!({
                                "provider": one.provider.id,
                                "deletionDate": one.deletion_date,
                                "purged": one.purged,
                            }))
                            .collect::<Vec<_>>(),
                    }),
                };
                Ok((StatusCode::OK, body))
            }
            Operation::ListIntegrations => {
                let request = ListRequest::parse(body)?;
                log.tenant_id = Some(request.tenant.as_str().to_owned());
                let integrations = ops::list(&self.store, deadline, &request).await?;
                let integrations: Vec<Value> = integrations
                    .iter()
                    .map(|integration| {
                        let mut entry = json!({
                            "provider": integration.provider.id,
                            "status": if integration.deletion_date.is_some() { "disconnected" } else { "connected" },
                            "versionId": integration.version_id,
                            "createdDate": integration.created_date,
                            "lastChangedDate": integration.last_changed_date,
                        });
                        if let Some(date) = &integration.deletion_date {
                            entry["deletionDate"] = json!(date);
                        }
                        entry
                    })
                    .collect();
                Ok((
                    StatusCode::OK,
                    json!({"tenantId": request.tenant.as_str(), "integrations": integrations}),
                ))
            }
        }
    }
}

/// The answer of connect and update: the credentials only masked; `verified` only when the
/// request asked to verify.
fn written_body(tenant_id: &str, provider: &str, written: Written) -> Value {
    let mut body = json!({
        "tenantId": tenant_id,
        "provider": provider,
        "versionId": written.version_id,
        "created": written.created,
        "changed": written.changed,
        "restored": written.restored,
        "credentials": written.credentials.view(View::Masked),
    });
    if written.verified {
        body["verified"] = json!(true);
    }
    body
}

/// The one mapping of an error to its `application/problem+json` response (RFC 9457).
pub fn problem(err: &Error) -> Response<Body> {
    let mut body = json!({
        "type": format!("urn:tenant-keys:problem:{}", err.code()),
        "title": err.title(),
        "status": err.status().as_u16(),
        "detail": err.detail(),
        "code": err.code(),
    });
    if let Error::ScheduledForDeletion { deletion_date } = err {
        body["deletionDate"] = json!(deletion_date);
    }
    let mut response = respond(err.status(), "application/problem+json", body);
    let headers = response.headers_mut();
    match err {
        Error::MethodNotAllowed => {
            headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        Error::UpstreamUnavailable | Error::ProviderUnavailable { .. } => {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        Error::TooManyWrites => {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(QUOTA_RETRY_AFTER_SECONDS),
            );
        }
        _ => {}
    }
    response
}

fn respond(status: StatusCode, content_type: &'static str, body: Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(response: &Response<Body>) -> Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[test]
    fn problems_carry_the_documented_shape_and_headers() {
        let response = problem(&Error::UpstreamUnavailable);
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "2");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body = body_of(&response);
        assert_eq!(body["code"], "upstream_unavailable");
        assert_eq!(body["status"], 503);
        for key in ["type", "title", "detail"] {
            assert!(body[key].is_string(), "{key}");
        }
        assert_eq!(problem(&Error::MethodNotAllowed).headers()["allow"], "POST");
        assert_eq!(
            problem(&Error::TooManyWrites).headers()["retry-after"],
            "3600"
        );
        let deleted = problem(&Error::ScheduledForDeletion {
            deletion_date: "2026-12-07T00:00:00Z".into(),
        });
        assert_eq!(deleted.status(), 404);
        assert_eq!(body_of(&deleted)["code"], "not_found");
        assert_eq!(body_of(&deleted)["deletionDate"], "2026-12-07T00:00:00Z");
    }

    #[test]
    fn internal_errors_do_not_leak_their_cause() {
        let response = problem(&Error::Internal("AccessDenied for arn:aws:iam::123".into()));
        assert_eq!(response.status(), 500);
        assert!(!body_of(&response).to_string().contains("arn:aws"));
    }

    #[test]
    fn every_code_maps_to_its_documented_status() {
        let cases = [
            (Error::MethodNotAllowed, 405),
            (Error::PayloadTooLarge, 413),
            (Error::Unauthorized, 401),
            (Error::InvalidJson, 400),
            (Error::InvalidRequest(String::new()), 400),
            (Error::InvalidTenantId(String::new()), 400),
            (Error::UnknownProvider(String::new()), 400),
            (Error::InvalidCredentials(String::new()), 400),
            (Error::NotFound(String::new()), 404),
            (Error::VersionConflict(String::new()), 409),
            (Error::IdempotencyConflict, 409),
            (Error::PurgeDisabled, 403),
            (Error::SecretUnavailable, 409),
            (Error::TooManyWrites, 429),
            (
                Error::CredentialsRejected {
                    provider: "vapi",
                    field: "privateApiKey",
                },
                422,
            ),
            (Error::ProviderUnavailable { provider: "vapi" }, 503),
            (Error::InvalidStoredValue, 500),
            (Error::UpstreamUnavailable, 503),
            (Error::Internal(String::new()), 500),
        ];
        for (err, status) in &cases {
            assert_eq!(problem(err).status(), *status, "{}", err.code());
            assert!(
                crate::error::CODES.contains(&(*status, err.code())),
                "{} is not in error::CODES",
                err.code()
            );
        }
        // And every listed code is some error's.
        for (status, code) in crate::error::CODES {
            assert!(
                cases
                    .iter()
                    .any(|(err, s)| *s == status && err.code() == code),
                "{code} is listed but no error has it"
            );
        }
    }
}
