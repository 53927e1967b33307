//! Ctrl-C and SIGTERM during a run, against a twin started apart so the test
//! signals when the twin shows the run under way (never on a timer).

use std::path::PathBuf;

use gauntlet::cli::RunArgs;
use gauntlet::run::RunOutcome;
use gauntlet::verdict::Status;

use crate::run::{chaos_plan, status, write_plan};
use crate::util::{GOOSE, KEY, TOKEN, Twin, config};

/// Wait until `ready` holds for the twin's JSON at `path` (polled; bounded).
async fn until_twin(twin: &Twin, path: &str, ready: impl Fn(&serde_json::Value) -> bool) {
    for _ in 0..600 {
        if ready(&twin.control("GET", path).send().await.json()) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the twin never showed what the test waits for at {path}");
}

async fn run_interrupted(
    name: &str,
    plan: &str,
    twin: &Twin,
    interrupts: &gauntlet::signal::Interrupts,
) -> (anyhow::Result<RunOutcome>, PathBuf) {
    let path = write_plan(name, plan);
    let out_dir = path.with_extension("out");
    let args = RunArgs {
        plan: Some(path),
        out: Some(out_dir.clone()),
        target: Some(format!("http://{}", twin.addr)),
        ..RunArgs::default()
    };
    let env = |name: &str| match name {
        "DUAL_API_KEY" => Some(KEY.to_string()),
        "GAUNTLET_CONTROL_TOKEN" => Some(TOKEN.to_string()),
        _ => None,
    };
    let mut printed = Vec::new();
    let r = gauntlet::run::run_with(args, env, interrupts, &mut printed).await;
    eprintln!("{}", String::from_utf8_lossy(&printed));
    (r, out_dir)
}

/// Ctrl-C once the load is under way: no new batch starts, the ones in flight
/// finish, the summary is written and the run cannot pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_the_load_and_the_run_cannot_pass() {
    let _goose = GOOSE.lock().await;
    let twin = Twin::start(config()).await;
    let interrupts = std::sync::Arc::new(gauntlet::signal::Interrupts::default());
    let long = chaos_plan("none").replace("duration = \"4s\"", "duration = \"30s\"");
    let signaller = {
        let (i, t) = (interrupts.clone(), Twin::attach(&twin));
        tokio::spawn(async move {
            // Under way: the twin has applied some of the load.
            until_twin(&t, "/_gauntlet/oracle", |v| {
                v["oracle"]["runs"]
                    .as_object()
                    .and_then(|runs| runs.values().next())
                    .and_then(|r| r["applied"].as_u64())
                    .is_some_and(|n| n > 500)
            })
            .await;
            i.signal();
        })
    };
    let (o, _) = run_interrupted("interrupted", &long, &twin, &interrupts).await;
    signaller.await.expect("signaller");
    let o = o.expect("an interrupted run still ends in a verdict");
    assert!(o.summary.canceled);
    assert_eq!(status(&o, "completed"), Status::Fail);
    assert_eq!(
        status(&o, "unsent"),
        Status::Fail,
        "the dropped slots are counted"
    );
    let counts = &o.summary.load.counts;
    assert_eq!(
        counts.accepted + counts.rejected + counts.gave_up,
        counts.actions,
        "what started was seen through"
    );
    assert!(o.dir.join("summary.json").exists());
}

/// Twice, against a twin that hangs every batch for a minute: the drain would
/// take that long; the second signal ends it at once, the summary is written and
/// the run exits 130.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ctrl_c_cuts_the_drain_and_exits_130() {
    let _goose = GOOSE.lock().await;
    let twin = Twin::start(config()).await;
    let interrupts = std::sync::Arc::new(gauntlet::signal::Interrupts::default());
    let hung = "[run]\nduration = \"30s\"\nrate = 200\nbatch = { min = 5, max = 5 }\nwarmup = \"0s\"\n\
                [client]\ntimeout = \"90s\"\nmax_elapsed = \"120s\"\n\
                [webhooks]\nhandler = \"off\"\n\
                [[faults]]\nname = \"hung\"\nkind = \"hang\"\nhang_for = \"60s\"\nroute = \"POST /ebus/actions/batch\"\n";
    let signaller = {
        let (i, t) = (interrupts.clone(), Twin::attach(&twin));
        tokio::spawn(async move {
            until_twin(&t, "/_gauntlet/tape", |v| {
                v["by_kind"]["hang"].as_u64().is_some_and(|n| n > 5)
            })
            .await;
            i.signal();
            i.signal();
        })
    };
    let (o, out_dir) = run_interrupted("interrupted-twice", hung, &twin, &interrupts).await;
    signaller.await.expect("signaller");
    let err = o.expect_err("cut short");
    assert_eq!(
        gauntlet::exit::code_of(&err),
        gauntlet::exit::INTERRUPTED,
        "{err:#}"
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("summary.json")).expect("written"))
            .expect("json");
    assert_eq!(summary["canceled"], true);
    assert!(
        summary["load"]["cut_off"].as_u64().is_some_and(|n| n > 0),
        "{}",
        summary["load"]
    );
    let cut_off = summary["verdict"]["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "cut_off"))
        .map(|c| c["status"].clone());
    assert_eq!(
        cut_off,
        Some(serde_json::Value::from("fail")),
        "the cut_off check fails"
    );
}
