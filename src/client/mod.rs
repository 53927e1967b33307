//! The reference Dual client: submits a batch and sees it through retries the way
//! the platform asks (the same `Idempotency-Key` on every retry of a request, only
//! the failed actions of a partial failure resubmitted, never earlier than
//! `Retry-After`, jittered backoff, bounded attempts and time), and, when the plan
//! asks, an EIP-712 signature on every mutation ([`sign`]). Flawed variants exist
//! to prove that the verdict catches each mistake. The transport is abstract: goose
//! in a load run, plain reqwest in the smoke test and in tests.

pub mod auth;
pub mod backoff;
pub mod batch;
pub mod sign;
pub mod transport;

use std::time::Duration;

pub use auth::{Credentials, Jwt};
pub use backoff::Backoff;
pub use batch::{Batch, BatchOutcome, submit_batch};
pub use sign::{Signer, Signing};
pub use transport::{Reply, Request, Transport, TransportError};

/// The platform's documented cap and base (min(1 s x 2^n, 30 s)).
pub const DEFAULT_BASE: Duration = Duration::from_secs(1);
pub const DEFAULT_CAP: Duration = Duration::from_secs(30);
/// Enough attempts to ride out a 10 s outage with capped exponential backoff.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 10;
/// A batch is given up after this long, however many attempts are left.
pub const DEFAULT_MAX_ELAPSED: Duration = Duration::from_secs(60);
/// One attempt's deadline: a hang becomes a timeout, then a retry.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A deliberate mistake, to prove the verdict catches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    None,
    /// Retries carry no `Idempotency-Key`: a lost reply becomes a duplicate.
    NoIdempotencyKey,
    /// Plain exponential backoff, and a fixed margin over any advice: clients told
    /// the same thing come back together, uniformly late.
    NoJitter,
    /// Waits only its own backoff, even when the server asked for longer.
    IgnoresRetryAfter,
    /// Resubmits the whole batch after a partial failure: duplicates.
    RetriesWholeBatch,
    /// Retries at once.
    NoBackoff,
    /// Never resubmits the failed actions of a partly failed batch: they are lost.
    DropsPartialFailures,
    /// Signs a body other than the one it sends (its EIP-712 `bodyHash` is of the
    /// body with a trailing newline): every batch is refused with 401, rejected.
    BadEip712,
}

impl Flaw {
    pub const NAMES: [&'static str; 8] = [
        "none",
        "no_idempotency_key",
        "no_jitter",
        "ignores_retry_after",
        "retries_whole_batch",
        "no_backoff",
        "drops_partial_failures",
        "bad_eip712",
    ];

    pub fn from_name(name: &str) -> Option<Flaw> {
        Some(match name.replace('-', "_").as_str() {
            "none" => Flaw::None,
            "no_idempotency_key" => Flaw::NoIdempotencyKey,
            "no_jitter" => Flaw::NoJitter,
            "ignores_retry_after" => Flaw::IgnoresRetryAfter,
            "retries_whole_batch" => Flaw::RetriesWholeBatch,
            "no_backoff" => Flaw::NoBackoff,
            "drops_partial_failures" => Flaw::DropsPartialFailures,
            "bad_eip712" => Flaw::BadEip712,
            _ => return None,
        })
    }

    pub fn name(&self) -> &'static str {
        Self::NAMES[*self as usize]
    }
}

/// How the client behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    pub backoff: Backoff,
    pub base: Duration,
    pub cap: Duration,
    pub max_attempts: u32,
    pub max_elapsed: Duration,
    pub timeout: Duration,
    pub flaw: Flaw,
    /// Sign every mutation with EIP-712 (the key is the run's, not the plan's):
    /// for a platform that asks for proof of intent.
    pub eip712: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            backoff: Backoff::Dual,
            base: DEFAULT_BASE,
            cap: DEFAULT_CAP,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            max_elapsed: DEFAULT_MAX_ELAPSED,
            timeout: DEFAULT_TIMEOUT,
            flaw: Flaw::None,
            eip712: false,
        }
    }
}

/// A status that a retry may fix: 408, 429 and every 5xx.
pub fn retryable(status: u16) -> bool {
    status == 408 || status == 429 || status >= 500
}
