//! Token buckets per organization and group, for any platform's rate limits: a
//! platform names its groups (a type `G`) and says how each is shaped ([`Shape`]);
//! a charge of N costs N tokens. Dual's groups are in `dual::limits`.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

/// How a group's buckets are shaped: how many tokens they hold and how fast the
/// tokens come back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    /// Tokens a full bucket holds (`X-RateLimit-Limit`).
    pub capacity: f64,
    /// Tokens returned per second.
    pub refill_per_sec: f64,
}

impl Shape {
    /// `n` per second, a second's worth at once.
    pub fn per_sec(n: u32) -> Self {
        Self {
            capacity: f64::from(n),
            refill_per_sec: f64::from(n),
        }
    }

    /// `n` per minute, a minute's worth at once.
    pub fn per_min(n: u32) -> Self {
        Self {
            capacity: f64::from(n),
            refill_per_sec: f64::from(n) / 60.0,
        }
    }
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

/// Every bucket of every organization, keyed by group `G`. The caller passes each
/// group's [`Shape`]; a group must keep one shape for the buckets' whole life.
#[derive(Debug)]
pub struct Buckets<G> {
    buckets: Mutex<HashMap<(String, G), Bucket>>,
}

impl<G> Default for Buckets<G> {
    fn default() -> Self {
        Self {
            buckets: Mutex::new(HashMap::new()),
        }
    }
}

fn refill(b: &mut Bucket, shape: Shape, now: Duration) {
    let dt = now.saturating_sub(b.last).as_secs_f64();
    b.tokens = (b.tokens + dt * shape.refill_per_sec).min(shape.capacity);
    b.last = now.max(b.last);
}

fn quota(b: &Bucket, shape: Shape, unix_now: f64, retry_after: Option<f64>) -> Quota {
    let full_in = (shape.capacity - b.tokens) / shape.refill_per_sec;
    // On a refusal both headers come from one instant: Reset is never earlier
    // than now + Retry-After, so a client honouring either is on time.
    let retry_after = retry_after.map(|s| (s.ceil() as u64).max(1));
    let reset = match retry_after {
        Some(secs) => (unix_now + secs as f64).ceil(),
        None => (unix_now + full_in).ceil(),
    };
    Quota {
        limit: shape.capacity as u32,
        remaining: b.tokens.floor().max(0.0) as u32,
        reset_unix: reset as u64,
        retry_after,
    }
}

impl<G: Copy + Eq + Hash> Buckets<G> {
    /// Take `cost` tokens, or refuse with the wait after which they would be there.
    pub fn charge(
        &self,
        org: &str,
        group: G,
        shape: Shape,
        cost: u32,
        now: Duration,
        unix_now: f64,
    ) -> Result<Quota, Quota> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let b = buckets.entry((org.to_string(), group)).or_insert(Bucket {
            tokens: shape.capacity,
            last: now,
        });
        refill(b, shape, now);
        let cost = f64::from(cost);
        if b.tokens + 1e-9 >= cost {
            b.tokens -= cost;
            Ok(quota(b, shape, unix_now, None))
        } else {
            let wait = (cost - b.tokens) / shape.refill_per_sec;
            Err(quota(b, shape, unix_now, Some(wait)))
        }
    }

    /// The bucket as it stands, without charging (for faults injected before the limiter).
    pub fn peek(&self, org: &str, group: G, shape: Shape, now: Duration, unix_now: f64) -> Quota {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let b = buckets.entry((org.to_string(), group)).or_insert(Bucket {
            tokens: shape.capacity,
            last: now,
        });
        refill(b, shape, now);
        quota(b, shape, unix_now, None)
    }

    /// Tokens left per (org, group), for `/metrics`.
    pub fn levels(&self, now: Duration, shape: impl Fn(G) -> Shape) -> Vec<(String, G, f64)> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::with_capacity(buckets.len());
        for ((org, group), b) in buckets.iter_mut() {
            refill(b, shape(*group), now);
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
