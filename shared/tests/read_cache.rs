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
async fn full_and_masked_reads_are_fresh_and_see_a_write_elsewhere_at_once() {
    let (tenant, _) = connected_tenant(&app()).await;
    let (reader, recorder) = recording_app(ReadCache::new(Duration::from_secs(300), 1000));
    fetch(&reader, &tenant, json!({})).await;
    rotate(&tenant, "sk-rotated-elsewhere-1").await;

    let full = fetch(&reader, &tenant, json!({})).await;
    assert_eq!(
        full.body["credentials"]["privateApiKey"],
        "sk-rotated-elsewhere-1"
    );
    let masked = fetch(&reader, &tenant, json!({"view": "masked"})).await;
    assert_eq!(masked.body["credentials"]["privateApiKey"], "****re-1");
    assert_eq!(recorder.count("GetSecretValue"), 3);
}

#[tokio::test]
async fn within_the_ttl_the_public_view_is_cached_and_a_caller_may_ask_for_fresher() {
    let (tenant, first) = connected_tenant(&app()).await;
    let (reader, recorder) = recording_app(ReadCache::new(Duration::from_secs(300), 1000));
    let public = json!({"view": "public"});
    assert_eq!(
        fetch(&reader, &tenant, public.clone()).await.body["versionId"],
        first.as_str()
    );
    rotate(&tenant, "sk-rotated-elsewhere-2").await;

    let cached = fetch(&reader, &tenant, public).await;
    assert_eq!(cached.body["versionId"], first.as_str());
    assert_eq!(recorder.count("GetSecretValue"), 1);
    for fresher in [
        json!({"view": "public", "refresh": true}),
        json!({"view": "public", "maxAgeSeconds": 0}),
    ] {
        let fresh = fetch(&reader, &tenant, fresher).await;
        assert_ne!(fresh.body["versionId"], first.as_str());
    }
    assert_eq!(recorder.count("GetSecretValue"), 3);
    // A full read that accepts a cached value gets the one just read, with no call.
    let accepted = fetch(&reader, &tenant, json!({"maxAgeSeconds": 60})).await;
    assert_eq!(
        accepted.body["credentials"]["privateApiKey"],
        "sk-rotated-elsewhere-2"
    );
    assert_eq!(recorder.count("GetSecretValue"), 3);
}

#[tokio::test]
async fn after_the_ttl_an_unchanged_secret_is_revalidated_without_reading_its_value() {
    let (tenant, _) = connected_tenant(&app()).await;
    let (reader, recorder) = recording_app(ReadCache::new(Duration::from_millis(50), 1000));
    fetch(&reader, &tenant, json!({"view": "public"})).await;
    tokio::time::sleep(Duration::from_millis(80)).await;
    let again = fetch(&reader, &tenant, json!({"view": "public"})).await;

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
    let (tenant, first) = connected_tenant(&app()).await;
    let (reader, recorder) = recording_app(ReadCache::new(Duration::from_millis(50), 1000));
    fetch(&reader, &tenant, json!({"view": "public"})).await;
    rotate(&tenant, "sk-rotated-elsewhere-3").await;
    tokio::time::sleep(Duration::from_millis(80)).await;

    let fresh = fetch(&reader, &tenant, json!({"view": "public"})).await;
    assert_ne!(fresh.body["versionId"], first.as_str());
    assert_eq!(recorder.count("GetSecretValue"), 2);
}

#[tokio::test]
async fn a_cached_public_view_of_a_disconnected_secret_ends_with_the_ttl() {
    let (tenant, _) = connected_tenant(&app()).await;
    let (reader, _) = recording_app(ReadCache::new(Duration::from_millis(300), 1000));
    let public = json!({"view": "public"});
    assert_eq!(fetch(&reader, &tenant, public.clone()).await.status, 200);
    client()
        .delete_secret()
        .secret_id(format!("tenant/{tenant}/vapi"))
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();

    // Within the TTL the public view may still be served; a fresh read sees the deletion.
    assert_eq!(fetch(&reader, &tenant, public.clone()).await.status, 200);
    let fresh = fetch(&reader, &tenant, json!({})).await;
    assert_scheduled_for_deletion(&fresh);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_scheduled_for_deletion(&fetch(&reader, &tenant, public).await);
    let update = call(
        &app(),
        Operation::UpdateKey,
        json!({"tenantId": tenant, "provider": "vapi", "credentials": {"privateApiKey": "sk-after-delete-1"}}),
    )
    .await;
    assert_scheduled_for_deletion(&update);
}

fn assert_scheduled_for_deletion(answer: &Answer) {
    assert_eq!(
        (answer.status, answer.body["code"].as_str()),
        (404, Some("not_found")),
        "{}",
        answer.body
    );
    let date = answer.body["deletionDate"].as_str().unwrap();
    assert!(date.len() >= 20 && date.contains('T'), "{date}");
    assert!(
        answer.body["detail"]
            .as_str()
            .unwrap()
            .contains("scheduled for deletion")
    );
}

#[tokio::test]
async fn errors_are_never_cached() {
    let tenant = new_tenant();
    let (reader, recorder) = recording_app(ReadCache::new(Duration::from_secs(300), 1000));
    let public = json!({"view": "public"});
    assert_eq!(fetch(&reader, &tenant, public.clone()).await.status, 404);
    let app = app();
    call(&app, Operation::ConnectIntegration, vapi_connect(&tenant)).await;
    assert_eq!(fetch(&reader, &tenant, public).await.status, 200);
    assert_eq!(recorder.count("GetSecretValue"), 2);
}

#[tokio::test]
async fn a_zero_ttl_reads_every_time() {
    let (tenant, _) = connected_tenant(&app()).await;
    let (reader, recorder) = recording_app(ReadCache::new(Duration::ZERO, 1000));
    for _ in 0..3 {
        fetch(&reader, &tenant, json!({"view": "public"})).await;
    }
    assert_eq!(recorder.count("GetSecretValue"), 3);
}
