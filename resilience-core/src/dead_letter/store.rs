//! The [`DeadLetterStore`] contract: a dead-letter queue that can live
//! outside the process (a database table, a Redis stream) and be replayed
//! by several replayers at once, surviving their crashes.
//!
//! A [`DeadLetterSink`](super::DeadLetterSink) only takes letters in. A store
//! also hands them out again, safely:
//!
//! | operation | what it does |
//! |---|---|
//! | [`enqueue`](DeadLetterStore::enqueue) | stores a [`NewLetter`] (the request, why it failed, an idempotency key, an optional ordering key); a refused letter comes back in the error |
//! | [`claim`](DeadLetterStore::claim) | leases up to `max_letters` due letters to this replayer for `lease` ([`ClaimOptions`]); a replayer that dies loses its lease and the letters are claimed again |
//! | [`ack`](DeadLetterStore::ack) | the replay succeeded: the letter is gone |
//! | [`release`](DeadLetterStore::release) | the replay failed: try again after a backoff, give it back untried, or park it ([`Release`]) |
//! | [`stats`](DeadLetterStore::stats) | depth by state and the age of the oldest letter ([`QueueStats`]) |
//! | [`parked`](DeadLetterStore::parked) / [`purge`](DeadLetterStore::purge) | inspect and delete parked ("poison") letters, or everything |
//!
//! # Delivery contract
//!
//! **At least once.** A letter leaves the store only through `ack`. A
//! replayer that crashes (or stalls past its lease) after doing the work but
//! before `ack` lets the lease expire, and the letter is delivered again.
//! Every letter carries an [`idempotency_key`](StoredLetter::idempotency_key)
//! (the host's, or a random one) and a [`replays`](StoredLetter::replays)
//! count: a delivery with `replays > 1` may be a duplicate, and a host that
//! records the keys it has done makes replay effectively once.
//!
//! **Poison letters are parked, not looped.** A letter delivered
//! `max_replays` times without an `ack` (its replays failed, or it crashed
//! the replayer each time) is moved to the parked state: kept, counted,
//! listed by [`parked`](DeadLetterStore::parked), never delivered again
//! until an operator acts. A payload that no longer decodes is parked too.
//!
//! **Ordering.** Claims hand letters out oldest first. Letters with the same
//! [`ordering_key`](NewLetter::with_ordering_key) are delivered in enqueue
//! order, one at a time, where the backend allows it (in memory and on
//! PostgreSQL): a keyed letter is only claimed when no older letter with
//! that key is waiting, claimed or retrying; a parked letter no longer holds
//! its key back. Letters without a key are not ordered against each other
//! once retries start (a failed letter waits for its backoff while younger
//! ones go ahead). Each backend documents what it guarantees.
//!
//! **Nothing is dropped.** A full store refuses the letter and hands it
//! back in [`DeadLetterError`]; no backend trims old letters to make room.
//!
//! # Metrics
//!
//! Every store (the in-memory queue used as a store, PostgreSQL, Redis)
//! reports under the `resilience_dead_letter_` names of the in-memory queue
//! (`_enqueued_total`, `_rejected_total`, `_replayed_total` for acks,
//! `_replay_failures_total` for releases, `_depth`), labelled with the queue
//! name, plus:
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `resilience_dead_letter_parked_total` | counter | `queue` | letters moved to the parked (poison) state: too many replays, or a payload that no longer decodes |
//! | `resilience_dead_letter_reclaimed_total` | counter | `queue` | letters claimed again because the replayer holding them let its lease expire (crashed or stalled) |
//! | `resilience_dead_letter_store_errors_total` | counter | `queue`, `op` = `enqueue`, `claim`, `ack`, `release`, `stats`, `parked`, `purge` | store operations that failed (backend unreachable, lease lost) |
//! | `resilience_dead_letter_in_flight` | gauge | `queue` | letters claimed by a replayer right now (as of the last `stats`) |
//! | `resilience_dead_letter_waiting` | gauge | `queue` | letters waiting for their retry backoff (as of the last `stats`) |
//! | `resilience_dead_letter_parked` | gauge | `queue` | parked letters held (as of the last `stats`) |
//! | `resilience_dead_letter_oldest_age_seconds` | gauge | `queue` | age of the oldest letter not parked, since it first failed (as of the last `stats`) |
//!
//! For a shared store, the counters count what this process did and the
//! gauges are the store's global view at the last [`stats`](DeadLetterStore::stats)
//! call (the tower `Replayer` calls it after every pass). Aggregate counters
//! across processes; take any one process's gauges.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use metrics::{Counter, Gauge};

