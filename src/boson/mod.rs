//! A Boson Protocol client for the harness: [`rpc`] (paced JSON-RPC), signed
//! transactions, reverts by name, confirmations, and the subgraph's head. The
//! smoke test walks a known offer with it; the same steps serve the lifecycle load.
//!
//! Every wait is bounded by a deadline; nothing here retries a transaction (a
//! second send of the same intent is a double submission).

pub mod lifecycle;
pub mod relay;
pub mod rpc;

use std::time::{Duration, Instant};

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolEvent};
use gauntlet_mock::boson::abi::IBosonProtocol as P;
use serde_json::{Value, json};

pub use rpc::{Rpc, RpcError};

/// Gas limit of a protocol call (the twin charges 120,000 plus calldata; a real
/// diamond call is well under this).
pub const GAS_LIMIT: u64 = 500_000;

/// The name of a mined revert whose replay succeeds (the state it met has passed).
pub const SUCCEEDS_NOW: &str = "reverted when mined; succeeds now";

/// Why a step did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("reverted: {0}")]
    Reverted(String),
    #[error("{0}")]
    Rpc(String),
    #[error("not mined within {0:?}")]
    NotMined(Duration),
    #[error(
        "{confirmations} confirmations not reached within {waited:?} (head {head}, block {block})"
    )]
    NotConfirmed {
        confirmations: u64,
        waited: Duration,
        head: u64,
        block: u64,
    },
    #[error("the subgraph indexed block {indexed}, not {wanted}, within {waited:?}")]
    SubgraphBehind {
        indexed: u64,
        wanted: u64,
        waited: Duration,
    },
    #[error("{0}")]
    Refused(String),
}

impl From<RpcError> for StepError {
    fn from(e: RpcError) -> Self {
        match e.revert_name() {
            Some(name) => StepError::Reverted(name),
            None => StepError::Rpc(e.to_string()),
        }
    }
}

/// A mined, confirmed transaction.
#[derive(Debug, Clone)]
pub struct Mined {
    pub hash: B256,
    pub block: u64,
    pub logs: Vec<alloy::primitives::Log>,
    /// Wei paid for gas.
    pub fee: U256,
    /// From when the wait began (right after sending) to the receipt, and to the
    /// confirmations.
    pub receipt_after: Duration,
    pub confirmed_after: Duration,
}

/// The client.
#[derive(Debug)]
pub struct Client {
    pub rpc: Rpc,
    pub subgraph: Option<String>,
    pub diamond: Address,
    pub chain_id: u64,
    pub confirmations: u64,
    /// The bound on each wait (mining, confirmations, indexing).
    pub deadline: Duration,
    /// How often a wait polls.
    pub poll: Duration,
}

impl Client {
    /// Call the diamond from `from`: the result, or the revert by name.
    pub async fn view(&self, from: Address, input: &[u8]) -> Result<Bytes, StepError> {
        Ok(self
            .rpc
            .eth_call(from, self.diamond, input, U256::ZERO)
            .await?)
    }

    /// Send `input` to the diamond from `key` with `value`: checked first with
    /// `eth_call` (a revert is refused by name before anything is sent), then signed,
    /// sent once, and waited for until mined and confirmed.
    pub async fn transact(
        &self,
        key: &PrivateKeySigner,
        input: Vec<u8>,
        value: U256,
    ) -> Result<Mined, StepError> {
        self.rpc
            .eth_call(key.address(), self.diamond, &input, value)
            .await?;
        let mined = self.send_landed(key, input, value).await?;
        let started = Instant::now() - mined.receipt_after;
        self.confirmed(mined.block).await?;
        Ok(Mined {
            confirmed_after: started.elapsed(),
            ..mined
        })
    }

    /// Sign and send `input` once (no check first), and wait for its receipt (not
    /// for confirmations: `confirmed_after` is the receipt's time). A revert is
    /// named by replaying the call.
    pub async fn send_landed(
        &self,
        key: &PrivateKeySigner,
        input: Vec<u8>,
        value: U256,
    ) -> Result<Mined, StepError> {
        let replay = input.clone();
        let hash = self.send(key, input, value).await?;
        self.landed_named(hash, key.address(), &replay, value).await
    }

