//! One exchange of the load, walked by the reference client or one of its
//! flaws ([`LifecycleFlaw`]). The reference:
//! - checks each call with `eth_call` first; a paused region is transient, retried
//!   after a backoff within the deadline;
//! - commits directly (the buyer pays), then sends each transition through the
//!   relayer, directly only when the relayer refused before taking it; when the
//!   relayer may have sent it, waits for the chain to show the transition instead of
//!   sending it again;
//! - before the next action, waits for the confirmations (checking that the receipt
//!   did not move in a reorg), for the subgraph to index the block, and reads the
//!   exchange back from the subgraph;
//! - withdraws: the buyer after a walk that paid it, the seller periodically and
//!   above a balance.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::primitives::{B256, U256};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use gauntlet_mock::boson::abi::IBosonProtocol as P;
use serde_json::json;

use super::Shared;
use crate::boson::lifecycle::{self, Actor, Path};
use crate::boson::relay::{Intent, Relayer, Submitted};
use crate::boson::rpc::{self, Trace};
use crate::boson::{Client, SUCCEEDS_NOW, StepError, calls, committed};
use crate::plan::boson::LifecycleFlaw as Flaw;

/// How a walk ended early.
enum Ended {
    GaveUp(String),
}

impl From<StepError> for Ended {
    fn from(e: StepError) -> Self {
        Ended::GaveUp(match e {
            StepError::Reverted(name) => format!("reverted: {name}"),
            StepError::NotMined(_) => "not mined in time".into(),
            StepError::NotConfirmed { .. } => "not confirmed in time".into(),
            StepError::SubgraphBehind { .. } => "the subgraph did not catch up in time".into(),
            StepError::Rpc(_) => "a JSON-RPC or subgraph call failed".into(),
            StepError::Refused(_) => {
                "refused: the relayer may have sent it and it was never seen, or it could not be signed".into()
            }
        })
    }
}

/// A transition done.
struct Done {
    state: &'static str,
    block: u64,
    /// None when it was seen on the chain, not followed by hash.
    hash: Option<B256>,
    logs: Vec<alloy::primitives::Log>,
    sent: Instant,
    receipt_after: Duration,
}

/// Walk exchange number `n` (due at `intended`), then give its buyer back.
pub(super) async fn exchange(s: &Shared, n: u64, intended: Instant) {
    let Some((permit, buyer)) = s.checkout().await else {
        s.book().cut_off += 1;
        return;
    };
    // Late by the pacer or for want of a free buyer: both are the harness's.
    let lag = Instant::now().saturating_duration_since(intended);
    let _ = s.book().start_lag.record(lifecycle::us(lag).max(1));
    let trace = Arc::new(Trace::default());
    trace.start();
    let c = s.client(trace);
    let path = s.plan.path_of(s.seed, n);
    *s.book().by_path.entry(path.name()).or_default() += 1;
    // The transition set out and not yet done: a cut-off walk takes it back.
    let current: Mutex<Option<&'static str>> = Mutex::new(None);
    let r = tokio::select! {
        r = walk(s, &c, &buyer, path, &current) => Some(r),
        _ = s.cut.cancelled() => None,
    };
    // A buyer whose walk was abandoned may hold an open exchange: it sits out the
    // rest of the run rather than commit again beside it.
    if matches!(r, Some(Ok(()))) {
        s.checkin(buyer);
        drop(permit);
    } else {
        // Its place in the pool goes with it.
        permit.forget();
    }
    {
        let taken_back = *current.lock().unwrap_or_else(|e| e.into_inner());
        let mut b = s.book();
        match r {
            Some(Ok(())) => b.walked += 1,
            Some(Err(Ended::GaveUp(why))) => *b.gave_up.entry(why).or_default() += 1,
            None => {
                b.cut_off += 1;
                if let Some(n) = taken_back.and_then(|state| b.set_out.get_mut(state)) {
                    *n = n.saturating_sub(1);
                }
            }
        }
    }
    if s.plan.flaw != Some(Flaw::NoWithdraw) && !s.cut.is_cancelled() {
        super::funds::seller_withdraws(s, &c).await;
    }
}

