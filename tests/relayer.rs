//! The meta-transaction relayer (Biconomy's shape) over HTTP, as core-sdk uses it:
//! a relayed commit mined and its receipt under the hash the status endpoint
//! reports; each outage mode and what a client sees in it (a real connection
//! refused on the dedicated listener); bad input; and a client that double-submits,
//! counted by the oracle.

use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol;
use alloy::sol_types::{Eip712Domain, SolCall, SolStruct};
use gauntlet_mock::RuleSpec;
use gauntlet_mock::boson::abi::BosonTypes as T;
use gauntlet_mock::boson::abi::IBosonProtocol as P;
use gauntlet_mock::boson::config::DIAMOND;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

use crate::util::{self, BOUND, Twin, Wire, rule};

sol! {
    // The structs core-sdk signs (`src/meta-tx/handler.ts`), written here rather
    // than taken from the twin, so a twin that hashes them differently fails.
    struct MetaTxOfferDetails { address buyer; uint256 offerId; }
    struct MetaTxCommitToOffer {
        uint256 nonce; address from; address contractAddress; string functionName;
        MetaTxOfferDetails offerDetails;
    }
    struct MetaTxExchangeDetails { uint256 exchangeId; }
    struct MetaTxExchange {
        uint256 nonce; address from; address contractAddress; string functionName;
        MetaTxExchangeDetails exchangeDetails;
    }
}

const RELAY: &str = "/api/v2/meta-tx/native";
const STATUS: &str = "/api/v1/meta-tx/resubmitted";
/// The offer `free_offer` creates: the known offer is 1.
const FREE_OFFER: u64 = 2;

/// A twin mining a block per transaction with `rules`, and its relayer on a
/// listener of its own.
struct Setup {
    twin: Twin,
    relayer: Twin,
}

impl Setup {
    async fn start(rules: Vec<RuleSpec>) -> Setup {
        let mut c = util::config();
        c.faults = gauntlet_mock::engine::faults::spec::validate_all(&rules, "faults")
            .expect("valid rules");
        Setup::with(c).await
    }

    async fn with(mut c: gauntlet_mock::TwinConfig) -> Setup {
        c.boson.block_time = Duration::ZERO;
        let twin = Twin::start(c).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        twin.handle.as_ref().expect("owned").serve_relayer(listener);
        let relayer = Twin { handle: None, addr };
        Setup { twin, relayer }
    }

    fn boson(&self) -> &gauntlet_mock::boson::platform::BosonPlatform {
        &self.twin.handle.as_ref().expect("owned").twin().boson
    }

    fn buyer(&self) -> PrivateKeySigner {
        self.boson().accounts.buyers[0].signer.clone()
    }

    async fn rpc(&self, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let r = self
            .twin
            .req("POST", "/rpc")
            .json(&body)
            .send()
            .await
            .json();
        assert!(r.get("error").is_none(), "{method}: {r}");
        r["result"].clone()
    }

    /// A direct transaction from `key` with nonce `nonce`; its hash.
    async fn direct(
        &self,
        key: &PrivateKeySigner,
        nonce: u64,
        input: Vec<u8>,
        value: U256,
    ) -> String {
        let raw = gauntlet_mock::boson::chain::sign::eip1559_value(
            key,
            &self.boson().chain().config,
            nonce,
            DIAMOND,
            input,
            value,
        );
        let hash = self.rpc("eth_sendRawTransaction", json!([raw])).await;
        hash.as_str().expect("a hash").to_string()
    }

    async fn receipt(&self, hash: &str) -> Value {
        self.rpc("eth_getTransactionReceipt", json!([hash])).await
    }

