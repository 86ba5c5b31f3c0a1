//! Recovery actions keyed by failure type: a policy table the host fills.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use resilience_core::clock::{shared, Clock, SharedClock};
use resilience_core::config::{check_nonzero, check_nonzero_duration, fmt_duration, ConfigError};
use resilience_core::events::Listeners;
use serde::{Deserialize, Serialize};

use resilience_core::clock::TokioClock;

use crate::BoxError;

/// What went wrong with a member, as the GPU inference platform classifies worker failures.
///
/// ```
/// use resilience_dr::FailureKind;
/// assert_eq!(FailureKind::OutOfMemory.to_string(), "out of memory");
/// let k: FailureKind = serde_json::from_str("\"gpu_error\"").unwrap();
/// assert_eq!(k, FailureKind::GpuError);
/// let other: FailureKind = serde_json::from_str(r#"{"other":"disk full"}"#).unwrap();
/// assert_eq!(other.to_string(), "disk full");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureKind {
    /// Heartbeat or request timeout.
    Timeout,
    /// GPU / device error (CUDA fault, ECC error).
    GpuError,
    /// Out of memory (host or device).
    OutOfMemory,
    /// Corrupt model, artefact or data (checksum mismatch).
    Corruption,
    /// Anything else, named by the host.
    Other(String),
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureKind::Timeout => f.write_str("timeout"),
            FailureKind::GpuError => f.write_str("GPU error"),
            FailureKind::OutOfMemory => f.write_str("out of memory"),
            FailureKind::Corruption => f.write_str("corruption"),
            FailureKind::Other(s) => f.write_str(s),
        }
    }
}

impl FailureKind {
    pub(crate) fn metric_label(&self) -> &'static str {
        match self {
            FailureKind::Timeout => "timeout",
            FailureKind::GpuError => "gpu_error",
            FailureKind::OutOfMemory => "out_of_memory",
            FailureKind::Corruption => "corruption",
            FailureKind::Other(_) => "other",
        }
    }
}

/// What an action is told when it runs.
///
/// ```
/// use resilience_dr::{health::ActionContext, FailureKind};
/// let ctx = ActionContext { member: "gpu-3", failure: FailureKind::GpuError, occurrence: 2, escalated: true };
/// assert!(ctx.escalated);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionContext<M> {
    /// The failed member.
    pub member: M,
    /// The failure being handled.
    pub failure: FailureKind,
    /// How many times this member had this failure within the persistence
    /// window, this one included.
    pub occurrence: u32,
    /// Whether the escalation steps are running (the failure persisted).
    pub escalated: bool,
}

type ActionFn<M> =
    Arc<dyn Fn(ActionContext<M>) -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync>;

struct Step<M> {
    name: String,
    run: ActionFn<M>,
}

/// When a failure counts as persisting: `after` occurrences within `within`.
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::health::Persistence;
/// let p = Persistence::default();
/// assert_eq!((p.after, p.within), (2, Duration::from_secs(600)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Persistence {
    /// Occurrences (this one included) that make a failure persistent. Default 2.
    pub after: u32,
    /// Window the occurrences are counted in. Default 10 min.
    #[serde(with = "humantime_serde")]
    pub within: Duration,
}

impl Default for Persistence {
    fn default() -> Self {
        Persistence {
            after: 2,
            within: Duration::from_secs(600),
        }
    }
}

/// The ordered steps for one failure type, with optional escalation.
///
/// Steps run one after the other, each under the plan's step timeout, and the
/// plan stops at the first step that fails (later steps usually depend on the
/// earlier ones: no point reloading a model after the restart failed).
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::health::{Persistence, Plan};
///
/// let gpu_error: Plan<String> = Plan::new()
///     .step("restart_worker_process", |_ctx| async { Ok::<(), &str>(()) })
///     .step("reload_models", |_ctx| async { Ok::<(), &str>(()) })
///     .if_persists(
///         Persistence { after: 2, within: Duration::from_secs(600) },
///         Plan::new().step("replace_instance", |_ctx| async { Ok::<(), &str>(()) }),
///     );
/// assert_eq!(gpu_error.step_names(), vec!["restart_worker_process", "reload_models"]);
/// ```
pub struct Plan<M> {
    steps: Vec<Step<M>>,
    step_timeout: Duration,
    escalation: Option<(Persistence, Box<Plan<M>>)>,
}

