//! The Boson twin through real clients: alloy's provider from Rust, ethers v5 from
//! npm, the ABI check against `@bosonprotocol/common`, JSON-RPC over HTTP with
//! batches and bad input, and WebSocket subscriptions.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::eth::Filter;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol;
use alloy::sol_types::SolEvent;
use serde_json::{Value, json};

use crate::util::{self, Twin};

sol! {
    // Written here from the published ABI, not taken from the twin, so a twin that
    // drifts from the real contracts fails this test.
    struct Exchange { uint256 id; uint256 offerId; uint256 buyerId; uint256 finalizedDate; uint8 state; address mutualizerAddress; }
    struct Voucher { uint256 committedDate; uint256 validUntilDate; uint256 redeemedDate; bool expired; }

    #[sol(rpc)]
    interface Diamond {
        function commitToOffer(address _buyer, uint256 _offerId) external payable;
        function redeemVoucher(uint256 _exchangeId) external;
        function completeExchange(uint256 _exchangeId) external;
        function getExchangeState(uint256 _exchangeId) external view returns (bool exists, uint8 state);
        event BuyerCommitted(uint256 indexed offerId, uint256 indexed buyerId, uint256 indexed exchangeId, Exchange exchange, Voucher voucher, address executedBy);
        event ExchangeCompleted(uint256 indexed offerId, uint256 indexed buyerId, uint256 indexed exchangeId, address executedBy);
        error InvalidState();
    }
}

/// A twin whose chain mines a block per transaction (anvil's automine).
async fn automine() -> Twin {
    let mut c = util::config();
    c.boson.block_time = Duration::ZERO;
    Twin::start(c).await
}

fn buyer(twin: &Twin, i: usize) -> PrivateKeySigner {
    twin.handle
        .as_ref()
        .expect("owned")
        .twin()
        .boson
        .accounts
        .buyers[i]
        .signer
        .clone()
}

/// The Boson section of `GET /_gauntlet/oracle`.
async fn boson_oracle(twin: &Twin) -> Value {
    twin.control("GET", "/_gauntlet/oracle").send().await.ok()["boson"].clone()
}

fn rpc_url(twin: &Twin) -> String {
    format!("http://{}/rpc", twin.addr)
}

#[tokio::test]
async fn alloy_walks_the_known_offer_and_reads_the_logs_back() {
    let twin = automine().await;
    let key = buyer(&twin, 0);
    let me = key.address();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(key))
        .connect_http(rpc_url(&twin).parse().expect("url"));
    assert_eq!(provider.get_chain_id().await.expect("chain id"), 31337);
    let diamond: Address = gauntlet_mock::boson::config::DIAMOND;
    let boson = Diamond::new(diamond, &provider);
    let price = twin
        .handle
        .as_ref()
        .expect("owned")
        .twin()
        .boson
        .config
        .offer_price;
    let receipt = tokio::time::timeout(util::BOUND, async {
        boson
            .commitToOffer(me, U256::from(1u64))
            .value(price)
            .send()
            .await
            .expect("commit sent")
            .get_receipt()
            .await
            .expect("commit mined")
    })
    .await
    .expect("bounded");
    assert!(receipt.status());
    let committed = receipt
        .decoded_log::<Diamond::BuyerCommitted>()
        .expect("a BuyerCommitted log");
    let id = committed.exchangeId;
    assert_eq!(committed.exchange.state, 0, "Committed");
    let r = boson.redeemVoucher(id).send().await.expect("sent");
    assert!(r.get_receipt().await.expect("mined").status());
    let r = boson.completeExchange(id).send().await.expect("sent");
    assert!(r.get_receipt().await.expect("mined").status());
    let state = boson.getExchangeState(id).call().await.expect("state");
    assert!(state.exists);
    assert_eq!(state.state, 4, "Completed");
    // A second completion is refused by name before it is sent.
    let err = boson
        .completeExchange(id)
        .send()
        .await
        .expect_err("refused");
    let revert = err.as_decoded_interface_error::<Diamond::DiamondErrors>();
    assert!(
        matches!(revert, Some(Diamond::DiamondErrors::InvalidState(_))),
        "{err}"
    );
    // The logs come back through eth_getLogs.
    let filter = Filter::new()
        .address(diamond)
        .event_signature(Diamond::ExchangeCompleted::SIGNATURE_HASH)
        .from_block(0);
    let logs = provider.get_logs(&filter).await.expect("logs");
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].inner.topics()[3], alloy::primitives::B256::from(id));
    // The twin's own count agrees.
    let oracle = boson_oracle(&twin).await;
    assert_eq!(oracle["transitions"]["Completed"], 1);
    assert_eq!(oracle["funds"]["conserved"], true);
}

