//! Arithmetic on instants and durations that come from configuration.
//!
//! Every DR primitive turns a configured duration into a deadline
//! (`reported_at + max_report_age`, `now + retry_delay`, `renewed_at +
//! ttl`). `Instant + Duration` panics when the sum leaves the platform's
//! range, and the tempting `checked_add(d).unwrap_or(at)` is worse: it
//! turns "a very long time from now" into "now", so a vote with a huge
//! `max_report_age` looked expired the moment it arrived and an outage was
//! never confirmed. The rule, in one place: **a deadline that cannot be
//! represented lies in the far future**, never in the past.
//!
//! The crate is reviewed with `clippy::arithmetic_side_effects` over its
//! configuration and evaluation paths.

use std::time::{Duration, Instant};

/// `at + d`, saturating at the latest instant the platform can represent
/// after `at` (instead of panicking, and never earlier than a
/// representable `at + d` would be).
pub(crate) fn saturating_add(at: Instant, d: Duration) -> Instant {
    if let Some(t) = at.checked_add(d) {
        return t;
    }
    // Binary search for the largest representable offset below `d`:
    // at most ~94 halvings (the bits of a Duration), only on overflow.
    let (mut ok, mut too_far) = (Duration::ZERO, d);
    loop {
        let gap = too_far.saturating_sub(ok);
        if gap <= Duration::from_nanos(1) {
            break;
        }
        let mid = ok.saturating_add(gap.checked_div(2).unwrap_or(Duration::ZERO));
        if at.checked_add(mid).is_some() {
            ok = mid;
        } else {
            too_far = mid;
        }
    }
    at.checked_add(ok).unwrap_or(at)
}

/// Whether `d` has fully elapsed between `since` and `now` (never true for
/// a `now` before `since`). Needs no addition, so it cannot overflow.
pub(crate) fn elapsed(since: Instant, now: Instant, d: Duration) -> bool {
    now.saturating_duration_since(since) >= d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_beyond_the_clock_lies_in_the_far_future() {
        let now = Instant::now();
        let far = saturating_add(now, Duration::MAX);
        assert!(far > now + Duration::from_secs(100 * 365 * 86_400));
        assert_eq!(
            saturating_add(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        assert!(!elapsed(now, far, Duration::MAX));
        assert!(elapsed(now, now, Duration::ZERO));
    }
}