use super::{DeadLetterError, DeadLetterReason};

/// A boxed future returned by a [`DeadLetterStore`]: boxed so the trait is
/// object safe (`Arc<dyn DeadLetterStore<T>>`), and `Send` so it runs on
/// any executor.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A letter's identity in its store: a bigint row id on PostgreSQL
/// (`low` is 0), a stream entry id `high-low` on Redis, a counter in memory.
///
/// ```
/// use resilience_core::dead_letter::LetterId;
/// let id: LetterId = "1700000000000-3".parse().unwrap();
/// assert_eq!((id.high(), id.low()), (1_700_000_000_000, 3));
/// assert_eq!(id.to_string(), "1700000000000-3");
/// assert_eq!(LetterId::new(42, 0).to_string(), "42");
/// assert!("x-1".parse::<LetterId>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LetterId {
    high: u64,
    low: u64,
}

impl LetterId {
    /// An id from its two parts.
    pub const fn new(high: u64, low: u64) -> LetterId {
        LetterId { high, low }
    }

    /// The first part (the row id, or the stream entry's milliseconds).
    pub const fn high(&self) -> u64 {
        self.high
    }

    /// The second part (0, or the stream entry's sequence number).
    pub const fn low(&self) -> u64 {
        self.low
    }
}

impl fmt::Display for LetterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.low == 0 {
            write!(f, "{}", self.high)
        } else {
            write!(f, "{}-{}", self.high, self.low)
        }
    }
}

/// A string that is not a [`LetterId`].
///
/// ```
/// use resilience_core::dead_letter::LetterId;
/// let err = "12-".parse::<LetterId>().unwrap_err();
/// assert!(err.to_string().contains("`12-`"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a dead-letter id (expected `N` or `N-M` with decimal numbers)")]
pub struct ParseLetterIdError(String);

impl FromStr for LetterId {
    type Err = ParseLetterIdError;

    fn from_str(s: &str) -> Result<LetterId, ParseLetterIdError> {
        let bad = || ParseLetterIdError(s.to_string());
        let (high, low) = match s.split_once('-') {
            Some((h, l)) => (h, l),
            None => (s, "0"),
        };
        Ok(LetterId {
            high: high.parse().map_err(|_| bad())?,
            low: low.parse().map_err(|_| bad())?,
        })
    }
}

/// A letter to store: the work, why it failed, and its keys.
///
/// The idempotency key defaults to 128 random bits in hex; give your own
/// (a request id, an event id) when the host already deduplicates by one.
///
/// ```
/// use resilience_core::dead_letter::{DeadLetterReason, NewLetter};
/// let letter = NewLetter::new("job-7", DeadLetterReason::CircuitOpen)
///     .with_idempotency_key("job-7")
///     .with_ordering_key("customer-42");
/// assert_eq!(letter.idempotency_key, "job-7");
/// assert_eq!(letter.ordering_key.as_deref(), Some("customer-42"));
/// assert_eq!(NewLetter::new(1, DeadLetterReason::CircuitOpen).idempotency_key.len(), 32);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewLetter<T> {
    /// The work itself.
    pub item: T,
    /// Why it is dead-lettered.
    pub reason: DeadLetterReason,
    /// Identifies this piece of work across redeliveries.
    pub idempotency_key: String,
    /// Letters with the same key are delivered in order (where the backend
    /// allows it); `None`: no ordering.
    pub ordering_key: Option<String>,
}

