//! Rate limiter configuration: plain serde data, validated by the constructors.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{fmt_duration, ConfigError};

/// The longest `per` accepted: one day. A longer period is a bug in the
/// config, not a rate.
pub const MAX_PER: Duration = Duration::from_secs(24 * 3600);

/// The longest time a burst may take to refill at the sustained rate
/// (`burst * per / rate`): 100 years.
const MAX_REFILL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Settings of one rate limiter: `rate` permits every `per`, with bursts
/// of up to `burst` permits at once.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `name` | `default` | a label on errors and metrics |
/// | `rate` | required | permits per `per` (at least 1) |
/// | `per` | `1s` | the period of `rate` (a human duration, at most 1 day) |
/// | `burst` | = `rate` | permits a caller may take at once after a quiet spell (at least 1) |
///
/// Permits are spaced evenly: one every `per / rate` (the *emission
/// interval*, in whole nanoseconds, so it must be at least 1 ns). A quiet
/// limiter saves up to `burst` permits, so `rate: 100, per: 1s, burst: 20`
/// admits 20 calls at once, then one every 10 ms; over any window of length
/// `t` it admits at most `burst + t / interval` calls.
///
/// ```
/// use std::time::Duration;
/// use resilience_core::config::from_yaml_str;
/// use resilience_core::rate_limit::RateLimiterConfig;
///
/// let c: RateLimiterConfig = from_yaml_str("rate: 100\nper: 1s\nburst: 20").unwrap();
/// assert_eq!(c.emission_interval().unwrap(), Duration::from_millis(10));
/// assert_eq!(c.effective_burst(), 20);
///
/// let per_minute: RateLimiterConfig = from_yaml_str("rate: 60\nper: 1m").unwrap();
/// assert_eq!(per_minute.effective_burst(), 60); // burst defaults to the rate
///
/// let bad: RateLimiterConfig = from_yaml_str("rate: 0").unwrap();
/// assert_eq!(bad.validate().unwrap_err().field(), Some("rate"));
/// assert!(from_yaml_str::<RateLimiterConfig>("rate: 5\nbrust: 2").is_err()); // typo: unknown field
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimiterConfig {
    /// The limiter's name: a label on its errors and metrics. Default `"default"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Permits per `per`.
    pub rate: u32,
    /// The period of `rate`.
    #[serde(with = "humantime_serde", default = "default_per")]
    pub per: Duration,
    /// Permits that may be taken at once; `None` means `rate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
}

fn default_per() -> Duration {
    Duration::from_secs(1)
}

impl RateLimiterConfig {
    /// `rate` permits every `per`, with a burst of `rate`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::rate_limit::RateLimiterConfig;
    /// let c = RateLimiterConfig::new(600, Duration::from_secs(60)).burst(10).name("llm-provider");
    /// assert_eq!(c.emission_interval().unwrap(), Duration::from_millis(100));
    /// assert!(c.validate().is_ok());
    /// ```
    pub fn new(rate: u32, per: Duration) -> Self {
        RateLimiterConfig {
            name: None,
            rate,
            per,
            burst: None,
        }
    }

    /// `rate` permits per second, with a burst of `rate`.
    ///
    /// ```
    /// let c = resilience_core::rate_limit::RateLimiterConfig::per_second(50);
    /// assert_eq!(c.per, std::time::Duration::from_secs(1));
    /// ```
    pub fn per_second(rate: u32) -> Self {
        Self::new(rate, default_per())
    }

    /// Sets `burst`.
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    /// Sets `name`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The burst in force: `burst`, or `rate` when unset.
    pub fn effective_burst(&self) -> u32 {
        self.burst.unwrap_or(self.rate)
    }

    /// The time between two permits at the sustained rate (`per / rate`,
    /// rounded down to whole nanoseconds), or the error of
    /// [`validate`](Self::validate).
    pub fn emission_interval(&self) -> Result<Duration, ConfigError> {
        self.validate()?;
        Ok(Duration::from_nanos(self.interval_nanos()))
    }

    /// `per / rate` in nanoseconds; only meaningful once validated.
    pub(crate) fn interval_nanos(&self) -> u64 {
        let per = u64::try_from(self.per.as_nanos()).unwrap_or(u64::MAX);
        per / u64::from(self.rate.max(1))
    }

    /// Checks every field; the error names the first bad one.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::rate_limit::RateLimiterConfig;
    /// let e = RateLimiterConfig::new(10, Duration::ZERO).validate().unwrap_err();
    /// assert_eq!(e.field(), Some("per"));
    /// let e = RateLimiterConfig::per_second(10).burst(0).validate().unwrap_err();
    /// assert_eq!(e.field(), Some("burst"));
    /// // More than one permit per nanosecond cannot be spaced.
    /// let e = RateLimiterConfig::new(2_000, Duration::from_micros(1)).validate().unwrap_err();
    /// assert_eq!(e.field(), Some("rate"));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(name) = &self.name {
            if name.trim().is_empty() {
                return Err(ConfigError::invalid("name", "must not be empty"));
            }
        }
        if self.rate == 0 {
            return Err(ConfigError::invalid("rate", "must be at least 1, got 0"));
        }
        if self.per.is_zero() {
            return Err(ConfigError::invalid("per", "must be longer than 0s"));
        }
        if self.per > MAX_PER {
            return Err(ConfigError::invalid(
                "per",
                format!(
                    "must be at most {}, got {}",
                    fmt_duration(MAX_PER),
                    fmt_duration(self.per)
                ),
            ));
        }
        if self.interval_nanos() == 0 {
            return Err(ConfigError::invalid(
                "rate",
                format!(
                    "{} permits per {} is more than one per nanosecond; lower the rate or lengthen `per`",
                    self.rate,
                    fmt_duration(self.per)
                ),
            ));
        }
        if self.burst == Some(0) {
            return Err(ConfigError::invalid("burst", "must be at least 1, got 0"));
        }
        // The limiter's arithmetic is in u64 nanoseconds; a burst that takes
        // centuries to refill is a bug in the config, and refusing it keeps
        // every sum far from overflow.
        let refill = u128::from(self.interval_nanos()) * u128::from(self.effective_burst());
        if refill > MAX_REFILL.as_nanos() {
            return Err(ConfigError::invalid(
                "burst",
                format!(
                    "{} permits at {} per {} take longer than 100 years to refill; lower the burst",
                    self.effective_burst(),
                    self.rate,
                    fmt_duration(self.per)
                ),
            ));
        }
        Ok(())
    }
}
