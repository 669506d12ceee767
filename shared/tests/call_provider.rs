//! call-provider against a mock provider on loopback (`PROVIDER_API_BASE_URL_*`) and moto: the
//! exact request the provider receives for each way a key is sent (the key put in, the caller's
//! own auth headers refused), every refusal of a request that could leave the provider's API, a
//! redirect passed back and not followed, a key echoed by the provider redacted, a rotated key
//! used at once, answers that cannot be passed on, and the full view kept in. One test, its
//! scenarios in turn: the base URLs are process-wide.

mod support;

use std::time::Duration;

use moto::provider::{MockProvider, Mode};
use serde_json::{Value, json};
use support::*;
use tenant_keys::cache::ReadCache;
use tenant_keys::provider::PROVIDERS;
use tenant_keys::store::SecretStore;
use tenant_keys::{App, Operation};

async fn connect(app: &App, tenant: &str, provider: &str, credentials: Value) {
    let answer = call(
        app,
        Operation::ConnectIntegration,
        json!({"tenantId": tenant, "provider": provider, "credentials": credentials}),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
}

fn request(tenant: &str, provider: &str, method: &str, path: &str) -> Value {
    json!({"tenantId": tenant, "provider": provider, "method": method, "path": path})
}

async fn call_provider(app: &App, body: Value) -> Answer {
    call(app, Operation::CallProvider, body).await
}

#[tokio::test]
async fn call_provider_puts_the_key_in_and_passes_back_only_the_providers_answer() {
    let provider = MockProvider::start(Mode::Accept).await;
    // SAFETY of the test: this binary's only test sets these before any request is made.
    unsafe {
        for built_in in PROVIDERS {
            let id = built_in.id.to_ascii_uppercase();
            std::env::set_var(format!("PROVIDER_API_BASE_URL_{id}"), provider.url());
        }
    }
    let app = app();

    // Each way of sending the key: the exact request the provider received.
    let tenant = new_tenant();
    connect(
        &app,
        &tenant,
        "vapi",
        json!({"publicApiKey": "pk-call-0001", "privateApiKey": "sk-call-vapi-0001"}),
    )
    .await;
    let mut body = request(&tenant, "vapi", "POST", "/assistant");
    body["query"] = json!({"limit": 2, "name": "a b&c"});
    body["headers"] = json!({"X-Trace": "t-1"});
    body["body"] = json!({"name": "Support"});
    let answer = call_provider(&app, body).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.headers["tenant-keys-provider"], "vapi");
    assert!(answer.headers.contains_key("tenant-keys-version-id"));
    let sent = provider.received().pop().unwrap();
    assert_eq!(
        (sent.method.as_str(), sent.target.as_str()),
        ("POST", "/assistant?limit=2&name=a%20b%26c")
    );
    assert_eq!(
        sent.authorization.as_deref(),
        Some("Bearer sk-call-vapi-0001")
    );
    assert_eq!(sent.header("x-trace"), Some("t-1"));
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(sent.header("accept-encoding"), Some("identity"));
    assert_eq!(sent.body, br#"{"name":"Support"}"#);

    let styles = [
        (
            "anthropic",
            json!({"apiKey": "sk-ant-call-0002"}),
            "/v1/models",
            vec![
                ("x-api-key", "sk-ant-call-0002"),
                ("anthropic-version", "2023-06-01"),
            ],
        ),
        (
            "deepgram",
            json!({"apiKey": "dg-call-0003"}),
            "/v1/projects",
            vec![("authorization", "Token dg-call-0003")],
        ),
        (
            "twilio",
            json!({"accountSid": "AC0123456789abcdef0123456789abcdef", "authToken": "tw-call-0004"}),
            "/2010-04-01/Accounts.json",
            // base64("AC0123456789abcdef0123456789abcdef:tw-call-0004")
            vec![(
                "authorization",
                "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjp0dy1jYWxsLTAwMDQ=",
            )],
        ),
        (
            "gemini",
            json!({"apiKey": "AIza-call-0005"}),
            "/v1beta/models",
            vec![("x-goog-api-key", "AIza-call-0005")],
        ),
        (
            "elevenlabs",
            json!({"apiKey": "el-call-0006"}),
            "/v1/voices",
            vec![("xi-api-key", "el-call-0006")],
        ),
    ];
    for (id, credentials, path, expected) in styles {
        let tenant = new_tenant();
        connect(&app, &tenant, id, credentials).await;
        let answer = call_provider(&app, request(&tenant, id, "GET", path)).await;
        assert_eq!(answer.status, 200, "{id}: {}", answer.body);
        let sent = provider.received().pop().unwrap();
        assert_eq!(sent.target, path, "{id}");
        for (name, value) in expected {
            assert_eq!(sent.header(name), Some(value), "{id}: {name}");
        }
        if id != "deepgram" && id != "twilio" {
            assert_eq!(sent.header("authorization"), None, "{id}");
        }
    }

    // Refusals: nothing reaches the provider, and the answer is tenant-keys' own problem.
    let before = provider.received().len();
    let refused = [
        request(&tenant, "vapi", "GET", "/../admin"),
        request(&tenant, "vapi", "GET", "//evil.example/x"),
        request(&tenant, "vapi", "GET", "/%2e%2e/admin"),
        request(&tenant, "vapi", "GET", "/a%2Fb"),
        request(&tenant, "vapi", "GET", "/a\\b"),
        request(&tenant, "vapi", "GET", "/@evil.example"),
        request(&tenant, "vapi", "GET", "https://evil.example/"),
        request(&tenant, "vapi", "TRACE", "/assistant"),
        request(&tenant, "openai", "GET", "/v2/models"),
        json!({"tenantId": tenant, "provider": "vapi", "method": "GET", "path": "/assistant",
               "headers": {"Authorization": "Bearer mine"}}),
        json!({"tenantId": tenant, "provider": "vapi", "method": "GET", "path": "/assistant",
               "headers": {"cookie": "a=b"}}),
        json!({"tenantId": tenant, "provider": "vapi", "method": "GET", "path": "/assistant",
               "headers": {"host": "evil.example"}}),
        json!({"tenantId": tenant, "provider": "vapi", "method": "GET", "path": "/assistant",
               "headers": {"connection": "close"}}),
    ];
    for body in refused {
        let answer = call_provider(&app, body.clone()).await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
        assert!(
            answer.body["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("urn:tenant-keys:problem:")),
            "{body}"
        );
        assert!(!answer.headers.contains_key("tenant-keys-provider"));
    }
    assert_eq!(
        provider.received().len(),
        before,
        "a refused call reached the provider"
    );

    // Not connected, and disconnected: 404 as fetch-key answers, nothing sent.
    let answer = call_provider(&app, request(&new_tenant(), "vapi", "GET", "/assistant")).await;
    assert_eq!(
        (answer.status, answer.body["code"].as_str()),
        (404, Some("not_found"))
    );
    let gone = new_tenant();
    connect(
        &app,
        &gone,
        "vapi",
        json!({"publicApiKey": "pk-call-0007", "privateApiKey": "sk-call-0007"}),
    )
    .await;
    let disconnected = call(
        &app,
        Operation::DisconnectIntegration,
        json!({"tenantId": gone, "provider": "vapi"}),
    )
    .await;
    assert_eq!(disconnected.status, 200);
    let answer = call_provider(&app, request(&gone, "vapi", "GET", "/assistant")).await;
    assert_eq!(answer.status, 404);
    assert!(answer.body["deletionDate"].is_string(), "{}", answer.body);
    assert_eq!(provider.received().len(), before);

    // A redirect is passed back as the provider's answer, not followed.
    provider.set(Mode::Answer {
        status: 302,
        headers: vec![("location".into(), "http://127.0.0.1:9/elsewhere".into())],
        body: Vec::new(),
    });
    let answer = call_provider(&app, request(&tenant, "vapi", "GET", "/assistant")).await;
    assert_eq!(answer.status, 302);
    assert_eq!(answer.headers["location"], "http://127.0.0.1:9/elsewhere");
    assert_eq!(
        provider.received().len(),
        before + 1,
        "the redirect was followed"
    );

    // The key echoed in the body and in a header is replaced by ****; other headers are dropped.
    provider.set(Mode::Answer {
        status: 200,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-ratelimit-remaining".into(), "sk-call-vapi-0001".into()),
            ("set-cookie".into(), "session=1".into()),
        ],
        body: br#"{"token":"sk-call-vapi-0001","public":"pk-call-0001"}"#.to_vec(),
    });
    let answer = call_provider(&app, request(&tenant, "vapi", "GET", "/assistant")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body,
        json!({"token": "****", "public": "pk-call-0001"})
    );
    assert_eq!(answer.headers["x-ratelimit-remaining"], "****");
    assert!(!answer.headers.contains_key("set-cookie"));

    // An answer the redaction cannot read, or too large to pass on: 502, nothing of it passed.
    provider.set(Mode::Answer {
        status: 200,
        headers: vec![("content-encoding".into(), "gzip".into())],
        body: b"\x1f\x8b-not-really".to_vec(),
    });
    let answer = call_provider(&app, request(&tenant, "vapi", "GET", "/assistant")).await;
    assert_eq!(
        (answer.status, answer.body["code"].as_str()),
        (502, Some("provider_answer_unusable"))
    );
    provider.set(Mode::Answer {
        status: 200,
        headers: Vec::new(),
        body: vec![b'a'; 4 * 1024 * 1024 + 1],
    });
    let answer = call_provider(&app, request(&tenant, "vapi", "GET", "/assistant")).await;
    assert_eq!(answer.status, 502, "{}", answer.body);

    // A provider that does not answer: 503 provider_unavailable with Retry-After.
    provider.set(Mode::Drop);
    let answer = call_provider(&app, request(&tenant, "vapi", "GET", "/assistant")).await;
    assert_eq!(
        (answer.status, answer.body["code"].as_str()),
        (503, Some("provider_unavailable"))
    );
    assert_eq!(answer.headers["retry-after"], "2");

    // A key rotated while a container has the old one cached works at once: the provider's 401
    // makes one fresh read, and the call is made again with the new key.
    let cached = App::new(
        SecretStore::new(client()),
        tenant_keys::auth::SigningKeys::parse(SIGNING_SECRET).unwrap(),
        ReadCache::new(Duration::from_secs(300), 100),
    );
    provider.set(Mode::RejectKeysContaining("sk-call-vapi-0001".into()));
    let _ = call_provider(&cached, request(&tenant, "vapi", "GET", "/assistant")).await;
    let rotated = call(
        &app,
        Operation::UpdateKey,
        json!({"tenantId": tenant, "provider": "vapi",
               "credentials": {"privateApiKey": "sk-call-vapi-rotated-0002"}}),
    )
    .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let seen = provider.received().len();
    let answer = call_provider(&cached, request(&tenant, "vapi", "GET", "/assistant")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.headers["tenant-keys-version-id"],
        rotated.body["versionId"].as_str().unwrap()
    );
    let tried: Vec<_> = provider.received()[seen..]
        .iter()
        .map(|r| r.authorization.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        tried,
        [
            "Bearer sk-call-vapi-0001",
            "Bearer sk-call-vapi-rotated-0002"
        ]
    );
    // A 401 with the current key is the provider's answer, passed back after one fresh read.
    provider.set(Mode::Status(401));
    let answer = call_provider(&cached, request(&tenant, "vapi", "GET", "/assistant")).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.headers["tenant-keys-provider"], "vapi");
    assert!(!String::from_utf8_lossy(&answer.raw).contains("rotated-0002"));

    // FullViewAllowed=false: fetch-key keeps non-public fields in; the masked and public views and
    // call-provider still work.
    provider.set(Mode::Accept);
    let kept_in = support::app().with_full_view_allowed(false);
    let full = fetch(&kept_in, &tenant, json!({})).await;
    assert_eq!(
        (full.status, full.body["code"].as_str()),
        (403, Some("full_view_disabled"))
    );
    assert!(!full.raw.windows(12).any(|w| w == b"rotated-0002"));
    for view in ["masked", "public"] {
        assert_eq!(
            fetch(&kept_in, &tenant, json!({"view": view})).await.status,
            200
        );
    }
    let answer = call_provider(&kept_in, request(&tenant, "vapi", "GET", "/assistant")).await;
    assert_eq!(answer.status, 200);
}
