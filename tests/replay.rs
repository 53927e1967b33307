//! Seed replay that survives concurrency: a request's faults are drawn from a stream
//! keyed by its operation and attempt, not by its arrival number, so one seed injects
//! the same faults on the same operations whatever order they arrive in.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use gauntlet_mock::RuleSpec;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::util::{Twin, Wire, batch, config, rule};

const OPERATIONS: usize = 200;

/// Windowless rules only: which request a fault lands on is up to the seed alone.
fn rules() -> Vec<RuleSpec> {
    let p = |p: f64| Some(p);
    vec![
        RuleSpec {
            status: Some(503),
            probability: p(0.15),
            ..rule("status")
        },
        RuleSpec {
            probability: p(0.1),
            ..rule("reset")
        },
        RuleSpec {
            probability: p(0.1),
            ..rule("lost_reply")
        },
        RuleSpec {
            dist: Some("uniform".into()),
            min: Some(Duration::ZERO),
            max: Some(Duration::from_millis(2)),
            probability: p(0.5),
            ..rule("latency")
        },
        RuleSpec {
            fraction: Some(0.5),
            probability: p(0.3),
            ..rule("partial_batch")
        },
    ]
}

/// What two runs must agree on: each fault by operation, and which actions of each
/// batch failed.
#[derive(Debug)]
struct Faults {
    tape: BTreeSet<(String, String, String)>,
    failed: BTreeMap<usize, Vec<u64>>,
}

/// Operation `i` (its own key and body), once, and once more if faulted; the indices
/// of the actions that failed in its batch reply.
fn operation(twin: &Twin, i: usize) -> impl Future<Output = (usize, Vec<u64>)> + 'static {
    let req = twin
        .api("POST", "/ebus/actions/batch")
        .header("idempotency-key", &format!("key-{i}"))
        .json(&batch(&format!("op{i}"), 4));
    async move {
        for _attempt in 0..2 {
            if let Wire::Reply(r) = req.clone().wire().await
                && r.status() == 200
            {
                let v: Value = r.json();
                let failed = v["results"]
                    .as_array()
                    .expect("results")
                    .iter()
                    .filter(|x| x["status"] == "failed")
                    .filter_map(|x| x["index"].as_u64())
                    .collect();
                return (i, failed);
            }
        }
        (i, Vec::new())
    }
}

/// Run every operation through a twin of `seed`, in `order`, `concurrency` at a time.
async fn run(seed: u64, order: &[usize], concurrency: usize) -> Faults {
    let mut c = config();
    c.seed = seed;
    c.faults =
        gauntlet_mock::engine::faults::spec::validate_all(&rules(), "faults").expect("valid");
    let twin = Twin::start(c).await;
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    for i in order {
        let (op, permits) = (operation(&twin, *i), permits.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("open semaphore");
            op.await
        });
    }
    let mut failed = BTreeMap::new();
    while let Some(done) = tasks.join_next().await {
        let (i, f) = done.expect("an operation finished");
        failed.insert(i, f);
    }
    let tape = twin.control("GET", "/_gauntlet/tape").send().await.ok();
    let tape = tape["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().expect("a string field").to_string();
            (s("op"), s("rule"), s("kind"))
        })
        .collect();
    Faults { tape, failed }
}

#[tokio::test]
async fn one_seed_injects_the_same_faults_on_the_same_operations_in_any_order() {
    let in_order: Vec<usize> = (0..OPERATIONS).collect();
    let mut shuffled = in_order.clone();
    shuffled.shuffle(&mut rand::rngs::StdRng::seed_from_u64(5));
    let a = run(42, &in_order, 1).await;
    let b = run(42, &shuffled, 16).await;
    assert!(a.tape.len() > 100, "the rules fired: {}", a.tape.len());
    assert!(
        a.tape.iter().any(|(op, ..)| op.ends_with("/2")),
        "faulted operations were retried, as attempt 2"
    );
    assert!(
        a.failed.values().any(|f| !f.is_empty()),
        "some batches failed in part"
    );
    // Same seed, another order and concurrency: the same faults.
    let moved: Vec<_> = a.tape.symmetric_difference(&b.tape).take(5).collect();
    assert!(moved.is_empty(), "faults moved: {moved:?}");
    let picks: Vec<_> = (0..OPERATIONS)
        .filter(|i| a.failed.get(i) != b.failed.get(i))
        .collect();
    assert!(picks.is_empty(), "other partial-batch picks for {picks:?}");
    let other = run(43, &in_order, 1).await;
    assert_ne!(a.tape, other.tape, "another seed, other faults");
}
