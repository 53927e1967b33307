//! API keys in both headers, JWT login/refresh/expiry, scopes, rotation grace, and
//! EIP-712 signatures on mutations (`[auth] require_eip712`).

use gauntlet_mock::config::ApiKeyConfig;
use gauntlet_mock::dual::eip712::{MISSING, RequestSigner};
use serde_json::json;

use crate::util::{KEY, Req, Twin, config};

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
        signer: None,
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
        signer: None,
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

/// The signing key the EIP-712 twin binds to the sandbox key, and another.
fn signers() -> (RequestSigner, RequestSigner) {
    let key = |b: &str| RequestSigner::from_hex(&b.repeat(32), 1).expect("a key");
    (key("a1"), key("b2"))
}

/// A twin that requires EIP-712 signatures, the sandbox key bound to `signers().0`.
async fn signing_twin() -> Twin {
    let mut c = config();
    c.auth.require_eip712 = true;
    c.auth.keys[0].signer = Some(signers().0.address());
    Twin::start(c).await
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

const PATH: &str = "/ebus/actions/batch";

/// `req` (a POST to [`PATH`]) with `body`, signed by `by` over `signed_body` at `at`.
fn signed(req: Req, body: &str, by: &RequestSigner, signed_body: &str, at: u64) -> Req {
    let mut req = req.header("content-type", "application/json").body(body);
    for (name, value) in by.headers("POST", PATH, signed_body.as_bytes(), at) {
        req = req.header(name, &value);
    }
    req
}

#[tokio::test]
async fn a_signed_mutation_is_applied_and_reads_need_no_signature() {
    let twin = signing_twin().await;
    let (key, _) = signers();
    let body = crate::util::batch("signed", 3).to_string();
    let r = signed(twin.api("POST", PATH), &body, &key, &body, unix_now())
        .send()
        .await
        .ok();
    assert_eq!(r["applied"].as_u64(), Some(3), "{r}");
    let a = &twin.oracle().await["actions"];
    assert_eq!(
        (a["exactly_once"].as_u64(), a["rejected"].as_u64()),
        (Some(3), Some(0)),
        "{a}"
    );
    // Reads, logging in and the control API ask for no signature.
    assert_eq!(twin.api("GET", "/templates").send().await.status(), 200);
    let login = json!({ "email": gauntlet_mock::config::SANDBOX_EMAIL, "password": KEY });
    twin.req("POST", "/wallets/login")
        .json(&login)
        .send()
        .await
        .ok();
    assert_eq!(
        twin.control("POST", "/_gauntlet/clock/advance")
            .json(&json!({ "by": "1s" }))
            .send()
            .await
            .status(),
        200
    );
}

/// Each way a signature can fail is a 401 naming it, and the actions the
/// (authorized) caller sent are counted `rejected` by the oracle, never lost.
#[tokio::test]
async fn each_bad_signature_is_refused_and_its_actions_counted_rejected() {
    let twin = signing_twin().await;
    let (key, other) = signers();
    let now = unix_now();
    let cases: [(&str, &str); 6] = [
        ("missing", MISSING),
        ("wrong_key", "bad EIP-712 signature"),
        ("signer_mismatch", "signer mismatch"),
        ("stale", "stale EIP-712 signature"),
        ("future", "stale EIP-712 signature"),
        ("tampered", "bad EIP-712 signature"),
    ];
    let mut wrong = Vec::new();
    for (i, (case, says)) in cases.iter().enumerate() {
        let body = crate::util::batch(case, 2).to_string();
        let req = twin.api("POST", PATH);
        let req = match *case {
            "missing" => req
                .header("content-type", "application/json")
                .body(body.clone()),
            // Signed by another key, but claiming the bound signer.
            "wrong_key" => {
                let mut r = req
                    .header("content-type", "application/json")
                    .body(body.clone());
                for (name, value) in other.headers("POST", PATH, body.as_bytes(), now) {
                    let claimed = key.address().to_string();
                    r = r.header(
                        name,
                        if name == "x-dual-signer" {
                            &claimed
                        } else {
                            &value
                        },
                    );
                }
                r
            }
            // Properly signed, by an address this key is not bound to.
            "signer_mismatch" => signed(req, &body, &other, &body, now),
            "stale" => signed(req, &body, &key, &body, now - 600),
            "future" => signed(req, &body, &key, &body, now + 600),
            // The body changed after signing.
            _ => signed(req, &body, &key, &body.replace(case, "other"), now),
        };
        let r = req.send().await;
        let message = r.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if r.status() != 401 || !message.starts_with(says) {
            wrong.push(format!("{case}: {} {message}", r.status()));
        }
        let a = &twin.oracle().await["actions"];
        let want = 2 * (i as u64 + 1);
        if a["rejected"].as_u64() != Some(want) || a["lost"].as_u64() != Some(0) {
            wrong.push(format!(
                "{case}: the oracle counts {a}, not {want} rejected"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(twin.oracle().await["actions"]["applies"].as_u64(), Some(0));
}

/// Every mutation needs the signature, not only the event bus; a GET never does.
#[tokio::test]
async fn every_mutation_route_needs_a_signature() {
    let twin = signing_twin().await;
    for (method, path) in [
        ("POST", "/ebus/actions"),
        ("POST", "/templates"),
        ("POST", "/webhooks"),
        ("PATCH", "/webhooks/wh_1"),
        ("DELETE", "/webhooks/wh_1"),
        ("POST", "/webhooks/wh_1/test"),
    ] {
        let r = twin.api(method, path).json(&json!({})).send().await;
        assert_eq!(
            r.envelope(),
            (401, Some("x-dual-eip712-signature".into())),
            "{method} {path}"
        );
        assert_eq!(r.json()["error"]["message"], MISSING);
    }
    for path in [
        "/webhooks",
        "/objects",
        "/batches",
        "/checkpoints",
        "/health",
    ] {
        assert_eq!(twin.api("GET", path).send().await.status(), 200, "{path}");
    }
}
