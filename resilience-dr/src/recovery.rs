//! Request recovery: reassigning the in-flight work of a failed worker.
//!
//! When a worker dies, every request it held must end somewhere definite.
//! The GPU inference platform's algorithm, implemented here:
//!
//! - **ASSIGNED** (not started): safe to reassign, so it is **requeued** with
//!   a priority boost (+50).
//! - **IN-PROGRESS** (progress lost): **retried** after a backoff of
//!   `min(30 s, 2^n s)` for the n-th retry (2 s, 4 s, 8 s), with the same
//!   priority boost, up to 3 retries; after that it is **failed** with a
//!   message naming the failure ("failed after 3 retries: out of memory").
//! - Failure-specific hints travel with the retry: out of memory → batch
//!   size 1 and a larger-VRAM worker; corruption → any worker but the one
//!   that failed (enforced: [`InFlightTracker::assign`] refuses it).
//!
//! Nothing is lost: [`InFlightTracker::fail_worker`] returns exactly one
//! [`Disposition`] for every request the worker held, and a property test
//! (`tests/recovery_model.rs`) checks that over random failure sequences.
//!
//! ```
//! use std::time::Duration;
//! use resilience_core::clock::ManualClock;
//! use resilience_dr::recovery::{Disposition, InFlightTracker, RecoveryConfig};
//! use resilience_dr::FailureKind;
//!
//! let clock = ManualClock::new();
//! let t = InFlightTracker::with_clock(RecoveryConfig::default(), clock.clone()).unwrap();
//! t.submit("req-1", 0).unwrap();
//! t.submit("req-2", 0).unwrap();
//! t.assign(&"req-1", "gpu-1").unwrap();
//! t.assign(&"req-2", "gpu-1").unwrap();
//! t.start(&"req-2").unwrap();
//!
//! let report = t.fail_worker(&"gpu-1", FailureKind::OutOfMemory);
//! assert_eq!(report.outcomes.len(), 2);
//! for o in &report.outcomes {
//!     match &o.disposition {
//!         Disposition::Requeued { priority } => assert_eq!((o.id, *priority), ("req-1", 50)),
//!         Disposition::Retry { attempt, delay, batch_size, .. } => {
//!             assert_eq!((o.id, *attempt, *delay), ("req-2", 1, Duration::from_secs(2)));
//!             assert_eq!(*batch_size, Some(1));
//!         }
//!         Disposition::Failed { .. } => unreachable!(),
//!     }
//! }
//! // req-1 is ready now; req-2 only after its 2 s backoff.
//! assert_eq!(t.next_ready(), Some("req-1"));
//! t.assign(&"req-1", "gpu-2").unwrap();
//! assert_eq!(t.next_ready(), None);
//! clock.advance(Duration::from_secs(2));
//! assert_eq!(t.next_ready(), Some("req-2"));
//! ```
//!
//! # Metrics
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `resilience_recovery_requests_total` | counter | `disposition` (`requeued`, `retried`, `failed`), `failure` | requests recovered from failed workers |
//! | `resilience_recovery_worker_failures_total` | counter | `failure` | workers reported failed |

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use resilience_core::clock::{shared, Clock, SharedClock, SystemClock};
use resilience_core::config::{check_nonzero_duration, fmt_duration, ConfigError};
use resilience_core::events::Listeners;
use serde::{Deserialize, Serialize};

use crate::failover::StepBackoff;
use crate::FailureKind;

/// Recovery rules; the defaults are the inference platform's constants.
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::recovery::RecoveryConfig;
/// let c = RecoveryConfig::default();
/// assert_eq!(c.max_retries, 3);
/// assert_eq!(c.priority_boost, 50);
/// assert_eq!(c.retry_delay(1), Duration::from_secs(2));
/// assert_eq!(c.retry_delay(5), Duration::from_secs(30)); // capped
/// let y: RecoveryConfig = resilience_core::config::from_yaml_str("max_retries: 5").unwrap();
/// assert_eq!(y.backoff_cap, Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecoveryConfig {
    /// Retries of an in-progress request before it fails. Default 3.
    pub max_retries: u32,
    /// Backoff unit: the n-th retry waits `min(cap, base × 2^n)`. Default 1 s.
    #[serde(with = "humantime_serde")]
    pub backoff_base: Duration,
    /// Backoff cap. Default 30 s.
    #[serde(with = "humantime_serde")]
    pub backoff_cap: Duration,
    /// Added to a request's priority when it is requeued or retried. Default 50.
    pub priority_boost: i64,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig {
            max_retries: 3,
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(30),
            priority_boost: 50,
        }
    }
}

impl RecoveryConfig {
    /// Checks the config, naming the bad field.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::recovery::RecoveryConfig;
    /// let c = RecoveryConfig { backoff_cap: Duration::from_millis(1), ..Default::default() };
    /// assert_eq!(c.validate().unwrap_err().field(), Some("backoff_cap"));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_nonzero_duration("backoff_base", self.backoff_base)?;
        if self.backoff_cap < self.backoff_base {
            return Err(ConfigError::invalid(
                "backoff_cap",
                format!(
                    "must be at least backoff_base ({}), got {}",
                    fmt_duration(self.backoff_base),
                    fmt_duration(self.backoff_cap)
                ),
            ));
        }
        Ok(())
    }

    /// Delay before the `attempt`-th retry (1-based): `min(cap, base × 2^attempt)`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::recovery::RecoveryConfig;
    /// let c = RecoveryConfig::default();
    /// let d: Vec<u64> = (1..=5).map(|n| c.retry_delay(n).as_secs()).collect();
    /// assert_eq!(d, [2, 4, 8, 16, 30]);
    /// ```
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        StepBackoff::new(self.backoff_base, self.backoff_cap).delay(attempt)
    }
}

