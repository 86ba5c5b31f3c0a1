//! Spot and cost policies: preemption handling, an on-demand floor, an
//! hourly cost cap, and diversification across instance types and zones.
//!
//! From the GPU training platform's `SpotInstanceManager`:
//!
//! * **Preemption warning**: with more than `checkpoint_threshold` (60 s)
//!   left, each job on the node checkpoints and is requeued at `High`
//!   priority; otherwise it saves emergency state and is requeued at
//!   `Urgent`.
//! * **On-demand floor**: `max(3, 20 % of total capacity)` nodes stay
//!   on-demand, so urgent work always has somewhere to run.
//! * **On-demand / spot split**: the platform's GPU cluster runs an
//!   on-demand pool of **30 %** and a spot pool of 70 %
//!   (`on_demand_share: 0.3` in the preset); the floor above still holds
//!   when the share would give less (small fleets).
//! * **Job tiers**: Enterprise jobs go to on-demand first, Business jobs to
//!   both pools (spot first, on-demand above the floor kept for Enterprise
//!   work), Starter jobs to spot only ([`JobTier`], [`SpotManager::route`]).
//! * **Cost cap**: the hourly limit is `budget remaining / hours remaining`;
//!   above it, spot capacity is scaled down to `0.9 × limit` (on-demand
//!   capacity is never cut below the floor).
//! * **Diversification**: spot nodes are spread evenly over the instance
//!   type × zone pools whose price is at most `0.7 ×` the type's on-demand
//!   price, cheaper pools first for the remainder.
//!
//! ```
//! use std::time::Duration;
//! use resilience_scaling::spot::{PreemptionAction, RequeuePriority, SpotManager};
//!
//! let spot = SpotManager::from_yaml(include_str!("../presets/spot.yaml"))?;
//! let plans = spot.on_preemption_warning(Duration::from_secs(120), &["job-1", "job-2"]);
//! assert_eq!(plans[0].action, PreemptionAction::Checkpoint);
//! assert_eq!(plans[0].requeue, RequeuePriority::High);
//! let late = spot.on_preemption_warning(Duration::from_secs(45), &["job-3"]);
//! assert_eq!((late[0].action, late[0].requeue), (PreemptionAction::EmergencySave, RequeuePriority::Urgent));
//! assert_eq!(spot.on_demand_floor(10), 3);
//! assert_eq!(spot.on_demand_floor(40), 8);
//! # Ok::<(), resilience_core::config::ConfigError>(())
//! ```

use std::time::Duration;

use resilience_core::config::{self, ConfigError};
use serde::{Deserialize, Serialize};

use crate::distribution::largest_remainder;

/// An instance type and its on-demand price per node-hour.
///
/// ```
/// use resilience_scaling::spot::InstanceType;
/// let t = InstanceType { name: "a10g".into(), on_demand_price: 1.0 };
/// assert_eq!(t.on_demand_price, 1.0);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceType {
    /// Type name.
    pub name: String,
    /// On-demand price per node-hour: a finite number above 0.
    pub on_demand_price: f64,
}

/// Spot manager configuration (the GPU training platform's defaults).
///
/// ```
/// use resilience_scaling::spot::SpotConfig;
/// let c: SpotConfig = resilience_core::config::from_yaml_str(
///     "instance_types: [{name: a100, on_demand_price: 3.0}]\nzones: [z1]").unwrap();
/// assert_eq!(c.on_demand_min_nodes, 3);
/// assert_eq!(c.max_spot_price_fraction, 0.7);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpotConfig {
    /// Instance types, in order of preference.
    pub instance_types: Vec<InstanceType>,
    /// Zones.
    pub zones: Vec<String>,
    /// Spot bids above this fraction of on-demand are not used (default 0.7;
    /// in (0, 1]).
    #[serde(default = "seven_tenths")]
    pub max_spot_price_fraction: f64,
    /// Time left above which a preempted job checkpoints (default 60 s).
    #[serde(default = "sixty_s", with = "humantime_serde")]
    pub checkpoint_threshold: Duration,
    /// Regular checkpoint interval for jobs on spot nodes (default 15 min;
    /// above 0).
    #[serde(default = "fifteen_min", with = "humantime_serde")]
    pub checkpoint_interval: Duration,
    /// Minimum on-demand nodes (default 3).
    #[serde(default = "three")]
    pub on_demand_min_nodes: u32,
    /// Minimum on-demand share of total capacity (default 0.2; in [0, 1]).
    #[serde(default = "one_fifth")]
    pub on_demand_min_fraction: f64,
    /// Target on-demand share of the fleet (the GPU cluster's 30 / 70
    /// split: 0.3); `None` (the default) runs only the floor on-demand. In
    /// [0, 1]; the floor wins when it is higher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_demand_share: Option<f64>,
    /// Spot is scaled to this fraction of the hourly limit (default 0.9; in
    /// (0, 1]).
    #[serde(default = "nine_tenths")]
    pub cost_target_fraction: f64,
}

