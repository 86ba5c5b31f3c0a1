//! The Kubernetes Horizontal Pod Autoscaler (`autoscaling/v2`), exactly.
//!
//! [`Hpa`] takes a verbatim `HorizontalPodAutoscaler` manifest and makes the
//! decisions the controller in `kube-controller-manager` would make:
//!
//! 1. **Replica calculation** per metric ([`ReplicaCalculator`]): usage ratio
//!    = current / target, ignored within the tolerance (0.1 by default, per
//!    direction via `behavior.*.tolerance`), otherwise `ceil(ratio * ready
//!    pods)`; missing samples count as 100 % (scale-down) or 0 % (scale-up),
//!    unready pods count as 0 % on a scale-up, and a recomputation that would
//!    flip the direction keeps the current count. The highest proposal across
//!    metrics wins; if metrics fail, the HPA refuses to scale down.
//! 2. **Stabilization**: the result is held between the lowest
//!    recommendation of the scale-up window and the highest of the
//!    scale-down window.
//! 3. **Rate limits**: each policy allows a change relative to the replica
//!    count at the start of its period (current minus the scale events
//!    inside the period); `selectPolicy` picks the largest (`Max`) or
//!    smallest (`Min`) allowed change, or forbids the direction
//!    (`Disabled`).
//! 4. **Bounds**: `minReplicas` / `maxReplicas`.
//!
//! Every [`Decision`] says which metric drove it and what limited it.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use resilience_scaling::hpa::Hpa;
//!
//! let manifest = include_str!("../../presets/runtime-engine-hpa.yaml");
//! let mut hpa = Hpa::from_manifest_yaml(manifest)?;
//! let t0 = Instant::now();
//! // A new HPA first records the current count (20) as a recommendation,
//! // as the controller does; the manifest's 60 s scale-up window holds it.
//! assert_eq!(hpa.decide(t0, 20, 80), 20);
//! // A minute on, metrics still ask for 80: +100 % per 60 s allows 40.
//! let t1 = t0 + Duration::from_secs(61);
//! assert_eq!(hpa.decide(t1, 20, 80), 40);
//! // Ten seconds later the same period still holds the 20 -> 40 event.
//! assert_eq!(hpa.decide(t1 + Duration::from_secs(10), 40, 80), 40);
//! # Ok::<(), resilience_core::config::ConfigError>(())
//! ```
//!
//! ## Time
//!
//! Decisions take the current [`Instant`] explicitly (from a
//! [`Clock`](resilience_core::clock::Clock) in a host, from a trace in the
//! simulator). Instants should not go backwards; an earlier instant is
//! treated as the latest one seen.
//!
//! ## Matching the controller
//!
//! These follow `kube-controller-manager` by default, and each has an
//! [`HpaOptions`] switch for hosts that want otherwise:
//!
//! * **Initial recommendation.** On its first decision an HPA records the
//!   current replica count as a recommendation (`recordInitialRecommendation`),
//!   so a new or restarted HPA does not scale down before the scale-down
//!   stabilization window (300 s by default) has passed.
//! * **Zero replicas.** A workload scaled to 0 by hand while `minReplicas` is
//!   above 0 means "autoscaling disabled": the decision keeps 0
//!   ([`Limit::ScalingDisabled`]). With `minReplicas: 0` (`HPAScaleToZero`),
//!   0 is an ordinary count.
//! * **Manifests without `behavior`** take the controller's legacy path:
//!   scale-down stabilization over the
//!   `--horizontal-pod-autoscaler-downscale-stabilization` window
//!   ([`HpaOptions::downscale_stabilization`], 5 min), no scale-up
//!   stabilization, a scale-up limit of `max(2 × current, 4)` and no
//!   scale-down rate limit. (The API server's defaulting of `behavior` is
//!   not applied: the controller itself never sees a defaulted `behavior`
//!   for a manifest that had none.)
//!
//! The remaining differences are outside the algorithm: the controller's
//! sync period and status conditions are the host's, and instants that go
//! backwards are treated as the latest one seen.
//!
//! ## Metrics
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `resilience_hpa_decisions_total` | counter | `hpa` | decisions made |
//! | `resilience_hpa_scale_events_total` | counter | `hpa`, `direction` (`up`/`down`) | decisions that changed the count |
//! | `resilience_hpa_desired_replicas` | gauge | `hpa` | replicas of the latest decision |

mod behavior;
mod calculator;
mod decision;
mod manifest;
mod quantity;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use resilience_core::config::{self, ConfigError};
use resilience_core::events::Listeners;

