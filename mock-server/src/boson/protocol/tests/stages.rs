//! The stages an exchange passes through, reached by the calls the rules allow
//! at the world's schedule, and the calls on an exchange built for any caller.

use alloy::primitives::U256;
use alloy::sol_types::SolCall;

use super::{
    BP, DAY, ESCALATION, HOUR, Outcome, Revert, T_COMMIT, T_ESCALATE, T_RAISE, T_REDEEM,
    VOUCHER_UNTIL, Who, World,
};
use crate::boson::abi::IBosonProtocol as P;

/// The stages an exchange can be brought to, each through the calls the rules allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    Committed,
    Redeemed,
    Resolving,
    Escalated,
    Canceled,
    Revoked,
    Expired,
    Completed,
    Retracted,
    Resolved,
    Decided,
    Refused,
}

impl Stage {
    pub(super) const ALL: [Stage; 12] = [
        Stage::Committed,
        Stage::Redeemed,
        Stage::Resolving,
        Stage::Escalated,
        Stage::Canceled,
        Stage::Revoked,
        Stage::Expired,
        Stage::Completed,
        Stage::Retracted,
        Stage::Resolved,
        Stage::Decided,
        Stage::Refused,
    ];
}

/// A fresh world with one exchange brought to `stage`, and the last step's outcome.
pub(super) fn at(stage: Stage) -> (World, u64, Outcome) {
    let mut w = World::new();
    let (id, out) = w.commit(T_COMMIT).expect("commit");
    let out = drive(&mut w, id, stage, out);
    (w, id, out)
}

fn drive(w: &mut World, id: u64, stage: Stage, committed: Outcome) -> Outcome {
    let x = U256::from(id);
    let step = |w: &mut World, stage: Stage| drive(w, id, stage, committed.clone());
    let applied = match stage {
        Stage::Committed => return committed,
        Stage::Redeemed => {
            step(w, Stage::Committed);
            w.call(
                Who::Buyer,
                T_REDEEM,
                P::redeemVoucherCall { _exchangeId: x },
            )
        }
        Stage::Resolving => {
            step(w, Stage::Redeemed);
            w.call(Who::Buyer, T_RAISE, P::raiseDisputeCall { _exchangeId: x })
        }
        Stage::Escalated => {
            step(w, Stage::Resolving);
            let call = P::escalateDisputeCall { _exchangeId: x };
            w.pay(Who::Buyer, T_ESCALATE, ESCALATION, call)
        }
        Stage::Canceled => {
            step(w, Stage::Committed);
            w.call(
                Who::Buyer,
                T_COMMIT + HOUR,
                P::cancelVoucherCall { _exchangeId: x },
            )
        }
        Stage::Revoked => {
            step(w, Stage::Committed);
            w.call(
                Who::Seller,
                T_COMMIT + HOUR,
                P::revokeVoucherCall { _exchangeId: x },
            )
        }
        Stage::Expired => {
            step(w, Stage::Committed);
            let call = P::expireVoucherCall { _exchangeId: x };
            w.call(Who::Stranger, VOUCHER_UNTIL + 1, call)
        }
        Stage::Completed => {
            step(w, Stage::Redeemed);
            w.call(
                Who::Buyer,
                T_REDEEM + HOUR,
                P::completeExchangeCall { _exchangeId: x },
            )
        }
        Stage::Retracted => {
            step(w, Stage::Resolving);
            w.call(
                Who::Buyer,
                T_RAISE + HOUR,
                P::retractDisputeCall { _exchangeId: x },
            )
        }
        Stage::Resolved => {
            step(w, Stage::Resolving);
            let call = P::resolveDisputeCall {
                _exchangeId: x,
                _buyerPercent: U256::from(BP),
                _signature: w.sign_resolution(Who::Seller, id, BP),
            };
            w.call(Who::Buyer, T_RAISE + HOUR, call)
        }
        Stage::Decided => {
            step(w, Stage::Escalated);
            let call = P::decideDisputeCall {
                _exchangeId: x,
                _buyerPercent: U256::from(BP),
            };
            w.call(Who::Resolver, T_ESCALATE + HOUR, call)
        }
        Stage::Refused => {
            step(w, Stage::Escalated);
            let call = P::refuseEscalatedDisputeCall { _exchangeId: x };
            w.call(Who::Resolver, T_ESCALATE + HOUR, call)
        }
    };
    applied.unwrap_or_else(|e| panic!("driving exchange {id} to {stage:?}: {}", e.name()))
}

