//! Every kind of config file the suite ships, recognised by its top-level
//! keys and built the way a service would build it at startup.
//!
//! `check(text)` says which kind a file is and builds every object in it;
//! a bad value is a `ConfigError` whose field names the entry it belongs
//! to (`per_model.failure_rate_threshold`, `pools.api.max_concurrent`, …).

use std::collections::BTreeMap;

use resilience_core::bulkhead::{BulkheadSet, BulkheadSetConfig};
use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
use resilience_core::config::{from_yaml_str, ConfigError};
use resilience_core::degradation::{DegradationConfig, DegradationManager};
use resilience_core::retry::RetryTable;
use resilience_scaling::hpa::Hpa;
use resilience_scaling::lag::LagScaler;
use resilience_scaling::predictive::Predictor;
use resilience_scaling::rules::RuleEngine;
use resilience_scaling::schedule::Schedule;
use resilience_scaling::spot::SpotManager;
use resilience_scaling::step::StepScaling;
use resilience_scaling::target_tracking::TargetTracking;
use resilience_tower::stack::{ResilienceStack, StackClassify, StackConfig};

/// What a config file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The gateway demo's whole stack (`presets/gateway.yaml`).
    Gateway,
    /// One `ResilienceStack`: deadline, retry, breaker, bulkhead, timeout.
    Stack,
    /// Named circuit breakers.
    Breakers,
    /// Named retry policies.
    Retries,
    /// Named bulkheads, optionally under a shared cap.
    Bulkheads,
    /// A degradation manager: components, levels, rules, features.
    Degradation,
    /// A Kubernetes `HorizontalPodAutoscaler` manifest.
    Hpa,
    /// Threshold-for-duration scaling rules.
    Rules,
    /// A scaling schedule.
    Schedule,
    /// Consumer-lag scaling.
    Lag,
    /// Predictive scaling.
    Predictive,
    /// Spot / on-demand capacity.
    Spot,
    /// Step scaling.
    Step,
    /// Target tracking.
    TargetTracking,
}

impl Kind {
    /// A name for messages.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Kind::Gateway => "the gateway demo's stack",
            Kind::Stack => "a ResilienceStack",
            Kind::Breakers => "named circuit breakers",
            Kind::Retries => "named retry policies",
            Kind::Bulkheads => "bulkheads",
            Kind::Degradation => "a degradation manager",
            Kind::Hpa => "a HorizontalPodAutoscaler manifest",
            Kind::Rules => "scaling rules",
            Kind::Schedule => "a scaling schedule",
            Kind::Lag => "consumer-lag scaling",
            Kind::Predictive => "predictive scaling",
            Kind::Spot => "spot capacity",
            Kind::Step => "step scaling",
            Kind::TargetTracking => "target tracking",
        }
    }
}

const STACK_KEYS: [&str; 8] = [
    "name",
    "rate_limit",
    "deadline",
    "retry",
    "circuit_breaker",
    "bulkhead",
    "timeout",
    "classify",
];

/// The kind of a file, from its top-level keys; `None` when nothing fits.
pub(crate) fn detect(text: &str) -> Result<Option<Kind>, ConfigError> {
    let doc: serde_norway::Value = from_yaml_str(text)?;
    let Some(map) = doc.as_mapping() else {
        return Ok(None);
    };
    let keys: Vec<&str> = map.keys().filter_map(|k| k.as_str()).collect();
    let has = |k: &str| keys.contains(&k);
    let kind = if has("apiVersion") || has("kind") {
        Kind::Hpa
    } else if has("circuit_breakers") {
        Kind::Gateway
    } else if !keys.is_empty() && keys.iter().all(|k| STACK_KEYS.contains(k)) {
        Kind::Stack
    } else if has("bulkheads") || has("pools") {
        Kind::Bulkheads
    } else if has("components") {
        Kind::Degradation
    } else if has("instance_types") {
        Kind::Spot
    } else if has("lookback") {
        Kind::Predictive
    } else if has("partitions") || has("lag_threshold") || has("min_instances") {
        Kind::Lag
    } else if has("daily") || has("windows") || has("reference_capacity") {
        Kind::Schedule
    } else if has("target_value") {
        Kind::TargetTracking
    } else if has("steps") || has("step_adjustments") {
        Kind::Step
    } else if has("component") || has("scale_up") {
        Kind::Rules
    } else if !map.is_empty() && map.values().all(|v| v.is_mapping()) {
        // A table of named entries: retry policies have a backoff.
        let retry = map
            .values()
            .any(|v| v.as_mapping().is_some_and(|m| m.contains_key("backoff")));
        if retry {
            Kind::Retries
        } else {
            Kind::Breakers
        }
    } else {
        return Ok(None);
    };
    Ok(Some(kind))
}

