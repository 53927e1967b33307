//! Chain events as webhooks: the protocol's exchange and dispute events, read from
//! the chain's notice board as blocks are mined, delivered HMAC-signed through the
//! engine's webhook machinery (retries, faults, deactivation), and graded by an
//! effects ledger of their own.
//!
//! **The body** is the engine's envelope, `{id, event_type, object_id, timestamp,
//! payload}`, with `event_type` the event's name (`VoucherRedeemed`), `object_id`
//! the exchange id, and `payload` = `{txHash, logIndex, blockNumber, blockHash,
//! removed, exchangeId, state, effect_of, args, topics, data}` (`args`: the
//! event's other arguments, decoded). A reorg sends each event
//! it orphaned again with `removed: true` (after `removal_notice_delay`), then the
//! new chain's, which may carry the same protocol event under another log.
//!
//! **The effect contract.** One business effect per `(exchangeId, target state)`,
//! the key `exchange:<id>:<State>` (`effect_of`), once the event has
//! `confirmations` blocks (its own included). The receiver reports it with
//! `POST /_gauntlet/boson/effects {"effect_of", "block_number", "reverse"}`; a
//! `reverse: true` report is the compensating effect for an event a reorg removed.
//! The ledger counts lost, duplicated (a net above one at any time), orphans (a
//! net effect left on a removed event), and effects made before the event's
//! block had its confirmations.

use std::sync::Mutex;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::rpc::types::eth::Log;
use alloy::sol_types::SolEventInterface;
use serde::Deserialize;
use serde_json::{Value, json};

use super::abi::IBosonProtocol::IBosonProtocolEvents as E;
use super::chain::{Chain, Note};
use super::config::BosonConfig;
use crate::engine::error::ApiError;
use crate::engine::oracle::effects::{EffectCounts, Effects};
use crate::engine::webhooks::{Event, Headers, Hub};

/// The events a Boson webhook may subscribe to: every exchange and dispute
/// transition.
pub const EVENT_TYPES: [&str; 14] = [
    "BuyerCommitted",
    "VoucherRedeemed",
    "VoucherCanceled",
    "VoucherRevoked",
    "VoucherExpired",
    "ExchangeCompleted",
    "DisputeRaised",
    "DisputeRetracted",
    "DisputeResolved",
    "DisputeEscalated",
    "DisputeDecided",
    "DisputeExpired",
    "EscalatedDisputeExpired",
    "EscalatedDisputeRefused",
];

/// The headers of Boson chain-event deliveries.
pub const HEADERS: Headers = Headers {
    timestamp: "x-boson-timestamp",
    signature: "x-boson-signature",
    attempt: "x-boson-delivery",
};

/// The one organization Boson webhooks belong to.
pub const ORG: &str = "boson";

/// A transition event read from a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub name: &'static str,
    pub exchange_id: u64,
    /// The state the exchange (or its dispute) reached.
    pub state: &'static str,
}

/// The business key of a transition's effect.
pub fn effect_key(exchange_id: u64, state: &str) -> String {
    format!("exchange:{exchange_id}:{state}")
}