    /// The seller's free offer (a relayer sends no value, so a relayed commit needs
    /// one): offer [`FREE_OFFER`].
    async fn free_offer(&self) {
        let head = self
            .rpc("eth_getBlockByNumber", json!(["latest", false]))
            .await;
        let ts = u64::from_str_radix(
            head["timestamp"]
                .as_str()
                .expect("ts")
                .trim_start_matches("0x"),
            16,
        )
        .expect("hex");
        let u = U256::from;
        let create = P::createOfferCall {
            _offer: T::Offer {
                quantityAvailable: u(10u64),
                metadataUri: "ipfs://free".into(),
                metadataHash: "free".into(),
                ..Default::default()
            },
            _offerDates: T::OfferDates {
                validFrom: u(ts - 60),
                validUntil: u(ts + 365 * 86_400),
                voucherRedeemableFrom: u(ts - 60),
                voucherRedeemableUntil: U256::ZERO,
            },
            _offerDurations: T::OfferDurations {
                disputePeriod: u(7 * 86_400u64),
                voucherValid: u(30 * 86_400u64),
                resolutionPeriod: u(7 * 86_400u64),
            },
            _drParameters: T::DRParameters {
                disputeResolverId: u(2u64),
                mutualizerAddress: Address::ZERO,
            },
            _agentId: U256::ZERO,
            _feeLimit: U256::MAX,
        };
        let seller = self.boson().accounts.seller.signer.clone();
        let hash = self
            .direct(&seller, 0, create.abi_encode(), U256::ZERO)
            .await;
        assert_eq!(self.receipt(&hash).await["status"], "0x1");
    }

    async fn relay(&self, body: &Value) -> util::Resp {
        self.relayer
            .req("POST", RELAY)
            .header("x-api-key", "relayer-key")
            .json(body)
            .send()
            .await
    }

    async fn status(&self, hash: &str) -> util::Resp {
        let path = format!("{STATUS}?networkId=31337&transactionHash={hash}");
        self.relayer.req("GET", &path).send().await
    }

    async fn boson_oracle(&self) -> Value {
        self.twin
            .control("GET", "/_gauntlet/oracle")
            .send()
            .await
            .ok()["boson"]
            .clone()
    }
}

/// core-sdk's EIP-712 domain: no chainId, the chain id as the salt.
fn domain() -> Eip712Domain {
    Eip712Domain::new(
        Some("Boson Protocol".into()),
        Some("V2".into()),
        None,
        Some(DIAMOND),
        Some(B256::from(U256::from(31337u64))),
    )
}

/// A relay body as core-sdk sends it: a JSON-number nonce, `r‖s‖v` with v 27/28.
fn body(key: &PrivateKeySigner, name: &str, inner: Vec<u8>, nonce: u64, digest: B256) -> Value {
    let sig = key.sign_hash_sync(&digest).expect("signs");
    let user = key.address().to_checksum(None);
    json!({
        "to": DIAMOND.to_checksum(None),
        "params": [user, name, Bytes::from(inner), nonce, Bytes::from(sig.as_bytes().to_vec())],
        "from": user,
        "apiId": "id1",
    })
}

fn commit_body(key: &PrivateKeySigner, nonce: u64) -> Value {
    let call = P::commitToOfferCall {
        _buyer: key.address(),
        _offerId: U256::from(FREE_OFFER),
    };
    let digest = MetaTxCommitToOffer {
        nonce: U256::from(nonce),
        from: key.address(),
        contractAddress: DIAMOND,
        functionName: P::commitToOfferCall::SIGNATURE.into(),
        offerDetails: MetaTxOfferDetails {
            buyer: key.address(),
            offerId: U256::from(FREE_OFFER),
        },
    }
    .eip712_signing_hash(&domain());
    body(
        key,
        P::commitToOfferCall::SIGNATURE,
        call.abi_encode(),
        nonce,
        digest,
    )
}

fn redeem_body(key: &PrivateKeySigner, exchange: u64, nonce: u64) -> Value {
    let call = P::redeemVoucherCall {
        _exchangeId: U256::from(exchange),
    };
    let digest = MetaTxExchange {
        nonce: U256::from(nonce),
        from: key.address(),
        contractAddress: DIAMOND,
        functionName: P::redeemVoucherCall::SIGNATURE.into(),
        exchangeDetails: MetaTxExchangeDetails {
            exchangeId: U256::from(exchange),
        },
    }
    .eip712_signing_hash(&domain());
    body(
        key,
        P::redeemVoucherCall::SIGNATURE,
        call.abi_encode(),
        nonce,
        digest,
    )
}

fn relayer_rule(mode: &str) -> RuleSpec {
    RuleSpec {
        mode: Some(mode.into()),
        ..rule("relayer")
    }
}

