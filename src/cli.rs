//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Load and chaos test harness for Dual and Boson Protocol integrations.
#[derive(Debug, Parser)]
#[command(name = "gauntlet", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the twin of Dual and Boson for your own client: faults on a seeded
    /// schedule, an oracle that counts every applied action and every effect, a
    /// control API under /_gauntlet/.
    Mock(MockArgs),
    /// Run a plan: goose drives batches at the plan's rate through the reference
    /// client, against the embedded twin unless --target, and ends in a verdict.
    Run(RunArgs),
    /// Serve the reference webhook handler: verifies signatures and timestamps,
    /// dedupes, answers at once, performs each business effect once (Dual's
    /// events, or with --platform boson chain events after their confirmations).
    Handler(HandlerArgs),
    /// Compare a run with a baseline: exit 1 naming each metric that regressed
    /// (latency percentiles, achieved rate, error and retry figures), 0 otherwise.
    Compare(CompareArgs),
    /// Walk a known Boson offer end to end on a real deployment, one step at a time
    /// (commit, redeem, complete; commit, redeem, dispute, retract; withdraw):
    /// URLs and the offer from the environment, keys from the environment only, a
    /// capped rate and value, no faults ever. Exit 0 all passed, 1 a step failed,
    /// 2 a configuration error.
    Smoke(SmokeArgs),
    /// Measure the harness's own floor on this machine: Gil Tene's ^Z test (2,000
    /// requests/s, the twin frozen for 1 s: p99 should be ~900 ms), the same
    /// without the freeze, and a pacing sweep; writes calibration.json.
    Calibrate(CalibrateArgs),
    /// Join the run folders of a plan's segments (`run --segment i/n`) into one
    /// run: histograms merged bucket by bucket, counters summed, the verdict
    /// recomputed against the plan; a missing segment makes it partial.
    Merge(MergeArgs),
    /// Print the JSON Schema of summary.json (committed as
    /// reports/schema/summary.schema.json).
    #[command(hide = true)]
    Schema,
}

#[derive(Debug, Clone, Args)]
pub struct CalibrateArgs {
    /// How long each step runs (the ^Z freeze sits in its middle).
    #[arg(long, env = "GAUNTLET_DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// The sweep's rates, actions/s (batches of 50..500).
    #[arg(long, value_delimiter = ',', default_value = "2000,20000,100000")]
    pub rates: Vec<f64>,
    /// Folder for calibration.json and each step's run folder
    /// (default `reports/calibrate-<UTC time>`).
    #[arg(long, env = "GAUNTLET_OUT")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// The baseline: a summary.json, or a run folder holding one.
    pub baseline: PathBuf,
    /// The run to judge: a summary.json, or a run folder holding one.
    pub current: PathBuf,
    /// How much worse than the baseline a metric may be, percent of the baseline.
    #[arg(long, env = "GAUNTLET_TOLERANCE", default_value_t = crate::compare::DEFAULT_TOLERANCE_PCT)]
    pub tolerance: f64,
}

#[derive(Debug, Clone, Args)]
pub struct HandlerArgs {
    /// Address to listen on.
    #[arg(
        long,
        env = "GAUNTLET_HANDLER_LISTEN",
        default_value = "127.0.0.1:8090"
    )]
    pub listen: SocketAddr,
    /// Where the effects go: the twin or the deployment (its API key from DUAL_API_KEY).
    #[arg(long, env = "GAUNTLET_TARGET", default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// A deliberate flaw. Dual: none, duplicate, no-verify, no-timestamp-check, slow,
    /// race. Boson: none, acts-unconfirmed, dedupes-on-txhash, ignores-removed.
    #[arg(long, env = "GAUNTLET_HANDLER_FLAW", default_value = "none")]
    pub flaw: String,
    /// Whose webhooks: `dual` (event-bus events) or `boson` (chain events; effects
    /// go to the twin's ledger with GAUNTLET_CONTROL_TOKEN).
    #[arg(long, env = "GAUNTLET_HANDLER_PLATFORM", default_value = "dual")]
    pub platform: String,
    /// Boson: the JSON-RPC URL the head is read from (default: TARGET/rpc).
    #[arg(long, env = "GAUNTLET_HANDLER_RPC")]
    pub rpc: Option<String>,
    /// Boson: blocks an event needs (its own included) before the handler acts
    /// (default: the twin's own `[boson] confirmations`, read from its oracle).
    #[arg(long, env = "GAUNTLET_HANDLER_CONFIRMATIONS")]
    pub confirmations: Option<u64>,
}

