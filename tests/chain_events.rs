//! Boson's chain events as webhooks: what a delivery carries (and `removed: true`
//! after a reorg), and the effect contract graded by the twin's ledger: the
//! reference handler passes over 20 seeds with reorgs on, and each flawed handler
//! fails exactly its check.

use std::time::{Duration, Instant};

use alloy::primitives::{Bytes, U256};
use alloy::sol_types::SolCall;
use gauntlet::handler::chain::{ChainFlaw, ChainHandlerConfig, start};
use gauntlet_mock::boson::abi::IBosonProtocol as P;
use gauntlet_mock::boson::config::DIAMOND;
use gauntlet_mock::{SecretString, TwinConfig};
use serde_json::{Value, json};

use crate::util::{self, Receiver, TOKEN, Twin};

const SECRET: &str = "whsec_chain_events_0123";
const BLOCK: Duration = Duration::from_millis(200);
/// How long the ledger may take to settle once the load stops (a bound).
const SETTLE: Duration = Duration::from_secs(30);

fn config(seed: u64, removal_delay: Duration, confirmations: u64) -> TwinConfig {
    let mut c = util::config();
    c.seed = seed;
    c.boson.block_time = BLOCK;
    c.boson.confirmations = confirmations;
    c.boson.removal_notice_delay = removal_delay;
    c
}

async fn register(twin: &Twin, url: &str) {
    let events = gauntlet_mock::boson::events::EVENT_TYPES;
    let r = twin
        .control("POST", "/_gauntlet/boson/webhooks")
        .json(&json!({"url": url, "events": events, "secret": SECRET}))
        .send()
        .await;
    assert_eq!(r.status(), 201, "{r:?}");
}

/// Buyer `i`'s commit to the known offer with `nonce`.
fn commit(twin: &Twin, i: usize, nonce: u64) -> Bytes {
    let boson = &twin.handle.as_ref().expect("owned").twin().boson;
    let key = &boson.accounts.buyers[i].signer;
    let input = P::commitToOfferCall {
        _buyer: key.address(),
        _offerId: U256::from(boson.config.known_offer),
    }
    .abi_encode();
    gauntlet_mock::boson::chain::sign::eip1559_value(
        key,
        &boson.chain().config,
        nonce,
        DIAMOND,
        input,
        boson.config.offer_price,
    )
}

async fn send(twin: &Twin, raw: Bytes) {
    let body =
        json!({"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [raw]});
    let r = twin.req("POST", "/rpc").json(&body).send().await.json();
    assert!(r.get("result").is_some(), "{r}");
}

async fn install(twin: &Twin, rules: Value) {
    let r = twin
        .control("PUT", "/_gauntlet/rules")
        .json(&json!({ "rules": rules }))
        .send()
        .await;
    assert_eq!(r.status(), 200, "{r:?}");
}

/// The Boson section of the oracle.
async fn boson(twin: &Twin) -> Value {
    twin.control("GET", "/_gauntlet/oracle").send().await.ok()["boson"].clone()
}

async fn effects(twin: &Twin) -> Value {
    boson(twin).await["webhooks"]["effects"].clone()
}

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"))
}

/// Wait (bounded) until `done` holds for the ledger; the ledger then.
async fn settle(twin: &Twin, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let e = effects(twin).await;
        if done(&e) || started.elapsed() > SETTLE {
            return e;
        }
        tokio::time::sleep(BLOCK).await;
    }
}

/// Every due event acted on once, nothing pending.
fn quiet(e: &Value) -> bool {
    quiet_but(e, "")
}

/// Quiet, leaving aside the check `but` (a flaw's own).
fn quiet_but(e: &Value, but: &str) -> bool {
    ["pending", "lost", "orphan", "undelivered"]
        .iter()
        .all(|k| *k == but || n(e, k) == 0)
}

async fn reorgs(twin: &Twin) -> u64 {
    boson(twin).await["reorg"]["reorgs"].as_u64().unwrap_or(0)
}

