//! Vegas: queue size estimated from the no-load RTT, as in TCP Vegas.

use std::time::Duration;

use resilience_core::config::ConfigError;
use serde::{Deserialize, Serialize};

use super::algorithm::{
    check_limits, check_smoothing, log10_root, rtt_nanos, to_limit, LimitAlgorithm,
};

/// Settings of [`Vegas`].
///
/// | field | default | meaning |
/// |---|---|---|
/// | `initial_limit` | 20 | the limit before any sample |
/// | `min_limit` | 1 | the limit never goes below this |
/// | `max_limit` | 1000 | the limit never goes above this |
/// | `smoothing` | 1.0 | weight of a new estimate, in (0, 1]; 1 = no smoothing |
/// | `alpha_factor` | 3 | below `alpha = alpha_factor * log10(limit)` queued calls, grow |
/// | `beta_factor` | 6 | above `beta = beta_factor * log10(limit)` queued calls, shrink |
/// | `probe_multiplier` | 30 | re-measure the no-load RTT about every `probe_multiplier * limit` samples |
/// | `seed` | random | seed of the probe jitter; set it for reproducible runs |
///
/// The defaults are those of Netflix's `VegasLimit` (`log10(limit)` is
/// `max(1, floor(log10(limit)))`).
///
/// ```
/// use resilience_tower::adaptive::VegasConfig;
/// let c: VegasConfig = resilience_core::config::from_yaml_str("max_limit: 500\nsmoothing: 0.5\nseed: 7").unwrap();
/// assert!(c.validate().is_ok());
/// assert_eq!(c.seed, Some(7));
/// let bad = VegasConfig { alpha_factor: 7, ..VegasConfig::default() };
/// assert_eq!(bad.validate().unwrap_err().field(), Some("beta_factor"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VegasConfig {
    /// The limit before any sample.
    pub initial_limit: u32,
    /// The lowest limit.
    pub min_limit: u32,
    /// The highest limit.
    pub max_limit: u32,
    /// Weight of a new estimate, in `(0, 1]`.
    pub smoothing: f64,
    /// `alpha = alpha_factor * log10(limit)`.
    pub alpha_factor: u32,
    /// `beta = beta_factor * log10(limit)`; must exceed `alpha_factor`.
    pub beta_factor: u32,
    /// Re-measure the no-load RTT every `probe_multiplier * limit` samples
    /// (times a jitter in [0.5, 1)).
    pub probe_multiplier: u32,
    /// Seed of the probe jitter; `None` draws one per limiter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl Default for VegasConfig {
    fn default() -> Self {
        VegasConfig {
            initial_limit: 20,
            min_limit: 1,
            max_limit: 1000,
            smoothing: 1.0,
            alpha_factor: 3,
            beta_factor: 6,
            probe_multiplier: 30,
            seed: None,
        }
    }
}

impl VegasConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_limits(self.initial_limit, self.min_limit, self.max_limit)?;
        check_smoothing("smoothing", self.smoothing)?;
        if self.alpha_factor == 0 {
            return Err(ConfigError::invalid(
                "alpha_factor",
                "must be at least 1, got 0",
            ));
        }
        if self.beta_factor <= self.alpha_factor {
            return Err(ConfigError::invalid(
                "beta_factor",
                format!(
                    "must be greater than alpha_factor ({}), got {}",
                    self.alpha_factor, self.beta_factor
                ),
            ));
        }
        if self.beta_factor > 1_000 {
            return Err(ConfigError::invalid(
                "beta_factor",
                format!("must be at most 1000, got {}", self.beta_factor),
            ));
        }
        if self.probe_multiplier == 0 {
            return Err(ConfigError::invalid(
                "probe_multiplier",
                "must be at least 1, got 0",
            ));
        }
        Ok(())
    }
}

/// Delay-based limit after TCP Vegas.
///
/// The lowest RTT seen is taken as the no-load RTT; a sample's RTT above it
/// means calls are queueing somewhere. The number queued is estimated as
///
/// ```text
/// queue = ceil(limit * (1 - rtt_noload / rtt))
/// ```
///
/// and, with `l = log10(limit)` (`max(1, floor(log10))`), `alpha = 3l`,
/// `beta = 6l`, `threshold = l`:
///
/// ```text
/// dropped:               limit - l
/// in_flight * 2 < limit: unchanged (the limit is not in use: no signal)
/// queue <= threshold:    limit + beta   (no queueing: grow fast)
/// queue < alpha:         limit + l
/// queue > beta:          limit - l
/// otherwise:             unchanged
/// then clamp to [min_limit, max_limit] and smooth:
/// limit = (1 - smoothing) * limit + smoothing * new
/// ```
///
/// The first sample only sets the no-load RTT, as does any sample faster
/// than it. Because the no-load RTT can only fall, it is re-measured from
/// one sample every `probe_multiplier * limit` samples (times a jitter in
/// [0.5, 1), so a fleet does not probe in step). The limit is kept as a
/// real number; the bulkhead gets its floor.
///
/// ```
/// use std::time::Duration;
/// use resilience_tower::adaptive::{LimitAlgorithm, Vegas, VegasConfig};
///
/// let mut v = Vegas::new(VegasConfig { seed: Some(1), ..VegasConfig::default() }).unwrap();
/// let ms = Duration::from_millis;
/// assert_eq!(v.on_sample(ms(10), 20, false), 20); // sets the no-load RTT
/// assert_eq!(v.on_sample(ms(10), 20, false), 26); // no queueing: + beta (6)
/// assert_eq!(v.on_sample(ms(20), 20, false), 25); // queue ceil(26 * 0.5) = 13 > beta 6: - 1
/// ```
#[derive(Debug, Clone)]
pub struct Vegas {
    config: VegasConfig,
    estimate: f64,
    /// Nanoseconds; 0 until the first sample.
    rtt_noload: f64,
    probe_count: u64,
    probe_jitter: f64,
    rng: u64,
}

