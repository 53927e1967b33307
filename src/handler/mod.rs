//! The reference webhook handler (`gauntlet handler`): what a correct receiver of
//! Dual's webhooks does, and the flawed variants that prove the verdict.
//!
//! A correct handler verifies `x-dual-signature` (HMAC-SHA256 over
//! `"<timestamp>.<raw body>"`, compared in constant time), refuses a timestamp more
//! than 300 s away, drops a delivery it has seen (by event id) or whose business
//! effect it already performed (by business key), answers 2xx at once, and performs
//! the effect from a bounded queue: one `Update` action on the object carrying
//! `effect_of` (see the effect contract in the twin's `webhooks::event`), sent with
//! the business key as its `Idempotency-Key`.

pub mod chain;
pub mod cli;
pub mod effects;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gauntlet_mock::SecretString;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::Value;
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use effects::Effect;

/// Deliveries older or newer than this are refused (replay protection).
pub const TIMESTAMP_TOLERANCE: Duration = Duration::from_secs(300);
/// Effects waiting to be performed; past it the handler answers 503 (retry later).
pub const QUEUE_CAPACITY: usize = 10_000;
/// Event ids and business keys remembered for dedupe, at most.
pub const MEMORY: usize = 1_000_000;
/// How long an event id or business key is remembered: past the platform's whole
/// delivery schedule (retries over about 11 minutes), so a retry is always known.
/// Forgetting by age keeps a long soak's memory flat after the first 13 minutes.
pub const FORGET_AFTER: Duration = Duration::from_secs(13 * 60);
/// The slow flaw answers after this: past the platform's 5 s.
pub const SLOW_ANSWER: Duration = Duration::from_secs(6);
/// Largest delivery body read.
pub const MAX_BODY: usize = 1024 * 1024;

/// A deliberate mistake, to prove the verdict catches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandlerFlaw {
    None,
    /// No dedupe, and effects without an idempotency key: duplicates act twice.
    Duplicate,
    /// Accepts any signature.
    NoVerify,
    /// Accepts any timestamp.
    NoTimestampCheck,
    /// Does the work before answering, and takes longer than 5 s.
    Slow,
    /// Dedupe that checks, then inserts later: concurrent duplicates both act.
    Race,
}

impl HandlerFlaw {
    pub const NAMES: [&'static str; 6] = [
        "none",
        "duplicate",
        "no-verify",
        "no-timestamp-check",
        "slow",
        "race",
    ];

    pub fn from_name(name: &str) -> Option<HandlerFlaw> {
        Some(match name.replace('_', "-").as_str() {
            "none" => HandlerFlaw::None,
            "duplicate" => HandlerFlaw::Duplicate,
            "no-verify" => HandlerFlaw::NoVerify,
            "no-timestamp-check" => HandlerFlaw::NoTimestampCheck,
            "slow" => HandlerFlaw::Slow,
            "race" => HandlerFlaw::Race,
            _ => return None,
        })
    }
}

/// How the handler is set up.
#[derive(Debug, Clone)]
pub struct HandlerConfig {
    /// The webhook's signing secret.
    pub secret: SecretString,
    /// Where effects go (the twin or the deployment), and the key to send them with.
    pub target: String,
    pub api_key: SecretString,
    /// Signs each effect (EIP-712) for a platform that requires it.
    pub signer: Option<crate::client::Signer>,
    pub flaw: HandlerFlaw,
}

/// Bounded memory of what was seen.
#[derive(Debug, Default)]
struct Seen {
    /// Each remembered id with when it was inserted.
    set: HashMap<String, Instant>,
    /// Insertions, oldest first; one whose id was forgotten and inserted again
    /// since is stale and forgets nothing.
    order: VecDeque<(Instant, String)>,
}

impl Seen {
    /// Insert; false if it was there.
    fn insert(&mut self, k: &str) -> bool {
        self.insert_at(k, Instant::now())
    }

    fn insert_at(&mut self, k: &str, now: Instant) -> bool {
        if self.set.contains_key(k) {
            return false;
        }
        while let Some((at, old)) = self.order.front() {
            if self.order.len() < MEMORY && now.duration_since(*at) < FORGET_AFTER {
                break;
            }
            if self.set.get(old) == Some(at) {
                self.set.remove(old);
            }
            self.order.pop_front();
        }
        self.order.push_back((now, k.to_string()));
        self.set.insert(k.to_string(), now);
        true
    }

