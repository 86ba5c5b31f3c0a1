//! The reference platforms' component scaling tables as ready policies, one
//! module per platform, as in `resilience_core::presets`.
//!
//! Each table row ("Generation Workers | Queue depth > 50 | 2..50") becomes a
//! [`RulePolicyConfig`] for the [`RuleEngine`](crate::rules::RuleEngine):
//! its trigger is a scale-up rule, its bounds are `min_replicas` /
//! `max_replicas`. A config is plain data: change a field before building
//! the engine if your fleet differs.
//!
//! | module | the platform | rows |
//! |---|---|---|
//! | [`synthetic_data`] | a GPU training and synthetic-data generation platform | API gateway, training / generation / quality workers, metadata DB read replicas, Redis cache |
//! | [`data_platform`] | a data platform ingesting change streams | API servers, ingestion / transform workers, CDC processors, anomaly detectors, schema mappers |
//! | [`model_registry`] | an ML model registry | registry service (read QPS, CPU, p99, queue), dependency service, retrain service, ground-truth consumers |
//! | [`gpu_inference`] | a GPU inference service | the GPU pool policy |
//! | [`workflow_runtime`] | a workflow runtime | API gateway, runtime engine, metadata cache, metadata DB, flex store, LLM serving |
//!
//! ```
//! use std::time::Instant;
//! use resilience_scaling::presets::synthetic_data;
//! use resilience_scaling::rules::RuleEngine;
//!
//! let mut generation = RuleEngine::new(synthetic_data::generation_workers())?;
//! let d = generation.evaluate_named(Instant::now(), 4, &[("queue_depth", 51.0)]);
//! assert_eq!(d.replicas, 5);
//! # Ok::<(), resilience_core::config::ConfigError>(())
//! ```
//!
//! # Reading the tables
//!
//! The tables give a trigger and bounds; most give no step, hold time,
//! cooldown or scale-down rule. The presets fill the gaps the same way
//! everywhere, and each constructor's doc says which values are the
//! platform's and which are these defaults:
//!
//! * **Step:** the row's "scale factor" (+2, +5, +3, +1 per partition);
//!   without one, **+1** replica per firing.
//! * **Hold:** the row's duration ("for 5 minutes"); without one, the rule
//!   fires on the first reading past the threshold (the cooldown spaces the
//!   steps).
//! * **Cooldown:** the platform's own (the data platform's policy block:
//!   5 min both ways); without one, **60 s up and 300 s down**, the pair the
//!   workflow runtime's own HPA manifest uses (its scale-down window is
//!   also the Kubernetes default).
//! * **Scale-down:** no table has one except the data platform's ingestion
//!   workers (queue < 100 for 10 min → −2). The others get **−1 when every
//!   "above" trigger has read below half its threshold for 10 minutes** — a
//!   band wide enough that a step down does not re-trigger the step up.
//! * **Bounds:** the row's min and max, else the platform's capacity plan
//!   (named in the doc); where a platform gives neither, the constructor
//!   takes them as arguments rather than inventing them.
//! * **Thresholds** are strict (`>`), as the tables write them; metric
//!   names are the ones in each doc, in the units named there (percent for
//!   utilisations, milliseconds for latencies, seconds for lag).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::lag::{LagScalerConfig, LagSeconds};

/// Every table row whose bounds the platform gives, by `platform.component`
/// name (the rows that take bounds as arguments are not listed): for hosts
/// that pick a preset from configuration.
///
/// ```
/// use resilience_scaling::presets;
/// let all = presets::rule_policies();
/// assert!(all.iter().any(|(n, _)| *n == "data_platform.cdc_processors"));
/// let ingest = presets::rule_policy("data_platform.ingestion_workers").unwrap();
/// assert_eq!(ingest.max_replicas, 200);
/// assert!(presets::rule_policy("nope").is_none());
/// ```
pub fn rule_policies() -> Vec<(&'static str, RulePolicyConfig)> {
    vec![
        ("synthetic_data.api_gateway", synthetic_data::api_gateway()),
        (
            "synthetic_data.training_workers",
            synthetic_data::training_workers(),
        ),
        (
            "synthetic_data.generation_workers",
            synthetic_data::generation_workers(),
        ),
        (
            "synthetic_data.quality_workers",
            synthetic_data::quality_workers(),
        ),
        ("synthetic_data.redis_cache", synthetic_data::redis_cache()),
        ("data_platform.api_servers", data_platform::api_servers()),
        (
            "data_platform.ingestion_workers",
            data_platform::ingestion_workers(),
        ),
        (
            "data_platform.transform_workers",
            data_platform::transform_workers(),
        ),
        (
            "data_platform.cdc_processors",
            data_platform::cdc_processors(),
        ),
        (
            "data_platform.anomaly_detectors",
            data_platform::anomaly_detectors(),
        ),
        (
            "data_platform.schema_mappers",
            data_platform::schema_mappers(),
        ),
        (
            "model_registry.registry_service",
            model_registry::registry_service(),
        ),
        ("gpu_inference.gpu_pool", gpu_inference::gpu_pool()),
        (
            "workflow_runtime.runtime_engine",
            workflow_runtime::runtime_engine(),
        ),
    ]
}

