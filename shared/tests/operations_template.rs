//! The stack's operations resources, checked on the template: every function logs to a log group
//! of its own with the stack's retention, the HTTP API writes access logs (never bodies), and every
//! alarm watches a metric that exists — one the functions emit (names, dimensions, outcomes from
//! the code) or one of Lambda's or API Gateway's for this stack's resources.

use std::collections::BTreeSet;

use serde_yaml::Value as Yaml;
use tenant_keys::Error;
use tenant_keys::metrics::{DIMENSIONS, METRIC_NAMES};

fn template() -> Yaml {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

fn tagged(tag: &str, value: &str) -> Yaml {
    serde_yaml::from_str(&format!("{tag} \"{value}\"")).unwrap()
}

/// The resources of `kind`, by logical id.
fn resources<'a>(template: &'a Yaml, kind: &str) -> Vec<(&'a str, &'a Yaml)> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, resource)| resource["Type"] == kind)
        .map(|(id, resource)| (id.as_str().unwrap(), resource))
        .collect()
}

/// The logical id a `!Ref` or `!GetAtt X.Arn` names.
fn target(value: &Yaml) -> String {
    let Yaml::Tagged(tagged) = value else {
        panic!("not a reference: {value:?}")
    };
    let name = tagged.value.as_str().unwrap();
    name.split('.').next().unwrap().to_owned()
}

fn assert_retained_log_group(template: &Yaml, id: &str) {
    let group = &template["Resources"][id];
    assert_eq!(group["Type"], Yaml::from("AWS::Logs::LogGroup"), "{id}");
    assert_eq!(
        group["Properties"]["RetentionInDays"],
        tagged("!Ref", "LogRetentionDays"),
        "{id}"
    );
}

#[test]
fn every_function_logs_to_its_own_log_group_with_the_stacks_retention() {
    let template = template();
    let functions = resources(&template, "AWS::Serverless::Function");
    assert_eq!(functions.len(), tenant_keys::Operation::ALL.len());
    let mut groups = BTreeSet::new();
    for (id, function) in functions {
        let logging = &function["Properties"]["LoggingConfig"];
        assert_eq!(logging["LogFormat"], Yaml::from("JSON"), "{id}");
        // Lambda's filter passes everything (the metrics lines carry no level); LogLevel is
        // applied by the functions themselves.
        assert_eq!(logging["ApplicationLogLevel"], Yaml::from("TRACE"), "{id}");
        let group = target(&logging["LogGroup"]);
        assert_retained_log_group(&template, &group);
        assert!(groups.insert(group), "{id} shares a log group");
    }
    assert_eq!(
        template["Globals"]["Function"]["Environment"]["Variables"]["TENANT_KEYS_LOG_LEVEL"],
        tagged("!Ref", "LogLevel")
    );
}

#[test]
fn the_http_api_writes_access_logs_without_bodies() {
    let template = template();
    let settings = &template["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"];
    assert_retained_log_group(&template, &target(&settings["DestinationArn"]));
    let format: serde_json::Value =
        serde_json::from_str(settings["Format"].as_str().unwrap()).unwrap();
    for field in [
        "requestId",
        "routeKey",
        "status",
        "responseLatency",
        "sourceIp",
    ] {
        assert!(format.get(field).is_some(), "access logs lack {field}");
    }
    let text = format.to_string().to_lowercase();
    assert!(!text.contains("body") && !text.contains("header"), "{text}");
}

