//! The open-model pacer: one schedule shared by every goose user. Each batch gets an
//! intended send time such that actions arrive at the plan's rate (surges included)
//! whatever the replies do. A user that takes its slot late does not move the
//! schedule; its lateness is measured, never hidden.
//!
//! The schedule has no zero until every user can take a slot: users report
//! [`Pacer::ready`], the run waits for all of them ([`Pacer::wait_ready`]), then
//! [`Pacer::begin`]s it. Launching the load is never charged to the target.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// One batch to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// The batch's number in the run (names its idempotency keys and payloads).
    pub index: u64,
    /// When it should be sent.
    pub intended: Instant,
    /// Actions in the batch.
    pub size: usize,
}

/// The offered rate over time, in actions per second.
pub trait RateSchedule: Send + Sync {
    fn rate_at(&self, t: Duration) -> f64;
}

impl<F: Fn(Duration) -> f64 + Send + Sync> RateSchedule for F {
    fn rate_at(&self, t: Duration) -> f64 {
        self(t)
    }
}

/// Steps at most when [`Pacer::close`] integrates what the schedule still held.
pub const REMAINING_STEPS: u32 = 100_000;

#[derive(Debug)]
struct State {
    next_at: Duration,
    index: u64,
    rng: StdRng,
}

/// The shared schedule.
pub struct Pacer {
    start: OnceLock<Instant>,
    /// Users ready to take a slot.
    ready: watch::Sender<usize>,
    /// The zero, once begun.
    begun: watch::Sender<Option<Instant>>,
    end: Duration,
    batch: (usize, usize),
    rates: Box<dyn RateSchedule>,
    state: Mutex<State>,
    /// This process's share of the schedule: the slots whose number is `.0`
    /// modulo `.1` (segments of one plan add up to it exactly).
    segment: (u64, u64),
}

impl std::fmt::Debug for Pacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacer")
            .field("end", &self.end)
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

impl Pacer {
    /// Slots from `start` for `duration`, batch sizes uniform in `batch` (seeded).
    pub fn new(
        start: Instant,
        duration: Duration,
        batch: (usize, usize),
        seed: u64,
        rates: impl RateSchedule + 'static,
    ) -> Self {
        let p = Self::unbegun(duration, batch, seed, rates);
        p.begin(start);
        p
    }

    /// A schedule whose zero is set later, by [`Pacer::begin`].
    pub fn unbegun(
        duration: Duration,
        batch: (usize, usize),
        seed: u64,
        rates: impl RateSchedule + 'static,
    ) -> Self {
        Self {
            start: OnceLock::new(),
            ready: watch::Sender::new(0),
            begun: watch::Sender::new(None),
            end: duration,
            batch,
            rates: Box::new(rates),
            state: Mutex::new(State {
                next_at: Duration::ZERO,
                index: 0,
                rng: StdRng::seed_from_u64(seed),
            }),
            segment: (0, 1),
        }
    }

    /// Only segment `index` of `count`: every `count`-th slot of the whole
    /// schedule, from slot `index`. The whole schedule is still drawn (the same
    /// sizes and times in every segment), so the segments partition it exactly.
    pub fn segmented(mut self, index: u64, count: u64) -> Self {
        self.segment = (index, count.max(1));
        self
    }

    /// Set the schedule's zero (once; later calls change nothing) and release the
    /// users waiting in [`Pacer::ready`].
    pub fn begin(&self, start: Instant) {
        let start = *self.start.get_or_init(|| start);
        self.begun.send_replace(Some(start));
    }

    /// A user can take slots now: count it, then wait for the zero. False when
    /// `stop` came first (the user should end).
    pub async fn ready(&self, stop: &CancellationToken) -> bool {
        self.ready.send_modify(|n| *n += 1);
        let mut begun = self.begun.subscribe();
        tokio::select! {
            r = begun.wait_for(Option::is_some) => r.is_ok(),
            _ = stop.cancelled() => false,
        }
    }

    /// Wait until `users` users are ready.
    pub async fn wait_ready(&self, users: usize) {
        let mut ready = self.ready.subscribe();
        let _ = ready.wait_for(|n| *n >= users).await;
    }

    /// Users ready so far.
    pub fn users_ready(&self) -> usize {
        *self.ready.borrow()
    }

