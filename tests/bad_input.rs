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

#[tokio::test]
async fn object_ids_are_percent_decoded() {
    let twin = Twin::start(config()).await;
    for id in ["o 1", "ünï/cödé", "plain"] {
        let emit =
            json!({ "actions": [{ "action_type": "Emit", "object_id": id, "payload": {} }] });
        twin.api("POST", "/ebus/actions/batch")
            .json(&emit)
            .send()
            .await
            .ok();
    }
    for (path, id) in [
        ("/objects/o%201", "o 1"),
        ("/objects/%C3%BCn%C3%AF%2Fc%C3%B6d%C3%A9", "ünï/cödé"),
        ("/objects/plain", "plain"),
        ("/objects/pl%61in", "plain"),
    ] {
        let v = twin.api("GET", path).send().await.ok();
        assert_eq!(v["id"].as_str(), Some(id), "{path}: {v}");
    }
    assert_eq!(
        twin.api("GET", "/objects/o%202").send().await.envelope(),
        (404, None),
        "a valid id that does not exist"
    );
}

#[tokio::test]
async fn bad_object_ids_are_400_naming_the_id() {
    let twin = Twin::start(config()).await;
    let long = format!("/objects/{}", "x".repeat(129));
    // Long, but within what HTTP lets through to the twin (a URI under 64 KiB).
    let very_long = format!("/objects/{}", "%41".repeat(20_000));
    for path in [
        "/objects/",
        "/objects/%00",
        "/objects/a%00b",
        "/objects/a%0Ab",
        "/objects/%7F",
        "/objects/%FF%FE",
        &long,
        &very_long,
    ] {
        let r = twin.api("GET", path).send().await;
        assert_eq!(
            r.envelope(),
            (400, Some("id".into())),
            "{}: {}",
            &path[..path.len().min(40)],
            String::from_utf8_lossy(&r.body)
        );
    }
    // A 100k-character id cannot reach the twin: the HTTP layer refuses a URI that
    // long (414) before any handler runs, and the twin carries on.
    let huge = format!("/objects/{}", "x".repeat(100_000));
    let status = twin.api("GET", &huge).send().await.status();
    assert_eq!(status, 414, "URI too long");
    assert_eq!(twin.api("GET", "/objects").send().await.status(), 200);
    assert_eq!(twin.req("GET", "/health").send().await.status(), 200);
}
