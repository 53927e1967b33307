//! Submission through the meta-transaction relayer (Biconomy's API, as core-sdk
//! calls it), with the fallback a correct client has: when the relayer is not
//! ready or refuses before it accepts, the same intent goes directly through
//! JSON-RPC; once the relayer has accepted it, never (that would apply the intent
//! twice), and the wait for it is bounded, unlike core-sdk's.
//!
//! The EIP-712 structs are declared here from core-sdk's `meta-tx/handler.ts`, not
//! borrowed from the twin, so a twin that drifted from core-sdk would fail.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{Eip712Domain, SolStruct};
use gauntlet_mock::SecretString;
use serde_json::{Value, json};

use super::{Client, Mined, StepError};

alloy::sol! {
    struct MetaTxExchangeDetails { uint256 exchangeId; }
    struct MetaTxExchange {
        uint256 nonce; address from; address contractAddress; string functionName;
        MetaTxExchangeDetails exchangeDetails;
    }
    struct MetaTransaction {
        uint256 nonce; address from; address contractAddress; string functionName;
        bytes functionSignature;
    }
    struct MetaTxFundDetails { uint256 entityId; address[] tokenList; uint256[] tokenAmounts; }
    struct MetaTxFund {
        uint256 nonce; address from; address contractAddress; string functionName;
        MetaTxFundDetails fundDetails;
    }
}

/// What a relayed call is about: the struct core-sdk signs for it.
#[derive(Debug, Clone)]
pub enum Intent {
    /// `redeemVoucher`, `completeExchange`, `raiseDispute`, `retractDispute`, ...
    Exchange(u64),
    /// `withdrawFunds(entityId, tokens, amounts)`.
    Funds(u64, Vec<Address>, Vec<U256>),
    /// Any other allowed call (`revokeVoucher`, ...): the generic struct, which
    /// signs the calldata itself.
    Call(Vec<u8>),
}

/// How a step's transaction went in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Relayer,
    /// Directly, and why not through the relayer.
    Direct(String),
}

/// The relayer.
#[derive(Debug)]
pub struct Relayer {
    pub base: String,
    pub api_key: SecretString,
    pub api_id: String,
    /// Fall back to direct submission when the relayer is down.
    pub fallback: bool,
    http: reqwest::Client,
    nonce: AtomicU64,
    /// Not asked again before this: it answered 429 or 503 (for its `Retry-After`,
    /// else a second) or could not be reached (a second).
    rest_until: std::sync::Mutex<Option<Instant>>,
}

/// How long a refusal without `Retry-After` keeps the relayer out of use.
pub const REST: Duration = Duration::from_secs(1);

impl Relayer {
    pub fn new(base: &str, api_key: SecretString, api_id: &str, fallback: bool) -> Self {
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Self {
            base: base.trim_end_matches('/').to_string(),
            api_key,
            api_id: api_id.to_string(),
            fallback,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
            // core-sdk's nonce is `Date.now()` at signing; distinct per call here.
            nonce: AtomicU64::new(start),
            rest_until: std::sync::Mutex::new(None),
        }
    }

    /// Leave the relayer alone for `r`'s `Retry-After` (else [`REST`]).
    fn rest(&self, r: Option<&reqwest::Response>) {
        let advised = r
            .and_then(|r| r.headers().get(reqwest::header::RETRY_AFTER))
            .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let until = Instant::now() + advised.unwrap_or(REST).min(Duration::from_secs(300));
        let mut rest = self.rest_until.lock().unwrap_or_else(|e| e.into_inner());
        *rest = Some(rest.map_or(until, |r| r.max(until)));
    }

    /// Still resting: until when.
    fn resting(&self) -> Option<Instant> {
        let rest = *self.rest_until.lock().unwrap_or_else(|e| e.into_inner());
        rest.filter(|r| *r > Instant::now())
    }

    /// `GET /ready`: false on any failure (core-sdk's `check()`).
    pub async fn ready(&self, c: &Client) -> Result<(), String> {
        c.rpc.slot().await;
        let url = format!(
            "{}/ready?apiKey={}&apiId={}&contract={:#x}",
            self.base,
            self.api_key.expose(),
            self.api_id,
            c.diamond
        );
        match traced(self.http.get(&url), c).send().await {
            Ok(r) if r.status().is_success() => match r.json::<Value>().await {
                Ok(v) if v["ready"] == true => Ok(()),
                Ok(v) => Err(format!("/ready answered {v}")),
                Err(e) => Err(format!("/ready: {}", without_url(&e))),
            },
            Ok(r) => {
                if matches!(r.status().as_u16(), 429 | 503) {
                    self.rest(Some(&r));
                }
                Err(format!("/ready: HTTP {}", r.status()))
            }
            // The URL carries the key: say what failed, not where.
            Err(e) => {
                if e.is_connect() {
                    self.rest(None);
                }
                Err(format!("/ready: {}", without_url(&e)))
            }
        }
    }

