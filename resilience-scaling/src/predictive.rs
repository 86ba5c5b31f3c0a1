//! Predictive scaling: learn the load's daily and weekly shape, forecast the
//! next horizon, and provision ahead of it.
//!
//! The data platform asks for "lookback 7 days, forecast 30 minutes, buffer 20 %".
//! [`Predictor`] keeps per-interval load averages over the lookback
//! (`observe`), and forecasts each future interval by a seasonal-naive
//! model:
//!
//! * **daily**: the mean of the same time of day on the previous days in
//!   the lookback; **weekly**: the same time one week earlier, when the
//!   lookback holds it. With both, their mean.
//! * **trend**: the ratio of the last hour's observed load to what the
//!   seasonal model would have said for that hour (clamped to 0.5–2), so a
//!   day running 30 % hotter than usual forecasts 30 % hotter.
//!
//! The recommendation covers the peak forecast of the intervals from `now +
//! scale_up_latency` to `now + scale_up_latency + forecast` (so capacity is
//! ready when the load arrives), plus the buffer, divided by
//! `capacity_per_replica`. As in AWS predictive scaling, a forecast above
//! `max_replicas` is either capped (`honor_max_capacity`) or may raise the
//! maximum to the forecast plus `max_capacity_buffer_percent`
//! (`increase_max_capacity`). Until `min_history` of data exists, there is
//! no forecast.
//!
//! ```
//! use resilience_scaling::predictive::Predictor;
//! use resilience_scaling::schedule::UtcTime;
//!
//! let mut p = Predictor::from_yaml(r#"
//! lookback: 7days
//! forecast: 30m
//! interval: 5m
//! scale_buffer_percent: 20
//! scale_up_latency: 10m
//! capacity_per_replica: 100
//! min_replicas: 2
//! max_replicas: 50
//! "#)?;
//! // Two days of a square wave: 1000/s from 09:00 to 17:00, 200/s otherwise.
//! let start = UtcTime::from_ymd_hms(2024, 1, 1, 0, 0, 0).unwrap().unix();
//! for s in (0..2 * 86_400).step_by(60) {
//!     let t = UtcTime::from_unix(start + s);
//!     let load = if (9..17).contains(&t.hour()) { 1000.0 } else { 200.0 };
//!     p.observe(t, load);
//! }
//! // Day 3, 08:30: the 09:00 ramp is inside latency + horizon.
//! let now = UtcTime::from_unix(start + 2 * 86_400 + 8 * 3600 + 1800);
//! let d = p.recommend(now).unwrap();
//! assert_eq!(d.replicas, 12); // 1000 * 1.2 / 100
//! # Ok::<(), resilience_core::config::ConfigError>(())
//! ```

use std::time::Duration;

use resilience_core::config::{self, ConfigError};
use serde::{Deserialize, Serialize};

use crate::schedule::UtcTime;

/// What to do when the forecast exceeds `max_replicas`.
///
/// ```
/// use resilience_scaling::predictive::MaxCapacityBehavior;
/// assert_eq!(MaxCapacityBehavior::default(), MaxCapacityBehavior::HonorMaxCapacity);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxCapacityBehavior {
    /// Never recommend more than `max_replicas`.
    #[default]
    HonorMaxCapacity,
    /// Raise the maximum to the forecast plus `max_capacity_buffer_percent`.
    IncreaseMaxCapacity,
}

