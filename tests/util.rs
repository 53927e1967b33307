//! Test helpers: start a twin on 127.0.0.1:0, speak raw HTTP/1.1 to it.

use std::time::Duration;

use gauntlet_mock::{MockHandle, MockServer, RuleSpec, TwinConfig};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const KEY: &str = "sk_test_0123456789abcdef";
pub const TOKEN: &str = "ctl_test_0123456789abcdef";
/// No request in a test may take longer than this (a bound, not an assertion).
pub const BOUND: Duration = Duration::from_secs(30);

/// Goose's Ctrl-C killswitch is process-wide, so attacks in this process run one
/// at a time: every test that runs goose holds this first.
pub static GOOSE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub fn config() -> TwinConfig {
    TwinConfig::sandbox(KEY, TOKEN)
}

pub fn rule(kind: &str) -> RuleSpec {
    RuleSpec {
        kind: kind.into(),
        ..Default::default()
    }
}

/// A twin on an ephemeral loopback port, stopped when dropped.
pub struct Twin {
    pub handle: Option<MockHandle>,
    pub addr: std::net::SocketAddr,
}

impl Twin {
    pub async fn start(config: TwinConfig) -> Twin {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let handle = MockServer::start(config, listener, std::future::pending())
            .await
            .expect("start twin");
        Twin {
            addr: handle.addr(),
            handle: Some(handle),
        }
    }

    pub async fn with_rules(rules: Vec<RuleSpec>) -> Twin {
        let mut c = config();
        c.faults = gauntlet_mock::engine::faults::spec::validate_all(&rules, "faults")
            .expect("valid rules");
        Twin::start(c).await
    }

    pub fn req(&self, method: &str, path: &str) -> Req {
        Req {
            addr: self.addr,
            method: method.into(),
            path: path.into(),
            headers: vec![],
            body: Vec::new(),
        }
    }

    /// Another handle on the same twin (for a task that polls it): dropping it
    /// stops nothing.
    pub fn attach(other: &Twin) -> Twin {
        Twin {
            handle: None,
            addr: other.addr,
        }
    }

    /// A request with the sandbox key.
    pub fn api(&self, method: &str, path: &str) -> Req {
        self.req(method, path).header("x-api-key", KEY)
    }

    /// A control API request with the token.
    pub fn control(&self, method: &str, path: &str) -> Req {
        self.req(method, path).header("x-gauntlet-token", TOKEN)
    }

    pub async fn oracle(&self) -> Value {
        self.control("GET", "/_gauntlet/oracle").send().await.ok()["oracle"].clone()
    }

    pub async fn advance(&self, by: &str) {
        let r = self
            .control("POST", "/_gauntlet/clock/advance")
            .json(&serde_json::json!({ "by": by }))
            .send()
            .await;
        assert_eq!(r.status(), 200, "{r:?}");
    }
}

impl Drop for Twin {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.twin().engine.shutdown.cancel();
        }
    }
}

#[derive(Debug, Clone)]
pub struct Req {
    addr: std::net::SocketAddr,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// What came back over the wire.
#[derive(Debug)]
pub enum Wire {
    /// A complete response.
    Reply(Resp),
    /// Some bytes, then the connection closed before the declared length.
    Truncated { head: Resp, expected: usize },
    /// The connection closed with nothing sent.
    Closed,
    /// The connection was reset.
    Reset,
}

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn status(&self) -> u16 {
        self.status
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    /// Status 2xx and the JSON body.
    pub fn ok(&self) -> Value {
        assert!(
            (200..300).contains(&self.status),
            "expected 2xx, got {self:?} {}",
            String::from_utf8_lossy(&self.body)
        );
        self.json()
    }
    /// An error in Dual's envelope; returns (code, first detail field).
    pub fn envelope(&self) -> (u64, Option<String>) {
        let v = self.json();
        let code = v["error"]["code"]
            .as_u64()
            .unwrap_or_else(|| panic!("not an envelope: {v}"));
        assert_eq!(code, u64::from(self.status), "envelope code matches status");
        assert!(
            v["x_request_id"]
                .as_str()
                .is_some_and(|s| s.starts_with("req_") || s.starts_with("ctl_")),
            "{v}"
        );
        assert_eq!(
            v["x_request_id"].as_str(),
            self.header("x-request-id"),
            "body and header request ids agree"
        );
        (
            code,
            v["error"]["details"][0]["field"]
                .as_str()
                .map(str::to_string),
        )
    }
}

impl Req {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
    pub fn json(self, v: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(v.to_string())
    }

