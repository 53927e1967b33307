//! Who is calling: API keys (`x-api-key` or `Authorization: Bearer`), JWTs from
//! `/wallets/login` with refresh, key rotation with a grace period, scopes, and
//! (when the twin requires it) the EIP-712 signature that proves a mutation's intent.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::config::AuthConfig;
use super::eip712::{self, Address};
use crate::engine::error::ApiError;
use crate::engine::secret::{SecretString, random_secret, redact};

/// Outstanding refresh tokens past which expired ones are purged on the next login.
pub const REFRESH_PURGE_AT: usize = 10_000;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub org: String,
    pub scopes: Vec<String>,
    /// A stable, non-secret name of the credential (`key:…1a2b`, `user:EMAIL`):
    /// the oracle's "same client" when a retry carries no idempotency key.
    pub client: String,
    /// The address that must sign this caller's mutations (its key's `signer`).
    pub signer: Option<Address>,
}

impl Principal {
    pub fn require(&self, scope: &str) -> Result<(), ApiError> {
        if self.scopes.iter().any(|s| s == scope) {
            Ok(())
        } else {
            Err(ApiError::forbidden(scope))
        }
    }
}

#[derive(Debug)]
struct KeyEntry {
    hash: [u8; 32],
    org: String,
    scopes: Vec<String>,
    /// The key redacted to its last characters, for the principal's name.
    tail: String,
    /// Set when the key was rotated: it works until then.
    expires_at: Option<Duration>,
    signer: Option<Address>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    org: String,
    scopes: Vec<String>,
    iat: u64,
    exp: u64,
    jti: String,
}

#[derive(Debug)]
struct RefreshEntry {
    email: String,
    expires_at: Duration,
}

/// What `/wallets/login` and `/wallets/token/refresh` return.
#[derive(Debug, Serialize)]
pub struct Tokens {
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    pub expires_in: u64,
    pub token_type: &'static str,
}

