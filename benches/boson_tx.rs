//! A transaction into the Boson twin, without the network: a buyer's
//! `commitToOffer` on the known offer, signed as gauntlet's Boson client signs it
//! (EIP-1559, its gas limit, the offer's price as value).
//!
//! - `decode`: the raw bytes of `eth_sendRawTransaction` decoded, chain id
//!   checked and sender recovered (`chain::tx::decode`: the ECDSA recovery is most
//!   of it);
//! - `send_raw_and_mine`: the whole JSON-RPC request (`rpc::handle`): the envelope
//!   parsed, the transaction decoded and admitted to the pool, then, under
//!   automine, a block mined with it (the protocol call applied, the block sealed).
//!
//! Each iteration of `send_raw_and_mine` sends the buyer's next nonce; signing is
//! set-up, not measured.
//!
//! Run: `cargo bench --bench boson_tx`.

use std::hint::black_box;
use std::time::Duration;

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{Bytes, TxKind};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use gauntlet::boson::{GAS_LIMIT, calls};
use gauntlet_mock::boson::chain::tx;
use gauntlet_mock::boson::{Boson, BosonConfig, NoFaults, rpc};
use serde_json::{Value, json};

/// Unix time at twin time zero.
const START: f64 = 1_800_000_000.0;

/// The twin under automine (a block per transaction), seed 7's accounts.
fn twin() -> Boson {
    let config = BosonConfig {
        block_time: Duration::ZERO,
        ..BosonConfig::default()
    };
    let accounts = config.accounts(7).expect("generated keys");
    Boson::new(config, accounts, START, Duration::ZERO)
}

/// `key`'s commit to the known offer with `nonce`, as `eth_sendRawTransaction` takes it.
fn commit(b: &Boson, key: &PrivateKeySigner, nonce: u64) -> Bytes {
    let c = &b.config;
    let tx = TxEip1559 {
        chain_id: c.chain_id,
        nonce,
        gas_limit: GAS_LIMIT,
        max_fee_per_gas: (c.base_fee + c.priority_fee) * 2 + c.priority_fee,
        max_priority_fee_per_gas: c.priority_fee,
        to: TxKind::Call(c.diamond),
        value: c.offer_price,
        input: calls::commit(key.address(), c.known_offer).into(),
        access_list: Default::default(),
    };
    let sig = key
        .sign_hash_sync(&tx.signature_hash())
        .expect("signing works");
    TxEnvelope::from(tx.into_signed(sig)).encoded_2718().into()
}

fn request(method: &str, params: Value) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        .to_string()
        .into_bytes()
}

/// One call's `result`; panics on an error object (the bench would measure a refusal).
fn call(b: &Boson, now: Duration, method: &str, params: Value) -> Value {
    let env = rpc::Env {
        boson: b,
        now,
        faults: &NoFaults,
    };
    let (out, _) = rpc::handle(env, &request(method, params));
    assert!(out.get("error").is_none(), "{method}: {out}");
    out["result"].clone()
}

fn boson_tx(c: &mut Criterion) {
    let boson = twin();
    let key = boson.accounts.buyers[0].signer.clone();
    let chain_id = boson.config.chain_id;

    // The first commit is mined and succeeds: the bench measures the real path.
    let raw = commit(&boson, &key, 0);
    let hash = call(
        &boson,
        Duration::ZERO,
        "eth_sendRawTransaction",
        json!([raw]),
    );
    let receipt = call(
        &boson,
        Duration::ZERO,
        "eth_getTransactionReceipt",
        json!([hash]),
    );
    assert_eq!(receipt["status"], "0x1", "the commit succeeds: {receipt}");

    let mut group = c.benchmark_group("boson_tx");
    group.throughput(Throughput::Elements(1));
    group.bench_function("decode", |b| {
        b.iter(|| black_box(tx::decode(black_box(&raw), chain_id).expect("a valid transaction")))
    });
    let mut nonce = 1u64;
    group.bench_function("send_raw_and_mine", |b| {
        b.iter_batched(
            || {
                let body = request(
                    "eth_sendRawTransaction",
                    json!([commit(&boson, &key, nonce)]),
                );
                let now = Duration::from_millis(nonce);
                nonce += 1;
                (body, now)
            },
            |(body, now)| {
                let env = rpc::Env {
                    boson: &boson,
                    now,
                    faults: &NoFaults,
                };
                let (out, tally) = rpc::handle(env, black_box(&body));
                debug_assert!(out.get("result").is_some(), "{out}");
                black_box((out, tally))
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
    let head = call(
        &boson,
        Duration::from_millis(nonce),
        "eth_blockNumber",
        json!([]),
    );
    let mined = u64::from_str_radix(head.as_str().unwrap_or("0x0").trim_start_matches("0x"), 16)
        .expect("a quantity");
    // Every transaction sent made its block: nothing was refused along the way.
    assert_eq!(mined, nonce, "one block per commit");
}

criterion_group!(benches, boson_tx);
criterion_main!(benches);
