//! # resilience-tower
//!
//! The `resilience-core` primitives as [tower](https://docs.rs/tower)
//! layers, for axum, tonic and hyper services.
//!
//! # Start here
//!
//! For one dependency, a [`ResilienceStack`](stack::ResilienceStack) built
//! from one YAML/JSON config gives the recommended order in five lines:
//!
//! ```text
//! FallbackLayer (optional, changes the response type: says which step served)
//!   └ ResilienceStack: DeadlineLayer → RetryLayer → CircuitBreakerLayer → BulkheadLayer → TimeoutLayer
//!       └ your client service
//! ```
//!
//! The [`stack`] module explains why that order (retry outside the breaker,
//! bulkhead inside it, per-attempt timeout innermost). Compose the layers by
//! hand when you need something the stack does not cover: per-key breakers
//! ([`KeyedCircuitBreakerLayer`](circuit_breaker::KeyedCircuitBreakerLayer)),
//! traffic classes ([`BulkheadSetLayer`](bulkhead::BulkheadSetLayer)),
//! hedging, adaptive limits, feature gates, fault injection.
//!
//! # Errors
//!
//! Every layer's `Service::Error` is [`tower::BoxError`], holding a concrete
//! type you can `downcast_ref`: `CircuitOpen` (with `retry_after`),
//! `BulkheadFull`, `RetryError` (with the attempts and the original error),
//! `Elapsed`, `FeatureDisabled`, `FallbackExhausted`, `DeadLettered`,
//! `InjectedFault`. With axum, map them to statuses in a `HandleErrorLayer`
//! (503 with `Retry-After` for `CircuitOpen`, 429 for `BulkheadFull`, 504 for
//! `Elapsed`).
//!
//! # Metrics
//!
//! Every layer reports through the `metrics` facade; the full list of names,
//! types and labels is in the repository's `METRICS.md`, and each module's
//! docs have its own table.
//!
//! # Layers
//!
//! | module | layer |
//! |---|---|
//! | [`adaptive`] | [`AdaptiveConcurrencyLayer`](adaptive::AdaptiveConcurrencyLayer): a concurrency limit that adapts from latency and drops (AIMD, Vegas, Gradient2) |
//! | [`bulkhead`] | [`BulkheadLayer`](bulkhead::BulkheadLayer) (one bulkhead), [`BulkheadSetLayer`](bulkhead::BulkheadSetLayer) (named pools with priorities under a shared cap, routed per request) |
//! | [`chaos`] | [`ChaosLayer`](chaos::ChaosLayer): seeded, run-time switchable error / abort / latency injection |
//! | [`circuit_breaker`] | [`CircuitBreakerLayer`](circuit_breaker::CircuitBreakerLayer), [`KeyedCircuitBreakerLayer`](circuit_breaker::KeyedCircuitBreakerLayer) |
//! | [`classify`] | what a result means: [`ErrorIsFailure`](classify::ErrorIsFailure), `HttpClassifier` (feature `http`), closures |
//! | [`fallback`] | [`FallbackLayer`](fallback::FallbackLayer): provider A → B → cached/stale → degraded, and which step answered |
//! | [`retry`] | [`RetryLayer`](retry::RetryLayer): the core retry policy (backoff, jitter, classes, idempotency, `Retry-After`, budget) with tokio timers |
//! | [`timeout`] | [`TimeoutLayer`](timeout::TimeoutLayer) per attempt and [`DeadlineLayer`](timeout::DeadlineLayer) across retries, over `tower::timeout` |
//! | [`dead_letter`] | [`DeadLetterLayer`](dead_letter::DeadLetterLayer): rejected or exhausted work goes to the core dead-letter sink; [`Replayer`](dead_letter::Replayer) replays it when the breaker closes |
//! | [`hedge`] | [`HedgeLayer`](hedge::HedgeLayer): a second request after a fixed delay or a latency percentile, first success wins, budgeted |
//! | [`degradation`] | [`DegradationLayer`](degradation::DegradationLayer): rejects or reroutes requests whose feature is disabled at the current degradation level |
//! | [`stack`] | [`ResilienceStack`](stack::ResilienceStack): deadline → retry → breaker → bulkhead → per-attempt timeout from one serde config |
//! | [`error`] | error conventions: every layer's error is a `BoxError` holding a concrete, downcastable type |
//!
//! Every response future is a named `pin-project` type: no `Box<dyn Future>`
//! and no allocation per call on the success path.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod adaptive;
pub mod bulkhead;
pub mod chaos;
pub mod circuit_breaker;
pub mod classify;
pub mod dead_letter;
pub mod degradation;
pub mod error;
pub mod fallback;
pub mod hedge;
pub mod retry;
pub mod stack;
pub mod timeout;
