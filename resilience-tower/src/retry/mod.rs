//! Retrying failed calls with the core [`RetryPolicy`](resilience_core::retry::RetryPolicy).
//!
//! A [`RetryLayer`] sends a failed call again, as the policy says: after
//! the backoff's (jittered) delay, or the dependency's `Retry-After` if
//! longer; only for retryable failure classes; for a non-idempotent
//! request only when the failure proves it never left (connection refused,
//! breaker open); never past the policy's deadline or its shared retry
//! budget. Waits are `tokio::time` sleeps, so under `tokio::time::pause()`
//! a test of a ten-second backoff takes no time at all.
//!
//! ```
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::sync::Arc;
//! use std::time::Duration;
//! use resilience_core::retry::{Backoff, RetryError, RetryPolicy};
//! use resilience_tower::retry::{AttemptError, RetryLayer};
//! use tower::{service_fn, BoxError, Layer, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let policy = RetryPolicy::builder(Backoff::exponential(Duration::from_millis(100), Duration::from_secs(1)).unwrap())
//!     .max_attempts(3)
//!     .build()
//!     .unwrap();
//! let calls = Arc::new(AtomicU32::new(0));
//! let seen = calls.clone();
//! let flaky = service_fn(move |x: u32| {
//!     let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
//!     async move {
//!         if n < 3 || x == 0 {
//!             Err::<u32, BoxError>(std::io::Error::from(std::io::ErrorKind::ConnectionReset).into())
//!         } else {
//!             Ok(x)
//!         }
//!     }
//! });
//! let mut svc = RetryLayer::new(policy).layer(flaky);
//!
//! let start = tokio::time::Instant::now();
//! assert_eq!(svc.ready().await.unwrap().call(7).await.unwrap(), 7);
//! assert_eq!(calls.load(Ordering::SeqCst), 3);
//! assert_eq!(start.elapsed(), Duration::from_millis(300)); // 100ms + 200ms of backoff
//!
//! // When it gives up, the error is the core RetryError, keeping the last error.
//! let err = svc.ready().await.unwrap().call(0).await.unwrap_err();
//! let gave_up = err.downcast_ref::<RetryError<AttemptError>>().expect("a retry error");
//! assert!(matches!(gave_up, RetryError::RetriesExhausted { attempts: 3, .. }));
//! assert!(gave_up.last().is::<std::io::Error>());
//! # }
//! ```
//!
//! # What counts as a failure
//!
//! A [`RetryClassify`] looks at each result: `None` is a success, `Some` is
//! a failure with its class (and `Retry-After`). The default,
//! [`DefaultRetryClassifier`], treats every `Ok` as a success and classifies
//! errors with [`classify_error`] (timeouts, I/O errors, open breakers, full
//! bulkheads, injected faults; anything unknown fails fast). With feature
//! `http`, `HttpRetryClassifier` reads `http::Response` statuses and the
//! `Retry-After` header. When the policy gives up on a failed *response*
//! (an HTTP `503` is `Ok(response)`), that last response is returned.
//!
//! # Errors
//!
//! `Service::Error` is [`BoxError`](tower::BoxError). When the policy gives
//! up after a failed attempt, it holds the core
//! [`RetryError`](resilience_core::retry::RetryError)`<`[`AttemptError`]`>`:
//! `RetriesExhausted { attempts, last }`, `RetryBudgetExhausted`,
//! `DeadlineExceeded`, `NotRetryable`, `NotIdempotent` or
//! `RetryAfterTooLong`, each with the last attempt's error in `last` (and
//! as the error's `source`). [`original_error`] digs it out. Errors from
//! the inner service's `poll_ready` pass through unchanged.
//!
//! # Requests that cannot be cloned
//!
//! Each attempt consumes its request, so the layer keeps a copy for the next
//! one, made by a [`CloneRequest`] hook: [`CloneAll`] (`Clone`, the default)
//! or your closure returning `Option<Req>`, for request types that are only
//! sometimes copyable (an HTTP request whose body is buffered or a one-shot
//! stream). When the hook returns `None`:
//!
//! 1. the request is still sent, once;
//! 2. if it succeeds, the response is returned as usual;
//! 3. if it fails with an error the policy would not retry anyway, the
//!    error is the usual `RetryError` (e.g. `NotRetryable`);
//! 4. if it fails with an error the policy *would* retry, the error is
//!    [`RequestNotCloneable`], which says that the request was not retried
//!    because it could not be copied, and keeps the original error as its
//!    `source` and [`last`](RequestNotCloneable::last). No retry is drawn
//!    from the budget, and `resilience_retry_not_cloneable_total` counts it.
//!
//! # Changing the request between attempts
//!
//! A [`RetryHook`] set with [`RetryLayer::on_retry`] gets the copy of the
//! request the retry will send, mutably, together with the failed attempt
//! ([`Retrying`]: its result, class and the coming delay): route the retry
//! to another worker than the one that failed, shrink a batch after an
//! out-of-memory error, refresh a token. It only runs when a retry is made.
//!
//! # Idempotency
//!
//! The policy's idempotency applies to every request unless a
//! [`RequestIdempotency`] hook decides per request (a closure
//! `Fn(&Req) -> Idempotency`, or `HttpMethodIdempotency` with feature
//! `http`). A non-idempotent request is retried only after a
//! `connect_failed` failure: the request provably never reached the server.
//!
//! # Time
//!
//! The layer reads time from tokio's clock (the same clock its sleeps use)
//! for the policy's deadline, so paused-time tests and production agree.
//! The policy's own [`Clock`](resilience_core::clock::Clock) is used by its
//! budget only; give it [`TokioClock`](resilience_core::clock::TokioClock) to keep
//! a ratio budget in step in tests.
//!
//! # Cost
//!
//! Per call: one clone of the request (for a possible second attempt), one
//! clone of the inner service, one `Arc` clone, one clock read if the
//! policy has a deadline, and the policy's `start`/`record_success`
//! bookkeeping (a few atomics). Nothing is
//! allocated when the first attempt succeeds, and the response future is a
//! named type (no `Box<dyn Future>`).
//!
//! # Metrics
//!
//! The policy records its own metrics (label `policy` = its name; see
//! [`resilience_core::retry`]); the layer adds one.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `resilience_retry_calls_total` | counter | `policy`, `result` | finished calls by result: `success`, `success_after_retry`, `not_retryable`, `not_idempotent`, `exhausted`, `deadline_exceeded`, `budget_exhausted`, `retry_after_too_long` |
//! | `resilience_retry_retries_total` | counter | `policy`, `class` | retries scheduled, by failure class |
//! | `resilience_retry_budget_exhausted_total` | counter | `policy` | retries refused by the budget |
//! | `resilience_retry_delay_seconds` | histogram | `policy` | waits before retries |
//! | `resilience_retry_attempts` | histogram | `policy` | attempts per finished call |
//! | `resilience_retry_not_cloneable_total` | counter | `policy` | failures not retried because the request could not be copied |

mod classify;
mod error;
mod future;
pub(crate) use self::future::{poll_retries, settle, Retries, State, StateProj};
mod hook;
mod layer;
pub(crate) use self::layer::Shared;
mod request;
mod service;
pub(crate) use self::service::start;

#[cfg(feature = "http")]
pub use self::classify::HttpRetryClassifier;
pub use self::classify::{classify_error, DefaultRetryClassifier, RetryClassify};
pub use self::error::{original_error, AttemptError, RequestNotCloneable};
pub use self::future::ResponseFuture;
pub use self::hook::{NoRetryHook, RetryHook, Retrying};
pub use self::layer::RetryLayer;
#[cfg(feature = "http")]
pub use self::request::HttpMethodIdempotency;
pub use self::request::{CloneAll, CloneRequest, NoClone, PolicyIdempotency, RequestIdempotency};
pub use self::service::RetryService;

/// The time the layer measures attempts with: tokio's clock, so that
/// `tokio::time::pause()` moves it together with the backoff sleeps.
#[inline]
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}
