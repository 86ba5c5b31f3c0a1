//! The host's actions for each phase, and the values they return.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::watch;

use super::{Direction, GuardReport, Phase};
use crate::BoxError;

/// What every action is told when it runs.
///
/// `from` is the site traffic leaves and `to` the site it goes to: for a
/// failover, primary → secondary; for a failback, the reverse. The same
/// action code therefore serves both directions.
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::failover::{Direction, Phase, StepContext};
/// let ctx = StepContext {
///     direction: Direction::Failover,
///     phase: Phase::Switch,
///     from: "us-east-1".into(),
///     to: "us-west-2".into(),
///     attempt: 1,
///     dns_ttl: Duration::from_secs(60),
///     guard: None,
/// };
/// assert_eq!(ctx.to, "us-west-2");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct StepContext {
    /// Failover or failback.
    pub direction: Direction,
    /// The phase running.
    pub phase: Phase,
    /// Site traffic leaves (the old primary, fenced in [`Phase::Fence`]).
    pub from: String,
    /// Site traffic goes to.
    pub to: String,
    /// Attempt number within the phase, from 1.
    pub attempt: u32,
    /// The DNS TTL to set when switching.
    pub dns_ttl: Duration,
    /// The guard's findings, once the guard has run (the approver sees them).
    pub guard: Option<Arc<GuardReport>>,
}

/// Replication lag of one data type, as the guard action measures it.
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::failover::DataLag;
/// let l = DataLag::asynchronous("metadata", Duration::from_secs(12));
/// assert_eq!(l.data_loss_window(), Duration::from_secs(12));
/// assert_eq!(DataLag::synchronous("privacy_budgets").data_loss_window(), Duration::ZERO);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataLag {
    /// Data type name (matches [`DataObjective::data_type`](super::DataObjective)).
    pub data_type: String,
    /// How far the target is behind.
    pub lag: Duration,
    /// Whether commits wait for the target (synchronous replication), in
    /// which case no acknowledged write can be lost whatever the replay lag.
    pub synchronous: bool,
}

impl DataLag {
    /// Asynchronous replication `lag` behind.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::failover::DataLag;
    /// let l = DataLag::asynchronous("metadata", Duration::from_secs(40));
    /// assert!(!l.synchronous);
    /// ```
    pub fn asynchronous(data_type: impl Into<String>, lag: Duration) -> Self {
        DataLag {
            data_type: data_type.into(),
            lag,
            synchronous: false,
        }
    }

    /// Synchronous replication.
    ///
    /// ```
    /// use resilience_dr::failover::DataLag;
    /// let l = DataLag::synchronous("privacy_budgets");
    /// assert!(l.synchronous && l.lag.is_zero());
    /// ```
    pub fn synchronous(data_type: impl Into<String>) -> Self {
        DataLag {
            data_type: data_type.into(),
            lag: Duration::ZERO,
            synchronous: true,
        }
    }

    /// Acknowledged data that would be lost by switching now.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::failover::DataLag;
    /// // replay lag does not lose acknowledged writes when replication is synchronous
    /// let sync = resilience_dr::failover::DataLag { lag: Duration::from_secs(3), ..DataLag::synchronous("x") };
    /// assert_eq!(sync.data_loss_window(), Duration::ZERO);
    /// ```
    pub fn data_loss_window(&self) -> Duration {
        if self.synchronous {
            Duration::ZERO
        } else {
            self.lag
        }
    }
}

/// The guard action's answer: replication lag per data type.
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::failover::{DataLag, ReplicationStatus};
/// let s = ReplicationStatus::from(vec![DataLag::synchronous("privacy_budgets")]);
/// assert_eq!(s.lags.len(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicationStatus {
    /// One entry per data type.
    pub lags: Vec<DataLag>,
}

impl From<Vec<DataLag>> for ReplicationStatus {
    fn from(lags: Vec<DataLag>) -> Self {
        ReplicationStatus { lags }
    }
}

