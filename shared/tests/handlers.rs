//! The handlers against a real Secrets Manager API (moto), one behaviour per test.

mod support;

use std::sync::Arc;

use lambda_http::{Body, Request};
use serde_json::{Value, json};
use support::*;
use tenant_keys::Operation;

#[tokio::test]
async fn connect_creates_the_secret_then_replaces_it() {
    let app = app();
    let (tenant, first_version) = connected_tenant(&app).await;

    let mut again = vapi_connect(&tenant);
    again["credentials"]["privateApiKey"] = json!("sk-live-rotated-0000-9999");
    let answer = call(&app, Operation::ConnectIntegration, again).await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["created"], false);
    assert_ne!(answer.body["versionId"], first_version.as_str());
    assert_eq!(answer.body["credentials"]["privateApiKey"], "****9999");
}

#[tokio::test]
async fn connect_answers_with_masked_credentials_only() {
    let app = app();
    let tenant = new_tenant();
    let answer = call(&app, Operation::ConnectIntegration, vapi_connect(&tenant)).await;
    assert_eq!(answer.status, 201);
    assert_eq!(answer.body["tenantId"], tenant.as_str());
    assert_eq!(answer.body["provider"], "vapi");
    assert_eq!(answer.body["created"], true);
    assert_eq!(
        answer.body["credentials"],
        json!({"publicApiKey": "****4444", "privateApiKey": "****dddd"})
    );
    assert!(!answer.body.to_string().contains(PRIVATE_KEY));
}

#[tokio::test]
async fn new_secrets_are_tagged_and_hold_echos_exact_shape() {
    let app = app();
    let (tenant, _) = connected_tenant(&app).await;
    let name = format!("tenant/{tenant}/vapi");
    let described = client()
        .describe_secret()
        .secret_id(&name)
        .send()
        .await
        .unwrap();
    let tags: Vec<(&str, &str)> = described
        .tags()
        .iter()
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    assert!(tags.contains(&("tenant-id", tenant.as_str())));
    assert!(tags.contains(&("provider", "vapi")));
    assert!(tags.contains(&("managed-by", "tenant-keys")));

    let stored = client()
        .get_secret_value()
        .secret_id(&name)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .unwrap();
    let stored: Value = serde_json::from_str(stored.secret_string().unwrap()).unwrap();
    assert_eq!(
        stored,
        json!({"publicApiKey": PUBLIC_KEY, "privateApiKey": PRIVATE_KEY})
    );
}

#[tokio::test]
async fn fetch_returns_each_view() {
    let app = app();
    let (tenant, version) = connected_tenant(&app).await;

    let full = fetch(&app, &tenant, json!({})).await;
    assert_eq!(full.status, 200);
    assert_eq!(full.headers["cache-control"], "no-store");
    assert_eq!(full.body["versionId"], version.as_str());
    assert_eq!(
        full.body["credentials"],
        json!({"publicApiKey": PUBLIC_KEY, "privateApiKey": PRIVATE_KEY})
    );

    let public = fetch(&app, &tenant, json!({"view": "public"})).await;
    assert_eq!(
        public.body["credentials"],
        json!({"publicApiKey": PUBLIC_KEY})
    );

    let masked = fetch(&app, &tenant, json!({"view": "masked"})).await;
    assert_eq!(
        masked.body["credentials"],
        json!({"publicApiKey": "****4444", "privateApiKey": "****dddd"})
    );
}

#[tokio::test]
async fn update_merges_fields_and_previous_version_holds_the_old_value() {
    let app = app();
    let (tenant, first_version) = connected_tenant(&app).await;

    let answer = call(
        &app,
        Operation::UpdateKey,
        json!({"tenantId": tenant, "provider": "vapi", "credentials": {"privateApiKey": "sk-live-new-key-5678"}}),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["created"], false);
    assert_eq!(answer.body["credentials"]["privateApiKey"], "****5678");

    let current = fetch(&app, &tenant, json!({})).await;
    assert_eq!(current.body["versionId"], answer.body["versionId"]);
    assert_eq!(
        current.body["credentials"],
        json!({"publicApiKey": PUBLIC_KEY, "privateApiKey": "sk-live-new-key-5678"})
    );
    let previous = fetch(&app, &tenant, json!({"version": "previous"})).await;
    assert_eq!(previous.status, 200);
    assert_eq!(previous.body["versionId"], first_version.as_str());
    assert_eq!(previous.body["credentials"]["privateApiKey"], PRIVATE_KEY);
}

