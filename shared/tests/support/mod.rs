//! Helpers of the handler tests: a client and an `App` pointed at the moto server that
//! `scripts/test` starts on a free loopback port and names in `TENANT_KEYS_TEST_SM_ENDPOINT`
//! (without it the tests fail), signed requests, and calls.
#![allow(dead_code)] // each test binary uses its own part of the helpers

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_secretsmanager::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_secretsmanager::error::BoxError;
use lambda_http::{Body, Request};
use serde_json::{Value, json};
use standardwebhooks::Webhook;
use tenant_keys::auth::SigningKeys;
use tenant_keys::cache::ReadCache;
use tenant_keys::store::SecretStore;
use tenant_keys::{App, Operation};

pub const SIGNING_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
pub const PUBLIC_KEY: &str = "pk-live-1111-2222-3333-4444";
pub const PRIVATE_KEY: &str = "sk-live-aaaa-bbbb-cccc-dddd";

pub use moto::endpoint;

/// A client for `endpoint` with the functions' own retry policy.
pub fn client_for(endpoint: &str) -> Client {
    moto::client_for(endpoint, tenant_keys::config::retry_config())
}

pub fn client() -> Client {
    client_for(&endpoint())
}

/// An app without read cache (the handler tests mix writes and reads in one app, which the
/// functions never do: fetch-key runs in containers of its own).
pub fn app_for(endpoint: &str) -> App {
    App::new(
        SecretStore::new(client_for(endpoint)),
        SigningKeys::parse(SIGNING_SECRET).unwrap(),
        ReadCache::disabled(),
    )
}

/// An app whose client records every Secrets Manager action it sends, with the given cache.
pub fn recording_app(cache: ReadCache) -> (App, ActionRecorder) {
    recording_app_with_kms_key(cache, None)
}

/// [`recording_app`] whose store creates new secrets with the KMS key `kms_key_id`.
pub fn recording_app_with_kms_key(
    cache: ReadCache,
    kms_key_id: Option<&str>,
) -> (App, ActionRecorder) {
    let recorder = ActionRecorder::default();
    let client = Client::from_conf(
        client()
            .config()
            .to_builder()
            .interceptor(recorder.clone())
            .build(),
    );
    let keys = SigningKeys::parse(SIGNING_SECRET).unwrap();
    let store = SecretStore::new(client).with_kms_key(kms_key_id.map(str::to_owned));
    (App::new(store, keys, cache), recorder)
}

/// One request a client sent: its IAM action and its parameters, without the secret's value.
#[derive(Debug, Clone)]
pub struct RecordedCall {
    /// E.g. `secretsmanager:GetSecretValue`.
    pub action: String,
    /// The request's JSON body with `SecretString` and `SecretBinary` removed.
    pub parameters: Value,
}

/// Records the IAM action (and parameters) of every call a client sends, in order.
#[derive(Debug, Clone, Default)]
pub struct ActionRecorder(Arc<Mutex<Vec<RecordedCall>>>);

impl ActionRecorder {
    /// Every action recorded so far, in order, e.g. `secretsmanager:GetSecretValue`.
    pub fn actions(&self) -> Vec<String> {
        self.calls().into_iter().map(|call| call.action).collect()
    }

    /// Every call recorded so far, in order.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.0.lock().unwrap().clone()
    }

    /// How many times `action` (without the `secretsmanager:` prefix) was called.
    pub fn count(&self, action: &str) -> usize {
        let action = format!("secretsmanager:{action}");
        self.actions().iter().filter(|a| **a == action).count()
    }
}