/// An approver's decision.
///
/// ```
/// use resilience_dr::failover::Approval;
/// assert!(Approval::approved("alice").is_approved());
/// assert!(!Approval::rejected("bob", "lag too high").is_approved());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// Go ahead.
    Approved {
        /// Who approved.
        by: String,
    },
    /// Stay where we are.
    Rejected {
        /// Who rejected.
        by: String,
        /// Why.
        reason: String,
    },
}

impl Approval {
    /// An approval by `by`.
    ///
    /// ```
    /// use resilience_dr::failover::Approval;
    /// assert_eq!(Approval::approved("alice"), Approval::Approved { by: "alice".into() });
    /// ```
    pub fn approved(by: impl Into<String>) -> Self {
        Approval::Approved { by: by.into() }
    }

    /// A rejection by `by`.
    ///
    /// ```
    /// use resilience_dr::failover::Approval;
    /// let r = Approval::rejected("bob", "primary is recovering");
    /// assert!(matches!(r, Approval::Rejected { ref reason, .. } if reason == "primary is recovering"));
    /// ```
    pub fn rejected(by: impl Into<String>, reason: impl Into<String>) -> Self {
        Approval::Rejected {
            by: by.into(),
            reason: reason.into(),
        }
    }

    /// Whether it is an approval.
    ///
    /// ```
    /// use resilience_dr::failover::Approval;
    /// assert!(Approval::approved("a").is_approved());
    /// assert!(!Approval::rejected("a", "no").is_approved());
    /// ```
    pub fn is_approved(&self) -> bool {
        matches!(self, Approval::Approved { .. })
    }
}

/// A manual approval gate an operator answers from anywhere (a chat command,
/// an HTTP endpoint): the orchestrator's approve action waits on it.
///
/// Only decisions given while a run is waiting count: a stale approval left
/// over from an earlier incident never approves a new failover.
///
/// ```
/// use resilience_dr::failover::{Approval, ApprovalGate};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let gate = ApprovalGate::new();
/// assert!(!gate.decide(Approval::approved("early-bird"))); // nobody waiting: ignored
/// let waiter = { let g = gate.clone(); tokio::spawn(async move { g.wait().await }) };
/// while !gate.is_waiting() { tokio::task::yield_now().await; }
/// assert!(gate.decide(Approval::approved("alice")));
/// assert_eq!(waiter.await.unwrap(), Approval::approved("alice"));
/// # }
/// ```
#[derive(Clone)]
pub struct ApprovalGate {
    tx: Arc<watch::Sender<GateState>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum GateState {
    Idle,
    Waiting,
    Decided(Approval),
}

impl fmt::Debug for ApprovalGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApprovalGate")
            .field("state", &*self.tx.borrow())
            .finish()
    }
}

impl Default for ApprovalGate {
    fn default() -> Self {
        Self::new()
    }
}

impl ApprovalGate {
    /// A gate nobody waits on yet.
    ///
    /// ```
    /// use resilience_dr::failover::ApprovalGate;
    /// let gate = ApprovalGate::new();
    /// assert!(!gate.is_waiting());
    /// ```
    pub fn new() -> Self {
        ApprovalGate {
            tx: Arc::new(watch::channel(GateState::Idle).0),
        }
    }

    /// Whether a run is waiting for a decision.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use resilience_dr::failover::ApprovalGate;
    /// let gate = ApprovalGate::new();
    /// let g = gate.clone();
    /// let wait = tokio::spawn(async move { g.wait().await });
    /// while !gate.is_waiting() { tokio::task::yield_now().await; }
    /// gate.approve("alice");
    /// wait.await.unwrap();
    /// assert!(!gate.is_waiting()); // back to idle once answered
    /// # }
    /// ```
    pub fn is_waiting(&self) -> bool {
        matches!(*self.tx.borrow(), GateState::Waiting)
    }

