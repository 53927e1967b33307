//! The Boson oracle: what the canonical chain says happened. Transitions counted
//! per target state (and per `(exchangeId, state)`, where a second application
//! would be a twin bug), refusals by revert name, funds conserved per exchange and
//! overall, and what reorgs did. Read from the chain on demand, so a reorg's
//! rollback is reflected the moment it happens.

use std::collections::{BTreeMap, HashSet};

use alloy::primitives::U256;
use serde::Serialize;

use super::chain::{Chain, ChainStats, ReorgReport};
use super::protocol::{self, Revert};

/// Recent reorgs listed in the view, at most.
pub const REORGS_LISTED: usize = 20;

/// The chain's heads and sizes.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Heads {
    pub latest: u64,
    pub safe: u64,
    pub finalized: u64,
    pub transactions: u64,
    pub pool: usize,
}

/// The funds books, in wei (decimal strings: they exceed JSON's integers).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Funds {
    /// The diamond's native balance equals available funds plus what open
    /// exchanges hold.
    pub conserved: bool,
    pub diamond_balance: String,
    pub available: String,
    pub held_by_open_exchanges: String,
    /// Releases whose payoffs did not sum to what the exchange held.
    pub exchange_breaches: u64,
    pub exchanges_finalized: u64,
}

/// The Boson section of `GET /_gauntlet/oracle`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BosonView {
    pub heads: Heads,
    /// Applied transitions by target state (canonical chain only).
    pub transitions: BTreeMap<String, u64>,
    /// `(exchangeId, state)` pairs applied more than once: zero by construction.
    pub duplicate_transitions: u64,
    /// Mined transactions that reverted, by revert name.
    pub refusals: BTreeMap<String, u64>,
    pub funds: Funds,
    pub reorg: ChainStats,
    pub recent_reorgs: Vec<ReorgReport>,
    pub paused: Vec<&'static str>,
    /// `DiamondCut` events on the canonical chain.
    pub upgrades: u64,
    /// The relayer: what it sent and what became of it, and double submissions.
    pub relayer: super::relayer::oracle::RelayerView,
    /// The subgraph's indexing: its head, how far behind, the consistency lag.
    pub subgraph: Option<super::indexer::IndexerView>,
    /// Chain-event webhooks: deliveries and the effects the receiver reported.
    pub webhooks: Option<ChainWebhooks>,
    /// Actions on exchanges, judged as they entered the pool: on an unconfirmed
    /// transition, or after a stale subgraph read.
    pub actions: super::chain::actions::ActionCounts,
}

/// The chain-event webhooks' account.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChainWebhooks {
    /// Confirmations an event needs before its effect is due.
    pub confirmations: u64,
    /// Registered webhooks (id, url, events, active).
    pub registered: Vec<serde_json::Value>,
    pub effects: crate::engine::oracle::effects::EffectCounts,
}

