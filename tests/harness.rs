//! The end-to-end harness: builds the release binaries, starts the cargo-lambda Runtime API
//! emulator on a free loopback port and several instances of each function behind it (as Lambda
//! runs concurrent instances), against the moto server that `scripts/test` started
//! (`TENANT_KEYS_TEST_SM_ENDPOINT`). Everything it starts stops when the [`Stack`] is dropped,
//! also when a test fails. What the functions print is kept, to be searched for leaked secrets.

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tenant_keys::auth::Signer;

/// The six functions, by binary name.
pub const FUNCTIONS: [&str; 6] = [
    "connect-integration",
    "fetch-key",
    "update-key",
    "disconnect-integration",
    "list-integrations",
    "call-provider",
];

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The Secrets Manager endpoint (moto) the tests run against; the tests fail without it.
pub use moto::endpoint as secrets_manager_endpoint;

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A value no other test run uses, e.g. for tenant ids and webhook ids.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{:016x}", rand::random::<u64>())
}

/// The operator's provider file the release binaries are built with (relative to the workspace):
/// the suites run the functions as an operator who added a provider builds them.
pub const OPERATOR_PROVIDERS_FILE: &str = "tests/fixtures/operator/providers.json";

/// Runs `command` with `stdin` as its input and its stdout and stderr captured.
pub fn output_with_stdin(command: &mut Command, stdin: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// Builds the release binaries of the workspace once, with [`OPERATOR_PROVIDERS_FILE`] merged over
/// the built-in catalog, and returns the directory holding them.
pub fn release_binaries() -> PathBuf {
    static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap();
    if let Some(dir) = built.as_ref() {
        return dir.clone();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--bins", "--quiet"])
        .env("TENANT_KEYS_PROVIDERS_FILE", OPERATOR_PROVIDERS_FILE)
        .current_dir(workspace())
        .status()
        .expect("cargo build --release");
    assert!(status.success(), "building the release binaries failed");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace().join("target"));
    let dir = target.join("release");
    *built = Some(dir.clone());
    dir
}

/// Stores `signing_secret` in moto under a new name starting `<prefix>/`; returns the name.
pub async fn store_signing_secret(prefix: &str, signing_secret: &str) -> String {
    let secret_id = unique(&format!("{prefix}/webhook-signing-secret-"));
    admin_client(&secrets_manager_endpoint())
        .create_secret()
        .name(&secret_id)
        .secret_string(signing_secret)
        .send()
        .await
        .expect("creating the signing secret in moto");
    secret_id
}

/// A new folder for what a suite's processes print.
pub fn new_log_dir(suite: &str) -> PathBuf {
    let log_dir = std::env::temp_dir().join(unique(&format!("tenant-keys-{suite}-")));
    std::fs::create_dir_all(&log_dir).unwrap();
    log_dir
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing listens on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An answer of a function, through the emulator.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// JSON body.
    pub body: Value,
}

/// The functions, served by the cargo-lambda emulator (function URLs, its Runtime API on `port`)
/// or by `sam local start-api` (the HTTP API's routes), and everything the harness started.
pub struct Stack {
    children: Vec<Child>,
    /// The function instances' process ids, by function.
    instances: Vec<(&'static str, u32)>,
    log_dir: PathBuf,
    port: u16,
    /// Where the functions answer: `<base_url>/<function>`.
    base_url: String,
    http: reqwest::Client,
    signer: Signer,
    /// The signing secret's text, to look for in the logs.
    pub signing_secret: String,
    /// The id of the signing secret in moto (to rotate it).
    pub signing_secret_id: String,
    /// Every signature sent, to look for in the logs.
    signatures: Mutex<Vec<String>>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
        }
        for child in &mut self.children {
            let _ = child.wait();
        }
    }
}

impl Stack {
    /// Starts the emulator and `instances` processes of each function, with a fresh signing
    /// secret stored in moto.
    pub async fn start(instances: usize) -> Stack {
        Self::start_behind(instances, &secrets_manager_endpoint()).await
    }