impl Vegas {
    /// A Vegas limit at `initial_limit`.
    pub fn new(config: VegasConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let rng = config.seed.unwrap_or_else(random_seed);
        let mut v = Vegas {
            estimate: f64::from(config.initial_limit),
            config,
            rtt_noload: 0.0,
            probe_count: 0,
            probe_jitter: 1.0,
            rng,
        };
        v.reset_probe_jitter();
        Ok(v)
    }

    /// The settings.
    pub fn config(&self) -> &VegasConfig {
        &self.config
    }

    /// The no-load RTT in use (`None` before the first sample).
    pub fn rtt_noload(&self) -> Option<Duration> {
        (self.rtt_noload > 0.0).then(|| Duration::from_nanos(self.rtt_noload as u64))
    }

    /// The limit as a real number, before flooring.
    pub fn estimate(&self) -> f64 {
        self.estimate
    }

    fn reset_probe_jitter(&mut self) {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let unit = (splitmix(self.rng) >> 11) as f64 / (1u64 << 53) as f64;
        self.probe_jitter = 0.5 + 0.5 * unit;
    }

    fn should_probe(&self) -> bool {
        self.probe_jitter * f64::from(self.config.probe_multiplier) * self.estimate
            <= self.probe_count as f64
    }

    fn current(&self) -> u32 {
        to_limit(self.estimate, self.config.min_limit, self.config.max_limit)
    }
}

impl LimitAlgorithm for Vegas {
    fn name(&self) -> &'static str {
        "vegas"
    }

    fn limit(&self) -> u32 {
        self.current()
    }

    fn on_sample(&mut self, rtt: Duration, in_flight: u32, dropped: bool) -> u32 {
        let rtt = rtt_nanos(rtt);
        self.probe_count = self.probe_count.saturating_add(1);
        if self.should_probe() {
            self.reset_probe_jitter();
            self.probe_count = 0;
            self.rtt_noload = rtt;
            return self.current();
        }
        if self.rtt_noload == 0.0 || rtt < self.rtt_noload {
            self.rtt_noload = rtt;
            return self.current();
        }
        let c = &self.config;
        let estimate = self.estimate;
        let current = self.current();
        let l = f64::from(log10_root(current));
        let proposed = if dropped {
            estimate - l
        } else if f64::from(in_flight) * 2.0 < estimate {
            return current;
        } else {
            let queue = (estimate * (1.0 - self.rtt_noload / rtt)).ceil();
            let threshold = l;
            let alpha = f64::from(c.alpha_factor) * l;
            let beta = f64::from(c.beta_factor) * l;
            if queue <= threshold {
                estimate + beta
            } else if queue < alpha {
                estimate + l
            } else if queue > beta {
                estimate - l
            } else {
                return current;
            }
        };
        let bounded = proposed.clamp(f64::from(c.min_limit), f64::from(c.max_limit));
        // (1 - s) * estimate + s * bounded, written so that it never moves
        // past `bounded` or away from it by rounding.
        let smoothed = estimate + c.smoothing * (bounded - estimate);
        if smoothed.is_finite() {
            self.estimate = smoothed.clamp(f64::from(c.min_limit), f64::from(c.max_limit));
        }
        self.current()
    }
}

