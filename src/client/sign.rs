//! EIP-712 signatures on the client's mutations (`[client] eip712 = true`): the
//! signing key, from `GAUNTLET_DUAL_SIGNER_KEY` or made for the run, and a transport
//! that signs every request before it goes out. The typed data and headers are the
//! twin's (`gauntlet_mock::dual::eip712`, README "EIP-712 on Dual").

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use gauntlet_mock::SecretString;
use gauntlet_mock::dual::eip712::{Address, DEFAULT_CHAIN_ID, RequestSigner};

use super::{Reply, Request, Transport, TransportError};
use crate::exit::UsageError;
use crate::secrets::Origin;

/// The client's signing key: 64 hex digits (a leading `0x` is allowed).
pub const SIGNER_KEY_VAR: &str = "GAUNTLET_DUAL_SIGNER_KEY";

/// A signing key and where it came from. The key itself is never shown: `Debug`
/// and [`Signer::describe`] give only its address, which is public.
#[derive(Clone)]
pub struct Signer {
    key: Arc<RequestSigner>,
    pub origin: Origin,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({}, {:?})", self.key.address(), self.origin)
    }
}

impl Signer {
    /// The key in [`SIGNER_KEY_VAR`], or one made for this run.
    pub fn from_env_or_generate(
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Signer, UsageError> {
        Ok(Self::from_env(env)?.unwrap_or_else(|| Signer {
            key: Arc::new(RequestSigner::random(DEFAULT_CHAIN_ID)),
            origin: Origin::Generated,
        }))
    }

    /// The key in [`SIGNER_KEY_VAR`], if it is set; an error that names the
    /// variable (never its value) if it is not a key.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Option<Signer>, UsageError> {
        let Some(hex) = env(SIGNER_KEY_VAR)
            .filter(|v| !v.trim().is_empty())
            .map(SecretString::new)
        else {
            return Ok(None);
        };
        let key = RequestSigner::from_hex(hex.expose(), DEFAULT_CHAIN_ID)
            .map_err(|why| UsageError(format!("{SIGNER_KEY_VAR} is {why}")))?;
        Ok(Some(Signer {
            key: Arc::new(key),
            origin: Origin::Environment,
        }))
    }

    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// For the terminal: the address and where its key came from.
    pub fn describe(&self) -> String {
        let from = match self.origin {
            Origin::Environment => format!("the key in {SIGNER_KEY_VAR}"),
            Origin::Generated => format!("a key made for this run: {SIGNER_KEY_VAR} is unset"),
        };
        format!("{} ({from})", self.address())
    }

    /// The signature headers for `method path` with `body`, signed now.
    pub fn headers(&self, method: &str, path: &str, body: &[u8]) -> Vec<(&'static str, String)> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.key.headers(method, path, body, now).into()
    }
}

/// A transport that signs each request (always a POST) before `inner` sends it.
/// With `tamper` it signs the body with a trailing newline, not the body it sends,
/// as a client that signs one serialization and sends another (the `bad_eip712`
/// flaw): the twin refuses every request with 401.
#[derive(Debug, Clone)]
pub struct Signing<T> {
    pub inner: T,
    signer: Option<Signer>,
    tamper: bool,
}

impl<T> Signing<T> {
    /// `inner`, signing with `signer` (none: sent as it is).
    pub fn new(inner: T, signer: Option<Signer>, tamper: bool) -> Self {
        Self {
            inner,
            signer,
            tamper,
        }
    }
}

impl<T: Transport + Send> Transport for Signing<T> {
    async fn post(&mut self, mut req: Request) -> Result<Reply, TransportError> {
        if let Some(s) = &self.signer {
            let headers = if self.tamper {
                s.headers("POST", &req.path, &[&req.body[..], b"\n"].concat())
            } else {
                s.headers("POST", &req.path, &req.body)
            };
            req.headers.extend(headers);
        }
        self.inner.post(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use gauntlet_mock::dual::eip712::{Signed, verify};
    use std::time::Duration;

    /// Answers 200 and keeps the headers it was sent.
    #[derive(Default)]
    struct Recording(Vec<Vec<(&'static str, String)>>);

    impl Transport for Recording {
        async fn post(&mut self, req: Request) -> Result<Reply, TransportError> {
            self.0.push(req.headers);
            Ok(Reply {
                status: 200,
                retry_after: None,
                ratelimit_reset: None,
                body: Bytes::new(),
            })
        }
    }

    fn env(value: &'static str) -> impl Fn(&str) -> Option<String> {
        move |name: &str| (name == SIGNER_KEY_VAR).then(|| value.to_string())
    }

    #[tokio::test]
    async fn requests_are_signed_and_the_flaw_signs_another_body() {
        let key = "0x".to_string() + &"3c".repeat(32);
        let signer = Signer::from_env(|_| Some(key.clone()))
            .expect("a key")
            .expect("set");
        assert_eq!(signer.origin, Origin::Environment);
        let req = Request {
            path: "/ebus/actions/batch".into(),
            headers: vec![("x-api-key", "sk".into())],
            body: Bytes::from_static(b"{}"),
            timeout: Duration::from_secs(1),
        };
        let mut honest = Signing::new(Recording::default(), Some(signer.clone()), false);
        let mut flawed = Signing::new(Recording::default(), Some(signer.clone()), true);
        honest.post(req.clone()).await.expect("sent");
        flawed.post(req).await.expect("sent");
        // The twin's own check: the honest request verifies, the flawed one does not.
        let check = |hs: &[(&'static str, String)]| {
            let map: http::HeaderMap = hs
                .iter()
                .map(|(n, v)| (http::HeaderName::from_static(n), v.parse().expect("value")))
                .collect();
            let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("now");
            let req = Signed {
                method: "POST",
                path: "/ebus/actions/batch",
                body: b"{}",
            };
            verify(&map, req, DEFAULT_CHAIN_ID, now.as_secs_f64(), None)
        };
        assert_eq!(check(&honest.inner.0[0]), Ok(signer.address()));
        let refused = check(&flawed.inner.0[0]).expect_err("another body was signed");
        assert!(
            refused.message.starts_with("bad EIP-712 signature"),
            "{refused:?}"
        );
        assert!(honest.inner.0[0].contains(&("x-api-key", "sk".into())));
        for shown in [format!("{signer:?}"), signer.describe()] {
            assert!(!shown.contains(&"3c".repeat(32)), "{shown}");
        }
    }

    #[test]
    fn a_bad_key_names_the_variable_and_not_the_value() {
        let err = Signer::from_env(env("not-a-key-but-secret")).expect_err("refused");
        assert!(err.0.contains(SIGNER_KEY_VAR), "{err:?}");
        assert!(!err.0.contains("not-a-key-but-secret"), "{err:?}");
        assert!(Signer::from_env(env("  ")).expect("unset").is_none());
        let made = Signer::from_env_or_generate(|_| None).expect("made");
        assert_eq!(made.origin, Origin::Generated);
    }
}