#[tokio::test]
async fn update_with_the_current_version_succeeds_and_with_a_stale_one_is_rejected() {
    let app = app();
    let (tenant, first_version) = connected_tenant(&app).await;
    let update = |key: &str, expected: &str| {
        json!({"tenantId": tenant, "provider": "vapi", "credentials": {"privateApiKey": key},
               "expectedVersionId": expected})
    };

    let won = call(
        &app,
        Operation::UpdateKey,
        update("sk-first-write-1111", &first_version),
    )
    .await;
    assert_eq!(won.status, 200, "{}", won.body);
    let stale = call(
        &app,
        Operation::UpdateKey,
        update("sk-stale-write-2222", &first_version),
    )
    .await;

    assert_eq!(stale.status, 409);
    assert_eq!(stale.body["code"], "version_conflict");
    let current = fetch(&app, &tenant, json!({})).await;
    assert_eq!(
        current.body["credentials"]["privateApiKey"],
        "sk-first-write-1111"
    );
    assert_eq!(current.body["versionId"], won.body["versionId"]);
}

#[tokio::test]
async fn concurrent_updates_with_the_same_expected_version_have_exactly_one_winner() {
    let app = Arc::new(app());
    let (tenant, version) = connected_tenant(&app).await;
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let (app, tenant, version) = (app.clone(), tenant.clone(), version.clone());
            tokio::spawn(async move {
                let body = json!({"tenantId": tenant, "provider": "vapi",
                    "credentials": {"privateApiKey": format!("sk-racer-{i:04}-abcdef")},
                    "expectedVersionId": version});
                call(&app, Operation::UpdateKey, body).await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap().status);
    }
    statuses.sort();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_connects_for_a_new_tenant_make_one_secret_and_one_201() {
    let app = Arc::new(app());
    let tenant = new_tenant();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (app, tenant) = (app.clone(), tenant.clone());
            tokio::spawn(async move {
                call(&app, Operation::ConnectIntegration, vapi_connect(&tenant)).await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap().status);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        19,
        "{statuses:?}"
    );
    assert_eq!(
        moto::secrets_named_under(&client(), &format!("tenant/{tenant}/")).await,
        1
    );
}

#[tokio::test]
async fn a_retried_connect_creates_no_second_version() {
    let app = app();
    let tenant = new_tenant();
    let webhook_id = new_webhook_id();
    let first = call_with(
        &app,
        Operation::ConnectIntegration,
        signed(&vapi_connect(&tenant), &webhook_id),
    )
    .await;
    let retry = call_with(
        &app,
        Operation::ConnectIntegration,
        signed(&vapi_connect(&tenant), &webhook_id),
    )
    .await;

    assert_eq!(first.status, 201);
    assert_eq!(retry.status, 201, "a retry answers as the original did");
    assert_eq!(retry.body["versionId"], first.body["versionId"]);
    assert_eq!(version_count(&format!("tenant/{tenant}/vapi")).await, 1);
}

#[tokio::test]
async fn a_retried_update_creates_no_second_version() {
    let app = app();
    let (tenant, _) = connected_tenant(&app).await;
    let body = json!({"tenantId": tenant, "provider": "vapi", "credentials": {"privateApiKey": "sk-once-only-0001"}});
    let webhook_id = new_webhook_id();
    let first = call_with(&app, Operation::UpdateKey, signed(&body, &webhook_id)).await;
    let retry = call_with(&app, Operation::UpdateKey, signed(&body, &webhook_id)).await;

    assert_eq!(first.status, 200);
    assert_eq!(retry.status, 200);
    assert_eq!(retry.body["versionId"], first.body["versionId"]);
    assert_eq!(version_count(&format!("tenant/{tenant}/vapi")).await, 2);
}

#[tokio::test]
async fn a_reused_webhook_id_with_other_credentials_is_an_idempotency_conflict() {
    let app = app();
    let tenant = new_tenant();
    let webhook_id = new_webhook_id();
    call_with(
        &app,
        Operation::ConnectIntegration,
        signed(&vapi_connect(&tenant), &webhook_id),
    )
    .await;
    let mut other = vapi_connect(&tenant);
    other["credentials"]["privateApiKey"] = json!("sk-different-value-77");
    let connect = call_with(
        &app,
        Operation::ConnectIntegration,
        signed(&other, &webhook_id),
    )
    .await;
    assert_eq!(connect.status, 409);
    assert_eq!(connect.body["code"], "idempotency_conflict");

    let update = |key: &str| json!({"tenantId": tenant, "provider": "vapi", "credentials": {"privateApiKey": key}});
    let update_id = new_webhook_id();
    call_with(
        &app,
        Operation::UpdateKey,
        signed(&update("sk-update-one-111"), &update_id),
    )
    .await;
    let reused = call_with(
        &app,
        Operation::UpdateKey,
        signed(&update("sk-update-two-222"), &update_id),
    )
    .await;
    assert_eq!(reused.status, 409);
    assert_eq!(reused.body["code"], "idempotency_conflict");
}

#[tokio::test]
async fn secrets_written_by_echo_are_read_as_they_are() {
    let app = app();
    let tenant = new_tenant();
    store_raw_vapi_value(
        &tenant,
        &json!({"publicApiKey": "echo-public", "privateApiKey": "echo-private"}).to_string(),
    )
    .await;

    let answer = fetch(&app, &tenant, json!({})).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body["credentials"],
        json!({"publicApiKey": "echo-public", "privateApiKey": "echo-private"})
    );
    let updated = call(
        &app,
        Operation::UpdateKey,
        json!({"tenantId": tenant, "provider": "vapi", "credentials": {"publicApiKey": "echo-public-2"}}),
    )
    .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
}

