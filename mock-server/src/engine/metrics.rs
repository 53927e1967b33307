//! `GET /metrics`: Prometheus text (prometheus-client) for requests by route and
//! status, faults injected by kind, tokens left per bucket, and the oracle's counts.
//! A platform adds its own families with [`Metrics::register`] before the engine is
//! shared, and refreshes its gauges in `Platform::refresh_metrics`.

use std::borrow::Cow;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Metric, Registry};

use crate::engine::oracle::{ActionCounts, BackoffGrade};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: Cow<'static, str>,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BucketLabels {
    org: String,
    group: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

const KNOWN_METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// The twin's metric families.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    faults: Family<KindLabels, Counter>,
    tokens: Family<BucketLabels, FloatGauge>,
    actions: Family<OutcomeLabels, Gauge>,
    backoff: Family<OutcomeLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("gauntlet");
        let requests = Family::<RequestLabels, Counter>::default();
        let faults = Family::<KindLabels, Counter>::default();
        let tokens = Family::<BucketLabels, FloatGauge>::default();
        let actions = Family::<OutcomeLabels, Gauge>::default();
        let backoff = Family::<OutcomeLabels, Gauge>::default();
        registry.register(
            "requests",
            "Requests answered, by route template and status",
            requests.clone(),
        );
        registry.register(
            "faults_injected",
            "Faults injected, by kind",
            faults.clone(),
        );
        registry.register(
            "ratelimit_tokens",
            "Tokens left in each rate-limit bucket",
            tokens.clone(),
        );
        registry.register(
            "oracle_actions",
            "The oracle's action ledger, by outcome",
            actions.clone(),
        );
        registry.register(
            "oracle_backoff",
            "The oracle's backoff grade: faulted replies, retries, early retries",
            backoff.clone(),
        );
        Self {
            registry,
            requests,
            faults,
            tokens,
            actions,
            backoff,
        }
    }

    /// Count one answered request. The labels borrow static text where they can
    /// (every request is counted: no allocation for a known method and a route
    /// template), and own a platform's dynamic template.
    pub fn request(&self, method: &http::Method, route: Cow<'static, str>, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                // Methods a client invents must not grow the label set.
                method: KNOWN_METHODS
                    .iter()
                    .find(|m| **m == method.as_str())
                    .copied()
                    .unwrap_or("OTHER"),
                route,
                status,
            })
            .inc();
    }

    pub fn fault(&self, kind: &str) {
        self.faults
            .get_or_create(&KindLabels {
                kind: kind.to_string(),
            })
            .inc();
    }

    /// Add a platform's metric family (named without the `gauntlet_` prefix, which
    /// the registry adds). Call it while the engine is still being built: the
    /// family is rendered after the engine's own.
    pub fn register(&mut self, name: &str, help: &str, metric: impl Metric) {
        self.registry.register(name, help, metric);
    }

    /// Set the tokens left in one rate-limit bucket (`gauntlet_ratelimit_tokens`);
    /// a platform calls it for each of its buckets before a render.
    pub fn bucket(&self, org: &str, group: &str, tokens: f64) {
        let labels = BucketLabels {
            org: org.to_string(),
            group: group.to_string(),
        };
        self.tokens.get_or_create(&labels).set(tokens);
    }

    /// Refresh the oracle's gauges and render the text format.
    pub fn render(&self, actions: &ActionCounts, backoff: &BackoffGrade) -> String {
        let set = |family: &Family<OutcomeLabels, Gauge>, outcome: &str, v: u64| {
            family
                .get_or_create(&OutcomeLabels {
                    outcome: outcome.to_string(),
                })
                .set(v as i64);
        };
        set(&self.actions, "applies", actions.applies);
        set(&self.actions, "exactly_once", actions.exactly_once);
        set(&self.actions, "duplicated", actions.duplicated);
        set(&self.actions, "lost", actions.lost);
        set(&self.actions, "rejected", actions.rejected);
        set(&self.backoff, "faulted_replies", backoff.faulted_replies);
        set(&self.backoff, "retries", backoff.retries);
        set(&self.backoff, "early", backoff.early);
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
