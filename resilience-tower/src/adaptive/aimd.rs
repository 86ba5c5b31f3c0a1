//! AIMD: additive increase, multiplicative decrease.

use std::time::Duration;

use resilience_core::config::ConfigError;
use serde::{Deserialize, Serialize};

use super::algorithm::{check_limits, LimitAlgorithm};

/// Settings of [`Aimd`].
///
/// | field | default | meaning |
/// |---|---|---|
/// | `initial_limit` | 20 | the limit before any sample |
/// | `min_limit` | 20 | the limit never goes below this |
/// | `max_limit` | 200 | the limit never goes above this |
/// | `backoff_ratio` | 0.9 | a drop multiplies the limit by this, in [0.5, 1) |
/// | `timeout` | `5s` | a call slower than this counts as a drop |
///
/// The defaults are those of Netflix's `AIMDLimit`. Lower `min_limit` to
/// let the limit shrink further under overload.
///
/// ```
/// use std::time::Duration;
/// use resilience_tower::adaptive::AimdConfig;
/// let c: AimdConfig = resilience_core::config::from_yaml_str("initial_limit: 30\nmin_limit: 1\ntimeout: 2s").unwrap();
/// assert_eq!(c.timeout, Duration::from_secs(2));
/// assert_eq!(c.backoff_ratio, 0.9);
/// assert!(c.validate().is_ok());
/// let bad = AimdConfig { backoff_ratio: 1.0, ..AimdConfig::default() };
/// assert_eq!(bad.validate().unwrap_err().field(), Some("backoff_ratio"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AimdConfig {
    /// The limit before any sample.
    pub initial_limit: u32,
    /// The lowest limit.
    pub min_limit: u32,
    /// The highest limit.
    pub max_limit: u32,
    /// Multiplier applied on a drop, in `[0.5, 1)`.
    pub backoff_ratio: f64,
    /// Calls slower than this count as drops.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for AimdConfig {
    fn default() -> Self {
        AimdConfig {
            initial_limit: 20,
            min_limit: 20,
            max_limit: 200,
            backoff_ratio: 0.9,
            timeout: Duration::from_secs(5),
        }
    }
}

impl AimdConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_limits(self.initial_limit, self.min_limit, self.max_limit)?;
        if !(self.backoff_ratio >= 0.5 && self.backoff_ratio < 1.0) {
            return Err(ConfigError::invalid(
                "backoff_ratio",
                format!("must lie in [0.5, 1), got {}", self.backoff_ratio),
            ));
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::invalid("timeout", "must be greater than zero"));
        }
        Ok(())
    }
}

/// Loss-based limit: grows by one per sample while the limit is in use
/// (at least half of it in flight) and nothing is dropped; shrinks by
/// `backoff_ratio` on each drop or call slower than `timeout`. Latency
/// below the timeout is otherwise ignored, so AIMD suits dependencies that
/// signal overload by failing (timeouts, 429/503) rather than by slowing.
///
/// Per sample, with `limit` the current limit:
///
/// ```text
/// dropped or rtt > timeout:  limit = floor(limit * backoff_ratio)
/// else in_flight * 2 >= limit:  limit = limit + 1
/// else:  unchanged
/// then clamp to [min_limit, max_limit]
/// ```
///
/// ```
/// use std::time::Duration;
/// use resilience_tower::adaptive::{Aimd, AimdConfig, LimitAlgorithm};
///
/// let mut a = Aimd::new(AimdConfig { initial_limit: 30, min_limit: 1, ..AimdConfig::default() }).unwrap();
/// let ms = Duration::from_millis;
/// assert_eq!(a.on_sample(ms(10), 30, true), 27);
/// assert_eq!(a.on_sample(ms(10), 5, false), 27); // 5 of 27 in use: the limit is not the bottleneck
/// assert_eq!(a.on_sample(ms(10), 14, false), 28);
/// assert_eq!(a.on_sample(Duration::from_secs(6), 14, false), 25); // slower than the 5 s timeout
/// ```
#[derive(Debug, Clone)]
pub struct Aimd {
    config: AimdConfig,
    limit: u32,
}

