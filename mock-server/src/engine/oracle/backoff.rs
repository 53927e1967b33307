//! Server-side grading of any client's backoff: for every faulted reply, what the
//! client was told (or, told nothing, the least it should wait) and when the same
//! operation came back.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::spread::{Spread, Spreads};
use super::{PENDING_CAPACITY, Percentiles, histogram, record};

/// What a faulted reply told the client about when to come back, and so what its
/// retry is graded against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advice {
    /// `Retry-After`: wait this long.
    RetryAfter(Duration),
    /// A 429 without `Retry-After` but with `X-RateLimit-Reset`: the reset is this far
    /// from the reply.
    RateLimitReset(Duration),
    /// Nothing (a 5xx without `Retry-After`, a reset or dropped connection, a hang the
    /// twin caused): graded against the twin's `min_backoff`, carried here.
    Unadvised(Duration),
}

impl Advice {
    /// The wait a retry is graded against.
    pub fn wait(&self) -> Duration {
        match *self {
            Advice::RetryAfter(d) | Advice::RateLimitReset(d) | Advice::Unadvised(d) => d,
        }
    }

    /// The reply said when to come back (a header), rather than the twin's floor.
    pub fn advised(&self) -> bool {
        !matches!(self, Advice::Unadvised(_))
    }
}

/// The backoff grade, as `GET /_gauntlet/oracle` reports it under `backoff`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct BackoffGrade {
    /// 429/5xx/dropped replies sent.
    pub faulted_replies: u64,
    /// 2xx batch replies with transient per-action failures: the next request that
    /// carries any of those actions (by fingerprint, whatever its body or key) is
    /// their retry, graded against the reply's `Retry-After`, else `min_backoff`.
    #[serde(default)]
    pub partial_replies: u64,
    /// Faulted or partial replies sent after a later attempt of the same operation
    /// had already arrived (the client gave up on that attempt and retried): they
    /// grade nothing, so a late reply never makes the retries that followed early.
    #[serde(default)]
    pub late_replies: u64,
    /// Retries observed after a faulted or partial reply: the next attempt of the
    /// same operation (same credential, method, path and body, whatever the
    /// idempotency key), or a request resubmitting actions that failed transiently.
    pub retries: u64,
    /// Retries sooner than the wait they are graded against: the advice
    /// (`Retry-After`, else on a 429 `X-RateLimit-Reset`), else the twin's
    /// `min_backoff`.
    pub early: u64,
    /// Of `early`, those after a reply that advised nothing (graded against
    /// `min_backoff`): a client that backs off only when told to.
    #[serde(default)]
    pub early_unadvised: u64,
    /// Of `retries`, those after a reply that advised nothing; with
    /// `early_unadvised`, the share of unadvised retries that came back too soon.
    #[serde(default)]
    pub retries_unadvised: u64,
    /// Of `retries`, those recognised only by their actions' fingerprints: a
    /// resubmission of transiently failed actions as a new request (new body).
    #[serde(default)]
    pub retries_linked: u64,
    /// From the faulted reply to the retry, every retry.
    pub gap: Percentiles,
    /// The advice given (`Retry-After` or the rate-limit reset), advised retries only.
    pub advised: Percentiles,
    /// How much later than advised the on-time advised retries came.
    pub over_advice: Percentiles,
    /// How much sooner than their graded wait the early retries came.
    pub early_by: Percentiles,
    /// Jitter as spread: how far apart retries land that were told the same thing at
    /// the same time ([`Spread`]); absent while no group is large enough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<Spread>,
    /// Early retries by the second of twin time they arrived in, keyed by its
    /// middle tenth of a second (only seconds with any, at most 100,000): a long
    /// run's account by window.
    #[serde(default)]
    pub early_seconds: Vec<EarlySecond>,
}

/// Seconds with early retries kept at most (27 hours of a flawed client).
pub(super) const MAX_EARLY_SECONDS: usize = 100_000;
/// An operation not seen for this long is forgotten: the ledger's horizon, which
/// every plan's retry budget must fit inside.
pub(super) const OP_HORIZON: Duration = super::ledger::RETIRE_AFTER;

/// Early retries that arrived in one tenth of a second of twin time.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct EarlySecond {
    /// Twin time in tenths of a second.
    pub tenth: u32,
    pub early: u64,
}

/// A faulted reply waiting for the next attempt of its operation.
#[derive(Debug, Clone, Copy)]
struct Armed {
    sent_at: Duration,
    advice: Advice,
    /// The attempt the reply answered: it grades attempt `attempt + 1` only.
    attempt: u32,
}

