//! The Boson chain's faults through the twin's own surfaces: a reorg seen by a
//! WebSocket log subscription (removed, then re-mined), paused regions from the
//! control API and from rules, upgrades, and the chain's gauges in `/metrics`.

use std::time::Duration;

use alloy::primitives::{Bytes, U256};
use alloy::sol_types::{SolCall, SolError, SolEvent};
use futures_util::{SinkExt, StreamExt};
use gauntlet_mock::boson::abi::IBosonProtocol as P;
use gauntlet_mock::boson::config::DIAMOND;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::util::{self, Twin, rule};

/// A twin mining a block per transaction, with `rules` installed.
async fn automine(rules: Vec<gauntlet_mock::RuleSpec>) -> Twin {
    let mut c = util::config();
    c.boson.block_time = Duration::ZERO;
    c.faults = gauntlet_mock::engine::faults::spec::validate_all(&rules, "faults").expect("rules");
    Twin::start(c).await
}

async fn rpc(twin: &Twin, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    twin.req("POST", "/rpc").json(&body).send().await.json()
}

/// The known offer's commit by buyer `i`, signed with nonce 0.
fn commit(twin: &Twin, i: usize) -> Bytes {
    let boson = &twin.handle.as_ref().expect("owned").twin().boson;
    let key = &boson.accounts.buyers[i].signer;
    let input = P::commitToOfferCall {
        _buyer: key.address(),
        _offerId: U256::from(1u64),
    }
    .abi_encode();
    gauntlet_mock::boson::chain::sign::eip1559_value(
        key,
        &boson.chain().config,
        0,
        DIAMOND,
        input,
        boson.config.offer_price,
    )
}

#[tokio::test]
async fn a_log_subscription_sees_a_reorg_remove_then_remine_the_commit() {
    let mut reorg = rule("reorg");
    reorg.depth = Some(1);
    reorg.fate = Some("remine".into());
    reorg.for_ = Some(Duration::from_secs(3600));
    let twin = automine(vec![reorg]).await;
    let tcp = tokio::net::TcpStream::connect(twin.addr)
        .await
        .expect("connect");
    let url = format!("ws://{}/rpc", twin.addr);
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp)
        .await
        .expect("upgrade");
    let sub = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["logs", {
        "address": DIAMOND, "topics": [P::BuyerCommitted::SIGNATURE_HASH]}]});
    ws.send(Message::Text(sub.to_string().into()))
        .await
        .expect("send");
    let mut got: Vec<Value> = Vec::new();
    let read = async {
        while got.len() < 4 {
            let Some(Ok(Message::Text(t))) = ws.next().await else {
                break;
            };
            let v: Value = serde_json::from_str(&t).expect("json");
            if v["id"] == 1 {
                // Subscribed: now the commit goes in, is mined, and the rule reorgs it.
                let r = rpc(&twin, "eth_sendRawTransaction", json!([commit(&twin, 0)])).await;
                assert!(r["result"].is_string(), "{r}");
            }
            got.push(v);
        }
    };
    tokio::time::timeout(util::BOUND, read)
        .await
        .expect("bounded");
    let logs: Vec<&Value> = got[1..].iter().map(|n| &n["params"]["result"]).collect();
    assert_eq!(logs.len(), 3, "{got:?}");
    assert_eq!(
        logs.iter()
            .map(|l| l["removed"].clone())
            .collect::<Vec<_>>(),
        vec![json!(false), json!(true), json!(false)],
        "the log, then its removal, then the new chain's"
    );
    assert_eq!(logs[0]["blockHash"], logs[1]["blockHash"]);
    assert_ne!(
        logs[1]["blockHash"], logs[2]["blockHash"],
        "re-mined in a new block"
    );
    assert_eq!(logs[0]["transactionHash"], logs[2]["transactionHash"]);
    assert_eq!(
        logs[0]["logIndex"], logs[2]["logIndex"],
        "remine keeps the log index"
    );
    let oracle = twin.control("GET", "/_gauntlet/oracle").send().await.ok();
    assert_eq!(oracle["boson"]["reorg"]["reorgs"], 1);
    assert_eq!(oracle["boson"]["reorg"]["txs_remined"], 1);
    let tape = twin.control("GET", "/_gauntlet/tape").send().await.ok();
    assert!(tape.to_string().contains("\"kind\":\"reorg\""), "{tape}");
}

