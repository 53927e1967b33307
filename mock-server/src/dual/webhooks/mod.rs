//! Dual's webhooks: the event types they subscribe to, [`event`] (the effect
//! contract), and the engine's registry, delivery and signature
//! ([`crate::engine::webhooks`]) under Dual's header names.

pub mod event;

pub use crate::engine::webhooks::{
    CreateWebhook, Delivery, Dispatcher, Headers, PatchWebhook, Registry, Webhook, deliver,
    dispatch,
};

/// Event types a webhook may subscribe to (docs/design.md).
pub const EVENT_TYPES: [&str; 6] = [
    "object.created",
    "object.transferred",
    "object.updated",
    "action.executed",
    "action.failed",
    "webhook.failed",
];

/// The headers of Dual's deliveries.
pub const HEADERS: Headers = Headers {
    timestamp: "x-dual-timestamp",
    signature: "x-dual-signature",
    attempt: "x-dual-delivery",
};
