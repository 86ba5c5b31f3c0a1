//! Circuit breaker: stop calling a dependency that is failing, and probe it
//! back to health.
//!
//! A breaker sits between a caller and a dependency. While the dependency is
//! healthy it is **closed** and calls flow. When its recent calls fail too
//! much (a failure rate, a count of failures in a time window, a run of
//! consecutive failures, or too many slow calls) it **opens**: calls fail at
//! once with [`CircuitOpen`], which says how long to wait, so the caller
//! spends no time, threads or connections on a dependency that cannot answer,
//! and the dependency gets room to recover. After the open duration it is
//! **half-open**: a few trial calls decide whether it closes again or reopens.
//!
//! The semantics follow Resilience4j (count and time sliding windows,
//! `minimum_calls`, slow calls, half-open permits, forced and disabled
//! states), with the fixes its users asked for:
//!
//! * the count window is truly sliding (a window of 10 that saw 100 successes
//!   opens after 5 failures at a 50 % threshold);
//! * a trial permit that is dropped without an outcome (a cancelled future)
//!   gives its slot back, and a half-open breaker whose trial in flight
//!   reports no outcome for `half_open_max_wait` treats the silence as a
//!   failed trial (without traffic it simply stays half-open): it
//!   reopens for the next (possibly longer) open duration and then admits
//!   fresh trials, so it can never stick half-open. Polly instead stays
//!   half-open and admits another probe once its break duration has passed
//!   since the last one; we reopen because a trial that never answers most
//!   likely met a dependency that is still down, and reopening backs off
//!   (with `open_backoff`) where a fresh probe every period would not;
//! * a half-open rejection's `retry_after` is the expected time to the
//!   trial's outcome, not the time left before the re-arm (see
//!   [`CircuitOpen`]);
//! * an outcome that arrives after a state change (a call that started
//!   closed and ends half-open) is never counted as a trial;
//! * the open duration may grow with consecutive openings.
//!
//! # Using it
//!
//! ```
//! use std::time::Duration;
//! use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitState};
//! use resilience_core::clock::ManualClock;
//!
//! let clock = ManualClock::new();
//! let config: CircuitBreakerConfig = serde_json::from_str(r#"{
//!     "window": { "count": 10 },
//!     "minimum_calls": 10,
//!     "failure_rate_threshold": 0.5,
//!     "consecutive_failures": null,
//!     "open_duration": "30s",
//!     "half_open_permits": 3,
//!     "success_threshold": 3
//! }"#).unwrap();
//! let breaker = CircuitBreaker::with_clock(config, clock.clone()).unwrap();
//!
//! fn call_dependency(ok: bool) -> Result<(), &'static str> {
//!     if ok { Ok(()) } else { Err("boom") }
//! }
//!
//! for i in 0..10 {
//!     match breaker.try_acquire() {
//!         Ok(permit) => match call_dependency(i % 2 == 0) {
//!             Ok(()) => permit.record_success(),
//!             Err(_) => permit.record_failure(),
//!         },
//!         Err(open) => println!("not calling: retry in {:?}", open.retry_after()),
//!     }
//! }
//! assert_eq!(breaker.state(), CircuitState::Open); // 5 of 10 failed: 50 %
//! let open = breaker.try_acquire().unwrap_err();
//! assert_eq!(open.retry_after(), Duration::from_secs(30));
//!
//! clock.advance(Duration::from_secs(30));
//! assert_eq!(breaker.state(), CircuitState::HalfOpen);
//! for _ in 0..3 {
//!     breaker.try_acquire().unwrap().record_success();
//! }
//! assert_eq!(breaker.state(), CircuitState::Closed);
//! ```
//!
//! Outcome classification is the caller's: a permit records success,
//! failure, or *ignored* (a call whose failure is not the dependency's fault,
//! such as an HTTP 4xx). Dropping a permit records nothing.
//!
//! # Cost
//!
//! The closed path takes no lock and allocates nothing: acquiring is one
//! atomic load of the state word (which also says whether calls are timed);
//! recording a success into a count window full of successes is one load
//! (otherwise one `fetch_add`, plus a swap and one more `fetch_add` when the
//! outcome differs from the one it evicts); into a time window holding no
//! failure, one clock read compared, unscaled, with the end of the current
//! bucket, and one `fetch_add`. An open breaker rejects without a lock and
//! with one clock read. The clock is read only when the breaker needs a
//! timestamp: slow-call detection, `record_latency`, a time window, or a
//! non-closed state.
//!
//! # Metrics
//!
//! Registered once per breaker with the `metrics` recorder installed at
//! construction time (install your recorder first). Every metric has the
//! label `name` (the breaker's name).
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `resilience_circuit_breaker_state` | gauge | `name` | 0 closed, 1 open, 2 half_open, 3 disabled, 4 forced_open, 5 metrics_only |
//! | `resilience_circuit_breaker_calls_total` | counter | `name`, `outcome` = success, failure, ignored | permitted calls by outcome |
//! | `resilience_circuit_breaker_slow_calls_total` | counter | `name`, `outcome` = success, failure | calls slower than `slow_call_duration` |
//! | `resilience_circuit_breaker_not_permitted_total` | counter | `name` | rejected calls |
//! | `resilience_circuit_breaker_failure_rate` | gauge | `name` | failure rate at the last evaluation |
//! | `resilience_circuit_breaker_slow_call_rate` | gauge | `name` | slow-call rate at the last evaluation |
//! | `resilience_circuit_breaker_transitions_total` | counter | `name`, `from`, `to` | state transitions |
//! | `resilience_circuit_breaker_call_duration_seconds` | histogram | `name` | call durations (when measured) |
//!
//! The same names are constants in [`metric_names`].

mod config;
mod event;
#[doc(hidden)]
pub mod presets;
mod registry;
mod state;
mod window;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::ReentrantMutex;

pub use self::config::{
    CircuitBreakerConfig, HalfOpenFailure, OpenBackoff, OpenDurationFn, WindowConfig,
    MAX_COUNT_WINDOW, MAX_HALF_OPEN_PERMITS, MAX_TIME_BUCKETS, MAX_TIME_WINDOW,
};
pub use self::event::names as metric_names;
pub use self::event::{CircuitBreakerEvent, CircuitBreakerEventKind, TransitionReason};
pub use self::registry::{
    CircuitBreakerRegistry, CircuitBreakerRegistryBuilder, KeyedPermit, KeyedRejection,
    RegistryFull,
};
pub use self::state::{CircuitOpen, CircuitState};
pub use self::window::WindowSnapshot;

use self::config::Resolved;
use self::event::Metrics;
pub(crate) use self::state::Name;
use self::state::{epoch_of, is_timed, word};
use self::window::{CountShape, CountWindow, TimeShape, TimeWindow, Window};
use crate::clock::{duration_nanos, shared, Clock, SharedClock, SystemClock, Ticker};
use crate::config::ConfigError;
use crate::events::{EventListener, ListenerId, Listeners};

/// How a permitted call ended, as the caller classifies it.
///
/// ```
/// use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, Outcome};
/// let breaker = CircuitBreaker::new(CircuitBreakerConfig::default()).unwrap();
/// let status = 404;
/// let outcome = match status {
///     500..=599 => Outcome::Failure,
///     400..=499 => Outcome::Ignored, // the caller's fault, not the dependency's
///     _ => Outcome::Success,
/// };
/// breaker.try_acquire().unwrap().record(outcome);
/// assert_eq!(breaker.metrics().window.calls, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The dependency did its job.
    Success,
    /// The dependency failed; counts towards opening.
    Failure,
    /// Not counted either way (frees a half-open trial slot).
    Ignored,
}

