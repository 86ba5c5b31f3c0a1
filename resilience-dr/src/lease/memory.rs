//! The in-process lease backend.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use resilience_core::clock::{shared, Clock, SharedClock, SystemClock};

use super::{
    instant_add, validate_id, validate_lease, validate_ttl, FencingToken, Lease, LeaseBackend,
    LeaseError, LeaseFuture,
};

#[derive(Debug, Clone)]
struct Record {
    holder: String,
    token: FencingToken,
    ttl: Duration,
    expires_at: Instant,
}

#[derive(Debug, Default)]
struct State {
    leases: HashMap<String, Record>,
    last_token: u64,
}

/// Leases kept in this process's memory.
///
/// The embedded default: electors in one process (threads, tasks, or a
/// simulation) share clones of one `MemoryLeaseBackend` (a cheap-clone
/// handle, an `Arc` inside). Expiry is judged by the
/// [`Clock`] given at construction ([`SystemClock`] by default), so tests
/// drive it with a `ManualClock` or [`TokioClock`](resilience_core::clock::TokioClock) under
/// `tokio::time::pause()`. Every operation is a short critical section on one
/// mutex; tokens come from a counter shared by all lease names.
///
/// It cannot protect anything across processes or machines: use the etcd or
/// PostgreSQL backend for that.
///
/// ```
/// use std::time::Duration;
/// use resilience_core::clock::ManualClock;
/// use resilience_dr::lease::{LeaseBackend, LeaseError, MemoryLeaseBackend};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let clock = ManualClock::new();
/// let backend = MemoryLeaseBackend::with_clock(clock.clone());
/// let a = backend.acquire("leader", "a", Duration::from_secs(10)).await?;
/// clock.advance(Duration::from_secs(10)); // a's lease expires
/// assert!(matches!(backend.renew(&a).await, Err(LeaseError::Lost { .. })));
/// let b = backend.acquire("leader", "b", Duration::from_secs(10)).await?;
/// assert!(b.token > a.token);
/// # Ok::<(), LeaseError>(())
/// # }).unwrap();
/// ```
pub struct MemoryLeaseBackend {
    inner: Arc<MemoryLeaseBackendShared>,
}

