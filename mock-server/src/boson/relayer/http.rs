//! The relayer's HTTP paths, served at the root of its own listener and under
//! [`PREFIX`] on the twin's shared port: `POST /api/v2/meta-tx/native`,
//! `GET /api/v1/meta-tx/resubmitted`, `GET /ready`.
//!
//! A request takes the engine's path (numbered, its operation graded as a retry,
//! HTTP fault rules matched against `/relayer/...` wherever it came in), then meets
//! the `relayer` rules: the mode drawn for it (from the same stream) is carried out
//! here, and counted in the oracle's `by_mode`.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use alloy::primitives::{B256, keccak256};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use rand::Rng;
use sha2::Digest;

use super::body::{self, MetaTx};
use super::{Fate, RelayError};
use crate::boson::platform::BosonPlatform;
use crate::engine::Engine;
use crate::engine::faults::{RelayerEndpoint, RelayerFault, RelayerMode, RequestFacts};
use crate::engine::pipeline::{self, Answered, Dropped, Outcome};
use crate::engine::reply::{Reply, TwinBody};

/// Where the relayer is served on the twin's shared port.
pub const PREFIX: &str = "/relayer";
/// Biconomy's paths, as core-sdk calls them.
pub const RELAY_PATH: &str = "/api/v2/meta-tx/native";
pub const STATUS_PATH: &str = "/api/v1/meta-tx/resubmitted";
pub const READY_PATH: &str = "/ready";
/// How often a held (`hang`) request looks at the twin clock, in real time: a clock
/// advance ends the hold within this.
const HOLD_STEP: Duration = Duration::from_millis(20);

/// Which listener a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// The relayer's own listener: its paths at the root.
    Dedicated,
    /// The twin's shared port: its paths under [`PREFIX`].
    Shared,
}

/// Whether a path is the relayer's on the shared port.
pub fn owns(path: &str) -> bool {
    path == PREFIX
        || path
            .strip_prefix(PREFIX)
            .is_some_and(|r| r.starts_with('/'))
}

fn reply(status: StatusCode, v: &serde_json::Value) -> Reply {
    Reply::json(status, v)
}

fn error(status: StatusCode, message: impl Into<String>) -> Reply {
    reply(status, &body::error(status.as_u16(), message))
}

