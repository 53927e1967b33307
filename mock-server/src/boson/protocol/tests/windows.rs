//! Every time rule at its edge: one second before, at, and one second after, as
//! the research notes give each window (inclusive or exclusive).

use alloy::primitives::U256;

use super::{
    Call, REDEEMABLE_FROM, Stage, T_ESCALATE, VALID_FROM, VALID_UNTIL, Who, World, at, verdict,
};
use crate::boson::abi::IBosonProtocol as P;

type Anchor = fn(&World, u64) -> u64;

/// What a row does.
#[derive(Debug, Clone, Copy)]
enum Act {
    /// The buyer commits to the world's offer (on a world with no exchange yet).
    Commit,
    On(Call, Who),
    /// The seller extends the dispute timeout to `timeout + by`.
    Extend(i64),
}

/// The act at `anchor + delta`, and its verdict ("ok" or the revert's name).
struct Edge {
    act: Act,
    stage: Stage,
    anchor: Anchor,
    delta: i64,
    expect: &'static str,
}

#[rustfmt::skip]
fn edges() -> Vec<Edge> {
    use Act::{Commit, Extend, On};
    use Call as C;
    use Stage as S;
    use Who::{Buyer, Resolver, Seller, Stranger};
    let valid_from: Anchor = |_, _| VALID_FROM;
    let valid_until: Anchor = |_, _| VALID_UNTIL;
    let redeemable: Anchor = |_, _| REDEEMABLE_FROM;
    let voucher: Anchor = |w, id| w.voucher_until(id);
    let redeemed: Anchor = |w, id| w.exchange(id).redeemed;
    let period: Anchor = |w, id| w.dispute_period_end(id);
    let timeout: Anchor = |w, id| w.timeout(id);
    let escalating: Anchor = |_, _| T_ESCALATE;
    let e = |act, stage, anchor, delta, expect| Edge { act, stage, anchor, delta, expect };
    vec![
        // Commit: validFrom <= now <= validUntil.
        e(Commit, S::Committed, valid_from, -1, "OfferNotAvailable"),
        e(Commit, S::Committed, valid_from, 0, "ok"),
        e(Commit, S::Committed, valid_until, 0, "ok"),
        e(Commit, S::Committed, valid_until, 1, "OfferHasExpired"),
        // Redeem: voucherRedeemableFrom <= now <= validUntilDate.
        e(On(C::Redeem, Buyer), S::Committed, redeemable, -1, "VoucherNotRedeemable"),
        e(On(C::Redeem, Buyer), S::Committed, redeemable, 0, "ok"),
        e(On(C::Redeem, Buyer), S::Committed, voucher, 0, "ok"),
        e(On(C::Redeem, Buyer), S::Committed, voucher, 1, "VoucherNotRedeemable"),
        // Expire the voucher: now > validUntilDate.
        e(On(C::Expire, Stranger), S::Committed, voucher, -1, "VoucherStillValid"),
        e(On(C::Expire, Stranger), S::Committed, voucher, 0, "VoucherStillValid"),
        e(On(C::Expire, Stranger), S::Committed, voucher, 1, "ok"),
        // Complete: the buyer any time; anyone else once the dispute period has run.
        e(On(C::Complete, Stranger), S::Redeemed, period, -1, "DisputePeriodNotElapsed"),
        e(On(C::Complete, Stranger), S::Redeemed, period, 0, "ok"),
        e(On(C::Complete, Seller), S::Redeemed, period, -1, "DisputePeriodNotElapsed"),
        e(On(C::Complete, Seller), S::Redeemed, period, 0, "ok"),
        e(On(C::Complete, Buyer), S::Redeemed, redeemed, 0, "ok"),
        e(On(C::Complete, Buyer), S::Redeemed, period, -1, "ok"),
        // Raise: now - redeemedDate < disputePeriod.
        e(On(C::Raise, Buyer), S::Redeemed, period, -1, "ok"),
        e(On(C::Raise, Buyer), S::Redeemed, period, 0, "DisputePeriodHasElapsed"),
        // Retract: no time rule while resolving; now <= timeout once escalated.
        e(On(C::Retract, Buyer), S::Resolving, timeout, 1, "ok"),
        e(On(C::Retract, Buyer), S::Escalated, timeout, 0, "ok"),
        e(On(C::Retract, Buyer), S::Escalated, timeout, 1, "DisputeHasExpired"),
        // Resolve, escalate, decide, refuse: now <= timeout.
        e(On(C::Resolve, Buyer), S::Resolving, timeout, 0, "ok"),
        e(On(C::Resolve, Buyer), S::Resolving, timeout, 1, "DisputeHasExpired"),
        e(On(C::Resolve, Seller), S::Escalated, timeout, 0, "ok"),
        e(On(C::Resolve, Seller), S::Escalated, timeout, 1, "DisputeHasExpired"),
        e(On(C::Escalate, Buyer), S::Resolving, timeout, 0, "ok"),
        e(On(C::Escalate, Buyer), S::Resolving, timeout, 1, "DisputeHasExpired"),
        e(On(C::Decide, Resolver), S::Escalated, timeout, 0, "ok"),
        e(On(C::Decide, Resolver), S::Escalated, timeout, 1, "DisputeHasExpired"),
        e(On(C::Refuse, Resolver), S::Escalated, timeout, 0, "ok"),
        e(On(C::Refuse, Resolver), S::Escalated, timeout, 1, "DisputeHasExpired"),
        // Expire a dispute: now > timeout.
        e(On(C::ExpireDispute, Stranger), S::Resolving, timeout, -1, "DisputeStillValid"),
        e(On(C::ExpireDispute, Stranger), S::Resolving, timeout, 0, "DisputeStillValid"),
        e(On(C::ExpireDispute, Stranger), S::Resolving, timeout, 1, "ok"),
        e(On(C::ExpireEscalated, Stranger), S::Escalated, timeout, -1, "DisputeStillValid"),
        e(On(C::ExpireEscalated, Stranger), S::Escalated, timeout, 0, "DisputeStillValid"),
        e(On(C::ExpireEscalated, Stranger), S::Escalated, timeout, 1, "ok"),
        // Extend the timeout: now <= timeout, and only to a later one.
        e(Extend(1), S::Resolving, timeout, 0, "ok"),
        e(Extend(1), S::Resolving, timeout, 1, "DisputeHasExpired"),
        e(Extend(1), S::Resolving, escalating, 0, "ok"),
        e(Extend(0), S::Resolving, escalating, 0, "InvalidDisputeTimeout"),
        e(Extend(-1), S::Resolving, escalating, 0, "InvalidDisputeTimeout"),
    ]
}

