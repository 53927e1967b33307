//! The spread of retries that were told the same thing at the same time: the
//! interquartile range of their lateness, per group, summarized over groups.
//!
//! Why: the median lateness over all retries (`over_advice.p50`) cannot tell jitter
//! from a delay every client shares. A fleet that waits `Retry-After + 300 ms` to the
//! millisecond is late, yet comes back as one synchronized storm. What shows jitter is
//! how far apart retries land when they had the same reason to come back at the same
//! moment: a group is the retries whose faulted replies advised the same wait (to the
//! millisecond, advised or the twin's floor), answered the same attempt number, and
//! went out within the same second of twin time. Within a group, lateness is
//! `retry arrival - (faulted reply + advised wait)` (negative when early); its
//! interquartile range is near zero without jitter and about half the jitter's width
//! with uniform jitter (500 ms for Dual's `U(0, 1 s)`).

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::{Advice, histogram};

/// A group's spread is judged only with at least this many retries: fewer give
/// quartiles that say little.
pub const SPREAD_MIN_GROUP: u64 = 8;
/// Faulted replies within one such span of twin time were sent "at the same time".
pub const SPREAD_BUCKET: Duration = Duration::from_secs(1);
/// Lateness samples kept per group; past this a group keeps a uniform sample
/// (reservoir), which holds its quartiles.
pub const SPREAD_SAMPLES: usize = 512;
/// Groups still open at most; past this the oldest is closed.
pub const SPREAD_OPEN_GROUPS: usize = 4096;
/// A group is closed this long (twin time) after its second: every sensible backoff
/// schedule has come back by then. A retry for a closed group starts a new one.
pub const SPREAD_HORIZON: Duration = Duration::from_secs(10 * 60);

/// The spread figure, under `backoff.spread`; absent while no group has
/// [`SPREAD_MIN_GROUP`] retries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Spread {
    /// Groups with at least 8 retries (same advised wait to the ms, same attempt
    /// number, faulted replies within the same second of twin time).
    pub groups: u64,
    /// Retries in those groups.
    pub retries: u64,
    /// Median over those groups (unweighted) of each group's interquartile range of
    /// lateness against the advice: the jitter figure. Near 0 for a fleet without
    /// jitter however late it is; about 500 for `U(0, 1 s)` jitter.
    pub iqr_p50_ms: f64,
    /// The smallest group interquartile range: the most synchronized group.
    pub iqr_min_ms: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    /// First, so the map is ordered oldest first.
    second: u64,
    advised: bool,
    wait_ms: u128,
    attempt: u32,
}

#[derive(Debug, Default)]
struct Group {
    lateness_us: Vec<i64>,
    /// Retries seen, kept or not.
    seen: u64,
}

/// The groups (behind the oracle's backoff lock).
#[derive(Debug)]
pub(super) struct Spreads {
    open: BTreeMap<Key, Group>,
    closed_groups: u64,
    closed_retries: u64,
    /// Interquartile ranges of closed groups, microseconds.
    iqrs: Histogram<u64>,
    iqr_min_us: Option<u64>,
}

impl Default for Spreads {
    fn default() -> Self {
        Self {
            open: BTreeMap::new(),
            closed_groups: 0,
            closed_retries: 0,
            iqrs: histogram(),
            iqr_min_us: None,
        }
    }
}

impl Spreads {
    /// A retry (attempt `attempt`) arrived at `now` after a faulted reply sent at
    /// `sent_at` with `advice`.
    pub(super) fn add(&mut self, sent_at: Duration, advice: Advice, attempt: u32, now: Duration) {
        let second = |t: Duration| (t.as_nanos() / SPREAD_BUCKET.as_nanos()) as u64;
        let horizon = second(SPREAD_HORIZON);
        while let Some((k, _)) = self.open.first_key_value()
            && (k.second + horizon < second(now) || self.open.len() > SPREAD_OPEN_GROUPS)
        {
            if let Some((_, g)) = self.open.pop_first() {
                self.close(g);
            }
        }
        let key = Key {
            second: second(sent_at),
            advised: advice.advised(),
            wait_ms: advice.wait().as_millis(),
            attempt,
        };
        let due = sent_at.saturating_add(advice.wait());
        let micros = |d: Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        let late = if now >= due {
            micros(now - due)
        } else {
            -micros(due - now)
        };
        let g = self.open.entry(key).or_default();
        g.seen += 1;
        if g.lateness_us.len() < SPREAD_SAMPLES {
            g.lateness_us.push(late);
        } else {
            // Reservoir sampling with a fixed mix of the count: deterministic.
            let j = (splitmix(g.seen) % g.seen) as usize;
            if j < SPREAD_SAMPLES {
                g.lateness_us[j] = late;
            }
        }
    }

