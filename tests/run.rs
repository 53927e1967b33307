//! `gauntlet run` on short plans: the correct client passes under every fault kind,
//! each flawed client fails the check it breaks; remote twins, bad plans, bad targets.

use std::path::PathBuf;

use gauntlet::cli::RunArgs;
use gauntlet::run::RunOutcome;
use gauntlet::verdict::Status;

use crate::util::{KEY, TOKEN, Twin, config};

fn write_plan(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gauntlet-plans-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write plan");
    path
}

/// Every fault kind, a few seconds long. Each kind fires for sure: the rarer ones in
/// short windows with a limit, the rest by probability over ~200 requests. About
/// one request in seven fails, so a correct client never needs more than its
/// budget (a batch would need seven failures in a row), while every flaw has
/// something to trip on.
fn chaos_plan(flaw: &str) -> String {
    let mut plan = format!(
        r#"
[run]
duration = "4s"
seed = 11
rate = 800
batch = {{ min = 10, max = 30 }}
warmup = "1s"
snapshot = "1s"
users = 32

[client]
max_attempts = 15
max_elapsed = "120s"
timeout = "2s"
flaw = "{flaw}"

[thresholds]
max_lost = 0
max_duplicated = 0
max_early_retries = 0
max_gave_up = 0
min_retry_jitter = "100ms"

[[faults]]
kind = "latency"
dist = "uniform"
min = "1ms"
max = "15ms"
[[faults]]
route = "POST /ebus/actions/batch"
kind = "status"
status = 429
retry_after = 1
probability = 0.04
[[faults]]
route = "POST /ebus/actions/batch"
kind = "status"
status = 503
retry_after = 2
probability = 0.03
[[faults]]
route = "POST /ebus/actions/batch"
kind = "lost_reply"
probability = 0.03
[[faults]]
kind = "partial_batch"
fraction = 0.3
probability = 0.06
[[faults]]
kind = "flat_error"
probability = 0.2
[[faults]]
kind = "webhook_duplicate"
mode = "concurrent"
probability = 0.2
[[faults]]
kind = "webhook_bad_signature"
probability = 0.1
[[faults]]
kind = "webhook_stale_timestamp"
probability = 0.1

[webhooks]
transfer_share = 0.1
pool = 100
settle = "20s"
"#
    );
    let rare = [
        ("kind = \"status\"\nstatus = 500", "0.3s"),
        ("kind = \"reset\"", "0.8s"),
        ("kind = \"hang\"\nhang_for = \"300ms\"", "1.3s"),
        ("kind = \"lost_reply\"\nreply = \"drop\"", "1.8s"),
        ("kind = \"truncated\"", "2.3s"),
        ("kind = \"malformed\"", "2.8s"),
        ("kind = \"status\"\nstatus = 503\nretry_after = 2", "3.3s"),
    ];
    for (what, at) in rare {
        plan.push_str(&format!(
            "[[faults]]\nroute = \"POST /ebus/actions/batch\"\n{what}\nat = \"{at}\"\nfor = \"400ms\"\nlimit = 3\n"
        ));
    }
    plan
}

