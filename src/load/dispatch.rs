//! One goose user as a dispatcher: report ready, then take slots from the pacer,
//! wait for each slot's time and room in flight, and spawn the batch through the
//! reference client on a transport of its own (a clone of the user's HTTP client,
//! which reports each attempt to goose). When the schedule is over, wait for the
//! batches in flight, for at most the drain grace; then cut them off.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use goose::goose::{GooseMethod, GooseUser, TransactionName};
use goose::metrics::{GooseMetric, GooseRawRequest, GooseRequestMetric};

use super::{REQUEST_NAME, Shared, Slot, actions};
use crate::client::transport::reply_of;
use crate::client::{
    Batch, Flaw, Reply, Request, Signing, Transport, TransportError, submit_batch,
};
use crate::measure::Recorder;

/// Goose's names for the scenario and its one transaction.
pub const SCENARIO: &str = "dual_batches";
pub const TRANSACTION: &str = "dispatch";

/// A goose user's HTTP client, detached from the user so that many batches can use
/// it at once; each attempt is sent to goose's metrics as a request.
#[derive(Clone)]
struct Detached {
    client: reqwest::Client,
    base: url::Url,
    metrics: Option<flume::Sender<GooseMetric>>,
    user: usize,
    /// Goose's zero, for the metric's `elapsed`.
    started: Instant,
}

impl std::fmt::Debug for Detached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detached")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl Detached {
    fn of(user: &GooseUser) -> Self {
        Self {
            client: user.client.clone(),
            base: user.base_url.clone(),
            metrics: user.metrics_channel.clone(),
            user: user.weighted_users_index,
            started: user.started,
        }
    }

    /// Tell goose about one attempt.
    fn report(&self, url: &str, sent: Instant, result: &Result<Reply, TransportError>) {
        let Some(tx) = &self.metrics else { return };
        let took = sent.elapsed();
        let (status_code, error) = match result {
            Ok(r) => (
                r.status,
                if (200..300).contains(&r.status) {
                    String::new()
                } else {
                    format!("{} {REQUEST_NAME}", r.status)
                },
            ),
            Err(e) => (0, e.kind().to_string()),
        };
        let metric = GooseRequestMetric {
            elapsed: sent.saturating_duration_since(self.started).as_millis() as u64,
            scenario_index: 0,
            scenario_name: SCENARIO.into(),
            transaction_index: 0,
            transaction_name: TransactionName::TransactionOnly(TRANSACTION.into()),
            raw: GooseRawRequest {
                method: GooseMethod::Post,
                url: url.to_string(),
                headers: Vec::new(),
                body: String::new(),
                custom_method: String::new(),
            },
            name: REQUEST_NAME.into(),
            final_url: url.to_string(),
            redirected: false,
            response_time: took.as_millis() as u64,
            status_code,
            success: error.is_empty(),
            update: false,
            user: self.user,
            error,
            coordinated_omission_elapsed: 0,
            user_cadence: 0,
            response_time_fraction_us: (took.as_micros() % 1000) as u16,
        };
        let _ = tx.send(GooseMetric::Request(Box::new(metric)));
    }
}

impl Transport for Detached {
    async fn post(&mut self, req: Request) -> Result<Reply, TransportError> {
        let url = self
            .base
            .join(&req.path)
            .map_err(|e| TransportError::Connect(e.to_string()))?;
        let mut rb = self
            .client
            .post(url.clone())
            .timeout(req.timeout)
            .body(req.body);
        for (name, value) in req.headers {
            let Ok(mut value) = reqwest::header::HeaderValue::from_str(&value) else {
                continue;
            };
            if matches!(name, "x-api-key" | "authorization") {
                value.set_sensitive(true);
            }
            rb = rb.header(name, value);
        }
        let sent = Instant::now();
        let result = match rb.send().await {
            Ok(r) => reply_of(r).await,
            Err(e) => Err(TransportError::from_reqwest(&e)),
        };
        self.report(url.as_str(), sent, &result);
        result
    }
}

