//! AWS-style target tracking: hold a metric (CPU %, requests per target)
//! at a target value.
//!
//! Like EC2 Auto Scaling's target tracking, it scales out quickly and in
//! slowly:
//!
//! * **Scale-out** when the metric stays above the target for
//!   `scale_out_after` (AWS: 3 one-minute datapoints), to
//!   `ceil(current × value / target)`. During `scale_out_cooldown` the
//!   metric still reflects the capacity before the last scale-out, so the
//!   proportional count is computed from that capacity, and a further
//!   scale-out happens only if it asks for more than the last one did.
//! * **Scale-in** when the metric stays below `scale_in_ratio × target` for
//!   `scale_in_after` (AWS: 15 datapoints at 90 %), to the same
//!   proportional count, never below what keeps the metric at or under the
//!   target. Scale-in waits `scale_in_cooldown` after any scaling and can be
//!   disabled.
//! * The result is clamped to `[min_capacity, max_capacity]`.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use resilience_scaling::target_tracking::TargetTracking;
//!
//! let mut tt = TargetTracking::from_yaml("min_capacity: 2\nmax_capacity: 40\ntarget_value: 50")?;
//! let t0 = Instant::now();
//! assert_eq!(tt.evaluate(t0, 10, 80.0).replicas, 10); // needs 3 minutes above target
//! let d = tt.evaluate(t0 + Duration::from_secs(180), 10, 80.0);
//! assert_eq!(d.replicas, 16); // ceil(10 * 80 / 50)
//! # Ok::<(), resilience_core::config::ConfigError>(())
//! ```
//!
//! ## Metrics and events
//!
//! Decisions that change the count go to the listeners (`listeners()`).
//!
//! | name | type | labels |
//! |---|---|---|
//! | `resilience_target_tracking_scale_events_total` | counter | `policy`, `direction` |
//! | `resilience_target_tracking_desired_replicas` | gauge | `policy` |

use std::time::{Duration, Instant};

use resilience_core::config::{self, ConfigError};
use serde::{Deserialize, Serialize};

use resilience_core::events::Listeners;

use crate::observe::ScaleMetrics;

fn default_tt_name() -> String {
    "default".to_string()
}

/// Target tracking configuration (AWS defaults).
///
/// ```
/// use resilience_scaling::target_tracking::TargetTrackingConfig;
/// let c: TargetTrackingConfig = resilience_core::config::from_yaml_str(
///     "min_capacity: 1\nmax_capacity: 9\ntarget_value: 60\ndisable_scale_in: true").unwrap();
/// assert_eq!(c.scale_in_after.as_secs(), 900);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetTrackingConfig {
    /// Name, used as the `policy` metrics label (default `default`).
    #[serde(default = "default_tt_name")]
    pub name: String,
    /// Lower bound.
    pub min_capacity: u32,
    /// Upper bound, at least `min_capacity`.
    pub max_capacity: u32,
    /// The value to hold the metric at: a finite number above 0.
    pub target_value: f64,
    /// How long the metric must exceed the target (default 3 min).
    #[serde(default = "three_min", with = "humantime_serde")]
    pub scale_out_after: Duration,
    /// How long the metric must stay under `scale_in_ratio × target`
    /// (default 15 min).
    #[serde(default = "fifteen_min", with = "humantime_serde")]
    pub scale_in_after: Duration,
    /// Scale-in threshold as a fraction of the target (default 0.9; in
    /// (0, 1]).
    #[serde(default = "ratio")]
    pub scale_in_ratio: f64,
    /// Default 300 s.
    #[serde(default = "five_min", with = "humantime_serde")]
    pub scale_out_cooldown: Duration,
    /// Default 300 s.
    #[serde(default = "five_min", with = "humantime_serde")]
    pub scale_in_cooldown: Duration,
    /// Never scale in (another policy or a person does).
    #[serde(default)]
    pub disable_scale_in: bool,
}

fn three_min() -> Duration {
    Duration::from_secs(180)
}
fn fifteen_min() -> Duration {
    Duration::from_secs(900)
}
fn five_min() -> Duration {
    Duration::from_secs(300)
}
fn ratio() -> f64 {
    0.9
}

/// One target-tracking decision.
///
/// ```
/// use resilience_scaling::target_tracking::{TrackingAction, TrackingDecision};
/// let d = TrackingDecision { replicas: 4, action: TrackingAction::Hold };
/// assert_eq!(d.action, TrackingAction::Hold);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackingDecision {
    /// Capacity to run.
    pub replicas: u32,
    /// What happened.
    pub action: TrackingAction,
}

