//! What the client needs from HTTP: send one request, get the status, the advice
//! headers and the body, or a classified failure. Implemented for goose users (load)
//! and for a plain reqwest client (smoke test, tests).

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

/// One request. Headers carry credentials: never log a `Request`.
#[derive(Clone)]
pub struct Request {
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
    pub timeout: Duration,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("path", &self.path)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// A reply, as much of it as the client uses.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<Duration>,
    /// `X-RateLimit-Reset`, Unix seconds.
    pub ratelimit_reset: Option<u64>,
    pub body: Bytes,
}

/// Why no reply came.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("timed out")]
    Timeout,
    #[error("cannot connect: {0}")]
    Connect(String),
    /// Reset, closed before a reply, or a body cut short.
    #[error("connection broken: {0}")]
    Broken(String),
}

impl TransportError {
    /// The name the recorder counts it under.
    pub fn kind(&self) -> &'static str {
        match self {
            TransportError::Timeout => "timeout",
            TransportError::Connect(_) => "connect",
            TransportError::Broken(_) => "broken",
        }
    }

    pub fn from_reqwest(e: &reqwest::Error) -> Self {
        if e.is_timeout() {
            TransportError::Timeout
        } else if e.is_connect() {
            TransportError::Connect(e.to_string())
        } else {
            TransportError::Broken(e.to_string())
        }
    }
}

/// Sends a POST with a JSON body.
pub trait Transport {
    fn post(&mut self, req: Request) -> impl Future<Output = Result<Reply, TransportError>> + Send;
}

/// Read a reqwest response into a `Reply` (a body cut short is `Broken`).
pub async fn reply_of(resp: reqwest::Response) -> Result<Reply, TransportError> {
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let retry_after = header("retry-after").map(Duration::from_secs);
    let ratelimit_reset = header("x-ratelimit-reset");
    let body = resp
        .bytes()
        .await
        .map_err(|e| TransportError::from_reqwest(&e))?;
    Ok(Reply {
        status,
        retry_after,
        ratelimit_reset,
        body,
    })
}

/// A plain reqwest transport against `base` (for the smoke test and tests).
#[derive(Debug, Clone)]
pub struct Http {
    pub client: reqwest::Client,
    pub base: String,
}

impl Transport for Http {
    async fn post(&mut self, req: Request) -> Result<Reply, TransportError> {
        let mut rb = self
            .client
            .post(format!("{}{}", self.base, req.path))
            .timeout(req.timeout)
            .body(req.body);
        for (name, value) in req.headers {
            rb = rb.header(name, value);
        }
        let resp = rb
            .send()
            .await
            .map_err(|e| TransportError::from_reqwest(&e))?;
        reply_of(resp).await
    }
}
