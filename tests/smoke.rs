//! `gauntlet smoke` against the twin acting as production: the known offer walked
//! end to end (and no secret in any output), then each broken step failing with a
//! clear message: paused Exchanges, a subgraph that never catches up, a value cap,
//! and configuration errors before any request.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gauntlet::cli::SmokeArgs;
use gauntlet_mock::boson::config::DIAMOND;
use serde_json::{Value, json};

use crate::util::{self, Twin};

const BLOCK: Duration = Duration::from_millis(200);

fn plan(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("smoke.toml");
    let text = format!(
        "[smoke]\nconfirmations = 2\nstep_deadline = \"10s\"\nrate = 5\nmax_value_eth = 1\nsubgraph_stale_blocks = 20\n{extra}\n\
         [environments.production.boson]\nchain_id = 31337\ndiamond = \"{DIAMOND:#x}\"\n\
         [environments.sandbox.boson]\nchain_id = 80002\ndiamond = \"{DIAMOND:#x}\"\n"
    );
    std::fs::write(&path, text).expect("plan");
    path
}

/// A production-looking Dual key (a sandbox-looking one is refused with
/// `--env production`).
const LIVE_KEY: &str = "sk_live_smoke_0123456789abcdef";
const WEBHOOK_SECRET: &str = "whsec_smoke_0123456789abcdef";

async fn twin(rules: Vec<gauntlet_mock::RuleSpec>) -> Twin {
    let mut c = gauntlet_mock::TwinConfig::sandbox(LIVE_KEY, util::TOKEN);
    c.boson.block_time = BLOCK;
    c.faults = gauntlet_mock::engine::faults::spec::validate_all(&rules, "faults").expect("rules");
    Twin::start(c).await
}

/// The variables pointing at `twin`, with its seeded buyer and seller keys.
fn vars(twin: &Twin) -> Vec<(String, String)> {
    let boson = &twin.handle.as_ref().expect("owned").twin().boson;
    let hex = |k: &alloy::signers::local::PrivateKeySigner| format!("{:#x}", k.to_bytes());
    let base = format!("http://{}", twin.addr);
    vec![
        ("DUAL_BASE_URL".into(), base.clone()),
        ("DUAL_API_KEY".into(), LIVE_KEY.into()),
        ("GAUNTLET_WEBHOOK_SECRET".into(), WEBHOOK_SECRET.into()),
        ("BOSON_RPC_URL".into(), format!("{base}/rpc")),
        ("BOSON_RELAYER_URL".into(), format!("{base}/relayer")),
        (
            "BOSON_RELAYER_API_KEY".into(),
            "relayer_key_0123456789".into(),
        ),
        (
            "BOSON_SUBGRAPH_URL".into(),
            format!("{base}{}", gauntlet_mock::boson::subgraph::PATH),
        ),
        ("GAUNTLET_SMOKE_OFFER_ID".into(), "1".into()),
        (
            "GAUNTLET_BOSON_BUYER_KEY".into(),
            hex(&boson.accounts.buyers[0].signer),
        ),
        (
            "GAUNTLET_BOSON_SELLER_KEY".into(),
            hex(&boson.accounts.seller.signer),
        ),
    ]
}

/// Run the smoke: its exit code (2 for a configuration error) and its output.
async fn smoke(
    plan: &Path,
    env: &str,
    vars: Vec<(String, String)>,
    out_dir: &Path,
    env_file: Option<PathBuf>,
) -> (u8, String) {
    let args = SmokeArgs {
        plan: Some(plan.to_path_buf()),
        env: env.into(),
        env_file,
        out: Some(out_dir.to_path_buf()),
    };
    let lookup = move |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut out = Vec::new();
    let r = gauntlet::smoke::run(args, lookup, &mut out).await;
    let mut text = String::from_utf8_lossy(&out).into_owned();
    let code = match r {
        Ok(code) => code,
        Err(e) => {
            text.push_str(&format!("error: {e:#}"));
            gauntlet::exit::code_of(&e)
        }
    };
    (code, text)
}

fn summary(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json");
    serde_json::from_str(&text).expect("json")
}

