//! Fault rules: what a user writes (`RuleSpec`) and the checked `Rule` the engine runs.
//!
//! A rule is *what* (kind and its parameters) + *where* (route pattern) + *when*
//! (always, a window `at`+`for`, or `every` period with a `for` window) + *how often*
//! (probability, optional limit). The same spec is read from TOML (twin config, plan
//! files) and from JSON (control API), so one validation covers both.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::faults::Latency;
use crate::faults::route::RoutePattern;
use crate::faults::webhook::WebhookFault;
pub use crate::faults::when::When;

/// A fault rule as written. Every field is optional except `kind`; validation says
/// which fields a kind takes and rejects the rest by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// A name for reports and the tape; defaults to `<kind>#<index>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// status, latency, reset, hang, lost_reply, truncated, malformed, flat_error,
    /// partial_batch, health_degraded.
    pub kind: String,
    /// `[METHOD ]PATH` where PATH segments may be `*` (one segment) and a trailing
    /// `*` matches the rest: `POST /ebus/actions/batch`, `/ebus/*`, `*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Start of the window, counted from when the rules were installed.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub at: Option<Duration>,
    /// Length of the window (with `at`) or of each periodic window (with `every`).
    #[serde(
        default,
        rename = "for",
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub for_: Option<Duration>,
    /// Period of a recurring window; the first opens at `at` (default 0).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub every: Option<Duration>,
    /// Chance that a matching request gets the fault (default 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// At most this many injections over the rule's life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,

    /// status, lost_reply: the HTTP status sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// status: `Retry-After` seconds (429 and 503 default to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// status: extra response headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    /// status: a raw body instead of the error envelope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,

    /// latency: fixed, uniform, normal, lognormal, pareto.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dist: Option<String>,
    /// latency fixed: the delay.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub delay: Option<Duration>,
    /// latency uniform: bounds; every distribution: `max` caps a draw (default 30 s).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub min: Option<Duration>,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub max: Option<Duration>,
    /// latency normal: mean and standard deviation.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub mean: Option<Duration>,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub stddev: Option<Duration>,
    /// latency lognormal: the median and the shape sigma (of the log).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub median: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma: Option<f64>,
    /// latency pareto: the scale (the minimum delay) and the shape alpha.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub scale: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<f64>,

    /// hang: how long the request hangs before the connection is dropped (default 30 s).
    #[serde(
        default,
        rename = "hang_for",
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub hang_for: Option<Duration>,
    /// lost_reply: `status` (send `status`, default 502) or `drop` (close the connection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// partial_batch: share of the batch's actions that fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fraction: Option<f64>,
    /// partial_batch: the per-action codes drawn from (default [500, 503]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codes: Option<Vec<u16>>,

    /// webhook_*: the event types the rule applies to (`*`, `object.*`, an exact type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// webhook_duplicate: sequential, concurrent or after_ack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Answer with this status instead of handling the request.
    Status {
        status: u16,
        retry_after: Option<u64>,
        headers: Vec<(String, String)>,
        body: Option<String>,
    },
    /// Delay before handling.
    Latency(Latency),
    /// Close the connection with a TCP reset, nothing applied.
    Reset,
    /// Hold the request, then drop the connection, nothing applied.
    Hang(Duration),
    /// Apply, then lose the reply: send `Some(status)` or drop the connection.
    LostReply(Option<u16>),
    /// Apply, then send the real headers and half the body, then close.
    Truncated,
    /// Apply, then send a complete response whose body is not valid JSON.
    Malformed,
    /// Errors use the flat `{code,message,details}` shape instead of the envelope.
    FlatError,
    /// A share of the batch's actions fail with their own codes.
    PartialBatch { fraction: f64, codes: Vec<u16> },
    /// `GET /health` reports `degraded`.
    HealthDegraded,
    /// Something the twin does to a webhook delivery.
    Webhook(WebhookFault),
}

impl FaultKind {
    /// The kind's name as written in specs and on the tape.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Status { .. } => "status",
            Self::Latency(_) => "latency",
            Self::Reset => "reset",
            Self::Hang(_) => "hang",
            Self::LostReply(_) => "lost_reply",
            Self::Truncated => "truncated",
            Self::Malformed => "malformed",
            Self::FlatError => "flat_error",
            Self::PartialBatch { .. } => "partial_batch",
            Self::HealthDegraded => "health_degraded",
            Self::Webhook(w) => w.name(),
        }
    }

    /// Every kind name, for error messages and test tables.
    pub const NAMES: [&'static str; 10] = [
        "status",
        "latency",
        "reset",
        "hang",
        "lost_reply",
        "truncated",
        "malformed",
        "flat_error",
        "partial_batch",
        "health_degraded",
    ];
}