impl<M> fmt::Debug for Plan<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plan")
            .field(
                "steps",
                &self
                    .steps
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("step_timeout", &self.step_timeout)
            .field("escalation", &self.escalation)
            .finish()
    }
}

impl<M> Default for Plan<M>
where
    M: Clone + Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<M> Plan<M>
where
    M: Clone + Send + Sync + 'static,
{
    /// An empty plan with a 60 s step timeout.
    ///
    /// ```
    /// use resilience_dr::health::Plan;
    /// let p: Plan<String> = Plan::new();
    /// assert!(p.step_names().is_empty());
    /// ```
    pub fn new() -> Self {
        Plan {
            steps: Vec::new(),
            step_timeout: Duration::from_secs(60),
            escalation: None,
        }
    }

    /// Appends a named async step.
    ///
    /// ```
    /// use resilience_dr::health::{ActionContext, Plan};
    /// let p: Plan<String> = Plan::new()
    ///     .step("mark_unhealthy", |ctx: ActionContext<String>| async move {
    ///         println!("{} is unhealthy ({})", ctx.member, ctx.failure);
    ///         Ok::<(), std::io::Error>(())
    ///     });
    /// assert_eq!(p.step_names(), ["mark_unhealthy"]);
    /// ```
    pub fn step<F, Fut, E>(mut self, name: impl Into<String>, action: F) -> Self
    where
        F: Fn(ActionContext<M>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let run: ActionFn<M> = Arc::new(move |ctx| {
            let fut = action(ctx);
            Box::pin(async move { fut.await.map_err(Into::into) })
        });
        self.steps.push(Step {
            name: name.into(),
            run,
        });
        self
    }

    /// Sets the timeout of each step (default 60 s; zero is rejected when the
    /// policy is built).
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::health::Plan;
    /// let p: Plan<u32> = Plan::new()
    ///     .step_timeout(Duration::from_secs(300)) // re-downloading a model takes a while
    ///     .step("redownload_from_registry", |_| async { Ok::<(), &str>(()) });
    /// assert_eq!(p.step_names().len(), 1);
    /// ```
    pub fn step_timeout(mut self, timeout: Duration) -> Self {
        self.step_timeout = timeout;
        self
    }

    /// Runs `escalation` **instead of** this plan's steps when the failure
    /// persists (seed: GPU error → restart, reload; if it persists → replace).
    ///
    /// ```
    /// use resilience_dr::health::{Persistence, Plan};
    /// let p: Plan<u32> = Plan::new()
    ///     .step("restart_worker_process", |_| async { Ok::<(), &str>(()) })
    ///     .if_persists(Persistence::default(), Plan::new().step("replace_instance", |_| async { Ok::<(), &str>(()) }));
    /// assert_eq!(p.step_names(), ["restart_worker_process"]);
    /// ```
    pub fn if_persists(mut self, when: Persistence, escalation: Plan<M>) -> Self {
        self.escalation = Some((when, Box::new(escalation)));
        self
    }

    /// The step names, in order.
    ///
    /// ```
    /// use resilience_dr::health::Plan;
    /// let p: Plan<u32> = Plan::new()
    ///     .step("reduce_batch_size", |_| async { Ok::<(), &str>(()) })
    ///     .step("unload_unused_adapters", |_| async { Ok::<(), &str>(()) });
    /// assert_eq!(p.step_names(), ["reduce_batch_size", "unload_unused_adapters"]);
    /// ```
    pub fn step_names(&self) -> Vec<&str> {
        self.steps.iter().map(|s| s.name.as_str()).collect()
    }

    fn validate(&self, field: &str) -> Result<(), ConfigError> {
        check_nonzero_duration("step_timeout", self.step_timeout).map_err(|e| e.within(field))?;
        if self.steps.is_empty() {
            return Err(ConfigError::invalid(
                field.to_string(),
                "a plan needs at least one step",
            ));
        }
        if let Some((p, esc)) = &self.escalation {
            let f = format!("{field}.if_persists");
            check_nonzero("after", u64::from(p.after)).map_err(|e| e.within(&f))?;
            check_nonzero_duration("within", p.within).map_err(|e| e.within(&f))?;
            esc.validate(&f)?;
        }
        Ok(())
    }
}

