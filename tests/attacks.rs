//! The outside attack run's classes as the project's own suite (issue 27): what a signed request
//! becomes when someone replays it, redirects it, mangles its timestamp or body, or pastes a key
//! into the wrong slot — against the release binaries behind the emulator, and the CLI. Each case
//! says what it found before the fix where it found something.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use tenant_keys_e2e::release_binaries;

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
