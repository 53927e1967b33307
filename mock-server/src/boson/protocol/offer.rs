//! Offers: creation with the contracts' validation rules, voiding, and the ABI
//! structs an offer is read back as.

use alloy::primitives::{Address, U256};

use super::exchange::assistant;
use super::{Applied, Ctx, Offer, Outcome, Protocol, Revert, refuse, small, unpaused};
use crate::boson::abi::BosonTypes as T;
use crate::boson::abi::IBosonProtocol as P;

/// Check an offer against the contracts' rules (`OfferBase.sol`), in their order.
pub fn validate(p: &Protocol, o: &Offer, now: u64) -> Result<(), Revert> {
    if o.valid_from >= o.valid_until || o.valid_until <= now {
        return refuse(P::InvalidOfferPeriod {});
    }
    if (o.redeemable_until == 0) == (o.voucher_valid == 0) {
        return refuse(P::AmbiguousVoucherExpiry {});
    }
    if o.redeemable_until > 0
        && (o.redeemable_until <= o.redeemable_from || o.redeemable_until < o.valid_until)
    {
        return refuse(P::InvalidRedemptionPeriod {});
    }
    if o.dispute_period < p.rules.min_dispute_period {
        return refuse(P::InvalidDisputePeriod {});
    }
    let r = &p.rules;
    if o.resolution_period < r.min_resolution_period
        || o.resolution_period > r.max_resolution_period
    {
        return refuse(P::InvalidResolutionPeriod {});
    }
    if o.quantity_available.is_zero() {
        return refuse(P::InvalidQuantityAvailable {});
    }
    if o.buyer_cancel_penalty > o.price {
        return refuse(P::InvalidOfferPenalty {});
    }
    if o.resolver_id != 0 && !p.resolvers.contains_key(&o.resolver_id) {
        return refuse(P::InvalidDisputeResolver {});
    }
    Ok(())
}

/// Add a checked offer; returns its id and the `OfferCreated` event.
pub fn insert(p: &mut Protocol, mut o: Offer, ctx: &Ctx) -> Result<(u64, Outcome), Revert> {
    validate(p, &o, ctx.now)?;
    let id = p.next_offer;
    p.next_offer += 1;
    o.id = id;
    o.quantity_initial = o.quantity_available;
    o.protocol_fee = o.price * U256::from(p.rules.protocol_fee_bps) / U256::from(super::BPS);
    if let Some(r) = p.resolvers.get(&o.resolver_id) {
        o.escalation_response_period = r.escalation_response_period;
        o.dr_fee = r.fee;
    }
    let (offer, dates, durations, terms, fees) = structs(p, &o);
    let mut out = Outcome::default();
    out.emit(&P::OfferCreated {
        offerId: U256::from(id),
        sellerId: U256::from(o.seller_id),
        offer,
        offerDates: dates,
        offerDurations: durations,
        disputeResolutionTerms: terms,
        offerFees: fees,
        agentId: U256::ZERO,
        executedBy: ctx.sender,
    });
    p.offers.insert(id, o);
    Ok((id, out))
}

/// `createOffer`: the caller must be a seller's assistant; the offer is that seller's.
pub fn create(p: &mut Protocol, ctx: &Ctx, c: P::createOfferCall) -> Applied {
    unpaused(ctx, "Offers")?;
    let Some(seller_id) = p.seller_of(ctx.sender) else {
        return refuse(P::NotAssistant {});
    };
    if c._offer.creator != 0 {
        return refuse(P::InvalidOfferCreator {});
    }
    if c._offer.priceType != 0 {
        return refuse(P::InvalidPriceType {});
    }
    let (d, dur) = (&c._offerDates, &c._offerDurations);
    let offer = Offer {
        id: 0,
        seller_id,
        price: c._offer.price,
        seller_deposit: c._offer.sellerDeposit,
        buyer_cancel_penalty: c._offer.buyerCancelPenalty,
        quantity_available: c._offer.quantityAvailable,
        quantity_initial: c._offer.quantityAvailable,
        token: c._offer.exchangeToken,
        metadata_uri: c._offer.metadataUri.clone(),
        metadata_hash: c._offer.metadataHash.clone(),
        voided: false,
        valid_from: small(d.validFrom),
        valid_until: small(d.validUntil),
        redeemable_from: small(d.voucherRedeemableFrom),
        redeemable_until: small(d.voucherRedeemableUntil),
        voucher_valid: small(dur.voucherValid),
        dispute_period: small(dur.disputePeriod),
        resolution_period: small(dur.resolutionPeriod),
        resolver_id: small(c._drParameters.disputeResolverId),
        escalation_response_period: 0,
        dr_fee: U256::ZERO,
        protocol_fee: U256::ZERO,
    };
    if offer.token != super::NATIVE {
        return refuse(P::NativeNotAllowed {});
    }
    insert(p, offer, ctx).map(|(_, out)| out)
}

