//! What the Boson checklist's dashboards and alerts would have shown during the
//! run, sampled every [`SAMPLE`] on the run's clock (the twin's clock runs with
//! it): open exchanges, redemption and dispute rates, time to completion, gas
//! spent, the subgraph's distance behind the chain head and the wallet's balance;
//! each alert condition with the moment it fired; the wallet's runway projected
//! from the run's burn against the plan's expected daily burn (drain alerts at
//! 0.5x, 0.2x and 0.1x of it).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Shared;

/// How often the dashboards are sampled.
pub const SAMPLE: Duration = Duration::from_secs(2);
/// Rows kept at most (a day at 2 s); when full, every other row is dropped.
pub const MAX_ROWS: usize = 43_200;

/// One sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DashRow {
    /// Seconds from the schedule's zero.
    pub t_s: f64,
    /// Exchanges started and not yet walked to their end.
    pub open_exchanges: u64,
    /// Transitions done so far, by target state.
    pub committed: u64,
    pub redeemed: u64,
    pub completed: u64,
    pub disputed: u64,
    /// Redeemed / committed, and disputed / redeemed, so far.
    pub redemption_rate: f64,
    pub dispute_rate: f64,
    /// Gas the client paid so far, ETH.
    pub gas_paid_eth: f64,
    /// Blocks mined and not yet in the subgraph (the twin's).
    pub subgraph_behind_blocks: Option<u64>,
    /// The seller's wallet (native balance), ETH.
    pub wallet_eth: Option<f64>,
}

/// An alert condition that fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Alert {
    /// `dispute_raised`, `disputed_over_a_day`, `wallet_balance_low`,
    /// `subgraph_stale`, `drain_0.5x`, ...
    pub name: String,
    /// When it first fired, seconds from the schedule's zero (None: projected).
    pub at_s: Option<f64>,
    /// How many samples it held for.
    pub samples: u64,
    pub detail: String,
}

/// The wallet's runway from the run's burn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Runway {
    pub gas_per_exchange_eth: f64,
    pub gas_per_hour_eth: f64,
    pub wallet_eth: Option<f64>,
    /// Days the wallet lasts at the run's burn.
    pub runway_days: Option<f64>,
    /// The plan's expected daily burn, ETH.
    pub expected_daily_burn_eth: f64,
}

/// The dashboards, the alerts and the runway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Dashboards {
    pub rows: Vec<DashRow>,
    pub alerts: Vec<Alert>,
    pub runway: Runway,
    /// Time from the send of the commit to the last transition visible in the
    /// subgraph, per exchange walked.
    pub time_to_completion_ms: crate::measure::Summary,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Take one sample: the book, the twin's oracle (`oracle`), the seller's wallet.
pub(super) fn row(
    s: &Shared,
    zero: Instant,
    oracle: Option<&Value>,
    wallet_wei: Option<u128>,
) -> DashRow {
    let b = s.book();
    let done = |state: &str| {
        b.transitions
            .by_state
            .get(state)
            .map_or(0, |p| p.receipt.len())
    };
    let (committed, redeemed) = (done("Committed"), done("Redeemed"));
    let (completed, disputed) = (done("Completed"), done("Disputed"));
    let finished = b.walked + b.gave_up.values().sum::<u64>() + b.cut_off;
    DashRow {
        t_s: Instant::now().saturating_duration_since(zero).as_secs_f64(),
        open_exchanges: b.started.saturating_sub(finished),
        committed,
        redeemed,
        completed,
        disputed,
        redemption_rate: ratio(redeemed, committed),
        dispute_rate: ratio(disputed, redeemed),
        gas_paid_eth: super::account::wei_to_eth(u128::try_from(b.gas_wei).unwrap_or(u128::MAX)),
        subgraph_behind_blocks: oracle.and_then(|o| o["subgraph"]["behind_blocks"].as_u64()),
        wallet_eth: wallet_wei.map(super::account::wei_to_eth),
    }
}

/// Keep `row`, thinning the oldest half when full (bounded memory on a soak).
pub(super) fn keep(rows: &mut Vec<DashRow>, row: DashRow) {
    if rows.len() >= MAX_ROWS {
        let mut i = 0;
        rows.retain(|_| {
            i += 1;
            i % 2 == 0
        });
    }
    rows.push(row);
}

/// Fire `name` for each row where `hit` holds: the first time and how often.
fn alert(rows: &[DashRow], name: &str, hit: impl Fn(&DashRow) -> Option<String>) -> Option<Alert> {
    let mut fired = rows.iter().filter_map(|r| hit(r).map(|d| (r.t_s, d)));
    let (at, detail) = fired.next()?;
    Some(Alert {
        name: name.into(),
        at_s: Some(at),
        samples: 1 + fired.count() as u64,
        detail,
    })
}

/// The alerts and the runway from the samples.
pub fn judge(
    rows: Vec<DashRow>,
    plan: &crate::plan::boson::BosonLoad,
    walked: u64,
    longest_dispute: Duration,
    ran: Duration,
    completion: crate::measure::Summary,
) -> Dashboards {
    let mut alerts: Vec<Alert> = [
        alert(&rows, "dispute_raised", |r| {
            (r.disputed > 0).then(|| format!("{} disputes raised", r.disputed))
        }),
        alert(&rows, "subgraph_stale", |r| {
            r.subgraph_behind_blocks
                .filter(|b| *b > plan.subgraph_stale_blocks)
                .map(|b| {
                    format!(
                        "{b} blocks behind the head (limit {})",
                        plan.subgraph_stale_blocks
                    )
                })
        }),
        alert(&rows, "wallet_balance_low", |r| {
            r.wallet_eth
                .filter(|w| *w < plan.wallet_low_eth)
                .map(|w| format!("{w:.4} ETH (limit {})", plan.wallet_low_eth))
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    if longest_dispute > Duration::from_secs(24 * 3600) {
        alerts.push(Alert {
            name: "disputed_over_a_day".into(),
            at_s: None,
            samples: 0,
            detail: format!("an exchange stayed disputed for {longest_dispute:?}"),
        });
    }
    let last = rows.last();
    let gas = last.map_or(0.0, |r| r.gas_paid_eth);
    let per_hour = gas / ran.as_secs_f64().max(1.0) * 3600.0;
    let wallet = last.and_then(|r| r.wallet_eth);
    let daily = plan.daily_burn_eth;
    // Drain alerts: the wallet below 0.5x, 0.2x, 0.1x of the expected daily burn.
    for k in [0.5, 0.2, 0.1] {
        if let Some(w) = wallet.filter(|w| daily > 0.0 && *w < k * daily) {
            alerts.push(Alert {
                name: format!("drain_{k}x"),
                at_s: last.map(|r| r.t_s),
                samples: 1,
                detail: format!(
                    "wallet {w:.4} ETH below {k} x the expected daily burn ({daily} ETH)"
                ),
            });
        }
    }
    Dashboards {
        alerts,
        runway: Runway {
            gas_per_exchange_eth: if walked == 0 {
                0.0
            } else {
                gas / walked as f64
            },
            gas_per_hour_eth: per_hour,
            wallet_eth: wallet,
            runway_days: wallet
                .filter(|_| per_hour > 0.0)
                .map(|w| w / (per_hour * 24.0)),
            expected_daily_burn_eth: daily,
        },
        rows,
        time_to_completion_ms: completion,
    }
}
