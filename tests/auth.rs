//! API keys in both headers, JWT login/refresh/expiry, scopes, rotation grace.

use gauntlet_mock::config::ApiKeyConfig;
use serde_json::json;

use crate::util::{KEY, Twin, config};

#[tokio::test]
async fn an_api_key_works_in_either_header() {
    let twin = Twin::start(config()).await;
    assert_eq!(
        twin.req("GET", "/templates")
            .header("x-api-key", KEY)
            .send()
            .await
            .status(),
        200
    );
    assert_eq!(
        twin.req("GET", "/templates")
            .header("authorization", &format!("Bearer {KEY}"))
            .send()
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn missing_or_invalid_credentials_are_401() {
    let twin = Twin::start(config()).await;
    for req in [
        twin.req("GET", "/templates"),
        twin.req("GET", "/templates")
            .header("x-api-key", "sk_wrong_key_000000"),
        twin.req("GET", "/templates")
            .header("authorization", "Bearer a.b.c"),
    ] {
        let r = req.send().await;
        assert_eq!(r.envelope().0, 401, "{r:?}");
    }
}

#[tokio::test]
async fn a_jwt_from_login_works_until_it_expires_and_refresh_renews_it() {
    let twin = Twin::start(config()).await;
    let login = json!({ "email": gauntlet_mock::config::SANDBOX_EMAIL, "password": KEY });
    let t = twin
        .req("POST", "/wallets/login")
        .json(&login)
        .send()
        .await
        .ok();
    let (access, refresh) = (
        t["access_token"].as_str().expect("jwt"),
        t["refresh_token"].as_str().expect("refresh"),
    );
    assert_eq!(t["expires_in"].as_u64(), Some(900));
    let bearer = |tok: &str| {
        twin.req("GET", "/templates")
            .header("authorization", &format!("Bearer {tok}"))
    };
    assert_eq!(bearer(access).send().await.status(), 200);
    twin.advance("16m").await;
    let expired = bearer(access).send().await;
    assert_eq!(expired.envelope().0, 401);
    let renewed = twin
        .req("POST", "/wallets/token/refresh")
        .json(&json!({ "refresh_token": refresh }))
        .send()
        .await
        .ok();
    assert_eq!(
        bearer(renewed["access_token"].as_str().expect("jwt"))
            .send()
            .await
            .status(),
        200
    );
    let reused = twin
        .req("POST", "/wallets/token/refresh")
        .json(&json!({ "refresh_token": refresh }))
        .send()
        .await;
    assert_eq!(reused.envelope().0, 401, "a refresh token is single-use");
    let wrong = twin
        .req("POST", "/wallets/login")
        .json(&json!({ "email": "x@y.z", "password": "nope" }))
        .send()
        .await;
    assert_eq!(wrong.envelope().0, 401);
}

#[tokio::test]
async fn a_missing_scope_is_403() {
    let mut c = config();
    c.auth.keys.push(ApiKeyConfig {
        key: "sk_readonly_0000000000".into(),
        org: "org_ro".into(),
        scopes: vec!["actions:read".into()],
    });
    let twin = Twin::start(c).await;
    let ro = |m: &str, p: &str| twin.req(m, p).header("x-api-key", "sk_readonly_0000000000");
    let r = ro("POST", "/ebus/actions/batch")
        .json(&crate::util::batch("ro", 1))
        .send()
        .await;
    assert_eq!(r.envelope(), (403, Some("scope".into())));
    assert_eq!(ro("GET", "/webhooks").send().await.status(), 403);
    assert_eq!(ro("GET", "/checkpoints").send().await.status(), 200);
}

#[tokio::test]
async fn a_rotated_key_works_for_the_grace_period_only() {
    let twin = Twin::start(config()).await;
    let rotated = twin
        .control("POST", "/_gauntlet/keys/rotate")
        .send()
        .await
        .ok();
    let new_key = rotated["api_key"].as_str().expect("new key").to_string();
    assert_eq!(rotated["grace_s"].as_u64(), Some(300));
    assert_eq!(
        twin.api("GET", "/templates").send().await.status(),
        200,
        "old key in grace"
    );
    twin.advance("4m").await;
    assert_eq!(
        twin.api("GET", "/templates").send().await.status(),
        200,
        "old key still in grace"
    );
    twin.advance("61s").await;
    assert_eq!(
        twin.api("GET", "/templates").send().await.envelope().0,
        401,
        "grace over"
    );
    assert_eq!(
        twin.req("GET", "/templates")
            .header("x-api-key", &new_key)
            .send()
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn secrets_stay_out_of_debug_output() {
    let mut c = config();
    c.auth.keys.push(ApiKeyConfig {
        key: "sk_other_secret_998877".into(),
        org: "o".into(),
        scopes: vec![],
    });
    let twin = Twin::start(c).await;
    let created = twin.api("POST", "/webhooks").json(&json!({ "url": "http://127.0.0.1:9/h", "events": ["object.created"], "secret": "whsec_given_secret_5566" })).send().await;
    assert_eq!(created.status(), 201);
    let handle = twin.handle.as_ref().expect("running");
    let text = format!(
        "{handle:?} {:?} {:?}",
        handle.twin().config,
        handle.twin().dual.webhooks()
    );
    for secret in [
        KEY,
        crate::util::TOKEN,
        "sk_other_secret_998877",
        "whsec_given_secret_5566",
    ] {
        assert!(!text.contains(secret), "{secret} leaked into Debug output");
    }
    assert!(
        text.contains("…cdef"),
        "redacted to the last four characters"
    );
}