    fn contains(&self, k: &str) -> bool {
        self.set.contains_key(k)
    }

    /// Forget an event id whose effect could not be queued, so its retry is taken.
    fn forget(&mut self, k: &str) {
        self.set.remove(k);
    }
}

struct State {
    cfg: HandlerConfig,
    seen: Mutex<Seen>,
    queue: mpsc::Sender<Effect>,
}

/// A running handler.
#[derive(Debug)]
pub struct HandlerHandle {
    pub addr: SocketAddr,
    pub stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    worker: tokio::task::JoinHandle<()>,
}

impl HandlerHandle {
    /// `http://ADDR/webhooks/dual`, the URL to register.
    pub fn url(&self) -> String {
        format!("http://{}/webhooks/dual", self.addr)
    }

    /// Stop accepting, then let the queued effects finish (bounded).
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
        let _ = tokio::time::timeout(Duration::from_secs(30), self.worker).await;
    }
}

/// Serve on `listener` until `shutdown`.
pub async fn start(
    cfg: HandlerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<HandlerHandle> {
    let addr = listener.local_addr()?;
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(std::io::Error::other)?;
    let stop = CancellationToken::new();
    let worker = tokio::spawn(effects::perform(
        rx,
        http,
        cfg.target.clone(),
        cfg.api_key.clone(),
        cfg.signer.clone(),
        cfg.flaw,
        stop.clone(),
    ));
    let state = Arc::new(State {
        cfg,
        seen: Mutex::new(Seen::default()),
        queue: tx,
    });
    let s = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        s.cancel();
    });
    let task = tokio::spawn(serve(listener, stop.clone(), move |req| {
        answer(state.clone(), req)
    }));
    Ok(HandlerHandle {
        addr,
        stop,
        task,
        worker,
    })
}

fn reply(
    status: StatusCode,
    text: &'static str,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    Ok(Response::builder()
        .status(status)
        .body(Full::new(Bytes::from_static(text.as_bytes())))
        .unwrap_or_default())
}

async fn answer(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let Some(Signed { ts, sig, body }) = read_signed(req, "x-dual").await else {
        return reply(StatusCode::BAD_REQUEST, "unreadable body");
    };
    let flaw = state.cfg.flaw;
    if flaw != HandlerFlaw::NoVerify
        && !verify(
            state.cfg.secret.expose().as_bytes(),
            ts.as_deref(),
            sig.as_deref(),
            &body,
        )
    {
        return reply(StatusCode::UNAUTHORIZED, "bad signature");
    }
    if flaw != HandlerFlaw::NoTimestampCheck && !fresh(ts.as_deref()) {
        return reply(StatusCode::BAD_REQUEST, "stale or future timestamp");
    }
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return reply(StatusCode::BAD_REQUEST, "not JSON");
    };
    let Some(effect) = Effect::of(&event) else {
        return reply(StatusCode::OK, "no effect due");
    };
    let id = event["id"].as_str().unwrap_or_default().to_string();
    match flaw {
        HandlerFlaw::Duplicate => {}
        HandlerFlaw::Race => {
            // Check, then (after other work) insert: two concurrent copies both pass.
            let seen = {
                let s = state.seen.lock().unwrap_or_else(|e| e.into_inner());
                s.contains(&id) || s.contains(&effect.key)
            };
            if seen {
                return reply(StatusCode::OK, "duplicate");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut s = state.seen.lock().unwrap_or_else(|e| e.into_inner());
            s.insert(&id);
            s.insert(&effect.key);
        }
        _ => {
            // Check and insert in one step; forget again if the effect cannot be queued.
            let mut s = state.seen.lock().unwrap_or_else(|e| e.into_inner());
            if s.contains(&id) || s.contains(&effect.key) {
                return reply(StatusCode::OK, "duplicate");
            }
            s.insert(&id);
            s.insert(&effect.key);
        }
    }
    // Queue the work before anything that awaits: if the platform hangs up, the
    // answer is dropped, and an event marked seen but not queued would be lost.
    let key = effect.key.clone();
    if state.queue.try_send(effect).is_err() {
        let mut s = state.seen.lock().unwrap_or_else(|e| e.into_inner());
        s.forget(&id);
        s.forget(&key);
        return reply(StatusCode::SERVICE_UNAVAILABLE, "busy, retry later");
    }
    if flaw == HandlerFlaw::Slow {
        // Answers only after the platform has given up waiting.
        tokio::time::sleep(SLOW_ANSWER).await;
    }
    reply(StatusCode::OK, "accepted")
}

