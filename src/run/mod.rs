//! `gauntlet run`: one run as data flows (docs/design.md): plan, twin, load, verdict,
//! report. The result is written even when the verdict fails or the twin cannot be
//! read at the end: nothing measured is dropped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use gauntlet_mock::{Rule, SecretString, TwinConfig};

mod boson;
mod load;
mod soak;

use crate::cli::RunArgs;
use crate::exit::UsageError;
use crate::measure::{self, Recorder, Summary};
use crate::plan::Plan;
use crate::report::{
    self, Cpu, Distributions, IntervalRow, Load, Provenance, RunSummary, TwinFigures,
};
use crate::signal::Interrupts;
use crate::target::{REMOTE_RATE_CAP, is_loopback};
use crate::twin_link::{TwinAccount, TwinLink};
use crate::verdict::{self, Evidence, Verdict};

/// The plan `gauntlet run` uses when none is named.
pub const DEFAULT_PLAN: &str = "scenarios/nightly.toml";
/// The client's API key.
pub const API_KEY_VAR: &str = "DUAL_API_KEY";
/// The control token of a twin started with `gauntlet mock`.
pub const CONTROL_TOKEN_VAR: &str = "GAUNTLET_CONTROL_TOKEN";
/// The schedule begins this long after the faults are installed (every user is
/// already waiting for it by then).
pub const LEAD: Duration = Duration::from_millis(200);
/// Goose must have every user ready within this long.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How a run ended.
#[derive(Debug)]
pub struct RunOutcome {
    pub verdict: Verdict,
    pub dir: PathBuf,
    pub summary: RunSummary,
}

/// The figures a run is compared with.
#[derive(Debug)]
struct Baseline {
    path: PathBuf,
    value: serde_json::Value,
    tolerance: f64,
}

/// Where the load goes and what comes with it.
#[derive(Debug)]
pub struct Resolved {
    url: Option<String>,
    link_kind: LinkKind,
    pub key: SecretString,
    /// Signs every mutation (setup, load, the handler's effects) when the plan
    /// asks for EIP-712 (`client.eip712`).
    pub signer: Option<crate::client::Signer>,
    faults: Vec<Rule>,
    description: String,
}

#[derive(Debug)]
enum LinkKind {
    Embedded,
    Remote(SecretString),
    External,
}

/// Run a plan (signals are not watched: see [`run_with`]).
pub async fn run(
    args: RunArgs,
    env: impl Fn(&str) -> Option<String>,
    out: &mut (impl Write + Send),
) -> anyhow::Result<RunOutcome> {
    run_with(args, env, &Interrupts::default(), out).await
}

/// Run a plan, stopped by `interrupts` (the binary's Ctrl-C and SIGTERM).
pub async fn run_with(
    args: RunArgs,
    env: impl Fn(&str) -> Option<String>,
    interrupts: &Interrupts,
    out: &mut (impl Write + Send),
) -> anyhow::Result<RunOutcome> {
    let path = args
        .plan
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PLAN));
    let plan = Plan::load(&path)?
        .with_overrides(args.duration, args.rate, args.seed)
        .map_err(UsageError)?;
    // A bad baseline is a usage error found before any load, not after.
    let tolerance = crate::compare::check_tolerance(
        args.tolerance
            .unwrap_or(crate::compare::DEFAULT_TOLERANCE_PCT),
    )?;
    let baseline = match &args.baseline {
        Some(p) => Some(Baseline {
            path: p.clone(),
            value: crate::compare::load(p)?,
            tolerance,
        }),
        None if args.tolerance.is_some() => {
            return Err(UsageError(
                "--tolerance applies to a comparison: name the baseline with --baseline".into(),
            )
            .into());
        }
        None => None,
    };
    let (plan, resolved) = resolve(plan, &args, &env, out)?;
    let plan = with_segment(plan, &args, &resolved)?;
    if let Some(s) = &resolved.signer {
        writeln!(out, "eip712: every mutation is signed by {}", s.describe())?;
    }
    let dir = run_dir(&args, &plan)?;
    let link = match &resolved.link_kind {
        LinkKind::Embedded => TwinLink::embedded(twin_config(&plan, &resolved)).await?,
        LinkKind::Remote(token) => {
            TwinLink::remote(resolved.url.as_deref().unwrap_or_default(), token.clone())?
        }
        LinkKind::External => TwinLink::None,
    };
    let host = match (&link, &resolved.url) {
        (TwinLink::Embedded(h, _), _) => h.url(),
        (_, Some(u)) => u.clone(),
        (_, None) => unreachable!("a non-embedded target has a URL"),
    };
    let result = load_and_judge(
        &plan, &resolved, &link, &host, &dir, baseline, interrupts, out,
    )
    .await;
    link.stop().await;
    result
}

