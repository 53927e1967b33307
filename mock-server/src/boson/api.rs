//! Boson's HTTP paths: `POST /rpc` answers Ethereum JSON-RPC (one request or a
//! batch); `GET /rpc` with `Upgrade: websocket` opens JSON-RPC over WebSocket with
//! subscriptions. On the dedicated RPC listener (`--boson-ports`) the same is
//! served at `/`, where ethers and viem expect a node.

use std::sync::Arc;

use http::header::{CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::platform::BosonPlatform;
use super::rpc;
use crate::engine::pipeline;
use crate::engine::reply::{Reply, TwinBody};

/// The path JSON-RPC is served at on the twin's shared port.
pub const RPC_PATH: &str = "/rpc";

/// Whether a path is Boson's on the shared port.
pub fn owns(path: &str) -> bool {
    path == RPC_PATH
}

fn is_upgrade(req: &Request<Incoming>) -> bool {
    req.headers()
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
        && req.headers().contains_key(SEC_WEBSOCKET_KEY)
}

/// Answer one request on a Boson path.
pub async fn handle(p: Arc<BosonPlatform>, mut req: Request<Incoming>) -> Response<TwinBody> {
    if req.method() == Method::GET && is_upgrade(&req) {
        return upgrade(p, &mut req);
    }
    if req.method() != Method::POST {
        let reply = Reply::json(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": "JSON-RPC takes POST (or GET with a WebSocket upgrade)"}}),
        )
        .header("allow", "POST");
        return reply.into_response();
    }
    let body = pipeline::read_body(req.into_body(), p.engine.config.max_body_bytes).await;
    let reply = match body {
        Ok(body) => {
            let (value, tally) = rpc::handle(p.env(), &body);
            for (method, failed) in &tally.methods {
                p.engine
                    .metrics
                    .request(&Method::POST, method, if *failed { 500 } else { 200 });
            }
            Reply::json(StatusCode::OK, &value)
        }
        Err(e) => Reply::json(
            StatusCode::OK,
            &json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": e.message}}),
        ),
    };
    reply.into_response()
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
