//! AWS-style step scaling: the size of the breach picks the adjustment.
//!
//! An alarm compares a metric with a threshold; once it has been breached
//! for `alarm.for`, the step whose interval contains the breach (`value -
//! threshold`) applies its adjustment. Steps follow EC2 Auto Scaling:
//!
//! * Bounds are relative to the threshold; a missing lower bound is −∞, a
//!   missing upper bound +∞. Above the threshold the lower bound is
//!   inclusive and the upper exclusive; below it, the other way round.
//!   Steps must not overlap or leave gaps.
//! * `ChangeInCapacity` adds the adjustment, `ExactCapacity` sets it,
//!   `PercentChangeInCapacity` adds that percent of the current capacity,
//!   rounded as AWS rounds (12.7 → 12, 0.4 → 1, −0.4 → −1, −6.67 → −6) and
//!   raised to `min_adjustment_magnitude` if smaller.
//! * The result is clamped to `[min_capacity, max_capacity]`; a cooldown
//!   (optional) spaces two adjustments.
//!
//! ```
//! use std::time::Instant;
//! use resilience_scaling::step::StepScaling;
//!
//! let mut policy = StepScaling::from_yaml(r#"
//! min_capacity: 2
//! max_capacity: 50
//! adjustment_type: percent_change_in_capacity
//! min_adjustment_magnitude: 2
//! alarm: { threshold: 70, comparison: greater_than_or_equal }
//! steps:
//!   - { lower_bound: 0, upper_bound: 10, adjustment: 10 }
//!   - { lower_bound: 10, upper_bound: 20, adjustment: 30 }
//!   - { lower_bound: 20, adjustment: 50 }
//! "#)?;
//! let d = policy.evaluate(Instant::now(), 10, 85.0); // breach 15: +30 % of 10 = 3
//! assert_eq!((d.replicas, d.step), (13, Some(1)));
//! # Ok::<(), resilience_core::config::ConfigError>(())
//! ```
//!
//! ## Metrics and events
//!
//! Decisions that change the count go to the listeners (`listeners()`).
//!
//! | name | type | labels |
//! |---|---|---|
//! | `resilience_step_scale_events_total` | counter | `policy`, `direction` |
//! | `resilience_step_desired_replicas` | gauge | `policy` |

use std::time::{Duration, Instant};

use resilience_core::config::{self, ConfigError};
use serde::{Deserialize, Serialize};

use resilience_core::events::Listeners;

use crate::arith;
use crate::observe::ScaleMetrics;

fn default_step_name() -> String {
    "default".to_string()
}

/// How an adjustment changes the capacity.
///
/// ```
/// use resilience_scaling::step::{apply_adjustment, AdjustmentType};
/// assert_eq!(apply_adjustment(AdjustmentType::ChangeInCapacity, 10, 3, 0), 13);
/// assert_eq!(apply_adjustment(AdjustmentType::ExactCapacity, 10, 3, 0), 3);
/// assert_eq!(apply_adjustment(AdjustmentType::PercentChangeInCapacity, 15, -50, 0), 8);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdjustmentType {
    /// Add the adjustment.
    ChangeInCapacity,
    /// Set the capacity to the adjustment.
    ExactCapacity,
    /// Add the adjustment percent of the current capacity.
    PercentChangeInCapacity,
}

/// The alarm comparison.
///
/// ```
/// use resilience_scaling::step::Comparison;
/// assert!(Comparison::GreaterThanOrEqual.breached(70.0, 70.0));
/// assert!(!Comparison::GreaterThan.breached(70.0, 70.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// `value >= threshold`.
    GreaterThanOrEqual,
    /// `value > threshold`.
    GreaterThan,
    /// `value < threshold`.
    LessThan,
    /// `value <= threshold`.
    LessThanOrEqual,
}

impl Comparison {
    /// Whether `value` breaches `threshold`.
    pub fn breached(&self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::GreaterThanOrEqual => value >= threshold,
            Comparison::GreaterThan => value > threshold,
            Comparison::LessThan => value < threshold,
            Comparison::LessThanOrEqual => value <= threshold,
        }
    }
}

