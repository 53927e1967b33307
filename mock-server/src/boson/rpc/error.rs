//! JSON-RPC errors with the codes and words real nodes use (geth's unless noted):
//! -32700 parse, -32600 invalid request, -32601 no such method, -32602 bad
//! params, -32000 server error (nonce, funds, unknown filter), 3 for a revert
//! with its data, 4444 for pruned history.

use alloy::primitives::Bytes;
use serde::Serialize;
use serde_json::Value;

use crate::boson::chain::Refused;
use crate::boson::protocol::Revert;

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub fn parse(detail: impl std::fmt::Display) -> Self {
        Self::new(-32700, format!("parse error: {detail}"))
    }

    pub fn invalid_request(detail: impl Into<String>) -> Self {
        Self::new(-32600, detail)
    }

    pub fn no_method(name: &str) -> Self {
        Self::new(
            -32601,
            format!("the method {name} does not exist/is not available"),
        )
    }

    pub fn missing(i: usize) -> Self {
        Self::new(-32602, format!("missing value for required argument {i}"))
    }

    pub fn invalid(i: usize, detail: impl std::fmt::Display) -> Self {
        Self::new(-32602, format!("invalid argument {i}: {detail}"))
    }

    pub fn server(message: impl Into<String>) -> Self {
        Self::new(-32000, message)
    }

    /// History the chain no longer holds (a block body behind its horizon): geth's
    /// code and words for expired history (EIP-4444).
    pub fn pruned_history() -> Self {
        use crate::boson::chain::history::{PRUNED_CODE, PRUNED_MESSAGE};
        Self::new(PRUNED_CODE, PRUNED_MESSAGE)
    }

    /// A revert: code 3, `execution reverted`, the revert bytes in `data`.
    pub fn revert(data: &Bytes) -> Self {
        Self {
            code: 3,
            message: "execution reverted".into(),
            data: Some(Value::String(format!("0x{}", alloy::hex::encode(data)))),
        }
    }
}

impl From<Refused> for RpcError {
    fn from(r: Refused) -> Self {
        Self::server(r.to_string())
    }
}

impl From<Revert> for RpcError {
    fn from(r: Revert) -> Self {
        Self::revert(&r.0)
    }
}
