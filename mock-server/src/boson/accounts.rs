//! The development accounts the twin seeds: a seller, a dispute resolver, the
//! diamond's owner, the meta-transaction relayer and funded buyers. Keys come from the environment when set,
//! else they are derived from the twin's seed, so a seeded twin always has the
//! same accounts (as anvil's come from one mnemonic).

use std::fmt;

use alloy::primitives::{Address, B256, keccak256};
use alloy::signers::local::PrivateKeySigner;

/// The seller's key, if the user brings one (hex, with or without `0x`).
pub const SELLER_KEY_ENV: &str = "GAUNTLET_BOSON_SELLER_KEY";
/// Buyers' keys, comma-separated.
pub const BUYER_KEYS_ENV: &str = "GAUNTLET_BOSON_BUYER_KEYS";
/// Buyers seeded when none are given.
pub const DEFAULT_BUYERS: usize = 4;

/// Where a key came from: printed in full only when the twin made it up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Generated,
    Environment,
}

/// One account with its key.
#[derive(Clone)]
pub struct DevAccount {
    pub role: &'static str,
    pub signer: PrivateKeySigner,
    pub origin: Origin,
}

impl fmt::Debug for DevAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevAccount")
            .field("role", &self.role)
            .field("address", &self.address())
            .finish_non_exhaustive()
    }
}

impl DevAccount {
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// The key as the startup banner shows it: whole if generated, redacted if it
    /// came from the environment.
    pub fn shown_key(&self) -> String {
        let hex = format!("0x{}", alloy::hex::encode(self.signer.to_bytes()));
        match self.origin {
            Origin::Generated => hex,
            Origin::Environment => crate::redact(&hex),
        }
    }
}

/// The seeded accounts.
#[derive(Debug, Clone)]
pub struct Accounts {
    pub seller: DevAccount,
    pub resolver: DevAccount,
    pub owner: DevAccount,
    /// The relayer's own account: it signs and pays for the meta-transactions it relays.
    pub relayer: DevAccount,
    pub buyers: Vec<DevAccount>,
}

/// A key from the environment could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{var}: not a private key (32 bytes of hex): {reason}")]
pub struct KeyError {
    pub var: &'static str,
    pub reason: String,
}

fn derived(seed: u64, role: &str, i: usize) -> PrivateKeySigner {
    let mut n = 0u32;
    loop {
        let k: B256 = keccak256(format!("gauntlet boson {role} {i} {seed} {n}"));
        if let Ok(signer) = PrivateKeySigner::from_bytes(&k) {
            return signer;
        }
        n += 1;
    }
}

fn parse(var: &'static str, text: &str) -> Result<PrivateKeySigner, KeyError> {
    text.trim()
        .parse::<PrivateKeySigner>()
        .map_err(|e| KeyError {
            var,
            reason: e.to_string(),
        })
}

impl Accounts {
    /// The accounts for `seed`, with keys from `env` (a lookup, so tests need not
    /// touch the process environment).
    pub fn new(seed: u64, env: impl Fn(&str) -> Option<String>) -> Result<Self, KeyError> {
        Self::with_buyers(seed, DEFAULT_BUYERS, env)
    }

    /// The same, with `buyers` derived buyers when their keys are not given.
    pub fn with_buyers(
        seed: u64,
        buyers: usize,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, KeyError> {
        let count = buyers;
        let made = |role: &'static str, i| DevAccount {
            role,
            signer: derived(seed, role, i),
            origin: Origin::Generated,
        };
        let seller = match env(SELLER_KEY_ENV) {
            Some(k) => DevAccount {
                role: "seller",
                signer: parse(SELLER_KEY_ENV, &k)?,
                origin: Origin::Environment,
            },
            None => made("seller", 0),
        };
        let buyers = match env(BUYER_KEYS_ENV) {
            Some(list) => list
                .split(',')
                .filter(|k| !k.trim().is_empty())
                .map(|k| {
                    Ok(DevAccount {
                        role: "buyer",
                        signer: parse(BUYER_KEYS_ENV, k)?,
                        origin: Origin::Environment,
                    })
                })
                .collect::<Result<Vec<_>, KeyError>>()?,
            None => (0..count).map(|i| made("buyer", i)).collect(),
        };
        Ok(Self {
            seller,
            resolver: made("resolver", 0),
            owner: made("owner", 0),
            relayer: made("relayer", 0),
            buyers,
        })
    }

    /// Every account, seller first.
    pub fn all(&self) -> impl Iterator<Item = &DevAccount> {
        [&self.seller, &self.resolver, &self.owner, &self.relayer]
            .into_iter()
            .chain(self.buyers.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_accounts_and_env_keys_are_redacted() {
        let a = Accounts::new(7, |_| None).expect("generated");
        let b = Accounts::new(7, |_| None).expect("generated");
        assert_eq!(a.seller.address(), b.seller.address());
        assert_ne!(a.seller.address(), a.buyers[0].address());
        let key = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
        let c =
            Accounts::new(7, |v| (v == SELLER_KEY_ENV).then(|| key.to_string())).expect("from env");
        assert!(!c.seller.shown_key().contains("59c6995e"));
        assert!(a.seller.shown_key().len() == 66);
        let bad = Accounts::new(7, |v| (v == BUYER_KEYS_ENV).then(|| "zz".to_string()));
        assert!(
            bad.expect_err("bad key")
                .to_string()
                .contains(BUYER_KEYS_ENV)
        );
    }
}
