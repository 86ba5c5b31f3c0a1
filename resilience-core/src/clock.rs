//! Pluggable time.
//!
//! Every time-driven primitive in the suite (breaker open durations, time
//! windows, backoff deadlines, hysteresis, leases) reads time through the
//! [`Clock`] trait instead of calling [`Instant::now`] directly. Production
//! code uses [`SystemClock`]; tests use [`ManualClock`], which only moves when
//! the test says so. That is what makes every state machine here testable
//! without sleeping: a test advances the clock by thirty seconds and the
//! breaker is half-open, instantly and deterministically.
//!
//! ```
//! use std::time::Duration;
//! use resilience_core::clock::{Clock, ManualClock};
//!
//! let clock = ManualClock::new();
//! let start = clock.now();
//! let shared = clock.clone(); // clones share one time line
//! shared.advance(Duration::from_secs(30));
//! assert_eq!(clock.now() - start, Duration::from_secs(30));
//! ```
//!
//! # One convention
//!
//! Every type in the suite that reads time takes its clock the same way:
//!
//! * `Type::new(config, ..)` reads the default clock: [`SystemClock`] for
//!   the synchronous primitives, `TokioClock` (feature `tokio`) for the async ones (leader
//!   election, failover, probes), so that `tokio::time::pause()` drives them;
//! * `Type::with_clock(config, .., clock)` takes any `impl Clock` by value,
//!   as the last argument: a [`ManualClock`] (its clones share one time
//!   line, so keep one and pass a clone), [`SystemClock`], `TokioClock`,
//!   or an already shared [`SharedClock`];
//! * builders have a `.clock(clock)` setter taking the same.
//!
//! A [`CoarseClock`] trades precision for speed where a hot path reads the
//! time on every call (a time-window breaker, a rate limiter): its own
//! thread stores the time every millisecond or so, and reading it is one
//! load.
//!
//! ```
//! use std::time::Duration;
//! use resilience_core::bulkhead::{Bulkhead, BulkheadConfig};
//! use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
//! use resilience_core::clock::ManualClock;
//! use resilience_core::retry::{Backoff, RetryPolicy};
//!
//! let clock = ManualClock::new();
//! let breaker = CircuitBreaker::with_clock(CircuitBreakerConfig::new(), clock.clone()).unwrap();
//! let pool = Bulkhead::with_clock("db", BulkheadConfig::new(8), clock.clone()).unwrap();
//! let retry = RetryPolicy::builder(Backoff::constant(Duration::from_millis(10)))
//!     .clock(clock.clone())
//!     .build()
//!     .unwrap();
//! # let _ = (breaker, pool, retry);
//! ```

use std::any::Any;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A source of monotonic time.
///
/// Implementations must be cheap (they are read on hot paths that need a
/// timestamp) and monotonic: `now()` never goes backwards.
///
/// ```
/// use std::time::Instant;
/// use resilience_core::clock::Clock;
///
/// /// A clock that is always ten seconds ahead (for illustration).
/// #[derive(Debug)]
/// struct Ahead;
/// impl Clock for Ahead {
///     fn now(&self) -> Instant {
///         Instant::now() + std::time::Duration::from_secs(10)
///     }
/// }
/// assert!(Ahead.now() > Instant::now());
/// ```
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current instant.
    fn now(&self) -> Instant;

    /// How the suite's hot paths may read this clock without calling
    /// [`now`](Self::now): the [`SystemClock`] as the CPU's time-stamp
    /// counter, a [`CoarseClock`] as its stored time. Kept through
    /// `Arc<dyn Clock>` ([`SharedClock`]) and `Box`, so a clock shared
    /// before it reaches a primitive keeps its fast reads. Leave the
    /// default; only a clock whose `now` is exactly another clock's (a
    /// plain wrapper) may forward that clock's answer.
    #[doc(hidden)]
    #[inline]
    fn direct_read(&self) -> DirectRead<'_> {
        DirectRead(Direct::None)
    }
}

/// What [`Clock::direct_read`] answers: nothing to construct or inspect
/// outside this crate.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct DirectRead<'a>(Direct<'a>);

#[derive(Debug, Clone, Copy)]
enum Direct<'a> {
    None,
    System,
    Coarse(&'a CoarseClock),
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    #[inline]
    fn now(&self) -> Instant {
        (**self).now()
    }

    #[inline]
    fn direct_read(&self) -> DirectRead<'_> {
        (**self).direct_read()
    }
}

