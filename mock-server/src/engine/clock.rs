//! The twin's compressible clock: scaled real time plus manual advances.
//!
//! Everything time-based in the twin (rate-limit refill, JWT expiry, key-rotation
//! grace, checkpoint sealing, fault windows, the oracle's gaps) reads this clock,
//! so a test can jump four hours ahead and a soak can run its day faster.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A monotonic twin clock. `now()` is the twin time elapsed since start.
#[derive(Debug)]
pub struct Clock {
    started: Instant,
    /// Unix time (seconds, fractional) at start, so headers can carry Unix times.
    unix_at_start: f64,
    /// Twin seconds per real second; 1.0 is real time.
    scale: f64,
    /// Sum of manual advances (control API `clock/advance`), in nanoseconds: an
    /// atomic, as every request reads the clock.
    advanced: AtomicU64,
}

impl Clock {
    /// A clock that runs `scale` times faster than real time (`scale` > 0).
    pub fn new(scale: f64) -> Self {
        let unix_at_start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        Self {
            started: Instant::now(),
            unix_at_start,
            scale,
            advanced: AtomicU64::new(0),
        }
    }

    /// Twin time elapsed since the clock started.
    pub fn now(&self) -> Duration {
        let elapsed = self.started.elapsed();
        let real = if self.scale == 1.0 {
            elapsed
        } else {
            elapsed.mul_f64(self.scale)
        };
        real + Duration::from_nanos(self.advanced.load(Ordering::Acquire))
    }

    /// Twin time as Unix seconds (for `X-RateLimit-Reset`, JWT `exp`, RFC 3339 stamps).
    pub fn unix(&self) -> f64 {
        self.unix_at(self.now())
    }

    /// The Unix time of a twin instant.
    pub fn unix_at(&self, at: Duration) -> f64 {
        self.unix_at_start + at.as_secs_f64()
    }

    /// Jump ahead; returns the new twin time.
    pub fn advance(&self, by: Duration) -> Duration {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .advanced
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |a| {
                Some(a.saturating_add(nanos))
            });
        self.now()
    }

    /// How much real time a twin duration takes (for sleeps: latency, hangs).
    pub fn real(&self, twin: Duration) -> Duration {
        twin.div_f64(self.scale)
    }

    /// Twin seconds per real second.
    pub fn scale(&self) -> f64 {
        self.scale
    }
}

/// RFC 3339 UTC text for a Unix time (seconds), without pulling in a date crate.
pub fn rfc3339(unix: f64) -> String {
    let secs = unix.max(0.0) as u64;
    let millis = ((unix.max(0.0) - secs as f64) * 1000.0) as u64;
    humantime::format_rfc3339_millis(
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis),
    )
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_now_forward() {
        let clock = Clock::new(1.0);
        let before = clock.now();
        let after = clock.advance(Duration::from_secs(4 * 3600));
        assert!(after >= before + Duration::from_secs(4 * 3600));
    }

    #[test]
    fn rfc3339_is_utc() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00.000Z");
    }
}
