use std::time::Duration;

use resilience_core::config::{
    check_fraction, check_nonzero, check_nonzero_duration, check_unit_interval, ConfigError,
};
use serde::{Deserialize, Serialize};

/// When to send the second request.
///
/// ```
/// use std::time::Duration;
/// use resilience_tower::hedge::HedgeDelay;
/// let d: HedgeDelay = resilience_core::config::from_yaml_str("{kind: fixed, after: 50ms}").unwrap();
/// assert_eq!(d, HedgeDelay::Fixed { after: Duration::from_millis(50) });
/// let p: HedgeDelay = resilience_core::config::from_yaml_str("{kind: percentile, percentile: 0.95}").unwrap();
/// assert!(matches!(p, HedgeDelay::Percentile { min_samples: 100, .. }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum HedgeDelay {
    /// After a fixed delay.
    Fixed {
        /// How long the first request may run alone.
        #[serde(with = "humantime_serde")]
        after: Duration,
    },
    /// After the given percentile of recent successful latencies (e.g.
    /// `0.95`: hedge the slowest 5%). No request is hedged until
    /// `min_samples` latencies were recorded in the window.
    Percentile {
        /// The percentile, in `(0, 1]`.
        percentile: f64,
        /// Latencies needed before hedging starts (default 100).
        #[serde(default = "default_min_samples")]
        min_samples: u64,
        /// A lower bound on the delay (default none): never hedge sooner.
        #[serde(
            default,
            with = "humantime_serde::option",
            skip_serializing_if = "Option::is_none"
        )]
        min_delay: Option<Duration>,
    },
}

fn default_min_samples() -> u64 {
    100
}

fn default_max_hedge_ratio() -> f64 {
    0.1
}

fn default_burst() -> u32 {
    10
}

fn default_window() -> Duration {
    Duration::from_secs(30)
}

/// A hedging policy as config data; [`Hedge::new`](super::Hedge::new)
/// validates it.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `delay` | required | a [`HedgeDelay`]: fixed, or a latency percentile |
/// | `max_hedge_ratio` | `0.1` | hedges may be at most this fraction of requests (the extra-load budget) |
/// | `burst` | `10` | unused hedge allowance that may be saved up |
/// | `window` | `30s` | how far back the latency percentile looks (between one and two windows) |
///
/// ```
/// use std::time::Duration;
/// use resilience_tower::hedge::{HedgeConfig, HedgeDelay};
/// let c: HedgeConfig = resilience_core::config::from_yaml_str(r#"
/// delay: {kind: percentile, percentile: 0.95, min_samples: 50}
/// max_hedge_ratio: 0.05
/// "#).unwrap();
/// assert_eq!(c.burst, 10);
/// assert_eq!(c.window, Duration::from_secs(30));
/// c.validate().unwrap();
/// let bad = HedgeConfig { max_hedge_ratio: 1.5, ..HedgeConfig::fixed(Duration::from_millis(10)) };
/// assert_eq!(bad.validate().unwrap_err().field(), Some("max_hedge_ratio"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HedgeConfig {
    /// When to hedge.
    pub delay: HedgeDelay,
    /// The most hedges per request, as a fraction in `[0, 1]`.
    #[serde(default = "default_max_hedge_ratio")]
    pub max_hedge_ratio: f64,
    /// Unused hedge allowance kept for bursts (at least 1).
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// The latency window of the percentile delay.
    #[serde(default = "default_window", with = "humantime_serde")]
    pub window: Duration,
}

impl HedgeConfig {
    /// Hedge after a fixed `after`, with the other fields at their defaults.
    pub fn fixed(after: Duration) -> HedgeConfig {
        HedgeConfig {
            delay: HedgeDelay::Fixed { after },
            max_hedge_ratio: default_max_hedge_ratio(),
            burst: default_burst(),
            window: default_window(),
        }
    }

    /// Hedge after the `percentile` of recent latencies (once 100 were
    /// seen), with the other fields at their defaults.
    pub fn percentile(percentile: f64) -> HedgeConfig {
        HedgeConfig {
            delay: HedgeDelay::Percentile {
                percentile,
                min_samples: default_min_samples(),
                min_delay: None,
            },
            ..HedgeConfig::fixed(Duration::ZERO)
        }
    }

    /// Checks every field, naming the bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_unit_interval("max_hedge_ratio", self.max_hedge_ratio)?;
        check_nonzero("burst", u64::from(self.burst))?;
        check_nonzero_duration("window", self.window)?;
        if let HedgeDelay::Percentile {
            percentile,
            min_samples,
            ..
        } = self.delay
        {
            check_fraction("delay.percentile", percentile)?;
            check_nonzero("delay.min_samples", min_samples)?;
        }
        Ok(())
    }
}
