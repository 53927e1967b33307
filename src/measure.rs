//! Client-side measurement: HDR histograms (microseconds, 3 significant digits)
//! and counters, cumulative and per interval. Memory is fixed: an interval's
//! histograms are handed out by `snapshot` and replaced with empty ones.
//!
//! Definitions (docs/measurement.md): **latency** runs from the pacer's intended send time to
//! the first reply (coordinated omission corrected); **service** from the actual
//! send of each attempt; **accept** from the intended send to the 2xx that applied
//! an action, across retries; **lag** is how late the slot was taken; **gap** the
//! wait before a retry and **advised** what the server said to wait.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Largest value held: one hour in microseconds.
const MAX_US: u64 = 3_600_000_000;

pub fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("static bounds are valid")
}

fn us(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, MAX_US)
}

/// One set of histograms.
#[derive(Debug, Clone)]
pub struct Hists {
    /// Per action: each batch's first-reply latency, recorded once per action in it.
    pub latency: Histogram<u64>,
    /// Per request: each batch's first-reply latency, once.
    pub request_latency: Histogram<u64>,
    pub service: Histogram<u64>,
    pub accept: Histogram<u64>,
    /// Attempts per batch (a count, not microseconds).
    pub attempts: Histogram<u64>,
    pub gap: Histogram<u64>,
    pub advised: Histogram<u64>,
    pub lag: Histogram<u64>,
}

impl Hists {
    /// Every histogram under the tag `histograms.hlog` gives it.
    pub fn tagged(&self) -> [(&'static str, &Histogram<u64>); 8] {
        [
            ("latency", &self.latency),
            ("request_latency", &self.request_latency),
            ("service", &self.service),
            ("accept", &self.accept),
            ("attempts", &self.attempts),
            ("gap", &self.gap),
            ("advised", &self.advised),
            ("lag", &self.lag),
        ]
    }

    /// The histogram under `tag`, to add another run's into.
    pub fn by_tag(&mut self, tag: &str) -> Option<&mut Histogram<u64>> {
        Some(match tag {
            "latency" => &mut self.latency,
            "request_latency" => &mut self.request_latency,
            "service" => &mut self.service,
            "accept" => &mut self.accept,
            "attempts" => &mut self.attempts,
            "gap" => &mut self.gap,
            "advised" => &mut self.advised,
            "lag" => &mut self.lag,
            _ => return None,
        })
    }
}

impl Counts {
    /// Add another run's counts (a segment's) to these.
    pub fn add(&mut self, o: &Counts) {
        self.batches += o.batches;
        self.actions += o.actions;
        self.accepted += o.accepted;
        self.rejected += o.rejected;
        self.refused += o.refused;
        self.gave_up += o.gave_up;
        self.unsent += o.unsent;
        self.requests += o.requests;
        for (k, v) in &o.outcomes {
            *self.outcomes.entry(k.clone()).or_default() += v;
        }
        self.early += o.early;
        self.cut_off += o.cut_off;
        self.harness_errors += o.harness_errors;
    }
}

impl Default for Hists {
    fn default() -> Self {
        Self {
            latency: hist(),
            request_latency: hist(),
            service: hist(),
            accept: hist(),
            attempts: hist(),
            gap: hist(),
            advised: hist(),
            lag: hist(),
        }
    }
}

/// Counts kept alongside the histograms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Counts {
    /// Batches the pacer handed out and a user started.
    pub batches: u64,
    /// Logical actions in those batches.
    pub actions: u64,
    /// Actions a 2xx said were applied.
    pub accepted: u64,
    /// Actions refused with a final 4xx.
    pub rejected: u64,
    /// Of those, actions whose whole request was refused for good (a 401, a 413,
    /// a 4xx status): the twin may never have booked them per action.
    #[serde(default)]
    pub refused: u64,
    /// Actions abandoned when attempts or time ran out.
    pub gave_up: u64,
    /// Actions the schedule held that were never sent (the run was stopped, or
    /// goose ended before a user took them).
    pub unsent: u64,
    /// Requests sent (attempts), for amplification.
    pub requests: u64,
    /// Attempts by outcome: the status code, or `timeout`, `refused` (no
    /// connection), `reset` (closed or reset before a whole reply).
    pub outcomes: BTreeMap<String, u64>,
    /// Retries the client itself sent sooner than advised (a flawed client only).
    pub early: u64,
    /// Actions still pending when the drain grace ran out (or a second Ctrl-C):
    /// the harness stopped them, so they are neither lost nor given up.
    #[serde(default)]
    pub cut_off: u64,
    /// Load tasks that failed inside the harness (a panic): a harness error, never
    /// the target's failure. Their actions are counted as cut off.
    #[serde(default)]
    pub harness_errors: u64,
}

#[derive(Debug, Default)]
struct State {
    total: Hists,
    interval: Hists,
    counts: Counts,
    /// A uniform sample of (advised, gap) pairs, for the backoff plot.
    pairs: Vec<BackoffPoint>,
    /// Retries seen, for the sample.
    retries: u64,
}

