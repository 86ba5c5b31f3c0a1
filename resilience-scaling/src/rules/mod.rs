//! Threshold-for-duration rules: "queue_depth > 1000 for 2 min → +5".
//!
//! The reference platforms describe most of their autoscaling this way: a set of scale-up
//! triggers and scale-down triggers per component, each a metric compared
//! with a threshold that must hold for a while, with separate cooldowns,
//! increments, bounds and tier minimums. [`RuleEngine`] evaluates such a
//! policy once per tick.
//!
//! Semantics:
//!
//! * A rule's condition must hold **continuously** for its `for` duration;
//!   a tick where it does not hold (or where the metric is missing, NaN)
//!   restarts the timer.
//! * Scale-up wins over scale-down. The largest `change` among firing
//!   scale-up rules is applied, capped at `max_replicas`.
//! * Scale-down fires when any (or, with `scale_down_when: all`, every)
//!   scale-down rule fires; the largest `change` among them is removed,
//!   floored at the effective minimum.
//! * `cooldown_up` is the minimum time between two scale-ups;
//!   `cooldown_down` is the minimum time after *any* scaling before a
//!   scale-down, so that a fresh scale-up is never undone at once.
//! * The effective minimum is `max(min_replicas, sum(tier_minimums))`. A
//!   count outside the bounds is corrected at once, without cooldown.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use resilience_scaling::rules::{RuleEngine, RuleReason};
//!
//! let mut engine = RuleEngine::from_yaml(r#"
//! component: ingestion_workers
//! min_replicas: 3
//! max_replicas: 200
//! cooldown: 5m
//! scale_up:
//!   - { metric: queue_depth, above: 1000, for: 2m, change: 5 }
//! scale_down:
//!   - { metric: queue_depth, below: 100, for: 10m, change: 2 }
//! "#)?;
//! let q = engine.metric_index("queue_depth").unwrap();
//! let t0 = Instant::now();
//! let mut values = vec![0.0; engine.metrics().len()];
//! values[q] = 1500.0;
//! assert_eq!(engine.evaluate(t0, 10, &values).replicas, 10); // not for 2 min yet
//! let d = engine.evaluate(t0 + Duration::from_secs(120), 10, &values);
//! assert_eq!(d.replicas, 15);
//! assert!(matches!(d.reason, RuleReason::ScaleUp { .. }));
//! # Ok::<(), resilience_core::config::ConfigError>(())
//! ```
//!
//! ## Metrics
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `resilience_rules_scale_events_total` | counter | `component`, `direction` | decisions that changed the count |
//! | `resilience_rules_desired_replicas` | gauge | `component` | replicas of the latest decision |

mod config;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use config::{DownCombine, RuleConfig, RulePolicyConfig, Threshold};
use resilience_core::config::{self as core_config, ConfigError};
use resilience_core::events::Listeners;

use crate::distribution::{allocate_with_minimums, Distribution};

#[derive(Debug, Clone)]
struct Rule {
    name: Arc<str>,
    metric: usize,
    threshold: Threshold,
    hold: i64,
    change: u32,
    /// The metric whose value multiplies `change`, if any.
    per: Option<usize>,
    since: Option<i64>,
}

/// Checks the replica bounds and increments; returns the sum of the tier
/// minimums.
fn check_bounds(config: &RulePolicyConfig) -> Result<u64, ConfigError> {
    if config.max_replicas < config.min_replicas {
        return Err(ConfigError::invalid(
            "max_replicas",
            format!(
                "must be at least min_replicas ({}), got {}",
                config.min_replicas, config.max_replicas
            ),
        ));
    }
    let tier_sum: u64 = config.tier_minimums.values().map(|v| u64::from(*v)).sum();
    if tier_sum > u64::from(config.max_replicas) {
        return Err(ConfigError::invalid(
            "tier_minimums",
            format!(
                "sum to {tier_sum}, more than max_replicas ({})",
                config.max_replicas
            ),
        ));
    }
    if config.scale_up_increment == 0 {
        return Err(ConfigError::invalid(
            "scale_up_increment",
            "must be at least 1, got 0",
        ));
    }
    if config.scale_down_increment == 0 {
        return Err(ConfigError::invalid(
            "scale_down_increment",
            "must be at least 1, got 0",
        ));
    }
    Ok(tier_sum)
}

/// Turns rule configs into rules, numbering the metrics they read in the
/// order they first appear.
struct RuleCompiler {
    metrics: Vec<String>,
    capacity_per_replica: f64,
}