/// The alarm that triggers the policy.
///
/// ```
/// use resilience_scaling::step::AlarmConfig;
/// let a: AlarmConfig = resilience_core::config::from_yaml_str(
///     "{ threshold: 30, comparison: less_than, for: 10m }").unwrap();
/// assert_eq!(a.hold.as_secs(), 600);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmConfig {
    /// Threshold: a finite number.
    pub threshold: f64,
    /// Comparison.
    pub comparison: Comparison,
    /// How long the breach must last (evaluation periods × period).
    #[serde(default, rename = "for", with = "humantime_serde")]
    pub hold: Duration,
}

/// One step: an interval of the breach and its adjustment.
///
/// ```
/// use resilience_scaling::step::StepAdjustment;
/// let s = StepAdjustment { lower_bound: Some(0.0), upper_bound: None, adjustment: 2 };
/// assert_eq!(s.adjustment, 2);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepAdjustment {
    /// `MetricIntervalLowerBound` (None = −∞).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_bound: Option<f64>,
    /// `MetricIntervalUpperBound` (None = +∞).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper_bound: Option<f64>,
    /// `ScalingAdjustment`. Bounds, checked when the policy is loaded:
    /// `-4294967295..=4294967295` replicas for `change_in_capacity`,
    /// `0..=4294967295` for `exact_capacity` and `-100..=100000` percent for
    /// `percent_change_in_capacity` (capacity is a `u32`).
    pub adjustment: i64,
}

/// A step scaling policy.
///
/// ```
/// use resilience_scaling::step::StepScalingConfig;
/// let c: StepScalingConfig = resilience_core::config::from_yaml_str(r#"
/// min_capacity: 1
/// max_capacity: 10
/// adjustment_type: change_in_capacity
/// alarm: { threshold: 80, comparison: greater_than }
/// steps: [{ lower_bound: 0, adjustment: 1 }]
/// "#).unwrap();
/// assert_eq!(c.steps.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepScalingConfig {
    /// Name, used as the `policy` metrics label (default `default`).
    #[serde(default = "default_step_name")]
    pub name: String,
    /// Lower bound.
    pub min_capacity: u32,
    /// Upper bound, at least `min_capacity`.
    pub max_capacity: u32,
    /// How adjustments apply.
    pub adjustment_type: AdjustmentType,
    /// For percent adjustments: the smallest change in absolute replicas.
    #[serde(default)]
    pub min_adjustment_magnitude: u32,
    /// The triggering alarm.
    pub alarm: AlarmConfig,
    /// The steps.
    pub steps: Vec<StepAdjustment>,
    /// Minimum time between two adjustments (default 0).
    #[serde(default, with = "humantime_serde")]
    pub cooldown: Duration,
}

/// Rounds a percent change as AWS does and applies the minimum magnitude;
/// returns the new capacity (not clamped). Defined for every input: the
/// arithmetic saturates at the `i64` range instead of overflowing.
///
/// ```
/// use resilience_scaling::step::{apply_adjustment, AdjustmentType};
/// assert_eq!(apply_adjustment(AdjustmentType::ChangeInCapacity, 10, i64::MAX, 5), i64::MAX);
/// assert!(apply_adjustment(AdjustmentType::PercentChangeInCapacity, u32::MAX, i64::MIN, 5) < 0);
/// ```
pub fn apply_adjustment(
    kind: AdjustmentType,
    current: u32,
    adjustment: i64,
    min_magnitude: u32,
) -> i64 {
    let cur = i64::from(current);
    match kind {
        AdjustmentType::ChangeInCapacity => cur.saturating_add(adjustment),
        AdjustmentType::ExactCapacity => adjustment,
        AdjustmentType::PercentChangeInCapacity => {
            let raw = f64::from(current) * adjustment as f64 / 100.0;
            let change = arith::f64_to_i64(if raw > 1.0 {
                raw.floor()
            } else if raw > 0.0 {
                1.0
            } else if raw == 0.0 {
                0.0
            } else if raw > -1.0 {
                -1.0
            } else {
                raw.ceil()
            });
            // `unsigned_abs`: the magnitude of i64::MIN has no i64.
            let change = if change != 0 && change.unsigned_abs() < u64::from(min_magnitude) {
                i64::from(min_magnitude).saturating_mul(change.signum())
            } else {
                change
            };
            cur.saturating_add(change)
        }
    }
}

