//! Liveness and readiness probes, run concurrently with per-probe timeouts.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{join_all, BoxFuture};
use resilience_core::clock::{shared, Clock, SharedClock};
use resilience_core::config::{check_nonzero_duration, fmt_duration, ConfigError};

use resilience_core::clock::TokioClock;

use crate::BoxError;

/// Which question a probe answers.
///
/// The two are kept apart because they call for different reactions: a
/// failing **liveness** probe means the process is broken (restart or replace
/// it); a failing **readiness** probe means it is alive but should not get
/// traffic right now (stop routing, wait).
///
/// ```
/// use resilience_dr::health::ProbeKind;
/// assert_eq!(ProbeKind::Liveness.to_string(), "liveness");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// Is the process working at all (GPU memory accessible, CUDA device present)?
    Liveness,
    /// Can it serve now (model loaded, enough VRAM, queue reachable)?
    Readiness,
}

impl ProbeKind {
    fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "liveness",
            ProbeKind::Readiness => "readiness",
        }
    }
}

impl fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one probe went.
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::health::ProbeStatus;
/// let s = ProbeStatus::TimedOut { after: Duration::from_secs(2) };
/// assert!(!s.passed());
/// assert_eq!(s.to_string(), "timed out after 2s");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeStatus {
    /// The check succeeded within its timeout.
    Passed,
    /// The check returned an error (its message).
    Failed {
        /// The error's message.
        message: String,
    },
    /// The check did not finish within its timeout.
    TimedOut {
        /// The probe's timeout.
        after: Duration,
    },
}

impl ProbeStatus {
    /// Whether the probe passed.
    ///
    /// ```
    /// use resilience_dr::health::ProbeStatus;
    /// assert!(ProbeStatus::Passed.passed());
    /// assert!(!ProbeStatus::Failed { message: "no GPU".into() }.passed());
    /// ```
    pub fn passed(&self) -> bool {
        matches!(self, ProbeStatus::Passed)
    }
}

impl fmt::Display for ProbeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeStatus::Passed => f.write_str("passed"),
            ProbeStatus::Failed { message } => write!(f, "failed: {message}"),
            ProbeStatus::TimedOut { after } => {
                write!(f, "timed out after {}", fmt_duration(*after))
            }
        }
    }
}

/// The result of one probe in a [`HealthReport`].
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::health::{ProbeKind, ProbeResult, ProbeStatus};
/// let r = ProbeResult {
///     name: "model_loaded".into(),
///     kind: ProbeKind::Readiness,
///     status: ProbeStatus::Passed,
///     elapsed: Duration::from_millis(3),
/// };
/// assert!(r.status.passed());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    /// The probe's name.
    pub name: String,
    /// Liveness or readiness.
    pub kind: ProbeKind,
    /// Outcome.
    pub status: ProbeStatus,
    /// How long it took (the timeout, when it timed out).
    pub elapsed: Duration,
}

/// What the host should do about a member, from its [`HealthReport`].
///
/// ```
/// use resilience_dr::health::Verdict;
/// assert!(Verdict::Healthy.routable());
/// assert!(!Verdict::StopRouting.routable());
/// assert!(Verdict::Restart.needs_restart());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Live and ready: route traffic.
    Healthy,
    /// Live but not ready: stop routing, keep the process.
    StopRouting,
    /// Not live: restart or replace it (and stop routing).
    Restart,
}

impl Verdict {
    /// Whether traffic may be routed.
    ///
    /// ```
    /// use resilience_dr::health::Verdict;
    /// assert!(Verdict::Healthy.routable());
    /// assert!(!Verdict::Restart.routable());
    /// ```
    pub fn routable(self) -> bool {
        matches!(self, Verdict::Healthy)
    }

    /// Whether the process should be restarted or replaced.
    ///
    /// ```
    /// use resilience_dr::health::Verdict;
    /// assert!(Verdict::Restart.needs_restart());
    /// assert!(!Verdict::StopRouting.needs_restart());
    /// ```
    pub fn needs_restart(self) -> bool {
        matches!(self, Verdict::Restart)
    }
}