/// Where a tracked request stands.
///
/// ```
/// use resilience_dr::recovery::RequestState;
/// assert_eq!(RequestState::InProgress.to_string(), "in progress");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestState {
    /// Waiting for a worker (new, requeued, or waiting out a retry backoff).
    Queued,
    /// Given to a worker that has not started it.
    Assigned,
    /// Being processed by a worker.
    InProgress,
}

impl fmt::Display for RequestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RequestState::Queued => "queued",
            RequestState::Assigned => "assigned",
            RequestState::InProgress => "in progress",
        })
    }
}

/// Where a retried request should go next.
///
/// ```
/// use resilience_dr::recovery::RoutingHint;
/// let h: RoutingHint<&str> = RoutingHint::AvoidWorker("gpu-3");
/// assert_ne!(h, RoutingHint::Any);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutingHint<W> {
    /// No preference.
    Any,
    /// A worker with more VRAM (after an out-of-memory failure).
    LargerVram,
    /// Any worker except this one (after corruption on it).
    AvoidWorker(W),
}

/// What happened to one request of a failed worker.
///
/// ```
/// use resilience_dr::recovery::Disposition;
/// let d: Disposition<&str> = Disposition::Failed { message: "failed after 3 retries: timeout".into() };
/// assert_eq!(d.name(), "failed");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition<W> {
    /// It had not started: back in the queue with a higher priority.
    Requeued {
        /// The new priority.
        priority: i64,
    },
    /// It had started: queued again, eligible after `delay`.
    Retry {
        /// Which retry this is (1-based).
        attempt: u32,
        /// Backoff before it may be assigned again.
        delay: Duration,
        /// The new priority.
        priority: i64,
        /// Where to run it.
        hint: RoutingHint<W>,
        /// Batch size to use (`Some(1)` after out of memory).
        batch_size: Option<u32>,
    },
    /// Out of retries: removed, with a message for the user.
    Failed {
        /// Why, naming the failure.
        message: String,
    },
}

impl<W> Disposition<W> {
    /// `"requeued"`, `"retried"` or `"failed"`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::recovery::{Disposition, RoutingHint};
    /// let d: Disposition<&str> = Disposition::Retry {
    ///     attempt: 1, delay: Duration::from_secs(2), priority: 50, hint: RoutingHint::Any, batch_size: None,
    /// };
    /// assert_eq!(d.name(), "retried");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            Disposition::Requeued { .. } => "requeued",
            Disposition::Retry { .. } => "retried",
            Disposition::Failed { .. } => "failed",
        }
    }
}

/// One request's recovery.
///
/// ```
/// use resilience_dr::recovery::{Disposition, Recovered, RequestState};
/// let r = Recovered { id: 7u64, was: RequestState::Assigned, disposition: Disposition::<u8>::Requeued { priority: 50 } };
/// assert_eq!(r.disposition.name(), "requeued");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered<Id, W> {
    /// The request.
    pub id: Id,
    /// Its state on the failed worker (`Assigned` or `InProgress`).
    pub was: RequestState,
    /// What was done with it.
    pub disposition: Disposition<W>,
}

/// Everything [`InFlightTracker::fail_worker`] did; also published to listeners.
///
/// ```
/// use resilience_dr::recovery::{InFlightTracker, RecoveryConfig};
/// use resilience_dr::FailureKind;
/// let t: InFlightTracker<u32, &str> = InFlightTracker::new(RecoveryConfig::default()).unwrap();
/// let r = t.fail_worker(&"idle-worker", FailureKind::Timeout);
/// assert!(r.outcomes.is_empty());
/// assert_eq!(r.count("failed"), 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryReport<Id, W> {
    /// The failed worker.
    pub worker: W,
    /// Its failure.
    pub failure: FailureKind,
    /// One entry per request it held.
    pub outcomes: Vec<Recovered<Id, W>>,
}

impl<Id, W> RecoveryReport<Id, W> {
    /// How many outcomes have the disposition `name` (see [`Disposition::name`]).
    ///
    /// ```
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::recovery::{InFlightTracker, RecoveryConfig, RequestState};
    /// use resilience_dr::FailureKind;
    /// let clock = ManualClock::new();
    /// let t: InFlightTracker<&str, &str> = InFlightTracker::with_clock(RecoveryConfig::default(), clock.clone()).unwrap();
    /// t.submit("a", 0).unwrap();
    /// t.assign(&"a", "w").unwrap();
    /// assert_eq!(t.fail_worker(&"w", FailureKind::Timeout).count("requeued"), 1);
    /// ```
    pub fn count(&self, name: &str) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.disposition.name() == name)
            .count()
    }
}

