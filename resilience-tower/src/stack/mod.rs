//! One config, the recommended order: a complete resilience stack in five
//! lines.
//!
//! ```text
//!   caller
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
//! * **Deadline outermost.** The caller's patience is one number; it must
//!   cover the retries and the waits between them, so it wraps them all
//!   (Polly's "timeout, then retry" pipeline; the retry policy's own
//!   deadline, when set, additionally stops a retry whose wait would end
//!   after it).
//! * **Retry outside the breaker** (Resilience4j's `Retry(CircuitBreaker(…))`
//!   decoration order, Polly's recommended pipeline). The breaker then
//!   counts every attempt, so a dependency that fails three attempts per
//!   request trips the breaker three times as fast; and once it is open,
//!   the retry layer gets `CircuitOpen` immediately, classifies it as "the
//!   request never left" with the breaker's `retry_after`, and either waits
//!   exactly that long (when it is within the policy's `max_retry_after` and
//!   `deadline`) so the next attempt is the half-open trial, or gives up at
//!   once: retries cannot hammer an open dependency. With the breaker
//!   outside, one request's retry storm would reach the dependency before
//!   the breaker saw a single failure.
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
//! ```
//! use resilience_tower::stack::ResilienceStack;
//! use tower::{service_fn, BoxError, ServiceBuilder, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let stack = ResilienceStack::from_yaml(r#"
//! name: inventory
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
mod service;

pub use self::config::{ResilienceStack, StackConfig};
pub use self::service::{BoxErr, Maybe, MaybeFuture, StackBreakerClassifier, StackService};
