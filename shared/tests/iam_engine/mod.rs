//! The IAM engine of `iam_policy.rs`: `tests/iam/expand.py` expands `template.yaml` for a set of
//! stack parameters (SAM's translator and intrinsic resolver, from the pinned aws-sam-cli) into
//! the policies each principal holds, and `tests/iam/evaluate.mjs` judges requests against them
//! with `@cloud-copilot/iam-simulate` (pinned in `tests/iam/package-lock.json`). This module
//! turns the calls the code really made into IAM requests, with the context keys AWS gives them.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::support::RecordedCall;

/// The account `expand.py` deploys into.
pub const ACCOUNT: &str = "123456789012";

/// The decision an engine gives a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    Denied,
}

/// One request for the engine, and what it must decide.
#[derive(Debug, Clone, Serialize)]
pub struct IamRequest {
    /// What the request stands for, for the failure message.
    #[serde(skip)]
    pub label: String,
    #[serde(skip)]
    pub expected: Decision,
    /// A principal of the expansion: a role, a user, or a managed policy held alone.
    pub principal: String,
    pub action: String,
    pub resource: String,
    pub context: Map<String, Value>,
    #[serde(rename = "resourcePolicy", skip_serializing_if = "Option::is_none")]
    pub resource_policy: Option<Value>,
    /// Judge the action on "*" if the engine says it takes no resource (ListSecrets, say).
    #[serde(rename = "wildcardIfOnly")]
    pub wildcard_if_only: bool,
}

impl IamRequest {
    pub fn new(principal: &str, action: &str, resource: &str, expected: Decision) -> Self {
        IamRequest {
            label: format!("{action} on {resource}"),
            expected,
            principal: principal.to_owned(),
            action: action.to_owned(),
            resource: resource.to_owned(),
            context: Map::new(),
            resource_policy: None,
            wildcard_if_only: false,
        }
    }

    /// The same request with a context key set (or replaced).
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.context.insert(key.to_owned(), value.into());
        self
    }

    /// The same request without a context key.
    pub fn without(mut self, key: &str) -> Self {
        self.context.remove(key);
        self
    }

    /// The same request with another expectation and label.
    pub fn expect(mut self, expected: Decision, label: impl Into<String>) -> Self {
        self.expected = expected;
        self.label = label.into();
        self
    }

    /// The same request on another resource.
    pub fn on(mut self, resource: &str) -> Self {
        self.resource = resource.to_owned();
        self
    }
}

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The template expanded for `parameters` (see `tests/iam/expand.py` for its shape).
pub fn expand(parameters: &[(&str, &str)]) -> Value {
    try_expand(parameters).unwrap_or_else(|error| panic!("expand.py {parameters:?}: {error}"))
}

/// The template expanded for `parameters`, or why it cannot be (CloudFormation would refuse
/// the parameters, or the translation fails).
pub fn try_expand(parameters: &[(&str, &str)]) -> Result<Value, String> {
    let python = root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run ./scripts/test, which installs the pinned aws-sam-cli into .venv",
        python.display()
    );
    let output = Command::new(python)
        .arg(root().join("tests/iam/expand.py"))
        .args(
            parameters
                .iter()
                .map(|(name, value)| format!("{name}={value}")),
        )
        .env("SAM_CLI_TELEMETRY", "0")
        .output()
        .expect("run tests/iam/expand.py");
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&output.stdout).expect("expand.py prints JSON"))
}

/// The engine's answer: a decision per request, and the actions of each service in `services`.
pub struct Judgement {
    pub results: Vec<Value>,
    pub actions: Map<String, Value>,
}