/// One step-scaling decision.
///
/// ```
/// use resilience_scaling::step::StepDecision;
/// let d = StepDecision { replicas: 3, step: None, breached: false, in_cooldown: false };
/// assert!(!d.breached);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepDecision {
    /// Capacity to run.
    pub replicas: u32,
    /// Index of the step that applied.
    pub step: Option<usize>,
    /// Whether the alarm is breached (and held long enough).
    pub breached: bool,
    /// Whether the cooldown held an adjustment back.
    pub in_cooldown: bool,
}

/// A step-scaling policy with its alarm state. See the [module docs](self).
#[derive(Debug)]
pub struct StepScaling {
    listeners: Listeners<StepDecision>,
    metrics: ScaleMetrics,
    config: StepScalingConfig,
    origin: Option<Instant>,
    breach_since: Option<Duration>,
    last_adjust: Option<Duration>,
}

impl StepScaling {
    /// Parses and validates a YAML policy.
    pub fn from_yaml(yaml: &str) -> Result<Self, ConfigError> {
        Self::new(config::from_yaml_str(yaml)?)
    }

    /// Validates a policy.
    ///
    /// ```
    /// use resilience_scaling::step::StepScaling;
    /// let gap = StepScaling::from_yaml(r#"
    /// min_capacity: 1
    /// max_capacity: 10
    /// adjustment_type: change_in_capacity
    /// alarm: { threshold: 80, comparison: greater_than }
    /// steps: [{ lower_bound: 0, upper_bound: 10, adjustment: 1 }, { lower_bound: 20, adjustment: 2 }]
    /// "#).unwrap_err();
    /// assert_eq!(gap.field(), Some("steps[1].lower_bound"));
    /// ```
    pub fn new(mut config: StepScalingConfig) -> Result<Self, ConfigError> {
        if config.max_capacity < config.min_capacity {
            return Err(ConfigError::invalid(
                "max_capacity",
                format!(
                    "must be at least min_capacity ({}), got {}",
                    config.min_capacity, config.max_capacity
                ),
            ));
        }
        if !config.alarm.threshold.is_finite() {
            return Err(ConfigError::invalid(
                "alarm.threshold",
                "must be a finite number",
            ));
        }
        if config.steps.is_empty() {
            return Err(ConfigError::invalid("steps", "must have at least one step"));
        }
        let max = i64::from(u32::MAX);
        let (range, unit) = match config.adjustment_type {
            AdjustmentType::ChangeInCapacity => (max.saturating_neg()..=max, "replicas"),
            AdjustmentType::ExactCapacity => (0..=max, "replicas"),
            AdjustmentType::PercentChangeInCapacity => (-100..=100_000, "percent"),
        };
        for (i, s) in config.steps.iter().enumerate() {
            if !range.contains(&s.adjustment) {
                return Err(ConfigError::invalid(
                    format!("steps[{i}].adjustment"),
                    format!(
                        "must be in {}..={} {unit} for {:?}, got {}",
                        range.start(),
                        range.end(),
                        config.adjustment_type,
                        s.adjustment
                    ),
                ));
            }
        }
        for (i, s) in config.steps.iter().enumerate() {
            let lo = s.lower_bound.unwrap_or(f64::NEG_INFINITY);
            let hi = s.upper_bound.unwrap_or(f64::INFINITY);
            if lo.is_nan() || hi.is_nan() || lo >= hi {
                return Err(ConfigError::invalid(
                    format!("steps[{i}]"),
                    "lower_bound must be below upper_bound",
                ));
            }
        }
        config.steps.sort_by(|a, b| {
            a.lower_bound
                .unwrap_or(f64::NEG_INFINITY)
                .total_cmp(&b.lower_bound.unwrap_or(f64::NEG_INFINITY))
        });
        for (i, pair) in config
            .steps
            .windows(2)
            .enumerate()
            .map(|(i, w)| (i.saturating_add(1), w))
        {
            let prev_hi = pair[0].upper_bound;
            let lo = pair[1].lower_bound;
            if prev_hi != lo {
                return Err(ConfigError::invalid(
                    format!("steps[{i}].lower_bound"),
                    format!(
                        "must equal the previous step's upper_bound ({prev_hi:?}): steps may not overlap or leave gaps"
                    ),
                ));
            }
        }
        Ok(StepScaling {
            listeners: Listeners::new(),
            metrics: ScaleMetrics::new(
                "resilience_step_scale_events_total",
                "resilience_step_desired_replicas",
                "policy",
                &config.name,
            ),
            config,
            origin: None,
            breach_since: None,
            last_adjust: None,
        })
    }