/// A circuit breaker. Cheap to clone: clones share one breaker.
///
/// `Send + Sync`; share it by cloning or through an `Arc`. See the
/// [module docs](self) for the state machine.
#[derive(Clone)]
pub struct CircuitBreaker {
    inner: Arc<Inner>,
}

/// What every breaker built from one config shares: the validated config,
/// the clock, the window's shape and, unless each breaker registers its
/// own, the metric handles. A lone breaker has one of its own; a registry
/// has one for all its keys, so a key's breaker holds only its state.
pub(crate) struct Common {
    cfg: Resolved,
    raw: CircuitBreakerConfig,
    clock: SharedClock,
    ticker: Ticker,
    count: CountShape,
    time: TimeShape,
    /// The metric handles of breakers that do not register their own.
    metrics: Metrics,
    /// Shared by a registry's keys: the shared `state` gauge is then left
    /// alone (no one state describes every key).
    keyed: bool,
}

impl Common {
    /// Validates `config` into what its breakers share. With `metrics`,
    /// the shared handles are registered here with the config's name
    /// (`default` when unnamed); `keyed` says a registry's keys share them.
    pub(crate) fn new(
        config: CircuitBreakerConfig,
        clock: SharedClock,
        metrics: bool,
        keyed: bool,
    ) -> Result<Self, ConfigError> {
        let cfg = Resolved::from_config(&config)?;
        let metrics = if metrics {
            Metrics::new(&cfg.name)
        } else {
            Metrics::noop()
        };
        let ticker = Ticker::new(&clock);
        let (count, time) = match cfg.window {
            WindowConfig::Count(n) => (CountShape::new(n), TimeShape::new(Duration::from_secs(1))),
            WindowConfig::Time(span) => (CountShape::new(1), TimeShape::new(span)),
        };
        Ok(Common {
            cfg,
            raw: config,
            clock,
            ticker,
            count,
            time,
            metrics,
            keyed,
        })
    }

    /// The config's name, the prefix of a registry's breaker names.
    pub(crate) fn name(&self) -> &str {
        &self.cfg.name
    }

    #[inline]
    pub(crate) fn now_nanos(&self) -> u64 {
        self.ticker.nanos()
    }
}

/// One breaker's state, laid out in this order (`repr(C)`): everything a
/// closed call touches (the config pointer, the state word, the window's
/// totals and its slots for windows of up to 16 calls, the registry's use
/// stamp, the extras pointer, the failure run) sits in the first 88 bytes
/// (104 with the handle's counts in front), so that a call on a breaker
/// that is out of cache (a registry of many keys) fetches two cache lines
/// in most placements, where it fetched three or four; the half-open
/// bookkeeping, the transition lock and the name (read on rejections and
/// events) come after.
#[repr(C)]
struct Inner {
    common: Arc<Common>,
    /// The state word: read on every call, written only on transitions.
    state: AtomicU64,
    window: Window,
    /// When a registry's key was last used (the registry's time units).
    last_used: AtomicU64,
    /// What few breakers need, made on first need: listeners (on the first
    /// registration) and metric handles of its own (a registry key's, with
    /// per-key metrics). A breaker without either pays one pointer for
    /// them, and its hot path one load.
    extras: OnceLock<Box<Extras>>,
    consecutive: AtomicU32,
    openings: AtomicU32,
    open_until: AtomicU64,
    /// The half-open bookkeeping, made the first time the breaker goes
    /// half-open (most breakers of a large registry never do).
    half_open: OnceLock<Box<HalfOpenState>>,
    /// In `MetricsOnly`: a threshold is currently exceeded (its
    /// `ThresholdExceeded` event has fired for this entry into the
    /// condition). Cleared when an evaluation finds no threshold exceeded.
    threshold_exceeded: AtomicBool,
    /// Serialises state transitions (never taken on the closed path).
    ///
    /// Re-entrant because listeners run under it: [`Inner::enter`] emits
    /// the `StateTransition` event while holding the lock, so that
    /// listeners see transitions one at a time and in order, and a
    /// listener may call back into the same breaker on the same thread
    /// (`state()` or `try_acquire()`, which can themselves transition when
    /// an open or half-open period has run out, or `reset()`). With a plain
    /// mutex that call would deadlock; re-entered, the nested transition
    /// reads the state word the outer one has already stored (the word is
    /// stored before the event is emitted) and compares against it, so it
    /// either applies to the new state or does nothing. Another thread's
    /// transition waits for the listeners, which is why listeners must be
    /// quick. Outcome events (`Success`, `Failure`, ...) are emitted outside
    /// the lock.
    transition: ReentrantMutex<()>,
    /// The breaker's name, inline when short (see [`Name`]).
    name: Name,
}

/// What a half-open breaker keeps track of.
#[derive(Default)]
struct HalfOpenState {
    /// Half-open trials issued: `epoch as u32 << 32 | issued`.
    ho_issued: AtomicU64,
    /// Half-open outcomes: `epoch as u32 << 32 | failures << 16 | successes`
    /// (16-bit counters; see [`HO_COUNT_BITS`] for why they cannot carry).
    ho_outcomes: AtomicU64,
    /// Half-open reopens when no trial outcome arrives before this instant.
    ho_deadline: AtomicU64,
    /// When the latest half-open trial was issued (nanoseconds since the
    /// origin): with `trial_nanos`, the basis of a half-open rejection's
    /// `retry_after`.
    trial_started: AtomicU64,
    /// How long trials take: a moving average (weight 1/4) of finished
    /// trials' durations in nanoseconds, 0 before the first.
    trial_nanos: AtomicU64,
}

/// A breaker's listeners, the shared form of its name that its events
/// carry, and its own metric handles when it has them.
struct Extras {
    name: Arc<str>,
    listeners: Listeners<CircuitBreakerEvent>,
    /// This breaker's own metric handles; `None` when it reports through
    /// [`Common::metrics`] (a lone breaker, or a registry's key whose
    /// registry shares one set of handles).
    own_metrics: Option<Metrics>,
}

/// What a permit remembers about its call: the state word it was issued in
/// (state and epoch; any transition changes it) and its start time.
#[derive(Debug, Clone, Copy)]
struct Ticket {
    word: u64,
    /// Nanoseconds since the origin, or [`NO_START`] when not measured.
    start: u64,
}

const NO_START: u64 = u64::MAX;

impl Ticket {
    #[inline]
    fn start(&self) -> Option<u64> {
        (self.start != NO_START).then_some(self.start)
    }
}

/// Permission for one call, borrowed from the breaker.
///
/// Record the outcome with [`record_success`](Permit::record_success),
/// [`record_failure`](Permit::record_failure),
/// [`record_ignored`](Permit::record_ignored) or [`record`](Permit::record).
/// Dropping it without an outcome records nothing and, for a half-open trial,
/// gives the trial slot back.
#[must_use = "a permit records nothing unless you call record_*"]
pub struct Permit<'a> {
    inner: &'a Inner,
    ticket: Ticket,
    done: bool,
}

/// Permission for one call that owns a handle to its breaker, so it can live
/// in a future or move across threads. Same API as [`Permit`].
#[must_use = "a permit records nothing unless you call record_*"]
pub struct OwnedPermit {
    breaker: CircuitBreaker,
    ticket: Ticket,
    done: bool,
}

