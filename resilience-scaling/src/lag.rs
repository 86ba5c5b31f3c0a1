//! Consumer-lag scaling (KEDA-like) for queue and stream consumers.
//!
//! Two ways to turn lag into instances, usable together (the higher wins):
//!
//! * **Messages** (KEDA's Kafka scaler): `ceil(total lag / lag_threshold)`
//!   instances, each expected to handle `lag_threshold` messages of backlog.
//! * **Seconds** (the model registry's consumer-group policy): a band on the lag
//!   expressed in seconds. Above `scale_up_threshold` the count grows in
//!   proportion (`ceil(current × lag / threshold)`, at least +1); below
//!   `scale_down_threshold` it shrinks by `scale_down_step`; in between it
//!   holds.
//!
//! Then, as KEDA does: a lag at or under `activation_lag_threshold` makes
//! the scaler inactive, and after `cooldown_period` of inactivity an
//! instance floor of 0 scales the consumers to zero (one message activates
//! them again, to at least one instance). Partitions bound the count: more
//! consumers than partitions would sit idle. `scale_down_cooldown` spaces
//! scale-downs.
//!
//! ```
//! use std::time::Instant;
//! use resilience_scaling::lag::{LagReading, LagScaler};
//!
//! let mut s = LagScaler::from_yaml(include_str!("../presets/consumer-lag.yaml"))?;
//! let now = Instant::now();
//! // 20 minutes behind with 8 consumers: grow in proportion, capped at 16 partitions.
//! let d = s.evaluate(now, 8, &LagReading::seconds(1200.0));
//! assert_eq!(d.replicas, 16);
//! # Ok::<(), resilience_core::config::ConfigError>(())
//! ```
//!
//! ## Metrics and events
//!
//! Decisions that change the count go to the listeners (`listeners()`).
//!
//! | name | type | labels |
//! |---|---|---|
//! | `resilience_lag_scale_events_total` | counter | `scaler`, `direction` |
//! | `resilience_lag_desired_replicas` | gauge | `scaler` |

use std::time::{Duration, Instant};

use resilience_core::config::{self, ConfigError};
use serde::{Deserialize, Serialize};

use resilience_core::events::Listeners;

use crate::observe::ScaleMetrics;

fn default_lag_name() -> String {
    "default".to_string()
}

/// A lag threshold in seconds, as consumer-group policies write it.
///
/// ```
/// use resilience_scaling::lag::LagSeconds;
/// let t: LagSeconds = resilience_core::config::from_yaml_str("consumer_lag_seconds: 300").unwrap();
/// assert_eq!(t.consumer_lag_seconds, 300.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LagSeconds {
    /// Seconds of lag.
    pub consumer_lag_seconds: f64,
}

/// Consumer-lag scaler configuration.
///
/// ```
/// use resilience_scaling::lag::LagScalerConfig;
/// let c: LagScalerConfig = resilience_core::config::from_yaml_str(
///     "min_instances: 0\nmax_instances: 10\nlag_threshold: 500").unwrap();
/// assert_eq!(c.cooldown_period.as_secs(), 300);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LagScalerConfig {
    /// Name, used as the `scaler` metrics label (default `default`).
    #[serde(default = "default_lag_name")]
    pub name: String,
    /// Lower bound; 0 allows scaling to zero.
    pub min_instances: u32,
    /// Upper bound: at least 1 and at least `min_instances`.
    pub max_instances: u32,
    /// Partition count: an upper bound on useful consumers (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<u32>,
    /// Messages of backlog per instance (messages mode): a finite number
    /// above 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_threshold: Option<f64>,
    /// Lag (messages) at or below which the scaler is inactive (default 0;
    /// a finite number >= 0).
    #[serde(default)]
    pub activation_lag_threshold: f64,
    /// Scale up above this lag (seconds mode; above 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_up_threshold: Option<LagSeconds>,
    /// Scale down below this lag (seconds mode; >= 0 and below the
    /// scale-up threshold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_threshold: Option<LagSeconds>,
    /// Instances removed per scale-down in seconds mode (default 1; at
    /// least 1).
    #[serde(default = "one")]
    pub scale_down_step: u32,
    /// Minimum time between scale-downs (default 0).
    #[serde(default, with = "humantime_serde")]
    pub scale_down_cooldown: Duration,
    /// Inactivity before scaling to zero (KEDA `cooldownPeriod`, default 300 s).
    #[serde(default = "five_min", with = "humantime_serde")]
    pub cooldown_period: Duration,
    /// Cap at the number of partitions that have lag (KEDA
    /// `limitToPartitionsWithLag`).
    #[serde(default)]
    pub limit_to_partitions_with_lag: bool,
}

