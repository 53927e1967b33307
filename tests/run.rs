//! `gauntlet run` on short plans: the correct client passes under every fault kind,
//! each flawed client fails the check it breaks; remote twins, bad plans, bad targets.

use std::path::PathBuf;

use gauntlet::cli::RunArgs;
use gauntlet::run::RunOutcome;
use gauntlet::verdict::Status;

use crate::util::{GOOSE, KEY, TOKEN, Twin, config};

pub(crate) fn write_plan(name: &str, text: &str) -> PathBuf {
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
pub(crate) fn chaos_plan(flaw: &str) -> String {
    let mut plan = format!(
        r#"
[run]
duration = "4s"
seed = 11
rate = 800
batch = {{ min = 10, max = 30 }}
warmup = "1s"
snapshot = "1s"

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
min_retry_spread = "100ms"
# harness_lag has its own test; a busy test machine must not fail these on timing.
max_harness_lag = "10s"

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
# Everyone told the same thing at once: a group the twin judges the spread of.
[[faults]]
route = "POST /ebus/actions/batch"
kind = "status"
status = 503
retry_after = 1
at = "2s"
for = "600ms"
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

pub(crate) async fn run_plan(
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

pub(crate) async fn run_args(
    args: RunArgs,
    env: Vec<(&'static str, String)>,
) -> anyhow::Result<RunOutcome> {
    let lookup = move |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone());
    let mut printed = Vec::new();
    let result = gauntlet::run::run(args, lookup, &mut printed).await;
    eprintln!("{}", String::from_utf8_lossy(&printed));
    result
}

pub(crate) fn status(o: &RunOutcome, check: &str) -> Status {
    o.verdict
        .checks
        .iter()
        .find(|c| c.name == check)
        .map(|c| c.status)
        .unwrap_or_else(|| panic!("no check {check}"))
}

pub(crate) async fn run_ok(name: &str, plan: &str) -> RunOutcome {
    run_plan(write_plan(name, plan), None, vec![])
        .await
        .expect("run")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_correct_client_passes_under_every_fault_kind() {
    let _goose = GOOSE.lock().await;
    let o = run_ok("correct", &chaos_plan("none")).await;
    assert!(o.verdict.pass, "{:#?}", o.verdict);
    let twin = o.summary.twin.as_ref().expect("embedded twin");
    let counts = &o.summary.load.counts;
    assert!(counts.actions > 1000, "load was offered: {counts:?}");
    let load = twin.load.as_ref().expect("the load's account");
    assert_eq!((load.lost, load.duplicated, load.cut_off), (0, 0, 0));
    assert_eq!(load.sent, counts.actions);
    assert_eq!(
        load.applied + load.rejected,
        counts.actions,
        "the twin applied (or refused) every action the load sent, by identity"
    );
    assert_eq!(
        counts.accepted + counts.rejected,
        counts.actions,
        "every action accounted for"
    );
    // Latency per action: one sample for every action; per request: one per batch.
    assert_eq!(o.summary.latency_ms.count, counts.actions);
    assert_eq!(o.summary.request_latency_ms.count, counts.batches);
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
    assert_eq!(summary["schema_version"], 2);
    // Goose's own report lists the requests the dispatchers' batches sent.
    let goose: serde_json::Value = serde_json::from_slice(
        &std::fs::read(o.dir.join("goose/report.json")).expect("goose report"),
    )
    .expect("goose json");
    assert!(
        goose.to_string().contains("/ebus/actions/batch"),
        "goose saw the batch requests"
    );
    crate::report::check_run_folder(&o.dir, &o.summary);
    crate::browser::check_in_browser(&o.dir, true);
}

/// Against a baseline whose p99 was a thousand times lower, the run fails on that
/// regression. Nothing is asserted about figures the baseline did not touch: two
/// runs on a busy machine need not agree on them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doctored_baseline_fails_on_the_doctored_figure() {
    let _goose = GOOSE.lock().await;
    let o = run_ok("for-baseline", &chaos_plan("none")).await;
    let mut doctored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(o.dir.join("summary.json")).expect("read"))
            .expect("json");
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
    assert_eq!(status(&b, "baseline"), Status::Fail, "{:#?}", b.verdict);
    let cmp = b.summary.baseline.as_ref().expect("compared");
    assert!(
        cmp.regressed.iter().any(|m| m == "latency_p99_ms"),
        "{cmp:#?}"
    );
    crate::report::check_run_folder(&b.dir, &b.summary);
}

/// Each flawed client fails the check it breaks. Every row runs, and the test
/// names every row that did not fail as it should.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_flawed_client_fails_the_check_it_breaks() {
    let _goose = GOOSE.lock().await;
    let mut wrong = Vec::new();
    for (flaw, check) in [
        ("no_idempotency_key", "duplicated"),
        ("retries_whole_batch", "duplicated"),
        ("no_backoff", "early_retries"),
        ("ignores_retry_after", "early_retries"),
        // Uniformly late: its median lateness passes retry_jitter_p50_ms (checked
        // below), its spread does not.
        ("no_jitter", "retry_spread_ms"),
        ("drops_partial_failures", "lost"),
    ] {
        let o = run_ok(flaw, &chaos_plan(flaw)).await;
        if status(&o, check) != Status::Fail || o.verdict.pass {
            wrong.push(format!("{flaw} did not fail {check}: {:#?}", o.verdict));
        }
        if flaw == "no_jitter" && status(&o, "retry_jitter_p50_ms") != Status::Pass {
            wrong.push(format!(
                "no_jitter is late enough to pass the median check: {:#?}",
                o.verdict
            ));
        }
        if flaw == "no_idempotency_key" {
            crate::report::check_run_folder(&o.dir, &o.summary);
            crate::browser::check_in_browser(&o.dir, false);
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// With `[client] eip712 = true` the embedded twin requires EIP-712 signatures on
/// every mutation: the correct client (and the setup, and the handler's effects)
/// signs and passes under every fault kind; `bad_eip712` signs another body, the
/// twin refuses each batch with 401, and the run fails `rejected`, the twin having
/// counted every action of the load rejected, none lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_mutations_pass_and_a_bad_signature_fails_rejected() {
    let _goose = GOOSE.lock().await;
    let signing = |flaw: &str| chaos_plan(flaw).replace("[client]", "[client]\neip712 = true");
    let o = run_ok("eip712", &signing("none")).await;
    assert!(o.verdict.pass, "{:#?}", o.verdict);
    let twin = o.summary.twin.as_ref().expect("embedded twin");
    let fx = &twin.oracle.effects;
    assert!(
        fx.expected > 0 && fx.exactly_once == fx.expected,
        "the handler's effects were signed and applied: {fx:?}"
    );

    let short = signing("bad_eip712").replace("duration = \"4s\"", "duration = \"2s\"");
    let o = run_ok("bad-eip712", &short).await;
    assert_eq!(status(&o, "rejected"), Status::Fail, "{:#?}", o.verdict);
    assert_eq!(status(&o, "lost"), Status::Pass, "{:#?}", o.verdict);
    assert!(!o.verdict.pass);
    let counts = &o.summary.load.counts;
    let twin = o.summary.twin.as_ref().expect("embedded twin");
    let load = twin.load.as_ref().expect("the load's account");
    let on_twin = &twin.oracle.runs[&load.run_id];
    assert!(counts.actions > 0, "{counts:?}");
    assert_eq!(
        (on_twin.rejected, on_twin.applied, on_twin.lost),
        (counts.actions, 0, 0),
        "the twin counted every action of the load rejected"
    );
    assert_eq!(counts.rejected, counts.actions);
}

/// A handler that does not dedupe fails on its effects; the load stays clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_naive_handler_fails_on_its_effects_alone() {
    let _goose = GOOSE.lock().await;
    let naive = chaos_plan("none").replace(
        "transfer_share = 0.1",
        "transfer_share = 0.1\nflaw = \"duplicate\"",
    );
    let o = run_ok("naive-handler", &naive).await;
    assert_eq!(
        status(&o, "effects_duplicated"),
        Status::Fail,
        "{:#?}",
        o.verdict
    );
    for check in [
        "lost",
        "duplicated",
        "early_retries",
        "gave_up",
        "forgeries_accepted",
    ] {
        assert_eq!(status(&o, check), Status::Pass, "{check}: {:#?}", o.verdict);
    }
}

/// A strict plan against a twin limited below the offer, with no retries: each of
/// these checks fails on its own figure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strict_plan_fails_each_check_on_its_own_figure() {
    let _goose = GOOSE.lock().await;
    let strict = r#"
[run]
duration = "4s"
seed = 3
rate = 800
batch = { min = 10, max = 30 }
warmup = "1s"
snapshot = "1s"
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
max_p99_accept = "1ms"
min_rate_ratio = 0.99
"#;
    let o = run_ok("strict", strict).await;
    for check in [
        "lost",
        "gave_up",
        "latency_p99_ms",
        "accept_p99_ms",
        "rate_ratio",
    ] {
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
}

/// A harness with no room to keep batches in flight against a slow twin cannot
/// send on time: `harness_lag` fails and says the harness was the bottleneck. The
/// same plan with room passes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_lag_fails_when_the_harness_is_the_bottleneck() {
    let _goose = GOOSE.lock().await;
    let plan = |room: usize| {
        format!(
            "[run]\nduration = \"2s\"\nrate = 400\nbatch = {{ min = 4, max = 4 }}\nwarmup = \"0s\"\nmax_in_flight = {room}\n\
             [webhooks]\nhandler = \"off\"\n\
             [[faults]]\nkind = \"latency\"\ndist = \"fixed\"\ndelay = \"50ms\"\n"
        )
    };
    let starved = run_ok("starved", &plan(1)).await;
    assert_eq!(
        status(&starved, "harness_lag"),
        Status::Fail,
        "{:#?}",
        starved.verdict
    );
}

/// A twin started apart (as `gauntlet mock`): faults installed, oracle read back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_twin_gets_the_faults_and_is_read_back() {
    let _goose = GOOSE.lock().await;
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
        Some(17),
        "the plan's faults went to the twin"
    );
    let oracle = twin.oracle().await;
    let applied = oracle["actions"]["exactly_once"].as_u64().expect("count");
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
    let load = o
        .summary
        .twin
        .as_ref()
        .and_then(|t| t.load.as_ref())
        .expect("load");
    assert_eq!(
        oracle["runs"][&load.run_id]["applied"].as_u64(),
        Some(load.applied),
        "the load's own actions, as the twin counted them"
    );
}

