//! Leases, leader election and fencing.
//!
//! A *lease* is a named, time-limited claim held by one *holder* at a time,
//! kept in a backend every candidate can reach (an in-process map, etcd,
//! PostgreSQL). Each time the lease changes hands it carries a new
//! [`FencingToken`], strictly greater than every token handed out before, so
//! a resource that remembers the newest token it has seen can refuse writes
//! from a deposed holder that does not yet know it was deposed (a paused
//! process, a partitioned node): that is *fencing*, and it is what turns
//! "at most one leader most of the time" into "never two writers".
//!
//! | piece | what it does |
//! |---|---|
//! | [`LeaseBackend`] | acquire / renew / release / observe a named lease with a TTL |
//! | [`MemoryLeaseBackend`] | the embedded backend: one process, a [`Clock`](resilience_core::clock::Clock), deterministic in tests |
//! | `EtcdLeaseBackend` (feature `etcd`) | etcd leases + transactions; the key's create revision is the token |
//! | `PostgresLeaseBackend` (feature `postgres`) | a lease table updated by conditional statements; token from a sequence; expiry by the database clock |
//! | [`LeaderElector`] | campaigns, renews every `ttl/3`, demotes before the lease can expire (Patroni rules) |
//! | [`FencedResource`], [`Fence`] | reject writes carrying a token older than the newest seen |
//!
//! # Metrics
//!
//! Emitted through the `metrics` facade; `lease` is the lease name.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `resilience_lease_campaigns_total` | counter | `lease`, `outcome` = `won`/`held`/`error` | acquire attempts by a [`LeaderElector`] |
//! | `resilience_lease_elections_total` | counter | `lease` | tenures won |
//! | `resilience_lease_renewals_total` | counter | `lease`, `outcome` = `ok`/`error`/`lost` | renew attempts |
//! | `resilience_lease_renew_seconds` | histogram | `lease` | backend round trip of a successful renewal |
//! | `resilience_lease_demotions_total` | counter | `lease`, `reason` = `lease_lost`/`renew_timed_out`/`renew_rejected`/`stopped` | step-downs |
//! | `resilience_lease_leader` | gauge | `lease` | 1 while this candidate leads, else 0 |
//! | `resilience_lease_token` | gauge | `lease` | token of the current (or last) tenure |
//! | `resilience_lease_fencing_rejections_total` | counter | `resource` | writes refused by a [`FencedResource`] |
//!
//! # Safety argument in one paragraph
//!
//! A backend grants a lease for `ttl` measured on *its* clock from the moment
//! it processes the request. The elector starts its own stopwatch *before*
//! sending the request, so its local idea of the expiry is never later than
//! the backend's, however long the request took. It stops using the token at
//! `sent + ttl - retry_timeout`, which leaves a `retry_timeout` margin for the
//! host's demote hook and for clock-rate differences between the elector and
//! the backend (up to `retry_timeout / ttl`, e.g. 25 % with the defaults).
//! A new holder can only be granted the lease once the backend considers it
//! expired, and gets a larger token, so the two holders' *usable* periods
//! never overlap, and a write that still arrives late is fenced by its token.
//! The simulation test (`tests/lease_simulation.rs`) checks this over 1 000
//! random schedules of delays, lost messages, partitions and crashes.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use resilience_dr::lease::{FencedResource, LeaseBackend, MemoryLeaseBackend};
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let backend = MemoryLeaseBackend::new();
//! let a = backend.acquire("scheduler", "node-a", Duration::from_secs(10)).await?;
//! // A second candidate cannot take a held lease.
//! assert!(backend.acquire("scheduler", "node-b", Duration::from_secs(10)).await.is_err());
//! backend.release(&a).await?;
//! let b = backend.acquire("scheduler", "node-b", Duration::from_secs(10)).await?;
//! assert!(b.token > a.token);
//!
//! // The protected resource remembers the newest token and fences the old holder.
//! let store = FencedResource::new(Vec::<&str>::new());
//! store.write(b.token, |log| log.push("b"))?;
//! assert!(store.write(a.token, |log| log.push("a")).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod elector;
#[cfg(feature = "etcd")]
mod etcd;
mod fencing;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;

