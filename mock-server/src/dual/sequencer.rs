//! Dual's sequencer: applied actions go into batches, batches into checkpoints that
//! are sealed every `interval` or `max_actions`, then sit in a challenge window
//! (optimistic mode) before they are final. Status is derived from the twin clock,
//! so advancing the clock moves checkpoints along.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Serialize;

use super::config::{SequencerConfig, SettlementMode};
use crate::engine::clock::{Clock, rfc3339};

/// Newest checkpoints listed by `GET /checkpoints`.
pub const CHECKPOINT_PAGE: usize = 100;
/// Batches kept for `GET /batches`; older ones are counted, not kept.
pub const BATCH_HISTORY: usize = 10_000;

#[derive(Debug, Clone)]
pub struct Batch {
    pub id: String,
    pub checkpoint: u64,
    pub actions: u32,
    pub first_sequence: u64,
    pub created_at: Duration,
}

#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub number: u64,
    pub opened_at: Duration,
    pub sealed_at: Option<Duration>,
    pub actions: u64,
    pub batches: u64,
}

/// The sequencer's books.
#[derive(Debug)]
pub struct Sequencer {
    cfg: SequencerConfig,
    next_sequence: u64,
    next_batch: u64,
    batches: VecDeque<Batch>,
    checkpoints: Vec<Checkpoint>,
}

#[derive(Debug, Serialize)]
pub struct BatchView {
    pub id: String,
    pub checkpoint_id: String,
    pub actions: u32,
    pub first_sequence: u64,
    pub created_at: String,
}

#[derive(Debug, Serialize)]
pub struct CheckpointView {
    pub id: String,
    pub number: u64,
    pub status: &'static str,
    pub actions: u64,
    pub batches: u64,
    pub opened_at: String,
    pub sealed_at: Option<String>,
    pub finalizes_at: Option<String>,
}

/// A batch's id, from its number.
pub fn batch_id(number: u64) -> String {
    format!("bat_{number}")
}

pub fn checkpoint_id(number: u64) -> String {
    format!("cp_{number}")
}

impl Sequencer {
    pub fn new(cfg: SequencerConfig) -> Self {
        Self {
            cfg,
            next_sequence: 1,
            next_batch: 1,
            batches: VecDeque::new(),
            checkpoints: vec![Checkpoint {
                number: 1,
                opened_at: Duration::ZERO,
                sealed_at: None,
                actions: 0,
                batches: 0,
            }],
        }
    }

    fn open(&mut self) -> &mut Checkpoint {
        self.checkpoints
            .last_mut()
            .expect("one checkpoint is always open")
    }

    /// Seal the open checkpoint if its time is up (sealing at the exact deadline).
    pub fn tick(&mut self, now: Duration) {
        let interval = self.cfg.interval;
        let cp = self.open();
        let deadline = cp.opened_at + interval;
        if now < deadline {
            return;
        }
        if cp.actions == 0 {
            // Nothing to seal: restart the timer at the last deadline before now.
            let periods = ((now - cp.opened_at).as_nanos() / interval.as_nanos()) as u32;
            cp.opened_at += interval * periods;
            return;
        }
        cp.sealed_at = Some(deadline);
        let number = cp.number + 1;
        self.checkpoints.push(Checkpoint {
            number,
            opened_at: deadline,
            sealed_at: None,
            actions: 0,
            batches: 0,
        });
        self.tick(now);
    }

    /// Record a batch of `n` applied actions; returns (batch id, checkpoint number,
    /// first sequence number).
    pub fn record(&mut self, n: u32, now: Duration) -> (u64, u64, u64) {
        self.tick(now);
        let batch = self.next_batch;
        let id = batch_id(batch);
        self.next_batch += 1;
        let first_sequence = self.next_sequence;
        self.next_sequence += u64::from(n);
        let max = self.cfg.max_actions;
        let cp = self.open();
        cp.actions += u64::from(n);
        cp.batches += 1;
        let number = cp.number;
        if cp.actions >= max {
            cp.sealed_at = Some(now);
            self.checkpoints.push(Checkpoint {
                number: number + 1,
                opened_at: now,
                sealed_at: None,
                actions: 0,
                batches: 0,
            });
        }
        if self.batches.len() == BATCH_HISTORY {
            self.batches.pop_front();
        }
        self.batches.push_back(Batch {
            id,
            checkpoint: number,
            actions: n,
            first_sequence,
            created_at: now,
        });
        (batch, number, first_sequence)
    }

    fn status(&self, cp: &Checkpoint, now: Duration) -> (&'static str, Option<Duration>) {
        match (cp.sealed_at, self.cfg.mode) {
            (None, _) => ("building", None),
            (Some(s), SettlementMode::Zk) => ("finalized", Some(s)),
            (Some(s), SettlementMode::Optimistic) => {
                let fin = s + self.cfg.challenge_window;
                (
                    if now >= fin { "finalized" } else { "challenge" },
                    Some(fin),
                )
            }
        }
    }

    pub fn checkpoints(&mut self, clock: &Clock) -> Vec<CheckpointView> {
        let now = clock.now();
        self.tick(now);
        self.checkpoints
            .iter()
            .rev()
            .take(CHECKPOINT_PAGE)
            .map(|cp| {
                let (status, fin) = self.status(cp, now);
                CheckpointView {
                    id: checkpoint_id(cp.number),
                    number: cp.number,
                    status,
                    actions: cp.actions,
                    batches: cp.batches,
                    opened_at: rfc3339(clock.unix_at(cp.opened_at)),
                    sealed_at: cp.sealed_at.map(|s| rfc3339(clock.unix_at(s))),
                    finalizes_at: fin.map(|f| rfc3339(clock.unix_at(f))),
                }
            })
            .collect()
    }

    pub fn batches(&self, clock: &Clock, limit: usize) -> Vec<BatchView> {
        self.batches
            .iter()
            .rev()
            .take(limit)
            .map(|b| BatchView {
                id: b.id.clone(),
                checkpoint_id: checkpoint_id(b.checkpoint),
                actions: b.actions,
                first_sequence: b.first_sequence,
                created_at: rfc3339(clock.unix_at(b.created_at)),
            })
            .collect()
    }

    /// The newest sealed checkpoint and how long the open one has been building.
    pub fn health(&mut self, now: Duration) -> (Option<String>, f64) {
        self.tick(now);
        let last = self
            .checkpoints
            .iter()
            .rev()
            .find(|c| c.sealed_at.is_some())
            .map(|c| checkpoint_id(c.number));
        let lag = now.saturating_sub(self.checkpoints.last().map_or(now, |c| c.opened_at));
        (last, lag.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TwinConfig;

    #[test]
    fn checkpoints_seal_by_count_and_by_time() {
        let mut cfg = TwinConfig::sandbox("k", "t").sequencer;
        cfg.max_actions = 100;
        let mut s = Sequencer::new(cfg);
        s.record(60, Duration::from_secs(1));
        s.record(60, Duration::from_secs(2));
        assert!(
            s.checkpoints[0].sealed_at.is_some(),
            "sealed at 120 >= 100 actions"
        );
        s.record(10, Duration::from_secs(3));
        s.tick(Duration::from_secs(16 * 60));
        assert!(
            s.checkpoints[1].sealed_at.is_some(),
            "sealed after 15 minutes"
        );
        assert_eq!(s.checkpoints.len(), 3);
    }
}
