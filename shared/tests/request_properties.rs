//! Property tests of the whole request path (method, size, signature, JSON, validation) over
//! generated requests: no input panics, every answer is a documented status and problem code,
//! and no rejected request reaches Secrets Manager. Secrets Manager here is an in-process fake
//! (`aws-smithy-mocks`) that answers "not found" to everything and counts the calls.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::body::SdkBody;
use lambda_http::{Body, Request};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value};
use standardwebhooks::Webhook;
use tenant_keys::auth::SigningKeys;
use tenant_keys::cache::ReadCache;
use tenant_keys::store::SecretStore;
use tenant_keys::{App, Operation};

const SIGNING_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const SIGNED_CASES: u32 = 10_000;
const UNSIGNED_CASES: u32 = 5_000;

/// Every status and problem code of the contract.
const DOCUMENTED: &[(u16, &str)] = &tenant_keys::error::CODES;

fn not_found() -> HttpResponse {
    let body = r#"{"__type":"ResourceNotFoundException","message":"not found"}"#;
    let mut response = HttpResponse::new(400.try_into().unwrap(), SdkBody::from(body));
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.1");
    response
}

/// An app whose Secrets Manager answers "not found" to every call, and the rules counting them.
fn app_with_counting_store() -> (App, Vec<Rule>) {
    let rules = vec![
        mock!(Client::get_secret_value).then_http_response(not_found),
        mock!(Client::describe_secret).then_http_response(not_found),
        mock!(Client::create_secret).then_http_response(not_found),
        mock!(Client::put_secret_value).then_http_response(not_found),
        mock!(Client::update_secret_version_stage).then_http_response(not_found),
        mock!(Client::delete_secret).then_http_response(not_found),
        mock!(Client::restore_secret).then_http_response(not_found),
    ];
    let client: Client = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, &rules);
    let app = App::new(
        SecretStore::new(client),
        SigningKeys::parse(SIGNING_SECRET).unwrap(),
        ReadCache::disabled(),
    );
    (app, rules)
}

fn calls(rules: &[Rule]) -> usize {
    rules.iter().map(Rule::num_calls).sum()
}

/// Strings that probe the validation rules: ids, providers, traversal, encodings, controls, long.
fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "org_[A-Za-z0-9_-]{0,20}",
        Just("vapi".to_owned()),
        Just("openai".to_owned()),
        Just("full".to_owned()),
        Just("public".to_owned()),
        Just("masked".to_owned()),
        Just("previous".to_owned()),
        Just("org_1/../org_2".to_owned()),
        Just("org_1/vapi".to_owned()),
        Just("org_1%2F..%2Forg_2".to_owned()),
        Just("org\u{2215}1".to_owned()),
        Just(" sk-live-padded ".to_owned()),
        "[a-zA-Z0-9]{120,140}",
        "\\PC{0,12}",
        any::<String>(),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("tenantId".to_owned()),
        Just("provider".to_owned()),
        Just("credentials".to_owned()),
        Just("view".to_owned()),
        Just("version".to_owned()),
        Just("refresh".to_owned()),
        Just("maxAgeSeconds".to_owned()),
        Just("versionId".to_owned()),
        Just("allProviders".to_owned()),
        Just("purge".to_owned()),
        Just("expectedVersionId".to_owned()),
        Just("publicApiKey".to_owned()),
        Just("privateApiKey".to_owned()),
        Just("apiKey".to_owned()),
        "[a-zA-Z]{1,8}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        tricky_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A body: mostly JSON objects over the request's vocabulary, sometimes raw bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..200),
        1 => Just(vec![b' '; 64 * 1024 + 1]),
    ]
}

fn operation() -> impl Strategy<Value = Operation> {
    prop::sample::select(Operation::ALL.to_vec())
}

fn request(method: &str, headers: &[(&str, String)], body: Vec<u8>) -> Request {
    let mut builder = http::Request::builder()
        .method(method)
        .uri("https://example.com/");
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    builder.body(Body::from(body)).unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Runs one request and checks the answer is documented; returns (status, code).
fn answer(
    runtime: &tokio::runtime::Runtime,
    app: &App,
    operation: Operation,
    request: Request,
) -> (u16, String) {
    let response = runtime.block_on(app.handle(operation, request));
    let status = response.status().as_u16();
    if status >= 400 {
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        let code = body["code"].as_str().unwrap().to_owned();
        assert!(
            DOCUMENTED.contains(&(status, code.as_str())),
            "undocumented {status} {code}"
        );
        assert_eq!(body["status"], status);
        (status, code)
    } else {
        (status, String::new())
    }
}

#[test]
fn signed_requests_never_panic_and_rejected_ones_never_reach_secrets_manager() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let signer = Webhook::new(SIGNING_SECRET).unwrap();
    let mut runner = TestRunner::new(Config::with_cases(SIGNED_CASES));
    runner
        .run(
            &(operation(), body(), "[a-zA-Z0-9_]{1,30}"),
            |(operation, body, id)| {
                let (app, rules) = app_with_counting_store();
                let timestamp = now();
                let headers = match signer.sign(&id, timestamp, &body) {
                    Ok(signature) => vec![
                        ("webhook-id", id.clone()),
                        ("webhook-timestamp", timestamp.to_string()),
                        ("webhook-signature", signature),
                    ],
                    Err(_) => Vec::new(), // not UTF-8: cannot be signed
                };
                let (status, code) =
                    answer(&runtime, &app, operation, request("POST", &headers, body));
                // Nothing exists in the fake store: only the (empty) lists of list-integrations
                // and of an allProviders disconnect can succeed.
                let lists = matches!(
                    operation,
                    Operation::ListIntegrations | Operation::DisconnectIntegration
                );
                prop_assert!(
                    status != 201 && (status != 200 || lists),
                    "nothing exists in the fake store"
                );
                if matches!(status, 400 | 401 | 405 | 413) {
                    prop_assert_eq!(
                        calls(&rules),
                        0,
                        "{} {} reached Secrets Manager",
                        status,
                        code
                    );
                }
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn unsigned_or_forged_requests_are_refused_before_secrets_manager() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let method = prop_oneof![Just("POST"), Just("GET"), Just("PUT"), Just("DELETE")];
    let header = prop::option::of("[ -~]{0,60}");
    let mut runner = TestRunner::new(Config::with_cases(UNSIGNED_CASES));
    runner
        .run(
            &(
                operation(),
                method,
                body(),
                header.clone(),
                header.clone(),
                header,
            ),
            |(operation, method, body, id, timestamp, signature)| {
                let (app, rules) = app_with_counting_store();
                let headers: Vec<(&str, String)> = [
                    ("webhook-id", id),
                    ("webhook-timestamp", timestamp),
                    ("webhook-signature", signature),
                ]
                .into_iter()
                .filter_map(|(name, value)| value.map(|v| (name, v)))
                .collect();
                let (status, _) =
                    answer(&runtime, &app, operation, request(method, &headers, body));
                prop_assert!(matches!(status, 401 | 405 | 413), "{}", status);
                prop_assert_eq!(calls(&rules), 0);
                Ok(())
            },
        )
        .unwrap();
}