    /// The next slot, or None once the schedule has run its duration (or before
    /// it began).
    pub fn next(&self) -> Option<Slot> {
        let start = *self.start.get()?;
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if s.next_at >= self.end {
                return None;
            }
            let size = s.rng.random_range(self.batch.0..=self.batch.1);
            let slot = Slot {
                index: s.index,
                intended: start + s.next_at,
                size,
            };
            let rate = self.rates.rate_at(s.next_at).max(1e-6);
            s.next_at += Duration::from_secs_f64(size as f64 / rate);
            s.index += 1;
            if slot.index % self.segment.1 == self.segment.0 {
                return Some(slot);
            }
        }
    }

    /// The zero, once begun.
    pub fn start(&self) -> Option<Instant> {
        self.start.get().copied()
    }

    /// When the schedule ends, once begun.
    pub fn end(&self) -> Option<Instant> {
        self.start().map(|s| s + self.end)
    }

    /// Close the schedule and say how many actions it still held (never offered):
    /// the offered rate integrated from the next slot to the end, in at most
    /// [`REMAINING_STEPS`] steps, so a stop early in a month-long plan costs
    /// nothing. An estimate for the slots' random sizes; exact for the rate.
    pub fn close(&self) -> u64 {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let from = s.next_at;
        s.next_at = self.end;
        drop(s);
        if from >= self.end {
            return 0;
        }
        let span = self.end - from;
        let step = (span / REMAINING_STEPS).max(Duration::from_millis(1));
        let (mut t, mut total) = (from, 0.0);
        while t < self.end {
            let dt = step.min(self.end - t);
            total += self.rates.rate_at(t).max(0.0) * dt.as_secs_f64();
            t += dt;
        }
        // This segment's share of what is left.
        (total / self.segment.1 as f64).round() as u64
    }

    /// How long the schedule runs.
    pub fn duration(&self) -> Duration {
        self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_offer_the_planned_rate_including_a_surge() {
        let start = Instant::now();
        let rates = |t: Duration| {
            if t >= Duration::from_secs(10) && t < Duration::from_secs(20) {
                2400.0
            } else {
                2000.0
            }
        };
        let p = Pacer::new(start, Duration::from_secs(30), (50, 500), 7, rates);
        let mut per_window = [0usize; 3];
        let mut last = start;
        while let Some(s) = p.next() {
            assert!(s.intended >= last, "slots are in order");
            last = s.intended;
            per_window[((s.intended - start).as_secs() / 10) as usize] += s.size;
        }
        // Offered actions per 10 s window, within one batch of the plan.
        for (i, want) in [20_000.0, 24_000.0, 20_000.0].iter().enumerate() {
            let got = per_window[i] as f64;
            assert!((got - want).abs() <= 500.0, "window {i}: {got} vs {want}");
        }
        assert!(p.next().is_none(), "bounded: no slot after the end");
    }

    #[test]
    fn segments_partition_the_schedule_exactly() {
        let start = Instant::now();
        let all: Vec<Slot> = {
            let p = Pacer::new(start, Duration::from_secs(5), (5, 50), 3, |_| 2000.0);
            std::iter::from_fn(|| p.next()).collect()
        };
        let mut joined: Vec<Slot> = (0..3)
            .flat_map(|i| {
                let p = Pacer::new(start, Duration::from_secs(5), (5, 50), 3, |_| 2000.0)
                    .segmented(i, 3);
                std::iter::from_fn(move || p.next()).collect::<Vec<_>>()
            })
            .collect();
        joined.sort_by_key(|s| s.index);
        assert_eq!(
            joined, all,
            "three segments are the whole schedule, each slot once"
        );
        let one = Pacer::new(start, Duration::from_secs(5), (5, 50), 3, |_| 2000.0).segmented(1, 3);
        let share: usize = std::iter::from_fn(|| one.next()).map(|s| s.size).sum();
        let whole: usize = all.iter().map(|s| s.size).sum();
        assert!(
            (share as f64 - whole as f64 / 3.0).abs() < whole as f64 * 0.05,
            "{share} of {whole}"
        );
    }

    #[tokio::test]
    async fn no_slot_before_the_schedule_begins_and_users_wait_for_it() {
        let p = std::sync::Arc::new(Pacer::unbegun(Duration::from_secs(1), (1, 1), 1, |_| 10.0));
        assert!(p.next().is_none(), "no zero yet");
        let stop = CancellationToken::new();
        let user = {
            let (p, stop) = (p.clone(), stop.clone());
            tokio::spawn(async move { p.ready(&stop).await })
        };
        p.wait_ready(1).await;
        assert_eq!(p.users_ready(), 1);
        let zero = Instant::now();
        p.begin(zero);
        assert!(user.await.expect("the user ends"), "released by begin");
        assert_eq!(p.next().map(|s| s.intended), Some(zero));
        // A stop releases a user that is still waiting.
        let q = Pacer::unbegun(Duration::from_secs(1), (1, 1), 1, |_| 10.0);
        stop.cancel();
        assert!(!q.ready(&stop).await);
    }

    #[test]
    fn closing_counts_what_the_schedule_still_held_and_ends_it() {
        let start = Instant::now();
        let surge = |t: Duration| {
            if t >= Duration::from_secs(5) {
                4000.0
            } else {
                2000.0
            }
        };
        let p = Pacer::new(start, Duration::from_secs(10), (50, 50), 1, surge);
        let held = p.close();
        assert_eq!(held, 5 * 2000 + 5 * 4000);
        assert!(p.next().is_none(), "closed");
        assert_eq!(p.close(), 0);
        // A month-long schedule closes at once, and not before it began.
        let long = Pacer::unbegun(Duration::from_secs(30 * 24 * 3600), (1, 1), 1, |_| 100.0);
        assert_eq!(long.close(), 30 * 24 * 3600 * 100);
    }

    #[test]
    fn one_seed_gives_one_schedule() {
        let start = Instant::now();
        let take = |seed| {
            let p = Pacer::new(start, Duration::from_secs(5), (50, 500), seed, |_| 2000.0);
            std::iter::from_fn(|| p.next())
                .map(|s| s.size)
                .collect::<Vec<_>>()
        };
        assert_eq!(take(1), take(1));
        assert_ne!(take(1), take(2));
    }
}
