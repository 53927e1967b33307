//! The route table: path and method to a `Route`, its template, scope and limit group.

use http::Method;
use percent_encoding::percent_decode_str;

use crate::dual::limits::Group;
use crate::engine::error::ApiError;

/// Longest object id, in characters after percent-decoding: room for any id a
/// client mints (a UUID is 36), short enough that logs and errors stay readable.
pub const MAX_OBJECT_ID: usize = 128;

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
    /// `GET /objects/{id}`, holding the id as it came in the path (percent-encoded).
    /// [`object_id`] decodes and checks it: 1 to [`MAX_OBJECT_ID`] characters of
    /// UTF-8 after percent-decoding, none of them a control character (no NUL, no
    /// newline). `/objects/` names the empty id (refused); the list is `/objects`.
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
        // A trailing slash is ignored, except that `/objects/` asks for the object
        // with the empty id rather than for the list.
        let segs: Vec<&str> = match path.trim_start_matches('/') {
            "objects/" => vec!["objects", ""],
            _ => path.trim_matches('/').split('/').collect(),
        };
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

    /// A mutation: a write (POST, PUT, PATCH, DELETE) to Dual's state by a caller,
    /// which must prove its intent when the twin requires EIP-712 signatures.
    /// Logging in and refreshing a token change no state of the platform's.
    pub fn mutates(&self, method: &Method) -> bool {
        !self.public()
            && matches!(
                *method,
                Method::POST | Method::PUT | Method::PATCH | Method::DELETE
            )
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

/// The id of `GET /objects/{id}` from its raw path segment: percent-decoded, then
/// checked against the syntax on [`Route::Object`]; a 400 naming `id` if it fails.
pub fn object_id(raw: &str) -> Result<String, ApiError> {
    let bad = |reason: String| ApiError::field("id", reason);
    // Each character is at most 4 bytes, each byte at most 3 encoded: anything
    // longer cannot decode to a valid id, so it is not decoded at all.
    if raw.len() > MAX_OBJECT_ID * 12 {
        return Err(bad(format!("at most {MAX_OBJECT_ID} characters")));
    }
    let id = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| bad("must be UTF-8 once percent-decoded".into()))?;
    let chars = id.chars().count();
    if chars == 0 {
        return Err(bad("must not be empty".into()));
    }
    if chars > MAX_OBJECT_ID {
        return Err(bad(format!(
            "at most {MAX_OBJECT_ID} characters, got {chars}"
        )));
    }
    if let Some(c) = id.chars().find(|c| c.is_control()) {
        return Err(bad(format!(
            "must be printable; holds the control character {}",
            c.escape_unicode()
        )));
    }
    Ok(id.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_are_decoded_and_checked() {
        let ok = [
            ("obj_1", "obj_1"),
            ("a%20b", "a b"),
            ("%E2%9C%93", "\u{2713}"),
            ("a+b", "a+b"),
            ("x%2Fy", "x/y"),
        ];
        for (raw, want) in ok {
            assert_eq!(object_id(raw).as_deref().ok(), Some(want), "{raw}");
        }
        let long = "x".repeat(MAX_OBJECT_ID + 1);
        let huge = "%41".repeat(100_000);
        for raw in ["", "%00", "a%0Ab", "%7F", "%C2%85", "%FF", &long, &huge] {
            let err = object_id(raw).expect_err(raw);
            assert_eq!(
                (err.status.as_u16(), err.details[0].field.as_str()),
                (400, "id"),
                "{raw}"
            );
        }
        assert!(
            object_id(&"\u{e9}".repeat(MAX_OBJECT_ID)).is_ok(),
            "characters, not bytes"
        );
    }

    #[test]
    fn a_trailing_slash_after_objects_is_the_empty_id() {
        let get = |p: &str| Route::resolve(&Method::GET, p).expect(p);
        assert_eq!(get("/objects"), Route::Objects);
        assert_eq!(get("/objects/"), Route::Object(String::new()));
        assert_eq!(get("/objects/o%201"), Route::Object("o%201".into()));
        assert_eq!(get("/templates/"), Route::Templates);
    }
}