/// Builds everything in `text` as `kind`; returns one line saying what was
/// built.
pub(crate) fn build(kind: Kind, text: &str) -> Result<String, ConfigError> {
    Ok(match kind {
        Kind::Gateway => {
            let config = super::stack::StackConfig::from_yaml(text)?;
            super::stack::Stack::build(&config, resilience_core::clock::SystemClock)?;
            format!(
                "{} breakers, {} retry policies, the degradation matrix, recovery and heartbeats",
                config.circuit_breakers.len(),
                config.retry.len()
            )
        }
        Kind::Stack => {
            let config: StackConfig = from_yaml_str(text)?;
            let http = config.classify == Some(StackClassify::Http);
            let stack = ResilienceStack::http(config)?;
            format!(
                "layers: {}{}{}{}{}{}{}",
                if stack.rate_limiter().is_some() {
                    "rate_limit "
                } else {
                    ""
                },
                if stack.deadline().is_some() {
                    "deadline "
                } else {
                    ""
                },
                if stack.retry_policy().is_some() {
                    "retry "
                } else {
                    ""
                },
                if stack.breaker().is_some() {
                    "breaker "
                } else {
                    ""
                },
                if stack.bulkhead().is_some() {
                    "bulkhead "
                } else {
                    ""
                },
                if stack.timeout().is_some() {
                    "timeout "
                } else {
                    ""
                },
                if http { "(http)" } else { "" },
            )
        }
        Kind::Breakers => {
            let table: BTreeMap<String, CircuitBreakerConfig> = from_yaml_str(text)?;
            for (name, c) in &table {
                let mut c = c.clone();
                c.name.get_or_insert_with(|| name.clone());
                CircuitBreaker::new(c).map_err(|e| e.within(name))?;
            }
            format!("{} breakers: {}", table.len(), names(table.keys()))
        }
        Kind::Retries => {
            let table = RetryTable::from_yaml_str(text)?;
            for name in table.names() {
                table.policy(name)?;
            }
            format!("{} retry policies: {}", table.len(), names(table.names()))
        }
        Kind::Bulkheads => {
            let config: BulkheadSetConfig = from_yaml_str(text)?;
            let set = BulkheadSet::new(config)?;
            format!("{} pools: {}", set.len(), names(set.names()))
        }
        Kind::Degradation => {
            let config: DegradationConfig = from_yaml_str(text)?;
            let m = DegradationManager::new(config)?;
            format!(
                "`{}`: {} levels, {} features",
                m.name(),
                m.thresholds().levels().len(),
                m.matrix().features().count()
            )
        }
        Kind::Hpa => {
            Hpa::from_manifest_yaml(text)?;
            "an HPA at controller parity".to_string()
        }
        Kind::Rules => {
            let e = RuleEngine::from_yaml(text)?;
            format!(
                "`{}`: {}..{} replicas",
                e.config().component,
                e.config().min_replicas,
                e.config().max_replicas
            )
        }
        Kind::Schedule => {
            Schedule::from_yaml(text)?;
            "a schedule".to_string()
        }
        Kind::Lag => {
            LagScaler::from_yaml(text)?;
            "a consumer-lag scaler".to_string()
        }
        Kind::Predictive => {
            Predictor::from_yaml(text)?;
            "a predictor".to_string()
        }
        Kind::Spot => {
            SpotManager::from_yaml(text)?;
            "a spot manager".to_string()
        }
        Kind::Step => {
            StepScaling::from_yaml(text)?;
            "a step-scaling policy".to_string()
        }
        Kind::TargetTracking => {
            TargetTracking::from_yaml(text)?;
            "a target-tracking policy".to_string()
        }
    })
}

fn names<'a>(it: impl IntoIterator<Item = impl AsRef<str> + 'a>) -> String {
    it.into_iter()
        .map(|n| n.as_ref().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Recognises and builds a file: its kind and what was built.
pub(crate) fn check(text: &str) -> Result<(Kind, String), ConfigError> {
    match detect(text)? {
        Some(kind) => build(kind, text).map(|built| (kind, built)),
        None => Err(ConfigError::invalid(
            "(top level)",
            "not a config file this suite knows: expected a gateway stack (circuit_breakers, \
             retry, bulkheads, ...), a ResilienceStack (deadline, retry, circuit_breaker, \
             bulkhead, timeout), a table of named breakers or retry policies, bulkheads, a \
             degradation config (components), an HPA manifest, or a scaling policy (rules, \
             schedule, lag, predictive, spot, step, target tracking)",
        )),
    }
}