/// Settle the target, the key and the faults, with the safety rules of docs/design.md.
fn resolve(
    mut plan: Plan,
    args: &RunArgs,
    env: &impl Fn(&str) -> Option<String>,
    out: &mut impl Write,
) -> anyhow::Result<(Plan, Resolved)> {
    let given = |var: &str| {
        env(var)
            .filter(|v| !v.trim().is_empty())
            .map(SecretString::new)
    };
    let signer = match plan.client.eip712 {
        true => Some(crate::client::Signer::from_env_or_generate(env)?),
        false => None,
    };
    let url: Option<String> = match (&args.target, &plan.target) {
        (Some(t), _) => {
            Some(crate::target::check_url(t).map_err(|m| UsageError(format!("--target: {m}")))?)
        }
        (None, Some(t)) if !is_loopback(t) => {
            return Err(UsageError(format!(
                "{}: target.url {t} is not on loopback; name other targets with --target",
                plan.path.display()
            ))
            .into());
        }
        (None, t) => t.clone(),
    };
    let Some(url) = url else {
        let key = given(API_KEY_VAR).unwrap_or_else(|| {
            SecretString::new(gauntlet_mock::engine::secret::random_secret("sk_sandbox_"))
        });
        let faults = plan.faults.clone();
        return Ok((
            plan,
            Resolved {
                url: None,
                link_kind: LinkKind::Embedded,
                key,
                signer,
                faults,
                description: "the embedded twin".into(),
            },
        ));
    };
    let key = given(API_KEY_VAR).ok_or_else(|| {
        UsageError(format!(
            "{API_KEY_VAR} is not set: the client needs the target's API key"
        ))
    })?;
    // A twin: on loopback, or off it when the user says so (--remote-twin: a
    // shared twin in a cluster). The control token goes nowhere else.
    if (is_loopback(&url) || (args.remote_twin && args.target.is_some()))
        && let Some(token) = given(CONTROL_TOKEN_VAR)
    {
        let faults = plan.faults.clone();
        let description = format!("the twin at {url}");
        return Ok((
            plan,
            Resolved {
                url: Some(url),
                link_kind: LinkKind::Remote(token),
                key,
                signer,
                faults,
                description,
            },
        ));
    }
    writeln!(
        out,
        "note: {url} is not a twin with a control token: no faults are installed and there is no oracle"
    )?;
    if !is_loopback(&url) && !args.i_know_this_is_load && plan.peak_rate() > REMOTE_RATE_CAP {
        writeln!(
            out,
            "note: {url} is not on loopback: the rate is capped at {REMOTE_RATE_CAP} actions/s (--i-know-this-is-load lifts it)"
        )?;
        let scale = REMOTE_RATE_CAP / plan.peak_rate();
        plan.run.rate *= scale;
        for s in &mut plan.run.surges {
            s.rate *= scale;
        }
        plan.run.batch = (1, plan.run.batch.1.min(REMOTE_RATE_CAP as usize).max(1));
    }
    Ok((
        plan,
        Resolved {
            url: Some(url.clone()),
            link_kind: LinkKind::External,
            key,
            signer,
            faults: Vec::new(),
            description: url,
        },
    ))
}

