//! Bulkheads: bound how many calls run at once, so one slow dependency or
//! one flood of traffic cannot take every thread, connection or socket.
//!
//! A [`Bulkhead`] hands out at most `max_concurrent` permits. A caller that
//! finds it full either fails fast (`max_wait` zero, or
//! [`try_acquire`](Bulkhead::try_acquire)) or queues for at most `max_wait`
//! in a bounded wait queue; a turned-away caller gets [`BulkheadFull`],
//! which names the bulkhead, the limit that was hit and why (full, queue full,
//! timed out, shed). A permit is an RAII guard: dropping it frees the slot.
//!
//! * **Cheap when uncontended.** Taking and returning a free permit is one
//!   compare-and-swap and one `fetch_sub` on a single atomic word; no lock,
//!   no allocation, no clock read (see `benches/bulkhead.rs` and the counting
//!   allocator test in `tests/bulkhead_alloc.rs`).
//! * **Async without a runtime.** Waiting is a waker-based FIFO queue inside
//!   core. The wait deadline comes from a [`Timer`] the caller passes in, so
//!   core never depends on tokio: with tokio, pass `tokio::time::sleep`.
//!   Dropping a waiting future leaves the queue; a permit that was handed to
//!   it in the meantime is given back, never lost.
//! * **Resizable.** [`set_max_concurrent`](Bulkhead::set_max_concurrent)
//!   changes the limit at run time (adaptive concurrency): growing admits
//!   waiters at once, shrinking lets the calls in flight finish.
//! * **Pools with priorities.** A [`BulkheadSet`] builds named pools (the
//!   model-registry preset's dashboard / api / internal) under an optional shared cap, where
//!   high-priority callers are admitted first and low priority sheds first.
//!
//! ```
//! use std::time::Duration;
//! use resilience_core::bulkhead::{Bulkhead, BulkheadConfig, RejectReason};
//!
//! let api = Bulkhead::new("api", BulkheadConfig::new(2)).unwrap();
//! let a = api.try_acquire().unwrap();
//! let b = api.try_acquire().unwrap();
//! assert_eq!(api.try_acquire().unwrap_err().reason(), RejectReason::Full);
//! drop(a);
//! assert!(api.try_acquire().is_ok());
//! # drop(b);
//! ```
//!
//! Waiting with tokio (any runtime works the same way: pass its sleep):
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use resilience_core::bulkhead::{Bulkhead, BulkheadConfig};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let db = Bulkhead::new("db", BulkheadConfig::new(1).max_wait(Duration::from_secs(5))).unwrap();
//! let held = db.try_acquire_owned().unwrap();
//! let waiter = tokio::spawn({
//!     let db = db.clone();
//!     async move { db.acquire_owned(tokio::time::sleep).await.map(|_permit| "ran") }
//! });
//! tokio::task::yield_now().await; // let the waiter queue
//! drop(held); // hands the permit to the waiter
//! assert_eq!(waiter.await.unwrap().unwrap(), "ran");
//! # });
//! ```
//!
//! # Metrics
//!
//! Handles are registered when the bulkhead is built, so install the
//! `metrics` recorder first. Every series has the label `bulkhead` (the
//! pool name, or the shared cap's name).
//!
//! | name | kind | labels | meaning |
//! |---|---|---|---|
//! | `resilience_bulkhead_in_flight` | gauge | `bulkhead` | permits held right now |
//! | `resilience_bulkhead_max_concurrent` | gauge | `bulkhead` | the current limit (changes with [`set_max_concurrent`](Bulkhead::set_max_concurrent)) |
//! | `resilience_bulkhead_waiting` | gauge | `bulkhead` | callers queued for a permit right now |
//! | `resilience_bulkhead_rejected_total` | counter | `bulkhead`, `reason` | rejected calls; `reason` is `full`, `queue_full`, `timed_out` or `shed` |
//! | `resilience_bulkhead_wait_seconds` | histogram | `bulkhead` | time queued by callers that had to wait and were admitted |
//!
//! A call rejected at a set's shared cap counts under the pool's name.
//!
//! # Events
//!
//! [`BulkheadEvent`]s go to the listeners of [`Bulkhead::listeners`]:
//! every admission (with its wait), every rejection (with the error) and
//! every limit change. With no listener registered an event costs one
//! relaxed atomic load.

