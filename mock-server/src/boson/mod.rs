//! Boson Protocol's twin: a chain with the protocol diamond on it, spoken to
//! through Ethereum JSON-RPC.
//!
//! # Layout
//!
//! - [`abi`]: the diamond's functions, events, errors and EIP-712 structs (`sol!`).
//! - [`protocol`]: offers, the exchange and dispute state machine, funds, meta-
//!   transactions: a call in, events or a named revert out.
//! - [`chain`]: blocks on the twin clock, the pool, receipts, logs, reorgs.
//! - [`rpc`]: Ethereum JSON-RPC over HTTP (single and batch), log filters.
//! - [`relayer`]: the meta-transaction relayer in Biconomy's shape, and its outages.
//! - [`events`]: the protocol's events as signed webhooks, `removed` after a reorg,
//!   and the effects ledger that grades the receiver.
//! - [`accounts`]: the seeded development accounts. [`config`]: `[boson]`.
//!
//! It uses the engine's clock and fault decisions through [`ChainFaults`], and
//! knows nothing of Dual.

pub mod abi;
pub mod accounts;
pub mod api;
pub mod chain;
pub mod config;
pub mod events;
pub mod indexer;
pub mod oracle;
pub mod platform;
pub mod protocol;
pub mod relayer;
pub mod rpc;
pub mod subgraph;
#[cfg(test)]
pub mod testkit;
pub mod ws;

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

pub use alloy::primitives::U256;
use imbl::HashMap;

use accounts::Accounts;
use chain::{Account, Chain, ChainConfig, ReorgOrder, ReorgReport, World};
pub use config::{BosonConfig, BosonFile};
use protocol::{Ctx, Offer, Protocol, Rules};

/// What the fault rules do to the chain right after one block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockFaults {
    /// A reorg to perform now.
    pub reorg: Option<ReorgOrder>,
    /// Upgrades (`DiamondCut`) to announce: each becomes a transaction from the
    /// diamond's owner in the next block.
    pub upgrades: u32,
    /// How long after this block the subgraph shows it (`indexer_lag` rules).
    pub index_lag: Duration,
}

/// What the fault engine decides for the chain: reorgs and upgrades after a
/// block, paused regions at a time. The platform implements it over the engine's
/// rules ([`platform`]); tests script it.
pub trait ChainFaults {
    /// The faults due right after block `number`, mined at twin time `at`.
    fn after_block(&self, number: u64, at: Duration) -> BlockFaults;
    /// The regions paused by rules at twin time `at` (bit per region).
    fn paused_at(&self, at: Duration) -> u32;
}

/// No faults: blocks come, nothing pauses, nothing reorgs.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFaults;

impl ChainFaults for NoFaults {
    fn after_block(&self, _: u64, _: Duration) -> BlockFaults {
        BlockFaults::default()
    }

    fn paused_at(&self, _: Duration) -> u32 {
        0
    }
}

/// The Boson twin's state.
#[derive(Debug)]
pub struct Boson {
    pub config: BosonConfig,
    pub accounts: Accounts,
    chain: Mutex<Chain>,
    pub filters: Mutex<rpc::filters::Filters>,
    /// Regions paused through the control API (rules add theirs at each block).
    paused: Mutex<u32>,
    /// Every reorg so far, for the oracle (the most recent kept).
    reorgs: Mutex<Vec<ReorgReport>>,
    /// How far the subgraph has indexed.
    indexer: Mutex<indexer::Indexer>,
    /// The oracle's fold of the blocks the chain has pruned.
    archive: Mutex<oracle::Archive>,
}

/// Reorg reports kept for the oracle.
pub const REORGS_KEPT: usize = 100;

impl Boson {
    /// A chain at genesis (mined at twin time `start`; `unix_at_start` is the Unix
    /// time of twin time zero) with the seeded accounts, seller, resolver and
    /// known offer.
    pub fn new(
        config: BosonConfig,
        accounts: Accounts,
        unix_at_start: f64,
        start: Duration,
    ) -> Self {
        let chain = Self::genesis_chain(&config, &accounts, unix_at_start, start);
        Self {
            config,
            accounts,
            chain: Mutex::new(chain),
            filters: Mutex::new(rpc::filters::Filters::default()),
            paused: Mutex::new(0),
            reorgs: Mutex::new(Vec::new()),
            indexer: Mutex::new(indexer::Indexer::default()),
            archive: Mutex::new(oracle::Archive::default()),
        }
    }

