//! Relayer faults (`kind = "relayer"`, `mode = ...`): what a meta-transaction
//! relayer in Biconomy's shape does on a bad day, decided per relayer request,
//! seeded, windowed and taped like request faults.
//!
//! The engine knows no relayer: it says which mode a request meets (and until when
//! its window runs), and whether the relayer's own listener should be closed now
//! (`refuse`); the platform that runs the relayer carries it out. Relayer rules never
//! match ordinary requests, and take no `route`: they apply to the relayer wherever
//! it is served.

use std::sync::atomic::Ordering;
use std::time::Duration;

use rand::Rng;

use super::chain::claim;
use super::spec::{DEFAULT_HANG, MAX_DELAY};
use super::{FaultEngine, FaultKind, MAX_TAPE_PATH, RequestFacts, RuleSpec, TapeEntry};

/// Which of Biconomy's limits a `limit_reached` reply says was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    Dapp,
    User,
    Api,
    Gas,
}

impl Quota {
    /// Every quota, as written in specs.
    pub const NAMES: [&'static str; 4] = ["dapp", "user", "api", "gas"];

    /// Biconomy's response code for the limit (mexa's `RESPONSE_BODY_CODES`; 153 is
    /// decentraland's `GAS_LIMIT_REACHED`).
    pub fn code(self) -> u16 {
        match self {
            Self::Dapp => 150,
            Self::User => 151,
            Self::Api => 152,
            Self::Gas => 153,
        }
    }

    /// Biconomy's message for the limit.
    pub fn message(self) -> &'static str {
        match self {
            Self::Dapp => "DApp limit reached",
            Self::User => "User limit reached",
            Self::Api => "API limit reached",
            Self::Gas => "Gas limit reached",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Dapp, Self::User, Self::Api, Self::Gas]
            .into_iter()
            .zip(Self::NAMES)
            .find(|(_, n)| *n == text)
            .map(|(q, _)| q)
    }
}

/// What the relayer does to a request (or, `refuse`, to its listener).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayerMode {
    /// Connection refused: the dedicated listener is closed for the window (a reset
    /// on the shared port's prefix). Needs a window; not drawn.
    Refuse,
    /// 503, with `Retry-After` when the rule gives one.
    Unavailable { retry_after: Option<u64> },
    /// Hold the request until the window ends or this bound, then close.
    Hang(Duration),
    /// Accept and answer a transaction hash that is never submitted.
    NeverMines,
    /// Submit, then replace the transaction with a higher fee under a new hash.
    Resubmit,
    /// Submit, then answer 417 `NonceUsedAlready` (the relayer's own retry met the
    /// nonce its first attempt used).
    NonceError,
    /// 429 with `Retry-After`.
    RateLimited { retry_after: u64 },
    /// 409 with Biconomy's limit code.
    LimitReached(Quota),
    /// 417: gas estimation failed.
    GasEstimation,
}

/// Which of the relayer's endpoints a request is for: a mode applies to some only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayerEndpoint {
    /// `POST /api/v2/meta-tx/native`.
    Relay,
    /// `GET /api/v1/meta-tx/resubmitted`.
    Status,
    /// `GET /ready`.
    Ready,
}

impl RelayerMode {
    /// Every mode, as written in specs.
    pub const NAMES: [&'static str; 9] = [
        "refuse",
        "unavailable",
        "hang",
        "never_mines",
        "resubmit",
        "nonce_error",
        "rate_limited",
        "limit_reached",
        "gas_estimation",
    ];

