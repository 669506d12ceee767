//! The SAM template's IAM as code, checked against what the functions really call.
//!
//! Every flow of the three operations runs against moto with an interceptor that records each
//! Secrets Manager action; each function's statements on `tenant/*` must grant exactly those
//! actions, scoped to `tenant/*` in `SecretsRegion`, plus GetSecretValue on the signing secret.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use aws_sdk_secretsmanager::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_secretsmanager::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_secretsmanager::error::BoxError;
use serde_json::json;
use serde_yaml::Value as Yaml;
use support::*;
use tenant_keys::auth::SigningKeys;
use tenant_keys::store::SecretStore;
use tenant_keys::{App, Operation};

const TENANT_SCOPE: &str =
    "arn:${AWS::Partition}:secretsmanager:${SecretsRegion}:${AWS::AccountId}:secret:tenant/*";

/// Records the `X-Amz-Target` action of every call the client sends.
#[derive(Debug, Clone, Default)]
struct ActionRecorder(Arc<Mutex<BTreeSet<String>>>);

impl Intercept for ActionRecorder {
    fn name(&self) -> &'static str {
        "ActionRecorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        if let Some(target) = request.headers().get("x-amz-target") {
            let action = target.trim_start_matches("secretsmanager.");
            let mut called = self.0.lock().unwrap();
            called.insert(format!("secretsmanager:{action}"));
            // IAM asks for TagResource as well when CreateSecret carries tags.
            let body: serde_json::Value =
                serde_json::from_slice(request.body().bytes().unwrap_or_default())?;
            if action == "CreateSecret" && body.get("Tags").is_some() {
                called.insert("secretsmanager:TagResource".to_owned());
            }
        }
        Ok(())
    }
}

fn recording_app() -> (App, ActionRecorder) {
    let recorder = ActionRecorder::default();
    let client = aws_sdk_secretsmanager::Client::from_conf(
        client_for(&endpoint())
            .config()
            .to_builder()
            .interceptor(recorder.clone())
            .build(),
    );
    let app = App::new(
        SecretStore::new(client),
        SigningKeys::parse(SIGNING_SECRET).unwrap(),
    );
    (app, recorder)
}

/// Every branch of every operation: new and existing secrets, retries, conflicts, old versions.
async fn actions_called_per_function() -> BTreeMap<&'static str, BTreeSet<String>> {
    let setup = app();
    let mut called = BTreeMap::new();

    let (app, recorder) = recording_app();
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
    called.insert(
        "ConnectIntegrationFunction",
        recorder.0.lock().unwrap().clone(),
    );

    let (app, recorder) = recording_app();
    let (tenant, _) = connected_tenant(&setup).await;
    for extra in [
        json!({}),
        json!({"view": "masked"}),
        json!({"version": "previous"}),
    ] {
        fetch(&app, &tenant, extra).await;
    }
    fetch(&app, &new_tenant(), json!({})).await;
    called.insert("FetchKeyFunction", recorder.0.lock().unwrap().clone());

    let (app, recorder) = recording_app();
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
    called.insert("UpdateKeyFunction", recorder.0.lock().unwrap().clone());
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
            (actions, statement["Resource"].clone())
        })
        .collect()
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
            for (actions, resource) in statements(&policy) {
                for action in &actions {
                    assert!(
                        !action.contains('*'),
                        "{function}: wildcard action {action}"
                    );
                    assert!(
                        !action.contains("Delete") && !action.contains("List"),
                        "{function} may {action}"
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