impl<T> NewLetter<T> {
    /// A letter with a random idempotency key and no ordering key.
    pub fn new(item: T, reason: DeadLetterReason) -> NewLetter<T> {
        NewLetter {
            item,
            reason,
            idempotency_key: format!("{:032x}", rand::random::<u128>()),
            ordering_key: None,
        }
    }

    /// Sets the idempotency key.
    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = key.into();
        self
    }

    /// Sets the ordering key.
    pub fn with_ordering_key(mut self, key: impl Into<String>) -> Self {
        self.ordering_key = Some(key.into());
        self
    }
}

/// Where a stored letter is in its life.
///
/// ```
/// use resilience_core::dead_letter::LetterState;
/// assert_eq!(LetterState::Parked.as_str(), "parked");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LetterState {
    /// Waiting to be claimed (now, or after its retry backoff).
    Queued,
    /// Claimed by a replayer whose lease has not expired.
    Claimed,
    /// Delivered too often without success, or undecodable: kept for an
    /// operator, never delivered again.
    Parked,
}

impl LetterState {
    /// `queued`, `claimed` or `parked`.
    pub fn as_str(self) -> &'static str {
        match self {
            LetterState::Queued => "queued",
            LetterState::Claimed => "claimed",
            LetterState::Parked => "parked",
        }
    }
}

/// A letter as the store holds it: the work plus its metadata.
///
/// ```
/// use std::time::SystemTime;
/// use resilience_core::dead_letter::{DeadLetterReason, LetterId, LetterState, StoredLetter};
/// let now = SystemTime::now();
/// let letter = StoredLetter::new(LetterId::new(1, 0), "job", DeadLetterReason::CircuitOpen, "k1".into(), now);
/// assert_eq!((letter.replays, letter.state), (0, LetterState::Queued));
/// assert!(!letter.is_redelivery());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredLetter<T> {
    /// Its id in the store.
    pub id: LetterId,
    /// The work.
    pub item: T,
    /// Why it was dead-lettered.
    pub reason: DeadLetterReason,
    /// Identifies the work across redeliveries (see the delivery contract).
    pub idempotency_key: String,
    /// Its ordering key, if any.
    pub ordering_key: Option<String>,
    /// How many times it has been handed to a replayer, this delivery
    /// included (0 for a letter that was never claimed).
    pub replays: u32,
    /// When it was enqueued (its first failure), by the store's clock.
    pub first_failed_at: SystemTime,
    /// When it last failed: its enqueue, or its last failed replay.
    pub last_failed_at: SystemTime,
    /// The error of its last failed replay (or why it was parked).
    pub last_error: Option<String>,
    /// Where it is in its life.
    pub state: LetterState,
}

impl<T> StoredLetter<T> {
    /// A queued letter never claimed (for store implementations).
    pub fn new(
        id: LetterId,
        item: T,
        reason: DeadLetterReason,
        idempotency_key: String,
        at: SystemTime,
    ) -> StoredLetter<T> {
        StoredLetter {
            id,
            item,
            reason,
            idempotency_key,
            ordering_key: None,
            replays: 0,
            first_failed_at: at,
            last_failed_at: at,
            last_error: None,
            state: LetterState::Queued,
        }
    }

    /// Whether this delivery may repeat an earlier one (`replays > 1`):
    /// check the idempotency key before doing the work again.
    pub fn is_redelivery(&self) -> bool {
        self.replays > 1
    }

    /// The same letter holding `f(item)`.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> StoredLetter<U> {
        StoredLetter {
            id: self.id,
            item: f(self.item),
            reason: self.reason,
            idempotency_key: self.idempotency_key,
            ordering_key: self.ordering_key,
            replays: self.replays,
            first_failed_at: self.first_failed_at,
            last_failed_at: self.last_failed_at,
            last_error: self.last_error,
            state: self.state,
        }
    }
}

