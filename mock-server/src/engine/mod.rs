//! The platform-neutral engine: what every twinned platform shares, and the
//! [`Engine`] that holds it. Nothing here knows Dual or any other platform; a
//! platform reaches back only through the [`platform::Platform`] trait.
//!
//! - [`clock`]: the compressible twin clock. [`config`]: the engine's settings.
//! - [`faults`]: fault rules, the seeded decision per request or delivery, the tape.
//! - [`oracle`]: the exactly-once ledger, backoff grading, spread, bursts, effects.
//! - [`control`]: `/_gauntlet/*`, the token-guarded control API.
//! - [`server`]: accept loop, connections that can end in a reset, graceful drain.
//! - [`pipeline`]: the request pieces every platform's path uses (body, fault
//!   replies, grading, common headers and metrics).
//! - [`reply`]: a handler's `Reply` and the response body. [`error`]: the error envelope.
//! - [`metrics`]: `/metrics` in Prometheus text. [`ratelimit`]: token buckets.
//! - [`idempotency`]: stored replies per key. [`secret`]: redacted strings, new secrets.
//! - [`platform`]: the `Platform` trait, the seam to the platforms above.
//! - [`webhooks`]: registry, signed delivery with retries, for every platform.
//! - [`traces`]: requests that carried a W3C `traceparent`, followable end to end.
//! - [`status`]: this process's instance id, memory, descriptors and tape fill.

pub mod clock;
pub mod config;
pub mod control;
pub mod error;
pub mod faults;
pub mod idempotency;
pub mod metrics;
pub mod oracle;
pub mod pipeline;
pub mod platform;
pub mod ratelimit;
pub mod reply;
pub mod secret;
pub mod server;
pub mod status;
pub mod table;
pub mod traces;
pub mod webhooks;

use std::sync::atomic::{AtomicU64, Ordering};

use tokio_util::sync::CancellationToken;

use clock::Clock;
use config::EngineConfig;
use faults::FaultEngine;
use metrics::Metrics;
use oracle::{Oracle, OracleView};

/// Fault windows reported in the oracle's burst list, at most.
pub const BURST_WINDOWS: usize = 50;

/// The engine's shared state, one per twin, held by every platform in an `Arc`.
#[derive(Debug)]
pub struct Engine {
    pub config: EngineConfig,
    pub clock: Clock,
    pub faults: FaultEngine,
    pub oracle: Oracle,
    pub metrics: Metrics,
    /// Requests that carried a `traceparent`, by trace.
    pub traces: traces::Traces,
    /// Requests numbered in arrival order: the key of each request's random stream.
    seq: AtomicU64,
    /// Webhook deliveries numbered in order, every platform's: the key of each
    /// delivery's random stream.
    delivery_seq: AtomicU64,
    /// Cancelled when the server shuts down: hangs, delays and background tasks end.
    pub shutdown: CancellationToken,
    /// This process: a restart gives another instance id.
    pub identity: status::Identity,
}

impl Engine {
    pub fn new(config: EngineConfig) -> Self {
        Self {
            clock: Clock::new(config.time_scale),
            faults: FaultEngine::new(config.seed, config.faults.clone(), config.tape_capacity),
            oracle: Oracle::new(),
            metrics: Metrics::new(),
            traces: traces::Traces::default(),
            seq: AtomicU64::new(0),
            delivery_seq: AtomicU64::new(0),
            shutdown: CancellationToken::new(),
            identity: status::Identity::new(),
            config,
        }
    }

    /// The next request's number.
    pub fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// The next webhook delivery attempt's number.
    pub fn next_delivery_seq(&self) -> u64 {
        self.delivery_seq.fetch_add(1, Ordering::Relaxed)
    }

    /// This process and its bounded stores, now (`GET /_gauntlet/status`).
    pub fn status(&self) -> status::Status {
        let (tape_entries, tape_capacity) = self.faults.tape.fill();
        status::Status {
            instance: self.identity.instance.clone(),
            uptime_ms: self.identity.started.elapsed().as_millis() as u64,
            rss_bytes: status::rss_bytes(),
            open_fds: status::open_fds(),
            tape_entries: tape_entries as u64,
            tape_capacity: tape_capacity as u64,
        }
    }

    /// The oracle's account as of now.
    pub fn oracle_view(&self) -> OracleView {
        let now = self.clock.now();
        self.oracle
            .view(&self.faults.ended_windows(now, BURST_WINDOWS), now)
    }

    /// Forget the oracle's counts and the tape; the rules stay and their windows
    /// restart now. Request numbering restarts too, so a reset twin replays the same
    /// faults. The platforms' state is theirs to forget ([`platform::Platform::reset`]).
    pub fn reset(&self) {
        self.oracle.reset();
        self.faults.tape.clear();
        self.traces.clear();
        let rules = self.faults.rules().rules.clone();
        self.faults.install(rules, self.clock.now());
        self.seq.store(0, Ordering::Relaxed);
    }
}
