//! The run folder (schema, interval log, JUnit, Markdown, the HTML page in a real
//! browser) and baselines. The checks on a real run folder are called from the run
//! tests (goose runs one attack at a time); the rest runs on the committed baseline,
//! which is itself the summary of a real nightly run.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn baseline() -> Value {
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

// ---- compare ----

fn with(mut v: Value, pointer: &str, f: impl Fn(f64) -> f64) -> Value {
    let slot = v
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("{pointer}"));
    let old = slot
        .as_f64()
        .unwrap_or_else(|| panic!("{pointer} is a number"));
    *slot = Value::from(f(old));
    v
}

fn compare(base: &Value, current: &Value, tolerance: f64) -> gauntlet::compare::Comparison {
    gauntlet::compare::compare(base, current, tolerance, "baseline.json")
}

#[test]
fn the_same_run_does_not_regress() {
    let b = baseline();
    let c = compare(&b, &b, 10.0);
    assert!(c.pass(), "{c:#?}");
    assert!(c.notes.is_empty(), "{:?}", c.notes);
    assert!(
        c.rows
            .iter()
            .all(|r| r.status == gauntlet::compare::RowStatus::Same),
        "{c:#?}"
    );
}

#[test]
fn slower_latency_regresses_and_faster_does_not() {
    let b = baseline();
    let slower = with(b.clone(), "/latency_ms/p99_ms", |v| v * 1.3);
    let c = compare(&b, &slower, 10.0);
    assert_eq!(c.regressed, vec!["latency_p99_ms"]);
    let faster = with(b.clone(), "/latency_ms/p99_ms", |v| v * 0.7);
    let c = compare(&b, &faster, 10.0);
    assert!(c.pass(), "{c:#?}");
    let row = c.rows.iter().find(|r| r.metric == "latency_p99_ms");
    assert_eq!(
        row.map(|r| r.status),
        Some(gauntlet::compare::RowStatus::Improved)
    );
}

#[test]
fn a_lower_rate_regresses_and_a_higher_one_does_not() {
    let b = baseline();
    let lower = with(b.clone(), "/twin/applied_rate", |v| v * 0.95);
    assert_eq!(compare(&b, &lower, 2.0).regressed, vec!["achieved_rate"]);
    let higher = with(b.clone(), "/twin/applied_rate", |v| v * 1.05);
    assert!(compare(&b, &higher, 2.0).pass());
}

#[test]
fn error_and_retry_figures_regress_when_they_grow() {
    let b = baseline();
    for (pointer, metric) in [
        ("/load/rejected", "rejected"),
        ("/load/outcomes/503", "error_share"),
        ("/twin/oracle/effects/lost", "effects_lost"),
        ("/accept_ms/p99_ms", "accept_p99_ms"),
        ("/latency_ms/p90_ms", "latency_p90_ms"),
        ("/service_ms/p99_ms", "service_p99_ms"),
        ("/twin/oracle/actions/lost", "lost"),
        ("/twin/oracle/actions/duplicated", "duplicated"),
        ("/twin/oracle/backoff/early", "early_retries"),
        ("/load/gave_up", "gave_up"),
        ("/load/amplification", "amplification"),
        ("/twin/oracle/effects/duplicated", "effects_duplicated"),
    ] {
        let worse = with(b.clone(), pointer, |v| v * 2.0 + 3.0);
        assert_eq!(
            compare(&b, &worse, 10.0).regressed,
            vec![metric],
            "{pointer}"
        );
    }
}

#[test]
fn fewer_accepted_actions_regress() {
    let b = baseline();
    let fewer = with(b.clone(), "/load/accepted", |v| v * 0.9);
    assert_eq!(compare(&b, &fewer, 5.0).regressed, vec!["accepted_share"]);
}

#[test]
fn a_figure_lost_against_the_same_target_regresses() {
    // The twin could not be read at the end: what it would have said is unknown.
    let b = baseline();
    let mut unread = b.clone();
    unread["twin"] = Value::Null;
    let c = compare(&b, &unread, 10.0);
    for metric in ["achieved_rate", "lost", "duplicated", "early_retries"] {
        assert!(c.regressed.iter().any(|m| m == metric), "{metric}: {c:#?}");
    }
}

