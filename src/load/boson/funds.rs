//! Withdrawals by the seller: what it earned above its deposit reserve, every
//! `withdraw_every` or past `withdraw_above_eth`, one at a time, each confirmed
//! before the next may start (a repeat of one amount inside the first's
//! confirmations is a double submission to the twin).

use std::time::Instant;

use alloy::primitives::U256;
use alloy::sol_types::SolCall;
use gauntlet_mock::boson::abi::IBosonProtocol as P;

use super::Shared;
use super::walk::{SETTLED_BLOCKS, direct};
use crate::boson::Client;
use crate::boson::relay::{Intent, Submitted};

/// Whether the seller's available funds fell below `before` within the deadline
/// (a withdrawal landed), then waited for its confirmations.
async fn withdrawn(c: &Client, s: &Shared, before: U256) -> bool {
    let started = Instant::now();
    let Ok(from) = c.rpc.block_number().await else {
        return false;
    };
    while started.elapsed() < c.deadline {
        let head = c.rpc.block_number().await.unwrap_or(from);
        if seller_available(s, c).await.is_some_and(|a| a < before) {
            return c.confirmed(head).await.is_ok();
        }
        // Never sent: free to withdraw again.
        if head >= from + SETTLED_BLOCKS {
            return false;
        }
        tokio::time::sleep(c.poll).await;
    }
    false
}

/// The seller's available funds (native), or None when they cannot be read.
async fn seller_available(s: &Shared, c: &Client) -> Option<U256> {
    let input = P::getAllAvailableFundsCall {
        _entityId: U256::from(s.seller_id),
    }
    .abi_encode();
    let out = c.view(s.seller.address(), &input).await.ok()?;
    P::getAllAvailableFundsCall::abi_decode_returns(&out)
        .map(|f| f.iter().fold(U256::ZERO, |a, x| a + x.availableAmount))
        .ok()
}

/// The seller withdraws when its available funds passed the plan's mark or the
/// interval has gone by; one withdrawal at a time (a busy one is skipped).
pub(super) async fn seller_withdraws(s: &Shared, c: &Client) {
    let Ok(mut last) = s.withdrawing.try_lock() else {
        return;
    };
    let due = last.elapsed() >= s.plan.withdraw_every;
    let Some(available) = seller_available(s, c).await else {
        return;
    };
    let reserve = *s.reserve.get_or_init(|| available);
    let earned = available.saturating_sub(reserve);
    if earned.is_zero() || !(due || earned > U256::from(s.plan.withdraw_above_wei)) {
        return;
    }
    let (tokens, amounts) = (vec![alloy::primitives::Address::ZERO], vec![earned]);
    let input = P::withdrawFundsCall {
        _entityId: U256::from(s.seller_id),
        _tokenList: tokens.clone(),
        _tokenAmounts: amounts.clone(),
    }
    .abi_encode();
    let intent = Intent::Funds(s.seller_id, tokens, amounts);
    let done = match &s.relayer {
        Some(r) => match r
            .submit(
                c,
                &s.seller,
                P::withdrawFundsCall::SIGNATURE,
                &input,
                &intent,
            )
            .await
        {
            Ok(Submitted::Relayed(h)) => r.follow(c, h).await.is_ok(),
            Ok(Submitted::Down(_)) => confirmed_direct(s, c, input).await,
            // Maybe sent: wait to see the funds go (and confirmed) before any other
            // withdrawal, or that one could repeat it.
            Ok(Submitted::Ambiguous(_)) => withdrawn(c, s, available).await,
            Err(_) => false,
        },
        None => confirmed_direct(s, c, input).await,
    };
    if done {
        s.book().withdrawals += 1;
        *last = Instant::now();
    }
}

/// A direct withdrawal, mined and confirmed.
async fn confirmed_direct(s: &Shared, c: &Client, input: Vec<u8>) -> bool {
    match direct(s, c, &s.seller, input, U256::ZERO).await {
        Ok((block, ..)) => c.confirmed(block).await.is_ok(),
        Err(_) => false,
    }
}