/// Predictive scaling configuration.
///
/// ```
/// use resilience_scaling::predictive::PredictiveConfig;
/// let c: PredictiveConfig = resilience_core::config::from_yaml_str(
///     "capacity_per_replica: 50\nmin_replicas: 1\nmax_replicas: 10").unwrap();
/// assert_eq!(c.lookback.as_secs(), 7 * 86_400);
/// assert_eq!(c.scale_buffer_percent, 20.0);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictiveConfig {
    /// History kept (default 7 days).
    #[serde(default = "seven_days", with = "humantime_serde")]
    pub lookback: Duration,
    /// Horizon forecast at each decision (default 30 min).
    #[serde(default = "thirty_min", with = "humantime_serde")]
    pub forecast: Duration,
    /// Aggregation interval (default 5 min); divides a day.
    #[serde(default = "five_min", with = "humantime_serde")]
    pub interval: Duration,
    /// Extra capacity over the forecast, percent (default 20).
    #[serde(default = "twenty")]
    pub scale_buffer_percent: f64,
    /// How far ahead to provision (default 5 min).
    #[serde(default = "five_min", with = "humantime_serde")]
    pub scale_up_latency: Duration,
    /// Load one replica serves.
    pub capacity_per_replica: f64,
    /// Lower bound.
    pub min_replicas: u32,
    /// Upper bound (see `max_capacity_behavior`).
    pub max_replicas: u32,
    /// Default `honor_max_capacity`.
    #[serde(default)]
    pub max_capacity_behavior: MaxCapacityBehavior,
    /// For `increase_max_capacity`: percent above the forecast (default 10).
    #[serde(default = "ten")]
    pub max_capacity_buffer_percent: f64,
    /// Apply the trend correction (default true).
    #[serde(default = "yes")]
    pub trend: bool,
    /// History needed before forecasting (default 1 day).
    #[serde(default = "one_day", with = "humantime_serde")]
    pub min_history: Duration,
}

fn seven_days() -> Duration {
    Duration::from_secs(7 * 86_400)
}
fn one_day() -> Duration {
    Duration::from_secs(86_400)
}
fn thirty_min() -> Duration {
    Duration::from_secs(1800)
}
fn five_min() -> Duration {
    Duration::from_secs(300)
}
fn twenty() -> f64 {
    20.0
}
fn ten() -> f64 {
    10.0
}
fn yes() -> bool {
    true
}

/// A predictive recommendation.
///
/// ```
/// use resilience_scaling::predictive::PredictiveDecision;
/// let d = PredictiveDecision { replicas: 3, peak_load: 250.0, effective_max: 10, trend: 1.0 };
/// assert_eq!(d.replicas, 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PredictiveDecision {
    /// Replicas to have ready.
    pub replicas: u32,
    /// The peak forecast load over the horizon.
    pub peak_load: f64,
    /// The maximum applied (raised above `max_replicas` only with
    /// `increase_max_capacity`).
    pub effective_max: u32,
    /// The trend factor applied.
    pub trend: f64,
}

/// Learns load history and forecasts. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Predictor {
    config: PredictiveConfig,
    interval: i64,
    per_day: i64,
    slots: Vec<(i64, f64)>,
    current: Option<(i64, f64, u32)>,
    first_bucket: Option<i64>,
    cache: Option<(i64, Option<PredictiveDecision>)>,
}

impl Predictor {
    /// Parses and validates a YAML configuration.
    pub fn from_yaml(yaml: &str) -> Result<Self, ConfigError> {
        Self::new(config::from_yaml_str(yaml)?)
    }

