//! Every transition of DOMAIN.md's table: from its state, by its caller, it emits
//! its event and lands in its state; the wrong caller gets the named revert, any
//! other state `InvalidState`, an unknown exchange `NoSuchExchange`.

use alloy::primitives::B256;
use alloy::sol_types::SolEvent;

use super::{
    Call, DisputeState as D, ExchangeState as X, HOUR, Stage, T_ESCALATE, T_RAISE, T_REDEEM,
    VOUCHER_UNTIL, Who, World, at, topics, verdict,
};
use crate::boson::abi::IBosonProtocol as P;

type When = fn(&World, u64) -> u64;

/// One transition: the call from `stage` by `caller` at `when`, its event and result.
struct Row {
    call: Call,
    stage: Stage,
    caller: Who,
    /// A caller the rules refuse, and the revert it gets.
    wrong: Option<(Who, &'static str)>,
    when: When,
    event: B256,
    to: (X, Option<D>),
}

#[rustfmt::skip]
fn rows() -> Vec<Row> {
    use Call as C;
    use Stage as S;
    use Who::{Buyer, Resolver, Seller, Stranger};
    let redeem: When = |_, _| T_REDEEM;
    let redeemed: When = |_, _| T_RAISE;
    let resolving: When = |_, _| T_ESCALATE;
    let escalated: When = |_, _| T_ESCALATE + HOUR;
    let expired: When = |w, id| w.voucher_until(id) + 1;
    let timed_out: When = |w, id| w.timeout(id) + 1;
    let disputed = |d| (X::Disputed, Some(d));
    let row = |call, stage, caller, wrong, when, event, to| Row {
        call,
        stage,
        caller,
        wrong,
        when,
        event,
        to,
    };
    vec![
        row(C::Redeem, S::Committed, Buyer, Some((Stranger, "NotVoucherHolder")), redeem,
            P::VoucherRedeemed::SIGNATURE_HASH, (X::Redeemed, None)),
        row(C::Cancel, S::Committed, Buyer, Some((Seller, "NotVoucherHolder")), redeem,
            P::VoucherCanceled::SIGNATURE_HASH, (X::Canceled, None)),
        row(C::Revoke, S::Committed, Seller, Some((Buyer, "NotAssistant")), redeem,
            P::VoucherRevoked::SIGNATURE_HASH, (X::Revoked, None)),
        row(C::Expire, S::Committed, Stranger, None, expired,
            P::VoucherExpired::SIGNATURE_HASH, (X::Canceled, None)),
        row(C::Complete, S::Redeemed, Buyer, Some((Stranger, "DisputePeriodNotElapsed")), redeemed,
            P::ExchangeCompleted::SIGNATURE_HASH, (X::Completed, None)),
        row(C::Raise, S::Redeemed, Buyer, Some((Seller, "NotVoucherHolder")), redeemed,
            P::DisputeRaised::SIGNATURE_HASH, disputed(D::Resolving)),
        row(C::Retract, S::Resolving, Buyer, Some((Seller, "NotVoucherHolder")), resolving,
            P::DisputeRetracted::SIGNATURE_HASH, disputed(D::Retracted)),
        row(C::Retract, S::Escalated, Buyer, Some((Resolver, "NotVoucherHolder")), escalated,
            P::DisputeRetracted::SIGNATURE_HASH, disputed(D::Retracted)),
        row(C::Resolve, S::Resolving, Buyer, Some((Stranger, "NotBuyerOrSeller")), resolving,
            P::DisputeResolved::SIGNATURE_HASH, disputed(D::Resolved)),
        row(C::Resolve, S::Resolving, Seller, Some((Resolver, "NotBuyerOrSeller")), resolving,
            P::DisputeResolved::SIGNATURE_HASH, disputed(D::Resolved)),
        row(C::Resolve, S::Escalated, Buyer, Some((Stranger, "NotBuyerOrSeller")), escalated,
            P::DisputeResolved::SIGNATURE_HASH, disputed(D::Resolved)),
        row(C::ExpireDispute, S::Resolving, Stranger, None, timed_out,
            P::DisputeExpired::SIGNATURE_HASH, disputed(D::Retracted)),
        row(C::Escalate, S::Resolving, Buyer, Some((Seller, "NotVoucherHolder")), resolving,
            P::DisputeEscalated::SIGNATURE_HASH, disputed(D::Escalated)),
        row(C::Extend, S::Resolving, Seller, Some((Buyer, "NotAssistant")), resolving,
            P::DisputeTimeoutExtended::SIGNATURE_HASH, disputed(D::Resolving)),
        row(C::Decide, S::Escalated, Resolver, Some((Seller, "NotDisputeResolverAssistant")),
            escalated, P::DisputeDecided::SIGNATURE_HASH, disputed(D::Decided)),
        row(C::Refuse, S::Escalated, Resolver, Some((Buyer, "NotDisputeResolverAssistant")),
            escalated, P::EscalatedDisputeRefused::SIGNATURE_HASH, disputed(D::Refused)),
        row(C::ExpireEscalated, S::Escalated, Stranger, None, timed_out,
            P::EscalatedDisputeExpired::SIGNATURE_HASH, disputed(D::Refused)),
    ]
}

#[test]
fn each_transition_by_its_caller_emits_its_event_and_lands_in_its_state() {
    for r in rows() {
        let (mut w, id, _) = at(r.stage);
        let now = (r.when)(&w, id);
        let out = r.call.on(&mut w, id, r.caller, now).unwrap_or_else(|e| {
            panic!(
                "{:?} from {:?} by {:?}: {}",
                r.call,
                r.stage,
                r.caller,
                e.name()
            )
        });
        assert!(
            topics(&out).contains(&r.event),
            "{:?} from {:?}: event",
            r.call,
            r.stage
        );
        assert_eq!(w.status(id), r.to, "{:?} from {:?}", r.call, r.stage);
    }
}

#[test]
fn each_transition_refuses_the_wrong_caller_by_name() {
    for r in rows() {
        let Some((wrong, revert)) = r.wrong else {
            continue;
        };
        let (mut w, id, _) = at(r.stage);
        let before = w.status(id);
        let now = (r.when)(&w, id);
        let applied = r.call.on(&mut w, id, wrong, now);
        assert_eq!(
            verdict(&applied),
            revert,
            "{:?} from {:?} by {wrong:?}",
            r.call,
            r.stage
        );
        assert_eq!(
            w.status(id),
            before,
            "{:?}: a refused call moves nothing",
            r.call
        );
    }
}

#[test]
fn each_call_refuses_every_other_state_as_invalid() {
    let rows = rows();
    for call in Call::ALL {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.call == call).collect();
        let caller = mine[0].caller;
        for stage in Stage::ALL {
            if mine.iter().any(|r| r.stage == stage) {
                continue;
            }
            let (mut w, id, _) = at(stage);
            // After every stage's own dates: only the state can refuse the call.
            let late = VOUCHER_UNTIL + 2 * super::DAY;
            let applied = call.on(&mut w, id, caller, late);
            assert_eq!(verdict(&applied), "InvalidState", "{call:?} in {stage:?}");
        }
    }
}

#[test]
fn each_call_on_an_unknown_exchange_is_no_such_exchange() {
    for r in rows() {
        let (mut w, _, _) = at(Stage::Escalated);
        let applied = r.call.on(&mut w, 999, r.caller, T_ESCALATE + HOUR);
        assert_eq!(verdict(&applied), "NoSuchExchange", "{:?}", r.call);
    }
}

#[test]
fn the_table_covers_every_call() {
    let rows = rows();
    for call in Call::ALL {
        assert!(rows.iter().any(|r| r.call == call), "{call:?} has no row");
    }
}
