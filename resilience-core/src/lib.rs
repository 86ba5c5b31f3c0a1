//! # resilience-core
//!
//! Runtime-agnostic resilience state machines: the pieces every service
//! team otherwise rewrites by hand, with the semantics of Resilience4j and
//! Polly and none of their known sticking points. Nothing here depends on an
//! async runtime; the `resilience-tower` crate wraps these primitives as
//! tower layers with tokio timers, and most services meet them there.
//!
//! | module | what it gives you |
//! |---|---|
//! | [`circuit_breaker`] | stop calling a failing dependency; Resilience4j semantics, lock-free closed path, keyed registry |
//! | [`retry`] | backoff schedules, jitter, error classification, idempotency, retry budgets, the retry driver, per-operation retry tables |
//! | [`rate_limit`] | at most `rate` calls per `per` with bounded bursts (GCRA on one atomic word), refused at once with `retry_after`; the [`RateLimit`](rate_limit::RateLimit) trait a fleet-wide limiter implements too |
//! | [`bulkhead`] | concurrency limits with a bounded, timed wait queue; named pools with priorities under a shared cap |
//! | [`degradation`] | weighted health scores and rule triggers to degradation levels, with hysteresis and a feature x level matrix |
//! | [`slo`] | availability objectives: error budget (downtime and requests), remaining budget, burn rate, as metrics and as a degradation input |
//! | [`dead_letter`] | dead-letter sink trait, a bounded in-memory queue that never drops and replays in order, and the store contract (claims with leases, retries, parking) that durable queues implement |
//! | [`clock`] | the [`Clock`](clock::Clock) trait every time-driven primitive reads; [`ManualClock`](clock::ManualClock) for tests; [`CoarseClock`](clock::CoarseClock), time read from memory for the hottest paths |
//! | [`config`] | config conventions: serde data, human durations, [`ConfigError`](config::ConfigError) |
//! | [`events`] | typed event listeners shared by every primitive |
//! | [`readiness`] | one readiness answer (ready / degraded / not ready, with reasons) from the degradation level, the heartbeat monitor and your own checks |
//! | [`presets`] | ready configs for five reference platforms (GPU training, data platform, model registry, GPU inference, workflow runtime) |
//!
//! # Which primitive when
//!
//! | symptom | primitive | why |
//! |---|---|---|
//! | a dependency is down and every call waits for its timeout | [`CircuitBreaker`](circuit_breaker::CircuitBreaker) | fails fast with [`CircuitOpen`](circuit_breaker::CircuitOpen) and a `retry_after`, gives the dependency room, probes it back with a few trial calls |
//! | one model / worker / region fails while the others are fine | [`CircuitBreakerRegistry`](circuit_breaker::CircuitBreakerRegistry) | one breaker per key, created lazily from one config, plus an optional global breaker, bounded with idle eviction |
//! | calls fail now and then and a second try usually works | [`RetryPolicy`](retry::RetryPolicy) | backoff with jitter, retries only the classes worth retrying, never retries a non-idempotent call that may have been processed |
//! | retries multiply load during an outage | [`TokenBucketBudget`](retry::TokenBucketBudget), [`RatioBudget`](retry::RatioBudget) | one budget shared by all calls to a dependency caps the extra load retries add |
//! | a dependency allows so many calls per second (a provider quota), or your callers must not exceed one | [`RateLimiter`](rate_limit::RateLimiter) | refuses at once past `rate` per `per` (bursts up to `burst`), with a `retry_after`; lock-free, one atomic word |
//! | one slow dependency or one traffic class takes every connection | [`Bulkhead`](bulkhead::Bulkhead), [`BulkheadSet`](bulkhead::BulkheadSet) | a concurrency cap with a bounded wait; named pools with priorities that shed low priority first |
//! | the whole service is sick, not one call | [`DegradationManager`](degradation::DegradationManager) | turns component health into a level and answers "is this feature on?" with one atomic load and an array read |
//! | work that cannot be done now must not be lost | [`InMemoryDeadLetterQueue`](dead_letter::InMemoryDeadLetterQueue) or your own [`DeadLetterSink`](dead_letter::DeadLetterSink) | holds the work (or hands it back when full) and replays it in order once the dependency is back |
//!
//! # How they compose
//!
//! Around one call to one dependency, from the caller inwards:
//!
//! ```text
//! degradation gate   is the feature on at this level?            (service-wide)
//! retry              backoff + jitter + budget, deadline          (per call)
//!   circuit breaker  sees every attempt; open = fail fast         (per dependency, or per key)
//!     bulkhead       caps concurrent calls into the dependency    (per dependency)
//!       the call     with its own per-attempt timeout
//! dead letter        what the retry gave up on, or the breaker refused, waits here
//! ```
//!
//! * **Retry outside the breaker**, so the breaker counts every attempt and
//!   an open breaker stops the retries: `CircuitOpen` is the
//!   [`circuit_open`](retry::ErrorClass::CircuitOpen) class, which a policy
//!   does not retry by default, so the caller gets the breaker's refusal
//!   (and its `retry_after`) at once. A policy that lists `circuit_open` in
//!   `retry_on` waits exactly `retry_after` instead, so that the next
//!   attempt is the half-open trial, when that wait fits its deadline.
//! * **Bulkhead inside the breaker**, and its rejection recorded as
//!   *ignored*: a full bulkhead is local overload, not the dependency's
//!   failure, and must not open the breaker.
//! * **One budget and one breaker per dependency**, shared by every caller;
//!   the retry policy and the bulkhead may be per operation.
//!
//! `resilience-tower`'s `ResilienceStack` assembles exactly this order from
//! one config; the example below does it by hand with the core types, on a
//! [`ManualClock`](clock::ManualClock) so it runs instantly and the same
//! every time.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
//! use std::time::Duration;
//! use resilience_core::bulkhead::{Bulkhead, BulkheadConfig, BulkheadFull};
//! use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitOpen, CircuitState};
//! use resilience_core::clock::{Clock, ManualClock};
//! use resilience_core::retry::{
//!     Backoff, Classification, ErrorClass, RetryError, RetryPolicy, TokenBucketBudget, TokenBucketConfig,
//! };
//!
//! /// Why one attempt failed.
//! #[derive(Debug)]
//! enum Failure {
//!     Open(CircuitOpen),
//!     Full(BulkheadFull),
//!     Dependency(&'static str),
//! }
//!
//! let clock = ManualClock::new();
//! let breaker = CircuitBreaker::with_clock(
//!     CircuitBreakerConfig::new().name("inventory").consecutive_failures(3).open_duration(Duration::from_secs(30)),
//!     clock.clone(),
//! )?;
//! let bulkhead = Bulkhead::new("inventory", BulkheadConfig::new(64))?;
//! let budget = Arc::new(TokenBucketBudget::new(TokenBucketConfig::default())?);
//! let retry = RetryPolicy::builder(Backoff::exponential(Duration::from_millis(100), Duration::from_secs(2))?)
//!     .name("inventory")
//!     .max_attempts(4)
//!     .budget(budget)
//!     .clock(clock.clone())
//!     .build()?;
//!
//! // The dependency: its first two calls fail, and it fails while `down` is set.
//! let calls = AtomicU32::new(0);
//! let down = AtomicBool::new(false);
//! let dependency = || {
//!     let n = calls.fetch_add(1, Ordering::Relaxed);
//!     if n < 2 || down.load(Ordering::Relaxed) { Err("unavailable") } else { Ok(42) }
//! };
//!
//! // One attempt: breaker, then bulkhead, then the call; the outcome goes to the breaker.
//! let attempt = |_: &(), _attempt: u32| -> Result<u32, Failure> {
//!     let permit = breaker.try_acquire().map_err(Failure::Open)?;
//!     let slot = match bulkhead.try_acquire() {
//!         Ok(slot) => slot,
//!         Err(full) => {
//!             permit.record_ignored(); // local overload is not the dependency's fault
//!             return Err(Failure::Full(full));
//!         }
//!     };
//!     let result = dependency();
//!     drop(slot);
//!     match result {
//!         Ok(v) => { permit.record_success(); Ok(v) }
//!         Err(e) => { permit.record_failure(); Err(Failure::Dependency(e)) }
//!     }
//! };
//! // What each failure means to the retry policy.
//! let classify = |f: &Failure| -> Classification {
//!     match f {
//!         Failure::Open(open) => Classification::from(ErrorClass::CircuitOpen).with_retry_after(open.retry_after()),
//!         Failure::Full(_) | Failure::Dependency(_) => ErrorClass::Transient.into(),
//!     }
//! };
//! let sleep = |wait: Duration| clock.advance(wait); // a test's sleep; production passes std::thread::sleep
//!
//! // Two failures, then success: the caller sees 42, 300 ms later.
//! let start = clock.now();
//! let value = retry.run_blocking_with(&classify, &mut (), &attempt, |_, _| {}, sleep);
//! assert_eq!(value.ok(), Some(42));
//! assert_eq!(clock.now() - start, Duration::from_millis(300)); // waited 100 ms, then 200 ms
//! assert_eq!(breaker.state(), CircuitState::Closed);
//!
//! // Down for good: three failed attempts open the breaker, so the fourth
//! // never reaches the dependency and fails fast (an open breaker is not
//! // retried), and the caller gets the attempts and the refusal back.
//! down.store(true, Ordering::Relaxed);
//! match retry.run_blocking_with(&classify, &mut (), &attempt, |_, _| {}, sleep) {
//!     Err(RetryError::NotRetryable { attempts: 4, class: ErrorClass::CircuitOpen, last: Failure::Open(open) }) => {
//!         assert_eq!(open.retry_after(), Duration::from_secs(30) - Duration::from_millis(400));
//!     }
//!     other => panic!("{other:?}"),
//! }
//! assert_eq!(calls.load(Ordering::Relaxed), 6); // 3 + 3: the open breaker spared the dependency
//! assert_eq!(breaker.state(), CircuitState::Open);
//! # Ok::<(), resilience_core::config::ConfigError>(())
//! ```
//!
//! # Clocks and testing
//!
//! Every time-driven primitive (open durations, time windows, half-open
//! waits, retry deadlines, budgets, bulkhead wait times, degradation
//! hysteresis) reads time through a [`Clock`](clock::Clock), never
//! `Instant::now()` directly. Production uses
//! [`SystemClock`](clock::SystemClock), the default of every `new`
//! constructor; tests pass a [`ManualClock`](clock::ManualClock) to the
//! `with_clock` constructor and move time with
//! [`advance`](clock::ManualClock::advance): a breaker's thirty-second open
//! period passes in one call, deterministically, without sleeping.
//!
//! ```
//! use std::time::Duration;
//! use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitState};
//! use resilience_core::clock::ManualClock;
//!
//! let clock = ManualClock::new();
//! let breaker = CircuitBreaker::with_clock(
//!     CircuitBreakerConfig::new().consecutive_failures(1).open_duration(Duration::from_secs(30)),
//!     clock.clone(),
//! )
//! .unwrap();
//! breaker.try_acquire().unwrap().record_failure();
//! assert_eq!(breaker.try_acquire().unwrap_err().retry_after(), Duration::from_secs(30));
//! clock.advance(Duration::from_secs(30));
//! assert_eq!(breaker.state(), CircuitState::HalfOpen);
//! ```
//!
//! Waiting (a bulkhead queue, the async retry driver) takes the sleep
//! function from the caller, so core never depends on tokio: pass
//! `tokio::time::sleep` and a test under `tokio::time::pause()` runs
//! instantly too. The tower layers use tokio's timers throughout.
//!
//! # Configuration and presets
//!
//! Every config is plain serde data (YAML or JSON through
//! [`config::from_yaml_str`] / [`config::from_json_str`], durations as
//! `"30s"` or `"250ms"`, unknown fields refused) with a builder for code.
//! Constructors validate and return [`ConfigError`](config::ConfigError)
//! naming the bad field; no config, however wrong, makes them panic. Build
//! everything at startup so a bad file stops the deploy, not the first
//! request:
//!
//! ```
//! use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
//!
//! let err = CircuitBreaker::new(CircuitBreakerConfig::new().failure_rate_threshold(1.5)).unwrap_err();
//! assert_eq!(err.field(), Some("failure_rate_threshold"));
//! ```
//!
//! Ready configs for five reference platforms ship in [`presets`], one
//! module per platform, both as constructors and as YAML files under
//! `presets/`: breakers ([`presets::gpu_inference::per_model_breaker`],
//! [`presets::synthetic_data::object_storage_breaker`], ...), retry
//! schedules (a [`RetryTable`](retry::RetryTable) of training jobs, DB
//! transactions, LLM inference, CDC events, ...), bulkhead pools
//! ([`presets::model_registry::bulkheads`]: dashboard / api / internal) and
//! degradation levels with their feature matrices.
//!
//! # Events and metrics
//!
//! Each primitive publishes typed events (state transitions, outcomes,
//! rejections, level changes) to its [`Listeners`](events::Listeners):
//! register a closure to alert or log. Listeners run on the calling thread
//! and must be quick; with none registered an event costs one relaxed atomic
//! load.
//!
//! Independently, every primitive reports through the
//! [`metrics`](https://docs.rs/metrics) facade under stable names prefixed
//! `resilience_<primitive>_` (`_total` for counters, `_seconds` for
//! durations), labelled with the primitive's name. Handles are registered
//! when a primitive is built, so install your recorder (for example
//! `metrics-exporter-prometheus`) first. Each module's docs have its table;
//! the repository's `METRICS.md` lists them all.
//!
//! # Features
//!
//! | feature | enables |
//! |---|---|
//! | `tracing` | `tracing` events for state changes |
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod bulkhead;
pub mod circuit_breaker;
pub mod clock;
pub mod config;
pub mod dead_letter;
pub mod degradation;
pub mod events;
pub mod presets;
pub mod rate_limit;
pub mod readiness;
pub mod retry;
pub mod slo;
mod thread_slot;

pub use rand;

// The README's code blocks, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
