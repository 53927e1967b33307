//! A random walk: many exchanges driven by random calls from random parties at
//! random times moving forward. After every step: funds are conserved (available
//! funds plus what live exchanges hold is what came in less what went out), each
//! release pays out what its exchange held, every move is an edge of the state
//! machine, a final exchange never changes, and a refused call changes nothing.

use std::collections::BTreeMap;

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

use super::{
    BP, DAY, DisputeState as D, ESCALATION, ExchangeState as X, HOUR, NATIVE, Offer, PRICE,
    SELLER_FUNDS, VALID_FROM, World, key, status,
};
use crate::boson::abi::IBosonProtocol as P;
use checks::{
    Status, conserved, finals_stay_final, moves_are_edges, releases_pay_what_was_held, unchanged,
};

mod checks;

/// Steps per walk and walks per run: 32 × 150 = 4,800 calls.
const STEPS: usize = 150;
const CASES: u32 = 32;
/// Funds the walk's seller starts with beyond the world's.
const EXTRA_FUNDS: u64 = STEPS as u64 * super::DEPOSIT;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Commit,
    Redeem,
    Cancel,
    Revoke,
    ExpireVoucher,
    Complete,
    Raise,
    Retract,
    Escalate,
    Decide,
    Refuse,
    ExpireDispute,
    ExpireEscalated,
    Resolve,
    Extend,
    Withdraw,
    Deposit,
}

/// Each op with its weight: enough commits to keep live exchanges around, and
/// the steps of a dispute often enough to reach each of its endings.
const OPS: [(Op, usize); 17] = [
    (Op::Commit, 3),
    (Op::Redeem, 4),
    (Op::Cancel, 1),
    (Op::Revoke, 1),
    (Op::ExpireVoucher, 1),
    (Op::Complete, 1),
    (Op::Raise, 4),
    (Op::Retract, 1),
    (Op::Escalate, 3),
    (Op::Decide, 2),
    (Op::Refuse, 2),
    (Op::ExpireDispute, 1),
    (Op::ExpireEscalated, 1),
    (Op::Resolve, 2),
    (Op::Extend, 1),
    (Op::Withdraw, 2),
    (Op::Deposit, 1),
];

/// One random call.
#[derive(Debug, Clone)]
struct Step {
    op: Op,
    /// 0..3 a buyer, 3 the seller, 4 the resolver, 5 a stranger, 6..12 the party
    /// the call expects.
    actor: u8,
    /// Which recent exchange (0 the newest); 9 one that does not exist.
    target: u8,
    /// Seconds the clock moves forward before the call.
    dt: u64,
    /// The buyer's share for resolutions and decisions (may be out of range).
    bp: u64,
    /// Picks right or wrong payments, withdrawal amounts, timeout extensions.
    knob: u8,
}

fn step() -> impl Strategy<Value = Step> {
    let ops: Vec<Op> = OPS
        .iter()
        .flat_map(|(op, weight)| std::iter::repeat_n(*op, *weight))
        .collect();
    let dt = prop_oneof![5 => 0..HOUR, 4 => 0..DAY, 1 => 0..8 * DAY];
    (
        proptest::sample::select(ops),
        0u8..12,
        0u8..10,
        dt,
        prop_oneof![4 => Just(BP), 5 => 0u64..=10_000, 1 => 10_001u64..20_000],
        any::<u8>(),
    )
        .prop_map(|(op, actor, target, dt, bp, knob)| Step {
            op,
            actor,
            target,
            dt,
            bp,
            knob,
        })
}

/// What came into and went out of the diamond, for the conservation check.
#[derive(Debug, Default, Clone)]
struct Books {
    came_in: U256,
    went_out: U256,
}

/// How often each transition and revert happened (to show the walk reaches them).
type Tally = BTreeMap<String, usize>;

/// The walk's world: the seller, resolver and stranger of `World`, three buyers,
/// and an offer open for years so commits stay possible throughout.
struct Walk {
    w: World,
    buyers: Vec<PrivateKeySigner>,
    now: u64,
    books: Books,
    tally: Tally,
}

impl Walk {
    fn new() -> Self {
        let mut w = World::new();
        let offer = Offer {
            valid_until: VALID_FROM + 3 * 365 * DAY,
            resolver_id: w.resolver_id,
            ..super::offer(w.seller_id)
        };
        let ctx = super::ctx(w.seller.address(), VALID_FROM, 0, 0);
        let (id, _) = super::super::offer::insert(&mut w.p, offer, &ctx).expect("valid offer");
        w.offer_id = id;
        // Enough for every commit of a walk; deposits in the walk add more.
        w.p.credit(w.seller_id, NATIVE, U256::from(EXTRA_FUNDS));
        let buyers = vec![w.buyer.clone(), key(5), key(6)];
        Self {
            w,
            buyers,
            now: VALID_FROM,
            books: Books {
                came_in: U256::from(SELLER_FUNDS + EXTRA_FUNDS),
                went_out: U256::ZERO,
            },
            tally: Tally::new(),
        }
    }

