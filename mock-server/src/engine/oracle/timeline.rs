//! Arrivals and applied actions per 100 ms of twin time, in a bounded ring.

use std::collections::VecDeque;
use std::time::Duration;

/// Width of a timeline bucket.
pub const BUCKET: Duration = Duration::from_millis(100);
/// Timeline buckets kept: one hour at 100 ms. Bursts are judged within it.
pub const TIMELINE_BUCKETS: usize = 36_000;

#[derive(Debug, Default)]
pub(super) struct Timeline {
    /// Index of the first bucket kept.
    pub(super) first: u64,
    pub(super) requests: VecDeque<u32>,
    pub(super) applied: VecDeque<u32>,
}

impl Timeline {
    pub(super) fn slot(&mut self, at: Duration) -> Option<usize> {
        let idx = (at.as_nanos() / BUCKET.as_nanos()) as u64;
        if idx < self.first {
            return None;
        }
        if idx >= self.first + (self.requests.len() + TIMELINE_BUCKETS) as u64 {
            // A jump (clock advance) past everything kept: start over there.
            self.requests.clear();
            self.applied.clear();
            self.first = idx + 1 - TIMELINE_BUCKETS as u64;
        }
        while idx >= self.first + self.requests.len() as u64 {
            if self.requests.len() == TIMELINE_BUCKETS {
                self.requests.pop_front();
                self.applied.pop_front();
                self.first += 1;
            }
            self.requests.push_back(0);
            self.applied.push_back(0);
        }
        Some((idx - self.first) as usize)
    }

    pub(super) fn range(&self, from: Duration, to: Duration) -> std::ops::Range<usize> {
        let b = |t: Duration| {
            ((t.as_nanos() / BUCKET.as_nanos()) as u64).saturating_sub(self.first) as usize
        };
        b(from).min(self.requests.len())..b(to).min(self.requests.len())
    }
}
