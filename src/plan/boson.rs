//! `[boson]` in a run plan: the `boson_lifecycle` load (exchanges per second,
//! open model), the mix of paths, the client (the reference, or one of its
//! flaws), the embedded twin's chain settings, and the Boson checks' limits.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::boson::lifecycle::Path as Walk;

/// Exchanges per second a plan may ask for (each is a handful of transactions,
/// each polled until confirmed and indexed).
pub const MAX_EXCHANGE_RATE: f64 = 50.0;

/// A deliberately flawed lifecycle client, each failing exactly one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleFlaw {
    /// Reads the exchange back from the subgraph without waiting for it to index
    /// the write, and acts on what it read.
    NoSubgraphWait,
    /// When the relayer times out after taking the request, sends the same call
    /// directly as well.
    DoubleSubmitOnRelayerTimeout,
    /// Treats a paused region as a final failure and gives the exchange up.
    IgnoresPaused,
    /// Acts on its transaction's receipt, before the confirmations.
    ActsUnconfirmed,
    /// Never withdraws: the protocol's available funds grow without bound.
    NoWithdraw,
}

impl LifecycleFlaw {
    pub const NAMES: [&'static str; 5] = [
        "no_subgraph_wait",
        "double_submit_on_relayer_timeout",
        "ignores_paused",
        "acts_unconfirmed",
        "no_withdraw",
    ];

    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "no_subgraph_wait" => Self::NoSubgraphWait,
            "double_submit_on_relayer_timeout" => Self::DoubleSubmitOnRelayerTimeout,
            "ignores_paused" => Self::IgnoresPaused,
            "acts_unconfirmed" => Self::ActsUnconfirmed,
            "no_withdraw" => Self::NoWithdraw,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        let i = self as usize;
        Self::NAMES[i]
    }
}

/// `[boson]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BosonFile {
    /// Exchanges started per second.
    pub rate: f64,
    /// Shares of each path (complete, dispute, cancel, revoke).
    pub paths: Option<BTreeMap<String, f64>>,
    /// Buyers the twin seeds; each exchange takes one for its whole walk.
    pub buyers: Option<usize>,
    #[serde(default, with = "humantime_serde")]
    pub block_time: Option<Duration>,
    pub confirmations: Option<u64>,
    /// Submit through the relayer (falling back to direct when it is down).
    pub relayer: Option<bool>,
    #[serde(default, with = "humantime_serde")]
    pub withdraw_every: Option<Duration>,
    /// The seller withdraws as soon as its available funds exceed this.
    pub withdraw_above_eth: Option<f64>,
    /// `reference`, or a flaw's name.
    pub client: Option<String>,
    /// The bound on each wait (mined, confirmed, indexed, a pause lifted).
    #[serde(default, with = "humantime_serde")]
    pub deadline: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub poll: Option<Duration>,
    /// The subgraph is stale (an alert) this many blocks behind the head.
    pub subgraph_stale_blocks: Option<u64>,
    /// The seller's wallet is low (an alert) below this, ETH.
    pub wallet_low_eth: Option<f64>,
    /// The wallet's expected daily burn, ETH: drain alerts at 0.5x, 0.2x, 0.1x.
    pub daily_burn_eth: Option<f64>,
    #[serde(default)]
    pub thresholds: BosonThresholdsFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BosonThresholdsFile {
    pub max_lost_transitions: Option<u64>,
    pub max_double_submitted: Option<u64>,
    pub max_unconfirmed_actions: Option<u64>,
    pub max_stale_reads: Option<u64>,
    pub max_available_eth: Option<f64>,
}

/// The Boson checks' limits.
#[derive(Debug, Clone, PartialEq)]
pub struct BosonThresholds {
    pub max_lost_transitions: u64,
    pub max_double_submitted: u64,
    pub max_unconfirmed_actions: u64,
    pub max_stale_reads: u64,
    /// The protocol's available (unwithdrawn) funds, sampled through the run, at most.
    pub max_available_eth: f64,
}

