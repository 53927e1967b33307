//! Transactions the twin signs itself (the owner's upgrades), encoded as a client
//! would send them, so they take the same path through the pool as anyone's.

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{Address, Bytes, TxKind, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;

use super::ChainConfig;

/// Gas limit of the twin's own transactions.
pub const OWN_GAS: u64 = 300_000;

/// An EIP-1559 call from `key` to `to`, paying twice the base fee plus the tip.
pub fn eip1559(
    key: &PrivateKeySigner,
    config: &ChainConfig,
    nonce: u64,
    to: Address,
    input: Vec<u8>,
) -> Bytes {
    eip1559_value(key, config, nonce, to, input, U256::ZERO)
}

/// The same, carrying `value` wei.
pub fn eip1559_value(
    key: &PrivateKeySigner,
    config: &ChainConfig,
    nonce: u64,
    to: Address,
    input: Vec<u8>,
    value: U256,
) -> Bytes {
    let tx = TxEip1559 {
        chain_id: config.chain_id,
        nonce,
        gas_limit: OWN_GAS,
        max_fee_per_gas: 2 * config.base_fee + config.priority_fee,
        max_priority_fee_per_gas: config.priority_fee,
        to: TxKind::Call(to),
        value,
        input: input.into(),
        access_list: Default::default(),
    };
    match key.sign_hash_sync(&tx.signature_hash()) {
        Ok(sig) => TxEnvelope::from(tx.into_signed(sig)).encoded_2718().into(),
        // A local key over a 32-byte hash does not fail; an empty body is refused
        // by the decoder, never mined.
        Err(_) => Bytes::new(),
    }
}
