//! The GPU inference service: a pool of GPU workers serving several models,
//! with a breaker per model, per worker and over all requests, and recovery
//! of the requests a failed worker had in flight.
//!
//! ```
//! use resilience_core::circuit_breaker::CircuitBreakerRegistry;
//! use resilience_core::presets::gpu_inference;
//!
//! let per_model = CircuitBreakerRegistry::<String>::builder(gpu_inference::per_model_breaker())
//!     .global(gpu_inference::global_breaker())
//!     .build()
//!     .unwrap();
//! per_model.try_acquire("sdxl").unwrap().record_success();
//! ```

use crate::circuit_breaker::CircuitBreakerConfig;
use crate::retry::{Jitter, RetryConfig};

use super::build::{consecutive, exponential, secs, SEC};

/// Per model: 5 failures, 60 s open, 3 successes to close.
///
/// ```
/// let c = resilience_core::presets::gpu_inference::per_model_breaker();
/// assert_eq!((c.consecutive_failures, c.success_threshold), (Some(5), Some(3)));
/// ```
pub fn per_model_breaker() -> CircuitBreakerConfig {
    consecutive("per_model", 5, 60, 3).success_threshold(3)
}

/// Per worker: 3 failures, 30 s open, 2 successes to close.
///
/// ```
/// let c = resilience_core::presets::gpu_inference::per_worker_breaker();
/// assert_eq!((c.consecutive_failures, c.success_threshold), (Some(3), Some(2)));
/// ```
pub fn per_worker_breaker() -> CircuitBreakerConfig {
    consecutive("per_worker", 3, 30, 2).success_threshold(2)
}

/// Global: a 10 % failure rate of all requests over a 60 s window. The
/// service gives no minimum call count or open time; 100 calls
/// (Resilience4j's default) and 30 s are used.
///
/// ```
/// let c = resilience_core::presets::gpu_inference::global_breaker();
/// assert_eq!(c.failure_rate_threshold, Some(0.10));
/// assert_eq!(c.minimum_calls, 100);
/// ```
pub fn global_breaker() -> CircuitBreakerConfig {
    CircuitBreakerConfig::new()
        .name("global_inference")
        .time_window(secs(60))
        .minimum_calls(100)
        .failure_rate_threshold(0.10)
        .open_duration(secs(30))
}

/// In-flight request recovery after a worker failure: `MAX_RETRIES = 3`,
/// backoff `min(30, 2^retry_count)` seconds = 2 s, 4 s, 8 s (cap 30 s).
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::presets::gpu_inference::request_recovery_retry();
/// assert_eq!(c.backoff.max_attempts(), Some(4));
/// assert_eq!(c.backoff.initial(), Duration::from_secs(2));
/// assert_eq!(c.backoff.max(), Duration::from_secs(30));
/// ```
pub fn request_recovery_retry() -> RetryConfig {
    exponential(3, 2 * SEC, 30 * SEC, Jitter::None)
}

/// The Safety-API scenario's alert: requests wait in a "pending safety"
/// dead-letter queue while the Safety API's breaker is open, and on-call is
/// alerted if the oldest has waited more than 5 minutes.
///
/// ```
/// use std::time::Duration;
/// let alert = resilience_core::presets::gpu_inference::safety_queue_age_alert("pending_safety");
/// assert_eq!(alert.bound(), Duration::from_secs(300));
/// ```
pub fn safety_queue_age_alert(queue: &str) -> crate::dead_letter::OldestLetterAlert {
    crate::dead_letter::OldestLetterAlert::checked(queue, std::time::Duration::from_secs(5 * 60))
}
