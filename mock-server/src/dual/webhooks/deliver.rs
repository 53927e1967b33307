//! The delivery loop: wake when a delivery is due (or a new one arrives, or the
//! clock jumps), send it with its faults, grade the answer, retry or deactivate.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::dispatch::{
    ANSWER_DEADLINE, Answer, DEACTIVATE_AFTER, Delivery, LogEntry, RETRY_SCHEDULE, post,
};
use super::event::{Event, sign, sign_body_only};
use crate::dual::Dual;
use crate::engine::faults::DeliveryFacts;
use crate::engine::faults::webhook::{DuplicateMode, SignatureFault, TIMESTAMP_SKEW};
use crate::engine::oracle::effects::Forgery;

/// The loop never sleeps longer than this, so a clock advance is seen promptly.
pub const MAX_NAP: Duration = Duration::from_millis(250);
/// A deliberate after-ack duplicate follows the first delivery by this much twin time.
pub const AFTER_ACK_GAP: Duration = Duration::from_secs(1);

/// Run until the twin shuts down.
pub async fn run(dual: Arc<Dual>) {
    loop {
        let now = dual.engine.clock.now();
        let (due, next) = dual.dispatcher.due(now);
        for d in due {
            let dual = dual.clone();
            tokio::spawn(async move { attempt(&dual, d).await });
        }
        let nap = next.map_or(MAX_NAP, |n| {
            dual.engine.clock.real(n.saturating_sub(now)).min(MAX_NAP)
        });
        tokio::select! {
            _ = tokio::time::sleep(nap) => {}
            _ = dual.dispatcher.wake.notified() => {}
            _ = dual.engine.shutdown.cancelled() => return,
        }
    }
}

/// One delivery attempt.
async fn attempt(dual: &Dual, d: Delivery) {
    let Ok(_permit) = dual.dispatcher.slots.acquire().await else {
        return;
    };
    let Some((url, secret, previous, active)) = dual.webhooks().by_id(&d.webhook).map(|h| {
        (
            h.url.clone(),
            h.secret.clone(),
            h.previous_secret.clone(),
            h.active,
        )
    }) else {
        return;
    };
    if !active {
        return;
    }
    let seq = dual.next_delivery_seq();
    let mut rng = dual.engine.faults.delivery_rng(seq);
    let decision = if d.duplicate {
        Default::default()
    } else {
        let facts = DeliveryFacts {
            seq,
            now: dual.engine.clock.now(),
            event_id: &d.event.id,
            event_type: &d.event.event_type,
            url: &url,
        };
        dual.engine.faults.decide_delivery(&facts, &mut rng)
    };
    for kind in &decision.kinds {
        dual.engine.metrics.fault(kind);
    }
    if !decision.hold.is_zero() {
        tokio::select! {
            _ = tokio::time::sleep(dual.engine.clock.real(decision.hold)) => {}
            _ = dual.engine.shutdown.cancelled() => return,
        }
    }
    let unix = dual.engine.clock.unix();
    let ts = match decision.signature {
        Some(SignatureFault::Stale) => unix - TIMESTAMP_SKEW.as_secs_f64(),
        Some(SignatureFault::Future) => unix + TIMESTAMP_SKEW.as_secs_f64(),
        _ => unix,
    };
    let ts = format!("{}", ts as u64);
    let body = d.event.body(decision.flat);
    let key = secret.expose().as_bytes();
    let signature = match decision.signature {
        None | Some(SignatureFault::Stale) | Some(SignatureFault::Future) => sign(key, &ts, &body),
        Some(SignatureFault::Bad) => sign(
            crate::engine::secret::random_secret("forged_").as_bytes(),
            &ts,
            &body,
        ),
        Some(SignatureFault::OldSecret) => {
            let old = previous.map_or_else(
                || crate::engine::secret::random_secret("whsec_old_"),
                |p| p.expose().to_string(),
            );
            sign(old.as_bytes(), &ts, &body)
        }
        Some(SignatureFault::BodyOnly) => sign_body_only(key, &body),
    };
    let forgery = match decision.signature {
        None => Forgery::None,
        Some(SignatureFault::Stale) | Some(SignatureFault::Future) => Forgery::Timestamp,
        Some(_) => Forgery::Signature,
    };
    let headers = [
        ("x-dual-timestamp", ts),
        ("x-dual-signature", signature),
        ("x-dual-delivery", format!("{}", d.attempt)),
    ];
    let send = || post(&dual.dispatcher.http, &url, &headers, body.clone());
    let (answer, took) = match decision.duplicate {
        Some(DuplicateMode::Concurrent) => {
            let (a, b) = tokio::join!(send(), send());
            grade(dual, &d, &b.0, b.1, forgery);
            a
        }
        _ => send().await,
    };
    grade(dual, &d, &answer, took, forgery);
    if decision.duplicate == Some(DuplicateMode::Sequential) {
        let (again, took2) = send().await;
        grade(dual, &d, &again, took2, forgery);
    }
    let mut next_retry = None;
    if !d.duplicate {
        next_retry = settle(dual, &d, &answer, forgery, decision.duplicate);
    }
    dual.dispatcher.record(
        &d.webhook,
        LogEntry {
            event_id: d.event.id.clone(),
            event_type: d.event.event_type.clone(),
            attempt: d.attempt,
            outcome: answer.describe(),
            at_ms: dual.engine.clock.now().as_millis() as u64,
            answered_ms: took.as_secs_f64() * 1000.0,
            faults: decision.kinds.clone(),
            next_retry_ms: next_retry.map(|t: Duration| t.as_millis() as u64),
        },
    );
}