fn seven_tenths() -> f64 {
    0.7
}
fn nine_tenths() -> f64 {
    0.9
}
fn one_fifth() -> f64 {
    0.2
}
fn three() -> u32 {
    3
}
fn sixty_s() -> Duration {
    Duration::from_secs(60)
}
fn fifteen_min() -> Duration {
    Duration::from_secs(900)
}

/// Requeue priority after a preemption.
///
/// ```
/// use resilience_scaling::spot::RequeuePriority;
/// assert!(RequeuePriority::Urgent > RequeuePriority::High);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RequeuePriority {
    /// Checkpointed: resume soon.
    High,
    /// Emergency-saved: resume first.
    Urgent,
}

/// Renamed to [`RequeuePriority`] (distinct from the bulkheads' `Priority`).
#[deprecated(since = "0.1.1", note = "renamed to `RequeuePriority`")]
#[doc(hidden)]
pub type Priority = RequeuePriority;

/// What a job does on a preemption warning.
///
/// ```
/// use resilience_scaling::spot::PreemptionAction;
/// assert_ne!(PreemptionAction::Checkpoint, PreemptionAction::EmergencySave);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PreemptionAction {
    /// Take a regular checkpoint.
    Checkpoint,
    /// Save whatever state can be saved in time.
    EmergencySave,
}

/// The plan for one job on a preempted node.
///
/// ```
/// use resilience_scaling::spot::{JobPlan, PreemptionAction, RequeuePriority};
/// let p = JobPlan { job: 7, action: PreemptionAction::Checkpoint, requeue: RequeuePriority::High };
/// assert_eq!(p.job, 7);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobPlan<J> {
    /// The job.
    pub job: J,
    /// What to do before the node goes.
    pub action: PreemptionAction,
    /// Requeue priority.
    pub requeue: RequeuePriority,
}

/// On-demand / spot split of a total.
///
/// ```
/// use resilience_scaling::spot::FleetPlan;
/// let p = FleetPlan { on_demand: 3, spot: 7 };
/// assert_eq!(p.on_demand + p.spot, 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetPlan {
    /// On-demand nodes.
    pub on_demand: u32,
    /// Spot nodes.
    pub spot: u32,
}

/// Inputs of the hourly cost check.
///
/// ```
/// use resilience_scaling::spot::CostInput;
/// let c = CostInput { budget_remaining: 1000.0, hours_remaining: 10.0, on_demand_nodes: 3,
///     on_demand_price: 3.0, spot_nodes: 20, spot_price: 1.2 };
/// assert_eq!(c.hourly_rate(), 33.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostInput {
    /// Budget left for the period.
    pub budget_remaining: f64,
    /// Hours left in the period.
    pub hours_remaining: f64,
    /// On-demand nodes running.
    pub on_demand_nodes: u32,
    /// On-demand price per node-hour.
    pub on_demand_price: f64,
    /// Spot nodes running.
    pub spot_nodes: u32,
    /// Current spot price per node-hour.
    pub spot_price: f64,
}

impl CostInput {
    /// The current spend per hour.
    pub fn hourly_rate(&self) -> f64 {
        f64::from(self.on_demand_nodes) * self.on_demand_price
            + f64::from(self.spot_nodes) * self.spot_price
    }
}

/// The outcome of the hourly cost check.
///
/// ```
/// use resilience_scaling::spot::CostDecision;
/// let d = CostDecision { hourly_limit: 100.0, hourly_rate: 80.0, spot_nodes: 20, over_budget: false };
/// assert!(!d.over_budget);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostDecision {
    /// `budget remaining / hours remaining`.
    pub hourly_limit: f64,
    /// The current spend per hour.
    pub hourly_rate: f64,
    /// Spot nodes to keep.
    pub spot_nodes: u32,
    /// Whether the rate exceeded the limit.
    pub over_budget: bool,
}

/// A spot market quote for one pool.
///
/// ```
/// use resilience_scaling::spot::SpotQuote;
/// let q = SpotQuote { instance_type: "a100".into(), zone: "us-east-1a".into(), price: 1.1, available: true };
/// assert!(q.available);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SpotQuote {
    /// Instance type.
    pub instance_type: String,
    /// Zone.
    pub zone: String,
    /// Current spot price per node-hour.
    pub price: f64,
    /// Whether capacity is available.
    pub available: bool,
}

