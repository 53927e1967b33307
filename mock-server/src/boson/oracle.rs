//! The Boson oracle: what the canonical chain says happened. Transitions counted
//! per target state (and per `(exchangeId, state)`, where a second application
//! would be a twin bug), refusals by revert name, funds conserved per exchange and
//! overall, and what reorgs did. Read from the chain on demand, so a reorg's
//! rollback is reflected the moment it happens: the blocks the chain keeps are
//! folded on each view over an [`Archive`] of the pruned ones, folded once.

use std::collections::{BTreeMap, HashMap};

use alloy::primitives::U256;
use serde::Serialize;

use super::chain::{Block, Chain, ChainConfig, ChainStats, ReorgReport};
use super::protocol::{self, Revert};
use super::relayer::oracle::Fold as RelayerFold;

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

/// What a run of canonical blocks adds up to. The archive of pruned blocks is one;
/// each view folds the kept blocks into a fresh one over it ([`Tally::add`] with
/// the archive as `base`), so a view costs the kept history, not all of it.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub transitions: BTreeMap<&'static str, u64>,
    pub duplicates: u64,
    pub refusals: BTreeMap<String, u64>,
    pub breaches: u64,
    pub finalized: u64,
    pub txs: u64,
    pub upgrades: u64,
    /// `(exchangeId, state)` applied, with the block: a second is a duplicate.
    seen: HashMap<(u64, &'static str), u64>,
}

impl Tally {
    /// Fold one canonical block in; `base` holds what came before this tally.
    pub fn add(&mut self, block: &Block, base: Option<&Tally>) {
        let cut =
            <super::abi::IBosonProtocol::DiamondCut as alloy::sol_types::SolEvent>::SIGNATURE_HASH;
        for m in &block.txs {
            self.txs += 1;
            let e = &m.effect;
            if let Some(data) = &e.revert {
                *self
                    .refusals
                    .entry(Revert(data.clone()).name())
                    .or_default() += 1;
            }
            for t in &e.transitions {
                *self.transitions.entry(t.1).or_default() += 1;
                let before = base.is_some_and(|b| b.seen.contains_key(t));
                if before || self.seen.insert(*t, block.number()).is_some() {
                    self.duplicates += 1;
                }
            }
            for r in &e.releases {
                self.finalized += 1;
                self.breaches += u64::from(r.paid_out != r.held);
            }
            self.upgrades += e
                .logs
                .iter()
                .filter(|l| l.topics().first() == Some(&cut))
                .count() as u64;
        }
    }

    /// This tally's counts on top of `base`'s.
    fn over(mut self, base: &Tally) -> Tally {
        for (k, v) in &base.transitions {
            *self.transitions.entry(k).or_default() += v;
        }
        for (k, v) in &base.refusals {
            *self.refusals.entry(k.clone()).or_default() += v;
        }
        self.duplicates += base.duplicates;
        self.breaches += base.breaches;
        self.finalized += base.finalized;
        self.txs += base.txs;
        self.upgrades += base.upgrades;
        self
    }
}

/// Pruned blocks folded once: their counts, and (for the reach below) what a later
/// block is checked against: the transitions applied and the intents seen. A view
/// continues from it over the blocks the chain still holds.
#[derive(Debug, Default)]
pub struct Archive {
    pub tally: Tally,
    pub relayer: RelayerFold,
    /// Blocks folded in.
    pub blocks: u64,
}

/// Blocks between the archive's trims of what it remembers.
const TRIM_EVERY: u64 = 64;

impl Archive {
    /// Fold blocks the chain pruned (oldest first). Transitions and intents are
    /// remembered for as many blocks behind the horizon as the chain keeps before
    /// it (`kept`): a duplicate further apart than twice the history goes unseen.
    pub fn absorb(&mut self, blocks: &[std::sync::Arc<Block>], config: &ChainConfig, kept: u64) {
        for b in blocks {
            self.tally.add(b, None);
            self.relayer.add(b, None, config);
            self.blocks += 1;
            if self.blocks.is_multiple_of(TRIM_EVERY) {
                let reach = b.number().saturating_sub(kept);
                self.tally.seen.retain(|_, n| *n >= reach);
                self.relayer.forget_before(reach);
            }
        }
    }

