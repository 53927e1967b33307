//! The fault engine: which faults a request gets, drawn from the run's seed, and the
//! tape that records every injection.
//!
//! Determinism: the run has one seed; request number `n` draws from the ChaCha stream
//! `n` of that seed, so the same seed and the same requests give the same faults no
//! matter how many draws other requests made.
//!
//! Rules are written as [`spec::RuleSpec`] and checked into [`spec::Rule`]s; a rule
//! is live per [`when`], matches per [`route`], and delays per [`latency`]; the
//! webhook kinds are in [`webhook`]; the chain kinds (reorg, pause, upgrade), decided
//! per mined block rather than per request, are in [`chain`]; the relayer's modes
//! are in [`relayer`]; every injection goes on the [`tape`].

pub mod chain;
mod check;
pub mod latency;
pub mod relayer;
pub mod route;
pub mod spec;
pub mod tape;
pub mod webhook;
pub mod when;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use chain::{ChainFault, FiredChainFault, ReorgFate};
pub use latency::Latency;
pub use relayer::{Quota, RelayerEndpoint, RelayerFault, RelayerMode};
pub use spec::{FaultKind, Rule, RuleSpec, SpecError, When};
pub use tape::{MAX_TAPE_PATH, Tape, TapeEntry, TapeView, tape_url};

/// The installed rules plus what they have done so far.
#[derive(Debug)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    /// Twin time at which these rules were installed: windows count from here.
    pub epoch: Duration,
    /// Who installed them (a run's id), for runs that meet on one twin.
    pub label: Option<String>,
    injected: Vec<AtomicU64>,
    /// Per chain rule, what it has already decided, so it decides each thing once:
    /// for a windowed rule 1 + the number of the last window claimed, for an
    /// `Always` rule 1 + the highest block decided (0: nothing yet).
    claimed: Vec<AtomicU64>,
}

impl RuleSet {
    pub fn new(rules: Vec<Rule>, epoch: Duration) -> Self {
        let injected = rules.iter().map(|_| AtomicU64::new(0)).collect();
        let claimed = rules.iter().map(|_| AtomicU64::new(0)).collect();
        Self {
            rules,
            epoch,
            label: None,
            injected,
            claimed,
        }
    }
}

/// What the engine decided for one request.
#[derive(Debug, Default, Clone)]
pub struct Decision {
    /// Total injected delay before handling: latency draws, plus for a stall the
    /// twin time left until its window closes.
    pub delay: Duration,
    /// The one fault that replaces or spoils the reply (first matching rule wins).
    pub terminal: Option<FaultKind>,
    pub flat_error: bool,
    pub partial: Option<(f64, Vec<u16>)>,
    pub degraded: bool,
    /// Kinds injected, for metrics.
    pub kinds: Vec<&'static str>,
}

/// The rules, the seed and the tape.
#[derive(Debug)]
pub struct FaultEngine {
    seed: u64,
    rules: RwLock<Arc<RuleSet>>,
    pub tape: Tape,
}

/// The delivery facts the engine decides on.
#[derive(Debug)]
pub struct DeliveryFacts<'a> {
    pub seq: u64,
    pub now: Duration,
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub url: &'a str,
}

/// The request facts the engine decides on.
#[derive(Debug)]
pub struct RequestFacts<'a> {
    pub seq: u64,
    pub now: Duration,
    pub request_id: &'a str,
    pub method: &'a http::Method,
    pub path: &'a str,
    /// The operation and attempt, for the tape ([`TapeEntry::op`]).
    pub op: TapeOp,
}

/// An operation and its attempt as the tape names them,
/// `"<12 hex digits of the digest>/<attempt>"`; written out only when a fault
/// is drawn (most requests draw none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TapeOp {
    pub digest: u64,
    pub attempt: u32,
}

impl std::fmt::Display for TapeOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:012x}/{}", self.digest >> 16, self.attempt)
    }
}