impl Armed {
    /// When the retry is due.
    fn due(&self) -> Duration {
        self.sent_at.saturating_add(self.advice.wait())
    }
}

/// What the twin remembers of one operation.
#[derive(Debug, Clone, Copy, Default)]
struct Op {
    /// The attempt number of its latest arrival.
    attempts: u32,
    armed: Option<Armed>,
    /// When it was last seen (a counter), for forgetting the least recent.
    touched: u64,
}

/// The grading state (behind the oracle's lock).
#[derive(Debug)]
pub(super) struct Backoff {
    /// Operations and action fingerprints remembered, each at most this many.
    capacity: usize,
    ops: HashMap<u64, Op, foldhash::fast::RandomState>,
    /// The most operations held so far ([`crate::engine::table::grow_ahead`]).
    ops_high: usize,
    /// Operations by last touch (its tick and twin time), oldest first; stale
    /// entries are skipped.
    op_order: VecDeque<(u64, u64, Duration)>,
    tick: u64,
    /// Fingerprints of actions that failed transiently in a 2xx batch reply.
    fps: HashMap<[u8; 16], Armed, foldhash::fast::RandomState>,
    fp_order: VecDeque<[u8; 16]>,
    faulted_replies: u64,
    partial_replies: u64,
    late_replies: u64,
    retries: u64,
    retries_unadvised: u64,
    retries_linked: u64,
    early: u64,
    early_unadvised: u64,
    /// Early retries by the tenth of a second of twin time they arrived in (bounded).
    early_seconds: BTreeMap<u32, u64>,
    pub(super) gap: Histogram<u64>,
    pub(super) advised: Histogram<u64>,
    pub(super) over_advice: Histogram<u64>,
    pub(super) early_by: Histogram<u64>,
    spreads: Spreads,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::with_capacity(PENDING_CAPACITY)
    }
}

