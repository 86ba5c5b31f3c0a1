//! Failover configuration: sites, gates, objectives, step policies.

use std::collections::HashSet;
use std::time::Duration;

use resilience_core::config::{
    check_nonzero, check_nonzero_duration, check_unit_interval, fmt_duration, ConfigError,
};
use serde::{Deserialize, Serialize};

use super::retry::StepBackoff;
use super::Phase;

/// Timeout and retry of one phase's host action.
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::failover::StepPolicy;
/// let p = StepPolicy::default();
/// assert_eq!((p.timeout, p.attempts), (Duration::from_secs(60), 3));
/// assert_eq!(p.backoff().delay(1), Duration::from_secs(2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StepPolicy {
    /// Timeout of one attempt. Default 60 s.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Attempts in total (1 = no retry). Default 3.
    pub attempts: u32,
    /// Delay after the first failed attempt, doubling after each. Default 1 s.
    #[serde(with = "humantime_serde")]
    pub backoff_initial: Duration,
    /// Longest delay between attempts. Default 30 s.
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
}

impl Default for StepPolicy {
    fn default() -> Self {
        StepPolicy {
            timeout: Duration::from_secs(60),
            attempts: 3,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
        }
    }
}

impl StepPolicy {
    /// The backoff between attempts.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::failover::StepPolicy;
    /// let b = StepPolicy::default().backoff();
    /// assert_eq!(b.delay(0), Duration::from_secs(1));
    /// ```
    pub fn backoff(&self) -> StepBackoff {
        StepBackoff::new(self.backoff_initial, self.backoff_max)
    }

    fn validate(&self, field: &str) -> Result<(), ConfigError> {
        check_nonzero_duration("timeout", self.timeout).map_err(|e| e.within(field))?;
        check_nonzero("attempts", u64::from(self.attempts)).map_err(|e| e.within(field))?;
        if self.backoff_max < self.backoff_initial {
            return Err(ConfigError::invalid(
                format!("{field}.backoff_max"),
                format!(
                    "must be at least backoff_initial ({}), got {}",
                    fmt_duration(self.backoff_initial),
                    fmt_duration(self.backoff_max)
                ),
            ));
        }
        Ok(())
    }
}

/// Step policies: a default and optional per-phase overrides.
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::failover::{Phase, StepPolicies};
/// let p: StepPolicies = resilience_core::config::from_yaml_str(
///     "default: {timeout: 30s}\nswitch: {timeout: 2m, attempts: 5}",
/// ).unwrap();
/// assert_eq!(p.for_phase(Phase::Switch).attempts, 5);
/// assert_eq!(p.for_phase(Phase::Fence).timeout, Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StepPolicies {
    /// Used by every phase without an override.
    pub default: StepPolicy,
    /// Detect override.
    pub detect: Option<StepPolicy>,
    /// Prepare override (applies to each parallel action).
    pub prepare: Option<StepPolicy>,
    /// Guard override.
    pub guard: Option<StepPolicy>,
    /// Switch override.
    pub switch: Option<StepPolicy>,
    /// Verify override.
    pub verify: Option<StepPolicy>,
    /// Fence override.
    pub fence: Option<StepPolicy>,
    /// Reconcile override.
    pub reconcile: Option<StepPolicy>,
    /// Communicate override (applies to each notification).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub communicate: Option<StepPolicy>,
}

impl StepPolicies {
    /// The policy in force for `phase` (the approval gate has its own timeout
    /// and is never retried).
    ///
    /// ```
    /// use resilience_dr::failover::{Phase, StepPolicies, StepPolicy};
    /// let p = StepPolicies { fence: Some(StepPolicy { attempts: 10, ..Default::default() }), ..Default::default() };
    /// assert_eq!(p.for_phase(Phase::Fence).attempts, 10);
    /// assert_eq!(p.for_phase(Phase::Switch).attempts, 3);
    /// ```
    pub fn for_phase(&self, phase: Phase) -> StepPolicy {
        let o = match phase {
            Phase::Detect => self.detect,
            Phase::Prepare => self.prepare,
            Phase::Guard => self.guard,
            Phase::Approve => None,
            Phase::Switch => self.switch,
            Phase::Verify => self.verify,
            Phase::Fence => self.fence,
            Phase::Communicate => self.communicate,
            Phase::Reconcile => self.reconcile,
        };
        o.unwrap_or(self.default)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.default.validate("steps.default")?;
        for (name, p) in [
            ("detect", self.detect),
            ("prepare", self.prepare),
            ("guard", self.guard),
            ("switch", self.switch),
            ("verify", self.verify),
            ("fence", self.fence),
            ("reconcile", self.reconcile),
            ("communicate", self.communicate),
        ] {
            if let Some(p) = p {
                p.validate(&format!("steps.{name}"))?;
            }
        }
        Ok(())
    }
}