    /// The policy (steps sorted by lower bound).
    pub fn config(&self) -> &StepScalingConfig {
        &self.config
    }

    /// The step containing a breach of `breach` (value − threshold).
    ///
    /// ```
    /// use resilience_scaling::step::StepScaling;
    /// let p = StepScaling::from_yaml("min_capacity: 1\nmax_capacity: 9\nadjustment_type: change_in_capacity\nalarm: {threshold: 50, comparison: greater_than}\nsteps: [{lower_bound: 0, upper_bound: 10, adjustment: 1}, {lower_bound: 10, adjustment: 3}]").unwrap();
    /// assert_eq!(p.step_for(12.0), Some(1));
    /// ```
    pub fn step_for(&self, breach: f64) -> Option<usize> {
        let above = breach >= 0.0;
        self.config.steps.iter().position(|s| {
            let lo = s.lower_bound.unwrap_or(f64::NEG_INFINITY);
            let hi = s.upper_bound.unwrap_or(f64::INFINITY);
            if above {
                lo <= breach && breach < hi
            } else {
                lo < breach && breach <= hi
            }
        })
    }

    /// Evaluates the policy with the metric's current `value`.
    ///
    /// ```
    /// use std::time::Instant;
    /// use resilience_scaling::step::StepScaling;
    /// let mut p = StepScaling::from_yaml("min_capacity: 1\nmax_capacity: 9\nadjustment_type: exact_capacity\nalarm: {threshold: 50, comparison: greater_than}\nsteps: [{lower_bound: 0, adjustment: 6}]").unwrap();
    /// assert_eq!(p.evaluate(Instant::now(), 2, 70.0).replicas, 6);
    /// ```
    pub fn evaluate(&mut self, now: Instant, current: u32, value: f64) -> StepDecision {
        let d = self.evaluate_inner(now, current, value);
        self.metrics.record(current, d.replicas);
        if d.replicas != current {
            self.listeners.emit_with(|| d);
        }
        d
    }

    /// Listeners called with every decision that changes the count.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Instant;
    /// use resilience_scaling::step::{StepDecision, StepScaling};
    /// let mut s = StepScaling::from_yaml("min_capacity: 1\nmax_capacity: 9\nadjustment_type: change_in_capacity\nalarm: {threshold: 50, comparison: greater_than}\nsteps: [{lower_bound: 0, adjustment: 2}]").unwrap();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let sink = seen.clone();
    /// s.listeners().add_fn(move |d: &StepDecision| sink.lock().unwrap().push(d.replicas));
    /// s.evaluate(Instant::now(), 2, 80.0);
    /// assert_eq!(seen.lock().unwrap().len(), 1);
    /// ```
    pub fn listeners(&self) -> &Listeners<StepDecision> {
        &self.listeners
    }