    /// Send and expect a complete reply.
    pub async fn send(self) -> Resp {
        match self.wire().await {
            Wire::Reply(r) => r,
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    /// Send on a fresh connection and report exactly what came back.
    pub async fn wire(self) -> Wire {
        tokio::time::timeout(BOUND, self.exchange())
            .await
            .expect("request bounded in time")
    }

    async fn exchange(self) -> Wire {
        let mut s = TcpStream::connect(self.addr).await.expect("connect");
        let mut head = format!(
            "{} {} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n",
            self.method, self.path, self.addr
        );
        for (n, v) in &self.headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str(&format!("content-length: {}\r\n\r\n", self.body.len()));
        s.write_all(head.as_bytes()).await.expect("write head");
        if s.write_all(&self.body).await.is_err() {
            // The twin may answer (413) before reading a large body.
        }
        let mut got = Vec::new();
        match s.read_to_end(&mut got).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Wire::Reset,
            Err(e) if got.is_empty() => panic!("read failed: {e}"),
            _ => {}
        }
        if got.is_empty() {
            return Wire::Closed;
        }
        let split = got
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a header block");
        let head = String::from_utf8_lossy(&got[..split]).to_string();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .expect("status line");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let body = got[split + 4..].to_vec();
        let resp = Resp {
            status,
            headers,
            body,
        };
        match resp
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok())
        {
            Some(len) if resp.body.len() < len => Wire::Truncated {
                head: resp,
                expected: len,
            },
            _ => Wire::Reply(resp),
        }
    }
}

/// A batch of `n` unique Emit actions (unique via a nonce in the payload).
pub fn batch(tag: &str, n: usize) -> Value {
    let actions: Vec<Value> =
        (0..n).map(|i| serde_json::json!({ "action_type": "Emit", "payload": { "nonce": format!("{tag}-{i}") } })).collect();
    serde_json::json!({ "actions": actions })
}

/// A webhook receiver for tests: records every delivery, answers `status`.
pub struct Receiver {
    pub url: String,
    /// When set, answer 401 to a delivery whose signature this secret does not
    /// reproduce (as a correct handler does), else `status`.
    pub verify: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    pub got: std::sync::Arc<std::sync::Mutex<Vec<Delivered>>>,
    pub status: std::sync::Arc<std::sync::atomic::AtomicU16>,
}

#[derive(Debug, Clone)]
pub struct Delivered {
    pub timestamp: String,
    pub signature: String,
    pub body: Vec<u8>,
}

impl Delivered {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON event")
    }
}

impl Receiver {
    pub async fn start(status: u16) -> Receiver {
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let status = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(status));
        let verify = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
        let (g, s, v) = (got.clone(), status.clone(), verify.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (g, s, v) = (g.clone(), s.clone(), v.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let (g, s, v) = (g.clone(), s.clone(), v.clone());
                            async move {
                                use http_body_util::BodyExt;
                                let h = |n: &str| {
                                    req.headers()
                                        .get(n)
                                        .and_then(|v| v.to_str().ok())
                                        .unwrap_or_default()
                                        .to_string()
                                };
                                // Dual's headers, or Boson's chain events'.
                                let either = |a: &str, b: &str| {
                                    Some(h(a)).filter(|v| !v.is_empty()).unwrap_or_else(|| h(b))
                                };
                                let (timestamp, signature) = (
                                    either("x-dual-timestamp", "x-boson-timestamp"),
                                    either("x-dual-signature", "x-boson-signature"),
                                );
                                let body = req
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes().to_vec())
                                    .unwrap_or_default();
                                let secret = v.lock().expect("lock").clone();
                                let forged = secret.is_some_and(|k| {
                                    use hmac::Mac;
                                    let mut mac =
                                        hmac::Hmac::<sha2::Sha256>::new_from_slice(k.as_bytes())
                                            .expect("key");
                                    mac.update(format!("{timestamp}.").as_bytes());
                                    mac.update(&body);
                                    hex::encode(mac.finalize().into_bytes()) != signature
                                });
                                g.lock().expect("lock").push(Delivered {
                                    timestamp,
                                    signature,
                                    body,
                                });
                                let code = if forged {
                                    401
                                } else {
                                    s.load(Ordering::Relaxed)
                                };
                                Ok::<_, std::convert::Infallible>(
                                    hyper::Response::builder()
                                        .status(code)
                                        .body(http_body_util::Full::new(bytes::Bytes::new()))
                                        .expect("response"),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Receiver {
            url,
            verify,
            got,
            status,
        }
    }

    pub fn deliveries(&self) -> Vec<Delivered> {
        self.got.lock().expect("lock").clone()
    }

    /// Wait until at least `n` deliveries arrived (bounded; not a timing assertion).
    pub async fn wait_for(&self, n: usize) -> Vec<Delivered> {
        let deadline = std::time::Instant::now() + BOUND;
        loop {
            let got = self.deliveries();
            if got.len() >= n || std::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