#[test]
fn changes_within_the_tolerance_or_under_the_floor_do_not_regress() {
    let b = baseline();
    let a_bit = with(b.clone(), "/latency_ms/p99_ms", |v| v * 1.05);
    assert!(compare(&b, &a_bit, 10.0).pass());
    // Under 1 ms at p50 is noise even with no tolerance at all.
    let tiny = with(b.clone(), "/latency_ms/p50_ms", |v| v + 0.5);
    assert!(compare(&b, &tiny, 0.0).pass());
    // The same change fails a tighter tolerance.
    assert_eq!(compare(&b, &a_bit, 1.0).regressed, vec!["latency_p99_ms"]);
}

#[test]
fn a_run_without_a_twin_compares_what_it_has() {
    let b = baseline();
    let mut external = b.clone();
    external["twin"] = Value::Null;
    external["target"] = Value::from("http://127.0.0.1:9/");
    let c = compare(&b, &external, 10.0);
    assert!(c.pass(), "{c:#?}");
    assert!(
        c.notes.iter().any(|n| n.contains("target")),
        "{:?}",
        c.notes
    );
    assert!(
        c.rows
            .iter()
            .any(|r| r.metric == "lost" && r.status == gauntlet::compare::RowStatus::Missing)
    );
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

fn gauntlet() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gauntlet"));
    c.env_clear();
    c
}

fn temp(name: &str, v: &Value) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gauntlet-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string(v).expect("json")).expect("write");
    path
}

#[test]
fn gauntlet_compare_exits_1_naming_what_regressed_and_0_otherwise() {
    let b = baseline();
    let base = temp("base.json", &b);
    let worse = temp(
        "worse.json",
        &with(
            with(b.clone(), "/latency_ms/p90_ms", |v| v * 2.0),
            "/load/gave_up",
            |v| v + 10.0,
        ),
    );
    let out = gauntlet()
        .arg("compare")
        .arg(&base)
        .arg(&worse)
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("regressed: latency_p90_ms, gave_up"),
        "{text}"
    );
    let out = gauntlet()
        .arg("compare")
        .arg(&base)
        .arg(&base)
        .args(["--tolerance", "5"])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("no regression"), "{text}");
}

#[test]
fn gauntlet_compare_names_a_bad_input_and_exits_2() {
    let b = baseline();
    let base = temp("base2.json", &b);
    let mut old = b.clone();
    old["schema_version"] = Value::from(0);
    let old = temp("old.json", &old);
    let not_json = temp("notjson.json", &Value::from("x"));
    std::fs::write(&not_json, "{ not json").expect("write");
    let cases: [(Vec<&std::ffi::OsStr>, String); 4] = [
        (
            vec![base.as_os_str(), old.as_os_str()],
            format!("{}: schema_version 0", old.display()),
        ),
        (
            vec![base.as_os_str(), not_json.as_os_str()],
            format!("{}: not a gauntlet summary", not_json.display()),
        ),
        (
            vec![base.as_os_str(), "/nonexistent/summary.json".as_ref()],
            "cannot read /nonexistent/summary.json".to_string(),
        ),
        (
            vec![
                base.as_os_str(),
                base.as_os_str(),
                "--tolerance=-3".as_ref(),
            ],
            "--tolerance -3".to_string(),
        ),
    ];
    for (args, expected) in cases {
        let out = gauntlet().arg("compare").args(&args).output().expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(&expected), "{args:?}: {err}");
    }
}

#[test]
fn run_refuses_a_bad_baseline_before_any_load() {
    let b = baseline();
    let mut old = b;
    old["schema_version"] = Value::from(0);
    let old = temp("old-for-run.json", &old);
    let cases: [(Vec<&std::ffi::OsStr>, String); 3] = [
        (
            vec!["--baseline".as_ref(), old.as_os_str()],
            format!("{}: schema_version 0", old.display()),
        ),
        (
            vec!["--baseline".as_ref(), "/nonexistent/base.json".as_ref()],
            "cannot read /nonexistent/base.json".to_string(),
        ),
        (
            vec!["--tolerance".as_ref(), "5".as_ref()],
            "name the baseline with --baseline".to_string(),
        ),
    ];
    for (args, expected) in cases {
        let out = gauntlet()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .arg("run")
            .args(&args)
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(&expected), "{args:?}: {err}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            !stdout.contains("gauntlet run"),
            "no load started: {stdout}"
        );
    }
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

