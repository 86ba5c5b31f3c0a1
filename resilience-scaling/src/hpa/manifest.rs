//! The `autoscaling/v2` `HorizontalPodAutoscaler` object, field for field.
//!
//! These types mirror the Kubernetes API (camelCase names, the same optional
//! fields) so that a manifest copied from a cluster deserializes as is.
//! [`HpaConfig::from_manifest`] applies the API server's defaulting and
//! validation and yields the working configuration.

use std::collections::BTreeMap;
use std::time::Duration;

use resilience_core::config::ConfigError;
use serde::{Deserialize, Serialize};

use super::quantity::Quantity;

/// A `HorizontalPodAutoscaler` manifest (`autoscaling/v2`).
///
/// `status` and metadata fields other than name, namespace, labels and
/// annotations are accepted and ignored, so `kubectl get hpa -o yaml` output
/// loads too.
///
/// ```
/// use resilience_scaling::hpa::HorizontalPodAutoscaler;
/// let m: HorizontalPodAutoscaler = resilience_core::config::from_yaml_str(r#"
/// apiVersion: autoscaling/v2
/// kind: HorizontalPodAutoscaler
/// metadata: { name: web }
/// spec:
///   scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: web }
///   maxReplicas: 10
/// "#).unwrap();
/// assert_eq!(m.spec.max_replicas, 10);
/// assert_eq!(m.metadata.name, "web");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HorizontalPodAutoscaler {
    /// `autoscaling/v2` (or the older `autoscaling/v2beta2`).
    pub api_version: String,
    /// `HorizontalPodAutoscaler`.
    pub kind: String,
    /// Name, namespace, labels, annotations.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The autoscaling specification.
    pub spec: HorizontalPodAutoscalerSpec,
    /// Ignored (the live status of a cluster object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<serde_norway::Value>,
}

/// The metadata fields this crate reads; other metadata fields are ignored.
///
/// ```
/// use resilience_scaling::hpa::ObjectMeta;
/// let m = ObjectMeta { name: "web".into(), ..Default::default() };
/// assert!(m.namespace.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// Object name (used as the metrics label).
    #[serde(default)]
    pub name: String,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// `spec` of a `HorizontalPodAutoscaler`.
///
/// ```
/// use resilience_scaling::hpa::HorizontalPodAutoscalerSpec;
/// let s: HorizontalPodAutoscalerSpec = resilience_core::config::from_yaml_str(
///     "scaleTargetRef: {kind: Deployment, name: web}\nminReplicas: 2\nmaxReplicas: 8",
/// ).unwrap();
/// assert_eq!(s.min_replicas, Some(2));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HorizontalPodAutoscalerSpec {
    /// The workload being scaled.
    pub scale_target_ref: CrossVersionObjectReference,
    /// Lower bound (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<i64>,
    /// Upper bound (required).
    pub max_replicas: i64,
    /// Metrics to scale on (default: CPU at 80 % utilization).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricSpec>,
    /// Scaling behavior (default: the Kubernetes defaults, see [`ScalingRules`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behavior: Option<HorizontalPodAutoscalerBehavior>,
}

/// A reference to another object (`scaleTargetRef`, `describedObject`).
///
/// ```
/// use resilience_scaling::hpa::CrossVersionObjectReference;
/// let r = CrossVersionObjectReference { api_version: None, kind: "Deployment".into(), name: "web".into() };
/// assert_eq!(r.kind, "Deployment");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CrossVersionObjectReference {
    /// API version of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the referent.
    pub kind: String,
    /// Name of the referent.
    pub name: String,
}

