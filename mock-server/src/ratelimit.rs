//! Token buckets per organization and rate-limit group (docs/design.md: event bus 2,000
//! actions/s where a batch of N costs N; reads, writes, search and webhook
//! management per minute).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::config::Limits;

/// Dual's rate-limit groups (docs/design.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    Ebus,
    Reads,
    Writes,
    Search,
    Webhooks,
}

/// What the headers say after a charge (or a refusal).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    /// `X-RateLimit-Limit`: the bucket's size (actions per second, or requests per minute).
    pub limit: u32,
    /// `X-RateLimit-Remaining`.
    pub remaining: u32,
    /// `X-RateLimit-Reset`: Unix second at which the bucket is full again (or, on a
    /// refusal, at which the request would fit).
    pub reset_unix: u64,
    /// `Retry-After` seconds, on a refusal.
    pub retry_after: Option<u64>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Duration,
}

/// Every bucket of every organization.
#[derive(Debug)]
pub struct RateLimiter {
    limits: Limits,
    buckets: Mutex<HashMap<(String, Group), Bucket>>,
}

impl RateLimiter {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// (capacity, refill per second) of a group.
    fn shape(&self, group: Group) -> (f64, f64) {
        let per_min = |n: u32| (f64::from(n), f64::from(n) / 60.0);
        match group {
            Group::Ebus => (
                f64::from(self.limits.actions_per_sec),
                f64::from(self.limits.actions_per_sec),
            ),
            Group::Reads => per_min(self.limits.reads_per_min),
            Group::Writes => per_min(self.limits.writes_per_min),
            Group::Search => per_min(self.limits.search_per_min),
            Group::Webhooks => per_min(self.limits.webhooks_per_min),
        }
    }

    fn refill(&self, b: &mut Bucket, group: Group, now: Duration) {
        let (cap, rate) = self.shape(group);
        let dt = now.saturating_sub(b.last).as_secs_f64();
        b.tokens = (b.tokens + dt * rate).min(cap);
        b.last = now.max(b.last);
    }

    fn quota(&self, b: &Bucket, group: Group, unix_now: f64, retry_after: Option<f64>) -> Quota {
        let (cap, rate) = self.shape(group);
        let full_in = (cap - b.tokens) / rate;
        // On a refusal both headers come from one instant: Reset is never earlier
        // than now + Retry-After, so a client honouring either is on time.
        let retry_after = retry_after.map(|s| (s.ceil() as u64).max(1));
        let reset = match retry_after {
            Some(secs) => (unix_now + secs as f64).ceil(),
            None => (unix_now + full_in).ceil(),
        };
        Quota {
            limit: cap as u32,
            remaining: b.tokens.floor().max(0.0) as u32,
            reset_unix: reset as u64,
            retry_after,
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
        let (cap, rate) = self.shape(group);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let b = buckets.entry((org.to_string(), group)).or_insert(Bucket {
            tokens: cap,
            last: now,
        });
        self.refill(b, group, now);
        let cost = f64::from(cost);
        if b.tokens + 1e-9 >= cost {
            b.tokens -= cost;
            Ok(self.quota(b, group, unix_now, None))
        } else {
            let wait = (cost - b.tokens) / rate;
            Err(self.quota(b, group, unix_now, Some(wait)))
        }
    }

    /// The bucket as it stands, without charging (for faults injected before the limiter).
    pub fn peek(&self, org: &str, group: Group, now: Duration, unix_now: f64) -> Quota {
        let (cap, _) = self.shape(group);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let b = buckets.entry((org.to_string(), group)).or_insert(Bucket {
            tokens: cap,
            last: now,
        });
        self.refill(b, group, now);
        self.quota(b, group, unix_now, None)
    }

    /// Tokens left per (org, group), for `/metrics`.
    pub fn levels(&self, now: Duration) -> Vec<(String, Group, f64)> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::with_capacity(buckets.len());
        for ((org, group), b) in buckets.iter_mut() {
            self.refill(b, *group, now);
            out.push((org.clone(), *group, b.tokens));
        }
        out
    }

    pub fn reset(&self) {
        self.buckets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
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