    /// [`Client::landed`], a revert named by replaying the call (`from`, `input`,
    /// `value`): mined but reverted, the state moved between the check and the
    /// block. A replay that succeeds is named [`SUCCEEDS_NOW`].
    pub async fn landed_named(
        &self,
        hash: B256,
        from: Address,
        input: &[u8],
        value: U256,
    ) -> Result<Mined, StepError> {
        match self.landed(hash).await {
            Err(StepError::Reverted(plain)) => {
                let name = match self.rpc.eth_call(from, self.diamond, input, value).await {
                    Ok(_) => Some(SUCCEEDS_NOW.to_string()),
                    Err(e) => e.revert_name(),
                };
                Err(StepError::Reverted(name.unwrap_or(plain)))
            }
            other => other,
        }
    }

    /// Sign `input` for the diamond with `key`'s next nonce and send it: its hash.
    pub async fn send(
        &self,
        key: &PrivateKeySigner,
        input: Vec<u8>,
        value: U256,
    ) -> Result<B256, StepError> {
        let from = key.address();
        let nonce = self.rpc.nonce(from).await?;
        let gas_price = self.rpc.gas_price().await?;
        // The node's own suggestion (a chain's minimum tip, e.g. Polygon's, is in it).
        let tip = self
            .rpc
            .max_priority_fee()
            .await
            .unwrap_or(gas_price / 2)
            .max(1);
        let tx = TxEip1559 {
            chain_id: self.chain_id,
            nonce,
            gas_limit: GAS_LIMIT,
            max_fee_per_gas: gas_price * 2 + tip,
            max_priority_fee_per_gas: tip,
            to: TxKind::Call(self.diamond),
            value,
            input: input.into(),
            access_list: Default::default(),
        };
        let sig = key
            .sign_hash_sync(&tx.signature_hash())
            .map_err(|e| StepError::Refused(format!("cannot sign: {e}")))?;
        let raw: Bytes = TxEnvelope::from(tx.into_signed(sig)).encoded_2718().into();
        Ok(self.rpc.send_raw(&raw).await?)
    }

    /// Wait (bounded) for `hash` to be mined and confirmed.
    pub async fn mined(&self, hash: B256) -> Result<Mined, StepError> {
        let started = Instant::now();
        let mined = self.landed(hash).await?;
        self.confirmed(mined.block).await?;
        Ok(Mined {
            confirmed_after: started.elapsed(),
            ..mined
        })
    }

    /// Wait (bounded) for `hash`'s receipt; a reverted one is an error.
    pub async fn landed(&self, hash: B256) -> Result<Mined, StepError> {
        let started = Instant::now();
        let receipt = self.receipt(hash).await?;
        let receipt_after = started.elapsed();
        if receipt["status"] != "0x1" {
            return Err(StepError::Reverted(format!("transaction {hash} reverted")));
        }
        let used = U256::from(rpc::quantity(&receipt["gasUsed"]));
        let price = U256::from(rpc::quantity(&receipt["effectiveGasPrice"]));
        Ok(Mined {
            hash,
            block: rpc::quantity(&receipt["blockNumber"]),
            logs: logs_of(&receipt),
            fee: used * price,
            receipt_after,
            confirmed_after: receipt_after,
        })
    }

