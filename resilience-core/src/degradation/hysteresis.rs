//! The level state machine: degrade at once, recover one level at a time
//! after the better level has held for `recover_after`.

use std::time::{Duration, Instant};

/// A level change: `(from, to)` severities.
pub(crate) type Change = (u8, u8);

#[derive(Debug, Clone)]
pub(crate) struct Hysteresis {
    current: u8,
    recovering_since: Option<Instant>,
    recover_after: Duration,
    immediate: bool,
}

impl Hysteresis {
    pub(crate) fn new(initial: u8, recover_after: Duration) -> Self {
        Hysteresis {
            current: initial,
            recovering_since: None,
            recover_after,
            immediate: false,
        }
    }

    /// Recover straight to `recovery_target` on every evaluation instead of
    /// one level per hold period.
    pub(crate) fn immediate(mut self, on: bool) -> Self {
        self.immediate = on;
        self
    }

    pub(crate) fn current(&self) -> u8 {
        self.current
    }

    /// Feeds the inputs at `now`.
    ///
    /// * `target`: the level the inputs call for right now.
    /// * `recovery_target`: the level they call for with the recovery margin
    ///   applied (never better than `target`).
    ///
    /// Degrades at once to `target`. Recovers by exactly one level once
    /// `recovery_target` has been better than the current level without a
    /// break for `recover_after`; the next step needs another full period.
    pub(crate) fn step(&mut self, target: u8, recovery_target: u8, now: Instant) -> Option<Change> {
        let from = self.current;
        if target > from {
            self.current = target;
            self.recovering_since = None;
            return Some((from, target));
        }
        if recovery_target >= from {
            self.recovering_since = None;
            return None;
        }
        if self.immediate {
            self.current = recovery_target;
            return Some((from, recovery_target));
        }
        let since = *self.recovering_since.get_or_insert(now);
        if now.saturating_duration_since(since) < self.recover_after {
            return None;
        }
        self.current = from - 1;
        // The next step's hold period starts now, if its condition holds now.
        self.recovering_since = (recovery_target < self.current).then_some(now);
        Some((from, self.current))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degrades_at_once_and_recovers_one_level_per_period() {
        let t0 = Instant::now();
        let s = |secs| t0 + Duration::from_secs(secs);
        let mut h = Hysteresis::new(0, Duration::from_secs(30));
        assert_eq!(h.step(3, 3, s(0)), Some((0, 3)));
        assert_eq!(h.step(0, 0, s(1)), None);
        assert_eq!(h.step(0, 0, s(30)), None);
        assert_eq!(h.step(0, 0, s(31)), Some((3, 2)));
        assert_eq!(h.step(0, 0, s(32)), None);
        assert_eq!(h.step(0, 0, s(61)), Some((2, 1)));
        // A relapse resets the hold period.
        assert_eq!(h.step(1, 1, s(70)), None);
        assert_eq!(h.step(0, 0, s(71)), None);
        assert_eq!(h.step(0, 0, s(100)), None);
        assert_eq!(h.step(0, 0, s(101)), Some((1, 0)));
        assert_eq!(h.current(), 0);
    }

    #[test]
    fn immediate_recovery_goes_straight_to_the_target() {
        let t0 = Instant::now();
        let mut h = Hysteresis::new(0, Duration::from_secs(30)).immediate(true);
        assert_eq!(h.step(4, 4, t0), Some((0, 4)));
        assert_eq!(h.step(1, 1, t0), Some((4, 1)));
        assert_eq!(h.step(0, 0, t0), Some((1, 0)));
        assert_eq!(h.step(0, 0, t0), None);
    }

    #[test]
    fn margin_band_blocks_recovery() {
        let t0 = Instant::now();
        let mut h = Hysteresis::new(2, Duration::ZERO);
        // Good enough for level 1 by score, not with the margin.
        assert_eq!(h.step(1, 2, t0), None);
        assert_eq!(h.step(1, 1, t0), Some((2, 1)));
    }
}
