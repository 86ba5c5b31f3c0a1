//! Ready configs for five reference platforms, one module per platform.
//!
//! The primitives in this crate are generic; the numbers here are not. Each
//! module holds the breakers, retry schedules, bulkheads and degradation
//! levels of one kind of service, with the reading of every number written
//! down where a table leaves room for interpretation:
//!
//! | module | the platform | what it ships |
//! |---|---|---|
//! | [`synthetic_data`] | a GPU training and synthetic-data generation platform | five breakers, seven retry schedules, a degradation matrix |
//! | [`data_platform`] | a data platform calling LLM providers and ingesting change streams | the LLM-provider breaker, five retry schedules, a degradation hierarchy |
//! | [`model_registry`] | an ML model registry and monitoring platform | the Maestro integration breaker, the retrain request schedule, three bulkhead pools |
//! | [`gpu_inference`] | a GPU inference service | per-model, per-worker and global breakers, in-flight request recovery |
//! | [`workflow_runtime`] | a workflow runtime | metadata DB, Redis and LLM breakers, four retry schedules, a degradation ladder |
//!
//! Every preset is also a YAML file under `resilience-core/presets/` (a test
//! checks that file and constructor agree), and the breakers and retry
//! schedules can be looked up by the names those files use:
//!
//! ```
//! use resilience_core::circuit_breaker::CircuitBreaker;
//! use resilience_core::presets::{self, gpu_inference};
//!
//! let per_model = CircuitBreaker::new(gpu_inference::per_model_breaker()).unwrap();
//! assert_eq!(per_model.config().consecutive_failures, Some(5));
//! assert_eq!(presets::breaker("per_model").unwrap().name.as_deref(), Some("per_model"));
//! let table = presets::retry_table();
//! assert_eq!(table.get("inference_request_recovery"), Some(&gpu_inference::request_recovery_retry()));
//! ```
//!
//! # Reading the tables
//!
//! * **Breakers.** "N failures" in a table without a window is read as N
//!   *consecutive* failures, as the platforms' own pseudo-code counts them
//!   (the count resets on success); "N failures in T" is a failure count in
//!   a time window of T. Where a table leaves a value open, the preset's doc
//!   names the default used.
//! * **Retries.** One reading for every table, documented in
//!   [`crate::retry`] ("Reading a retry table"): "Max Retries" counts
//!   retries after the first attempt, so `max_attempts` = retries + 1
//!   ("3 retries" = 4 attempts); a named initial (or base) delay is the
//!   wait before the first retry; "exponential" is base 2. Where a platform
//!   gives only a formula without a base delay (the inference service's
//!   `min(30, 2 ** retry_count)`), the first wait is the formula's value
//!   for retry 1. Jitter follows each platform's own
//!   algorithm: `delay * (0.5 + random * 0.5)` is
//!   [`Jitter::Equal`](crate::retry::Jitter::Equal), "+10%" is
//!   `Jitter::Proportional(0.1)`, and an unspecified "with jitter" is
//!   [`Jitter::Full`](crate::retry::Jitter::Full).

use crate::circuit_breaker::CircuitBreakerConfig;
use crate::retry::{RetryConfig, RetryTable};

mod build;
pub mod data_platform;
pub mod gpu_inference;
pub mod model_registry;
pub mod synthetic_data;
pub mod workflow_runtime;

/// A breaker preset's constructor.
pub type BreakerPreset = fn() -> CircuitBreakerConfig;

/// Every breaker preset, by the name it has in
/// `resilience-core/presets/circuit_breakers.yaml` (which is also the
/// breaker's `name`).
pub const BREAKERS: &[(&str, BreakerPreset)] = &[
    ("standard", synthetic_data::standard_breaker),
    ("gpu_cluster", synthetic_data::gpu_cluster_breaker),
    ("object_storage", synthetic_data::object_storage_breaker),
    ("quality_service", synthetic_data::quality_service_breaker),
    (
        "notification_service",
        synthetic_data::notification_service_breaker,
    ),
    ("llm_provider", data_platform::llm_provider_breaker),
    ("maestro_integration", model_registry::maestro_breaker),
    ("per_model", gpu_inference::per_model_breaker),
    ("per_worker", gpu_inference::per_worker_breaker),
    ("global_inference", gpu_inference::global_breaker),
    ("metadata_db", workflow_runtime::metadata_db_breaker),
    ("redis_cache", workflow_runtime::redis_cache_breaker),
    ("llm_service", workflow_runtime::llm_service_breaker),
];

/// The breaker preset called `name` (see [`BREAKERS`]), if there is one.
///
/// ```
/// let c = resilience_core::presets::breaker("llm_service").unwrap();
/// assert_eq!(c.half_open_permits, 1);
/// assert!(resilience_core::presets::breaker("nope").is_none());
/// ```
pub fn breaker(name: &str) -> Option<CircuitBreakerConfig> {
    BREAKERS.iter().find(|(n, _)| *n == name).map(|(_, f)| f())
}

