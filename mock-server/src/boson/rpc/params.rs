//! Positional params read as geth reads them: a missing required argument and an
//! argument that does not parse each get their own -32602 message.

use alloy::eips::{BlockId, BlockNumberOrTag};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::RpcError;
use crate::boson::chain::Chain;

/// Argument `i`, required.
pub fn arg<T: DeserializeOwned>(params: &[Value], i: usize) -> Result<T, RpcError> {
    match params.get(i) {
        None | Some(Value::Null) => Err(RpcError::missing(i)),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| RpcError::invalid(i, e)),
    }
}

/// Argument `i`, optional.
pub fn opt<T: DeserializeOwned>(params: &[Value], i: usize) -> Result<Option<T>, RpcError> {
    match params.get(i) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| RpcError::invalid(i, e)),
    }
}

/// Refuse more arguments than a method takes.
pub fn at_most(params: &[Value], n: usize) -> Result<(), RpcError> {
    if params.len() > n {
        return Err(RpcError::new(
            -32602,
            format!("too many arguments, want at most {n}"),
        ));
    }
    Ok(())
}

/// A block tag or number as a height on this chain; `None` past the head.
pub fn height(chain: &Chain, tag: BlockNumberOrTag) -> Option<u64> {
    let n = match tag {
        BlockNumberOrTag::Latest | BlockNumberOrTag::Pending => chain.head_number(),
        BlockNumberOrTag::Earliest => 0,
        BlockNumberOrTag::Safe => chain.safe(),
        BlockNumberOrTag::Finalized => chain.finalized(),
        BlockNumberOrTag::Number(n) => n,
    };
    (n <= chain.head_number()).then_some(n)
}

/// A block id (tag, number or hash) as a height; `None` if unknown.
pub fn block_id(chain: &Chain, id: Option<BlockId>) -> Option<u64> {
    match id.unwrap_or(BlockId::Number(BlockNumberOrTag::Latest)) {
        BlockId::Number(tag) => height(chain, tag),
        BlockId::Hash(h) => chain.block_by_hash(&h.block_hash).map(|b| b.number()),
    }
}