/// What a target-tracking evaluation did.
///
/// ```
/// use resilience_scaling::target_tracking::TrackingAction;
/// assert_ne!(TrackingAction::ScaleOut, TrackingAction::ScaleIn);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackingAction {
    /// Nothing to do.
    Hold,
    /// Scaled out.
    ScaleOut,
    /// Scaled in.
    ScaleIn,
    /// Would have scaled, but a cooldown is running.
    Cooldown,
    /// Brought the count back within the bounds.
    Clamped,
}

/// A target-tracking policy with its alarm state. See the [module docs](self).
#[derive(Debug)]
pub struct TargetTracking {
    listeners: Listeners<TrackingDecision>,
    metrics: ScaleMetrics,
    config: TargetTrackingConfig,
    origin: Option<Instant>,
    high_since: Option<Duration>,
    low_since: Option<Duration>,
    last_out: Option<(Duration, u32, u32)>,
    last_any: Option<Duration>,
}

impl TargetTracking {
    /// Parses and validates a YAML policy.
    pub fn from_yaml(yaml: &str) -> Result<Self, ConfigError> {
        Self::new(config::from_yaml_str(yaml)?)
    }

    /// Validates a policy.
    ///
    /// ```
    /// use resilience_scaling::target_tracking::TargetTracking;
    /// let e = TargetTracking::from_yaml("min_capacity: 1\nmax_capacity: 9\ntarget_value: 0").unwrap_err();
    /// assert_eq!(e.field(), Some("target_value"));
    /// ```
    pub fn new(config: TargetTrackingConfig) -> Result<Self, ConfigError> {
        if config.max_capacity < config.min_capacity {
            return Err(ConfigError::invalid(
                "max_capacity",
                format!(
                    "must be at least min_capacity ({}), got {}",
                    config.min_capacity, config.max_capacity
                ),
            ));
        }
        if !(config.target_value.is_finite() && config.target_value > 0.0) {
            return Err(ConfigError::invalid(
                "target_value",
                format!("must be a positive number, got {}", config.target_value),
            ));
        }
        config::check_fraction("scale_in_ratio", config.scale_in_ratio)?;
        Ok(TargetTracking {
            listeners: Listeners::new(),
            metrics: ScaleMetrics::new(
                "resilience_target_tracking_scale_events_total",
                "resilience_target_tracking_desired_replicas",
                "policy",
                &config.name,
            ),
            config,
            origin: None,
            high_since: None,
            low_since: None,
            last_out: None,
            last_any: None,
        })
    }

    /// The policy.
    pub fn config(&self) -> &TargetTrackingConfig {
        &self.config
    }

