//! Every fault kind, as a table; seed determinism; windows and limits.

use std::time::Duration;

use gauntlet_mock::RuleSpec;
use serde_json::json;

use crate::util::{Twin, Wire, batch, rule};

/// What a client sees from a fault, and whether the batch was applied anyway.
#[derive(Debug, PartialEq)]
enum Seen {
    Status(u16),
    Reset,
    Closed,
    Truncated,
    Malformed,
    /// 200 with some per-action failures.
    Partial,
    Ok,
}

fn classify(w: &Wire) -> Seen {
    match w {
        Wire::Reset => Seen::Reset,
        Wire::Closed => Seen::Closed,
        Wire::Truncated { head, expected } => {
            assert!(
                head.body.len() < *expected && head.status == 200,
                "real headers, part of the body: {head:?}"
            );
            Seen::Truncated
        }
        Wire::Reply(r) if r.status == 200 => {
            match serde_json::from_slice::<serde_json::Value>(&r.body) {
                Err(_) => Seen::Malformed,
                Ok(v) if v["failed"].as_u64().unwrap_or(0) > 0 => Seen::Partial,
                Ok(_) => Seen::Ok,
            }
        }
        Wire::Reply(r) => Seen::Status(r.status),
    }
}

#[tokio::test]
async fn each_fault_kind_does_what_it_says() {
    let ms = |n| Some(Duration::from_millis(n));
    // (rule, what the client sees, actions applied?)
    let table: Vec<(RuleSpec, Seen, bool)> = vec![
        (
            RuleSpec {
                status: Some(429),
                ..rule("status")
            },
            Seen::Status(429),
            false,
        ),
        (
            RuleSpec {
                status: Some(500),
                ..rule("status")
            },
            Seen::Status(500),
            false,
        ),
        (
            RuleSpec {
                status: Some(502),
                ..rule("status")
            },
            Seen::Status(502),
            false,
        ),
        (
            RuleSpec {
                status: Some(503),
                ..rule("status")
            },
            Seen::Status(503),
            false,
        ),
        (
            RuleSpec {
                status: Some(504),
                ..rule("status")
            },
            Seen::Status(504),
            false,
        ),
        (rule("reset"), Seen::Reset, false),
        (
            RuleSpec {
                hang_for: ms(100),
                ..rule("hang")
            },
            Seen::Closed,
            false,
        ),
        (rule("lost_reply"), Seen::Status(502), true),
        (
            RuleSpec {
                reply: Some("status".into()),
                status: Some(504),
                ..rule("lost_reply")
            },
            Seen::Status(504),
            true,
        ),
        (
            RuleSpec {
                reply: Some("drop".into()),
                ..rule("lost_reply")
            },
            Seen::Closed,
            true,
        ),
        (rule("truncated"), Seen::Truncated, true),
        (rule("malformed"), Seen::Malformed, true),
        (
            RuleSpec {
                fraction: Some(1.0),
                codes: Some(vec![503]),
                ..rule("partial_batch")
            },
            Seen::Partial,
            false,
        ),
        (
            RuleSpec {
                dist: Some("fixed".into()),
                delay: ms(5),
                ..rule("latency")
            },
            Seen::Ok,
            true,
        ),
        (
            RuleSpec {
                dist: Some("uniform".into()),
                min: ms(1),
                max: ms(5),
                ..rule("latency")
            },
            Seen::Ok,
            true,
        ),
        (
            RuleSpec {
                dist: Some("normal".into()),
                mean: ms(3),
                stddev: ms(1),
                ..rule("latency")
            },
            Seen::Ok,
            true,
        ),
        (
            RuleSpec {
                dist: Some("lognormal".into()),
                median: ms(2),
                sigma: Some(0.5),
                max: ms(20),
                ..rule("latency")
            },
            Seen::Ok,
            true,
        ),
        (
            RuleSpec {
                dist: Some("pareto".into()),
                scale: ms(1),
                shape: Some(2.0),
                max: ms(20),
                ..rule("latency")
            },
            Seen::Ok,
            true,
        ),
        (rule("flat_error"), Seen::Ok, true),
    ];
    for (spec, want, applies) in table {
        let kind = spec.kind.clone();
        let spec = RuleSpec {
            route: Some("POST /ebus/actions/batch".into()),
            ..spec
        };
        let twin = Twin::with_rules(vec![spec.clone()]).await;
        let wire = twin
            .api("POST", "/ebus/actions/batch")
            .json(&batch(&kind, 3))
            .wire()
            .await;
        assert_eq!(classify(&wire), want, "{spec:?} gave {wire:?}");
        let oracle = twin.oracle().await;
        let applied = oracle["actions"]["applies"].as_u64().expect("count");
        assert_eq!(
            applied,
            if applies { 3 } else { 0 },
            "{kind}: applied {applied} {oracle}"
        );
        let tape = twin.control("GET", "/_gauntlet/tape").send().await.ok();
        assert_eq!(
            tape["entries"][0]["kind"],
            json!(kind),
            "{kind} on the tape: {tape}"
        );
    }
}

