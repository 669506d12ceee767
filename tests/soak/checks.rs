//! What the soak run must show, checked on the recorded answers and on moto's final state
//! (read directly, not through the proxy):
//! - only the statuses and codes README documents per operation; no 5xx without an injected fault;
//!   call-provider's answers carry the key the provider echoed as `****`;
//!   every `503`/`429` with `Retry-After`; each bad input its own 4xx;
//! - every write answered 2xx holds, by `versionId`, the value its writer set, and no two requests
//!   claim one version (nothing lost, nothing duplicated);
//! - no fresh read returns a version older than a write answered before the read started, nor a
//!   value after a disconnect answered before it started (with no connect since);
//! - each integration's final state is the one the last lifecycle answer describes;
//! - `409`s only where a conflict really happened; exactly one `201` per connected integration;
//! - AWSCURRENT always a version some request was answered 2xx for (or one a request with an
//!   attempt answered `503` may have written);
//! - fetch-key's memory flat after warm-up; no credential value in the functions' output.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{Map, Value};
use tenant_keys_e2e::{Stack, admin_client, leaks, secrets_manager_endpoint};

use crate::drive::{Driver, Op, PROVIDERS, Phase, PhaseRun, Record, VersionPick};

/// The most fetch-key's resident memory may grow per instance from warm-up to the end (KiB): the
/// read cache is bounded (`FETCH_CACHE_MAX_ENTRIES`), so anything more is a leak.
const MEMORY_GROWTH_KIB: u64 = 3 * 1024;

/// The checks' verdict and the report.
pub struct Report {
    /// Every broken promise, one line each.
    pub violations: Vec<String>,
    /// The "Load held" table of RELIABILITY.md.
    pub markdown: String,
}

/// Runs every check over the phases' records.
pub async fn check(
    driver: &Driver,
    stack: &Stack,
    phases: &[&PhaseRun],
    memory_end: &[u64],
) -> Report {
    let records: Vec<&Record> = phases.iter().flat_map(|run| &run.records).collect();
    let mut violations = Vec::new();
    documented_answers(&records, &mut violations);
    conflicts_are_real(&records, &mut violations);
    one_creation_each(&records, driver, &mut violations);
    fresh_reads_are_fresh(&records, &mut violations);
    let states = final_states(driver, &records, &mut violations).await;
    writes_hold(driver, &records, &mut violations).await;
    let warm = &phases[0].memory_warm;
    for (instance, (warm, end)) in warm.iter().zip(memory_end).enumerate() {
        if end.saturating_sub(*warm) > MEMORY_GROWTH_KIB {
            violations.push(format!(
                "fetch-key instance {instance}: memory grew from {warm} KiB to {end} KiB"
            ));
        }
    }
    let values = driver.values.lock().unwrap().clone();
    let output = stack.function_output();
    for leaked in leaks(&output, &values) {
        violations.push(format!(
            "a credential value is in the functions' output: {leaked}"
        ));
    }
    if output.contains(&stack.signing_secret) {
        violations.push("the signing secret is in the functions' output".into());
    }
    let markdown = report(driver, phases, warm, memory_end, &states, violations.len());
    Report {
        violations,
        markdown,
    }
}

fn is_2xx(record: &Record) -> bool {
    (200..300).contains(&record.status)
}

fn describe(record: &Record) -> String {
    format!(
        "{} t{} {:?} [{:.3}s..{:.3}s] {} {}",
        record.op.name(),
        record.tenant,
        record.provider.map(|p| PROVIDERS[p].0),
        record.start.as_secs_f64(),
        record.end.as_secs_f64(),
        record.status,
        record.code().unwrap_or("")
    )
}

