//! The dispute's transitions: raise, retract, resolve (countersigned), escalate,
//! decide, refuse, expire, extend. A finished dispute leaves its exchange in
//! `Disputed`; the dispute carries the outcome, as in the contracts.

use alloy::primitives::{Address, U256};
use alloy::sol_types::SolStruct;

use super::exchange::{assistant, valid};
use super::funds::{self, Finality};
use super::{
    Applied, BPS, Ctx, Dispute, DisputeState, Exchange, ExchangeState, Outcome, Protocol, Revert,
    refuse, unpaused,
};
use crate::boson::abi::IBosonProtocol as P;
use crate::boson::abi::Resolution;

/// A disputed exchange whose dispute is in one of `states`.
fn disputed(p: &Protocol, id: u64, states: &[DisputeState]) -> Result<(Exchange, Dispute), Revert> {
    let x = valid(p, id, ExchangeState::Disputed)?;
    match &x.dispute {
        Some(d) if states.contains(&d.state) => {
            let d = d.clone();
            Ok((x, d))
        }
        _ => refuse(P::InvalidState {}),
    }
}

fn buyer_wallet(p: &Protocol, x: &Exchange) -> Address {
    p.buyers
        .get(&x.buyer_id)
        .map_or(Address::ZERO, |b| b.wallet)
}

fn seller_assistant(p: &Protocol, x: &Exchange) -> Address {
    p.sellers
        .get(&x.seller_id)
        .map_or(Address::ZERO, |s| s.assistant)
}

fn only_buyer(p: &Protocol, ctx: &Ctx, x: &Exchange) -> Result<(), Revert> {
    if buyer_wallet(p, x) == ctx.sender {
        Ok(())
    } else {
        refuse(P::NotVoucherHolder {})
    }
}

fn before_timeout(ctx: &Ctx, d: &Dispute) -> Result<(), Revert> {
    if ctx.now > d.timeout {
        return refuse(P::DisputeHasExpired {});
    }
    Ok(())
}

/// `raiseDispute`: the buyer, while the dispute period runs.
pub fn raise(p: &mut Protocol, ctx: &Ctx, id: u64) -> Applied {
    unpaused(ctx, "Disputes")?;
    let mut x = valid(p, id, ExchangeState::Redeemed)?;
    only_buyer(p, ctx, &x)?;
    let offer = p.offers.get(&x.offer_id).cloned();
    let (period, resolution) = offer.map_or((0, 0), |o| (o.dispute_period, o.resolution_period));
    if ctx.now.saturating_sub(x.redeemed) >= period {
        return refuse(P::DisputePeriodHasElapsed {});
    }
    x.state = ExchangeState::Disputed;
    x.dispute = Some(Dispute {
        state: DisputeState::Resolving,
        buyer_percent: 0,
        disputed: ctx.now,
        escalated: 0,
        finalized: 0,
        timeout: ctx.now + resolution,
    });
    let mut out = Outcome::default();
    out.emit(&P::DisputeRaised {
        exchangeId: U256::from(id),
        buyerId: U256::from(x.buyer_id),
        sellerId: U256::from(x.seller_id),
        executedBy: ctx.sender,
    });
    out.transitions.push((id, "Disputed"));
    p.exchanges.insert(id, x);
    Ok(out)
}

/// `retractDispute`: the buyer; an escalated dispute only before its timeout.
pub fn retract(p: &mut Protocol, ctx: &Ctx, id: u64) -> Applied {
    unpaused(ctx, "Disputes")?;
    let (x, d) = disputed(p, id, &[DisputeState::Resolving, DisputeState::Escalated])?;
    only_buyer(p, ctx, &x)?;
    if d.state == DisputeState::Escalated {
        before_timeout(ctx, &d)?;
    }
    let mut out = Outcome::default();
    out.emit(&P::DisputeRetracted {
        exchangeId: U256::from(id),
        executedBy: ctx.sender,
    });
    settle(p, ctx, x, DisputeState::Retracted, 0, &mut out);
    Ok(out)
}

