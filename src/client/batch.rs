//! One batch through the reference client: send, read per-action results, retry the
//! transient failures with backoff under the rules of `ClientConfig`, until every
//! action is applied, finally rejected, or given up (attempts or time ran out).

use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{ClientConfig, Credentials, Flaw, Reply, Request, Transport, backoff, retryable};
use crate::measure::Recorder;

/// The path batches go to.
pub const BATCH_PATH: &str = "/ebus/actions/batch";
/// The `no_jitter` flaw's fixed margin over an advised wait: late, but late
/// together (its median lateness passes a jitter check; its spread cannot).
pub const NO_JITTER_MARGIN: Duration = Duration::from_millis(500);
/// An `X-RateLimit-Reset` further out than a day is nonsense, not advice.
const MAX_RESET_S: u64 = 24 * 3600;

/// How one batch ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub accepted: usize,
    pub rejected: usize,
    pub gave_up: usize,
    /// Actions still pending when the run cut its drain short (the harness
    /// stopped them: not the target's loss, not the client's choice).
    pub cut_off: usize,
    /// Transiently failed actions a flawed client dropped without a retry.
    pub dropped: usize,
    pub attempts: u32,
}

/// One batch to see through.
#[derive(Debug, Clone)]
pub struct Batch<'a> {
    pub actions: Vec<Value>,
    /// Names the batch's idempotency keys.
    pub key_base: &'a str,
    /// The pacer's slot: latency and the give-up deadline count from it.
    pub intended: Instant,
    /// Seeds the batch's jitter.
    pub seed: u64,
}

/// What one attempt said about the pending actions.
enum Verdict {
    /// Per-action results: indexes (into `pending`) that failed transiently, and
    /// how many were applied and finally rejected.
    Results {
        transient: Vec<usize>,
        applied: usize,
        rejected: usize,
    },
    /// Nothing applied; try the same request again after the advised wait.
    Retry(Option<Duration>),
    /// Nothing applied, and retrying cannot help.
    Final,
}

