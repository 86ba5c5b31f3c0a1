//! Dead-letter queues: where work goes when it cannot be done now (retries
//! exhausted, breaker open), to be replayed when the dependency recovers.
//!
//! Services ask for exactly this: the model registry platform wants to
//! "queue retrain requests to a dead letter queue while the circuit is open,
//! retry from the queue when it closes", the workflow runtime a "dead letter
//! queue after max retries" for outbound webhooks. The rule
//! that matters is that nothing is dropped silently: a full queue refuses
//! the item and hands it back in the error, and replay never loses or
//! reorders items, even when the replay is cancelled half-way.
//!
//! - [`DeadLetterSink`]: the trait a retry driver or breaker fallback pushes
//!   to (implement it for a durable queue).
//! - [`InMemoryDeadLetterQueue`]: a bounded FIFO with async and blocking
//!   replay.
//! - [`DeadLetter`]: an optional envelope recording why an item was
//!   dead-lettered.
//! - [`DeadLetterStore`]: a queue that hands letters out again with leases,
//!   acknowledgements, retries with backoff and parking of poison letters,
//!   so several replayers can share it and survive crashes (see
//!   [its contract](store)). The in-memory queue of [`DeadLetter`]s is one;
//!   the `resilience-store` crate has PostgreSQL and Redis Streams stores.
//! - [`LetterCodec`] / [`JsonCodec`]: how a durable store serialises a
//!   request (serde, versioned).
//!
//! ```
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     let mut f = std::pin::pin!(f);
//! #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
//! #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
//! # }
//! use resilience_core::dead_letter::{DeadLetterSink, InMemoryDeadLetterQueue};
//!
//! let dlq = InMemoryDeadLetterQueue::new("retrain", 2).unwrap();
//! dlq.push("model-a").unwrap();
//! dlq.push("model-b").unwrap();
//! let full = dlq.push("model-c").unwrap_err();
//! assert_eq!(full.into_item(), "model-c"); // handed back, not dropped
//!
//! // The dependency recovered: replay in order. The handler copies what it
//! // needs out of `&item` and returns a future.
//! let report = block_on(dlq.replay(|item: &&str| {
//!     let name = item.to_string();
//!     async move { if name.is_empty() { Err("empty") } else { Ok(()) } }
//! }))
//! .unwrap();
//! assert_eq!(report.replayed, 2);
//! assert!(dlq.is_empty());
//! ```
//!
//! # Metrics
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `resilience_dead_letter_enqueued_total` | counter | `queue` | items accepted |
//! | `resilience_dead_letter_rejected_total` | counter | `queue` | items refused because the queue was full (returned to the caller) |
//! | `resilience_dead_letter_replayed_total` | counter | `queue` | items replayed successfully (and removed) |
//! | `resilience_dead_letter_replay_failures_total` | counter | `queue` | replay attempts that failed (the item stays queued) |
//! | `resilience_dead_letter_depth` | gauge | `queue` | items held, including those being replayed |
//!
//! Events ([`DeadLetterEvent`]) go to the queue's
//! [`listeners`](InMemoryDeadLetterQueue::listeners).

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use parking_lot::Mutex;

use crate::clock::{Clock, SharedClock, SystemClock};
use crate::config::ConfigError;
use crate::events::Listeners;
use crate::retry::{GiveUpReason, RetryError};

mod age;
pub mod codec;
mod memory;
pub mod store;

pub use self::age::{OldestLetterAlert, OldestLetterEvent};
pub use self::codec::{BytesCodec, CodecError, JsonCodec, LetterCodec};
use self::memory::{Claimed, Entry};
pub use self::store::{
    ClaimOptions, ClaimedLetter, DeadLetterStore, LetterId, LetterState, NewLetter,
    ParseLetterIdError, Purge, QueueStats, Receipt, Release, StoreError, StoreFuture, StoreMetrics,
    StoreOp, StoredLetter,
};

