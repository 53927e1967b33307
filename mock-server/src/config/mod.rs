//! The twin's configuration: the TOML a user writes (`twin.toml`), checked into a
//! `TwinConfig` in one place. Every error names the file, the line and the key.
//!
//! Secrets never live in the file: extra API keys and login passwords name the
//! environment variable that holds them.
//!
//! `TwinConfig` composes the sections: the engine's settings (defaults in
//! [`crate::engine::config`]) and Dual's (types and defaults in
//! [`crate::dual::config`], re-exported here). [`TwinConfig::engine`] and
//! [`TwinConfig::dual`] hand each its part. A second platform adds its section's
//! type next to its code, a field here, and its check in `file.rs`.

mod file;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::dual::config::DualConfig;
pub use crate::dual::config::{
    ALL_SCOPES, ApiKeyConfig, AuthConfig, DEFAULT_ACTION_CAPACITY, DEFAULT_ACTIONS_PER_SEC,
    DEFAULT_CHALLENGE_WINDOW, DEFAULT_CHECKPOINT_ACTIONS, DEFAULT_CHECKPOINT_INTERVAL,
    DEFAULT_JWT_TTL, DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY, DEFAULT_READS_PER_MIN,
    DEFAULT_REFRESH_TTL, DEFAULT_ROTATION_GRACE, DEFAULT_SEARCH_PER_MIN, DEFAULT_WEBHOOKS_PER_MIN,
    DEFAULT_WRITES_PER_MIN, Limits, SANDBOX_EMAIL, SANDBOX_ORG, SequencerConfig, SettlementMode,
    UserConfig,
};
use crate::engine::config::EngineConfig;
pub use crate::engine::config::{DEFAULT_MIN_BACKOFF, DEFAULT_TAPE_CAPACITY, MAX_MIN_BACKOFF};
use crate::engine::faults::{Rule, SpecError};
use crate::engine::secret::SecretString;

/// A checked twin configuration.
#[derive(Debug, Clone)]
pub struct TwinConfig {
    /// One seed for every random draw of the run.
    pub seed: u64,
    /// Twin seconds per real second.
    pub time_scale: f64,
    pub limits: Limits,
    pub auth: AuthConfig,
    pub sequencer: SequencerConfig,
    pub faults: Vec<Rule>,
    /// Needed in `x-gauntlet-token` for `/_gauntlet/*`; an empty token refuses every call.
    pub control_token: SecretString,
    pub tape_capacity: usize,
    pub action_capacity: usize,
    /// The least a client must wait after a faulted reply that advised nothing
    /// ([`DEFAULT_MIN_BACKOFF`]); zero leaves such retries ungraded.
    pub min_backoff: Duration,
    /// The Boson chain and protocol (`[boson]`); defaults match core-sdk's local config.
    pub boson: crate::boson::BosonConfig,
}

