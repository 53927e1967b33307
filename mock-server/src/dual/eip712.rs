//! EIP-712 signatures on Dual's mutations: the typed data a client signs over one
//! request, the three headers that carry the signature, the twin's check of them,
//! and a signing key for clients (the reference client and tests).
//!
//! Dual's public material asks that mutations be provable with EIP-712 typed-data
//! signatures but names no header or type, so these are the twin's choice:
//!
//! - Domain `EIP712Domain(string name,string version,uint256 chainId)` =
//!   `{name: "Dual", version: "1", chainId}` (`[auth] eip712_chain_id`, default 1).
//! - Primary type `DualRequest(string method,string path,bytes32 bodyHash,uint256
//!   timestamp)`: `method` uppercase, `path` as sent without the query,
//!   `bodyHash = keccak256(raw body bytes)`, `timestamp` Unix seconds.
//! - Headers `x-dual-signer: 0x<address>`, `x-dual-signed-at: <unix seconds>`,
//!   `x-dual-eip712-signature: 0x<65 bytes r‖s‖v>` (v 27/28 or 0/1).
//!
//! The struct follows Hyperliquid's exchange API, which signs each action as a typed
//! struct holding a hash of it (the "phantom agent" `Agent(string source, bytes32
//! connectionId)`, `connectionId` the keccak of the encoded action;
//! hyperliquid-python-sdk `hyperliquid/utils/signing.py`). The headers follow
//! Polymarket's CLOB API, which sends its EIP-712 signature in request headers
//! (`POLY_ADDRESS`, `POLY_SIGNATURE`, `POLY_TIMESTAMP`;
//! <https://docs.polymarket.com/developers/CLOB/authentication>).

use std::time::Duration;

pub use alloy::primitives::Address;
use alloy::primitives::{B256, Signature, U256, keccak256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol;
use alloy::sol_types::{Eip712Domain, SolStruct};
use http::HeaderMap;
use rand::RngCore;

use crate::engine::error::ApiError;

/// The signature, `0x` and 65 bytes `r‖s‖v` in hex.
pub const SIGNATURE_HEADER: &str = "x-dual-eip712-signature";
/// The address that signed, `0x` and 40 hex digits.
pub const SIGNER_HEADER: &str = "x-dual-signer";
/// When it was signed, Unix seconds (the `timestamp` of the typed data).
pub const SIGNED_AT_HEADER: &str = "x-dual-signed-at";
/// How far `x-dual-signed-at` may be from the twin's clock: the window the
/// reference webhook handler gives `x-dual-timestamp`, long enough for clock drift
/// and a retry, short enough that a captured request soon stops working.
pub const MAX_SKEW: Duration = Duration::from_secs(300);
/// Ethereum mainnet's chain id: what a client assumes when told nothing else.
pub const DEFAULT_CHAIN_ID: u64 = 1;
pub const DOMAIN_NAME: &str = "Dual";
pub const DOMAIN_VERSION: &str = "1";

/// The refusal when any of the three headers is absent.
pub const MISSING: &str =
    "missing EIP-712 signature (x-dual-eip712-signature, x-dual-signer, x-dual-signed-at)";

sol! {
    /// What a client signs for one request: the request's method, path and a
    /// digest of its body, and when it signed.
    #[derive(Debug, PartialEq, Eq)]
    struct DualRequest {
        string method;
        string path;
        bytes32 bodyHash;
        uint256 timestamp;
    }
}

/// The domain for `chain_id`: name, version and chain id, no contract or salt.
pub fn domain(chain_id: u64) -> Eip712Domain {
    Eip712Domain::new(
        Some(DOMAIN_NAME.into()),
        Some(DOMAIN_VERSION.into()),
        Some(U256::from(chain_id)),
        None,
        None,
    )
}

/// The EIP-712 digest of `method path` with `body`, signed at `timestamp`.
pub fn digest(chain_id: u64, method: &str, path: &str, body: &[u8], timestamp: u64) -> B256 {
    DualRequest {
        method: method.to_ascii_uppercase(),
        path: path.split('?').next().unwrap_or_default().to_string(),
        bodyHash: keccak256(body),
        timestamp: U256::from(timestamp),
    }
    .eip712_signing_hash(&domain(chain_id))
}

/// An address written `0x` and 40 hex digits, in one case or with a correct EIP-55
/// checksum (mixed case is a checksum, and a wrong one is a typo). The error says
/// which rule failed, never echoing the input.
pub fn parse_address(s: &str) -> Result<Address, &'static str> {
    const SHAPE: &str = "expected 0x and 40 hex digits";
    let hex = s
        .strip_prefix("0x")
        .filter(|h| h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or(SHAPE)?;
    let address: Address = hex.parse().map_err(|_| SHAPE)?;
    let mixed =
        hex.bytes().any(|b| b.is_ascii_lowercase()) && hex.bytes().any(|b| b.is_ascii_uppercase());
    if mixed && address.to_checksum(None)[2..] != *hex {
        return Err(
            "its mixed case is not the EIP-55 checksum (write it in one case, or copy it exactly)",
        );
    }
    Ok(address)
}

/// The address that signed `digest`, from a 65-byte `r‖s‖v` signature with v 27/28
/// or 0/1 (as `boson::protocol::meta::signer`, and stricter about v).
fn recover(signature: &[u8], digest: B256) -> Option<Address> {
    if !matches!(signature.last(), Some(0 | 1 | 27 | 28)) {
        return None;
    }
    let sig = Signature::try_from(signature).ok()?;
    sig.recover_address_from_prehash(&digest).ok()
}

/// What one request says about itself, for [`verify`].
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub method: &'a str,
    /// The path as sent, without the query.
    pub path: &'a str,
    pub body: &'a [u8],
}

