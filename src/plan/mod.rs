//! Plans: a TOML file (`scenarios/*.toml`) read in two stages, what the user wrote
//! ([`raw`]) and the checked [`Plan`] the run uses. Every error names the file, the
//! line and the key.

pub mod boson;
pub mod raw;
pub mod soak;

use std::path::{Path, PathBuf};
use std::time::Duration;

use gauntlet_mock::config::{ConfigError, from_toml, line_of, spec_error};
use gauntlet_mock::{Rule, RuleSpec};

use crate::client::{Backoff, ClientConfig, Flaw};

/// Batches of 50 to 500 actions: Dual's limit is 500, and smaller batches keep
/// the request rate (and so the number of retry decisions) interesting.
pub const DEFAULT_BATCH: (usize, usize) = (50, 500);
/// Dual's batch limit.
pub const MAX_BATCH: usize = 500;
/// A batch may stay in flight this long (retries included); with the peak rate it
/// sizes the room for batches in flight (Little's law, with half again to spare).
pub const DEFAULT_LATENCY_BUDGET: Duration = Duration::from_secs(10);
/// Connection set-up and first-request effects settle within this.
pub const DEFAULT_WARMUP: Duration = Duration::from_secs(5);
/// Interval histograms every 5 s: fine enough to see a 10 s fault window.
pub const DEFAULT_SNAPSHOT: Duration = Duration::from_secs(5);
/// Goose users (dispatchers). Each takes a slot, waits for its time and spawns it,
/// so a user never waits on a reply; a few cover a tokio timer's jitter (one late
/// wake-up delays one slot, not the rest) and both cores of a small machine.
pub const DEFAULT_USERS: usize = 4;
/// More dispatchers than this only contend for the pacer.
pub const MAX_USERS: usize = 256;
/// Room for batches in flight is never less than this...
pub const MIN_IN_FLIGHT: usize = 64;
/// ...nor more than this: each batch in flight may hold a connection (and, with
/// the embedded twin, its other end), and file descriptors run out past it.
pub const MAX_IN_FLIGHT: usize = 8_192;
/// The most requests per second (rate / smallest batch) one machine could ever
/// offer; a plan past it is a typo, not a load test.
pub const MAX_REQUESTS_PER_SEC: f64 = 200_000.0;
/// The harness's start lag p99 above which it, not the target, was the bottleneck.
pub const DEFAULT_MAX_HARNESS_LAG: Duration = Duration::from_millis(10);
/// The longest run, surge start or length a plan may ask for (keeps time
/// arithmetic far from overflow; a soak is hours to a day).
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);
/// The longest wait a client setting may ask for.
pub const MAX_CLIENT_WAIT: Duration = Duration::from_secs(24 * 3600);
/// Plans without a seed get this one, so two runs of one plan replay the same faults.
pub const DEFAULT_SEED: u64 = 1;

/// Dual's organization balance on the embedded twin, in DUAL tokens.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Balance {
    pub fee_per_action: f64,
    pub initial: f64,
    /// The balance-low alert's threshold.
    pub low: f64,
}

/// A window with another offered rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Surge {
    pub at: Duration,
    pub len: Duration,
    pub rate: f64,
}

/// The load a run offers.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPlan {
    pub duration: Duration,
    pub seed: u64,
    /// Actions per second offered outside surges.
    pub rate: f64,
    pub batch: (usize, usize),
    /// Fixed by the plan, or None to size from the rate.
    pub users: Option<usize>,
    pub max_in_flight: Option<usize>,
    pub drain: Option<Duration>,
    pub latency_budget: Duration,
    pub warmup: Duration,
    pub snapshot: Duration,
    pub surges: Vec<Surge>,
}

/// What the run is judged on. `None`: not checked.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Thresholds {
    pub max_lost: Option<u64>,
    pub max_duplicated: Option<u64>,
    pub max_early_retries: Option<u64>,
    pub max_gave_up: Option<u64>,
    pub max_rejected: Option<u64>,
    pub max_effects_lost: Option<u64>,
    pub max_effects_duplicated: Option<u64>,
    pub max_forgeries_accepted: Option<u64>,
    pub max_slow_answers: Option<u64>,
    pub max_p50_latency: Option<Duration>,
    pub max_p99_latency: Option<Duration>,
    pub max_p99_accept: Option<Duration>,
    pub max_harness_lag: Option<Duration>,
    pub min_rate_ratio: Option<f64>,
    pub min_retry_jitter: Option<Duration>,
    pub min_retry_spread: Option<Duration>,
}

