//! What the client needs from HTTP: send one request, get the status, the advice
//! headers and the body, or a classified failure. Implemented for goose users (load)
//! and for a plain reqwest client (smoke test, tests).

use std::future::Future;
use std::time::{Duration, SystemTime};

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
    /// `Retry-After`, given in seconds or as an HTTP-date (then the time left
    /// until it, zero if it has passed).
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
            TransportError::Connect(_) => "refused",
            TransportError::Broken(_) => "reset",
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
    let text = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok());
    let retry_after = text("retry-after").and_then(|v| parse_retry_after(v, SystemTime::now()));
    let ratelimit_reset = text("x-ratelimit-reset").and_then(|v| v.trim().parse::<u64>().ok());
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

/// `Retry-After` as RFC 9110 allows it: delay-seconds, or an HTTP-date (the wait is
/// the time from `now` until it; a date in the past means no wait). Anything else
/// is no advice. The value is not capped here: the client caps every advised wait.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }
}