impl Aimd {
    /// An AIMD limit at `initial_limit`.
    pub fn new(config: AimdConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Aimd {
            limit: config.initial_limit,
            config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &AimdConfig {
        &self.config
    }
}

impl LimitAlgorithm for Aimd {
    fn name(&self) -> &'static str {
        "aimd"
    }

    fn limit(&self) -> u32 {
        self.limit
    }

    fn on_sample(&mut self, rtt: Duration, in_flight: u32, dropped: bool) -> u32 {
        let c = &self.config;
        let next = if dropped || rtt > c.timeout {
            (f64::from(self.limit) * c.backoff_ratio).floor() as u32
        } else if u64::from(in_flight) * 2 >= u64::from(self.limit) {
            self.limit.saturating_add(1)
        } else {
            self.limit
        };
        self.limit = next.clamp(c.min_limit, c.max_limit);
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aimd(initial: u32, min: u32, max: u32) -> Aimd {
        Aimd::new(AimdConfig {
            initial_limit: initial,
            min_limit: min,
            max_limit: max,
            ..AimdConfig::default()
        })
        .unwrap()
    }

    const MS: Duration = Duration::from_millis(10);

    #[test]
    fn drop_from_30_goes_to_27_then_24_21_18() {
        let mut a = aimd(30, 1, 200);
        let got: Vec<u32> = (0..4).map(|_| a.on_sample(MS, 30, true)).collect();
        // 30*0.9 = 27, 27*0.9 = 24.3, 24*0.9 = 21.6, 21*0.9 = 18.9
        assert_eq!(got, [27, 24, 21, 18]);
    }

    #[test]
    fn grows_by_one_only_while_half_the_limit_is_in_use() {
        let mut a = aimd(10, 1, 12);
        assert_eq!(a.on_sample(MS, 4, false), 10, "4 * 2 < 10");
        assert_eq!(a.on_sample(MS, 5, false), 11, "5 * 2 >= 10");
        assert_eq!(a.on_sample(MS, 6, false), 12);
        assert_eq!(a.on_sample(MS, 12, false), 12, "capped at max_limit");
    }

    #[test]
    fn floors_at_min_limit_and_the_timeout_counts_as_a_drop() {
        let mut a = aimd(22, 20, 200);
        assert_eq!(a.on_sample(Duration::from_millis(5_001), 1, false), 20);
        assert_eq!(a.on_sample(MS, 1, true), 20);
        // Exactly the timeout is not slower than it.
        assert_eq!(a.on_sample(Duration::from_secs(5), 10, false), 21);
        let mut one = aimd(1, 1, 10);
        assert_eq!(one.on_sample(MS, 1, true), 1);
    }

    #[test]
    fn config_is_checked() {
        let bad = |c: AimdConfig| c.validate().unwrap_err().field().map(str::to_string);
        let d = AimdConfig::default;
        assert_eq!(
            bad(AimdConfig {
                min_limit: 0,
                ..d()
            })
            .as_deref(),
            Some("min_limit")
        );
        assert_eq!(
            bad(AimdConfig {
                max_limit: 10,
                ..d()
            })
            .as_deref(),
            Some("max_limit")
        );
        assert_eq!(
            bad(AimdConfig {
                initial_limit: 500,
                ..d()
            })
            .as_deref(),
            Some("initial_limit")
        );
        assert_eq!(
            bad(AimdConfig {
                backoff_ratio: 0.4,
                ..d()
            })
            .as_deref(),
            Some("backoff_ratio")
        );
        assert_eq!(
            bad(AimdConfig {
                backoff_ratio: f64::NAN,
                ..d()
            })
            .as_deref(),
            Some("backoff_ratio")
        );
        assert_eq!(
            bad(AimdConfig {
                timeout: Duration::ZERO,
                ..d()
            })
            .as_deref(),
            Some("timeout")
        );
    }
}
