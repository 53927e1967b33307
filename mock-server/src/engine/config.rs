//! The engine's settings ([`EngineConfig`]) and their defaults. The twin file's
//! top-level keys feed them; the twin's config module reads and checks the file.

use std::time::Duration;

use super::faults::Rule;
use super::secret::SecretString;

/// Enough tape for a nightly run's faults; older entries are counted, not kept.
pub const DEFAULT_TAPE_CAPACITY: usize = 100_000;
/// A retry after a faulted reply that gave no advice (a 5xx without `Retry-After`, a
/// reset or dropped connection, a hang the twin caused) is early when it comes back
/// sooner than this. Half of the platform's documented first backoff step (1 s, plus
/// up to 1 s of jitter): a client following the documented schedule clears it with
/// room for timer slack, while one that retries at once or in a tight loop does not.
pub const DEFAULT_MIN_BACKOFF: Duration = Duration::from_millis(500);
/// The largest `min_backoff` accepted: past this it would call a patient client early.
pub const MAX_MIN_BACKOFF: Duration = Duration::from_secs(5 * 60);

/// What the engine needs to know, whatever the platform.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// One seed for every random draw of the run.
    pub seed: u64,
    /// Twin seconds per real second.
    pub time_scale: f64,
    /// The fault rules installed at start.
    pub faults: Vec<Rule>,
    /// Needed in `x-gauntlet-token` for `/_gauntlet/*`; an empty token refuses every call.
    pub control_token: SecretString,
    /// Tape entries kept; older ones are only counted.
    pub tape_capacity: usize,
    /// The least a client must wait after a faulted reply that advised nothing
    /// ([`DEFAULT_MIN_BACKOFF`]); zero leaves such retries ungraded.
    pub min_backoff: Duration,
    /// The largest request body read (413 past it), control calls included.
    pub max_body_bytes: usize,
}