/// Who receives the twin's webhooks during a run.
#[derive(Debug, Clone, PartialEq)]
pub enum HandlerChoice {
    /// gauntlet's reference handler, with a flaw or none.
    Reference(crate::handler::HandlerFlaw),
    /// The team's handler at this URL (its secret from GAUNTLET_WEBHOOK_SECRET).
    Url(String),
    Off,
}

/// Webhooks during a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhooks {
    pub handler: HandlerChoice,
    pub transfer_share: f64,
    pub pool: usize,
    pub settle: Duration,
}

/// One transfer in twenty: about 100 effects/s at 2,000 actions/s, which leaves the
/// rate limit to the load.
pub const DEFAULT_TRANSFER_SHARE: f64 = 0.05;
pub const DEFAULT_POOL: usize = 500;
/// Long enough for the first retries (1 s, 5 s) of a late delivery.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(15);

/// A checked plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The file's stem (`nightly`), for the run folder's name.
    pub name: String,
    pub path: PathBuf,
    /// The file as written, kept with the run's results.
    pub text: String,
    pub run: RunPlan,
    /// A URL to load instead of the embedded twin.
    pub target: Option<String>,
    /// The embedded twin's event-bus limit.
    pub twin_actions_per_sec: u32,
    /// The organization's DUAL balance: (fee per action, balance at the start,
    /// alert below).
    pub balance: Balance,
    pub client: ClientConfig,
    pub faults: Vec<Rule>,
    pub thresholds: Thresholds,
    pub webhooks: Webhooks,
    /// The `boson_lifecycle` load, when the plan has `[boson]`.
    pub boson: Option<boson::BosonLoad>,
    /// Snapshots, slices and stability checks (`[soak]`).
    pub soak: soak::Soak,
    /// `[soak]` as written: its defaults follow `--duration`.
    soak_file: soak::SoakFile,
    /// This process's share of the plan (`--segment i/n`).
    pub segment: Option<crate::segment::Segment>,
}

