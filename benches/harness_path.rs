//! The harness's own per-batch work, which must stay far below a batch's interval
//! (at 2,000 actions/s in batches of 50 to 500, one every 25 to 250 ms):
//!
//! - `pacer/next_slot`: the open-model pacer handing out the next send slot
//!   (`Pacer::next`: the seeded batch size, the intended time at the plan's rate),
//!   built as `gauntlet run` builds it from the soak plan;
//! - `record/first_reply`: a batch's first-reply latency into the shared recorder's
//!   HDR histograms (`Recorder::first_reply`: per action and per request, in the
//!   cumulative and the interval set, under the recorder's lock);
//! - `record/attempt`: one attempt's outcome and service time (`Recorder::attempt`);
//! - `record/hist_record`: one bare `Histogram::record` into `measure::hist()`, the
//!   floor under the two above.
//!
//! Run: `cargo bench --bench harness_path`.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gauntlet::load::pacer::Pacer;
use gauntlet::measure::{Recorder, hist};
use gauntlet::plan::Plan;

/// Far longer than any measurement takes slots for (a slot is ~0.14 s of schedule).
const SCHEDULE: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

fn soak_plan() -> Plan {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/soak.toml");
    Plan::load(&path).expect("the soak plan is valid")
}

/// Latencies from 1 ms to about 4 s, log-spaced (first replies under faults).
fn latencies() -> Vec<Duration> {
    (0..1024)
        .map(|i| Duration::from_micros((1000.0 * 2f64.powf(f64::from(i) / 85.0)) as u64))
        .collect()
}

fn pacer(c: &mut Criterion) {
    let plan = soak_plan();
    let (batch, seed) = (plan.run.batch, plan.run.seed);
    let rates = move |t: Duration| plan.rate_at(t);
    let pacer = Pacer::new(Instant::now(), SCHEDULE, batch, seed, rates);
    let mut group = c.benchmark_group("pacer");
    group.throughput(Throughput::Elements(1));
    group.bench_function("next_slot", |b| {
        b.iter(|| black_box(pacer.next().expect("the schedule outlasts the bench")))
    });
    group.finish();
}

fn record(c: &mut Criterion) {
    let samples = latencies();
    let recorder = Recorder::new();
    let mut group = c.benchmark_group("record");
    group.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    group.bench_function("first_reply", |b| {
        b.iter(|| {
            i = (i + 1) % samples.len();
            recorder.first_reply(black_box(samples[i]), black_box(275));
        })
    });
    group.bench_function("attempt", |b| {
        b.iter(|| {
            i = (i + 1) % samples.len();
            recorder.attempt(black_box("200"), black_box(samples[i]));
        })
    });
    let mut h = hist();
    group.bench_function("hist_record", |b| {
        b.iter(|| {
            i = (i + 1) % samples.len();
            let us = samples[i].as_micros() as u64;
            black_box(h.record(black_box(us))).expect("within the histogram's bounds");
        })
    });
    black_box(recorder.totals());
    group.finish();
}

criterion_group!(benches, pacer, record);
criterion_main!(benches);
