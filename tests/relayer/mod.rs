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

mod modes;

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
