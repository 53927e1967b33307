//! One request through the twin: route, body, caller, fault decision, delay, the
//! handler, then the faults that spoil a reply after commit, then common headers,
//! metrics and the oracle's backoff bookkeeping.

pub mod handlers;
pub mod reply;
pub mod routes;
pub mod submit;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use rand::Rng;
use sha2::Digest;

pub use reply::{Reply, TwinBody};
pub use routes::Route;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::faults::{Decision, FaultKind, RequestFacts};
use crate::oracle::{self, Advice};
use crate::ratelimit::{Group, Quota};
use crate::twin::Twin;

/// The service's error: the reply is withheld and the connection dropped.
#[derive(Debug, thiserror::Error)]
#[error("reply dropped by fault")]
pub struct Dropped;

/// What the twin knows about the request in hand. Its headers carry credentials,
/// so its `Debug` leaves them out.
pub struct Ctx {
    pub seq: u64,
    pub request_id: String,
    pub now: Duration,
    pub unix: f64,
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub principal: Result<Principal, ApiError>,
    /// The bucket after this request's charge, for the rate-limit headers.
    pub quota: Option<Quota>,
    /// The flat-error fault is on for this request.
    pub flat: bool,
    /// A digest of the body: with the caller, method and path, "the same operation".
    pub body_digest: [u8; 8],
    /// The oracle's name for this request's operation: a digest of the credential,
    /// method, path and body digest (never the idempotency key); zero until the body
    /// is read.
    pub op: u64,
    /// Which attempt of its operation this request is (1 for the first; zero when
    /// it never reached the oracle).
    pub attempt: u32,
    /// Fingerprints of the actions that failed transiently in this request's batch
    /// reply: its retry is the next request carrying any of them.
    pub transient: Vec<[u8; 16]>,
}

impl Ctx {
    /// The idempotency key, if the request carries one.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
    }

    /// The oracle's name for "the same operation": the same credential sending the
    /// same body to the same method and path. The idempotency key is left out: a
    /// client that renews it on every attempt is retrying all the same.
    fn operation(&self) -> u64 {
        let client = self
            .principal
            .as_ref()
            .map_or("anonymous", |p| p.client.as_str());
        let mut h = sha2::Sha256::new();
        for part in [
            client.as_bytes(),
            self.method.as_str().as_bytes(),
            self.path.as_bytes(),
            &self.body_digest,
        ] {
            h.update(part);
            h.update([0]);
        }
        let digest: [u8; 32] = h.finalize().into();
        u64::from_be_bytes(digest[..8].try_into().expect("8 of 32 bytes"))
    }

    /// What the request is, for its fault draws: a digest of the idempotency key if
    /// any (else the body digest) with the organization, method and path, mixed with
    /// the attempt number. Returns the stream key and the tape's name for it,
    /// `"<12 hex digits of the digest>/<attempt>"`. The organization rather than the
    /// credential: a rerun may use a new key of the same organization.
    fn identity(&self) -> (u64, String) {
        let org = self.principal.as_ref().map_or("-", |p| p.org.as_str());
        let mut h = sha2::Sha256::new();
        for part in [
            org.as_bytes(),
            self.method.as_str().as_bytes(),
            self.path.as_bytes(),
        ] {
            h.update(part);
            h.update([0]);
        }
        match self.idempotency_key() {
            Some(k) => h.update([b"k".as_slice(), k.as_bytes()].concat()),
            None => h.update([b"b".as_slice(), &self.body_digest].concat()),
        }
        let digest: [u8; 32] = h.finalize().into();
        let op = u64::from_be_bytes(digest[..8].try_into().expect("8 of 32 bytes"));
        let mut h = sha2::Sha256::new();
        h.update(op.to_be_bytes());
        h.update(self.attempt.to_be_bytes());
        let keyed: [u8; 32] = h.finalize().into();
        let stream = u64::from_be_bytes(keyed[..8].try_into().expect("8 of 32 bytes"));
        (stream, format!("{:012x}/{}", op >> 16, self.attempt))
    }

    pub fn error(&self, e: ApiError) -> Reply {
        let mut r = Reply::json(e.status, &e.body(&self.request_id, self.flat));
        for (name, value) in e.headers {
            r = r.header(name, value);
        }
        r
    }
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("seq", &self.seq)
            .field("request_id", &self.request_id)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("principal", &self.principal.as_ref().map(|p| &p.client))
            .finish_non_exhaustive()
    }
}

