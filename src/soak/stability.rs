//! Stability over a long run: figures that must not creep. Each figure sampled
//! every interval (the harness's resident memory and open descriptors, the
//! twin's when it is a process of its own, the fault tape's fill) gets a
//! least-squares line over the judged part of the run (after `settle`, when
//! bounded stores have filled); its growth over that part is judged, and a
//! failure names the slope. Latency drift compares the p99 of the last third of
//! the measured part with the first third's.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::plan::soak::Soak;
use crate::report::IntervalRow;
use crate::verdict::{Check, at_most_with};

/// A figure's line over the judged part of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Growth {
    /// Samples in the judged part.
    pub samples: usize,
    /// The fitted line at the start and at the end of the judged part.
    pub start: f64,
    pub end: f64,
    /// Its slope, per hour.
    pub slope_per_h: f64,
    /// The fitted growth over the judged part: a share of `start` for memory,
    /// a count for descriptors.
    pub growth: f64,
}

/// Latency drift: the last third's p99 against the first third's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Drift {
    pub first_p99_ms: f64,
    pub last_p99_ms: f64,
    pub ratio: f64,
}

/// Everything the stability checks looked at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Stability {
    /// Growth before this (seconds into the schedule) is shown, not judged.
    pub settle_s: f64,
    /// The harness's resident memory, MiB (with the embedded twin, the twin's too).
    pub rss_mb: Option<Growth>,
    pub fds: Option<Growth>,
    /// The allocator's live bytes, MiB (shown, not judged: it tells growth the
    /// heap holds from memory the allocator keeps).
    #[serde(default)]
    pub heap_mb: Option<Growth>,
    /// The twin's own process, when it runs apart (`gauntlet mock`).
    pub twin_rss_mb: Option<Growth>,
    pub twin_fds: Option<Growth>,
    /// Entries on the twin's fault tape (bounded by its capacity: shown, not judged).
    pub tape_entries: Option<Growth>,
    pub latency_drift: Option<Drift>,
    /// The embedded twin runs in the harness's process: its memory is in `rss_mb`.
    pub twin_in_process: bool,
}

/// The least-squares line through `(t, y)`, as (value at `t0`, value at `t1`, slope per second).
fn fit(points: &[(f64, f64)], t0: f64, t1: f64) -> Option<(f64, f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 3 {
        return None;
    }
    let (mt, my) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (t, y)| (a + t / n, b + y / n));
    let (sty, stt) = points.iter().fold((0.0, 0.0), |(a, b), (t, y)| {
        (a + (t - mt) * (y - my), b + (t - mt) * (t - mt))
    });
    if stt <= 0.0 {
        return None;
    }
    let slope = sty / stt;
    let at = |t: f64| my + slope * (t - mt);
    Some((at(t0), at(t1), slope))
}

/// A figure's growth over the rows after `settle_s`; `relative` as a share of its start.
pub fn growth(
    rows: &[IntervalRow],
    settle_s: f64,
    figure: impl Fn(&IntervalRow) -> Option<f64>,
    relative: bool,
) -> Option<Growth> {
    let points: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.end_s >= settle_s)
        .filter_map(|r| Some((r.end_s, figure(r)?)))
        .collect();
    let (t0, t1) = (points.first()?.0, points.last()?.0);
    let (start, end, slope) = fit(&points, t0, t1)?;
    let grown = end - start;
    Some(Growth {
        samples: points.len(),
        start,
        end,
        slope_per_h: slope * 3600.0,
        growth: if relative {
            grown / start.abs().max(1e-9)
        } else {
            grown
        },
    })
}

/// The stability figures of a run.
pub fn figures(
    rows: &[IntervalRow],
    settle_s: f64,
    thirds: &(Histogram<u64>, Histogram<u64>),
    twin_in_process: bool,
) -> Stability {
    let p99 =
        |h: &Histogram<u64>| (!h.is_empty()).then(|| h.value_at_quantile(0.99) as f64 / 1000.0);
    let latency_drift = p99(&thirds.0).zip(p99(&thirds.1)).map(|(a, b)| Drift {
        first_p99_ms: a,
        last_p99_ms: b,
        ratio: b / a.max(1e-3),
    });
    Stability {
        settle_s,
        rss_mb: growth(rows, settle_s, |r| r.rss_mb, true),
        fds: growth(rows, settle_s, |r| r.fds.map(|n| n as f64), false),
        heap_mb: growth(rows, settle_s, |r| r.heap_mb, true),
        twin_rss_mb: growth(rows, settle_s, |r| r.twin_rss_mb, true),
        twin_fds: growth(rows, settle_s, |r| r.twin_fds.map(|n| n as f64), false),
        tape_entries: growth(rows, settle_s, |r| r.tape_entries.map(|n| n as f64), false),
        latency_drift,
        twin_in_process,
    }
}

fn growth_check(
    name: &'static str,
    what: &'static str,
    g: Option<&Growth>,
    limit: f64,
    unit: &str,
    share: bool,
) -> Check {
    let detail = g.map(|g| {
        let (a, b) = (g.start, g.end);
        let grown = if share {
            format!("{:+.1}%", g.growth * 100.0)
        } else {
            format!("{:+.0}", g.growth)
        };
        format!(
            "slope {:+.1} {unit}/h over {} samples ({a:.1} -> {b:.1} {unit}, {grown})",
            g.slope_per_h, g.samples
        )
    });
    at_most_with(name, what, "harness", g.map(|g| g.growth), limit, detail)
}