/// The combined result of a [`ProbeSet`] run.
///
/// A member is **live** when every liveness probe passed, and **ready** when
/// it is live and every readiness probe passed (a dead process is never
/// ready).
///
/// ```
/// use std::time::Duration;
/// use resilience_dr::health::{HealthReport, ProbeKind, ProbeResult, ProbeStatus, Verdict};
/// let report = HealthReport::from_results(vec![ProbeResult {
///     name: "queue_connection_healthy".into(),
///     kind: ProbeKind::Readiness,
///     status: ProbeStatus::Failed { message: "connection refused".into() },
///     elapsed: Duration::from_millis(1),
/// }]);
/// assert!(report.is_live());
/// assert!(!report.is_ready());
/// assert_eq!(report.verdict(), Verdict::StopRouting);
/// assert_eq!(report.failures().count(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReport {
    /// Every probe's result, in registration order.
    pub results: Vec<ProbeResult>,
}

impl HealthReport {
    /// A report over `results`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::health::{HealthReport, ProbeKind, ProbeResult, ProbeStatus};
    /// let r = |kind, ok: bool| ProbeResult {
    ///     name: format!("{kind}"),
    ///     kind,
    ///     status: if ok { ProbeStatus::Passed } else { ProbeStatus::TimedOut { after: Duration::from_secs(1) } },
    ///     elapsed: Duration::from_millis(5),
    /// };
    /// let report = HealthReport::from_results(vec![r(ProbeKind::Liveness, true)]);
    /// assert_eq!(report.results.len(), 1);
    /// ```
    pub fn from_results(results: Vec<ProbeResult>) -> Self {
        HealthReport { results }
    }

    /// Whether every liveness probe passed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::health::{HealthReport, ProbeKind, ProbeResult, ProbeStatus};
    /// let r = |kind, ok: bool| ProbeResult {
    ///     name: format!("{kind}"),
    ///     kind,
    ///     status: if ok { ProbeStatus::Passed } else { ProbeStatus::TimedOut { after: Duration::from_secs(1) } },
    ///     elapsed: Duration::from_millis(5),
    /// };
    /// assert!(!HealthReport::from_results(vec![r(ProbeKind::Liveness, false)]).is_live());
    /// assert!(HealthReport::from_results(vec![r(ProbeKind::Readiness, false)]).is_live());
    /// ```
    pub fn is_live(&self) -> bool {
        self.results
            .iter()
            .filter(|r| r.kind == ProbeKind::Liveness)
            .all(|r| r.status.passed())
    }

    /// Whether the member is live and every readiness probe passed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::health::{HealthReport, ProbeKind, ProbeResult, ProbeStatus};
    /// let r = |kind, ok: bool| ProbeResult {
    ///     name: format!("{kind}"),
    ///     kind,
    ///     status: if ok { ProbeStatus::Passed } else { ProbeStatus::TimedOut { after: Duration::from_secs(1) } },
    ///     elapsed: Duration::from_millis(5),
    /// };
    /// // a dead process is never ready, even if its readiness probes pass
    /// let report = HealthReport::from_results(vec![r(ProbeKind::Liveness, false), r(ProbeKind::Readiness, true)]);
    /// assert!(!report.is_ready());
    /// ```
    pub fn is_ready(&self) -> bool {
        self.is_live()
            && self
                .results
                .iter()
                .filter(|r| r.kind == ProbeKind::Readiness)
                .all(|r| r.status.passed())
    }

    /// What to do about the member.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::health::{HealthReport, ProbeKind, ProbeResult, ProbeStatus};
    /// let r = |kind, ok: bool| ProbeResult {
    ///     name: format!("{kind}"),
    ///     kind,
    ///     status: if ok { ProbeStatus::Passed } else { ProbeStatus::TimedOut { after: Duration::from_secs(1) } },
    ///     elapsed: Duration::from_millis(5),
    /// };
    /// use resilience_dr::health::Verdict;
    /// assert_eq!(HealthReport::from_results(vec![r(ProbeKind::Liveness, false)]).verdict(), Verdict::Restart);
    /// assert_eq!(HealthReport::from_results(vec![r(ProbeKind::Readiness, false)]).verdict(), Verdict::StopRouting);
    /// assert_eq!(HealthReport::from_results(vec![]).verdict(), Verdict::Healthy);
    /// ```
    pub fn verdict(&self) -> Verdict {
        if !self.is_live() {
            Verdict::Restart
        } else if !self.is_ready() {
            Verdict::StopRouting
        } else {
            Verdict::Healthy
        }
    }