#[tokio::test]
async fn a_tenant_cannot_read_or_change_another_tenants_secret() {
    let app = app();
    let (owner, _) = connected_tenant(&app).await;
    let intruder = new_tenant();

    let read = fetch(&app, &intruder, json!({})).await;
    assert_eq!(read.status, 404);
    assert!(!read.body.to_string().contains(PRIVATE_KEY));
    let write = call(
        &app,
        Operation::UpdateKey,
        json!({"tenantId": intruder, "provider": "vapi", "credentials": {"privateApiKey": "sk-hijack-000000"}}),
    )
    .await;
    assert_eq!(write.status, 404);
    for sneaky in [
        format!("{intruder}/../{owner}"),
        format!("{owner}/vapi"),
        format!("{owner}%2F"),
    ] {
        let answer = fetch(&app, &sneaky, json!({})).await;
        assert_eq!(answer.body["code"], "invalid_tenant_id", "{sneaky}");
    }
    let owner_view = fetch(&app, &owner, json!({})).await;
    assert_eq!(owner_view.body["credentials"]["privateApiKey"], PRIVATE_KEY);
}

#[tokio::test]
async fn never_connected_and_no_previous_version_are_not_found() {
    let app = app();
    let tenant = new_tenant();
    let answer = fetch(&app, &tenant, json!({})).await;
    assert_eq!(
        (answer.status, answer.body["code"].as_str()),
        (404, Some("not_found"))
    );
    let update = call(
        &app,
        Operation::UpdateKey,
        json!({"tenantId": tenant, "provider": "vapi", "credentials": {"privateApiKey": "sk-none-00000000"}}),
    )
    .await;
    assert_eq!(
        (update.status, update.body["code"].as_str()),
        (404, Some("not_found"))
    );

    let (connected, _) = connected_tenant(&app).await;
    let previous = fetch(&app, &connected, json!({"version": "previous"})).await;
    assert_eq!(
        (previous.status, previous.body["code"].as_str()),
        (404, Some("not_found"))
    );
}

#[tokio::test]
async fn a_stored_value_of_the_wrong_shape_is_invalid_stored_value_without_its_content() {
    let app = app();
    let tenant = new_tenant();
    store_raw_vapi_value(
        &tenant,
        r#"{"publicAPIKey":"typo-public-value","privateApiKey":"typo-private-value"}"#,
    )
    .await;
    let answer = fetch(&app, &tenant, json!({})).await;
    assert_eq!(answer.status, 500);
    assert_eq!(answer.body["code"], "invalid_stored_value");
    assert!(!answer.body.to_string().contains("typo-"));
}

