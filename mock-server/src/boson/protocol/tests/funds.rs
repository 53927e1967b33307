//! Funds: each ending pays by the research notes' payoff table into available
//! funds (never out of the diamond); payments must match; withdrawals take what
//! is available and only that.

use alloy::primitives::{Address, U256};
use alloy::sol_types::SolEvent;

use super::{
    DEPOSIT, ESCALATION, HOUR, PENALTY, PRICE, PROTOCOL_FEE, SELLER_FUNDS, Stage, T_COMMIT,
    T_ESCALATE, T_REDEEM, Who, World, at, verdict,
};
use crate::boson::abi::IBosonProtocol as P;
use crate::boson::protocol::{NATIVE, PROTOCOL_ENTITY};

/// `x · bp / 10000` for the resolution share the stage builders use (2500).
const fn quarter(x: u64) -> u64 {
    x * super::BP / 10_000
}

#[test]
fn each_ending_pays_by_the_table_into_available_funds() {
    let (p, d, e, pen, pf) = (PRICE, DEPOSIT, ESCALATION, PENALTY, PROTOCOL_FEE);
    // (ending, seller, buyer, protocol): research section 5, "Payoffs".
    let table = [
        (Stage::Completed, p + d - pf, 0, pf),
        (Stage::Retracted, p + d - pf, 0, pf),
        (Stage::Revoked, 0, p + d, 0),
        (Stage::Canceled, d + pen, p - pen, 0),
        (Stage::Expired, d + pen, p - pen, 0),
        (Stage::Refused, d, p + e, 0),
        (
            Stage::Resolved,
            d + p - quarter(d) - quarter(p),
            quarter(d) + quarter(p),
            0,
        ),
        (
            Stage::Decided,
            d + e + p - quarter(d + e) - quarter(p),
            quarter(d + e) + quarter(p),
            0,
        ),
    ];
    for (stage, seller, buyer, protocol) in table {
        let (w, id, out) = at(stage);
        assert_eq!(
            w.available(w.seller_id),
            SELLER_FUNDS - DEPOSIT + seller,
            "{stage:?} seller"
        );
        assert_eq!(w.available(w.buyer_id()), buyer, "{stage:?} buyer");
        assert_eq!(w.available(PROTOCOL_ENTITY), protocol, "{stage:?} protocol");
        assert!(
            out.payouts.is_empty(),
            "{stage:?}: withdrawals are never automatic"
        );
        let held = w.exchange(id).held();
        assert_eq!(out.releases.len(), 1, "{stage:?}");
        assert_eq!(
            (out.releases[0].held, out.releases[0].paid_out),
            (held, held),
            "{stage:?}"
        );
        assert_eq!(
            released_in_logs(&out),
            held,
            "{stage:?}: the release events add up"
        );
    }
}

#[test]
fn an_escalated_dispute_retracted_gives_the_seller_the_escalation_deposit() {
    let (mut w, id, _) = at(Stage::Escalated);
    let out = super::Call::Retract
        .on(&mut w, id, Who::Buyer, T_ESCALATE + HOUR)
        .expect("retract");
    let seller = PRICE + DEPOSIT + ESCALATION - PROTOCOL_FEE;
    assert_eq!(w.available(w.seller_id), SELLER_FUNDS - DEPOSIT + seller);
    assert_eq!(w.available(w.buyer_id()), 0);
    assert_eq!(released_in_logs(&out), w.exchange(id).held());
}

/// The sum of `FundsReleased` and `ProtocolFeeCollected` amounts in an outcome.
fn released_in_logs(out: &super::Outcome) -> U256 {
    let mut sum = U256::ZERO;
    for log in &out.logs {
        if let Ok(e) = P::FundsReleased::decode_log_data(log) {
            sum += e.amount;
        } else if let Ok(e) = P::ProtocolFeeCollected::decode_log_data(log) {
            sum += e.amount;
        }
    }
    sum
}

#[test]
fn payments_must_match_the_price_or_the_escalation_deposit() {
    for value in [0, PRICE - 1, PRICE + 1] {
        let mut w = World::new();
        let call = P::commitToOfferCall {
            _buyer: w.addr(Who::Buyer),
            _offerId: U256::from(w.offer_id),
        };
        let applied = w.pay(Who::Buyer, T_COMMIT, value, call);
        assert_eq!(
            verdict(&applied),
            "InsufficientValueReceived",
            "commit paying {value}"
        );
    }
    for value in [0, ESCALATION - 1, ESCALATION + 1] {
        let (mut w, id, _) = at(Stage::Resolving);
        let call = P::escalateDisputeCall {
            _exchangeId: U256::from(id),
        };
        let applied = w.pay(Who::Buyer, T_ESCALATE, value, call);
        assert_eq!(
            verdict(&applied),
            "InsufficientValueReceived",
            "escalate paying {value}"
        );
    }
    let (mut w, id, _) = at(Stage::Committed);
    let call = P::redeemVoucherCall {
        _exchangeId: U256::from(id),
    };
    assert_eq!(
        verdict(&w.pay(Who::Buyer, T_REDEEM, 1, call)),
        "NativeNotAllowed"
    );
}

