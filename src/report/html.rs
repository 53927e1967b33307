//! `report.html`: one self-contained page (inline CSS and SVG, no script, no
//! network). The verdict and what failed come first; then the plots; then the
//! tables (thresholds, the oracle, webhooks, the baseline, faults, provenance).

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::{RunSummary, plots, show as opt};
use crate::compare::{self, RowStatus};
use crate::verdict::Status;

pub const STYLE: &str = r#"
body{font-family:sans-serif;margin:0 auto;max-width:1000px;padding:0 16px 40px;color:#222}
header{padding:14px 18px;border-radius:6px;margin:16px 0}
header.pass{background:#e3f4e1;border:2px solid #2c7a2c}
header.fail{background:#fbe4e4;border:2px solid #b22222}
header h1{margin:0;font-size:34px}
header.pass h1{color:#2c7a2c} header.fail h1{color:#b22222}
header p{margin:6px 0 0}
.figures{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.figure{border:1px solid #ccc;border-radius:4px;padding:8px 12px;min-width:140px}
.figure b{display:block;font-size:20px}
.figure.bad{border-color:#b22222;background:#fbe4e4}
table{border-collapse:collapse;margin:8px 0 18px;font-size:14px}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.fail td,tr.regressed td{background:#fbe4e4}
tr.skipped td,tr.missing td{color:#777}
figure{margin:10px 0 22px} svg{max-width:100%;height:auto}
.error{color:#b22222}
h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:28px}
"#;

fn plot(id: &str, caption: &str, svg: plots::PlotResult) -> Markup {
    html! {
        figure id=(id) {
            @match svg {
                Ok(svg) => (PreEscaped(svg)),
                Err(e) => p.error { "plot unavailable: " (e.to_string()) },
            }
            figcaption { (caption) }
        }
    }
}

fn figure(label: &str, value: String) -> Markup {
    html! { div.figure { (label) b { (value) } } }
}

/// A figure that should be zero, marked when it is not.
fn zero_figure(label: &str, value: String, bad: bool) -> Markup {
    html! { div.figure.bad[bad] { (label) b { (value) } } }
}

/// The page.
pub fn render(s: &RunSummary) -> String {
    let pass = s.verdict.pass;
    let failed: Vec<_> = s.verdict.failed().collect();
    let twin = s.twin.as_ref();
    let title = format!(
        "gauntlet {}: {}",
        s.plan,
        if pass { "PASS" } else { "FAIL" }
    );
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header class=(if pass { "pass" } else { "fail" }) {
                    h1 id="verdict" { (if pass { "PASS" } else { "FAIL" }) }
                    p {
                        "Plan " b { (s.plan) } " against " (s.target) ", "
                        (format!("{:.0}", s.duration_s)) " s from " (s.started_at)
                        ", " (format!("{:.0}", s.offered_rate)) " actions/s offered, seed " (s.seed)
                        @if s.canceled { ". " b { "Stopped early: the figures cover what ran." } }
                    }
                    @if !failed.is_empty() {
                        p { b { "Where it hurt:" } }
                        ul id="failed" {
                            @for c in &failed {
                                li { b { (c.name) } " = " (opt(c.value)) " (limit " (c.limit) "): " (c.what) }
                            }
                        }
                    }
                    @if let Some(note) = s.bottleneck_note() {
                        p id="bottleneck" { b { (note) } }
                    }
                    @if let Some(b) = s.baseline.as_ref().filter(|b| !b.pass()) {
                        p { "Regressed against " (b.baseline) ": " b { (b.regressed.join(", ")) } }
                    }
                }
                div.figures id="figures" {
                    (figure("achieved rate (twin)", twin.and_then(|t| t.applied_rate).map_or("-".into(), |r| format!("{r:.0}/s"))))
                    (figure("latency p50 / p99", format!("{:.1} / {:.1} ms", s.latency_ms.p50_ms, s.latency_ms.p99_ms)))
                    (figure("accepted / offered", format!("{} / {}", s.load.counts.accepted, s.load.counts.actions)))
                    @if let Some(t) = twin {
                        @let (lost, dup) = t.load.as_ref().map_or((0, 0), |l| (l.lost, l.duplicated));
                        (zero_figure("lost / duplicated (the load's)", format!("{lost} / {dup}"), lost + dup > 0))
                        (zero_figure("early retries", t.oracle.backoff.early.to_string(), t.oracle.backoff.early > 0))
                        @if t.oracle.effects.expected > 0 {
                            (zero_figure("webhook effects once", format!("{} / {}", t.oracle.effects.exactly_once, t.oracle.effects.expected),
                                t.oracle.effects.exactly_once < t.oracle.effects.expected))
                        }
                    }
                    (figure("requests per batch", format!("{:.2}", s.load.amplification)))
                }
                h2 { "Over time" }
                (plot("plot-timeline", "Throughput, errors and latency per snapshot interval; red: fault windows, blue: surges.", plots::timeline(s)))
                h2 { "Latency" }
                (plot("plot-latency", "Percentile distribution (HdrHistogram scale): from the intended send (coordinated omission corrected) and from the actual send.",
                    plots::percentiles("latency percentiles (ms)", &[("from the intended send", &s.distributions.latency), ("service (from the actual send)", &s.distributions.service)])))
                (plot("plot-accept", "Time from the intended send to the 2xx that applied each action, across retries.",
                    plots::percentiles("time to accept (ms)", &[("time to accept", &s.distributions.accept)])))
                h2 { "Retries" }
                (plot("plot-backoff", "A uniform sample of retries (at most 1,000).", plots::backoff(&s.backoff_sample)))
                (plot("plot-attempts", "Batches by the attempts they took.", plots::attempts(&s.distributions.attempts)))
                h2 { "Checks" }
                (checks(s))
                (super::soak::html(s))
                @if let Some(b) = &s.boson {
                    h2 id="boson" { "Boson" }
                    (super::boson::section(b))
                }
                @if let Some(t) = twin {
                    h2 { "The oracle (the twin's account)" }
                    (oracle(t))
                    @if t.oracle.effects.expected > 0 || t.oracle.effects.deliveries > 0 {
                        h2 { "Webhooks" }
                        (webhooks(&t.oracle.effects))
                    }
                    h2 { "Faults injected" }
                    (faults(s, t))
                }
                @if let Some(b) = &s.baseline {
                    h2 { "Against the baseline" }
                    (baseline(b))
                }
                h2 { "Load" }
                (load(s))
                h2 { "Provenance" }
                (provenance(s))
            }
        }
    };
    page.into_string()
}

fn checks(s: &RunSummary) -> Markup {
    html! {
        table id="checks" {
            tr { th { "check" } th { "value" } th { "limit" } th { "result" } th { "source" } th { "what" } }
            @for c in &s.verdict.checks {
                @let status = match c.status { Status::Pass => "pass", Status::Fail => "fail", Status::Skipped => "skipped" };
                tr class=(status) {
                    td { (c.name) } td.num { (opt(c.value)) } td { (c.limit) }
                    td { b { (status.to_uppercase()) } } td { (c.source) }
                    td { (c.what) @if let Some(d) = &c.detail { br; i { (d) } } }
                }
            }
        }
    }
}

fn rows(rows: &[(&str, String)]) -> Markup {
    html! {
        @for (k, v) in rows { tr { td { (k) } td.num { (v) } } }
    }
}

fn oracle(t: &super::TwinFigures) -> Markup {
    let a = &t.oracle.actions;
    let b = &t.oracle.backoff;
    let k = &t.oracle.idempotency;
    let load = t.load.as_ref();
    html! {
        table id="oracle" {
            tr { th { "figure" } th { "value" } }
            (rows(&[
                ("the load's actions sent", load.map_or("-".into(), |l| l.sent.to_string())),
                ("the load's actions applied", load.map_or("-".into(), |l| l.applied.to_string())),
                ("the load's actions lost", load.map_or("-".into(), |l| l.lost.to_string())),
                ("the load's actions duplicated", load.map_or("-".into(), |l| l.duplicated.to_string())),
                ("the load's actions cut off", load.map_or("-".into(), |l| l.cut_off.to_string())),
                ("distinct actions seen (all traffic)", a.distinct.to_string()),
                ("applies (all traffic)", a.applies.to_string()),
                ("exactly once (all traffic)", a.exactly_once.to_string()),
                ("arrived, never applied (all traffic)", a.lost.to_string()),
                ("duplicated (all traffic)", a.duplicated.to_string()),
                ("extra applies", a.extra_applies.to_string()),
                ("rejected (final 4xx)", a.rejected.to_string()),
                ("early retries", b.early.to_string()),
                ("retries after a faulted reply", b.retries.to_string()),
                ("faulted replies", b.faulted_replies.to_string()),
                ("retry gap p50 / p99 (ms)", format!("{:.0} / {:.0}", b.gap.p50_ms, b.gap.p99_ms)),
                ("time over advice p50 (ms)", format!("{:.0}", b.over_advice.p50_ms)),
                ("orphan effects", t.oracle.effects.orphan.to_string()),
                ("idempotency replays", k.replays.to_string()),
                ("idempotency key mismatches", k.mismatches.to_string()),
                ("achieved rate (actions/s)", t.applied_rate.map_or("-".into(), |r| format!("{r:.1}"))),
                ("steady window (s)", format!("{:.0} to {:.0}", t.steady_window_s.0, t.steady_window_s.1)),
            ]))
        }
        @if !t.oracle.bursts.is_empty() {
            table id="bursts" {
                tr { th { "fault window" } th { "closed at (ms)" } th { "steady per 100 ms" } th { "peak per 100 ms" } th { "ratio" } }
                @for b in &t.oracle.bursts {
                    tr { td { (b.rule) } td.num { (b.window_end_ms) } td.num { (format!("{:.1}", b.steady_per_100ms)) } td.num { (b.peak_per_100ms) } td.num { (format!("{:.2}", b.ratio)) } }
                }
            }
        }
    }
}

fn webhooks(e: &gauntlet_mock::engine::oracle::effects::EffectCounts) -> Markup {
    let p = |p: &Option<gauntlet_mock::engine::oracle::Percentiles>| {
        p.as_ref()
            .map_or("-".into(), |p| format!("{:.1} / {:.1}", p.p50_ms, p.p99_ms))
    };
    html! {
        table id="webhooks" {
            tr { th { "figure" } th { "value" } }
            (rows(&[
                ("effects due", e.expected.to_string()),
                ("performed exactly once", e.exactly_once.to_string()),
                ("lost (acknowledged, no effect)", e.lost.to_string()),
                ("undelivered", e.undelivered.to_string()),
                ("duplicated", e.duplicated.to_string()),
                ("orphan (removed event, not reversed)", e.orphan.to_string()),
                ("unexpected effects", e.unexpected.to_string()),
                ("bad signatures accepted", e.accepted_bad_signature.to_string()),
                ("stale timestamps accepted", e.accepted_stale_timestamp.to_string()),
                ("answers slower than 5 s", e.slow_answers.to_string()),
                ("deliveries / failed", format!("{} / {}", e.deliveries, e.failed_deliveries)),
                ("deactivations", e.deactivations.to_string()),
                ("handler latency p50 / p99 (ms)", p(&e.handler_latency)),
                ("delivery lag p50 / p99 (ms)", p(&e.delivery_lag)),
            ]))
        }
    }
}

fn faults(s: &RunSummary, t: &super::TwinFigures) -> Markup {
    html! {
        table id="faults" {
            tr { th { "kind" } th { "injected" } }
            @for (k, n) in &t.faults { tr { td { (k) } td.num { (n) } } }
        }
        @if !s.fault_windows.is_empty() {
            table id="windows" {
                tr { th { "window" } th { "kind" } th { "from (s)" } th { "to (s)" } }
                @for w in &s.fault_windows {
                    tr { td { (w.name) } td { (w.kind) } td.num { (format!("{:.1}", w.from_s)) } td.num { (format!("{:.1}", w.to_s)) } }
                }
            }
        }
    }
}

fn baseline(b: &compare::Comparison) -> Markup {
    html! {
        p { "Baseline " (b.baseline) ", tolerance " (b.tolerance_pct) "%." }
        @for n in &b.notes { p { "Note: " (n) } }
        table id="baseline" {
            tr { th { "metric" } th { "baseline" } th { "current" } th { "change" } th { "result" } }
            @for r in &b.rows {
                @let status = match r.status { RowStatus::Same => "same", RowStatus::Improved => "better", RowStatus::Regressed => "regressed", RowStatus::Missing => "missing" };
                tr class=(status) {
                    td { (r.metric) } td.num { (opt(r.baseline)) } td.num { (opt(r.current)) }
                    td.num { (compare::change_text(r)) } td { b { (status) } }
                }
            }
        }
    }
}

fn load(s: &RunSummary) -> Markup {
    let l = &s.load.counts;
    html! {
        table id="load" {
            tr { th { "figure" } th { "value" } }
            (rows(&[
                ("batches", l.batches.to_string()),
                ("actions offered", l.actions.to_string()),
                ("accepted", l.accepted.to_string()),
                ("rejected", l.rejected.to_string()),
                ("gave up", l.gave_up.to_string()),
                ("unsent", l.unsent.to_string()),
                ("requests", l.requests.to_string()),
                ("users", s.users.to_string()),
                ("start lag p99 (ms)", format!("{:.1}", s.start_lag_ms.p99_ms)),
                ("CPU (s) / per 1000 actions (ms)", format!("{:.1} / {:.1}", s.cpu.process_s, s.cpu.per_1000_actions_ms)),
            ]))
        }
        table id="outcomes" {
            tr { th { "attempt outcome" } th { "count" } }
            @for (k, n) in &l.outcomes { tr { td { (k) } td.num { (n) } } }
        }
    }
}

fn provenance(s: &RunSummary) -> Markup {
    let p = &s.provenance;
    html! {
        table id="provenance" {
            (rows(&[
                ("command", p.command.join(" ")),
                ("gauntlet", p.gauntlet_version.clone()),
                ("plan", format!("{} (sha256 {})", p.plan_path, p.plan_sha256)),
                ("seed", p.seed.to_string()),
                ("host", format!("{} ({})", p.host, p.os)),
                ("started", p.started_at.clone()),
                ("ended", p.ended_at.clone()),
            ]))
        }
    }
}
