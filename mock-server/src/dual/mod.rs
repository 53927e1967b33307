//! Dual, the first platform on the engine: its REST API ([`api`]), callers
//! ([`auth`]) and the EIP-712 signatures on their mutations ([`eip712`]), rate
//! limits ([`limits`]), event bus ([`ebus`]), sequencer ([`sequencer`]) and
//! webhooks ([`webhooks`]), and the [`Dual`] struct that holds their state next to
//! an `Arc<Engine>`. It implements `engine::platform::Platform` for reset, metrics,
//! its control route (`keys/rotate`) and its webhook delivery loop.

pub mod api;
pub mod auth;
pub mod config;
pub mod ebus;
pub mod eip712;
pub mod limits;
pub mod sequencer;
pub mod webhooks;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use auth::Auth;
use config::DualConfig;
use ebus::Store;
use limits::RateLimiter;
use sequencer::Sequencer;
use webhooks::Registry;
use webhooks::event::Event;

use crate::engine::Engine;
use crate::engine::error::{ApiError, parse_json};
use crate::engine::metrics::Metrics;
use crate::engine::oracle::effects::Effects;
use crate::engine::platform::Platform;
use crate::engine::reply::Reply;
use crate::engine::webhooks::{Host, Hub};

/// Everything Dual's twin knows, beside the engine it runs on.
#[derive(Debug)]
pub struct Dual {
    /// The clock, faults and tape, oracle, metrics and shutdown token.
    pub engine: Arc<Engine>,
    pub config: DualConfig,
    pub auth: Auth,
    pub limiter: RateLimiter,
    pub store: Mutex<Store>,
    /// Webhooks, and their deliveries waiting or in flight.
    pub hub: Hub,
}

impl Dual {
    pub fn new(config: DualConfig, engine: Arc<Engine>) -> Self {
        Self {
            engine,
            auth: Auth::new(config.auth.clone()),
            limiter: RateLimiter::new(config.limits.clone()),
            store: Mutex::new(Self::fresh_store(&config)),
            hub: Hub::new(&webhooks::EVENT_TYPES, webhooks::HEADERS, "evt_"),
            config,
        }
    }

    fn fresh_store(config: &DualConfig) -> Store {
        Store::new(
            config.action_capacity,
            Sequencer::new(config.sequencer.clone()),
        )
    }

    pub fn next_event_id(&self) -> String {
        self.hub.next_event_id()
    }

    /// Queue each event for every active webhook that listens for it; an event that
    /// demands an effect goes into the effects ledger once it has somewhere to go.
    pub fn raise(&self, events: Vec<Event>) {
        let now = self.engine.clock.now();
        for event in events {
            let targets = self.hub.targets(&event);
            if targets.is_empty() {
                continue;
            }
            if let Some(key) = &event.effect_key {
                self.engine.oracle.effects.expect(key, now);
            }
            self.hub.schedule(event, targets, now, now);
        }
    }

    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn webhooks(&self) -> MutexGuard<'_, Registry> {
        self.hub.registry()
    }
}

impl Host for Dual {
    fn engine(&self) -> &Engine {
        &self.engine
    }

    fn hub(&self) -> &Hub {
        &self.hub
    }

    fn effects(&self) -> &Effects {
        &self.engine.oracle.effects
    }

    /// Five failures in a row: the webhook is off until PATCHed, and
    /// `webhook.failed` goes to whoever listens for it.
    fn deactivated(&self, webhook: &str, last: &Event) {
        let org = self
            .webhooks()
            .by_id(webhook)
            .map(|h| h.org.clone())
            .unwrap_or_default();
        let event = Event {
            id: self.next_event_id(),
            event_type: "webhook.failed".into(),
            org,
            object_id: None,
            timestamp: crate::engine::clock::rfc3339(self.engine.clock.unix()),
            payload: json!({
                "webhook_id": webhook,
                "consecutive_failures": webhooks::dispatch::DEACTIVATE_AFTER,
                "last_event_id": last.id,
            }),
            effect_key: None,
        };
        self.raise(vec![event]);
    }
}

/// The body of `POST /_gauntlet/keys/rotate`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Rotate {
    #[serde(default)]
    key: Option<String>,
}

impl Platform for Dual {
    fn name(&self) -> &'static str {
        "dual"
    }

    /// The webhook delivery loop.
    fn start(self: Arc<Self>) {
        tokio::spawn(webhooks::deliver::run(self));
    }

    /// Objects, actions, webhooks, queued deliveries and buckets; keys and users stay.
    fn reset(&self) {
        *self.store() = Self::fresh_store(&self.config);
        self.hub.reset();
        self.limiter.reset();
    }

    fn refresh_metrics(&self, metrics: &Metrics, now: Duration) {
        for (org, group, tokens) in self.limiter.levels(now) {
            metrics.bucket(&org, group.label(), tokens);
        }
    }

    fn control_methods(&self, path: &str) -> Option<&'static [Method]> {
        (path == "keys/rotate").then_some(&[Method::POST])
    }

    /// The organization's DUAL token balance: what the applied actions cost it.
    fn oracle(&self) -> Option<serde_json::Value> {
        let l = &self.config.limits;
        let charged = self.store().charged;
        let spent = charged as f64 * l.fee_per_action;
        Some(serde_json::json!({
            "balance": {
                "fee_per_action": l.fee_per_action,
                "initial": l.org_balance,
                "charged_actions": charged,
                "spent": spent,
                "remaining": (l.org_balance - spent).max(0.0),
            }
        }))
    }

    /// `keys/rotate`: a new sandbox key; the old one works for the grace period.
    fn control(&self, path: &str, body: &[u8]) -> Result<Reply, ApiError> {
        if path != "keys/rotate" {
            return Err(ApiError::not_found(format!(
                "control route /_gauntlet/{path}"
            )));
        }
        let r: Rotate = if body.is_empty() {
            Rotate::default()
        } else {
            parse_json(body)?
        };
        let key = self
            .auth
            .rotate(r.key.as_deref(), self.engine.clock.now())?;
        let grace = self.config.auth.rotation_grace.as_secs();
        Ok(Reply::json(
            StatusCode::OK,
            &json!({ "api_key": key, "grace_s": grace }),
        ))
    }
}
