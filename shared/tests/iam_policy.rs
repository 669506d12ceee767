//! The SAM template's IAM, judged by an IAM policy engine.
//!
//! Every flow of the six operations runs against moto with an interceptor that records each
//! Secrets Manager call and its parameters. `template.yaml` is expanded by SAM's translator for
//! two parameter sets (the defaults, and every option on), and an offline IAM engine
//! (`iam_engine`) judges: each recorded call, with the context keys AWS gives it, is allowed;
//! every other Secrets Manager action on a tenant secret is denied; and so is each request of a
//! deny matrix (other regions and accounts, names outside `tenant/*`, tags that do not match the
//! name, retagging, deletion outside disconnect, purge where it is off, foreign KMS keys, KMS
//! outside Secrets Manager, other functions' log groups, ListSecrets, value reads from connect
//! and list, writes to the signing secret). The engine's limits this relies on: tests/iam/README.md.

mod iam_engine;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_secretsmanager::types::Tag;
use iam_engine::{Decision::*, *};
use serde_json::{Value, json};
use support::*;
use tenant_keys::Operation;
use tenant_keys::cache::ReadCache;
use tenant_keys::ops::DisconnectPolicy;

const FUNCTIONS: [&str; 6] = [
    "ConnectIntegrationFunction",
    "FetchKeyFunction",
    "UpdateKeyFunction",
    "DisconnectIntegrationFunction",
    "ListIntegrationsFunction",
    "CallProviderFunction",
];

/// One set of stack parameters, and what the checks need to know of it.
struct ParameterSet {
    name: &'static str,
    parameters: Vec<(&'static str, &'static str)>,
    secrets_region: &'static str,
    kms_key: Option<&'static str>,
    tracing: bool,
    purge: bool,
}

fn defaults() -> ParameterSet {
    ParameterSet {
        name: "default parameters",
        parameters: vec![],
        secrets_region: "us-east-1",
        kms_key: None,
        tracing: false,
        purge: false,
    }
}

/// Every option on, and the tenant secrets in another region than the stack's.
fn every_option_on() -> ParameterSet {
    const KEY: &str = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    ParameterSet {
        name: "every option on",
        parameters: vec![
            ("SecretsRegion", "eu-west-1"),
            ("KmsKeyArn", KEY),
            ("EnableTracing", "true"),
            ("AllowPurge", "true"),
            ("CreateBackendUser", "true"),
            ("ApiAuthorization", "AWS_IAM"),
        ],
        secrets_region: "eu-west-1",
        kms_key: Some(KEY),
        tracing: true,
        purge: true,
    }
}

