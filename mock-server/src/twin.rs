//! The composition root: build the engine and the platforms on it, and route each
//! request to the engine's control API, `/metrics`, or the platform whose path it is.
//!
//! # Adding a platform (Boson)
//!
//! 1. Give it a struct holding `Arc<Engine>` and its state (as [`Dual`] does),
//!    implement `engine::platform::Platform` for it, add a field here, build it in
//!    [`Twin::new`] and push it onto `platforms` (that is what lets the control
//!    API reset it and read its oracle section, `/metrics` refresh its gauges, and
//!    [`Twin::start`] spawn its background tasks). Metric families of its own are
//!    registered on `engine.metrics` in [`Twin::new`] before the engine is shared.
//! 2. Route its paths in [`Twin::handle`], at the marked place: before Dual, which
//!    takes every path nobody else claims. All platforms share the one port.
//! 3. Its config section: a type next to its code, a field on `TwinConfig`, a check
//!    in `config/file.rs`.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::boson::platform::{BosonPlatform, ChainGauges};
use crate::boson::{Boson, BosonConfig};
use crate::config::TwinConfig;
use crate::dual::Dual;
use crate::engine::oracle::OracleView;
use crate::engine::pipeline::{self, Dropped};
use crate::engine::platform::Platform;
use crate::engine::reply::{Reply, TwinBody};
use crate::engine::{Engine, control};

/// The twin: the engine and every platform on it, one `Arc<Twin>` per server.
#[derive(Debug)]
pub struct Twin {
    /// The configuration the twin was built from, as given.
    pub config: TwinConfig,
    /// What every platform shares: clock, faults and tape, oracle, metrics.
    pub engine: Arc<Engine>,
    /// The Dual platform, reached directly for its routes and by embedding callers.
    pub dual: Arc<Dual>,
    /// The Boson platform: the chain, the protocol, JSON-RPC at `/rpc`.
    pub boson: Arc<BosonPlatform>,
    /// Every platform, for the engine's hooks (reset, oracle, metrics, start).
    platforms: Vec<Arc<dyn Platform>>,
}

impl Twin {
    pub fn new(config: TwinConfig) -> Self {
        let mut engine = Engine::new(config.engine());
        // A platform's own metric families are registered here, while the engine is
        // not yet shared (`engine.metrics.register` takes `&mut`).
        let gauges = ChainGauges::register(&mut engine.metrics);
        let engine = Arc::new(engine);
        let dual = Arc::new(Dual::new(config.dual(), engine.clone()));
        let boson = Arc::new(BosonPlatform::new(
            boson_state(&config.boson, config.seed, &engine),
            engine.clone(),
            gauges,
        ));
        let platforms: Vec<Arc<dyn Platform>> = vec![dual.clone(), boson.clone()];
        Self {
            config,
            engine,
            dual,
            boson,
            platforms,
        }
    }

    /// Every platform on the engine.
    pub fn platforms(&self) -> &[Arc<dyn Platform>] {
        &self.platforms
    }

    /// Start every platform's background tasks (once, before serving).
    pub fn start(&self) {
        for p in &self.platforms {
            p.clone().start();
        }
    }

    /// The oracle's account as of now.
    pub fn oracle_view(&self) -> OracleView {
        self.engine.oracle_view()
    }

    /// Forget all state, counts and tape, the platforms' and the engine's; the rules
    /// stay and their windows restart now. Request numbering restarts too, so a
    /// reset twin replays the same faults.
    pub fn reset(&self) {
        control::reset(&self.engine, &self.platforms);
    }

    /// The hyper service: route one request. `reset` is its connection's flag: set,
    /// a dropped reply ends the connection with a reset (RST).
    pub async fn handle(
        self: Arc<Self>,
        reset: Arc<AtomicBool>,
        req: Request<Incoming>,
    ) -> Result<Response<TwinBody>, Dropped> {
        let path = req.uri().path();
        // The engine's own paths: neither numbered nor faulted.
        if path == "/_gauntlet" || path.starts_with("/_gauntlet/") {
            let (parts, body) = req.into_parts();
            let body = pipeline::read_body(body, self.engine.config.max_body_bytes).await;
            let reply = control::handle(&self.engine, &self.platforms, &parts, body);
            return Ok(reply.into_response());
        }
        if path == "/metrics" && req.method() == Method::GET {
            return Ok(self.metrics().into_response());
        }
        // Each platform's paths, then Dual, which takes every path nobody else claims.
        // Each platform's request future is boxed: hyper moves the service's
        // future by value, and unboxed this one would be the largest of them
        // (kilobytes) copied on every request to any platform.
        if crate::boson::relayer::http::owns(path) {
            let served = crate::boson::relayer::http::Served::Shared;
            let boson = self.boson.clone();
            return Box::pin(crate::boson::relayer::http::handle(
                boson, served, reset, req,
            ))
            .await;
        }
        if crate::boson::api::owns(path) {
            return Box::pin(crate::boson::api::handle(self.boson.clone(), reset, req)).await;
        }
        Box::pin(crate::dual::api::handle(self.dual.clone(), reset, req)).await
    }

    /// `GET /metrics`: each platform refreshes its gauges, then the engine renders.
    fn metrics(&self) -> Reply {
        let engine = &self.engine;
        let now = engine.clock.now();
        for p in &self.platforms {
            p.refresh_metrics(&engine.metrics, now);
        }
        let text = engine
            .metrics
            .render(&engine.oracle.actions(), &engine.oracle.backoff());
        Reply::text(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            text,
        )
    }
}

/// Boson's chain at genesis on the engine's clock. Keys were checked when the
/// configuration was read; should one still not parse, the twin derives its own
/// rather than fail to start, and says so.
fn boson_state(config: &BosonConfig, seed: u64, engine: &Engine) -> Boson {
    let accounts = config.accounts(seed).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "boson keys unusable; using keys derived from the seed");
        let fallback = BosonConfig {
            seller_key: None,
            buyer_keys: None,
            ..config.clone()
        };
        fallback
            .accounts(seed)
            .unwrap_or_else(|_| unreachable!("derived keys always parse"))
    });
    let clock = &engine.clock;
    Boson::new(
        config.clone(),
        accounts,
        clock.unix_at(std::time::Duration::ZERO),
        clock.now(),
    )
}
