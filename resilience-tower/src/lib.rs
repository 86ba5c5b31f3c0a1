//! # resilience-tower
//!
//! The `resilience-core` primitives as [tower](https://docs.rs/tower)
//! layers, for axum, tonic and hyper services.
//!
//! | module | layer |
//! |---|---|
//! | [`adaptive`] | [`AdaptiveConcurrencyLayer`](adaptive::AdaptiveConcurrencyLayer): a concurrency limit that adapts from latency and drops (AIMD, Vegas, Gradient2) |
//! | [`bulkhead`] | [`BulkheadLayer`](bulkhead::BulkheadLayer) (one bulkhead), [`BulkheadSetLayer`](bulkhead::BulkheadSetLayer) (named pools with priorities under a shared cap, routed per request) |
//! | [`chaos`] | [`ChaosLayer`](chaos::ChaosLayer): seeded, run-time switchable error / abort / latency injection |
//! | [`circuit_breaker`] | [`CircuitBreakerLayer`](circuit_breaker::CircuitBreakerLayer), [`KeyedCircuitBreakerLayer`](circuit_breaker::KeyedCircuitBreakerLayer) |
//! | [`classify`] | what a result means: [`ErrorIsFailure`](classify::ErrorIsFailure), `HttpClassifier` (feature `http`), closures |
//! | [`degradation`] | [`DegradationLayer`](degradation::DegradationLayer): rejects or reroutes requests whose feature is disabled at the current degradation level |
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
pub mod degradation;
pub mod error;
