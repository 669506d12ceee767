//! The load: workers that pick a tenant (skewed), an operation and its options, send it signed,
//! and record the answer; in the fault phase a scheduler injects faults through the proxy, and
//! answers `503` are retried with the same `webhook-id`, as the TypeScript client does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{Map, Value, json};
use tenant_keys_e2e::{FaultProxy, Stack, now, unique};

/// The providers the run connects, with their fields (the first of Vapi's is public).
pub const PROVIDERS: [(&str, &[&str]); 2] = [
    ("vapi", &["publicApiKey", "privateApiKey"]),
    ("openai", &["apiKey"]),
];

/// Attempts of a request answered `503` in the fault phase (the client's default is 3 retries).
const MAX_ATTEMPTS: u32 = 4;

/// The run's sizes, from the environment.
#[derive(Debug, Clone)]
pub struct Sizes {
    /// Seconds of load per phase.
    pub seconds: u64,
    /// Tenants of the clean phase; the fault phase adds a third more, new ones.
    pub tenants: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Instances per function.
    pub instances: usize,
    /// Requests per phase at most.
    pub max_requests: usize,
}

impl Sizes {
    /// `SOAK_SECONDS`, `SOAK_TENANTS`, `SOAK_CONCURRENCY`, `SOAK_INSTANCES`, `SOAK_MAX_REQUESTS`.
    pub fn from_env() -> Sizes {
        let get = |name: &str, default: usize| {
            std::env::var(name)
                .map(|v| {
                    v.parse()
                        .unwrap_or_else(|_| panic!("{name} must be a number"))
                })
                .unwrap_or(default)
        };
        Sizes {
            seconds: get("SOAK_SECONDS", 25) as u64,
            tenants: get("SOAK_TENANTS", 30),
            concurrency: get("SOAK_CONCURRENCY", 16),
            instances: get("SOAK_INSTANCES", 3),
            max_requests: get("SOAK_MAX_REQUESTS", 20_000),
        }
    }

    /// The tenants of the fault phase: those of the clean phase and new ones.
    pub fn all_tenants(&self) -> usize {
        self.tenants + self.tenants.div_ceil(3)
    }
}

/// The two phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No fault injected: any 5xx is a defect.
    Clean,
    /// Throttling bursts, lost answers on every write call, stalls and a short outage.
    Faults,
}

/// Which version a fetch asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionPick {
    /// `current` (the default).
    Current,
    /// `previous`.
    Previous,
    /// `versionId`.
    Id(String),
}

/// What a request asked.
#[derive(Debug, Clone)]
pub enum Op {
    /// connect-integration with every field.
    Connect,
    /// fetch-key; `fresh` when README promises a fresh read (full or masked view without
    /// `maxAgeSeconds`, or `refresh`, or `maxAgeSeconds: 0`).
    Fetch { version: VersionPick, fresh: bool },
    /// update-key of one field, with or without `expectedVersionId`.
    Update { expected: Option<String> },
    /// disconnect-integration of one provider or `allProviders`.
    Disconnect { all: bool },
    /// list-integrations.
    List,
    /// call-provider: a GET of the provider's API (a mock on loopback) with the tenant's key.
    Call,
    /// A bad input with the status and code README gives it.
    Bad { status: u16, code: &'static str },
}

impl Op {
    /// A short name, for the report.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Connect => "connect",
            Op::Fetch { .. } => "fetch",
            Op::Update { .. } => "update",
            Op::Disconnect { .. } => "disconnect",
            Op::List => "list",
            Op::Call => "call",
            Op::Bad { .. } => "bad input",
        }
    }

    /// Whether the request may change the secret (for the conflict and final-state checks).
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Op::Connect | Op::Update { .. } | Op::Disconnect { .. }
        )
    }
}

/// One request and its (final) answer. Times are since the run started.
#[derive(Debug, Clone)]
pub struct Record {
    /// The phase it ran in.
    pub phase: Phase,
    /// What it asked.
    pub op: Op,
    /// The tenant (index).
    pub tenant: usize,
    /// The provider (index into [`PROVIDERS`]); `None` for list and `allProviders`.
    pub provider: Option<usize>,
    /// The credentials sent (connect, update).
    pub sent: Map<String, Value>,
    /// When the first attempt was sent.
    pub start: Duration,
    /// When the last answer arrived.
    pub end: Duration,
    /// Attempts made (more than one: `503` retried with the same `webhook-id`).
    pub attempts: u32,
    /// The final status.
    pub status: u16,
    /// Whether the final answer had `Retry-After`.
    pub retry_after: bool,
    /// The final body.
    pub body: Value,
    /// The `webhook-id` every attempt carried (the version ids of its writes derive from it).
    pub webhook_id: String,
}