/// A point-in-time view of a breaker, for dashboards and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct CircuitBreakerMetrics {
    /// The current state.
    pub state: CircuitState,
    /// Counts in the sliding window.
    pub window: WindowSnapshot,
    /// failures / calls, once the window holds `minimum_calls` calls.
    pub failure_rate: Option<f64>,
    /// slow calls / calls, once the window holds `minimum_calls` calls.
    pub slow_call_rate: Option<f64>,
    /// The current run of failures (only tracked with `consecutive_failures`).
    pub consecutive_failures: u32,
    /// Openings since the breaker last closed.
    pub consecutive_openings: u32,
    /// Time left until trial calls, when open.
    pub retry_after: Option<Duration>,
}

impl CircuitBreaker {
    /// A breaker on the system clock.
    ///
    /// ```
    /// use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
    /// let breaker = CircuitBreaker::new(CircuitBreakerConfig::new().consecutive_failures(5)).unwrap();
    /// assert!(breaker.try_acquire().is_ok());
    /// ```
    pub fn new(config: CircuitBreakerConfig) -> Result<Self, ConfigError> {
        Self::with_clock(config, SystemClock)
    }

    /// A breaker reading time from `clock` (a [`ManualClock`](crate::clock::ManualClock) in tests).
    pub fn with_clock(
        config: CircuitBreakerConfig,
        clock: impl Clock,
    ) -> Result<Self, ConfigError> {
        let common = Arc::new(Common::new(config, shared(clock), true, false)?);
        let name = Name::new(common.name());
        Ok(Self::from_common(common, name, None))
    }

    /// A breaker sharing `common` (its config, clock and, without
    /// `own_metrics`, its metric handles), named `name`.
    pub(crate) fn from_common(
        common: Arc<Common>,
        name: Name,
        own_metrics: Option<Metrics>,
    ) -> Self {
        let window = match common.cfg.window {
            WindowConfig::Count(_) => Window::Count(CountWindow::new(&common.count)),
            WindowConfig::Time(_) => Window::Time(TimeWindow::new(&common.time, &common.ticker)),
        };
        let extras = OnceLock::new();
        match own_metrics {
            Some(m) => {
                m.state.set(CircuitState::Closed.gauge_value());
                let _ = extras.set(Box::new(Extras {
                    name: name.to_arc(),
                    listeners: Listeners::new(),
                    own_metrics: Some(m),
                }));
            }
            None if !common.keyed => common.metrics.state.set(CircuitState::Closed.gauge_value()),
            None => {}
        }
        let closed = word(CircuitState::Closed, 0, common.cfg.timed);
        CircuitBreaker {
            inner: Arc::new(Inner {
                common,
                state: AtomicU64::new(closed),
                window,
                consecutive: AtomicU32::new(0),
                openings: AtomicU32::new(0),
                last_used: AtomicU64::new(0),
                open_until: AtomicU64::new(0),
                half_open: OnceLock::new(),
                threshold_exceeded: AtomicBool::new(false),
                name,
                extras,
                transition: ReentrantMutex::new(()),
            }),
        }
    }

    /// When the registry last saw this breaker used.
    pub(crate) fn last_used(&self) -> &AtomicU64 {
        &self.inner.last_used
    }

    /// Whether a handle other than this one exists: a clone from
    /// [`CircuitBreakerRegistry::get`], or a permit in flight. The registry
    /// asks this of its own handle, under the shard's write lock, so no new
    /// handle can appear between the answer and an eviction.
    pub(crate) fn held_elsewhere(&self) -> bool {
        Arc::strong_count(&self.inner) > 1
    }

