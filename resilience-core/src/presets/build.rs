//! Shorthands the preset modules build their configs with.

use std::time::Duration;

use crate::circuit_breaker::CircuitBreakerConfig;
use crate::retry::{Backoff, BackoffKind, Jitter, RetryConfig};

pub(super) const SEC: Duration = Duration::from_secs(1);
pub(super) const MIN: Duration = Duration::from_secs(60);
pub(super) const MS: Duration = Duration::from_millis(1);

pub(super) const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Opens after `failures` consecutive failures, for `open` seconds, with
/// `half_open` trial calls.
pub(super) fn consecutive(
    name: &str,
    failures: u32,
    open: u64,
    half_open: u32,
) -> CircuitBreakerConfig {
    CircuitBreakerConfig::new()
        .name(name)
        .consecutive_failures(failures)
        .open_duration(secs(open))
        .half_open_permits(half_open)
}

/// Opens after `failures` failures within a `window`-second time window.
pub(super) fn count_in_window(
    name: &str,
    failures: u32,
    window: u64,
    open: u64,
    half_open: u32,
) -> CircuitBreakerConfig {
    CircuitBreakerConfig::new()
        .name(name)
        .time_window(secs(window))
        .failure_count_threshold(failures)
        .open_duration(secs(open))
        .half_open_permits(half_open)
}

/// "+10%": each wait is stretched by up to a tenth.
pub(super) fn plus_10_percent() -> Jitter {
    // 0.1 is a valid proportion; `Proportion::new` cannot fail on it, and a
    // fallback keeps this free of panics all the same.
    Jitter::proportional(0.1).unwrap_or(Jitter::Equal)
}

/// A schedule of `kind` with `retries` retries. The presets' numbers always
/// have `initial <= max`, which the unit tests check; on an impossible error
/// the cap is raised to `initial`.
pub(super) fn schedule(
    kind: BackoffKind,
    retries: u32,
    initial: Duration,
    max: Duration,
    jitter: Jitter,
) -> RetryConfig {
    let attempts = retries.saturating_add(1);
    let build = |max| {
        Backoff::builder(kind.clone())
            .initial(initial)
            .max(max)
            .max_attempts(attempts)
            .jitter(jitter)
            .build()
    };
    let backoff = build(max)
        .or_else(|_| build(initial))
        .unwrap_or_else(|_| Backoff::constant(initial));
    RetryConfig::new(backoff)
}

/// An exponential (base 2) schedule with `retries` retries.
pub(super) fn exponential(
    retries: u32,
    initial: Duration,
    max: Duration,
    jitter: Jitter,
) -> RetryConfig {
    schedule(BackoffKind::DOUBLING, retries, initial, max, jitter)
}