/// Where work goes when it cannot be done now.
///
/// `push` either takes the item or gives it back inside the error: an
/// implementation must never drop an item it did not store.
///
/// ```
/// use std::sync::Mutex;
/// use resilience_core::dead_letter::{DeadLetterError, DeadLetterSink};
///
/// /// A sink that writes to a log (here: a Vec).
/// #[derive(Debug, Default)]
/// struct LogSink(Mutex<Vec<String>>);
/// impl DeadLetterSink<String> for LogSink {
///     fn push(&self, item: String) -> Result<(), DeadLetterError<String>> {
///         match self.0.lock() {
///             Ok(mut log) => { log.push(item); Ok(()) }
///             Err(_) => Err(DeadLetterError::Unavailable { item, reason: "log poisoned".into() }),
///         }
///     }
/// }
/// let sink = LogSink::default();
/// sink.push("job-1".to_string()).unwrap();
/// assert_eq!(sink.0.lock().unwrap().len(), 1);
/// ```
pub trait DeadLetterSink<T>: Send + Sync {
    /// Stores `item`, or returns it inside the error.
    fn push(&self, item: T) -> Result<(), DeadLetterError<T>>;
}

impl<T, S: DeadLetterSink<T> + ?Sized> DeadLetterSink<T> for Arc<S> {
    fn push(&self, item: T) -> Result<(), DeadLetterError<T>> {
        (**self).push(item)
    }
}

/// A refused dead letter; the item is inside, never lost.
///
/// ```
/// use resilience_core::dead_letter::{DeadLetterSink, InMemoryDeadLetterQueue};
/// let q = InMemoryDeadLetterQueue::new("webhooks", 1).unwrap();
/// q.push(1).unwrap();
/// let err = q.push(2).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "dead-letter queue `webhooks` is full (1 items): the item was not stored and is returned \
///      in this error; replay or drain the queue, raise its capacity, or fail the request"
/// );
/// assert_eq!(err.into_item(), 2);
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum DeadLetterError<T> {
    /// The queue holds `capacity` items already.
    #[error("dead-letter queue `{queue}` is full ({capacity} items): the item was not stored and is returned in this error; replay or drain the queue, raise its capacity, or fail the request")]
    Full {
        /// The refused item.
        item: T,
        /// The queue's name.
        queue: Arc<str>,
        /// The queue's capacity.
        capacity: usize,
    },
    /// The sink could not store the item (for external sinks).
    #[error("dead-letter sink unavailable ({reason}): the item was not stored and is returned in this error")]
    Unavailable {
        /// The refused item.
        item: T,
        /// Why.
        reason: String,
    },
    /// The serialised item is larger than the store accepts.
    #[error("dead-letter queue `{queue}` refused a letter of {size} bytes (the limit is {limit} bytes): the item was not stored and is returned in this error; shrink the request or raise `max_payload_bytes`")]
    TooLarge {
        /// The refused item.
        item: T,
        /// The queue's name.
        queue: Arc<str>,
        /// Its serialised size.
        size: usize,
        /// The store's limit.
        limit: usize,
    },
}

impl<T> DeadLetterError<T> {
    /// The refused item, back to the caller.
    pub fn into_item(self) -> T {
        match self {
            DeadLetterError::Full { item, .. }
            | DeadLetterError::Unavailable { item, .. }
            | DeadLetterError::TooLarge { item, .. } => item,
        }
    }

    /// The refused item.
    pub fn item(&self) -> &T {
        match self {
            DeadLetterError::Full { item, .. }
            | DeadLetterError::Unavailable { item, .. }
            | DeadLetterError::TooLarge { item, .. } => item,
        }
    }