impl Clone for MemoryLeaseBackend {
    fn clone(&self) -> Self {
        MemoryLeaseBackend {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct MemoryLeaseBackendShared {
    clock: SharedClock,
    state: Mutex<State>,
}

impl MemoryLeaseBackend {
    /// A backend on the system clock.
    pub fn new() -> Self {
        Self::with_clock(SystemClock)
    }

    /// A backend judging expiry by `clock`.
    pub fn with_clock(clock: impl Clock) -> Self {
        MemoryLeaseBackend {
            inner: Arc::new(MemoryLeaseBackendShared {
                clock: shared(clock),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Renamed: [`with_clock`](Self::with_clock) takes any clock, a
    /// [`SharedClock`] included.
    #[deprecated(
        since = "0.1.1",
        note = "use `MemoryLeaseBackend::with_clock`, which takes any clock"
    )]
    #[doc(hidden)]
    pub fn with_shared_clock(clock: SharedClock) -> Self {
        Self::with_clock(clock)
    }

    /// The last token handed out (0 before the first grant).
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::lease::MemoryLeaseBackend;
    /// let b = MemoryLeaseBackend::new();
    /// assert_eq!(b.last_token().get(), 0);
    /// let lease = b.try_acquire("x", "h", Duration::from_secs(1)).unwrap();
    /// assert_eq!(b.last_token(), lease.token);
    /// ```
    pub fn last_token(&self) -> FencingToken {
        FencingToken::new(self.inner.state.lock().last_token)
    }

    /// [`LeaseBackend::acquire`], synchronously (this backend never waits).
    pub fn try_acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Lease, LeaseError> {
        validate_id("name", name)?;
        validate_id("holder", holder)?;
        validate_ttl(ttl)?;
        let now = self.inner.clock.now();
        let mut state = self.inner.state.lock();
        if let Some(current) = state.leases.get(name) {
            if now < current.expires_at {
                return Err(LeaseError::Held {
                    name: name.to_string(),
                    holder: current.holder.clone(),
                    token: current.token,
                    expires_in: current.expires_at.saturating_duration_since(now),
                });
            }
        }
        let next = state.last_token.checked_add(1).ok_or_else(|| {
            LeaseError::backend(
                "memory",
                "fencing token space exhausted (u64::MAX tokens granted); restart with a new backend",
            )
        })?;
        state.last_token = next;
        let token = FencingToken::new(next);
        let expires_at = instant_add(now, ttl);
        state.leases.insert(
            name.to_string(),
            Record {
                holder: holder.to_string(),
                token,
                ttl,
                expires_at,
            },
        );
        Ok(Lease::new(name, holder, token, ttl, expires_at))
    }

    /// [`LeaseBackend::renew`], synchronously.
    pub fn try_renew(&self, lease: &Lease) -> Result<Lease, LeaseError> {
        validate_lease(lease)?;
        let now = self.inner.clock.now();
        let mut state = self.inner.state.lock();
        match state.leases.get_mut(&lease.name) {
            Some(rec)
                if rec.token == lease.token
                    && rec.holder == lease.holder
                    && now < rec.expires_at =>
            {
                rec.ttl = lease.ttl;
                rec.expires_at = instant_add(now, lease.ttl);
                Ok(Lease::new(
                    lease.name.clone(),
                    lease.holder.clone(),
                    rec.token,
                    rec.ttl,
                    rec.expires_at,
                ))
            }
            _ => Err(LeaseError::lost(lease)),
        }
    }

    /// [`LeaseBackend::release`], synchronously.
    pub fn try_release(&self, lease: &Lease) -> Result<(), LeaseError> {
        validate_lease(lease)?;
        let mut state = self.inner.state.lock();
        let ours = state
            .leases
            .get(&lease.name)
            .is_some_and(|rec| rec.token == lease.token && rec.holder == lease.holder);
        if ours {
            state.leases.remove(&lease.name);
        }
        Ok(())
    }

    /// [`LeaseBackend::observe`], synchronously.
    pub fn try_observe(&self, name: &str) -> Result<Option<Lease>, LeaseError> {
        validate_id("name", name)?;
        let now = self.inner.clock.now();
        let state = self.inner.state.lock();
        Ok(state
            .leases
            .get(name)
            .filter(|rec| now < rec.expires_at)
            .map(|rec| Lease::new(name, rec.holder.clone(), rec.token, rec.ttl, rec.expires_at)))
    }
}

impl Default for MemoryLeaseBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryLeaseBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state.lock();
        f.debug_struct("MemoryLeaseBackend")
            .field("clock", &self.inner.clock)
            .field("leases", &state.leases.len())
            .field("last_token", &state.last_token)
            .finish()
    }
}

impl LeaseBackend for MemoryLeaseBackend {
    fn acquire<'a>(
        &'a self,
        name: &'a str,
        holder: &'a str,
        ttl: Duration,
    ) -> LeaseFuture<'a, Lease> {
        let out = self.try_acquire(name, holder, ttl);
        Box::pin(std::future::ready(out))
    }

    fn renew<'a>(&'a self, lease: &'a Lease) -> LeaseFuture<'a, Lease> {
        let out = self.try_renew(lease);
        Box::pin(std::future::ready(out))
    }

    fn release<'a>(&'a self, lease: &'a Lease) -> LeaseFuture<'a, ()> {
        let out = self.try_release(lease);
        Box::pin(std::future::ready(out))
    }

    fn observe<'a>(&'a self, name: &'a str) -> LeaseFuture<'a, Option<Lease>> {
        let out = self.try_observe(name);
        Box::pin(std::future::ready(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use resilience_core::clock::ManualClock;

    const TTL: Duration = Duration::from_secs(10);

    fn backend() -> (ManualClock, MemoryLeaseBackend) {
        let clock = ManualClock::new();
        (clock.clone(), MemoryLeaseBackend::with_clock(clock))
    }

    #[test]
    fn held_lease_is_refused_even_to_the_same_holder() {
        let (_, b) = backend();
        let a = b.try_acquire("l", "a", TTL).unwrap();
        for who in ["a", "b"] {
            match b.try_acquire("l", who, TTL) {
                Err(LeaseError::Held {
                    holder,
                    token,
                    expires_in,
                    ..
                }) => {
                    assert_eq!(holder, "a");
                    assert_eq!(token, a.token);
                    assert_eq!(expires_in, TTL);
                }
                other => panic!("expected Held, got {other:?}"),
            }
        }
    }

    #[test]
    fn expiry_frees_the_lease_and_bumps_the_token() {
        let (clock, b) = backend();
        let a = b.try_acquire("l", "a", TTL).unwrap();
        clock.advance(TTL - Duration::from_millis(1));
        assert!(b.try_acquire("l", "b", TTL).is_err());
        clock.advance(Duration::from_millis(1));
        assert!(b.try_observe("l").unwrap().is_none());
        let again = b.try_acquire("l", "a", TTL).unwrap();
        assert!(again.token > a.token, "a new tenure gets a new token");
        assert!(matches!(b.try_renew(&a), Err(LeaseError::Lost { .. })));
        assert!(b.try_renew(&again).is_ok());
    }

    #[test]
    fn renew_extends_from_now_and_keeps_the_token() {
        let (clock, b) = backend();
        let a = b.try_acquire("l", "a", TTL).unwrap();
        clock.advance(Duration::from_secs(6));
        let r = b.try_renew(&a).unwrap();
        assert_eq!(r.token, a.token);
        assert_eq!(r.expires_at, clock.now() + TTL);
        clock.advance(Duration::from_secs(9));
        assert_eq!(b.try_observe("l").unwrap().map(|l| l.token), Some(a.token));
    }

    #[test]
    fn release_only_affects_the_current_tenure() {
        let (clock, b) = backend();
        let a = b.try_acquire("l", "a", TTL).unwrap();
        clock.advance(TTL);
        let c = b.try_acquire("l", "c", TTL).unwrap();
        b.try_release(&a).unwrap(); // stale release: no-op
        assert_eq!(
            b.try_observe("l").unwrap().map(|l| l.holder),
            Some("c".into())
        );
        b.try_release(&c).unwrap();
        assert!(b.try_observe("l").unwrap().is_none());
        b.try_release(&c).unwrap(); // idempotent
    }

    #[test]
    fn forged_lease_with_wrong_holder_cannot_renew() {
        let (_, b) = backend();
        let a = b.try_acquire("l", "a", TTL).unwrap();
        let mut forged = a.clone();
        forged.holder = "mallory".into();
        assert!(matches!(b.try_renew(&forged), Err(LeaseError::Lost { .. })));
        b.try_release(&forged).unwrap();
        assert!(b.try_observe("l").unwrap().is_some());
    }

    #[test]
    fn names_are_independent_and_tokens_global() {
        let (_, b) = backend();
        let x = b.try_acquire("x", "a", TTL).unwrap();
        let y = b.try_acquire("y", "b", TTL).unwrap();
        assert!(y.token > x.token);
        assert_eq!(b.last_token(), y.token);
    }

    #[test]
    fn bad_requests_are_errors_not_panics() {
        let (_, b) = backend();
        assert!(matches!(
            b.try_acquire("", "a", TTL),
            Err(LeaseError::InvalidRequest { field: "name", .. })
        ));
        assert!(matches!(
            b.try_acquire("l", "a", Duration::ZERO),
            Err(LeaseError::InvalidRequest { field: "ttl", .. })
        ));
        assert!(b.try_acquire("l", "a", Duration::MAX).is_err());
        assert!(b.try_observe("").is_err());
    }

    #[test]
    fn debug_shows_counts() {
        let (_, b) = backend();
        b.try_acquire("x", "a", TTL).unwrap();
        let s = format!("{b:?}");
        assert!(s.contains("leases: 1"), "{s}");
    }
}
