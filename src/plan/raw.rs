//! What a user writes in a plan file: serde structs that refuse unknown keys.

use std::time::Duration;

use gauntlet_mock::RuleSpec;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    pub run: RunFile,
    #[serde(default)]
    pub target: TargetFile,
    #[serde(default)]
    pub client: ClientFile,
    #[serde(default)]
    pub faults: Vec<toml::Spanned<RuleSpec>>,
    #[serde(default)]
    pub thresholds: ThresholdsFile,
    #[serde(default)]
    pub webhooks: WebhooksFile,
    pub boson: Option<super::boson::BosonFile>,
    #[serde(default)]
    pub soak: super::soak::SoakFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksFile {
    /// `reference` (the default: gauntlet's handler), `off`, or the URL of yours.
    pub handler: Option<String>,
    /// A flaw for the reference handler (none, duplicate, no-verify, ...).
    pub flaw: Option<String>,
    /// Share of each batch's actions that are transfers (their events demand effects).
    pub transfer_share: Option<f64>,
    /// Objects created before the load for the transfers to move.
    pub pool: Option<usize>,
    /// How long after the load effects may still arrive.
    #[serde(default, with = "humantime_serde")]
    pub settle: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunFile {
    /// How long the pacer offers load.
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    pub seed: Option<u64>,
    /// Actions per second offered.
    pub rate: f64,
    #[serde(default)]
    pub batch: Option<BatchFile>,
    /// Goose users (dispatchers; each keeps many batches in flight).
    pub users: Option<usize>,
    /// How long one batch may stay in flight, retries included (sizes the room
    /// for batches in flight when `max_in_flight` is absent).
    #[serde(default, with = "humantime_serde")]
    pub latency_budget: Option<Duration>,
    /// Batches in flight at most.
    pub max_in_flight: Option<usize>,
    /// How long batches in flight may take to finish once the schedule is over.
    #[serde(default, with = "humantime_serde")]
    pub drain: Option<Duration>,
    /// Excluded from the achieved-rate measurement at the start.
    #[serde(default, with = "humantime_serde")]
    pub warmup: Option<Duration>,
    /// Period of the interval histograms.
    #[serde(default, with = "humantime_serde")]
    pub snapshot: Option<Duration>,
    /// Windows with another offered rate.
    #[serde(default)]
    pub surge: Vec<toml::Spanned<SurgeFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchFile {
    pub min: usize,
    pub max: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurgeFile {
    #[serde(with = "humantime_serde")]
    pub at: Duration,
    #[serde(rename = "for", with = "humantime_serde")]
    pub for_: Duration,
    pub rate: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetFile {
    /// A running twin or a real deployment; absent: the embedded twin.
    pub url: Option<String>,
    /// The embedded twin's event-bus limit (actions/s per organization).
    pub actions_per_sec: Option<u32>,
    /// The embedded twin's fee per applied action, in DUAL tokens.
    pub fee_per_action: Option<f64>,
    /// The organization's DUAL balance at the start (the embedded twin's).
    pub org_balance: Option<f64>,
    /// Alert when the balance falls below this (reported, not judged).
    pub balance_low: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientFile {
    pub backoff: Option<String>,
    #[serde(default, with = "humantime_serde")]
    pub base: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub cap: Option<Duration>,
    pub max_attempts: Option<u32>,
    #[serde(default, with = "humantime_serde")]
    pub max_elapsed: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    pub flaw: Option<String>,
    /// Sign every mutation with EIP-712 (the embedded twin then requires it).
    pub eip712: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdsFile {
    pub max_lost: Option<u64>,
    pub max_duplicated: Option<u64>,
    pub max_early_retries: Option<u64>,
    pub max_gave_up: Option<u64>,
    /// Actions refused with a final 4xx (a wrong key, a malformed action).
    pub max_rejected: Option<u64>,
    /// Webhook effects due and never performed (delivered or not).
    pub max_effects_lost: Option<u64>,
    pub max_effects_duplicated: Option<u64>,
    /// Forged or stale deliveries the handler answered 2xx.
    pub max_forgeries_accepted: Option<u64>,
    /// Handler answers slower than 5 s.
    pub max_slow_answers: Option<u64>,
    #[serde(default, with = "humantime_serde")]
    pub max_p50_latency: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub max_p99_latency: Option<Duration>,
    /// Time to accept (first intended send to the 2xx that applied it, across
    /// retries), p99 over actions.
    #[serde(default, with = "humantime_serde")]
    pub max_p99_accept: Option<Duration>,
    /// The harness's own start lag, p99: above it the harness, not the target,
    /// was the bottleneck.
    #[serde(default, with = "humantime_serde")]
    pub max_harness_lag: Option<Duration>,
    /// Spread of retry times among clients told the same thing at the same time
    /// (the twin's median interquartile range).
    #[serde(default, with = "humantime_serde")]
    pub min_retry_spread: Option<Duration>,
    /// Achieved rate over the steady part, as a share of the offered rate.
    pub min_rate_ratio: Option<f64>,
    /// The jitter retries carry over the advised wait (median, seen by the twin).
    #[serde(default, with = "humantime_serde")]
    pub min_retry_jitter: Option<Duration>,
}