    /// The same refusal holding `f(item)` (e.g. the request wrapped in a
    /// [`DeadLetter`] envelope).
    ///
    /// ```
    /// use resilience_core::dead_letter::DeadLetterError;
    /// let e = DeadLetterError::Unavailable { item: 2, reason: "down".into() };
    /// assert_eq!(e.map_item(|i| i * 10).into_item(), 20);
    /// ```
    pub fn map_item<U>(self, f: impl FnOnce(T) -> U) -> DeadLetterError<U> {
        match self {
            DeadLetterError::Full {
                item,
                queue,
                capacity,
            } => DeadLetterError::Full {
                item: f(item),
                queue,
                capacity,
            },
            DeadLetterError::Unavailable { item, reason } => DeadLetterError::Unavailable {
                item: f(item),
                reason,
            },
            DeadLetterError::TooLarge {
                item,
                queue,
                size,
                limit,
            } => DeadLetterError::TooLarge {
                item: f(item),
                queue,
                size,
                limit,
            },
        }
    }
}

impl<T> fmt::Debug for DeadLetterError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeadLetterError::Full {
                queue, capacity, ..
            } => f
                .debug_struct("Full")
                .field("queue", queue)
                .field("capacity", capacity)
                .finish_non_exhaustive(),
            DeadLetterError::Unavailable { reason, .. } => f
                .debug_struct("Unavailable")
                .field("reason", reason)
                .finish_non_exhaustive(),
            DeadLetterError::TooLarge {
                queue, size, limit, ..
            } => f
                .debug_struct("TooLarge")
                .field("queue", queue)
                .field("size", size)
                .field("limit", limit)
                .finish_non_exhaustive(),
        }
    }
}

/// Why an item was dead-lettered.
///
/// ```
/// use resilience_core::dead_letter::DeadLetterReason;
/// use resilience_core::retry::GiveUpReason;
/// let r = DeadLetterReason::Retry { attempts: 6, reason: GiveUpReason::Exhausted };
/// assert_eq!(r.to_string(), "gave up after 6 attempt(s): every allowed attempt failed");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeadLetterReason {
    /// A retry driver gave up.
    Retry {
        /// Attempts made.
        attempts: u32,
        /// Why it gave up.
        reason: GiveUpReason,
    },
    /// A circuit breaker was open.
    CircuitOpen,
    /// Anything else, in words.
    Other(String),
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeadLetterReason::Retry { attempts, reason } => {
                write!(f, "gave up after {attempts} attempt(s): {reason}")
            }
            DeadLetterReason::CircuitOpen => f.write_str("the circuit breaker was open"),
            DeadLetterReason::Other(s) => f.write_str(s),
        }
    }
}

/// An item with the reason it was dead-lettered.
///
/// ```
/// use resilience_core::dead_letter::{DeadLetter, DeadLetterReason};
/// use resilience_core::retry::{ErrorClass, RetryError};
/// let err: RetryError<ErrorClass> = RetryError::RetriesExhausted { attempts: 6, last: ErrorClass::Timeout };
/// let letter = DeadLetter::from_retry_error("webhook-42", &err);
/// assert_eq!(letter.item, "webhook-42");
/// assert!(matches!(letter.reason, DeadLetterReason::Retry { attempts: 6, .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter<T> {
    /// The work itself.
    pub item: T,
    /// Why it is here.
    pub reason: DeadLetterReason,
}

impl<T> DeadLetter<T> {
    /// An envelope with an explicit reason.
    pub fn new(item: T, reason: DeadLetterReason) -> DeadLetter<T> {
        DeadLetter { item, reason }
    }

    /// An envelope for work whose retries ended in `error`.
    pub fn from_retry_error<E>(item: T, error: &RetryError<E>) -> DeadLetter<T> {
        DeadLetter {
            item,
            reason: DeadLetterReason::Retry {
                attempts: error.attempts(),
                reason: error.reason(),
            },
        }
    }
}