mod config;
mod error;
mod future;
mod semaphore;
mod set;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram};

#[allow(deprecated)]
pub use config::MODEL_REGISTRY_YAML;
pub use config::{BulkheadConfig, BulkheadSetConfig, Priority, SharedCapConfig, MAX_WAIT};
pub use error::{BulkheadFull, RejectReason};
pub use future::{Acquire, AcquireOwned, NoTimer, Timer};
pub use set::BulkheadSet;

use crate::clock::{shared, Clock, SharedClock, SystemClock};
use crate::config::{fmt_duration, ConfigError};
use crate::events::Listeners;
use semaphore::Semaphore;

/// What happened at a bulkhead, for [`Bulkhead::listeners`].
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use resilience_core::bulkhead::{Bulkhead, BulkheadConfig, BulkheadEvent};
///
/// let b = Bulkhead::new("api", BulkheadConfig::new(1)).unwrap();
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = seen.clone();
/// b.listeners().add_fn(move |e: &BulkheadEvent| sink.lock().unwrap().push(e.clone()));
/// let p = b.try_acquire().unwrap();
/// let _ = b.try_acquire();
/// drop(p);
/// b.set_max_concurrent(4).unwrap();
/// let seen = seen.lock().unwrap();
/// assert!(matches!(seen[0], BulkheadEvent::Permitted { .. }));
/// assert!(matches!(&seen[1], BulkheadEvent::Rejected { error } if error.bulkhead() == "api"));
/// assert!(matches!(seen[2], BulkheadEvent::LimitChanged { previous: 1, current: 4, .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BulkheadEvent {
    /// A call got a permit.
    Permitted {
        /// The bulkhead.
        bulkhead: Arc<str>,
        /// How long it queued (zero when a permit was free).
        waited: Duration,
    },
    /// A call was turned away.
    Rejected {
        /// The error the caller got.
        error: BulkheadFull,
    },
    /// The limit was changed at run time.
    LimitChanged {
        /// The bulkhead.
        bulkhead: Arc<str>,
        /// The limit before.
        previous: u32,
        /// The limit now.
        current: u32,
    },
}

struct Metrics {
    in_flight: Gauge,
    limit: Gauge,
    waiting: Gauge,
    rejected: [Counter; 4],
    wait: Histogram,
}

impl Metrics {
    fn new(name: &str) -> Self {
        let label = name.to_string();
        Metrics {
            in_flight: metrics::gauge!("resilience_bulkhead_in_flight", "bulkhead" => label.clone()),
            limit: metrics::gauge!("resilience_bulkhead_max_concurrent", "bulkhead" => label.clone()),
            waiting: metrics::gauge!("resilience_bulkhead_waiting", "bulkhead" => label.clone()),
            rejected: RejectReason::ALL.map(|r| {
                metrics::counter!(
                    "resilience_bulkhead_rejected_total",
                    "bulkhead" => label.clone(),
                    "reason" => r.as_str()
                )
            }),
            wait: metrics::histogram!("resilience_bulkhead_wait_seconds", "bulkhead" => label),
        }
    }
}

/// A concurrency limiter with a bounded, timed wait queue.
///
/// Cheap to clone: clones share one bulkhead (an `Arc` inside), so hand a
/// clone to every task that calls the dependency. See the [module
/// docs](self) for the design and the metrics.
///
/// ```
/// use std::time::Duration;
/// use resilience_core::bulkhead::{Bulkhead, BulkheadConfig};
///
/// let b = Bulkhead::new("search", BulkheadConfig::new(10)).unwrap();
/// assert_eq!(b.name(), "search");
/// assert_eq!(b.max_concurrent(), 10);
/// {
///     let _permit = b.try_acquire().unwrap();
///     assert_eq!(b.in_flight(), 1);
///     assert_eq!(b.available(), 9);
/// }
/// assert_eq!(b.in_flight(), 0);
/// ```
#[derive(Clone)]
pub struct Bulkhead {
    inner: Arc<Shared>,
}