/// A twin with a handler of `flaw` registered on it.
async fn rig(
    seed: u64,
    removal_delay: Duration,
    confirmations: u64,
    flaw: ChainFlaw,
) -> (Twin, gauntlet::handler::chain::ChainHandle) {
    let twin = Twin::start(config(seed, removal_delay, confirmations)).await;
    let base = format!("http://{}", twin.addr);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let handler = start(
        ChainHandlerConfig {
            secret: SecretString::new(SECRET),
            twin: base.clone(),
            token: SecretString::new(TOKEN),
            rpc: format!("{base}/rpc"),
            confirmations,
            flaw,
        },
        listener,
    )
    .await
    .expect("handler");
    register(&twin, &handler.url()).await;
    (twin, handler)
}

#[tokio::test]
async fn a_delivery_carries_the_log_and_a_reorg_sends_it_again_removed() {
    let twin = Twin::start(config(1, Duration::ZERO, 3)).await;
    let rx = Receiver::start(200).await;
    *rx.verify.lock().expect("lock") = Some(SECRET.into());
    register(&twin, &rx.url).await;
    send(&twin, commit(&twin, 0, 0)).await;
    let first = rx.wait_for(1).await;
    let body = first[0].json();
    assert_eq!(body["event_type"], "BuyerCommitted");
    let p = &body["payload"];
    assert_eq!(p["removed"], false);
    assert_eq!(p["effect_of"], "exchange:1:Committed");
    assert_eq!(p["exchangeId"], "1");
    assert_eq!(p["args"]["offerId"], "1", "{p}");
    for k in ["txHash", "logIndex", "blockNumber", "blockHash"] {
        assert!(!p[k].is_null(), "{k} in {p}");
    }
    // Drop everything since genesis: the commit's log comes back removed.
    install(
        &twin,
        json!([{"kind": "reorg", "depth": 64, "fate": "drop", "limit": 1}]),
    )
    .await;
    let all = rx.wait_for(2).await;
    let again = all[1].json();
    let q = &again["payload"];
    assert_eq!(q["removed"], true, "{again}");
    for k in [
        "txHash",
        "logIndex",
        "blockNumber",
        "blockHash",
        "effect_of",
    ] {
        assert_eq!(q[k], p[k], "{k}: the removed log is the one delivered");
    }
    // The receiver verified every signature (a forged one would be answered 401).
    assert_eq!(n(&effects(&twin).await, "failed_deliveries"), 0);
    let e = effects(&twin).await;
    assert_eq!((n(&e, "expected"), n(&e, "removed")), (1, 1), "{e}");
}

/// Four commits by one buyer (a reorder keeps one sender's order, so the
/// exchange ids stay put); wait until the handler acted on them.
async fn four_commits_acted(twin: &Twin) {
    for nonce in 0..4 {
        send(twin, commit(twin, 0, nonce)).await;
    }
    let e = settle(twin, |e| n(e, "exactly_once") == 4 && quiet(e)).await;
    assert_eq!(n(&e, "exactly_once"), 4, "the handler acted: {e}");
}