/// Asks the engine to judge `requests` against the principals of `expansion`.
pub fn judge(expansion: &Value, requests: &[IamRequest], services: &[&str]) -> Judgement {
    let modules = root().join("tests/iam/node_modules/@cloud-copilot/iam-simulate");
    assert!(
        modules.exists(),
        "{} is missing: run ./scripts/test (npm ci --prefix tests/iam)",
        modules.display()
    );
    let input = json!({
        "principals": expansion["principals"],
        "requests": requests,
        "listActions": services,
    });
    let mut child = Command::new("node")
        .arg(root().join("tests/iam/evaluate.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node is required for the IAM evaluation (Node.js 20 or later)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "evaluate.mjs failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut answer: Value = serde_json::from_slice(&output.stdout).expect("evaluate.mjs JSON");
    let results = answer["results"].as_array().cloned().unwrap_or_default();
    assert_eq!(results.len(), requests.len(), "one decision per request");
    Judgement {
        results,
        actions: answer["actions"]
            .as_object_mut()
            .cloned()
            .unwrap_or_default(),
    }
}

/// Judges `requests` and fails with every request whose decision is not the expected one, or
/// whose context names a key the engine does not know for its action.
pub fn assert_decisions(set: &str, expansion: &Value, requests: &[IamRequest]) {
    let judgement = judge(expansion, requests, &[]);
    let mut wrong = Vec::new();
    for (request, result) in requests.iter().zip(&judgement.results) {
        let decision = match result["decision"].as_str() {
            Some("Allowed") => Decision::Allowed,
            Some("ImplicitlyDenied" | "ExplicitlyDenied") => Decision::Denied,
            _ => {
                wrong.push(format!(
                    "{}: the engine refused it: {result}",
                    request.label
                ));
                continue;
            }
        };
        let ignored = result["ignoredContextKeys"].as_array().cloned();
        if ignored.as_ref().is_some_and(|keys| !keys.is_empty()) {
            wrong.push(format!(
                "{}: context keys the engine does not know for {}: {ignored:?}",
                request.label, request.action
            ));
        }
        if decision != request.expected {
            wrong.push(format!(
                "{} by {}: {:?}, expected {:?} (engine: {})",
                request.label, request.principal, decision, request.expected, result["decision"]
            ));
        }
    }
    let allowed = requests.iter().filter(|r| r.expected == Decision::Allowed);
    eprintln!(
        "[{set}] {} requests judged: {} to allow, {} to deny",
        requests.len(),
        allowed.count(),
        requests
            .iter()
            .filter(|r| r.expected == Decision::Denied)
            .count()
    );
    assert!(
        wrong.is_empty(),
        "[{set}] {} of {} requests judged wrongly:\n  {}",
        wrong.len(),
        requests.len(),
        wrong.join("\n  ")
    );
}

/// The ARN of the tenant secret `name` in `region` (Secrets Manager adds six random characters).
pub fn secret_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:secretsmanager:{region}:{account}:secret:{name}-AbCdEf")
}

/// The tags tenant-keys gives the secret `tenant/<tenant-id>/<provider>`.
pub fn tags_of(name: &str) -> Option<[(&'static str, String); 3]> {
    let mut parts = name.strip_prefix("tenant/")?.splitn(2, '/');
    let (tenant, provider) = (parts.next()?, parts.next()?);
    Some([
        ("tenant-id", tenant.to_owned()),
        ("provider", provider.to_owned()),
        ("managed-by", "tenant-keys".to_owned()),
    ])
}

/// The IAM request of a recorded Secrets Manager call, made by `principal` in `region`, with the
/// context keys the Service Authorization Reference lists for the action and the request holds.
pub fn request_of_call(principal: &str, region: &str, call: &RecordedCall) -> IamRequest {
    let parameters = &call.parameters;
    let name = parameters["SecretId"]
        .as_str()
        .or(parameters["Name"].as_str())
        .expect("every recorded call names a secret");
    // CreateSecret, and the TagResource authorization its tags add (recorded with its Name); a
    // TagResource of its own names an existing secret (SecretId).
    let creating = call.action == "secretsmanager:CreateSecret"
        || (call.action == "secretsmanager:TagResource" && parameters.get("Name").is_some());
    let mut request = IamRequest::new(
        principal,
        &call.action,
        &secret_arn(region, ACCOUNT, name),
        Decision::Allowed,
    )
    .with("aws:RequestedRegion", region);
    request.label = format!("{} of {name} (as the code calls it)", call.action);
    if call.action == "secretsmanager:CreateSecret" {
        request = request.with("secretsmanager:Name", name);
        if let Some(key) = parameters["KmsKeyId"].as_str() {
            request = request.with("secretsmanager:KmsKeyId", key);
        }
    } else {
        request = request.with("secretsmanager:SecretId", name);
    }
    if let Some(tags) = parameters["Tags"].as_array() {
        let mut keys = Vec::new();
        for tag in tags {
            let key = tag["Key"].as_str().unwrap();
            request = request.with(&format!("aws:RequestTag/{key}"), tag["Value"].clone());
            keys.push(Value::from(key));
        }
        request = request.with("aws:TagKeys", keys);
    }
    if let Some(keys) = parameters["TagKeys"].as_array() {
        request = request.with("aws:TagKeys", Value::Array(keys.clone()));
    }
    // A secret that exists carries the tags connect gave it; one being created carries none yet.
    if !creating && let Some(tags) = tags_of(name) {
        for (key, value) in tags {
            request = request.with(&format!("aws:ResourceTag/{key}"), value);
        }
    }
    for (parameter, key) in [
        ("VersionStage", "secretsmanager:VersionStage"),
        ("VersionId", "secretsmanager:VersionId"),
        (
            "ForceDeleteWithoutRecovery",
            "secretsmanager:ForceDeleteWithoutRecovery",
        ),
        (
            "RecoveryWindowInDays",
            "secretsmanager:RecoveryWindowInDays",
        ),
    ] {
        if let Some(value) = parameters.get(parameter) {
            let value = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            request = request.with(key, value);
        }
    }
    request
}

/// The KMS calls Secrets Manager makes with the caller's permissions for a call on a secret
/// encrypted with a customer managed key: a new version is encrypted with kms:GenerateDataKey and
/// CreateSecret and PutSecretValue need kms:Decrypt as well; a read needs kms:Decrypt (Secrets
/// Manager user guide, "Secret encryption and decryption in AWS Secrets Manager").
pub fn kms_actions_of(action: &str) -> &'static [&'static str] {
    match action {
        "secretsmanager:CreateSecret" | "secretsmanager:PutSecretValue" => {
            &["kms:GenerateDataKey", "kms:Decrypt"]
        }
        "secretsmanager:GetSecretValue" => &["kms:Decrypt"],
        _ => &[],
    }
}

/// A KMS request Secrets Manager in `via_region` makes on `key` for `principal`. The key has
/// KMS's default key policy, which lets the account's IAM policies decide (AWS KMS developer
/// guide, "Default key policy").
pub fn kms_request(principal: &str, action: &str, key: &str, via: Option<&str>) -> IamRequest {
    let key_account = key.split(':').nth(4).unwrap_or(ACCOUNT);
    let default_key_policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{key_account}:root")},
            "Action": "kms:*",
            "Resource": "*"
        }]
    });
    let mut request = IamRequest::new(principal, action, key, Decision::Allowed)
        .with("kms:CallerAccount", ACCOUNT);
    if let Some(via) = via {
        request = request.with("kms:ViaService", via);
    }
    request.label = format!("{action} on {key} via {via:?}");
    request.resource_policy = Some(default_key_policy);
    request
}