impl RuleCompiler {
    fn compile(
        &mut self,
        list: &[RuleConfig],
        field: &str,
        default_change: u32,
    ) -> Result<Vec<Rule>, ConfigError> {
        let mut out = Vec::with_capacity(list.len());
        for (i, r) in list.iter().enumerate() {
            out.push(self.rule(r, &format!("{field}[{i}]"), default_change)?);
        }
        Ok(out)
    }

    fn rule(&mut self, r: &RuleConfig, f: &str, default_change: u32) -> Result<Rule, ConfigError> {
        let threshold = r.threshold(f)?;
        if matches!(
            threshold,
            Threshold::AboveCapacity(_) | Threshold::BelowCapacity(_)
        ) && self.capacity_per_replica.is_nan()
        {
            return Err(ConfigError::invalid(
                "capacity_per_replica",
                format!("is required by the capacity-relative rule {f}"),
            ));
        }
        if r.metric.trim().is_empty() {
            return Err(ConfigError::invalid(
                format!("{f}.metric"),
                "must not be empty",
            ));
        }
        if r.change == Some(0) {
            return Err(ConfigError::invalid(
                format!("{f}.change"),
                "must be at least 1, got 0",
            ));
        }
        let metric = self.index(&r.metric);
        let per = match &r.change_per {
            Some(m) if m.trim().is_empty() => {
                return Err(ConfigError::invalid(
                    format!("{f}.change_per"),
                    "must name a metric, got an empty string",
                ))
            }
            Some(m) => Some(self.index(m)),
            None => None,
        };
        Ok(Rule {
            name: Arc::from(r.display_name(&threshold)),
            metric,
            threshold,
            hold: nanos(r.hold),
            change: r.change.unwrap_or(default_change),
            per,
            since: None,
        })
    }

    /// The index of `name` in the metric list, adding it on first sight.
    fn index(&mut self, name: &str) -> usize {
        match self.metrics.iter().position(|m| m == name) {
            Some(p) => p,
            None => {
                self.metrics.push(name.to_string());
                self.metrics.len().saturating_sub(1)
            }
        }
    }
}

/// Whether `r` has held for its whole hold time at `t`.
fn firing(r: &Rule, t: i64) -> bool {
    r.since.is_some_and(|s| t.saturating_sub(s) >= r.hold)
}

/// The replicas `r` adds or removes this tick: its `change`, times the
/// value of its `change_per` metric (rounded up, at least 1) when it has one.
fn change_of(r: &Rule, values: &[f64]) -> u32 {
    let Some(per) = r.per else {
        return r.change;
    };
    let v = values.get(per).copied().unwrap_or(f64::NAN);
    let units = if v.is_finite() && v > 1.0 {
        // Bounded: the float-to-int cast saturates at u32::MAX.
        v.ceil() as u32
    } else {
        1
    };
    r.change.saturating_mul(units)
}

/// The rule with the largest change this tick; the first one on a tie.
fn strongest<'r>(rules: impl Iterator<Item = &'r Rule>, values: &[f64]) -> Option<(&'r Rule, u32)> {
    rules.fold(None::<(&Rule, u32)>, |best, r| {
        let c = change_of(r, values);
        match best {
            Some(b) if b.1 >= c => Some(b),
            _ => Some((r, c)),
        }
    })
}

/// The value `r` read this tick (NaN when missing).
fn value_of(r: &Rule, values: &[f64]) -> f64 {
    values.get(r.metric).copied().unwrap_or(f64::NAN)
}

/// Why the engine decided what it decided.
///
/// ```
/// use resilience_scaling::rules::RuleReason;
/// let r = RuleReason::Hold;
/// assert_eq!(r.to_string(), "no rule fired");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RuleReason {
    /// No rule fired.
    Hold,
    /// A scale-up rule fired.
    ScaleUp {
        /// The rule with the largest change among the firing ones.
        rule: Arc<str>,
        /// Its metric's value.
        value: f64,
    },
    /// Scale-down rules fired.
    ScaleDown {
        /// The rule with the largest change among the firing ones.
        rule: Arc<str>,
        /// Its metric's value.
        value: f64,
    },
    /// A scale-up rule fired, but the scale-up cooldown has not passed.
    CooldownUp {
        /// The firing rule.
        rule: Arc<str>,
        /// Time left.
        remaining: Duration,
    },
    /// A scale-down rule fired, but the scale-down cooldown has not passed.
    CooldownDown {
        /// The firing rule.
        rule: Arc<str>,
        /// Time left.
        remaining: Duration,
    },
    /// A scale-up rule fired at the maximum.
    AtMaximum {
        /// The firing rule.
        rule: Arc<str>,
    },
    /// A scale-down rule fired at the (effective) minimum.
    AtMinimum {
        /// The firing rule.
        rule: Arc<str>,
    },
    /// The count was below the effective minimum.
    RaisedToMinimum,
    /// The count was above the maximum.
    LoweredToMaximum,
}

