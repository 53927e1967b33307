//! gauntlet-mock: a seeded, misbehaving twin of the Dual API with an exactly-once
//! oracle. It knows nothing of the harness: `MockServer::start(config, listener,
//! shutdown)` serves it, and any client can be pointed at it.
//!
//! # Layout
//!
//! Three layers; imports only point down.
//!
//! - [`engine`]: knows no platform. The clock, fault rules and tape, the oracle,
//!   the control API (`/_gauntlet/*`), the server, metrics, token buckets,
//!   idempotency, the error envelope, replies, secrets, the request pieces every
//!   platform's path shares, and [`engine::platform::Platform`], the trait through
//!   which the engine reaches the platforms above it.
//! - [`dual`]: the Dual platform: its routes and handlers ([`dual::api`]), auth,
//!   rate-limit groups, event bus, sequencer, webhooks. It holds an `Arc<Engine>`.
//! - [`boson`]: the Boson Protocol platform: a chain on the twin clock with the
//!   protocol diamond on it, Ethereum JSON-RPC (HTTP and WebSocket), its oracle.
//! - The composition root: [`twin`] builds the engine and the platforms and routes
//!   each request (`/_gauntlet/*` to the control API, `GET /metrics`, then each
//!   platform's paths); [`mock`] is `MockServer::start` and its handle;
//!   [`config`] reads `twin.toml` into the engine's and each platform's sections.

pub mod boson;
pub mod config;
pub mod dual;
pub mod engine;
pub mod mock;
pub mod twin;

pub use config::{ConfigError, TwinConfig};
pub use engine::faults::{Rule, RuleSpec};
pub use engine::oracle::OracleView;
pub use engine::secret::{SecretString, redact};
pub use mock::{MockHandle, MockServer};
pub use twin::Twin;
