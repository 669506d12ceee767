//! `tenant-keys`: calls a tenant-keys stack (local or deployed) with Standard Webhooks-signed
//! requests, or prints a signed API Gateway v2 event for `sam local invoke` / `cargo lambda invoke`.
//!
//! The signing secret comes from `TENANT_KEYS_SIGNING_SECRET` or the file named by
//! `TENANT_KEYS_SIGNING_SECRET_FILE`, never from the command line. A credential value given as `-`
//! is read from stdin, so it lands neither in shell history nor in `ps`.

mod event;

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{Map, Value, json};
use tenant_keys::auth::Signer;

#[derive(Parser)]
#[command(
    name = "tenant-keys",
    version,
    about = "Call a tenant-keys stack with signed requests"
)]
struct Cli {
    /// Base URL of the stack: the HTTP API URL, or http://127.0.0.1:9000/lambda-url locally.
    #[arg(
        long,
        env = "TENANT_KEYS_URL",
        global = true,
        default_value = "http://127.0.0.1:9000/lambda-url"
    )]
    url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Store (create or replace) a tenant's credentials: connect-integration.
    Connect {
        #[command(flatten)]
        target: Target,
        /// A credential field, `name=value`; `name=-` reads the value from stdin. Repeatable.
        #[arg(long = "set", value_name = "FIELD=VALUE", required = true)]
        set: Vec<String>,
        /// Check the key with the provider before storing it.
        #[arg(long)]
        verify: bool,
        #[command(flatten)]
        send: SendOptions,
    },
    /// Read a tenant's credentials: fetch-key.
    Fetch {
        #[command(flatten)]
        target: Target,
        /// Which fields, how shown.
        #[arg(long, value_enum, default_value = "full")]
        view: View,
        /// Which version.
        #[arg(long = "key-version", value_enum, conflicts_with = "version_id")]
        key_version: Option<VersionChoice>,
        /// Read this exact version (a `versionId` from an earlier answer).
        #[arg(long)]
        version_id: Option<String>,
        /// Accept a value cached by fetch-key up to this many seconds old (0: a fresh read).
        /// Default: the public view may be cached, full and masked reads are fresh.
        #[arg(long, value_name = "SECONDS")]
        max_age: Option<u64>,
        #[command(flatten)]
        send: SendOptions,
    },
    /// Merge fields into a tenant's credentials as a new version: update-key.
    Update {
        #[command(flatten)]
        target: Target,
        /// A credential field to change, `name=value`; `name=-` reads stdin. Repeatable.
        #[arg(long = "set", value_name = "FIELD=VALUE", required = true)]
        set: Vec<String>,
        /// Write only if this is still the current version (compare-and-swap).
        #[arg(long)]
        expected_version: Option<String>,
        /// Check the merged key with the provider before storing it.
        #[arg(long)]
        verify: bool,
        #[command(flatten)]
        send: SendOptions,
    },
    /// Take a tenant's credentials out of reach (deleted after the stack's recovery window; a
    /// reconnect restores them until then): disconnect-integration.
    Disconnect {
        /// The tenant (organization) id.
        #[arg(long)]
        tenant: String,
        /// The provider: an id `tenant-keys providers` lists.
        #[arg(long, required_unless_present = "all_providers")]
        provider: Option<String>,
        /// Every provider the tenant has (offboarding).
        #[arg(long, conflicts_with = "provider")]
        all_providers: bool,
        /// Delete at once, with no recovery (only where the stack allows it).
        #[arg(long)]
        purge: bool,
        #[command(flatten)]
        send: SendOptions,
    },
    /// Call the provider's API as the tenant, with the key put in by the stack: call-provider.
    /// Prints the provider's answer (its status on stderr).
    Call {
        #[command(flatten)]
        target: Target,
        /// The method: GET, HEAD, POST, PUT, PATCH or DELETE.
        #[arg(long, default_value = "GET")]
        method: String,
        /// The path under the provider's API, e.g. /assistant.
        #[arg(long)]
        path: String,
        /// A query parameter, `name=value`. Repeatable.
        #[arg(long = "query", value_name = "NAME=VALUE")]
        query: Vec<String>,
        /// A header, `name: value`. Repeatable.
        #[arg(long = "header", value_name = "NAME: VALUE")]
        header: Vec<String>,
        /// The body: JSON when it parses as JSON, else sent as text; `-` reads it from stdin.
        #[arg(long)]
        body: Option<String>,
        #[command(flatten)]
        send: SendOptions,
    },
    /// The providers this build knows (built-in and operator-added), their fields, and how each
    /// key is checked. Needs no stack and no signing secret.
    Providers,
    /// List a tenant's integrations and their states: list-integrations.
    List {
        /// The tenant (organization) id.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        send: SendOptions,
    },
}