/// What every handle of one bulkhead shares.
pub(super) struct Shared {
    name: Arc<str>,
    sem: Semaphore,
    max_wait_nanos: AtomicU64,
    priority: Priority,
    shared: Option<Bulkhead>,
    clock: SharedClock,
    listeners: Listeners<BulkheadEvent>,
    metrics: Metrics,
}

impl fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("name", &self.inner.name)
            .field("in_flight", &self.in_flight())
            .field("max_concurrent", &self.max_concurrent())
            .field("max_wait", &self.max_wait())
            .field("priority", &self.inner.priority)
            .field("shared_cap", &self.inner.shared.as_ref().map(|s| s.name()))
            .finish()
    }
}

impl Bulkhead {
    /// Builds a bulkhead from a validated config, reading time from the
    /// system clock (time is only read to measure waits).
    ///
    /// ```
    /// use resilience_core::bulkhead::{Bulkhead, BulkheadConfig};
    /// assert!(Bulkhead::new("api", BulkheadConfig::new(8)).is_ok());
    /// let err = Bulkhead::new("api", BulkheadConfig::new(0)).unwrap_err();
    /// assert_eq!(err.field(), Some("max_concurrent"));
    /// assert_eq!(Bulkhead::new("", BulkheadConfig::new(8)).unwrap_err().field(), Some("name"));
    /// ```
    pub fn new(name: &str, config: BulkheadConfig) -> Result<Self, ConfigError> {
        Self::with_clock(name, config, SystemClock)
    }

    /// Like [`Bulkhead::new`], with the clock used to measure waits.
    ///
    /// ```
    /// use resilience_core::bulkhead::{Bulkhead, BulkheadConfig};
    /// use resilience_core::clock::ManualClock;
    /// let b = Bulkhead::with_clock("api", BulkheadConfig::new(8), ManualClock::new()).unwrap();
    /// assert_eq!(b.max_concurrent(), 8);
    /// ```
    pub fn with_clock(
        name: &str,
        config: BulkheadConfig,
        clock: impl Clock,
    ) -> Result<Self, ConfigError> {
        config::check_name("name", name)?;
        config.validate()?;
        Ok(Self::build(Arc::from(name), &config, None, shared(clock)))
    }

    fn build(
        name: Arc<str>,
        config: &BulkheadConfig,
        shared: Option<Bulkhead>,
        clock: SharedClock,
    ) -> Self {
        let metrics = Metrics::new(&name);
        metrics.limit.set(f64::from(config.max_concurrent));
        metrics.in_flight.set(0.0);
        metrics.waiting.set(0.0);
        let shared = Shared {
            sem: Semaphore::new(
                config.max_concurrent,
                config.effective_max_waiting() as usize,
            ),
            max_wait_nanos: AtomicU64::new(crate::clock::duration_nanos(config.max_wait)),
            priority: config.priority,
            shared,
            clock,
            listeners: Listeners::new(),
            metrics,
            name,
        };
        Bulkhead {
            inner: Arc::new(shared),
        }
    }

    /// The bulkhead's name, as used in errors, events and metrics.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Permits held right now.
    pub fn in_flight(&self) -> u32 {
        self.inner.sem.in_flight()
    }

    /// Permits free right now (zero while over a freshly shrunk limit).
    pub fn available(&self) -> u32 {
        self.max_concurrent().saturating_sub(self.in_flight())
    }

    /// The current limit.
    pub fn max_concurrent(&self) -> u32 {
        self.inner.sem.limit()
    }

    /// How long a caller may queue; zero means fail fast.
    pub fn max_wait(&self) -> Duration {
        Duration::from_nanos(self.inner.max_wait_nanos.load(Ordering::Relaxed))
    }

    /// Callers queued right now.
    pub fn waiting(&self) -> usize {
        self.inner.sem.waiting()
    }

    /// The queue bound.
    pub fn max_waiting(&self) -> usize {
        self.inner.sem.max_waiting()
    }

    /// The pool's priority at its set's shared cap.
    pub fn priority(&self) -> Priority {
        self.inner.priority
    }

