//! The effects ledger: for each event that demands a business effect, whether it was
//! delivered and how many effects the receiver performed; and, per delivery, what a
//! correct receiver would have refused (bad signature, stale timestamp) but did not.
//!
//! For chain events (Boson) an entry also has a height (the block its event is in):
//! it is due only once that height is confirmed, a reorg can remove it (and bring
//! it back), and the receiver may reverse an effect (a compensating effect). The
//! net effect is effects minus reversals: exactly once is a net of 1 on a live
//! event and never more than 1 at any time; a net above 0 on a removed event is an
//! orphan.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::{Percentiles, histogram, record};

/// The payload field that marks an action as the effect of an event: an applied
/// action carrying it counts as an effect for the business key it names, and is
/// none of a run's own actions ([`super::run_tag`]).
pub const EFFECT_FIELD: &str = "effect_of";
/// How long a receiver has to answer (docs/design.md).
pub const ANSWER_LIMIT: Duration = Duration::from_secs(5);
/// How long an event raised at a time ([`Effects::expect`]) is kept one by one;
/// then its account is final and it is retired into counts (one still not
/// delivered is booked undelivered). Past the whole delivery schedule (about 11
/// minutes of retries); a day's soak keeps only the last 13 minutes of events,
/// and a half-hour soak's are all kept before its judged second half.
pub const RETIRE_AFTER: Duration = Duration::from_secs(13 * 60);

#[derive(Debug, Default, Clone, Copy)]
struct Entry {
    delivered: bool,
    effects: u32,
    /// Compensating effects.
    reversals: u32,
    /// The highest net effect ever reached (above 1 is a duplicate, even if later
    /// reversed).
    peak: u32,
    /// Set while a reorg has removed the event (Boson); a net effect then is an
    /// orphan.
    removed: bool,
    /// The block the event is in; `None` is due at once.
    height: Option<u64>,
}

impl Entry {
    fn net(&self) -> u32 {
        self.effects.saturating_sub(self.reversals)
    }
}

#[derive(Debug)]
struct State {
    entries: HashMap<String, Entry>,
    /// Events raised at a time, oldest first, for retiring them by age.
    order: VecDeque<(Duration, String)>,
    /// What the retired entries came to.
    retired: EffectCounts,
    unexpected_effects: u64,
    premature: u64,
    reversals: u64,
    deliveries: u64,
    failed_deliveries: u64,
    accepted_bad_signature: u64,
    accepted_stale_timestamp: u64,
    slow_answers: u64,
    deactivations: u64,
    handler_latency: Histogram<u64>,
    delivery_lag: Histogram<u64>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
            retired: EffectCounts::default(),
            unexpected_effects: 0,
            premature: 0,
            reversals: 0,
            deliveries: 0,
            failed_deliveries: 0,
            accepted_bad_signature: 0,
            accepted_stale_timestamp: 0,
            slow_answers: 0,
            deactivations: 0,
            handler_latency: histogram(),
            delivery_lag: histogram(),
        }
    }
}

/// The ledger.
#[derive(Debug, Default)]
pub struct Effects {
    state: Mutex<State>,
}

/// The ledger's account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EffectCounts {
    /// Events that demand an effect.
    pub expected: u64,
    /// Of those, delivered with a 2xx at least once.
    pub delivered: u64,
    pub exactly_once: u64,
    /// Delivered, acknowledged, and no effect followed.
    pub lost: u64,
    /// More than one effect for one business key (at any time, for chain events).
    pub duplicated: u64,
    /// An effect for an event a reorg removed, never reversed.
    pub orphan: u64,
    /// Chain events not yet confirmed and not acted on: not due yet.
    #[serde(default)]
    pub pending: u64,
    /// Chain events a reorg removed, with no effect left standing.
    #[serde(default)]
    pub removed: u64,
    /// Effects performed for a chain event before it had the confirmations asked for.
    #[serde(default)]
    pub unconfirmed: u64,
    /// Compensating effects (reversals) received.
    #[serde(default)]
    pub reversed: u64,
    /// Never delivered with a 2xx (the receiver kept failing, or its webhook was off).
    pub undelivered: u64,
    /// Effects naming a business key no event demanded.
    pub unexpected: u64,
    pub deliveries: u64,
    pub failed_deliveries: u64,
    /// Deliveries with a wrong signature (bad key, old secret, body-only) answered 2xx.
    pub accepted_bad_signature: u64,
    /// Deliveries with a stale or future timestamp answered 2xx.
    pub accepted_stale_timestamp: u64,
    /// Answers that took longer than 5 s (or never came).
    pub slow_answers: u64,
    pub deactivations: u64,
    pub handler_latency: Option<Percentiles>,
    /// From the event to its first acknowledged delivery.
    pub delivery_lag: Option<Percentiles>,
}