/// Put one answer in the effects ledger.
fn grade(dual: &Dual, d: &Delivery, answer: &Answer, took: Duration, forgery: Forgery) {
    let ok = match answer {
        Answer::Timeout => None,
        a => Some(a.ok()),
    };
    let took = if matches!(answer, Answer::Timeout) {
        ANSWER_DEADLINE.max(took)
    } else {
        took
    };
    let lag = dual.engine.clock.now().saturating_sub(d.created);
    dual.engine
        .oracle
        .effects
        .answered(d.event.effect_key.as_deref(), ok, took, forgery, lag);
}

/// After a delivery: success resets the webhook's failure count; a failure is
/// retried on the schedule, and the fifth in a row deactivates the webhook. A
/// forged delivery the receiver rightly refused is sent again properly and does
/// not count against it. Returns when the retry is due.
fn settle(
    dual: &Dual,
    d: &Delivery,
    answer: &Answer,
    forgery: Forgery,
    dup: Option<DuplicateMode>,
) -> Option<Duration> {
    let now = dual.engine.clock.now();
    if answer.ok() {
        dual.webhooks().succeeded(&d.webhook);
        if dup == Some(DuplicateMode::AfterAck) {
            dual.dispatcher.schedule(
                Delivery {
                    duplicate: true,
                    ..d.clone()
                },
                now + AFTER_ACK_GAP,
            );
        }
        return None;
    }
    if forgery != Forgery::None {
        dual.dispatcher.schedule(d.clone(), now);
        return Some(now);
    }
    if dual.webhooks().failed(&d.webhook, DEACTIVATE_AFTER) {
        deactivated(dual, d);
        return None;
    }
    let wait = *RETRY_SCHEDULE.get(d.attempt as usize)?;
    dual.dispatcher.schedule(
        Delivery {
            attempt: d.attempt + 1,
            ..d.clone()
        },
        now + wait,
    );
    Some(now + wait)
}

/// Five failures in a row: the webhook is off until PATCHed, and `webhook.failed`
/// goes to whoever listens for it.
fn deactivated(dual: &Dual, d: &Delivery) {
    dual.dispatcher.forget(&d.webhook);
    dual.engine.oracle.effects.deactivated();
    let org = dual
        .webhooks()
        .by_id(&d.webhook)
        .map(|h| h.org.clone())
        .unwrap_or_default();
    let event = Event {
        id: dual.next_event_id(),
        event_type: "webhook.failed".into(),
        org,
        object_id: None,
        timestamp: crate::engine::clock::rfc3339(dual.engine.clock.unix()),
        payload: json!({ "webhook_id": d.webhook, "consecutive_failures": DEACTIVATE_AFTER, "last_event_id": d.event.id }),
        effect_key: None,
    };
    dual.raise(vec![event]);
}
