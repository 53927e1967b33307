//! One request through Dual's twin: route, body, caller, fault decision, delay, the
//! handler, then the faults that spoil a reply after commit, then common headers,
//! metrics and the oracle's backoff bookkeeping (the platform-neutral steps are the
//! engine's, in `engine::pipeline`).

pub mod handlers;
pub mod routes;
pub mod submit;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use http::{HeaderMap, Method, Request, Response};
use hyper::body::Incoming;
use sha2::Digest;

pub use routes::Route;

use super::Dual;
use super::auth::Principal;
use super::limits::Group;
use crate::engine::error::ApiError;
use crate::engine::faults::{RequestFacts, TapeOp};
use crate::engine::oracle;
use crate::engine::pipeline::{self, Answered, Dropped, Outcome};
use crate::engine::ratelimit::Quota;
use crate::engine::reply::{Reply, TwinBody};

/// Looked up on every request, so a constant name (a name given as text is
/// parsed on each lookup).
const IDEMPOTENCY_KEY: http::HeaderName = http::HeaderName::from_static("idempotency-key");

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
    /// A mutation's EIP-712 proof of intent, checked on arrival; a failure is a
    /// 401 the handler gives once the caller and its scope are known.
    pub intent: Result<(), ApiError>,
    /// The bucket after this request's charge, for the rate-limit headers.
    pub quota: Option<Quota>,
    /// The flat-error fault is on for this request.
    pub flat: bool,
    /// SHA-256 of the body: with the caller, method and path, "the same operation".
    pub body_digest: [u8; 32],
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
            .get(&IDEMPOTENCY_KEY)
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
            &self.body_digest[..8],
        ] {
            h.update(part);
            h.update([0]);
        }
        let digest: [u8; 32] = h.finalize().into();
        u64::from_be_bytes(digest[..8].try_into().expect("8 of 32 bytes"))
    }

    /// What the request is, for its fault draws: a digest of the idempotency key if
    /// any (else the body digest) with the organization, method and path, mixed with
    /// the attempt number. Returns the stream key and the tape's name for it
    /// ([`TapeOp`]). The organization rather than the credential: a rerun may use
    /// a new key of the same organization.
    fn identity(&self) -> (u64, TapeOp) {
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
            None => h.update([b"b".as_slice(), &self.body_digest[..8]].concat()),
        }
        let digest: [u8; 32] = h.finalize().into();
        let op = u64::from_be_bytes(digest[..8].try_into().expect("8 of 32 bytes"));
        let mut h = sha2::Sha256::new();
        h.update(op.to_be_bytes());
        h.update(self.attempt.to_be_bytes());
        let keyed: [u8; 32] = h.finalize().into();
        let stream = u64::from_be_bytes(keyed[..8].try_into().expect("8 of 32 bytes"));
        let tape = TapeOp {
            digest: op,
            attempt: self.attempt,
        };
        (stream, tape)
    }

    pub fn error(&self, e: ApiError) -> Reply {
        e.reply(&self.request_id, self.flat)
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

/// Serve one request on Dual's paths (the twin routes every path that is not the
/// engine's or another platform's here).
pub async fn handle(
    dual: Arc<Dual>,
    reset: Arc<AtomicBool>,
    req: Request<Incoming>,
) -> Result<Response<TwinBody>, Dropped> {
    let engine = &dual.engine;
    let (parts, body) = req.into_parts();
    let seq = engine.next_seq();
    let now = engine.clock.now();
    let mut cx = Ctx {
        seq,
        request_id: pipeline::request_id(engine, seq),
        now,
        unix: engine.clock.unix_at(now),
        method: parts.method.clone(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts.headers,
        // Not yet known: arrival authenticates every route that needs a caller
        // (this placeholder allocates nothing; public routes keep it).
        principal: Err(ApiError::new(http::StatusCode::UNAUTHORIZED, String::new())),
        intent: Ok(()),
        quota: None,
        flat: false,
        body_digest: [0; 32],
        op: 0,
        attempt: 0,
        transient: Vec::new(),
    };
    let route = Route::resolve(&cx.method, &cx.path);
    let template = route.as_ref().map(|r| r.template()).unwrap_or("unmatched");
    let outcome = match route {
        Ok(route) => run(&dual, &mut cx, route, body).await,
        Err(e) => Outcome::Reply(cx.error(e)),
    };
    let answered = Answered {
        method: &cx.method,
        template: template.into(),
        request_id: &cx.request_id,
        quota: cx.quota,
        op: cx.op,
        attempt: cx.attempt,
        transient: &cx.transient,
        traceparent: cx
            .headers
            .get(&pipeline::TRACEPARENT)
            .and_then(|v| v.to_str().ok()),
    };
    pipeline::finish(engine, outcome, &answered, &reset)
}

/// SHA-256 of the empty body: most requests (every GET) have none.
const EMPTY_BODY_DIGEST: [u8; 32] = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// A request body's digest ([`Ctx::body_digest`]), taken once per request: the
/// operation, the fault identity and the idempotency store's request hash all
/// start from it.
fn body_digest(body: &[u8]) -> [u8; 32] {
    if body.is_empty() {
        return EMPTY_BODY_DIGEST;
    }
    sha2::Sha256::digest(body).into()
}

/// The request as the oracle sees it on arrival: body digest, caller, the actions it
/// carries (now due), its operation and attempt number. Returns the parsed actions.
fn arrive(
    dual: &Dual,
    cx: &mut Ctx,
    route: &Route,
    body: &[u8],
) -> Option<Result<handlers::Submission, ApiError>> {
    cx.body_digest = body_digest(body);
    if !route.public() {
        cx.principal = dual.auth.authenticate(&cx.headers, cx.now, cx.unix);
    }
    if route.mutates(&cx.method)
        && let Ok(p) = &cx.principal
    {
        let request = super::eip712::Signed {
            method: cx.method.as_str(),
            path: &cx.path,
            body,
        };
        cx.intent = dual.auth.intent(&cx.headers, p, request, cx.unix);
    }
    let org = cx.principal.as_ref().map_or("", |p| p.org.as_str());
    let submission = route
        .submits()
        .then(|| handlers::Submission::parse(route, body, dual.config.limits.max_batch, org));
    let oracle = &dual.engine.oracle;
    // Actions are due once an authorized caller has sent them, whatever happens next.
    let fingerprints = match (&submission, &cx.principal) {
        (Some(Ok(sub)), Ok(p)) if p.require(route.scope(&cx.method)).is_ok() => {
            let tags = sub.actions.iter().map(|a| oracle::run_tag(&a.payload));
            oracle.arrived(sub.fingerprints.iter().copied().zip(tags), cx.now);
            sub.fingerprints.as_slice()
        }
        _ => &[],
    };
    cx.op = cx.operation();
    cx.attempt = oracle.arrival(cx.op, fingerprints, cx.now);
    submission
}

async fn run(dual: &Dual, cx: &mut Ctx, route: Route, body: Incoming) -> Outcome {
    let engine = &dual.engine;
    let body = match pipeline::read_body(body, engine.config.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return Outcome::Reply(cx.error(e)),
    };
    let submission = arrive(dual, cx, &route, &body);
    let (identity, tape_op) = cx.identity();
    let rng = &mut engine.faults.rng_for(identity);
    let facts = RequestFacts {
        seq: cx.seq,
        now: cx.now,
        request_id: &cx.request_id,
        method: &cx.method,
        path: &cx.path,
        op: tape_op,
    };
    let d = pipeline::decide(engine, &facts, rng);
    cx.flat = d.flat_error;
    if let Some(Group::Ebus) = route.group(&cx.method)
        && let Ok(p) = &cx.principal
    {
        // Every event-bus response carries the headers, injected ones too.
        cx.quota = Some(dual.limiter.peek(&p.org, Group::Ebus, cx.now, cx.unix));
    }
    if !d.delay.is_zero() && !pipeline::pause(engine, d.delay).await {
        return Outcome::Drop { reset: false };
    }
    if let Some(early) = pipeline::pre_commit(engine, &d, &cx.request_id, cx.flat).await {
        return early;
    }
    let reply = handlers::dispatch(dual, cx, &route, body, submission, &d, rng)
        .unwrap_or_else(|e| cx.error(e));
    pipeline::post_commit(&d, reply, &cx.request_id, cx.flat, &mut cx.transient)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_body_digest_is_sha256_of_nothing() {
        let full: [u8; 32] = sha2::Sha256::digest(b"").into();
        assert_eq!(body_digest(b""), full);
        assert_ne!(body_digest(b"{}"), EMPTY_BODY_DIGEST);
    }
}
