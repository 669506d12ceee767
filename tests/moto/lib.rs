//! The moto Secrets Manager that `scripts/test` starts on a free loopback port and names in
//! `TENANT_KEYS_TEST_SM_ENDPOINT`, as the handler tests (`shared/tests`) and the end-to-end tests
//! (`tests/`) both see it: its endpoint (the tests fail without it, never skip), a client for
//! setting up and inspecting secrets, and the inspections the tests assert on. Also a mock
//! third-party provider API ([`provider`]) for the `verify` tests of both packages.

pub mod provider;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};

/// The moto endpoint; panics with how to get one when `TENANT_KEYS_TEST_SM_ENDPOINT` is unset.
pub fn endpoint() -> String {
    std::env::var("TENANT_KEYS_TEST_SM_ENDPOINT").expect(
        "TENANT_KEYS_TEST_SM_ENDPOINT is not set: these tests need a moto server; run ./scripts/test",
    )
}

/// A client for `endpoint` with moto's fake credentials, in us-east-1, with `retry` as its
/// retry policy.
pub fn client_for(endpoint: &str, retry: RetryConfig) -> Client {
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .retry_config(retry)
        .build();
    Client::from_conf(config)
}

/// How many secrets have a name starting with `prefix` (e.g. `tenant/<id>/`).
pub async fn secrets_named_under(client: &Client, prefix: &str) -> usize {
    client
        .list_secrets()
        .filters(
            Filter::builder()
                .key(FilterNameStringType::Name)
                .values(prefix)
                .build(),
        )
        .send()
        .await
        .expect("ListSecrets on moto")
        .secret_list()
        .len()
}

/// How many versions the secret `name` has, deprecated ones included.
pub async fn version_count(client: &Client, name: &str) -> usize {
    client
        .list_secret_version_ids()
        .secret_id(name)
        .include_deprecated(true)
        .send()
        .await
        .expect("ListSecretVersionIds on moto")
        .versions()
        .len()
}
