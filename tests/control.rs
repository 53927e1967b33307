//! The control API: token, rules, tape, clock, reset.

use serde_json::json;

use crate::util::{Twin, batch, config};

#[tokio::test]
async fn the_control_api_needs_the_token() {
    let twin = Twin::start(config()).await;
    for path in ["/_gauntlet/oracle", "/_gauntlet/rules", "/_gauntlet/tape"] {
        assert_eq!(
            twin.req("GET", path).send().await.envelope().0,
            401,
            "{path}"
        );
        assert_eq!(
            twin.req("GET", path)
                .header("x-gauntlet-token", "wrong")
                .send()
                .await
                .envelope()
                .0,
            401,
            "{path}"
        );
    }
    assert_eq!(
        twin.req("POST", "/_gauntlet/reset").send().await.status(),
        401
    );
    assert_eq!(
        twin.control("GET", "/_gauntlet/nothing")
            .send()
            .await
            .envelope()
            .0,
        404
    );
    assert_eq!(
        twin.control("GET", "/_gauntlet/reset")
            .send()
            .await
            .envelope()
            .0,
        405
    );
}

#[tokio::test]
async fn rules_are_read_replaced_and_checked() {
    let twin = Twin::start(config()).await;
    assert_eq!(
        twin.control("GET", "/_gauntlet/rules").send().await.ok()["rules"],
        json!([])
    );
    let rules = json!({ "rules": [{ "name": "outage", "kind": "status", "status": 503, "route": "/ebus/*", "at": "0s", "for": "1h" }] });
    assert_eq!(
        twin.control("PUT", "/_gauntlet/rules")
            .json(&rules)
            .send()
            .await
            .ok()["installed"],
        1
    );
    let back = twin.control("GET", "/_gauntlet/rules").send().await.ok();
    assert_eq!(back["rules"][0]["name"], "outage");
    assert_eq!(back["rules"][0]["for"], "1h");
    assert_eq!(
        twin.api("POST", "/ebus/actions/batch")
            .json(&batch("c", 1))
            .send()
            .await
            .status(),
        503
    );
    assert_eq!(
        twin.api("GET", "/templates").send().await.status(),
        200,
        "outside the route"
    );

    let bad = [
        (
            json!({ "rules": [{ "kind": "reset", "probability": 2 }] }),
            "rules[0].probability",
        ),
        (
            json!({ "rules": [{ "kind": "status" }] }),
            "rules[0].status",
        ),
        (
            json!({ "rules": [{ "kind": "reset" }, { "kind": "boom" }] }),
            "rules[1].kind",
        ),
        (
            json!({ "rules": [{ "kind": "reset", "for": "soon" }] }),
            "rules[0].for",
        ),
        (
            json!({ "rules": [{ "kind": "reset", "colour": "red" }] }),
            "rules[0]",
        ),
        (json!({ "rulez": [] }), "rulez"),
    ];
    for (body, field) in bad {
        let r = twin
            .control("PUT", "/_gauntlet/rules")
            .json(&body)
            .send()
            .await;
        let (code, got) = r.envelope();
        assert_eq!(code, 400, "{body}");
        assert!(
            got.as_deref().is_some_and(|g| g.starts_with(field)),
            "{body}: named {got:?}, want {field}"
        );
    }
    assert_eq!(
        twin.control("GET", "/_gauntlet/rules").send().await.ok()["rules"][0]["name"],
        "outage",
        "a bad PUT changes nothing"
    );
}

#[tokio::test]
async fn reset_forgets_state_and_restarts_the_rules_and_numbering() {
    let rules = vec![gauntlet_mock::RuleSpec {
        status: Some(503),
        probability: Some(0.5),
        route: Some("GET /health".into()),
        ..crate::util::rule("status")
    }];
    let twin = Twin::with_rules(rules).await;
    let ids = |twin: &Twin| {
        let twin_addr = twin.req("GET", "/health");
        async move {
            let mut out = Vec::new();
            for _ in 0..6 {
                let r = twin_addr.clone().send().await;
                out.push((
                    r.header("x-request-id").unwrap_or_default().to_string(),
                    r.status(),
                ));
            }
            out
        }
    };
    let first = ids(&twin).await;
    twin.api("POST", "/ebus/actions/batch")
        .json(&batch("r", 3))
        .send()
        .await;
    twin.control("POST", "/_gauntlet/reset").send().await.ok();
    let o = twin.oracle().await;
    assert_eq!(
        (
            o["actions"]["applies"].as_u64(),
            o["actions"]["distinct"].as_u64()
        ),
        (Some(0), Some(0)),
        "{o}"
    );
    let tape = twin.control("GET", "/_gauntlet/tape").send().await.ok();
    assert_eq!(tape["total"], 0, "the tape is cleared: {tape}");
    assert_eq!(twin.api("GET", "/objects").send().await.ok()["total"], 0);
    twin.control("POST", "/_gauntlet/reset").send().await.ok();
    assert_eq!(
        ids(&twin).await,
        first,
        "request numbering restarts: the same ids and the same faults"
    );
    assert!(
        first.iter().any(|(_, s)| *s == 503) && first.iter().any(|(_, s)| *s == 200),
        "{first:?}"
    );
}

#[tokio::test]
async fn the_clock_advances_on_request() {
    let twin = Twin::start(config()).await;
    let now = twin
        .control("POST", "/_gauntlet/clock/advance")
        .json(&json!({ "by": "2h" }))
        .send()
        .await
        .ok();
    assert!(now["now_ms"].as_u64().expect("now") >= 7_200_000);
    let r = twin
        .control("POST", "/_gauntlet/clock/advance")
        .json(&json!({ "by": "later" }))
        .send()
        .await;
    assert_eq!(r.envelope(), (400, Some("by".into())));
}
