//! The twin's fault decision for one request, as Dual's path makes it before any
//! handler runs: the operation's random stream (`FaultEngine::rng_for`), then
//! `pipeline::decide` over the soak plan's rules (each rule's window, route and
//! draw; every injection on the tape and counted in the metrics). Every request
//! pays it, so at 2,000 actions/s in small batches it runs thousands of times a
//! second.
//!
//! Two cases: `POST /ebus/actions/batch`, which the soak's rules target (its
//! lognormal latency always fires, so each decision also goes on the tape), and
//! `GET /objects/{id}`, which every rule passes by.
//!
//! Run: `cargo bench --bench fault_decision`.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gauntlet::plan::Plan;
use gauntlet_mock::TwinConfig;
use gauntlet_mock::engine::Engine;
use gauntlet_mock::engine::faults::{RequestFacts, TapeOp};
use gauntlet_mock::engine::pipeline;

/// The twin as the soak plan sets it up: its seed and its fault rules.
fn engine() -> Engine {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/soak.toml");
    let plan = Plan::load(&path).expect("the soak plan is valid");
    let mut config = TwinConfig::sandbox("sk_bench_000000000000", "ctl_bench_0000000000");
    config.seed = plan.run.seed;
    config.faults = plan.faults;
    Engine::new(config.engine())
}

fn fault_decision(c: &mut Criterion) {
    let engine = engine();
    let mut group = c.benchmark_group("fault_decision");
    group.throughput(Throughput::Elements(1));
    for (name, method, path) in [
        ("batch_post", http::Method::POST, "/ebus/actions/batch"),
        ("object_get", http::Method::GET, "/objects/o-123"),
    ] {
        let mut seq = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                seq += 1;
                // Twin time walks through the soak's windows (an outage every 10 min).
                let now = Duration::from_millis(seq.wrapping_mul(37) % 3_600_000);
                // An operation's identity is a digest: spread the streams as one does.
                let identity = seq.wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let facts = RequestFacts {
                    seq,
                    now,
                    request_id: "req_00000000deadbeef",
                    method: &method,
                    path,
                    op: TapeOp {
                        digest: 0x0123_4567_89ab_0000,
                        attempt: 1,
                    },
                };
                let mut rng = engine.faults.rng_for(black_box(identity));
                black_box(pipeline::decide(&engine, black_box(&facts), &mut rng))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, fault_decision);
criterion_main!(benches);