    /// The shared cap this pool draws from, when it belongs to a
    /// [`BulkheadSet`] that has one.
    pub fn shared_cap(&self) -> Option<&Bulkhead> {
        self.inner.shared.as_ref()
    }

    /// Event listeners (see [`BulkheadEvent`]).
    pub fn listeners(&self) -> &Listeners<BulkheadEvent> {
        &self.inner.listeners
    }

    /// Changes the limit at run time; returns the previous limit.
    ///
    /// Growing admits queued callers right away. Shrinking never revokes a
    /// permit: calls in flight finish, and new calls are admitted once the
    /// count has fallen below the new limit.
    ///
    /// ```
    /// use resilience_core::bulkhead::{Bulkhead, BulkheadConfig};
    /// let b = Bulkhead::new("api", BulkheadConfig::new(2)).unwrap();
    /// let p1 = b.try_acquire().unwrap();
    /// let p2 = b.try_acquire().unwrap();
    /// assert_eq!(b.set_max_concurrent(1).unwrap(), 2);
    /// drop(p1);
    /// assert!(b.try_acquire().is_err()); // still 1 in flight, limit 1
    /// drop(p2);
    /// assert!(b.try_acquire().is_ok());
    /// assert!(b.set_max_concurrent(0).is_err());
    /// ```
    pub fn set_max_concurrent(&self, max_concurrent: u32) -> Result<u32, ConfigError> {
        config::check_permits("max_concurrent", max_concurrent)?;
        let previous = self.inner.sem.set_limit(max_concurrent);
        self.inner.metrics.limit.set(f64::from(max_concurrent));
        if previous != max_concurrent {
            #[cfg(feature = "tracing")]
            tracing::info!(
                bulkhead = %self.inner.name,
                previous,
                current = max_concurrent,
                "bulkhead limit changed"
            );
            self.inner
                .listeners
                .emit_with(|| BulkheadEvent::LimitChanged {
                    bulkhead: self.inner.name.clone(),
                    previous,
                    current: max_concurrent,
                });
        }
        Ok(previous)
    }

    /// Changes `max_wait` for calls that start queueing from now on.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::bulkhead::{Bulkhead, BulkheadConfig};
    /// let b = Bulkhead::new("api", BulkheadConfig::new(2)).unwrap();
    /// b.set_max_wait(Duration::from_millis(250)).unwrap();
    /// assert_eq!(b.max_wait(), Duration::from_millis(250));
    /// assert!(b.set_max_wait(Duration::from_secs(1_000_000)).is_err());
    /// ```
    pub fn set_max_wait(&self, max_wait: Duration) -> Result<(), ConfigError> {
        if max_wait > MAX_WAIT {
            return Err(ConfigError::invalid(
                "max_wait",
                format!(
                    "must be at most {}, got {}",
                    fmt_duration(MAX_WAIT),
                    fmt_duration(max_wait)
                ),
            ));
        }
        self.inner
            .max_wait_nanos
            .store(crate::clock::duration_nanos(max_wait), Ordering::Relaxed);
        Ok(())
    }

    /// Changes how many callers may queue. Callers already queued stay.
    ///
    /// ```
    /// use resilience_core::bulkhead::{Bulkhead, BulkheadConfig};
    /// let b = Bulkhead::new("api", BulkheadConfig::new(2)).unwrap();
    /// b.set_max_waiting(10);
    /// assert_eq!(b.max_waiting(), 10);
    /// ```
    pub fn set_max_waiting(&self, max_waiting: u32) {
        self.inner.sem.set_max_waiting(max_waiting as usize);
    }

