//! The Boson walk on a known offer: chain and contracts checked against the plan's
//! table, the subgraph's freshness, paused regions, then commit → redeem →
//! complete, commit → redeem → dispute → retract, and the seller withdraws what the
//! walks paid in. One step at a time; each transaction waits for its
//! confirmations and for the subgraph; the first failure skips the rest.

use std::time::Duration;

use alloy::primitives::U256;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use gauntlet_mock::boson::abi::IBosonProtocol as P;

use super::config::{BosonTarget, Settings};
use super::record::Steps;
use crate::boson::relay::{Intent, Relayer, Route};
use crate::boson::{Client, Mined, StepError, calls, committed};

/// Regions the walk needs unpaused.
pub const NEEDED: [&str; 4] = ["Exchanges", "Disputes", "Funds", "MetaTransaction"];

/// The walk's state as it goes.
struct Walk<'a> {
    client: Client,
    relayer: Option<Relayer>,
    t: &'a BosonTarget,
    seller: &'a PrivateKeySigner,
    /// Value the walk may still move, in wei.
    budget: U256,
    price: U256,
    seller_id: u64,
    /// Released to the seller by the walks' exchanges.
    earned: U256,
}

/// Run the walk, appending its steps.
pub async fn run(
    t: &BosonTarget,
    seller: &PrivateKeySigner,
    s: &Settings,
    trace: std::sync::Arc<crate::boson::rpc::Trace>,
    steps: &mut Steps<'_>,
) {
    let client = Client {
        rpc: crate::boson::Rpc::new(&t.rpc, s.rate, Duration::from_secs(30)).with_trace(trace),
        subgraph: t.subgraph.clone(),
        diamond: t.expected.diamond,
        chain_id: t.expected.chain_id,
        confirmations: s.confirmations,
        deadline: s.step_deadline,
        poll: Duration::from_millis(500),
    };
    let budget = eth_to_wei(s.max_value_eth);
    let relayer = t
        .relayer
        .as_ref()
        .map(|(url, key, id)| Relayer::new(url, key.clone(), id, s.relayer_fallback));
    let mut w = Walk {
        client,
        relayer,
        t,
        seller,
        budget,
        price: U256::ZERO,
        seller_id: 0,
        earned: U256::ZERO,
    };
    if !checks(&mut w, s, steps).await {
        return;
    }
    for path in ["complete", "dispute"] {
        if !exchange(&mut w, path, steps).await {
            return;
        }
    }
    // What the finished exchanges released to the seller (price and deposit, less
    // fees), as the protocol's own FundsReleased events say.
    let amount = w.earned;
    let (tokens, amounts) = (vec![alloy::primitives::Address::ZERO], vec![amount]);
    let input = P::withdrawFundsCall {
        _entityId: U256::from(w.seller_id),
        _tokenList: tokens.clone(),
        _tokenAmounts: amounts.clone(),
    }
    .abi_encode();
    let name = "boson: the seller withdraws what the walks released to it";
    let intent = Intent::Funds(w.seller_id, tokens, amounts);
    let r = w
        .call(w.seller, P::withdrawFundsCall::SIGNATURE, input, intent)
        .await;
    steps.tx(name, r, None);
}