pub use calculator::{
    MetricError, PodGroups, PodInfo, PodMetric, PodPhase, Proposal, ReadyCondition,
    ReplicaCalculator,
};
pub use decision::{Decision, HpaEvent, Limit, Stabilization};
pub use manifest::{
    ContainerResourceMetricSource, CrossVersionObjectReference, ExternalMetricSource,
    HorizontalPodAutoscaler, HorizontalPodAutoscalerBehavior, HorizontalPodAutoscalerSpec,
    HpaConfig, HpaScalingPolicy, HpaScalingRules, MetricIdentifier, MetricSource, MetricSourceType,
    MetricSpec, MetricTarget, MetricTargetSpec, MetricTargetType, ObjectMeta, ObjectMetricSource,
    PodsMetricSource, PolicyType, ResourceMetricSource, ScalingPolicy, ScalingRules, SelectPolicy,
    Target, DEFAULT_TOLERANCE,
};
pub use quantity::Quantity;

use crate::arith;
use behavior::{nanos, EventLog, Stabilizer};

pub(crate) use crate::arith::signed_nanos;

/// Controller flags, and switches for the deliberate differences from the
/// controller. The default is the controller exactly, with its default
/// flags.
///
/// ```
/// use std::time::Duration;
/// use resilience_scaling::hpa::{Hpa, HpaOptions};
/// let mut options = HpaOptions::default();
/// assert_eq!(options.downscale_stabilization, Duration::from_secs(300));
/// assert!(!options.skip_initial_recommendation);
/// options.downscale_stabilization = Duration::from_secs(60);
/// let hpa = Hpa::from_manifest_yaml(
///     "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nspec:\n  scaleTargetRef: {kind: Deployment, name: w}\n  maxReplicas: 10",
/// )?
/// .with_options(options);
/// assert!(!hpa.uses_behavior()); // no `behavior` in the manifest: the legacy rules
/// # Ok::<(), resilience_core::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HpaOptions {
    /// `--horizontal-pod-autoscaler-downscale-stabilization` (default
    /// 5 min): the scale-down stabilization window of a manifest without
    /// `behavior`. At most one hour.
    pub downscale_stabilization: Duration,
    /// Difference from the controller (off by default): do not record the
    /// current count as the first recommendation, so a new HPA may scale
    /// down on its first decision.
    pub skip_initial_recommendation: bool,
    /// Difference from the controller (off by default): raise a workload
    /// at 0 replicas to `minReplicas` instead of treating 0 as "scaling
    /// disabled".
    pub scale_up_from_zero: bool,
    /// Difference from the controller (off by default): give a manifest
    /// without `behavior` the default behavior (the API server's defaults)
    /// instead of the controller's legacy rules.
    pub default_behavior_without_behavior: bool,
}

impl Default for HpaOptions {
    fn default() -> Self {
        HpaOptions {
            downscale_stabilization: Duration::from_secs(300),
            skip_initial_recommendation: false,
            scale_up_from_zero: false,
            default_behavior_without_behavior: false,
        }
    }
}

/// One stored scale event, as the controller keeps it for rate limits:
/// see [`Hpa::scale_up_events`].
///
/// ```
/// use std::time::Instant;
/// use resilience_scaling::hpa::StoredScaleEvent;
/// let e = StoredScaleEvent { at: Instant::now(), change: 3, outdated: false };
/// assert_eq!(e.change, 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredScaleEvent {
    /// When the scaling happened.
    pub at: Instant,
    /// Replicas added (scale-up log) or removed (scale-down log).
    pub change: u32,
    /// Marked outdated: older than the direction's longest policy period
    /// when a later event was stored. The controller reuses an outdated
    /// slot for the next event; an outdated event still counts while it
    /// lies inside a policy's period.
    pub outdated: bool,
}

/// A reading of one metric, as a host's metrics pipeline delivers it.
///
/// ```
/// use resilience_scaling::hpa::MetricReading;
/// let r = MetricReading::External(vec![120.0, 80.0]);
/// assert!(matches!(r, MetricReading::External(_)));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum MetricReading {
    /// Per-pod samples keyed by pod name (Resource, ContainerResource and
    /// Pods metrics).
    PerPod(BTreeMap<String, PodMetric>),
    /// The value of the described object (Object metrics).
    Object(f64),
    /// The values of an external metric's series; they are summed.
    External(Vec<f64>),
}

