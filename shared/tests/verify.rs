//! `"verify": true` against a mock provider on loopback (`PROVIDER_CHECK_BASE_URL_*`): the exact
//! request each check makes, each outcome of the check, and that nothing is stored when the key is
//! refused or cannot be checked. One test, its scenarios in turn: the base URLs are process-wide.

mod support;

use std::time::{Duration, Instant};

use moto::provider::{MockProvider, Mode, Received};
use serde_json::{Value, json};
use support::*;
use tenant_keys::Operation;

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
        std::env::set_var("PROVIDER_CHECK_BASE_URL_VAPI", provider.url());
        std::env::set_var("PROVIDER_CHECK_BASE_URL_OPENAI", provider.url());
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
    assert_eq!(
        provider.received(),
        [Received {
            method: "GET".into(),
            target: "/assistant?limit=1".into(),
            authorization: Some(format!("Bearer {key}")),
        }]
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
}
