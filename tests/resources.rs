//! Templates, objects, webhooks, batches, checkpoints, health, metrics.

use serde_json::json;

use crate::util::{Twin, batch, config};

#[tokio::test]
async fn templates_and_objects_read_back() {
    let twin = Twin::start(config()).await;
    let t = twin
        .api("POST", "/templates")
        .json(&json!({ "name": "ticket", "properties": { "tier": "gold" } }))
        .send()
        .await
        .ok();
    let tid = t["id"].as_str().expect("id");
    assert_eq!(
        twin.api("GET", "/templates").send().await.ok()["templates"][0]["name"],
        "ticket"
    );
    let emit = json!({ "actions": [{ "action_type": "Emit", "payload": { "template_id": tid, "owner": "alice" } }, { "action_type": "Emit", "payload": { "template_id": "tpl_404" } }] });
    let v = twin
        .api("POST", "/ebus/actions/batch")
        .json(&emit)
        .send()
        .await
        .ok();
    assert_eq!(
        (
            v["results"][0]["code"].as_u64(),
            v["results"][1]["code"].as_u64()
        ),
        (Some(201), Some(404))
    );
    let list = twin.api("GET", "/objects?limit=10").send().await.ok();
    assert_eq!(list["total"].as_u64(), Some(1));
    let obj = &list["objects"][0];
    assert_eq!(
        (
            obj["template_id"].as_str(),
            obj["owner"].as_str(),
            obj["version"].as_u64()
        ),
        (Some(tid), Some("alice"), Some(1))
    );
    for field in ["id", "org_id", "state_hash"] {
        assert!(obj[field].as_str().is_some(), "{field} in {obj}");
    }
}

#[tokio::test]
async fn webhooks_are_created_listed_patched_and_deleted() {
    let twin = Twin::start(config()).await;
    let hook = json!({ "url": "http://127.0.0.1:9/hook", "events": ["object.transferred"], "active": false });
    let created = twin.api("POST", "/webhooks").json(&hook).send().await;
    assert_eq!(created.status(), 201);
    let created = created.json();
    let id = created["id"].as_str().expect("id").to_string();
    assert!(
        created["secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("whsec_")),
        "a generated secret is shown once"
    );
    let listed = twin.api("GET", "/webhooks").send().await.ok();
    assert!(
        listed["webhooks"][0].get("secret").is_none(),
        "never listed: {listed}"
    );
    let patched = twin
        .api("PATCH", &format!("/webhooks/{id}"))
        .json(&json!({ "active": true }))
        .send()
        .await
        .ok();
    assert_eq!(patched["active"], true);
    assert_eq!(
        twin.api("GET", &format!("/webhooks/{id}"))
            .send()
            .await
            .ok()["active"],
        true
    );
    assert_eq!(
        twin.api("DELETE", &format!("/webhooks/{id}"))
            .send()
            .await
            .status(),
        204
    );
    assert_eq!(
        twin.api("GET", &format!("/webhooks/{id}"))
            .send()
            .await
            .envelope()
            .0,
        404
    );
}

#[tokio::test]
async fn checkpoints_seal_by_count_and_time_and_finalize_after_the_challenge_window() {
    let mut c = config();
    c.sequencer.max_actions = 50;
    let twin = Twin::start(c).await;
    twin.api("POST", "/ebus/actions/batch")
        .json(&batch("a", 60))
        .send()
        .await
        .ok();
    twin.api("POST", "/ebus/actions/batch")
        .json(&batch("b", 10))
        .send()
        .await
        .ok();
    let cps = twin.api("GET", "/checkpoints").send().await.ok();
    let status = |v: &serde_json::Value, id: &str| {
        v["checkpoints"]
            .as_array()
            .expect("list")
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| c["status"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(
        status(&cps, "cp_1").as_deref(),
        Some("challenge"),
        "sealed by count: {cps}"
    );
    assert_eq!(status(&cps, "cp_2").as_deref(), Some("building"));
    twin.advance("15m").await;
    let cps = twin.api("GET", "/checkpoints").send().await.ok();
    assert_eq!(
        status(&cps, "cp_2").as_deref(),
        Some("challenge"),
        "sealed by time: {cps}"
    );
    twin.advance("4h").await;
    let cps = twin.api("GET", "/checkpoints").send().await.ok();
    assert_eq!(status(&cps, "cp_1").as_deref(), Some("finalized"), "{cps}");
    let batches = twin.api("GET", "/batches").send().await.ok();
    assert_eq!(batches["batches"].as_array().map(Vec::len), Some(2));
    assert_eq!(batches["batches"][1]["actions"].as_u64(), Some(60));
    let health = twin.req("GET", "/health").send().await.ok();
    assert_eq!(
        (
            health["status"].as_str(),
            health["sequencer"]["last_checkpoint"].as_str()
        ),
        (Some("ok"), Some("cp_2"))
    );
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let twin = Twin::with_rules(vec![gauntlet_mock::RuleSpec {
        status: Some(503),
        limit: Some(1),
        ..crate::util::rule("status")
    }])
    .await;
    twin.api("POST", "/ebus/actions/batch")
        .json(&batch("m", 3))
        .send()
        .await;
    twin.api("POST", "/ebus/actions/batch")
        .json(&batch("m", 3))
        .send()
        .await
        .ok();
    let text = String::from_utf8(twin.req("GET", "/metrics").send().await.body).expect("utf-8");
    for line in [
        r#"gauntlet_requests_total{method="POST",route="/ebus/actions/batch",status="503"} 1"#,
        r#"gauntlet_requests_total{method="POST",route="/ebus/actions/batch",status="200"} 1"#,
        r#"gauntlet_faults_injected_total{kind="status"} 1"#,
        r#"gauntlet_oracle_actions{outcome="exactly_once"} 3"#,
        r#"gauntlet_oracle_backoff{outcome="retries"} 1"#,
        r#"gauntlet_ratelimit_tokens{org="org_sandbox",group="ebus"}"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}