/// One entry of `spec.metrics`.
///
/// ```
/// use resilience_scaling::hpa::{MetricSpec, MetricSourceType};
/// let m: MetricSpec = resilience_core::config::from_yaml_str(
///     "type: Resource\nresource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}",
/// ).unwrap();
/// assert_eq!(m.type_, MetricSourceType::Resource);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricSpec {
    /// Which of the source fields is set.
    #[serde(rename = "type")]
    pub type_: MetricSourceType,
    /// A resource of the scaled pods (cpu, memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceMetricSource>,
    /// A resource of one container of the scaled pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_resource: Option<ContainerResourceMetricSource>,
    /// A custom metric of the scaled pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<PodsMetricSource>,
    /// A metric of another object (an ingress, a queue object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectMetricSource>,
    /// A metric from outside the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalMetricSource>,
}

/// `MetricSpec.type`.
///
/// ```
/// use resilience_scaling::hpa::MetricSourceType;
/// let t: MetricSourceType = resilience_core::config::from_yaml_str("External").unwrap();
/// assert_eq!(t, MetricSourceType::External);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetricSourceType {
    /// `resource` is set.
    Resource,
    /// `containerResource` is set.
    ContainerResource,
    /// `pods` is set.
    Pods,
    /// `object` is set.
    Object,
    /// `external` is set.
    External,
}

/// `resource` metric source.
///
/// ```
/// use resilience_scaling::hpa::ResourceMetricSource;
/// let r: ResourceMetricSource = resilience_core::config::from_yaml_str(
///     "name: memory\ntarget: {type: AverageValue, averageValue: 512Mi}").unwrap();
/// assert_eq!(r.name, "memory");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceMetricSource {
    /// Resource name (`cpu`, `memory`).
    pub name: String,
    /// Target value.
    pub target: MetricTarget,
}

/// `containerResource` metric source.
///
/// ```
/// use resilience_scaling::hpa::ContainerResourceMetricSource;
/// let r: ContainerResourceMetricSource = resilience_core::config::from_yaml_str(
///     "name: cpu\ncontainer: app\ntarget: {type: Utilization, averageUtilization: 70}").unwrap();
/// assert_eq!(r.container, "app");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerResourceMetricSource {
    /// Resource name.
    pub name: String,
    /// Container name.
    pub container: String,
    /// Target value.
    pub target: MetricTarget,
}

/// `pods` metric source.
///
/// ```
/// use resilience_scaling::hpa::PodsMetricSource;
/// let p: PodsMetricSource = resilience_core::config::from_yaml_str(
///     "metric: {name: queue}\ntarget: {type: AverageValue, averageValue: 50}").unwrap();
/// assert_eq!(p.metric.name, "queue");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodsMetricSource {
    /// Metric name and selector.
    pub metric: MetricIdentifier,
    /// Target value (AverageValue only).
    pub target: MetricTarget,
}

/// `object` metric source.
///
/// ```
/// use resilience_scaling::hpa::ObjectMetricSource;
/// let o: ObjectMetricSource = resilience_core::config::from_yaml_str(
///     "describedObject: {kind: Ingress, name: main}\nmetric: {name: rps}\ntarget: {type: Value, value: 2k}").unwrap();
/// assert_eq!(o.described_object.name, "main");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectMetricSource {
    /// The object the metric describes.
    pub described_object: CrossVersionObjectReference,
    /// Metric name and selector.
    pub metric: MetricIdentifier,
    /// Target value (Value or AverageValue).
    pub target: MetricTarget,
}

/// `external` metric source.
///
/// ```
/// use resilience_scaling::hpa::ExternalMetricSource;
/// let e: ExternalMetricSource = resilience_core::config::from_yaml_str(
///     "metric: {name: queue_messages}\ntarget: {type: AverageValue, averageValue: 30}").unwrap();
/// assert_eq!(e.metric.name, "queue_messages");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalMetricSource {
    /// Metric name and selector.
    pub metric: MetricIdentifier,
    /// Target value (Value or AverageValue).
    pub target: MetricTarget,
}

/// A metric's name and optional label selector (kept, not interpreted).
///
/// ```
/// use resilience_scaling::hpa::MetricIdentifier;
/// let m = MetricIdentifier { name: "rps".into(), selector: None };
/// assert_eq!(m.name, "rps");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricIdentifier {
    /// Metric name.
    pub name: String,
    /// Label selector, passed through for the host's metrics source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<serde_norway::Value>,
}