/// How one step went.
///
/// ```
/// use resilience_dr::health::StepOutcome;
/// assert!(StepOutcome::Succeeded.succeeded());
/// assert!(!StepOutcome::Failed { message: "x".into() }.succeeded());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// Done.
    Succeeded,
    /// Returned an error.
    Failed {
        /// The error's message.
        message: String,
    },
    /// Did not finish within the step timeout.
    TimedOut {
        /// The timeout.
        after: Duration,
    },
    /// Not run because an earlier step did not succeed.
    Skipped,
}

impl StepOutcome {
    /// Whether the step succeeded.
    ///
    /// ```
    /// use resilience_dr::health::StepOutcome;
    /// assert!(StepOutcome::Succeeded.succeeded());
    /// assert!(!StepOutcome::Skipped.succeeded());
    /// ```
    pub fn succeeded(&self) -> bool {
        matches!(self, StepOutcome::Succeeded)
    }
}

impl fmt::Display for StepOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepOutcome::Succeeded => f.write_str("succeeded"),
            StepOutcome::Failed { message } => write!(f, "failed: {message}"),
            StepOutcome::TimedOut { after } => {
                write!(f, "timed out after {}", fmt_duration(*after))
            }
            StepOutcome::Skipped => f.write_str("skipped"),
        }
    }
}

/// What the policy did about one failure.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use resilience_dr::{health::{ActionReport, RecoveryPolicy}, FailureKind};
/// let policy: RecoveryPolicy<&str> = RecoveryPolicy::builder().build().unwrap();
/// let report: ActionReport<&str> = policy.handle("w1", FailureKind::Timeout).await;
/// assert!(!report.handled);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionReport<M> {
    /// The failed member.
    pub member: M,
    /// The failure.
    pub failure: FailureKind,
    /// Occurrences of this failure for this member within the persistence
    /// window (1 when the plan has no escalation).
    pub occurrence: u32,
    /// Whether the escalation plan ran.
    pub escalated: bool,
    /// Whether a plan (or the fallback) existed for this failure.
    pub handled: bool,
    /// Each step with its outcome, in order.
    pub steps: Vec<(String, StepOutcome)>,
}

impl<M> ActionReport<M> {
    /// Whether a plan ran and every step succeeded.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use resilience_dr::{health::{Plan, RecoveryPolicy}, FailureKind};
    /// let policy: RecoveryPolicy<&str> = RecoveryPolicy::builder()
    ///     .on(FailureKind::Timeout, Plan::new().step("mark_unhealthy", |_| async { Ok::<(), &str>(()) }))
    ///     .build()
    ///     .unwrap();
    /// assert!(policy.handle("w1", FailureKind::Timeout).await.succeeded());
    /// assert!(!policy.handle("w1", FailureKind::OutOfMemory).await.succeeded()); // no plan
    /// # }
    /// ```
    pub fn succeeded(&self) -> bool {
        self.handled && self.steps.iter().all(|(_, o)| o.succeeded())
    }
}

/// Builds a [`RecoveryPolicy`].
///
/// ```
/// use resilience_dr::{health::{Plan, RecoveryPolicy}, FailureKind};
/// let policy = RecoveryPolicy::<u32>::builder()
///     .on(FailureKind::OutOfMemory, Plan::new().step("reduce_batch_size", |_| async { Ok::<(), &str>(()) }))
///     .otherwise(Plan::new().step("page_oncall", |_| async { Ok::<(), &str>(()) }))
///     .build()
///     .unwrap();
/// assert!(policy.has_plan(&FailureKind::OutOfMemory));
/// ```
pub struct RecoveryPolicyBuilder<M> {
    plans: HashMap<FailureKind, Plan<M>>,
    fallback: Option<Plan<M>>,
    clock: SharedClock,
}

