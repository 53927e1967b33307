//! The protocol diamond's state and its one entry point: a call, decoded from the
//! ABI, applied at a block's timestamp, with its events or its revert by name.
//!
//! The state is persistent (`imbl` maps), so the chain keeps a snapshot after every
//! block for nothing and a reorg rolls the protocol back with it.

pub mod dispute;
pub mod exchange;
pub mod funds;
pub mod meta;
pub mod offer;
pub mod types;
pub mod views;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use alloy::primitives::{Address, B256, Bytes, LogData, U256};
use alloy::sol_types::{SolCall, SolError, SolEvent, SolInterface};
use imbl::{HashMap, HashSet, OrdMap};

use crate::boson::abi::IBosonProtocol::{self as P, IBosonProtocolCalls as Calls};
pub use types::{Buyer, Dispute, DisputeState, Exchange, ExchangeState, Offer, Resolver, Seller};

/// The native token's address in the protocol's token lists.
pub const NATIVE: Address = Address::ZERO;
/// The entity id that collects protocol fees.
pub const PROTOCOL_ENTITY: u64 = 0;
/// Basis points in 100%.
pub const BPS: u64 = 10_000;

/// The pausable regions, in the contracts' enum order (the bit of each).
pub const REGIONS: [&str; 15] = [
    "Offers",
    "Twins",
    "Bundles",
    "Groups",
    "Sellers",
    "Buyers",
    "DisputeResolvers",
    "Agents",
    "Exchanges",
    "Disputes",
    "Funds",
    "Orchestration",
    "MetaTransaction",
    "PriceDiscovery",
    "SequentialCommit",
];

/// A region's bit number by name (case-insensitive).
pub fn region_bit(name: &str) -> Option<u8> {
    REGIONS
        .iter()
        .position(|r| r.eq_ignore_ascii_case(name))
        .map(|i| i as u8)
}

/// The protocol's configuration, as `ConfigHandlerFacet` would hold it.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The diamond's address: the EIP-712 verifying contract and the logs' address.
    pub diamond: Address,
    /// The chain id, the EIP-712 domain's salt.
    pub chain_id: u64,
    /// Shortest dispute period an offer may set (the contracts' default: one week).
    pub min_dispute_period: u64,
    /// Resolution period bounds (one week to 90 days by default).
    pub min_resolution_period: u64,
    pub max_resolution_period: u64,
    /// Protocol fee on the price, in basis points (the contracts' default 50 = 0.5%).
    pub protocol_fee_bps: u64,
    /// Buyer escalation deposit as a share of the resolver's fee, in basis points.
    pub escalation_deposit_bps: u64,
}

impl Rules {
    /// The rules of a local deployment at `diamond` on chain `chain_id`.
    pub fn new(diamond: Address, chain_id: u64) -> Self {
        Self {
            diamond,
            chain_id,
            min_dispute_period: 7 * 24 * 3600,
            min_resolution_period: 7 * 24 * 3600,
            max_resolution_period: 90 * 24 * 3600,
            protocol_fee_bps: 50,
            escalation_deposit_bps: 1_000,
        }
    }
}

/// Everything the protocol holds. Cloning is cheap: the maps share structure.
#[derive(Debug, Clone)]
pub struct Protocol {
    pub rules: Arc<Rules>,
    /// Sellers, buyers, resolvers share one id counter, as in the contracts.
    pub next_entity: u64,
    pub next_offer: u64,
    pub next_exchange: u64,
    pub sellers: OrdMap<u64, Seller>,
    pub buyers: OrdMap<u64, Buyer>,
    pub buyer_by_wallet: HashMap<Address, u64>,
    pub resolvers: OrdMap<u64, Resolver>,
    pub offers: OrdMap<u64, Offer>,
    pub exchanges: OrdMap<u64, Exchange>,
    /// Available (withdrawable) funds per (entity, token).
    pub funds: OrdMap<(u64, Address), U256>,
    /// Meta-transaction nonces used, per signer: not sequential, never reused.
    pub used_nonces: HashSet<(Address, U256)>,
    /// The diamond's owner, the one account allowed to cut it.
    pub owner: Address,
}

/// The circumstances of one call.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    /// `msg.sender` (the meta-transaction's signer inside `executeMetaTransaction`).
    pub sender: Address,
    /// `tx.origin`: the relayer for a meta-transaction.
    pub origin: Address,
    /// `msg.value`, already moved from the sender to the diamond.
    pub value: U256,
    /// The block's timestamp (Unix seconds).
    pub now: u64,
    /// The paused regions' bits at this block.
    pub paused: u32,
}

