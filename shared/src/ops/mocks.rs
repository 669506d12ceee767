//! aws-smithy-mocks helpers of the operations' unit tests: a store answering as Secrets Manager
//! does (errors parsed as the real ones), with the functions' retry policy.

use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
use aws_sdk_secretsmanager::operation::list_secret_version_ids::ListSecretVersionIdsOutput;
use aws_sdk_secretsmanager::operation::put_secret_value::PutSecretValueOutput;
use aws_sdk_secretsmanager::operation::tag_resource::TagResourceOutput;
use aws_sdk_secretsmanager::operation::untag_resource::UntagResourceOutput;
use aws_sdk_secretsmanager::types::SecretVersionsListEntry;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::body::SdkBody;
use serde_json::json;

use crate::credentials::{Completeness, Credentials, View};
use crate::deadline::Deadline;
use crate::provider::Provider;
use crate::request::{ConnectRequest, FetchRequest, UpdateRequest};
use crate::store::{QuotaIsNotRetried, STAGE_CURRENT, STAGE_PENDING, SecretStore, VersionChoice};
use crate::tenant::TenantId;

pub(crate) const STORED: &str =
    r#"{"publicApiKey":"pub-1234567890abcd","privateApiKey":"priv-0987654321wxyz"}"#;
pub(crate) const NAME: &str = "tenant/org_1/vapi";

/// A store answering with `rules`, first match first; a read of a version by id that no rule
/// answers is not found, a version list no rule answers is empty (a secret whose versions are
/// all labelled and none of this request's), and tagging and untagging succeed.
pub(crate) fn store(rules: &[&Rule]) -> SecretStore {
    let unknown_version = mock!(Client::get_secret_value)
        .match_requests(|req| req.version_id().is_some())
        .then_http_response(|| aws_error(400, "ResourceNotFoundException"));
    let no_other_versions = mock!(Client::list_secret_version_ids)
        .then_output(|| ListSecretVersionIdsOutput::builder().build());
    let tagged = mock!(Client::tag_resource).then_output(|| TagResourceOutput::builder().build());
    let untagged =
        mock!(Client::untag_resource).then_output(|| UntagResourceOutput::builder().build());
    let rules: Vec<&Rule> = rules
        .iter()
        .copied()
        .chain([&unknown_version, &no_other_versions, &tagged, &untagged])
        .collect();
    let client: Client = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, rules, |c| c
        .retry_config(crate::config::retry_config().with_initial_backoff(Duration::from_millis(1)))
        .retry_classifier(QuotaIsNotRetried));
    SecretStore::new(client)
}

/// ListSecretVersionIds answering with `ids`, none labelled (as versions replaced twice are).
pub(crate) fn listed(ids: &[&str]) -> Rule {
    let ids: Vec<String> = ids.iter().map(|id| (*id).to_owned()).collect();
    mock!(Client::list_secret_version_ids).then_output(move || {
        ListSecretVersionIdsOutput::builder()
            .set_versions(Some(
                ids.iter()
                    .map(|id| SecretVersionsListEntry::builder().version_id(id).build())
                    .collect(),
            ))
            .build()
    })
}

pub(crate) fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(10))
}

/// A Secrets Manager error response, parsed by the SDK as the real one would be.
pub(crate) fn aws_error(status: u16, kind: &str) -> HttpResponse {
    let body = json!({"__type": kind, "message": "injected"}).to_string();
    let mut response = HttpResponse::new(status.try_into().unwrap(), SdkBody::from(body));
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.1");
    response
}

pub(crate) fn vapi() -> &'static Provider {
    Provider::find("vapi").unwrap()
}

pub(crate) fn fetch_request() -> FetchRequest {
    FetchRequest {
        tenant: TenantId::parse("org_1").unwrap(),
        provider: vapi(),
        view: View::Full,
        version: VersionChoice::Current,
        max_age: None,
    }
}

pub(crate) fn connect_request() -> ConnectRequest {
    let raw = json!({"publicApiKey": "pub-1234567890abcd", "privateApiKey": "priv-0987654321wxyz"});
    ConnectRequest {
        tenant: TenantId::parse("org_1").unwrap(),
        provider: vapi(),
        credentials: Credentials::from_request(
            vapi(),
            raw.as_object().unwrap(),
            Completeness::AllFields,
        )
        .unwrap(),
        verify: false,
    }
}

pub(crate) fn update_request_of(private: &str, expected: Option<&str>) -> UpdateRequest {
    let raw = json!({ "privateApiKey": private });
    UpdateRequest {
        tenant: TenantId::parse("org_1").unwrap(),
        provider: vapi(),
        changes: Credentials::from_request(
            vapi(),
            raw.as_object().unwrap(),
            Completeness::SomeFields,
        )
        .unwrap(),
        expected_version_id: expected.map(str::to_owned),
        verify: false,
    }
}

pub(crate) fn update_request(expected: Option<&str>) -> UpdateRequest {
    update_request_of("priv-new-000000000000", expected)
}

pub(crate) fn describe_output(current: &str) -> DescribeSecretOutput {
    DescribeSecretOutput::builder()
        .version_ids_to_stages(current.to_owned(), vec![STAGE_CURRENT.to_owned()])
        .build()
}

pub(crate) fn current_is(version: &str) -> (Rule, Rule) {
    let id = version.to_owned();
    let describe = mock!(Client::describe_secret).then_output(move || describe_output(&id));
    let id = version.to_owned();
    let get = mock!(Client::get_secret_value)
        .match_requests(|req| req.version_stage() == Some(STAGE_CURRENT))
        .then_output(move || {
            GetSecretValueOutput::builder()
                .version_id(id.clone())
                .secret_string(STORED)
                .build()
        });
    (describe, get)
}

/// PutSecretValue answering as Secrets Manager does for a fresh write under the private label.
pub(crate) fn fresh_put() -> Rule {
    mock!(Client::put_secret_value)
        .match_requests(|req| req.version_stages() == [STAGE_PENDING])
        .then_compute_output(|req| {
            PutSecretValueOutput::builder()
                .version_id(req.client_request_token().unwrap())
                .version_stages(STAGE_PENDING)
                .build()
        })
}
