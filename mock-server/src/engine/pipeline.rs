//! The pieces of one request's path that do not depend on the platform: the
//! request id, reading the body, the fault decision and delay, the faults that
//! answer instead of a handler or spoil its reply, and the finish (common headers,
//! metrics, the oracle's backoff bookkeeping). A platform's own path (Dual's is
//! `dual::api::handle`) calls them in that order around its routing, auth and
//! handlers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use rand::Rng;

use super::Engine;
use super::error::ApiError;
use super::faults::{Decision, FaultKind, RequestFacts};
use super::oracle::Advice;
use super::ratelimit::Quota;
use super::reply::{Reply, TwinBody};

/// A client must finish sending its body within this.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// The service's error: the reply is withheld and the connection dropped.
#[derive(Debug, thiserror::Error)]
#[error("reply dropped by fault")]
pub struct Dropped;

/// What a request came to: a reply, or (a fault) none and the connection dropped,
/// with a reset (RST) or a close.
#[derive(Debug)]
pub enum Outcome {
    Reply(Reply),
    Drop { reset: bool },
}

/// The request id of request number `seq`: `seq` mixed with the seed by
/// SplitMix64's finalizer, a bijection, so ids look random, repeat with the
/// seed, and never collide (one mix per request, not a random stream's setup).
pub fn request_id(engine: &Engine, seq: u64) -> String {
    request_id_for(engine.faults.seed(), seq)
}

/// `req_` and sixteen hex digits, written without the formatting machinery (the
/// id is made for every request).
fn request_id_for(seed: u64, seq: u64) -> String {
    let id = mix(seq ^ mix(seed));
    let mut digits = [0u8; 16];
    // Eight bytes make sixteen digits: the buffer fits, so this cannot fail.
    let _ = hex::encode_to_slice(id.to_be_bytes(), &mut digits);
    let mut s = String::with_capacity(4 + digits.len());
    s.push_str("req_");
    s.extend(digits.iter().map(|&d| char::from(d)));
    s
}

/// SplitMix64's finalizer: a bijection on `u64` that scatters its input.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Decide the faults of one request (each goes on the tape) and count them.
pub fn decide(engine: &Engine, facts: &RequestFacts<'_>, rng: &mut impl Rng) -> Decision {
    let d = engine.faults.decide(facts, rng);
    for kind in &d.kinds {
        engine.metrics.fault(kind);
    }
    d
}

/// Sleep for a twin duration; false if the twin shut down meanwhile.
pub async fn pause(engine: &Engine, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(engine.clock.real(d)) => true,
        _ = engine.shutdown.cancelled() => false,
    }
}

/// Faults that answer instead of the handler (a status, a reset, a hang): nothing
/// is applied. Errors are rendered for `request_id`, flat if `flat`.
pub async fn pre_commit(
    engine: &Engine,
    d: &Decision,
    request_id: &str,
    flat: bool,
) -> Option<Outcome> {
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
                None => ApiError::new(code, code.canonical_reason().unwrap_or("error"))
                    .reply(request_id, flat),
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
            pause(engine, *for_).await;
            Some(Outcome::Drop { reset: false })
        }
        _ => None,
    }
}

/// The faults that spoil a handler's reply after commit: a lost reply (a 5xx or a
/// dropped connection; an error reply goes out as it is), a truncated body, a
/// malformed one. A malformed reply empties `transient`: the client cannot read
/// which actions failed, so there is nothing to resubmit yet.
pub fn post_commit(
    d: &Decision,
    reply: Reply,
    request_id: &str,
    flat: bool,
    transient: &mut Vec<[u8; 16]>,
) -> Outcome {
    match &d.terminal {
        // A reply is lost only after a commit; an error reply goes out as it is.
        Some(FaultKind::LostReply(_)) if !reply.status.is_success() => Outcome::Reply(reply),
        Some(FaultKind::LostReply(Some(status))) => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY);
            Outcome::Reply(ApiError::new(status, "upstream failed").reply(request_id, flat))
        }
        Some(FaultKind::LostReply(None)) => Outcome::Drop { reset: false },
        Some(FaultKind::Truncated) => Outcome::Reply(Reply {
            truncate: true,
            ..reply
        }),
        Some(FaultKind::Malformed) => {
            transient.clear();
            Outcome::Reply(reply.malformed())
        }
        _ => Outcome::Reply(reply),
    }
}

