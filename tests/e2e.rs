//! End to end: the release binaries, run by the cargo-lambda Runtime API emulator exactly as Lambda
//! runs them (several instances per function), against moto, called over HTTP with signed requests.
//! One stack serves every scenario in turn; at the end, nothing secret may appear in what the
//! functions printed.

use std::process::{Command, Stdio};
use std::sync::Arc;

use moto::provider::{MockProvider, Mode};
use serde_json::{Value, json};
use tenant_keys_e2e::{
    FUNCTIONS, OPERATOR_PROVIDERS_FILE, Stack, admin_client, leaks, now, output_with_stdin,
    release_binaries, secrets_manager_endpoint, unique, workspace,
};

mod scenarios;

use scenarios::*;

const INSTANCES_PER_FUNCTION: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn end_to_end_through_the_lambda_runtime_emulator() {
    // The provider checks (`verify`) go to a mock provider of this test's own.
    let provider = MockProvider::start(Mode::Accept).await;
    // SAFETY of the test: set before the stack (and any other thread of this test) starts.
    unsafe {
        std::env::set_var("PROVIDER_CHECK_BASE_URL_VAPI", provider.url());
        std::env::set_var("PROVIDER_API_BASE_URL_VAPI", provider.url());
        std::env::set_var("PROVIDER_CHECK_BASE_URL_STRIPE", provider.url());
    }
    let stack = Arc::new(Stack::start_allowing_purge(INSTANCES_PER_FUNCTION).await);
    let secrets = Arc::new(Secrets(std::sync::Mutex::new(Vec::new())));

    connect_fetch_update_and_previous(&stack, &secrets).await;
    connects_and_updates_in_turn(&stack, &secrets).await;
    verify_checks_with_the_provider(&stack, &secrets, &provider).await;
    a_provider_added_by_the_operator_file(&stack, &secrets, &provider).await;
    every_auth_failure_is_the_same_401(&stack).await;
    bad_inputs_get_their_4xx(&stack).await;
    concurrent_connects_for_a_new_tenant(&stack, &secrets).await;
    concurrent_updates_with_one_expected_version(&stack, &secrets).await;
    concurrent_partial_updates_all_survive(&stack, &secrets).await;
    disconnect_restore_list_and_offboard(&stack, &secrets).await;
    concurrent_disconnect_and_connect(&stack, &secrets).await;
    the_smoke_script_passes(&stack).await;
    purge_is_refused_where_the_stack_does_not_allow_it().await;
    the_sam_local_events_work(&stack).await;
    the_cli_round_trips(&stack, &secrets).await;
    call_provider_through_the_emulator(&stack, &secrets, &provider).await;
    readmes_cli_commands_run_as_written(&stack, &secrets).await;
    let metered = a_known_sequence_for_the_metrics(&stack, &secrets).await;

    let output = stack.function_output();
    assert!(
        output.contains("\"request served\""),
        "the functions logged their requests"
    );
    every_metrics_line_is_valid_emf_and_counts_the_known_sequence(
        &output,
        &metered,
        &secrets.0.lock().unwrap(),
    );
    let mut forbidden = secrets.0.lock().unwrap().clone();
    forbidden.extend(stack.signatures_sent());
    forbidden.push(stack.signing_secret().to_owned());
    forbidden.push(
        stack
            .signing_secret()
            .trim_start_matches("whsec_")
            .to_owned(),
    );
    let leaked = leaks(&output, &forbidden);
    assert!(
        leaked.is_empty(),
        "the functions printed secrets: {leaked:?}"
    );
}

