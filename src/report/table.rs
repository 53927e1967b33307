//! The short table `gauntlet run` prints at the end.

use std::io::Write;
use std::path::Path;

use super::RunSummary;
use crate::verdict::Status;

/// The terminal table.
pub fn print_table(out: &mut impl Write, s: &RunSummary, dir: &Path) -> std::io::Result<()> {
    let l = &s.load.counts;
    writeln!(out)?;
    writeln!(
        out,
        "{} against {}: {:.0} s, {:.0} actions/s offered, {} users, seed {}",
        s.plan, s.target, s.duration_s, s.offered_rate, s.users, s.seed
    )?;
    writeln!(
        out,
        "  actions {}  accepted {}  rejected {}  gave up {}  requests {} (x{:.2} per batch)",
        l.actions, l.accepted, l.rejected, l.gave_up, l.requests, s.load.amplification
    )?;
    writeln!(
        out,
        "  latency from intended send, per action: p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms   (per request p99 {:.1} ms, service p99 {:.1} ms, accept p99 {:.1} ms, start lag p99 {:.2} ms)",
        s.latency_ms.p50_ms,
        s.latency_ms.p99_ms,
        s.latency_ms.max_ms,
        s.request_latency_ms.p99_ms,
        s.service_ms.p99_ms,
        s.accept_ms.p99_ms,
        s.start_lag_ms.p99_ms
    )?;
    if let Some(t) = &s.twin {
        let a = &t.oracle.actions;
        let (lost, duplicated) = t.load.as_ref().map_or((0, 0), |l| (l.lost, l.duplicated));
        let restarted = if s.target_events.restarts.is_empty() {
            ""
        } else {
            " (since the twin's restart: not judged)"
        };
        writeln!(
            out,
            "  twin: applied {} (all traffic)  the load's actions{restarted}: lost {}  duplicated {}  early retries {}  rate {} actions/s over {:.0}..{:.0} s",
            a.applies,
            lost,
            duplicated,
            t.oracle.backoff.early,
            t.applied_rate.map_or("-".into(), |r| format!("{r:.0}")),
            t.steady_window_s.0,
            t.steady_window_s.1
        )?;
    }
    if let Some(t) = s.twin.as_ref().filter(|t| t.oracle.effects.expected > 0) {
        let e = &t.oracle.effects;
        let p99 = e.handler_latency.as_ref().map_or(0.0, |h| h.p99_ms);
        writeln!(
            out,
            "  webhooks: effects due {}  once {}  duplicated {}  lost {}  forgeries accepted {}  slow answers {}  handler p99 {p99:.1} ms",
            e.expected,
            e.exactly_once,
            e.duplicated,
            e.lost + e.undelivered,
            e.accepted_bad_signature + e.accepted_stale_timestamp,
            e.slow_answers
        )?;
    }
    if let Some(d) = &s.dual_balance {
        writeln!(out, "  {}", super::boson::balance_line(d))?;
    }
    if let Some(b) = &s.boson {
        writeln!(out, "  {}", super::boson::line(b))?;
        for a in b.dashboards.iter().flat_map(|d| &d.alerts) {
            let at = a
                .at_s
                .map_or("projected".into(), |t| format!("at {t:.1} s"));
            writeln!(out, "    alert {} {at}: {}", a.name, a.detail)?;
        }
    }
    for line in super::soak::lines(s) {
        writeln!(out, "  {line}")?;
    }
    writeln!(
        out,
        "  cpu {:.1} s ({:.2} ms per 1000 actions)",
        s.cpu.process_s, s.cpu.per_1000_actions_ms
    )?;
    writeln!(
        out,
        "\n  {:<22} {:>12}  {:<12} result",
        "check", "value", "limit"
    )?;
    for c in &s.verdict.checks {
        let value = super::show(c.value);
        let status = match c.status {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::Skipped => "skipped",
        };
        writeln!(
            out,
            "  {:<22} {:>12}  {:<12} {}",
            c.name, value, c.limit, status
        )?;
        if let Some(d) = c.detail.as_ref().filter(|_| c.status != Status::Pass) {
            writeln!(out, "      {d}")?;
        }
    }
    if let Some(c) = &s.baseline {
        crate::compare::print(out, c)?;
    }
    if let Some(note) = s.bottleneck_note() {
        writeln!(out, "\n{note}")?;
    }
    if let Some(p) = &s.partial {
        writeln!(out, "\nPARTIAL: {p}")?;
    }
    writeln!(
        out,
        "\nverdict: {}   report {}",
        if s.verdict.pass { "PASS" } else { "FAIL" },
        dir.join("report.html").display()
    )?;
    Ok(())
}
