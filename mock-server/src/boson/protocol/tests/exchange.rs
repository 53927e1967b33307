//! Commit and the voucher: the `BuyerCommitted` event, the voucher's expiry date
//! by the research notes' formula, who holds the voucher, the expired flag.

use alloy::primitives::U256;
use alloy::sol_types::{SolCall, SolEvent};

use super::{
    DAY, NATIVE, Offer, REDEEMABLE_FROM, Stage, T_COMMIT, T_REDEEM, VALID_FROM, VALID_UNTIL,
    VOUCHER_UNTIL, VOUCHER_VALID, Who, World, at, topics, verdict,
};
use crate::boson::abi::IBosonProtocol as P;

#[test]
fn commit_emits_buyer_committed_naming_the_new_exchange() {
    let mut w = World::new();
    let (id, out) = w.commit(T_COMMIT).expect("commit");
    let log = out
        .logs
        .iter()
        .find(|l| l.topics().first() == Some(&P::BuyerCommitted::SIGNATURE_HASH))
        .expect("BuyerCommitted is emitted");
    let event = P::BuyerCommitted::decode_log_data(log).expect("decodes");
    assert_eq!(event.exchangeId, U256::from(id));
    assert_eq!(event.offerId, U256::from(w.offer_id));
    assert_eq!(event.buyerId, U256::from(w.buyer_id()));
    assert_eq!(event.exchange.state, 0, "Committed");
    assert_eq!(event.voucher.committedDate, U256::from(T_COMMIT));
    assert_eq!(event.voucher.validUntilDate, U256::from(VOUCHER_UNTIL));
    assert_eq!(event.executedBy, w.addr(Who::Buyer));
    let t = topics(&out);
    assert!(
        t.contains(&P::BuyerCreated::SIGNATURE_HASH),
        "first commit creates the buyer"
    );
    let encumbered = t
        .iter()
        .filter(|t| **t == P::FundsEncumbered::SIGNATURE_HASH)
        .count();
    assert_eq!(encumbered, 2, "the price and the seller's deposit");

    let (second, out) = w.commit(T_COMMIT + 1).expect("second commit");
    assert_eq!(second, id + 1);
    assert!(
        !topics(&out).contains(&P::BuyerCreated::SIGNATURE_HASH),
        "the buyer exists"
    );
}

#[test]
fn the_voucher_expires_by_the_offer_dates() {
    let late = REDEEMABLE_FROM + 5 * DAY;
    let fixed_until = VALID_UNTIL + 10 * DAY;
    // (commit time, redeemableUntil of the offer, expected validUntilDate)
    let cases = [
        (T_COMMIT, 0, REDEEMABLE_FROM + VOUCHER_VALID),
        (REDEEMABLE_FROM, 0, REDEEMABLE_FROM + VOUCHER_VALID),
        (late, 0, late + VOUCHER_VALID),
        (T_COMMIT, fixed_until, fixed_until),
        (late, fixed_until, fixed_until),
    ];
    for (now, until, want) in cases {
        let mut w = World::new();
        if until > 0 {
            let offer = Offer {
                redeemable_until: until,
                voucher_valid: 0,
                ..super::offer(w.seller_id)
            };
            let ctx = super::ctx(w.addr(Who::Seller), VALID_FROM - DAY, 0, 0);
            let (id, _) = super::super::offer::insert(&mut w.p, offer, &ctx).expect("valid offer");
            w.offer_id = id;
        }
        let (id, _) = w.commit(now).expect("commit");
        assert_eq!(
            w.voucher_until(id),
            want,
            "commit at {now}, redeemable until {until}"
        );
    }
}

#[test]
fn anyone_may_commit_for_a_buyer_who_then_holds_the_voucher() {
    let mut w = World::new();
    let call = P::commitToOfferCall {
        _buyer: w.addr(Who::Buyer),
        _offerId: U256::from(w.offer_id),
    };
    let out = w
        .pay(Who::Stranger, T_COMMIT, super::PRICE, call)
        .expect("commit");
    let id = super::committed_id(&out);
    assert_eq!(w.exchange(id).buyer_id, w.buyer_id());
    let redeem = P::redeemVoucherCall {
        _exchangeId: U256::from(id),
    };
    assert_eq!(
        verdict(&w.call(Who::Stranger, T_REDEEM, redeem.clone())),
        "NotVoucherHolder"
    );
    assert_eq!(verdict(&w.call(Who::Buyer, T_REDEEM, redeem)), "ok");
}

#[test]
fn only_an_expired_voucher_is_flagged_expired() {
    for (stage, expired) in [(Stage::Expired, true), (Stage::Canceled, false)] {
        let (mut w, id, _) = at(stage);
        assert_eq!(w.exchange(id).expired, expired, "{stage:?}");
        let out = w.view(P::getExchangeCall {
            _exchangeId: U256::from(id),
        });
        let view = P::getExchangeCall::abi_decode_returns(&out).expect("decodes");
        assert!(view.exists);
        assert_eq!(view.exchange.state, 2, "{stage:?} is Canceled");
        assert_eq!(view.voucher.expired, expired, "{stage:?}");
    }
}

#[test]
fn commit_takes_one_from_the_quantity_and_encumbers_the_deposit() {
    let mut w = World::new();
    let before =
        w.p.offers
            .get(&w.offer_id)
            .expect("offer")
            .quantity_available;
    let (id, _) = w.commit(T_COMMIT).expect("commit");
    let after =
        w.p.offers
            .get(&w.offer_id)
            .expect("offer")
            .quantity_available;
    assert_eq!(before - after, U256::from(1));
    let x = w.exchange(id);
    assert_eq!(x.held(), U256::from(super::PRICE + super::DEPOSIT));
    assert_eq!(x.token, NATIVE);
    assert_eq!(
        w.available(w.seller_id),
        super::SELLER_FUNDS - super::DEPOSIT
    );
}