/// `"verify": true` through the emulator, against the mock provider: each outcome of the check,
/// the exact request it made, and that nothing was written when the key was refused or could not
/// be checked.
async fn verify_checks_with_the_provider(
    stack: &Stack,
    secrets: &Secrets,
    provider: &MockProvider,
) {
    let connect = |tenant: &str, private: &str| {
        let mut body = vapi(tenant, &secrets.new_value("pk"), private);
        body["verify"] = json!(true);
        body
    };
    let admin = admin_client(&secrets_manager_endpoint());
    let stored = |tenant: String| {
        let admin = admin.clone();
        async move { moto::secrets_named_under(&admin, &format!("tenant/{tenant}/")).await }
    };

    provider.set(Mode::Accept);
    let tenant = unique("org_verify");
    let key = secrets.new_value("sk-verify");
    let accepted = stack
        .call("connect-integration", &connect(&tenant, &key))
        .await;
    assert_eq!(
        (accepted.status, &accepted.body["verified"]),
        (201, &json!(true))
    );
    let request = provider.received().pop().unwrap();
    assert_eq!(
        (request.method.as_str(), request.target.as_str()),
        ("GET", "/assistant?limit=1")
    );
    assert_eq!(request.authorization, Some(format!("Bearer {key}")));

    for (mode, status, code) in [
        (Mode::Status(401), 422, "credentials_rejected"),
        (Mode::Status(502), 503, "provider_unavailable"),
        (Mode::Drop, 503, "provider_unavailable"),
    ] {
        provider.set(mode);
        let fresh = unique("org_verify_no");
        let answer = stack
            .call(
                "connect-integration",
                &connect(&fresh, &secrets.new_value("sk-no")),
            )
            .await;
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (status, Some(code)),
            "{:?}",
            answer.body
        );
        assert_eq!(stored(fresh).await, 0, "nothing written");
        let update = json!({"tenantId": tenant, "provider": "vapi", "verify": true,
            "credentials": {"privateApiKey": secrets.new_value("sk-no-update")}});
        let answer = stack.call("update-key", &update).await;
        assert_eq!(answer.status, status, "{:?}", answer.body);
        let current = stack
            .call(
                "fetch-key",
                &json!({"tenantId": tenant, "provider": "vapi"}),
            )
            .await;
        assert_eq!(
            current.body["versionId"], accepted.body["versionId"],
            "nothing written"
        );
    }
    provider.set(Mode::Accept);
}

/// Stripe, which only the operator file the binaries were built with defines
/// ([`OPERATOR_PROVIDERS_FILE`]): connect with verify, the public and full views, an update
/// checked with Stripe, field patterns and a refusal naming the field, list, disconnect.
async fn a_provider_added_by_the_operator_file(
    stack: &Stack,
    secrets: &Secrets,
    provider: &MockProvider,
) {
    let tenant = unique("org_operator");
    let one = json!({"tenantId": tenant, "provider": "stripe"});
    let publishable = secrets.new_value_joined("pk_test_");
    let secret = secrets.new_value_joined("sk_test_");
    provider.set(Mode::Accept);
    let connect = json!({"tenantId": tenant, "provider": "stripe", "verify": true,
        "credentials": {"publishableKey": publishable, "secretKey": secret}});
    let connected = stack.call("connect-integration", &connect).await;
    assert_eq!(
        (connected.status, &connected.body["verified"]),
        (201, &json!(true)),
        "{:?}",
        connected.body
    );
    let checked = provider.received().pop().unwrap();
    assert_eq!(
        (checked.method.as_str(), checked.target.as_str()),
        ("GET", "/v1/balance")
    );
    assert_eq!(checked.authorization, Some(format!("Bearer {secret}")));

    let mut widget = one.clone();
    widget["view"] = json!("public");
    let public = stack.call("fetch-key", &widget).await;
    assert_eq!(
        (public.status, &public.body["credentials"]),
        (200, &json!({"publishableKey": publishable}))
    );
    let full = stack.call("fetch-key", &one).await;
    assert_eq!(
        full.body["credentials"],
        json!({"publishableKey": publishable, "secretKey": secret})
    );

    let rotated_secret = secrets.new_value_joined("rk_live_");
    let rotate = json!({"tenantId": tenant, "provider": "stripe", "verify": true,
        "credentials": {"secretKey": rotated_secret}});
    let rotated = stack.call("update-key", &rotate).await;
    assert_eq!(
        (rotated.status, &rotated.body["verified"]),
        (200, &json!(true)),
        "{:?}",
        rotated.body
    );
    assert_eq!(
        provider.received().pop().unwrap().authorization,
        Some(format!("Bearer {rotated_secret}"))
    );

    // The secret key pasted into the publishable key's place: its pattern refuses it.
    let swapped = json!({"tenantId": tenant, "provider": "stripe",
        "credentials": {"publishableKey": secrets.new_value_joined("sk_live_")}});
    let answer = stack.call("update-key", &swapped).await;
    assert_eq!(
        (answer.status, answer.body["detail"].as_str()),
        (
            400,
            Some("credentials.publishableKey must match the pattern pk_(test|live)_[0-9A-Za-z]+")
        )
    );
    provider.set(Mode::Status(401));
    let mut refused = rotate.clone();
    refused["credentials"]["secretKey"] = json!(secrets.new_value_joined("sk_live_"));
    let answer = stack.call("update-key", &refused).await;
    assert_eq!(
        (answer.status, answer.body["code"].as_str()),
        (422, Some("credentials_rejected"))
    );
    assert!(
        answer.body["detail"]
            .as_str()
            .unwrap()
            .contains("secretKey")
    );
    provider.set(Mode::Accept);
    let current = stack.call("fetch-key", &one).await;
    assert_eq!(current.body["versionId"], rotated.body["versionId"]);

    let listed = stack
        .call("list-integrations", &json!({"tenantId": tenant}))
        .await;
    let integrations = listed.body["integrations"].as_array().unwrap();
    assert_eq!(
        (
            integrations.len(),
            &integrations[0]["provider"],
            &integrations[0]["status"]
        ),
        (1, &json!("stripe"), &json!("connected"))
    );
    let gone = stack.call("disconnect-integration", &one).await;
    assert_eq!(gone.status, 200, "{:?}", gone.body);
    let fetched = stack.call("fetch-key", &one).await;
    assert_eq!(
        (fetched.status, fetched.body["code"].as_str()),
        (404, Some("not_found"))
    );
    let listed = stack
        .call("list-integrations", &json!({"tenantId": tenant}))
        .await;
    assert_eq!(listed.body["integrations"][0]["status"], "disconnected");

    // The CLI of the same build lists it with its rules and its check.
    let providers = Command::new(release_binaries().join("tenant-keys"))
        .arg("providers")
        .output()
        .unwrap();
    let listing = String::from_utf8(providers.stdout).unwrap();
    assert!(
        listing.lines().any(|line| line
            == "stripe\tpublishableKey (public, pattern pk_(test|live)_[0-9A-Za-z]+), \
                secretKey (1-255 characters, pattern (sk|rk)_(test|live)_[0-9A-Za-z]+)\t\
                check: GET https://api.stripe.com/v1/balance, Bearer secretKey"),
        "{OPERATOR_PROVIDERS_FILE} not in the CLI's list:\n{listing}"
    );
}