impl<M> fmt::Debug for RecoveryPolicyBuilder<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecoveryPolicyBuilder")
            .field("plans", &self.plans.keys().collect::<Vec<_>>())
            .field("fallback", &self.fallback.is_some())
            .finish()
    }
}

impl<M> RecoveryPolicyBuilder<M>
where
    M: Eq + Hash + Clone + fmt::Debug + Send + Sync + 'static,
{
    /// Sets the plan for `failure` (replacing any earlier one).
    ///
    /// ```
    /// use resilience_dr::{health::{Plan, RecoveryPolicy}, FailureKind};
    /// let policy: RecoveryPolicy<&str> = RecoveryPolicy::builder()
    ///     .on(FailureKind::Timeout, Plan::new().step("mark_unhealthy", |_| async { Ok::<(), &str>(()) }))
    ///     .build()
    ///     .unwrap();
    /// assert!(policy.has_plan(&FailureKind::Timeout));
    /// ```
    pub fn on(mut self, failure: FailureKind, plan: Plan<M>) -> Self {
        self.plans.insert(failure, plan);
        self
    }

    /// Sets the plan for failures without their own plan.
    ///
    /// ```
    /// use resilience_dr::{health::{Plan, RecoveryPolicy}, FailureKind};
    /// let policy: RecoveryPolicy<&str> = RecoveryPolicy::builder()
    ///     .otherwise(Plan::new().step("page_oncall", |_| async { Ok::<(), &str>(()) }))
    ///     .build()
    ///     .unwrap();
    /// assert!(!policy.has_plan(&FailureKind::Corruption)); // handled by the fallback
    /// ```
    pub fn otherwise(mut self, plan: Plan<M>) -> Self {
        self.fallback = Some(plan);
        self
    }

    /// Reads time (for the persistence windows) from `clock` instead of
    /// [`TokioClock`](resilience_core::clock::TokioClock).
    ///
    /// ```
    /// use resilience_core::clock::ManualClock;
    /// use resilience_dr::health::RecoveryPolicy;
    /// let policy = RecoveryPolicy::<u32>::builder().clock(ManualClock::new()).build().unwrap();
    /// # let _ = policy;
    /// ```
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = shared(clock);
        self
    }

    /// Validates every plan (non-empty, non-zero timeouts and windows).
    ///
    /// ```
    /// use resilience_dr::{health::{Plan, RecoveryPolicy}, FailureKind};
    /// let err = RecoveryPolicy::<u32>::builder().on(FailureKind::GpuError, Plan::new()).build().unwrap_err();
    /// assert_eq!(err.field(), Some("plans.gpu_error"));
    /// ```
    pub fn build(self) -> Result<RecoveryPolicy<M>, ConfigError> {
        for (k, p) in &self.plans {
            p.validate(&format!("plans.{}", k.metric_label()))?;
        }
        if let Some(p) = &self.fallback {
            p.validate("otherwise")?;
        }
        Ok(RecoveryPolicy {
            inner: Arc::new(RecoveryPolicyShared {
                plans: self.plans,
                fallback: self.fallback,
                clock: self.clock,
                history: Mutex::new(HashMap::new()),
                listeners: Listeners::new(),
            }),
        })
    }
}

/// One member's occurrences of one failure kind, with that kind's window.
type History = (Duration, VecDeque<Instant>);

