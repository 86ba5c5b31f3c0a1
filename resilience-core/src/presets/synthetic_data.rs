//! The GPU training and synthetic-data generation platform: training jobs
//! and generation batches on a GPU cluster, a quality service checking the
//! output, object storage for datasets and models.
//!
//! ```
//! use resilience_core::circuit_breaker::CircuitBreaker;
//! use resilience_core::presets::synthetic_data;
//!
//! let storage = CircuitBreaker::new(synthetic_data::object_storage_breaker()).unwrap();
//! assert_eq!(storage.name(), "object_storage");
//! assert_eq!(storage.config().consecutive_failures, Some(5));
//! ```

use crate::circuit_breaker::CircuitBreakerConfig;
use crate::config::{from_yaml_str, ConfigError};
use crate::degradation::DegradationConfig;
use crate::retry::{BackoffKind, ErrorClass, Jitter, RetryConfig};

use super::build::{consecutive, exponential, schedule, MIN, MS, SEC};

/// The generic breaker of the platform's pseudo-code: 5 consecutive
/// failures, 30 s reset timeout, 3 half-open requests (all must succeed).
///
/// ```
/// let c = resilience_core::presets::synthetic_data::standard_breaker();
/// assert_eq!((c.consecutive_failures, c.half_open_permits), (Some(5), 3));
/// ```
pub fn standard_breaker() -> CircuitBreakerConfig {
    consecutive("standard", 5, 30, 3)
}

/// GPU cluster: 3 failures, 60 s. The platform's fallback: queue the job,
/// use the spot pool.
///
/// ```
/// let c = resilience_core::presets::synthetic_data::gpu_cluster_breaker();
/// assert_eq!(c.open_duration, std::time::Duration::from_secs(60));
/// ```
pub fn gpu_cluster_breaker() -> CircuitBreakerConfig {
    consecutive("gpu_cluster", 3, 60, 3)
}

/// Object storage: 5 failures, 30 s. Fallback: return the cached copy if
/// available.
///
/// ```
/// let c = resilience_core::presets::synthetic_data::object_storage_breaker();
/// assert_eq!(c.consecutive_failures, Some(5));
/// ```
pub fn object_storage_breaker() -> CircuitBreakerConfig {
    consecutive("object_storage", 5, 30, 3)
}

/// Quality service: 3 failures, 45 s. Fallback: skip quality, warn the user.
///
/// ```
/// let c = resilience_core::presets::synthetic_data::quality_service_breaker();
/// assert_eq!(c.open_duration, std::time::Duration::from_secs(45));
/// ```
pub fn quality_service_breaker() -> CircuitBreakerConfig {
    consecutive("quality_service", 3, 45, 3)
}

/// Notification service: 10 failures, 120 s. Fallback: queue for retry.
///
/// ```
/// let c = resilience_core::presets::synthetic_data::notification_service_breaker();
/// assert_eq!(c.consecutive_failures, Some(10));
/// ```
pub fn notification_service_breaker() -> CircuitBreakerConfig {
    consecutive("notification_service", 10, 120, 3)
}

/// Training job: 3 retries, 1 min → 15 min, exponential with (equal)
/// jitter: 1 min, 2 min, 4 min before jitter.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::presets::synthetic_data::training_job_retry();
/// assert_eq!(c.backoff.max_attempts(), Some(4));
/// assert_eq!(c.backoff.initial(), Duration::from_secs(60));
/// assert_eq!(c.backoff.max(), Duration::from_secs(900));
/// ```
pub fn training_job_retry() -> RetryConfig {
    exponential(3, MIN, 15 * MIN, Jitter::Equal)
}

/// Generation batch: 2 retries, 30 s → 2 min, exponential.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::presets::synthetic_data::generation_batch_retry();
/// assert_eq!(c.backoff.max_attempts(), Some(3));
/// assert_eq!(c.backoff.initial(), Duration::from_secs(30));
/// assert_eq!(c.backoff.max(), Duration::from_secs(120));
/// ```
pub fn generation_batch_retry() -> RetryConfig {
    exponential(2, 30 * SEC, 2 * MIN, Jitter::None)
}

