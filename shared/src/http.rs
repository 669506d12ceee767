//! The HTTP edge: method and size checks, authentication, dispatch to the operations, and the
//! one place where an answer ([`crate::answers`]) or an [`Error`] becomes a response. Each request
//! ends in exactly one JSON log line (the audit trail: operation, tenant, provider, outcome,
//! request id, `webhook-id`, version read or written) and one metrics line.

use std::time::Instant;

use http::{HeaderMap, HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use crate::Error;
use crate::answers::{
    DisconnectAllAnswer, DisconnectedEntry, FetchAnswer, ListAnswer, Problem, WriteAnswer,
};
use crate::app::App;
use crate::auth::WebhookId;
use crate::call_request::CallRequest;
use crate::credentials::View;
use crate::deadline::{Deadline, FALLBACK_BUDGET};
use crate::metrics::{ProviderCall, RequestMetrics};
use crate::operation::Operation;
use crate::ops::{self, Called};
use crate::request::{
    ConnectRequest, DisconnectRequest, FetchRequest, ListRequest, Target, UpdateRequest,
};

/// Seconds a caller is asked to wait after `upstream_unavailable`.
const RETRY_AFTER_SECONDS: &str = "2";
/// Seconds a caller is asked to wait after `too_many_writes`: AWS's version quota frees up as
/// versions turn 24 hours old, so nothing helps within minutes; an hour is the least honest wait.
const QUOTA_RETRY_AFTER_SECONDS: &str = "3600";

/// What the log and metrics lines may say of a request: only validated ids, never values.
#[derive(Default)]
struct LogFields {
    tenant_id: Option<String>,
    provider: Option<&'static str>,
    /// The caller's `webhook-id`, once the signature is verified.
    webhook_id: Option<String>,
    /// The version read or written.
    version_id: Option<String>,
    /// fetch-key, call-provider: whether the value came from the cache.
    cache_hit: Option<bool>,
    /// call-provider: what was called, and how the provider answered.
    call: Option<CallLog>,
}

/// What the log line says of a call-provider call: the method, the path, the query's names
/// (never its values, nor headers or bodies), the provider's status and time.
struct CallLog {
    method: &'static str,
    path: String,
    query: Vec<String>,
    provider_status: Option<u16>,
    provider_ms: Option<f64>,
}

/// A successful answer: its status, headers and body.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Body,
}

impl Answer {
    /// A JSON answer of tenant-keys' own.
    fn new(status: StatusCode, body: &impl Serialize) -> Result<Answer, Error> {
        let body = serde_json::to_string(body)
            .map_err(|err| Error::Internal(format!("an answer did not serialize: {err}")))?;
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Ok(Answer {
            status,
            headers,
            body: Body::Text(body),
        })
    }

    /// The provider's answer to a call, marked as the provider's: `tenant-keys-provider` names
    /// it (tenant-keys' own refusals never carry that header, and are problem+json with a
    /// `urn:tenant-keys:problem:` type), and `tenant-keys-version-id` is the key's version.
    fn from_provider(provider: &'static str, called: Called) -> Answer {
        let mut headers = called.headers;
        headers.insert(PROVIDER_HEADER, HeaderValue::from_static(provider));
        if let Ok(version) = HeaderValue::from_str(&called.version_id) {
            headers.insert(VERSION_HEADER, version);
        }
        let body = match String::from_utf8(called.body.to_vec()) {
            Ok(text) => Body::Text(text),
            Err(bytes) => Body::Binary(bytes.into_bytes()),
        };
        Answer {
            status: called.status,
            headers,
            body,
        }
    }
}

/// The header that marks an answer as the provider's (call-provider), naming the provider.
pub const PROVIDER_HEADER: &str = "tenant-keys-provider";
/// The header of a call-provider answer that names the version of the key used.
pub const VERSION_HEADER: &str = "tenant-keys-version-id";