    fn genesis_chain(
        config: &BosonConfig,
        accounts: &Accounts,
        unix_at_start: f64,
        start: Duration,
    ) -> Chain {
        Chain::new(
            ChainConfig {
                chain_id: config.chain_id,
                block_time: config.block_time,
                safe_depth: config.safe_depth,
                finalized_depth: config.finalized_depth,
                base_fee: config.base_fee,
                priority_fee: config.priority_fee,
                block_gas_limit: 30_000_000,
                max_reorg_depth: config.max_reorg_depth,
                history: config.history,
                diamond: config.diamond,
                confirmations: config.confirmations,
            },
            genesis(
                config,
                accounts,
                (unix_at_start + start.as_secs_f64()) as u64,
            ),
            unix_at_start,
            start,
        )
    }

    /// Forget everything: a new genesis at twin time `now`, no filters, no pauses.
    pub fn reset(&self, unix_at_start: f64, now: Duration) {
        let fresh = Self::genesis_chain(&self.config, &self.accounts, unix_at_start, now);
        *self.chain.lock().unwrap_or_else(|e| e.into_inner()) = fresh;
        *self.filters.lock().unwrap_or_else(|e| e.into_inner()) = rpc::filters::Filters::default();
        *self.paused.lock().unwrap_or_else(|e| e.into_inner()) = 0;
        *self.archive.lock().unwrap_or_else(|e| e.into_inner()) = oracle::Archive::default();
        self.reorgs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The chain, brought up to twin time `now`: due blocks mined, reorgs the
    /// faults order carried out, upgrades they order sent by the owner.
    pub fn chain_at(&self, now: Duration, faults: &dyn ChainFaults) -> MutexGuard<'_, Chain> {
        let mut chain = self.chain.lock().unwrap_or_else(|e| e.into_inner());
        chain.paused = self.paused_now(now, faults);
        let mut upgrades = 0;
        let mut ix = self.indexer.lock().unwrap_or_else(|e| e.into_inner());
        let mut hook = |c: &Chain, at: Duration| {
            let n = c.head_number();
            let f = faults.after_block(n, at);
            upgrades += f.upgrades;
            ix.mined(n, at, f.index_lag);
            if let Some(order) = f.reorg {
                // The index falls back to the fork and indexes the new blocks again.
                let fork = n - order.depth.min(n);
                ix.rollback(fork);
                for k in fork + 1..=n {
                    ix.mined(k, at, f.index_lag);
                }
            }
            f.reorg
        };
        let reports = chain.catch_up(now, &mut hook);
        for _ in 0..upgrades {
            self.announce_upgrade(&mut chain);
        }
        let pruned = chain.take_pruned();
        if !pruned.is_empty() {
            let kept = chain.head_number() + 1 - chain.pruned_below();
            let mut archive = self.archive.lock().unwrap_or_else(|e| e.into_inner());
            archive.absorb(&pruned, &chain.config, kept);
        }
        if !reports.is_empty() {
            let mut kept = self.reorgs.lock().unwrap_or_else(|e| e.into_inner());
            kept.extend(reports);
            let over = kept.len().saturating_sub(REORGS_KEPT);
            kept.drain(..over);
        }
        chain
    }

    /// Send a `diamondCut` from the owner's account: its `DiamondCut` event is in the
    /// next block. The cut names no facet changes; clients watch for the event.
    pub fn announce_upgrade(&self, chain: &mut Chain) {
        use alloy::sol_types::SolCall;
        let owner = &self.accounts.owner.signer;
        let input = abi::IBosonProtocol::diamondCutCall {
            _diamondCut: Vec::new(),
            _init: alloy::primitives::Address::ZERO,
            _calldata: Default::default(),
        }
        .abi_encode();
        let nonce = chain.pending_nonce(owner.address());
        let raw = chain::sign::eip1559(owner, &chain.config, nonce, self.config.diamond, input);
        if let Ok(tx) = chain::tx::decode(&raw, self.config.chain_id) {
            // The owner is funded at genesis; a refusal here means it ran dry.
            let _ = chain.submit(tx);
        }
    }

    /// The chain as it stands, without mining.
    pub fn chain(&self) -> MutexGuard<'_, Chain> {
        self.chain.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Paused regions now: the control API's plus the rules'.
    pub fn paused_now(&self, now: Duration, faults: &dyn ChainFaults) -> u32 {
        *self.paused.lock().unwrap_or_else(|e| e.into_inner()) | faults.paused_at(now)
    }

    /// Pause (`true`) or unpause regions by bit (the control API).
    pub fn set_paused(&self, bits: u32, pause: bool) -> u32 {
        let mut p = self.paused.lock().unwrap_or_else(|e| e.into_inner());
        if pause {
            *p |= bits;
        } else {
            *p &= !bits;
        }
        *p
    }

