//! `gauntlet calibrate`: the harness measures its own floor on the machine it runs
//! on, against known answers, so a user knows which figures to trust there.
//!
//! The twin runs as a child process (`gauntlet mock`), so the harness's CPU and
//! memory are its own. Three kinds of step, each an ordinary `gauntlet run` of a
//! generated plan against that twin:
//!
//! - **^Z** (Gil Tene's test): 2,000 requests/s of 1-action batches while the twin
//!   is frozen for 1 s in the middle (a `stall` fault: every request held until
//!   the window closes). With a freeze of F in a run of D, a fraction F/D of the
//!   requests wait uniformly up to F, so p99 is F − 0.01·D: 900 ms for 1 s in 10 s.
//! - **steady**: the same without the freeze: the harness's and the twin's floor.
//! - **sweep**: batches of 50..500 at each rate; the twin counts what it applied.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;

use crate::cli::{CalibrateArgs, RunArgs};
use crate::exit::UsageError;
use crate::signal::Interrupts;

/// The ^Z test's request rate and its freeze.
pub const ZED_RATE: f64 = 2_000.0;
pub const FREEZE: Duration = Duration::from_secs(1);
/// A rate is paced on time when its start lag p99 is under this.
pub const ON_TIME_MS: f64 = 5.0;
/// The twin's event-bus limit during calibration: far above any rate swept.
const TWIN_LIMIT: u32 = 100_000_000;

/// One step's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: String,
    /// Actions per second offered.
    pub rate: f64,
    pub batch: (usize, usize),
    /// Per-action latency from the intended send, ms.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub start_lag_p99_ms: f64,
    /// Actions the harness sent, and those the twin applied (its own count).
    pub sent: u64,
    pub applied_by_twin: Option<u64>,
    pub lost: Option<u64>,
    /// The harness process's CPU over the step, as a share of one core.
    pub harness_cpu_pct: f64,
    /// The twin process's CPU over the step, as a share of one core.
    pub twin_cpu_pct: Option<f64>,
    /// The harness process's resident memory at the step's end, and its peak so far.
    pub harness_rss_mb: Option<f64>,
    pub harness_peak_rss_mb: Option<f64>,
    pub run_folder: PathBuf,
}

/// What `calibration.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct Calibration {
    pub version: String,
    pub host: String,
    pub cores: usize,
    pub duration_s: f64,
    /// ^Z: the freeze, where it was, and the theory's p99.
    pub freeze_s: (f64, f64),
    pub zed_theory_p99_ms: f64,
    pub zed: Step,
    /// |measured − theory| / theory, percent.
    pub zed_error_pct: f64,
    pub steady: Step,
    pub sweep: Vec<Step>,
    /// The highest swept rate whose start lag p99 stayed under 5 ms.
    pub highest_on_time_rate: Option<f64>,
}

/// The p99 a correct tool reports for a freeze of `freeze` in a run of `run`.
pub fn zed_theory_ms(freeze: Duration, run: Duration) -> f64 {
    (freeze.as_secs_f64() - 0.01 * run.as_secs_f64()).max(0.0) * 1000.0
}

