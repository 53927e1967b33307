//! The run's line to the twin: the embedded one (a library handle), one started
//! with `gauntlet mock` (its control API), or none (a real deployment: no faults,
//! no oracle).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use gauntlet_mock::{MockHandle, MockServer, OracleView, Rule, SecretString, TwinConfig};
use serde::Deserialize;
use serde_json::json;

use crate::exit::UsageError;

/// How a run reaches its twin.
#[derive(Debug)]
pub enum TwinLink {
    /// In this process, on a runtime of its own ([`TwinThread`]).
    Embedded(MockHandle, TwinThread),
    Remote {
        base: String,
        token: SecretString,
        http: reqwest::Client,
    },
    None,
}

#[derive(Deserialize)]
struct OracleReply {
    oracle: OracleView,
    applied_rate: Option<f64>,
    faults: BTreeMap<String, u64>,
}

/// What the twin says at the end of a run.
#[derive(Debug, Clone)]
pub struct TwinAccount {
    pub oracle: OracleView,
    /// Applied actions per second over the requested window.
    pub applied_rate: Option<f64>,
    /// Injected faults by kind.
    pub faults: BTreeMap<String, u64>,
}

/// How long a control call may take.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(10);

/// The embedded twin's own OS thread and runtime. The twin handles a batch
/// synchronously (parse, apply, account: milliseconds for 500 actions); on the
/// harness's runtime that work would hold up the dispatchers' timers and show as
/// start lag. On its own thread the OS shares the cores between them instead.
/// Dropping this ends the twin's runtime.
#[derive(Debug)]
pub struct TwinThread {
    release: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TwinThread {
    fn release(&mut self) {
        if let Some(tx) = self.release.take() {
            let _ = tx.send(());
        }
    }
}

impl TwinLink {
    /// Serve `config` on 127.0.0.1 (a free port) on a thread of its own.
    pub async fn embedded(config: TwinConfig) -> anyhow::Result<TwinLink> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .context("cannot bind the embedded twin on 127.0.0.1")?;
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("gauntlet-twin".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = started_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    let started = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => MockServer::start(config, l, std::future::pending()).await,
                        Err(e) => Err(e),
                    };
                    let ok = started.is_ok();
                    let _ = started_tx.send(started);
                    if ok {
                        // Serve until the link is stopped (or dropped).
                        let _ = release_rx.await;
                    }
                });
            })
            .context("cannot start the embedded twin's thread")?;
        let handle = started_rx
            .await
            .context("the embedded twin's thread ended before it served")?
            .context("cannot start the embedded twin")?;
        Ok(TwinLink::Embedded(
            handle,
            TwinThread {
                release: Some(release_tx),
            },
        ))
    }

    /// A twin started with `gauntlet mock` at `base`, reached with `token`.
    pub fn remote(base: &str, token: SecretString) -> anyhow::Result<TwinLink> {
        let http = reqwest::Client::builder()
            .timeout(CONTROL_TIMEOUT)
            .build()
            .context("building the control client")?;
        Ok(TwinLink::Remote {
            base: base.to_string(),
            token,
            http,
        })
    }

    /// Forget earlier state and any rules, so setup traffic meets no faults.
    pub async fn reset(&self) -> anyhow::Result<()> {
        match self {
            TwinLink::Embedded(h, _) => {
                let twin = h.twin();
                twin.engine
                    .faults
                    .install(Vec::new(), twin.engine.clock.now());
                twin.reset();
                Ok(())
            }
            TwinLink::Remote { base, token, http } => {
                let reset = http
                    .post(format!("{base}/_gauntlet/reset"))
                    .header("x-gauntlet-token", token.expose())
                    .send()
                    .await
                    .map_err(|e| unreachable(base, &e))?;
                if reset.status() == 401 {
                    return Err(UsageError(format!(
                        "{base}: the control token was refused (GAUNTLET_CONTROL_TOKEN)"
                    ))
                    .into());
                }
                self.install(&[]).await.map(|_| ())
            }
            TwinLink::None => Ok(()),
        }
    }

    /// Install `rules`; returns the twin time at which their windows start.
    pub async fn install(&self, rules: &[Rule]) -> anyhow::Result<Option<Duration>> {
        self.install_labeled(rules, None).await
    }

    /// Install `rules` under `label` (a run's id, which other segments of the
    /// run wait for); returns the twin time at which their windows start.
    pub async fn install_labeled(
        &self,
        rules: &[Rule],
        label: Option<&str>,
    ) -> anyhow::Result<Option<Duration>> {
        match self {
            TwinLink::Embedded(h, _) => {
                let twin = h.twin();
                let epoch = twin.engine.clock.now();
                twin.engine.faults.install_labeled(
                    rules.to_vec(),
                    epoch,
                    label.map(str::to_string),
                );
                Ok(Some(epoch))
            }
            TwinLink::Remote { base, token, http } => {
                let specs: Vec<_> = rules.iter().map(|r| &r.spec).collect();
                let reply = http
                    .put(format!("{base}/_gauntlet/rules"))
                    .header("x-gauntlet-token", token.expose())
                    .json(&json!({ "rules": specs, "label": label }))
                    .send()
                    .await
                    .map_err(|e| unreachable(base, &e))?;
                if reply.status() == 401 {
                    return Err(UsageError(format!(
                        "{base}: the control token was refused (GAUNTLET_CONTROL_TOKEN)"
                    ))
                    .into());
                }
                if !reply.status().is_success() {
                    let why = reply.text().await.unwrap_or_default();
                    return Err(UsageError(format!(
                        "{base}: installing the plan's faults failed: {why}"
                    ))
                    .into());
                }
                let v: serde_json::Value = reply.json().await.map_err(|e| unreachable(base, &e))?;
                // Windows and rates are read on the twin's clock; it must be real time.
                if v["time_scale"].as_f64().is_some_and(|s| s != 1.0) {
                    let scale = &v["time_scale"];
                    return Err(UsageError(format!("{base}: the twin runs with --time-scale {scale}; a load run needs real time (1)")).into());
                }
                Ok(v["epoch_ms"].as_u64().map(Duration::from_millis))
            }
            TwinLink::None => Ok(None),
        }
    }

    /// The installed rules' label, their epoch and the twin's clock now (for a
    /// segment meeting the others on a shared twin); None without a remote twin.
    pub async fn rules_label(
        &self,
    ) -> anyhow::Result<Option<(Option<String>, Duration, Duration)>> {
        let TwinLink::Remote { base, token, http } = self else {
            return Ok(None);
        };
        let v: serde_json::Value = http
            .get(format!("{base}/_gauntlet/rules"))
            .header("x-gauntlet-token", token.expose())
            .send()
            .await
            .map_err(|e| unreachable(base, &e))?
            .error_for_status()
            .map_err(|e| unreachable(base, &e))?
            .json()
            .await
            .map_err(|e| unreachable(base, &e))?;
        let ms = |k: &str| Duration::from_millis(v[k].as_u64().unwrap_or(0));
        Ok(Some((
            v["label"].as_str().map(str::to_string),
            ms("epoch_ms"),
            ms("now_ms"),
        )))
    }

    /// The fault tape as JSON Lines (every kept entry, in order); None without a twin.
    pub async fn tape(&self) -> anyhow::Result<Option<String>> {
        match self {
            TwinLink::Embedded(h, _) => Ok(Some(h.twin().engine.faults.tape.jsonl(0))),
            TwinLink::Remote { base, token, http } => {
                let reply = http
                    .get(format!("{base}/_gauntlet/tape?format=jsonl"))
                    .header("x-gauntlet-token", token.expose())
                    .send()
                    .await
                    .map_err(|e| unreachable(base, &e))?;
                if !reply.status().is_success() {
                    return Err(UsageError(format!(
                        "{base}: reading the fault tape failed: {}",
                        reply.status()
                    ))
                    .into());
                }
                Ok(Some(reply.text().await.map_err(|e| unreachable(base, &e))?))
            }
            TwinLink::None => Ok(None),
        }
    }

    /// The oracle's account, and the applied rate over `window` of twin time.
    pub async fn oracle(
        &self,
        window: (Duration, Duration),
    ) -> anyhow::Result<Option<TwinAccount>> {
        match self {
            TwinLink::Embedded(h, _) => {
                let twin = h.twin();
                let faults = twin
                    .engine
                    .faults
                    .tape
                    .view(u64::MAX, 0)
                    .by_kind
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect();
                Ok(Some(TwinAccount {
                    oracle: twin.oracle_view(),
                    applied_rate: twin.engine.oracle.applied_rate(window.0, window.1),
                    faults,
                }))
            }
            TwinLink::Remote { base, token, http } => {
                let url = format!(
                    "{base}/_gauntlet/oracle?from_ms={}&to_ms={}",
                    window.0.as_millis(),
                    window.1.as_millis()
                );
                let reply = http
                    .get(url)
                    .header("x-gauntlet-token", token.expose())
                    .send()
                    .await
                    .map_err(|e| unreachable(base, &e))?;
                let reply = reply
                    .error_for_status()
                    .map_err(|e| unreachable(base, &e))?;
                let r: OracleReply = reply.json().await.map_err(|e| unreachable(base, &e))?;
                Ok(Some(TwinAccount {
                    oracle: r.oracle,
                    applied_rate: r.applied_rate,
                    faults: r.faults,
                }))
            }
            TwinLink::None => Ok(None),
        }
    }

    /// A handle that reads the twin's status (and installs rules) from a task
    /// of its own; None without a twin.
    pub fn probe(&self) -> Option<TwinProbe> {
        match self {
            TwinLink::Embedded(h, _) => Some(TwinProbe::Embedded(h.twin().clone())),
            TwinLink::Remote { base, token, http } => Some(TwinProbe::Remote {
                base: base.clone(),
                token: token.clone(),
                http: http.clone(),
            }),
            TwinLink::None => None,
        }
    }

    /// Stop an embedded twin (draining it); nothing for the others.
    pub async fn stop(self) {
        if let TwinLink::Embedded(h, mut thread) = self {
            h.stop().await;
            thread.release();
        }
    }
}