#[tokio::test]
async fn the_walk_passes_against_the_twin_as_production_and_prints_no_secret() {
    let twin = twin(vec![]).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let plan = plan(tmp.path(), "");
    let out = tmp.path().join("run");
    let vars = vars(&twin);
    let (code, text) = smoke(&plan, "production", vars.clone(), &out, None).await;
    assert_eq!(code, 0, "{text}");
    let s = summary(&out);
    assert_eq!(s["pass"], true, "{s}");
    let names: Vec<&str> = s["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    for want in [
        "dual: health",
        "dual: read the objects back",
        "dual: webhook test delivery",
        "dual: the batch's checkpoint",
        "commit",
        "redeem",
        "complete",
        "raise a dispute",
        "retract",
        "withdraws what the walks released",
    ] {
        assert!(
            names.iter().any(|n| n.contains(want)),
            "{want} in {names:?}"
        );
    }
    // Each transaction step names its exchange.
    assert!(
        text.contains("exchange 1,") && text.contains("exchange 2,"),
        "{text}"
    );
    // The twin saw what the smoke says it did.
    let oracle = twin.control("GET", "/_gauntlet/oracle").send().await.ok()["boson"].clone();
    assert_eq!(oracle["transitions"]["Completed"], 1, "{oracle}");
    assert_eq!(oracle["transitions"]["Retracted"], 1, "{oracle}");
    assert_eq!(oracle["funds"]["conserved"], true);
    assert!(
        text.contains("boson: wallet balances") && !text.contains("WARNING"),
        "funded wallets: no warning: {text}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert!(html.contains("<h1>PASS</h1>"), "{html}");
    let junit = std::fs::read_to_string(out.join("junit.xml")).expect("junit");
    assert_eq!(junit.matches("<testcase").count(), names.len(), "{junit}");
    assert!(text.contains("signature verified"), "{text}");
    // Calls without value went through the relayer.
    assert_eq!(text.matches("via the relayer").count(), 6, "{text}");
    // Each step's requests carried its traceparent: the twin followed them across
    // JSON-RPC, the relayer and the subgraph.
    let step = |name: &str| {
        s["steps"]
            .as_array()
            .and_then(|v| v.iter().find(|st| st["name"] == name).cloned())
            .unwrap_or_else(|| panic!("{name} in {s}"))
    };
    let redeem = step("boson: complete walk: redeem");
    let id = redeem["trace_id"].as_str().expect("trace id");
    let traced = twin
        .control("GET", &format!("/_gauntlet/traces?trace_id={id}"))
        .send()
        .await
        .ok();
    let routes: Vec<&str> = traced["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .filter_map(|r| r["route"].as_str())
        .collect();
    for want in ["/rpc", gauntlet_mock::boson::subgraph::PATH] {
        assert!(routes.contains(&want), "{want} in {routes:?}");
    }
    assert!(
        routes.iter().any(|r| r.contains("meta-tx")),
        "the relayer in {routes:?}"
    );
    let health = step("dual: health");
    assert_ne!(health["trace_id"], redeem["trace_id"], "a trace per step");
    let relayed = &oracle["relayer"];
    assert_eq!(relayed["submitted"], 6, "{oracle}");
    assert_eq!(relayed["mined"], 6, "{oracle}");
    // No secret in any file or line the run wrote.
    let secret = |n: &str| n.ends_with("_KEY") || n.ends_with("_SECRET");
    for (name, value) in vars.iter().filter(|(n, _)| secret(n)) {
        let bare = value.trim_start_matches("0x");
        assert!(!text.contains(bare), "{name} printed");
        for f in std::fs::read_dir(&out).expect("run folder") {
            let body = std::fs::read_to_string(f.expect("entry").path()).expect("read");
            assert!(!body.contains(bare), "{name} written");
        }
    }
}

#[tokio::test]
async fn paused_exchanges_fail_the_walk_before_any_transaction() {
    let twin = twin(vec![]).await;
    let r = twin
        .control("POST", "/_gauntlet/boson/pause")
        .json(&json!({"regions": ["Exchanges"]}))
        .send()
        .await;
    assert_eq!(r.status(), 200);
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("run");
    let (code, text) = smoke(&plan(tmp.path(), ""), "production", vars(&twin), &out, None).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("FAIL at `boson: paused regions`: paused: Exchanges"),
        "{text}"
    );
    assert_eq!(summary(&out)["failed"], "boson: paused regions");
}

#[tokio::test]
async fn a_subgraph_that_never_catches_up_fails_the_first_transaction_step() {
    let mut lag = util::rule("indexer_lag");
    lag.dist = Some("fixed".into());
    lag.delay = Some(Duration::from_secs(300));
    let twin = twin(vec![lag]).await;
    let tmp = tempfile::tempdir().expect("tmp");
    // The head check must not be what fails (the index stays at block 0 while
    // blocks come every 200 ms), and the Dual walk is left out.
    let plan = plan(tmp.path(), "");
    let text = std::fs::read_to_string(&plan)
        .expect("plan")
        .replace("step_deadline = \"10s\"", "step_deadline = \"2s\"")
        .replace(
            "subgraph_stale_blocks = 20",
            "subgraph_stale_blocks = 100000",
        );
    std::fs::write(&plan, text).expect("plan");
    let out = tmp.path().join("run");
    let boson_only: Vec<_> = vars(&twin)
        .into_iter()
        .filter(|(n, _)| !n.starts_with("DUAL_") && !n.starts_with("GAUNTLET_WEBHOOK"))
        .collect();
    let (code, text) = smoke(&plan, "production", boson_only, &out, None).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(
            "FAIL at `boson: complete walk: commit to offer 1`: the subgraph indexed block 0"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn a_step_past_the_value_cap_refuses() {
    let twin = twin(vec![]).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let plan = plan(tmp.path(), "");
    let text = std::fs::read_to_string(&plan)
        .expect("plan")
        .replace("max_value_eth = 1", "max_value_eth = 0.015");
    std::fs::write(&plan, text).expect("plan");
    let out = tmp.path().join("run");
    let (code, text) = smoke(&plan, "production", vars(&twin), &out, None).await;
    assert_eq!(code, 1, "{text}");
    // The first commit (0.01 ETH) fits; the second would pass the cap.
    assert!(
        text.contains("FAIL at `boson: dispute walk: commit to offer 1`: committing pays"),
        "{text}"
    );
}

#[tokio::test]
async fn configuration_errors_exit_2_before_any_request() {
    let tmp = tempfile::tempdir().expect("tmp");
    let plan = plan(tmp.path(), "");
    let out = tmp.path().join("run");
    // Nothing set: which base URL starts which walk.
    let (code, text) = smoke(&plan, "production", vec![], &out, None).await;
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("DUAL_BASE_URL") && text.contains("BOSON_RPC_URL"),
        "{text}"
    );
    // A walk's base URL alone: every other variable it needs named at once.
    let rpc = vec![(
        "BOSON_RPC_URL".to_string(),
        "http://127.0.0.1:9/rpc".to_string(),
    )];
    let (code, text) = smoke(&plan, "production", rpc, &out, None).await;
    assert_eq!(code, 2, "{text}");
    for v in [
        "BOSON_SUBGRAPH_URL",
        "GAUNTLET_SMOKE_OFFER_ID",
        "GAUNTLET_BOSON_BUYER_KEY",
        "GAUNTLET_BOSON_SELLER_KEY",
    ] {
        assert!(text.contains(v), "{v} in {text}");
    }
    // A production URL with sandbox settings, from an env file.
    let file = tmp.path().join(".env.sandbox");
    std::fs::write(
        &file,
        "BOSON_RPC_URL=https://polygon-rpc.com\nBOSON_SUBGRAPH_URL=https://api.thegraph.com/x\nGAUNTLET_SMOKE_OFFER_ID=1\n",
    )
    .expect("env file");
    let keys = vec![
        (
            "GAUNTLET_BOSON_BUYER_KEY".to_string(),
            format!("0x{}", "11".repeat(32)),
        ),
        (
            "GAUNTLET_BOSON_SELLER_KEY".to_string(),
            format!("0x{}", "22".repeat(32)),
        ),
    ];
    let (code, text) = smoke(&plan, "sandbox", keys.clone(), &out, Some(file.clone())).await;
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("looks like a production URL, with --env sandbox"),
        "{text}"
    );
    // A key in the env file is refused: secrets come from the environment only.
    std::fs::write(
        &file,
        format!("GAUNTLET_BOSON_BUYER_KEY=0x{}\n", "11".repeat(32)),
    )
    .expect("env file");
    let (code, text) = smoke(&plan, "sandbox", keys, &out, Some(file)).await;
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("secrets come from the environment only"),
        "{text}"
    );
    assert!(
        !text.contains(&"11".repeat(32)),
        "the key is not echoed: {text}"
    );
    // A sandbox-looking key with --env production.
    let dual = vec![
        (
            "DUAL_BASE_URL".to_string(),
            "http://127.0.0.1:9".to_string(),
        ),
        (
            "DUAL_API_KEY".to_string(),
            "sk_sandbox_0123456789abcdef".to_string(),
        ),
        (
            "GAUNTLET_WEBHOOK_SECRET".to_string(),
            WEBHOOK_SECRET.to_string(),
        ),
    ];
    let (code, text) = smoke(&plan, "production", dual, &out, None).await;
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("never reuse sandbox keys in production"),
        "{text}"
    );
    assert!(
        !text.contains("0123456789abcdef"),
        "the key is not echoed: {text}"
    );
    // A deployment off this machine cannot reach the loopback receiver.
    let remote = vec![
        (
            "DUAL_BASE_URL".to_string(),
            "https://sandbox.dual.example".to_string(),
        ),
        ("DUAL_API_KEY".to_string(), LIVE_KEY.to_string()),
        (
            "GAUNTLET_WEBHOOK_SECRET".to_string(),
            WEBHOOK_SECRET.to_string(),
        ),
    ];
    let (code, text) = smoke(&plan, "sandbox", remote, &out, None).await;
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("not set: GAUNTLET_SMOKE_WEBHOOK_URL"),
        "{text}"
    );
    // An environment the plan does not name.
    let (code, text) = smoke(&plan, "staging", vec![], &out, None).await;
    assert_eq!(code, 2, "{text}");
    assert!(!out.join("summary.json").exists(), "nothing ran");
}

