//! Chain faults: their specs, and when they fire per block.

use std::time::Duration;

use super::*;
use crate::engine::faults::webhook::DeliveryDecision;
use crate::engine::faults::{DeliveryFacts, RequestFacts, Rule};

fn spec(kind: &str) -> RuleSpec {
    RuleSpec {
        kind: kind.into(),
        ..Default::default()
    }
}

fn reorg(depth: u64) -> RuleSpec {
    RuleSpec {
        depth: Some(depth),
        ..spec("reorg")
    }
}

fn window(s: RuleSpec, at: u64, len: u64) -> RuleSpec {
    RuleSpec {
        at: Some(Duration::from_secs(at)),
        for_: Some(Duration::from_secs(len)),
        ..s
    }
}

fn pause(regions: &[&str]) -> RuleSpec {
    RuleSpec {
        regions: Some(regions.iter().map(|r| r.to_string()).collect()),
        ..spec("pause")
    }
}

fn engine(seed: u64, specs: Vec<RuleSpec>) -> FaultEngine {
    let rules: Vec<Rule> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| s.validate(&format!("faults[{i}]")).expect("a valid rule"))
        .collect();
    FaultEngine::new(seed, rules, 1000)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Mine blocks 1..=`count`, block `n` at `n * step_ms` of twin time; the blocks
/// after which something fired, with what.
fn mine(e: &FaultEngine, count: u64, step_ms: u64) -> Vec<(u64, ChainFault)> {
    (1..=count)
        .flat_map(|n| {
            e.after_block(n, ms(n * step_ms))
                .into_iter()
                .map(move |f| (n, f.fault))
        })
        .collect()
}

fn blocks(fired: &[(u64, ChainFault)]) -> Vec<u64> {
    fired.iter().map(|(n, _)| *n).collect()
}

#[test]
fn chain_specs_name_the_bad_key() {
    let cases: Vec<(RuleSpec, &str, &str)> = vec![
        (spec("reorg"), "faults[0].depth", "kind reorg needs depth"),
        (
            reorg(0),
            "faults[0].depth",
            "must be within 1..=1024, got 0",
        ),
        (reorg(1025), "faults[0].depth", "1025"),
        (
            RuleSpec {
                fate: Some("sideways".into()),
                ..reorg(2)
            },
            "faults[0].fate",
            "`sideways`: expected remine, reorder or drop",
        ),
        (
            RuleSpec {
                route: Some("*".into()),
                ..reorg(2)
            },
            "faults[0].route",
            "chain faults apply to blocks, not routes",
        ),
        (
            RuleSpec {
                route: Some("/x".into()),
                ..spec("upgrade")
            },
            "faults[0].route",
            "not routes",
        ),
        (
            window(spec("pause"), 1, 2),
            "faults[0].regions",
            "needs at least one region",
        ),
        (
            window(pause(&[]), 1, 2),
            "faults[0].regions",
            "at least one",
        ),
        (
            window(pause(&["A", ""]), 1, 2),
            "faults[0].regions[1]",
            "``",
        ),
        (
            window(pause(&["Ex changes"]), 1, 2),
            "faults[0].regions[0]",
            "whitespace",
        ),
        (
            pause(&["Exchanges"]),
            "faults[0].for",
            "kind pause needs a window",
        ),
        (
            RuleSpec {
                probability: Some(0.5),
                ..window(pause(&["Exchanges"]), 1, 2)
            },
            "faults[0].probability",
            "not drawn",
        ),
        (
            RuleSpec {
                limit: Some(1),
                ..window(pause(&["Exchanges"]), 1, 2)
            },
            "faults[0].limit",
            "not drawn",
        ),
        (
            RuleSpec {
                regions: Some(vec!["Exchanges".into()]),
                ..reorg(1)
            },
            "faults[0].regions",
            "is not a field of kind reorg",
        ),
        (
            RuleSpec {
                depth: Some(1),
                ..spec("upgrade")
            },
            "faults[0].depth",
            "is not a field of kind upgrade",
        ),
        (
            RuleSpec {
                fate: Some("drop".into()),
                ..window(pause(&["Exchanges"]), 1, 2)
            },
            "faults[0].fate",
            "is not a field of kind pause",
        ),
        (
            RuleSpec {
                depth: Some(1),
                ..spec("reset")
            },
            "faults[0].depth",
            "is not a field of kind reset",
        ),
        (spec("reorgs"), "faults[0].kind", "reorg, pause, upgrade"),
    ];
    for (s, key, reason) in cases {
        let err = s.validate("faults[0]").expect_err(key);
        assert_eq!(err.key, key, "{err}");
        assert!(err.reason.contains(reason), "{err}: wanted {reason:?}");
    }
}

