//! Rate limiting: at most `rate` calls every `per`, with bounded bursts,
//! refused at once with a [`RateLimited`] that says when to come back.
//!
//! A [`RateLimiter`] spaces permits evenly, one every `per / rate` (the
//! *emission interval*), and lets a quiet caller save up to `burst` of them.
//! It is the generic cell rate algorithm (GCRA), as in `governor`: the whole
//! state is one *theoretical arrival time* (the instant the limiter would be
//! empty again at the sustained rate), kept in one `AtomicU64` in clock
//! nanoseconds. A call at time `t` asking for `n` permits is admitted when
//!
//! ```text
//! max(tat, t) + n * interval  <=  t + burst * interval
//! ```
//!
//! and then moves `tat` to the left-hand side with one compare-and-swap; a
//! refusal writes nothing and reports the difference as `retry_after`.
//!
//! * **Cheap.** One clock read (the CPU's time-stamp counter on the
//!   system clock, as for the breaker), one atomic load and (when admitted) one
//!   compare-and-swap; no lock, no allocation, no background task, no timer
//!   (see the counting-allocator test in the repository's `tests/zero_alloc.rs`
//!   and `benches/rate_limit.rs`, which runs it beside `governor`).
//! * **Deterministic.** Time comes from a [`Clock`]: a
//!   [`ManualClock`](crate::clock::ManualClock) in tests, so a test moves
//!   time by a second and sees exactly `rate` more permits.
//! * **Never waits.** A refusal is immediate and carries
//!   [`retry_after`](RateLimited::retry_after); what to do with it (fail,
//!   shed, wait, answer 429) is the caller's choice. Its retry class is
//!   [`rate_limited`](crate::retry::ErrorClass::RateLimited).
//! * **Replaceable.** Callers hold the [`RateLimit`] trait, which a
//!   fleet-wide limiter (`resilience_store::fleet::FleetRateLimiter`,
//!   tokens shared by every replica through Redis) implements too.
//!
//! ```
//! use std::time::Duration;
//! use resilience_core::clock::ManualClock;
//! use resilience_core::rate_limit::{RateLimiter, RateLimiterConfig};
//!
//! let clock = ManualClock::new();
//! // 100 calls per second to the LLM provider, at most 10 at once.
//! let limiter = RateLimiter::with_clock(RateLimiterConfig::per_second(100).burst(10), clock.clone())?;
//! for _ in 0..10 {
//!     limiter.try_acquire()?; // the saved-up burst
//! }
//! let refused = limiter.try_acquire().unwrap_err();
//! assert_eq!(refused.retry_after(), Duration::from_millis(10)); // one emission interval
//! clock.advance(Duration::from_millis(10));
//! limiter.try_acquire()?;
//! clock.advance(Duration::from_secs(1)); // a quiet second saves up the burst again, no more
//! assert_eq!(limiter.available(), 10);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Metrics
//!
//! Handles are registered when the limiter is built, so install the
//! `metrics` recorder first. Every series has the label `name` (the
//! limiter's name).
//!
//! | name | kind | labels | meaning |
//! |---|---|---|---|
//! | `resilience_rate_limit_permitted_total` | counter | `name` | permits handed out |
//! | `resilience_rate_limit_rejected_total` | counter | `name` | calls refused (each refused call counts once, whatever it asked for) |
//! | `resilience_rate_limit_rate_per_second` | gauge | `name` | the configured sustained rate, in permits per second |

mod config;
mod error;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use metrics::Counter;

pub use config::{RateLimiterConfig, MAX_PER};
pub use error::RateLimited;

use crate::circuit_breaker::Name;
use crate::clock::{shared, Clock, SystemClock, Ticker};
use crate::config::ConfigError;

/// Something that hands out permits at a bounded rate: the local
/// [`RateLimiter`], or a fleet-wide one sharing its permits with other
/// replicas. Layers and stacks hold this trait, so either stands in.
///
/// ```
/// use std::sync::Arc;
/// use resilience_core::rate_limit::{RateLimit, RateLimiter, RateLimiterConfig};
///
/// let limiter: Arc<dyn RateLimit> = Arc::new(RateLimiter::new(RateLimiterConfig::per_second(5))?);
/// assert_eq!(limiter.name(), "default");
/// assert!(limiter.try_acquire().is_ok());
/// assert!(limiter.try_acquire_n(4).is_ok());
/// assert!(limiter.try_acquire().is_err());
/// # Ok::<(), resilience_core::config::ConfigError>(())
/// ```
pub trait RateLimit: Send + Sync + fmt::Debug {
    /// Takes `n` permits now, or refuses at once with the time until they
    /// would be available. `n == 0` always succeeds; more than the burst
    /// never does ([`RateLimited::exceeds_burst`]).
    fn try_acquire_n(&self, n: u32) -> Result<(), RateLimited>;

