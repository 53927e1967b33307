//! What a handler answers (`Reply`) and the response body type, which can also be
//! cut off mid-way (the truncated-reply fault).

use std::borrow::Cow;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Response, StatusCode};
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
        let body = serde_json::to_vec(value).unwrap_or_default();
        Self::bytes(status, body.into())
    }

    pub fn bytes(status: StatusCode, body: Bytes) -> Self {
        Self {
            status,
            body,
            headers: vec![("content-type".into(), "application/json".into())],
            truncate: false,
        }
    }

    pub fn text(status: StatusCode, content_type: &str, body: String) -> Self {
        Self {
            status,
            body: body.into(),
            headers: vec![("content-type".into(), content_type.into())],
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
    pub fn into_response(self) -> Response<TwinBody> {
        let mut b = Response::builder().status(self.status);
        for (name, value) in &self.headers {
            b = b.header(name.as_ref(), value.as_str());
        }
        let body = if self.truncate {
            let half = self.body.len() / 2;
            b = b.header("content-length", self.body.len().to_string());
            TwinBody::Truncated {
                part: Some(self.body.slice(..half)),
                flushed: false,
            }
        } else {
            TwinBody::full(self.body)
        };
        b.body(body)
            .unwrap_or_else(|_| Response::new(TwinBody::full("")))
    }
}
