//! The fault engine: which faults a request gets, drawn from the run's seed, and the
//! tape that records every injection.
//!
//! Determinism: the run has one seed; request number `n` draws from the ChaCha stream
//! `n` of that seed, so the same seed and the same requests give the same faults no
//! matter how many draws other requests made.

pub mod route;
pub mod spec;
pub mod webhook;
pub mod when;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Normal, Pareto};
use serde::Serialize;

pub use spec::{FaultKind, Rule, RuleSpec, SpecError, When};

/// A latency distribution; every draw is capped at `cap`.
#[derive(Debug, Clone, PartialEq)]
pub enum Latency {
    Fixed(Duration),
    Uniform {
        min: Duration,
        max: Duration,
    },
    Normal {
        mean: Duration,
        stddev: Duration,
        cap: Duration,
    },
    LogNormal {
        median: Duration,
        sigma: f64,
        cap: Duration,
    },
    Pareto {
        scale: Duration,
        shape: f64,
        cap: Duration,
    },
}

impl Latency {
    pub(crate) fn from_spec(s: &RuleSpec) -> Result<Self, (&'static str, String)> {
        let need = |v: Option<Duration>, key: &'static str, dist: &str| {
            v.ok_or((key, format!("dist {dist} needs `{key}`")))
        };
        let cap = s.max.unwrap_or(spec::DEFAULT_LATENCY_CAP);
        if cap > spec::MAX_DELAY {
            return Err(("max", format!("at most {:?}", spec::MAX_DELAY)));
        }
        let dist = s
            .dist
            .as_deref()
            .unwrap_or(if s.delay.is_some() { "fixed" } else { "" });
        let lat = match dist {
            "fixed" => Latency::Fixed(need(s.delay, "delay", dist)?),
            "uniform" => {
                let (min, max) = (need(s.min, "min", dist)?, need(s.max, "max", dist)?);
                if min > max {
                    return Err(("min", "must not exceed `max`".into()));
                }
                Latency::Uniform { min, max }
            }
            "normal" => Latency::Normal {
                mean: need(s.mean, "mean", dist)?,
                stddev: need(s.stddev, "stddev", dist)?,
                cap,
            },
            "lognormal" => {
                let sigma = s
                    .sigma
                    .ok_or(("sigma", "dist lognormal needs `sigma`".to_string()))?;
                if !(sigma > 0.0 && sigma.is_finite()) {
                    return Err(("sigma", format!("must be > 0, got {sigma}")));
                }
                Latency::LogNormal {
                    median: need(s.median, "median", dist)?,
                    sigma,
                    cap,
                }
            }
            "pareto" => {
                let shape = s
                    .shape
                    .ok_or(("shape", "dist pareto needs `shape`".to_string()))?;
                if !(shape > 0.0 && shape.is_finite()) {
                    return Err(("shape", format!("must be > 0, got {shape}")));
                }
                let scale = need(s.scale, "scale", dist)?;
                if scale.is_zero() {
                    return Err(("scale", "must be > 0".into()));
                }
                Latency::Pareto { scale, shape, cap }
            }
            "" => {
                return Err((
                    "dist",
                    "kind latency needs `dist` (fixed, uniform, normal, lognormal, pareto)".into(),
                ));
            }
            other => {
                return Err((
                    "dist",
                    format!(
                        "unknown dist `{other}`; expected fixed, uniform, normal, lognormal, pareto"
                    ),
                ));
            }
        };
        if matches!(lat, Latency::Fixed(d) if d > spec::MAX_DELAY) {
            return Err(("delay", format!("at most {:?}", spec::MAX_DELAY)));
        }
        Ok(lat)
    }

    /// One draw, never negative, never above the cap.
    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        let secs = |d: Duration| d.as_secs_f64();
        let (draw, cap) = match *self {
            Latency::Fixed(d) => return d,
            Latency::Uniform { min, max } => {
                return if min == max {
                    min
                } else {
                    rng.random_range(min..=max)
                };
            }
            Latency::Normal { mean, stddev, cap } => (
                Normal::new(secs(mean), secs(stddev))
                    .map(|n| n.sample(rng))
                    .unwrap_or(secs(mean)),
                cap,
            ),
            Latency::LogNormal { median, sigma, cap } => (
                LogNormal::new(secs(median).max(1e-9).ln(), sigma)
                    .map(|d| d.sample(rng))
                    .unwrap_or(secs(median)),
                cap,
            ),
            Latency::Pareto { scale, shape, cap } => (
                Pareto::new(secs(scale), shape)
                    .map(|d| d.sample(rng))
                    .unwrap_or(secs(scale)),
                cap,
            ),
        };
        Duration::from_secs_f64(draw.clamp(0.0, secs(cap)))
    }
}

/// The installed rules plus what they have done so far.
#[derive(Debug)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    /// Twin time at which these rules were installed: windows count from here.
    pub epoch: Duration,
    injected: Vec<AtomicU64>,
}

