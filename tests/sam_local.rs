//! The stack under SAM's own emulator: the arm64 artifacts `sam build` made (as they ship), in
//! Docker, under qemu, on the stand-in for AWS's `provided:al2023` base image that
//! `scripts/sam-local-engine` builds from Debian packages (no registry is reachable here), with
//! SAM's Lambda Runtime Interface Emulator on top. Three ways in, as README describes them:
//! `sam local start-api` (the end-to-end suite's own scenarios, from `scenarios.rs`),
//! `sam local invoke` with every event `make events` writes, and `sam local start-lambda`
//! answering a Lambda `Invoke` from the AWS SDK (boto3) with a signed API Gateway event, its body
//! as text and as base64.
//!
//! Needs a Docker engine (started by `scripts/sam-local-engine` when none answers, and stopped at
//! the end), root for binfmt_misc on an x86_64 host, and `sam build`'s artifacts
//! (`./scripts/check-template`, which `./scripts/test` runs first). Fails, never skips, without
//! them. The functions reach the moto of `./scripts/test` through a forwarder on the Docker
//! bridge's gateway, which containers call `host.docker.internal`.

mod scenarios;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use moto::provider::{MockProvider, Mode};
use scenarios::*;
use serde_json::{Value, json};
use tenant_keys_e2e::{
    Stack, free_port, leaks, new_log_dir, output_with_stdin, random_whsec_key,
    secrets_manager_endpoint, store_signing_secret, unique, workspace,
};

/// How long SAM may take to answer on its port: it starts the five containers first (warm
/// containers, EAGER), each under qemu.
const SAM_START: Duration = Duration::from_secs(300);

/// The Docker engine and base image `scripts/sam-local-engine` made sure of; stops the engine at
/// the end if it started it.
struct Engine {
    dockerd: Option<u32>,
    image: String,
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(pid) = self.dockerd {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    }
}

fn engine() -> Engine {
    let output = Command::new(workspace().join("scripts/sam-local-engine"))
        .stderr(Stdio::inherit())
        .output()
        .expect("running scripts/sam-local-engine");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "no Docker engine or base image for sam local (scripts/sam-local-engine failed; its messages are above): {text}"
    );
    let value = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{key}=")))
            .map(str::to_owned)
            .unwrap_or_default()
    };
    Engine {
        dockerd: value("DOCKERD_PID").parse().ok(),
        image: value("IMAGE"),
    }
}

/// `sam build`'s template, refused when older than the code it was built from.
fn built_template() -> PathBuf {
    let root = workspace();
    let built = root.join(".aws-sam/build/template.yaml");
    let built_at = std::fs::metadata(&built)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| {
            panic!("no sam build artifacts: run ./scripts/check-template (sam build) first")
        });
    let newest = [
        "shared",
        "functions",
        "providers",
        "Cargo.lock",
        "template.yaml",
    ]
    .iter()
    .map(|part| newest_file(&root.join(part)))
    .max()
    .unwrap();
    assert!(
        newest <= built_at,
        "the sam build artifacts are older than the code: run ./scripts/check-template again"
    );
    built
}