impl<C: Clock + ?Sized> Clock for Box<C> {
    #[inline]
    fn now(&self) -> Instant {
        (**self).now()
    }

    #[inline]
    fn direct_read(&self) -> DirectRead<'_> {
        (**self).direct_read()
    }
}

/// A shared, type-erased clock, as stored inside the primitives.
pub type SharedClock = Arc<dyn Clock>;

/// Type-erases `clock` into a [`SharedClock`]. A clock that already is a
/// `SharedClock` is shared as it is, not wrapped a second time, so a
/// `with_clock` constructor costs the same whichever form it is given.
///
/// ```
/// use std::sync::Arc;
/// use resilience_core::clock::{shared, Clock, ManualClock, SharedClock};
///
/// let a: SharedClock = shared(ManualClock::new());
/// let b = shared(a.clone());
/// assert!(Arc::ptr_eq(&a, &b));
/// ```
pub fn shared(clock: impl Clock) -> SharedClock {
    if let Some(already) = (&clock as &dyn Any).downcast_ref::<SharedClock>() {
        return already.clone();
    }
    Arc::new(clock)
}

/// The operating system's monotonic clock ([`Instant::now`]).
///
/// ```
/// use resilience_core::clock::{Clock, SystemClock};
/// let a = SystemClock.now();
/// let b = SystemClock.now();
/// assert!(b >= a);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> Instant {
        Instant::now()
    }

    #[inline]
    fn direct_read(&self) -> DirectRead<'_> {
        DirectRead(Direct::System)
    }
}

/// A [`Clock`] reading tokio's clock ([`tokio::time::Instant`]), so that
/// core primitives (a breaker's open duration, a retry budget's window, a
/// heartbeat timeout) move with `tokio::time::pause()` / `advance()` in
/// tests, in step with `tokio::time` timers. Enabled by the `tokio` feature.
///
/// Outside a paused runtime it is the system's monotonic clock, like
/// [`SystemClock`]. It is the suite's one `TokioClock`: the tower and DR
/// crates' former aliases are deprecated and name this type.
///
/// ```
/// use std::time::Duration;
/// use resilience_core::clock::{Clock, TokioClock};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let t0 = TokioClock.now();
/// tokio::time::advance(Duration::from_secs(30)).await;
/// assert_eq!(TokioClock.now() - t0, Duration::from_secs(30));
/// # }
/// ```
#[cfg(feature = "tokio")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokioClock;

#[cfg(feature = "tokio")]
impl Clock for TokioClock {
    #[inline]
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

/// A clock that only moves when told to: the test clock.
///
/// Cloning is cheap and clones share the same time, so a test keeps one
/// handle and gives clones to the primitives under test. Reading and
/// advancing are lock-free (a single atomic), so a `ManualClock` can be read
/// from many threads at once.
///
/// ```
/// use std::time::Duration;
/// use resilience_core::clock::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// let t0 = clock.now();
/// clock.advance(Duration::from_millis(250));
/// assert_eq!(clock.elapsed(), Duration::from_millis(250));
/// assert_eq!(clock.now(), t0 + Duration::from_millis(250));
/// ```
#[derive(Clone)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

const MAX_OFFSET_NANOS: u64 = 100 * 365 * 24 * 3600 * 1_000_000_000;

struct ManualInner {
    base: Instant,
    offset_nanos: AtomicU64,
}

impl ManualClock {
    /// A clock frozen at the current instant.
    pub fn new() -> Self {
        Self::starting_at(Instant::now())
    }

    /// A clock frozen at `start`.
    pub fn starting_at(start: Instant) -> Self {
        ManualClock {
            inner: Arc::new(ManualInner {
                base: start,
                offset_nanos: AtomicU64::new(0),
            }),
        }
    }

