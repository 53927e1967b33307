//! Bad requests get Dual's envelope naming what was wrong.

use serde_json::json;

use crate::util::{Twin, config};

#[tokio::test]
async fn bad_bodies_name_the_field() {
    let twin = Twin::start(config()).await;
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            "POST",
            "/ebus/actions/batch",
            b"{\"actions\": [".to_vec(),
            "body",
        ),
        ("POST", "/ebus/actions/batch", b"".to_vec(), "body"),
        (
            "POST",
            "/ebus/actions/batch",
            br#"{"actions":[{"action_type":"Emit"},{"payload":{}}]}"#.to_vec(),
            "actions[1].action_type",
        ),
        (
            "POST",
            "/ebus/actions/batch",
            br#"{"actions":[{"action_type":"Emit","object_id":7}]}"#.to_vec(),
            "actions[0].object_id",
        ),
        (
            "POST",
            "/ebus/actions/batch",
            br#"{"actions":[]}"#.to_vec(),
            "actions",
        ),
        (
            "POST",
            "/ebus/actions/batch",
            br#"{"acts":[]}"#.to_vec(),
            "actions",
        ),
        (
            "POST",
            "/ebus/actions",
            br#"{"action_type":5}"#.to_vec(),
            "action_type",
        ),
        ("POST", "/templates", br#"{"name":""}"#.to_vec(), "name"),
        (
            "POST",
            "/webhooks",
            br#"{"url":"ftp://x","events":["object.created"]}"#.to_vec(),
            "url",
        ),
        (
            "POST",
            "/webhooks",
            br#"{"url":"http://127.0.0.1:9/h","events":["object.created","nope"]}"#.to_vec(),
            "events[1]",
        ),
        ("GET", "/objects?limit=many", Vec::new(), "limit"),
    ];
    for (method, path, body, field) in cases {
        let r = twin
            .api(method, path)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        let (code, got) = r.envelope();
        assert_eq!(
            (code, got.as_deref()),
            (400, Some(field)),
            "{method} {path}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
}

#[tokio::test]
async fn a_batch_over_500_names_the_limit() {
    let twin = Twin::start(config()).await;
    let r = twin
        .api("POST", "/ebus/actions/batch")
        .json(&crate::util::batch("big", 501))
        .send()
        .await;
    let v = r.json();
    assert_eq!(r.envelope(), (400, Some("actions".into())));
    assert_eq!(
        v["error"]["details"][0]["reason"],
        "at most 500 actions per batch"
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let mut c = config();
    c.limits.max_body_bytes = 1024;
    let twin = Twin::start(c).await;
    let r = twin
        .api("POST", "/ebus/actions/batch")
        .json(&crate::util::batch("huge", 100))
        .send()
        .await;
    assert_eq!(r.envelope().0, 413);
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let twin = Twin::start(config()).await;
    assert_eq!(
        twin.api("GET", "/nothing/here").send().await.envelope().0,
        404
    );
    let r = twin.api("DELETE", "/ebus/actions/batch").send().await;
    assert_eq!((r.envelope().0, r.header("allow")), (405, Some("POST")));
    let r = twin.api("PUT", "/webhooks/wh_1").send().await;
    assert_eq!(
        (r.envelope().0, r.header("allow")),
        (405, Some("GET, PATCH, DELETE"))
    );
}

#[tokio::test]
async fn idempotency_key_reuse_with_another_body_is_422() {
    let twin = Twin::start(config()).await;
    let send = |tag: &str| {
        twin.api("POST", "/ebus/actions/batch")
            .header("idempotency-key", "same")
            .json(&crate::util::batch(tag, 2))
            .send()
    };
    send("one").await.ok();
    let r = send("two").await;
    assert_eq!(r.envelope(), (422, Some("Idempotency-Key".into())));
    assert_eq!(twin.oracle().await["idempotency"]["mismatches"], json!(1));
}

#[tokio::test]
async fn every_response_has_a_request_id() {
    let twin = Twin::start(config()).await;
    for r in [
        twin.req("GET", "/health").send().await,
        twin.api("GET", "/templates").send().await,
        twin.req("GET", "/templates").send().await,
        twin.api("GET", "/nope").send().await,
    ] {
        assert!(
            r.header("x-request-id")
                .is_some_and(|v| v.starts_with("req_")),
            "{r:?}"
        );
    }
}
