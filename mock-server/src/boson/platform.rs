//! Boson on the engine: the [`BosonPlatform`] that holds the chain next to an
//! `Arc<Engine>`, reads the engine's fault rules for reorgs, pauses and upgrades,
//! mines on a ticker, and answers the engine's hooks (reset, oracle, metrics,
//! control routes `boson/pause`, `boson/upgrade`, `boson/accounts`).

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use prometheus_client::metrics::gauge::Gauge;
use serde::Deserialize;
use serde_json::json;

use super::chain::{Fate, ReorgOrder};
use super::events::{self, ChainEvents};
use super::oracle::ChainWebhooks;
use super::protocol::region_bit;
use super::{BlockFaults, Boson, ChainFaults};
use crate::engine::Engine;
use crate::engine::error::{ApiError, parse_json};
use crate::engine::faults::{ChainFault, ReorgFate};
use crate::engine::metrics::Metrics;
use crate::engine::platform::Platform;
use crate::engine::reply::Reply;

/// The chain's faults, read from the engine's rules.
#[derive(Debug)]
pub struct EngineFaults {
    engine: Arc<Engine>,
}

impl ChainFaults for EngineFaults {
    fn after_block(&self, number: u64, at: Duration) -> BlockFaults {
        let mut out = BlockFaults {
            index_lag: self.engine.faults.index_lag(number, at),
            ..BlockFaults::default()
        };
        for fired in self.engine.faults.after_block(number, at) {
            self.engine.metrics.fault(fired.fault.name());
            match fired.fault {
                ChainFault::Reorg { depth, fate, seed } => {
                    let fate = match fate {
                        ReorgFate::Remine => Fate::Remine,
                        ReorgFate::Reorder => Fate::Reorder,
                        ReorgFate::Drop => Fate::Drop,
                    };
                    out.reorg = Some(ReorgOrder { depth, fate, seed });
                }
                ChainFault::Upgrade => out.upgrades += 1,
            }
        }
        out
    }

    fn paused_at(&self, at: Duration) -> u32 {
        self.engine
            .faults
            .paused_regions(at)
            .iter()
            .filter_map(|r| region_bit(r))
            .fold(0, |bits, b| bits | (1 << b))
    }
}

/// Gauges `/metrics` shows for the chain.
#[derive(Debug, Default, Clone)]
pub struct ChainGauges {
    pub head: Gauge,
    pub pool: Gauge,
    pub reorgs: Gauge,
    pub filters: Gauge,
}

impl ChainGauges {
    /// Register the families on the engine's metrics (before the engine is shared).
    pub fn register(metrics: &mut Metrics) -> Self {
        let g = Self::default();
        metrics.register(
            "boson_block_number",
            "Latest block of the twin's chain",
            g.head.clone(),
        );
        metrics.register(
            "boson_pool_transactions",
            "Transactions waiting to be mined",
            g.pool.clone(),
        );
        metrics.register("boson_reorgs", "Reorgs carried out", g.reorgs.clone());
        metrics.register(
            "boson_log_filters",
            "Installed log and block filters",
            g.filters.clone(),
        );
        g
    }
}

/// The Boson platform.
#[derive(Debug)]
pub struct BosonPlatform {
    pub engine: Arc<Engine>,
    pub boson: Boson,
    /// The meta-transaction relayer (Biconomy's shape): what it sent, its counts.
    pub relayer: super::relayer::Relayer,
    faults: EngineFaults,
    gauges: ChainGauges,
    /// The subgraph's schema (built once) and the last entities it served.
    pub subgraph: Arc<super::subgraph::Subgraph>,
    pub(crate) store_cache: super::subgraph::serve::StoreCache,
    /// The protocol's events as webhooks, and the ledger of their effects.
    pub events: ChainEvents,
}

impl Deref for BosonPlatform {
    type Target = Boson;

    fn deref(&self) -> &Boson {
        &self.boson
    }
}

impl BosonPlatform {
    pub fn new(boson: Boson, engine: Arc<Engine>, gauges: ChainGauges) -> Self {
        Self {
            faults: EngineFaults {
                engine: engine.clone(),
            },
            engine,
            events: ChainEvents::new(&boson.config),
            boson,
            relayer: Default::default(),
            gauges,
            // The schema ships with the twin: failing to build it is a bug, caught by
            // every test that starts a twin.
            subgraph: Arc::new(
                super::subgraph::Subgraph::new().expect("the bundled subgraph schema builds"),
            ),
            store_cache: Default::default(),
        }
    }

    /// The fault rules as the chain sees them.
    pub fn faults(&self) -> &dyn ChainFaults {
        &self.faults
    }

    /// Bring the chain up to now and hand what it noticed to the chain-event
    /// webhooks; the chain's head.
    pub fn pump(&self) -> u64 {
        let now = self.engine.clock.now();
        let chain = self.boson.chain_at(now, &self.faults);
        self.events.pump(&chain, now, self.engine.clock.unix());
        chain.head_number()
    }

    /// A JSON-RPC environment at the engine's current time.
    pub fn env(&self) -> super::rpc::Env<'_> {
        super::rpc::Env {
            boson: &self.boson,
            now: self.engine.clock.now(),
            faults: &self.faults,
        }
    }
}