    /// The probes that did not pass.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::health::{HealthReport, ProbeKind, ProbeResult, ProbeStatus};
    /// let r = |kind, ok: bool| ProbeResult {
    ///     name: format!("{kind}"),
    ///     kind,
    ///     status: if ok { ProbeStatus::Passed } else { ProbeStatus::TimedOut { after: Duration::from_secs(1) } },
    ///     elapsed: Duration::from_millis(5),
    /// };
    /// let report = HealthReport::from_results(vec![r(ProbeKind::Liveness, true), r(ProbeKind::Readiness, false)]);
    /// let failed: Vec<_> = report.failures().map(|f| f.name.as_str()).collect();
    /// assert_eq!(failed, ["readiness"]);
    /// ```
    pub fn failures(&self) -> impl Iterator<Item = &ProbeResult> {
        self.results.iter().filter(|r| !r.status.passed())
    }
}

type CheckFn = Arc<dyn Fn() -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync>;

struct Entry {
    name: String,
    kind: ProbeKind,
    timeout: Duration,
    check: CheckFn,
}

/// A set of named async probes, run concurrently, each under its own timeout.
///
/// Probes are plain async closures returning `Result<(), E>`; any error type
/// that converts into a boxed error works (including `&str` and `String`).
/// They run concurrently on the calling task, so a probe must not block its
/// thread (a blocking check cannot be timed out): wrap blocking calls in
/// `tokio::task::spawn_blocking`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use resilience_dr::health::{ProbeKind, ProbeSet, Verdict};
///
/// let mut probes = ProbeSet::new();
/// probes
///     .add("cuda_device_available", ProbeKind::Liveness, Duration::from_secs(2), || async {
///         Ok::<(), &str>(())
///     })
///     .unwrap();
/// probes
///     .add("model_loaded", ProbeKind::Readiness, Duration::from_secs(2), || async {
///         Err::<(), _>("model still loading")
///     })
///     .unwrap();
/// let report = probes.run().await;
/// assert_eq!(report.verdict(), Verdict::StopRouting);
/// # }
/// ```
pub struct ProbeSet {
    entries: Vec<Entry>,
    clock: SharedClock,
}