    /// The decision itself; `evaluate` adds metrics and events.
    fn evaluate_inner(&mut self, now: Instant, current: u32, value: f64) -> StepDecision {
        let origin = *self.origin.get_or_insert(now);
        let t = now.saturating_duration_since(origin);
        let cfg = &self.config;
        let hold = if value.is_finite() && cfg.alarm.comparison.breached(value, cfg.alarm.threshold)
        {
            let since = *self.breach_since.get_or_insert(t);
            t.saturating_sub(since) >= cfg.alarm.hold
        } else {
            self.breach_since = None;
            false
        };
        let clamp =
            |v: i64| v.clamp(i64::from(cfg.min_capacity), i64::from(cfg.max_capacity)) as u32;
        if !hold {
            return StepDecision {
                replicas: clamp(i64::from(current)),
                step: None,
                breached: false,
                in_cooldown: false,
            };
        }
        let step = self.step_for(value - cfg.alarm.threshold);
        if self
            .last_adjust
            .is_some_and(|l| t.saturating_sub(l) < cfg.cooldown)
        {
            return StepDecision {
                replicas: clamp(i64::from(current)),
                step,
                breached: true,
                in_cooldown: true,
            };
        }
        let replicas = match step.and_then(|i| cfg.steps.get(i)) {
            Some(s) => clamp(apply_adjustment(
                cfg.adjustment_type,
                current,
                s.adjustment,
                cfg.min_adjustment_magnitude,
            )),
            None => clamp(i64::from(current)),
        };
        if replicas != current {
            self.last_adjust = Some(t);
        }
        StepDecision {
            replicas,
            step,
            breached: true,
            in_cooldown: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_percent_rounding() {
        use AdjustmentType::PercentChangeInCapacity as P;
        assert_eq!(apply_adjustment(P, 127, 10, 0), 127 + 12); // 12.7 -> 12
        assert_eq!(apply_adjustment(P, 4, 10, 0), 5); // 0.4 -> 1
        assert_eq!(apply_adjustment(P, 4, -10, 0), 3); // -0.4 -> -1
        assert_eq!(apply_adjustment(P, 3, -222, 0), -3); // -6.66 -> -6
        assert_eq!(apply_adjustment(P, 10, 10, 3), 13); // 1 -> min magnitude 3
        assert_eq!(apply_adjustment(P, 10, -10, 3), 7);
        assert_eq!(apply_adjustment(P, 0, 50, 3), 0); // no change stays no change
    }

    fn policy(cmp: &str, steps: &str) -> StepScaling {
        StepScaling::from_yaml(&format!(
            "min_capacity: 1\nmax_capacity: 100\nadjustment_type: change_in_capacity\nalarm: {{threshold: 50, comparison: {cmp}, for: 60s}}\nsteps: {steps}\ncooldown: 120s"
        ))
        .unwrap()
    }

    #[test]
    fn bounds_inclusive_above_exclusive_below() {
        let p = policy(
            "greater_than_or_equal",
            "[{lower_bound: 0, upper_bound: 10, adjustment: 1}, {lower_bound: 10, adjustment: 3}]",
        );
        assert_eq!(p.step_for(0.0), Some(0));
        assert_eq!(p.step_for(10.0), Some(1));
        let p = policy("less_than", "[{upper_bound: -10, adjustment: -3}, {lower_bound: -10, upper_bound: 0, adjustment: -1}]");
        assert_eq!(p.step_for(-10.0), Some(0)); // below: upper bound inclusive
        assert_eq!(p.step_for(-5.0), Some(1));
        assert_eq!(p.step_for(0.0), None);
    }

    #[test]
    fn hold_and_cooldown() {
        let mut p = policy(
            "greater_than",
            "[{lower_bound: 0, upper_bound: 20, adjustment: 1}, {lower_bound: 20, adjustment: 4}]",
        );
        let t0 = Instant::now();
        assert_eq!(p.evaluate(t0, 10, 80.0).replicas, 10);
        assert_eq!(
            p.evaluate(t0 + Duration::from_secs(60), 10, 80.0).replicas,
            14
        );
        let d = p.evaluate(t0 + Duration::from_secs(90), 14, 80.0);
        assert!(d.in_cooldown && d.replicas == 14);
        assert_eq!(
            p.evaluate(t0 + Duration::from_secs(180), 14, 60.0).replicas,
            15
        );
        // Clear: the alarm must hold again.
        assert_eq!(
            p.evaluate(t0 + Duration::from_secs(400), 15, 10.0).replicas,
            15
        );
        assert_eq!(
            p.evaluate(t0 + Duration::from_secs(401), 15, 99.0).replicas,
            15
        );
    }
}
