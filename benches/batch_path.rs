//! The twin's batch path without the network: parse a 500-action batch, charge the
//! organization's bucket, apply in order, account in the oracle. This is the work
//! behind every `POST /ebus/actions/batch`; at 2,000 actions/s the twin must do it
//! four times a second with room to spare.
//!
//! Run: `cargo bench --bench batch_path`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use gauntlet_mock::TwinConfig;
use gauntlet_mock::config::SANDBOX_ORG;
use gauntlet_mock::dual::api::Route;
use gauntlet_mock::dual::api::handlers::Submission;
use gauntlet_mock::dual::ebus::Store;
use gauntlet_mock::dual::limits::{Group, RateLimiter};
use gauntlet_mock::dual::sequencer::Sequencer;
use gauntlet_mock::engine::oracle::Oracle;

const BATCH: usize = 500;

/// A batch of Emit and Update actions, unique per `round` (as a load generator makes them).
fn body(round: u64) -> Vec<u8> {
    let actions: Vec<serde_json::Value> = (0..BATCH)
        .map(|i| {
            if i % 2 == 0 {
                serde_json::json!({ "action_type": "Emit", "payload": { "nonce": format!("{round}-{i}"), "owner": "alice" } })
            } else {
                serde_json::json!({ "action_type": "Update", "object_id": "o-fixed",
                    "payload": { "properties": { "n": i, "round": round } } })
            }
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "actions": actions })).expect("serializable")
}

fn batch_path(c: &mut Criterion) {
    let mut config = TwinConfig::sandbox("sk_bench_000000000000", "ctl_bench_0000000000");
    // The bench measures the work, not the limit: a bucket that never runs dry.
    config.limits.actions_per_sec = 1_000_000_000;
    let limiter = RateLimiter::new(config.limits.clone());
    let oracle = Oracle::new();
    let mut store = Store::new(
        config.action_capacity,
        Sequencer::new(config.sequencer.clone()),
    );
    store.apply(
        SANDBOX_ORG,
        &[serde_json::from_value(
            serde_json::json!({ "action_type": "Emit", "object_id": "o-fixed" }),
        )
        .expect("action")],
        Duration::ZERO,
        |_| None,
    );

    let mut group = c.benchmark_group("batch_path");
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut round = 0u64;
    group.bench_function("parse_charge_apply_account_500", |b| {
        b.iter_batched(
            || {
                round += 1;
                (body(round), Duration::from_millis(round))
            },
            |(body, now)| {
                let sub = Submission::parse(&Route::Batch, &body, BATCH, SANDBOX_ORG)
                    .expect("valid batch");
                let tags = sub
                    .actions
                    .iter()
                    .map(|a| gauntlet_mock::engine::oracle::run_tag(&a.payload));
                oracle.arrived(sub.fingerprints.iter().copied().zip(tags), now);
                limiter
                    .charge(SANDBOX_ORG, Group::Ebus, sub.actions.len() as u32, now, 0.0)
                    .expect("bucket has room");
                let applied = store.apply(SANDBOX_ORG, &sub.actions, now, |_| None);
                let outcomes = applied.outcomes(&sub.fingerprints);
                oracle.outcomes(&outcomes, None, now);
                black_box(applied.batch_id)
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(10));
    targets = batch_path
}
criterion_main!(benches);
