//! The oracle: an exact account of what the twin applied, and a server-side grade of
//! any client's backoff.
//!
//! - **Ledger**: per action fingerprint, how often it arrived and how often it was
//!   applied; per idempotency key, how often its request was applied. Lost = arrived,
//!   never applied, never finally rejected; duplicated = applied more than once.
//! - **Backoff**: for every 429/5xx/dropped reply, the advised wait and the gap until
//!   the same operation (same idempotency key, else same client and route) came back.
//! - **Timeline**: arrivals and applied actions per 100 ms, for retry bursts after a
//!   fault window and for the achieved rate.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;

pub mod effects;
mod timeline;
use serde::{Deserialize, Serialize};
use timeline::Timeline;

pub use timeline::{BUCKET, TIMELINE_BUCKETS};
/// Operations waiting for their retry; past this the oldest are forgotten.
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

#[derive(Debug, Default, Clone, Copy)]
struct LedgerEntry {
    arrived: u32,
    applied: u32,
    rejected: bool,
}

#[derive(Debug, Default)]
struct Ledger {
    actions: HashMap<[u8; 16], LedgerEntry>,
    keys: HashMap<(String, String), u32>,
    replays: u64,
    key_mismatches: u64,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    sent_at: Duration,
    advised: Duration,
}

#[derive(Debug)]
struct Backoff {
    pending: HashMap<String, Pending>,
    order: VecDeque<String>,
    faulted_replies: u64,
    retries: u64,
    early: u64,
    gap: Histogram<u64>,
    advised: Histogram<u64>,
    over_advice: Histogram<u64>,
    early_by: Histogram<u64>,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            pending: HashMap::new(),
            order: VecDeque::new(),
            faulted_replies: 0,
            retries: 0,
            early: 0,
            gap: histogram(),
            advised: histogram(),
            over_advice: histogram(),
            early_by: histogram(),
        }
    }
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

/// The ledger's verdict on actions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, schemars::JsonSchema)]
pub struct ActionCounts {
    /// Distinct actions that reached the twin.
    pub distinct: u64,
    /// Applies in total (a duplicate counts each time).
    pub applies: u64,
    pub exactly_once: u64,
    /// Actions applied more than once.
    pub duplicated: u64,
    /// Applies beyond the first, summed over duplicated actions.
    pub extra_applies: u64,
    /// Arrived, never applied, not finally rejected.
    pub lost: u64,
    /// Refused with a final 4xx (not due).
    pub rejected: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, schemars::JsonSchema)]
