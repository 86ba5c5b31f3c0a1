//! The phased failover/failback state machine.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use parking_lot::Mutex;
use resilience_core::clock::{shared, Clock, SharedClock};
use resilience_core::config::{fmt_duration, fmt_elapsed, fmt_wait, ConfigError};
use resilience_core::events::Listeners;
use tokio::sync::watch;

use super::actions::{Action, Approval, FailoverActions, Notice, ReplicationStatus, StepContext};
use super::config::{FailoverConfig, StepPolicy};
use super::report::{
    ClassRecovery, DataLoss, Direction, FailoverEvent, FailoverOutcome, FailoverReport,
    GuardFinding, GuardReport, LagVerdict, Phase, PhaseRecord, RtoRpoReport, Severity,
    TimelineEntry,
};
use resilience_core::clock::TokioClock;

/// Why a failover or failback starts.
///
/// ```
/// use resilience_dr::failover::Trigger;
/// let t = Trigger::new("us-east-1 unreachable from 3 of 3 probes");
/// assert!(t.outage_began.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// Recorded in the timeline and the `Started` event.
    pub reason: String,
    /// When the outage began (for detection time and RTO accounting), e.g.
    /// from [`OutageStatus::since`](crate::health::OutageStatus::since).
    pub outage_began: Option<Instant>,
}

impl Trigger {
    /// A trigger without a known outage start.
    ///
    /// ```
    /// use resilience_dr::failover::Trigger;
    /// let t = Trigger::new("manual drill");
    /// assert_eq!(t.reason, "manual drill");
    /// ```
    pub fn new(reason: impl Into<String>) -> Self {
        Trigger {
            reason: reason.into(),
            outage_began: None,
        }
    }

    /// Sets when the outage began.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use resilience_dr::failover::Trigger;
    /// let began = Instant::now() - Duration::from_secs(300);
    /// let t = Trigger::new("3 probes down").outage_began(began);
    /// assert_eq!(t.outage_began, Some(began));
    /// ```
    pub fn outage_began(mut self, at: Instant) -> Self {
        self.outage_began = Some(at);
        self
    }
}

/// A failover or failback refused before it started (nothing was done).
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::failover::FailoverError;
/// let e = FailoverError::AntiFlap { retry_in: Duration::from_secs(600) };
/// assert!(e.to_string().contains("10m"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FailoverError {
    /// Another run is in progress.
    #[error("a {running} is already running; wait for it to finish or abort it")]
    AlreadyRunning {
        /// The running direction.
        running: Direction,
    },
    /// Traffic moved too recently.
    #[error("traffic moved less than the anti-flap window ago; a new switch is allowed in {}", fmt_wait(*retry_in))]
    AntiFlap {
        /// Time left in the window.
        retry_in: Duration,
    },
    /// The active site does not match the direction.
    #[error("cannot {direction}: traffic is already on `{active}`")]
    WrongSite {
        /// The requested direction.
        direction: Direction,
        /// The active site.
        active: String,
    },
    /// Failback needs a manual validation gate and none is configured.
    #[error(
        "failback requires manual validation: configure an approve action (e.g. an ApprovalGate)"
    )]
    NoApprovalGate,
    /// A rollback asked for when no failover switched traffic within the
    /// rollback window.
    #[error("{}", match switched_ago {
        Some(ago) => format!("the failover switched traffic {} ago, past the rollback window; use failback", fmt_elapsed(*ago)),
        None => "no failover to roll back: traffic has not moved".to_string(),
    })]
    RollbackWindowClosed {
        /// Time since the switch (`None`: never switched).
        switched_ago: Option<Duration>,
    },
    /// A site name that is neither the primary nor the secondary.
    #[error("unknown site `{site}`: use the configured primary or secondary")]
    UnknownSite {
        /// The name given.
        site: String,
    },
}

impl FailoverError {
    fn label(&self) -> &'static str {
        match self {
            FailoverError::AlreadyRunning { .. } => "already_running",
            FailoverError::AntiFlap { .. } => "anti_flap",
            FailoverError::WrongSite { .. } => "wrong_site",
            FailoverError::NoApprovalGate => "no_approval_gate",
            FailoverError::UnknownSite { .. } => "unknown_site",
            FailoverError::RollbackWindowClosed { .. } => "rollback_window_closed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Control {
    Run,
    Pause,
    Abort(String),
}

#[derive(Debug)]
struct State {
    on_secondary: bool,
    running: Option<Direction>,
    last_switch: Option<Instant>,
}

struct Inner {
    config: FailoverConfig,
    actions: FailoverActions,
    clock: SharedClock,
    listeners: Listeners<FailoverEvent>,
    state: Mutex<State>,
    control: watch::Sender<Control>,
}

/// Runs failovers and failbacks through explicit, gated phases.
///
/// ```text
/// Detect → Guard (lag vs RPO) → Prepare (parallel: promote) → Approve (manual, 10 min)
///        → Switch (DNS TTL 60 s) → [propagation wait] → Verify → Fence old primary → Reconcile
/// ```
///
/// Each phase calls the host's async action (see [`FailoverActions`]) under
/// the phase's timeout and retry policy. Before traffic moves, any failure
/// stops the run and leaves traffic where it was
/// ([`Aborted`](FailoverOutcome::Aborted) /
/// [`NotApproved`](FailoverOutcome::NotApproved)). From the switch on, a
/// failure is [`Failed`](FailoverOutcome::Failed) with a critical alert: a
/// failed verification is *not* followed by fencing, because the old primary
/// may be the way back, and that decision belongs to an operator.
///
/// The orchestrator is a cheap handle (`Clone`); [`pause`](Self::pause),
/// [`resume`](Self::resume) and [`abort`](Self::abort) act on the running
/// run from any task. Pauses take effect before the next phase or attempt (a
/// running host action is never interrupted). After traffic moved, a new run
/// in either direction is refused for `anti_flap_window`.
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::failover::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// tokio::time::pause(); // tests never wait on the wall clock
/// let gate = ApprovalGate::new();
/// let actions = FailoverActions::new(
///         |ctx| async move { println!("DNS -> {}", ctx.to); Ok::<(), &str>(()) },
///         |ctx| async move { println!("{} read-only", ctx.from); Ok::<(), &str>(()) },
///     )
///     .prepare("promote_standby", |_| async { Ok::<(), &str>(()) })
///     .guard(|_| async {
///         Ok::<_, &str>(ReplicationStatus::from(vec![
///             DataLag::synchronous("privacy_budgets"),
///             DataLag::asynchronous("metadata", Duration::from_secs(20)),
///         ]))
///     })
///     .approval_gate(gate.clone());
/// let config = FailoverConfig {
///     objectives: vec![
///         DataObjective::new("privacy_budgets", Duration::ZERO),
///         DataObjective::new("metadata", Duration::from_secs(300)),
///     ],
///     ..Default::default()
/// };
/// let orchestrator = Orchestrator::new(config, actions).unwrap();
///
/// // An operator approves from elsewhere.
/// tokio::spawn(async move {
///     while !gate.is_waiting() { tokio::time::sleep(Duration::from_secs(1)).await; }
///     gate.approve("oncall");
/// });
/// let report = orchestrator.failover(Trigger::new("region down")).await.unwrap();
/// assert_eq!(report.outcome, FailoverOutcome::Completed);
/// assert_eq!(orchestrator.active_site(), "secondary");
/// assert!(report.objectives.rpo_met());
///
/// // A second failover inside the anti-flap window is refused.
/// let again = orchestrator.failback(Trigger::new("home is back")).await;
/// assert!(matches!(again, Err(FailoverError::AntiFlap { .. })));
/// # }
/// ```
#[derive(Clone)]
pub struct Orchestrator {
    inner: Arc<Inner>,
}

impl fmt::Debug for Orchestrator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Orchestrator")
            .field("config", &self.inner.config)
            .field("actions", &self.inner.actions)
            .field("state", &*self.inner.state.lock())
            .finish()
    }
}

