//! Per-window verdicts: the plan's fault windows and surges, and fixed slices of
//! a long run, each judged on its own, so a failed run says which part of its
//! timeline broke the integration.
//!
//! The client's figures are booked by each batch's *intended* send time (its
//! latency, what it gave up or had refused); the twin's by where the action
//! *first arrived* (lost and duplicated actions, from the ledger) or where the
//! retry arrived (early retries); the storm ratio is the oracle's burst after
//! the window. Each window meets the run's own thresholds.

use std::time::Duration;

use gauntlet_mock::OracleView;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::plan::Thresholds;
use crate::report::FaultWindow;

/// One window's tally on the client's side.
#[derive(Debug, Clone)]
struct Tally {
    actions: u64,
    gave_up: u64,
    rejected: u64,
    latency: Histogram<u64>,
}

impl Tally {
    fn new() -> Self {
        Self {
            actions: 0,
            gave_up: 0,
            rejected: 0,
            // Two significant figures: a window's p99 needs no more, and a day's
            // soak has hundreds of windows.
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 2)
                .expect("static bounds are valid"),
        }
    }
}

/// What the windows hold, booked as batches end.
#[derive(Debug, Default, Clone)]
pub struct Book {
    /// Sorted by start.
    spans: Vec<FaultWindow>,
    tallies: Vec<Tally>,
}

/// What one batch came to, for the window of its intended send.
#[derive(Debug, Clone, Copy)]
pub struct BatchEnd {
    /// Seconds into the schedule of its intended send.
    pub intended_s: f64,
    pub actions: usize,
    /// Its first reply's latency from the intended send, if one came.
    pub first_latency: Option<Duration>,
    pub gave_up: usize,
    pub rejected: usize,
}

impl Book {
    pub fn new(mut spans: Vec<FaultWindow>) -> Self {
        spans.sort_by(|a, b| a.from_s.total_cmp(&b.from_s));
        let tallies = spans.iter().map(|_| Tally::new()).collect();
        Self { spans, tallies }
    }

    pub fn record(&mut self, b: &BatchEnd) {
        for (span, tally) in self.spans.iter().zip(self.tallies.iter_mut()) {
            if span.from_s > b.intended_s {
                break;
            }
            if b.intended_s >= span.to_s {
                continue;
            }
            tally.actions += b.actions as u64;
            tally.gave_up += b.gave_up as u64;
            tally.rejected += b.rejected as u64;
            if let Some(l) = b.first_latency {
                let us = (l.as_micros() as u64).clamp(1, 3_600_000_000);
                let _ = tally.latency.record_n(us, b.actions.max(1) as u64);
            }
        }
    }
}

/// The windows a run is judged by: the plan's fault windows and surges, and
/// slices of `slice` from the start (none when the run is no longer than one).
pub fn spans(
    mut faults: Vec<FaultWindow>,
    duration: Duration,
    slice: Option<Duration>,
) -> Vec<FaultWindow> {
    if let Some(slice) = slice.filter(|s| *s < duration) {
        let (d, w) = (duration.as_secs_f64(), slice.as_secs_f64());
        let mut k = 0;
        while (k as f64) * w < d {
            let from = k as f64 * w;
            faults.push(FaultWindow {
                name: format!("slice {}", k + 1),
                kind: "slice".into(),
                from_s: from,
                to_s: (from + w).min(d),
            });
            k += 1;
        }
    }
    faults.sort_by(|a, b| a.from_s.total_cmp(&b.from_s));
    faults
}

/// One window's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WindowVerdict {
    /// The rule's name, `surge to N/s`, or `slice N`.
    pub name: String,
    /// The fault kind, `surge` or `slice`.
    pub kind: String,
    pub from_s: f64,
    pub to_s: f64,
    /// Actions whose intended send fell in the window.
    pub actions: u64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub gave_up: u64,
    pub rejected: u64,
    /// The twin's: actions that first arrived in the window and were never
    /// applied nor refused; applied more than once; retries sooner than advised.
    pub lost: Option<u64>,
    pub duplicated: Option<u64>,
    pub early_retries: Option<u64>,
    /// Peak over steady request rate just after the window (the oracle's burst).
    pub storm_ratio: Option<f64>,
    pub pass: bool,
    /// What failed, as `check value (limit)`.
    pub failed: Vec<String>,
}

/// The twin's side of the windows: its account and where the schedule's zero
/// fell on its clock.
#[derive(Debug, Clone, Copy)]
pub struct TwinSide<'a> {
    pub oracle: &'a OracleView,
    pub run_id: &'a str,
    pub epoch: Duration,
}

fn ms(h: &Histogram<u64>, q: f64) -> Option<f64> {
    (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1000.0)
}

/// Sum `count` over the twin tenths of a second that fall in `[from_s, to_s)` of the schedule.
fn in_window<T>(
    items: &[T],
    tenth: impl Fn(&T) -> u32,
    count: impl Fn(&T) -> u64,
    epoch: Duration,
    w: &FaultWindow,
) -> u64 {
    let e = epoch.as_secs_f64();
    items
        .iter()
        .filter(|i| {
            let mid = (f64::from(tenth(i)) + 0.5) / 10.0 - e;
            mid >= w.from_s && mid < w.to_s
        })
        .map(count)
        .sum()
}

/// Judge every window against the run's thresholds (`max_storm_ratio` is the
/// only limit of windows alone).
pub fn judge(
    book: &Book,
    t: &Thresholds,
    max_storm_ratio: Option<f64>,
    twin: Option<TwinSide<'_>>,
) -> Vec<WindowVerdict> {
    book.spans
        .iter()
        .zip(&book.tallies)
        .map(|(w, tally)| judge_one(w, tally, t, max_storm_ratio, twin))
        .collect()
}

