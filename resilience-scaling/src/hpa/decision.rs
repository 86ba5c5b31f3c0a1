//! What an HPA decided and why.

use std::fmt;
use std::sync::Arc;

/// What limited (or did not limit) a decision: the Kubernetes
/// `ScalingLimited` condition reasons, plus the two bound checks the
/// controller does before it looks at metrics.
///
/// ```
/// use resilience_scaling::hpa::Limit;
/// assert_eq!(Limit::ScaleUpLimit { policy: Some(0) }.reason(), "ScaleUpLimit");
/// assert_eq!(Limit::DesiredWithinRange.reason(), "DesiredWithinRange");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Nothing limited the (stabilized) recommendation.
    DesiredWithinRange,
    /// A scale-up rate policy capped the change. `policy` is the index in
    /// `scale_up.policies` of the policy that set the cap (`None` when
    /// `selectPolicy: Disabled`, or when the legacy `max(2 × current, 4)`
    /// rule of a manifest without `behavior` set it).
    ScaleUpLimit {
        /// Index of the limiting policy.
        policy: Option<usize>,
    },
    /// A scale-down rate policy capped the change.
    ScaleDownLimit {
        /// Index of the limiting policy in `scale_down.policies`.
        policy: Option<usize>,
    },
    /// `maxReplicas` capped the recommendation.
    TooManyReplicas,
    /// `minReplicas` raised the recommendation.
    TooFewReplicas,
    /// The current count was above `maxReplicas`: scaled to the maximum
    /// without consulting metrics (as the controller does).
    CurrentAboveMax,
    /// The current count was below `minReplicas`: scaled to the minimum.
    CurrentBelowMin,
    /// The workload is at 0 replicas while `minReplicas` is above 0: the
    /// controller treats that as "autoscaling disabled" and keeps 0
    /// (condition `ScalingActive=False`, reason `ScalingDisabled`).
    ScalingDisabled,
}

impl Limit {
    /// The Kubernetes condition reason for this limit.
    pub fn reason(&self) -> &'static str {
        match self {
            Limit::DesiredWithinRange => "DesiredWithinRange",
            Limit::ScaleUpLimit { .. } => "ScaleUpLimit",
            Limit::ScaleDownLimit { .. } => "ScaleDownLimit",
            Limit::TooManyReplicas => "TooManyReplicas",
            Limit::TooFewReplicas => "TooFewReplicas",
            Limit::CurrentAboveMax => "CurrentAboveMax",
            Limit::CurrentBelowMin => "CurrentBelowMin",
            Limit::ScalingDisabled => "ScalingDisabled",
        }
    }
}

/// Whether the stabilization window changed the recommendation.
///
/// ```
/// use resilience_scaling::hpa::Stabilization;
/// assert_eq!(Stabilization::ScaleDownStabilized.reason(), "ScaleDownStabilized");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stabilization {
    /// The recommendation passed through unchanged (`ReadyForNewScale`).
    Unchanged,
    /// Lower recent recommendations held a scale-up back.
    ScaleUpStabilized,
    /// Higher recent recommendations held a scale-down back.
    ScaleDownStabilized,
    /// Stabilization did not run (the current count was outside the bounds).
    Skipped,
}

impl Stabilization {
    /// The Kubernetes `AbleToScale` condition reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Stabilization::Unchanged => "ReadyForNewScale",
            Stabilization::ScaleUpStabilized => "ScaleUpStabilized",
            Stabilization::ScaleDownStabilized => "ScaleDownStabilized",
            Stabilization::Skipped => "Skipped",
        }
    }
}

/// One HPA decision with its reasons.
///
/// ```
/// use std::time::Instant;
/// use resilience_scaling::hpa::{Hpa, Limit};
///
/// let mut hpa = Hpa::from_manifest_yaml(r#"
/// apiVersion: autoscaling/v2
/// kind: HorizontalPodAutoscaler
/// metadata: { name: web }
/// spec:
///   scaleTargetRef: { kind: Deployment, name: web }
///   minReplicas: 1
///   maxReplicas: 100
/// "#).unwrap();
/// let d = hpa.decide_with_reason(Instant::now(), 10, 50);
/// // No `behavior`: the controller's legacy limit, max(2 × 10, 4).
/// assert_eq!(d.replicas, 20);
/// assert_eq!(d.limit, Limit::ScaleUpLimit { policy: None });
/// println!("{d}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The replica count to apply.
    pub replicas: u32,
    /// The replica count before the decision.
    pub current_replicas: u32,
    /// The metric-based recommendation, before behavior.
    pub desired_replicas: u32,
    /// The recommendation after the stabilization window.
    pub stabilized_replicas: u32,
    /// What stabilization did.
    pub stabilization: Stabilization,
    /// What limited the result.
    pub limit: Limit,
    /// The metric whose proposal was the highest (set by
    /// [`Hpa::evaluate`](super::Hpa::evaluate) and
    /// [`Hpa::evaluate_uniform`](super::Hpa::evaluate_uniform)).
    pub metric: Option<Arc<str>>,
}

impl Decision {
    /// Whether the decision changes the replica count.
    pub fn is_rescale(&self) -> bool {
        self.replicas != self.current_replicas
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {} replicas", self.current_replicas, self.replicas)?;
        match &self.metric {
            Some(m) => write!(f, " (metric `{m}` recommends {}", self.desired_replicas)?,
            None => write!(f, " (recommended {}", self.desired_replicas)?,
        }
        if self.stabilized_replicas != self.desired_replicas {
            write!(
                f,
                ", {} to {}",
                self.stabilization.reason(),
                self.stabilized_replicas
            )?;
        }
        match self.limit {
            Limit::ScaleUpLimit { policy: Some(i) } => {
                write!(f, ", limited by scale-up policy #{i})")
            }
            Limit::ScaleDownLimit { policy: Some(i) } => {
                write!(f, ", limited by scale-down policy #{i})")
            }
            l => write!(f, ", {})", l.reason()),
        }
    }
}

/// Events an [`Hpa`](super::Hpa) publishes to its listeners.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Instant;
/// use resilience_scaling::hpa::{Hpa, HpaEvent};
///
/// let mut hpa = Hpa::from_manifest_yaml(
///     "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nspec:\n  scaleTargetRef: {kind: Deployment, name: w}\n  maxReplicas: 9",
/// ).unwrap();
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = seen.clone();
/// hpa.listeners().add_fn(move |e: &HpaEvent| sink.lock().unwrap().push(e.clone()));
/// hpa.decide(Instant::now(), 2, 3);
/// assert!(matches!(&seen.lock().unwrap()[0], HpaEvent::Rescaled(d) if d.replicas == 3));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HpaEvent {
    /// A decision changed the replica count.
    Rescaled(Decision),
}