impl TwinConfig {
    /// The sandbox: one org, one all-scopes key, the sandbox login, no faults.
    pub fn sandbox(api_key: impl Into<String>, control_token: impl Into<String>) -> Self {
        let api_key = SecretString::new(api_key);
        let scopes: Vec<String> = ALL_SCOPES.iter().map(|s| s.to_string()).collect();
        Self {
            seed: 0,
            time_scale: 1.0,
            limits: Limits {
                actions_per_sec: DEFAULT_ACTIONS_PER_SEC,
                max_batch: DEFAULT_MAX_BATCH,
                max_body_bytes: DEFAULT_MAX_BODY,
                reads_per_min: DEFAULT_READS_PER_MIN,
                writes_per_min: DEFAULT_WRITES_PER_MIN,
                search_per_min: DEFAULT_SEARCH_PER_MIN,
                webhooks_per_min: DEFAULT_WEBHOOKS_PER_MIN,
                fee_per_action: 0.0,
                org_balance: 0.0,
            },
            auth: AuthConfig {
                keys: vec![ApiKeyConfig {
                    key: api_key.clone(),
                    org: SANDBOX_ORG.into(),
                    scopes: scopes.clone(),
                    signer: None,
                }],
                users: vec![UserConfig {
                    email: SANDBOX_EMAIL.into(),
                    password: api_key,
                    org: SANDBOX_ORG.into(),
                    scopes,
                }],
                jwt_ttl: DEFAULT_JWT_TTL,
                refresh_ttl: DEFAULT_REFRESH_TTL,
                rotation_grace: DEFAULT_ROTATION_GRACE,
                require_eip712: false,
                eip712_chain_id: crate::dual::eip712::DEFAULT_CHAIN_ID,
            },
            sequencer: SequencerConfig {
                interval: DEFAULT_CHECKPOINT_INTERVAL,
                max_actions: DEFAULT_CHECKPOINT_ACTIONS,
                challenge_window: DEFAULT_CHALLENGE_WINDOW,
                mode: SettlementMode::Optimistic,
            },
            faults: Vec::new(),
            control_token: SecretString::new(control_token),
            tape_capacity: DEFAULT_TAPE_CAPACITY,
            action_capacity: DEFAULT_ACTION_CAPACITY,
            min_backoff: DEFAULT_MIN_BACKOFF,
            boson: crate::boson::BosonConfig::default(),
        }
    }

    /// The engine's part.
    pub fn engine(&self) -> EngineConfig {
        EngineConfig {
            seed: self.seed,
            time_scale: self.time_scale,
            faults: self.faults.clone(),
            control_token: self.control_token.clone(),
            tape_capacity: self.tape_capacity,
            min_backoff: self.min_backoff,
            max_body_bytes: self.limits.max_body_bytes,
        }
    }

    /// Dual's part.
    pub fn dual(&self) -> DualConfig {
        DualConfig {
            limits: self.limits.clone(),
            auth: self.auth.clone(),
            sequencer: self.sequencer.clone(),
            action_capacity: self.action_capacity,
        }
    }

    /// Read `path` over the sandbox defaults; `env` looks up secrets by variable name.
    pub fn load(
        path: &Path,
        base: TwinConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<TwinConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.into(),
            line: None,
            key: String::new(),
            message: e.to_string(),
        })?;
        Self::from_toml(&text, path, base, env)
    }

    /// Parse and check a twin file's text; `path` is only for messages.
    pub fn from_toml(
        text: &str,
        path: &Path,
        base: TwinConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<TwinConfig, ConfigError> {
        let raw: file::TwinFile = from_toml(text, path)?;
        raw.check(text, path, base, env)
    }
}

/// A configuration error: which file, which line, which key, what was wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": key `{}`", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Deserialize TOML into `T`, naming file, line and key on failure. The harness's
/// plan loader uses this too, so every TOML error in gauntlet reads the same.
pub fn from_toml<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T, ConfigError> {
    let fail = |key: String, span: Option<std::ops::Range<usize>>, message: &str| ConfigError {
        file: path.into(),
        line: span.map(|s| line_of(text, s.start)),
        key,
        message: message.trim().to_string(),
    };
    let de =
        toml::Deserializer::parse(text).map_err(|e| fail(String::new(), e.span(), e.message()))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let key = if key == "." { String::new() } else { key };
        fail(key, e.inner().span(), e.inner().message())
    })
}

