//! What a run leaves behind in its folder (`reports/<plan>-<UTC time>/`):
//!
//! - `summary.json`: every figure and the verdict, with a schema version; the schema
//!   is derived from [`RunSummary`] and committed as `reports/schema/summary.schema.json`.
//! - `report.html`: one self-contained page, inline SVG plots ([`html`], [`plots`]).
//! - `junit.xml`: a test case per threshold, oracle check and compared metric ([`junit`]).
//! - `summary.md`: a compact table for a CI job summary or a PR comment ([`markdown`]).
//! - `latency.hlog` (written as the run goes, [`crate::snapshots`]), `plan.toml` and
//!   goose's own reports under `goose/`.
//!
//! Every file is rendered from the [`RunSummary`] alone, so what the page shows is
//! what `summary.json` says.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gauntlet_mock::OracleView;
use schemars::JsonSchema;
use serde::Serialize;

use crate::compare::Comparison;
use crate::measure::{AttemptsBar, BackoffPoint, CountSummary, Counts, PercentilePoint, Summary};
use crate::verdict::Verdict;

pub mod boson;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod plots;
pub mod soak;
mod table;

pub use table::print_table;

/// Bumped whenever a field changes meaning or goes away (new fields do not bump it).
pub const SCHEMA_VERSION: u32 = 2;

/// Where the schema is committed, relative to the repository root.
pub const SCHEMA_PATH: &str = "reports/schema/summary.schema.json";

/// The run's figures.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RunSummary {
    pub schema_version: u32,
    pub plan: String,
    pub seed: u64,
    /// `embedded twin`, `twin at URL`, or `URL`.
    pub target: String,
    pub started_at: String,
    pub ended_at: String,
    pub duration_s: f64,
    /// The schedule's length, seconds.
    pub planned_s: f64,
    /// Stopped early (Ctrl-C or SIGTERM): the figures cover what ran.
    pub canceled: bool,
    /// Why these figures do not cover the whole run (a snapshot taken while it
    /// ran, an interrupted run); absent for a whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<String>,
    /// This run was one segment of the plan (`--segment i/n`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<crate::segment::Segment>,
    /// Tags every action of the load (`payload.run`); the twin's account of the
    /// run is under this id. Segments of one plan and seed share it.
    #[serde(default)]
    pub run_id: String,
    /// The segments' folders this run was merged from (`gauntlet merge`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
    pub offered_rate: f64,
    /// Goose users (dispatchers).
    pub users: usize,
    /// Batches in flight at most (the dispatchers' shared room).
    pub max_in_flight: usize,
    pub verdict: Verdict,
    pub load: Load,
    /// Per action: each batch's first-reply latency from its intended send time,
    /// counted once for every action in the batch (schema 2; schema 1 counted it
    /// once per batch, which is `request_latency_ms` now).
    pub latency_ms: Summary,
    /// Per request: each batch's first-reply latency, once.
    pub request_latency_ms: Summary,
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
    /// The plan's surges and windowed faults, seconds into the schedule.
    pub fault_windows: Vec<FaultWindow>,
    /// Percentile distributions, for the plots.
    pub distributions: Distributions,
    /// A uniform sample of retries: advised wait against the client's gap.
    pub backoff_sample: Vec<BackoffPoint>,
    /// The comparison with a baseline, when `--baseline` was given.
    pub baseline: Option<Comparison>,
    pub provenance: Provenance,
    /// The `boson_lifecycle` load, when the plan had `[boson]`.
    #[serde(default)]
    pub boson: Option<crate::load::boson::account::BosonFigures>,
    /// Dual's organization balance, when the twin charges a fee per action.
    #[serde(default)]
    pub dual_balance: Option<DualBalance>,
    /// Each fault window, surge and slice of the timeline, judged on its own.
    #[serde(default)]
    pub windows: Vec<crate::soak::windows::WindowVerdict>,
    /// Memory, descriptors and latency over the run (a long run's checks).
    #[serde(default)]
    pub stability: Option<crate::soak::stability::Stability>,
    /// The target's failures by kind, outages and restarts.
    #[serde(default)]
    pub target_events: crate::soak::target::TargetEvents,
}

/// What the run cost the organization in DUAL tokens, and its runway at that rate.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct DualBalance {
    pub fee_per_action: f64,
    pub initial: f64,
    /// Actions the twin applied and charged (all traffic, the handler's included).
    pub charged_actions: u64,
    pub spent: f64,
    pub remaining: f64,
    pub spent_per_hour: f64,
    /// Days the balance lasts at this run's rate.
    pub runway_days: Option<f64>,
    /// The plan's alert threshold, and whether the balance fell below it.
    pub low: f64,
    pub low_fired: bool,
}

