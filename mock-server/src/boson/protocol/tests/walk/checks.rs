//! The walk's invariants, each a check on one step (the state before and after
//! it, and what it did), each proven able to fail.

use std::collections::BTreeSet;

use alloy::primitives::{Address, U256};

use super::super::{
    DisputeState as D, ExchangeState as X, NATIVE, Outcome, PRICE, Protocol, SELLER_FUNDS, status,
};
use super::Books;
use crate::boson::protocol::funds::Release;

fn sum(amounts: impl Iterator<Item = U256>) -> U256 {
    amounts.fold(U256::ZERO, |a, b| a + b)
}

/// (a) Available funds plus what live exchanges hold is what came in less what
/// went out.
pub(super) fn conserved(p: &Protocol, books: &Books) -> Result<(), String> {
    let available = sum(p.funds.values().copied());
    let held = sum(p
        .exchanges
        .values()
        .filter(|x| !x.is_final())
        .map(|x| x.held()));
    let want = books.came_in - books.went_out;
    if available + held == want {
        Ok(())
    } else {
        Err(format!(
            "available {available} + held {held} != in − out {want}"
        ))
    }
}

/// (b) Each release pays out what its exchange held, and exactly the exchanges
/// that became final in this call are released, once.
pub(super) fn releases_pay_what_was_held(
    before: &Protocol,
    after: &Protocol,
    out: &Outcome,
) -> Result<(), String> {
    for r in &out.releases {
        if r.paid_out != r.held {
            return Err(format!(
                "exchange {} held {} paid out {}",
                r.exchange, r.held, r.paid_out
            ));
        }
    }
    let released: Vec<u64> = out.releases.iter().map(|r| r.exchange).collect();
    let unique: BTreeSet<u64> = released.iter().copied().collect();
    if unique.len() != released.len() {
        return Err(format!("released twice in one call: {released:?}"));
    }
    let finalized: BTreeSet<u64> = after
        .exchanges
        .iter()
        .filter(|(id, x)| x.is_final() && !before.exchanges.get(*id).is_some_and(|b| b.is_final()))
        .map(|(id, _)| *id)
        .collect();
    if finalized != unique {
        return Err(format!(
            "became final {finalized:?} but released {unique:?}"
        ));
    }
    Ok(())
}

/// (c) An exchange in a final state never changes again.
pub(super) fn finals_stay_final(before: &Protocol, after: &Protocol) -> Result<(), String> {
    for (id, x) in before.exchanges.iter().filter(|(_, x)| x.is_final()) {
        if after.exchanges.get(id) != Some(x) {
            return Err(format!(
                "final exchange {id} changed: {:?}",
                after.exchanges.get(id)
            ));
        }
    }
    Ok(())
}

pub(super) type Status = (X, Option<D>);

/// The state machine's edges (DOMAIN.md's table; an extension keeps the status).
/// Expiries land on the same statuses as retract and refuse.
const EDGES: [(Status, Status); 12] = [
    ((X::Committed, None), (X::Redeemed, None)),
    ((X::Committed, None), (X::Canceled, None)),
    ((X::Committed, None), (X::Revoked, None)),
    ((X::Redeemed, None), (X::Completed, None)),
    ((X::Redeemed, None), (X::Disputed, Some(D::Resolving))),
    (
        (X::Disputed, Some(D::Resolving)),
        (X::Disputed, Some(D::Retracted)),
    ),
    (
        (X::Disputed, Some(D::Resolving)),
        (X::Disputed, Some(D::Resolved)),
    ),
    (
        (X::Disputed, Some(D::Resolving)),
        (X::Disputed, Some(D::Escalated)),
    ),
    (
        (X::Disputed, Some(D::Escalated)),
        (X::Disputed, Some(D::Retracted)),
    ),
    (
        (X::Disputed, Some(D::Escalated)),
        (X::Disputed, Some(D::Resolved)),
    ),
    (
        (X::Disputed, Some(D::Escalated)),
        (X::Disputed, Some(D::Decided)),
    ),
    (
        (X::Disputed, Some(D::Escalated)),
        (X::Disputed, Some(D::Refused)),
    ),
];

/// Every status change is an edge; new exchanges start committed; none vanish.
pub(super) fn moves_are_edges(before: &Protocol, after: &Protocol) -> Result<(), String> {
    for id in before.exchanges.keys() {
        if !after.exchanges.contains_key(id) {
            return Err(format!("exchange {id} vanished"));
        }
    }
    for (id, x) in after.exchanges.iter() {
        let to = status(x);
        match before.exchanges.get(id) {
            None if to != (X::Committed, None) => {
                return Err(format!("exchange {id} was born {to:?}"));
            }
            Some(b) if status(b) != to && !EDGES.contains(&(status(b), to)) => {
                return Err(format!("exchange {id} moved {:?} -> {to:?}", status(b)));
            }
            _ => {}
        }
    }
    Ok(())
}

/// (d) A refused call left the protocol as it was.
pub(super) fn unchanged(before: &Protocol, after: &Protocol) -> Result<(), String> {
    let same = [
        (
            "ids",
            (before.next_entity, before.next_offer, before.next_exchange)
                == (after.next_entity, after.next_offer, after.next_exchange),
        ),
        ("sellers", before.sellers == after.sellers),
        (
            "buyers",
            before.buyers == after.buyers && before.buyer_by_wallet == after.buyer_by_wallet,
        ),
        ("resolvers", before.resolvers == after.resolvers),
        ("offers", before.offers == after.offers),
        ("exchanges", before.exchanges == after.exchanges),
        ("funds", before.funds == after.funds),
        ("nonces", before.used_nonces == after.used_nonces),
    ];
    match same.iter().find(|(_, same)| !same) {
        Some((what, _)) => Err(format!("{what} changed")),
        None => Ok(()),
    }
}

/// Each check of the walk fails when its invariant is broken.
#[test]
fn each_walk_check_can_fail() {
    let (w, id, _) = super::super::at(super::super::Stage::Completed);
    let books = Books {
        came_in: U256::from(SELLER_FUNDS + PRICE),
        went_out: U256::ZERO,
    };
    assert_eq!(conserved(&w.p, &books), Ok(()));
    let mut leaky = w.p.clone();
    leaky.credit(w.seller_id, NATIVE, U256::from(1));
    assert!(conserved(&leaky, &books).is_err(), "a wei from nowhere");

    let short = Outcome {
        releases: vec![Release {
            exchange: id,
            held: U256::from(10),
            paid_out: U256::from(9),
        }],
        ..Outcome::default()
    };
    assert!(
        releases_pay_what_was_held(&w.p, &w.p, &short).is_err(),
        "a short payout"
    );
    let (committed, cid, _) = super::super::at(super::super::Stage::Committed);
    assert!(
        releases_pay_what_was_held(&committed.p, &w.p, &Outcome::default()).is_err(),
        "finality without a release"
    );
    assert_eq!(cid, id);

    let mut revived = w.p.clone();
    let mut x = w.exchange(id).clone();
    x.state = X::Committed;
    revived.exchanges.insert(id, x.clone());
    assert!(
        finals_stay_final(&w.p, &revived).is_err(),
        "a final exchange revived"
    );

    x.state = X::Completed;
    let mut skipped = committed.p.clone();
    skipped.exchanges.insert(id, x);
    assert!(
        moves_are_edges(&committed.p, &skipped).is_err(),
        "committed straight to completed"
    );

    let mut touched = w.p.clone();
    touched.used_nonces.insert((Address::ZERO, U256::from(1)));
    assert!(
        unchanged(&w.p, &touched).is_err(),
        "a nonce spent by a refused call"
    );
}
