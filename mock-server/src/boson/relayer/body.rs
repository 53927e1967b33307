//! What crosses the relayer's wire: the relay request as core-sdk sends it (checked,
//! each refusal naming its field), the status query, and Biconomy's reply bodies.

use alloy::primitives::{Address, B256, Bytes, U256};
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use super::{Record, Status};
use crate::boson::abi::IBosonProtocol as P;

/// What a successful relay says (Biconomy's documented `log`).
pub const SENT: &str = "Meta transaction sent to blockchain";
/// What the status endpoint says (Biconomy's documented `message`).
pub const USE_NEW_HASH: &str = "Use this new hash to serve to your users";

/// A relay request's body, checked: `params` are `executeMetaTransaction`'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaTx {
    pub user: Address,
    pub function_name: String,
    /// The inner call's calldata.
    pub function_signature: Bytes,
    pub nonce: U256,
    /// `r‖s‖v`, as core-sdk rebuilds it.
    pub signature: Bytes,
    /// The user, as Biconomy keys its per-user limits.
    pub from: Address,
    pub api_id: String,
}

impl MetaTx {
    /// The call the relayer sends to the diamond.
    pub fn call(&self) -> P::executeMetaTransactionCall {
        P::executeMetaTransactionCall {
            _userAddress: self.user,
            _functionName: self.function_name.clone(),
            _functionSignature: self.function_signature.clone(),
            _nonce: self.nonce,
            _signature: self.signature.clone(),
        }
    }
}

/// A request the relayer cannot read, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid body - {field}: {reason}")]
pub struct BodyError {
    pub field: String,
    pub reason: String,
}

fn bad(field: &str, reason: impl Into<String>) -> BodyError {
    BodyError {
        field: field.into(),
        reason: reason.into(),
    }
}

fn address(v: &Value, field: &str) -> Result<Address, BodyError> {
    v.as_str()
        .ok_or_else(|| bad(field, "expected an address (a string)"))?
        .parse()
        .map_err(|_| bad(field, "not an address (0x and 40 hex digits)"))
}

fn hex(v: &Value, field: &str) -> Result<Bytes, BodyError> {
    let text = v
        .as_str()
        .ok_or_else(|| bad(field, "expected 0x-prefixed hex (a string)"))?;
    let digits = text
        .strip_prefix("0x")
        .ok_or_else(|| bad(field, "expected 0x-prefixed hex"))?;
    alloy::hex::decode(digits)
        .map(Bytes::from)
        .map_err(|e| bad(field, format!("not hex: {e}")))
}

/// A nonce as core-sdk sends it: a JSON number (`Date.now()`), or a decimal or
/// 0x-hex string.
fn nonce(v: &Value, field: &str) -> Result<U256, BodyError> {
    let parsed = match v {
        Value::Number(n) => n.as_u64().map(U256::from),
        Value::String(s) => match s.strip_prefix("0x") {
            Some(h) => U256::from_str_radix(h, 16).ok(),
            None => U256::from_str_radix(s, 10).ok(),
        },
        _ => None,
    };
    parsed.ok_or_else(|| {
        bad(
            field,
            "expected a non-negative integer (a number or a string)",
        )
    })
}

/// Check a relay body: `{to, params: [user, functionName, functionSignature, nonce,
/// signature], from, apiId}`, `to` the protocol diamond. Other keys (`gasLimit`) are
/// ignored; a forwarder request (`signatureType`) is not relayed by the twin.
pub fn parse(body: &[u8], diamond: Address) -> Result<MetaTx, BodyError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| bad("body", format!("not JSON: {e}")))?;
    let Value::Object(o) = &v else {
        return Err(bad("body", "expected a JSON object"));
    };
    let field = |name: &str| o.get(name).ok_or_else(|| bad(name, "is required"));
    if o.contains_key("signatureType") {
        return Err(bad(
            "signatureType",
            "the twin relays native meta-transactions (executeMetaTransaction) only, not forwarder requests",
        ));
    }
    let to = address(field("to")?, "to")?;
    if to != diamond {
        return Err(bad("to", format!("not the protocol diamond {diamond:#x}")));
    }
    let params = field("params")?
        .as_array()
        .ok_or_else(|| bad("params", "expected an array"))?;
    if params.len() != 5 {
        return Err(bad(
            "params",
            format!(
                "expected 5 (user, functionName, functionSignature, nonce, signature), got {}",
                params.len()
            ),
        ));
    }
    let function_name = params[1]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            bad(
                "params[1]",
                "expected the function's name (a non-empty string)",
            )
        })?
        .to_string();
    let api_id = field("apiId")?
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("apiId", "expected a non-empty string"))?
        .to_string();
    Ok(MetaTx {
        user: address(&params[0], "params[0]")?,
        function_name,
        function_signature: hex(&params[2], "params[2]")?,
        nonce: nonce(&params[3], "params[3]")?,
        signature: hex(&params[4], "params[4]")?,
        from: address(field("from")?, "from")?,
        api_id,
    })
}