/// The checks before any transaction; false stops the walk.
async fn checks(w: &mut Walk<'_>, s: &Settings, steps: &mut Steps<'_>) -> bool {
    let c = &w.client;
    let t = w.t;
    let buyer = t.buyer.address();
    let r = c
        .rpc
        .chain_id()
        .await
        .map_err(StepError::from)
        .and_then(|id| {
            if id == t.expected.chain_id {
                Ok(format!("chain id {id}"))
            } else {
                Err(StepError::Refused(format!(
                    "chain id {id}, but the plan expects {} for this environment",
                    t.expected.chain_id
                )))
            }
        });
    if !steps.check("boson: chain id", r) {
        return false;
    }
    let r = c
        .rpc
        .code(t.expected.diamond)
        .await
        .map_err(StepError::from)
        .and_then(|code| {
            if code.is_empty() {
                Err(StepError::Refused(format!(
                    "no contract at the expected diamond {:#x}",
                    t.expected.diamond
                )))
            } else {
                Ok(format!("diamond {:#x} has code", t.expected.diamond))
            }
        });
    if !steps.check("boson: protocol diamond", r) {
        return false;
    }
    let r = fresh(c, s.subgraph_stale_blocks).await;
    if !steps.check("boson: subgraph head", r) {
        return false;
    }
    let r = c.paused_regions(buyer).await.and_then(|paused| {
        let blocking: Vec<&String> = paused
            .iter()
            .filter(|p| NEEDED.contains(&p.as_str()))
            .collect();
        if blocking.is_empty() {
            Ok(format!("paused: {}", list(&paused)))
        } else {
            Err(StepError::Refused(format!(
                "paused: {}; the walk needs {}",
                list(&paused),
                NEEDED.join(", ")
            )))
        }
    });
    if !steps.check("boson: paused regions", r) {
        return false;
    }
    let r = offer(w, buyer).await;
    if !steps.check("boson: known offer", r) {
        return false;
    }
    let r = balances(w, s.daily_burn_eth).await;
    steps.check("boson: wallet balances", r)
}

/// The drain alert levels, as fractions of the expected daily burn.
pub const DRAIN_ALERTS: [f64; 3] = [0.5, 0.2, 0.1];

/// The buyer's and seller's balances against the drain alert levels: a warning
/// in the step's detail, not a failure.
async fn balances(w: &Walk<'_>, daily_burn_eth: f64) -> Result<String, StepError> {
    let mut parts = Vec::new();
    for (who, addr) in [
        ("buyer", w.t.buyer.address()),
        ("seller", w.seller.address()),
    ] {
        let wei = w.client.rpc.balance(addr).await?;
        let eth = wei_to_eth(wei);
        let crossed = DRAIN_ALERTS
            .iter()
            .rev()
            .find(|f| daily_burn_eth > 0.0 && eth < *f * daily_burn_eth);
        parts.push(match crossed {
            None => format!("{who} {eth:.4} ETH"),
            Some(f) => format!(
                "WARNING {who} {eth:.4} ETH, below {f}x the daily burn ({:.4} ETH)",
                f * daily_burn_eth
            ),
        });
    }
    Ok(parts.join("; "))
}

fn wei_to_eth(wei: U256) -> f64 {
    let gwei = wei / U256::from(1_000_000_000u64);
    u128::try_from(gwei).map_or(f64::MAX, |g| g as f64 / 1e9)
}

async fn offer(w: &mut Walk<'_>, buyer: alloy::primitives::Address) -> Result<String, StepError> {
    let call = P::getOfferCall {
        _offerId: U256::from(w.t.offer),
    };
    let out = w.client.view(buyer, &call.abi_encode()).await?;
    let r = P::getOfferCall::abi_decode_returns(&out)
        .map_err(|e| StepError::Rpc(format!("getOffer: {e}")))?;
    if !r.exists || r.offer.voided {
        return Err(StepError::Refused(format!(
            "offer {} does not exist or is voided",
            w.t.offer
        )));
    }
    if r.offer.exchangeToken != alloy::primitives::Address::ZERO {
        return Err(StepError::Refused(format!(
            "offer {} is priced in {:#x}; the walk pays in the native currency",
            w.t.offer, r.offer.exchangeToken
        )));
    }
    w.price = r.offer.price;
    w.seller_id = u64::try_from(r.offer.sellerId).unwrap_or(0);
    Ok(format!(
        "offer {}: price {} wei, seller {}",
        w.t.offer, w.price, w.seller_id
    ))
}

