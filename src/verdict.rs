//! The verdict: the client's measurements joined with the twin's oracle, checked
//! against the plan's thresholds. Each check names its figure, its limit and where
//! the figure came from; a check whose figure could not be had is `skipped`, never
//! passed quietly.

use std::time::Duration;

use gauntlet_mock::OracleView;
use serde::Serialize;

use crate::measure::{Counts, Summary};
use crate::plan::Thresholds;

/// One check.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Check {
    /// A stable name (`lost`, `duplicated`, `early_retries`, ...).
    pub name: &'static str,
    /// What the figure counts, for a person.
    pub what: &'static str,
    pub value: Option<f64>,
    /// `<= x` or `>= x`.
    pub limit: String,
    pub status: Status,
    /// `twin` (server side), `client`, `harness` (the harness's own figures) or
    /// `baseline`.
    pub source: &'static str,
    /// More about this result: the window that failed first, a growth's slope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// The figure was not available (no oracle, no retries with advice).
    Skipped,
}

/// The twin's account of the load's own actions (those tagged with this run's
/// id), next to what the client sent: the one definition of `lost` that the
/// verdict, `compare` and the report all use.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct LoadAccount {
    /// The run's id: every action of the load carries it as `payload.run`.
    pub run_id: String,
    /// Actions the load sent (in batches a user started).
    pub sent: u64,
    /// Distinct actions of the load the twin applied at least once.
    pub applied: u64,
    /// Distinct actions of the load the twin applied more than once.
    pub duplicated: u64,
    /// Actions of the load refused for good: the larger of the twin's distinct
    /// count and the client's. A request refused as a whole (a 401, a 413, a 4xx
    /// fault) may never reach the twin's per-action ledger; the client saw it.
    pub rejected: u64,
    /// Actions the harness cut off at the end of the drain (neither lost nor
    /// given up; the run fails `cut_off` instead).
    pub cut_off: u64,
    /// Sent, never applied, never finally refused, not cut off: the target lost
    /// them, or the client dropped them.
    pub lost: u64,
}

impl LoadAccount {
    /// Join what the client sent with the twin's per-run counts.
    pub fn of(counts: &Counts, run_id: &str, oracle: &OracleView) -> LoadAccount {
        let (applied, duplicated, rejected) = run_actions(oracle, run_id);
        let rejected = rejected.max(counts.rejected);
        LoadAccount {
            run_id: run_id.to_string(),
            sent: counts.actions,
            applied,
            duplicated,
            rejected,
            cut_off: counts.cut_off,
            lost: counts
                .actions
                .saturating_sub(applied)
                .saturating_sub(rejected)
                .saturating_sub(counts.cut_off),
        }
    }
}

/// The twin's (applied, duplicated, rejected) distinct actions of one run; all
/// zero when the twin saw none of them.
fn run_actions(o: &OracleView, run_id: &str) -> (u64, u64, u64) {
    o.runs
        .get(run_id)
        .map_or((0, 0, 0), |r| (r.applied, r.duplicated, r.rejected))
}

/// Everything the verdict is computed from.
#[derive(Debug, Clone)]
pub struct Evidence<'a> {
    pub counts: &'a Counts,
    /// Per action, from the intended send time.
    pub latency: &'a Summary,
    /// Time to accept, per action.
    pub accept: &'a Summary,
    /// The harness's own start lag.
    pub lag: &'a Summary,
    /// The load's own actions on the twin.
    pub load: Option<&'a LoadAccount>,
    /// The twin's account, when the target is a twin.
    pub oracle: Option<&'a OracleView>,
    /// Applied actions/s over the steady window, as the twin counted them.
    pub applied_rate: Option<f64>,
    /// The plan's offered rate over the steady window.
    pub offered_rate: f64,
    /// Webhooks were delivered during the run: their checks apply.
    pub webhooks: bool,
}

/// The whole verdict.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Verdict {
    pub pass: bool,
    pub checks: Vec<Check>,
}