impl Intercept for ActionRecorder {
    fn name(&self) -> &'static str {
        "ActionRecorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        if let Some(target) = request.headers().get("x-amz-target") {
            let action = target.trim_start_matches("secretsmanager.");
            let mut parameters: Value =
                serde_json::from_slice(request.body().bytes().unwrap_or_default())?;
            if let Some(fields) = parameters.as_object_mut() {
                fields.remove("SecretString");
                fields.remove("SecretBinary");
            }
            let mut called = self.0.lock().unwrap();
            called.push(RecordedCall {
                action: format!("secretsmanager:{action}"),
                parameters: parameters.clone(),
            });
            // IAM asks for TagResource as well when CreateSecret carries tags.
            if action == "CreateSecret" && parameters.get("Tags").is_some() {
                called.push(RecordedCall {
                    action: "secretsmanager:TagResource".to_owned(),
                    parameters,
                });
            }
        }
        Ok(())
    }
}

pub fn app() -> App {
    app_for(&endpoint())
}

/// A tenant id no other test (or earlier run against the same moto) uses.
pub fn new_tenant() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("org_{nanos:x}{:x}", rand_suffix())
}

pub fn rand_suffix() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn signed_with(
    method: &str,
    body: &str,
    webhook_id: &str,
    timestamp: i64,
    secret: &str,
) -> Request {
    let signature = Webhook::new(secret)
        .unwrap()
        .sign(webhook_id, timestamp, body.as_bytes())
        .unwrap();
    http::Request::builder()
        .method(method)
        .uri("https://example.com/")
        .header("content-type", "application/json")
        .header("webhook-id", webhook_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(Body::from(body.to_owned()))
        .unwrap()
}

/// `request` as the Lambda runtime hands it over when the invocation's deadline is `budget` away.
pub fn with_deadline_in(request: Request, budget: std::time::Duration) -> Request {
    use lambda_http::RequestExt;
    use lambda_http::lambda_runtime::Context;
    let deadline_ms = (SystemTime::now() + budget)
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    #[allow(clippy::field_reassign_with_default)] // Context is non-exhaustive
    let context = {
        let mut context = Context::default();
        context.deadline = deadline_ms;
        context
    };
    request.with_lambda_context(context)
}

pub fn signed(body: &Value, webhook_id: &str) -> Request {
    signed_with("POST", &body.to_string(), webhook_id, now(), SIGNING_SECRET)
}

pub fn new_webhook_id() -> String {
    format!("msg_{}", new_tenant())
}

pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    /// The body as JSON (`null` when it is not JSON: a provider's answer through call-provider).
    pub body: Value,
    /// The body's bytes.
    pub raw: Vec<u8>,
}

pub async fn call_with(app: &App, operation: Operation, request: Request) -> Answer {
    let response = app.handle(operation, request).await;
    let raw = response.body().as_ref().to_vec();
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
        raw,
    }
}

pub async fn call(app: &App, operation: Operation, body: Value) -> Answer {
    call_with(app, operation, signed(&body, &new_webhook_id())).await
}

pub fn vapi_connect(tenant: &str) -> Value {
    json!({"tenantId": tenant, "provider": "vapi",
           "credentials": {"publicApiKey": PUBLIC_KEY, "privateApiKey": PRIVATE_KEY}})
}

pub async fn connected_tenant(app: &App) -> (String, String) {
    let tenant = new_tenant();
    let answer = call(app, Operation::ConnectIntegration, vapi_connect(&tenant)).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    (
        tenant,
        answer.body["versionId"].as_str().unwrap().to_owned(),
    )
}

pub async fn fetch(app: &App, tenant: &str, extra: Value) -> Answer {
    let mut body = json!({"tenantId": tenant, "provider": "vapi"});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    call(app, Operation::FetchKey, body).await
}

/// Writes `value` as the secret `tenant/<tenant>/vapi` directly, as another writer (Echo) would.
pub async fn store_raw_vapi_value(tenant: &str, value: &str) {
    client()
        .create_secret()
        .name(format!("tenant/{tenant}/vapi"))
        .secret_string(value)
        .send()
        .await
        .expect("CreateSecret on moto");
}

pub async fn version_count(name: &str) -> usize {
    moto::version_count(&client(), name).await
}
