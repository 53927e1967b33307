//! Delivery: every event goes to every active webhook of its organization that
//! subscribed to its type. A 2xx within 5 s (real time: it is the receiver that is
//! timed) is a success; anything else is retried after 1 s, 5 s, 30 s, 5 min and
//! 5 min (twin time, so the schedule compresses), at most 5 times. Five consecutive
//! failures deactivate the webhook and record a `webhook.failed` event.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use tokio::sync::{Notify, Semaphore};

use super::event::Event;

/// The receiver must answer within this (real time).
pub const ANSWER_DEADLINE: Duration = Duration::from_secs(5);
/// Waits before each retry, on the twin's clock (Dual's published schedule, docs/design.md;
/// its last step repeated for the fifth retry).
pub const RETRY_SCHEDULE: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(300),
    Duration::from_secs(300),
];
/// Consecutive failures that deactivate a webhook.
pub const DEACTIVATE_AFTER: u32 = 5;
/// Deliveries in flight at once.
pub const CONCURRENCY: usize = 64;
/// Delivery log entries kept per webhook.
pub const LOG_CAPACITY: usize = 1_000;
/// Deliveries waiting at most; past it new ones are counted as dropped.
pub const QUEUE_CAPACITY: usize = 1_000_000;

/// One delivery attempt to make.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event: std::sync::Arc<Event>,
    pub webhook: String,
    /// 0 for the first delivery, n for the n-th retry.
    pub attempt: u32,
    /// Twin time the event happened (for the delivery lag).
    pub created: Duration,
    /// A duplicate the twin sends on purpose (a fault): not retried.
    pub duplicate: bool,
}

/// One line of a webhook's delivery log.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub event_id: String,
    pub event_type: String,
    pub attempt: u32,
    /// The status answered, or what went wrong.
    pub outcome: String,
    pub at_ms: u64,
    pub answered_ms: f64,
    /// Faults applied to this delivery.
    pub faults: Vec<&'static str>,
    pub next_retry_ms: Option<u64>,
}

#[derive(Debug, Default)]
struct Waiting {
    queue: BinaryHeap<Reverse<(Duration, u64)>>,
    pending: HashMap<u64, Delivery>,
}

/// The queue of deliveries, due on the twin's clock.
#[derive(Debug)]
pub struct Dispatcher {
    /// Due times and the deliveries they point at, under one lock (two locks taken
    /// in different orders by `schedule` and `due` would deadlock).
    waiting: Mutex<Waiting>,
    next: AtomicU64,
    pub wake: Notify,
    pub http: Client<HttpConnector, Full<Bytes>>,
    pub slots: Semaphore,
    log: Mutex<HashMap<String, VecDeque<LogEntry>>>,
    pub dropped: AtomicU64,
}

impl Default for Dispatcher {
    fn default() -> Self {
        Self::new()
    }
}

impl Dispatcher {
    pub fn new() -> Self {
        Self {
            waiting: Mutex::new(Waiting::default()),
            next: AtomicU64::new(0),
            wake: Notify::new(),
            http: Client::builder(TokioExecutor::new()).build_http(),
            slots: Semaphore::new(CONCURRENCY),
            log: Mutex::new(HashMap::new()),
            dropped: AtomicU64::new(0),
        }
    }

    /// Queue a delivery for twin time `due`.
    pub fn schedule(&self, d: Delivery, due: Duration) {
        let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if w.pending.len() >= QUEUE_CAPACITY {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        w.pending.insert(n, d);
        w.queue.push(Reverse((due, n)));
        drop(w);
        self.wake.notify_one();
    }

    /// Deliveries due at `now`, and when the next one is due.
    pub fn due(&self, now: Duration) -> (Vec<Delivery>, Option<Duration>) {
        let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        while let Some(Reverse((due, n))) = w.queue.peek().copied() {
            if due > now {
                return (out, Some(due));
            }
            w.queue.pop();
            if let Some(d) = w.pending.remove(&n) {
                out.push(d);
            }
        }
        (out, None)
    }

    /// Deliveries still waiting (retries included).
    pub fn waiting(&self) -> usize {
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pending
            .len()
    }

    /// Drop the waiting deliveries of a webhook (it was deactivated or deleted).
    pub fn forget(&self, webhook: &str) {
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pending
            .retain(|_, d| d.webhook != webhook);
    }

    pub fn record(&self, webhook: &str, entry: LogEntry) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let l = log.entry(webhook.to_string()).or_default();
        if l.len() == LOG_CAPACITY {
            l.pop_front();
        }
        l.push_back(entry);
    }

    /// A webhook's delivery log, newest last.
    pub fn log(&self, webhook: &str) -> Vec<LogEntry> {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(webhook)
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn clear(&self) {
        *self.waiting.lock().unwrap_or_else(|e| e.into_inner()) = Waiting::default();
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// What one HTTP attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Status(u16),
    /// No answer within the deadline.
    Timeout,
    /// Could not connect, or the connection broke.
    Failed(String),
}

impl Answer {
    pub fn ok(&self) -> bool {
        matches!(self, Answer::Status(s) if (200..300).contains(s))
    }

    pub fn describe(&self) -> String {
        match self {
            Answer::Status(s) => s.to_string(),
            Answer::Timeout => "timeout".into(),
            Answer::Failed(e) => format!("failed: {e}"),
        }
    }
}

/// POST one signed body; returns the answer and how long it took (real time).
pub async fn post(
    http: &Client<HttpConnector, Full<Bytes>>,
    url: &str,
    headers: &[(&'static str, String)],
    body: Vec<u8>,
) -> (Answer, Duration) {
    let started = Instant::now();
    let mut req = http::Request::post(url).header("content-type", "application/json");
    for (n, v) in headers {
        req = req.header(*n, v);
    }
    let Ok(req) = req.body(Full::new(Bytes::from(body))) else {
        return (
            Answer::Failed(format!("{url} is not a usable URL")),
            started.elapsed(),
        );
    };
    let call = async {
        let resp = http.request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        // Read the body so the connection can be reused; its content is not used.
        let _ = resp.into_body().collect().await;
        Ok::<u16, String>(status)
    };
    let answer = match tokio::time::timeout(ANSWER_DEADLINE, call).await {
        Err(_) => Answer::Timeout,
        Ok(Err(e)) => Answer::Failed(e),
        Ok(Ok(status)) => Answer::Status(status),
    };
    (answer, started.elapsed())
}