    /// Renamed: [`with_clock`](Self::with_clock) takes any clock, a
    /// [`SharedClock`] included.
    #[deprecated(
        since = "0.1.1",
        note = "use `CircuitBreaker::with_clock`, which takes any clock"
    )]
    #[doc(hidden)]
    pub fn with_shared_clock(
        config: CircuitBreakerConfig,
        clock: SharedClock,
    ) -> Result<Self, ConfigError> {
        Self::with_clock(config, clock)
    }

    /// Asks permission for one call.
    ///
    /// `Ok` carries a [`Permit`] to record the outcome with; `Err` says the
    /// breaker is open (or half-open with every trial taken) and how long to
    /// wait. An open breaker whose open duration has elapsed turns half-open
    /// here and the call becomes a trial.
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<'_>, CircuitOpen> {
        let w = self.inner.state.load(Ordering::Acquire);
        let ticket = if state::permits(w) {
            Ticket {
                word: w,
                start: self.inner.start_time(w),
            }
        } else {
            self.inner.acquire_slow()?
        };
        Ok(Permit {
            inner: &self.inner,
            ticket,
            done: false,
        })
    }

    /// Like [`try_acquire`](Self::try_acquire), with a permit that owns a
    /// handle to the breaker (for futures and other threads).
    ///
    /// ```
    /// use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
    /// let breaker = CircuitBreaker::new(CircuitBreakerConfig::default()).unwrap();
    /// let permit = breaker.try_acquire_owned().unwrap();
    /// std::thread::spawn(move || permit.record_success()).join().unwrap();
    /// assert_eq!(breaker.metrics().window.calls, 1);
    /// ```
    #[inline]
    pub fn try_acquire_owned(&self) -> Result<OwnedPermit, CircuitOpen> {
        let w = self.inner.state.load(Ordering::Acquire);
        let ticket = if state::permits(w) {
            Ticket {
                word: w,
                start: self.inner.start_time(w),
            }
        } else {
            self.inner.acquire_slow()?
        };
        Ok(OwnedPermit {
            breaker: self.clone(),
            ticket,
            done: false,
        })
    }

    /// Runs `f` under the breaker, classifying `Err` as a failure.
    ///
    /// ```
    /// use resilience_core::circuit_breaker::{CallError, CircuitBreaker, CircuitBreakerConfig};
    /// let breaker = CircuitBreaker::new(CircuitBreakerConfig::new().consecutive_failures(1)).unwrap();
    /// let r: Result<(), CallError<&str>> = breaker.call(|| Err("down"));
    /// assert!(matches!(r, Err(CallError::Inner("down"))));
    /// let r: Result<(), CallError<&str>> = breaker.call(|| Ok(()));
    /// assert!(matches!(r, Err(CallError::Open(_))));
    /// ```
    pub fn call<T, E>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, CallError<E>> {
        let inner = &*self.inner;
        let w = inner.state.load(Ordering::Acquire);
        if !state::permits_untimed(w) {
            return self.call_with_permit(f);
        }
        // Closed (or a permissive manual state) and untimed: the ticket is
        // the state word alone, and a panic in `f` has nothing to give back
        // (a permit dropped without an outcome only frees a half-open trial
        // slot), so no permit is made.
        let t = Ticket {
            word: w,
            start: NO_START,
        };
        // A time window's success path stays out of line (`false`): inlined
        // here, it saves the time window nothing and puts its registers on
        // every count window's call.
        match f() {
            Ok(v) => {
                inner.record::<false>(t, Outcome::Success);
                Ok(v)
            }
            Err(e) => {
                inner.record::<false>(t, Outcome::Failure);
                Err(CallError::Inner(e))
            }
        }
    }

    /// [`call`](Self::call) through a permit: any state, timed or not.
    #[inline(never)]
    fn call_with_permit<T, E>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, CallError<E>> {
        let permit = self.try_acquire().map_err(CallError::Open)?;
        match f() {
            Ok(v) => {
                permit.record_success();
                Ok(v)
            }
            Err(e) => {
                permit.record_failure();
                Err(CallError::Inner(e))
            }
        }
    }

    /// The current state. An open breaker whose open duration has elapsed
    /// reports (and becomes) half-open; a half-open breaker past
    /// `half_open_max_wait` reports (and becomes) open again.
    pub fn state(&self) -> CircuitState {
        self.inner.state()
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        self.inner.name.as_str()
    }

    /// The config the breaker was built from.
    pub fn config(&self) -> &CircuitBreakerConfig {
        &self.inner.common.raw
    }

    /// A snapshot of the breaker's counters.
    ///
    /// ```
    /// use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
    /// let breaker = CircuitBreaker::new(CircuitBreakerConfig::new().count_window(4).minimum_calls(2)).unwrap();
    /// breaker.try_acquire().unwrap().record_success();
    /// breaker.try_acquire().unwrap().record_failure();
    /// let m = breaker.metrics();
    /// assert_eq!((m.window.calls, m.window.failures), (2, 1));
    /// assert_eq!(m.failure_rate, Some(0.5));
    /// ```
    pub fn metrics(&self) -> CircuitBreakerMetrics {
        self.inner.snapshot()
    }

    /// Registers a closure called for every event (see
    /// [`CircuitBreakerEvent`]). Listeners run on the calling thread and must
    /// be quick.
    pub fn on_event<F>(&self, f: F) -> ListenerId
    where
        F: Fn(&CircuitBreakerEvent) + Send + Sync + 'static,
    {
        self.inner.extras().listeners.add_fn(f)
    }

    /// Registers an action to run each time the breaker opens (trips, a
    /// trial fails, or it is forced open). The action gets the transition
    /// event (name, time, reason) and runs on the thread that tripped the
    /// breaker, while the transition is being made, so it must be quick:
    /// flip a flag, send on a channel.
    ///
    /// This is where a host acts on an open circuit, instead of polling the
    /// state:
    ///
    /// * **route to an alternative** (the GPU inference platform routes a
    ///   model's requests elsewhere while its breaker is open);
    /// * **remove a worker from a pool** (a per-worker breaker, made by a
    ///   keyed registry's [`on_create`](CircuitBreakerRegistry::on_create)
    ///   hook, takes its worker out of rotation);
    /// * **reassign queued work** (the worker's queue is handed to the
    ///   others; see `resilience_dr::recovery` for in-flight requests).
    ///
    /// Pair it with [`on_close`](Self::on_close) to undo the action. To feed
    /// a degradation level instead, see
    /// [`DegradationManager::follow_breaker`](crate::degradation::DegradationManager::follow_breaker).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use resilience_core::circuit_breaker::{CircuitBreakerConfig, CircuitBreakerRegistry};
    /// use resilience_core::presets::gpu_inference;
    ///
    /// // A pool of workers, each behind its own breaker (3 failures open it).
    /// let pool = Arc::new(Mutex::new(vec!["w1".to_string(), "w2".to_string()]));
    /// let reassigned = Arc::new(Mutex::new(Vec::new()));
    /// let workers = CircuitBreakerRegistry::<String>::new(gpu_inference::per_worker_breaker()).unwrap();
    /// let (p, r) = (pool.clone(), reassigned.clone());
    /// workers.on_create(move |worker, breaker| {
    ///     let (pool, r, w) = (p.clone(), r.clone(), worker.clone());
    ///     breaker.on_open(move |_| {
    ///         pool.lock().unwrap().retain(|x| *x != w); // out of the pool
    ///         r.lock().unwrap().push(w.clone()); // its queued work goes to the others
    ///     });
    ///     let (p, w) = (p.clone(), worker.clone());
    ///     breaker.on_close(move |_| p.lock().unwrap().push(w.clone()));
    /// });
    /// for _ in 0..3 {
    ///     workers.try_acquire(&"w1".to_string()).unwrap().record_failure();
    /// }
    /// assert_eq!(*pool.lock().unwrap(), ["w2"]);
    /// assert_eq!(*reassigned.lock().unwrap(), ["w1"]);
    /// ```
    pub fn on_open<F>(&self, f: F) -> ListenerId
    where
        F: Fn(&CircuitBreakerEvent) + Send + Sync + 'static,
    {
        self.on_transition_to(
            |to| matches!(to, CircuitState::Open | CircuitState::ForcedOpen),
            f,
        )
    }

    /// Registers an action to run each time the breaker closes (trials
    /// succeeded, or [`reset`](Self::reset)): put the worker back in the
    /// pool, route back to the primary, replay what was parked while it was
    /// open. Same rules as [`on_open`](Self::on_open).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
    /// use resilience_core::clock::ManualClock;
    ///
    /// // Route to an alternative model while the primary's breaker is open.
    /// let clock = ManualClock::new();
    /// let primary = CircuitBreaker::with_clock(
    ///     CircuitBreakerConfig::new().consecutive_failures(1).half_open_permits(1),
    ///     clock.clone(),
    /// ).unwrap();
    /// let use_alternative = Arc::new(AtomicBool::new(false));
    /// let flag = use_alternative.clone();
    /// primary.on_open(move |_| flag.store(true, Ordering::Relaxed));
    /// let flag = use_alternative.clone();
    /// primary.on_close(move |_| flag.store(false, Ordering::Relaxed));
    ///
    /// primary.try_acquire().unwrap().record_failure();
    /// assert!(use_alternative.load(Ordering::Relaxed));
    /// clock.advance(Duration::from_secs(30));
    /// primary.try_acquire().unwrap().record_success(); // the trial call
    /// assert!(!use_alternative.load(Ordering::Relaxed));
    /// ```
    pub fn on_close<F>(&self, f: F) -> ListenerId
    where
        F: Fn(&CircuitBreakerEvent) + Send + Sync + 'static,
    {
        self.on_transition_to(|to| to == CircuitState::Closed, f)
    }

    /// Registers an action to run each time the breaker goes half-open
    /// (its open time is over and it admits trial calls). Same rules as
    /// [`on_open`](Self::on_open). The transition happens when the breaker
    /// is next asked (a call, or [`state`](Self::state)).
    pub fn on_half_open<F>(&self, f: F) -> ListenerId
    where
        F: Fn(&CircuitBreakerEvent) + Send + Sync + 'static,
    {
        self.on_transition_to(|to| to == CircuitState::HalfOpen, f)
    }

    fn on_transition_to<P, F>(&self, wanted: P, f: F) -> ListenerId
    where
        P: Fn(CircuitState) -> bool + Send + Sync + 'static,
        F: Fn(&CircuitBreakerEvent) + Send + Sync + 'static,
    {
        self.on_event(move |e| {
            if let CircuitBreakerEventKind::StateTransition { to, .. } = e.kind {
                if wanted(to) {
                    f(e)
                }
            }
        })
    }

    /// Registers a listener object.
    pub fn add_listener(
        &self,
        listener: Arc<dyn EventListener<CircuitBreakerEvent>>,
    ) -> ListenerId {
        self.inner.extras().listeners.add(listener)
    }

    /// Removes a listener.
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        match self.inner.extras.get() {
            Some(x) => x.listeners.remove(id),
            None => false,
        }
    }

    /// Opens the breaker until [`reset`](Self::reset): every call is rejected.
    pub fn force_open(&self) {
        self.inner.manual(CircuitState::ForcedOpen);
    }

    /// Admits trial calls now, as if the open duration had elapsed
    /// (Resilience4j's `transitionToHalfOpenState`): the next
    /// `half_open_permits` calls are trials that close or reopen the breaker
    /// as usual. For a coordinator that decides *when* this replica probes a
    /// dependency (a fleet that bounds its probes), typically from
    /// [`ForcedOpen`](CircuitState::ForcedOpen) or `Open`.
    ///
    /// ```
    /// use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitState};
    /// let breaker = CircuitBreaker::new(CircuitBreakerConfig::new().half_open_permits(1).success_threshold(1)).unwrap();
    /// breaker.force_open();
    /// breaker.transition_to_half_open();
    /// assert_eq!(breaker.state(), CircuitState::HalfOpen);
    /// breaker.try_acquire().unwrap().record_success(); // the trial
    /// assert_eq!(breaker.state(), CircuitState::Closed);
    /// ```
    pub fn transition_to_half_open(&self) {
        self.inner.manual(CircuitState::HalfOpen);
    }

    /// Disables the breaker until [`reset`](Self::reset): every call is
    /// permitted and recorded, nothing trips.
    pub fn disable(&self) {
        self.inner.manual(CircuitState::Disabled);
    }

    /// Puts the breaker in metrics-only mode until [`reset`](Self::reset):
    /// calls are permitted and evaluated; a trip only emits
    /// [`CircuitBreakerEventKind::ThresholdExceeded`].
    pub fn metrics_only(&self) {
        self.inner.manual(CircuitState::MetricsOnly);
    }

    /// Returns to a fresh closed state: empty window, no consecutive
    /// failures or openings.
    pub fn reset(&self) {
        self.inner.manual(CircuitState::Closed);
    }

    /// Whether two handles are the same breaker.
    pub fn ptr_eq(&self, other: &CircuitBreaker) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self.inner.state.load(Ordering::Relaxed);
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name())
            .field("state", &CircuitState::from_bits(w))
            .finish_non_exhaustive()
    }
}