impl RuleSet {
    pub fn new(rules: Vec<Rule>, epoch: Duration) -> Self {
        let injected = rules.iter().map(|_| AtomicU64::new(0)).collect();
        Self {
            rules,
            epoch,
            injected,
        }
    }
}

/// What the engine decided for one request.
#[derive(Debug, Default, Clone)]
pub struct Decision {
    /// Total injected delay before handling.
    pub delay: Duration,
    /// The one fault that replaces or spoils the reply (first matching rule wins).
    pub terminal: Option<FaultKind>,
    pub flat_error: bool,
    pub partial: Option<(f64, Vec<u16>)>,
    pub degraded: bool,
    /// Kinds injected, for metrics.
    pub kinds: Vec<&'static str>,
}

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TapeEntry {
    /// Request number since start (the key of the request's random stream).
    pub seq: u64,
    /// Twin time of the request, milliseconds since start.
    pub at_ms: f64,
    pub request_id: String,
    pub method: String,
    pub path: String,
    pub rule: String,
    pub kind: &'static str,
}

/// Longest path kept on the tape (a client controls the path).
pub const MAX_TAPE_PATH: usize = 200;

/// Bounded memory: the newest `capacity` entries are kept, counts are kept forever.
#[derive(Debug)]
pub struct Tape {
    capacity: usize,
    inner: Mutex<TapeInner>,
}

#[derive(Debug, Default)]
struct TapeInner {
    entries: VecDeque<TapeEntry>,
    dropped: u64,
    by_kind: BTreeMap<&'static str, u64>,
}

/// What `GET /_gauntlet/tape` returns.
#[derive(Debug, Serialize)]
pub struct TapeView {
    pub total: u64,
    /// Older entries pushed out of the bounded tape.
    pub dropped: u64,
    pub by_kind: BTreeMap<&'static str, u64>,
    pub entries: Vec<TapeEntry>,
}

impl Tape {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(TapeInner::default()),
        }
    }

    fn push(&self, entry: TapeEntry) {
        let mut t = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *t.by_kind.entry(entry.kind).or_default() += 1;
        if t.entries.len() == self.capacity {
            t.entries.pop_front();
            t.dropped += 1;
        }
        t.entries.push_back(entry);
    }

    /// Entries with `seq >= since`, at most `limit`.
    pub fn view(&self, since: u64, limit: usize) -> TapeView {
        let t = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        TapeView {
            total: t.by_kind.values().sum(),
            dropped: t.dropped,
            by_kind: t.by_kind.clone(),
            entries: t
                .entries
                .iter()
                .filter(|e| e.seq >= since)
                .take(limit)
                .cloned()
                .collect(),
        }
    }

    pub fn clear(&self) {
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = TapeInner::default();
    }
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
}

impl FaultEngine {
    pub fn new(seed: u64, rules: Vec<Rule>, tape_capacity: usize) -> Self {
        Self {
            seed,
            rules: RwLock::new(Arc::new(RuleSet::new(rules, Duration::ZERO))),
            tape: Tape::new(tape_capacity),
        }
    }

    /// The random stream of request `seq`.
    pub fn rng(&self, seq: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(seq);
        rng
    }

    pub fn rules(&self) -> Arc<RuleSet> {
        self.rules.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replace the rules; their windows start counting at `now`.
    pub fn install(&self, rules: Vec<Rule>, now: Duration) {
        *self.rules.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(RuleSet::new(rules, now));
    }

    /// Decide the faults of one request and put each on the tape.
    pub fn decide(&self, req: &RequestFacts<'_>, rng: &mut impl Rng) -> Decision {
        let set = self.rules();
        let since = req.now.saturating_sub(set.epoch);
        let mut d = Decision::default();
        for (rule, injected) in set.rules.iter().zip(&set.injected) {
            let webhook = matches!(rule.kind, FaultKind::Webhook(_));
            if webhook || !rule.when.live(since) || !rule.route.matches(req.method, req.path) {
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
                path: d.url.chars().take(MAX_TAPE_PATH).collect(),
                rule: rule.name.clone(),
                kind: w.name(),
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

    fn spec(kind: &str) -> RuleSpec {
        RuleSpec {
            kind: kind.into(),
            ..Default::default()
        }
    }

    #[test]
    fn latency_draws_stay_within_cap() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let lat = Latency::Pareto {
            scale: Duration::from_millis(10),
            shape: 0.5,
            cap: Duration::from_millis(200),
        };
        for _ in 0..1000 {
            let d = lat.sample(&mut rng);
            assert!(
                d >= Duration::from_millis(10) && d <= Duration::from_millis(200),
                "{d:?}"
            );
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
        ];
        for (s, key) in cases {
            let err = s.validate("faults[0]").expect_err(key);
            assert_eq!(err.key, key, "{err}");
        }
    }
}
