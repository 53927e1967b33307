//! gauntlet-mock: a seeded, misbehaving twin of the Dual API with an exactly-once
//! oracle. It knows nothing of the harness: `MockServer::start(config, listener,
//! shutdown)` serves it, and any client can be pointed at it.
//!
//! # Layout
//!
//! - [`server`]: accept loop, connections that can end in a reset, graceful drain.
//! - [`api`]: one request's path through the twin (faults, auth, limits, handler).
//! - [`api::routes`], [`api::handlers`]: the Dual endpoints.
//! - [`control`]: `/_gauntlet/*`, the token-guarded control API.
//! - [`faults`]: fault rules, the seeded decision per request, the fault tape.
//! - [`oracle`]: the exactly-once ledger, server-side backoff grading, bursts.
//! - [`ebus`]: objects, templates, actions. [`idempotency`]: stored replies per key.
//! - [`sequencer`]: batches and checkpoints on the compressible clock.
//! - [`webhooks`]: the webhook registry.
//! - [`auth`]: API keys, JWTs, rotation, scopes. [`ratelimit`]: token buckets.
//! - [`clock`]: the compressible twin clock. [`config`]: `twin.toml`, checked.
//! - [`metrics`]: `/metrics` in Prometheus text. [`error`]: the error envelope.
//! - [`twin`]: the shared state. [`secret`]: strings whose `Debug` is redacted.

pub mod api;
pub mod auth;
pub mod boson;
pub mod clock;
pub mod config;
pub mod control;
pub mod ebus;
pub mod error;
pub mod faults;
pub mod idempotency;
pub mod metrics;
pub mod oracle;
pub mod ratelimit;
pub mod secret;
pub mod sequencer;
pub mod server;
pub mod twin;
pub mod webhooks;

pub use config::{ConfigError, TwinConfig};
pub use faults::{Rule, RuleSpec};
pub use oracle::OracleView;
pub use secret::SecretString;
pub use server::{MockHandle, MockServer};
pub use twin::Twin;

/// A secret as it may appear in logs and reports: its last 4 characters.
pub fn redact(secret: &str) -> String {
    let tail: String = secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if secret.chars().count() <= 8 {
        "…".to_string()
    } else {
        format!("…{tail}")
    }
}