impl App {
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
        let call = log.call.as_ref();
        let (call_method, call_path) = (call.map(|c| c.method), call.map(|c| c.path.as_str()));
        let call_query = call.map(|c| c.query.join(","));
        let provider_status = call.and_then(|c| c.provider_status);
        let provider_ms = call.and_then(|c| c.provider_ms);
        self.metrics.emit(&RequestMetrics {
            operation: operation.name(),
            outcome: outcome.as_ref().map_or_else(Error::code, |_| "ok"),
            latency_ms,
            secrets_manager_calls: deadline.calls(),
            cache_hit: log.cache_hit,
            provider_call: log
                .provider
                .filter(|_| call.is_some())
                .map(|provider| ProviderCall {
                    provider,
                    status: provider_status,
                    latency_ms: provider_ms,
                }),
            tenant_id,
            request_id,
            webhook_id,
        });
        match outcome {
            Ok(answer) => {
                tracing::info!(
                    operation = operation.name(),
                    tenant_id,
                    provider,
                    status = answer.status.as_u16(),
                    outcome = "ok",
                    latency_ms,
                    request_id,
                    webhook_id,
                    version_id,
                    call_method,
                    call_path,
                    call_query,
                    provider_status,
                    provider_ms,
                    "request served"
                );
                respond(answer.status, answer.headers, answer.body)
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
                    tracing::info!(operation = operation.name(), tenant_id, provider, status = status.as_u16(), outcome = err.code(), detail = %err.detail(), latency_ms, request_id, webhook_id, call_method, call_path, call_query, "{log_message}");
                }
                problem(&err)
            }
        }
    }

    /// The checks every request passes (method, size, signature), then the operation.
    async fn serve(
        &self,
        operation: Operation,
        request: &Request,
        deadline: &Deadline,
        log: &mut LogFields,
    ) -> Result<Answer, Error> {
        if request.method() != http::Method::POST {
            return Err(Error::MethodNotAllowed);
        }
        let body: &[u8] = request.body().as_ref();
        if body.len() > operation.max_body_bytes() {
            return Err(Error::PayloadTooLarge);
        }
        let webhook_id = self.keys.verify(deadline, request.headers(), body).await?;
        log.webhook_id = Some(webhook_id.as_str().to_owned());
        match operation {
            Operation::ConnectIntegration => self.connect(body, deadline, &webhook_id, log).await,
            Operation::FetchKey => self.fetch(body, deadline, log).await,
            Operation::UpdateKey => self.update(body, deadline, &webhook_id, log).await,
            Operation::DisconnectIntegration => {
                self.disconnect(body, deadline, &webhook_id, log).await
            }
            Operation::ListIntegrations => self.list(body, deadline, log).await,
            Operation::CallProvider => self.call(body, deadline, log).await,
        }
    }

    async fn call(
        &self,
        body: &[u8],
        deadline: &Deadline,
        log: &mut LogFields,
    ) -> Result<Answer, Error> {
        let request = CallRequest::parse(body)?;
        log.tenant_id = Some(request.tenant.as_str().to_owned());
        log.provider = Some(request.provider.id);
        log.call = Some(CallLog {
            method: request.method,
            path: request.path.clone(),
            query: request.query.iter().map(|(name, _)| name.clone()).collect(),
            provider_status: None,
            provider_ms: None,
        });
        let client = self.provider_client()?;
        let called = ops::call(&self.store, &self.cache, client, deadline, &request).await?;
        log.version_id = Some(called.version_id.clone());
        log.cache_hit = Some(called.from_cache);
        if let Some(call) = &mut log.call {
            call.provider_status = Some(called.status.as_u16());
            call.provider_ms = Some(called.provider_ms);
        }
        Ok(Answer::from_provider(request.provider.id, called))
    }

    async fn connect(
        &self,
        body: &[u8],
        deadline: &Deadline,
        webhook_id: &WebhookId,
        log: &mut LogFields,
    ) -> Result<Answer, Error> {
        let request = ConnectRequest::parse(body)?;
        log.tenant_id = Some(request.tenant.as_str().to_owned());
        log.provider = Some(request.provider.id);
        let checker = self.checker(request.verify)?;
        let written = ops::connect(&self.store, deadline, &request, webhook_id, checker).await?;
        log.version_id = Some(written.version_id.clone());
        let status = if written.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Answer::new(
            status,
            &WriteAnswer::new(&request.tenant, request.provider.id, written),
        )
    }

    async fn fetch(
        &self,
        body: &[u8],
        deadline: &Deadline,
        log: &mut LogFields,
    ) -> Result<Answer, Error> {
        let request = FetchRequest::parse(body)?;
        log.tenant_id = Some(request.tenant.as_str().to_owned());
        log.provider = Some(request.provider.id);
        let private_fields = request.provider.fields.iter().any(|field| !field.public);
        if request.view == View::Full && private_fields && !self.full_view_allowed {
            return Err(Error::FullViewDisabled {
                provider: request.provider.id,
            });
        }
        let fetched = ops::fetch(&self.store, &self.cache, deadline, &request).await?;
        log.version_id = Some(fetched.version_id.clone());
        log.cache_hit = Some(fetched.from_cache);
        Answer::new(
            StatusCode::OK,
            &FetchAnswer::new(&request.tenant, request.provider.id, fetched, request.view),
        )
    }

    async fn update(
        &self,
        body: &[u8],
        deadline: &Deadline,
        webhook_id: &WebhookId,
        log: &mut LogFields,
    ) -> Result<Answer, Error> {
        let request = UpdateRequest::parse(body)?;
        log.tenant_id = Some(request.tenant.as_str().to_owned());
        log.provider = Some(request.provider.id);
        let checker = self.checker(request.verify)?;
        let written = ops::update(&self.store, deadline, &request, webhook_id, checker).await?;
        log.version_id = Some(written.version_id.clone());
        Answer::new(
            StatusCode::OK,
            &WriteAnswer::new(&request.tenant, request.provider.id, written),
        )
    }

    async fn disconnect(
        &self,
        body: &[u8],
        deadline: &Deadline,
        webhook_id: &WebhookId,
        log: &mut LogFields,
    ) -> Result<Answer, Error> {
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
            webhook_id,
        )
        .await?;
        match request.target {
            Target::One(_) => {
                let one = disconnected
                    .into_iter()
                    .next()
                    .ok_or_else(|| Error::Internal("disconnect answered nothing".into()))?;
                Answer::new(
                    StatusCode::OK,
                    &DisconnectedEntry::one(&request.tenant, one),
                )
            }
            Target::AllProviders => Answer::new(
                StatusCode::OK,
                &DisconnectAllAnswer::new(&request.tenant, disconnected),
            ),
        }
    }

    async fn list(
        &self,
        body: &[u8],
        deadline: &Deadline,
        log: &mut LogFields,
    ) -> Result<Answer, Error> {
        let request = ListRequest::parse(body)?;
        log.tenant_id = Some(request.tenant.as_str().to_owned());
        let integrations = ops::list(&self.store, deadline, &request).await?;
        Answer::new(
            StatusCode::OK,
            &ListAnswer::new(&request.tenant, integrations),
        )
    }
}

/// The one mapping of an error to its `application/problem+json` response (RFC 9457).
pub fn problem(err: &Error) -> Response<Body> {
    // A struct of strings and numbers always serializes.
    let body = serde_json::to_string(&Problem::new(err)).unwrap_or_default();
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    let mut response = respond(err.status(), headers, Body::Text(body));
    let headers = response.headers_mut();
    match err {
        Error::MethodNotAllowed => {
            headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        Error::UpstreamUnavailable
        | Error::ProviderUnavailable { .. }
        | Error::ProviderUnreachable { .. } => {
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

/// A response with `headers` and `Cache-Control: no-store` (every answer may hold a tenant's
/// data).
fn respond(status: StatusCode, headers: HeaderMap, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

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
            (Error::ProviderUnreachable { provider: "vapi" }, 503),
            (Error::FullViewDisabled { provider: "vapi" }, 403),
            (
                Error::ProviderAnswerUnusable {
                    provider: "vapi",
                    why: "it is larger than 4 MiB",
                },
                502,
            ),
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