/// A request the tracker does not know, or that is not in the right state.
///
/// ```
/// use resilience_dr::recovery::{InFlightTracker, RecoveryConfig, TrackerError};
/// let t: InFlightTracker<u32, &str> = InFlightTracker::new(RecoveryConfig::default()).unwrap();
/// assert!(matches!(t.start(&9), Err(TrackerError::Unknown { .. })));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrackerError {
    /// No such request is tracked (never submitted, completed or failed).
    #[error(
        "request {id} is not tracked: submit it first (it may already have completed or failed)"
    )]
    Unknown {
        /// The request, formatted with `Debug`.
        id: String,
    },
    /// The request is already tracked.
    #[error("request {id} is already tracked; submit each request once")]
    Duplicate {
        /// The request.
        id: String,
    },
    /// The operation needs another state.
    #[error("request {id} is {actual}, but this operation needs it {expected}")]
    WrongState {
        /// The request.
        id: String,
        /// Its state.
        actual: RequestState,
        /// The state the operation needs.
        expected: RequestState,
    },
    /// The request is waiting out its retry backoff.
    #[error("request {id} is backing off; assign it again in {}", fmt_duration(*.retry_in))]
    BackingOff {
        /// The request.
        id: String,
        /// Time left.
        retry_in: Duration,
    },
    /// The request must not return to the worker it failed on (corruption).
    #[error(
        "request {id} failed with corruption on worker {worker}; assign it to a different worker"
    )]
    AvoidWorker {
        /// The request.
        id: String,
        /// The worker to avoid.
        worker: String,
    },
}

/// A snapshot of one tracked request.
///
/// ```
/// use resilience_dr::recovery::{InFlightTracker, RecoveryConfig, RequestState};
/// let t: InFlightTracker<u32, &str> = InFlightTracker::new(RecoveryConfig::default()).unwrap();
/// t.submit(1, 10).unwrap();
/// let info = t.get(&1).unwrap();
/// assert_eq!((info.state, info.priority, info.retries), (RequestState::Queued, 10, 0));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo<W> {
    /// Current state.
    pub state: RequestState,
    /// Worker holding it (assigned or in progress).
    pub worker: Option<W>,
    /// Current priority (higher is served first).
    pub priority: i64,
    /// Retries used so far.
    pub retries: u32,
    /// Routing hint from the last failure.
    pub hint: RoutingHint<W>,
    /// Batch size override from the last failure.
    pub batch_size: Option<u32>,
    /// Earliest instant it may be assigned again.
    pub not_before: Option<Instant>,
    /// The last failure it went through.
    pub last_failure: Option<FailureKind>,
}

#[derive(Debug)]
struct Tracked<W> {
    info: RequestInfo<W>,
    seq: u64,
}

#[derive(Debug)]
struct Inner<Id, W> {
    requests: HashMap<Id, Tracked<W>>,
    /// Queued requests by (priority desc, arrival).
    queue: BTreeMap<(Reverse<i64>, u64), Id>,
    /// Requests held (assigned or in progress) per worker, so a worker's
    /// failure costs O(its requests), not O(everything tracked).
    by_worker: HashMap<W, HashSet<Id>>,
    next_seq: u64,
}

/// Tracks every request through queued → assigned → in progress, and
/// recovers a failed worker's share.
///
/// Cheap to clone: clones share one tracker (an `Arc` inside).
///
/// The tracker is the single owner of a request's fate: it is removed only
/// by [`complete`](Self::complete) or by failing out of retries, so it can
/// never be silently dropped. All methods take `&self`; share it in an `Arc`.
///
/// See the [module docs](self) for an end-to-end example.
///
/// ```
/// use resilience_core::clock::ManualClock;
/// use resilience_dr::recovery::{InFlightTracker, RecoveryConfig, RequestState};
/// use resilience_dr::FailureKind;
/// let clock = ManualClock::new();
/// let t: InFlightTracker<&str, &str> = InFlightTracker::with_clock(RecoveryConfig::default(), clock.clone()).unwrap();
/// t.submit("req-1", 0).unwrap();
/// t.assign(&"req-1", "gpu-1").unwrap();
/// t.start(&"req-1").unwrap();
/// t.complete(&"req-1").unwrap();
/// assert!(t.is_empty());
/// ```
pub struct InFlightTracker<Id, W> {
    inner: Arc<InFlightTrackerShared<Id, W>>,
}

impl<Id, W> Clone for InFlightTracker<Id, W> {
    fn clone(&self) -> Self {
        InFlightTracker {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct InFlightTrackerShared<Id, W> {
    config: RecoveryConfig,
    clock: SharedClock,
    state: Mutex<Inner<Id, W>>,
    listeners: Listeners<RecoveryReport<Id, W>>,
}

impl<Id, W> fmt::Debug for InFlightTracker<Id, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.state.lock();
        f.debug_struct("InFlightTracker")
            .field("config", &self.inner.config)
            .field("tracked", &inner.requests.len())
            .field("queued", &inner.queue.len())
            .finish()
    }
}

impl<Id, W> InFlightTracker<Id, W>
where
    Id: Eq + Hash + Clone + fmt::Debug + Send + Sync + 'static,
    W: Eq + Hash + Clone + fmt::Debug + Send + Sync + 'static,
{
    /// A tracker on the system clock.
    ///
    /// ```
    /// use resilience_dr::recovery::{InFlightTracker, RecoveryConfig};
    /// let t: InFlightTracker<u64, String> = InFlightTracker::new(RecoveryConfig::default()).unwrap();
    /// assert!(t.is_empty());
    /// ```
    pub fn new(config: RecoveryConfig) -> Result<Self, ConfigError> {
        Self::with_clock(config, SystemClock)
    }

    /// A tracker reading time (for retry backoffs) from `clock`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::recovery::{InFlightTracker, RecoveryConfig};
    /// let bad = RecoveryConfig { backoff_base: Duration::ZERO, ..Default::default() };
    /// assert!(InFlightTracker::<u64, u32>::with_clock(bad, ManualClock::new()).is_err());
    /// ```
    pub fn with_clock(config: RecoveryConfig, clock: impl Clock) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(InFlightTracker {
            inner: Arc::new(InFlightTrackerShared {
                config,
                clock: shared(clock),
                state: Mutex::new(Inner {
                    requests: HashMap::new(),
                    queue: BTreeMap::new(),
                    by_worker: HashMap::new(),
                    next_seq: 0,
                }),
                listeners: Listeners::new(),
            }),
        })
    }