/// `--segment i/n`: this process's share of the plan, checked against what
/// segments cannot do yet.
fn with_segment(mut plan: Plan, args: &RunArgs, r: &Resolved) -> anyhow::Result<Plan> {
    let Some(text) = &args.segment else {
        return Ok(plan);
    };
    let mut segment = crate::segment::Segment::parse(text).map_err(UsageError)?;
    if plan.boson.is_some() {
        return Err(UsageError(format!(
            "--segment {text}: a plan with [boson] runs whole (its exchanges are not split yet)"
        ))
        .into());
    }
    segment.shared_twin = matches!(r.link_kind, LinkKind::Remote(_));
    if segment.shared_twin && plan.webhooks.handler != crate::plan::HandlerChoice::Off {
        return Err(UsageError(format!(
            "--segment {text} on a shared twin: set [webhooks] handler = \"off\" (each segment's handler would receive every segment's events)"
        ))
        .into());
    }
    plan.segment = Some(segment);
    Ok(plan)
}

fn run_dir(args: &RunArgs, plan: &Plan) -> anyhow::Result<PathBuf> {
    let dir = args.out.clone().unwrap_or_else(|| {
        let stamp = humantime::format_rfc3339_seconds(SystemTime::now())
            .to_string()
            .replace(['-', ':'], "");
        let seg = plan
            .segment
            .map(|s| format!("-seg{}of{}", s.index, s.count))
            .unwrap_or_default();
        PathBuf::from("reports").join(format!("{}-{stamp}{seg}", plan.name))
    });
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the run folder {}", dir.display()))?;
    std::fs::write(dir.join("plan.toml"), &plan.text)
        .with_context(|| format!("cannot write into {}", dir.display()))?;
    Ok(dir)
}

/// The embedded twin: the sandbox with the run's key, seed and limit; with
/// EIP-712 on, it requires signatures and binds the key to the run's signer.
fn twin_config(plan: &Plan, r: &Resolved) -> TwinConfig {
    let mut config = TwinConfig::sandbox(
        r.key.expose(),
        gauntlet_mock::engine::secret::random_secret("ctl_"),
    );
    config.seed = plan.run.seed;
    config.limits.actions_per_sec = plan.twin_actions_per_sec;
    config.limits.fee_per_action = plan.balance.fee_per_action;
    config.limits.org_balance = plan.balance.initial;
    boson::configure(plan, &mut config);
    if let Some(s) = &r.signer {
        config.auth.require_eip712 = true;
        config.auth.keys[0].signer = Some(s.address());
    }
    config
}

/// What the load phase leaves for the verdict.
struct Loaded {
    users: usize,
    /// Batches in flight at most, as run.
    room: usize,
    /// Tags every action of the load (`payload.run`).
    run_id: String,
    recorder: Arc<Recorder>,
    /// The twin time of the schedule's zero, when there is a twin.
    epoch: Option<Duration>,
    attack: Result<goose::metrics::GooseMetrics, goose::GooseError>,
    canceled: bool,
    /// A second Ctrl-C cut the drain short.
    cut: bool,
    /// The applied rate over the steady part, read when it ended.
    early_rate: Option<f64>,
    intervals: Vec<IntervalRow>,
    /// Latency of the first and last thirds of the measured run.
    thirds: (hdrhistogram::Histogram<u64>, hdrhistogram::Histogram<u64>),
    restarts: Vec<crate::soak::target::Restart>,
    /// On a shared twin: when segment 0 installed the faults (twin ms).
    launch: Option<u64>,
    started_at: SystemTime,
    cpu_s: f64,
    hooks: crate::webhook_run::Hooks,
    boson: Option<Arc<crate::load::boson::Shared>>,
}

