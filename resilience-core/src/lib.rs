//! # resilience-core
//!
//! Runtime-agnostic resilience state machines: the pieces every service
//! team otherwise rewrites by hand, with the semantics of Resilience4j and
//! Polly and none of their known sticking points.
//!
//! | module | what it gives you |
//! |---|---|
//! | [`circuit_breaker`] | stop calling a failing dependency; Resilience4j semantics, lock-free closed path, keyed registry, the seeds' presets |
//! | [`clock`] | the [`Clock`](clock::Clock) trait every time-driven primitive reads; [`ManualClock`](clock::ManualClock) for tests |
//! | [`config`] | config conventions: serde data, human durations, [`ConfigError`](config::ConfigError) |
//! | [`events`] | typed event listeners shared by every primitive |
//! | [`retry`] | backoff schedules, jitter, error classification, idempotency, retry budgets, the retry driver and the seeds' per-operation presets |
//! | [`dead_letter`] | dead-letter sink trait and a bounded in-memory queue that never drops and replays in order |
//! | [`bulkhead`] | concurrency limits with a bounded, timed wait queue; named pools with priorities under a shared cap |
//! | [`degradation`] | weighted health scores and rule triggers to degradation levels, with hysteresis and a feature x level matrix |
//!
//! Nothing here depends on an async runtime: the `resilience-tower` crate
//! wraps these primitives as tower layers with tokio timers.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod bulkhead;
pub mod circuit_breaker;
pub mod clock;
pub mod config;
pub mod dead_letter;
pub mod degradation;
pub mod events;
pub mod retry;

pub use rand;

mod padded;
pub(crate) use padded::CachePadded;