async fn run_plan(
    path: PathBuf,
    target: Option<String>,
    env: Vec<(&'static str, String)>,
) -> anyhow::Result<RunOutcome> {
    // The client's warnings (a batch given up) show in a failing test's output.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("gauntlet=warn")
        .with_test_writer()
        .try_init();
    let out_dir = path.with_extension("out");
    let args = RunArgs {
        plan: Some(path),
        out: Some(out_dir),
        target,
        ..RunArgs::default()
    };
    run_args(args, env).await
}

async fn run_args(args: RunArgs, env: Vec<(&'static str, String)>) -> anyhow::Result<RunOutcome> {
    let lookup = move |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone());
    let mut printed = Vec::new();
    let result = gauntlet::run::run(args, lookup, &mut printed).await;
    eprintln!("{}", String::from_utf8_lossy(&printed));
    result
}

fn status(o: &RunOutcome, check: &str) -> Status {
    o.verdict
        .checks
        .iter()
        .find(|c| c.name == check)
        .map(|c| c.status)
        .unwrap_or_else(|| panic!("no check {check}"))
}

/// Goose's Ctrl-C handling is process-wide, so attacks run one at a time: every
/// case that runs goose is a row here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_judge_the_correct_client_and_each_flaw() {
    // The correct client: clean under every fault kind.
    let o = run_plan(write_plan("correct", &chaos_plan("none")), None, vec![])
        .await
        .expect("run");
    assert!(o.verdict.pass, "{:#?}", o.verdict);
    let twin = o.summary.twin.as_ref().expect("embedded twin");
    let counts = &o.summary.load.counts;
    assert!(counts.actions > 1000, "load was offered: {counts:?}");
    assert_eq!(
        (
            twin.oracle.actions.duplicated,
            gauntlet::verdict::lost(counts, &twin.oracle)
        ),
        (0, 0)
    );
    assert_eq!(
        counts.accepted + counts.rejected,
        counts.actions,
        "every action accounted for"
    );
    let fx = &twin.oracle.effects;
    assert!(
        fx.expected > 50 && fx.exactly_once == fx.expected,
        "every webhook effect once: {fx:?}"
    );
    for kind in [
        "latency",
        "status",
        "lost_reply",
        "partial_batch",
        "flat_error",
        "reset",
        "hang",
        "truncated",
        "malformed",
    ] {
        assert!(
            twin.faults.get(kind).is_some_and(|n| *n > 0),
            "{kind} happened: {:?}",
            twin.faults
        );
    }
    assert!(
        o.dir.join("summary.json").exists()
            && o.dir.join("latency.hlog").exists()
            && o.dir.join("goose/report.html").exists()
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(o.dir.join("summary.json")).expect("read"))
            .expect("json");
    assert_eq!(summary["schema_version"], 1);
    crate::report::check_run_folder(&o.dir, &o.summary);
    crate::browser::check_in_browser(&o.dir, true);

    // Against a baseline whose p99 was a thousand times lower: the run fails on
    // that regression alone, and the reports say so.
    let mut doctored = summary.clone();
    let p99 = doctored["latency_ms"]["p99_ms"].as_f64().expect("p99");
    doctored["latency_ms"]["p99_ms"] = serde_json::Value::from(p99 / 1000.0);
    let baseline_file = o.dir.with_extension("baseline.json");
    std::fs::write(&baseline_file, doctored.to_string()).expect("write");
    let path = write_plan("correct-vs-baseline", &chaos_plan("none"));
    let b = run_args(
        RunArgs {
            out: Some(path.with_extension("out")),
            plan: Some(path),
            baseline: Some(baseline_file),
            tolerance: Some(500.0),
            ..RunArgs::default()
        },
        vec![],
    )
    .await
    .expect("run");
    let failed: Vec<_> = b.verdict.failed().map(|c| c.name).collect();
    assert_eq!(failed, vec!["baseline"], "{:#?}", b.verdict);
    let cmp = b.summary.baseline.as_ref().expect("compared");
    assert_eq!(cmp.regressed, vec!["latency_p99_ms"], "{cmp:#?}");
    crate::report::check_run_folder(&b.dir, &b.summary);

    // Each flaw fails on the metric it breaks.
    for (flaw, check) in [
        ("no_idempotency_key", "duplicated"),
        ("retries_whole_batch", "duplicated"),
        ("no_backoff", "early_retries"),
        ("ignores_retry_after", "early_retries"),
        ("no_jitter", "retry_jitter_p50_ms"),
    ] {
        let o = run_plan(write_plan(flaw, &chaos_plan(flaw)), None, vec![])
            .await
            .expect("run");
        assert_eq!(
            status(&o, check),
            Status::Fail,
            "{flaw} must fail {check}: {:#?}",
            o.verdict
        );
        assert!(!o.verdict.pass);
        if flaw == "no_idempotency_key" {
            crate::report::check_run_folder(&o.dir, &o.summary);
            crate::browser::check_in_browser(&o.dir, false);
        }
    }

    // A handler that does not dedupe fails on its effects (which, sent twice, are
    // also actions applied twice); the load itself stays clean.
    let naive = chaos_plan("none").replace(
        "transfer_share = 0.1",
        "transfer_share = 0.1\nflaw = \"duplicate\"",
    );
    let o = run_plan(write_plan("naive-handler", &naive), None, vec![])
        .await
        .expect("run");
    assert_eq!(
        status(&o, "effects_duplicated"),
        Status::Fail,
        "{:#?}",
        o.verdict
    );
    for check in ["lost", "early_retries", "gave_up", "forgeries_accepted"] {
        assert_eq!(status(&o, check), Status::Pass, "{check}: {:#?}", o.verdict);
    }

    // A strict plan against a twin limited below the offer, with no retries: each
    // of these checks fails on its own figure.
    let strict = r#"
[run]
duration = "4s"
seed = 3
rate = 800
batch = { min = 10, max = 30 }
warmup = "1s"
snapshot = "1s"
users = 32
[target]
actions_per_sec = 500
[client]
max_attempts = 1
max_elapsed = "5s"
timeout = "2s"
[[faults]]
kind = "status"
status = 503
probability = 0.2
[[faults]]
kind = "latency"
dist = "fixed"
delay = "5ms"
[thresholds]
max_p99_latency = "1ms"
min_rate_ratio = 0.99
"#;
    let o = run_plan(write_plan("strict", strict), None, vec![])
        .await
        .expect("run");
    for check in ["lost", "gave_up", "latency_p99_ms", "rate_ratio"] {
        assert_eq!(status(&o, check), Status::Fail, "{check}: {:#?}", o.verdict);
    }
    let rate = o
        .summary
        .twin
        .as_ref()
        .and_then(|t| t.applied_rate)
        .expect("a rate");
    assert!(
        rate < 600.0,
        "the twin's limit caps the applied rate: {rate}"
    );

    // A twin started apart (as `gauntlet mock`): faults installed, oracle read back.
    let twin = Twin::start(config()).await;
    let env = vec![
        ("DUAL_API_KEY", KEY.to_string()),
        ("GAUNTLET_CONTROL_TOKEN", TOKEN.to_string()),
    ];
    let o = run_plan(
        write_plan("remote", &chaos_plan("none")),
        Some(format!("http://{}", twin.addr)),
        env,
    )
    .await
    .expect("run");
    assert!(o.verdict.pass, "{:#?}", o.verdict);
    let rules = twin.control("GET", "/_gauntlet/rules").send().await.ok();
    assert_eq!(
        rules["rules"].as_array().map(Vec::len),
        Some(16),
        "the plan's faults went to the twin"
    );
    let applied = twin.oracle().await["actions"]["exactly_once"]
        .as_u64()
        .expect("count");
    let read_back = o
        .summary
        .twin
        .as_ref()
        .map(|t| t.oracle.actions.exactly_once);
    assert_eq!(
        Some(applied),
        read_back,
        "the run reports the twin's own account"
    );
    // The load's actions, the transfer pool and the handler's effects.
    let fx = o
        .summary
        .twin
        .as_ref()
        .map_or(0, |t| t.oracle.effects.exactly_once);
    assert_eq!(
        applied,
        o.summary.load.counts.accepted + 100 + fx,
        "every action the twin applied is accounted for"
    );

    // Nothing answers there (the port stays bound so no other test can take it):
    // the run still ends, writes its summary, and fails.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed = silent.local_addr().expect("addr");
    let short = chaos_plan("none")
        .replace("duration = \"4s\"", "duration = \"1s\"")
        .replace("max_elapsed = \"120s\"", "max_elapsed = \"1s\"");
    let o = run_plan(
        write_plan("unreachable", &short),
        Some(format!("http://{closed}")),
        vec![("DUAL_API_KEY", KEY.to_string())],
    )
    .await
    .expect("a run against nothing still ends in a verdict");
    assert_eq!(status(&o, "gave_up"), Status::Fail);
    assert_eq!(
        status(&o, "lost"),
        Status::Skipped,
        "no oracle without a twin"
    );
    assert!(o.dir.join("summary.json").exists());
    drop(silent);

    // A wrong API key: every action is refused with a final 401, and the run fails
    // `rejected` rather than passing with nothing applied.
    let twin = Twin::start(config()).await;
    let env = vec![
        ("DUAL_API_KEY", "sk_wrong_key_00000000".to_string()),
        ("GAUNTLET_CONTROL_TOKEN", TOKEN.to_string()),
    ];
    let short = chaos_plan("none").replace("duration = \"4s\"", "duration = \"1s\"");
    let o = run_plan(
        write_plan("wrong-key", &short),
        Some(format!("http://{}", twin.addr)),
        env,
    )
    .await;
    // The transfer pool cannot be created with a wrong key: a clear error, exit 2.
    let err = o.expect_err("a wrong key stops the run before load");
    assert!(
        format!("{err:#}").contains("transfer pool") || format!("{err:#}").contains("webhook"),
        "{err:#}"
    );
    let no_hooks = short.replace("[webhooks]", "[webhooks]\nhandler = \"off\"");
    let env = vec![
        ("DUAL_API_KEY", "sk_wrong_key_00000000".to_string()),
        ("GAUNTLET_CONTROL_TOKEN", TOKEN.to_string()),
    ];
    let o = run_plan(
        write_plan("wrong-key-load", &no_hooks),
        Some(format!("http://{}", twin.addr)),
        env,
    )
    .await
    .expect("run");
    assert_eq!(status(&o, "rejected"), Status::Fail, "{:#?}", o.verdict);
    assert!(!o.verdict.pass);

    // Ctrl-C (goose's killswitch) mid-run: no new batch starts, the ones in flight
    // finish, the summary is written and the run cannot pass.
    let long = chaos_plan("none").replace("duration = \"4s\"", "duration = \"30s\"");
    let stopper = tokio::spawn(async {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        goose::trigger_killswitch("test: Ctrl-C");
    });
    let o = run_plan(write_plan("interrupted", &long), None, vec![])
        .await
        .expect("an interrupted run still ends in a verdict");
    stopper.await.expect("stopper");
    assert!(o.summary.canceled);
    assert_eq!(status(&o, "completed"), Status::Fail);
    assert_eq!(
        status(&o, "unsent"),
        Status::Fail,
        "the dropped slots are counted"
    );
    let counts = &o.summary.load.counts;
    assert!(
        counts.actions < 800 * 10,
        "stopped well before its 30 s: {counts:?}"
    );
    assert_eq!(
        counts.accepted + counts.rejected + counts.gave_up,
        counts.actions,
        "what started was seen through"
    );
    assert!(o.dir.join("summary.json").exists());
}