#[tokio::test]
async fn every_client_error_has_its_documented_code() {
    let app = app();
    let tenant = new_tenant();
    let post = |body: &str| signed_with("POST", body, &new_webhook_id(), now(), SIGNING_SECRET);
    let cases: Vec<(Operation, Request, u16, &str)> = vec![
        (Operation::FetchKey, signed_with("GET", "", "msg_get", now(), SIGNING_SECRET), 405, "method_not_allowed"),
        (Operation::FetchKey, post(&format!("{{\"pad\":\"{}\"}}", "x".repeat(64 * 1024))), 413, "payload_too_large"),
        (Operation::FetchKey, post("{not json"), 400, "invalid_json"),
        (Operation::FetchKey, post(&json!({"tenantId": tenant, "provider": "vapi", "extra": true}).to_string()), 400, "invalid_request"),
        (Operation::FetchKey, post(&json!({"tenantId": "", "provider": "vapi"}).to_string()), 400, "invalid_tenant_id"),
        (Operation::FetchKey, post(&json!({"tenantId": tenant, "provider": "stripe"}).to_string()), 400, "unknown_provider"),
        (Operation::ConnectIntegration, post(&json!({"tenantId": tenant, "provider": "vapi", "credentials": {"publicApiKey": "pk"}}).to_string()), 400, "invalid_credentials"),
        (Operation::UpdateKey, post(&json!({"tenantId": tenant, "provider": "vapi", "credentials": {}}).to_string()), 400, "invalid_credentials"),
        (Operation::FetchKey, post(&json!({"tenantId": tenant, "provider": "vapi"}).to_string()), 404, "not_found"),
    ];
    for (operation, request, status, code) in cases {
        let answer = call_with(&app, operation, request).await;
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (status, Some(code)),
            "{}",
            answer.body
        );
        assert_eq!(answer.headers["content-type"], "application/problem+json");
        assert_eq!(answer.body["status"], status);
    }
}

#[tokio::test]
async fn unsigned_or_badly_signed_requests_get_one_401_and_never_reach_secrets_manager() {
    // Nothing listens on port 9 of loopback: reaching Secrets Manager would answer 503, not 401.
    let app = app_for("http://127.0.0.1:9");
    let body = json!({"tenantId": "org_1", "provider": "vapi"}).to_string();
    let other_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let mut unsigned = signed_with("POST", &body, "msg_1", now(), SIGNING_SECRET);
    unsigned.headers_mut().remove("webhook-signature");
    let mut tampered = signed_with("POST", &body, "msg_1", now(), SIGNING_SECRET);
    *tampered.body_mut() = Body::from(body.replace("org_1", "org_2"));
    let requests = vec![
        unsigned,
        tampered,
        signed_with("POST", &body, "msg_1", now() - 301, SIGNING_SECRET),
        signed_with("POST", &body, "msg_1", now() + 301, SIGNING_SECRET),
        signed_with("POST", &body, "msg_1", now(), other_secret),
    ];
    let mut bodies = Vec::new();
    for request in requests {
        let answer = call_with(&app, Operation::FetchKey, request).await;
        assert_eq!(answer.status, 401);
        bodies.push(answer.body);
    }
    assert!(
        bodies.windows(2).all(|pair| pair[0] == pair[1]),
        "{bodies:?}"
    );
    assert_eq!(bodies[0]["code"], "unauthorized");
}

#[tokio::test]
async fn secrets_manager_unreachable_is_a_503_with_retry_after() {
    let app = app_for("http://127.0.0.1:9");
    let answer = call(
        &app,
        Operation::FetchKey,
        json!({"tenantId": "org_1", "provider": "vapi"}),
    )
    .await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.body["code"], "upstream_unavailable");
    assert!(answer.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn fetch_by_version_id_reads_that_exact_version() {
    let app = app();
    let (tenant, first) = connected_tenant(&app).await;
    let update = json!({"tenantId": tenant, "provider": "vapi",
        "credentials": {"privateApiKey": "sk-second-version-0002"}});
    assert_eq!(call(&app, Operation::UpdateKey, update).await.status, 200);

    let old = fetch(&app, &tenant, json!({"versionId": first})).await;
    assert_eq!(old.status, 200, "{}", old.body);
    assert_eq!(old.body["versionId"], first.as_str());
    assert_eq!(old.body["credentials"]["privateApiKey"], PRIVATE_KEY);

    let (other_tenant, other_version) = connected_tenant(&app).await;
    assert_ne!(other_tenant, tenant);
    for missing in [
        other_version.as_str(),
        "00000000-0000-0000-0000-000000000000",
    ] {
        let answer = fetch(&app, &tenant, json!({"versionId": missing})).await;
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (404, Some("not_found")),
            "{}",
            answer.body
        );
    }
}

