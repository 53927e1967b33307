//! The event bus: single and batch submissions, order, per-action results, reads,
//! rate-limit headers and 429s.

use serde_json::json;

use crate::util::{Twin, batch, config};

#[tokio::test]
async fn a_batch_is_applied_in_order_and_one_failure_does_not_stop_the_rest() {
    let twin = Twin::start(config()).await;
    let body = json!({ "actions": [
        { "action_type": "Emit", "object_id": "o1", "payload": {} },
        { "action_type": "Transfer", "object_id": "missing", "payload": { "to": "bob" } },
        { "action_type": "Transfer", "object_id": "o1", "payload": { "to": "bob" } },
        { "action_type": "Update", "object_id": "o1", "payload": { "properties": { "colour": "red" } } },
        { "action_type": "Fly", "object_id": "o1", "payload": {} },
        { "action_type": "Transfer", "object_id": "o1", "payload": {} },
    ]});
    let r = twin
        .api("POST", "/ebus/actions/batch")
        .json(&body)
        .send()
        .await;
    assert!(r.header("x-ratelimit-limit").is_some() && r.header("x-ratelimit-reset").is_some());
    assert_eq!(
        r.header("x-ratelimit-remaining"),
        Some("1994"),
        "a batch of 6 costs 6"
    );
    let v = r.ok();
    let codes: Vec<u64> = v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|x| x["code"].as_u64().expect("code"))
        .collect();
    assert_eq!(codes, [201, 404, 201, 201, 400, 400]);
    assert_eq!(v["results"][5]["error"]["field"], "actions[5].payload.to");
    assert_eq!(v["results"][4]["error"]["field"], "actions[4].action_type");
    let seqs: Vec<u64> = v["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|x| x["sequence"].as_u64())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "sequences in order: {seqs:?}"
    );

    let obj = twin.api("GET", "/objects/o1").send().await.ok();
    assert_eq!(
        (obj["owner"].as_str(), obj["version"].as_u64()),
        (Some("bob"), Some(3))
    );
    assert_eq!(obj["properties"]["colour"], "red");
    let action_id = v["results"][2]["action_id"].as_str().expect("id");
    let a = twin
        .api("GET", &format!("/ebus/actions/{action_id}"))
        .send()
        .await
        .ok();
    assert_eq!(
        (
            a["action_type"].as_str(),
            a["batch_id"].as_str(),
            a["checkpoint_id"].as_str()
        ),
        (Some("Transfer"), v["batch_id"].as_str(), Some("cp_1"))
    );
    assert_eq!(
        twin.api("GET", "/ebus/actions/act_999")
            .send()
            .await
            .envelope()
            .0,
        404
    );
}

#[tokio::test]
async fn a_single_action_answers_as_one() {
    let twin = Twin::start(config()).await;
    let r = twin
        .api("POST", "/ebus/actions")
        .json(&json!({ "action_type": "Emit", "object_id": "s1", "payload": {} }))
        .send()
        .await;
    let v = r.ok();
    assert_eq!((r.status(), v["status"].as_str()), (201, Some("applied")));
    assert!(v["action_id"].as_str().is_some() && v["sequence"].as_u64().is_some());
    let again = twin
        .api("POST", "/ebus/execute")
        .json(&json!({ "action_type": "Emit", "object_id": "s1", "payload": {} }))
        .send()
        .await;
    assert_eq!(again.envelope().0, 409, "the object exists");
    let r = twin
        .api("POST", "/ebus/actions")
        .json(&json!({ "action_type": "Transfer", "object_id": "s1" }))
        .send()
        .await;
    assert_eq!(r.envelope(), (400, Some("payload.to".into())));
    twin.api("POST", "/ebus/actions")
        .json(&json!({ "action_type": "Burn", "object_id": "s1" }))
        .send()
        .await
        .ok();
    let r = twin
        .api("POST", "/ebus/actions")
        .json(&json!({ "action_type": "Redeem", "object_id": "s1" }))
        .send()
        .await;
    assert_eq!(r.envelope().0, 409, "no transition out of burned");
}

#[tokio::test]
async fn the_bucket_refuses_with_retry_after_and_refills() {
    let mut c = config();
    c.limits.actions_per_sec = 500;
    let twin = Twin::start(c).await;
    twin.api("POST", "/ebus/actions/batch")
        .json(&batch("x", 500))
        .send()
        .await
        .ok();
    let r = twin
        .api("POST", "/ebus/actions/batch")
        .json(&batch("y", 100))
        .send()
        .await;
    assert_eq!((r.envelope().0, r.header("retry-after")), (429, Some("1")));
    let remaining: u32 = r
        .header("x-ratelimit-remaining")
        .and_then(|v| v.parse().ok())
        .expect("remaining");
    assert!(
        remaining < 100,
        "refused because fewer than 100 tokens were left: {remaining}"
    );
    let reset: u64 = r
        .header("x-ratelimit-reset")
        .and_then(|v| v.parse().ok())
        .expect("reset");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    assert!(
        reset >= now && reset <= now + 2,
        "reset is a Unix second soon: {reset} vs {now}"
    );
    twin.advance("1s").await;
    twin.api("POST", "/ebus/actions/batch")
        .json(&batch("y", 100))
        .send()
        .await
        .ok();
}

#[tokio::test]
async fn other_groups_have_their_own_limits() {
    let mut c = config();
    c.limits.writes_per_min = 2;
    let twin = Twin::start(c).await;
    for i in 0..2 {
        twin.api("POST", "/templates")
            .json(&json!({ "name": format!("t{i}") }))
            .send()
            .await
            .ok();
    }
    let r = twin
        .api("POST", "/templates")
        .json(&json!({ "name": "t3" }))
        .send()
        .await;
    assert_eq!(
        (r.envelope().0, r.header("x-ratelimit-limit")),
        (429, Some("2"))
    );
    assert_eq!(
        twin.api("GET", "/templates").send().await.status(),
        200,
        "reads are another bucket"
    );
}