pub fn js_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js"))
}

/// `npm ci` in tests/js if its packages are missing (`.ci/run` installs them
/// first); once per process, since tests run in parallel.
pub fn npm_ready() {
    static READY: std::sync::Once = std::sync::Once::new();
    READY.call_once(|| {
        if js_dir().join("node_modules/ethers").exists() {
            return;
        }
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(js_dir())
            .status()
            .expect("npm runs");
        assert!(status.success(), "npm ci in tests/js failed");
    });
}

/// Run a script of `tests/js` with `args` and the buyer's key in `BUYER_KEY`,
/// within the test bound; it must succeed and print one JSON line, returned.
pub async fn run_node(script: &str, args: &[String], key: &PrivateKeySigner) -> Value {
    let out = tokio::process::Command::new("node")
        .arg(js_dir().join(script))
        .args(args)
        .env(
            "BUYER_KEY",
            format!("0x{}", alloy::hex::encode(key.to_bytes())),
        )
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(util::BOUND, out)
        .await
        .expect("bounded")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).expect("one JSON line")
}

#[tokio::test]
async fn ethers_commits_waits_for_the_receipt_and_decodes_buyer_committed() {
    npm_ready();
    let mut c = util::config();
    // 2 s blocks on a clock 10x faster than real time: a block every 200 ms.
    c.time_scale = 10.0;
    let twin = Twin::start(c).await;
    let key = buyer(&twin, 1);
    let walk = run_node(
        "ethers-walk.js",
        &[
            rpc_url(&twin),
            format!("{:#x}", gauntlet_mock::boson::config::DIAMOND),
            "1".into(),
        ],
        &key,
    )
    .await;
    assert_eq!(walk["exchangeId"], "1");
    assert_eq!(walk["statuses"], json!([1, 1, 1]));
    assert_eq!(walk["state"], 4);
    assert_eq!(walk["redeemAgain"], "InvalidState");
    let oracle = boson_oracle(&twin).await;
    assert_eq!(oracle["transitions"]["Committed"], 1);
    assert_eq!(oracle["transitions"]["Completed"], 1);
}

#[test]
fn every_selector_and_topic_matches_bosonprotocol_common() {
    npm_ready();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("twin-abi.json");
    std::fs::write(&path, gauntlet_mock::boson::abi::manifest().to_string()).expect("write");
    let out = Command::new("node")
        .arg(js_dir().join("abi-check.js"))
        .arg(&path)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(stdout.trim()).expect("json");
    assert!(
        report["checked"]["functions"].as_u64() > Some(20),
        "{report}"
    );
    assert!(report["checked"]["events"].as_u64() > Some(20), "{report}");
    assert!(report["checked"]["errors"].as_u64() > Some(40), "{report}");
}

#[tokio::test]
async fn json_rpc_batches_and_bad_input_get_node_errors() {
    let twin = automine().await;
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_nope", "params": []},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_getBalance", "params": []},
        {"jsonrpc": "2.0", "id": 4, "method": "eth_sendRawTransaction", "params": ["0x02c0"]},
        {"id": 5, "method": "eth_chainId"}
    ]);
    let r = twin.req("POST", "/rpc").json(&batch).send().await;
    assert_eq!(r.status(), 200);
    let v = r.json();
    assert_eq!(v[0]["result"], "0x7a69");
    assert_eq!(v[1]["error"]["code"], -32601);
    assert_eq!(v[2]["error"]["code"], -32602);
    assert_eq!(
        v[2]["error"]["message"],
        "missing value for required argument 0"
    );
    assert_eq!(v[3]["error"]["code"], -32000);
    assert_eq!(v[4]["error"]["code"], -32600);
    let r = twin.req("POST", "/rpc").body("{not json").send().await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json()["error"]["code"], -32700);
}
