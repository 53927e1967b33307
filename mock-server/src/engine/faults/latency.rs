//! Latency distributions: the delay a `latency` or `webhook_delay` rule draws, each
//! draw capped, with the shapes bounded so a typo cannot hide behind the cap.

use std::time::Duration;

use rand::Rng;
use rand_distr::{Distribution, LogNormal, Normal, Pareto};

use super::{RuleSpec, spec};

/// Largest lognormal `sigma`: at 10 a draw already spans e^±10 (x22,000) around the
/// median, so anything wider is a typo that only the cap would be left to hide.
pub const MAX_SIGMA: f64 = 10.0;
/// Largest Pareto `shape`: at 100 every draw is within 1% of `scale` (use fixed).
pub const MAX_SHAPE: f64 = 100.0;

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
                mean: below_cap(need(s.mean, "mean", dist)?, "mean", cap)?,
                stddev: need(s.stddev, "stddev", dist)?,
                cap,
            },
            "lognormal" => {
                let sigma = s
                    .sigma
                    .ok_or(("sigma", "dist lognormal needs `sigma`".to_string()))?;
                // `!(a && b)` also refuses NaN.
                if !(sigma > 0.0 && sigma <= MAX_SIGMA) {
                    return Err((
                        "sigma",
                        format!("must be within (0, {MAX_SIGMA}], got {sigma}"),
                    ));
                }
                let median = below_cap(need(s.median, "median", dist)?, "median", cap)?;
                if median.is_zero() {
                    return Err((
                        "median",
                        "must be > 0 (for no delay, remove the rule)".into(),
                    ));
                }
                Latency::LogNormal { median, sigma, cap }
            }
            "pareto" => {
                let shape = s
                    .shape
                    .ok_or(("shape", "dist pareto needs `shape`".to_string()))?;
                if !(shape > 0.0 && shape <= MAX_SHAPE) {
                    return Err((
                        "shape",
                        format!("must be within (0, {MAX_SHAPE}], got {shape}"),
                    ));
                }
                let scale = below_cap(need(s.scale, "scale", dist)?, "scale", cap)?;
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

    /// One draw, never negative, never above the cap (and never NaN).
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
        let draw = if draw.is_nan() { 0.0 } else { draw };
        Duration::from_secs_f64(draw.clamp(0.0, secs(cap)))
    }
}

/// A distribution's centre above its cap would make every draw the cap: a mistake.
fn below_cap(
    d: Duration,
    key: &'static str,
    cap: Duration,
) -> Result<Duration, (&'static str, String)> {
    if d > cap {
        return Err((
            key,
            format!(
                "above the cap `max` ({}): every draw would be the cap",
                humantime::format_duration(cap)
            ),
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

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
}
