//! The gateway's resilience stack: `presets/gateway.yaml` as typed config, and
//! the ready objects built from it.
//!
//! Shared by the demo and by `examples/config_presets.rs`, so the file that
//! example prints is exactly the stack the demo runs.

use std::collections::BTreeMap;
use std::sync::Arc;

use resilience_core::bulkhead::{BulkheadSet, BulkheadSetConfig};
use resilience_core::circuit_breaker::{
    CircuitBreaker, CircuitBreakerConfig, CircuitBreakerRegistry,
};
use resilience_core::clock::Clock;
use resilience_core::config::{from_yaml_str, ConfigError};
use resilience_core::degradation::{DegradationConfig, DegradationManager};
use resilience_core::retry::RetryTable;
use resilience_core::retry::{RetryBudget, RetryConfig, RetryPolicy};
use resilience_dr::health::{HeartbeatConfig, HeartbeatMonitor};
use resilience_dr::recovery::{InFlightTracker, RecoveryConfig};
use resilience_scaling::rules::RuleEngine;
use serde::Deserialize;

/// The stack as data.
pub(crate) const GATEWAY_YAML: &str = include_str!("../../../presets/gateway.yaml");

/// The GPU inference platform's pool autoscaling policy, loaded as it ships.
pub(crate) const GPU_POOL_POLICY_YAML: &str =
    include_str!("../../../resilience-scaling/presets/gpu-pool-policy.yaml");

/// `presets/gateway.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StackConfig {
    /// Breakers per service.
    pub(crate) circuit_breakers: BTreeMap<String, CircuitBreakerConfig>,
    /// Retry per operation.
    pub(crate) retry: RetryTable,
    /// Bulkheads per traffic class.
    pub(crate) bulkheads: BulkheadSetConfig,
    /// Health inputs, levels, rules and the feature matrix.
    pub(crate) degradation: DegradationConfig,
    /// In-flight request recovery.
    pub(crate) recovery: RecoveryConfig,
    /// Worker heartbeats.
    pub(crate) heartbeat: HeartbeatConfig,
}

impl StackConfig {
    /// Parses and checks the file's text.
    pub(crate) fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        from_yaml_str(text)
    }

    /// The shipped file.
    pub(crate) fn shipped() -> Result<Self, ConfigError> {
        Self::from_yaml(GATEWAY_YAML)
    }

    /// The retry of a call to the worker pool (`retry.worker_call`).
    pub(crate) fn worker_retry_config(&self) -> Result<RetryConfig, ConfigError> {
        self.retry.get("worker_call").cloned().ok_or_else(|| {
            ConfigError::invalid("retry.worker_call", "missing: the gateway needs this retry")
        })
    }

    /// The breaker config called `name`, renamed `as_name`.
    pub(crate) fn breaker(
        &self,
        name: &str,
        as_name: &str,
    ) -> Result<CircuitBreakerConfig, ConfigError> {
        self.circuit_breakers
            .get(name)
            .cloned()
            .map(|c| c.name(as_name))
            .ok_or_else(|| {
                ConfigError::invalid(
                    format!("circuit_breakers.{name}"),
                    "missing: the gateway needs this breaker",
                )
            })
    }
}

/// The ready objects of the stack, before any of them is wired into a
/// service.
pub(crate) struct Stack {
    /// One breaker per model; sees every attempt.
    pub(crate) model_breakers: Arc<CircuitBreakerRegistry<&'static str>>,
    /// The global breaker (10 % "of all requests"); sees requests,
    /// after their retries.
    pub(crate) global: CircuitBreaker,
    /// One breaker per worker.
    pub(crate) worker_breakers: Arc<CircuitBreakerRegistry<String>>,
    /// External provider A (the LLM-provider breaker preset).
    pub(crate) provider_a: CircuitBreaker,
    /// External provider B (same preset).
    pub(crate) provider_b: CircuitBreaker,
    /// Object storage (the object-storage preset).
    pub(crate) storage: CircuitBreaker,
    /// Retries of a call to the worker pool, with its budget.
    pub(crate) worker_retry: Arc<RetryPolicy>,
    /// The traffic-class pools (the model registry's).
    pub(crate) bulkheads: Arc<BulkheadSet>,
    /// Health to level to features.
    pub(crate) degradation: Arc<DegradationManager>,
    /// Every request from queued to done, and a dead worker's share.
    pub(crate) recovery: Arc<InFlightTracker<u64, String>>,
    /// Who has gone quiet.
    pub(crate) heartbeats: Arc<HeartbeatMonitor<String>>,
    /// The GPU pool policy.
    pub(crate) scaling: RuleEngine,
}

