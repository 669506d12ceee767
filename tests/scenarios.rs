//! Scenarios shared by the end-to-end suites: each takes a [`Stack`] however it is served (the
//! cargo-lambda emulator in `e2e.rs`, `sam local start-api` in `sam_local.rs`) and checks what
//! README promises of the functions' answers.

use std::sync::Arc;

use serde_json::{Value, json};
use tenant_keys_e2e::{Answer, Stack, admin_client, now, secrets_manager_endpoint, unique};

/// Credential values used by the scenarios; none may ever appear in the functions' output.
pub struct Secrets(pub std::sync::Mutex<Vec<String>>);

impl Secrets {
    pub fn new_value(&self, prefix: &str) -> String {
        self.new_value_joined(&format!("{prefix}-"))
    }

    /// A new value that is `prefix` and hex digits, for fields with a pattern.
    pub fn new_value_joined(&self, prefix: &str) -> String {
        let value = unique(prefix);
        self.0.lock().unwrap().push(value.clone());
        value
    }
}

pub fn vapi(tenant: &str, public: &str, private: &str) -> Value {
    json!({"tenantId": tenant, "provider": "vapi",
           "credentials": {"publicApiKey": public, "privateApiKey": private}})
}

pub async fn connect_fetch_update_and_previous(stack: &Stack, secrets: &Secrets) {
    let tenant = unique("org_flow");
    let (public, private) = (secrets.new_value("pk"), secrets.new_value("sk"));
    let connected = stack
        .call("connect-integration", &vapi(&tenant, &public, &private))
        .await;
    assert_eq!(connected.status, 201, "{:?}", connected.body);
    let first_version = connected.body["versionId"].as_str().unwrap().to_owned();
    assert!(!connected.body.to_string().contains(&private));

    let fetch = |view: &str, version: &str| json!({"tenantId": tenant, "provider": "vapi", "view": view, "version": version});
    let full = stack.call("fetch-key", &fetch("full", "current")).await;
    assert_eq!(full.status, 200);
    assert_eq!(full.headers["cache-control"], "no-store");
    assert_eq!(
        full.body["credentials"],
        json!({"publicApiKey": public, "privateApiKey": private})
    );
    let public_view = stack.call("fetch-key", &fetch("public", "current")).await;
    assert_eq!(
        public_view.body["credentials"],
        json!({"publicApiKey": public})
    );
    let masked = stack.call("fetch-key", &fetch("masked", "current")).await;
    let masked_private = masked.body["credentials"]["privateApiKey"]
        .as_str()
        .unwrap();
    assert_eq!(
        masked_private,
        format!("****{}", &private[private.len() - 4..])
    );

    let rotated = secrets.new_value("sk-rotated");
    let update = |key: &str| {
        json!({"tenantId": tenant, "provider": "vapi",
        "credentials": {"privateApiKey": key}, "expectedVersionId": first_version})
    };
    let won = stack.call("update-key", &update(&rotated)).await;
    assert_eq!(won.status, 200, "{:?}", won.body);
    let lost = stack
        .call("update-key", &update(&secrets.new_value("sk-stale")))
        .await;
    assert_eq!(
        (lost.status, lost.body["code"].as_str()),
        (409, Some("version_conflict"))
    );

    // Full reads are fresh by default: the update shows at once, whichever container answers.
    let current = stack.call("fetch-key", &fetch("full", "current")).await;
    assert_eq!(
        current.body["credentials"]["privateApiKey"],
        rotated.as_str()
    );
    assert_eq!(current.body["credentials"]["publicApiKey"], public.as_str());
    let previous = stack.call("fetch-key", &fetch("full", "previous")).await;
    assert_eq!(previous.body["versionId"], first_version.as_str());
    assert_eq!(
        previous.body["credentials"]["privateApiKey"],
        private.as_str()
    );
    let by_id = stack
        .call(
            "fetch-key",
            &json!({"tenantId": tenant, "provider": "vapi", "versionId": first_version}),
        )
        .await;
    assert_eq!(by_id.body["credentials"]["privateApiKey"], private.as_str());

    // An update that changes nothing writes no version.
    let name = format!("tenant/{tenant}/vapi");
    let admin = admin_client(&secrets_manager_endpoint());
    let versions = moto::version_count(&admin, &name).await;
    let same = stack
        .call(
            "update-key",
            &json!({"tenantId": tenant, "provider": "vapi", "credentials": {"privateApiKey": rotated}}),
        )
        .await;
    assert_eq!(
        (same.status, &same.body["changed"], &same.body["versionId"]),
        (200, &json!(false), &current.body["versionId"])
    );
    assert_eq!(moto::version_count(&admin, &name).await, versions);
}

