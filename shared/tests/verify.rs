//! `"verify": true` against a mock provider on loopback (`PROVIDER_CHECK_BASE_URL_*`): the exact
//! request each check makes, each outcome of the check, and that nothing is stored when the key is
//! refused or cannot be checked. One test, its scenarios in turn: the base URLs are process-wide.

mod support;

use std::time::{Duration, Instant};

use moto::provider::{MockProvider, Mode, Received};
use serde_json::{Value, json};
use support::*;
use tenant_keys::Operation;
use tenant_keys::provider::PROVIDERS;

fn vapi_connect_verified(tenant: &str, private: &str) -> Value {
    let mut body = vapi_connect(tenant);
    body["credentials"]["privateApiKey"] = json!(private);
    body["verify"] = json!(true);
    body
}

async fn secret_exists(tenant: &str) -> bool {
    client()
        .describe_secret()
        .secret_id(format!("tenant/{tenant}/vapi"))
        .send()
        .await
        .is_ok()
}

fn assert_refused(answer: &Answer, status: u16, code: &str, key: &str) {
    assert_eq!(
        (answer.status, answer.body["code"].as_str()),
        (status, Some(code)),
        "{}",
        answer.body
    );
    assert!(
        !answer.body.to_string().contains(key),
        "the key in the answer"
    );
}

