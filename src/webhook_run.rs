//! Webhooks during a run: start the reference handler (or take the team's), register
//! it with the twin, create the objects the load's transfers move, and after the load
//! wait (bounded) for the effects to settle.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;
use gauntlet_mock::SecretString;
use serde_json::json;

use crate::client::transport::Http;
use crate::client::{Batch, ClientConfig, Credentials, Signing, submit_batch};
use crate::exit::UsageError;
use crate::handler::{HandlerConfig, HandlerHandle};
use crate::measure::Recorder;
use crate::plan::{HandlerChoice, Plan};
use crate::run::Resolved;
use crate::twin_link::TwinLink;
use tokio_util::sync::CancellationToken;

/// The event the load's transfers raise, and the handler subscribes to.
pub const EVENTS: [&str; 1] = ["object.transferred"];

/// What a run set up for webhooks.
#[derive(Debug, Default)]
pub struct Hooks {
    /// The reference handler, when the run started it.
    pub handler: Option<HandlerHandle>,
    /// Objects for the transfers (empty: no transfers, webhooks off).
    pub pool: Vec<String>,
    pub transfer_share: f64,
}

impl Hooks {
    pub fn on(&self) -> bool {
        !self.pool.is_empty()
    }
}

/// Set up webhooks for the run (nothing for a target without a twin).
pub async fn setup(
    plan: &Plan,
    r: &Resolved,
    link: &TwinLink,
    host: &str,
    out: &mut impl Write,
) -> anyhow::Result<Hooks> {
    let w = &plan.webhooks;
    if matches!(link, TwinLink::None) || w.handler == HandlerChoice::Off || w.transfer_share == 0.0
    {
        return Ok(Hooks::default());
    }
    let (handler, url, secret) = match &w.handler {
        HandlerChoice::Reference(flaw) => {
            let secret = SecretString::new(gauntlet_mock::engine::secret::random_secret("whsec_"));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .context("cannot bind the reference handler")?;
            let cfg = HandlerConfig {
                secret: secret.clone(),
                target: host.to_string(),
                api_key: r.key.clone(),
                signer: r.signer.clone(),
                flaw: *flaw,
            };
            let h = crate::handler::start(cfg, listener, std::future::pending()).await?;
            let url = h.url();
            (Some(h), url, secret)
        }
        HandlerChoice::Url(url) => {
            let secret = std::env::var(crate::handler::cli::SECRET_VAR)
                .ok()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    UsageError(format!(
                        "webhooks.handler is {url}: set {} to its signing secret",
                        crate::handler::cli::SECRET_VAR
                    ))
                })?;
            (None, url.clone(), SecretString::new(secret))
        }
        HandlerChoice::Off => unreachable!("handled above"),
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let hook = json!({ "url": url, "events": EVENTS, "secret": secret.expose() }).to_string();
    let mut register = http
        .post(format!("{host}/webhooks"))
        .header("x-api-key", r.key.expose())
        .header("content-type", "application/json");
    for (name, value) in r
        .signer
        .iter()
        .flat_map(|s| s.headers("POST", "/webhooks", hook.as_bytes()))
    {
        register = register.header(name, value);
    }
    let reply = register.body(hook).send().await;
    match reply {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => {
            return Err(UsageError(format!(
                "{host}: registering the webhook failed with {}",
                r.status()
            ))
            .into());
        }
        Err(e) => {
            return Err(UsageError(format!("{host}: registering the webhook failed: {e}")).into());
        }
    }
    let pool = create_pool(plan, r, host, http).await?;
    writeln!(
        out,
        "webhooks: {url} receives {} ({} objects, {:.0}% of actions are transfers)",
        EVENTS.join(", "),
        pool.len(),
        w.transfer_share * 100.0
    )?;
    Ok(Hooks {
        handler,
        pool,
        transfer_share: w.transfer_share,
    })
}

/// Create the objects the transfers move, through the reference client.
async fn create_pool(
    plan: &Plan,
    r: &Resolved,
    host: &str,
    http: reqwest::Client,
) -> anyhow::Result<Vec<String>> {
    let tag = gauntlet_mock::engine::secret::random_secret("pool")[..12].to_string();
    let ids: Vec<String> = (0..plan.webhooks.pool)
        .map(|i| format!("{tag}-{i}"))
        .collect();
    // Signed like the load (when it is), never with the client's flaw: setup
    // must succeed for the load to be judged.
    let http = Http {
        client: http,
        base: host.to_string(),
    };
    let mut t = Signing::new(http, r.signer.clone(), false);
    let creds = Credentials::ApiKey(r.key.clone());
    let scratch = Recorder::new();
    for (n, chunk) in ids.chunks(crate::plan::MAX_BATCH).enumerate() {
        let actions = chunk
            .iter()
            .map(|id| json!({ "action_type": "Emit", "object_id": id, "payload": {} }))
            .collect();
        let key_base = format!("{tag}-c{n}");
        let batch = Batch {
            actions,
            key_base: &key_base,
            intended: Instant::now(),
            seed: n as u64,
        };
        let out = submit_batch(
            &mut t,
            &ClientConfig::default(),
            &creds,
            batch,
            &scratch,
            &CancellationToken::new(),
        )
        .await;
        if out.accepted != chunk.len() {
            return Err(UsageError(format!(
                "{host}: creating the transfer pool failed ({} of {} objects)",
                out.accepted,
                chunk.len()
            ))
            .into());
        }
    }
    Ok(ids)
}

/// Wait until every effect due has happened or the settle time is over.
pub async fn settle(link: &TwinLink, hooks: &Hooks, within: Duration) {
    if !hooks.on() {
        return;
    }
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let done = link
            .oracle((Duration::ZERO, Duration::ZERO))
            .await
            .ok()
            .flatten()
            .is_some_and(|a| {
                let e = &a.oracle.effects;
                e.lost == 0 && e.undelivered == 0
            });
        if done {
            // A little longer, for duplicates still on their way.
            tokio::time::sleep(Duration::from_millis(500)).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