pub use elector::{
    DemoteReason, ElectionEvent, ElectorConfig, ElectorError, ElectorHandle, LeaderElector,
    Leadership, LeadershipView,
};
#[cfg(feature = "etcd")]
pub use etcd::{EtcdLeaseBackend, EtcdLeaseConfig};
pub use fencing::{Fence, FencedResource, FencingError};
pub use memory::MemoryLeaseBackend;

/// Moved: name [`resilience_core::clock::TokioClock`], the one `TokioClock`
/// of the suite.
#[deprecated(since = "0.1.1", note = "use `resilience_core::clock::TokioClock`")]
#[doc(hidden)]
pub type TokioClock = resilience_core::clock::TokioClock;

/// Moved: name [`resilience_core::clock::TokioClock`] (the value of the
/// deprecated `resilience_dr::lease::TokioClock` alias).
#[deprecated(since = "0.1.1", note = "use `resilience_core::clock::TokioClock`")]
#[doc(hidden)]
#[allow(non_upper_case_globals)]
pub const TokioClock: resilience_core::clock::TokioClock = resilience_core::clock::TokioClock;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresLeaseBackend, PostgresLeaseConfig};

/// The longest TTL a lease may ask for (one day).
///
/// A leader lease lives seconds to minutes; a TTL of days is a mistake, and
/// capping it keeps every deadline computation free of overflow.
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// The longest lease name or holder id, in bytes.
pub const MAX_ID_LEN: usize = 512;

/// A fencing token: the epoch of a lease tenure.
///
/// Every time a lease is granted to a holder (a new tenure) the backend
/// hands out a token strictly greater than every token it handed out before
/// for that lease; renewals keep the token. Tokens are not contiguous (etcd
/// uses revisions, PostgreSQL a sequence that may skip values); only their
/// order matters. Backends grant tokens from 1 up; [`FencingToken::ZERO`]
/// precedes every granted token.
///
/// ```
/// use resilience_dr::lease::FencingToken;
/// let old = FencingToken::new(7);
/// let new = FencingToken::new(9);
/// assert!(new > old);
/// assert_eq!(new.get(), 9);
/// assert_eq!(new.to_string(), "9");
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct FencingToken(u64);

impl FencingToken {
    /// The token before every granted one.
    pub const ZERO: FencingToken = FencingToken(0);

    /// A token with the given epoch.
    pub const fn new(epoch: u64) -> Self {
        FencingToken(epoch)
    }

    /// The epoch as a number (to store next to fenced data, or send along a request).
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for FencingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<FencingToken> for u64 {
    fn from(t: FencingToken) -> u64 {
        t.0
    }
}

/// One tenure of a named lease: who holds it, its token, and until when.
///
/// `expires_at` is the holder's *local, conservative* estimate: backends
/// compute it from an instant taken before the request was sent (or, for
/// [`LeaseBackend::observe`], from the remaining TTL the backend reports), so
/// it is never later than the moment the backend itself considers the lease
/// expired.
///
/// ```
/// use std::time::{Duration, Instant};
/// use resilience_dr::lease::{FencingToken, Lease};
/// let now = Instant::now();
/// let lease = Lease::new("db-primary", "node-a", FencingToken::new(3), Duration::from_secs(10), now + Duration::from_secs(10));
/// assert_eq!(lease.name, "db-primary");
/// assert!(lease.is_valid_at(now));
/// assert!(!lease.is_valid_at(now + Duration::from_secs(10)));
/// assert_eq!(lease.remaining_at(now + Duration::from_secs(4)), Duration::from_secs(6));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lease {
    /// The lease's name (one lease per protected role, e.g. `"scheduler"`).
    pub name: String,
    /// The holder's id, unique per candidate process.
    pub holder: String,
    /// The fencing token of this tenure.
    pub token: FencingToken,
    /// The TTL the backend granted (may be longer than asked: etcd rounds up to whole seconds).
    pub ttl: Duration,
    /// Local, conservative expiry (see the type docs).
    pub expires_at: Instant,
}

impl Lease {
    /// A lease value, for backend implementations.
    pub fn new(
        name: impl Into<String>,
        holder: impl Into<String>,
        token: FencingToken,
        ttl: Duration,
        expires_at: Instant,
    ) -> Self {
        Lease {
            name: name.into(),
            holder: holder.into(),
            token,
            ttl,
            expires_at,
        }
    }