    /// As [`Stack::start`], with disconnect-integration allowed to purge (`ALLOW_PURGE=true`).
    pub async fn start_allowing_purge(instances: usize) -> Stack {
        Self::launch(
            instances,
            &secrets_manager_endpoint(),
            random_whsec_key(),
            true,
            "info",
        )
        .await
    }

    /// As [`Stack::start`], with the functions logging at `warn` (`TENANT_KEYS_LOG_LEVEL`).
    pub async fn start_quiet(instances: usize) -> Stack {
        Self::launch(
            instances,
            &secrets_manager_endpoint(),
            random_whsec_key(),
            false,
            "warn",
        )
        .await
    }

    /// As [`Stack::start`], with the functions reaching Secrets Manager at `functions_endpoint`
    /// (a fault-injecting proxy in front of moto, say).
    pub async fn start_behind(instances: usize, functions_endpoint: &str) -> Stack {
        let signing_secret = random_whsec_key();
        Self::launch(instances, functions_endpoint, signing_secret, false, "info").await
    }

    /// As [`Stack::start`], with `signing_secret` (one or more keys, space-separated, the first
    /// signing the harness's own calls) as the functions' webhook signing secret.
    pub async fn start_with_signing_secret(instances: usize, signing_secret: &str) -> Stack {
        Self::launch(
            instances,
            &secrets_manager_endpoint(),
            signing_secret.to_owned(),
            false,
            "info",
        )
        .await
    }

    async fn launch(
        instances: usize,
        functions_endpoint: &str,
        signing_secret: String,
        allow_purge: bool,
        log_level: &str,
    ) -> Stack {
        let binaries = release_binaries();
        let secret_id = store_signing_secret("e2e", &signing_secret).await;
        let log_dir = new_log_dir("e2e");
        let port = free_port();
        let mut stack = Stack {
            children: Vec::new(),
            instances: Vec::new(),
            log_dir,
            port,
            base_url: format!("http://127.0.0.1:{port}/lambda-url"),
            http: reqwest::Client::new(),
            signer: Signer::parse(&signing_secret).unwrap(),
            signing_secret,
            signing_secret_id: secret_id.clone(),
            signatures: Mutex::new(Vec::new()),
        };
        let emulator_log = File::create(stack.log_dir.join("emulator.log")).unwrap();
        stack.children.push(
            Command::new("cargo")
                .args(["lambda", "watch", "--only-lambda-apis", "--ignore-changes"])
                .args(["-A", "127.0.0.1", "-P", &port.to_string()])
                .current_dir(workspace())
                .stdin(Stdio::null())
                .stdout(emulator_log.try_clone().unwrap())
                .stderr(emulator_log)
                .spawn()
                .expect(
                    "cargo lambda watch: is cargo-lambda installed (./scripts/test installs it)?",
                ),
        );
        wait_for_port(port);
        for function in FUNCTIONS {
            for instance in 0..instances {
                let log =
                    File::create(stack.log_dir.join(format!("{function}-{instance}.log"))).unwrap();
                // The providers' base URLs (checks and call-provider), when a test points them at
                // a mock provider, and the signing keys' re-read bounds, when a test shortens them.
                let provider_urls = std::env::vars().filter(|(name, _)| {
                    name.starts_with("PROVIDER_CHECK_BASE_URL_")
                        || name.starts_with("PROVIDER_API_BASE_URL_")
                        || name.starts_with("SIGNING_KEYS_")
                });
                let child = Command::new(binaries.join(function))
                    .env_clear()
                    .envs(provider_urls)
                    .env("PATH", std::env::var("PATH").unwrap_or_default())
                    .env(
                        "AWS_LAMBDA_RUNTIME_API",
                        format!("http://127.0.0.1:{port}/.rt/{function}"),
                    )
                    .env("AWS_LAMBDA_FUNCTION_NAME", function)
                    .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
                    .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
                    .env("AWS_REGION", "us-east-1")
                    .env("AWS_ACCESS_KEY_ID", "test")
                    .env("AWS_SECRET_ACCESS_KEY", "test")
                    .env("AWS_EC2_METADATA_DISABLED", "true")
                    .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", functions_endpoint)
                    .env("WEBHOOK_SECRET_ID", &secret_id)
                    .env("ALLOW_PURGE", allow_purge.to_string())
                    .env("TENANT_KEYS_LOG_LEVEL", log_level)
                    .stdin(Stdio::null())
                    .stdout(log.try_clone().unwrap())
                    .stderr(log)
                    .spawn()
                    .expect("starting a function binary");
                stack.instances.push((function, child.id()));
                stack.children.push(child);
            }
        }
        stack
    }