#[tokio::test]
async fn status_faults_carry_retry_after_and_custom_headers() {
    let spec = RuleSpec {
        status: Some(429),
        retry_after: Some(7),
        headers: Some([("x-custom".to_string(), "yes".to_string())].into()),
        ..rule("status")
    };
    let twin = Twin::with_rules(vec![spec]).await;
    let r = twin
        .api("POST", "/ebus/actions/batch")
        .json(&batch("h", 1))
        .send()
        .await;
    assert_eq!(
        (r.status(), r.header("retry-after"), r.header("x-custom")),
        (429, Some("7"), Some("yes"))
    );
    assert!(
        r.header("x-ratelimit-remaining").is_some(),
        "event-bus replies carry rate-limit headers"
    );
    assert_eq!(r.envelope().0, 429);
}

#[tokio::test]
async fn the_flat_error_fault_changes_the_error_shape() {
    let twin = Twin::with_rules(vec![rule("flat_error")]).await;
    let r = twin.api("GET", "/objects/missing").send().await;
    let v = r.json();
    assert_eq!((r.status(), v["code"].as_u64()), (404, Some(404)), "{v}");
    assert!(v.get("error").is_none(), "flat shape has no envelope: {v}");
}

#[tokio::test]
async fn health_degraded_is_reported() {
    let twin = Twin::with_rules(vec![rule("health_degraded")]).await;
    let v = twin.req("GET", "/health").send().await.ok();
    assert_eq!(v["status"], "degraded");
    let twin = Twin::with_rules(vec![]).await;
    assert_eq!(twin.req("GET", "/health").send().await.ok()["status"], "ok");
}

#[tokio::test]
async fn windows_and_limits_bound_a_rule() {
    let rules = vec![
        RuleSpec {
            status: Some(503),
            at: Some(Duration::from_secs(60)),
            for_: Some(Duration::from_secs(10)),
            ..rule("status")
        },
        RuleSpec {
            status: Some(500),
            limit: Some(2),
            route: Some("GET /templates".into()),
            ..rule("status")
        },
    ];
    let twin = Twin::with_rules(rules).await;
    assert_eq!(
        twin.api("GET", "/objects").send().await.status(),
        200,
        "before the window"
    );
    twin.advance("61s").await;
    assert_eq!(
        twin.api("GET", "/objects").send().await.status(),
        503,
        "inside the window"
    );
    twin.advance("10s").await;
    assert_eq!(
        twin.api("GET", "/objects").send().await.status(),
        200,
        "after the window"
    );
    let statuses: Vec<u16> = futures_statuses(&twin, "/templates", 4).await;
    assert_eq!(statuses, [500, 500, 200, 200], "limit 2");
}

async fn futures_statuses(twin: &Twin, path: &str, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(twin.api("GET", path).send().await.status());
    }
    out
}

/// The tape without times: what replays must reproduce.
async fn tape_of(seed: u64) -> Vec<(u64, String, String, String)> {
    let rules = vec![
        RuleSpec {
            status: Some(503),
            probability: Some(0.3),
            ..rule("status")
        },
        RuleSpec {
            dist: Some("uniform".into()),
            min: Some(Duration::ZERO),
            max: Some(Duration::from_millis(2)),
            probability: Some(0.5),
            ..rule("latency")
        },
        RuleSpec {
            fraction: Some(0.5),
            probability: Some(0.5),
            ..rule("partial_batch")
        },
        RuleSpec {
            probability: Some(0.2),
            ..rule("lost_reply")
        },
    ];
    let mut c = crate::util::config();
    c.seed = seed;
    c.faults = gauntlet_mock::engine::faults::spec::validate_all(&rules, "faults").expect("valid");
    let twin = Twin::start(c).await;
    let mut ids = Vec::new();
    for i in 0..40 {
        if let Wire::Reply(r) = twin
            .api("POST", "/ebus/actions/batch")
            .json(&batch(&format!("d{i}"), 4))
            .wire()
            .await
        {
            ids.push(r.header("x-request-id").unwrap_or_default().to_string());
        }
    }
    let tape = twin.control("GET", "/_gauntlet/tape").send().await.ok();
    assert!(!ids.is_empty());
    tape["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (
                e["seq"].as_u64().unwrap_or(u64::MAX),
                s("request_id"),
                s("rule"),
                s("kind"),
            )
        })
        .collect()
}