/// connect → update → connect → update: after each step the write is current, the one before it
/// previous, and the version map has exactly one AWSCURRENT and one AWSPREVIOUS label.
async fn connects_and_updates_in_turn(stack: &Stack, secrets: &Secrets) {
    let tenant = unique("org_turns");
    let name = format!("tenant/{tenant}/vapi");
    let admin = admin_client(&secrets_manager_endpoint());
    let first = stack
        .call(
            "connect-integration",
            &vapi(&tenant, &secrets.new_value("pk"), &secrets.new_value("sk")),
        )
        .await;
    let mut before = first.body["versionId"].as_str().unwrap().to_owned();
    for step in [
        "update-key",
        "connect-integration",
        "update-key",
        "connect-integration",
    ] {
        let private = secrets.new_value("sk-turn");
        let body = if step == "update-key" {
            json!({"tenantId": tenant, "provider": "vapi", "credentials": {"privateApiKey": private}})
        } else {
            vapi(&tenant, &secrets.new_value("pk-turn"), &private)
        };
        let answer = stack.call(step, &body).await;
        assert_eq!(answer.status, 200, "{step}: {:?}", answer.body);
        let written = answer.body["versionId"].as_str().unwrap().to_owned();
        let current = stack
            .call(
                "fetch-key",
                &json!({"tenantId": tenant, "provider": "vapi"}),
            )
            .await;
        assert_eq!(current.body["versionId"], written.as_str(), "{step}");
        assert_eq!(
            current.body["credentials"]["privateApiKey"],
            private.as_str()
        );
        let previous = stack
            .call(
                "fetch-key",
                &json!({"tenantId": tenant, "provider": "vapi", "version": "previous"}),
            )
            .await;
        assert_eq!(previous.body["versionId"], before.as_str(), "{step}");

        let map = admin
            .describe_secret()
            .secret_id(&name)
            .send()
            .await
            .unwrap();
        let map = map.version_ids_to_stages().unwrap();
        let holders = |stage: &str| -> Vec<&String> {
            map.iter()
                .filter(|(_, stages)| stages.iter().any(|s| s == stage))
                .map(|(id, _)| id)
                .collect()
        };
        assert_eq!(holders("AWSCURRENT"), [&written], "{step}: {map:?}");
        assert_eq!(holders("AWSPREVIOUS"), [&before], "{step}: {map:?}");
        before = written;
    }
}

