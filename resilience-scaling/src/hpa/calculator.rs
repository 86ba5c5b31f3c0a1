//! The replica calculator: metrics to a desired replica count, per metric
//! type, with the controller's tolerance, missing-metric and unready-pod
//! rules.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::manifest::DEFAULT_TOLERANCE;

/// A pod's phase (`status.phase`).
///
/// ```
/// use resilience_scaling::hpa::PodPhase;
/// assert_ne!(PodPhase::Running, PodPhase::Pending);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PodPhase {
    /// Not all containers started.
    Pending,
    /// Running.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Failed.
    Failed,
    /// State unknown.
    Unknown,
}

/// The pod's `Ready` condition.
///
/// ```
/// use std::time::Instant;
/// use resilience_scaling::hpa::ReadyCondition;
/// let c = ReadyCondition { ready: true, last_transition: Instant::now() };
/// assert!(c.ready);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyCondition {
    /// Condition status is `True`.
    pub ready: bool,
    /// When the condition last changed.
    pub last_transition: Instant,
}

/// What the calculator needs to know about one pod of the scaled workload.
///
/// `requests` holds the pod's resource requests in whole units (cores for
/// `cpu`), keyed by resource name, or `container/resource` for
/// ContainerResource metrics.
///
/// ```
/// use std::time::{Duration, Instant};
/// use resilience_scaling::hpa::{PodInfo, PodPhase};
/// let started = Instant::now() - Duration::from_secs(600);
/// let pod = PodInfo::ready("web-0", started).with_request("cpu", 1.0);
/// assert_eq!(pod.phase, PodPhase::Running);
/// assert_eq!(pod.requests["cpu"], 1.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PodInfo {
    /// Pod name (matches the keys of per-pod metric readings).
    pub name: String,
    /// Phase.
    pub phase: PodPhase,
    /// Has a deletion timestamp.
    pub deleting: bool,
    /// The `Ready` condition, if reported.
    pub ready: Option<ReadyCondition>,
    /// `status.startTime`.
    pub start_time: Option<Instant>,
    /// Resource requests in whole units.
    pub requests: BTreeMap<String, f64>,
}

impl PodInfo {
    /// A running pod that became ready when it started at `started`.
    pub fn ready(name: impl Into<String>, started: Instant) -> Self {
        PodInfo {
            name: name.into(),
            phase: PodPhase::Running,
            deleting: false,
            ready: Some(ReadyCondition {
                ready: true,
                last_transition: started,
            }),
            start_time: Some(started),
            requests: BTreeMap::new(),
        }
    }

    /// A pod whose containers have not all started (`Pending`).
    ///
    /// ```
    /// use resilience_scaling::hpa::{PodInfo, PodPhase};
    /// assert_eq!(PodInfo::pending("web-3").phase, PodPhase::Pending);
    /// ```
    pub fn pending(name: impl Into<String>) -> Self {
        PodInfo {
            name: name.into(),
            phase: PodPhase::Pending,
            deleting: false,
            ready: None,
            start_time: None,
            requests: BTreeMap::new(),
        }
    }

    /// The same pod in another phase (builder style).
    pub fn with_phase(mut self, phase: PodPhase) -> Self {
        self.phase = phase;
        self
    }

    /// The same pod with a deletion timestamp (builder style).
    pub fn deleting(mut self) -> Self {
        self.deleting = true;
        self
    }

    /// The same pod with its `Ready` condition set to `ready` since
    /// `since` (builder style).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use resilience_scaling::hpa::PodInfo;
    /// let start = Instant::now();
    /// let pod = PodInfo::ready("web-0", start).ready_since(false, start + Duration::from_secs(5));
    /// assert!(!pod.ready.unwrap().ready);
    /// ```
    pub fn ready_since(mut self, ready: bool, since: Instant) -> Self {
        self.ready = Some(ReadyCondition {
            ready,
            last_transition: since,
        });
        self
    }

    /// Adds a resource request (builder style).
    pub fn with_request(mut self, resource: impl Into<String>, units: f64) -> Self {
        self.requests.insert(resource.into(), units);
        self
    }
}

/// One pod's sample of a metric.
///
/// ```
/// use std::time::{Duration, Instant};
/// use resilience_scaling::hpa::PodMetric;
/// let m = PodMetric::new(0.5, Instant::now());
/// assert_eq!(m.window, Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PodMetric {
    /// Value in whole units (cores for cpu).
    pub value: f64,
    /// When the sample was taken (end of its window).
    pub timestamp: Instant,
    /// The sampling window.
    pub window: Duration,
}

