//! One batch through the reference client: send, read per-action results, retry the
//! transient failures with backoff under the rules of `ClientConfig`, until every
//! action is applied, finally rejected, or given up (attempts or time ran out).

use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;

use super::{ClientConfig, Credentials, Flaw, Reply, Request, Transport, backoff, retryable};
use crate::measure::Recorder;

/// The path batches go to.
pub const BATCH_PATH: &str = "/ebus/actions/batch";

/// How one batch ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub accepted: usize,
    pub rejected: usize,
    pub gave_up: usize,
    pub attempts: u32,
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

/// Submit `actions` (intended at `intended`) and see them through.
/// `key_base` names the batch's idempotency keys; `seed` its jitter.
#[allow(clippy::too_many_arguments)]
pub async fn submit_batch<T: Transport>(
    t: &mut T,
    cfg: &ClientConfig,
    creds: &Credentials,
    actions: Vec<Value>,
    key_base: &str,
    intended: Instant,
    seed: u64,
    rec: &Recorder,
) -> BatchOutcome {
    let mut rng = StdRng::seed_from_u64(seed);
    let all = actions;
    let mut pending: Vec<Value> = all.clone();
    let mut out = BatchOutcome::default();
    let (mut round, mut prev_delay) = (0u32, cfg.base);
    let deadline = intended + cfg.max_elapsed;
    let mut refreshed = false;
    loop {
        out.attempts += 1;
        let key = (cfg.flaw != Flaw::NoIdempotencyKey).then(|| format!("{key_base}-r{round}"));
        let (result, replied) = send(t, cfg, creds, &pending, key, rec).await;
        if out.attempts == 1 {
            rec.first_reply(replied.saturating_duration_since(intended));
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
                pending = if cfg.flaw == Flaw::RetriesWholeBatch {
                    all.clone()
                } else {
                    transient.iter().map(|i| pending[*i].clone()).collect()
                };
                // A new request (other body): a new key.
                round += 1;
                None
            }
            Verdict::Retry(advised) => advised,
            Verdict::Final => {
                out.rejected += pending.len();
                rec.rejected(pending.len());
                break;
            }
        };
        let delay = next_delay(cfg, out.attempts, prev_delay, advised, &mut rng);
        if out.attempts >= cfg.max_attempts || Instant::now() + delay > deadline {
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
        tokio::time::sleep(delay).await;
        rec.backoff(replied.elapsed(), advised);
    }
    rec.attempts(out.attempts);
    out
}

/// One attempt: headers (credentials, key), body, send, record. Returns the result
/// and when the reply (or failure) came.
async fn send<T: Transport>(
    t: &mut T,
    cfg: &ClientConfig,
    creds: &Credentials,
    pending: &[Value],
    key: Option<String>,
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
    if r.status == 200 {
        let Ok(v) = serde_json::from_slice::<Value>(&r.body) else {
            // A malformed body: the outcome is unknown, so send the same request
            // again; its key makes that safe.
            return Verdict::Retry(None);
        };
        let Some(results) = v["results"].as_array() else {
            return Verdict::Retry(None);
        };
        // An answer that does not match the request says nothing reliable about
        // each action: send the same request again (its key makes that safe).
        if results.len() != expected {
            return Verdict::Retry(None);
        }
        let (mut transient, mut applied, mut rejected) = (Vec::new(), 0, 0);
        for (i, x) in results.iter().enumerate() {
            let code = x["code"].as_u64().unwrap_or(500) as u16;
            match x["status"].as_str() {
                Some("applied") => applied += 1,
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
            (r.status == 429).then(|| Duration::from_secs(reset.saturating_sub(now)))
        });
        return Verdict::Retry(r.retry_after.or(reset));
    }
    Verdict::Final
}
