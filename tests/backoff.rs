//! The twin's backoff grade through its API, each figure shown able to fail: retries
//! after replies that advise nothing are graded against `min_backoff`, whatever key
//! they carry, and a resubmission of failed actions is graded as their retry.

use std::time::Duration;

use gauntlet_mock::RuleSpec;
use serde_json::Value;

use crate::util::{Twin, Wire, batch, rule};

/// A twin whose first request on the batch route gets `kind` (no `Retry-After`).
async fn once(spec: RuleSpec) -> Twin {
    Twin::with_rules(vec![RuleSpec {
        limit: Some(1),
        route: Some("POST /ebus/actions/batch".into()),
        ..spec
    }])
    .await
}

/// Send the same batch twice, `wait` (twin time) apart; the backoff grade after.
async fn send_twice(twin: &Twin, wait: Option<&str>) -> Value {
    let body = batch("u", 3);
    let send = |key: &str| {
        twin.api("POST", "/ebus/actions/batch")
            .header("idempotency-key", key)
            .json(&body)
            .wire()
    };
    let first = send("k-1").await;
    assert!(
        !matches!(&first, Wire::Reply(r) if r.status() == 200 || r.header("retry-after").is_some()),
        "the first attempt is faulted without advice: {first:?}"
    );
    if let Some(by) = wait {
        twin.advance(by).await;
    }
    // A new key on the retry changes nothing: the operation is its caller and body.
    send("k-2").await;
    twin.oracle().await["backoff"].clone()
}

#[tokio::test]
async fn retrying_at_once_after_a_reply_without_advice_is_early() {
    let kinds = [
        // 429 and 503 carry Retry-After unless told otherwise.
        RuleSpec {
            status: Some(500),
            ..rule("status")
        },
        RuleSpec {
            status: Some(504),
            ..rule("status")
        },
        rule("reset"),
        RuleSpec {
            hang_for: Some(Duration::from_millis(20)),
            ..rule("hang")
        },
        RuleSpec {
            reply: Some("drop".into()),
            ..rule("lost_reply")
        },
        rule("lost_reply"),
    ];
    for spec in kinds {
        let what = format!("{spec:?}");
        // Flawed: straight back.
        let b = send_twice(&once(spec.clone()).await, None).await;
        assert_eq!(
            (
                b["retries"].as_u64(),
                b["retries_unadvised"].as_u64(),
                b["early"].as_u64(),
                b["early_unadvised"].as_u64()
            ),
            (Some(1), Some(1), Some(1), Some(1)),
            "{what}: {b}"
        );
        // Correct: at least min_backoff (500 ms by default) later.
        let b = send_twice(&once(spec).await, Some("500ms")).await;
        assert_eq!(
            (b["retries"].as_u64(), b["early"].as_u64()),
            (Some(1), Some(0)),
            "{what}: {b}"
        );
    }
}

#[tokio::test]
async fn a_twin_set_to_no_floor_leaves_unadvised_retries_ungraded() {
    let mut c = crate::util::config();
    c.min_backoff = Duration::ZERO;
    c.faults = gauntlet_mock::engine::faults::spec::validate_all(
        &[RuleSpec {
            limit: Some(1),
            ..rule("reset")
        }],
        "faults",
    )
    .expect("valid");
    let b = send_twice(&Twin::start(c).await, None).await;
    assert_eq!(
        (b["retries_unadvised"].as_u64(), b["early"].as_u64()),
        (Some(1), Some(0)),
        "{b}"
    );
}

/// A batch of 20, half of it failing transiently once; the resubmission of the failed
/// half under a new key `wait` later (twin time). The backoff grade after.
async fn resubmit_failed_half(wait: Option<&str>) -> Value {
    let partial = RuleSpec {
        fraction: Some(0.5),
        limit: Some(1),
        ..rule("partial_batch")
    };
    let twin = Twin::with_rules(vec![partial]).await;
    let body = batch("half", 20);
    let first = twin
        .api("POST", "/ebus/actions/batch")
        .header("idempotency-key", "h-1")
        .json(&body)
        .send()
        .await
        .ok();
    let failed: Vec<Value> = first["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["status"] == "failed")
        .map(|r| body["actions"][r["index"].as_u64().expect("index") as usize].clone())
        .collect();
    assert!(!failed.is_empty(), "some failed: {first}");
    if let Some(by) = wait {
        twin.advance(by).await;
    }
    twin.api("POST", "/ebus/actions/batch")
        .header("idempotency-key", "h-1/r1")
        .json(&serde_json::json!({ "actions": failed }))
        .send()
        .await
        .ok();
    let o = twin.oracle().await;
    assert_eq!(o["actions"]["exactly_once"].as_u64(), Some(20), "{o}");
    o["backoff"].clone()
}

#[tokio::test]
async fn resubmitting_failed_actions_at_once_is_early() {
    let b = resubmit_failed_half(None).await;
    assert_eq!(
        (
            b["partial_replies"].as_u64(),
            b["retries"].as_u64(),
            b["retries_linked"].as_u64(),
            b["early"].as_u64()
        ),
        (Some(1), Some(1), Some(1), Some(1)),
        "{b}"
    );
    let b = resubmit_failed_half(Some("500ms")).await;
    assert_eq!(
        (b["retries_linked"].as_u64(), b["early"].as_u64()),
        (Some(1), Some(0)),
        "{b}"
    );
}