    /// Moves time forward by `by`, for this handle and every clone.
    ///
    /// Saturates at [`ManualClock::MAX_ELAPSED`] of simulated time, so that
    /// `now()` can never overflow an [`Instant`].
    pub fn advance(&self, by: Duration) {
        let nanos = duration_nanos(by).min(MAX_OFFSET_NANOS);
        let _ = self
            .inner
            .offset_nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                Some(cur.saturating_add(nanos).min(MAX_OFFSET_NANOS))
            });
    }

    /// Sets the time to `start + elapsed`, where `start` is the creation
    /// instant. Moving backwards is ignored: the clock stays monotonic.
    pub fn set_elapsed(&self, elapsed: Duration) {
        let nanos = duration_nanos(elapsed).min(MAX_OFFSET_NANOS);
        self.inner.offset_nanos.fetch_max(nanos, Ordering::AcqRel);
    }

    /// The most simulated time a `ManualClock` can advance: 100 years.
    pub const MAX_ELAPSED: Duration = Duration::from_nanos(MAX_OFFSET_NANOS);

    /// How far this clock has been advanced since it was created.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.inner.offset_nanos.load(Ordering::Acquire))
    }

    /// The instant this clock started at.
    pub fn start(&self) -> Instant {
        self.inner.base
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    #[inline]
    fn now(&self) -> Instant {
        let base = self.inner.base;
        base.checked_add(self.elapsed()).unwrap_or(base)
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("elapsed", &self.elapsed())
            .finish()
    }
}

/// A clock read from memory: one thread of its own stores the time every
/// `resolution`, and reading it is one atomic load.
///
/// # Why
///
/// Reading the precise time costs more than anything else on some hot
/// paths: a time-window breaker's healthy call is a few loads and one
/// store around a read of the CPU's time-stamp counter, and that read is
/// half of its cost (about 9 ns of 18.6 on a virtual machine, where the
/// count window's whole call takes 8.2 and the same breaker on a
/// `CoarseClock` 9.8). A breaker whose window buckets are a
/// second wide has no use for nanoseconds: given a `CoarseClock`, a
/// breaker, registry or rate limiter reads the stored time instead.
/// `quanta`'s "recent" time and Caffeine's ticker are the same idea.
///
/// # What it costs and what it gives up
///
/// * One thread (named `resilience-coarse-clock`) per clock, waking every
///   `resolution`; it exits within one `resolution` of the last clone
///   being dropped. Make one per process and share it (clones are cheap).
/// * Readings lag the real time by up to `resolution`, more while the
///   machine is too busy to run the thread. Use it only where every
///   duration the clock measures is much longer: window buckets, open
///   durations and rate-limit periods of seconds, not a slow-call
///   threshold of a few milliseconds.
/// * It never goes backwards, and never runs ahead of [`Instant::now`].
///
/// For tests use [`ManualClock`]: a coarse clock moves with the wall clock.
///
/// ```
/// use std::time::Duration;
/// use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
/// use resilience_core::clock::{Clock, CoarseClock};
///
/// let clock = CoarseClock::start(Duration::from_millis(1)).unwrap();
/// let breaker = CircuitBreaker::with_clock(
///     CircuitBreakerConfig::new().time_window(Duration::from_secs(60)),
///     clock.clone(),
/// )
/// .unwrap();
/// assert_eq!(breaker.call(|| Ok::<_, ()>(1)).unwrap(), 1);
/// assert!(clock.now() <= std::time::Instant::now());
/// ```
#[derive(Clone)]
pub struct CoarseClock {
    cell: Arc<CoarseCell>,
}

/// The time a [`CoarseClock`] stores: nanoseconds since `base`.
pub(crate) struct CoarseCell {
    base: Instant,
    nanos: AtomicU64,
    resolution: Duration,
}

impl CoarseCell {
    /// Stores the current time (never moving backwards).
    fn tick(&self) {
        let now = Origin::new(self.base).nanos(Instant::now());
        self.nanos.fetch_max(now, Ordering::Release);
    }

    /// The stored time, in nanoseconds since `base`.
    #[inline(always)]
    pub(crate) fn nanos(&self) -> u64 {
        self.nanos.load(Ordering::Acquire)
    }
}

/// Why a [`CoarseClock`] could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoarseClockError {
    /// The resolution is outside [`CoarseClock::MIN_RESOLUTION`] ..=
    /// [`CoarseClock::MAX_RESOLUTION`].
    #[error(
        "coarse clock resolution must be between 100µs and 1s, got {0:?}: a finer one \
         would keep a core busy, a coarser one would blur even second-wide window buckets"
    )]
    Resolution(Duration),
    /// The operating system refused the clock's thread.
    #[error("could not start the coarse clock's thread: {0}")]
    Spawn(#[source] std::io::Error),
}