    fn close(&mut self, mut g: Group) {
        if g.seen < SPREAD_MIN_GROUP {
            return;
        }
        let iqr = iqr_us(&mut g.lateness_us);
        self.closed_groups += 1;
        self.closed_retries += g.seen;
        self.iqrs.saturating_record(iqr);
        self.iqr_min_us = Some(self.iqr_min_us.map_or(iqr, |m| m.min(iqr)));
    }

    pub(super) fn view(&self) -> Option<Spread> {
        let mut iqrs = self.iqrs.clone();
        let (mut groups, mut retries, mut min) =
            (self.closed_groups, self.closed_retries, self.iqr_min_us);
        for g in self.open.values().filter(|g| g.seen >= SPREAD_MIN_GROUP) {
            let iqr = iqr_us(&mut g.lateness_us.clone());
            iqrs.saturating_record(iqr);
            groups += 1;
            retries += g.seen;
            min = Some(min.map_or(iqr, |m| m.min(iqr)));
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(Spread {
            groups,
            retries,
            iqr_p50_ms: ms(iqrs.value_at_quantile(0.5)),
            iqr_min_ms: ms(min?),
        })
    }
}

/// The interquartile range (linear interpolation between order statistics), µs.
fn iqr_us(v: &mut [i64]) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    let q = |p: f64| {
        let h = (v.len() - 1) as f64 * p;
        let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
        v[lo] as f64 + (h - h.floor()) * (v[hi] as f64 - v[lo] as f64)
    };
    (q(0.75) - q(0.25)).round().max(0.0) as u64
}

/// SplitMix64: a well-mixed function of a counter.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;
    const AFTER_1S: Advice = Advice::RetryAfter(Duration::from_secs(1));

    #[test]
    fn groups_need_the_same_advice_attempt_and_second() {
        let mut s = Spreads::default();
        // Sixteen retries, each exactly on its advice, but told four different things.
        for i in 0..16u64 {
            let (wait, attempt) = (MS(1000 + 1000 * (i % 2)), 1 + (i % 4 / 2) as u32);
            let advice = Advice::RetryAfter(wait);
            s.add(MS(0), advice, attempt, wait);
        }
        assert_eq!(s.view(), None, "four groups of four: none qualifies");
        // Eight more, one second later: a fifth group, its own.
        for _ in 0..8 {
            s.add(MS(1000), AFTER_1S, 1, MS(2000));
        }
        let v = s.view().expect("one group");
        assert_eq!((v.groups, v.retries, v.iqr_min_ms), (1, 8, 0.0));
    }

    #[test]
    fn old_groups_close_and_still_count() {
        let mut s = Spreads::default();
        for i in 0..8 {
            s.add(MS(0), AFTER_1S, 1, MS(1000 + i * 100));
        }
        s.add(
            SPREAD_HORIZON * 2,
            AFTER_1S,
            1,
            SPREAD_HORIZON * 2 + MS(1000),
        );
        assert_eq!(s.open.len(), 1, "the first group closed");
        let v = s.view().expect("the closed group");
        assert_eq!((v.groups, v.retries), (1, 8));
        assert!((v.iqr_p50_ms - 350.0).abs() < 1.0, "{v:?}");
    }

    #[test]
    fn a_large_group_keeps_a_bounded_sample() {
        let mut s = Spreads::default();
        for i in 0..5000u64 {
            s.add(MS(0), AFTER_1S, 1, MS(1000 + i % 1000));
        }
        let g = s.open.values().next().expect("one group");
        assert_eq!((g.seen, g.lateness_us.len()), (5000, SPREAD_SAMPLES));
        let v = s.view().expect("one group");
        assert!((v.iqr_p50_ms - 500.0).abs() < 60.0, "{v:?}");
    }
}