/// What the engine books for a request as it is answered.
#[derive(Debug)]
pub struct Answered<'a> {
    pub method: &'a Method,
    /// The route template (`unmatched` if none): the metrics label.
    pub template: std::borrow::Cow<'static, str>,
    pub request_id: &'a str,
    /// The bucket after this request's charge, for the rate-limit headers.
    pub quota: Option<Quota>,
    /// The oracle's name for the request's operation, and which attempt it was.
    pub op: u64,
    pub attempt: u32,
    /// Fingerprints of the actions that failed transiently in a 2xx reply.
    pub transient: &'a [[u8; 16]],
    /// The request's `traceparent` header, if any (recorded in the trace log).
    pub traceparent: Option<&'a str>,
}

/// The W3C trace-context header, as a constant name (a name given as text is
/// parsed on every lookup).
pub const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");

/// The `traceparent` header of a request, if present.
pub fn traceparent(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get(&TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn trace(engine: &Engine, a: &Answered<'_>, status: u16) {
    let Some((trace_id, parent_id)) = a.traceparent.and_then(super::traces::parse) else {
        return;
    };
    engine.traces.record(super::traces::TraceEntry {
        trace_id,
        parent_id,
        at_ms: engine.clock.now().as_millis() as u64,
        request_id: a.request_id.to_string(),
        method: a.method.to_string(),
        route: a.template.to_string(),
        status,
    });
}

/// Send the outcome: a reply gets `x-request-id` and the rate-limit headers, is
/// counted and graded; a drop sets the connection's `reset` flag, is counted with
/// status 0 and reported to the oracle as a faulted reply that advised nothing.
pub fn finish(
    engine: &Engine,
    outcome: Outcome,
    a: &Answered<'_>,
    reset: &AtomicBool,
) -> Result<Response<TwinBody>, Dropped> {
    match outcome {
        Outcome::Drop { reset: rst } => {
            reset.store(rst, Ordering::Relaxed);
            engine.metrics.request(a.method, a.template.clone(), 0);
            trace(engine, a, 0);
            let advice = Advice::Unadvised(engine.config.min_backoff);
            engine
                .oracle
                .faulted_reply(a.op, a.attempt, engine.clock.now(), advice);
            Err(Dropped)
        }
        Outcome::Reply(mut reply) => {
            reply = reply.header("x-request-id", a.request_id.to_string());
            if let Some(q) = a.quota {
                reply = reply
                    .header("x-ratelimit-limit", q.limit.to_string())
                    .header("x-ratelimit-remaining", q.remaining.to_string())
                    .header("x-ratelimit-reset", q.reset_unix.to_string());
            }
            engine
                .metrics
                .request(a.method, a.template.clone(), reply.status.as_u16());
            trace(engine, a, reply.status.as_u16());
            grade_reply(engine, a, &reply);
            Ok(reply.into_response())
        }
    }
}

/// Arm the oracle's backoff grade with a reply about to go out: a 429/5xx for the
/// operation's next attempt, a 2xx with transient per-action failures for the next
/// request carrying those actions.
fn grade_reply(engine: &Engine, a: &Answered<'_>, reply: &Reply) {
    let status = reply.status.as_u16();
    let faulted = status == 429 || status >= 500;
    let partial = reply.status.is_success() && !reply.truncate && !a.transient.is_empty();
    if !faulted && !partial {
        // A clean reply arms nothing (most replies): no clock read, no lock.
        return;
    }
    let now = engine.clock.now();
    let advice = advice(reply, engine.clock.unix_at(now), engine.config.min_backoff);
    if faulted {
        engine.oracle.faulted_reply(a.op, a.attempt, now, advice);
    } else {
        engine
            .oracle
            .partial_reply(a.op, a.attempt, a.transient, now, advice);
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

/// Read a request body: at most `limit` bytes (413), within [`BODY_TIMEOUT`] (408).
pub async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, ApiError> {
    // A request without a body (a GET, most often) is read without arming a timer.
    if hyper::body::Body::is_end_stream(&body) {
        return Ok(Bytes::new());
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    const FLOOR: Duration = Duration::from_millis(500);

    #[test]
    fn a_request_id_is_its_mixed_sequence_in_sixteen_hex_digits() {
        for (seed, seq) in [(7, 42), (0, 0), (u64::MAX, 1 << 40)] {
            let id = request_id_for(seed, seq);
            assert_eq!(id, format!("req_{:016x}", mix(seq ^ mix(seed))));
        }
        assert_ne!(request_id_for(7, 42), request_id_for(7, 43));
    }

    #[test]
    fn request_ids_of_distinct_requests_differ_and_scatter() {
        let ids: std::collections::HashSet<u64> = (0..10_000u64).map(|s| mix(s ^ mix(7))).collect();
        assert_eq!(ids.len(), 10_000, "a bijection never collides");
        assert_ne!(mix(1) >> 32, mix(2) >> 32, "neighbours scatter");
    }

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