/// SplitMix64's output function.
fn splitmix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A per-limiter seed, so a fleet's limiters do not probe in step.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x5eed);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// No probing within these tests: a huge multiplier.
    fn vegas(initial: u32, smoothing: f64) -> Vegas {
        Vegas::new(VegasConfig {
            initial_limit: initial,
            smoothing,
            probe_multiplier: 1_000_000,
            seed: Some(3),
            ..VegasConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn trajectory_against_hand_computed_values() {
        let mut v = vegas(20, 1.0);
        // 1. First sample: no-load RTT = 10 ms, limit unchanged.
        assert_eq!(v.on_sample(ms(10), 20, false), 20);
        assert_eq!(v.rtt_noload(), Some(ms(10)));
        // 2. rtt 10 ms: queue = ceil(20 * 0) = 0 <= threshold 1 -> + beta 6 = 26.
        assert_eq!(v.on_sample(ms(10), 20, false), 26);
        // 3. rtt 11 ms: queue = ceil(26 * (1 - 10/11)) = ceil(2.36) = 3;
        //    alpha = 3, so not < alpha; beta = 6, not > beta: unchanged.
        assert_eq!(v.on_sample(ms(11), 20, false), 26);
        // 4. rtt 10.5 ms: queue = ceil(26 * 0.0476) = 2 < alpha 3 -> + 1 = 27.
        assert_eq!(v.on_sample(Duration::from_micros(10_500), 20, false), 27);
        // 5. rtt 20 ms: queue = ceil(27 * 0.5) = 14 > beta 6 -> - 1 = 26.
        assert_eq!(v.on_sample(ms(20), 20, false), 26);
        // 6. A drop: - log10(26) = - 1 = 25.
        assert_eq!(v.on_sample(ms(10), 20, true), 25);
        // 7. Only 12 in flight: 24 < 25, the limit is not in use: unchanged.
        assert_eq!(v.on_sample(ms(10), 12, false), 25);
        // 8. A faster sample lowers the no-load RTT and changes nothing else.
        assert_eq!(v.on_sample(ms(5), 25, false), 25);
        assert_eq!(v.rtt_noload(), Some(ms(5)));
    }

    #[test]
    fn thresholds_scale_with_log10_of_the_limit() {
        // At 150, log10 = 2: threshold 2, alpha 6, beta 12.
        let mut v = vegas(150, 1.0);
        v.on_sample(ms(100), 150, false);
        // queue = ceil(150 * (1 - 100/101)) = ceil(1.485) = 2 <= 2 -> + 12.
        assert_eq!(v.on_sample(ms(101), 150, false), 162);
        // queue = ceil(162 * (1 - 100/103)) = ceil(4.72) = 5 < 6 -> + 2.
        assert_eq!(v.on_sample(ms(103), 150, false), 164);
        // queue = ceil(164 * (1 - 100/110)) = ceil(14.9) = 15 > 12 -> - 2.
        assert_eq!(v.on_sample(ms(110), 150, false), 162);
        // queue = ceil(162 * (1 - 100/106)) = ceil(9.17) = 10: between 6 and 12, unchanged.
        assert_eq!(v.on_sample(ms(106), 150, false), 162);
    }

    #[test]
    fn smoothing_blends_the_new_estimate() {
        let mut v = vegas(20, 0.5);
        v.on_sample(ms(10), 20, false);
        // new 26, smoothed 0.5 * 20 + 0.5 * 26 = 23.
        assert_eq!(v.on_sample(ms(10), 20, false), 23);
        assert_eq!(v.estimate(), 23.0);
        // queue = ceil(23 * 0.5) = 12 > 6: new 22, smoothed (23 + 22) / 2 = 22.5 -> 22.
        assert_eq!(v.on_sample(ms(20), 20, false), 22);
        assert_eq!(v.estimate(), 22.5);
    }

    #[test]
    fn probes_reset_the_noload_rtt() {
        let mut v = Vegas::new(VegasConfig {
            initial_limit: 2,
            probe_multiplier: 1,
            seed: Some(9),
            ..VegasConfig::default()
        })
        .unwrap();
        // jitter * 1 * 2 <= count: a probe within the first two samples.
        v.on_sample(ms(10), 2, false);
        let mut probed = false;
        for _ in 0..4 {
            v.on_sample(ms(50), 2, false);
            if v.rtt_noload() == Some(ms(50)) {
                probed = true;
            }
        }
        assert!(
            probed,
            "the no-load RTT was re-measured from a slower sample"
        );
    }

    #[test]
    fn zero_rtt_is_one_nanosecond() {
        let mut v = vegas(20, 1.0);
        assert_eq!(v.on_sample(Duration::ZERO, 20, false), 20);
        assert_eq!(v.on_sample(Duration::ZERO, 20, false), 26);
        assert!(v.estimate().is_finite());
    }

    #[test]
    fn bounds_hold() {
        let mut v = Vegas::new(VegasConfig {
            initial_limit: 5,
            min_limit: 3,
            max_limit: 12,
            probe_multiplier: 1_000_000,
            seed: Some(1),
            ..VegasConfig::default()
        })
        .unwrap();
        v.on_sample(ms(10), 5, false);
        assert_eq!(v.on_sample(ms(10), 5, false), 11);
        assert_eq!(v.on_sample(ms(10), 11, false), 12);
        for _ in 0..20 {
            v.on_sample(ms(10), 12, true);
        }
        assert_eq!(v.limit(), 3);
    }
}
