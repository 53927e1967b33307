//! Offers: `createOffer` by the seller's assistant under the research notes'
//! validation rules, voiding, and selling out.

use alloy::primitives::{Address, U256};
use alloy::sol_types::{SolCall, SolEvent};

use super::{
    DAY, DEPOSIT, DISPUTE_PERIOD, NATIVE, PENALTY, PRICE, REDEEMABLE_FROM, RESOLUTION_PERIOD,
    T_COMMIT, T_REDEEM, VALID_FROM, VALID_UNTIL, VOUCHER_VALID, Who, World, topics, verdict,
};
use crate::boson::abi::BosonTypes as T;
use crate::boson::abi::IBosonProtocol as P;

/// When offers are created: before the default offer's period opens.
const NOW: u64 = VALID_FROM - DAY;

fn u(x: u64) -> U256 {
    U256::from(x)
}

/// A valid offer of the world's seller, with the world's resolver.
fn valid(w: &World) -> P::createOfferCall {
    P::createOfferCall {
        _offer: T::Offer {
            price: u(PRICE),
            sellerDeposit: u(DEPOSIT),
            buyerCancelPenalty: u(PENALTY),
            quantityAvailable: u(10),
            exchangeToken: NATIVE,
            metadataUri: "ipfs://new".into(),
            metadataHash: "new".into(),
            ..Default::default()
        },
        _offerDates: T::OfferDates {
            validFrom: u(VALID_FROM),
            validUntil: u(VALID_UNTIL),
            voucherRedeemableFrom: u(REDEEMABLE_FROM),
            voucherRedeemableUntil: U256::ZERO,
        },
        _offerDurations: T::OfferDurations {
            disputePeriod: u(DISPUTE_PERIOD),
            voucherValid: u(VOUCHER_VALID),
            resolutionPeriod: u(RESOLUTION_PERIOD),
        },
        _drParameters: T::DRParameters {
            disputeResolverId: u(w.resolver_id),
            mutualizerAddress: Address::ZERO,
        },
        _agentId: U256::ZERO,
        _feeLimit: U256::MAX,
    }
}

type Edit = fn(&mut P::createOfferCall);

#[rustfmt::skip]
fn rules() -> Vec<(&'static str, Edit, &'static str)> {
    const WEEK: u64 = 7 * DAY;
    vec![
        ("as given", |_| {}, "ok"),
        ("validFrom = validUntil", |c| c._offerDates.validFrom = c._offerDates.validUntil, "InvalidOfferPeriod"),
        ("validFrom > validUntil", |c| c._offerDates.validFrom = c._offerDates.validUntil + u(1), "InvalidOfferPeriod"),
        ("validUntil = now", |c| { c._offerDates.validFrom = u(NOW - DAY); c._offerDates.validUntil = u(NOW) }, "InvalidOfferPeriod"),
        ("validUntil = now + 1", |c| { c._offerDates.validFrom = u(NOW - DAY); c._offerDates.validUntil = u(NOW + 1) }, "ok"),
        ("both expiries", |c| c._offerDates.voucherRedeemableUntil = u(VALID_UNTIL + DAY), "AmbiguousVoucherExpiry"),
        ("no expiry", |c| c._offerDurations.voucherValid = U256::ZERO, "AmbiguousVoucherExpiry"),
        ("redeemable until validUntil", |c| { c._offerDurations.voucherValid = U256::ZERO; c._offerDates.voucherRedeemableUntil = u(VALID_UNTIL) }, "ok"),
        ("redeemable until before validUntil", |c| { c._offerDurations.voucherValid = U256::ZERO; c._offerDates.voucherRedeemableUntil = u(VALID_UNTIL - 1) }, "InvalidRedemptionPeriod"),
        ("redeemable until = from", |c| { c._offerDurations.voucherValid = U256::ZERO; c._offerDates.voucherRedeemableFrom = u(VALID_UNTIL + DAY); c._offerDates.voucherRedeemableUntil = u(VALID_UNTIL + DAY) }, "InvalidRedemptionPeriod"),
        ("dispute period a week", |c| c._offerDurations.disputePeriod = u(WEEK), "ok"),
        ("dispute period under a week", |c| c._offerDurations.disputePeriod = u(WEEK - 1), "InvalidDisputePeriod"),
        ("resolution period a week", |c| c._offerDurations.resolutionPeriod = u(WEEK), "ok"),
        ("resolution period under a week", |c| c._offerDurations.resolutionPeriod = u(WEEK - 1), "InvalidResolutionPeriod"),
        ("resolution period 90 days", |c| c._offerDurations.resolutionPeriod = u(90 * DAY), "ok"),
        ("resolution period over 90 days", |c| c._offerDurations.resolutionPeriod = u(90 * DAY + 1), "InvalidResolutionPeriod"),
        ("no quantity", |c| c._offer.quantityAvailable = U256::ZERO, "InvalidQuantityAvailable"),
        ("penalty = price", |c| c._offer.buyerCancelPenalty = c._offer.price, "ok"),
        ("penalty over price", |c| c._offer.buyerCancelPenalty = c._offer.price + u(1), "InvalidOfferPenalty"),
        ("unknown resolver", |c| c._drParameters.disputeResolverId = u(999), "InvalidDisputeResolver"),
    ]
}

