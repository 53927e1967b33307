//! Dual's sections of the twin file, checked: rate limits, auth, the sequencer,
//! and their defaults (Dual's documented values). `crate::config` reads them.

use std::time::Duration;

use crate::engine::secret::SecretString;

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
/// Action records kept for `GET /ebus/actions/{id}` (the oracle's counts are kept apart).
pub const DEFAULT_ACTION_CAPACITY: usize = 1_000_000;
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

#[derive(Debug, Clone)]
pub struct Limits {
    pub actions_per_sec: u32,
    pub max_batch: usize,
    pub max_body_bytes: usize,
    pub reads_per_min: u32,
    pub writes_per_min: u32,
    pub search_per_min: u32,
    pub webhooks_per_min: u32,
    /// DUAL tokens each applied action costs the organization (0: free).
    pub fee_per_action: f64,
    /// The organization's DUAL token balance at the start (and after a reset).
    pub org_balance: f64,
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub keys: Vec<ApiKeyConfig>,
    pub users: Vec<UserConfig>,
    pub jwt_ttl: Duration,
    pub refresh_ttl: Duration,
    pub rotation_grace: Duration,
    /// Every mutation must carry a valid EIP-712 signature (`dual::eip712`), so a
    /// client's signing path is exercised; off by default, as Dual's sandbox.
    pub require_eip712: bool,
    /// The `chainId` of the signatures' domain.
    pub eip712_chain_id: u64,
}

#[derive(Debug, Clone)]
pub struct ApiKeyConfig {
    pub key: SecretString,
    pub org: String,
    pub scopes: Vec<String>,
    /// When set, this key's mutations must be signed by this address: a leaked
    /// API key alone cannot write.
    pub signer: Option<super::eip712::Address>,
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

/// Everything Dual's twin needs from the configuration.
#[derive(Debug, Clone)]
pub struct DualConfig {
    pub limits: Limits,
    pub auth: AuthConfig,
    pub sequencer: SequencerConfig,
    /// Action records kept for `GET /ebus/actions/{id}`.
    pub action_capacity: usize,
}