    async fn receipt(&self, hash: B256) -> Result<Value, StepError> {
        let started = Instant::now();
        loop {
            if let Some(r) = self.rpc.receipt(hash).await? {
                return Ok(r);
            }
            if started.elapsed() > self.deadline {
                return Err(StepError::NotMined(self.deadline));
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Wait until `block` has the confirmations (its own included).
    pub async fn confirmed(&self, block: u64) -> Result<u64, StepError> {
        let started = Instant::now();
        loop {
            let head = self.rpc.block_number().await?;
            if head + 1 >= block + self.confirmations {
                return Ok(head);
            }
            if started.elapsed() > self.deadline {
                return Err(StepError::NotConfirmed {
                    confirmations: self.confirmations,
                    waited: self.deadline,
                    head,
                    block,
                });
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// The block the subgraph has indexed (`_meta.block.number`).
    pub async fn subgraph_head(&self) -> Result<Option<u64>, StepError> {
        let Some(url) = &self.subgraph else {
            return Ok(None);
        };
        let body = json!({"query": "{ _meta { block { number } } }"});
        let v = self
            .rpc
            .post_json(url, &body)
            .await
            .map_err(|e| StepError::Rpc(format!("subgraph: {e}")))?;
        match v["data"]["_meta"]["block"]["number"].as_u64() {
            Some(n) => Ok(Some(n)),
            None => Err(StepError::Rpc(format!("subgraph: no _meta in {v}"))),
        }
    }

    /// Wait until the subgraph has indexed `block` (core-sdk's
    /// `waitForGraphNodeIndexing`); no subgraph configured, no wait.
    pub async fn indexed(&self, block: u64) -> Result<Option<u64>, StepError> {
        let started = Instant::now();
        loop {
            let Some(indexed) = self.subgraph_head().await? else {
                return Ok(None);
            };
            if indexed >= block {
                return Ok(Some(indexed));
            }
            if started.elapsed() > self.deadline {
                return Err(StepError::SubgraphBehind {
                    indexed,
                    wanted: block,
                    waited: self.deadline,
                });
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// The regions paused now, by name.
    pub async fn paused_regions(&self, from: Address) -> Result<Vec<String>, StepError> {
        let out = self
            .view(from, &P::getPausedRegionsCall {}.abi_encode())
            .await?;
        let regions = P::getPausedRegionsCall::abi_decode_returns(&out)
            .map_err(|e| StepError::Rpc(format!("getPausedRegions: {e}")))?;
        Ok(regions
            .iter()
            .map(|r| {
                gauntlet_mock::boson::protocol::REGIONS
                    .get(usize::from(*r))
                    .map_or_else(|| format!("region {r}"), |n| n.to_string())
            })
            .collect())
    }

    /// An offer's price, if it exists and is not voided.
    pub async fn offer_price(&self, from: Address, id: u64) -> Result<U256, StepError> {
        let call = P::getOfferCall {
            _offerId: U256::from(id),
        };
        let out = self.view(from, &call.abi_encode()).await?;
        let r = P::getOfferCall::abi_decode_returns(&out)
            .map_err(|e| StepError::Rpc(format!("getOffer: {e}")))?;
        if !r.exists {
            return Err(StepError::Refused(format!("offer {id} does not exist")));
        }
        if r.offer.voided {
            return Err(StepError::Refused(format!("offer {id} is voided")));
        }
        Ok(r.offer.price)
    }
}

/// The receipt's logs as primitives (address, topics, data).
fn logs_of(receipt: &Value) -> Vec<alloy::primitives::Log> {
    receipt["logs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| serde_json::from_value::<alloy::rpc::types::eth::Log>(l.clone()).ok())
        .map(|l| l.inner)
        .collect()
}

/// The exchange and buyer ids of the `BuyerCommitted` in `logs`.
pub fn committed(logs: &[alloy::primitives::Log]) -> Option<(u64, u64)> {
    logs.iter().find_map(|l| {
        let e = P::BuyerCommitted::decode_log(l).ok()?;
        Some((
            u64::try_from(e.exchangeId).ok()?,
            u64::try_from(e.buyerId).ok()?,
        ))
    })
}

/// The protocol calls of a walk, encoded.
pub mod calls {
    use super::*;

    pub fn commit(buyer: Address, offer: u64) -> Vec<u8> {
        P::commitToOfferCall {
            _buyer: buyer,
            _offerId: U256::from(offer),
        }
        .abi_encode()
    }

    pub fn redeem(exchange: u64) -> Vec<u8> {
        P::redeemVoucherCall {
            _exchangeId: U256::from(exchange),
        }
        .abi_encode()
    }

    pub fn complete(exchange: u64) -> Vec<u8> {
        P::completeExchangeCall {
            _exchangeId: U256::from(exchange),
        }
        .abi_encode()
    }

    pub fn raise_dispute(exchange: u64) -> Vec<u8> {
        P::raiseDisputeCall {
            _exchangeId: U256::from(exchange),
        }
        .abi_encode()
    }

    pub fn retract_dispute(exchange: u64) -> Vec<u8> {
        P::retractDisputeCall {
            _exchangeId: U256::from(exchange),
        }
        .abi_encode()
    }

    /// Everything available to `entity` (empty lists: every token, every amount).
    pub fn withdraw_all(entity: u64) -> Vec<u8> {
        P::withdrawFundsCall {
            _entityId: U256::from(entity),
            _tokenList: Vec::new(),
            _tokenAmounts: Vec::new(),
        }
        .abi_encode()
    }
}
