//! The soak run: the whole stack driven as a real backend drives it — many tenants at once with a
//! skewed share of traffic, reads, writes, disconnects and reconnects interleaved, a share of bad
//! inputs — first clean, then with Secrets Manager faults injected, against the release binaries
//! behind the cargo-lambda emulator (several instances per function). Every answer is recorded and
//! checked afterwards against what README promises ([`checks`]).
//!
//! The functions reach moto through `fault_proxy.py`, which also answers as AWS does where moto is
//! kinder (refusals of a secret scheduled for deletion). Bounded in time and count, loopback only.
//! Sizes (environment): `SOAK_SECONDS` per phase (default 25), `SOAK_TENANTS` (30),
//! `SOAK_CONCURRENCY` (16), `SOAK_INSTANCES` per function (3), `SOAK_MAX_REQUESTS` per phase
//! (20000); `SOAK_REPORT=<file>` also writes the Markdown report there, `SOAK_RECORDS=<file>`
//! every request and answer (no credential value is sent back, but the sent ones are in it). `make soak` runs a long one.

mod checks;
mod drive;

use std::sync::Arc;

use drive::{Driver, Phase, Sizes};
use moto::provider::{MockProvider, Mode};
use tenant_keys_e2e::{FaultProxy, Stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soak_with_and_without_faults() {
    let sizes = Sizes::from_env();
    // call-provider's calls go to a mock provider, which echoes the key it gets (the answers
    // must carry it as `****`, and the leak check covers the functions' output).
    let provider = MockProvider::start(Mode::Accept).await;
    // SAFETY of the test: set before the stack (and any other thread of this test) starts.
    unsafe {
        for (id, _) in drive::PROVIDERS {
            let name = format!("PROVIDER_API_BASE_URL_{}", id.to_ascii_uppercase());
            std::env::set_var(name, provider.url());
        }
    }
    let proxy = Arc::new(FaultProxy::start());
    let stack = Arc::new(Stack::start_behind(sizes.instances, &proxy.endpoint()).await);
    let driver = Arc::new(Driver::new(stack.clone(), sizes.clone()));

    let clean = driver.clone().run(Phase::Clean, proxy.clone()).await;
    let faults = driver.clone().run(Phase::Faults, proxy.clone()).await;
    // Memory after both phases, before the checks read anything back.
    let memory_end = stack.resident_kib("fetch-key");

    let report = checks::check(&driver, &stack, &[&clean, &faults], &memory_end).await;
    println!("{}", report.markdown);
    if let Ok(path) = std::env::var("SOAK_RECORDS") {
        let lines: Vec<String> = [&clean, &faults]
            .iter()
            .flat_map(|run| &run.records)
            .map(|record| format!("{record:?}"))
            .collect();
        std::fs::write(path, lines.join("\n")).expect("writing SOAK_RECORDS");
    }
    if let Ok(path) = std::env::var("SOAK_REPORT") {
        std::fs::write(path, &report.markdown).expect("writing SOAK_REPORT");
    }
    assert!(
        report.violations.is_empty(),
        "{} violations, the first ones:\n{}",
        report.violations.len(),
        report.violations[..report.violations.len().min(25)].join("\n")
    );
    assert!(
        clean.records.len() > 100 && faults.records.len() > 100,
        "too few requests to say anything ({} / {})",
        clean.records.len(),
        faults.records.len()
    );
}
