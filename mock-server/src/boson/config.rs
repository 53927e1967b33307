//! The Boson twin's settings (`[boson]` in `twin.toml`), with defaults that match
//! core-sdk's `local-31337-0` configuration so the SDK runs against it unchanged.

use std::time::Duration;

use alloy::primitives::{Address, U256, address};
use serde::Deserialize;

use super::accounts::{Accounts, BUYER_KEYS_ENV, KeyError, SELLER_KEY_ENV};
use crate::engine::secret::SecretString;

/// core-sdk's local chain id; its indexing helper knows only a fixed list of ids.
pub const CHAIN_ID: u64 = 31337;
/// The protocol diamond's address in core-sdk's `local-31337-0` configuration.
pub const DIAMOND: Address = address!("a513E6E4b8f2a923D98304ec87F64353C4D5C853");
/// The relayer's API key (`x-api-key`), when the user sets one; without it the
/// relayer takes any non-empty key.
pub const RELAYER_API_KEY_ENV: &str = "GAUNTLET_BOSON_RELAYER_API_KEY";
/// One ether in wei.
pub const ETHER: u128 = 1_000_000_000_000_000_000;
/// One gwei in wei.
pub const GWEI: u128 = 1_000_000_000;
/// Block bodies kept behind the head by default: ten minutes of twin time.
pub const DEFAULT_HISTORY: Duration = Duration::from_secs(600);
/// Buyers a twin seeds at most.
pub const MAX_BUYERS: usize = 10_000;

/// The Boson twin's settings, checked.
#[derive(Debug, Clone)]
pub struct BosonConfig {
    pub chain_id: u64,
    pub diamond: Address,
    /// Twin time between blocks (an L2's 2 s by default); zero mines one block per
    /// transaction, as anvil's automine does.
    pub block_time: Duration,
    /// Confirmations behind `latest` for the `safe` and `finalized` heads.
    pub safe_depth: u64,
    pub finalized_depth: u64,
    /// The deepest reorg the chain can perform (it keeps this many states).
    pub max_reorg_depth: usize,
    /// Twin time of block bodies kept behind the head; older blocks keep their
    /// headers only (see `chain::history`).
    pub history: Duration,
    /// Base fee and suggested tip per gas, in wei.
    pub base_fee: u128,
    pub priority_fee: u128,
    /// The id of the seeded test offer (`--known-offer`).
    pub known_offer: u64,
    /// The known offer's price and seller deposit, in wei.
    pub offer_price: U256,
    pub offer_deposit: U256,
    /// What the seller deposits at start: enough for many walks of the offer.
    pub seller_funds: U256,
    /// Native balance of each seeded account, in wei.
    pub account_balance: U256,
    /// The seller's private key, when the user brings one (else derived from the seed).
    pub seller_key: Option<SecretString>,
    /// Buyers' private keys, comma-separated, when the user brings them.
    pub buyer_keys: Option<SecretString>,
    /// The key the relayer wants in `x-api-key` ([`RELAYER_API_KEY_ENV`]); `None`
    /// takes any non-empty key, as a local Biconomy stand-in does.
    pub relayer_api_key: Option<SecretString>,
    /// Confirmations a chain event needs before its effect is due (and before
    /// acting on it is not premature).
    pub confirmations: u64,
    /// Twin time between a reorg and the webhook deliveries of the events it
    /// removed (zero: at once, ahead of the new chain's, as geth orders them).
    pub removal_notice_delay: Duration,
    /// Buyers seeded when their keys are not given (each funded at genesis).
    pub buyers: usize,
}

impl BosonConfig {
    /// The accounts this configuration seeds: keys given, or derived from `seed`.
    pub fn accounts(&self, seed: u64) -> Result<Accounts, KeyError> {
        Accounts::with_buyers(seed, self.buyers, |var| match var {
            SELLER_KEY_ENV => self.seller_key.as_ref().map(|k| k.expose().to_string()),
            BUYER_KEYS_ENV => self.buyer_keys.as_ref().map(|k| k.expose().to_string()),
            _ => None,
        })
    }
}

impl Default for BosonConfig {
    fn default() -> Self {
        Self {
            chain_id: CHAIN_ID,
            diamond: DIAMOND,
            block_time: Duration::from_secs(2),
            safe_depth: 3,
            finalized_depth: 64,
            max_reorg_depth: 64,
            history: DEFAULT_HISTORY,
            base_fee: GWEI,
            priority_fee: GWEI,
            known_offer: 1,
            offer_price: U256::from(ETHER / 100),
            offer_deposit: U256::from(ETHER / 1000),
            seller_funds: U256::from(1_000 * ETHER),
            account_balance: U256::from(10_000 * ETHER),
            seller_key: None,
            buyer_keys: None,
            relayer_api_key: None,
            confirmations: 3,
            removal_notice_delay: Duration::ZERO,
            buyers: super::accounts::DEFAULT_BUYERS,
        }
    }
}

