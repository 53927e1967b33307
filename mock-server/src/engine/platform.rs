//! The seam between the engine and a platform twinned on top of it (Dual today,
//! Boson next): what the engine's own endpoints and lifecycle ask of each platform.
//!
//! A platform is a struct that holds an `Arc<Engine>` (its clock, fault engine and
//! tape, oracle, metrics, shutdown token) next to its own state, serves its own
//! paths (the composition root above both routes them), and implements this
//! trait so the engine can reach it without knowing it:
//!
//! - [`Platform::start`]: background tasks at server start (Dual's webhook delivery).
//! - [`Platform::reset`]: `POST /_gauntlet/reset` (the engine forgets its own state too).
//! - [`Platform::oracle`]: a section of `GET /_gauntlet/oracle`, under its name.
//! - [`Platform::refresh_metrics`]: set its gauges before `GET /metrics` renders
//!   (families of its own are added with `Metrics::register` while building).
//! - [`Platform::control_methods`] / [`Platform::control`]: control routes of its
//!   own under `/_gauntlet/` (Dual's `keys/rotate`).

use std::sync::Arc;
use std::time::Duration;

use http::Method;

use super::error::ApiError;
use super::metrics::Metrics;
use super::reply::Reply;

/// A platform, as the engine sees it. Every hook but [`Platform::name`] and
/// [`Platform::reset`] has a default that does nothing.
pub trait Platform: Send + Sync + std::fmt::Debug {
    /// A short lowercase name (`dual`): the key of its oracle section.
    fn name(&self) -> &'static str;

    /// Spawn the platform's background tasks. Called once, before the server
    /// accepts; the tasks end when `engine.shutdown` is cancelled.
    fn start(self: Arc<Self>) {}

    /// Forget all state (the control API's reset); configuration stays.
    fn reset(&self);

    /// The platform's section of `GET /_gauntlet/oracle`, if it has one: it
    /// appears there under [`Platform::name`].
    fn oracle(&self) -> Option<serde_json::Value> {
        None
    }

    /// Bring the platform's gauges up to date at twin time `now`, just before
    /// `/metrics` is rendered.
    fn refresh_metrics(&self, _metrics: &Metrics, _now: Duration) {}

    /// The methods a control route of the platform's takes (`path` is relative to
    /// `/_gauntlet/`), or `None` if the path is not one of its.
    fn control_methods(&self, _path: &str) -> Option<&'static [Method]> {
        None
    }

    /// Answer one of its control routes (token and method already checked).
    fn control(&self, path: &str, _body: &[u8]) -> Result<Reply, ApiError> {
        Err(ApiError::not_found(format!(
            "control route /_gauntlet/{path}"
        )))
    }
}
