//! The oracle: an exact account of what the twin applied, and a server-side grade of
//! any client's backoff.
//!
//! - **Ledger**: per action fingerprint, how often it arrived and how often it was
//!   applied; per idempotency key, how often its request was applied. Lost = arrived,
//!   never applied, never finally rejected; duplicated = applied more than once. The
//!   same account per run, for the actions a run tagged as its own (`payload.run`).
//! - **Backoff**: for every 429/5xx/dropped reply, the advised wait (or, advised
//!   nothing, the twin's `min_backoff`) and the gap until the next attempt of the same
//!   operation came back. An operation is its credential, method, path and body (never
//!   the idempotency key, which a client may renew on every attempt); a 2xx batch
//!   reply with transient per-action failures is retried by the next request carrying
//!   any of those actions. Each arrival has an attempt number, and a reply grades only
//!   the attempt after the one it answered.
//! - **Spread**: jitter as the interquartile range of lateness among retries told the
//!   same thing at the same time ([`spread`]).
//! - **Timeline**: arrivals and applied actions per 100 ms, for retry bursts after a
//!   fault window and for the achieved rate.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

mod backoff;
pub mod effects;
mod ledger;
pub mod spread;
mod timeline;

use backoff::Backoff;
use ledger::Ledger;
use timeline::Timeline;

pub use backoff::{Advice, BackoffGrade};
pub use ledger::{
    ActionCounts, KeyCounts, MAX_RUN_TAG, MAX_RUNS, RETIRE_AFTER as LEDGER_HORIZON, RUN_FIELD,
    RunActions, run_tag,
};
pub use spread::Spread;
pub use timeline::{BUCKET, TIMELINE_BUCKETS};

/// Operations remembered for grading (their attempt number and any faulted reply
/// waiting for the next attempt), and action fingerprints waiting for their
/// resubmission: past this many of each, the least recently seen are forgotten.
pub const PENDING_CAPACITY: usize = 100_000;
/// Steady rate is judged over this long before a fault window opens.
pub const STEADY_SPAN: Duration = Duration::from_secs(10);
/// A burst is looked for this long after a fault window closes.
pub const BURST_SPAN: Duration = Duration::from_secs(2);
/// Highest value the histograms hold: one hour in microseconds.
const HIST_MAX_US: u64 = 3_600_000_000;

pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_US, 3).expect("static bounds are valid")
}

pub(crate) fn record(h: &mut Histogram<u64>, d: Duration) {
    h.saturating_record((d.as_micros() as u64).clamp(1, HIST_MAX_US));
}

/// The oracle.
#[derive(Debug)]
pub struct Oracle {
    /// The effects ledger of webhook deliveries.
    pub effects: effects::Effects,
    ledger: Mutex<Ledger>,
    backoff: Mutex<Backoff>,
    timeline: Mutex<Timeline>,
}

/// Percentiles of one histogram, in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    pub(crate) fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.5)),
            p90_ms: ms(h.value_at_quantile(0.9)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

/// Arrivals after a fault window closed against the steady rate before it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Burst {
    pub rule: String,
    pub window_start_ms: u64,
    pub window_end_ms: u64,
    /// Mean arrivals per 100 ms over the 10 s before the window.
    pub steady_per_100ms: f64,
    /// Most arrivals in one 100 ms bucket within 2 s after the window.
    pub peak_per_100ms: u32,
    /// peak / steady (0 when there was no steady traffic).
    pub ratio: f64,
}

/// What `GET /_gauntlet/oracle` returns.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct OracleView {
    pub actions: ActionCounts,
    /// Webhook deliveries and the effects they led to.
    #[serde(default)]
    pub effects: effects::EffectCounts,
    pub idempotency: KeyCounts,
    pub backoff: BackoffGrade,
    pub bursts: Vec<Burst>,
    /// Each run's account of its own actions (those whose payload carries
    /// `"run": "<id>"`), by run id; at most [`MAX_RUNS`], the oldest forgotten.
    #[serde(default)]
    pub runs: BTreeMap<String, RunActions>,
    /// Per run, the tenths of a second of twin time in which its lost and
    /// duplicated actions first arrived (only those with any): a long run's
    /// account by window.
    #[serde(default)]
    pub run_seconds: BTreeMap<String, Vec<ledger::SecondCounts>>,
}