impl PodMetric {
    /// A sample with the metrics-server's usual 60 s window.
    pub fn new(value: f64, timestamp: Instant) -> Self {
        PodMetric {
            value,
            timestamp,
            window: Duration::from_secs(60),
        }
    }
}

/// Why a metric produced no proposal.
///
/// ```
/// use resilience_scaling::hpa::MetricError;
/// let e = MetricError::NoPods;
/// assert!(e.to_string().contains("no pods"));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MetricError {
    /// The snapshot lists no pods.
    #[error("no pods returned by selector while calculating replica count")]
    NoPods,
    /// Every pod was unready, ignored or without a sample.
    #[error("did not receive metrics for targeted pods (pods might be unready)")]
    NoMetricsForReadyPods,
    /// A pod has no request for the resource (needed for Utilization).
    #[error("missing request for {resource} in pod {pod}: set resource requests or use an AverageValue target")]
    MissingRequest {
        /// Pod name.
        pod: String,
        /// Resource key.
        resource: String,
    },
    /// No samples matched a known pod's request.
    #[error("no metrics returned matched known pods")]
    NoMatchingPods,
    /// The snapshot has no reading for the metric.
    #[error("no reading for metric `{metric}` in the snapshot")]
    MissingReading {
        /// Metric key.
        metric: String,
    },
    /// The reading has the wrong shape for the metric's source.
    #[error("reading for metric `{metric}` should be {expected}")]
    WrongReadingKind {
        /// Metric key.
        metric: String,
        /// The shape expected.
        expected: &'static str,
    },
    /// A value is not a finite number.
    #[error("metric `{metric}` has a value that is not a finite number")]
    NotFinite {
        /// Metric key.
        metric: String,
    },
    /// Several metrics failed in a way that forbids scaling (all failed, or
    /// some failed and the rest would scale down).
    #[error("invalid metrics ({invalid} invalid out of {total}), first error is: {first}")]
    InvalidMetrics {
        /// How many metrics failed.
        invalid: usize,
        /// How many metrics there are.
        total: usize,
        /// The first failure.
        first: Box<MetricError>,
    },
}

/// The replica calculator, with the controller's tunables.
///
/// ```
/// use resilience_scaling::hpa::ReplicaCalculator;
/// let calc = ReplicaCalculator::default();
/// // 10 ready pods at 1.5x the target: ceil(1.5 * 10) = 15.
/// assert_eq!(calc.replicas_for_ratio(10, 1.5, 10), 15);
/// // Within the 0.1 tolerance: keep the current count.
/// assert_eq!(calc.replicas_for_ratio(10, 1.05, 10), 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplicaCalculator {
    /// Tolerance above 1.0 (usage ratios up to `1 + tolerance_up` are ignored).
    pub tolerance_up: f64,
    /// Tolerance below 1.0.
    pub tolerance_down: f64,
    /// `--horizontal-pod-autoscaler-cpu-initialization-period` (5 min).
    pub cpu_initialization_period: Duration,
    /// `--horizontal-pod-autoscaler-initial-readiness-delay` (30 s).
    pub delay_of_initial_readiness_status: Duration,
}

impl Default for ReplicaCalculator {
    fn default() -> Self {
        ReplicaCalculator {
            tolerance_up: DEFAULT_TOLERANCE,
            tolerance_down: DEFAULT_TOLERANCE,
            cpu_initialization_period: Duration::from_secs(300),
            delay_of_initial_readiness_status: Duration::from_secs(30),
        }
    }
}

/// A proposal from one metric, with the observed usage.
///
/// ```
/// use resilience_scaling::hpa::Proposal;
/// let p = Proposal { replicas: 4, usage: 90 };
/// assert_eq!(p.replicas, 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proposal {
    /// Proposed replica count.
    pub replicas: u32,
    /// Observed usage: percent for Utilization targets, milli-units otherwise.
    pub usage: i64,
}

struct Groups<'a> {
    ready: usize,
    unready: BTreeSet<&'a str>,
    missing: BTreeSet<&'a str>,
    ignored: BTreeSet<&'a str>,
}

