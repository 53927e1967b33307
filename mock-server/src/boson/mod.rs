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
//! - [`accounts`]: the seeded development accounts. [`config`]: `[boson]`.
//!
//! It uses the engine's clock and fault decisions through [`ChainFaults`], and
//! knows nothing of Dual.

pub mod abi;
pub mod accounts;
pub mod chain;
pub mod config;
pub mod oracle;
pub mod protocol;
pub mod rpc;
pub mod ws;
#[cfg(test)]
pub mod testkit;

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use alloy::primitives::U256;
use imbl::HashMap;

use accounts::Accounts;
use chain::{Account, Chain, ChainConfig, ReorgOrder, ReorgReport, World};
pub use config::{BosonConfig, BosonFile};
use protocol::{Ctx, Offer, Protocol, Rules};

/// What the fault engine decides for the chain: reorgs after a block, paused
/// regions at a time. The composition root implements it over the engine's rules.
pub trait ChainFaults {
    /// A reorg to perform right after block `number` was mined at twin time `now`.
    fn reorg_after(&self, number: u64, now: Duration) -> Option<ReorgOrder>;
    /// The regions paused by rules at twin time `now` (bit per region).
    fn paused_at(&self, now: Duration) -> u32;
}

/// No faults: blocks come, nothing pauses, nothing reorgs.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFaults;

impl ChainFaults for NoFaults {
    fn reorg_after(&self, _: u64, _: Duration) -> Option<ReorgOrder> {
        None
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
}

/// Reorg reports kept for the oracle.
pub const REORGS_KEPT: usize = 100;

impl Boson {
    /// A chain at genesis with the seeded accounts, seller, resolver and known offer.
    pub fn new(config: BosonConfig, accounts: Accounts, unix_at_start: f64) -> Self {
        let chain = Chain::new(
            ChainConfig {
                chain_id: config.chain_id,
                block_time: config.block_time,
                safe_depth: config.safe_depth,
                finalized_depth: config.finalized_depth,
                base_fee: config.base_fee,
                priority_fee: config.priority_fee,
                block_gas_limit: 30_000_000,
                max_reorg_depth: config.max_reorg_depth,
                diamond: config.diamond,
            },
            genesis(&config, &accounts, unix_at_start as u64),
            unix_at_start,
        );
        Self {
            config,
            accounts,
            chain: Mutex::new(chain),
            filters: Mutex::new(rpc::filters::Filters::default()),
            paused: Mutex::new(0),
            reorgs: Mutex::new(Vec::new()),
        }
    }

    /// The chain, brought up to twin time `now`: due blocks mined, reorgs the
    /// faults order carried out.
    pub fn chain_at(&self, now: Duration, faults: &dyn ChainFaults) -> MutexGuard<'_, Chain> {
        let mut chain = self.chain.lock().unwrap_or_else(|e| e.into_inner());
        chain.paused = self.paused_now(now, faults);
        let mut hook = |c: &Chain| faults.reorg_after(c.head_number(), now);
        let reports = chain.catch_up(now, &mut hook);
        if !reports.is_empty() {
            let mut kept = self.reorgs.lock().unwrap_or_else(|e| e.into_inner());
            kept.extend(reports);
            let over = kept.len().saturating_sub(REORGS_KEPT);
            kept.drain(..over);
        }
        chain
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

    /// The Boson section of the oracle at twin time `now`.
    pub fn oracle_view(&self, now: Duration, faults: &dyn ChainFaults) -> oracle::BosonView {
        let reorgs = self.reorgs();
        let paused = self.paused_now(now, faults);
        let chain = self.chain_at(now, faults);
        oracle::view(&chain, paused, &reorgs)
    }

    /// The reorgs so far (most recent last).
    pub fn reorgs(&self) -> Vec<ReorgReport> {
        self.reorgs.lock().unwrap_or_else(|e| e.into_inner()).clone()
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