/// Everything one evaluation reads: the workload's pods and one reading per
/// metric, keyed by [`MetricTargetSpec::key`]. A metric without a reading
/// counts as a failed metric.
///
/// ```
/// use std::time::Instant;
/// use resilience_scaling::hpa::{MetricReading, MetricsSnapshot, PodInfo};
/// let mut snap = MetricsSnapshot::default();
/// snap.pods.push(PodInfo::ready("p0", Instant::now()));
/// snap.readings.insert("rps".into(), MetricReading::Object(250.0));
/// assert_eq!(snap.pods.len(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSnapshot {
    /// The pods selected by the workload's selector.
    pub pods: Vec<PodInfo>,
    /// Readings by metric key.
    pub readings: BTreeMap<String, MetricReading>,
}

/// The combined recommendation of all metrics.
///
/// ```
/// use resilience_scaling::hpa::Recommendation;
/// let r = Recommendation { replicas: 7, metric: Some("cpu".into()), metric_index: Some(0), proposals: vec![] };
/// assert_eq!(r.replicas, 7);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    /// The highest valid proposal.
    pub replicas: u32,
    /// The metric that made it.
    pub metric: Option<String>,
    /// Its index in the spec's metrics.
    pub metric_index: Option<usize>,
    /// Each metric's proposal or error, in spec order.
    pub proposals: Vec<(String, Result<Proposal, MetricError>)>,
}

/// Errors of [`Hpa::evaluate`].
///
/// ```
/// use resilience_scaling::hpa::{HpaError, MetricError};
/// let e = HpaError::Metrics(MetricError::NoPods);
/// assert!(e.to_string().starts_with("cannot compute"));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum HpaError {
    /// The metrics do not allow a decision; the replica count should stay.
    #[error("cannot compute a replica count from metrics: {0}")]
    Metrics(#[from] MetricError),
}

/// A Kubernetes HPA: configuration plus the recommendation and scale-event
/// history its behavior needs.
///
/// See the [module docs](self) for the algorithm. The contract:
///
/// ```
/// use std::time::{Duration, Instant};
/// use resilience_scaling::hpa::Hpa;
///
/// let yaml = r#"
/// apiVersion: autoscaling/v2
/// kind: HorizontalPodAutoscaler
/// metadata: { name: api }
/// spec:
///   scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: api }
///   minReplicas: 3
///   maxReplicas: 20
///   behavior:
///     scaleUp:
///       policies: [{ type: Pods, value: 2, periodSeconds: 60 }]
/// "#;
/// let mut hpa = Hpa::from_manifest_yaml(yaml)?;
/// let now = Instant::now();
/// hpa.record_scale_event(now - Duration::from_secs(30), 2); // 3 -> 5, 30 s ago
/// let replicas: u32 = hpa.decide(now, 5, 12);
/// assert_eq!(replicas, 5); // the period already used its +2
/// let later = now + Duration::from_secs(31);
/// assert_eq!(hpa.decide(later, 5, 12), 7);
/// # Ok::<(), resilience_core::config::ConfigError>(())
/// ```
pub struct Hpa {
    config: HpaConfig,
    keys: Vec<Arc<str>>,
    calculator: ReplicaCalculator,
    origin: Option<Instant>,
    last_now: i64,
    up_window: i64,
    down_window: i64,
    up_longest: i64,
    down_longest: i64,
    stabilizer: Stabilizer,
    up_events: EventLog,
    down_events: EventLog,
    options: HpaOptions,
    /// The manifest had `behavior` (always true for a hand-built config).
    has_behavior: bool,
    /// The first decision has been made (its initial recommendation stored).
    started: bool,
    listeners: Listeners<HpaEvent>,
    m_decisions: metrics::Counter,
    m_up: metrics::Counter,
    m_down: metrics::Counter,
    m_desired: metrics::Gauge,
}

impl fmt::Debug for Hpa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hpa")
            .field("config", &self.config)
            .field("recommendations", &self.stabilizer.len())
            .field("scale_up_events", &self.up_events.len())
            .field("scale_down_events", &self.down_events.len())
            .field("options", &self.options)
            .field("uses_behavior", &self.uses_behavior())
            .finish()
    }
}

impl Hpa {
    /// Parses, defaults and validates an `autoscaling/v2` manifest.
    ///
    /// Bad YAML gives [`ConfigError::Parse`] with the position; a bad value
    /// gives [`ConfigError::Invalid`] naming the field
    /// (`spec.behavior.scaleUp.policies[0].periodSeconds`).
    ///
    /// ```
    /// use resilience_scaling::hpa::Hpa;
    /// let err = Hpa::from_manifest_yaml(
    ///     "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nspec:\n  scaleTargetRef: {kind: Deployment, name: w}\n  minReplicas: 5\n  maxReplicas: 2",
    /// ).unwrap_err();
    /// assert_eq!(err.field(), Some("spec.maxReplicas"));
    /// ```
    pub fn from_manifest_yaml(yaml: &str) -> Result<Self, ConfigError> {
        let manifest: HorizontalPodAutoscaler = config::from_yaml_str(yaml)?;
        Self::from_manifest(&manifest)
    }

