//! The smoke run's record: one line per step on the terminal as it ends (timed),
//! and the run folder: `summary.json`, `junit.xml` (a test case per step),
//! `summary.md`.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde::Serialize;

use crate::boson::relay::Route;
use crate::boson::{Mined, StepError};

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
}

/// One step.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: String,
    pub outcome: Outcome,
    pub took_ms: u64,
    /// What it found, or why it failed.
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchange_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block: Option<u64>,
    /// The W3C trace id every request of the step carried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

/// The steps so far, printed as they end.
pub struct Steps<'a> {
    out: &'a mut dyn Write,
    started: Instant,
    last: Instant,
    pub list: Vec<Step>,
    /// One trace per step: started for the first, rotated as each ends.
    trace: std::sync::Arc<crate::boson::rpc::Trace>,
    /// Secret values, replaced in every detail before it is shown or written.
    secrets: Vec<String>,
}

impl std::fmt::Debug for Steps<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Steps").field("list", &self.list).finish()
    }
}

impl<'a> Steps<'a> {
    pub fn new(out: &'a mut dyn Write, trace: std::sync::Arc<crate::boson::rpc::Trace>) -> Self {
        let now = Instant::now();
        trace.start();
        Self {
            out,
            started: now,
            last: now,
            list: Vec::new(),
            trace,
            secrets: Vec::new(),
        }
    }

    /// Mask these values (ignoring ones too short to be secrets) in every step.
    pub fn mask(&mut self, secrets: Vec<String>) {
        self.secrets = secrets.into_iter().filter(|s| s.len() >= 8).collect();
    }

    fn push(&mut self, mut step: Step) -> bool {
        for secret in &self.secrets {
            step.detail = step.detail.replace(secret.as_str(), "<redacted>");
        }
        step.trace_id = self.trace.id();
        self.trace.start();
        let now = Instant::now();
        step.took_ms = now.duration_since(self.last).as_millis() as u64;
        self.last = now;
        let mark = match step.outcome {
            Outcome::Pass => "ok  ",
            Outcome::Fail => "FAIL",
        };
        let at = self.started.elapsed().as_secs_f64();
        // The terminal line is progress; a closed stdout must not stop the walk.
        let _ = writeln!(
            self.out,
            "[{at:6.1}s] {mark} {} ({:.1}s): {}",
            step.name,
            step.took_ms as f64 / 1000.0,
            step.detail
        );
        let _ = self.out.flush();
        let ok = step.outcome == Outcome::Pass;
        self.list.push(step);
        ok
    }

    /// A check: its finding, or why it failed.
    pub fn check(&mut self, name: &str, r: Result<String, StepError>) -> bool {
        let (outcome, detail) = match r {
            Ok(d) => (Outcome::Pass, d),
            Err(e) => (Outcome::Fail, e.to_string()),
        };
        self.push(Step {
            name: name.into(),
            outcome,
            took_ms: 0,
            detail,
            exchange_id: None,
            tx: None,
            block: None,
            trace_id: None,
        })
    }

    /// A transaction step (with the block the subgraph had indexed after it).
    pub fn tx(
        &mut self,
        name: &str,
        r: Result<(Mined, Option<u64>, Option<Route>), StepError>,
        exchange_id: Option<u64>,
    ) -> bool {
        let mut step = Step {
            name: name.into(),
            outcome: Outcome::Pass,
            took_ms: 0,
            detail: String::new(),
            exchange_id,
            tx: None,
            block: None,
            trace_id: None,
        };
        match r {
            Ok((m, indexed, route)) => {
                step.tx = Some(format!("{:#x}", m.hash));
                step.block = Some(m.block);
                let ex = exchange_id.map_or(String::new(), |id| format!("exchange {id}, "));
                let seen = indexed.map_or("no subgraph".into(), |i| format!("subgraph at {i}"));
                let via = match route {
                    None => String::new(),
                    Some(Route::Relayer) => ", via the relayer".into(),
                    Some(Route::Direct(why)) => format!(", directly ({why})"),
                };
                step.detail = format!("{ex}tx {:#x}, block {}, {seen}{via}", m.hash, m.block);
            }
            Err(e) => {
                step.outcome = Outcome::Fail;
                let ex = exchange_id.map_or(String::new(), |id| format!("exchange {id}: "));
                step.detail = format!("{ex}{e}");
            }
        }
        self.push(step)
    }

