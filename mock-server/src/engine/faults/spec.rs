//! Fault rules: what a user writes (`RuleSpec`) and the checked `Rule` the engine runs.
//!
//! A rule is *what* (kind and its parameters) + *where* (route pattern) + *when*
//! (always, a window `at`+`for`, or `every` period with a `for` window) + *how often*
//! (probability, optional limit). The same spec is read from TOML (twin config, plan
//! files) and from JSON (control API), so one validation (`RuleSpec::validate`, in
//! `check.rs`) covers both. Three kinds are about a chain rather than requests
//! (`reorg`, `pause`, `upgrade`): they take no route and are decided per mined block
//! (`chain.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::engine::faults::Latency;
use crate::engine::faults::chain::ReorgFate;
use crate::engine::faults::relayer::RelayerMode;
use crate::engine::faults::route::RoutePattern;
use crate::engine::faults::webhook::WebhookFault;
pub use crate::engine::faults::when::When;

/// A fault rule as written. Every field is optional except `kind`; validation says
/// which fields a kind takes and rejects the rest by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// A name for reports and the tape; defaults to `<kind>#<index>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Request kinds: status, latency, reset, hang, stall, lost_reply, truncated,
    /// malformed, flat_error, partial_batch, health_degraded; a `webhook_*` kind for
    /// deliveries; a chain kind, decided per mined block: reorg, pause, upgrade; or
    /// `relayer` (with `mode`) for the meta-transaction relayer's requests.
    pub kind: String,
    /// `[METHOD ]PATH` where PATH segments may be `*` (one segment) and a trailing
    /// `*` matches the rest: `POST /ebus/actions/batch`, `/ebus/*`, `*`. METHOD is
    /// a standard one; PATH starts with `/` and holds no whitespace or query. Not
    /// for webhook kinds (they match `event`) nor chain kinds (they hit blocks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Start of the window, counted from when the rules were installed.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub at: Option<Duration>,
    /// Length of the window (with `at`) or of each periodic window (with `every`);
    /// never zero.
    #[serde(
        default,
        rename = "for",
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub for_: Option<Duration>,
    /// Period of a recurring window; the first opens at `at` (default 0).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub every: Option<Duration>,
    /// Chance that a matching request gets the fault (default 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// At most this many injections over the rule's life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,

    /// status, lost_reply: the HTTP status sent, an error status (4xx or 5xx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// status: `Retry-After` seconds (429 and 503 default to 1); relayer
    /// rate_limited (default 1) and unavailable (none by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// status: extra response headers; not the framing and hop-by-hop ones
    /// ([`FORBIDDEN_HEADERS`]), which would make the reply unreadable rather than wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    /// status: a raw body instead of the error envelope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,

    /// latency: fixed, uniform, normal, lognormal, pareto.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dist: Option<String>,
    /// latency fixed: the delay.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub delay: Option<Duration>,
    /// latency uniform: bounds; every distribution: `max` caps a draw (default 30 s).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub min: Option<Duration>,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub max: Option<Duration>,
    /// latency normal: mean and standard deviation.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub mean: Option<Duration>,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub stddev: Option<Duration>,
    /// latency lognormal: the median and the shape sigma (of the log).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub median: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma: Option<f64>,
    /// latency pareto: the scale (the minimum delay) and the shape alpha.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub scale: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<f64>,

    /// hang: how long the request hangs before the connection is dropped (default
    /// 30 s); relayer hang: the bound when the window lasts longer.
    #[serde(
        default,
        rename = "hang_for",
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub hang_for: Option<Duration>,
    /// lost_reply: `status` (send `status`, default 502) or `drop` (close the connection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// partial_batch: share of the batch's actions that fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fraction: Option<f64>,
    /// partial_batch: the per-action codes drawn from (default [500, 503]), each 4xx or 5xx.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codes: Option<Vec<u16>>,

    /// webhook_*: the event types the rule applies to (`*`, `object.*`, an exact type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// webhook_duplicate: sequential, concurrent or after_ack. relayer: refuse,
    /// unavailable, hang, never_mines, resubmit, nonce_error, rate_limited,
    /// limit_reached or gas_estimation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// relayer limit_reached: which of Biconomy's limits was reached (dapp, user,
    /// api, gas: codes 150..=153); dapp by default. Not `limit`, which caps a rule's
    /// injections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<String>,

    /// reorg: how many blocks are dropped, 1..=[`MAX_REORG_DEPTH`](super::chain::MAX_REORG_DEPTH).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<u64>,
    /// reorg: what becomes of the dropped blocks' transactions: remine (default),
    /// reorder or drop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fate: Option<String>,
    /// pause: the regions of the contract that refuse calls while the window is
    /// open; the platform knows (and checks) the names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regions: Option<Vec<String>>,
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Answer with this status instead of handling the request.
    Status {
        status: u16,
        retry_after: Option<u64>,
        headers: Vec<(String, String)>,
        body: Option<String>,
    },
    /// Delay before handling.
    Latency(Latency),
    /// Close the connection with a TCP reset, nothing applied.
    Reset,
    /// Hold the request, then drop the connection, nothing applied.
    Hang(Duration),
    /// The server is frozen: hold the request until the rule's window closes, then
    /// handle it normally (a `kill -STOP` without the signal). Only windowed rules.
    Stall,
    /// Apply, then lose the reply: send `Some(status)` or drop the connection.
    LostReply(Option<u16>),
    /// Apply, then send the real headers and half the body, then close.
    Truncated,
    /// Apply, then send a complete response whose body is not valid JSON.
    Malformed,
    /// Errors use the flat `{code,message,details}` shape instead of the envelope.
    FlatError,
    /// A share of the batch's actions fail with their own codes.
    PartialBatch { fraction: f64, codes: Vec<u16> },
    /// `GET /health` reports `degraded`.
    HealthDegraded,
    /// Something the twin does to a webhook delivery.
    Webhook(WebhookFault),
    /// Chain: drop the last `depth` blocks; their transactions meet `fate`.
    Reorg { depth: u64, fate: ReorgFate },
    /// Chain: these regions of the contract are paused while the window is open.
    Pause { regions: Vec<String> },
    /// Chain: the contract is upgraded (a DiamondCut event).
    Upgrade,
    /// Chain: the indexer (the subgraph) shows each block mined in the window only
    /// after a delay drawn from this distribution.
    IndexerLag(Latency),
    /// What the meta-transaction relayer does to a request (or to its listener).
    Relayer(RelayerMode),
}

