//! The refusal error.

use std::fmt;
use std::time::Duration;

use crate::circuit_breaker::Name;
use crate::config::fmt_wait;
use crate::retry::{Classification, ClassifyError, ErrorClass};

/// A rate limiter refused the call: its permits are spent for now.
///
/// The call was never started, so it is always safe to try again after
/// [`retry_after`](Self::retry_after), the time until enough permits are
/// back. Its retry class is [`rate_limited`](ErrorClass::RateLimited)
/// with that `retry_after`, and the tower crate's `ErrorKind` maps it to
/// `429 Too Many Requests` with a `Retry-After` header.
///
/// ```
/// use std::time::Duration;
/// use resilience_core::clock::ManualClock;
/// use resilience_core::rate_limit::{RateLimiter, RateLimiterConfig};
/// use resilience_core::retry::{ClassifyError, ErrorClass};
///
/// let limiter = RateLimiter::with_clock(RateLimiterConfig::per_second(10).burst(1).name("search"), ManualClock::new())?;
/// limiter.try_acquire()?;
/// let refused = limiter.try_acquire().unwrap_err();
/// assert_eq!(refused.retry_after(), Duration::from_millis(100));
/// assert_eq!(refused.name(), "search");
/// assert_eq!(refused.classify().class, ErrorClass::RateLimited);
/// assert_eq!(refused.classify().retry_after, Some(Duration::from_millis(100)));
/// assert_eq!(refused.to_string(), "rate limiter `search` refused 1 permit; retry after 100ms");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RateLimited {
    name: Name,
    requested: u32,
    /// `u64::MAX` when the request can never be admitted (more than the burst).
    retry_after_nanos: u64,
}

impl RateLimited {
    #[inline]
    pub(crate) fn after_nanos(name: Name, requested: u32, retry_after_nanos: u64) -> Self {
        RateLimited {
            name,
            requested,
            retry_after_nanos,
        }
    }

    /// A refusal by the limiter `name` of `requested` permits, available
    /// again after `retry_after`: for [`RateLimit`](super::RateLimit)
    /// implementations outside this crate (a fleet-wide limiter).
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::rate_limit::RateLimited;
    /// let e = RateLimited::new("fleet", 1, Duration::from_millis(250));
    /// assert_eq!(e.retry_after(), Duration::from_millis(250));
    /// assert!(!e.exceeds_burst());
    /// ```
    pub fn new(name: &str, requested: u32, retry_after: Duration) -> Self {
        let nanos = crate::clock::duration_nanos(retry_after).min(u64::MAX - 1);
        RateLimited::after_nanos(Name::new(name), requested, nanos)
    }

    /// A refusal of a request for more permits than the burst: it can never
    /// be admitted.
    pub fn exceeding_burst(name: &str, requested: u32) -> Self {
        RateLimited::after_nanos(Name::new(name), requested, u64::MAX)
    }

    /// How long until the limiter has the permits asked for. `Duration::MAX`
    /// when the request asked for more than the burst and can never be
    /// admitted (see [`exceeds_burst`](Self::exceeds_burst)).
    #[inline]
    pub fn retry_after(&self) -> Duration {
        if self.exceeds_burst() {
            Duration::MAX
        } else {
            Duration::from_nanos(self.retry_after_nanos)
        }
    }

    /// Whether the request asked for more permits than the limiter's burst:
    /// waiting will not help, split the request or raise `burst`.
    ///
    /// ```
    /// use resilience_core::rate_limit::{RateLimiter, RateLimiterConfig};
    /// let limiter = RateLimiter::new(RateLimiterConfig::per_second(10).burst(5)).unwrap();
    /// let e = limiter.try_acquire_n(6).unwrap_err();
    /// assert!(e.exceeds_burst());
    /// assert!(e.to_string().contains("more than its burst"));
    /// ```
    #[inline]
    pub fn exceeds_burst(&self) -> bool {
        self.retry_after_nanos == u64::MAX
    }

    /// The limiter's name.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// How many permits the refused call asked for.
    pub fn requested(&self) -> u32 {
        self.requested
    }
}

impl fmt::Debug for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimited")
            .field("name", &self.name.as_str())
            .field("requested", &self.requested)
            .field("retry_after", &self.retry_after())
            .finish()
    }
}

impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name.as_str();
        let n = self.requested;
        let permits = if n == 1 { "permit" } else { "permits" };
        if self.exceeds_burst() {
            write!(
                f,
                "rate limiter `{name}` refused {n} {permits}: more than its burst, so it can never \
                 admit them at once; split the request or raise `burst`"
            )
        } else {
            write!(
                f,
                "rate limiter `{name}` refused {n} {permits}; retry after {}",
                fmt_wait(self.retry_after())
            )
        }
    }
}

impl std::error::Error for RateLimited {}

impl ClassifyError for RateLimited {
    /// [`ErrorClass::RateLimited`] with the limiter's `retry_after` (none
    /// when the request exceeds the burst: waiting does not help).
    fn classify(&self) -> Classification {
        let c = Classification::new(ErrorClass::RateLimited);
        if self.exceeds_burst() {
            c
        } else {
            c.with_retry_after(self.retry_after())
        }
    }
}