#[tokio::test]
async fn an_update_with_unchanged_values_writes_no_version() {
    let app = app();
    let (tenant, first) = connected_tenant(&app).await;
    let name = format!("tenant/{tenant}/vapi");
    let before = version_count(&name).await;
    let same = json!({"tenantId": tenant, "provider": "vapi",
        "credentials": {"privateApiKey": PRIVATE_KEY, "publicApiKey": PUBLIC_KEY}});
    let webhook_id = new_webhook_id();
    for _ in 0..2 {
        let answer = call_with(&app, Operation::UpdateKey, signed(&same, &webhook_id)).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["changed"], false);
        assert_eq!(answer.body["versionId"], first.as_str());
    }
    assert_eq!(version_count(&name).await, before);

    let changed = json!({"tenantId": tenant, "provider": "vapi",
        "credentials": {"privateApiKey": "sk-really-changed-0003"}});
    let answer = call(&app, Operation::UpdateKey, changed).await;
    assert_eq!(answer.body["changed"], true);
    assert_eq!(version_count(&name).await, before + 1);
}

/// The labels of every labelled version, by version id.
async fn labels(name: &str) -> std::collections::HashMap<String, Vec<String>> {
    client()
        .describe_secret()
        .secret_id(name)
        .send()
        .await
        .unwrap()
        .version_ids_to_stages()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn connects_and_updates_in_turn_keep_current_and_previous_right() {
    let app = app();
    let (tenant, mut current) = connected_tenant(&app).await;
    let name = format!("tenant/{tenant}/vapi");
    let steps = [
        (Operation::UpdateKey, "sk-step-update-0001"),
        (Operation::ConnectIntegration, "sk-step-connect-0002"),
        (Operation::UpdateKey, "sk-step-update-0003"),
        (Operation::ConnectIntegration, "sk-step-connect-0004"),
    ];
    let mut value = PRIVATE_KEY.to_owned();
    for (operation, key) in steps {
        let mut body = vapi_connect(&tenant);
        body["credentials"]["privateApiKey"] = json!(key);
        if operation == Operation::UpdateKey {
            body["credentials"]
                .as_object_mut()
                .unwrap()
                .remove("publicApiKey");
        }
        let answer = call(&app, operation, body).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let written = answer.body["versionId"].as_str().unwrap().to_owned();

        let now = fetch(&app, &tenant, json!({})).await;
        assert_eq!(now.body["versionId"], written.as_str());
        assert_eq!(now.body["credentials"]["privateApiKey"], key);
        let before = fetch(&app, &tenant, json!({"version": "previous"})).await;
        assert_eq!(before.body["versionId"], current.as_str());
        assert_eq!(before.body["credentials"]["privateApiKey"], value.as_str());

        let labels = labels(&name).await;
        let holding = |stage: &str| -> Vec<&String> {
            labels
                .iter()
                .filter(|(_, stages)| stages.iter().any(|s| s == stage))
                .map(|(id, _)| id)
                .collect()
        };
        assert_eq!(holding("AWSCURRENT"), [&written], "{labels:?}");
        assert_eq!(holding("AWSPREVIOUS"), [&current], "{labels:?}");
        (current, value) = (written, key.to_owned());
    }
}

#[tokio::test]
async fn a_stalled_secrets_manager_is_answered_within_the_lambda_deadline() {
    use std::time::{Duration, Instant};

    // An endpoint that accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let held = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let holder = held.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            holder.lock().await.push(socket);
        }
    });

    let app = app_for(&endpoint);
    let request = with_deadline_in(
        signed(
            &json!({"tenantId": new_tenant(), "provider": "vapi"}),
            &new_webhook_id(),
        ),
        Duration::from_millis(1500),
    );
    let started = Instant::now();
    let answer = call_with(&app, Operation::FetchKey, request).await;
    let took = started.elapsed();
    assert_eq!(
        (answer.status, answer.body["code"].as_str()),
        (503, Some("upstream_unavailable"))
    );
    assert!(answer.headers.contains_key("retry-after"));
    // The deadline less the 0.5 s answer margin; the SDK alone would wait 5 s.
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_millis(1400),
        "{took:?}"
    );
    assert!(
        !held.lock().await.is_empty(),
        "the call did reach the endpoint"
    );
}