#[tokio::test]
async fn verify_checks_the_key_with_the_provider_before_anything_is_stored() {
    let provider = MockProvider::start(Mode::Accept).await;
    // SAFETY of the test: this binary's only test sets these before any request is made.
    unsafe {
        for built_in in PROVIDERS {
            let name = format!(
                "PROVIDER_CHECK_BASE_URL_{}",
                built_in.id.to_ascii_uppercase()
            );
            std::env::set_var(name, provider.url());
        }
    }
    let app = app();

    // Accepted: stored, `verified`, and the exact request: GET /assistant?limit=1 with the private
    // key as a Bearer token.
    let tenant = new_tenant();
    let key = "sk-verify-accepted-0001";
    let answer = call(
        &app,
        Operation::ConnectIntegration,
        vapi_connect_verified(&tenant, key),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.body["verified"], true);
    let received = provider.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        (
            received[0].method.as_str(),
            received[0].target.as_str(),
            received[0].authorization.clone()
        ),
        ("GET", "/assistant?limit=1", Some(format!("Bearer {key}")))
    );

    // Without verify, no request reaches the provider and the answer has no `verified`.
    let plain = call(
        &app,
        Operation::ConnectIntegration,
        vapi_connect(&new_tenant()),
    )
    .await;
    assert_eq!(plain.status, 201);
    assert!(plain.body.get("verified").is_none());
    assert_eq!(provider.received().len(), 1);

    // Refused (401 and 403): 422 naming the field, nothing stored; the provider's body (which
    // echoes the key) is not passed back.
    for status in [401, 403] {
        provider.set(Mode::Status(status));
        let tenant = new_tenant();
        let key = "sk-verify-refused-0002";
        let answer = call(
            &app,
            Operation::ConnectIntegration,
            vapi_connect_verified(&tenant, key),
        )
        .await;
        assert_refused(&answer, 422, "credentials_rejected", key);
        assert!(
            answer.body["detail"]
                .as_str()
                .unwrap()
                .contains("privateApiKey")
        );
        assert!(
            !secret_exists(&tenant).await,
            "nothing stored after a {status}"
        );
    }

    // The provider cannot check now (5xx, 429, a dropped connection): 503 with Retry-After.
    for mode in [
        Mode::Status(500),
        Mode::Status(503),
        Mode::Status(429),
        Mode::Drop,
    ] {
        provider.set(mode.clone());
        let tenant = new_tenant();
        let answer = call(
            &app,
            Operation::ConnectIntegration,
            vapi_connect_verified(&tenant, "sk-verify-unavailable-03"),
        )
        .await;
        assert_refused(
            &answer,
            503,
            "provider_unavailable",
            "sk-verify-unavailable-03",
        );
        assert!(answer.headers.contains_key("retry-after"), "{mode:?}");
        assert!(
            !secret_exists(&tenant).await,
            "nothing stored after {mode:?}"
        );
    }

    // A slow provider: the check counts against the request's deadline.
    provider.set(Mode::Slow(Duration::from_secs(30)));
    let tenant = new_tenant();
    let request = with_deadline_in(
        signed(
            &vapi_connect_verified(&tenant, "sk-verify-slow-000004"),
            &new_webhook_id(),
        ),
        Duration::from_millis(1500),
    );
    let started = Instant::now();
    let answer = call_with(&app, Operation::ConnectIntegration, request).await;
    assert_refused(
        &answer,
        503,
        "provider_unavailable",
        "sk-verify-slow-000004",
    );
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
    assert!(!secret_exists(&tenant).await);

    // Update: the merged credentials are checked, also when unchanged; refused writes nothing.
    provider.set(Mode::RejectKeysContaining("bad".into()));
    let (tenant, first) = connected_tenant(&app).await;
    let name = format!("tenant/{tenant}/vapi");
    let update = |key: &str| {
        json!({"tenantId": tenant, "provider": "vapi", "verify": true,
               "credentials": {"privateApiKey": key}})
    };
    let before = provider.received().len();
    let refused = call(&app, Operation::UpdateKey, update("sk-verify-bad-000005")).await;
    assert_refused(
        &refused,
        422,
        "credentials_rejected",
        "sk-verify-bad-000005",
    );
    assert_eq!(version_count(&name).await, 1, "nothing written");
    let same = call(&app, Operation::UpdateKey, update(PRIVATE_KEY)).await;
    assert_eq!(
        (same.status, &same.body["changed"], &same.body["verified"]),
        (200, &json!(false), &json!(true)),
        "{}",
        same.body
    );
    assert_eq!(same.body["versionId"], first.as_str());
    let rotated = call(&app, Operation::UpdateKey, update("sk-verify-good-000006")).await;
    assert_eq!(
        (
            rotated.status,
            &rotated.body["changed"],
            &rotated.body["verified"]
        ),
        (200, &json!(true), &json!(true))
    );
    let checked: Vec<String> = provider.received()[before..]
        .iter()
        .map(|r| r.authorization.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        checked,
        [
            "Bearer sk-verify-bad-000005".to_owned(),
            format!("Bearer {PRIVATE_KEY}"),
            "Bearer sk-verify-good-000006".to_owned(),
        ]
    );

    // OpenAI: GET /v1/models with the apiKey.
    provider.set(Mode::Accept);
    let openai = json!({"tenantId": new_tenant(), "provider": "openai", "verify": true,
                        "credentials": {"apiKey": "sk-openai-verify-0007"}});
    assert_eq!(
        call(&app, Operation::ConnectIntegration, openai)
            .await
            .status,
        201
    );
    let last = provider.received().pop().unwrap();
    assert_eq!(
        (last.target.as_str(), last.authorization.as_deref()),
        ("/v1/models", Some("Bearer sk-openai-verify-0007"))
    );

    // verify must be a boolean.
    let mut bad = vapi_connect(&new_tenant());
    bad["verify"] = json!("yes");
    let answer = call(&app, Operation::ConnectIntegration, bad).await;
    assert_eq!(answer.body["code"], "invalid_request");

    // A value that breaks its field's catalog pattern: 400 naming the field and the rule, before
    // any request to the provider, nothing stored.
    let before = provider.received().len();
    let tenant = new_tenant();
    let pasted_token = json!({"tenantId": tenant, "provider": "twilio", "verify": true,
        "credentials": {"accountSid": "0123456789abcdef0123456789abcdef", "authToken": "t0k"}});
    let answer = call(&app, Operation::ConnectIntegration, pasted_token).await;
    assert_eq!(
        (answer.status, answer.body["detail"].as_str()),
        (
            400,
            Some("credentials.accountSid must match the pattern AC[0-9a-fA-F]{32}")
        )
    );
    assert_eq!(provider.received().len(), before);
    assert!(
        client()
            .describe_secret()
            .secret_id(format!("tenant/{tenant}/twilio"))
            .send()
            .await
            .is_err()
    );

    every_built_in_check_sends_the_providers_request(&app, &provider).await;
}