/// What a flaw scenario does to the chain once the handler has acted.
struct Scenario {
    removal_delay: Duration,
    confirmations: u64,
    /// A reorg rule (`limit = 1`), and the `boson.reorg` figure that must then be
    /// above zero: the rule is installed again (at most 5 times) until it is.
    reorg: Option<(Value, &'static str)>,
}

/// Reorg by `rule` until `figure` of the oracle's reorg stats is above zero.
async fn reorg_until(twin: &Twin, rule: &Value, figure: &str) {
    for round in 1..=5u64 {
        install(twin, json!([rule])).await;
        let started = Instant::now();
        while reorgs(twin).await < round && started.elapsed() < SETTLE {
            tokio::time::sleep(BLOCK).await;
        }
        let stats = boson(twin).await["reorg"].clone();
        assert_eq!(
            n(&stats, "reorgs"),
            round,
            "the rule reorged the chain: {stats}"
        );
        if n(&stats, figure) > 0 {
            return;
        }
    }
    panic!("five reorgs and no {figure}");
}

/// The flawed handler's ledger after `scenario`, and the reference's.
async fn both(flaw: ChainFlaw, sc: Scenario, check: &str) -> (Value, Value) {
    let mut out = Vec::new();
    let removal_delay = sc.removal_delay;
    for f in [ChainFlaw::None, flaw] {
        let (twin, handler) = rig(5, removal_delay, sc.confirmations, f).await;
        four_commits_acted(&twin).await;
        if let Some((rule, figure)) = &sc.reorg {
            reorg_until(&twin, rule, figure).await;
        }
        let done = |e: &Value| {
            if f == ChainFlaw::None {
                quiet(e)
            } else {
                quiet_but(e, check) && n(e, check) > 0
            }
        };
        settle(&twin, done).await;
        // Late removal notices: give them their time, then read again.
        tokio::time::sleep(removal_delay + BLOCK * 5).await;
        let e = settle(&twin, done).await;
        handler.stop().await;
        out.push(e);
    }
    let flawed = out.pop().expect("two runs");
    (out.pop().expect("two runs"), flawed)
}

const CHECKS: [&str; 5] = ["unconfirmed", "duplicated", "orphan", "lost", "unexpected"];

/// The reference passes every check; the flaw fails `check` and no other.
fn exactly(reference: &Value, flawed: &Value, check: &str) {
    eprintln!("reference: {reference}\nflawed: {flawed}");
    for c in CHECKS {
        assert_eq!(n(reference, c), 0, "reference handler, {c}: {reference}");
        if c == check {
            assert!(n(flawed, c) > 0, "the flaw is caught as {c}: {flawed}");
        } else {
            assert_eq!(n(flawed, c), 0, "the flaw is not caught as {c}: {flawed}");
        }
    }
}

#[tokio::test]
async fn acting_at_zero_confirmations_is_caught_as_unconfirmed() {
    // Twenty confirmations (4 s of blocks): the flawed handler's report reaches the
    // twin long before them, however loaded the machine.
    let sc = Scenario {
        removal_delay: Duration::ZERO,
        confirmations: 20,
        reorg: None,
    };
    let (reference, flawed) = both(ChainFlaw::ActsUnconfirmed, sc, "unconfirmed").await;
    exactly(&reference, &flawed, "unconfirmed");
}

#[tokio::test]
async fn ignoring_removed_events_is_caught_as_orphans() {
    // A reorg deeper than the confirmations drops the commits the handler acted on.
    let drop = json!({"kind": "reorg", "depth": 64, "fate": "drop", "limit": 1});
    let sc = Scenario {
        removal_delay: Duration::ZERO,
        confirmations: 3,
        reorg: Some((drop, "txs_dropped")),
    };
    let (reference, flawed) = both(ChainFlaw::IgnoresRemoved, sc, "orphan").await;
    exactly(&reference, &flawed, "orphan");
    assert_eq!(n(&reference, "reversed"), 4, "{reference}");
}

#[tokio::test]
async fn deduping_on_the_log_is_caught_as_duplicates() {
    // The commits come back at new log indexes, and the notices of the old logs
    // arrive late: a handler keyed on (txHash, logIndex) acts on both copies.
    // The removal notices wait 5 s: the new copies (3 confirmations, 0.6 s of
    // blocks) are acted on first.
    let reorder = json!({"kind": "reorg", "depth": 64, "fate": "reorder", "limit": 1});
    let sc = Scenario {
        removal_delay: Duration::from_secs(5),
        confirmations: 3,
        reorg: Some((reorder, "log_index_changed")),
    };
    let (reference, flawed) = both(ChainFlaw::DedupesOnTxhash, sc, "duplicated").await;
    exactly(&reference, &flawed, "duplicated");
}

/// One seed: reorgs of every fate, some deeper than the confirmations, removal
/// notices on time or late; buyers commit over a few blocks.
async fn reference_run(seed: u64) -> Value {
    let delay = if seed.is_multiple_of(2) {
        Duration::ZERO
    } else {
        Duration::from_secs(1)
    };
    let (twin, handler) = rig(seed, delay, 3, ChainFlaw::None).await;
    install(
        &twin,
        json!([
            {"kind": "reorg", "depth": 1, "fate": "remine", "probability": 0.15},
            {"kind": "reorg", "depth": 2, "fate": "reorder", "probability": 0.15},
            {"kind": "reorg", "depth": 4, "fate": "drop", "probability": 0.1},
        ]),
    )
    .await;
    for round in 0..6 {
        for i in 0..4 {
            if (round + i) % 2 == 0 {
                // A dropped commit gives its nonce back: send from the chain's count.
                let nonce = pending_nonce(&twin, i).await;
                send(&twin, commit(&twin, i, nonce)).await;
            }
        }
        tokio::time::sleep(BLOCK).await;
    }
    install(&twin, json!([])).await;
    tokio::time::sleep(delay + BLOCK * 5).await;
    let e = settle(&twin, quiet).await;
    handler.stop().await;
    let reorgs = boson(&twin).await["reorg"].clone();
    json!({"seed": seed, "effects": e, "reorg": reorgs})
}

async fn pending_nonce(twin: &Twin, i: usize) -> u64 {
    let boson = &twin.handle.as_ref().expect("owned").twin().boson;
    let who = boson.accounts.buyers[i].address();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_getTransactionCount", "params": [who, "pending"]});
    let r = twin.req("POST", "/rpc").json(&body).send().await.json();
    let hex = r["result"].as_str().expect("count");
    u64::from_str_radix(hex.trim_start_matches("0x"), 16).expect("hex")
}

#[tokio::test]
async fn the_reference_handler_passes_twenty_seeds_with_reorgs() {
    let mut runs = Vec::new();
    for chunk in (0..20u64).collect::<Vec<_>>().chunks(4) {
        let batch = futures_util::future::join_all(chunk.iter().map(|&s| reference_run(s))).await;
        runs.extend(batch);
    }
    let (mut removed, mut acted) = (0, 0);
    eprintln!(
        "{}",
        serde_json::to_string_pretty(&runs).unwrap_or_default()
    );
    for run in &runs {
        let e = &run["effects"];
        for c in CHECKS {
            assert_eq!(n(e, c), 0, "seed {}: {c} in {run}", run["seed"]);
        }
        assert_eq!(n(e, "pending"), 0, "{run}");
        removed += n(e, "removed") + n(e, "reversed");
        acted += n(e, "exactly_once");
    }
    assert!(acted >= 20 * 6, "the seeds acted on events: {acted}");
    assert!(
        removed > 0,
        "reorgs removed events the handler had seen: {runs:?}"
    );
}

async fn handler_cli(flaw: &str, vars: &[(&str, &str)]) -> String {
    let args = gauntlet::cli::HandlerArgs {
        listen: "127.0.0.1:0".parse().expect("addr"),
        target: "http://127.0.0.1:9".into(),
        flaw: flaw.into(),
        platform: "boson".into(),
        rpc: None,
        confirmations: Some(3),
    };
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let env = move |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut out = Vec::new();
    let r = gauntlet::handler::cli::run(args, env, async {}, &mut out).await;
    match r {
        Err(e) => format!("error: {e:#}"),
        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
    }
}

#[tokio::test]
async fn the_boson_handler_command_names_what_is_missing() {
    let secret = ("GAUNTLET_WEBHOOK_SECRET", SECRET);
    let token = ("GAUNTLET_CONTROL_TOKEN", TOKEN);
    let no_token = handler_cli("none", &[secret]).await;
    assert!(
        no_token.contains("GAUNTLET_CONTROL_TOKEN is not set"),
        "{no_token}"
    );
    let no_secret = handler_cli("none", &[token]).await;
    assert!(
        no_secret.contains("GAUNTLET_WEBHOOK_SECRET is not set"),
        "{no_secret}"
    );
    let bad_flaw = handler_cli("race", &[secret, token]).await;
    assert!(
        bad_flaw.contains("expected one of none, acts-unconfirmed"),
        "{bad_flaw}"
    );
    // Given everything, it starts, says where to register, and stops on shutdown.
    let ok = handler_cli("ignores_removed", &[secret, token]).await;
    assert!(ok.contains("/_gauntlet/boson/webhooks"), "{ok}");
    assert!(!ok.contains(SECRET), "the secret is never printed: {ok}");
}
