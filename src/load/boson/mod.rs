//! The `boson_lifecycle` load: exchanges started at the plan's rate (open model,
//! the same [`Pacer`] as the Dual batches, one slot per exchange) by one goose
//! user, each walked on a task of its own (`walk.rs`) along a path drawn from the
//! plan's mix: the buyer commits directly (it pays), later transitions go through
//! the relayer, falling back to direct submission only when the relayer refused
//! before taking the call. Every transition is timed to its receipt, its
//! confirmations and the subgraph ([`Book`]); the verdict's Boson checks come from
//! the twin's oracle ([`account`]).

pub mod account;
pub mod dash;
mod funds;
mod walk;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use hdrhistogram::Histogram;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Pacer;
use crate::boson::Client;
use crate::boson::lifecycle::{self, Transitions};
use crate::boson::relay::Relayer;
use crate::boson::rpc::{Rpc, Trace};
use crate::plan::boson::BosonLoad;

/// Goose's names for the scenario and its one transaction.
pub const SCENARIO: &str = "boson_lifecycle";
pub const TRANSACTION: &str = "exchanges";

/// What the walks tell the verdict and the report.
#[derive(Debug)]
pub struct Book {
    pub transitions: Transitions,
    /// Transitions the client set out to make (first attempt), by target state.
    pub set_out: BTreeMap<&'static str, u64>,
    pub started: u64,
    /// Exchanges walked to the end of their path.
    pub walked: u64,
    /// Exchanges the client gave up, by why.
    pub gave_up: BTreeMap<String, u64>,
    /// Exchanges still walking when the drain ran out.
    pub cut_off: u64,
    /// Transitions sent directly because the relayer was down.
    pub fallbacks: u64,
    /// Relays that may or may not have been sent (a timeout after sending).
    pub ambiguous: u64,
    /// Retries after a paused region.
    pub paused_retries: u64,
    pub withdrawals: u64,
    /// Wei paid for gas by the client's own transactions.
    pub gas_wei: U256,
    pub by_path: BTreeMap<&'static str, u64>,
    /// How late exchanges started, microseconds.
    pub start_lag: Histogram<u64>,
    /// From the commit's send to the last transition visible, per exchange walked.
    pub completion: Histogram<u64>,
    /// The longest an exchange stayed disputed.
    pub longest_dispute: Duration,
}

impl Default for Book {
    fn default() -> Self {
        Self {
            transitions: Transitions::default(),
            set_out: BTreeMap::new(),
            started: 0,
            walked: 0,
            gave_up: BTreeMap::new(),
            cut_off: 0,
            fallbacks: 0,
            ambiguous: 0,
            paused_retries: 0,
            withdrawals: 0,
            gas_wei: U256::ZERO,
            by_path: BTreeMap::new(),
            start_lag: lifecycle::hist(),
            completion: lifecycle::hist(),
            longest_dispute: Duration::ZERO,
        }
    }
}

/// Where the Boson platform is and who acts on it.
#[derive(Debug)]
pub struct Target {
    pub rpc_url: String,
    pub subgraph_url: String,
    pub relayer_url: String,
    pub relayer_key: gauntlet_mock::SecretString,
    pub diamond: Address,
    pub chain_id: u64,
    pub offer: u64,
    pub price: U256,
    pub seller: PrivateKeySigner,
    pub seller_id: u64,
    pub buyers: Vec<PrivateKeySigner>,
}

/// Reads the Boson section of the twin's oracle.
pub type OracleProbe = Arc<dyn Fn() -> Option<serde_json::Value> + Send + Sync>;

/// What the Boson user and its walks share.
pub struct Shared {
    pub plan: BosonLoad,
    pub seed: u64,
    pub pacer: Pacer,
    rpc: Rpc,
    subgraph: String,
    diamond: Address,
    chain_id: u64,
    relayer: Option<Relayer>,
    offer: u64,
    price: U256,
    seller: PrivateKeySigner,
    seller_id: u64,
    /// Direct sends from the seller's one account, one at a time (its nonce).
    seller_direct: tokio::sync::Mutex<()>,
    /// One seller withdrawal at a time.
    withdrawing: tokio::sync::Mutex<Instant>,
    buyers: Mutex<Vec<PrivateKeySigner>>,
    free: Arc<Semaphore>,
    pub book: Mutex<Book>,
    pub stop: CancellationToken,
    /// Walks still going when the drain runs out end at once.
    pub cut: CancellationToken,
    pub tracker: TaskTracker,
    /// How long walks may take to finish once the schedule is over.
    pub drain: Duration,
    /// The protocol's available funds (wei), sampled: (at the start, the peak).
    pub available: Mutex<Option<(u128, u128)>>,
    /// The seller's available funds when first read: its deposits come out of
    /// them, so only what it earned above them is withdrawn.
    reserve: std::sync::OnceLock<U256>,
    probe: Option<OracleProbe>,
    /// The dashboards' samples.
    pub rows: Mutex<Vec<dash::DashRow>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("boson::Shared")
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub fn new(
        plan: BosonLoad,
        seed: u64,
        duration: Duration,
        t: Target,
        probe: Option<OracleProbe>,
    ) -> Self {
        let rate = plan.rate;
        let relayer = plan
            .relayer
            .then(|| Relayer::new(&t.relayer_url, t.relayer_key, "gauntlet-load", true));
        let drain = plan.deadline * 3;
        let buyers = t.buyers.len();
        Self {
            pacer: Pacer::unbegun(duration, (1, 1), seed ^ 0xB050, move |_| rate),
            // The load's pace is the pacer's; this cap only guards against a loop.
            rpc: Rpc::new(&t.rpc_url, 100_000.0, Duration::from_secs(30)),
            subgraph: t.subgraph_url,
            diamond: t.diamond,
            chain_id: t.chain_id,
            relayer,
            offer: t.offer,
            price: t.price,
            seller: t.seller,
            seller_id: t.seller_id,
            seller_direct: tokio::sync::Mutex::new(()),
            withdrawing: tokio::sync::Mutex::new(Instant::now()),
            buyers: Mutex::new(t.buyers),
            free: Arc::new(Semaphore::new(buyers)),
            book: Mutex::new(Book::default()),
            stop: CancellationToken::new(),
            cut: CancellationToken::new(),
            tracker: TaskTracker::new(),
            drain,
            available: Mutex::new(None),
            reserve: std::sync::OnceLock::new(),
            probe,
            rows: Mutex::new(Vec::new()),
            plan,
            seed,
        }
    }

