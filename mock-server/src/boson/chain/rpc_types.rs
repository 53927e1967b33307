//! The chain's records in the shapes Ethereum JSON-RPC returns them, built from
//! alloy's RPC types so the wire format is the one every client already parses.

use alloy::consensus::transaction::Recovered;
use alloy::consensus::{Eip658Value, Receipt, ReceiptEnvelope, ReceiptWithBloom, TxType};
use alloy::primitives::{Address, Bloom, Log as PrimLog};
use alloy::rpc::types::eth::{
    Block as RpcBlock, BlockTransactions, Header as RpcHeader, Log, Transaction, TransactionReceipt,
};

use super::{Block, MinedTx};

/// The logs of one mined transaction, with their block positions.
pub fn tx_logs(block: &Block, m: &MinedTx, address: Address, removed: bool) -> Vec<Log> {
    m.effect
        .logs
        .iter()
        .enumerate()
        .map(|(i, data)| Log {
            inner: PrimLog {
                address,
                data: data.clone(),
            },
            block_hash: Some(block.hash),
            block_number: Some(block.number()),
            block_timestamp: Some(block.timestamp()),
            transaction_hash: Some(m.tx.hash),
            transaction_index: Some(m.index),
            log_index: Some(m.first_log + i as u64),
            removed,
        })
        .collect()
}

/// Every log of a block, in order.
pub fn block_logs(block: &Block, address: Address, removed: bool) -> Vec<Log> {
    block
        .txs
        .iter()
        .flat_map(|m| tx_logs(block, m, address, removed))
        .collect()
}

/// A mined transaction as `eth_getTransactionByHash` returns it.
pub fn transaction(block: &Block, m: &MinedTx) -> Transaction {
    Transaction {
        inner: Recovered::new_unchecked(m.tx.envelope.clone(), m.tx.from),
        block_hash: Some(block.hash),
        block_number: Some(block.number()),
        transaction_index: Some(m.index),
        effective_gas_price: Some(m.effect.gas_price),
        block_timestamp: None,
    }
}

/// A pooled (unmined) transaction.
pub fn pending_transaction(tx: &super::Signed) -> Transaction {
    Transaction {
        inner: Recovered::new_unchecked(tx.envelope.clone(), tx.from),
        block_hash: None,
        block_number: None,
        transaction_index: None,
        effective_gas_price: None,
        block_timestamp: None,
    }
}

/// A mined transaction's receipt.
pub fn receipt(block: &Block, m: &MinedTx, address: Address) -> TransactionReceipt {
    let logs = tx_logs(block, m, address, false);
    let mut bloom = Bloom::default();
    for log in &logs {
        bloom.accrue_raw_log(log.inner.address, log.inner.data.topics());
    }
    let inner = ReceiptWithBloom {
        receipt: Receipt {
            status: Eip658Value::Eip658(m.effect.success),
            cumulative_gas_used: m.cumulative_gas,
            logs,
        },
        logs_bloom: bloom,
    };
    let envelope = match m.tx.envelope.tx_type() {
        TxType::Legacy => ReceiptEnvelope::Legacy(inner),
        TxType::Eip2930 => ReceiptEnvelope::Eip2930(inner),
        TxType::Eip4844 => ReceiptEnvelope::Eip4844(inner),
        TxType::Eip7702 => ReceiptEnvelope::Eip7702(inner),
        TxType::Eip1559 => ReceiptEnvelope::Eip1559(inner),
    };
    TransactionReceipt {
        inner: envelope,
        transaction_hash: m.tx.hash,
        transaction_index: Some(m.index),
        block_hash: Some(block.hash),
        block_number: Some(block.number()),
        gas_used: m.effect.gas_used,
        effective_gas_price: m.effect.gas_price,
        blob_gas_used: None,
        blob_gas_price: None,
        from: m.tx.from,
        to: m.tx.to(),
        contract_address: None,
    }
}

/// A block, with its transactions as hashes or in full.
pub fn block(block: &Block, full: bool) -> RpcBlock {
    let transactions = if full {
        BlockTransactions::Full(block.txs.iter().map(|m| transaction(block, m)).collect())
    } else {
        BlockTransactions::Hashes(block.txs.iter().map(|m| m.tx.hash).collect())
    };
    RpcBlock {
        header: RpcHeader {
            hash: block.hash,
            inner: block.header.clone(),
            total_difficulty: Some(alloy::primitives::U256::ZERO),
            size: None,
        },
        uncles: Vec::new(),
        transactions,
        withdrawals: None,
    }
}