#[derive(Args)]
struct Target {
    /// The tenant (organization) id.
    #[arg(long)]
    tenant: String,
    /// The provider: an id `tenant-keys providers` lists.
    #[arg(long)]
    provider: String,
}

#[derive(Args)]
struct SendOptions {
    /// The webhook-id (idempotency key); a fresh one by default. Reuse it to retry safely.
    #[arg(long)]
    idempotency_key: Option<String>,
    /// Print a signed API Gateway v2 event for this request instead of sending it.
    #[arg(long)]
    print_event: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum View {
    Full,
    Public,
    Masked,
}

#[derive(Clone, Copy, ValueEnum)]
enum VersionChoice {
    Current,
    Previous,
}

/// The function an operation is served by, and the JSON body of the request.
struct Call {
    function: &'static str,
    body: Value,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("tenant-keys: {message}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    if matches!(cli.command, Command::Providers) {
        print_providers();
        return Ok(ExitCode::SUCCESS);
    }
    let signer = Signer::parse(&signing_secret()?).map_err(|e| e.to_string())?;
    let (call, send) = build_call(cli.command)?;
    let body = call.body.to_string();
    let webhook_id = send.idempotency_key.unwrap_or_else(new_webhook_id);
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs() as i64;
    let signature = signer
        .sign(&webhook_id, timestamp, body.as_bytes())
        .map_err(|e| e.to_string())?;
    let headers = [
        ("content-type", "application/json".to_owned()),
        ("webhook-id", webhook_id),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ];

    if send.print_event {
        let event = event::api_gateway_v2(call.function, &headers, &body, timestamp);
        println!(
            "{}",
            serde_json::to_string_pretty(&event).map_err(|e| e.to_string())?
        );
        return Ok(ExitCode::SUCCESS);
    }