/// Only documented statuses and codes, per operation.
fn documented_answers(records: &[&Record], violations: &mut Vec<String>) {
    let bad_input = [
        "invalid_json",
        "invalid_request",
        "invalid_tenant_id",
        "unknown_provider",
        "invalid_credentials",
    ];
    for record in records {
        let code = record.code().unwrap_or("");
        let documented = match (&record.op, record.status) {
            (Op::Bad { status, code: want }, got) => got == *status && code == *want,
            (_, 400) => bad_input.contains(&code),
            (Op::Connect, 200 | 201) => true,
            (Op::Connect, 409) => [
                "version_conflict",
                "secret_unavailable",
                "idempotency_conflict",
            ]
            .contains(&code),
            (Op::Fetch { .. }, 200 | 404) => true,
            (Op::Fetch { .. } | Op::Disconnect { .. }, 409) => code == "version_conflict",
            (Op::Update { .. }, 200 | 404) => true,
            (Op::Update { .. }, 409) => {
                ["version_conflict", "idempotency_conflict"].contains(&code)
            }
            (Op::Disconnect { .. }, 200 | 404) => true,
            (Op::List, 200) => true,
            // The mock provider answers 200, echoing the key it got, which must come back as
            // ****; never connected or disconnected is 404.
            (Op::Call, 200) => record.body["echo"] == "Bearer ****",
            (Op::Call, 404) => true,
            (_, 503) => code == "upstream_unavailable",
            _ => false,
        };
        if !documented {
            violations.push(format!("undocumented answer: {}", describe(record)));
        }
        if record.status == 404 && record.code() != Some("not_found") {
            violations.push(format!("a 404 that is not not_found: {}", describe(record)));
        }
        if record.status >= 500 && record.phase == Phase::Clean {
            violations.push(format!("5xx with no fault injected: {}", describe(record)));
        }
        if (record.status == 503 || record.status == 429) && !record.retry_after {
            violations.push(format!("no Retry-After: {}", describe(record)));
        }
        if record.status == 409 && code == "idempotency_conflict" {
            violations.push(format!(
                "every request had its own webhook-id: {}",
                describe(record)
            ));
        }
    }
}

/// Whether a lifecycle request concerns `provider` of `tenant`: `allProviders` only those its
/// answer lists (a provider the tenant never had is not touched), when it answered 2xx.
fn lifecycle_of(record: &Record, tenant: usize, provider: usize) -> bool {
    match record.op {
        Op::Disconnect { all: true } if is_2xx(record) => {
            record.tenant == tenant
                && record.body["integrations"]
                    .as_array()
                    .is_some_and(|list| list.iter().any(|i| i["provider"] == PROVIDERS[provider].0))
        }
        Op::Connect | Op::Disconnect { .. } => record.concerns(tenant, provider),
        _ => false,
    }
}

/// Whether `other` may have changed the secret while `record` ran (overlapping in time).
fn overlaps(record: &Record, other: &Record) -> bool {
    other.start < record.end && other.end > record.start
}

/// Whether `other` is a request that may have changed `record`'s secret (any write, except the
/// answers that say nothing happened: bad input and 404).
fn may_change(record: &Record, other: &Record) -> bool {
    !std::ptr::eq(record, other)
        && other.op.writes()
        && other.tenant == record.tenant
        && record
            .provider
            .is_none_or(|provider| other.concerns(record.tenant, provider))
        && !matches!(other.status, 400 | 404)
}

/// A 409 only where another request really raced it.
fn conflicts_are_real(records: &[&Record], violations: &mut Vec<String>) {
    let writers = writers(records);
    for record in records.iter().filter(|r| r.status == 409) {
        let real = match (&record.op, record.code()) {
            // expectedVersionId: some other write may have replaced it since it was current.
            (
                Op::Update {
                    expected: Some(expected),
                },
                Some("version_conflict"),
            ) => {
                let since = writers
                    .get(expected.as_str())
                    .map_or(Duration::ZERO, |w| w.start);
                records.iter().any(|other| {
                    may_change(record, other) && other.start < record.end && other.end > since
                })
            }
            (Op::Connect, Some("secret_unavailable")) => records.iter().any(|other| {
                may_change(record, other)
                    && matches!(other.op, Op::Disconnect { .. })
                    && overlaps(record, other)
            }),
            _ => records
                .iter()
                .any(|other| may_change(record, other) && overlaps(record, other)),
        };
        if !real {
            violations.push(format!("a 409 with no conflict: {}", describe(record)));
        }
    }
}

/// The 2xx connect and update answers that wrote a version, by version id.
fn writers<'a>(records: &[&'a Record]) -> HashMap<&'a str, &'a Record> {
    records
        .iter()
        .filter(|r| {
            is_2xx(r)
                && matches!(r.op, Op::Connect | Op::Update { .. })
                && r.body["changed"] == true
        })
        .filter_map(|r| Some((r.version_id()?, *r)))
        .collect()
}

