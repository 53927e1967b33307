//! The error envelope the twin answers in (the shape Dual documents),
//! `{"error":{code,message,details},"x_request_id"}`, and the flat
//! `{code,message,details}` variant some reference pages show (a fault).

use http::StatusCode;
use serde::Serialize;
use serde_json::json;

use super::reply::Reply;

/// One field-level reason in an error's `details`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detail {
    pub field: String,
    pub reason: String,
}

/// An API error as the twin answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub details: Vec<Detail>,
    /// Extra headers (`Retry-After`, `Allow`, `WWW-Authenticate`).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            details: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// A 400 naming the field.
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        let (field, reason) = (field.into(), reason.into());
        Self::new(
            StatusCode::BAD_REQUEST,
            format!("invalid request: {field}: {reason}"),
        )
        .detail(field, reason)
    }

    pub fn detail(mut self, field: impl Into<String>, reason: impl Into<String>) -> Self {
        self.details.push(Detail {
            field: field.into(),
            reason: reason.into(),
        });
        self
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message).header("www-authenticate", "Bearer")
    }

    pub fn forbidden(scope: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, format!("missing scope {scope}"))
            .detail("scope", format!("requires {scope}"))
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("{} not found", what.into()))
    }

    /// A 405 with the `Allow` header listing what the path takes.
    pub fn method_not_allowed(method: &http::Method, path: &str, allowed: &[http::Method]) -> Self {
        let allow = allowed
            .iter()
            .map(http::Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed on {path}; allowed: {allow}"),
        )
        .header("allow", allow)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// The body, in the envelope or (as a fault) flat.
    pub fn body(&self, request_id: &str, flat: bool) -> serde_json::Value {
        let inner = json!({
            "code": self.status.as_u16(),
            "message": self.message,
            "details": self.details,
        });
        if flat {
            inner
        } else {
            json!({ "error": inner, "x_request_id": request_id })
        }
    }
}

impl ApiError {
    /// The reply carrying this error, in the envelope or (`flat`, a fault) flat, with
    /// its extra headers.
    pub fn reply(self, request_id: &str, flat: bool) -> Reply {
        let mut r = Reply::json(self.status, &self.body(request_id, flat));
        for (name, value) in self.headers {
            r = r.header(name, value);
        }
        r
    }
}

/// Turn a serde_path_to_error failure into a 400 naming the field.
pub fn json_error(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = err.path().to_string();
    let inner = err.inner();
    let msg = inner.to_string();
    // serde reports a missing field at its parent: name the field itself.
    let missing = msg
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    let syntax = inner.is_syntax() || inner.is_eof();
    let field = match (missing, path.as_str()) {
        _ if syntax => "body".to_string(),
        (Some(f), ".") => f.to_string(),
        (Some(f), p) => format!("{p}.{f}"),
        (None, ".") => "body".to_string(),
        (None, p) => p.to_string(),
    };
    let reason = if syntax {
        format!(
            "malformed JSON at line {} column {}",
            inner.line(),
            inner.column()
        )
    } else {
        // Drop serde's " at line 1 column 42" suffix: the field says where.
        msg.split(" at line ").next().unwrap_or(&msg).to_string()
    };
    ApiError::field(field, reason)
}

/// Deserialize a JSON body, or a 400 that names the field.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::field("body", "a JSON body is required"));
    }
    // Fast path: most bodies are well formed. Only a failure is parsed again
    // with the path tracked, for the message that names the field.
    if let Ok(v) = T::deserialize(&mut serde_json::Deserializer::from_slice(body)) {
        return Ok(v);
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(json_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Batch {
        actions: Vec<Action>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Action {
        action_type: String,
        object_id: Option<String>,
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                &br#"{"actions":[{"action_type":"Emit"},{"object_id":"o"}]}"#[..],
                "actions[1].action_type",
            ),
            (
                br#"{"actions":[{"action_type":7}]}"#,
                "actions[0].action_type",
            ),
            (br#"{"actions":"#, "body"),
            (br#"{}"#, "actions"),
        ];
        for (body, field) in cases {
            let err = parse_json::<Batch>(body).expect_err(field);
            assert_eq!(err.details[0].field, field, "{err:?}");
            assert_eq!(err.status, StatusCode::BAD_REQUEST);
        }
    }
}
