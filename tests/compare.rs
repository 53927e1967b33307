//! Baselines: `gauntlet compare` and `gauntlet run --baseline` on the committed
//! nightly baseline, changed one figure at a time.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::report::baseline;

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
        ("/twin/load/lost", "lost"),
        ("/twin/load/duplicated", "duplicated"),
        ("/twin/oracle/backoff/early", "early_retries"),
        ("/load/gave_up", "gave_up"),
        ("/load/amplification", "amplification"),
        ("/twin/oracle/effects/duplicated", "effects_duplicated"),
    ] {
        // Past every metric's floor (time to accept's is 30 s: whole backoff steps).
        let worse = with(b.clone(), pointer, |v| v * 2.0 + 40_000.0);
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