/// Core-sdk's nonce: `Date.now()` at signing.
const NONCE: u64 = 1_764_000_000_000;

#[tokio::test]
async fn a_relayed_commit_is_mined_and_its_receipt_is_under_the_hash_the_status_reports() {
    let s = Setup::start(Vec::new()).await;
    s.free_offer().await;
    let ready = s
        .relayer
        .req("GET", "/ready?apiKey=k&apiId=id1&contract=0x")
        .send()
        .await;
    assert_eq!(ready.ok(), json!({"ready": true}));
    let key = s.buyer();
    let r = s.relay(&commit_body(&key, NONCE)).await.ok();
    assert_eq!(r["log"], "Meta transaction sent to blockchain");
    assert_eq!(r["flag"], 200);
    assert!(r["retryDuration"].as_u64().is_some_and(|d| d >= 1), "{r}");
    let hash = r["txHash"].as_str().expect("txHash").to_string();
    // What core-sdk's wait() does: poll until not PENDING, then read newHash's receipt.
    let st = s.status(&hash).await.ok();
    assert_eq!(st["code"], 200);
    let data = &st["data"];
    assert_eq!(data["newStatus"], "CONFIRMED", "{st}");
    assert_eq!(data["oldHash"], hash.as_str());
    assert_eq!(
        data["newHash"],
        hash.as_str(),
        "not resubmitted: the same hash"
    );
    assert_eq!(data["retryCount"], 0);
    let relayer = s.boson().accounts.relayer.address();
    assert_eq!(data["relayerAddress"], format!("{relayer:#x}"));
    assert!(
        data["oldGasPrice"].is_string() && data["newGasPrice"].is_u64(),
        "{data}"
    );
    let receipt = s.receipt(data["newHash"].as_str().expect("newHash")).await;
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    assert_eq!(receipt["from"], format!("{relayer:#x}"), "the relayer pays");
    assert_eq!(
        receipt["effectiveGasPrice"],
        format!("{:#x}", data["newGasPrice"].as_u64().expect("price"))
    );
    // The same relayer on the shared port, under /relayer.
    let shared = format!("/relayer{STATUS}?networkId=31337&transactionHash={hash}");
    assert_eq!(s.twin.req("GET", &shared).send().await.ok(), st);
    let o = s.boson_oracle().await;
    assert_eq!(o["transitions"]["Committed"], 1);
    let rl = &o["relayer"];
    assert_eq!(
        (rl["submitted"].as_u64(), rl["mined"].as_u64()),
        (Some(1), Some(1)),
        "{rl}"
    );
    assert_eq!(rl["double_submissions"], 0);
}

#[tokio::test]
async fn never_mines_stays_pending_and_its_hash_never_appears() {
    let s = Setup::start(vec![relayer_rule("never_mines")]).await;
    s.free_offer().await;
    let r = s.relay(&commit_body(&s.buyer(), NONCE)).await.ok();
    let hash = r["txHash"].as_str().expect("txHash").to_string();
    // A client without a deadline of its own would poll for ever: a bounded few here.
    for _ in 0..5 {
        let st = s.status(&hash).await.ok();
        assert_eq!(st["data"]["newStatus"], "PENDING", "{st}");
        assert_eq!(st["data"]["newHash"], hash.as_str());
        s.twin.advance("1m").await;
    }
    assert_eq!(s.receipt(&hash).await, Value::Null);
    assert_eq!(
        s.rpc("eth_getTransactionByHash", json!([hash])).await,
        Value::Null
    );
    let o = s.boson_oracle().await;
    assert_eq!(o["relayer"]["never_mined"], 1);
    assert_eq!(o["relayer"]["by_mode"]["never_mines"], 1);
    assert_eq!(o["transitions"].get("Committed"), None, "nothing applied");
}

