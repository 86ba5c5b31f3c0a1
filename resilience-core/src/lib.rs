//! # resilience-core
//!
//! Runtime-agnostic resilience state machines: the pieces every service
//! team otherwise rewrites by hand, with the semantics of Resilience4j and
//! Polly and none of their known sticking points.
//!
//! | module | what it gives you |
//! |---|---|
//! | [`clock`] | the [`Clock`](clock::Clock) trait every time-driven primitive reads; [`ManualClock`](clock::ManualClock) for tests |
//! | [`config`] | config conventions: serde data, human durations, [`ConfigError`](config::ConfigError) |
//! | [`events`] | typed event listeners shared by every primitive |
//! | [`retry`] | backoff schedules, jitter, error classification, idempotency, retry budgets, the retry driver and the seeds' per-operation presets |
//! | [`dead_letter`] | dead-letter sink trait and a bounded in-memory queue that never drops and replays in order |
//!
//! Nothing here depends on an async runtime: the `resilience-tower` crate
//! wraps these primitives as tower layers with tokio timers.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod clock;
pub mod config;
pub mod dead_letter;
pub mod events;
pub mod retry;

pub use rand;