impl fmt::Display for RuleReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleReason::Hold => write!(f, "no rule fired"),
            RuleReason::ScaleUp { rule, value } => {
                write!(f, "scale-up rule `{rule}` fired at {value}")
            }
            RuleReason::ScaleDown { rule, value } => {
                write!(f, "scale-down rule `{rule}` fired at {value}")
            }
            RuleReason::CooldownUp { rule, remaining } => write!(
                f,
                "scale-up rule `{rule}` fired, cooldown has {} left",
                core_config::fmt_wait(*remaining)
            ),
            RuleReason::CooldownDown { rule, remaining } => write!(
                f,
                "scale-down rule `{rule}` fired, cooldown has {} left",
                core_config::fmt_wait(*remaining)
            ),
            RuleReason::AtMaximum { rule } => {
                write!(f, "scale-up rule `{rule}` fired at the maximum")
            }
            RuleReason::AtMinimum { rule } => {
                write!(f, "scale-down rule `{rule}` fired at the minimum")
            }
            RuleReason::RaisedToMinimum => {
                write!(f, "raised to the minimum (including tier minimums)")
            }
            RuleReason::LoweredToMaximum => write!(f, "lowered to the maximum"),
        }
    }
}

/// One decision of a [`RuleEngine`].
///
/// ```
/// use resilience_scaling::rules::{RuleDecision, RuleReason};
/// let d = RuleDecision { replicas: 5, current_replicas: 5, reason: RuleReason::Hold };
/// assert!(!d.is_rescale());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RuleDecision {
    /// Replicas to run.
    pub replicas: u32,
    /// Replicas before the decision.
    pub current_replicas: u32,
    /// Why.
    pub reason: RuleReason,
}

impl RuleDecision {
    /// Whether the decision changes the count.
    pub fn is_rescale(&self) -> bool {
        self.replicas != self.current_replicas
    }
}

/// Evaluates one component's threshold-for-duration policy. See the
/// [module docs](self).
///
/// Metric values are passed as a slice indexed like [`RuleEngine::metrics`]
/// (look indices up once with [`RuleEngine::metric_index`]); NaN means
/// "missing". [`RuleEngine::evaluate_named`] takes name/value pairs instead.
///
/// ```
/// use std::time::Instant;
/// use resilience_scaling::rules::RuleEngine;
/// let mut e = RuleEngine::from_yaml(include_str!("../../presets/gpu-pool-policy.yaml")).unwrap();
/// // Below the tier minimums (5 + 10 + 5 = 20): raised at once.
/// assert_eq!(e.evaluate_named(Instant::now(), 12, &[]).replicas, 20);
/// ```
pub struct RuleEngine {
    config: RulePolicyConfig,
    metrics: Vec<String>,
    up: Vec<Rule>,
    down: Vec<Rule>,
    effective_min: u32,
    cooldown_up: i64,
    cooldown_down: i64,
    capacity_per_replica: f64,
    tiers: Vec<(String, u32)>,
    distribution: Option<Distribution>,
    origin: Option<Instant>,
    last_now: i64,
    last_up: Option<i64>,
    last_any: Option<i64>,
    listeners: Listeners<RuleDecision>,
    m_up: metrics::Counter,
    m_down: metrics::Counter,
    m_desired: metrics::Gauge,
}

impl fmt::Debug for RuleEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuleEngine")
            .field("component", &self.config.component)
            .field("metrics", &self.metrics)
            .field("effective_min", &self.effective_min)
            .finish()
    }
}

use crate::arith::{self, nanos};

impl RuleEngine {
    /// Parses and validates a YAML policy.
    pub fn from_yaml(yaml: &str) -> Result<Self, ConfigError> {
        Self::new(core_config::from_yaml_str(yaml)?)
    }