impl CoarseClock {
    /// The finest resolution [`start`](Self::start) accepts: 100 µs.
    pub const MIN_RESOLUTION: Duration = Duration::from_micros(100);
    /// The coarsest resolution [`start`](Self::start) accepts: 1 s.
    pub const MAX_RESOLUTION: Duration = Duration::from_secs(1);

    /// Starts a clock whose thread stores the time every `resolution`
    /// (1 ms suits windows and open durations of seconds).
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::{CoarseClock, CoarseClockError};
    ///
    /// let clock = CoarseClock::start(Duration::from_millis(1)).unwrap();
    /// assert_eq!(clock.resolution(), Duration::from_millis(1));
    /// assert!(matches!(
    ///     CoarseClock::start(Duration::ZERO),
    ///     Err(CoarseClockError::Resolution(_))
    /// ));
    /// ```
    pub fn start(resolution: Duration) -> Result<Self, CoarseClockError> {
        Self::spawn(resolution).map(|(clock, _)| clock)
    }

    /// [`start`](Self::start), also returning the thread's handle.
    pub(crate) fn spawn(
        resolution: Duration,
    ) -> Result<(Self, std::thread::JoinHandle<()>), CoarseClockError> {
        if !(Self::MIN_RESOLUTION..=Self::MAX_RESOLUTION).contains(&resolution) {
            return Err(CoarseClockError::Resolution(resolution));
        }
        let clock = Self::stopped(resolution);
        // The thread holds the cell weakly: when the last clone goes, its
        // next wake finds nothing to update and it ends.
        let cell = Arc::downgrade(&clock.cell);
        let thread = std::thread::Builder::new()
            .name("resilience-coarse-clock".into())
            .spawn(move || loop {
                std::thread::sleep(resolution);
                match cell.upgrade() {
                    Some(cell) => cell.tick(),
                    None => break,
                }
            })
            .map_err(CoarseClockError::Spawn)?;
        Ok((clock, thread))
    }

    /// A clock at its origin that no thread updates: [`spawn`](Self::spawn)
    /// gives it its thread; tests move it by hand (`set_nanos`).
    pub(crate) fn stopped(resolution: Duration) -> Self {
        CoarseClock {
            cell: Arc::new(CoarseCell {
                base: Instant::now(),
                nanos: AtomicU64::new(0),
                resolution,
            }),
        }
    }

    /// Sets the stored time (tests: a coarse clock moved by hand).
    #[cfg(test)]
    pub(crate) fn set_nanos(&self, nanos: u64) {
        self.cell.nanos.fetch_max(nanos, Ordering::Release);
    }

    /// How often the clock's thread stores the time.
    pub fn resolution(&self) -> Duration {
        self.cell.resolution
    }

    pub(crate) fn cell(&self) -> &Arc<CoarseCell> {
        &self.cell
    }
}

impl Clock for CoarseClock {
    #[inline]
    fn now(&self) -> Instant {
        let base = self.cell.base;
        base.checked_add(Duration::from_nanos(self.cell.nanos()))
            .unwrap_or(base)
    }

    #[inline]
    fn direct_read(&self) -> DirectRead<'_> {
        DirectRead(Direct::Coarse(self))
    }
}

impl fmt::Debug for CoarseClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoarseClock")
            .field("resolution", &self.cell.resolution)
            .field("elapsed", &Duration::from_nanos(self.cell.nanos()))
            .finish()
    }
}

/// Converts instants to nanoseconds since a fixed origin, so that times can be
/// kept in atomics. Instants before the origin map to 0.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin(Instant);

impl Origin {
    pub(crate) fn new(at: Instant) -> Self {
        Origin(at)
    }

    #[inline]
    pub(crate) fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.0).as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Time as the breaker's atomics keep it: nanoseconds since an origin.
