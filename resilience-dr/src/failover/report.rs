//! Phases, events, the timeline and RTO/RPO accounting.

use std::fmt;
use std::time::{Duration, Instant};

use resilience_core::config;

/// Durations in timelines and reports, truncated to whole milliseconds
/// (`"2m 5s 12ms"`, `"0s"`).
fn fmt_duration(d: Duration) -> String {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    config::fmt_duration(Duration::from_millis(ms))
}

/// The phases of a failover, in order.
///
/// ```
/// use resilience_dr::failover::Phase;
/// assert_eq!(Phase::ALL.len(), 9);
/// assert!(Phase::Guard < Phase::Switch);
/// assert_eq!(Phase::Reconcile.to_string(), "reconcile");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Confirm the outage (or, for a failback, that home is healthy).
    Detect,
    /// Replication lag against the RPO of each data type, **before** the
    /// standby is promoted: a standby too far behind is never promoted.
    Guard,
    /// Parallel preparation: promote the standby, scale compute.
    Prepare,
    /// The manual approval gate.
    Approve,
    /// Move traffic (DNS / load balancer).
    Switch,
    /// Check health after propagation.
    Verify,
    /// Make the old primary read-only (prevent split-brain).
    Fence,
    /// Tell people: status page, stakeholders, users (the host's
    /// [`Communication`](super::Communication) hook).
    Communicate,
    /// Counts within tolerance, consumer lag back to normal.
    Reconcile,
}

impl Phase {
    /// Every phase in execution order.
    ///
    /// ```
    /// use resilience_dr::failover::Phase;
    /// assert_eq!(Phase::ALL[0], Phase::Detect);
    /// assert_eq!(Phase::ALL[8], Phase::Reconcile);
    /// ```
    pub const ALL: [Phase; 9] = [
        Phase::Detect,
        Phase::Guard,
        Phase::Prepare,
        Phase::Approve,
        Phase::Switch,
        Phase::Verify,
        Phase::Fence,
        Phase::Communicate,
        Phase::Reconcile,
    ];

    /// Lower-case name (also the metric label).
    ///
    /// ```
    /// use resilience_dr::failover::Phase;
    /// assert_eq!(Phase::Approve.as_str(), "approve");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Detect => "detect",
            Phase::Prepare => "prepare",
            Phase::Guard => "guard",
            Phase::Approve => "approve",
            Phase::Switch => "switch",
            Phase::Verify => "verify",
            Phase::Fence => "fence",
            Phase::Communicate => "communicate",
            Phase::Reconcile => "reconcile",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Failover (primary → secondary), failback (secondary → primary), or the
/// rollback of a failover during its validation.
///
/// ```
/// use resilience_dr::failover::Direction;
/// assert_eq!(Direction::Failback.to_string(), "failback");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Away from the home site.
    Failover,
    /// Back to the home site (always behind the manual gate).
    Failback,
    /// Back to the home site minutes after a failover, during validation
    /// ("on-call confirms or rolls back"): behind the manual gate, within
    /// the rollback window, not held by the anti-flap window.
    Rollback,
}

impl Direction {
    /// Lower-case name (also the metric label).
    ///
    /// ```
    /// use resilience_dr::failover::Direction;
    /// assert_eq!(Direction::Failover.as_str(), "failover");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Failover => "failover",
            Direction::Failback => "failback",
            Direction::Rollback => "rollback",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How urgent an alert is.
///
/// ```
/// use resilience_dr::failover::Severity;
/// assert!(Severity::Critical > Severity::Warning);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Someone should look (potential data loss, not approved).
    Warning,
    /// Someone must act now (unhealthy after switch, old primary not fenced).
    Critical,
}

/// The guard's verdict on one data type.
///
/// ```
/// use resilience_dr::failover::LagVerdict;
/// assert!(LagVerdict::Breach { reason: "x".into() }.is_breach());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LagVerdict {
    /// Within the acceptable lag.
    Ok,
    /// Above the acceptable lag but within the RPO: alert, go on.
    Warn,
    /// The RPO would be broken (or RPO 0 without synchronous replication, or
    /// no status reported for the data type).
    Breach {
        /// Why.
        reason: String,
    },
}

