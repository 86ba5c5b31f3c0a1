//! One config, the recommended order: a complete resilience stack in five
//! lines.
//!
//! ```text
//!   caller
//!     │  RateLimitLayer       at most `rate` calls per `per`; refused at once
//!     │  DeadlineLayer        total time across every attempt and wait
//!     │  RetryLayer           backoff + jitter, classes, idempotency, budget
//!     │  CircuitBreakerLayer  sees every attempt; open = fail fast
//!     │  BulkheadLayer        caps concurrent calls into the dependency
//!     │  TimeoutLayer         per attempt, on the dependency's own time
//!     ▼
//!   your service
//! ```
//!
//! # Why this order
//!
//! * **Rate limit outermost.** A refused call must cost nothing: it is
//!   refused before a deadline timer is set, before the retry policy
//!   counts a request in its budget, before the breaker hands out a
//!   permit or the bulkhead a slot. And one call takes one permit, however
//!   many attempts it makes: the limiter bounds calls into the stack, the
//!   retry budget bounds the extra load retries add, and neither is spent
//!   twice. Its `RateLimited` reaches the caller directly (no retry layer
//!   sees it), as `ErrorKind::RateLimited { retry_after }`, answered over
//!   HTTP as 429 with `Retry-After`. To bound every attempt instead (a
//!   provider quota that counts retries), compose a
//!   [`RateLimitLayer`](crate::rate_limit::RateLimitLayer) inside a
//!   `RetryLayer` by hand: the retry then waits the limiter's
//!   `retry_after` like a 429's.
//! * **Deadline outermost, and known to the retry.** The caller's patience
//!   is one number; it covers the retries and the waits between them, so
//!   it wraps them all (Polly's "timeout, then retry" pipeline). The retry
//!   policy is given the same deadline (or its own, if shorter), so it
//!   never starts a wait that cannot end in time: it gives up at once with
//!   the last attempt's error rather than holding the caller until the
//!   deadline cuts it off.
//! * **Retry outside the breaker** (Resilience4j's `Retry(CircuitBreaker(…))`
//!   decoration order, Polly's recommended pipeline). The breaker then
//!   counts every attempt, so a dependency that fails three attempts per
//!   request trips the breaker three times as fast; and once it is open,
//!   the retry layer gets `CircuitOpen` immediately and, by default, does
//!   not retry it (class `circuit_open`): the caller fails fast with the
//!   breaker's `retry_after`, and retries cannot hammer an open dependency.
//!   To wait for the half-open trial instead, add `circuit_open` to the
//!   retry's `retry_on`; the wait is still bounded by the deadline. With
//!   the breaker outside, one request's retry storm would reach the
//!   dependency before the breaker saw a single failure.
//! * **Bulkhead inside the breaker.** The bulkhead protects the dependency
//!   and this process from too many concurrent calls. Its rejection
//!   (`BulkheadFull`) is local overload, not the dependency's failure, so the
//!   stack's breaker classifier *ignores* it instead of tripping on it; and a
//!   retry waits for a permit again like any other attempt.
//! * **Timeout innermost.** The per-attempt timeout measures the dependency,
//!   not time spent queued for a bulkhead permit (which has its own
//!   `max_wait`), and its `Elapsed` reaches the breaker as a failure and the
//!   retry layer as a retryable timeout.
//!
//! Fallbacks change the response type (they say which step served), so they
//! go outside the stack: `FallbackLayer` → `ResilienceStack` → service.
//!
//! # HTTP services
//!
//! [`ResilienceStack::http`] (feature `http`) builds the same stack for
//! `http::Request` / `http::Response` services with
//! [`HttpStackClassifier`]: 5xx, 408 and 429 responses trip the breaker
//! and are retried (at least the upstream's `Retry-After` later), other 4xx
//! are not counted, and a `POST` without an `Idempotency-Key` is retried
//! only when it never left. Errors map to HTTP answers with
//! [`ErrorKind`](crate::error::ErrorKind) (and, with feature `axum`,
//! [`handle_error`](crate::error::handle_error)): an open breaker is a 503
//! with `Retry-After`, a full bulkhead a 429, a refused rate limit a 429
//! with `Retry-After`, a timeout a 504.
//!
//! # Errors
//!
//! Through the stack, a layer's error usually arrives wrapped by the retry
//! layer; [`ErrorKind::of`](crate::error::ErrorKind::of) finds what
//! happened wherever it is in the chain.
//!
//! ```
//! use resilience_tower::stack::ResilienceStack;
//! use tower::{service_fn, BoxError, ServiceBuilder, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let stack = ResilienceStack::from_yaml(r#"
//! name: inventory
//! rate_limit: { rate: 500, per: 1s, burst: 50 }
//! deadline: 10s
//! retry:
//!   backoff: { kind: exponential, initial: 100ms, max: 2s, max_attempts: 3, jitter: full }
//!   budget: { kind: token_bucket, capacity: 100 }
//! circuit_breaker: { window: { count: 20 }, minimum_calls: 10, failure_rate_threshold: 0.5, open_duration: 30s }
//! bulkhead: { max_concurrent: 64, max_wait: 50ms }
//! timeout: 2s
//! "#)?;
//! let mut svc = ServiceBuilder::new()
//!     .layer(stack)
//!     .service(service_fn(|sku: u32| async move { Ok::<_, BoxError>(sku * 2) }));
//! assert_eq!(svc.ready().await?.call(21).await?, 42);
//! # Ok(())
//! # }
//! ```

mod config;
mod optional;
mod service;

pub use self::config::{ResilienceStack, StackClassify, StackConfig};
pub use self::optional::{
    OptionalBreaker, OptionalBulkhead, OptionalRetry, OptionalRetryFuture, OptionalTimeout,
};
#[cfg(feature = "http")]
pub use self::service::HttpStackClassifier;
#[allow(deprecated)]
pub use self::service::StackBreakerClassifier;
pub use self::service::{BoxErr, StackClassifier, StackFuture, StackService};