    /// Answers the waiting run. Returns false (and does nothing) when no run
    /// is waiting or it was already answered.
    ///
    /// ```
    /// use resilience_dr::failover::ApprovalGate;
    /// let gate = ApprovalGate::new();
    /// use resilience_dr::failover::Approval;
    /// assert!(!gate.decide(Approval::approved("x"))); // nobody is waiting
    /// ```
    pub fn decide(&self, decision: Approval) -> bool {
        self.tx.send_if_modified(|s| {
            if matches!(s, GateState::Waiting) {
                *s = GateState::Decided(decision);
                true
            } else {
                false
            }
        })
    }

    /// Shorthand for `decide(Approval::approved(by))`.
    ///
    /// ```
    /// use resilience_dr::failover::ApprovalGate;
    /// let gate = ApprovalGate::new();
    /// assert!(!gate.approve("alice")); // nobody is waiting yet
    /// ```
    pub fn approve(&self, by: impl Into<String>) -> bool {
        self.decide(Approval::approved(by))
    }

    /// Shorthand for `decide(Approval::rejected(by, reason))`.
    ///
    /// ```
    /// use resilience_dr::failover::ApprovalGate;
    /// let gate = ApprovalGate::new();
    /// assert!(!gate.reject("bob", "lag too high")); // nobody is waiting yet
    /// ```
    pub fn reject(&self, by: impl Into<String>, reason: impl Into<String>) -> bool {
        self.decide(Approval::rejected(by, reason))
    }

    /// Waits for a decision given from now on. (The orchestrator applies the
    /// approval timeout around this.) If the wait is dropped the gate goes
    /// back to idle.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use resilience_dr::failover::ApprovalGate;
    /// let gate = ApprovalGate::new();
    /// // the orchestrator bounds the wait with its approval timeout; so can you
    /// let answer = tokio::time::timeout(Duration::from_secs(600), gate.wait()).await;
    /// assert!(answer.is_err()); // nobody answered in 10 minutes
    /// assert!(!gate.is_waiting());
    /// # }
    /// ```
    pub async fn wait(&self) -> Approval {
        let mut rx = self.tx.subscribe();
        self.tx.send_replace(GateState::Waiting);
        let reset = ResetOnDrop(&self.tx);
        loop {
            let decided = match &*rx.borrow_and_update() {
                GateState::Decided(a) => Some(a.clone()),
                _ => None,
            };
            if let Some(a) = decided {
                drop(reset);
                return a;
            }
            if rx.changed().await.is_err() {
                // Unreachable while `self` holds the sender; treat as a rejection.
                return Approval::rejected("approval gate", "gate closed");
            }
        }
    }
}

struct ResetOnDrop<'a>(&'a watch::Sender<GateState>);

impl Drop for ResetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.send_replace(GateState::Idle);
    }
}

/// One count compared between the old and the new primary.
///
/// ```
/// use resilience_dr::failover::CountCheck;
/// let c = CountCheck::new("models", 10_000, 9_950);
/// assert!(c.within(0.01));
/// assert!(!CountCheck::new("models", 100, 98).within(0.01));
/// assert!(CountCheck::new("empty", 0, 0).within(0.01));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountCheck {
    /// What was counted.
    pub name: String,
    /// Count on the reference (old primary, or its last known value).
    pub expected: u64,
    /// Count on the new primary.
    pub actual: u64,
}

impl CountCheck {
    /// A comparison.
    ///
    /// ```
    /// use resilience_dr::failover::CountCheck;
    /// let c = CountCheck::new("models", 10_000, 9_990);
    /// assert_eq!(c.expected - c.actual, 10);
    /// ```
    pub fn new(name: impl Into<String>, expected: u64, actual: u64) -> Self {
        CountCheck {
            name: name.into(),
            expected,
            actual,
        }
    }

    /// Relative difference `|actual − expected| / expected` (0 when both are 0,
    /// infinite when only `expected` is 0).
    ///
    /// ```
    /// use resilience_dr::failover::CountCheck;
    /// assert_eq!(CountCheck::new("m", 200, 202).relative_difference(), 0.01);
    /// assert!(CountCheck::new("m", 0, 1).relative_difference().is_infinite());
    /// ```
    pub fn relative_difference(&self) -> f64 {
        let diff = self.actual.abs_diff(self.expected) as f64;
        if self.expected == 0 {
            if diff == 0.0 {
                0.0
            } else {
                f64::INFINITY
            }
        } else {
            diff / self.expected as f64
        }
    }

