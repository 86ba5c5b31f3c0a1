//! Gradient2: the ratio of long-term to current RTT steers the limit.

use std::time::Duration;

use resilience_core::config::ConfigError;
use serde::{Deserialize, Serialize};

use super::algorithm::{
    check_limits, check_smoothing, rtt_nanos, sqrt_root, to_limit, LimitAlgorithm,
};

/// How much queueing [`Gradient2`] allows on top of the scaled limit.
///
/// In YAML: `queue_size: { fixed: 4 }` or `queue_size: { sqrt: 4 }`.
///
/// ```
/// use resilience_tower::adaptive::QueueSize;
/// assert_eq!(QueueSize::Sqrt(4).at(20), 4);
/// assert_eq!(QueueSize::Sqrt(4).at(100), 10);
/// assert_eq!(QueueSize::Fixed(4).at(100), 4);
/// let q: QueueSize = resilience_core::config::from_yaml_str("{ sqrt: 8 }").unwrap();
/// assert_eq!(q, QueueSize::Sqrt(8));
/// assert!(resilience_core::config::from_yaml_str::<QueueSize>("{ sqrt: 8, fixed: 2 }").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "QueueSizeRepr", into = "QueueSizeRepr")]
pub enum QueueSize {
    /// Always this many.
    Fixed(u32),
    /// `max(min, floor(sqrt(limit)))`: grows with the limit.
    Sqrt(u32),
}

/// The map form of [`QueueSize`] in configs: exactly one of `fixed`, `sqrt`.
/// (A map rather than an enum, so the YAML writer emits no `!tag`, which
/// the algorithm's `kind`-tagged form could not read back.)
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueSizeRepr {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fixed: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sqrt: Option<u32>,
}

impl TryFrom<QueueSizeRepr> for QueueSize {
    type Error = String;

    fn try_from(r: QueueSizeRepr) -> Result<Self, String> {
        match (r.fixed, r.sqrt) {
            (Some(n), None) => Ok(QueueSize::Fixed(n)),
            (None, Some(n)) => Ok(QueueSize::Sqrt(n)),
            _ => Err("queue_size takes exactly one of `fixed: N` or `sqrt: MIN`".to_string()),
        }
    }
}

impl From<QueueSize> for QueueSizeRepr {
    fn from(q: QueueSize) -> Self {
        match q {
            QueueSize::Fixed(n) => QueueSizeRepr {
                fixed: Some(n),
                sqrt: None,
            },
            QueueSize::Sqrt(n) => QueueSizeRepr {
                fixed: None,
                sqrt: Some(n),
            },
        }
    }
}

impl QueueSize {
    /// The queue allowance at `limit`.
    pub fn at(self, limit: u32) -> u32 {
        match self {
            QueueSize::Fixed(n) => n,
            QueueSize::Sqrt(min) => sqrt_root(limit).max(min),
        }
    }
}

/// Settings of [`Gradient2`].
///
/// | field | default | meaning |
/// |---|---|---|
/// | `initial_limit` | 20 | the limit before any sample |
/// | `min_limit` | 20 | the limit never goes below this |
/// | `max_limit` | 200 | the limit never goes above this |
/// | `smoothing` | 0.2 | weight of a new estimate, in (0, 1] |
/// | `queue_size` | `{ sqrt: 4 }` | allowance added to the scaled limit: `max(4, sqrt(limit))` |
/// | `long_window` | 600 | samples in the long-term RTT average (exponential, after a 10-sample warm-up mean) |
/// | `rtt_tolerance` | 1.5 | how much slower than the long-term RTT calls may get before the limit shrinks; at least 1 |
///
/// The defaults are Netflix's `Gradient2Limit`'s, except `queue_size`:
/// Netflix uses a fixed 4 there (and `sqrt` in its first gradient limit);
/// `max(4, sqrt(limit))` is the same at the default limits and lets a large
/// limit grow in proportion. Use `{ fixed: 4 }` for Netflix's exact
/// behaviour.
///
/// ```
/// use resilience_tower::adaptive::{Gradient2Config, QueueSize};
/// let c: Gradient2Config = resilience_core::config::from_yaml_str("max_limit: 500\nqueue_size: { fixed: 4 }").unwrap();
/// assert_eq!(c.queue_size, QueueSize::Fixed(4));
/// assert!(c.validate().is_ok());
/// let bad = Gradient2Config { rtt_tolerance: 0.9, ..Gradient2Config::default() };
/// assert_eq!(bad.validate().unwrap_err().field(), Some("rtt_tolerance"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Gradient2Config {
    /// The limit before any sample.
    pub initial_limit: u32,
    /// The lowest limit.
    pub min_limit: u32,
    /// The highest limit.
    pub max_limit: u32,
    /// Weight of a new estimate, in `(0, 1]`.
    pub smoothing: f64,
    /// Queueing allowed on top of the scaled limit.
    pub queue_size: QueueSize,
    /// Samples in the long-term RTT average.
    pub long_window: u32,
    /// Tolerated slowdown against the long-term RTT, at least 1.
    pub rtt_tolerance: f64,
}