    /// The mode as written in specs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Refuse => "refuse",
            Self::Unavailable { .. } => "unavailable",
            Self::Hang(_) => "hang",
            Self::NeverMines => "never_mines",
            Self::Resubmit => "resubmit",
            Self::NonceError => "nonce_error",
            Self::RateLimited { .. } => "rate_limited",
            Self::LimitReached(_) => "limit_reached",
            Self::GasEstimation => "gas_estimation",
        }
    }

    /// Is the relayer down in this mode (so `/ready` says `false`)?
    pub fn is_outage(self) -> bool {
        matches!(
            self,
            Self::Refuse | Self::Unavailable { .. } | Self::Hang(_)
        )
    }

    /// Does the mode apply to requests for `endpoint`? Outages hit every endpoint;
    /// a rate limit also the status poll; what happens to a transaction only the
    /// relay call.
    pub fn applies_to(self, endpoint: RelayerEndpoint) -> bool {
        match endpoint {
            RelayerEndpoint::Relay => true,
            RelayerEndpoint::Status => self.is_outage() || matches!(self, Self::RateLimited { .. }),
            RelayerEndpoint::Ready => self.is_outage(),
        }
    }
}

/// The mode a relayer request met, from which rule, and when that rule's window
/// closes (twin time; `None` for an always-live rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayerFault {
    pub rule: String,
    pub mode: RelayerMode,
    pub until: Option<Duration>,
}

impl FaultEngine {
    /// The relayer mode one request meets: the first live relayer rule whose mode
    /// applies to `endpoint` and whose draw hits. It goes on the tape.
    pub fn decide_relayer(
        &self,
        req: &RequestFacts<'_>,
        endpoint: RelayerEndpoint,
        rng: &mut impl Rng,
    ) -> Option<RelayerFault> {
        let set = self.rules();
        let since = req.now.saturating_sub(set.epoch);
        for (rule, injected) in set.rules.iter().zip(&set.injected) {
            let FaultKind::Relayer(mode) = rule.kind else {
                continue;
            };
            if !mode.applies_to(endpoint) || !rule.when.live(since) {
                continue;
            }
            if rng.random::<f64>() >= rule.probability {
                continue;
            }
            if let Some(limit) = rule.limit
                && injected.fetch_add(1, Ordering::Relaxed) >= limit
            {
                continue;
            }
            self.tape.push(TapeEntry {
                seq: req.seq,
                at_ms: req.now.as_secs_f64() * 1000.0,
                request_id: req.request_id.to_string(),
                method: req.method.to_string(),
                path: req.path.chars().take(MAX_TAPE_PATH).collect(),
                rule: rule.name.clone(),
                kind: rule.kind.name(),
                op: req.op.to_string(),
            });
            return Some(RelayerFault {
                rule: rule.name.clone(),
                mode,
                until: rule.when.window_end(since).map(|end| set.epoch + end),
            });
        }
        None
    }

    /// Whether the relayer's own listener must be closed at twin time `at`: the end
    /// of the latest live `refuse` window (twin time), if one is open. Each window
    /// goes on the tape once, when first observed here (method `LISTEN`, sequence 0).
    pub fn relayer_refusing(&self, at: Duration) -> Option<Duration> {
        let set = self.rules();
        let since = at.saturating_sub(set.epoch);
        let mut until: Option<Duration> = None;
        for (rule, slot) in set.rules.iter().zip(&set.claimed) {
            if rule.kind != FaultKind::Relayer(RelayerMode::Refuse) {
                continue;
            }
            let Some(end) = rule.when.window_end(since) else {
                continue;
            };
            if claim(slot, &rule.when, 0, since) {
                self.tape.push(TapeEntry {
                    seq: 0,
                    at_ms: at.as_secs_f64() * 1000.0,
                    request_id: String::new(),
                    method: "LISTEN".into(),
                    path: "/relayer".into(),
                    rule: rule.name.clone(),
                    kind: rule.kind.name(),
                    op: String::new(),
                });
            }
            until = until.max(Some(set.epoch + end));
        }
        until
    }
}

/// The fields kind `relayer` takes (besides the common ones); `from_spec` says
/// which mode each belongs to.
pub(super) const FIELDS: &[&str] = &["mode", "quota", "retry_after", "hang_for"];