/// The calls on an existing exchange, built for a caller (the resolution's
/// countersignature is the other party's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Call {
    Redeem,
    Cancel,
    Revoke,
    Expire,
    Complete,
    Raise,
    Retract,
    Resolve,
    Escalate,
    Decide,
    Refuse,
    ExpireDispute,
    ExpireEscalated,
    Extend,
}

impl Call {
    pub(super) const ALL: [Call; 14] = [
        Call::Redeem,
        Call::Cancel,
        Call::Revoke,
        Call::Expire,
        Call::Complete,
        Call::Raise,
        Call::Retract,
        Call::Resolve,
        Call::Escalate,
        Call::Decide,
        Call::Refuse,
        Call::ExpireDispute,
        Call::ExpireEscalated,
        Call::Extend,
    ];

    /// The calldata and value for exchange `id` from `who`.
    pub(super) fn build(self, w: &World, id: u64, who: Who) -> (Vec<u8>, u64) {
        let x = U256::from(id);
        let bp = U256::from(BP);
        let data = match self {
            Call::Redeem => P::redeemVoucherCall { _exchangeId: x }.abi_encode(),
            Call::Cancel => P::cancelVoucherCall { _exchangeId: x }.abi_encode(),
            Call::Revoke => P::revokeVoucherCall { _exchangeId: x }.abi_encode(),
            Call::Expire => P::expireVoucherCall { _exchangeId: x }.abi_encode(),
            Call::Complete => P::completeExchangeCall { _exchangeId: x }.abi_encode(),
            Call::Raise => P::raiseDisputeCall { _exchangeId: x }.abi_encode(),
            Call::Retract => P::retractDisputeCall { _exchangeId: x }.abi_encode(),
            Call::Resolve => {
                let other = if who == Who::Seller {
                    Who::Buyer
                } else {
                    Who::Seller
                };
                P::resolveDisputeCall {
                    _exchangeId: x,
                    _buyerPercent: bp,
                    _signature: w.sign_resolution(other, id, BP),
                }
                .abi_encode()
            }
            Call::Escalate => {
                return (
                    P::escalateDisputeCall { _exchangeId: x }.abi_encode(),
                    ESCALATION,
                );
            }
            Call::Decide => P::decideDisputeCall {
                _exchangeId: x,
                _buyerPercent: bp,
            }
            .abi_encode(),
            Call::Refuse => P::refuseEscalatedDisputeCall { _exchangeId: x }.abi_encode(),
            Call::ExpireDispute => P::expireDisputeCall { _exchangeId: x }.abi_encode(),
            Call::ExpireEscalated => P::expireEscalatedDisputeCall { _exchangeId: x }.abi_encode(),
            Call::Extend => {
                let timeout =
                    w.p.exchanges
                        .get(&id)
                        .and_then(|x| x.dispute.as_ref())
                        .map_or(T_ESCALATE, |d| d.timeout);
                P::extendDisputeTimeoutCall {
                    _exchangeId: x,
                    _newDisputeTimeout: U256::from(timeout + DAY),
                }
                .abi_encode()
            }
        };
        (data, 0)
    }

    /// Make the call on `w` from `who` at `now`.
    pub(super) fn on(self, w: &mut World, id: u64, who: Who, now: u64) -> Result<Outcome, Revert> {
        let (data, value) = self.build(w, id, who);
        let sender = w.addr(who);
        w.raw(sender, now, value, &data)
    }
}
