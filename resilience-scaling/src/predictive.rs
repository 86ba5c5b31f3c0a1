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

use crate::arith;
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
    /// History kept (default 7 days): whole seconds, from 1 day to 366
    /// days, and at most [`Predictor::MAX_SLOTS`] intervals.
    #[serde(default = "seven_days", with = "humantime_serde")]
    pub lookback: Duration,
    /// Horizon forecast at each decision (default 30 min): whole seconds,
    /// from 1 s to 2 days.
    #[serde(default = "thirty_min", with = "humantime_serde")]
    pub forecast: Duration,
    /// Aggregation interval (default 5 min): a whole number of seconds that
    /// divides a day.
    #[serde(default = "five_min", with = "humantime_serde")]
    pub interval: Duration,
    /// Extra capacity over the forecast, percent (default 20; 0..=1000).
    #[serde(default = "twenty")]
    pub scale_buffer_percent: f64,
    /// How far ahead to provision (default 5 min): whole seconds, at most
    /// 1 day.
    #[serde(default = "five_min", with = "humantime_serde")]
    pub scale_up_latency: Duration,
    /// Load one replica serves: a finite number above 0.
    pub capacity_per_replica: f64,
    /// Lower bound.
    pub min_replicas: u32,
    /// Upper bound, at least `min_replicas` (see `max_capacity_behavior`).
    pub max_replicas: u32,
    /// Default `honor_max_capacity`.
    #[serde(default)]
    pub max_capacity_behavior: MaxCapacityBehavior,
    /// For `increase_max_capacity`: percent above the forecast (default 10;
    /// 0..=1000).
    #[serde(default = "ten")]
    pub max_capacity_buffer_percent: f64,
    /// Apply the trend correction (default true).
    #[serde(default = "yes")]
    pub trend: bool,
    /// History needed before forecasting (default 1 day): whole seconds, at
    /// most `lookback`.
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
    /// Bumped by every accepted sample: a cached decision is only reused
    /// for the same data and the same forecast buckets.
    version: u64,
    cache: Option<(PredictKey, Option<PredictiveDecision>)>,
}

/// What a decision depends on besides the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PredictKey {
    from_bucket: i64,
    to_bucket: i64,
    version: u64,
}

