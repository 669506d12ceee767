//! Disconnect, restore by reconnecting, list and offboard, against a real Secrets Manager API
//! (moto), one behaviour per test.

mod support;

use aws_sdk_secretsmanager::primitives::{DateTime, DateTimeFormat};
use serde_json::{Value, json};
use support::*;
use tenant_keys::Operation;
use tenant_keys::ops::DisconnectPolicy;

fn disconnect_body(tenant: &str) -> Value {
    json!({"tenantId": tenant, "provider": "vapi"})
}

async fn list(app: &tenant_keys::App, tenant: &str) -> Vec<Value> {
    let answer = call(
        app,
        Operation::ListIntegrations,
        json!({"tenantId": tenant}),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["tenantId"], tenant);
    answer.body["integrations"].as_array().unwrap().clone()
}

#[tokio::test]
async fn disconnect_then_reconnect_restores_with_the_old_value_as_previous() {
    let app = app();
    let (tenant, first) = connected_tenant(&app).await;

    let disconnected = call(
        &app,
        Operation::DisconnectIntegration,
        disconnect_body(&tenant),
    )
    .await;
    assert_eq!(disconnected.status, 200, "{}", disconnected.body);
    assert_eq!(disconnected.body["provider"], "vapi");
    let date = disconnected.body["deletionDate"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = call(
        &app,
        Operation::DisconnectIntegration,
        disconnect_body(&tenant),
    )
    .await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["deletionDate"], date.as_str(), "idempotent");

    let fetched = fetch(&app, &tenant, json!({})).await;
    assert_eq!(
        (fetched.status, fetched.body["code"].as_str()),
        (404, Some("not_found"))
    );
    assert_eq!(fetched.body["deletionDate"], date.as_str());
    assert!(
        fetched.body["detail"]
            .as_str()
            .unwrap()
            .contains("disconnected")
    );
    let listed = list(&app, &tenant).await;
    assert_eq!(listed[0]["status"], "disconnected");
    assert_eq!(listed[0]["deletionDate"], date.as_str());

    let mut reconnect = vapi_connect(&tenant);
    reconnect["credentials"]["privateApiKey"] = json!("sk-after-restore-0001");
    let restored = call(&app, Operation::ConnectIntegration, reconnect).await;
    assert_eq!(restored.status, 200, "{}", restored.body);
    assert_eq!(
        (&restored.body["created"], &restored.body["restored"]),
        (&json!(false), &json!(true))
    );
    let current = fetch(&app, &tenant, json!({})).await;
    assert_eq!(
        current.body["credentials"]["privateApiKey"],
        "sk-after-restore-0001"
    );
    let previous = fetch(&app, &tenant, json!({"version": "previous"})).await;
    assert_eq!(previous.body["versionId"], first.as_str());
    assert_eq!(previous.body["credentials"]["privateApiKey"], PRIVATE_KEY);
    let listed = list(&app, &tenant).await;
    assert_eq!(listed[0]["status"], "connected");
    assert_eq!(listed[0]["versionId"], current.body["versionId"]);
    assert!(listed[0].get("deletionDate").is_none());
}

#[tokio::test]
async fn disconnecting_what_was_never_connected_is_not_found() {
    let answer = call(
        &app(),
        Operation::DisconnectIntegration,
        disconnect_body(&new_tenant()),
    )
    .await;
    assert_eq!(
        (answer.status, answer.body["code"].as_str()),
        (404, Some("not_found"))
    );
}

