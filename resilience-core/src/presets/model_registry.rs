//! The ML model registry and monitoring platform: a registry service with
//! dashboard, API and internal traffic, drift monitoring that requests
//! retraining, and an integration with the Maestro training orchestrator.
//!
//! ```
//! use resilience_core::bulkhead::BulkheadSet;
//! use resilience_core::presets::model_registry;
//!
//! let pools = BulkheadSet::new(model_registry::bulkheads()).unwrap();
//! assert_eq!(pools.get("api").unwrap().max_concurrent(), 100);
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use crate::bulkhead::{BulkheadConfig, BulkheadSetConfig, Priority, SharedCapConfig};
use crate::circuit_breaker::CircuitBreakerConfig;
use crate::retry::RetryConfig;

use super::build::{consecutive, exponential, plus_10_percent, SEC};

/// The Maestro integration breaker: opens after 5 failures since it last
/// closed (a success while closed does not reset the count, as in the
/// platform's pseudo-code, which resets `failure_count` only on closing),
/// stays open 60 s (the reset timeout), admits 1 test request at a time
/// while half-open, and closes after 3 successes. Its 30 s request timeout
/// is part of the preset as `call_timeout`, which `resilience_tower`'s
/// stack uses as its per-attempt timeout.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::presets::model_registry::maestro_breaker();
/// assert_eq!((c.half_open_permits, c.success_threshold), (1, Some(3)));
/// assert!(!c.failures_reset_on_success);
/// assert_eq!(c.call_timeout, Some(Duration::from_secs(30)));
/// ```
pub fn maestro_breaker() -> CircuitBreakerConfig {
    consecutive("maestro_integration", 5, 60, 1)
        .success_threshold(3)
        .failures_reset_on_success(false)
        .call_timeout(SEC * 30)
}

/// Retrain requests to the training service, the platform's
/// `RetryWithBackoff(max_retries=5)` read as every retry preset is (see
/// [`crate::retry`], "Reading a retry table"): 5 retries after the first
/// attempt, so 6 attempts; the base delay of 1 s is the wait before the
/// first retry, doubling after each (1, 2, 4, 8, 16 s), capped at 60 s,
/// each wait stretched by up to 10 %. (The platform's loop, taken
/// literally, makes 5 attempts and starts at `1 s · 2^1`; the library
/// applies one reading to every table instead.)
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::presets::model_registry::retrain_retry();
/// assert_eq!(c.backoff.max_attempts(), Some(6));
/// assert_eq!(c.backoff.initial(), Duration::from_secs(1));
/// assert_eq!(c.backoff.max(), Duration::from_secs(60));
/// ```
pub fn retrain_retry() -> RetryConfig {
    exponential(5, SEC, 60 * SEC, plus_10_percent())
}

/// The registry service's bulkheads: `dashboard` 50 / 5 s / low, `api`
/// 100 / 10 s / medium, `internal` 30 / 3 s / high, under a shared cap of
/// 120 concurrent calls ([`BULKHEADS_YAML`]).
///
/// The pools keep one kind of traffic from starving the others; the
/// priorities only mean something where callers compete for one resource,
/// so the preset bounds the three pools together. When the cap is reached,
/// queued callers are served internal (high) before api (medium) before
/// dashboard (low), and a full cap queue sheds dashboard calls first. The
/// platform gives no total: 120 is this preset's choice (two thirds of the
/// pools' 180, so the cap binds under full load while each pool can still
/// reach its own limit alone). Size it to what the backends (the registry
/// database, the graph service) really take.
///
/// ```
/// use std::time::Duration;
/// use resilience_core::bulkhead::Priority;
/// let c = resilience_core::presets::model_registry::bulkheads();
/// assert_eq!(c.pools["api"].max_concurrent, 100);
/// assert_eq!(c.pools["internal"].max_wait, Duration::from_secs(3));
/// assert_eq!(c.pools["dashboard"].priority, Priority::Low);
/// assert_eq!(c.shared_cap.unwrap().max_concurrent, 120);
/// ```
pub fn bulkheads() -> BulkheadSetConfig {
    let pool = |n, secs, priority| BulkheadConfig {
        max_wait: Duration::from_secs(secs),
        priority,
        ..BulkheadConfig::new(n)
    };
    BulkheadSetConfig {
        pools: BTreeMap::from([
            ("dashboard".to_string(), pool(50, 5, Priority::Low)),
            ("api".to_string(), pool(100, 10, Priority::Medium)),
            ("internal".to_string(), pool(30, 3, Priority::High)),
        ]),
        shared_cap: Some(SharedCapConfig::new(120)),
    }
}

/// The text of `resilience-core/presets/bulkheads-model-registry.yaml`:
/// [`bulkheads`] as a loadable config.
///
/// ```
/// use resilience_core::bulkhead::BulkheadSetConfig;
/// use resilience_core::presets::model_registry;
/// let c: BulkheadSetConfig = resilience_core::config::from_yaml_str(model_registry::BULKHEADS_YAML).unwrap();
/// assert_eq!(c, model_registry::bulkheads());
/// ```
pub const BULKHEADS_YAML: &str = include_str!("../../presets/bulkheads-model-registry.yaml");