/// Nodes placed in one pool.
///
/// ```
/// use resilience_scaling::spot::Placement;
/// let p = Placement { instance_type: "a10g".into(), zone: "z".into(), nodes: 2, price: 0.4 };
/// assert_eq!(p.nodes, 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// Instance type.
    pub instance_type: String,
    /// Zone.
    pub zone: String,
    /// Nodes.
    pub nodes: u32,
    /// Price per node-hour.
    pub price: f64,
}

/// The spot and cost policy. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct SpotManager {
    config: SpotConfig,
}

impl SpotManager {
    /// Parses and validates a YAML configuration.
    pub fn from_yaml(yaml: &str) -> Result<Self, ConfigError> {
        Self::new(config::from_yaml_str(yaml)?)
    }

    /// Validates a configuration.
    ///
    /// ```
    /// use resilience_scaling::spot::SpotManager;
    /// let e = SpotManager::from_yaml("instance_types: []\nzones: [z]").unwrap_err();
    /// assert_eq!(e.field(), Some("instance_types"));
    /// ```
    pub fn new(config: SpotConfig) -> Result<Self, ConfigError> {
        if config.instance_types.is_empty() {
            return Err(ConfigError::invalid(
                "instance_types",
                "must list at least one type",
            ));
        }
        if config.zones.is_empty() {
            return Err(ConfigError::invalid("zones", "must list at least one zone"));
        }
        for (i, t) in config.instance_types.iter().enumerate() {
            if !(t.on_demand_price.is_finite() && t.on_demand_price > 0.0) {
                return Err(ConfigError::invalid(
                    format!("instance_types[{i}].on_demand_price"),
                    format!("must be a positive price, got {}", t.on_demand_price),
                ));
            }
        }
        config::check_fraction("max_spot_price_fraction", config.max_spot_price_fraction)?;
        config::check_unit_interval("on_demand_min_fraction", config.on_demand_min_fraction)?;
        if let Some(share) = config.on_demand_share {
            config::check_unit_interval("on_demand_share", share)?;
        }
        config::check_fraction("cost_target_fraction", config.cost_target_fraction)?;
        config::check_nonzero_duration("checkpoint_interval", config.checkpoint_interval)?;
        Ok(SpotManager { config })
    }

    /// The configuration.
    pub fn config(&self) -> &SpotConfig {
        &self.config
    }

    /// Plans every job on a node that will be preempted in `time_remaining`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_scaling::spot::{RequeuePriority, SpotManager};
    /// let s = SpotManager::from_yaml(include_str!("../presets/spot.yaml")).unwrap();
    /// let plans = s.on_preemption_warning(Duration::from_secs(30), &["train-7"]);
    /// assert_eq!(plans[0].requeue, RequeuePriority::Urgent);
    /// ```
    pub fn on_preemption_warning<J: Clone>(
        &self,
        time_remaining: Duration,
        jobs: &[J],
    ) -> Vec<JobPlan<J>> {
        let (action, requeue) = if time_remaining > self.config.checkpoint_threshold {
            (PreemptionAction::Checkpoint, RequeuePriority::High)
        } else {
            (PreemptionAction::EmergencySave, RequeuePriority::Urgent)
        };
        jobs.iter()
            .map(|j| JobPlan {
                job: j.clone(),
                action,
                requeue,
            })
            .collect()
    }

    /// Whether a job last checkpointed `since_checkpoint` ago should
    /// checkpoint now.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_scaling::spot::SpotManager;
    /// let s = SpotManager::from_yaml(include_str!("../presets/spot.yaml")).unwrap();
    /// assert!(s.checkpoint_due(Duration::from_secs(15 * 60)));
    /// assert!(!s.checkpoint_due(Duration::from_secs(60)));
    /// ```
    pub fn checkpoint_due(&self, since_checkpoint: Duration) -> bool {
        since_checkpoint >= self.config.checkpoint_interval
    }

    /// `max(on_demand_min_nodes, ceil(on_demand_min_fraction × total))`.
    pub fn on_demand_floor(&self, total_capacity: u32) -> u32 {
        let frac = (f64::from(total_capacity) * self.config.on_demand_min_fraction - 1e-9)
            .ceil()
            .max(0.0) as u32;
        self.config.on_demand_min_nodes.max(frac)
    }

