//! Tests of the protocol against the Boson rules (DOMAIN.md, research section 5):
//! a small world (one seller, one resolver, one offer, named accounts) shared by
//! the test modules below.
//!
//! - [`stages`]: the stages an exchange passes through, and the calls on it.
//! - [`transitions`]: every transition with its caller, event, wrong caller, wrong state.
//! - [`windows`]: every time rule one second either side of its edge.
//! - [`exchange`]: commit's event and voucher date, anyone may commit for a buyer.
//! - [`dispute`]: finished disputes stay `Disputed`; countersigned resolutions.
//! - [`funds`]: the payoff of each ending, payment checks, withdrawals.
//! - [`offers`]: offer validation, voiding, selling out.
//! - [`meta`]: meta-transactions (EIP-712, nonces, function names, inner reverts).
//! - [`pause`]: paused regions.
//! - [`walk`]: a random walk of many exchanges, checking conservation after each step.

mod dispute;
mod exchange;
mod funds;
mod meta;
mod offers;
mod pause;
mod stages;
mod transitions;
mod walk;
mod windows;

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolStruct};

use super::{
    Ctx, DisputeState, Exchange, ExchangeState, NATIVE, Offer, Outcome, Protocol, Revert, Rules,
};
use crate::boson::abi::IBosonProtocol as P;
use crate::boson::abi::Resolution;
use stages::{Call, Stage, at};

const DAY: u64 = 86_400;
const HOUR: u64 = 3_600;

const PRICE: u64 = 1_000_000;
const DEPOSIT: u64 = 100_000;
const PENALTY: u64 = 50_000;
/// The resolver's fee; the buyer's escalation deposit is 10% of it (the rules' default).
const DR_FEE: u64 = 200_000;
const ESCALATION: u64 = 20_000;
/// 0.5% of the price (the rules' default fee).
const PROTOCOL_FEE: u64 = 5_000;
/// What the seller has deposited before the first commit.
const SELLER_FUNDS: u64 = 50 * DEPOSIT;

const VALID_FROM: u64 = 1_700_000_000;
const VALID_UNTIL: u64 = VALID_FROM + 100 * DAY;
const REDEEMABLE_FROM: u64 = VALID_FROM + 2 * DAY;
const VOUCHER_VALID: u64 = 30 * DAY;
const DISPUTE_PERIOD: u64 = 7 * DAY;
const RESOLUTION_PERIOD: u64 = 10 * DAY;
const ESCALATION_PERIOD: u64 = 5 * DAY;
const QUANTITY: u64 = 1_000;
/// The resolution's buyer share the stage builders use.
const BP: u64 = 2_500;

/// When the stage builders act: commit before the voucher is redeemable, then
/// each step a little after the previous one, well inside every window.
const T_COMMIT: u64 = VALID_FROM + DAY;
const T_REDEEM: u64 = REDEEMABLE_FROM + HOUR;
const T_RAISE: u64 = T_REDEEM + DAY;
const T_ESCALATE: u64 = T_RAISE + DAY;
/// The voucher's expiry for an exchange committed before `REDEEMABLE_FROM`.
const VOUCHER_UNTIL: u64 = REDEEMABLE_FROM + VOUCHER_VALID;

fn key(byte: u8) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&B256::repeat_byte(byte)).expect("a valid secp256k1 key")
}

/// The parties a call can come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Buyer,
    Seller,
    Resolver,
    /// Anyone else: no role in the exchange.
    Stranger,
}

/// A protocol with one seller (funded), one resolver, one offer, and the keys of
/// everyone who acts on it. Calls are applied to a clone kept only on success, as
/// the chain does.
#[derive(Debug, Clone)]
struct World {
    p: Protocol,
    buyer: PrivateKeySigner,
    seller: PrivateKeySigner,
    resolver: PrivateKeySigner,
    stranger: PrivateKeySigner,
    /// Where the seller's withdrawals go.
    treasury: Address,
    seller_id: u64,
    resolver_id: u64,
    offer_id: u64,
    /// The paused regions' bits for every call.
    paused: u32,
}

impl World {
    fn new() -> Self {
        let (buyer, seller, resolver, stranger) = (key(1), key(2), key(3), key(4));
        let treasury = Address::repeat_byte(0x77);
        let rules = Rules::new(Address::repeat_byte(0xd1), 31_337);
        let mut p = Protocol::new(rules, Address::repeat_byte(0x0e));
        let seller_id = p.add_seller(seller.address(), treasury);
        let resolver_id = p.add_resolver(resolver.address(), ESCALATION_PERIOD, U256::from(DR_FEE));
        p.credit(seller_id, NATIVE, U256::from(SELLER_FUNDS));
        let offer = Offer {
            resolver_id,
            ..offer(seller_id)
        };
        let ctx = ctx(seller.address(), VALID_FROM - DAY, 0, 0);
        let (offer_id, _) = super::offer::insert(&mut p, offer, &ctx).expect("the offer is valid");
        Self {
            p,
            buyer,
            seller,
            resolver,
            stranger,
            treasury,
            seller_id,
            resolver_id,
            offer_id,
            paused: 0,
        }
    }

    fn signer(&self, who: Who) -> &PrivateKeySigner {
        match who {
            Who::Buyer => &self.buyer,
            Who::Seller => &self.seller,
            Who::Resolver => &self.resolver,
            Who::Stranger => &self.stranger,
        }
    }

    fn addr(&self, who: Who) -> Address {
        self.signer(who).address()
    }

