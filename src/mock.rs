//! `gauntlet mock`: the twin as a standalone server.

use std::future::Future;
use std::io::Write;

use anyhow::Context;
use gauntlet_mock::{MockServer, OracleView, TwinConfig};

use crate::cli::MockArgs;
use crate::exit::UsageError;
use crate::secrets::Secret;

/// Environment variables for the twin's secrets.
pub const API_KEY_VAR: &str = "GAUNTLET_API_KEY";
pub const CONTROL_TOKEN_VAR: &str = "GAUNTLET_CONTROL_TOKEN";
/// Where `--boson-ports` serves JSON-RPC: core-sdk's local RPC URL.
pub const BOSON_RPC_ADDR: &str = "127.0.0.1:8545";
/// Where `--boson-ports` serves the meta-transaction relayer: core-sdk's local
/// relayer URL (Boson's meta-tx-gateway port).
pub const BOSON_RELAYER_ADDR: &str = "127.0.0.1:8888";
/// Where `--boson-ports` serves the subgraph: core-sdk's local graph-node
/// (`http://127.0.0.1:8000/subgraphs/name/boson/corecomponents`).
pub const BOSON_SUBGRAPH_ADDR: &str = "127.0.0.1:8000";

/// The configuration `args` ask for, with the secrets it uses.
pub fn config(
    args: &MockArgs,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<(TwinConfig, Secret, Secret)> {
    let key = Secret::from_env_or_generate(API_KEY_VAR, "sk_sandbox_", &env);
    let token = Secret::from_env_or_generate(CONTROL_TOKEN_VAR, "ctl_", &env);
    let base = TwinConfig::sandbox(key.expose(), token.expose());
    let mut config = match &args.config {
        Some(path) => TwinConfig::load(path, base, &env)?,
        None => base,
    };
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    if let Some(id) = args.known_offer {
        if id == 0 {
            return Err(UsageError("--known-offer: offer ids start at 1".into()).into());
        }
        config.boson.known_offer = id;
    }
    boson_keys(&mut config, &env)?;
    if let Some(scale) = args.time_scale {
        if !(scale >= 1.0 && scale.is_finite()) {
            return Err(UsageError(format!(
                "--time-scale must be at least 1 (twin seconds per real second), got {scale}"
            ))
            .into());
        }
        config.time_scale = scale;
    }
    if !args.listen.ip().is_loopback() && !args.allow_non_loopback {
        return Err(UsageError(format!(
            "--listen {}: not a loopback address; the control API shares this listener, pass --allow-non-loopback if you mean it",
            args.listen
        ))
        .into());
    }
    Ok((config, key, token))
}

/// Boson's keys from the environment, checked now so a bad one stops the twin
/// before it serves.
fn boson_keys(config: &mut TwinConfig, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
    use gauntlet_mock::SecretString;
    use gauntlet_mock::boson::accounts::{BUYER_KEYS_ENV, SELLER_KEY_ENV};
    if let Some(k) = env(SELLER_KEY_ENV) {
        config.boson.seller_key = Some(SecretString::new(k));
    }
    if let Some(k) = env(BUYER_KEYS_ENV) {
        config.boson.buyer_keys = Some(SecretString::new(k));
    }
    if let Some(k) = env(gauntlet_mock::boson::config::RELAYER_API_KEY_ENV) {
        config.boson.relayer_api_key = Some(SecretString::new(k));
    }
    config
        .boson
        .accounts(config.seed)
        .map_err(|e| UsageError(e.to_string()))?;
    Ok(())
}

/// The Boson chain's banner: where to point a client, the known offer, and the
/// development accounts (keys the twin made up are shown whole, as anvil shows
/// its own; keys from the environment are redacted).
fn write_boson(
    out: &mut impl Write,
    handle: &gauntlet_mock::MockHandle,
    rpc: Option<&str>,
) -> std::io::Result<()> {
    let boson = &handle.twin().boson;
    let c = &boson.config;
    let eth = |wei: gauntlet_mock::boson::U256| format_ether(wei);
    writeln!(
        out,
        "boson chain:   JSON-RPC {}/rpc (ws://{}/rpc){}",
        handle.url(),
        handle.addr(),
        rpc.map(|r| format!(", and http://{r}")).unwrap_or_default()
    )?;
    writeln!(
        out,
        "               chain id {}, diamond {:#x}, a block every {}",
        c.chain_id,
        c.diamond,
        humantime::format_duration(c.block_time)
    )?;
    writeln!(
        out,
        "relayer:       {}/relayer{}",
        handle.url(),
        rpc.map(|_| format!(", and http://{BOSON_RELAYER_ADDR}"))
            .unwrap_or_default()
    )?;
    let path = gauntlet_mock::boson::subgraph::PATH;
    writeln!(
        out,
        "subgraph:      {}{path}{}",
        handle.url(),
        rpc.map(|_| format!(", and http://{BOSON_SUBGRAPH_ADDR}{path}"))
            .unwrap_or_default()
    )?;
    writeln!(
        out,
        "chain events:  POST {}/_gauntlet/boson/webhooks (control token) {{url, events, secret}}; effects to /_gauntlet/boson/effects after {} confirmations",
        handle.url(),
        c.confirmations
    )?;
    writeln!(
        out,
        "known offer:   {} (price {} ETH, seller deposit {} ETH)",
        c.known_offer,
        eth(c.offer_price),
        eth(c.offer_deposit)
    )?;
    writeln!(out, "accounts ({} ETH each):", eth(c.account_balance))?;
    for a in boson.accounts.all() {
        writeln!(
            out,
            "  {:<9} {:#x}  key {}",
            a.role,
            a.address(),
            a.shown_key()
        )?;
    }
    Ok(())
}

/// Wei as ether with up to 6 decimals.
fn format_ether(wei: gauntlet_mock::boson::U256) -> String {
    let unit = gauntlet_mock::boson::U256::from(10u64).pow(gauntlet_mock::boson::U256::from(12u64));
    let micro = wei / unit;
    let whole = micro / gauntlet_mock::boson::U256::from(1_000_000u64);
    let frac = micro % gauntlet_mock::boson::U256::from(1_000_000u64);
    if frac.is_zero() {
        whole.to_string()
    } else {
        format!("{whole}.{}", format!("{frac:0>6}").trim_end_matches('0'))
    }
}

/// Serve until `shutdown`, printing the address and credentials first and the
/// oracle's account after the drain.
pub async fn run(
    args: MockArgs,
    env: impl Fn(&str) -> Option<String>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    out: &mut (impl Write + Send),
) -> anyhow::Result<OracleView> {
    let (config, key, token) = config(&args, env)?;
    let (seed, scale, rules) = (config.seed, config.time_scale, config.faults.len());
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let handle = MockServer::start(config, listener, shutdown).await?;
    let rpc = if args.boson_ports {
        let l = tokio::net::TcpListener::bind(BOSON_RPC_ADDR)
            .await
            .with_context(|| format!("--boson-ports: cannot listen on {BOSON_RPC_ADDR}"))?;
        handle.serve_rpc(l);
        let l = tokio::net::TcpListener::bind(BOSON_RELAYER_ADDR)
            .await
            .with_context(|| format!("--boson-ports: cannot listen on {BOSON_RELAYER_ADDR}"))?;
        handle.serve_relayer(l);
        // The Boson listener answers the subgraph at its path, as graph-node does.
        let l = tokio::net::TcpListener::bind(BOSON_SUBGRAPH_ADDR)
            .await
            .with_context(|| format!("--boson-ports: cannot listen on {BOSON_SUBGRAPH_ADDR}"))?;
        handle.serve_rpc(l);
        Some(BOSON_RPC_ADDR)
    } else {
        None
    };
    writeln!(out, "listening on {}", handle.url())?;
    writeln!(out, "api key:       {}", key.for_display())?;
    writeln!(out, "control token: {}", token.for_display())?;
    writeln!(
        out,
        "seed {seed}, time scale {scale}, {rules} fault rule(s); Ctrl-C to stop"
    )?;
    write_boson(out, &handle, rpc)?;
    out.flush()?;
    tracing::info!(addr = %handle.addr(), seed, "twin serving");
    let view = handle.wait().await;
    write_summary(out, &view)?;
    Ok(view)
}

/// The oracle's account, for a person.
pub fn write_summary(out: &mut impl Write, v: &OracleView) -> std::io::Result<()> {
    let a = &v.actions;
    let b = &v.backoff;
    writeln!(out, "\noracle")?;
    writeln!(
        out,
        "  actions     distinct {}  applied {}  exactly once {}",
        a.distinct, a.applies, a.exactly_once
    )?;
    writeln!(
        out,
        "              duplicated {} (+{} applies)  lost {}  rejected {}",
        a.duplicated, a.extra_applies, a.lost, a.rejected
    )?;
    writeln!(
        out,
        "  idempotency keys {}  replays {}  reused with another body {}",
        v.idempotency.keys, v.idempotency.replays, v.idempotency.mismatches
    )?;
    writeln!(
        out,
        "  backoff     faulted replies {}  retries {}  early {}",
        b.faulted_replies, b.retries, b.early
    )?;
    if b.retries > 0 {
        writeln!(
            out,
            "              gap p50 {:.0} ms  p99 {:.0} ms",
            b.gap.p50_ms, b.gap.p99_ms
        )?;
    }
    for burst in &v.bursts {
        writeln!(
            out,
            "  burst after {}: peak {} per 100 ms vs steady {:.1} (x{:.1})",
            burst.rule, burst.peak_per_100ms, burst.steady_per_100ms, burst.ratio
        )?;
    }
    Ok(())
}