/// `eth_estimateGas` of the known offer's commit: the revert data, if any.
async fn commit_revert(twin: &Twin) -> Option<String> {
    let boson = &twin.handle.as_ref().expect("owned").twin().boson;
    let buyer = boson.accounts.buyers[0].address();
    let input = P::commitToOfferCall {
        _buyer: buyer,
        _offerId: U256::from(1u64),
    }
    .abi_encode();
    let call = json!([{"from": buyer, "to": DIAMOND, "value": boson.config.offer_price, "data": Bytes::from(input)}]);
    let r = rpc(twin, "eth_estimateGas", call).await;
    r["error"]["data"].as_str().map(str::to_string)
}

fn region_paused(bit: u8) -> String {
    format!(
        "0x{}",
        alloy::hex::encode(P::RegionPaused { region: bit }.abi_encode())
    )
}

#[tokio::test]
async fn paused_regions_come_from_the_control_api_and_from_rules() {
    let mut pause = rule("pause");
    pause.regions = Some(vec!["Disputes".into()]);
    pause.for_ = Some(Duration::from_secs(3600));
    let twin = automine(vec![pause]).await;
    assert_eq!(commit_revert(&twin).await, None, "Exchanges open");
    let r = twin
        .control("POST", "/_gauntlet/boson/pause")
        .json(&json!({"regions": ["Exchanges"]}))
        .send()
        .await;
    assert_eq!(r.ok()["paused"], json!(["Exchanges", "Disputes"]));
    assert_eq!(commit_revert(&twin).await, Some(region_paused(8)));
    let input = Bytes::from(P::getPausedRegionsCall {}.abi_encode());
    let v = rpc(
        &twin,
        "eth_call",
        json!([{"to": DIAMOND, "data": input}, "latest"]),
    )
    .await;
    let out = alloy::hex::decode(v["result"].as_str().expect("result")).expect("hex");
    let regions = P::getPausedRegionsCall::abi_decode_returns(&out).expect("abi");
    assert_eq!(regions, vec![8, 9]);
    let r = twin
        .control("POST", "/_gauntlet/boson/pause")
        .json(&json!({"regions": ["Exchanges"], "paused": false}))
        .send()
        .await;
    assert_eq!(r.ok()["paused"], json!(["Disputes"]));
    assert_eq!(commit_revert(&twin).await, None);
    let r = twin
        .control("POST", "/_gauntlet/boson/pause")
        .json(&json!({"regions": ["Exchange"]}))
        .send()
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.json().to_string().contains("unknown region `Exchange`"));
}

#[tokio::test]
async fn an_upgrade_is_a_diamond_cut_from_the_owner_on_demand_and_by_rule() {
    let mut upgrade = rule("upgrade");
    upgrade.for_ = Some(Duration::from_secs(3600));
    let twin = automine(vec![upgrade]).await;
    // The rule fires after the first block; the control API asks for another.
    let r = rpc(&twin, "eth_sendRawTransaction", json!([commit(&twin, 1)])).await;
    assert!(r["result"].is_string(), "{r}");
    let r = twin
        .control("POST", "/_gauntlet/boson/upgrade")
        .send()
        .await;
    assert_eq!(r.status(), 202);
    // Automine mines the owner's transactions at the next look at the chain.
    rpc(&twin, "eth_blockNumber", json!([])).await;
    let filter = json!([{"fromBlock": "0x0", "address": DIAMOND, "topics": [P::DiamondCut::SIGNATURE_HASH]}]);
    let logs = rpc(&twin, "eth_getLogs", filter).await;
    let logs = logs["result"].as_array().cloned().unwrap_or_default();
    assert_eq!(logs.len(), 2, "{logs:?}");
    let owner = twin
        .handle
        .as_ref()
        .expect("owned")
        .twin()
        .boson
        .accounts
        .owner
        .address();
    let tx = rpc(
        &twin,
        "eth_getTransactionByHash",
        json!([logs[0]["transactionHash"]]),
    )
    .await;
    assert_eq!(tx["result"]["from"], json!(owner));
    let oracle = twin.control("GET", "/_gauntlet/oracle").send().await.ok();
    assert_eq!(oracle["boson"]["upgrades"], 2);
    let metrics = twin.req("GET", "/metrics").send().await;
    let text = String::from_utf8_lossy(&metrics.body).to_string();
    assert!(text.contains("boson_block_number"), "{text}");
}