    /// Apply raw calldata from `sender` at `now` with `value` attached.
    fn raw(
        &mut self,
        sender: Address,
        now: u64,
        value: u64,
        data: &[u8],
    ) -> Result<Outcome, Revert> {
        let ctx = Ctx {
            paused: self.paused,
            ..ctx(sender, now, value, 0)
        };
        let mut next = self.p.clone();
        let applied = next.execute(&ctx, data);
        if applied.is_ok() {
            self.p = next;
        }
        applied
    }

    /// A call from `who` at `now`, without value.
    fn call<C: SolCall>(&mut self, who: Who, now: u64, call: C) -> Result<Outcome, Revert> {
        self.pay(who, now, 0, call)
    }

    /// A call from `who` at `now`, paying `value`.
    fn pay<C: SolCall>(
        &mut self,
        who: Who,
        now: u64,
        value: u64,
        call: C,
    ) -> Result<Outcome, Revert> {
        let sender = self.addr(who);
        self.raw(sender, now, value, &call.abi_encode())
    }

    /// A view's return data.
    fn view<C: SolCall>(&mut self, call: C) -> Bytes {
        let sender = self.addr(Who::Stranger);
        self.raw(sender, T_COMMIT, 0, &call.abi_encode())
            .expect("views answer")
            .output
    }

    /// The buyer commits to the world's offer at `now`, paying the price.
    fn commit(&mut self, now: u64) -> Result<(u64, Outcome), Revert> {
        let call = P::commitToOfferCall {
            _buyer: self.addr(Who::Buyer),
            _offerId: U256::from(self.offer_id),
        };
        let out = self.pay(Who::Buyer, now, PRICE, call)?;
        Ok((committed_id(&out), out))
    }

    /// `signer`'s EIP-712 signature over a resolution, in the protocol's domain.
    fn sign_resolution(&self, signer: Who, id: u64, bp: u64) -> Bytes {
        let hash = Resolution {
            exchangeId: U256::from(id),
            buyerPercentBasisPoints: U256::from(bp),
        }
        .eip712_signing_hash(&self.p.domain());
        sign(self.signer(signer), hash)
    }

    fn exchange(&self, id: u64) -> &Exchange {
        self.p.exchanges.get(&id).expect("the exchange exists")
    }

    /// The exchange's state, and its dispute's if it has one.
    fn status(&self, id: u64) -> (ExchangeState, Option<DisputeState>) {
        status(self.exchange(id))
    }

    fn voucher_until(&self, id: u64) -> u64 {
        self.exchange(id).valid_until
    }

    /// When the dispute period ends (the first second a dispute is refused).
    fn dispute_period_end(&self, id: u64) -> u64 {
        self.exchange(id).redeemed + DISPUTE_PERIOD
    }

    fn timeout(&self, id: u64) -> u64 {
        self.exchange(id)
            .dispute
            .as_ref()
            .expect("disputed")
            .timeout
    }

    fn available(&self, entity: u64) -> u64 {
        u64::try_from(self.p.available(entity, NATIVE)).expect("small amounts")
    }

    fn buyer_id(&self) -> u64 {
        *self
            .p
            .buyer_by_wallet
            .get(&self.addr(Who::Buyer))
            .expect("the buyer has committed")
    }
}

fn ctx(sender: Address, now: u64, value: u64, paused: u32) -> Ctx {
    Ctx {
        sender,
        origin: sender,
        value: U256::from(value),
        now,
        paused,
    }
}

/// The world's offer terms (the resolver is set by the caller).
fn offer(seller_id: u64) -> Offer {
    Offer {
        id: 0,
        seller_id,
        price: U256::from(PRICE),
        seller_deposit: U256::from(DEPOSIT),
        buyer_cancel_penalty: U256::from(PENALTY),
        quantity_available: U256::from(QUANTITY),
        quantity_initial: U256::from(QUANTITY),
        token: NATIVE,
        metadata_uri: "ipfs://offer".into(),
        metadata_hash: "offer".into(),
        voided: false,
        valid_from: VALID_FROM,
        valid_until: VALID_UNTIL,
        redeemable_from: REDEEMABLE_FROM,
        redeemable_until: 0,
        voucher_valid: VOUCHER_VALID,
        dispute_period: DISPUTE_PERIOD,
        resolution_period: RESOLUTION_PERIOD,
        resolver_id: 0,
        escalation_response_period: 0,
        dr_fee: U256::ZERO,
        protocol_fee: U256::ZERO,
    }
}

fn sign(signer: &PrivateKeySigner, hash: B256) -> Bytes {
    let sig = signer.sign_hash_sync(&hash).expect("signing succeeds");
    Bytes::from(sig.as_bytes().to_vec())
}

fn status(x: &Exchange) -> (ExchangeState, Option<DisputeState>) {
    (x.state, x.dispute.as_ref().map(|d| d.state))
}

/// The exchange a successful commit created.
fn committed_id(out: &Outcome) -> u64 {
    out.transitions
        .iter()
        .find(|(_, state)| *state == "Committed")
        .map(|(id, _)| *id)
        .expect("a commit creates an exchange")
}

/// The revert's name, or "ok".
fn verdict<T>(applied: &Result<T, Revert>) -> String {
    match applied {
        Ok(_) => "ok".to_string(),
        Err(e) => e.name(),
    }
}

/// The log topic0s an outcome emitted.
fn topics(out: &Outcome) -> Vec<B256> {
    out.logs
        .iter()
        .filter_map(|l| l.topics().first().copied())
        .collect()
}