impl Plan {
    /// Read and check a plan file.
    pub fn load(path: &Path) -> Result<Plan, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.into(),
            line: None,
            key: String::new(),
            message: format!("cannot read the plan: {e}"),
        })?;
        Plan::from_toml(&text, path)
    }

    /// Check a plan's text; `path` names it in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Plan, ConfigError> {
        let raw: raw::PlanFile = from_toml(text, path)?;
        check(raw, text, path)
    }

    /// The offered rate (actions/s) at `t` since the start.
    pub fn rate_at(&self, t: Duration) -> f64 {
        self.run
            .surges
            .iter()
            .find(|s| t >= s.at && t < s.at + s.len)
            .map_or(self.run.rate, |s| s.rate)
    }

    pub fn peak_rate(&self) -> f64 {
        self.run
            .surges
            .iter()
            .map(|s| s.rate)
            .fold(self.run.rate, f64::max)
    }

    /// The surges and the windows of `faults` (the rules actually installed: none
    /// on a target without a control API) within the schedule, for the report's
    /// shading and the progress line (a recurring fault: its first 500 windows).
    pub fn fault_windows(&self, faults: &[Rule]) -> Vec<crate::report::FaultWindow> {
        let end = self.run.duration;
        let mut out: Vec<crate::report::FaultWindow> = self
            .run
            .surges
            .iter()
            .filter(|s| s.at < end)
            .map(|s| crate::report::FaultWindow {
                name: format!("surge to {:.0}/s", s.rate),
                kind: "surge".into(),
                from_s: s.at.as_secs_f64(),
                to_s: (s.at + s.len).min(end).as_secs_f64(),
            })
            .collect();
        for r in faults {
            out.extend(r.when.windows(end, 500).into_iter().map(|(a, b)| {
                crate::report::FaultWindow {
                    name: r.name.clone(),
                    kind: r.kind.name().to_string(),
                    from_s: a.as_secs_f64(),
                    to_s: b.as_secs_f64(),
                }
            }));
        }
        out.sort_by(|a, b| a.from_s.total_cmp(&b.from_s));
        out
    }

    /// What each window of the timeline is judged against: the run's count
    /// limits, and `[soak]`'s window latency limits (none unless set).
    pub fn window_thresholds(&self) -> Thresholds {
        Thresholds {
            max_p50_latency: self.soak.max_window_p50_latency,
            max_p99_latency: self.soak.max_window_p99_latency,
            ..self.thresholds.clone()
        }
    }

    /// Where the achieved rate is judged: from the warmup to the first disturbance
    /// (a surge or a windowed fault), or to the end.
    pub fn steady_window(&self) -> (Duration, Duration) {
        // Every disturbance as [start, end): surges and windowed faults (the first
        // window of a recurring one is enough: the steady part ends at it).
        let mut spans: Vec<(Duration, Duration)> = self
            .run
            .surges
            .iter()
            .map(|s| (s.at, s.at + s.len))
            .collect();
        spans.extend(self.faults.iter().filter_map(|r| match r.when {
            gauntlet_mock::engine::faults::When::Always => None,
            gauntlet_mock::engine::faults::When::Window { at, len }
            | gauntlet_mock::engine::faults::When::Every { at, len, .. } => Some((at, at + len)),
        }));
        // Start after the warmup and after any disturbance that straddles it.
        let start = spans
            .iter()
            .filter(|(a, e)| *a <= self.run.warmup && *e > self.run.warmup)
            .map(|(_, e)| *e)
            .fold(self.run.warmup, Duration::max);
        let end = spans
            .iter()
            .map(|(a, _)| *a)
            .filter(|a| *a > start)
            .fold(self.run.duration, Duration::min);
        (start.min(end), end)
    }

    /// Goose users: dispatchers, as the plan says or [`DEFAULT_USERS`].
    pub fn users(&self) -> usize {
        self.run.users.unwrap_or(DEFAULT_USERS)
    }

    /// Batches in flight at most: as the plan says, or the peak batch rate times
    /// the latency budget, with half again to spare.
    pub fn max_in_flight(&self) -> usize {
        if let Some(n) = self.run.max_in_flight {
            return n;
        }
        let mean_batch = (self.run.batch.0 + self.run.batch.1) as f64 / 2.0;
        let batches_per_sec = self.peak_rate() / mean_batch;
        let n = (batches_per_sec * self.run.latency_budget.as_secs_f64() * 1.5).ceil();
        (n.min(MAX_IN_FLIGHT as f64) as usize).max(MIN_IN_FLIGHT)
    }

    /// How long batches in flight may take once the schedule is over: as the plan
    /// says, or as long as one batch can last (the client's give-up time plus one
    /// attempt's timeout) and a second.
    pub fn drain(&self) -> Duration {
        self.run.drain.unwrap_or_else(|| {
            self.client.max_elapsed + self.client.timeout + Duration::from_secs(1)
        })
    }

    /// Apply command-line overrides, checked like the file.
    pub fn with_overrides(
        mut self,
        duration: Option<Duration>,
        rate: Option<f64>,
        seed: Option<u64>,
    ) -> Result<Plan, String> {
        if let Some(d) = duration {
            check_span(d, "--duration")?;
            self.run.duration = d;
            self.soak = soak::check(self.soak_file.clone(), d, self.run.warmup)
                .map_err(|(k, m)| format!("--duration: soak.{k} {m}"))?;
        }
        if let Some(r) = rate {
            check_rate(r, self.run.batch.0).map_err(|m| format!("--rate: {m}"))?;
            self.run.rate = r;
        }
        if let Some(s) = seed {
            self.run.seed = s;
        }
        Ok(self)
    }
}

/// A rate one machine could offer: positive, finite, and at most
/// [`MAX_REQUESTS_PER_SEC`] requests of the smallest batch.
pub fn check_rate(rate: f64, batch_min: usize) -> Result<(), String> {
    if !(rate > 0.0 && rate.is_finite()) {
        return Err(format!("must be > 0 actions/s, got {rate}"));
    }
    let requests = rate / batch_min.max(1) as f64;
    if requests > MAX_REQUESTS_PER_SEC {
        return Err(format!(
            "{rate} actions/s in batches of {batch_min} is {requests:.0} requests/s; one machine cannot offer more than {MAX_REQUESTS_PER_SEC:.0} requests/s (raise the batch size or lower the rate)"
        ));
    }
    Ok(())
}