async fn concurrent_updates_with_one_expected_version(stack: &Arc<Stack>, secrets: &Secrets) {
    let tenant = unique("org_cas");
    let connected = stack
        .call(
            "connect-integration",
            &vapi(&tenant, &secrets.new_value("pk"), &secrets.new_value("sk")),
        )
        .await;
    let version = connected.body["versionId"].as_str().unwrap().to_owned();
    let bodies = (0..10)
        .map(|_| {
            json!({"tenantId": tenant, "provider": "vapi",
                "credentials": {"privateApiKey": secrets.new_value("sk-cas")}, "expectedVersionId": version})
        })
        .collect();
    let answers = all_at_once(stack, "update-key", bodies).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(count(&answers, 200), 1, "{statuses:?}");
    assert_eq!(count(&answers, 409), 9, "{statuses:?}");
}

async fn concurrent_partial_updates_all_survive(stack: &Arc<Stack>, secrets: &Arc<Secrets>) {
    let tenant = unique("org_merge");
    let connected = stack
        .call(
            "connect-integration",
            &vapi(&tenant, &secrets.new_value("pk"), &secrets.new_value("sk")),
        )
        .await;
    assert_eq!(connected.status, 201);
    let update = |field: &str, value: &str| json!({"tenantId": tenant, "provider": "vapi", "credentials": {field: value}});

    // Two concurrent updates of different fields, round after round: both always survive.
    for _ in 0..10 {
        let (public, private) = (secrets.new_value("pk-round"), secrets.new_value("sk-round"));
        let (public_update, private_update) = (
            update("publicApiKey", &public),
            update("privateApiKey", &private),
        );
        let (a, b) = tokio::join!(
            stack.call("update-key", &public_update),
            stack.call("update-key", &private_update),
        );
        assert_eq!(
            (a.status, b.status),
            (200, 200),
            "{:?} {:?}",
            a.body,
            b.body
        );
        let now = stack
            .call(
                "fetch-key",
                &json!({"tenantId": tenant, "provider": "vapi"}),
            )
            .await;
        assert_eq!(
            now.body["credentials"],
            json!({"publicApiKey": public, "privateApiKey": private})
        );
    }

    // 50 concurrent partial updates, half of each field. Each request writes at most 3 versions,
    // so under this contention some give up with a retryable 409; none that answered 200 is
    // lost: its version holds its value, and the final value of each field is one a 200 wrote.
    let (mut bodies, mut fields) = (Vec::new(), Vec::new());
    for i in 0..50 {
        let (field, value) = if i % 2 == 0 {
            ("publicApiKey", secrets.new_value("pk-fifty"))
        } else {
            ("privateApiKey", secrets.new_value("sk-fifty"))
        };
        bodies.push(update(field, &value));
        fields.push((field, value));
    }
    let answers = all_at_once(stack, "update-key", bodies).await;
    let mut won = std::collections::HashMap::new();
    for (answer, (field, value)) in answers.iter().zip(&fields) {
        match answer.status {
            200 => {
                let version = answer.body["versionId"].as_str().unwrap().to_owned();
                won.insert(version, (*field, value.clone()));
            }
            409 => assert_eq!(answer.body["code"], "version_conflict"),
            other => panic!("{other}: {:?}", answer.body),
        }
    }
    assert!(!won.is_empty());
    assert_eq!(
        won.len(),
        count(&answers, 200),
        "every update wrote its own version"
    );
    for (version, (field, value)) in &won {
        let read = stack
            .call(
                "fetch-key",
                &json!({"tenantId": tenant, "provider": "vapi", "versionId": version}),
            )
            .await;
        assert_eq!(read.body["credentials"][field], value.as_str());
    }
    let last = stack
        .call(
            "fetch-key",
            &json!({"tenantId": tenant, "provider": "vapi"}),
        )
        .await;
    for field in ["publicApiKey", "privateApiKey"] {
        let final_value = last.body["credentials"][field].as_str().unwrap();
        let refused = fields
            .iter()
            .zip(&answers)
            .any(|((f, v), a)| *f == field && v == final_value && a.status != 200);
        assert!(!refused, "{field}: a refused update's value is stored");
    }
    assert!(
        moto::version_count(
            &admin_client(&secrets_manager_endpoint()),
            &format!("tenant/{tenant}/vapi")
        )
        .await
            <= 1 + 3 * (2 * 10 + 50),
        "at most 3 versions per request"
    );
}

