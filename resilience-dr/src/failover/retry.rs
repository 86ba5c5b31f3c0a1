//! A small exponential backoff, shared by the failover steps and request recovery.

use std::time::Duration;

/// Exponential backoff by step number: `delay(n) = min(max, initial × 2^n)`.
///
/// Named apart from `resilience_core::retry::Backoff` (the retry policies'
/// schedule, with jitter and attempt limits): this one is a plain function
/// of the step, for runbook steps and request recovery.
///
/// Deterministic (no jitter): failover steps run once per incident, so there
/// is no herd to spread, and a predictable schedule is easier to reason about
/// in a runbook. Saturates instead of overflowing for any `n`.
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::failover::StepBackoff;
/// let b = StepBackoff::new(Duration::from_secs(1), Duration::from_secs(30));
/// let delays: Vec<u64> = (0..7).map(|n| b.delay(n).as_secs()).collect();
/// assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
/// assert_eq!(b.delay(u32::MAX), Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepBackoff {
    initial: Duration,
    max: Duration,
}

impl StepBackoff {
    /// A backoff starting at `initial`, capped at `max`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::failover::StepBackoff;
    /// let b = StepBackoff::new(Duration::from_millis(100), Duration::from_secs(1));
    /// assert_eq!(b.delay(3), Duration::from_millis(800));
    /// ```
    pub fn new(initial: Duration, max: Duration) -> Self {
        StepBackoff { initial, max }
    }

    /// The delay for step `n` (0-based).
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::failover::StepBackoff;
    /// let b = StepBackoff::new(Duration::from_secs(1), Duration::from_secs(30));
    /// assert_eq!(b.delay(2), Duration::from_secs(4));
    /// assert_eq!(b.delay(10), Duration::from_secs(30));
    /// ```
    pub fn delay(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n).unwrap_or(u32::MAX);
        self.initial
            .checked_mul(factor)
            .unwrap_or(Duration::MAX)
            .min(self.max)
    }
}

/// Renamed to [`StepBackoff`] (distinct from `resilience_core::retry::Backoff`).
#[deprecated(since = "0.1.1", note = "renamed to `StepBackoff`")]
#[doc(hidden)]
pub type Backoff = StepBackoff;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturates_and_caps() {
        let b = StepBackoff::new(Duration::from_secs(u64::MAX / 2), Duration::from_secs(5));
        assert_eq!(b.delay(3), Duration::from_secs(5));
        let z = StepBackoff::new(Duration::ZERO, Duration::from_secs(5));
        assert_eq!(z.delay(40), Duration::ZERO);
    }
}