/// The status query: `networkId` (if given, the chain's id) and `transactionHash`.
pub fn status_query(query: &str, chain_id: u64) -> Result<B256, BodyError> {
    let mut hash = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode_str(v).decode_utf8_lossy();
        match k {
            "transactionHash" => {
                hash = Some(
                    v.parse::<B256>()
                        .map_err(|_| bad("transactionHash", "not a transaction hash"))?,
                );
            }
            "networkId" if v.parse::<u64>().ok() != Some(chain_id) => {
                return Err(bad("networkId", format!("the twin's chain is {chain_id}")));
            }
            _ => {}
        }
    }
    hash.ok_or_else(|| bad("transactionHash", "is required"))
}

/// `{code, message}`: Biconomy's error shape.
pub fn error(code: u16, message: impl Into<String>) -> Value {
    json!({ "code": code, "message": message.into() })
}

/// A failed gas estimation (HTTP 417), as Biconomy answers it: `log` carries the
/// message (decentraland's `ERRORS.md`), `message` the same for readers of `code`.
pub fn estimation(reason: &str) -> Value {
    let log = format!("Error while gas estimation with message {reason}");
    json!({ "code": 417, "flag": 417, "log": log, "message": log })
}

/// A relay accepted: `retryDuration` is how long (seconds) to wait before the first
/// status poll.
pub fn accepted(hash: B256, retry_duration: u64) -> Value {
    json!({
        "txHash": format!("{hash:#x}"),
        "log": SENT,
        "retryDuration": retry_duration,
        "flag": 200,
    })
}

/// The status endpoint's answer (Biconomy's example: `oldGasPrice` a string,
/// `newGasPrice` a number).
pub fn resubmitted(r: &Record, status: Status, relayer: Address) -> Value {
    json!({
        "code": 200,
        "message": USE_NEW_HASH,
        "data": {
            "oldHash": format!("{:#x}", r.old_hash),
            "newHash": format!("{:#x}", r.new_hash),
            "oldGasPrice": r.old_gas_price.to_string(),
            "newGasPrice": r.new_gas_price,
            "timestamp": r.timestamp_ms,
            "retryCount": r.retry_count,
            "relayerAddress": format!("{relayer:#x}"),
            "newStatus": status.word(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boson::config::DIAMOND;

    fn body(v: Value) -> Result<MetaTx, BodyError> {
        parse(v.to_string().as_bytes(), DIAMOND)
    }

    fn good() -> Value {
        let user = "0x00000000000000000000000000000000000000aa";
        json!({
            "to": format!("{DIAMOND:#x}"),
            "params": [user, "redeemVoucher(uint256)", "0x1234abcd", 1_700_000_000_000u64, "0x00"],
            "from": user,
            "apiId": "id1",
        })
    }

    #[test]
    fn core_sdks_body_parses_and_each_bad_field_is_named() {
        let m = body(good()).expect("valid");
        assert_eq!(m.nonce, U256::from(1_700_000_000_000u64));
        assert_eq!(m.function_signature.as_ref(), [0x12, 0x34, 0xab, 0xcd]);
        let mut s = good();
        s["params"][3] = json!("0x10");
        assert_eq!(body(s).expect("hex nonce").nonce, U256::from(16u64));
        let cases: Vec<(&str, Value)> = vec![
            ("to", json!("0x00000000000000000000000000000000000000bb")),
            ("to", json!(7)),
            ("params", json!(["a"])),
            ("from", json!("nope")),
            ("apiId", json!("")),
        ];
        for (field, value) in cases {
            let mut v = good();
            v[field] = value;
            assert_eq!(body(v).expect_err(field).field, field);
        }
        for (i, value) in [
            json!("x"),
            json!(""),
            json!("1234"),
            json!(-1),
            json!("0xzz"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut v = good();
            v["params"][i] = value;
            let field = format!("params[{i}]");
            assert_eq!(body(v).expect_err(&field).field, field);
        }
        let mut v = good();
        v.as_object_mut().expect("object").remove("apiId");
        assert_eq!(
            body(v).expect_err("apiId").to_string(),
            "Invalid body - apiId: is required"
        );
        assert_eq!(parse(b"[]", DIAMOND).expect_err("array").field, "body");
    }

    #[test]
    fn the_status_query_needs_a_hash_on_this_chain() {
        let h = format!("{:#x}", B256::repeat_byte(1));
        assert_eq!(
            status_query(&format!("networkId=31337&transactionHash={h}"), 31337),
            Ok(B256::repeat_byte(1))
        );
        assert_eq!(
            status_query(&format!("networkId=1&transactionHash={h}"), 31337)
                .expect_err("chain")
                .field,
            "networkId"
        );
        assert_eq!(
            status_query("networkId=31337", 31337)
                .expect_err("hash")
                .field,
            "transactionHash"
        );
    }
}
