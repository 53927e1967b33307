//! The per-run account: the load's own actions (tagged `payload.run`), apart from
//! untagged traffic and webhook effects, each count shown able to fail.

use gauntlet_mock::RuleSpec;
use serde_json::{Value, json};

use crate::util::{Twin, rule};

/// `n` Emit actions of run `run` (`None`: untagged, as setup traffic is).
fn tagged(run: Option<&str>, tag: &str, n: usize) -> Value {
    let actions: Vec<Value> = (0..n)
        .map(|i| {
            let mut payload = json!({ "nonce": format!("{tag}-{i}") });
            if let Some(r) = run {
                payload["run"] = json!(r);
            }
            json!({ "action_type": "Emit", "payload": payload })
        })
        .collect();
    json!({ "actions": actions })
}

/// Send a batch; the failed actions of its reply (as sent).
async fn send(twin: &Twin, body: &Value) -> Vec<Value> {
    let reply = twin
        .api("POST", "/ebus/actions/batch")
        .json(body)
        .send()
        .await
        .ok();
    reply["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["status"] == "failed")
        .map(|r| body["actions"][r["index"].as_u64().expect("index") as usize].clone())
        .collect()
}

#[tokio::test]
async fn a_run_that_drops_its_failed_actions_shows_them_lost() {
    let half_fail = RuleSpec {
        fraction: Some(0.5),
        limit: Some(2),
        ..rule("partial_batch")
    };
    let twin = Twin::with_rules(vec![half_fail]).await;
    // Flawed: run r1 never resubmits its failures.
    let dropped = send(&twin, &tagged(Some("r1"), "a", 10)).await;
    assert!(!dropped.is_empty(), "some failed");
    // Correct: run r2 resubmits them until none is left.
    let mut pending = send(&twin, &tagged(Some("r2"), "b", 10)).await;
    while !pending.is_empty() {
        twin.advance("500ms").await;
        pending = send(&twin, &json!({ "actions": pending })).await;
    }
    // Traffic that is not a run's own: an untagged pool, a handler's effect that
    // carries r1's tag too.
    send(&twin, &tagged(None, "pool", 5)).await;
    let effect = json!({ "actions": [{ "action_type": "Emit",
        "payload": { "run": "r1", "effect_of": "object.created:o:1" } }] });
    send(&twin, &effect).await;

    let o = twin.oracle().await;
    let (r1, r2) = (&o["runs"]["r1"], &o["runs"]["r2"]);
    let n = dropped.len() as u64;
    assert_eq!(
        (
            r1["arrived"].as_u64(),
            r1["applied"].as_u64(),
            r1["lost"].as_u64(),
            r1["duplicated"].as_u64(),
            r1["rejected"].as_u64()
        ),
        (Some(10), Some(10 - n), Some(n), Some(0), Some(0)),
        "{o}"
    );
    assert_eq!(
        (
            r2["arrived"].as_u64(),
            r2["applied"].as_u64(),
            r2["lost"].as_u64()
        ),
        (Some(10), Some(10), Some(0)),
        "{o}"
    );
    assert_eq!(
        o["runs"].as_object().map(|m| m.len()),
        Some(2),
        "untagged actions start no run: {o}"
    );
    assert_eq!(
        o["actions"]["distinct"].as_u64(),
        Some(26),
        "the whole ledger still has them: {o}"
    );
}
