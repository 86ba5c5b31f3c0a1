//! The data platform: ingestion workers and change-data-capture streams,
//! with LLM providers for schema mapping and transformations.
//!
//! ```
//! use resilience_core::circuit_breaker::CircuitBreaker;
//! use resilience_core::presets::data_platform;
//!
//! let llm = CircuitBreaker::new(data_platform::llm_provider_breaker()).unwrap();
//! assert_eq!(llm.name(), "llm_provider");
//! ```

use crate::circuit_breaker::CircuitBreakerConfig;
use crate::config::{from_yaml_str, ConfigError};
use crate::degradation::DegradationConfig;
use crate::retry::RetryConfig;

use super::build::{exponential, plus_10_percent, secs, MS, SEC};

/// The LLM-provider breaker: trips on 5 failures inside a 60 s rolling
/// window (successes in between do not reset the count: the window holds
/// every failure of the last 60 s) *or* on a 50 % failure rate over the same
/// window; open 30 s; while half-open it admits a single test request at a
/// time, and 3 successful tests in a row close it (a failed one reopens it).
/// The platform gives no minimum call count for the rate ("alternative
/// trigger"); 10 is used so a handful of calls cannot trip it on rate alone.
///
/// ```
/// use std::time::Duration;
/// use resilience_core::circuit_breaker::WindowConfig;
/// let c = resilience_core::presets::data_platform::llm_provider_breaker();
/// assert_eq!(c.failure_count_threshold, Some(5));
/// assert_eq!(c.window, WindowConfig::Time(Duration::from_secs(60)));
/// assert_eq!(c.failure_rate_threshold, Some(0.5));
/// assert_eq!((c.half_open_permits, c.success_threshold), (1, Some(3)));
/// ```
pub fn llm_provider_breaker() -> CircuitBreakerConfig {
    CircuitBreakerConfig::new()
        .name("llm_provider")
        .time_window(secs(60))
        .failure_count_threshold(5)
        .minimum_calls(10)
        .failure_rate_threshold(0.5)
        .open_duration(secs(30))
        .half_open_permits(1)
        .success_threshold(3)
}

/// API calls: 3 retries, 100 ms → 5 s, exponential, +10%.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::presets::data_platform::api_call_retry();
/// assert_eq!(c.backoff.max_attempts(), Some(4));
/// assert_eq!(c.backoff.initial(), Duration::from_millis(100));
/// assert_eq!(c.backoff.max(), Duration::from_secs(5));
/// ```
pub fn api_call_retry() -> RetryConfig {
    exponential(3, 100 * MS, 5 * SEC, plus_10_percent())
}

/// DB queries: 5 retries, 50 ms → 10 s, exponential, +10%.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::presets::data_platform::db_query_retry();
/// assert_eq!(c.backoff.max_attempts(), Some(6));
/// assert_eq!(c.backoff.initial(), Duration::from_millis(50));
/// assert_eq!(c.backoff.max(), Duration::from_secs(10));
/// ```
pub fn db_query_retry() -> RetryConfig {
    exponential(5, 50 * MS, 10 * SEC, plus_10_percent())
}

/// LLM inference: 3 retries, 1 s → 30 s, exponential, +10%.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::presets::data_platform::llm_inference_retry();
/// assert_eq!(c.backoff.max_attempts(), Some(4));
/// assert_eq!(c.backoff.initial(), Duration::from_secs(1));
/// assert_eq!(c.backoff.max(), Duration::from_secs(30));
/// ```
pub fn llm_inference_retry() -> RetryConfig {
    exponential(3, SEC, 30 * SEC, plus_10_percent())
}

/// CDC events: 10 retries, 100 ms → 60 s, exponential, +10%.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::presets::data_platform::cdc_event_retry();
/// assert_eq!(c.backoff.max_attempts(), Some(11));
/// assert_eq!(c.backoff.initial(), Duration::from_millis(100));
/// assert_eq!(c.backoff.max(), Duration::from_secs(60));
/// ```
pub fn cdc_event_retry() -> RetryConfig {
    exponential(10, 100 * MS, 60 * SEC, plus_10_percent())
}

/// File uploads: 5 retries, 500 ms → 30 s, exponential, +10%.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::presets::data_platform::file_upload_retry();
/// assert_eq!(c.backoff.max_attempts(), Some(6));
/// assert_eq!(c.backoff.initial(), Duration::from_millis(500));
/// assert_eq!(c.backoff.max(), Duration::from_secs(30));
/// ```
pub fn file_upload_retry() -> RetryConfig {
    exponential(5, 500 * MS, 30 * SEC, plus_10_percent())
}

/// The text of `resilience-core/presets/degradation-data-platform.yaml`.
pub const DEGRADATION_YAML: &str = include_str!("../../presets/degradation-data-platform.yaml");

/// Degradation: levels Full AI -> Reduced AI -> Minimal -> Buffer only,
/// rules for "LLM unavailable", "high latency", "compute exhausted" and
/// "storage only available", count rules for "multiple failures" (two of
/// the four checks down: level 2) and "critical failure" (three down:
/// emergency), and the platform's feature degradation matrix
/// ([`DEGRADATION_YAML`]). The level is recomputed on every evaluation
/// ([`RecoveryMode::Immediate`](crate::degradation::RecoveryMode::Immediate)):
/// when every check is healthy again it is back at full AI at once.
///
/// ```
/// let c = resilience_core::presets::data_platform::degradation().unwrap();
/// let names: Vec<_> = c.levels.iter().map(|l| l.name.as_str()).collect();
/// assert_eq!(names, ["full_ai", "reduced_ai", "minimal", "buffer_only"]);
/// ```
pub fn degradation() -> Result<DegradationConfig, ConfigError> {
    from_yaml_str(DEGRADATION_YAML)
}

/// The platform's availability target: 99.9 %, 43 min of downtime a month
/// (30 days: 43.2 min), as an error budget with the defaults of
/// [`SloConfig::availability`](crate::slo::SloConfig::availability) (1 h
/// burn window, degraded at a burn rate of 14.4).
///
/// ```
/// use resilience_core::slo::ErrorBudget;
/// let budget = ErrorBudget::new(resilience_core::presets::data_platform::availability_slo()).unwrap();
/// assert_eq!(budget.allowed_downtime().as_secs() / 60, 43);
/// ```
pub fn availability_slo() -> crate::slo::SloConfig {
    crate::slo::SloConfig::availability("data-platform", 0.999)
}
