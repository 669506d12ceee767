//! A mock third-party provider API on loopback, for the `verify` and call-provider tests: it
//! answers every request as its [`Mode`] says and records what it received (method, path and
//! query, every header, the body), so a test can assert the exact request a check or a call made.
//! Point the functions at it with `PROVIDER_CHECK_BASE_URL_<PROVIDER>=<MockProvider::url>` (checks)
//! or `PROVIDER_API_BASE_URL_<PROVIDER>` (call-provider).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the mock answers.
#[derive(Debug, Clone)]
pub enum Mode {
    /// 200.
    Accept,
    /// This status, with a body that echoes the `Authorization` header (as some APIs echo keys):
    /// it must never reach an answer or a log.
    Status(u16),
    /// 401 when the key contains this text, else 200.
    RejectKeysContaining(String),
    /// No answer for this long, then 200.
    Slow(Duration),
    /// Closes the connection without an answer.
    Drop,
    /// A small Vapi: 401 for a Bearer key containing this text; else `GET /assistant` and
    /// `GET /phone-number` answer one item each, and anything else `{}`.
    Vapi(String),
    /// This status, these headers and this body, whatever was asked.
    Answer {
        /// The status.
        status: u16,
        /// Headers besides `content-length` and `connection`.
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
}

/// One request the mock received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The method.
    pub method: String,
    /// Path and query.
    pub target: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// Every header, its name lowercased, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body (as long as `content-length` said).
    pub body: Vec<u8>,
}

impl Received {
    /// The value of the header `name` (lowercase), if it was sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The running mock; it stops with the test's runtime.
#[derive(Clone)]
pub struct MockProvider {
    url: String,
    mode: Arc<Mutex<Mode>>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl MockProvider {
    /// Starts a mock on a free loopback port, answering as `mode`.
    pub async fn start(mode: Mode) -> MockProvider {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mock = MockProvider {
            url: format!("http://{}", listener.local_addr().unwrap()),
            mode: Arc::new(Mutex::new(mode)),
            received: Arc::default(),
        };
        let server = mock.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(server.clone().answer(socket));
            }
        });
        mock
    }

    /// The base URL, for `PROVIDER_CHECK_BASE_URL_<PROVIDER>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Changes how later requests are answered.
    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    async fn answer(self, mut socket: TcpStream) {
        let mut head = Vec::new();
        let mut buffer = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buffer[..n]),
            }
        }
        let end = head.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0) + 4;
        let mut body = head.split_off(end);
        let text = String::from_utf8_lossy(&head).into_owned();
        let mut lines = text.split("\r\n");
        let mut first = lines.next().unwrap_or_default().split(' ');
        let (method, target) = (
            first.next().unwrap_or_default(),
            first.next().unwrap_or_default(),
        );
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        let authorization = headers
            .iter()
            .find(|(name, _)| name == "authorization")
            .map(|(_, value)| value.clone());
        let length: usize = headers
            .iter()
            .find(|(name, _)| name == "content-length")
            .and_then(|(_, value)| value.parse().ok())
            .unwrap_or(0);
        while body.len() < length {
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => body.extend_from_slice(&buffer[..n]),
            }
        }
        // The key, wherever the check put it: what RejectKeysContaining looks at.
        let sent = format!("{target} {headers:?}");
        self.received.lock().unwrap().push(Received {
            method: method.to_owned(),
            target: target.to_owned(),
            authorization: authorization.clone(),
            headers,
            body,
        });
        let mode = self.mode.lock().unwrap().clone();
        let key = authorization.unwrap_or_default();
        let status = match mode {
            Mode::Accept => 200,
            Mode::Status(status) => status,
            Mode::RejectKeysContaining(text) if sent.contains(&text) => 401,
            Mode::RejectKeysContaining(_) => 200,
            Mode::Slow(pause) => {
                tokio::time::sleep(pause).await;
                200
            }
            Mode::Drop => return,
            Mode::Vapi(refused) => {
                let (status, body) = if key.contains(&refused) || !key.starts_with("Bearer ") {
                    (401, r#"{"message":"Invalid Key"}"#)
                } else if target.starts_with("/assistant") {
                    (
                        200,
                        r#"[{"id":"asst_1","name":"Support","model":{"provider":"openai"}}]"#,
                    )
                } else if target.starts_with("/phone-number") {
                    (
                        200,
                        r#"[{"id":"pn_1","number":"+15550100","provider":"vapi"}]"#,
                    )
                } else {
                    (200, "{}")
                };
                let answer = format!(
                    "HTTP/1.1 {status} Mock\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
                return;
            }
            Mode::Answer {
                status,
                headers,
                body,
            } => {
                let mut answer = format!("HTTP/1.1 {status} Mock\r\n");
                for (name, value) in headers {
                    answer.push_str(&format!("{name}: {value}\r\n"));
                }
                answer.push_str(&format!(
                    "content-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                ));
                let mut bytes = answer.into_bytes();
                bytes.extend_from_slice(&body);
                let _ = socket.write_all(&bytes).await;
                return;
            }
        };
        let body = format!("{{\"echo\":\"{key}\"}}");
        let answer = format!(
            "HTTP/1.1 {status} Mock\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = socket.write_all(answer.as_bytes()).await;
    }
}