/// Run the calibration. `exe` is the gauntlet binary (it serves the twin).
pub async fn run(
    args: CalibrateArgs,
    exe: &Path,
    interrupts: &Interrupts,
    out: &mut (impl Write + Send),
) -> anyhow::Result<Calibration> {
    if args.duration < Duration::from_secs(2) || args.duration > Duration::from_secs(3600) {
        return Err(UsageError("--duration must be within 2s..1h".into()).into());
    }
    if args.rates.iter().any(|r| !(r.is_finite() && *r > 0.0)) {
        return Err(UsageError("--rates must all be > 0".into()).into());
    }
    let dir = args.out.clone().unwrap_or_else(|| {
        let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
            .to_string()
            .replace(['-', ':'], "");
        PathBuf::from("reports").join(format!("calibrate-{stamp}"))
    });
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let twin = ChildTwin::start(exe, &dir).await?;
    writeln!(
        out,
        "gauntlet calibrate: twin {} (its own process), steps of {} s",
        twin.url,
        args.duration.as_secs_f64()
    )?;
    let d = args.duration;
    let freeze_at = d / 2;
    let mut steps = Vec::new();
    let zed_plan = plan(ZED_RATE, (1, 1), d, Some(freeze_at));
    steps.push(("zed", ZED_RATE, (1, 1), zed_plan));
    steps.push(("steady", ZED_RATE, (1, 1), plan(ZED_RATE, (1, 1), d, None)));
    for r in &args.rates {
        steps.push(("sweep", *r, (50, 500), plan(*r, (50, 500), d, None)));
    }
    let mut done = Vec::new();
    for (i, (name, rate, batch, text)) in steps.into_iter().enumerate() {
        if interrupts.stop.is_cancelled() {
            break;
        }
        let step = step(&twin, &dir, i, name, rate, batch, &text, interrupts).await?;
        writeln!(out, "{}", line(&step))?;
        done.push(step);
    }
    drop(twin);
    let mut done = done.into_iter();
    let (Some(zed), Some(steady)) = (done.next(), done.next()) else {
        return Err(UsageError("calibration interrupted before its first two steps".into()).into());
    };
    let sweep: Vec<Step> = done.collect();
    let theory = zed_theory_ms(FREEZE, d);
    let c = Calibration {
        version: env!("CARGO_PKG_VERSION").into(),
        host: gethostname::gethostname().to_string_lossy().into_owned(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        duration_s: d.as_secs_f64(),
        freeze_s: (freeze_at.as_secs_f64(), FREEZE.as_secs_f64()),
        zed_theory_p99_ms: theory,
        zed_error_pct: (zed.p99_ms - theory).abs() / theory.max(1e-9) * 100.0,
        highest_on_time_rate: sweep
            .iter()
            .filter(|s| s.start_lag_p99_ms < ON_TIME_MS)
            .map(|s| s.rate)
            .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r)))),
        zed,
        steady,
        sweep,
    };
    let json = serde_json::to_vec_pretty(&c).context("cannot serialize the calibration")?;
    std::fs::write(dir.join("calibration.json"), json)
        .with_context(|| format!("cannot write into {}", dir.display()))?;
    summary(out, &c, &dir)?;
    Ok(c)
}

/// A generated plan: no webhooks, no faults but the freeze.
fn plan(rate: f64, batch: (usize, usize), d: Duration, freeze_at: Option<Duration>) -> String {
    let mut text = format!(
        "# Generated by gauntlet calibrate.\n[run]\nduration = \"{}ms\"\nrate = {rate}\nbatch = {{ min = {}, max = {} }}\nwarmup = \"0s\"\nsnapshot = \"1s\"\n\n[webhooks]\nhandler = \"off\"\n",
        d.as_millis(),
        batch.0,
        batch.1
    );
    if let Some(at) = freeze_at {
        text.push_str(&format!(
            "\n[[faults]]\nname = \"freeze\"\nkind = \"stall\"\nroute = \"POST /ebus/actions/batch\"\nat = \"{}ms\"\nfor = \"{}ms\"\n",
            at.as_millis(),
            FREEZE.as_millis()
        ));
    }
    text
}

#[allow(clippy::too_many_arguments)]
async fn step(
    twin: &ChildTwin,
    dir: &Path,
    i: usize,
    name: &str,
    rate: f64,
    batch: (usize, usize),
    text: &str,
    interrupts: &Interrupts,
) -> anyhow::Result<Step> {
    let label = format!("{i}-{name}-{rate:.0}");
    let path = dir.join(format!("{label}.toml"));
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    let folder = dir.join(&label);
    let args = RunArgs {
        plan: Some(path),
        out: Some(folder.clone()),
        target: Some(twin.url.clone()),
        ..RunArgs::default()
    };
    let env = |name: &str| match name {
        crate::run::API_KEY_VAR => Some(twin.key.clone()),
        crate::run::CONTROL_TOKEN_VAR => Some(twin.token.clone()),
        _ => None,
    };
    let twin_cpu0 = twin.cpu_s();
    let mut sink = Vec::new();
    let o = crate::run::run_with(args, env, interrupts, &mut sink)
        .await
        .with_context(|| format!("calibration step {label}"))?;
    let twin_cpu = twin_cpu0.zip(twin.cpu_s()).map(|(a, b)| b - a);
    let s = &o.summary;
    let secs = s.duration_s.max(1e-9);
    let load = s.twin.as_ref().and_then(|t| t.load.as_ref());
    let (rss, peak) = own_memory_mb();
    Ok(Step {
        name: name.into(),
        rate,
        batch,
        p50_ms: s.latency_ms.p50_ms,
        p99_ms: s.latency_ms.p99_ms,
        max_ms: s.latency_ms.max_ms,
        start_lag_p99_ms: s.start_lag_ms.p99_ms,
        sent: s.load.counts.actions,
        applied_by_twin: load.map(|l| l.applied),
        lost: load.map(|l| l.lost),
        harness_cpu_pct: s.cpu.process_s / secs * 100.0,
        twin_cpu_pct: twin_cpu.map(|c| c / secs * 100.0),
        harness_rss_mb: rss,
        harness_peak_rss_mb: peak,
        run_folder: folder,
    })
}