    /// The functions served by something else (`sam local start-api`) at `base_url`, signed
    /// with `signing_secret` (stored in moto as `signing_secret_id`). `children` are stopped when
    /// the stack is dropped; what they print goes to files in `log_dir`.
    pub fn serving_at(
        base_url: String,
        signing_secret: String,
        signing_secret_id: String,
        children: Vec<Child>,
        log_dir: PathBuf,
    ) -> Stack {
        Stack {
            children,
            instances: Vec::new(),
            log_dir,
            port: 0,
            base_url,
            http: reqwest::Client::new(),
            signer: Signer::parse(&signing_secret).unwrap(),
            signing_secret,
            signing_secret_id,
            signatures: Mutex::new(Vec::new()),
        }
    }

    /// The base URL of the functions, as `tenant-keys --url` takes it.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Signs `body` (with a fresh webhook-id unless one is given) and POSTs it to `function`.
    pub async fn call(&self, function: &str, body: &Value) -> Answer {
        self.call_signed(function, &body.to_string(), &unique("msg_"), now())
            .await
    }

    /// Signs `body` with `key` (not the stack's own) and POSTs it to `function`.
    pub async fn call_with_key(&self, function: &str, body: &Value, key: &str) -> Answer {
        let (webhook_id, timestamp, body) = (unique("msg_"), now(), body.to_string());
        let signature = Signer::parse(key)
            .unwrap()
            .sign(&webhook_id, timestamp, body.as_bytes())
            .unwrap();
        self.signatures.lock().unwrap().push(signature.clone());
        let headers = [
            ("webhook-id", webhook_id),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ];
        self.send("POST", function, &body, &headers).await
    }

    /// Signs `body` with `webhook_id` and `timestamp` and POSTs it to `function`.
    pub async fn call_signed(
        &self,
        function: &str,
        body: &str,
        webhook_id: &str,
        timestamp: i64,
    ) -> Answer {
        let signature = self
            .signer
            .sign(webhook_id, timestamp, body.as_bytes())
            .unwrap();
        self.signatures.lock().unwrap().push(signature.clone());
        self.send(
            "POST",
            function,
            body,
            &[
                ("webhook-id", webhook_id.to_owned()),
                ("webhook-timestamp", timestamp.to_string()),
                ("webhook-signature", signature),
            ],
        )
        .await
    }