/// Recovery point objective of one data type.
///
/// An RPO of zero means no acknowledged write may be lost: the data type
/// must replicate synchronously, and the guard refuses to fail over if it
/// does not. Above zero, a replication lag beyond the RPO is a breach, and a
/// lag beyond `acceptable_lag` (when set) raises a "potential data loss"
/// alert without blocking.
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::failover::DataObjective;
/// let d = DataObjective::new("metadata", Duration::from_secs(300));
/// assert_eq!(d.acceptable_lag, None);
/// let sync = DataObjective::new("privacy_budgets", Duration::ZERO);
/// assert!(sync.requires_synchronous());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataObjective {
    /// Name of the data type, as the guard action reports it.
    pub data_type: String,
    /// Most data (in time) that may be lost.
    #[serde(with = "humantime_serde")]
    pub rpo: Duration,
    /// Lag above which an alert is raised (must not exceed `rpo`).
    #[serde(default, with = "humantime_serde")]
    pub acceptable_lag: Option<Duration>,
    /// How soon this data type must be back, from the outage's start (the
    /// class's RTO); reported per class in
    /// [`RtoRpoReport::classes`](super::RtoRpoReport::classes). `None`: the
    /// run's `rto` applies.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub rto: Option<Duration>,
}

impl DataObjective {
    /// An objective with no separate alert threshold.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::failover::DataObjective;
    /// let o = DataObjective::new("audit_logs", Duration::from_secs(3600));
    /// assert_eq!(o.data_type, "audit_logs");
    /// ```
    pub fn new(data_type: impl Into<String>, rpo: Duration) -> Self {
        DataObjective {
            data_type: data_type.into(),
            rpo,
            acceptable_lag: None,
            rto: None,
        }
    }

    /// Sets this class's recovery time objective.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::failover::DataObjective;
    /// let o = DataObjective::new("privacy_budgets", Duration::ZERO).rto(Duration::from_secs(300));
    /// assert_eq!(o.rto, Some(Duration::from_secs(300)));
    /// ```
    pub fn rto(mut self, rto: Duration) -> Self {
        self.rto = Some(rto);
        self
    }

    /// Sets the alert threshold.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::failover::DataObjective;
    /// let o = DataObjective::new("metadata", Duration::from_secs(300)).acceptable_lag(Duration::from_secs(60));
    /// assert_eq!(o.acceptable_lag, Some(Duration::from_secs(60)));
    /// ```
    pub fn acceptable_lag(mut self, lag: Duration) -> Self {
        self.acceptable_lag = Some(lag);
        self
    }

    /// Renamed to [`acceptable_lag`](Self::acceptable_lag).
    #[deprecated(since = "0.1.1", note = "renamed to `DataObjective::acceptable_lag`")]
    #[doc(hidden)]
    pub fn with_acceptable_lag(self, lag: Duration) -> Self {
        self.acceptable_lag(lag)
    }

    /// Whether the RPO is zero (synchronous replication required).
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::failover::DataObjective;
    /// assert!(DataObjective::new("privacy_budgets", Duration::ZERO).requires_synchronous());
    /// assert!(!DataObjective::new("metadata", Duration::from_secs(300)).requires_synchronous());
    /// ```
    pub fn requires_synchronous(&self) -> bool {
        self.rpo.is_zero()
    }
}

/// When the new primary counts as reconciled.
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::failover::ReconcileConfig;
/// let r = ReconcileConfig::default();
/// assert_eq!(r.count_tolerance, 0.01);
/// assert_eq!(r.max_consumer_lag, Duration::from_secs(3600));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcileConfig {
    /// Largest relative difference between compared counts. Default 0.01 (1 %).
    pub count_tolerance: f64,
    /// Largest consumer lag considered normal. Default 1 h (seed).
    #[serde(with = "humantime_serde")]
    pub max_consumer_lag: Duration,
    /// Counts that must not be zero on the new primary, whatever the old
    /// primary's count (which an outage may leave unknown): the model
    /// registry's `IF model_count == 0: RAISE CriticalError("No models in DR
    /// database")`. A zero here, like a zero where the old primary had data,
    /// fails the run with a critical alert. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_counts: Vec<String>,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        ReconcileConfig {
            count_tolerance: 0.01,
            max_consumer_lag: Duration::from_secs(3600),
            required_counts: Vec::new(),
        }
    }
}

