//! The reference receiver of Boson's chain-event webhooks, and its flawed variants.
//!
//! A correct receiver of chain events:
//! - verifies `x-boson-signature` (HMAC-SHA256 over `"<timestamp>.<raw body>"`) and
//!   the timestamp, as for Dual;
//! - keys its book on the protocol key `(exchangeId, target state)` (the payload's
//!   `effect_of`), not on the log: the same protocol event can come back under
//!   another log (a reorg re-mines it at a new index, a relayer resubmits it under
//!   a new hash);
//! - keeps, per key, the set of live logs (delivered, not removed); every removal
//!   is remembered (by `txHash`, `logIndex` and `blockHash`), so a copy of the log
//!   that arrives after it, or a log its removal overtook, is ignored;
//! - acts once a live log has `confirmations` blocks (its own included), reading
//!   the head from `eth_blockNumber`;
//! - on `removed: true`, drops the log; a key left with no live log and an effect
//!   done gets a compensating effect (`reverse: true`).
//!
//! Effects are reported to the twin's ledger (`POST /_gauntlet/boson/effects`) in
//! the order they were decided, so a reversal never overtakes its effect.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use gauntlet_mock::SecretString;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{MEMORY, verify};

/// How often the head is read.
pub const HEAD_POLL: Duration = Duration::from_millis(100);

/// A deliberate mistake, each caught by exactly one of the ledger's checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainFlaw {
    None,
    /// Acts at 0 confirmations (caught as `unconfirmed`).
    ActsUnconfirmed,
    /// Dedupes on `(txHash, logIndex)`: the same protocol event under another log
    /// acts again (caught as `duplicated`).
    DedupesOnTxhash,
    /// Ignores `removed: true` (caught as `orphan`).
    IgnoresRemoved,
}

impl ChainFlaw {
    pub const NAMES: [&'static str; 4] = [
        "none",
        "acts-unconfirmed",
        "dedupes-on-txhash",
        "ignores-removed",
    ];

    pub fn from_name(name: &str) -> Option<ChainFlaw> {
        Some(match name.replace('_', "-").as_str() {
            "none" => ChainFlaw::None,
            "acts-unconfirmed" => ChainFlaw::ActsUnconfirmed,
            "dedupes-on-txhash" => ChainFlaw::DedupesOnTxhash,
            "ignores-removed" => ChainFlaw::IgnoresRemoved,
            _ => return None,
        })
    }
}

/// How the chain-event handler is set up.
#[derive(Debug, Clone)]
pub struct ChainHandlerConfig {
    /// The webhook's signing secret.
    pub secret: SecretString,
    /// The twin's base URL (effects go to its control API).
    pub twin: String,
    /// The twin's control token.
    pub token: SecretString,
    /// The JSON-RPC URL the head is read from.
    pub rpc: String,
    /// Blocks an event needs, its own included, before the handler acts.
    pub confirmations: u64,
    pub flaw: ChainFlaw,
}

/// One log, as a delivery names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct LogId {
    tx: String,
    index: u64,
    block_hash: String,
}

#[derive(Debug, Default)]
struct Entry {
    /// Live logs and their heights.
    live: HashMap<LogId, u64>,
    /// The business key the effect is reported under.
    effect_of: String,
    done: bool,
}

/// A report for the twin's ledger.
#[derive(Debug, Clone)]
struct Report {
    effect_of: String,
    block: Option<u64>,
    reverse: bool,
}

#[derive(Debug, Default)]
struct Book {
    entries: HashMap<String, Entry>,
    /// Removals that came before their log.
    tombstones: HashSet<LogId>,
    order: VecDeque<LogId>,
    head: u64,
}

impl Book {
    fn tombstone(&mut self, id: LogId) {
        if self.order.len() >= MEMORY
            && let Some(old) = self.order.pop_front()
        {
            self.tombstones.remove(&old);
        }
        self.order.push_back(id.clone());
        self.tombstones.insert(id);
    }

