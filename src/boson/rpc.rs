//! Ethereum JSON-RPC over HTTP, paced: every call waits for its slot, so a caller
//! can never exceed the rate it was given (the smoke test's hard cap).

use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, Bytes, U256};
use serde_json::{Value, json};

/// What went wrong with a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// No HTTP answer (refused, reset, timed out).
    #[error("{url}: {reason}")]
    Transport { url: String, reason: String },
    /// An HTTP error status, or a body that is not JSON-RPC.
    #[error("{url}: HTTP {status}: {body}")]
    Http {
        url: String,
        status: u16,
        body: String,
    },
    /// The node's error object. A revert is code 3 with the error data.
    #[error("{message} (code {code})")]
    Node {
        code: i64,
        message: String,
        data: Option<Bytes>,
    },
}

impl RpcError {
    /// The revert's custom error by name, when the node reported one.
    pub fn revert_name(&self) -> Option<String> {
        match self {
            RpcError::Node {
                data: Some(data), ..
            } => Some(gauntlet_mock::boson::protocol::Revert(data.clone()).name()),
            RpcError::Node { code: 3, .. } => Some("empty revert".into()),
            _ => None,
        }
    }
}

/// The W3C trace context sent with every request (`traceparent`), one trace per
/// step: the twin logs each traced request, so a step can be followed across its
/// RPC, relayer and subgraph calls.
#[derive(Debug, Default)]
pub struct Trace {
    current: std::sync::Mutex<Option<(String, String)>>,
}

impl Trace {
    /// Start a new trace; its id.
    pub fn start(&self) -> String {
        let id = format!("{:032x}", rand::random::<u128>() | 1);
        let header = format!("00-{id}-{:016x}-01", rand::random::<u64>() | 1);
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some((id.clone(), header));
        id
    }

    /// The current trace's id.
    pub fn id(&self) -> Option<String> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|(id, _)| id.clone())
    }

    /// The `traceparent` header value.
    pub fn header(&self) -> Option<String> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|(_, h)| h.clone())
    }
}

/// A JSON-RPC endpoint and its pacing.
#[derive(Debug)]
pub struct Rpc {
    pub url: String,
    http: reqwest::Client,
    gap: Duration,
    next: tokio::sync::Mutex<Instant>,
    trace: Option<std::sync::Arc<Trace>>,
}

impl Rpc {
    /// Calls to `url` at most `per_second` a second, each within `timeout`.
    pub fn new(url: &str, per_second: f64, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .unwrap_or_default();
        Self {
            url: url.to_string(),
            http,
            gap: Duration::from_secs_f64(1.0 / per_second.max(0.01)),
            next: tokio::sync::Mutex::new(Instant::now()),
            trace: None,
        }
    }

    /// Another handle on this endpoint: the same connections and pace, tracing
    /// with `trace` (one per exchange of a load).
    pub fn traced(&self, trace: std::sync::Arc<Trace>) -> Self {
        Self {
            url: self.url.clone(),
            http: self.http.clone(),
            gap: self.gap,
            next: tokio::sync::Mutex::new(Instant::now()),
            trace: Some(trace),
        }
    }

    /// Send the `traceparent` of `trace` with every request.
    pub fn with_trace(mut self, trace: std::sync::Arc<Trace>) -> Self {
        self.trace = Some(trace);
        self
    }

    /// The `traceparent` to send now, if tracing.
    pub fn traceparent(&self) -> Option<String> {
        self.trace.as_ref().and_then(|t| t.header())
    }

    /// Wait for the next slot of the pace.
    pub async fn slot(&self) {
        let mut next = self.next.lock().await;
        let now = Instant::now();
        if *next > now {
            tokio::time::sleep(*next - now).await;
        }
        *next = Instant::now() + self.gap;
    }

    /// POST a JSON body to `url` (paced like every call); the JSON answer.
    pub async fn post_json(&self, url: &str, body: &Value) -> Result<Value, RpcError> {
        self.slot().await;
        let transport = |e: reqwest::Error| RpcError::Transport {
            url: shown(url),
            reason: e.without_url().to_string(),
        };
        let mut req = self.http.post(url).json(body);
        if let Some(tp) = self.traceparent() {
            req = req.header("traceparent", tp);
        }
        let r = req.send().await.map_err(transport)?;
        let status = r.status().as_u16();
        let text = r.text().await.map_err(transport)?;
        match serde_json::from_str::<Value>(&text) {
            Ok(v) if (200..300).contains(&status) => Ok(v),
            _ => Err(RpcError::Http {
                url: shown(url),
                status,
                body: text.chars().take(200).collect(),
            }),
        }
    }