/// Proof of a claim: what [`ack`](DeadLetterStore::ack) and
/// [`release`](DeadLetterStore::release) need. A receipt whose lease
/// expired and was claimed by another replayer is refused with
/// [`StoreError::LeaseLost`].
///
/// ```
/// use resilience_core::dead_letter::{LetterId, Receipt};
/// let r = Receipt::new(LetterId::new(7, 0), 99);
/// assert_eq!((r.id(), r.token()), (LetterId::new(7, 0), 99));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Receipt {
    id: LetterId,
    token: u64,
}

impl Receipt {
    /// A receipt for `id` under claim `token` (for store implementations).
    pub const fn new(id: LetterId, token: u64) -> Receipt {
        Receipt { id, token }
    }

    /// The letter's id.
    pub const fn id(&self) -> LetterId {
        self.id
    }

    /// The claim's token.
    pub const fn token(&self) -> u64 {
        self.token
    }
}

/// A letter leased to this replayer, with its [`Receipt`].
///
/// ```
/// use std::time::SystemTime;
/// use resilience_core::dead_letter::{ClaimedLetter, DeadLetterReason, LetterId, Receipt, StoredLetter};
/// let letter = StoredLetter::new(LetterId::new(1, 0), 5u32, DeadLetterReason::CircuitOpen, "k".into(), SystemTime::now());
/// let claimed = ClaimedLetter::new(letter, Receipt::new(LetterId::new(1, 0), 1));
/// assert_eq!(claimed.item, 5);
/// let (letter, receipt) = claimed.into_parts();
/// assert_eq!(receipt.id(), letter.id);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedLetter<T> {
    letter: StoredLetter<T>,
    receipt: Receipt,
}

impl<T> ClaimedLetter<T> {
    /// A claimed letter (for store implementations).
    pub fn new(letter: StoredLetter<T>, receipt: Receipt) -> ClaimedLetter<T> {
        ClaimedLetter { letter, receipt }
    }

    /// What acknowledging or releasing it takes.
    pub fn receipt(&self) -> Receipt {
        self.receipt
    }

    /// The letter and its receipt.
    pub fn into_parts(self) -> (StoredLetter<T>, Receipt) {
        (self.letter, self.receipt)
    }
}

impl<T> std::ops::Deref for ClaimedLetter<T> {
    type Target = StoredLetter<T>;
    fn deref(&self) -> &StoredLetter<T> {
        &self.letter
    }
}

/// How to claim: how many letters, for how long, and when a letter is
/// poison.
///
/// ```
/// use std::time::Duration;
/// use resilience_core::dead_letter::ClaimOptions;
/// let o = ClaimOptions::new(32, Duration::from_secs(30)).with_max_replays(5);
/// assert_eq!((o.max_letters, o.lease, o.max_replays), (32, Duration::from_secs(30), 5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClaimOptions {
    /// At most this many letters (at least 1 is asked for).
    pub max_letters: usize,
    /// How long the letters are this replayer's: after that, another
    /// replayer may claim them. Longer than the slowest replay of a batch.
    pub lease: Duration,
    /// A letter whose lease expired after this many deliveries is parked
    /// instead of delivered again (it keeps killing or stalling its
    /// replayer). Default 10.
    pub max_replays: u32,
}

impl ClaimOptions {
    /// Claim up to `max_letters` for `lease`; `max_replays` 10.
    pub fn new(max_letters: usize, lease: Duration) -> ClaimOptions {
        ClaimOptions {
            max_letters,
            lease,
            max_replays: 10,
        }
    }

    /// Sets `max_replays`.
    pub fn with_max_replays(mut self, max_replays: u32) -> Self {
        self.max_replays = max_replays;
        self
    }
}