#[test]
fn create_offer_applies_each_validation_rule() {
    for (name, edit, expect) in rules() {
        let mut w = World::new();
        let mut call = valid(&w);
        edit(&mut call);
        let applied = w.call(Who::Seller, NOW, call);
        assert_eq!(verdict(&applied), expect, "{name}");
        if let Ok(out) = applied {
            assert!(
                topics(&out).contains(&P::OfferCreated::SIGNATURE_HASH),
                "{name}"
            );
        }
    }
}

#[test]
fn only_a_sellers_assistant_creates_offers() {
    for who in [Who::Stranger, Who::Buyer, Who::Resolver] {
        let mut w = World::new();
        let call = valid(&w);
        assert_eq!(verdict(&w.call(who, NOW, call)), "NotAssistant", "{who:?}");
    }
}

/// Create an offer with `quantity` and return its id.
fn create(w: &mut World, quantity: u64) -> u64 {
    let mut call = valid(w);
    call._offer.quantityAvailable = u(quantity);
    let out = w.call(Who::Seller, NOW, call).expect("create");
    let log = out
        .logs
        .iter()
        .find_map(|l| P::OfferCreated::decode_log_data(l).ok());
    let id = log.expect("OfferCreated").offerId;
    let next = w.view(P::getNextOfferIdCall {});
    let next = P::getNextOfferIdCall::abi_decode_returns(&next).expect("decodes");
    assert_eq!(next, id + u(1));
    u64::try_from(id).expect("small id")
}

#[test]
fn a_voided_offer_takes_no_commits_but_its_exchanges_go_on() {
    let mut w = World::new();
    w.offer_id = create(&mut w, 10);
    let (id, _) = w.commit(T_COMMIT).expect("commit");
    let void = P::voidOfferCall {
        _offerId: u(w.offer_id),
    };
    assert_eq!(
        verdict(&w.call(Who::Stranger, T_COMMIT, void.clone())),
        "NotOfferCreator"
    );
    let out = w.call(Who::Seller, T_COMMIT, void.clone()).expect("void");
    assert!(topics(&out).contains(&P::OfferVoided::SIGNATURE_HASH));
    assert_eq!(verdict(&w.commit(T_COMMIT + 1)), "OfferHasBeenVoided");
    assert_eq!(
        verdict(&w.call(Who::Seller, T_COMMIT, void)),
        "OfferHasBeenVoided"
    );
    let redeem = P::redeemVoucherCall { _exchangeId: u(id) };
    assert_eq!(verdict(&w.call(Who::Buyer, T_REDEEM, redeem)), "ok");
}

#[test]
fn an_offer_sells_out_at_its_quantity() {
    let mut w = World::new();
    w.offer_id = create(&mut w, 2);
    assert_eq!(verdict(&w.commit(T_COMMIT)), "ok");
    assert_eq!(verdict(&w.commit(T_COMMIT + 1)), "ok");
    assert_eq!(verdict(&w.commit(T_COMMIT + 2)), "OfferSoldOut");
}