#[tokio::test]
async fn a_dual_outage_fails_the_dual_walk_and_the_boson_walk_still_runs() {
    let mut down = util::rule("status");
    down.route = Some("GET /health".into());
    down.status = Some(503);
    let twin = twin(vec![down]).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("run");
    let (code, text) = smoke(&plan(tmp.path(), ""), "production", vars(&twin), &out, None).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("FAIL at `dual: health`: GET /health: HTTP 503"),
        "{text}"
    );
    let s = summary(&out);
    let steps = s["steps"].as_array().expect("steps");
    assert!(
        steps
            .iter()
            .any(|st| st["name"] == "boson: paused regions" && st["outcome"] == "pass"),
        "each platform's walk runs: {s}"
    );
}

fn relayer(mode: &str) -> gauntlet_mock::RuleSpec {
    let mut r = util::rule("relayer");
    r.mode = Some(mode.into());
    r
}

#[tokio::test]
async fn a_relayer_outage_falls_back_to_json_rpc_or_fails_without_fallback() {
    for fallback in [true, false] {
        let twin = twin(vec![relayer("unavailable")]).await;
        let tmp = tempfile::tempdir().expect("tmp");
        let extra = format!("relayer_fallback = {fallback}");
        let out = tmp.path().join("run");
        let (code, text) = smoke(
            &plan(tmp.path(), &extra),
            "production",
            vars(&twin),
            &out,
            None,
        )
        .await;
        if fallback {
            assert_eq!(code, 0, "{text}");
            assert!(text.contains("directly (relayer not ready"), "{text}");
            let oracle =
                twin.control("GET", "/_gauntlet/oracle").send().await.ok()["boson"].clone();
            // Nothing went through the relayer; everything was applied once.
            assert_eq!(oracle["relayer"]["submitted"], 0, "{oracle}");
            assert_eq!(oracle["transitions"]["Redeemed"], 2, "{oracle}");
        } else {
            assert_eq!(code, 1, "{text}");
            assert!(
                text.contains(
                    "FAIL at `boson: complete walk: redeem`: exchange 1: relayer not ready"
                ) && text.contains("smoke.relayer_fallback is off"),
                "{text}"
            );
        }
    }
}