impl LagVerdict {
    /// Whether it is a breach.
    ///
    /// ```
    /// use resilience_dr::failover::LagVerdict;
    /// assert!(!LagVerdict::Warn.is_breach());
    /// ```
    pub fn is_breach(&self) -> bool {
        matches!(self, LagVerdict::Breach { .. })
    }
}

/// One data type's guard finding.
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::failover::{GuardFinding, LagVerdict};
/// let f = GuardFinding {
///     data_type: "metadata".into(),
///     lag: Some(Duration::from_secs(20)),
///     synchronous: false,
///     rpo: Duration::from_secs(300),
///     data_loss_window: Some(Duration::from_secs(20)),
///     verdict: LagVerdict::Ok,
/// };
/// assert!(!f.verdict.is_breach());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardFinding {
    /// The data type.
    pub data_type: String,
    /// Reported lag (`None`: not reported).
    pub lag: Option<Duration>,
    /// Whether it replicates synchronously.
    pub synchronous: bool,
    /// Its objective.
    pub rpo: Duration,
    /// Acknowledged data lost by switching now (0 when synchronous; `None`
    /// when nothing was reported, so the loss is unknown).
    pub data_loss_window: Option<Duration>,
    /// The verdict.
    pub verdict: LagVerdict,
}

/// Everything the guard found; handed to the approver via the context.
///
/// ```
/// use resilience_dr::failover::GuardReport;
/// let r = GuardReport { findings: vec![] };
/// assert!(!r.breached());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuardReport {
    /// One finding per configured objective.
    pub findings: Vec<GuardFinding>,
}

impl GuardReport {
    /// Whether any data type breaches its RPO.
    ///
    /// ```
    /// use resilience_dr::failover::{GuardFinding, GuardReport, LagVerdict};
    /// let f = GuardFinding {
    ///     data_type: "privacy_budgets".into(),
    ///     lag: None,
    ///     synchronous: false,
    ///     rpo: std::time::Duration::ZERO,
    ///     data_loss_window: None,
    ///     verdict: LagVerdict::Breach { reason: "not reported".into() },
    /// };
    /// assert!(GuardReport { findings: vec![f] }.breached());
    /// ```
    pub fn breached(&self) -> bool {
        self.findings.iter().any(|f| f.verdict.is_breach())
    }
}

/// How a run ended.
///
/// ```
/// use resilience_dr::failover::{FailoverOutcome, Phase};
/// let o = FailoverOutcome::Aborted { phase: Phase::Guard, reason: "RPO".into() };
/// assert!(!o.switched());
/// assert!(FailoverOutcome::Completed.switched());
/// assert_eq!(FailoverOutcome::Completed.as_str(), "completed");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailoverOutcome {
    /// Every phase succeeded: traffic is on the other site, the old primary
    /// is fenced, data reconciled.
    Completed,
    /// Switched, verified and fenced, but reconciliation did not reach its
    /// thresholds: schedule a reconciliation.
    CompletedUnreconciled {
        /// What is out of tolerance.
        reason: String,
    },
    /// The approval gate said no, or nobody answered in time: stayed put.
    NotApproved {
        /// Rejection reason, or the timeout.
        reason: String,
    },
    /// Stopped before traffic moved: stayed put.
    Aborted {
        /// The phase that stopped it.
        phase: Phase,
        /// Why.
        reason: String,
    },
    /// Something failed at or after the switch: needs an operator now.
    Failed {
        /// The failing phase.
        phase: Phase,
        /// Why.
        reason: String,
    },
}

impl FailoverOutcome {
    /// Whether traffic moved to the other site (the switch succeeded).
    ///
    /// ```
    /// use resilience_dr::failover::{FailoverOutcome, Phase};
    /// assert!(FailoverOutcome::Failed { phase: Phase::Fence, reason: "x".into() }.switched());
    /// assert!(!FailoverOutcome::Failed { phase: Phase::Switch, reason: "x".into() }.switched());
    /// assert!(!FailoverOutcome::NotApproved { reason: "timeout".into() }.switched());
    /// ```
    pub fn switched(&self) -> bool {
        match self {
            FailoverOutcome::Completed | FailoverOutcome::CompletedUnreconciled { .. } => true,
            FailoverOutcome::Failed { phase, .. } => *phase > Phase::Switch,
            _ => false,
        }
    }