/// Answer one relayer request. `reset` is the connection's flag: a dropped reply
/// ends it with a reset.
pub async fn handle(
    p: Arc<BosonPlatform>,
    served: Served,
    reset: Arc<AtomicBool>,
    req: Request<Incoming>,
) -> Result<Response<TwinBody>, Dropped> {
    let raw = req.uri().path();
    let path = match served {
        Served::Shared => raw.strip_prefix(PREFIX).unwrap_or(raw),
        Served::Dedicated => raw,
    }
    .to_string();
    let (endpoint, allowed) = match path.as_str() {
        RELAY_PATH => (RelayerEndpoint::Relay, Method::POST),
        STATUS_PATH => (RelayerEndpoint::Status, Method::GET),
        READY_PATH => (RelayerEndpoint::Ready, Method::GET),
        _ => {
            let r = error(StatusCode::NOT_FOUND, format!("no relayer route {path}"));
            return Ok(r.into_response());
        }
    };
    if req.method() != allowed {
        let r = error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{path} takes {allowed}"),
        )
        .header("allow", allowed.to_string());
        return Ok(r.into_response());
    }
    let engine = &p.engine;
    let seq = engine.next_seq();
    let request_id = pipeline::request_id(engine, seq);
    let now = engine.clock.now();
    let query = req.uri().query().unwrap_or_default().to_string();
    let api_key = req
        .headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let template = format!("{PREFIX}{path}");
    let traceparent = pipeline::traceparent(req.headers());
    let body = pipeline::read_body(req.into_body(), engine.config.max_body_bytes).await;
    // The same call sent again is the same operation: its retries are graded.
    let mut h = sha2::Sha256::new();
    for part in [
        template.as_bytes(),
        query.as_bytes(),
        body.as_deref().unwrap_or_default(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    let digest: [u8; 32] = h.finalize().into();
    let op = u64::from_be_bytes(digest[..8].try_into().unwrap_or_default());
    let attempt = engine.oracle.arrival(op, &[], now);
    let identity = op ^ u64::from(attempt).rotate_left(48);
    let facts = RequestFacts {
        seq,
        now,
        request_id: &request_id,
        method: &allowed,
        path: &template,
        op: crate::engine::faults::TapeOp {
            digest: op,
            attempt,
        },
    };
    let mut rng = engine.faults.rng_for(identity);
    let d = pipeline::decide(engine, &facts, &mut rng);
    let fault = engine.faults.decide_relayer(&facts, endpoint, &mut rng);
    if let Some(f) = &fault {
        engine.metrics.fault("relayer");
        p.relayer.count_mode(f.mode.name());
    }
    let outcome = if !d.delay.is_zero() && !pipeline::pause(engine, d.delay).await {
        Outcome::Drop { reset: false }
    } else if let Some(faulted) = pipeline::pre_commit(engine, &d, &request_id, false).await {
        faulted
    } else {
        let ask = Ask {
            endpoint,
            fault,
            query: &query,
            api_key: api_key.as_deref(),
            body,
            fresh: keccak256([&b"gauntlet relayer"[..], &rng.random::<[u8; 16]>()].concat()),
        };
        match answer(&p, ask).await {
            Outcome::Reply(r) => pipeline::post_commit(&d, r, &request_id, false, &mut Vec::new()),
            dropped => dropped,
        }
    };
    let answered = Answered {
        method: &allowed,
        template: template.clone().into(),
        request_id: &request_id,
        quota: None,
        op,
        attempt,
        transient: &[],
        traceparent: traceparent.as_deref(),
    };
    pipeline::finish(engine, outcome, &answered, &reset)
}

/// One request as the relayer sees it.
struct Ask<'a> {
    endpoint: RelayerEndpoint,
    fault: Option<RelayerFault>,
    query: &'a str,
    api_key: Option<&'a str>,
    body: Result<bytes::Bytes, crate::engine::error::ApiError>,
    /// The hash a `never_mines` relay answers (drawn from the request's stream).
    fresh: B256,
}