    /// Like [`Hpa::from_manifest_yaml`], for an already parsed manifest.
    ///
    /// ```
    /// use resilience_scaling::hpa::{Hpa, HorizontalPodAutoscaler};
    /// let m: HorizontalPodAutoscaler = resilience_core::config::from_json_str(r#"{"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","spec":{"scaleTargetRef":{"kind":"Deployment","name":"w"},"maxReplicas":4}}"#).unwrap();
    /// assert_eq!(Hpa::from_manifest(&m).unwrap().config().max_replicas, 4);
    /// ```
    pub fn from_manifest(manifest: &HorizontalPodAutoscaler) -> Result<Self, ConfigError> {
        let mut hpa = Self::new(HpaConfig::from_manifest(manifest)?)?;
        hpa.has_behavior = manifest.spec.behavior.is_some();
        Ok(hpa)
    }

    /// Sets the controller flags and differences (see [`HpaOptions`]).
    /// Call it before the first decision.
    ///
    /// A `downscale_stabilization` above one hour is lowered to one hour,
    /// the longest window the API accepts.
    pub fn with_options(mut self, mut options: HpaOptions) -> Self {
        options.downscale_stabilization = options
            .downscale_stabilization
            .min(Duration::from_secs(3600));
        self.options = options;
        self
    }

    /// The options in force.
    pub fn options(&self) -> &HpaOptions {
        &self.options
    }

    /// Whether decisions use `behavior` (stabilization windows and rate
    /// policies) rather than the controller's legacy rules for manifests
    /// without `behavior`.
    pub fn uses_behavior(&self) -> bool {
        self.has_behavior || self.options.default_behavior_without_behavior
    }

    /// The stored scale-up events, in the controller's storage order,
    /// with their outdated marks.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use resilience_scaling::hpa::Hpa;
    /// let mut hpa = Hpa::from_manifest_yaml(include_str!("../../presets/runtime-engine-hpa.yaml")).unwrap();
    /// let t0 = Instant::now();
    /// hpa.record_scale_event(t0, 4);
    /// hpa.record_scale_event(t0 + Duration::from_secs(120), 2); // the first is now outdated
    /// let events = hpa.scale_up_events();
    /// assert_eq!(events.len(), 1); // its slot was reused
    /// assert_eq!((events[0].change, events[0].outdated), (2, false));
    /// ```
    pub fn scale_up_events(&self) -> Vec<StoredScaleEvent> {
        self.stored(&self.up_events)
    }

    /// The stored scale-down events (see [`Hpa::scale_up_events`]).
    pub fn scale_down_events(&self) -> Vec<StoredScaleEvent> {
        self.stored(&self.down_events)
    }

    fn stored(&self, log: &EventLog) -> Vec<StoredScaleEvent> {
        let Some(origin) = self.origin else {
            return Vec::new();
        };
        log.events()
            .iter()
            .map(|e| StoredScaleEvent {
                at: if e.at >= 0 {
                    origin.checked_add(arith::from_nanos(e.at))
                } else {
                    origin.checked_sub(arith::from_nanos(e.at.saturating_neg()))
                }
                .unwrap_or(origin),
                change: e.change,
                outdated: e.outdated,
            })
            .collect()
    }

    /// An HPA from a hand-built configuration (validated).
    ///
    /// ```
    /// use resilience_scaling::hpa::{Hpa, HpaConfig, ScalingRules};
    /// let hpa = Hpa::new(HpaConfig {
    ///     name: "w".into(), min_replicas: 1, max_replicas: 10, metrics: vec![],
    ///     scale_up: ScalingRules::default_scale_up(),
    ///     scale_down: ScalingRules::default_scale_down(),
    /// }).unwrap();
    /// assert_eq!(hpa.config().min_replicas, 1);
    /// ```
    pub fn new(config: HpaConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let calculator = ReplicaCalculator {
            tolerance_up: config.scale_up.tolerance,
            tolerance_down: config.scale_down.tolerance,
            ..ReplicaCalculator::default()
        };
        let label = config.name.clone();
        Ok(Hpa {
            keys: config.metrics.iter().map(|m| Arc::from(m.key())).collect(),
            up_window: nanos(config.scale_up.stabilization_window),
            down_window: nanos(config.scale_down.stabilization_window),
            up_longest: nanos(config.scale_up.longest_period()),
            down_longest: nanos(config.scale_down.longest_period()),
            calculator,
            origin: None,
            last_now: i64::MIN,
            stabilizer: Stabilizer::default(),
            up_events: EventLog::default(),
            down_events: EventLog::default(),
            options: HpaOptions::default(),
            has_behavior: true,
            started: false,
            listeners: Listeners::new(),
            m_decisions: metrics::counter!("resilience_hpa_decisions_total", "hpa" => label.clone()),
            m_up: metrics::counter!("resilience_hpa_scale_events_total", "hpa" => label.clone(), "direction" => "up"),
            m_down: metrics::counter!("resilience_hpa_scale_events_total", "hpa" => label.clone(), "direction" => "down"),
            m_desired: metrics::gauge!("resilience_hpa_desired_replicas", "hpa" => label),
            config,
        })
    }