/// What to do with a claimed letter whose replay did not succeed.
///
/// ```
/// use std::time::Duration;
/// use resilience_core::dead_letter::Release;
/// let r = Release::Retry { after: Duration::from_secs(2), error: "503".into() };
/// assert!(matches!(r, Release::Retry { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Release {
    /// The replay failed: deliver it again after `after`. Its replay
    /// counts.
    Retry {
        /// The backoff.
        after: Duration,
        /// Why it failed (kept as the letter's `last_error`).
        error: String,
    },
    /// It was not tried (the batch stopped before it): back at once, in its
    /// place, and this delivery does not count as a replay.
    Untried,
    /// Give up on it: park it (kept, never delivered again).
    Park {
        /// Why (kept as the letter's `last_error`).
        error: String,
    },
}

/// A queue's depth by state, and its oldest letter's age.
///
/// ```
/// use resilience_core::dead_letter::QueueStats;
/// let s = QueueStats { ready: 3, waiting: 1, in_flight: 2, parked: 4, oldest_age: None };
/// assert_eq!(s.depth(), 6); // parked letters are held, but not to be replayed
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Letters that can be claimed now (including expired leases).
    pub ready: u64,
    /// Letters waiting for their retry backoff.
    pub waiting: u64,
    /// Letters claimed under a live lease.
    pub in_flight: u64,
    /// Parked (poison) letters.
    pub parked: u64,
    /// Age of the oldest letter that is not parked, since it was enqueued.
    pub oldest_age: Option<Duration>,
}

impl QueueStats {
    /// Letters still to be replayed: ready + waiting + in flight.
    pub fn depth(&self) -> u64 {
        self.ready
            .saturating_add(self.waiting)
            .saturating_add(self.in_flight)
    }
}

/// Which letters [`purge`](DeadLetterStore::purge) deletes.
///
/// ```
/// use resilience_core::dead_letter::Purge;
/// assert_ne!(Purge::Parked, Purge::All);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Purge {
    /// Every parked letter.
    Parked,
    /// Every letter of the queue, whatever its state (including letters a
    /// replayer holds: their acks will then report `LeaseLost`).
    All,
}

/// A store operation that failed. Enqueue failures are
/// [`DeadLetterError`] instead, holding the letter.
///
/// ```
/// use resilience_core::dead_letter::{LetterId, StoreError};
/// let e = StoreError::LeaseLost { queue: "jobs".into(), id: LetterId::new(9, 0) };
/// assert!(e.to_string().contains("lease on letter 9"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend did not answer, or answered with an error.
    #[error("dead-letter store `{queue}` ({backend}) is unavailable: {reason}; nothing was changed by this call, retry it")]
    Unavailable {
        /// `memory`, `postgres` or `redis`.
        backend: &'static str,
        /// The queue's name.
        queue: Arc<str>,
        /// What the backend said.
        reason: String,
    },
    /// The letter is not held under this receipt any more: its lease
    /// expired and another replayer claimed it (or it was purged). The
    /// other replayer will deliver it again: the at-least-once case.
    #[error("dead-letter queue `{queue}`: the lease on letter {id} was lost (it expired and the letter was claimed again, or it was purged); it will be delivered again, so make its replay idempotent or lengthen the lease")]
    LeaseLost {
        /// The queue's name.
        queue: Arc<str>,
        /// The letter.
        id: LetterId,
    },
    /// The call's arguments cannot work (e.g. a zero lease).
    #[error("dead-letter queue `{queue}`: {reason}")]
    InvalidArgument {
        /// The queue's name.
        queue: Arc<str>,
        /// What is wrong.
        reason: String,
    },
}