    /// Whether the lease has not expired yet at `now` (by the local estimate).
    pub fn is_valid_at(&self, now: Instant) -> bool {
        now < self.expires_at
    }

    /// Time left at `now`, zero once expired.
    pub fn remaining_at(&self, now: Instant) -> Duration {
        self.expires_at.saturating_duration_since(now)
    }
}

/// Why a lease operation failed.
///
/// `Held` and `Lost` are answers, not failures: the backend worked and said
/// no. `Backend` means the state is unknown (the request may or may not have
/// been applied): retry, and never assume the lease is still held.
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::lease::{FencingToken, LeaseError};
/// let e = LeaseError::Held {
///     name: "scheduler".into(),
///     holder: "node-a".into(),
///     token: FencingToken::new(4),
///     expires_in: Duration::from_secs(3),
/// };
/// assert!(!e.is_retryable());
/// assert!(e.to_string().contains("held by `node-a`"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseError {
    /// Another holder has the lease (acquire refused).
    #[error(
        "lease `{name}` is held by `{holder}` (token {token}) for up to {expires_in:?} more; \
         campaign again once it expires or is released"
    )]
    Held {
        /// The lease.
        name: String,
        /// Its current holder.
        holder: String,
        /// The current holder's token.
        token: FencingToken,
        /// How long the backend says the current tenure has left.
        expires_in: Duration,
    },
    /// The caller no longer holds the lease: it expired, was released, or was
    /// taken over (renew refused). Stop acting as the holder now.
    #[error(
        "lease `{name}` is no longer held by `{holder}` with token {token} (expired, released \
         or taken over); stop acting as its holder and campaign again"
    )]
    Lost {
        /// The lease.
        name: String,
        /// The caller's holder id.
        holder: String,
        /// The caller's (now stale) token.
        token: FencingToken,
    },
    /// The request itself is unusable (empty name, zero TTL, ...).
    #[error("invalid lease request: `{field}` {reason}")]
    InvalidRequest {
        /// The offending argument.
        field: &'static str,
        /// The rule it breaks, with the value.
        reason: String,
    },
    /// The backend's configuration is unusable.
    #[error(transparent)]
    Config(#[from] resilience_core::config::ConfigError),
    /// The backend could not be reached or failed; the outcome is unknown.
    #[error(
        "lease backend {backend} failed: {source}; the outcome is unknown, retry the operation"
    )]
    Backend {
        /// Which backend (`"etcd"`, `"postgres"`, ...).
        backend: &'static str,
        /// The backend's own error.
        #[source]
        source: Box<dyn StdError + Send + Sync + 'static>,
    },
}

impl LeaseError {
    /// Whether retrying the same call may succeed (`Backend` errors).
    pub fn is_retryable(&self) -> bool {
        matches!(self, LeaseError::Backend { .. })
    }

    /// A `Backend` error wrapping `source`.
    ///
    /// ```
    /// use resilience_dr::lease::LeaseError;
    /// let e = LeaseError::backend("etcd", std::io::Error::other("connection refused"));
    /// assert!(e.is_retryable());
    /// ```
    pub fn backend(
        backend: &'static str,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        LeaseError::Backend {
            backend,
            source: source.into(),
        }
    }

    pub(crate) fn lost(lease: &Lease) -> Self {
        LeaseError::Lost {
            name: lease.name.clone(),
            holder: lease.holder.clone(),
            token: lease.token,
        }
    }
}