    /// The validated configuration.
    pub fn config(&self) -> &HpaConfig {
        &self.config
    }

    /// The replica calculator with this HPA's tolerances. Its CPU
    /// initialization period and readiness delay can be changed with
    /// [`Hpa::set_calculator`].
    pub fn calculator(&self) -> &ReplicaCalculator {
        &self.calculator
    }

    /// Replaces the calculator (for non-default controller flags).
    pub fn set_calculator(&mut self, calculator: ReplicaCalculator) {
        self.calculator = calculator;
    }

    /// Listeners for [`HpaEvent`]s.
    pub fn listeners(&self) -> &Listeners<HpaEvent> {
        &self.listeners
    }

    /// How many past recommendations the stabilization windows hold (after
    /// dropping dominated ones) and how many scale events are remembered.
    ///
    /// ```
    /// use std::time::Instant;
    /// use resilience_scaling::hpa::Hpa;
    /// let mut hpa = Hpa::from_manifest_yaml(include_str!("../../presets/runtime-engine-hpa.yaml")).unwrap();
    /// hpa.decide(Instant::now(), 20, 30);
    /// // The initial recommendation (20) and this one (30); no scale event,
    /// // since the 60 s scale-up window held the count at 20.
    /// assert_eq!(hpa.history_len(), (2, 0));
    /// ```
    pub fn history_len(&self) -> (usize, usize) {
        (
            self.stabilizer.len(),
            self.up_events.len().saturating_add(self.down_events.len()),
        )
    }

    fn offset(&mut self, at: Instant) -> i64 {
        let origin = *self.origin.get_or_insert(at);
        signed_nanos(origin, at)
    }

    /// Records a past scaling: `change` replicas added (positive) or removed
    /// (negative) at `at`. Rate-limiting policies count it while it lies
    /// inside their period.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use resilience_scaling::hpa::Hpa;
    /// let mut hpa = Hpa::from_manifest_yaml(
    ///     "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nspec:\n  scaleTargetRef: {kind: Deployment, name: w}\n  maxReplicas: 100\n  behavior: {scaleUp: {stabilizationWindowSeconds: 0}}",
    /// ).unwrap();
    /// let now = Instant::now();
    /// hpa.record_scale_event(now - Duration::from_secs(5), 10); // 10 -> 20
    /// // The 15 s period started at 10 replicas: +100 % allows 20, no more.
    /// assert_eq!(hpa.decide(now, 20, 60), 20);
    /// ```
    pub fn record_scale_event(&mut self, at: Instant, change: i32) {
        let t = self.offset(at);
        if change > 0 {
            self.up_events
                .store(t, change.unsigned_abs(), self.up_longest);
        } else if change < 0 {
            self.down_events
                .store(t, change.unsigned_abs(), self.down_longest);
        }
    }

    /// Applies stabilization, behavior policies and bounds to a desired
    /// replica count; records the recommendation and, when the result
    /// differs from `current_replicas`, a scale event.
    ///
    /// ```
    /// use std::time::Instant;
    /// use resilience_scaling::hpa::Hpa;
    /// let mut hpa = Hpa::from_manifest_yaml(
    ///     "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nspec:\n  scaleTargetRef: {kind: Deployment, name: w}\n  minReplicas: 2\n  maxReplicas: 8",
    /// ).unwrap();
    /// assert_eq!(hpa.decide(Instant::now(), 4, 100), 8); // capped at maxReplicas
    /// ```
    pub fn decide(&mut self, now: Instant, current_replicas: u32, desired_replicas: u32) -> u32 {
        self.decide_inner(now, current_replicas, desired_replicas, None)
            .replicas
    }