/// The preset named `name` in [`rule_policies`], if any.
///
/// ```
/// let gpu = resilience_scaling::presets::rule_policy("gpu_inference.gpu_pool").unwrap();
/// assert_eq!(gpu.min_replicas, 20);
/// ```
pub fn rule_policy(name: &str) -> Option<RulePolicyConfig> {
    rule_policies()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| c)
}
use crate::rules::{DownCombine, RuleConfig, RulePolicyConfig};

const MIN: u64 = 60;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A scale-up trigger `metric > x` held for `hold`, adding `change`.
fn above(metric: &str, x: f64, hold: Duration, change: Option<u32>) -> RuleConfig {
    RuleConfig {
        name: None,
        metric: metric.to_string(),
        above: Some(x),
        below: None,
        above_capacity_fraction: None,
        below_capacity_fraction: None,
        hold,
        change,
        change_per: None,
    }
}

/// A trigger `metric < x` held for `hold`.
fn below(metric: &str, x: f64, hold: Duration, change: Option<u32>) -> RuleConfig {
    RuleConfig {
        below: Some(x),
        above: None,
        ..above(metric, 0.0, hold, change)
    }
}

/// The cooldowns a table row runs with.
#[derive(Clone, Copy)]
struct Cooldowns {
    up: Duration,
    down: Duration,
}

/// 60 s up, 300 s down: the default for platforms that give none.
const DEFAULT_COOLDOWNS: Cooldowns = Cooldowns {
    up: Duration::from_secs(60),
    down: Duration::from_secs(300),
};

/// The data platform's `cooldown_period: "5 minutes"`.
const DATA_PLATFORM_COOLDOWNS: Cooldowns = Cooldowns {
    up: Duration::from_secs(5 * MIN),
    down: Duration::from_secs(5 * MIN),
};

/// A row's policy: its scale-up triggers with `step`, its bounds and
/// cooldowns, and the default scale-down (every "above" trigger below half
/// its threshold for 10 min → −1).
fn row(
    component: &str,
    (min, max): (u32, u32),
    step: u32,
    cooldowns: Cooldowns,
    up: Vec<RuleConfig>,
) -> RulePolicyConfig {
    let down = up
        .iter()
        .filter_map(|r| {
            r.above
                .map(|x| below(&r.metric, x / 2.0, secs(10 * MIN), Some(1)))
        })
        .collect();
    RulePolicyConfig {
        component: component.to_string(),
        min_replicas: min,
        max_replicas: max,
        cooldown: None,
        cooldown_up: Some(cooldowns.up),
        cooldown_down: Some(cooldowns.down),
        scale_up_increment: step,
        scale_down_increment: 1,
        capacity_per_replica: None,
        scale_down_when: DownCombine::All,
        scale_up: up,
        scale_down: down,
        tier_minimums: BTreeMap::new(),
        distribution: BTreeMap::new(),
    }
}

/// The GPU training and synthetic-data generation platform's "Component
/// Scaling Matrix". The table gives triggers and bounds only: every row
/// steps +1 with the default cooldowns (60 s up, 300 s down) and scales
/// down by one when its metrics have read below half the trigger for
/// 10 minutes. Object storage ("managed service, scales automatically") has
/// no preset.
pub mod synthetic_data {
    use super::*;

    /// API gateway: request rate > 1000/s (`request_rate`, requests per
    /// second) → +1, 3..20 pods.
    ///
    /// ```
    /// let c = resilience_scaling::presets::synthetic_data::api_gateway();
    /// assert_eq!((c.min_replicas, c.max_replicas), (3, 20));
    /// ```
    pub fn api_gateway() -> RulePolicyConfig {
        row(
            "api_gateway",
            (3, 20),
            1,
            DEFAULT_COOLDOWNS,
            vec![above("request_rate", 1000.0, Duration::ZERO, None)],
        )
    }