/// A duration within `(0, MAX_DURATION]`, with a message naming the value.
fn check_span(d: Duration, what: &str) -> Result<(), String> {
    if d.is_zero() {
        return Err(format!("{what} must be longer than 0s"));
    }
    if d > MAX_DURATION {
        return Err(format!(
            "{what} of {} is too long: at most {}",
            humantime::format_duration(d),
            humantime::format_duration(MAX_DURATION)
        ));
    }
    Ok(())
}

/// The `[run]` section, surges included.
fn check_run(
    r: raw::RunFile,
    err: &impl Fn(Option<std::ops::Range<usize>>, &str, String) -> ConfigError,
    at: &impl Fn(&str, String) -> ConfigError,
) -> Result<RunPlan, ConfigError> {
    check_span(r.duration, "the run").map_err(|m| at("run.duration", m))?;
    let batch = r.batch.map_or(DEFAULT_BATCH, |b| (b.min, b.max));
    if batch.0 == 0 || batch.0 > batch.1 || batch.1 > MAX_BATCH {
        return Err(at(
            "run.batch",
            format!(
                "needs 1 <= min <= max <= {MAX_BATCH}, got {}..{}",
                batch.0, batch.1
            ),
        ));
    }
    check_rate(r.rate, batch.0).map_err(|m| at("run.rate", m))?;
    if r.users == Some(0) || r.users.is_some_and(|u| u > MAX_USERS) {
        return Err(at(
            "run.users",
            format!("must be 1..={MAX_USERS} (or absent for {DEFAULT_USERS})"),
        ));
    }
    if r.max_in_flight == Some(0) || r.max_in_flight.is_some_and(|u| u > MAX_IN_FLIGHT) {
        return Err(at(
            "run.max_in_flight",
            format!("must be 1..={MAX_IN_FLIGHT} (or absent to size from the rate)"),
        ));
    }
    if let Some(d) = r.drain {
        check_span(d, "the drain").map_err(|m| at("run.drain", m))?;
    }
    let snapshot = r.snapshot.unwrap_or(DEFAULT_SNAPSHOT);
    if snapshot < Duration::from_millis(100) {
        return Err(at("run.snapshot", "must be at least 100ms".into()));
    }
    let mut surges = Vec::new();
    for (i, s) in r.surge.into_iter().enumerate() {
        let span = s.span();
        let s = s.into_inner();
        if let Err(m) = check_rate(s.rate, batch.0) {
            return Err(err(Some(span), &format!("run.surge[{i}].rate"), m));
        }
        if s.for_.is_zero() || s.for_ > MAX_DURATION || s.at > MAX_DURATION {
            return Err(err(
                Some(span),
                &format!("run.surge[{i}].for"),
                format!(
                    "`at` and `for` must be within 0..{} (and `for` above 0)",
                    humantime::format_duration(MAX_DURATION)
                ),
            ));
        }
        surges.push(Surge {
            at: s.at,
            len: s.for_,
            rate: s.rate,
        });
    }

    Ok(RunPlan {
        duration: r.duration,
        seed: r.seed.unwrap_or(DEFAULT_SEED),
        rate: r.rate,
        batch,
        users: r.users,
        max_in_flight: r.max_in_flight,
        drain: r.drain,
        latency_budget: r.latency_budget.unwrap_or(DEFAULT_LATENCY_BUDGET),
        warmup: r.warmup.unwrap_or(DEFAULT_WARMUP),
        snapshot,
        surges,
    })
}

