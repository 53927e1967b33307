//! `summary.md`: a compact table for a CI job summary (`$GITHUB_STEP_SUMMARY`) or
//! a pull request comment.

use std::fmt::Write;

use super::{RunSummary, show as value};
use crate::compare::RowStatus;
use crate::verdict::Status;

/// The Markdown text.
pub fn render(s: &RunSummary) -> String {
    let mut md = String::new();
    let verdict = if s.verdict.pass {
        "PASS ✅"
    } else {
        "FAIL ❌"
    };
    let _ = writeln!(md, "### gauntlet `{}`: {verdict}\n", s.plan);
    if let Some(note) = s.bottleneck_note() {
        let _ = writeln!(md, "> **{note}**\n");
    }
    let rate = s
        .twin
        .as_ref()
        .and_then(|t| t.applied_rate)
        .map_or("-".into(), |r| format!("{r:.0}"));
    let _ = writeln!(
        md,
        "{:.0} s against {}, seed {}: {} actions offered at {:.0}/s, {} accepted; achieved {rate}/s; latency p50 {:.1} ms, p99 {:.1} ms.{}\n",
        s.duration_s,
        s.target,
        s.seed,
        s.load.counts.actions,
        s.offered_rate,
        s.load.counts.accepted,
        s.latency_ms.p50_ms,
        s.latency_ms.p99_ms,
        if s.canceled {
            " **Stopped early.**"
        } else {
            ""
        }
    );
    if let Some(b) = &s.boson {
        let _ = writeln!(md, "{}\n", super::boson::line(b));
    }
    if let Some(d) = &s.dual_balance {
        let _ = writeln!(md, "{}\n", super::boson::balance_line(d));
    }
    if let Some(p) = &s.partial {
        let _ = writeln!(md, "**Partial:** {p}\n");
    }
    for line in super::soak::lines(s) {
        let _ = writeln!(md, "{line}\n");
    }
    let _ = writeln!(md, "| check | value | limit | result |\n|---|---:|---|---|");
    for c in &s.verdict.checks {
        let status = match c.status {
            Status::Pass => "pass",
            Status::Fail => "**FAIL**",
            Status::Skipped => "skipped",
        };
        let detail = match (&c.detail, c.status) {
            (Some(d), Status::Fail | Status::Skipped) => format!(" ({})", d.replace('|', "\\|")),
            _ => String::new(),
        };
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {status}{detail} |",
            c.name,
            value(c.value),
            c.limit.replace('|', "\\|")
        );
    }
    if let Some(b) = &s.baseline {
        let _ = writeln!(
            md,
            "\nAgainst `{}` (tolerance {}%): {}\n",
            b.baseline,
            b.tolerance_pct,
            if b.pass() {
                "no regression".to_string()
            } else {
                format!("**regressed: {}**", b.regressed.join(", "))
            }
        );
        let _ = writeln!(
            md,
            "| metric | baseline | current | change |\n|---|---:|---:|---:|"
        );
        for r in b.rows.iter().filter(|r| r.status != RowStatus::Missing) {
            let mark = if r.status == RowStatus::Regressed {
                " **regressed**"
            } else {
                ""
            };
            let _ = writeln!(
                md,
                "| `{}` | {} | {} | {}{mark} |",
                r.metric,
                value(r.baseline),
                value(r.current),
                crate::compare::change_text(r)
            );
        }
    }
    md
}