/// The future returned by [`LeaseBackend`] methods.
///
/// Boxed so that [`LeaseBackend`] is object safe (`Arc<dyn LeaseBackend>`
/// lets a host pick the backend from its config at run time) and the future
/// is always `Send` (native `async fn` in traits cannot promise that to a
/// generic caller on this MSRV). Lease calls happen a few times per TTL, so
/// one allocation per call costs nothing measurable.
///
/// Implementing a backend, here a wrapper that counts renewals:
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::time::Duration;
/// use resilience_dr::lease::{Lease, LeaseBackend, LeaseFuture, MemoryLeaseBackend};
///
/// #[derive(Debug, Default)]
/// struct Counted {
///     inner: MemoryLeaseBackend,
///     renewals: AtomicU64,
/// }
///
/// impl LeaseBackend for Counted {
///     fn acquire<'a>(&'a self, name: &'a str, holder: &'a str, ttl: Duration) -> LeaseFuture<'a, Lease> {
///         self.inner.acquire(name, holder, ttl)
///     }
///     fn renew<'a>(&'a self, lease: &'a Lease) -> LeaseFuture<'a, Lease> {
///         self.renewals.fetch_add(1, Ordering::Relaxed);
///         Box::pin(async move { self.inner.renew(lease).await })
///     }
///     fn release<'a>(&'a self, lease: &'a Lease) -> LeaseFuture<'a, ()> {
///         self.inner.release(lease)
///     }
///     fn observe<'a>(&'a self, name: &'a str) -> LeaseFuture<'a, Option<Lease>> {
///         self.inner.observe(name)
///     }
/// }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let b = Counted::default();
/// let lease = b.acquire("l", "a", Duration::from_secs(5)).await?;
/// b.renew(&lease).await?;
/// assert_eq!(b.renewals.load(Ordering::Relaxed), 1);
/// # Ok::<(), resilience_dr::lease::LeaseError>(())
/// # }).unwrap();
/// ```
pub type LeaseFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, LeaseError>> + Send + 'a>>;

/// A store of named leases with fencing tokens.
///
/// Contract every implementation keeps (the model test checks the in-memory
/// one against a reference model):
///
/// - `acquire` succeeds only when the lease is free (never granted, released,
///   or expired by the backend's clock) and then returns a token strictly
///   greater than every token granted before. It refuses a held lease with
///   [`LeaseError::Held`], *even to the same holder id*: a holder that lost
///   track of its lease (lost response, restart) waits for it to expire, so
///   two processes wrongly sharing an id can never both lead.
/// - `renew` extends the caller's tenure by its TTL, keeping the token, only
///   if the backend still has exactly that holder and token unexpired;
///   otherwise [`LeaseError::Lost`].
/// - `release` ends the caller's tenure if it still holds it; releasing a
///   lease you no longer hold is a no-op.
/// - `observe` reports the current unexpired tenure, if any.
/// - The returned [`Lease::expires_at`] is computed from an instant taken
///   before the request was sent.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use resilience_dr::lease::{LeaseBackend, MemoryLeaseBackend};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// // Object safe: choose the backend at run time.
/// let backend: Arc<dyn LeaseBackend> = Arc::new(MemoryLeaseBackend::new());
/// let lease = backend.acquire("jobs", "worker-1", Duration::from_secs(5)).await?;
/// let renewed = backend.renew(&lease).await?;
/// assert_eq!(renewed.token, lease.token);
/// assert_eq!(backend.observe("jobs").await?.map(|l| l.holder), Some("worker-1".to_string()));
/// backend.release(&renewed).await?;
/// assert!(backend.observe("jobs").await?.is_none());
/// # Ok::<(), resilience_dr::lease::LeaseError>(())
/// # }).unwrap();
/// ```
pub trait LeaseBackend: Send + Sync + fmt::Debug {
    /// Takes the lease `name` for `holder` for `ttl` if it is free.
    fn acquire<'a>(
        &'a self,
        name: &'a str,
        holder: &'a str,
        ttl: Duration,
    ) -> LeaseFuture<'a, Lease>;

    /// Extends the caller's tenure by its TTL; [`LeaseError::Lost`] if it no longer holds it.
    fn renew<'a>(&'a self, lease: &'a Lease) -> LeaseFuture<'a, Lease>;

    /// Ends the caller's tenure if it still holds the lease (no-op otherwise).
    fn release<'a>(&'a self, lease: &'a Lease) -> LeaseFuture<'a, ()>;

    /// The current unexpired tenure of `name`, if any.
    fn observe<'a>(&'a self, name: &'a str) -> LeaseFuture<'a, Option<Lease>>;
}

