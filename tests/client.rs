//! The reference client against the twin over plain HTTP (no goose): partial
//! failures, final refusals, the attempt bound, and JWT refresh on 401.

use std::time::{Duration, Instant};

use gauntlet::client::transport::Http;
use gauntlet::client::{Batch, BatchOutcome, ClientConfig, Credentials, Jwt, submit_batch};
use gauntlet::measure::Recorder;
use gauntlet_mock::RuleSpec;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::util::{KEY, Twin, rule};

fn actions(tag: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({ "action_type": "Emit", "payload": { "nonce": format!("{tag}-{i}") } }))
        .collect()
}

fn fast() -> ClientConfig {
    ClientConfig {
        base: Duration::from_millis(10),
        cap: Duration::from_millis(50),
        max_attempts: 20,
        ..ClientConfig::default()
    }
}

async fn send(
    twin: &Twin,
    cfg: &ClientConfig,
    creds: &Credentials,
    acts: Vec<Value>,
    key: &str,
    rec: &Recorder,
) -> BatchOutcome {
    let mut t = Http {
        client: reqwest::Client::new(),
        base: format!("http://{}", twin.addr),
    };
    let batch = Batch {
        actions: acts,
        key_base: key,
        intended: Instant::now(),
        seed: 1,
    };
    submit_batch(&mut t, cfg, creds, batch, rec, &CancellationToken::new()).await
}

#[tokio::test]
async fn only_the_failed_actions_of_a_partial_failure_are_resubmitted() {
    let twin = Twin::with_rules(vec![RuleSpec {
        fraction: Some(0.3),
        limit: Some(3),
        ..rule("partial_batch")
    }])
    .await;
    let rec = Recorder::new();
    let out = send(
        &twin,
        &fast(),
        &Credentials::ApiKey(KEY.into()),
        actions("p", 40),
        "p",
        &rec,
    )
    .await;
    assert_eq!((out.accepted, out.rejected, out.gave_up), (40, 0, 0));
    assert!(out.attempts >= 2, "{out:?}");
    let a = &twin.oracle().await["actions"];
    assert_eq!(
        (a["exactly_once"].as_u64(), a["duplicated"].as_u64()),
        (Some(40), Some(0)),
        "{a}"
    );
    assert_eq!(rec.totals().1.accepted, 40);
}

#[tokio::test]
async fn a_final_refusal_is_not_retried() {
    let twin = Twin::start(crate::util::config()).await;
    let rec = Recorder::new();
    let bad = vec![
        json!({ "action_type": "Transfer", "object_id": "missing", "payload": { "to": "x" } }),
    ];
    let out = send(
        &twin,
        &fast(),
        &Credentials::ApiKey(KEY.into()),
        bad,
        "f",
        &rec,
    )
    .await;
    assert_eq!((out.rejected, out.attempts), (1, 1));
    let wrong = send(
        &twin,
        &fast(),
        &Credentials::ApiKey("sk_wrong_00000000".into()),
        actions("w", 2),
        "w",
        &rec,
    )
    .await;
    assert_eq!(
        (wrong.rejected, wrong.attempts),
        (2, 1),
        "401 on an API key is final"
    );
}

#[tokio::test]
async fn attempts_are_bounded_and_the_rest_given_up() {
    let twin = Twin::with_rules(vec![RuleSpec {
        status: Some(500),
        ..rule("status")
    }])
    .await;
    let rec = Recorder::new();
    let cfg = ClientConfig {
        max_attempts: 4,
        ..fast()
    };
    let out = send(
        &twin,
        &cfg,
        &Credentials::ApiKey(KEY.into()),
        actions("g", 5),
        "g",
        &rec,
    )
    .await;
    assert_eq!((out.attempts, out.gave_up, out.accepted), (4, 5, 0));
    assert_eq!(rec.totals().1.gave_up, 5);
    let a = &twin.oracle().await["actions"];
    assert_eq!(
        a["lost"].as_u64(),
        Some(5),
        "the twin sees them lost too: {a}"
    );
}

#[tokio::test]
async fn an_expired_jwt_is_refreshed_once_and_the_batch_goes_through() {
    let twin = Twin::start(crate::util::config()).await;
    let rec = Recorder::new();
    let creds = Credentials::Jwt(Jwt::new(gauntlet_mock::config::SANDBOX_EMAIL, KEY.into()));
    let first = send(&twin, &fast(), &creds, actions("j1", 3), "j1", &rec).await;
    assert_eq!(
        (first.accepted, first.attempts),
        (3, 1),
        "logged in, then sent"
    );
    twin.advance("16m").await;
    let second = send(&twin, &fast(), &creds, actions("j2", 3), "j2", &rec).await;
    assert_eq!(
        (second.accepted, second.attempts),
        (3, 2),
        "401, refresh, resend: {second:?}"
    );
    assert_eq!(rec.totals().1.outcomes.get("401"), Some(&1));
    let bad = Credentials::Jwt(Jwt::new("nobody@x.test", "wrong-password".into()));
    let out = send(&twin, &fast(), &bad, actions("j3", 1), "j3", &rec).await;
    assert_eq!(
        (out.rejected, out.accepted),
        (1, 0),
        "a login that fails ends in a final 401"
    );
}
