//! A webhook event as the twin records it before delivery, and its signature:
//! hex HMAC-SHA256 over `"<timestamp>.<raw body>"`, the scheme every platform's
//! deliveries use (only the header names differ, see [`super::Headers`]).

use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Sha256;

/// One event, as the twin records it before delivery.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub id: String,
    pub event_type: String,
    pub org: String,
    pub object_id: Option<String>,
    /// RFC 3339 time the event happened.
    pub timestamp: String,
    pub payload: Value,
    /// The business key of the effect it demands, if any.
    pub effect_key: Option<String>,
}

impl Event {
    /// The body as delivered (docs/design.md), or its flat variant (a fault).
    pub fn body(&self, flat: bool) -> Vec<u8> {
        let v = if flat {
            let mut m = self.payload.as_object().cloned().unwrap_or_default();
            m.insert("id".into(), json!(self.id));
            m.insert("event_type".into(), json!(self.event_type));
            m.insert("object_id".into(), json!(self.object_id));
            m.insert("timestamp".into(), json!(self.timestamp));
            Value::Object(m)
        } else {
            json!({
                "id": self.id,
                "event_type": self.event_type,
                "object_id": self.object_id,
                "timestamp": self.timestamp,
                "payload": self.payload,
            })
        };
        serde_json::to_vec(&v).unwrap_or_default()
    }
}

/// The signature header's value: hex HMAC-SHA256 over `"<timestamp>.<raw body>"`.
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The variant some integrations wrongly expect: HMAC over the raw body only.
pub fn sign_body_only(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_dot_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        let sig = sign(b"whsec_test", "1700000000", br#"{"a":1}"#);
        assert_eq!(
            sig,
            "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
        assert_ne!(sig, sign_body_only(b"whsec_test", br#"{"a":1}"#));
    }
}
