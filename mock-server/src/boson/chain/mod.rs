//! The chain: blocks at an interval on the twin's clock, a pool of signed
//! transactions, the world state after each recent block (for rollbacks), the
//! canonical index of transactions and blocks, and the notices filters read.
//!
//! It knows no clock of its own: the platform passes twin time in, so a test can
//! stand a call exactly at a window's edge and a soak can compress a week.

pub mod actions;
pub mod exec;
pub mod history;
pub mod notes;
pub mod reorg;
pub mod rpc_types;
pub mod sign;
pub mod tx;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use alloy::consensus::Header;
use alloy::primitives::{Address, B256, Bloom, Bytes, U256, keccak256};

pub use exec::{Account, BlockEnv, Effect, World};
pub use notes::{Note, Notes};
pub use reorg::{Fate, ReorgOrder, ReorgReport};
pub use tx::{Refused, Signed};

/// Blocks mined in one catch-up at most: past a long clock jump the chain mines
/// this many and the last one carries the new time (as anvil does after
/// `evm_increaseTime`), rather than a block for every 2 s of a month.
pub const MAX_CATCH_UP: u32 = 1_000;
/// Transactions waiting in the pool, at most.
pub const MAX_POOL: usize = 100_000;

/// The chain's settings.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    pub chain_id: u64,
    /// Twin time between blocks; zero mines a block for every transaction (anvil's
    /// automine).
    pub block_time: Duration,
    /// Blocks behind `latest` for the `safe` and `finalized` heads.
    pub safe_depth: u64,
    pub finalized_depth: u64,
    /// The base fee per gas of every block (wei); the chain has no fee market.
    pub base_fee: u128,
    /// The tip `eth_maxPriorityFeePerGas` suggests (wei).
    pub priority_fee: u128,
    /// Gas per block at most.
    pub block_gas_limit: u64,
    /// Blocks a reorg may drop at most: the world state of this many recent blocks
    /// is kept.
    pub max_reorg_depth: usize,
    /// The protocol diamond: calls to it run the protocol, its logs carry it.
    pub diamond: Address,
    /// Twin time of block bodies kept behind the head ([`history`]); older bodies
    /// are pruned, headers kept.
    pub history: Duration,
    /// Confirmations an exchange's transition needs before a client acts on it
    /// ([`actions`] judges every action against it).
    pub confirmations: u64,
}

/// One mined transaction in its block.
#[derive(Debug, Clone)]
pub struct MinedTx {
    pub tx: Arc<Signed>,
    pub index: u64,
    /// The block-wide index of its first log.
    pub first_log: u64,
    pub cumulative_gas: u64,
    pub effect: Effect,
}

/// A block.
#[derive(Debug, Clone)]
pub struct Block {
    pub header: Header,
    pub hash: B256,
    pub txs: Vec<MinedTx>,
}

impl Block {
    pub fn number(&self) -> u64 {
        self.header.number
    }

    pub fn timestamp(&self) -> u64 {
        self.header.timestamp
    }
}

/// A block being filled: what went in (with its effects), the world after them,
/// and what waits for a later block.
type Filled = (Vec<(Arc<Signed>, Effect)>, World, Vec<Arc<Signed>>);

/// Where a mined transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxAt {
    pub block: u64,
    pub index: usize,
}

/// The chain.
#[derive(Debug)]
pub struct Chain {
    pub config: ChainConfig,
    /// Unix time (seconds) at twin time zero: block timestamps derive from it.
    unix_at_start: f64,
    blocks: Vec<Arc<Block>>,
    /// The world after each of the most recent blocks; the last is the head's.
    states: VecDeque<World>,
    pool: Vec<Arc<Signed>>,
    pooled: HashSet<B256>,
    by_tx: HashMap<B256, TxAt>,
    by_hash: HashMap<B256, u64>,
    /// Blocks below this one are headers only ([`history`]).
    pruned_below: u64,
    /// Blocks pruned and not yet taken by the oracle, with their bodies.
    pruned: Vec<Arc<Block>>,
    pub notes: Notes,
    /// Twin time the next block is due (interval mining).
    next_due: Duration,
    /// Bumped by each reorg, so re-mined blocks get new hashes.
    generation: u64,
    /// The paused regions' bits, set by the platform before it mines.
    pub paused: u32,
    pub stats: ChainStats,
    /// Actions on exchanges, judged as they enter the pool.
    pub actions: actions::Actions,
}