impl Default for Gradient2Config {
    fn default() -> Self {
        Gradient2Config {
            initial_limit: 20,
            min_limit: 20,
            max_limit: 200,
            smoothing: 0.2,
            queue_size: QueueSize::Sqrt(4),
            long_window: 600,
            rtt_tolerance: 1.5,
        }
    }
}

impl Gradient2Config {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_limits(self.initial_limit, self.min_limit, self.max_limit)?;
        check_smoothing("smoothing", self.smoothing)?;
        if self.long_window == 0 {
            return Err(ConfigError::invalid(
                "long_window",
                "must be at least 1, got 0",
            ));
        }
        if !(self.rtt_tolerance.is_finite() && self.rtt_tolerance >= 1.0) {
            return Err(ConfigError::invalid(
                "rtt_tolerance",
                format!(
                    "must be a finite number of at least 1, got {}",
                    self.rtt_tolerance
                ),
            ));
        }
        let q = match self.queue_size {
            QueueSize::Fixed(n) | QueueSize::Sqrt(n) => n,
        };
        if q > self.max_limit {
            return Err(ConfigError::invalid(
                "queue_size",
                format!("must be at most max_limit ({}), got {q}", self.max_limit),
            ));
        }
        Ok(())
    }
}

/// Samples averaged plainly before the exponential average takes over.
const WARMUP: u32 = 10;

/// Decay applied to the long-term RTT when it is more than twice the
/// current one (latency has recovered after a long overload).
const LONG_RTT_DECAY: f64 = 0.95;

/// Latency-gradient limit after Netflix's Gradient2.
///
/// It compares the current RTT (the sample's) with a long-term exponential
/// average of RTTs, rather than with a minimum, so bursty services do not
/// anchor on an unrealistically low baseline. Per sample:
///
/// ```text
/// long = long-term average updated with rtt  (mean of the first 10, then
///        value * (1 - f) + rtt * f with f = 2 / (long_window + 1))
/// if long / rtt > 2: decay the stored average by 0.95 (recovering from overload)
/// if in_flight < limit / 2: unchanged (the limit is not in use: no signal)
/// gradient = clamp(rtt_tolerance * long / rtt, 0.5, 1.0)
/// new = limit * gradient + queue_size(limit)
/// limit = clamp(limit * (1 - smoothing) + new * smoothing, min_limit, max_limit)
/// ```
///
/// The gradient is 1 while calls are no slower than `rtt_tolerance` times
/// the long-term RTT: the limit then grows by `smoothing * queue_size` per
/// sample. As calls slow down, it shrinks, by at most half per sample
/// before smoothing. Drops carry no extra weight (as in Netflix's
/// Gradient2): a timed-out call feeds its long RTT, which lowers the
/// gradient.
///
/// ```
/// use std::time::Duration;
/// use resilience_tower::adaptive::{Gradient2, Gradient2Config, LimitAlgorithm};
///
/// let mut g = Gradient2::new(Gradient2Config::default()).unwrap();
/// let ms = Duration::from_millis;
/// // rtt at the long-term average: 20 * 0.8 + (20 + 4) * 0.2 = 20.8
/// assert_eq!(g.on_sample(ms(10), 20, false), 20);
/// assert!((g.estimate() - 20.8).abs() < 1e-9);
/// ```
#[derive(Debug, Clone)]
pub struct Gradient2 {
    config: Gradient2Config,
    estimate: f64,
    long_rtt: ExpAvg,
    last_rtt: f64,
}