#[test]
fn the_toml_of_each_chain_kind_checks_into_its_kind() {
    #[derive(serde::Deserialize)]
    struct File {
        faults: Vec<RuleSpec>,
    }
    let text = r#"
        [[faults]]
        kind = "reorg"
        depth = 2
        fate = "reorder"
        every = "30s"
        for = "2s"
        probability = 0.5
        limit = 10

        [[faults]]
        kind = "reorg"
        depth = 1

        [[faults]]
        kind = "pause"
        regions = ["Exchanges", "Disputes"]
        at = "10s"
        for = "20s"

        [[faults]]
        kind = "upgrade"
        at = "15s"
        for = "1s"
    "#;
    let file: File = toml::from_str(text).expect("valid TOML");
    let rules = crate::engine::faults::spec::validate_all(&file.faults, "faults").expect("valid");
    let kinds: Vec<FaultKind> = rules.iter().map(|r| r.kind.clone()).collect();
    assert_eq!(
        kinds,
        [
            FaultKind::Reorg {
                depth: 2,
                fate: ReorgFate::Reorder
            },
            FaultKind::Reorg {
                depth: 1,
                fate: ReorgFate::Remine
            },
            FaultKind::Pause {
                regions: vec!["Exchanges".into(), "Disputes".into()]
            },
            FaultKind::Upgrade,
        ]
    );
    // The same spec as JSON (the control API) and back.
    let json = serde_json::to_value(&file.faults[0]).expect("serializes");
    assert_eq!(json["depth"], 2);
    assert_eq!(json["fate"], "reorder");
    assert!(json.get("regions").is_none(), "{json}");
    let back: RuleSpec = serde_json::from_value(json).expect("reads back");
    assert_eq!(back, file.faults[0]);
}

#[test]
fn an_always_reorg_fires_at_the_same_blocks_for_the_same_seed() {
    let rule = || RuleSpec {
        probability: Some(0.5),
        ..reorg(2)
    };
    let first = mine(&engine(7, vec![rule()]), 200, 1000);
    let again = mine(&engine(7, vec![rule()]), 200, 1000);
    let other = mine(&engine(8, vec![rule()]), 200, 1000);
    assert!(!first.is_empty() && first.len() < 200, "{first:?}");
    assert_eq!(first, again, "same seed, same blocks and shuffle seeds");
    assert_ne!(blocks(&first), blocks(&other), "another seed, other blocks");
    // The stream is keyed by the block, not by the time it was mined at.
    assert_eq!(
        blocks(&mine(&engine(7, vec![rule()]), 200, 37)),
        blocks(&first)
    );
}

#[test]
fn a_height_is_decided_once_so_a_reorg_cannot_repeat_itself() {
    let e = engine(1, vec![reorg(2)]);
    assert_eq!(e.after_block(5, ms(5000)).len(), 1);
    assert!(e.after_block(5, ms(5100)).is_empty(), "block 5 re-mined");
    assert!(e.after_block(4, ms(5200)).is_empty(), "block 4 re-mined");
    assert_eq!(e.after_block(6, ms(6000)).len(), 1);
}

#[test]
fn a_windowed_reorg_fires_once_per_window_at_its_first_block() {
    let e = engine(1, vec![window(reorg(3), 10, 5)]);
    // A block every 700 ms: the first inside [10 s, 15 s) is block 15 (10.5 s).
    let fired = mine(&e, 60, 700);
    assert_eq!(blocks(&fired), [15]);
    let ChainFault::Reorg { depth, fate, .. } = fired[0].1 else {
        panic!("{fired:?}")
    };
    assert_eq!((depth, fate), (3, ReorgFate::Remine));
}

#[test]
fn an_every_window_fires_again_in_each_period() {
    let every = RuleSpec {
        at: Some(Duration::from_secs(1)),
        every: Some(Duration::from_secs(10)),
        for_: Some(Duration::from_secs(2)),
        ..reorg(1)
    };
    // A block every 500 ms up to 35 s: windows open at 1 s, 11 s, 21 s, 31 s.
    assert_eq!(
        blocks(&mine(&engine(1, vec![every]), 70, 500)),
        [2, 22, 42, 62]
    );
}