    /// [`Hpa::decide`], returning the full [`Decision`] with its reasons.
    ///
    /// ```
    /// use std::time::Instant;
    /// use resilience_scaling::hpa::{Hpa, Limit};
    /// let mut hpa = Hpa::from_manifest_yaml(
    ///     "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nspec:\n  scaleTargetRef: {kind: Deployment, name: w}\n  minReplicas: 2\n  maxReplicas: 8",
    /// ).unwrap();
    /// let d = hpa.decide_with_reason(Instant::now(), 4, 100);
    /// assert_eq!(d.limit, Limit::TooManyReplicas);
    /// ```
    pub fn decide_with_reason(
        &mut self,
        now: Instant,
        current_replicas: u32,
        desired_replicas: u32,
    ) -> Decision {
        self.decide_inner(now, current_replicas, desired_replicas, None)
    }

    fn decide_inner(
        &mut self,
        now: Instant,
        current: u32,
        desired: u32,
        metric: Option<usize>,
    ) -> Decision {
        let metric = metric.and_then(|i| self.keys.get(i).cloned());
        let t = self.offset(now).max(self.last_now);
        self.last_now = t;
        if !self.started {
            self.started = true;
            if !self.options.skip_initial_recommendation {
                self.stabilizer.record(t, current);
            }
        }
        let (min, max) = (self.config.min_replicas, self.config.max_replicas);
        let decision = if current == 0 && min != 0 && !self.options.scale_up_from_zero {
            Decision {
                replicas: 0,
                current_replicas: 0,
                desired_replicas: 0,
                stabilized_replicas: 0,
                stabilization: Stabilization::Skipped,
                limit: Limit::ScalingDisabled,
                metric: None,
            }
        } else if current > max || current < min {
            let (replicas, limit) = if current > max {
                (max, Limit::CurrentAboveMax)
            } else {
                (min, Limit::CurrentBelowMin)
            };
            Decision {
                replicas,
                current_replicas: current,
                desired_replicas: desired,
                stabilized_replicas: desired,
                stabilization: Stabilization::Skipped,
                limit,
                metric,
            }
        } else if !self.uses_behavior() {
            let window = nanos(self.options.downscale_stabilization);
            let stabilized = self.stabilizer.stabilize_legacy(t, window, desired);
            let stabilization = if stabilized == desired {
                Stabilization::Unchanged
            } else {
                Stabilization::ScaleDownStabilized
            };
            let (replicas, limit) = behavior::legacy_rate_limit(current, stabilized, min, max);
            Decision {
                replicas,
                current_replicas: current,
                desired_replicas: desired,
                stabilized_replicas: stabilized,
                stabilization,
                limit,
                metric,
            }
        } else {
            let (stabilized, stabilization) =
                self.stabilizer
                    .stabilize(t, self.up_window, self.down_window, current, desired);
            let (replicas, limit) = behavior::rate_limit(
                t,
                current,
                stabilized,
                min,
                max,
                &self.config.scale_up,
                &self.config.scale_down,
                &self.up_events,
                &self.down_events,
            );
            Decision {
                replicas,
                current_replicas: current,
                desired_replicas: desired,
                stabilized_replicas: stabilized,
                stabilization,
                limit,
                metric,
            }
        };
        self.m_decisions.increment(1);
        self.m_desired.set(f64::from(decision.replicas));
        // The controller stores scale events only for an HPA with behavior
        // (the legacy rules never read them).
        let store = self.uses_behavior();
        if decision.replicas > current {
            if store {
                self.up_events.store(
                    t,
                    decision.replicas.saturating_sub(current),
                    self.up_longest,
                );
            }
            self.m_up.increment(1);
        } else if decision.replicas < current {
            if store {
                self.down_events.store(
                    t,
                    current.saturating_sub(decision.replicas),
                    self.down_longest,
                );
            }
            self.m_down.increment(1);
        }
        if decision.replicas != current {
            self.listeners
                .emit_with(|| HpaEvent::Rescaled(decision.clone()));
        }
        decision
    }