fn line(s: &Step) -> String {
    format!(
        "  {:<6} {:>8.0} actions/s  p50 {:>8.2} ms  p99 {:>8.2} ms  start lag p99 {:>6.2} ms  sent {:>8}  twin applied {:>8}  harness CPU {:>5.1}%  twin CPU {:>5}  harness RSS {:>6}",
        s.name,
        s.rate,
        s.p50_ms,
        s.p99_ms,
        s.start_lag_p99_ms,
        s.sent,
        s.applied_by_twin.map_or("-".into(), |n| n.to_string()),
        s.harness_cpu_pct,
        s.twin_cpu_pct.map_or("-".into(), |c| format!("{c:.1}%")),
        s.harness_rss_mb
            .map_or("-".into(), |m| format!("{m:.0} MB")),
    )
}

fn summary(out: &mut impl Write, c: &Calibration, dir: &Path) -> std::io::Result<()> {
    writeln!(
        out,
        "\n^Z test: p99 {:.1} ms against {:.0} ms in theory ({:.1}% off; wrk2 reports 906, oha 909)",
        c.zed.p99_ms, c.zed_theory_p99_ms, c.zed_error_pct
    )?;
    writeln!(
        out,
        "no freeze: p99 {:.2} ms at {:.0} requests/s",
        c.steady.p99_ms, c.steady.rate
    )?;
    match c.highest_on_time_rate {
        Some(r) => writeln!(
            out,
            "paced on time (start lag p99 < {ON_TIME_MS} ms) up to {r:.0} actions/s of those swept"
        )?,
        None => writeln!(
            out,
            "no swept rate was paced on time (start lag p99 < {ON_TIME_MS} ms): the harness is the bottleneck here"
        )?,
    }
    writeln!(out, "written: {}", dir.join("calibration.json").display())
}

/// The harness process's resident and peak resident memory (Linux), MB.
fn own_memory_mb() -> (Option<f64>, Option<f64>) {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return (None, None);
    };
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The twin, served by `gauntlet mock` in a child process on a free loopback port.
struct ChildTwin {
    child: Child,
    url: String,
    key: String,
    token: String,
}

impl ChildTwin {
    async fn start(exe: &Path, dir: &Path) -> anyhow::Result<ChildTwin> {
        let config = dir.join("twin.toml");
        std::fs::write(
            &config,
            format!("[limits]\nactions_per_sec = {TWIN_LIMIT}\n"),
        )
        .with_context(|| format!("cannot write {}", config.display()))?;
        let key = gauntlet_mock::engine::secret::random_secret("sk_sandbox_");
        let token = gauntlet_mock::engine::secret::random_secret("ctl_");
        let mut command = Command::new(exe);
        // Its own process group: a Ctrl-C at the terminal is the harness's to
        // handle (it drains into this twin), not the twin's.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command
            .args(["mock", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .env(crate::mock::API_KEY_VAR, &key)
            .env(crate::mock::CONTROL_TOKEN_VAR, &token)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start the twin ({} mock)", exe.display()))?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            return Err(UsageError("the twin's output could not be read".into()).into());
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        // Read where it listens, then keep reading so it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            let url = lines
                .by_ref()
                .find_map(|l| l.ok()?.strip_prefix("listening on ").map(str::to_string));
            let _ = tx.send(url);
            lines.for_each(drop);
        });
        let mut twin = ChildTwin {
            child,
            url: String::new(),
            key,
            token,
        };
        match tokio::time::timeout(TWIN_START, rx).await {
            Ok(Ok(Some(url))) => {
                twin.url = url;
                Ok(twin)
            }
            // Dropping `twin` kills the child.
            _ => Err(UsageError(format!(
                "the twin ({} mock) did not say where it listens within {} s",
                exe.display(),
                TWIN_START.as_secs()
            ))
            .into()),
        }
    }

    /// The twin process's CPU seconds so far (Linux).
    fn cpu_s(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
        let rest = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
        Some(ticks / CLOCK_TICKS)
    }
}

/// How long the child twin may take to start listening.
const TWIN_START: Duration = Duration::from_secs(30);

/// Linux's USER_HZ: /proc reports CPU time in these.
const CLOCK_TICKS: f64 = 100.0;

impl Drop for ChildTwin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl std::fmt::Debug for ChildTwin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildTwin")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}