/// The transition a protocol log records, if it is one, and its decoded arguments
/// (ids as decimal strings, as the subgraph gives them).
pub fn transition(log: &alloy::primitives::Log) -> Option<(Transition, Value)> {
    let d = |v: U256| Value::String(v.to_string());
    let e = E::decode_log(log).ok()?.data;
    let (name, id, state, args) = match &e {
        E::BuyerCommitted(c) => (
            "BuyerCommitted",
            c.exchangeId,
            "Committed",
            json!({"offerId": d(c.offerId), "buyerId": d(c.buyerId), "executedBy": c.executedBy}),
        ),
        E::VoucherRedeemed(c) => voucher(
            "VoucherRedeemed",
            "Redeemed",
            c.offerId,
            c.exchangeId,
            c.executedBy,
        ),
        E::VoucherCanceled(c) => voucher(
            "VoucherCanceled",
            "Canceled",
            c.offerId,
            c.exchangeId,
            c.executedBy,
        ),
        E::VoucherRevoked(c) => voucher(
            "VoucherRevoked",
            "Revoked",
            c.offerId,
            c.exchangeId,
            c.executedBy,
        ),
        E::VoucherExpired(c) => voucher(
            "VoucherExpired",
            "Canceled",
            c.offerId,
            c.exchangeId,
            c.executedBy,
        ),
        E::ExchangeCompleted(c) => (
            "ExchangeCompleted",
            c.exchangeId,
            "Completed",
            json!({"offerId": d(c.offerId), "buyerId": d(c.buyerId), "executedBy": c.executedBy}),
        ),
        E::DisputeRaised(c) => (
            "DisputeRaised",
            c.exchangeId,
            "Disputed",
            json!({"buyerId": d(c.buyerId), "sellerId": d(c.sellerId), "executedBy": c.executedBy}),
        ),
        E::DisputeRetracted(c) => by("DisputeRetracted", "Retracted", c.exchangeId, c.executedBy),
        E::DisputeResolved(c) => (
            "DisputeResolved",
            c.exchangeId,
            "Resolved",
            json!({"buyerPercent": d(c._buyerPercent), "executedBy": c.executedBy}),
        ),
        E::DisputeEscalated(c) => (
            "DisputeEscalated",
            c.exchangeId,
            "Escalated",
            json!({"disputeResolverId": d(c.disputeResolverId), "executedBy": c.executedBy}),
        ),
        E::DisputeDecided(c) => (
            "DisputeDecided",
            c.exchangeId,
            "Decided",
            json!({"buyerPercent": d(c._buyerPercent), "executedBy": c.executedBy}),
        ),
        E::DisputeExpired(c) => by("DisputeExpired", "Retracted", c.exchangeId, c.executedBy),
        E::EscalatedDisputeExpired(c) => by(
            "EscalatedDisputeExpired",
            "Refused",
            c.exchangeId,
            c.executedBy,
        ),
        E::EscalatedDisputeRefused(c) => by(
            "EscalatedDisputeRefused",
            "Refused",
            c.exchangeId,
            c.executedBy,
        ),
        _ => return None,
    };
    let t = Transition {
        name,
        exchange_id: u64::try_from(id).unwrap_or(u64::MAX),
        state,
    };
    Some((t, args))
}

type Decoded = (&'static str, U256, &'static str, Value);

fn voucher(name: &'static str, state: &'static str, offer: U256, id: U256, by: Address) -> Decoded {
    (
        name,
        id,
        state,
        json!({"offerId": offer.to_string(), "executedBy": by}),
    )
}

fn by(name: &'static str, state: &'static str, id: U256, executed_by: Address) -> Decoded {
    (name, id, state, json!({"executedBy": executed_by}))
}

/// The body of `POST /_gauntlet/boson/effects`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EffectReport {
    /// The business key, `exchange:<id>:<State>`.
    pub effect_of: String,
    /// The block of the event acted on (else the event's block as the twin knows it).
    #[serde(default)]
    pub block_number: Option<u64>,
    /// A compensating effect: undo one done for an event a reorg removed.
    #[serde(default)]
    pub reverse: bool,
}

/// The chain-event webhooks: who listens, where the reading of the chain stands,
/// and the effects ledger.
#[derive(Debug)]
pub struct ChainEvents {
    pub hub: Hub,
    pub effects: Effects,
    /// The notice board's next notice to read.
    cursor: Mutex<u64>,
    pub confirmations: u64,
    removal_delay: Duration,
}

impl ChainEvents {
    pub fn new(config: &BosonConfig) -> Self {
        Self {
            hub: Hub::new(&EVENT_TYPES, HEADERS, "bev_"),
            effects: Effects::default(),
            cursor: Mutex::new(0),
            confirmations: config.confirmations,
            removal_delay: config.removal_notice_delay,
        }
    }

