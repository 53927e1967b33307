//! The yardstick for the twin's `GET /health`: a bare hyper 1 server that answers
//! every request with the same bytes, on the same runtime the twin uses (tokio's
//! multi-thread runtime, one HTTP/1.1 connection task per accepted socket). What
//! the twin spends beyond it is its own routing, fault engine, oracle and tracing.
//!
//! `benches/side-by-side.sh` builds and runs it:
//!
//! ```text
//! cargo build --release --example bare_hyper
//! taskset -c 0 target/release/examples/bare_hyper 127.0.0.1:9101 /tmp/health.json
//! ```
//!
//! The second argument is a file whose bytes become the body (the twin's own
//! `/health` reply, captured by the script); without it, a fixed JSON body.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:9101".into())
        .parse()?;
    let body = match args.next() {
        Some(path) => Bytes::from(std::fs::read(&path)?),
        None => Bytes::from_static(br#"{"status":"ok"}"#),
    };
    let listener = TcpListener::bind(addr).await?;
    eprintln!("bare hyper on http://{addr}, {} body bytes", body.len());
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_: Request<hyper::body::Incoming>| {
                let body = body.clone();
                async move {
                    Ok::<_, Infallible>(
                        Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(body))
                            .expect("static response"),
                    )
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