    /// Transitions and intents remembered (its size).
    pub fn remembered(&self) -> usize {
        self.tally.seen.len() + self.relayer.remembered()
    }
}

/// Build the view from the archive and the canonical blocks the chain keeps.
pub fn view(chain: &Chain, archive: &Archive, paused: u32, reorgs: &[ReorgReport]) -> BosonView {
    let mut recent = Tally::default();
    for block in chain.kept() {
        recent.add(block, Some(&archive.tally));
    }
    let t = recent.over(&archive.tally);
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
            transactions: t.txs,
            pool: chain.pool_len(),
        },
        transitions: t
            .transitions
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
        duplicate_transitions: t.duplicates,
        refusals: t.refusals,
        funds: Funds {
            conserved: diamond == available + held && t.breaches == 0,
            diamond_balance: diamond.to_string(),
            available: available.to_string(),
            held_by_open_exchanges: held.to_string(),
            exchange_breaches: t.breaches,
            exchanges_finalized: t.finalized,
        },
        reorg: chain.stats.clone(),
        recent_reorgs: reorgs.iter().rev().take(REORGS_LISTED).cloned().collect(),
        paused: (0..protocol::REGIONS.len())
            .filter(|b| paused & (1 << b) != 0)
            .map(|b| protocol::REGIONS[b])
            .collect(),
        upgrades: t.upgrades,
        relayer: super::relayer::oracle::from_chain(chain, &archive.relayer),
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

    /// A twin with blocks every second and the shortest history (256 blocks kept).
    fn pruning_twin() -> Boson {
        let config = crate::boson::config::BosonConfig {
            block_time: Duration::from_secs(1),
            history: Duration::from_secs(1),
            ..crate::boson::config::BosonConfig::default()
        };
        let accounts = crate::boson::accounts::Accounts::new(7, |_| None).expect("keys");
        Boson::new(
            config,
            accounts,
            crate::boson::testkit::START,
            Duration::ZERO,
        )
    }

    #[test]
    fn the_oracle_counts_the_same_once_the_blocks_are_pruned() {
        let b = pruning_twin();
        walk(&b);
        let before = b.oracle_view(Duration::from_secs(5), &NoFaults);
        assert_eq!(before.transitions.get("Completed"), Some(&1));
        let after = b.oracle_view(Duration::from_secs(600), &NoFaults);
        assert!(b.archived_blocks() > 5, "the walk's blocks were pruned");
        assert_eq!(after.transitions, before.transitions);
        assert_eq!(after.refusals, before.refusals);
        assert_eq!(after.heads.transactions, before.heads.transactions);
        assert_eq!(after.funds.exchanges_finalized, 1);
        assert!(after.funds.conserved, "{:?}", after.funds);
        assert_eq!(after.relayer, before.relayer);
    }

    #[test]
    fn a_transition_or_intent_in_the_archive_applied_again_is_counted() {
        let b = pruning_twin();
        let raw = crate::boson::testkit::commit(&b, 0, 0);
        rpc(&b, Duration::ZERO, "eth_sendRawTransaction", json!([raw])).expect("sent");
        let chain = b.chain_at(Duration::from_secs(2), &NoFaults);
        let block = chain.block(1).expect("mined").clone();
        assert_eq!(block.txs.len(), 1, "the commit is in block 1");
        let mut archive = super::Archive::default();
        archive.absorb(std::slice::from_ref(&block), &chain.config, 256);
        // The same block seen again over the archive: a flawed chain that applied
        // the commit twice, once on each side of the horizon.
        let mut again = super::Tally::default();
        again.add(&block, Some(&archive.tally));
        assert_eq!(again.duplicates, 1);
        let mut relayed = super::RelayerFold::default();
        relayed.add(&block, Some(&archive.relayer), &chain.config);
        assert_eq!(relayed.doubles, 1, "the exchange is still Committed");
        // Without the archive under it, nothing is repeated.
        let mut fresh = super::Tally::default();
        fresh.add(&block, None);
        assert_eq!(fresh.duplicates, 0);
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