impl Default for Oracle {
    fn default() -> Self {
        Self::new()
    }
}

impl Oracle {
    pub fn new() -> Self {
        Self {
            effects: effects::Effects::default(),
            ledger: Mutex::new(Ledger::default()),
            backoff: Mutex::new(Backoff::default()),
            timeline: Mutex::new(Timeline::default()),
        }
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn grading(&self) -> MutexGuard<'_, Backoff> {
        self.backoff.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A request arrived (any API route) as operation `op`, carrying these action
    /// fingerprints (none for other routes): the timeline counts it, a faulted reply
    /// to its previous attempt is graded. Returns its attempt number (1 for the first).
    pub fn arrival(&self, op: u64, fingerprints: &[[u8; 16]], now: Duration) -> u32 {
        {
            let mut t = self.timeline.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(i) = t.slot(now) {
                t.requests[i] += 1;
            }
        }
        self.grading().arrival(op, fingerprints, now)
    }

    /// The twin sent a 429/5xx (or dropped the reply) at `now` for attempt `attempt`
    /// of `op`, with `advice` on when to come back.
    pub fn faulted_reply(&self, op: u64, attempt: u32, now: Duration, advice: Advice) {
        self.grading().faulted_reply(op, attempt, now, advice);
    }

    /// The twin sent a 2xx reply at `now` for attempt `attempt` of `op` in which these
    /// actions failed transiently; `advice` is its `Retry-After`, else `min_backoff`.
    pub fn partial_reply(
        &self,
        op: u64,
        attempt: u32,
        failed: &[[u8; 16]],
        now: Duration,
        advice: Advice,
    ) {
        self.grading()
            .partial_reply(op, attempt, failed, now, advice);
    }

    /// These actions reached the twin in a request, each with its run tag
    /// ([`run_tag`]) if it is one of a run's own.
    pub fn arrived<'a>(
        &self,
        actions: impl IntoIterator<Item = ([u8; 16], Option<&'a str>)>,
        now: Duration,
    ) {
        self.ledger().arrived(actions, now);
    }

    /// Each run's account of its own actions, by run tag.
    pub fn runs(&self) -> BTreeMap<String, RunActions> {
        self.ledger().runs()
    }

    /// Outcomes of a request that was handled: `Ok` applied, `Err(true)` final rejection.
    pub fn outcomes(
        &self,
        results: &[([u8; 16], Result<(), bool>)],
        key: Option<(&str, &str)>,
        now: Duration,
    ) {
        let applied = self.ledger().outcomes(results, key);
        if applied > 0 {
            let mut t = self.timeline.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(i) = t.slot(now) {
                t.applied[i] += applied;
            }
        }
    }

    /// Leave `n` applied webhook effects out of the applied-rate timeline: the
    /// achieved rate is the load's, not the handler's follow-up work.
    pub fn effects_applied(&self, n: u32, now: Duration) {
        if n == 0 {
            return;
        }
        let mut t = self.timeline.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = t.slot(now) {
            t.applied[i] = t.applied[i].saturating_sub(n);
        }
    }

    pub fn replayed(&self) {
        self.ledger().replayed();
    }

    pub fn key_mismatch(&self) {
        self.ledger().key_mismatch();
    }

    pub fn actions(&self) -> ActionCounts {
        self.ledger().counts()
    }

    pub fn backoff(&self) -> BackoffGrade {
        self.grading().grade_view()
    }

    /// The backoff histograms themselves, for callers that merge them.
    pub fn backoff_histograms(&self) -> [(&'static str, Histogram<u64>); 4] {
        let b = self.grading();
        [
            ("gap", b.gap.clone()),
            ("advised", b.advised.clone()),
            ("over_advice", b.over_advice.clone()),
            ("early_by", b.early_by.clone()),
        ]
    }

    /// Applied actions per second over `[from, to)` of twin time (None: nothing kept).
    pub fn applied_rate(&self, from: Duration, to: Duration) -> Option<f64> {
        let t = self.timeline.lock().unwrap_or_else(|e| e.into_inner());
        let r = t.range(from, to);
        if r.is_empty() {
            return None;
        }
        let n: u64 = t.applied.range(r.clone()).map(|v| u64::from(*v)).sum();
        Some(n as f64 / (r.len() as f64 * BUCKET.as_secs_f64()))
    }

    /// Bursts after each closed window `(rule, start, end)`.
    pub fn bursts(&self, windows: &[(String, Duration, Duration)], now: Duration) -> Vec<Burst> {
        let t = self.timeline.lock().unwrap_or_else(|e| e.into_inner());
        windows
            .iter()
            .filter_map(|(rule, start, end)| {
                let before = t.range(start.saturating_sub(STEADY_SPAN), *start);
                // Buckets wholly after the window: the one it ends in is partly inside.
                let after_start = *end + BUCKET;
                let after = t.range(after_start, (*end + BURST_SPAN).min(now));
                if after.is_empty() {
                    return None;
                }
                let steady = if before.is_empty() {
                    0.0
                } else {
                    t.requests
                        .range(before.clone())
                        .map(|v| f64::from(*v))
                        .sum::<f64>()
                        / before.len() as f64
                };
                let peak = t.requests.range(after).copied().max().unwrap_or(0);
                Some(Burst {
                    rule: rule.clone(),
                    window_start_ms: start.as_millis() as u64,
                    window_end_ms: end.as_millis() as u64,
                    steady_per_100ms: steady,
                    peak_per_100ms: peak,
                    ratio: if steady > 0.0 {
                        f64::from(peak) / steady
                    } else {
                        0.0
                    },
                })
            })
            .collect()
    }

    pub fn view(&self, windows: &[(String, Duration, Duration)], now: Duration) -> OracleView {
        // One lock for the ledger's three accounts, so they agree with each other.
        let (actions, idempotency, runs, run_seconds) = {
            let l = self.ledger();
            (l.counts(), l.keys(), l.runs(), l.seconds())
        };
        OracleView {
            effects: self.effects.counts(),
            actions,
            idempotency,
            backoff: self.backoff(),
            bursts: self.bursts(windows, now),
            runs,
            run_seconds,
        }
    }

    pub fn reset(&self) {
        *self.ledger() = Ledger::default();
        *self.grading() = Backoff::default();
        *self.timeline.lock().unwrap_or_else(|e| e.into_inner()) = Timeline::default();
        self.effects.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn ledger_classifies_each_action() {
        let o = Oracle::new();
        let (once, twice, lost, rejected) = ([1; 16], [2; 16], [3; 16], [4; 16]);
        o.arrived([once, twice, lost, rejected].map(|fp| (fp, None)), S(0));
        o.outcomes(
            &[
                (once, Ok(())),
                (twice, Ok(())),
                (lost, Err(false)),
                (rejected, Err(true)),
            ],
            None,
            S(0),
        );
        o.outcomes(&[(twice, Ok(()))], None, S(1));
        let c = o.actions();
        assert_eq!(
            (
                c.exactly_once,
                c.duplicated,
                c.extra_applies,
                c.lost,
                c.rejected
            ),
            (1, 1, 1, 1, 1)
        );
    }

    #[test]
    fn an_early_retry_is_counted_and_a_patient_one_is_not() {
        let o = Oracle::new();
        let (a, b) = (1, 2);
        for op in [a, b] {
            let attempt = o.arrival(op, &[], S(900));
            o.faulted_reply(op, attempt, S(1000), Advice::RetryAfter(S(1000)));
        }
        o.arrival(a, &[], S(1200));
        o.arrival(b, &[], S(2500));
        let g = o.backoff();
        assert_eq!((g.retries, g.early), (2, 1));
        assert!((g.early_by.max_ms - 800.0).abs() < 1.0, "{:?}", g.early_by);
    }

    #[test]
    fn a_synchronized_retry_storm_shows_as_a_burst() {
        let o = Oracle::new();
        for ms in (0..10_000).step_by(100) {
            o.arrival(ms, &[], S(ms));
        }
        for _ in 0..30 {
            o.arrival(7, &[], S(12_150));
        }
        let b = o.bursts(&[("outage".into(), S(10_000), S(12_000))], S(15_000));
        assert_eq!(b[0].peak_per_100ms, 30);
        assert!((b[0].ratio - 30.0).abs() < 1e-9);
    }
}
