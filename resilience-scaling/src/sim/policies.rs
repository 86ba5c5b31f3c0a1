//! Adapters that let the crate's evaluators run in the simulator.

use std::fmt;

use super::{Observation, Policy};
use crate::hpa::{Hpa, MetricSource, Target};
use crate::predictive::Predictor;
use crate::rules::RuleEngine;
use crate::schedule::Schedule;

/// A policy from a closure.
///
/// ```
/// use resilience_scaling::sim::{FnPolicy, Observation, Policy};
/// let mut p = FnPolicy::new("double", |o: &Observation| o.requested_replicas * 2);
/// assert_eq!(p.decide(&Observation::example()), 20);
/// ```
pub struct FnPolicy<F> {
    name: String,
    f: F,
}

impl<F: FnMut(&Observation) -> u32> FnPolicy<F> {
    /// Wraps `f` under `name`.
    pub fn new(name: impl Into<String>, f: F) -> Self {
        FnPolicy {
            name: name.into(),
            f,
        }
    }
}

impl<F> fmt::Debug for FnPolicy<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnPolicy")
            .field("name", &self.name)
            .finish()
    }
}

impl<F: FnMut(&Observation) -> u32> Policy for FnPolicy<F> {
    fn name(&self) -> &str {
        &self.name
    }
    fn decide(&mut self, obs: &Observation) -> u32 {
        (self.f)(obs)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Source {
    Utilization,
    BacklogPerReplica,
    Backlog,
    Wait,
    Demand,
    Missing,
}

fn source_for(name: &str) -> Source {
    let n = name.to_ascii_lowercase();
    if n.contains("util") || n == "cpu" || n.contains("cpu") {
        Source::Utilization
    } else if n.contains("wait") || n.contains("lag") {
        Source::Wait
    } else if n.contains("queue") || n.contains("backlog") {
        Source::Backlog
    } else if n.contains("traffic")
        || n.contains("demand")
        || n.contains("qps")
        || n.contains("rps")
    {
        Source::Demand
    } else {
        Source::Missing
    }
}

fn read(src: Source, o: &Observation) -> f64 {
    match src {
        Source::Utilization => o.utilization,
        Source::BacklogPerReplica => o.backlog / f64::from(o.ready_replicas.max(1)),
        Source::Backlog => o.backlog,
        Source::Wait => o.wait_seconds,
        Source::Demand => o.demand,
        Source::Missing => f64::NAN,
    }
}

/// Runs an [`Hpa`] on the simulated metrics: each metric of the manifest is
/// read from the observation by its name — `cpu`/`*util*` → utilization
/// percent, `*queue*`/`*backlog*` → backlog (per ready pod for
/// AverageValue targets), `*wait*`/`*lag*` → wait seconds,
/// `*traffic*`/`*qps*`/`*rps*`/`*demand*` → demand — and evaluated with
/// [`Hpa::evaluate_uniform`].
///
/// ```
/// use resilience_scaling::hpa::Hpa;
/// use resilience_scaling::sim::{HpaPolicy, Observation, Policy};
/// let hpa = Hpa::from_manifest_yaml(include_str!("../../presets/runtime-engine-hpa.yaml")).unwrap();
/// let mut p = HpaPolicy::new(hpa);
/// // The new HPA's initial recommendation (the current 10) holds for the
/// // manifest's 60 s scale-up window...
/// let mut obs = Observation::example();
/// assert_eq!(p.decide(&obs), 10);
/// // ...then 100 % cpu against a 60 % target: ceil(10 * 100 / 60) = 17.
/// obs.now += std::time::Duration::from_secs(61);
/// assert_eq!(p.decide(&obs), 17);
/// ```
#[derive(Debug)]
pub struct HpaPolicy {
    name: String,
    hpa: Hpa,
    sources: Vec<Source>,
    values: Vec<f64>,
}

impl HpaPolicy {
    /// Wraps an HPA; the policy is named after it.
    pub fn new(hpa: Hpa) -> Self {
        let sources = hpa
            .config()
            .metrics
            .iter()
            .map(|m| {
                let name = match &m.source {
                    MetricSource::Resource { name }
                    | MetricSource::ContainerResource { name, .. }
                    | MetricSource::Pods { name }
                    | MetricSource::Object { name, .. }
                    | MetricSource::External { name } => name,
                };
                match (source_for(name), m.target) {
                    (Source::Backlog, Target::AverageValue(_)) => Source::BacklogPerReplica,
                    (s, _) => s,
                }
            })
            .collect::<Vec<_>>();
        HpaPolicy {
            name: format!("HPA {}", hpa.config().name),
            values: vec![0.0; sources.len()],
            sources,
            hpa,
        }
    }

    /// The HPA.
    pub fn hpa(&self) -> &Hpa {
        &self.hpa
    }
}

impl Policy for HpaPolicy {
    fn name(&self) -> &str {
        &self.name
    }
    fn decide(&mut self, o: &Observation) -> u32 {
        for (v, s) in self.values.iter_mut().zip(&self.sources) {
            *v = read(*s, o);
        }
        self.hpa
            .evaluate_uniform(o.now, o.requested_replicas, o.ready_replicas, &self.values)
            .replicas
    }
}

/// Runs a [`RuleEngine`] on the simulated metrics, mapping rule metric
/// names as [`HpaPolicy`] does (queue depths read the whole backlog). A
/// `predicted_traffic` metric reads the optional [`Predictor`]'s peak
/// forecast (demand without one).
///
/// ```
/// use resilience_scaling::rules::RuleEngine;
/// use resilience_scaling::sim::{Observation, Policy, RulePolicy};
/// let e = RuleEngine::from_yaml(include_str!("../../presets/gpu-pool-policy.yaml")).unwrap();
/// let mut p = RulePolicy::new(e);
/// assert_eq!(p.decide(&Observation::example()), 20); // raised to the tier minimums
/// ```
#[derive(Debug)]
pub struct RulePolicy {
    name: String,
    engine: RuleEngine,
    sources: Vec<Source>,
    values: Vec<f64>,
    predictor: Option<Predictor>,
}

impl RulePolicy {
    /// Wraps an engine; the policy is named after its component.
    pub fn new(engine: RuleEngine) -> Self {
        let sources: Vec<Source> = engine.metrics().iter().map(|m| source_for(m)).collect();
        RulePolicy {
            name: format!("rules {}", engine.config().component),
            values: vec![f64::NAN; sources.len()],
            sources,
            engine,
            predictor: None,
        }
    }

    /// Feeds `predicted_traffic`-style metrics from a predictor.
    pub fn predictor(mut self, predictor: Predictor) -> Self {
        self.predictor = Some(predictor);
        self
    }

    /// Renamed to [`predictor`](Self::predictor).
    #[deprecated(since = "0.1.1", note = "renamed to `RulePolicy::predictor`")]
    #[doc(hidden)]
    pub fn with_predictor(self, predictor: Predictor) -> Self {
        self.predictor(predictor)
    }

    /// The engine.
    pub fn engine(&self) -> &RuleEngine {
        &self.engine
    }
}

impl Policy for RulePolicy {
    fn name(&self) -> &str {
        &self.name
    }
    fn decide(&mut self, o: &Observation) -> u32 {
        let forecast = match self.predictor.as_mut() {
            Some(p) => {
                p.observe(o.wall, o.demand);
                p.recommend(o.wall).map(|d| d.peak_load)
            }
            None => None,
        };
        for (v, s) in self.values.iter_mut().zip(&self.sources) {
            *v = match (s, forecast) {
                (Source::Demand, Some(f)) => f,
                _ => read(*s, o),
            };
        }
        self.engine
            .evaluate(o.now, o.requested_replicas, &self.values)
            .replicas
    }
}

/// A policy whose result is raised to a [`Schedule`]'s floor.
///
/// ```
/// use resilience_scaling::schedule::Schedule;
/// use resilience_scaling::sim::{FnPolicy, Observation, Policy, Scheduled};
/// let s = Schedule::from_yaml("daily: [{at: '00:00', replicas: 12}]").unwrap();
/// let mut p = Scheduled::new(FnPolicy::new("one", |_| 1), s);
/// assert_eq!(p.decide(&Observation::example()), 12);
/// ```
#[derive(Debug)]
pub struct Scheduled<P> {
    name: String,
    inner: P,
    schedule: Schedule,
}

impl<P: Policy> Scheduled<P> {
    /// Combines `inner` with `schedule` (the higher count wins).
    pub fn new(inner: P, schedule: Schedule) -> Self {
        Scheduled {
            name: format!("{} + schedule", inner.name()),
            inner,
            schedule,
        }
    }
}

impl<P: Policy> Policy for Scheduled<P> {
    fn name(&self) -> &str {
        &self.name
    }
    fn decide(&mut self, o: &Observation) -> u32 {
        let reactive = self.inner.decide(o);
        self.schedule.apply(o.wall, reactive).replicas
    }
}

/// The highest count of several policies.
///
/// ```
/// use resilience_scaling::sim::{FnPolicy, MaxOf, Observation, Policy};
/// let mut p = MaxOf::new("max", vec![Box::new(FnPolicy::new("a", |_| 3)), Box::new(FnPolicy::new("b", |_| 7))]);
/// assert_eq!(p.decide(&Observation::example()), 7);
/// ```
pub struct MaxOf {
    name: String,
    parts: Vec<Box<dyn Policy>>,
}

impl MaxOf {
    /// Combines `parts`.
    pub fn new(name: impl Into<String>, parts: Vec<Box<dyn Policy>>) -> Self {
        MaxOf {
            name: name.into(),
            parts,
        }
    }
}

impl fmt::Debug for MaxOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaxOf")
            .field("name", &self.name)
            .field(
                "parts",
                &self
                    .parts
                    .iter()
                    .map(|p| p.name().to_string())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Policy for MaxOf {
    fn name(&self) -> &str {
        &self.name
    }
    fn decide(&mut self, o: &Observation) -> u32 {
        self.parts
            .iter_mut()
            .map(|p| p.decide(o))
            .max()
            .unwrap_or(o.requested_replicas)
    }
}

/// A [`Predictor`] as a policy: it learns from the demand it observes and
/// requests its recommendation (the current count until it has a forecast).
///
/// ```
/// use resilience_scaling::predictive::Predictor;
/// use resilience_scaling::sim::{Observation, Policy, PredictivePolicy};
/// let p = Predictor::from_yaml(include_str!("../../presets/ingestion-workers-predictive.yaml")).unwrap();
/// let mut pol = PredictivePolicy::new(p);
/// assert_eq!(pol.decide(&Observation::example()), 10); // no history yet
/// ```
#[derive(Debug)]
pub struct PredictivePolicy {
    predictor: Predictor,
}

impl PredictivePolicy {
    /// Wraps a predictor.
    pub fn new(predictor: Predictor) -> Self {
        PredictivePolicy { predictor }
    }
}

impl Policy for PredictivePolicy {
    fn name(&self) -> &str {
        "predictive"
    }
    fn decide(&mut self, o: &Observation) -> u32 {
        self.predictor.observe(o.wall, o.demand);
        self.predictor
            .recommend(o.wall)
            .map_or(o.requested_replicas, |d| d.replicas)
    }
}
