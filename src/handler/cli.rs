//! `gauntlet handler`: the reference handler as a standalone server.

use std::future::Future;
use std::io::Write;

use anyhow::Context;
use gauntlet_mock::SecretString;

use super::{HandlerConfig, HandlerFlaw, start};
use crate::cli::HandlerArgs;
use crate::exit::UsageError;

/// The webhook's signing secret.
pub const SECRET_VAR: &str = "GAUNTLET_WEBHOOK_SECRET";

pub async fn run(
    args: HandlerArgs,
    env: impl Fn(&str) -> Option<String>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    out: &mut (impl Write + Send),
) -> anyhow::Result<()> {
    let given = |var: &str| {
        env(var)
            .filter(|v| !v.trim().is_empty())
            .map(SecretString::new)
    };
    match args.platform.as_str() {
        "dual" => {}
        "boson" => return run_boson(args, &given, shutdown, out).await,
        other => {
            return Err(UsageError(format!("--platform {other}: expected dual or boson")).into());
        }
    }
    let secret = signing_secret(&given)?;
    let api_key = given(crate::run::API_KEY_VAR).ok_or_else(|| {
        UsageError(format!(
            "{} is not set: the handler performs its effects with it",
            crate::run::API_KEY_VAR
        ))
    })?;
    let flaw = HandlerFlaw::from_name(&args.flaw).ok_or_else(|| {
        UsageError(format!(
            "--flaw {}: expected one of {}",
            args.flaw,
            HandlerFlaw::NAMES.join(", ")
        ))
    })?;
    // A platform that requires EIP-712 signatures gets them on every effect.
    let signer = crate::client::Signer::from_env(&env)?;
    let signed = signer.as_ref().map(crate::client::Signer::describe);
    let target =
        crate::target::check_url(&args.target).map_err(|m| UsageError(format!("--target: {m}")))?;
    let listener = loopback_listener(args.listen).await?;
    let handle = start(
        HandlerConfig {
            secret,
            target: target.clone(),
            api_key,
            signer,
            flaw,
        },
        listener,
        shutdown,
    )
    .await?;
    writeln!(
        out,
        "webhook handler listening on {} (effects to {target}, flaw {})",
        handle.url(),
        args.flaw
    )?;
    if let Some(by) = signed {
        writeln!(out, "effects are signed (EIP-712) by {by}")?;
    }
    writeln!(
        out,
        "register it: POST {target}/webhooks {{\"url\":\"{}\",\"events\":[\"object.created\",\"object.transferred\"],\"secret\":\"<{SECRET_VAR}>\"}}",
        handle.url()
    )?;
    out.flush()?;
    handle.stop.cancelled().await;
    handle.stop().await;
    Ok(())
}

/// `gauntlet handler --platform boson`: the reference chain-event receiver.
async fn run_boson(
    args: HandlerArgs,
    given: &impl Fn(&str) -> Option<SecretString>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    out: &mut (impl Write + Send),
) -> anyhow::Result<()> {
    use super::chain::{ChainFlaw, ChainHandlerConfig};
    let secret = signing_secret(given)?;
    let token = given(crate::run::CONTROL_TOKEN_VAR).ok_or_else(|| {
        UsageError(format!(
            "{} is not set: the handler reports its effects to the twin's ledger with it",
            crate::run::CONTROL_TOKEN_VAR
        ))
    })?;
    let flaw = ChainFlaw::from_name(&args.flaw).ok_or_else(|| {
        UsageError(format!(
            "--flaw {}: expected one of {}",
            args.flaw,
            ChainFlaw::NAMES.join(", ")
        ))
    })?;
    let twin =
        crate::target::check_url(&args.target).map_err(|m| UsageError(format!("--target: {m}")))?;
    let rpc = match &args.rpc {
        Some(u) => crate::target::check_url(u).map_err(|m| UsageError(format!("--rpc: {m}")))?,
        None => format!("{twin}/rpc"),
    };
    let listener = loopback_listener(args.listen).await?;
    let confirmations = match args.confirmations {
        Some(n) => n,
        None => twin_confirmations(&twin, &token).await?,
    };
    let handle = super::chain::start(
        ChainHandlerConfig {
            secret,
            twin: twin.clone(),
            token,
            rpc: rpc.clone(),
            confirmations,
            flaw,
        },
        listener,
    )
    .await?;
    writeln!(
        out,
        "chain-event handler listening on {} (head from {rpc}, acts after {} confirmations, flaw {})",
        handle.url(),
        confirmations,
        args.flaw
    )?;
    writeln!(
        out,
        "register it: POST {twin}/_gauntlet/boson/webhooks (x-gauntlet-token) {{\"url\":\"{}\",\"events\":[\"BuyerCommitted\",\"VoucherRedeemed\",...],\"secret\":\"<{SECRET_VAR}>\"}}",
        handle.url()
    )?;
    out.flush()?;
    let stop = handle.stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        stop.cancel();
    });
    handle.stop.cancelled().await;
    handle.stop().await;
    Ok(())
}

/// The confirmations the twin grades chain-event effects by, from its oracle.
async fn twin_confirmations(twin: &str, token: &SecretString) -> anyhow::Result<u64> {
    let url = format!("{twin}/_gauntlet/oracle");
    let read = async {
        let r = reqwest::Client::new()
            .get(&url)
            .header(gauntlet_mock::engine::control::TOKEN_HEADER, token.expose())
            .timeout(std::time::Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let v: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
        v["boson"]["webhooks"]["confirmations"]
            .as_u64()
            .ok_or_else(|| format!("HTTP {status}, no boson.webhooks.confirmations"))
    };
    read.await.map_err(|e| {
        UsageError(format!(
            "cannot read the twin's confirmations from {url} ({e}); is `gauntlet mock` running there? Or pass --confirmations"
        ))
        .into()
    })
}

/// The webhook's signing secret, from the environment.
fn signing_secret(given: &impl Fn(&str) -> Option<SecretString>) -> anyhow::Result<SecretString> {
    given(SECRET_VAR).ok_or_else(|| {
        UsageError(format!(
            "{SECRET_VAR} is not set: the handler needs the webhook's signing secret"
        ))
        .into()
    })
}

/// A listener on `addr`, which must be loopback.
async fn loopback_listener(addr: std::net::SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    if !addr.ip().is_loopback() {
        return Err(UsageError(format!(
            "--listen {addr}: the handler listens on loopback only"
        ))
        .into());
    }
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}