    /// Whether this count is listed in `required` (see
    /// [`ReconcileConfig::required_counts`](super::ReconcileConfig::required_counts)).
    pub(crate) fn reconcile_required(&self, required: &[String]) -> bool {
        required.contains(&self.name)
    }

    /// Whether the difference is within `tolerance`.
    ///
    /// ```
    /// use resilience_dr::failover::CountCheck;
    /// assert!(CountCheck::new("m", 200, 202).within(0.01));
    /// assert!(!CountCheck::new("m", 200, 203).within(0.01));
    /// ```
    pub fn within(&self, tolerance: f64) -> bool {
        self.relative_difference() <= tolerance
    }
}

/// The reconcile action's answer.
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::failover::{CountCheck, Reconciliation};
/// let r = Reconciliation {
///     counts: vec![CountCheck::new("models", 1000, 1000)],
///     consumer_lag: Some(Duration::from_secs(5)),
/// };
/// assert!(r.problems(0.01, Duration::from_secs(60)).is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciliation {
    /// Counts to compare.
    pub counts: Vec<CountCheck>,
    /// Consumer lag on the new primary, if the host tracks one.
    pub consumer_lag: Option<Duration>,
}

impl Reconciliation {
    /// Human-readable problems against the thresholds (empty = reconciled).
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::failover::{CountCheck, Reconciliation};
    /// let r = Reconciliation {
    ///     counts: vec![CountCheck::new("models", 100, 90)],
    ///     consumer_lag: Some(Duration::from_secs(7200)),
    /// };
    /// let p = r.problems(0.01, Duration::from_secs(3600));
    /// assert_eq!(p.len(), 2);
    /// assert!(p[0].starts_with("models differs by 10.00%"));
    /// ```
    pub fn problems(&self, tolerance: f64, max_consumer_lag: Duration) -> Vec<String> {
        let mut out: Vec<String> = self
            .counts
            .iter()
            .filter(|c| !c.within(tolerance))
            .map(|c| {
                format!(
                    "{} differs by {:.2}% ({} vs {}), tolerance {:.2}%",
                    c.name,
                    c.relative_difference() * 100.0,
                    c.actual,
                    c.expected,
                    tolerance * 100.0
                )
            })
            .collect();
        if let Some(lag) = self.consumer_lag {
            if lag > max_consumer_lag {
                out.push(format!(
                    "consumer lag {} above normal ({})",
                    resilience_core::config::fmt_duration(lag),
                    resilience_core::config::fmt_duration(max_consumer_lag)
                ));
            }
        }
        out
    }
}

pub(crate) type Action<T> =
    Arc<dyn Fn(StepContext) -> BoxFuture<'static, Result<T, BoxError>> + Send + Sync>;

