//! The route table: path and method to a `Route`, its template, scope and limit group.

use http::Method;

use crate::error::ApiError;
use crate::ratelimit::Group;

/// A Dual endpoint the twin serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    Login,
    Refresh,
    /// `POST /ebus/actions` and `POST /ebus/execute`.
    Submit,
    Batch,
    Action(String),
    Templates,
    Objects,
    Object(String),
    Webhooks,
    Webhook(String),
    /// `GET /webhooks/{id}/events`: the delivery log.
    WebhookEvents(String),
    /// `POST /webhooks/{id}/test`: send a test event.
    WebhookTest(String),
    Batches,
    Checkpoints,
}

impl Route {
    /// Resolve a request, or 404 (unknown path) / 405 (known path, other method).
    pub fn resolve(method: &Method, path: &str) -> Result<Route, ApiError> {
        use Method as M;
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (route, allowed): (Route, &[Method]) = match segs.as_slice() {
            ["health"] => (Route::Health, &[M::GET]),
            ["wallets", "login"] => (Route::Login, &[M::POST]),
            ["wallets", "token", "refresh"] => (Route::Refresh, &[M::POST]),
            ["ebus", "actions"] | ["ebus", "execute"] => (Route::Submit, &[M::POST]),
            ["ebus", "actions", "batch"] => (Route::Batch, &[M::POST]),
            ["ebus", "actions", id] => (Route::Action(id.to_string()), &[M::GET]),
            ["templates"] => (Route::Templates, &[M::GET, M::POST]),
            ["objects"] => (Route::Objects, &[M::GET]),
            ["objects", id] => (Route::Object(id.to_string()), &[M::GET]),
            ["webhooks"] => (Route::Webhooks, &[M::GET, M::POST]),
            ["webhooks", id] => (
                Route::Webhook(id.to_string()),
                &[M::GET, M::PATCH, M::DELETE],
            ),
            ["webhooks", id, "events"] => (Route::WebhookEvents(id.to_string()), &[M::GET]),
            ["webhooks", id, "test"] => (Route::WebhookTest(id.to_string()), &[M::POST]),
            ["batches"] => (Route::Batches, &[M::GET]),
            ["checkpoints"] => (Route::Checkpoints, &[M::GET]),
            _ => return Err(ApiError::not_found(format!("route {method} {path}"))),
        };
        if !allowed.contains(method) {
            return Err(ApiError::method_not_allowed(method, path, allowed));
        }
        Ok(route)
    }

    /// The path template, for metrics labels and the oracle's operation keys.
    pub fn template(&self) -> &'static str {
        match self {
            Route::Health => "/health",
            Route::Login => "/wallets/login",
            Route::Refresh => "/wallets/token/refresh",
            Route::Submit => "/ebus/actions",
            Route::Batch => "/ebus/actions/batch",
            Route::Action(_) => "/ebus/actions/{id}",
            Route::Templates => "/templates",
            Route::Objects => "/objects",
            Route::Object(_) => "/objects/{id}",
            Route::Webhooks => "/webhooks",
            Route::Webhook(_) => "/webhooks/{id}",
            Route::WebhookEvents(_) => "/webhooks/{id}/events",
            Route::WebhookTest(_) => "/webhooks/{id}/test",
            Route::Batches => "/batches",
            Route::Checkpoints => "/checkpoints",
        }
    }

    /// Whether the route needs credentials at all.
    pub fn public(&self) -> bool {
        matches!(self, Route::Health | Route::Login | Route::Refresh)
    }

    /// The scope a caller needs.
    pub fn scope(&self, method: &Method) -> &'static str {
        match self {
            Route::Submit | Route::Batch => "actions:write",
            Route::Action(_) | Route::Batches | Route::Checkpoints => "actions:read",
            Route::Objects | Route::Object(_) => "objects:read",
            Route::Templates if method == Method::POST => "templates:write",
            Route::Templates => "templates:read",
            Route::Webhooks
            | Route::Webhook(_)
            | Route::WebhookEvents(_)
            | Route::WebhookTest(_) => "webhooks:manage",
            Route::Health | Route::Login | Route::Refresh => "",
        }
    }

    /// The rate-limit group, if the route is limited.
    pub fn group(&self, method: &Method) -> Option<Group> {
        match self {
            Route::Submit | Route::Batch => Some(Group::Ebus),
            Route::Webhooks
            | Route::Webhook(_)
            | Route::WebhookEvents(_)
            | Route::WebhookTest(_) => Some(Group::Webhooks),
            Route::Objects => Some(Group::Search),
            Route::Health | Route::Login | Route::Refresh => None,
            _ if method == Method::GET => Some(Group::Reads),
            _ => Some(Group::Writes),
        }
    }

    /// An event-bus submission: its body carries actions.
    pub fn submits(&self) -> bool {
        matches!(self, Route::Submit | Route::Batch)
    }
}