#[test]
fn a_limit_caps_the_firings() {
    let limited = RuleSpec {
        limit: Some(3),
        ..reorg(1)
    };
    assert_eq!(
        blocks(&mine(&engine(1, vec![limited]), 10, 1000)),
        [1, 2, 3]
    );
}

#[test]
fn an_upgrade_fires_once_per_window() {
    let e = engine(1, vec![window(spec("upgrade"), 15, 1)]);
    // A block every 250 ms: block 60 is the first at 15 s.
    let fired = mine(&e, 100, 250);
    assert_eq!(fired, [(60, ChainFault::Upgrade)]);
    assert_eq!(fired[0].1.name(), "upgrade");
}

#[test]
fn pauses_hold_their_regions_only_inside_their_windows() {
    let e = engine(
        1,
        vec![
            window(pause(&["Exchanges", "Disputes"]), 10, 20),
            window(pause(&["Disputes", "Funds"]), 20, 5),
        ],
    );
    let at = |s: u64| e.paused_regions(Duration::from_secs(s));
    assert!(at(5).is_empty());
    assert_eq!(at(10), ["Exchanges", "Disputes"]);
    assert_eq!(at(22), ["Exchanges", "Disputes", "Funds"]);
    assert_eq!(at(26), ["Exchanges", "Disputes"]);
    assert!(at(30).is_empty(), "the window is [10 s, 30 s)");
    let tape = e.tape.view(0, 100);
    let seen: Vec<(&str, &str, &str)> = tape
        .entries
        .iter()
        .map(|t| (t.kind, t.method.as_str(), t.path.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("pause", "PAUSE", "/chain/pause/Exchanges,Disputes"),
            ("pause", "PAUSE", "/chain/pause/Disputes,Funds"),
        ],
        "once per window however often asked"
    );
}

#[test]
fn chain_kinds_never_touch_a_request_or_a_delivery() {
    let e = engine(
        1,
        vec![
            reorg(1),
            spec("upgrade"),
            window(pause(&["Exchanges"]), 0, 100),
        ],
    );
    let facts = RequestFacts {
        seq: 1,
        now: Duration::from_secs(1),
        request_id: "req_1",
        method: &http::Method::POST,
        path: "/ebus/actions/batch",
        op: crate::engine::faults::TapeOp::default(),
    };
    let d = e.decide(&facts, &mut e.rng(1));
    assert!(d.kinds.is_empty() && d.terminal.is_none(), "{d:?}");
    assert_eq!(d.delay, Duration::ZERO);
    let delivery = DeliveryFacts {
        seq: 1,
        now: Duration::from_secs(1),
        event_id: "evt_1",
        event_type: "object.created",
        url: "http://127.0.0.1:9/hook",
    };
    let out: DeliveryDecision = e.decide_delivery(&delivery, &mut e.delivery_rng(1));
    assert!(out.kinds.is_empty(), "{out:?}");
    assert_eq!(e.tape.view(0, 10).total, 0);
}

#[test]
fn firings_go_on_the_tape() {
    let named = RuleSpec {
        name: Some("shallow".into()),
        fate: Some("drop".into()),
        ..window(reorg(2), 3, 1)
    };
    let e = engine(1, vec![named]);
    assert_eq!(blocks(&mine(&e, 10, 1000)), [3]);
    let tape = e.tape.view(0, 10);
    assert_eq!(tape.total, 1);
    let t = &tape.entries[0];
    assert_eq!(
        (
            t.seq,
            t.method.as_str(),
            t.path.as_str(),
            t.rule.as_str(),
            t.kind
        ),
        (3, "BLOCK", "/chain/3", "shallow", "reorg")
    );
    assert_eq!(
        (t.at_ms, t.request_id.as_str(), t.op.as_str()),
        (3000.0, "", "")
    );
}

#[test]
fn installing_rules_forgets_what_fired_and_moves_the_windows() {
    let e = engine(1, vec![window(spec("upgrade"), 15, 1)]);
    assert_eq!(e.after_block(1, Duration::from_secs(15)).len(), 1);
    assert!(e.after_block(2, ms(15_500)).is_empty());
    let rules = e.rules().rules.clone();
    e.install(rules, Duration::from_secs(100));
    assert!(
        e.after_block(3, Duration::from_secs(110)).is_empty(),
        "before 100 + 15 s"
    );
    assert_eq!(e.after_block(4, Duration::from_secs(115)).len(), 1);
}
