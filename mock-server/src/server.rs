//! The listener: accept loop, per-connection hyper service, graceful drain.
//!
//! `MockServer::start(config, listener, shutdown)` serves until `shutdown` resolves,
//! then stops accepting, lets in-flight requests finish (hangs end early), and
//! resolves `MockHandle::wait` once every connection has closed or the drain
//! deadline passed.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::TwinConfig;
use crate::oracle::OracleView;
use crate::twin::Twin;

/// How long shutdown waits for open connections.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// A client must send its request headers within this (slowloris guard).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

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
        tokio::spawn(crate::webhooks::deliver::run(twin.clone()));
        let task = tokio::spawn(serve(listener, twin.clone(), shutdown));
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

    /// Stop now (as if the shutdown future had resolved) and drain.
    pub async fn stop(self) -> OracleView {
        self.twin.shutdown.cancel();
        self.wait().await
    }

    /// Wait until the server has shut down and drained; returns the final account.
    pub async fn wait(self) -> OracleView {
        let _ = self.task.await;
        self.twin.oracle_view()
    }
}

async fn serve(
    listener: TcpListener,
    twin: Arc<Twin>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    // Each connection holds a receiver; when all are dropped, `closed()` resolves.
    let (close_tx, close_rx) = watch::channel(());
    let stop = twin.shutdown.clone();
    tokio::spawn(async move {
        shutdown.await;
        stop.cancel();
    });
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = twin.shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let io = ChaosIo::new(stream);
        let reset = io.reset.clone();
        let (twin, close_rx) = (twin.clone(), close_rx.clone());
        tokio::spawn(async move {
            let stop = twin.shutdown.clone();
            let svc = service_fn(move |req| crate::api::handle(twin.clone(), reset.clone(), req));
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(io), svc);
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
            drop(close_rx);
        });
    }
    drop(listener);
    drop(close_rx);
    if tokio::time::timeout(DRAIN_TIMEOUT, close_tx.closed())
        .await
        .is_err()
    {
        tracing::warn!("drain deadline passed with connections still open");
    }
}

/// A TCP stream that can be told to end with a reset (RST) instead of a close (FIN).
#[derive(Debug)]
struct ChaosIo {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl ChaosIo {
    fn new(inner: TcpStream) -> Self {
        Self {
            inner,
            reset: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Drop for ChaosIo {
    fn drop(&mut self) {
        if self.reset.load(Ordering::Relaxed) {
            // Zero linger turns the close into a RST.
            let _ = socket2::SockRef::from(&self.inner).set_linger(Some(Duration::ZERO));
        }
    }
}

impl AsyncRead for ChaosIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ChaosIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
