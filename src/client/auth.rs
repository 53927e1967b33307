//! The client's credentials: an API key, or a JWT from `/wallets/login` that is
//! refreshed once when a request comes back 401.

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use gauntlet_mock::SecretString;
use serde_json::{Value, json};

use super::{Request, Transport, TransportError};

/// How long a login or refresh may take.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(10);

/// Who the client is.
#[derive(Debug)]
pub enum Credentials {
    ApiKey(SecretString),
    Jwt(Jwt),
}

/// A JWT login and its current tokens.
#[derive(Debug)]
pub struct Jwt {
    pub email: String,
    pub password: SecretString,
    /// (access, refresh), once logged in.
    tokens: Mutex<Option<(SecretString, SecretString)>>,
}

impl Jwt {
    pub fn new(email: impl Into<String>, password: SecretString) -> Self {
        Self {
            email: email.into(),
            password,
            tokens: Mutex::new(None),
        }
    }

    fn tokens(&self) -> Option<(SecretString, SecretString)> {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set(&self, v: &Value) -> bool {
        let (Some(a), Some(r)) = (v["access_token"].as_str(), v["refresh_token"].as_str()) else {
            return false;
        };
        *self.tokens.lock().unwrap_or_else(|e| e.into_inner()) = Some((a.into(), r.into()));
        true
    }
}

async fn post_json<T: Transport>(
    t: &mut T,
    path: &str,
    body: Value,
) -> Result<Option<Value>, TransportError> {
    let req = Request {
        path: path.into(),
        headers: vec![("content-type", "application/json".into())],
        body: Bytes::from(body.to_string()),
        timeout: AUTH_TIMEOUT,
    };
    let reply = t.post(req).await?;
    Ok((reply.status == 200)
        .then(|| serde_json::from_slice(&reply.body).ok())
        .flatten())
}

impl Credentials {
    /// The headers that authenticate a request (logging in first if need be).
    pub async fn headers<T: Transport>(
        &self,
        t: &mut T,
    ) -> Result<Vec<(&'static str, String)>, TransportError> {
        match self {
            Credentials::ApiKey(k) => Ok(vec![("x-api-key", k.expose().to_string())]),
            Credentials::Jwt(j) => {
                if j.tokens().is_none() {
                    self.login(t).await?;
                }
                Ok(j.tokens()
                    .map(|(a, _)| vec![("authorization", format!("Bearer {}", a.expose()))])
                    .unwrap_or_default())
            }
        }
    }

    async fn login<T: Transport>(&self, t: &mut T) -> Result<bool, TransportError> {
        let Credentials::Jwt(j) = self else {
            return Ok(false);
        };
        let v = post_json(
            t,
            "/wallets/login",
            json!({ "email": j.email, "password": j.password.expose() }),
        )
        .await?;
        Ok(v.is_some_and(|v| j.set(&v)))
    }

    /// After a 401: refresh the JWT (or log in again). False for an API key, which
    /// a retry cannot fix.
    pub async fn refresh<T: Transport>(&self, t: &mut T) -> Result<bool, TransportError> {
        let Credentials::Jwt(j) = self else {
            return Ok(false);
        };
        if let Some((_, refresh)) = j.tokens()
            && let Some(v) = post_json(
                t,
                "/wallets/token/refresh",
                json!({ "refresh_token": refresh.expose() }),
            )
            .await?
            && j.set(&v)
        {
            return Ok(true);
        }
        self.login(t).await
    }
}