/// A metric target: `type` plus the matching value field.
///
/// ```
/// use resilience_scaling::hpa::{MetricTarget, MetricTargetType};
/// let t: MetricTarget = resilience_core::config::from_yaml_str("type: Utilization\naverageUtilization: 60").unwrap();
/// assert_eq!(t.type_, MetricTargetType::Utilization);
/// assert_eq!(t.average_utilization, Some(60));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricTarget {
    /// Utilization, Value or AverageValue.
    #[serde(rename = "type")]
    pub type_: MetricTargetType,
    /// For `Value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Quantity>,
    /// For `AverageValue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_value: Option<Quantity>,
    /// For `Utilization`: percent of the pods' resource request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_utilization: Option<i64>,
}

/// `MetricTarget.type`.
///
/// ```
/// use resilience_scaling::hpa::MetricTargetType;
/// let t: MetricTargetType = resilience_core::config::from_yaml_str("AverageValue").unwrap();
/// assert_eq!(t, MetricTargetType::AverageValue);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetricTargetType {
    /// Percent of the resource request, averaged over pods.
    Utilization,
    /// A total value.
    Value,
    /// A value per pod.
    AverageValue,
}

/// `spec.behavior`.
///
/// ```
/// use resilience_scaling::hpa::HorizontalPodAutoscalerBehavior;
/// let b: HorizontalPodAutoscalerBehavior = resilience_core::config::from_yaml_str(
///     "scaleDown: {stabilizationWindowSeconds: 60}").unwrap();
/// assert!(b.scale_up.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HorizontalPodAutoscalerBehavior {
    /// Rules for scaling up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_up: Option<HpaScalingRules>,
    /// Rules for scaling down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down: Option<HpaScalingRules>,
}

/// `behavior.scaleUp` / `behavior.scaleDown`, as written.
///
/// ```
/// use resilience_scaling::hpa::{HpaScalingRules, SelectPolicy};
/// let r: HpaScalingRules = resilience_core::config::from_yaml_str(
///     "selectPolicy: Disabled").unwrap();
/// assert_eq!(r.select_policy, Some(SelectPolicy::Disabled));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HpaScalingRules {
    /// Seconds of past recommendations to consider (0..=3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stabilization_window_seconds: Option<i64>,
    /// How to combine the policies (default Max).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select_policy: Option<SelectPolicy>,
    /// Rate limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<Vec<HpaScalingPolicy>>,
    /// Tolerance for this direction (default 0.1), as in Kubernetes 1.33+.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<Quantity>,
}

/// `selectPolicy`.
///
/// ```
/// use resilience_scaling::hpa::SelectPolicy;
/// assert_eq!(SelectPolicy::default(), SelectPolicy::Max);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SelectPolicy {
    /// The policy allowing the largest change wins.
    #[default]
    Max,
    /// The policy allowing the smallest change wins.
    Min,
    /// No scaling in this direction.
    Disabled,
}

/// One rate-limiting policy, as written.
///
/// ```
/// use resilience_scaling::hpa::{HpaScalingPolicy, PolicyType};
/// let p: HpaScalingPolicy = resilience_core::config::from_yaml_str(
///     "{type: Pods, value: 4, periodSeconds: 15}").unwrap();
/// assert_eq!(p.type_, PolicyType::Pods);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HpaScalingPolicy {
    /// Pods or Percent.
    #[serde(rename = "type")]
    pub type_: PolicyType,
    /// Pods or percent allowed per period (> 0).
    pub value: i64,
    /// Period length in seconds (1..=1800).
    pub period_seconds: i64,
}

/// A policy's unit.
///
/// ```
/// use resilience_scaling::hpa::PolicyType;
/// assert_ne!(PolicyType::Pods, PolicyType::Percent);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyType {
    /// An absolute number of pods per period.
    Pods,
    /// A percentage of the replicas at the start of the period.
    Percent,
}

