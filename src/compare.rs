//! Baselines: one run's figures against an earlier run's (`gauntlet compare`, and
//! `gauntlet run --baseline`). Both sides are `summary.json` files (or run folders
//! holding one); a metric regressed when it is worse than the baseline by more than
//! the tolerance (a share of the baseline) *and* by more than its floor (an
//! absolute amount, so 0.4 ms against 0.3 ms is not a 33% regression, and a count
//! that was 0 and is now 1 is one).

use std::io::Write;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use crate::exit::UsageError;
use crate::report::SCHEMA_VERSION;

/// The tolerance when none is given, percent.
pub const DEFAULT_TOLERANCE_PCT: f64 = 10.0;

/// Which way a metric gets worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Worse {
    Higher,
    Lower,
}

/// A figure compared between runs.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub name: &'static str,
    pub what: &'static str,
    pub worse: Worse,
    /// Differences up to this much (in the metric's unit) never count.
    pub floor: f64,
    read: fn(&Value) -> Option<f64>,
}

fn at(v: &Value, pointer: &str) -> Option<f64> {
    v.pointer(pointer).and_then(Value::as_f64)
}

fn ratio(v: &Value, num: &str, den: &str) -> Option<f64> {
    let d = at(v, den)?;
    (d > 0.0).then(|| at(v, num).map(|n| n / d)).flatten()
}

/// Attempts that did not end in a 2xx, as a share of all attempts.
fn error_share(v: &Value) -> Option<f64> {
    let outcomes = v.pointer("/load/outcomes")?.as_object()?;
    let (mut errors, mut all) = (0.0, 0.0);
    for (k, n) in outcomes {
        let n = n.as_f64()?;
        all += n;
        if !k.starts_with('2') {
            errors += n;
        }
    }
    (all > 0.0).then_some(errors / all)
}

macro_rules! ptr {
    ($p:literal) => {
        |v: &Value| at(v, $p)
    };
}

/// The compared metrics: latency percentiles, achieved rate, error and retry figures.
#[rustfmt::skip]
pub const METRICS: &[Metric] = &[
    Metric { name: "latency_p50_ms", what: "latency p50 from the intended send, ms", worse: Worse::Higher, floor: 1.0, read: ptr!("/latency_ms/p50_ms") },
    Metric { name: "latency_p90_ms", what: "latency p90, ms", worse: Worse::Higher, floor: 1.0, read: ptr!("/latency_ms/p90_ms") },
    Metric { name: "latency_p99_ms", what: "latency p99, ms", worse: Worse::Higher, floor: 2.0, read: ptr!("/latency_ms/p99_ms") },
    Metric { name: "service_p99_ms", what: "service time p99 (from the actual send), ms", worse: Worse::Higher, floor: 2.0, read: ptr!("/service_ms/p99_ms") },
    // Its tail is made of whole backoff steps (the policy doubles up to its 30 s
    // cap), and which step p99 lands on moves from run to run: only a move larger
    // than the cap is a regression; the plan's max_p99_accept gates the level.
    Metric { name: "accept_p99_ms", what: "time to accept p99 (across retries), ms", worse: Worse::Higher, floor: 30_000.0, read: ptr!("/accept_ms/p99_ms") },
    Metric { name: "achieved_rate", what: "applied actions/s over the steady part (twin)", worse: Worse::Lower, floor: 1.0, read: ptr!("/twin/applied_rate") },
    Metric { name: "accepted_share", what: "accepted actions / offered actions", worse: Worse::Lower, floor: 0.0005, read: |v| ratio(v, "/load/accepted", "/load/actions") },
    Metric { name: "error_share", what: "attempts without a 2xx / attempts", worse: Worse::Higher, floor: 0.002, read: error_share },
    Metric { name: "rejected", what: "actions refused with a final 4xx", worse: Worse::Higher, floor: 0.0, read: ptr!("/load/rejected") },
    Metric { name: "gave_up", what: "actions the client gave up on", worse: Worse::Higher, floor: 0.0, read: ptr!("/load/gave_up") },
    Metric { name: "lost", what: "the load's actions never applied (twin, by action identity)", worse: Worse::Higher, floor: 0.0, read: ptr!("/twin/load/lost") },
    Metric { name: "duplicated", what: "the load's actions applied more than once (twin)", worse: Worse::Higher, floor: 0.0, read: ptr!("/twin/load/duplicated") },
    Metric { name: "amplification", what: "requests per batch", worse: Worse::Higher, floor: 0.01, read: ptr!("/load/amplification") },
    Metric { name: "attempts_p99", what: "attempts per batch, p99", worse: Worse::Higher, floor: 1.0, read: ptr!("/attempts/p99") },
    Metric { name: "early_retries", what: "retries sooner than advised (twin)", worse: Worse::Higher, floor: 0.0, read: ptr!("/twin/oracle/backoff/early") },
    Metric { name: "effects_lost", what: "webhook effects lost or undelivered", worse: Worse::Higher, floor: 0.0, read: |v| Some(at(v, "/twin/oracle/effects/lost")? + at(v, "/twin/oracle/effects/undelivered")?) },
    Metric { name: "effects_duplicated", what: "webhook effects performed twice", worse: Worse::Higher, floor: 0.0, read: ptr!("/twin/oracle/effects/duplicated") },
];

