//! Checking a rule as written (`RuleSpec`) into the `Rule` the engine runs, in one
//! place for TOML and JSON alike; every refusal names the key that is wrong.

use super::chain;
use super::latency::Latency;
use super::relayer::{self, RelayerMode};
use super::route::RoutePattern;
use super::spec::{
    DEFAULT_HANG, FORBIDDEN_HEADERS, FaultKind, MAX_DELAY, MAX_WINDOW, Rule, RuleSpec, SpecError,
    When,
};
use super::webhook::WebhookFault;

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
        if self.for_.is_some_and(|d| d.is_zero()) {
            return Err(err(
                "for",
                "a window must be longer than 0 (remove the rule to disable it)".into(),
            ));
        }
        let when = self.when(at)?;
        self.check_kind_timing(&kind, when, at)?;
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

    /// What a kind demands of when and how often: a stall, a pause and a relayer's
    /// `refuse` need a window (a stall's at most [`MAX_DELAY`], it holds requests for
    /// all of it); a pause and a refusal are not drawn, so they take no
    /// `probability` nor `limit`.
    fn check_kind_timing(&self, kind: &FaultKind, when: When, at: &str) -> Result<(), SpecError> {
        let err = |key: &str, reason: String| SpecError {
            key: format!("{at}.{key}"),
            reason,
        };
        if !matches!(
            kind,
            FaultKind::Stall | FaultKind::Pause { .. } | FaultKind::Relayer(RelayerMode::Refuse)
        ) {
            return Ok(());
        }
        let name = kind.name();
        match when {
            When::Always => {
                return Err(err(
                    "for",
                    format!("kind {name} needs a window: `at` + `for`, or `every` + `for`"),
                ));
            }
            When::Window { len, .. } | When::Every { len, .. }
                if *kind == FaultKind::Stall && len > MAX_DELAY =>
            {
                return Err(err(
                    "for",
                    format!(
                        "a stall holds requests for the whole window: at most {}",
                        humantime::format_duration(MAX_DELAY)
                    ),
                ));
            }
            _ => {}
        }
        if *kind != FaultKind::Stall {
            for (key, given) in [
                ("probability", self.probability.is_some()),
                ("limit", self.limit.is_some()),
            ] {
                if given {
                    return Err(err(
                        key,
                        format!(
                            "kind {name} holds for its whole window and is not drawn; remove `{key}`"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// When the rule is live, from `at`, `for` and `every`.
    fn when(&self, at: &str) -> Result<When, SpecError> {
        let err = |key: &str, reason: String| SpecError {
            key: format!("{at}.{key}"),
            reason,
        };
        Ok(match (self.at, self.for_, self.every) {
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
                if len >= period {
                    return Err(err(
                        "every",
                        format!(
                            "must be longer than `for` ({})",
                            humantime::format_duration(len)
                        ),
                    ));
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
        })
    }

    fn kind(&self, at: &str) -> Result<FaultKind, SpecError> {
        let err = |key: &str, reason: String| SpecError {
            key: format!("{at}.{key}"),
            reason,
        };
        // A fault's status stands for a failure: a 1xx, 2xx or 3xx would be a
        // reply the client should act on, not an error it should survive.
        let status_ok = |s: u16, key: &str| {
            if (400..=599).contains(&s) {
                Ok(s)
            } else {
                Err(err(
                    key,
                    format!("{s} is not an error status; expected 4xx or 5xx"),
                ))
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
                check_headers(&headers).map_err(|(name, reason)| {
                    err(&format!("headers.{name}"), reason.to_string())
                })?;
                FaultKind::Status {
                    status,
                    retry_after,
                    headers,
                    body: self.body.clone(),
                }
            }
            "latency" => FaultKind::Latency(Latency::from_spec(self).map_err(|(k, r)| err(k, r))?),
            "reset" => FaultKind::Reset,
            "stall" => FaultKind::Stall,
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
                for (j, c) in codes.iter().enumerate() {
                    status_ok(*c, &format!("codes[{j}]"))?;
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
            "relayer" => {
                if self.route.is_some() {
                    return Err(err(
                        "route",
                        "relayer faults apply to the relayer wherever it is served, not to routes"
                            .into(),
                    ));
                }
                relayer::kind_from_spec(self).map_err(|(k, r)| err(k, r))?
            }
            k if FaultKind::CHAIN_NAMES.contains(&k) => {
                if self.route.is_some() {
                    return Err(err(
                        "route",
                        "chain faults apply to blocks, not routes".into(),
                    ));
                }
                chain::kind_from_spec(self).map_err(|(k, r)| err(&k, r))?
            }
            other => {
                return Err(err(
                    "kind",
                    format!(
                        "unknown kind `{other}`; expected one of {}, {}, {}, relayer",
                        FaultKind::NAMES.join(", "),
                        WebhookFault::NAMES.join(", "),
                        FaultKind::CHAIN_NAMES.join(", ")
                    ),
                ));
            }
        })
    }

    /// Fields that belong to another kind are mistakes: say so rather than ignore them.
    fn reject_foreign_fields(&self, at: &str) -> Result<(), SpecError> {
        let given: [(&str, bool); 24] = [
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
            ("depth", self.depth.is_some()),
            ("fate", self.fate.is_some()),
            ("regions", self.regions.is_some()),
            ("quota", self.quota.is_some()),
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
            kind if FaultKind::CHAIN_NAMES.contains(&kind) => chain::fields(kind),
            "relayer" => relayer::FIELDS,
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

/// Refuse header names and values that are not HTTP, the framing and hop-by-hop
/// headers, and a name given twice (names are case-insensitive); the error is the
/// name as written and the reason.
fn check_headers(headers: &[(String, String)]) -> Result<(), (&str, &'static str)> {
    let mut seen = std::collections::HashSet::new();
    for (name, value) in headers {
        let Ok(parsed) = http::HeaderName::try_from(name.as_str()) else {
            return Err((name, "is not a valid HTTP header name"));
        };
        if http::HeaderValue::try_from(value.as_str()).is_err() {
            return Err((name, "is not a valid HTTP header value"));
        }
        if FORBIDDEN_HEADERS.contains(&parsed.as_str()) {
            return Err((
                name,
                "frames the message or belongs to the connection; a fault may not set it",
            ));
        }
        if !seen.insert(parsed) {
            return Err((name, "is given twice (header names are case-insensitive)"));
        }
    }
    Ok(())
}

fn default_route(kind: &FaultKind) -> &'static str {
    match kind {
        FaultKind::PartialBatch { .. } => "POST /ebus/actions/batch",
        FaultKind::HealthDegraded => "GET /health",
        _ => "*",
    }
}
