//! The Boson load's figures and checks: what the client set out to do and
//! measured, joined with the twin's oracle (`boson` in `GET /_gauntlet/oracle`).
//! Every check's figure is the twin's, except the transitions the client set out
//! to make (its intent), which `lost_transitions` compares with the twin's count.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Book;
use crate::measure::Summary;
use crate::plan::boson::BosonThresholds;
use crate::verdict::{Check, Status};

/// One transition's phases, from its send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PhaseFigures {
    pub receipt_ms: Summary,
    pub confirmed_ms: Summary,
    pub indexed_ms: Summary,
}

/// `boson` in `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BosonFigures {
    /// The client: `reference` or a flaw's name.
    pub client: String,
    pub offered_rate: f64,
    pub exchanges_started: u64,
    pub exchanges_walked: u64,
    pub by_path: BTreeMap<String, u64>,
    pub gave_up: BTreeMap<String, u64>,
    pub cut_off: u64,
    /// Transitions the client set out to make, by target state.
    pub set_out: BTreeMap<String, u64>,
    /// Transitions applied on the canonical chain (the twin's count).
    pub applied: BTreeMap<String, u64>,
    /// Set out and never applied, over every state.
    pub lost_transitions: u64,
    /// The same intent applied twice, or refused as a duplicate (the twin's).
    pub double_submitted: u64,
    /// Actions on an exchange whose last transition lacked the confirmations.
    pub unconfirmed_actions: u64,
    /// Actions that followed a subgraph read older than the exchange's last transition.
    pub stale_reads: u64,
    pub funds_conserved: bool,
    /// How far the protocol's available funds rose above their level at the
    /// start, at the peak (sampled every 2 s), ETH.
    pub available_rise_eth: Option<f64>,
    pub relayer_fallbacks: u64,
    pub relayer_ambiguous: u64,
    pub paused_retries: u64,
    pub withdrawals: u64,
    pub reverts: BTreeMap<String, u64>,
    /// Gas the client paid itself (relayed calls are paid by the relayer), ETH.
    pub gas_paid_eth: f64,
    pub start_lag_ms: Summary,
    pub transitions: BTreeMap<String, PhaseFigures>,
    /// The subgraph's consistency lag, as the twin measured it.
    pub subgraph_lag_ms: Option<Value>,
    /// The first actions the twin judged premature or stale (exchange, blocks).
    #[serde(default)]
    pub judged_wrong: Vec<Value>,
    /// The checklist's dashboards over time, its alerts, the wallet's runway.
    #[serde(default)]
    pub dashboards: Option<super::dash::Dashboards>,
}

pub fn wei_to_eth(w: u128) -> f64 {
    w as f64 / 1e18
}

/// Join the book with the twin's Boson oracle (`None`: no twin to ask).
pub fn figures(
    book: &Book,
    oracle: Option<&Value>,
    client: &str,
    rate: f64,
    available: Option<(u128, u128)>,
) -> BosonFigures {
    let o = oracle.cloned().unwrap_or(Value::Null);
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let applied: BTreeMap<String, u64> = o["transitions"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), n(v))).collect())
        .unwrap_or_default();
    let lost = book
        .set_out
        .iter()
        .map(|(s, want)| want.saturating_sub(applied.get(*s).copied().unwrap_or(0)))
        .sum();
    let relayer = &o["relayer"];
    BosonFigures {
        client: client.to_string(),
        offered_rate: rate,
        exchanges_started: book.started,
        exchanges_walked: book.walked,
        by_path: book
            .by_path
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
        gave_up: book.gave_up.clone(),
        cut_off: book.cut_off,
        set_out: book
            .set_out
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
        applied,
        lost_transitions: lost,
        double_submitted: n(&relayer["double_submissions"]) + n(&relayer["duplicate_refusals"]),
        unconfirmed_actions: n(&o["actions"]["premature"]),
        stale_reads: n(&o["actions"]["stale_reads"]),
        funds_conserved: o["funds"]["conserved"] == true,
        available_rise_eth: available.map(|(start, peak)| wei_to_eth(peak.saturating_sub(start))),
        relayer_fallbacks: book.fallbacks,
        relayer_ambiguous: book.ambiguous,
        paused_retries: book.paused_retries,
        withdrawals: book.withdrawals,
        reverts: book.transitions.reverts.clone(),
        gas_paid_eth: wei_to_eth(u128::try_from(book.gas_wei).unwrap_or(u128::MAX)),
        start_lag_ms: Summary::of(&book.start_lag),
        transitions: book
            .transitions
            .by_state
            .iter()
            .map(|(k, p)| {
                let f = PhaseFigures {
                    receipt_ms: Summary::of(&p.receipt),
                    confirmed_ms: Summary::of(&p.confirmed),
                    indexed_ms: Summary::of(&p.indexed),
                };
                (k.to_string(), f)
            })
            .collect(),
        dashboards: None,
        judged_wrong: o["actions"]["examples"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        subgraph_lag_ms: o["subgraph"].get("consistency_lag_ms").cloned(),
    }
}