/// Quality check: 2 retries, 1 min → 5 min, exponential.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::presets::synthetic_data::quality_check_retry();
/// assert_eq!(c.backoff.max_attempts(), Some(3));
/// assert_eq!(c.backoff.initial(), Duration::from_secs(60));
/// assert_eq!(c.backoff.max(), Duration::from_secs(300));
/// ```
pub fn quality_check_retry() -> RetryConfig {
    exponential(2, MIN, 5 * MIN, Jitter::None)
}

/// API calls: 3 retries, 1 s → 10 s, exponential.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::presets::synthetic_data::api_call_retry();
/// assert_eq!(c.backoff.max_attempts(), Some(4));
/// assert_eq!(c.backoff.initial(), Duration::from_secs(1));
/// assert_eq!(c.backoff.max(), Duration::from_secs(10));
/// ```
pub fn api_call_retry() -> RetryConfig {
    exponential(3, SEC, 10 * SEC, Jitter::None)
}

/// DB transactions: 3 retries, 100 ms → 1 s, exponential.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::presets::synthetic_data::db_transaction_retry();
/// assert_eq!(c.backoff.max_attempts(), Some(4));
/// assert_eq!(c.backoff.initial(), Duration::from_millis(100));
/// assert_eq!(c.backoff.max(), Duration::from_secs(1));
/// ```
pub fn db_transaction_retry() -> RetryConfig {
    exponential(3, 100 * MS, SEC, Jitter::None)
}

/// Model load: 2 retries, 5 s → 30 s, linear (5 s, 10 s).
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::presets::synthetic_data::model_load_retry();
/// assert_eq!(c.backoff.max_attempts(), Some(3));
/// assert_eq!(c.backoff.initial(), Duration::from_secs(5));
/// assert_eq!(c.backoff.max(), Duration::from_secs(30));
/// ```
pub fn model_load_retry() -> RetryConfig {
    schedule(
        BackoffKind::Linear { step: 5 * SEC },
        2,
        5 * SEC,
        30 * SEC,
        Jitter::None,
    )
}

/// The platform's `RetryWithBackoff` defaults: 3 retries, 1 s → 60 s, base
/// 2, jitter `delay * (0.5 + random * 0.5)` (equal), retrying timeouts,
/// transient errors and rate limiting.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::presets::synthetic_data::default_retry();
/// assert_eq!(c.backoff.max_attempts(), Some(4));
/// assert_eq!(c.backoff.initial(), Duration::from_secs(1));
/// assert_eq!(c.backoff.max(), Duration::from_secs(60));
/// ```
pub fn default_retry() -> RetryConfig {
    let mut c = exponential(3, SEC, 60 * SEC, Jitter::Equal);
    c.retry_on = [
        ErrorClass::Timeout,
        ErrorClass::Transient,
        ErrorClass::RateLimited,
    ]
    .into_iter()
    .collect();
    c
}

/// The text of `resilience-core/presets/degradation-synthetic-data-platform.yaml`.
pub const DEGRADATION_YAML: &str =
    include_str!("../../presets/degradation-synthetic-data-platform.yaml");

/// Degradation: the default six levels with the platform's user notices
/// ("Temporarily limited to fast models" at level 2, "Streaming generation
/// temporarily disabled" at 3, "New training temporarily paused" at 4,
/// "System in read-only mode" at 5; see
/// [`DegradationManager::on_notice`](crate::degradation::DegradationManager::on_notice)),
/// five equally weighted components (GPU cluster, quality service,
/// database, storage, queue depth) and the platform's "disabled features"
/// column as a cumulative matrix ([`DEGRADATION_YAML`]).
///
/// ```
/// let c = resilience_core::presets::synthetic_data::degradation().unwrap();
/// assert_eq!(c.components.len(), 5);
/// assert!(c.features.contains_key("diffusion_models"));
/// ```
pub fn degradation() -> Result<DegradationConfig, ConfigError> {
    from_yaml_str(DEGRADATION_YAML)
}
