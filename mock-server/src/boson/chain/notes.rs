//! The chain's notice board: every log as it is mined or orphaned, and every new
//! block, in order. Log filters and `eth_subscribe` read it from a cursor, so an
//! orphaned log reaches them again with `removed: true` before the new chain's.

use std::collections::VecDeque;

use alloy::primitives::B256;
use alloy::rpc::types::eth::{Filter, Log};

/// Notices kept, at most; a reader further behind misses the oldest.
pub const NOTES_KEPT: usize = 200_000;

/// One notice.
#[derive(Debug, Clone)]
pub enum Note {
    /// A log mined (`removed: false`) or orphaned by a reorg (`removed: true`).
    Log(Box<Log>),
    /// A new canonical block: its number and hash.
    Block(u64, B256),
}

impl Note {
    /// The block the notice is about.
    pub fn block(&self) -> u64 {
        match self {
            Note::Log(log) => log.block_number.unwrap_or_default(),
            Note::Block(n, _) => *n,
        }
    }
}

/// The notices in order, each with its sequence number.
#[derive(Debug, Default)]
pub struct Notes {
    /// The sequence number of `items[0]`.
    base: u64,
    items: VecDeque<Note>,
}

impl Notes {
    pub fn push(&mut self, note: Note) {
        if self.items.len() >= NOTES_KEPT {
            self.items.pop_front();
            self.base += 1;
        }
        self.items.push_back(note);
    }

    /// Forget the oldest notices about blocks below `number` (pruned history): a
    /// reader that far behind has long been dropped by any node.
    pub fn forget_below(&mut self, number: u64) {
        while self.items.front().is_some_and(|n| n.block() < number) {
            self.items.pop_front();
            self.base += 1;
        }
    }

    /// The sequence number the next notice will get: a new reader starts here.
    pub fn end(&self) -> u64 {
        self.base + self.items.len() as u64
    }

    /// Notices from `cursor` on, and the new cursor.
    pub fn since(&self, cursor: u64) -> (impl Iterator<Item = &Note>, u64) {
        let skip = cursor.saturating_sub(self.base) as usize;
        (self.items.iter().skip(skip), self.end())
    }

    /// Logs from `cursor` on that match `filter` (address and topics; a filter's
    /// block range is not applied to removals, as geth does not).
    pub fn logs_since(&self, cursor: u64, filter: &Filter) -> (Vec<Log>, u64) {
        let (iter, end) = self.since(cursor);
        let logs = iter
            .filter_map(|n| match n {
                Note::Log(log) if filter.matches(&log.inner) => Some((**log).clone()),
                _ => None,
            })
            .collect();
        (logs, end)
    }

    /// New block hashes from `cursor` on.
    pub fn blocks_since(&self, cursor: u64) -> (Vec<B256>, u64) {
        let (iter, end) = self.since(cursor);
        let hashes = iter
            .filter_map(|n| match n {
                Note::Block(_, h) => Some(*h),
                Note::Log(_) => None,
            })
            .collect();
        (hashes, end)
    }
}