impl Backoff {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            ops: HashMap::default(),
            ops_high: 0,
            op_order: VecDeque::new(),
            tick: 0,
            fps: HashMap::default(),
            fp_order: VecDeque::new(),
            faulted_replies: 0,
            partial_replies: 0,
            late_replies: 0,
            retries: 0,
            retries_unadvised: 0,
            retries_linked: 0,
            early: 0,
            early_unadvised: 0,
            early_seconds: BTreeMap::new(),
            gap: histogram(),
            advised: histogram(),
            over_advice: histogram(),
            early_by: histogram(),
            spreads: Spreads::default(),
        }
    }

    /// Operation `op` arrived at `now`, carrying these action fingerprints; returns
    /// its attempt number. A faulted reply to the previous attempt (or a 2xx reply
    /// whose transient per-action failures these fingerprints resubmit) is graded;
    /// when both apply, the one that asked for the longer wait.
    pub(super) fn arrival(&mut self, op: u64, fingerprints: &[[u8; 16]], now: Duration) -> u32 {
        let prior = self.touch(op, now);
        let by_op = prior.armed;
        let by_fps = self.take_linked(fingerprints);
        // Saturating: a client polling one route with one body is one long operation.
        let next = |n: u32| n.saturating_add(1);
        let attempt = next(prior.attempts).max(by_fps.map_or(0, |a| next(a.attempt)));
        if let Some(o) = self.ops.get_mut(&op) {
            o.attempts = attempt;
            o.armed = None;
        }
        let graded = match (by_op, by_fps) {
            (Some(a), Some(b)) => Some(if b.due() > a.due() { b } else { a }),
            (Some(a), None) => Some(a),
            (None, Some(b)) => {
                self.retries_linked += 1;
                Some(b)
            }
            (None, None) => None,
        };
        if let Some(a) = graded {
            self.grade(a, attempt, now);
        }
        attempt
    }

    /// Remember `op` as just seen at `now`; what was known of it before. An
    /// operation not seen for [`OP_HORIZON`] is forgotten (a later arrival is a
    /// new first attempt: no plan's retries are that far apart), and past the
    /// capacity the least recent goes first.
    fn touch(&mut self, op: u64, now: Duration) -> Op {
        self.tick += 1;
        let tick = self.tick;
        let e = self.ops.entry(op).or_default();
        let prior = *e;
        e.touched = tick;
        self.op_order.push_back((op, tick, now));
        let horizon = now.saturating_sub(OP_HORIZON);
        while let Some(&(old, at, seen)) = self.op_order.front() {
            if self.ops.len() <= self.capacity && seen >= horizon {
                break;
            }
            self.op_order.pop_front();
            if self.ops.get(&old).is_some_and(|o| o.touched == at) {
                self.ops.remove(&old);
            }
        }
        if self.op_order.len() > 2 * self.capacity {
            let Backoff { op_order, ops, .. } = self;
            op_order.retain(|(k, at, _)| ops.get(k).is_some_and(|o| o.touched == *at));
        }
        crate::engine::table::grow_ahead(&mut self.ops, &mut self.ops_high);
        prior
    }

    /// The armed fingerprints among these, taken: the one due last.
    fn take_linked(&mut self, fingerprints: &[[u8; 16]]) -> Option<Armed> {
        if self.fps.is_empty() {
            return None;
        }
        fingerprints
            .iter()
            .filter_map(|fp| self.fps.remove(fp))
            .max_by_key(Armed::due)
    }

    /// Grade attempt `attempt`, arrived at `now`, against the reply `a`.
    fn grade(&mut self, a: Armed, attempt: u32, now: Duration) {
        let gap = now.saturating_sub(a.sent_at);
        let wait = a.advice.wait();
        self.retries += 1;
        record(&mut self.gap, gap);
        if a.advice.advised() {
            record(&mut self.advised, wait);
        } else {
            self.retries_unadvised += 1;
            if wait.is_zero() {
                return;
            }
        }
        self.spreads.add(a.sent_at, a.advice, attempt, now);
        if gap < wait {
            self.early += 1;
            if self.early_seconds.len() < MAX_EARLY_SECONDS {
                // Whole seconds (keyed by their middle tenth): a day and more fits.
                let at = super::ledger::tenths(now) / 10 * 10 + 5;
                *self.early_seconds.entry(at).or_default() += 1;
            }
            if !a.advice.advised() {
                self.early_unadvised += 1;
            }
            record(&mut self.early_by, wait - gap);
        } else if a.advice.advised() {
            record(&mut self.over_advice, gap - wait);
        }
    }

    /// The armed reply for attempt `attempt` of `op`, or None when it came too late
    /// to grade anything (a later attempt already arrived) or `op` is forgotten.
    fn arm(&mut self, op: u64, attempt: u32, now: Duration, advice: Advice) -> Option<Armed> {
        let o = self.ops.get(&op)?;
        if attempt == 0 {
            return None;
        }
        if o.attempts != attempt {
            self.late_replies += 1;
            return None;
        }
        Some(Armed {
            sent_at: now,
            advice,
            attempt,
        })
    }

    /// A 429/5xx/dropped reply to attempt `attempt` of `op` went out at `now`.
    pub(super) fn faulted_reply(&mut self, op: u64, attempt: u32, now: Duration, advice: Advice) {
        self.faulted_replies += 1;
        if let Some(a) = self.arm(op, attempt, now, advice)
            && let Some(o) = self.ops.get_mut(&op)
        {
            o.armed = Some(a);
        }
    }

    /// A 2xx reply to attempt `attempt` of `op` went out at `now` with these actions
    /// failed transiently: the next request that carries any of them is their retry.
    pub(super) fn partial_reply(
        &mut self,
        op: u64,
        attempt: u32,
        failed: &[[u8; 16]],
        now: Duration,
        advice: Advice,
    ) {
        if failed.is_empty() {
            return;
        }
        self.partial_replies += 1;
        let Some(a) = self.arm(op, attempt, now, advice) else {
            return;
        };
        for fp in failed {
            if self.fps.insert(*fp, a).is_none() {
                self.fp_order.push_back(*fp);
            }
        }
        while self.fps.len() > self.capacity {
            let Some(old) = self.fp_order.pop_front() else {
                break;
            };
            self.fps.remove(&old);
        }
        if self.fp_order.len() > 2 * self.capacity {
            let Backoff { fp_order, fps, .. } = self;
            fp_order.retain(|k| fps.contains_key(k));
        }
    }

    pub(super) fn grade_view(&self) -> BackoffGrade {
        BackoffGrade {
            faulted_replies: self.faulted_replies,
            partial_replies: self.partial_replies,
            late_replies: self.late_replies,
            retries: self.retries,
            early: self.early,
            early_unadvised: self.early_unadvised,
            retries_unadvised: self.retries_unadvised,
            retries_linked: self.retries_linked,
            gap: Percentiles::of(&self.gap),
            advised: Percentiles::of(&self.advised),
            over_advice: Percentiles::of(&self.over_advice),
            early_by: Percentiles::of(&self.early_by),
            spread: self.spreads.view(),
            early_seconds: self
                .early_seconds
                .iter()
                .map(|(s, n)| EarlySecond {
                    tenth: *s,
                    early: *n,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests;