fn one() -> u32 {
    1
}
fn five_min() -> Duration {
    Duration::from_secs(300)
}

/// One lag observation.
///
/// ```
/// use resilience_scaling::lag::LagReading;
/// let r = LagReading::messages(12_000).with_seconds(95.0);
/// assert_eq!(r.messages, 12_000);
/// assert_eq!(r.seconds, Some(95.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LagReading {
    /// Total lag in messages across partitions.
    pub messages: u64,
    /// Lag in seconds (age of the oldest unconsumed message, or messages /
    /// consumption rate), if known.
    pub seconds: Option<f64>,
    /// Partitions that currently have lag, if known.
    pub partitions_with_lag: Option<u32>,
}

impl LagReading {
    /// A reading in messages.
    pub fn messages(messages: u64) -> Self {
        LagReading {
            messages,
            seconds: None,
            partitions_with_lag: None,
        }
    }

    /// A reading in seconds; the message count is taken as "some" (1) when
    /// the lag is positive.
    pub fn seconds(seconds: f64) -> Self {
        LagReading {
            messages: u64::from(seconds > 0.0),
            seconds: Some(seconds),
            partitions_with_lag: None,
        }
    }

    /// Adds the lag in seconds.
    pub fn with_seconds(mut self, seconds: f64) -> Self {
        self.seconds = Some(seconds);
        self
    }

    /// Adds the number of partitions with lag.
    pub fn with_partitions_with_lag(mut self, n: u32) -> Self {
        self.partitions_with_lag = Some(n);
        self
    }
}

/// Why the lag scaler decided what it did.
///
/// ```
/// use resilience_scaling::lag::LagReason;
/// assert_ne!(LagReason::Hold, LagReason::ScaledToZero);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LagReason {
    /// Nothing to change.
    Hold,
    /// Lag grew: scaled up.
    ScaleUp,
    /// Lag shrank: scaled down.
    ScaleDown,
    /// A scale-down waited for its cooldown.
    Cooldown,
    /// Inactive for the cooldown period with a floor of 0.
    ScaledToZero,
    /// Activated from zero.
    Activated,
}

/// A lag-scaling decision.
///
/// ```
/// use resilience_scaling::lag::{LagDecision, LagReason};
/// let d = LagDecision { replicas: 4, reason: LagReason::Hold, capped_by_partitions: false };
/// assert_eq!(d.replicas, 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LagDecision {
    /// Instances to run.
    pub replicas: u32,
    /// Why.
    pub reason: LagReason,
    /// Whether the partition count capped the proposal.
    pub capped_by_partitions: bool,
}

/// The consumer-lag scaler. See the [module docs](self).
#[derive(Debug)]
pub struct LagScaler {
    listeners: Listeners<LagDecision>,
    metrics: ScaleMetrics,
    config: LagScalerConfig,
    origin: Option<Instant>,
    inactive_since: Option<Duration>,
    last_down: Option<Duration>,
}

impl LagScaler {
    /// Parses and validates a YAML configuration.
    ///
    /// ```
    /// use resilience_scaling::lag::LagScaler;
    /// let s = LagScaler::from_yaml(include_str!("../presets/consumer-lag.yaml")).unwrap();
    /// assert_eq!(s.config().partitions, Some(16));
    /// ```
    pub fn from_yaml(yaml: &str) -> Result<Self, ConfigError> {
        Self::new(config::from_yaml_str(yaml)?)
    }

