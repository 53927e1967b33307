//! Dual's webhook events and the effect contract (the event, its signature and its
//! delivery are the engine's, [`crate::engine::webhooks`]).
//!
//! **The effect contract.** Some events demand one business effect from the
//! receiver, keyed on the business, not on the delivery:
//!
//! | event | business key | the effect |
//! |---|---|---|
//! | `object.created` | `created:<object_id>` | one `Update` action on that object |
//! | `object.transferred` | `transferred:<object_id>:v<version>` | one `Update` action on that object |
//!
//! The effect is an action on the event bus whose payload carries
//! `"effect_of": "<business key>"` (e.g. `{"action_type":"Update","object_id":"o1",
//! "payload":{"properties":{"ack":true},"effect_of":"transferred:o1:v2"}}`). The twin
//! counts effects per key: none where one was due is lost, more than one is a
//! duplicate. Effects raise only `object.updated` and `action.*` events, which demand
//! nothing, so there is no feedback loop.

/// The payload field that marks an action as the effect of an event (the engine's
/// effects ledger owns the name; Dual's events and submit path use it).
pub use crate::engine::oracle::effects::EFFECT_FIELD;
pub use crate::engine::webhooks::event::{Event, sign, sign_body_only};

/// The business key an event of `event_type` demands an effect for.
pub fn effect_key(event_type: &str, object_id: &str, version: u64) -> Option<String> {
    match event_type {
        "object.created" => Some(format!("created:{object_id}")),
        "object.transferred" => Some(format!("transferred:{object_id}:v{version}")),
        _ => None,
    }
}
