//! The relayer's own listener (`gauntlet mock --boson-ports`: 127.0.0.1:8888, where
//! core-sdk's local config expects Biconomy), and how `refuse` is made real on it.
//!
//! A watcher looks at the twin clock every [`WATCH`] of real time. When a `refuse`
//! window is open, it stops the server's accept loop, which drops the listening
//! socket: a client's connect now gets ECONNREFUSED, as from a relayer that is down
//! (connections already open finish their request and close). When no refusal is
//! live any more, it binds the same address again and serves as before. A clock
//! advance is seen within one [`WATCH`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::http::{self, Served};
use crate::boson::platform::BosonPlatform;
use crate::engine::server;

/// How often (real time) the watcher reads the twin clock for a `refuse` window.
pub const WATCH: Duration = Duration::from_millis(20);

/// Serve the relayer on `listener` until the twin shuts down, closing it for every
/// `refuse` window and binding its address again after.
pub async fn serve(p: Arc<BosonPlatform>, listener: TcpListener) {
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, "relayer listener has no address; not serving it");
            return;
        }
    };
    let shutdown = p.engine.shutdown.clone();
    let mut listener = Some(listener);
    while let Some(l) = listener.take() {
        let stop = shutdown.child_token();
        let router = p.clone();
        let service = move |reset, req| http::handle(router.clone(), Served::Dedicated, reset, req);
        let served = tokio::spawn(server::serve(
            l,
            stop.clone(),
            std::future::pending(),
            service,
        ));
        if !wait(&p, &shutdown, true).await {
            let _ = served.await;
            return;
        }
        // The accept loop ends and drops the socket; open connections drain on
        // their own task.
        stop.cancel();
        p.engine.metrics.fault("relayer");
        p.relayer.count_mode("refuse");
        tracing::info!(%addr, "relayer refusing connections (a refuse rule's window)");
        if !wait(&p, &shutdown, false).await {
            return;
        }
        listener = rebind(addr, &shutdown).await;
        if listener.is_some() {
            tracing::info!(%addr, "relayer accepting connections again");
        }
    }
}

/// Wait until a refusal is live (`refusing`) or is not; false if the twin stopped.
async fn wait(p: &BosonPlatform, shutdown: &CancellationToken, refusing: bool) -> bool {
    loop {
        if p.engine
            .faults
            .relayer_refusing(p.engine.clock.now())
            .is_some()
            == refusing
        {
            return true;
        }
        tokio::select! {
            () = tokio::time::sleep(WATCH) => {}
            () = shutdown.cancelled() => return false,
        }
    }
}

/// Bind `addr` again, retrying while it is busy (the old socket still closing);
/// `None` if the twin stopped first.
async fn rebind(addr: SocketAddr, shutdown: &CancellationToken) -> Option<TcpListener> {
    let mut warned = false;
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => return Some(l),
            Err(e) => {
                if !warned {
                    tracing::warn!(%addr, error = %e, "relayer cannot bind its address again yet; retrying");
                    warned = true;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(WATCH) => {}
            () = shutdown.cancelled() => return None,
        }
    }
}