impl Orchestrator {
    /// An orchestrator on [`TokioClock`](resilience_core::clock::TokioClock), active on the primary.
    ///
    /// Fails if the config is invalid, if RPO objectives are configured
    /// without a guard action, or if approval is required without an approve
    /// action.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::failover::{DataObjective, FailoverActions, FailoverConfig, Orchestrator};
    /// let ok = || FailoverActions::new(|_| async { Ok::<(), &str>(()) }, |_| async { Ok::<(), &str>(()) });
    /// let err = Orchestrator::new(FailoverConfig::default(), ok()).unwrap_err();
    /// assert_eq!(err.field(), Some("require_approval"));
    /// let cfg = FailoverConfig {
    ///     require_approval: false,
    ///     objectives: vec![DataObjective::new("metadata", Duration::from_secs(300))],
    ///     ..Default::default()
    /// };
    /// assert_eq!(Orchestrator::new(cfg, ok()).unwrap_err().field(), Some("objectives"));
    /// ```
    pub fn new(config: FailoverConfig, actions: FailoverActions) -> Result<Self, ConfigError> {
        Self::with_clock(config, actions, TokioClock)
    }

    /// An orchestrator reading timeline timestamps from `clock`. Waits and
    /// timeouts always use tokio's timer, so `clock` should follow tokio's
    /// time (as [`TokioClock`](resilience_core::clock::TokioClock) does) for the timeline to agree with them.
    ///
    /// ```
    /// use resilience_dr::failover::{FailoverActions, FailoverConfig, Orchestrator};
    /// use resilience_core::clock::TokioClock;
    /// let o = Orchestrator::with_clock(
    ///     FailoverConfig { require_approval: false, ..Default::default() },
    ///     FailoverActions::new(|_| async { Ok::<(), &str>(()) }, |_| async { Ok::<(), &str>(()) }),
    ///     TokioClock,
    /// );
    /// assert!(o.is_ok());
    /// ```
    pub fn with_clock(
        config: FailoverConfig,
        actions: FailoverActions,
        clock: impl Clock,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        if !config.objectives.is_empty() && actions.guard.is_none() {
            return Err(ConfigError::invalid(
                "objectives",
                "RPO objectives are configured but no guard action measures replication lag; \
                 add FailoverActions::guard",
            ));
        }
        if config.require_approval && actions.approve.is_none() {
            return Err(ConfigError::invalid(
                "require_approval",
                "approval is required but no approve action is configured; add \
                 FailoverActions::approve or approval_gate, or set require_approval: false",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (name, _) in &actions.prepare {
            if !seen.insert(name.as_str()) {
                return Err(ConfigError::invalid(
                    "prepare",
                    format!("prepare action `{name}` is added twice"),
                ));
            }
        }
        Ok(Orchestrator {
            inner: Arc::new(Inner {
                config,
                actions,
                clock: shared(clock),
                listeners: Listeners::new(),
                state: Mutex::new(State {
                    on_secondary: false,
                    running: None,
                    last_switch: None,
                }),
                control: watch::channel(Control::Run).0,
            }),
        })
    }

    /// Listeners receiving every [`FailoverEvent`] as it happens.
    ///
    /// ```
    /// use resilience_dr::failover::{FailoverActions, FailoverConfig, Orchestrator};
    /// let orchestrator = Orchestrator::new(
    ///     FailoverConfig { require_approval: false, ..Default::default() },
    ///     FailoverActions::new(|_| async { Ok::<(), &str>(()) }, |_| async { Ok::<(), &str>(()) }),
    /// )
    /// .unwrap();
    /// orchestrator.listeners().add_fn(|e: &resilience_dr::failover::FailoverEvent| {
    ///     if let resilience_dr::failover::FailoverEvent::Alert { severity, message } = e {
    ///         eprintln!("page on-call ({severity:?}): {message}");
    ///     }
    /// });
    /// ```
    pub fn listeners(&self) -> &Listeners<FailoverEvent> {
        &self.inner.listeners
    }

    /// The validated config.
    ///
    /// ```
    /// use resilience_dr::failover::{FailoverActions, FailoverConfig, Orchestrator};
    /// let orchestrator = Orchestrator::new(
    ///     FailoverConfig { require_approval: false, ..Default::default() },
    ///     FailoverActions::new(|_| async { Ok::<(), &str>(()) }, |_| async { Ok::<(), &str>(()) }),
    /// )
    /// .unwrap();
    /// assert_eq!(orchestrator.config().secondary, "secondary");
    /// ```
    pub fn config(&self) -> &FailoverConfig {
        &self.inner.config
    }

    /// The site serving traffic.
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
    /// assert_eq!(orchestrator.active_site(), "primary");
    /// orchestrator.failover(Trigger::new("drill")).await.unwrap();
    /// assert_eq!(orchestrator.active_site(), "secondary");
    /// # }
    /// ```
    pub fn active_site(&self) -> &str {
        if self.inner.state.lock().on_secondary {
            &self.inner.config.secondary
        } else {
            &self.inner.config.primary
        }
    }

    /// The running direction, if a run is in progress.
    ///
    /// ```
    /// use resilience_dr::failover::{FailoverActions, FailoverConfig, Orchestrator};
    /// let orchestrator = Orchestrator::new(
    ///     FailoverConfig { require_approval: false, ..Default::default() },
    ///     FailoverActions::new(|_| async { Ok::<(), &str>(()) }, |_| async { Ok::<(), &str>(()) }),
    /// )
    /// .unwrap();
    /// assert_eq!(orchestrator.running(), None);
    /// ```
    pub fn running(&self) -> Option<Direction> {
        self.inner.state.lock().running
    }

    /// When traffic last moved.
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
    /// assert!(orchestrator.last_switch().is_none());
    /// orchestrator.failover(Trigger::new("drill")).await.unwrap();
    /// assert!(orchestrator.last_switch().is_some());
    /// # }
    /// ```
    pub fn last_switch(&self) -> Option<Instant> {
        self.inner.state.lock().last_switch
    }

    /// Restores state after a restart of the host process: the active site
    /// and when traffic last moved (for the anti-flap window).
    ///
    /// ```
    /// use resilience_dr::failover::{FailoverActions, FailoverConfig, Orchestrator};
    /// let o = Orchestrator::new(
    ///     FailoverConfig { require_approval: false, ..Default::default() },
    ///     FailoverActions::new(|_| async { Ok::<(), &str>(()) }, |_| async { Ok::<(), &str>(()) }),
    /// ).unwrap();
    /// o.restore("secondary", None).unwrap();
    /// assert_eq!(o.active_site(), "secondary");
    /// assert!(o.restore("mars", None).is_err());
    /// ```
    pub fn restore(
        &self,
        active_site: &str,
        last_switch: Option<Instant>,
    ) -> Result<(), FailoverError> {
        let c = &self.inner.config;
        let on_secondary = if active_site == c.primary {
            false
        } else if active_site == c.secondary {
            true
        } else {
            return Err(FailoverError::UnknownSite {
                site: active_site.to_string(),
            });
        };
        let mut s = self.inner.state.lock();
        if let Some(d) = s.running {
            return Err(FailoverError::AlreadyRunning { running: d });
        }
        s.on_secondary = on_secondary;
        s.last_switch = last_switch;
        Ok(())
    }

    /// Pauses the running run before its next phase or attempt. Returns
    /// whether a run is in progress.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use resilience_dr::failover::*;
    /// let orchestrator = Orchestrator::new(
    ///     FailoverConfig { require_approval: false, ..Default::default() },
    ///     FailoverActions::new(|_| async { Ok::<(), &str>(()) }, |_| async { Ok::<(), &str>(()) })
    ///         .prepare("promote_standby", |_| async {
    ///             tokio::time::sleep(Duration::from_secs(30)).await;
    ///             Ok::<(), &str>(())
    ///         }),
    /// )
    /// .unwrap();
    /// let o = orchestrator.clone();
    /// let run = tokio::spawn(async move { o.failover(Trigger::new("region down")).await });
    /// tokio::time::sleep(Duration::from_secs(1)).await; // preparing
    /// assert!(orchestrator.pause());
    /// tokio::time::sleep(Duration::from_secs(600)).await; // an operator investigates
    /// assert!(!run.is_finished());
    /// orchestrator.resume();
    /// let report = run.await.unwrap().unwrap();
    /// assert_eq!(report.objectives.paused_for, Duration::from_secs(571));
    /// # }
    /// ```
    pub fn pause(&self) -> bool {
        self.control(Control::Pause)
    }

    /// Resumes a paused run. Returns whether a run is in progress.
    ///
    /// ```
    /// use resilience_dr::failover::{FailoverActions, FailoverConfig, Orchestrator};
    /// let orchestrator = Orchestrator::new(
    ///     FailoverConfig { require_approval: false, ..Default::default() },
    ///     FailoverActions::new(|_| async { Ok::<(), &str>(()) }, |_| async { Ok::<(), &str>(()) }),
    /// )
    /// .unwrap();
    /// assert!(!orchestrator.resume()); // nothing running
    /// ```
    pub fn resume(&self) -> bool {
        self.control(Control::Run)
    }

    /// Stops the running run before its next phase or attempt (before the
    /// switch: [`Aborted`](FailoverOutcome::Aborted), traffic stays; after:
    /// [`Failed`](FailoverOutcome::Failed)). Returns whether a run is in
    /// progress.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use resilience_dr::failover::*;
    /// let orchestrator = Orchestrator::new(
    ///     FailoverConfig { require_approval: false, ..Default::default() },
    ///     FailoverActions::new(|_| async { Ok::<(), &str>(()) }, |_| async { Ok::<(), &str>(()) })
    ///         .prepare("promote_standby", |_| async {
    ///             tokio::time::sleep(Duration::from_secs(30)).await;
    ///             Ok::<(), &str>(())
    ///         }),
    /// )
    /// .unwrap();
    /// let o = orchestrator.clone();
    /// let run = tokio::spawn(async move { o.failover(Trigger::new("region down")).await });
    /// tokio::time::sleep(Duration::from_secs(1)).await; // preparing
    /// assert!(orchestrator.abort("primary recovered"));
    /// let report = run.await.unwrap().unwrap();
    /// assert!(matches!(report.outcome, FailoverOutcome::Aborted { .. }));
    /// assert_eq!(orchestrator.active_site(), "primary");
    /// # }
    /// ```
    pub fn abort(&self, reason: impl Into<String>) -> bool {
        self.control(Control::Abort(reason.into()))
    }

    fn control(&self, c: Control) -> bool {
        let running = self.inner.state.lock().running.is_some();
        if running {
            metrics::gauge!("resilience_failover_paused").set(if c == Control::Pause {
                1.0
            } else {
                0.0
            });
            self.inner.control.send_replace(c);
        }
        running
    }

    /// Moves traffic from the primary to the secondary.
    ///
    /// Returns `Err` only when the run is refused before starting (already
    /// running, anti-flap window, already on the secondary); every started
    /// run returns a [`FailoverReport`] whatever its outcome.
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
    /// use resilience_dr::failover::{FailoverError, FailoverOutcome, Trigger};
    /// let report = orchestrator.failover(Trigger::new("region down")).await.unwrap();
    /// assert_eq!(report.outcome, FailoverOutcome::Completed);
    /// // already on the secondary: refused, nothing done
    /// assert!(matches!(
    ///     orchestrator.failover(Trigger::new("again")).await,
    ///     Err(FailoverError::WrongSite { .. })
    /// ));
    /// # }
    /// ```
    pub async fn failover(&self, trigger: Trigger) -> Result<FailoverReport, FailoverError> {
        self.run(Direction::Failover, trigger).await
    }

    /// Moves traffic back from the secondary to the primary, through the same
    /// phases, always behind the manual validation gate.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use resilience_dr::failover::*;
    /// let gate = ApprovalGate::new();
    /// let orchestrator = Orchestrator::new(
    ///     FailoverConfig { require_approval: false, anti_flap_window: Duration::from_secs(60), ..Default::default() },
    ///     FailoverActions::new(|_| async { Ok::<(), &str>(()) }, |_| async { Ok::<(), &str>(()) })
    ///         .approval_gate(gate.clone()),
    /// )
    /// .unwrap();
    /// orchestrator.failover(Trigger::new("region down")).await.unwrap();
    /// tokio::time::sleep(Duration::from_secs(3600)).await; // home recovers
    /// let g = gate.clone();
    /// tokio::spawn(async move {
    ///     while !g.is_waiting() { tokio::time::sleep(Duration::from_secs(1)).await; }
    ///     g.approve("validated by oncall"); // manual validation before traffic returns
    /// });
    /// let back = orchestrator.failback(Trigger::new("home healthy")).await.unwrap();
    /// assert_eq!(back.outcome, FailoverOutcome::Completed);
    /// assert_eq!(orchestrator.active_site(), "primary");
    /// # }
    /// ```
    pub async fn failback(&self, trigger: Trigger) -> Result<FailoverReport, FailoverError> {
        self.run(Direction::Failback, trigger).await
    }

    /// Rolls a failover back during its validation: "on-call confirms or
    /// rolls back". Allowed within `rollback_window` (default 15 min) of the
    /// failover's switch, **without** waiting for the anti-flap window, and
    /// always behind the approval gate; then the same phases as a failback
    /// (the DR site is fenced). After the window, use
    /// [`failback`](Self::failback).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use resilience_dr::failover::*;
    /// let orchestrator = Orchestrator::new(
    ///     FailoverConfig { require_approval: false, ..Default::default() },
    ///     FailoverActions::new(|_| async { Ok::<(), &str>(()) }, |_| async { Ok::<(), &str>(()) })
    ///         .approve(|_| async { Ok::<_, &str>(Approval::approved("oncall")) }),
    /// )
    /// .unwrap();
    /// orchestrator.failover(Trigger::new("region down")).await.unwrap();
    /// tokio::time::sleep(Duration::from_secs(180)).await; // smoke tests fail on the DR site
    /// let back = orchestrator.rollback(Trigger::new("validation failed")).await.unwrap();
    /// assert_eq!(back.outcome, FailoverOutcome::Completed);
    /// assert_eq!(orchestrator.active_site(), "primary");
    /// # }
    /// ```
    pub async fn rollback(&self, trigger: Trigger) -> Result<FailoverReport, FailoverError> {
        self.run(Direction::Rollback, trigger).await
    }

    async fn run(
        &self,
        direction: Direction,
        trigger: Trigger,
    ) -> Result<FailoverReport, FailoverError> {
        let guard = match self.begin(direction) {
            Ok(g) => g,
            Err(e) => {
                metrics::counter!("resilience_failover_refused_total",
                    "direction" => direction.as_str(), "reason" => e.label())
                .increment(1);
                return Err(e);
            }
        };
        let c = &self.inner.config;
        let (from, to) = match direction {
            Direction::Failover => (c.primary.clone(), c.secondary.clone()),
            Direction::Failback | Direction::Rollback => (c.secondary.clone(), c.primary.clone()),
        };
        let run = Run {
            o: &self.inner,
            direction,
            from,
            to,
            start: self.inner.clock.now(),
            outage_began: trigger.outage_began,
            log: Mutex::new(Log::default()),
        };
        let outcome = run.execute(&trigger.reason).await;
        let report = run.finish(outcome);
        drop(guard);
        Ok(report)
    }

    fn begin(&self, direction: Direction) -> Result<RunningGuard<'_>, FailoverError> {
        let now = self.inner.clock.now();
        let c = &self.inner.config;
        let mut s = self.inner.state.lock();
        if let Some(running) = s.running {
            return Err(FailoverError::AlreadyRunning { running });
        }
        let wrong = match direction {
            Direction::Failover => s.on_secondary,
            Direction::Failback | Direction::Rollback => !s.on_secondary,
        };
        if wrong {
            return Err(FailoverError::WrongSite {
                direction,
                active: if s.on_secondary {
                    c.secondary.clone()
                } else {
                    c.primary.clone()
                },
            });
        }
        if direction != Direction::Failover && self.inner.actions.approve.is_none() {
            return Err(FailoverError::NoApprovalGate);
        }
        if direction == Direction::Rollback {
            let ago = s.last_switch.map(|l| now.saturating_duration_since(l));
            if ago.is_none_or(|a| a >= c.rollback_window) {
                return Err(FailoverError::RollbackWindowClosed { switched_ago: ago });
            }
        } else if let Some(last) = s.last_switch {
            let since = now.saturating_duration_since(last);
            if since < c.anti_flap_window {
                return Err(FailoverError::AntiFlap {
                    retry_in: c.anti_flap_window.saturating_sub(since),
                });
            }
        }
        s.running = Some(direction);
        self.inner.control.send_replace(Control::Run);
        metrics::counter!("resilience_failover_started_total", "direction" => direction.as_str())
            .increment(1);
        Ok(RunningGuard(&self.inner))
    }
}

/// Clears the running flag even if the run's future is dropped.
struct RunningGuard<'a>(&'a Inner);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.state.lock().running = None;
        self.0.control.send_replace(Control::Run);
        metrics::gauge!("resilience_failover_paused").set(0.0);
    }
}