#[tokio::test]
async fn one_seed_replays_the_same_faults() {
    let (a, b, other) = (tape_of(42).await, tape_of(42).await, tape_of(43).await);
    assert!(a.len() > 10, "the rules fired: {a:?}");
    assert_eq!(a, b, "same seed, same requests, same tape");
    assert_ne!(a, other, "another seed, another tape");
}

#[tokio::test]
async fn the_tape_is_bounded_but_counts_everything() {
    let mut c = crate::util::config();
    c.tape_capacity = 5;
    c.faults = gauntlet_mock::engine::faults::spec::validate_all(
        &[RuleSpec {
            status: Some(500),
            ..rule("status")
        }],
        "faults",
    )
    .expect("valid");
    let twin = Twin::start(c).await;
    for _ in 0..12 {
        twin.api("GET", "/templates").send().await;
    }
    let tape = twin.control("GET", "/_gauntlet/tape").send().await.ok();
    assert_eq!(
        (tape["total"].as_u64(), tape["dropped"].as_u64()),
        (Some(12), Some(7))
    );
    assert_eq!(tape["entries"].as_array().map(Vec::len), Some(5));
}

#[tokio::test]
async fn a_lost_reply_only_spoils_a_reply_that_committed() {
    let twin = Twin::with_rules(vec![rule("lost_reply")]).await;
    let r = twin
        .api("POST", "/ebus/actions/batch")
        .json(&batch("big", 501))
        .send()
        .await;
    assert_eq!(
        r.envelope().0,
        400,
        "a refused request is answered as it is"
    );
    let r = twin.api("GET", "/objects/none").send().await;
    assert_eq!(r.envelope().0, 404);
}

/// Twin time now, in milliseconds.
async fn now_ms(twin: &Twin) -> u64 {
    twin.control("GET", "/_gauntlet/oracle").send().await.ok()["now_ms"]
        .as_u64()
        .expect("now_ms")
}

#[tokio::test]
async fn a_stall_holds_requests_until_its_window_closes() {
    // Twenty twin seconds per real one: the minute-long window lasts 3 s.
    let mut c = crate::util::config();
    c.time_scale = 20.0;
    c.faults = gauntlet_mock::engine::faults::spec::validate_all(
        &[RuleSpec {
            name: Some("frozen".into()),
            route: Some("GET /templates".into()),
            at: Some(Duration::from_secs(600)),
            for_: Some(Duration::from_secs(60)),
            ..rule("stall")
        }],
        "faults",
    )
    .expect("valid");
    let twin = Twin::start(c).await;
    let id = |r: &crate::util::Resp| r.header("x-request-id").unwrap_or_default().to_string();

    let before = twin.api("GET", "/templates").send().await;
    assert!(
        now_ms(&twin).await < 600_000,
        "answered before the window opened"
    );
    twin.advance("10m").await;
    let held = twin.api("GET", "/templates").send().await;
    let released = now_ms(&twin).await;
    let after = twin.api("GET", "/templates").send().await;
    for r in [&before, &held, &after] {
        r.ok();
    }
    assert!(
        released >= 660_000,
        "the request in the window was answered only once it closed at 660 s: {released} ms"
    );

    let tape = twin.control("GET", "/_gauntlet/tape").send().await.ok();
    let stalls: Vec<(&str, &str, &str)> = tape["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default();
            (s("request_id"), s("rule"), s("kind"))
        })
        .collect();
    assert_eq!(
        stalls,
        [(id(&held).as_str(), "frozen", "stall")],
        "only the request in the window was held: {tape}"
    );
    let at = tape["entries"][0]["at_ms"].as_f64().expect("at_ms");
    assert!(
        (600_000.0..660_000.0).contains(&at),
        "recorded when it arrived, inside the window: {at}"
    );
}
