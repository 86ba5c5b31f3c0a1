//! # resilience
//!
//! Reliability machinery for Rust services, as one dependency with one cargo
//! feature per crate: circuit breakers, retry with backoff, jitter and
//! budgets, bulkheads, degradation, fallback, hedging and adaptive
//! concurrency as [tower](https://docs.rs/tower) layers; autoscaling policy
//! evaluators; failover primitives.
//!
//! The package is `resilience-kit` on the registry; its library is named
//! `resilience`, so code says `use resilience::…`.
//!
//! | feature | crate | re-exported as | start with |
//! |---|---|---|---|
//! | `core` (default) | `resilience-core` | the root: [`circuit_breaker`], [`retry`], [`bulkhead`], [`rate_limit`], [`degradation`], [`dead_letter`], [`clock`], [`config`], [`events`] | `resilience-core`'s guide: which primitive when, how they compose, clocks and testing |
//! | `tower` | `resilience-tower` | `layers` | `layers::stack::ResilienceStack`: the recommended layer order from one config |
//! | `http` | `resilience-tower/http` | | `layers::stack::ResilienceStack::http`: status codes, `Retry-After`, idempotent methods |
//! | `axum` | `resilience-tower/axum` | | `layers::error::handle_error`: every error as its HTTP answer (503 + `Retry-After`, 429, 504) |
//! | `scaling` | `resilience-scaling` | `scaling` | `scaling::hpa::Hpa` or `scaling::rules::RuleEngine`, and the simulator |
//! | `dr` | `resilience-dr` | `dr` | `dr::health`, `dr::lease::LeaderElector`, `dr::failover::Orchestrator` |
//! | `dr-etcd` | `resilience-dr/etcd` | | the etcd lease backend (needs `protoc` to build) |
//! | `dr-postgres` | `resilience-dr/postgres` | | the PostgreSQL lease backend and failover helpers |
//! | `store-postgres` | `resilience-store/postgres` | `store` | `store::dead_letter::postgres::PostgresDeadLetterStore`: dead letters that survive a crash, in a PostgreSQL table |
//! | `store-redis` | `resilience-store/redis` | `store` | `store::dead_letter::redis::RedisDeadLetterStore`: dead letters in Redis Streams with AOF; `store::fleet`: retry budgets, rate limits and breaker state shared by a fleet of replicas on Redis |
//! | `store-etcd` | `resilience-store/etcd` | `store` | `store::fleet::etcd::EtcdFleetStore`: the fleet's budgets and breaker state on etcd (needs `protoc` to build) |
//! | `fleet-stack` | `resilience-store/tower` + `redis` | `store` | `store::fleet::stack::FleetStackConfig`: a whole stack from one YAML with `scope: fleet` on its retry budget and breaker (local-only services need only `tower`) |
//! | `full` | all of the above but the engines | | |
//!
//! Each crate is also usable alone; the facade adds nothing but the
//! re-exports, so `resilience::circuit_breaker::CircuitBreaker` and
//! `resilience_core::circuit_breaker::CircuitBreaker` are the same type.
//! No module of the facade is named after a crate you import beside it
//! (`tower`, `core`): `resilience::layers` is the tower crate.
//!
//! ```
//! use std::time::Duration;
//! use resilience::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitState};
//! use resilience::clock::ManualClock;
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
//! # Ok::<(), resilience::config::ConfigError>(())
//! ```
//!
//! # Conventions across the suite
//!
//! * **Config is data.** Every config is serde (YAML or JSON, durations as
//!   `"30s"`, unknown fields refused) and is validated by a constructor that
//!   returns a `ConfigError` naming the bad field; no input makes a
//!   constructor panic. Build everything at startup.
//! * **Time is pluggable.** Every time-driven state machine reads a
//!   [`Clock`](clock::Clock): `new(config)` uses the system clock,
//!   `with_clock(config, clock)` takes any `impl Clock` — a
//!   [`ManualClock`](clock::ManualClock) that tests advance by hand, or
//!   `TokioClock` (feature `tower`) that follows `tokio::time::pause()`.
//!   Tests never sleep.
//! * **Errors keep their cause.** `CircuitOpen { retry_after }`,
//!   `BulkheadFull`, `RetriesExhausted { attempts, last }`: typed, with the
//!   original error inside; through tower they travel as a `BoxError`, and
//!   `layers::error::ErrorKind::of` says which of them it is, however deep.
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
pub use resilience_core::*;

#[cfg(feature = "tower")]
#[doc(inline)]
pub use resilience_tower as layers;

#[cfg(feature = "scaling")]
#[doc(inline)]
pub use resilience_scaling as scaling;

#[cfg(feature = "dr")]
#[doc(inline)]
pub use resilience_dr as dr;

#[cfg(any(
    feature = "store-postgres",
    feature = "store-redis",
    feature = "store-etcd"
))]
#[doc(inline)]
pub use resilience_store as store;

/// The core crate under its former facade name; its modules are now at the
/// root of the facade (`resilience::circuit_breaker`, …).
#[cfg(feature = "core")]
#[deprecated(
    since = "0.1.1",
    note = "the core modules are at the facade's root now: `resilience::circuit_breaker`, `resilience::retry`, …"
)]
#[doc(hidden)]
pub mod core {
    pub use resilience_core::*;
}

/// The tower crate under its former facade name, which shadowed the
/// `tower` crate in users' imports.
#[cfg(feature = "tower")]
#[deprecated(since = "0.1.1", note = "renamed to `resilience::layers`")]
#[doc(hidden)]
pub mod tower {
    pub use resilience_tower::*;
}

// The README's code blocks, compiled and run as doc tests (they use the
// `tower` feature; `scripts/test.sh` runs doc tests with every feature).
#[cfg(all(doctest, feature = "tower"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