/// A dead-letter queue that hands letters out again for replay: claims with
/// a lease, acknowledgements, retries with backoff, parking of poison
/// letters. See the [module docs](self) for the contract.
///
/// Implemented by [`InMemoryDeadLetterQueue`](super::InMemoryDeadLetterQueue)
/// of [`DeadLetter<T>`](super::DeadLetter) (the embedded default) and by
/// the PostgreSQL and Redis stores of the `resilience-store` crate. The
/// methods return boxed futures, so `Arc<dyn DeadLetterStore<T>>` works and
/// no async runtime is assumed.
///
/// ```
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let mut f = std::pin::pin!(f);
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
/// # }
/// use std::sync::Arc;
/// use std::time::Duration;
/// use resilience_core::dead_letter::{
///     ClaimOptions, DeadLetter, DeadLetterReason, DeadLetterStore, InMemoryDeadLetterQueue, NewLetter, Release,
/// };
///
/// let store: Arc<dyn DeadLetterStore<String>> =
///     Arc::new(InMemoryDeadLetterQueue::<DeadLetter<String>>::new("webhooks", 100).unwrap());
/// block_on(async {
///     store.enqueue(NewLetter::new("hook-1".to_string(), DeadLetterReason::CircuitOpen)).await.unwrap();
///     store.enqueue(NewLetter::new("hook-2".to_string(), DeadLetterReason::CircuitOpen)).await.unwrap();
///
///     let batch = store.claim(ClaimOptions::new(10, Duration::from_secs(30))).await.unwrap();
///     assert_eq!(batch.len(), 2);
///     store.ack(batch[0].receipt()).await.unwrap(); // hook-1 delivered
///     let retry = Release::Retry { after: Duration::from_secs(5), error: "still 503".into() };
///     store.release(batch[1].receipt(), retry).await.unwrap();
///
///     let stats = store.stats().await.unwrap();
///     assert_eq!((stats.ready, stats.waiting, stats.in_flight), (0, 1, 0));
/// });
/// ```
pub trait DeadLetterStore<T>: Send + Sync {
    /// The queue's name (the `queue` metrics label).
    fn queue_name(&self) -> &str;

    /// Stores a letter; returns its id. A refused letter (store full, too
    /// large, backend unavailable) is handed back inside the error.
    fn enqueue(
        &self,
        letter: NewLetter<T>,
    ) -> StoreFuture<'_, Result<LetterId, DeadLetterError<T>>>;

    /// Leases up to `options.max_letters` due letters to the caller, oldest
    /// first, honouring ordering keys. Letters whose lease expired are
    /// claimed again (or parked, past `max_replays`). An empty batch means
    /// nothing is due.
    fn claim(
        &self,
        options: ClaimOptions,
    ) -> StoreFuture<'_, Result<Vec<ClaimedLetter<T>>, StoreError>>;

    /// The replay succeeded: deletes the letter.
    fn ack(&self, receipt: Receipt) -> StoreFuture<'_, Result<(), StoreError>>;

    /// The replay did not succeed: retry later, return untried, or park.
    fn release(
        &self,
        receipt: Receipt,
        release: Release,
    ) -> StoreFuture<'_, Result<(), StoreError>>;

    /// Depth by state and the oldest letter's age; also refreshes the
    /// queue's gauges.
    fn stats(&self) -> StoreFuture<'_, Result<QueueStats, StoreError>>;

    /// Up to `limit` parked letters, oldest first, for inspection.
    fn parked(&self, limit: usize) -> StoreFuture<'_, Result<Vec<StoredLetter<T>>, StoreError>>;

    /// Deletes letters; returns how many.
    fn purge(&self, purge: Purge) -> StoreFuture<'_, Result<u64, StoreError>>;
}

impl<T, S: DeadLetterStore<T> + ?Sized> DeadLetterStore<T> for Arc<S> {
    fn queue_name(&self) -> &str {
        (**self).queue_name()
    }
    fn enqueue(
        &self,
        letter: NewLetter<T>,
    ) -> StoreFuture<'_, Result<LetterId, DeadLetterError<T>>> {
        (**self).enqueue(letter)
    }
    fn claim(
        &self,
        options: ClaimOptions,
    ) -> StoreFuture<'_, Result<Vec<ClaimedLetter<T>>, StoreError>> {
        (**self).claim(options)
    }
    fn ack(&self, receipt: Receipt) -> StoreFuture<'_, Result<(), StoreError>> {
        (**self).ack(receipt)
    }
    fn release(
        &self,
        receipt: Receipt,
        release: Release,
    ) -> StoreFuture<'_, Result<(), StoreError>> {
        (**self).release(receipt, release)
    }
    fn stats(&self) -> StoreFuture<'_, Result<QueueStats, StoreError>> {
        (**self).stats()
    }
    fn parked(&self, limit: usize) -> StoreFuture<'_, Result<Vec<StoredLetter<T>>, StoreError>> {
        (**self).parked(limit)
    }
    fn purge(&self, purge: Purge) -> StoreFuture<'_, Result<u64, StoreError>> {
        (**self).purge(purge)
    }
}

