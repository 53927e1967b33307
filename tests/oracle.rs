//! The oracle's checks, each proven able to fail: a flawed client trips it, a
//! well-behaved one does not.

use std::time::Duration;

use gauntlet_mock::RuleSpec;
use serde_json::Value;

use crate::util::{Twin, Wire, batch, config, rule};

fn lost_reply_once() -> RuleSpec {
    RuleSpec {
        limit: Some(1),
        route: Some("POST /ebus/actions/batch".into()),
        ..rule("lost_reply")
    }
}

#[tokio::test]
async fn retrying_without_a_key_after_a_lost_reply_is_a_duplicate() {
    let twin = Twin::with_rules(vec![lost_reply_once()]).await;
    let body = batch("dup", 5);
    let first = twin
        .api("POST", "/ebus/actions/batch")
        .json(&body)
        .send()
        .await;
    assert_eq!(first.status(), 502, "the reply was lost after commit");
    twin.api("POST", "/ebus/actions/batch")
        .json(&body)
        .send()
        .await
        .ok();
    let a = &twin.oracle().await["actions"];
    assert_eq!(
        (
            a["duplicated"].as_u64(),
            a["extra_applies"].as_u64(),
            a["exactly_once"].as_u64()
        ),
        (Some(5), Some(5), Some(0)),
        "{a}"
    );
}

#[tokio::test]
async fn retrying_with_the_same_key_after_a_lost_reply_is_exactly_once() {
    let twin = Twin::with_rules(vec![lost_reply_once()]).await;
    let body = batch("once", 5);
    let send = || {
        twin.api("POST", "/ebus/actions/batch")
            .header("idempotency-key", "batch-1")
            .json(&body)
            .send()
    };
    assert_eq!(send().await.status(), 502);
    let replay = send().await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.ok()["applied"].as_u64(), Some(5), "the stored reply");
    let o = twin.oracle().await;
    assert_eq!(
        (
            o["actions"]["exactly_once"].as_u64(),
            o["actions"]["duplicated"].as_u64()
        ),
        (Some(5), Some(0)),
        "{o}"
    );
    assert_eq!(o["idempotency"]["replays"].as_u64(), Some(1));
}