/// A checked rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub kind: FaultKind,
    pub route: RoutePattern,
    pub when: When,
    pub probability: f64,
    pub limit: Option<u64>,
    /// The spec it came from, returned by `GET /_gauntlet/rules`.
    pub spec: RuleSpec,
}

impl Rule {
    /// The same rule with its windows opening `by` later (for a caller whose own
    /// zero comes after the rules are installed).
    pub fn delayed(&self, by: Duration) -> Rule {
        let mut r = self.clone();
        match &mut r.when {
            When::Always => return r,
            When::Window { at, .. } | When::Every { at, .. } => *at += by,
        }
        r.spec.at = Some(r.spec.at.unwrap_or_default() + by);
        r
    }
}

/// A rule that does not make sense, naming the key that is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct SpecError {
    /// Path of the key within the rule list, e.g. `faults[2].probability`.
    pub key: String,
    pub reason: String,
}

/// Longest latency or hang a rule may ask for: keeps every request bounded in time.
pub const MAX_DELAY: Duration = Duration::from_secs(300);
/// Longest `at`, `for` or `every`: a year is longer than any soak, and keeps the
/// window arithmetic far from overflow.
pub const MAX_WINDOW: Duration = Duration::from_secs(366 * 24 * 3600);
/// Default cap on a latency draw, so a heavy tail cannot stall a run.
pub const DEFAULT_LATENCY_CAP: Duration = Duration::from_secs(30);
/// Default hang: longer than any sane client timeout, short enough to drain.
pub const DEFAULT_HANG: Duration = Duration::from_secs(30);