/// The twin as a long run watches it: its status every interval, and the plan's
/// faults installed again after it restarted.
#[derive(Debug, Clone)]
pub enum TwinProbe {
    Embedded(std::sync::Arc<gauntlet_mock::twin::Twin>),
    Remote {
        base: String,
        token: SecretString,
        http: reqwest::Client,
    },
}

/// How long a status read may take before the twin counts as unreachable.
pub const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

impl TwinProbe {
    /// The twin's process and stores now; an error when it cannot be reached.
    pub async fn status(&self) -> anyhow::Result<gauntlet_mock::engine::status::Status> {
        match self {
            TwinProbe::Embedded(t) => Ok(t.engine.status()),
            TwinProbe::Remote { base, token, http } => {
                let reply = http
                    .get(format!("{base}/_gauntlet/status"))
                    .header("x-gauntlet-token", token.expose())
                    .timeout(STATUS_TIMEOUT)
                    .send()
                    .await
                    .map_err(|e| unreachable(base, &e))?
                    .error_for_status()
                    .map_err(|e| unreachable(base, &e))?;
                Ok(reply.json().await.map_err(|e| unreachable(base, &e))?)
            }
        }
    }

    /// The twin shares this process (its memory is the harness's).
    pub fn in_process(&self) -> bool {
        matches!(self, TwinProbe::Embedded(_))
    }

    /// Install `rules` on the twin as it is now (after a restart).
    pub async fn install(&self, rules: &[Rule]) -> anyhow::Result<()> {
        match self {
            TwinProbe::Embedded(t) => {
                t.engine
                    .faults
                    .install(rules.to_vec(), t.engine.clock.now());
                Ok(())
            }
            TwinProbe::Remote { base, token, http } => {
                let specs: Vec<_> = rules.iter().map(|r| &r.spec).collect();
                http.put(format!("{base}/_gauntlet/rules"))
                    .header("x-gauntlet-token", token.expose())
                    .json(&json!({ "rules": specs }))
                    .send()
                    .await
                    .map_err(|e| unreachable(base, &e))?
                    .error_for_status()
                    .map_err(|e| unreachable(base, &e))?;
                Ok(())
            }
        }
    }
}

fn unreachable(base: &str, e: &reqwest::Error) -> anyhow::Error {
    UsageError(format!(
        "the twin's control API at {base} is unreachable: {e}"
    ))
    .into()
}