// ---------------------------------------------------------------------------
// Validated configuration
// ---------------------------------------------------------------------------

/// A validated HPA: bounds, metric targets and behavior with every default
/// applied. Build it from a manifest ([`HpaConfig::from_manifest`]) or by hand
/// and check it with [`HpaConfig::validate`].
///
/// ```
/// use resilience_scaling::hpa::{HpaConfig, ScalingRules};
/// let cfg = HpaConfig {
///     name: "web".into(),
///     min_replicas: 2,
///     max_replicas: 20,
///     metrics: vec![],
///     scale_up: ScalingRules::default_scale_up(),
///     scale_down: ScalingRules::default_scale_down(),
/// };
/// assert!(cfg.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HpaConfig {
    /// Name, used as the `hpa` metrics label.
    pub name: String,
    /// Lower bound. 0 is accepted (the `HPAScaleToZero` behaviour).
    pub min_replicas: u32,
    /// Upper bound, at least 1 and at least `min_replicas`.
    pub max_replicas: u32,
    /// Metric targets, in manifest order.
    pub metrics: Vec<MetricTargetSpec>,
    /// Scale-up behavior.
    pub scale_up: ScalingRules,
    /// Scale-down behavior.
    pub scale_down: ScalingRules,
}

/// One validated metric target.
///
/// ```
/// use resilience_scaling::hpa::{MetricTargetSpec, MetricSource, Target};
/// let m = MetricTargetSpec { source: MetricSource::Resource { name: "cpu".into() }, target: Target::Utilization(60) };
/// assert_eq!(m.key(), "cpu");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MetricTargetSpec {
    /// Where the metric comes from.
    pub source: MetricSource,
    /// The value to hold it at.
    pub target: Target,
}

impl MetricTargetSpec {
    /// The key under which readings for this metric are looked up in a
    /// [`MetricsSnapshot`](super::MetricsSnapshot): the resource name for
    /// Resource metrics, `container/resource` for ContainerResource metrics,
    /// the metric name otherwise.
    pub fn key(&self) -> String {
        match &self.source {
            MetricSource::Resource { name } => name.clone(),
            MetricSource::ContainerResource { name, container } => format!("{container}/{name}"),
            MetricSource::Pods { name }
            | MetricSource::Object { name, .. }
            | MetricSource::External { name } => name.clone(),
        }
    }
}

/// Where a metric comes from.
///
/// ```
/// use resilience_scaling::hpa::MetricSource;
/// let s = MetricSource::External { name: "queue_messages".into() };
/// assert!(matches!(s, MetricSource::External { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricSource {
    /// A resource (`cpu`, `memory`) of the scaled pods.
    Resource {
        /// Resource name.
        name: String,
    },
    /// A resource of one container of the scaled pods.
    ContainerResource {
        /// Resource name.
        name: String,
        /// Container name.
        container: String,
    },
    /// A custom per-pod metric.
    Pods {
        /// Metric name.
        name: String,
    },
    /// A metric of another object.
    Object {
        /// Metric name.
        name: String,
        /// `Kind/name` of the described object.
        described_object: String,
    },
    /// An external metric.
    External {
        /// Metric name.
        name: String,
    },
}

/// A metric target value. Values are in milli-units, like the controller.
///
/// ```
/// use resilience_scaling::hpa::Target;
/// let t = Target::AverageValue(50_000); // 50 per pod
/// assert_eq!(t, Target::AverageValue(50_000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Percent of the pods' resource request.
    Utilization(u32),
    /// Total value, in milli-units.
    Value(i64),
    /// Value per pod, in milli-units.
    AverageValue(i64),
}

