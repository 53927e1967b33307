//! The reference webhook handler against the twin: clean under every delivery fault;
//! each flaw caught by exactly the check it breaks.

use std::time::Duration;

use gauntlet::handler::{HandlerConfig, HandlerFlaw, HandlerHandle, start};
use gauntlet_mock::RuleSpec;
use serde_json::{Value, json};

use crate::util::{KEY, Twin, config, rule};

const SECRET: &str = "whsec_handler_test_0123456789";

async fn handler(twin: &Twin, flaw: HandlerFlaw) -> HandlerHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let cfg = HandlerConfig {
        secret: SECRET.into(),
        target: format!("http://{}", twin.addr),
        api_key: KEY.into(),
        signer: None,
        flaw,
    };
    let h = start(cfg, listener, std::future::pending())
        .await
        .expect("handler");
    let hook = json!({ "url": h.url(), "events": ["object.created", "object.transferred"], "secret": SECRET });
    twin.api("POST", "/webhooks").json(&hook).send().await.ok();
    h
}

/// Emit `n` objects and transfer each once: 2n events that demand an effect.
async fn traffic(twin: &Twin, n: usize) {
    let mut actions = Vec::new();
    for i in 0..n {
        actions.push(json!({ "action_type": "Emit", "object_id": format!("o{i}"), "payload": {} }));
        actions.push(json!({ "action_type": "Transfer", "object_id": format!("o{i}"), "payload": { "to": "bob" } }));
    }
    twin.api("POST", "/ebus/actions/batch")
        .json(&json!({ "actions": actions }))
        .send()
        .await
        .ok();
}

/// Wait until every expected effect happened (or the bound), then a little more for
/// duplicates to show; returns the effects ledger.
async fn settled(twin: &Twin, expected: u64) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let e = twin.oracle().await["effects"].clone();
        let done = e["exactly_once"].as_u64().unwrap_or(0) + e["duplicated"].as_u64().unwrap_or(0);
        if (done >= expected && e["expected"].as_u64() == Some(expected))
            || std::time::Instant::now() > deadline
        {
            tokio::time::sleep(Duration::from_millis(300)).await;
            return twin.oracle().await["effects"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The checks a clean run passes: (field, expected value).
fn clean(e: &Value, expected: u64) -> Vec<(&'static str, u64, u64)> {
    [
        ("exactly_once", expected),
        ("duplicated", 0),
        ("lost", 0),
        ("accepted_bad_signature", 0),
        ("accepted_stale_timestamp", 0),
        ("slow_answers", 0),
    ]
    .into_iter()
    .map(|(k, want)| (k, e[k].as_u64().unwrap_or(u64::MAX), want))
    .collect()
}

#[tokio::test]
async fn the_correct_handler_is_clean_under_every_delivery_fault() {
    let ms = |n| Some(Duration::from_millis(n));
    let faults: Vec<RuleSpec> = vec![
        RuleSpec {
            mode: Some("sequential".into()),
            ..rule("webhook_duplicate")
        },
        RuleSpec {
            mode: Some("concurrent".into()),
            ..rule("webhook_duplicate")
        },
        RuleSpec {
            mode: Some("after_ack".into()),
            ..rule("webhook_duplicate")
        },
        RuleSpec {
            delay: ms(200),
            ..rule("webhook_reorder")
        },
        RuleSpec {
            dist: Some("uniform".into()),
            min: ms(1),
            max: ms(50),
            ..rule("webhook_delay")
        },
        rule("webhook_bad_signature"),
        rule("webhook_old_secret"),
        rule("webhook_stale_timestamp"),
        rule("webhook_future_timestamp"),
        rule("webhook_body_signature"),
        rule("webhook_flat_payload"),
    ];
    for spec in faults {
        let kind = spec.kind.clone();
        let twin = Twin::with_rules(vec![RuleSpec {
            probability: Some(0.5),
            ..spec
        }])
        .await;
        let h = handler(&twin, HandlerFlaw::None).await;
        traffic(&twin, 4).await;
        if kind == "webhook_duplicate" {
            twin.advance("2s").await;
        }
        let e = settled(&twin, 8).await;
        for (check, got, want) in clean(&e, 8) {
            assert_eq!(got, want, "{kind}: {check} in {e}");
        }
        h.stop().await;
    }
}

#[tokio::test]
async fn each_flaw_is_caught_by_exactly_the_check_it_breaks() {
    let dup = |mode: &str| RuleSpec {
        mode: Some(mode.into()),
        ..rule("webhook_duplicate")
    };
    let cases: Vec<(HandlerFlaw, RuleSpec, &str)> = vec![
        (HandlerFlaw::Duplicate, dup("sequential"), "duplicated"),
        (HandlerFlaw::Race, dup("concurrent"), "duplicated"),
        (
            HandlerFlaw::NoVerify,
            rule("webhook_bad_signature"),
            "accepted_bad_signature",
        ),
        (
            HandlerFlaw::NoTimestampCheck,
            rule("webhook_stale_timestamp"),
            "accepted_stale_timestamp",
        ),
    ];
    for (flaw, spec, broken) in cases {
        let twin = Twin::with_rules(vec![RuleSpec {
            limit: Some(2),
            ..spec
        }])
        .await;
        let h = handler(&twin, flaw).await;
        traffic(&twin, 2).await;
        let e = settled(&twin, 4).await;
        for (check, got, want) in clean(&e, 4) {
            if check == broken {
                assert!(got > want, "{flaw:?} must break {check}: {e}");
            } else if !(check == "exactly_once" && broken == "duplicated") {
                assert_eq!(got, want, "{flaw:?} breaks only {broken}, not {check}: {e}");
            }
        }
        h.stop().await;
    }
}

#[tokio::test]
async fn the_race_only_shows_under_concurrent_duplicates() {
    let twin = Twin::with_rules(vec![RuleSpec {
        mode: Some("sequential".into()),
        limit: Some(2),
        ..rule("webhook_duplicate")
    }])
    .await;
    let h = handler(&twin, HandlerFlaw::Race).await;
    traffic(&twin, 2).await;
    let e = settled(&twin, 4).await;
    assert_eq!(
        (e["exactly_once"].as_u64(), e["duplicated"].as_u64()),
        (Some(4), Some(0)),
        "{e}"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_slow_handler_is_caught_as_slow() {
    let mut c = config();
    c.time_scale = 1.0;
    let twin = Twin::start(c).await;
    let h = handler(&twin, HandlerFlaw::Slow).await;
    let body = json!({ "actions": [{ "action_type": "Emit", "object_id": "s1", "payload": {} }] });
    twin.api("POST", "/ebus/actions/batch")
        .json(&body)
        .send()
        .await
        .ok();
    settled(&twin, 1).await;
    // The answer is graded when the twin's 5 s deadline passes.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut e = twin.oracle().await["effects"].clone();
    while e["slow_answers"].as_u64().unwrap_or(0) == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        e = twin.oracle().await["effects"].clone();
    }
    assert!(e["slow_answers"].as_u64().unwrap_or(0) >= 1, "{e}");
    assert_eq!(
        (
            e["exactly_once"].as_u64(),
            e["duplicated"].as_u64(),
            e["accepted_bad_signature"].as_u64()
        ),
        (Some(1), Some(0), Some(0)),
        "{e}"
    );
    h.stop().await;
}