/// Exactly one 201 per integration that was ever connected, and `created` iff 201.
fn one_creation_each(records: &[&Record], driver: &Driver, violations: &mut Vec<String>) {
    for tenant in 0..driver.sizes.all_tenants() {
        for (provider, (provider_id, _)) in PROVIDERS.iter().enumerate() {
            let connects: Vec<_> = records
                .iter()
                .filter(|r| matches!(r.op, Op::Connect) && r.concerns(tenant, provider))
                .filter(|r| is_2xx(r))
                .collect();
            let created = connects.iter().filter(|r| r.status == 201).count();
            if !connects.is_empty() && created != 1 {
                violations.push(format!(
                    "t{tenant} {provider_id}: {created} connects answered 201"
                ));
            }
            for connect in connects {
                if (connect.status == 201) != (connect.body["created"] == true) {
                    violations.push(format!("created disagrees: {}", describe(connect)));
                }
            }
        }
    }
    // No two requests answered that they wrote the same version.
    let mut claimed = HashSet::new();
    for record in records
        .iter()
        .filter(|r| is_2xx(r) && r.body["changed"] == true)
    {
        if let Some(version) = record.version_id()
            && matches!(record.op, Op::Connect | Op::Update { .. })
            && !claimed.insert(version)
        {
            violations.push(format!(
                "two requests claim version {version}: {}",
                describe(record)
            ));
        }
    }
}

/// No fresh read older than a write answered before it started; no value read after a
/// disconnect answered before the read started, with no connect since.
fn fresh_reads_are_fresh(records: &[&Record], violations: &mut Vec<String>) {
    let writers = writers(records);
    let fresh_reads = records.iter().filter(|r| {
        matches!(
            &r.op,
            Op::Fetch {
                version: VersionPick::Current,
                fresh: true
            }
        ) && r.status == 200
    });
    for read in fresh_reads {
        let provider = read.provider.expect("a fetch names its provider");
        let Some(version) = read.version_id() else {
            violations.push(format!("a 200 read without versionId: {}", describe(read)));
            continue;
        };
        let Some(writer) = writers.get(version) else {
            // A version written by a request whose answer was a 503 (fault phase only).
            if read.phase == Phase::Clean {
                violations.push(format!(
                    "a read of a version no write answered: {}",
                    describe(read)
                ));
            }
            continue;
        };
        let newer = records.iter().find(|other| {
            matches!(other.op, Op::Connect | Op::Update { .. })
                && other.concerns(read.tenant, provider)
                && is_2xx(other)
                && other.body["changed"] == true
                && other.end < read.start
                && writer.end < other.start
        });
        if let Some(newer) = newer {
            violations.push(format!(
                "stale fresh read: {} returned the version of {} though {} answered before",
                describe(read),
                describe(writer),
                describe(newer)
            ));
        }
        let disconnected = records.iter().find(|d| {
            matches!(d.op, Op::Disconnect { .. })
                && lifecycle_of(d, read.tenant, provider)
                && d.status == 200
                && d.end < read.start
                && !records.iter().any(|c| {
                    matches!(c.op, Op::Connect)
                        && c.concerns(read.tenant, provider)
                        && c.status != 400
                        && c.end > d.start
                        && c.start < read.end
                })
        });
        if let Some(disconnect) = disconnected {
            violations.push(format!(
                "a value read after {} answered: {}",
                describe(disconnect),
                describe(read)
            ));
        }
    }
}