/// Everything the [`Orchestrator`](super::Orchestrator) needs besides the
/// host's actions. Defaults follow the reference platforms: a manual approval gate with a
/// 10 min timeout, DNS TTL 60 s, 2 min propagation wait, counts within 1 %.
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::failover::FailoverConfig;
///
/// let cfg: FailoverConfig = resilience_core::config::from_yaml_str(r#"
/// primary: us-east-1
/// secondary: us-west-2
/// approval_timeout: 10m
/// objectives:
///   - { data_type: privacy_budgets, rpo: 0s }
///   - { data_type: metadata, rpo: 5m, acceptable_lag: 1m }
/// steps:
///   switch: { timeout: 2m, attempts: 2 }
/// "#).unwrap();
/// assert!(cfg.validate().is_ok());
/// assert_eq!(cfg.dns_ttl, Duration::from_secs(60));
///
/// let err = resilience_core::config::from_yaml_str::<FailoverConfig>("primay: x").unwrap_err();
/// assert!(err.to_string().contains("primay"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailoverConfig {
    /// The home site (active at start). Default `"primary"`.
    pub primary: String,
    /// The standby site. Default `"secondary"`.
    pub secondary: String,
    /// Whether a failover waits for manual approval (production). Default
    /// true. Failback always does.
    pub require_approval: bool,
    /// How long to wait for approval; no answer means "not approved".
    /// Default 10 min.
    #[serde(with = "humantime_serde")]
    pub approval_timeout: Duration,
    /// DNS TTL passed to the switch action. Default 60 s.
    #[serde(with = "humantime_serde")]
    pub dns_ttl: Duration,
    /// Wait between switch and verify (DNS propagation). Default 2 min.
    #[serde(with = "humantime_serde")]
    pub propagation_wait: Duration,
    /// After traffic moved, further failovers/failbacks are refused for this
    /// long. Default 30 min.
    #[serde(with = "humantime_serde")]
    pub anti_flap_window: Duration,
    /// Recovery time objective, from the outage's start to verified service
    /// on the other site. Default 15 min.
    #[serde(with = "humantime_serde")]
    pub rto: Duration,
    /// RPO per data type, checked by the guard.
    pub objectives: Vec<DataObjective>,
    /// Whether an RPO breach stops the failover (default true). When false,
    /// the breach is alerted and recorded, and the approver decides.
    pub abort_on_rpo_breach: bool,
    /// How long a breached guard **holds** the run, re-measuring the lag
    /// every `rpo_recheck`, before refusing (default 0: refuse at once).
    /// Nothing has been promoted while it holds. The model registry's
    /// runbook: "if lag > 5 minutes: assess data loss risk".
    #[serde(with = "humantime_serde")]
    pub rpo_hold: Duration,
    /// Time between two lag measurements while holding. Default 10 s.
    #[serde(with = "humantime_serde")]
    pub rpo_recheck: Duration,
    /// After a failover, how long [`Orchestrator::rollback`](super::Orchestrator::rollback)
    /// may send traffic back without waiting for the anti-flap window (with
    /// approval): the validation phase's "on-call confirms or rolls back".
    /// Default 15 min (the model registry runbook's validation budget).
    #[serde(with = "humantime_serde")]
    pub rollback_window: Duration,
    /// Reconciliation thresholds.
    pub reconcile: ReconcileConfig,
    /// Step timeouts and retries.
    pub steps: StepPolicies,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        FailoverConfig {
            primary: "primary".into(),
            secondary: "secondary".into(),
            require_approval: true,
            approval_timeout: Duration::from_secs(600),
            dns_ttl: Duration::from_secs(60),
            propagation_wait: Duration::from_secs(120),
            anti_flap_window: Duration::from_secs(1800),
            rto: Duration::from_secs(900),
            objectives: Vec::new(),
            abort_on_rpo_breach: true,
            rpo_hold: Duration::ZERO,
            rpo_recheck: Duration::from_secs(10),
            rollback_window: Duration::from_secs(900),
            reconcile: ReconcileConfig::default(),
            steps: StepPolicies::default(),
        }
    }
}

