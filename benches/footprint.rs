#![allow(clippy::print_stdout)] // a bench reports on stdout
//! What the twin keeps per action once its stores are full, counted by the
//! allocator (jemalloc's live bytes), not guessed from RSS:
//!
//! - the action records behind `GET /ebus/actions/{id}` (a million by default);
//! - the objects a load's `Emit`s make (as many, by default);
//! - the oracle's exactly-once ledger (per action fingerprint);
//! - the whole batch path (parse, apply, account), per action applied.
//!
//! Run: `cargo bench --bench footprint`. It prints one line per store; the
//! archive (reports/perf/) keeps the figures.

use std::time::Duration;

use gauntlet::heap::allocated_bytes;
use gauntlet_mock::TwinConfig;
use gauntlet_mock::config::SANDBOX_ORG;
use gauntlet_mock::dual::api::Route;
use gauntlet_mock::dual::api::handlers::Submission;
use gauntlet_mock::dual::config::DEFAULT_ACTION_CAPACITY;
use gauntlet_mock::dual::ebus::Store;
use gauntlet_mock::dual::ebus::objects::{Object, Objects};
use gauntlet_mock::dual::ebus::records::{Record, Records};
use gauntlet_mock::dual::sequencer::Sequencer;
use gauntlet_mock::engine::oracle::Oracle;

const BATCH: usize = 500;
/// Past the default capacity, so every store is at its bound.
const ACTIONS: usize = DEFAULT_ACTION_CAPACITY + DEFAULT_ACTION_CAPACITY / 5;

fn heap() -> u64 {
    allocated_bytes().expect("jemalloc answers")
}

fn line(what: &str, before: u64, after: u64, kept: usize) {
    let per = (after.saturating_sub(before)) as f64 / kept.max(1) as f64;
    println!(
        "{what:<34} {kept:>9} kept  {:>8.1} MiB  {per:>7.1} B each",
        (after - before) as f64 / f64::from(1 << 20)
    );
}

/// A run's `Emit` as the harness's load makes it, unique per `(round, i)`.
fn batch(round: usize) -> Vec<u8> {
    let run = "r-20261203-071500-7f3a";
    let actions: Vec<serde_json::Value> = (0..BATCH)
        .map(|i| serde_json::json!({ "action_type": "Emit", "payload": { "run": run, "batch": round, "n": i } }))
        .collect();
    serde_json::to_vec(&serde_json::json!({ "actions": actions })).expect("serializable")
}

fn records() {
    let before = heap();
    let mut r = Records::new(DEFAULT_ACTION_CAPACITY);
    for seq in 1..=ACTIONS as u64 {
        let record = Record {
            object: format!("obj_{seq}").into(),
            batch: seq / BATCH as u64,
            checkpoint: seq / 10_000,
            created_ns: seq * 1_000,
            org: 0,
            kind: 0,
        };
        r.push(seq, record);
    }
    line("action records", before, heap(), r.len());
}

fn objects() {
    let before = heap();
    let mut o = Objects::new(DEFAULT_ACTION_CAPACITY);
    for n in 1..=ACTIONS {
        let id = format!("obj_{n}");
        o.insert(
            &id,
            Object::new(SANDBOX_ORG, 0, None, serde_json::Map::new(), Duration::ZERO),
        );
    }
    line("objects (one per Emit)", before, heap(), o.len());
}

fn ledger() {
    let oracle = Oracle::new();
    let before = heap();
    for chunk in 0..ACTIONS / BATCH {
        let now = Duration::from_millis(chunk as u64);
        let fps: Vec<[u8; 16]> = (0..BATCH)
            .map(|i| {
                let mut fp = [0u8; 16];
                fp[..8].copy_from_slice(&((chunk * BATCH + i) as u64).to_le_bytes());
                fp
            })
            .collect();
        oracle.arrived(fps.iter().map(|fp| (*fp, Some("run"))), now);
        let outcomes: Vec<_> = fps.iter().map(|fp| (*fp, Ok(()))).collect();
        oracle.outcomes(&outcomes, None, now);
    }
    line("oracle ledger", before, heap(), ACTIONS.min(2_000_000));
}

fn batch_path() {
    let config = TwinConfig::sandbox("sk_bench_000000000000", "ctl_bench_0000000000");
    let oracle = Oracle::new();
    let before = heap();
    let mut store = Store::new(
        config.action_capacity,
        Sequencer::new(config.sequencer.clone()),
    );
    for round in 0..ACTIONS / BATCH {
        let now = Duration::from_millis(round as u64);
        let body = batch(round);
        let sub = Submission::parse(&Route::Batch, &body, BATCH, SANDBOX_ORG).expect("valid batch");
        let tags = sub
            .actions
            .iter()
            .map(|a| gauntlet_mock::engine::oracle::run_tag(&a.payload));
        oracle.arrived(sub.fingerprints.iter().copied().zip(tags), now);
        let applied = store.apply(SANDBOX_ORG, &sub.actions, now, |_| None);
        let outcomes = applied.outcomes(&sub.fingerprints);
        oracle.outcomes(&outcomes, None, now);
    }
    let (objects, records) = store.kept();
    line("batch path: store and ledger", before, heap(), records);
    println!("  ({objects} objects, {records} action records, ledger one entry per action)");
    drop(store);
}

fn main() {
    // `cargo bench` passes `--bench`; a filter or `--list` asks nothing of this one.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!("footprint: live heap bytes per kept item, {ACTIONS} actions offered");
    records();
    objects();
    ledger();
    batch_path();
}