/// Serve HTTP/1.1 on `listener` with `handle` until `stop`: the accept loop every
/// receiver here shares (Dual's handler, the chain-event handler, the smoke's).
pub async fn serve<F, Fut>(listener: TcpListener, stop: CancellationToken, handle: F)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Full<Bytes>>, std::convert::Infallible>> + Send + 'static,
{
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r { Ok((st, _)) => st, Err(_) => continue },
            _ = stop.cancelled() => break,
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(handle);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// A signed delivery as received: its timestamp and signature headers and body.
#[derive(Debug)]
pub struct Signed {
    pub ts: Option<String>,
    pub sig: Option<String>,
    pub body: Bytes,
}

/// Read `<prefix>-timestamp`, `<prefix>-signature` and the body (at most
/// [`MAX_BODY`]); `None` if the body cannot be read.
pub async fn read_signed(req: Request<Incoming>, prefix: &str) -> Option<Signed> {
    let header = |n: String| {
        req.headers()
            .get(n.as_str())
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (ts, sig) = (
        header(format!("{prefix}-timestamp")),
        header(format!("{prefix}-signature")),
    );
    let body = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .ok()?
        .to_bytes();
    Some(Signed { ts, sig, body })
}

/// Constant-time check of `x-dual-signature` against `HMAC-SHA256("<ts>.<body>")`.
pub fn verify(secret: &[u8], ts: Option<&str>, sig: Option<&str>, body: &[u8]) -> bool {
    let (Some(ts), Some(sig)) = (ts, sig) else {
        return false;
    };
    let Ok(sig) = hex::decode(sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// Is the timestamp within the tolerance of now?
pub(crate) fn fresh(ts: Option<&str>) -> bool {
    let Some(ts) = ts.and_then(|t| t.parse::<u64>().ok()) else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    now.abs_diff(ts) <= TIMESTAMP_TOLERANCE.as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_accepts_only_the_exact_signature() {
        let body = br#"{"a":1}"#;
        // openssl dgst -sha256 -hmac whsec_test over '1700000000.{"a":1}'
        let good = "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789";
        assert!(verify(b"whsec_test", Some("1700000000"), Some(good), body));
        assert!(!verify(b"whsec_test", Some("1700000001"), Some(good), body));
        assert!(!verify(
            b"whsec_other",
            Some("1700000000"),
            Some(good),
            body
        ));
        assert!(!verify(b"whsec_test", Some("1700000000"), Some("zz"), body));
        assert!(!verify(b"whsec_test", None, Some(good), body));
    }

    /// What was seen is remembered through the platform's retries, then
    /// forgotten: memory holds only the last [`FORGET_AFTER`].
    #[test]
    fn seen_forgets_by_age() {
        let mut s = Seen::default();
        let t0 = Instant::now();
        let at = |secs| t0 + Duration::from_secs(secs);
        assert!(s.insert_at("evt_1", t0));
        assert!(!s.insert_at("evt_1", at(700)), "a retry");
        assert!(s.insert_at("evt_2", at(700)));
        assert!(s.contains("evt_1"), "still within the horizon");
        assert!(s.insert_at("evt_3", t0 + FORGET_AFTER));
        assert!(!s.contains("evt_1") && s.contains("evt_2") && s.contains("evt_3"));
        assert_eq!(s.order.len(), 2);
        // Forgotten (its effect could not be queued) and taken again on a retry:
        // the first insertion's age does not forget the second.
        s.forget("evt_2");
        assert!(s.insert_at("evt_2", at(1000)));
        assert!(s.insert_at("evt_4", at(700) + FORGET_AFTER));
        assert!(s.contains("evt_2"), "remembered from its retry at 1000 s");
    }
}