    /// Takes one permit now, or refuses at once.
    #[inline]
    fn try_acquire(&self) -> Result<(), RateLimited> {
        self.try_acquire_n(1)
    }

    /// How many permits could be taken right now (for metrics and logs; by
    /// the time the caller acts on it, other callers may have taken them).
    fn available(&self) -> u32;

    /// The limiter's name, as in its errors and metrics.
    fn name(&self) -> &str;
}

impl<T: RateLimit + ?Sized> RateLimit for Arc<T> {
    #[inline]
    fn try_acquire_n(&self, n: u32) -> Result<(), RateLimited> {
        (**self).try_acquire_n(n)
    }

    #[inline]
    fn try_acquire(&self) -> Result<(), RateLimited> {
        (**self).try_acquire()
    }

    fn available(&self) -> u32 {
        (**self).available()
    }

    fn name(&self) -> &str {
        (**self).name()
    }
}

/// The decision of GCRA for `n` permits at `now`, given the theoretical
/// arrival time `tat` (all in nanoseconds on the limiter's time line):
/// `Ok(new_tat)` to admit, `Err(retry_after)` to refuse (`u64::MAX` when
/// `n` is more than the burst). `n` must be at least 1.
///
/// Shared by the limiter and its model test, so that both do the same
/// integer arithmetic (saturating, so no config or time makes it overflow).
#[inline]
pub(crate) fn gcra(tat: u64, now: u64, n: u32, interval: u64, burst: u32) -> Result<u64, u64> {
    if n > burst {
        return Err(u64::MAX);
    }
    let tolerance = interval.saturating_mul(u64::from(burst));
    let new_tat = tat
        .max(now)
        .saturating_add(interval.saturating_mul(u64::from(n)));
    let limit = now.saturating_add(tolerance);
    if new_tat <= limit {
        Ok(new_tat)
    } else {
        Err(new_tat - limit)
    }
}

/// Permits free at `now` given `tat`: `burst` when idle, fewer while
/// recent calls are still being paid off.
#[inline]
pub(crate) fn gcra_available(tat: u64, now: u64, interval: u64, burst: u32) -> u32 {
    let tolerance = interval.saturating_mul(u64::from(burst));
    let debt = tat.saturating_sub(now);
    let free = tolerance.saturating_sub(debt) / interval.max(1);
    u32::try_from(free).unwrap_or(u32::MAX).min(burst)
}

struct Metrics {
    permitted: Counter,
    rejected: Counter,
}

/// What every handle of one limiter shares.
struct Shared {
    name: Name,
    /// Theoretical arrival time, in nanoseconds since `start`.
    tat: AtomicU64,
    interval: u64,
    burst: u32,
    /// Nanoseconds since the limiter was built: the time-stamp counter on
    /// the system clock, else the given clock.
    ticker: Ticker,
    config: RateLimiterConfig,
    metrics: Metrics,
}

/// A lock-free rate limiter (GCRA on one atomic word); see the [module
/// docs](self).
///
/// Cheap to clone: clones share one limiter (an `Arc` inside), so hand a
/// clone to every task whose calls it bounds.
///
/// ```
/// use resilience_core::rate_limit::{RateLimiter, RateLimiterConfig};
///
/// let limiter = RateLimiter::new(RateLimiterConfig::per_second(50).name("geocoder"))?;
/// assert_eq!(limiter.name(), "geocoder");
/// assert_eq!(limiter.burst(), 50);
/// let clone = limiter.clone();
/// clone.try_acquire_n(50)?;
/// assert!(limiter.try_acquire().is_err()); // the clone spent the shared permits
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Shared>,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("name", &self.name())
            .field("rate", &self.inner.config.rate)
            .field("per", &self.inner.config.per)
            .field("burst", &self.inner.burst)
            .field("available", &RateLimit::available(self))
            .finish()
    }
}

impl RateLimiter {
    /// Builds a limiter from a validated config on the system clock.
    ///
    /// ```
    /// use resilience_core::rate_limit::{RateLimiter, RateLimiterConfig};
    /// assert!(RateLimiter::new(RateLimiterConfig::per_second(10)).is_ok());
    /// let err = RateLimiter::new(RateLimiterConfig::per_second(0)).unwrap_err();
    /// assert_eq!(err.field(), Some("rate"));
    /// ```
    pub fn new(config: RateLimiterConfig) -> Result<Self, ConfigError> {
        Self::with_clock(config, SystemClock)
    }