enum Outcome {
    Reply(Reply),
    Drop { reset: bool },
}

/// The hyper service.
pub async fn handle(
    twin: Arc<Twin>,
    reset: Arc<AtomicBool>,
    req: Request<Incoming>,
) -> Result<Response<TwinBody>, Dropped> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    if path == "/_gauntlet" || path.starts_with("/_gauntlet/") {
        let body = read_body(body, twin.config.limits.max_body_bytes).await;
        return Ok(crate::control::handle(&twin, &parts, body).into_response());
    }
    if path == "/metrics" && parts.method == Method::GET {
        let now = twin.clock.now();
        let text = twin.metrics.render(
            &twin.limiter.levels(now),
            &twin.oracle.actions(),
            &twin.oracle.backoff(),
        );
        return Ok(Reply::text(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            text,
        )
        .into_response());
    }
    let seq = twin.next_seq();
    let now = twin.clock.now();
    let mut cx = Ctx {
        seq,
        // Its own stream: the fault draws are keyed by the operation, not by `seq`.
        request_id: format!("req_{:016x}", twin.faults.rng(seq).random::<u64>()),
        now,
        unix: twin.clock.unix_at(now),
        method: parts.method.clone(),
        path,
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts.headers,
        principal: Err(ApiError::unauthorized("missing credentials")),
        quota: None,
        flat: false,
        body_digest: [0; 8],
        op: 0,
        attempt: 0,
        transient: Vec::new(),
    };
    let route = Route::resolve(&cx.method, &cx.path);
    let template = route.as_ref().map(|r| r.template()).unwrap_or("unmatched");
    let outcome = match route {
        Ok(route) => run(&twin, &mut cx, route, body).await,
        Err(e) => Outcome::Reply(cx.error(e)),
    };
    match outcome {
        Outcome::Drop { reset: rst } => {
            reset.store(rst, Ordering::Relaxed);
            twin.metrics.request(&cx.method, template, 0);
            let advice = Advice::Unadvised(twin.config.min_backoff);
            twin.oracle
                .faulted_reply(cx.op, cx.attempt, twin.clock.now(), advice);
            Err(Dropped)
        }
        Outcome::Reply(mut reply) => {
            reply = reply.header("x-request-id", cx.request_id.clone());
            if let Some(q) = cx.quota {
                reply = reply
                    .header("x-ratelimit-limit", q.limit.to_string())
                    .header("x-ratelimit-remaining", q.remaining.to_string())
                    .header("x-ratelimit-reset", q.reset_unix.to_string());
            }
            twin.metrics
                .request(&cx.method, template, reply.status.as_u16());
            grade_reply(&twin, &cx, &reply);
            Ok(reply.into_response())
        }
    }
}

/// Arm the oracle's backoff grade with a reply about to go out: a 429/5xx for the
/// operation's next attempt, a 2xx with transient per-action failures for the next
/// request carrying those actions.
fn grade_reply(twin: &Twin, cx: &Ctx, reply: &Reply) {
    let now = twin.clock.now();
    let advice = advice(reply, twin.clock.unix_at(now), twin.config.min_backoff);
    let status = reply.status.as_u16();
    if status == 429 || status >= 500 {
        twin.oracle.faulted_reply(cx.op, cx.attempt, now, advice);
    } else if reply.status.is_success() && !reply.truncate {
        twin.oracle
            .partial_reply(cx.op, cx.attempt, &cx.transient, now, advice);
    }
}

