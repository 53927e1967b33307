//! JSON-RPC over WebSocket, with `eth_subscribe("logs" | "newHeads")`: the chain's
//! notices pushed as `eth_subscription` messages, orphaned logs first with
//! `removed: true`, as geth sends them. Every other method answers as over HTTP.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::U256;
use alloy::rpc::types::eth::Filter;
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_util::sync::CancellationToken;

use super::chain::Note;
use super::rpc::{self, Env, RpcError};
use super::{Boson, ChainFaults};

/// Subscriptions on one connection, at most.
pub const MAX_SUBSCRIPTIONS: usize = 1_000;
/// Messages one connection may send before the twin closes it (bounds a runaway
/// client; a soak reconnects).
pub const MAX_MESSAGES: u64 = 10_000_000;

/// What a WebSocket connection needs from the twin that hosts the chain.
pub trait Host: Send + Sync + 'static {
    fn boson(&self) -> &Boson;
    fn now(&self) -> Duration;
    fn faults(&self) -> &dyn ChainFaults;
    /// How much real time a twin duration takes (the clock may be compressed).
    fn real(&self, twin: Duration) -> Duration;
    fn shutdown(&self) -> CancellationToken;
}

enum Sub {
    Logs(Box<Filter>),
    Heads,
}

struct Conn {
    subs: HashMap<U256, (Sub, u64)>,
    next: u64,
}

/// Serve one upgraded connection until the client or the twin closes it.
pub async fn serve(host: Arc<dyn Host>, upgraded: Upgraded) {
    let mut ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
    let mut conn = Conn {
        subs: HashMap::new(),
        next: 0,
    };
    let tick = host
        .real(host.boson().config.block_time / 2)
        .clamp(Duration::from_millis(10), Duration::from_millis(250));
    let mut ticker = tokio::time::interval(tick);
    let shutdown = host.shutdown();
    let mut received = 0u64;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = ticker.tick() => {
                for msg in push(&*host, &mut conn) {
                    if ws.send(Message::Text(msg.to_string().into())).await.is_err() {
                        return;
                    }
                }
            }
            msg = ws.next() => {
                let Some(Ok(msg)) = msg else { break };
                received += 1;
                if received > MAX_MESSAGES {
                    break;
                }
                let reply = match msg {
                    Message::Text(text) => answer(&*host, &mut conn, text.as_bytes()),
                    Message::Binary(bytes) => answer(&*host, &mut conn, &bytes),
                    Message::Close(_) => break,
                    _ => continue,
                };
                if ws.send(Message::Text(reply.to_string().into())).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = ws.close(None).await;
}

fn env(host: &dyn Host) -> Env<'_> {
    Env {
        boson: host.boson(),
        now: host.now(),
        faults: host.faults(),
    }
}

/// Answer a message: subscriptions here, everything else through the HTTP handler.
fn answer(host: &dyn Host, conn: &mut Conn, body: &[u8]) -> Value {
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return rpc::handle(env(host), body).0;
    };
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let method = req
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let params = req
        .get("params")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let result = match method {
        "eth_subscribe" => subscribe(host, conn, &params),
        "eth_unsubscribe" => rpc::params::arg::<U256>(&params, 0)
            .map(|sid| Value::Bool(conn.subs.remove(&sid).is_some())),
        _ => return rpc::handle(env(host), body).0,
    };
    match result {
        Ok(v) => json!({"jsonrpc": "2.0", "id": id, "result": v}),
        Err(e) => json!({"jsonrpc": "2.0", "id": id, "error": e}),
    }
}

fn subscribe(host: &dyn Host, conn: &mut Conn, params: &[Value]) -> Result<Value, RpcError> {
    let kind: String = rpc::params::arg(params, 0)?;
    let sub = match kind.as_str() {
        "logs" => Sub::Logs(Box::new(
            rpc::params::opt::<Filter>(params, 1)?.unwrap_or_default(),
        )),
        "newHeads" => Sub::Heads,
        other => {
            return Err(RpcError::invalid(
                0,
                format!("no \"{other}\" subscription in eth namespace"),
            ));
        }
    };
    if conn.subs.len() >= MAX_SUBSCRIPTIONS {
        return Err(RpcError::server("too many subscriptions"));
    }
    conn.next += 1;
    let id = U256::from(conn.next) * U256::from(0x9e37_79b9_7f4a_7c15u64) + U256::from(0x2000u64);
    let cursor = host.boson().chain_at(host.now(), host.faults()).notes.end();
    conn.subs.insert(id, (sub, cursor));
    Ok(Value::String(format!("{id:#x}")))
}

/// Notifications due on every subscription since its cursor.
fn push(host: &dyn Host, conn: &mut Conn) -> Vec<Value> {
    if conn.subs.is_empty() {
        return Vec::new();
    }
    let chain = host.boson().chain_at(host.now(), host.faults());
    let mut out = Vec::new();
    for (id, (sub, cursor)) in conn.subs.iter_mut() {
        let (notes, end) = chain.notes.since(*cursor);
        for note in notes {
            let result = match (&*sub, note) {
                (Sub::Logs(f), Note::Log(log)) if f.matches(&log.inner) => json!(log),
                (Sub::Heads, Note::Block(_, hash)) => match chain.block_by_hash(hash) {
                    Some(b) => json!(super::chain::rpc_types::block(b, false).header),
                    None => continue,
                },
                _ => continue,
            };
            out.push(json!({
                "jsonrpc": "2.0",
                "method": "eth_subscription",
                "params": {"subscription": format!("{id:#x}"), "result": result},
            }));
        }
        *cursor = end;
    }
    out
}
