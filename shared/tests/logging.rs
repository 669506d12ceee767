//! What the handlers log, captured as the function's stdout would be. Its own test binary, so that
//! no other test's logging interferes with the captured subscriber.

mod support;

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use support::*;
use tenant_keys::Operation;
use tracing_subscriber::layer::SubscriberExt;

/// Collects what the handlers log, as the function's stdout would.
#[derive(Clone, Default)]
struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_are_one_json_line_per_request_and_never_hold_a_credential() {
    let log = CapturedLog::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .finish()
        .with(tenant_keys::config::log_filter());
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = app();
    let (tenant, version) = connected_tenant(&app).await;
    fetch(&app, &tenant, json!({})).await;
    let update = json!({"tenantId": tenant, "provider": "vapi", "credentials": {"privateApiKey": "sk-logged-never-42"},
                        "expectedVersionId": version});
    call(&app, Operation::UpdateKey, update.clone()).await;
    call(&app, Operation::UpdateKey, update).await; // stale: 409
    call(
        &app,
        Operation::ConnectIntegration,
        json!({"tenantId": tenant, "provider": "vapi",
        "credentials": {"publicApiKey": " sk-bad-padded-value", "privateApiKey": "x"}}),
    )
    .await;

    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert_eq!(lines[1]["fields"]["operation"], "fetch-key");
    assert_eq!(lines[1]["fields"]["tenant_id"], tenant.as_str());
    assert_eq!(lines[3]["fields"]["outcome"], "version_conflict");
    for leaked in [
        PUBLIC_KEY,
        PRIVATE_KEY,
        "sk-logged-never-42",
        "sk-bad-padded",
        "C2FVsBQIhrsc",
    ] {
        assert!(!text.contains(leaked), "{leaked} in the log:\n{text}");
    }
}