async fn walk(
    s: &Shared,
    c: &Client,
    buyer: &PrivateKeySigner,
    path: Path,
    current: &Mutex<Option<&'static str>>,
) -> Result<(), Ended> {
    let commit = calls::commit(buyer.address(), s.offer);
    let mut last = step(s, c, buyer, "Committed", commit, s.price, None, current).await?;
    let Some((id, buyer_id)) = committed(&last.logs) else {
        return Err(Ended::GaveUp(
            "no BuyerCommitted in the commit's receipt".into(),
        ));
    };
    let begun = last.sent;
    let mut disputed: Option<Instant> = None;
    for (state, actor, input) in lifecycle::after_commit(path, id) {
        settle(s, c, &mut last, id).await?;
        if last.state == "Disputed" {
            disputed = Some(last.sent);
        }
        let key = match actor {
            Actor::Buyer => buyer,
            Actor::Seller => &s.seller,
        };
        last = step(s, c, key, state, input, U256::ZERO, Some(id), current).await?;
    }
    settle(s, c, &mut last, id).await?;
    {
        let mut b = s.book();
        let _ = b.completion.record(lifecycle::us(begun.elapsed()));
        if let Some(d) = disputed {
            b.longest_dispute = b
                .longest_dispute
                .max(last.sent.saturating_duration_since(d));
        }
    }
    if matches!(path, Path::Cancel | Path::Revoke) && s.plan.flaw != Some(Flaw::NoWithdraw) {
        // What the cancel or revoke paid back to the buyer.
        c.transact(buyer, calls::withdraw_all(buyer_id), U256::ZERO)
            .await?;
        s.book().withdrawals += 1;
    }
    Ok(())
}