/// The most points on one `<polyline>` of an SVG.
fn longest_polyline(svg: &str) -> usize {
    svg.split("<polyline")
        .skip(1)
        .filter_map(|p| {
            let at = p.find("points=\"")? + 8;
            let end = p[at..].find('"')?;
            Some(p[at..at + end].split_whitespace().count())
        })
        .max()
        .unwrap_or(0)
}

/// Debian's Chromium, as `.ci/run` installs it.
fn chromium() -> PathBuf {
    let found = std::env::var_os("GAUNTLET_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| {
            ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
                .into_iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
        });
    found.unwrap_or_else(|| {
        panic!("headless Chromium is needed for the report test: apt-get install chromium (.ci/run does)")
    })
}

fn headless(page: &Path, what: &[&str]) -> std::process::Output {
    let profile = tempdir("chromium-profile");
    Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1100,2600",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(what)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium starts")
}

fn tempdir(name: &str) -> PathBuf {
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

/// The page, opened in headless Chromium: its elements are there (the verdict, a
/// plot per figure, the tables) and its screenshot is not blank.
pub fn check_in_browser(dir: &Path, pass: bool) {
    let page = std::fs::canonicalize(dir.join("report.html")).expect("report.html");
    let dom = headless(&page, &["--dump-dom"]);
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let verdict = if pass { "PASS" } else { "FAIL" };
    assert!(
        dom_text.contains(&format!("<h1 id=\"verdict\">{verdict}</h1>")),
        "the verdict heading: {dom_text:.2000}"
    );
    for id in [
        "plot-timeline",
        "plot-latency",
        "plot-accept",
        "plot-backoff",
        "plot-attempts",
    ] {
        let at = dom_text
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("figure {id} in the page"));
        let figure = &dom_text[at..];
        let figure = &figure[..figure.find("</figure>").expect("closed")];
        assert!(figure.contains("<svg"), "{id} holds an SVG");
        let drawn = match id {
            // A data series: a line through many points (axes and ticks have two).
            "plot-timeline" | "plot-latency" | "plot-accept" => longest_polyline(figure) > 5,
            "plot-backoff" => figure.contains("<circle"),
            // The background and at least one bar.
            _ => figure.matches("<rect").count() >= 2,
        };
        assert!(drawn, "{id} shows its data");
    }
    for id in ["checks", "oracle", "load", "provenance"] {
        assert!(dom_text.contains(&format!("id=\"{id}\"")), "table {id}");
    }
    assert!(!dom_text.contains("plot unavailable"), "every plot drew");
    if !pass {
        assert!(
            dom_text.contains("id=\"failed\""),
            "a failed run lists what failed"
        );
    }
    let shot = tempdir("shot").join("report.png");
    let out = headless(&page, &[&format!("--screenshot={}", shot.display())]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&shot).expect("screenshot written"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let px = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(px).collect();
    let colors: std::collections::HashSet<&[u8]> = pixels.iter().copied().collect();
    let inked = pixels
        .iter()
        .filter(|p| p.iter().take(3).any(|c| *c < 200))
        .count();
    assert!(
        colors.len() > 50 && inked * 100 > pixels.len(),
        "the screenshot shows the page: {} colors, {inked} of {} pixels inked",
        colors.len(),
        pixels.len()
    );
    // What the page draws, by its colours: the verdict banner, the data series
    // (plotters' blue), the shaded fault windows (red at 45% over white).
    let near = |want: [u8; 3], by: u8| {
        pixels
            .iter()
            .filter(|p| p.iter().zip(want).all(|(c, w)| c.abs_diff(w) <= by))
            .count()
    };
    let banner = if pass {
        [227, 244, 225]
    } else {
        [251, 228, 228]
    };
    for (what, rgb, by, least) in [
        ("the verdict banner", banner, 3, 5_000),
        ("the data series", [31, 119, 180], 12, 500),
        ("the shaded fault windows", [250, 222, 222], 6, 300),
    ] {
        let n = near(rgb, by);
        assert!(n >= least, "{what}: {n} pixels near {rgb:?}");
    }
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
