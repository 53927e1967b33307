//! The Boson subgraph twin through real clients: core-sdk, unmodified, reads and
//! writes through the twin (its documents repeat fragments and declare unused
//! variables, as graph-node tolerates), and graph-node's error shapes for blocks
//! the index has not reached or never saw.

use std::time::Duration;

use serde_json::{Value, json};

use crate::util::{self, Twin};

const PATH: &str = "/subgraphs/name/boson/corecomponents";

async fn automine() -> Twin {
    let mut c = util::config();
    c.boson.block_time = Duration::ZERO;
    Twin::start(c).await
}

/// Buyer 0 commits to the known offer through the twin's JSON-RPC; the tx hash.
async fn commit_known_offer(twin: &Twin) -> Value {
    use alloy::sol_types::SolCall;
    use gauntlet_mock::boson::abi::IBosonProtocol as P;
    let boson = &twin.handle.as_ref().expect("owned").twin().boson;
    let key = &boson.accounts.buyers[0].signer;
    let input = P::commitToOfferCall {
        _buyer: key.address(),
        _offerId: alloy::primitives::U256::from(1u64),
    }
    .abi_encode();
    let config = boson.chain().config.clone();
    let raw = gauntlet_mock::boson::chain::sign::eip1559_value(
        key,
        &config,
        0,
        config.diamond,
        input,
        boson.config.offer_price,
    );
    let body =
        json!({"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [raw]});
    let sent = twin.req("POST", "/rpc").json(&body).send().await.json();
    assert!(sent["result"].is_string(), "{sent}");
    sent["result"].clone()
}

async fn query(twin: &Twin, q: &str, vars: Value) -> Value {
    let body = json!({"query": q, "variables": vars});
    let r = twin.req("POST", PATH).json(&body).send().await;
    assert_eq!(r.status(), 200, "graph-node answers 200 even with errors");
    r.json()
}

#[tokio::test]
async fn core_sdk_reads_and_writes_through_the_twin_unmodified() {
    crate::boson::npm_ready();
    let twin = automine().await;
    let boson = &twin.handle.as_ref().expect("owned").twin().boson;
    let key = boson.accounts.buyers[0].signer.clone();
    let walk = crate::boson::run_node(
        "core-sdk-walk.js",
        &[
            format!("http://{}", twin.addr),
            format!("{:#x}", gauntlet_mock::boson::config::DIAMOND),
            "1".into(),
        ],
        &key,
    )
    .await;
    assert_eq!(walk["offer"]["id"], "1");
    assert_eq!(walk["offer"]["price"], boson.config.offer_price.to_string());
    assert_eq!(walk["committedState"], "COMMITTED");
    assert_eq!(
        walk["exchanges"],
        json!([{"id": "1", "state": "COMPLETED", "offer": "1"}])
    );
    // What core-sdk read agrees with the twin's own books.
    let oracle = twin.control("GET", "/_gauntlet/oracle").send().await.ok();
    assert_eq!(oracle["boson"]["transitions"]["Completed"], 1);
    let chain = boson.chain();
    let available = chain
        .state()
        .protocol
        .available(1, gauntlet_mock::boson::protocol::NATIVE);
    assert_eq!(walk["funds"][0]["availableAmount"], available.to_string());
    assert_eq!(walk["subgraphBlock"], chain.head_number());
}

#[tokio::test]
async fn repeated_fragments_and_unused_variables_are_accepted() {
    let twin = automine().await;
    let q = "query q($id: ID!, $unused: [String!]) { offer(id: $id) { ...O } } \
             fragment O on Offer { id price seller { id } } fragment O on Offer { id price seller { id } }";
    let v = query(&twin, q, json!({"id": "1"})).await;
    assert_eq!(v["data"]["offer"]["seller"]["id"], "1", "{v}");
    let v = query(&twin, "{ offer(id: \"1\") { nope } }", json!(null)).await;
    assert!(
        v["errors"][0]["message"].as_str().is_some(),
        "an unknown field is an error: {v}"
    );
    assert!(v.get("data").is_none() || v["data"].is_null(), "{v}");
}

#[tokio::test]
async fn a_block_the_index_has_not_reached_gets_graph_nodes_error() {
    let twin = automine().await;
    let v = query(&twin, "{ _meta { block { number hash } } }", json!(null)).await;
    assert_eq!(v["data"]["_meta"]["block"]["number"], 0);
    let v = query(&twin, "{ offers(block: {number: 5}) { id } }", json!(null)).await;
    let msg = v["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        msg,
        format!(
            "Failed to decode `block.number` value: `subgraph {} has only indexed up to block number 0 and data for block number 5 is therefore not yet available`",
            gauntlet_mock::boson::subgraph::DEPLOYMENT
        )
    );
    assert!(
        v.get("data").is_none(),
        "graph-node sends no data with this error: {v}"
    );
    let zero = format!("0x{}", "11".repeat(32));
    let v = query(
        &twin,
        "query q($h: Bytes) { offers(block: {hash: $h}) { id } }",
        json!({"h": zero}),
    )
    .await;
    assert_eq!(
        v["errors"][0]["message"],
        "Failed to decode `block.hash` value: `no block with that hash found`"
    );
}

#[tokio::test]
async fn where_order_and_paging_follow_graph_node() {
    let twin = automine().await;
    let v = query(
        &twin,
        "{ sellers(where: {assistant_not: \"0x00\"}) { id } buyers { id } \
           offers(where: {price_gt: \"1\", voided: false}, orderBy: price, orderDirection: desc, first: 1) { id } \
           fundsEntities(where: {accountId: \"1\"}) { id availableAmount } }",
        json!(null),
    )
    .await;
    assert_eq!(v["data"]["sellers"], json!([{"id": "1"}]), "{v}");
    assert_eq!(v["data"]["buyers"], json!([]));
    assert_eq!(v["data"]["offers"], json!([{"id": "1"}]));
    assert_eq!(
        v["data"]["fundsEntities"][0]["id"],
        "1-0x0000000000000000000000000000000000000000"
    );
    let v = query(
        &twin,
        "{ offers(where: {price_gt: \"100000000000000000000\"}) { id } }",
        json!(null),
    )
    .await;
    assert_eq!(
        v["data"]["offers"],
        json!([]),
        "numeric comparison, not text: {v}"
    );
}

#[tokio::test]
async fn protocol_events_are_event_logs_keyed_by_tx_hash_log_index_and_account() {
    let twin = automine().await;
    let hash = commit_known_offer(&twin).await;
    let q = "{ eventLogs(where: {type: BUYER_COMMITTED}) { id hash type account { id } \
               ... on ExchangeEventLog { exchange { id state } } } \
               buyers { logs { type } } }";
    let v = query(&twin, q, json!(null)).await;
    let logs = v["data"]["eventLogs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(logs.len(), 1, "{v}");
    let hash = hash.as_str().expect("tx hash");
    assert!(
        logs[0]["id"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&format!("{hash}-")),
        "{v}"
    );
    assert_eq!(logs[0]["hash"], hash);
    assert_eq!(logs[0]["account"]["id"], "3", "the buyer's entity");
    assert_eq!(
        logs[0]["exchange"],
        json!({"id": "1", "state": "COMMITTED"})
    );
    let kinds: Vec<Value> = v["data"]["buyers"][0]["logs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(kinds.contains(&json!({"type": "BUYER_COMMITTED"})), "{v}");
    assert!(kinds.contains(&json!({"type": "FUNDS_ENCUMBERED"})), "{v}");
}

#[tokio::test]
async fn an_indexer_lag_rule_makes_a_read_after_write_stale_until_the_index_catches_up() {
    let mut c = util::config();
    c.boson.block_time = Duration::ZERO;
    let mut lag = util::rule("indexer_lag");
    lag.dist = Some("fixed".into());
    lag.delay = Some(Duration::from_secs(10));
    c.faults = gauntlet_mock::engine::faults::spec::validate_all(&[lag], "faults").expect("rule");
    let twin = Twin::start(c).await;
    commit_known_offer(&twin).await;
    // The write is mined (block 1) but the subgraph has not indexed it: a stale read.
    let q = "{ _meta { block { number } } exchange(id: \"1\") { state } }";
    let v = query(&twin, q, json!(null)).await;
    assert_eq!(v["data"]["_meta"]["block"]["number"], 0, "{v}");
    assert_eq!(v["data"]["exchange"], Value::Null);
    let v = query(
        &twin,
        "{ exchange(id: \"1\", block: {number: 1}) { state } }",
        json!(null),
    )
    .await;
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("has only indexed up to block number 0 and data for block number 1"),
        "{v}"
    );
    twin.advance("11s").await;
    let v = query(&twin, q, json!(null)).await;
    assert_eq!(v["data"]["_meta"]["block"]["number"], 1, "{v}");
    assert_eq!(v["data"]["exchange"]["state"], "COMMITTED");
    let oracle = twin.control("GET", "/_gauntlet/oracle").send().await.ok();
    let lag = &oracle["boson"]["subgraph"]["consistency_lag_ms"];
    assert!(
        lag["max"]
            .as_u64()
            .is_some_and(|m| (10_000..=10_010).contains(&m)),
        "{lag}"
    );
    let tape = twin.control("GET", "/_gauntlet/tape").send().await.ok();
    assert!(
        tape.to_string().contains("\"kind\":\"indexer_lag\""),
        "{tape}"
    );
}

#[tokio::test]
async fn http_fault_rules_take_the_subgraph_down_like_any_path() {
    let mut down = util::rule("status");
    down.status = Some(503);
    down.route = Some("POST /subgraphs/*".into());
    down.limit = Some(1);
    let twin = Twin::with_rules(vec![down]).await;
    let body = json!({"query": "{ _meta { block { number } } }"});
    let first = twin.req("POST", PATH).json(&body).send().await;
    assert_eq!(first.status(), 503);
    let second = twin.req("POST", PATH).json(&body).send().await;
    assert_eq!(second.status(), 200);
    assert!(second.json()["data"]["_meta"]["block"]["number"].is_u64());
}