    /// Validates a configuration.
    ///
    /// ```
    /// use resilience_scaling::predictive::Predictor;
    /// let e = Predictor::from_yaml("capacity_per_replica: 0\nmin_replicas: 1\nmax_replicas: 2").unwrap_err();
    /// assert_eq!(e.field(), Some("capacity_per_replica"));
    /// ```
    pub fn new(config: PredictiveConfig) -> Result<Self, ConfigError> {
        let interval = config.interval.as_secs() as i64;
        if interval == 0 || 86_400 % interval != 0 {
            return Err(ConfigError::invalid(
                "interval",
                "must be a whole number of seconds that divides a day (1m, 5m, 15m, 1h, ...)",
            ));
        }
        let lookback = config.lookback.as_secs() as i64;
        if !(86_400..=366 * 86_400).contains(&lookback) {
            return Err(ConfigError::invalid(
                "lookback",
                "must be between 1 day and 366 days",
            ));
        }
        if config.forecast.is_zero() || config.forecast > Duration::from_secs(2 * 86_400) {
            return Err(ConfigError::invalid(
                "forecast",
                "must be between 1s and 2 days",
            ));
        }
        if config.scale_up_latency > Duration::from_secs(86_400) {
            return Err(ConfigError::invalid(
                "scale_up_latency",
                "must be at most 1 day",
            ));
        }
        if !(config.capacity_per_replica.is_finite() && config.capacity_per_replica > 0.0) {
            return Err(ConfigError::invalid(
                "capacity_per_replica",
                format!(
                    "must be a positive number, got {}",
                    config.capacity_per_replica
                ),
            ));
        }
        for (f, v) in [
            ("scale_buffer_percent", config.scale_buffer_percent),
            (
                "max_capacity_buffer_percent",
                config.max_capacity_buffer_percent,
            ),
        ] {
            if !(v.is_finite() && (0.0..=1000.0).contains(&v)) {
                return Err(ConfigError::invalid(
                    f,
                    format!("must be in 0..=1000, got {v}"),
                ));
            }
        }
        if config.max_replicas < config.min_replicas {
            return Err(ConfigError::invalid(
                "max_replicas",
                format!(
                    "must be at least min_replicas ({}), got {}",
                    config.min_replicas, config.max_replicas
                ),
            ));
        }
        if config.min_history > config.lookback {
            return Err(ConfigError::invalid(
                "min_history",
                "must not exceed lookback",
            ));
        }
        let n = (lookback / interval) as usize;
        Ok(Predictor {
            interval,
            per_day: 86_400 / interval,
            slots: vec![(i64::MIN, f64::NAN); n],
            current: None,
            first_bucket: None,
            cache: None,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PredictiveConfig {
        &self.config
    }

    fn close_current(&mut self) {
        if let Some((b, sum, n)) = self.current.take() {
            let len = self.slots.len() as i64;
            if let Some(slot) = self.slots.get_mut(b.rem_euclid(len) as usize) {
                *slot = (b, sum / f64::from(n.max(1)));
            }
        }
    }

    /// Records a load sample (any rate, any unit matching
    /// `capacity_per_replica`). Samples older than the open interval are
    /// ignored; NaN and negative values are ignored.
    ///
    /// ```
    /// use resilience_scaling::predictive::Predictor;
    /// use resilience_scaling::schedule::UtcTime;
    /// let mut p = Predictor::from_yaml("capacity_per_replica: 10\nmin_replicas: 1\nmax_replicas: 9").unwrap();
    /// p.observe(UtcTime::from_unix(0), 42.0);
    /// assert_eq!(p.seasonal_forecast(UtcTime::from_unix(86_400)), Some(42.0));
    /// ```
    pub fn observe(&mut self, t: UtcTime, load: f64) {
        if !(load.is_finite() && load >= 0.0) {
            return;
        }
        let b = t.unix().div_euclid(self.interval);
        match self.current {
            Some((cb, ref mut sum, ref mut n)) if cb == b => {
                *sum += load;
                *n = n.saturating_add(1);
            }
            Some((cb, _, _)) if b < cb => {}
            _ => {
                self.close_current();
                self.current = Some((b, load, 1));
                self.first_bucket.get_or_insert(b);
            }
        }
    }

    fn value(&self, b: i64) -> Option<f64> {
        if let Some((cb, sum, n)) = self.current {
            if cb == b {
                return Some(sum / f64::from(n.max(1)));
            }
        }
        let len = self.slots.len() as i64;
        self.slots
            .get(b.rem_euclid(len) as usize)
            .filter(|(id, v)| *id == b && v.is_finite())
            .map(|(_, v)| *v)
    }

    fn seasonal(&self, b: i64, latest: i64) -> Option<f64> {
        let len = self.slots.len() as i64;
        let oldest = latest - len + 1;
        let days = len / self.per_day;
        let mut sum = 0.0;
        let mut n = 0u32;
        for d in 1..=days {
            let src = b - d * self.per_day;
            if src < oldest || src > latest {
                continue;
            }
            if let Some(v) = self.value(src) {
                sum += v;
                n += 1;
            }
        }
        let daily = (n > 0).then(|| sum / f64::from(n));
        let week = b - 7 * self.per_day;
        let weekly = if week >= oldest && week <= latest {
            self.value(week)
        } else {
            None
        };
        match (daily, weekly) {
            (Some(d), Some(w)) => Some((d + w) / 2.0),
            (d, w) => d.or(w),
        }
    }

    /// The forecast load for the interval containing `at`, seen from the
    /// latest observation (without trend).
    pub fn seasonal_forecast(&self, at: UtcTime) -> Option<f64> {
        let latest = self.current.map(|c| c.0)?;
        self.seasonal(at.unix().div_euclid(self.interval), latest)
    }

    fn trend_factor(&self, latest: i64) -> f64 {
        if !self.config.trend {
            return 1.0;
        }
        let window = (3600 / self.interval).max(1);
        let (mut seen, mut expected) = (0.0, 0.0);
        for b in (latest - window)..latest {
            if let (Some(v), Some(e)) = (self.value(b), self.seasonal(b, latest)) {
                seen += v;
                expected += e;
            }
        }
        if expected > 0.0 && seen > 0.0 {
            (seen / expected).clamp(0.5, 2.0)
        } else {
            1.0
        }
    }

    /// The recommendation at `now`; `None` until `min_history` of data
    /// exists. Recomputed once per interval.
    ///
    /// ```
    /// use resilience_scaling::predictive::Predictor;
    /// use resilience_scaling::schedule::UtcTime;
    /// let mut p = Predictor::from_yaml("capacity_per_replica: 10\nmin_replicas: 1\nmax_replicas: 9").unwrap();
    /// p.observe(UtcTime::from_unix(0), 42.0);
    /// assert!(p.recommend(UtcTime::from_unix(60)).is_none()); // needs a day of history
    /// ```
    pub fn recommend(&mut self, now: UtcTime) -> Option<PredictiveDecision> {
        let nb = now.unix().div_euclid(self.interval);
        if let Some((b, d)) = self.cache {
            if b == nb {
                return d;
            }
        }
        let d = self.compute(now);
        self.cache = Some((nb, d));
        d
    }

    fn compute(&self, now: UtcTime) -> Option<PredictiveDecision> {
        let latest = self.current.map(|c| c.0)?;
        let first = self.first_bucket?;
        let history = (latest - first).saturating_mul(self.interval);
        if history < self.config.min_history.as_secs() as i64 {
            return None;
        }
        let from = now
            .unix()
            .saturating_add(self.config.scale_up_latency.as_secs() as i64);
        let to = from.saturating_add(self.config.forecast.as_secs() as i64);
        let trend = self.trend_factor(latest);
        let mut peak: Option<f64> = None;
        let (fb, tb) = (
            from.div_euclid(self.interval),
            (to - 1).div_euclid(self.interval),
        );
        for b in fb..=tb.max(fb) {
            if let Some(v) = self.seasonal(b, latest) {
                peak = Some(peak.map_or(v, |p: f64| p.max(v)));
            }
        }
        let peak = peak? * trend;
        let c = &self.config;
        let want =
            (peak * (1.0 + c.scale_buffer_percent / 100.0) / c.capacity_per_replica - 1e-9).ceil();
        let want = if want.is_finite() && want > 0.0 {
            want.min(f64::from(u32::MAX)) as u32
        } else {
            0
        };
        let effective_max = match c.max_capacity_behavior {
            MaxCapacityBehavior::HonorMaxCapacity => c.max_replicas,
            MaxCapacityBehavior::IncreaseMaxCapacity => {
                let raised =
                    (f64::from(want) * (1.0 + c.max_capacity_buffer_percent / 100.0)).ceil();
                c.max_replicas.max(raised.min(f64::from(u32::MAX)) as u32)
            }
        };
        Some(PredictiveDecision {
            replicas: want.clamp(c.min_replicas, effective_max.max(c.min_replicas)),
            peak_load: peak,
            effective_max,
            trend,
        })
    }
}