    /// Read what the chain noticed since last time: each transition log (mined or
    /// removed) goes into the ledger and out to the listening webhooks.
    pub fn pump(&self, chain: &Chain, now: Duration, unix: f64) {
        let mut cursor = self.cursor.lock().unwrap_or_else(|e| e.into_inner());
        let (notes, end) = chain.notes.since(*cursor);
        let diamond = chain.config.diamond;
        for note in notes {
            let Note::Log(log) = note else { continue };
            if log.inner.address != diamond {
                continue;
            }
            let Some((t, args)) = transition(&log.inner) else {
                continue;
            };
            self.notify(log, &t, args, now, unix);
        }
        *cursor = end;
    }

    fn notify(&self, log: &Log, t: &Transition, args: Value, now: Duration, unix: f64) {
        let key = effect_key(t.exchange_id, t.state);
        let height = log.block_number.unwrap_or(0);
        let event = Event {
            id: self.hub.next_event_id(),
            event_type: t.name.to_string(),
            org: ORG.to_string(),
            object_id: Some(t.exchange_id.to_string()),
            timestamp: crate::engine::clock::rfc3339(unix),
            payload: json!({
                "txHash": log.transaction_hash,
                "logIndex": log.log_index,
                "blockNumber": height,
                "blockHash": log.block_hash,
                "removed": log.removed,
                "exchangeId": t.exchange_id.to_string(),
                "state": t.state,
                "effect_of": key,
                "args": args,
                "topics": log.inner.data.topics(),
                "data": log.inner.data.data,
            }),
            effect_key: Some(key.clone()),
        };
        let due = if log.removed {
            now + self.removal_delay
        } else {
            now
        };
        // The ledger follows the chain before the notice goes out; an event nobody
        // listens for demands nothing.
        if log.removed {
            self.effects.removed(&key);
        }
        let targets = self.hub.targets(&event);
        if targets.is_empty() {
            return;
        }
        if !log.removed {
            self.effects.expect_at(&key, height);
        }
        self.hub.schedule(event, targets, now, due);
    }

    /// Take one effect report at chain head `head`.
    pub fn report(&self, r: &EffectReport, head: u64) -> Value {
        if r.reverse {
            self.effects.reverse(&r.effect_of);
        } else {
            let height = r.block_number.or_else(|| self.effects.height(&r.effect_of));
            if let Some(h) = height
                && head.saturating_add(1) < h.saturating_add(self.confirmations)
            {
                self.effects.premature();
            }
            self.effects.effect(&r.effect_of);
        }
        json!({ "recorded": r.effect_of, "reverse": r.reverse, "head": head })
    }

    /// The ledger's account at chain head `head` (events not yet confirmed are
    /// pending, not lost).
    pub fn counts(&self, head: u64) -> EffectCounts {
        let confirmed = (head + 1).checked_sub(self.confirmations.max(1));
        match confirmed {
            Some(c) => self.effects.counts_at(c),
            None => self.effects.counts_at(0),
        }
    }

    /// Forget the webhooks, the deliveries and the ledger; read from the start of
    /// a fresh chain.
    pub fn reset(&self) {
        self.hub.reset();
        self.effects.reset();
        *self.cursor.lock().unwrap_or_else(|e| e.into_inner()) = 0;
    }
}

/// Check an effect report's key names a transition (`exchange:<id>:<State>`).
pub fn check_key(key: &str) -> Result<(), ApiError> {
    let mut parts = key.split(':');
    let ok = parts.next() == Some("exchange")
        && parts
            .next()
            .and_then(|id| id.parse::<U256>().ok())
            .is_some()
        && parts.next().is_some_and(|s| !s.is_empty())
        && parts.next().is_none();
    if ok {
        Ok(())
    } else {
        Err(ApiError::field(
            "effect_of",
            format!("`{key}` is not a business key; expected exchange:<id>:<State>"),
        ))
    }
}

#[cfg(test)]
mod tests;
