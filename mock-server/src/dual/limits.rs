//! Dual's rate limits (docs/design.md: event bus 2,000 actions/s where a batch of N
//! costs N; reads, writes, search and webhook management per minute), on the
//! engine's token buckets.

use std::time::Duration;

use super::config::Limits;
use crate::engine::ratelimit::{Buckets, Quota, Shape};

/// Dual's rate-limit groups (docs/design.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    Ebus,
    Reads,
    Writes,
    Search,
    Webhooks,
}

impl Group {
    /// The group's name in the `group` label of `/metrics`.
    pub fn label(self) -> &'static str {
        match self {
            Group::Ebus => "ebus",
            Group::Reads => "reads",
            Group::Writes => "writes",
            Group::Search => "search",
            Group::Webhooks => "webhooks",
        }
    }
}

/// Every bucket of every organization, shaped by the configured limits.
#[derive(Debug)]
pub struct RateLimiter {
    limits: Limits,
    buckets: Buckets<Group>,
}

impl RateLimiter {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            buckets: Buckets::default(),
        }
    }

    /// How a group's buckets are shaped.
    fn shape(&self, group: Group) -> Shape {
        match group {
            Group::Ebus => Shape::per_sec(self.limits.actions_per_sec),
            Group::Reads => Shape::per_min(self.limits.reads_per_min),
            Group::Writes => Shape::per_min(self.limits.writes_per_min),
            Group::Search => Shape::per_min(self.limits.search_per_min),
            Group::Webhooks => Shape::per_min(self.limits.webhooks_per_min),
        }
    }

    /// Take `cost` tokens, or refuse with the wait after which they would be there.
    pub fn charge(
        &self,
        org: &str,
        group: Group,
        cost: u32,
        now: Duration,
        unix_now: f64,
    ) -> Result<Quota, Quota> {
        self.buckets
            .charge(org, group, self.shape(group), cost, now, unix_now)
    }

    /// The bucket as it stands, without charging (for faults injected before the limiter).
    pub fn peek(&self, org: &str, group: Group, now: Duration, unix_now: f64) -> Quota {
        self.buckets
            .peek(org, group, self.shape(group), now, unix_now)
    }

    /// Tokens left per (org, group), for `/metrics`.
    pub fn levels(&self, now: Duration) -> Vec<(String, Group, f64)> {
        self.buckets.levels(now, |g| self.shape(g))
    }

    pub fn reset(&self) {
        self.buckets.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TwinConfig;

    #[test]
    fn a_batch_costs_its_size_and_refills_over_time() {
        let rl = RateLimiter::new(TwinConfig::sandbox("k", "t").limits);
        let t0 = Duration::from_secs(10);
        let q = rl.charge("o", Group::Ebus, 1500, t0, 0.0).expect("fits");
        assert_eq!((q.limit, q.remaining), (2000, 500));
        let refused = rl.charge("o", Group::Ebus, 600, t0, 0.0).expect_err("over");
        assert_eq!(refused.retry_after, Some(1));
        assert_eq!(refused.remaining, 500);
        // 50 ms later, 100 more tokens: 600 fits.
        rl.charge("o", Group::Ebus, 600, t0 + Duration::from_millis(50), 0.0)
            .expect("refilled");
        // Other orgs have their own bucket.
        rl.charge("other", Group::Ebus, 2000, t0, 0.0)
            .expect("own bucket");
    }
}