impl Book {
    /// The client's verdict on the window that ended last by `now_s` (for the
    /// progress line; the twin's figures come at the end).
    pub fn last_ended(&self, now_s: f64, t: &Thresholds) -> Option<WindowVerdict> {
        let (w, tally) = self
            .spans
            .iter()
            .zip(&self.tallies)
            .filter(|(w, _)| w.to_s <= now_s)
            .max_by(|a, b| a.0.to_s.total_cmp(&b.0.to_s))?;
        Some(judge_one(w, tally, t, None, None))
    }
}

fn judge_one(
    w: &FaultWindow,
    tally: &Tally,
    t: &Thresholds,
    max_storm_ratio: Option<f64>,
    twin: Option<TwinSide<'_>>,
) -> WindowVerdict {
    let twin_counts = twin.map(|tw| {
        let seconds = tw
            .oracle
            .run_seconds
            .get(tw.run_id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let lost = in_window(seconds, |s| s.tenth, |s| u64::from(s.lost), tw.epoch, w);
        let dup = in_window(
            seconds,
            |s| s.tenth,
            |s| u64::from(s.duplicated),
            tw.epoch,
            w,
        );
        let early = in_window(
            &tw.oracle.backoff.early_seconds,
            |s| s.tenth,
            |s| s.early,
            tw.epoch,
            w,
        );
        let from_ms = (tw.epoch.as_secs_f64() + w.from_s) * 1e3;
        let storm = tw
            .oracle
            .bursts
            .iter()
            .find(|b| b.rule == w.name && (b.window_start_ms as f64 - from_ms).abs() < 1000.0)
            .map(|b| b.ratio);
        (lost, dup, early, storm)
    });
    let mut v = WindowVerdict {
        name: w.name.clone(),
        kind: w.kind.clone(),
        from_s: w.from_s,
        to_s: w.to_s,
        actions: tally.actions,
        latency_p50_ms: ms(&tally.latency, 0.5),
        latency_p99_ms: ms(&tally.latency, 0.99),
        gave_up: tally.gave_up,
        rejected: tally.rejected,
        lost: twin_counts.map(|c| c.0),
        duplicated: twin_counts.map(|c| c.1),
        early_retries: twin_counts.map(|c| c.2),
        storm_ratio: twin_counts.and_then(|c| c.3),
        pass: true,
        failed: Vec::new(),
    };
    check_window(&mut v, t, max_storm_ratio);
    v
}

fn check_window(v: &mut WindowVerdict, t: &Thresholds, max_storm_ratio: Option<f64>) {
    let mut fail = |name: &str, value: String, limit: String| {
        v.failed.push(format!("{name} {value} (limit {limit})"))
    };
    let count = |value: Option<u64>, max: Option<u64>| value.zip(max).filter(|(v, m)| v > m);
    let duration = |value: Option<f64>, max: Option<Duration>| {
        value.zip(max).filter(|(v, m)| *v > m.as_secs_f64() * 1e3)
    };
    for (name, value, max) in [
        ("lost", v.lost, t.max_lost),
        ("duplicated", v.duplicated, t.max_duplicated),
        ("early_retries", v.early_retries, t.max_early_retries),
        ("gave_up", Some(v.gave_up), t.max_gave_up),
        ("rejected", Some(v.rejected), t.max_rejected),
    ] {
        if let Some((v, m)) = count(value, max) {
            fail(name, v.to_string(), format!("<= {m}"));
        }
    }
    for (name, value, max) in [
        ("latency_p50_ms", v.latency_p50_ms, t.max_p50_latency),
        ("latency_p99_ms", v.latency_p99_ms, t.max_p99_latency),
    ] {
        if let Some((v, m)) = duration(value, max) {
            fail(
                name,
                format!("{v:.1}"),
                format!("<= {:.1}", m.as_secs_f64() * 1e3),
            );
        }
    }
    if let Some((r, m)) = v.storm_ratio.zip(max_storm_ratio).filter(|(r, m)| r > m) {
        fail("storm_ratio", format!("{r:.2}"), format!("<= {m}"));
    }
    v.pass = v.failed.is_empty();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(name: &str, from_s: f64, to_s: f64) -> FaultWindow {
        FaultWindow {
            name: name.into(),
            kind: "status".into(),
            from_s,
            to_s,
        }
    }

    #[test]
    fn slices_cover_the_run_and_batches_count_where_they_were_meant_to_go() {
        let s = spans(
            vec![w("outage", 12.0, 14.0)],
            Duration::from_secs(25),
            Some(Duration::from_secs(10)),
        );
        let names: Vec<&str> = s.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["slice 1", "slice 2", "outage", "slice 3"]);
        assert_eq!(s[3].to_s, 25.0);
        let mut book = Book::new(s);
        let end = |intended_s, gave_up| BatchEnd {
            intended_s,
            actions: 10,
            first_latency: Some(Duration::from_millis(5)),
            gave_up,
            rejected: 0,
        };
        book.record(&end(1.0, 0));
        book.record(&end(13.0, 10));
        let t = Thresholds {
            max_gave_up: Some(0),
            ..Thresholds::default()
        };
        let v = judge(&book, &t, None, None);
        let by = |n: &str| v.iter().find(|w| w.name == n).expect("window");
        assert!(by("slice 1").pass && by("slice 1").actions == 10);
        assert!(!by("outage").pass, "{:?}", by("outage"));
        assert!(!by("slice 2").pass, "the slice around the outage fails too");
        assert!(by("slice 3").pass && by("slice 3").actions == 0);
        assert_eq!(by("outage").failed, ["gave_up 10 (limit <= 0)"]);
        assert_eq!(by("outage").lost, None, "no twin, no twin figures");
    }
}
