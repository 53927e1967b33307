//! Funds: deposits, the payoff table applied at an exchange's finality, withdrawals.
//! Payoffs credit available funds; nothing leaves the diamond until its owner
//! withdraws it.

use alloy::primitives::{Address, U256};

use super::{
    Applied, BPS, Ctx, Exchange, NATIVE, Outcome, PROTOCOL_ENTITY, Protocol, refuse, unpaused,
};
use crate::boson::abi::IBosonProtocol as P;

/// How an exchange ended, for the payoff table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finality {
    Completed,
    Revoked,
    Canceled,
    Retracted,
    Refused,
    /// Resolved or decided, with the buyer's share in basis points.
    Split(u64),
}

/// One exchange's release: what it held and what it paid out (equal, or the
/// oracle reports a conservation breach).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    pub exchange: u64,
    pub held: U256,
    pub paid_out: U256,
}

/// `x * bps / 10000`, rounded down as the contracts do.
fn share(x: U256, bps: u64) -> U256 {
    x * U256::from(bps) / U256::from(BPS)
}

/// The payoffs `(seller, buyer, protocol)` of an exchange at `finality`.
pub fn payoffs(p: &Protocol, x: &Exchange, finality: Finality) -> (U256, U256, U256) {
    let offer = p.offers.get(&x.offer_id);
    let price = x.paid;
    let penalty = offer.map_or(U256::ZERO, |o| o.buyer_cancel_penalty.min(price));
    let fee = offer.map_or(U256::ZERO, |o| o.protocol_fee.min(price));
    let (d, e) = (x.deposit, x.escalation);
    match finality {
        Finality::Completed | Finality::Retracted => (price + d + e - fee, U256::ZERO, fee),
        Finality::Revoked => (U256::ZERO, price + d + e, U256::ZERO),
        Finality::Canceled => (d + penalty + e, price - penalty, U256::ZERO),
        Finality::Refused => (d, price + e, U256::ZERO),
        Finality::Split(bp) => {
            let buyer = share(d + e, bp) + share(price, bp);
            (d + e + price - buyer, buyer, U256::ZERO)
        }
    }
}

/// Release an exchange's funds by the payoff table, with their events.
pub fn release(p: &mut Protocol, ctx: &Ctx, x: &Exchange, finality: Finality, out: &mut Outcome) {
    let (seller, buyer, fee) = payoffs(p, x, finality);
    for (entity, amount) in [(x.seller_id, seller), (x.buyer_id, buyer)] {
        if amount.is_zero() {
            continue;
        }
        p.credit(entity, x.token, amount);
        out.emit(&P::FundsReleased {
            exchangeId: U256::from(x.id),
            entityId: U256::from(entity),
            exchangeToken: x.token,
            amount,
            executedBy: ctx.sender,
        });
    }
    if !fee.is_zero() {
        p.credit(PROTOCOL_ENTITY, x.token, fee);
        out.emit(&P::ProtocolFeeCollected {
            exchangeId: U256::from(x.id),
            exchangeToken: x.token,
            amount: fee,
            executedBy: ctx.sender,
        });
    }
    out.releases.push(Release {
        exchange: x.id,
        held: x.held(),
        paid_out: seller + buyer + fee,
    });
}

/// `depositFunds(sellerId, token, amount)`: native only, the value must match.
pub fn deposit(p: &mut Protocol, ctx: &Ctx, c: P::depositFundsCall) -> Applied {
    unpaused(ctx, "Funds")?;
    let entity = super::small(c._entityId);
    if !p.sellers.contains_key(&entity) {
        return refuse(P::NoSuchSeller {});
    }
    if c._tokenAddress != NATIVE {
        return refuse(P::TokenTransferFailed {});
    }
    if c._amount.is_zero() {
        return refuse(P::ValueZeroNotAllowed {});
    }
    if ctx.value != c._amount {
        return refuse(P::InsufficientValueReceived {});
    }
    p.credit(entity, NATIVE, c._amount);
    let mut out = Outcome::default();
    out.emit(&P::FundsDeposited {
        entityId: c._entityId,
        executedBy: ctx.sender,
        tokenAddress: NATIVE,
        amount: c._amount,
    });
    Ok(out)
}

/// Who may withdraw an entity's funds, and where they go.
fn payee(p: &Protocol, ctx: &Ctx, entity: u64) -> Result<Address, super::Revert> {
    if let Some(s) = p.sellers.get(&entity) {
        return if s.assistant == ctx.sender {
            Ok(s.treasury)
        } else {
            refuse(P::NotAssistant {})
        };
    }
    if let Some(b) = p.buyers.get(&entity) {
        return if b.wallet == ctx.sender {
            Ok(b.wallet)
        } else {
            refuse(P::NotBuyerWallet {})
        };
    }
    if let Some(r) = p.resolvers.get(&entity) {
        return if r.assistant == ctx.sender {
            Ok(r.assistant)
        } else {
            refuse(P::NotAssistant {})
        };
    }
    refuse(P::NoSuchEntity {})
}

/// `withdrawFunds(entityId, tokens, amounts)`: empty lists withdraw everything.
pub fn withdraw(p: &mut Protocol, ctx: &Ctx, c: P::withdrawFundsCall) -> Applied {
    unpaused(ctx, "Funds")?;
    if c._tokenList.len() != c._tokenAmounts.len() {
        return refuse(P::TokenAmountMismatch {});
    }
    let entity = super::small(c._entityId);
    let to = payee(p, ctx, entity)?;
    let wanted: Vec<(Address, U256)> = if c._tokenList.is_empty() {
        p.funds
            .range((entity, Address::ZERO)..=(entity, Address::repeat_byte(0xff)))
            .map(|((_, token), amount)| (*token, *amount))
            .collect()
    } else {
        c._tokenList.into_iter().zip(c._tokenAmounts).collect()
    };
    if wanted.is_empty() {
        return refuse(P::NothingToWithdraw {});
    }
    let mut out = Outcome::default();
    for (token, amount) in wanted {
        if amount.is_zero() {
            return refuse(P::NothingToWithdraw {});
        }
        if amount > p.available(entity, token) {
            return refuse(P::InsufficientAvailableFunds {});
        }
        p.debit(entity, token, amount);
        out.payouts.push((to, amount));
        out.emit(&P::FundsWithdrawn {
            sellerId: c._entityId,
            withdrawnTo: to,
            tokenAddress: token,
            amount,
            executedBy: ctx.sender,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_payoff_pays_out_what_went_in() {
        let rules = super::super::Rules::new(Address::repeat_byte(1), 31337);
        let mut p = Protocol::new(rules, Address::ZERO);
        let offer = super::super::offer::tests::sample_offer(1);
        p.offers.insert(1, offer);
        let x = Exchange {
            id: 1,
            offer_id: 1,
            buyer_id: 2,
            seller_id: 1,
            state: super::super::ExchangeState::Committed,
            committed: 0,
            valid_until: 0,
            redeemed: 0,
            finalized: 0,
            expired: false,
            dispute: None,
            paid: U256::from(1_000_003u64),
            deposit: U256::from(100_007u64),
            escalation: U256::from(13u64),
            token: NATIVE,
        };
        for f in [
            Finality::Completed,
            Finality::Revoked,
            Finality::Canceled,
            Finality::Retracted,
            Finality::Refused,
            Finality::Split(0),
            Finality::Split(3_333),
            Finality::Split(10_000),
        ] {
            let (s, b, fee) = payoffs(&p, &x, f);
            assert_eq!(s + b + fee, x.held(), "{f:?}");
        }
    }
}
