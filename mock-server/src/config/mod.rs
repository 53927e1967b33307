//! The twin's configuration: the TOML a user writes (`twin.toml`), checked into a
//! `TwinConfig` in one place. Every error names the file, the line and the key.
//!
//! Secrets never live in the file: extra API keys and login passwords name the
//! environment variable that holds them.

mod file;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::SecretString;
use crate::faults::{Rule, SpecError};

/// Dual's event-bus limit per organization (docs/design.md).
pub const DEFAULT_ACTIONS_PER_SEC: u32 = 2_000;
/// Dual's batch limit.
pub const DEFAULT_MAX_BATCH: usize = 500;
/// 500 actions with generous payloads fit in well under this.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;
/// Dual's other rate-limit groups (docs/design.md), per minute.
pub const DEFAULT_READS_PER_MIN: u32 = 300;
pub const DEFAULT_WRITES_PER_MIN: u32 = 60;
pub const DEFAULT_SEARCH_PER_MIN: u32 = 120;
pub const DEFAULT_WEBHOOKS_PER_MIN: u32 = 30;
/// A common access-token lifetime; short enough that soaks exercise refresh.
pub const DEFAULT_JWT_TTL: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_REFRESH_TTL: Duration = Duration::from_secs(24 * 3600);
/// Dual's documented grace period for a rotated key.
pub const DEFAULT_ROTATION_GRACE: Duration = Duration::from_secs(5 * 60);
/// Dual's sequencer: a checkpoint every 15 minutes or 10,000 actions.
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_CHECKPOINT_ACTIONS: u64 = 10_000;
/// Optimistic mode's challenge window before finality.
pub const DEFAULT_CHALLENGE_WINDOW: Duration = Duration::from_secs(4 * 3600);
/// Enough tape for a nightly run's faults; older entries are counted, not kept.
pub const DEFAULT_TAPE_CAPACITY: usize = 100_000;
/// Action records kept for `GET /ebus/actions/{id}` (the oracle's counts are kept apart).
pub const DEFAULT_ACTION_CAPACITY: usize = 1_000_000;
/// A retry after a faulted reply that gave no advice (a 5xx without `Retry-After`, a
/// reset or dropped connection, a hang the twin caused) is early when it comes back
/// sooner than this. Half of the platform's documented first backoff step (1 s, plus
/// up to 1 s of jitter): a client following the documented schedule clears it with
/// room for timer slack, while one that retries at once or in a tight loop does not.
pub const DEFAULT_MIN_BACKOFF: Duration = Duration::from_millis(500);
/// The largest `min_backoff` accepted: past this it would call a patient client early.
pub const MAX_MIN_BACKOFF: Duration = Duration::from_secs(5 * 60);
/// The default organization of the sandbox key.
pub const SANDBOX_ORG: &str = "org_sandbox";
/// The default login of the sandbox user; its password is the sandbox API key.
pub const SANDBOX_EMAIL: &str = "sandbox@gauntlet.test";

/// Every scope the twin knows. A key or user without a route's scope gets 403.
pub const ALL_SCOPES: [&str; 6] = [
    "actions:write",
    "actions:read",
    "objects:read",
    "templates:read",
    "templates:write",
    "webhooks:manage",
];

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
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub actions_per_sec: u32,
    pub max_batch: usize,
    pub max_body_bytes: usize,
    pub reads_per_min: u32,
    pub writes_per_min: u32,
    pub search_per_min: u32,
    pub webhooks_per_min: u32,
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub keys: Vec<ApiKeyConfig>,
    pub users: Vec<UserConfig>,
    pub jwt_ttl: Duration,
    pub refresh_ttl: Duration,
    pub rotation_grace: Duration,
}

#[derive(Debug, Clone)]
pub struct ApiKeyConfig {
    pub key: SecretString,
    pub org: String,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct UserConfig {
    pub email: String,
    pub password: SecretString,
    pub org: String,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettlementMode {
    /// Sealed checkpoints sit in a challenge window before they are final.
    Optimistic,
    /// Sealed checkpoints are final at once.
    Zk,
}

#[derive(Debug, Clone)]
pub struct SequencerConfig {
    pub interval: Duration,
    pub max_actions: u64,
    pub challenge_window: Duration,
    pub mode: SettlementMode,
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
            },
            auth: AuthConfig {
                keys: vec![ApiKeyConfig {
                    key: api_key.clone(),
                    org: SANDBOX_ORG.into(),
                    scopes: scopes.clone(),
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
        ];
        for (text, line, key) in cases {
            let err = load(text).expect_err(text);
            assert_eq!((err.line, err.key.as_str()), (line, key), "{err}");
            assert!(err.to_string().starts_with("twin.toml"), "{err}");
        }
    }
}
