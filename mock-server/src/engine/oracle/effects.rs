//! The effects ledger: for each event that demands a business effect, whether it was
//! delivered and how many effects the receiver performed; and, per delivery, what a
//! correct receiver would have refused (bad signature, stale timestamp) but did not.

use std::collections::HashMap;
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

#[derive(Debug, Default, Clone, Copy)]
struct Entry {
    delivered: bool,
    effects: u32,
    /// Set when a reorg removed the event (Boson); an effect then is an orphan
    /// unless reversed.
    removed: bool,
    reversed: bool,
}

#[derive(Debug)]
struct State {
    entries: HashMap<String, Entry>,
    unexpected_effects: u64,
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
            unexpected_effects: 0,
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
    /// More than one effect for one business key.
    pub duplicated: u64,
    /// An effect for an event a reorg removed, never reversed.
    pub orphan: u64,
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

impl Effects {
    /// An event demanding the effect `key` was raised.
    pub fn expect(&self, key: &str) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entries
            .entry(key.to_string())
            .or_default();
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
            Some(e) => e.effects += 1,
            None => s.unexpected_effects += 1,
        }
    }

    pub fn deactivated(&self) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .deactivations += 1;
    }

    pub fn counts(&self) -> EffectCounts {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut c = EffectCounts {
            expected: s.entries.len() as u64,
            unexpected: s.unexpected_effects,
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
            if e.delivered {
                c.delivered += 1;
            }
            match (e.effects, e.delivered) {
                (_, _) if e.removed && e.effects > 0 && !e.reversed => c.orphan += 1,
                (0, true) => c.lost += 1,
                (0, false) => c.undelivered += 1,
                (1, _) => c.exactly_once += 1,
                _ => c.duplicated += 1,
            }
        }
        c
    }

    pub fn reset(&self) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = State::default();
    }
}