#[tokio::test]
async fn a_relayer_that_accepts_and_never_mines_fails_without_a_second_submission() {
    let twin = twin(vec![relayer("never_mines")]).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let plan = plan(tmp.path(), "");
    let text = std::fs::read_to_string(&plan)
        .expect("plan")
        .replace("step_deadline = \"10s\"", "step_deadline = \"3s\"");
    std::fs::write(&plan, text).expect("plan");
    let out = tmp.path().join("run");
    let (code, text) = smoke(&plan, "production", vars(&twin), &out, None).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("FAIL at `boson: complete walk: redeem`")
            && text.contains("not sent again directly"),
        "{text}"
    );
    let oracle = twin.control("GET", "/_gauntlet/oracle").send().await.ok()["boson"].clone();
    assert_eq!(
        oracle["transitions"]["Redeemed"],
        serde_json::Value::Null,
        "never redeemed: {oracle}"
    );
}

#[tokio::test]
async fn a_wallet_below_the_drain_alerts_is_warned_about_not_failed() {
    let twin = twin(vec![]).await;
    let tmp = tempfile::tempdir().expect("tmp");
    // The twin's wallets hold 10,000 ETH: against a 60,000 ETH daily burn that is
    // below the 0.2x alert (12,000), above the 0.1x one (6,000).
    let plan = plan(tmp.path(), "daily_burn_eth = 60000");
    let out = tmp.path().join("run");
    let (code, text) = smoke(&plan, "production", vars(&twin), &out, None).await;
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("WARNING buyer") && text.contains("below 0.2x the daily burn"),
        "{text}"
    );
}