    /// Splits a total into on-demand and spot: `ceil(on_demand_share ×
    /// total)` on-demand (the preset's 30 %), never below the
    /// [floor](Self::on_demand_floor), never above the total.
    ///
    /// ```
    /// use resilience_scaling::spot::SpotManager;
    /// let s = SpotManager::from_yaml(include_str!("../presets/spot.yaml")).unwrap();
    /// let p = s.plan_fleet(50);
    /// assert_eq!((p.on_demand, p.spot), (15, 35)); // 30 / 70
    /// assert_eq!(s.plan_fleet(8).on_demand, 3); // the floor of 3 beats 30 % of 8
    /// assert_eq!(s.plan_fleet(2).on_demand, 2);
    /// ```
    pub fn plan_fleet(&self, total: u32) -> FleetPlan {
        let share = self.config.on_demand_share.map_or(0, |f| {
            // In [0, total]: f is in [0, 1].
            (f64::from(total) * f - 1e-9).ceil().max(0.0) as u32
        });
        let od = self.on_demand_floor(total).max(share).min(total);
        FleetPlan {
            on_demand: od,
            spot: total.saturating_sub(od),
        }
    }

    /// The hourly cost check: above the limit, keep only the spot nodes that
    /// fit `cost_target_fraction × limit` after the on-demand spend. A NaN
    /// budget or hours, an infinite budget or no hours left means no cap.
    ///
    /// ```
    /// use resilience_scaling::spot::{CostInput, SpotManager};
    /// let s = SpotManager::from_yaml(include_str!("../presets/spot.yaml")).unwrap();
    /// // $500 left for 10 h: $50/h limit, target $45/h. 5 on-demand at $3 = $15,
    /// // leaving $30 for spot at $1.2: 25 nodes.
    /// let d = s.cost_control(&CostInput { budget_remaining: 500.0, hours_remaining: 10.0,
    ///     on_demand_nodes: 5, on_demand_price: 3.0, spot_nodes: 40, spot_price: 1.2 });
    /// assert!(d.over_budget);
    /// assert_eq!(d.spot_nodes, 25);
    /// ```
    pub fn cost_control(&self, input: &CostInput) -> CostDecision {
        let rate = input.hourly_rate();
        // Without a usable budget or time left there is no cap to enforce:
        // never cut capacity on input that cannot be computed with.
        let (b, h) = (input.budget_remaining, input.hours_remaining);
        let limit = if b.is_nan() || h.is_nan() || h <= 0.0 || b == f64::INFINITY {
            f64::INFINITY
        } else {
            (b / h).max(0.0)
        };
        if rate.is_nan() || rate <= limit {
            return CostDecision {
                hourly_limit: limit,
                hourly_rate: rate,
                spot_nodes: input.spot_nodes,
                over_budget: false,
            };
        }
        let target = limit * self.config.cost_target_fraction;
        let spot_budget = target - f64::from(input.on_demand_nodes) * input.on_demand_price;
        let fit = if input.spot_price > 0.0 && spot_budget > 0.0 {
            (spot_budget / input.spot_price + 1e-9)
                .floor()
                .min(f64::from(u32::MAX)) as u32
        } else if input.spot_price <= 0.0 {
            input.spot_nodes
        } else {
            0
        };
        CostDecision {
            hourly_limit: limit,
            hourly_rate: rate,
            spot_nodes: fit.min(input.spot_nodes),
            over_budget: true,
        }
    }

    /// Spreads `nodes` spot nodes over the eligible pools (available, price
    /// at most `max_spot_price_fraction ×` on-demand): evenly, with the
    /// remainder going to the cheapest pools. Returns the placements and the
    /// nodes that found no eligible pool.
    ///
    /// ```
    /// use resilience_scaling::spot::{SpotManager, SpotQuote};
    /// let s = SpotManager::from_yaml(include_str!("../presets/spot.yaml")).unwrap();
    /// let q = |t: &str, z: &str, p: f64| SpotQuote { instance_type: t.into(), zone: z.into(), price: p, available: true };
    /// let market = [q("a100", "us-east-1a", 1.2), q("a100", "us-east-1b", 2.5), q("a10g", "us-east-1a", 0.4)];
    /// let (placed, unplaced) = s.diversify(5, &market);
    /// assert_eq!(unplaced, 0);
    /// // a100 in 1b costs more than 0.7 x 3.00: not used.
    /// assert_eq!(placed.len(), 2);
    /// assert_eq!(placed.iter().map(|p| p.nodes).sum::<u32>(), 5);
    /// assert_eq!((placed[0].instance_type.as_str(), placed[0].nodes), ("a10g", 3));
    /// ```
    pub fn diversify(&self, nodes: u32, market: &[SpotQuote]) -> (Vec<Placement>, u32) {
        let mut eligible: Vec<&SpotQuote> = market
            .iter()
            .filter(|q| q.available && q.price.is_finite() && q.price >= 0.0)
            .filter(|q| self.config.zones.contains(&q.zone))
            .filter(|q| {
                self.config
                    .instance_types
                    .iter()
                    .find(|t| t.name == q.instance_type)
                    .is_some_and(|t| {
                        q.price <= t.on_demand_price * self.config.max_spot_price_fraction
                    })
            })
            .collect();
        if eligible.is_empty() {
            return (Vec::new(), nodes);
        }
        eligible.sort_by(|a, b| a.price.total_cmp(&b.price));
        let counts = largest_remainder(nodes, &vec![1.0; eligible.len()]);
        let placed = eligible
            .iter()
            .zip(counts)
            .filter(|(_, n)| *n > 0)
            .map(|(q, n)| Placement {
                instance_type: q.instance_type.clone(),
                zone: q.zone.clone(),
                nodes: n,
                price: q.price,
            })
            .collect();
        (placed, 0)
    }
}