///
/// On [`SystemClock`] this reads the CPU's time-stamp counter through
/// `quanta` (calibrated once per process against the monotonic clock; where
/// the counter is not invariant, `quanta` reads the monotonic clock
/// instead) and scales the ticks with one multiplication by a fixed-point
/// factor taken from `quanta`'s calibration: a few instructions, where
/// `Instant::now()` and the conversion of an `Instant` difference to
/// nanoseconds cost about eighty. Every other clock (a [`ManualClock`],
/// `TokioClock`, a user's) is read through the [`Clock`] trait. Only
/// differences of these readings are ever used, so the two sources are
/// never mixed within one primitive.
///
/// A hot path that only needs to know whether a known instant has passed
/// compares a [`raw`](Self::raw) reading (unscaled ticks) with the
/// [`raw_at`](Self::raw_at) of that instant, computed once: no scaling at
/// all.
pub(crate) enum Ticker {
    Counter {
        clock: quanta::Clock,
        base: u64,
        /// Nanoseconds per tick, times 2^[`SCALE_SHIFT`].
        mult: u64,
    },
    /// Any other clock, read through the trait, unless it is a
    /// [`CoarseClock`], whose stored time is read directly. (The coarse
    /// clock is a case of this variant rather than a third one so that the
    /// counter's callers keep their one-comparison check for their own
    /// variant.)
    Clock {
        clock: SharedClock,
        origin: Origin,
        coarse: Option<Coarse>,
    },
}

/// A [`CoarseClock`]'s stored time, as a ticker reads it.
pub(crate) struct Coarse {
    cell: Arc<CoarseCell>,
    /// The cell's reading when the ticker was made (its origin).
    base: u64,
}

impl Coarse {
    /// Nanoseconds since the ticker was made: one load and a subtraction
    /// (the cell never goes below `base`: it only moves forward).
    #[inline(always)]
    fn nanos(&self) -> u64 {
        self.cell.nanos().wrapping_sub(self.base)
    }
}

/// The fixed point of [`Ticker::Counter`]'s factor: with 32 bits of
/// fraction, a counter at a few GHz is scaled to within a few parts in
/// 10^9, and 2^64 ticks times the factor cannot overflow the 128-bit
/// product.
const SCALE_SHIFT: u32 = 32;

impl Ticker {
    /// A ticker reading `clock`: the time-stamp counter for the
    /// [`SystemClock`], the stored time of a [`CoarseClock`] (told by
    /// [`Clock::direct_read`], which the `SharedClock` forwards), any other
    /// clock through the trait.
    pub(crate) fn new(clock: &SharedClock) -> Self {
        let direct = clock.direct_read().0;
        if matches!(direct, Direct::System) {
            let counter = quanta::Clock::new();
            let base = counter.raw();
            // The nanoseconds of 2^SCALE_SHIFT ticks are the factor itself
            // (exactly the same conversion as quanta's own when its scale
            // has no more fraction bits than ours; within a nanosecond per
            // 2^32 ticks otherwise).
            let mult = counter.delta_as_nanos(0, 1 << SCALE_SHIFT).max(1);
            Ticker::Counter {
                clock: counter,
                base,
                mult,
            }
        } else {
            Ticker::Clock {
                clock: clock.clone(),
                origin: Origin::new(clock.now()),
                coarse: match direct {
                    Direct::Coarse(coarse) => Some(Coarse {
                        cell: coarse.cell().clone(),
                        base: coarse.cell().nanos(),
                    }),
                    _ => None,
                },
            }
        }
    }

    /// Nanoseconds since the ticker was made.
    #[inline]
    pub(crate) fn nanos(&self) -> u64 {
        match self {
            Ticker::Counter { clock, base, mult } => {
                scale(clock.raw().saturating_sub(*base), *mult)
            }
            Ticker::Clock {
                coarse: Some(c), ..
            } => c.nanos(),
            Ticker::Clock { clock, origin, .. } => clock_nanos(clock, origin),
        }
    }

    /// The current time unscaled: counter ticks, or for a [`Clock`]
    /// nanoseconds since the origin. Only meaningful compared with
    /// [`raw_at`](Self::raw_at) of the same ticker.
    #[inline]
    pub(crate) fn raw(&self) -> u64 {
        match self {
            Ticker::Counter { clock, .. } => clock.raw(),
            Ticker::Clock {
                coarse: Some(c), ..
            } => c.nanos(),
            Ticker::Clock { clock, origin, .. } => clock_nanos(clock, origin),
        }
    }