impl Stack {
    /// Builds every object, reading time from `clock`. Errors name the
    /// section and field at fault.
    pub(crate) fn build<C: Clock + Clone>(
        config: &StackConfig,
        clock: C,
    ) -> Result<Stack, ConfigError> {
        Self::build_with_budget(config, clock, None)
    }

    /// Like [`build`](Self::build), with `budget` paying for the worker
    /// retries instead of the one the file configures (a fleet-wide budget,
    /// or a metered one).
    pub(crate) fn build_with_budget<C: Clock + Clone>(
        config: &StackConfig,
        clock: C,
        budget: Option<Arc<dyn RetryBudget>>,
    ) -> Result<Stack, ConfigError> {
        let model_breakers = CircuitBreakerRegistry::with_clock(
            config.breaker("per_model", "model")?,
            clock.clone(),
        )?;
        let global = CircuitBreaker::with_clock(
            config.breaker("global_inference", "global")?,
            clock.clone(),
        )?;
        let worker_breakers = CircuitBreakerRegistry::with_clock(
            config.breaker("per_worker", "worker")?,
            clock.clone(),
        )?;
        let provider_a = CircuitBreaker::with_clock(
            config.breaker("llm_provider", "provider_a")?,
            clock.clone(),
        )?;
        let provider_b = CircuitBreaker::with_clock(
            config.breaker("llm_provider", "provider_b")?,
            clock.clone(),
        )?;
        let storage = CircuitBreaker::with_clock(
            config.breaker("object_storage", "storage")?,
            clock.clone(),
        )?;
        let worker_retry = match budget {
            None => config
                .retry
                .policy_with_clock("worker_call", Arc::new(clock.clone()))
                .map_err(|e| e.within("retry"))?,
            Some(budget) => {
                let mut retry = config.worker_retry_config()?;
                retry.budget = None;
                RetryPolicy::builder_from(retry)
                    .name("worker_call")
                    .clock(clock.clone())
                    .budget(budget)
                    .build()
                    .map_err(|e| e.within("retry.worker_call"))?
            }
        };
        let bulkheads = BulkheadSet::with_clock(config.bulkheads.clone(), Arc::new(clock.clone()))
            .map_err(|e| e.within("bulkheads"))?;
        let degradation =
            DegradationManager::with_clock(config.degradation.clone(), Arc::new(clock.clone()))
                .map_err(|e| e.within("degradation"))?;
        let recovery = InFlightTracker::with_clock(config.recovery.clone(), clock.clone())
            .map_err(|e| e.within("recovery"))?;
        let heartbeats = HeartbeatMonitor::with_clock(config.heartbeat.clone(), clock)
            .map_err(|e| e.within("heartbeat"))?;
        let scaling = RuleEngine::from_yaml(GPU_POOL_POLICY_YAML)?;
        Ok(Stack {
            model_breakers: Arc::new(model_breakers),
            global,
            worker_breakers: Arc::new(worker_breakers),
            provider_a,
            provider_b,
            storage,
            worker_retry: Arc::new(worker_retry),
            bulkheads: Arc::new(bulkheads),
            degradation: Arc::new(degradation),
            recovery: Arc::new(recovery),
            heartbeats: Arc::new(heartbeats),
            scaling,
        })
    }
}
