//! The exchange's own transitions: commit, redeem, cancel, revoke, expire, complete.
//! Each checks, in the contracts' order, the region, the exchange and its state, the
//! caller, then the time window, and names its revert.

use alloy::primitives::{Address, U256};

use super::funds::{self, Finality};
use super::{Applied, Ctx, Exchange, ExchangeState, Outcome, Protocol, refuse, unpaused};
use crate::boson::abi::BosonTypes;
use crate::boson::abi::IBosonProtocol as P;

/// The exchange, if it exists and is in `state`.
pub fn valid(p: &Protocol, id: u64, state: ExchangeState) -> Result<Exchange, super::Revert> {
    let Some(x) = p.exchanges.get(&id) else {
        return refuse(P::NoSuchExchange {});
    };
    if x.state != state {
        return refuse(P::InvalidState {});
    }
    Ok(x.clone())
}

/// The caller holds the voucher: it is the buyer's wallet.
fn holder(p: &Protocol, ctx: &Ctx, x: &Exchange) -> Result<(), super::Revert> {
    match p.buyers.get(&x.buyer_id) {
        Some(b) if b.wallet == ctx.sender => Ok(()),
        _ => refuse(P::NotVoucherHolder {}),
    }
}

/// The caller is the seller's assistant.
pub fn assistant(p: &Protocol, ctx: &Ctx, seller_id: u64) -> Result<(), super::Revert> {
    match p.sellers.get(&seller_id) {
        Some(s) if s.assistant == ctx.sender => Ok(()),
        _ => refuse(P::NotAssistant {}),
    }
}

/// `commitToOffer(buyer, offerId)`: the buyer pays the price, the seller's deposit
/// is encumbered, the voucher's validity is fixed.
pub fn commit(p: &mut Protocol, ctx: &Ctx, buyer: Address, offer_id: u64) -> Applied {
    unpaused(ctx, "Exchanges")?;
    let Some(offer) = p.offers.get(&offer_id).cloned() else {
        return refuse(P::NoSuchOffer {});
    };
    if offer.voided {
        return refuse(P::OfferHasBeenVoided {});
    }
    if ctx.now < offer.valid_from {
        return refuse(P::OfferNotAvailable {});
    }
    if ctx.now > offer.valid_until {
        return refuse(P::OfferHasExpired {});
    }
    if offer.quantity_available.is_zero() {
        return refuse(P::OfferSoldOut {});
    }
    if ctx.value != offer.price {
        return refuse(P::InsufficientValueReceived {});
    }
    if p.available(offer.seller_id, offer.token) < offer.seller_deposit {
        return refuse(P::InsufficientAvailableFunds {});
    }
    let mut out = Outcome::default();
    let buyer_id = p.buyer_for(buyer, &mut out, ctx);
    p.debit(offer.seller_id, offer.token, offer.seller_deposit);
    let mut offer = offer;
    offer.quantity_available -= U256::from(1);
    p.offers.insert(offer_id, offer.clone());
    let id = p.next_exchange;
    p.next_exchange += 1;
    let valid_until = if offer.redeemable_until > 0 {
        offer.redeemable_until
    } else {
        ctx.now.max(offer.redeemable_from) + offer.voucher_valid
    };
    let x = Exchange {
        id,
        offer_id,
        buyer_id,
        seller_id: offer.seller_id,
        state: ExchangeState::Committed,
        committed: ctx.now,
        valid_until,
        redeemed: 0,
        finalized: 0,
        expired: false,
        dispute: None,
        paid: offer.price,
        deposit: offer.seller_deposit,
        escalation: U256::ZERO,
        token: offer.token,
    };
    out.emit(&P::FundsEncumbered {
        entityId: U256::from(buyer_id),
        exchangeToken: offer.token,
        amount: offer.price,
        executedBy: ctx.sender,
    });
    out.emit(&P::FundsEncumbered {
        entityId: U256::from(offer.seller_id),
        exchangeToken: offer.token,
        amount: offer.seller_deposit,
        executedBy: ctx.sender,
    });
    out.emit(&P::BuyerCommitted {
        offerId: U256::from(offer_id),
        buyerId: U256::from(buyer_id),
        exchangeId: U256::from(id),
        exchange: exchange_struct(&x),
        voucher: voucher_struct(&x),
        executedBy: ctx.sender,
    });
    out.transitions.push((id, "Committed"));
    p.exchanges.insert(id, x);
    Ok(out)
}

/// `redeemVoucher`: the holder, within the redeemable window.
pub fn redeem(p: &mut Protocol, ctx: &Ctx, id: u64) -> Applied {
    unpaused(ctx, "Exchanges")?;
    let mut x = valid(p, id, ExchangeState::Committed)?;
    holder(p, ctx, &x)?;
    let from = p.offers.get(&x.offer_id).map_or(0, |o| o.redeemable_from);
    if ctx.now < from || ctx.now > x.valid_until {
        return refuse(P::VoucherNotRedeemable {});
    }
    x.state = ExchangeState::Redeemed;
    x.redeemed = ctx.now;
    let mut out = Outcome::default();
    out.emit(&P::VoucherRedeemed {
        offerId: U256::from(x.offer_id),
        exchangeId: U256::from(id),
        executedBy: ctx.sender,
    });
    out.transitions.push((id, "Redeemed"));
    p.exchanges.insert(id, x);
    Ok(out)
}

