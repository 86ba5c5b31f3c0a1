//! The shared limiter: an algorithm steering a bulkhead's limit.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram};
use parking_lot::Mutex;
use resilience_core::bulkhead::{Bulkhead, BulkheadConfig};
use resilience_core::config::ConfigError;

use super::algorithm::MAX_LIMIT;
use super::clock::Timing;
use super::{AdaptiveConfig, LimitAlgorithm};

struct Metrics {
    limit: Gauge,
    rtt: Histogram,
    success: Counter,
    dropped: Counter,
    ignored: Counter,
}

impl Metrics {
    fn new(name: &str) -> Self {
        let label = name.to_string();
        let samples = |outcome: &'static str| {
            metrics::counter!(
                "resilience_adaptive_samples_total",
                "limiter" => label.clone(),
                "outcome" => outcome
            )
        };
        Metrics {
            success: samples("success"),
            dropped: samples("dropped"),
            ignored: samples("ignored"),
            rtt: metrics::histogram!("resilience_adaptive_rtt_seconds", "limiter" => label.clone()),
            limit: metrics::gauge!("resilience_adaptive_limit", "limiter" => label),
        }
    }
}

/// A concurrency limit that adapts: a [`LimitAlgorithm`] fed with every
/// completed call, steering the limit of a core [`Bulkhead`] through its
/// resizable limit ([`Bulkhead::set_max_concurrent`]).
///
/// Share it with an `Arc` between the services of an
/// [`AdaptiveConcurrencyLayer`](super::AdaptiveConcurrencyLayer) (the layer
/// does), or feed it samples by hand with [`record`](Self::record).
/// Admission is the bulkhead's lock-free fast path; a sample takes a short
/// uncontended lock around the algorithm, and the bulkhead's limit is only
/// written when it changes. The limit is applied outside the lock, so no
/// waker runs while the algorithm is held.
///
/// ```
/// use std::time::Duration;
/// use resilience_tower::adaptive::{AdaptiveConfig, AdaptiveLimiter, AimdConfig, LimitAlgorithmConfig};
///
/// let aimd = AimdConfig { initial_limit: 30, min_limit: 1, ..AimdConfig::default() };
/// let limiter = AdaptiveLimiter::new(AdaptiveConfig::new("gpu", LimitAlgorithmConfig::Aimd(aimd))).unwrap();
/// assert_eq!(limiter.limit(), 30);
/// assert_eq!(limiter.record(Duration::from_millis(80), 30, true), 27);
/// assert_eq!(limiter.bulkhead().max_concurrent(), 27);
/// ```
pub struct AdaptiveLimiter {
    name: Arc<str>,
    algorithm_name: &'static str,
    bulkhead: Bulkhead,
    algorithm: Mutex<Box<dyn LimitAlgorithm>>,
    /// The limit the algorithm last asked for.
    target: AtomicU32,
    timing: Timing,
    metrics: Metrics,
}

impl fmt::Debug for AdaptiveLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveLimiter")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm_name)
            .field("limit", &self.limit())
            .field("in_flight", &self.bulkhead.in_flight())
            .finish()
    }
}

impl AdaptiveLimiter {
    /// Builds a limiter (and its bulkhead, named after it) from a config;
    /// the error names the bad field.
    ///
    /// ```
    /// use resilience_tower::adaptive::{AdaptiveConfig, AdaptiveLimiter};
    /// let limiter = AdaptiveLimiter::new(AdaptiveConfig::default()).unwrap();
    /// assert_eq!(limiter.name(), "adaptive");
    /// assert_eq!(limiter.algorithm(), "vegas");
    /// assert_eq!(limiter.limit(), 20);
    /// ```
    pub fn new(config: AdaptiveConfig) -> Result<Arc<Self>, ConfigError> {
        config.validate()?;
        let algorithm = config
            .algorithm
            .build()
            .map_err(|e| e.within("algorithm"))?;
        Self::build(&config, algorithm)
    }

