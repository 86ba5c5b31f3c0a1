//! The workflow runtime: an API gateway and runtime engine over a metadata
//! database, a Redis cache and an LLM service, calling out to webhooks.
//!
//! ```
//! use resilience_core::degradation::DegradationManager;
//! use resilience_core::presets::workflow_runtime;
//!
//! let levels = DegradationManager::new(workflow_runtime::degradation().unwrap()).unwrap();
//! assert_eq!(levels.level().severity(), 0);
//! ```

use crate::circuit_breaker::CircuitBreakerConfig;
use crate::config::{from_yaml_str, ConfigError};
use crate::degradation::DegradationConfig;
use crate::retry::{BackoffKind, ClassSet, ErrorClass, Idempotency, Jitter, RetryConfig};

use super::build::{count_in_window, exponential, plus_10_percent, schedule, MIN, MS, SEC};

/// Metadata DB: 5 failures in 30 s, open 30 s, 3 half-open test requests.
/// Fallback: serve from the L2 cache (stale).
///
/// ```
/// let c = resilience_core::presets::workflow_runtime::metadata_db_breaker();
/// assert_eq!(c.failure_count_threshold, Some(5));
/// ```
pub fn metadata_db_breaker() -> CircuitBreakerConfig {
    count_in_window("metadata_db", 5, 30, 30, 3)
}

/// Redis cache: 10 failures in 10 s, open 10 s, 5 half-open test requests.
/// Fallback: query the DB directly.
///
/// ```
/// let c = resilience_core::presets::workflow_runtime::redis_cache_breaker();
/// assert_eq!(c.half_open_permits, 5);
/// ```
pub fn redis_cache_breaker() -> CircuitBreakerConfig {
    count_in_window("redis_cache", 10, 10, 10, 5)
}

/// LLM service: 3 failures in 60 s, open 60 s, 1 half-open test request.
/// Fallback: an error with a Retry-After header.
///
/// ```
/// let c = resilience_core::presets::workflow_runtime::llm_service_breaker();
/// assert_eq!(c.half_open_permits, 1);
/// ```
pub fn llm_service_breaker() -> CircuitBreakerConfig {
    count_in_window("llm_service", 3, 60, 60, 1)
}

/// Idempotent operations (GET, metadata reads): 3 retries, 100 ms → 2 s,
/// exponential (2x), 10% jitter, on 5xx, timeouts and connection errors.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::presets::workflow_runtime::idempotent_retry();
/// assert_eq!(c.backoff.max_attempts(), Some(4));
/// assert_eq!(c.backoff.initial(), Duration::from_millis(100));
/// assert_eq!(c.backoff.max(), Duration::from_secs(2));
/// ```
pub fn idempotent_retry() -> RetryConfig {
    let mut c = exponential(3, 100 * MS, 2 * SEC, plus_10_percent());
    c.retry_on = [
        ErrorClass::Timeout,
        ErrorClass::ConnectionReset,
        ErrorClass::ConnectFailed,
        ErrorClass::Transient,
        ErrorClass::ServerError,
    ]
    .into_iter()
    .collect();
    c
}

/// Non-idempotent operations (POST, PUT, DELETE): one retry, and only on a
/// connection error before the request was sent; never on 5xx. The runtime
/// gives no delay; 100 ms (the idempotent initial delay) is used.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::presets::workflow_runtime::non_idempotent_retry();
/// assert_eq!(c.backoff.max_attempts(), Some(2));
/// assert_eq!(c.backoff.initial(), Duration::from_millis(100));
/// assert_eq!(c.backoff.max(), Duration::from_millis(100));
/// ```
pub fn non_idempotent_retry() -> RetryConfig {
    let mut c = schedule(BackoffKind::Constant, 1, 100 * MS, 100 * MS, Jitter::None);
    c.idempotency = Idempotency::NonIdempotent;
    c.retry_on = ClassSet::empty().with(ErrorClass::ConnectFailed);
    c
}

/// Database operations: 3 retries from 50 ms, on deadlocks (`transient`),
/// lock timeouts (`timeout`) and lost connections (`connection_reset`,
/// `connect_failed`); never on constraint violations or syntax errors. The
/// runtime names no cap: three doublings from 50 ms reach 200 ms, so the cap
/// is 200 ms.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::presets::workflow_runtime::database_retry();
/// assert_eq!(c.backoff.max_attempts(), Some(4));
/// assert_eq!(c.backoff.initial(), Duration::from_millis(50));
/// assert_eq!(c.backoff.max(), Duration::from_millis(200));
/// ```
pub fn database_retry() -> RetryConfig {
    let mut c = exponential(3, 50 * MS, 200 * MS, Jitter::None);
    c.retry_on = [
        ErrorClass::Transient,
        ErrorClass::Timeout,
        ErrorClass::ConnectionReset,
        ErrorClass::ConnectFailed,
    ]
    .into_iter()
    .collect();
    c
}

/// External calls (webhooks, outbound messages): 5 retries, 1 s → 5 min,
/// exponential with (full) jitter; the runtime sends exhausted work to a
/// dead-letter queue (see [`crate::dead_letter`]).
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::presets::workflow_runtime::external_call_retry();
/// assert_eq!(c.backoff.max_attempts(), Some(6));
/// assert_eq!(c.backoff.initial(), Duration::from_secs(1));
/// assert_eq!(c.backoff.max(), Duration::from_secs(300));
/// ```
pub fn external_call_retry() -> RetryConfig {
    exponential(5, SEC, 5 * MIN, Jitter::Full)
}

/// The text of `resilience-core/presets/degradation-workflow-runtime.yaml`.
pub const DEGRADATION_YAML: &str = include_str!("../../presets/degradation-workflow-runtime.yaml");

/// Degradation: levels full operation -> AI degraded -> cache degraded ->
/// read-only -> maintenance, driven by rules (primary DB down -> read-only,
/// Redis down -> cache degraded, LLM down -> AI degraded; maintenance by
/// manual floor) ([`DEGRADATION_YAML`]). Like the runtime's
/// `determine_degradation_level()`, the level is recomputed on every
/// evaluation ([`RecoveryMode::Immediate`](crate::degradation::RecoveryMode::Immediate)):
/// the LLM back (and the DB and Redis up) is full operation at once.
/// Wire the LLM service's breaker ([`llm_service_breaker`]) to the
/// `llm_service` component with
/// [`DegradationManager::follow_breaker`](crate::degradation::DegradationManager::follow_breaker)
/// and "LLM service circuit breaker open" is AI degraded without host code.
///
/// ```
/// let c = resilience_core::presets::workflow_runtime::degradation().unwrap();
/// assert_eq!(c.rules.len(), 3);
/// ```
pub fn degradation() -> Result<DegradationConfig, ConfigError> {
    from_yaml_str(DEGRADATION_YAML)
}
