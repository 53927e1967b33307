//! The chain through JSON-RPC: mining on the clock, admission errors in node
//! words, receipts and logs, and reorgs with each fate.

use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::sol_types::{SolCall, SolError, SolEvent};
use serde_json::{Value, json};

use crate::boson::abi::IBosonProtocol as P;
use crate::boson::chain::{Fate, ReorgOrder};
use crate::boson::testkit::{Scripted, commit, legacy, rpc, rpc_at, signed, twin};
use crate::boson::{Boson, NoFaults};

const TWO: Duration = Duration::from_secs(2);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn send(b: &Boson, now: Duration, raw: alloy::primitives::Bytes) -> Result<Value, Value> {
    rpc(b, now, "eth_sendRawTransaction", json!([raw]))
}

fn revoke(b: &Boson, nonce: u64, exchange: u64) -> alloy::primitives::Bytes {
    let key = &b.accounts.seller.signer;
    let input = P::revokeVoucherCall {
        _exchangeId: U256::from(exchange),
    }
    .abi_encode();
    signed(key, nonce, b.config.diamond, input, U256::ZERO)
}

fn receipt(b: &Boson, now: Duration, hash: &Value) -> Value {
    rpc(b, now, "eth_getTransactionReceipt", json!([hash])).expect("receipt call")
}