    /// Listeners for every [`RecoveryReport`].
    ///
    /// ```
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::recovery::{InFlightTracker, RecoveryConfig, RequestState};
    /// use resilience_dr::FailureKind;
    /// let clock = ManualClock::new();
    /// let t: InFlightTracker<&str, &str> = InFlightTracker::with_clock(RecoveryConfig::default(), clock.clone()).unwrap();
    /// t.listeners().add_fn(|r: &resilience_dr::recovery::RecoveryReport<&str, &str>| {
    ///     println!("{} failed ({}): {} requests recovered", r.worker, r.failure, r.outcomes.len())
    /// });
    /// ```
    pub fn listeners(&self) -> &Listeners<RecoveryReport<Id, W>> {
        &self.inner.listeners
    }

    /// Number of tracked requests (queued, assigned or in progress).
    ///
    /// ```
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::recovery::{InFlightTracker, RecoveryConfig, RequestState};
    /// use resilience_dr::FailureKind;
    /// let clock = ManualClock::new();
    /// let t: InFlightTracker<&str, &str> = InFlightTracker::with_clock(RecoveryConfig::default(), clock.clone()).unwrap();
    /// t.submit("a", 0).unwrap();
    /// assert_eq!(t.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.inner.state.lock().requests.len()
    }

    /// Whether nothing is tracked.
    ///
    /// ```
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::recovery::{InFlightTracker, RecoveryConfig, RequestState};
    /// use resilience_dr::FailureKind;
    /// let clock = ManualClock::new();
    /// let t: InFlightTracker<&str, &str> = InFlightTracker::with_clock(RecoveryConfig::default(), clock.clone()).unwrap();
    /// assert!(t.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.inner.state.lock().requests.is_empty()
    }

    /// A snapshot of `id`.
    ///
    /// ```
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::recovery::{InFlightTracker, RecoveryConfig, RequestState};
    /// use resilience_dr::FailureKind;
    /// let clock = ManualClock::new();
    /// let t: InFlightTracker<&str, &str> = InFlightTracker::with_clock(RecoveryConfig::default(), clock.clone()).unwrap();
    /// t.submit("a", 0).unwrap();
    /// t.assign(&"a", "w").unwrap();
    /// assert_eq!(t.get(&"a").unwrap().worker, Some("w"));
    /// assert!(t.get(&"b").is_none());
    /// ```
    pub fn get(&self, id: &Id) -> Option<RequestInfo<W>> {
        self.inner
            .state
            .lock()
            .requests
            .get(id)
            .map(|t| t.info.clone())
    }

    /// Adds a new request to the queue.
    ///
    /// ```
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::recovery::{InFlightTracker, RecoveryConfig, RequestState};
    /// use resilience_dr::FailureKind;
    /// let clock = ManualClock::new();
    /// let t: InFlightTracker<&str, &str> = InFlightTracker::with_clock(RecoveryConfig::default(), clock.clone()).unwrap();
    /// t.submit("a", 0).unwrap();
    /// assert!(t.submit("a", 0).is_err()); // each request once
    /// ```
    pub fn submit(&self, id: Id, priority: i64) -> Result<(), TrackerError> {
        let mut inner = self.inner.state.lock();
        if inner.requests.contains_key(&id) {
            return Err(TrackerError::Duplicate {
                id: format!("{id:?}"),
            });
        }
        let seq = inner.bump_seq();
        inner.queue.insert((Reverse(priority), seq), id.clone());
        inner.requests.insert(
            id,
            Tracked {
                info: RequestInfo {
                    state: RequestState::Queued,
                    worker: None,
                    priority,
                    retries: 0,
                    hint: RoutingHint::Any,
                    batch_size: None,
                    not_before: None,
                    last_failure: None,
                },
                seq,
            },
        );
        Ok(())
    }

    /// The highest-priority queued request whose backoff is over (oldest
    /// first among equals), without assigning it.
    ///
    /// ```
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::recovery::{InFlightTracker, RecoveryConfig, RequestState};
    /// use resilience_dr::FailureKind;
    /// let clock = ManualClock::new();
    /// let t: InFlightTracker<&str, &str> = InFlightTracker::with_clock(RecoveryConfig::default(), clock.clone()).unwrap();
    /// t.submit("low", 0).unwrap();
    /// t.submit("high", 9).unwrap();
    /// assert_eq!(t.next_ready(), Some("high"));
    /// ```
    pub fn next_ready(&self) -> Option<Id> {
        self.next_ready_matching(|_, _| true)
    }

    /// The highest-priority queued request whose backoff is over and for
    /// which `accept(id, info)` holds (oldest first among equals), without
    /// assigning it.
    ///
    /// `accept` runs under the tracker's lock: it must not call back into
    /// the tracker.
    ///
    /// ```
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::recovery::{InFlightTracker, RecoveryConfig};
    /// let t: InFlightTracker<u32, &str> = InFlightTracker::with_clock(RecoveryConfig::default(), ManualClock::new()).unwrap();
    /// t.submit(1, 9).unwrap();
    /// t.submit(2, 0).unwrap();
    /// t.submit(3, 0).unwrap();
    /// // the best request with an even id
    /// assert_eq!(t.next_ready_matching(|id, _| id % 2 == 0), Some(2));
    /// assert_eq!(t.next_ready_matching(|_, info| info.priority > 100), None);
    /// ```
    pub fn next_ready_matching<F>(&self, mut accept: F) -> Option<Id>
    where
        F: FnMut(&Id, &RequestInfo<W>) -> bool,
    {
        let now = self.inner.clock.now();
        let inner = self.inner.state.lock();
        inner
            .queue
            .values()
            .find(|id| {
                inner.requests.get(*id).is_some_and(|t| {
                    t.info.not_before.is_none_or(|nb| nb <= now) && accept(id, &t.info)
                })
            })
            .cloned()
    }

    /// Takes work for a free worker: assigns to `worker` the highest-priority
    /// queued request (oldest first among equals) whose backoff is over,
    /// whose routing hint does not exclude `worker`, and for which
    /// `accept(id, info)` holds; returns its id, or `None` when nothing
    /// matches.
    ///
    /// Finding and assigning happen under one lock, so two dispatchers
    /// never take the same request, and a request that cannot run on this
    /// worker (it must avoid it, or `accept` says no) does not block the
    /// ones behind it. `accept` runs under the tracker's lock: it must not
    /// call back into the tracker.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::recovery::{InFlightTracker, RecoveryConfig, RequestState};
    /// use resilience_dr::FailureKind;
    ///
    /// let clock = ManualClock::new();
    /// let t = InFlightTracker::with_clock(RecoveryConfig::default(), clock.clone()).unwrap();
    /// t.submit("sdxl-1", 5).unwrap();
    /// t.submit("flux-1", 0).unwrap();
    /// // gpu-1 only has flux loaded: the higher-priority sdxl job is skipped, not blocking
    /// assert_eq!(t.take_next_matching("gpu-1", |id, _| id.starts_with("flux")), Some("flux-1"));
    /// assert_eq!(t.get(&"flux-1").unwrap().state, RequestState::Assigned);
    /// assert_eq!(t.take_next_matching("gpu-1", |id, _| id.starts_with("flux")), None);
    ///
    /// // after corruption on gpu-2, its request goes to any worker but gpu-2
    /// t.take_next_matching("gpu-2", |_, _| true).unwrap();
    /// t.start(&"sdxl-1").unwrap();
    /// t.fail_worker(&"gpu-2", FailureKind::Corruption);
    /// clock.advance(Duration::from_secs(2)); // its retry backoff
    /// assert_eq!(t.take_next_matching("gpu-2", |_, _| true), None);
    /// assert_eq!(t.take_next_matching("gpu-3", |_, _| true), Some("sdxl-1"));
    /// ```
    pub fn take_next_matching<F>(&self, worker: W, mut accept: F) -> Option<Id>
    where
        F: FnMut(&Id, &RequestInfo<W>) -> bool,
    {
        let now = self.inner.clock.now();
        let mut inner = self.inner.state.lock();
        let (key, id) = inner.queue.iter().find_map(|(key, id)| {
            let t = inner.requests.get(id)?;
            let ready = t.info.not_before.is_none_or(|nb| nb <= now);
            let allowed = !matches!(&t.info.hint, RoutingHint::AvoidWorker(bad) if *bad == worker);
            (ready && allowed && accept(id, &t.info)).then(|| (*key, id.clone()))
        })?;
        inner.queue.remove(&key);
        let t = inner.requests.get_mut(&id)?;
        t.info.state = RequestState::Assigned;
        t.info.worker = Some(worker.clone());
        t.info.not_before = None;
        inner
            .by_worker
            .entry(worker)
            .or_default()
            .insert(id.clone());
        Some(id)
    }

    /// Gives a queued request to `worker`. Refuses while its retry backoff
    /// runs, and refuses the worker it hit corruption on.
    ///
    /// ```
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::recovery::{InFlightTracker, RecoveryConfig, RequestState};
    /// use resilience_dr::FailureKind;
    /// let clock = ManualClock::new();
    /// let t: InFlightTracker<&str, &str> = InFlightTracker::with_clock(RecoveryConfig::default(), clock.clone()).unwrap();
    /// t.submit("a", 0).unwrap();
    /// t.assign(&"a", "gpu-1").unwrap();
    /// assert_eq!(t.get(&"a").unwrap().state, RequestState::Assigned);
    /// assert!(t.assign(&"a", "gpu-2").is_err()); // not queued any more
    /// ```
    pub fn assign(&self, id: &Id, worker: W) -> Result<(), TrackerError> {
        let now = self.inner.clock.now();
        let mut inner = self.inner.state.lock();
        let Some(t) = inner.requests.get_mut(id) else {
            return Err(unknown(id));
        };
        if t.info.state != RequestState::Queued {
            return Err(wrong(id, t.info.state, RequestState::Queued));
        }
        if let Some(nb) = t.info.not_before {
            if nb > now {
                return Err(TrackerError::BackingOff {
                    id: format!("{id:?}"),
                    retry_in: nb.saturating_duration_since(now),
                });
            }
        }
        if let RoutingHint::AvoidWorker(bad) = &t.info.hint {
            if *bad == worker {
                return Err(TrackerError::AvoidWorker {
                    id: format!("{id:?}"),
                    worker: format!("{bad:?}"),
                });
            }
        }
        t.info.state = RequestState::Assigned;
        t.info.worker = Some(worker.clone());
        t.info.not_before = None;
        let key = (Reverse(t.info.priority), t.seq);
        inner.queue.remove(&key);
        inner
            .by_worker
            .entry(worker)
            .or_default()
            .insert(id.clone());
        Ok(())
    }

    /// Marks an assigned request as started.
    ///
    /// ```
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::recovery::{InFlightTracker, RecoveryConfig, RequestState};
    /// use resilience_dr::FailureKind;
    /// let clock = ManualClock::new();
    /// let t: InFlightTracker<&str, &str> = InFlightTracker::with_clock(RecoveryConfig::default(), clock.clone()).unwrap();
    /// t.submit("a", 0).unwrap();
    /// assert!(t.start(&"a").is_err()); // must be assigned first
    /// t.assign(&"a", "gpu-1").unwrap();
    /// t.start(&"a").unwrap();
    /// assert_eq!(t.get(&"a").unwrap().state, RequestState::InProgress);
    /// ```
    pub fn start(&self, id: &Id) -> Result<(), TrackerError> {
        let mut inner = self.inner.state.lock();
        let Some(t) = inner.requests.get_mut(id) else {
            return Err(unknown(id));
        };
        if t.info.state != RequestState::Assigned {
            return Err(wrong(id, t.info.state, RequestState::Assigned));
        }
        t.info.state = RequestState::InProgress;
        Ok(())
    }

    /// Removes a finished request (assigned or in progress) and returns its
    /// last snapshot.
    ///
    /// ```
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::recovery::{InFlightTracker, RecoveryConfig, RequestState};
    /// use resilience_dr::FailureKind;
    /// let clock = ManualClock::new();
    /// let t: InFlightTracker<&str, &str> = InFlightTracker::with_clock(RecoveryConfig::default(), clock.clone()).unwrap();
    /// t.submit("a", 0).unwrap();
    /// t.assign(&"a", "gpu-1").unwrap();
    /// let done = t.complete(&"a").unwrap();
    /// assert_eq!(done.worker, Some("gpu-1"));
    /// assert!(t.get(&"a").is_none());
    /// ```
    pub fn complete(&self, id: &Id) -> Result<RequestInfo<W>, TrackerError> {
        let mut inner = self.inner.state.lock();
        match inner.requests.get(id).map(|t| t.info.state) {
            None => Err(unknown(id)),
            Some(RequestState::Queued) => {
                Err(wrong(id, RequestState::Queued, RequestState::InProgress))
            }
            Some(_) => {
                let info = inner
                    .requests
                    .remove(id)
                    .map(|t| t.info)
                    .ok_or_else(|| unknown(id))?;
                if let Some(w) = &info.worker {
                    inner.release(w, id);
                }
                Ok(info)
            }
        }
    }

    /// Removes a request in any state (queued, assigned or in progress) and
    /// returns its last snapshot: for work whose caller gave up or was
    /// cancelled. A worker still running it finds it gone (its
    /// [`get`](Self::get) is `None`, [`complete`](Self::complete) fails with
    /// [`TrackerError::Unknown`]) and should drop its result.
    ///
    /// ```
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::recovery::{InFlightTracker, RecoveryConfig, RequestState, TrackerError};
    /// use resilience_dr::FailureKind;
    /// let t = InFlightTracker::with_clock(RecoveryConfig::default(), ManualClock::new()).unwrap();
    /// t.submit("queued", 0).unwrap();
    /// t.submit("running", 0).unwrap();
    /// t.assign(&"running", "gpu-1").unwrap();
    /// t.start(&"running").unwrap();
    ///
    /// assert_eq!(t.cancel(&"queued").unwrap().state, RequestState::Queued);
    /// assert_eq!(t.next_ready(), None); // gone from the queue
    /// let info = t.cancel(&"running").unwrap();
    /// assert_eq!((info.state, info.worker), (RequestState::InProgress, Some("gpu-1")));
    /// assert!(matches!(t.complete(&"running"), Err(TrackerError::Unknown { .. })));
    /// // the worker's failure no longer concerns it
    /// assert!(t.fail_worker(&"gpu-1", FailureKind::Timeout).outcomes.is_empty());
    /// assert!(t.is_empty());
    /// ```
    pub fn cancel(&self, id: &Id) -> Result<RequestInfo<W>, TrackerError> {
        let mut inner = self.inner.state.lock();
        let t = inner.requests.remove(id).ok_or_else(|| unknown(id))?;
        match (&t.info.state, &t.info.worker) {
            (RequestState::Queued, _) => {
                inner.queue.remove(&(Reverse(t.info.priority), t.seq));
            }
            (_, Some(w)) => inner.release(w, id),
            (_, None) => {}
        }
        Ok(t.info)
    }

    /// Recovers every request `worker` held, per the rules in the
    /// [module docs](self). Returns (and publishes) one outcome per request.
    ///
    /// ```
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::recovery::{InFlightTracker, RecoveryConfig, RequestState};
    /// use resilience_dr::FailureKind;
    /// let clock = ManualClock::new();
    /// let t: InFlightTracker<&str, &str> = InFlightTracker::with_clock(RecoveryConfig::default(), clock.clone()).unwrap();
    /// use resilience_dr::recovery::{Disposition, RoutingHint};
    /// t.submit("a", 0).unwrap();
    /// t.assign(&"a", "gpu-3").unwrap();
    /// t.start(&"a").unwrap();
    /// let report = t.fail_worker(&"gpu-3", FailureKind::Corruption);
    /// match &report.outcomes[0].disposition {
    ///     Disposition::Retry { hint, .. } => assert_eq!(*hint, RoutingHint::AvoidWorker("gpu-3")),
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    pub fn fail_worker(&self, worker: &W, failure: FailureKind) -> RecoveryReport<Id, W> {
        let now = self.inner.clock.now();
        let label = failure.metric_label();
        metrics::counter!("resilience_recovery_worker_failures_total", "failure" => label)
            .increment(1);
        let mut outcomes = Vec::new();
        {
            let mut inner = self.inner.state.lock();
            let ids = inner.by_worker.remove(worker).unwrap_or_default();
            let mut held: Vec<(u64, Id)> = ids
                .into_iter()
                .filter_map(|id| inner.requests.get(&id).map(|t| (t.seq, id.clone())))
                .collect();
            held.sort_unstable_by_key(|(seq, _)| *seq);
            for (_, id) in held {
                let Some(mut t) = inner.requests.remove(&id) else {
                    continue;
                };
                let was = t.info.state;
                let disposition = self.decide(&mut t.info, was, worker, &failure, now);
                metrics::counter!("resilience_recovery_requests_total",
                    "disposition" => disposition.name(), "failure" => label)
                .increment(1);
                if !matches!(disposition, Disposition::Failed { .. }) {
                    let seq = inner.bump_seq();
                    t.seq = seq;
                    inner
                        .queue
                        .insert((Reverse(t.info.priority), seq), id.clone());
                    inner.requests.insert(id.clone(), t);
                }
                outcomes.push(Recovered {
                    id,
                    was,
                    disposition,
                });
            }
        }
        let report = RecoveryReport {
            worker: worker.clone(),
            failure,
            outcomes,
        };
        #[cfg(feature = "tracing")]
        tracing::warn!(
            worker = ?report.worker,
            failure = %report.failure,
            requeued = report.count("requeued"),
            retried = report.count("retried"),
            failed = report.count("failed"),
            "worker failed; in-flight requests recovered"
        );
        self.inner.listeners.emit(&report);
        report
    }

    fn decide(
        &self,
        info: &mut RequestInfo<W>,
        was: RequestState,
        worker: &W,
        failure: &FailureKind,
        now: Instant,
    ) -> Disposition<W> {
        info.worker = None;
        info.state = RequestState::Queued;
        info.last_failure = Some(failure.clone());
        if was == RequestState::Assigned {
            info.priority = info
                .priority
                .saturating_add(self.inner.config.priority_boost);
            return Disposition::Requeued {
                priority: info.priority,
            };
        }
        if info.retries >= self.inner.config.max_retries {
            return Disposition::Failed {
                message: format!(
                    "failed after {} retries: {failure} (last on worker {worker:?})",
                    self.inner.config.max_retries
                ),
            };
        }
        info.retries = info.retries.saturating_add(1);
        let delay = self.inner.config.retry_delay(info.retries);
        info.not_before = Some(crate::arith::saturating_add(now, delay));
        info.priority = info
            .priority
            .saturating_add(self.inner.config.priority_boost);
        match failure {
            FailureKind::OutOfMemory => {
                info.batch_size = Some(1);
                info.hint = RoutingHint::LargerVram;
            }
            FailureKind::Corruption => info.hint = RoutingHint::AvoidWorker(worker.clone()),
            _ => info.hint = RoutingHint::Any,
        }
        Disposition::Retry {
            attempt: info.retries,
            delay,
            priority: info.priority,
            hint: info.hint.clone(),
            batch_size: info.batch_size,
        }
    }
}