/// How one metric compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RowStatus {
    Same,
    Improved,
    Regressed,
    /// One side has no figure: not compared (the runs differ in kind, or the
    /// baseline never had it). A figure the baseline had and the current run lost,
    /// against the same target, is `Regressed`.
    Missing,
}

/// One metric, both sides.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Row {
    pub metric: String,
    pub what: String,
    pub baseline: Option<f64>,
    pub current: Option<f64>,
    /// Change relative to the baseline, percent (none when the baseline is 0).
    pub change_pct: Option<f64>,
    pub worse_when: Worse,
    pub status: RowStatus,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Comparison {
    /// The baseline file.
    pub baseline: String,
    pub tolerance_pct: f64,
    pub rows: Vec<Row>,
    /// Names of the metrics that regressed.
    pub regressed: Vec<String>,
    /// Differences in what was run (plan, seed, rate) that make the figures less comparable.
    pub notes: Vec<String>,
}

impl Comparison {
    pub fn pass(&self) -> bool {
        self.regressed.is_empty()
    }
}

/// Compare `current` with `baseline`.
pub fn compare(
    baseline: &Value,
    current: &Value,
    tolerance_pct: f64,
    baseline_name: &str,
) -> Comparison {
    let same_target = baseline.pointer("/target") == current.pointer("/target");
    let rows: Vec<Row> = METRICS
        .iter()
        .map(|m| {
            judge(
                m,
                (m.read)(baseline),
                (m.read)(current),
                tolerance_pct,
                same_target,
            )
        })
        .collect();
    let regressed = rows
        .iter()
        .filter(|r| r.status == RowStatus::Regressed)
        .map(|r| r.metric.clone())
        .collect();
    let mut notes = Vec::new();
    for (key, what) in [
        ("/plan", "plan"),
        ("/seed", "seed"),
        ("/offered_rate", "offered rate"),
        ("/planned_s", "schedule length"),
        ("/target", "target"),
    ] {
        let (b, c) = (baseline.pointer(key), current.pointer(key));
        if b.is_some() && b != c {
            notes.push(format!(
                "the {what} differs: baseline {}, current {}",
                show(b),
                show(c)
            ));
        }
    }
    Comparison {
        baseline: baseline_name.to_string(),
        tolerance_pct,
        rows,
        regressed,
        notes,
    }
}

fn show(v: Option<&Value>) -> String {
    v.map_or("none".into(), |v| match v {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    })
}