/// What happened to a dead-letter queue, for its listeners.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use resilience_core::dead_letter::{DeadLetterEvent, DeadLetterSink, InMemoryDeadLetterQueue};
/// let q = InMemoryDeadLetterQueue::new("q", 1).unwrap();
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let s = seen.clone();
/// q.listeners().add_fn(move |e: &DeadLetterEvent| s.lock().unwrap().push(e.clone()));
/// q.push(1).unwrap();
/// let _ = q.push(2);
/// assert!(matches!(seen.lock().unwrap()[1], DeadLetterEvent::Rejected { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeadLetterEvent {
    /// An item was queued.
    Enqueued {
        /// The queue's name.
        queue: Arc<str>,
        /// Items held afterwards.
        depth: usize,
    },
    /// An item was refused: the queue is full.
    Rejected {
        /// The queue's name.
        queue: Arc<str>,
        /// The queue's capacity.
        capacity: usize,
    },
    /// A replay finished (or was cancelled).
    ReplayFinished {
        /// The queue's name.
        queue: Arc<str>,
        /// Items replayed and removed.
        replayed: usize,
        /// Items whose replay failed (still queued).
        failed: usize,
        /// Items held afterwards.
        depth: usize,
    },
    /// A letter was parked: delivered too often without success, or its
    /// payload no longer decodes (stores only).
    Parked {
        /// The queue's name.
        queue: Arc<str>,
        /// The letter.
        id: LetterId,
        /// Why.
        reason: String,
    },
    /// Letters whose replayer let its lease expire were taken back for
    /// another delivery (stores only).
    Reclaimed {
        /// The queue's name.
        queue: Arc<str>,
        /// How many.
        count: usize,
    },
}

/// The outcome of a replay.
///
/// ```
/// use resilience_core::dead_letter::InMemoryDeadLetterQueue;
/// let q = InMemoryDeadLetterQueue::<u32>::new("q", 4).unwrap();
/// let report = q.replay_blocking(|_: &u32| Ok::<(), ()>(())).unwrap();
/// assert_eq!((report.replayed, report.failed, report.remaining), (0, 0, 0));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayReport<E> {
    /// Items handled successfully and removed.
    pub replayed: usize,
    /// Items whose handler failed; they stay queued, in order, at the front.
    pub failed: usize,
    /// Items left in the queue afterwards.
    pub remaining: usize,
    /// The last handler error.
    pub last_error: Option<E>,
}

/// Another replay of the same queue is running; replays are exclusive so
/// they cannot reorder items.
///
/// ```
/// use resilience_core::dead_letter::ReplayInProgress;
/// assert!(ReplayInProgress { queue: "q".into() }.to_string().contains("already being replayed"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dead-letter queue `{queue}` is already being replayed; wait for that replay to finish")]
pub struct ReplayInProgress {
    /// The queue's name.
    pub queue: Arc<str>,
}

struct State<T> {
    /// Queued letters (due, or waiting for a retry backoff), in id order.
    queue: VecDeque<Entry<T>>,
    /// Items taken out by a running replay (counted against capacity).
    held: usize,
    replaying: bool,
    /// Letters claimed through the store API, by id.
    claimed: BTreeMap<u64, Claimed<T>>,
    /// Parked (poison) letters, oldest first.
    parked: VecDeque<Entry<T>>,
    next_id: u64,
    next_token: u64,
}

impl<T> State<T> {
    fn held_total(&self) -> usize {
        self.queue.len() + self.held + self.claimed.len() + self.parked.len()
    }
}

/// A bounded, in-memory FIFO dead-letter queue.
///
/// Cheap to clone: clones share one queue (an `Arc` inside).
///
/// - `push` appends, or returns the item in [`DeadLetterError::Full`] when
///   `capacity` items are held (including items being replayed).
/// - [`replay`](Self::replay) hands queued items, oldest first, to an async
///   handler, removing each one only after its handler succeeded. By default
///   it stops at the first failure (the dependency is still down); with
///   [`replay_all`](Self::replay_all) it goes on and keeps the failed items,
///   in their order, at the front. Items pushed during a replay wait for the
///   next one. Cancelling the replay future puts the item in flight back
///   where it was.
/// - One short lock per operation; the lock is never held across an await.
///
/// Not durable: the queue lives in memory and is lost with the process. For
/// work that must survive a restart, use a durable [`DeadLetterStore`]
/// (PostgreSQL or Redis Streams in the `resilience-store` crate).
///
/// A queue of [`DeadLetter<T>`]s is also the embedded
/// [`DeadLetterStore<T>`]: claims with leases (judged by its
/// [`Clock`]), retries with backoff, parking, per-key order. The replay
/// methods above and the store methods share the queue; the replay methods
/// ignore retry backoffs and leave claimed and parked letters alone.
///
/// ```
/// use resilience_core::dead_letter::{DeadLetterSink, InMemoryDeadLetterQueue};
/// let q = InMemoryDeadLetterQueue::new("jobs", 10).unwrap();
/// for i in 0..4 { q.push(i).unwrap(); }
/// // Items 1 and 3 still fail: they stay, in order.
/// let report = q.replay_all_blocking(|i: &i32| if i % 2 == 1 { Err("still down") } else { Ok(()) }).unwrap();
/// assert_eq!((report.replayed, report.failed), (2, 2));
/// assert_eq!(q.snapshot(), [1, 3]);
/// ```
pub struct InMemoryDeadLetterQueue<T> {
    inner: Arc<InMemoryDeadLetterQueueShared<T>>,
}

