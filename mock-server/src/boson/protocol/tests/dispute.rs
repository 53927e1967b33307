//! Disputes: a finished dispute leaves its exchange `Disputed` and carries the
//! outcome; the timeouts follow the offer's periods; a resolution needs the other
//! party's EIP-712 signature over `Resolution` in the protocol's domain.

use alloy::primitives::{Address, Bytes, U256};
use alloy::sol_types::{SolCall, SolStruct};

use super::{
    BP, Call, DisputeState as D, ESCALATION_PERIOD, ExchangeState as X, HOUR, Offer,
    RESOLUTION_PERIOD, Stage, T_ESCALATE, T_RAISE, T_REDEEM, Who, World, at, verdict,
};
use crate::boson::abi::IBosonProtocol as P;
use crate::boson::abi::Resolution;
use crate::boson::protocol::{Protocol, Rules};

/// Brings a fresh exchange to the end of its dispute.
type Ending = fn() -> (World, u64);

#[test]
fn a_finished_dispute_leaves_the_exchange_disputed_with_the_outcome() {
    // (how the dispute ends, its state, the buyer's share it records)
    let endings: [(&str, Ending, D, u64); 6] = [
        ("retracted", || end(Stage::Retracted), D::Retracted, 0),
        ("resolved", || end(Stage::Resolved), D::Resolved, BP),
        ("decided", || end(Stage::Decided), D::Decided, BP),
        ("refused", || end(Stage::Refused), D::Refused, 0),
        (
            "expired",
            || expire(Stage::Resolving, Call::ExpireDispute),
            D::Retracted,
            0,
        ),
        (
            "expired escalated",
            || expire(Stage::Escalated, Call::ExpireEscalated),
            D::Refused,
            0,
        ),
    ];
    for (name, ending, state, bp) in endings {
        let (mut w, id) = ending();
        let x = w.exchange(id).clone();
        assert_eq!(x.state, X::Disputed, "{name}");
        let d = x.dispute.clone().expect("the dispute stays");
        assert_eq!(d.state, state, "{name}");
        assert_eq!(d.buyer_percent, bp, "{name}");
        assert!(
            d.finalized > 0 && d.finalized == x.finalized,
            "{name}: finalized dated"
        );
        assert!(x.is_final(), "{name}");

        let ex = U256::from(id);
        let out = w.view(P::getExchangeStateCall { _exchangeId: ex });
        let view = P::getExchangeStateCall::abi_decode_returns(&out).expect("decodes");
        assert!(view.exists);
        assert_eq!(view.state, X::Disputed as u8, "{name}");
        let out = w.view(P::getDisputeCall { _exchangeId: ex });
        let view = P::getDisputeCall::abi_decode_returns(&out).expect("decodes");
        assert_eq!(view.dispute.state, state as u8, "{name}");
        assert_eq!(view.dispute.buyerPercent, U256::from(bp), "{name}");
    }
}

fn end(stage: Stage) -> (World, u64) {
    let (w, id, _) = at(stage);
    (w, id)
}

fn expire(stage: Stage, call: Call) -> (World, u64) {
    let (mut w, id, _) = at(stage);
    let now = w.timeout(id) + 1;
    call.on(&mut w, id, Who::Stranger, now).expect("expires");
    (w, id)
}

#[test]
fn timeouts_follow_the_resolution_and_escalation_periods() {
    let (w, id, _) = at(Stage::Resolving);
    let d = w.exchange(id).dispute.clone().expect("disputed");
    assert_eq!(
        (d.disputed, d.timeout),
        (T_RAISE, T_RAISE + RESOLUTION_PERIOD)
    );
    let (w, id, _) = at(Stage::Escalated);
    let d = w.exchange(id).dispute.clone().expect("disputed");
    assert_eq!(
        (d.escalated, d.timeout),
        (T_ESCALATE, T_ESCALATE + ESCALATION_PERIOD)
    );
}

/// A resolution attempt: who calls, who signed, what was signed and what is sent.
struct Attempt {
    caller: Who,
    signer: Who,
    signed_bp: u64,
    sent_bp: u64,
    /// Added to the exchange id in the signed message.
    signed_other_exchange: u64,
    expect: &'static str,
}

