//! Faults end to end: the release binaries reach moto through a fault-injecting proxy that
//! throttles, fails, stalls or loses answers of chosen Secrets Manager actions. Whatever fails,
//! the caller gets a clear answer (503 `upstream_unavailable` with `Retry-After` once the SDK's
//! bounded retries are spent), AWSCURRENT never moves on a failed update, and a failed connect
//! leaves nothing that a retry cannot repair.

use std::time::Instant;

use serde_json::{Value, json};
use tenant_keys_e2e::{FaultProxy, Stack, admin_client, now, secrets_manager_endpoint, unique};

fn vapi(tenant: &str, private: &str) -> Value {
    json!({"tenantId": tenant, "provider": "vapi",
           "credentials": {"publicApiKey": "pk-fault-test-000001", "privateApiKey": private}})
}

fn fetch_fresh(tenant: &str) -> Value {
    json!({"tenantId": tenant, "provider": "vapi", "refresh": true})
}

async fn current(tenant: &str) -> (String, String) {
    let secret = admin_client(&secrets_manager_endpoint())
        .get_secret_value()
        .secret_id(format!("tenant/{tenant}/vapi"))
        .version_stage("AWSCURRENT")
        .send()
        .await
        .unwrap();
    (
        secret.version_id().unwrap().to_owned(),
        secret.secret_string().unwrap().to_owned(),
    )
}