    /// Evaluates the policy with the metric's current `value` (NaN = missing:
    /// both alarms reset).
    ///
    /// ```
    /// use std::time::Instant;
    /// use resilience_scaling::target_tracking::{TargetTracking, TrackingAction};
    /// let mut t = TargetTracking::from_yaml("min_capacity: 1\nmax_capacity: 9\ntarget_value: 50\nscale_out_after: 0s").unwrap();
    /// let d = t.evaluate(Instant::now(), 2, 100.0);
    /// assert_eq!((d.replicas, d.action), (4, TrackingAction::ScaleOut));
    /// ```
    pub fn evaluate(&mut self, now: Instant, current: u32, value: f64) -> TrackingDecision {
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
    /// use resilience_scaling::target_tracking::{TargetTracking, TrackingDecision};
    /// let mut s = TargetTracking::from_yaml("min_capacity: 1\nmax_capacity: 9\ntarget_value: 50\nscale_out_after: 0s").unwrap();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let sink = seen.clone();
    /// s.listeners().add_fn(move |d: &TrackingDecision| sink.lock().unwrap().push(d.replicas));
    /// s.evaluate(Instant::now(), 2, 100.0);
    /// assert_eq!(seen.lock().unwrap().len(), 1);
    /// ```
    pub fn listeners(&self) -> &Listeners<TrackingDecision> {
        &self.listeners
    }

    /// The decision itself; `evaluate` adds metrics and events.
    fn evaluate_inner(&mut self, now: Instant, current: u32, value: f64) -> TrackingDecision {
        let origin = *self.origin.get_or_insert(now);
        let t = now.saturating_duration_since(origin);
        let c = &self.config;
        let (lo, hi) = (c.min_capacity, c.max_capacity);
        if current < lo || current > hi {
            let replicas = current.clamp(lo, hi);
            self.last_any = Some(t);
            return TrackingDecision {
                replicas,
                action: TrackingAction::Clamped,
            };
        }
        let valid = value.is_finite() && value >= 0.0;
        if valid && value > c.target_value {
            self.high_since.get_or_insert(t);
        } else {
            self.high_since = None;
        }
        if valid && value < c.target_value * c.scale_in_ratio {
            self.low_since.get_or_insert(t);
        } else {
            self.low_since = None;
        }
        let proportional = |base: u32| {
            let v = (f64::from(base) * value / c.target_value).ceil();
            if v >= f64::from(hi) {
                hi
            } else if v <= f64::from(lo) {
                lo
            } else {
                v as u32
            }
        };
        let hold = TrackingDecision {
            replicas: current,
            action: TrackingAction::Hold,
        };
        if self
            .high_since
            .is_some_and(|s| t.saturating_sub(s) >= c.scale_out_after)
        {
            let mut want = proportional(current).max(current);
            if let Some((at, from, to)) = self.last_out {
                if t.saturating_sub(at) < c.scale_out_cooldown {
                    want = proportional(from).max(current);
                    if want <= to {
                        return TrackingDecision {
                            replicas: current,
                            action: TrackingAction::Cooldown,
                        };
                    }
                }
            }
            if want == current {
                return hold;
            }
            self.last_out = Some((t, current, want));
            self.last_any = Some(t);
            return TrackingDecision {
                replicas: want,
                action: TrackingAction::ScaleOut,
            };
        }
        if !c.disable_scale_in
            && self
                .low_since
                .is_some_and(|s| t.saturating_sub(s) >= c.scale_in_after)
        {
            let want = proportional(current).min(current);
            if want == current {
                return hold;
            }
            if self
                .last_any
                .is_some_and(|l| t.saturating_sub(l) < c.scale_in_cooldown)
            {
                return TrackingDecision {
                    replicas: current,
                    action: TrackingAction::Cooldown,
                };
            }
            self.last_any = Some(t);
            return TrackingDecision {
                replicas: want,
                action: TrackingAction::ScaleIn,
            };
        }
        hold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn scales_in_slowly_and_respects_cooldowns() {
        let mut tt =
            TargetTracking::from_yaml("min_capacity: 2\nmax_capacity: 40\ntarget_value: 50")
                .unwrap();
        let t0 = Instant::now();
        tt.evaluate(t0, 10, 80.0);
        assert_eq!(tt.evaluate(t0 + s(180), 10, 80.0).replicas, 16);
        // Same (stale) metric during the cooldown: no second scale-out...
        assert_eq!(
            tt.evaluate(t0 + s(240), 16, 80.0).action,
            TrackingAction::Cooldown
        );
        // ... unless it asks for more than the last one: ceil(10 * 160 / 50).
        assert_eq!(tt.evaluate(t0 + s(250), 16, 160.0).replicas, 32);
        // Low for 15 min: scale in proportionally, after the cooldown.
        let t1 = t0 + s(300);
        tt.evaluate(t1, 32, 20.0);
        assert_eq!(tt.evaluate(t1 + s(899), 32, 20.0).replicas, 32);
        assert_eq!(tt.evaluate(t1 + s(900), 32, 20.0).replicas, 13);
        assert_eq!(
            tt.evaluate(t1 + s(1000), 13, 20.0).action,
            TrackingAction::Cooldown
        );
    }

    #[test]
    fn disable_scale_in_and_bounds() {
        let mut tt = TargetTracking::from_yaml(
            "min_capacity: 2\nmax_capacity: 20\ntarget_value: 50\ndisable_scale_in: true\nscale_out_after: 0s",
        )
        .unwrap();
        let t0 = Instant::now();
        assert_eq!(tt.evaluate(t0, 10, 1000.0).replicas, 20);
        assert_eq!(tt.evaluate(t0 + s(5000), 20, 1.0).replicas, 20);
        assert_eq!(tt.evaluate(t0 + s(5001), 50, 1.0).replicas, 20);
        assert_eq!(tt.evaluate(t0 + s(5002), 0, f64::NAN).replicas, 2);
    }
}
