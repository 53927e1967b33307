//! The subgraph's indexer: which block the index has reached. Each mined block
//! becomes visible to the subgraph after its own lag (drawn by the fault rules),
//! and never before the block under it; a reorg rolls the index back to the fork
//! point, and the new blocks are indexed again after their lag. The consistency
//! lag (a block mined → the subgraph shows it) goes into an HDR histogram.

use std::collections::VecDeque;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Consistency lags are recorded in milliseconds up to an hour, 3 significant figures.
const MAX_LAG_MS: u64 = 3_600_000;

/// The indexer's progress.
#[derive(Debug)]
pub struct Indexer {
    head: u64,
    /// Blocks mined but not yet visible: (number, mined at, visible at), in order.
    pending: VecDeque<(u64, Duration, Duration)>,
    lag: Histogram<u64>,
}

impl Default for Indexer {
    fn default() -> Self {
        Self {
            head: 0,
            pending: VecDeque::new(),
            lag: Histogram::new_with_bounds(1, MAX_LAG_MS, 3)
                .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!())),
        }
    }
}

/// The indexer's figures for the oracle.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IndexerView {
    pub indexed_head: u64,
    /// Blocks mined and not yet indexed.
    pub behind_blocks: u64,
    /// From a block's mining to the subgraph showing it, over every indexed block.
    pub consistency_lag_ms: LagStats,
}

/// A histogram's summary.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LagStats {
    pub count: u64,
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

impl Indexer {
    /// Block `number` was mined at twin time `at`; it becomes visible `lag` later,
    /// and not before the block under it.
    pub fn mined(&mut self, number: u64, at: Duration, lag: Duration) {
        let floor = self.pending.back().map_or(Duration::ZERO, |p| p.2);
        self.pending.push_back((number, at, (at + lag).max(floor)));
    }

    /// A reorg replaced the blocks above `fork`: the index falls back to it.
    pub fn rollback(&mut self, fork: u64) {
        self.head = self.head.min(fork);
        self.pending.retain(|p| p.0 <= fork);
    }

    /// The indexed head at twin time `now`.
    pub fn head_at(&mut self, now: Duration) -> u64 {
        while let Some(&(n, mined, visible)) = self.pending.front() {
            if visible > now {
                break;
            }
            let ms = visible.saturating_sub(mined).as_millis() as u64;
            let _ = self.lag.record(ms.clamp(1, MAX_LAG_MS));
            self.head = n;
            self.pending.pop_front();
        }
        self.head
    }

    pub fn view(&mut self, now: Duration, chain_head: u64) -> IndexerView {
        let head = self.head_at(now);
        IndexerView {
            indexed_head: head,
            behind_blocks: chain_head.saturating_sub(head),
            consistency_lag_ms: LagStats {
                count: self.lag.len(),
                p50: self.lag.value_at_quantile(0.5),
                p99: self.lag.value_at_quantile(0.99),
                max: self.lag.max(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn blocks_become_visible_after_their_lag_and_in_order() {
        let mut ix = Indexer::default();
        ix.mined(1, s(2), s(5));
        ix.mined(2, s(4), s(0));
        assert_eq!(ix.head_at(s(6)), 0, "block 1 is visible at 7 s");
        assert_eq!(ix.head_at(s(7)), 2, "block 2 waited for block 1");
        let v = ix.view(s(7), 2);
        assert_eq!(v.consistency_lag_ms.count, 2);
        // HDR keeps 3 significant figures: 5,000 ms within 0.1%.
        assert!((5_000..=5_005).contains(&v.consistency_lag_ms.max), "{v:?}");
        assert_eq!(v.behind_blocks, 0);
    }

    #[test]
    fn a_reorg_rolls_the_index_back_to_the_fork() {
        let mut ix = Indexer::default();
        for n in 1..=3 {
            ix.mined(n, s(2 * n), Duration::ZERO);
        }
        assert_eq!(ix.head_at(s(6)), 3);
        ix.rollback(1);
        assert_eq!(ix.head_at(s(6)), 1);
        ix.mined(2, s(6), s(1));
        ix.mined(3, s(6), s(1));
        assert_eq!(ix.head_at(s(6)), 1);
        assert_eq!(ix.head_at(s(7)), 3);
    }

    #[test]
    fn the_twin_indexes_each_block_after_its_lag_and_rolls_back_on_a_reorg() {
        use crate::boson::chain::{Fate, ReorgOrder};
        use crate::boson::testkit::{Scripted, twin};
        let b = twin(s(2));
        let lagging = Scripted {
            lag: s(3),
            ..Scripted::default()
        };
        drop(b.chain_at(s(4), &lagging));
        assert_eq!(b.indexed_head(s(4)), 0, "block 1 (2 s) shows at 5 s");
        assert_eq!(b.indexed_head(s(5)), 1);
        assert_eq!(b.indexed_head(s(7)), 2);
        // A reorg of depth 2 after block 3: the index falls back to block 1.
        let reorg = Scripted {
            reorg_at: Some((
                3,
                ReorgOrder {
                    depth: 2,
                    fate: Fate::Remine,
                    seed: 0,
                },
            )),
            lag: s(3),
            ..Scripted::default()
        };
        drop(b.chain_at(s(6), &reorg));
        assert_eq!(b.indexed_head(s(7)), 1, "rolled back to the fork");
        assert_eq!(
            b.indexed_head(s(9)),
            3,
            "the new blocks indexed after their lag"
        );
        let v = b.indexer_view(s(9), 3);
        assert!((3_000..=3_003).contains(&v.consistency_lag_ms.max), "{v:?}");
    }
}