fn boxed<T, F, Fut, E>(f: F) -> Action<T>
where
    T: 'static,
    F: Fn(StepContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    E: Into<BoxError>,
{
    Arc::new(move |ctx| {
        let fut = f(ctx);
        Box::pin(async move { fut.await.map_err(Into::into) })
    })
}

/// The host's async actions, one per phase (several for Prepare).
///
/// Only `switch` and `fence` are mandatory; a phase without an action is
/// skipped and recorded as skipped (no detect action: the trigger is taken
/// as confirmation; no guard: allowed only when no RPO objective is
/// configured; no approve: allowed only when `require_approval` is off, and
/// failback then refuses to run; no verify / reconcile: nothing checked).
///
/// Every action receives a [`StepContext`] and returns a `Result` whose
/// error may be any error type; a failed or timed-out attempt is retried per
/// the phase's [`StepPolicy`](super::StepPolicy).
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::failover::{Approval, DataLag, FailoverActions, Reconciliation, ReplicationStatus};
///
/// let actions = FailoverActions::new(
///         |ctx| async move { println!("point DNS at {} (ttl {:?})", ctx.to, ctx.dns_ttl); Ok::<(), &str>(()) },
///         |ctx| async move { println!("set {} read-only", ctx.from); Ok::<(), &str>(()) },
///     )
///     .detect(|_| async { Ok::<bool, &str>(true) })
///     .prepare("promote_standby", |_| async { Ok::<(), &str>(()) })
///     .prepare("scale_dr_compute", |_| async { Ok::<(), &str>(()) })
///     .guard(|_| async { Ok::<_, &str>(ReplicationStatus::from(vec![DataLag::synchronous("privacy_budgets")])) })
///     .approve(|_| async { Ok::<_, &str>(Approval::approved("oncall")) })
///     .verify(|_| async { Ok::<(), &str>(()) })
///     .reconcile(|_| async { Ok::<_, &str>(Reconciliation::default()) });
/// assert_eq!(actions.prepare_names(), vec!["promote_standby", "scale_dr_compute"]);
/// ```
pub struct FailoverActions {
    pub(crate) detect: Option<Action<bool>>,
    pub(crate) prepare: Vec<(String, Action<()>)>,
    pub(crate) guard: Option<Action<ReplicationStatus>>,
    pub(crate) approve: Option<Action<Approval>>,
    pub(crate) switch: Action<()>,
    pub(crate) verify: Option<Action<()>>,
    pub(crate) fence: Action<()>,
    pub(crate) reconcile: Option<Action<Reconciliation>>,
    pub(crate) communication: Option<Arc<dyn Communication>>,
}

/// What to tell people about a run, at its [`Communicate`](Phase::Communicate)
/// phase (after the new site is verified and the old one fenced).
///
/// ```
/// use resilience_dr::failover::{Direction, Notice};
/// let n = Notice {
///     direction: Direction::Failover,
///     from: "us-east-1".into(),
///     to: "us-west-2".into(),
///     message: "Operating from backup region us-west-2".into(),
///     recovery_time: None,
///     rto_met: None,
/// };
/// assert!(n.message.contains("backup region"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Failover, failback or rollback.
    pub direction: Direction,
    /// Site traffic left.
    pub from: String,
    /// Site now serving.
    pub to: String,
    /// The status line ("Operating from backup region us-west-2").
    pub message: String,
    /// Outage (or run) start → verified service.
    pub recovery_time: Option<Duration>,
    /// Whether the RTO was met: `Some(false)` means the SLA was impacted
    /// (the workflow runtime notifies customers only then).
    pub rto_met: Option<bool>,
}

/// The host's communication hooks, called in the
/// [`Communicate`](Phase::Communicate) phase: the status page, the
/// stakeholders (incident channel, leadership) and the users. Each call
/// runs under the phase's timeout and retries; a failure raises a warning
/// alert and the run goes on (traffic has already moved: telling people
/// late is better than undoing the failover).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use futures_util::future::BoxFuture;
/// use resilience_dr::failover::{Communication, Notice};
///
/// #[derive(Debug, Default)]
/// struct StatusPage(Mutex<Vec<String>>);
///
/// impl Communication for StatusPage {
///     fn status_page(&self, n: &Notice) -> BoxFuture<'static, Result<(), String>> {
///         self.0.lock().unwrap().push(n.message.clone());
///         Box::pin(async { Ok(()) })
///     }
///     fn stakeholders(&self, _: &Notice) -> BoxFuture<'static, Result<(), String>> {
///         Box::pin(async { Ok(()) })
///     }
///     fn users(&self, _: &Notice) -> BoxFuture<'static, Result<(), String>> {
///         Box::pin(async { Ok(()) })
///     }
/// }
/// let page = Arc::new(StatusPage::default());
/// let actions = resilience_dr::failover::FailoverActions::new(
///     |_| async { Ok::<(), &str>(()) },
///     |_| async { Ok::<(), &str>(()) },
/// )
/// .communication(page.clone());
/// # let _ = actions;
/// ```
pub trait Communication: Send + Sync + fmt::Debug + 'static {
    /// Update the public status page.
    fn status_page(&self, notice: &Notice) -> BoxFuture<'static, Result<(), String>>;
    /// Notify stakeholders (incident channel, management, partner teams).
    fn stakeholders(&self, notice: &Notice) -> BoxFuture<'static, Result<(), String>>;
    /// Notify users (e-mail, in-app banner).
    fn users(&self, notice: &Notice) -> BoxFuture<'static, Result<(), String>>;
}