impl RuleSpec {
    /// Check one rule; `at` is its path for errors (e.g. `faults[2]`).
    pub fn validate(&self, at: &str) -> Result<Rule, SpecError> {
        let err = |key: &str, reason: String| SpecError {
            key: format!("{at}.{key}"),
            reason,
        };
        self.reject_foreign_fields(at)?;
        let kind = self.kind(at)?;
        let route_text = self
            .route
            .clone()
            .unwrap_or_else(|| default_route(&kind).to_string());
        let route = RoutePattern::parse(&route_text).map_err(|r| err("route", r))?;
        let probability = self.probability.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&probability) {
            return Err(err(
                "probability",
                format!("must be within 0..=1, got {probability}"),
            ));
        }
        if self.limit == Some(0) {
            return Err(err(
                "limit",
                "must be at least 1 (remove the rule to disable it)".into(),
            ));
        }
        for (key, d) in [("at", self.at), ("for", self.for_), ("every", self.every)] {
            if d.is_some_and(|d| d > MAX_WINDOW) {
                return Err(err(
                    key,
                    format!("at most {}", humantime::format_duration(MAX_WINDOW)),
                ));
            }
        }
        let when = match (self.at, self.for_, self.every) {
            (None, None, None) => When::Always,
            (at, Some(len), None) => When::Window {
                at: at.unwrap_or_default(),
                len,
            },
            (_, None, Some(_)) => {
                return Err(err(
                    "for",
                    "`every` needs `for`, the length of each window".into(),
                ));
            }
            (at, Some(len), Some(period)) => {
                if period.is_zero() || len > period {
                    return Err(err("every", format!("must be longer than `for` ({len:?})")));
                }
                When::Every {
                    at: at.unwrap_or_default(),
                    period,
                    len,
                }
            }
            (Some(_), None, None) => {
                return Err(err("for", "a window with `at` needs `for`".into()));
            }
        };
        Ok(Rule {
            name: self
                .name
                .clone()
                .unwrap_or_else(|| format!("{}@{at}", kind.name())),
            kind,
            route,
            when,
            probability,
            limit: self.limit,
            spec: self.clone(),
        })
    }

    fn kind(&self, at: &str) -> Result<FaultKind, SpecError> {
        let err = |key: &str, reason: String| SpecError {
            key: format!("{at}.{key}"),
            reason,
        };
        let status_ok = |s: u16, key: &str| {
            if (100..=599).contains(&s) {
                Ok(s)
            } else {
                Err(err(key, format!("{s} is not an HTTP status")))
            }
        };
        Ok(match self.kind.as_str() {
            "status" => {
                let status = status_ok(
                    self.status
                        .ok_or_else(|| err("status", "kind status needs `status`".into()))?,
                    "status",
                )?;
                let retry_after = self
                    .retry_after
                    .or(matches!(status, 429 | 503).then_some(1));
                let headers = self
                    .headers
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .collect::<Vec<_>>();
                for (name, value) in &headers {
                    if http::HeaderName::try_from(name.as_str()).is_err()
                        || http::HeaderValue::try_from(value.as_str()).is_err()
                    {
                        return Err(err(
                            &format!("headers.{name}"),
                            "is not a valid HTTP header".into(),
                        ));
                    }
                }
                FaultKind::Status {
                    status,
                    retry_after,
                    headers,
                    body: self.body.clone(),
                }
            }
            "latency" => FaultKind::Latency(Latency::from_spec(self).map_err(|(k, r)| err(k, r))?),
            "reset" => FaultKind::Reset,
            "hang" => {
                let hang = self.hang_for.unwrap_or(DEFAULT_HANG);
                if hang > MAX_DELAY {
                    return Err(err("hang_for", format!("at most {MAX_DELAY:?}")));
                }
                FaultKind::Hang(hang)
            }
            "lost_reply" => match self.reply.as_deref().unwrap_or("status") {
                "status" => {
                    FaultKind::LostReply(Some(status_ok(self.status.unwrap_or(502), "status")?))
                }
                "drop" => FaultKind::LostReply(None),
                other => {
                    return Err(err(
                        "reply",
                        format!("`{other}`: expected `status` or `drop`"),
                    ));
                }
            },
            "truncated" => FaultKind::Truncated,
            "malformed" => FaultKind::Malformed,
            "flat_error" => FaultKind::FlatError,
            "partial_batch" => {
                let fraction = self
                    .fraction
                    .ok_or_else(|| err("fraction", "kind partial_batch needs `fraction`".into()))?;
                if !(0.0..=1.0).contains(&fraction) {
                    return Err(err(
                        "fraction",
                        format!("must be within 0..=1, got {fraction}"),
                    ));
                }
                let codes = self.codes.clone().unwrap_or_else(|| vec![500, 503]);
                if codes.is_empty() {
                    return Err(err("codes", "needs at least one code".into()));
                }
                for c in &codes {
                    status_ok(*c, "codes")?;
                }
                FaultKind::PartialBatch { fraction, codes }
            }
            "health_degraded" => FaultKind::HealthDegraded,
            k if k.starts_with("webhook_") => {
                if self.route.is_some() {
                    return Err(err(
                        "route",
                        "webhook faults match `event`, not `route`".into(),
                    ));
                }
                FaultKind::Webhook(WebhookFault::from_spec(self).map_err(|(k, r)| err(k, r))?)
            }
            other => {
                return Err(err(
                    "kind",
                    format!(
                        "unknown kind `{other}`; expected one of {}, {}",
                        FaultKind::NAMES.join(", "),
                        WebhookFault::NAMES.join(", ")
                    ),
                ));
            }
        })
    }

    /// Fields that belong to another kind are mistakes: say so rather than ignore them.
    fn reject_foreign_fields(&self, at: &str) -> Result<(), SpecError> {
        let given: [(&str, bool); 20] = [
            ("status", self.status.is_some()),
            ("retry_after", self.retry_after.is_some()),
            ("headers", self.headers.is_some()),
            ("body", self.body.is_some()),
            ("dist", self.dist.is_some()),
            ("delay", self.delay.is_some()),
            ("min", self.min.is_some()),
            ("max", self.max.is_some()),
            ("mean", self.mean.is_some()),
            ("stddev", self.stddev.is_some()),
            ("median", self.median.is_some()),
            ("sigma", self.sigma.is_some()),
            ("scale", self.scale.is_some()),
            ("shape", self.shape.is_some()),
            ("hang_for", self.hang_for.is_some()),
            ("reply", self.reply.is_some()),
            ("fraction", self.fraction.is_some()),
            ("codes", self.codes.is_some()),
            ("event", self.event.is_some()),
            ("mode", self.mode.is_some()),
        ];
        let allowed: &[&str] = match self.kind.as_str() {
            "status" => &["status", "retry_after", "headers", "body"],
            "latency" => &[
                "dist", "delay", "min", "max", "mean", "stddev", "median", "sigma", "scale",
                "shape",
            ],
            "hang" => &["hang_for"],
            "lost_reply" => &["reply", "status"],
            "partial_batch" => &["fraction", "codes"],
            kind if WebhookFault::NAMES.contains(&kind) => WebhookFault::fields(kind),
            kind if FaultKind::NAMES.contains(&kind) => &[],
            // An unknown kind is reported by `kind()`.
            _ => return Ok(()),
        };
        match given
            .iter()
            .find(|(name, set)| *set && !allowed.contains(name))
        {
            Some((name, _)) => Err(SpecError {
                key: format!("{at}.{name}"),
                reason: format!("is not a field of kind {}", self.kind),
            }),
            None => Ok(()),
        }
    }
}

fn default_route(kind: &FaultKind) -> &'static str {
    match kind {
        FaultKind::PartialBatch { .. } => "POST /ebus/actions/batch",
        FaultKind::HealthDegraded => "GET /health",
        _ => "*",
    }
}

/// Check a whole rule list; `prefix` names the list (`faults`, `rules`).
pub fn validate_all(specs: &[RuleSpec], prefix: &str) -> Result<Vec<Rule>, SpecError> {
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| s.validate(&format!("{prefix}[{i}]")))
        .collect()
}