/// Counts the oracle reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ChainStats {
    pub reorgs: u64,
    pub blocks_orphaned: u64,
    /// Transactions a reorg dropped: they never happened.
    pub txs_dropped: u64,
    /// Transactions re-mined in a new block (new block hash).
    pub txs_remined: u64,
    /// Transactions that succeeded before a reorg and reverted after it.
    pub reverted_after_reorg: u64,
    /// Transactions whose log indexes changed in a re-mining.
    pub log_index_changed: u64,
    /// Pooled transactions that could never be mined (stale nonce, funds gone).
    pub pool_evicted: u64,
}

impl Chain {
    /// A chain whose genesis holds `world`, mined at twin time `start`;
    /// `unix_at_start` is the Unix time of twin time zero.
    pub fn new(config: ChainConfig, world: World, unix_at_start: f64, start: Duration) -> Self {
        let actions = actions::Actions::new(config.confirmations);
        let mut chain = Self {
            next_due: start + config.block_time,
            config,
            unix_at_start,
            blocks: Vec::new(),
            states: VecDeque::new(),
            pool: Vec::new(),
            pooled: HashSet::new(),
            by_tx: HashMap::new(),
            by_hash: HashMap::new(),
            pruned_below: 0,
            pruned: Vec::new(),
            notes: Notes::default(),
            generation: 0,
            paused: 0,
            stats: ChainStats::default(),
            actions,
        };
        let ts = chain.timestamp_at(start);
        chain.seal(ts, Vec::new(), world);
        chain
    }

    /// Every canonical block whose body is kept, oldest first.
    pub fn kept(&self) -> impl Iterator<Item = &Arc<Block>> {
        self.range(self.pruned_below, self.head_number())
    }

    /// The head block.
    pub fn head(&self) -> &Arc<Block> {
        self.blocks
            .last()
            .expect("the chain always has its genesis")
    }

    pub fn head_number(&self) -> u64 {
        self.head().number()
    }

    /// The world after the head block.
    pub fn state(&self) -> &World {
        self.states.back().expect("the head's state is always kept")
    }

    /// The head's world, to break on purpose (tests of the oracle's checks).
    #[cfg(test)]
    pub fn state_mut(&mut self) -> &mut World {
        self.states
            .back_mut()
            .expect("the head's state is always kept")
    }

    /// The world after block `number`, if it is recent enough to be kept.
    pub fn state_at(&self, number: u64) -> Option<&World> {
        let back = self.head_number().checked_sub(number)? as usize;
        let len = self.states.len();
        (back < len).then(|| &self.states[len - 1 - back])
    }

    pub fn block(&self, number: u64) -> Option<&Arc<Block>> {
        self.blocks.get(number as usize)
    }

    pub fn block_by_hash(&self, hash: &B256) -> Option<&Arc<Block>> {
        self.by_hash.get(hash).and_then(|n| self.block(*n))
    }

    /// The `safe` and `finalized` heads.
    pub fn safe(&self) -> u64 {
        self.head_number().saturating_sub(self.config.safe_depth)
    }

    pub fn finalized(&self) -> u64 {
        self.head_number()
            .saturating_sub(self.config.finalized_depth)
    }

    /// A canonical mined transaction and its block.
    pub fn mined(&self, hash: &B256) -> Option<(&Arc<Block>, &MinedTx)> {
        let at = self.by_tx.get(hash)?;
        let block = self.block(at.block)?;
        Some((block, block.txs.get(at.index)?))
    }

    /// A transaction still waiting in the pool.
    pub fn pending(&self, hash: &B256) -> Option<&Arc<Signed>> {
        if !self.pooled.contains(hash) {
            return None;
        }
        self.pool.iter().find(|t| t.hash == *hash)
    }

    /// The next nonce of `who`, counting its pooled transactions.
    pub fn pending_nonce(&self, who: Address) -> u64 {
        let mut next = self.state().account(who).nonce;
        let mut mine: Vec<u64> = self
            .pool
            .iter()
            .filter(|t| t.from == who)
            .map(|t| t.nonce())
            .collect();
        mine.sort_unstable();
        for n in mine {
            if n == next {
                next += 1;
            }
        }
        next
    }

    /// The Unix timestamp of a block mined at twin time `at`.
    pub fn timestamp_at(&self, at: Duration) -> u64 {
        (self.unix_at_start + at.as_secs_f64()) as u64
    }

