//! The target going away: attempts that got no reply (by kind), stretches when
//! it could not be reached, and restarts of a twin (its instance id changed).
//! A restarted twin forgot the run: its state loss is reported as such, the
//! plan's faults are installed again where the timeline was, and the checks
//! that needed the lost state are skipped by name instead of counting every
//! forgotten action as lost.

use std::time::Duration;

use gauntlet_mock::Rule;
use serde::{Deserialize, Serialize};

use crate::report::IntervalRow;
use crate::twin_link::TwinProbe;
use crate::verdict::{Status, Verdict, at_most_with};

/// What happened to the target during the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TargetEvents {
    /// Attempts that got no reply, by kind: no connection, closed or reset
    /// before a whole reply, no reply in time.
    pub refused: u64,
    pub reset: u64,
    pub timeout: u64,
    /// Stretches of the schedule when the target could not be reached.
    pub outages: Vec<Outage>,
    /// Restarts of the twin, seen as a new instance id.
    pub restarts: Vec<Restart>,
}

/// A stretch when the target could not be reached (seconds into the schedule).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Outage {
    pub from_s: f64,
    pub to_s: f64,
}

/// The twin came back as another process: everything it held was forgotten.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Restart {
    /// Seconds into the schedule when the new instance was first seen.
    pub seen_at_s: f64,
    pub instance_before: String,
    pub instance_after: String,
    /// The plan's fault rules installed again (those whose windows were not over).
    pub faults_reinstalled: usize,
    /// Whether installing them failed, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_error: Option<String>,
}

/// One reading of the twin for an interval row.
#[derive(Debug, Clone, Copy, Default)]
pub struct TwinReading {
    pub up: Option<bool>,
    pub rss_mb: Option<f64>,
    pub fds: Option<u64>,
    pub tape_entries: Option<u64>,
}

/// Watches the twin every interval: reachable or not, its process figures, and
/// restarts (after which the plan's faults are installed again).
#[derive(Debug)]
pub struct Watch {
    probe: TwinProbe,
    instance: Option<String>,
    /// The plan's rules as written (not delayed): resumed where the timeline is.
    faults: Vec<Rule>,
    pub restarts: Vec<Restart>,
}

impl Watch {
    pub fn new(probe: TwinProbe, faults: Vec<Rule>) -> Self {
        Self {
            probe,
            instance: None,
            faults,
            restarts: Vec::new(),
        }
    }

    /// Read the twin `elapsed` into the schedule.
    pub async fn tick(&mut self, elapsed: Duration) -> TwinReading {
        let Ok(s) = self.probe.status().await else {
            return TwinReading {
                up: Some(false),
                ..TwinReading::default()
            };
        };
        match &self.instance {
            Some(before) if *before != s.instance => {
                let rules: Vec<Rule> = self
                    .faults
                    .iter()
                    .filter_map(|r| r.resumed(elapsed))
                    .collect();
                let install_error = self
                    .probe
                    .install(&rules)
                    .await
                    .err()
                    .map(|e| format!("{e:#}"));
                tracing::warn!(
                    before = before.as_str(),
                    after = s.instance.as_str(),
                    "the twin restarted: its state before now is lost; {} fault rules installed again",
                    rules.len()
                );
                self.restarts.push(Restart {
                    seen_at_s: elapsed.as_secs_f64(),
                    instance_before: before.clone(),
                    instance_after: s.instance.clone(),
                    faults_reinstalled: rules.len(),
                    install_error,
                });
                self.instance = Some(s.instance.clone());
            }
            Some(_) => {}
            None => self.instance = Some(s.instance.clone()),
        }
        let shared = self.probe.in_process();
        TwinReading {
            up: Some(true),
            rss_mb: s
                .rss_bytes
                .filter(|_| !shared)
                .map(|b| b as f64 / (1 << 20) as f64),
            fds: s.open_fds.filter(|_| !shared),
            tape_entries: Some(s.tape_entries),
        }
    }
}