    /// Stable name (also the metric label).
    ///
    /// ```
    /// use resilience_dr::failover::FailoverOutcome;
    /// assert_eq!(FailoverOutcome::NotApproved { reason: "no".into() }.as_str(), "not_approved");
    /// ```
    pub fn as_str(&self) -> &'static str {
        match self {
            FailoverOutcome::Completed => "completed",
            FailoverOutcome::CompletedUnreconciled { .. } => "completed_unreconciled",
            FailoverOutcome::NotApproved { .. } => "not_approved",
            FailoverOutcome::Aborted { .. } => "aborted",
            FailoverOutcome::Failed { .. } => "failed",
        }
    }
}

impl fmt::Display for FailoverOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailoverOutcome::Completed => f.write_str("completed"),
            FailoverOutcome::CompletedUnreconciled { reason } => {
                write!(f, "completed, not reconciled: {reason}")
            }
            FailoverOutcome::NotApproved { reason } => write!(f, "not approved: {reason}"),
            FailoverOutcome::Aborted { phase, reason } => write!(f, "aborted in {phase}: {reason}"),
            FailoverOutcome::Failed { phase, reason } => write!(f, "failed in {phase}: {reason}"),
        }
    }
}

/// Something that happened during a run: published to listeners as it
/// happens and kept, time-stamped, in the run's timeline.
///
/// ```
/// use resilience_dr::failover::{FailoverEvent, Phase};
/// let e = FailoverEvent::PhaseStarted { phase: Phase::Switch };
/// assert_eq!(e.phase(), Some(Phase::Switch));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailoverEvent {
    /// A run started.
    Started {
        /// Failover or failback.
        direction: super::Direction,
        /// Site traffic leaves.
        from: String,
        /// Site traffic goes to.
        to: String,
        /// The trigger's reason.
        reason: String,
    },
    /// A phase started.
    PhaseStarted {
        /// The phase.
        phase: Phase,
    },
    /// A phase had nothing to do (no host action configured).
    PhaseSkipped {
        /// The phase.
        phase: Phase,
    },
    /// One attempt of a phase's action failed.
    AttemptFailed {
        /// The phase.
        phase: Phase,
        /// The action's name (the prepare action's name, else the phase's).
        action: String,
        /// Attempt number from 1.
        attempt: u32,
        /// The error, or the timeout.
        error: String,
        /// Delay before the next attempt (`None`: no attempt left).
        retry_in: Option<Duration>,
    },
    /// A phase succeeded.
    PhaseSucceeded {
        /// The phase.
        phase: Phase,
        /// How long it took (retries and pauses included).
        took: Duration,
    },
    /// The run waits for the approval gate.
    AwaitingApproval {
        /// How long it will wait.
        timeout: Duration,
    },
    /// The gate approved.
    Approved {
        /// By whom.
        by: String,
    },
    /// The run waits (DNS propagation before verify).
    Waiting {
        /// What for.
        what: String,
        /// How long.
        duration: Duration,
    },
    /// The operator paused the run; it stops before its next phase or attempt.
    Paused,
    /// The operator resumed the run.
    Resumed {
        /// How long it was paused.
        paused_for: Duration,
    },
    /// Someone must look (the `alert(...)` calls of a runbook).
    Alert {
        /// How urgent.
        severity: Severity,
        /// What to tell them.
        message: String,
    },
    /// The run ended.
    Finished {
        /// How.
        outcome: FailoverOutcome,
    },
}

