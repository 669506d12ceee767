//! The outside attack run's classes as the project's own suite (issue 27): what a signed request
//! becomes when someone replays it, redirects it, mangles its timestamp or body, or pastes a key
//! into the wrong slot — against the release binaries behind the emulator, and the CLI. Each case
//! says what it found before the fix where it found something.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use rand::Rng;
use rand::distr::{Alphanumeric, SampleString};
use serde_json::{Value, json};
use tenant_keys_e2e::{Answer, Stack, leaks, now, release_binaries, unique};

/// A loopback HTTP server in a thread that records each request (head and body, as text) and
/// answers every one with `status` and `headers`.
struct Recorder {
    port: u16,
    received: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn start(status: u16, headers: String) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let seen = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                    head.push_str(&line);
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                seen.lock()
                    .unwrap()
                    .push(format!("{head}\r\n{}", String::from_utf8_lossy(&body)));
                let answer = format!(
                    "HTTP/1.1 {status} X\r\n{headers}content-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
                );
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        Recorder { port, received }
    }

    fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }
}

/// The CLI with a signing secret, as a user runs it.
fn cli() -> Command {
    let mut command = Command::new(release_binaries().join("tenant-keys"));
    command.env(
        "TENANT_KEYS_SIGNING_SECRET",
        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    );
    command.env_remove("TENANT_KEYS_URL");
    command
}

const PRIVATE_KEY: &str = "sk-attack-private-0123456789";

