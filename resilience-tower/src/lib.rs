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
//!   └ ResilienceStack: RateLimitLayer → DeadlineLayer → RetryLayer → CircuitBreakerLayer → BulkheadLayer → TimeoutLayer
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
//! `InjectedFault`, `RateLimited` (with `retry_after`). With axum, map them to statuses in a `HandleErrorLayer`
//! (503 with `Retry-After` for `CircuitOpen`, 429 for `BulkheadFull`, 504 for
//! `Elapsed`).
//!
//! # Metrics
//!
//! Every layer reports through the `metrics` facade; the full list of names,
//! types and labels is in the repository's `METRICS.md`, and each module's
//! docs have its own table.
//!
//! # Tracing
//!
//! With feature `tracing`, each decision a layer takes on its own is a
//! `tracing` event (target: the module path); successes on the hot path emit
//! nothing. Filter on the message to alert or sample:
//!
//! | level | message | fields | from |
//! |---|---|---|---|
//! | INFO | `circuit breaker state change` | `breaker`, `from`, `to`, `reason` | breaker (core), [`circuit_breaker`] |
//! | DEBUG | `circuit breaker rejected a call` | `breaker`, `state`, `retry_after` | breaker (core), [`circuit_breaker`] |
//! | DEBUG | `rate limiter refused a call` | `limiter`, `retry_after` | [`rate_limit`] |
//! | DEBUG | `bulkhead rejected a call` | `bulkhead`, `reason`, `max_concurrent` | bulkhead (core), [`bulkhead`] |
//! | INFO | `bulkhead limit changed` | `bulkhead`, `previous`, `current` | bulkhead (core), [`adaptive`] |
//! | WARN | `degradation level changed` | `degradation`, `previous`, `current`, `overall` | degradation (core), [`degradation`] |
//! | DEBUG | `request refused by degradation level` | `degradation`, `feature`, `level`, `action` | [`degradation`] |
//! | DEBUG | `retrying` / `giving up: …` | `policy`, `attempt(s)`, `class`, `delay` / `reason` | retry policy (core), [`retry`] |
//! | WARN | `not retrying: the request could not be cloned` | | [`retry`] |
//! | DEBUG | `call cancelled: time limit elapsed` | `timeout`, `scope` | [`timeout`] |
//! | DEBUG | `hedge sent` / `hedge due but refused by the budget` | `hedge` | [`hedge`] |
//! | INFO | `fallback served the request` | `step`, `served_by`, `quality`, `failed_steps` | [`fallback`] |
//! | WARN | `fallback chain exhausted: every step failed` | `steps`, `last`, `error` | [`fallback`] |
//! | INFO / WARN | `request dead-lettered` / `dead-letter sink refused the request; returned to the caller` | `queue`, `reason` | [`dead_letter`] |
//! | INFO | `dead-letter replay finished` | counts | [`dead_letter`] |
//! | DEBUG | `chaos: fault injected` | `call`, `error`, `abort`, `delay` | [`chaos`] |
//!
//! `tests/tracing.rs` checks the breaker, bulkhead, fallback and chaos events
//! with a recording subscriber.
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
//! | [`rate_limit`] | [`RateLimitLayer`](rate_limit::RateLimitLayer): at most `rate` calls per `per`, refused at once with `RateLimited` and its `retry_after` (local GCRA limiter, or a fleet-wide one) |
//! | [`retry`] | [`RetryLayer`](retry::RetryLayer): the core retry policy (backoff, jitter, classes, idempotency, `Retry-After`, budget) with tokio timers |
//! | [`timeout`] | [`TimeoutLayer`](timeout::TimeoutLayer) per attempt and [`DeadlineLayer`](timeout::DeadlineLayer) across retries; the timer is only made for a response that is not ready at once |
//! | [`dead_letter`] | [`DeadLetterLayer`](dead_letter::DeadLetterLayer): rejected or exhausted work goes to the core dead-letter sink; [`Replayer`](dead_letter::Replayer) replays it when the breaker closes |
//! | [`hedge`] | [`HedgeLayer`](hedge::HedgeLayer): a second request after a fixed delay or a latency percentile, first success wins, budgeted |
//! | [`degradation`] | [`DegradationLayer`](degradation::DegradationLayer): rejects or reroutes requests whose feature is disabled at the current degradation level |
//! | [`stack`] | [`ResilienceStack`](stack::ResilienceStack): deadline → retry → breaker → bulkhead → per-attempt timeout from one serde config |
//! | `readiness` (feature `axum`) | `ReadinessService`: the core readiness report (degradation level, heartbeats, your checks) as a `/ready` endpoint, 200 or 503 with JSON |
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
pub mod rate_limit;
#[cfg(feature = "axum")]
pub mod readiness;
pub mod retry;
pub mod stack;
pub mod timeout;

// The README's code blocks, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