/// Validated `scaleUp` / `scaleDown` rules.
///
/// ```
/// use std::time::Duration;
/// use resilience_scaling::hpa::ScalingRules;
/// let up = ScalingRules::default_scale_up();
/// assert_eq!(up.stabilization_window, Duration::ZERO);
/// assert_eq!(up.policies.len(), 2);
/// let down = ScalingRules::default_scale_down();
/// assert_eq!(down.stabilization_window, Duration::from_secs(300));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingRules {
    /// Window of past recommendations considered.
    pub stabilization_window: Duration,
    /// How policies combine.
    pub select_policy: SelectPolicy,
    /// Rate limits (at least one).
    pub policies: Vec<ScalingPolicy>,
    /// The ratio distance from 1.0 that is ignored in this direction.
    pub tolerance: f64,
}

/// A validated rate limit.
///
/// ```
/// use std::time::Duration;
/// use resilience_scaling::hpa::{PolicyType, ScalingPolicy};
/// let p = ScalingPolicy { type_: PolicyType::Percent, value: 100, period: Duration::from_secs(15) };
/// assert_eq!(p.value, 100);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScalingPolicy {
    /// Pods or Percent.
    pub type_: PolicyType,
    /// Pods or percent per period.
    pub value: u32,
    /// Period length.
    pub period: Duration,
}

/// The controller's default tolerance (`--horizontal-pod-autoscaler-tolerance`).
pub const DEFAULT_TOLERANCE: f64 = 0.1;

impl ScalingRules {
    /// Kubernetes' default scale-up rules: no stabilization, at most double
    /// or +4 pods (whichever is more) every 15 s.
    pub fn default_scale_up() -> Self {
        ScalingRules {
            stabilization_window: Duration::ZERO,
            select_policy: SelectPolicy::Max,
            policies: vec![
                ScalingPolicy {
                    type_: PolicyType::Percent,
                    value: 100,
                    period: Duration::from_secs(15),
                },
                ScalingPolicy {
                    type_: PolicyType::Pods,
                    value: 4,
                    period: Duration::from_secs(15),
                },
            ],
            tolerance: DEFAULT_TOLERANCE,
        }
    }

    /// Kubernetes' default scale-down rules: a 300 s stabilization window,
    /// then up to 100 % every 15 s.
    pub fn default_scale_down() -> Self {
        ScalingRules {
            stabilization_window: Duration::from_secs(300),
            select_policy: SelectPolicy::Max,
            policies: vec![ScalingPolicy {
                type_: PolicyType::Percent,
                value: 100,
                period: Duration::from_secs(15),
            }],
            tolerance: DEFAULT_TOLERANCE,
        }
    }

    /// The longest policy period (how long scale events matter).
    pub fn longest_period(&self) -> Duration {
        self.policies
            .iter()
            .map(|p| p.period)
            .max()
            .unwrap_or(Duration::ZERO)
    }

    fn from_manifest(
        raw: Option<&HpaScalingRules>,
        defaults: ScalingRules,
        field: &str,
    ) -> Result<Self, ConfigError> {
        let Some(raw) = raw else {
            return Ok(defaults);
        };
        let stabilization_window = match raw.stabilization_window_seconds {
            None => defaults.stabilization_window,
            Some(s) if (0..=3600).contains(&s) => Duration::from_secs(s as u64),
            Some(s) => {
                return Err(ConfigError::invalid(
                    format!("{field}.stabilizationWindowSeconds"),
                    format!("must be between 0 and 3600 seconds, got {s}"),
                ))
            }
        };
        let policies = match &raw.policies {
            None => defaults.policies,
            Some(list) => {
                if list.is_empty() {
                    return Err(ConfigError::invalid(
                        format!("{field}.policies"),
                        "must specify at least one policy (or leave the field out for the defaults)",
                    ));
                }
                let mut out = Vec::with_capacity(list.len());
                for (i, p) in list.iter().enumerate() {
                    if p.period_seconds <= 0 || p.period_seconds > 1800 {
                        return Err(ConfigError::invalid(
                            format!("{field}.policies[{i}].periodSeconds"),
                            format!(
                                "must be between 1 and 1800 seconds, got {}",
                                p.period_seconds
                            ),
                        ));
                    }
                    if p.value <= 0 || p.value > i64::from(i32::MAX) {
                        return Err(ConfigError::invalid(
                            format!("{field}.policies[{i}].value"),
                            format!("must be a positive 32-bit integer, got {}", p.value),
                        ));
                    }
                    out.push(ScalingPolicy {
                        type_: p.type_,
                        value: p.value as u32,
                        period: Duration::from_secs(p.period_seconds as u64),
                    });
                }
                out
            }
        };
        let tolerance = match raw.tolerance {
            None => defaults.tolerance,
            Some(q) if q.milli() >= 0 => q.as_f64(),
            Some(q) => {
                return Err(ConfigError::invalid(
                    format!("{field}.tolerance"),
                    format!("must not be negative, got {q}"),
                ))
            }
        };
        Ok(ScalingRules {
            stabilization_window,
            select_policy: raw.select_policy.unwrap_or(defaults.select_policy),
            policies,
            tolerance,
        })
    }

