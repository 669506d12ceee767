//! fetch-key's read cache against moto, counting the Secrets Manager calls it makes.

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;
use tenant_keys::Operation;
use tenant_keys::cache::ReadCache;

async fn rotate(tenant: &str, key: &str) {
    let answer = call(
        &app(),
        Operation::UpdateKey,
        json!({"tenantId": tenant, "provider": "vapi", "credentials": {"privateApiKey": key}}),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn a_thousand_fetches_within_the_ttl_cost_one_secrets_manager_call() {
    let (tenant, _) = connected_tenant(&app()).await;
    let (reader, recorder) = recording_app(ReadCache::new(Duration::from_secs(300), 1000));
    for _ in 0..1000 {
        let answer = fetch(&reader, &tenant, json!({"view": "public"})).await;
        assert_eq!(answer.status, 200);
    }
    assert_eq!(recorder.actions(), ["secretsmanager:GetSecretValue"]);
}

#[tokio::test]
async fn within_the_ttl_a_write_elsewhere_shows_only_with_refresh() {
    let (tenant, _) = connected_tenant(&app()).await;
    let (reader, recorder) = recording_app(ReadCache::new(Duration::from_secs(300), 1000));
    fetch(&reader, &tenant, json!({})).await;
    rotate(&tenant, "sk-rotated-elsewhere-1").await;

    let cached = fetch(&reader, &tenant, json!({})).await;
    assert_eq!(cached.body["credentials"]["privateApiKey"], PRIVATE_KEY);
    let refreshed = fetch(&reader, &tenant, json!({"refresh": true})).await;
    assert_eq!(
        refreshed.body["credentials"]["privateApiKey"],
        "sk-rotated-elsewhere-1"
    );
    assert_eq!(recorder.count("GetSecretValue"), 2);
    let after = fetch(&reader, &tenant, json!({})).await;
    assert_eq!(
        after.body["credentials"]["privateApiKey"],
        "sk-rotated-elsewhere-1"
    );
}

#[tokio::test]
async fn after_the_ttl_an_unchanged_secret_is_revalidated_without_reading_its_value() {
    let (tenant, _) = connected_tenant(&app()).await;
    let (reader, recorder) = recording_app(ReadCache::new(Duration::from_millis(50), 1000));
    fetch(&reader, &tenant, json!({})).await;
    tokio::time::sleep(Duration::from_millis(80)).await;
    let again = fetch(&reader, &tenant, json!({})).await;

    assert_eq!(again.status, 200);
    assert_eq!(
        recorder.actions(),
        [
            "secretsmanager:GetSecretValue",
            "secretsmanager:DescribeSecret"
        ]
    );
}

#[tokio::test]
async fn after_the_ttl_a_changed_secret_is_read_again() {
    let (tenant, _) = connected_tenant(&app()).await;
    let (reader, recorder) = recording_app(ReadCache::new(Duration::from_millis(50), 1000));
    fetch(&reader, &tenant, json!({})).await;
    rotate(&tenant, "sk-rotated-elsewhere-2").await;
    tokio::time::sleep(Duration::from_millis(80)).await;

    let fresh = fetch(&reader, &tenant, json!({})).await;
    assert_eq!(
        fresh.body["credentials"]["privateApiKey"],
        "sk-rotated-elsewhere-2"
    );
    assert_eq!(recorder.count("GetSecretValue"), 2);
}

#[tokio::test]
async fn errors_are_never_cached() {
    let tenant = new_tenant();
    let (reader, recorder) = recording_app(ReadCache::new(Duration::from_secs(300), 1000));
    assert_eq!(fetch(&reader, &tenant, json!({})).await.status, 404);
    let app = app();
    call(&app, Operation::ConnectIntegration, vapi_connect(&tenant)).await;
    assert_eq!(fetch(&reader, &tenant, json!({})).await.status, 200);
    assert_eq!(recorder.count("GetSecretValue"), 2);
}

#[tokio::test]
async fn a_zero_ttl_reads_every_time() {
    let (tenant, _) = connected_tenant(&app()).await;
    let (reader, recorder) = recording_app(ReadCache::new(Duration::ZERO, 1000));
    for _ in 0..3 {
        fetch(&reader, &tenant, json!({})).await;
    }
    assert_eq!(recorder.count("GetSecretValue"), 3);
}
