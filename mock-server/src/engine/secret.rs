//! A string that is a secret: its `Debug` shows only the last four characters, so a
//! secret inside any struct stays out of logs. Serializing exposes it (the twin must
//! hand out the tokens it issues); only do that in a reply to its owner. Also here:
//! [`redact`] and [`random_secret`], which every platform's credentials use.

use rand::RngCore;
use serde::{Deserialize, Serialize};

/// A secret string (API key, password, JWT, webhook secret, control token).
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself. Every call site is a place a secret leaves this type.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretString({})", redact(&self.0))
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

/// A secret as it may appear in logs and reports: its last 4 characters.
pub fn redact(secret: &str) -> String {
    let tail: String = secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if secret.chars().count() <= 8 {
        "…".to_string()
    } else {
        format!("…{tail}")
    }
}

/// A fresh random secret with a readable prefix.
pub fn random_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}