/// A checked `[boson]`.
#[derive(Debug, Clone, PartialEq)]
pub struct BosonLoad {
    pub rate: f64,
    /// Cumulative shares, in the paths' alphabetical order.
    pub mix: Vec<(Walk, f64)>,
    pub buyers: usize,
    pub block_time: Duration,
    pub confirmations: u64,
    pub relayer: bool,
    pub withdraw_every: Duration,
    pub withdraw_above_wei: u128,
    pub flaw: Option<LifecycleFlaw>,
    pub deadline: Duration,
    pub poll: Duration,
    pub subgraph_stale_blocks: u64,
    pub wallet_low_eth: f64,
    pub daily_burn_eth: f64,
    pub thresholds: BosonThresholds,
}

pub const DEFAULT_BUYERS: usize = 64;
pub const DEFAULT_BLOCK_TIME: Duration = Duration::from_secs(1);
pub const DEFAULT_CONFIRMATIONS: u64 = 3;
pub const DEFAULT_WITHDRAW_EVERY: Duration = Duration::from_secs(10);
pub const DEFAULT_WITHDRAW_ABOVE_ETH: f64 = 0.1;
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);
pub const DEFAULT_POLL: Duration = Duration::from_millis(200);
pub const DEFAULT_MAX_AVAILABLE_ETH: f64 = 1.0;
/// The seed's "more than ~20 blocks behind the chain head".
pub const DEFAULT_SUBGRAPH_STALE_BLOCKS: u64 = 20;
pub const DEFAULT_WALLET_LOW_ETH: f64 = 1.0;
pub const DEFAULT_DAILY_BURN_ETH: f64 = 1.0;

fn path_named(name: &str) -> Option<Walk> {
    Walk::ALL.into_iter().find(|p| p.name() == name)
}

fn duration(
    v: Option<Duration>,
    default: Duration,
    key: &'static str,
    range: (Duration, Duration),
) -> Result<Duration, (&'static str, String)> {
    let d = v.unwrap_or(default);
    if d < range.0 || d > range.1 {
        return Err((
            key,
            format!(
                "must be within {}..={}",
                humantime::format_duration(range.0),
                humantime::format_duration(range.1)
            ),
        ));
    }
    Ok(d)
}

