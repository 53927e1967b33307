//! The relayer's outage modes, each as a client sees it: a real connection
//! refused on the dedicated listener, a hang, Biconomy's error shapes, a nonce
//! error that applied the commit, and bad requests.

use super::*;

/// Connect to `addr` until it refuses (`refused`) or accepts; false if it never did
/// within the bound.
async fn until_connect(addr: std::net::SocketAddr, refused: bool) -> bool {
    let deadline = tokio::time::Instant::now() + BOUND;
    while tokio::time::Instant::now() < deadline {
        let got = TcpStream::connect(addr).await;
        match got {
            Err(e) if refused && e.kind() == std::io::ErrorKind::ConnectionRefused => return true,
            Ok(_) if !refused => return true,
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    false
}

#[tokio::test]
async fn refuse_closes_the_relayers_listener_for_its_window_and_opens_it_again_after() {
    let refuse = RuleSpec {
        at: Some(Duration::from_secs(60)),
        for_: Some(Duration::from_secs(60)),
        ..relayer_rule("refuse")
    };
    let s = Setup::start(vec![refuse]).await;
    let ready = |t: &Twin, path: &str| t.req("GET", path).send();
    assert_eq!(ready(&s.relayer, "/ready").await.ok()["ready"], true);
    s.twin.advance("60s").await;
    assert!(
        until_connect(s.relayer.addr, true).await,
        "connection refused in the window"
    );
    // The shared port cannot stop listening: its /relayer prefix resets instead.
    assert!(matches!(
        s.twin.req("GET", "/relayer/ready").wire().await,
        Wire::Reset
    ));
    s.twin.advance("60s").await;
    assert!(
        until_connect(s.relayer.addr, false).await,
        "listening again after"
    );
    assert_eq!(ready(&s.relayer, "/ready").await.ok()["ready"], true);
    assert_eq!(ready(&s.twin, "/relayer/ready").await.ok()["ready"], true);
    let tape = s.twin.control("GET", "/_gauntlet/tape").send().await.ok();
    let methods: Vec<&str> = tape["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["kind"] == "relayer")
        .filter_map(|e| e["method"].as_str())
        .collect();
    assert_eq!(methods, ["LISTEN", "GET"], "{tape}");
    assert_eq!(s.boson_oracle().await["relayer"]["by_mode"]["refuse"], 2);
}

#[tokio::test]
async fn hang_holds_the_relay_until_its_window_ends_then_closes() {
    let hang = RuleSpec {
        for_: Some(Duration::from_secs(30)),
        ..relayer_rule("hang")
    };
    let s = Setup::start(vec![hang]).await;
    s.free_offer().await;
    let req = s
        .relayer
        .req("POST", RELAY)
        .header("x-api-key", "k")
        .json(&commit_body(&s.buyer(), NONCE));
    let held = tokio::spawn(req.wire());
    // Advance only once the relay is held (the tape says so), or it would come late.
    let deadline = tokio::time::Instant::now() + BOUND;
    loop {
        let tape = s.twin.control("GET", "/_gauntlet/tape").send().await.ok();
        let entries = tape["entries"].as_array().cloned().unwrap_or_default();
        if entries
            .iter()
            .any(|e| e["kind"] == "relayer" && e["method"] == "POST")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relay never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // /ready says the relayer is down meanwhile.
    assert_eq!(
        s.relayer.req("GET", "/ready").send().await.ok()["ready"],
        false
    );
    s.twin.advance("30s").await;
    assert!(matches!(held.await.expect("joined"), Wire::Closed));
    assert_eq!(s.boson_oracle().await["transitions"].get("Committed"), None);
}

/// One refusing mode: the rule's extra field, and the reply a client gets.
struct Case {
    mode: &'static str,
    edit: fn(&mut RuleSpec),
    status: u16,
    code: u64,
    retry_after: Option<&'static str>,
    says: &'static str,
}

#[rustfmt::skip]
fn refusing_modes() -> Vec<Case> {
    vec![
        Case { mode: "unavailable", edit: |r| r.retry_after = Some(5), status: 503, code: 503, retry_after: Some("5"), says: "Unavailable" },
        Case { mode: "rate_limited", edit: |r| r.retry_after = Some(3), status: 429, code: 429, retry_after: Some("3"), says: "Too many" },
        Case { mode: "limit_reached", edit: |_| {}, status: 409, code: 150, retry_after: None, says: "DApp limit reached" },
        Case { mode: "limit_reached", edit: |r| r.quota = Some("user".into()), status: 409, code: 151, retry_after: None, says: "User limit reached" },
        Case { mode: "limit_reached", edit: |r| r.quota = Some("api".into()), status: 409, code: 152, retry_after: None, says: "API limit reached" },
        Case { mode: "limit_reached", edit: |r| r.quota = Some("gas".into()), status: 409, code: 153, retry_after: None, says: "Gas limit reached" },
        Case { mode: "gas_estimation", edit: |_| {}, status: 417, code: 417, retry_after: None, says: "gas estimation" },
    ]
}

#[tokio::test]
async fn each_refusing_mode_answers_in_biconomys_shape() {
    for c in refusing_modes() {
        let mut rule = relayer_rule(c.mode);
        (c.edit)(&mut rule);
        let s = Setup::start(vec![rule]).await;
        s.free_offer().await;
        let r = s.relay(&commit_body(&s.buyer(), NONCE)).await;
        let v = r.json();
        assert_eq!(
            (r.status(), v["code"].as_u64()),
            (c.status, Some(c.code)),
            "{}: {v}",
            c.mode
        );
        assert_eq!(r.header("retry-after"), c.retry_after, "{}", c.mode);
        assert!(v.to_string().contains(c.says), "{}: {v}", c.mode);
        assert!(v.get("txHash").is_none(), "{}: nothing relayed", c.mode);
        if c.status == 417 {
            assert_eq!(v["flag"], 417);
        }
        let o = s.boson_oracle().await;
        assert_eq!(o["transitions"].get("Committed"), None, "{}", c.mode);
        assert_eq!(o["relayer"]["by_mode"][c.mode], 1, "{}", c.mode);
    }
}

#[tokio::test]
async fn nonce_error_applies_the_commit_but_answers_417_nonce_used_already() {
    let s = Setup::start(vec![relayer_rule("nonce_error")]).await;
    s.free_offer().await;
    let key = s.buyer();
    let r = s.relay(&commit_body(&key, NONCE)).await;
    assert_eq!(r.status(), 417);
    let v = r.json();
    assert_eq!(
        (v["code"].as_u64(), v["flag"].as_u64()),
        (Some(417), Some(417))
    );
    assert!(
        v["log"]
            .as_str()
            .is_some_and(|l| l.contains("NonceUsedAlready")),
        "{v}"
    );
    // The nonce is used on chain: the meta-transaction went through.
    let used = P::isUsedNonceCall {
        _associatedAddress: key.address(),
        _nonce: U256::from(NONCE),
    };
    let out = s
        .rpc(
            "eth_call",
            json!([{"to": DIAMOND, "data": Bytes::from(used.abi_encode())}, "latest"]),
        )
        .await;
    assert_eq!(out, format!("0x{:064x}", 1), "isUsedNonce");
    assert_eq!(s.boson_oracle().await["transitions"]["Committed"], 1);
}

#[tokio::test]
async fn bad_requests_get_biconomys_error_shape() {
    let s = Setup::start(Vec::new()).await;
    let key = s.buyer();
    let good = redeem_body(&key, 1, NONCE);
    let no_key = s.relayer.req("POST", RELAY).json(&good).send().await;
    assert_eq!(
        (no_key.status(), no_key.json()["code"].as_u64()),
        (401, Some(401))
    );
    for (field, value) in [
        ("to", json!("0x0000000000000000000000000000000000000001")),
        ("params", json!([])),
        ("from", json!(12)),
    ] {
        let mut b = good.clone();
        b[field] = value;
        let r = s.relay(&b).await;
        let v = r.json();
        assert_eq!(
            (r.status(), v["code"].as_u64()),
            (400, Some(400)),
            "{field}"
        );
        let message = v["message"].as_str().expect("message");
        assert!(
            message.starts_with(&format!("Invalid body - {field}:")),
            "{message}"
        );
    }
    // No exchange 1 yet: the relayer's estimate fails, nothing is sent.
    let r = s.relay(&good).await;
    assert_eq!(r.status(), 417);
    assert!(
        r.json()["log"]
            .as_str()
            .is_some_and(|l| l.contains("NoSuchExchange")),
        "{:?}",
        r.json()
    );
    let unknown = s.status(&format!("{:#x}", B256::repeat_byte(9))).await;
    assert_eq!(
        (unknown.status(), unknown.json()["code"].as_u64()),
        (404, Some(404))
    );
    let wrong = s.relayer.req("GET", RELAY).send().await;
    assert_eq!((wrong.status(), wrong.header("allow")), (405, Some("POST")));
    let o = s.boson_oracle().await;
    assert_eq!(o["relayer"]["estimation_refusals"], 1);
    assert_eq!(o["heads"]["latest"], 0, "nothing mined");
}