    /// One call; its `result`.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let v = self.post_json(&self.url, &body).await?;
        if let Some(e) = v.get("error") {
            let data = e["data"]
                .as_str()
                .and_then(|d| d.parse::<Bytes>().ok())
                .filter(|d| !d.is_empty());
            return Err(RpcError::Node {
                code: e["code"].as_i64().unwrap_or(0),
                message: e["message"].as_str().unwrap_or("no message").to_string(),
                data,
            });
        }
        Ok(v.get("result").cloned().unwrap_or(Value::Null))
    }

    pub async fn quantity(&self, method: &str, params: Value) -> Result<u64, RpcError> {
        let v = self.call(method, params).await?;
        Ok(quantity(&v))
    }

    pub async fn chain_id(&self) -> Result<u64, RpcError> {
        self.quantity("eth_chainId", json!([])).await
    }

    pub async fn block_number(&self) -> Result<u64, RpcError> {
        self.quantity("eth_blockNumber", json!([])).await
    }

    pub async fn nonce(&self, who: Address) -> Result<u64, RpcError> {
        self.quantity("eth_getTransactionCount", json!([who, "pending"]))
            .await
    }

    pub async fn gas_price(&self) -> Result<u128, RpcError> {
        let v = self.call("eth_gasPrice", json!([])).await?;
        Ok(u128::from(quantity(&v)))
    }

    pub async fn max_priority_fee(&self) -> Result<u128, RpcError> {
        let v = self.call("eth_maxPriorityFeePerGas", json!([])).await?;
        Ok(u128::from(quantity(&v)))
    }

    pub async fn balance(&self, who: Address) -> Result<U256, RpcError> {
        let v = self.call("eth_getBalance", json!([who, "latest"])).await?;
        Ok(v.as_str().and_then(|s| s.parse().ok()).unwrap_or_default())
    }

    pub async fn code(&self, at: Address) -> Result<Bytes, RpcError> {
        let v = self.call("eth_getCode", json!([at, "latest"])).await?;
        Ok(v.as_str().and_then(|s| s.parse().ok()).unwrap_or_default())
    }

    /// `eth_call` from `from` with `value`: the returned bytes, or the revert.
    pub async fn eth_call(
        &self,
        from: Address,
        to: Address,
        input: &[u8],
        value: U256,
    ) -> Result<Bytes, RpcError> {
        let tx =
            json!({"from": from, "to": to, "input": Bytes::copy_from_slice(input), "value": value});
        let v = self.call("eth_call", json!([tx, "latest"])).await?;
        Ok(v.as_str().and_then(|s| s.parse().ok()).unwrap_or_default())
    }

    pub async fn send_raw(&self, raw: &Bytes) -> Result<B256, RpcError> {
        let v = self.call("eth_sendRawTransaction", json!([raw])).await?;
        v.as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| RpcError::Http {
                url: shown(&self.url),
                status: 200,
                body: format!("not a transaction hash: {v}"),
            })
    }

    /// The receipt, or `None` while the transaction is not mined.
    pub async fn receipt(&self, hash: B256) -> Result<Option<Value>, RpcError> {
        let v = self
            .call("eth_getTransactionReceipt", json!([hash]))
            .await?;
        Ok((!v.is_null()).then_some(v))
    }
}

/// A hex quantity as u64 (0 when absent or malformed).
pub fn quantity(v: &Value) -> u64 {
    v.as_str()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .or_else(|| v.as_u64())
        .unwrap_or(0)
}

/// A URL as it may be shown: scheme, host and port only (providers put API keys
/// in the path or the query).
pub fn shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{}://{h}:{p}", u.scheme()),
            (Some(h), None) => format!("{}://{h}", u.scheme()),
            _ => "<url>".into(),
        },
        Err(_) => "<url>".into(),
    }
}