/// Connect and disconnect of one integration at once, round after round: the final state is the
/// one the answer that came last describes.
async fn concurrent_disconnect_and_connect(stack: &Arc<Stack>, secrets: &Secrets) {
    let tenant = unique("org_life_race");
    let body = |private: &str| vapi(&tenant, &secrets.new_value("pk"), private);
    stack
        .call("connect-integration", &body(&secrets.new_value("sk")))
        .await;
    let one = json!({"tenantId": tenant, "provider": "vapi"});
    for _ in 0..5 {
        let connect = body(&secrets.new_value("sk-race"));
        let (connected, disconnected) = tokio::join!(
            async {
                let answer = stack.call("connect-integration", &connect).await;
                (answer, std::time::Instant::now())
            },
            async {
                let answer = stack.call("disconnect-integration", &one).await;
                (answer, std::time::Instant::now())
            },
        );
        assert_eq!(connected.0.status, 200, "{:?}", connected.0.body);
        assert_eq!(disconnected.0.status, 200, "{:?}", disconnected.0.body);
        let listed = stack
            .call("list-integrations", &json!({"tenantId": tenant}))
            .await;
        let status = listed.body["integrations"][0]["status"]
            .as_str()
            .unwrap()
            .to_owned();
        let last = if connected.1 > disconnected.1 {
            "connected"
        } else {
            "disconnected"
        };
        assert_eq!(
            status, last,
            "{:?} / {:?}",
            connected.0.body, disconnected.0.body
        );
        if status == "disconnected" {
            // Start the next round connected.
            stack
                .call("connect-integration", &body(&secrets.new_value("sk")))
                .await;
        }
    }
}

/// `scripts/smoke <base-url>` against the stack: its round trip passes, and with purge allowed the
/// throw-away secret is gone afterwards.
async fn the_smoke_script_passes(stack: &Stack) {
    let admin = admin_client(&secrets_manager_endpoint());
    let before = moto::secrets_named_under(&admin, "tenant/org_smoke_").await;
    let output = smoke(stack);
    assert!(
        output.contains("the throw-away secret was purged"),
        "{output}"
    );
    let after = moto::secrets_named_under(&admin, "tenant/org_smoke_").await;
    assert_eq!(after, before, "the smoke test leaves no secret behind");
}