    /// The block facts a call at twin time `now` sees (the pending block's).
    pub fn env_at(&self, now: Duration) -> BlockEnv {
        BlockEnv {
            timestamp: self.timestamp_at(now).max(self.head().timestamp()),
            base_fee: self.config.base_fee,
            paused: self.paused,
            diamond: self.config.diamond,
        }
    }

    /// Admit a signed transaction to the pool, checked against the pending state.
    pub fn submit(&mut self, tx: Arc<Signed>) -> Result<B256, Refused> {
        if self.pooled.contains(&tx.hash) {
            return Err(Refused::AlreadyKnown);
        }
        if self.pool.len() >= MAX_POOL {
            return Err(Refused::PoolFull);
        }
        let account = self.state().account(tx.from);
        if tx.nonce() < account.nonce {
            return Err(Refused::NonceTooLow {
                next: account.nonce,
                nonce: tx.nonce(),
            });
        }
        if tx.envelope_max_fee() < self.config.base_fee {
            return Err(Refused::FeeCap {
                from: tx.from,
                max_fee: tx.envelope_max_fee(),
                base_fee: self.config.base_fee,
            });
        }
        let queued: U256 = self
            .pool
            .iter()
            .filter(|t| t.from == tx.from)
            .fold(U256::ZERO, |s, t| s + t.max_cost());
        let cost = tx.max_cost();
        if account.balance < queued + cost {
            let balance = account.balance.saturating_sub(queued);
            return Err(Refused::InsufficientFunds {
                balance,
                cost,
                overshot: cost.saturating_sub(balance),
            });
        }
        let hash = tx.hash;
        if tx.to() == Some(self.config.diamond)
            && let Some((x, intent)) = actions::action_of(tx.from, tx.input())
            && self.actions.first(intent)
        {
            let (last, head) = (self.last_transition(x), self.head_number());
            self.actions.judge(x, last, head);
        }
        self.pooled.insert(hash);
        self.pool.push(tx);
        Ok(hash)
    }

    /// The block of `exchange`'s last transition on the canonical chain, looked
    /// for [`actions::LOOKBACK`] blocks back.
    pub fn last_transition(&self, exchange: u64) -> Option<u64> {
        self.blocks
            .iter()
            .rev()
            .take(actions::LOOKBACK as usize)
            .find(|b| {
                b.txs
                    .iter()
                    .any(|m| m.effect.transitions.iter().any(|t| t.0 == exchange))
            })
            .map(|b| b.number())
    }

    /// Mine every block due by twin time `now`. After each block, `hook` (given the
    /// chain and the block's twin time) may order a reorg: the fault engine's
    /// decision for that block.
    pub fn catch_up(
        &mut self,
        now: Duration,
        hook: &mut dyn FnMut(&Chain, Duration) -> Option<ReorgOrder>,
    ) -> Vec<ReorgReport> {
        let mut reports = Vec::new();
        if self.config.block_time.is_zero() {
            // A block only when a transaction goes in: one waiting on a nonce gap
            // stays in the pool without an empty block for it, as on anvil.
            while !self.pool.is_empty() {
                if !self.mine_block(self.timestamp_at(now), 1, false) {
                    break;
                }
                if let Some(order) = hook(self, now) {
                    reports.push(self.reorg(order));
                }
            }
            return reports;
        }
        let step = self.config.block_time;
        let behind = now.saturating_sub(self.next_due).as_secs_f64() / step.as_secs_f64();
        if behind > f64::from(MAX_CATCH_UP) {
            self.next_due = now.saturating_sub(step * (MAX_CATCH_UP - 1));
        }
        while self.next_due <= now {
            let at = self.next_due;
            self.mine(self.timestamp_at(at), usize::MAX);
            self.next_due += step;
            if let Some(order) = hook(self, at) {
                reports.push(self.reorg(order));
            }
        }
        reports
    }

    /// Mine one block at `timestamp` from the pool (at most `max_txs` transactions).
    pub fn mine(&mut self, timestamp: u64, max_txs: usize) {
        self.mine_block(timestamp, max_txs, true);
    }

    /// Mine one block, or (unless `even_empty`) none when no transaction can go
    /// in; whether a block was mined.
    fn mine_block(&mut self, timestamp: u64, max_txs: usize, even_empty: bool) -> bool {
        let pool = std::mem::take(&mut self.pool);
        let (included, world, rest) = self.fill(timestamp, pool, max_txs);
        if included.is_empty() && !even_empty {
            self.pool = rest;
            return false;
        }
        for tx in &included {
            self.pooled.remove(&tx.0.hash);
        }
        self.pool = rest;
        self.seal(timestamp, included, world);
        true
    }