    pub fn pass(&self) -> bool {
        !self.list.is_empty() && self.list.iter().all(|s| s.outcome == Outcome::Pass)
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// `summary.json`.
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    pub environment: &'a str,
    pub pass: bool,
    pub took_ms: u64,
    /// The first failed step, if any.
    pub failed: Option<&'a str>,
    pub steps: &'a [Step],
}

/// Write the run folder.
pub fn write(dir: &Path, summary: &Summary<'_>) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the run folder {}", dir.display()))?;
    let json = serde_json::to_string_pretty(summary)?;
    std::fs::write(dir.join("summary.json"), json)?;
    std::fs::write(dir.join("junit.xml"), junit(summary)?)?;
    std::fs::write(dir.join("summary.md"), markdown(summary))?;
    std::fs::write(dir.join("report.html"), html(summary))?;
    Ok(())
}

/// `report.html`: the verdict first, then a row per step (the run's style).
fn html(s: &Summary<'_>) -> String {
    use maud::{DOCTYPE, PreEscaped, html};
    let verdict = if s.pass { "PASS" } else { "FAIL" };
    let title = format!("gauntlet smoke ({}): {verdict}", s.environment);
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) }
                style { (PreEscaped(crate::report::html::STYLE)) }
            }
            body {
                header.pass[s.pass].fail[!s.pass] {
                    h1 { (verdict) }
                    p {
                        @match s.failed {
                            None => { (s.steps.len()) " steps passed in " (format!("{:.1}", s.took_ms as f64 / 1000.0)) " s, " (s.environment) "." }
                            Some(step) => { "failed at " b { (step) } "." }
                        }
                    }
                }
                h2 { "Steps" }
                table {
                    tr { th { "step" } th { "result" } th { "took" } th { "exchange" } th { "detail" } }
                    @for st in s.steps {
                        tr.fail[st.outcome == Outcome::Fail] {
                            td { (st.name) }
                            td { @if st.outcome == Outcome::Pass { "ok" } @else { "FAIL" } }
                            td.num { (format!("{:.1} s", st.took_ms as f64 / 1000.0)) }
                            td.num { @if let Some(id) = st.exchange_id { (id) } }
                            td { (st.detail) }
                        }
                    }
                }
            }
        }
    }
    .into_string()
}

fn junit(s: &Summary<'_>) -> anyhow::Result<String> {
    let mut report = Report::new(format!("gauntlet smoke {}", s.environment));
    let mut suite = TestSuite::new("smoke");
    for step in s.steps {
        let mut status = match step.outcome {
            Outcome::Pass => TestCaseStatus::success(),
            Outcome::Fail => TestCaseStatus::non_success(NonSuccessKind::Failure),
        };
        if step.outcome == Outcome::Fail {
            status.set_message(step.detail.clone());
        }
        let mut case = TestCase::new(step.name.clone(), status);
        case.set_classname(format!("gauntlet.smoke.{}", s.environment));
        case.set_time(Duration::from_millis(step.took_ms));
        case.set_system_out(step.detail.clone());
        suite.add_test_case(case);
    }
    report.add_test_suite(suite);
    Ok(report.to_string()?)
}

fn markdown(s: &Summary<'_>) -> String {
    let mut md = format!(
        "# gauntlet smoke ({}): {}\n\n| step | result | took | detail |\n|---|---|---|---|\n",
        s.environment,
        if s.pass { "PASS" } else { "FAIL" }
    );
    for step in s.steps {
        let mark = match step.outcome {
            Outcome::Pass => "ok",
            Outcome::Fail => "**FAIL**",
        };
        md.push_str(&format!(
            "| {} | {mark} | {:.1} s | {} |\n",
            step.name,
            step.took_ms as f64 / 1000.0,
            step.detail.replace('|', "\\|")
        ));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_echoed_into_a_detail_is_masked_on_the_line_and_in_the_record() {
        let mut out = Vec::new();
        let trace = std::sync::Arc::new(crate::boson::rpc::Trace::default());
        let mut steps = Steps::new(&mut out, trace);
        steps.mask(vec!["sk_live_0123456789".into(), "short".into()]);
        let echoed = Err(StepError::Rpc(
            "GET /ready?apiKey=sk_live_0123456789: HTTP 500 short".into(),
        ));
        assert!(!steps.check("relayer", echoed));
        let detail = steps.list[0].detail.clone();
        assert!(!detail.contains("sk_live_0123456789"), "{detail}");
        assert!(
            detail.contains("<redacted>") && detail.contains("short"),
            "{detail}"
        );
        assert!(steps.list[0].trace_id.is_some(), "each step has its trace");
        drop(steps);
        let line = String::from_utf8_lossy(&out);
        assert!(!line.contains("sk_live_0123456789"), "{line}");
    }
}