/// What a faulted reply told the client about when to come back: `Retry-After`, else
/// on a 429 the time until its `X-RateLimit-Reset`, else nothing (the retry is then
/// graded against `min_backoff`).
fn advice(reply: &Reply, unix_now: f64, min_backoff: Duration) -> Advice {
    if let Some(secs) = reply.retry_after() {
        return Advice::RetryAfter(Duration::from_secs(secs));
    }
    let reset = reply
        .headers
        .iter()
        .find(|(n, _)| n == "x-ratelimit-reset")
        .and_then(|(_, v)| v.parse::<u64>().ok());
    match reset {
        Some(reset) if reply.status == StatusCode::TOO_MANY_REQUESTS => {
            let wait = (reset as f64 - unix_now).max(0.0);
            Advice::RateLimitReset(Duration::try_from_secs_f64(wait).unwrap_or(Duration::MAX))
        }
        _ => Advice::Unadvised(min_backoff),
    }
}

/// The request as the oracle sees it on arrival: body digest, caller, the actions it
/// carries (now due), its operation and attempt number. Returns the parsed actions.
fn arrive(
    twin: &Twin,
    cx: &mut Ctx,
    route: &Route,
    body: &[u8],
) -> Option<Result<handlers::Submission, ApiError>> {
    let digest: [u8; 32] = sha2::Sha256::digest(body).into();
    cx.body_digest.copy_from_slice(&digest[..8]);
    if !route.public() {
        cx.principal = twin.auth.authenticate(&cx.headers, cx.now, cx.unix);
    }
    let org = cx.principal.as_ref().map_or("", |p| p.org.as_str());
    let submission = route
        .submits()
        .then(|| handlers::Submission::parse(route, body, twin.config.limits.max_batch, org));
    // Actions are due once an authorized caller has sent them, whatever happens next.
    let fingerprints = match (&submission, &cx.principal) {
        (Some(Ok(sub)), Ok(p)) if p.require(route.scope(&cx.method)).is_ok() => {
            let tags = sub.actions.iter().map(|a| oracle::run_tag(&a.payload));
            twin.oracle
                .arrived(sub.fingerprints.iter().copied().zip(tags));
            sub.fingerprints.as_slice()
        }
        _ => &[],
    };
    cx.op = cx.operation();
    cx.attempt = twin.oracle.arrival(cx.op, fingerprints, cx.now);
    submission
}

async fn run(twin: &Twin, cx: &mut Ctx, route: Route, body: Incoming) -> Outcome {
    let body = match read_body(body, twin.config.limits.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return Outcome::Reply(cx.error(e)),
    };
    let submission = arrive(twin, cx, &route, &body);
    let (identity, tape_op) = cx.identity();
    let rng = &mut twin.faults.rng_for(identity);
    let facts = RequestFacts {
        seq: cx.seq,
        now: cx.now,
        request_id: &cx.request_id,
        method: &cx.method,
        path: &cx.path,
        op: &tape_op,
    };
    let d = twin.faults.decide(&facts, rng);
    for kind in &d.kinds {
        twin.metrics.fault(kind);
    }
    cx.flat = d.flat_error;
    if let Some(Group::Ebus) = route.group(&cx.method)
        && let Ok(p) = &cx.principal
    {
        // Every event-bus response carries the headers, injected ones too.
        cx.quota = Some(twin.limiter.peek(&p.org, Group::Ebus, cx.now, cx.unix));
    }
    if !d.delay.is_zero() && !pause(twin, d.delay).await {
        return Outcome::Drop { reset: false };
    }
    if let Some(early) = pre_commit(twin, cx, &d).await {
        return early;
    }
    let reply = handlers::dispatch(twin, cx, &route, body, submission, &d, rng)
        .unwrap_or_else(|e| cx.error(e));
    match d.terminal {
        // A reply is lost only after a commit; an error reply goes out as it is.
        Some(FaultKind::LostReply(_)) if !reply.status.is_success() => Outcome::Reply(reply),
        Some(FaultKind::LostReply(Some(status))) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            Outcome::Reply(cx.error(ApiError::new(status, "upstream failed")))
        }
        Some(FaultKind::LostReply(None)) => Outcome::Drop { reset: false },
        Some(FaultKind::Truncated) => Outcome::Reply(Reply {
            truncate: true,
            ..reply
        }),
        Some(FaultKind::Malformed) => {
            // The client cannot read which actions failed: nothing to resubmit yet.
            cx.transient.clear();
            Outcome::Reply(reply.malformed())
        }
        _ => Outcome::Reply(reply),
    }
}

