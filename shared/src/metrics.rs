//! Metrics as CloudWatch Embedded Metric Format (EMF) lines on stdout: one line per request, which
//! CloudWatch Logs turns into metrics with no API call and no added latency.
//!
//! Dimensions are the operation and the outcome (`ok` or the error code), and for call-provider the
//! provider — never the tenant id, which would make one metric per tenant (cost, and a list of who
//! the tenants are); the tenant id, request id, `webhook-id` and the provider's status are plain
//! properties of the line, for Logs Insights. The lines
//! are written directly to stdout, not through the log filter, so no log level silences them.
//!
//! Format: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// Environment variable: the metrics' CloudWatch namespace.
pub const NAMESPACE_ENV: &str = "METRICS_NAMESPACE";
/// The namespace when [`NAMESPACE_ENV`] is unset.
pub const DEFAULT_NAMESPACE: &str = "TenantKeys";

/// The metrics a line can carry: every request's, the cache hit or miss of fetch-key and
/// call-provider, the time call-provider waited for the provider, and the first request of a
/// container's cold start.
pub const METRIC_NAMES: [&str; 7] = [
    "Requests",
    "Latency",
    "SecretsManagerCalls",
    "CacheHit",
    "CacheMiss",
    "ProviderLatency",
    "ColdStart",
];
/// The dimensions metrics are kept by.
pub const DIMENSIONS: [&str; 3] = ["Operation", "Outcome", "Provider"];

/// The dimension sets of every line: per operation and outcome, and per outcome across operations
/// (what the stack's alarms on `upstream_unavailable` and `too_many_writes` watch).
const DIMENSION_SETS: [&[&str]; 2] = [&["Operation", "Outcome"], &["Outcome"]];
/// call-provider's lines also per provider and outcome.
const CALL_DIMENSION_SETS: [&[&str]; 3] = [
    &["Operation", "Outcome"],
    &["Outcome"],
    &["Operation", "Provider", "Outcome"],
];

/// What one request did, for its metrics line.
#[derive(Debug)]
pub struct RequestMetrics<'a> {
    /// The function's operation name, e.g. `fetch-key`.
    pub operation: &'static str,
    /// `ok`, or the error code of the answer.
    pub outcome: &'a str,
    /// Time from receiving the request to having its answer.
    pub latency_ms: f64,
    /// Secrets Manager calls the request started.
    pub secrets_manager_calls: u32,
    /// fetch-key and call-provider: whether the value came from the container's cache.
    pub cache_hit: Option<bool>,
    /// call-provider: the provider called, and (when it answered) its status and time.
    pub provider_call: Option<ProviderCall>,
    /// Property: the tenant, once validated.
    pub tenant_id: &'a str,
    /// Property: Lambda's request id.
    pub request_id: &'a str,
    /// Property: the caller's `webhook-id`, once authenticated.
    pub webhook_id: &'a str,
}

/// What call-provider's line says of the call.
#[derive(Debug, Clone, Copy)]
pub struct ProviderCall {
    /// The provider (a dimension).
    pub provider: &'static str,
    /// Its status, when it answered (a property).
    pub status: Option<u16>,
    /// The time waited for it, when it answered.
    pub latency_ms: Option<f64>,
}

/// Writes one EMF line per request; the first request of a container also carries `ColdStart`.
#[derive(Debug)]
pub struct MetricsWriter {
    namespace: String,
    cold: AtomicBool,
    to_stdout: bool,
}

impl MetricsWriter {
    /// A writer for `namespace` that prints to stdout.
    pub fn new(namespace: impl Into<String>) -> Self {
        MetricsWriter {
            namespace: namespace.into(),
            cold: AtomicBool::new(true),
            to_stdout: true,
        }
    }

    /// A writer that prints nothing (in-process tests).
    pub fn silent() -> Self {
        MetricsWriter {
            to_stdout: false,
            ..Self::new(DEFAULT_NAMESPACE)
        }
    }