    /// The controller's `computeReplicasForMetrics`: one proposal per metric,
    /// the highest wins. Fails (no scaling) when every metric failed, or when
    /// some failed and the valid ones would scale down.
    ///
    /// ```
    /// use std::time::Instant;
    /// use resilience_scaling::hpa::{Hpa, MetricReading, MetricsSnapshot, PodInfo};
    /// let hpa = Hpa::from_manifest_yaml(r#"
    /// apiVersion: autoscaling/v2
    /// kind: HorizontalPodAutoscaler
    /// spec:
    ///   scaleTargetRef: {kind: Deployment, name: w}
    ///   maxReplicas: 50
    ///   metrics:
    ///   - type: External
    ///     external: {metric: {name: queue}, target: {type: AverageValue, averageValue: 30}}
    /// "#).unwrap();
    /// let mut snap = MetricsSnapshot::default();
    /// snap.readings.insert("queue".into(), MetricReading::External(vec![600.0]));
    /// let rec = hpa.recommend(Instant::now(), 4, &snap).unwrap();
    /// assert_eq!((rec.replicas, rec.metric.as_deref()), (20, Some("queue")));
    /// ```
    pub fn recommend(
        &self,
        now: Instant,
        current_replicas: u32,
        snapshot: &MetricsSnapshot,
    ) -> Result<Recommendation, HpaError> {
        let mut best: Option<(u32, usize)> = None;
        let mut first_err: Option<MetricError> = None;
        let mut invalid = 0usize;
        let mut proposals = Vec::with_capacity(self.config.metrics.len());
        for (i, spec) in self.config.metrics.iter().enumerate() {
            let key = spec.key();
            let result = self.proposal_for(now, current_replicas, spec, &key, snapshot);
            match &result {
                Ok(p) => {
                    if best
                        .as_ref()
                        .is_none_or(|(r, _)| *r == 0 || p.replicas > *r)
                    {
                        best = Some((p.replicas, i));
                    }
                }
                Err(e) => {
                    invalid = invalid.saturating_add(1);
                    if first_err.is_none() {
                        first_err = Some(e.clone());
                    }
                }
            }
            proposals.push((key, result));
        }
        let total = self.config.metrics.len();
        let replicas = best.as_ref().map_or(0, |(r, _)| *r);
        if let Some(first) = first_err {
            if invalid >= total || replicas < current_replicas {
                return Err(HpaError::Metrics(MetricError::InvalidMetrics {
                    invalid,
                    total,
                    first: Box::new(first),
                }));
            }
        }
        Ok(Recommendation {
            replicas,
            metric: best
                .and_then(|(_, i)| self.config.metrics.get(i))
                .map(MetricTargetSpec::key),
            metric_index: best.map(|(_, i)| i),
            proposals,
        })
    }

    fn proposal_for(
        &self,
        now: Instant,
        current: u32,
        spec: &MetricTargetSpec,
        key: &str,
        snap: &MetricsSnapshot,
    ) -> Result<Proposal, MetricError> {
        let reading = snap
            .readings
            .get(key)
            .ok_or_else(|| MetricError::MissingReading {
                metric: key.to_string(),
            })?;
        let wrong = |expected| MetricError::WrongReadingKind {
            metric: key.to_string(),
            expected,
        };
        let calc = &self.calculator;
        match (&spec.source, spec.target) {
            (
                MetricSource::Resource { name } | MetricSource::ContainerResource { name, .. },
                target,
            ) => {
                let MetricReading::PerPod(samples) = reading else {
                    return Err(wrong("per-pod samples"));
                };
                let cpu = name == "cpu";
                match target {
                    Target::Utilization(u) => {
                        calc.resource_utilization(now, current, u, &snap.pods, samples, key, cpu)
                    }
                    Target::AverageValue(v) | Target::Value(v) => {
                        calc.plain_metric(now, current, v, &snap.pods, samples, cpu)
                    }
                }
            }
            (MetricSource::Pods { .. }, target) => {
                let MetricReading::PerPod(samples) = reading else {
                    return Err(wrong("per-pod samples"));
                };
                let v = match target {
                    Target::AverageValue(v) | Target::Value(v) => v,
                    Target::Utilization(u) => i64::from(u).saturating_mul(1000),
                };
                calc.plain_metric(now, current, v, &snap.pods, samples, false)
            }
            (MetricSource::Object { .. } | MetricSource::External { .. }, target) => {
                let usage = match reading {
                    MetricReading::Object(v) => calculator::to_milli(*v),
                    MetricReading::External(vs) => vs.iter().try_fold(0i64, |acc, v| {
                        calculator::to_milli(*v).map(|m| acc.saturating_add(m))
                    }),
                    MetricReading::PerPod(_) => {
                        return Err(wrong("an object value or external series"))
                    }
                }
                .ok_or_else(|| MetricError::NotFinite {
                    metric: key.to_string(),
                })?;
                match target {
                    Target::Value(v) => calc.value_metric(current, usage, v, &snap.pods),
                    Target::AverageValue(v) => Ok(calc.average_value_metric(current, usage, v)),
                    Target::Utilization(u) => calc.value_metric(
                        current,
                        usage,
                        i64::from(u).saturating_mul(1000),
                        &snap.pods,
                    ),
                }
            }
        }
    }

