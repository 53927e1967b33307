//! The twin's shared state, one `Arc<Twin>` passed to every connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::auth::Auth;
use crate::clock::Clock;
use crate::config::TwinConfig;
use crate::ebus::Store;
use crate::faults::FaultEngine;
use crate::metrics::Metrics;
use crate::oracle::{Oracle, OracleView};
use crate::ratelimit::RateLimiter;
use crate::sequencer::Sequencer;
use crate::webhooks::Registry;
use crate::webhooks::dispatch::{Delivery, Dispatcher};
use crate::webhooks::event::Event;

/// Fault windows reported in the oracle's burst list, at most.
pub const BURST_WINDOWS: usize = 50;

/// Everything the twin knows.
#[derive(Debug)]
pub struct Twin {
    pub config: TwinConfig,
    pub clock: Clock,
    pub faults: FaultEngine,
    pub auth: Auth,
    pub limiter: RateLimiter,
    pub store: Mutex<Store>,
    pub webhooks: Mutex<Registry>,
    pub oracle: Oracle,
    pub metrics: Metrics,
    /// Requests numbered in arrival order: the key of each request's random stream.
    seq: AtomicU64,
    /// Webhook deliveries waiting or in flight.
    pub dispatcher: Dispatcher,
    next_event: AtomicU64,
    next_delivery: AtomicU64,
    /// Cancelled when the server shuts down: hangs and delays end early.
    pub shutdown: CancellationToken,
}

impl Twin {
    pub fn new(config: TwinConfig) -> Self {
        Self {
            clock: Clock::new(config.time_scale),
            faults: FaultEngine::new(config.seed, config.faults.clone(), config.tape_capacity),
            auth: Auth::new(config.auth.clone()),
            limiter: RateLimiter::new(config.limits.clone()),
            store: Mutex::new(Self::fresh_store(&config)),
            webhooks: Mutex::new(Registry::default()),
            oracle: Oracle::new(),
            metrics: Metrics::new(),
            seq: AtomicU64::new(0),
            dispatcher: Dispatcher::new(),
            next_event: AtomicU64::new(1),
            next_delivery: AtomicU64::new(0),
            shutdown: CancellationToken::new(),
            config,
        }
    }

    fn fresh_store(config: &TwinConfig) -> Store {
        Store::new(
            config.action_capacity,
            Sequencer::new(config.sequencer.clone()),
        )
    }

    pub fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    pub fn next_delivery_seq(&self) -> u64 {
        self.next_delivery.fetch_add(1, Ordering::Relaxed)
    }

    pub fn next_event_id(&self) -> String {
        format!("evt_{}", self.next_event.fetch_add(1, Ordering::Relaxed))
    }

    /// Queue each event for every active webhook that listens for it; an event that
    /// demands an effect goes into the effects ledger once it has somewhere to go.
    pub fn raise(&self, events: Vec<Event>) {
        let now = self.clock.now();
        for event in events {
            let targets = self.webhooks().targets(&event.org, &event.event_type);
            if targets.is_empty() {
                continue;
            }
            if let Some(key) = &event.effect_key {
                self.oracle.effects.expect(key);
            }
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
                    now,
                );
            }
        }
    }

    pub fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn webhooks(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.webhooks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The oracle's account as of now.
    pub fn oracle_view(&self) -> OracleView {
        let now = self.clock.now();
        self.oracle
            .view(&self.faults.ended_windows(now, BURST_WINDOWS), now)
    }

    /// Forget all state, counts and tape; the rules stay and their windows restart now.
    /// Request numbering restarts too, so a reset twin replays the same faults.
    pub fn reset(&self) {
        *self.store() = Self::fresh_store(&self.config);
        *self.webhooks() = Registry::default();
        self.oracle.reset();
        self.faults.tape.clear();
        self.dispatcher.clear();
        self.limiter.reset();
        let rules = self.faults.rules().rules.clone();
        self.faults.install(rules, self.clock.now());
        self.seq.store(0, Ordering::Relaxed);
    }
}