/// Faults that answer instead of the handler: nothing is applied.
async fn pre_commit(twin: &Twin, cx: &Ctx, d: &Decision) -> Option<Outcome> {
    match d.terminal.as_ref()? {
        FaultKind::Status {
            status,
            retry_after,
            headers,
            body,
        } => {
            let code = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut reply = match body {
                Some(b) => Reply::bytes(code, Bytes::from(b.clone())),
                None => cx.error(ApiError::new(
                    code,
                    code.canonical_reason().unwrap_or("error"),
                )),
            };
            if let Some(s) = retry_after {
                reply = reply.header("retry-after", s.to_string());
            }
            for (name, value) in headers {
                reply = reply.header(name.to_ascii_lowercase(), value.clone());
            }
            Some(Outcome::Reply(reply))
        }
        FaultKind::Reset => Some(Outcome::Drop { reset: true }),
        FaultKind::Hang(for_) => {
            pause(twin, *for_).await;
            Some(Outcome::Drop { reset: false })
        }
        _ => None,
    }
}

/// Sleep for a twin duration; false if the twin shut down meanwhile.
async fn pause(twin: &Twin, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(twin.clock.real(d)) => true,
        _ = twin.shutdown.cancelled() => false,
    }
}

/// A client must finish sending its body within this.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, ApiError> {
    let Ok(read) = tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, limit).collect()).await
    else {
        return Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("the request body did not arrive within {BODY_TIMEOUT:?}"),
        ));
    };
    match read {
        Ok(b) => Ok(b.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body is larger than {limit} bytes"),
            )
            .detail("body", format!("at most {limit} bytes")))
        }
        Err(e) => Err(ApiError::field(
            "body",
            format!("could not read the body: {e}"),
        )),
    }
}

impl Reply {
    fn into_response(self) -> Response<TwinBody> {
        let mut b = Response::builder().status(self.status);
        for (name, value) in &self.headers {
            b = b.header(name.as_ref(), value.as_str());
        }
        let body = if self.truncate {
            let half = self.body.len() / 2;
            b = b.header("content-length", self.body.len().to_string());
            TwinBody::Truncated {
                part: Some(self.body.slice(..half)),
                flushed: false,
            }
        } else {
            TwinBody::full(self.body)
        };
        b.body(body)
            .unwrap_or_else(|_| Response::new(TwinBody::full("")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOOR: Duration = Duration::from_millis(500);

    #[test]
    fn advice_is_retry_after_else_a_429s_reset_else_the_floor() {
        let r = |status: u16| Reply::json(StatusCode::from_u16(status).expect("status"), &());
        let cases = [
            (
                r(503).header("retry-after", "7"),
                Advice::RetryAfter(Duration::from_secs(7)),
            ),
            (
                r(429).header("x-ratelimit-reset", "1003"),
                Advice::RateLimitReset(Duration::from_millis(2500)),
            ),
            (
                r(429).header("x-ratelimit-reset", "900"),
                Advice::RateLimitReset(Duration::ZERO),
            ),
            (
                r(503).header("x-ratelimit-reset", "1003"),
                Advice::Unadvised(FLOOR),
            ),
            (r(429), Advice::Unadvised(FLOOR)),
        ];
        for (reply, want) in cases {
            assert_eq!(advice(&reply, 1000.5, FLOOR), want, "{reply:?}");
        }
    }
}