    /// Training workers (GPU nodes, spot): queue depth > 10 (`queue_depth`)
    /// → +1, 0..100. A minimum of 0 lets the pool empty when no training
    /// is queued.
    ///
    /// ```
    /// let c = resilience_scaling::presets::synthetic_data::training_workers();
    /// assert_eq!((c.min_replicas, c.max_replicas), (0, 100));
    /// ```
    pub fn training_workers() -> RulePolicyConfig {
        row(
            "training_workers",
            (0, 100),
            1,
            DEFAULT_COOLDOWNS,
            vec![above("queue_depth", 10.0, Duration::ZERO, None)],
        )
    }

    /// Generation workers: queue depth > 50 (`queue_depth`) → +1, 2..50.
    ///
    /// ```
    /// let c = resilience_scaling::presets::synthetic_data::generation_workers();
    /// assert_eq!(c.scale_up[0].above, Some(50.0));
    /// ```
    pub fn generation_workers() -> RulePolicyConfig {
        row(
            "generation_workers",
            (2, 50),
            1,
            DEFAULT_COOLDOWNS,
            vec![above("queue_depth", 50.0, Duration::ZERO, None)],
        )
    }

    /// Quality workers: validation queue > 20 (`validation_queue_depth`)
    /// → +1, 2..30.
    ///
    /// ```
    /// let c = resilience_scaling::presets::synthetic_data::quality_workers();
    /// assert_eq!((c.min_replicas, c.max_replicas), (2, 30));
    /// ```
    pub fn quality_workers() -> RulePolicyConfig {
        row(
            "quality_workers",
            (2, 30),
            1,
            DEFAULT_COOLDOWNS,
            vec![above("validation_queue_depth", 20.0, Duration::ZERO, None)],
        )
    }

    /// Metadata DB read replicas, 1..5. The table names the triggers
    /// ("connection count, CPU") without numbers, so they are arguments:
    /// `cpu_utilization` (percent) above `cpu_percent`, or
    /// `connection_count` above `connections`, adds a replica.
    ///
    /// ```
    /// let c = resilience_scaling::presets::synthetic_data::metadata_db_replicas(70.0, 400.0);
    /// assert_eq!((c.min_replicas, c.max_replicas), (1, 5));
    /// assert_eq!(c.scale_up.len(), 2);
    /// ```
    pub fn metadata_db_replicas(cpu_percent: f64, connections: f64) -> RulePolicyConfig {
        row(
            "metadata_db_replicas",
            (1, 5),
            1,
            DEFAULT_COOLDOWNS,
            vec![
                above("cpu_utilization", cpu_percent, Duration::ZERO, None),
                above("connection_count", connections, Duration::ZERO, None),
            ],
        )
    }

    /// Redis cache cluster nodes: memory usage > 80 % (`memory_utilization`,
    /// percent) → +1 node, 3..12.
    ///
    /// ```
    /// let c = resilience_scaling::presets::synthetic_data::redis_cache();
    /// assert_eq!((c.min_replicas, c.max_replicas), (3, 12));
    /// ```
    pub fn redis_cache() -> RulePolicyConfig {
        row(
            "redis_cache",
            (3, 12),
            1,
            DEFAULT_COOLDOWNS,
            vec![above("memory_utilization", 80.0, Duration::ZERO, None)],
        )
    }
}

/// The data platform's "Scaling Dimensions" table and its `AutoScalingPolicy`
/// block. Every row uses the policy's `cooldown_period` of 5 minutes both
/// ways; minimums come from the capacity-planning summary (API servers 3,
/// transform workers 5, CDC processors 10) or, where it has none, are 1.
pub mod data_platform {
    use super::*;

    /// API servers: CPU > 70 % (`cpu_utilization`) or latency > 200 ms
    /// (`latency_ms`) → +2 instances, 3..50, 5 min cooldown.
    ///
    /// ```
    /// let c = resilience_scaling::presets::data_platform::api_servers();
    /// assert_eq!(c.scale_up_increment, 2);
    /// ```
    pub fn api_servers() -> RulePolicyConfig {
        row(
            "api_servers",
            (3, 50),
            2,
            DATA_PLATFORM_COOLDOWNS,
            vec![
                above("cpu_utilization", 70.0, Duration::ZERO, None),
                above("latency_ms", 200.0, Duration::ZERO, None),
            ],
        )
    }