pub async fn every_auth_failure_is_the_same_401(stack: &Stack) {
    let body = json!({"tenantId": "org_auth", "provider": "vapi"}).to_string();
    let good = stack
        .call_signed("fetch-key", &body, "msg_auth", now())
        .await;
    assert_eq!(good.status, 404, "a correctly signed request passes");

    let headers = |id: &str, timestamp: i64, signature: &str| {
        vec![
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature.to_owned()),
        ]
    };
    let forged = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
    let mut answers = vec![
        stack.send("POST", "fetch-key", &body, &[]).await,
        stack
            .send(
                "POST",
                "fetch-key",
                &body,
                &headers("msg_auth", now(), forged),
            )
            .await,
        stack
            .call_signed("fetch-key", &body, "msg_auth", now() - 301)
            .await,
        stack
            .call_signed("fetch-key", &body, "msg_auth", now() + 301)
            .await,
    ];
    let signed_for_other_body = stack
        .call_signed(
            "fetch-key",
            &json!({"tenantId": "org_other", "provider": "vapi"}).to_string(),
            "msg_auth",
            now(),
        )
        .await;
    assert_eq!(signed_for_other_body.status, 404);
    let replay_headers = headers("msg_auth", now(), stack.signatures_sent().last().unwrap());
    answers.push(
        stack
            .send("POST", "fetch-key", &body, &replay_headers)
            .await,
    );
    for answer in &answers {
        assert_eq!(answer.status, 401, "{:?}", answer.body);
        assert_eq!(answer.body, answers[0].body);
    }
    assert_eq!(answers[0].body["code"], "unauthorized");
}

pub async fn bad_inputs_get_their_4xx(stack: &Stack) {
    let tenant = unique("org_bad");
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(70 * 1024));
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("fetch-key", "{not json".into(), 400, "invalid_json"),
        ("fetch-key", json!({"tenantId": tenant, "provider": "vapi", "extra": 1}).to_string(), 400, "invalid_request"),
        ("fetch-key", json!({"tenantId": "org_1/../org_2", "provider": "vapi"}).to_string(), 400, "invalid_tenant_id"),
        ("fetch-key", json!({"tenantId": "org_1%2Fvapi", "provider": "vapi"}).to_string(), 400, "invalid_tenant_id"),
        ("fetch-key", json!({"tenantId": tenant, "provider": "paypal"}).to_string(), 400, "unknown_provider"),
        ("connect-integration", json!({"tenantId": tenant, "provider": "vapi", "credentials": {"publicApiKey": "pk"}}).to_string(), 400, "invalid_credentials"),
        ("update-key", json!({"tenantId": tenant, "provider": "vapi", "credentials": {"privateApiKey": "sk-xyz"}}).to_string(), 404, "not_found"),
        ("fetch-key", big, 413, "payload_too_large"),
    ];
    for (function, body, status, code) in cases {
        let answer = stack
            .call_signed(function, &body, &unique("msg_"), now())
            .await;
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (status, Some(code)),
            "{function}: {:?}",
            answer.body
        );
        assert_eq!(answer.headers["content-type"], "application/problem+json");
    }
    for function in ["connect-integration", "fetch-key", "update-key"] {
        let get = stack.send("GET", function, "", &[]).await;
        assert_eq!(
            (get.status, get.body["code"].as_str()),
            (405, Some("method_not_allowed"))
        );
        assert_eq!(get.headers["content-type"], "application/problem+json");
        assert_eq!(get.headers["allow"], "POST");
    }
}