impl FailoverEvent {
    /// The phase the event is about, if any.
    ///
    /// ```
    /// use resilience_dr::failover::{FailoverEvent, Phase};
    /// assert_eq!(FailoverEvent::Approved { by: "a".into() }.phase(), Some(Phase::Approve));
    /// assert_eq!(FailoverEvent::Paused.phase(), None);
    /// ```
    pub fn phase(&self) -> Option<Phase> {
        match self {
            FailoverEvent::PhaseStarted { phase }
            | FailoverEvent::PhaseSkipped { phase }
            | FailoverEvent::AttemptFailed { phase, .. }
            | FailoverEvent::PhaseSucceeded { phase, .. } => Some(*phase),
            FailoverEvent::AwaitingApproval { .. } | FailoverEvent::Approved { .. } => {
                Some(Phase::Approve)
            }
            _ => None,
        }
    }
}

/// One time-stamped timeline entry.
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::failover::{FailoverEvent, TimelineEntry};
/// let e = TimelineEntry { at: Duration::from_micros(3_000_250), event: FailoverEvent::Paused };
/// assert_eq!(e.to_string(), "+3s paused"); // shown to the millisecond
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    /// Offset from the run's start.
    pub at: Duration,
    /// What happened.
    pub event: FailoverEvent,
}

impl fmt::Display for TimelineEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{} ", fmt_duration(self.at))?;
        match &self.event {
            FailoverEvent::Started {
                direction,
                from,
                to,
                reason,
            } => write!(f, "{direction} {from} -> {to} started: {reason}"),
            FailoverEvent::PhaseStarted { phase } => write!(f, "{phase} started"),
            FailoverEvent::PhaseSkipped { phase } => write!(f, "{phase} skipped (no action)"),
            FailoverEvent::AttemptFailed {
                action,
                attempt,
                error,
                retry_in,
                ..
            } => {
                write!(f, "{action} attempt {attempt} failed: {error}")?;
                match retry_in {
                    Some(d) => write!(f, "; retry in {}", fmt_duration(*d)),
                    None => f.write_str("; no attempt left"),
                }
            }
            FailoverEvent::PhaseSucceeded { phase, took } => {
                write!(f, "{phase} succeeded in {}", fmt_duration(*took))
            }
            FailoverEvent::AwaitingApproval { timeout } => {
                write!(f, "awaiting approval (timeout {})", fmt_duration(*timeout))
            }
            FailoverEvent::Approved { by } => write!(f, "approved by {by}"),
            FailoverEvent::Waiting { what, duration } => {
                write!(f, "waiting {} for {what}", fmt_duration(*duration))
            }
            FailoverEvent::Paused => f.write_str("paused"),
            FailoverEvent::Resumed { paused_for } => {
                write!(f, "resumed after {}", fmt_duration(*paused_for))
            }
            FailoverEvent::Alert { severity, message } => {
                write!(f, "ALERT {severity:?}: {message}")
            }
            FailoverEvent::Finished { outcome } => write!(f, "finished: {outcome}"),
        }
    }
}

/// One data type's data-loss window against its RPO.
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::failover::DataLoss;
/// let d = DataLoss { data_type: "metadata".into(), window: Duration::from_secs(30), rpo: Duration::from_secs(300) };
/// assert!(d.met());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataLoss {
    /// The data type.
    pub data_type: String,
    /// Acknowledged data lost (replication lag at the guard; 0 when synchronous).
    pub window: Duration,
    /// Its objective.
    pub rpo: Duration,
}

impl DataLoss {
    /// Whether the window is within the RPO.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::failover::DataLoss;
    /// let d = DataLoss { data_type: "metadata".into(), window: Duration::from_secs(301), rpo: Duration::from_secs(300) };
    /// assert!(!d.met());
    /// ```
    pub fn met(&self) -> bool {
        self.window <= self.rpo
    }
}