impl Predictor {
    /// The most history slots (`lookback / interval`) a predictor keeps: 16
    /// bytes each, so at most 2 MiB per predictor. 7 days at 5 s, 90 days at
    /// 1 min or 366 days at 5 min fit; a configuration needing more is
    /// refused when it is loaded.
    pub const MAX_SLOTS: usize = 131_072;

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
        // Every duration here is counted in whole seconds: refuse a
        // sub-second part rather than truncate it (a `500ms` forecast would
        // otherwise become 0 s after passing a "longer than 0" check).
        let whole = |field: &'static str, d: Duration| {
            arith::whole_secs(d).ok_or_else(|| {
                ConfigError::invalid(
                    field,
                    format!("must be a whole number of seconds, got {d:?}"),
                )
            })
        };
        let interval = whole("interval", config.interval)?;
        if 86_400i64.checked_rem(interval).is_none_or(|r| r != 0) || interval <= 0 {
            return Err(ConfigError::invalid(
                "interval",
                format!(
                    "must be a whole number of seconds that divides a day (1m, 5m, 15m, 1h, ...), got {:?}",
                    config.interval
                ),
            ));
        }
        let lookback = whole("lookback", config.lookback)?;
        if !(86_400..=366 * 86_400).contains(&lookback) {
            return Err(ConfigError::invalid(
                "lookback",
                format!("must be between 1 day and 366 days, got {lookback}s"),
            ));
        }
        // `lookback` and `interval` are both within (0, 366 days] here.
        let n = lookback
            .checked_div(interval)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(usize::MAX);
        if n > Self::MAX_SLOTS {
            return Err(ConfigError::invalid(
                "lookback",
                format!(
                    "keeps lookback / interval = {n} slots, more than the cap of {} (2 MiB): \
                     use a longer interval or a shorter lookback",
                    Self::MAX_SLOTS
                ),
            ));
        }
        let forecast = whole("forecast", config.forecast)?;
        if !(1..=2 * 86_400).contains(&forecast) {
            return Err(ConfigError::invalid(
                "forecast",
                format!("must be between 1s and 2 days, got {forecast}s"),
            ));
        }
        let latency = whole("scale_up_latency", config.scale_up_latency)?;
        if latency > 86_400 {
            return Err(ConfigError::invalid(
                "scale_up_latency",
                format!("must be at most 1 day, got {latency}s"),
            ));
        }
        whole("min_history", config.min_history)?;
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
        Ok(Predictor {
            interval,
            // interval divides a day (checked above), so this is >= 1.
            per_day: 86_400i64.checked_div(interval).unwrap_or(1),
            slots: vec![(i64::MIN, f64::NAN); n],
            current: None,
            first_bucket: None,
            version: 0,
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
            let i = self.slot_index(b);
            if let Some(slot) = self.slots.get_mut(i) {
                *slot = (b, sum / f64::from(n.max(1)));
            }
        }
    }

    /// The ring position of bucket `b`.
    fn slot_index(&self, b: i64) -> usize {
        // `rem_euclid` by a positive length lies in [0, len).
        usize::try_from(b.rem_euclid(arith::len_i64(self.slots.len()).max(1))).unwrap_or(0)
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
        self.version = self.version.wrapping_add(1);
        match self.current {
            Some((cb, ref mut sum, ref mut n)) if cb == b => {
                *sum += load; // finite and >= 0: may reach +inf, never NaN
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
        self.slots
            .get(self.slot_index(b))
            .filter(|(id, v)| *id == b && v.is_finite())
            .map(|(_, v)| *v)
    }

    fn seasonal(&self, b: i64, latest: i64) -> Option<f64> {
        let len = arith::len_i64(self.slots.len());
        let oldest = latest.saturating_sub(len).saturating_add(1);
        let days = len.checked_div(self.per_day).unwrap_or(0);
        let mut sum = 0.0;
        let mut n = 0u32;
        for d in 1..=days {
            let src = b.saturating_sub(d.saturating_mul(self.per_day));
            if src < oldest || src > latest {
                continue;
            }
            if let Some(v) = self.value(src) {
                sum += v;
                n = n.saturating_add(1);
            }
        }
        let daily = (n > 0).then(|| sum / f64::from(n));
        let week = b.saturating_sub(self.per_day.saturating_mul(7));
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
        let window = 3600i64.checked_div(self.interval).unwrap_or(1).max(1);
        let (mut seen, mut expected) = (0.0, 0.0);
        for b in latest.saturating_sub(window)..latest {
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
    /// exists. A decision is reused only while neither the samples nor the
    /// forecast's interval buckets have changed, so it always answers for
    /// the instant asked.
    ///
    /// ```
    /// use resilience_scaling::predictive::Predictor;
    /// use resilience_scaling::schedule::UtcTime;
    /// let mut p = Predictor::from_yaml("capacity_per_replica: 10\nmin_replicas: 1\nmax_replicas: 9").unwrap();
    /// p.observe(UtcTime::from_unix(0), 42.0);
    /// assert!(p.recommend(UtcTime::from_unix(60)).is_none()); // needs a day of history
    /// ```
    pub fn recommend(&mut self, now: UtcTime) -> Option<PredictiveDecision> {
        let from = now
            .unix()
            .saturating_add(arith::secs(self.config.scale_up_latency));
        let to = from.saturating_add(arith::secs(self.config.forecast));
        let key = PredictKey {
            from_bucket: from.div_euclid(self.interval),
            // forecast >= 1 s, so `to - 1 >= from` unless `from` saturated.
            to_bucket: to.saturating_sub(1).max(from).div_euclid(self.interval),
            version: self.version,
        };
        if let Some((k, d)) = self.cache {
            if k == key {
                return d;
            }
        }
        let d = self.compute(key);
        self.cache = Some((key, d));
        d
    }

    fn compute(&self, key: PredictKey) -> Option<PredictiveDecision> {
        let latest = self.current.map(|c| c.0)?;
        let first = self.first_bucket?;
        let history = latest.saturating_sub(first).saturating_mul(self.interval);
        if history < arith::secs(self.config.min_history) {
            return None;
        }
        let trend = self.trend_factor(latest);
        let mut peak: Option<f64> = None;
        let (fb, tb) = (key.from_bucket, key.to_bucket);
        for b in fb..=tb.max(fb) {
            if let Some(v) = self.seasonal(b, latest) {
                peak = Some(peak.map_or(v, |p: f64| p.max(v)));
            }
        }
        let peak = peak? * trend;
        let c = &self.config;
        let want =
            (peak * (1.0 + c.scale_buffer_percent / 100.0) / c.capacity_per_replica - 1e-9).ceil();
        let want = arith::f64_to_u32(want);
        let effective_max = match c.max_capacity_behavior {
            MaxCapacityBehavior::HonorMaxCapacity => c.max_replicas,
            MaxCapacityBehavior::IncreaseMaxCapacity => {
                let raised =
                    (f64::from(want) * (1.0 + c.max_capacity_buffer_percent / 100.0)).ceil();
                c.max_replicas.max(arith::f64_to_u32(raised))
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