    /// The first raw reading at which [`nanos`](Self::nanos) reaches
    /// `nanos` (which is above 0): `raw() < raw_at(t)` exactly when
    /// `nanos() < t` for a reading at the same instant.
    pub(crate) fn raw_at(&self, nanos: u64) -> u64 {
        match self {
            Ticker::Counter { base, mult, .. } => {
                // The fewest ticks whose scaled value reaches `nanos`:
                // ceil(nanos * 2^SCALE_SHIFT / mult).
                let ticks = (u128::from(nanos) << SCALE_SHIFT).div_ceil(u128::from(*mult));
                base.saturating_add(u64::try_from(ticks).unwrap_or(u64::MAX))
            }
            Ticker::Clock { .. } => nanos,
        }
    }
}

/// A [`Clock`]'s reading in nanoseconds since `origin`, out of line: inlined
/// beside the time-stamp counter's read, its `Instant` arithmetic made every
/// caller of [`Ticker`] keep more registers (and a stack slot), which cost
/// the counter's callers, the common case, up to 17 instructions per call.
///
/// A coarse clock's load is inline: out of line (here) its breakers' time
/// window took 14.3 ns a call instead of 13.2; inline, it costs the
/// counter's time window 3 instructions (103 to 106), nothing measurable by
/// time (21.5–21.8 ns either way).
#[inline(never)]
fn clock_nanos(clock: &SharedClock, origin: &Origin) -> u64 {
    origin.nanos(clock.now())
}

/// `ticks` in nanoseconds: `ticks * mult / 2^SCALE_SHIFT`, rounded down
/// (one multiplication and one shift). Wraps only past 2^64 nanoseconds
/// (584 years).
#[inline]
fn scale(ticks: u64, mult: u64) -> u64 {
    ((u128::from(ticks) * u128::from(mult)) >> SCALE_SHIFT) as u64
}

impl fmt::Debug for Ticker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ticker::Counter { .. } => "Ticker::Counter",
            Ticker::Clock {
                coarse: Some(_), ..
            } => "Ticker::Coarse",
            Ticker::Clock { .. } => "Ticker::Clock",
        })
    }
}

