//! `[soak]` in a run plan: what a long run adds. Snapshots of the run folder
//! while it runs, fixed slices of the timeline judged on their own (beside the
//! fault windows and surges), and the stability checks: memory, descriptors and
//! latency that must not creep. Every key has a default that depends on the
//! run's length: a plan longer than [`LONG_RUN`] gets all of it.

use std::time::Duration;

use serde::Deserialize;

/// Plans longer than this are soaks: snapshots and stability checks by default.
pub const LONG_RUN: Duration = Duration::from_secs(600);
/// How often a soak's folder gets its snapshot.
pub const DEFAULT_SAVE_EVERY: Duration = Duration::from_secs(60);
/// The length of the fixed slices of a soak's timeline.
pub const DEFAULT_SLICE: Duration = Duration::from_secs(600);
/// Slices a run may be cut into at most (each keeps a histogram).
pub const MAX_SLICES: usize = 1000;
/// Resident memory may grow by this share over the judged part of the run.
pub const DEFAULT_MAX_RSS_GROWTH: f64 = 0.05;
/// Open descriptors may grow by this many over the judged part of the run.
pub const DEFAULT_MAX_FD_GROWTH: u64 = 64;
/// The last third's p99 latency may be this many times the first third's.
pub const DEFAULT_MAX_LATENCY_DRIFT: f64 = 2.0;

/// `[soak]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoakFile {
    /// How often the folder gets its snapshot; `"0s"` turns them off.
    #[serde(default, with = "humantime_serde")]
    pub save_every: Option<Duration>,
    /// The length of the fixed slices judged on their own; `"0s"` for none.
    #[serde(default, with = "humantime_serde")]
    pub slice: Option<Duration>,
    /// Judge memory, descriptors and latency drift.
    pub stability: Option<bool>,
    /// Growth before this is shown, not judged (default: half the run, at least
    /// the warm-up): bounded stores fill first.
    #[serde(default, with = "humantime_serde")]
    pub settle: Option<Duration>,
    pub max_rss_growth: Option<f64>,
    pub max_twin_rss_growth: Option<f64>,
    pub max_fd_growth: Option<u64>,
    pub max_latency_drift: Option<f64>,
    /// Restarts of the target a run may see and still pass (default 0).
    pub max_target_restarts: Option<u64>,
    /// Peak over steady request rate after a window, per window (not judged by default).
    pub max_storm_ratio: Option<f64>,
    /// Latency limits of each window alone (not judged by default: a fault
    /// window's latency is often the fault's, by design).
    #[serde(default, with = "humantime_serde")]
    pub max_window_p50_latency: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub max_window_p99_latency: Option<Duration>,
    /// Test only: the harness leaks this many MiB a second (proves the RSS check).
    pub test_leak_mib_per_s: Option<f64>,
}

/// `[soak]`, checked, with the defaults for the run's length.
#[derive(Debug, Clone, PartialEq)]
pub struct Soak {
    pub save_every: Option<Duration>,
    pub slice: Option<Duration>,
    pub stability: bool,
    pub settle: Duration,
    pub max_rss_growth: f64,
    pub max_twin_rss_growth: f64,
    pub max_fd_growth: u64,
    pub max_latency_drift: f64,
    pub max_target_restarts: u64,
    pub max_storm_ratio: Option<f64>,
    pub max_window_p50_latency: Option<Duration>,
    pub max_window_p99_latency: Option<Duration>,
    pub test_leak_mib_per_s: f64,
}