/// How the controller sorts a workload's pods before computing a
/// per-pod metric (`groupPods`): see [`ReplicaCalculator::group_pods`].
///
/// ```
/// use resilience_scaling::hpa::PodGroups;
/// let g = PodGroups::default();
/// assert_eq!(g.ready, 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodGroups {
    /// Pods counted as ready with a sample.
    pub ready: usize,
    /// Pending pods, and (for CPU) pods not yet ready or still warming up:
    /// counted as 0 % on a scale-up, left out otherwise.
    pub unready: BTreeSet<String>,
    /// Pods without a sample: 100 % on a scale-down, 0 % on a scale-up.
    pub missing: BTreeSet<String>,
    /// Failed pods and pods being deleted: never counted.
    pub ignored: BTreeSet<String>,
}

pub(crate) fn to_milli(v: f64) -> Option<i64> {
    if !v.is_finite() {
        return None;
    }
    let m = (v * 1000.0).ceil();
    let m = if (m - v * 1000.0) > 1.0 - 1e-6 {
        m - 1.0
    } else {
        m
    };
    Some(m.clamp(i64::MIN as f64 / 2.0, i64::MAX as f64 / 2.0) as i64)
}

fn ceil_to_u32(v: f64) -> u32 {
    let c = v.ceil();
    if c.is_nan() || c <= 0.0 {
        0
    } else if c >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        c as u32
    }
}

impl ReplicaCalculator {
    /// Whether a usage ratio is close enough to 1.0 to leave the count alone.
    ///
    /// ```
    /// use resilience_scaling::hpa::ReplicaCalculator;
    /// let c = ReplicaCalculator::default();
    /// assert!(c.within_tolerance(1.1) && c.within_tolerance(0.9) && !c.within_tolerance(1.11));
    /// ```
    pub fn within_tolerance(&self, ratio: f64) -> bool {
        (1.0 - self.tolerance_down) <= ratio && ratio <= (1.0 + self.tolerance_up)
    }

    /// The controller's rule for a usage ratio over `ready_pods` ready pods
    /// (Object and External `Value` targets): keep `current` within
    /// tolerance, else `ceil(ratio * ready_pods)`; from zero replicas,
    /// `ceil(ratio)`.
    pub fn replicas_for_ratio(&self, current: u32, ratio: f64, ready_pods: u32) -> u32 {
        if current == 0 {
            return ceil_to_u32(ratio);
        }
        if self.within_tolerance(ratio) {
            return current;
        }
        ceil_to_u32(ratio * f64::from(ready_pods))
    }

    /// Sorts `pods` as the controller does before a per-pod metric:
    /// ignored (failed or being deleted), unready (pending; for `cpu`, not
    /// ready or within the CPU initialization period), missing (no sample in
    /// `metrics`), or ready.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::time::{Duration, Instant};
    /// use resilience_scaling::hpa::{PodInfo, PodMetric, PodPhase, ReplicaCalculator};
    /// let now = Instant::now() + Duration::from_secs(3600);
    /// let old = now - Duration::from_secs(3600);
    /// let pods = vec![
    ///     PodInfo::ready("a", old),
    ///     PodInfo::ready("b", old),
    ///     PodInfo::pending("c"),
    ///     PodInfo::ready("d", old).with_phase(PodPhase::Failed),
    ///     PodInfo::ready("e", old).deleting(),
    /// ];
    /// let samples: BTreeMap<String, PodMetric> =
    ///     [("a".to_string(), PodMetric::new(0.5, now))].into_iter().collect();
    /// let g = ReplicaCalculator::default().group_pods(now, &pods, &samples, true);
    /// assert_eq!(g.ready, 1);
    /// assert!(g.missing.contains("b") && g.unready.contains("c"));
    /// assert!(g.ignored.contains("d") && g.ignored.contains("e"));
    /// ```
    pub fn group_pods(
        &self,
        now: Instant,
        pods: &[PodInfo],
        metrics: &BTreeMap<String, PodMetric>,
        cpu: bool,
    ) -> PodGroups {
        let g = self.groups(now, pods, metrics, cpu);
        let own = |set: BTreeSet<&str>| set.into_iter().map(str::to_string).collect();
        PodGroups {
            ready: g.ready,
            unready: own(g.unready),
            missing: own(g.missing),
            ignored: own(g.ignored),
        }
    }