/// The retry presets as YAML: the text of `resilience-core/presets/retry.yaml`,
/// loadable with [`RetryTable::from_yaml_str`].
pub const RETRY_YAML: &str = include_str!("../../presets/retry.yaml");

/// Every retry preset, by the name it has in [`RETRY_YAML`].
pub fn retries() -> Vec<(&'static str, RetryConfig)> {
    vec![
        ("training_job", synthetic_data::training_job_retry()),
        ("generation_batch", synthetic_data::generation_batch_retry()),
        ("quality_check", synthetic_data::quality_check_retry()),
        ("api_call", synthetic_data::api_call_retry()),
        ("db_transaction", synthetic_data::db_transaction_retry()),
        ("model_load", synthetic_data::model_load_retry()),
        ("training_platform_default", synthetic_data::default_retry()),
        ("data_api_call", data_platform::api_call_retry()),
        ("db_query", data_platform::db_query_retry()),
        ("llm_inference", data_platform::llm_inference_retry()),
        ("cdc_event", data_platform::cdc_event_retry()),
        ("file_upload", data_platform::file_upload_retry()),
        ("retrain_request", model_registry::retrain_retry()),
        (
            "inference_request_recovery",
            gpu_inference::request_recovery_retry(),
        ),
        ("idempotent_request", workflow_runtime::idempotent_retry()),
        (
            "non_idempotent_request",
            workflow_runtime::non_idempotent_retry(),
        ),
        ("database_operation", workflow_runtime::database_retry()),
        ("external_call", workflow_runtime::external_call_retry()),
    ]
}

/// Every retry preset as a [`RetryTable`] (the same entries as
/// [`RETRY_YAML`]).
///
/// ```
/// let table = resilience_core::presets::retry_table();
/// assert_eq!(table.policy("cdc_event").unwrap().max_attempts(), 11);
/// ```
pub fn retry_table() -> RetryTable {
    retries()
        .into_iter()
        .map(|(n, c)| (n.to_owned(), c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::{Idempotency, Jitter, RetryPolicy};
    use std::collections::BTreeMap;
    use std::time::Duration;

    const SEC: Duration = Duration::from_secs(1);
    const MIN: Duration = Duration::from_secs(60);
    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn every_breaker_is_valid_and_named_after_itself() {
        for (name, f) in BREAKERS {
            let c = f();
            c.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(c.name.as_deref(), Some(*name));
        }
    }

    #[test]
    fn breaker_yaml_file_matches_constructors() {
        let text = include_str!("../../presets/circuit_breakers.yaml");
        let file: BTreeMap<String, CircuitBreakerConfig> =
            crate::config::from_yaml_str(text).unwrap();
        assert_eq!(file.len(), BREAKERS.len());
        for (name, f) in BREAKERS {
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

    #[test]
    fn every_retry_preset_builds_a_policy_with_its_numbers() {
        for (name, c) in retries() {
            let b = &c.backoff;
            assert!(b.initial() <= b.max(), "{name}");
            assert!(b.max_attempts().is_some(), "{name}");
            let p =
                RetryPolicy::from_config(name, &c, std::sync::Arc::new(crate::clock::SystemClock))
                    .unwrap();
            assert_eq!(p.name(), name);
        }
        let t = synthetic_data::training_job_retry().backoff;
        assert_eq!(t.max_attempts(), Some(4));
        assert_eq!(t.delay(1), MIN);
        assert_eq!(t.delay(3), 4 * MIN);
        assert_eq!(t.jitter(), Jitter::Equal);
        let m = synthetic_data::model_load_retry().backoff;
        assert_eq!(m.delays().collect::<Vec<_>>(), [5 * SEC, 10 * SEC]);
        let r = gpu_inference::request_recovery_retry().backoff;
        assert_eq!(r.delays().collect::<Vec<_>>(), [2 * SEC, 4 * SEC, 8 * SEC]);
        let cdc = data_platform::cdc_event_retry().backoff;
        assert_eq!(cdc.max_attempts(), Some(11));
        assert_eq!(cdc.delay(10), 51_200 * MS);
        assert_eq!(cdc.delay(11), 60 * SEC);
        let db = workflow_runtime::database_retry().backoff;
        assert_eq!(
            db.delays().collect::<Vec<_>>(),
            [50 * MS, 100 * MS, 200 * MS]
        );
        assert_eq!(
            workflow_runtime::non_idempotent_retry().idempotency,
            Idempotency::NonIdempotent
        );
    }

    #[test]
    fn retry_names_are_unique() {
        let t = retry_table();
        assert_eq!(t.len(), retries().len());
        assert!(!t.is_empty());
    }
}
