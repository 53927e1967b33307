//! One exchange walked along a path of the state machine, each transition timed
//! in three phases from its send (→ receipt, → confirmed, → visible in the
//! subgraph) into
//! HDR histograms per transition. The building block of the `boson_lifecycle`
//! load's vocabulary (paths, transitions, phases); `load::boson` drives exchanges
//! under load with the relayer, confirmations and the subgraph.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use gauntlet_mock::boson::abi::IBosonProtocol as P;
use hdrhistogram::Histogram;

use super::{Client, StepError, calls, committed};

/// The paths an exchange can take (those a buyer and a seller walk on their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Path {
    /// commit → redeem → complete.
    Complete,
    /// commit → redeem → raise a dispute → retract it.
    Dispute,
    /// commit → the buyer cancels.
    Cancel,
    /// commit → the seller revokes.
    Revoke,
}

impl Path {
    pub const ALL: [Path; 4] = [Path::Complete, Path::Dispute, Path::Cancel, Path::Revoke];

    pub fn name(self) -> &'static str {
        match self {
            Path::Complete => "complete",
            Path::Dispute => "dispute",
            Path::Cancel => "cancel",
            Path::Revoke => "revoke",
        }
    }
}

/// Who acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Buyer,
    Seller,
}

/// The transitions after the commit, by path: (target state, who, call).
pub fn after_commit(path: Path, id: u64) -> Vec<(&'static str, Actor, Vec<u8>)> {
    use Actor::*;
    match path {
        Path::Complete => vec![
            ("Redeemed", Buyer, calls::redeem(id)),
            ("Completed", Buyer, calls::complete(id)),
        ],
        Path::Dispute => vec![
            ("Redeemed", Buyer, calls::redeem(id)),
            ("Disputed", Buyer, calls::raise_dispute(id)),
            ("Retracted", Buyer, calls::retract_dispute(id)),
        ],
        Path::Cancel => vec![(
            "Canceled",
            Buyer,
            P::cancelVoucherCall {
                _exchangeId: U256::from(id),
            }
            .abi_encode(),
        )],
        Path::Revoke => vec![(
            "Revoked",
            Seller,
            P::revokeVoucherCall {
                _exchangeId: U256::from(id),
            }
            .abi_encode(),
        )],
    }
}

/// The function a transition into `state` calls (the name a meta-transaction
/// carries).
pub fn signature(state: &str) -> &'static str {
    match state {
        "Redeemed" => P::redeemVoucherCall::SIGNATURE,
        "Completed" => P::completeExchangeCall::SIGNATURE,
        "Disputed" => P::raiseDisputeCall::SIGNATURE,
        "Retracted" => P::retractDisputeCall::SIGNATURE,
        "Canceled" => P::cancelVoucherCall::SIGNATURE,
        "Revoked" => P::revokeVoucherCall::SIGNATURE,
        _ => P::commitToOfferCall::SIGNATURE,
    }
}

/// The three phases of one transition, each from the moment it was sent.
#[derive(Debug)]
pub struct Phases {
    pub receipt: Histogram<u64>,
    pub confirmed: Histogram<u64>,
    pub indexed: Histogram<u64>,
}

const MAX_US: u64 = 3_600_000_000;

/// An empty histogram of microseconds, up to an hour.
pub fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("static bounds are valid")
}

/// `d` in microseconds, within the histograms' bounds.
pub fn us(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, MAX_US)
}

impl Default for Phases {
    fn default() -> Self {
        Self {
            receipt: hist(),
            confirmed: hist(),
            indexed: hist(),
        }
    }
}

/// Per target state, the phases of every transition into it; reverts by name.
#[derive(Debug, Default)]
pub struct Transitions {
    pub by_state: BTreeMap<&'static str, Phases>,
    pub reverts: BTreeMap<String, u64>,
}

/// A walked exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walked {
    pub exchange_id: u64,
    /// The states reached, in order.
    pub states: Vec<&'static str>,
}

/// Walk one exchange of `offer` along `path`: the buyer commits paying `price`,
/// then each transition is sent, waited for and timed. Stops at the first failure
/// (its revert counted by name).
pub async fn walk(
    c: &Client,
    buyer: &PrivateKeySigner,
    seller: &PrivateKeySigner,
    offer: u64,
    price: U256,
    path: Path,
    into: &mut Transitions,
) -> Result<Walked, StepError> {
    let (mined, _) = timed(
        c,
        buyer,
        calls::commit(buyer.address(), offer),
        price,
        "Committed",
        into,
    )
    .await?;
    let Some((id, _)) = committed(&mined.logs) else {
        return Err(StepError::Refused(format!(
            "tx {:#x}: no BuyerCommitted in its receipt",
            mined.hash
        )));
    };
    let mut states = vec!["Committed"];
    for (state, actor, input) in after_commit(path, id) {
        let key = match actor {
            Actor::Buyer => buyer,
            Actor::Seller => seller,
        };
        timed(c, key, input, U256::ZERO, state, into).await?;
        states.push(state);
    }
    Ok(Walked {
        exchange_id: id,
        states,
    })
}

/// One transition, its phases recorded under `state`.
async fn timed(
    c: &Client,
    key: &PrivateKeySigner,
    input: Vec<u8>,
    value: U256,
    state: &'static str,
    into: &mut Transitions,
) -> Result<(super::Mined, Duration), StepError> {
    let r = c.transact(key, input, value).await;
    let mined = match r {
        Ok(m) => m,
        Err(e) => {
            if let StepError::Reverted(name) = &e {
                *into.reverts.entry(name.clone()).or_default() += 1;
            }
            return Err(e);
        }
    };
    let waiting = Instant::now();
    c.indexed(mined.block).await?;
    let indexed = mined.confirmed_after + waiting.elapsed();
    let p = into.by_state.entry(state).or_default();
    // Recording into histograms bounded to an hour cannot fail after the clamp.
    let _ = p.receipt.record(us(mined.receipt_after));
    let _ = p.confirmed.record(us(mined.confirmed_after));
    let _ = p.indexed.record(us(indexed));
    Ok((mined, indexed))
}
