//! A transaction's admission to the pool, as a node checks it: decode, chain id,
//! sender, nonce, intrinsic gas, fee cap, balance. Refusals carry geth's words.

use std::sync::Arc;

use alloy::consensus::transaction::SignerRecoverable;
use alloy::consensus::{Transaction, TxEnvelope};
use alloy::eips::eip2718::Decodable2718;
use alloy::primitives::{Address, B256, Bytes, U256};

/// Gas every transaction pays before it runs (the yellow paper's G_transaction).
pub const INTRINSIC_GAS: u64 = 21_000;

/// A transaction a node refused, with geth's message (JSON-RPC -32000 unless noted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("rlp: {0}")]
    Decode(String),
    #[error("only replay-protected (EIP-155) transactions allowed over RPC")]
    Unprotected,
    #[error("invalid sender: invalid chain id for signer: have {have} want {want}")]
    ChainId { have: u64, want: u64 },
    #[error("invalid sender: {0}")]
    Sender(String),
    #[error("nonce too low: next nonce {next}, tx nonce {nonce}")]
    NonceTooLow { next: u64, nonce: u64 },
    #[error("intrinsic gas too low: gas {gas}, minimum needed {needed}")]
    IntrinsicGas { gas: u64, needed: u64 },
    #[error(
        "max fee per gas less than block base fee: address {from}, maxFeePerGas: {max_fee}, baseFee: {base_fee}"
    )]
    FeeCap {
        from: Address,
        max_fee: u128,
        base_fee: u128,
    },
    #[error(
        "insufficient funds for gas * price + value: balance {balance}, tx cost {cost}, overshot {overshot}"
    )]
    InsufficientFunds {
        balance: U256,
        cost: U256,
        overshot: U256,
    },
    #[error("already known")]
    AlreadyKnown,
    #[error("contract creation is not supported by the twin")]
    Create,
    #[error("txpool is full")]
    PoolFull,
}

/// A signed transaction with its recovered sender, as it waits in the pool and as
/// a block holds it.
#[derive(Debug, Clone)]
pub struct Signed {
    pub hash: B256,
    pub from: Address,
    pub envelope: TxEnvelope,
    /// The raw bytes as sent: a reorg re-mines exactly these.
    pub raw: Bytes,
}

impl Signed {
    pub fn nonce(&self) -> u64 {
        self.envelope.nonce()
    }

    pub fn to(&self) -> Option<Address> {
        self.envelope.to()
    }

    pub fn value(&self) -> U256 {
        self.envelope.value()
    }

    pub fn input(&self) -> &Bytes {
        self.envelope.input()
    }

    pub fn gas_limit(&self) -> u64 {
        self.envelope.gas_limit()
    }

    /// The price per gas this transaction pays at `base_fee`.
    pub fn effective_gas_price(&self, base_fee: u128) -> u128 {
        self.envelope
            .effective_gas_price(Some(base_fee.try_into().unwrap_or(u64::MAX)))
    }

    /// The most it may cost: gas limit at its fee cap, plus its value.
    pub fn max_cost(&self) -> U256 {
        U256::from(self.gas_limit()) * U256::from(self.envelope.max_fee_per_gas()) + self.value()
    }
}

/// Decode raw bytes (EIP-2718: legacy RLP or a typed envelope), check the chain id
/// and recover the sender.
pub fn decode(raw: &[u8], chain_id: u64) -> Result<Arc<Signed>, Refused> {
    let mut buf = raw;
    let envelope = TxEnvelope::decode_2718(&mut buf).map_err(|e| Refused::Decode(e.to_string()))?;
    if !buf.is_empty() {
        return Err(Refused::Decode("input contains more than one value".into()));
    }
    match envelope.chain_id() {
        None => return Err(Refused::Unprotected),
        Some(have) if have != chain_id => {
            return Err(Refused::ChainId {
                have,
                want: chain_id,
            });
        }
        Some(_) => {}
    }
    if envelope.to().is_none() {
        return Err(Refused::Create);
    }
    let from = envelope
        .recover_signer()
        .map_err(|e| Refused::Sender(e.to_string()))?;
    let needed = intrinsic_gas(envelope.input());
    if envelope.gas_limit() < needed {
        return Err(Refused::IntrinsicGas {
            gas: envelope.gas_limit(),
            needed,
        });
    }
    Ok(Arc::new(Signed {
        hash: *envelope.tx_hash(),
        from,
        envelope,
        raw: Bytes::copy_from_slice(raw),
    }))
}

/// Intrinsic gas of a call: the base plus 16 per non-zero and 4 per zero calldata byte.
pub fn intrinsic_gas(input: &[u8]) -> u64 {
    let nonzero = input.iter().filter(|b| **b != 0).count() as u64;
    INTRINSIC_GAS + 16 * nonzero + 4 * (input.len() as u64 - nonzero)
}