#[tokio::test]
async fn bad_plans_name_file_line_and_key() {
    let cases = [
        (
            "[run]\nduration = \"5s\"\nrate = 100\nbogus = 1\n",
            Some(4),
            "run.bogus",
        ),
        (
            "[run]\nduration = \"5s\"\nrate = 100\n\n[client]\nflaw = \"sloppy\"\n",
            Some(6),
            "client.flaw",
        ),
        (
            "[run]\nduration = \"5s\"\nrate = 100\nbatch = { min = 600, max = 700 }\n",
            Some(4),
            "run.batch",
        ),
        ("[run]\nduration = \"5s\"\nrate = -1\n", Some(3), "run.rate"),
        (
            "[run]\nduration = \"5s\"\nrate = 100\n[[faults]]\nkind = \"status\"\n",
            Some(4),
            "faults[0].status",
        ),
        (
            "[run]\nduration = \"5s\"\nrate = 100\n[target]\nurl = \"not a url\"\n",
            Some(5),
            "target.url",
        ),
        ("[run]\nrate = 100\n", Some(1), "run"),
    ];
    for (i, (text, line, key)) in cases.into_iter().enumerate() {
        let path = write_plan(&format!("bad{i}"), text);
        let err = run_plan(path.clone(), None, vec![]).await.expect_err(text);
        let e = err
            .downcast_ref::<gauntlet_mock::ConfigError>()
            .unwrap_or_else(|| panic!("{err:#}"));
        assert_eq!((e.line, e.key.as_str()), (line, key), "{e}");
        assert!(
            e.to_string().starts_with(&path.display().to_string()),
            "{e}"
        );
        assert_eq!(gauntlet::exit::code_of(&err), gauntlet::exit::USAGE);
    }
    let missing = run_plan(PathBuf::from("/nonexistent/plan.toml"), None, vec![])
        .await
        .expect_err("missing plan");
    assert!(
        format!("{missing:#}").contains("/nonexistent/plan.toml"),
        "{missing:#}"
    );
}

