//! The registry of webhooks: create, list, patch, delete, and the delivery
//! bookkeeping (consecutive failures, deactivation). A platform's webhook routes
//! sit on it; each platform names the event types its webhooks may subscribe to.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::engine::error::ApiError;
use crate::engine::secret::SecretString;

#[derive(Debug, Clone)]
pub struct Webhook {
    pub id: String,
    pub org: String,
    pub url: String,
    pub events: Vec<String>,
    pub active: bool,
    /// The signing secret; returned only when the twin generated it, never listed.
    pub secret: SecretString,
    /// The secret before the last rotation (for the old-secret fault).
    pub previous_secret: Option<SecretString>,
    /// Failed deliveries since the last success; 5 deactivate the webhook.
    pub consecutive_failures: u32,
    pub created_at: String,
}

impl Webhook {
    fn view(&self) -> Value {
        json!({
            "id": self.id, "url": self.url, "events": self.events, "active": self.active,
            "consecutive_failures": self.consecutive_failures, "created_at": self.created_at,
        })
    }
}

#[derive(Debug, Deserialize)]
pub struct CreateWebhook {
    pub url: String,
    pub events: Vec<String>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub secret: Option<SecretString>,
}

#[derive(Debug, Deserialize)]
pub struct PatchWebhook {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub events: Option<Vec<String>>,
    #[serde(default)]
    pub active: Option<bool>,
    /// A new signing secret (the old one is kept as the previous secret).
    #[serde(default)]
    pub secret: Option<SecretString>,
}

fn check_url(url: &str) -> Result<(), ApiError> {
    let ok = ["http://", "https://"]
        .iter()
        .any(|p| url.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
        && url.parse::<http::Uri>().is_ok();
    if ok {
        Ok(())
    } else {
        Err(ApiError::field("url", "must be an absolute http(s) URL"))
    }
}

fn check_events(events: &[String], types: &[&str]) -> Result<(), ApiError> {
    if events.is_empty() {
        return Err(ApiError::field(
            "events",
            "subscribe to at least one event type",
        ));
    }
    match events.iter().position(|e| !types.contains(&e.as_str())) {
        Some(i) => Err(ApiError::field(
            format!("events[{i}]"),
            format!(
                "unknown event type `{}`; expected one of {}",
                events[i],
                types.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// Every registered webhook.
#[derive(Debug)]
pub struct Registry {
    next: u64,
    hooks: Vec<Webhook>,
    /// The event types a webhook may subscribe to.
    types: &'static [&'static str],
}

impl Registry {
    /// An empty registry whose webhooks subscribe to `types`.
    pub fn new(types: &'static [&'static str]) -> Self {
        Self {
            next: 0,
            hooks: Vec::new(),
            types,
        }
    }

    /// Forget every webhook.
    pub fn clear(&mut self) {
        self.next = 0;
        self.hooks.clear();
    }

    pub fn create(
        &mut self,
        org: &str,
        req: CreateWebhook,
        created_at: String,
    ) -> Result<Value, ApiError> {
        check_url(&req.url)?;
        check_events(&req.events, self.types)?;
        if req.secret.as_ref().is_some_and(|s| s.expose().len() < 16) {
            return Err(ApiError::field("secret", "must be at least 16 characters"));
        }
        self.next += 1;
        let generated = req.secret.is_none();
        let hook = Webhook {
            id: format!("wh_{}", self.next),
            org: org.to_string(),
            url: req.url,
            events: req.events,
            active: req.active.unwrap_or(true),
            secret: req
                .secret
                .unwrap_or_else(|| crate::engine::secret::random_secret("whsec_").into()),
            previous_secret: None,
            consecutive_failures: 0,
            created_at,
        };
        let mut view = hook.view();
        if generated {
            view["secret"] = json!(hook.secret.expose());
        }
        self.hooks.push(hook);
        Ok(view)
    }

    /// Active webhooks of `org` subscribed to `event_type`: (id, url).
    pub fn targets(&self, org: &str, event_type: &str) -> Vec<(String, String)> {
        self.hooks
            .iter()
            .filter(|h| h.org == org && h.active && h.events.iter().any(|e| e == event_type))
            .map(|h| (h.id.clone(), h.url.clone()))
            .collect()
    }

    /// Does `org` have an active webhook at all (events are built only then)?
    pub fn any_active(&self, org: &str) -> bool {
        self.hooks.iter().any(|h| h.org == org && h.active)
    }

    /// A webhook by id, whatever its org (the dispatcher's view).
    pub fn by_id(&self, id: &str) -> Option<&Webhook> {
        self.hooks.iter().find(|h| h.id == id)
    }

    /// A delivery succeeded.
    pub fn succeeded(&mut self, id: &str) {
        if let Some(h) = self.hooks.iter_mut().find(|h| h.id == id) {
            h.consecutive_failures = 0;
        }
    }

    /// A delivery failed; true if this failure deactivated the webhook.
    pub fn failed(&mut self, id: &str, deactivate_after: u32) -> bool {
        let Some(h) = self.hooks.iter_mut().find(|h| h.id == id && h.active) else {
            return false;
        };
        h.consecutive_failures += 1;
        if h.consecutive_failures >= deactivate_after {
            h.active = false;
            return true;
        }
        false
    }

    pub fn list(&self, org: &str) -> Vec<Value> {
        self.hooks
            .iter()
            .filter(|h| h.org == org)
            .map(Webhook::view)
            .collect()
    }

    fn find(&mut self, org: &str, id: &str) -> Result<&mut Webhook, ApiError> {
        self.hooks
            .iter_mut()
            .find(|h| h.org == org && h.id == id)
            .ok_or_else(|| ApiError::not_found(format!("webhook {id}")))
    }

    pub fn get(&mut self, org: &str, id: &str) -> Result<Value, ApiError> {
        self.find(org, id).map(|h| h.view())
    }

    pub fn patch(&mut self, org: &str, id: &str, req: PatchWebhook) -> Result<Value, ApiError> {
        if let Some(url) = &req.url {
            check_url(url)?;
        }
        if let Some(events) = &req.events {
            check_events(events, self.types)?;
        }
        if req.secret.as_ref().is_some_and(|s| s.expose().len() < 16) {
            return Err(ApiError::field("secret", "must be at least 16 characters"));
        }
        let hook = self.find(org, id)?;
        if let Some(secret) = req.secret {
            hook.previous_secret = Some(std::mem::replace(&mut hook.secret, secret));
        }
        if let Some(url) = req.url {
            hook.url = url;
        }
        if let Some(events) = req.events {
            hook.events = events;
        }
        if let Some(active) = req.active {
            if active && !hook.active {
                // Reactivation starts a new count.
                hook.consecutive_failures = 0;
            }
            hook.active = active;
        }
        Ok(hook.view())
    }

    pub fn delete(&mut self, org: &str, id: &str) -> Result<(), ApiError> {
        self.find(org, id)?;
        self.hooks.retain(|h| !(h.org == org && h.id == id));
        Ok(())
    }
}
