//! Webhook delivery from the twin: the signature, the retry schedule on the twin's
//! clock, deactivation and reactivation, delivery faults, and the effects ledger.

use std::time::Duration;

use gauntlet_mock::RuleSpec;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::util::{Receiver, Twin, config, rule};

const SECRET: &str = "whsec_test_secret_0123456789";

async fn register(twin: &Twin, url: &str, events: &[&str]) -> String {
    let hook = json!({ "url": url, "events": events, "secret": SECRET });
    twin.api("POST", "/webhooks").json(&hook).send().await.ok()["id"]
        .as_str()
        .expect("id")
        .to_string()
}

async fn emit(twin: &Twin, object_id: &str) {
    let body =
        json!({ "actions": [{ "action_type": "Emit", "object_id": object_id, "payload": {} }] });
    twin.api("POST", "/ebus/actions/batch")
        .json(&body)
        .send()
        .await
        .ok();
}

/// The plain HMAC-SHA256 a receiver computes: hex over "<timestamp>.<raw body>".
fn expected_signature(timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

async fn effects(twin: &Twin) -> Value {
    twin.oracle().await["effects"].clone()
}

#[tokio::test]
async fn deliveries_are_signed_over_timestamp_dot_body() {
    let twin = Twin::start(config()).await;
    let rx = Receiver::start(200).await;
    register(&twin, &rx.url, &["object.created"]).await;
    emit(&twin, "o1").await;
    let got = rx.wait_for(1).await;
    assert_eq!(got.len(), 1);
    let d = &got[0];
    assert_eq!(
        d.signature,
        expected_signature(&d.timestamp, &d.body),
        "plain HMAC-SHA256 reproduces the signature"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let ts: u64 = d.timestamp.parse().expect("unix seconds");
    assert!(ts.abs_diff(now) < 60, "a current timestamp");
    let v = d.json();
    assert_eq!(
        (v["event_type"].as_str(), v["object_id"].as_str()),
        (Some("object.created"), Some("o1"))
    );
    assert!(
        v["id"].as_str().is_some_and(|s| s.starts_with("evt_"))
            && v["timestamp"].as_str().is_some()
            && v["payload"].is_object()
    );
}

/// Wait until the delivery log holds `n` entries.
async fn log_len(twin: &Twin, hook: &str, n: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + crate::util::BOUND;
    loop {
        let log = twin
            .api("GET", &format!("/webhooks/{hook}/events"))
            .send()
            .await
            .ok()["deliveries"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if log.len() >= n || std::time::Instant::now() > deadline {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn failures_are_retried_on_the_schedule_then_the_webhook_is_deactivated_and_can_be_reactivated()
 {
    let mut c = config();
    c.limits.webhooks_per_min = 1000;
    let twin = Twin::start(c).await;
    let rx = Receiver::start(500).await;
    let hook = register(&twin, &rx.url, &["object.created"]).await;
    emit(&twin, "o1").await;
    let log = log_len(&twin, &hook, 1).await;
    let retry_in = |e: &Value| {
        e["next_retry_ms"].as_u64().expect("retry") as i64 - e["at_ms"].as_u64().expect("at") as i64
    };
    // 1 s, 5 s, 30 s, 5 min on the twin's clock: advance it instead of waiting.
    let mut expected = vec![1_000, 5_000, 30_000, 300_000];
    let mut last = log[0].clone();
    for (i, wait) in ["1s", "5s", "30s", "5m"].iter().enumerate() {
        let gap = retry_in(&last);
        let want = expected.remove(0);
        assert!(
            (gap - want).abs() < 200,
            "retry {i}: next in {gap} ms, want {want}"
        );
        twin.advance(wait).await;
        let log = log_len(&twin, &hook, i + 2).await;
        last = log[i + 1].clone();
        assert_eq!(last["attempt"].as_u64(), Some(i as u64 + 1));
    }
    // The fifth failure in a row deactivates it: no retry is scheduled.
    assert!(last["next_retry_ms"].is_null(), "{last}");
    let h = twin
        .api("GET", &format!("/webhooks/{hook}"))
        .send()
        .await
        .ok();
    assert_eq!(
        (h["active"].as_bool(), h["consecutive_failures"].as_u64()),
        (Some(false), Some(5))
    );
    assert_eq!(effects(&twin).await["deactivations"], 1);
    emit(&twin, "o2").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.deliveries().len(), 5, "an inactive webhook gets nothing");

    rx.status.store(200, std::sync::atomic::Ordering::Relaxed);
    let h = twin
        .api("PATCH", &format!("/webhooks/{hook}"))
        .json(&json!({ "active": true }))
        .send()
        .await
        .ok();
    assert_eq!(
        (h["active"].as_bool(), h["consecutive_failures"].as_u64()),
        (Some(true), Some(0))
    );
    emit(&twin, "o3").await;
    let got = rx.wait_for(6).await;
    assert_eq!(
        got.last().map(|d| d.json()["object_id"].clone()),
        Some(json!("o3"))
    );
}

#[tokio::test]
async fn webhook_failed_is_raised_to_its_listeners() {
    let twin = Twin::start(config()).await;
    let failing = Receiver::start(503).await;
    let watcher = Receiver::start(200).await;
    let hook = register(&twin, &failing.url, &["object.created"]).await;
    register(&twin, &watcher.url, &["webhook.failed"]).await;
    emit(&twin, "o1").await;
    log_len(&twin, &hook, 1).await;
    for (i, wait) in ["1s", "5s", "30s", "5m"].iter().enumerate() {
        twin.advance(wait).await;
        log_len(&twin, &hook, i + 2).await;
    }
    let got = watcher.wait_for(1).await;
    assert_eq!(
        got.first().map(|d| d.json()["event_type"].clone()),
        Some(json!("webhook.failed"))
    );
}

#[tokio::test]
async fn the_effects_ledger_tells_once_lost_and_duplicated() {
    let twin = Twin::start(config()).await;
    let rx = Receiver::start(200).await;
    register(&twin, &rx.url, &["object.created"]).await;
    for o in ["once", "lost", "twice"] {
        emit(&twin, o).await;
    }
    rx.wait_for(3).await;
    let effect = |object: &str| json!({ "action_type": "Update", "object_id": object, "payload": { "properties": { "ack": true }, "effect_of": format!("created:{object}") } });
    twin.api("POST", "/ebus/actions")
        .json(&effect("once"))
        .send()
        .await
        .ok();
    twin.api("POST", "/ebus/actions")
        .json(&effect("twice"))
        .send()
        .await
        .ok();
    twin.api("POST", "/ebus/actions")
        .json(&effect("twice"))
        .send()
        .await
        .ok();
    let e = effects(&twin).await;
    assert_eq!(
        (
            e["expected"].as_u64(),
            e["exactly_once"].as_u64(),
            e["lost"].as_u64(),
            e["duplicated"].as_u64()
        ),
        (Some(3), Some(1), Some(1), Some(1)),
        "{e}"
    );
}

#[tokio::test]
async fn a_receiver_that_accepts_forgeries_is_caught() {
    for (kind, field) in [
        ("webhook_bad_signature", "accepted_bad_signature"),
        ("webhook_old_secret", "accepted_bad_signature"),
        ("webhook_body_signature", "accepted_bad_signature"),
        ("webhook_stale_timestamp", "accepted_stale_timestamp"),
        ("webhook_future_timestamp", "accepted_stale_timestamp"),
    ] {
        let twin = Twin::with_rules(vec![RuleSpec {
            limit: Some(1),
            ..rule(kind)
        }])
        .await;
        let rx = Receiver::start(200).await;
        register(&twin, &rx.url, &["object.created"]).await;
        emit(&twin, "o1").await;
        let got = rx.wait_for(1).await;
        let d = &got[0];
        let verifies = d.signature == expected_signature(&d.timestamp, &d.body);
        let ts: i64 = d.timestamp.parse().expect("ts");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64;
        assert!(
            !verifies || (ts - now).abs() >= 300,
            "{kind}: the delivery is really forged or stale"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            effects(&twin).await[field],
            1,
            "{kind}: a 2xx to it is counted"
        );
    }
}

#[tokio::test]
async fn a_refused_forgery_is_sent_again_properly() {
    let twin = Twin::with_rules(vec![RuleSpec {
        limit: Some(1),
        ..rule("webhook_bad_signature")
    }])
    .await;
    let rx = Receiver::start(200).await;
    *rx.verify.lock().expect("lock") = Some(SECRET.to_string());
    register(&twin, &rx.url, &["object.created"]).await;
    emit(&twin, "o1").await;
    let got = rx.wait_for(2).await;
    assert_ne!(
        got[0].signature,
        expected_signature(&got[0].timestamp, &got[0].body),
        "the first is forged"
    );
    let d = &got[1];
    assert_eq!(
        d.signature,
        expected_signature(&d.timestamp, &d.body),
        "the second delivery is genuine"
    );
    let e = effects(&twin).await;
    assert_eq!(
        (
            e["accepted_bad_signature"].as_u64(),
            e["delivered"].as_u64()
        ),
        (Some(0), Some(1)),
        "{e}"
    );
}

#[tokio::test]
async fn duplicates_reorders_and_flat_payloads_are_delivered_as_asked() {
    let cases: Vec<(RuleSpec, usize)> = vec![
        (
            RuleSpec {
                mode: Some("sequential".into()),
                limit: Some(1),
                ..rule("webhook_duplicate")
            },
            2,
        ),
        (
            RuleSpec {
                mode: Some("concurrent".into()),
                limit: Some(1),
                ..rule("webhook_duplicate")
            },
            2,
        ),
        (
            RuleSpec {
                mode: Some("after_ack".into()),
                limit: Some(1),
                ..rule("webhook_duplicate")
            },
            2,
        ),
    ];
    for (spec, n) in cases {
        let twin = Twin::with_rules(vec![spec.clone()]).await;
        let rx = Receiver::start(200).await;
        register(&twin, &rx.url, &["object.created"]).await;
        emit(&twin, "o1").await;
        if spec.mode.as_deref() == Some("after_ack") {
            rx.wait_for(1).await;
            twin.advance("2s").await;
        }
        let got = rx.wait_for(n).await;
        assert_eq!(got.len(), n, "{spec:?}");
        assert_eq!(
            got[0].json()["id"],
            got[1].json()["id"],
            "the same event twice"
        );
    }
    // Reorder: the first event is held, the second overtakes it.
    let twin = Twin::with_rules(vec![RuleSpec {
        limit: Some(1),
        delay: Some(Duration::from_millis(500)),
        ..rule("webhook_reorder")
    }])
    .await;
    let rx = Receiver::start(200).await;
    register(&twin, &rx.url, &["object.created"]).await;
    emit(&twin, "first").await;
    emit(&twin, "second").await;
    let got = rx.wait_for(2).await;
    let order: Vec<Value> = got.iter().map(|d| d.json()["object_id"].clone()).collect();
    assert_eq!(order, [json!("second"), json!("first")]);
    // Flat: no payload object, fields at the top level.
    let twin = Twin::with_rules(vec![RuleSpec {
        limit: Some(1),
        ..rule("webhook_flat_payload")
    }])
    .await;
    let rx = Receiver::start(200).await;
    register(&twin, &rx.url, &["object.created"]).await;
    emit(&twin, "o1").await;
    let v = rx.wait_for(1).await[0].json();
    assert!(v.get("payload").is_none() && v["version"] == 1, "{v}");
}

#[tokio::test]
async fn webhook_rules_are_checked() {
    let twin = Twin::start(config()).await;
    for (body, field) in [
        (
            json!({ "rules": [{ "kind": "webhook_duplicate", "mode": "twice" }] }),
            "rules[0].mode",
        ),
        (
            json!({ "rules": [{ "kind": "webhook_bad_signature", "route": "/x" }] }),
            "rules[0].route",
        ),
        (
            json!({ "rules": [{ "kind": "status", "status": 500, "event": "object.*" }] }),
            "rules[0].event",
        ),
    ] {
        let r = twin
            .control("PUT", "/_gauntlet/rules")
            .json(&body)
            .send()
            .await;
        assert_eq!(r.envelope(), (400, Some(field.to_string())), "{body}");
    }
}