/// Submit a batch and see it through: retries, partial resubmissions, giving up.
/// `cut` ends it at once (the run's drain grace ran out): what is pending then is
/// counted as cut off.
pub async fn submit_batch<T: Transport>(
    t: &mut T,
    cfg: &ClientConfig,
    creds: &Credentials,
    batch: Batch<'_>,
    rec: &Recorder,
    cut: &CancellationToken,
) -> BatchOutcome {
    let Batch {
        actions: mut pending,
        key_base,
        intended,
        seed,
    } = batch;
    let mut rng = StdRng::seed_from_u64(seed);
    // Only the flaw that resends the whole batch needs a second copy: at 100,000
    // actions/s the batches in flight are most of the harness's memory.
    let size = pending.len();
    let all = (cfg.flaw == Flaw::RetriesWholeBatch).then(|| pending.clone());
    let mut out = BatchOutcome::default();
    let (mut round, mut prev_delay) = (0u32, cfg.base);
    let deadline = intended.checked_add(cfg.max_elapsed).unwrap_or(intended);
    let mut refreshed = false;
    let mut first_latency = None;
    loop {
        out.attempts += 1;
        let key = (cfg.flaw != Flaw::NoIdempotencyKey).then(|| format!("{key_base}-r{round}"));
        let lag_from = (out.attempts == 1).then_some(intended);
        let Some((result, replied)) =
            until_cut(cut, send(t, cfg, creds, &pending, key, lag_from, rec)).await
        else {
            out.cut_off += pending.len();
            break;
        };
        if out.attempts == 1 {
            let latency = replied.saturating_duration_since(intended);
            first_latency = Some(latency);
            rec.first_reply(latency, size);
        }
        // A 401 on a JWT: refresh once and send again at once.
        if !refreshed
            && out.attempts < cfg.max_attempts
            && Instant::now() < deadline
            && result.as_ref().is_ok_and(|r| r.status == 401)
            && creds.refresh(t).await.unwrap_or(false)
        {
            refreshed = true;
            continue;
        }
        let last_outcome = result
            .as_ref()
            .map_or_else(|e| e.kind().to_string(), |r| r.status.to_string());
        let advised = match result
            .map(|r| judge(&r, pending.len()))
            .unwrap_or(Verdict::Retry(None))
        {
            Verdict::Results {
                transient,
                applied,
                rejected,
            } => {
                out.accepted += applied;
                out.rejected += rejected;
                rec.accepted(applied, replied.saturating_duration_since(intended));
                rec.rejected(rejected);
                if transient.is_empty() {
                    break;
                }
                if cfg.flaw == Flaw::DropsPartialFailures {
                    out.dropped += transient.len();
                    break;
                }
                pending = match &all {
                    Some(all) => all.clone(),
                    None => transient.iter().map(|i| pending[*i].clone()).collect(),
                };
                // A new request (other body): a new key.
                round += 1;
                None
            }
            Verdict::Retry(advised) => advised,
            Verdict::Final => {
                out.rejected += pending.len();
                rec.rejected(pending.len());
                rec.refused(pending.len());
                break;
            }
        };
        // No advice is followed past the point where the client gives up anyway:
        // a server asking for hours (or u64::MAX seconds) cannot stall or crash it.
        let advised = advised.map(|a| a.min(cfg.max_elapsed));
        let delay = next_delay(cfg, out.attempts, prev_delay, advised, &mut rng);
        let past_deadline = Instant::now()
            .checked_add(delay)
            .is_none_or(|at| at > deadline);
        if out.attempts >= cfg.max_attempts || past_deadline {
            tracing::warn!(
                batch = key_base,
                attempts = out.attempts,
                elapsed_ms = intended.elapsed().as_millis() as u64,
                last = last_outcome,
                pending = pending.len(),
                "giving up on a batch"
            );
            out.gave_up += pending.len();
            rec.gave_up(pending.len());
            break;
        }
        prev_delay = delay;
        if until_cut(cut, tokio::time::sleep(delay)).await.is_none() {
            out.cut_off += pending.len();
            break;
        }
        rec.backoff(replied.elapsed(), advised);
    }
    rec.cut_off(out.cut_off);
    rec.attempts(out.attempts);
    rec.batch_ended(
        intended,
        crate::soak::windows::BatchEnd {
            intended_s: 0.0,
            actions: size,
            first_latency,
            gave_up: out.gave_up,
            rejected: out.rejected,
        },
    );
    out
}

/// `f`, unless `cut` fires first.
async fn until_cut<F: std::future::Future>(cut: &CancellationToken, f: F) -> Option<F::Output> {
    tokio::select! {
        biased;
        _ = cut.cancelled() => None,
        v = f => Some(v),
    }
}

/// One attempt: headers (credentials, key), body, send, record. Returns the result
/// and when the reply (or failure) came.
async fn send<T: Transport>(
    t: &mut T,
    cfg: &ClientConfig,
    creds: &Credentials,
    pending: &[Value],
    key: Option<String>,
    lag_from: Option<Instant>,
    rec: &Recorder,
) -> (Result<Reply, super::TransportError>, Instant) {
    let mut headers = creds.headers(t).await.unwrap_or_default();
    headers.push(("content-type", "application/json".into()));
    if let Some(k) = key {
        headers.push(("idempotency-key", k));
    }
    let body = Bytes::from(
        serde_json::to_vec(&serde_json::json!({ "actions": pending })).unwrap_or_default(),
    );
    let sent = Instant::now();
    if let Some(intended) = lag_from {
        rec.lag(sent.saturating_duration_since(intended));
    }
    let result = t
        .post(Request {
            path: BATCH_PATH.into(),
            headers,
            body,
            timeout: cfg.timeout,
        })
        .await;
    let replied = Instant::now();
    rec.attempt(
        &result
            .as_ref()
            .map_or_else(|e| e.kind().to_string(), |r| r.status.to_string()),
        replied - sent,
    );
    (result, replied)
}

