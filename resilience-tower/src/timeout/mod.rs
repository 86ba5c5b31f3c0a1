//! Timeouts: one per attempt, and a total deadline across retries.
//!
//! Two different questions need two different timeouts:
//!
//! * **How long may one attempt take?** A [`TimeoutLayer`] cancels an
//!   attempt that runs too long, so a hung connection costs one attempt,
//!   not the whole call. Put it *inside* the retry layer: the retry layer
//!   sees the [`Elapsed`] error, classifies it as a timeout and tries again.
//! * **How long may the caller wait in total?** A [`DeadlineLayer`] bounds
//!   the whole call, waits and retries included. Put it *outside* the retry
//!   layer: when it fires, the retry loop (its current attempt or its
//!   backoff sleep) is dropped and nothing is retried after the caller gave
//!   up.
//!
//! The recommended order, outermost first:
//!
//! ```text
//! DeadlineLayer (total, e.g. 2s)      the caller's patience
//!   RetryLayer (policy.deadline = 2s)   stops *scheduling* retries that cannot finish in time
//!     TimeoutLayer (per attempt, 500ms)  one slow attempt cannot eat the budget
//!       service
//! ```
//!
//! The retry policy's own `deadline` and the `DeadlineLayer` complement each
//! other: the policy does not start a retry whose backoff wait would end
//! after the deadline (it gives up at once with
//! [`RetryError::DeadlineExceeded`](resilience_core::retry::RetryError::DeadlineExceeded),
//! keeping the last error), while the layer is a hard stop that cancels an
//! attempt in flight. Use the same duration for both.
//!
//! Both layers are thin wrappers over [`tower::timeout::Timeout`] (the
//! timer, the race and the cancellation are tower's). What they add: an
//! [`Elapsed`] error that says which limit fired and how long it was, a
//! metric, and a classification the retry layer understands. Timers are
//! `tokio::time`, so `tokio::time::pause()` makes tests instant.
//!
//! ```
//! use std::time::Duration;
//! use resilience_tower::timeout::{DeadlineLayer, Elapsed, TimeoutLayer, TimeoutScope};
//! use tower::{service_fn, BoxError, Layer, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let slow = service_fn(|d: Duration| async move {
//!     tokio::time::sleep(d).await;
//!     Ok::<_, BoxError>(d)
//! });
//! let mut svc = TimeoutLayer::new(Duration::from_millis(500)).layer(slow);
//!
//! let fast = svc.ready().await.unwrap().call(Duration::from_millis(100)).await.unwrap();
//! assert_eq!(fast, Duration::from_millis(100));
//!
//! let err = svc.ready().await.unwrap().call(Duration::from_secs(5)).await.unwrap_err();
//! let elapsed = err.downcast_ref::<Elapsed>().expect("a timeout");
//! assert_eq!(elapsed.scope(), TimeoutScope::Attempt);
//! assert_eq!(elapsed.timeout(), Duration::from_millis(500));
//! # let _ = DeadlineLayer::new(Duration::from_secs(2));
//! # }
//! ```
//!
//! # Metrics
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `resilience_timeout_elapsed_total` | counter | `timeout` (the layer's name, default `"default"`), `scope` = `attempt` or `total` | calls cancelled because the limit elapsed |

mod layer;
mod service;

pub use self::layer::{DeadlineLayer, TimeoutLayer};
pub(crate) use self::service::deadline_in;
pub use self::service::{ResponseFuture, TimeoutService};
/// Moved: name [`resilience_core::clock::TokioClock`], the one `TokioClock`
/// of the suite (give it to core primitives so they move with
/// `tokio::time::pause()` in step with the layers' timers).
#[deprecated(since = "0.1.1", note = "use `resilience_core::clock::TokioClock`")]
#[doc(hidden)]
pub type TokioClock = resilience_core::clock::TokioClock;

/// Moved: name [`resilience_core::clock::TokioClock`] (the value of the
/// deprecated `resilience_tower::timeout::TokioClock` alias).
#[deprecated(since = "0.1.1", note = "use `resilience_core::clock::TokioClock`")]
#[doc(hidden)]
#[allow(non_upper_case_globals)]
pub const TokioClock: resilience_core::clock::TokioClock = resilience_core::clock::TokioClock;

use std::time::Duration;

use resilience_core::config::fmt_duration;
use resilience_core::retry::{Classification, ClassifyError, ErrorClass};

/// Which limit an [`Elapsed`] error comes from.
///
/// ```
/// use resilience_tower::timeout::TimeoutScope;
/// assert_eq!(TimeoutScope::Attempt.as_str(), "attempt");
/// assert_eq!(TimeoutScope::Total.as_str(), "total");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeoutScope {
    /// One attempt ([`TimeoutLayer`]).
    Attempt,
    /// The whole call, retries included ([`DeadlineLayer`]).
    Total,
}

impl TimeoutScope {
    /// The `scope` metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeoutScope::Attempt => "attempt",
            TimeoutScope::Total => "total",
        }
    }
}

/// A call (or one attempt of it) did not finish in time and was cancelled.
///
/// The error inside the [`BoxError`](tower::BoxError) of a
/// [`TimeoutService`]; find it with `downcast_ref::<Elapsed>()`. It replaces
/// tower's own `tower::timeout::error::Elapsed`, so match on this type.
///
/// For retries it is a [`ErrorClass::Timeout`] failure (see its
/// [`ClassifyError`] impl): a per-attempt timeout is retried by an idempotent
/// policy. A non-idempotent call is not, because the request may have
/// reached the server before it was cancelled.
///
/// ```
/// use std::time::Duration;
/// use resilience_core::retry::{ClassifyError, ErrorClass};
/// use resilience_tower::timeout::{Elapsed, TimeoutScope};
///
/// let e = Elapsed::new(Duration::from_millis(250), TimeoutScope::Attempt);
/// assert_eq!(
///     e.to_string(),
///     "the attempt did not finish within its 250ms timeout and was cancelled; \
///      it may be retried, or raise the timeout if the dependency is just slow"
/// );
/// assert_eq!(e.classify().class, ErrorClass::Timeout);
/// let total = Elapsed::new(Duration::from_secs(2), TimeoutScope::Total);
/// assert!(total.to_string().contains("2s total deadline"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", match scope {
    TimeoutScope::Attempt => format!(
        "the attempt did not finish within its {} timeout and was cancelled; \
         it may be retried, or raise the timeout if the dependency is just slow",
        fmt_duration(*timeout)
    ),
    TimeoutScope::Total => format!(
        "the call did not finish within its {} total deadline and was cancelled (the \
         deadline covers every attempt, the waits between retries and any queueing for a \
         permit); a per-attempt `timeout` shorter than the deadline turns one slow attempt \
         into a retry instead of a cancelled call",
        fmt_duration(*timeout)
    ),
})]
pub struct Elapsed {
    timeout: Duration,
    scope: TimeoutScope,
}

impl Elapsed {
    /// An error for a `timeout` of the given scope.
    pub fn new(timeout: Duration, scope: TimeoutScope) -> Elapsed {
        Elapsed { timeout, scope }
    }

    /// The limit that elapsed.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether it was a per-attempt timeout or the total deadline.
    pub fn scope(&self) -> TimeoutScope {
        self.scope
    }
}

impl ClassifyError for Elapsed {
    fn classify(&self) -> Classification {
        Classification::new(ErrorClass::Timeout)
    }
}