    fn validate(&self, field: &str) -> Result<(), ConfigError> {
        if self.stabilization_window > Duration::from_secs(3600) {
            return Err(ConfigError::invalid(
                format!("{field}.stabilization_window"),
                "must be at most 1h",
            ));
        }
        if self.policies.is_empty() {
            return Err(ConfigError::invalid(
                format!("{field}.policies"),
                "must specify at least one policy",
            ));
        }
        for (i, p) in self.policies.iter().enumerate() {
            if p.period.is_zero() || p.period > Duration::from_secs(1800) {
                return Err(ConfigError::invalid(
                    format!("{field}.policies[{i}].period"),
                    "must be between 1s and 30m",
                ));
            }
            if p.value == 0 || p.value > i32::MAX as u32 {
                return Err(ConfigError::invalid(
                    format!("{field}.policies[{i}].value"),
                    "must be a positive 32-bit integer",
                ));
            }
        }
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return Err(ConfigError::invalid(
                format!("{field}.tolerance"),
                format!("must be a finite number >= 0, got {}", self.tolerance),
            ));
        }
        Ok(())
    }
}

fn positive_quantity(q: Option<Quantity>, field: String, what: &str) -> Result<i64, ConfigError> {
    match q {
        Some(q) if q.milli() > 0 => Ok(q.milli()),
        Some(q) => Err(ConfigError::invalid(
            field,
            format!("must be positive, got {q}"),
        )),
        None => Err(ConfigError::invalid(
            field,
            format!("is required for a target of type {what}"),
        )),
    }
}

fn convert_target(
    t: &MetricTarget,
    field: &str,
    allowed: &[MetricTargetType],
) -> Result<Target, ConfigError> {
    if !allowed.contains(&t.type_) {
        return Err(ConfigError::invalid(
            format!("{field}.type"),
            format!("{:?} is not allowed here; use one of {allowed:?}", t.type_),
        ));
    }
    match t.type_ {
        MetricTargetType::Utilization => match t.average_utilization {
            Some(u) if u > 0 && u <= i64::from(i32::MAX) => Ok(Target::Utilization(u as u32)),
            Some(u) => Err(ConfigError::invalid(
                format!("{field}.averageUtilization"),
                format!("must be a positive percentage, got {u}"),
            )),
            None => Err(ConfigError::invalid(
                format!("{field}.averageUtilization"),
                "is required for a target of type Utilization",
            )),
        },
        MetricTargetType::Value => Ok(Target::Value(positive_quantity(
            t.value,
            format!("{field}.value"),
            "Value",
        )?)),
        MetricTargetType::AverageValue => Ok(Target::AverageValue(positive_quantity(
            t.average_value,
            format!("{field}.averageValue"),
            "AverageValue",
        )?)),
    }
}

fn require_name(name: &str, field: String) -> Result<String, ConfigError> {
    if name.trim().is_empty() {
        Err(ConfigError::invalid(field, "must not be empty"))
    } else {
        Ok(name.to_string())
    }
}