impl FailoverConfig {
    /// Moved to [`presets::synthetic_data::failover`](crate::presets::synthetic_data::failover).
    #[deprecated(
        since = "0.1.1",
        note = "moved to `resilience_dr::presets::synthetic_data::failover`"
    )]
    #[doc(hidden)]
    pub fn seed_gpu_platform() -> Self {
        crate::presets::synthetic_data::failover()
    }

    /// The objective for `data_type`, if configured.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::failover::FailoverConfig;
    /// let c = resilience_dr::presets::synthetic_data::failover();
    /// assert_eq!(c.objective("metadata").unwrap().rpo, Duration::from_secs(300));
    /// assert!(c.objective("nope").is_none());
    /// ```
    pub fn objective(&self, data_type: &str) -> Option<&DataObjective> {
        self.objectives.iter().find(|o| o.data_type == data_type)
    }

    /// Checks the config, naming the first bad field.
    ///
    /// ```
    /// use resilience_dr::failover::FailoverConfig;
    /// let c = FailoverConfig { secondary: "primary".into(), ..Default::default() };
    /// assert_eq!(c.validate().unwrap_err().field(), Some("secondary"));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.primary.is_empty() {
            return Err(ConfigError::invalid("primary", "must name the home site"));
        }
        if self.secondary.is_empty() || self.secondary == self.primary {
            return Err(ConfigError::invalid(
                "secondary",
                format!(
                    "must name a standby site different from the primary `{}`",
                    self.primary
                ),
            ));
        }
        check_nonzero_duration("approval_timeout", self.approval_timeout)?;
        check_nonzero_duration("rto", self.rto)?;
        check_nonzero_duration("rpo_recheck", self.rpo_recheck)?;
        let mut seen = HashSet::new();
        for (i, o) in self.objectives.iter().enumerate() {
            let field = format!("objectives[{i}]");
            if o.data_type.is_empty() {
                return Err(ConfigError::invalid(
                    format!("{field}.data_type"),
                    "must not be empty",
                ));
            }
            if !seen.insert(o.data_type.as_str()) {
                return Err(ConfigError::invalid(
                    format!("{field}.data_type"),
                    format!("`{}` is listed twice", o.data_type),
                ));
            }
            if let Some(a) = o.acceptable_lag {
                if a > o.rpo {
                    return Err(ConfigError::invalid(
                        format!("{field}.acceptable_lag"),
                        format!(
                            "must not exceed the rpo ({}), got {}",
                            fmt_duration(o.rpo),
                            fmt_duration(a)
                        ),
                    ));
                }
            }
        }
        check_unit_interval("reconcile.count_tolerance", self.reconcile.count_tolerance)?;
        self.steps.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_nested_fields() {
        let mut c = FailoverConfig::default();
        c.steps.fence = Some(StepPolicy {
            attempts: 0,
            ..Default::default()
        });
        assert_eq!(
            c.validate().unwrap_err().field(),
            Some("steps.fence.attempts")
        );
        let mut c = crate::presets::synthetic_data::failover();
        c.objectives
            .push(DataObjective::new("metadata", Duration::ZERO));
        assert_eq!(
            c.validate().unwrap_err().field(),
            Some("objectives[5].data_type")
        );
        let mut c = FailoverConfig::default();
        c.objectives.push(
            DataObjective::new("m", Duration::from_secs(1)).acceptable_lag(Duration::from_secs(2)),
        );
        assert_eq!(
            c.validate().unwrap_err().field(),
            Some("objectives[0].acceptable_lag")
        );
        c.objectives.clear();
        c.reconcile.count_tolerance = f64::NAN;
        assert!(c.validate().is_err());
        let mut c = FailoverConfig::default();
        c.steps.default.backoff_max = Duration::ZERO;
        assert_eq!(
            c.validate().unwrap_err().field(),
            Some("steps.default.backoff_max")
        );
    }

    #[test]
    fn json_round_trip() {
        let c = crate::presets::synthetic_data::failover();
        let s = serde_json::to_string(&c).unwrap();
        let back: FailoverConfig = resilience_core::config::from_json_str(&s).unwrap();
        assert_eq!(back, c);
    }
}