#[test]
fn every_time_rule_holds_at_its_edge() {
    for (i, edge) in edges().into_iter().enumerate() {
        let (mut w, id) = match edge.act {
            Act::Commit => (World::new(), 0),
            _ => {
                let (w, id, _) = at(edge.stage);
                (w, id)
            }
        };
        let now = (edge.anchor)(&w, id).saturating_add_signed(edge.delta);
        let applied = match edge.act {
            Act::Commit => w.commit(now).map(|(_, out)| out),
            Act::On(call, who) => call.on(&mut w, id, who, now),
            Act::Extend(by) => {
                let call = P::extendDisputeTimeoutCall {
                    _exchangeId: U256::from(id),
                    _newDisputeTimeout: U256::from(w.timeout(id).saturating_add_signed(by)),
                };
                w.call(Who::Seller, now, call)
            }
        };
        assert_eq!(
            verdict(&applied),
            edge.expect,
            "row {i}: {:?} at {:+}",
            edge.act,
            edge.delta
        );
    }
}

#[test]
fn an_extended_timeout_moves_the_expiry() {
    let (mut w, id, _) = at(Stage::Resolving);
    let old = w.timeout(id);
    let call = P::extendDisputeTimeoutCall {
        _exchangeId: U256::from(id),
        _newDisputeTimeout: U256::from(old + super::DAY),
    };
    w.call(Who::Seller, T_ESCALATE, call).expect("extend");
    assert_eq!(w.timeout(id), old + super::DAY);
    let expire = |w: &mut World, now| Call::ExpireDispute.on(w, id, Who::Stranger, now);
    assert_eq!(verdict(&expire(&mut w, old + 1)), "DisputeStillValid");
    assert_eq!(verdict(&expire(&mut w, old + super::DAY + 1)), "ok");
}