#[tokio::test]
async fn resubmitting_a_whole_partly_failed_batch_duplicates_the_applied_part() {
    let partial = RuleSpec {
        fraction: Some(0.5),
        limit: Some(1),
        ..rule("partial_batch")
    };
    let twin = Twin::with_rules(vec![partial]).await;
    let body = batch("part", 20);
    let first = twin
        .api("POST", "/ebus/actions/batch")
        .header("idempotency-key", "p-1")
        .json(&body)
        .send()
        .await
        .ok();
    let failed: Vec<Value> = first["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["status"] == "failed")
        .cloned()
        .collect();
    assert!(
        !failed.is_empty() && failed.len() < 20,
        "some failed: {first}"
    );
    // Correct: resubmit only the failed actions, under a new key.
    let only_failed: Vec<Value> = failed
        .iter()
        .map(|r| body["actions"][r["index"].as_u64().expect("index") as usize].clone())
        .collect();
    twin.api("POST", "/ebus/actions/batch")
        .header("idempotency-key", "p-1/r1")
        .json(&serde_json::json!({ "actions": only_failed }))
        .send()
        .await
        .ok();
    let a = &twin.oracle().await["actions"];
    assert_eq!(
        (
            a["exactly_once"].as_u64(),
            a["duplicated"].as_u64(),
            a["lost"].as_u64()
        ),
        (Some(20), Some(0), Some(0)),
        "{a}"
    );
    // Flawed: resubmit the whole batch under a new key.
    twin.api("POST", "/ebus/actions/batch")
        .header("idempotency-key", "p-1/r2")
        .json(&body)
        .send()
        .await
        .ok();
    let a = &twin.oracle().await["actions"];
    assert_eq!(
        a["duplicated"].as_u64(),
        Some(20),
        "every action is now applied twice: {a}"
    );
}

#[tokio::test]
async fn giving_up_after_a_transient_failure_loses_the_actions() {
    let rules = vec![RuleSpec {
        status: Some(503),
        limit: Some(1),
        ..rule("status")
    }];
    let twin = Twin::with_rules(rules).await;
    let r = twin
        .api("POST", "/ebus/actions/batch")
        .header("idempotency-key", "g-1")
        .json(&batch("gone", 4))
        .send()
        .await;
    assert_eq!(r.status(), 503);
    let a = &twin.oracle().await["actions"];
    assert_eq!(
        (a["lost"].as_u64(), a["applies"].as_u64()),
        (Some(4), Some(0)),
        "{a}"
    );
    // A final rejection is not a loss: it was never due.
    let bad = serde_json::json!({ "actions": [{ "action_type": "Transfer", "object_id": "nope", "payload": { "to": "x" } }] });
    twin.api("POST", "/ebus/actions/batch")
        .json(&bad)
        .send()
        .await
        .ok();
    let a = &twin.oracle().await["actions"];
    assert_eq!(
        (a["lost"].as_u64(), a["rejected"].as_u64()),
        (Some(4), Some(1)),
        "{a}"
    );
}

/// A twin whose event-bus bucket holds exactly one batch of 10.
async fn tight_twin() -> Twin {
    let mut c = config();
    c.limits.actions_per_sec = 10;
    c.limits.max_batch = 10;
    Twin::start(c).await
}

#[tokio::test]
async fn retrying_at_once_after_a_429_is_early() {
    let twin = tight_twin().await;
    twin.api("POST", "/ebus/actions/batch")
        .header("idempotency-key", "a")
        .json(&batch("a", 10))
        .send()
        .await
        .ok();
    let body = batch("b", 10);
    let send = || {
        twin.api("POST", "/ebus/actions/batch")
            .header("idempotency-key", "b")
            .json(&body)
            .send()
    };
    let limited = send().await;
    assert_eq!(
        (limited.status(), limited.header("retry-after")),
        (429, Some("1"))
    );
    send().await; // at once: flawed
    let b = &twin.oracle().await["backoff"];
    assert_eq!(
        (b["retries"].as_u64(), b["early"].as_u64()),
        (Some(1), Some(1)),
        "{b}"
    );
}

#[tokio::test]
async fn waiting_out_retry_after_is_not_early() {
    let twin = tight_twin().await;
    twin.api("POST", "/ebus/actions/batch")
        .header("idempotency-key", "a")
        .json(&batch("a", 10))
        .send()
        .await
        .ok();
    let body = batch("b", 10);
    let send = || {
        twin.api("POST", "/ebus/actions/batch")
            .header("idempotency-key", "b")
            .json(&body)
            .send()
    };
    let limited = send().await;
    let wait: u64 = limited
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    // Wait on the twin's clock, as a paused-time test would.
    twin.advance(&format!("{wait}s")).await;
    send().await.ok();
    let o = twin.oracle().await;
    let b = &o["backoff"];
    assert_eq!(
        (b["retries"].as_u64(), b["early"].as_u64()),
        (Some(1), Some(0)),
        "{b}"
    );
    assert!(b["gap"]["p50_ms"].as_f64().expect("gap") >= 1000.0, "{b}");
    assert_eq!(o["actions"]["exactly_once"].as_u64(), Some(20));
}

/// A correct client: one key per batch, retries 429/5xx/drops/resets, waits out
/// Retry-After (on the twin's clock) or, told nothing, the twin's `min_backoff`,
/// resubmits only failed actions.
async fn correct_client(twin: &Twin, tag: &str, n: usize) {
    let mut pending = batch(tag, n);
    let mut key = format!("{tag}-0");
    for attempt in 0..40 {
        let w = twin
            .api("POST", "/ebus/actions/batch")
            .header("idempotency-key", &key)
            .json(&pending)
            .wire()
            .await;
        match w {
            Wire::Reply(r) if r.status() == 200 => {
                // A malformed body: retry with the same key, the stored reply comes back.
                let Ok(v) = serde_json::from_slice::<Value>(&r.body) else {
                    continue;
                };
                let failed: Vec<Value> = v["results"]
                    .as_array()
                    .expect("results")
                    .iter()
                    .filter(|x| x["status"] == "failed")
                    .map(|x| {
                        pending["actions"][x["index"].as_u64().expect("index") as usize].clone()
                    })
                    .collect();
                if failed.is_empty() {
                    return;
                }
                pending = serde_json::json!({ "actions": failed });
                key = format!("{tag}-{}", attempt + 1);
                // Failed actions are retries too: no advice, so the twin's floor.
                twin.advance("500ms").await;
            }
            Wire::Reply(r) => match r.header("retry-after") {
                Some(wait) => twin.advance(&format!("{wait}s")).await,
                // No advice: the twin's floor (min_backoff, 500 ms by default).
                None => twin.advance("500ms").await,
            },
            // A truncated 200 committed: its stored reply is there at once.
            Wire::Truncated { .. } => {}
            // Reset or closed: no advice, so the floor.
            _ => twin.advance("500ms").await,
        }
    }
    panic!("{tag}: not done after 40 attempts");
}

#[tokio::test]
async fn a_well_behaved_client_is_clean_under_every_fault() {
    let p = Some(0.15);
    let rules = vec![
        RuleSpec {
            status: Some(429),
            retry_after: Some(1),
            probability: p,
            ..rule("status")
        },
        RuleSpec {
            status: Some(503),
            probability: p,
            ..rule("status")
        },
        RuleSpec {
            probability: p,
            ..rule("reset")
        },
        RuleSpec {
            hang_for: Some(Duration::from_millis(20)),
            probability: Some(0.05),
            ..rule("hang")
        },
        RuleSpec {
            probability: p,
            ..rule("lost_reply")
        },
        RuleSpec {
            reply: Some("drop".into()),
            probability: p,
            ..rule("lost_reply")
        },
        RuleSpec {
            probability: p,
            ..rule("truncated")
        },
        RuleSpec {
            probability: p,
            ..rule("malformed")
        },
        RuleSpec {
            fraction: Some(0.2),
            probability: Some(0.3),
            ..rule("partial_batch")
        },
    ];
    let twin = Twin::with_rules(rules).await;
    for i in 0..12 {
        correct_client(&twin, &format!("c{i}"), 20).await;
    }
    let o = twin.oracle().await;
    let (a, b) = (&o["actions"], &o["backoff"]);
    assert_eq!(a["exactly_once"].as_u64(), Some(240), "{o}");
    assert_eq!(
        (
            a["duplicated"].as_u64(),
            a["lost"].as_u64(),
            b["early"].as_u64()
        ),
        (Some(0), Some(0), Some(0)),
        "{o}"
    );
    assert!(
        b["faulted_replies"].as_u64().expect("count") > 0,
        "faults happened: {o}"
    );
    let tape = twin.control("GET", "/_gauntlet/tape").send().await.ok();
    assert!(
        tape["by_kind"].as_object().expect("kinds").len() >= 6,
        "most kinds fired: {tape}"
    );
}

#[tokio::test]
async fn without_a_key_only_the_same_body_counts_as_the_retry() {
    let twin = tight_twin().await;
    twin.api("POST", "/ebus/actions/batch")
        .json(&batch("a", 10))
        .send()
        .await
        .ok();
    let limited = twin
        .api("POST", "/ebus/actions/batch")
        .json(&batch("b", 10))
        .send()
        .await;
    assert_eq!(limited.status(), 429);
    // Another client's batch right after is not b's retry...
    twin.api("POST", "/ebus/actions/batch")
        .json(&batch("c", 10))
        .send()
        .await;
    assert_eq!(twin.oracle().await["backoff"]["retries"], 0);
    // ...b sent again at once is, and it is early.
    twin.api("POST", "/ebus/actions/batch")
        .json(&batch("b", 10))
        .send()
        .await;
    let b = &twin.oracle().await["backoff"];
    assert_eq!(
        (b["retries"].as_u64(), b["early"].as_u64()),
        (Some(1), Some(1)),
        "{b}"
    );
}

#[tokio::test]
async fn final_refusals_are_not_counted_lost() {
    let mut c = config();
    c.auth.keys.push(gauntlet_mock::config::ApiKeyConfig {
        key: "sk_readonly_0000000000".into(),
        org: gauntlet_mock::config::SANDBOX_ORG.into(),
        scopes: vec!["actions:read".into()],
        signer: None,
    });
    let twin = Twin::start(c).await;
    let forbidden = twin
        .req("POST", "/ebus/actions/batch")
        .header("x-api-key", "sk_readonly_0000000000")
        .json(&batch("f", 3))
        .send()
        .await;
    assert_eq!(forbidden.status(), 403);
    let long_key = "k".repeat(300);
    assert_eq!(
        twin.api("POST", "/ebus/actions/batch")
            .header("idempotency-key", &long_key)
            .json(&batch("l", 3))
            .send()
            .await
            .status(),
        400
    );
    twin.api("POST", "/ebus/actions/batch")
        .header("idempotency-key", "m")
        .json(&batch("m1", 3))
        .send()
        .await
        .ok();
    assert_eq!(
        twin.api("POST", "/ebus/actions/batch")
            .header("idempotency-key", "m")
            .json(&batch("m2", 3))
            .send()
            .await
            .status(),
        422
    );
    let a = &twin.oracle().await["actions"];
    assert_eq!(
        (
            a["lost"].as_u64(),
            a["exactly_once"].as_u64(),
            a["rejected"].as_u64()
        ),
        (Some(0), Some(3), Some(6)),
        "{a}"
    );
}
