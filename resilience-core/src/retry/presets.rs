//! Moved: the retry presets are in [`crate::presets`], one module per
//! platform (`presets::data_platform::llm_inference_retry()`, ...), with
//! [`crate::presets::retry_table`] and [`crate::presets::RETRY_YAML`];
//! [`RetryTable`] is [`crate::retry::RetryTable`]. These forwarding items
//! stay until 0.2.
#![allow(deprecated)]

use super::policy::RetryConfig;
use crate::presets::{
    self, data_platform, gpu_inference, model_registry, synthetic_data, workflow_runtime,
};

/// Renamed to [`presets::synthetic_data::training_job_retry`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::synthetic_data::training_job_retry`"
)]
#[doc(hidden)]
pub fn training_job() -> RetryConfig {
    synthetic_data::training_job_retry()
}

/// Renamed to [`presets::synthetic_data::generation_batch_retry`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::synthetic_data::generation_batch_retry`"
)]
#[doc(hidden)]
pub fn generation_batch() -> RetryConfig {
    synthetic_data::generation_batch_retry()
}

/// Renamed to [`presets::synthetic_data::quality_check_retry`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::synthetic_data::quality_check_retry`"
)]
#[doc(hidden)]
pub fn quality_check() -> RetryConfig {
    synthetic_data::quality_check_retry()
}

/// Renamed to [`presets::synthetic_data::api_call_retry`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::synthetic_data::api_call_retry`"
)]
#[doc(hidden)]
pub fn api_call() -> RetryConfig {
    synthetic_data::api_call_retry()
}

/// Renamed to [`presets::synthetic_data::db_transaction_retry`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::synthetic_data::db_transaction_retry`"
)]
#[doc(hidden)]
pub fn db_transaction() -> RetryConfig {
    synthetic_data::db_transaction_retry()
}

/// Renamed to [`presets::synthetic_data::model_load_retry`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::synthetic_data::model_load_retry`"
)]
#[doc(hidden)]
pub fn model_load() -> RetryConfig {
    synthetic_data::model_load_retry()
}

/// Renamed to [`presets::synthetic_data::default_retry`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::synthetic_data::default_retry`"
)]
#[doc(hidden)]
pub fn training_platform_default() -> RetryConfig {
    synthetic_data::default_retry()
}

/// Renamed to [`presets::data_platform::api_call_retry`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::data_platform::api_call_retry`"
)]
#[doc(hidden)]
pub fn data_api_call() -> RetryConfig {
    data_platform::api_call_retry()
}

/// Renamed to [`presets::data_platform::db_query_retry`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::data_platform::db_query_retry`"
)]
#[doc(hidden)]
pub fn db_query() -> RetryConfig {
    data_platform::db_query_retry()
}

/// Renamed to [`presets::data_platform::llm_inference_retry`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::data_platform::llm_inference_retry`"
)]
#[doc(hidden)]
pub fn llm_inference() -> RetryConfig {
    data_platform::llm_inference_retry()
}

/// Renamed to [`presets::data_platform::cdc_event_retry`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::data_platform::cdc_event_retry`"
)]
#[doc(hidden)]
pub fn cdc_event() -> RetryConfig {
    data_platform::cdc_event_retry()
}

/// Renamed to [`presets::data_platform::file_upload_retry`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::data_platform::file_upload_retry`"
)]
#[doc(hidden)]
pub fn file_upload() -> RetryConfig {
    data_platform::file_upload_retry()
}

/// Renamed to [`presets::model_registry::retrain_retry`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::model_registry::retrain_retry`"
)]
#[doc(hidden)]
pub fn retrain_request() -> RetryConfig {
    model_registry::retrain_retry()
}

/// Renamed to [`presets::gpu_inference::request_recovery_retry`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::gpu_inference::request_recovery_retry`"
)]
#[doc(hidden)]
pub fn inference_request_recovery() -> RetryConfig {
    gpu_inference::request_recovery_retry()
}

/// Renamed to [`presets::workflow_runtime::idempotent_retry`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::workflow_runtime::idempotent_retry`"
)]
#[doc(hidden)]
pub fn idempotent_request() -> RetryConfig {
    workflow_runtime::idempotent_retry()
}

/// Renamed to [`presets::workflow_runtime::non_idempotent_retry`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::workflow_runtime::non_idempotent_retry`"
)]
#[doc(hidden)]
pub fn non_idempotent_request() -> RetryConfig {
    workflow_runtime::non_idempotent_retry()
}

/// Renamed to [`presets::workflow_runtime::database_retry`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::workflow_runtime::database_retry`"
)]
#[doc(hidden)]
pub fn database_operation() -> RetryConfig {
    workflow_runtime::database_retry()
}

/// Renamed to [`presets::workflow_runtime::external_call_retry`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::workflow_runtime::external_call_retry`"
)]
#[doc(hidden)]
pub fn external_call() -> RetryConfig {
    workflow_runtime::external_call_retry()
}

/// Renamed to [`presets::retries`].
#[deprecated(
    since = "0.1.1",
    note = "renamed to `resilience_core::presets::retries`"
)]
#[doc(hidden)]
pub fn all() -> Vec<(&'static str, RetryConfig)> {
    presets::retries()
}

/// Renamed to [`presets::RETRY_YAML`].
#[deprecated(
    since = "0.1.1",
    note = "renamed to `resilience_core::presets::RETRY_YAML`"
)]
#[doc(hidden)]
pub const SEEDS_YAML: &str = presets::RETRY_YAML;

/// Moved to [`crate::retry::RetryTable`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::retry::RetryTable`"
)]
#[doc(hidden)]
pub type RetryTable = super::RetryTable;