impl Record {
    /// The problem code of an error answer.
    pub fn code(&self) -> Option<&str> {
        self.body["code"].as_str()
    }

    /// Whether the request concerns `provider` of `tenant` (`allProviders` and list concern all).
    pub fn concerns(&self, tenant: usize, provider: usize) -> bool {
        self.tenant == tenant && self.provider.is_none_or(|p| p == provider)
    }

    /// Whether some attempt was answered `503`, so that what it did is unknown: a write may
    /// have landed (its answer lost), and the retry's answer, given after other requests came
    /// between, need not describe it (a retried connect answers `409` when a disconnect came
    /// between; a retried update, `404`).
    pub fn outcome_unknown(&self) -> bool {
        self.status == 503 || self.attempts > 1
    }

    /// The version id a 2xx connect or update answered.
    pub fn version_id(&self) -> Option<&str> {
        self.body["versionId"].as_str()
    }
}

/// What one phase did.
#[derive(Debug)]
pub struct PhaseRun {
    /// Which phase.
    pub phase: Phase,
    /// Every request, in the order answers arrived.
    pub records: Vec<Record>,
    /// How long the load ran.
    pub elapsed: Duration,
    /// fetch-key's resident memory per instance (KiB) after warm-up.
    pub memory_warm: Vec<u64>,
    /// Faults injected, by kind (and calls the proxy dropped as they would have landed late).
    pub faults: Value,
}

/// The shared state of the load.
pub struct Driver {
    /// The stack under load.
    pub stack: Arc<Stack>,
    /// The sizes.
    pub sizes: Sizes,
    /// The run's tenant id prefix.
    prefix: String,
    /// When the run started.
    pub origin: Instant,
    /// Every credential value sent; none may appear in the functions' output.
    pub values: Mutex<Vec<String>>,
    /// Version ids answered so far, per (tenant, provider), newest last.
    known: Mutex<HashMap<(usize, usize), Vec<String>>>,
}

impl Driver {
    /// A driver for `stack`.
    pub fn new(stack: Arc<Stack>, sizes: Sizes) -> Driver {
        Driver {
            stack,
            sizes,
            prefix: unique("soak"),
            origin: Instant::now(),
            values: Mutex::new(Vec::new()),
            known: Mutex::new(HashMap::new()),
        }
    }

    /// The tenant id of index `tenant`.
    pub fn tenant_id(&self, tenant: usize) -> String {
        format!("{}_t{tenant}", self.prefix)
    }

    /// Runs one phase: `concurrency` workers until its time or count is spent, and in the fault
    /// phase the fault scheduler.
    pub async fn run(self: Arc<Self>, phase: Phase, proxy: Arc<FaultProxy>) -> PhaseRun {
        let started = Instant::now();
        let until = started + Duration::from_secs(self.sizes.seconds);
        let sent = Arc::new(AtomicUsize::new(0));
        let records = Arc::new(Mutex::new(Vec::new()));
        let tenants = match phase {
            Phase::Clean => self.sizes.tenants,
            Phase::Faults => self.sizes.all_tenants(),
        };
        let workers: Vec<_> = (0..self.sizes.concurrency)
            .map(|_| {
                let (driver, sent, records) = (self.clone(), sent.clone(), records.clone());
                tokio::spawn(async move {
                    while Instant::now() < until
                        && sent.fetch_add(1, Ordering::Relaxed) < driver.sizes.max_requests
                    {
                        let record = driver.one_request(phase, tenants).await;
                        records.lock().unwrap().push(record);
                    }
                })
            })
            .collect();
        let scheduler =
            (phase == Phase::Faults).then(|| tokio::spawn(inject_faults(proxy.clone(), until)));
        // Warm-up: the first fifth of the clean phase; memory is read then and at the end.
        let warm_at = started + Duration::from_secs(self.sizes.seconds.div_ceil(5));
        tokio::time::sleep_until(warm_at.into()).await;
        let memory_warm = self.stack.resident_kib("fetch-key");
        for worker in workers {
            worker.await.expect("a soak worker panicked");
        }
        if let Some(scheduler) = scheduler {
            scheduler.await.expect("the fault scheduler panicked");
        }
        proxy.set(json!([])).await;
        let faults = proxy.injected().await;
        let records = std::mem::take(&mut *records.lock().unwrap());
        PhaseRun {
            phase,
            records,
            elapsed: started.elapsed(),
            memory_warm,
            faults,
        }
    }