#[tokio::test]
async fn resubmit_changes_the_hash_and_the_old_one_never_gets_a_receipt() {
    let s = Setup::start(vec![relayer_rule("resubmit")]).await;
    s.free_offer().await;
    let r = s.relay(&commit_body(&s.buyer(), NONCE)).await.ok();
    let old = r["txHash"].as_str().expect("txHash").to_string();
    let st = s.status(&old).await.ok();
    let data = &st["data"];
    let new = data["newHash"].as_str().expect("newHash").to_string();
    assert_ne!(new, old);
    assert_eq!(data["oldHash"], old.as_str());
    assert_eq!(data["newStatus"], "CONFIRMED");
    assert_eq!(data["retryCount"], 1);
    let old_price: u64 = data["oldGasPrice"]
        .as_str()
        .expect("string")
        .parse()
        .expect("wei");
    assert!(
        data["newGasPrice"].as_u64().expect("number") > old_price,
        "{data}"
    );
    assert_eq!(s.receipt(&new).await["status"], "0x1");
    s.twin.advance("1m").await;
    assert_eq!(
        s.receipt(&old).await,
        Value::Null,
        "the first hash never confirms"
    );
    let o = s.boson_oracle().await;
    assert_eq!(o["relayer"]["resubmitted"], 1);
    assert_eq!(
        o["transitions"]["Committed"], 1,
        "applied once, under the new hash"
    );
}

