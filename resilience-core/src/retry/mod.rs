//! Retry with backoff, jitter, classification, idempotency and budgets.
//!
//! The pieces, each usable alone:
//!
//! | piece | what it does |
//! |---|---|
//! | [`Backoff`] | the delay schedule: constant, linear, exponential (any base ≥ 1) or a custom function of the retry number; initial delay, cap, optional attempt limit |
//! | [`Jitter`] | randomises each delay: none, full, equal, proportional (+p%), decorrelated |
//! | [`ErrorClass`], [`Classifier`], [`HttpStatusClassifier`], [`IoClassifier`] | decide per failure: retry, fail fast, or retry after a given delay (`Retry-After`) |
//! | [`Idempotency`] | non-idempotent calls are only retried when the request provably never left |
//! | [`RetryBudget`] ([`TokenBucketBudget`], [`RatioBudget`]) | caps the extra load retries add across all calls |
//! | [`RetryPolicy`] + [`RetryState`] | the runtime-agnostic decision engine (no allocation per call), plus [`run`](RetryPolicy::run) / [`run_blocking`](RetryPolicy::run_blocking) drivers |
//! | [`RetryTable`] | named configs, e.g. a per-operation table loaded from YAML (ready tables: [`crate::presets`]) |
//!
//! ```
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     let mut f = std::pin::pin!(f);
//! #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
//! #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
//! # }
//! use std::time::Duration;
//! use resilience_core::retry::{RetryError, RetryPolicy, HttpStatusClassifier, Classification, ErrorClass};
//! use std::sync::Arc;
//! use resilience_core::clock::SystemClock;
//! use resilience_core::presets::data_platform;
//!
//! // The data platform's LLM-inference schedule: 3 retries, 1s → 30s, exponential, +10%.
//! let policy = RetryPolicy::from_config("llm", &data_platform::llm_inference_retry(), SystemClock).unwrap();
//!
//! #[derive(Debug)]
//! struct Status(u16);
//! let http = HttpStatusClassifier::new();
//! let classify = |s: &Status| -> Classification {
//!     http.classify(s.0, None, std::time::SystemTime::now()).unwrap_or(ErrorClass::Permanent.into())
//! };
//! // A 400 fails fast: no retry, the original error comes back.
//! let out: Result<(), _> = block_on(policy.run(&classify, |_| async { Err(Status(400)) }, |_d| async {}));
//! match out {
//!     Err(RetryError::NotRetryable { attempts: 1, last: Status(400), .. }) => {}
//!     other => panic!("{other:?}"),
//! }
//! ```
//!
//! # Reading a retry table
//!
//! Retry tables say "Max Retries: 3, Initial Delay: 1s"; pseudo-code loops
//! read such numbers in different ways. This library reads them one way,
//! everywhere (every preset in [`crate::presets`] and its YAML file):
//!
//! * **"N retries" = N + 1 attempts.** A retry is an attempt after the
//!   first, so `max_attempts` = retries + 1: "3 retries" is 4 calls in all
//!   and 3 waits. [`Backoff::max_attempts`] counts attempts, the first
//!   included.
//! * **The initial (base) delay is the first wait.** The wait before retry
//!   `n` (from 1) is `initial · base^(n-1)`, capped at `max`: "1 s,
//!   exponential" waits 1 s, 2 s, 4 s. Where a platform gives only a
//!   formula and no base delay, the first wait is the formula's value for
//!   retry 1.
//! * **Jitter comes after the schedule** and never exceeds `max`.
//!
//! ```
//! use std::time::Duration;
//! let api = resilience_core::presets::synthetic_data::api_call_retry(); // "3 retries, 1 s -> 10 s"
//! assert_eq!(api.backoff.max_attempts(), Some(4));
//! assert_eq!(
//!     api.backoff.delays().collect::<Vec<_>>(),
//!     [Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(4)]
//! );
//! ```
//!
//! # Which jitter to pick
//!
//! Without jitter, clients that failed at the same moment (because the same
//! dependency hiccupped) retry at the same moments too, and keep hitting it
//! in synchronised waves: the thundering herd. Jitter spreads them out.
//!
//! | jitter | delay range (`d` = scheduled delay) | mean | pick it when |
//! |---|---|---|---|
//! | `none` | exactly `d` | `d` | a single client, tests, or a schedule that must be exact |
//! | `full` | `[0, d]` | `d/2` | **the default choice for many clients**: the least contention and the least total work (AWS's analysis), at the price of sometimes retrying almost at once |
//! | `equal` | `[d/2, d]` | `3d/4` | you want spreading but also a guaranteed minimum wait (the synthetic-data platform's training jobs) |
//! | `proportional(p)` | `[d, d·(1+p)]` | `d·(1+p/2)` | the schedule's waits are minimums you must respect (rate limits, a "+10%" in a retry table); spreads the least |
//! | `decorrelated` | `[initial, min(max, 3·prev)]` | grows ≈ 1.5× per retry | like full, but each wait grows from the last random one instead of a fixed schedule (AWS's "decorrelated jitter"); good for long-running retry loops |
//!
//! Every jittered delay is capped at the backoff's `max`, so
//! `proportional` at the cap adds nothing (the cap is a promise). All
//! sampling takes the caller's RNG; an RNG with a fixed seed value reproduces a sequence
//! exactly. A policy given a `jitter_seed` jitters every call from a
//! [`JitterRng`] stream of that seed value, so the same `jitter_seed` gives the same delays
//! (simulations, chaos experiments, tests).
//!
//! # Configuration and validation
//!
//! Everything is serde data with human durations. A [`Backoff`] is
//! validated while it is deserialised (serde `try_from` a raw form): a bad
//! schedule (`base` below 1, `initial` above `max`, a `proportional` jitter
//! outside `[0, 1]` or NaN, `max_attempts: 0`, a field that does not apply
//! to the kind, an unknown field) fails to parse, with a message naming the
//! field, so a `Backoff` value is always usable. The rest of a
//! [`RetryConfig`] (deadline, budget) is checked by
//! [`RetryPolicy::from_config`], which returns
//! [`ConfigError`](crate::config::ConfigError) naming the field. Builders
//! validate in `build()`.
//!
//! # Budgets
//!
//! Per-call limits do not stop a retry storm: when a dependency fails, every
//! caller retries at once. Share one [`RetryBudget`] among all calls to a
//! dependency: [`TokenBucketBudget`] (AWS) stops retries once failures have
//! drained it and refills on success; [`RatioBudget`] (Finagle) keeps
//! retries under a fixed share of recent calls. A refused retry fails fast
//! with [`RetryError::RetryBudgetExhausted`].
//!
//! # Metrics
//!
//! Registered once per policy (label `policy` = its name):
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `resilience_retry_calls_total` | counter | `policy`, `result` | finished calls by result: `success`, `success_after_retry`, `not_retryable`, `not_idempotent`, `exhausted`, `deadline_exceeded`, `budget_exhausted`, `retry_after_too_long` |
//! | `resilience_retry_retries_total` | counter | `policy`, `class` | retries scheduled, by the failure's [`ErrorClass`] |
//! | `resilience_retry_budget_exhausted_total` | counter | `policy` | retries refused by the budget |
//! | `resilience_retry_delay_seconds` | histogram | `policy` | waits before retries |
//! | `resilience_retry_attempts` | histogram | `policy` | attempts per finished call |
//!
//! Events ([`RetryEvent`]: retry, success, gave up) go to the policy's
//! [`listeners`](RetryPolicy::listeners).

mod backoff;
mod budget;
mod classify;
mod jitter;
mod policy;
#[doc(hidden)]
pub mod presets;
mod run;
mod table;

pub use backoff::{Backoff, BackoffBuilder, BackoffKind, CustomDelay, Delays};
pub use budget::{
    BudgetConfig, RatioBudget, RatioBudgetConfig, RetryBudget, TokenBucketBudget,
    TokenBucketConfig, Withdrawal,
};
#[allow(deprecated)]
pub use classify::Classify;
pub use classify::{
    parse_retry_after, ClassSet, Classification, Classifier, ClassifyError, DefaultClassifier,
    ErrorClass, HttpStatusClassifier, Idempotency, IoClassifier,
};
pub use jitter::{Jitter, JitterRng, Proportion};
pub use policy::{
    GiveUpReason, RetryConfig, RetryDecision, RetryEvent, RetryPolicy, RetryPolicyBuilder,
    RetryState, DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_RETRY_AFTER,
};
pub use run::{RetryAttempt, RetryError};
pub use table::RetryTable;