/// What an applied call did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub logs: Vec<LogData>,
    /// Native value the diamond pays out (withdrawals).
    pub payouts: Vec<(Address, U256)>,
    /// The call's ABI-encoded return data.
    pub output: Bytes,
    /// `(exchangeId, state name)` for each exchange or dispute transition applied.
    pub transitions: Vec<(u64, &'static str)>,
    /// Each exchange that reached finality in this call, with its books.
    pub releases: Vec<funds::Release>,
}

impl Outcome {
    pub fn emit<E: SolEvent>(&mut self, event: &E) {
        self.logs.push(event.encode_log_data());
    }
}

/// A refused call: the revert data (a custom error's selector and arguments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revert(pub Bytes);

impl Revert {
    pub fn of<E: SolError>(error: E) -> Self {
        Self(error.abi_encode().into())
    }

    /// The custom error's name, if the twin knows it.
    pub fn name(&self) -> String {
        if self.0.len() < 4 {
            return "empty revert".to_string();
        }
        let selector: [u8; 4] = self.0[..4].try_into().unwrap_or_default();
        P::IBosonProtocolErrors::name_by_selector(selector).map_or_else(
            || format!("0x{}", alloy::hex::encode(selector)),
            str::to_string,
        )
    }
}

pub type Applied = Result<Outcome, Revert>;

/// Shorthand: refuse with a custom error.
pub fn refuse<T, E: SolError>(error: E) -> Result<T, Revert> {
    Err(Revert::of(error))
}

/// Refuse if a region is paused.
pub fn unpaused(ctx: &Ctx, region: &str) -> Result<(), Revert> {
    let bit = region_bit(region).unwrap_or(0);
    if ctx.paused & (1 << bit) != 0 {
        return refuse(P::RegionPaused { region: bit });
    }
    Ok(())
}

/// Calls that take native value: the payments, and a meta-transaction, which
/// passes its value on to the call inside it.
pub fn payable(call: &Calls) -> bool {
    matches!(
        call,
        Calls::commitToOffer(_)
            | Calls::escalateDispute(_)
            | Calls::depositFunds(_)
            | Calls::executeMetaTransaction(_)
    )
}

/// A U256 argument as the u64 the twin stores ids and times in; larger is unknown.
pub fn small(v: U256) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

impl Protocol {
    /// An empty protocol under `rules`, owned by `owner`.
    pub fn new(rules: Rules, owner: Address) -> Self {
        Self {
            rules: Arc::new(rules),
            next_entity: 1,
            next_offer: 1,
            next_exchange: 1,
            sellers: OrdMap::new(),
            buyers: OrdMap::new(),
            buyer_by_wallet: HashMap::new(),
            resolvers: OrdMap::new(),
            offers: OrdMap::new(),
            exchanges: OrdMap::new(),
            funds: OrdMap::new(),
            used_nonces: HashSet::new(),
            owner,
        }
    }

    /// Apply one call to the diamond. On a revert the state is unchanged: the
    /// caller applies calls to a clone and keeps it only on success.
    pub fn execute(&mut self, ctx: &Ctx, calldata: &[u8]) -> Applied {
        let call = match Calls::abi_decode(calldata) {
            Ok(call) => call,
            // The diamond's fallback: no facet for the selector, empty revert data.
            Err(_) => return Err(Revert(Bytes::new())),
        };
        if !payable(&call) && !ctx.value.is_zero() {
            return refuse(P::NativeNotAllowed {});
        }
        match call {
            Calls::executeMetaTransaction(c) => meta::execute(self, ctx, c),
            other => self.dispatch(ctx, other),
        }
    }

    /// A call by its decoded arguments (also the inner call of a meta-transaction).
    pub fn dispatch(&mut self, ctx: &Ctx, call: Calls) -> Applied {
        use Calls as C;
        match call {
            C::createOffer(c) => offer::create(self, ctx, c),
            C::voidOffer(c) => offer::void(self, ctx, small(c._offerId)),
            C::commitToOffer(c) => exchange::commit(self, ctx, c._buyer, small(c._offerId)),
            C::redeemVoucher(c) => exchange::redeem(self, ctx, small(c._exchangeId)),
            C::cancelVoucher(c) => exchange::cancel(self, ctx, small(c._exchangeId)),
            C::revokeVoucher(c) => exchange::revoke(self, ctx, small(c._exchangeId)),
            C::expireVoucher(c) => exchange::expire(self, ctx, small(c._exchangeId)),
            C::completeExchange(c) => exchange::complete(self, ctx, small(c._exchangeId)),
            C::raiseDispute(c) => dispute::raise(self, ctx, small(c._exchangeId)),
            C::retractDispute(c) => dispute::retract(self, ctx, small(c._exchangeId)),
            C::resolveDispute(c) => dispute::resolve(self, ctx, c),
            C::escalateDispute(c) => dispute::escalate(self, ctx, small(c._exchangeId)),
            C::decideDispute(c) => {
                dispute::decide(self, ctx, small(c._exchangeId), c._buyerPercent)
            }
            C::refuseEscalatedDispute(c) => {
                dispute::refuse_escalated(self, ctx, small(c._exchangeId))
            }
            C::expireDispute(c) => dispute::expire(self, ctx, small(c._exchangeId)),
            C::expireEscalatedDispute(c) => {
                dispute::expire_escalated(self, ctx, small(c._exchangeId))
            }
            C::extendDisputeTimeout(c) => dispute::extend(self, ctx, c),
            C::depositFunds(c) => funds::deposit(self, ctx, c),
            C::withdrawFunds(c) => funds::withdraw(self, ctx, c),
            C::diamondCut(c) => self.cut(ctx, c),
            C::executeMetaTransaction(_) => refuse(P::FunctionNotAllowlisted {}),
            view => views::answer(self, ctx, view).map(|output| Outcome {
                output,
                ..Outcome::default()
            }),
        }
    }