/// The error of [`CircuitBreaker::call`]: the breaker rejected the call, or
/// the call itself failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError<E> {
    /// Not called: the breaker is open.
    #[error(transparent)]
    Open(CircuitOpen),
    /// Called, and it failed with this error.
    #[error("call failed: {0}")]
    Inner(E),
}

/// The methods of both permits. `$inline_time`: whether a time window's
/// success path is inlined into the caller (the borrowed permit, used by
/// synchronous code and by `call` in states that need a permit) or left out
/// of line (the owned permit, whose caller is a response future where the
/// larger inlined path costs a count window's callers more than it saves a
/// time window's).
macro_rules! permit_api {
    ($inline_time:literal) => {
        /// Records a success.
        #[inline]
        pub fn record_success(self) {
            self.record(Outcome::Success)
        }

        /// Records a failure.
        #[inline]
        pub fn record_failure(self) {
            self.record(Outcome::Failure)
        }

        /// Records a call that is not counted either way.
        #[inline]
        pub fn record_ignored(self) {
            self.record(Outcome::Ignored)
        }

        /// Records `outcome`.
        #[inline(always)]
        pub fn record(mut self, outcome: Outcome) {
            self.done = true;
            self.inner().record::<$inline_time>(self.ticket, outcome);
        }

        /// How long ago the permit was issued, when the breaker measures
        /// durations.
        pub fn elapsed(&self) -> Option<Duration> {
            let inner = self.inner();
            self.ticket
                .start()
                .map(|s| Duration::from_nanos(inner.now_nanos().saturating_sub(s)))
        }
    };
}

impl Permit<'_> {
    #[inline]
    fn inner(&self) -> &Inner {
        self.inner
    }

    permit_api!(true);

    /// Converts into an [`OwnedPermit`] (clones the breaker handle).
    pub fn into_owned(mut self, breaker: &CircuitBreaker) -> OwnedPermit {
        debug_assert!(std::ptr::eq(self.inner, &*breaker.inner));
        self.done = true;
        OwnedPermit {
            breaker: breaker.clone(),
            ticket: self.ticket,
            done: false,
        }
    }
}

impl OwnedPermit {
    #[inline]
    fn inner(&self) -> &Inner {
        &self.breaker.inner
    }

    permit_api!(false);

    /// The breaker this permit belongs to.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }
}

impl Drop for Permit<'_> {
    #[inline]
    fn drop(&mut self) {
        if !self.done {
            self.inner.release(self.ticket);
        }
    }
}

impl Drop for OwnedPermit {
    #[inline]
    fn drop(&mut self) {
        if !self.done {
            self.breaker.inner.release(self.ticket);
        }
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.inner.name.as_str())
            .field("epoch", &epoch_of(self.ticket.word))
            .finish()
    }
}

impl fmt::Debug for OwnedPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit")
            .field("breaker", &self.breaker.name())
            .field("epoch", &epoch_of(self.ticket.word))
            .finish()
    }
}

const LOW32: u64 = 0xFFFF_FFFF;

/// Width of each half-open outcome counter in `ho_outcomes`: successes in
/// bits 0..16, failures in bits 16..32, the epoch above.
const HO_COUNT_BITS: u32 = 16;
const HO_COUNT_MASK: u64 = (1 << HO_COUNT_BITS) - 1;
/// What one failed trial adds to `ho_outcomes`.
const HO_ONE_FAILURE: u64 = 1 << HO_COUNT_BITS;

// The 16-bit counters cannot carry into their neighbour. Per epoch, at most
// `half_open_permits` trials are in flight at once, and the epoch ends (the
// breaker transitions) once `success_threshold` successes or, in rate mode,
// `half_open_permits` outcomes are in; so successes stay below
// `success_threshold + half_open_permits` and failures at most
// `half_open_permits`, both bounded by the config's maxima.
const _: () = {
    let max = config::MAX_HALF_OPEN_PERMITS as u64;
    assert!(2 * max <= HO_COUNT_MASK);
    assert!(2 * HO_COUNT_BITS == 32);
};

#[inline]
fn epoch32(epoch: u64) -> u64 {
    epoch & LOW32
}

impl Inner {
    #[inline(always)]
    fn cfg(&self) -> &Resolved {
        &self.common.cfg
    }

    #[inline(always)]
    fn own_metrics(&self) -> Option<&Metrics> {
        self.extras.get().and_then(|x| x.own_metrics.as_ref())
    }

    #[inline(always)]
    fn metrics(&self) -> &Metrics {
        self.own_metrics().unwrap_or(&self.common.metrics)
    }

    #[inline]
    fn now_nanos(&self) -> u64 {
        self.common.now_nanos()
    }

    /// The half-open bookkeeping (made by the first entry into half-open;
    /// every reader runs after one).
    #[inline]
    fn ho(&self) -> &HalfOpenState {
        self.half_open.get_or_init(Box::default)
    }

    fn extras(&self) -> &Extras {
        self.extras.get_or_init(|| {
            Box::new(Extras {
                name: self.name.to_arc(),
                listeners: Listeners::new(),
                own_metrics: None,
            })
        })
    }

    /// The listeners, when any is registered.
    #[inline(always)]
    fn listening(&self) -> Option<&Extras> {
        self.extras
            .get()
            .map(|x| &**x)
            .filter(|x| !x.listeners.is_empty())
    }

    /// The start time of a call permitted in the state word `w`.
    #[inline]
    fn start_time(&self, w: u64) -> u64 {
        if is_timed(w) {
            self.now_nanos()
        } else {
            NO_START
        }
    }

