//! Webhooks, for every platform: the [`registry`] of endpoints, [`event`]s and
//! their HMAC signature, the [`dispatch`] queue on the twin clock and the
//! [`deliver`] loop that sends, grades, retries and deactivates.
//!
//! A platform holds one [`Hub`] (registry, queue, counters, header names) and
//! implements [`Host`] so the loop can reach the engine, the effects ledger it
//! grades into, and the platform's own reaction to a deactivated webhook. Dual
//! delivers its event-bus events through it; Boson delivers the protocol's chain
//! events (with `removed: true` after a reorg) through the same machinery.

pub mod deliver;
pub mod dispatch;
pub mod event;
pub mod registry;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use dispatch::{Delivery, Dispatcher};
pub use event::Event;
pub use registry::{CreateWebhook, PatchWebhook, Registry, Webhook};

use super::Engine;
use super::oracle::effects::Effects;

/// The header names a platform's deliveries carry.
#[derive(Debug, Clone, Copy)]
pub struct Headers {
    /// Unix seconds the signature covers.
    pub timestamp: &'static str,
    /// Hex HMAC-SHA256 over `"<timestamp>.<raw body>"`.
    pub signature: &'static str,
    /// 0 for the first delivery, n for the n-th retry.
    pub attempt: &'static str,
}

/// One platform's webhooks: who listens, what waits to be sent, and the numbering
/// of events and delivery attempts.
#[derive(Debug)]
pub struct Hub {
    registry: Mutex<Registry>,
    pub dispatcher: Dispatcher,
    pub headers: Headers,
    /// Prefix of event ids (`evt_`, `bev_`).
    id_prefix: &'static str,
    next_event: AtomicU64,
}

impl Hub {
    pub fn new(types: &'static [&'static str], headers: Headers, id_prefix: &'static str) -> Self {
        Self {
            registry: Mutex::new(Registry::new(types)),
            dispatcher: Dispatcher::new(),
            headers,
            id_prefix,
            next_event: AtomicU64::new(1),
        }
    }

    pub fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn next_event_id(&self) -> String {
        format!(
            "{}{}",
            self.id_prefix,
            self.next_event.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// The active webhooks of its organization subscribed to `event`'s type: the
    /// targets for [`Hub::schedule`]. Look them up, put the event in the ledger,
    /// then schedule, so no answer reaches the ledger before the event does.
    pub fn targets(&self, event: &Event) -> Vec<(String, String)> {
        self.registry().targets(&event.org, &event.event_type)
    }

    /// Queue `event` for `targets`, due at twin time `due` (`now` is when it
    /// happened).
    pub fn schedule(
        &self,
        event: Event,
        targets: Vec<(String, String)>,
        now: Duration,
        due: Duration,
    ) {
        let event = Arc::new(event);
        for (id, _) in targets {
            self.dispatcher.schedule(
                Delivery {
                    event: event.clone(),
                    webhook: id,
                    attempt: 0,
                    created: now,
                    duplicate: false,
                },
                due,
            );
        }
    }

    /// Forget every webhook and every waiting delivery.
    pub fn reset(&self) {
        self.registry().clear();
        self.dispatcher.clear();
    }
}

/// What the delivery loop needs from the platform it delivers for.
pub trait Host: Send + Sync + 'static {
    fn engine(&self) -> &Engine;
    fn hub(&self) -> &Hub;
    /// The ledger the answers are graded into.
    fn effects(&self) -> &Effects;
    /// Webhook `webhook` was deactivated after failing to take `last`.
    fn deactivated(&self, webhook: &str, last: &Event);
}
