//! The twin file as written (serde structs refusing unknown keys) and its checks,
//! one function per section.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::{
    ALL_SCOPES, ApiKeyConfig, ConfigError, SANDBOX_ORG, SettlementMode, TwinConfig, UserConfig,
    line_of, spec_error,
};
use crate::engine::faults::RuleSpec;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TwinFile {
    seed: Option<u64>,
    time_scale: Option<f64>,
    #[serde(default)]
    limits: LimitsFile,
    #[serde(default)]
    auth: AuthFile,
    #[serde(default)]
    sequencer: SequencerFile,
    #[serde(default)]
    boson: crate::boson::BosonFile,
    #[serde(default)]
    faults: Vec<toml::Spanned<RuleSpec>>,
    tape_capacity: Option<usize>,
    action_capacity: Option<usize>,
    #[serde(default, with = "humantime_serde")]
    min_backoff: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    actions_per_sec: Option<u32>,
    max_batch: Option<usize>,
    max_body_bytes: Option<usize>,
    reads_per_min: Option<u32>,
    writes_per_min: Option<u32>,
    search_per_min: Option<u32>,
    webhooks_per_min: Option<u32>,
    /// DUAL tokens per applied action (default 0).
    fee_per_action: Option<f64>,
    /// The organization's DUAL token balance at the start.
    org_balance: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthFile {
    #[serde(default, with = "humantime_serde")]
    jwt_ttl: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    refresh_ttl: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    rotation_grace: Option<Duration>,
    /// Every mutation must carry a valid EIP-712 signature.
    require_eip712: Option<bool>,
    eip712_chain_id: Option<u64>,
    #[serde(default)]
    keys: Vec<toml::Spanned<KeyFile>>,
    #[serde(default)]
    users: Vec<toml::Spanned<UserFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    /// The environment variable that holds the key.
    env: String,
    org: String,
    scopes: Option<Vec<String>>,
    /// The address that must sign this key's mutations (`0x` and 40 hex digits).
    signer: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserFile {
    email: String,
    /// The environment variable that holds the password.
    password_env: String,
    org: Option<String>,
    scopes: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SequencerFile {
    #[serde(default, with = "humantime_serde")]
    interval: Option<Duration>,
    max_actions: Option<u64>,
    #[serde(default, with = "humantime_serde")]
    challenge_window: Option<Duration>,
    mode: Option<String>,
}

/// Where the file is, for errors.
struct Src<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Src<'_> {
    fn err(&self, span: Option<Range<usize>>, key: &str, message: String) -> ConfigError {
        ConfigError {
            file: self.path.into(),
            line: span.map(|s| line_of(self.text, s.start)),
            key: key.into(),
            message,
        }
    }

    /// `Some(0)` is an error: every count here must be positive.
    fn positive<T: Copy + PartialEq + From<u8>>(
        &self,
        v: Option<T>,
        key: &str,
    ) -> Result<Option<T>, ConfigError> {
        match v {
            Some(x) if x == T::from(0) => Err(self.err(None, key, "must be greater than 0".into())),
            _ => Ok(v),
        }
    }
}

impl TwinFile {
    pub(super) fn check(
        self,
        text: &str,
        path: &Path,
        mut c: TwinConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<TwinConfig, ConfigError> {
        let src = Src { text, path };
        c.seed = self.seed.unwrap_or(c.seed);
        if let Some(scale) = self.time_scale {
            // Below 1 the twin's seconds outlast real ones: a client that waits
            // Retry-After in real seconds would look early.
            if !(scale >= 1.0 && scale.is_finite()) {
                return Err(src.err(
                    None,
                    "time_scale",
                    format!("must be at least 1, got {scale}"),
                ));
            }
            c.time_scale = scale;
        }
        self.limits.check(&src, &mut c)?;
        self.auth.check(&src, &mut c, env)?;
        self.sequencer.check(&src, &mut c)?;
        c.boson = self
            .boson
            .resolve()
            .map_err(|(key, message)| src.err(None, &key, message))?;
        let spans: Vec<_> = self.faults.iter().map(|f| f.span()).collect();
        let specs: Vec<RuleSpec> = self.faults.into_iter().map(|f| f.into_inner()).collect();
        c.faults = crate::engine::faults::spec::validate_all(&specs, "faults")
            .map_err(|e| spec_error(e, path, text, &spans))?;
        if let Some(n) = src.positive(self.tape_capacity, "tape_capacity")? {
            c.tape_capacity = n;
        }
        if let Some(n) = src.positive(self.action_capacity, "action_capacity")? {
            c.action_capacity = n;
        }
        if let Some(d) = self.min_backoff {
            if d > super::MAX_MIN_BACKOFF {
                return Err(src.err(
                    None,
                    "min_backoff",
                    format!(
                        "at most {}, got {}",
                        humantime::format_duration(super::MAX_MIN_BACKOFF),
                        humantime::format_duration(d)
                    ),
                ));
            }
            c.min_backoff = d;
        }
        Ok(c)
    }
}

impl LimitsFile {
    fn check(self, src: &Src<'_>, c: &mut TwinConfig) -> Result<(), ConfigError> {
        let l = &mut c.limits;
        for (v, key, slot) in [
            (
                self.actions_per_sec,
                "limits.actions_per_sec",
                &mut l.actions_per_sec,
            ),
            (
                self.reads_per_min,
                "limits.reads_per_min",
                &mut l.reads_per_min,
            ),
            (
                self.writes_per_min,
                "limits.writes_per_min",
                &mut l.writes_per_min,
            ),
            (
                self.search_per_min,
                "limits.search_per_min",
                &mut l.search_per_min,
            ),
            (
                self.webhooks_per_min,
                "limits.webhooks_per_min",
                &mut l.webhooks_per_min,
            ),
        ] {
            if let Some(v) = src.positive(v, key)? {
                *slot = v;
            }
        }
        for (v, key, slot) in [
            (self.max_batch, "limits.max_batch", &mut l.max_batch),
            (
                self.max_body_bytes,
                "limits.max_body_bytes",
                &mut l.max_body_bytes,
            ),
        ] {
            if let Some(v) = src.positive(v.map(|v| v as u64), key)? {
                *slot = v as usize;
            }
        }
        for (v, key, slot) in [
            (
                self.fee_per_action,
                "limits.fee_per_action",
                &mut l.fee_per_action,
            ),
            (self.org_balance, "limits.org_balance", &mut l.org_balance),
        ] {
            if let Some(v) = v {
                if !(v.is_finite() && (0.0..=1e15).contains(&v)) {
                    return Err(src.err(None, key, "must be within 0..=1e15".into()));
                }
                *slot = v;
            }
        }
        if l.max_batch as u64 > u64::from(l.actions_per_sec) {
            return Err(src.err(
                None,
                "limits.max_batch",
                "a batch larger than one second of rate could never be accepted".into(),
            ));
        }
        Ok(())
    }
}

impl AuthFile {
    fn check(
        self,
        src: &Src<'_>,
        c: &mut TwinConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        c.auth.jwt_ttl = self.jwt_ttl.unwrap_or(c.auth.jwt_ttl);
        c.auth.refresh_ttl = self.refresh_ttl.unwrap_or(c.auth.refresh_ttl);
        c.auth.rotation_grace = self.rotation_grace.unwrap_or(c.auth.rotation_grace);
        c.auth.require_eip712 = self.require_eip712.unwrap_or(c.auth.require_eip712);
        c.auth.eip712_chain_id = src
            .positive(self.eip712_chain_id, "auth.eip712_chain_id")?
            .unwrap_or(c.auth.eip712_chain_id);
        let secret = |var: &str, key: String, span: &Range<usize>| {
            env(var)
                .filter(|v| !v.is_empty())
                .map(crate::SecretString::new)
                .ok_or_else(|| {
                    src.err(
                        Some(span.clone()),
                        &key,
                        format!("environment variable {var} is not set"),
                    )
                })
        };
        for (i, k) in self.keys.into_iter().enumerate() {
            let span = k.span();
            let k = k.into_inner();
            let key = secret(&k.env, format!("auth.keys[{i}].env"), &span)?;
            let scopes = scopes(
                src,
                k.scopes,
                &format!("auth.keys[{i}].scopes"),
                span.clone(),
            )?;
            let signer = match k.signer {
                None => None,
                Some(s) => {
                    let at = format!("auth.keys[{i}].signer");
                    let a = crate::dual::eip712::parse_address(&s).map_err(|why| {
                        src.err(
                            Some(span.clone()),
                            &at,
                            format!("`{s}` is not an address: {why}"),
                        )
                    })?;
                    // A signer nobody checks would read as protection that is not there.
                    if !c.auth.require_eip712 {
                        return Err(src.err(
                            Some(span),
                            &at,
                            "a key's signer is checked only with auth.require_eip712 = true".into(),
                        ));
                    }
                    Some(a)
                }
            };
            c.auth.keys.push(ApiKeyConfig {
                key,
                org: k.org,
                scopes,
                signer,
            });
        }
        for (i, u) in self.users.into_iter().enumerate() {
            let span = u.span();
            let u = u.into_inner();
            let password = secret(
                &u.password_env,
                format!("auth.users[{i}].password_env"),
                &span,
            )?;
            let scopes = scopes(src, u.scopes, &format!("auth.users[{i}].scopes"), span)?;
            c.auth.users.push(UserConfig {
                email: u.email,
                password,
                org: u.org.unwrap_or(SANDBOX_ORG.into()),
                scopes,
            });
        }
        Ok(())
    }
}

fn scopes(
    src: &Src<'_>,
    given: Option<Vec<String>>,
    key: &str,
    span: Range<usize>,
) -> Result<Vec<String>, ConfigError> {
    let given = given.unwrap_or_else(|| ALL_SCOPES.iter().map(|s| s.to_string()).collect());
    match given.iter().find(|s| !ALL_SCOPES.contains(&s.as_str())) {
        Some(bad) => Err(src.err(
            Some(span),
            key,
            format!(
                "unknown scope `{bad}`; expected one of {}",
                ALL_SCOPES.join(", ")
            ),
        )),
        None => Ok(given),
    }
}

impl SequencerFile {
    fn check(self, src: &Src<'_>, c: &mut TwinConfig) -> Result<(), ConfigError> {
        if self.interval.is_some_and(|d| d.is_zero()) {
            return Err(src.err(None, "sequencer.interval", "must be greater than 0".into()));
        }
        c.sequencer.interval = self.interval.unwrap_or(c.sequencer.interval);
        c.sequencer.max_actions = src
            .positive(self.max_actions, "sequencer.max_actions")?
            .unwrap_or(c.sequencer.max_actions);
        c.sequencer.challenge_window = self
            .challenge_window
            .unwrap_or(c.sequencer.challenge_window);
        c.sequencer.mode = match self.mode.as_deref() {
            None => c.sequencer.mode,
            Some("optimistic") => SettlementMode::Optimistic,
            Some("zk") => SettlementMode::Zk,
            Some(other) => {
                return Err(src.err(
                    None,
                    "sequencer.mode",
                    format!("`{other}`: expected `optimistic` or `zk`"),
                ));
            }
        };
        Ok(())
    }
}