    /// A writer for the namespace in [`NAMESPACE_ENV`] (default [`DEFAULT_NAMESPACE`]).
    pub fn from_env() -> Self {
        let namespace = std::env::var(NAMESPACE_ENV)
            .ok()
            .filter(|namespace| !namespace.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
        Self::new(namespace)
    }

    /// The EMF line of one request (and whether it is the container's first).
    pub fn line(&self, request: &RequestMetrics<'_>) -> Value {
        let cold_start = self.cold.swap(false, Ordering::Relaxed);
        let mut metrics = vec![
            ("Requests", "Count", json!(1)),
            ("Latency", "Milliseconds", json!(request.latency_ms)),
            (
                "SecretsManagerCalls",
                "Count",
                json!(request.secrets_manager_calls),
            ),
        ];
        if let Some(hit) = request.cache_hit {
            metrics.push(("CacheHit", "Count", json!(u8::from(hit))));
            metrics.push(("CacheMiss", "Count", json!(u8::from(!hit))));
        }
        if let Some(latency) = request.provider_call.and_then(|call| call.latency_ms) {
            metrics.push(("ProviderLatency", "Milliseconds", json!(latency)));
        }
        if cold_start {
            metrics.push(("ColdStart", "Count", json!(1)));
        }
        let dimension_sets: &[&[&str]] = match request.provider_call {
            Some(_) => &CALL_DIMENSION_SETS,
            None => &DIMENSION_SETS,
        };
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut line = Map::new();
        line.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": dimension_sets,
                    "Metrics": metrics
                        .iter()
                        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
                        .collect::<Vec<_>>(),
                }],
            }),
        );
        line.insert("Operation".into(), json!(request.operation));
        line.insert("Outcome".into(), json!(request.outcome));
        if let Some(call) = request.provider_call {
            line.insert("Provider".into(), json!(call.provider));
            if let Some(status) = call.status {
                line.insert("ProviderStatus".into(), json!(status));
            }
        }
        for (name, _, value) in metrics {
            line.insert(name.into(), value);
        }
        line.insert("TenantId".into(), json!(request.tenant_id));
        line.insert("RequestId".into(), json!(request.request_id));
        line.insert("WebhookId".into(), json!(request.webhook_id));
        Value::Object(line)
    }

    /// Writes the request's line to stdout (a failed write is not the caller's problem).
    pub fn emit(&self, request: &RequestMetrics<'_>) {
        if !self.to_stdout {
            return;
        }
        let mut text = self.line(request).to_string();
        text.push('\n');
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(cache_hit: Option<bool>) -> RequestMetrics<'static> {
        RequestMetrics {
            operation: "fetch-key",
            outcome: "ok",
            latency_ms: 1.5,
            secrets_manager_calls: 1,
            cache_hit,
            provider_call: None,
            tenant_id: "org_1",
            request_id: "req-1",
            webhook_id: "msg_1",
        }
    }

    #[test]
    fn every_declared_metric_is_a_member_and_the_tenant_is_no_dimension() {
        let writer = MetricsWriter::new("Test");
        let line = writer.line(&request(Some(true)));
        let spec = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(spec["Namespace"], "Test");
        assert!(line["_aws"]["Timestamp"].as_u64().unwrap() > 1_600_000_000_000);
        for metric in spec["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(line[name].is_number(), "{name} has no value");
        }
        for set in spec["Dimensions"].as_array().unwrap() {
            for dimension in set.as_array().unwrap() {
                let dimension = dimension.as_str().unwrap();
                assert!(DIMENSIONS.contains(&dimension));
                assert!(line[dimension].is_string());
            }
        }
        assert_eq!(
            (&line["CacheHit"], &line["CacheMiss"]),
            (&json!(1), &json!(0))
        );
        assert_eq!(line["TenantId"], "org_1");
    }

    #[test]
    fn a_provider_call_is_kept_per_provider_with_its_status_as_a_property() {
        let writer = MetricsWriter::new("Test");
        let line = writer.line(&RequestMetrics {
            operation: "call-provider",
            provider_call: Some(ProviderCall {
                provider: "vapi",
                status: Some(200),
                latency_ms: Some(12.5),
            }),
            ..request(Some(false))
        });
        let sets = &line["_aws"]["CloudWatchMetrics"][0]["Dimensions"];
        assert!(
            sets.as_array()
                .unwrap()
                .contains(&json!(["Operation", "Provider", "Outcome"]))
        );
        assert_eq!(
            (&line["Provider"], &line["ProviderStatus"]),
            (&json!("vapi"), &json!(200))
        );
        assert_eq!(line["ProviderLatency"], 12.5);
    }

    #[test]
    fn only_the_first_request_of_a_container_is_a_cold_start() {
        let writer = MetricsWriter::new("Test");
        assert_eq!(writer.line(&request(None))["ColdStart"], 1);
        let warm = writer.line(&request(None));
        assert!(warm.get("ColdStart").is_none());
        assert!(warm.get("CacheHit").is_none());
    }
}