    /// Ingestion workers, the platform's `AutoScalingPolicy` verbatim (also
    /// `presets/ingestion-workers.yaml`): `queue_depth` > 1000 for 2 min →
    /// +5; `cpu_utilization` > 80 % for 5 min → +2; `queue_depth` < 100 for
    /// 10 min → −2; 3..200 instances; cooldown 5 min.
    ///
    /// The platform contradicts itself on the minimum: the policy block says
    /// `min_instances: 3`, the capacity summary "10 → 200 workers". The
    /// preset takes **3**: the policy block is the configuration the
    /// platform runs, the summary describes a provisioned fleet; a host that
    /// wants the larger floor sets `min_replicas: 10`.
    ///
    /// ```
    /// let c = resilience_scaling::presets::data_platform::ingestion_workers();
    /// assert_eq!((c.min_replicas, c.max_replicas), (3, 200));
    /// ```
    pub fn ingestion_workers() -> RulePolicyConfig {
        RulePolicyConfig {
            component: "ingestion_workers".into(),
            min_replicas: 3,
            max_replicas: 200,
            cooldown: Some(secs(5 * MIN)),
            cooldown_up: None,
            cooldown_down: None,
            scale_up_increment: 1,
            scale_down_increment: 1,
            capacity_per_replica: None,
            scale_down_when: DownCombine::Any,
            scale_up: vec![
                above("queue_depth", 1000.0, secs(2 * MIN), Some(5)),
                above("cpu_utilization", 80.0, secs(5 * MIN), Some(2)),
            ],
            scale_down: vec![below("queue_depth", 100.0, secs(10 * MIN), Some(2))],
            tier_minimums: BTreeMap::new(),
            distribution: BTreeMap::new(),
        }
    }

    /// Transform workers: job queue > 50 (`job_queue_depth`) → +3, 5..100.
    ///
    /// ```
    /// let c = resilience_scaling::presets::data_platform::transform_workers();
    /// assert_eq!((c.min_replicas, c.max_replicas, c.scale_up_increment), (5, 100, 3));
    /// ```
    pub fn transform_workers() -> RulePolicyConfig {
        row(
            "transform_workers",
            (5, 100),
            3,
            DATA_PLATFORM_COOLDOWNS,
            vec![above("job_queue_depth", 50.0, Duration::ZERO, None)],
        )
    }

    /// CDC processors: consumer lag > 10 s (`consumer_lag_seconds`) → +1
    /// **per lagging partition** (`partitions_lagging`: the partitions
    /// whose lag is over 10 s, counted by the host), 10..500.
    ///
    /// ```
    /// use std::time::Instant;
    /// use resilience_scaling::rules::RuleEngine;
    /// let mut e = RuleEngine::new(resilience_scaling::presets::data_platform::cdc_processors())?;
    /// let d = e.evaluate_named(Instant::now(), 10, &[("consumer_lag_seconds", 25.0), ("partitions_lagging", 6.0)]);
    /// assert_eq!(d.replicas, 16);
    /// # Ok::<(), resilience_core::config::ConfigError>(())
    /// ```
    pub fn cdc_processors() -> RulePolicyConfig {
        let mut lag = above("consumer_lag_seconds", 10.0, Duration::ZERO, Some(1));
        lag.change_per = Some("partitions_lagging".into());
        row(
            "cdc_processors",
            (10, 500),
            1,
            DATA_PLATFORM_COOLDOWNS,
            vec![lag],
        )
    }

    /// Anomaly detectors: check latency > 5 s (`check_latency_seconds`) →
    /// +2, 1..20 (the platform gives no minimum).
    ///
    /// ```
    /// let c = resilience_scaling::presets::data_platform::anomaly_detectors();
    /// assert_eq!((c.min_replicas, c.max_replicas), (1, 20));
    /// ```
    pub fn anomaly_detectors() -> RulePolicyConfig {
        row(
            "anomaly_detectors",
            (1, 20),
            2,
            DATA_PLATFORM_COOLDOWNS,
            vec![above("check_latency_seconds", 5.0, Duration::ZERO, None)],
        )
    }