    let url = format!("{}/{}", cli.url.trim_end_matches('/'), call.function);
    let shown = without_userinfo(&url);
    // No redirect is followed: it would carry the signed request (and any credential in its
    // body) to wherever the Location points.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.without_url().to_string())?;
    let mut request = client.post(&url).body(body);
    for (name, value) in &headers {
        request = request.header(*name, value);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("cannot reach {shown}: {}", e.without_url()))?;
    let status = response.status();
    if status.is_redirection() {
        return Err(redirect_refused(status, response.url(), response.headers()));
    }
    let from_provider = response
        .headers()
        .get("tenant-keys-provider")
        .and_then(|name| name.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.map_err(|e| e.to_string())?;
    if let Some(provider) = from_provider {
        // call-provider: the provider's own answer, printed as it came.
        eprintln!(
            "tenant-keys: {} {} (answered by {provider})",
            status.as_u16(),
            status.canonical_reason().unwrap_or_default()
        );
        println!("{text}");
        return Ok(if status.is_success() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    let answer: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if status.is_success() {
        // The status on stderr, so that stdout is the answer's JSON alone (for `jq`).
        eprintln!(
            "tenant-keys: {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or_default()
        );
        println!(
            "{}",
            serde_json::to_string_pretty(&answer).map_err(|e| e.to_string())?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let title = answer["title"].as_str().unwrap_or("request failed");
    let detail = answer["detail"].as_str().unwrap_or_default();
    let code = answer["code"].as_str().unwrap_or_default();
    eprintln!(
        "tenant-keys: {} {title}: {detail} ({code})",
        status.as_u16()
    );
    Ok(ExitCode::from(1))
}

/// One line per provider: its id, its fields (public ones and rules marked), and its check.
fn print_providers() {
    for provider in tenant_keys::provider::PROVIDERS {
        let fields: Vec<String> = provider
            .fields
            .iter()
            .map(|f| {
                let mut marks = Vec::new();
                if f.public {
                    marks.push("public".to_owned());
                }
                match (f.min_length, f.max_length) {
                    (None, None) => {}
                    (min, max) => marks.push(format!(
                        "{}-{} characters",
                        min.unwrap_or(1),
                        max.map_or("4096".to_owned(), |max| max.to_string())
                    )),
                }
                if let Some(pattern) = f.pattern {
                    marks.push(format!("pattern {pattern}"));
                }
                if marks.is_empty() {
                    f.name.to_owned()
                } else {
                    format!("{} ({})", f.name, marks.join(", "))
                }
            })
            .collect();
        let check = provider
            .check
            .as_ref()
            .map_or("no check".to_owned(), |check| format!("check: {check}"));
        println!("{}\t{}\t{check}", provider.id, fields.join(", "));
    }
}

fn build_call(command: Command) -> Result<(Call, SendOptions), String> {
    Ok(match command {
        Command::Connect {
            target,
            set,
            verify,
            send,
        } => {
            let mut body = json!({"tenantId": target.tenant, "provider": target.provider,
                                  "credentials": fields(&set)?});
            if verify {
                body["verify"] = Value::Bool(true);
            }
            (
                Call {
                    function: "connect-integration",
                    body,
                },
                send,
            )
        }
        Command::Fetch {
            target,
            view,
            key_version,
            version_id,
            max_age,
            send,
        } => {
            let view = match view {
                View::Full => "full",
                View::Public => "public",
                View::Masked => "masked",
            };
            let mut body = json!({"tenantId": target.tenant, "provider": target.provider,
                                  "view": view});
            match (key_version, version_id) {
                (_, Some(id)) => body["versionId"] = Value::String(id),
                (Some(VersionChoice::Previous), None) => body["version"] = json!("previous"),
                (Some(VersionChoice::Current) | None, None) => body["version"] = json!("current"),
            }
            if let Some(seconds) = max_age {
                body["maxAgeSeconds"] = json!(seconds);
            }
            (
                Call {
                    function: "fetch-key",
                    body,
                },
                send,
            )
        }
        Command::Update {
            target,
            set,
            expected_version,
            verify,
            send,
        } => {
            let mut body = json!({"tenantId": target.tenant, "provider": target.provider,
                                  "credentials": fields(&set)?});
            if let Some(expected) = expected_version {
                body["expectedVersionId"] = Value::String(expected);
            }
            if verify {
                body["verify"] = Value::Bool(true);
            }
            (
                Call {
                    function: "update-key",
                    body,
                },
                send,
            )
        }
        Command::Disconnect {
            tenant,
            provider,
            all_providers,
            purge,
            send,
        } => {
            let mut body = json!({"tenantId": tenant});
            match provider {
                Some(provider) => body["provider"] = Value::String(provider),
                None => body["allProviders"] = Value::Bool(all_providers),
            }
            if purge {
                body["purge"] = Value::Bool(true);
            }
            (
                Call {
                    function: "disconnect-integration",
                    body,
                },
                send,
            )
        }
        Command::List { tenant, send } => (
            Call {
                function: "list-integrations",
                body: json!({"tenantId": tenant}),
            },
            send,
        ),
        Command::Call {
            target,
            method,
            path,
            query,
            header,
            body,
            send,
        } => {
            let mut request = json!({"tenantId": target.tenant, "provider": target.provider,
                                     "method": method.to_ascii_uppercase(), "path": path});
            if !query.is_empty() {
                request["query"] = Value::Object(pairs(&query, '=', "--query expects NAME=VALUE")?);
            }
            if !header.is_empty() {
                request["headers"] =
                    Value::Object(pairs(&header, ':', "--header expects NAME: VALUE")?);
            }
            if let Some(body) = body {
                let text = if body == "-" {
                    std::io::read_to_string(std::io::stdin()).map_err(|e| e.to_string())?
                } else {
                    body
                };
                request["body"] = serde_json::from_str(&text).unwrap_or(Value::String(text));
            }
            (
                Call {
                    function: "call-provider",
                    body: request,
                },
                send,
            )
        }
        Command::Providers => unreachable!("answered before any call is built"),
    })
}

/// `NAME<separator>VALUE` arguments as an object of strings (values trimmed).
fn pairs(arguments: &[String], separator: char, usage: &str) -> Result<Map<String, Value>, String> {
    arguments
        .iter()
        .map(|argument| {
            let (name, value) = argument.split_once(separator).ok_or(usage)?;
            Ok((
                name.trim().to_owned(),
                Value::String(value.trim().to_owned()),
            ))
        })
        .collect()
}

/// The `--set` pairs as a credentials object; a `-` value is read as one line of stdin.
fn fields(pairs: &[String]) -> Result<Map<String, Value>, String> {
    let mut stdin_used = false;
    let mut fields = Map::new();
    for pair in pairs {
        let (name, value) = pair
            .split_once('=')
            .ok_or("--set expects FIELD=VALUE (FIELD=- reads the value from stdin)")?;
        let value = if value == "-" {
            if stdin_used {
                return Err("only one --set value can be read from stdin".into());
            }
            stdin_used = true;
            read_stdin_line(name)?
        } else {
            value.to_owned()
        };
        fields.insert(name.to_owned(), Value::String(value));
    }
    Ok(fields)
}

/// One line of stdin; typed at a terminal, it is not echoed.
fn read_stdin_line(field: &str) -> Result<String, String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return rpassword::prompt_password(format!("{field}: "))
            .map_err(|e| format!("cannot read {field} from the terminal: {e}"));
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read {field} from stdin: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// The URL as it may be printed: without a `user:password@` part.
fn without_userinfo(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            // Both fail only for URLs that cannot hold userinfo, which then hold none.
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => "the stack's URL (not a valid URL)".to_owned(),
    }
}

/// The error for a 3xx answer: its status and the host it points to, nothing else of it.
fn redirect_refused(
    status: reqwest::StatusCode,
    asked: &reqwest::Url,
    headers: &reqwest::header::HeaderMap,
) -> String {
    let target = headers
        .get(reqwest::header::LOCATION)
        .and_then(|location| location.to_str().ok())
        .and_then(|location| asked.join(location).ok())
        .and_then(|location| location.host_str().map(str::to_owned))
        .map_or_else(|| "another place".to_owned(), |host| format!("host {host}"));
    format!(
        "the stack answered {} redirecting to {target}; tenant-keys follows no redirect (it would send the signed request there): check the URL",
        status.as_u16()
    )
}

/// The signing secret, from `TENANT_KEYS_SIGNING_SECRET` or the file `TENANT_KEYS_SIGNING_SECRET_FILE`.
fn signing_secret() -> Result<String, String> {
    if let Ok(secret) = std::env::var("TENANT_KEYS_SIGNING_SECRET") {
        return Ok(secret);
    }
    let path = std::env::var("TENANT_KEYS_SIGNING_SECRET_FILE").map_err(|_| {
        "set TENANT_KEYS_SIGNING_SECRET or TENANT_KEYS_SIGNING_SECRET_FILE to the webhook signing secret".to_owned()
    })?;
    std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read the signing secret file {path}: {e}"))
}

fn new_webhook_id() -> String {
    format!("msg_{:032x}", rand::random::<u128>())
}