/// The twin's credentials.
pub struct Auth {
    cfg: AuthConfig,
    keys: Mutex<Vec<KeyEntry>>,
    refresh: Mutex<HashMap<[u8; 32], RefreshEntry>>,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").finish_non_exhaustive()
    }
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl Auth {
    pub fn new(cfg: AuthConfig) -> Self {
        let keys = cfg
            .keys
            .iter()
            .map(|k| KeyEntry {
                hash: digest(k.key.expose()),
                org: k.org.clone(),
                scopes: k.scopes.clone(),
                tail: redact(k.key.expose()),
                expires_at: None,
                signer: k.signer,
            })
            .collect();
        let signing = random_secret("");
        Self {
            cfg,
            keys: Mutex::new(keys),
            refresh: Mutex::new(HashMap::new()),
            encoding: EncodingKey::from_secret(signing.as_bytes()),
            decoding: DecodingKey::from_secret(signing.as_bytes()),
        }
    }

    /// The credential of a request, if any, as raw text (never logged).
    fn credential(headers: &HeaderMap) -> Option<&str> {
        if let Some(v) = headers.get("x-api-key") {
            return v.to_str().ok();
        }
        let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .map(str::trim)
    }

    /// Authenticate a request at twin time `now` (`unix_now` for JWT expiry).
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        now: Duration,
        unix_now: f64,
    ) -> Result<Principal, ApiError> {
        let cred = Self::credential(headers).ok_or_else(|| {
            ApiError::unauthorized("missing credentials: send x-api-key or Authorization: Bearer")
        })?;
        if cred.split('.').count() == 3 {
            return self.verify_jwt(cred, unix_now);
        }
        let hash = digest(cred);
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        // Compare against every key so timing does not reveal which one matched.
        let mut found = None;
        for k in keys.iter() {
            if bool::from(k.hash.ct_eq(&hash)) {
                found = Some(k);
            }
        }
        let k = found.ok_or_else(|| ApiError::unauthorized("invalid API key"))?;
        if k.expires_at.is_some_and(|t| now >= t) {
            return Err(ApiError::unauthorized(
                "API key expired: it was rotated and its grace period has ended",
            ));
        }
        Ok(Principal {
            org: k.org.clone(),
            scopes: k.scopes.clone(),
            client: format!("key:{}", k.tail),
            signer: k.signer,
        })
    }

    fn verify_jwt(&self, token: &str, unix_now: f64) -> Result<Principal, ApiError> {
        let mut v = Validation::new(Algorithm::HS256);
        // Expiry is checked against the twin's clock, not the host's.
        v.validate_exp = false;
        v.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &v)
            .map_err(|_| ApiError::unauthorized("invalid token"))?;
        if (data.claims.exp as f64) <= unix_now {
            return Err(ApiError::unauthorized(
                "token expired: refresh it at /wallets/token/refresh",
            ));
        }
        Ok(Principal {
            org: data.claims.org,
            scopes: data.claims.scopes,
            client: format!("user:{}", data.claims.sub),
            signer: None,
        })
    }

    /// A mutation's proof of intent: with `require_eip712`, its EIP-712 signature
    /// headers must be valid for this request (and signed by the caller's bound
    /// signer, if its key has one); otherwise nothing is asked.
    pub fn intent(
        &self,
        headers: &HeaderMap,
        caller: &Principal,
        request: eip712::Signed<'_>,
        unix_now: f64,
    ) -> Result<(), ApiError> {
        if !self.cfg.require_eip712 {
            return Ok(());
        }
        eip712::verify(
            headers,
            request,
            self.cfg.eip712_chain_id,
            unix_now,
            caller.signer,
        )
        .map(|_| ())
    }

    /// `POST /wallets/login`.
    pub fn login(
        &self,
        email: &str,
        password: &str,
        now: Duration,
        unix_now: f64,
    ) -> Result<Tokens, ApiError> {
        let mut found = None;
        for u in &self.cfg.users {
            let same = u.email.as_bytes().ct_eq(email.as_bytes())
                & u.password.expose().as_bytes().ct_eq(password.as_bytes());
            if bool::from(same) {
                found = Some(u);
            }
        }
        let u = found.ok_or_else(|| ApiError::unauthorized("invalid email or password"))?;
        Ok(self.issue(&u.email, now, unix_now))
    }

    /// `POST /wallets/token/refresh`: the refresh token is single-use.
    pub fn refresh(
        &self,
        refresh_token: &str,
        now: Duration,
        unix_now: f64,
    ) -> Result<Tokens, ApiError> {
        let entry = self
            .refresh
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&digest(refresh_token))
            .filter(|e| e.expires_at > now)
            .ok_or_else(|| ApiError::unauthorized("invalid or expired refresh token"))?;
        Ok(self.issue(&entry.email, now, unix_now))
    }

    fn issue(&self, email: &str, now: Duration, unix_now: f64) -> Tokens {
        let user = self.cfg.users.iter().find(|u| u.email == email);
        let (org, scopes) = user
            .map(|u| (u.org.clone(), u.scopes.clone()))
            .unwrap_or_default();
        let iat = unix_now as u64;
        let claims = Claims {
            sub: email.to_string(),
            org,
            scopes,
            iat,
            exp: iat + self.cfg.jwt_ttl.as_secs(),
            jti: random_secret(""),
        };
        let access_token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
                .unwrap_or_default();
        let refresh_token = random_secret("rt_");
        let mut refresh = self.refresh.lock().unwrap_or_else(|e| e.into_inner());
        if refresh.len() >= REFRESH_PURGE_AT {
            refresh.retain(|_, e| e.expires_at > now);
        }
        refresh.insert(
            digest(&refresh_token),
            RefreshEntry {
                email: email.to_string(),
                expires_at: now + self.cfg.refresh_ttl,
            },
        );
        Tokens {
            access_token: access_token.into(),
            refresh_token: refresh_token.into(),
            expires_in: self.cfg.jwt_ttl.as_secs(),
            token_type: "Bearer",
        }
    }

    /// Rotate `old` (or the first key): a new key with the same org, scopes and
    /// signer; the old one keeps working for the grace period. Returns the new key.
    pub fn rotate(&self, old: Option<&str>, now: Duration) -> Result<String, ApiError> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let index = match old {
            Some(old) => {
                let hash = digest(old);
                keys.iter().position(|k| bool::from(k.hash.ct_eq(&hash)))
            }
            None => keys.iter().position(|k| k.expires_at.is_none()),
        }
        .ok_or_else(|| ApiError::field("key", "no such active key"))?;
        if keys[index].expires_at.is_some() {
            return Err(ApiError::conflict("that key was already rotated"));
        }
        keys[index].expires_at = Some(now + self.cfg.rotation_grace);
        let new = random_secret("sk_sandbox_");
        let entry = KeyEntry {
            hash: digest(&new),
            org: keys[index].org.clone(),
            scopes: keys[index].scopes.clone(),
            tail: redact(&new),
            expires_at: None,
            signer: keys[index].signer,
        };
        keys.push(entry);
        Ok(new)
    }
}