impl Verdict {
    /// A figure the verdict needed could not be had at all: the run cannot pass.
    pub fn unavailable(&mut self, name: &'static str, why: String) {
        tracing::warn!("{why}");
        self.checks.push(Check {
            name,
            what: "the twin's account was read",
            value: None,
            limit: "readable".into(),
            status: Status::Fail,
            source: "twin",
            detail: None,
        });
        self.pass = false;
    }

    /// More checks (another platform's): the verdict passes only if they do too.
    pub fn add(&mut self, checks: Vec<Check>) {
        self.pass &= checks.iter().all(|c| c.status != Status::Fail);
        self.checks.extend(checks);
    }

    /// The run was stopped before its schedule ended: it cannot pass as a whole run.
    pub fn interrupted(&mut self) {
        self.checks.insert(
            0,
            Check {
                name: "completed",
                what: "the run offered its whole schedule",
                value: Some(0.0),
                limit: ">= 1".into(),
                status: Status::Fail,
                source: "client",
                detail: None,
            },
        );
        self.pass = false;
    }

    /// Metrics regressed against the baseline: the run fails.
    pub fn compared(&mut self, regressed: usize, tolerance_pct: f64) {
        self.checks.push(Check {
            name: "baseline",
            what: "metrics worse than the baseline by more than the tolerance",
            value: Some(regressed as f64),
            limit: format!("<= 0 (tolerance {tolerance_pct}%)"),
            status: if regressed == 0 {
                Status::Pass
            } else {
                Status::Fail
            },
            source: "baseline",
            detail: None,
        });
        self.pass &= regressed == 0;
    }

    pub fn failed(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.status == Status::Fail)
    }
}

/// Which side of the limit passes.
#[derive(Clone, Copy)]
enum Bound {
    AtMost,
    AtLeast,
}

fn check(
    name: &'static str,
    what: &'static str,
    source: &'static str,
    value: Option<f64>,
    limit: Option<f64>,
    bound: Bound,
) -> Option<Check> {
    limit.map(|limit| judged(name, what, source, value, limit, bound))
}

/// `value` against `limit`, skipped without a value.
fn judged(
    name: &'static str,
    what: &'static str,
    source: &'static str,
    value: Option<f64>,
    limit: f64,
    bound: Bound,
) -> Check {
    let (ok, sign) = match bound {
        Bound::AtMost => (value.map(|v| v <= limit), "<="),
        Bound::AtLeast => (value.map(|v| v >= limit), ">="),
    };
    let status = match ok {
        None => Status::Skipped,
        Some(true) => Status::Pass,
        Some(false) => Status::Fail,
    };
    Check {
        name,
        what,
        value,
        limit: format!("{sign} {limit}"),
        status,
        source,
        detail: None,
    }
}

/// A check that `value` is at most `limit` (skipped without a value), with
/// `detail` beside it: for the checks added after `judge` (windows, stability,
/// restarts, segments).
pub fn at_most_with(
    name: &'static str,
    what: &'static str,
    source: &'static str,
    value: Option<f64>,
    limit: f64,
    detail: Option<String>,
) -> Check {
    Check {
        detail,
        ..judged(name, what, source, value, limit, Bound::AtMost)
    }
}

fn at_most(
    name: &'static str,
    what: &'static str,
    source: &'static str,
    value: Option<f64>,
    limit: Option<f64>,
) -> Option<Check> {
    check(name, what, source, value, limit, Bound::AtMost)
}

fn at_least(
    name: &'static str,
    what: &'static str,
    source: &'static str,
    value: Option<f64>,
    limit: Option<f64>,
) -> Option<Check> {
    check(name, what, source, value, limit, Bound::AtLeast)
}

/// The webhook checks: the handler's side effects, from the twin's effects ledger.
fn effect_checks(t: &Thresholds, e: &Evidence<'_>) -> Vec<Option<Check>> {
    let fx = e.oracle.filter(|_| e.webhooks).map(|o| &o.effects);
    let f = |v: u64| v as f64;
    vec![
        at_most(
            "effects_lost",
            "webhook effects due and never performed",
            "twin",
            fx.map(|x| f(x.lost + x.undelivered)),
            t.max_effects_lost.map(f),
        ),
        at_most(
            "effects_duplicated",
            "webhook effects performed more than once",
            "twin",
            fx.map(|x| f(x.duplicated + x.orphan)),
            t.max_effects_duplicated.map(f),
        ),
        at_most(
            "forgeries_accepted",
            "forged or stale deliveries the handler answered 2xx",
            "twin",
            fx.map(|x| f(x.accepted_bad_signature + x.accepted_stale_timestamp)),
            t.max_forgeries_accepted.map(f),
        ),
        at_most(
            "slow_answers",
            "handler answers slower than 5 s",
            "twin",
            fx.map(|x| f(x.slow_answers)),
            t.max_slow_answers.map(f),
        ),
    ]
}

