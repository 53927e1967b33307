//! `junit.xml`: one test case per threshold (suite `thresholds`), per oracle check
//! (suite `oracle`) and per compared metric (suite `baseline`), so a CI system shows
//! each as a test that passed, failed or was skipped.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::RunSummary;
use crate::compare::RowStatus;
use crate::verdict::Status;

fn value(v: Option<f64>) -> String {
    v.map_or("none".into(), |v| format!("{v}"))
}

/// The report as XML.
pub fn render(s: &RunSummary) -> anyhow::Result<String> {
    let mut report = Report::new(format!("gauntlet {}", s.plan));
    let mut thresholds = TestSuite::new("thresholds");
    let mut oracle = TestSuite::new("oracle");
    for c in &s.verdict.checks {
        let mut status = match c.status {
            Status::Pass => TestCaseStatus::success(),
            Status::Fail => TestCaseStatus::non_success(NonSuccessKind::Failure),
            Status::Skipped => TestCaseStatus::skipped(),
        };
        let message = format!(
            "{} = {} (limit {}): {}",
            c.name,
            value(c.value),
            c.limit,
            c.what
        );
        if c.status != Status::Pass {
            status.set_message(message.clone());
        }
        let mut case = TestCase::new(c.name, status);
        case.set_classname(format!("gauntlet.{}.{}", s.plan, c.source));
        case.set_system_out(message);
        if c.source == "twin" {
            oracle.add_test_case(case);
        } else {
            thresholds.add_test_case(case);
        }
    }
    report.add_test_suite(thresholds);
    report.add_test_suite(oracle);
    if let Some(b) = &s.baseline {
        let mut suite = TestSuite::new("baseline");
        for r in &b.rows {
            let message = format!(
                "{}: baseline {}, current {}, change {} (worse when {:?}, tolerance {}%)",
                r.metric,
                value(r.baseline),
                value(r.current),
                crate::compare::change_text(r),
                r.worse_when,
                b.tolerance_pct
            );
            let mut status = match r.status {
                RowStatus::Same | RowStatus::Improved => TestCaseStatus::success(),
                RowStatus::Regressed => TestCaseStatus::non_success(NonSuccessKind::Failure),
                RowStatus::Missing => TestCaseStatus::skipped(),
            };
            if r.status == RowStatus::Regressed || r.status == RowStatus::Missing {
                status.set_message(message.clone());
            }
            let mut case = TestCase::new(r.metric.clone(), status);
            case.set_classname(format!("gauntlet.{}.baseline", s.plan));
            case.set_system_out(message);
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    Ok(report.to_string()?)
}
