//! Fencing: refuse writes from deposed lease holders.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::FencingToken;

/// A write was refused because its token is older than the newest seen.
///
/// The writer was deposed: another holder got the lease (and a larger
/// token) since. It must stop writing and step down; retrying with the same
/// token will fail the same way.
///
/// ```
/// use resilience_dr::lease::{Fence, FencingError, FencingToken};
/// let fence = Fence::new();
/// fence.admit(FencingToken::new(5)).unwrap();
/// let err = fence.admit(FencingToken::new(4)).unwrap_err();
/// assert_eq!(err, FencingError::Stale { token: FencingToken::new(4), newest: FencingToken::new(5) });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FencingError {
    /// The token is older than the newest one this resource has accepted.
    #[error(
        "write fenced: token {token} is older than the newest token {newest} seen by this \
         resource; the writer lost its lease and must step down"
    )]
    Stale {
        /// The refused token.
        token: FencingToken,
        /// The newest token accepted so far.
        newest: FencingToken,
    },
}

/// The newest fencing token a resource has seen, checked without a lock.
///
/// `admit` accepts a token equal to or newer than the newest seen (one
/// tenure writes many times) and remembers it; an older one is refused.
/// Use it where the host applies the write itself, e.g. to guard a storage
/// client or to stamp an outgoing request; [`FencedResource`] wraps a value
/// and makes check-and-write atomic.
///
/// Note that `admit` alone does not order the *writes* that follow it: two
/// writers admitted with tokens 4 then 5 may still apply in the order 5, 4
/// if the host does not serialise them. When that matters, use
/// [`FencedResource`].
///
/// ```
/// use resilience_dr::lease::{Fence, FencingToken};
/// let fence = Fence::new();
/// assert_eq!(fence.newest(), None);
/// assert!(fence.admit(FencingToken::new(3)).is_ok());
/// assert!(fence.admit(FencingToken::new(3)).is_ok()); // same tenure
/// assert!(fence.admit(FencingToken::new(8)).is_ok()); // new leader
/// assert!(fence.admit(FencingToken::new(3)).is_err()); // old leader fenced
/// assert_eq!(fence.newest(), Some(FencingToken::new(8)));
/// ```
#[derive(Debug, Default)]
pub struct Fence {
    /// The newest token seen; 0 (which no backend grants) until then.
    newest: AtomicU64,
}

impl Fence {
    /// A fence that has seen no token yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A fence that already knows `newest` (e.g. restored from storage at startup).
    ///
    /// ```
    /// use resilience_dr::lease::{Fence, FencingToken};
    /// let fence = Fence::starting_at(FencingToken::new(10));
    /// assert!(fence.admit(FencingToken::new(9)).is_err());
    /// ```
    pub fn starting_at(newest: FencingToken) -> Self {
        Fence {
            newest: AtomicU64::new(newest.get()),
        }
    }

    /// Accepts `token` if it is not older than the newest seen, and remembers it.
    pub fn admit(&self, token: FencingToken) -> Result<(), FencingError> {
        let t = token.get();
        match self
            .newest
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                (t > cur).then_some(t)
            }) {
            Ok(_) => Ok(()),
            Err(cur) if t == cur => Ok(()),
            Err(cur) => Err(FencingError::Stale {
                token,
                newest: FencingToken::new(cur),
            }),
        }
    }

    /// Whether `token` would be admitted now, without recording it.
    pub fn check(&self, token: FencingToken) -> Result<(), FencingError> {
        let cur = self.newest.load(Ordering::Acquire);
        if token.get() >= cur {
            Ok(())
        } else {
            Err(FencingError::Stale {
                token,
                newest: FencingToken::new(cur),
            })
        }
    }

    /// The newest token admitted so far (`None` before the first one above
    /// [`FencingToken::ZERO`]).
    pub fn newest(&self) -> Option<FencingToken> {
        match self.newest.load(Ordering::Acquire) {
            0 => None,
            n => Some(FencingToken::new(n)),
        }
    }
}

/// A value that only the current lease holder may change.
///
/// Every write carries the writer's [`FencingToken`]. A write whose token is
/// older than the newest one seen is refused with [`FencingError::Stale`],
/// and never applied; a newer token becomes the newest. The check and the
/// write happen under one short lock, so a stale write can never land after
/// a newer one. Stale tokens are refused by a lock-free pre-check, so a
/// deposed leader hammering the resource does not slow the new one down.
///
/// Rejections are counted in `resilience_lease_fencing_rejections_total`
/// (label `resource`, the name given to [`FencedResource::named`]).
///
/// ```
/// use resilience_dr::lease::{FencedResource, FencingToken};
/// let config = FencedResource::named("scheduler-state", 0u32);
/// config.write(FencingToken::new(1), |v| *v = 10)?;
/// config.write(FencingToken::new(2), |v| *v += 1)?; // a new leader
/// assert!(config.write(FencingToken::new(1), |v| *v = 99).is_err()); // old leader fenced
/// assert_eq!(config.read(|v| *v), 11);
/// # Ok::<(), resilience_dr::lease::FencingError>(())
/// ```
pub struct FencedResource<T> {
    name: &'static str,
    fence: Fence,
    value: Mutex<T>,
}