#[test]
fn every_alarm_watches_a_metric_that_exists_and_notifies_the_optional_topic() {
    let template = template();
    let alarms = resources(&template, "AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 5);
    let functions: BTreeSet<String> = resources(&template, "AWS::Serverless::Function")
        .into_iter()
        .map(|(id, _)| id.to_owned())
        .collect();
    let outcomes = [
        Error::UpstreamUnavailable.code(),
        Error::TooManyWrites.code(),
    ];
    let mut watched_outcomes = BTreeSet::new();
    for (id, alarm) in alarms {
        let properties = &alarm["Properties"];
        let actions: Yaml =
            serde_yaml::from_str("!If [HasAlarmTopic, [!Ref AlarmTopicArn], !Ref AWS::NoValue]")
                .unwrap();
        assert_eq!(properties["AlarmActions"], actions, "{id}");
        if properties["Namespace"] == tagged("!Ref", "MetricsNamespace") {
            // One of the functions' own metrics, by a dimension they emit.
            let name = properties["MetricName"].as_str().unwrap();
            assert!(METRIC_NAMES.contains(&name), "{id}: {name} is not emitted");
            for dimension in properties["Dimensions"].as_sequence().unwrap() {
                let dimension_name = dimension["Name"].as_str().unwrap();
                assert!(DIMENSIONS.contains(&dimension_name), "{id}");
                let value = dimension["Value"].as_str().unwrap();
                assert!(
                    outcomes.contains(&value),
                    "{id}: {value} is no outcome the code emits"
                );
                watched_outcomes.insert(value.to_owned());
            }
            continue;
        }
        // Metric math over Lambda's metrics of every function, or API Gateway's of this API.
        let metrics = properties["Metrics"].as_sequence().expect("metric math");
        let mut referenced = BTreeSet::new();
        for metric in metrics {
            let stat = &metric["MetricStat"]["Metric"];
            if stat.is_null() {
                continue;
            }
            let dimension = &stat["Dimensions"][0];
            match stat["Namespace"].as_str().unwrap() {
                "AWS/Lambda" => {
                    assert_eq!(dimension["Name"], Yaml::from("FunctionName"), "{id}");
                    referenced.insert(target(&dimension["Value"]));
                }
                "AWS/ApiGateway" => {
                    assert_eq!(dimension["Name"], Yaml::from("ApiId"), "{id}");
                    assert_eq!(dimension["Value"], tagged("!Ref", "HttpApi"), "{id}");
                }
                other => panic!("{id}: unexpected namespace {other}"),
            }
        }
        assert!(
            referenced.is_empty() || referenced == functions,
            "{id} watches some functions only: {referenced:?}"
        );
    }
    assert_eq!(
        watched_outcomes.len(),
        outcomes.len(),
        "{watched_outcomes:?}"
    );
}

/// `sam local --env-vars` passes a function only the variables the template declares for it
/// (aws-sam-cli's `samcli/local/lambdafn/env_vars.py`; issues #1553, #8046): every variable
/// events/env.json sets must be declared for every function, or it silently never arrives.
#[test]
fn every_variable_of_the_sam_local_env_file_is_declared_for_every_function() {
    let env: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../events/env.json"))
            .unwrap(),
    )
    .unwrap();
    let set = env["Parameters"].as_object().expect("a Parameters object");
    assert!(!set.is_empty());
    let template = template();
    let globals = template["Globals"]["Function"]["Environment"]["Variables"]
        .as_mapping()
        .unwrap();
    for (id, function) in resources(&template, "AWS::Serverless::Function") {
        let own = function["Properties"]["Environment"]["Variables"].as_mapping();
        for name in set.keys() {
            let declared = globals.contains_key(name.as_str())
                || own.is_some_and(|own| own.contains_key(name.as_str()));
            assert!(
                declared,
                "{id} does not declare {name}, which events/env.json sets"
            );
        }
    }
    // Its production value means "as on AWS": the regional endpoint.
    assert_eq!(
        globals["AWS_ENDPOINT_URL_SECRETS_MANAGER"],
        Yaml::from(""),
        "the endpoint's default must be empty"
    );
}

/// Every variable the functions read, by its constant in the code: the configuration reference
/// (`docs/operations.md`) names each, and each
/// variable the template sets for the functions is one of them (no setting the code ignores).
#[test]
fn the_environment_the_functions_read_is_documented_and_nothing_else_is_set() {
    use tenant_keys::config::*;
    let read = [
        WEBHOOK_SECRET_ID_ENV,
        SECRETS_REGION_ENV,
        CACHE_TTL_ENV,
        CACHE_MAX_ENTRIES_ENV,
        KMS_KEY_ENV,
        RECOVERY_DAYS_ENV,
        ALLOW_PURGE_ENV,
        SIGNING_KEYS_MAX_AGE_ENV,
        SIGNING_KEYS_RECHECK_ENV,
        SECRETS_MANAGER_ENDPOINT_ENV,
        LOG_LEVEL_ENV,
        tenant_keys::metrics::NAMESPACE_ENV,
        tenant_keys::provider::CHECK_BASE_URL_ENV_PREFIX,
        tenant_keys::provider::API_BASE_URL_ENV_PREFIX,
        FULL_VIEW_ALLOWED_ENV,
    ];
    let reference = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/operations.md"
    ))
    .unwrap();
    let undocumented: Vec<&str> = read
        .iter()
        .copied()
        .filter(|name| !reference.contains(name))
        .collect();
    assert!(
        undocumented.is_empty(),
        "docs/operations.md does not name {undocumented:?}"
    );

    let template = template();
    let mut set: Vec<String> = Vec::new();
    let mut add = |variables: &Yaml| {
        if let Some(variables) = variables.as_mapping() {
            set.extend(variables.keys().map(|key| key.as_str().unwrap().to_owned()));
        }
    };
    add(&template["Globals"]["Function"]["Environment"]["Variables"]);
    for (_, function) in resources(&template, "AWS::Serverless::Function") {
        add(&function["Properties"]["Environment"]["Variables"]);
    }
    // A prefix (`PROVIDER_API_BASE_URL_`) stands for every variable it begins.
    let ignored: Vec<&String> = set
        .iter()
        .filter(|name| {
            !read
                .iter()
                .any(|r| *r == name.as_str() || (r.ends_with('_') && name.starts_with(r)))
        })
        .collect();
    assert!(
        ignored.is_empty(),
        "the template sets {ignored:?}, which no code reads"
    );
}
