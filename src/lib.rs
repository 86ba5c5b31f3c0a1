//! # resilience
//!
//! Reliability machinery for Rust services, as one dependency with one cargo
//! feature per crate: circuit breakers, retry with backoff, jitter and
//! budgets, bulkheads, degradation, fallback, hedging and adaptive
//! concurrency as [tower](https://docs.rs/tower) layers; autoscaling policy
//! evaluators; failover primitives.
//!
//! | feature | crate | re-exported as | start with |
//! |---|---|---|---|
//! | `core` (default) | `resilience-core` | [`core`] | its guide: which primitive when, how they compose, clocks and testing |
//! | `tower` | `resilience-tower` | `tower` | `tower::stack::ResilienceStack`: the recommended layer order from one config |
//! | `scaling` | `resilience-scaling` | `scaling` | `scaling::hpa::Hpa` or `scaling::rules::RuleEngine`, and the simulator |
//! | `dr` | `resilience-dr` | `dr` | `dr::health`, `dr::lease::LeaderElector`, `dr::failover::Orchestrator` |
//! | `dr-etcd` | `resilience-dr/etcd` | | the etcd lease backend (needs `protoc` to build) |
//! | `dr-postgres` | `resilience-dr/postgres` | | the PostgreSQL lease backend and failover helpers |
//! | `full` | all four crates | | |
//!
//! Each crate is also usable alone; the facade adds nothing but the
//! re-exports, so `resilience::core::circuit_breaker::CircuitBreaker` and
//! `resilience_core::circuit_breaker::CircuitBreaker` are the same type.
//!
//! ```
//! use std::time::Duration;
//! use resilience::core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitState};
//! use resilience::core::clock::ManualClock;
//!
//! let clock = ManualClock::new(); // tests move time by hand; production uses `CircuitBreaker::new`
//! let breaker = CircuitBreaker::with_clock(
//!     CircuitBreakerConfig::new().name("payments").consecutive_failures(3).open_duration(Duration::from_secs(30)),
//!     clock.clone(),
//! )?;
//! for _ in 0..3 {
//!     breaker.try_acquire().expect("closed").record_failure();
//! }
//! let open = breaker.try_acquire().unwrap_err(); // fail fast, and say for how long
//! assert_eq!(open.retry_after(), Duration::from_secs(30));
//! clock.advance(Duration::from_secs(30));
//! assert_eq!(breaker.state(), CircuitState::HalfOpen); // the next calls are trials
//! # Ok::<(), resilience::core::config::ConfigError>(())
//! ```
//!
//! # Conventions across the suite
//!
//! * **Config is data.** Every config is serde (YAML or JSON, durations as
//!   `"30s"`, unknown fields refused) and is validated by a constructor that
//!   returns a `ConfigError` naming the bad field; no input makes a
//!   constructor panic. Build everything at startup.
//! * **Time is pluggable.** Every time-driven state machine reads a
//!   `Clock`; tests use `ManualClock` or tokio's paused clock and never
//!   sleep.
//! * **Errors keep their cause.** `CircuitOpen { retry_after }`,
//!   `BulkheadFull`, `RetriesExhausted { attempts, last }`: typed, with the
//!   original error inside; through tower they travel as a `BoxError` you can
//!   downcast.
//! * **Observable.** Typed events to registered listeners, and the `metrics`
//!   facade under stable `resilience_*` names (the repository's
//!   `METRICS.md` lists them all; install the recorder before building the
//!   primitives).
//!
//! The repository's README has the production checklist (what to monitor,
//! alert suggestions, recommended layer order and why) and a tour of the
//! runnable examples, starting with `cargo run --example gateway`.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

#[cfg(feature = "core")]
#[doc(inline)]
pub use resilience_core as core;

#[cfg(feature = "tower")]
#[doc(inline)]
pub use resilience_tower as tower;

#[cfg(feature = "scaling")]
#[doc(inline)]
pub use resilience_scaling as scaling;

#[cfg(feature = "dr")]
#[doc(inline)]
pub use resilience_dr as dr;

// The README's code blocks, compiled and run as doc tests (they use the
// `tower` feature; `scripts/test.sh` runs doc tests with every feature).
#[cfg(all(doctest, feature = "tower"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
