//! Readiness: whether this instance should receive traffic, answered from
//! the state the suite already keeps (the degradation level, the heartbeat
//! monitor's view of workers, your own checks).
//!
//! A load balancer or Kubernetes asks a readiness endpoint many times a
//! second and acts on one bit: send traffic here or not. The answer should
//! come from what the service already knows, not from a second set of
//! probes that can disagree with it. [`ReadinessChecks`] combines any
//! number of [`ReadinessCheck`]s into one [`ReadinessReport`]:
//!
//! - **not ready** when any check is not ready (the instance cannot do its
//!   job: take it out of rotation);
//! - **degraded** when any check is degraded and none is not ready (it
//!   serves, with less: keep it in rotation, and say why);
//! - **ready** otherwise.
//!
//! [`DegradationManager`] is a check
//! out of the box (normal level: ready; the last, most severe level: not
//! ready; in between: degraded, named by the level), and so is a closure
//! ([`ReadinessChecks::check_fn`]); resilience-dr's heartbeat monitor is
//! one too, and resilience-tower serves a report over HTTP (feature `axum`).
//!
//! ```
//! use resilience_core::degradation::{ComponentHealth, DegradationManager};
//! use resilience_core::readiness::{Readiness, ReadinessChecks, ReadinessState};
//!
//! let manager = DegradationManager::new(
//!     resilience_core::presets::workflow_runtime::degradation().unwrap(),
//! )
//! .unwrap();
//! let checks = ReadinessChecks::new()
//!     .check(manager.clone())
//!     .check_fn("migrations", || Readiness::Ready);
//! assert_eq!(checks.report().state, ReadinessState::Ready);
//!
//! manager.report_by_name("metadata_db_primary", ComponentHealth::Down).unwrap();
//! let report = checks.report();
//! assert_eq!(report.state, ReadinessState::Degraded);
//! assert!(report.to_json().contains(r#""state":"degraded""#));
//! ```

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::degradation::DegradationManager;

/// What one check says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Everything this check covers works.
    Ready,
    /// Serving, with less: the reason (e.g. the degradation level's name).
    Degraded(String),
    /// Cannot do its job: the reason.
    NotReady(String),
}

impl Readiness {
    /// The state, without the reason.
    pub fn state(&self) -> ReadinessState {
        match self {
            Readiness::Ready => ReadinessState::Ready,
            Readiness::Degraded(_) => ReadinessState::Degraded,
            Readiness::NotReady(_) => ReadinessState::NotReady,
        }
    }

    /// The reason, if not ready.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Readiness::Ready => None,
            Readiness::Degraded(r) | Readiness::NotReady(r) => Some(r),
        }
    }
}

/// Ready, degraded or not ready, ordered from best to worst.
///
/// ```
/// use resilience_core::readiness::ReadinessState;
/// assert!(ReadinessState::Ready < ReadinessState::Degraded);
/// assert!(ReadinessState::Degraded.serves_traffic());
/// assert!(!ReadinessState::NotReady.serves_traffic());
/// assert_eq!(ReadinessState::NotReady.to_string(), "not_ready");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadinessState {
    /// Everything works.
    Ready,
    /// Serving, with less.
    Degraded,
    /// Take this instance out of rotation.
    NotReady,
}

impl ReadinessState {
    /// Whether an instance in this state should receive traffic (ready or
    /// degraded): what an HTTP readiness endpoint answers with 200.
    pub fn serves_traffic(self) -> bool {
        self != ReadinessState::NotReady
    }

    /// `ready`, `degraded` or `not_ready`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadinessState::Ready => "ready",
            ReadinessState::Degraded => "degraded",
            ReadinessState::NotReady => "not_ready",
        }
    }
}

impl fmt::Display for ReadinessState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A source of readiness. Called on every readiness request: keep it to
/// reading state the component already has (an atomic load, a short lock),
/// never a network call.
pub trait ReadinessCheck: Send + Sync {
    /// The check's name in reports.
    fn name(&self) -> &str;

    /// The check's answer now.
    fn readiness(&self) -> Readiness;
}