    /// Permission in any state: rejects when open (at most one clock read,
    /// no lock), turns an open breaker whose time is up half-open, hands out
    /// trial slots. The state word is read again: the caller's did not
    /// permit the call outright.
    #[cold]
    #[inline(never)]
    fn acquire_slow(&self) -> Result<Ticket, CircuitOpen> {
        let w = self.state.load(Ordering::Acquire);
        if CircuitState::from_bits(w) == CircuitState::Open {
            // The rejection of an open breaker, the common case here during
            // an outage, apart from the loop: it keeps only the breaker and
            // the answer across its clock read.
            let now = self.now_nanos();
            let until = self.open_until.load(Ordering::Acquire);
            if now < until {
                return Err(self.reject(CircuitState::Open, until - now));
            }
        }
        self.acquire_any(w)
    }

    /// [`acquire_slow`](Self::acquire_slow) in every state, from the state
    /// word `w`.
    #[inline(never)]
    fn acquire_any(&self, mut w: u64) -> Result<Ticket, CircuitOpen> {
        loop {
            let state = CircuitState::from_bits(w);
            match state {
                CircuitState::ForcedOpen => {
                    return Err(self.reject(state, duration_nanos(self.cfg().open_duration)));
                }
                CircuitState::Open => {
                    let now = self.now_nanos();
                    let until = self.open_until.load(Ordering::Acquire);
                    if now < until {
                        return Err(self.reject(state, until - now));
                    }
                    self.transition_from(
                        w,
                        CircuitState::HalfOpen,
                        TransitionReason::OpenDurationElapsed,
                    );
                }
                CircuitState::HalfOpen => {
                    let now = self.now_nanos();
                    let deadline = self.ho().ho_deadline.load(Ordering::Acquire);
                    if now >= deadline && self.trials_outstanding(w) {
                        self.transition_from(
                            w,
                            CircuitState::Open,
                            TransitionReason::HalfOpenTimeout,
                        );
                    } else {
                        let e = epoch32(epoch_of(w));
                        let mut cur = self.ho().ho_issued.load(Ordering::Acquire);
                        while cur >> 32 == e {
                            if cur & LOW32 >= u64::from(self.cfg().half_open_permits) {
                                let wait = self.half_open_retry_after(now, deadline);
                                return Err(self.reject(state, duration_nanos(wait)));
                            }
                            match self.ho().ho_issued.compare_exchange_weak(
                                cur,
                                cur + 1,
                                Ordering::AcqRel,
                                Ordering::Acquire,
                            ) {
                                Ok(_) => {
                                    // Trials are always timed: their
                                    // durations estimate when the next
                                    // decision is due.
                                    self.ho().trial_started.store(now, Ordering::Release);
                                    // The trial must report within
                                    // half_open_max_wait.
                                    self.ho().ho_deadline.fetch_max(
                                        now.saturating_add(duration_nanos(
                                            self.cfg().half_open_max_wait,
                                        )),
                                        Ordering::AcqRel,
                                    );
                                    return Ok(Ticket {
                                        word: w,
                                        start: now,
                                    });
                                }
                                Err(actual) => cur = actual,
                            }
                        }
                    }
                }
                CircuitState::Closed | CircuitState::Disabled | CircuitState::MetricsOnly => {
                    return Ok(Ticket {
                        word: w,
                        start: self.start_time(w),
                    });
                }
            }
            w = self.state.load(Ordering::Acquire);
        }
    }

    /// The `retry_after` of a half-open rejection (every trial slot is
    /// taken): the expected time until the trial in flight reports, that
    /// is the average duration of recent trials (before the first one
    /// finishes: `slow_call_duration` if set, else one second) minus the
    /// time the latest trial has already run, or one whole average when it
    /// is overdue. Capped by the time left before `half_open_max_wait`
    /// reopens the breaker and by the base open duration, so a client is
    /// never told to stay away longer than the breaker itself would.
    #[cold]
    fn half_open_retry_after(&self, now: u64, deadline: u64) -> Duration {
        let average = match self.ho().trial_nanos.load(Ordering::Acquire) {
            0 => self.cfg().slow_call_nanos.unwrap_or(1_000_000_000),
            n => n,
        }
        .max(1_000_000);
        let running = now.saturating_sub(self.ho().trial_started.load(Ordering::Acquire));
        let left = if running < average {
            average - running
        } else {
            average
        };
        let cap = deadline
            .saturating_sub(now)
            .min(duration_nanos(self.cfg().open_duration));
        Duration::from_nanos(left.min(cap).max(1))
    }

    /// A rejection: the `not_permitted` counter, the event when someone
    /// listens, and the error, which copies the (inline) name and keeps
    /// `retry_after` as the nanoseconds just computed. No lock, no
    /// allocation, no reference count, no clock read beyond the caller's.
    #[inline]
    fn reject(&self, state: CircuitState, retry_after_nanos: u64) -> CircuitOpen {
        // One look at the extras answers both "own metrics?" and "anyone
        // listening?": a breaker with neither counts and returns.
        match self.extras.get() {
            None => self.common.metrics.not_permitted.increment(1),
            Some(x) => self.reject_with_extras(x, state, retry_after_nanos),
        }
        #[cfg(feature = "tracing")]
        tracing::debug!(breaker = %self.name.as_str(), %state, retry_after = ?Duration::from_nanos(retry_after_nanos), "circuit breaker rejected a call");
        CircuitOpen::after_nanos(self.name.clone(), state, retry_after_nanos)
    }

    /// The counter and event of a rejection by a breaker with listeners or
    /// metric handles of its own.
    #[cold]
    fn reject_with_extras(&self, x: &Extras, state: CircuitState, retry_after_nanos: u64) {
        x.own_metrics
            .as_ref()
            .unwrap_or(&self.common.metrics)
            .not_permitted
            .increment(1);
        if !x.listeners.is_empty() {
            let retry_after = Duration::from_nanos(retry_after_nanos);
            self.emit_to(
                x,
                CircuitBreakerEventKind::NotPermitted { state, retry_after },
            );
        }
    }

    #[inline]
    fn emit(&self, kind: CircuitBreakerEventKind) {
        if let Some(o) = self.listening() {
            self.emit_to(o, kind);
        }
    }

    #[cold]
    fn emit_to(&self, o: &Extras, kind: CircuitBreakerEventKind) {
        o.listeners.emit_with(|| CircuitBreakerEvent {
            name: o.name.clone(),
            at: self.common.clock.now(),
            kind,
        });
    }

    /// Records an outcome. The common case, a success of an untimed call
    /// into a window holding nothing but successes, is a few loads inline
    /// (a count window is left as it is, see `CountWindow::record`; a time
    /// window counts it in the recording thread's own stripe, see
    /// `TimeWindow::record_clean_success`), and no listener or
    /// per-breaker metric needs the full path.
    #[inline(always)]
    fn record<const INLINE_TIME: bool>(&self, t: Ticket, outcome: Outcome) {
        if t.start == NO_START && outcome == Outcome::Success && self.extras.get().is_none() {
            match &self.window {
                Window::Count(cw) => {
                    if cw.all_ok(&self.common.count) {
                        self.common.metrics.success.increment(1);
                        return;
                    }
                }
                Window::Time(tw) if INLINE_TIME => return self.record_time_success(tw, t.word),
                Window::Time(tw) => return self.record_time_success_outlined(tw, t.word),
            }
        }
        self.record_full(t, outcome)
    }

