//! The rejection error.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::config::fmt_duration;

/// Why a bulkhead turned a call away.
///
/// ```
/// use resilience_core::bulkhead::RejectReason;
/// assert_eq!(RejectReason::TimedOut.as_str(), "timed_out");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectReason {
    /// Every permit was in use and the caller may not wait (`max_wait` is
    /// zero, or it asked with `try_acquire`).
    Full,
    /// Every permit was in use and the wait queue was full.
    QueueFull,
    /// The caller queued for `max_wait` without getting a permit.
    TimedOut,
    /// The caller was queued, but the queue was full and a higher-priority
    /// caller took its place.
    Shed,
}

impl RejectReason {
    /// The label used in metrics: `full`, `queue_full`, `timed_out`, `shed`.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Full => "full",
            RejectReason::QueueFull => "queue_full",
            RejectReason::TimedOut => "timed_out",
            RejectReason::Shed => "shed",
        }
    }

    pub(crate) const ALL: [RejectReason; 4] = [
        RejectReason::Full,
        RejectReason::QueueFull,
        RejectReason::TimedOut,
        RejectReason::Shed,
    ];

    pub(crate) fn index(self) -> usize {
        match self {
            RejectReason::Full => 0,
            RejectReason::QueueFull => 1,
            RejectReason::TimedOut => 2,
            RejectReason::Shed => 3,
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A bulkhead rejected the call: it was full, its queue was full, the wait
/// timed out, or a higher-priority caller took the queue place.
///
/// The error names the bulkhead the caller asked, says which limit was hit
/// (the pool's own or the shared cap of its set) and how big that limit is,
/// so the message alone tells an operator what to tune. The call was never
/// started: it is always safe to retry later or to fall back.
///
/// ```
/// use resilience_core::bulkhead::{Bulkhead, BulkheadConfig, RejectReason};
///
/// let b = Bulkhead::new("api", BulkheadConfig::new(1)).unwrap();
/// let _held = b.try_acquire().unwrap();
/// let err = b.try_acquire().unwrap_err();
/// assert_eq!(err.bulkhead(), "api");
/// assert_eq!(err.reason(), RejectReason::Full);
/// assert_eq!(err.max_concurrent(), 1);
/// assert_eq!(err.shared_cap(), None);
/// assert_eq!(
///     err.to_string(),
///     "bulkhead `api` is full: all 1 permits are in use and the caller may not wait \
///      (max_wait 0s); retry later, or raise max_concurrent or max_wait"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkheadFull {
    bulkhead: Arc<str>,
    shared_cap: Option<Arc<str>>,
    reason: RejectReason,
    max_concurrent: u32,
    max_wait: Duration,
}

impl BulkheadFull {
    pub(crate) fn new(
        bulkhead: Arc<str>,
        shared_cap: Option<Arc<str>>,
        reason: RejectReason,
        max_concurrent: u32,
        max_wait: Duration,
    ) -> Self {
        BulkheadFull {
            bulkhead,
            shared_cap,
            reason,
            max_concurrent,
            max_wait,
        }
    }

    /// The bulkhead (pool) the caller asked for a permit.
    pub fn bulkhead(&self) -> &str {
        &self.bulkhead
    }

    /// The shared cap that rejected the call, when it was the set's shared
    /// cap rather than the pool itself.
    pub fn shared_cap(&self) -> Option<&str> {
        self.shared_cap.as_deref()
    }

    /// Why the call was rejected.
    pub fn reason(&self) -> RejectReason {
        self.reason
    }

    /// Whether the caller waited and ran out of time (as opposed to being
    /// turned away at once, or shed).
    pub fn is_timeout(&self) -> bool {
        self.reason == RejectReason::TimedOut
    }

    /// The permit limit that was hit (of the pool, or of the shared cap).
    pub fn max_concurrent(&self) -> u32 {
        self.max_concurrent
    }

    /// The pool's `max_wait` when the call was rejected.
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }
}

impl fmt::Display for BulkheadFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.bulkhead;
        let n = self.max_concurrent;
        let wait = fmt_duration(self.max_wait);
        let (limit, tune) = match &self.shared_cap {
            Some(cap) => (
                format!("all {n} permits of the shared cap `{cap}` are in use"),
                "raise the shared cap's max_concurrent",
            ),
            None => (
                format!("all {n} permits are in use"),
                "raise max_concurrent",
            ),
        };
        match self.reason {
            RejectReason::Full => write!(
                f,
                "bulkhead `{name}` is full: {limit} and the caller may not wait \
                 (max_wait {wait}); retry later, or {tune} or max_wait"
            ),
            RejectReason::QueueFull => write!(
                f,
                "bulkhead `{name}` is full: {limit} and the wait queue is full; \
                 retry later, or {tune} or max_waiting"
            ),
            RejectReason::TimedOut => write!(
                f,
                "bulkhead `{name}` timed out after waiting {wait} for a permit: {limit}; \
                 retry later, or {tune} or max_wait"
            ),
            RejectReason::Shed => write!(
                f,
                "bulkhead `{name}` shed the call: {limit} and a higher-priority caller \
                 took its place in the full wait queue; retry later, or {tune}"
            ),
        }
    }
}

impl std::error::Error for BulkheadFull {}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(reason: RejectReason, cap: Option<&str>) -> String {
        BulkheadFull::new(
            Arc::from("api"),
            cap.map(Arc::from),
            reason,
            100,
            Duration::from_secs(10),
        )
        .to_string()
    }

    #[test]
    fn messages_name_bulkhead_reason_and_limit() {
        assert_eq!(
            err(RejectReason::TimedOut, None),
            "bulkhead `api` timed out after waiting 10s for a permit: all 100 permits are in use; \
             retry later, or raise max_concurrent or max_wait"
        );
        assert_eq!(
            err(RejectReason::QueueFull, None),
            "bulkhead `api` is full: all 100 permits are in use and the wait queue is full; \
             retry later, or raise max_concurrent or max_waiting"
        );
        assert_eq!(
            err(RejectReason::Shed, Some("shared")),
            "bulkhead `api` shed the call: all 100 permits of the shared cap `shared` are in use \
             and a higher-priority caller took its place in the full wait queue; retry later, or \
             raise the shared cap's max_concurrent"
        );
        assert_eq!(
            err(RejectReason::Full, Some("db")),
            "bulkhead `api` is full: all 100 permits of the shared cap `db` are in use and the \
             caller may not wait (max_wait 10s); retry later, or raise the shared cap's \
             max_concurrent or max_wait"
        );
    }
}
