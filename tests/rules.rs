//! Fault rules that make no sense are refused, naming the field, the same way
//! through the control API (`rules[i].field`) and through a twin file
//! (`faults[i].field`, with its line).

use std::path::Path;

use gauntlet_mock::TwinConfig;
use serde_json::{Value, json};

use crate::util::{Twin, config};

/// A rule that is fine, put before each bad one so the index is checked too.
fn good() -> Value {
    json!({ "kind": "status", "status": 503, "route": "/ebus/*" })
}

/// One row per bad rule: the rule, and the field its error must name (after
/// `rules[1].` or `faults[1].`).
fn bad_rules() -> Vec<(Value, String)> {
    let rows: Vec<(Value, &str)> = vec![
        // Statuses: a fault's status is an error status.
        (json!({ "kind": "status", "status": 101 }), "status"),
        (json!({ "kind": "status", "status": 204 }), "status"),
        (json!({ "kind": "status", "status": 302 }), "status"),
        (json!({ "kind": "status", "status": 600 }), "status"),
        (
            json!({ "kind": "lost_reply", "reply": "status", "status": 200 }),
            "status",
        ),
        (json!({ "kind": "lost_reply", "status": 101 }), "status"),
        (
            json!({ "kind": "partial_batch", "fraction": 0.5, "codes": [503, 200] }),
            "codes[1]",
        ),
        (
            json!({ "kind": "partial_batch", "fraction": 0.5, "codes": [101] }),
            "codes[0]",
        ),
        // Headers: valid HTTP, and not framing or hop-by-hop.
        (
            json!({ "kind": "status", "status": 503, "headers": { "bad name": "x" } }),
            "headers.bad name",
        ),
        (
            json!({ "kind": "status", "status": 503, "headers": { "x-a": "line\nbreak" } }),
            "headers.x-a",
        ),
        (
            json!({ "kind": "status", "status": 503, "headers": { "X-A": "1", "x-a": "2" } }),
            "headers.x-a",
        ),
        // Routes: a standard method, a path from `/` without whitespace or query.
        (json!({ "kind": "reset", "route": "FOO /x y z" }), "route"),
        (json!({ "kind": "reset", "route": "FOO /x" }), "route"),
        (json!({ "kind": "reset", "route": "GET /x y" }), "route"),
        (
            json!({ "kind": "reset", "route": "GET ebus/actions" }),
            "route",
        ),
        (
            json!({ "kind": "reset", "route": "GET /objects?limit=1" }),
            "route",
        ),
        (json!({ "kind": "reset", "route": "" }), "route"),
        // Latency: shapes within sane bounds.
        (
            json!({ "kind": "latency", "dist": "lognormal", "median": "10ms", "sigma": 1e308 }),
            "sigma",
        ),
        (
            json!({ "kind": "latency", "dist": "lognormal", "median": "10ms", "sigma": 10.5 }),
            "sigma",
        ),
        (
            json!({ "kind": "latency", "dist": "lognormal", "median": "10ms", "sigma": 0.0 }),
            "sigma",
        ),
        (
            json!({ "kind": "latency", "dist": "lognormal", "median": "0s", "sigma": 0.5 }),
            "median",
        ),
        (
            json!({ "kind": "latency", "dist": "lognormal", "median": "1m", "sigma": 0.5, "max": "1s" }),
            "median",
        ),
        (
            json!({ "kind": "latency", "dist": "pareto", "scale": "1ms", "shape": 1e308 }),
            "shape",
        ),
        (
            json!({ "kind": "latency", "dist": "normal", "mean": "1h", "stddev": "1s" }),
            "mean",
        ),
        // Windows: never empty, and a period longer than its window.
        (json!({ "kind": "reset", "for": "0s" }), "for"),
        (json!({ "kind": "reset", "at": "10s", "for": "0s" }), "for"),
        (
            json!({ "kind": "reset", "every": "5s", "for": "0s" }),
            "for",
        ),
        (
            json!({ "kind": "reset", "every": "5s", "for": "5s" }),
            "every",
        ),
        // Stall: only in a window, and no longer than a hang may be.
        (json!({ "kind": "stall" }), "for"),
        (json!({ "kind": "stall", "at": "10s" }), "for"),
        (json!({ "kind": "stall", "at": "10s", "for": "1h" }), "for"),
        (
            json!({ "kind": "stall", "for": "1s", "delay": "1s" }),
            "delay",
        ),
    ];
    let mut rows: Vec<(Value, String)> =
        rows.into_iter().map(|(r, f)| (r, f.to_string())).collect();
    for name in [
        "content-length",
        "Transfer-Encoding",
        "connection",
        "HOST",
        "upgrade",
        "te",
        "trailer",
        "keep-alive",
    ] {
        // The error names the header as written: it points at what the user typed.
        rows.push((
            json!({ "kind": "status", "status": 503, "headers": { name: "1" } }),
            format!("headers.{name}"),
        ));
    }
    rows
}