/// 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Turn a rule-list error into a config error at the rule's line.
pub fn spec_error(
    err: SpecError,
    path: &Path,
    text: &str,
    spans: &[std::ops::Range<usize>],
) -> ConfigError {
    let index = err
        .key
        .split_once('[')
        .and_then(|(_, rest)| rest.split_once(']'))
        .and_then(|(i, _)| i.parse::<usize>().ok());
    ConfigError {
        file: path.into(),
        line: index
            .and_then(|i| spans.get(i))
            .map(|s| line_of(text, s.start)),
        key: err.key,
        message: err.reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<TwinConfig, ConfigError> {
        let env = |name: &str| (name == "TEAM_KEY").then(|| "sk_team_123456".to_string());
        TwinConfig::from_toml(
            text,
            Path::new("twin.toml"),
            TwinConfig::sandbox("sk", "tok"),
            env,
        )
    }

    #[test]
    fn a_full_file_is_read() {
        let c = load(
            "seed = 9\ntime_scale = 60.0\nmin_backoff = \"250ms\"\n[limits]\nactions_per_sec = 1000\n[sequencer]\nmode = \"zk\"\n\
             [[auth.keys]]\nenv = \"TEAM_KEY\"\norg = \"org_team\"\nscopes = [\"actions:read\"]\n\
             [[faults]]\nkind = \"status\"\nstatus = 503\nat = \"10s\"\nfor = \"5s\"\n",
        )
        .expect("valid");
        assert_eq!(
            (c.seed, c.time_scale, c.limits.actions_per_sec),
            (9, 60.0, 1000)
        );
        assert_eq!(c.sequencer.mode, SettlementMode::Zk);
        assert_eq!(c.min_backoff, Duration::from_millis(250));
        assert_eq!(c.auth.keys[1].key.expose(), "sk_team_123456");
        assert_eq!(c.faults.len(), 1);
        assert!(!c.auth.require_eip712 && c.auth.keys[1].signer.is_none());
    }

    #[test]
    fn eip712_keys_are_read() {
        let c = load(
            "[auth]\nrequire_eip712 = true\neip712_chain_id = 137\n\
             [[auth.keys]]\nenv = \"TEAM_KEY\"\norg = \"org_team\"\nsigner = \"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\"\n",
        )
        .expect("valid");
        assert!(c.auth.require_eip712);
        assert_eq!(c.auth.eip712_chain_id, 137);
        assert_eq!(
            c.auth.keys[1]
                .signer
                .map(|a| a.to_checksum(None))
                .as_deref(),
            Some("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")
        );
        let err = load(
            "[auth]\nrequire_eip712 = true\n[[auth.keys]]\nenv = \"TEAM_KEY\"\norg = \"o\"\nsigner = \"0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\"\n",
        )
        .expect_err("a wrong checksum");
        assert!(err.to_string().contains("EIP-55"), "{err}");
    }

    #[test]
    fn errors_name_line_and_key() {
        let cases = [
            ("seed = \"x\"\n", Some(1), "seed"),
            (
                "[limits]\nactions_per_sec = 10\nbogus = 1\n",
                Some(3),
                "limits.bogus",
            ),
            (
                "\n\n[[faults]]\nkind = \"status\"\nstatus = 503\n[[faults]]\nkind = \"reset\"\nprobability = 3.0\n",
                Some(6),
                "faults[1].probability",
            ),
            (
                "[[auth.keys]]\nenv = \"MISSING\"\norg = \"o\"\n",
                Some(1),
                "auth.keys[0].env",
            ),
            ("[sequencer]\nmode = \"fast\"\n", None, "sequencer.mode"),
            ("seed = \n", Some(1), ""),
            ("min_backoff = \"1h\"\n", None, "min_backoff"),
            (
                "[auth]\nrequire_eip712 = true\n[[auth.keys]]\nenv = \"TEAM_KEY\"\norg = \"o\"\nsigner = \"0x12\"\n",
                Some(3),
                "auth.keys[0].signer",
            ),
            (
                "[[auth.keys]]\nenv = \"TEAM_KEY\"\norg = \"o\"\nsigner = \"0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed\"\n",
                Some(1),
                "auth.keys[0].signer",
            ),
            (
                "[auth]\neip712_chain_id = 0\n",
                None,
                "auth.eip712_chain_id",
            ),
        ];
        for (text, line, key) in cases {
            let err = load(text).expect_err(text);
            assert_eq!((err.line, err.key.as_str()), (line, key), "{err}");
            assert!(err.to_string().starts_with("twin.toml"), "{err}");
        }
    }
}