fn check(name: &'static str, what: &'static str, value: Option<f64>, limit: f64) -> Check {
    let status = match value {
        None => Status::Skipped,
        Some(v) if v <= limit => Status::Pass,
        Some(_) => Status::Fail,
    };
    Check {
        name,
        what,
        value,
        limit: format!("<= {limit}"),
        status,
        source: "twin",
        detail: None,
    }
}

/// The Boson checks; with no oracle, each is skipped (never passed quietly),
/// except that nothing walked at all fails.
pub fn checks(f: &BosonFigures, t: &BosonThresholds, twin: bool) -> Vec<Check> {
    let v = |x: u64| twin.then_some(x as f64);
    vec![
        Check {
            name: "boson_exchanges",
            what: "exchanges the Boson load started",
            value: Some(f.exchanges_started as f64),
            limit: ">= 1".into(),
            status: if f.exchanges_started >= 1 {
                Status::Pass
            } else {
                Status::Fail
            },
            source: "client",
            detail: None,
        },
        Check {
            name: "boson_funds_conserved",
            what: "the diamond holds exactly the available funds plus what open exchanges hold, and every release paid out what its exchange held",
            value: twin.then_some(if f.funds_conserved { 1.0 } else { 0.0 }),
            limit: "= 1".into(),
            status: match (twin, f.funds_conserved) {
                (false, _) => Status::Skipped,
                (true, true) => Status::Pass,
                (true, false) => Status::Fail,
            },
            source: "twin",
            detail: None,
        },
        check(
            "boson_lost_transitions",
            "transitions the client set out to make that never happened on the chain",
            v(f.lost_transitions),
            t.max_lost_transitions as f64,
        ),
        check(
            "boson_double_submitted",
            "intents sent twice: applied twice, or refused as a duplicate of one applied",
            v(f.double_submitted),
            t.max_double_submitted as f64,
        ),
        check(
            "boson_unconfirmed_actions",
            "actions on an exchange whose last transition did not yet have the confirmations",
            v(f.unconfirmed_actions),
            t.max_unconfirmed_actions as f64,
        ),
        check(
            "boson_stale_reads",
            "actions that followed a subgraph read older than the exchange's last transition",
            v(f.stale_reads),
            t.max_stale_reads as f64,
        ),
        check(
            "boson_available_rise_eth",
            "how far the protocol's unwithdrawn funds rose above their start (sampled peak), ETH",
            f.available_rise_eth,
            t.max_available_eth,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn limits() -> BosonThresholds {
        BosonThresholds {
            max_lost_transitions: 0,
            max_double_submitted: 0,
            max_unconfirmed_actions: 0,
            max_stale_reads: 0,
            max_available_eth: 1.0,
        }
    }

    fn failed(f: &BosonFigures, twin: bool) -> Vec<&'static str> {
        checks(f, &limits(), twin)
            .into_iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| c.name)
            .collect()
    }

    #[test]
    fn each_check_fails_on_its_own_figure_and_none_passes_without_a_twin() {
        let mut book = Book::default();
        book.set_out.insert("Committed", 3);
        book.set_out.insert("Redeemed", 2);
        let good = json!({
            "transitions": {"Committed": 3, "Redeemed": 2},
            "relayer": {"double_submissions": 0, "duplicate_refusals": 0},
            "actions": {"premature": 0, "stale_reads": 0, "examples": []},
            "funds": {"conserved": true},
        });
        let fig = |o: &Value, started: u64, available| {
            let b = Book {
                set_out: book.set_out.clone(),
                started,
                ..Book::default()
            };
            figures(&b, Some(o), "reference", 1.0, available)
        };
        let ok = Some((0, 10u128.pow(17)));
        assert!(failed(&fig(&good, 3, ok), true).is_empty());
        // Nothing started: the load proved nothing.
        assert_eq!(failed(&fig(&good, 0, ok), true), ["boson_exchanges"]);
        let mut bad = good.clone();
        bad["funds"]["conserved"] = json!(false);
        assert_eq!(failed(&fig(&bad, 3, ok), true), ["boson_funds_conserved"]);
        let mut bad = good.clone();
        bad["transitions"]["Redeemed"] = json!(1);
        assert_eq!(failed(&fig(&bad, 3, ok), true), ["boson_lost_transitions"]);
        let mut bad = good.clone();
        bad["relayer"]["duplicate_refusals"] = json!(1);
        assert_eq!(failed(&fig(&bad, 3, ok), true), ["boson_double_submitted"]);
        let mut bad = good.clone();
        bad["actions"]["premature"] = json!(2);
        assert_eq!(
            failed(&fig(&bad, 3, ok), true),
            ["boson_unconfirmed_actions"]
        );
        let mut bad = good.clone();
        bad["actions"]["stale_reads"] = json!(1);
        assert_eq!(failed(&fig(&bad, 3, ok), true), ["boson_stale_reads"]);
        let risen = Some((0, 2 * 10u128.pow(18)));
        assert_eq!(
            failed(&fig(&good, 3, risen), true),
            ["boson_available_rise_eth"]
        );
        // No twin: the twin's figures are skipped, never passed.
        let none = figures(&Book::default(), None, "reference", 1.0, None);
        let skipped = checks(&none, &limits(), false)
            .into_iter()
            .filter(|c| c.status == Status::Skipped)
            .count();
        assert_eq!(skipped, 6);
    }
}