#[tokio::test]
async fn bad_rules_are_refused_through_the_control_api() {
    let twin = Twin::start(config()).await;
    for (rule, field) in bad_rules() {
        let body = json!({ "rules": [good(), rule] });
        let r = twin
            .control("PUT", "/_gauntlet/rules")
            .json(&body)
            .send()
            .await;
        let want = format!("rules[1].{field}");
        assert_eq!(
            r.envelope(),
            (400, Some(want.clone())),
            "{body}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    assert_eq!(
        twin.control("GET", "/_gauntlet/rules").send().await.ok()["rules"],
        json!([]),
        "no bad PUT installed anything"
    );
}

/// A twin file holding the good rule and then `rule`.
fn twin_file(rule: &Value) -> String {
    let text = toml::to_string(&json!({ "faults": [good(), rule] })).expect("TOML");
    format!("seed = 1\n{text}")
}

fn load(text: &str) -> Result<TwinConfig, gauntlet_mock::ConfigError> {
    TwinConfig::from_toml(text, Path::new("twin.toml"), config(), |_| None)
}

#[test]
fn bad_rules_are_refused_in_a_twin_file() {
    for (rule, field) in bad_rules() {
        let text = twin_file(&rule);
        let err = load(&text).expect_err(&text);
        assert_eq!(err.key, format!("faults[1].{field}"), "{text}\n{err}");
        let second = text
            .lines()
            .enumerate()
            .filter(|(_, l)| *l == "[[faults]]")
            .nth(1)
            .map(|(i, _)| i + 1);
        assert_eq!(err.line, second, "the second rule's line:\n{text}");
    }
}

/// What only TOML can write: non-finite numbers.
#[test]
fn non_finite_numbers_in_a_twin_file_are_refused() {
    let cases = [
        (
            "kind = \"latency\"\ndist = \"lognormal\"\nmedian = \"5ms\"\nsigma = inf\n",
            "faults[0].sigma",
        ),
        (
            "kind = \"latency\"\ndist = \"lognormal\"\nmedian = \"5ms\"\nsigma = nan\n",
            "faults[0].sigma",
        ),
        (
            "kind = \"latency\"\ndist = \"pareto\"\nscale = \"5ms\"\nshape = -inf\n",
            "faults[0].shape",
        ),
        (
            "kind = \"reset\"\nprobability = nan\n",
            "faults[0].probability",
        ),
        (
            "kind = \"partial_batch\"\nfraction = inf\n",
            "faults[0].fraction",
        ),
    ];
    for (rule, key) in cases {
        let text = format!("[[faults]]\n{rule}");
        let err = load(&text).expect_err(&text);
        assert_eq!((err.key.as_str(), err.line), (key, Some(1)), "{err}");
    }
}

/// The example twin file's commented-out stall, uncommented, is a valid rule.
#[test]
fn the_example_stall_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/twin.toml");
    let text = std::fs::read_to_string(path).expect("scenarios/twin.toml");
    let start = text.find("# [[faults]]").expect("a commented-out rule");
    let rule: String = text[start..]
        .lines()
        .map_while(|l| l.strip_prefix("# "))
        .map(|l| format!("{l}\n"))
        .collect();
    let c = load(&format!("{text}\n{rule}")).unwrap_or_else(|e| panic!("{e}\n{rule}"));
    let last = c.faults.last().expect("a rule");
    assert_eq!((last.name.as_str(), last.kind.name()), ("frozen", "stall"));
}
