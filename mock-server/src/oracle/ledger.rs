//! The exactly-once ledger: per action fingerprint, how often it arrived and how often
//! it was applied; per idempotency key, how often its request was applied.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Clone, Copy)]
struct Entry {
    arrived: u32,
    applied: u32,
    rejected: bool,
}

/// The ledger's state (behind the oracle's lock).
#[derive(Debug, Default)]
pub(super) struct Ledger {
    actions: HashMap<[u8; 16], Entry>,
    keys: HashMap<(String, String), u32>,
    replays: u64,
    key_mismatches: u64,
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

impl Ledger {
    pub(super) fn arrived(&mut self, fingerprints: &[[u8; 16]]) {
        for fp in fingerprints {
            self.actions.entry(*fp).or_default().arrived += 1;
        }
    }

    /// Book the outcomes of a handled request; returns how many actions were applied.
    pub(super) fn outcomes(
        &mut self,
        results: &[([u8; 16], Result<(), bool>)],
        key: Option<(&str, &str)>,
    ) -> u32 {
        let mut applied = 0;
        for (fp, r) in results {
            let e = self.actions.entry(*fp).or_default();
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
            *self
                .keys
                .entry((org.to_string(), k.to_string()))
                .or_default() += 1;
        }
        applied
    }

    pub(super) fn replayed(&mut self) {
        self.replays += 1;
    }

    pub(super) fn key_mismatch(&mut self) {
        self.key_mismatches += 1;
    }

    pub(super) fn counts(&self) -> ActionCounts {
        let mut c = ActionCounts {
            distinct: self.actions.len() as u64,
            ..Default::default()
        };
        for e in self.actions.values() {
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

    pub(super) fn keys(&self) -> KeyCounts {
        KeyCounts {
            keys: self.keys.len() as u64,
            applied_twice: self.keys.values().filter(|n| **n > 1).count() as u64,
            replays: self.replays,
            mismatches: self.key_mismatches,
        }
    }
}