/// The wait before the next attempt: the policy's delay, the advice, the flaws.
fn next_delay(
    cfg: &ClientConfig,
    attempts: u32,
    prev: Duration,
    advised: Option<Duration>,
    rng: &mut StdRng,
) -> Duration {
    let jitter = cfg.flaw != Flaw::NoJitter;
    let policy = cfg
        .backoff
        .delay(attempts, prev, cfg.base, cfg.cap, jitter, rng);
    match cfg.flaw {
        Flaw::NoBackoff => Duration::ZERO,
        // Uniformly late: a fixed margin over the advice, the same for every client.
        Flaw::NoJitter => backoff::wait(policy, advised, true, false, rng)
            .max(advised.map_or(Duration::ZERO, |a| a + NO_JITTER_MARGIN)),
        flaw => backoff::wait(
            policy,
            advised,
            flaw != Flaw::IgnoresRetryAfter,
            jitter,
            rng,
        ),
    }
}

/// Read one reply.
fn judge(r: &Reply, expected: usize) -> Verdict {
    if (200..300).contains(&r.status) {
        // A 2xx with no body (202 Accepted, 204) accepted the whole request.
        if r.body.iter().all(u8::is_ascii_whitespace) {
            return Verdict::Results {
                transient: Vec::new(),
                applied: expected,
                rejected: 0,
            };
        }
        let Ok(v) = serde_json::from_slice::<Value>(&r.body) else {
            // A malformed body: the outcome is unknown, so send the same request
            // again; its key makes that safe.
            return Verdict::Retry(None);
        };
        let Some(results) = v.get("results").and_then(Value::as_array) else {
            // A 2xx whose body names no per-action results (201 Created with the
            // batch, 202 Accepted): the whole request was accepted.
            if v.is_object() {
                return Verdict::Results {
                    transient: Vec::new(),
                    applied: expected,
                    rejected: 0,
                };
            }
            return Verdict::Retry(None);
        };
        // An answer that does not match the request says nothing reliable about
        // each action: send the same request again (its key makes that safe).
        if results.len() != expected {
            return Verdict::Retry(None);
        }
        let (mut transient, mut applied, mut rejected) = (Vec::new(), 0, 0);
        for (i, x) in results.iter().enumerate() {
            let code = x["code"]
                .as_u64()
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(500);
            let failed = matches!(x["status"].as_str(), Some("failed" | "error" | "rejected"));
            match x["status"].as_str() {
                Some("applied") => applied += 1,
                // A 2xx per action (accepted, queued, created) is a success too.
                _ if (200..300).contains(&code) && !failed => applied += 1,
                _ if retryable(code) => transient.push(i),
                _ => rejected += 1,
            }
        }
        return Verdict::Results {
            transient,
            applied,
            rejected,
        };
    }
    if retryable(r.status) {
        // Retry-After, else (on a 429) the rate-limit reset.
        let reset = r.ratelimit_reset.and_then(|reset| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_secs();
            (r.status == 429)
                .then(|| Duration::from_secs(reset.saturating_sub(now).min(MAX_RESET_S)))
        });
        return Verdict::Retry(r.retry_after.or(reset));
    }
    Verdict::Final
}

#[cfg(test)]
mod tests {
    use super::super::TransportError;
    use super::*;
    use serde_json::json;
    use std::collections::VecDeque;

    /// Replies in order; records the bodies it was sent.
    struct Scripted {
        replies: VecDeque<Result<Reply, TransportError>>,
        sent: Vec<Value>,
    }

    impl Transport for Scripted {
        async fn post(&mut self, req: Request) -> Result<Reply, TransportError> {
            self.sent
                .push(serde_json::from_slice(&req.body).unwrap_or(Value::Null));
            self.replies
                .pop_front()
                .unwrap_or(Err(TransportError::Connect("script over".into())))
        }
    }

    fn reply(
        status: u16,
        body: Value,
        retry_after: Option<Duration>,
    ) -> Result<Reply, TransportError> {
        Ok(Reply {
            status,
            retry_after,
            ratelimit_reset: None,
            body: if body.is_null() {
                Bytes::new()
            } else {
                Bytes::from(body.to_string())
            },
        })
    }