/// The dispatcher: the whole schedule, then the drain. A user that is stopped
/// before the schedule begins takes nothing.
pub async fn dispatch(shared: &Arc<Shared>, user: &mut GooseUser) {
    if !shared.pacer.ready(&shared.stop).await {
        return;
    }
    let transport = Signing::new(
        Detached::of(user),
        shared.signer.clone(),
        shared.client.flaw == Flaw::BadEip712,
    );
    tracing::debug!(user = transport.inner.user, "dispatcher begins");
    while let Some(slot) = next_slot(shared).await {
        tracing::trace!(slot = slot.index, "slot due");
        let Some(permit) = room(shared, &slot).await else {
            break;
        };
        shared.recorder.batch_started(slot.size);
        let (shared2, mut t) = (shared.clone(), transport.clone());
        shared.tracker.spawn(async move {
            let _permit = permit;
            let recorder = shared2.recorder.clone();
            guarded(&recorder, slot.size, carry(&shared2, &mut t, slot)).await;
        });
    }
    tracing::debug!(user = transport.inner.user, "dispatcher drains");
    drain(shared).await;
}

/// Run one batch's work; a panic inside it is the harness's failure, never the
/// target's: it is counted as a harness error (the run then exits 2) and the
/// batch's actions as cut off, not lost.
async fn guarded(recorder: &Recorder, size: usize, work: impl std::future::Future<Output = ()>) {
    if let Err(panic) = AssertUnwindSafe(work).catch_unwind().await {
        let what = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("a panic");
        recorder.harness_error(size, what);
    }
}

/// The next slot, once its time has come; None when the schedule is over or the
/// run was stopped (the slot taken is then counted unsent).
async fn next_slot(shared: &Shared) -> Option<Slot> {
    if shared.stop.is_cancelled() {
        return None;
    }
    let slot = shared.pacer.next()?;
    tokio::select! {
        biased;
        _ = shared.stop.cancelled() => {
            shared.recorder.unsent(slot.size);
            None
        }
        _ = tokio::time::sleep_until(slot.intended.into()) => Some(slot),
    }
}

/// Room for one more batch in flight (waiting for it shows as start lag).
async fn room(shared: &Shared, slot: &Slot) -> Option<tokio::sync::OwnedSemaphorePermit> {
    tokio::select! {
        biased;
        _ = shared.stop.cancelled() => {
            shared.recorder.unsent(slot.size);
            None
        }
        p = shared.in_flight.clone().acquire_owned() => p.ok(),
    }
}

/// One batch through the reference client.
async fn carry(shared: &Shared, t: &mut Signing<Detached>, slot: Slot) {
    let key_base = format!("{}-b{}", shared.run_id, slot.index);
    let seed = shared.seed ^ slot.index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let batch = Batch {
        actions: actions(&shared.run_id, &slot, &shared.pool, shared.transfer_share),
        key_base: &key_base,
        intended: slot.intended,
        seed,
    };
    submit_batch(
        t,
        &shared.client,
        &shared.creds,
        batch,
        &shared.recorder,
        &shared.cut,
    )
    .await;
}

/// Wait for the batches in flight, at most the drain grace after the schedule's
/// end (or after now, when the run stopped early or never began); then cut them
/// off. Every caller returns once all of them have ended.
pub async fn drain(shared: &Shared) {
    shared.tracker.close();
    let deadline = *shared.drain_deadline.get_or_init(|| {
        let now = Instant::now();
        let end = shared.pacer.end().filter(|_| !shared.stop.is_cancelled());
        end.map_or(now, |e| e.max(now)) + shared.drain
    });
    tokio::select! {
        biased;
        _ = shared.tracker.wait() => return,
        _ = shared.cut.cancelled() => {}
        _ = tokio::time::sleep_until(deadline.into()) => {}
    }
    if !shared.cut.is_cancelled() && !shared.tracker.is_empty() {
        tracing::warn!(
            in_flight = shared.tracker.len(),
            "the drain grace ran out: the batches still in flight are cut off"
        );
        shared.cut.cancel();
    }
    shared.tracker.wait().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_in_a_batch_is_a_harness_error_and_its_actions_are_cut_off() {
        let rec = Recorder::new();
        guarded(&rec, 7, async { panic!("deliberate") }).await;
        guarded(&rec, 3, async {}).await;
        let (_, counts) = rec.totals();
        assert_eq!((counts.harness_errors, counts.cut_off), (1, 7));
    }
}
