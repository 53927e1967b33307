//! `gauntlet smoke`: walk a known offer through the protocol on a real deployment,
//! one step at a time, safely: no fault rule is ever sent, a handful of requests a
//! second (hard-capped), the value moved capped by the plan, secrets from the
//! environment only and never printed, reverts named.
//!
//! Configuration is resolved whole before the first request ([`config`]); a
//! missing variable or a sandbox/production mix-up is an error (exit 2). The walk
//! ([`walk`]) records each step ([`record`]); exit 0 when every step passed, 1 when
//! one failed (it names the step and why).
//!
//! A walk runs for each platform whose base URL is set: Dual's ([`dual`]) with
//! `DUAL_BASE_URL`, Boson's ([`walk`]) with `BOSON_RPC_URL`; with
//! `BOSON_RELAYER_URL` the Boson walk's calls without value go through the
//! meta-transaction relayer, falling back to JSON-RPC when it is down.

pub mod config;
pub mod dual;
pub mod record;
pub mod walk;

use std::io::Write;
use std::path::PathBuf;
use std::time::SystemTime;

use alloy::signers::local::PrivateKeySigner;

use crate::cli::SmokeArgs;
use crate::exit::{UsageError, of_verdict};
use config::{BosonTarget, SmokePlan, Vars};

/// The default plan.
pub const DEFAULT_PLAN: &str = "scenarios/smoke.toml";
/// The buyer's and seller's signer keys (the same names `gauntlet mock` reads).
pub const BUYER_KEY_VAR: &str = "GAUNTLET_BOSON_BUYER_KEY";
pub const SELLER_KEY_VAR: &str = "GAUNTLET_BOSON_SELLER_KEY";

/// Run the smoke test; the exit code.
pub async fn run(
    args: SmokeArgs,
    env: impl Fn(&str) -> Option<String>,
    out: &mut (impl Write + Send),
) -> anyhow::Result<u8> {
    let environment = args.env.clone();
    let plan_path = args
        .plan
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PLAN));
    let plan = SmokePlan::load(&plan_path)?;
    if !plan.environments.contains_key(&environment) {
        let known: Vec<&String> = plan.environments.keys().collect();
        return Err(UsageError(format!(
            "--env {environment}: {} names {known:?}",
            plan_path.display()
        ))
        .into());
    }
    let file = match &args.env_file {
        Some(p) => config::read_env_file(p)?,
        None => Default::default(),
    };
    let vars = Vars {
        env: &env,
        file,
        environment: environment.clone(),
    };
    let dual = dual_target(&vars)?;
    let boson = match vars.setting("BOSON_RPC_URL") {
        Some(_) => Some(boson_target(&plan, &vars)?),
        None => None,
    };
    if dual.is_none() && boson.is_none() {
        return Err(UsageError(
            "nothing to walk: set DUAL_BASE_URL (the Dual walk) and/or BOSON_RPC_URL (the Boson walk)"
                .into(),
        )
        .into());
    }
    let dir = args.out.clone().unwrap_or_else(|| {
        let stamp = humantime::format_rfc3339_seconds(SystemTime::now())
            .to_string()
            .replace(['-', ':'], "");
        PathBuf::from("reports").join(format!("smoke-{environment}-{stamp}"))
    });
    if let Some(d) = &dual {
        writeln!(
            out,
            "smoke ({environment}): Dual at {} (key {})",
            d.base,
            gauntlet_mock::engine::secret::redact(d.key.expose())
        )?;
    }
    if let Some((target, seller)) = &boson {
        writeln!(
            out,
            "smoke ({environment}): Boson at {} (chain {}, diamond {:#x}), offer {}, buyer {:#x}, seller {:#x}",
            crate::boson::rpc::shown(&target.rpc),
            target.expected.chain_id,
            target.expected.diamond,
            target.offer,
            target.buyer.address(),
            seller.address()
        )?;
    }
    let trace = std::sync::Arc::new(crate::boson::rpc::Trace::default());
    let mut steps = record::Steps::new(out, trace.clone());
    // Whatever a server echoes into an error, no secret reaches a line or a file.
    let mut secrets = Vec::new();
    if let Some(d) = &dual {
        secrets.extend([d.key.expose().to_string(), d.secret.expose().to_string()]);
    }
    if let Some((t, seller)) = &boson {
        secrets.push(format!("{:x}", t.buyer.to_bytes()));
        secrets.push(format!("{:x}", seller.to_bytes()));
        if let Some((_, key, _)) = &t.relayer {
            secrets.push(key.expose().to_string());
        }
    }
    steps.mask(secrets);
    if let Some(d) = &dual {
        dual::run(d, &plan.smoke, trace.clone(), &mut steps).await;
    }
    if let Some((target, seller)) = &boson {
        walk::run(target, seller, &plan.smoke, trace.clone(), &mut steps).await;
    }
    let pass = steps.pass();
    let failed = steps
        .list
        .iter()
        .find(|s| s.outcome == record::Outcome::Fail)
        .map(|s| s.name.clone());
    let took = steps.elapsed();
    let list = std::mem::take(&mut steps.list);
    drop(steps);
    let summary = record::Summary {
        environment: &environment,
        pass,
        took_ms: took.as_millis() as u64,
        failed: failed.as_deref(),
        steps: &list,
    };
    record::write(&dir, &summary)?;
    // The verdict is the exit code: a closed stdout does not change it.
    let _ = match &failed {
        None => writeln!(
            out,
            "PASS: {} steps in {:.1} s",
            list.len(),
            took.as_secs_f64()
        ),
        Some(step) => {
            let why = list
                .iter()
                .find(|s| &s.name == step)
                .map_or("", |s| s.detail.as_str());
            writeln!(out, "FAIL at `{step}`: {why}")
        }
    };
    let _ = writeln!(out, "report: {}", dir.display());
    Ok(of_verdict(pass))
}