/// Nothing answers there (the port stays bound so no other test can take it):
/// the run still ends, writes its summary, and fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_target_still_ends_in_a_verdict() {
    let _goose = GOOSE.lock().await;
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
}

/// A wrong API key: the transfer pool cannot be created (a clear error, exit 2);
/// without webhooks every action is refused with a final 401, and the run fails
/// `rejected` rather than passing with nothing applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_is_an_error_or_fails_rejected() {
    let _goose = GOOSE.lock().await;
    let twin = Twin::start(config()).await;
    let env = || {
        vec![
            ("DUAL_API_KEY", "sk_wrong_key_00000000".to_string()),
            ("GAUNTLET_CONTROL_TOKEN", TOKEN.to_string()),
        ]
    };
    let short = chaos_plan("none").replace("duration = \"4s\"", "duration = \"1s\"");
    let o = run_plan(
        write_plan("wrong-key", &short),
        Some(format!("http://{}", twin.addr)),
        env(),
    )
    .await;
    let err = o.expect_err("a wrong key stops the run before load");
    assert!(
        format!("{err:#}").contains("transfer pool") || format!("{err:#}").contains("webhook"),
        "{err:#}"
    );
    let no_hooks = short.replace("[webhooks]", "[webhooks]\nhandler = \"off\"");
    let o = run_plan(
        write_plan("wrong-key-load", &no_hooks),
        Some(format!("http://{}", twin.addr)),
        env(),
    )
    .await
    .expect("run");
    assert_eq!(status(&o, "rejected"), Status::Fail, "{:#?}", o.verdict);
    // Refused as whole requests (401s never reach the twin's per-action ledger):
    // refused for good, not lost.
    assert_eq!(status(&o, "lost"), Status::Pass, "{:#?}", o.verdict);
    assert!(!o.verdict.pass);
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
            "[run]\nduration = \"5s\"\nrate = 100\n\n[client]\nflaw = \"bad_eip712\"\n",
            Some(6),
            "client.flaw",
        ),
        (
            "[run]\nduration = \"5s\"\nrate = 100\n[client]\neip712 = \"yes\"\n",
            Some(5),
            "client.eip712",
        ),
        (
            "[run]\nduration = \"5s\"\nrate = 100\nbatch = { min = 600, max = 700 }\n",
            Some(4),
            "run.batch",
        ),
        ("[run]\nduration = \"5s\"\nrate = -1\n", Some(3), "run.rate"),
        (
            "[run]\nduration = \"3s\"\nrate = 1e12\n",
            Some(3),
            "run.rate",
        ),
        (
            "[run]\nduration = \"0s\"\nrate = 100\n",
            Some(2),
            "run.duration",
        ),
        (
            "[run]\nduration = \"100y\"\nrate = 100\n",
            Some(2),
            "run.duration",
        ),
        (
            "[run]\nduration = \"5s\"\nrate = 100\nmax_in_flight = 0\n",
            Some(4),
            "run.max_in_flight",
        ),
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
        (
            // Retries past the twin's ledger horizon would count as new actions.
            "[run]\nduration = \"5s\"\nrate = 100\n[client]\nmax_elapsed = \"10m\"\n",
            Some(5),
            "client.max_elapsed",
        ),
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
async fn command_line_overrides_are_checked_like_the_plan() {
    let plan = write_plan("overrides", &chaos_plan("none"));
    for (args, what) in [
        (
            RunArgs {
                duration: Some(std::time::Duration::from_secs(u64::MAX / 4)),
                ..RunArgs::default()
            },
            "--duration",
        ),
        (
            RunArgs {
                rate: Some(1e12),
                ..RunArgs::default()
            },
            "--rate",
        ),
    ] {
        let args = RunArgs {
            plan: Some(plan.clone()),
            ..args
        };
        let err = run_args(args, vec![]).await.expect_err(what);
        assert!(format!("{err:#}").contains(what), "{err:#}");
        assert_eq!(gauntlet::exit::code_of(&err), gauntlet::exit::USAGE);
    }
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