    /// Validates a policy and builds the engine.
    ///
    /// ```
    /// use resilience_scaling::rules::{RuleEngine, RulePolicyConfig};
    /// let cfg: RulePolicyConfig = resilience_core::config::from_yaml_str(
    ///     "min_replicas: 5\nmax_replicas: 2").unwrap();
    /// assert_eq!(RuleEngine::new(cfg).unwrap_err().field(), Some("max_replicas"));
    /// ```
    pub fn new(config: RulePolicyConfig) -> Result<Self, ConfigError> {
        let tier_sum = check_bounds(&config)?;
        let capacity_per_replica = match config.capacity_per_replica {
            None => f64::NAN,
            Some(c) if c.is_finite() && c > 0.0 => c,
            Some(c) => {
                return Err(ConfigError::invalid(
                    "capacity_per_replica",
                    format!("must be a positive number, got {c}"),
                ))
            }
        };
        let mut compiler = RuleCompiler {
            metrics: Vec::new(),
            capacity_per_replica,
        };
        let up = compiler.compile(&config.scale_up, "scale_up", config.scale_up_increment)?;
        let down = compiler.compile(
            &config.scale_down,
            "scale_down",
            config.scale_down_increment,
        )?;
        let metrics = compiler.metrics;
        let distribution = if config.distribution.is_empty() {
            None
        } else {
            Some(Distribution::from_map(&config.distribution)?)
        };
        let effective_min = config.min_replicas.max(tier_sum as u32);
        let cooldown_up = nanos(config.cooldown_up.or(config.cooldown).unwrap_or_default());
        let cooldown_down = nanos(config.cooldown_down.or(config.cooldown).unwrap_or_default());
        let label = config.component.clone();
        Ok(RuleEngine {
            metrics,
            up,
            down,
            effective_min,
            cooldown_up,
            cooldown_down,
            capacity_per_replica,
            tiers: config
                .tier_minimums
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            distribution,
            origin: None,
            last_now: i64::MIN,
            last_up: None,
            last_any: None,
            listeners: Listeners::new(),
            m_up: metrics::counter!("resilience_rules_scale_events_total", "component" => label.clone(), "direction" => "up"),
            m_down: metrics::counter!("resilience_rules_scale_events_total", "component" => label.clone(), "direction" => "down"),
            m_desired: metrics::gauge!("resilience_rules_desired_replicas", "component" => label),
            config,
        })
    }

    /// Listeners called with every decision that changes the count.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Instant;
    /// use resilience_scaling::rules::{RuleDecision, RuleEngine};
    /// let mut e = RuleEngine::from_yaml("min_replicas: 2\nmax_replicas: 5").unwrap();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let sink = seen.clone();
    /// e.listeners().add_fn(move |d: &RuleDecision| sink.lock().unwrap().push(d.replicas));
    /// e.evaluate(Instant::now(), 0, &[]);
    /// assert_eq!(*seen.lock().unwrap(), vec![2]);
    /// ```
    pub fn listeners(&self) -> &Listeners<RuleDecision> {
        &self.listeners
    }

    /// The policy.
    pub fn config(&self) -> &RulePolicyConfig {
        &self.config
    }

    /// The metric names the rules read, in slice order for
    /// [`RuleEngine::evaluate`].
    pub fn metrics(&self) -> &[String] {
        &self.metrics
    }

    /// The index of a metric in the value slice.
    pub fn metric_index(&self, name: &str) -> Option<usize> {
        self.metrics.iter().position(|m| m == name)
    }

    /// `max(min_replicas, sum of tier minimums)`.
    pub fn effective_min(&self) -> u32 {
        self.effective_min
    }

    fn offset(&mut self, at: Instant) -> i64 {
        let origin = *self.origin.get_or_insert(at);
        let t = crate::hpa::signed_nanos(origin, at).max(self.last_now);
        self.last_now = t;
        t
    }

    /// Tells the engine that the count changed outside its decisions (a
    /// manual scale, another policy), so cooldowns start from `at`.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use resilience_scaling::rules::{RuleEngine, RuleReason};
    /// let mut e = RuleEngine::from_yaml("min_replicas: 1\nmax_replicas: 9\ncooldown: 1m\nscale_up: [{metric: q, above: 10}]").unwrap();
    /// let t = Instant::now();
    /// e.record_scaling(t, true); // someone scaled up by hand
    /// let d = e.evaluate_named(t + Duration::from_secs(30), 3, &[("q", 50.0)]);
    /// assert!(matches!(d.reason, RuleReason::CooldownUp { .. }));
    /// ```
    pub fn record_scaling(&mut self, at: Instant, scaled_up: bool) {
        let t = self.offset(at);
        if scaled_up {
            self.last_up = Some(t);
        }
        self.last_any = Some(t);
    }

