//! Serde configuration of the threshold-for-duration rule engine.

use std::collections::BTreeMap;
use std::time::Duration;

use resilience_core::config::ConfigError;
use serde::{Deserialize, Serialize};

/// One component's autoscaling policy, as the platform presets write it: scale-up and
/// scale-down triggers, bounds, cooldowns, increments, tier minimums and a
/// distribution target.
///
/// ```
/// use resilience_scaling::rules::RulePolicyConfig;
/// let cfg: RulePolicyConfig = resilience_core::config::from_yaml_str(r#"
/// component: ingestion_workers
/// min_replicas: 3
/// max_replicas: 200
/// cooldown: 5m
/// scale_up:
///   - { metric: queue_depth, above: 1000, for: 2m, change: 5 }
/// scale_down:
///   - { metric: queue_depth, below: 100, for: 10m, change: 2 }
/// "#).unwrap();
/// assert_eq!(cfg.scale_up[0].hold.as_secs(), 120);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulePolicyConfig {
    /// Component name (metrics label).
    #[serde(default = "default_component")]
    pub component: String,
    /// Lower bound (any `u32`; raised to the sum of the tier minimums).
    pub min_replicas: u32,
    /// Upper bound, at least `min_replicas` and at least the sum of the tier
    /// minimums.
    pub max_replicas: u32,
    /// Cooldown for both directions unless `cooldown_up` / `cooldown_down`
    /// are given. Any duration, nanosecond precision; one longer than about
    /// 292 years means "never again".
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub cooldown: Option<Duration>,
    /// Minimum time between two scale-ups (default: `cooldown`, else 0).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub cooldown_up: Option<Duration>,
    /// Minimum time after any scaling before a scale-down (default:
    /// `cooldown`, else 0).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub cooldown_down: Option<Duration>,
    /// Replicas added by a scale-up rule without its own `change` (default
    /// 1; at least 1).
    #[serde(default = "one")]
    pub scale_up_increment: u32,
    /// Replicas removed by a scale-down rule without its own `change`
    /// (default 1; at least 1).
    #[serde(default = "one")]
    pub scale_down_increment: u32,
    /// Capacity of one replica, in the units of capacity-relative rules
    /// (`above_capacity_fraction`): e.g. requests per second per worker. A
    /// finite number above 0; required by capacity-relative rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_per_replica: Option<f64>,
    /// Whether any or all scale-down rules must fire (default `any`).
    #[serde(default)]
    pub scale_down_when: DownCombine,
    /// Scale-up triggers; any firing rule scales up (the largest change wins).
    #[serde(default)]
    pub scale_up: Vec<RuleConfig>,
    /// Scale-down triggers.
    #[serde(default)]
    pub scale_down: Vec<RuleConfig>,
    /// Per-tier minimum replicas; their sum raises `min_replicas`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tier_minimums: BTreeMap<String, u32>,
    /// Distribution targets in percent (e.g. models across the pool).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub distribution: BTreeMap<String, f64>,
}

fn default_component() -> String {
    "default".to_string()
}

fn one() -> u32 {
    1
}

/// How scale-down rules combine.
///
/// ```
/// use resilience_scaling::rules::DownCombine;
/// assert_eq!(DownCombine::default(), DownCombine::Any);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DownCombine {
    /// One firing rule is enough.
    #[default]
    Any,
    /// Every scale-down rule must fire.
    All,
}

