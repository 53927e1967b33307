//! The listener: accept loop, per-connection hyper service, graceful drain.
//!
//! [`serve`] runs until `shutdown` resolves (or `stop` is cancelled), then stops
//! accepting, lets in-flight requests finish (hangs end early), and returns once
//! every connection has closed or the drain deadline passed. What a request gets is
//! the caller's `service` (the twin's router); the server knows no paths.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::pipeline::Dropped;
use super::reply::TwinBody;

/// How long shutdown waits for open connections.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// A client must send its request headers within this (slowloris guard).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Serve `listener` until `shutdown` resolves or `stop` is cancelled (shutdown
/// cancels `stop`, which ends hangs and delays), then drain. Each request goes to
/// `service` with its connection's reset flag: set it and a dropped reply ends the
/// connection with a reset (RST) instead of a close.
pub async fn serve<S, F>(
    listener: TcpListener,
    stop: CancellationToken,
    shutdown: impl Future<Output = ()> + Send + 'static,
    service: S,
) where
    S: Fn(Arc<AtomicBool>, Request<Incoming>) -> F + Clone + Send + 'static,
    F: Future<Output = Result<Response<TwinBody>, Dropped>> + Send + 'static,
{
    // Each connection holds a receiver; when all are dropped, `closed()` resolves.
    let (close_tx, close_rx) = watch::channel(());
    let on_shutdown = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        on_shutdown.cancel();
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
            _ = stop.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let io = ChaosIo::new(stream);
        let reset = io.reset.clone();
        let (service, stop, close_rx) = (service.clone(), stop.clone(), close_rx.clone());
        tokio::spawn(async move {
            let svc = service_fn(move |req| service(reset.clone(), req));
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(io), svc)
                .with_upgrades();
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