    /// `diamondCut`: only the owner; the twin's facets do not change, the event is
    /// what clients watch for.
    fn cut(&mut self, ctx: &Ctx, c: P::diamondCutCall) -> Applied {
        if ctx.sender != self.owner {
            return refuse(P::AccessDenied {});
        }
        let mut out = Outcome::default();
        out.emit(&P::DiamondCut {
            _diamondCut: c._diamondCut,
            _init: c._init,
            _calldata: c._calldata,
        });
        Ok(out)
    }

    /// The seller whose assistant is `who`.
    pub fn seller_of(&self, who: Address) -> Option<u64> {
        self.sellers
            .iter()
            .find(|(_, s)| s.assistant == who)
            .map(|(id, _)| *id)
    }

    /// Register a seller (the twin seeds one at start).
    pub fn add_seller(&mut self, assistant: Address, treasury: Address) -> u64 {
        let id = self.take_entity();
        self.sellers.insert(
            id,
            Seller {
                id,
                assistant,
                treasury,
            },
        );
        id
    }

    /// Register a dispute resolver with its escalation response period and fee.
    pub fn add_resolver(&mut self, assistant: Address, period: u64, fee: U256) -> u64 {
        let id = self.take_entity();
        self.resolvers.insert(
            id,
            Resolver {
                id,
                assistant,
                escalation_response_period: period,
                fee,
            },
        );
        id
    }

    pub fn take_entity(&mut self) -> u64 {
        let id = self.next_entity;
        self.next_entity += 1;
        id
    }

    /// The buyer entity of a wallet, created on first use (as a commit does).
    pub fn buyer_for(&mut self, wallet: Address, out: &mut Outcome, ctx: &Ctx) -> u64 {
        if let Some(id) = self.buyer_by_wallet.get(&wallet) {
            return *id;
        }
        let id = self.take_entity();
        self.buyers.insert(id, Buyer { id, wallet });
        self.buyer_by_wallet.insert(wallet, id);
        out.emit(&P::BuyerCreated {
            buyerId: U256::from(id),
            buyer: crate::boson::abi::BosonTypes::Buyer {
                id: U256::from(id),
                wallet,
                active: true,
            },
            executedBy: ctx.sender,
        });
        id
    }

    /// Available funds of an entity in a token.
    pub fn available(&self, entity: u64, token: Address) -> U256 {
        self.funds
            .get(&(entity, token))
            .copied()
            .unwrap_or_default()
    }

    pub fn credit(&mut self, entity: u64, token: Address, amount: U256) {
        if amount.is_zero() {
            return;
        }
        let cur = self.available(entity, token);
        self.funds.insert((entity, token), cur + amount);
    }

    /// Take funds; the caller has checked they are there.
    pub fn debit(&mut self, entity: u64, token: Address, amount: U256) {
        let cur = self.available(entity, token);
        let left = cur.saturating_sub(amount);
        if left.is_zero() {
            self.funds.remove(&(entity, token));
        } else {
            self.funds.insert((entity, token), left);
        }
    }

    /// The EIP-712 domain of the protocol's meta-transactions: no chain id, the
    /// chain id as salt (core-sdk `src/utils/signature.ts`).
    pub fn domain(&self) -> alloy::sol_types::Eip712Domain {
        alloy::sol_types::Eip712Domain::new(
            Some("Boson Protocol".into()),
            Some("V2".into()),
            None,
            Some(self.rules.diamond),
            Some(B256::from(U256::from(self.rules.chain_id))),
        )
    }
}

/// The selector of a call type, for tables keyed by function.
pub fn selector<C: SolCall>() -> [u8; 4] {
    C::SELECTOR
}