/// Runs `scripts/smoke` against `stack` and returns what it printed; fails if it fails.
fn smoke(stack: &Stack) -> String {
    let output = Command::new(workspace().join("scripts/smoke"))
        .arg(stack.base_url())
        .env("TENANT_KEYS_SIGNING_SECRET", stack.signing_secret())
        .env("TENANT_KEYS_CLI", release_binaries().join("tenant-keys"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "scripts/smoke failed: {text}");
    text
}

/// A stack without purge, logging at `warn`: purge is refused and nothing is done; the smoke
/// script still passes (leaving its secret to the recovery window); and the functions print their
/// metrics lines although their info-level log lines are silenced.
async fn purge_is_refused_where_the_stack_does_not_allow_it() {
    let stack = Stack::start_quiet(1).await;
    let tenant = unique("org_no_purge");
    let connect = vapi(&tenant, "pk-no-purge-00000001", "sk-no-purge-00000001");
    assert_eq!(
        stack.call("connect-integration", &connect).await.status,
        201
    );
    let refused = stack
        .call(
            "disconnect-integration",
            &json!({"tenantId": tenant, "provider": "vapi", "purge": true}),
        )
        .await;
    assert_eq!(
        (refused.status, refused.body["code"].as_str()),
        (403, Some("purge_disabled"))
    );
    let still = stack
        .call(
            "fetch-key",
            &json!({"tenantId": tenant, "provider": "vapi"}),
        )
        .await;
    assert_eq!(still.status, 200, "nothing was done");

    assert!(smoke(&stack).contains("purge is disabled in this stack"));
    let output = stack.function_output();
    assert!(!output.contains("\"request served\""), "info lines at warn");
    assert!(
        output
            .lines()
            .filter(|line| line.contains("\"_aws\""))
            .count()
            >= 3,
        "metrics lines whatever the log level"
    );
}

/// A tenant of its own, and the webhook-id of its update: connect, a fetch of each view, an update,
/// a fetch of a provider never connected (not_found).
async fn a_known_sequence_for_the_metrics(stack: &Stack, secrets: &Secrets) -> (String, String) {
    let tenant = unique("org_metrics");
    let connect = vapi(&tenant, &secrets.new_value("pk"), &secrets.new_value("sk"));
    assert_eq!(
        stack.call("connect-integration", &connect).await.status,
        201
    );
    for view in ["full", "masked", "public"] {
        let body = json!({"tenantId": tenant, "provider": "vapi", "view": view});
        assert_eq!(stack.call("fetch-key", &body).await.status, 200);
    }
    let webhook_id = unique("msg_metrics");
    let update = json!({"tenantId": tenant, "provider": "vapi",
        "credentials": {"privateApiKey": secrets.new_value("sk-metrics")}});
    let updated = stack
        .call_signed("update-key", &update.to_string(), &webhook_id, now())
        .await;
    assert_eq!(updated.status, 200);
    let openai = json!({"tenantId": tenant, "provider": "openai"});
    assert_eq!(stack.call("fetch-key", &openai).await.status, 404);
    (tenant, webhook_id)
}

/// Every EMF line the functions printed: the format (CloudWatch's Embedded Metric Format: a
/// timestamp, namespaces, dimension sets and metrics, every one present as a member), dimensions
/// that are the operation and outcome only — never a tenant id or a credential —, and the counts
/// of the known sequence.
fn every_metrics_line_is_valid_emf_and_counts_the_known_sequence(
    output: &str,
    (tenant, webhook_id): &(String, String),
    credentials: &[String],
) {
    let lines: Vec<Value> = output
        .lines()
        .filter(|line| line.contains("\"_aws\""))
        .map(|line| serde_json::from_str(line).expect("an EMF line is one JSON object"))
        .collect();
    assert!(
        lines.len() > 50,
        "the functions printed {} EMF lines",
        lines.len()
    );
    for line in &lines {
        assert!(line["_aws"]["Timestamp"].as_u64().is_some(), "{line}");
        let directives = line["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert!(!directives.is_empty(), "{line}");
        for directive in directives {
            assert_eq!(directive["Namespace"], "TenantKeys", "{line}");
            for set in directive["Dimensions"].as_array().unwrap() {
                for dimension in set.as_array().unwrap() {
                    let name = dimension.as_str().unwrap();
                    assert!(tenant_keys::metrics::DIMENSIONS.contains(&name), "{line}");
                    let value = line[name].as_str().expect("a dimension is a string member");
                    assert!(
                        !value.starts_with("org_"),
                        "a tenant id as a dimension: {line}"
                    );
                }
            }
            for metric in directive["Metrics"].as_array().unwrap() {
                let name = metric["Name"].as_str().unwrap();
                assert!(metric["Unit"].is_string(), "{line}");
                assert!(line[name].is_number(), "{name} is no member: {line}");
                assert!(!name.contains("org_"), "{line}");
            }
        }
        let text = line.to_string();
        for credential in credentials {
            assert!(
                !text.contains(credential.as_str()),
                "a credential in {line}"
            );
        }
    }
    let ours: Vec<&Value> = lines
        .iter()
        .filter(|l| l["TenantId"] == tenant.as_str())
        .collect();
    let count = |operation: &str, outcome: &str| {
        ours.iter()
            .filter(|l| l["Operation"] == operation && l["Outcome"] == outcome)
            .map(|l| l["Requests"].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(count("connect-integration", "ok"), 1);
    assert_eq!(count("fetch-key", "ok"), 3);
    assert_eq!(count("update-key", "ok"), 1);
    assert_eq!(count("fetch-key", "not_found"), 1);
    assert_eq!(ours.len(), 6);
    let fetches: Vec<&&Value> = ours
        .iter()
        .filter(|l| l["Operation"] == "fetch-key" && l["Outcome"] == "ok")
        .collect();
    assert!(
        fetches
            .iter()
            .all(|l| l["CacheHit"].as_u64().unwrap() + l["CacheMiss"].as_u64().unwrap() == 1)
    );
    let update = ours
        .iter()
        .find(|l| l["Operation"] == "update-key")
        .unwrap();
    assert_eq!(update["WebhookId"], webhook_id.as_str());
    assert!(
        update["SecretsManagerCalls"].as_u64().unwrap() >= 4,
        "{update}"
    );
    let cold_starts: u64 = lines.iter().filter_map(|l| l["ColdStart"].as_u64()).sum();
    assert!(
        (FUNCTIONS.len()..=FUNCTIONS.len() * INSTANCES_PER_FUNCTION)
            .contains(&(cold_starts as usize)),
        "one cold start per function process that served: {cold_starts}"
    );
    // The audit trail: the update's log line names its webhook-id and the version it wrote.
    let audit = output
        .lines()
        .find(|line| line.contains("\"request served\"") && line.contains(webhook_id.as_str()))
        .expect("the update's log line");
    assert!(audit.contains("\"version_id\":\""), "{audit}");
}

async fn the_sam_local_events_work(stack: &Stack) {
    let out = std::env::temp_dir().join(unique("tenant-keys-events-"));
    let status = Command::new(workspace().join("events/generate"))
        .arg(&out)
        .env("TENANT_KEYS_SIGNING_SECRET", stack.signing_secret())
        .env("TENANT_KEYS_CLI", release_binaries().join("tenant-keys"))
        .env("TENANT", unique("org_events"))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "events/generate failed");
    for (function, expected) in [
        ("connect-integration", 201),
        ("fetch-key", 200),
        ("update-key", 200),
        ("list-integrations", 200),
        // The mock provider answers (PROVIDER_API_BASE_URL_VAPI).
        ("call-provider", 200),
        ("disconnect-integration", 200),
    ] {
        let event: Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(format!("{function}.json"))).unwrap(),
        )
        .unwrap();
        let result = stack.invoke_event(function, &event).await;
        assert_eq!(result["statusCode"], expected, "{function}: {result}");
    }
    let env: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace().join("events/env.json")).unwrap(),
    )
    .unwrap();
    for variable in ["WEBHOOK_SECRET_ID", "AWS_ENDPOINT_URL_SECRETS_MANAGER"] {
        assert!(
            env["Parameters"][variable].is_string(),
            "events/env.json lacks {variable}"
        );
    }
}

