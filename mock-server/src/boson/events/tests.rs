//! Chain events into the ledger: due after the confirmations, removed by a reorg,
//! orphans, reversals, premature effects, and the removal notice's delay.

use std::time::Duration;

use serde_json::json;

use super::{ChainEvents, EVENT_TYPES, EffectReport, ORG, effect_key};
use crate::boson::chain::{Fate, ReorgOrder};
use crate::boson::testkit::{Scripted, commit, rpc, twin};
use crate::boson::{Boson, ChainFaults, NoFaults};
use crate::engine::webhooks::CreateWebhook;

const TWO: Duration = Duration::from_secs(2);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Chain events with one webhook listening for everything (nothing answers it:
/// these tests read the ledger and the queue, not the deliveries).
fn listening(b: &Boson) -> ChainEvents {
    let events = ChainEvents::new(&b.config);
    let hook = CreateWebhook {
        url: "http://127.0.0.1:9/hook".into(),
        events: EVENT_TYPES.iter().map(|e| e.to_string()).collect(),
        active: None,
        secret: None,
    };
    events
        .hub
        .registry()
        .create(ORG, hook, "now".into())
        .expect("registered");
    events
}

/// Mine up to `at` under `faults` and hand the notices over; the head.
fn pump(b: &Boson, ev: &ChainEvents, at: Duration, faults: &dyn ChainFaults) -> u64 {
    let chain = b.chain_at(at, faults);
    ev.pump(&chain, at, 0.0);
    chain.head_number()
}

fn effect(key: &str, block: u64) -> EffectReport {
    EffectReport {
        effect_of: key.into(),
        block_number: Some(block),
        reverse: false,
    }
}

fn reverse(key: &str) -> EffectReport {
    EffectReport {
        effect_of: key.into(),
        block_number: None,
        reverse: true,
    }
}

#[test]
fn an_event_is_pending_until_it_has_its_confirmations() {
    let b = twin(TWO);
    let ev = listening(&b);
    rpc(
        &b,
        secs(0),
        "eth_sendRawTransaction",
        json!([commit(&b, 0, 0)]),
    )
    .expect("sent");
    let head = pump(&b, &ev, secs(2), &NoFaults);
    assert_eq!(head, 1);
    let c = ev.counts(head);
    assert_eq!((c.expected, c.pending, c.undelivered), (1, 1, 0));
    // Block 3 gives block 1 its third confirmation: the effect is due.
    let head = pump(&b, &ev, secs(6), &NoFaults);
    let c = ev.counts(head);
    assert_eq!((c.pending, c.undelivered), (0, 1), "{c:?}");
    ev.report(&effect(&effect_key(1, "Committed"), 1), head);
    let c = ev.counts(head);
    assert_eq!((c.exactly_once, c.unconfirmed), (1, 0), "{c:?}");
}

#[test]
fn an_effect_before_the_confirmations_is_premature() {
    let b = twin(TWO);
    let ev = listening(&b);
    rpc(
        &b,
        secs(0),
        "eth_sendRawTransaction",
        json!([commit(&b, 0, 0)]),
    )
    .expect("sent");
    let head = pump(&b, &ev, secs(2), &NoFaults);
    ev.report(&effect(&effect_key(1, "Committed"), 1), head);
    assert_eq!(ev.counts(head).unconfirmed, 1);
    // Without a block number the twin uses the event's own block.
    ev.report(
        &EffectReport {
            block_number: None,
            ..effect(&effect_key(1, "Committed"), 0)
        },
        head,
    );
    assert_eq!(ev.counts(head).unconfirmed, 2);
}

fn dropped_at_one(fate: Fate) -> Scripted {
    Scripted {
        reorg_at: Some((
            1,
            ReorgOrder {
                depth: 1,
                fate,
                seed: 3,
            },
        )),
        ..Scripted::default()
    }
}

#[test]
fn an_effect_on_a_dropped_event_is_an_orphan_until_reversed() {
    let b = twin(TWO);
    let ev = listening(&b);
    let faults = dropped_at_one(Fate::Drop);
    rpc(
        &b,
        secs(0),
        "eth_sendRawTransaction",
        json!([commit(&b, 0, 0)]),
    )
    .expect("sent");
    let head = pump(&b, &ev, secs(8), &faults);
    let key = effect_key(1, "Committed");
    // Mined, then removed: two deliveries queued, the second with removed: true.
    assert_eq!(ev.hub.dispatcher.waiting(), 2);
    let c = ev.counts(head);
    assert_eq!((c.removed, c.lost, c.undelivered), (1, 0, 0), "{c:?}");
    ev.report(&effect(&key, 1), head);
    assert_eq!(ev.counts(head).orphan, 1);
    ev.report(&reverse(&key), head);
    let c = ev.counts(head);
    assert_eq!((c.orphan, c.removed, c.reversed), (0, 1, 1), "{c:?}");
}

#[test]
fn a_remined_event_is_live_again_and_one_effect_is_exactly_once() {
    let b = twin(TWO);
    let ev = listening(&b);
    let faults = dropped_at_one(Fate::Remine);
    rpc(
        &b,
        secs(0),
        "eth_sendRawTransaction",
        json!([commit(&b, 0, 0)]),
    )
    .expect("sent");
    let head = pump(&b, &ev, secs(10), &faults);
    // Mined, removed, mined again.
    assert_eq!(ev.hub.dispatcher.waiting(), 3);
    let key = effect_key(1, "Committed");
    ev.report(&effect(&key, 1), head);
    let c = ev.counts(head);
    assert_eq!((c.exactly_once, c.orphan, c.removed), (1, 0, 0), "{c:?}");
    // A second effect for the same business key is a duplicate, and stays one
    // even once reversed.
    ev.report(&effect(&key, 1), head);
    ev.report(&reverse(&key), head);
    assert_eq!(ev.counts(head).duplicated, 1);
}

#[test]
fn removal_notices_wait_for_the_configured_delay() {
    let mut b = twin(TWO);
    b.config.removal_notice_delay = secs(10);
    let ev = listening(&b);
    let faults = dropped_at_one(Fate::Remine);
    rpc(
        &b,
        secs(0),
        "eth_sendRawTransaction",
        json!([commit(&b, 0, 0)]),
    )
    .expect("sent");
    pump(&b, &ev, secs(2), &faults);
    let (now, _) = ev.hub.dispatcher.due(secs(2));
    let removed: Vec<bool> = now
        .iter()
        .map(|d| d.event.payload["removed"] == true)
        .collect();
    assert_eq!(removed, vec![false, false], "the removal is not due yet");
    let (later, _) = ev.hub.dispatcher.due(secs(12));
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].event.payload["removed"], true);
    assert_eq!(later[0].event.event_type, "BuyerCommitted");
    assert_eq!(later[0].event.payload["effect_of"], "exchange:1:Committed");
}

#[test]
fn a_reversal_of_nothing_is_unexpected() {
    let b = twin(TWO);
    let ev = listening(&b);
    ev.report(&reverse(&effect_key(9, "Redeemed")), 0);
    assert_eq!(ev.counts(0).unexpected, 1);
}