    /// Like [`RateLimiter::new`], reading time from `clock`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_core::rate_limit::{RateLimiter, RateLimiterConfig};
    /// let clock = ManualClock::new();
    /// let limiter = RateLimiter::with_clock(RateLimiterConfig::new(1, Duration::from_secs(60)), clock.clone()).unwrap();
    /// limiter.try_acquire().unwrap();
    /// assert_eq!(limiter.try_acquire().unwrap_err().retry_after(), Duration::from_secs(60));
    /// ```
    pub fn with_clock(config: RateLimiterConfig, clock: impl Clock) -> Result<Self, ConfigError> {
        config.validate()?;
        let clock = shared(clock);
        let ticker = Ticker::new(&clock);
        let name = config.name.as_deref().unwrap_or("default");
        let label = name.to_string();
        let metrics = Metrics {
            permitted: metrics::counter!("resilience_rate_limit_permitted_total", "name" => label.clone()),
            rejected: metrics::counter!("resilience_rate_limit_rejected_total", "name" => label.clone()),
        };
        let per_second = f64::from(config.rate) / config.per.as_secs_f64();
        metrics::gauge!("resilience_rate_limit_rate_per_second", "name" => label).set(per_second);
        Ok(RateLimiter {
            inner: Arc::new(Shared {
                name: Name::new(name),
                tat: AtomicU64::new(0),
                interval: config.interval_nanos(),
                burst: config.effective_burst(),
                ticker,
                config,
                metrics,
            }),
        })
    }

    /// The limiter's name, as in its errors and metrics.
    pub fn name(&self) -> &str {
        self.inner.name.as_str()
    }

    /// The config it was built from.
    pub fn config(&self) -> &RateLimiterConfig {
        &self.inner.config
    }

    /// The most permits it hands out at once.
    pub fn burst(&self) -> u32 {
        self.inner.burst
    }

    /// The time between two permits at the sustained rate.
    pub fn emission_interval(&self) -> Duration {
        Duration::from_nanos(self.inner.interval)
    }

    #[inline]
    fn now(&self) -> u64 {
        self.inner.ticker.nanos()
    }

    /// Takes one permit, or refuses at once with the time until the next.
    ///
    /// ```
    /// use resilience_core::rate_limit::{RateLimiter, RateLimiterConfig};
    /// let limiter = RateLimiter::new(RateLimiterConfig::per_second(1))?;
    /// assert!(limiter.try_acquire().is_ok());
    /// assert!(limiter.try_acquire().unwrap_err().retry_after() > std::time::Duration::ZERO);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<(), RateLimited> {
        self.try_acquire_n(1)
    }

    /// Takes `n` permits at once (a batch of `n` items, a request that costs
    /// `n` tokens), or none. `0` always succeeds; more than the burst never
    /// does.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_core::rate_limit::{RateLimiter, RateLimiterConfig};
    /// let clock = ManualClock::new();
    /// let limiter = RateLimiter::with_clock(RateLimiterConfig::per_second(10), clock.clone())?;
    /// limiter.try_acquire_n(8)?;
    /// let refused = limiter.try_acquire_n(5).unwrap_err(); // 2 left, 3 more take 300 ms
    /// assert_eq!(refused.retry_after(), Duration::from_millis(300));
    /// assert_eq!(limiter.available(), 2); // a refusal takes nothing
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_acquire_n(&self, n: u32) -> Result<(), RateLimited> {
        if n == 0 {
            return Ok(());
        }
        let inner = &*self.inner;
        let now = self.now();
        let mut tat = inner.tat.load(Ordering::Acquire);
        loop {
            match gcra(tat, now, n, inner.interval, inner.burst) {
                Ok(new_tat) => {
                    match inner.tat.compare_exchange_weak(
                        tat,
                        new_tat,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => {
                            inner.metrics.permitted.increment(u64::from(n));
                            return Ok(());
                        }
                        Err(current) => tat = current,
                    }
                }
                Err(wait) => {
                    inner.metrics.rejected.increment(1);
                    return Err(RateLimited::after_nanos(inner.name.clone(), n, wait));
                }
            }
        }
    }

    /// How many permits could be taken right now (`burst` when idle).
    pub fn available(&self) -> u32 {
        let inner = &*self.inner;
        gcra_available(
            inner.tat.load(Ordering::Acquire),
            self.now(),
            inner.interval,
            inner.burst,
        )
    }
}