/// The metric handles of one store's queue, under the documented names
/// (for store implementations: build once, at construction).
///
/// ```
/// use resilience_core::dead_letter::{QueueStats, StoreMetrics};
/// let m = StoreMetrics::new("jobs");
/// m.enqueued(1);
/// m.record_stats(&QueueStats::default());
/// ```
pub struct StoreMetrics {
    enqueued: Counter,
    rejected: Counter,
    replayed: Counter,
    replay_failures: Counter,
    parked_total: Counter,
    reclaimed: Counter,
    errors: [Counter; 7],
    depth: Gauge,
    in_flight: Gauge,
    waiting: Gauge,
    parked: Gauge,
    oldest_age: Gauge,
}

/// A store operation, for [`StoreMetrics::error`].
///
/// ```
/// use resilience_core::dead_letter::StoreOp;
/// assert_eq!(StoreOp::Claim.as_str(), "claim");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreOp {
    /// [`DeadLetterStore::enqueue`].
    Enqueue,
    /// [`DeadLetterStore::claim`].
    Claim,
    /// [`DeadLetterStore::ack`].
    Ack,
    /// [`DeadLetterStore::release`].
    Release,
    /// [`DeadLetterStore::stats`].
    Stats,
    /// [`DeadLetterStore::parked`].
    Parked,
    /// [`DeadLetterStore::purge`].
    Purge,
}

impl StoreOp {
    const ALL: [StoreOp; 7] = [
        StoreOp::Enqueue,
        StoreOp::Claim,
        StoreOp::Ack,
        StoreOp::Release,
        StoreOp::Stats,
        StoreOp::Parked,
        StoreOp::Purge,
    ];

    /// The `op` label.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreOp::Enqueue => "enqueue",
            StoreOp::Claim => "claim",
            StoreOp::Ack => "ack",
            StoreOp::Release => "release",
            StoreOp::Stats => "stats",
            StoreOp::Parked => "parked",
            StoreOp::Purge => "purge",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl StoreMetrics {
    /// Registers the handles for `queue`.
    pub fn new(queue: &str) -> StoreMetrics {
        let q: Arc<str> = queue.into();
        let counter = |n: &'static str| metrics::counter!(n, "queue" => q.to_string());
        let gauge = |n: &'static str| metrics::gauge!(n, "queue" => q.to_string());
        StoreMetrics {
            enqueued: counter("resilience_dead_letter_enqueued_total"),
            rejected: counter("resilience_dead_letter_rejected_total"),
            replayed: counter("resilience_dead_letter_replayed_total"),
            replay_failures: counter("resilience_dead_letter_replay_failures_total"),
            parked_total: counter("resilience_dead_letter_parked_total"),
            reclaimed: counter("resilience_dead_letter_reclaimed_total"),
            errors: StoreOp::ALL.map(|op| {
                metrics::counter!("resilience_dead_letter_store_errors_total", "queue" => q.to_string(), "op" => op.as_str())
            }),
            depth: gauge("resilience_dead_letter_depth"),
            in_flight: gauge("resilience_dead_letter_in_flight"),
            waiting: gauge("resilience_dead_letter_waiting"),
            parked: gauge("resilience_dead_letter_parked"),
            oldest_age: gauge("resilience_dead_letter_oldest_age_seconds"),
        }
    }

    /// `n` letters stored.
    pub fn enqueued(&self, n: u64) {
        self.enqueued.increment(n);
    }
    /// A letter refused (full, too large).
    pub fn rejected(&self) {
        self.rejected.increment(1);
    }
    /// A letter acknowledged.
    pub fn replayed(&self) {
        self.replayed.increment(1);
    }
    /// A letter released for a retry.
    pub fn replay_failed(&self) {
        self.replay_failures.increment(1);
    }
    /// `n` letters parked.
    pub fn parked(&self, n: u64) {
        self.parked_total.increment(n);
    }
    /// `n` letters claimed again after an expired lease.
    pub fn reclaimed(&self, n: u64) {
        self.reclaimed.increment(n);
    }
    /// An operation failed.
    pub fn error(&self, op: StoreOp) {
        if let Some(c) = self.errors.get(op.index()) {
            c.increment(1);
        }
    }
    /// Sets the depth gauge alone (letters still to be replayed).
    pub fn set_depth(&self, depth: usize) {
        self.depth.set(depth as f64);
    }
    /// Sets the gauges from a [`QueueStats`].
    pub fn record_stats(&self, stats: &QueueStats) {
        self.depth.set(stats.depth() as f64);
        self.in_flight.set(stats.in_flight as f64);
        self.waiting.set(stats.waiting as f64);
        self.parked.set(stats.parked as f64);
        self.oldest_age
            .set(stats.oldest_age.map_or(0.0, |a| a.as_secs_f64()));
    }
}

impl fmt::Debug for StoreMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreMetrics").finish_non_exhaustive()
    }
}