impl Gradient2 {
    /// A Gradient2 limit at `initial_limit`.
    pub fn new(config: Gradient2Config) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Gradient2 {
            estimate: f64::from(config.initial_limit),
            long_rtt: ExpAvg::new(config.long_window),
            last_rtt: 0.0,
            config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &Gradient2Config {
        &self.config
    }

    /// The limit as a real number, before flooring.
    pub fn estimate(&self) -> f64 {
        self.estimate
    }

    /// The long-term RTT average (zero before the first sample).
    pub fn long_rtt(&self) -> Duration {
        Duration::from_nanos(self.long_rtt.value as u64)
    }

    /// The last sample's RTT.
    pub fn last_rtt(&self) -> Duration {
        Duration::from_nanos(self.last_rtt as u64)
    }

    fn current(&self) -> u32 {
        to_limit(self.estimate, self.config.min_limit, self.config.max_limit)
    }
}

impl LimitAlgorithm for Gradient2 {
    fn name(&self) -> &'static str {
        "gradient2"
    }

    fn limit(&self) -> u32 {
        self.current()
    }

    fn on_sample(&mut self, rtt: Duration, in_flight: u32, _dropped: bool) -> u32 {
        let c = &self.config;
        let estimate = self.estimate;
        let queue = f64::from(c.queue_size.at(self.current()));
        let short = rtt_nanos(rtt);
        self.last_rtt = short;
        let long = self.long_rtt.add(short);
        if long / short > 2.0 {
            self.long_rtt.value *= LONG_RTT_DECAY;
        }
        if f64::from(in_flight) < estimate / 2.0 {
            return self.current();
        }
        let gradient = (c.rtt_tolerance * long / short).clamp(0.5, 1.0);
        let proposed = estimate * gradient + queue;
        // estimate * (1 - s) + proposed * s, written so that rounding never
        // moves it past `proposed`.
        let smoothed = estimate + c.smoothing * (proposed - estimate);
        if smoothed.is_finite() {
            self.estimate = smoothed.clamp(f64::from(c.min_limit), f64::from(c.max_limit));
        }
        self.current()
    }
}

/// An exponential moving average with a plain-mean warm-up.
#[derive(Debug, Clone)]
struct ExpAvg {
    value: f64,
    sum: f64,
    count: u32,
    factor: f64,
}

impl ExpAvg {
    fn new(window: u32) -> Self {
        ExpAvg {
            value: 0.0,
            sum: 0.0,
            count: 0,
            factor: 2.0 / (f64::from(window) + 1.0),
        }
    }

