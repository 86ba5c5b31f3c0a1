//! Arithmetic on values that come from configuration or from callers.
//!
//! Every evaluator turns [`Duration`]s, [`Instant`]s, replica counts and
//! metric values into integers and back. Those values are chosen by users
//! (a `lookback` of `18446744073709551615s` is valid YAML) or arrive from
//! metrics pipelines (NaN, ±∞, `u32::MAX`), so a plain `+`, `as` or
//! `abs()` on them can panic in a debug build or wrap silently in a release
//! build. The conversions live here, once, with the rule each one follows:
//!
//! * **Saturate** when the value is a point on a time line or a count: a
//!   duration longer than `i64::MAX` nanoseconds (≈ 292 years) behaves as
//!   "forever", a replica count beyond `u32::MAX` as `u32::MAX`. Nothing a
//!   caller can observe changes between "292 years" and "more".
//! * **Refuse** (return `None`) where a saturated value would be a different
//!   answer: a sub-second `interval` is not a whole number of seconds, an
//!   `Instant` past the platform's range is not a time at all.
//! * **Never produce NaN-driven casts**: a NaN count becomes 0 explicitly.
//!
//! The crate is linted with `clippy::arithmetic_side_effects` over its
//! configuration and evaluation paths; the few operations left in those
//! paths have bounds argued beside them.

use std::time::{Duration, Instant};

/// Nanoseconds in `d`, saturating at `i64::MAX` (about 292 years).
#[inline]
pub(crate) fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Whole seconds in `d`, saturating at `i64::MAX`.
#[inline]
pub(crate) fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// `Some(seconds)` when `d` is a whole number of seconds that fits an
/// `i64`, `None` otherwise (`1001ms`, `500ms`, `u64::MAX` seconds).
#[inline]
pub(crate) fn whole_secs(d: Duration) -> Option<i64> {
    if d.subsec_nanos() != 0 {
        return None;
    }
    i64::try_from(d.as_secs()).ok()
}

/// A duration of `n` nanoseconds; 0 for a negative `n`.
#[inline]
pub(crate) fn from_nanos(n: i64) -> Duration {
    Duration::from_nanos(u64::try_from(n).unwrap_or(0))
}

/// Nanoseconds from `origin` to `at` (negative before), saturating.
#[inline]
pub(crate) fn signed_nanos(origin: Instant, at: Instant) -> i64 {
    if at >= origin {
        nanos(at.duration_since(origin))
    } else {
        nanos(origin.duration_since(at)).saturating_neg()
    }
}

/// A float count as `u32`: NaN and negatives give 0, values beyond
/// `u32::MAX` give `u32::MAX`, fractions are truncated.
#[inline]
pub(crate) fn f64_to_u32(v: f64) -> u32 {
    if v.is_nan() || v <= 0.0 {
        0
    } else if v >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        // In (0, u32::MAX): the cast is exact after truncation.
        v as u32
    }
}

/// A float as `i64`: NaN gives 0, out-of-range values saturate, fractions
/// are truncated toward zero.
#[inline]
pub(crate) fn f64_to_i64(v: f64) -> i64 {
    if v.is_nan() {
        0
    } else {
        // `as` saturates at the bounds for finite and infinite floats.
        v as i64
    }
}

/// An `i64` count clamped into `u32`.
#[inline]
pub(crate) fn clamp_u32(v: i64) -> u32 {
    u32::try_from(v.clamp(0, i64::from(u32::MAX))).unwrap_or(u32::MAX)
}

/// A collection length as `i64` (lengths are far below `i64::MAX`).
#[inline]
pub(crate) fn len_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_saturate_or_refuse_instead_of_wrapping() {
        assert_eq!(nanos(Duration::MAX), i64::MAX);
        assert_eq!(secs(Duration::MAX), i64::MAX);
        assert_eq!(whole_secs(Duration::from_millis(1001)), None);
        assert_eq!(whole_secs(Duration::from_secs(u64::MAX)), None);
        assert_eq!(whole_secs(Duration::from_secs(60)), Some(60));
        assert_eq!(from_nanos(-5), Duration::ZERO);
        assert_eq!(f64_to_u32(f64::NAN), 0);
        assert_eq!(f64_to_u32(f64::INFINITY), u32::MAX);
        assert_eq!(f64_to_u32(-3.0), 0);
        assert_eq!(f64_to_u32(7.9), 7);
        assert_eq!(f64_to_i64(f64::NEG_INFINITY), i64::MIN);
        assert_eq!(f64_to_i64(f64::NAN), 0);
        assert_eq!(clamp_u32(i64::MIN), 0);
        assert_eq!(clamp_u32(i64::MAX), u32::MAX);
        let t = Instant::now();
        assert_eq!(signed_nanos(t, t), 0);
    }
}