/// What a signature fault on a delivery was, for grading the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forgery {
    None,
    Signature,
    Timestamp,
}

/// One entry's share of an account; `due`: its event is confirmed (or needs no
/// confirmation).
fn book(c: &mut EffectCounts, e: &Entry, due: bool) {
    if e.delivered {
        c.delivered += 1;
    }
    match (e.net(), e.delivered) {
        _ if e.peak > 1 => c.duplicated += 1,
        (0, _) if e.removed => c.removed += 1,
        _ if e.removed => c.orphan += 1,
        (0, _) if !due => c.pending += 1,
        (0, true) => c.lost += 1,
        (0, false) => c.undelivered += 1,
        (1, _) => c.exactly_once += 1,
        _ => c.duplicated += 1,
    }
}

impl State {
    /// Retire the events raised before `t`: their accounts are final.
    fn retire_before(&mut self, t: Duration) {
        while self.order.front().is_some_and(|(at, _)| *at < t) {
            let Some((_, key)) = self.order.pop_front() else {
                break;
            };
            if let Some(e) = self.entries.remove(&key) {
                self.retired.expected += 1;
                book(&mut self.retired, &e, true);
            }
        }
    }
}

impl Effects {
    /// An event demanding the effect `key` was raised at twin time `now`. Events
    /// raised more than [`RETIRE_AFTER`] before `now` are retired into counts.
    pub fn expect(&self, key: &str, now: Duration) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.retire_before(now.saturating_sub(RETIRE_AFTER));
        if !s.entries.contains_key(key) {
            s.entries.insert(key.to_string(), Entry::default());
            s.order.push_back((now, key.to_string()));
        }
    }

    /// A delivery was answered (`None`: no answer in time) after `took`.
    pub fn answered(
        &self,
        key: Option<&str>,
        ok: Option<bool>,
        took: Duration,
        forgery: Forgery,
        lag: Duration,
    ) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.deliveries += 1;
        record(&mut s.handler_latency, took);
        if ok.is_none() || took > ANSWER_LIMIT {
            s.slow_answers += 1;
        }
        let ok = ok.unwrap_or(false);
        if !ok {
            s.failed_deliveries += 1;
            return;
        }
        match forgery {
            Forgery::Signature => s.accepted_bad_signature += 1,
            Forgery::Timestamp => s.accepted_stale_timestamp += 1,
            Forgery::None => {
                if let Some(k) = key
                    && let Some(e) = s.entries.get_mut(k)
                    && !e.delivered
                {
                    e.delivered = true;
                    record(&mut s.delivery_lag, lag);
                }
            }
        }
    }

    /// The receiver performed the effect `key`.
    pub fn effect(&self, key: &str) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match s.entries.get_mut(key) {
            Some(e) => {
                e.effects += 1;
                e.peak = e.peak.max(e.net());
            }
            None => s.unexpected_effects += 1,
        }
    }

    /// A chain event demanding the effect `key` is (again) on the canonical chain,
    /// in block `height`.
    pub fn expect_at(&self, key: &str, height: u64) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let e = s.entries.entry(key.to_string()).or_default();
        e.removed = false;
        e.height = Some(height);
    }

    /// A reorg removed the event of `key`.
    pub fn removed(&self, key: &str) {
        if let Some(e) = self
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entries
            .get_mut(key)
        {
            e.removed = true;
        }
    }

    /// The receiver reversed an effect of `key` (a compensating effect).
    pub fn reverse(&self, key: &str) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match s.entries.get_mut(key) {
            Some(e) if e.net() > 0 => {
                e.reversals += 1;
                s.reversals += 1;
            }
            // Reversing what was never done is an effect nobody asked for.
            _ => s.unexpected_effects += 1,
        }
    }

    /// The block the event of `key` is in, if it is a chain event.
    pub fn height(&self, key: &str) -> Option<u64> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entries
            .get(key)
            .and_then(|e| e.height)
    }

    /// An effect came before its event had the confirmations asked for.
    pub fn premature(&self) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .premature += 1;
    }

    pub fn deactivated(&self) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .deactivations += 1;
    }

    /// The account, every event due.
    pub fn counts(&self) -> EffectCounts {
        self.counts_at(u64::MAX)
    }

    /// The account with chain events above height `confirmed` not due yet.
    pub fn counts_at(&self, confirmed: u64) -> EffectCounts {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let r = &s.retired;
        let mut c = EffectCounts {
            expected: s.entries.len() as u64 + r.expected,
            delivered: r.delivered,
            exactly_once: r.exactly_once,
            lost: r.lost,
            duplicated: r.duplicated,
            orphan: r.orphan,
            removed: r.removed,
            undelivered: r.undelivered,
            unexpected: s.unexpected_effects,
            unconfirmed: s.premature,
            reversed: s.reversals,
            deliveries: s.deliveries,
            failed_deliveries: s.failed_deliveries,
            accepted_bad_signature: s.accepted_bad_signature,
            accepted_stale_timestamp: s.accepted_stale_timestamp,
            slow_answers: s.slow_answers,
            deactivations: s.deactivations,
            handler_latency: (!s.handler_latency.is_empty())
                .then(|| Percentiles::of(&s.handler_latency)),
            delivery_lag: (!s.delivery_lag.is_empty()).then(|| Percentiles::of(&s.delivery_lag)),
            ..Default::default()
        };
        for e in s.entries.values() {
            book(&mut c, e, e.height.is_none_or(|h| h <= confirmed));
        }
        c
    }

    pub fn reset(&self) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = State::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Events older than [`RETIRE_AFTER`] are retired into counts: the account
    /// is the same before and after, and only the recent events are kept.
    #[test]
    fn old_events_retire_into_the_same_account() {
        let fx = Effects::default();
        let t = Duration::from_secs;
        let ok = |key| fx.answered(Some(key), Some(true), t(0), Forgery::None, t(0));
        for key in ["once", "twice", "lost", "undelivered"] {
            fx.expect(key, t(1));
        }
        for key in ["once", "twice", "lost"] {
            ok(key);
        }
        fx.effect("once");
        fx.effect("twice");
        fx.effect("twice");
        let before = fx.counts();
        assert_eq!(
            (
                before.exactly_once,
                before.duplicated,
                before.lost,
                before.undelivered
            ),
            (1, 1, 1, 1),
            "{before:?}"
        );
        fx.expect_at("chain", 7);
        fx.expect("almost", RETIRE_AFTER);
        assert_eq!(
            fx.state.lock().expect("effects lock").entries.len(),
            6,
            "none is old enough yet"
        );
        fx.expect("late", RETIRE_AFTER + t(2));
        let after = fx.counts();
        let kept = fx.state.lock().expect("effects lock").entries.len();
        assert_eq!(kept, 3, "the chain event (never retired), almost and late");
        assert_eq!(after.expected, 7);
        assert_eq!(
            (
                after.exactly_once,
                after.duplicated,
                after.lost,
                after.undelivered
            ),
            (1, 1, 1, 4),
            "{after:?}"
        );
        assert_eq!(after.delivered, before.delivered);
        // An effect for a retired event is one nobody is waiting for.
        fx.effect("once");
        assert_eq!(fx.counts().unexpected, 1);
    }
}