/// Stretches of rows when the target could not be reached: attempts got no
/// reply, and the twin's status read failed too or nothing was accepted. (A
/// status read that times out under heavy load while every attempt is answered
/// is no outage.)
pub fn outages(rows: &[IntervalRow]) -> Vec<Outage> {
    let mut out: Vec<Outage> = Vec::new();
    let mut prev_end = 0.0;
    let mut open = false;
    for r in rows {
        let down = r.unreachable > 0 && (r.twin_up == Some(false) || r.accepted_per_s == 0.0);
        match (down, open, out.last_mut()) {
            (true, true, Some(o)) => o.to_s = r.end_s,
            (true, _, _) => out.push(Outage {
                from_s: prev_end,
                to_s: r.end_s,
            }),
            _ => {}
        }
        open = down;
        prev_end = r.end_s;
    }
    out
}

/// The checks a restart makes meaningless, skipped with the reason.
const NEEDS_THE_WHOLE_LEDGER: [&str; 5] = [
    "lost",
    "duplicated",
    "rate_ratio",
    "effects_lost",
    "effects_duplicated",
];

/// Judge the target's events: restarts beyond `max_restarts` fail the run, and
/// the checks that needed the forgotten state are skipped, not failed as loss.
pub fn judge(v: &mut Verdict, events: &TargetEvents, max_restarts: u64) {
    let n = events.restarts.len() as u64;
    if let Some(first) = events.restarts.first() {
        let why = format!(
            "the twin restarted at {:.1} s (instance {} -> {}) and forgot the run's state before then",
            first.seen_at_s, first.instance_before, first.instance_after
        );
        for c in v
            .checks
            .iter_mut()
            .filter(|c| NEEDS_THE_WHOLE_LEDGER.contains(&c.name))
        {
            c.status = Status::Skipped;
            c.detail = Some(why.clone());
        }
    }
    v.checks.push(at_most_with(
        "target_restarts",
        "times the twin restarted (and forgot the run) during the run",
        "harness",
        Some(n as f64),
        max_restarts as f64,
        events
            .restarts
            .first()
            .map(|r| format!("first seen at {:.1} s", r.seen_at_s)),
    ));
    v.pass = v.checks.iter().all(|c| c.status != Status::Fail);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Check;

    fn row(
        end_s: f64,
        accepted_per_s: f64,
        unreachable: u64,
        twin_up: Option<bool>,
    ) -> IntervalRow {
        IntervalRow {
            end_s,
            accepted_per_s,
            unreachable,
            twin_up,
            ..IntervalRow::default()
        }
    }

    #[test]
    fn outages_span_the_rows_when_nothing_got_through() {
        let rows = [
            row(1.0, 100.0, 0, Some(true)),
            row(2.0, 0.0, 5, Some(false)),
            row(3.0, 0.0, 7, None),
            row(4.0, 50.0, 2, Some(true)),
            row(5.0, 0.0, 3, Some(true)),
            // A status read timed out under load while actions went through.
            row(6.0, 900.0, 0, Some(false)),
        ];
        assert_eq!(
            outages(&rows),
            [
                Outage {
                    from_s: 1.0,
                    to_s: 3.0
                },
                Outage {
                    from_s: 4.0,
                    to_s: 5.0
                }
            ]
        );
    }

    #[test]
    fn a_restart_skips_the_ledger_checks_and_fails_by_its_own() {
        let check = |name: &'static str, status| Check {
            name,
            what: "",
            value: Some(1905.0),
            limit: "<= 0".into(),
            status,
            source: "twin",
            detail: None,
        };
        let mut v = Verdict {
            pass: false,
            checks: vec![
                check("lost", Status::Fail),
                check("latency_p99_ms", Status::Pass),
            ],
        };
        let events = TargetEvents {
            restarts: vec![Restart {
                seen_at_s: 10.2,
                instance_before: "twin_a".into(),
                instance_after: "twin_b".into(),
                faults_reinstalled: 1,
                install_error: None,
            }],
            ..TargetEvents::default()
        };
        judge(&mut v.clone(), &events, 1);
        let mut allowed = v.clone();
        judge(&mut allowed, &events, 1);
        assert!(allowed.pass, "one restart allowed: {:?}", allowed.checks);
        assert_eq!(allowed.checks[0].status, Status::Skipped);
        assert!(
            allowed.checks[0]
                .detail
                .as_deref()
                .is_some_and(|d| d.contains("10.2 s"))
        );
        judge(&mut v, &events, 0);
        assert!(!v.pass);
        assert_eq!(
            v.failed().map(|c| c.name).collect::<Vec<_>>(),
            ["target_restarts"]
        );
    }
}
