//! The handler's effects: which events demand one (the twin's effect contract), and
//! the worker that performs them against the platform, from a bounded queue.

use std::time::Duration;

use gauntlet_mock::SecretString;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::HandlerFlaw;

/// Attempts to perform one effect before it is logged as failed.
pub const EFFECT_ATTEMPTS: u32 = 8;

/// One effect to perform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    /// The business key (`transferred:<object>:v<version>`).
    pub key: String,
    pub object_id: String,
}

impl Effect {
    /// The effect an event demands, if any (plain or flat payload).
    pub fn of(event: &Value) -> Option<Effect> {
        let object_id = event["object_id"].as_str()?.to_string();
        let version = event["payload"]["version"]
            .as_u64()
            .or_else(|| event["version"].as_u64())?;
        let key = gauntlet_mock::dual::webhooks::event::effect_key(
            event["event_type"].as_str()?,
            &object_id,
            version,
        )?;
        Some(Effect { key, object_id })
    }
}

/// Effects performed at once.
pub const CONCURRENCY: usize = 32;

/// Perform effects until the queue closes (or, once stopped, is drained).
pub async fn perform(
    mut rx: mpsc::Receiver<Effect>,
    http: reqwest::Client,
    target: String,
    key: SecretString,
    signer: Option<crate::client::Signer>,
    flaw: HandlerFlaw,
    stop: tokio_util::sync::CancellationToken,
) {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut running = tokio::task::JoinSet::new();
    loop {
        let next = tokio::select! {
            e = rx.recv() => e,
            _ = stop.cancelled() => rx.try_recv().ok(),
        };
        let Some(effect) = next else { break };
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        let (http, target, key, signer) =
            (http.clone(), target.clone(), key.clone(), signer.clone());
        running.spawn(async move {
            perform_one(&http, &target, &key, signer.as_ref(), flaw, &effect).await;
            drop(permit);
        });
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
}

/// One effect, retried like the reference client retries: never before the
/// platform's advice, with jitter, a bounded number of times.
async fn perform_one(
    http: &reqwest::Client,
    target: &str,
    key: &SecretString,
    signer: Option<&crate::client::Signer>,
    flaw: HandlerFlaw,
    effect: &Effect,
) {
    use rand::SeedableRng;
    let body = json!({
        "action_type": "Update",
        "object_id": effect.object_id,
        "payload": { "properties": { "handled": effect.key }, gauntlet_mock::dual::webhooks::event::EFFECT_FIELD: effect.key },
    })
    .to_string();
    let mut rng = rand::rngs::StdRng::from_os_rng();
    let cfg = crate::client::ClientConfig::default();
    let mut prev = cfg.base;
    for attempt in 1..=EFFECT_ATTEMPTS {
        let mut req = http
            .post(format!("{target}/ebus/actions"))
            .header("x-api-key", key.expose())
            .header("content-type", "application/json")
            .body(body.clone());
        // Signed afresh on each attempt: a retry minutes later is still recent.
        for (name, value) in signer
            .iter()
            .flat_map(|s| s.headers("POST", "/ebus/actions", body.as_bytes()))
        {
            req = req.header(name, value);
        }
        // The business key makes the effect idempotent on the platform too; the
        // naive handlers (duplicate, race) send none.
        if !matches!(flaw, HandlerFlaw::Duplicate | HandlerFlaw::Race) {
            req = req.header("idempotency-key", format!("effect:{}", effect.key));
        }
        let advised = match req.send().await {
            Ok(r) if r.status().is_success() => return,
            Ok(r) if !crate::client::retryable(r.status().as_u16()) => {
                tracing::warn!(
                    effect = effect.key,
                    status = r.status().as_u16(),
                    "effect refused"
                );
                return;
            }
            Ok(r) => r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .map(Duration::from_secs),
            Err(_) => None,
        };
        let policy = cfg
            .backoff
            .delay(attempt, prev, cfg.base, cfg.cap, true, &mut rng);
        prev = crate::client::backoff::wait(policy, advised, true, true, &mut rng);
        tokio::time::sleep(prev).await;
    }
    tracing::warn!(
        effect = effect.key,
        "effect not performed after {EFFECT_ATTEMPTS} attempts"
    );
}
