//! Rotating and revoking the webhook signing key with no redeploy and no restart: the release
//! binaries behind the emulator, with the signing keys' age bound shortened to 2 s
//! (`SIGNING_KEYS_MAX_AGE_SECONDS`). A key added to the secret is accepted at once; a key removed
//! from it is refused within the bound; the functions keep running throughout.

use std::time::{Duration, Instant};

use serde_json::json;
use tenant_keys_e2e::{
    Stack, admin_client, leaks, random_whsec_key, secrets_manager_endpoint, unique,
};

const MAX_AGE_SECONDS: u64 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_works_at_once_and_a_removed_one_stops_within_the_bound() {
    // SAFETY of the test: set before the stack (and any other thread of this test) starts.
    unsafe {
        std::env::set_var("SIGNING_KEYS_MAX_AGE_SECONDS", MAX_AGE_SECONDS.to_string());
        std::env::set_var("SIGNING_KEYS_RECHECK_SECONDS", "0");
    }
    let old = random_whsec_key();
    let new = random_whsec_key();
    let stack = Stack::start_with_signing_secret(1, &old).await;
    let admin = admin_client(&secrets_manager_endpoint());
    let put = |text: String| {
        let admin = admin.clone();
        let id = stack.signing_secret_id.clone();
        async move {
            admin
                .put_secret_value()
                .secret_id(id)
                .secret_string(text)
                .send()
                .await
                .expect("rotating the signing secret in moto");
        }
    };
    let tenant = unique("org_rotate");
    let connect = json!({"tenantId": tenant, "provider": "openai",
                         "credentials": {"apiKey": "sk-rotation-test-000001"}});
    let list = json!({"tenantId": tenant});
    assert_eq!(
        stack
            .call_with_key("connect-integration", &connect, &old)
            .await
            .status,
        201
    );
    assert_eq!(
        stack
            .call_with_key("list-integrations", &list, &new)
            .await
            .status,
        401
    );

    // Step 1 of the rotation: both keys. The new one is accepted at once, the old one still.
    put(format!("{old} {new}")).await;
    for function in ["list-integrations", "fetch-key"] {
        let body = if function == "fetch-key" {
            json!({"tenantId": tenant, "provider": "openai"})
        } else {
            list.clone()
        };
        assert_eq!(
            stack.call_with_key(function, &body, &new).await.status,
            200,
            "{function}"
        );
        assert_eq!(
            stack.call_with_key(function, &body, &old).await.status,
            200,
            "{function}"
        );
    }

    // Step 3: the new key alone. The old one is refused within the bound, the new one works.
    put(new.clone()).await;
    let removed = Instant::now();
    loop {
        let answer = stack.call_with_key("list-integrations", &list, &old).await;
        if answer.status == 401 {
            break;
        }
        assert_eq!(answer.status, 200);
        assert!(
            removed.elapsed() < Duration::from_secs(MAX_AGE_SECONDS + 2),
            "the removed key still works after {:?}",
            removed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        stack
            .call_with_key("list-integrations", &list, &new)
            .await
            .status,
        200
    );

    // A re-read that fails keeps the keys the functions have: the signing secret is briefly
    // scheduled for deletion (reads refused), past the bound.
    admin
        .delete_secret()
        .secret_id(&stack.signing_secret_id)
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(MAX_AGE_SECONDS + 1)).await;
    assert_eq!(
        stack
            .call_with_key("list-integrations", &list, &new)
            .await
            .status,
        200
    );
    assert_eq!(
        stack
            .call_with_key("list-integrations", &list, &old)
            .await
            .status,
        401
    );
    admin
        .restore_secret()
        .secret_id(&stack.signing_secret_id)
        .send()
        .await
        .unwrap();

    let output = stack.function_output();
    assert!(output.contains("re-reading the webhook signing secret failed"));
    assert!(
        leaks(&output, &[old, new]).is_empty(),
        "a signing key is in the log"
    );
}