/// `voidOffer`: the seller's assistant; no new commits, existing exchanges go on.
pub fn void(p: &mut Protocol, ctx: &Ctx, id: u64) -> Applied {
    unpaused(ctx, "Offers")?;
    let Some(mut o) = p.offers.get(&id).cloned() else {
        return refuse(P::NoSuchOffer {});
    };
    assistant(p, ctx, o.seller_id).map_err(|_| super::Revert::of(P::NotOfferCreator {}))?;
    if o.voided {
        return refuse(P::OfferHasBeenVoided {});
    }
    o.voided = true;
    let mut out = Outcome::default();
    out.emit(&P::OfferVoided {
        offerId: U256::from(id),
        creatorId: U256::from(o.seller_id),
        executedBy: ctx.sender,
    });
    p.offers.insert(id, o);
    Ok(out)
}

/// The offer as the ABI's structs (`getOffer`, `OfferCreated`).
pub fn structs(
    p: &Protocol,
    o: &Offer,
) -> (
    T::Offer,
    T::OfferDates,
    T::OfferDurations,
    T::DisputeResolutionTerms,
    T::OfferFees,
) {
    let u = U256::from;
    let escalation = o.escalation_deposit(p.rules.escalation_deposit_bps);
    (
        T::Offer {
            id: u(o.id),
            sellerId: u(o.seller_id),
            price: o.price,
            sellerDeposit: o.seller_deposit,
            buyerCancelPenalty: o.buyer_cancel_penalty,
            quantityAvailable: o.quantity_available,
            exchangeToken: o.token,
            priceType: 0,
            creator: 0,
            metadataUri: o.metadata_uri.clone(),
            metadataHash: o.metadata_hash.clone(),
            voided: o.voided,
            collectionIndex: U256::ZERO,
            royaltyInfo: vec![T::RoyaltyInfo {
                recipients: vec![Address::ZERO],
                bps: vec![U256::ZERO],
            }],
            buyerId: U256::ZERO,
        },
        T::OfferDates {
            validFrom: u(o.valid_from),
            validUntil: u(o.valid_until),
            voucherRedeemableFrom: u(o.redeemable_from),
            voucherRedeemableUntil: u(o.redeemable_until),
        },
        T::OfferDurations {
            disputePeriod: u(o.dispute_period),
            voucherValid: u(o.voucher_valid),
            resolutionPeriod: u(o.resolution_period),
        },
        T::DisputeResolutionTerms {
            disputeResolverId: u(o.resolver_id),
            escalationResponsePeriod: u(o.escalation_response_period),
            feeAmount: o.dr_fee,
            buyerEscalationDeposit: escalation,
            mutualizerAddress: Address::ZERO,
        },
        T::OfferFees {
            protocolFee: o.protocol_fee,
            agentFee: U256::ZERO,
        },
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An offer valid from 1,000 to 1,000,000 with a 30-day voucher.
    pub(crate) fn sample_offer(seller_id: u64) -> Offer {
        Offer {
            id: 0,
            seller_id,
            price: U256::from(1_000_000u64),
            seller_deposit: U256::from(100_000u64),
            buyer_cancel_penalty: U256::from(50_000u64),
            quantity_available: U256::from(10u64),
            quantity_initial: U256::from(10u64),
            token: super::super::NATIVE,
            metadata_uri: String::new(),
            metadata_hash: String::new(),
            voided: false,
            valid_from: 1_000,
            valid_until: 1_000_000,
            redeemable_from: 1_000,
            redeemable_until: 0,
            voucher_valid: 30 * 24 * 3600,
            dispute_period: 7 * 24 * 3600,
            resolution_period: 7 * 24 * 3600,
            resolver_id: 0,
            escalation_response_period: 0,
            dr_fee: U256::ZERO,
            protocol_fee: U256::ZERO,
        }
    }
}