/// Check `[boson]`; an error names its key (relative to `boson.`).
pub fn check(b: BosonFile) -> Result<BosonLoad, (&'static str, String)> {
    if !(b.rate > 0.0 && b.rate <= MAX_EXCHANGE_RATE) {
        return Err((
            "rate",
            format!("must be within (0, {MAX_EXCHANGE_RATE}] exchanges/s"),
        ));
    }
    let shares = b
        .paths
        .unwrap_or_else(|| BTreeMap::from([("complete".into(), 1.0)]));
    let mut mix = Vec::new();
    let mut total = 0.0;
    for (name, share) in &shares {
        let Some(p) = path_named(name) else {
            return Err((
                "paths",
                format!("`{name}`: expected complete, dispute, cancel or revoke"),
            ));
        };
        if !(*share >= 0.0 && share.is_finite()) {
            return Err(("paths", format!("`{name}`: a share must be 0 or more")));
        }
        total += share;
        mix.push((p, total));
    }
    if total <= 0.0 {
        return Err(("paths", "the shares add up to nothing".into()));
    }
    for m in &mut mix {
        m.1 /= total;
    }
    let buyers = b.buyers.unwrap_or(DEFAULT_BUYERS);
    if !(1..=gauntlet_mock::boson::config::MAX_BUYERS).contains(&buyers) {
        return Err((
            "buyers",
            format!("must be 1..={}", gauntlet_mock::boson::config::MAX_BUYERS),
        ));
    }
    let second = Duration::from_secs(1);
    let hour = Duration::from_secs(3600);
    let block_time = duration(
        b.block_time,
        DEFAULT_BLOCK_TIME,
        "block_time",
        (Duration::from_millis(100), Duration::from_secs(60)),
    )?;
    let confirmations = b.confirmations.unwrap_or(DEFAULT_CONFIRMATIONS);
    if !(1..=64).contains(&confirmations) {
        return Err(("confirmations", "must be 1..=64".into()));
    }
    let withdraw_above = b.withdraw_above_eth.unwrap_or(DEFAULT_WITHDRAW_ABOVE_ETH);
    if !(withdraw_above.is_finite() && (0.0..=1e6).contains(&withdraw_above)) {
        return Err(("withdraw_above_eth", "must be within 0..=1000000".into()));
    }
    let flaw = match b.client.as_deref() {
        None | Some("reference") => None,
        Some(f) => Some(LifecycleFlaw::from_name(f).ok_or((
            "client",
            format!(
                "`{f}`: expected reference, {}",
                LifecycleFlaw::NAMES.join(", ")
            ),
        ))?),
    };
    let eth = |v: Option<f64>, d: f64, key: &'static str| match v.unwrap_or(d) {
        x if x.is_finite() && (0.0..=1e9).contains(&x) => Ok(x),
        _ => Err((key, "must be within 0..=1000000000 ETH".to_string())),
    };
    let wallet_low_eth = eth(b.wallet_low_eth, DEFAULT_WALLET_LOW_ETH, "wallet_low_eth")?;
    let daily_burn_eth = eth(b.daily_burn_eth, DEFAULT_DAILY_BURN_ETH, "daily_burn_eth")?;
    let subgraph_stale_blocks = b
        .subgraph_stale_blocks
        .unwrap_or(DEFAULT_SUBGRAPH_STALE_BLOCKS);
    let t = b.thresholds;
    let max_available_eth = t.max_available_eth.unwrap_or(DEFAULT_MAX_AVAILABLE_ETH);
    if !(max_available_eth.is_finite() && max_available_eth >= 0.0) {
        return Err(("thresholds.max_available_eth", "must be 0 or more".into()));
    }
    Ok(BosonLoad {
        rate: b.rate,
        mix,
        buyers,
        block_time,
        confirmations,
        relayer: b.relayer.unwrap_or(true),
        withdraw_every: duration(
            b.withdraw_every,
            DEFAULT_WITHDRAW_EVERY,
            "withdraw_every",
            (second, hour),
        )?,
        withdraw_above_wei: (withdraw_above * 1e18) as u128,
        flaw,
        deadline: duration(b.deadline, DEFAULT_DEADLINE, "deadline", (second, hour))?,
        poll: duration(
            b.poll,
            DEFAULT_POLL,
            "poll",
            (Duration::from_millis(10), Duration::from_secs(10)),
        )?,
        subgraph_stale_blocks,
        wallet_low_eth,
        daily_burn_eth,
        thresholds: BosonThresholds {
            max_lost_transitions: t.max_lost_transitions.unwrap_or(0),
            max_double_submitted: t.max_double_submitted.unwrap_or(0),
            max_unconfirmed_actions: t.max_unconfirmed_actions.unwrap_or(0),
            max_stale_reads: t.max_stale_reads.unwrap_or(0),
            max_available_eth,
        },
    })
}

impl BosonLoad {
    /// The mix as written: `complete 70%, dispute 20%, ...`.
    pub fn mix_text(&self) -> String {
        let mut prev = 0.0;
        self.mix
            .iter()
            .filter_map(|(p, c)| {
                let share = c - prev;
                prev = *c;
                (share > 0.0).then(|| format!("{} {:.0}%", p.name(), share * 100.0))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The path of exchange `n` (a fixed draw from the seed, so a rerun walks the same).
    pub fn path_of(&self, seed: u64, n: u64) -> Walk {
        let h = (n ^ seed.rotate_left(17)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
        let u = (h % 1_000_000) as f64 / 1_000_000.0;
        self.mix
            .iter()
            .find(|(_, c)| u < *c)
            .or(self.mix.last())
            .map_or(Walk::Complete, |(p, _)| *p)
    }
}