impl fmt::Debug for ProbeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProbeSet")
            .field(
                "probes",
                &self
                    .entries
                    .iter()
                    .map(|e| (&e.name, e.kind, e.timeout))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Default for ProbeSet {
    fn default() -> Self {
        Self::new()
    }
}

impl ProbeSet {
    /// An empty set, timing probes with [`TokioClock`](resilience_core::clock::TokioClock).
    ///
    /// ```
    /// use resilience_dr::health::ProbeSet;
    /// assert!(ProbeSet::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::with_clock(TokioClock)
    }

    /// An empty set, timing probes with `clock`.
    ///
    /// ```
    /// use resilience_core::clock::TokioClock;
    /// use resilience_dr::health::ProbeSet;
    /// assert!(ProbeSet::with_clock(TokioClock).is_empty());
    /// ```
    pub fn with_clock(clock: impl Clock) -> Self {
        ProbeSet {
            entries: Vec::new(),
            clock: shared(clock),
        }
    }

    /// Adds a probe. Fails if `timeout` is zero or `name` is already used.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::health::{ProbeKind, ProbeSet};
    /// let mut set = ProbeSet::new();
    /// let ok = || async { Ok::<(), String>(()) };
    /// set.add("p", ProbeKind::Liveness, Duration::from_secs(1), ok).unwrap();
    /// assert!(set.add("p", ProbeKind::Readiness, Duration::from_secs(1), ok).is_err());
    /// assert!(set.add("q", ProbeKind::Readiness, Duration::ZERO, ok).is_err());
    /// assert_eq!(set.len(), 1);
    /// ```
    pub fn add<F, Fut, E>(
        &mut self,
        name: impl Into<String>,
        kind: ProbeKind,
        timeout: Duration,
        check: F,
    ) -> Result<&mut Self, ConfigError>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let name = name.into();
        check_nonzero_duration("timeout", timeout)
            .map_err(|e| e.within(&format!("probes.{name}")))?;
        if self.entries.iter().any(|e| e.name == name) {
            return Err(ConfigError::invalid(
                "probes",
                format!("probe name `{name}` is used twice; give each probe its own name"),
            ));
        }
        let check: CheckFn = Arc::new(move || {
            let fut = check();
            Box::pin(async move { fut.await.map_err(Into::into) })
        });
        self.entries.push(Entry {
            name,
            kind,
            timeout,
            check,
        });
        Ok(self)
    }

    /// Number of probes.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::health::{ProbeKind, ProbeSet};
    /// let mut set = ProbeSet::new();
    /// set.add("process_responding", ProbeKind::Liveness, Duration::from_secs(1), || async { Ok::<(), &str>(()) })
    ///     .unwrap();
    /// assert_eq!(set.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no probe.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_dr::health::{ProbeKind, ProbeSet};
    /// let mut set = ProbeSet::new();
    /// set.add("process_responding", ProbeKind::Liveness, Duration::from_secs(1), || async { Ok::<(), &str>(()) })
    ///     .unwrap();
    /// assert!(!set.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Runs every probe concurrently and combines the results.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use resilience_dr::health::{ProbeKind, ProbeSet};
    /// let mut set = ProbeSet::new();
    /// set.add("process_responding", ProbeKind::Liveness, Duration::from_secs(1), || async { Ok::<(), &str>(()) })
    ///     .unwrap();
    /// let report = set.run().await;
    /// assert!(report.is_live() && report.is_ready());
    /// # }
    /// ```
    pub async fn run(&self) -> HealthReport {
        self.run_filtered(|_| true).await
    }

    /// Runs only the probes of `kind` (e.g. readiness on every routing
    /// decision, liveness less often).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use resilience_dr::health::{ProbeKind, ProbeSet};
    /// let mut set = ProbeSet::new();
    /// set.add("live", ProbeKind::Liveness, Duration::from_secs(1), || async { Err::<(), _>("dead") })
    ///     .unwrap();
    /// set.add("ready", ProbeKind::Readiness, Duration::from_secs(1), || async { Ok::<(), &str>(()) })
    ///     .unwrap();
    /// let ready_only = set.run_kind(ProbeKind::Readiness).await;
    /// assert_eq!(ready_only.results.len(), 1);
    /// assert!(ready_only.is_ready());
    /// # }
    /// ```
    pub async fn run_kind(&self, kind: ProbeKind) -> HealthReport {
        self.run_filtered(|e| e.kind == kind).await
    }

    async fn run_filtered(&self, keep: impl Fn(&Entry) -> bool) -> HealthReport {
        let runs = self.entries.iter().filter(|e| keep(e)).map(|e| {
            let clock = self.clock.clone();
            async move {
                let start = clock.now();
                let outcome = tokio::time::timeout(e.timeout, (e.check)()).await;
                let elapsed = clock.now().saturating_duration_since(start);
                let (status, elapsed) = match outcome {
                    Ok(Ok(())) => (ProbeStatus::Passed, elapsed),
                    Ok(Err(err)) => (
                        ProbeStatus::Failed {
                            message: err.to_string(),
                        },
                        elapsed,
                    ),
                    Err(_) => (ProbeStatus::TimedOut { after: e.timeout }, e.timeout),
                };
                if !status.passed() {
                    metrics::counter!(
                        "resilience_probe_failures_total",
                        "probe" => e.name.clone(),
                        "kind" => e.kind.as_str()
                    )
                    .increment(1);
                }
                ProbeResult {
                    name: e.name.clone(),
                    kind: e.kind,
                    status,
                    elapsed,
                }
            }
        });
        HealthReport::from_results(join_all(runs).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn timeouts_are_per_probe_and_concurrent() {
        let mut set = ProbeSet::new();
        set.add(
            "slow",
            ProbeKind::Liveness,
            Duration::from_secs(2),
            || async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok::<(), &str>(())
            },
        )
        .unwrap();
        set.add(
            "fast",
            ProbeKind::Readiness,
            Duration::from_secs(5),
            || async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok::<(), &str>(())
            },
        )
        .unwrap();
        let start = tokio::time::Instant::now();
        let report = set.run().await;
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        assert_eq!(
            report.results[0].status,
            ProbeStatus::TimedOut {
                after: Duration::from_secs(2)
            }
        );
        assert_eq!(report.results[1].elapsed, Duration::from_secs(1));
        assert_eq!(report.verdict(), Verdict::Restart);
        assert!(!report.is_ready());
    }

    #[tokio::test(start_paused = true)]
    async fn empty_set_is_healthy() {
        let report = ProbeSet::new().run().await;
        assert_eq!(report.verdict(), Verdict::Healthy);
        assert!(format!("{:?}", ProbeSet::new()).contains("ProbeSet"));
    }
}