    fn results(codes: &[u16]) -> Value {
        let r: Vec<Value> = codes
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if *c < 300 {
                    json!({ "index": i, "status": "applied", "code": c })
                } else {
                    json!({ "index": i, "status": "failed", "code": c })
                }
            })
            .collect();
        json!({ "results": r })
    }

    async fn run(
        cfg: ClientConfig,
        n: usize,
        replies: Vec<Result<Reply, TransportError>>,
        cut: &CancellationToken,
    ) -> (BatchOutcome, Scripted, Recorder) {
        let mut t = Scripted {
            replies: replies.into(),
            sent: Vec::new(),
        };
        let rec = Recorder::new();
        let actions = (0..n)
            .map(|i| json!({ "action_type": "Emit", "payload": { "n": i } }))
            .collect();
        let batch = Batch {
            actions,
            key_base: "k",
            intended: Instant::now(),
            seed: 1,
        };
        let creds = Credentials::ApiKey(gauntlet_mock::SecretString::new("sk_test"));
        let out = submit_batch(&mut t, &cfg, &creds, batch, &rec, cut).await;
        (out, t, rec)
    }

    #[tokio::test(start_paused = true)]
    async fn every_2xx_is_a_success_and_per_action_results_are_honoured() {
        let cut = CancellationToken::new();
        for status in [200, 201, 202, 204] {
            let (out, t, _) = run(
                ClientConfig::default(),
                3,
                vec![reply(status, Value::Null, None)],
                &cut,
            )
            .await;
            assert_eq!(
                (out.accepted, out.attempts, t.sent.len()),
                (3, 1, 1),
                "{status}"
            );
        }
        let (out, _, _) = run(
            ClientConfig::default(),
            2,
            vec![reply(201, json!({ "batch_id": "b1" }), None)],
            &cut,
        )
        .await;
        assert_eq!(
            out.accepted, 2,
            "a 201 naming no per-action results accepted all"
        );
        // A 207 with one transient failure: only that action goes again.
        let (out, t, _) = run(
            ClientConfig::default(),
            3,
            vec![
                reply(207, results(&[201, 503, 201]), None),
                reply(200, results(&[201]), None),
            ],
            &cut,
        )
        .await;
        assert_eq!((out.accepted, out.attempts), (3, 2));
        assert_eq!(t.sent[1]["actions"].as_array().map(Vec::len), Some(1));
    }

    #[tokio::test(start_paused = true)]
    async fn an_absurd_retry_after_is_capped_not_a_crash() {
        let cut = CancellationToken::new();
        let huge = Some(Duration::from_secs(u64::MAX));
        let (out, t, rec) = run(
            ClientConfig::default(),
            4,
            vec![reply(503, Value::Null, huge)],
            &cut,
        )
        .await;
        // Capped at max_elapsed, the wait runs past the deadline: the client gives up.
        assert_eq!((out.gave_up, t.sent.len()), (4, 1));
        assert_eq!(rec.totals().1.gave_up, 4);
    }

    #[tokio::test(start_paused = true)]
    async fn the_flawed_client_drops_the_failed_part_of_a_batch() {
        let cut = CancellationToken::new();
        let cfg = ClientConfig {
            flaw: Flaw::DropsPartialFailures,
            ..ClientConfig::default()
        };
        let (out, t, _) = run(
            cfg,
            3,
            vec![reply(200, results(&[201, 500, 503]), None)],
            &cut,
        )
        .await;
        assert_eq!((out.accepted, out.dropped, t.sent.len()), (1, 2, 1));
        // The reference client resubmits them.
        let (out, t, _) = run(
            ClientConfig::default(),
            3,
            vec![
                reply(200, results(&[201, 500, 503]), None),
                reply(200, results(&[201, 201]), None),
            ],
            &cut,
        )
        .await;
        assert_eq!((out.accepted, out.dropped, t.sent.len()), (3, 0, 2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_cut_ends_the_batch_and_counts_what_was_pending() {
        let cut = CancellationToken::new();
        cut.cancel();
        let (out, t, rec) = run(
            ClientConfig::default(),
            5,
            vec![reply(200, results(&[201; 5]), None)],
            &cut,
        )
        .await;
        assert_eq!((out.cut_off, out.accepted, t.sent.len()), (5, 0, 0));
        assert_eq!(rec.totals().1.cut_off, 5);
    }
}