impl fmt::Debug for FailoverActions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailoverActions")
            .field("detect", &self.detect.is_some())
            .field("prepare", &self.prepare_names())
            .field("guard", &self.guard.is_some())
            .field("approve", &self.approve.is_some())
            .field("verify", &self.verify.is_some())
            .field("reconcile", &self.reconcile.is_some())
            .field("communication", &self.communication)
            .finish()
    }
}

impl FailoverActions {
    /// The two mandatory actions: move traffic to `ctx.to`, and fence
    /// `ctx.from` (set it read-only, revoke its lease, shut it down).
    ///
    /// ```
    /// use resilience_dr::failover::FailoverActions;
    /// let ok = || async { Ok::<(), &str>(()) };
    /// let actions = FailoverActions::new(move |_| ok(), move |_| ok());
    /// assert!(actions.prepare_names().is_empty());
    /// ```
    pub fn new<S, SFut, SE, F, FFut, FE>(switch: S, fence: F) -> Self
    where
        S: Fn(StepContext) -> SFut + Send + Sync + 'static,
        SFut: Future<Output = Result<(), SE>> + Send + 'static,
        SE: Into<BoxError>,
        F: Fn(StepContext) -> FFut + Send + Sync + 'static,
        FFut: Future<Output = Result<(), FE>> + Send + 'static,
        FE: Into<BoxError>,
    {
        FailoverActions {
            detect: None,
            prepare: Vec::new(),
            guard: None,
            approve: None,
            switch: boxed(switch),
            verify: None,
            fence: boxed(fence),
            reconcile: None,
            communication: None,
        }
    }

    /// Confirms the trigger: `Ok(true)` = go on, `Ok(false)` = abort (false
    /// positive). For a failback it should confirm the home site is healthy.
    ///
    /// ```
    /// use resilience_dr::failover::FailoverActions;
    /// let ok = || async { Ok::<(), &str>(()) };
    /// let actions = FailoverActions::new(move |_| ok(), move |_| ok())
    ///     .detect(|_| async { Ok::<bool, &str>(true) }); // e.g. OutageDetector::status().is_confirmed()
    /// # let _ = actions;
    /// ```
    pub fn detect<F, Fut, E>(mut self, f: F) -> Self
    where
        F: Fn(StepContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<bool, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.detect = Some(boxed(f));
        self
    }

    /// Adds a preparation action; all of them run in parallel.
    ///
    /// ```
    /// use resilience_dr::failover::FailoverActions;
    /// let ok = || async { Ok::<(), &str>(()) };
    /// let actions = FailoverActions::new(move |_| ok(), move |_| ok())
    ///     .prepare("promote_standby", move |_| ok())
    ///     .prepare("scale_dr_api", move |_| ok());
    /// assert_eq!(actions.prepare_names(), ["promote_standby", "scale_dr_api"]);
    /// ```
    pub fn prepare<F, Fut, E>(mut self, name: impl Into<String>, f: F) -> Self
    where
        F: Fn(StepContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.prepare.push((name.into(), boxed(f)));
        self
    }

    /// Measures replication lag per data type, for the RPO guard.
    ///
    /// ```
    /// use resilience_dr::failover::FailoverActions;
    /// let ok = || async { Ok::<(), &str>(()) };
    /// use resilience_dr::failover::{DataLag, ReplicationStatus};
    /// let actions = FailoverActions::new(move |_| ok(), move |_| ok())
    ///     .guard(|_| async { Ok::<_, &str>(ReplicationStatus::from(vec![DataLag::synchronous("privacy_budgets")])) });
    /// # let _ = actions;
    /// ```
    pub fn guard<F, Fut, E>(mut self, f: F) -> Self
    where
        F: Fn(StepContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ReplicationStatus, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.guard = Some(boxed(f));
        self
    }

