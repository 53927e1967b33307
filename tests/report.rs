//! The run folder: schema, interval log, JUnit, Markdown, provenance, fault windows
//! and the progress line. The checks on a real run folder are called from the run
//! tests (goose runs one attack at a time); the rest runs on the committed baseline,
//! which is itself the summary of a real nightly run. Baselines are in `compare`,
//! the page in a real browser in `browser`.

use std::path::{Path, PathBuf};

use serde_json::Value;

pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn baseline() -> Value {
    read_json(&repo("reports/baseline/nightly.json"))
}

fn validator() -> jsonschema::Validator {
    let schema = read_json(&repo(gauntlet::report::SCHEMA_PATH));
    jsonschema::validator_for(&schema).expect("the committed schema is a valid JSON Schema")
}

/// The summary's problems against the committed schema, one line each.
pub fn schema_errors(summary: &Value) -> Vec<String> {
    validator()
        .iter_errors(summary)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn the_committed_schema_is_the_one_the_code_writes() {
    let committed = std::fs::read_to_string(repo(gauntlet::report::SCHEMA_PATH)).expect("read");
    assert!(
        committed == gauntlet::report::schema(),
        "{} is stale: refresh it with `cargo run -- schema > {}`",
        gauntlet::report::SCHEMA_PATH,
        gauntlet::report::SCHEMA_PATH
    );
}

#[test]
fn the_schema_accepts_a_real_summary_and_rejects_broken_ones() {
    let good = baseline();
    assert_eq!(schema_errors(&good), Vec::<String>::new());
    let mut no_verdict = good.clone();
    no_verdict
        .as_object_mut()
        .expect("object")
        .remove("verdict");
    assert!(!schema_errors(&no_verdict).is_empty(), "a missing verdict");
    let mut wrong_type = good.clone();
    wrong_type["latency_ms"]["p99_ms"] = Value::from("fast");
    assert!(
        !schema_errors(&wrong_type).is_empty(),
        "a string for a number"
    );
    let mut bad_status = good;
    bad_status["verdict"]["checks"][0]["status"] = Value::from("maybe");
    assert!(!schema_errors(&bad_status).is_empty(), "an unknown status");
}

#[test]
fn the_command_line_in_a_report_hides_secret_looking_values() {
    let args = [
        "gauntlet",
        "run",
        "--seed",
        "7",
        "--api-key",
        "sk_live_abc",
        "--token=t0k3n",
        "--out",
        "dir",
    ]
    .map(String::from);
    assert_eq!(
        gauntlet::report::redact_args(args),
        [
            "gauntlet",
            "run",
            "--seed",
            "7",
            "--api-key",
            "[redacted]",
            "--token=[redacted]",
            "--out",
            "dir"
        ]
    );
}

// ---- checks on a real run folder, called from the run tests ----

/// Every file of a run folder, checked against the summary the run returned.
pub fn check_run_folder(dir: &Path, summary: &gauntlet::report::RunSummary) {
    let json = read_json(&dir.join("summary.json"));
    assert_eq!(
        schema_errors(&json),
        Vec::<String>::new(),
        "summary.json vs schema"
    );
    check_hlog(dir, summary);
    check_junit(dir, summary);
    let md = std::fs::read_to_string(dir.join("summary.md")).expect("summary.md");
    assert!(
        md.contains(if summary.verdict.pass { "PASS" } else { "FAIL" }),
        "{md}"
    );
    for c in &summary.verdict.checks {
        assert!(
            md.contains(&format!("`{}`", c.name)),
            "{} in summary.md",
            c.name
        );
    }
    let plan = std::fs::read(dir.join("plan.toml")).expect("plan.toml");
    use sha2::Digest;
    assert_eq!(
        summary.provenance.plan_sha256,
        hex::encode(sha2::Sha256::digest(&plan)),
        "provenance names the plan as run"
    );
    assert_eq!(summary.provenance.seed, summary.seed);
    assert!(dir.join("goose/report.html").exists() && dir.join("goose/report.json").exists());
}

/// The interval log holds the standard headers, and its intervals, read back with
/// the hdrhistogram crate's log reader and added up, give the summary's percentiles.
fn check_hlog(dir: &Path, summary: &gauntlet::report::RunSummary) {
    use base64::Engine;
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    let bytes = std::fs::read(dir.join("latency.hlog")).expect("latency.hlog");
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("#[StartTime: ") && text.contains("#[BaseTime: "),
        "{text}"
    );
    let mut totals: std::collections::BTreeMap<String, hdrhistogram::Histogram<u64>> =
        Default::default();
    let (mut start, mut intervals) = (false, 0);
    for entry in IntervalLogIterator::new(&bytes) {
        match entry.expect("a well-formed log entry") {
            LogEntry::StartTime(_) => start = true,
            LogEntry::BaseTime(_) => {}
            LogEntry::Interval(h) => {
                intervals += 1;
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(h.encoded_histogram())
                    .expect("base64");
                let hist: hdrhistogram::Histogram<u64> = Deserializer::new()
                    .deserialize(&mut &raw[..])
                    .expect("a V2 compressed histogram");
                let tag = h.tag().map_or(String::new(), |t| t.as_str().to_string());
                totals
                    .entry(tag)
                    .or_insert_with(|| hdrhistogram::Histogram::new_from(&hist))
                    .add(&hist)
                    .expect("same bounds");
            }
        }
    }
    assert!(start && intervals >= 2, "{intervals} intervals");
    for (tag, want) in [("", &summary.latency_ms), ("service", &summary.service_ms)] {
        let got = gauntlet::measure::Summary::of(&totals[tag]);
        assert_eq!(
            &got, want,
            "tag {tag:?}: the log's histograms against the summary"
        );
    }
}