/// A job's service tier, which decides the pools it may run on (the GPU
/// training platform's job priority).
///
/// ```
/// use resilience_scaling::spot::JobTier;
/// assert!(JobTier::Enterprise.may_use_spot());
/// assert!(!JobTier::Starter.may_use_on_demand());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobTier {
    /// On-demand first; spot only when no on-demand node is free.
    Enterprise,
    /// Mixed: spot first, on-demand above the reserved floor.
    Business,
    /// Spot only: waits rather than take on-demand capacity.
    Starter,
}

impl JobTier {
    /// Whether jobs of this tier may run on on-demand nodes.
    ///
    /// ```
    /// use resilience_scaling::spot::JobTier;
    /// assert!(JobTier::Business.may_use_on_demand());
    /// ```
    pub fn may_use_on_demand(self) -> bool {
        !matches!(self, JobTier::Starter)
    }

    /// Whether jobs of this tier may run on spot nodes.
    ///
    /// ```
    /// use resilience_scaling::spot::JobTier;
    /// assert!(JobTier::Starter.may_use_spot());
    /// ```
    pub fn may_use_spot(self) -> bool {
        true
    }
}

/// A capacity pool.
///
/// ```
/// use resilience_scaling::spot::Pool;
/// assert_ne!(Pool::OnDemand, Pool::Spot);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pool {
    /// On-demand (never preempted).
    OnDemand,
    /// Spot (preemptible, checkpointed).
    Spot,
}

/// Free capacity, for [`SpotManager::route`].
///
/// ```
/// use resilience_scaling::spot::PoolAvailability;
/// let a = PoolAvailability { on_demand_free: 4, on_demand_reserved: 3, spot_free: 0 };
/// assert_eq!(a.on_demand_free, 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolAvailability {
    /// Free on-demand nodes.
    pub on_demand_free: u32,
    /// Of those, how many are kept for Enterprise (and urgent, requeued)
    /// work: Business jobs do not take them. Typically the free part of the
    /// [on-demand floor](SpotManager::on_demand_floor).
    pub on_demand_reserved: u32,
    /// Free spot nodes.
    pub spot_free: u32,
}

impl SpotManager {
    /// The pool a job of `tier` should start on now, or `None` when it has
    /// to wait (queue it): Enterprise takes on-demand, else spot; Business
    /// takes spot, else on-demand beyond `on_demand_reserved`; Starter takes
    /// spot only.
    ///
    /// ```
    /// use resilience_scaling::spot::{JobTier, Pool, PoolAvailability, SpotManager};
    /// let s = SpotManager::from_yaml(include_str!("../presets/spot.yaml")).unwrap();
    /// let free = PoolAvailability { on_demand_free: 3, on_demand_reserved: 3, spot_free: 0 };
    /// assert_eq!(s.route(JobTier::Enterprise, free), Some(Pool::OnDemand));
    /// assert_eq!(s.route(JobTier::Business, free), None); // the floor is Enterprise's
    /// assert_eq!(s.route(JobTier::Starter, free), None);  // spot only: wait
    /// ```
    pub fn route(&self, tier: JobTier, free: PoolAvailability) -> Option<Pool> {
        let spot = (free.spot_free > 0).then_some(Pool::Spot);
        match tier {
            JobTier::Enterprise => (free.on_demand_free > 0).then_some(Pool::OnDemand).or(spot),
            JobTier::Business => spot.or_else(|| {
                (free.on_demand_free > free.on_demand_reserved).then_some(Pool::OnDemand)
            }),
            JobTier::Starter => spot,
        }
    }
}