/// One trigger: `metric` compared with a threshold, held for `for`.
///
/// Exactly one of `above`, `below`, `above_capacity_fraction`,
/// `below_capacity_fraction` must be set. The capacity forms compare with
/// `current replicas × capacity_per_replica × fraction` (the data platform's
/// "predicted_traffic > current_capacity * 0.8").
///
/// ```
/// use resilience_scaling::rules::RuleConfig;
/// let r: RuleConfig = resilience_core::config::from_yaml_str(
///     "{ metric: predicted_traffic, above_capacity_fraction: 0.8 }").unwrap();
/// assert_eq!(r.above_capacity_fraction, Some(0.8));
/// assert!(r.hold.is_zero());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Optional name (defaults to a description of the rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Metric name, as passed to the engine.
    pub metric: String,
    /// Fires while `metric > above`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<f64>,
    /// Fires while `metric < below`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<f64>,
    /// Fires while `metric > capacity × fraction`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above_capacity_fraction: Option<f64>,
    /// Fires while `metric < capacity × fraction`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below_capacity_fraction: Option<f64>,
    /// How long the condition must hold before the rule fires (any
    /// duration; the four thresholds above must be finite numbers, exactly
    /// one of them set).
    #[serde(default, rename = "for", with = "humantime_serde")]
    pub hold: Duration,
    /// Replicas to add or remove (default: the policy's increment; at least
    /// 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<u32>,
    /// Makes the change proportional: `change` replicas **per unit** of
    /// this metric's current value (rounded up, at least one unit), e.g.
    /// the data platform's CDC processors, "+1 per lagging partition":
    /// `{ metric: consumer_lag_seconds, above: 10, change: 1, change_per: partitions_lagging }`.
    /// A missing reading counts as one unit.
    ///
    /// ```
    /// use std::time::Instant;
    /// use resilience_scaling::rules::RuleEngine;
    /// let mut e = RuleEngine::from_yaml("min_replicas: 1\nmax_replicas: 500\nscale_up: [{metric: lag, above: 10, change: 1, change_per: lagging}]").unwrap();
    /// let d = e.evaluate_named(Instant::now(), 10, &[("lag", 12.0), ("lagging", 4.0)]);
    /// assert_eq!(d.replicas, 14);
    /// ```
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_per: Option<String>,
}

/// A rule's threshold, validated.
///
/// ```
/// use resilience_scaling::rules::Threshold;
/// assert!(Threshold::Above(10.0).holds(11.0, 0.0));
/// assert!(Threshold::BelowCapacity(0.5).holds(4.0, 10.0));
/// assert!(!Threshold::Above(10.0).holds(f64::NAN, 0.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// `value > x`.
    Above(f64),
    /// `value < x`.
    Below(f64),
    /// `value > capacity × f`.
    AboveCapacity(f64),
    /// `value < capacity × f`.
    BelowCapacity(f64),
}

impl Threshold {
    /// Whether `value` meets the threshold, given the current capacity. A
    /// missing value (NaN) never does.
    #[inline]
    pub fn holds(&self, value: f64, capacity: f64) -> bool {
        match *self {
            Threshold::Above(x) => value > x,
            Threshold::Below(x) => value < x,
            Threshold::AboveCapacity(f) => value > capacity * f,
            Threshold::BelowCapacity(f) => value < capacity * f,
        }
    }

    fn describe(&self) -> String {
        match self {
            Threshold::Above(x) => format!("> {x}"),
            Threshold::Below(x) => format!("< {x}"),
            Threshold::AboveCapacity(f) => format!("> capacity * {f}"),
            Threshold::BelowCapacity(f) => format!("< capacity * {f}"),
        }
    }
}

impl RuleConfig {
    pub(crate) fn threshold(&self, field: &str) -> Result<Threshold, ConfigError> {
        let set: Vec<Threshold> = [
            self.above.map(Threshold::Above),
            self.below.map(Threshold::Below),
            self.above_capacity_fraction.map(Threshold::AboveCapacity),
            self.below_capacity_fraction.map(Threshold::BelowCapacity),
        ]
        .into_iter()
        .flatten()
        .collect();
        match set.as_slice() {
            [t] => {
                let v = match t {
                    Threshold::Above(x)
                    | Threshold::Below(x)
                    | Threshold::AboveCapacity(x)
                    | Threshold::BelowCapacity(x) => *x,
                };
                if !v.is_finite() {
                    return Err(ConfigError::invalid(
                        field.to_string(),
                        format!("threshold must be a finite number, got {v}"),
                    ));
                }
                Ok(*t)
            }
            _ => Err(ConfigError::invalid(
                field.to_string(),
                "set exactly one of above, below, above_capacity_fraction, below_capacity_fraction",
            )),
        }
    }

    pub(crate) fn display_name(&self, t: &Threshold) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => {
                let hold = if self.hold.is_zero() {
                    String::new()
                } else {
                    format!(" for {}", resilience_core::config::fmt_duration(self.hold))
                };
                format!("{} {}{hold}", self.metric, t.describe())
            }
        }
    }
}