#[derive(Debug, Default)]
struct Log {
    timeline: Vec<TimelineEntry>,
    phases: Vec<PhaseRecord>,
    guard: Option<GuardReport>,
    switched_at: Option<Instant>,
    restored_at: Option<Instant>,
    paused_for: Duration,
}

struct Run<'a> {
    o: &'a Inner,
    direction: Direction,
    from: String,
    to: String,
    start: Instant,
    outage_began: Option<Instant>,
    log: Mutex<Log>,
}

enum StepFail {
    Exhausted(String),
    Aborted(String),
}

impl Run<'_> {
    fn now(&self) -> Instant {
        self.o.clock.now()
    }

    fn emit(&self, event: FailoverEvent) {
        let at = self.now().saturating_duration_since(self.start);
        #[cfg(feature = "tracing")]
        {
            let entry = TimelineEntry {
                at,
                event: event.clone(),
            };
            match &event {
                FailoverEvent::Alert {
                    severity: Severity::Critical,
                    ..
                } => {
                    tracing::error!(direction = %self.direction, "{entry}")
                }
                FailoverEvent::Alert { .. } | FailoverEvent::AttemptFailed { .. } => {
                    tracing::warn!(direction = %self.direction, "{entry}")
                }
                _ => tracing::info!(direction = %self.direction, "{entry}"),
            }
        }
        if let FailoverEvent::Alert { severity, .. } = &event {
            metrics::counter!("resilience_failover_alerts_total",
                "severity" => match severity { Severity::Warning => "warning", Severity::Critical => "critical" })
            .increment(1);
        }
        self.o.listeners.emit(&event);
        self.log.lock().timeline.push(TimelineEntry { at, event });
    }

    fn alert(&self, severity: Severity, message: String) {
        self.emit(FailoverEvent::Alert { severity, message });
    }

    fn ctx(&self, phase: Phase) -> StepContext {
        StepContext {
            direction: self.direction,
            phase,
            from: self.from.clone(),
            to: self.to.clone(),
            attempt: 1,
            dns_ttl: self.o.config.dns_ttl,
            guard: self.log.lock().guard.clone().map(Arc::new),
        }
    }

    fn record(&self, phase: Phase, started: Instant, attempts: u32, succeeded: bool) {
        let took = self.now().saturating_duration_since(started);
        metrics::histogram!("resilience_failover_phase_seconds", "phase" => phase.as_str())
            .record(took.as_secs_f64());
        if succeeded {
            self.emit(FailoverEvent::PhaseSucceeded { phase, took });
        }
        self.log.lock().phases.push(PhaseRecord {
            phase,
            attempts,
            took,
            succeeded,
        });
    }

    /// Waits while paused; returns the abort reason if aborted.
    async fn checkpoint(&self) -> Result<(), String> {
        let mut rx = self.o.control.subscribe();
        let mut paused_at: Option<Instant> = None;
        let result = loop {
            let c = rx.borrow_and_update().clone();
            match c {
                Control::Run => break Ok(()),
                Control::Abort(r) => break Err(r),
                Control::Pause => {
                    if paused_at.is_none() {
                        paused_at = Some(self.now());
                        self.emit(FailoverEvent::Paused);
                    }
                    if rx.changed().await.is_err() {
                        break Ok(());
                    }
                }
            }
        };
        if let Some(p) = paused_at {
            let paused_for = self.now().saturating_duration_since(p);
            let mut log = self.log.lock();
            log.paused_for = log.paused_for.saturating_add(paused_for);
            drop(log);
            self.emit(FailoverEvent::Resumed { paused_for });
        }
        result
    }

    async fn attempt_loop<T>(
        &self,
        phase: Phase,
        name: &str,
        policy: StepPolicy,
        action: &Action<T>,
        check: impl Fn(&T) -> Result<(), String>,
    ) -> Result<(T, u32), StepFail> {
        let mut last = String::new();
        for attempt in 1..=policy.attempts {
            self.checkpoint().await.map_err(StepFail::Aborted)?;
            let mut ctx = self.ctx(phase);
            ctx.attempt = attempt;
            let err = match tokio::time::timeout(policy.timeout, action(ctx)).await {
                Ok(Ok(v)) => match check(&v) {
                    Ok(()) => return Ok((v, attempt)),
                    Err(e) => e,
                },
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("timed out after {}", fmt_duration(policy.timeout)),
            };
            let retry_in = (attempt < policy.attempts)
                .then(|| policy.backoff().delay(attempt.saturating_sub(1)));
            metrics::counter!("resilience_failover_attempt_failures_total", "phase" => phase.as_str())
                .increment(1);
            self.emit(FailoverEvent::AttemptFailed {
                phase,
                action: name.to_string(),
                attempt,
                error: err.clone(),
                retry_in,
            });
            last = err;
            if let Some(d) = retry_in {
                tokio::time::sleep(d).await;
            }
        }
        Err(StepFail::Exhausted(last))
    }

    /// Runs one single-action phase with its policy, recording it.
    async fn step<T>(
        &self,
        phase: Phase,
        action: &Action<T>,
        check: impl Fn(&T) -> Result<(), String>,
    ) -> Result<T, StepFail> {
        let started = self.now();
        self.emit(FailoverEvent::PhaseStarted { phase });
        let policy = self.o.config.steps.for_phase(phase);
        match self
            .attempt_loop(phase, phase.as_str(), policy, action, check)
            .await
        {
            Ok((v, n)) => {
                self.record(phase, started, n, true);
                Ok(v)
            }
            Err(e) => {
                let attempts = match &e {
                    StepFail::Exhausted(_) => policy.attempts,
                    StepFail::Aborted(_) => 0,
                };
                self.record(phase, started, attempts, false);
                Err(e)
            }
        }
    }

    fn aborted(&self, phase: Phase, e: StepFail, what: &str) -> FailoverOutcome {
        let reason = match e {
            StepFail::Exhausted(err) => format!("{what}: {err}"),
            StepFail::Aborted(r) => format!("aborted by operator: {r}"),
        };
        FailoverOutcome::Aborted { phase, reason }
    }

    fn failed_after_switch(&self, phase: Phase, e: StepFail, what: &str) -> FailoverOutcome {
        let reason = match e {
            StepFail::Exhausted(err) => format!("{what}: {err}"),
            StepFail::Aborted(r) => format!("aborted by operator after traffic switched: {r}"),
        };
        FailoverOutcome::Failed { phase, reason }
    }

    /// The run, phase by phase: each phase either lets the run go on or
    /// ends it with an outcome. Reconcile is last and always decides the
    /// outcome.
    async fn execute(&self, reason: &str) -> FailoverOutcome {
        self.emit(FailoverEvent::Started {
            direction: self.direction,
            from: self.from.clone(),
            to: self.to.clone(),
            reason: reason.to_string(),
        });
        match self.switch_over().await {
            Ok(()) => self.reconcile().await,
            Err(stop) => stop,
        }
    }

    /// Every phase up to and including fencing the old primary.
    async fn switch_over(&self) -> Result<(), FailoverOutcome> {
        self.detect().await?;
        self.guard().await?;
        self.prepare().await?;
        self.approve().await?;
        self.switch().await?;
        self.verify().await?;
        self.fence().await?;
        self.communicate().await;
        Ok(())
    }

    /// Detect: the host confirms the outage (or, for failback, that the
    /// home site is healthy).
    async fn detect(&self) -> Result<(), FailoverOutcome> {
        let Some(detect) = &self.o.actions.detect else {
            self.emit(FailoverEvent::PhaseSkipped {
                phase: Phase::Detect,
            });
            return Ok(());
        };
        let what = match self.direction {
            Direction::Failover => "outage not confirmed",
            Direction::Failback | Direction::Rollback => "home site not confirmed healthy",
        };
        match self.step(Phase::Detect, detect, |_| Ok(())).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(FailoverOutcome::Aborted {
                phase: Phase::Detect,
                reason: format!("{what}: the detect action said no"),
            }),
            Err(e) => Err(self.aborted(Phase::Detect, e, what)),
        }
    }

    /// Prepare: every action in parallel, each with its own retries.
    async fn prepare(&self) -> Result<(), FailoverOutcome> {
        let prepare = &self.o.actions.prepare;
        if prepare.is_empty() {
            self.emit(FailoverEvent::PhaseSkipped {
                phase: Phase::Prepare,
            });
            return Ok(());
        }
        let started = self.now();
        self.emit(FailoverEvent::PhaseStarted {
            phase: Phase::Prepare,
        });
        let policy = self.o.config.steps.for_phase(Phase::Prepare);
        let results = join_all(prepare.iter().map(|(name, action)| async move {
            (
                name,
                self.attempt_loop(Phase::Prepare, name, policy, action, |_| Ok(()))
                    .await,
            )
        }))
        .await;
        let mut attempts = 0;
        let mut errors = Vec::new();
        let mut abort = None;
        for (name, r) in results {
            match r {
                Ok(((), n)) => attempts = attempts.max(n),
                Err(StepFail::Exhausted(e)) => {
                    attempts = policy.attempts;
                    errors.push(format!("{name}: {e}"));
                }
                Err(StepFail::Aborted(r)) => abort = Some(r),
            }
        }
        let ok = errors.is_empty() && abort.is_none();
        self.record(Phase::Prepare, started, attempts, ok);
        if let Some(r) = abort {
            return Err(self.aborted(Phase::Prepare, StepFail::Aborted(r), ""));
        }
        if !ok {
            return Err(FailoverOutcome::Aborted {
                phase: Phase::Prepare,
                reason: format!("preparation failed: {}", errors.join("; ")),
            });
        }
        Ok(())
    }

    /// Guard: replication lag against each data type's recovery point
    /// objective; a breach alerts, and aborts when configured to.
    async fn guard(&self) -> Result<(), FailoverOutcome> {
        let c = &self.o.config;
        let Some(guard) = &self.o.actions.guard else {
            self.emit(FailoverEvent::PhaseSkipped {
                phase: Phase::Guard,
            });
            return Ok(());
        };
        let held_since = self.now();
        let (report, breached) = loop {
            let status = match self.step(Phase::Guard, guard, |_| Ok(())).await {
                Ok(s) => s,
                Err(e) => return Err(self.aborted(Phase::Guard, e, "replication lag unknown")),
            };
            let report = evaluate(c, &status);
            self.report_lag(&report);
            let breached = report.breached();
            let held = self.now().saturating_duration_since(held_since);
            if !breached || !c.abort_on_rpo_breach || held >= c.rpo_hold {
                break (report, breached);
            }
            // Hold: nothing is promoted yet; measure again.
            let wait = c.rpo_recheck.min(c.rpo_hold.saturating_sub(held));
            self.emit(FailoverEvent::Waiting {
                what: "replication lag back within the RPO".into(),
                duration: wait,
            });
            tokio::time::sleep(wait).await;
            if let Err(r) = self.checkpoint().await {
                return Err(self.aborted(Phase::Guard, StepFail::Aborted(r), ""));
            }
        };
        let reasons: Vec<String> = report
            .findings
            .iter()
            .filter_map(|f| match &f.verdict {
                LagVerdict::Breach { reason } => Some(reason.clone()),
                _ => None,
            })
            .collect();
        self.log.lock().guard = Some(report);
        if breached && c.abort_on_rpo_breach {
            return Err(FailoverOutcome::Aborted {
                phase: Phase::Guard,
                reason: reasons.join("; "),
            });
        }
        Ok(())
    }

    /// The guard's findings as metrics and alerts.
    fn report_lag(&self, report: &GuardReport) {
        for f in &report.findings {
            metrics::gauge!("resilience_failover_data_loss_seconds",
                "data_type" => f.data_type.clone())
            .set(f.data_loss_window.map_or(f64::NAN, |d| d.as_secs_f64()));
            match &f.verdict {
                LagVerdict::Ok => {}
                LagVerdict::Warn => self.alert(
                    Severity::Warning,
                    format!(
                        "Potential data loss: {} is {} behind",
                        f.data_type,
                        f.lag.map_or_else(|| "?".into(), fmt_duration)
                    ),
                ),
                LagVerdict::Breach { reason } => {
                    self.alert(Severity::Critical, format!("RPO breach: {reason}"))
                }
            }
        }
    }

    /// Approve: the manual gate (always for failback); no decision within
    /// the timeout means "not approved".
    async fn approve(&self) -> Result<(), FailoverOutcome> {
        let c = &self.o.config;
        let needs_approval = self.direction != Direction::Failover || c.require_approval;
        let approve = match (&self.o.actions.approve, needs_approval) {
            (_, false) => {
                self.emit(FailoverEvent::PhaseSkipped {
                    phase: Phase::Approve,
                });
                return Ok(());
            }
            (None, true) => {
                return Err(FailoverOutcome::NotApproved {
                    reason: "approval required but no approve action is configured".into(),
                })
            }
            (Some(approve), true) => approve,
        };
        if let Err(r) = self.checkpoint().await {
            return Err(self.aborted(Phase::Approve, StepFail::Aborted(r), ""));
        }
        let started = self.now();
        self.emit(FailoverEvent::PhaseStarted {
            phase: Phase::Approve,
        });
        self.emit(FailoverEvent::AwaitingApproval {
            timeout: c.approval_timeout,
        });
        let decision =
            tokio::time::timeout(c.approval_timeout, approve(self.ctx(Phase::Approve))).await;
        let refused = match decision {
            Ok(Ok(Approval::Approved { by })) => {
                self.emit(FailoverEvent::Approved { by });
                None
            }
            Ok(Ok(Approval::Rejected { by, reason })) => {
                Some(format!("rejected by {by}: {reason}"))
            }
            Ok(Err(e)) => Some(format!("approval action failed: {e}")),
            Err(_) => Some(format!(
                "no decision within {}",
                fmt_duration(c.approval_timeout)
            )),
        };
        self.record(Phase::Approve, started, 1, refused.is_none());
        if let Some(reason) = refused {
            self.alert(
                Severity::Warning,
                format!(
                    "{} not approved ({reason}), staying on {}",
                    self.direction, self.from
                ),
            );
            return Err(FailoverOutcome::NotApproved { reason });
        }
        Ok(())
    }

    /// Switch: traffic moves; a failed switch may have split it.
    async fn switch(&self) -> Result<(), FailoverOutcome> {
        match self
            .step(Phase::Switch, &self.o.actions.switch, |_| Ok(()))
            .await
        {
            Ok(()) => {
                let now = self.now();
                {
                    let mut s = self.o.state.lock();
                    s.on_secondary = self.direction == Direction::Failover;
                    s.last_switch = Some(now);
                }
                self.log.lock().switched_at = Some(now);
                Ok(())
            }
            Err(StepFail::Aborted(r)) => Err(self.aborted(Phase::Switch, StepFail::Aborted(r), "")),
            Err(StepFail::Exhausted(e)) => {
                self.alert(
                    Severity::Critical,
                    format!(
                        "traffic switch to {} failed ({e}); traffic may be split between {} and {}",
                        self.to, self.from, self.to
                    ),
                );
                Err(FailoverOutcome::Failed {
                    phase: Phase::Switch,
                    reason: format!("switch failed: {e}"),
                })
            }
        }
    }

    /// Propagation wait, then Verify: the new primary is healthy.
    async fn verify(&self) -> Result<(), FailoverOutcome> {
        let wait = self.o.config.propagation_wait;
        if !wait.is_zero() {
            self.emit(FailoverEvent::Waiting {
                what: "traffic switch propagation".into(),
                duration: wait,
            });
            tokio::time::sleep(wait).await;
        }
        match &self.o.actions.verify {
            None => self.emit(FailoverEvent::PhaseSkipped {
                phase: Phase::Verify,
            }),
            Some(verify) => {
                if let Err(e) = self.step(Phase::Verify, verify, |_| Ok(())).await {
                    self.alert(
                        Severity::Critical,
                        format!("{} unhealthy after {}!", self.to, self.direction),
                    );
                    return Err(self.failed_after_switch(Phase::Verify, e, "verification failed"));
                }
            }
        }
        self.log.lock().restored_at = Some(self.now());
        Ok(())
    }

    /// Fence the old primary; an unfenced old primary is a split-brain risk.
    async fn fence(&self) -> Result<(), FailoverOutcome> {
        if let Err(e) = self
            .step(Phase::Fence, &self.o.actions.fence, |_| Ok(()))
            .await
        {
            self.alert(
                Severity::Critical,
                format!(
                    "old primary {} is not fenced: split-brain risk, fence it by hand",
                    self.from
                ),
            );
            return Err(self.failed_after_switch(Phase::Fence, e, "fencing failed"));
        }
        Ok(())
    }

    /// Communicate: the status page, stakeholders and users hear where
    /// traffic is. A failed notification is a warning, never a reason to
    /// undo the run.
    async fn communicate(&self) {
        let Some(hooks) = &self.o.actions.communication else {
            self.emit(FailoverEvent::PhaseSkipped {
                phase: Phase::Communicate,
            });
            return;
        };
        let started = self.now();
        self.emit(FailoverEvent::PhaseStarted {
            phase: Phase::Communicate,
        });
        let recovery_time = self
            .log
            .lock()
            .restored_at
            .map(|t| t.saturating_duration_since(self.outage_began.unwrap_or(self.start)));
        let message = match self.direction {
            Direction::Failover => format!("Operating from backup region {}", self.to),
            Direction::Failback => format!("Back on {}: normal operation", self.to),
            Direction::Rollback => {
                format!("Failover rolled back: operating from {} again", self.to)
            }
        };
        let notice = Notice {
            direction: self.direction,
            from: self.from.clone(),
            to: self.to.clone(),
            message,
            recovery_time,
            rto_met: recovery_time.map(|t| t <= self.o.config.rto),
        };
        let policy = self.o.config.steps.for_phase(Phase::Communicate);
        let mut failed = Vec::new();
        let mut attempts = 0;
        for (name, which) in [("status_page", 0u8), ("stakeholders", 1), ("users", 2)] {
            let hooks = Arc::clone(hooks);
            let n = notice.clone();
            let action: Action<()> = Arc::new(move |_ctx| {
                let fut = match which {
                    0 => hooks.status_page(&n),
                    1 => hooks.stakeholders(&n),
                    _ => hooks.users(&n),
                };
                Box::pin(async move { fut.await.map_err(Into::into) })
            });
            match self
                .attempt_loop(Phase::Communicate, name, policy, &action, |_| Ok(()))
                .await
            {
                Ok(((), k)) => attempts = attempts.max(k),
                Err(StepFail::Exhausted(e)) => {
                    attempts = policy.attempts;
                    failed.push(format!("{name}: {e}"));
                }
                Err(StepFail::Aborted(r)) => failed.push(format!("{name}: aborted: {r}")),
            }
        }
        self.record(Phase::Communicate, started, attempts, failed.is_empty());
        if !failed.is_empty() {
            self.alert(
                Severity::Warning,
                format!(
                    "communication incomplete, tell people by hand: {}",
                    failed.join("; ")
                ),
            );
        }
    }

    /// Reconcile: counts and consumer lag back within tolerance; the run
    /// completes either way, unreconciled with an alert when they are not —
    /// except when a count is **zero** on the new primary while the old one
    /// had data: an empty DR database is a critical failure.
    async fn reconcile(&self) -> FailoverOutcome {
        let c = &self.o.config;
        let Some(reconcile) = &self.o.actions.reconcile else {
            self.emit(FailoverEvent::PhaseSkipped {
                phase: Phase::Reconcile,
            });
            return FailoverOutcome::Completed;
        };
        let (tol, lag) = (c.reconcile.count_tolerance, c.reconcile.max_consumer_lag);
        let last = Mutex::new(None::<super::Reconciliation>);
        let required = &c.reconcile.required_counts;
        let check = |r: &super::Reconciliation| {
            *last.lock() = Some(r.clone());
            let mut p = r.problems(tol, lag);
            p.extend(
                r.counts
                    .iter()
                    .filter(|c| c.actual == 0 && c.reconcile_required(required))
                    .map(|c| format!("{} is empty on the new primary", c.name)),
            );
            if p.is_empty() {
                Ok(())
            } else {
                Err(p.join("; "))
            }
        };
        match self.step(Phase::Reconcile, reconcile, check).await {
            Ok(_) => FailoverOutcome::Completed,
            Err(e) => {
                let empty: Vec<String> = last
                    .lock()
                    .iter()
                    .flat_map(|r| r.counts.iter())
                    .filter(|c| c.actual == 0 && (c.expected > 0 || c.reconcile_required(required)))
                    .map(|c| {
                        if c.expected > 0 {
                            format!(
                                "no {} in the {} database (the old primary had {})",
                                c.name, self.to, c.expected
                            )
                        } else {
                            format!(
                                "no {} in the {} database (required to be non-empty)",
                                c.name, self.to
                            )
                        }
                    })
                    .collect();
                if !empty.is_empty() {
                    let reason = empty.join("; ");
                    self.alert(Severity::Critical, format!("critical: {reason}"));
                    return FailoverOutcome::Failed {
                        phase: Phase::Reconcile,
                        reason,
                    };
                }
                let reason = match e {
                    StepFail::Exhausted(e) => e,
                    StepFail::Aborted(r) => format!("aborted by operator: {r}"),
                };
                self.alert(
                    Severity::Warning,
                    format!("reconciliation needed on {}: {reason}", self.to),
                );
                FailoverOutcome::CompletedUnreconciled { reason }
            }
        }
    }

    fn finish(self, outcome: FailoverOutcome) -> FailoverReport {
        self.emit(FailoverEvent::Finished {
            outcome: outcome.clone(),
        });
        metrics::counter!("resilience_failover_runs_total",
            "direction" => self.direction.as_str(), "outcome" => outcome.as_str())
        .increment(1);
        let log = self.log.into_inner();
        let origin = self.outage_began.unwrap_or(self.start);
        let since_origin = |t: Option<Instant>| t.map(|t| t.saturating_duration_since(origin));
        let recovery_time = since_origin(log.restored_at);
        if let Some(r) = recovery_time {
            metrics::histogram!("resilience_failover_recovery_seconds",
                "direction" => self.direction.as_str())
            .record(r.as_secs_f64());
        }
        let data_loss = log
            .guard
            .iter()
            .flat_map(|g| g.findings.iter())
            .filter_map(|f| {
                f.data_loss_window.map(|window| DataLoss {
                    data_type: f.data_type.clone(),
                    window,
                    rpo: f.rpo,
                })
            })
            .collect();
        let classes = self
            .o
            .config
            .objectives
            .iter()
            .map(|o| ClassRecovery {
                data_type: o.data_type.clone(),
                rpo: o.rpo,
                rto: o.rto.unwrap_or(self.o.config.rto),
                data_loss_window: log
                    .guard
                    .iter()
                    .flat_map(|g| g.findings.iter())
                    .find(|f| f.data_type == o.data_type)
                    .and_then(|f| f.data_loss_window),
                recovery_time,
            })
            .collect();
        FailoverReport {
            direction: self.direction,
            from: self.from,
            to: self.to,
            outcome,
            started_at: self.start,
            phases: log.phases,
            timeline: log.timeline,
            guard: log.guard,
            objectives: RtoRpoReport {
                detection_time: self
                    .outage_began
                    .map(|b| self.start.saturating_duration_since(b)),
                time_to_switch: since_origin(log.switched_at),
                recovery_time,
                rto: self.o.config.rto,
                data_loss,
                paused_for: log.paused_for,
                classes,
            },
        }
    }
}