    /// Schema mappers: request queue > 20 (`request_queue_depth`) → +1,
    /// 1..10 (the platform gives no minimum).
    ///
    /// ```
    /// let c = resilience_scaling::presets::data_platform::schema_mappers();
    /// assert_eq!(c.max_replicas, 10);
    /// ```
    pub fn schema_mappers() -> RulePolicyConfig {
        row(
            "schema_mappers",
            (1, 10),
            1,
            DATA_PLATFORM_COOLDOWNS,
            vec![above("request_queue_depth", 20.0, Duration::ZERO, None)],
        )
    }
}

/// The model registry platform's "Component-Level Scaling" table, its
/// registry scaling triggers and its ground-truth consumer group. No
/// cooldown is given: the defaults (60 s up, 300 s down) apply.
pub mod model_registry {
    use super::*;

    /// Registry service instances: CPU > 70 % for 5 minutes
    /// (`cpu_utilization`), p99 latency > 200 ms (`p99_latency_ms`) or
    /// request queue > 100 (`request_queue_depth`) → +1, 3..8 (3 today, 8
    /// in the platform's year-3 infrastructure plan).
    ///
    /// ```
    /// let c = resilience_scaling::presets::model_registry::registry_service();
    /// assert_eq!(c.scale_up[0].hold.as_secs(), 300);
    /// ```
    pub fn registry_service() -> RulePolicyConfig {
        row(
            "registry_service",
            (3, 8),
            1,
            DEFAULT_COOLDOWNS,
            vec![
                above("cpu_utilization", 70.0, secs(5 * MIN), None),
                above("p99_latency_ms", 200.0, Duration::ZERO, None),
                above("request_queue_depth", 100.0, Duration::ZERO, None),
            ],
        )
    }

    /// Registry read replicas: read QPS > 100 (`read_qps`) → +1 replica,
    /// `min..max` (the platform draws two replicas and gives no bound).
    ///
    /// ```
    /// let c = resilience_scaling::presets::model_registry::registry_read_replicas(2, 6);
    /// assert_eq!(c.scale_up[0].above, Some(100.0));
    /// ```
    pub fn registry_read_replicas(min: u32, max: u32) -> RulePolicyConfig {
        row(
            "registry_read_replicas",
            (min, max),
            1,
            DEFAULT_COOLDOWNS,
            vec![above("read_qps", 100.0, Duration::ZERO, None)],
        )
    }

    /// Dependency service (graph read replicas): query latency > 200 ms
    /// (`query_latency_ms`) → +1, `min..max` (the platform runs 1 leader +
    /// 3 followers and gives no bound).
    ///
    /// ```
    /// let c = resilience_scaling::presets::model_registry::dependency_service(3, 7);
    /// assert_eq!(c.scale_up[0].metric, "query_latency_ms");
    /// ```
    pub fn dependency_service(min: u32, max: u32) -> RulePolicyConfig {
        row(
            "dependency_service",
            (min, max),
            1,
            DEFAULT_COOLDOWNS,
            vec![above("query_latency_ms", 200.0, Duration::ZERO, None)],
        )
    }

    /// Retrain service workers: concurrent jobs > 20 (`concurrent_jobs`) →
    /// +1, `min..max` (queue-based; the platform gives no bound).
    ///
    /// ```
    /// let c = resilience_scaling::presets::model_registry::retrain_service(1, 4);
    /// assert_eq!(c.scale_up[0].above, Some(20.0));
    /// ```
    pub fn retrain_service(min: u32, max: u32) -> RulePolicyConfig {
        row(
            "retrain_service",
            (min, max),
            1,
            DEFAULT_COOLDOWNS,
            vec![above("concurrent_jobs", 20.0, Duration::ZERO, None)],
        )
    }

    /// The `ground_truth_join` consumer group (also
    /// `presets/consumer-lag.yaml`): 4..32 instances, up above 300 s of lag,
    /// down below 30 s, 16 partitions. For the
    /// [`LagScaler`](crate::lag::LagScaler).
    ///
    /// ```
    /// let s = resilience_scaling::lag::LagScaler::new(
    ///     resilience_scaling::presets::model_registry::ground_truth_consumers())?;
    /// assert_eq!(s.config().partitions, Some(16));
    /// # Ok::<(), resilience_core::config::ConfigError>(())
    /// ```
    pub fn ground_truth_consumers() -> LagScalerConfig {
        LagScalerConfig {
            name: "default".into(),
            min_instances: 4,
            max_instances: 32,
            partitions: Some(16),
            lag_threshold: None,
            activation_lag_threshold: 0.0,
            scale_up_threshold: Some(LagSeconds {
                consumer_lag_seconds: 300.0,
            }),
            scale_down_threshold: Some(LagSeconds {
                consumer_lag_seconds: 30.0,
            }),
            scale_down_step: 1,
            scale_down_cooldown: secs(60),
            cooldown_period: secs(5 * MIN),
            limit_to_partitions_with_lag: false,
        }
    }
}