#[tokio::test]
async fn targets_are_checked_before_any_load() {
    let plan = write_plan("targets", &chaos_plan("none"));
    let err = run_plan(plan.clone(), Some("ftp://example".into()), vec![])
        .await
        .expect_err("bad url");
    assert!(format!("{err:#}").contains("--target"), "{err:#}");
    let err = run_plan(plan.clone(), Some("http://127.0.0.1:9".into()), vec![])
        .await
        .expect_err("no key");
    assert!(
        format!("{err:#}").contains("DUAL_API_KEY is not set"),
        "{err:#}"
    );
    let in_plan = write_plan(
        "plan-target",
        &chaos_plan("none").replace(
            "[client]",
            "[target]\nurl = \"https://api.example.com\"\n\n[client]",
        ),
    );
    let err = run_plan(in_plan, None, vec![("DUAL_API_KEY", KEY.into())])
        .await
        .expect_err("non-loopback in a plan");
    assert!(format!("{err:#}").contains("not on loopback"), "{err:#}");
    let twin_gone = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let env = vec![
        ("DUAL_API_KEY", KEY.to_string()),
        ("GAUNTLET_CONTROL_TOKEN", TOKEN.to_string()),
    ];
    let err = run_plan(plan, Some(format!("http://{twin_gone}")), env)
        .await
        .expect_err("twin unreachable");
    assert!(format!("{err:#}").contains("unreachable"), "{err:#}");
    assert_eq!(gauntlet::exit::code_of(&err), gauntlet::exit::USAGE);
}