#[derive(Debug, Clone, Args)]
pub struct SmokeArgs {
    /// The smoke plan (default: `scenarios/smoke.toml`).
    pub plan: Option<PathBuf>,
    /// Which deployment: `sandbox`, `production`, or another the plan names (picks
    /// the plan's expected contracts and the `NAME_<ENV>` variables). Outside
    /// `production`, a base URL that looks like production is refused.
    #[arg(long, env = "GAUNTLET_ENV", default_value = "sandbox")]
    pub env: String,
    /// A `.env`-style file of base URLs and ids (never secrets).
    #[arg(long, env = "GAUNTLET_ENV_FILE")]
    pub env_file: Option<PathBuf>,
    /// The run folder (default: `reports/smoke-<env>-<UTC time>`).
    #[arg(long, env = "GAUNTLET_OUT")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    /// The plan file (default: `scenarios/nightly.toml`).
    pub plan: Option<PathBuf>,
    /// Override the plan's duration (e.g. 10s, 5m).
    #[arg(long, env = "GAUNTLET_DURATION", value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Override the offered rate, actions per second.
    #[arg(long, env = "GAUNTLET_RATE")]
    pub rate: Option<f64>,
    /// Override the plan's seed.
    #[arg(long, env = "GAUNTLET_SEED")]
    pub seed: Option<u64>,
    /// The run folder (default: `reports/<plan>-<UTC time>`).
    #[arg(long, env = "GAUNTLET_OUT")]
    pub out: Option<PathBuf>,
    /// Load this URL instead of the embedded twin. A loopback twin started with
    /// `gauntlet mock` gets the plan's faults when GAUNTLET_CONTROL_TOKEN is set.
    #[arg(long, env = "GAUNTLET_TARGET")]
    pub target: Option<String>,
    /// Lift the rate cap on a non-loopback target.
    #[arg(long)]
    pub i_know_this_is_load: bool,
    /// The --target off loopback is a gauntlet twin (a shared twin in a cluster):
    /// send it GAUNTLET_CONTROL_TOKEN, install the plan's faults, read its account.
    /// Without this only a loopback target is ever sent the token.
    #[arg(long, env = "GAUNTLET_REMOTE_TWIN")]
    pub remote_twin: bool,
    /// Compare the run with this baseline (a summary.json): a regression fails the run.
    #[arg(long, env = "GAUNTLET_BASELINE")]
    pub baseline: Option<PathBuf>,
    /// How much worse than the baseline a metric may be, percent of the baseline
    /// (default 10).
    #[arg(long, env = "GAUNTLET_TOLERANCE")]
    pub tolerance: Option<f64>,
    /// Run only segment i of n of the plan (0-based, e.g. 1/4): every n-th batch,
    /// for `gauntlet merge` to join with the others.
    #[arg(long, env = "GAUNTLET_SEGMENT")]
    pub segment: Option<String>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct MergeArgs {
    /// The segments' run folders.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where the merged run's folder goes.
    #[arg(long, env = "GAUNTLET_OUT")]
    pub out: PathBuf,
    /// The shared twin every segment pointed at: its account is read once, here
    /// (GAUNTLET_CONTROL_TOKEN).
    #[arg(long, env = "GAUNTLET_TWIN")]
    pub twin: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct MockArgs {
    /// Address to listen on (loopback unless --allow-non-loopback).
    #[arg(long, env = "GAUNTLET_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Twin configuration (TOML): limits, keys, sequencer, fault rules.
    #[arg(long, env = "GAUNTLET_TWIN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Seed for every random draw (overrides the config file).
    #[arg(long, env = "GAUNTLET_SEED")]
    pub seed: Option<u64>,
    /// Twin seconds per real second (overrides the config file).
    #[arg(long, env = "GAUNTLET_TIME_SCALE")]
    pub time_scale: Option<f64>,
    /// Listen on a non-loopback address. The control API shares the listener.
    #[arg(long)]
    pub allow_non_loopback: bool,
    /// The id of Boson's seeded test offer (overrides the config file).
    #[arg(long, env = "GAUNTLET_KNOWN_OFFER")]
    pub known_offer: Option<u64>,
    /// Also serve Boson's JSON-RPC on 127.0.0.1:8545, at `/`, where core-sdk's
    /// `local-31337-0` configuration (and ethers, viem) expect a node, and the
    /// meta-transaction relayer on 127.0.0.1:8888, where it expects Biconomy.
    #[arg(long, env = "GAUNTLET_BOSON_PORTS")]
    pub boson_ports: bool,
}