impl super::ws::Host for BosonPlatform {
    fn boson(&self) -> &Boson {
        &self.boson
    }

    fn now(&self) -> Duration {
        self.engine.clock.now()
    }

    fn faults(&self) -> &dyn ChainFaults {
        &self.faults
    }

    fn real(&self, twin: Duration) -> Duration {
        self.engine.clock.real(twin)
    }

    fn shutdown(&self) -> tokio_util::sync::CancellationToken {
        self.engine.shutdown.clone()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pause {
    regions: Vec<String>,
    #[serde(default = "yes")]
    paused: bool,
}

fn yes() -> bool {
    true
}

impl Platform for BosonPlatform {
    fn name(&self) -> &'static str {
        "boson"
    }

    /// Mine on a ticker, so blocks come (and rules fire) while nobody asks, and
    /// deliver chain events.
    fn start(self: Arc<Self>) {
        tokio::spawn(crate::engine::webhooks::deliver::run(self.clone()));
        let tick = self
            .engine
            .clock
            .real(self.config.block_time.max(Duration::from_millis(100)))
            .max(Duration::from_millis(10));
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(tick);
            loop {
                tokio::select! {
                    () = self.engine.shutdown.cancelled() => break,
                    _ = ticker.tick() => {
                        self.pump();
                    }
                }
            }
        });
    }

    fn reset(&self) {
        let clock = &self.engine.clock;
        self.boson.reset(clock.unix_at(Duration::ZERO), clock.now());
        self.relayer.reset();
        self.events.reset();
    }

    fn oracle(&self) -> Option<serde_json::Value> {
        let mut view = self
            .boson
            .oracle_view(self.engine.clock.now(), &self.faults);
        self.relayer.fill(&mut view.relayer, &self.boson.chain());
        let head = self.pump();
        view.webhooks = Some(ChainWebhooks {
            confirmations: self.events.confirmations,
            registered: self.events.hub.registry().list(events::ORG),
            effects: self.events.counts(head),
        });
        serde_json::to_value(view).ok()
    }

    fn refresh_metrics(&self, _metrics: &Metrics, now: Duration) {
        let chain = self.boson.chain_at(now, &self.faults);
        let g = &self.gauges;
        g.head.set(chain.head_number() as i64);
        g.pool.set(chain.pool_len() as i64);
        g.reorgs.set(chain.stats.reorgs as i64);
        drop(chain);
        let filters = self.boson.filters.lock().map_or(0, |f| f.len());
        g.filters.set(filters as i64);
    }

    fn control_methods(&self, path: &str) -> Option<&'static [Method]> {
        match path {
            "boson/pause" | "boson/upgrade" | "boson/webhooks" | "boson/effects" => {
                Some(&[Method::POST])
            }
            "boson/accounts" => Some(&[Method::GET]),
            _ => None,
        }
    }

    fn control(&self, path: &str, body: &[u8]) -> Result<Reply, ApiError> {
        let now = self.engine.clock.now();
        match path {
            "boson/pause" => {
                let p: Pause = parse_json(body)?;
                let mut bits = 0u32;
                for r in &p.regions {
                    let bit = region_bit(r).ok_or_else(|| {
                        ApiError::field(
                            "regions",
                            format!(
                                "unknown region `{r}`; expected one of {}",
                                super::protocol::REGIONS.join(", ")
                            ),
                        )
                    })?;
                    bits |= 1 << bit;
                }
                self.boson.set_paused(bits, p.paused);
                let paused = self.boson.oracle_view(now, &self.faults).paused;
                Ok(Reply::json(
                    http::StatusCode::OK,
                    &json!({ "paused": paused }),
                ))
            }
            "boson/upgrade" => {
                let mut chain = self.boson.chain_at(now, &self.faults);
                self.boson.announce_upgrade(&mut chain);
                Ok(Reply::json(
                    http::StatusCode::ACCEPTED,
                    &json!({ "upgrade": "a DiamondCut transaction from the owner is in the pool" }),
                ))
            }
            "boson/accounts" => Ok(Reply::json(
                http::StatusCode::OK,
                &self.boson.accounts_json(),
            )),
            "boson/webhooks" => {
                let hook = parse_json(body)?;
                let at = crate::engine::clock::rfc3339(self.engine.clock.unix());
                let created = self.events.hub.registry().create(events::ORG, hook, at)?;
                Ok(Reply::json(http::StatusCode::CREATED, &created))
            }
            "boson/effects" => {
                let r: events::EffectReport = parse_json(body)?;
                events::check_key(&r.effect_of)?;
                let head = self.pump();
                Ok(Reply::json(
                    http::StatusCode::OK,
                    &self.events.report(&r, head),
                ))
            }
            other => Err(ApiError::not_found(format!(
                "control route /_gauntlet/{other}"
            ))),
        }
    }
}

impl crate::engine::webhooks::Host for BosonPlatform {
    fn engine(&self) -> &Engine {
        &self.engine
    }

    fn hub(&self) -> &crate::engine::webhooks::Hub {
        &self.events.hub
    }

    fn effects(&self) -> &crate::engine::oracle::effects::Effects {
        &self.events.effects
    }

    /// Nothing to raise: the ledger counts the deactivation, the registry shows it.
    fn deactivated(&self, _webhook: &str, _last: &crate::engine::webhooks::Event) {}
}
