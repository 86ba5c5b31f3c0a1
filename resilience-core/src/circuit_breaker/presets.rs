//! The seeds' circuit breakers, as ready configs.
//!
//! Each constructor reproduces a breaker from the system-design chapters this
//! suite is drawn from, with the source and any interpretation written down.
//! "N failures" in a table without a window is read as N *consecutive*
//! failures, as the chapters' own pseudo-code counts them (the count resets
//! on success); "N failures in T" is a failure count in a time window of T.
//! Where a chapter leaves a value open, the default is named in the doc.
//!
//! The same configs are in `presets/circuit_breakers.yaml` (next to this
//! crate's `Cargo.toml`), keyed by the names in [`ALL`]; a test checks the
//! file and these constructors agree.
//!
//! ```
//! use resilience_core::circuit_breaker::{presets, CircuitBreaker};
//! let breaker = CircuitBreaker::new(presets::object_storage()).unwrap();
//! assert_eq!(breaker.name(), "object_storage");
//! assert_eq!(breaker.config().consecutive_failures, Some(5));
//! let by_name = presets::by_name("llm_service").unwrap();
//! assert_eq!(by_name.half_open_permits, 1);
//! ```

use std::time::Duration;

use super::CircuitBreakerConfig;

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn consecutive(name: &str, failures: u32, open: u64, half_open: u32) -> CircuitBreakerConfig {
    CircuitBreakerConfig::new()
        .name(name)
        .consecutive_failures(failures)
        .open_duration(secs(open))
        .half_open_permits(half_open)
}

fn count_in_window(
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

/// The generic breaker of the GPU platform chapter's pseudo-code: 5
/// consecutive failures, 30 s reset timeout, 3 half-open requests (all must
/// succeed).
pub fn standard() -> CircuitBreakerConfig {
    consecutive("standard", 5, 30, 3)
}

/// GPU cluster (GPU platform chapter): 3 failures, 60 s. Fallback in the
/// chapter: queue the job, use the spot pool.
pub fn gpu_cluster() -> CircuitBreakerConfig {
    consecutive("gpu_cluster", 3, 60, 3)
}

/// Object storage (GPU platform chapter): 5 failures, 30 s. Fallback: return
/// the cached copy if available.
pub fn object_storage() -> CircuitBreakerConfig {
    consecutive("object_storage", 5, 30, 3)
}

/// Quality service (GPU platform chapter): 3 failures, 45 s. Fallback: skip
/// quality, warn the user.
pub fn quality_service() -> CircuitBreakerConfig {
    consecutive("quality_service", 3, 45, 3)
}

/// Notification service (GPU platform chapter): 10 failures, 120 s.
/// Fallback: queue for retry.
pub fn notification_service() -> CircuitBreakerConfig {
    consecutive("notification_service", 10, 120, 3)
}

/// LLM provider (data platform chapter): trips on 5 consecutive failures
/// *or* a 50 % failure rate over a 60 s rolling window; open 30 s; 3
/// successful trials close it. The chapter gives no minimum call count for
/// the rate; 10 is used so a handful of calls cannot trip it.
pub fn llm_provider() -> CircuitBreakerConfig {
    CircuitBreakerConfig::new()
        .name("llm_provider")
        .consecutive_failures(5)
        .time_window(secs(60))
        .minimum_calls(10)
        .failure_rate_threshold(0.5)
        .open_duration(secs(30))
        .half_open_permits(3)
        .success_threshold(3)
}

/// Maestro integration (package registry chapter): 5 failures, 1 test
/// request at a time while half-open, 3 successes to close, 60 s reset
/// timeout.
pub fn maestro_integration() -> CircuitBreakerConfig {
    consecutive("maestro_integration", 5, 60, 1).success_threshold(3)
}

/// Per model (inference chapter): 5 failures, 60 s open, 3 successes to
/// close.
pub fn per_model() -> CircuitBreakerConfig {
    consecutive("per_model", 5, 60, 3).success_threshold(3)
}

/// Per worker (inference chapter): 3 failures, 30 s open, 2 successes to
/// close.
pub fn per_worker() -> CircuitBreakerConfig {
    consecutive("per_worker", 3, 30, 2).success_threshold(2)
}

/// Global (inference chapter): a 10 % failure rate of all requests over a
/// 60 s window. The chapter gives no minimum call count or open time; 100
/// calls (Resilience4j's default) and 30 s are used.
pub fn global_inference() -> CircuitBreakerConfig {
    CircuitBreakerConfig::new()
        .name("global_inference")
        .time_window(secs(60))
        .minimum_calls(100)
        .failure_rate_threshold(0.10)
        .open_duration(secs(30))
}

/// Metadata DB (workflow runtime chapter): 5 failures in 30 s, open 30 s, 3
/// half-open test requests. Fallback: serve from the L2 cache (stale).
pub fn metadata_db() -> CircuitBreakerConfig {
    count_in_window("metadata_db", 5, 30, 30, 3)
}

/// Redis cache (workflow runtime chapter): 10 failures in 10 s, open 10 s, 5
/// half-open test requests. Fallback: query the DB directly.
pub fn redis_cache() -> CircuitBreakerConfig {
    count_in_window("redis_cache", 10, 10, 10, 5)
}

/// LLM service (workflow runtime chapter): 3 failures in 60 s, open 60 s, 1
/// half-open test request. Fallback: an error with a Retry-After header.
pub fn llm_service() -> CircuitBreakerConfig {
    count_in_window("llm_service", 3, 60, 60, 1)
}

/// A preset's constructor.
pub type PresetFn = fn() -> CircuitBreakerConfig;

/// Every preset by name.
pub const ALL: &[(&str, PresetFn)] = &[
    ("standard", standard),
    ("gpu_cluster", gpu_cluster),
    ("object_storage", object_storage),
    ("quality_service", quality_service),
    ("notification_service", notification_service),
    ("llm_provider", llm_provider),
    ("maestro_integration", maestro_integration),
    ("per_model", per_model),
    ("per_worker", per_worker),
    ("global_inference", global_inference),
    ("metadata_db", metadata_db),
    ("redis_cache", redis_cache),
    ("llm_service", llm_service),
];

/// The preset called `name`, if there is one.
pub fn by_name(name: &str) -> Option<CircuitBreakerConfig> {
    ALL.iter().find(|(n, _)| *n == name).map(|(_, f)| f())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn every_preset_is_valid_and_named_after_itself() {
        for (name, f) in ALL {
            let c = f();
            c.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(c.name.as_deref(), Some(*name));
        }
    }

    #[test]
    fn yaml_file_matches_constructors() {
        let text = include_str!("../../presets/circuit_breakers.yaml");
        let file: BTreeMap<String, CircuitBreakerConfig> =
            crate::config::from_yaml_str(text).unwrap();
        assert_eq!(file.len(), ALL.len());
        for (name, f) in ALL {
            let mut from_file = file
                .get(*name)
                .unwrap_or_else(|| panic!("{name} missing from the YAML"))
                .clone();
            from_file.name = Some(name.to_string());
            let a = serde_json::to_value(&from_file).unwrap();
            let b = serde_json::to_value(f()).unwrap();
            assert_eq!(a, b, "{name}");
        }
    }
}