    fn groups<'a>(
        &self,
        now: Instant,
        pods: &'a [PodInfo],
        metrics: &BTreeMap<String, PodMetric>,
        cpu: bool,
    ) -> Groups<'a> {
        let mut g = Groups {
            ready: 0,
            unready: BTreeSet::new(),
            missing: BTreeSet::new(),
            ignored: BTreeSet::new(),
        };
        for pod in pods {
            if pod.deleting || pod.phase == PodPhase::Failed {
                g.ignored.insert(&pod.name);
                continue;
            }
            if pod.phase == PodPhase::Pending {
                g.unready.insert(&pod.name);
                continue;
            }
            let Some(metric) = metrics.get(&pod.name) else {
                g.missing.insert(&pod.name);
                continue;
            };
            if cpu {
                let unready = match (pod.ready, pod.start_time) {
                    (Some(cond), Some(start)) => {
                        let initializing = start
                            .checked_add(self.cpu_initialization_period)
                            .is_none_or(|t| t > now);
                        if initializing {
                            !cond.ready
                                || cond
                                    .last_transition
                                    .checked_add(metric.window)
                                    .is_none_or(|t| metric.timestamp < t)
                        } else {
                            !cond.ready
                                && start
                                    .checked_add(self.delay_of_initial_readiness_status)
                                    .is_none_or(|t| t > cond.last_transition)
                        }
                    }
                    _ => true,
                };
                if unready {
                    g.unready.insert(&pod.name);
                    continue;
                }
            }
            g.ready = g.ready.saturating_add(1);
        }
        g
    }

    fn milli_metrics(
        metric: &str,
        samples: &BTreeMap<String, PodMetric>,
    ) -> Result<BTreeMap<String, i64>, MetricError> {
        samples
            .iter()
            .map(|(k, v)| {
                to_milli(v.value)
                    .map(|m| (k.clone(), m))
                    .ok_or_else(|| MetricError::NotFinite {
                        metric: metric.to_string(),
                    })
            })
            .collect()
    }

    /// A Resource (or ContainerResource) metric with a Utilization target:
    /// `GetResourceReplicas`. `request_key` names the request in
    /// [`PodInfo::requests`]; `cpu` turns on the CPU readiness rules.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::time::{Duration, Instant};
    /// use resilience_scaling::hpa::{PodInfo, PodMetric, ReplicaCalculator};
    ///
    /// let now = Instant::now();
    /// let start = now - Duration::from_secs(3600);
    /// let pods: Vec<PodInfo> = (0..3)
    ///     .map(|i| PodInfo::ready(format!("p{i}"), start).with_request("cpu", 1.0))
    ///     .collect();
    /// let usage: BTreeMap<String, PodMetric> = [("p0", 0.3), ("p1", 0.4), ("p2", 0.5)]
    ///     .into_iter()
    ///     .map(|(n, v)| (n.to_string(), PodMetric::new(v, now)))
    ///     .collect();
    /// let calc = ReplicaCalculator::default();
    /// let p = calc.resource_utilization(now, 3, 30, &pods, &usage, "cpu", true).unwrap();
    /// assert_eq!((p.replicas, p.usage), (4, 40)); // 40 % against a 30 % target
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn resource_utilization(
        &self,
        now: Instant,
        current: u32,
        target_utilization: u32,
        pods: &[PodInfo],
        samples: &BTreeMap<String, PodMetric>,
        request_key: &str,
        cpu: bool,
    ) -> Result<Proposal, MetricError> {
        if pods.is_empty() {
            return Err(MetricError::NoPods);
        }
        let mut metrics = Self::milli_metrics(request_key, samples)?;
        let g = self.groups(now, pods, samples, cpu);
        metrics.retain(|k, _| !g.ignored.contains(k.as_str()) && !g.unready.contains(k.as_str()));
        let mut requests: BTreeMap<&str, i64> = BTreeMap::new();
        for pod in pods {
            let r = pod
                .requests
                .get(request_key)
                .and_then(|v| to_milli(*v))
                .ok_or_else(|| MetricError::MissingRequest {
                    pod: pod.name.clone(),
                    resource: request_key.to_string(),
                })?;
            requests.insert(&pod.name, r);
        }
        if metrics.is_empty() {
            return Err(MetricError::NoMetricsForReadyPods);
        }
        let target = i64::from(target_utilization.max(1));
        let ratio_of = |m: &BTreeMap<String, i64>| -> Result<(f64, i64), MetricError> {
            let (mut total, mut req) = (0i128, 0i128);
            for (name, v) in m {
                if let Some(r) = requests.get(name.as_str()) {
                    // i64 values: an i128 sum cannot overflow for < 2^64 pods.
                    total = total.saturating_add(i128::from(*v));
                    req = req.saturating_add(i128::from(*r));
                }
            }
            if req == 0 {
                return Err(MetricError::NoMatchingPods);
            }
            let util = total
                .saturating_mul(100)
                .checked_div(req)
                .unwrap_or(0)
                .clamp(i128::from(i32::MIN), i128::from(i32::MAX)) as i64;
            Ok((util as f64 / target as f64, util))
        };
        let (ratio, utilization) = ratio_of(&metrics)?;
        let scale_up_with_unready = !g.unready.is_empty() && ratio > 1.0;
        if !scale_up_with_unready && g.missing.is_empty() {
            if self.within_tolerance(ratio) {
                return Ok(Proposal {
                    replicas: current,
                    usage: utilization,
                });
            }
            return Ok(Proposal {
                replicas: ceil_to_u32(ratio * g.ready as f64),
                usage: utilization,
            });
        }
        if !g.missing.is_empty() {
            if ratio < 1.0 {
                // Scale-down: missing pods count as using their request (or the
                // target, for targets above 100 %).
                let fallback = target.max(100);
                for name in &g.missing {
                    let req = requests.get(name).copied().unwrap_or(0);
                    metrics.insert((*name).to_string(), req.saturating_mul(fallback) / 100);
                }
            } else if ratio > 1.0 {
                for name in &g.missing {
                    metrics.insert((*name).to_string(), 0);
                }
            }
        }
        if scale_up_with_unready {
            for name in &g.unready {
                metrics.insert((*name).to_string(), 0);
            }
        }
        let (new_ratio, _) = ratio_of(&metrics)?;
        if self.within_tolerance(new_ratio)
            || (ratio < 1.0 && new_ratio > 1.0)
            || (ratio > 1.0 && new_ratio < 1.0)
        {
            return Ok(Proposal {
                replicas: current,
                usage: utilization,
            });
        }
        let new_replicas = ceil_to_u32(new_ratio * metrics.len() as f64);
        if (new_ratio < 1.0 && new_replicas > current)
            || (new_ratio > 1.0 && new_replicas < current)
        {
            return Ok(Proposal {
                replicas: current,
                usage: utilization,
            });
        }
        Ok(Proposal {
            replicas: new_replicas,
            usage: utilization,
        })
    }

    /// A per-pod metric with an AverageValue target (Pods metrics, Resource
    /// AverageValue): `calcPlainMetricReplicas`. `target` is in milli-units.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::time::{Duration, Instant};
    /// use resilience_scaling::hpa::{PodInfo, PodMetric, ReplicaCalculator};
    ///
    /// let now = Instant::now();
    /// let pods: Vec<PodInfo> = (0..4).map(|i| PodInfo::ready(format!("p{i}"), now)).collect();
    /// let queue: BTreeMap<String, PodMetric> = (0..4)
    ///     .map(|i| (format!("p{i}"), PodMetric::new(100.0, now)))
    ///     .collect();
    /// let p = ReplicaCalculator::default()
    ///     .plain_metric(now, 4, 50_000, &pods, &queue, false)
    ///     .unwrap();
    /// assert_eq!(p.replicas, 8); // 100 per pod against 50
    /// ```
    pub fn plain_metric(
        &self,
        now: Instant,
        current: u32,
        target: i64,
        pods: &[PodInfo],
        samples: &BTreeMap<String, PodMetric>,
        cpu: bool,
    ) -> Result<Proposal, MetricError> {
        if pods.is_empty() {
            return Err(MetricError::NoPods);
        }
        let mut metrics = Self::milli_metrics("pods metric", samples)?;
        let g = self.groups(now, pods, samples, cpu);
        metrics.retain(|k, _| !g.ignored.contains(k.as_str()) && !g.unready.contains(k.as_str()));
        if metrics.is_empty() {
            return Err(MetricError::NoMetricsForReadyPods);
        }
        let target = target.max(1);
        let ratio_of = |m: &BTreeMap<String, i64>| -> (f64, i64) {
            let total: i128 = m.values().map(|v| i128::from(*v)).sum();
            // The mean of i64 values fits an i64.
            let usage = total.checked_div(m.len().max(1) as i128).unwrap_or(0) as i64;
            (usage as f64 / target as f64, usage)
        };
        let (ratio, usage) = ratio_of(&metrics);
        let scale_up_with_unready = !g.unready.is_empty() && ratio > 1.0;
        if !scale_up_with_unready && g.missing.is_empty() {
            if self.within_tolerance(ratio) {
                return Ok(Proposal {
                    replicas: current,
                    usage,
                });
            }
            return Ok(Proposal {
                replicas: ceil_to_u32(ratio * g.ready as f64),
                usage,
            });
        }
        if !g.missing.is_empty() {
            let fill = if ratio < 1.0 { target } else { 0 };
            for name in &g.missing {
                metrics.insert((*name).to_string(), fill);
            }
        }
        if scale_up_with_unready {
            for name in &g.unready {
                metrics.insert((*name).to_string(), 0);
            }
        }
        let (new_ratio, _) = ratio_of(&metrics);
        if self.within_tolerance(new_ratio)
            || (ratio < 1.0 && new_ratio > 1.0)
            || (ratio > 1.0 && new_ratio < 1.0)
        {
            return Ok(Proposal {
                replicas: current,
                usage,
            });
        }
        let new_replicas = ceil_to_u32(new_ratio * metrics.len() as f64);
        if (new_ratio < 1.0 && new_replicas > current)
            || (new_ratio > 1.0 && new_replicas < current)
        {
            return Ok(Proposal {
                replicas: current,
                usage,
            });
        }
        Ok(Proposal {
            replicas: new_replicas,
            usage,
        })
    }

    /// Pods that are Running with `Ready: True` (`getReadyPodsCount`).
    ///
    /// ```
    /// use std::time::Instant;
    /// use resilience_scaling::hpa::{PodInfo, PodPhase, ReplicaCalculator};
    /// let mut pods = vec![PodInfo::ready("a", Instant::now()), PodInfo::ready("b", Instant::now())];
    /// pods[1].phase = PodPhase::Pending;
    /// assert_eq!(ReplicaCalculator::ready_pods(&pods).unwrap(), 1);
    /// ```
    pub fn ready_pods(pods: &[PodInfo]) -> Result<u32, MetricError> {
        if pods.is_empty() {
            return Err(MetricError::NoPods);
        }
        let n = pods
            .iter()
            .filter(|p| p.phase == PodPhase::Running && p.ready.is_some_and(|c| c.ready))
            .count();
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// An Object or External metric with a `Value` target: `usage` is the
    /// object's value (or the sum of the external series) in milli-units.
    ///
    /// ```
    /// use std::time::Instant;
    /// use resilience_scaling::hpa::{PodInfo, ReplicaCalculator};
    /// let pods: Vec<PodInfo> = (0..3).map(|i| PodInfo::ready(format!("p{i}"), Instant::now())).collect();
    /// let p = ReplicaCalculator::default().value_metric(3, 8_000, 4_000, &pods).unwrap();
    /// assert_eq!(p.replicas, 6);
    /// ```
    pub fn value_metric(
        &self,
        current: u32,
        usage: i64,
        target: i64,
        pods: &[PodInfo],
    ) -> Result<Proposal, MetricError> {
        let ratio = usage as f64 / target.max(1) as f64;
        if current == 0 {
            return Ok(Proposal {
                replicas: ceil_to_u32(ratio),
                usage,
            });
        }
        if self.within_tolerance(ratio) {
            return Ok(Proposal {
                replicas: current,
                usage,
            });
        }
        let ready = Self::ready_pods(pods)?;
        Ok(Proposal {
            replicas: ceil_to_u32(ratio * f64::from(ready)),
            usage,
        })
    }

    /// An Object or External metric with an `AverageValue` target: the
    /// value is divided by the target per pod (`GetObjectPerPodMetricReplicas`,
    /// `GetExternalPerPodMetricReplicas`).
    ///
    /// ```
    /// use resilience_scaling::hpa::ReplicaCalculator;
    /// // 900 queued messages, 30 per pod wanted: 30 pods.
    /// let p = ReplicaCalculator::default().average_value_metric(10, 900_000, 30_000);
    /// assert_eq!(p.replicas, 30);
    /// ```
    pub fn average_value_metric(&self, current: u32, usage: i64, target: i64) -> Proposal {
        let target = target.max(1);
        let ratio = usage as f64 / (target as f64 * f64::from(current));
        let replicas = if self.within_tolerance(ratio) {
            current
        } else {
            ceil_to_u32(usage as f64 / target as f64)
        };
        let per_pod = if current == 0 {
            usage
        } else {
            (usage as f64 / f64::from(current)).ceil() as i64
        };
        Proposal {
            replicas,
            usage: per_pod,
        }
    }
}