/// Every branch of every operation: new and existing secrets, retries, conflicts, old versions,
/// cache hits and revalidations, disconnects, purges and restores.
async fn calls_per_function(kms_key: Option<&str>) -> BTreeMap<&'static str, Vec<RecordedCall>> {
    let setup = app();
    let recording = |cache| recording_app_with_kms_key(cache, kms_key);
    let mut called = BTreeMap::new();

    let (app, recorder) = recording(ReadCache::disabled());
    let tenant = new_tenant();
    let webhook_id = new_webhook_id();
    for _ in 0..2 {
        call_with(
            &app,
            Operation::ConnectIntegration,
            signed(&vapi_connect(&tenant), &webhook_id),
        )
        .await;
    }
    call(&app, Operation::ConnectIntegration, vapi_connect(&tenant)).await;
    // A reconnect of a disconnected integration restores it.
    call(
        &setup,
        Operation::DisconnectIntegration,
        json!({"tenantId": tenant, "provider": "vapi"}),
    )
    .await;
    let restored = call(&app, Operation::ConnectIntegration, vapi_connect(&tenant)).await;
    assert_eq!(restored.body["restored"], true, "{}", restored.body);
    called.insert("ConnectIntegrationFunction", recorder.calls());

    // A TTL short enough that the second round revalidates with DescribeSecret.
    let (app, recorder) = recording(ReadCache::new(Duration::from_millis(20), 100));
    let (tenant, version) = connected_tenant(&setup).await;
    for _ in 0..2 {
        // Cached reads first, so that the second round finds them past the TTL.
        for extra in [
            json!({"view": "public"}),
            json!({"versionId": version, "maxAgeSeconds": 60}),
            json!({}),
            json!({"view": "masked"}),
            json!({"version": "previous"}),
        ] {
            fetch(&app, &tenant, extra).await;
        }
        fetch(&app, &new_tenant(), json!({})).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    called.insert("FetchKeyFunction", recorder.calls());

    let (app, recorder) = recording(ReadCache::disabled());
    let (tenant, version) = connected_tenant(&setup).await;
    let update = json!({"tenantId": tenant, "provider": "vapi",
        "credentials": {"privateApiKey": "sk-iam-test-00001"}, "expectedVersionId": version});
    let webhook_id = new_webhook_id();
    for _ in 0..2 {
        call_with(&app, Operation::UpdateKey, signed(&update, &webhook_id)).await;
    }
    call(&app, Operation::UpdateKey, update).await; // stale
    call(
        &app,
        Operation::UpdateKey,
        json!({"tenantId": new_tenant(), "provider": "vapi",
        "credentials": {"privateApiKey": "sk-iam-test-00002"}}),
    )
    .await;
    called.insert("UpdateKeyFunction", recorder.calls());

    let (app, recorder) = recording(ReadCache::disabled());
    let app = app.with_disconnect_policy(DisconnectPolicy {
        recovery_days: 7,
        allow_purge: true,
    });
    let (tenant, _) = connected_tenant(&setup).await;
    // A mark of a disconnect long past, which the next disconnect removes.
    client()
        .tag_resource()
        .secret_id(format!("tenant/{tenant}/vapi"))
        .tags(
            Tag::builder()
                .key("tenant-keys-disconnect-0123456789abcdef0123456789abcdef")
                .value("1000000000.000")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let disconnect = json!({"tenantId": tenant, "provider": "vapi"});
    let disconnect_id = new_webhook_id();
    call_with(
        &app,
        Operation::DisconnectIntegration,
        signed(&disconnect, &disconnect_id),
    )
    .await;
    call(&setup, Operation::ConnectIntegration, vapi_connect(&tenant)).await; // reconnect
    // The same disconnect again: its mark, a version written since, refused.
    let replayed = call_with(
        &app,
        Operation::DisconnectIntegration,
        signed(&disconnect, &disconnect_id),
    )
    .await;
    assert_eq!(replayed.status, 409, "{}", replayed.body);
    for body in [
        json!({"tenantId": tenant, "provider": "vapi"}),
        json!({"tenantId": tenant, "provider": "vapi"}), // already scheduled
        json!({"tenantId": tenant, "allProviders": true}),
        json!({"tenantId": tenant, "provider": "vapi", "purge": true}),
        json!({"tenantId": new_tenant(), "provider": "vapi"}), // never connected
    ] {
        call(&app, Operation::DisconnectIntegration, body).await;
    }
    let calls = recorder.calls();
    for action in ["TagResource", "UntagResource", "ListSecretVersionIds"] {
        assert!(
            recorder.count(action) > 0,
            "the flow makes no {action}: {calls:?}"
        );
    }
    called.insert("DisconnectIntegrationFunction", calls);

    let (app, recorder) = recording(ReadCache::disabled());
    let (tenant, _) = connected_tenant(&setup).await;
    for tenant in [tenant, new_tenant()] {
        call(
            &app,
            Operation::ListIntegrations,
            json!({"tenantId": tenant}),
        )
        .await;
    }
    called.insert("ListIntegrationsFunction", recorder.calls());

    // call-provider: a connected tenant (the provider itself is unreachable here: only the
    // Secrets Manager calls matter), a cached key past its TTL (revalidated), a disconnected
    // tenant (its deletion date) and one never connected.
    // SAFETY of the test: no other thread of this binary reads it.
    unsafe {
        std::env::set_var("PROVIDER_API_BASE_URL_VAPI", "http://127.0.0.1:9");
    }
    let (app, recorder) = recording(ReadCache::new(Duration::from_millis(20), 100));
    let (tenant, _) = connected_tenant(&setup).await;
    let gone = connected_tenant(&setup).await.0;
    call(
        &setup,
        Operation::DisconnectIntegration,
        json!({"tenantId": gone, "provider": "vapi"}),
    )
    .await;
    for tenant in [&tenant, &tenant, &gone, &new_tenant()] {
        tokio::time::sleep(Duration::from_millis(30)).await;
        call(
            &app,
            Operation::CallProvider,
            json!({"tenantId": tenant, "provider": "vapi", "method": "GET", "path": "/assistant"}),
        )
        .await;
    }
    called.insert("CallProviderFunction", recorder.calls());
    called
}

fn role_of(function: &str) -> String {
    function.replace("Function", "Role")
}

fn attribute(expansion: &Value, logical_id: &str, name: &str) -> String {
    expansion["attributes"][logical_id][name]
        .as_str()
        .unwrap_or_else(|| panic!("{logical_id}.{name} in the expansion"))
        .to_owned()
}

/// A stream of the log group `logical_id` (a log group's Arn attribute ends in ":*").
fn log_stream(expansion: &Value, logical_id: &str) -> String {
    let group = attribute(expansion, logical_id, "Arn");
    format!(
        "{}:log-stream:2026/12/02/[$LATEST]0123456789abcdef",
        group.trim_end_matches(":*")
    )
}

/// What the template must be whatever the engine says: each function has a role of its own from
/// the template (not one SAM generates), every policy document is version 2012-10-17 (older
/// versions do not substitute policy variables), and no AWS managed policy is attached, as the
/// engine could not see into it.
fn check_structure(set: &ParameterSet, expansion: &Value) {
    for function in FUNCTIONS {
        assert_eq!(
            expansion["functionRoles"][function],
            Value::from(attribute(expansion, &role_of(function), "Arn")),
            "[{}] {function} runs with its own template role",
            set.name
        );
    }
    for (name, principal) in expansion["principals"].as_object().unwrap() {
        assert_eq!(
            principal["unknownManagedPolicies"],
            json!([]),
            "[{}] {name} holds managed policies the engine cannot see",
            set.name
        );
        for document in principal["policies"].as_array().unwrap() {
            assert_eq!(
                document["Version"], "2012-10-17",
                "[{}] {name}: policy version",
                set.name
            );
        }
    }
}

/// Allowed: every call each function's code made (with its KMS calls when there is a key), its
/// signing-secret read, its own log group, X-Ray when tracing is on. And the direct-access
/// policy's Echo calls.
fn allowed_requests(
    set: &ParameterSet,
    expansion: &Value,
    calls: &BTreeMap<&str, Vec<RecordedCall>>,
) -> Vec<IamRequest> {
    let signing_secret = attribute(expansion, "WebhookSigningSecret", "Ref");
    let via = format!("secretsmanager.{}.amazonaws.com", set.secrets_region);
    let mut requests = Vec::new();
    for (function, calls) in calls {
        let role = role_of(function);
        for call in calls {
            let purging = call.parameters["ForceDeleteWithoutRecovery"] == true;
            let expected = if purging && !set.purge {
                Denied
            } else {
                Allowed
            };
            let request = request_of_call(&role, set.secrets_region, call);
            let label = format!("{} (purge allowed: {})", request.label, set.purge);
            requests.push(request.expect(expected, label));
            if let Some(key) = set.kms_key {
                for action in kms_actions_of(&call.action) {
                    requests.push(kms_request(&role, action, key, Some(&via)));
                }
            }
        }
        requests.push(
            IamRequest::new(
                &role,
                "secretsmanager:GetSecretValue",
                &signing_secret,
                Allowed,
            )
            .with("secretsmanager:VersionStage", "AWSCURRENT"),
        );
        let stream = log_stream(expansion, &function.replace("Function", "LogGroup"));
        for action in ["logs:CreateLogStream", "logs:PutLogEvents"] {
            requests.push(IamRequest::new(&role, action, &stream, Allowed));
        }
        for action in ["xray:PutTraceSegments", "xray:PutTelemetryRecords"] {
            let expected = if set.tracing { Allowed } else { Denied };
            let request = IamRequest::new(&role, action, "*", expected);
            let label = format!("{action} (tracing on: {})", set.tracing);
            requests.push(request.expect(expected, label));
        }
    }

    // The Echo set-up's calls through the direct-access policy (examples: MIGRATING.md).
    let echo_secret = secret_arn(set.secrets_region, ACCOUNT, "tenant/org_echo/vapi");
    let mut holders = vec!["DirectAccessPolicy"];
    if expansion["principals"].get("BackendUser").is_some() {
        holders.push("BackendUser");
    }
    for holder in holders {
        for action in ["GetSecretValue", "PutSecretValue", "UpdateSecret"] {
            requests.push(
                IamRequest::new(
                    holder,
                    &format!("secretsmanager:{action}"),
                    &echo_secret,
                    Allowed,
                )
                .with("secretsmanager:SecretId", "tenant/org_echo/vapi"),
            );
        }
        let mut create =
            IamRequest::new(holder, "secretsmanager:CreateSecret", &echo_secret, Allowed)
                .with("secretsmanager:Name", "tenant/org_echo/vapi");
        if let Some(key) = set.kms_key {
            requests.push(create.clone().with("secretsmanager:KmsKeyId", key));
            for action in ["kms:GenerateDataKey", "kms:Decrypt"] {
                requests.push(kms_request(holder, action, key, Some(&via)));
            }
        }
        create.label = "CreateSecret naming no key".into();
        requests.push(create);
    }
    requests
}

/// Every Secrets Manager action on a tenant secret that a function's code does not call is
/// denied to it: the role grants exactly what the code needs. (CreateSecret and TagResource are
/// tried with the tags connect would send, so that only the grant decides.)
fn uncalled_actions_denied(
    set: &ParameterSet,
    calls: &BTreeMap<&str, Vec<RecordedCall>>,
    every_action: &[String],
) -> Vec<IamRequest> {
    let name = "tenant/org_a/vapi";
    let secret = secret_arn(set.secrets_region, ACCOUNT, name);
    let mut requests = Vec::new();
    for (function, calls) in calls {
        let called: BTreeSet<&str> = calls.iter().map(|c| c.action.as_str()).collect();
        for action in every_action {
            if called.contains(action.as_str()) {
                continue;
            }
            let mut request = IamRequest::new(&role_of(function), action, &secret, Denied);
            request.wildcard_if_only = true;
            if matches!(
                action.as_str(),
                "secretsmanager:CreateSecret" | "secretsmanager:TagResource"
            ) {
                request = with_request_tags(request, name, &[]);
            }
            request.label = format!("{action} (its code never calls it)");
            requests.push(request);
        }
    }
    requests
}

/// `request` with the tags of `name` in the request, some of them replaced by `overrides`.
fn with_request_tags(
    mut request: IamRequest,
    name: &str,
    overrides: &[(&str, &str)],
) -> IamRequest {
    let mut keys = Vec::new();
    for (key, value) in tags_of(name).unwrap() {
        let value = overrides
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(value, |(_, v)| v.to_string());
        request = request.with(&format!("aws:RequestTag/{key}"), value);
        keys.push(Value::from(key));
    }
    for (key, value) in overrides {
        if tags_of(name).unwrap().iter().all(|(k, _)| k != key) {
            request = request.with(&format!("aws:RequestTag/{key}"), *value);
            keys.push(Value::from(*key));
        }
    }
    request.with("aws:TagKeys", keys)
}

/// The deny matrix of issue 20.
fn denied_requests(
    set: &ParameterSet,
    expansion: &Value,
    calls: &BTreeMap<&str, Vec<RecordedCall>>,
) -> Vec<IamRequest> {
    let region = set.secrets_region;
    let other_region = if region == "us-east-1" {
        "eu-west-1"
    } else {
        "us-east-1"
    };
    let signing_secret = attribute(expansion, "WebhookSigningSecret", "Ref");
    let mut requests = Vec::new();

    for (function, calls) in calls {
        let role = role_of(function);
        // Each action the code calls, once, somewhere it must not reach.
        let mut seen = BTreeSet::new();
        for call in calls.iter().filter(|c| seen.insert(c.action.clone())) {
            let allowed = request_of_call(&role, region, call);
            let name = call.parameters["SecretId"]
                .as_str()
                .or(call.parameters["Name"].as_str())
                .unwrap()
                .to_owned();
            let retarget = |request: IamRequest, arn: String, other_name: &str, label: &str| {
                let mut request = request.on(&arn);
                for key in ["secretsmanager:Name", "secretsmanager:SecretId"] {
                    if request.context.contains_key(key) {
                        request = request.with(key, other_name);
                    }
                }
                let label = format!("{} {label}", call.action);
                request.expect(Denied, label)
            };
            requests.push(
                retarget(
                    allowed.clone(),
                    secret_arn(other_region, ACCOUNT, &name),
                    &name,
                    &format!("in {other_region}"),
                )
                .with("aws:RequestedRegion", other_region),
            );
            requests.push(retarget(
                allowed.clone(),
                secret_arn(region, "210987654321", &name),
                &name,
                "in another account",
            ));
            let tail = name.trim_start_matches("tenant/");
            for outside in [
                "prod/db".to_owned(),
                format!("tenantx/{tail}"),
                "tenant".to_owned(),
                format!("Tenant/{tail}"),
                format!("TENANT/{tail}"),
            ] {
                requests.push(retarget(
                    allowed.clone(),
                    secret_arn(region, ACCOUNT, &outside),
                    &outside,
                    &format!("of {outside}"),
                ));
            }
        }

        let tenant_secret = secret_arn(region, ACCOUNT, "tenant/org_a/vapi");
        let on_tenant = |action: &str, label: &str| {
            IamRequest::new(&role, action, &tenant_secret, Denied)
                .with("secretsmanager:SecretId", "tenant/org_a/vapi")
                .expect(Denied, format!("{action} {label}"))
        };
        if *function != "DisconnectIntegrationFunction" {
            requests.push(on_tenant(
                "secretsmanager:DeleteSecret",
                "outside disconnect",
            ));
        }
        if ["ConnectIntegrationFunction", "ListIntegrationsFunction"].contains(function) {
            requests.push(on_tenant("secretsmanager:GetSecretValue", "(a value read)"));
        }
        let mut list = IamRequest::new(&role, "secretsmanager:ListSecrets", "*", Denied);
        list.label = "ListSecrets".into();
        requests.push(list);
        for action in [
            "PutSecretValue",
            "UpdateSecret",
            "DeleteSecret",
            "PutResourcePolicy",
            "RotateSecret",
        ] {
            requests.push(
                IamRequest::new(
                    &role,
                    &format!("secretsmanager:{action}"),
                    &signing_secret,
                    Denied,
                )
                .expect(Denied, format!("{action} on the signing secret")),
            );
        }
        for other in FUNCTIONS.iter().filter(|f| *f != function) {
            let stream = log_stream(expansion, &other.replace("Function", "LogGroup"));
            requests.push(
                IamRequest::new(&role, "logs:PutLogEvents", &stream, Denied)
                    .expect(Denied, format!("PutLogEvents into {other}'s log group")),
            );
        }
        let api_stream = log_stream(expansion, "ApiAccessLogGroup");
        requests.push(
            IamRequest::new(&role, "logs:PutLogEvents", &api_stream, Denied)
                .expect(Denied, "PutLogEvents into the API's access log group"),
        );

        // KMS: only the stack's key, only through Secrets Manager in SecretsRegion.
        let key = set.kms_key.unwrap_or(
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        );
        let foreign = key.replace("1234abcd", "99999999");
        let via = format!("secretsmanager.{region}.amazonaws.com");
        for (label, key, via) in [
            ("used directly", key.to_owned(), None),
            (
                "via S3",
                key.to_owned(),
                Some(format!("s3.{region}.amazonaws.com")),
            ),
            (
                "via Secrets Manager in another region",
                key.to_owned(),
                Some(format!("secretsmanager.{other_region}.amazonaws.com")),
            ),
            ("of another key", foreign.clone(), Some(via.clone())),
        ] {
            requests.push(
                kms_request(&role, "kms:Decrypt", &key, via.as_deref())
                    .expect(Denied, format!("kms:Decrypt {label}")),
            );
        }
        let uses_key = !matches!(
            *function,
            "DisconnectIntegrationFunction" | "ListIntegrationsFunction"
        );
        if set.kms_key.is_none() || !uses_key {
            requests.push(
                kms_request(&role, "kms:Decrypt", key, Some(&via))
                    .expect(Denied, "kms:Decrypt with no key of the stack's to use"),
            );
        }
    }

    // connect-integration: tags bound to the name, no retagging, no foreign key.
    let role = role_of("ConnectIntegrationFunction");
    let name = "tenant/org_a/vapi";
    let secret = secret_arn(region, ACCOUNT, name);
    let create = IamRequest::new(&role, "secretsmanager:CreateSecret", &secret, Denied)
        .with("secretsmanager:Name", name)
        .with("aws:RequestedRegion", region);
    let create = match set.kms_key {
        Some(key) => create.with("secretsmanager:KmsKeyId", key),
        None => create,
    };
    let tag = IamRequest::new(&role, "secretsmanager:TagResource", &secret, Denied)
        .with("aws:RequestedRegion", region);
    for (label, overrides) in [
        ("tenant-id=org_b", vec![("tenant-id", "org_b")]),
        ("provider=openai", vec![("provider", "openai")]),
        (
            "managed-by=someone-else",
            vec![("managed-by", "someone-else")],
        ),
        ("an extra tag", vec![("owner", "mallory")]),
    ] {
        for request in [create.clone(), tag.clone()] {
            let action = request.action.clone();
            requests.push(
                with_request_tags(request, name, &overrides)
                    .expect(Denied, format!("{action} of {name} tagged {label}")),
            );
        }
    }
    for missing in ["aws:RequestTag/tenant-id", "aws:RequestTag/provider"] {
        requests.push(
            with_request_tags(create.clone(), name, &[])
                .without(missing)
                .expect(Denied, format!("CreateSecret without {missing}")),
        );
    }
    let mut retag = with_request_tags(tag.clone(), name, &[]);
    for (key, value) in tags_of(name).unwrap() {
        retag = retag.with(&format!("aws:ResourceTag/{key}"), value);
    }
    requests.push(retag.expect(Denied, "TagResource of an existing tenant-keys secret"));
    let foreign_key = "arn:aws:kms:eu-west-1:210987654321:key/00000000-0000-0000-0000-000000000000";
    requests.push(
        with_request_tags(create.clone(), name, &[])
            .with("secretsmanager:KmsKeyId", foreign_key)
            .expect(Denied, "CreateSecret with a foreign KMS key"),
    );
    requests.push(
        with_request_tags(create.clone(), name, &[])
            .with(
                "secretsmanager:KmsKeyId",
                "arn:aws:kms:eu-west-1:123456789012:alias/aws/secretsmanager",
            )
            .expect(Denied, "CreateSecret naming a key by alias"),
    );
    if set.kms_key.is_some() {
        requests.push(
            with_request_tags(create.clone(), name, &[])
                .without("secretsmanager:KmsKeyId")
                .expect(Denied, "CreateSecret without the stack's key"),
        );
    }

    // disconnect-integration: its marks only, never tenant-keys' own tags.
    let disconnect_role = role_of("DisconnectIntegrationFunction");
    for (action, keys, label) in [
        ("TagResource", vec!["tenant-id"], "retag tenant-id"),
        (
            "TagResource",
            vec!["tenant-keys-disconnect-00", "provider"],
            "a mark and provider",
        ),
        ("UntagResource", vec!["managed-by"], "untag managed-by"),
        ("TagResource", vec![], "no tag keys"),
    ] {
        let keys: Vec<Value> = keys.into_iter().map(Value::from).collect();
        let mut request = IamRequest::new(
            &disconnect_role,
            &format!("secretsmanager:{action}"),
            &secret,
            Denied,
        )
        .with("secretsmanager:SecretId", name)
        .with("aws:RequestedRegion", region);
        if !keys.is_empty() {
            request = request.with("aws:TagKeys", Value::Array(keys));
        }
        requests.push(request.expect(Denied, format!("disconnect-integration: {label}")));
    }

    // disconnect-integration: purge only where it is allowed.
    if !set.purge {
        requests.push(
            IamRequest::new(
                &role_of("DisconnectIntegrationFunction"),
                "secretsmanager:DeleteSecret",
                &secret,
                Denied,
            )
            .with("secretsmanager:SecretId", name)
            .with("secretsmanager:ForceDeleteWithoutRecovery", "true")
            .expect(
                Denied,
                "DeleteSecret with ForceDeleteWithoutRecovery (AllowPurge off)",
            ),
        );
    }

    // The direct-access policy: tenant secrets in SecretsRegion, the stack's key, nothing else.
    let holder = "DirectAccessPolicy";
    for (label, arn) in [
        ("in another region", secret_arn(other_region, ACCOUNT, name)),
        ("of prod/db", secret_arn(region, ACCOUNT, "prod/db")),
    ] {
        requests.push(
            IamRequest::new(holder, "secretsmanager:GetSecretValue", &arn, Denied)
                .expect(Denied, format!("direct access: GetSecretValue {label}")),
        );
    }
    for action in ["DeleteSecret", "TagResource"] {
        requests.push(
            IamRequest::new(holder, &format!("secretsmanager:{action}"), &secret, Denied)
                .expect(Denied, format!("direct access: {action}")),
        );
    }
    for action in ["CreateSecret", "UpdateSecret"] {
        requests.push(
            IamRequest::new(holder, &format!("secretsmanager:{action}"), &secret, Denied)
                .with("secretsmanager:KmsKeyId", foreign_key)
                .expect(
                    Denied,
                    format!("direct access: {action} with a foreign key"),
                ),
        );
    }
    let key = set
        .kms_key
        .unwrap_or("arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    requests.push(
        kms_request(holder, "kms:Decrypt", key, None)
            .expect(Denied, "direct access: kms:Decrypt outside Secrets Manager"),
    );
    let mut list = IamRequest::new(holder, "secretsmanager:ListSecrets", "*", Denied);
    list.label = "direct access: ListSecrets".into();
    requests.push(list);
    requests
}

async fn evaluate(set: ParameterSet) {
    let calls = calls_per_function(set.kms_key).await;
    assert_eq!(
        calls.keys().copied().collect::<Vec<_>>(),
        {
            let mut sorted = FUNCTIONS.to_vec();
            sorted.sort();
            sorted
        },
        "a recording per function"
    );
    let expansion = expand(&set.parameters);
    check_structure(&set, &expansion);

    let every_action: Vec<String> =
        judge(&expansion, &[], &["secretsmanager"]).actions["secretsmanager"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect();
    assert!(
        every_action.len() > 20,
        "the engine lists Secrets Manager's actions: {every_action:?}"
    );

    let mut requests = allowed_requests(&set, &expansion, &calls);
    requests.extend(uncalled_actions_denied(&set, &calls, &every_action));
    requests.extend(denied_requests(&set, &expansion, &calls));
    assert_decisions(set.name, &expansion, &requests);
}

#[tokio::test]
async fn the_default_stack_allows_what_the_code_calls_and_denies_the_matrix() {
    evaluate(defaults()).await;
}

#[tokio::test]
async fn a_stack_with_every_option_on_allows_what_the_code_calls_and_denies_the_matrix() {
    evaluate(every_option_on()).await;
}

/// KMS matches a key operation's resource against the key's ARN only, so a policy on an alias ARN
/// would match nothing: CloudFormation must refuse one as KmsKeyArn.
#[test]
fn kms_key_arn_takes_a_key_arn_and_refuses_an_alias_arn() {
    for key in [
        "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab",
    ] {
        assert!(try_expand(&[("KmsKeyArn", key)]).is_ok(), "{key}");
    }
    for alias in [
        "arn:aws:kms:us-east-1:123456789012:alias/tenant-keys",
        "alias/tenant-keys",
        "1234abcd-12ab-34cd-56ef-1234567890ab",
    ] {
        let refused = try_expand(&[("KmsKeyArn", alias)]).unwrap_err();
        assert!(
            refused.contains("CloudFormation refuses KmsKeyArn"),
            "{alias}: {refused}"
        );
    }
}