impl RunSummary {
    /// When the harness itself could not send on time: a plain word that the
    /// latency figures hold its own delay, and what to change.
    pub fn bottleneck_note(&self) -> Option<String> {
        let lag = self
            .verdict
            .checks
            .iter()
            .find(|c| c.name == "harness_lag" && c.status == crate::verdict::Status::Fail)?;
        Some(format!(
            "The harness, not the target, was the bottleneck: it sent late (start lag p99 {:.1} ms, limit {}), so the latency figures include its own delay. Raise run.max_in_flight (it was {}) or run.users, lower the rate, or run `gauntlet calibrate` on this machine to see what it can pace.",
            lag.value.unwrap_or_default(),
            lag.limit.trim_start_matches("<= "),
            self.max_in_flight
        ))
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Load {
    #[serde(flatten)]
    pub counts: Counts,
    /// Requests sent per logical batch.
    pub amplification: f64,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TwinFigures {
    /// The load's own actions on the twin: the one `lost`.
    pub load: Option<crate::verdict::LoadAccount>,
    pub oracle: OracleView,
    /// [from, to) seconds of the run where the achieved rate is judged.
    pub steady_window_s: (f64, f64),
    pub applied_rate: Option<f64>,
    /// Faults the twin injected, by kind (its tape's counts).
    pub faults: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Cpu {
    /// The harness's CPU time (user + system) over the run, embedded twin included.
    pub process_s: f64,
    pub per_1000_actions_ms: f64,
}

/// One snapshot interval.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, JsonSchema)]
pub struct IntervalRow {
    pub end_s: f64,
    pub accepted_per_s: f64,
    pub requests: u64,
    pub errors: u64,
    /// Attempts that got no reply (refused, reset, timed out).
    #[serde(default)]
    pub unreachable: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The harness's resident memory (MiB) and open descriptors.
    #[serde(default)]
    pub rss_mb: Option<f64>,
    #[serde(default)]
    pub fds: Option<u64>,
    /// The allocator's live bytes in the harness's process (MiB): what the heap
    /// holds, apart from what the allocator keeps for reuse.
    #[serde(default)]
    pub heap_mb: Option<f64>,
    /// The twin answered its status read (None: no twin).
    #[serde(default)]
    pub twin_up: Option<bool>,
    /// The twin's own process, when it runs apart.
    #[serde(default)]
    pub twin_rss_mb: Option<f64>,
    #[serde(default)]
    pub twin_fds: Option<u64>,
    /// Entries on the twin's fault tape.
    #[serde(default)]
    pub tape_entries: Option<u64>,
}

/// A span of the schedule where the plan disturbs the load.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct FaultWindow {
    /// The rule's name, or `surge`.
    pub name: String,
    /// The fault kind, or `surge`.
    pub kind: String,
    pub from_s: f64,
    pub to_s: f64,
}

#[derive(Debug, Clone, Serialize, JsonSchema, Default)]
pub struct Distributions {
    pub latency: Vec<PercentilePoint>,
    pub service: Vec<PercentilePoint>,
    pub accept: Vec<PercentilePoint>,
    pub backoff_gap: Vec<PercentilePoint>,
    pub attempts: Vec<AttemptsBar>,
}

/// Where the figures came from.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Provenance {
    /// The command line as run.
    pub command: Vec<String>,
    pub gauntlet_version: String,
    pub plan_path: String,
    /// SHA-256 of the plan file as run (it is also saved as `plan.toml`).
    pub plan_sha256: String,
    pub seed: u64,
    pub host: String,
    pub os: String,
    pub started_at: String,
    pub ended_at: String,
}

impl Provenance {
    /// This process, this plan.
    pub fn here(plan_path: &Path, plan_text: &str, seed: u64, started: &str, ended: &str) -> Self {
        use sha2::Digest;
        Self {
            command: redact_args(std::env::args_os().map(|a| a.to_string_lossy().into_owned())),
            gauntlet_version: env!("CARGO_PKG_VERSION").to_string(),
            plan_path: plan_path.display().to_string(),
            plan_sha256: hex::encode(sha2::Sha256::digest(plan_text.as_bytes())),
            seed,
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            started_at: started.to_string(),
            ended_at: ended.to_string(),
        }
    }
}

/// A command line fit for a report: the value of any flag whose name looks like a
/// secret (`key`, `token`, `secret`, `password`, `auth`) is replaced. gauntlet's
/// own flags carry none (secrets come from the environment), but a wrapper's might.
pub fn redact_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    const SECRET: [&str; 5] = ["key", "token", "secret", "password", "auth"];
    let secret = |name: &str| {
        let name = name.to_ascii_lowercase();
        SECRET.iter().any(|s| name.contains(s))
    };
    let (mut out, mut hide_next) = (Vec::new(), false);
    for a in args {
        if std::mem::take(&mut hide_next) {
            out.push("[redacted]".to_string());
            continue;
        }
        if let Some(flag) = a.strip_prefix("--").filter(|f| secret(f)) {
            match flag.split_once('=') {
                Some((name, _)) => {
                    out.push(format!("--{name}=[redacted]"));
                    continue;
                }
                None => hide_next = true,
            }
        }
        out.push(a);
    }
    out
}

/// A check's value for a person: whole numbers bare, others to 3 decimals.
pub fn show(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{v:.0}"),
        Some(v) => format!("{v:.3}"),
    }
}

/// The JSON Schema of `summary.json`, as committed at [`SCHEMA_PATH`].
pub fn schema() -> String {
    let schema = schemars::schema_for!(RunSummary);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// Write every file of the run folder that is rendered from the summary; returns
/// their paths. `summary.json` goes first: if a later file cannot be written,
/// nothing measured is lost.
pub fn write_all(dir: &Path, s: &RunSummary) -> anyhow::Result<Vec<PathBuf>> {
    use anyhow::Context;
    let write = |name: &str, text: String| -> anyhow::Result<PathBuf> {
        let path = dir.join(name);
        crate::soak::save::write_atomic(&path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    };
    let json = serde_json::to_string_pretty(s).context("cannot serialize the summary")?;
    let mut written = vec![write("summary.json", json)?];
    written.push(write("report.html", html::render(s))?);
    written.push(write("junit.xml", junit::render(s)?)?);
    written.push(write("summary.md", markdown::render(s))?);
    Ok(written)
}
