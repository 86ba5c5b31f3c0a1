use std::time::Duration;

use resilience_core::config::{check_unit_interval, ConfigError};
use serde::{Deserialize, Serialize};

/// What to inject, and how often.
///
/// ```
/// use resilience_tower::chaos::ChaosConfig;
/// let c: ChaosConfig = resilience_core::config::from_yaml_str(r#"
/// enabled: true
/// seed: 42
/// error_rate: 0.05
/// latency: { rate: 0.2, delay: 500ms }
/// "#).unwrap();
/// c.validate().unwrap();
/// assert_eq!(c.latency.unwrap().delay.as_millis(), 500);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChaosConfig {
    /// Start enabled. Default false.
    pub enabled: bool,
    /// Seed of the per-call decisions. Default 0.
    pub seed: u64,
    /// Fraction of calls failed without calling the inner service.
    pub error_rate: f64,
    /// Fraction of calls whose response is replaced by an error after the
    /// inner service ran.
    pub abort_rate: f64,
    /// Added latency.
    pub latency: Option<LatencyFault>,
}

impl Default for ChaosConfig {
    fn default() -> Self {
        ChaosConfig {
            enabled: false,
            seed: 0,
            error_rate: 0.0,
            abort_rate: 0.0,
            latency: None,
        }
    }
}

/// Added latency for a fraction of calls.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyFault {
    /// Fraction of calls delayed.
    pub rate: f64,
    /// The delay (`fixed`), the lower bound (`uniform`), or the mean
    /// (`exponential`).
    #[serde(with = "humantime_serde")]
    pub delay: Duration,
    /// Upper bound for `uniform` (required) and `exponential` (default 10 ×
    /// `delay`).
    #[serde(default, with = "humantime_serde::option")]
    pub max: Option<Duration>,
    /// How delays are drawn. Default `fixed`.
    #[serde(default)]
    pub distribution: DelayDistribution,
}

/// How injected delays are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DelayDistribution {
    /// Always `delay`.
    #[default]
    Fixed,
    /// Uniform in `[delay, max]`.
    Uniform,
    /// Exponential with mean `delay`, capped at `max`.
    Exponential,
}

impl LatencyFault {
    /// A fixed delay for a fraction of calls.
    pub fn fixed(rate: f64, delay: Duration) -> Self {
        LatencyFault {
            rate,
            delay,
            max: None,
            distribution: DelayDistribution::Fixed,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        check_unit_interval("latency.rate", self.rate)?;
        match (self.distribution, self.max) {
            (DelayDistribution::Uniform, None) => Err(ConfigError::invalid(
                "latency.max",
                "a uniform delay needs `max`",
            )),
            (DelayDistribution::Uniform | DelayDistribution::Exponential, Some(max))
                if max < self.delay =>
            {
                Err(ConfigError::invalid(
                    "latency.max",
                    format!("must be at least `delay` ({:?}), got {:?}", self.delay, max),
                ))
            }
            _ => Ok(()),
        }
    }

    /// The delay for a uniform draw `u` in `[0, 1)`.
    pub(crate) fn sample(&self, u: f64) -> Duration {
        match self.distribution {
            DelayDistribution::Fixed => self.delay,
            DelayDistribution::Uniform => {
                let max = self.max.unwrap_or(self.delay);
                self.delay + (max - self.delay).mul_f64(u)
            }
            DelayDistribution::Exponential => {
                let max = self.max.unwrap_or_else(|| self.delay.saturating_mul(10));
                let x = -(1.0 - u).ln() * self.delay.as_secs_f64();
                if x.is_finite() && x < max.as_secs_f64() {
                    Duration::from_secs_f64(x)
                } else {
                    max
                }
            }
        }
    }
}

impl ChaosConfig {
    /// Checks rates are fractions and bounds are ordered.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_unit_interval("error_rate", self.error_rate)?;
        check_unit_interval("abort_rate", self.abort_rate)?;
        if let Some(l) = &self.latency {
            l.validate()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_fields() {
        let bad = ChaosConfig {
            error_rate: 1.5,
            ..ChaosConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().field(), Some("error_rate"));
        let bad = ChaosConfig {
            latency: Some(LatencyFault {
                rate: 1.0,
                delay: Duration::from_secs(1),
                max: None,
                distribution: DelayDistribution::Uniform,
            }),
            ..ChaosConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().field(), Some("latency.max"));
    }

    #[test]
    fn samples_stay_in_range() {
        let u = LatencyFault {
            rate: 1.0,
            delay: Duration::from_millis(100),
            max: Some(Duration::from_millis(300)),
            distribution: DelayDistribution::Uniform,
        };
        assert_eq!(u.sample(0.0), Duration::from_millis(100));
        assert_eq!(u.sample(0.5), Duration::from_millis(200));
        let e = LatencyFault {
            distribution: DelayDistribution::Exponential,
            ..u
        };
        for i in 0..1000 {
            let d = e.sample(f64::from(i) / 1000.0);
            assert!(d <= Duration::from_millis(300));
        }
        let mean: f64 = (0..10_000)
            .map(|i| {
                LatencyFault {
                    max: Some(Duration::from_secs(100)),
                    ..e
                }
                .sample((f64::from(i) + 0.5) / 10_000.0)
                .as_secs_f64()
            })
            .sum::<f64>()
            / 10_000.0;
        assert!((mean - 0.1).abs() < 0.005, "mean {mean}");
    }
}