#[tokio::test]
async fn list_shows_each_provider_with_its_dates_and_never_a_value() {
    let app = app();
    let (tenant, version) = connected_tenant(&app).await;
    let openai = json!({"tenantId": tenant, "provider": "openai", "credentials": {"apiKey": "sk-openai-list-0001"}});
    assert_eq!(
        call(&app, Operation::ConnectIntegration, openai)
            .await
            .status,
        201
    );
    call(
        &app,
        Operation::DisconnectIntegration,
        json!({"tenantId": tenant, "provider": "openai"}),
    )
    .await;

    let listed = list(&app, &tenant).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(
        (
            &listed[0]["provider"],
            &listed[0]["status"],
            &listed[0]["versionId"]
        ),
        (&json!("vapi"), &json!("connected"), &json!(version))
    );
    assert_eq!(
        (&listed[1]["provider"], &listed[1]["status"]),
        (&json!("openai"), &json!("disconnected"))
    );
    for entry in &listed {
        assert!(entry["createdDate"].as_str().unwrap().contains('T'));
        assert!(entry["lastChangedDate"].is_string());
    }
    let text = json!(listed).to_string();
    for value in [PRIVATE_KEY, PUBLIC_KEY, "sk-openai-list-0001", "****"] {
        assert!(!text.contains(value), "{text}");
    }
    assert!(list(&app, &new_tenant()).await.is_empty());
}

#[tokio::test]
async fn all_providers_offboards_a_tenant_and_a_retry_answers_the_same() {
    let app = app();
    let (tenant, _) = connected_tenant(&app).await;
    let openai = json!({"tenantId": tenant, "provider": "openai", "credentials": {"apiKey": "sk-openai-off-0001"}});
    call(&app, Operation::ConnectIntegration, openai).await;
    let offboard = json!({"tenantId": tenant, "allProviders": true});

    let first = call(&app, Operation::DisconnectIntegration, offboard.clone()).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let providers: Vec<&str> = first.body["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["provider"].as_str().unwrap())
        .collect();
    assert_eq!(providers, ["vapi", "openai"]);
    let again = call(&app, Operation::DisconnectIntegration, offboard).await;
    assert_eq!(again.body, first.body);
    assert!(
        list(&app, &tenant)
            .await
            .iter()
            .all(|i| i["status"] == "disconnected")
    );

    let nobody = call(
        &app,
        Operation::DisconnectIntegration,
        json!({"tenantId": new_tenant(), "allProviders": true}),
    )
    .await;
    assert_eq!(nobody.status, 200);
    assert_eq!(nobody.body["integrations"], json!([]));
}

#[tokio::test]
async fn purge_is_refused_by_default_and_deletes_at_once_where_allowed() {
    let (tenant, _) = connected_tenant(&app()).await;
    let purge = json!({"tenantId": tenant, "provider": "vapi", "purge": true});
    let refused = call(&app(), Operation::DisconnectIntegration, purge.clone()).await;
    assert_eq!(
        (refused.status, refused.body["code"].as_str()),
        (403, Some("purge_disabled"))
    );
    assert_eq!(
        fetch(&app(), &tenant, json!({})).await.status,
        200,
        "nothing done"
    );

    // The usual erasure path: disconnect, then purge.
    let allowed = app().with_disconnect_policy(DisconnectPolicy {
        recovery_days: 7,
        allow_purge: true,
    });
    call(
        &allowed,
        Operation::DisconnectIntegration,
        disconnect_body(&tenant),
    )
    .await;
    let purged = call(&allowed, Operation::DisconnectIntegration, purge).await;
    assert_eq!(purged.status, 200, "{}", purged.body);
    assert_eq!(purged.body["purged"], true);
    let gone = client()
        .describe_secret()
        .secret_id(format!("tenant/{tenant}/vapi"))
        .send()
        .await;
    assert!(gone.is_err(), "the secret is deleted for good");
    assert!(list(&allowed, &tenant).await.is_empty());
}

#[tokio::test]
async fn the_recovery_window_is_the_stacks() {
    let (tenant, _) = connected_tenant(&app()).await;
    let thirty = app().with_disconnect_policy(DisconnectPolicy {
        recovery_days: 30,
        allow_purge: false,
    });
    let answer = call(
        &thirty,
        Operation::DisconnectIntegration,
        disconnect_body(&tenant),
    )
    .await;
    let date = answer.body["deletionDate"].as_str().unwrap();
    let deletion = DateTime::from_str(date, DateTimeFormat::DateTime).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let days = (deletion.secs() - now) as f64 / 86_400.0;
    assert!((29.9..=30.1).contains(&days), "{date}: {days} days");
}