    /// Takes a permit if one is free right now, without waiting.
    ///
    /// This is the hot path: one compare-and-swap, no lock, no allocation.
    /// It never overtakes queued callers: while anyone waits, it fails.
    ///
    /// ```
    /// use resilience_core::bulkhead::{Bulkhead, BulkheadConfig};
    /// let b = Bulkhead::new("api", BulkheadConfig::new(1)).unwrap();
    /// let permit = b.try_acquire().unwrap();
    /// assert!(b.try_acquire().is_err());
    /// drop(permit);
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<BulkheadPermit<'_>, BulkheadFull> {
        self.inner.try_take()?;
        Ok(BulkheadPermit { bulkhead: self })
    }

    /// Like [`try_acquire`](Bulkhead::try_acquire), returning a permit that
    /// owns a handle to the bulkhead, so it can move into a spawned task or
    /// live in a future.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use resilience_core::bulkhead::{Bulkhead, BulkheadConfig};
    /// let b = Bulkhead::new("api", BulkheadConfig::new(1)).unwrap();
    /// let permit = b.try_acquire_owned().unwrap();
    /// std::thread::spawn(move || drop(permit)).join().unwrap();
    /// assert_eq!(b.in_flight(), 0);
    /// ```
    #[inline]
    pub fn try_acquire_owned(&self) -> Result<OwnedBulkheadPermit, BulkheadFull> {
        self.inner.try_take()?;
        Ok(OwnedBulkheadPermit {
            bulkhead: self.clone(),
        })
    }

    /// Waits for a permit for at most `max_wait`, measured by `timer`.
    ///
    /// `timer` is anything that implements [`Timer`], including any
    /// `Fn(Duration) -> impl Future<Output = ()>`: pass `tokio::time::sleep`
    /// under tokio, `async_io::Timer::after`-style functions elsewhere, or
    /// [`NoTimer`] to wait without a deadline. The timer is only started if
    /// the caller actually has to queue. With `max_wait` zero the future
    /// fails fast instead of queueing.
    ///
    /// Dropping the future leaves the queue; a permit handed to it meanwhile
    /// goes back to the bulkhead.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::bulkhead::{Bulkhead, BulkheadConfig};
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// let b = Bulkhead::new("api", BulkheadConfig::new(1).max_wait(Duration::from_millis(100))).unwrap();
    /// let held = b.try_acquire().unwrap();
    /// let err = b.acquire(tokio::time::sleep).await.unwrap_err();
    /// assert!(err.is_timeout());
    /// drop(held);
    /// assert!(b.acquire(tokio::time::sleep).await.is_ok());
    /// # });
    /// ```
    pub fn acquire<T: Timer>(&self, timer: T) -> Acquire<'_, T> {
        Acquire::new(self, timer)
    }

    /// Like [`acquire`](Bulkhead::acquire), resolving to an owned permit; the
    /// future itself is `'static` (it holds a handle to the bulkhead), as a
    /// tower service's response future needs.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use resilience_core::bulkhead::{Bulkhead, BulkheadConfig, NoTimer};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let b = Bulkhead::new("api", BulkheadConfig::new(1)).unwrap();
    /// let fut = b.acquire_owned(NoTimer); // no borrow of `b` remains
    /// let permit = fut.await.unwrap();
    /// assert_eq!(permit.bulkhead().in_flight(), 1);
    /// # });
    /// ```
    pub fn acquire_owned<T: Timer>(&self, timer: T) -> AcquireOwned<T> {
        AcquireOwned::new(self.clone(), timer)
    }

    /// Starts an owned acquire: a permit now if one is free, the rejection
    /// now if the caller may not wait (`max_wait` zero), and otherwise the
    /// future that waits (see [`acquire_owned`](Bulkhead::acquire_owned)).
    ///
    /// This is for callers that must do something different on the spot
    /// when a permit is free, such as a tower service that calls its inner
    /// service at once but has to keep the request for later when it must
    /// wait. Unlike trying [`try_acquire_owned`](Bulkhead::try_acquire_owned)
    /// first and falling back to waiting, a caller that goes on to wait is
    /// not counted (nor reported to listeners) as rejected. Nothing is
    /// allocated, and the timer is started only when the future queues.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use resilience_core::bulkhead::{Bulkhead, BulkheadConfig, NoTimer, StartAcquire};
    ///
    /// let b = Bulkhead::new("api", BulkheadConfig::new(1).max_wait(Duration::from_secs(1))).unwrap();
    /// let StartAcquire::Acquired(held) = b.start_acquire_owned(NoTimer) else { panic!() };
    /// // Full, but the caller may wait: it gets the future, nothing is rejected.
    /// assert!(matches!(b.start_acquire_owned(NoTimer), StartAcquire::Wait(_)));
    /// drop(held);
    ///
    /// let fast = Bulkhead::new("fast", BulkheadConfig::new(1)).unwrap();
    /// let _held = fast.try_acquire_owned().unwrap();
    /// assert!(matches!(fast.start_acquire_owned(NoTimer), StartAcquire::Rejected(_)));
    /// ```
    #[inline]
    pub fn start_acquire_owned<T: Timer>(&self, timer: T) -> StartAcquire<T> {
        if self.inner.max_wait_nanos.load(Ordering::Relaxed) == 0 {
            return match self.try_acquire_owned() {
                Ok(permit) => StartAcquire::Acquired(permit),
                Err(full) => StartAcquire::Rejected(full),
            };
        }
        if self.inner.try_take_quietly() {
            self.inner.admitted(None);
            return StartAcquire::Acquired(OwnedBulkheadPermit {
                bulkhead: self.clone(),
            });
        }
        StartAcquire::Wait(self.acquire_owned(timer))
    }

    /// Whether two handles are the same bulkhead.
    pub fn ptr_eq(&self, other: &Bulkhead) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Shared {
    /// The fast path without the rejection bookkeeping: `true` when the
    /// pool permit (and the shared-cap permit) are now held.
    #[inline]
    pub(super) fn try_take_quietly(&self) -> bool {
        if !self.sem.try_acquire() {
            return false;
        }
        if let Some(cap) = &self.shared {
            if !cap.inner.sem.try_acquire() {
                self.sem.release();
                return false;
            }
        }
        true
    }

    /// The fast path: a pool permit, then a shared-cap permit.
    #[inline]
    pub(super) fn try_take(&self) -> Result<(), BulkheadFull> {
        if !self.sem.try_acquire() {
            return Err(self.reject(RejectReason::Full, false));
        }
        if let Some(cap) = &self.shared {
            if !cap.inner.sem.try_acquire() {
                self.sem.release();
                return Err(self.reject(RejectReason::Full, true));
            }
        }
        self.admitted(None);
        Ok(())
    }

    /// Bookkeeping for a call that now holds its permit(s).
    #[inline]
    pub(super) fn admitted(&self, waited: Option<Duration>) {
        self.metrics.in_flight.increment(1.0);
        if let Some(cap) = &self.shared {
            cap.inner.metrics.in_flight.increment(1.0);
        }
        if let Some(w) = waited {
            self.metrics.wait.record(w.as_secs_f64());
        }
        self.listeners.emit_with(|| BulkheadEvent::Permitted {
            bulkhead: self.name.clone(),
            waited: waited.unwrap_or_default(),
        });
    }

    /// Returns the permit(s) of an admitted call.
    #[inline]
    pub(super) fn release_permit(&self) {
        self.sem.release();
        self.metrics.in_flight.decrement(1.0);
        if let Some(cap) = &self.shared {
            cap.inner.sem.release();
            cap.inner.metrics.in_flight.decrement(1.0);
        }
    }

    /// Builds (and counts, and publishes) a rejection.
    #[cold]
    pub(super) fn reject(&self, reason: RejectReason, at_shared_cap: bool) -> BulkheadFull {
        let (cap_name, limit) = match (&self.shared, at_shared_cap) {
            (Some(cap), true) => (Some(cap.inner.name.clone()), cap.max_concurrent()),
            _ => (None, self.sem.limit()),
        };
        let error = BulkheadFull::new(self.name.clone(), cap_name, reason, limit, self.max_wait());
        if let Some(c) = self.metrics.rejected.get(reason.index()) {
            c.increment(1);
        }
        #[cfg(feature = "tracing")]
        tracing::debug!(
            bulkhead = %self.name,
            reason = reason.as_str(),
            max_concurrent = limit,
            "bulkhead rejected a call"
        );
        self.listeners.emit_with(|| BulkheadEvent::Rejected {
            error: error.clone(),
        });
        error
    }

    /// How long a caller may queue.
    #[inline]
    pub(super) fn max_wait(&self) -> Duration {
        Duration::from_nanos(self.max_wait_nanos.load(Ordering::Relaxed))
    }
}

