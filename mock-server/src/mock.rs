//! The one entry point: `MockServer::start(config, listener, shutdown)` builds the
//! twin, starts its platforms' background tasks and serves it on the engine's
//! server until `shutdown` resolves; `MockHandle` reads the oracle and waits for
//! the drain.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::TwinConfig;
use crate::engine::oracle::OracleView;
use crate::engine::server;
use crate::twin::Twin;

/// The twin's server.
#[derive(Debug)]
pub struct MockServer;

/// A running twin.
#[derive(Debug)]
pub struct MockHandle {
    addr: SocketAddr,
    twin: Arc<Twin>,
    task: JoinHandle<()>,
}

impl MockServer {
    /// Serve `config` on `listener` until `shutdown` resolves.
    pub async fn start(
        config: TwinConfig,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<MockHandle> {
        let addr = listener.local_addr()?;
        let twin = Arc::new(Twin::new(config));
        twin.start();
        let router = twin.clone();
        let service = move |reset, req| router.clone().handle(reset, req);
        let stop = twin.engine.shutdown.clone();
        let task = tokio::spawn(server::serve(listener, stop, shutdown, service));
        Ok(MockHandle { addr, twin, task })
    }
}

impl MockHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The twin's state, for embedding callers (the harness reads the oracle here).
    pub fn twin(&self) -> &Arc<Twin> {
        &self.twin
    }

    pub fn oracle(&self) -> OracleView {
        self.twin.oracle_view()
    }

    /// Also serve Boson's JSON-RPC on `listener`, at every path (where ethers and
    /// viem expect a node: `http://127.0.0.1:8545`); it stops with the twin.
    pub fn serve_rpc(&self, listener: TcpListener) -> JoinHandle<()> {
        let boson = self.twin.boson.clone();
        let service = move |reset, req| crate::boson::api::handle(boson.clone(), reset, req);
        let stop = self.twin.engine.shutdown.clone();
        tokio::spawn(server::serve(
            listener,
            stop,
            std::future::pending(),
            service,
        ))
    }

    /// Also serve the meta-transaction relayer on `listener`, its paths at the root
    /// (where core-sdk's local config expects Biconomy: `http://127.0.0.1:8888`). A
    /// `refuse` rule closes this listener for its window and binds the same address
    /// again after; it stops with the twin.
    pub fn serve_relayer(&self, listener: TcpListener) -> JoinHandle<()> {
        let boson = self.twin.boson.clone();
        tokio::spawn(crate::boson::relayer::listen::serve(boson, listener))
    }

    /// Stop now (as if the shutdown future had resolved) and drain.
    pub async fn stop(self) -> OracleView {
        self.twin.engine.shutdown.cancel();
        self.wait().await
    }

    /// Wait until the server has shut down and drained; returns the final account.
    pub async fn wait(self) -> OracleView {
        let _ = self.task.await;
        self.twin.oracle_view()
    }
}