    /// A limiter driven by an algorithm of your own (or one built by
    /// hand): everything but `config.algorithm` (name, `max_wait`,
    /// `max_waiting`, `rtt_clock`) comes from `config`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_tower::adaptive::{AdaptiveConfig, AdaptiveLimiter, LimitAlgorithm};
    ///
    /// /// Halves on a drop, doubles on success, between 1 and 64.
    /// #[derive(Debug)]
    /// struct Doubling(u32);
    /// impl LimitAlgorithm for Doubling {
    ///     fn name(&self) -> &'static str { "doubling" }
    ///     fn limit(&self) -> u32 { self.0 }
    ///     fn on_sample(&mut self, _rtt: Duration, _in_flight: u32, dropped: bool) -> u32 {
    ///         self.0 = if dropped { (self.0 / 2).max(1) } else { (self.0 * 2).min(64) };
    ///         self.0
    ///     }
    /// }
    /// let config = AdaptiveConfig { name: "jobs".into(), ..AdaptiveConfig::default() };
    /// let limiter = AdaptiveLimiter::with_algorithm(&config, Doubling(8)).unwrap();
    /// assert_eq!(limiter.algorithm(), "doubling");
    /// assert_eq!(limiter.record(Duration::from_millis(1), 8, false), 16);
    /// assert_eq!(limiter.bulkhead().max_concurrent(), 16);
    /// ```
    pub fn with_algorithm<A: LimitAlgorithm + 'static>(
        config: &AdaptiveConfig,
        algorithm: A,
    ) -> Result<Arc<Self>, ConfigError> {
        config.validate()?;
        Self::build(config, Box::new(algorithm))
    }

    fn build(
        config: &AdaptiveConfig,
        algorithm: Box<dyn LimitAlgorithm>,
    ) -> Result<Arc<Self>, ConfigError> {
        let name = config.name.as_str();
        let initial = algorithm.limit().clamp(1, MAX_LIMIT);
        let mut bulkhead = BulkheadConfig::new(initial).max_wait(config.max_wait);
        if let Some(w) = config.max_waiting {
            bulkhead = bulkhead.max_waiting(w);
        }
        let bulkhead = Bulkhead::new(name, bulkhead)?;
        let timing = Timing::new(config.rtt_clock)?;
        let metrics = Metrics::new(name);
        metrics.limit.set(f64::from(initial));
        Ok(Arc::new(AdaptiveLimiter {
            name: Arc::from(name),
            algorithm_name: algorithm.name(),
            bulkhead,
            algorithm: Mutex::new(algorithm),
            target: AtomicU32::new(initial),
            timing,
            metrics,
        }))
    }

    pub(crate) fn timing(&self) -> &Timing {
        &self.timing
    }

    /// The limiter's name (also its bulkhead's).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The algorithm's name (`aimd`, `vegas`, `gradient2`, or yours).
    pub fn algorithm(&self) -> &'static str {
        self.algorithm_name
    }

    /// The limit in force.
    pub fn limit(&self) -> u32 {
        self.bulkhead.max_concurrent()
    }

    /// The bulkhead whose limit this limiter steers: admission, waiting,
    /// rejections ([`BulkheadFull`](resilience_core::bulkhead::BulkheadFull)
    /// named after the limiter), its metrics, and its events, including a
    /// `LimitChanged` event for every change of the limit.
    pub fn bulkhead(&self) -> &Bulkhead {
        &self.bulkhead
    }

    /// Feeds one completed call: its round-trip time, the calls in flight
    /// when it started (itself included), and whether it was dropped
    /// (a classified failure: timeout, overload). Returns the new limit.
    pub fn record(&self, rtt: Duration, in_flight: u32, dropped: bool) -> u32 {
        self.metrics.rtt.record(rtt.as_secs_f64());
        if dropped {
            self.metrics.dropped.increment(1);
        } else {
            self.metrics.success.increment(1);
        }
        let limit = {
            let mut algorithm = self.algorithm.lock();
            let limit = algorithm
                .on_sample(rtt, in_flight, dropped)
                .clamp(1, MAX_LIMIT);
            self.target.store(limit, Ordering::Release);
            limit
        };
        self.apply();
        limit
    }

    /// Counts a completed call that carries no signal (classified as
    /// ignored): no sample is fed.
    pub fn record_ignored(&self) {
        self.metrics.ignored.increment(1);
    }

    /// Brings the bulkhead's limit to the latest target. Runs outside the
    /// algorithm's lock; a caller that applied a target that has since
    /// moved on applies again, so the last write is always the latest target.
    fn apply(&self) {
        loop {
            let target = self.target.load(Ordering::Acquire);
            if self.bulkhead.max_concurrent() != target
                && self.bulkhead.set_max_concurrent(target).is_ok()
            {
                self.metrics.limit.set(f64::from(target));
            }
            if self.target.load(Ordering::Acquire) == target {
                return;
            }
        }
    }
}