/// `cancelVoucher`: the holder, any time while committed.
pub fn cancel(p: &mut Protocol, ctx: &Ctx, id: u64) -> Applied {
    unpaused(ctx, "Exchanges")?;
    let x = valid(p, id, ExchangeState::Committed)?;
    holder(p, ctx, &x)?;
    let mut out = Outcome::default();
    out.emit(&P::VoucherCanceled {
        offerId: U256::from(x.offer_id),
        exchangeId: U256::from(id),
        executedBy: ctx.sender,
    });
    finish(p, ctx, x, ExchangeState::Canceled, false, &mut out);
    Ok(out)
}

/// `revokeVoucher`: the seller's assistant, any time while committed.
pub fn revoke(p: &mut Protocol, ctx: &Ctx, id: u64) -> Applied {
    unpaused(ctx, "Exchanges")?;
    let x = valid(p, id, ExchangeState::Committed)?;
    assistant(p, ctx, x.seller_id)?;
    let mut out = Outcome::default();
    out.emit(&P::VoucherRevoked {
        offerId: U256::from(x.offer_id),
        exchangeId: U256::from(id),
        executedBy: ctx.sender,
    });
    finish(p, ctx, x, ExchangeState::Revoked, false, &mut out);
    Ok(out)
}

/// `expireVoucher`: anyone, once the voucher's validity has passed.
pub fn expire(p: &mut Protocol, ctx: &Ctx, id: u64) -> Applied {
    unpaused(ctx, "Exchanges")?;
    let x = valid(p, id, ExchangeState::Committed)?;
    if ctx.now <= x.valid_until {
        return refuse(P::VoucherStillValid {});
    }
    let mut out = Outcome::default();
    out.emit(&P::VoucherExpired {
        offerId: U256::from(x.offer_id),
        exchangeId: U256::from(id),
        executedBy: ctx.sender,
    });
    finish(p, ctx, x, ExchangeState::Canceled, true, &mut out);
    Ok(out)
}

/// `completeExchange`: the buyer any time once redeemed; anyone else only after
/// the dispute period.
pub fn complete(p: &mut Protocol, ctx: &Ctx, id: u64) -> Applied {
    unpaused(ctx, "Exchanges")?;
    let x = valid(p, id, ExchangeState::Redeemed)?;
    let is_buyer = p
        .buyers
        .get(&x.buyer_id)
        .is_some_and(|b| b.wallet == ctx.sender);
    let period = p.offers.get(&x.offer_id).map_or(0, |o| o.dispute_period);
    if !is_buyer && ctx.now.saturating_sub(x.redeemed) < period {
        return refuse(P::DisputePeriodNotElapsed {});
    }
    let mut out = Outcome::default();
    out.emit(&P::ExchangeCompleted {
        offerId: U256::from(x.offer_id),
        buyerId: U256::from(x.buyer_id),
        exchangeId: U256::from(id),
        executedBy: ctx.sender,
    });
    finish(p, ctx, x, ExchangeState::Completed, false, &mut out);
    Ok(out)
}

/// Move an exchange to a final state and release its funds.
fn finish(
    p: &mut Protocol,
    ctx: &Ctx,
    mut x: Exchange,
    state: ExchangeState,
    expired: bool,
    out: &mut Outcome,
) {
    x.state = state;
    x.expired = expired;
    x.finalized = ctx.now;
    let finality = match state {
        ExchangeState::Completed => Finality::Completed,
        ExchangeState::Revoked => Finality::Revoked,
        _ => Finality::Canceled,
    };
    funds::release(p, ctx, &x, finality, out);
    out.transitions.push((x.id, state.name()));
    p.exchanges.insert(x.id, x);
}

/// The exchange as the ABI's `Exchange` struct.
pub fn exchange_struct(x: &Exchange) -> BosonTypes::Exchange {
    BosonTypes::Exchange {
        id: U256::from(x.id),
        offerId: U256::from(x.offer_id),
        buyerId: U256::from(x.buyer_id),
        finalizedDate: U256::from(x.finalized),
        state: x.state as u8,
        mutualizerAddress: Address::ZERO,
    }
}

/// The exchange's voucher as the ABI's `Voucher` struct.
pub fn voucher_struct(x: &Exchange) -> BosonTypes::Voucher {
    BosonTypes::Voucher {
        committedDate: U256::from(x.committed),
        validUntilDate: U256::from(x.valid_until),
        redeemedDate: U256::from(x.redeemed),
        expired: x.expired,
    }
}