    /// A success of an untimed call into a time window: counted in the
    /// thread's stripe while the window holds only successes and no failure
    /// run is being counted (see `TimeWindow::record_clean_success`); the
    /// full path otherwise. The state word is compared so that an outcome
    /// issued before a transition stays out of the new state's window, as
    /// on the full path.
    #[inline(always)]
    fn record_time_success(&self, tw: &TimeWindow, word: u64) {
        // The clock is read first, before the window is known to be clean:
        // a success into a window holding a failure then reads it again on
        // the full path, but the clean path (the healthy case) keeps fewer
        // values across the clock read.
        let raw = self.common.ticker.raw();
        if self.consecutive.load(Ordering::Relaxed) == 0
            && self.state.load(Ordering::Acquire) == word
            && tw.record_clean_success(raw, &self.common.time)
        {
            self.common.metrics.success.increment(1);
            return;
        }
        self.record_full(
            Ticket {
                word,
                start: NO_START,
            },
            Outcome::Success,
        )
    }

    #[inline(never)]
    fn record_time_success_outlined(&self, tw: &TimeWindow, word: u64) {
        self.record_time_success(tw, word)
    }

    #[inline(never)]
    fn record_full(&self, t: Ticket, outcome: Outcome) {
        let (now, elapsed) = match t.start() {
            Some(start) => {
                let now = self.now_nanos();
                (Some(now), Some(now.saturating_sub(start)))
            }
            None => (None, None),
        };
        // Slow means strictly slower than the threshold, as in Resilience4j.
        let slow = matches!((self.cfg().slow_call_nanos, elapsed), (Some(th), Some(e)) if e > th);
        if let Some(e) = elapsed {
            self.metrics().duration.record(e as f64 / 1e9);
        }
        let failure = match outcome {
            Outcome::Success => {
                self.metrics().success.increment(1);
                if slow {
                    self.metrics().slow_success.increment(1);
                }
                if self.listening().is_some() {
                    self.emit(CircuitBreakerEventKind::Success {
                        elapsed: elapsed.map(Duration::from_nanos),
                        slow,
                    });
                }
                false
            }
            Outcome::Failure => {
                self.metrics().failure.increment(1);
                if slow {
                    self.metrics().slow_failure.increment(1);
                }
                self.emit(CircuitBreakerEventKind::Failure {
                    elapsed: elapsed.map(Duration::from_nanos),
                    slow,
                });
                true
            }
            Outcome::Ignored => {
                self.metrics().ignored.increment(1);
                self.emit(CircuitBreakerEventKind::Ignored);
                self.release(t);
                return;
            }
        };
        let w = self.state.load(Ordering::Acquire);
        if w != t.word {
            // Issued before a state change: counted in metrics, not in the
            // new state.
            return;
        }
        match w & state::STATE_MASK {
            state::CLOSED | state::METRICS_ONLY => self.record_closed(w, failure, slow, now, true),
            state::DISABLED => self.record_closed(w, failure, slow, now, false),
            state::HALF_OPEN => {
                if let Some(e) = elapsed {
                    self.note_trial_duration(e);
                }
                self.record_trial(w, failure || slow)
            }
            _ => {}
        }
    }

    #[inline]
    fn record_closed(&self, w: u64, failure: bool, slow: bool, now: Option<u64>, evaluate: bool) {
        let code = window::code(failure, slow);
        let snap = match &self.window {
            Window::Count(cw) => cw.record(code, &self.common.count),
            Window::Time(tw) => tw.record(
                code,
                now.unwrap_or_else(|| self.now_nanos()),
                &self.common.time,
                &self.common.ticker,
            ),
        };
        if !evaluate {
            return;
        }
        if let Some(threshold) = self.cfg().consecutive_failures {
            if failure {
                let run = self
                    .consecutive
                    .fetch_add(1, Ordering::AcqRel)
                    .saturating_add(1);
                if run >= threshold {
                    self.trip(w, TransitionReason::ConsecutiveFailures { failures: run });
                    return;
                }
            } else if self.cfg().failures_reset_on_success
                && self.consecutive.load(Ordering::Relaxed) != 0
            {
                self.consecutive.store(0, Ordering::Release);
            }
        }
        if let Some(snap) = snap {
            match self.evaluate(&snap) {
                Some(reason) => self.trip(w, reason),
                None => {
                    if CircuitState::from_bits(w) == CircuitState::MetricsOnly {
                        // The condition ended: the next entry fires again.
                        self.threshold_exceeded.store(false, Ordering::Release);
                    }
                }
            }
        }
    }

    fn evaluate(&self, s: &WindowSnapshot) -> Option<TransitionReason> {
        let mut reason = None;
        if let Some(n) = self.cfg().failure_count_threshold {
            if s.failures >= n {
                reason = Some(TransitionReason::FailureCount {
                    failures: s.failures,
                });
            }
        }
        if s.calls >= self.cfg().minimum_calls && s.calls > 0 {
            let rate = s.failures as f64 / s.calls as f64;
            self.metrics().failure_rate.set(rate);
            if let Some(threshold) = self.cfg().failure_rate_threshold {
                if reason.is_none() && rate >= threshold {
                    reason = Some(TransitionReason::FailureRate {
                        rate,
                        threshold,
                        calls: s.calls,
                    });
                }
            }
            if self.cfg().slow_call_nanos.is_some() {
                let slow_rate = s.slow_calls as f64 / s.calls as f64;
                self.metrics().slow_call_rate.set(slow_rate);
                let threshold = self.cfg().slow_call_rate_threshold;
                if reason.is_none() && slow_rate >= threshold {
                    reason = Some(TransitionReason::SlowCallRate {
                        rate: slow_rate,
                        threshold,
                        calls: s.calls,
                    });
                }
            }
        }
        reason
    }

    fn trip(&self, w: u64, reason: TransitionReason) {
        if CircuitState::from_bits(w) == CircuitState::MetricsOnly {
            // Once per entry into the condition, as Resilience4j's
            // metrics-only state publishes it.
            if !self.threshold_exceeded.swap(true, Ordering::AcqRel) {
                self.emit(CircuitBreakerEventKind::ThresholdExceeded { reason });
            }
            return;
        }
        self.transition_from(w, CircuitState::Open, reason);
    }

    /// Whether half-open trials of the state word `w`'s epoch are in
    /// flight (issued, with no outcome yet). Only then can
    /// `half_open_max_wait` pass without an answer: a half-open breaker
    /// that sees no traffic at all stays half-open (the next call is the
    /// trial) instead of cycling open and half-open on its own.
    fn trials_outstanding(&self, w: u64) -> bool {
        let e = epoch32(epoch_of(w));
        let issued = self.ho().ho_issued.load(Ordering::Acquire);
        if issued >> 32 != e {
            return false;
        }
        let issued = issued & LOW32;
        match self.cfg().half_open_failure {
            // A finished trial gives its slot back: the slots held are the
            // trials in flight.
            HalfOpenFailure::Any => issued > 0,
            // Slots are held until every trial reported.
            HalfOpenFailure::Rate => {
                let outcomes = self.ho().ho_outcomes.load(Ordering::Acquire);
                let done = if outcomes >> 32 == e {
                    (outcomes & 0xFFFF) + ((outcomes >> 16) & 0xFFFF)
                } else {
                    0
                };
                issued > done
            }
        }
    }