/// Pairs kept for the backoff plot at most (reservoir sampled).
pub const MAX_BACKOFF_POINTS: usize = 1000;

/// One retry: what the server advised (0 when it advised nothing) and what the
/// client waited, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct BackoffPoint {
    pub advised_ms: f64,
    pub gap_ms: f64,
}

/// The client's recorder, shared by every goose user of a run.
#[derive(Debug)]
pub struct Recorder {
    /// The schedule's zero (set again when the schedule begins).
    started: Mutex<Instant>,
    state: Mutex<State>,
    /// The timeline's windows, when the run judges them one by one.
    windows: Mutex<Option<crate::soak::windows::Book>>,
}

/// One interval, as `snapshot` hands it out.
#[derive(Debug, Clone)]
pub struct Interval {
    /// Seconds since the recorder started, at the interval's start and end.
    pub start: f64,
    pub end: f64,
    pub hists: Hists,
    /// Cumulative counts at the interval's end.
    pub counts: Counts,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    pub fn new() -> Self {
        Self::starting_at(Instant::now())
    }

    /// A recorder whose intervals are timed from `zero` (the schedule's start, so
    /// interval times and fault windows share one axis).
    pub fn starting_at(zero: Instant) -> Self {
        Self {
            started: Mutex::new(zero),
            state: Mutex::new(State::default()),
            windows: Mutex::new(None),
        }
    }

    fn with(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn both(s: &mut State, f: impl Fn(&mut Hists)) {
        f(&mut s.total);
        f(&mut s.interval);
    }

    /// A dispatcher started a batch of `actions`.
    pub fn batch_started(&self, actions: usize) {
        self.with(|s| {
            s.counts.batches += 1;
            s.counts.actions += actions as u64;
        });
    }

    /// A batch's first attempt went out `lag` after its intended time (everything
    /// the harness did before the send: waiting for its time and for room, the
    /// task being scheduled, building and serializing the actions).
    pub fn lag(&self, lag: Duration) {
        self.with(|s| Self::both(s, |h| h.lag.saturating_record(us(lag))));
    }

    /// Actions of a request refused for good as a whole (a 401, a 4xx status):
    /// they may never reach the twin's per-action ledger.
    pub fn refused(&self, n: usize) {
        self.with(|s| s.counts.refused += n as u64);
    }

    /// One attempt ended with `outcome` after `service`.
    pub fn attempt(&self, outcome: &str, service: Duration) {
        self.with(|s| {
            s.counts.requests += 1;
            *s.counts.outcomes.entry(outcome.to_string()).or_default() += 1;
            Self::both(s, |h| h.service.saturating_record(us(service)));
        });
    }

    /// The first reply (or failure) of a batch of `actions`, `latency` after its
    /// intended time: one sample per action, and one per request.
    pub fn first_reply(&self, latency: Duration, actions: usize) {
        let n = actions.max(1) as u64;
        self.with(|s| {
            Self::both(s, |h| {
                let _ = h.latency.record_n(us(latency), n);
                h.request_latency.saturating_record(us(latency));
            });
        });
    }

    /// `n` actions were still pending when the run cut its drain short.
    pub fn cut_off(&self, n: usize) {
        if n > 0 {
            self.with(|s| s.counts.cut_off += n as u64);
        }
    }

    /// A load task failed inside the harness; its `actions` are cut off.
    pub fn harness_error(&self, actions: usize, what: &str) {
        tracing::error!("a load task failed inside the harness: {what}");
        self.with(|s| {
            s.counts.harness_errors += 1;
            s.counts.cut_off += actions as u64;
        });
    }

    /// `n` actions were applied, `after` their intended time.
    pub fn accepted(&self, n: usize, after: Duration) {
        if n == 0 {
            return;
        }
        self.with(|s| {
            s.counts.accepted += n as u64;
            Self::both(s, |h| {
                let _ = h.accept.record_n(us(after), n as u64);
            });
        });
    }

    pub fn rejected(&self, n: usize) {
        self.with(|s| s.counts.rejected += n as u64);
    }

    pub fn unsent(&self, n: usize) {
        self.with(|s| s.counts.unsent += n as u64);
    }

    pub fn gave_up(&self, n: usize) {
        self.with(|s| s.counts.gave_up += n as u64);
    }

    /// A batch is done after `n` attempts.
    pub fn attempts(&self, n: u32) {
        self.with(|s| Self::both(s, |h| h.attempts.saturating_record(u64::from(n).max(1))));
    }

    /// The client waited `gap` before a retry; the server had advised `advised`.
    pub fn backoff(&self, gap: Duration, advised: Option<Duration>) {
        self.with(|s| {
            if advised.is_some_and(|a| gap < a) {
                s.counts.early += 1;
            }
            let point = BackoffPoint {
                advised_ms: advised.map_or(0.0, |a| a.as_secs_f64() * 1e3),
                gap_ms: gap.as_secs_f64() * 1e3,
            };
            s.retries += 1;
            if s.pairs.len() < MAX_BACKOFF_POINTS {
                s.pairs.push(point);
            } else {
                let i = rand::random_range(0..s.retries) as usize;
                if let Some(slot) = s.pairs.get_mut(i) {
                    *slot = point;
                }
            }
            Self::both(s, |h| {
                h.gap.saturating_record(us(gap));
                if let Some(a) = advised {
                    h.advised.saturating_record(us(a));
                }
            });
        });
    }

    /// Hand out the current interval and start a new one.
    pub fn snapshot(&self, last_end: f64) -> Interval {
        let end = self.started().elapsed().as_secs_f64();
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let hists = std::mem::take(&mut s.interval);
        Interval {
            start: last_end,
            end,
            hists,
            counts: s.counts.clone(),
        }
    }

    /// Everything recorded so far.
    pub fn totals(&self) -> (Hists, Counts) {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (s.total.clone(), s.counts.clone())
    }

    /// The sample of retries for the backoff plot.
    pub fn backoff_sample(&self) -> Vec<BackoffPoint> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pairs
            .clone()
    }

