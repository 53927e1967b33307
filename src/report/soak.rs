//! The long-run parts of a report: the target's events, the stability figures
//! and the windows of the timeline (a table, and a strip along the timeline).

use maud::{Markup, html};

use super::RunSummary;

/// One line on the target's failures, outages and restarts; None when nothing happened.
pub fn target_line(s: &RunSummary) -> Option<String> {
    let t = &s.target_events;
    if t.refused + t.reset + t.timeout == 0 && t.outages.is_empty() && t.restarts.is_empty() {
        return None;
    }
    let mut line = format!(
        "target: no reply to {} attempts (refused {}, reset {}, timed out {})",
        t.refused + t.reset + t.timeout,
        t.refused,
        t.reset,
        t.timeout
    );
    for o in &t.outages {
        line.push_str(&format!("; unreachable {:.1}-{:.1} s", o.from_s, o.to_s));
    }
    for r in &t.restarts {
        line.push_str(&format!(
            "; the twin RESTARTED (seen at {:.1} s, {} -> {}): its state before was lost, {} fault rules installed again",
            r.seen_at_s, r.instance_before, r.instance_after, r.faults_reinstalled
        ));
    }
    Some(line)
}

/// One line on memory and drift; None when stability was not judged.
pub fn stability_line(s: &RunSummary) -> Option<String> {
    let st = s.stability.as_ref()?;
    let g = |name: &str, g: &Option<crate::soak::stability::Growth>, unit: &str| {
        g.as_ref().map(|g| {
            format!(
                "{name} {:.1} -> {:.1} {unit} ({:+.1} {unit}/h)",
                g.start, g.end, g.slope_per_h
            )
        })
    };
    let parts: Vec<String> = [
        g("harness rss", &st.rss_mb, "MiB"),
        g("heap", &st.heap_mb, "MiB"),
        g("fds", &st.fds, ""),
        g("twin rss", &st.twin_rss_mb, "MiB"),
        g("tape", &st.tape_entries, "entries"),
        st.latency_drift.as_ref().map(|d| {
            format!(
                "p99 first third {:.1} ms, last third {:.1} ms",
                d.first_p99_ms, d.last_p99_ms
            )
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    Some(format!(
        "stability after {:.0} s: {}",
        st.settle_s,
        parts.join("; ")
    ))
}

/// The long-run lines of a report (the target, stability, windows), those that apply.
pub fn lines(s: &RunSummary) -> impl Iterator<Item = String> {
    [target_line(s), stability_line(s), windows_line(s)]
        .into_iter()
        .flatten()
}

/// One line on the windows: how many, how many failed.
pub fn windows_line(s: &RunSummary) -> Option<String> {
    if s.windows.is_empty() {
        return None;
    }
    let failed: Vec<&str> = s
        .windows
        .iter()
        .filter(|w| !w.pass)
        .map(|w| w.name.as_str())
        .collect();
    Some(format!(
        "windows: {} judged, {} failed{}",
        s.windows.len(),
        failed.len(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                failed
                    .iter()
                    .take(5)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    ))
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

/// The HTML section: the strip along the timeline, the table, the events.
pub fn html(s: &RunSummary) -> Markup {
    let end = s
        .windows
        .iter()
        .map(|w| w.to_s)
        .fold(s.planned_s, f64::max)
        .max(1e-9);
    html! {
        @if let Some(p) = &s.partial {
            p.partial { b { "Partial: " } (p) }
        }
        @if !s.windows.is_empty() {
            h2 { "Windows of the timeline" }
            p { "Each fault window, surge and slice judged on its own (green passed, red failed)." }
            svg.strip width="100%" height=(14 * s.windows.len().min(40) + 4) viewBox=(format!("0 0 1000 {}", 14 * s.windows.len().min(40) + 4)) preserveAspectRatio="none" {
                @for (i, w) in s.windows.iter().take(40).enumerate() {
                    rect x=(format!("{:.1}", w.from_s / end * 1000.0)) y=(i * 14 + 2)
                        width=(format!("{:.1}", ((w.to_s - w.from_s) / end * 1000.0).max(1.0))) height="12"
                        fill=(if w.pass { "#3a3" } else { "#c33" }) {
                        title { (w.name) " " (format!("{:.0}-{:.0} s", w.from_s, w.to_s)) }
                    }
                }
            }
            table {
                tr { th { "window" } th { "kind" } th { "from s" } th { "to s" } th { "actions" } th { "p50 ms" } th { "p99 ms" }
                     th { "gave up" } th { "lost" } th { "duplicated" } th { "early retries" } th { "storm" } th { "result" } }
                @for w in &s.windows {
                    tr {
                        td { (w.name) } td { (w.kind) } td { (format!("{:.1}", w.from_s)) } td { (format!("{:.1}", w.to_s)) }
                        td { (w.actions) } td { (opt(w.latency_p50_ms.map(|v| format!("{v:.1}")))) } td { (opt(w.latency_p99_ms.map(|v| format!("{v:.1}")))) }
                        td { (w.gave_up) } td { (opt(w.lost)) } td { (opt(w.duplicated)) } td { (opt(w.early_retries)) }
                        td { (opt(w.storm_ratio.map(|v| format!("{v:.2}")))) }
                        td { @if w.pass { "pass" } @else { b { "FAIL: " (w.failed.join(", ")) } } }
                    }
                }
            }
        }
        @if let Some(line) = target_line(s) {
            h2 { "The target" }
            p { (line) }
        }
        @if let Some(line) = stability_line(s) {
            h2 { "Stability" }
            p { (line) }
        }
    }
}
