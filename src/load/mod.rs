//! Load through goose, in the open model. A few goose users act as dispatchers:
//! each takes a slot from the shared [`pacer`], waits for its intended time, and
//! hands the batch to a task of its own that carries it through the reference
//! client, retries included. So one user keeps many batches in flight, launching
//! the load costs nothing (no thousands of users, each with its own HTTP client),
//! and a slow reply never holds up the next slot. In-flight batches are capped
//! (`run.max_in_flight`); a slot that has to wait for room shows as start lag,
//! which the verdict's `harness_lag` check reports as the harness's own limit.
//!
//! Every attempt is also reported to goose as a request metric, so goose's own
//! report lists them; the rate is the pacer's, never goose's throttle.

pub mod boson;
pub mod dispatch;
pub mod pacer;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use goose::GooseAttack;
use goose::config::GooseConfiguration;
use goose::goose::{Scenario, Transaction, TransactionFunction};
use goose::metrics::GooseMetrics;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::client::ClientConfig;
use crate::measure::Recorder;
pub use pacer::{Pacer, Slot};

/// How often the killswitch watcher looks.
pub const KILLSWITCH_POLL: Duration = Duration::from_millis(50);
/// The name goose files batch requests under.
pub const REQUEST_NAME: &str = "POST /ebus/actions/batch";

/// What every goose user shares.
pub struct Shared {
    pub pacer: Pacer,
    pub client: ClientConfig,
    /// Who the client is (secrets: `Debug` is redacted).
    pub creds: crate::client::Credentials,
    /// Signs each batch (EIP-712), when the plan asks.
    pub signer: Option<crate::client::Signer>,
    pub recorder: Arc<Recorder>,
    /// Makes this run's actions and keys unique; every action carries it as
    /// `payload.run`, so the twin can account the load's own actions.
    pub run_id: String,
    pub seed: u64,
    /// Cancelled when the run is stopped early: no new batch starts.
    pub stop: CancellationToken,
    /// Cancelled when the drain grace runs out (or on a second Ctrl-C): batches
    /// still in flight end at once, their pending actions counted as cut off.
    pub cut: CancellationToken,
    /// Cancelled when goose has returned (an error before any user was ready
    /// must not leave the run waiting for them).
    pub goose_ended: CancellationToken,
    /// Room for batches in flight.
    pub in_flight: Arc<Semaphore>,
    /// The batches in flight.
    pub tracker: TaskTracker,
    /// How long batches in flight may take to finish once the schedule is over.
    pub drain: Duration,
    /// When the drain grace runs out (set by the first dispatcher to finish).
    pub drain_deadline: std::sync::OnceLock<Instant>,
    /// Objects the transfers move (empty: no transfers).
    pub pool: Vec<String>,
    pub transfer_share: f64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("run_id", &self.run_id)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

/// The actions of a slot, each unique by run, batch and position: Emits, and a
/// share of Transfers of the pool's objects (their events demand webhook effects).
/// Each carries `payload.run`: the twin counts the load's own actions by it.
pub fn actions(run_id: &str, slot: &Slot, pool: &[String], transfer_share: f64) -> Vec<Value> {
    (0..slot.size)
        .map(|i| {
            let h = (slot.index.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9)) >> 11;
            let pick = (h % 10_000) as f64 / 10_000.0;
            if !pool.is_empty() && pick < transfer_share {
                let object = &pool[(h as usize / 10_000) % pool.len()];
                json!({ "action_type": "Transfer", "object_id": object, "payload": { "run": run_id, "to": format!("{run_id}-{}-{i}", slot.index) } })
            } else {
                json!({ "action_type": "Emit", "payload": { "run": run_id, "batch": slot.index, "n": i } })
            }
        })
        .collect()
}

/// Goose's Ctrl-C sets its killswitch; latch it into the run's stop token.
async fn watch_killswitch(stop: CancellationToken) {
    while !goose::is_killswitch_triggered() {
        tokio::time::sleep(KILLSWITCH_POLL).await;
    }
    stop.cancel();
}

/// Run goose against `host` with `users` dispatchers until the schedule is done
/// and every batch in flight has finished or been cut off. Goose's reports go to
/// `out`. The caller begins the pacer once every user is ready.
pub async fn attack(
    shared: Arc<Shared>,
    boson: Option<Arc<boson::Shared>>,
    host: &str,
    users: usize,
    out: &Path,
) -> Result<GooseMetrics, goose::GooseError> {
    // A killswitch left over from an earlier run in this process must not stop this one.
    goose::reset_killswitch();
    let watcher = tokio::spawn(watch_killswitch(shared.stop.clone()));
    let after = shared.clone();
    let tx: TransactionFunction = Arc::new(move |user| {
        let shared = shared.clone();
        Box::pin(async move {
            dispatch::dispatch(&shared, user).await;
            Ok(())
        })
    });
    let scenario = Scenario::new(dispatch::SCENARIO)
        .register_transaction(Transaction::new(tx).set_name(dispatch::TRANSACTION));
    // The Boson user: one goose user paces the exchanges; the weights give the
    // Dual scenario exactly `users` users and this one exactly one.
    let lifecycle = boson.as_ref().map(|b| {
        let b = b.clone();
        let tx: TransactionFunction = Arc::new(move |_user| {
            let b = b.clone();
            Box::pin(async move {
                boson::dispatch(&b).await;
                Ok(())
            })
        });
        Scenario::new(boson::SCENARIO)
            .set_weight(1)
            .map(|s| s.register_transaction(Transaction::new(tx).set_name(boson::TRANSACTION)))
    });
    let total = users + usize::from(boson.is_some());
    let result = async {
        let mut attack = GooseAttack::initialize_with_config(config(host, total, out)?)?
            .register_scenario(scenario.set_weight(users)?);
        if let Some(l) = lifecycle {
            attack = attack.register_scenario(l?);
        }
        attack.execute().await
    }
    .await;
    watcher.abort();
    after.goose_ended.cancel();
    // Goose may end before its users did (an error, or a stop): the batches in
    // flight still finish within the drain, and are counted.
    dispatch::drain(&after).await;
    if let Some(b) = &boson {
        b.stop.cancel();
        boson::drain(b).await;
    }
    // What the schedule still held when goose stopped was never offered.
    after.recorder.unsent(after.pacer.close() as usize);
    result
}

/// Goose's configuration: `users` dispatchers, each running its one transaction
/// once (it lasts the whole schedule), all launched at once.
fn config(host: &str, users: usize, out: &Path) -> Result<GooseConfiguration, goose::GooseError> {
    let mut config = GooseConfiguration::default();
    config.host = Some(host.to_string());
    config.users = Some(users);
    config.increase_rate = Some((users * 10).to_string());
    // Each user's one iteration is the whole schedule plus its drain: goose ends
    // when they all have, with no clock of its own to disagree with the pacer's.
    // (Goose then keeps its metrics from the first request: nothing to reset.)
    config.iterations = Some(1);
    config.no_telnet = true;
    config.no_print_metrics = true;
    config.quiet = 1;
    // Full paths: goose writes exactly these two files and no run folder of its own.
    std::fs::create_dir_all(out).map_err(|e| goose::GooseError::InvalidOption {
        option: "report folder".into(),
        value: out.display().to_string(),
        detail: e.to_string(),
    })?;
    config.report_file = vec![
        out.join("report.html").to_string_lossy().into_owned(),
        out.join("report.json").to_string_lossy().into_owned(),
    ];
    Ok(config)
}