    /// The manual gate (see [`ApprovalGate`] for a ready-made one).
    ///
    /// ```
    /// use resilience_dr::failover::FailoverActions;
    /// let ok = || async { Ok::<(), &str>(()) };
    /// use resilience_dr::failover::Approval;
    /// let actions = FailoverActions::new(move |_| ok(), move |_| ok())
    ///     .approve(|ctx| async move {
    ///         // e.g. post to chat-ops with ctx.guard's findings and await the answer
    ///         Ok::<_, &str>(Approval::approved(format!("auto ({} -> {})", ctx.from, ctx.to)))
    ///     });
    /// # let _ = actions;
    /// ```
    pub fn approve<F, Fut, E>(mut self, f: F) -> Self
    where
        F: Fn(StepContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Approval, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.approve = Some(boxed(f));
        self
    }

    /// Uses `gate` as the manual approval gate.
    ///
    /// ```
    /// use resilience_dr::failover::{ApprovalGate, FailoverActions};
    /// let gate = ApprovalGate::new();
    /// let actions = FailoverActions::new(|_| async { Ok::<(), &str>(()) }, |_| async { Ok::<(), &str>(()) })
    ///     .approval_gate(gate.clone());
    /// assert!(format!("{actions:?}").contains("approve: true"));
    /// ```
    pub fn approval_gate(self, gate: ApprovalGate) -> Self {
        self.approve(move |_ctx| {
            let gate = gate.clone();
            async move { Ok::<_, BoxError>(gate.wait().await) }
        })
    }

    /// Checks the new primary after propagation.
    ///
    /// ```
    /// use resilience_dr::failover::FailoverActions;
    /// let ok = || async { Ok::<(), &str>(()) };
    /// let actions = FailoverActions::new(move |_| ok(), move |_| ok())
    ///     .verify(|ctx| async move {
    ///         println!("synthetic transactions against {}", ctx.to);
    ///         Ok::<(), &str>(())
    ///     });
    /// # let _ = actions;
    /// ```
    pub fn verify<F, Fut, E>(mut self, f: F) -> Self
    where
        F: Fn(StepContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.verify = Some(boxed(f));
        self
    }

    /// Compares counts and consumer lag after fencing.
    ///
    /// ```
    /// use resilience_dr::failover::FailoverActions;
    /// let ok = || async { Ok::<(), &str>(()) };
    /// use resilience_dr::failover::{CountCheck, Reconciliation};
    /// let actions = FailoverActions::new(move |_| ok(), move |_| ok())
    ///     .reconcile(|_| async {
    ///         Ok::<_, &str>(Reconciliation { counts: vec![CountCheck::new("models", 500, 500)], consumer_lag: None })
    ///     });
    /// # let _ = actions;
    /// ```
    pub fn reconcile<F, Fut, E>(mut self, f: F) -> Self
    where
        F: Fn(StepContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Reconciliation, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.reconcile = Some(boxed(f));
        self
    }

    /// The hooks of the [`Communicate`](Phase::Communicate) phase (status
    /// page, stakeholders, users). Without them the phase is skipped.
    pub fn communication(mut self, hooks: Arc<dyn Communication>) -> Self {
        self.communication = Some(hooks);
        self
    }

    /// Names of the preparation actions, in order.
    ///
    /// ```
    /// use resilience_dr::failover::FailoverActions;
    /// let ok = || async { Ok::<(), &str>(()) };
    /// let actions = FailoverActions::new(move |_| ok(), move |_| ok()).prepare("promote", move |_| ok());
    /// assert_eq!(actions.prepare_names(), ["promote"]);
    /// ```
    pub fn prepare_names(&self) -> Vec<&str> {
        self.prepare.iter().map(|(n, _)| n.as_str()).collect()
    }
}