/// Check a request's signature headers at twin Unix time `unix_now`: all three
/// present and well-formed, signed within [`MAX_SKEW`], by `bound` if the caller's
/// key names a signer, over this very request. Returns the signer, or a 401 that
/// names what failed (and in `details`, the header at fault).
pub fn verify(
    headers: &HeaderMap,
    req: Signed<'_>,
    chain_id: u64,
    unix_now: f64,
    bound: Option<Address>,
) -> Result<Address, ApiError> {
    let refuse = |header: &str, message: String| {
        ApiError::unauthorized(message.clone()).detail(header, message)
    };
    let text = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or("").trim());
    let (Some(signature), Some(signer), Some(signed_at)) = (
        text(SIGNATURE_HEADER),
        text(SIGNER_HEADER),
        text(SIGNED_AT_HEADER),
    ) else {
        let absent = [SIGNATURE_HEADER, SIGNER_HEADER, SIGNED_AT_HEADER]
            .into_iter()
            .find(|h| !headers.contains_key(*h))
            .unwrap_or(SIGNATURE_HEADER);
        return Err(ApiError::unauthorized(MISSING).detail(absent, "missing"));
    };
    let signer = parse_address(signer).map_err(|why| {
        refuse(
            SIGNER_HEADER,
            format!("{SIGNER_HEADER} is not an address: {why}"),
        )
    })?;
    let at: u64 = signed_at.parse().map_err(|_| {
        refuse(
            SIGNED_AT_HEADER,
            format!("{SIGNED_AT_HEADER} is not a Unix time in whole seconds"),
        )
    })?;
    let skew = at as f64 - unix_now;
    if skew.abs() > MAX_SKEW.as_secs_f64() {
        let (by, way) = (
            skew.abs().round(),
            if skew > 0.0 { "ahead of" } else { "behind" },
        );
        return Err(refuse(
            SIGNED_AT_HEADER,
            format!(
                "stale EIP-712 signature: {SIGNED_AT_HEADER} is {by} s {way} the twin's clock (at most {} s)",
                MAX_SKEW.as_secs()
            ),
        ));
    }
    if let Some(bound) = bound
        && bound != signer
    {
        return Err(refuse(
            SIGNER_HEADER,
            format!(
                "signer mismatch: {SIGNER_HEADER} {signer} is not the signer registered for this API key"
            ),
        ));
    }
    let bytes = signature
        .strip_prefix("0x")
        .and_then(|h| hex::decode(h).ok())
        .filter(|b| b.len() == 65)
        .ok_or_else(|| {
            refuse(
                SIGNATURE_HEADER,
                format!("{SIGNATURE_HEADER} is not 0x and 65 bytes (r‖s‖v) in hex"),
            )
        })?;
    let digest = digest(chain_id, req.method, req.path, req.body, at);
    match recover(&bytes, digest) {
        Some(a) if a == signer => Ok(signer),
        _ => Err(refuse(
            SIGNATURE_HEADER,
            format!(
                "bad EIP-712 signature: it does not recover to {SIGNER_HEADER} (another key signed, or the request is not the one signed)"
            ),
        )),
    }
}

