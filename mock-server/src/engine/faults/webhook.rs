//! Webhook delivery faults: what the twin does to a delivery on a bad day.

use std::time::Duration;

use super::{Latency, RuleSpec};

/// How a duplicate is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DuplicateMode {
    /// Again, once the first delivery has been answered.
    Sequential,
    /// Twice at the same moment (catches check-then-insert dedupe).
    Concurrent,
    /// Again a second later, after the receiver acknowledged it.
    AfterAck,
}

/// What is wrong with a delivery's signature or timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureFault {
    /// Signed with a key that is not the webhook's.
    Bad,
    /// Signed with the webhook's secret from before its last rotation.
    OldSecret,
    /// Correctly signed, but the timestamp is ten minutes old.
    Stale,
    /// Correctly signed, but the timestamp is ten minutes ahead.
    Future,
    /// HMAC over the raw body only (the variant some docs show): not Dual's scheme.
    BodyOnly,
}

/// How far a stale or future timestamp is off: twice a 5-minute tolerance.
pub const TIMESTAMP_SKEW: Duration = Duration::from_secs(600);
/// How long a reordered delivery is held back by default.
pub const DEFAULT_REORDER_HOLD: Duration = Duration::from_secs(2);

/// A webhook fault.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookFault {
    Duplicate(DuplicateMode),
    /// Held back this long, so later events overtake it.
    Reorder(Duration),
    Delay(Latency),
    Signature(SignatureFault),
    /// The flat payload shape: fields at the top level, no `payload` object.
    FlatPayload,
}

impl WebhookFault {
    pub const NAMES: [&'static str; 9] = [
        "webhook_duplicate",
        "webhook_reorder",
        "webhook_delay",
        "webhook_bad_signature",
        "webhook_old_secret",
        "webhook_stale_timestamp",
        "webhook_future_timestamp",
        "webhook_body_signature",
        "webhook_flat_payload",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            WebhookFault::Duplicate(_) => "webhook_duplicate",
            WebhookFault::Reorder(_) => "webhook_reorder",
            WebhookFault::Delay(_) => "webhook_delay",
            WebhookFault::Signature(SignatureFault::Bad) => "webhook_bad_signature",
            WebhookFault::Signature(SignatureFault::OldSecret) => "webhook_old_secret",
            WebhookFault::Signature(SignatureFault::Stale) => "webhook_stale_timestamp",
            WebhookFault::Signature(SignatureFault::Future) => "webhook_future_timestamp",
            WebhookFault::Signature(SignatureFault::BodyOnly) => "webhook_body_signature",
            WebhookFault::FlatPayload => "webhook_flat_payload",
        }
    }

    /// The fields each webhook kind takes (besides the common ones and `event`).
    pub fn fields(kind: &str) -> &'static [&'static str] {
        match kind {
            "webhook_duplicate" => &["event", "mode"],
            "webhook_reorder" => &["event", "delay"],
            "webhook_delay" => &[
                "event", "dist", "delay", "min", "max", "mean", "stddev", "median", "sigma",
                "scale", "shape",
            ],
            _ => &["event"],
        }
    }

    pub(super) fn from_spec(s: &RuleSpec) -> Result<WebhookFault, (&'static str, String)> {
        Ok(match s.kind.as_str() {
            "webhook_duplicate" => {
                WebhookFault::Duplicate(match s.mode.as_deref().unwrap_or("sequential") {
                    "sequential" => DuplicateMode::Sequential,
                    "concurrent" => DuplicateMode::Concurrent,
                    "after_ack" => DuplicateMode::AfterAck,
                    other => {
                        return Err((
                            "mode",
                            format!("`{other}`: expected sequential, concurrent or after_ack"),
                        ));
                    }
                })
            }
            "webhook_reorder" => WebhookFault::Reorder(s.delay.unwrap_or(DEFAULT_REORDER_HOLD)),
            "webhook_delay" => WebhookFault::Delay(Latency::from_spec(s)?),
            "webhook_bad_signature" => WebhookFault::Signature(SignatureFault::Bad),
            "webhook_old_secret" => WebhookFault::Signature(SignatureFault::OldSecret),
            "webhook_stale_timestamp" => WebhookFault::Signature(SignatureFault::Stale),
            "webhook_future_timestamp" => WebhookFault::Signature(SignatureFault::Future),
            "webhook_body_signature" => WebhookFault::Signature(SignatureFault::BodyOnly),
            "webhook_flat_payload" => WebhookFault::FlatPayload,
            other => return Err(("kind", format!("unknown webhook kind `{other}`"))),
        })
    }
}

/// Does an event type match a rule's `event` pattern (`*`, `object.*`, exact)?
pub fn event_matches(pattern: Option<&str>, event_type: &str) -> bool {
    match pattern.unwrap_or("*") {
        "*" => true,
        p => match p.strip_suffix(".*") {
            Some(prefix) => event_type
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('.')),
            None => p == event_type,
        },
    }
}

/// What the engine decided for one delivery.
#[derive(Debug, Default, Clone)]
pub struct DeliveryDecision {
    pub duplicate: Option<DuplicateMode>,
    pub hold: Duration,
    pub signature: Option<SignatureFault>,
    pub flat: bool,
    pub kinds: Vec<&'static str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_patterns() {
        for (p, e, want) in [
            (None, "object.created", true),
            (Some("object.*"), "object.transferred", true),
            (Some("object.*"), "objects.x", false),
            (Some("action.failed"), "action.failed", true),
            (Some("action.failed"), "action.executed", false),
        ] {
            assert_eq!(event_matches(p, e), want, "{p:?} {e}");
        }
    }
}