    /// Act or reverse for `key` as its live logs and the head now say.
    fn settle(&mut self, key: &str, need: u64, out: &mut Vec<Report>) {
        let head = self.head;
        let Some(e) = self.entries.get_mut(key) else {
            return;
        };
        if !e.done {
            let ready = e
                .live
                .values()
                .copied()
                .filter(|h| need == 0 || head.saturating_add(1) >= h.saturating_add(need))
                .min();
            if let Some(h) = ready {
                e.done = true;
                out.push(Report {
                    effect_of: e.effect_of.clone(),
                    block: Some(h),
                    reverse: false,
                });
            }
        } else if e.live.is_empty() {
            e.done = false;
            out.push(Report {
                effect_of: e.effect_of.clone(),
                block: None,
                reverse: true,
            });
        }
    }
}

struct State {
    cfg: ChainHandlerConfig,
    book: Mutex<Book>,
    /// Unbounded, yet bounded by the events: a key yields a report per change of
    /// its live set, and a report must never be lost once the book counts it done.
    reports: mpsc::UnboundedSender<Report>,
}

impl State {
    fn need(&self) -> u64 {
        match self.cfg.flaw {
            ChainFlaw::ActsUnconfirmed => 0,
            _ => self.cfg.confirmations,
        }
    }

    /// Take one delivery's payload into the book.
    fn take(&self, payload: &Value) -> Result<(), &'static str> {
        let effect_of = payload["effect_of"].as_str().ok_or("no effect_of")?;
        let id = LogId {
            tx: payload["txHash"].as_str().ok_or("no txHash")?.to_string(),
            index: payload["logIndex"].as_u64().ok_or("no logIndex")?,
            block_hash: payload["blockHash"]
                .as_str()
                .ok_or("no blockHash")?
                .to_string(),
        };
        let height = payload["blockNumber"].as_u64().ok_or("no blockNumber")?;
        let removed = payload["removed"].as_bool().unwrap_or(false);
        if removed && self.cfg.flaw == ChainFlaw::IgnoresRemoved {
            return Ok(());
        }
        let key = match self.cfg.flaw {
            ChainFlaw::DedupesOnTxhash => format!("{}:{}", id.tx, id.index),
            _ => effect_of.to_string(),
        };
        let mut reports = Vec::new();
        {
            let mut book = self.book.lock().unwrap_or_else(|e| e.into_inner());
            if removed {
                if let Some(e) = book.entries.get_mut(&key) {
                    e.live.remove(&id);
                }
                // Remembered either way: a copy of the log delivered later (a
                // retry, a duplicate, a delayed send) must not bring it back.
                book.tombstone(id);
            } else if !book.tombstones.contains(&id) {
                let e = book.entries.entry(key.clone()).or_default();
                e.effect_of = effect_of.to_string();
                e.live.insert(id, height);
            }
            book.settle(&key, self.need(), &mut reports);
        }
        self.queue(reports);
        Ok(())
    }

    fn queue(&self, reports: Vec<Report>) {
        for r in reports {
            // Closed only when the handler stops.
            let _ = self.reports.send(r);
        }
    }

    /// A new head: settle every key still waiting for confirmations.
    fn advance(&self, head: u64) {
        let mut reports = Vec::new();
        {
            let mut book = self.book.lock().unwrap_or_else(|e| e.into_inner());
            if head <= book.head {
                return;
            }
            book.head = head;
            let waiting: Vec<String> = book
                .entries
                .iter()
                .filter(|(_, e)| !e.done && !e.live.is_empty())
                .map(|(k, _)| k.clone())
                .collect();
            for k in waiting {
                book.settle(&k, self.need(), &mut reports);
            }
        }
        self.queue(reports);
    }
}

/// A running chain-event handler.
#[derive(Debug)]
pub struct ChainHandle {
    pub addr: SocketAddr,
    pub stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl ChainHandle {
    /// `http://ADDR/webhooks/boson`, the URL to register.
    pub fn url(&self) -> String {
        format!("http://{}/webhooks/boson", self.addr)
    }

    /// Stop; reports already decided are sent (bounded).
    pub async fn stop(self) {
        self.stop.cancel();
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
        }
    }
}