/// Failure type → ordered host actions, with escalation when a failure persists.
///
/// Cheap to clone: clones share one policy and its per-member failure
/// history (an `Arc` inside).
///
/// The inference platform's table (timeout → mark unhealthy, reassign in-flight, schedule
/// replacement; GPU error → restart, reload, replace if it persists; OOM →
/// reduce batch size, unload adapters, retry; corruption → re-download,
/// verify checksum, reload) is data the host writes with its own actions:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use resilience_dr::{health::{Persistence, Plan, RecoveryPolicy}, FailureKind};
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let act = |name: &'static str| {
///     let log = log.clone();
///     move |ctx: resilience_dr::health::ActionContext<String>| {
///         let log = log.clone();
///         async move {
///             log.lock().unwrap().push(format!("{name} {}", ctx.member));
///             Ok::<(), &str>(())
///         }
///     }
/// };
/// let policy = RecoveryPolicy::builder()
///     .on(FailureKind::GpuError, Plan::new()
///         .step("restart", act("restart"))
///         .step("reload", act("reload"))
///         .if_persists(Persistence::default(), Plan::new().step("replace", act("replace"))))
///     .build()
///     .unwrap();
///
/// let first = policy.handle("gpu-7".to_string(), FailureKind::GpuError).await;
/// assert!(first.succeeded() && !first.escalated);
/// let again = policy.handle("gpu-7".to_string(), FailureKind::GpuError).await;
/// assert!(again.escalated);
/// assert_eq!(*log.lock().unwrap(), ["restart gpu-7", "reload gpu-7", "replace gpu-7"]);
/// # }
/// ```
pub struct RecoveryPolicy<M> {
    inner: Arc<RecoveryPolicyShared<M>>,
}