    /// The exchange a step acts on: mostly a recent one in a state the call
    /// accepts, sometimes any recent one, sometimes one that does not exist.
    fn exchange_id(&self, s: &Step) -> u64 {
        let newest = self.w.p.next_exchange - 1;
        if s.target >= 9 || newest == 0 {
            return newest + 1;
        }
        if s.target < 7 {
            let fitting: Vec<u64> = self
                .w
                .p
                .exchanges
                .iter()
                .rev()
                .filter(|(_, x)| fits(s.op, status(x)))
                .map(|(id, _)| *id)
                .take(7)
                .collect();
            if !fitting.is_empty() {
                return fitting[usize::from(s.target) % fitting.len()];
            }
        }
        newest.saturating_sub(u64::from(s.target)).max(1)
    }

    /// The key of the wallet that holds exchange `id`'s voucher (the first buyer if
    /// there is no such exchange).
    fn holder(&self, id: u64) -> &PrivateKeySigner {
        let wallet = self
            .w
            .p
            .exchanges
            .get(&id)
            .and_then(|x| self.w.p.buyers.get(&x.buyer_id))
            .map(|b| b.wallet);
        self.buyers
            .iter()
            .find(|k| Some(k.address()) == wallet)
            .unwrap_or(&self.buyers[0])
    }

    /// Who makes the call.
    fn actor(&self, s: &Step, id: u64) -> PrivateKeySigner {
        let w = &self.w;
        match s.actor {
            0..=2 => self.buyers[usize::from(s.actor)].clone(),
            3 => w.seller.clone(),
            4 => w.resolver.clone(),
            5 => w.stranger.clone(),
            _ => match s.op {
                Op::Commit => self.buyers[usize::from(s.target % 3)].clone(),
                Op::Revoke | Op::Extend | Op::Withdraw | Op::Deposit => w.seller.clone(),
                Op::Decide | Op::Refuse => w.resolver.clone(),
                Op::ExpireVoucher | Op::ExpireDispute | Op::ExpireEscalated => w.stranger.clone(),
                Op::Resolve if s.knob % 2 == 1 => w.seller.clone(),
                _ => self.holder(id).clone(),
            },
        }
    }

    /// The calldata and value of a step from `from`.
    fn build(&self, s: &Step, id: u64, from: Address) -> (Vec<u8>, u64) {
        let p = &self.w.p;
        let x = U256::from(id);
        let wrong_payment = s.knob < 16;
        match s.op {
            Op::Commit => {
                let buyer = if s.actor < 3 {
                    from
                } else {
                    self.buyers[usize::from(s.target % 3)].address()
                };
                let call = P::commitToOfferCall {
                    _buyer: buyer,
                    _offerId: U256::from(self.w.offer_id),
                };
                (
                    call.abi_encode(),
                    if wrong_payment { PRICE - 1 } else { PRICE },
                )
            }
            Op::Redeem => (P::redeemVoucherCall { _exchangeId: x }.abi_encode(), 0),
            Op::Cancel => (P::cancelVoucherCall { _exchangeId: x }.abi_encode(), 0),
            Op::Revoke => (P::revokeVoucherCall { _exchangeId: x }.abi_encode(), 0),
            Op::ExpireVoucher => (P::expireVoucherCall { _exchangeId: x }.abi_encode(), 0),
            Op::Complete => (P::completeExchangeCall { _exchangeId: x }.abi_encode(), 0),
            Op::Raise => (P::raiseDisputeCall { _exchangeId: x }.abi_encode(), 0),
            Op::Retract => (P::retractDisputeCall { _exchangeId: x }.abi_encode(), 0),
            Op::Escalate => {
                let call = P::escalateDisputeCall { _exchangeId: x };
                (
                    call.abi_encode(),
                    if wrong_payment { 0 } else { ESCALATION },
                )
            }
            Op::Decide => {
                let call = P::decideDisputeCall {
                    _exchangeId: x,
                    _buyerPercent: U256::from(s.bp),
                };
                (call.abi_encode(), 0)
            }
            Op::Refuse => (
                P::refuseEscalatedDisputeCall { _exchangeId: x }.abi_encode(),
                0,
            ),
            Op::ExpireDispute => (P::expireDisputeCall { _exchangeId: x }.abi_encode(), 0),
            Op::ExpireEscalated => (
                P::expireEscalatedDisputeCall { _exchangeId: x }.abi_encode(),
                0,
            ),
            Op::Resolve => {
                // The other party countersigns: the seller if the holder calls, else
                // the holder.
                let holder = self.holder(id);
                let signer = if from == holder.address() {
                    &self.w.seller
                } else {
                    holder
                };
                let hash = alloy::sol_types::SolStruct::eip712_signing_hash(
                    &crate::boson::abi::Resolution {
                        exchangeId: x,
                        buyerPercentBasisPoints: U256::from(s.bp),
                    },
                    &p.domain(),
                );
                let call = P::resolveDisputeCall {
                    _exchangeId: x,
                    _buyerPercent: U256::from(s.bp),
                    _signature: super::sign(signer, hash),
                };
                (call.abi_encode(), 0)
            }
            Op::Extend => {
                let timeout = p
                    .exchanges
                    .get(&id)
                    .and_then(|x| x.dispute.as_ref())
                    .map_or(self.now, |d| d.timeout);
                let call = P::extendDisputeTimeoutCall {
                    _exchangeId: x,
                    _newDisputeTimeout: U256::from(timeout + u64::from(s.knob % 4) * DAY),
                };
                (call.abi_encode(), 0)
            }
            Op::Withdraw => {
                let entity = if from == self.w.resolver.address() {
                    self.w.resolver_id
                } else {
                    p.buyer_by_wallet
                        .get(&from)
                        .copied()
                        .unwrap_or(self.w.seller_id)
                };
                let have = p.available(entity, NATIVE);
                let (tokens, amounts) = match s.knob % 3 {
                    0 => (vec![], vec![]),
                    1 => (vec![NATIVE], vec![have / U256::from(2)]),
                    _ => (vec![NATIVE], vec![have + U256::from(1)]),
                };
                let call = P::withdrawFundsCall {
                    _entityId: U256::from(entity),
                    _tokenList: tokens,
                    _tokenAmounts: amounts,
                };
                (call.abi_encode(), 0)
            }
            Op::Deposit => {
                let amount = super::DEPOSIT * (1 + u64::from(s.knob % 5));
                let call = P::depositFundsCall {
                    _entityId: U256::from(self.w.seller_id),
                    _tokenAddress: NATIVE,
                    _amount: U256::from(amount),
                };
                (
                    call.abi_encode(),
                    if wrong_payment { amount - 1 } else { amount },
                )
            }
        }
    }