    /// One reconcile step: bounds check, metrics, then [`Hpa::decide`].
    /// On a metrics error nothing is recorded and the count should stay.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::time::{Duration, Instant};
    /// use resilience_scaling::hpa::{Hpa, MetricReading, MetricsSnapshot, PodInfo, PodMetric};
    ///
    /// let mut hpa = Hpa::from_manifest_yaml(include_str!("../../presets/runtime-engine-hpa.yaml")).unwrap();
    /// let now = Instant::now();
    /// let started = now - Duration::from_secs(3600);
    /// let mut snap = MetricsSnapshot::default();
    /// let mut cpu = BTreeMap::new();
    /// let mut queue = BTreeMap::new();
    /// for i in 0..10 {
    ///     let name = format!("engine-{i}");
    ///     snap.pods.push(PodInfo::ready(&name, started).with_request("cpu", 1.0));
    ///     cpu.insert(name.clone(), PodMetric::new(0.9, now)); // 90 % of request
    ///     queue.insert(name, PodMetric::new(20.0, now));
    /// }
    /// snap.readings.insert("cpu".into(), MetricReading::PerPod(cpu));
    /// snap.readings.insert("request_queue_length".into(), MetricReading::PerPod(queue));
    /// let d = hpa.evaluate(now, 10, &snap).unwrap();
    /// assert_eq!(d.desired_replicas, 15); // ceil(90 / 60 * 10)
    /// assert_eq!(d.metric.as_deref(), Some("cpu"));
    /// ```
    pub fn evaluate(
        &mut self,
        now: Instant,
        current_replicas: u32,
        snapshot: &MetricsSnapshot,
    ) -> Result<Decision, HpaError> {
        let (min, max) = (self.config.min_replicas, self.config.max_replicas);
        if current_replicas > max || current_replicas < min {
            return Ok(self.decide_inner(now, current_replicas, current_replicas, None));
        }
        let rec = self.recommend(now, current_replicas, snapshot)?;
        Ok(self.decide_inner(now, current_replicas, rec.replicas, rec.metric_index))
    }

    /// A fast evaluation for fleets whose ready pods all report the same
    /// value and none is missing or unready, as in a simulation.
    /// `observed[i]` is metric `i`'s value in spec order: utilization percent
    /// for Utilization targets, value per pod for AverageValue targets, the
    /// total for Value targets. Allocates nothing.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use resilience_scaling::hpa::Hpa;
    /// let mut hpa = Hpa::from_manifest_yaml(include_str!("../../presets/runtime-engine-hpa.yaml")).unwrap();
    /// // cpu at 90 % (target 60), queue at 20 per pod (target 50).
    /// let t0 = Instant::now();
    /// let d = hpa.evaluate_uniform(t0, 10, 10, &[90.0, 20.0]);
    /// // The 60 s scale-up window holds the new HPA's initial recommendation.
    /// assert_eq!((d.desired_replicas, d.replicas), (15, 10));
    /// let d = hpa.evaluate_uniform(t0 + Duration::from_secs(61), 10, 10, &[90.0, 20.0]);
    /// assert_eq!((d.desired_replicas, d.replicas), (15, 15));
    /// ```
    pub fn evaluate_uniform(
        &mut self,
        now: Instant,
        current_replicas: u32,
        ready_pods: u32,
        observed: &[f64],
    ) -> Decision {
        let (min, max) = (self.config.min_replicas, self.config.max_replicas);
        if current_replicas > max || current_replicas < min {
            return self.decide_inner(now, current_replicas, current_replicas, None);
        }
        let mut best: Option<(u32, usize)> = None;
        for (i, spec) in self.config.metrics.iter().enumerate() {
            let Some(&v) = observed.get(i) else { continue };
            if !v.is_finite() {
                continue;
            }
            let p = match spec.target {
                Target::Utilization(u) => {
                    let util = v.floor();
                    self.calculator.replicas_for_ratio(
                        current_replicas,
                        util / f64::from(u.max(1)),
                        ready_pods,
                    )
                }
                Target::AverageValue(t) => {
                    let usage = calculator::to_milli(v).unwrap_or(0);
                    let ratio = usage as f64 / t.max(1) as f64;
                    self.calculator
                        .replicas_for_ratio(current_replicas, ratio, ready_pods)
                }
                Target::Value(t) => {
                    let usage = calculator::to_milli(v).unwrap_or(0);
                    self.calculator.replicas_for_ratio(
                        current_replicas,
                        usage as f64 / t.max(1) as f64,
                        ready_pods,
                    )
                }
            };
            if best.is_none_or(|(r, _)| r == 0 || p > r) {
                best = Some((p, i));
            }
        }
        match best {
            Some((desired, i)) => self.decide_inner(now, current_replicas, desired, Some(i)),
            None => self.decide_inner(now, current_replicas, current_replicas, None),
        }
    }
}