    /// Evaluates all rules at `now` for `current` replicas; `values[i]` is
    /// the value of `metrics()[i]` (NaN or absent = missing).
    ///
    /// ```
    /// use std::time::Instant;
    /// use resilience_scaling::rules::RuleEngine;
    /// let mut e = RuleEngine::from_yaml("min_replicas: 1\nmax_replicas: 9\nscale_up: [{metric: q, above: 10, change: 3}]").unwrap();
    /// let q = e.metric_index("q").unwrap();
    /// let mut v = vec![f64::NAN; e.metrics().len()];
    /// v[q] = 50.0;
    /// assert_eq!(e.evaluate(Instant::now(), 2, &v).replicas, 5);
    /// ```
    pub fn evaluate(&mut self, now: Instant, current: u32, values: &[f64]) -> RuleDecision {
        let t = self.offset(now);
        self.track(t, f64::from(current) * self.capacity_per_replica, values);
        let decision = self.decide(t, current, values);
        self.apply(t, current, &decision);
        decision
    }

    /// Starts or stops each rule's hold timer on this tick's values.
    fn track(&mut self, t: i64, capacity: f64, values: &[f64]) {
        for r in self.up.iter_mut().chain(self.down.iter_mut()) {
            let v = values.get(r.metric).copied().unwrap_or(f64::NAN);
            if r.threshold.holds(v, capacity) {
                r.since.get_or_insert(t);
            } else {
                r.since = None;
            }
        }
    }

    /// The decision for `current` replicas at `t`, without side effects:
    /// the bounds first, then the strongest firing scale-up rule, then
    /// scale-down.
    fn decide(&self, t: i64, current: u32, values: &[f64]) -> RuleDecision {
        let (min, max) = (self.effective_min, self.config.max_replicas);
        let decision = |replicas, reason| RuleDecision {
            replicas,
            current_replicas: current,
            reason,
        };
        if current < min {
            return decision(min, RuleReason::RaisedToMinimum);
        }
        if current > max {
            return decision(max, RuleReason::LoweredToMaximum);
        }
        if let Some((rule, change)) = strongest(self.up.iter().filter(|r| firing(r, t)), values) {
            return self.scale_up(rule, change, t, current, values);
        }
        self.scale_down(t, current, values)
    }

    /// A firing scale-up rule: add its change, unless the up cooldown runs
    /// or the fleet is at its maximum.
    fn scale_up(
        &self,
        rule: &Rule,
        change: u32,
        t: i64,
        current: u32,
        values: &[f64],
    ) -> RuleDecision {
        let max = self.config.max_replicas;
        let since_up = self.last_up.map(|l| t.saturating_sub(l));
        let (replicas, reason) = if let Some(elapsed) = since_up.filter(|e| *e < self.cooldown_up) {
            let remaining = arith::from_nanos(self.cooldown_up.saturating_sub(elapsed));
            (
                current,
                RuleReason::CooldownUp {
                    rule: rule.name.clone(),
                    remaining,
                },
            )
        } else if current >= max {
            (
                current,
                RuleReason::AtMaximum {
                    rule: rule.name.clone(),
                },
            )
        } else {
            (
                current.saturating_add(change).min(max),
                RuleReason::ScaleUp {
                    rule: rule.name.clone(),
                    value: value_of(rule, values),
                },
            )
        };
        RuleDecision {
            replicas,
            current_replicas: current,
            reason,
        }
    }

    /// No scale-up rule fires: remove the strongest firing scale-down
    /// rule's change (when `scale_down_when` is satisfied), unless any
    /// cooldown runs or the fleet is at its minimum.
    fn scale_down(&self, t: i64, current: u32, values: &[f64]) -> RuleDecision {
        let min = self.effective_min;
        let down_fires = match self.config.scale_down_when {
            DownCombine::Any => self.down.iter().any(|r| firing(r, t)),
            DownCombine::All => !self.down.is_empty() && self.down.iter().all(|r| firing(r, t)),
        };
        let rule = if down_fires {
            strongest(self.down.iter().filter(|r| firing(r, t)), values)
        } else {
            None
        };
        let since_any = self.last_any.map(|l| t.saturating_sub(l));
        let (replicas, reason) = match rule {
            None => (current, RuleReason::Hold),
            Some((rule, change)) => {
                if let Some(elapsed) = since_any.filter(|e| *e < self.cooldown_down) {
                    let remaining = arith::from_nanos(self.cooldown_down.saturating_sub(elapsed));
                    (
                        current,
                        RuleReason::CooldownDown {
                            rule: rule.name.clone(),
                            remaining,
                        },
                    )
                } else if current <= min {
                    (
                        current,
                        RuleReason::AtMinimum {
                            rule: rule.name.clone(),
                        },
                    )
                } else {
                    (
                        current.saturating_sub(change).max(min),
                        RuleReason::ScaleDown {
                            rule: rule.name.clone(),
                            value: value_of(rule, values),
                        },
                    )
                }
            }
        };
        RuleDecision {
            replicas,
            current_replicas: current,
            reason,
        }
    }

