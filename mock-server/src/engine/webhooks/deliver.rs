//! The delivery loop: wake when a delivery is due (or a new one arrives, or the
//! clock jumps), send it with its faults, grade the answer, retry or deactivate.

use std::sync::Arc;
use std::time::Duration;

use super::Host;
use super::dispatch::{
    ANSWER_DEADLINE, Answer, DEACTIVATE_AFTER, Delivery, LogEntry, RETRY_SCHEDULE, post,
};
use super::event::{sign, sign_body_only};
use crate::engine::faults::DeliveryFacts;
use crate::engine::faults::webhook::{DuplicateMode, SignatureFault, TIMESTAMP_SKEW};
use crate::engine::oracle::effects::Forgery;

/// The loop never sleeps longer than this, so a clock advance is seen promptly.
pub const MAX_NAP: Duration = Duration::from_millis(250);
/// A deliberate after-ack duplicate follows the first delivery by this much twin time.
pub const AFTER_ACK_GAP: Duration = Duration::from_secs(1);

/// Run until the twin shuts down.
pub async fn run<H: Host>(host: Arc<H>) {
    loop {
        let engine = host.engine();
        let now = engine.clock.now();
        let (due, next) = host.hub().dispatcher.due(now);
        for d in due {
            let host = host.clone();
            tokio::spawn(async move { attempt(&*host, d).await });
        }
        let nap = next.map_or(MAX_NAP, |n| {
            engine.clock.real(n.saturating_sub(now)).min(MAX_NAP)
        });
        tokio::select! {
            _ = tokio::time::sleep(nap) => {}
            _ = host.hub().dispatcher.wake.notified() => {}
            _ = engine.shutdown.cancelled() => return,
        }
    }
}

/// One delivery attempt.
async fn attempt<H: Host>(host: &H, d: Delivery) {
    let (engine, hub) = (host.engine(), host.hub());
    let Ok(_permit) = hub.dispatcher.slots.acquire().await else {
        return;
    };
    let Some((url, secret, previous, active)) = hub.registry().by_id(&d.webhook).map(|h| {
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
    // One numbering for every platform's deliveries: each gets its own random
    // stream, and a rule's `limit` counts them all once.
    let seq = engine.next_delivery_seq();
    let mut rng = engine.faults.delivery_rng(seq);
    let decision = if d.duplicate {
        Default::default()
    } else {
        let facts = DeliveryFacts {
            seq,
            now: engine.clock.now(),
            event_id: &d.event.id,
            event_type: &d.event.event_type,
            url: &url,
        };
        engine.faults.decide_delivery(&facts, &mut rng)
    };
    for kind in &decision.kinds {
        engine.metrics.fault(kind);
    }
    if !decision.hold.is_zero() {
        tokio::select! {
            _ = tokio::time::sleep(engine.clock.real(decision.hold)) => {}
            _ = engine.shutdown.cancelled() => return,
        }
    }
    let unix = engine.clock.unix();
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
        (hub.headers.timestamp, ts),
        (hub.headers.signature, signature),
        (hub.headers.attempt, format!("{}", d.attempt)),
    ];
    let send = || post(&hub.dispatcher.http, &url, &headers, body.clone());
    let (answer, took) = match decision.duplicate {
        Some(DuplicateMode::Concurrent) => {
            let (a, b) = tokio::join!(send(), send());
            grade(host, &d, &b.0, b.1, forgery);
            a
        }
        _ => send().await,
    };
    grade(host, &d, &answer, took, forgery);
    if decision.duplicate == Some(DuplicateMode::Sequential) {
        let (again, took2) = send().await;
        grade(host, &d, &again, took2, forgery);
    }
    let mut next_retry = None;
    if !d.duplicate {
        next_retry = settle(host, &d, &answer, forgery, decision.duplicate);
    }
    hub.dispatcher.record(
        &d.webhook,
        LogEntry {
            event_id: d.event.id.clone(),
            event_type: d.event.event_type.clone(),
            attempt: d.attempt,
            outcome: answer.describe(),
            at_ms: engine.clock.now().as_millis() as u64,
            answered_ms: took.as_secs_f64() * 1000.0,
            faults: decision.kinds.clone(),
            next_retry_ms: next_retry.map(|t: Duration| t.as_millis() as u64),
        },
    );
}

/// Put one answer in the effects ledger.
fn grade<H: Host>(host: &H, d: &Delivery, answer: &Answer, took: Duration, forgery: Forgery) {
    let ok = match answer {
        Answer::Timeout => None,
        a => Some(a.ok()),
    };
    let took = if matches!(answer, Answer::Timeout) {
        ANSWER_DEADLINE.max(took)
    } else {
        took
    };
    let lag = host.engine().clock.now().saturating_sub(d.created);
    host.effects()
        .answered(d.event.effect_key.as_deref(), ok, took, forgery, lag);
}

/// After a delivery: success resets the webhook's failure count; a failure is
/// retried on the schedule, and the fifth in a row deactivates the webhook. A
/// forged delivery the receiver rightly refused is sent again properly and does
/// not count against it. Returns when the retry is due.
fn settle<H: Host>(
    host: &H,
    d: &Delivery,
    answer: &Answer,
    forgery: Forgery,
    dup: Option<DuplicateMode>,
) -> Option<Duration> {
    let hub = host.hub();
    let now = host.engine().clock.now();
    if answer.ok() {
        hub.registry().succeeded(&d.webhook);
        if dup == Some(DuplicateMode::AfterAck) {
            hub.dispatcher.schedule(
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
        hub.dispatcher.schedule(d.clone(), now);
        return Some(now);
    }
    let failed = hub.registry().failed(&d.webhook, DEACTIVATE_AFTER);
    if failed {
        hub.dispatcher.forget(&d.webhook);
        host.effects().deactivated();
        host.deactivated(&d.webhook, &d.event);
        return None;
    }
    let wait = *RETRY_SCHEDULE.get(d.attempt as usize)?;
    hub.dispatcher.schedule(
        Delivery {
            attempt: d.attempt + 1,
            ..d.clone()
        },
        now + wait,
    );
    Some(now + wait)
}
