//! The SAM template's IAM as code, checked against what the functions really call.
//!
//! Every flow of the three operations runs against moto with an interceptor that records each
//! Secrets Manager action; each function's statements on `tenant/*` must grant exactly those
//! actions, scoped to `tenant/*` in `SecretsRegion`, plus GetSecretValue on the signing secret.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::json;
use serde_yaml::Value as Yaml;
use support::*;
use tenant_keys::Operation;
use tenant_keys::cache::ReadCache;
use tenant_keys::ops::DisconnectPolicy;

const TENANT_SCOPE: &str =
    "arn:${AWS::Partition}:secretsmanager:${SecretsRegion}:${AWS::AccountId}:secret:tenant/*";

/// Every branch of every operation: new and existing secrets, retries, conflicts, old versions,
/// cache hits and revalidations.
async fn actions_called_per_function() -> BTreeMap<&'static str, BTreeSet<String>> {
    let setup = app();
    let mut called = BTreeMap::new();

    let (app, recorder) = recording_app(ReadCache::disabled());
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
    called.insert(
        "ConnectIntegrationFunction",
        recorder.actions().into_iter().collect(),
    );

    // A TTL short enough that the second round revalidates with DescribeSecret.
    let (app, recorder) = recording_app(ReadCache::new(Duration::from_millis(20), 100));
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
    called.insert("FetchKeyFunction", recorder.actions().into_iter().collect());

    let (app, recorder) = recording_app(ReadCache::disabled());
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
    called.insert(
        "UpdateKeyFunction",
        recorder.actions().into_iter().collect(),
    );

    let (app, recorder) = recording_app(ReadCache::disabled());
    let app = app.with_disconnect_policy(DisconnectPolicy {
        recovery_days: 7,
        allow_purge: true,
    });
    let (tenant, _) = connected_tenant(&setup).await;
    for body in [
        json!({"tenantId": tenant, "provider": "vapi"}),
        json!({"tenantId": tenant, "provider": "vapi"}), // already scheduled
        json!({"tenantId": tenant, "allProviders": true}),
        json!({"tenantId": tenant, "provider": "vapi", "purge": true}),
        json!({"tenantId": new_tenant(), "provider": "vapi"}), // never connected
    ] {
        call(&app, Operation::DisconnectIntegration, body).await;
    }
    called.insert(
        "DisconnectIntegrationFunction",
        recorder.actions().into_iter().collect(),
    );

    let (app, recorder) = recording_app(ReadCache::disabled());
    let (tenant, _) = connected_tenant(&setup).await;
    for tenant in [tenant, new_tenant()] {
        call(
            &app,
            Operation::ListIntegrations,
            json!({"tenantId": tenant}),
        )
        .await;
    }
    called.insert(
        "ListIntegrationsFunction",
        recorder.actions().into_iter().collect(),
    );
    called
}

