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
        let key = gauntlet_mock::webhooks::event::effect_key(
            event["event_type"].as_str()?,
            &object_id,
            version,
        )?;
        Some(Effect { key, object_id })
    }
}

/// Perform effects until the queue closes.
pub async fn perform(
    mut rx: mpsc::Receiver<Effect>,
    http: reqwest::Client,
    target: String,
    key: SecretString,
    flaw: HandlerFlaw,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        // Once stopped, finish what is queued, then end.
        let next = tokio::select! {
            e = rx.recv() => e,
            _ = stop.cancelled() => rx.try_recv().ok(),
        };
        let Some(effect) = next else { break };
        let body = json!({
            "action_type": "Update",
            "object_id": effect.object_id,
            "payload": { "properties": { "handled": effect.key }, gauntlet_mock::webhooks::event::EFFECT_FIELD: effect.key },
        });
        for attempt in 0..EFFECT_ATTEMPTS {
            let mut req = http
                .post(format!("{target}/ebus/actions"))
                .header("x-api-key", key.expose())
                .json(&body);
            // The business key makes the effect idempotent on the platform too; the
            // naive handlers (duplicate, race) send none.
            if !matches!(flaw, HandlerFlaw::Duplicate | HandlerFlaw::Race) {
                req = req.header("idempotency-key", format!("effect:{}", effect.key));
            }
            match req.send().await {
                Ok(r) if r.status().is_success() => break,
                Ok(r) if r.status().is_client_error() && r.status().as_u16() != 429 => {
                    tracing::warn!(
                        effect = effect.key,
                        status = r.status().as_u16(),
                        "effect refused"
                    );
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(100 << attempt.min(6))).await,
            }
        }
    }
}
