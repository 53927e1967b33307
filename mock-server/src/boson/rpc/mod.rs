//! Ethereum JSON-RPC over HTTP: one request or a batch in, one reply or an array
//! out. Bad JSON, a bad envelope, an unknown method or bad params each get the
//! error object a node would send; nothing here panics on input.

pub mod error;
pub mod eth;
pub mod filters;
pub mod logs;
pub mod params;

use std::time::Duration;

use serde_json::{Value, json};

pub use error::RpcError;

use super::{Boson, ChainFaults};

/// Requests in one batch, at most (geth's default `BatchRequestLimit`).
pub const MAX_BATCH: usize = 1_000;

/// What one request needs: the twin, its time, its faults.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    pub boson: &'a Boson,
    pub now: Duration,
    pub faults: &'a dyn ChainFaults,
}

impl std::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// What a request did, for the oracle and metrics.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    pub requests: u64,
    /// Per method: calls and errors.
    pub methods: Vec<(String, bool)>,
}

/// Answer a JSON-RPC body. Returns the reply body and what was asked.
pub fn handle(env: Env<'_>, body: &[u8]) -> (Value, Tally) {
    let mut tally = Tally::default();
    let parsed: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return (reply(Value::Null, Err(RpcError::parse(e))), tally),
    };
    let out = match parsed {
        Value::Array(items) if items.is_empty() => {
            reply(Value::Null, Err(RpcError::invalid_request("empty batch")))
        }
        Value::Array(items) if items.len() > MAX_BATCH => {
            reply(Value::Null, Err(RpcError::new(-32600, "batch too large")))
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| one(env, item, &mut tally))
                .collect(),
        ),
        item => one(env, item, &mut tally),
    };
    (out, tally)
}

fn one(env: Env<'_>, item: Value, tally: &mut Tally) -> Value {
    let id = item.get("id").cloned().unwrap_or(Value::Null);
    let Some(obj) = item.as_object() else {
        return reply(id, Err(RpcError::invalid_request("invalid request")));
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return reply(id, Err(RpcError::invalid_request("invalid request")));
    }
    let Some(method) = obj.get("method").and_then(Value::as_str) else {
        return reply(id, Err(RpcError::invalid_request("invalid request")));
    };
    let params = match obj.get("params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => {
            return reply(id, Err(RpcError::new(-32602, "non-array args")));
        }
    };
    tally.requests += 1;
    let result = eth::call(env, method, &params);
    tally.methods.push((method.to_string(), result.is_err()));
    reply(id, result)
}

fn reply(id: Value, result: Result<Value, RpcError>) -> Value {
    match result {
        Ok(v) => json!({"jsonrpc": "2.0", "id": id, "result": v}),
        Err(e) => json!({"jsonrpc": "2.0", "id": id, "error": e}),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;
    use serde_json::json;

    use crate::boson::NoFaults;
    use crate::boson::testkit::twin;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Whatever the body, the answer is JSON-RPC and the twin does not panic.
        #[test]
        fn any_body_gets_an_answer(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let b = twin(Duration::ZERO);
            let env = super::Env { boson: &b, now: Duration::ZERO, faults: &NoFaults };
            let (out, _) = super::handle(env, &body);
            prop_assert!(out.is_object() || out.is_array());
        }

        /// Any bytes as a raw transaction, any method with any params: an error
        /// object or a result, never a panic.
        #[test]
        fn any_params_get_an_answer(
            raw in proptest::collection::vec(any::<u8>(), 0..300),
            method in prop::sample::select(vec![
                "eth_sendRawTransaction", "eth_call", "eth_estimateGas", "eth_getLogs",
                "eth_getBlockByNumber", "eth_getFilterChanges", "eth_feeHistory",
                "eth_getTransactionReceipt", "eth_getBalance", "eth_newFilter",
            ]),
            n in any::<u64>(),
        ) {
            let b = twin(Duration::ZERO);
            let env = super::Env { boson: &b, now: Duration::ZERO, faults: &NoFaults };
            let hex = format!("0x{}", alloy::hex::encode(&raw));
            for params in [json!([hex]), json!([n, hex]), json!([{"data": hex, "to": hex}]), json!([{"fromBlock": n}]), json!("x")] {
                let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
                let (out, _) = super::handle(env, body.to_string().as_bytes());
                prop_assert!(out.get("result").is_some() || out.get("error").is_some(), "{out}");
            }
        }
    }
}