/// Serve on `listener` until stopped.
pub async fn start(cfg: ChainHandlerConfig, listener: TcpListener) -> std::io::Result<ChainHandle> {
    let addr = listener.local_addr()?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(std::io::Error::other)?;
    let (tx, rx) = mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let state = Arc::new(State {
        cfg,
        book: Mutex::new(Book::default()),
        reports: tx,
    });
    let tasks = vec![
        tokio::spawn(report(rx, http.clone(), state.cfg.clone(), stop.clone())),
        tokio::spawn(watch_head(state.clone(), http, stop.clone())),
        tokio::spawn(super::serve(listener, stop.clone(), move |req| {
            answer(state.clone(), req)
        })),
    ];
    Ok(ChainHandle { addr, stop, tasks })
}

fn reply(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::from_static(text.as_bytes())))
        .unwrap_or_default()
}

async fn answer(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let Some(super::Signed { ts, sig, body }) = super::read_signed(req, "x-boson").await else {
        return Ok(reply(StatusCode::BAD_REQUEST, "unreadable body"));
    };
    let secret = state.cfg.secret.expose().as_bytes();
    if !verify(secret, ts.as_deref(), sig.as_deref(), &body) {
        return Ok(reply(StatusCode::UNAUTHORIZED, "bad signature"));
    }
    if !super::fresh(ts.as_deref()) {
        return Ok(reply(StatusCode::BAD_REQUEST, "stale or future timestamp"));
    }
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return Ok(reply(StatusCode::BAD_REQUEST, "not JSON"));
    };
    Ok(match state.take(&event["payload"]) {
        Ok(()) => reply(StatusCode::OK, "accepted"),
        Err(_) => reply(StatusCode::BAD_REQUEST, "not a chain event"),
    })
}

/// Read the head every [`HEAD_POLL`] and settle what it confirms.
async fn watch_head(state: Arc<State>, http: reqwest::Client, stop: CancellationToken) {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []});
    loop {
        tokio::select! {
            _ = tokio::time::sleep(HEAD_POLL) => {}
            _ = stop.cancelled() => return,
        }
        let Ok(r) = http.post(&state.cfg.rpc).json(&body).send().await else {
            continue;
        };
        let Ok(v) = r.json::<Value>().await else {
            continue;
        };
        let head = v["result"]
            .as_str()
            .and_then(|h| u64::from_str_radix(h.trim_start_matches("0x"), 16).ok());
        if let Some(head) = head {
            state.advance(head);
        }
    }
}