/// Build the view from the canonical chain as it stands.
pub fn view(chain: &Chain, paused: u32, reorgs: &[ReorgReport]) -> BosonView {
    let mut transitions: BTreeMap<String, u64> = BTreeMap::new();
    let mut seen: HashSet<(u64, &'static str)> = HashSet::new();
    let mut duplicate_transitions = 0;
    let mut refusals: BTreeMap<String, u64> = BTreeMap::new();
    let (mut breaches, mut finalized, mut txs, mut upgrades) = (0, 0, 0, 0);
    let cut =
        <super::abi::IBosonProtocol::DiamondCut as alloy::sol_types::SolEvent>::SIGNATURE_HASH;
    for block in chain.range(0, chain.head_number()) {
        for m in &block.txs {
            txs += 1;
            let e = &m.effect;
            if let Some(data) = &e.revert {
                *refusals.entry(Revert(data.clone()).name()).or_default() += 1;
            }
            for t in &e.transitions {
                *transitions.entry(t.1.to_string()).or_default() += 1;
                if !seen.insert(*t) {
                    duplicate_transitions += 1;
                }
            }
            for r in &e.releases {
                finalized += 1;
                if r.paid_out != r.held {
                    breaches += 1;
                }
            }
            upgrades += e
                .logs
                .iter()
                .filter(|l| l.topics().first() == Some(&cut))
                .count() as u64;
        }
    }
    let world = chain.state();
    let p = &world.protocol;
    let available = p.funds.values().fold(U256::ZERO, |s, v| s + *v);
    let held = p
        .exchanges
        .values()
        .filter(|x| !x.is_final())
        .fold(U256::ZERO, |s, x| s + x.held());
    let diamond = world.account(chain.config.diamond).balance;
    BosonView {
        heads: Heads {
            latest: chain.head_number(),
            safe: chain.safe(),
            finalized: chain.finalized(),
            transactions: txs,
            pool: chain.pool_len(),
        },
        transitions,
        duplicate_transitions,
        refusals,
        funds: Funds {
            conserved: diamond == available + held && breaches == 0,
            diamond_balance: diamond.to_string(),
            available: available.to_string(),
            held_by_open_exchanges: held.to_string(),
            exchange_breaches: breaches,
            exchanges_finalized: finalized,
        },
        reorg: chain.stats.clone(),
        recent_reorgs: reorgs.iter().rev().take(REORGS_LISTED).cloned().collect(),
        paused: (0..protocol::REGIONS.len())
            .filter(|b| paused & (1 << b) != 0)
            .map(|b| protocol::REGIONS[b])
            .collect(),
        upgrades,
        relayer: super::relayer::oracle::from_chain(chain),
        subgraph: None,
        webhooks: None,
        actions: chain.actions.counts.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use alloy::primitives::U256;
    use alloy::sol_types::SolCall;
    use serde_json::json;

    use crate::boson::abi::IBosonProtocol as P;
    use crate::boson::testkit::{rpc, signed, twin};
    use crate::boson::{Boson, NoFaults};

    fn walk(b: &Boson) {
        let key = &b.accounts.buyers[0].signer;
        let d = b.config.diamond;
        let calls: Vec<(Vec<u8>, U256)> = vec![
            (
                P::commitToOfferCall {
                    _buyer: key.address(),
                    _offerId: U256::from(1u64),
                }
                .abi_encode(),
                b.config.offer_price,
            ),
            (
                P::redeemVoucherCall {
                    _exchangeId: U256::from(1u64),
                }
                .abi_encode(),
                U256::ZERO,
            ),
            (
                P::completeExchangeCall {
                    _exchangeId: U256::from(1u64),
                }
                .abi_encode(),
                U256::ZERO,
            ),
            // Completing twice is refused by name.
            (
                P::completeExchangeCall {
                    _exchangeId: U256::from(1u64),
                }
                .abi_encode(),
                U256::ZERO,
            ),
        ];
        for (nonce, (input, value)) in calls.into_iter().enumerate() {
            let raw = signed(key, nonce as u64, d, input, value);
            rpc(b, Duration::ZERO, "eth_sendRawTransaction", json!([raw])).expect("sent");
        }
    }

    #[test]
    fn the_oracle_counts_transitions_refusals_and_conserved_funds() {
        let b = twin(Duration::ZERO);
        walk(&b);
        let v = b.oracle_view(Duration::ZERO, &NoFaults);
        assert_eq!(v.transitions.get("Committed"), Some(&1));
        assert_eq!(v.transitions.get("Completed"), Some(&1));
        assert_eq!(v.refusals.get("InvalidState"), Some(&1));
        assert_eq!(v.duplicate_transitions, 0);
        assert!(v.funds.conserved, "{:?}", v.funds);
        assert_eq!(v.funds.exchanges_finalized, 1);
    }

    #[test]
    fn funds_that_leak_fail_the_conservation_check() {
        let b = twin(Duration::ZERO);
        walk(&b);
        // A flawed protocol that credits the seller out of thin air.
        b.chain()
            .state_mut()
            .protocol
            .credit(1, crate::boson::protocol::NATIVE, U256::from(1u64));
        let v = b.oracle_view(Duration::ZERO, &NoFaults);
        assert!(!v.funds.conserved);
    }
}
