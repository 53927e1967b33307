//! Load through goose: every goose user takes slots from the shared [`pacer`] and
//! carries each batch through the reference client. Goose carries the work and keeps
//! its own metrics and report; the rate is the pacer's, not goose's throttle.

pub mod pacer;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use goose::GooseAttack;
use goose::config::GooseConfiguration;
use goose::goose::{
    GooseMethod, GooseRequest, GooseUser, Scenario, Transaction, TransactionFunction,
};
use goose::metrics::GooseMetrics;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::client::transport::reply_of;
use crate::client::{ClientConfig, Reply, Request, Transport, TransportError, submit_batch};
use crate::measure::Recorder;
pub use pacer::{Pacer, Slot};

/// How often an idle user (schedule over, goose not yet stopped) looks again.
pub const IDLE_POLL: Duration = Duration::from_millis(200);
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
    pub recorder: Arc<Recorder>,
    /// Makes this run's actions and keys unique.
    pub run_id: String,
    pub seed: u64,
    /// Cancelled when the run is stopped early: no new batch starts.
    pub stop: CancellationToken,
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

/// A goose user as the client's transport.
struct GooseTransport<'a>(&'a mut GooseUser);

impl Transport for GooseTransport<'_> {
    async fn post(&mut self, req: Request) -> Result<Reply, TransportError> {
        let mut rb = self
            .0
            .get_request_builder(&GooseMethod::Post, &req.path)
            .map_err(|e| TransportError::Connect(e.to_string()))?
            .timeout(req.timeout)
            .body(req.body);
        for (name, value) in req.headers {
            let Ok(mut value) = reqwest::header::HeaderValue::from_str(&value) else {
                continue;
            };
            // Goose prints header values in its request and debug logs: not these.
            if matches!(name, "x-api-key" | "authorization") {
                value.set_sensitive(true);
            }
            rb = rb.header(name, value);
        }
        let gr = GooseRequest::builder()
            .method(GooseMethod::Post)
            .path(req.path.as_str())
            .name(REQUEST_NAME)
            .set_request_builder(rb)
            .build();
        let resp = self
            .0
            .request(gr)
            .await
            .map_err(|e| TransportError::Broken(e.to_string()))?;
        match resp.response {
            Ok(r) => reply_of(r).await,
            Err(e) => Err(TransportError::from_reqwest(&e)),
        }
    }
}

/// The actions of a slot, each unique by run, batch and position: Emits, and a
/// share of Transfers of the pool's objects (their events demand webhook effects).
pub fn actions(run_id: &str, slot: &Slot, pool: &[String], transfer_share: f64) -> Vec<Value> {
    (0..slot.size)
        .map(|i| {
            let h = (slot.index.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9)) >> 11;
            let pick = (h % 10_000) as f64 / 10_000.0;
            if !pool.is_empty() && pick < transfer_share {
                let object = &pool[(h as usize / 10_000) % pool.len()];
                json!({ "action_type": "Transfer", "object_id": object, "payload": { "to": format!("{run_id}-{}-{i}", slot.index) } })
            } else {
                json!({ "action_type": "Emit", "payload": { "run": run_id, "batch": slot.index, "n": i } })
            }
        })
        .collect()
}

/// Take a slot, wait for its time, send it through the client. A slot is taken
/// ahead of its time (users queue for the schedule); if the run is stopped while a
/// user waits, the slot is dropped unsent.
async fn take_slot(shared: &Shared, user: &mut GooseUser) {
    let slot = if shared.stop.is_cancelled() {
        None
    } else {
        shared.pacer.next()
    };
    let Some(slot) = slot else {
        tokio::time::sleep(IDLE_POLL).await;
        return;
    };
    tokio::select! {
        _ = tokio::time::sleep_until(slot.intended.into()) => {}
        _ = shared.stop.cancelled() => {
            shared.recorder.unsent(slot.size);
            return;
        }
    }
    shared.recorder.batch_started(
        slot.size,
        Instant::now().saturating_duration_since(slot.intended),
    );
    let key_base = format!("{}-b{}", shared.run_id, slot.index);
    let seed = shared.seed ^ slot.index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    submit_batch(
        &mut GooseTransport(user),
        &shared.client,
        &shared.creds,
        actions(&shared.run_id, &slot, &shared.pool, shared.transfer_share),
        &key_base,
        slot.intended,
        seed,
        &shared.recorder,
    )
    .await;
}

/// Goose's Ctrl-C sets its killswitch; latch it into the run's stop token.
async fn watch_killswitch(stop: CancellationToken) {
    while !goose::is_killswitch_triggered() {
        tokio::time::sleep(KILLSWITCH_POLL).await;
    }
    stop.cancel();
}

/// Run goose against `host` with `users` users until the schedule and every batch
/// in flight are done. Goose's reports go to `out`.
pub async fn attack(
    shared: Arc<Shared>,
    host: &str,
    users: usize,
    run_time: Duration,
    out: &Path,
) -> Result<GooseMetrics, goose::GooseError> {
    // A killswitch left over from an earlier run in this process must not stop this one.
    goose::reset_killswitch();
    let watcher = tokio::spawn(watch_killswitch(shared.stop.clone()));
    let after = shared.clone();
    let tx: TransactionFunction = Arc::new(move |user| {
        let shared = shared.clone();
        Box::pin(async move {
            take_slot(&shared, user).await;
            Ok(())
        })
    });
    let scenario = Scenario::new("dual_batches")
        .register_transaction(Transaction::new(tx).set_name("submit_batch"));
    let mut config = GooseConfiguration::default();
    config.host = Some(host.to_string());
    config.users = Some(users);
    // Every user within 100 ms: the pacer, not the launch, shapes the load.
    config.increase_rate = Some((users * 10).to_string());
    // And, on a cancel, stop them all at once (goose's default is gradual).
    config.decrease_rate = Some((users * 10).to_string());
    config.run_time = Some(run_time.as_secs_f64().ceil().max(1.0).to_string());
    config.no_telnet = true;
    config.no_reset_metrics = true;
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
    let result = match GooseAttack::initialize_with_config(config) {
        Ok(attack) => attack.register_scenario(scenario).execute().await,
        Err(e) => Err(e),
    };
    watcher.abort();
    // What the schedule still held when goose stopped was never offered.
    while let Some(slot) = after.pacer.next() {
        after.recorder.unsent(slot.size);
    }
    result
}