/// A client's signing key. Its `Debug` shows only the address; the key never
/// leaves it.
pub struct RequestSigner {
    key: PrivateKeySigner,
    chain_id: u64,
}

impl std::fmt::Debug for RequestSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestSigner")
            .field("address", &self.key.address())
            .field("chain_id", &self.chain_id)
            .finish_non_exhaustive()
    }
}

impl RequestSigner {
    /// A key from 64 hex digits (a leading `0x` is allowed). The error never
    /// quotes the key.
    pub fn from_hex(key: &str, chain_id: u64) -> Result<Self, String> {
        let key = key.trim();
        let hex = key.strip_prefix("0x").unwrap_or(key);
        let bytes = hex::decode(hex)
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or("not a private key: expected 64 hex digits")?;
        let key = PrivateKeySigner::from_slice(&bytes)
            .map_err(|_| "not a valid secp256k1 private key".to_string())?;
        Ok(Self { key, chain_id })
    }

    /// A fresh random key.
    pub fn random(chain_id: u64) -> Self {
        loop {
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            // Zero or past the curve order: 2^-128 odds, draw again.
            if let Ok(key) = PrivateKeySigner::from_slice(&bytes) {
                return Self { key, chain_id };
            }
        }
    }

    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// The three headers for `method path` with `body`, signed at `timestamp`
    /// (Unix seconds).
    pub fn headers(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        timestamp: u64,
    ) -> [(&'static str, String); 3] {
        let digest = digest(self.chain_id, method, path, body, timestamp);
        // Signing a 32-byte digest with a valid key cannot fail (k256 retries
        // internally); an empty signature would be refused, never accepted.
        let signature = self
            .key
            .sign_hash_sync(&digest)
            .map(|s| s.as_bytes().to_vec())
            .unwrap_or_default();
        [
            (SIGNER_HEADER, self.key.address().to_checksum(None)),
            (SIGNED_AT_HEADER, timestamp.to_string()),
            (SIGNATURE_HEADER, format!("0x{}", hex::encode(signature))),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::sol_types::SolValue;

    fn map(h: &[(&'static str, String)]) -> HeaderMap {
        h.iter()
            .map(|(n, v)| (http::HeaderName::from_static(n), v.parse().expect("value")))
            .collect()
    }

    const NOW: u64 = 1_700_000_000;
    const REQ: Signed<'static> = Signed {
        method: "POST",
        path: "/ebus/actions/batch",
        body: br#"{"actions":[]}"#,
    };

    /// The digest built by hand from the type strings (EIP-712 `encode`), so the
    /// `sol!` struct is held to the documented types, not only to itself.
    #[test]
    fn the_digest_is_the_documented_typed_data() {
        let domain_type = keccak256("EIP712Domain(string name,string version,uint256 chainId)");
        let struct_type =
            keccak256("DualRequest(string method,string path,bytes32 bodyHash,uint256 timestamp)");
        let separator = keccak256(
            (
                domain_type,
                keccak256("Dual"),
                keccak256("1"),
                U256::from(5u64),
            )
                .abi_encode(),
        );
        let hash = keccak256(
            (
                struct_type,
                keccak256("POST"),
                keccak256("/ebus/actions/batch"),
                keccak256(b"{}"),
                U256::from(NOW),
            )
                .abi_encode(),
        );
        let want = keccak256([&[0x19, 0x01][..], separator.as_slice(), hash.as_slice()].concat());
        assert_eq!(
            digest(5, "post", "/ebus/actions/batch?x=1", b"{}", NOW),
            want
        );
    }

    #[test]
    fn a_signature_verifies_and_every_change_is_refused() {
        let key = RequestSigner::from_hex(&"11".repeat(32), 1).expect("key");
        let other = RequestSigner::from_hex(&format!("0x{}", "22".repeat(32)), 1).expect("key");
        let good = key.headers("POST", REQ.path, REQ.body, NOW);
        let ok = verify(&map(&good), REQ, 1, NOW as f64, Some(key.address()));
        assert_eq!(ok, Ok(key.address()));
        // v as 0/1 instead of 27/28.
        let mut low_v = good.clone();
        let mut sig = hex::decode(&low_v[2].1[2..]).expect("hex");
        sig[64] -= 27;
        low_v[2].1 = format!("0x{}", hex::encode(sig));
        assert!(verify(&map(&low_v), REQ, 1, NOW as f64, None).is_ok());

        let refused =
            |h: &[(&'static str, String)], req: Signed<'_>, chain: u64, now: u64, bound| {
                let e = verify(&map(h), req, chain, now as f64, bound).expect_err("refused");
                assert_eq!(e.status, 401);
                e.message
            };
        let tampered = Signed {
            body: br#"{"actions":[1]}"#,
            ..REQ
        };
        assert!(refused(&good, tampered, 1, NOW, None).starts_with("bad EIP-712 signature"));
        let elsewhere = Signed {
            path: "/templates",
            ..REQ
        };
        assert!(refused(&good, elsewhere, 1, NOW, None).starts_with("bad EIP-712 signature"));
        assert!(refused(&good, REQ, 2, NOW, None).starts_with("bad EIP-712 signature"));
        let mut claims_other = good.clone();
        claims_other[0].1 = other.address().to_string();
        assert!(refused(&claims_other, REQ, 1, NOW, None).starts_with("bad EIP-712 signature"));
        let by_other = other.headers("POST", REQ.path, REQ.body, NOW);
        assert!(
            refused(&by_other, REQ, 1, NOW, Some(key.address())).starts_with("signer mismatch")
        );
        assert!(refused(&good, REQ, 1, NOW + 301, None).starts_with("stale"));
        assert!(refused(&good, REQ, 1, NOW - 301, None).starts_with("stale"));
        assert!(verify(&map(&good), REQ, 1, (NOW + 300) as f64, None).is_ok());
        assert_eq!(refused(&good[..2], REQ, 1, NOW, None), MISSING);
        assert_eq!(refused(&[], REQ, 1, NOW, None), MISSING);
        for (i, bad) in [(0, "0x1234"), (1, "yesterday"), (2, "0xzz")] {
            let mut h = good.clone();
            h[i].1 = bad.into();
            let m = refused(&h, REQ, 1, NOW, None);
            assert!(m.starts_with(h[i].0), "{m}");
        }
    }

    #[test]
    fn addresses_are_one_case_or_a_correct_checksum() {
        let a = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        assert!(parse_address(a).is_ok());
        assert!(parse_address(&a.to_lowercase()).is_ok());
        assert!(parse_address(&a.replace("0x5aA", "0x5AA")).is_err());
        for bad in ["5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "0x1234", ""] {
            assert!(parse_address(bad).is_err(), "{bad}");
        }
        assert!(RequestSigner::from_hex("0x1234", 1).is_err());
        assert!(RequestSigner::from_hex(&"00".repeat(32), 1).is_err());
        let debug = format!(
            "{:?}",
            RequestSigner::from_hex(&"11".repeat(32), 1).expect("key")
        );
        assert!(!debug.contains(&"11".repeat(32)), "{debug}");
    }
}
