//! What a handler answers (`Reply`) and the response body type, which can also be
//! cut off mid-way (the truncated-reply fault).

use std::borrow::Cow;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use serde::Serialize;

/// A response body: whole, or (as a fault) part of it and then a broken connection.
#[derive(Debug)]
pub enum TwinBody {
    Full(Option<Bytes>),
    /// The part to send; then one `Pending` (so hyper flushes it); then an error.
    Truncated {
        part: Option<Bytes>,
        flushed: bool,
    },
}

impl TwinBody {
    pub fn full(b: impl Into<Bytes>) -> Self {
        TwinBody::Full(Some(b.into()))
    }
}

impl Body for TwinBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            TwinBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            TwinBody::Truncated { part, flushed } => {
                if let Some(b) = part.take() {
                    return Poll::Ready(Some(Ok(Frame::data(b))));
                }
                if !*flushed {
                    // Hyper flushes what it holds when the body is not ready.
                    *flushed = true;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Ready(Some(Err(std::io::Error::other("reply truncated by fault"))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, TwinBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            TwinBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            TwinBody::Full(None) => SizeHint::with_exact(0),
            TwinBody::Truncated { .. } => SizeHint::default(),
        }
    }
}

/// A handler's answer before the twin adds its common headers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
    pub headers: Vec<(Cow<'static, str>, String)>,
    /// Send the headers and half the body, then break the connection.
    pub truncate: bool,
}

impl Reply {
    pub fn json(status: StatusCode, value: &impl Serialize) -> Self {
        // Most replies are small: one allocation rather than a vector that grows.
        let mut body = Vec::with_capacity(256);
        if serde_json::to_writer(&mut body, value).is_err() {
            body.clear();
        }
        Self::bytes(status, body.into())
    }

    pub fn bytes(status: StatusCode, body: Bytes) -> Self {
        Self::text_bytes(status, "application/json", body)
    }

    pub fn text(status: StatusCode, content_type: &str, body: String) -> Self {
        Self::text_bytes(status, content_type, body.into())
    }

    fn text_bytes(status: StatusCode, content_type: &str, body: Bytes) -> Self {
        // Room for the headers every reply gets on its way out (the request id
        // and, on the event bus, three rate-limit headers).
        let mut headers = Vec::with_capacity(REPLY_HEADERS);
        headers.push(("content-type".into(), content_type.into()));
        Self {
            status,
            body,
            headers,
            truncate: false,
        }
    }

    pub fn header(mut self, name: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.into()));
        self
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.headers.iter().any(|(n, _)| n == name)
    }

    /// The same status and headers, with a body that is not valid JSON.
    pub fn malformed(mut self) -> Self {
        let half = self.body.len() / 2;
        let mut body = self.body.slice(..half).to_vec();
        body.extend_from_slice(b"\x00<!-- upstream error -->");
        self.body = body.into();
        self
    }

    /// Advised wait in seconds (`Retry-After`), if the reply gave one.
    pub fn retry_after(&self) -> Option<u64> {
        self.headers
            .iter()
            .find(|(n, _)| n == "retry-after")
            .and_then(|(_, v)| v.parse().ok())
    }
}

impl Reply {
    /// The hyper response: the whole body, or (truncated) half of it with the full
    /// length announced.
    ///
    /// The header map is filled directly: the twin's own header names are
    /// constants and each value's text is moved in, not parsed and copied again.
    /// A header that is not valid HTTP (only a fault's configured headers could
    /// be) is left out with a warning rather than spoiling the reply.
    pub fn into_response(self) -> Response<TwinBody> {
        let Reply {
            status,
            body,
            headers,
            truncate,
        } = self;
        let mut map = HeaderMap::with_capacity(headers.len() + 1);
        for (name, value) in headers {
            let Some(name) = header_name(&name) else {
                tracing::warn!(header = %name, "reply header name is not valid HTTP; left out");
                continue;
            };
            match HeaderValue::try_from(value) {
                Ok(value) => {
                    map.append(name, value);
                }
                Err(_) => {
                    tracing::warn!(header = %name, "reply header value is not valid HTTP; left out")
                }
            }
        }
        let body = if truncate {
            let half = body.len() / 2;
            map.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
            TwinBody::Truncated {
                part: Some(body.slice(..half)),
                flushed: false,
            }
        } else {
            TwinBody::full(body)
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = map;
        response
    }
}

/// Headers a reply usually carries: its content type, the request id and the
/// three rate-limit headers.
const REPLY_HEADERS: usize = 5;

/// The header name for a reply header: the twin's own names are constants (no
/// parsing per reply), any other is parsed; `None` if it is not a valid name.
fn header_name(name: &str) -> Option<HeaderName> {
    const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
    const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
    const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
    const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
    Some(match name {
        "content-type" => http::header::CONTENT_TYPE,
        "x-request-id" => X_REQUEST_ID,
        "x-ratelimit-limit" => X_RATELIMIT_LIMIT,
        "x-ratelimit-remaining" => X_RATELIMIT_REMAINING,
        "x-ratelimit-reset" => X_RATELIMIT_RESET,
        "retry-after" => http::header::RETRY_AFTER,
        other => return HeaderName::from_bytes(other.as_bytes()).ok(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_carries_the_status_headers_and_body_of_its_reply() {
        let reply = Reply::json(StatusCode::TOO_MANY_REQUESTS, &serde_json::json!({"a": 1}))
            .header("x-request-id", "req_1")
            .header("x-ratelimit-remaining", "0")
            .header("X-Custom", "yes");
        let r = reply.into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        let h = r.headers();
        assert_eq!(
            h.get("content-type").map(|v| v.as_bytes()),
            Some(&b"application/json"[..])
        );
        assert_eq!(
            h.get("x-request-id").map(|v| v.as_bytes()),
            Some(&b"req_1"[..])
        );
        assert_eq!(
            h.get("x-ratelimit-remaining").map(|v| v.as_bytes()),
            Some(&b"0"[..])
        );
        assert_eq!(h.get("x-custom").map(|v| v.as_bytes()), Some(&b"yes"[..]));
        assert_eq!(h.len(), 4);
        match r.into_body() {
            TwinBody::Full(Some(b)) => assert_eq!(&b[..], br#"{"a":1}"#),
            other => panic!("whole body expected, got {other:?}"),
        }
    }

    #[test]
    fn a_header_that_is_not_valid_http_is_left_out_and_the_rest_go_out() {
        let reply = Reply::bytes(StatusCode::OK, Bytes::from_static(b"{}"))
            .header("bad name", "v")
            .header("x-fine", "line\nbreak")
            .header("x-request-id", "req_2");
        let r = reply.into_response();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers().get("x-fine").is_none());
        assert_eq!(r.headers().len(), 2, "{:?}", r.headers());
    }

    #[test]
    fn a_truncated_reply_announces_its_whole_length_and_sends_half() {
        let mut reply = Reply::bytes(StatusCode::OK, Bytes::from_static(b"0123456789"));
        reply.truncate = true;
        let r = reply.into_response();
        assert_eq!(
            r.headers().get("content-length").map(|v| v.as_bytes()),
            Some(&b"10"[..])
        );
        match r.into_body() {
            TwinBody::Truncated { part: Some(p), .. } => assert_eq!(&p[..], b"01234"),
            other => panic!("truncated body expected, got {other:?}"),
        }
    }
}