    /// Sends a request as given (no signing) to `function`'s URL.
    pub async fn send(
        &self,
        method: &str,
        function: &str,
        body: &str,
        headers: &[(&str, String)],
    ) -> Answer {
        let url = format!("{}/{function}", self.base_url);
        let mut request = self
            .http
            .request(method.parse().unwrap(), &url)
            .header("content-type", "application/json")
            .body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.expect("the emulator answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{function} answered non-JSON ({status}): {text}"));
        Answer {
            status,
            headers,
            body,
        }
    }

    /// Invokes `function` with a raw Lambda event, as `cargo lambda invoke` (or `sam local
    /// invoke`) does, and returns the function's raw result (cargo-lambda's emulator only).
    pub async fn invoke_event(&self, function: &str, event: &Value) -> Value {
        assert_ne!(
            self.port, 0,
            "the Lambda Invoke API is cargo-lambda's emulator's"
        );
        let url = format!(
            "http://127.0.0.1:{}/2015-03-31/functions/{function}/invocations",
            self.port
        );
        let response = self
            .http
            .post(&url)
            .body(event.to_string())
            .send()
            .await
            .expect("the emulator answers");
        let text = response.text().await.expect("an invocation result");
        serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{function} returned non-JSON: {text}"))
    }

    /// The signing secret in the form `TENANT_KEYS_SIGNING_SECRET` takes.
    pub fn signing_secret(&self) -> &str {
        &self.signing_secret
    }

    /// Where the harness keeps what the processes it started print.
    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// Everything the function instances printed so far.
    pub fn function_output(&self) -> String {
        let mut output = String::new();
        for entry in std::fs::read_dir(&self.log_dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().unwrap() != "emulator.log" {
                output.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
        output
    }

    /// The resident memory (VmRSS, KiB) of each instance of `function`, read from `/proc`.
    pub fn resident_kib(&self, function: &str) -> Vec<u64> {
        self.instances
            .iter()
            .filter(|(name, _)| *name == function)
            .map(|(_, pid)| {
                let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .expect("the function instance is running");
                status
                    .lines()
                    .find_map(|line| line.strip_prefix("VmRSS:"))
                    .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse().ok())
                    .expect("VmRSS in /proc/<pid>/status")
            })
            .collect()
    }

    /// The signatures sent so far.
    pub fn signatures_sent(&self) -> Vec<String> {
        self.signatures.lock().unwrap().clone()
    }
}

/// The fault-injecting proxy of `fault_proxy.py` in front of moto; stopped when dropped.
pub struct FaultProxy {
    child: Child,
    port: u16,
    http: reqwest::Client,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl FaultProxy {
    /// Starts the proxy on a free loopback port, forwarding to moto.
    pub fn start() -> FaultProxy {
        let port = free_port();
        let child = Command::new("python3")
            .arg(workspace().join("tests/fault_proxy.py"))
            .args([port.to_string(), secrets_manager_endpoint()])
            .stdin(Stdio::null())
            .spawn()
            .expect("python3 runs the fault proxy");
        wait_for_port(port);
        FaultProxy {
            child,
            port,
            http: reqwest::Client::new(),
        }
    }

    /// The endpoint the functions should use.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Replaces the fault rules (see `fault_proxy.py`); `[]` lets everything through.
    pub async fn set(&self, rules: Value) {
        let response = self
            .http
            .put(format!("{}/__faults", self.endpoint()))
            .body(rules.to_string())
            .send()
            .await
            .expect("the fault proxy answers");
        assert!(response.status().is_success());
    }

    /// How many times each action reached moto through the proxy.
    pub async fn calls(&self) -> Value {
        self.read("/__calls").await
    }

    /// How many faults of each kind the proxy has injected since the last call.
    pub async fn injected(&self) -> Value {
        self.read("/__injected").await
    }

    async fn read(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.endpoint()))
            .send()
            .await
            .unwrap();
        serde_json::from_str(&response.text().await.unwrap()).unwrap()
    }
}

/// The secrets in `secrets` that appear in `output`, for the leak checks.
pub fn leaks<'a>(output: &str, secrets: &'a [String]) -> Vec<&'a str> {
    secrets
        .iter()
        .map(String::as_str)
        .filter(|secret| !secret.is_empty() && output.contains(secret))
        .collect()
}

/// A Secrets Manager client for the tests' own set-up and inspection, pointed at moto.
pub fn admin_client(endpoint: &str) -> aws_sdk_secretsmanager::Client {
    moto::client_for(
        endpoint,
        aws_sdk_secretsmanager::config::retry::RetryConfig::standard(),
    )
}

/// A fresh signing key in the `whsec_<base64 of 32 random bytes>` format.
pub fn random_whsec_key() -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
    format!("whsec_{encoded}")
}
