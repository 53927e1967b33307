//! The Boson share of a run: the embedded twin set up for it, the load's shared
//! state built from the twin's seeded accounts, and its figures and checks joined
//! with the twin's oracle at the end.

use std::io::Write;
use std::sync::Arc;

use gauntlet_mock::TwinConfig;
use gauntlet_mock::engine::platform::Platform;

use crate::exit::UsageError;
use crate::load::boson::account::{self, BosonFigures};
use crate::load::boson::{OracleProbe, Shared, Target};
use crate::plan::Plan;
use crate::twin_link::TwinLink;

/// The embedded twin's chain as the plan's `[boson]` asks.
pub(super) fn configure(plan: &Plan, config: &mut TwinConfig) {
    if let Some(b) = &plan.boson {
        config.boson.block_time = b.block_time;
        config.boson.buyers = b.buyers;
        config.boson.confirmations = b.confirmations;
    }
}

/// The Boson load's shared state, when the plan has `[boson]`. It walks with the
/// twin's seeded keys, so it needs the embedded twin.
pub(super) fn shared(
    plan: &Plan,
    link: &TwinLink,
    out: &mut impl Write,
) -> anyhow::Result<Option<Arc<Shared>>> {
    let Some(b) = &plan.boson else {
        return Ok(None);
    };
    let TwinLink::Embedded(h, _) = link else {
        return Err(UsageError(format!(
            "{}: [boson] runs against the embedded twin only (it walks with the twin's seeded keys); remove --target or the plan's target.url",
            plan.path.display()
        ))
        .into());
    };
    let twin = h.twin();
    let platform = twin.boson.clone();
    let chain = &platform.boson;
    let accounts = chain.accounts_json();
    let base = h.url();
    let target = Target {
        rpc_url: format!("{base}/rpc"),
        subgraph_url: format!("{base}{}", gauntlet_mock::boson::subgraph::PATH),
        relayer_url: format!("{base}{}", gauntlet_mock::boson::relayer::http::PREFIX),
        relayer_key: chain
            .config
            .relayer_api_key
            .clone()
            .unwrap_or_else(|| gauntlet_mock::SecretString::new("gauntlet-load")),
        diamond: chain.config.diamond,
        chain_id: chain.config.chain_id,
        offer: chain.config.known_offer,
        price: chain.config.offer_price,
        seller: chain.accounts.seller.signer.clone(),
        seller_id: accounts["seller"]["seller_id"].as_u64().unwrap_or(1),
        buyers: chain
            .accounts
            .buyers
            .iter()
            .map(|a| a.signer.clone())
            .collect(),
    };
    let probe = platform.clone();
    let oracle: OracleProbe = Arc::new(move || probe.oracle());
    writeln!(
        out,
        "boson_lifecycle: {} exchanges/s ({}), {} buyers, {} confirmations, blocks every {:?}, relayer {}, client {}",
        b.rate,
        b.mix_text(),
        b.buyers,
        b.confirmations,
        b.block_time,
        if b.relayer {
            "on (direct when it is down)"
        } else {
            "off"
        },
        b.flaw.map_or("reference", |f| f.name()),
    )?;
    Ok(Some(Arc::new(Shared::new(
        b.clone(),
        plan.run.seed,
        plan.run.duration,
        target,
        Some(oracle),
    ))))
}

/// The Boson figures and checks, from the load's book and the twin's oracle.
pub(super) fn judge(
    plan: &Plan,
    shared: &Shared,
    link: &TwinLink,
) -> Option<(BosonFigures, Vec<crate::verdict::Check>)> {
    let b = plan.boson.as_ref()?;
    let oracle = match link {
        TwinLink::Embedded(h, _) => h.twin().boson.oracle(),
        _ => None,
    };
    let available = *shared.available.lock().unwrap_or_else(|e| e.into_inner());
    let figures = account::figures(
        &shared.book(),
        oracle.as_ref(),
        b.flaw.map_or("reference", |f| f.name()),
        b.rate,
        available,
    );
    let mut figures = figures;
    let rows = std::mem::take(&mut *shared.rows.lock().unwrap_or_else(|e| e.into_inner()));
    let book = shared.book();
    figures.dashboards = Some(crate::load::boson::dash::judge(
        rows,
        b,
        book.walked,
        book.longest_dispute,
        plan.run.duration,
        crate::measure::Summary::of(&book.completion),
    ));
    drop(book);
    let checks = account::checks(&figures, &b.thresholds, oracle.is_some());
    Some((figures, checks))
}

/// Dual's organization balance from the embedded twin, when it charges a fee.
pub(super) fn dual_balance(plan: &Plan, link: &TwinLink) -> Option<crate::report::DualBalance> {
    if plan.balance.fee_per_action <= 0.0 {
        return None;
    }
    let TwinLink::Embedded(h, _) = link else {
        return None;
    };
    let v = h.twin().dual.oracle()?;
    let b = &v["balance"];
    let spent = b["spent"].as_f64()?;
    let remaining = b["remaining"].as_f64()?;
    let per_hour = spent / plan.run.duration.as_secs_f64().max(1.0) * 3600.0;
    Some(crate::report::DualBalance {
        fee_per_action: plan.balance.fee_per_action,
        initial: plan.balance.initial,
        charged_actions: b["charged_actions"].as_u64()?,
        spent,
        remaining,
        spent_per_hour: per_hour,
        runway_days: (per_hour > 0.0).then(|| remaining / (per_hour * 24.0)),
        low: plan.balance.low,
        low_fired: remaining < plan.balance.low,
    })
}