pub struct KeyCounts {
    /// Idempotency keys whose request was applied.
    pub keys: u64,
    /// Keys applied more than once (a stored reply expired and the key came back).
    pub applied_twice: u64,
    /// Requests answered from a stored reply.
    pub replays: u64,
    /// Keys reused with another body (answered 422).
    pub mismatches: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct BackoffGrade {
    /// 429/5xx/dropped replies sent.
    pub faulted_replies: u64,
    /// Retries observed after one of those.
    pub retries: u64,
    /// Retries sooner than the advised wait.
    pub early: u64,
    pub gap: Percentiles,
    pub advised: Percentiles,
    /// How much later than advised the on-time retries came.
    pub over_advice: Percentiles,
    /// How much sooner than advised the early retries came.
    pub early_by: Percentiles,
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

    /// A request arrived (any API route): the timeline counts it, and if the same
    /// operation had a faulted reply, the gap is graded.
    pub fn arrival(&self, op: &str, now: Duration) {
        {
            let mut t = self.timeline.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(i) = t.slot(now) {
                t.requests[i] += 1;
            }
        }
        let mut b = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        let Some(p) = b.pending.remove(op) else {
            return;
        };
        let gap = now.saturating_sub(p.sent_at);
        b.retries += 1;
        record(&mut b.gap, gap);
        if p.advised.is_zero() {
            return;
        }
        record(&mut b.advised, p.advised);
        if gap < p.advised {
            b.early += 1;
            record(&mut b.early_by, p.advised - gap);
        } else {
            record(&mut b.over_advice, gap - p.advised);
        }
    }

    /// The twin sent a 429/5xx (or dropped the reply) for `op` at `now`, advising
    /// `advised` before a retry (zero: no advice).
    pub fn faulted_reply(&self, op: &str, now: Duration, advised: Duration) {
        let mut b = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        b.faulted_replies += 1;
        if b.pending
            .insert(
                op.to_string(),
                Pending {
                    sent_at: now,
                    advised,
                },
            )
            .is_none()
        {
            b.order.push_back(op.to_string());
        }
        while b.pending.len() > PENDING_CAPACITY {
            match b.order.pop_front() {
                Some(old) => {
                    b.pending.remove(&old);
                }
                None => break,
            }
        }
        if b.order.len() > 2 * PENDING_CAPACITY {
            let Backoff { order, pending, .. } = &mut *b;
            order.retain(|k| pending.contains_key(k));
        }
    }

    /// These actions reached the twin in a request.
    pub fn arrived(&self, fingerprints: &[[u8; 16]]) {
        let mut l = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        for fp in fingerprints {
            l.actions.entry(*fp).or_default().arrived += 1;
        }
    }

    /// Outcomes of a request that was handled: `Ok` applied, `Err(true)` final rejection.
    pub fn outcomes(
        &self,
        results: &[([u8; 16], Result<(), bool>)],
        key: Option<(&str, &str)>,
        now: Duration,
    ) {
        let mut l = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        let mut applied = 0;
        for (fp, r) in results {
            let e = l.actions.entry(*fp).or_default();
            match r {
                Ok(()) => {
                    e.applied += 1;
                    applied += 1;
                }
                Err(true) => e.rejected = true,
                Err(false) => {}
            }
        }
        if applied > 0
            && let Some((org, k)) = key
        {
            *l.keys.entry((org.to_string(), k.to_string())).or_default() += 1;
        }
        drop(l);
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
        self.ledger
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replays += 1;
    }

    pub fn key_mismatch(&self) {
        self.ledger
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .key_mismatches += 1;
    }

    pub fn actions(&self) -> ActionCounts {
        let l = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        let mut c = ActionCounts {
            distinct: l.actions.len() as u64,
            ..Default::default()
        };
        for e in l.actions.values() {
            c.applies += u64::from(e.applied);
            match e.applied {
                0 if e.rejected => c.rejected += 1,
                0 => c.lost += 1,
                1 => c.exactly_once += 1,
                n => {
                    c.duplicated += 1;
                    c.extra_applies += u64::from(n - 1);
                }
            }
        }
        c
    }

    fn keys(&self) -> KeyCounts {
        let l = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        KeyCounts {
            keys: l.keys.len() as u64,
            applied_twice: l.keys.values().filter(|n| **n > 1).count() as u64,
            replays: l.replays,
            mismatches: l.key_mismatches,
        }
    }

    pub fn backoff(&self) -> BackoffGrade {
        let b = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        BackoffGrade {
            faulted_replies: b.faulted_replies,
            retries: b.retries,
            early: b.early,
            gap: Percentiles::of(&b.gap),
            advised: Percentiles::of(&b.advised),
            over_advice: Percentiles::of(&b.over_advice),
            early_by: Percentiles::of(&b.early_by),
        }
    }

    /// The backoff histograms themselves, for callers that merge them.
    pub fn backoff_histograms(&self) -> [(&'static str, Histogram<u64>); 4] {
        let b = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
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
        OracleView {
            effects: self.effects.counts(),
            actions: self.actions(),
            idempotency: self.keys(),
            backoff: self.backoff(),
            bursts: self.bursts(windows, now),
        }
    }

    pub fn reset(&self) {
        *self.ledger.lock().unwrap_or_else(|e| e.into_inner()) = Ledger::default();
        *self.backoff.lock().unwrap_or_else(|e| e.into_inner()) = Backoff::default();
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
        o.arrived(&[once, twice, lost, rejected]);
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
        o.faulted_reply("a", S(1000), S(1000));
        o.arrival("a", S(1200));
        o.faulted_reply("b", S(1000), S(1000));
        o.arrival("b", S(2500));
        let g = o.backoff();
        assert_eq!((g.retries, g.early), (2, 1));
        assert!((g.early_by.max_ms - 800.0).abs() < 1.0, "{:?}", g.early_by);
    }

    #[test]
    fn a_synchronized_retry_storm_shows_as_a_burst() {
        let o = Oracle::new();
        for ms in (0..10_000).step_by(100) {
            o.arrival("x", S(ms));
        }
        for _ in 0..30 {
            o.arrival("x", S(12_150));
        }
        let b = o.bursts(&[("outage".into(), S(10_000), S(12_000))], S(15_000));
        assert_eq!(b[0].peak_per_100ms, 30);
        assert!((b[0].ratio - 30.0).abs() < 1e-9);
    }
}