impl RateLimit for RateLimiter {
    #[inline]
    fn try_acquire_n(&self, n: u32) -> Result<(), RateLimited> {
        RateLimiter::try_acquire_n(self, n)
    }

    #[inline]
    fn try_acquire(&self) -> Result<(), RateLimited> {
        RateLimiter::try_acquire_n(self, 1)
    }

    fn available(&self) -> u32 {
        RateLimiter::available(self)
    }

    fn name(&self) -> &str {
        RateLimiter::name(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn limiter(rate: u32, per: Duration, burst: u32) -> (RateLimiter, ManualClock) {
        let clock = ManualClock::new();
        let l = RateLimiter::with_clock(
            RateLimiterConfig::new(rate, per).burst(burst),
            clock.clone(),
        )
        .unwrap();
        (l, clock)
    }

    #[test]
    fn a_quiet_limiter_admits_its_burst_then_one_per_interval() {
        let (l, clock) = limiter(10, Duration::from_secs(1), 3);
        for i in 0..3 {
            assert!(l.try_acquire().is_ok(), "burst of 3: permit {i}");
        }
        let e = l.try_acquire().unwrap_err();
        assert_eq!(
            e.retry_after(),
            Duration::from_millis(100),
            "10/s: next permit in 100 ms"
        );
        clock.advance(Duration::from_millis(99));
        assert!(l.try_acquire().is_err(), "not before 100 ms");
        clock.advance(Duration::from_millis(1));
        assert!(l.try_acquire().is_ok(), "at 100 ms");
        assert!(l.try_acquire().is_err());
    }

    #[test]
    fn a_long_quiet_spell_saves_no_more_than_the_burst() {
        let (l, clock) = limiter(10, Duration::from_secs(1), 5);
        l.try_acquire_n(5).unwrap();
        clock.advance(Duration::from_secs(3600));
        assert_eq!(l.available(), 5, "an hour idle saves 5 permits, the burst");
        assert!(l.try_acquire_n(5).is_ok());
        assert!(l.try_acquire().is_err());
    }

    #[test]
    fn sustained_rate_over_a_minute_is_rate_times_time_plus_burst() {
        let (l, clock) = limiter(100, Duration::from_secs(1), 10);
        let mut admitted = 0u32;
        // A caller trying every millisecond for 60 s.
        for _ in 0..=60_000 {
            if l.try_acquire().is_ok() {
                admitted += 1;
            }
            clock.advance(Duration::from_millis(1));
        }
        assert_eq!(
            admitted,
            100 * 60 + 10,
            "100/s over 60 s plus the burst of 10"
        );
    }

    #[test]
    fn requests_beyond_the_burst_are_refused_for_good() {
        let (l, _clock) = limiter(10, Duration::from_secs(1), 4);
        let e = l.try_acquire_n(5).unwrap_err();
        assert!(e.exceeds_burst());
        assert_eq!(e.retry_after(), Duration::MAX);
        assert_eq!(e.requested(), 5);
        assert_eq!(l.available(), 4, "a refusal takes nothing");
        assert!(l.try_acquire_n(0).is_ok());
    }

    #[test]
    fn extreme_configs_neither_panic_nor_overflow() {
        // The largest burst whose refill fits 100 years: one a day, 36 500 of them.
        let (l, clock) = limiter(1, MAX_PER, 36_500);
        assert!(l.try_acquire_n(36_500).is_ok());
        let e = l.try_acquire().unwrap_err();
        assert_eq!(e.retry_after(), MAX_PER, "one permit a day");
        clock.advance(Duration::from_secs(200 * 365 * 24 * 3600));
        assert_eq!(l.available(), 36_500);
        assert_eq!(
            RateLimiterConfig::new(1, MAX_PER)
                .burst(u32::MAX)
                .validate()
                .unwrap_err()
                .field(),
            Some("burst")
        );
        let (l, _) = limiter(u32::MAX, MAX_PER, 1);
        assert!(l.try_acquire().is_ok());
        assert!(RateLimiterConfig::new(u32::MAX, Duration::from_secs(1))
            .validate()
            .is_err());
        assert!(RateLimiterConfig::new(10, Duration::from_secs(86_401))
            .validate()
            .is_err());
    }

    #[test]
    fn clones_share_one_limiter() {
        let (l, _clock) = limiter(10, Duration::from_secs(1), 2);
        let c = l.clone();
        l.try_acquire().unwrap();
        c.try_acquire().unwrap();
        assert!(l.try_acquire().is_err());
        assert!(c.try_acquire().is_err());
    }
}