impl<M> Clone for RecoveryPolicy<M> {
    fn clone(&self) -> Self {
        RecoveryPolicy {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct RecoveryPolicyShared<M> {
    plans: HashMap<FailureKind, Plan<M>>,
    fallback: Option<Plan<M>>,
    clock: SharedClock,
    /// Occurrences per (member, failure kind), each with the window of the
    /// kind's own escalation rule: a history is evicted by its own window.
    history: Mutex<HashMap<(M, FailureKind), History>>,
    listeners: Listeners<ActionReport<M>>,
}

impl<M> fmt::Debug for RecoveryPolicy<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecoveryPolicy")
            .field("plans", &self.inner.plans)
            .field("fallback", &self.inner.fallback)
            .finish()
    }
}

impl<M> RecoveryPolicy<M>
where
    M: Eq + Hash + Clone + fmt::Debug + Send + Sync + 'static,
{
    /// An empty builder.
    ///
    /// ```
    /// use resilience_dr::health::RecoveryPolicy;
    /// let empty = RecoveryPolicy::<String>::builder().build().unwrap();
    /// # let _ = empty;
    /// ```
    pub fn builder() -> RecoveryPolicyBuilder<M> {
        RecoveryPolicyBuilder {
            plans: HashMap::new(),
            fallback: None,
            clock: Arc::new(TokioClock),
        }
    }

    /// Whether `failure` has its own plan (the fallback aside).
    ///
    /// ```
    /// use resilience_dr::{health::{Plan, RecoveryPolicy}, FailureKind};
    /// let policy: RecoveryPolicy<&str> = RecoveryPolicy::builder()
    ///     .on(FailureKind::Timeout, Plan::new().step("mark_unhealthy", |_| async { Ok::<(), &str>(()) }))
    ///     .build()
    ///     .unwrap();
    /// assert!(policy.has_plan(&FailureKind::Timeout));
    /// assert!(!policy.has_plan(&FailureKind::GpuError));
    /// ```
    pub fn has_plan(&self, failure: &FailureKind) -> bool {
        self.inner.plans.contains_key(failure)
    }

    /// Listeners receiving every [`ActionReport`].
    ///
    /// ```
    /// use resilience_dr::{health::{Plan, RecoveryPolicy}, FailureKind};
    /// let policy: RecoveryPolicy<&str> = RecoveryPolicy::builder()
    ///     .on(FailureKind::Timeout, Plan::new().step("mark_unhealthy", |_| async { Ok::<(), &str>(()) }))
    ///     .build()
    ///     .unwrap();
    /// policy.listeners().add_fn(|r: &resilience_dr::health::ActionReport<&str>| {
    ///     println!("{} after {}: {:?}", r.member, r.failure, r.steps)
    /// });
    /// ```
    pub fn listeners(&self) -> &Listeners<ActionReport<M>> {
        &self.inner.listeners
    }

    /// Runs the plan for `failure` on `member` and reports what happened.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use resilience_dr::{health::{Plan, RecoveryPolicy}, FailureKind};
    /// let policy: RecoveryPolicy<&str> = RecoveryPolicy::builder()
    ///     .on(FailureKind::Timeout, Plan::new().step("mark_unhealthy", |_| async { Ok::<(), &str>(()) }))
    ///     .build()
    ///     .unwrap();
    /// let report = policy.handle("gpu-2", FailureKind::Timeout).await;
    /// assert!(report.handled && report.succeeded());
    /// assert_eq!(report.steps[0].0, "mark_unhealthy");
    /// # }
    /// ```
    pub async fn handle(&self, member: M, failure: FailureKind) -> ActionReport<M> {
        let Some(plan) = self
            .inner
            .plans
            .get(&failure)
            .or(self.inner.fallback.as_ref())
        else {
            metrics::counter!("resilience_recovery_actions_unhandled_total",
                "failure" => failure.metric_label())
            .increment(1);
            let report = ActionReport {
                member,
                failure,
                occurrence: 1,
                escalated: false,
                handled: false,
                steps: Vec::new(),
            };
            self.inner.listeners.emit(&report);
            return report;
        };
        let (occurrence, escalated) = match &plan.escalation {
            Some((p, _)) => {
                let n = self.record(&member, &failure, p.within);
                (n, n >= p.after)
            }
            None => (1, false),
        };
        let plan = match (&plan.escalation, escalated) {
            (Some((_, esc)), true) => esc.as_ref(),
            _ => plan,
        };
        let ctx = ActionContext {
            member: member.clone(),
            failure: failure.clone(),
            occurrence,
            escalated,
        };
        let mut steps = Vec::with_capacity(plan.steps.len());
        let mut ok = true;
        for step in &plan.steps {
            let outcome = if !ok {
                StepOutcome::Skipped
            } else {
                match tokio::time::timeout(plan.step_timeout, (step.run)(ctx.clone())).await {
                    Ok(Ok(())) => StepOutcome::Succeeded,
                    Ok(Err(e)) => StepOutcome::Failed {
                        message: e.to_string(),
                    },
                    Err(_) => StepOutcome::TimedOut {
                        after: plan.step_timeout,
                    },
                }
            };
            ok &= outcome.succeeded();
            steps.push((step.name.clone(), outcome));
        }
        metrics::counter!("resilience_recovery_actions_total",
            "failure" => failure.metric_label(),
            "result" => if ok { "succeeded" } else { "failed" },
            "escalated" => if escalated { "true" } else { "false" })
        .increment(1);
        let report = ActionReport {
            member,
            failure,
            occurrence,
            escalated,
            handled: true,
            steps,
        };
        #[cfg(feature = "tracing")]
        tracing::info!(
            member = ?report.member,
            failure = %report.failure,
            escalated = report.escalated,
            succeeded = report.succeeded(),
            "recovery plan ran"
        );
        self.inner.listeners.emit(&report);
        report
    }

    /// Records one occurrence and returns the count inside `within`.
    fn record(&self, member: &M, failure: &FailureKind, within: Duration) -> u32 {
        let now = self.inner.clock.now();
        let mut h = self.inner.history.lock();
        // Drop histories that have entirely aged out, each by its own
        // window, so the map stays bounded by the members currently failing
        // (a short window for one kind never erases another kind's history).
        h.retain(|_, (own, q)| {
            q.back()
                .is_some_and(|t| !crate::arith::elapsed(*t, now, *own))
        });
        let (own, q) = h
            .entry((member.clone(), failure.clone()))
            .or_insert_with(|| (within, VecDeque::new()));
        *own = within;
        while q
            .front()
            .is_some_and(|t| crate::arith::elapsed(*t, now, within))
        {
            q.pop_front();
        }
        q.push_back(now);
        u32::try_from(q.len()).unwrap_or(u32::MAX)
    }

    /// Forgets the failure history of `member` (after it was replaced).
    ///
    /// ```
    /// use resilience_dr::{health::{Plan, RecoveryPolicy}, FailureKind};
    /// let policy: RecoveryPolicy<&str> = RecoveryPolicy::builder()
    ///     .on(FailureKind::Timeout, Plan::new().step("mark_unhealthy", |_| async { Ok::<(), &str>(()) }))
    ///     .build()
    ///     .unwrap();
    /// policy.forget(&"gpu-2"); // replaced: its failure history no longer counts
    /// ```
    pub fn forget(&self, member: &M) {
        self.inner.history.lock().retain(|(m, _), _| m != member);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok_plan(name: &'static str) -> Plan<u8> {
        Plan::new().step(name, |_| async { Ok::<(), &str>(()) })
    }

    #[tokio::test(start_paused = true)]
    async fn stops_at_first_failure_and_times_out() {
        let policy = RecoveryPolicy::builder()
            .on(
                FailureKind::Corruption,
                Plan::new()
                    .step_timeout(Duration::from_secs(5))
                    .step("redownload", |_| async {
                        tokio::time::sleep(Duration::from_secs(10)).await;
                        Ok::<(), &str>(())
                    })
                    .step("verify_checksum", |_| async { Ok::<(), &str>(()) }),
            )
            .build()
            .unwrap();
        let r = policy.handle(1, FailureKind::Corruption).await;
        assert_eq!(
            r.steps[0].1,
            StepOutcome::TimedOut {
                after: Duration::from_secs(5)
            }
        );
        assert_eq!(r.steps[1].1, StepOutcome::Skipped);
        assert!(!r.succeeded());
    }

    #[tokio::test(start_paused = true)]
    async fn persistence_window_expires() {
        let policy = RecoveryPolicy::builder()
            .on(
                FailureKind::GpuError,
                ok_plan("restart").if_persists(
                    Persistence {
                        after: 2,
                        within: Duration::from_secs(60),
                    },
                    ok_plan("replace"),
                ),
            )
            .build()
            .unwrap();
        assert!(!policy.handle(1, FailureKind::GpuError).await.escalated);
        tokio::time::advance(Duration::from_secs(61)).await;
        let r = policy.handle(1, FailureKind::GpuError).await;
        assert_eq!((r.occurrence, r.escalated), (1, false));
        let r = policy.handle(1, FailureKind::GpuError).await;
        assert!(r.escalated);
        assert_eq!(r.steps[0].0, "replace");
        // another member has its own history
        assert!(!policy.handle(2, FailureKind::GpuError).await.escalated);
        policy.forget(&1);
        assert!(!policy.handle(1, FailureKind::GpuError).await.escalated);
    }

    #[tokio::test(start_paused = true)]
    async fn fallback_and_validation() {
        let err = RecoveryPolicy::<u8>::builder()
            .on(FailureKind::Timeout, Plan::new())
            .build()
            .unwrap_err();
        assert_eq!(err.field(), Some("plans.timeout"));
        let err = RecoveryPolicy::<u8>::builder()
            .on(
                FailureKind::Timeout,
                ok_plan("a").if_persists(
                    Persistence {
                        after: 0,
                        within: Duration::from_secs(1),
                    },
                    ok_plan("b"),
                ),
            )
            .build()
            .unwrap_err();
        assert_eq!(err.field(), Some("plans.timeout.if_persists.after"));
        let p = RecoveryPolicy::builder()
            .otherwise(Plan::new().step("page", |_| async { Err::<(), _>("pager down") }))
            .build()
            .unwrap();
        let r = p.handle(3, FailureKind::Other("disk".into())).await;
        assert!(r.handled);
        assert_eq!(
            r.steps[0].1,
            StepOutcome::Failed {
                message: "pager down".into()
            }
        );
    }
}