    /// Folds a finished trial's duration into the moving average.
    fn note_trial_duration(&self, nanos: u64) {
        let _ = self
            .ho()
            .trial_nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |avg| {
                Some(match avg {
                    0 => nanos.max(1),
                    a => (a / 4).saturating_mul(3).saturating_add(nanos / 4).max(1),
                })
            });
    }

    fn record_trial(&self, w: u64, bad: bool) {
        let e = epoch32(epoch_of(w));
        let add = if bad { HO_ONE_FAILURE } else { 1 };
        let mut cur = self.ho().ho_outcomes.load(Ordering::Acquire);
        let new = loop {
            if cur >> 32 != e {
                return;
            }
            match self.ho().ho_outcomes.compare_exchange_weak(
                cur,
                cur + add,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break cur + add,
                Err(actual) => cur = actual,
            }
        };
        let successes = (new & HO_COUNT_MASK) as u32;
        let failures = ((new >> HO_COUNT_BITS) & HO_COUNT_MASK) as u32;
        let deadline = self
            .now_nanos()
            .saturating_add(duration_nanos(self.cfg().half_open_max_wait));
        self.ho().ho_deadline.fetch_max(deadline, Ordering::AcqRel);
        match self.cfg().half_open_failure {
            HalfOpenFailure::Any => {
                if bad {
                    self.transition_from(w, CircuitState::Open, TransitionReason::TrialFailed);
                } else if successes >= self.cfg().success_threshold {
                    self.transition_from(
                        w,
                        CircuitState::Closed,
                        TransitionReason::TrialsSucceeded { successes },
                    );
                } else {
                    // A finished trial gives its slot to the next one.
                    self.free_trial_slot(epoch_of(w));
                }
            }
            HalfOpenFailure::Rate => {
                let done = successes + failures;
                if done >= self.cfg().half_open_permits {
                    let rate = f64::from(failures) / f64::from(done);
                    let threshold = self.cfg().failure_rate_threshold.unwrap_or(0.5);
                    if rate >= threshold {
                        self.transition_from(
                            w,
                            CircuitState::Open,
                            TransitionReason::TrialFailureRate { rate },
                        );
                    } else {
                        self.transition_from(
                            w,
                            CircuitState::Closed,
                            TransitionReason::TrialFailureRateBelowThreshold { rate },
                        );
                    }
                }
            }
        }
    }

    /// A permit ended without a counted outcome: give a half-open trial slot
    /// back.
    #[inline]
    fn release(&self, t: Ticket) {
        if t.word & state::STATE_MASK != state::HALF_OPEN
            || self.state.load(Ordering::Acquire) != t.word
        {
            return;
        }
        self.free_trial_slot(epoch_of(t.word));
    }

    fn free_trial_slot(&self, epoch: u64) {
        let e = epoch32(epoch);
        let _ = self
            .ho()
            .ho_issued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                (cur >> 32 == e && cur & LOW32 > 0).then(|| cur - 1)
            });
    }

    /// Moves from the state word `expected` to `to`, unless another thread
    /// changed the state first. Returns whether this call made the change.
    fn transition_from(&self, expected: u64, to: CircuitState, reason: TransitionReason) -> bool {
        let _guard = self.transition.lock();
        let cur = self.state.load(Ordering::Acquire);
        if cur != expected {
            return false;
        }
        self.enter(cur, to, reason);
        true
    }

    fn manual(&self, to: CircuitState) {
        let _guard = self.transition.lock();
        let cur = self.state.load(Ordering::Acquire);
        if CircuitState::from_bits(cur) == to && to != CircuitState::Closed {
            return;
        }
        self.enter(cur, to, TransitionReason::Manual);
    }

    /// Enters `to` from the state word `cur`. Caller holds the transition
    /// lock (re-entered when a listener transitions; see `Inner::transition`).
    ///
    /// Order matters: the per-state fields (`open_until`, the half-open
    /// counters with the new epoch, the window reset) are written first and
    /// the state word last, with `Release`, so a caller that loads the new
    /// word with `Acquire` sees them. Permits issued under the old word fail
    /// the `w != t.word` check in `record` and are not counted in the new
    /// state.
    fn enter(&self, cur: u64, to: CircuitState, reason: TransitionReason) {
        let from = CircuitState::from_bits(cur);
        let epoch = epoch_of(cur).wrapping_add(1);
        let now = self.now_nanos();
        match to {
            CircuitState::Open => {
                let n = self
                    .openings
                    .fetch_add(1, Ordering::AcqRel)
                    .saturating_add(1);
                let d = self.cfg().open_duration_for(n);
                self.open_until
                    .store(now.saturating_add(duration_nanos(d)), Ordering::Release);
            }
            CircuitState::HalfOpen => {
                let e = epoch32(epoch) << 32;
                self.ho().ho_issued.store(e, Ordering::Release);
                self.ho().ho_outcomes.store(e, Ordering::Release);
                self.ho().ho_deadline.store(
                    now.saturating_add(duration_nanos(self.cfg().half_open_max_wait)),
                    Ordering::Release,
                );
            }
            CircuitState::Closed | CircuitState::Disabled | CircuitState::MetricsOnly => {
                self.window.reset();
                self.consecutive.store(0, Ordering::Release);
                self.threshold_exceeded.store(false, Ordering::Release);
                if to == CircuitState::Closed {
                    self.openings.store(0, Ordering::Release);
                }
            }
            CircuitState::ForcedOpen => {}
        }
        self.state
            .store(word(to, epoch, is_timed(cur)), Ordering::Release);
        if self.own_metrics().is_some() || !self.common.keyed {
            self.metrics().state.set(to.gauge_value());
        }
        Metrics::transition(
            match self.own_metrics() {
                Some(_) => self.name.as_str(),
                None => self.common.name(),
            },
            from,
            to,
        );
        #[cfg(feature = "tracing")]
        tracing::info!(breaker = %self.name.as_str(), %from, %to, ?reason, "circuit breaker state change");
        self.emit(CircuitBreakerEventKind::StateTransition { from, to, reason });
    }

    fn state(&self) -> CircuitState {
        loop {
            let w = self.state.load(Ordering::Acquire);
            let state = CircuitState::from_bits(w);
            match state {
                CircuitState::Open
                    if self.now_nanos() >= self.open_until.load(Ordering::Acquire) =>
                {
                    self.transition_from(
                        w,
                        CircuitState::HalfOpen,
                        TransitionReason::OpenDurationElapsed,
                    );
                }
                CircuitState::HalfOpen
                    if self.now_nanos() >= self.ho().ho_deadline.load(Ordering::Acquire)
                        && self.trials_outstanding(w) =>
                {
                    self.transition_from(w, CircuitState::Open, TransitionReason::HalfOpenTimeout);
                }
                _ => return state,
            }
        }
    }

    fn snapshot(&self) -> CircuitBreakerMetrics {
        let state = self.state();
        let window = match &self.window {
            Window::Count(w) => w.snapshot(&self.common.count),
            Window::Time(w) => w.snapshot(self.now_nanos(), &self.common.time),
        };
        let rated = window.calls >= self.cfg().minimum_calls && window.calls > 0;
        let retry_after = (state == CircuitState::Open).then(|| {
            Duration::from_nanos(
                self.open_until
                    .load(Ordering::Acquire)
                    .saturating_sub(self.now_nanos()),
            )
        });
        CircuitBreakerMetrics {
            state,
            window,
            failure_rate: if rated { window.failure_rate() } else { None },
            slow_call_rate: if rated && self.cfg().slow_call_nanos.is_some() {
                window.slow_call_rate()
            } else {
                None
            },
            consecutive_failures: self.consecutive.load(Ordering::Acquire),
            consecutive_openings: self.openings.load(Ordering::Acquire),
            retry_after,
        }
    }
}

#[cfg(test)]
mod tests;
