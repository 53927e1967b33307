//! Boson's HTTP paths: `POST /rpc` answers Ethereum JSON-RPC (one request or a
//! batch), through the engine's fault rules like any other path (a `status` rule
//! on `POST /rpc` is a rate-limited or failing node); `GET /rpc` with `Upgrade:
//! websocket` opens JSON-RPC over WebSocket with subscriptions. On the dedicated RPC listener (`--boson-ports`) the same is
//! served at `/`, where ethers and viem expect a node.

use std::sync::Arc;

use http::header::{CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use std::sync::atomic::AtomicBool;

use sha2::Digest;

use super::platform::BosonPlatform;
use super::rpc;
use crate::engine::faults::RequestFacts;
use crate::engine::pipeline::{self, Answered, Dropped, Outcome};
use crate::engine::reply::{Reply, TwinBody};

/// The path JSON-RPC is served at on the twin's shared port.
pub const RPC_PATH: &str = "/rpc";

/// Whether a path is Boson's on the shared port.
pub fn owns(path: &str) -> bool {
    path == RPC_PATH || path == super::subgraph::PATH
}

fn is_upgrade(req: &Request<Incoming>) -> bool {
    req.headers()
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
        && req.headers().contains_key(SEC_WEBSOCKET_KEY)
}

/// Answer one request on a Boson path. `reset` is the connection's flag: a
/// dropped reply ends it with a reset.
pub async fn handle(
    p: Arc<BosonPlatform>,
    reset: Arc<AtomicBool>,
    mut req: Request<Incoming>,
) -> Result<Response<TwinBody>, Dropped> {
    if req.method() == Method::GET && is_upgrade(&req) {
        return Ok(upgrade(p, &mut req));
    }
    if req.method() != Method::POST {
        let reply = Reply::json(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": "JSON-RPC takes POST (or GET with a WebSocket upgrade)"}}),
        )
        .header("allow", "POST");
        return Ok(reply.into_response());
    }
    let engine = &p.engine;
    let seq = engine.next_seq();
    let request_id = pipeline::request_id(engine, seq);
    let now = engine.clock.now();
    let path = req.uri().path().to_string();
    let traceparent = pipeline::traceparent(req.headers());
    let body = pipeline::read_body(req.into_body(), engine.config.max_body_bytes).await;
    // The same call sent again is the same operation: its retries are graded.
    let digest: [u8; 32] = sha2::Sha256::digest(body.as_deref().unwrap_or_default()).into();
    let op = u64::from_be_bytes(digest[..8].try_into().unwrap_or_default());
    let attempt = engine.oracle.arrival(op, &[], now);
    let identity = op ^ u64::from(attempt).rotate_left(48);
    let facts = RequestFacts {
        seq,
        now,
        request_id: &request_id,
        method: &Method::POST,
        path: &path,
        op: crate::engine::faults::TapeOp {
            digest: op,
            attempt,
        },
    };
    let d = pipeline::decide(engine, &facts, &mut engine.faults.rng_for(identity));
    let outcome = if !d.delay.is_zero() && !pipeline::pause(engine, d.delay).await {
        Outcome::Drop { reset: false }
    } else if let Some(faulted) = pipeline::pre_commit(engine, &d, &request_id, false).await {
        faulted
    } else {
        let reply = match body {
            Ok(body) if path == super::subgraph::PATH => {
                let subgraph = p.subgraph.clone();
                Reply::json(StatusCode::OK, &p.subgraph_answer(&subgraph, &body).await)
            }
            Ok(body) => Reply::json(StatusCode::OK, &rpc::handle(p.env(), &body).0),
            Err(e) => Reply::json(
                StatusCode::OK,
                &json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": e.message}}),
            ),
        };
        pipeline::post_commit(&d, reply, &request_id, false, &mut Vec::new())
    };
    let answered = Answered {
        method: &Method::POST,
        template: if path == super::subgraph::PATH {
            super::subgraph::PATH.into()
        } else {
            RPC_PATH.into()
        },
        request_id: &request_id,
        quota: None,
        op,
        attempt,
        transient: &[],
        traceparent: traceparent.as_deref(),
    };
    pipeline::finish(engine, outcome, &answered, &reset)
}

/// Switch protocols and serve the WebSocket on its own task.
fn upgrade(p: Arc<BosonPlatform>, req: &mut Request<Incoming>) -> Response<TwinBody> {
    let key = req
        .headers()
        .get(SEC_WEBSOCKET_KEY)
        .map(|k| derive_accept_key(k.as_bytes()))
        .unwrap_or_default();
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            super::ws::serve(p, upgraded).await;
        }
    });
    let mut resp = Response::new(TwinBody::full(bytes::Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&key) {
        h.insert(SEC_WEBSOCKET_ACCEPT, v);
    }
    resp
}