    /// The block the subgraph has indexed at twin time `now`.
    pub fn indexed_head(&self, now: Duration) -> u64 {
        self.indexer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .head_at(now)
    }

    /// The subgraph indexer's figures at twin time `now`.
    pub fn indexer_view(&self, now: Duration, chain_head: u64) -> indexer::IndexerView {
        self.indexer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .view(now, chain_head)
    }

    /// The Boson section of the oracle at twin time `now`.
    pub fn oracle_view(&self, now: Duration, faults: &dyn ChainFaults) -> oracle::BosonView {
        let reorgs = self.reorgs();
        let paused = self.paused_now(now, faults);
        let chain = self.chain_at(now, faults);
        let mut view = {
            let archive = self.archive.lock().unwrap_or_else(|e| e.into_inner());
            oracle::view(&chain, &archive, paused, &reorgs)
        };
        let head = chain.head_number();
        drop(chain);
        view.subgraph = Some(self.indexer_view(now, head));
        view
    }

    /// Pruned blocks the oracle has folded into its archive.
    pub fn archived_blocks(&self) -> u64 {
        self.archive
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .blocks
    }

    /// The seeded accounts and entities, without keys (`GET /_gauntlet/boson/accounts`).
    pub fn accounts_json(&self) -> serde_json::Value {
        let (seller, resolver) = (
            self.accounts.seller.address(),
            self.accounts.resolver.address(),
        );
        let (seller_id, resolver_id) = {
            let chain = self.chain();
            let p = &chain.state().protocol;
            let rid = p
                .resolvers
                .values()
                .find(|r| r.assistant == resolver)
                .map(|r| r.id);
            (p.seller_of(seller), rid)
        };
        let buyers: Vec<_> = self.accounts.buyers.iter().map(|b| b.address()).collect();
        serde_json::json!({
            "chain_id": self.config.chain_id,
            "diamond": self.config.diamond,
            "known_offer": self.config.known_offer,
            "seller": {"address": seller, "seller_id": seller_id},
            "dispute_resolver": {"address": resolver, "id": resolver_id},
            "owner": self.accounts.owner.address(),
            "relayer": self.accounts.relayer.address(),
            "buyers": buyers,
        })
    }

    /// The reorgs so far (most recent last).
    pub fn reorgs(&self) -> Vec<ReorgReport> {
        self.reorgs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The world at genesis: funded accounts, a seller with deposited funds, a
/// dispute resolver, and the known offer.
fn genesis(config: &BosonConfig, accounts: &Accounts, now: u64) -> World {
    let mut balances = HashMap::new();
    for a in accounts.all() {
        balances.insert(
            a.address(),
            Account {
                balance: config.account_balance,
                nonce: 0,
            },
        );
    }
    let rules = Rules::new(config.diamond, config.chain_id);
    let mut p = Protocol::new(rules, accounts.owner.address());
    let seller = accounts.seller.address();
    let seller_id = p.add_seller(seller, seller);
    let week = 7 * 24 * 3600;
    let resolver_id = p.add_resolver(accounts.resolver.address(), week, U256::ZERO);
    p.credit(seller_id, protocol::NATIVE, config.seller_funds);
    // The diamond holds what the seller deposited.
    balances.insert(
        config.diamond,
        Account {
            balance: config.seller_funds,
            nonce: 0,
        },
    );
    p.next_offer = config.known_offer;
    let offer = Offer {
        id: 0,
        seller_id,
        price: config.offer_price,
        seller_deposit: config.offer_deposit,
        buyer_cancel_penalty: config.offer_price / U256::from(20),
        quantity_available: U256::from(u64::MAX),
        quantity_initial: U256::from(u64::MAX),
        token: protocol::NATIVE,
        metadata_uri: "ipfs://gauntlet-known-offer".into(),
        metadata_hash: "gauntlet-known-offer".into(),
        voided: false,
        valid_from: now.saturating_sub(60),
        valid_until: now + 10 * 365 * 24 * 3600,
        redeemable_from: now.saturating_sub(60),
        redeemable_until: 0,
        voucher_valid: 30 * 24 * 3600,
        dispute_period: week,
        resolution_period: week,
        resolver_id,
        escalation_response_period: 0,
        dr_fee: U256::ZERO,
        protocol_fee: U256::ZERO,
    };
    let ctx = Ctx {
        sender: seller,
        origin: seller,
        value: U256::ZERO,
        now,
        paused: 0,
    };
    // The seeded offer obeys the same rules as any other; failing them is a bug.
    let inserted = protocol::offer::insert(&mut p, offer, &ctx);
    debug_assert!(inserted.is_ok(), "the known offer is valid");
    World {
        accounts: balances,
        protocol: p,
        burnt: U256::ZERO,
    }
}
