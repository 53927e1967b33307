//! Backoff policies: how long to wait before a retry, never earlier than the server
//! advised, with jitter so that clients told the same thing do not come back together.

use std::time::Duration;

use rand::Rng;

/// Dual's documented jitter: `+ Math.random() * 1000` ms.
pub const DUAL_JITTER: Duration = Duration::from_secs(1);
/// Jitter added on top of an advised wait that beats the policy's delay: a client
/// that waits exactly `Retry-After` comes back with everyone else told the same.
pub const ADVICE_JITTER: Duration = Duration::from_secs(1);

/// The backoff policies of the reference client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    /// Dual's documented default: `min(base * 2^n, cap) + U(0, 1 s)`.
    Dual,
    /// AWS "full jitter": `U(0, min(cap, base * 2^n))`.
    FullJitter,
    /// AWS "equal jitter": half fixed, half random.
    EqualJitter,
    /// AWS "decorrelated jitter": `min(cap, U(base, previous * 3))`.
    DecorrelatedJitter,
}

impl Backoff {
    pub const NAMES: [&'static str; 4] =
        ["dual", "full_jitter", "equal_jitter", "decorrelated_jitter"];

    pub fn from_name(name: &str) -> Option<Backoff> {
        Some(match name {
            "dual" => Backoff::Dual,
            "full_jitter" => Backoff::FullJitter,
            "equal_jitter" => Backoff::EqualJitter,
            "decorrelated_jitter" => Backoff::DecorrelatedJitter,
            _ => return None,
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backoff::Dual => "dual",
            Backoff::FullJitter => "full_jitter",
            Backoff::EqualJitter => "equal_jitter",
            Backoff::DecorrelatedJitter => "decorrelated_jitter",
        }
    }

    /// The delay after failed attempt `n` (1 for the first), `prev` the last delay.
    /// Without jitter every policy is plain capped exponential backoff.
    pub fn delay(
        &self,
        n: u32,
        prev: Duration,
        base: Duration,
        cap: Duration,
        jitter: bool,
        rng: &mut impl Rng,
    ) -> Duration {
        let exp = base
            .saturating_mul(1u32 << (n.saturating_sub(1)).min(20))
            .min(cap);
        if !jitter {
            return exp;
        }
        let uniform = |rng: &mut dyn rand::RngCore, lo: Duration, hi: Duration| {
            if hi <= lo {
                lo
            } else {
                lo + Duration::from_secs_f64(rng.random::<f64>() * (hi - lo).as_secs_f64())
            }
        };
        match self {
            Backoff::Dual => exp + uniform(rng, Duration::ZERO, DUAL_JITTER),
            Backoff::FullJitter => uniform(rng, Duration::ZERO, exp),
            Backoff::EqualJitter => exp / 2 + uniform(rng, Duration::ZERO, exp / 2),
            Backoff::DecorrelatedJitter => {
                uniform(rng, base, prev.max(base).saturating_mul(3)).min(cap)
            }
        }
    }
}

/// The wait before a retry: the policy's delay, but never earlier than `advised`
/// (plus jitter when the advice wins) unless the client ignores advice.
pub fn wait(
    policy: Duration,
    advised: Option<Duration>,
    respect_advice: bool,
    jitter: bool,
    rng: &mut impl Rng,
) -> Duration {
    match advised {
        Some(a) if respect_advice && a > policy => {
            a + if jitter {
                Duration::from_secs_f64(rng.random::<f64>() * ADVICE_JITTER.as_secs_f64())
            } else {
                Duration::ZERO
            }
        }
        _ => policy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn dual_default_matches_the_documented_formula() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for n in 1..=8 {
            let d = Backoff::Dual.delay(n, S(1), S(1), S(30), true, &mut rng);
            let exp = S(1 << (n - 1)).min(S(30));
            assert!(d >= exp && d < exp + DUAL_JITTER, "attempt {n}: {d:?}");
        }
    }

    #[test]
    fn every_policy_stays_within_its_bounds() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        for policy in [
            Backoff::FullJitter,
            Backoff::EqualJitter,
            Backoff::DecorrelatedJitter,
        ] {
            let mut prev = S(1);
            for n in 1..=10 {
                let d = policy.delay(n, prev, S(1), S(30), true, &mut rng);
                assert!(d <= S(30), "{policy:?} {n}: {d:?}");
                if policy != Backoff::FullJitter {
                    assert!(d >= Duration::from_millis(500), "{policy:?} {n}: {d:?}");
                }
                prev = d;
            }
        }
    }

    #[test]
    fn advice_is_a_floor_with_jitter_on_top() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let w = wait(S(1), Some(S(5)), true, true, &mut rng);
        assert!(w >= S(5) && w < S(6), "{w:?}");
        assert_eq!(wait(S(1), Some(S(5)), true, false, &mut rng), S(5));
        assert_eq!(
            wait(S(1), Some(S(5)), false, true, &mut rng),
            S(1),
            "ignoring advice"
        );
        assert_eq!(
            wait(S(8), Some(S(5)), true, true, &mut rng),
            S(8),
            "the policy already waits longer"
        );
    }
}