    /// Apply candidates in order on the head's world; those that wait for a nonce
    /// gap are tried again after the rest, those that can never run are evicted.
    fn fill(&mut self, timestamp: u64, candidates: Vec<Arc<Signed>>, max_txs: usize) -> Filled {
        let env = BlockEnv {
            timestamp: timestamp.max(self.head().timestamp()),
            ..self.env_at(Duration::ZERO)
        };
        let mut world = self.state().clone();
        let mut included = Vec::new();
        let mut gas = 0u64;
        let mut waiting = candidates;
        for _pass in 0..4 {
            let mut later = Vec::new();
            let before = waiting.len();
            for tx in waiting {
                if included.len() >= max_txs || gas + tx.gas_limit() > self.config.block_gas_limit {
                    later.push(tx);
                    continue;
                }
                match exec::apply(&mut world, &tx, &env) {
                    Ok(effect) => {
                        gas += effect.gas_used;
                        included.push((tx, effect));
                    }
                    Err(exec::Unincludable::NonceGap) => later.push(tx),
                    Err(_) => {
                        self.pooled.remove(&tx.hash);
                        self.stats.pool_evicted += 1;
                    }
                }
            }
            waiting = later;
            if waiting.len() == before || waiting.is_empty() {
                break;
            }
        }
        (included, world, waiting)
    }

    /// Append a block holding `txs` (already applied to `world`) and announce it.
    fn seal(&mut self, timestamp: u64, txs: Vec<(Arc<Signed>, Effect)>, world: World) {
        let number = self.blocks.len() as u64;
        let parent = self.blocks.last().map_or(B256::ZERO, |b| b.hash);
        let timestamp = timestamp.max(self.blocks.last().map_or(0, |b| b.timestamp()));
        let mut mined = Vec::with_capacity(txs.len());
        let (mut cumulative, mut first_log) = (0u64, 0u64);
        let mut bloom = Bloom::default();
        let mut tx_hashes = Vec::with_capacity(txs.len() * 32);
        for (index, (tx, effect)) in txs.into_iter().enumerate() {
            cumulative += effect.gas_used;
            for log in &effect.logs {
                bloom.accrue_raw_log(self.config.diamond, log.topics());
            }
            tx_hashes.extend_from_slice(tx.hash.as_slice());
            let n_logs = effect.logs.len() as u64;
            mined.push(MinedTx {
                tx,
                index: index as u64,
                first_log,
                cumulative_gas: cumulative,
                effect,
            });
            first_log += n_logs;
        }
        let header = Header {
            parent_hash: parent,
            number,
            timestamp,
            gas_limit: self.config.block_gas_limit,
            gas_used: cumulative,
            base_fee_per_gas: u64::try_from(self.config.base_fee).ok(),
            logs_bloom: bloom,
            transactions_root: keccak256(&tx_hashes),
            state_root: keccak256(self.generation.to_be_bytes()),
            extra_data: Bytes::from(format!("gauntlet twin {}", self.generation).into_bytes()),
            ..Header::default()
        };
        let block = Arc::new(Block {
            hash: header.hash_slow(),
            header,
            txs: mined,
        });
        for (i, m) in block.txs.iter().enumerate() {
            self.by_tx.insert(
                m.tx.hash,
                TxAt {
                    block: number,
                    index: i,
                },
            );
        }
        self.by_hash.insert(block.hash, number);
        for log in rpc_types::block_logs(&block, self.config.diamond, false) {
            self.notes.push(Note::Log(Box::new(log)));
        }
        self.notes.push(Note::Block(number, block.hash));
        self.blocks.push(block);
        self.states.push_back(world);
        while self.states.len() > self.config.max_reorg_depth + 1 {
            self.states.pop_front();
        }
        self.prune();
    }

    /// Every canonical block in `from..=to` (those below [`Chain::pruned_below`]
    /// are headers only).
    pub fn range(&self, from: u64, to: u64) -> impl Iterator<Item = &Arc<Block>> {
        let to = to.min(self.head_number());
        self.blocks
            .get(from as usize..=to as usize)
            .into_iter()
            .flatten()
    }

    /// Pool size, for metrics.
    pub fn pool_len(&self) -> usize {
        self.pool.len()
    }
}

impl Signed {
    /// The fee cap per gas (the gas price of a legacy transaction).
    pub fn envelope_max_fee(&self) -> u128 {
        alloy::consensus::Transaction::max_fee_per_gas(&self.envelope)
    }
}