    /// Send `inner` (function `name`) for `key` through the relayer, or directly
    /// when it is down and fallback is on; wait until mined and confirmed.
    pub async fn transact(
        &self,
        c: &Client,
        key: &PrivateKeySigner,
        name: &str,
        inner: Vec<u8>,
        intent: Intent,
    ) -> Result<(Mined, Route), StepError> {
        // Checked first, like any step: a revert is named and nothing is sent.
        c.rpc
            .eth_call(key.address(), c.diamond, &inner, U256::ZERO)
            .await?;
        let down = match self.submit(c, key, name, &inner, &intent).await? {
            Submitted::Relayed(hash) => {
                return self.follow(c, hash).await.map(|m| (m, Route::Relayer));
            }
            Submitted::Down(why) => why,
            Submitted::Ambiguous(e) => return Err(e),
        };
        if !self.fallback {
            return Err(StepError::Refused(format!(
                "{down}; smoke.relayer_fallback is off"
            )));
        }
        let mined = c.transact(key, inner, U256::ZERO).await?;
        Ok((mined, Route::Direct(down)))
    }

    /// Hand `inner` to the relayer once (after `/ready`): what became of it. A
    /// revert or a signing failure is an error.
    pub async fn submit(
        &self,
        c: &Client,
        key: &PrivateKeySigner,
        name: &str,
        inner: &[u8],
        intent: &Intent,
    ) -> Result<Submitted, StepError> {
        if let Some(until) = self.resting() {
            let left = until.saturating_duration_since(Instant::now());
            return Ok(Submitted::Down(format!(
                "the relayer asked to be left alone for {left:.1?} more"
            )));
        }
        if let Err(why) = self.ready(c).await {
            return Ok(Submitted::Down(format!("relayer not ready: {why}")));
        }
        match self.relay(c, key, name, inner, intent).await {
            Ok(hash) => Ok(Submitted::Relayed(hash)),
            Err(Refusal::Before(why)) => Ok(Submitted::Down(why)),
            Err(Refusal::Maybe(e)) => Ok(Submitted::Ambiguous(e)),
            Err(Refusal::After(e)) => Err(e),
        }
    }

    async fn relay(
        &self,
        c: &Client,
        key: &PrivateKeySigner,
        name: &str,
        inner: &[u8],
        intent: &Intent,
    ) -> Result<B256, Refusal> {
        let nonce = self.nonce.fetch_add(1, Ordering::Relaxed);
        let digest = digest(c, key.address(), name, nonce, intent);
        let sig = key
            .sign_hash_sync(&digest)
            .map_err(|e| Refusal::After(StepError::Refused(format!("cannot sign: {e}"))))?;
        let user = key.address().to_checksum(None);
        let body = json!({
            "to": c.diamond.to_checksum(None),
            "params": [user, name, Bytes::copy_from_slice(inner), nonce, Bytes::from(sig.as_bytes().to_vec())],
            "from": user,
            "apiId": self.api_id,
        });
        c.rpc.slot().await;
        let post = self
            .http
            .post(format!("{}/api/v2/meta-tx/native", self.base));
        let r = traced(post, c)
            .header("x-api-key", self.api_key.expose())
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                let why = without_url(&e);
                if e.is_connect() {
                    // Nothing reached it: sending directly applies the intent once.
                    Refusal::Before(format!("relayer unreachable: {why}"))
                } else {
                    Refusal::Maybe(maybe_accepted(&why))
                }
            })?;
        let status = r.status().as_u16();
        if matches!(status, 429 | 503) {
            self.rest(Some(&r));
        }
        let v: Value = r.json().await.unwrap_or(Value::Null);
        match v["txHash"].as_str().and_then(|h| h.parse().ok()) {
            Some(hash) if (200..300).contains(&status) => Ok(hash),
            // 417: its estimate reverted. The intent is wrong, not the relayer.
            // 417 NonceUsedAlready: its own retry met the nonce its first attempt
            // used, so that attempt was sent.
            _ if status == 417 && v.to_string().contains("NonceUsedAlready") => {
                Err(Refusal::Maybe(maybe_accepted(&format!("HTTP 417 {v}"))))
            }
            _ if status == 417 => Err(Refusal::After(StepError::Reverted(
                v["log"]
                    .as_str()
                    .unwrap_or("gas estimation failed")
                    .to_string(),
            ))),
            // A refusal it answered itself (auth, limits, rate, unavailable):
            // nothing was sent.
            _ if (400..500).contains(&status) || status == 503 => Err(Refusal::Before(format!(
                "relayer refused: HTTP {status} {v}"
            ))),
            // A 2xx without a hash, a 500, a gateway's 502/504: it may have sent it.
            _ => Err(Refusal::Maybe(maybe_accepted(&format!(
                "HTTP {status} {v}"
            )))),
        }
    }

    /// Poll the resubmitted status (bounded) and wait for the final hash's receipt
    /// and confirmations.
    pub async fn follow(&self, c: &Client, hash: B256) -> Result<Mined, StepError> {
        let h = self.final_hash(c, hash).await?;
        c.mined(h).await
    }

    /// The hash the relayed transaction was finally mined under (the relayer may
    /// replace it with a higher fee), polled within the client's deadline.
    pub async fn final_hash(&self, c: &Client, hash: B256) -> Result<B256, StepError> {
        let started = Instant::now();
        let url = format!(
            "{}/api/v1/meta-tx/resubmitted?networkId={}&transactionHash={hash:#x}",
            self.base, c.chain_id
        );
        let final_hash = loop {
            // While the relayer rests (it answered 429 or 503), the chain is asked
            // instead: the hash it answered is final unless it replaced it.
            if self.resting().is_some() {
                if c.rpc.receipt(hash).await.ok().flatten().is_some() {
                    break hash;
                }
            } else {
                c.rpc.slot().await;
                let v: Value = match traced(self.http.get(&url), c).send().await {
                    Ok(r) if r.status().is_success() => r.json().await.unwrap_or(Value::Null),
                    Ok(r) => {
                        if matches!(r.status().as_u16(), 429 | 503) {
                            self.rest(Some(&r));
                        }
                        Value::Null
                    }
                    Err(e) => {
                        if e.is_connect() {
                            self.rest(None);
                        }
                        Value::Null
                    }
                };
                let data = &v["data"];
                if data["newStatus"].as_str().is_some_and(|s| s != "PENDING")
                    && let Some(h) = data["newHash"].as_str().and_then(|h| h.parse().ok())
                {
                    break h;
                }
            }
            if started.elapsed() > c.deadline {
                return Err(StepError::Refused(format!(
                    "the relayer accepted {hash:#x} and it was not mined within {:?}; not sent again directly (that would apply it twice)",
                    c.deadline
                )));
            }
            tokio::time::sleep(c.poll).await;
        };
        Ok(final_hash)
    }
}