    /// A client for one exchange: its own trace, the shared connections.
    fn client(&self, trace: Arc<Trace>) -> Client {
        Client {
            rpc: self.rpc.traced(trace),
            subgraph: Some(self.subgraph.clone()),
            diamond: self.diamond,
            chain_id: self.chain_id,
            confirmations: self.plan.confirmations,
            deadline: self.plan.deadline,
            poll: self.plan.poll,
        }
    }

    pub fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A buyer of its own for one walk (waiting for one shows as start lag).
    async fn checkout(&self) -> Option<(tokio::sync::OwnedSemaphorePermit, PrivateKeySigner)> {
        let permit = tokio::select! {
            p = self.free.clone().acquire_owned() => p.ok()?,
            _ = self.cut.cancelled() => return None,
        };
        let key = self
            .buyers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()?;
        Some((permit, key))
    }

    fn checkin(&self, key: PrivateKeySigner) {
        self.buyers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(key);
    }

    /// Sample the dashboards, and the protocol's available funds into the peak.
    async fn sample(&self) {
        // The oracle is computed from the whole chain: off the async workers.
        let oracle = match self.probe.clone() {
            Some(f) => tokio::task::spawn_blocking(move || f())
                .await
                .ok()
                .flatten(),
            None => None,
        };
        let wallet = self.rpc.balance(self.seller.address()).await.ok();
        let wallet = wallet.and_then(|w| u128::try_from(w).ok());
        if let Some(zero) = self.pacer.start() {
            let row = dash::row(self, zero, oracle.as_ref(), wallet);
            dash::keep(
                &mut self.rows.lock().unwrap_or_else(|e| e.into_inner()),
                row,
            );
        }
        let available = oracle
            .as_ref()
            .and_then(|o| o["funds"]["available"].as_str()?.parse::<u128>().ok());
        let Some(v) = available else {
            return;
        };
        let mut a = self.available.lock().unwrap_or_else(|e| e.into_inner());
        *a = Some(a.map_or((v, v), |(start, peak)| (start, peak.max(v))));
    }
}

/// The Boson user: the whole schedule, then the drain. Each exchange's start lag
/// is recorded; its walk runs on a task of its own.
pub async fn dispatch(shared: &Arc<Shared>) {
    if !shared.pacer.ready(&shared.stop).await {
        return;
    }
    let sampler = tokio::spawn(sample(shared.clone()));
    while let Some(slot) = next(shared).await {
        shared.book().started += 1;
        let s = shared.clone();
        shared
            .tracker
            .spawn(async move { walk::exchange(&s, slot.index, slot.intended).await });
    }
    drain(shared).await;
    sampler.abort();
    shared.sample().await;
}

async fn next(shared: &Shared) -> Option<super::Slot> {
    if shared.stop.is_cancelled() {
        return None;
    }
    let slot = shared.pacer.next()?;
    tokio::select! {
        biased;
        _ = shared.stop.cancelled() => None,
        _ = tokio::time::sleep_until(slot.intended.into()) => Some(slot),
    }
}

/// Every [`dash::SAMPLE`], the dashboards and the protocol's available funds (the
/// `no_withdraw` check's figure).
async fn sample(shared: Arc<Shared>) {
    loop {
        shared.sample().await;
        tokio::time::sleep(dash::SAMPLE).await;
    }
}

/// Wait for the walks, at most the drain after the schedule's end (or now); then
/// cut the rest off.
pub async fn drain(shared: &Shared) {
    shared.tracker.close();
    let end = shared.pacer.end().filter(|_| !shared.stop.is_cancelled());
    let deadline = end.map_or(Instant::now(), |e| e.max(Instant::now())) + shared.drain;
    tokio::select! {
        biased;
        _ = shared.tracker.wait() => return,
        _ = tokio::time::sleep_until(deadline.into()) => {}
    }
    tracing::warn!(
        walking = shared.tracker.len(),
        "the Boson drain ran out: the exchanges still walking are cut off"
    );
    shared.cut.cancel();
    shared.tracker.wait().await;
}