impl MetricTargetSpec {
    fn from_manifest(m: &MetricSpec, i: usize) -> Result<Self, ConfigError> {
        use MetricTargetType::*;
        let field = format!("spec.metrics[{i}]");
        let set = [
            m.resource.is_some(),
            m.container_resource.is_some(),
            m.pods.is_some(),
            m.object.is_some(),
            m.external.is_some(),
        ];
        if set.iter().filter(|s| **s).count() > 1 {
            return Err(ConfigError::invalid(
                field,
                "must set exactly one metric source (the one named by `type`)",
            ));
        }
        let missing = |key: &str| {
            ConfigError::invalid(
                format!("{field}.{key}"),
                format!("must be set when type is {:?}", m.type_),
            )
        };
        match m.type_ {
            MetricSourceType::Resource => {
                let r = m.resource.as_ref().ok_or_else(|| missing("resource"))?;
                Ok(MetricTargetSpec {
                    source: MetricSource::Resource {
                        name: require_name(&r.name, format!("{field}.resource.name"))?,
                    },
                    target: convert_target(
                        &r.target,
                        &format!("{field}.resource.target"),
                        &[Utilization, AverageValue],
                    )?,
                })
            }
            MetricSourceType::ContainerResource => {
                let r = m
                    .container_resource
                    .as_ref()
                    .ok_or_else(|| missing("containerResource"))?;
                Ok(MetricTargetSpec {
                    source: MetricSource::ContainerResource {
                        name: require_name(&r.name, format!("{field}.containerResource.name"))?,
                        container: require_name(
                            &r.container,
                            format!("{field}.containerResource.container"),
                        )?,
                    },
                    target: convert_target(
                        &r.target,
                        &format!("{field}.containerResource.target"),
                        &[Utilization, AverageValue],
                    )?,
                })
            }
            MetricSourceType::Pods => {
                let p = m.pods.as_ref().ok_or_else(|| missing("pods"))?;
                Ok(MetricTargetSpec {
                    source: MetricSource::Pods {
                        name: require_name(&p.metric.name, format!("{field}.pods.metric.name"))?,
                    },
                    target: convert_target(
                        &p.target,
                        &format!("{field}.pods.target"),
                        &[AverageValue],
                    )?,
                })
            }
            MetricSourceType::Object => {
                let o = m.object.as_ref().ok_or_else(|| missing("object"))?;
                Ok(MetricTargetSpec {
                    source: MetricSource::Object {
                        name: require_name(&o.metric.name, format!("{field}.object.metric.name"))?,
                        described_object: format!(
                            "{}/{}",
                            o.described_object.kind, o.described_object.name
                        ),
                    },
                    target: convert_target(
                        &o.target,
                        &format!("{field}.object.target"),
                        &[Value, AverageValue],
                    )?,
                })
            }
            MetricSourceType::External => {
                let e = m.external.as_ref().ok_or_else(|| missing("external"))?;
                Ok(MetricTargetSpec {
                    source: MetricSource::External {
                        name: require_name(
                            &e.metric.name,
                            format!("{field}.external.metric.name"),
                        )?,
                    },
                    target: convert_target(
                        &e.target,
                        &format!("{field}.external.target"),
                        &[Value, AverageValue],
                    )?,
                })
            }
        }
    }
}

