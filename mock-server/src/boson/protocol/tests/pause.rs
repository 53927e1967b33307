//! Paused regions: a call into a paused region reverts `RegionPaused(region)`
//! with the region's enum number; pausing other regions does not touch it; the
//! pause view lists the paused regions.

use alloy::primitives::U256;
use alloy::sol_types::{SolCall, SolError};

use super::{
    Call, HOUR, Outcome, Revert, Stage, T_COMMIT, T_ESCALATE, T_RAISE, Who, World, at, verdict,
};
use crate::boson::abi::IBosonProtocol as P;
use crate::boson::protocol::{NATIVE, REGIONS, region_bit};

/// Every region's bit.
const ALL: u32 = (1 << REGIONS.len()) - 1;

type Attempt = fn(&mut World, u64) -> Result<Outcome, Revert>;

#[rustfmt::skip]
fn rows() -> Vec<(&'static str, Stage, Attempt)> {
    vec![
        ("Offers", Stage::Committed, |w, _| {
            let call = P::voidOfferCall { _offerId: U256::from(w.offer_id) };
            w.call(Who::Seller, T_COMMIT, call)
        }),
        ("Exchanges", Stage::Committed, |w, _| w.commit(T_COMMIT).map(|(_, out)| out)),
        ("Exchanges", Stage::Committed, |w, id| Call::Redeem.on(w, id, Who::Buyer, super::T_REDEEM)),
        ("Exchanges", Stage::Committed, |w, id| Call::Revoke.on(w, id, Who::Seller, T_COMMIT)),
        ("Exchanges", Stage::Redeemed, |w, id| Call::Complete.on(w, id, Who::Buyer, T_RAISE)),
        ("Disputes", Stage::Redeemed, |w, id| Call::Raise.on(w, id, Who::Buyer, T_RAISE)),
        ("Disputes", Stage::Resolving, |w, id| Call::Resolve.on(w, id, Who::Buyer, T_ESCALATE)),
        ("Disputes", Stage::Escalated, |w, id| Call::Decide.on(w, id, Who::Resolver, T_ESCALATE + HOUR)),
        ("Funds", Stage::Completed, |w, _| {
            let call = P::withdrawFundsCall {
                _entityId: U256::from(w.seller_id),
                _tokenList: vec![],
                _tokenAmounts: vec![],
            };
            w.call(Who::Seller, T_RAISE, call)
        }),
        ("Funds", Stage::Committed, |w, _| {
            let call = P::depositFundsCall {
                _entityId: U256::from(w.seller_id),
                _tokenAddress: NATIVE,
                _amount: U256::from(1),
            };
            w.pay(Who::Seller, T_COMMIT, 1, call)
        }),
    ]
}

#[test]
fn a_paused_region_refuses_its_calls_and_no_other_region_does() {
    for (i, (region, stage, attempt)) in rows().into_iter().enumerate() {
        let bit = region_bit(region).expect("a region");
        let (mut w, id, _) = at(stage);
        let mut others = w.clone();

        w.paused = 1 << bit;
        let err = attempt(&mut w, id).expect_err("paused");
        let paused = P::RegionPaused::abi_decode(&err.0).expect("RegionPaused");
        assert_eq!(paused.region, bit, "row {i}: {region}");

        others.paused = ALL & !(1 << bit);
        assert_eq!(
            verdict(&attempt(&mut others, id)),
            "ok",
            "row {i}: only {region} stays open"
        );
    }
}

#[test]
fn commit_in_paused_exchanges_reverts_region_8_until_unpaused() {
    let mut w = World::new();
    w.paused = 1 << 8;
    let err = w.commit(T_COMMIT).expect_err("paused");
    assert_eq!(err.name(), "RegionPaused");
    assert_eq!(
        P::RegionPaused::abi_decode(&err.0).expect("decodes").region,
        8
    );
    assert_eq!(region_bit("Exchanges"), Some(8));
    w.paused = 0;
    assert_eq!(verdict(&w.commit(T_COMMIT)), "ok", "a pause is transient");
}

#[test]
fn the_pause_view_lists_the_paused_regions() {
    let cases: [(u32, Vec<u8>); 4] = [
        (0, vec![]),
        (1 << 8, vec![8]),
        ((1 << 8) | (1 << 12) | 1, vec![0, 8, 12]),
        (ALL, (0..15).collect()),
    ];
    for (paused, want) in cases {
        let mut w = World::new();
        w.paused = paused;
        let out = w.view(P::getPausedRegionsCall {});
        let regions = P::getPausedRegionsCall::abi_decode_returns(&out).expect("decodes");
        assert_eq!(regions, want, "paused bits {paused:#b}");
    }
}