impl<T: ReadinessCheck + ?Sized> ReadinessCheck for Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn readiness(&self) -> Readiness {
        (**self).readiness()
    }
}

/// The degradation level as readiness: the first (normal) level is ready,
/// the last (most severe) level of a set with more than one is not ready,
/// every level in between is degraded, named by the level. A manager whose
/// levels mean something else is wrapped in your own check
/// ([`ReadinessChecks::check_fn`]) reading
/// [`level`](DegradationManager::level).
impl ReadinessCheck for DegradationManager {
    fn name(&self) -> &str {
        DegradationManager::name(self)
    }

    fn readiness(&self) -> Readiness {
        let level = self.level();
        let last = self.thresholds().levels().len().saturating_sub(1);
        if level.severity() == 0 {
            Readiness::Ready
        } else if usize::from(level.severity()) >= last {
            Readiness::NotReady(format!("degradation level `{}`", level.name()))
        } else {
            Readiness::Degraded(format!("degradation level `{}`", level.name()))
        }
    }
}

/// A check made of a name and a closure.
struct FnCheck<F> {
    name: String,
    f: F,
}

impl<F> ReadinessCheck for FnCheck<F>
where
    F: Fn() -> Readiness + Send + Sync,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn readiness(&self) -> Readiness {
        (self.f)()
    }
}

/// Checks combined into one answer (see the [module docs](self)). Cheap to
/// clone: clones share the checks.
#[derive(Clone, Default)]
pub struct ReadinessChecks {
    checks: Vec<Arc<dyn ReadinessCheck>>,
}

impl ReadinessChecks {
    /// No checks: ready.
    pub fn new() -> Self {
        ReadinessChecks::default()
    }

    /// Adds a check.
    pub fn check(mut self, check: impl ReadinessCheck + 'static) -> Self {
        self.checks.push(Arc::new(check));
        self
    }

    /// Adds a check made of a name and a closure.
    ///
    /// ```
    /// use resilience_core::readiness::{Readiness, ReadinessChecks, ReadinessState};
    /// let checks = ReadinessChecks::new().check_fn("cache", || Readiness::NotReady("cold".into()));
    /// let report = checks.report();
    /// assert_eq!(report.state, ReadinessState::NotReady);
    /// assert_eq!(report.checks[0].reason.as_deref(), Some("cold"));
    /// ```
    pub fn check_fn(
        self,
        name: impl Into<String>,
        f: impl Fn() -> Readiness + Send + Sync + 'static,
    ) -> Self {
        self.check(FnCheck {
            name: name.into(),
            f,
        })
    }

    /// How many checks there are.
    pub fn len(&self) -> usize {
        self.checks.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    /// Asks every check, in the order they were added.
    pub fn report(&self) -> ReadinessReport {
        let checks: Vec<CheckReport> = self
            .checks
            .iter()
            .map(|c| {
                let r = c.readiness();
                CheckReport {
                    name: c.name().to_string(),
                    state: r.state(),
                    reason: r.reason().map(str::to_string),
                }
            })
            .collect();
        let state = checks
            .iter()
            .map(|c| c.state)
            .max()
            .unwrap_or(ReadinessState::Ready);
        ReadinessReport { state, checks }
    }
}

impl fmt::Debug for ReadinessChecks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.checks.iter().map(|c| c.name()))
            .finish()
    }
}

/// One check's answer in a [`ReadinessReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// The check's name.
    pub name: String,
    /// Its state.
    pub state: ReadinessState,
    /// Why it is not ready or degraded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The combined answer: the worst state of any check, and each check's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadinessReport {
    /// The worst state of any check (ready when there are none).
    pub state: ReadinessState,
    /// Every check's answer.
    pub checks: Vec<CheckReport>,
}

impl ReadinessReport {
    /// The report as JSON:
    /// `{"state":"degraded","checks":[{"name":"…","state":"…","reason":"…"}]}`.
    pub fn to_json(&self) -> String {
        // Serialising strings, enums and vectors cannot fail.
        serde_json::to_string(self)
            .unwrap_or_else(|_| format!(r#"{{"state":"{}","checks":[]}}"#, self.state.as_str()))
    }
}