    /// Picks, sends and records one request.
    async fn one_request(&self, phase: Phase, tenants: usize) -> Record {
        let (tenant, provider, op, function, body) = self.pick(tenants);
        let sent = body["credentials"].as_object().cloned().unwrap_or_default();
        let start = self.origin.elapsed();
        let webhook_id = unique("msg_");
        let timestamp = now();
        let body_text = match &op {
            Op::Bad {
                code: "invalid_json",
                ..
            } => "{\"tenantId\": ".to_owned(),
            _ => body.to_string(),
        };
        let mut attempts = 0;
        let answer = loop {
            attempts += 1;
            let answer = match &op {
                Op::Bad {
                    code: "unauthorized",
                    ..
                } => {
                    let headers = [
                        ("webhook-id", webhook_id.clone()),
                        ("webhook-timestamp", timestamp.to_string()),
                        (
                            "webhook-signature",
                            "v1,AAAAbm90IGEgc2lnbmF0dXJl".to_owned(),
                        ),
                    ];
                    self.stack
                        .send("POST", function, &body_text, &headers)
                        .await
                }
                _ => {
                    self.stack
                        .call_signed(function, &body_text, &webhook_id, timestamp)
                        .await
                }
            };
            let retry = phase == Phase::Faults && answer.status == 503 && attempts < MAX_ATTEMPTS;
            if !retry {
                break answer;
            }
            let wait: u64 = answer
                .headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .unwrap_or(1);
            tokio::time::sleep(Duration::from_secs(wait.min(2))).await;
        };
        let record = Record {
            phase,
            op,
            tenant,
            provider,
            sent,
            start,
            end: self.origin.elapsed(),
            attempts,
            status: answer.status,
            retry_after: answer.headers.contains_key("retry-after"),
            body: answer.body,
            webhook_id,
        };
        if let (Some(provider), Some(version)) = (record.provider, record.version_id())
            && (200..300).contains(&record.status)
        {
            let mut known = self.known.lock().unwrap();
            let versions = known.entry((tenant, provider)).or_default();
            if versions.last().map(String::as_str) != Some(version) {
                versions.push(version.to_owned());
            }
        }
        record
    }

    /// A new credential value, remembered for the leak check.
    fn new_value(&self, field: &str) -> String {
        let value = unique(&format!("sk-soak-{}-", field.to_lowercase()));
        self.values.lock().unwrap().push(value.clone());
        value
    }