/// For code written when bulkheads were shared as `Arc<Bulkhead>`: a
/// handle to the same bulkhead.
impl From<Arc<Bulkhead>> for Bulkhead {
    fn from(shared: Arc<Bulkhead>) -> Self {
        (*shared).clone()
    }
}

/// What [`Bulkhead::start_acquire_owned`] found.
///
/// ```
/// use std::sync::Arc;
/// use resilience_core::bulkhead::{Bulkhead, BulkheadConfig, NoTimer, StartAcquire};
/// let b = Bulkhead::new("api", BulkheadConfig::new(1)).unwrap();
/// match b.start_acquire_owned(NoTimer) {
///     StartAcquire::Acquired(permit) => assert_eq!(permit.bulkhead().in_flight(), 1),
///     StartAcquire::Rejected(full) => panic!("{full}"),
///     StartAcquire::Wait(_future) => panic!("a free permit is taken at once"),
/// }
/// ```
#[derive(Debug)]
#[must_use = "a permit or a waiting future is released or cancelled when dropped"]
pub enum StartAcquire<T: Timer> {
    /// A permit was free: the caller holds it now.
    Acquired(OwnedBulkheadPermit),
    /// The bulkhead is full and `max_wait` is zero: rejected (and counted).
    Rejected(BulkheadFull),
    /// The bulkhead is full (or others are queued) and the caller may wait:
    /// poll this future for the permit.
    Wait(AcquireOwned<T>),
}

