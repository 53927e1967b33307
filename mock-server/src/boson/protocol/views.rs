//! The protocol's getters, answered for `eth_call` with ABI-encoded return data.

use alloy::primitives::{Address, Bytes, U256};
use alloy::sol_types::SolCall;

use super::exchange::{exchange_struct, voucher_struct};
use super::{Ctx, Protocol, Revert, small};
use crate::boson::abi::BosonTypes as T;
use crate::boson::abi::IBosonProtocol::{self as P, IBosonProtocolCalls as Calls};

fn enc<C: SolCall>(ret: C::Return) -> Bytes {
    C::abi_encode_returns(&ret).into()
}

/// Answer a getter. A state-changing call never reaches here.
pub fn answer(p: &Protocol, ctx: &Ctx, call: Calls) -> Result<Bytes, Revert> {
    use Calls as C;
    Ok(match call {
        C::getOffer(c) => get_offer(p, small(c._offerId)),
        C::getNextOfferId(_) => enc::<P::getNextOfferIdCall>(U256::from(p.next_offer)),
        C::getNextExchangeId(_) => enc::<P::getNextExchangeIdCall>(U256::from(p.next_exchange)),
        C::getExchange(c) => get_exchange(p, small(c._exchangeId)),
        C::getExchangeState(c) => {
            let x = p.exchanges.get(&small(c._exchangeId));
            enc::<P::getExchangeStateCall>(P::getExchangeStateReturn {
                exists: x.is_some(),
                state: x.map_or(0, |x| x.state as u8),
            })
        }
        C::getDispute(c) => get_dispute(p, small(c._exchangeId)),
        C::getDisputeState(c) => {
            let d = p
                .exchanges
                .get(&small(c._exchangeId))
                .and_then(|x| x.dispute.clone());
            enc::<P::getDisputeStateCall>(P::getDisputeStateReturn {
                exists: d.is_some(),
                state: d.map_or(0, |d| d.state as u8),
            })
        }
        C::getDisputeTimeout(c) => {
            let d = p
                .exchanges
                .get(&small(c._exchangeId))
                .and_then(|x| x.dispute.clone());
            enc::<P::getDisputeTimeoutCall>(P::getDisputeTimeoutReturn {
                exists: d.is_some(),
                timeout: U256::from(d.map_or(0, |d| d.timeout)),
            })
        }
        C::getAllAvailableFunds(c) => {
            let entity = small(c._entityId);
            let funds = p
                .funds
                .range((entity, Address::ZERO)..=(entity, Address::repeat_byte(0xff)))
                .map(|((_, token), amount)| T::Funds {
                    tokenAddress: *token,
                    tokenName: if *token == super::NATIVE {
                        "Native currency"
                    } else {
                        ""
                    }
                    .to_string(),
                    availableAmount: *amount,
                })
                .collect();
            enc::<P::getAllAvailableFundsCall>(funds)
        }
        C::getSeller(c) => {
            let s = p.sellers.get(&small(c._sellerId));
            enc::<P::getSellerCall>(P::getSellerReturn {
                exists: s.is_some(),
                seller: T::Seller {
                    id: U256::from(s.map_or(0, |s| s.id)),
                    assistant: s.map_or(Address::ZERO, |s| s.assistant),
                    admin: s.map_or(Address::ZERO, |s| s.assistant),
                    clerk: Address::ZERO,
                    treasury: s.map_or(Address::ZERO, |s| s.treasury),
                    active: s.is_some(),
                    metadataUri: String::new(),
                },
                authToken: T::AuthToken {
                    tokenId: U256::ZERO,
                    tokenType: 0,
                },
            })
        }
        C::getBuyer(c) => {
            let b = p.buyers.get(&small(c._buyerId));
            enc::<P::getBuyerCall>(P::getBuyerReturn {
                exists: b.is_some(),
                buyer: T::Buyer {
                    id: U256::from(b.map_or(0, |b| b.id)),
                    wallet: b.map_or(Address::ZERO, |b| b.wallet),
                    active: b.is_some(),
                },
            })
        }
        C::isUsedNonce(c) => {
            enc::<P::isUsedNonceCall>(p.used_nonces.contains(&(c._associatedAddress, c._nonce)))
        }
        C::getPausedRegions(_) => {
            let regions = (0..super::REGIONS.len() as u8)
                .filter(|bit| ctx.paused & (1 << bit) != 0)
                .collect();
            enc::<P::getPausedRegionsCall>(regions)
        }
        _ => return Err(Revert(Bytes::new())),
    })
}

fn get_offer(p: &Protocol, id: u64) -> Bytes {
    let (exists, (offer, dates, durations, terms, fees)) = match p.offers.get(&id) {
        Some(o) => (true, super::offer::structs(p, o)),
        None => (false, Default::default()),
    };
    enc::<P::getOfferCall>(P::getOfferReturn {
        exists,
        offer,
        offerDates: dates,
        offerDurations: durations,
        disputeResolutionTerms: terms,
        offerFees: fees,
    })
}

fn get_exchange(p: &Protocol, id: u64) -> Bytes {
    let x = p.exchanges.get(&id);
    enc::<P::getExchangeCall>(P::getExchangeReturn {
        exists: x.is_some(),
        exchange: x.map(exchange_struct).unwrap_or_default(),
        voucher: x.map(voucher_struct).unwrap_or_default(),
    })
}

fn get_dispute(p: &Protocol, id: u64) -> Bytes {
    let d = p.exchanges.get(&id).and_then(|x| x.dispute.clone());
    enc::<P::getDisputeCall>(P::getDisputeReturn {
        exists: d.is_some(),
        dispute: T::Dispute {
            exchangeId: U256::from(if d.is_some() { id } else { 0 }),
            buyerPercent: U256::from(d.as_ref().map_or(0, |d| d.buyer_percent)),
            state: d.as_ref().map_or(0, |d| d.state as u8),
        },
        disputeDates: T::DisputeDates {
            disputed: U256::from(d.as_ref().map_or(0, |d| d.disputed)),
            escalated: U256::from(d.as_ref().map_or(0, |d| d.escalated)),
            finalized: U256::from(d.as_ref().map_or(0, |d| d.finalized)),
            timeout: U256::from(d.as_ref().map_or(0, |d| d.timeout)),
        },
    })
}