/// What each built-in check must send, from the providers' documentation (the catalog's
/// `comment`): method, path and query, and the headers that carry the key, for the values
/// [`value_of`] gives.
fn expected_request(id: &str) -> (&'static str, String, Vec<(&'static str, String)>) {
    match id {
        "vapi" => (
            "GET",
            "/assistant?limit=1".into(),
            vec![("authorization", "Bearer value-privateApiKey".into())],
        ),
        "openai" => (
            "GET",
            "/v1/models".into(),
            vec![("authorization", "Bearer value-apiKey".into())],
        ),
        "anthropic" => (
            "GET",
            "/v1/models?limit=1".into(),
            vec![
                ("x-api-key", "value-apiKey".into()),
                ("anthropic-version", "2023-06-01".into()),
            ],
        ),
        "elevenlabs" => (
            "GET",
            "/v1/user".into(),
            vec![("xi-api-key", "value-apiKey".into())],
        ),
        "deepgram" => (
            "GET",
            "/v1/auth/token".into(),
            vec![("authorization", "Token value-apiKey".into())],
        ),
        // base64("AC0123456789abcdef0123456789abcdef:value-authToken")
        "twilio" => (
            "GET",
            format!("/2010-04-01/Accounts/{TWILIO_SID}.json"),
            vec![(
                "authorization",
                "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjp2YWx1ZS1hdXRoVG9rZW4=".into(),
            )],
        ),
        "gemini" => (
            "GET",
            "/v1beta/models?pageSize=1&key=value-apiKey".into(),
            vec![],
        ),
        "groq" => (
            "GET",
            "/openai/v1/models".into(),
            vec![("authorization", "Bearer value-apiKey".into())],
        ),
        other => panic!("{other}: a built-in provider whose check this test does not know"),
    }
}

/// A Twilio account SID as its catalog pattern wants it: AC and 32 hexadecimal digits.
const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";

/// The value the check test sends for a field: `value-<field>`, or one of the field's format.
fn value_of(provider: &str, field: &str) -> String {
    match (provider, field) {
        ("twilio", "accountSid") => TWILIO_SID.to_owned(),
        _ => format!("value-{field}"),
    }
}

async fn every_built_in_check_sends_the_providers_request(
    app: &tenant_keys::App,
    provider: &MockProvider,
) {
    for built_in in PROVIDERS.iter().filter(|p| p.check.is_some()) {
        let credentials: serde_json::Map<String, Value> = built_in
            .fields
            .iter()
            .map(|f| (f.name.to_owned(), json!(value_of(built_in.id, f.name))))
            .collect();
        let connect = |tenant: &str| {
            json!({"tenantId": tenant, "provider": built_in.id,
                "credentials": credentials, "verify": true})
        };

        provider.set(Mode::Accept);
        let before = provider.received().len();
        let answer = call(app, Operation::ConnectIntegration, connect(&new_tenant())).await;
        assert_eq!(answer.status, 201, "{}: {}", built_in.id, answer.body);
        let received = provider.received();
        assert_eq!(received.len(), before + 1, "{}: one request", built_in.id);
        let request: &Received = received.last().unwrap();
        let (method, target, headers) = expected_request(built_in.id);
        assert_eq!(
            (request.method.as_str(), &request.target),
            (method, &target),
            "{}",
            built_in.id
        );
        for (name, value) in &headers {
            assert_eq!(
                request.header(name),
                Some(value.as_str()),
                "{}: {name}",
                built_in.id
            );
        }
        // The key goes only where the provider takes it.
        let carries_key = |value: &str| value.contains("value-") || value.starts_with("Basic ");
        let sent: Vec<&str> = request
            .headers
            .iter()
            .filter(|(_, v)| carries_key(v))
            .map(|(n, _)| n.as_str())
            .collect();
        let expected: Vec<&str> = headers
            .iter()
            .filter(|(_, v)| carries_key(v))
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(sent, expected, "{}: {:?}", built_in.id, request.headers);

        // Refused, unavailable, and a redirect (never followed): nothing stored each time.
        let refused_field = built_in.check.as_ref().unwrap().send.refused_field();
        for (mode, status, code) in [
            (Mode::Status(401), 422, "credentials_rejected"),
            (Mode::Status(503), 503, "provider_unavailable"),
            (Mode::Status(302), 503, "provider_unavailable"),
        ] {
            provider.set(mode);
            let before = provider.received().len();
            let tenant = new_tenant();
            let answer = call(app, Operation::ConnectIntegration, connect(&tenant)).await;
            assert_eq!(
                (answer.status, answer.body["code"].as_str()),
                (status, Some(code)),
                "{}: {}",
                built_in.id,
                answer.body
            );
            if status == 422 {
                assert!(
                    answer.body["detail"]
                        .as_str()
                        .unwrap()
                        .contains(refused_field),
                    "{}",
                    answer.body
                );
            }
            assert!(
                !answer.body.to_string().contains("value-"),
                "{}: a value in the answer",
                built_in.id
            );
            assert_eq!(
                provider.received().len(),
                before + 1,
                "{}: no second request",
                built_in.id
            );
            let described = client()
                .describe_secret()
                .secret_id(format!("tenant/{tenant}/{}", built_in.id))
                .send()
                .await;
            assert!(described.is_err(), "{}: nothing stored", built_in.id);
        }
    }
}