#[allow(clippy::too_many_arguments)]
async fn load_and_judge(
    plan: &Plan,
    r: &Resolved,
    link: &TwinLink,
    host: &str,
    dir: &Path,
    baseline: Option<Baseline>,
    interrupts: &Interrupts,
    out: &mut (impl Write + Send),
) -> anyhow::Result<RunOutcome> {
    let mut l = load::load(plan, r, link, host, dir, interrupts, out).await?;
    // Effects may still arrive; a signal now ends the wait (the first, unless the
    // load was already stopped by one; the second always).
    let stopped_before = interrupts.stop.is_cancelled();
    tokio::select! {
        _ = crate::webhook_run::settle(link, &l.hooks, plan.webhooks.settle) => {}
        _ = interrupts.stop.cancelled(), if !stopped_before => l.canceled = true,
        _ = interrupts.cut.cancelled() => {}
    }
    l.cut |= interrupts.cut.is_cancelled();
    if let Some(h) = l.hooks.handler.take() {
        h.stop().await;
    }
    // The fault tape, for diffing two runs of one seed. A failure to read it costs
    // no measurement: it is noted and the run goes on.
    match link.tape().await {
        Ok(Some(tape)) => {
            if let Err(e) = std::fs::write(dir.join("tape.jsonl"), tape) {
                let _ = writeln!(out, "note: cannot write tape.jsonl: {e}");
            }
        }
        Ok(None) => {}
        Err(e) => {
            let _ = writeln!(out, "note: the fault tape could not be read: {e:#}");
        }
    }
    let (steady0, steady1) = plan.steady_window();
    let oracle = match l.epoch {
        Some(e) => link.oracle((e + steady0, e + steady1)).await.map(|a| {
            a.map(|a| TwinAccount {
                applied_rate: l.early_rate.or(a.applied_rate),
                ..a
            })
        }),
        None => Ok(None),
    };
    let account = oracle.as_ref().ok().cloned().flatten();
    let rows = l.intervals.clone();
    let mut summary = summarize(
        plan,
        &r.description,
        &r.faults,
        l.users,
        l.room,
        &l.run_id,
        &l.recorder,
        account.clone(),
        l.intervals,
        l.started_at,
        l.cpu_s,
        l.hooks.on(),
    );
    soak::add(
        &mut summary,
        soak::Extras {
            plan,
            rec: &l.recorder,
            rows: &rows,
            thirds: Some(&l.thirds),
            restarts: &l.restarts,
            // A restarted twin's ledger starts at its restart: no window is judged on it.
            twin: match (&account, l.epoch) {
                (Some(a), Some(epoch)) if l.restarts.is_empty() => {
                    Some(crate::soak::windows::TwinSide {
                        oracle: &a.oracle,
                        run_id: &l.run_id,
                        epoch,
                    })
                }
                _ => None,
            },
            twin_in_process: matches!(link, TwinLink::Embedded(..)),
            twin_apart: matches!(link, TwinLink::Remote { .. }),
        },
    );
    summary.dual_balance = boson::dual_balance(plan, link);
    summary.segment = plan.segment.map(|s| crate::segment::Segment {
        launch: l.launch,
        ..s
    });
    summary.run_id = l.run_id.clone();
    // The totals, histogram by histogram, for `gauntlet merge` (and anyone).
    let (hists, _) = l.recorder.totals();
    if let Err(e) = crate::hlog::write(
        &dir.join(crate::hlog::TOTALS),
        l.started_at,
        Duration::from_secs_f64(summary.duration_s),
        &hists.tagged(),
    ) {
        let _ = writeln!(out, "note: {e:#}");
    }
    if let Some((figures, checks)) = l.boson.as_ref().and_then(|b| boson::judge(plan, b, link)) {
        summary.verdict.add(checks);
        summary.boson = Some(figures);
    }
    if l.canceled {
        summary.canceled = true;
        summary.verdict.interrupted();
        summary.partial = Some(format!(
            "interrupted {:.0} s into a {:.0} s schedule: the figures cover what ran",
            rows.last()
                .map_or(0.0, |r| r.end_s.min(plan.run.duration.as_secs_f64())),
            plan.run.duration.as_secs_f64()
        ));
    }
    if let Err(e) = &oracle {
        summary
            .verdict
            .unavailable("twin_account", format!("the twin could not be read: {e:#}"));
    }
    if let Some(b) = &baseline {
        let current = serde_json::to_value(&summary).context("cannot serialize the summary")?;
        let c = crate::compare::compare(
            &b.value,
            &current,
            b.tolerance,
            &b.path.display().to_string(),
        );
        summary.verdict.compared(c.regressed.len(), b.tolerance);
        summary.baseline = Some(c);
    }
    report::write_all(dir, &summary)?;
    report::print_table(out, &summary, dir)?;
    // The summary is written; now report what went wrong around it.
    if l.cut {
        return Err(crate::exit::Interrupted(dir.display().to_string()).into());
    }
    let harness_errors = summary.load.counts.harness_errors;
    if harness_errors > 0 {
        return Err(crate::exit::HarnessError(format!(
            "{harness_errors} load tasks failed inside the harness (see the log); their actions are counted as cut off, not lost"
        ))
        .into());
    }
    oracle?;
    l.attack
        .map_err(|e| UsageError(format!("the load generator failed: {e:?}")))?;
    Ok(RunOutcome {
        verdict: summary.verdict.clone(),
        dir: dir.to_path_buf(),
        summary,
    })
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn summarize(
    plan: &Plan,
    target: &str,
    faults: &[Rule],
    users: usize,
    room: usize,
    run_id: &str,
    rec: &Recorder,
    oracle: Option<TwinAccount>,
    intervals: Vec<IntervalRow>,
    started_at: SystemTime,
    cpu_s: f64,
    webhooks_on: bool,
) -> RunSummary {
    let (h, counts) = rec.totals();
    let latency = Summary::of(&h.latency);
    let accept = Summary::of(&h.accept);
    let lag = Summary::of(&h.lag);
    let load = oracle
        .as_ref()
        .map(|a| verdict::LoadAccount::of(&counts, run_id, &a.oracle));
    let (s0, s1) = plan.steady_window();
    let offered = plan.rate_at(s0);
    let applied_rate = oracle.as_ref().and_then(|a| a.applied_rate);
    let verdict = verdict::judge(
        &plan.thresholds,
        &Evidence {
            counts: &counts,
            latency: &latency,
            accept: &accept,
            lag: &lag,
            load: load.as_ref(),
            oracle: oracle.as_ref().map(|a| &a.oracle),
            applied_rate,
            offered_rate: offered,
            webhooks: webhooks_on,
        },
    );
    let ended_at = SystemTime::now();
    let started = humantime::format_rfc3339_millis(started_at).to_string();
    let ended = humantime::format_rfc3339_millis(ended_at).to_string();
    RunSummary {
        schema_version: report::SCHEMA_VERSION,
        plan: plan.name.clone(),
        seed: plan.run.seed,
        target: target.to_string(),
        duration_s: ended_at
            .duration_since(started_at)
            .unwrap_or_default()
            .as_secs_f64(),
        planned_s: plan.run.duration.as_secs_f64(),
        canceled: false,
        offered_rate: plan.run.rate,
        users,
        max_in_flight: room,
        verdict,
        load: Load {
            amplification: counts.requests as f64 / counts.batches.max(1) as f64,
            counts: counts.clone(),
        },
        latency_ms: latency,
        request_latency_ms: Summary::of(&h.request_latency),
        service_ms: Summary::of(&h.service),
        accept_ms: accept,
        start_lag_ms: lag,
        attempts: crate::measure::CountSummary::of(&h.attempts),
        backoff_gap_ms: Summary::of(&h.gap),
        advised_wait_ms: Summary::of(&h.advised),
        twin: oracle.map(|a| TwinFigures {
            load,
            oracle: a.oracle,
            steady_window_s: (s0.as_secs_f64(), s1.as_secs_f64()),
            applied_rate: a.applied_rate,
            faults: a.faults,
        }),
        cpu: Cpu {
            process_s: cpu_s,
            per_1000_actions_ms: cpu_s * 1e6 / counts.actions.max(1) as f64,
        },
        intervals,
        fault_windows: plan.fault_windows(faults),
        distributions: Distributions {
            latency: measure::distribution(&h.latency),
            service: measure::distribution(&h.service),
            accept: measure::distribution(&h.accept),
            backoff_gap: measure::distribution(&h.gap),
            attempts: measure::attempt_bars(&h.attempts),
        },
        backoff_sample: rec.backoff_sample(),
        baseline: None,
        provenance: Provenance::here(&plan.path, &plan.text, plan.run.seed, &started, &ended),
        boson: None,
        dual_balance: None,
        partial: None,
        segment: None,
        run_id: run_id.to_string(),
        merged_from: Vec::new(),
        windows: Vec::new(),
        stability: None,
        target_events: Default::default(),
        started_at: started,
        ended_at: ended,
    }
}