fn check_junit(dir: &Path, summary: &gauntlet::report::RunSummary) {
    let xml = std::fs::read_to_string(dir.join("junit.xml")).expect("junit.xml");
    let report = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit XML");
    let compared = summary.baseline.as_ref().map_or(0, |b| b.rows.len());
    assert_eq!(report.tests, summary.verdict.checks.len() + compared);
    let failed = summary.verdict.failed().count()
        + summary.baseline.as_ref().map_or(0, |b| b.regressed.len());
    assert_eq!(report.failures, failed, "{xml}");
    let names: Vec<String> = report
        .test_suites
        .iter()
        .flat_map(|s| s.test_cases.iter().map(|c| c.name.to_string()))
        .collect();
    for c in &summary.verdict.checks {
        assert!(
            names.contains(&c.name.to_string()),
            "{} in junit.xml",
            c.name
        );
    }
}

pub fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "gauntlet-{name}-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

// ---- fault windows and the progress line ----

#[test]
fn a_plan_names_its_surges_and_fault_windows_within_the_schedule() {
    let dir = tempdir("windows");
    let path = dir.join("windows.toml");
    std::fs::write(
        &path,
        r#"
[run]
duration = "60s"
rate = 100
[[run.surge]]
at = "5s"
for = "10s"
rate = 150
[[faults]]
name = "outage"
kind = "status"
status = 503
at = "20s"
for = "5s"
[[faults]]
name = "blips"
kind = "reset"
at = "30s"
every = "20s"
for = "2s"
[[faults]]
name = "always-slow"
kind = "latency"
dist = "fixed"
delay = "1ms"
"#,
    )
    .expect("write");
    let plan = gauntlet::plan::Plan::load(&path).expect("plan");
    let got: Vec<(String, String, f64, f64)> = plan
        .fault_windows(&plan.faults)
        .into_iter()
        .map(|w| (w.name, w.kind, w.from_s, w.to_s))
        .collect();
    let want = [
        ("surge to 150/s", "surge", 5.0, 15.0),
        ("outage", "status", 20.0, 25.0),
        ("blips", "reset", 30.0, 32.0),
        ("blips", "reset", 50.0, 52.0),
    ]
    .map(|(n, k, a, b)| (n.to_string(), k.to_string(), a, b));
    assert_eq!(got, want, "an always-on rule is no window");
}

#[test]
fn the_progress_line_names_the_fault_windows_open_now() {
    use gauntlet::report::{FaultWindow, IntervalRow};
    let window = |name: &str, from_s, to_s| FaultWindow {
        name: name.into(),
        kind: "status".into(),
        from_s,
        to_s,
    };
    let p = gauntlet::progress::Progress::new(
        std::time::Duration::from_secs(60),
        vec![
            window("outage", 10.0, 20.0),
            window("surge to 2400/s", 15.0, 30.0),
        ],
    );
    let row = |end_s| IntervalRow {
        end_s,
        accepted_per_s: 1999.6,
        requests: 10,
        errors: 3,
        p50_ms: 1.0,
        p99_ms: 42.0,
        ..IntervalRow::default()
    };
    let line = p.line(4.0, &row(5.0));
    assert!(
        line.contains("2000 actions/s")
            && line.contains("errors   3")
            && line.contains("p99    42.0 ms"),
        "{line}"
    );
    assert!(line.ends_with("faults: none"), "{line}");
    assert!(p.line(11.0, &row(12.0)).ends_with("faults: outage"));
    assert!(
        p.line(15.0, &row(16.0))
            .ends_with("faults: outage, surge to 2400/s")
    );
    assert!(
        p.line(30.0, &row(31.0)).ends_with("faults: none"),
        "a window is [from, to)"
    );
    // A window shorter than the interval is still named.
    let blip = gauntlet::progress::Progress::new(
        std::time::Duration::from_secs(60),
        vec![window("blip", 41.0, 41.2)],
    );
    assert!(blip.line(40.0, &row(45.0)).ends_with("faults: blip"));
    assert!(blip.line(45.0, &row(50.0)).ends_with("faults: none"));
}