    fn add(&mut self, sample: f64) -> f64 {
        if self.count < WARMUP {
            self.count += 1;
            self.sum += sample;
            self.value = self.sum / f64::from(self.count);
        } else {
            self.value = self.value * (1.0 - self.factor) + sample * self.factor;
        }
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    fn g(config: Gradient2Config) -> Gradient2 {
        Gradient2::new(config).unwrap()
    }

    #[test]
    fn steady_latency_grows_by_smoothing_times_queue() {
        let mut a = g(Gradient2Config::default());
        // Each sample: est * 0.8 + (est + 4) * 0.2 = est + 0.8 (sqrt(20..24) = 4).
        let expected = [20.8, 21.6, 22.4, 23.2, 24.0];
        for e in expected {
            a.on_sample(ms(10), 100, false);
            assert!(close(a.estimate(), e), "{} != {e}", a.estimate());
        }
        assert_eq!(a.limit(), 24);
        // At 25, sqrt(25) = 5: + 1.0 per sample.
        a.on_sample(ms(10), 100, false);
        assert!(close(a.estimate(), 24.8));
        a.on_sample(ms(10), 100, false);
        assert!(close(a.estimate(), 25.6));
        a.on_sample(ms(10), 100, false);
        assert!(close(a.estimate(), 26.6), "{}", a.estimate());
    }

    #[test]
    fn slow_calls_shrink_the_limit_by_the_gradient() {
        let mut a = g(Gradient2Config {
            initial_limit: 100,
            min_limit: 1,
            max_limit: 1000,
            queue_size: QueueSize::Fixed(4),
            ..Gradient2Config::default()
        });
        // Warm-up: first sample 10 ms, long = 10 ms, gradient 1:
        // 100 * 0.8 + 104 * 0.2 = 100.8.
        a.on_sample(ms(10), 100, false);
        assert!(close(a.estimate(), 100.8));
        // 40 ms: long = mean(10, 40) = 25 ms; gradient = 1.5 * 25 / 40 = 0.9375.
        // new = 100.8 * 0.9375 + 4 = 98.5; smoothed 100.8 * 0.8 + 98.5 * 0.2 = 100.34.
        a.on_sample(ms(40), 100, false);
        assert!(close(a.estimate(), 100.34), "{}", a.estimate());
        assert_eq!(a.long_rtt(), ms(25));
        // 200 ms: long = (10 + 40 + 200) / 3 = 83.33 ms; 1.5 * 83.33 / 200 = 0.625.
        // new = 100.34 * 0.625 + 4 = 66.7125; smoothed 80.272 + 13.3425 = 93.6145.
        a.on_sample(ms(200), 100, false);
        assert!(close(a.estimate(), 93.6145), "{}", a.estimate());
        // 2 s: long = 2250 / 4 = 562.5 ms; gradient 1.5 * 562.5 / 2000 = 0.42 -> clamped 0.5.
        // new = 93.6145 * 0.5 + 4 = 50.80725; smoothed 74.8916 + 10.16145 = 85.05305.
        a.on_sample(ms(2_000), 100, false);
        assert!(close(a.estimate(), 85.05305), "{}", a.estimate());
        assert_eq!(a.limit(), 85);
    }

    #[test]
    fn app_limited_samples_only_feed_the_average() {
        let mut a = g(Gradient2Config::default());
        // 9 in flight < 20 / 2: unchanged, but the average moved.
        assert_eq!(a.on_sample(ms(30), 9, false), 20);
        assert!(close(a.estimate(), 20.0));
        assert_eq!(a.long_rtt(), ms(30));
    }

    #[test]
    fn long_rtt_decays_after_overload() {
        let mut a = g(Gradient2Config {
            long_window: 1,
            ..Gradient2Config::default()
        });
        for _ in 0..10 {
            a.on_sample(ms(100), 100, false);
        }
        assert_eq!(a.long_rtt(), ms(100));
        // Window 1: factor 1, so long = the sample = 10 ms; ratio 1: no decay.
        a.on_sample(ms(10), 100, false);
        assert_eq!(a.long_rtt(), ms(10));
        let mut b = g(Gradient2Config::default());
        for _ in 0..10 {
            b.on_sample(ms(100), 100, false);
        }
        // long = 100 * (1 - 2/601) + 10 * 2/601 = 99.7005 ms; 99.7 / 10 > 2: x 0.95.
        b.on_sample(ms(10), 100, false);
        let expected = (100.0 * (1.0 - 2.0 / 601.0) + 10.0 * 2.0 / 601.0) * 0.95;
        assert!((b.long_rtt().as_secs_f64() * 1e3 - expected).abs() < 1e-6);
    }

    #[test]
    fn bounded_by_min_and_max() {
        let mut a = g(Gradient2Config {
            initial_limit: 20,
            min_limit: 10,
            max_limit: 22,
            ..Gradient2Config::default()
        });
        for _ in 0..20 {
            a.on_sample(ms(10), 100, false);
        }
        assert_eq!(a.limit(), 22);
        for i in 0..200 {
            a.on_sample(ms(10 * (i + 2)), 100, false);
        }
        assert!(a.limit() >= 10);
    }

    #[test]
    fn config_is_checked() {
        let d = Gradient2Config::default;
        let field = |c: Gradient2Config| c.validate().unwrap_err().field().map(str::to_string);
        assert_eq!(
            field(Gradient2Config {
                smoothing: 0.0,
                ..d()
            })
            .as_deref(),
            Some("smoothing")
        );
        assert_eq!(
            field(Gradient2Config {
                long_window: 0,
                ..d()
            })
            .as_deref(),
            Some("long_window")
        );
        assert_eq!(
            field(Gradient2Config {
                rtt_tolerance: f64::NAN,
                ..d()
            })
            .as_deref(),
            Some("rtt_tolerance")
        );
        assert_eq!(
            field(Gradient2Config {
                queue_size: QueueSize::Fixed(500),
                ..d()
            })
            .as_deref(),
            Some("queue_size")
        );
        assert_eq!(
            field(Gradient2Config {
                initial_limit: 5,
                ..d()
            })
            .as_deref(),
            Some("initial_limit")
        );
    }
}