impl DeadLetterReason {
    /// The reason as the durable stores keep it: `circuit_open`,
    /// `retry:<attempts>:<give-up label>` or `other:<text>`.
    /// [`from_stored`](Self::from_stored) reads it back.
    ///
    /// ```
    /// use resilience_core::dead_letter::DeadLetterReason;
    /// use resilience_core::retry::GiveUpReason;
    /// let r = DeadLetterReason::Retry { attempts: 4, reason: GiveUpReason::Exhausted };
    /// assert_eq!(r.to_stored(), "retry:4:exhausted");
    /// assert_eq!(DeadLetterReason::from_stored(&r.to_stored()), r);
    /// assert_eq!(DeadLetterReason::from_stored("circuit_open"), DeadLetterReason::CircuitOpen);
    /// ```
    pub fn to_stored(&self) -> String {
        match self {
            DeadLetterReason::CircuitOpen => "circuit_open".to_string(),
            DeadLetterReason::Retry { attempts, reason } => {
                use crate::retry::GiveUpReason as G;
                match reason {
                    G::Exhausted | G::BudgetExhausted => {
                        format!("retry:{attempts}:{}", reason.as_str())
                    }
                    // Give-up reasons with data are kept in words.
                    _ => format!("other:{self}"),
                }
            }
            DeadLetterReason::Other(text) => format!("other:{text}"),
        }
    }

    /// Reads [`to_stored`](Self::to_stored)'s form back. A retry that gave
    /// up for a reason with data (a deadline, a class) comes back as
    /// [`Other`](Self::Other) with its words; unknown text too.
    pub fn from_stored(stored: &str) -> DeadLetterReason {
        use crate::retry::GiveUpReason as G;
        if stored == "circuit_open" {
            return DeadLetterReason::CircuitOpen;
        }
        if let Some(rest) = stored.strip_prefix("retry:") {
            if let Some((n, label)) = rest.split_once(':') {
                let reason = match label {
                    "exhausted" => Some(G::Exhausted),
                    "budget_exhausted" => Some(G::BudgetExhausted),
                    _ => None,
                };
                if let (Ok(attempts), Some(reason)) = (n.parse(), reason) {
                    return DeadLetterReason::Retry { attempts, reason };
                }
            }
        }
        DeadLetterReason::Other(stored.strip_prefix("other:").unwrap_or(stored).to_string())
    }
}
