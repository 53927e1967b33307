//! What a smoke run needs, resolved before any request: the plan (`[smoke]` and the
//! expected contracts per environment), base URLs from the environment (or an
//! `--env-file`, which may hold no secret), secrets from the environment only, and
//! the checks that keep sandbox settings out of production and the reverse.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use serde::Deserialize;

use crate::exit::UsageError;

/// The smoke plan as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmokePlan {
    #[serde(default)]
    pub smoke: Settings,
    /// Expected contracts per environment (`sandbox`, `production`).
    #[serde(default)]
    pub environments: BTreeMap<String, Environment>,
}

/// `[smoke]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Blocks on top of a transaction, its own included, before the next step.
    pub confirmations: u64,
    /// The bound on each wait of a step (mining, confirmations, the subgraph).
    #[serde(with = "humantime_serde")]
    pub step_deadline: Duration,
    /// Requests per second, at most [`MAX_RATE`].
    pub rate: f64,
    /// The total value the walks may move, in ETH; a step that would pass it refuses.
    pub max_value_eth: f64,
    /// The subgraph more than this many blocks behind the chain's head is stale.
    pub subgraph_stale_blocks: u64,
    /// With `BOSON_RELAYER_URL` set: send directly when the relayer is down
    /// (never after it accepted a transaction).
    pub relayer_fallback: bool,
    /// The wallets' expected daily burn, in ETH: a balance below 0.5x, 0.2x or
    /// 0.1x of it is warned about (the seed's drain alerts). 0 turns it off.
    pub daily_burn_eth: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            confirmations: 3,
            step_deadline: Duration::from_secs(120),
            rate: 2.0,
            max_value_eth: 0.1,
            subgraph_stale_blocks: 20,
            relayer_fallback: true,
            daily_burn_eth: 0.05,
        }
    }
}

/// The hard cap on the smoke's request rate, whatever the plan says.
pub const MAX_RATE: f64 = 5.0;

/// One environment's expected deployment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    pub boson: Option<BosonExpected>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BosonExpected {
    pub chain_id: u64,
    pub diamond: Address,
}

impl SmokePlan {
    pub fn load(path: &Path) -> anyhow::Result<SmokePlan> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
        let plan: SmokePlan =
            toml::from_str(&text).map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
        let s = &plan.smoke;
        if !(s.rate > 0.0 && s.rate <= MAX_RATE) {
            return Err(UsageError(format!(
                "{}: smoke.rate must be above 0 and at most {MAX_RATE} requests a second",
                path.display()
            ))
            .into());
        }
        if !(s.max_value_eth >= 0.0 && s.max_value_eth.is_finite()) {
            return Err(UsageError(format!(
                "{}: smoke.max_value_eth must be >= 0",
                path.display()
            ))
            .into());
        }
        Ok(plan)
    }
}

/// The Boson side of a smoke run.
#[derive(Debug)]
pub struct BosonTarget {
    pub rpc: String,
    pub subgraph: Option<String>,
    /// The relayer (base URL, API key, API id), when `BOSON_RELAYER_URL` is set.
    pub relayer: Option<(String, gauntlet_mock::SecretString, String)>,
    pub offer: u64,
    pub buyer: PrivateKeySigner,
    pub expected: BosonExpected,
}

/// Where a variable comes from: the environment, then the `--env-file`.
pub struct Vars<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub file: BTreeMap<String, String>,
    /// `sandbox` or `production`: `NAME_PRODUCTION` wins over `NAME`.
    pub environment: String,
}

impl std::fmt::Debug for Vars<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vars")
            .field("environment", &self.environment)
            .field("file", &self.file.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Suffixes of names that hold secrets: never read from a file.
const SECRET_SUFFIXES: [&str; 5] = ["_KEY", "_KEYS", "_SECRET", "_TOKEN", "_PASSWORD"];

pub fn is_secret_name(name: &str) -> bool {
    SECRET_SUFFIXES.iter().any(|s| name.ends_with(s))
}

impl Vars<'_> {
    /// A plain setting (a URL, an id): per environment first, then plain; the
    /// environment before the file.
    pub fn setting(&self, name: &str) -> Option<String> {
        let specific = format!("{name}_{}", self.environment.to_uppercase());
        [specific.as_str(), name].iter().find_map(|n| {
            (self.env)(n)
                .or_else(|| self.file.get(*n).cloned())
                .filter(|v| !v.trim().is_empty())
        })
    }

    /// A secret: the environment only.
    pub fn secret(&self, name: &str) -> Option<String> {
        (self.env)(name).filter(|v| !v.trim().is_empty())
    }
}

/// Read a `.env`-style file: `NAME=value` lines, `#` comments, optional quotes.
/// A secret's name in it is refused: secrets come from the environment only.
pub fn read_env_file(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read --env-file {}: {e}", path.display())))?;
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((name, value)) = line.split_once('=') else {
            return Err(
                UsageError(format!("{}:{}: expected NAME=value", path.display(), i + 1)).into(),
            );
        };
        let name = name.trim();
        if is_secret_name(name) {
            return Err(UsageError(format!(
                "{}:{}: {name} looks like a secret; secrets come from the environment only, never from a file",
                path.display(),
                i + 1
            ))
            .into());
        }
        let value = value.trim().trim_matches('"').trim_matches('\'');
        out.insert(name.to_string(), value.to_string());
    }
    Ok(out)
}

/// Does this base URL look like a sandbox or test deployment?
pub fn looks_sandbox(url: &str) -> bool {
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default();
    crate::target::is_loopback(url)
        || host.split(['.', '-']).any(|label| {
            ["sandbox", "staging", "test", "testnet", "amoy", "sepolia"].contains(&label)
        })
}

/// Does this key look like a sandbox key?
pub fn key_looks_sandbox(key: &str) -> bool {
    ["sk_test_", "sk_sandbox_", "test_", "sandbox_"]
        .iter()
        .any(|p| key.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_told_by_name_and_sandbox_by_look() {
        assert!(is_secret_name("DUAL_API_KEY"));
        assert!(is_secret_name("GAUNTLET_WEBHOOK_SECRET"));
        assert!(!is_secret_name("BOSON_RPC_URL"));
        assert!(key_looks_sandbox("sk_sandbox_abc"));
        assert!(!key_looks_sandbox("sk_live_abc"));
        assert!(looks_sandbox("https://sandbox.api.example"));
        assert!(looks_sandbox("http://127.0.0.1:8080"));
        assert!(!looks_sandbox("https://api.example.com"));
        assert!(looks_sandbox("https://polygon-amoy.g.alchemy.com/v2/x"));
        assert!(
            !looks_sandbox("https://api.example.com/latest/test"),
            "the host decides, not the path"
        );
    }
}
