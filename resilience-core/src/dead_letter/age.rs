//! An alert on the age of a dead-letter queue's oldest letter.
//!
//! A queue that holds letters is normal while a dependency is down; a
//! letter that stays too long means replay is not keeping up or the
//! dependency is not coming back, and someone should look. The GPU
//! inference platform's Safety-API scenario: requests wait in a
//! "pending safety" queue while the Safety API's breaker is open, and on-call
//! is alerted if that lasts more than 5 minutes
//! ([`presets::gpu_inference::safety_queue_age_alert`](crate::presets::gpu_inference::safety_queue_age_alert)).
//!
//! The age itself is the `resilience_dead_letter_oldest_age_seconds` gauge
//! every store sets on [`stats`](super::DeadLetterStore::stats); a
//! Prometheus rule can alert on it. [`OldestLetterAlert`] is the in-process
//! hook: feed it the stats (or let it read a store), and it calls your
//! listeners once when the oldest letter passes the bound, and once when
//! the queue is back under it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::store::{DeadLetterStore, QueueStats, StoreError};
use crate::config::{check_nonzero_duration, ConfigError};
use crate::events::{ListenerId, Listeners};

/// What an [`OldestLetterAlert`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OldestLetterEvent {
    /// The oldest letter became older than the bound.
    Raised {
        /// The queue.
        queue: Arc<str>,
        /// The oldest letter's age when noticed.
        oldest_age: Duration,
        /// The bound.
        bound: Duration,
    },
    /// The queue has no letter older than the bound any more (replayed,
    /// purged, or parked).
    Cleared {
        /// The queue.
        queue: Arc<str>,
        /// The bound.
        bound: Duration,
    },
}

/// Alerts when a dead-letter queue's oldest letter is older than a bound.
///
/// Edge-triggered: one [`OldestLetterEvent::Raised`] when the age passes
/// the bound, one [`OldestLetterEvent::Cleared`] when it is back under (not
/// one per check). Call [`check`](Self::check) with each
/// [`QueueStats`] you read, or [`check_store`](Self::check_store)
/// periodically (every 30 s, say): the alert is at most one period late.
///
/// ```
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let mut f = std::pin::pin!(f);
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
/// # }
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use resilience_core::clock::ManualClock;
/// use resilience_core::dead_letter::{
///     DeadLetter, DeadLetterReason, DeadLetterStore, InMemoryDeadLetterQueue, NewLetter, OldestLetterEvent,
/// };
/// use resilience_core::presets::gpu_inference;
///
/// let clock = ManualClock::new();
/// let pending_safety = InMemoryDeadLetterQueue::<DeadLetter<String>>::with_clock("pending_safety", 1000, clock.clone()).unwrap();
/// let alert = gpu_inference::safety_queue_age_alert("pending_safety"); // > 5 min
/// let pages = Arc::new(Mutex::new(Vec::new()));
/// let sink = pages.clone();
/// alert.on_event(move |e| sink.lock().unwrap().push(e.clone()));
///
/// block_on(async {
///     pending_safety.enqueue(NewLetter::new("gen-42".to_string(), DeadLetterReason::CircuitOpen)).await.unwrap();
///     clock.advance(Duration::from_secs(300));
///     alert.check_store(&pending_safety).await.unwrap(); // exactly 5 min: not yet
///     clock.advance(Duration::from_secs(1));
///     alert.check_store(&pending_safety).await.unwrap();
/// });
/// assert!(matches!(pages.lock().unwrap()[0], OldestLetterEvent::Raised { .. }));
/// ```
#[derive(Debug)]
pub struct OldestLetterAlert {
    queue: Arc<str>,
    bound: Duration,
    raised: AtomicBool,
    listeners: Listeners<OldestLetterEvent>,
}

impl OldestLetterAlert {
    /// An alert for `queue` (the name in events) when the oldest letter is
    /// older than `bound` (strictly). `bound` must not be zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::dead_letter::OldestLetterAlert;
    /// assert!(OldestLetterAlert::new("q", Duration::from_secs(300)).is_ok());
    /// assert_eq!(OldestLetterAlert::new("q", Duration::ZERO).unwrap_err().field(), Some("bound"));
    /// ```
    pub fn new(queue: &str, bound: Duration) -> Result<Self, ConfigError> {
        check_nonzero_duration("bound", bound)?;
        Ok(Self::checked(queue, bound))
    }

    /// For a bound known to be non-zero (the presets').
    pub(crate) fn checked(queue: &str, bound: Duration) -> Self {
        OldestLetterAlert {
            queue: Arc::from(queue),
            bound,
            raised: AtomicBool::new(false),
            listeners: Listeners::new(),
        }
    }

    /// The bound.
    pub fn bound(&self) -> Duration {
        self.bound
    }

    /// Whether the alert is raised now (as of the last check).
    pub fn is_raised(&self) -> bool {
        self.raised.load(Ordering::Acquire)
    }

    /// Registers a listener (alert on-call, post to the status page).
    pub fn on_event<F>(&self, f: F) -> ListenerId
    where
        F: Fn(&OldestLetterEvent) + Send + Sync + 'static,
    {
        self.listeners.add_fn(f)
    }

    /// The listeners.
    pub fn listeners(&self) -> &Listeners<OldestLetterEvent> {
        &self.listeners
    }

    /// Judges one reading of the queue; returns the event it caused, if
    /// any (also delivered to the listeners).
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::dead_letter::{OldestLetterAlert, OldestLetterEvent, QueueStats};
    /// let alert = OldestLetterAlert::new("q", Duration::from_secs(300)).unwrap();
    /// let stats = |age| QueueStats { ready: 1, waiting: 0, in_flight: 0, parked: 0, oldest_age: age };
    /// assert_eq!(alert.check(&stats(Some(Duration::from_secs(299)))), None);
    /// assert!(matches!(alert.check(&stats(Some(Duration::from_secs(301)))), Some(OldestLetterEvent::Raised { .. })));
    /// assert_eq!(alert.check(&stats(Some(Duration::from_secs(400)))), None); // still raised: no new event
    /// assert!(matches!(alert.check(&stats(None)), Some(OldestLetterEvent::Cleared { .. })));
    /// ```
    pub fn check(&self, stats: &QueueStats) -> Option<OldestLetterEvent> {
        let over = stats.oldest_age.filter(|&age| age > self.bound);
        let event = match over {
            Some(age) if !self.raised.swap(true, Ordering::AcqRel) => OldestLetterEvent::Raised {
                queue: self.queue.clone(),
                oldest_age: age,
                bound: self.bound,
            },
            None if self.raised.swap(false, Ordering::AcqRel) => OldestLetterEvent::Cleared {
                queue: self.queue.clone(),
                bound: self.bound,
            },
            _ => return None,
        };
        self.listeners.emit(&event);
        Some(event)
    }

    /// Reads `store`'s stats (which also refreshes its age gauge) and
    /// [`check`](Self::check)s them.
    pub async fn check_store<T, S>(&self, store: &S) -> Result<QueueStats, StoreError>
    where
        S: DeadLetterStore<T> + ?Sized,
    {
        let stats = store.stats().await?;
        self.check(&stats);
        Ok(stats)
    }
}