/// Before: `reqwest::Client::new()` followed 307/308 with the body and signature to the other
/// host, and 301/302/303 as a GET still carrying the webhook-* headers; the CLI exited 0.
#[test]
fn the_cli_follows_no_redirect_and_sends_nothing_to_its_location() {
    let elsewhere = Recorder::start(200, String::new());
    for status in [301, 302, 303, 307, 308] {
        let redirecting = Recorder::start(
            status,
            format!("location: http://127.0.0.1:{}/stolen\r\n", elsewhere.port),
        );
        let mut child = cli()
            .args([
                "--url",
                &format!("http://127.0.0.1:{}", redirecting.port),
                "connect",
                "--tenant",
                "org_1",
                "--provider",
                "vapi",
                "--set",
                "publicApiKey=pk-public-1",
                "--set",
                "privateApiKey=-",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{PRIVATE_KEY}").unwrap();
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{status}: exited 0");
        assert!(output.stdout.is_empty(), "{status}: printed an answer");
        assert!(
            stderr.contains(&format!("{status} redirecting to host 127.0.0.1")),
            "{status}: {stderr}"
        );
        let asked = redirecting.received();
        assert_eq!(asked.len(), 1, "{status}: sent once");
        assert!(
            asked[0].contains(PRIVATE_KEY),
            "the stack's URL got the request"
        );
        assert!(!stderr.contains(PRIVATE_KEY));
    }
    assert_eq!(
        elsewhere.received(),
        Vec::<String>::new(),
        "a redirect was followed"
    );
}

/// Before: "cannot reach http://user:password@…" printed the password of the URL.
#[test]
fn the_cli_never_prints_the_urls_user_and_password() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let output = cli()
        .args([
            "--url",
            &format!("http://deploy:pw-s3cret-in-url@127.0.0.1:{port}/prod"),
            "list",
            "--tenant",
            "org_1",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("cannot reach http://127.0.0.1:"),
        "{stderr}"
    );
    assert!(!stderr.contains("pw-s3cret-in-url"), "{stderr}");
    assert!(!stderr.contains("deploy"), "{stderr}");
}

/// Before: a `-` value typed at a terminal was echoed on screen. The CLI runs on a pseudo-terminal
/// (Python's pty module, as a user's shell would give it one); everything the terminal shows is
/// read back.
#[test]
fn the_cli_reads_a_value_typed_at_a_terminal_without_echo() {
    let elsewhere = Recorder::start(200, String::new());
    let binary = release_binaries().join("tenant-keys");
    let script = r#"
import os, pty, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
shown = b""
def read_for(seconds):
    global shown
    end = time.time() + seconds
    while time.time() < end:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return
        if not chunk:
            return
        shown += chunk
        if b"privateApiKey:" in shown and seconds > 5:
            return
read_for(10)
os.write(fd, sys.stdin.readline().encode())
read_for(3)
os.waitpid(pid, 0)
sys.stdout.write(shown.decode(errors="replace"))
"#;
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&binary)
        .args([
            "--url",
            &format!("http://127.0.0.1:{}", elsewhere.port),
            "connect",
            "--tenant",
            "org_1",
            "--provider",
            "vapi",
            "--set",
            "publicApiKey=pk-public-1",
            "--set",
            "privateApiKey=-",
        ])
        .env(
            "TENANT_KEYS_SIGNING_SECRET",
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs the CLI on a pseudo-terminal");
    writeln!(child.stdin.take().unwrap(), "{PRIVATE_KEY}").unwrap();
    let output = child.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(shown.contains("privateApiKey:"), "no prompt: {shown}");
    assert!(
        !shown.contains(PRIVATE_KEY),
        "the typed value was echoed: {shown}"
    );
    let sent = elsewhere.received();
    assert_eq!(sent.len(), 1, "{shown}");
    assert!(sent[0].contains(PRIVATE_KEY), "the typed value was sent");
}

/// Values sent as credentials or pasted into the wrong slot, to look for afterwards.
#[derive(Default)]
struct Sent(Mutex<Vec<String>>);

impl Sent {
    fn value(&self, prefix: &str) -> String {
        let value = unique(prefix);
        self.0.lock().unwrap().push(value.clone());
        value
    }

    fn keep(&self, value: &str) -> String {
        self.0.lock().unwrap().push(value.to_owned());
        value.to_owned()
    }
}

fn vapi(tenant: &str, public: &str, private: &str) -> Value {
    json!({"tenantId": tenant, "provider": "vapi",
           "credentials": {"publicApiKey": public, "privateApiKey": private}})
}

fn update(tenant: &str, private: &str) -> Value {
    json!({"tenantId": tenant, "provider": "vapi", "credentials": {"privateApiKey": private}})
}

fn tenant_only(tenant: &str) -> Value {
    json!({"tenantId": tenant, "provider": "vapi"})
}

/// The private key fetch-key answers now.
async fn current_private_key(stack: &Stack, tenant: &str) -> String {
    let fetched = stack.call("fetch-key", &tenant_only(tenant)).await;
    assert_eq!(fetched.status, 200, "{}", fetched.body);
    fetched.body["credentials"]["privateApiKey"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A request captured off the wire: the same bytes, id, timestamp and signature when sent again.
struct Captured {
    function: &'static str,
    body: String,
    webhook_id: String,
    timestamp: i64,
}

impl Captured {
    fn of(function: &'static str, body: &Value) -> Captured {
        Captured {
            function,
            body: body.to_string(),
            webhook_id: unique("msg_"),
            timestamp: now(),
        }
    }

    async fn send(&self, stack: &Stack) -> Answer {
        stack
            .call_signed(self.function, &self.body, &self.webhook_id, self.timestamp)
            .await
    }
}

fn code(answer: &Answer) -> (u16, &str) {
    (answer.status, answer.body["code"].as_str().unwrap_or(""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_attack_classes_against_the_stack() {
    let stack = Stack::start(2).await;
    let sent = Sent::default();

    replays_take_effect_at_most_once(&stack, &sent).await;
    timestamps_that_never_expire_are_refused(&stack, &sent).await;
    duplicate_keys_are_refused_and_nothing_is_stored(&stack, &sent).await;
    nothing_a_caller_wrote_is_echoed(&stack, &sent).await;

    // Every value sent, every string pasted into a slot, every signature: none in what the
    // functions printed (log lines and metrics lines alike).
    let output = stack.function_output();
    assert!(output.contains("request refused"), "the functions logged");
    let mut forbidden = sent.0.lock().unwrap().clone();
    forbidden.extend(stack.signatures_sent());
    forbidden.push(stack.signing_secret().to_owned());
    let leaked = leaks(&output, &forbidden);
    assert!(leaked.is_empty(), "the functions printed: {leaked:?}");
}

/// Before: a captured update replayed after a later rotation answered 200 and put the old key
/// back; a captured disconnect replayed after a reconnect disconnected again; an update with a
/// webhook-id reused after another write was applied.
async fn replays_take_effect_at_most_once(stack: &Stack, sent: &Sent) {
    let tenant = unique("org_replay");
    let connected = stack
        .call(
            "connect-integration",
            &vapi(&tenant, &sent.value("pk"), &sent.value("sk0")),
        )
        .await;
    assert_eq!(connected.status, 201);

    // update-key: k1 under M, a rotation to k2, then M again byte for byte.
    let k1 = sent.value("sk1");
    let m = Captured::of("update-key", &update(&tenant, &k1));
    assert_eq!(m.send(stack).await.status, 200);
    assert_eq!(
        m.send(stack).await.status,
        200,
        "a retry while current answers as first"
    );
    let k2 = sent.value("sk2");
    assert_eq!(
        stack.call("update-key", &update(&tenant, &k2)).await.status,
        200
    );
    let replayed = m.send(stack).await;
    assert_eq!(
        code(&replayed),
        (409, "version_conflict"),
        "{}",
        replayed.body
    );
    assert_eq!(
        current_private_key(stack, &tenant).await,
        k2,
        "the old key came back"
    );
    // The same id with other credentials, freshly signed: 409 whatever came between.
    let reused = stack
        .call_signed(
            "update-key",
            &update(&tenant, &sent.value("sk3")).to_string(),
            &m.webhook_id,
            now(),
        )
        .await;
    assert_eq!(
        code(&reused),
        (409, "idempotency_conflict"),
        "{}",
        reused.body
    );
    assert_eq!(current_private_key(stack, &tenant).await, k2);

    // connect-integration: a replace, a later update, then the replace again.
    let k4 = sent.value("sk4");
    let c = Captured::of(
        "connect-integration",
        &vapi(&tenant, &sent.value("pk"), &k4),
    );
    assert_eq!(c.send(stack).await.status, 200);
    let k5 = sent.value("sk5");
    assert_eq!(
        stack.call("update-key", &update(&tenant, &k5)).await.status,
        200
    );
    assert_eq!(code(&c.send(stack).await), (409, "version_conflict"));
    assert_eq!(current_private_key(stack, &tenant).await, k5);

    // disconnect-integration: a disconnect, a reconnect, then the disconnect again.
    let d = Captured::of("disconnect-integration", &tenant_only(&tenant));
    assert_eq!(d.send(stack).await.status, 200);
    assert_eq!(
        d.send(stack).await.status,
        200,
        "a retry while disconnected"
    );
    let k6 = sent.value("sk6");
    let reconnected = stack
        .call(
            "connect-integration",
            &vapi(&tenant, &sent.value("pk"), &k6),
        )
        .await;
    assert_eq!(reconnected.body["restored"], true, "{}", reconnected.body);
    let replayed = d.send(stack).await;
    assert_eq!(
        code(&replayed),
        (409, "version_conflict"),
        "{}",
        replayed.body
    );
    assert_eq!(
        current_private_key(stack, &tenant).await,
        k6,
        "still connected"
    );

    // A connect replayed after a disconnect does not reconnect.
    let n = Captured::of(
        "connect-integration",
        &vapi(&tenant, &sent.value("pk"), &sent.value("sk7")),
    );
    assert_eq!(n.send(stack).await.status, 200);
    assert_eq!(
        stack
            .call("disconnect-integration", &tenant_only(&tenant))
            .await
            .status,
        200
    );
    assert_eq!(code(&n.send(stack).await), (409, "version_conflict"));
    let after = stack.call("fetch-key", &tenant_only(&tenant)).await;
    assert_eq!(code(&after), (404, "not_found"), "the replay reconnected");
    assert!(after.body["deletionDate"].is_string());

    // A creating connect replayed after two writes: nothing moves back.
    let other = unique("org_replay_new");
    let created = Captured::of(
        "connect-integration",
        &vapi(&other, &sent.value("pk"), &sent.value("sk8")),
    );
    assert_eq!(created.send(stack).await.status, 201);
    for _ in 0..2 {
        let k = sent.value("sk9");
        assert_eq!(
            stack.call("update-key", &update(&other, &k)).await.status,
            200
        );
    }
    let last = current_private_key(stack, &other).await;
    let again = created.send(stack).await;
    assert!(again.status == 201 || again.status == 409, "{}", again.body);
    assert_eq!(
        current_private_key(stack, &other).await,
        last,
        "the created key came back"
    );
}

/// Before: `webhook-timestamp: -9223372036854775808` (or `i64::MIN + 10^6`) was accepted, and the
/// same bytes again 310 s later too (the library's tolerance check wrapped around).
async fn timestamps_that_never_expire_are_refused(stack: &Stack, sent: &Sent) {
    let tenant = unique("org_ts");
    let body = vapi(&tenant, &sent.value("pk"), &sent.value("sk")).to_string();
    for timestamp in [
        i64::MIN,
        i64::MIN + 1_000_000,
        i64::MAX,
        -1,
        0,
        now() - 301,
        now() + 301,
        now() * 1000,
    ] {
        let answer = stack
            .call_signed("connect-integration", &body, &unique("msg_"), timestamp)
            .await;
        assert_eq!(
            code(&answer),
            (401, "unauthorized"),
            "timestamp {timestamp}"
        );
    }
    let listed = stack
        .call("list-integrations", &json!({"tenantId": tenant}))
        .await;
    assert_eq!(listed.body["integrations"], json!([]), "nothing was stored");
}

/// Before: a key twice in a body was accepted, the last one winning (serde_json's choice; other
/// parsers keep the first).
async fn duplicate_keys_are_refused_and_nothing_is_stored(stack: &Stack, sent: &Sent) {
    let (first, second) = (unique("org_dup_a"), unique("org_dup_b"));
    let (public, private, other) = (sent.value("pk"), sent.value("sk"), sent.value("sk"));
    let bodies = [
        (
            format!(
                r#"{{"tenantId":"{first}","tenantId":"{second}","provider":"vapi","credentials":{{"publicApiKey":"{public}","privateApiKey":"{private}"}}}}"#
            ),
            "`tenantId`",
        ),
        (
            format!(
                r#"{{"tenantId":"{first}","provider":"vapi","credentials":{{"publicApiKey":"{public}","privateApiKey":"{private}","privateApiKey":"{other}"}}}}"#
            ),
            "`privateApiKey`",
        ),
        (
            format!(
                r#"{{"tenantId":"{first}","provider":"vapi","provider":"openai","credentials":{{"publicApiKey":"{public}","privateApiKey":"{private}"}}}}"#
            ),
            "`provider`",
        ),
    ];
    for (body, named) in bodies {
        let answer = stack
            .call_signed("connect-integration", &body, &unique("msg_"), now())
            .await;
        assert_eq!(code(&answer), (400, "invalid_request"), "{body}");
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(detail.contains(named), "{detail}");
        assert!(!detail.contains(&private) && !detail.contains(&other));
    }
    for tenant in [first, second] {
        let listed = stack
            .call("list-integrations", &json!({"tenantId": tenant}))
            .await;
        assert_eq!(listed.body["integrations"], json!([]), "nothing was stored");
    }
}

/// A string as an attacker (or a careless paste) would put it into a name slot: keys and tokens
/// of the shapes providers issue, random text, random Unicode.
fn pasted(rng: &mut impl Rng) -> String {
    let alnum = |n| Alphanumeric.sample_string(&mut rand::rng(), n);
    match rng.random_range(0..5) {
        0 => format!("AKIA{}", alnum(16).to_ascii_uppercase()),
        1 => (0..40)
            .map(|_| format!("{:x}", rng.random_range(0..16)))
            .collect(),
        2 => format!("sk-{}", alnum(32)),
        3 => format!("xoxb-{}-{}", alnum(12), alnum(24)),
        _ => (0..rng.random_range(8..30))
            .map(|_| rng.random_range('!'..='\u{2fff}'))
            .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
            .collect(),
    }
}

/// Before: `credentials.<40 hex> is not a field of provider deepgram` and `unknown field AKIA…`
/// came back in the answer and the "request refused" log line.
async fn nothing_a_caller_wrote_is_echoed(stack: &Stack, sent: &Sent) {
    let mut rng = rand::rng();
    let mut answers = String::new();
    let mut strings = Vec::new();
    for case in 0..60 {
        let text = pasted(&mut rng);
        // Not a valid tenant id in the tenant slot (a valid one is the caller's tenant).
        let bad_tenant = format!("{text}/x");
        let (function, body) = match case % 4 {
            0 => (
                "fetch-key",
                json!({"tenantId": "org_echo", "provider": "vapi", text.clone(): "x"}),
            ),
            1 => (
                "connect-integration",
                json!({"tenantId": "org_echo", "provider": "deepgram", "credentials": {text.clone(): "x"}}),
            ),
            2 => (
                "fetch-key",
                json!({"tenantId": "org_echo", "provider": text.clone()}),
            ),
            _ => ("list-integrations", json!({"tenantId": bad_tenant})),
        };
        strings.push(sent.keep(&text));
        let answer = stack.call(function, &body).await;
        assert_eq!(answer.status, 400, "{function} {body}: {}", answer.body);
        answers.push_str(&answer.body.to_string());
        answers.push_str(&format!("{:?}", answer.headers));
    }
    let echoed = leaks(&answers, &strings);
    assert!(echoed.is_empty(), "answers echoed: {echoed:?}");
}