fn check(raw: raw::PlanFile, text: &str, path: &Path) -> Result<Plan, ConfigError> {
    let err = |span: Option<std::ops::Range<usize>>, key: &str, message: String| ConfigError {
        file: path.into(),
        line: span.map(|s| line_of(text, s.start)),
        key: key.into(),
        message,
    };
    let at = |key: &str, message: String| ConfigError {
        file: path.into(),
        line: locate(text, key),
        key: key.into(),
        message,
    };
    let run = check_run(raw.run, &err, &at)?;
    let target = match raw.target.url {
        Some(u) => Some(crate::target::check_url(&u).map_err(|m| at("target.url", m))?),
        None => None,
    };
    let twin_actions_per_sec = raw
        .target
        .actions_per_sec
        .unwrap_or(gauntlet_mock::config::DEFAULT_ACTIONS_PER_SEC);
    if twin_actions_per_sec < MAX_BATCH as u32 {
        return Err(at(
            "target.actions_per_sec",
            format!("must be at least {MAX_BATCH} (one full batch)"),
        ));
    }

    let tokens = |v: Option<f64>, key: &str| match v.unwrap_or(0.0) {
        x if x.is_finite() && (0.0..=1e15).contains(&x) => Ok(x),
        _ => Err(at(key, "must be within 0..=1e15 DUAL".into())),
    };
    let balance = Balance {
        fee_per_action: tokens(raw.target.fee_per_action, "target.fee_per_action")?,
        initial: tokens(raw.target.org_balance, "target.org_balance")?,
        low: tokens(raw.target.balance_low, "target.balance_low")?,
    };
    let client = check_client(raw.client).map_err(|(k, m)| at(&format!("client.{k}"), m))?;
    let spans: Vec<_> = raw.faults.iter().map(|f| f.span()).collect();
    let specs: Vec<RuleSpec> = raw.faults.into_iter().map(|f| f.into_inner()).collect();
    let faults = gauntlet_mock::engine::faults::spec::validate_all(&specs, "faults")
        .map_err(|e| spec_error(e, path, text, &spans))?;

    let webhooks =
        check_webhooks(raw.webhooks).map_err(|(k, m)| at(&format!("webhooks.{k}"), m))?;
    let boson = match raw.boson {
        Some(b) => Some(boson::check(b).map_err(|(k, m)| at(&format!("boson.{k}"), m))?),
        None => None,
    };
    let soak_file = raw.soak.clone();
    let soak = soak::check(raw.soak, run.duration, run.warmup)
        .map_err(|(k, m)| at(&format!("soak.{k}"), m))?;
    let t = raw.thresholds;
    if t.min_rate_ratio.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
        return Err(at(
            "thresholds.min_rate_ratio",
            "must be within 0..=1".into(),
        ));
    }
    Ok(Plan {
        name: path
            .file_stem()
            .map_or("plan".into(), |s| s.to_string_lossy().into_owned()),
        path: path.into(),
        text: text.into(),
        run,
        target,
        twin_actions_per_sec,
        balance,
        client,
        faults,
        webhooks,
        boson,
        soak,
        soak_file,
        segment: None,
        thresholds: Thresholds {
            max_lost: Some(t.max_lost.unwrap_or(0)),
            max_duplicated: Some(t.max_duplicated.unwrap_or(0)),
            max_early_retries: Some(t.max_early_retries.unwrap_or(0)),
            max_gave_up: Some(t.max_gave_up.unwrap_or(0)),
            max_rejected: Some(t.max_rejected.unwrap_or(0)),
            max_effects_lost: Some(t.max_effects_lost.unwrap_or(0)),
            max_effects_duplicated: Some(t.max_effects_duplicated.unwrap_or(0)),
            max_forgeries_accepted: Some(t.max_forgeries_accepted.unwrap_or(0)),
            max_slow_answers: Some(t.max_slow_answers.unwrap_or(0)),
            max_p50_latency: t.max_p50_latency,
            max_p99_latency: t.max_p99_latency,
            max_p99_accept: t.max_p99_accept,
            max_harness_lag: Some(t.max_harness_lag.unwrap_or(DEFAULT_MAX_HARNESS_LAG)),
            min_rate_ratio: t.min_rate_ratio,
            min_retry_jitter: t.min_retry_jitter,
            min_retry_spread: t.min_retry_spread,
        },
    })
}