/// The subgraph's head within `stale` blocks of the chain's.
async fn fresh(c: &Client, stale: u64) -> Result<String, StepError> {
    let head = c.rpc.block_number().await?;
    match c.subgraph_head().await? {
        None => Ok("no subgraph configured".into()),
        Some(indexed) if head.saturating_sub(indexed) > stale => Err(StepError::Refused(format!(
            "the subgraph is stale: indexed block {indexed}, chain head {head} (more than {stale} behind)"
        ))),
        Some(indexed) => Ok(format!("indexed {indexed}, chain head {head}")),
    }
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// One exchange along `path` (`complete` or `dispute`); false stops the walk.
async fn exchange(w: &mut Walk<'_>, path: &str, steps: &mut Steps<'_>) -> bool {
    let buyer = &w.t.buyer;
    let price = w.price;
    let name = format!("boson: {path} walk: commit to offer {}", w.t.offer);
    if price > w.budget {
        let r = Err(StepError::Refused(format!(
            "committing pays {price} wei, more than the {} wei left of smoke.max_value_eth",
            w.budget
        )));
        steps.tx(&name, r, None);
        return false;
    }
    let r = w
        .step_tx(buyer, calls::commit(buyer.address(), w.t.offer), price)
        .await;
    let id = r
        .as_ref()
        .ok()
        .and_then(|m| committed(&m.0.logs))
        .map(|c| c.0);
    // Mined, but no BuyerCommitted the walk can read: the deployment's events are
    // not the ones it knows. A failure, not a silent stop.
    let r = match (r, id) {
        (Ok(m), None) => Err(StepError::Refused(format!(
            "tx {:#x} mined, but its receipt holds no BuyerCommitted event this walk can decode",
            m.0.hash
        ))),
        (r, _) => r,
    };
    if r.is_ok() {
        w.budget -= price;
    }
    if !steps.tx(&name, r, id) {
        return false;
    }
    let Some(id) = id else { return false };
    let redeem = ("redeem", P::redeemVoucherCall::SIGNATURE, calls::redeem(id));
    let rest: Vec<(&str, &str, Vec<u8>)> = match path {
        "complete" => vec![
            redeem,
            (
                "complete",
                P::completeExchangeCall::SIGNATURE,
                calls::complete(id),
            ),
        ],
        _ => vec![
            redeem,
            (
                "raise a dispute",
                P::raiseDisputeCall::SIGNATURE,
                calls::raise_dispute(id),
            ),
            (
                "retract the dispute",
                P::retractDisputeCall::SIGNATURE,
                calls::retract_dispute(id),
            ),
        ],
    };
    for (what, name, input) in rest {
        let r = w.call(buyer, name, input, Intent::Exchange(id)).await;
        if let Ok((m, _, _)) = &r {
            w.earned += released(&m.logs, w.seller_id);
        }
        if !steps.tx(&format!("boson: {path} walk: {what}"), r, Some(id)) {
            return false;
        }
    }
    true
}

/// What the protocol released to `entity` in `logs` (`FundsReleased`).
fn released(logs: &[alloy::primitives::Log], entity: u64) -> U256 {
    use alloy::sol_types::SolEvent;
    logs.iter()
        .filter_map(|l| P::FundsReleased::decode_log(l).ok())
        .filter(|e| e.entityId == U256::from(entity))
        .map(|e| e.amount)
        .fold(U256::ZERO, |a, b| a + b)
}

impl Walk<'_> {
    /// A transaction, then the subgraph caught up with its block.
    async fn step_tx(
        &self,
        key: &PrivateKeySigner,
        input: Vec<u8>,
        value: U256,
    ) -> Result<(Mined, Option<u64>, Option<Route>), StepError> {
        let mined = self.client.transact(key, input, value).await?;
        let indexed = self.client.indexed(mined.block).await?;
        Ok((mined, indexed, None))
    }

    /// A call without value: through the relayer when there is one (with its
    /// fallback), else directly; then the subgraph caught up with its block.
    async fn call(
        &self,
        key: &PrivateKeySigner,
        name: &str,
        input: Vec<u8>,
        intent: Intent,
    ) -> Result<(Mined, Option<u64>, Option<Route>), StepError> {
        let Some(relayer) = &self.relayer else {
            return self.step_tx(key, input, U256::ZERO).await;
        };
        let (mined, route) = relayer
            .transact(&self.client, key, name, input, intent)
            .await?;
        let indexed = self.client.indexed(mined.block).await?;
        Ok((mined, indexed, Some(route)))
    }
}

/// ETH as wei (to the gwei: a plan's cap needs no finer grain).
pub fn eth_to_wei(eth: f64) -> U256 {
    let gwei = (eth * 1e9).floor().max(0.0) as u128;
    U256::from(gwei) * U256::from(1_000_000_000u64)
}
