//! The TypeScript side against the real stack: this test starts the functions (against moto) once,
//! with a signing secret holding two keys — a raw one like the SAM stack generates and a `whsec_`
//! one — and runs, against it, the client's own test suite (`clients/convex`, `npm test`, Node's
//! test runner) and then the Convex example's (`examples/convex`, `npm test`: its functions under
//! convex-test with vitest). It fails if a suite fails, if a suite cannot run (run `npm ci` in both
//! folders first; `./scripts/test` does), or if the functions printed a signing key or any
//! credential value the suites sent.

use std::process::Command;

use moto::provider::{MockProvider, Mode};
use serde_json::{Value, json};
use tenant_keys::provider::PROVIDERS;
use tenant_keys_e2e::{
    Stack, admin_client, leaks, random_whsec_key, secrets_manager_endpoint, unique, workspace,
};

/// The functions' provider registry as the client's tests compare it with their own table.
fn providers_json() -> String {
    let providers: Vec<Value> = PROVIDERS
        .iter()
        .map(|provider| {
            let fields: Vec<Value> = provider
                .fields
                .iter()
                .map(|field| json!({"name": field.name, "public": field.public}))
                .collect();
            json!({"id": provider.id, "fields": fields})
        })
        .collect();
    Value::Array(providers).to_string()
}

/// A raw key of 48 letters and digits, as the SAM stack generates.
fn raw_key() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 48)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_client_and_the_convex_example_pass_against_the_stack() {
    let raw = raw_key();
    let whsec = random_whsec_key();
    // The stack's key checks (`verify`) and its calls to Vapi's API (call-provider) go to a mock
    // Vapi that refuses keys containing "wrong" and lists one assistant and one phone number.
    let vapi = MockProvider::start(Mode::Vapi("wrong".into())).await;
    // SAFETY of the test: set before the stack (and any other thread of this test) starts.
    unsafe {
        std::env::set_var("PROVIDER_CHECK_BASE_URL_VAPI", vapi.url());
        std::env::set_var("PROVIDER_API_BASE_URL_VAPI", vapi.url());
    }
    let stack = Stack::start_with_signing_secret(2, &format!("{raw} {whsec}")).await;
    let marker = unique("value");
    // Secrets as Echo's lib/secrets.ts wrote them with the AWS SDK (CreateSecret, the flat JSON of
    // JSON.stringify), for the drop-in's tests: one as Echo meant it, one with its publicAPIKey typo.
    let admin = admin_client(&secrets_manager_endpoint());
    let echo_tenant = unique("org_echo");
    let echo_value = json!({"publicApiKey": format!("pk-{marker}-echo"),
                            "privateApiKey": format!("sk-{marker}-echo")})
    .to_string();
    let misspelled_tenant = unique("org_echo_typo");
    let misspelled = json!({"publicAPIKey": format!("pk-{marker}-typo"),
                            "privateApiKey": format!("sk-{marker}-typo")});
    for (tenant, value) in [
        (&echo_tenant, echo_value.clone()),
        (&misspelled_tenant, misspelled.to_string()),
    ] {
        admin
            .create_secret()
            .name(format!("tenant/{tenant}/vapi"))
            .secret_string(value)
            .send()
            .await
            .expect("writing an Echo-style secret into moto");
    }

    for (folder, suite) in [
        ("clients/convex", "the TypeScript client's"),
        ("examples/convex", "the Convex example's"),
    ] {
        let status = Command::new("npm")
            .args(["test", "--silent"])
            .current_dir(workspace().join(folder))
            .env("TENANT_KEYS_URL", stack.base_url())
            .env("TENANT_KEYS_SIGNING_SECRET", &raw)
            .env("TENANT_KEYS_SIGNING_SECRET_WHSEC", &whsec)
            .env("TENANT_KEYS_TEST_VALUE_MARKER", &marker)
            .env("TENANT_KEYS_PROVIDERS", providers_json())
            .env("TENANT_KEYS_TEST_ECHO_TENANT", &echo_tenant)
            .env("TENANT_KEYS_TEST_ECHO_VALUE", &echo_value)
            .env("TENANT_KEYS_TEST_MISSPELLED_TENANT", &misspelled_tenant)
            .status()
            .expect("npm: is Node.js installed?");
        assert!(
            status.success(),
            "{suite} tests failed ({status}); their output is above"
        );
    }

    // The example listed Vapi's assistants and phone numbers through call-provider, with the
    // organization's key put in by the stack (its code never reads the private key).
    let listed: Vec<_> = vapi
        .received()
        .into_iter()
        .filter(|r| r.target == "/assistant" || r.target == "/phone-number")
        .collect();
    for path in ["/assistant", "/phone-number"] {
        assert!(
            listed.iter().any(|r| r.target == path
                && r.authorization
                    .as_deref()
                    .is_some_and(|a| a.starts_with("Bearer sk-"))),
            "no call-provider call reached {path}: {listed:?}"
        );
    }

    let output = stack.function_output();
    assert!(
        output.contains("\"operation\""),
        "the functions logged no request at all"
    );
    let secrets = [
        raw,
        whsec.clone(),
        whsec["whsec_".len()..].to_owned(),
        marker,
    ];
    assert_eq!(leaks(&output, &secrets), Vec::<&str>::new());
}