/// `resolveDispute(id, buyerPercent, signature)`: either party, with the other's
/// EIP-712 signature over `Resolution`, before the timeout.
pub fn resolve(p: &mut Protocol, ctx: &Ctx, c: P::resolveDisputeCall) -> Applied {
    unpaused(ctx, "Disputes")?;
    let id = super::small(c._exchangeId);
    let (x, d) = disputed(p, id, &[DisputeState::Resolving, DisputeState::Escalated])?;
    let (buyer, seller) = (buyer_wallet(p, &x), seller_assistant(p, &x));
    let other = if ctx.sender == buyer {
        seller
    } else if ctx.sender == seller {
        buyer
    } else {
        return refuse(P::NotBuyerOrSeller {});
    };
    before_timeout(ctx, &d)?;
    let bp = percent(c._buyerPercent)?;
    let digest = Resolution {
        exchangeId: c._exchangeId,
        buyerPercentBasisPoints: c._buyerPercent,
    }
    .eip712_signing_hash(&p.domain());
    if super::meta::signer(&c._signature, digest) != Some(other) {
        return refuse(P::SignatureValidationFailed {});
    }
    let mut out = Outcome::default();
    out.emit(&P::DisputeResolved {
        exchangeId: c._exchangeId,
        _buyerPercent: c._buyerPercent,
        executedBy: ctx.sender,
    });
    settle(p, ctx, x, DisputeState::Resolved, bp, &mut out);
    Ok(out)
}

/// `escalateDispute`: the buyer, before the timeout, paying the escalation deposit.
pub fn escalate(p: &mut Protocol, ctx: &Ctx, id: u64) -> Applied {
    unpaused(ctx, "Disputes")?;
    let (mut x, mut d) = disputed(p, id, &[DisputeState::Resolving])?;
    only_buyer(p, ctx, &x)?;
    before_timeout(ctx, &d)?;
    let Some(offer) = p.offers.get(&x.offer_id).cloned() else {
        return refuse(P::NoSuchOffer {});
    };
    if offer.resolver_id == 0 {
        return refuse(P::EscalationNotAllowed {});
    }
    let deposit = offer.escalation_deposit(p.rules.escalation_deposit_bps);
    if ctx.value != deposit {
        return refuse(P::InsufficientValueReceived {});
    }
    d.state = DisputeState::Escalated;
    d.escalated = ctx.now;
    d.timeout = ctx.now + offer.escalation_response_period;
    x.escalation = deposit;
    x.dispute = Some(d);
    let mut out = Outcome::default();
    out.emit(&P::DisputeEscalated {
        exchangeId: U256::from(id),
        disputeResolverId: U256::from(offer.resolver_id),
        executedBy: ctx.sender,
    });
    out.transitions.push((id, "Escalated"));
    p.exchanges.insert(id, x);
    Ok(out)
}

/// The caller is the offer's dispute resolver's assistant.
fn resolver(p: &Protocol, ctx: &Ctx, x: &Exchange) -> Result<(), Revert> {
    let rid = p.offers.get(&x.offer_id).map_or(0, |o| o.resolver_id);
    match p.resolvers.get(&rid) {
        Some(r) if r.assistant == ctx.sender => Ok(()),
        _ => refuse(P::NotDisputeResolverAssistant {}),
    }
}

/// `decideDispute(id, buyerPercent)`: the resolver, before the escalation timeout.
pub fn decide(p: &mut Protocol, ctx: &Ctx, id: u64, percent_in: U256) -> Applied {
    unpaused(ctx, "Disputes")?;
    let (x, d) = disputed(p, id, &[DisputeState::Escalated])?;
    resolver(p, ctx, &x)?;
    before_timeout(ctx, &d)?;
    let bp = percent(percent_in)?;
    let mut out = Outcome::default();
    out.emit(&P::DisputeDecided {
        exchangeId: U256::from(id),
        _buyerPercent: percent_in,
        executedBy: ctx.sender,
    });
    settle(p, ctx, x, DisputeState::Decided, bp, &mut out);
    Ok(out)
}