impl<Id: Eq + Hash, W: Eq + Hash> Inner<Id, W> {
    fn release(&mut self, worker: &W, id: &Id) {
        if let Some(set) = self.by_worker.get_mut(worker) {
            set.remove(id);
            if set.is_empty() {
                self.by_worker.remove(worker);
            }
        }
    }

    fn bump_seq(&mut self) -> u64 {
        let s = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        s
    }
}

fn unknown<Id: fmt::Debug>(id: &Id) -> TrackerError {
    TrackerError::Unknown {
        id: format!("{id:?}"),
    }
}

fn wrong<Id: fmt::Debug>(id: &Id, actual: RequestState, expected: RequestState) -> TrackerError {
    TrackerError::WrongState {
        id: format!("{id:?}"),
        actual,
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use resilience_core::clock::ManualClock;

    fn tracker() -> (ManualClock, InFlightTracker<u32, &'static str>) {
        let c = ManualClock::new();
        (
            c.clone(),
            InFlightTracker::with_clock(RecoveryConfig::default(), c).unwrap(),
        )
    }

    fn run_and_fail(
        t: &InFlightTracker<u32, &'static str>,
        c: &ManualClock,
        w: &'static str,
        f: FailureKind,
    ) -> Disposition<&'static str> {
        c.advance(Duration::from_secs(60));
        t.assign(&1, w).unwrap();
        t.start(&1).unwrap();
        t.fail_worker(&w, f).outcomes.remove(0).disposition
    }

    #[test]
    fn three_retries_then_failed_with_message() {
        let (c, t) = tracker();
        t.submit(1, 0).unwrap();
        let mut delays = Vec::new();
        for w in ["a", "b", "c"] {
            match run_and_fail(&t, &c, w, FailureKind::Timeout) {
                Disposition::Retry { delay, .. } => delays.push(delay.as_secs()),
                other => panic!("expected retry, got {other:?}"),
            }
        }
        assert_eq!(delays, vec![2, 4, 8]);
        match run_and_fail(&t, &c, "d", FailureKind::GpuError) {
            Disposition::Failed { message } => {
                assert!(
                    message.starts_with("failed after 3 retries: GPU error"),
                    "{message}"
                )
            }
            other => panic!("expected failure, got {other:?}"),
        }
        assert!(t.is_empty());
        assert!(matches!(t.start(&1), Err(TrackerError::Unknown { .. })));
    }

    #[test]
    fn corruption_avoids_worker_and_backoff_is_enforced() {
        let (c, t) = tracker();
        t.submit(1, 0).unwrap();
        match run_and_fail(&t, &c, "bad", FailureKind::Corruption) {
            Disposition::Retry { hint, .. } => assert_eq!(hint, RoutingHint::AvoidWorker("bad")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            t.assign(&1, "good"),
            Err(TrackerError::BackingOff { .. })
        ));
        c.advance(Duration::from_secs(2));
        let e = t.assign(&1, "bad").unwrap_err();
        assert!(e.to_string().contains("different worker"), "{e}");
        t.assign(&1, "good").unwrap();
        assert!(matches!(
            t.assign(&1, "good"),
            Err(TrackerError::WrongState { .. })
        ));
        assert!(t.complete(&1).is_ok());
    }

    #[test]
    fn cancel_removes_every_trace_in_every_state() {
        let (c, t) = tracker();
        for id in 1..=4 {
            t.submit(id, 0).unwrap();
        }
        t.assign(&2, "w").unwrap();
        t.assign(&3, "w").unwrap();
        t.start(&3).unwrap();
        assert_eq!(t.cancel(&1).unwrap().state, RequestState::Queued);
        assert_eq!(t.cancel(&2).unwrap().state, RequestState::Assigned);
        assert_eq!(t.cancel(&3).unwrap().state, RequestState::InProgress);
        assert!(matches!(t.cancel(&3), Err(TrackerError::Unknown { .. })));
        assert_eq!(t.len(), 1);
        assert_eq!(t.next_ready(), Some(4));
        let inner = t.inner.state.lock();
        assert_eq!(inner.queue.len(), 1);
        assert!(inner.by_worker.is_empty(), "{:?}", inner.by_worker);
        drop(inner);
        // A request backing off after a failure can be cancelled too.
        t.assign(&4, "x").unwrap();
        t.start(&4).unwrap();
        t.fail_worker(&"x", FailureKind::Timeout);
        assert!(t.get(&4).unwrap().not_before.is_some());
        t.cancel(&4).unwrap();
        c.advance(Duration::from_secs(60));
        assert_eq!(t.next_ready(), None);
        assert!(t.is_empty());
        assert!(t.inner.state.lock().queue.is_empty());
    }

    #[test]
    fn take_next_matching_skips_without_blocking_and_respects_hints() {
        let (c, t) = tracker();
        t.submit(1, 10).unwrap(); // will fail with corruption on "bad"
        t.submit(2, 5).unwrap();
        t.submit(3, 5).unwrap();
        t.submit(4, 0).unwrap();
        assert_eq!(t.take_next_matching("bad", |id, _| *id == 1), Some(1));
        t.start(&1).unwrap();
        t.fail_worker(&"bad", FailureKind::Corruption);
        // 1 is backing off: the next best that matches is taken.
        assert_eq!(t.take_next_matching("w1", |_, _| true), Some(2));
        assert_eq!(t.get(&2).unwrap().worker, Some("w1"));
        // odd ids only: 3
        assert_eq!(t.take_next_matching("w2", |id, _| id % 2 == 1), Some(3));
        c.advance(Duration::from_secs(2));
        // 1 (priority 60 now) must avoid "bad": "bad" gets 4 instead.
        assert_eq!(t.next_ready(), Some(1));
        assert_eq!(t.take_next_matching("bad", |_, _| true), Some(4));
        assert_eq!(t.take_next_matching("bad", |_, _| true), None);
        assert_eq!(t.take_next_matching("good", |_, _| true), Some(1));
        assert_eq!(t.take_next_matching("good", |_, _| true), None);
        // Everything is assigned, and recoverable from its worker.
        assert_eq!(
            t.fail_worker(&"good", FailureKind::Timeout)
                .count("requeued"),
            1
        );
        assert_eq!(
            t.fail_worker(&"w1", FailureKind::Timeout).count("requeued"),
            1
        );
    }

    #[test]
    fn queue_orders_by_priority_then_age() {
        let (_c, t) = tracker();
        t.submit(1, 0).unwrap();
        t.submit(2, 5).unwrap();
        t.submit(3, 5).unwrap();
        assert!(matches!(
            t.submit(3, 1),
            Err(TrackerError::Duplicate { .. })
        ));
        assert_eq!(t.next_ready(), Some(2));
        t.assign(&2, "w").unwrap();
        assert_eq!(t.next_ready(), Some(3));
        t.assign(&3, "w").unwrap();
        // requeued ASSIGNED requests get +50 and jump the queue
        let r = t.fail_worker(&"w", FailureKind::Timeout);
        assert_eq!(r.count("requeued"), 2);
        assert_eq!(t.next_ready(), Some(2));
        assert_eq!(t.get(&3).unwrap().priority, 55);
        assert!(matches!(
            t.complete(&1),
            Err(TrackerError::WrongState { .. })
        ));
    }
}