impl<T> FencedResource<T> {
    /// Wraps `value`; metrics label it `resource="unnamed"`.
    pub fn new(value: T) -> Self {
        Self::named("unnamed", value)
    }

    /// Wraps `value` under a name used as the metrics label.
    pub fn named(name: &'static str, value: T) -> Self {
        FencedResource {
            name,
            fence: Fence::new(),
            value: Mutex::new(value),
        }
    }

    /// Applies `write` if `token` is not older than the newest seen.
    pub fn write<R>(
        &self,
        token: FencingToken,
        write: impl FnOnce(&mut T) -> R,
    ) -> Result<R, FencingError> {
        if let Err(e) = self.fence.check(token) {
            return Err(self.rejected(e));
        }
        let mut value = self.value.lock();
        if let Err(e) = self.fence.admit(token) {
            drop(value);
            return Err(self.rejected(e));
        }
        Ok(write(&mut value))
    }

    /// Reads the value (no token needed).
    pub fn read<R>(&self, read: impl FnOnce(&T) -> R) -> R {
        read(&self.value.lock())
    }

    /// The newest token accepted so far.
    ///
    /// ```
    /// use resilience_dr::lease::{FencedResource, FencingToken};
    /// let r = FencedResource::new(());
    /// r.write(FencingToken::new(4), |_| ()).unwrap();
    /// assert_eq!(r.newest_token(), Some(FencingToken::new(4)));
    /// ```
    pub fn newest_token(&self) -> Option<FencingToken> {
        self.fence.newest()
    }

    /// The wrapped value.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }

    #[cold]
    fn rejected(&self, e: FencingError) -> FencingError {
        metrics::counter!("resilience_lease_fencing_rejections_total", "resource" => self.name)
            .increment(1);
        e
    }
}

impl<T: fmt::Debug> fmt::Debug for FencedResource<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FencedResource")
            .field("name", &self.name)
            .field("newest_token", &self.fence.newest())
            .field("value", &*self.value.lock())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn token_zero_and_max_are_orderable() {
        let f = Fence::new();
        f.admit(FencingToken::ZERO).unwrap();
        assert_eq!(f.newest(), None);
        f.admit(FencingToken::new(1)).unwrap();
        assert!(f.admit(FencingToken::ZERO).is_err());
        f.admit(FencingToken::new(u64::MAX)).unwrap();
        f.admit(FencingToken::new(u64::MAX)).unwrap();
        assert!(f.admit(FencingToken::new(u64::MAX - 1)).is_err());
    }

    #[test]
    fn stale_writes_are_never_applied() {
        let r = FencedResource::new(Vec::new());
        r.write(FencingToken::new(2), |v| v.push(2)).unwrap();
        let e = r.write(FencingToken::new(1), |v| v.push(1)).unwrap_err();
        assert!(e.to_string().contains("must step down"));
        assert_eq!(r.into_inner(), vec![2]);
    }

    #[test]
    fn concurrent_writers_never_apply_out_of_order() {
        let r = Arc::new(FencedResource::new(Vec::<u64>::new()));
        let threads: Vec<_> = (1..=8u64)
            .map(|t| {
                let r = r.clone();
                std::thread::spawn(move || {
                    for _ in 0..500 {
                        let _ = r.write(FencingToken::new(t), |v| v.push(t));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let log = Arc::try_unwrap(r).unwrap().into_inner();
        assert!(log.windows(2).all(|w| w[0] <= w[1]), "applied out of order");
        assert_eq!(log.last(), Some(&8));
    }

    #[test]
    fn rejections_are_counted() {
        use metrics_util::debugging::{DebugValue, DebuggingRecorder};
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            let r = FencedResource::named("orders", ());
            r.write(FencingToken::new(3), |_| ()).unwrap();
            let _ = r.write(FencingToken::new(2), |_| ());
            let _ = r.write(FencingToken::new(1), |_| ());
        });
        let found = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .find(|(k, ..)| {
                k.key().name() == "resilience_lease_fencing_rejections_total"
                    && k.key().labels().any(|l| l.value() == "orders")
            });
        assert!(matches!(found, Some((_, _, _, DebugValue::Counter(2)))));
    }
}