impl FaultEngine {
    pub fn new(seed: u64, rules: Vec<Rule>, tape_capacity: usize) -> Self {
        Self {
            seed,
            rules: RwLock::new(Arc::new(RuleSet::new(rules, Duration::ZERO))),
            tape: Tape::new(tape_capacity),
        }
    }

    /// The seed every random stream of the engine is drawn from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The random stream of request `seq`.
    pub fn rng(&self, seq: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(seq);
        rng
    }

    /// The random stream of one attempt of one operation, keyed by `identity` (a
    /// digest of what the request is and which attempt of it, not of when it came):
    /// with the same seed the same operation draws the same faults whatever the
    /// arrival order. Its key differs from [`FaultEngine::rng`]'s, so the two kinds of
    /// stream never coincide.
    pub fn rng_for(&self, identity: u64) -> ChaCha8Rng {
        // "operatio": any constant apart from zero gives a key of its own.
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0x6f70_6572_6174_696f);
        rng.set_stream(identity);
        rng
    }

    pub fn rules(&self) -> Arc<RuleSet> {
        self.rules.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replace the rules; their windows start counting at `now`.
    pub fn install(&self, rules: Vec<Rule>, now: Duration) {
        self.install_labeled(rules, now, None);
    }

    /// Replace the rules, recording who installed them (`GET /_gauntlet/rules`
    /// answers the label: segments of one run meet on it).
    pub fn install_labeled(&self, rules: Vec<Rule>, now: Duration, label: Option<String>) {
        let mut set = RuleSet::new(rules, now);
        set.label = label;
        *self.rules.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
    }

    /// Decide the faults of one request and put each on the tape.
    pub fn decide(&self, req: &RequestFacts<'_>, rng: &mut impl Rng) -> Decision {
        let set = self.rules();
        let since = req.now.saturating_sub(set.epoch);
        let mut d = Decision::default();
        for (rule, injected) in set.rules.iter().zip(&set.injected) {
            // Webhook, chain and relayer kinds never match a request.
            let elsewhere = matches!(rule.kind, FaultKind::Webhook(_) | FaultKind::Relayer(_))
                || rule.kind.is_chain();
            if elsewhere || !rule.when.live(since) || !rule.route.matches(req.method, req.path) {
                continue;
            }
            let terminal = matches!(
                rule.kind,
                FaultKind::Status { .. }
                    | FaultKind::Reset
                    | FaultKind::Hang(_)
                    | FaultKind::LostReply(_)
                    | FaultKind::Truncated
                    | FaultKind::Malformed
            );
            if terminal && d.terminal.is_some() {
                continue;
            }
            let draw: f64 = rng.random();
            if draw >= rule.probability {
                continue;
            }
            if let Some(limit) = rule.limit
                && injected.fetch_add(1, Ordering::Relaxed) >= limit
            {
                continue;
            }
            match &rule.kind {
                FaultKind::Latency(lat) => d.delay += lat.sample(rng),
                FaultKind::FlatError => d.flat_error = true,
                FaultKind::PartialBatch { fraction, codes } => {
                    d.partial = Some((*fraction, codes.clone()))
                }
                FaultKind::HealthDegraded => d.degraded = true,
                FaultKind::Stall => {
                    // Frozen until the window closes, on the twin clock; the rule is
                    // live, so a window is open.
                    let end = rule.when.window_end(since).unwrap_or(since);
                    d.delay += end.saturating_sub(since);
                }
                other => d.terminal = Some(other.clone()),
            }
            d.kinds.push(rule.kind.name());
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
        }
        d
    }

    /// The random stream of delivery `seq` (apart from the requests' streams).
    pub fn delivery_rng(&self, seq: u64) -> ChaCha8Rng {
        self.rng((1 << 63) | seq)
    }

    /// Decide the faults of one webhook delivery and put each on the tape.
    pub fn decide_delivery(
        &self,
        d: &DeliveryFacts<'_>,
        rng: &mut impl Rng,
    ) -> webhook::DeliveryDecision {
        let set = self.rules();
        let since = d.now.saturating_sub(set.epoch);
        let mut out = webhook::DeliveryDecision::default();
        for (rule, injected) in set.rules.iter().zip(&set.injected) {
            let FaultKind::Webhook(w) = &rule.kind else {
                continue;
            };
            if !rule.when.live(since)
                || !webhook::event_matches(rule.spec.event.as_deref(), d.event_type)
            {
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
            match w {
                webhook::WebhookFault::Duplicate(m) => out.duplicate = Some(*m),
                webhook::WebhookFault::Reorder(hold) => out.hold += *hold,
                webhook::WebhookFault::Delay(lat) => out.hold += lat.sample(rng),
                webhook::WebhookFault::Signature(s) => out.signature = out.signature.or(Some(*s)),
                webhook::WebhookFault::FlatPayload => out.flat = true,
            }
            out.kinds.push(w.name());
            self.tape.push(TapeEntry {
                seq: d.seq,
                at_ms: d.now.as_secs_f64() * 1000.0,
                request_id: d.event_id.to_string(),
                method: "DELIVER".into(),
                path: tape_url(d.url).chars().take(MAX_TAPE_PATH).collect(),
                rule: rule.name.clone(),
                kind: w.name(),
                op: String::new(),
            });
        }
        out
    }

    /// Fault windows that have closed, as twin times `(start, end)` since start.
    pub fn ended_windows(&self, now: Duration, cap: usize) -> Vec<(String, Duration, Duration)> {
        let set = self.rules();
        let since = now.saturating_sub(set.epoch);
        set.rules
            .iter()
            .filter(|r| {
                !matches!(
                    r.kind,
                    FaultKind::Latency(_)
                        | FaultKind::FlatError
                        | FaultKind::HealthDegraded
                        | FaultKind::Webhook(_)
                )
            })
            .flat_map(|r| {
                r.when
                    .ended_windows(since, cap)
                    .into_iter()
                    .map(|(s, e)| (r.name.clone(), set.epoch + s, set.epoch + e))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tape_names_an_operation_by_twelve_hex_digits_and_its_attempt() {
        let op = TapeOp {
            digest: 0x0123_4567_89ab_cdef,
            attempt: 2,
        };
        assert_eq!(op.to_string(), "0123456789ab/2");
    }

    fn spec(kind: &str) -> RuleSpec {
        RuleSpec {
            kind: kind.into(),
            ..Default::default()
        }
    }

    #[test]
    fn every_window_is_periodic() {
        let w = When::Every {
            at: Duration::from_secs(1),
            period: Duration::from_secs(10),
            len: Duration::from_secs(2),
        };
        assert!(!w.live(Duration::from_millis(500)));
        assert!(w.live(Duration::from_millis(1500)));
        assert!(!w.live(Duration::from_secs(4)));
        assert!(w.live(Duration::from_millis(11_500)));
        assert_eq!(
            w.ended_windows(Duration::from_secs(25), 10).len(),
            3,
            "[1,3) [11,13) [21,23)"
        );
    }

    #[test]
    fn a_resumed_rule_goes_on_where_the_timeline_was() {
        let secs = Duration::from_secs;
        let window = RuleSpec {
            at: Some(secs(10)),
            for_: Some(secs(30)),
            ..spec("stall")
        }
        .validate("faults[0]")
        .expect("valid");
        let every = RuleSpec {
            at: Some(secs(5)),
            every: Some(secs(10)),
            for_: Some(secs(2)),
            ..spec("stall")
        }
        .validate("faults[1]")
        .expect("valid");
        let resumed = window.resumed(secs(25)).expect("still open");
        assert_eq!(
            resumed.when,
            When::Window {
                at: secs(0),
                len: secs(15)
            }
        );
        assert_eq!(
            resumed.spec.validate("x").expect("valid").when,
            resumed.when,
            "the spec says the same"
        );
        assert_eq!(
            window.resumed(secs(4)).map(|r| r.when),
            Some(When::Window {
                at: secs(6),
                len: secs(30)
            })
        );
        assert!(window.resumed(secs(40)).is_none(), "over");
        for (ago, next) in [(secs(2), 3), (secs(26), 9), (secs(25), 0)] {
            let r = every.resumed(ago).expect("recurring");
            assert_eq!(
                r.when,
                When::Every {
                    at: secs(next),
                    period: secs(10),
                    len: secs(2)
                },
                "{ago:?}"
            );
            for t in 0..40 {
                // The rest of a window open at the restart is skipped.
                let skipped = every
                    .when
                    .window_end(ago)
                    .is_some_and(|end| next != 0 && ago + secs(t) < end);
                let expected = every.when.live(ago + secs(t)) && !skipped;
                assert_eq!(r.when.live(secs(t)), expected, "{ago:?} +{t}");
            }
        }
    }

    #[test]
    fn a_stall_holds_until_its_window_closes() {
        let rule = RuleSpec {
            at: Some(Duration::from_secs(10)),
            for_: Some(Duration::from_secs(30)),
            ..spec("stall")
        }
        .validate("faults[0]")
        .expect("valid");
        let engine = FaultEngine::new(1, vec![rule], 10);
        let decide = |secs: u64| {
            let facts = RequestFacts {
                seq: secs,
                now: Duration::from_secs(secs),
                request_id: "req_1",
                method: &http::Method::GET,
                path: "/objects",
                op: TapeOp::default(),
            };
            engine.decide(&facts, &mut engine.rng(secs)).delay
        };
        assert_eq!(decide(5), Duration::ZERO, "before the window");
        assert_eq!(decide(10), Duration::from_secs(30));
        assert_eq!(decide(25), Duration::from_secs(15));
        assert_eq!(decide(40), Duration::ZERO, "after the window");
        let tape = engine.tape.view(0, 10);
        assert_eq!(
            tape.entries
                .iter()
                .map(|e| (e.seq, e.kind))
                .collect::<Vec<_>>(),
            [(10, "stall"), (25, "stall")]
        );
    }

    #[test]
    fn specs_name_the_bad_key() {
        let cases: Vec<(RuleSpec, &str)> = vec![
            (spec("nope"), "faults[0].kind"),
            (spec("status"), "faults[0].status"),
            (
                RuleSpec {
                    probability: Some(1.5),
                    ..spec("reset")
                },
                "faults[0].probability",
            ),
            (
                RuleSpec {
                    status: Some(503),
                    ..spec("latency")
                },
                "faults[0].status",
            ),
            (
                RuleSpec {
                    dist: Some("lognormal".into()),
                    sigma: Some(0.5),
                    ..spec("latency")
                },
                "faults[0].median",
            ),
            (
                RuleSpec {
                    every: Some(Duration::from_secs(5)),
                    ..spec("reset")
                },
                "faults[0].for",
            ),
            (
                RuleSpec {
                    fraction: Some(2.0),
                    ..spec("partial_batch")
                },
                "faults[0].fraction",
            ),
            (
                RuleSpec {
                    route: Some("ebus".into()),
                    ..spec("reset")
                },
                "faults[0].route",
            ),
            (
                RuleSpec {
                    reply: Some("maybe".into()),
                    ..spec("lost_reply")
                },
                "faults[0].reply",
            ),
            (spec("stall"), "faults[0].for"),
            (
                RuleSpec {
                    status: Some(101),
                    ..spec("status")
                },
                "faults[0].status",
            ),
            (
                RuleSpec {
                    for_: Some(Duration::ZERO),
                    ..spec("reset")
                },
                "faults[0].for",
            ),
        ];
        for (s, key) in cases {
            let err = s.validate("faults[0]").expect_err(key);
            assert_eq!(err.key, key, "{err}");
        }
    }
}