/// Check `[soak]` for a run of `duration` with `warmup`; errors name the key.
pub fn check(
    f: SoakFile,
    duration: Duration,
    warmup: Duration,
) -> Result<Soak, (&'static str, String)> {
    let long = duration > LONG_RUN;
    let nonzero = |d: Option<Duration>, default: Option<Duration>| match d {
        Some(d) if d.is_zero() => None,
        Some(d) => Some(d),
        None => default,
    };
    let save_every = nonzero(f.save_every, long.then_some(DEFAULT_SAVE_EVERY));
    if save_every.is_some_and(|d| d < Duration::from_secs(1)) {
        return Err(("save_every", "must be at least 1s (or 0s for none)".into()));
    }
    let slice = nonzero(f.slice, long.then_some(DEFAULT_SLICE));
    if slice.is_some_and(|d| d < Duration::from_secs(1)) {
        return Err(("slice", "must be at least 1s (or 0s for none)".into()));
    }
    if let Some(s) = slice
        && duration.as_secs_f64() / s.as_secs_f64() > MAX_SLICES as f64
    {
        return Err((
            "slice",
            format!("cuts this run into more than {MAX_SLICES} slices: make it longer"),
        ));
    }
    // Half the run, or the warm-up when that is longer (and still inside the run).
    let half = duration / 2;
    let settle = f.settle.unwrap_or(if warmup < duration {
        half.max(warmup)
    } else {
        half
    });
    if settle >= duration {
        return Err((
            "settle",
            "must end before the run does: growth is judged after it".into(),
        ));
    }
    let share = |v: Option<f64>, key: &'static str, default: f64| match v {
        Some(x) if !(x.is_finite() && x >= 0.0) => Err((
            key,
            format!("must be a share of 0 or more (0.05 = 5%), not {x}"),
        )),
        Some(x) => Ok(x),
        None => Ok(default),
    };
    let drift = f.max_latency_drift.unwrap_or(DEFAULT_MAX_LATENCY_DRIFT);
    if !(drift.is_finite() && drift >= 1.0) {
        return Err((
            "max_latency_drift",
            format!("is a ratio of p99s and must be at least 1, not {drift}"),
        ));
    }
    let leak = f.test_leak_mib_per_s.unwrap_or(0.0);
    if !(0.0..=256.0).contains(&leak) {
        return Err(("test_leak_mib_per_s", "must be within 0..=256".into()));
    }
    Ok(Soak {
        save_every,
        slice,
        stability: f.stability.unwrap_or(long),
        settle,
        max_rss_growth: share(f.max_rss_growth, "max_rss_growth", DEFAULT_MAX_RSS_GROWTH)?,
        max_twin_rss_growth: share(
            f.max_twin_rss_growth,
            "max_twin_rss_growth",
            DEFAULT_MAX_RSS_GROWTH,
        )?,
        max_fd_growth: f.max_fd_growth.unwrap_or(DEFAULT_MAX_FD_GROWTH),
        max_latency_drift: drift,
        max_target_restarts: f.max_target_restarts.unwrap_or(0),
        max_storm_ratio: f.max_storm_ratio,
        max_window_p50_latency: f.max_window_p50_latency,
        max_window_p99_latency: f.max_window_p99_latency,
        test_leak_mib_per_s: leak,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn a_long_plan_is_a_soak_and_a_short_one_is_not() {
        let long = check(SoakFile::default(), 30 * MIN, MIN).expect("ok");
        assert_eq!(long.save_every, Some(DEFAULT_SAVE_EVERY));
        assert_eq!(long.slice, Some(DEFAULT_SLICE));
        assert!(long.stability);
        assert_eq!(long.settle, 15 * MIN);
        let short = check(SoakFile::default(), MIN, Duration::from_secs(5)).expect("ok");
        assert_eq!(
            (short.save_every, short.slice, short.stability),
            (None, None, false)
        );
        let warm = check(
            SoakFile::default(),
            Duration::from_secs(5),
            Duration::from_secs(5),
        )
        .expect("a warm-up as long as the run is no error");
        assert_eq!(warm.settle, Duration::from_millis(2500));
    }

    #[test]
    fn bad_keys_are_named() {
        let f = SoakFile {
            max_rss_growth: Some(-1.0),
            ..SoakFile::default()
        };
        assert_eq!(
            check(f, MIN, MIN / 10).map_err(|e| e.0),
            Err("max_rss_growth")
        );
        let f = SoakFile {
            settle: Some(2 * MIN),
            ..SoakFile::default()
        };
        assert_eq!(check(f, MIN, MIN / 10).map_err(|e| e.0), Err("settle"));
        let f = SoakFile {
            save_every: Some(Duration::from_millis(10)),
            ..SoakFile::default()
        };
        assert_eq!(check(f, MIN, MIN / 10).map_err(|e| e.0), Err("save_every"));
    }
}