/// Set out for `state`: check the call, send it (relayed when it acts on an
/// exchange and the plan relays), wait for its receipt.
#[allow(clippy::too_many_arguments)]
async fn step(
    s: &Shared,
    c: &Client,
    key: &PrivateKeySigner,
    state: &'static str,
    input: Vec<u8>,
    value: U256,
    exchange: Option<u64>,
    current: &Mutex<Option<&'static str>>,
) -> Result<Done, Ended> {
    *current.lock().unwrap_or_else(|e| e.into_inner()) = Some(state);
    *s.book().set_out.entry(state).or_default() += 1;
    let started = Instant::now();
    let r = loop {
        if let Err(e) = preflight(s, c, key, &input, value).await {
            break Err(e);
        }
        let sent = Instant::now();
        let r = match (exchange, &s.relayer) {
            (Some(id), Some(relayer)) => {
                relayed(s, c, relayer, key, state, input.clone(), id).await
            }
            _ => direct(s, c, key, input.clone(), value).await,
        };
        // Paused between the check and the block: nothing was applied, so the
        // reference checks and sends again after the backoff.
        if let Err(StepError::Reverted(name)) = &r
            && transient(name)
            && s.plan.flaw != Some(Flaw::IgnoresPaused)
            && started.elapsed() < c.deadline
        {
            *s.book()
                .transitions
                .reverts
                .entry(name.clone())
                .or_default() += 1;
            s.book().paused_retries += 1;
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        break r.map(|(block, hash, logs, fee)| {
            s.book().gas_wei += fee;
            Done {
                state,
                block,
                hash,
                logs,
                sent,
                receipt_after: sent.elapsed(),
            }
        });
    };
    if let Err(StepError::Reverted(name)) = &r {
        *s.book()
            .transitions
            .reverts
            .entry(name.clone())
            .or_default() += 1;
    }
    *current.lock().unwrap_or_else(|e| e.into_inner()) = None;
    Ok(r?)
}

/// `eth_call` the step first. A paused region is transient: retried after a
/// backoff (0.5 s doubling to 4 s, with jitter) within the deadline; the
/// `ignores_paused` client gives the exchange up at once.
async fn preflight(
    s: &Shared,
    c: &Client,
    key: &PrivateKeySigner,
    input: &[u8],
    value: U256,
) -> Result<(), StepError> {
    let started = Instant::now();
    let mut wait = Duration::from_millis(500);
    loop {
        let e = match c.rpc.eth_call(key.address(), c.diamond, input, value).await {
            Ok(_) => return Ok(()),
            Err(e) => StepError::from(e),
        };
        let paused = matches!(&e, StepError::Reverted(n) if transient(n));
        if !paused || s.plan.flaw == Some(Flaw::IgnoresPaused) || started.elapsed() > c.deadline {
            return Err(e);
        }
        s.book().paused_retries += 1;
        let jitter = Duration::from_millis(rand::random::<u64>() % 250);
        tokio::time::sleep(wait + jitter).await;
        wait = (wait * 2).min(Duration::from_secs(4));
    }
}

/// A revert the reference waits out: a paused region (by name, or inside the
/// relayer's gas-estimation message), or a mined revert whose call succeeds now.
fn transient(name: &str) -> bool {
    name.contains("RegionPaused") || name == SUCCEEDS_NOW
}

pub(super) type Landed = (u64, Option<B256>, Vec<alloy::primitives::Log>, U256);

/// Sign and send from `key` itself; the seller's sends one at a time (one nonce).
pub(super) async fn direct(
    s: &Shared,
    c: &Client,
    key: &PrivateKeySigner,
    input: Vec<u8>,
    value: U256,
) -> Result<Landed, StepError> {
    let replay = input.clone();
    let hash = if key.address() == s.seller.address() {
        let _one = s.seller_direct.lock().await;
        c.send(key, input, value).await?
    } else {
        c.send(key, input, value).await?
    };
    let m = c.landed_named(hash, key.address(), &replay, value).await?;
    Ok((m.block, Some(m.hash), m.logs, m.fee))
}

/// Through the relayer; directly when it refused before taking the call. When
/// it may have sent it, the reference waits for the chain to show the transition;
/// `double_submit_on_relayer_timeout` sends it directly as well.
async fn relayed(
    s: &Shared,
    c: &Client,
    relayer: &Relayer,
    key: &PrivateKeySigner,
    state: &'static str,
    input: Vec<u8>,
    id: u64,
) -> Result<Landed, StepError> {
    let name = lifecycle::signature(state);
    // The contracts sign exchange calls with MetaTxExchange, revokeVoucher with the
    // generic struct over its calldata.
    let intent = match state {
        "Revoked" => Intent::Call(input.clone()),
        _ => Intent::Exchange(id),
    };
    let mut tries = 0;
    loop {
        tries += 1;
        match relayer.submit(c, key, name, &input, &intent).await? {
            Submitted::Relayed(h) => {
                let h = relayer.final_hash(c, h).await?;
                let m = c.landed_named(h, key.address(), &input, U256::ZERO).await?;
                // The relayer paid the gas: the client's own bill has none of it.
                return Ok((m.block, Some(m.hash), m.logs, U256::ZERO));
            }
            Submitted::Down(_) => {
                s.book().fallbacks += 1;
                return direct(s, c, key, input, U256::ZERO).await;
            }
            Submitted::Ambiguous(e) => {
                s.book().ambiguous += 1;
                if s.plan.flaw == Some(Flaw::DoubleSubmitOnRelayerTimeout) {
                    return direct(s, c, key, input, U256::ZERO).await;
                }
                // Seen on the chain: done. Not seen while the chain moved on
                // SETTLED_BLOCKS blocks: it was never sent (the twin mines every
                // pooled transaction at the next block), so it goes again.
                match seen(c, id, state).await {
                    Ok(Some(block)) => return Ok((block, None, Vec::new(), U256::ZERO)),
                    Ok(None) if tries < 3 => continue,
                    _ => return Err(e),
                }
            }
        }
    }
}

/// Blocks after which a relay the chain does not show was never sent.
pub(super) const SETTLED_BLOCKS: u64 = 8;

/// Wait (bounded) until the chain shows exchange `id` in `state`: the head then;
/// None when [`SETTLED_BLOCKS`] went by without it.
async fn seen(c: &Client, id: u64, state: &str) -> Result<Option<u64>, StepError> {
    let started = Instant::now();
    let from = c.rpc.block_number().await?;
    let x = U256::from(id);
    let (call, want): (Vec<u8>, u8) = match state {
        "Retracted" => (P::getDisputeStateCall { _exchangeId: x }.abi_encode(), 1),
        _ => {
            let n = [
                "Committed",
                "Revoked",
                "Canceled",
                "Redeemed",
                "Completed",
                "Disputed",
            ]
            .iter()
            .position(|s| *s == state)
            .unwrap_or(0) as u8;
            (P::getExchangeStateCall { _exchangeId: x }.abi_encode(), n)
        }
    };
    loop {
        // The head read after the state: a block mined between the two reads
        // must not make the transition look older than it is.
        let out = c.view(c.diamond, &call).await?;
        let head = c.rpc.block_number().await?;
        // Both views return (bool exists, uint8 state).
        if out.len() >= 64 && out[31] == 1 && out[63] == want {
            return Ok(Some(head));
        }
        if head >= from + SETTLED_BLOCKS {
            return Ok(None);
        }
        if started.elapsed() > c.deadline {
            return Err(StepError::NotMined(c.deadline));
        }
        tokio::time::sleep(c.poll).await;
    }
}

/// Before the next action: the confirmations (unless `acts_unconfirmed`), the
/// subgraph at the block (unless `no_subgraph_wait`), and the read-after-write the
/// next action follows; the transition's phases recorded.
async fn settle(s: &Shared, c: &Client, d: &mut Done, id: u64) -> Result<(), Ended> {
    if s.plan.flaw != Some(Flaw::ActsUnconfirmed) {
        confirm(c, d).await?;
    }
    let confirmed = d.sent.elapsed();
    let careful = s.plan.flaw != Some(Flaw::NoSubgraphWait);
    if careful {
        c.indexed(d.block).await?;
    }
    read_back(c, id, careful.then_some(d.block)).await?;
    let indexed = d.sent.elapsed();
    let mut b = s.book();
    let p = b.transitions.by_state.entry(d.state).or_default();
    let _ = p.receipt.record(lifecycle::us(d.receipt_after));
    let _ = p.confirmed.record(lifecycle::us(confirmed));
    let _ = p.indexed.record(lifecycle::us(indexed));
    Ok(())
}

/// Wait for `d`'s confirmations; if a reorg moved its transaction meanwhile,
/// wait again for its new block.
async fn confirm(c: &Client, d: &mut Done) -> Result<(), StepError> {
    loop {
        c.confirmed(d.block).await?;
        let Some(h) = d.hash else { return Ok(()) };
        match c.rpc.receipt(h).await? {
            Some(r) if rpc::quantity(&r["blockNumber"]) == d.block => return Ok(()),
            Some(r) => d.block = rpc::quantity(&r["blockNumber"]),
            None => d.block = c.landed(h).await?.block,
        }
    }
}

/// Read exchange `id` back from the subgraph. With `at`, until the answer comes
/// from an index at that block or later and shows the exchange (bounded).
async fn read_back(c: &Client, id: u64, at: Option<u64>) -> Result<(), StepError> {
    let Some(url) = &c.subgraph else {
        return Ok(());
    };
    let body = json!({"query": format!(
        "{{ exchange(id: \"{id}\") {{ id state }} _meta {{ block {{ number }} }} }}"
    )});
    let started = Instant::now();
    loop {
        let v = c
            .rpc
            .post_json(url, &body)
            .await
            .map_err(|e| StepError::Rpc(format!("subgraph: {e}")))?;
        let Some(block) = at else { return Ok(()) };
        let indexed = v["data"]["_meta"]["block"]["number"].as_u64().unwrap_or(0);
        if indexed >= block && !v["data"]["exchange"].is_null() {
            return Ok(());
        }
        if started.elapsed() > c.deadline {
            return Err(StepError::SubgraphBehind {
                indexed,
                wanted: block,
                waited: c.deadline,
            });
        }
        tokio::time::sleep(c.poll).await;
    }
}