/// Sends every body to `function` at once and returns the answers in order.
pub async fn all_at_once(
    stack: &Arc<Stack>,
    function: &'static str,
    bodies: Vec<Value>,
) -> Vec<Answer> {
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let stack = stack.clone();
            tokio::spawn(async move { stack.call(function, &body).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

pub fn count(answers: &[Answer], status: u16) -> usize {
    answers.iter().filter(|a| a.status == status).count()
}

pub async fn concurrent_connects_for_a_new_tenant(stack: &Arc<Stack>, secrets: &Secrets) {
    let tenant = unique("org_race");
    let bodies = (0..20)
        .map(|_| vapi(&tenant, &secrets.new_value("pk"), &secrets.new_value("sk")))
        .collect();
    let answers = all_at_once(stack, "connect-integration", bodies).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(count(&answers, 201), 1, "{statuses:?}");
    // The others replace the value in turn; under this much contention a replace may give up
    // after its bounded move rounds with a retryable 409, never anything else.
    assert_eq!(
        count(&answers, 200) + count(&answers, 409),
        19,
        "{statuses:?}"
    );
    assert!(count(&answers, 200) > 0, "{statuses:?}");
    let admin = admin_client(&secrets_manager_endpoint());
    assert_eq!(
        moto::secrets_named_under(&admin, &format!("tenant/{tenant}/")).await,
        1
    );
}

/// disconnect → fetch 404 → reconnect restores → previous is the old value → list shows each
/// state; allProviders offboards a tenant with two providers; purge deletes at once.
pub async fn disconnect_restore_list_and_offboard(stack: &Stack, secrets: &Secrets) {
    let tenant = unique("org_life");
    let (public, private) = (secrets.new_value("pk"), secrets.new_value("sk"));
    stack
        .call("connect-integration", &vapi(&tenant, &public, &private))
        .await;
    let openai = json!({"tenantId": tenant, "provider": "openai",
        "credentials": {"apiKey": secrets.new_value("sk-openai")}});
    assert_eq!(stack.call("connect-integration", &openai).await.status, 201);
    let one = json!({"tenantId": tenant, "provider": "vapi"});
    let list_body = json!({"tenantId": tenant});
    let list = || stack.call("list-integrations", &list_body);
    let states = |answer: &Answer| -> Vec<(String, String)> {
        answer.body["integrations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["provider"].as_str().unwrap().to_owned(),
                    i["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let connected = |p: &str| (p.to_owned(), "connected".to_owned());
    let disconnected = |p: &str| (p.to_owned(), "disconnected".to_owned());
    assert_eq!(
        states(&list().await),
        [connected("vapi"), connected("openai")]
    );

    let gone = stack.call("disconnect-integration", &one).await;
    assert_eq!(gone.status, 200, "{:?}", gone.body);
    let fetched = stack.call("fetch-key", &one).await;
    assert_eq!(
        (fetched.status, fetched.body["code"].as_str()),
        (404, Some("not_found"))
    );
    assert_eq!(fetched.body["deletionDate"], gone.body["deletionDate"]);
    assert_eq!(
        states(&list().await),
        [disconnected("vapi"), connected("openai")]
    );

    let new_private = secrets.new_value("sk-restored");
    let restored = stack
        .call("connect-integration", &vapi(&tenant, &public, &new_private))
        .await;
    assert_eq!(restored.status, 200, "{:?}", restored.body);
    assert_eq!(restored.body["restored"], true);
    let previous = stack
        .call(
            "fetch-key",
            &json!({"tenantId": tenant, "provider": "vapi", "version": "previous"}),
        )
        .await;
    assert_eq!(
        previous.body["credentials"]["privateApiKey"],
        private.as_str()
    );
    assert_eq!(
        states(&list().await),
        [connected("vapi"), connected("openai")]
    );

    let offboard = json!({"tenantId": tenant, "allProviders": true});
    let offboarded = stack.call("disconnect-integration", &offboard).await;
    assert_eq!(offboarded.status, 200, "{:?}", offboarded.body);
    assert_eq!(offboarded.body["integrations"].as_array().unwrap().len(), 2);
    assert_eq!(
        states(&list().await),
        [disconnected("vapi"), disconnected("openai")]
    );

    let purge = json!({"tenantId": tenant, "allProviders": true, "purge": true});
    let purged = stack.call("disconnect-integration", &purge).await;
    assert_eq!(purged.status, 200, "{:?}", purged.body);
    assert!(states(&list().await).is_empty());
    let admin = admin_client(&secrets_manager_endpoint());
    assert_eq!(
        moto::secrets_named_under(&admin, &format!("tenant/{tenant}/")).await,
        0
    );
}
