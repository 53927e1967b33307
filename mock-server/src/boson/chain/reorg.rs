//! Reorgs: the last `depth` blocks are dropped, their logs announced again with
//! `removed: true`, the world rolled back to the fork point, and the transactions
//! re-mined in new blocks (new hashes), reordered, or dropped, by the rule's fate.

use std::collections::HashMap;
use std::sync::Arc;

use alloy::primitives::{Address, B256};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Chain, Note, Signed, rpc_types};

/// What happens to the orphaned blocks' transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// Each goes back into the block of the same height, in the same place: same
    /// log indexes, new block hash.
    Remine,
    /// They are shuffled across the new blocks (each sender's nonce order kept):
    /// new heights, indexes and log indexes; some may now revert.
    Reorder,
    /// They vanish: no receipt, the state they made never happened.
    Drop,
}

/// A reorg to carry out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReorgOrder {
    pub depth: u64,
    pub fate: Fate,
    /// Seeds the reordering (from the fault engine's stream for this block).
    pub seed: u64,
}

/// What a reorg did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReorgReport {
    /// The head height when it happened.
    pub at_block: u64,
    pub depth: u64,
    pub dropped: Vec<B256>,
    pub remined: Vec<B256>,
    pub reverted_after: Vec<B256>,
}

impl Chain {
    /// Carry out a reorg. Depth is capped by the chain's height (genesis stays) and
    /// by the states kept.
    pub fn reorg(&mut self, order: ReorgOrder) -> ReorgReport {
        let head = self.head_number();
        let depth = order
            .depth
            .min(head)
            .min(self.states.len().saturating_sub(1) as u64);
        let mut report = ReorgReport {
            at_block: head,
            depth,
            ..ReorgReport::default()
        };
        if depth == 0 {
            return report;
        }
        let keep = (head + 1 - depth) as usize;
        let old = self.blocks.split_off(keep);
        for _ in 0..depth {
            self.states.pop_back();
        }
        let mut before: HashMap<B256, (bool, u64)> = HashMap::new();
        for block in &old {
            for log in rpc_types::block_logs(block, self.config.diamond, true) {
                self.notes.push(Note::Log(Box::new(log)));
            }
            self.by_hash.remove(&block.hash);
            for m in &block.txs {
                self.by_tx.remove(&m.tx.hash);
                before.insert(m.tx.hash, (m.effect.success, m.first_log));
            }
        }
        self.generation += 1;
        self.stats.reorgs += 1;
        self.stats.blocks_orphaned += depth;
        let plan = assign(&old, order);
        for (block, txs) in old.iter().zip(plan) {
            let (included, world, rest) = self.fill(block.timestamp(), txs, usize::MAX);
            // What no longer fits (a nonce gap after a drop) returns to the pool.
            for tx in rest {
                if self.pooled.insert(tx.hash) {
                    self.pool.push(tx);
                }
            }
            self.seal(block.timestamp(), included, world);
        }
        self.account(&mut report, before);
        report
    }

    fn account(&mut self, report: &mut ReorgReport, before: HashMap<B256, (bool, u64)>) {
        for (hash, (ok_before, first_log)) in before {
            match self.mined(&hash) {
                None => report.dropped.push(hash),
                Some((_, m)) => {
                    report.remined.push(hash);
                    if ok_before && !m.effect.success {
                        report.reverted_after.push(hash);
                    }
                    if m.first_log != first_log && !m.effect.logs.is_empty() {
                        self.stats.log_index_changed += 1;
                    }
                }
            }
        }
        report.dropped.sort();
        report.remined.sort();
        report.reverted_after.sort();
        self.stats.txs_dropped += report.dropped.len() as u64;
        self.stats.txs_remined += report.remined.len() as u64;
        self.stats.reverted_after_reorg += report.reverted_after.len() as u64;
    }
}

/// Which transactions each new block gets.
fn assign(old: &[Arc<super::Block>], order: ReorgOrder) -> Vec<Vec<Arc<Signed>>> {
    let n = old.len();
    match order.fate {
        Fate::Drop => vec![Vec::new(); n],
        Fate::Remine => old
            .iter()
            .map(|b| b.txs.iter().map(|m| m.tx.clone()).collect())
            .collect(),
        Fate::Reorder => {
            let mut rng = ChaCha8Rng::seed_from_u64(order.seed);
            let txs: Vec<Arc<Signed>> = old
                .iter()
                .flat_map(|b| b.txs.iter().map(|m| m.tx.clone()))
                .collect();
            // A random slot per transaction; each sender's slots are handed out in
            // nonce order so no sender's sequence breaks.
            let mut slots: Vec<u64> = (0..txs.len())
                .map(|_| rng.random_range(0..n as u64) << 32 | rng.random::<u32>() as u64)
                .collect();
            slots.shuffle(&mut rng);
            let mut by_sender: HashMap<Address, Vec<usize>> = HashMap::new();
            for (i, tx) in txs.iter().enumerate() {
                by_sender.entry(tx.from).or_default().push(i);
            }
            let mut keyed: Vec<(u64, Arc<Signed>)> = Vec::with_capacity(txs.len());
            for idxs in by_sender.values() {
                let mut s: Vec<u64> = idxs.iter().map(|i| slots[*i]).collect();
                s.sort_unstable();
                let mut mine: Vec<&Arc<Signed>> = idxs.iter().map(|i| &txs[*i]).collect();
                mine.sort_by_key(|t| t.nonce());
                keyed.extend(s.into_iter().zip(mine.into_iter().cloned()));
            }
            keyed.sort_by_key(|(k, _)| *k);
            let mut blocks = vec![Vec::new(); n];
            for (k, tx) in keyed {
                blocks[(k >> 32) as usize].push(tx);
            }
            blocks
        }
    }
}