fn newest_file(path: &Path) -> SystemTime {
    let meta = std::fs::metadata(path).unwrap();
    if meta.is_file() {
        return meta.modified().unwrap();
    }
    std::fs::read_dir(path)
        .unwrap()
        .map(|entry| newest_file(&entry.unwrap().path()))
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// The address `host.docker.internal:host-gateway` gives containers, as the engine resolves it
/// (read from a container of `image`'s own /etc/hosts).
fn host_gateway(image: &str) -> String {
    let output = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--add-host",
            "host.docker.internal:host-gateway",
        ])
        .args([image, "/bin/cat", "/etc/hosts"])
        .output()
        .unwrap();
    let hosts = String::from_utf8_lossy(&output.stdout);
    hosts
        .lines()
        .find_map(|line| {
            let mut fields = line.split_whitespace();
            let address = fields.next()?;
            fields
                .any(|name| name == "host.docker.internal")
                .then(|| address.to_owned())
        })
        .unwrap_or_else(|| {
            panic!(
                "no host.docker.internal in a container's /etc/hosts: {hosts} {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
}

/// Forwards connections to `gateway:<port>` (returned) to the loopback address `target`.
async fn forwarder(gateway: &str, target: String) -> u16 {
    let listener = tokio::net::TcpListener::bind((gateway, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    port
}

/// A `sam local` command on the built template, as README gives it, logging to `log`.
fn sam(subcommand: &[&str], template: &Path, env_file: &Path, image: &str, log: &Path) -> Command {
    let mut command = Command::new(workspace().join(".venv/bin/sam"));
    command
        .arg("local")
        .args(subcommand)
        .arg("--template")
        .arg(template)
        .arg("--env-vars")
        .arg(env_file)
        .args(["--invoke-image", image, "--skip-pull-image"])
        .args(["--add-host", "host.docker.internal:host-gateway"])
        .args(["--parameter-overrides", "AllowPurge=true"])
        .current_dir(workspace())
        .env("SAM_CLI_TELEMETRY", "0")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(std::fs::File::create(log.with_extension("err")).unwrap());
    command
}

/// Starts a long-running `sam local` server on `port` and waits until it answers.
fn serve(mut command: Command, port: u16, log: &Path) -> Child {
    let mut child = command
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--warm-containers", "EAGER"])
        .spawn()
        .expect("starting sam local (is .venv/bin/sam installed? ./scripts/test installs it)");
    let deadline = Instant::now() + SAM_START;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "sam local exited ({status}): {}",
                std::fs::read_to_string(log.with_extension("err")).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "sam local did not answer within {SAM_START:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    child
}

/// Waits until every function answers through `start-api` on `port`. SAM reports its warm
/// containers ready once they run, but the Runtime Interface Emulator inside each (arm64, under
/// qemu here) may not listen yet: until it does, SAM answers 502 ("No response from invoke
/// container"). An unsigned request is answered 401 by the function itself, touching nothing.
async fn every_function_answers(port: u16) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + SAM_START;
    for function in tenant_keys_e2e::FUNCTIONS {
        loop {
            let answer = client
                .post(format!("http://127.0.0.1:{port}/{function}"))
                .body("{}")
                .send()
                .await;
            match answer {
                Ok(answer) if answer.status() == 401 => break,
                Ok(answer) if answer.status() != 502 => {
                    panic!(
                        "{function} answered {} to an unsigned request",
                        answer.status()
                    )
                }
                _ => {}
            }
            assert!(
                Instant::now() < deadline,
                "{function} did not answer through sam local within {SAM_START:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// The CLI of the release build, which `events/generate` and `--print-event` use.
fn cli(signing_secret: &str) -> Command {
    let mut command = Command::new(tenant_keys_e2e::release_binaries().join("tenant-keys"));
    command.env("TENANT_KEYS_SIGNING_SECRET", signing_secret);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_stack_under_sam_local() {
    let engine = engine();
    let template = built_template();
    let moto = secrets_manager_endpoint();
    let moto_address = moto.trim_start_matches("http://").to_owned();
    let gateway = host_gateway(&engine.image);
    let forwarded = forwarder(&gateway, moto_address).await;
    // Vapi's API, mocked on loopback and forwarded to containers like moto: call-provider's calls.
    let mock_vapi = MockProvider::start(Mode::Vapi("wrong".into())).await;
    let vapi_forwarded = forwarder(
        &gateway,
        mock_vapi.url().trim_start_matches("http://").to_owned(),
    )
    .await;

    let signing_secret = random_whsec_key();
    let secret_id = store_signing_secret("sam-local", &signing_secret).await;
    let log_dir = new_log_dir("sam-local");
    // events/env.json's variables, with this run's secret and port.
    let env_file = log_dir.join("env.json");
    std::fs::write(
        &env_file,
        json!({"Parameters": {
            "WEBHOOK_SECRET_ID": secret_id,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": format!("http://host.docker.internal:{forwarded}"),
            "SECRETS_REGION": "us-east-1",
            "PROVIDER_API_BASE_URL_VAPI": format!("http://host.docker.internal:{vapi_forwarded}"),
        }})
        .to_string(),
    )
    .unwrap();

    // start-api: the HTTP API's routes, payload v2, as API Gateway would send them.
    let api_port = free_port();
    let api_log = log_dir.join("sam-start-api.log");
    let api = serve(
        sam(
            &["start-api"],
            &template,
            &env_file,
            &engine.image,
            &api_log,
        ),
        api_port,
        &api_log,
    );
    every_function_answers(api_port).await;
    let stack = Arc::new(Stack::serving_at(
        format!("http://127.0.0.1:{api_port}"),
        signing_secret.clone(),
        secret_id,
        vec![api],
        log_dir.clone(),
    ));
    let secrets = Secrets(std::sync::Mutex::new(Vec::new()));
    connect_fetch_update_and_previous(&stack, &secrets).await;
    every_auth_failure_is_the_same_401(&stack).await;
    bad_inputs_get_their_4xx(&stack).await;
    disconnect_restore_list_and_offboard(&stack, &secrets).await;
    concurrent_connects_for_a_new_tenant(&stack, &secrets).await;
    // call-provider: Vapi's answer through SAM's emulator, the key put in by the function.
    let tenant = unique("org_sam_call");
    let private = secrets.new_value("sk-sam-call");
    let connected = stack
        .call(
            "connect-integration",
            &vapi(&tenant, &secrets.new_value("pk-sam-call"), &private),
        )
        .await;
    assert_eq!(connected.status, 201);
    let called = stack
        .call(
            "call-provider",
            &json!({"tenantId": tenant, "provider": "vapi", "method": "GET", "path": "/assistant"}),
        )
        .await;
    assert_eq!(called.status, 200, "{}", called.body);
    assert_eq!(called.headers["tenant-keys-provider"], "vapi");
    assert_eq!(called.body[0]["id"], "asst_1");
    assert!(
        mock_vapi
            .received()
            .iter()
            .any(|r| r.authorization == Some(format!("Bearer {private}"))),
        "the mock Vapi did not get the key"
    );

    // sam local invoke: every event make events writes, freshly signed just before.
    let events = log_dir.join("events");
    let generated = Command::new(workspace().join("events/generate"))
        .arg(&events)
        .env("TENANT_KEYS_SIGNING_SECRET", &signing_secret)
        .env(
            "TENANT_KEYS_CLI",
            tenant_keys_e2e::release_binaries().join("tenant-keys"),
        )
        .env("TENANT", unique("org_sam_events"))
        .status()
        .unwrap();
    assert!(generated.success(), "events/generate failed");
    for (function, logical_id, status) in [
        ("connect-integration", "ConnectIntegrationFunction", 201),
        ("fetch-key", "FetchKeyFunction", 200),
        ("update-key", "UpdateKeyFunction", 200),
        ("list-integrations", "ListIntegrationsFunction", 200),
        ("call-provider", "CallProviderFunction", 200),
        (
            "disconnect-integration",
            "DisconnectIntegrationFunction",
            200,
        ),
    ] {
        let log = log_dir.join(format!("sam-invoke-{function}.log"));
        let event = events.join(format!("{function}.json"));
        let invoked = sam(
            &["invoke", logical_id],
            &template,
            &env_file,
            &engine.image,
            &log,
        )
        .arg("--event")
        .arg(&event)
        .status()
        .unwrap();
        assert!(invoked.success(), "sam local invoke {logical_id} failed");
        let result = last_json_line(&std::fs::read_to_string(&log).unwrap());
        assert_eq!(result["statusCode"], status, "{function}: {result}");
    }

    // start-lambda: a backend that invokes instead of calling HTTP, through the AWS SDK.
    let lambda_port = free_port();
    let lambda_log = log_dir.join("sam-start-lambda.log");
    let mut lambda = serve(
        sam(
            &["start-lambda"],
            &template,
            &env_file,
            &engine.image,
            &lambda_log,
        ),
        lambda_port,
        &lambda_log,
    );
    // As with start-api, a warm container may not answer at once: an unsigned event is answered
    // 401 by the function itself once it does.
    let fetch_unsigned = {
        let mut event = print_event(
            &signing_secret,
            &["fetch", "--tenant", "org_sam_ready", "--provider", "vapi"],
        );
        event["headers"]
            .as_object_mut()
            .unwrap()
            .remove("webhook-signature");
        event
    };
    let deadline = Instant::now() + SAM_START;
    for logical_id in ["ConnectIntegrationFunction", "FetchKeyFunction"] {
        while try_sdk_invoke(lambda_port, logical_id, &fetch_unsigned)
            .is_none_or(|result| result["statusCode"] != 401)
        {
            assert!(
                Instant::now() < deadline,
                "{logical_id} did not answer through start-lambda within {SAM_START:?}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    let tenant = unique("org_sam_invoke");
    let private = secrets.new_value("sk-invoked");
    let connect = print_event(
        &signing_secret,
        &[
            "connect",
            "--tenant",
            &tenant,
            "--provider",
            "vapi",
            "--set",
            "publicApiKey=pk-invoked-0001",
            "--set",
            &format!("privateApiKey={private}"),
        ],
    );
    let fetch = print_event(
        &signing_secret,
        &["fetch", "--tenant", &tenant, "--provider", "vapi"],
    );
    let created = sdk_invoke(lambda_port, "ConnectIntegrationFunction", &connect);
    assert_eq!(created["statusCode"], 201, "{created}");
    // The same kind of request with its body base64-encoded, as API Gateway sends binary bodies:
    // the signature is checked over the decoded bytes.
    let mut encoded = fetch.clone();
    let body = encoded["body"].as_str().unwrap().to_owned();
    encoded["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
    encoded["isBase64Encoded"] = json!(true);
    for event in [fetch, encoded] {
        let fetched = sdk_invoke(lambda_port, "FetchKeyFunction", &event);
        assert_eq!(fetched["statusCode"], 200, "{fetched}");
        let answer: Value = serde_json::from_str(fetched["body"].as_str().unwrap()).unwrap();
        assert_eq!(answer["credentials"]["privateApiKey"], private.as_str());
    }
    let _ = lambda.kill();
    let _ = lambda.wait();

    // Nothing secret in what SAM and the functions printed.
    let mut output = String::new();
    for entry in std::fs::read_dir(&log_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() && path.extension().is_some_and(|e| e == "log" || e == "err") {
            output.push_str(&std::fs::read_to_string(path).unwrap_or_default());
        }
    }
    assert!(
        output.contains("request served"),
        "the functions logged through SAM"
    );
    let mut forbidden = secrets.0.lock().unwrap().clone();
    forbidden.extend(stack.signatures_sent());
    forbidden.push(signing_secret.clone());
    let leaked = leaks(&output, &forbidden);
    assert!(leaked.is_empty(), "printed under sam local: {leaked:?}");
    drop(engine);
}

/// The signed API Gateway v2 event `tenant-keys --print-event` prints for `args`.
fn print_event(signing_secret: &str, args: &[&str]) -> Value {
    let output = cli(signing_secret)
        .args(args)
        .arg("--print-event")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A Lambda `Invoke` of `function` with `event` through boto3 (the AWS SDK for Python, which
/// aws-sam-cli brings) against `sam local start-lambda` on `port`; the function's result.
fn sdk_invoke(port: u16, function: &str, event: &Value) -> Value {
    try_sdk_invoke(port, function, event)
        .unwrap_or_else(|| panic!("boto3 invoke of {function} failed"))
}

/// [`sdk_invoke`], `None` when the invoke fails.
fn try_sdk_invoke(port: u16, function: &str, event: &Value) -> Option<Value> {
    let script = r#"
import json, sys
import boto3
from botocore.config import Config
client = boto3.client(
    "lambda", endpoint_url=sys.argv[1], region_name="us-east-1",
    aws_access_key_id="test", aws_secret_access_key="test",
    config=Config(retries={"max_attempts": 0}, read_timeout=120),
)
answer = client.invoke(FunctionName=sys.argv[2], Payload=sys.stdin.buffer.read())
print(answer["Payload"].read().decode())
"#;
    let output = output_with_stdin(
        Command::new(workspace().join(".venv/bin/python"))
            .arg("-c")
            .arg(script)
            .arg(format!("http://127.0.0.1:{port}"))
            .arg(function),
        event.to_string().as_bytes(),
    );
    json_line(&String::from_utf8(output.stdout).unwrap()).filter(|_| output.status.success())
}

/// The last line of `text` that is a JSON object (what `sam local invoke` prints as the result).
fn last_json_line(text: &str) -> Value {
    json_line(text).unwrap_or_else(|| panic!("no JSON result in: {text}"))
}

/// The last line of `text` that is a JSON object, if there is one.
fn json_line(text: &str) -> Option<Value> {
    text.lines().rev().find_map(|line| {
        serde_json::from_str::<Value>(line)
            .ok()
            .filter(Value::is_object)
    })
}