/// The Dual target, when `DUAL_BASE_URL` is set; every missing variable named at once.
fn dual_target(vars: &Vars<'_>) -> anyhow::Result<Option<dual::DualTarget>> {
    let Some(base) = vars.setting("DUAL_BASE_URL") else {
        return Ok(None);
    };
    let key = vars.secret(crate::run::API_KEY_VAR);
    let secret = vars.secret(crate::handler::cli::SECRET_VAR);
    let missing: Vec<&str> = [
        (crate::run::API_KEY_VAR, key.is_none()),
        (crate::handler::cli::SECRET_VAR, secret.is_none()),
    ]
    .iter()
    .filter(|(_, m)| *m)
    .map(|(n, _)| *n)
    .collect();
    if !missing.is_empty() {
        return Err(UsageError(format!(
            "not set: {} (the Dual walk's secrets, from the environment only)",
            missing.join(", ")
        ))
        .into());
    }
    let base =
        crate::target::check_url(&base).map_err(|m| UsageError(format!("DUAL_BASE_URL: {m}")))?;
    let key = key.unwrap_or_default();
    if vars.environment == "production" && config::key_looks_sandbox(&key) {
        return Err(UsageError(format!(
            "{} looks like a sandbox key, with --env production: never reuse sandbox keys in production",
            crate::run::API_KEY_VAR
        ))
        .into());
    }
    if vars.environment != "production" && !config::looks_sandbox(&base) {
        return Err(UsageError(format!(
            "DUAL_BASE_URL looks like a production URL, with --env {}: verify the client points at the right deployment",
            vars.environment
        ))
        .into());
    }
    let receiver_url = vars.setting("GAUNTLET_SMOKE_WEBHOOK_URL");
    if receiver_url.is_none() && !crate::target::is_loopback(&base) {
        return Err(UsageError(
            "not set: GAUNTLET_SMOKE_WEBHOOK_URL (a deployment off this machine cannot reach the smoke's loopback receiver: give a public URL that forwards to it)"
                .into(),
        )
        .into());
    }
    Ok(Some(dual::DualTarget {
        base,
        key: gauntlet_mock::SecretString::new(key),
        secret: gauntlet_mock::SecretString::new(secret.unwrap_or_default()),
        receiver_url,
    }))
}