    /// Records a decision: cooldown clocks, metrics and listeners.
    fn apply(&mut self, t: i64, current: u32, decision: &RuleDecision) {
        if decision.replicas > current {
            self.last_up = Some(t);
            self.last_any = Some(t);
            self.m_up.increment(1);
        } else if decision.replicas < current {
            self.last_any = Some(t);
            self.m_down.increment(1);
        }
        self.m_desired.set(f64::from(decision.replicas));
        if decision.replicas != current {
            self.listeners.emit_with(|| decision.clone());
        }
    }

    /// [`RuleEngine::evaluate`] with `(name, value)` pairs; metrics not
    /// named are missing, unknown names are ignored.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use resilience_scaling::rules::RuleEngine;
    /// let mut e = RuleEngine::from_yaml(
    ///     "min_replicas: 1\nmax_replicas: 10\nscale_up: [{metric: cpu, above: 80, change: 2}]",
    /// ).unwrap();
    /// assert_eq!(e.evaluate_named(Instant::now(), 3, &[("cpu", 95.0)]).replicas, 5);
    /// ```
    pub fn evaluate_named(
        &mut self,
        now: Instant,
        current: u32,
        values: &[(&str, f64)],
    ) -> RuleDecision {
        let mut v = vec![f64::NAN; self.metrics.len()];
        for (name, value) in values {
            if let Some(i) = self.metric_index(name) {
                if let Some(slot) = v.get_mut(i) {
                    *slot = *value;
                }
            }
        }
        self.evaluate(now, current, &v)
    }

    /// Splits `total` replicas across the tiers: each gets its minimum, the
    /// rest follows `demand` (one weight per tier, in tier-name order; equal
    /// weights if empty). The parts sum to `total`.
    ///
    /// ```
    /// use resilience_scaling::rules::RuleEngine;
    /// let e = RuleEngine::from_yaml(include_str!("../../presets/gpu-pool-policy.yaml")).unwrap();
    /// // Tiers in name order: fast, relax, turbo.
    /// let plan = e.tier_targets(40, &[2.0, 1.0, 1.0]);
    /// assert_eq!(plan, vec![("fast".into(), 20), ("relax".into(), 10), ("turbo".into(), 10)]);
    /// ```
    pub fn tier_targets(&self, total: u32, demand: &[f64]) -> Vec<(String, u32)> {
        let mins: Vec<u32> = self.tiers.iter().map(|(_, m)| *m).collect();
        let weights: Vec<f64> = if demand.is_empty() {
            vec![1.0; mins.len()]
        } else {
            demand.to_vec()
        };
        self.tiers
            .iter()
            .map(|(n, _)| n.clone())
            .zip(allocate_with_minimums(total, &weights, &mins))
            .collect()
    }

    /// Splits `total` replicas by the configured distribution targets (e.g.
    /// models across the pool); `None` without a `distribution`.
    ///
    /// ```
    /// use resilience_scaling::rules::RuleEngine;
    /// let e = RuleEngine::from_yaml(include_str!("../../presets/gpu-pool-policy.yaml")).unwrap();
    /// let split = e.distribution_targets(20).unwrap();
    /// assert_eq!(split.iter().map(|(_, n)| n).sum::<u32>(), 20);
    /// ```
    pub fn distribution_targets(&self, total: u32) -> Option<Vec<(String, u32)>> {
        self.distribution.as_ref().map(|d| d.allocate(total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooldown_reasons_round_the_time_left_up() {
        let r = RuleReason::CooldownUp {
            rule: "cpu".into(),
            remaining: Duration::from_nanos(29_001_000_001),
        };
        assert_eq!(
            r.to_string(),
            "scale-up rule `cpu` fired, cooldown has 30s left"
        );
        let r = RuleReason::CooldownDown {
            rule: "cpu".into(),
            remaining: Duration::from_micros(249_001),
        };
        assert_eq!(
            r.to_string(),
            "scale-down rule `cpu` fired, cooldown has 250ms left"
        );
    }
}