impl HpaConfig {
    /// Applies the API server's defaults and validation to a manifest.
    ///
    /// Defaults: `minReplicas` 1; no metrics means CPU at 80 % utilization;
    /// missing behavior fields take the Kubernetes defaults
    /// ([`ScalingRules::default_scale_up`], [`ScalingRules::default_scale_down`]).
    ///
    /// ```
    /// use resilience_scaling::hpa::{HpaConfig, HorizontalPodAutoscaler, Target};
    /// let m: HorizontalPodAutoscaler = resilience_core::config::from_yaml_str(r#"
    /// apiVersion: autoscaling/v2
    /// kind: HorizontalPodAutoscaler
    /// spec:
    ///   scaleTargetRef: {kind: Deployment, name: web}
    ///   maxReplicas: 10
    /// "#).unwrap();
    /// let cfg = HpaConfig::from_manifest(&m).unwrap();
    /// assert_eq!(cfg.min_replicas, 1);
    /// assert_eq!(cfg.metrics[0].target, Target::Utilization(80));
    /// ```
    pub fn from_manifest(m: &HorizontalPodAutoscaler) -> Result<Self, ConfigError> {
        if m.api_version != "autoscaling/v2" && m.api_version != "autoscaling/v2beta2" {
            return Err(ConfigError::invalid(
                "apiVersion",
                format!(
                    "must be autoscaling/v2 (or autoscaling/v2beta2), got `{}`",
                    m.api_version
                ),
            ));
        }
        if m.kind != "HorizontalPodAutoscaler" {
            return Err(ConfigError::invalid(
                "kind",
                format!("must be HorizontalPodAutoscaler, got `{}`", m.kind),
            ));
        }
        let spec = &m.spec;
        let min = spec.min_replicas.unwrap_or(1);
        if min < 0 || min > i64::from(i32::MAX) {
            return Err(ConfigError::invalid(
                "spec.minReplicas",
                format!("must be between 0 and {}, got {min}", i32::MAX),
            ));
        }
        let max = spec.max_replicas;
        if max < 1 || max > i64::from(i32::MAX) {
            return Err(ConfigError::invalid(
                "spec.maxReplicas",
                format!("must be between 1 and {}, got {max}", i32::MAX),
            ));
        }
        if max < min {
            return Err(ConfigError::invalid(
                "spec.maxReplicas",
                format!("must be greater than or equal to minReplicas ({min}), got {max}"),
            ));
        }
        let metrics = if spec.metrics.is_empty() {
            vec![MetricTargetSpec {
                source: MetricSource::Resource { name: "cpu".into() },
                target: Target::Utilization(80),
            }]
        } else {
            spec.metrics
                .iter()
                .enumerate()
                .map(|(i, ms)| MetricTargetSpec::from_manifest(ms, i))
                .collect::<Result<Vec<_>, _>>()?
        };
        let behavior = spec.behavior.as_ref();
        let scale_up = ScalingRules::from_manifest(
            behavior.and_then(|b| b.scale_up.as_ref()),
            ScalingRules::default_scale_up(),
            "spec.behavior.scaleUp",
        )?;
        let scale_down = ScalingRules::from_manifest(
            behavior.and_then(|b| b.scale_down.as_ref()),
            ScalingRules::default_scale_down(),
            "spec.behavior.scaleDown",
        )?;
        let name = if m.metadata.name.is_empty() {
            spec.scale_target_ref.name.clone()
        } else {
            m.metadata.name.clone()
        };
        Ok(HpaConfig {
            name,
            min_replicas: min as u32,
            max_replicas: max as u32,
            metrics,
            scale_up,
            scale_down,
        })
    }

    /// Checks a hand-built configuration with the same rules as a manifest.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_replicas == 0 || self.max_replicas > i32::MAX as u32 {
            return Err(ConfigError::invalid(
                "max_replicas",
                format!(
                    "must be between 1 and {}, got {}",
                    i32::MAX,
                    self.max_replicas
                ),
            ));
        }
        if self.min_replicas > self.max_replicas {
            return Err(ConfigError::invalid(
                "max_replicas",
                format!(
                    "must be greater than or equal to min_replicas ({}), got {}",
                    self.min_replicas, self.max_replicas
                ),
            ));
        }
        for (i, m) in self.metrics.iter().enumerate() {
            let ok = match m.target {
                Target::Utilization(u) => u > 0,
                Target::Value(v) | Target::AverageValue(v) => v > 0,
            };
            if !ok {
                return Err(ConfigError::invalid(
                    format!("metrics[{i}].target"),
                    "must be positive",
                ));
            }
        }
        self.scale_up.validate("scale_up")?;
        self.scale_down.validate("scale_down")
    }
}