/// The guard's rules, per configured objective.
fn evaluate(config: &FailoverConfig, status: &ReplicationStatus) -> GuardReport {
    let findings = config
        .objectives
        .iter()
        .map(
            |o| match status.lags.iter().find(|l| l.data_type == o.data_type) {
                None => GuardFinding {
                    data_type: o.data_type.clone(),
                    lag: None,
                    synchronous: false,
                    rpo: o.rpo,
                    data_loss_window: None,
                    verdict: LagVerdict::Breach {
                        reason: format!(
                            "no replication status reported for {}; cannot bound its data loss",
                            o.data_type
                        ),
                    },
                },
                Some(l) => {
                    let window = l.data_loss_window();
                    let verdict = if o.requires_synchronous() && !l.synchronous {
                        LagVerdict::Breach {
                            reason: format!(
                                "{} has RPO 0, which requires synchronous replication, but it \
                             replicates asynchronously ({} behind)",
                                o.data_type,
                                fmt_duration(l.lag)
                            ),
                        }
                    } else if window > o.rpo {
                        LagVerdict::Breach {
                            reason: format!(
                                "{} is {} behind, over its RPO of {}",
                                o.data_type,
                                fmt_duration(window),
                                fmt_duration(o.rpo)
                            ),
                        }
                    } else if o.acceptable_lag.is_some_and(|a| window > a) {
                        LagVerdict::Warn
                    } else {
                        LagVerdict::Ok
                    };
                    GuardFinding {
                        data_type: o.data_type.clone(),
                        lag: Some(l.lag),
                        synchronous: l.synchronous,
                        rpo: o.rpo,
                        data_loss_window: Some(window),
                        verdict,
                    }
                }
            },
        )
        .collect();
    GuardReport { findings }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn error_messages_round_measured_durations() {
        let e = FailoverError::AntiFlap {
            retry_in: Duration::from_nanos(599_123_456_789),
        };
        assert!(
            e.to_string().ends_with("a new switch is allowed in 10m"),
            "{e}"
        );
        let e = FailoverError::RollbackWindowClosed {
            switched_ago: Some(Duration::from_nanos(3_600_000_400_001)),
        };
        assert!(
            e.to_string()
                .starts_with("the failover switched traffic 1h ago"),
            "{e}"
        );
    }

    #[test]
    fn run_futures_are_send() {
        let o = Orchestrator::new(
            FailoverConfig {
                require_approval: false,
                ..Default::default()
            },
            FailoverActions::new(
                |_| async { Ok::<(), &str>(()) },
                |_| async { Ok::<(), &str>(()) },
            ),
        )
        .unwrap();
        let f = o.failover(Trigger::new("x"));
        assert_send(&f);
        let g = o.failback(Trigger::new("x"));
        assert_send(&g);
    }
}