/// `refuseEscalatedDispute`: the resolver, before the escalation timeout.
pub fn refuse_escalated(p: &mut Protocol, ctx: &Ctx, id: u64) -> Applied {
    unpaused(ctx, "Disputes")?;
    let (x, d) = disputed(p, id, &[DisputeState::Escalated])?;
    resolver(p, ctx, &x)?;
    before_timeout(ctx, &d)?;
    let mut out = Outcome::default();
    out.emit(&P::EscalatedDisputeRefused {
        exchangeId: U256::from(id),
        executedBy: ctx.sender,
    });
    settle(p, ctx, x, DisputeState::Refused, 0, &mut out);
    Ok(out)
}

/// `expireDispute`: anyone, once an unescalated dispute has timed out.
pub fn expire(p: &mut Protocol, ctx: &Ctx, id: u64) -> Applied {
    unpaused(ctx, "Disputes")?;
    let (x, d) = disputed(p, id, &[DisputeState::Resolving])?;
    if ctx.now <= d.timeout {
        return refuse(P::DisputeStillValid {});
    }
    let mut out = Outcome::default();
    out.emit(&P::DisputeExpired {
        exchangeId: U256::from(id),
        executedBy: ctx.sender,
    });
    settle(p, ctx, x, DisputeState::Retracted, 0, &mut out);
    Ok(out)
}

/// `expireEscalatedDispute`: anyone, once an escalated dispute has timed out.
pub fn expire_escalated(p: &mut Protocol, ctx: &Ctx, id: u64) -> Applied {
    unpaused(ctx, "Disputes")?;
    let (x, d) = disputed(p, id, &[DisputeState::Escalated])?;
    if ctx.now <= d.timeout {
        return refuse(P::DisputeStillValid {});
    }
    let mut out = Outcome::default();
    out.emit(&P::EscalatedDisputeExpired {
        exchangeId: U256::from(id),
        executedBy: ctx.sender,
    });
    settle(p, ctx, x, DisputeState::Refused, 0, &mut out);
    Ok(out)
}

/// `extendDisputeTimeout(id, newTimeout)`: the seller, before the timeout, later only.
pub fn extend(p: &mut Protocol, ctx: &Ctx, c: P::extendDisputeTimeoutCall) -> Applied {
    unpaused(ctx, "Disputes")?;
    let id = super::small(c._exchangeId);
    let (mut x, mut d) = disputed(p, id, &[DisputeState::Resolving])?;
    assistant(p, ctx, x.seller_id)?;
    before_timeout(ctx, &d)?;
    let new = super::small(c._newDisputeTimeout);
    if new <= d.timeout {
        return refuse(P::InvalidDisputeTimeout {});
    }
    d.timeout = new;
    x.dispute = Some(d);
    let mut out = Outcome::default();
    out.emit(&P::DisputeTimeoutExtended {
        exchangeId: c._exchangeId,
        newDisputeTimeout: c._newDisputeTimeout,
        executedBy: ctx.sender,
    });
    p.exchanges.insert(id, x);
    Ok(out)
}

fn percent(v: U256) -> Result<u64, Revert> {
    match u64::try_from(v) {
        Ok(bp) if bp <= BPS => Ok(bp),
        _ => refuse(P::InvalidBuyerPercent {}),
    }
}

/// End a dispute in `state` and release the exchange's funds.
fn settle(
    p: &mut Protocol,
    ctx: &Ctx,
    mut x: Exchange,
    state: DisputeState,
    bp: u64,
    out: &mut Outcome,
) {
    if let Some(d) = x.dispute.as_mut() {
        d.state = state;
        d.buyer_percent = bp;
        d.finalized = ctx.now;
    }
    x.finalized = ctx.now;
    let finality = match state {
        DisputeState::Retracted => Finality::Retracted,
        DisputeState::Refused => Finality::Refused,
        _ => Finality::Split(bp),
    };
    funds::release(p, ctx, &x, finality, out);
    out.transitions.push((x.id, state.name()));
    p.exchanges.insert(x.id, x);
}