#[tokio::test]
async fn http_fault_rules_apply_to_json_rpc_like_any_path() {
    let mut limited = rule("status");
    limited.status = Some(429);
    limited.route = Some("POST /rpc".into());
    limited.limit = Some(1);
    let twin = automine(vec![limited]).await;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"});
    let first = twin.req("POST", "/rpc").json(&body).send().await;
    assert_eq!(first.status(), 429, "a rate-limited node");
    assert_eq!(first.header("retry-after"), Some("1"));
    let second = twin.req("POST", "/rpc").json(&body).send().await;
    assert_eq!(second.status(), 200);
    assert_eq!(second.json()["result"], "0x0");
    // The immediate retry ignored Retry-After: the oracle grades it early.
    let oracle = twin.oracle().await;
    assert_eq!(oracle["backoff"]["early"], 1, "{oracle}");
}

#[tokio::test]
async fn chain_rules_are_changed_through_the_control_api() {
    let twin = automine(Vec::new()).await;
    assert_eq!(commit_revert(&twin).await, None);
    let rules = json!({"rules": [{"kind": "pause", "regions": ["Exchanges"], "for": "1h"}]});
    let r = twin
        .control("PUT", "/_gauntlet/rules")
        .json(&rules)
        .send()
        .await;
    assert_eq!(r.status(), 200, "{r:?}");
    assert_eq!(commit_revert(&twin).await, Some(region_paused(8)));
    let bad = json!({"rules": [{"kind": "reorg", "depth": 0}]});
    let r = twin
        .control("PUT", "/_gauntlet/rules")
        .json(&bad)
        .send()
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.json().to_string().contains("rules[0].depth"), "{r:?}");
    let r = twin
        .control("PUT", "/_gauntlet/rules")
        .json(&json!({"rules": []}))
        .send()
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        commit_revert(&twin).await,
        None,
        "the pause went with its rule"
    );
}

#[tokio::test]
async fn a_reset_starts_the_chain_again_from_genesis() {
    let twin = automine(Vec::new()).await;
    let r = rpc(&twin, "eth_sendRawTransaction", json!([commit(&twin, 0)])).await;
    assert!(r["result"].is_string(), "{r}");
    assert_eq!(
        rpc(&twin, "eth_blockNumber", json!([])).await["result"],
        "0x1"
    );
    let r = twin.control("POST", "/_gauntlet/reset").send().await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        rpc(&twin, "eth_blockNumber", json!([])).await["result"],
        "0x0"
    );
    let oracle = twin.control("GET", "/_gauntlet/oracle").send().await.ok();
    assert_eq!(oracle["boson"]["transitions"], json!({}));
    // The same signed commit is new again: its nonce is 0 once more.
    let r = rpc(&twin, "eth_sendRawTransaction", json!([commit(&twin, 0)])).await;
    assert!(r["result"].is_string(), "{r}");
}

#[tokio::test]
async fn the_accounts_route_names_the_seeded_entities_without_keys() {
    let twin = automine(Vec::new()).await;
    let v = twin
        .control("GET", "/_gauntlet/boson/accounts")
        .send()
        .await
        .ok();
    let boson = &twin.handle.as_ref().expect("owned").twin().boson;
    assert_eq!(v["seller"]["seller_id"], 1);
    assert_eq!(v["dispute_resolver"]["id"], 2);
    assert_eq!(
        v["seller"]["address"],
        json!(boson.accounts.seller.address())
    );
    let key = alloy::hex::encode(boson.accounts.seller.signer.to_bytes());
    assert!(!v.to_string().contains(&key), "no key in {v}");
}