/// The GPU inference service.
pub mod gpu_inference {
    use super::*;

    /// The GPU pool policy, verbatim (also `presets/gpu-pool-policy.yaml`):
    /// turbo queue > 10 for 30 s, fast queue > 50 for 60 s, relax queue >
    /// 500 for 120 s, fast wait > 15 s for 60 s, relax wait > 5 min for
    /// 120 s, predicted traffic > 80 % of capacity → +5; all of queue < 20,
    /// GPU < 30 % (both for 10 min) and predicted traffic < 50 % of capacity
    /// → −3; 20..200 workers; `cooldown_up` 120 s, `cooldown_down` 300 s;
    /// tier minimums turbo 5, fast 10, relax 5; model mix sdxl 60 %, sd3
    /// 20 %, flux 15 %, other 5 %. Waits are in seconds, one worker is
    /// 0.6 requests/s of capacity.
    ///
    /// ```
    /// let c = resilience_scaling::presets::gpu_inference::gpu_pool();
    /// assert_eq!(c.cooldown_up.unwrap().as_secs(), 120);
    /// ```
    pub fn gpu_pool() -> RulePolicyConfig {
        let fraction = |metric: &str, up: bool, f: f64| {
            let mut r = above(metric, 0.0, Duration::ZERO, None);
            r.above = None;
            if up {
                r.above_capacity_fraction = Some(f);
            } else {
                r.below_capacity_fraction = Some(f);
            }
            r
        };
        RulePolicyConfig {
            component: "gpu_pool".into(),
            min_replicas: 20,
            max_replicas: 200,
            cooldown: None,
            cooldown_up: Some(secs(120)),
            cooldown_down: Some(secs(300)),
            scale_up_increment: 5,
            scale_down_increment: 3,
            capacity_per_replica: Some(0.6),
            scale_down_when: DownCombine::All,
            scale_up: vec![
                above("turbo_queue_depth", 10.0, secs(30), None),
                above("fast_queue_depth", 50.0, secs(60), None),
                above("relax_queue_depth", 500.0, secs(120), None),
                above("fast_avg_wait", 15.0, secs(60), None),
                above("relax_avg_wait", 300.0, secs(120), None),
                fraction("predicted_traffic", true, 0.8),
            ],
            scale_down: vec![
                below("all_queue_depth", 20.0, secs(10 * MIN), None),
                below("gpu_utilization", 30.0, secs(10 * MIN), None),
                fraction("predicted_traffic", false, 0.5),
            ],
            tier_minimums: [("turbo", 5), ("fast", 10), ("relax", 5)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            distribution: [
                ("sdxl", 60.0),
                ("sd3", 20.0),
                ("flux", 15.0),
                ("other", 5.0),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        }
    }
}

/// The workflow runtime's "Scaling Dimensions" table. No cooldowns are in
/// the table; the defaults (60 s up, 300 s down) are the ones its own
/// runtime-engine HPA manifest uses. The table gives bounds for the runtime
/// engine only (its HPA's 10..500) and a node count for the Redis cluster
/// (6: 3 primaries + 3 replicas); the other rows take them as arguments.
pub mod workflow_runtime {
    use super::*;

    /// API gateway: CPU > 70 % (`cpu_utilization`) or latency > 100 ms
    /// (`latency_ms`) → +1, `min..max`.
    ///
    /// ```
    /// let c = resilience_scaling::presets::workflow_runtime::api_gateway(3, 30);
    /// assert_eq!(c.scale_up[1].above, Some(100.0));
    /// ```
    pub fn api_gateway(min: u32, max: u32) -> RulePolicyConfig {
        row(
            "api_gateway",
            (min, max),
            1,
            DEFAULT_COOLDOWNS,
            vec![
                above("cpu_utilization", 70.0, Duration::ZERO, None),
                above("latency_ms", 100.0, Duration::ZERO, None),
            ],
        )
    }

    /// Runtime engine as a threshold rule: CPU > 60 % (`cpu_utilization`)
    /// or request queue > 100 (`request_queue_depth`) → +1, 10..500.
    ///
    /// The platform gives the queue threshold twice: 100 in its scaling
    /// table, an average of 50 per pod in its HPA manifest
    /// (`presets/runtime-engine-hpa.yaml`). They are different mechanisms,
    /// and both presets keep the platform's number for theirs: this rule
    /// fires on a queue **over 100** (a trigger), the HPA holds the
    /// per-pod average **at 50** (a target, so it scales out well before any
    /// pod reaches 100). Prefer the HPA preset when you can run it; this one
    /// is for hosts that evaluate threshold rules.
    ///
    /// ```
    /// let c = resilience_scaling::presets::workflow_runtime::runtime_engine();
    /// assert_eq!((c.min_replicas, c.max_replicas), (10, 500));
    /// ```
    pub fn runtime_engine() -> RulePolicyConfig {
        row(
            "runtime_engine",
            (10, 500),
            1,
            DEFAULT_COOLDOWNS,
            vec![
                above("cpu_utilization", 60.0, Duration::ZERO, None),
                above("request_queue_depth", 100.0, Duration::ZERO, None),
            ],
        )
    }

    /// Metadata cache (Redis shards): memory > 80 % (`memory_utilization`)
    /// or hit rate < 95 % (`hit_rate`, percent) → +1 shard, 6..`max` (the
    /// cluster runs 6 nodes). Scales down only on memory (< 40 % for
    /// 10 min): a low hit rate is no reason to remove a shard.
    ///
    /// ```
    /// let c = resilience_scaling::presets::workflow_runtime::metadata_cache(12);
    /// assert_eq!(c.scale_up[1].below, Some(95.0));
    /// ```
    pub fn metadata_cache(max: u32) -> RulePolicyConfig {
        row(
            "metadata_cache",
            (6, max),
            1,
            DEFAULT_COOLDOWNS,
            vec![
                above("memory_utilization", 80.0, Duration::ZERO, None),
                below("hit_rate", 95.0, Duration::ZERO, None),
            ],
        )
    }

    /// Metadata DB read replicas: CPU > 60 % (`cpu_utilization`) or query
    /// latency > 10 ms (`query_latency_ms`) → +1, `min..max` (the platform
    /// runs 3 replicas).
    ///
    /// ```
    /// let c = resilience_scaling::presets::workflow_runtime::metadata_db(3, 6);
    /// assert_eq!(c.scale_up[1].above, Some(10.0));
    /// ```
    pub fn metadata_db(min: u32, max: u32) -> RulePolicyConfig {
        row(
            "metadata_db",
            (min, max),
            1,
            DEFAULT_COOLDOWNS,
            vec![
                above("cpu_utilization", 60.0, Duration::ZERO, None),
                above("query_latency_ms", 10.0, Duration::ZERO, None),
            ],
        )
    }

    /// Flex store shards: storage > 70 % (`storage_utilization`) or QPS per
    /// shard > 10 000 (`qps_per_shard`) → +1 shard, `min..max`.
    ///
    /// ```
    /// let c = resilience_scaling::presets::workflow_runtime::flex_store(32, 64);
    /// assert_eq!(c.scale_up[1].above, Some(10_000.0));
    /// ```
    pub fn flex_store(min: u32, max: u32) -> RulePolicyConfig {
        row(
            "flex_store",
            (min, max),
            1,
            DEFAULT_COOLDOWNS,
            vec![
                above("storage_utilization", 70.0, Duration::ZERO, None),
                above("qps_per_shard", 10_000.0, Duration::ZERO, None),
            ],
        )
    }

    /// LLM serving GPUs: queue depth > 50 (`queue_depth`) or time to first
    /// token > 3 s (`ttft_seconds`) → +1 GPU, `min..max`.
    ///
    /// ```
    /// let c = resilience_scaling::presets::workflow_runtime::llm_serving(2, 16);
    /// assert_eq!(c.scale_up[1].above, Some(3.0));
    /// ```
    pub fn llm_serving(min: u32, max: u32) -> RulePolicyConfig {
        row(
            "llm_serving",
            (min, max),
            1,
            DEFAULT_COOLDOWNS,
            vec![
                above("queue_depth", 50.0, Duration::ZERO, None),
                above("ttft_seconds", 3.0, Duration::ZERO, None),
            ],
        )
    }
}
