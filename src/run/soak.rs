//! What a run adds for the long haul, in one place for the final summary and
//! for the snapshots taken while it runs: each window's verdict, the stability
//! checks, the target's outages and restarts, and the folder snapshot itself.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use gauntlet_mock::Rule;
use hdrhistogram::Histogram;

use crate::measure::Recorder;
use crate::plan::Plan;
use crate::report::{self, IntervalRow, RunSummary};
use crate::soak::stability;
use crate::soak::target::{self, Restart, TargetEvents};
use crate::soak::windows::{self, TwinSide};
use crate::verdict::{Check, at_most_with};

/// What the long-run figures are computed from.
pub(super) struct Extras<'a> {
    pub plan: &'a Plan,
    pub rec: &'a Recorder,
    pub rows: &'a [IntervalRow],
    /// Latency of the first and last thirds (absent in a snapshot).
    pub thirds: Option<&'a (Histogram<u64>, Histogram<u64>)>,
    pub restarts: &'a [Restart],
    pub twin: Option<TwinSide<'a>>,
    pub twin_in_process: bool,
    /// The twin runs apart and could restart: its restarts are judged.
    pub twin_apart: bool,
}

/// Add the windows, the stability checks and the target's events to `s`.
pub(super) fn add(s: &mut RunSummary, x: Extras<'_>) {
    if let Some(book) = x.rec.windows() {
        s.windows = windows::judge(
            &book,
            &x.plan.window_thresholds(),
            x.plan.soak.max_storm_ratio,
            x.twin,
        );
        s.verdict.add(vec![windows_check(&s.windows)]);
    }
    let outcome = |k: &str| s.load.counts.outcomes.get(k).copied().unwrap_or(0);
    s.target_events = TargetEvents {
        refused: outcome("refused"),
        reset: outcome("reset"),
        timeout: outcome("timeout"),
        outages: target::outages(x.rows),
        restarts: x.restarts.to_vec(),
    };
    // The report's timeline shades the outages with the plan's windows.
    s.fault_windows.extend(
        s.target_events
            .outages
            .iter()
            .map(|o| crate::report::FaultWindow {
                name: "target unreachable".into(),
                kind: "outage".into(),
                from_s: o.from_s,
                to_s: o.to_s,
            }),
    );
    if x.twin_apart || !x.restarts.is_empty() {
        target::judge(
            &mut s.verdict,
            &s.target_events,
            x.plan.soak.max_target_restarts,
        );
    }
    if x.plan.soak.stability {
        let empty = (crate::measure::hist(), crate::measure::hist());
        let f = stability::figures(
            x.rows,
            x.plan.soak.settle.as_secs_f64(),
            x.thirds.unwrap_or(&empty),
            x.twin_in_process,
        );
        s.verdict.add(stability::checks(&f, &x.plan.soak));
        s.stability = Some(f);
    }
}

/// One check over all windows: how many failed, naming the first (a fault
/// window or surge before a slice: it says more about the cause).
fn windows_check(w: &[windows::WindowVerdict]) -> Check {
    let mut failed: Vec<&windows::WindowVerdict> = w.iter().filter(|w| !w.pass).collect();
    failed.sort_by(|a, b| {
        (a.kind == "slice")
            .cmp(&(b.kind == "slice"))
            .then(a.from_s.total_cmp(&b.from_s))
    });
    let detail = failed.first().map(|f| {
        format!(
            "first failed: {} ({:.0}-{:.0} s): {}",
            f.name,
            f.from_s,
            f.to_s,
            f.failed.join(", ")
        )
    });
    at_most_with(
        "windows",
        "windows of the timeline (fault windows, surges, slices) that failed their own checks",
        "client",
        Some(failed.len() as f64),
        0.0,
        detail,
    )
}

/// Everything a snapshot of the folder needs, owned by the snapshot task.
pub(super) struct Saver {
    pub plan: Plan,
    pub target: String,
    pub faults: Vec<Rule>,
    pub users: usize,
    pub room: usize,
    pub run_id: String,
    pub rec: Arc<Recorder>,
    pub started_at: SystemTime,
    pub cpu0: cpu_time::ProcessTime,
    pub dir: PathBuf,
    pub twin_in_process: bool,
    pub twin_apart: bool,
}

impl Saver {
    /// The folder as it is `at_s` into the schedule: `summary.json` so far and
    /// its reports, marked partial (the oracle is read at the end only).
    pub(super) fn save(&self, rows: &[IntervalRow], restarts: &[Restart], at_s: f64) {
        let cpu_s = self
            .cpu0
            .try_elapsed()
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let mut s = super::summarize(
            &self.plan,
            &self.target,
            &self.faults,
            self.users,
            self.room,
            &self.run_id,
            &self.rec,
            None,
            rows.to_vec(),
            self.started_at,
            cpu_s,
            false,
        );
        add(
            &mut s,
            Extras {
                plan: &self.plan,
                rec: &self.rec,
                rows,
                thirds: None,
                restarts,
                twin: None,
                twin_in_process: self.twin_in_process,
                twin_apart: self.twin_apart,
            },
        );
        s.verdict.pass = false;
        s.partial = Some(format!(
            "a snapshot taken {at_s:.0} s into a {:.0} s run that was still under way; the twin's account is read at the end",
            self.plan.run.duration.as_secs_f64()
        ));
        if let Err(e) = report::write_all(&self.dir, &s) {
            tracing::warn!("cannot save the run folder's snapshot: {e:#}");
        }
    }
}