    /// Take one step and check every invariant after it.
    fn step(&mut self, s: &Step) -> Result<(), String> {
        self.now += s.dt;
        let id = self.exchange_id(s);
        let from = self.actor(s, id).address();
        let (data, value) = self.build(s, id, from);
        let ctx = super::ctx(from, self.now, value, 0);
        let mut next = self.w.p.clone();
        let applied = next.execute(&ctx, &data);
        match &applied {
            Ok(out) => {
                self.books.came_in += U256::from(value);
                for (_, amount) in &out.payouts {
                    self.books.went_out += *amount;
                }
                releases_pay_what_was_held(&self.w.p, &next, out)?;
                finals_stay_final(&self.w.p, &next)?;
                moves_are_edges(&self.w.p, &next)?;
                for (_, state) in &out.transitions {
                    *self.tally.entry((*state).to_string()).or_default() += 1;
                }
                self.w.p = next;
            }
            Err(e) => {
                unchanged(&self.w.p, &next)
                    .map_err(|m| format!("{s:?} refused {}: {m}", e.name()))?;
                *self.tally.entry(e.name()).or_default() += 1;
            }
        }
        conserved(&self.w.p, &self.books).map_err(|m| format!("after {s:?}: {m}"))
    }
}

/// The call accepts an exchange in this status (by DOMAIN.md's table).
fn fits(op: Op, status: Status) -> bool {
    use D::{Escalated, Resolving};
    match op {
        Op::Redeem | Op::Cancel | Op::Revoke | Op::ExpireVoucher => status == (X::Committed, None),
        Op::Complete | Op::Raise => status == (X::Redeemed, None),
        Op::Escalate | Op::Extend | Op::ExpireDispute => status == (X::Disputed, Some(Resolving)),
        Op::Decide | Op::Refuse | Op::ExpireEscalated => status == (X::Disputed, Some(Escalated)),
        Op::Retract | Op::Resolve => matches!(status, (X::Disputed, Some(Resolving | Escalated))),
        Op::Commit | Op::Withdraw | Op::Deposit => false,
    }
}

fn walk(steps: &[Step]) -> Result<Tally, String> {
    let mut walk = Walk::new();
    for (i, s) in steps.iter().enumerate() {
        walk.step(s).map_err(|m| format!("step {i}: {m}"))?;
    }
    Ok(walk.tally)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn random_walks_conserve_funds_and_keep_finals_final(
        steps in proptest::collection::vec(step(), STEPS)
    ) {
        walk(&steps).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn the_walk_reaches_every_transition() {
    let mut runner = TestRunner::deterministic();
    let strategy = proptest::collection::vec(step(), STEPS);
    let mut tally = Tally::new();
    for _ in 0..CASES {
        let steps = strategy.new_tree(&mut runner).expect("generates").current();
        for (name, n) in walk(&steps).expect("the invariants hold") {
            *tally.entry(name).or_default() += n;
        }
    }
    let reached = [
        "Committed",
        "Redeemed",
        "Canceled",
        "Revoked",
        "Completed",
        "Disputed",
        "Retracted",
        "Resolved",
        "Escalated",
        "Decided",
        "Refused",
    ];
    for name in reached {
        assert!(
            tally.get(name).copied().unwrap_or(0) > 0,
            "never reached {name}: {tally:?}"
        );
    }
    let refused = [
        "InvalidState",
        "NotVoucherHolder",
        "DisputeHasExpired",
        "InsufficientValueReceived",
    ];
    for name in refused {
        assert!(
            tally.get(name).copied().unwrap_or(0) > 0,
            "never refused with {name}: {tally:?}"
        );
    }
}