impl<T> Clone for InMemoryDeadLetterQueue<T> {
    fn clone(&self) -> Self {
        InMemoryDeadLetterQueue {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// For code written when this type was shared as `Arc<InMemoryDeadLetterQueue<T>>`: a
/// handle to the same one.
impl<T> From<Arc<InMemoryDeadLetterQueue<T>>> for InMemoryDeadLetterQueue<T> {
    fn from(shared: Arc<InMemoryDeadLetterQueue<T>>) -> Self {
        (*shared).clone()
    }
}

struct InMemoryDeadLetterQueueShared<T> {
    name: Arc<str>,
    capacity: usize,
    state: Mutex<State<T>>,
    listeners: Listeners<DeadLetterEvent>,
    metrics: StoreMetrics,
    clock: SharedClock,
    /// The clock's reading and the wall time at construction: wall times of
    /// letters are derived from the clock, so tests with a manual clock see
    /// consistent ages.
    origin: (Instant, SystemTime),
}

impl<T> InMemoryDeadLetterQueue<T> {
    /// An empty queue holding at most `capacity` items (at least 1).
    pub fn new(name: &str, capacity: usize) -> Result<InMemoryDeadLetterQueue<T>, ConfigError> {
        InMemoryDeadLetterQueue::with_clock(name, capacity, SystemClock)
    }

    /// Like [`new`](Self::new), reading time from `clock` (leases and
    /// retry backoffs of the store API; a [`ManualClock`](crate::clock::ManualClock)
    /// in tests).
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_core::dead_letter::{DeadLetter, InMemoryDeadLetterQueue};
    /// let clock = ManualClock::new();
    /// let q = InMemoryDeadLetterQueue::<DeadLetter<u32>>::with_clock("jobs", 100, clock.clone()).unwrap();
    /// assert_eq!(q.capacity(), 100);
    /// ```
    pub fn with_clock(
        name: &str,
        capacity: usize,
        clock: impl Clock,
    ) -> Result<InMemoryDeadLetterQueue<T>, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::invalid(
                "capacity",
                "must be at least 1, got 0: a dead-letter queue that holds nothing would refuse every item",
            ));
        }
        let name: Arc<str> = name.into();
        let metrics = StoreMetrics::new(&name);
        let clock: SharedClock = Arc::new(clock);
        let origin = (clock.now(), SystemTime::now());
        Ok(InMemoryDeadLetterQueue {
            inner: Arc::new(InMemoryDeadLetterQueueShared {
                name,
                capacity,
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    held: 0,
                    replaying: false,
                    claimed: BTreeMap::new(),
                    parked: VecDeque::new(),
                    next_id: 1,
                    next_token: 1,
                }),
                listeners: Listeners::new(),
                metrics,
                clock,
                origin,
            }),
        })
    }

    /// The queue's name (the `queue` metrics label).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The most items the queue holds.
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// Items held, including those a running replay has taken out (and,
    /// through the store API, claimed and parked letters).
    pub fn len(&self) -> usize {
        self.inner.state.lock().held_total()
    }

    /// Whether no item is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Listeners for [`DeadLetterEvent`]s.
    pub fn listeners(&self) -> &Listeners<DeadLetterEvent> {
        &self.inner.listeners
    }

    /// Counts and announces a refusal because the queue is full, and hands
    /// `item` back in the error.
    pub(crate) fn refuse_full<U>(&self, item: U) -> DeadLetterError<U> {
        self.inner.metrics.rejected();
        self.inner
            .listeners
            .emit_with(|| DeadLetterEvent::Rejected {
                queue: self.inner.name.clone(),
                capacity: self.inner.capacity,
            });
        DeadLetterError::Full {
            item,
            queue: self.inner.name.clone(),
            capacity: self.inner.capacity,
        }
    }

    /// Appends `item`, or returns it when the queue is full.
    pub fn push(&self, item: T) -> Result<(), DeadLetterError<T>> {
        let now = self.inner.clock.now();
        let mut s = self.inner.state.lock();
        let held = s.held_total();
        if held >= self.inner.capacity {
            drop(s);
            return Err(self.refuse_full(item));
        }
        let id = s.next_id;
        s.next_id += 1;
        s.queue.push_back(Entry::new(item, id, now));
        let depth = held + 1;
        drop(s);
        self.inner.metrics.enqueued(1);
        self.inner.metrics.set_depth(depth);
        self.inner
            .listeners
            .emit_with(|| DeadLetterEvent::Enqueued {
                queue: self.inner.name.clone(),
                depth,
            });
        Ok(())
    }

    /// Removes and returns the oldest queued item (not one being replayed).
    ///
    /// ```
    /// use resilience_core::dead_letter::InMemoryDeadLetterQueue;
    /// let q = InMemoryDeadLetterQueue::new("q", 2).unwrap();
    /// q.push('a').unwrap();
    /// assert_eq!(q.pop(), Some('a'));
    /// assert_eq!(q.pop(), None);
    /// ```
    pub fn pop(&self) -> Option<T> {
        let mut s = self.inner.state.lock();
        let item = s.queue.pop_front().map(|e| e.item);
        let depth = s.held_total();
        drop(s);
        self.inner.metrics.set_depth(depth);
        item
    }

    /// Removes and returns every queued item, oldest first (items a running
    /// replay holds stay with it).
    ///
    /// ```
    /// use resilience_core::dead_letter::InMemoryDeadLetterQueue;
    /// let q = InMemoryDeadLetterQueue::new("q", 3).unwrap();
    /// q.push(1).unwrap();
    /// q.push(2).unwrap();
    /// assert_eq!(q.drain(), [1, 2]);
    /// assert!(q.is_empty());
    /// ```
    pub fn drain(&self) -> Vec<T> {
        let mut s = self.inner.state.lock();
        let items: Vec<T> = s.queue.drain(..).map(|e| e.item).collect();
        let depth = s.held_total();
        drop(s);
        self.inner.metrics.set_depth(depth);
        items
    }

    /// A copy of the queued items, oldest first.
    ///
    /// ```
    /// use resilience_core::dead_letter::InMemoryDeadLetterQueue;
    /// let q = InMemoryDeadLetterQueue::new("q", 3).unwrap();
    /// q.push("x").unwrap();
    /// assert_eq!(q.snapshot(), ["x"]);
    /// ```
    pub fn snapshot(&self) -> Vec<T>
    where
        T: Clone,
    {
        self.inner
            .state
            .lock()
            .queue
            .iter()
            .map(|e| e.item.clone())
            .collect()
    }

    /// Replays queued items into `handler`, oldest first, stopping at the
    /// first failure (that item stays at the front). Only items queued when
    /// the replay starts are replayed.
    ///
    /// `handler` gets `&item` and returns a future that does not borrow it
    /// (copy what it needs into the future); the item is removed only once
    /// that future resolves to `Ok`. Dropping the replay future mid-way puts
    /// the item in flight back at the front.
    ///
    /// ```
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let mut f = std::pin::pin!(f);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
    /// # }
    /// use resilience_core::dead_letter::InMemoryDeadLetterQueue;
    /// let q = InMemoryDeadLetterQueue::new("q", 8).unwrap();
    /// for i in 1..=4 { q.push(i).unwrap(); }
    /// let report = block_on(q.replay(|i: &u32| {
    ///     let i = *i;
    ///     async move { if i == 3 { Err(format!("{i} failed")) } else { Ok(()) } }
    /// })).unwrap();
    /// assert_eq!(report.replayed, 2);
    /// assert_eq!(report.last_error.as_deref(), Some("3 failed"));
    /// assert_eq!(q.snapshot(), [3, 4]);
    /// ```
    pub async fn replay<F, Fut, E>(&self, handler: F) -> Result<ReplayReport<E>, ReplayInProgress>
    where
        F: FnMut(&T) -> Fut,
        Fut: Future<Output = Result<(), E>>,
    {
        self.replay_inner(handler, true).await
    }

    /// Like [`replay`](Self::replay), but goes on after failures; failed
    /// items stay queued at the front, in their original order.
    pub async fn replay_all<F, Fut, E>(
        &self,
        handler: F,
    ) -> Result<ReplayReport<E>, ReplayInProgress>
    where
        F: FnMut(&T) -> Fut,
        Fut: Future<Output = Result<(), E>>,
    {
        self.replay_inner(handler, false).await
    }

    /// Blocking [`replay`](Self::replay).
    ///
    /// ```
    /// use resilience_core::dead_letter::InMemoryDeadLetterQueue;
    /// let q = InMemoryDeadLetterQueue::new("q", 8).unwrap();
    /// q.push(1).unwrap();
    /// q.push(2).unwrap();
    /// let report = q.replay_blocking(|_: &i32| Err::<(), _>("down")).unwrap();
    /// assert_eq!((report.replayed, report.failed, report.remaining), (0, 1, 2));
    /// ```
    pub fn replay_blocking<F, E>(&self, handler: F) -> Result<ReplayReport<E>, ReplayInProgress>
    where
        F: FnMut(&T) -> Result<(), E>,
    {
        self.replay_blocking_inner(handler, true)
    }

    /// Blocking [`replay_all`](Self::replay_all).
    pub fn replay_all_blocking<F, E>(&self, handler: F) -> Result<ReplayReport<E>, ReplayInProgress>
    where
        F: FnMut(&T) -> Result<(), E>,
    {
        self.replay_blocking_inner(handler, false)
    }

    async fn replay_inner<F, Fut, E>(
        &self,
        mut handler: F,
        stop_on_failure: bool,
    ) -> Result<ReplayReport<E>, ReplayInProgress>
    where
        F: FnMut(&T) -> Fut,
        Fut: Future<Output = Result<(), E>>,
    {
        let mut session = self.begin_replay()?;
        let mut last_error = None;
        while let Some(item) = session.take_next() {
            let fut = handler(item);
            match fut.await {
                Ok(()) => session.succeeded(),
                Err(e) => {
                    last_error = Some(e);
                    session.failed();
                    if stop_on_failure {
                        break;
                    }
                }
            }
        }
        Ok(session.finish(last_error))
    }

    fn replay_blocking_inner<F, E>(
        &self,
        mut handler: F,
        stop_on_failure: bool,
    ) -> Result<ReplayReport<E>, ReplayInProgress>
    where
        F: FnMut(&T) -> Result<(), E>,
    {
        let mut session = self.begin_replay()?;
        let mut last_error = None;
        while let Some(item) = session.take_next() {
            match handler(item) {
                Ok(()) => session.succeeded(),
                Err(e) => {
                    last_error = Some(e);
                    session.failed();
                    if stop_on_failure {
                        break;
                    }
                }
            }
        }
        Ok(session.finish(last_error))
    }

    fn begin_replay(&self) -> Result<Replay<'_, T>, ReplayInProgress> {
        let mut s = self.inner.state.lock();
        if s.replaying {
            return Err(ReplayInProgress {
                queue: self.inner.name.clone(),
            });
        }
        s.replaying = true;
        let budget = s.queue.len();
        Ok(Replay {
            queue: self,
            budget,
            current: None,
            failed_items: VecDeque::new(),
            replayed: 0,
            active: true,
        })
    }

    fn depth_locked(s: &State<T>) -> usize {
        s.held_total()
    }
}