/// RTO/RPO accounting of one run.
///
/// Times are measured from the outage's start when the trigger gives one
/// (e.g. [`OutageStatus::since`](crate::health::OutageStatus::since)), else
/// from the run's start; the approval wait counts, as it is real downtime.
///
/// ```
/// use std::time::{Duration, Instant};
/// use resilience_dr::failover::RtoRpoReport;
/// let r = RtoRpoReport {
///     detection_time: Some(Duration::from_secs(300)),
///     time_to_switch: Some(Duration::from_secs(600)),
///     recovery_time: Some(Duration::from_secs(750)),
///     rto: Duration::from_secs(900),
///     data_loss: vec![],
///     paused_for: Duration::ZERO,
///     classes: vec![],
/// };
/// assert_eq!(r.rto_met(), Some(true));
/// assert!(r.rpo_met());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtoRpoReport {
    /// Outage start → run start (`None` when the trigger gave no start).
    pub detection_time: Option<Duration>,
    /// Outage (or run) start → switch done (`None` if never switched).
    pub time_to_switch: Option<Duration>,
    /// Outage (or run) start → verified on the new site: the achieved RTO
    /// (`None` if not verified).
    pub recovery_time: Option<Duration>,
    /// The objective.
    pub rto: Duration,
    /// Per data type, when the guard ran.
    pub data_loss: Vec<DataLoss>,
    /// Time spent paused by the operator.
    pub paused_for: Duration,
    /// Per data class: its RPO against the data-loss window the guard
    /// measured, its RTO against the recovery time (one entry per
    /// configured objective, in config order).
    pub classes: Vec<ClassRecovery>,
}

/// One data class's recovery objectives and what the run achieved.
///
/// Every class comes back when the new site is verified, so `recovery_time`
/// is the run's; what differs is each class's RTO (the synthetic-data
/// platform: privacy budgets 5 min, trained models 15 min, metadata 30 min,
/// audit logs 1 h, source datasets 4 h).
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::failover::ClassRecovery;
/// let c = ClassRecovery {
///     data_type: "privacy_budgets".into(),
///     rpo: Duration::ZERO,
///     rto: Duration::from_secs(300),
///     data_loss_window: Some(Duration::ZERO),
///     recovery_time: Some(Duration::from_secs(420)),
/// };
/// assert_eq!(c.rto_met(), Some(false)); // 7 min against 5 min
/// assert_eq!(c.rpo_met(), Some(true));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassRecovery {
    /// The data class.
    pub data_type: String,
    /// Its recovery point objective.
    pub rpo: Duration,
    /// Its recovery time objective (the run's `rto` when the class has none).
    pub rto: Duration,
    /// Data-loss window measured by the guard (`None`: not measured).
    pub data_loss_window: Option<Duration>,
    /// Outage (or run) start → verified service (`None`: not restored).
    pub recovery_time: Option<Duration>,
}

impl ClassRecovery {
    /// Whether the class was back within its RTO (`None`: not restored).
    pub fn rto_met(&self) -> Option<bool> {
        self.recovery_time.map(|t| t <= self.rto)
    }

    /// Whether its loss window is within its RPO (`None`: not measured).
    pub fn rpo_met(&self) -> Option<bool> {
        self.data_loss_window.map(|w| w <= self.rpo)
    }
}

impl RtoRpoReport {
    /// Whether the RTO was met (`None` if service was not restored).
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::failover::{DataLoss, RtoRpoReport};
    /// let r = RtoRpoReport {
    ///     detection_time: None,
    ///     time_to_switch: Some(Duration::from_secs(200)),
    ///     recovery_time: None,
    ///     rto: Duration::from_secs(900),
    ///     data_loss: vec![DataLoss { data_type: "db".into(), window: Duration::ZERO, rpo: Duration::ZERO }],
    ///     paused_for: Duration::ZERO,
    ///     classes: vec![],
    /// };
    /// assert_eq!(r.rto_met(), None); // switched but never verified: not restored
    /// ```
    pub fn rto_met(&self) -> Option<bool> {
        self.recovery_time.map(|t| t <= self.rto)
    }

    /// Whether every data type's loss window is within its RPO.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::failover::{DataLoss, RtoRpoReport};
    /// let r = RtoRpoReport {
    ///     detection_time: None,
    ///     time_to_switch: Some(Duration::from_secs(200)),
    ///     recovery_time: None,
    ///     rto: Duration::from_secs(900),
    ///     data_loss: vec![DataLoss { data_type: "db".into(), window: Duration::ZERO, rpo: Duration::ZERO }],
    ///     paused_for: Duration::ZERO,
    ///     classes: vec![],
    /// };
    /// assert!(r.rpo_met());
    /// ```
    pub fn rpo_met(&self) -> bool {
        self.data_loss.iter().all(DataLoss::met)
    }
}