/// The stability checks against `[soak]`'s limits.
pub fn checks(s: &Stability, soak: &Soak) -> Vec<Check> {
    let mut out = vec![
        growth_check(
            "rss_growth",
            "the harness's resident memory grew over the judged part (a share)",
            s.rss_mb.as_ref(),
            soak.max_rss_growth,
            "MiB",
            true,
        ),
        growth_check(
            "fd_growth",
            "the harness's open descriptors grew over the judged part",
            s.fds.as_ref(),
            soak.max_fd_growth as f64,
            "fds",
            false,
        ),
        growth_check(
            "twin_rss_growth",
            "the twin's resident memory grew over the judged part (a share)",
            s.twin_rss_mb.as_ref(),
            soak.max_twin_rss_growth,
            "MiB",
            true,
        ),
        growth_check(
            "twin_fd_growth",
            "the twin's open descriptors grew over the judged part",
            s.twin_fds.as_ref(),
            soak.max_fd_growth as f64,
            "fds",
            false,
        ),
    ];
    if s.twin_in_process {
        for c in out.iter_mut().filter(|c| c.name.starts_with("twin_")) {
            c.detail = Some("the embedded twin runs in the harness's process: its memory and descriptors are in rss_growth and fd_growth".into());
        }
    }
    let d = s.latency_drift.as_ref();
    out.push(at_most_with(
        "latency_drift",
        "p99 latency of the last third of the measured run over the first third's",
        "client",
        d.map(|d| d.ratio),
        soak.max_latency_drift,
        d.map(|d| format!("{:.1} ms -> {:.1} ms", d.first_p99_ms, d.last_p99_ms)),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Status;

    fn rows(rss: impl Fn(f64) -> f64) -> Vec<IntervalRow> {
        (1..=60)
            .map(|i| {
                let t = f64::from(i);
                IntervalRow {
                    end_s: t,
                    rss_mb: Some(rss(t)),
                    fds: Some(40),
                    ..IntervalRow::default()
                }
            })
            .collect()
    }

    /// Each of the other figures fails on its own leak or drift, naming it.
    #[test]
    fn descriptors_the_twins_memory_and_latency_drift_each_fail_on_their_own() {
        let soak = crate::plan::soak::check(
            Default::default(),
            std::time::Duration::from_secs(60),
            std::time::Duration::ZERO,
        )
        .expect("ok");
        let mut rows = rows(|_| 300.0);
        for (i, r) in rows.iter_mut().enumerate() {
            r.fds = Some(40 + 4 * i as u64); // a descriptor left open every second
            r.twin_rss_mb = Some(500.0 + 2.0 * i as f64); // the twin leaks 2 MiB/s
        }
        let mut first = Histogram::new(2).expect("h");
        let mut last = Histogram::new(2).expect("h");
        first.record_n(10_000, 100).expect("10 ms");
        last.record_n(50_000, 100).expect("50 ms");
        let f = figures(&rows, 30.0, &(first, last), false);
        let c = checks(&f, &soak);
        let status = |n: &str| c.iter().find(|c| c.name == n).map(|c| c.status);
        assert_eq!(status("rss_growth"), Some(Status::Pass));
        assert_eq!(status("fd_growth"), Some(Status::Fail), "{c:?}");
        assert_eq!(status("twin_rss_growth"), Some(Status::Fail));
        assert_eq!(status("latency_drift"), Some(Status::Fail));
        let drift = c.iter().find(|c| c.name == "latency_drift").expect("drift");
        assert!(
            drift
                .detail
                .as_deref()
                .is_some_and(|d| d.starts_with("10.0 ms -> 50")),
            "{drift:?}"
        );
    }

    #[test]
    fn a_leak_fails_with_its_slope_and_a_filling_store_before_settle_does_not() {
        let soak = crate::plan::soak::check(
            Default::default(),
            std::time::Duration::from_secs(60),
            std::time::Duration::ZERO,
        )
        .expect("ok");
        let thirds = (Histogram::new(2).expect("h"), Histogram::new(2).expect("h"));
        // Fills to 300 MiB by 20 s, flat after: settle (30 s) hides the filling.
        let flat = figures(&rows(|t| 100.0 + 10.0 * t.min(20.0)), 30.0, &thirds, false);
        let c = checks(&flat, &soak);
        assert_eq!(c[0].status, Status::Pass, "{:?}", c[0]);
        assert_eq!(c[1].status, Status::Pass, "descriptors flat: {:?}", c[1]);
        assert_eq!(c[4].status, Status::Skipped, "no latency, no drift");
        // 1 MiB/s on 300 MiB: 10% over 30 s.
        let leak = figures(&rows(|t| 300.0 + t), 30.0, &thirds, false);
        let c = checks(&leak, &soak);
        assert_eq!(c[0].status, Status::Fail);
        assert!(
            c[0].detail
                .as_deref()
                .is_some_and(|d| d.contains("+3600.0 MiB/h")),
            "{:?}",
            c[0].detail
        );
    }
}
