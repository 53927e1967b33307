//! The soak job's own behaviour: an interrupted run leaves a whole report marked
//! partial and exits 130; a twin killed and restarted mid-run is counted and
//! survived; each window of the timeline is judged on its own and the verdict
//! names the one that failed; the memory check fails on a leak.
//!
//! Runs that judge the harness's own process (memory, exit codes) use the
//! binary, so no other test's allocations are in its figures. Every wait is on a
//! condition (bounded), never on a timer.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gauntlet::cli::RunArgs;
use gauntlet::verdict::Status;
use gauntlet_mock::MockServer;
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use crate::run::{status, write_plan};
use crate::util::{GOOSE, KEY, TOKEN, Twin, config};

fn gauntlet_run(plan: &Path, out: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .env_clear()
        .arg("run")
        .arg(plan)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start gauntlet run")
}

fn summary(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).expect("summary.json"))
        .expect("summary.json is JSON")
}

fn check<'a>(s: &'a Value, name: &str) -> &'a Value {
    s["verdict"]["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no check {name} in {}", s["verdict"]))
}

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gauntlet-soak-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Ctrl-C (SIGINT to the process) once the first snapshot of the folder is on
/// disk: the load stops, the report is written whole and marked partial, the
/// run exits 130.
#[test]
fn ctrl_c_mid_run_leaves_a_complete_partial_report_and_exits_130() {
    let plan = write_plan(
        "soak-interrupted",
        "[run]\nduration = \"60s\"\nrate = 200\nbatch = { min = 5, max = 10 }\nwarmup = \"1s\"\nsnapshot = \"500ms\"\n\
         [webhooks]\nhandler = \"off\"\n[soak]\nsave_every = \"1s\"\n",
    );
    let dir = out_dir("interrupted");
    let child = gauntlet_run(&plan, &dir);
    // Under way: the first snapshot says so.
    let snapshot = (0..1200)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            std::fs::read(dir.join("summary.json"))
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        })
        .expect("a snapshot while the run goes on");
    assert!(
        snapshot["partial"]
            .as_str()
            .is_some_and(|p| p.contains("still under way")),
        "{}",
        snapshot["partial"]
    );
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("PARTIAL: interrupted"), "{stdout}");
    let s = summary(&dir);
    assert_eq!(s["canceled"], true);
    assert!(
        s["partial"]
            .as_str()
            .is_some_and(|p| p.starts_with("interrupted")),
        "{}",
        s["partial"]
    );
    assert_eq!(check(&s, "completed")["status"], "fail");
    // Whole: the twin's account was read and every report rendered.
    assert!(
        s["twin"]["oracle"]["actions"]["applies"]
            .as_u64()
            .is_some_and(|n| n > 0)
    );
    let html = std::fs::read_to_string(dir.join("report.html")).expect("report.html");
    assert!(html.contains("Partial: "), "the report says it is partial");
    for f in ["summary.md", "junit.xml", "latency.hlog", "tape.jsonl"] {
        assert!(dir.join(f).exists(), "{f}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .expect("ls")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "no half-written file: {leftovers:?}");
}

/// The plan's memory check against the harness's own process: with the
/// test-only leak it fails and names the slope; without it, it passes.
#[test]
fn the_rss_check_fails_on_a_deliberate_leak_and_passes_without_one() {
    let plan = |leak: f64| {
        format!(
            "[run]\nduration = \"8s\"\nrate = 100\nbatch = {{ min = 5, max = 10 }}\nwarmup = \"1s\"\nsnapshot = \"250ms\"\n\
             [webhooks]\nhandler = \"off\"\n\
             [soak]\nstability = true\nsettle = \"2s\"\nmax_rss_growth = 0.5\nmax_latency_drift = 1000.0\ntest_leak_mib_per_s = {leak}\n"
        )
    };
    let run = |name: &str, leak: f64| {
        let dir = out_dir(name);
        let out = gauntlet_run(&write_plan(name, &plan(leak)), &dir)
            .wait_with_output()
            .expect("run");
        let s = summary(&dir);
        (out, s)
    };
    let (_, leaky) = run("soak-leak", 48.0);
    let rss = check(&leaky, "rss_growth");
    assert_eq!(rss["status"], "fail", "{rss}");
    assert!(
        rss["detail"].as_str().is_some_and(|d| d.contains("MiB/h")),
        "the slope is named: {rss}"
    );
    assert!(
        leaky["stability"]["rss_mb"]["slope_per_h"]
            .as_f64()
            .is_some_and(|s| s > 0.0)
    );
    let (out, clean) = run("soak-no-leak", 0.0);
    let rss = check(&clean, "rss_growth");
    assert_eq!(
        rss["status"],
        "pass",
        "{rss}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(check(&clean, "fd_growth")["status"], "pass");
}

/// An outage window (503s for two seconds) breaks a client that gives up at
/// the first failure: the outage's own verdict fails, the verdict names it, and
/// the windows around it that the client got through pass. The same plan with
/// a patient client passes every window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_window_verdicts_name_the_outage_that_broke_a_flawed_client() {
    let _goose = GOOSE.lock().await;
    let plan = |attempts: u32| {
        format!(
            "[run]\nduration = \"9s\"\nseed = 5\nrate = 300\nbatch = {{ min = 10, max = 20 }}\nwarmup = \"1s\"\nsnapshot = \"500ms\"\n\
             [client]\nmax_attempts = {attempts}\nmax_elapsed = \"30s\"\n\
             [webhooks]\nhandler = \"off\"\n\
             [soak]\nslice = \"3s\"\n\
             [[faults]]\nname = \"outage\"\nkind = \"status\"\nstatus = 503\nretry_after = 1\nroute = \"POST /ebus/actions/batch\"\nat = \"4s\"\nfor = \"2s\"\n"
        )
    };
    let flawed = crate::run::run_ok("windows-flawed", &plan(1)).await;
    assert_eq!(status(&flawed, "windows"), Status::Fail);
    let w = |o: &gauntlet::run::RunOutcome, name: &str| {
        o.summary
            .windows
            .iter()
            .find(|w| w.name == name)
            .cloned()
            .unwrap_or_else(|| panic!("no window {name}"))
    };
    let outage = w(&flawed, "outage");
    assert!(!outage.pass && outage.gave_up > 0, "{outage:?}");
    assert!(
        outage.failed.iter().any(|f| f.starts_with("gave_up")),
        "{outage:?}"
    );
    assert!(
        w(&flawed, "slice 1").pass,
        "before the outage all went well"
    );
    let detail = flawed
        .verdict
        .checks
        .iter()
        .find(|c| c.name == "windows")
        .and_then(|c| c.detail.clone())
        .unwrap_or_default();
    assert!(detail.starts_with("first failed: outage"), "{detail}");
    let patient = crate::run::run_ok("windows-patient", &plan(15)).await;
    assert_eq!(status(&patient, "windows"), Status::Pass);
    assert!(
        patient
            .summary
            .windows
            .iter()
            .all(|w| w.pass && w.lost == Some(0))
    );
    assert!(w(&patient, "outage").actions > 0);
}

/// A twin killed mid-run and started again on the same address: the run goes
/// on and reconnects, the failed attempts are counted by kind, the outage is
/// marked, the restart is reported (not counted as lost actions), the plan's
/// faults are installed on the new twin, and its counters are the ones read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twin_killed_and_restarted_mid_run_is_counted_and_survived() {
    let _goose = GOOSE.lock().await;
    let first = Twin::start(config()).await;
    let addr = first.addr;
    let plan = write_plan(
        "soak-restart",
        "[run]\nduration = \"12s\"\nrate = 200\nbatch = { min = 5, max = 10 }\nwarmup = \"1s\"\nsnapshot = \"250ms\"\n\
         [client]\nmax_elapsed = \"60s\"\ntimeout = \"2s\"\n\
         [webhooks]\nhandler = \"off\"\n\
         [[faults]]\nname = \"late-slow\"\nkind = \"latency\"\ndist = \"fixed\"\ndelay = \"1ms\"\nat = \"11s\"\nfor = \"1s\"\n",
    );
    let restarter = tokio::spawn(async move {
        let mut first = first;
        let probe = Twin::attach(&first);
        // Under way: the first twin has applied some of the load.
        for _ in 0..600 {
            let o = probe.oracle().await;
            if o["runs"]
                .as_object()
                .and_then(|r| r.values().next())
                .and_then(|r| r["applied"].as_u64())
                .is_some_and(|n| n > 200)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if let Some(h) = first.handle.take() {
            h.stop().await;
        }
        // The dead address: every connection is dropped unanswered until the
        // harness's status read has failed on it.
        let dead = TcpListener::bind(addr).await.expect("rebind");
        loop {
            let (mut c, _) = dead.accept().await.expect("accept");
            let mut head = [0u8; 64];
            let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut head))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(0);
            drop(c);
            if head[..n].starts_with(b"GET /_gauntlet/status") {
                break;
            }
        }
        drop(dead);
        let second = MockServer::start(
            config(),
            TcpListener::bind(addr).await.expect("bind again"),
            std::future::pending(),
        )
        .await
        .expect("second twin");
        Twin {
            handle: Some(second),
            addr,
        }
    });
    let args = RunArgs {
        plan: Some(plan.clone()),
        out: Some(plan.with_extension("out")),
        target: Some(format!("http://{addr}")),
        ..RunArgs::default()
    };
    let env = |name: &str| match name {
        "DUAL_API_KEY" => Some(KEY.to_string()),
        "GAUNTLET_CONTROL_TOKEN" => Some(TOKEN.to_string()),
        _ => None,
    };
    let mut printed = Vec::new();
    let o = gauntlet::run::run(args, env, &mut printed)
        .await
        .expect("the run survives the restart");
    let second = restarter.await.expect("restarter");
    let printed = String::from_utf8_lossy(&printed);
    let t = &o.summary.target_events;
    assert_eq!(t.restarts.len(), 1, "{printed}");
    assert!(t.refused + t.reset + t.timeout > 0, "{t:?}");
    assert!(!t.outages.is_empty(), "the outage is marked: {t:?}");
    assert!(
        o.summary.fault_windows.iter().any(|w| w.kind == "outage"),
        "the report's timeline shades it"
    );
    assert!(printed.contains("RESTARTED"), "{printed}");
    assert_eq!(status(&o, "target_restarts"), Status::Fail);
    assert_eq!(
        status(&o, "lost"),
        Status::Skipped,
        "the forgotten actions are not counted as lost"
    );
    let counts = &o.summary.load.counts;
    assert_eq!(
        counts.accepted, counts.actions,
        "the client got everything through"
    );
    // The new twin's counters are the ones read, and the plan's fault is on it.
    let applied_second = second.oracle().await["actions"]["applies"]
        .as_u64()
        .unwrap_or(0);
    assert!(applied_second > 0);
    assert_eq!(
        o.summary.twin.as_ref().map(|t| t.oracle.actions.applies),
        Some(applied_second)
    );
    let rules = second
        .control("GET", "/_gauntlet/rules")
        .send()
        .await
        .json();
    assert_eq!(rules["rules"][0]["name"], "late-slow", "{rules}");
    assert_eq!(t.restarts[0].faults_reinstalled, 1);
}