/// call-provider through the emulator: the provider gets the key, the caller gets the provider's
/// answer with the key replaced by `****`, and tenant-keys' own refusals stay problems; the CLI's
/// `call` prints the provider's answer.
async fn call_provider_through_the_emulator(
    stack: &Stack,
    secrets: &Secrets,
    provider: &MockProvider,
) {
    provider.set(Mode::Accept);
    let tenant = unique("org_call");
    let (public, private) = (secrets.new_value("pk-call"), secrets.new_value("sk-call"));
    let connected = stack
        .call("connect-integration", &vapi(&tenant, &public, &private))
        .await;
    assert_eq!(connected.status, 201);
    let call = json!({"tenantId": tenant, "provider": "vapi", "method": "GET",
                      "path": "/assistant", "query": {"limit": 1}});
    let answer = stack.call("call-provider", &call).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.headers["tenant-keys-provider"], "vapi");
    // The mock echoes the Authorization it got: the key, which must not come back.
    assert_eq!(answer.body, json!({"echo": "Bearer ****"}));
    let sent = provider.received().pop().unwrap();
    assert_eq!(sent.target, "/assistant?limit=1");
    assert_eq!(sent.authorization, Some(format!("Bearer {private}")));

    let refused = stack
        .call(
            "call-provider",
            &json!({"tenantId": tenant, "provider": "vapi", "method": "GET", "path": "/../x"}),
        )
        .await;
    assert_eq!(refused.status, 400);
    assert!(!refused.headers.contains_key("tenant-keys-provider"));

    let output = Command::new(release_binaries().join("tenant-keys"))
        .args([
            "call",
            "--tenant",
            &tenant,
            "--provider",
            "vapi",
            "--path",
            "/assistant",
        ])
        .env("TENANT_KEYS_URL", stack.base_url())
        .env("TENANT_KEYS_SIGNING_SECRET", stack.signing_secret())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(
        printed.contains("Bearer ****") && !printed.contains(&private),
        "{printed}"
    );
}