    /// Validates a configuration.
    ///
    /// ```
    /// use resilience_scaling::lag::LagScaler;
    /// let e = LagScaler::from_yaml("min_instances: 1\nmax_instances: 4").unwrap_err();
    /// assert_eq!(e.field(), Some("lag_threshold"));
    /// ```
    pub fn new(config: LagScalerConfig) -> Result<Self, ConfigError> {
        if config.max_instances < config.min_instances || config.max_instances == 0 {
            return Err(ConfigError::invalid(
                "max_instances",
                format!(
                    "must be at least 1 and at least min_instances ({}), got {}",
                    config.min_instances, config.max_instances
                ),
            ));
        }
        if config.partitions == Some(0) {
            return Err(ConfigError::invalid("partitions", "must be at least 1"));
        }
        if config.lag_threshold.is_none() && config.scale_up_threshold.is_none() {
            return Err(ConfigError::invalid(
                "lag_threshold",
                "set lag_threshold (messages per instance) or scale_up_threshold (seconds), or both",
            ));
        }
        if let Some(t) = config.lag_threshold {
            if !(t.is_finite() && t > 0.0) {
                return Err(ConfigError::invalid(
                    "lag_threshold",
                    format!("must be positive, got {t}"),
                ));
            }
        }
        if !(config.activation_lag_threshold.is_finite() && config.activation_lag_threshold >= 0.0)
        {
            return Err(ConfigError::invalid(
                "activation_lag_threshold",
                "must be a number >= 0",
            ));
        }
        let up = config.scale_up_threshold.map(|t| t.consumer_lag_seconds);
        let down = config.scale_down_threshold.map(|t| t.consumer_lag_seconds);
        if let Some(u) = up {
            if !(u.is_finite() && u > 0.0) {
                return Err(ConfigError::invalid(
                    "scale_up_threshold.consumer_lag_seconds",
                    "must be positive",
                ));
            }
        }
        if let Some(d) = down {
            if !(d.is_finite() && d >= 0.0) || up.is_some_and(|u| d >= u) {
                return Err(ConfigError::invalid(
                    "scale_down_threshold.consumer_lag_seconds",
                    "must be >= 0 and below the scale-up threshold",
                ));
            }
            if up.is_none() {
                return Err(ConfigError::invalid(
                    "scale_up_threshold",
                    "is required with scale_down_threshold",
                ));
            }
        }
        if config.scale_down_step == 0 {
            return Err(ConfigError::invalid(
                "scale_down_step",
                "must be at least 1, got 0",
            ));
        }
        Ok(LagScaler {
            listeners: Listeners::new(),
            metrics: ScaleMetrics::new(
                "resilience_lag_scale_events_total",
                "resilience_lag_desired_replicas",
                "scaler",
                &config.name,
            ),
            config,
            origin: None,
            inactive_since: None,
            last_down: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LagScalerConfig {
        &self.config
    }

    /// Decides the consumer count for `current` instances and a lag reading.
    ///
    /// ```
    /// use std::time::Instant;
    /// use resilience_scaling::lag::{LagReading, LagScaler};
    /// let mut s = LagScaler::from_yaml("min_instances: 1\nmax_instances: 10\nlag_threshold: 1000").unwrap();
    /// assert_eq!(s.evaluate(Instant::now(), 2, &LagReading::messages(4500)).replicas, 5);
    /// ```
    pub fn evaluate(&mut self, now: Instant, current: u32, lag: &LagReading) -> LagDecision {
        let d = self.evaluate_inner(now, current, lag);
        self.metrics.record(current, d.replicas);
        if d.replicas != current {
            self.listeners.emit_with(|| d);
        }
        d
    }

    /// Listeners called with every decision that changes the count.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Instant;
    /// use resilience_scaling::lag::{LagDecision, LagReading, LagScaler};
    /// let mut s = LagScaler::from_yaml("min_instances: 1\nmax_instances: 10\nlag_threshold: 100").unwrap();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let sink = seen.clone();
    /// s.listeners().add_fn(move |d: &LagDecision| sink.lock().unwrap().push(d.replicas));
    /// s.evaluate(Instant::now(), 2, &LagReading::messages(450));
    /// assert_eq!(seen.lock().unwrap().len(), 1);
    /// ```
    pub fn listeners(&self) -> &Listeners<LagDecision> {
        &self.listeners
    }

    /// The decision itself; `evaluate` adds metrics and events.
    fn evaluate_inner(&mut self, now: Instant, current: u32, lag: &LagReading) -> LagDecision {
        let origin = *self.origin.get_or_insert(now);
        let t = now.saturating_duration_since(origin);
        let c = &self.config;
        let mut cap = c.max_instances;
        if let Some(p) = c.partitions {
            cap = cap.min(p);
        }
        if c.limit_to_partitions_with_lag {
            if let Some(p) = lag.partitions_with_lag {
                cap = cap.min(p.max(1));
            }
        }
        let cap = cap.max(c.min_instances);
        let seconds = lag.seconds.filter(|s| s.is_finite() && *s >= 0.0);
        let active = (lag.messages as f64) > c.activation_lag_threshold
            || seconds.is_some_and(|s| s > 0.0 && lag.messages == 0);

        if !active {
            let since = *self.inactive_since.get_or_insert(t);
            if c.min_instances == 0 && current > 0 && t.saturating_sub(since) >= c.cooldown_period {
                return LagDecision {
                    replicas: 0,
                    reason: LagReason::ScaledToZero,
                    capped_by_partitions: false,
                };
            }
            if current == 0 {
                return LagDecision {
                    replicas: c.min_instances,
                    reason: if c.min_instances == 0 {
                        LagReason::Hold
                    } else {
                        LagReason::Activated
                    },
                    capped_by_partitions: false,
                };
            }
        } else {
            self.inactive_since = None;
        }

        // Proposals.
        let mut want: Option<u32> = None;
        if let (Some(th), true) = (c.lag_threshold, active) {
            let v = (lag.messages as f64 / th).ceil();
            want = Some(v.min(f64::from(u32::MAX)) as u32);
        }
        if let (Some(up), Some(s)) = (c.scale_up_threshold, seconds) {
            let base = current.max(1);
            let w = if s > up.consumer_lag_seconds {
                let prop = (f64::from(base) * s / up.consumer_lag_seconds).ceil();
                (prop.min(f64::from(u32::MAX)) as u32).max(current.saturating_add(1))
            } else if c
                .scale_down_threshold
                .is_some_and(|d| s < d.consumer_lag_seconds)
            {
                current.saturating_sub(c.scale_down_step)
            } else {
                current
            };
            want = Some(want.map_or(w, |m| m.max(w)));
        }
        let raw = want.unwrap_or(current);
        let floor = if active {
            c.min_instances.max(1)
        } else {
            c.min_instances
        };
        let capped_by_partitions = raw > cap;
        let mut target = raw.clamp(floor.min(cap), cap);
        if current == 0 && target > 0 {
            return LagDecision {
                replicas: target,
                reason: LagReason::Activated,
                capped_by_partitions,
            };
        }
        let reason = if target > current {
            LagReason::ScaleUp
        } else if target < current {
            if current <= cap
                && self
                    .last_down
                    .is_some_and(|l| t.saturating_sub(l) < c.scale_down_cooldown)
            {
                target = current;
                LagReason::Cooldown
            } else {
                self.last_down = Some(t);
                LagReason::ScaleDown
            }
        } else {
            LagReason::Hold
        };
        LagDecision {
            replicas: target,
            reason,
            capped_by_partitions,
        }
    }
}
