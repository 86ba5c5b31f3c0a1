//! The adaptive limiter's configuration.

use std::time::Duration;

use resilience_core::bulkhead::MAX_WAIT;
use resilience_core::config::{fmt_duration, ConfigError};
use serde::{Deserialize, Serialize};

use super::{
    Aimd, AimdConfig, Gradient2, Gradient2Config, LimitAlgorithm, RttClock, Vegas, VegasConfig,
};

/// Which limit algorithm, with its settings. In YAML the algorithm is
/// named by `kind`:
///
/// ```
/// use resilience_tower::adaptive::LimitAlgorithmConfig;
/// let c: LimitAlgorithmConfig = resilience_core::config::from_yaml_str("kind: aimd\ninitial_limit: 30\nmin_limit: 1").unwrap();
/// let LimitAlgorithmConfig::Aimd(aimd) = &c else { panic!() };
/// assert_eq!(aimd.initial_limit, 30);
/// assert_eq!(c.build().unwrap().limit(), 30);
/// assert!(resilience_core::config::from_yaml_str::<LimitAlgorithmConfig>("kind: bbr").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LimitAlgorithmConfig {
    /// [`Aimd`]: loss based.
    Aimd(AimdConfig),
    /// [`Vegas`]: queue size from the no-load RTT (the default, as in
    /// Netflix's limiters).
    Vegas(VegasConfig),
    /// [`Gradient2`]: long-term vs current RTT.
    Gradient2(Gradient2Config),
}

impl Default for LimitAlgorithmConfig {
    fn default() -> Self {
        LimitAlgorithmConfig::Vegas(VegasConfig::default())
    }
}

impl LimitAlgorithmConfig {
    /// Checks the algorithm's settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self {
            LimitAlgorithmConfig::Aimd(c) => c.validate(),
            LimitAlgorithmConfig::Vegas(c) => c.validate(),
            LimitAlgorithmConfig::Gradient2(c) => c.validate(),
        }
    }

    /// Builds the algorithm.
    pub fn build(&self) -> Result<Box<dyn LimitAlgorithm>, ConfigError> {
        Ok(match self {
            LimitAlgorithmConfig::Aimd(c) => Box::new(Aimd::new(c.clone())?),
            LimitAlgorithmConfig::Vegas(c) => Box::new(Vegas::new(c.clone())?),
            LimitAlgorithmConfig::Gradient2(c) => Box::new(Gradient2::new(c.clone())?),
        })
    }
}

/// Settings of an [`AdaptiveLimiter`](super::AdaptiveLimiter).
///
/// | field | default | meaning |
/// |---|---|---|
/// | `name` | `adaptive` | names the limiter in errors and metrics (and its bulkhead) |
/// | `algorithm` | `{ kind: vegas }` | the limit algorithm and its settings (see [`LimitAlgorithmConfig`]) |
/// | `max_wait` | `0s` | how long a call may queue when the limit is reached; `0s` rejects at once, as Netflix's simple limiter does |
/// | `max_waiting` | = the initial limit | how many calls may queue |
/// | `rtt_clock` | `tokio` | the clock that times calls (see [`RttClock`]) |
///
/// ```
/// use std::time::Duration;
/// use resilience_tower::adaptive::{AdaptiveConfig, LimitAlgorithmConfig};
///
/// let yaml = "
/// name: inference
/// max_wait: 50ms
/// algorithm:
///   kind: gradient2
///   min_limit: 4
///   initial_limit: 16
///   max_limit: 256
/// ";
/// let c: AdaptiveConfig = resilience_core::config::from_yaml_str(yaml).unwrap();
/// assert_eq!(c.max_wait, Duration::from_millis(50));
/// assert!(matches!(c.algorithm, LimitAlgorithmConfig::Gradient2(ref g) if g.max_limit == 256));
/// assert!(c.validate().is_ok());
///
/// let bad: AdaptiveConfig = resilience_core::config::from_yaml_str("algorithm: { kind: aimd, backoff_ratio: 2 }").unwrap();
/// assert_eq!(bad.validate().unwrap_err().field(), Some("algorithm.backoff_ratio"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaptiveConfig {
    /// Names the limiter in errors and metrics.
    pub name: String,
    /// The limit algorithm.
    pub algorithm: LimitAlgorithmConfig,
    /// How long a call may queue for a slot; zero rejects at once.
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
    /// How many calls may queue; `None` means the algorithm's initial limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_waiting: Option<u32>,
    /// The clock that times calls.
    pub rtt_clock: RttClock,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        AdaptiveConfig {
            name: "adaptive".to_string(),
            algorithm: LimitAlgorithmConfig::default(),
            max_wait: Duration::ZERO,
            max_waiting: None,
            rtt_clock: RttClock::Tokio,
        }
    }
}

