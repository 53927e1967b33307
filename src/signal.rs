//! One shutdown future for Ctrl-C and SIGTERM.

/// Resolves on the first Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// Ctrl-C and SIGTERM during `gauntlet run`: the first stops the load (no new
/// batch starts; those in flight finish within the drain grace), the second cuts
/// the drain short (what is in flight is counted as cut off, the report is
/// written, the run exits 130), a third exits at once.
#[derive(Debug, Default)]
pub struct Interrupts {
    count: std::sync::atomic::AtomicU32,
    /// The first signal.
    pub stop: tokio_util::sync::CancellationToken,
    /// The second.
    pub cut: tokio_util::sync::CancellationToken,
}

impl Interrupts {
    /// Take over Ctrl-C and SIGTERM for this process (before goose can: goose's
    /// own handler exits 1 on a second Ctrl-C, writing nothing). Where a handler
    /// is already installed, the returned value is simply never signalled.
    pub fn install() -> std::sync::Arc<Interrupts> {
        let me = std::sync::Arc::new(Interrupts::default());
        let handler = me.clone();
        if let Err(e) = ctrlc::set_handler(move || handler.signal()) {
            tracing::warn!("cannot take over Ctrl-C: {e}");
        }
        me
    }

    /// One signal arrived.
    pub fn signal(&self) {
        match self.count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 => {
                tracing::warn!(
                    "stopping: no new batch starts; Ctrl-C again to cut the drain short"
                );
                goose::trigger_killswitch("SIGINT received");
                self.stop.cancel();
            }
            1 => {
                tracing::warn!("cutting the drain short: the report is written next");
                self.cut.cancel();
            }
            _ => std::process::exit(i32::from(crate::exit::INTERRUPTED)),
        }
    }
}
