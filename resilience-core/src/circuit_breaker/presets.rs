//! Moved: the breaker presets are in [`crate::presets`], one module per
//! platform (`presets::gpu_inference::per_model_breaker()`, ...), and
//! [`crate::presets::breaker`] looks them up by name. These forwarding
//! functions stay until 0.2.
#![allow(deprecated)]

use super::CircuitBreakerConfig;
use crate::presets::{
    self, data_platform, gpu_inference, model_registry, synthetic_data, workflow_runtime,
};

/// Renamed to [`presets::synthetic_data::standard_breaker`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::synthetic_data::standard_breaker`"
)]
#[doc(hidden)]
pub fn standard() -> CircuitBreakerConfig {
    synthetic_data::standard_breaker()
}

/// Renamed to [`presets::synthetic_data::gpu_cluster_breaker`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::synthetic_data::gpu_cluster_breaker`"
)]
#[doc(hidden)]
pub fn gpu_cluster() -> CircuitBreakerConfig {
    synthetic_data::gpu_cluster_breaker()
}

/// Renamed to [`presets::synthetic_data::object_storage_breaker`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::synthetic_data::object_storage_breaker`"
)]
#[doc(hidden)]
pub fn object_storage() -> CircuitBreakerConfig {
    synthetic_data::object_storage_breaker()
}

/// Renamed to [`presets::synthetic_data::quality_service_breaker`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::synthetic_data::quality_service_breaker`"
)]
#[doc(hidden)]
pub fn quality_service() -> CircuitBreakerConfig {
    synthetic_data::quality_service_breaker()
}

/// Renamed to [`presets::synthetic_data::notification_service_breaker`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::synthetic_data::notification_service_breaker`"
)]
#[doc(hidden)]
pub fn notification_service() -> CircuitBreakerConfig {
    synthetic_data::notification_service_breaker()
}

/// Renamed to [`presets::data_platform::llm_provider_breaker`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::data_platform::llm_provider_breaker`"
)]
#[doc(hidden)]
pub fn llm_provider() -> CircuitBreakerConfig {
    data_platform::llm_provider_breaker()
}

/// Renamed to [`presets::model_registry::maestro_breaker`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::model_registry::maestro_breaker`"
)]
#[doc(hidden)]
pub fn maestro_integration() -> CircuitBreakerConfig {
    model_registry::maestro_breaker()
}

/// Renamed to [`presets::gpu_inference::per_model_breaker`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::gpu_inference::per_model_breaker`"
)]
#[doc(hidden)]
pub fn per_model() -> CircuitBreakerConfig {
    gpu_inference::per_model_breaker()
}

/// Renamed to [`presets::gpu_inference::per_worker_breaker`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::gpu_inference::per_worker_breaker`"
)]
#[doc(hidden)]
pub fn per_worker() -> CircuitBreakerConfig {
    gpu_inference::per_worker_breaker()
}

/// Renamed to [`presets::gpu_inference::global_breaker`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::gpu_inference::global_breaker`"
)]
#[doc(hidden)]
pub fn global_inference() -> CircuitBreakerConfig {
    gpu_inference::global_breaker()
}

/// Renamed to [`presets::workflow_runtime::metadata_db_breaker`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::workflow_runtime::metadata_db_breaker`"
)]
#[doc(hidden)]
pub fn metadata_db() -> CircuitBreakerConfig {
    workflow_runtime::metadata_db_breaker()
}

/// Renamed to [`presets::workflow_runtime::redis_cache_breaker`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::workflow_runtime::redis_cache_breaker`"
)]
#[doc(hidden)]
pub fn redis_cache() -> CircuitBreakerConfig {
    workflow_runtime::redis_cache_breaker()
}

/// Renamed to [`presets::workflow_runtime::llm_service_breaker`].
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::workflow_runtime::llm_service_breaker`"
)]
#[doc(hidden)]
pub fn llm_service() -> CircuitBreakerConfig {
    workflow_runtime::llm_service_breaker()
}

/// Renamed to [`presets::BreakerPreset`].
#[deprecated(
    since = "0.1.1",
    note = "renamed to `resilience_core::presets::BreakerPreset`"
)]
#[doc(hidden)]
pub type PresetFn = presets::BreakerPreset;

/// Renamed to [`presets::BREAKERS`].
#[deprecated(
    since = "0.1.1",
    note = "renamed to `resilience_core::presets::BREAKERS`"
)]
#[doc(hidden)]
pub const ALL: &[(&str, presets::BreakerPreset)] = presets::BREAKERS;

/// Renamed to [`presets::breaker`].
#[deprecated(
    since = "0.1.1",
    note = "renamed to `resilience_core::presets::breaker`"
)]
#[doc(hidden)]
pub fn by_name(name: &str) -> Option<CircuitBreakerConfig> {
    presets::breaker(name)
}