impl<B: LeaseBackend + ?Sized> LeaseBackend for Arc<B> {
    fn acquire<'a>(
        &'a self,
        name: &'a str,
        holder: &'a str,
        ttl: Duration,
    ) -> LeaseFuture<'a, Lease> {
        (**self).acquire(name, holder, ttl)
    }
    fn renew<'a>(&'a self, lease: &'a Lease) -> LeaseFuture<'a, Lease> {
        (**self).renew(lease)
    }
    fn release<'a>(&'a self, lease: &'a Lease) -> LeaseFuture<'a, ()> {
        (**self).release(lease)
    }
    fn observe<'a>(&'a self, name: &'a str) -> LeaseFuture<'a, Option<Lease>> {
        (**self).observe(name)
    }
}

impl<B: LeaseBackend + ?Sized> LeaseBackend for Box<B> {
    fn acquire<'a>(
        &'a self,
        name: &'a str,
        holder: &'a str,
        ttl: Duration,
    ) -> LeaseFuture<'a, Lease> {
        (**self).acquire(name, holder, ttl)
    }
    fn renew<'a>(&'a self, lease: &'a Lease) -> LeaseFuture<'a, Lease> {
        (**self).renew(lease)
    }
    fn release<'a>(&'a self, lease: &'a Lease) -> LeaseFuture<'a, ()> {
        (**self).release(lease)
    }
    fn observe<'a>(&'a self, name: &'a str) -> LeaseFuture<'a, Option<Lease>> {
        (**self).observe(name)
    }
}

/// Checks a lease or holder id: 1..=[`MAX_ID_LEN`] bytes, no NUL or other
/// control characters (they cannot be stored in PostgreSQL `text` and make
/// logs unreadable).
pub(crate) fn validate_id(field: &'static str, value: &str) -> Result<(), LeaseError> {
    let reason = if value.is_empty() {
        Some("must not be empty".to_string())
    } else if value.len() > MAX_ID_LEN {
        Some(format!(
            "must be at most {MAX_ID_LEN} bytes, got {}",
            value.len()
        ))
    } else if value.chars().any(char::is_control) {
        Some(format!(
            "must not contain control characters, got {value:?}"
        ))
    } else {
        None
    };
    match reason {
        Some(reason) => Err(LeaseError::InvalidRequest { field, reason }),
        None => Ok(()),
    }
}

/// Checks a TTL: more than zero, at most [`MAX_TTL`].
pub(crate) fn validate_ttl(ttl: Duration) -> Result<(), LeaseError> {
    if ttl.is_zero() || ttl > MAX_TTL {
        Err(LeaseError::InvalidRequest {
            field: "ttl",
            reason: format!("must be in (0s, {MAX_TTL:?}], got {ttl:?}"),
        })
    } else {
        Ok(())
    }
}

/// Checks a lease passed back to `renew`/`release`.
pub(crate) fn validate_lease(lease: &Lease) -> Result<(), LeaseError> {
    validate_id("name", &lease.name)?;
    validate_id("holder", &lease.holder)?;
    validate_ttl(lease.ttl)
}

/// `at + d`, saturating in the far future instead of panicking.
pub(crate) fn instant_add(at: Instant, d: Duration) -> Instant {
    crate::arith::saturating_add(at, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_validated() {
        assert!(validate_id("name", "ok-name").is_ok());
        assert!(validate_id("name", "").is_err());
        assert!(validate_id("name", "a\0b").is_err());
        assert!(validate_id("name", &"x".repeat(MAX_ID_LEN + 1)).is_err());
        let e = validate_id("holder", "").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid lease request: `holder` must not be empty"
        );
    }

    #[test]
    fn ttl_is_validated() {
        assert!(validate_ttl(Duration::from_millis(1)).is_ok());
        assert!(validate_ttl(MAX_TTL).is_ok());
        assert!(validate_ttl(Duration::ZERO).is_err());
        assert!(validate_ttl(MAX_TTL + Duration::from_nanos(1)).is_err());
    }

    #[test]
    fn lease_remaining_saturates() {
        let now = Instant::now();
        let l = Lease::new("n", "h", FencingToken::new(1), Duration::from_secs(1), now);
        assert_eq!(l.remaining_at(now + Duration::from_secs(5)), Duration::ZERO);
        assert!(!l.is_valid_at(now));
    }

    #[test]
    fn backend_errors_keep_their_source() {
        let e = LeaseError::backend("etcd", std::io::Error::other("boom"));
        assert!(e.source().is_some_and(|s| s.to_string() == "boom"));
        assert!(e.to_string().contains("retry"));
    }
}