/// One phase's record in a [`FailoverReport`].
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::failover::{Phase, PhaseRecord};
/// let p = PhaseRecord { phase: Phase::Fence, attempts: 2, took: Duration::from_secs(3), succeeded: true };
/// assert!(p.succeeded);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseRecord {
    /// The phase.
    pub phase: Phase,
    /// Attempts made (for Prepare: the most any one action needed).
    pub attempts: u32,
    /// Time spent in the phase.
    pub took: Duration,
    /// Whether it succeeded.
    pub succeeded: bool,
}

/// The full account of one run.
///
/// ```
/// use resilience_dr::failover::{FailoverActions, FailoverConfig, FailoverOutcome, Orchestrator, Trigger};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # tokio::time::pause();
/// let cfg = FailoverConfig { require_approval: false, ..Default::default() };
/// let o = Orchestrator::new(cfg, FailoverActions::new(
///     |_| async { Ok::<(), &str>(()) }, |_| async { Ok::<(), &str>(()) })).unwrap();
/// let report = o.failover(Trigger::new("drill")).await.unwrap();
/// assert_eq!(report.outcome, FailoverOutcome::Completed);
/// assert!(report.timeline.len() > 5);
/// println!("{}", report.render());
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverReport {
    /// Failover or failback.
    pub direction: Direction,
    /// Site traffic left (or was to leave).
    pub from: String,
    /// Site traffic went (or was to go) to.
    pub to: String,
    /// How it ended.
    pub outcome: FailoverOutcome,
    /// When the run started.
    pub started_at: Instant,
    /// Phases that ran, in order.
    pub phases: Vec<PhaseRecord>,
    /// Everything that happened, time-stamped.
    pub timeline: Vec<TimelineEntry>,
    /// The guard's findings, if it ran.
    pub guard: Option<GuardReport>,
    /// RTO/RPO accounting.
    pub objectives: RtoRpoReport,
}

impl FailoverReport {
    /// The timeline and the accounting as text, one line per entry (for an
    /// incident ticket).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use resilience_dr::failover::{FailoverActions, FailoverConfig, Orchestrator};
    /// let orchestrator = Orchestrator::new(
    ///     FailoverConfig { require_approval: false, ..Default::default() },
    ///     FailoverActions::new(|_| async { Ok::<(), &str>(()) }, |_| async { Ok::<(), &str>(()) }),
    /// )
    /// .unwrap();
    /// use resilience_dr::failover::Trigger;
    /// let report = orchestrator.failover(Trigger::new("drill")).await.unwrap();
    /// let text = report.render();
    /// assert!(text.starts_with("+0s failover primary -> secondary started: drill"));
    /// assert!(text.contains("switch succeeded"));
    /// # }
    /// ```
    pub fn render(&self) -> String {
        let mut out = String::new();
        for e in &self.timeline {
            out.push_str(&e.to_string());
            out.push('\n');
        }
        let o = &self.objectives;
        let opt = |d: Option<Duration>| d.map_or_else(|| "n/a".to_string(), fmt_duration);
        out.push_str(&format!(
            "detection {}, switch {}, recovery {} (RTO {}: {})\n",
            opt(o.detection_time),
            opt(o.time_to_switch),
            opt(o.recovery_time),
            fmt_duration(o.rto),
            match o.rto_met() {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "not restored",
            }
        ));
        for d in &o.data_loss {
            out.push_str(&format!(
                "data loss {}: {} (RPO {}: {})\n",
                d.data_type,
                fmt_duration(d.window),
                fmt_duration(d.rpo),
                if d.met() { "met" } else { "MISSED" }
            ));
        }
        for c in &o.classes {
            out.push_str(&format!(
                "class {}: recovery {} (RTO {}: {})\n",
                c.data_type,
                opt(c.recovery_time),
                fmt_duration(c.rto),
                match c.rto_met() {
                    Some(true) => "met",
                    Some(false) => "MISSED",
                    None => "not restored",
                }
            ));
        }
        out
    }
}
