//! Test helpers: a seeded Boson twin without a server, signed transactions, and
//! JSON-RPC calls straight into the handler.

use std::time::Duration;

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{Address, Bytes, TxKind, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use serde_json::{Value, json};

use super::accounts::Accounts;
use super::chain::ReorgOrder;
use super::config::{BosonConfig, GWEI};
use super::{Boson, ChainFaults, NoFaults, rpc};

/// Unix time at the test twin's start (twin time zero).
pub const START: f64 = 1_800_000_000.0;

/// A twin with blocks every `block_time` (zero: automine) and seed 7's accounts.
pub fn twin(block_time: Duration) -> Boson {
    let config = BosonConfig {
        block_time,
        ..BosonConfig::default()
    };
    Boson::new(
        config,
        Accounts::new(7, |_| None).expect("generated keys"),
        START,
        Duration::ZERO,
    )
}

/// Faults for tests: a reorg ordered for one block, and paused bits.
#[derive(Debug, Default)]
pub struct Scripted {
    pub reorg_at: Option<(u64, ReorgOrder)>,
    pub paused: u32,
    /// The subgraph's lag behind every block.
    pub lag: Duration,
}

impl ChainFaults for Scripted {
    fn after_block(&self, number: u64, _: Duration) -> super::BlockFaults {
        super::BlockFaults {
            reorg: self.reorg_at.filter(|(n, _)| *n == number).map(|(_, o)| o),
            upgrades: 0,
            index_lag: self.lag,
        }
    }

    fn paused_at(&self, _: Duration) -> u32 {
        self.paused
    }
}

/// An EIP-1559 transaction, signed and encoded as `eth_sendRawTransaction` takes it.
pub fn signed(
    key: &PrivateKeySigner,
    nonce: u64,
    to: Address,
    input: Vec<u8>,
    value: U256,
) -> Bytes {
    let tx = TxEip1559 {
        chain_id: super::config::CHAIN_ID,
        nonce,
        gas_limit: 500_000,
        max_fee_per_gas: 3 * GWEI,
        max_priority_fee_per_gas: GWEI,
        to: TxKind::Call(to),
        value,
        input: input.into(),
        access_list: Default::default(),
    };
    let sig = key
        .sign_hash_sync(&tx.signature_hash())
        .expect("signing works");
    TxEnvelope::from(tx.into_signed(sig)).encoded_2718().into()
}

/// A legacy transaction for `chain_id` (`None`: unprotected, pre-EIP-155).
pub fn legacy(key: &PrivateKeySigner, nonce: u64, to: Address, chain_id: Option<u64>) -> Bytes {
    let tx = TxLegacy {
        chain_id,
        nonce,
        gas_price: 3 * GWEI,
        gas_limit: 100_000,
        to: TxKind::Call(to),
        value: U256::from(1u64),
        input: Bytes::new(),
    };
    let sig = key
        .sign_hash_sync(&tx.signature_hash())
        .expect("signing works");
    TxEnvelope::from(tx.into_signed(sig)).encoded_2718().into()
}

/// One JSON-RPC call at twin time `now`: its `result`, or its `error` object.
pub fn rpc_at(
    boson: &Boson,
    now: Duration,
    faults: &dyn ChainFaults,
    method: &str,
    params: Value,
) -> Result<Value, Value> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let env = rpc::Env { boson, now, faults };
    let (out, _) = rpc::handle(env, body.to_string().as_bytes());
    match out.get("error") {
        Some(e) => Err(e.clone()),
        None => Ok(out["result"].clone()),
    }
}

/// One call with no faults.
pub fn rpc(boson: &Boson, now: Duration, method: &str, params: Value) -> Result<Value, Value> {
    rpc_at(boson, now, &NoFaults, method, params)
}

/// Buyer `buyer`'s commit to the known offer, signed with `nonce`, paying its price.
pub fn commit(b: &Boson, buyer: usize, nonce: u64) -> Bytes {
    use alloy::sol_types::SolCall;
    let key = &b.accounts.buyers[buyer].signer;
    let input = super::abi::IBosonProtocol::commitToOfferCall {
        _buyer: key.address(),
        _offerId: U256::from(b.config.known_offer),
    }
    .abi_encode();
    signed(key, nonce, b.config.diamond, input, b.config.offer_price)
}