async fn version_count(tenant: &str) -> usize {
    let admin = admin_client(&secrets_manager_endpoint());
    moto::version_count(&admin, &format!("tenant/{tenant}/vapi")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_manager_faults_end_to_end() {
    let proxy = FaultProxy::start();
    let stack = Stack::start_behind(1, &proxy.endpoint()).await;
    let tenant = unique("org_fault");
    assert_eq!(
        stack
            .call(
                "connect-integration",
                &vapi(&tenant, "sk-fault-initial-0001")
            )
            .await
            .status,
        201
    );

    // A short throttling burst is absorbed by the SDK's retries.
    proxy
        .set(json!([{"action": "GetSecretValue", "fault": "throttle", "times": 2}]))
        .await;
    assert_eq!(
        stack.call("fetch-key", &fetch_fresh(&tenant)).await.status,
        200
    );

    // Throttling that outlasts the retries: 503 with Retry-After, quickly.
    proxy
        .set(json!([{"action": "GetSecretValue", "fault": "throttle", "times": -1}]))
        .await;
    let started = Instant::now();
    let throttled = stack.call("fetch-key", &fetch_fresh(&tenant)).await;
    assert_eq!(
        (throttled.status, throttled.body["code"].as_str()),
        (503, Some("upstream_unavailable"))
    );
    assert!(throttled.headers.contains_key("retry-after"));
    assert!(
        started.elapsed().as_secs() < 6,
        "bounded retries: {:?}",
        started.elapsed()
    );

    // 5xx on the write of an update: 503, and AWSCURRENT is exactly as it was.
    let before = current(&tenant).await;
    proxy
        .set(json!([{"action": "PutSecretValue", "fault": "error500", "times": -1}]))
        .await;
    let update = json!({"tenantId": tenant, "provider": "vapi", "credentials": {"privateApiKey": "sk-fault-lost-0002"}});
    let failed = stack.call("update-key", &update).await;
    assert_eq!(
        (failed.status, failed.body["code"].as_str()),
        (503, Some("upstream_unavailable"))
    );
    assert_eq!(current(&tenant).await, before);

    // A stalled compare-and-swap: the SDK's timeouts end it, AWSCURRENT has not moved.
    proxy
        .set(json!([{"action": "UpdateSecretVersionStage", "fault": "timeout", "times": -1}]))
        .await;
    let stalled = stack.call("update-key", &update).await;
    assert_eq!(
        (stalled.status, stalled.body["code"].as_str()),
        (503, Some("upstream_unavailable"))
    );
    assert_eq!(current(&tenant).await, before);

    // Once Secrets Manager is back, the same update goes through.
    proxy.set(json!([])).await;
    let recovered = stack.call("update-key", &update).await;
    assert_eq!(recovered.status, 200, "{:?}", recovered.body);
    assert!(current(&tenant).await.1.contains("sk-fault-lost-0002"));

    // CreateSecret fails for good: 503 and no secret at all; the caller's retry (same webhook-id)
    // then creates it once.
    let new_tenant = unique("org_fault_new");
    let body = vapi(&new_tenant, "sk-fault-create-0003").to_string();
    let webhook_id = unique("msg_");
    proxy
        .set(json!([{"action": "CreateSecret", "fault": "error500", "times": -1}]))
        .await;
    let refused = stack
        .call_signed("connect-integration", &body, &webhook_id, now())
        .await;
    assert_eq!(refused.status, 503);
    let listed = admin_client(&secrets_manager_endpoint())
        .describe_secret()
        .secret_id(format!("tenant/{new_tenant}/vapi"))
        .send()
        .await;
    assert!(listed.is_err(), "nothing half-created");
    proxy.set(json!([])).await;
    let retried = stack
        .call_signed("connect-integration", &body, &webhook_id, now())
        .await;
    assert_eq!(retried.status, 201);
    assert_eq!(version_count(&new_tenant).await, 1);

    // CreateSecret lands but its answer is lost: the SDK's retry (same token) is a no-op, so the
    // connect succeeds with exactly one secret and one version.
    let lost_tenant = unique("org_fault_lost");
    proxy
        .set(json!([{"action": "CreateSecret", "fault": "lost_response", "times": 1}]))
        .await;
    let connected = stack
        .call(
            "connect-integration",
            &vapi(&lost_tenant, "sk-fault-lost-0004"),
        )
        .await;
    assert!(
        connected.status == 201 || connected.status == 200,
        "{:?}",
        connected.body
    );
    assert_eq!(version_count(&lost_tenant).await, 1);

    // PutSecretValue lands but its answer is lost while replacing: still one new version.
    proxy
        .set(json!([{"action": "PutSecretValue", "fault": "lost_response", "times": 1}]))
        .await;
    let replaced = stack
        .call(
            "connect-integration",
            &vapi(&lost_tenant, "sk-fault-lost-0005"),
        )
        .await;
    assert_eq!(replaced.status, 200, "{:?}", replaced.body);
    assert_eq!(version_count(&lost_tenant).await, 2);
    proxy.set(json!([])).await;

    // AWS's version quota: PutSecretValue answers LimitExceededException. It is not retried (one
    // injected refusal is enough to fail the request), the caller gets 429 too_many_writes with a
    // long Retry-After, and nothing changes.
    let before = current(&lost_tenant).await;
    let versions = version_count(&lost_tenant).await;
    proxy
        .set(json!([{"action": "PutSecretValue", "fault": "limit_exceeded", "times": 1}]))
        .await;
    let update = |private: &str| json!({"tenantId": lost_tenant, "provider": "vapi", "credentials": {"privateApiKey": private}});
    let refused = stack
        .call("update-key", &update("sk-fault-quota-0006"))
        .await;
    assert_eq!(
        (refused.status, refused.body["code"].as_str()),
        (429, Some("too_many_writes")),
        "{:?}",
        refused.body
    );
    assert_eq!(refused.headers["retry-after"], "3600");
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("100 versions")
    );
    assert_eq!(current(&lost_tenant).await, before);
    assert_eq!(version_count(&lost_tenant).await, versions);
    proxy
        .set(json!([{"action": "PutSecretValue", "fault": "limit_exceeded", "times": 1}]))
        .await;
    let refused = stack
        .call(
            "connect-integration",
            &vapi(&lost_tenant, "sk-fault-quota-0007"),
        )
        .await;
    assert_eq!(refused.status, 429, "{:?}", refused.body);
    assert_eq!(current(&lost_tenant).await, before);

    // The compare-and-swap lands but its answer is lost: the SDK's retry fails (the label has
    // moved — to this request's own version), which is a success, with or without
    // expectedVersionId, for update and for connect alike.
    for (function, body) in [
        ("update-key", {
            let mut body = update("sk-fault-cas-lost-0008");
            body["expectedVersionId"] = json!(before.0);
            body
        }),
        ("update-key", update("sk-fault-cas-lost-0009")),
        (
            "connect-integration",
            vapi(&lost_tenant, "sk-fault-cas-lost-0010"),
        ),
    ] {
        proxy
            .set(json!([{"action": "UpdateSecretVersionStage", "fault": "lost_response", "times": 1}]))
            .await;
        let answer = stack.call(function, &body).await;
        assert_eq!(answer.status, 200, "{function}: {:?}", answer.body);
        let (version, value) = current(&lost_tenant).await;
        assert_eq!(answer.body["versionId"], version.as_str(), "{function}");
        assert!(value.contains(body["credentials"]["privateApiKey"].as_str().unwrap()));
    }
    proxy.set(json!([])).await;

    let calls = proxy.calls().await;
    assert!(calls["GetSecretValue"].as_u64().unwrap() > 0, "{calls}");
}