impl AdaptiveConfig {
    /// A config named `name` using `algorithm`, failing fast at the limit.
    ///
    /// ```
    /// use resilience_tower::adaptive::{AdaptiveConfig, AimdConfig, LimitAlgorithmConfig};
    /// let c = AdaptiveConfig::new("search", LimitAlgorithmConfig::Aimd(AimdConfig::default()));
    /// assert_eq!(c.name, "search");
    /// ```
    pub fn new(name: &str, algorithm: LimitAlgorithmConfig) -> Self {
        AdaptiveConfig {
            name: name.to_string(),
            algorithm,
            ..AdaptiveConfig::default()
        }
    }

    /// Sets `max_wait`.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// Renamed to [`max_wait`](Self::max_wait).
    #[deprecated(since = "0.1.1", note = "renamed to `AdaptiveConfig::max_wait`")]
    #[doc(hidden)]
    pub fn with_max_wait(self, max_wait: Duration) -> Self {
        self.max_wait(max_wait)
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.name.trim().is_empty() {
            return Err(ConfigError::invalid("name", "must not be empty"));
        }
        self.algorithm
            .validate()
            .map_err(|e| e.within("algorithm"))?;
        self.rtt_clock.validate()?;
        if self.max_wait > MAX_WAIT {
            return Err(ConfigError::invalid(
                "max_wait",
                format!(
                    "must be at most {}, got {}",
                    fmt_duration(MAX_WAIT),
                    fmt_duration(self.max_wait)
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_yaml_and_json() {
        for algorithm in [
            LimitAlgorithmConfig::Aimd(AimdConfig::default()),
            LimitAlgorithmConfig::Vegas(VegasConfig {
                seed: Some(3),
                ..VegasConfig::default()
            }),
            LimitAlgorithmConfig::Gradient2(Gradient2Config::default()),
        ] {
            let c = AdaptiveConfig::new("x", algorithm).max_wait(Duration::from_millis(20));
            let yaml = serde_norway::to_string(&c).unwrap();
            let back: AdaptiveConfig = resilience_core::config::from_yaml_str(&yaml).unwrap();
            assert_eq!(back, c, "{yaml}");
            let json = serde_json::to_string(&c).unwrap();
            let back: AdaptiveConfig = resilience_core::config::from_json_str(&json).unwrap();
            assert_eq!(back, c, "{json}");
        }
    }

    #[test]
    fn unknown_fields_are_rejected_inside_the_algorithm_too() {
        let r = resilience_core::config::from_yaml_str::<AdaptiveConfig>(
            "algorithm: { kind: vegas, alpha: 3 }",
        );
        assert!(r.is_err());
        let r = resilience_core::config::from_yaml_str::<AdaptiveConfig>("max_concurrency: 3");
        assert!(r.is_err());
    }

    #[test]
    fn bad_fields_are_named() {
        let c = AdaptiveConfig {
            name: " ".into(),
            ..AdaptiveConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().field(), Some("name"));
        let c = AdaptiveConfig::default().max_wait(Duration::from_secs(100_000));
        assert_eq!(c.validate().unwrap_err().field(), Some("max_wait"));
        let tsc = AdaptiveConfig {
            rtt_clock: RttClock::Tsc,
            ..AdaptiveConfig::default()
        };
        if cfg!(feature = "tsc-clock") {
            assert!(tsc.validate().is_ok());
        } else {
            assert_eq!(tsc.validate().unwrap_err().field(), Some("rtt_clock"));
        }
    }
}