impl FaultKind {
    /// The kind's name as written in specs and on the tape.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Status { .. } => "status",
            Self::Latency(_) => "latency",
            Self::Reset => "reset",
            Self::Hang(_) => "hang",
            Self::Stall => "stall",
            Self::LostReply(_) => "lost_reply",
            Self::Truncated => "truncated",
            Self::Malformed => "malformed",
            Self::FlatError => "flat_error",
            Self::PartialBatch { .. } => "partial_batch",
            Self::HealthDegraded => "health_degraded",
            Self::Webhook(w) => w.name(),
            Self::Reorg { .. } => "reorg",
            Self::Pause { .. } => "pause",
            Self::Upgrade => "upgrade",
            Self::IndexerLag(_) => "indexer_lag",
            Self::Relayer(_) => "relayer",
        }
    }

    /// Is this a chain kind, decided per block and never per request or delivery?
    pub fn is_chain(&self) -> bool {
        matches!(
            self,
            Self::Reorg { .. } | Self::Pause { .. } | Self::Upgrade | Self::IndexerLag(_)
        )
    }

    /// The chain kinds' names (apart from the request kinds' [`FaultKind::NAMES`]).
    pub const CHAIN_NAMES: [&'static str; 4] = ["reorg", "pause", "upgrade", "indexer_lag"];

    /// Every request kind name, for error messages and test tables.
    pub const NAMES: [&'static str; 11] = [
        "status",
        "latency",
        "reset",
        "hang",
        "stall",
        "lost_reply",
        "truncated",
        "malformed",
        "flat_error",
        "partial_batch",
        "health_degraded",
    ];
}

/// A checked rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub kind: FaultKind,
    pub route: RoutePattern,
    pub when: When,
    pub probability: f64,
    pub limit: Option<u64>,
    /// The spec it came from, returned by `GET /_gauntlet/rules`.
    pub spec: RuleSpec,
}

impl Rule {
    /// The same rule with its windows opening `by` later (for a caller whose own
    /// zero comes after the rules are installed).
    pub fn delayed(&self, by: Duration) -> Rule {
        let mut r = self.clone();
        match &mut r.when {
            When::Always => return r,
            When::Window { at, .. } | When::Every { at, .. } => *at += by,
        }
        r.spec.at = Some(r.spec.at.unwrap_or_default() + by);
        r
    }

    /// The same rule as if its set had been installed `ago` earlier: for a twin
    /// that restarted mid-run, so the plan's timeline goes on where it was. A
    /// window already over is gone (None); one open now stays open to its end; a
    /// recurring one keeps its phase, and one open now resumes at its next turn.
    pub fn resumed(&self, ago: Duration) -> Option<Rule> {
        let mut r = self.clone();
        match &mut r.when {
            When::Always => return Some(r),
            When::Window { at, len } => {
                if *at >= ago {
                    *at -= ago;
                } else if *at + *len > ago {
                    *len = *at + *len - ago;
                    *at = Duration::ZERO;
                } else {
                    return None;
                }
                r.spec.for_ = Some(*len);
                r.spec.at = Some(*at);
            }
            When::Every { at, period, .. } => {
                if *at >= ago {
                    *at -= ago;
                } else {
                    let into = (ago - *at).as_nanos() % period.as_nanos().max(1);
                    *at = match into {
                        0 => Duration::ZERO,
                        n => Duration::from_nanos((period.as_nanos() - n) as u64),
                    };
                }
                r.spec.at = Some(*at);
            }
        }
        Some(r)
    }
}

/// A rule that does not make sense, naming the key that is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct SpecError {
    /// Path of the key within the rule list, e.g. `faults[2].probability`.
    pub key: String,
    pub reason: String,
}

/// Longest latency or hang a rule may ask for: keeps every request bounded in time.
pub const MAX_DELAY: Duration = Duration::from_secs(300);
/// Longest `at`, `for` or `every`: a year is longer than any soak, and keeps the
/// window arithmetic far from overflow.
pub const MAX_WINDOW: Duration = Duration::from_secs(366 * 24 * 3600);
/// Default cap on a latency draw, so a heavy tail cannot stall a run.
pub const DEFAULT_LATENCY_CAP: Duration = Duration::from_secs(30);
/// Default hang: longer than any sane client timeout, short enough to drain.
pub const DEFAULT_HANG: Duration = Duration::from_secs(30);
/// Headers a fault may not set: they frame the message or belong to the
/// connection, so a wrong value breaks the exchange instead of testing the client.
pub const FORBIDDEN_HEADERS: [&str; 9] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "host",
    "upgrade",
    "te",
    "trailer",
];

/// Check a whole rule list; `prefix` names the list (`faults`, `rules`).
pub fn validate_all(specs: &[RuleSpec], prefix: &str) -> Result<Vec<Rule>, SpecError> {
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| s.validate(&format!("{prefix}[{i}]")))
        .collect()
}