/// Carry out an outage mode, or answer the endpoint.
async fn answer(p: &BosonPlatform, ask: Ask<'_>) -> Outcome {
    let engine = &p.engine;
    // `/ready` meets outage modes only: a refusal is a refusal, the others say false.
    if ask.endpoint == RelayerEndpoint::Ready {
        return match ask.fault.as_ref().map(|f| f.mode) {
            Some(RelayerMode::Refuse) => Outcome::Drop { reset: true },
            mode => {
                let ready = !mode.is_some_and(RelayerMode::is_outage);
                Outcome::Reply(reply(
                    StatusCode::OK,
                    &serde_json::json!({ "ready": ready }),
                ))
            }
        };
    }
    if let Some(f) = &ask.fault {
        match f.mode {
            RelayerMode::Refuse => return Outcome::Drop { reset: true },
            RelayerMode::Hang(bound) => {
                let now = engine.clock.now();
                let end = f.until.map_or(now + bound, |until| until.min(now + bound));
                hold(engine, end).await;
                return Outcome::Drop { reset: false };
            }
            RelayerMode::Unavailable { retry_after } => {
                let mut r = error(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
                if let Some(s) = retry_after {
                    r = r.header("retry-after", s.to_string());
                }
                return Outcome::Reply(r);
            }
            RelayerMode::RateLimited { retry_after } => {
                return Outcome::Reply(
                    error(
                        StatusCode::TOO_MANY_REQUESTS,
                        "Too many requests, please try again later",
                    )
                    .header("retry-after", retry_after.to_string()),
                );
            }
            _ => {}
        }
    }
    Outcome::Reply(match ask.endpoint {
        RelayerEndpoint::Status => status(p, ask.query),
        _ => relay(p, &ask),
    })
}

/// Hold until twin time `end` (or shutdown), watching the clock so an advance
/// ends the hold.
async fn hold(engine: &Engine, end: Duration) {
    loop {
        let now = engine.clock.now();
        if now >= end {
            return;
        }
        let step = engine.clock.real(end - now).min(HOLD_STEP);
        tokio::select! {
            () = tokio::time::sleep(step) => {}
            () = engine.shutdown.cancelled() => return,
        }
    }
}

/// `GET /api/v1/meta-tx/resubmitted`.
fn status(p: &BosonPlatform, query: &str) -> Reply {
    let hash = match body::status_query(query, p.config.chain_id) {
        Ok(h) => h,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let now = p.engine.clock.now();
    match p.relayer.status(&p.boson, now, p.faults(), &hash) {
        Some((record, s)) => reply(
            StatusCode::OK,
            &body::resubmitted(&record, s, p.accounts.relayer.address()),
        ),
        None => error(
            StatusCode::NOT_FOUND,
            format!("no relayed transaction with hash {hash:#x}"),
        ),
    }
}

/// `POST /api/v2/meta-tx/native`: the key, the body, the modes that refuse before
/// anything is sent, the estimate, then the transaction by the mode's fate.
fn relay(p: &BosonPlatform, ask: &Ask<'_>) -> Reply {
    match ask.api_key {
        None | Some("") => {
            return error(StatusCode::UNAUTHORIZED, "x-api-key header is missing");
        }
        Some(k)
            if p.config.relayer_api_key.as_ref().is_some_and(|want| {
                !bool::from(subtle::ConstantTimeEq::ct_eq(
                    want.expose().as_bytes(),
                    k.as_bytes(),
                ))
            }) =>
        {
            return error(StatusCode::UNAUTHORIZED, "Invalid api key");
        }
        Some(_) => {}
    }
    let raw = match &ask.body {
        Ok(b) => b,
        Err(e) => return error(e.status, e.message.clone()),
    };
    let meta: MetaTx = match body::parse(raw, p.config.diamond) {
        Ok(m) => m,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let mode = ask.fault.as_ref().map(|f| f.mode);
    let fate = match mode {
        Some(RelayerMode::LimitReached(q)) => {
            return reply(StatusCode::CONFLICT, &body::error(q.code(), q.message()));
        }
        Some(RelayerMode::GasEstimation) => {
            return reply(
                StatusCode::EXPECTATION_FAILED,
                &body::estimation(
                    "cannot estimate gas; transaction may fail or may require manual gas limit",
                ),
            );
        }
        Some(RelayerMode::NeverMines) => Fate::NeverMines,
        Some(RelayerMode::Resubmit) => Fate::Resubmit,
        Some(RelayerMode::NonceError) => Fate::NonceError,
        _ => Fate::Submit,
    };
    let now = p.engine.clock.now();
    match p
        .relayer
        .relay(&p.boson, now, p.faults(), &meta, fate, ask.fresh)
    {
        Ok(_) if fate == Fate::NonceError => reply(
            StatusCode::EXPECTATION_FAILED,
            &body::estimation("execution reverted: NonceUsedAlready"),
        ),
        Ok(done) => reply(
            StatusCode::OK,
            &body::accepted(done.answered, retry_duration(p)),
        ),
        Err(RelayError::Estimation(revert)) => reply(
            StatusCode::EXPECTATION_FAILED,
            &body::estimation(&format!("execution reverted: {}", revert.name())),
        ),
        Err(e @ RelayError::Pool(_)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Internal server error: {e}"),
        ),
    }
}

/// Seconds before the first status poll is worth it: a block time, at least 1.
fn retry_duration(p: &BosonPlatform) -> u64 {
    p.config.block_time.as_secs_f64().ceil().max(1.0) as u64
}