/// The request with the client's `traceparent`, if it traces.
fn traced(req: reqwest::RequestBuilder, c: &Client) -> reqwest::RequestBuilder {
    match c.rpc.traceparent() {
        Some(tp) => req.header("traceparent", tp),
        None => req,
    }
}

/// What became of a call handed to the relayer.
#[derive(Debug)]
pub enum Submitted {
    /// It took it: the hash to follow.
    Relayed(B256),
    /// It refused before taking it, or could not be reached: sending directly
    /// applies the intent once.
    Down(String),
    /// It may have sent it (a timeout, a 5xx after accepting): sending again
    /// directly could apply it twice.
    Ambiguous(StepError),
}

/// Why a relay did not happen.
enum Refusal {
    /// Refused before accepting anything: a fallback is safe.
    Before(String),
    /// Not a relayer outage (a revert, a signing failure): no fallback.
    After(StepError),
    /// It may have taken it: no fallback.
    Maybe(StepError),
}

/// The relayer may have sent the transaction: no fallback, the step fails.
fn maybe_accepted(why: &str) -> StepError {
    StepError::Refused(format!(
        "the relayer may have sent it ({why}); not sent again directly (that could apply it twice)"
    ))
}

/// A reqwest error without its URL (which may carry the API key).
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(u.as_str(), "<relayer>");
    }
    s
}

/// The EIP-712 digest core-sdk signs for `intent`.
fn digest(c: &Client, from: Address, name: &str, nonce: u64, intent: &Intent) -> B256 {
    let domain = Eip712Domain::new(
        Some("Boson Protocol".into()),
        Some("V2".into()),
        None,
        Some(c.diamond),
        Some(B256::from(U256::from(c.chain_id))),
    );
    match intent {
        Intent::Exchange(id) => MetaTxExchange {
            nonce: U256::from(nonce),
            from,
            contractAddress: c.diamond,
            functionName: name.to_string(),
            exchangeDetails: MetaTxExchangeDetails {
                exchangeId: U256::from(*id),
            },
        }
        .eip712_signing_hash(&domain),
        Intent::Funds(entity, tokens, amounts) => MetaTxFund {
            nonce: U256::from(nonce),
            from,
            contractAddress: c.diamond,
            functionName: name.to_string(),
            fundDetails: MetaTxFundDetails {
                entityId: U256::from(*entity),
                tokenList: tokens.clone(),
                tokenAmounts: amounts.clone(),
            },
        }
        .eip712_signing_hash(&domain),
        Intent::Call(input) => MetaTransaction {
            nonce: U256::from(nonce),
            from,
            contractAddress: c.diamond,
            functionName: name.to_string(),
            functionSignature: Bytes::copy_from_slice(input),
        }
        .eip712_signing_hash(&domain),
    }
}