/// Nanoseconds of a duration, saturating at `u64::MAX`.
#[inline]
pub(crate) fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_is_shared_between_clones() {
        let a = ManualClock::new();
        let b = a.clone();
        let t0 = a.now();
        b.advance(Duration::from_secs(5));
        assert_eq!(a.now() - t0, Duration::from_secs(5));
    }

    #[test]
    fn manual_clock_never_goes_backwards() {
        let c = ManualClock::new();
        c.set_elapsed(Duration::from_secs(10));
        c.set_elapsed(Duration::from_secs(3));
        assert_eq!(c.elapsed(), Duration::from_secs(10));
    }

    #[test]
    fn advance_saturates() {
        let c = ManualClock::new();
        c.advance(Duration::MAX);
        c.advance(Duration::from_secs(1));
        assert_eq!(c.elapsed(), ManualClock::MAX_ELAPSED);
        assert!(c.now() > c.start());
    }

    #[test]
    fn shared_clock_is_object_safe() {
        let c: SharedClock = Arc::new(ManualClock::new());
        let _ = c.now();
        let s: SharedClock = Arc::new(SystemClock);
        assert!(s.now() <= Instant::now());
    }

    #[cfg(feature = "tokio")]
    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_paused_time() {
        let t0 = TokioClock.now();
        let shared: SharedClock = Arc::new(TokioClock);
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(TokioClock.now() - t0, Duration::from_millis(1500));
        assert_eq!(shared.now() - t0, Duration::from_millis(1500));
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(shared.now() - t0, Duration::from_millis(11_500));
    }

    #[test]
    fn raw_at_is_the_first_reading_that_reaches_an_instant() {
        // A counter of 3 GHz (1/3 ns per tick) and one of 24 MHz.
        for mult in [
            (1u64 << SCALE_SHIFT) / 3,
            (125u64 << SCALE_SHIFT) / 3,
            1 << SCALE_SHIFT,
        ] {
            let t = Ticker::Counter {
                clock: quanta::Clock::new(),
                base: 1_000,
                mult,
            };
            for nanos in [1u64, 2, 3, 999, 1_000_000_000, 60_000_000_000, 1 << 50] {
                let at = t.raw_at(nanos);
                assert!(scale(at - 1_000, mult) >= nanos, "{mult} {nanos}");
                assert!(scale(at - 1_001, mult) < nanos, "{mult} {nanos}");
            }
        }
        let c: SharedClock = Arc::new(ManualClock::new());
        let t = Ticker::new(&c);
        assert_eq!(t.raw_at(5), 5);
        let s = Ticker::new(&shared(SystemClock));
        let (r, n) = (s.raw(), s.nanos());
        assert!(s.raw_at(n + 1_000_000_000) > r);
    }

    #[test]
    fn a_coarse_clock_refuses_a_resolution_out_of_range() {
        for bad in [
            Duration::ZERO,
            Duration::from_micros(99),
            Duration::from_millis(1001),
        ] {
            let e = CoarseClock::start(bad).unwrap_err();
            assert!(
                matches!(e, CoarseClockError::Resolution(r) if r == bad),
                "{e}"
            );
            assert!(e.to_string().contains("between 100µs and 1s"), "{e}");
        }
        assert!(CoarseClock::start(CoarseClock::MIN_RESOLUTION).is_ok());
        assert!(CoarseClock::start(CoarseClock::MAX_RESOLUTION).is_ok());
    }

    #[test]
    fn a_coarse_clock_moves_with_time_and_never_runs_ahead() {
        let (clock, _thread) = CoarseClock::spawn(Duration::from_millis(1)).unwrap();
        let t0 = clock.now();
        assert!(t0 <= Instant::now());
        // Its thread stores the time every millisecond: within a few
        // seconds, even on a loaded machine, the clock has moved.
        let give_up = Instant::now() + Duration::from_secs(10);
        let mut last = t0;
        while clock.now() == t0 {
            assert!(Instant::now() < give_up, "the coarse clock never moved");
            let now = clock.now();
            assert!(now >= last);
            last = now;
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(clock.now() > t0);
        assert!(clock.now() <= Instant::now());
        assert!(format!("{clock:?}").contains("resolution: 1ms"));
    }

    #[test]
    fn a_coarse_clocks_thread_ends_with_its_last_clone() {
        let (clock, thread) = CoarseClock::spawn(Duration::from_millis(1)).unwrap();
        let other = clock.clone();
        drop(clock);
        // One clone is left: the thread keeps it up to date.
        std::thread::sleep(Duration::from_millis(5));
        assert!(!thread.is_finished());
        assert!(other.now() >= other.cell().base);
        drop(other);
        // The thread wakes within a millisecond, finds no clock and ends.
        thread.join().unwrap();
    }

    #[test]
    fn a_coarse_ticker_reads_the_stored_time() {
        let coarse = CoarseClock::stopped(Duration::from_millis(1));
        coarse.set_nanos(5_000);
        let t = Ticker::new(&shared(coarse.clone()));
        assert_eq!(t.nanos(), 0);
        let end = t.raw_at(1_000);
        assert!(t.raw() < end);
        coarse.set_nanos(5_999);
        assert!(t.raw() < end);
        assert_eq!(t.nanos(), 999);
        coarse.set_nanos(6_000);
        assert!(t.raw() >= end);
        assert_eq!(t.nanos(), 1_000);
        // Never backwards.
        coarse.set_nanos(10);
        assert_eq!(t.nanos(), 1_000);
        assert!(matches!(SystemClock.direct_read().0, Direct::System));
        assert!(matches!(ManualClock::new().direct_read().0, Direct::None));
        // Shared (as a stack shares its clock between its layers) or
        // boxed, a clock keeps its direct read.
        let ticker = |clock: SharedClock| format!("{:?}", Ticker::new(&clock));
        assert_eq!(ticker(shared(SystemClock)), "Ticker::Counter");
        assert_eq!(ticker(shared(coarse.clone())), "Ticker::Coarse");
        let boxed: Box<dyn Clock> = Box::new(shared(coarse.clone()));
        assert!(matches!(boxed.direct_read().0, Direct::Coarse(_)));
        assert_eq!(ticker(shared(boxed)), "Ticker::Coarse");
        assert_eq!(ticker(shared(ManualClock::new())), "Ticker::Clock");
    }

    #[test]
    fn origin_saturates_before_start() {
        let now = Instant::now();
        let o = Origin::new(now + Duration::from_secs(1));
        assert_eq!(o.nanos(now), 0);
        assert_eq!(o.nanos(now + Duration::from_secs(2)), 1_000_000_000);
    }
}