/// The relayer kind of `spec`; an error is the key (within the rule) and the reason.
pub(super) fn kind_from_spec(spec: &RuleSpec) -> Result<FaultKind, (&'static str, String)> {
    let Some(mode) = spec.mode.as_deref() else {
        return Err((
            "mode",
            format!(
                "kind relayer needs `mode`: one of {}",
                RelayerMode::NAMES.join(", ")
            ),
        ));
    };
    // Each field belongs to one or two modes: elsewhere it is a mistake.
    let owners: [(&'static str, bool, &[&str]); 3] = [
        ("quota", spec.quota.is_some(), &["limit_reached"]),
        (
            "retry_after",
            spec.retry_after.is_some(),
            &["rate_limited", "unavailable"],
        ),
        ("hang_for", spec.hang_for.is_some(), &["hang"]),
    ];
    for (key, given, modes) in owners {
        if given && RelayerMode::NAMES.contains(&mode) && !modes.contains(&mode) {
            return Err((
                key,
                format!(
                    "is not a field of relayer mode {mode} (only {})",
                    modes.join(", ")
                ),
            ));
        }
    }
    let mode = match mode {
        "refuse" => RelayerMode::Refuse,
        "unavailable" => RelayerMode::Unavailable {
            retry_after: spec.retry_after,
        },
        "hang" => {
            let hang = spec.hang_for.unwrap_or(DEFAULT_HANG);
            if hang.is_zero() || hang > MAX_DELAY {
                return Err((
                    "hang_for",
                    format!(
                        "must be within 0..={}, and not 0",
                        humantime::format_duration(MAX_DELAY)
                    ),
                ));
            }
            RelayerMode::Hang(hang)
        }
        "never_mines" => RelayerMode::NeverMines,
        "resubmit" => RelayerMode::Resubmit,
        "nonce_error" => RelayerMode::NonceError,
        "rate_limited" => RelayerMode::RateLimited {
            retry_after: spec.retry_after.unwrap_or(1),
        },
        "limit_reached" => {
            let text = spec.quota.as_deref().unwrap_or("dapp");
            RelayerMode::LimitReached(Quota::parse(text).ok_or_else(|| {
                (
                    "quota",
                    format!("`{text}`: expected one of {}", Quota::NAMES.join(", ")),
                )
            })?)
        }
        "gas_estimation" => RelayerMode::GasEstimation,
        other => {
            return Err((
                "mode",
                format!(
                    "`{other}`: expected one of {}",
                    RelayerMode::NAMES.join(", ")
                ),
            ));
        }
    };
    Ok(FaultKind::Relayer(mode))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::faults::Rule;

    fn relayer(mode: &str) -> RuleSpec {
        RuleSpec {
            kind: "relayer".into(),
            mode: Some(mode.into()),
            ..Default::default()
        }
    }

    fn window(s: RuleSpec, at: u64, len: u64) -> RuleSpec {
        RuleSpec {
            at: Some(Duration::from_secs(at)),
            for_: Some(Duration::from_secs(len)),
            ..s
        }
    }

    fn engine(specs: &[RuleSpec]) -> FaultEngine {
        let rules: Vec<Rule> = specs
            .iter()
            .enumerate()
            .map(|(i, s)| s.validate(&format!("faults[{i}]")).expect("a valid rule"))
            .collect();
        FaultEngine::new(3, rules, 100)
    }

    fn decide(e: &FaultEngine, secs: u64, endpoint: RelayerEndpoint) -> Option<RelayerMode> {
        let facts = RequestFacts {
            seq: secs,
            now: Duration::from_secs(secs),
            request_id: "req_1",
            method: &http::Method::POST,
            path: "/relayer/api/v2/meta-tx/native",
            op: crate::engine::faults::TapeOp::default(),
        };
        e.decide_relayer(&facts, endpoint, &mut e.rng(secs))
            .map(|f| f.mode)
    }

    #[test]
    fn every_mode_parses_and_the_wrong_fields_are_named() {
        for name in RelayerMode::NAMES {
            let s = if name == "refuse" {
                window(relayer(name), 0, 5)
            } else {
                relayer(name)
            };
            let rule = s.validate("faults[0]").expect(name);
            let FaultKind::Relayer(mode) = rule.kind else {
                panic!("{name}: not a relayer kind");
            };
            assert_eq!(mode.name(), name);
        }
        let limit = RuleSpec {
            quota: Some("user".into()),
            ..relayer("limit_reached")
        };
        assert_eq!(
            limit.validate("r").expect("valid").kind,
            FaultKind::Relayer(RelayerMode::LimitReached(Quota::User))
        );
        let cases: Vec<(RuleSpec, &str)> = vec![
            (
                RuleSpec {
                    mode: None,
                    ..relayer("x")
                },
                "faults[0].mode",
            ),
            (relayer("asleep"), "faults[0].mode"),
            (
                RuleSpec {
                    route: Some("/relayer/*".into()),
                    ..relayer("unavailable")
                },
                "faults[0].route",
            ),
            (
                RuleSpec {
                    quota: Some("user".into()),
                    ..relayer("unavailable")
                },
                "faults[0].quota",
            ),
            (
                RuleSpec {
                    quota: Some("everyone".into()),
                    ..relayer("limit_reached")
                },
                "faults[0].quota",
            ),
            (
                RuleSpec {
                    hang_for: Some(Duration::from_secs(301)),
                    ..relayer("hang")
                },
                "faults[0].hang_for",
            ),
            (
                RuleSpec {
                    retry_after: Some(3),
                    ..relayer("never_mines")
                },
                "faults[0].retry_after",
            ),
            (
                RuleSpec {
                    depth: Some(2),
                    ..relayer("refuse")
                },
                "faults[0].depth",
            ),
            (relayer("refuse"), "faults[0].for"),
            (
                RuleSpec {
                    probability: Some(0.5),
                    ..window(relayer("refuse"), 0, 5)
                },
                "faults[0].probability",
            ),
        ];
        for (s, key) in cases {
            let err = s.validate("faults[0]").expect_err(key);
            assert_eq!(err.key, key, "{err}");
        }
    }

    #[test]
    fn a_mode_meets_only_the_endpoints_it_applies_to_and_only_in_its_window() {
        let e = engine(&[
            window(relayer("never_mines"), 10, 10),
            window(relayer("rate_limited"), 30, 10),
        ]);
        assert_eq!(decide(&e, 5, RelayerEndpoint::Relay), None);
        assert_eq!(
            decide(&e, 12, RelayerEndpoint::Relay),
            Some(RelayerMode::NeverMines)
        );
        assert_eq!(decide(&e, 12, RelayerEndpoint::Status), None);
        assert_eq!(
            decide(&e, 31, RelayerEndpoint::Status),
            Some(RelayerMode::RateLimited { retry_after: 1 })
        );
        assert_eq!(decide(&e, 31, RelayerEndpoint::Ready), None);
        let tape = e.tape.view(0, 10);
        assert_eq!(tape.entries.len(), 2);
        assert!(tape.entries.iter().all(|t| t.kind == "relayer"));
    }

    #[test]
    fn a_request_never_meets_a_relayer_rule_and_refuse_is_taped_once_per_window() {
        let e = engine(&[RuleSpec {
            every: Some(Duration::from_secs(60)),
            ..window(relayer("refuse"), 10, 20)
        }]);
        let facts = RequestFacts {
            seq: 1,
            now: Duration::from_secs(15),
            request_id: "req_1",
            method: &http::Method::POST,
            path: "/rpc",
            op: crate::engine::faults::TapeOp::default(),
        };
        assert!(e.decide(&facts, &mut e.rng(1)).kinds.is_empty());
        assert_eq!(e.relayer_refusing(Duration::from_secs(5)), None);
        let end = Some(Duration::from_secs(30));
        assert_eq!(e.relayer_refusing(Duration::from_secs(10)), end);
        assert_eq!(e.relayer_refusing(Duration::from_secs(29)), end);
        assert_eq!(e.relayer_refusing(Duration::from_secs(30)), None);
        assert_eq!(
            e.relayer_refusing(Duration::from_secs(75)),
            Some(Duration::from_secs(90))
        );
        let tape = e.tape.view(0, 10);
        assert_eq!(
            tape.entries
                .iter()
                .map(|t| (t.method.as_str(), t.at_ms))
                .collect::<Vec<_>>(),
            [("LISTEN", 10_000.0), ("LISTEN", 75_000.0)]
        );
    }
}