/// Send the reports in order, each retried a bounded number of times.
async fn report(
    mut rx: mpsc::UnboundedReceiver<Report>,
    http: reqwest::Client,
    cfg: ChainHandlerConfig,
    stop: CancellationToken,
) {
    let url = format!("{}/_gauntlet/boson/effects", cfg.twin);
    loop {
        let next = tokio::select! {
            r = rx.recv() => r,
            _ = stop.cancelled() => rx.try_recv().ok(),
        };
        let Some(r) = next else { break };
        let body = json!({"effect_of": r.effect_of, "block_number": r.block, "reverse": r.reverse});
        let mut sent = false;
        for attempt in 0..super::effects::EFFECT_ATTEMPTS {
            let res = http
                .post(&url)
                .header(
                    gauntlet_mock::engine::control::TOKEN_HEADER,
                    cfg.token.expose(),
                )
                .json(&body)
                .send()
                .await;
            if res.is_ok_and(|r| r.status().is_success()) {
                sent = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50) * 2u32.pow(attempt)).await;
        }
        if !sent {
            tracing::warn!(effect = r.effect_of, "effect report not taken by the twin");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(flaw: ChainFlaw) -> (State, mpsc::UnboundedReceiver<Report>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let cfg = ChainHandlerConfig {
            secret: SecretString::new("whsec_unit_0123456789"),
            twin: "http://127.0.0.1:9".into(),
            token: SecretString::new("ctl"),
            rpc: "http://127.0.0.1:9/rpc".into(),
            confirmations: 3,
            flaw,
        };
        let s = State {
            cfg,
            book: Mutex::new(Book::default()),
            reports: tx,
        };
        (s, rx)
    }

    fn log(tx: &str, index: u64, block: u64, removed: bool) -> Value {
        json!({
            "txHash": tx, "logIndex": index, "blockNumber": block,
            "blockHash": format!("0xb{block}"), "removed": removed,
            "effect_of": "exchange:1:Committed",
        })
    }

    fn drain(rx: &mut mpsc::UnboundedReceiver<Report>) -> Vec<(bool, Option<u64>)> {
        let mut out = Vec::new();
        while let Ok(r) = rx.try_recv() {
            out.push((r.reverse, r.block));
        }
        out
    }

    #[test]
    fn acts_once_when_a_live_log_has_its_confirmations() {
        let (s, mut rx) = state(ChainFlaw::None);
        s.take(&log("0xa", 0, 10, false)).expect("taken");
        s.advance(11);
        assert!(drain(&mut rx).is_empty(), "two confirmations are not three");
        s.advance(12);
        assert_eq!(drain(&mut rx), vec![(false, Some(10))]);
        // The same protocol event under another log: nothing more to do.
        s.take(&log("0xb", 3, 12, false)).expect("taken");
        s.advance(20);
        assert!(drain(&mut rx).is_empty());
    }

    #[test]
    fn a_removal_reverses_only_when_no_live_log_is_left() {
        let (s, mut rx) = state(ChainFlaw::None);
        s.take(&log("0xa", 0, 10, false)).expect("taken");
        s.take(&log("0xb", 1, 11, false)).expect("taken");
        s.advance(13);
        assert_eq!(drain(&mut rx), vec![(false, Some(10))]);
        s.take(&log("0xa", 0, 10, true)).expect("taken");
        assert!(drain(&mut rx).is_empty(), "0xb still stands");
        s.take(&log("0xb", 1, 11, true)).expect("taken");
        assert_eq!(drain(&mut rx), vec![(true, None)]);
    }

    #[test]
    fn a_log_after_its_removal_is_ignored() {
        let (s, mut rx) = state(ChainFlaw::None);
        // The removal overtakes its log.
        s.take(&log("0xa", 0, 10, true)).expect("taken");
        s.take(&log("0xa", 0, 10, false)).expect("taken");
        s.advance(20);
        assert!(drain(&mut rx).is_empty());
        // A copy delivered after the removal (a retry or duplicate) as well.
        s.take(&log("0xc", 0, 30, false)).expect("taken");
        s.take(&log("0xc", 0, 30, true)).expect("taken");
        s.take(&log("0xc", 0, 30, false)).expect("taken");
        s.advance(40);
        assert!(drain(&mut rx).is_empty());
    }

    #[test]
    fn each_flaw_breaks_its_rule() {
        let (s, mut rx) = state(ChainFlaw::ActsUnconfirmed);
        s.take(&log("0xa", 0, 10, false)).expect("taken");
        assert_eq!(drain(&mut rx), vec![(false, Some(10))], "acts at once");

        let (s, mut rx) = state(ChainFlaw::DedupesOnTxhash);
        s.take(&log("0xa", 0, 10, false)).expect("taken");
        s.take(&log("0xa", 2, 11, false)).expect("taken");
        s.advance(13);
        assert_eq!(drain(&mut rx).len(), 2, "one protocol event, two effects");

        let (s, mut rx) = state(ChainFlaw::IgnoresRemoved);
        s.take(&log("0xa", 0, 10, false)).expect("taken");
        s.advance(12);
        s.take(&log("0xa", 0, 10, true)).expect("taken");
        assert_eq!(drain(&mut rx), vec![(false, Some(10))], "never reversed");
    }

    #[test]
    fn a_payload_without_the_log_is_refused() {
        let (s, _rx) = state(ChainFlaw::None);
        assert_eq!(
            s.take(&json!({"effect_of": "exchange:1:Committed"})),
            Err("no txHash")
        );
        assert_eq!(s.take(&json!({})), Err("no effect_of"));
    }
}