/// The commands of README's CLI section, one by one as written, against this stack: `cargo run -q
/// -p tenant-keys-cli --` is the built CLI, the signing secret comes from the file README exports,
/// `org_demo` is a fresh tenant (moto keeps other tests' tenants), `<versionId>` is the version
/// the last write answered, and a `-` value is given on stdin. Each must exit 0 and answer as its
/// place in the sequence says.
async fn readmes_cli_commands_run_as_written(stack: &Stack, secrets: &Secrets) {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let section = &readme[readme
        .find("### The CLI")
        .expect("README has a CLI section")..];
    let block = &section[section.find("```sh\n").unwrap() + 6..];
    let block = &block[..block.find("```").unwrap()];
    let lines: Vec<String> = block
        .replace("\\\n", " ")
        .lines()
        .map(|line| line.split(" # ").next().unwrap().trim().to_owned())
        .filter(|line| !line.is_empty())
        .collect();
    let tenant = unique("org_demo");
    let mut version_id = String::new();
    let mut ran = Vec::new();
    for line in &lines {
        if let Some(assignment) = line.strip_prefix("export ") {
            let (name, _) = assignment.split_once('=').unwrap();
            assert!(
                ["TENANT_KEYS_URL", "TENANT_KEYS_SIGNING_SECRET_FILE"].contains(&name),
                "README exports {name}"
            );
            continue;
        }
        let args = line
            .strip_prefix("cargo run -q -p tenant-keys-cli -- ")
            .unwrap_or_else(|| panic!("not a CLI command: {line}"));
        assert!(!args.contains(['"', '\'']), "quoting in {line}");
        let args: Vec<String> = args
            .split_whitespace()
            .map(|arg| match arg {
                "org_demo" => tenant.clone(),
                "<versionId>" => version_id.clone(),
                other => other.to_owned(),
            })
            .collect();
        let secret_file = std::env::temp_dir().join(unique("tenant-keys-readme-secret"));
        std::fs::write(&secret_file, stack.signing_secret()).unwrap();
        let stdin = format!("{}\n", secrets.new_value("sk-readme"));
        let output = output_with_stdin(
            Command::new(release_binaries().join("tenant-keys"))
                .args(&args)
                .env("TENANT_KEYS_URL", stack.base_url())
                .env("TENANT_KEYS_SIGNING_SECRET_FILE", &secret_file)
                .env_remove("TENANT_KEYS_SIGNING_SECRET"),
            stdin.as_bytes(),
        );
        std::fs::remove_file(&secret_file).unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{line}: {err}");
        let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert!(
            err.starts_with("tenant-keys: 20"),
            "{line}: the status on stderr: {err}"
        );
        match args[0].as_str() {
            "connect" | "update" => {
                let written = answer["versionId"].as_str().unwrap();
                assert_ne!(written, version_id, "{line} wrote a new version");
                version_id = written.to_owned();
            }
            "fetch" if args.contains(&"--version-id".to_owned()) => {
                assert_eq!(answer["versionId"], version_id.as_str(), "{line}");
            }
            "fetch" if args.contains(&"previous".to_owned()) => {
                assert_ne!(answer["versionId"], version_id.as_str(), "{line}");
            }
            "fetch" => assert_eq!(answer["versionId"], version_id.as_str(), "{line}"),
            "list" => assert_eq!(answer["integrations"][0]["status"], "connected"),
            "disconnect" => assert!(answer["deletionDate"].is_string(), "{line}"),
            other => panic!("README runs {other}, which this test does not know"),
        }
        ran.push(args[0].clone());
    }
    assert_eq!(
        ran,
        [
            "connect",
            "fetch",
            "fetch",
            "update",
            "fetch",
            "fetch",
            "list",
            "disconnect"
        ],
        "the commands README gives"
    );
}

async fn the_cli_round_trips(stack: &Stack, secrets: &Secrets) {
    let tenant = unique("org_cli");
    let private = secrets.new_value("sk-cli");
    let public = secrets.new_value("pk-cli");
    // `tenant-keys <command> --tenant <tenant> --provider vapi <args>`, with `stdin` as input.
    let cli = |command: &str, args: &[&str], stdin: &str| {
        let output = output_with_stdin(
            Command::new(release_binaries().join("tenant-keys"))
                .args([command, "--tenant", &tenant, "--provider", "vapi"])
                .args(args)
                .env("TENANT_KEYS_URL", stack.base_url())
                .env("TENANT_KEYS_SIGNING_SECRET", stack.signing_secret()),
            stdin.as_bytes(),
        );
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let public_arg = format!("publicApiKey={public}");
    let (code, out, err) = cli(
        "connect",
        &["--set", &public_arg, "--set", "privateApiKey=-"],
        &format!("{private}\n"),
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["created"],
        true
    );

    let (code, out, _) = cli("fetch", &[], "");
    assert_eq!(code, Some(0));
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["credentials"]["privateApiKey"],
        private.as_str()
    );

    let rotated = format!("privateApiKey={}", secrets.new_value("sk-cli-rotated"));
    let (code, _, err) = cli("update", &["--set", &rotated], "");
    assert_eq!(code, Some(0), "{err}");

    let (code, _, err) = cli(
        "update",
        &["--set", &rotated, "--expected-version", "stale-version-id"],
        "",
    );
    assert_eq!(code, Some(1));
    assert!(
        err.contains("409") && err.contains("version_conflict"),
        "{err}"
    );
}

#[test]
fn the_leak_check_finds_a_planted_credential() {
    let secrets = vec!["sk-planted-1234".to_owned(), "never-printed".to_owned()];
    let output = "{\"fields\":{\"message\":\"oops sk-planted-1234\"}}";
    assert_eq!(leaks(output, &secrets), vec!["sk-planted-1234"]);
}