    /// A tenant (skewed: index `i` is chosen with weight `1 / (i + 1)`), an operation and its
    /// body.
    fn pick(&self, tenants: usize) -> (usize, Option<usize>, Op, &'static str, Value) {
        let mut rng = rand::rng();
        let total: f64 = (0..tenants).map(|i| 1.0 / (i + 1) as f64).sum();
        let mut point = rng.random::<f64>() * total;
        let mut tenant = tenants - 1;
        for i in 0..tenants {
            point -= 1.0 / (i + 1) as f64;
            if point <= 0.0 {
                tenant = i;
                break;
            }
        }
        let provider = rng.random_range(0..PROVIDERS.len());
        let (provider_id, fields) = PROVIDERS[provider];
        let tenant_id = self.tenant_id(tenant);
        let known = self
            .known
            .lock()
            .unwrap()
            .get(&(tenant, provider))
            .cloned()
            .unwrap_or_default();
        let roll = rng.random_range(0..100);
        match roll {
            0..45 => {
                let mut body = json!({"tenantId": tenant_id, "provider": provider_id});
                let view = ["full", "masked", "public"][rng.random_range(0..3)];
                body["view"] = json!(view);
                let version = match rng.random_range(0..10) {
                    0..6 => VersionPick::Current,
                    6..8 => VersionPick::Previous,
                    _ => match known.get(rng.random_range(0..known.len().max(1))) {
                        Some(id) => VersionPick::Id(id.clone()),
                        None => VersionPick::Current,
                    },
                };
                match &version {
                    VersionPick::Current => {}
                    VersionPick::Previous => body["version"] = json!("previous"),
                    VersionPick::Id(id) => body["versionId"] = json!(id),
                }
                let fresh = match rng.random_range(0..10) {
                    0..4 => view != "public",
                    4..7 => {
                        body["refresh"] = json!(true);
                        true
                    }
                    _ => {
                        let max_age = rng.random_range(0..30);
                        body["maxAgeSeconds"] = json!(max_age);
                        max_age == 0
                    }
                };
                let op = Op::Fetch { version, fresh };
                (tenant, Some(provider), op, "fetch-key", body)
            }
            45..65 => {
                let field = fields[rng.random_range(0..fields.len())];
                let mut body = json!({"tenantId": tenant_id, "provider": provider_id,
                                      "credentials": {field: self.new_value(field)}});
                let expected = known.last().filter(|_| rng.random_bool(0.5)).cloned();
                if let Some(expected) = &expected {
                    body["expectedVersionId"] = json!(expected);
                }
                (
                    tenant,
                    Some(provider),
                    Op::Update { expected },
                    "update-key",
                    body,
                )
            }
            65..76 => {
                let credentials: Map<String, Value> = fields
                    .iter()
                    .map(|field| (field.to_string(), json!(self.new_value(field))))
                    .collect();
                let body = json!({"tenantId": tenant_id, "provider": provider_id,
                                  "credentials": credentials});
                (
                    tenant,
                    Some(provider),
                    Op::Connect,
                    "connect-integration",
                    body,
                )
            }
            76..81 => {
                let body = json!({"tenantId": tenant_id, "provider": provider_id});
                let op = Op::Disconnect { all: false };
                (tenant, Some(provider), op, "disconnect-integration", body)
            }
            81..83 => {
                let body = json!({"tenantId": tenant_id, "allProviders": true});
                let op = Op::Disconnect { all: true };
                (tenant, None, op, "disconnect-integration", body)
            }
            83..88 => {
                let body = json!({"tenantId": tenant_id});
                (tenant, None, Op::List, "list-integrations", body)
            }
            88..93 => {
                let path = if provider_id == "openai" {
                    "/v1/models"
                } else {
                    "/assistant"
                };
                let body = json!({"tenantId": tenant_id, "provider": provider_id,
                                  "method": "GET", "path": path});
                (tenant, Some(provider), Op::Call, "call-provider", body)
            }
            _ => {
                let (status, code, function, body) = match rng.random_range(0..6) {
                    0 => (
                        400,
                        "invalid_tenant_id",
                        "fetch-key",
                        json!({"tenantId": "-not/a tenant", "provider": provider_id}),
                    ),
                    1 => (
                        400,
                        "unknown_provider",
                        "update-key",
                        json!({"tenantId": tenant_id, "provider": "nope",
                                 "credentials": {"apiKey": "x"}}),
                    ),
                    2 => (
                        401,
                        "unauthorized",
                        "fetch-key",
                        json!({"tenantId": tenant_id, "provider": provider_id}),
                    ),
                    3 => (400, "invalid_json", "connect-integration", json!({})),
                    4 => (
                        400,
                        "invalid_credentials",
                        "connect-integration",
                        json!({"tenantId": tenant_id, "provider": "vapi",
                                 "credentials": {"publicApiKey": self.new_value("publicApiKey")}}),
                    ),
                    _ => (
                        400,
                        "invalid_request",
                        "fetch-key",
                        json!({"tenantId": tenant_id, "provider": provider_id,
                                 "refresh": true, "maxAgeSeconds": 3}),
                    ),
                };
                (
                    tenant,
                    Some(provider),
                    Op::Bad { status, code },
                    function,
                    body,
                )
            }
        }
    }
}

/// The fault schedule of the fault phase, in turns of 1.5 s until `until`: a throttling burst on
/// every call, lost answers of each write call (the call lands, its answer is a 500, the SDK
/// retries), a stalled read and write (longer than the SDK's attempt timeout), and a short outage
/// (every call 500 for one turn).
async fn inject_faults(proxy: Arc<FaultProxy>, until: Instant) {
    let schedule = [
        json!([{"action": "*", "fault": "throttle", "times": 6}]),
        json!([{"action": "CreateSecret", "fault": "lost_response", "times": 2},
               {"action": "PutSecretValue", "fault": "lost_response", "times": 2}]),
        json!([{"action": "UpdateSecretVersionStage", "fault": "lost_response", "times": 2}]),
        json!([{"action": "DeleteSecret", "fault": "lost_response", "times": 1},
               {"action": "RestoreSecret", "fault": "lost_response", "times": 1}]),
        json!([{"action": "GetSecretValue", "fault": "timeout", "times": 1},
               {"action": "PutSecretValue", "fault": "timeout", "times": 1}]),
        json!([{"action": "*", "fault": "error500", "times": -1}]),
        json!([]),
    ];
    let mut turn = 0;
    while Instant::now() < until {
        proxy.set(schedule[turn % schedule.len()].clone()).await;
        turn += 1;
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
}