/// A held bulkhead permit, borrowing its bulkhead; dropping it frees the
/// slot (and the shared-cap slot, in a set with a cap).
///
/// ```
/// use resilience_core::bulkhead::{Bulkhead, BulkheadConfig};
/// let b = Bulkhead::new("api", BulkheadConfig::new(1)).unwrap();
/// let permit = b.try_acquire().unwrap();
/// assert_eq!(permit.bulkhead().name(), "api");
/// drop(permit);
/// assert_eq!(b.in_flight(), 0);
/// ```
#[must_use = "the permit is released as soon as it is dropped"]
pub struct BulkheadPermit<'a> {
    bulkhead: &'a Bulkhead,
}

impl BulkheadPermit<'_> {
    /// The bulkhead this permit belongs to.
    pub fn bulkhead(&self) -> &Bulkhead {
        self.bulkhead
    }
}

impl Drop for BulkheadPermit<'_> {
    #[inline]
    fn drop(&mut self) {
        self.bulkhead.inner.release_permit();
    }
}

impl fmt::Debug for BulkheadPermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadPermit")
            .field("bulkhead", &self.bulkhead.inner.name)
            .finish()
    }
}

/// A held bulkhead permit that owns a handle to its bulkhead: `'static`,
/// `Send`, and fit to live inside a future or a spawned task.
///
/// ```
/// use std::sync::Arc;
/// use resilience_core::bulkhead::{Bulkhead, BulkheadConfig, OwnedBulkheadPermit};
/// let b = Bulkhead::new("api", BulkheadConfig::new(1)).unwrap();
/// let permit: OwnedBulkheadPermit = b.try_acquire_owned().unwrap();
/// assert!(permit.bulkhead().ptr_eq(&b));
/// drop(permit);
/// assert_eq!(b.in_flight(), 0);
/// ```
#[must_use = "the permit is released as soon as it is dropped"]
pub struct OwnedBulkheadPermit {
    bulkhead: Bulkhead,
}

impl OwnedBulkheadPermit {
    /// The bulkhead this permit belongs to.
    pub fn bulkhead(&self) -> &Bulkhead {
        &self.bulkhead
    }
}

impl Drop for OwnedBulkheadPermit {
    #[inline]
    fn drop(&mut self) {
        self.bulkhead.inner.release_permit();
    }
}

impl fmt::Debug for OwnedBulkheadPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedBulkheadPermit")
            .field("bulkhead", &self.bulkhead.inner.name)
            .finish()
    }
}