/// The Boson target and the seller's key, every missing variable named at once.
fn boson_target(
    plan: &SmokePlan,
    vars: &Vars<'_>,
) -> anyhow::Result<(BosonTarget, PrivateKeySigner)> {
    let mut missing = Vec::new();
    let mut need = |name: &'static str, v: Option<String>| {
        if v.is_none() {
            missing.push(name);
        }
        v.unwrap_or_default()
    };
    let rpc = need("BOSON_RPC_URL", vars.setting("BOSON_RPC_URL"));
    let subgraph = need("BOSON_SUBGRAPH_URL", vars.setting("BOSON_SUBGRAPH_URL"));
    let offer = need(
        "GAUNTLET_SMOKE_OFFER_ID",
        vars.setting("GAUNTLET_SMOKE_OFFER_ID"),
    );
    let buyer = need(BUYER_KEY_VAR, vars.secret(BUYER_KEY_VAR));
    let seller = need(SELLER_KEY_VAR, vars.secret(SELLER_KEY_VAR));
    if !missing.is_empty() {
        return Err(UsageError(format!(
            "not set: {} (base URLs and the offer from the environment, per environment as NAME_{}, or --env-file; keys from the environment only)",
            missing.join(", "),
            vars.environment.to_uppercase()
        ))
        .into());
    }
    let expected = plan
        .environments
        .get(&vars.environment)
        .and_then(|e| e.boson.clone())
        .ok_or_else(|| {
            UsageError(format!(
                "the plan has no [environments.{}.boson] table (chain_id, diamond)",
                vars.environment
            ))
        })?;
    for (name, url) in [("BOSON_RPC_URL", &rpc), ("BOSON_SUBGRAPH_URL", &subgraph)] {
        if url::Url::parse(url).is_err() {
            return Err(UsageError(format!("{name}: `{url}` is not a URL")).into());
        }
        if vars.environment != "production" && !config::looks_sandbox(url) {
            return Err(UsageError(format!(
                "{name} looks like a production URL, with --env {}: verify the client points at the right deployment",
                vars.environment
            ))
            .into());
        }
    }
    let offer: u64 = offer.parse().map_err(|_| {
        UsageError(format!(
            "GAUNTLET_SMOKE_OFFER_ID: `{offer}` is not an offer id"
        ))
    })?;
    let key = |name: &str, v: &str| {
        v.trim()
            .parse::<PrivateKeySigner>()
            .map_err(|_| UsageError(format!("{name} is not a private key (32 bytes of hex)")))
    };
    let buyer = key(BUYER_KEY_VAR, &buyer)?;
    let seller = key(SELLER_KEY_VAR, &seller)?;
    let relayer = match vars.setting("BOSON_RELAYER_URL") {
        None => None,
        Some(url) => {
            if url::Url::parse(&url).is_err() {
                return Err(UsageError(format!("BOSON_RELAYER_URL: `{url}` is not a URL")).into());
            }
            if vars.environment != "production" && !config::looks_sandbox(&url) {
                return Err(UsageError(format!(
                    "BOSON_RELAYER_URL looks like a production URL, with --env {}: verify the client points at the right deployment",
                    vars.environment
                ))
                .into());
            }
            let key = vars.secret("BOSON_RELAYER_API_KEY").ok_or_else(|| {
                UsageError(
                    "not set: BOSON_RELAYER_API_KEY (the relayer's x-api-key, from the environment only)"
                        .into(),
                )
            })?;
            let id = vars
                .setting("BOSON_RELAYER_API_ID")
                .unwrap_or_else(|| "gauntlet-smoke".into());
            Some((url, gauntlet_mock::SecretString::new(key), id))
        }
    };
    Ok((
        BosonTarget {
            rpc,
            subgraph: Some(subgraph),
            relayer,
            offer,
            buyer,
            expected,
        },
        seller,
    ))
}