    pub fn started(&self) -> Instant {
        *self.started.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A recorder holding figures already measured (merged segments).
    pub fn from_parts(hists: Hists, counts: Counts) -> Self {
        let r = Self::new();
        {
            let mut s = r.state.lock().unwrap_or_else(|e| e.into_inner());
            s.total = hists;
            s.counts = counts;
        }
        r
    }

    /// Book batches by window from now on.
    pub fn set_windows(&self, book: crate::soak::windows::Book) {
        *self.windows.lock().unwrap_or_else(|e| e.into_inner()) = Some(book);
    }

    /// A batch intended for `intended` ended: book it in its windows.
    pub fn batch_ended(&self, intended: Instant, end: crate::soak::windows::BatchEnd) {
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(book) = w.as_mut() {
            let zero = self.started();
            let intended_s = if intended >= zero {
                intended.duration_since(zero).as_secs_f64()
            } else {
                -zero.duration_since(intended).as_secs_f64()
            };
            book.record(&crate::soak::windows::BatchEnd { intended_s, ..end });
        }
    }

    /// The client's verdict on the window that ended last by `now_s`.
    pub fn last_window(
        &self,
        now_s: f64,
        t: &crate::plan::Thresholds,
    ) -> Option<crate::soak::windows::WindowVerdict> {
        let w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        w.as_ref()?.last_ended(now_s, t)
    }

    /// The windows' tallies so far.
    pub fn windows(&self) -> Option<crate::soak::windows::Book> {
        self.windows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Time intervals from `zero`: the schedule began there.
    pub fn set_zero(&self, zero: Instant) {
        *self.started.lock().unwrap_or_else(|e| e.into_inner()) = zero;
    }
}

/// Percentiles of a microsecond histogram, in milliseconds.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Summary {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    pub fn of(h: &Histogram<u64>) -> Summary {
        let ms = |v: u64| v as f64 / 1000.0;
        Summary {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.5)),
            p90_ms: ms(h.value_at_quantile(0.9)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// Percentiles of a histogram of counts (attempts per batch).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, schemars::JsonSchema)]
pub struct CountSummary {
    pub count: u64,
    pub mean: f64,
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

impl CountSummary {
    pub fn of(h: &Histogram<u64>) -> CountSummary {
        CountSummary {
            count: h.len(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        }
    }
}

/// One point of a percentile distribution: `percentile` (0 to 100) of the values
/// are at most `ms`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct PercentilePoint {
    pub percentile: f64,
    pub ms: f64,
}

/// Points kept per distribution at most.
const MAX_POINTS: usize = 200;

/// The percentile distribution of a microsecond histogram, the way HdrHistogram
/// plots it: ever finer steps toward the tail, up to 99.999%.
pub fn distribution(h: &Histogram<u64>) -> Vec<PercentilePoint> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<PercentilePoint> = Vec::new();
    for v in h.iter_quantiles(5) {
        let q = v.quantile_iterated_to();
        if q > 0.999_99 || out.len() >= MAX_POINTS {
            break;
        }
        let point = PercentilePoint {
            percentile: q * 100.0,
            ms: h.highest_equivalent(v.value_iterated_to()) as f64 / 1000.0,
        };
        if out.last().is_none_or(|l| l.percentile < point.percentile) {
            out.push(point);
        }
    }
    out.push(PercentilePoint {
        percentile: 100.0,
        ms: h.max() as f64 / 1000.0,
    });
    out
}

/// One bar of the attempts plot: `batches` needed `attempts` attempts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct AttemptsBar {
    pub attempts: u64,
    pub batches: u64,
}

/// The attempts histogram as bars.
pub fn attempt_bars(h: &Histogram<u64>) -> Vec<AttemptsBar> {
    h.iter_recorded()
        .map(|v| AttemptsBar {
            attempts: v.value_iterated_to(),
            batches: v.count_at_value(),
        })
        .collect()
}