fn template() -> Yaml {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

fn as_list(value: &Yaml) -> Vec<Yaml> {
    match value {
        Yaml::Sequence(items) => items.clone(),
        other => vec![other.clone()],
    }
}

/// `(actions, resource)` of every statement in a policy document.
fn statements(document: &Yaml) -> Vec<(BTreeSet<String>, Yaml)> {
    statements_with_conditions(document)
        .into_iter()
        .map(|(actions, resource, _)| (actions, resource))
        .collect()
}

/// `(actions, resource, condition)` of every statement in a policy document.
fn statements_with_conditions(document: &Yaml) -> Vec<(BTreeSet<String>, Yaml, Yaml)> {
    as_list(&document["Statement"])
        .iter()
        .map(|statement| {
            assert_eq!(
                statement["Effect"],
                Yaml::from("Allow"),
                "only Allow statements expected"
            );
            let actions = as_list(&statement["Action"])
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect();
            (
                actions,
                statement["Resource"].clone(),
                statement["Condition"].clone(),
            )
        })
        .collect()
}

/// Whether `policy` is one of the two policies a stack parameter switches on, checked here: X-Ray
/// (`EnableTracing`) and the customer-managed KMS key (`KmsKeyArn`), usable only through Secrets
/// Manager and only with what the function's Secrets Manager calls need.
fn is_conditional(function: &str, policy: &Yaml) -> bool {
    let Yaml::Tagged(conditional) = policy else {
        return false;
    };
    assert_eq!(conditional.tag, "!If", "{function}: {policy:?}");
    let branches = as_list(&conditional.value);
    assert_eq!(branches[2], tagged("!Ref", "AWS::NoValue"), "{function}");
    match branches[0].as_str() {
        Some("TracingOn") => {
            assert_eq!(
                branches[1],
                Yaml::from("AWSXRayDaemonWriteAccess"),
                "{function}"
            );
        }
        Some("UseKmsKey") => {
            let (actions, resource, condition) = statements_with_conditions(&branches[1])
                .pop()
                .expect("a KMS statement");
            let expected: BTreeSet<String> = match function {
                "FetchKeyFunction" => ["kms:Decrypt"].into_iter().map(String::from).collect(),
                "ConnectIntegrationFunction" | "UpdateKeyFunction" => {
                    ["kms:Decrypt", "kms:GenerateDataKey"]
                        .into_iter()
                        .map(String::from)
                        .collect()
                }
                other => panic!("{other} has no use for the KMS key"),
            };
            assert_eq!(actions, expected, "{function}");
            assert_eq!(resource, tagged("!Ref", "KmsKeyArn"), "{function}");
            assert_eq!(
                condition["StringEquals"]["kms:ViaService"],
                tagged("!Sub", "secretsmanager.${SecretsRegion}.amazonaws.com"),
                "{function}: the key only through Secrets Manager"
            );
        }
        other => panic!("{function}: unknown condition {other:?}"),
    }
    true
}

/// The condition under which a function may create (and so tag) a tenant secret: only with the
/// tags tenant-keys sets.
fn tag_condition() -> Yaml {
    serde_yaml::from_str(
        r#"
StringEquals:
  aws:RequestTag/managed-by: tenant-keys
ForAllValues:StringEquals:
  aws:TagKeys: [tenant-id, provider, managed-by]
"Null":
  aws:RequestTag/tenant-id: "false"
  aws:RequestTag/provider: "false"
"#,
    )
    .unwrap()
}

fn tagged(tag: &str, value: &str) -> Yaml {
    serde_yaml::from_str(&format!("{tag} \"{value}\"")).unwrap()
}

#[tokio::test]
async fn each_function_is_granted_exactly_the_secrets_manager_actions_its_code_calls() {
    let called = actions_called_per_function().await;
    let template = template();
    let tenant_scope = tagged("!Sub", TENANT_SCOPE);
    let signing_secret = tagged("!Ref", "WebhookSigningSecret");

    for (function, called) in called {
        let policies = &template["Resources"][function]["Properties"]["Policies"];
        let mut granted_on_tenants = BTreeSet::new();
        for policy in as_list(policies) {
            if is_conditional(function, &policy) {
                continue;
            }
            for (actions, resource, condition) in statements_with_conditions(&policy) {
                let creates = ["secretsmanager:CreateSecret", "secretsmanager:TagResource"];
                if creates.iter().any(|a| actions.contains(*a)) {
                    assert_eq!(
                        actions,
                        creates.iter().map(|a| a.to_string()).collect(),
                        "{function}: CreateSecret and TagResource stand in a statement of their own"
                    );
                    assert_eq!(
                        condition,
                        tag_condition(),
                        "{function}: CreateSecret/TagResource only with tenant-keys' tags"
                    );
                } else {
                    assert_eq!(condition, Yaml::Null, "{function}: unexpected condition");
                }
                for action in &actions {
                    assert!(
                        !action.contains('*'),
                        "{function}: wildcard action {action}"
                    );
                    assert!(!action.contains("List"), "{function} may {action}");
                    assert!(
                        !action.contains("Delete") || function == "DisconnectIntegrationFunction",
                        "only disconnect-integration deletes; {function} may {action}"
                    );
                    assert!(
                        !action.contains("Restore") || function == "ConnectIntegrationFunction",
                        "only connect-integration restores; {function} may {action}"
                    );
                }
                if resource == tenant_scope {
                    granted_on_tenants.extend(actions);
                } else if resource == signing_secret {
                    let expected = BTreeSet::from(["secretsmanager:GetSecretValue".to_owned()]);
                    assert_eq!(actions, expected, "{function}: signing secret is read-only");
                } else {
                    panic!(
                        "{function}: a statement reaches beyond tenant/* and the signing secret: {resource:?}"
                    );
                }
            }
        }
        assert_eq!(
            granted_on_tenants, called,
            "{function}: granted vs. called on tenant/*"
        );
    }
}

#[test]
fn the_direct_access_policy_is_the_echo_console_policy_on_tenant_secrets_only() {
    let template = template();
    let document = &template["Resources"]["DirectAccessPolicy"]["Properties"]["PolicyDocument"];
    let expected: BTreeSet<String> = [
        "GetSecretValue",
        "CreateSecret",
        "PutSecretValue",
        "UpdateSecret",
    ]
    .iter()
    .map(|a| format!("secretsmanager:{a}"))
    .collect();
    let statements = statements(document);
    assert_eq!(statements.len(), 1);
    assert_eq!(statements[0].0, expected);
    assert_eq!(statements[0].1, tagged("!Sub", TENANT_SCOPE));
}

#[test]
fn no_resource_of_the_template_grants_secrets_manager_on_everything() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    let template: Yaml = serde_yaml::from_str(&text).unwrap();
    let resources = template["Resources"].as_mapping().unwrap();
    for (name, resource) in resources {
        let rendered = serde_yaml::to_string(resource).unwrap();
        assert!(
            !rendered.contains("Resource: '*'") && !rendered.contains("Resource: \"*\""),
            "{name:?}"
        );
        assert!(!rendered.contains("secretsmanager:*"), "{name:?}");
        assert!(!rendered.contains("SecretsManagerReadWrite"), "{name:?}");
    }
    assert_eq!(
        template["Parameters"]["SecretsRegion"]["Default"],
        Yaml::from("us-east-1")
    );
}