fn judge(
    m: &Metric,
    base: Option<f64>,
    cur: Option<f64>,
    tolerance_pct: f64,
    same_target: bool,
) -> Row {
    let (status, change_pct) = match (base, cur) {
        (Some(b), Some(c)) => {
            let worse_by = match m.worse {
                Worse::Higher => c - b,
                Worse::Lower => b - c,
            };
            let slack = m.floor.max(b.abs() * tolerance_pct / 100.0);
            let status = if worse_by > slack {
                RowStatus::Regressed
            } else if -worse_by > slack {
                RowStatus::Improved
            } else {
                RowStatus::Same
            };
            (status, (b != 0.0).then(|| (c - b) / b.abs() * 100.0))
        }
        // The twin could not be read, or the rate not measured: that is worse.
        (Some(_), None) if same_target => (RowStatus::Regressed, None),
        _ => (RowStatus::Missing, None),
    };
    Row {
        metric: m.name.to_string(),
        what: m.what.to_string(),
        baseline: base,
        current: cur,
        change_pct,
        worse_when: m.worse,
        status,
    }
}

/// Read a summary: a `summary.json` file or a run folder holding one. Its schema
/// version must be the one this gauntlet writes.
pub fn load(path: &Path) -> Result<Value, UsageError> {
    let file: PathBuf = if path.is_dir() {
        path.join("summary.json")
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file)
        .map_err(|e| UsageError(format!("cannot read {}: {e}", file.display())))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        UsageError(format!(
            "{}: not a gauntlet summary (line {}: {e})",
            file.display(),
            e.line()
        ))
    })?;
    match value.get("schema_version").and_then(Value::as_u64) {
        Some(v) if v == u64::from(SCHEMA_VERSION) => Ok(value),
        Some(v) => Err(UsageError(format!(
            "{}: schema_version {v}, but this gauntlet writes {SCHEMA_VERSION}: refresh the baseline (reports/baseline/README.md)",
            file.display()
        ))),
        None => Err(UsageError(format!(
            "{}: not a gauntlet summary (no schema_version)",
            file.display()
        ))),
    }
}

/// Check a tolerance given on the command line.
pub fn check_tolerance(pct: f64) -> Result<f64, UsageError> {
    if pct.is_finite() && (0.0..=1000.0).contains(&pct) {
        Ok(pct)
    } else {
        Err(UsageError(format!(
            "--tolerance {pct}: give a percentage from 0 to 1000"
        )))
    }
}

fn num(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{v:.0}"),
        Some(v) if v.abs() < 1.0 => format!("{v:.4}"),
        Some(v) => format!("{v:.2}"),
    }
}

/// Text for one row's change.
pub fn change_text(r: &Row) -> String {
    match (r.change_pct, r.baseline, r.current) {
        (Some(p), _, _) => format!("{p:+.1}%"),
        (None, Some(_), Some(0.0)) => "0".into(),
        (None, Some(_), Some(c)) => format!("from 0 to {}", num(Some(c))),
        (None, Some(_), None) => "missing".into(),
        _ => "-".into(),
    }
}

/// The comparison as a table.
pub fn print(out: &mut impl Write, c: &Comparison) -> std::io::Result<()> {
    writeln!(
        out,
        "\ncompared with {} (tolerance {}%):",
        c.baseline, c.tolerance_pct
    )?;
    for n in &c.notes {
        writeln!(out, "  note: {n}")?;
    }
    writeln!(
        out,
        "  {:<20} {:>12} {:>12} {:>14}  result",
        "metric", "baseline", "current", "change"
    )?;
    for r in &c.rows {
        let status = match r.status {
            RowStatus::Same => "same",
            RowStatus::Improved => "better",
            RowStatus::Regressed => "REGRESSED",
            RowStatus::Missing => "not compared",
        };
        writeln!(
            out,
            "  {:<20} {:>12} {:>12} {:>14}  {status}",
            r.metric,
            num(r.baseline),
            num(r.current),
            change_text(r)
        )?;
    }
    if c.pass() {
        writeln!(out, "no regression")?;
    } else {
        writeln!(out, "regressed: {}", c.regressed.join(", "))?;
    }
    Ok(())
}

/// `gauntlet compare`: true when nothing regressed.
pub fn run(args: &crate::cli::CompareArgs, out: &mut impl Write) -> anyhow::Result<bool> {
    let tolerance = check_tolerance(args.tolerance)?;
    let baseline = load(&args.baseline)?;
    let current = load(&args.current)?;
    let c = compare(
        &baseline,
        &current,
        tolerance,
        &args.baseline.display().to_string(),
    );
    print(out, &c)?;
    Ok(c.pass())
}