/// Connect to `addr` until it refuses (`refused`) or accepts; false if it never did
/// within the bound.
async fn until_connect(addr: std::net::SocketAddr, refused: bool) -> bool {
    let deadline = tokio::time::Instant::now() + BOUND;
    while tokio::time::Instant::now() < deadline {
        let got = TcpStream::connect(addr).await;
        match got {
            Err(e) if refused && e.kind() == std::io::ErrorKind::ConnectionRefused => return true,
            Ok(_) if !refused => return true,
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    false
}

#[tokio::test]
async fn refuse_closes_the_relayers_listener_for_its_window_and_opens_it_again_after() {
    let refuse = RuleSpec {
        at: Some(Duration::from_secs(60)),
        for_: Some(Duration::from_secs(60)),
        ..relayer_rule("refuse")
    };
    let s = Setup::start(vec![refuse]).await;
    let ready = |t: &Twin, path: &str| t.req("GET", path).send();
    assert_eq!(ready(&s.relayer, "/ready").await.ok()["ready"], true);
    s.twin.advance("60s").await;
    assert!(
        until_connect(s.relayer.addr, true).await,
        "connection refused in the window"
    );
    // The shared port cannot stop listening: its /relayer prefix resets instead.
    assert!(matches!(
        s.twin.req("GET", "/relayer/ready").wire().await,
        Wire::Reset
    ));
    s.twin.advance("60s").await;
    assert!(
        until_connect(s.relayer.addr, false).await,
        "listening again after"
    );
    assert_eq!(ready(&s.relayer, "/ready").await.ok()["ready"], true);
    assert_eq!(ready(&s.twin, "/relayer/ready").await.ok()["ready"], true);
    let tape = s.twin.control("GET", "/_gauntlet/tape").send().await.ok();
    let methods: Vec<&str> = tape["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["kind"] == "relayer")
        .filter_map(|e| e["method"].as_str())
        .collect();
    assert_eq!(methods, ["LISTEN", "GET"], "{tape}");
    assert_eq!(s.boson_oracle().await["relayer"]["by_mode"]["refuse"], 2);
}

#[tokio::test]
async fn hang_holds_the_relay_until_its_window_ends_then_closes() {
    let hang = RuleSpec {
        for_: Some(Duration::from_secs(30)),
        ..relayer_rule("hang")
    };
    let s = Setup::start(vec![hang]).await;
    s.free_offer().await;
    let req = s
        .relayer
        .req("POST", RELAY)
        .header("x-api-key", "k")
        .json(&commit_body(&s.buyer(), NONCE));
    let held = tokio::spawn(req.wire());
    // Advance only once the relay is held (the tape says so), or it would come late.
    let deadline = tokio::time::Instant::now() + BOUND;
    loop {
        let tape = s.twin.control("GET", "/_gauntlet/tape").send().await.ok();
        let entries = tape["entries"].as_array().cloned().unwrap_or_default();
        if entries
            .iter()
            .any(|e| e["kind"] == "relayer" && e["method"] == "POST")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relay never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // /ready says the relayer is down meanwhile.
    assert_eq!(
        s.relayer.req("GET", "/ready").send().await.ok()["ready"],
        false
    );
    s.twin.advance("30s").await;
    assert!(matches!(held.await.expect("joined"), Wire::Closed));
    assert_eq!(s.boson_oracle().await["transitions"].get("Committed"), None);
}

/// One refusing mode: the rule's extra field, and the reply a client gets.
struct Case {
    mode: &'static str,
    edit: fn(&mut RuleSpec),
    status: u16,
    code: u64,
    retry_after: Option<&'static str>,
    says: &'static str,
}

#[rustfmt::skip]
fn refusing_modes() -> Vec<Case> {
    vec![
        Case { mode: "unavailable", edit: |r| r.retry_after = Some(5), status: 503, code: 503, retry_after: Some("5"), says: "Unavailable" },
        Case { mode: "rate_limited", edit: |r| r.retry_after = Some(3), status: 429, code: 429, retry_after: Some("3"), says: "Too many" },
        Case { mode: "limit_reached", edit: |_| {}, status: 409, code: 150, retry_after: None, says: "DApp limit reached" },
        Case { mode: "limit_reached", edit: |r| r.quota = Some("user".into()), status: 409, code: 151, retry_after: None, says: "User limit reached" },
        Case { mode: "limit_reached", edit: |r| r.quota = Some("api".into()), status: 409, code: 152, retry_after: None, says: "API limit reached" },
        Case { mode: "limit_reached", edit: |r| r.quota = Some("gas".into()), status: 409, code: 153, retry_after: None, says: "Gas limit reached" },
        Case { mode: "gas_estimation", edit: |_| {}, status: 417, code: 417, retry_after: None, says: "gas estimation" },
    ]
}

#[tokio::test]
async fn each_refusing_mode_answers_in_biconomys_shape() {
    for c in refusing_modes() {
        let mut rule = relayer_rule(c.mode);
        (c.edit)(&mut rule);
        let s = Setup::start(vec![rule]).await;
        s.free_offer().await;
        let r = s.relay(&commit_body(&s.buyer(), NONCE)).await;
        let v = r.json();
        assert_eq!(
            (r.status(), v["code"].as_u64()),
            (c.status, Some(c.code)),
            "{}: {v}",
            c.mode
        );
        assert_eq!(r.header("retry-after"), c.retry_after, "{}", c.mode);
        assert!(v.to_string().contains(c.says), "{}: {v}", c.mode);
        assert!(v.get("txHash").is_none(), "{}: nothing relayed", c.mode);
        if c.status == 417 {
            assert_eq!(v["flag"], 417);
        }
        let o = s.boson_oracle().await;
        assert_eq!(o["transitions"].get("Committed"), None, "{}", c.mode);
        assert_eq!(o["relayer"]["by_mode"][c.mode], 1, "{}", c.mode);
    }
}

#[tokio::test]
async fn nonce_error_applies_the_commit_but_answers_417_nonce_used_already() {
    let s = Setup::start(vec![relayer_rule("nonce_error")]).await;
    s.free_offer().await;
    let key = s.buyer();
    let r = s.relay(&commit_body(&key, NONCE)).await;
    assert_eq!(r.status(), 417);
    let v = r.json();
    assert_eq!(
        (v["code"].as_u64(), v["flag"].as_u64()),
        (Some(417), Some(417))
    );
    assert!(
        v["log"]
            .as_str()
            .is_some_and(|l| l.contains("NonceUsedAlready")),
        "{v}"
    );
    // The nonce is used on chain: the meta-transaction went through.
    let used = P::isUsedNonceCall {
        _associatedAddress: key.address(),
        _nonce: U256::from(NONCE),
    };
    let out = s
        .rpc(
            "eth_call",
            json!([{"to": DIAMOND, "data": Bytes::from(used.abi_encode())}, "latest"]),
        )
        .await;
    assert_eq!(out, format!("0x{:064x}", 1), "isUsedNonce");
    assert_eq!(s.boson_oracle().await["transitions"]["Committed"], 1);
}

#[tokio::test]
async fn bad_requests_get_biconomys_error_shape() {
    let s = Setup::start(Vec::new()).await;
    let key = s.buyer();
    let good = redeem_body(&key, 1, NONCE);
    let no_key = s.relayer.req("POST", RELAY).json(&good).send().await;
    assert_eq!(
        (no_key.status(), no_key.json()["code"].as_u64()),
        (401, Some(401))
    );
    for (field, value) in [
        ("to", json!("0x0000000000000000000000000000000000000001")),
        ("params", json!([])),
        ("from", json!(12)),
    ] {
        let mut b = good.clone();
        b[field] = value;
        let r = s.relay(&b).await;
        let v = r.json();
        assert_eq!(
            (r.status(), v["code"].as_u64()),
            (400, Some(400)),
            "{field}"
        );
        let message = v["message"].as_str().expect("message");
        assert!(
            message.starts_with(&format!("Invalid body - {field}:")),
            "{message}"
        );
    }
    // No exchange 1 yet: the relayer's estimate fails, nothing is sent.
    let r = s.relay(&good).await;
    assert_eq!(r.status(), 417);
    assert!(
        r.json()["log"]
            .as_str()
            .is_some_and(|l| l.contains("NoSuchExchange")),
        "{:?}",
        r.json()
    );
    let unknown = s.status(&format!("{:#x}", B256::repeat_byte(9))).await;
    assert_eq!(
        (unknown.status(), unknown.json()["code"].as_u64()),
        (404, Some(404))
    );
    let wrong = s.relayer.req("GET", RELAY).send().await;
    assert_eq!((wrong.status(), wrong.header("allow")), (405, Some("POST")));
    let o = s.boson_oracle().await;
    assert_eq!(o["relayer"]["estimation_refusals"], 1);
    assert_eq!(o["heads"]["latest"], 0, "nothing mined");
}

#[tokio::test]
async fn a_client_that_relays_then_sends_directly_is_counted_by_the_oracle() {
    let s = Setup::start(Vec::new()).await;
    s.free_offer().await;
    let key = s.buyer();
    let r = s.relay(&commit_body(&key, NONCE)).await.ok();
    assert!(r["txHash"].is_string());
    // A client that did not wait for the relay falls back to a direct commit: the
    // same intent applied twice, a second voucher.
    let commit = P::commitToOfferCall {
        _buyer: key.address(),
        _offerId: U256::from(FREE_OFFER),
    };
    let h = s.direct(&key, 0, commit.abi_encode(), U256::ZERO).await;
    assert_eq!(s.receipt(&h).await["status"], "0x1");
    // A relayed redeem, then the same redeem directly: refused (InvalidState).
    let r = s.relay(&redeem_body(&key, 1, NONCE + 1)).await.ok();
    assert!(r["txHash"].is_string());
    let redeem = P::redeemVoucherCall {
        _exchangeId: U256::from(1u64),
    };
    let h = s.direct(&key, 1, redeem.abi_encode(), U256::ZERO).await;
    assert_eq!(s.receipt(&h).await["status"], "0x0");
    // The relay replayed with the same nonce is refused at the relayer's estimate.
    let again = s.relay(&redeem_body(&key, 1, NONCE + 1)).await;
    assert_eq!(again.status(), 417);
    let o = s.boson_oracle().await;
    let rl = &o["relayer"];
    assert_eq!(rl["double_submissions"], 1, "{rl}");
    assert_eq!(rl["duplicate_refusals"], 1, "{rl}");
    assert_eq!(o["transitions"]["Committed"], 2);
}

#[tokio::test]
async fn a_configured_api_key_is_the_only_one_taken() {
    let mut c = util::config();
    c.boson.relayer_api_key = Some(gauntlet_mock::SecretString::new("relayer-key"));
    let s = Setup::with(c).await;
    s.free_offer().await;
    let body = commit_body(&s.buyer(), NONCE);
    let wrong = s
        .relayer
        .req("POST", RELAY)
        .header("x-api-key", "other")
        .json(&body);
    let wrong = wrong.send().await;
    assert_eq!(
        (wrong.status(), wrong.json()["code"].as_u64()),
        (401, Some(401))
    );
    assert_eq!(s.relay(&body).await.status(), 200, "the configured key");
}
