//! The limit algorithm interface and helpers shared by the algorithms.

use std::fmt;
use std::time::Duration;

use resilience_core::config::ConfigError;

/// The largest limit any algorithm produces: the core bulkhead's maximum
/// number of permits (2^31 - 1).
pub const MAX_LIMIT: u32 = (1 << 31) - 1;

/// A concurrency limit algorithm: a pure state machine fed one sample per
/// completed call, answering the new limit.
///
/// A sample is the call's round-trip time, how many calls were in flight
/// when it started (itself included) and whether it was *dropped*: a
/// classified failure that signals overload (a timeout, a 503, a
/// rejection downstream). The algorithms never read a clock and never
/// allocate, so their trajectories can be tested against hand-computed
/// values, and a custom algorithm plugs into
/// [`AdaptiveLimiter::with_algorithm`](super::AdaptiveLimiter::with_algorithm).
///
/// ```
/// use std::time::Duration;
/// use resilience_tower::adaptive::{Aimd, AimdConfig, LimitAlgorithm};
///
/// let mut aimd = Aimd::new(AimdConfig { initial_limit: 30, min_limit: 1, ..AimdConfig::default() }).unwrap();
/// assert_eq!(aimd.limit(), 30);
/// assert_eq!(aimd.on_sample(Duration::from_millis(10), 20, true), 27); // a drop: x 0.9
/// assert_eq!(aimd.on_sample(Duration::from_millis(10), 20, false), 28); // in use: + 1
/// ```
pub trait LimitAlgorithm: Send + fmt::Debug {
    /// The algorithm's name, for metrics labels and logs (`aimd`, `vegas`,
    /// `gradient2`).
    fn name(&self) -> &'static str;

    /// The current limit, at least 1.
    fn limit(&self) -> u32;

    /// Feeds one sample; returns the new limit (at least 1).
    fn on_sample(&mut self, rtt: Duration, in_flight: u32, dropped: bool) -> u32;
}

impl<A: LimitAlgorithm + ?Sized> LimitAlgorithm for Box<A> {
    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn limit(&self) -> u32 {
        (**self).limit()
    }

    fn on_sample(&mut self, rtt: Duration, in_flight: u32, dropped: bool) -> u32 {
        (**self).on_sample(rtt, in_flight, dropped)
    }
}

/// `max(1, floor(log10(limit)))`: the step the Vegas thresholds scale with.
#[inline]
pub(crate) fn log10_root(limit: u32) -> u32 {
    let mut n = limit;
    let mut digits = 0;
    while n >= 10 {
        n /= 10;
        digits += 1;
    }
    digits.max(1)
}

/// `max(1, floor(sqrt(limit)))`.
#[inline]
pub(crate) fn sqrt_root(limit: u32) -> u32 {
    // Exact integer square root (f64 is exact for u32 inputs, then fix up).
    let mut r = f64::from(limit).sqrt() as u64;
    let l = u64::from(limit);
    while r * r > l {
        r -= 1;
    }
    while (r + 1) * (r + 1) <= l {
        r += 1;
    }
    (r as u32).max(1)
}

/// A round-trip time in nanoseconds as `f64`, at least 1 ns (a zero RTT,
/// as a paused test clock gives, would divide by zero).
#[inline]
pub(crate) fn rtt_nanos(rtt: Duration) -> f64 {
    (rtt.as_nanos() as f64).max(1.0)
}

/// `floor(x)` as a limit in `[min, max]`; NaN maps to `min`.
#[inline]
pub(crate) fn to_limit(x: f64, min: u32, max: u32) -> u32 {
    if x.is_nan() {
        return min;
    }
    let floored = x.floor().clamp(f64::from(min), f64::from(max));
    floored as u32
}

/// Checks the `[min, max]` bounds and that `initial` lies within them.
pub(crate) fn check_limits(initial: u32, min: u32, max: u32) -> Result<(), ConfigError> {
    if min == 0 {
        return Err(ConfigError::invalid(
            "min_limit",
            "must be at least 1, got 0",
        ));
    }
    if max > MAX_LIMIT {
        return Err(ConfigError::invalid(
            "max_limit",
            format!("must be at most {MAX_LIMIT}, got {max}"),
        ));
    }
    if max < min {
        return Err(ConfigError::invalid(
            "max_limit",
            format!("must be at least min_limit ({min}), got {max}"),
        ));
    }
    if !(min..=max).contains(&initial) {
        return Err(ConfigError::invalid(
            "initial_limit",
            format!("must lie within [min_limit, max_limit] = [{min}, {max}], got {initial}"),
        ));
    }
    Ok(())
}

/// Checks that a fraction lies in `(0, 1]`.
pub(crate) fn check_smoothing(field: &'static str, value: f64) -> Result<(), ConfigError> {
    if value.is_finite() && value > 0.0 && value <= 1.0 {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            field,
            format!("must lie in (0, 1], got {value}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log10_root_matches_the_definition() {
        for (l, r) in [
            (0, 1),
            (1, 1),
            (9, 1),
            (10, 1),
            (99, 1),
            (100, 2),
            (999, 2),
            (1000, 3),
            (u32::MAX, 9),
        ] {
            assert_eq!(log10_root(l), r, "{l}");
        }
    }

    #[test]
    fn sqrt_root_is_the_integer_square_root() {
        for (l, r) in [
            (0, 1),
            (1, 1),
            (3, 1),
            (4, 2),
            (20, 4),
            (24, 4),
            (25, 5),
            (1_000_000, 1000),
            (u32::MAX, 65535),
        ] {
            assert_eq!(sqrt_root(l), r, "{l}");
        }
    }

    #[test]
    fn to_limit_floors_and_clamps() {
        assert_eq!(to_limit(27.9, 1, 100), 27);
        assert_eq!(to_limit(0.5, 1, 100), 1);
        assert_eq!(to_limit(f64::NAN, 3, 100), 3);
        assert_eq!(to_limit(f64::INFINITY, 3, 100), 100);
        assert_eq!(to_limit(f64::NEG_INFINITY, 3, 100), 3);
    }
}