fn check_client(c: raw::ClientFile) -> Result<ClientConfig, (&'static str, String)> {
    let d = ClientConfig::default();
    let backoff = match c.backoff.as_deref() {
        None => d.backoff,
        Some(name) => Backoff::from_name(name).ok_or((
            "backoff",
            format!("`{name}`: expected one of {}", Backoff::NAMES.join(", ")),
        ))?,
    };
    let flaw = match c.flaw.as_deref() {
        None => d.flaw,
        Some(name) => Flaw::from_name(name).ok_or((
            "flaw",
            format!("`{name}`: expected one of {}", Flaw::NAMES.join(", ")),
        ))?,
    };
    let cfg = ClientConfig {
        backoff,
        base: c.base.unwrap_or(d.base),
        cap: c.cap.unwrap_or(d.cap),
        max_attempts: c.max_attempts.unwrap_or(d.max_attempts),
        max_elapsed: c.max_elapsed.unwrap_or(d.max_elapsed),
        timeout: c.timeout.unwrap_or(d.timeout),
        flaw,
        eip712: c.eip712.unwrap_or(d.eip712),
    };
    if cfg.flaw == Flaw::BadEip712 && !cfg.eip712 {
        return Err((
            "flaw",
            "bad_eip712 spoils a signature: it needs client.eip712 = true".into(),
        ));
    }
    if cfg.base.is_zero() || cfg.cap < cfg.base {
        return Err(("base", "needs 0 < base <= cap".into()));
    }
    if cfg.max_attempts == 0 {
        return Err(("max_attempts", "must be at least 1".into()));
    }
    if [cfg.base, cfg.cap, cfg.timeout, cfg.max_elapsed]
        .iter()
        .any(|d| *d > MAX_CLIENT_WAIT)
    {
        return Err((
            "max_elapsed",
            format!(
                "client waits must be at most {}",
                humantime::format_duration(MAX_CLIENT_WAIT)
            ),
        ));
    }
    // The twin's ledger judges an action ten minutes after it first arrived: a
    // retry after that would be booked as a new action, and a double apply missed.
    let horizon = gauntlet_mock::engine::oracle::LEDGER_HORIZON;
    if cfg.max_elapsed + cfg.timeout >= horizon {
        return Err((
            "max_elapsed",
            format!(
                "max_elapsed plus timeout must be under {}: the twin judges an action \
                 that long after it first arrived, and a later retry would count as a new one",
                humantime::format_duration(horizon)
            ),
        ));
    }
    if cfg.timeout.is_zero() || cfg.max_elapsed.is_zero() {
        return Err((
            "timeout",
            "timeout and max_elapsed must be greater than 0".into(),
        ));
    }
    Ok(cfg)
}

/// The 1-based line of `section.key = ...` in a plan's text, for checks made after
/// parsing (the value was well-formed, its meaning was not).
pub fn locate(text: &str, dotted: &str) -> Option<usize> {
    let (section, key) = dotted.rsplit_once('.').unwrap_or(("", dotted));
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if let Some(h) = l.strip_prefix('[') {
            current = h.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            continue;
        }
        let Some((k, _)) = l.split_once('=') else {
            continue;
        };
        if current == section && k.trim() == key {
            return Some(i + 1);
        }
    }
    None
}

fn check_webhooks(w: raw::WebhooksFile) -> Result<Webhooks, (&'static str, String)> {
    let flaw = match w.flaw.as_deref() {
        None => crate::handler::HandlerFlaw::None,
        Some(f) => crate::handler::HandlerFlaw::from_name(f).ok_or((
            "flaw",
            format!(
                "`{f}`: expected one of {}",
                crate::handler::HandlerFlaw::NAMES.join(", ")
            ),
        ))?,
    };
    let handler = match w.handler.as_deref() {
        None | Some("reference") => HandlerChoice::Reference(flaw),
        Some("off") => HandlerChoice::Off,
        Some(url) => HandlerChoice::Url(crate::target::check_url(url).map_err(|m| ("handler", m))?),
    };
    let transfer_share = w.transfer_share.unwrap_or(DEFAULT_TRANSFER_SHARE);
    if !(0.0..=1.0).contains(&transfer_share) {
        return Err((
            "transfer_share",
            format!("must be within 0..=1, got {transfer_share}"),
        ));
    }
    let pool = w.pool.unwrap_or(DEFAULT_POOL);
    if pool == 0 || pool > 100_000 {
        return Err(("pool", "must be 1..=100000".into()));
    }
    let settle = w.settle.unwrap_or(DEFAULT_SETTLE);
    if settle > MAX_CLIENT_WAIT {
        return Err((
            "settle",
            format!("at most {}", humantime::format_duration(MAX_CLIENT_WAIT)),
        ));
    }
    Ok(Webhooks {
        handler,
        transfer_share,
        pool,
        settle,
    })
}