/// A running replay. Owns the items it has taken out of the queue (the one
/// in flight and the ones that failed) and puts them back, in order, when
/// it ends, however it ends: normally, cancelled, or by a panic.
struct Replay<'a, T> {
    queue: &'a InMemoryDeadLetterQueue<T>,
    /// Items still to take (those queued when the replay began).
    budget: usize,
    current: Option<Entry<T>>,
    failed_items: VecDeque<Entry<T>>,
    replayed: usize,
    /// Whether this replay still owns the queue's `replaying` flag.
    active: bool,
}

impl<T> Replay<'_, T> {
    /// Takes the next item out of the queue, keeping custody of it.
    fn take_next(&mut self) -> Option<&T> {
        if self.budget == 0 {
            return None;
        }
        self.budget -= 1;
        let mut s = self.queue.inner.state.lock();
        let item = s.queue.pop_front()?;
        s.held += 1;
        drop(s);
        self.current = Some(item);
        self.current.as_ref().map(|e| &e.item)
    }

    fn succeeded(&mut self) {
        if self.current.take().is_some() {
            let depth = {
                let mut s = self.queue.inner.state.lock();
                s.held = s.held.saturating_sub(1);
                InMemoryDeadLetterQueue::depth_locked(&s)
            };
            self.replayed += 1;
            self.queue.inner.metrics.replayed();
            self.queue.inner.metrics.set_depth(depth);
        }
    }

    fn failed(&mut self) {
        if let Some(item) = self.current.take() {
            self.failed_items.push_back(item);
            self.queue.inner.metrics.replay_failed();
        }
    }

    fn finish<E>(mut self, last_error: Option<E>) -> ReplayReport<E> {
        let failed = self.failed_items.len();
        let replayed = self.replayed;
        let remaining = self.restore();
        ReplayReport {
            replayed,
            failed,
            remaining,
            last_error,
        }
    }

    /// Puts the held items back at the front, in order, and ends the replay.
    /// Returns the depth afterwards.
    fn restore(&mut self) -> usize {
        let mut s = self.queue.inner.state.lock();
        if !self.active {
            return InMemoryDeadLetterQueue::depth_locked(&s);
        }
        self.active = false;
        let mut returned = 0;
        if let Some(item) = self.current.take() {
            s.queue.push_front(item);
            returned += 1;
        }
        while let Some(item) = self.failed_items.pop_back() {
            s.queue.push_front(item);
            returned += 1;
        }
        s.held = s.held.saturating_sub(returned);
        s.replaying = false;
        let depth = InMemoryDeadLetterQueue::depth_locked(&s);
        drop(s);
        self.queue.inner.metrics.set_depth(depth);
        self.queue
            .inner
            .listeners
            .emit_with(|| DeadLetterEvent::ReplayFinished {
                queue: self.queue.inner.name.clone(),
                replayed: self.replayed,
                failed: returned,
                depth,
            });
        depth
    }
}

impl<T> Drop for Replay<'_, T> {
    fn drop(&mut self) {
        self.restore();
    }
}

impl<T: Send> DeadLetterSink<T> for InMemoryDeadLetterQueue<T> {
    fn push(&self, item: T) -> Result<(), DeadLetterError<T>> {
        InMemoryDeadLetterQueue::push(self, item)
    }
}

impl<T> fmt::Debug for InMemoryDeadLetterQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.inner.state.lock();
        f.debug_struct("InMemoryDeadLetterQueue")
            .field("name", &self.inner.name)
            .field("capacity", &self.inner.capacity)
            .field("queued", &s.queue.len())
            .field("held_by_replay", &s.held)
            .field("replaying", &s.replaying)
            .finish()
    }
}
