//! Server-side grading of any client's backoff: for every faulted reply, what the
//! client was told (or, told nothing, the least it should wait) and when the same
//! operation came back.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

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
    /// Retries observed after one of those.
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
    /// From the faulted reply to the retry, every retry.
    pub gap: Percentiles,
    /// The advice given (`Retry-After` or the rate-limit reset), advised retries only.
    pub advised: Percentiles,
    /// How much later than advised the on-time advised retries came.
    pub over_advice: Percentiles,
    /// How much sooner than their graded wait the early retries came.
    pub early_by: Percentiles,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    sent_at: Duration,
    advice: Advice,
}

/// The grading state (behind the oracle's lock).
#[derive(Debug)]
pub(super) struct Backoff {
    pending: HashMap<String, Pending>,
    order: VecDeque<String>,
    faulted_replies: u64,
    retries: u64,
    retries_unadvised: u64,
    early: u64,
    early_unadvised: u64,
    pub(super) gap: Histogram<u64>,
    pub(super) advised: Histogram<u64>,
    pub(super) over_advice: Histogram<u64>,
    pub(super) early_by: Histogram<u64>,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            pending: HashMap::new(),
            order: VecDeque::new(),
            faulted_replies: 0,
            retries: 0,
            retries_unadvised: 0,
            early: 0,
            early_unadvised: 0,
            gap: histogram(),
            advised: histogram(),
            over_advice: histogram(),
            early_by: histogram(),
        }
    }
}

impl Backoff {
    /// The operation `op` arrived at `now`: if a faulted reply is waiting for its
    /// retry, grade the gap.
    pub(super) fn arrival(&mut self, op: &str, now: Duration) {
        let Some(p) = self.pending.remove(op) else {
            return;
        };
        self.grade(p, now);
    }

    fn grade(&mut self, p: Pending, now: Duration) {
        let gap = now.saturating_sub(p.sent_at);
        let wait = p.advice.wait();
        self.retries += 1;
        record(&mut self.gap, gap);
        if p.advice.advised() {
            record(&mut self.advised, wait);
        } else {
            self.retries_unadvised += 1;
            if wait.is_zero() {
                return;
            }
        }
        if gap < wait {
            self.early += 1;
            if !p.advice.advised() {
                self.early_unadvised += 1;
            }
            record(&mut self.early_by, wait - gap);
        } else if p.advice.advised() {
            record(&mut self.over_advice, gap - wait);
        }
    }

    /// A faulted reply for `op` went out at `now` with `advice`.
    pub(super) fn faulted_reply(&mut self, op: &str, now: Duration, advice: Advice) {
        self.faulted_replies += 1;
        let p = Pending {
            sent_at: now,
            advice,
        };
        if self.pending.insert(op.to_string(), p).is_none() {
            self.order.push_back(op.to_string());
        }
        while self.pending.len() > PENDING_CAPACITY {
            match self.order.pop_front() {
                Some(old) => {
                    self.pending.remove(&old);
                }
                None => break,
            }
        }
        if self.order.len() > 2 * PENDING_CAPACITY {
            let Backoff { order, pending, .. } = self;
            order.retain(|k| pending.contains_key(k));
        }
    }

    pub(super) fn grade_view(&self) -> BackoffGrade {
        BackoffGrade {
            faulted_replies: self.faulted_replies,
            retries: self.retries,
            early: self.early,
            early_unadvised: self.early_unadvised,
            retries_unadvised: self.retries_unadvised,
            gap: Percentiles::of(&self.gap),
            advised: Percentiles::of(&self.advised),
            over_advice: Percentiles::of(&self.over_advice),
            early_by: Percentiles::of(&self.early_by),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;
    const FLOOR: Advice = Advice::Unadvised(Duration::from_millis(500));

    #[test]
    fn an_unadvised_retry_sooner_than_the_floor_is_early() {
        let mut b = Backoff::default();
        b.faulted_reply("hasty", MS(1000), FLOOR);
        b.arrival("hasty", MS(1010));
        b.faulted_reply("patient", MS(1000), FLOOR);
        b.arrival("patient", MS(1600));
        let g = b.grade_view();
        assert_eq!(
            (g.retries, g.retries_unadvised, g.early, g.early_unadvised),
            (2, 2, 1, 1)
        );
        assert_eq!(g.advised.count, 0, "the floor is not advice");
        assert_eq!(
            g.over_advice.count, 0,
            "lateness is measured against advice"
        );
    }

    #[test]
    fn a_rate_limit_reset_is_advice() {
        let mut b = Backoff::default();
        b.faulted_reply("a", MS(0), Advice::RateLimitReset(MS(3000)));
        b.arrival("a", MS(1000));
        let g = b.grade_view();
        assert_eq!((g.early, g.early_unadvised, g.retries_unadvised), (1, 0, 0));
        assert!((g.early_by.max_ms - 2000.0).abs() < 5.0, "{:?}", g.early_by);
    }

    #[test]
    fn a_zero_floor_grades_nothing_unadvised() {
        let mut b = Backoff::default();
        b.faulted_reply("a", MS(0), Advice::Unadvised(Duration::ZERO));
        b.arrival("a", MS(1));
        let g = b.grade_view();
        assert_eq!((g.retries, g.retries_unadvised, g.early), (1, 1, 0));
    }
}
