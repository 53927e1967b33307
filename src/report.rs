//! What a run leaves behind today: `summary.json` (every figure and the verdict,
//! with a schema version) and a short table on the terminal. Plots, the HDR interval
//! log readers, JUnit and Markdown join in the report issue.

use std::io::Write;
use std::path::Path;

use gauntlet_mock::OracleView;
use serde::Serialize;

use crate::measure::{CountSummary, Counts, Summary};
use crate::verdict::{Status, Verdict};

/// Bumped whenever a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

/// The run's figures.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub schema_version: u32,
    pub plan: String,
    pub seed: u64,
    /// `embedded twin`, `twin at URL`, or `URL`.
    pub target: String,
    pub started_at: String,
    pub ended_at: String,
    pub duration_s: f64,
    /// Stopped early (Ctrl-C or SIGTERM): the figures cover what ran.
    pub canceled: bool,
    pub offered_rate: f64,
    pub users: usize,
    pub verdict: Verdict,
    pub load: Load,
    pub latency_ms: Summary,
    pub service_ms: Summary,
    pub accept_ms: Summary,
    /// How late users took their slots.
    pub start_lag_ms: Summary,
    pub attempts: CountSummary,
    pub backoff_gap_ms: Summary,
    pub advised_wait_ms: Summary,
    /// The twin's account, when the target is a twin.
    pub twin: Option<TwinFigures>,
    pub cpu: Cpu,
    /// Per snapshot interval: for plots and stability checks.
    pub intervals: Vec<IntervalRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Load {
    #[serde(flatten)]
    pub counts: Counts,
    /// Requests sent per logical batch.
    pub amplification: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TwinFigures {
    pub oracle: OracleView,
    /// [from, to) seconds of the run where the achieved rate is judged.
    pub steady_window_s: (f64, f64),
    pub applied_rate: Option<f64>,
    /// Faults the twin injected, by kind (its tape's counts).
    pub faults: std::collections::BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cpu {
    /// The harness's CPU time (user + system) over the run, embedded twin included.
    pub process_s: f64,
    pub per_1000_actions_ms: f64,
}

/// One snapshot interval.
#[derive(Debug, Clone, Serialize)]
pub struct IntervalRow {
    pub end_s: f64,
    pub accepted_per_s: f64,
    pub requests: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Write `summary.json` into `dir`.
pub fn write_summary(dir: &Path, s: &RunSummary) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(s).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("summary.json"), text)
}

/// The terminal table.
pub fn print_table(out: &mut impl Write, s: &RunSummary, dir: &Path) -> std::io::Result<()> {
    let l = &s.load.counts;
    writeln!(out)?;
    writeln!(
        out,
        "{} against {}: {:.0} s, {:.0} actions/s offered, {} users, seed {}",
        s.plan, s.target, s.duration_s, s.offered_rate, s.users, s.seed
    )?;
    writeln!(
        out,
        "  actions {}  accepted {}  rejected {}  gave up {}  requests {} (x{:.2} per batch)",
        l.actions, l.accepted, l.rejected, l.gave_up, l.requests, s.load.amplification
    )?;
    writeln!(
        out,
        "  latency from intended send: p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms   (service p99 {:.1} ms)",
        s.latency_ms.p50_ms, s.latency_ms.p99_ms, s.latency_ms.max_ms, s.service_ms.p99_ms
    )?;
    if let Some(t) = &s.twin {
        let a = &t.oracle.actions;
        writeln!(
            out,
            "  twin: applied {}  exactly once {}  duplicated {}  lost {}  early retries {}  rate {} actions/s over {:.0}..{:.0} s",
            a.applies,
            a.exactly_once,
            a.duplicated,
            a.lost,
            t.oracle.backoff.early,
            t.applied_rate.map_or("-".into(), |r| format!("{r:.0}")),
            t.steady_window_s.0,
            t.steady_window_s.1
        )?;
    }
    if let Some(t) = s.twin.as_ref().filter(|t| t.oracle.effects.expected > 0) {
        let e = &t.oracle.effects;
        let p99 = e.handler_latency.as_ref().map_or(0.0, |h| h.p99_ms);
        writeln!(
            out,
            "  webhooks: effects due {}  once {}  duplicated {}  lost {}  forgeries accepted {}  slow answers {}  handler p99 {p99:.1} ms",
            e.expected,
            e.exactly_once,
            e.duplicated,
            e.lost + e.undelivered,
            e.accepted_bad_signature + e.accepted_stale_timestamp,
            e.slow_answers
        )?;
    }
    writeln!(
        out,
        "  cpu {:.1} s ({:.2} ms per 1000 actions)",
        s.cpu.process_s, s.cpu.per_1000_actions_ms
    )?;
    writeln!(
        out,
        "\n  {:<22} {:>12}  {:<12} result",
        "check", "value", "limit"
    )?;
    for c in &s.verdict.checks {
        let value = c.value.map_or("-".to_string(), |v| {
            if v.fract() == 0.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.3}")
            }
        });
        let status = match c.status {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::Skipped => "skipped",
        };
        writeln!(
            out,
            "  {:<22} {:>12}  {:<12} {}",
            c.name, value, c.limit, status
        )?;
    }
    writeln!(
        out,
        "\nverdict: {}   {}",
        if s.verdict.pass { "PASS" } else { "FAIL" },
        dir.join("summary.json").display()
    )?;
    Ok(())
}