#[test]
fn a_transaction_is_mined_at_the_next_block_time() {
    let b = twin(TWO);
    let hash = send(&b, secs(1), commit(&b, 0, 0)).expect("admitted");
    assert_eq!(
        receipt(&b, secs(1), &hash),
        Value::Null,
        "not mined before the block"
    );
    let r = receipt(&b, secs(2), &hash);
    assert_eq!(r["status"], "0x1");
    assert_eq!(r["blockNumber"], "0x1");
    let log = r["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .find(|l| l["topics"][0] == json!(P::BuyerCommitted::SIGNATURE_HASH))
        .expect("a BuyerCommitted log")
        .clone();
    assert_eq!(log["removed"], false);
    assert_eq!(log["address"], json!(b.config.diamond));
    let n = rpc(&b, secs(9), "eth_blockNumber", json!([])).expect("number");
    assert_eq!(n, "0x4", "blocks at 2, 4, 6, 8 s");
}

#[test]
fn admission_errors_use_node_words() {
    let b = twin(Duration::ZERO);
    send(&b, secs(0), commit(&b, 0, 0)).expect("first");
    let again = send(&b, secs(0), commit(&b, 0, 0)).expect_err("replayed");
    assert_eq!(again["code"], -32000);
    assert!(
        again["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("nonce too low: next nonce 1, tx nonce 0")
    );
    let key = &b.accounts.buyers[1].signer;
    let wrong = legacy(key, 0, Address::repeat_byte(9), Some(1));
    let e = send(&b, secs(0), wrong).expect_err("wrong chain");
    assert!(
        e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid chain id for signer: have 1 want 31337")
    );
    let e =
        send(&b, secs(0), legacy(key, 0, Address::repeat_byte(9), None)).expect_err("no chain id");
    assert!(
        e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("replay-protected")
    );
    let e = send(
        &b,
        secs(0),
        alloy::primitives::Bytes::from(vec![0x02, 0xc0]),
    )
    .expect_err("garbage");
    assert_eq!(e["code"], -32000);
    let e = rpc(&b, secs(0), "eth_sendRawTransaction", json!(["nothex"])).expect_err("not hex");
    assert_eq!(e["code"], -32602);
    let e = rpc(&b, secs(0), "eth_noSuchThing", json!([])).expect_err("unknown");
    assert_eq!(e["code"], -32601);
}

#[test]
fn gas_running_dry_refuses_the_next_transaction() {
    // 1.6e15 wei; each transaction may cost 1.5e15 (500k gas at 3 gwei) and burns
    // 21,000 gas at 2 gwei = 4.2e13: the fourth no longer fits.
    let config = crate::boson::BosonConfig {
        block_time: Duration::ZERO,
        account_balance: U256::from(1_600_000_000_000_000u64),
        ..Default::default()
    };
    let keys = crate::boson::accounts::Accounts::new(7, |_| None).expect("keys");
    let b = Boson::new(config, keys, 0.0, Duration::ZERO);
    let key = &b.accounts.buyers[0].signer;
    let to = Address::repeat_byte(7);
    let mut sent = 0;
    let err = loop {
        match send(&b, secs(0), signed(key, sent, to, vec![], U256::ZERO)) {
            Ok(_) => sent += 1,
            Err(e) => break e,
        }
        assert!(sent < 100, "the wallet never ran dry");
    };
    assert_eq!(sent, 3);
    assert!(
        err["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("insufficient funds for gas * price + value: balance")
    );
    let left = b.chain().state().account(key.address()).balance;
    assert_eq!(
        left,
        U256::from(1_600_000_000_000_000u64 - 3 * 42_000_000_000_000)
    );
}

#[test]
fn a_revert_is_code_3_with_the_selector() {
    let b = twin(Duration::ZERO);
    let input = P::redeemVoucherCall {
        _exchangeId: U256::from(99u64),
    }
    .abi_encode();
    let call = json!([{"from": b.accounts.buyers[0].address(), "to": b.config.diamond, "data": alloy::primitives::Bytes::from(input)}, "latest"]);
    let e = rpc(&b, secs(0), "eth_estimateGas", call.clone()).expect_err("reverts");
    assert_eq!(e["code"], 3);
    assert_eq!(e["message"], "execution reverted");
    assert_eq!(
        e["data"],
        json!(alloy::primitives::Bytes::from(
            P::NoSuchExchange::SELECTOR.to_vec()
        ))
    );
    let e = rpc(&b, secs(0), "eth_call", call).expect_err("reverts");
    assert_eq!(e["code"], 3);
}

/// Logs delivered through a log filter since it was installed.
fn changes(b: &Boson, now: Duration, faults: &Scripted, id: &Value) -> Vec<Value> {
    let v = rpc_at(b, now, faults, "eth_getFilterChanges", json!([id])).expect("changes");
    v.as_array().cloned().unwrap_or_default()
}

/// Two commits in block 1 (buyers 0 and 1), then a reorg of depth 1 right after
/// block 1 with `fate`: what the filter saw, and the twin.
fn reorged(fate: Fate, seed: u64) -> (Boson, Vec<Value>, Scripted) {
    let b = twin(TWO);
    let faults = Scripted {
        reorg_at: Some((
            1,
            ReorgOrder {
                depth: 1,
                fate,
                seed,
            },
        )),
        paused: 0,
        ..Scripted::default()
    };
    let id = rpc_at(
        &b,
        secs(0),
        &faults,
        "eth_newFilter",
        json!([{"address": b.config.diamond}]),
    )
    .expect("filter");
    send(&b, secs(0), commit(&b, 0, 0)).expect("a");
    send(&b, secs(0), commit(&b, 1, 0)).expect("b");
    let seen = changes(&b, secs(2), &faults, &id);
    (b, seen, faults)
}

#[test]
fn a_reorg_announces_removed_logs_first_then_the_new_chain() {
    let (b, seen, _) = reorged(Fate::Remine, 0);
    let removed: Vec<&Value> = seen.iter().filter(|l| l["removed"] == true).collect();
    let fresh: Vec<&Value> = seen.iter().filter(|l| l["removed"] == false).collect();
    // The original logs, the same logs removed, then the re-mined ones.
    assert!(!removed.is_empty());
    assert_eq!(fresh.len(), 2 * removed.len());
    let first_removed = seen
        .iter()
        .position(|l| l["removed"] == true)
        .expect("removed");
    let last_removed = seen
        .iter()
        .rposition(|l| l["removed"] == true)
        .expect("removed");
    let tail = &seen[last_removed + 1..];
    assert_eq!(
        tail.len(),
        removed.len(),
        "the new chain's logs come after every removal"
    );
    for (old, new) in seen[first_removed..=last_removed].iter().zip(tail) {
        assert_eq!(old["transactionHash"], new["transactionHash"]);
        assert_eq!(old["logIndex"], new["logIndex"], "remine keeps log indexes");
        assert_ne!(old["blockHash"], new["blockHash"], "new block hash");
        assert_eq!(old["blockNumber"], new["blockNumber"]);
    }
    // eth_getLogs: canonical only.
    let logs = rpc(
        &b,
        secs(2),
        "eth_getLogs",
        json!([{"fromBlock": "0x0", "toBlock": "latest"}]),
    )
    .expect("logs");
    let logs = logs.as_array().cloned().unwrap_or_default();
    assert_eq!(logs.len(), removed.len());
    assert!(
        logs.iter()
            .all(|l| l["removed"] == false && l["blockHash"] == tail[0]["blockHash"])
    );
    assert_eq!(b.chain().stats.txs_remined, 2);
}

#[test]
fn a_dropped_commit_never_happened() {
    let (b, seen, faults) = reorged(Fate::Drop, 0);
    assert!(seen.iter().any(|l| l["removed"] == true));
    assert!(
        seen.iter()
            .all(|l| l["removed"] == true || l["blockHash"] != Value::Null)
    );
    let tx = seen[0]["transactionHash"].clone();
    assert_eq!(
        rpc_at(
            &b,
            secs(2),
            &faults,
            "eth_getTransactionReceipt",
            json!([tx])
        )
        .expect("call"),
        Value::Null
    );
    let c = b.chain_at(secs(2), &NoFaults);
    assert!(
        c.state().protocol.exchanges.is_empty(),
        "no exchange survives"
    );
    assert_eq!(
        c.state().account(b.accounts.buyers[0].address()).nonce,
        0,
        "nonce rolled back"
    );
    assert_eq!(
        c.state().account(b.accounts.buyers[0].address()).balance,
        b.config.account_balance
    );
    assert_eq!(c.stats.txs_dropped, 2);
}

#[test]
fn reorder_moves_transactions_and_state_follows() {
    // Block 1: buyer 0 commits (exchange 1), the seller revokes exchange 1.
    // Reordered so the revoke runs first, it reverts: the exchange stays Committed.
    for seed in 0..200 {
        let b = twin(TWO);
        let faults = Scripted {
            reorg_at: Some((
                1,
                ReorgOrder {
                    depth: 1,
                    fate: Fate::Reorder,
                    seed,
                },
            )),
            paused: 0,
            lag: Duration::ZERO,
        };
        let a = send(&b, secs(0), commit(&b, 0, 0)).expect("commit");
        let r = send(&b, secs(0), revoke(&b, 0, 1)).expect("revoke");
        let c = b.chain_at(secs(2), &faults);
        let hash = |v: &Value| {
            v.as_str()
                .unwrap_or_default()
                .parse::<B256>()
                .expect("hash")
        };
        let (ba, ma) = c.mined(&hash(&a)).expect("commit re-mined");
        let (_, mr) = c.mined(&hash(&r)).expect("revoke re-mined");
        assert_eq!(ba.number(), 1);
        let state = c.state().protocol.exchanges.get(&1).map(|x| x.state);
        if mr.index < ma.index {
            assert!(!mr.effect.success, "revoke before commit reverts");
            assert_eq!(
                state,
                Some(crate::boson::protocol::ExchangeState::Committed)
            );
            assert_eq!(c.stats.reverted_after_reorg, 1);
            return;
        }
        assert_eq!(state, Some(crate::boson::protocol::ExchangeState::Revoked));
    }
    panic!("no seed in 0..200 reordered the two transactions");
}

#[test]
fn a_legacy_eip155_transaction_is_mined_like_any_other() {
    let b = twin(Duration::ZERO);
    let key = &b.accounts.buyers[2].signer;
    let to = Address::repeat_byte(9);
    let hash = send(&b, secs(0), legacy(key, 0, to, Some(31337))).expect("accepted");
    let r = receipt(&b, secs(0), &hash);
    assert_eq!(r["status"], "0x1");
    assert_eq!(r["type"], "0x0");
    let bal = rpc(&b, secs(0), "eth_getBalance", json!([to, "latest"])).expect("balance");
    assert_eq!(bal, "0x1");
}

#[test]
fn a_filter_not_polled_for_five_minutes_is_gone() {
    let b = twin(TWO);
    let id = rpc(&b, secs(0), "eth_newBlockFilter", json!([])).expect("filter");
    let blocks = rpc(&b, secs(299), "eth_getFilterChanges", json!([id])).expect("polled in time");
    assert_eq!(
        blocks.as_array().map(Vec::len),
        Some(149),
        "a hash per block since install"
    );
    rpc(&b, secs(598), "eth_getFilterChanges", json!([id])).expect("polled again in time");
    let e = rpc(&b, secs(898), "eth_getFilterChanges", json!([id])).expect_err("expired");
    assert_eq!(e["code"], -32000);
    assert_eq!(e["message"], "filter not found");
}

/// Automine (a block per transaction) mines no empty block for a transaction
/// that waits on a nonce gap; the gap filled, both go in, a block each.
#[test]
fn automine_mines_no_empty_block_for_a_nonce_gap() {
    let b = twin(Duration::ZERO);
    let number = |b: &Boson| rpc(b, secs(0), "eth_blockNumber", json!([])).expect("number");
    let start = number(&b);
    send(&b, secs(0), commit(&b, 0, 1)).expect("a future nonce is pooled");
    for _ in 0..3 {
        assert_eq!(number(&b), start, "no block while it waits");
    }
    send(&b, secs(0), commit(&b, 0, 0)).expect("the gap filled");
    let n = |v: &Value| {
        u64::from_str_radix(v.as_str().unwrap_or("0x0").trim_start_matches("0x"), 16).unwrap_or(0)
    };
    assert_eq!(n(&number(&b)), n(&start) + 2, "one block per transaction");
}