/// Every write and lifecycle request on one integration, in order of start, for a violation's
/// message.
fn history(records: &[&Record], tenant: usize, provider: usize) -> String {
    let mut concerned: Vec<_> = records
        .iter()
        .filter(|r| r.op.writes() && r.concerns(tenant, provider))
        .collect();
    concerned.sort_by_key(|r| r.start);
    concerned
        .iter()
        .map(|r| {
            format!(
                "{} (attempts {}, webhook-id {}, versionId {:?})",
                describe(r),
                r.attempts,
                r.webhook_id,
                r.version_id()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// How the final states compared: checked, and left open because another lifecycle request
/// overlapped the last one answered 2xx, or failed after it (its effect is unknown).
#[derive(Debug, Default)]
pub struct States {
    /// Integrations whose final state was checked.
    pub checked: usize,
    /// Integrations whose last lifecycle answer was overlapped or followed by another request.
    pub open: usize,
}

/// Each integration's final state is the one the last lifecycle answer describes (when no other
/// lifecycle request overlapped it), and its
/// AWSCURRENT a version some request was answered 2xx for.
async fn final_states(
    driver: &Driver,
    records: &[&Record],
    violations: &mut Vec<String>,
) -> States {
    let admin = admin_client(&secrets_manager_endpoint());
    let claimed: HashSet<&str> = records
        .iter()
        .filter(|r| is_2xx(r) && matches!(r.op, Op::Connect | Op::Update { .. }))
        .filter_map(|r| r.version_id())
        .collect();
    let mut states = States::default();
    for tenant in 0..driver.sizes.all_tenants() {
        for (provider, (provider_id, _)) in PROVIDERS.iter().enumerate() {
            let name = format!("tenant/{}/{provider_id}", driver.tenant_id(tenant));
            let described = admin.describe_secret().secret_id(&name).send().await;
            let actual = match &described {
                Ok(output) if output.deleted_date().is_some() => "disconnected",
                Ok(_) => "connected",
                Err(_) => "absent",
            };
            if let Ok(output) = &described {
                let current = output
                    .version_ids_to_stages()
                    .into_iter()
                    .flatten()
                    .find(|(_, stages)| stages.iter().any(|s| s == "AWSCURRENT"))
                    .map(|(id, _)| id.as_str());
                let unknown_outcome = records
                    .iter()
                    .any(|r| r.op.writes() && r.concerns(tenant, provider) && r.outcome_unknown());
                if !current.is_some_and(|id| claimed.contains(id)) && !unknown_outcome {
                    violations.push(format!(
                        "{name}: AWSCURRENT {current:?} is no version a request was answered for; versions {:?}; its writes and lifecycle requests: {}",
                        output.version_ids_to_stages(),
                        history(records, tenant, provider)
                    ));
                }
            }
            let lifecycle: Vec<_> = records
                .iter()
                .filter(|r| lifecycle_of(r, tenant, provider) && !matches!(r.status, 400 | 404))
                .collect();
            let last = lifecycle.iter().filter(|r| is_2xx(r)).max_by_key(|r| r.end);
            let expected = match last {
                None if lifecycle.is_empty() => "absent",
                None => {
                    states.open += 1;
                    continue;
                }
                Some(last) => {
                    // Another request overlapping the last success (README: either may take
                    // effect last), or a failed one after it, may have decided the state.
                    if lifecycle
                        .iter()
                        .any(|r| !std::ptr::eq(*r, *last) && r.end > last.start)
                    {
                        states.open += 1;
                        continue;
                    }
                    match last.op {
                        Op::Connect => "connected",
                        _ => "disconnected",
                    }
                }
            };
            states.checked += 1;
            if actual != expected {
                let last = last.map(|r| describe(r)).unwrap_or_default();
                violations.push(format!(
                    "{name} is {actual}, but the last lifecycle answer ({last}) says {expected}"
                ));
            }
        }
    }
    states
}

/// Every 2xx connect and update holds, by `versionId`, the value its writer set (read back from
/// moto; disconnected secrets are restored first, as the run is over).
async fn writes_hold(driver: &Driver, records: &[&Record], violations: &mut Vec<String>) {
    let admin = admin_client(&secrets_manager_endpoint());
    for tenant in 0..driver.sizes.all_tenants() {
        for (provider_id, _) in PROVIDERS {
            let name = format!("tenant/{}/{provider_id}", driver.tenant_id(tenant));
            if let Ok(output) = admin.describe_secret().secret_id(&name).send().await
                && output.deleted_date().is_some()
            {
                admin
                    .restore_secret()
                    .secret_id(&name)
                    .send()
                    .await
                    .expect("restoring");
            }
        }
    }
    for record in records
        .iter()
        .filter(|r| is_2xx(r) && matches!(r.op, Op::Connect | Op::Update { .. }))
    {
        let provider_id = PROVIDERS[record.provider.expect("a write names its provider")].0;
        let name = format!("tenant/{}/{provider_id}", driver.tenant_id(record.tenant));
        let version = record.version_id().unwrap_or_default();
        let stored = admin
            .get_secret_value()
            .secret_id(&name)
            .version_id(version)
            .send()
            .await;
        let stored: Option<Map<String, Value>> = stored
            .ok()
            .and_then(|s| serde_json::from_str(s.secret_string()?).ok());
        let holds = stored.as_ref().is_some_and(|stored| match record.op {
            Op::Connect => *stored == record.sent,
            _ => record
                .sent
                .iter()
                .all(|(field, value)| stored.get(field) == Some(value)),
        });
        if !holds {
            violations.push(format!(
                "version {version} does not hold what its writer set: {}",
                describe(record)
            ));
        }
    }
}

/// The percentile `p` (0–100) of `durations`, in milliseconds.
fn percentile(durations: &mut [Duration], p: usize) -> f64 {
    if durations.is_empty() {
        return 0.0;
    }
    durations.sort();
    let index = (durations.len() * p / 100).min(durations.len() - 1);
    durations[index].as_secs_f64() * 1000.0
}

fn report(
    driver: &Driver,
    phases: &[&PhaseRun],
    warm: &[u64],
    end: &[u64],
    states: &States,
    violations: usize,
) -> String {
    let sizes = &driver.sizes;
    let mut out = format!(
        "| phase | requests | tenants | concurrency | duration | throughput | {} | fetch-key memory (warm → end, KiB) | faults injected | lost |\n",
        [
            "fetch",
            "update",
            "connect",
            "disconnect",
            "list",
            "bad input"
        ]
        .map(|op| format!("{op} p50 / p99 (ms)"))
        .join(" | ")
    );
    out.push_str(&format!("|{}\n", "---|".repeat(16)));
    for run in phases {
        let mut per_op: HashMap<&str, Vec<Duration>> = HashMap::new();
        for record in &run.records {
            per_op
                .entry(record.op.name())
                .or_default()
                .push(record.end - record.start);
        }
        let latencies = [
            "fetch",
            "update",
            "connect",
            "disconnect",
            "list",
            "bad input",
        ]
        .map(|op| {
            let durations = per_op.entry(op).or_default();
            format!(
                "{:.0} / {:.0}",
                percentile(durations, 50),
                percentile(durations, 99)
            )
        });
        let (tenants, memory) = match run.phase {
            Phase::Clean => (sizes.tenants, format!("{} → …", sum(warm))),
            Phase::Faults => (sizes.all_tenants(), format!("… → {}", sum(end))),
        };
        out.push_str(&format!(
            "| {:?} | {} | {tenants} | {} | {:.0} s | {:.0} req/s | {} | {memory} | {} | {} |\n",
            run.phase,
            run.records.len(),
            sizes.concurrency,
            run.elapsed.as_secs_f64(),
            run.records.len() as f64 / run.elapsed.as_secs_f64(),
            latencies.join(" | "),
            run.faults,
            if violations == 0 {
                "nothing"
            } else {
                "see violations"
            },
        ));
    }
    let retried = phases
        .iter()
        .flat_map(|run| &run.records)
        .filter(|record| record.attempts > 1)
        .count();
    out.push_str(&format!(
        "\nRequests retried after a 503 (same webhook-id): {retried}. Statuses: {}. Final states checked: {} integrations ({} left open: the last lifecycle request overlapped another, or a failed one followed). {} violations.\n",
        statuses(phases),
        states.checked,
        states.open,
        violations
    ));
    out
}

fn sum(kib: &[u64]) -> u64 {
    kib.iter().sum()
}

fn statuses(phases: &[&PhaseRun]) -> String {
    let mut counts: HashMap<(u16, String), usize> = HashMap::new();
    for record in phases.iter().flat_map(|run| &run.records) {
        *counts
            .entry((record.status, record.code().unwrap_or("").to_owned()))
            .or_default() += 1;
    }
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort();
    counts
        .iter()
        .map(|((status, code), n)| format!("{status} {code} ×{n}").replace("  ", " "))
        .collect::<Vec<_>>()
        .join(", ")
}