/// Judge the evidence against the thresholds.
pub fn judge(t: &Thresholds, e: &Evidence<'_>) -> Verdict {
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
    let o = e.oracle;
    let f = |v: u64| v as f64;
    let checks: Vec<Check> = [
        // A run that offered nothing proves nothing: it never passes.
        at_least(
            "offered_actions",
            "actions the pacer offered and users sent",
            "client",
            Some(f(e.counts.actions)),
            Some(1.0),
        ),
        at_most(
            "lost",
            "the load's actions sent but never applied nor finally refused",
            "twin",
            e.load.map(|l| f(l.lost)),
            t.max_lost.map(f),
        ),
        at_most(
            "duplicated",
            "the load's actions applied more than once",
            "twin",
            e.load.map(|l| f(l.duplicated)),
            t.max_duplicated.map(f),
        ),
        at_most(
            "early_retries",
            "retries sooner than the advised wait",
            "twin",
            o.map(|o| f(o.backoff.early)),
            t.max_early_retries.map(f),
        ),
        at_most(
            "gave_up",
            "actions the client abandoned",
            "client",
            Some(f(e.counts.gave_up)),
            t.max_gave_up.map(f),
        ),
        at_most(
            "rejected",
            "actions refused with a final 4xx (a wrong key, a bad action)",
            "client",
            Some(f(e.counts.rejected)),
            t.max_rejected.map(f),
        ),
        // Slots the schedule held that were never sent (a stop, or users that
        // could not keep up): the offer sagged.
        at_most(
            "unsent",
            "scheduled actions never sent",
            "client",
            Some(f(e.counts.unsent)),
            Some(0.0),
        ),
        // Batches still in flight when the drain grace ran out: the run did not
        // see them through, so it proves nothing about them.
        at_most(
            "cut_off",
            "actions still in flight when the drain grace ran out",
            "client",
            Some(f(e.counts.cut_off)),
            Some(0.0),
        ),
        at_most(
            "harness_lag",
            "start lag p99: how late the harness itself sent (above the bound the harness, not the target, was the bottleneck)",
            "harness",
            (e.lag.count > 0).then_some(e.lag.p99_ms),
            ms(t.max_harness_lag),
        ),
        at_most(
            "latency_p50_ms",
            "latency p50 from the intended send",
            "client",
            (e.latency.count > 0).then_some(e.latency.p50_ms),
            ms(t.max_p50_latency),
        ),
        at_most(
            "latency_p99_ms",
            "latency p99 from the intended send",
            "client",
            (e.latency.count > 0).then_some(e.latency.p99_ms),
            ms(t.max_p99_latency),
        ),
        at_most(
            "accept_p99_ms",
            "time to accept p99 (intended send to the 2xx that applied it, across retries)",
            "client",
            (e.accept.count > 0).then_some(e.accept.p99_ms),
            ms(t.max_p99_accept),
        ),
        at_least(
            "rate_ratio",
            "achieved / offered rate over the steady part",
            "twin",
            e.applied_rate.map(|r| r / e.offered_rate),
            t.min_rate_ratio,
        ),
        at_least(
            // The median, not a high percentile: later retries add their own
            // exponential wait on top of the advice, jitter or not; the typical
            // (first) retry of a client without jitter comes back exactly on the advice.
            "retry_jitter_p50_ms",
            "median of how much later than advised retries came",
            "twin",
            o.filter(|o| o.backoff.over_advice.count > 0)
                .map(|o| o.backoff.over_advice.p50_ms),
            ms(t.min_retry_jitter),
        ),
        at_least(
            "retry_spread_ms",
            "spread (IQR) of retry times among clients told the same thing at once",
            "twin",
            o.and_then(|o| o.backoff.spread.as_ref()).map(|s| s.iqr_p50_ms),
            ms(t.min_retry_spread),
        ),
    ]
    .into_iter()
    .chain(effect_checks(t, e))
    .flatten()
    .collect();
    Verdict {
        pass: checks.iter().all(|c| c.status != Status::Fail),
        checks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thresholds() -> Thresholds {
        Thresholds {
            max_lost: Some(0),
            max_duplicated: Some(0),
            max_early_retries: Some(0),
            max_gave_up: Some(0),
            max_rejected: Some(0),
            max_effects_lost: Some(0),
            max_effects_duplicated: Some(0),
            max_forgeries_accepted: Some(0),
            max_slow_answers: Some(0),
            max_p50_latency: None,
            max_p99_latency: Some(Duration::from_secs(1)),
            max_p99_accept: Some(Duration::from_secs(5)),
            max_harness_lag: Some(Duration::from_millis(10)),
            min_rate_ratio: Some(0.99),
            min_retry_jitter: None,
            min_retry_spread: None,
        }
    }

    #[test]
    fn an_empty_run_and_bad_effects_fail() {
        let latency = Summary {
            count: 0,
            p50_ms: 0.0,
            p90_ms: 0.0,
            p99_ms: 0.0,
            p999_ms: 0.0,
            max_ms: 0.0,
        };
        let empty = Counts::default();
        let mut oracle: OracleView = serde_json::from_value(serde_json::json!({
            "actions": gauntlet_mock::engine::oracle::ActionCounts::default(),
            "idempotency": gauntlet_mock::engine::oracle::KeyCounts::default(),
            "bursts": [],
            "backoff": { "faulted_replies": 0, "retries": 0, "early": 0,
                "gap": { "count": 0, "p50_ms": 0.0, "p90_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0 },
                "advised": { "count": 0, "p50_ms": 0.0, "p90_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0 },
                "over_advice": { "count": 0, "p50_ms": 0.0, "p90_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0 },
                "early_by": { "count": 0, "p50_ms": 0.0, "p90_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0 } },
        }))
        .expect("an oracle view");
        oracle.effects.lost = 1;
        oracle.effects.accepted_stale_timestamp = 1;
        oracle.effects.slow_answers = 2;
        let e = Evidence {
            counts: &empty,
            latency: &latency,
            accept: &latency,
            lag: &latency,
            load: None,
            oracle: Some(&oracle),
            applied_rate: None,
            offered_rate: 1.0,
            webhooks: true,
        };
        let v = judge(&thresholds(), &e);
        let status = |n: &str| v.checks.iter().find(|c| c.name == n).map(|c| c.status);
        for failing in [
            "offered_actions",
            "effects_lost",
            "forgeries_accepted",
            "slow_answers",
        ] {
            assert_eq!(status(failing), Some(Status::Fail), "{failing}");
        }
        assert_eq!(status("effects_duplicated"), Some(Status::Pass));
        assert!(!v.pass);
    }

    #[test]
    fn a_missing_figure_is_skipped_not_passed() {
        let counts = Counts {
            actions: 10,
            accepted: 10,
            ..Default::default()
        };
        let latency = Summary {
            count: 0,
            p50_ms: 0.0,
            p90_ms: 0.0,
            p99_ms: 0.0,
            p999_ms: 0.0,
            max_ms: 0.0,
        };
        let v = judge(
            &thresholds(),
            &Evidence {
                counts: &counts,
                latency: &latency,
                accept: &latency,
                lag: &latency,
                load: None,
                oracle: None,
                applied_rate: None,
                offered_rate: 2000.0,
                webhooks: true,
            },
        );
        let status = |n: &str| v.checks.iter().find(|c| c.name == n).map(|c| c.status);
        assert_eq!(status("lost"), Some(Status::Skipped));
        assert_eq!(status("latency_p99_ms"), Some(Status::Skipped));
        assert_eq!(status("gave_up"), Some(Status::Pass));
        assert!(v.pass);
    }
}