#[test]
fn a_seller_short_of_its_deposit_cannot_be_committed_to_until_it_deposits() {
    let mut w = World::new();
    let spare = SELLER_FUNDS - DEPOSIT;
    w.p.debit(w.seller_id, NATIVE, U256::from(spare));
    w.commit(T_COMMIT).expect("the one deposit there is");
    let short = w.commit(T_COMMIT + 1);
    assert_eq!(verdict(&short), "InsufficientAvailableFunds");
    let deposit = P::depositFundsCall {
        _entityId: U256::from(w.seller_id),
        _tokenAddress: NATIVE,
        _amount: U256::from(DEPOSIT),
    };
    assert_eq!(
        verdict(&w.pay(Who::Seller, T_COMMIT + 2, DEPOSIT - 1, deposit.clone())),
        "InsufficientValueReceived"
    );
    let out = w
        .pay(Who::Seller, T_COMMIT + 2, DEPOSIT, deposit)
        .expect("deposit");
    assert!(
        out.logs
            .iter()
            .any(|l| l.topics()[0] == P::FundsDeposited::SIGNATURE_HASH)
    );
    assert_eq!(verdict(&w.commit(T_COMMIT + 3)), "ok");
}

fn withdraw(entity: u64, tokens: Vec<Address>, amounts: Vec<u64>) -> P::withdrawFundsCall {
    P::withdrawFundsCall {
        _entityId: U256::from(entity),
        _tokenList: tokens,
        _tokenAmounts: amounts.into_iter().map(U256::from).collect(),
    }
}

#[test]
fn empty_lists_withdraw_everything_to_the_treasury_once() {
    let (mut w, _, _) = at(Stage::Completed);
    let all = SELLER_FUNDS - DEPOSIT + PRICE + DEPOSIT - PROTOCOL_FEE;
    let now = T_REDEEM + 2 * HOUR;
    let out = w
        .call(Who::Seller, now, withdraw(w.seller_id, vec![], vec![]))
        .expect("withdraw");
    assert_eq!(out.payouts, vec![(w.treasury, U256::from(all))]);
    let log = out
        .logs
        .iter()
        .find_map(|l| P::FundsWithdrawn::decode_log_data(l).ok());
    let log = log.expect("FundsWithdrawn is emitted");
    assert_eq!((log.withdrawnTo, log.amount), (w.treasury, U256::from(all)));
    assert_eq!(w.available(w.seller_id), 0);
    let again = w.call(Who::Seller, now, withdraw(w.seller_id, vec![], vec![]));
    assert_eq!(verdict(&again), "NothingToWithdraw");
}

#[test]
fn a_buyer_withdraws_to_its_wallet() {
    let (mut w, _, _) = at(Stage::Revoked);
    let buyer = w.buyer_id();
    let now = T_COMMIT + 2 * HOUR;
    let out = w
        .call(Who::Buyer, now, withdraw(buyer, vec![], vec![]))
        .expect("withdraw");
    assert_eq!(
        out.payouts,
        vec![(w.addr(Who::Buyer), U256::from(PRICE + DEPOSIT))]
    );
}

#[test]
fn withdrawals_take_only_what_is_available_by_its_owner() {
    let (mut w, _, _) = at(Stage::Completed);
    let (seller, buyer) = (w.seller_id, w.buyer_id());
    let have = w.available(seller);
    let now = T_REDEEM + 2 * HOUR;
    // (who, the request, the verdict)
    let cases = [
        (
            Who::Seller,
            withdraw(seller, vec![NATIVE], vec![have + 1]),
            "InsufficientAvailableFunds",
        ),
        (
            Who::Seller,
            withdraw(seller, vec![NATIVE], vec![]),
            "TokenAmountMismatch",
        ),
        (
            Who::Seller,
            withdraw(seller, vec![], vec![1]),
            "TokenAmountMismatch",
        ),
        (
            Who::Seller,
            withdraw(seller, vec![NATIVE], vec![0]),
            "NothingToWithdraw",
        ),
        (
            Who::Stranger,
            withdraw(seller, vec![], vec![]),
            "NotAssistant",
        ),
        (Who::Buyer, withdraw(seller, vec![], vec![]), "NotAssistant"),
        (
            Who::Buyer,
            withdraw(buyer, vec![], vec![]),
            "NothingToWithdraw",
        ),
        (
            Who::Seller,
            withdraw(buyer, vec![], vec![]),
            "NotBuyerWallet",
        ),
        (Who::Seller, withdraw(999, vec![], vec![]), "NoSuchEntity"),
    ];
    for (i, (who, call, expect)) in cases.into_iter().enumerate() {
        assert_eq!(verdict(&w.call(who, now, call)), expect, "case {i}");
        assert_eq!(w.available(seller), have, "case {i}: nothing moved");
    }
    let out = w
        .call(
            Who::Seller,
            now,
            withdraw(seller, vec![NATIVE], vec![have - 1]),
        )
        .expect("part");
    assert_eq!(out.payouts, vec![(w.treasury, U256::from(have - 1))]);
    assert_eq!(w.available(seller), 1, "the rest stays available");
}
