//! What one seed means across runs: the same faults on the same operations, and
//! retries that spread (or, for a flawed client, do not) over many seeds.

use gauntlet::run::RunOutcome;
use gauntlet::verdict::Status;

use crate::run::{run_ok, status};
use crate::util::GOOSE;

/// Two runs of one plan and seed, each with many batches in flight at once, give
/// the same tape: the same faults on the same operations (windowless rules; the
/// arrival order differs between the runs). Another seed gives another tape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_seed_replays_the_same_faults_on_the_same_operations() {
    let _goose = GOOSE.lock().await;
    let plan = |seed: u64| {
        format!(
            "[run]\nduration = \"2s\"\nseed = {seed}\nrate = 1000\nbatch = {{ min = 5, max = 15 }}\nwarmup = \"0s\"\nusers = 8\n\
             [client]\nmax_attempts = 15\nmax_elapsed = \"60s\"\ntimeout = \"5s\"\n\
             [webhooks]\nhandler = \"off\"\n\
             [thresholds]\nmax_harness_lag = \"10s\"\n\
             [[faults]]\nname = \"slow\"\nkind = \"latency\"\ndist = \"uniform\"\nmin = \"1ms\"\nmax = \"40ms\"\n\
             [[faults]]\nname = \"5xx\"\nkind = \"status\"\nstatus = 500\nprobability = 0.05\nroute = \"POST /ebus/actions/batch\"\n\
             [[faults]]\nname = \"lost\"\nkind = \"lost_reply\"\nprobability = 0.03\nroute = \"POST /ebus/actions/batch\"\n\
             [[faults]]\nname = \"partial\"\nkind = \"partial_batch\"\nfraction = 0.3\nprobability = 0.05\n"
        )
    };
    // (operation, rule, kind), sorted: what was injected on what, whatever the order.
    let faults = |o: &RunOutcome| {
        let text = std::fs::read_to_string(o.dir.join("tape.jsonl")).expect("tape.jsonl");
        let mut v: Vec<(String, String, String)> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON line"))
            .filter(|e| e["kind"] != "latency")
            .map(|e| {
                let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                (s("op"), s("rule"), s("kind"))
            })
            .collect();
        v.sort();
        v
    };
    let a = run_ok("replay-a", &plan(5)).await;
    let b = run_ok("replay-b", &plan(5)).await;
    let c = run_ok("replay-c", &plan(6)).await;
    let (fa, fb, fc) = (faults(&a), faults(&b), faults(&c));
    assert!(fa.len() > 10, "faults were injected: {}", fa.len());
    assert_eq!(fa, fb, "one seed, one tape");
    assert_ne!(fa, fc, "another seed, another tape");
    for o in [&a, &b] {
        assert!(o.verdict.pass, "{:#?}", o.verdict);
    }
}

/// Retries told the same thing at once spread out with the reference client over
/// 20 seeds, and stay together with `no_jitter` (uniformly late) on the same seeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_client_spreads_its_retries_over_twenty_seeds() {
    let _goose = GOOSE.lock().await;
    let plan = |seed: u64, flaw: &str| {
        format!(
            "[run]\nduration = \"2500ms\"\nseed = {seed}\nrate = 800\nbatch = {{ min = 10, max = 30 }}\nwarmup = \"0s\"\n\
             [client]\nmax_attempts = 10\nmax_elapsed = \"60s\"\ntimeout = \"5s\"\nflaw = \"{flaw}\"\n\
             [webhooks]\nhandler = \"off\"\n\
             [thresholds]\nmin_retry_spread = \"100ms\"\nmax_harness_lag = \"10s\"\n\
             [[faults]]\nname = \"outage\"\nkind = \"status\"\nstatus = 503\nretry_after = 1\nat = \"1s\"\nfor = \"600ms\"\nroute = \"POST /ebus/actions/batch\"\n"
        )
    };
    let mut wrong = Vec::new();
    for seed in 1..=20 {
        let o = run_ok(&format!("spread-{seed}"), &plan(seed, "none")).await;
        if status(&o, "retry_spread_ms") != Status::Pass || !o.verdict.pass {
            wrong.push(format!("seed {seed}: {:#?}", o.verdict));
        }
        if seed <= 3 {
            let f = run_ok(&format!("spread-flawed-{seed}"), &plan(seed, "no_jitter")).await;
            if status(&f, "retry_spread_ms") != Status::Fail {
                wrong.push(format!("no_jitter, seed {seed}: {:#?}", f.verdict));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
