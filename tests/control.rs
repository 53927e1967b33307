//! The control API: token, rules, tape, clock, reset.

use gauntlet_mock::RuleSpec;
use serde_json::{Value, json};

use crate::util::{KEY, Receiver, TOKEN, Twin, batch, config, rule};

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

/// The fields of a tape line, in the order every line writes them.
const TAPE_FIELDS: [&str; 7] = [
    "seq",
    "at_ms",
    "request_id",
    "method",
    "path",
    "rule",
    "kind",
];

/// A twin whose tape fills as `GET /templates` is called.
async fn taping_twin(seed: u64) -> Twin {
    let mut c = config();
    c.seed = seed;
    c.faults = gauntlet_mock::engine::faults::spec::validate_all(
        &[
            RuleSpec {
                status: Some(500),
                probability: Some(0.5),
                route: Some("GET /templates".into()),
                ..rule("status")
            },
            RuleSpec {
                route: Some("GET /templates".into()),
                ..rule("flat_error")
            },
        ],
        "faults",
    )
    .expect("valid");
    let twin = Twin::start(c).await;
    for _ in 0..8 {
        twin.api("GET", "/templates").send().await;
    }
    twin
}

async fn jsonl(twin: &Twin, path: &str) -> String {
    let r = twin.control("GET", path).send().await;
    assert_eq!(
        (r.status(), r.header("content-type")),
        (200, Some("application/x-ndjson")),
        "{path}: {r:?}"
    );
    String::from_utf8(r.body).expect("UTF-8")
}

#[tokio::test]
async fn the_tape_exports_as_json_lines_in_sequence_order() {
    let twin = taping_twin(5).await;
    let text = jsonl(&twin, "/_gauntlet/tape?format=jsonl").await;
    assert!(text.ends_with('\n'), "every line ends: {text:?}");
    let json = twin.control("GET", "/_gauntlet/tape").send().await.ok();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len() as u64,
        json["total"].as_u64().expect("total"),
        "every kept entry"
    );
    assert!(lines.len() > 8, "both rules fired: {text}");
    for line in &lines {
        let at: Vec<usize> = TAPE_FIELDS
            .iter()
            .map(|f| line.find(&format!("\"{f}\":")).expect(f))
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "field order: {line}");
    }
    let entries: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert!(
        entries
            .windows(2)
            .all(|w| w[0]["seq"].as_u64() <= w[1]["seq"].as_u64()),
        "sequence order: {text}"
    );
    assert_eq!(
        json!(entries),
        json["entries"],
        "the same entries as the JSON form"
    );

    let asked = twin
        .control("GET", "/_gauntlet/tape")
        .header("accept", "application/json, application/x-ndjson")
        .send()
        .await;
    assert_eq!(
        (asked.header("content-type"), asked.body.as_slice()),
        (Some("application/x-ndjson"), text.as_bytes()),
        "Accept asks for it too"
    );
    let refused = twin
        .control("GET", "/_gauntlet/tape")
        .header("accept", "application/x-ndjson;q=0, application/json")
        .send()
        .await;
    assert_eq!(refused.ok()["entries"], json["entries"], "q=0 refuses it");
    let plain = twin
        .control("GET", "/_gauntlet/tape?format=json")
        .header("accept", "application/x-ndjson")
        .send()
        .await;
    assert_eq!(plain.ok(), json, "format=json wins over Accept");

    let since = entries[entries.len() / 2]["seq"].as_u64().expect("seq");
    let tail = jsonl(
        &twin,
        &format!("/_gauntlet/tape?format=jsonl&since={since}"),
    )
    .await;
    assert!(
        text.ends_with(&tail) && tail.lines().count() < lines.len(),
        "since={since} keeps the later lines"
    );
    for (path, field) in [
        ("/_gauntlet/tape?format=xml", "format"),
        ("/_gauntlet/tape?format=jsonl&limit=5", "limit"),
        ("/_gauntlet/tape?format=jsonl&since=soon", "since"),
    ] {
        let r = twin.control("GET", path).send().await;
        assert_eq!(r.envelope(), (400, Some(field.into())), "{path}");
    }
}

#[tokio::test]
async fn two_runs_of_one_seed_export_lines_that_differ_only_in_time() {
    /// A line with its twin time cut out.
    fn timeless(line: &str) -> String {
        let start = line.find("\"at_ms\":").expect("at_ms");
        let end = start + line[start..].find(',').expect("a field after at_ms");
        format!("{}{}", &line[..start], &line[end + 1..])
    }
    let mut runs = Vec::new();
    for _ in 0..2 {
        let twin = taping_twin(11).await;
        let text = jsonl(&twin, "/_gauntlet/tape?format=jsonl").await;
        runs.push(text.lines().map(timeless).collect::<Vec<_>>());
    }
    assert!(!runs[0].is_empty());
    assert_eq!(runs[0], runs[1], "a line-by-line diff shows no change");
}

#[tokio::test]
async fn the_tape_holds_no_secrets() {
    let twin = Twin::with_rules(vec![rule("webhook_flat_payload")]).await;
    let rx = Receiver::start(200).await;
    let hook_secret = "whsec_tape_test_0123456789";
    let url = rx.url.replacen("http://", "http://user:hunter2@", 1) + "?token=s3cr3t";
    let hook = json!({ "url": url, "events": ["object.created"], "secret": hook_secret });
    twin.api("POST", "/webhooks").json(&hook).send().await.ok();
    twin.api("POST", "/ebus/actions/batch")
        .json(&json!({ "actions": [{ "action_type": "Emit", "object_id": "o1", "payload": {} }] }))
        .send()
        .await
        .ok();
    let deadline = std::time::Instant::now() + crate::util::BOUND;
    let text = loop {
        let text = jsonl(&twin, "/_gauntlet/tape?format=jsonl").await;
        if text.contains("DELIVER") || std::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let json = twin.control("GET", "/_gauntlet/tape").send().await.ok();
    assert_eq!(
        json["entries"][0]["path"].as_str(),
        Some(rx.url.as_str()),
        "the delivery is taped with its URL, less credentials and query: {json}"
    );
    for secret in ["hunter2", "s3cr3t", hook_secret, KEY, TOKEN] {
        assert!(
            !text.contains(secret) && !json.to_string().contains(secret),
            "{secret} on the tape: {text}"
        );
    }
}
