//! # resilience-tower
//!
//! The `resilience-core` primitives as [tower](https://docs.rs/tower)
//! layers, for axum, tonic and hyper services.
//!
//! | module | layer |
//! |---|---|
//! | [`chaos`] | [`ChaosLayer`](chaos::ChaosLayer): seeded, run-time switchable error / abort / latency injection |
//! | [`circuit_breaker`] | [`CircuitBreakerLayer`](circuit_breaker::CircuitBreakerLayer), [`KeyedCircuitBreakerLayer`](circuit_breaker::KeyedCircuitBreakerLayer) |
//! | [`classify`] | what a result means: [`ErrorIsFailure`](classify::ErrorIsFailure), `HttpClassifier` (feature `http`), closures |
//! | [`fallback`] | [`FallbackLayer`](fallback::FallbackLayer): provider A → B → cached/stale → degraded, and which step answered |
//! | [`retry`] | [`RetryLayer`](retry::RetryLayer): the core retry policy (backoff, jitter, classes, idempotency, `Retry-After`, budget) with tokio timers |
//! | [`timeout`] | [`TimeoutLayer`](timeout::TimeoutLayer) per attempt and [`DeadlineLayer`](timeout::DeadlineLayer) across retries, over `tower::timeout` |
//! | [`dead_letter`] | [`DeadLetterLayer`](dead_letter::DeadLetterLayer): rejected or exhausted work goes to the core dead-letter sink; [`Replayer`](dead_letter::Replayer) replays it when the breaker closes |
//! | [`hedge`] | [`HedgeLayer`](hedge::HedgeLayer): a second request after a fixed delay or a latency percentile, first success wins, budgeted |
//! | [`error`] | error conventions: every layer's error is a `BoxError` holding a concrete, downcastable type |
//!
//! Every response future is a named `pin-project` type: no `Box<dyn Future>`
//! and no allocation per call on the success path.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod chaos;
pub mod circuit_breaker;
pub mod classify;
pub mod dead_letter;
pub mod error;
pub mod fallback;
pub mod hedge;
pub mod retry;
pub mod timeout;