#[test]
fn a_resolution_needs_the_other_partys_signature_over_its_terms() {
    use Who::{Buyer, Resolver, Seller, Stranger};
    let a = |caller, signer, signed_bp, sent_bp, signed_other_exchange, expect| Attempt {
        caller,
        signer,
        signed_bp,
        sent_bp,
        signed_other_exchange,
        expect,
    };
    let attempts = [
        a(Buyer, Seller, BP, BP, 0, "ok"),
        a(Seller, Buyer, BP, BP, 0, "ok"),
        a(Buyer, Seller, 10_000, 10_000, 0, "ok"),
        a(Seller, Buyer, 0, 0, 0, "ok"),
        a(Buyer, Buyer, BP, BP, 0, "SignatureValidationFailed"),
        a(Seller, Seller, BP, BP, 0, "SignatureValidationFailed"),
        a(Buyer, Stranger, BP, BP, 0, "SignatureValidationFailed"),
        a(Buyer, Resolver, BP, BP, 0, "SignatureValidationFailed"),
        a(Buyer, Seller, BP, BP + 1, 0, "SignatureValidationFailed"),
        a(Buyer, Seller, BP, BP, 1, "SignatureValidationFailed"),
        a(Buyer, Seller, 10_001, 10_001, 0, "InvalidBuyerPercent"),
        a(Stranger, Seller, BP, BP, 0, "NotBuyerOrSeller"),
        a(Resolver, Seller, BP, BP, 0, "NotBuyerOrSeller"),
    ];
    for (i, t) in attempts.iter().enumerate() {
        let (mut w, id, _) = at(Stage::Resolving);
        let call = P::resolveDisputeCall {
            _exchangeId: U256::from(id),
            _buyerPercent: U256::from(t.sent_bp),
            _signature: w.sign_resolution(t.signer, id + t.signed_other_exchange, t.signed_bp),
        };
        let applied = w.call(t.caller, T_RAISE + HOUR, call);
        assert_eq!(verdict(&applied), t.expect, "attempt {i}");
        if t.expect == "ok" {
            let d = w.exchange(id).dispute.clone().expect("disputed");
            assert_eq!(
                (d.state, d.buyer_percent),
                (D::Resolved, t.sent_bp),
                "attempt {i}"
            );
        }
    }
}

#[test]
fn a_resolution_signed_in_another_domain_or_malformed_is_refused() {
    let (mut w, id, _) = at(Stage::Resolving);
    let resolution = Resolution {
        exchangeId: U256::from(id),
        buyerPercentBasisPoints: U256::from(BP),
    };
    let elsewhere = Protocol::new(Rules::new(w.p.rules.diamond, 1), Address::ZERO).domain();
    let other_contract = Protocol::new(Rules::new(Address::repeat_byte(9), 31_337), Address::ZERO);
    let signatures = [
        super::sign(&w.seller, resolution.eip712_signing_hash(&elsewhere)),
        super::sign(
            &w.seller,
            resolution.eip712_signing_hash(&other_contract.domain()),
        ),
        Bytes::from(vec![7u8; 64]),
        Bytes::new(),
    ];
    for (i, signature) in signatures.into_iter().enumerate() {
        let call = P::resolveDisputeCall {
            _exchangeId: U256::from(id),
            _buyerPercent: U256::from(BP),
            _signature: signature,
        };
        let applied = w.call(Who::Buyer, T_RAISE + HOUR, call);
        assert_eq!(
            verdict(&applied),
            "SignatureValidationFailed",
            "signature {i}"
        );
    }
}

#[test]
fn a_decision_over_the_whole_is_an_invalid_percent() {
    for (bp, expect) in [(10_000, "ok"), (10_001, "InvalidBuyerPercent")] {
        let (mut w, id, _) = at(Stage::Escalated);
        let call = P::decideDisputeCall {
            _exchangeId: U256::from(id),
            _buyerPercent: U256::from(bp),
        };
        assert_eq!(
            verdict(&w.call(Who::Resolver, T_ESCALATE + HOUR, call)),
            expect,
            "{bp}"
        );
    }
}

#[test]
fn an_offer_without_a_resolver_cannot_be_escalated() {
    let mut w = World::new();
    let ctx = super::ctx(w.addr(Who::Seller), super::VALID_FROM, 0, 0);
    let offer = Offer {
        resolver_id: 0,
        ..super::offer(w.seller_id)
    };
    let (offer_id, _) = super::super::offer::insert(&mut w.p, offer, &ctx).expect("valid");
    w.offer_id = offer_id;
    let (id, _) = w.commit(super::T_COMMIT).expect("commit");
    let x = U256::from(id);
    w.call(
        Who::Buyer,
        T_REDEEM,
        P::redeemVoucherCall { _exchangeId: x },
    )
    .expect("redeem");
    w.call(Who::Buyer, T_RAISE, P::raiseDisputeCall { _exchangeId: x })
        .expect("raise");
    let escalate = P::escalateDisputeCall { _exchangeId: x };
    assert_eq!(
        verdict(&w.pay(Who::Buyer, T_ESCALATE, 0, escalate)),
        "EscalationNotAllowed"
    );
}