/// `[boson]` as written in `twin.toml`; every key optional.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BosonFile {
    /// Chain id (default 31337, core-sdk's local chain).
    pub chain_id: Option<u64>,
    /// The protocol diamond's address (default core-sdk's local one).
    pub diamond: Option<String>,
    /// Time between blocks, e.g. "2s"; "0s" mines a block per transaction.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub block_time: Option<Duration>,
    /// Confirmations for the `safe` head (default 3).
    pub safe_depth: Option<u64>,
    /// Confirmations for the `finalized` head (default 64).
    pub finalized_depth: Option<u64>,
    /// The deepest reorg a rule may ask for (default 64).
    pub max_reorg_depth: Option<usize>,
    /// Block bodies kept behind the head, e.g. "10m" (default): older blocks keep
    /// their headers only, and `eth_getLogs` there answers geth's "pruned history
    /// unavailable". Never fewer blocks than the reorg depth, the finalized depth
    /// and 256 are kept.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub history: Option<Duration>,
    /// Base fee per gas in gwei (default 1).
    pub base_fee_gwei: Option<u64>,
    /// The seeded test offer's id (default 1).
    pub known_offer: Option<u64>,
    /// Confirmations before a chain event's effect is due (default 3).
    pub confirmations: Option<u64>,
    /// How long after a reorg the `removed: true` webhook deliveries go out, e.g.
    /// "10s" (default 0: at once, before the new chain's events).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub removal_notice_delay: Option<Duration>,
    /// Buyers seeded when their keys are not given (default 4).
    pub buyers: Option<usize>,
}

impl BosonFile {
    /// Apply the file's keys over the defaults; a bad value names its key.
    pub fn resolve(&self) -> Result<BosonConfig, (String, String)> {
        let mut c = BosonConfig::default();
        if let Some(v) = self.chain_id {
            if v == 0 {
                return Err(("boson.chain_id".into(), "must be greater than 0".into()));
            }
            c.chain_id = v;
        }
        if let Some(a) = &self.diamond {
            c.diamond = a
                .parse()
                .map_err(|e| ("boson.diamond".to_string(), format!("not an address: {e}")))?;
        }
        if let Some(t) = self.block_time {
            c.block_time = t;
        }
        if let Some(d) = self.safe_depth {
            c.safe_depth = d;
        }
        if let Some(d) = self.finalized_depth {
            c.finalized_depth = d;
        }
        if let Some(d) = self.max_reorg_depth {
            if d == 0 || d > 1_024 {
                return Err(("boson.max_reorg_depth".into(), "must be 1..=1024".into()));
            }
            c.max_reorg_depth = d;
        }
        if let Some(h) = self.history {
            if h < Duration::from_secs(1) {
                return Err(("boson.history".into(), "must be at least 1s".into()));
            }
            c.history = h;
        }
        if let Some(g) = self.base_fee_gwei {
            c.base_fee = u128::from(g) * GWEI;
        }
        if let Some(id) = self.known_offer {
            if id == 0 {
                return Err(("boson.known_offer".into(), "offer ids start at 1".into()));
            }
            c.known_offer = id;
        }
        if let Some(n) = self.buyers {
            if !(1..=MAX_BUYERS).contains(&n) {
                return Err(("boson.buyers".into(), format!("must be 1..={MAX_BUYERS}")));
            }
            c.buyers = n;
        }
        if let Some(n) = self.confirmations {
            if n > 1_024 {
                return Err(("boson.confirmations".into(), "must be 0..=1024".into()));
            }
            c.confirmations = n;
        }
        if let Some(d) = self.removal_notice_delay {
            c.removal_notice_delay = d;
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_history_under_a_second_is_refused_by_its_key() {
        let file = BosonFile {
            history: Some(Duration::from_millis(500)),
            ..BosonFile::default()
        };
        let (key, why) = file.resolve().expect_err("refused");
        assert_eq!(key, "boson.history");
        assert!(why.contains("at least 1s"), "{why}");
        let ok = BosonFile {
            history: Some(Duration::from_secs(3600)),
            ..BosonFile::default()
        };
        assert_eq!(
            ok.resolve().map(|c| c.history),
            Ok(Duration::from_secs(3600))
        );
    }
}
