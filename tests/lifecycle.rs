//! The lifecycle walker (the building block of Boson load): each path of the
//! state machine walked on the twin, every transition timed in its three phases,
//! the twin's oracle agreeing with what the walker says it did; a revert counted
//! by name.

use std::time::Duration;

use alloy::primitives::U256;
use gauntlet::boson::lifecycle::{Path, Transitions, walk};
use gauntlet::boson::{Client, Rpc, StepError};
use gauntlet_mock::boson::config::DIAMOND;
use serde_json::json;

use crate::util::{self, Twin};

async fn twin() -> Twin {
    let mut c = util::config();
    c.boson.block_time = Duration::from_millis(200);
    Twin::start(c).await
}

fn client(twin: &Twin) -> Client {
    let base = format!("http://{}", twin.addr);
    Client {
        rpc: Rpc::new(&format!("{base}/rpc"), 50.0, Duration::from_secs(10)),
        subgraph: Some(format!("{base}{}", gauntlet_mock::boson::subgraph::PATH)),
        diamond: DIAMOND,
        chain_id: 31337,
        confirmations: 2,
        deadline: Duration::from_secs(20),
        poll: Duration::from_millis(50),
    }
}

#[tokio::test]
async fn every_path_is_walked_timed_and_seen_by_the_twin() {
    let twin = twin().await;
    let c = client(&twin);
    let boson = &twin.handle.as_ref().expect("owned").twin().boson;
    let (seller, price) = (&boson.accounts.seller.signer, boson.config.offer_price);
    let mut t = Transitions::default();
    let mut walked = Vec::new();
    for (i, path) in Path::ALL.into_iter().enumerate() {
        let buyer = &boson.accounts.buyers[i].signer;
        let w = walk(&c, buyer, seller, 1, price, path, &mut t)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", path.name()));
        walked.push((path, w));
    }
    let states: Vec<_> = walked.iter().map(|(_, w)| w.states.clone()).collect();
    assert_eq!(
        states,
        vec![
            vec!["Committed", "Redeemed", "Completed"],
            vec!["Committed", "Redeemed", "Disputed", "Retracted"],
            vec!["Committed", "Canceled"],
            vec!["Committed", "Revoked"],
        ]
    );
    // Every transition timed in its three phases, each phase no earlier than the one
    // before it.
    let committed = &t.by_state["Committed"];
    assert_eq!(committed.receipt.len(), 4);
    for (state, p) in &t.by_state {
        assert_eq!(p.receipt.len(), p.indexed.len(), "{state}");
        assert!(p.receipt.max() <= p.confirmed.max(), "{state}");
        assert!(p.confirmed.max() <= p.indexed.max(), "{state}");
    }
    // The twin applied exactly what the walker says.
    let oracle =
        twin.control("GET", "/_gauntlet/oracle").send().await.ok()["boson"]["transitions"].clone();
    for (state, p) in &t.by_state {
        assert_eq!(oracle[*state], json!(p.receipt.len()), "{state}: {oracle}");
    }
}

#[tokio::test]
async fn a_refused_transition_is_counted_by_its_revert_name() {
    let twin = twin().await;
    let c = client(&twin);
    let boson = &twin.handle.as_ref().expect("owned").twin().boson;
    let buyer = &boson.accounts.buyers[0].signer;
    let mut t = Transitions::default();
    // Paying less than the price: the commit is refused by name, nothing is sent.
    let r = walk(
        &c,
        buyer,
        &boson.accounts.seller.signer,
        1,
        U256::from(1u64),
        Path::Complete,
        &mut t,
    )
    .await;
    let Err(StepError::Reverted(name)) = r else {
        panic!("expected a revert: {r:?}");
    };
    assert_eq!(t.reverts.get(&name), Some(&1), "{t:?}");
    assert!(t.by_state.is_empty(), "nothing timed: {t:?}");
}
