//! Health inputs and snapshots.

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::levels::DegradationLevel;

/// What a component reports: a coarse status or a score in [0, 1].
///
/// `Healthy` counts as 1.0, `Down` as 0.0, and `Degraded` as the config's
/// `degraded_score` (0.5 by default).
///
/// ```
/// use resilience_core::degradation::ComponentHealth;
/// assert_eq!(ComponentHealth::Healthy.score(0.5), 1.0);
/// assert_eq!(ComponentHealth::Degraded.score(0.4), 0.4);
/// assert_eq!(ComponentHealth::Score(0.75).score(0.5), 0.75);
/// let h: ComponentHealth = serde_json::from_str(r#"{"score":0.3}"#).unwrap();
/// assert_eq!(h, ComponentHealth::Score(0.3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentHealth {
    /// Fully healthy (1.0).
    Healthy,
    /// Working but impaired (the config's `degraded_score`).
    Degraded,
    /// Not working (0.0).
    Down,
    /// A measured score in [0, 1].
    Score(f64),
}

impl ComponentHealth {
    /// The score this report counts as.
    pub fn score(self, degraded_score: f64) -> f64 {
        match self {
            ComponentHealth::Healthy => 1.0,
            ComponentHealth::Degraded => degraded_score,
            ComponentHealth::Down => 0.0,
            ComponentHealth::Score(s) => s,
        }
    }
}

/// A pre-resolved handle to a component of one manager, for
/// [`DegradationManager::report`](super::DegradationManager::report).
///
/// ```
/// use resilience_core::degradation::{ComponentHealth, DegradationConfig, DegradationManager};
/// let m = DegradationManager::new(resilience_core::presets::workflow_runtime::degradation().unwrap()).unwrap();
/// let redis = m.component("redis_cluster").unwrap();
/// let level = m.report(redis, ComponentHealth::Down).unwrap();
/// assert_eq!(level.name(), "cache_degraded");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ComponentId {
    pub(crate) manager: u32,
    pub(crate) index: u32,
}

/// One component in a [`HealthSnapshot`].
///
/// ```
/// use resilience_core::degradation::{DegradationConfig, DegradationManager};
/// let m = DegradationManager::new(resilience_core::presets::data_platform::degradation().unwrap()).unwrap();
/// let snap = m.snapshot();
/// let llm = snap.components.iter().find(|c| c.name.as_ref() == "llm_service").unwrap();
/// assert_eq!(llm.score, 1.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ComponentSnapshot {
    /// The component.
    pub name: Arc<str>,
    /// Its last report (or its initial score, before any report).
    pub health: ComponentHealth,
    /// The score that report counts as.
    pub score: f64,
    /// Its weight in the overall score.
    pub weight: f64,
}

/// The inputs behind a level decision: what a service logs with every level
/// change (`log_degradation_event(level, health_scores)`).
///
/// ```
/// use resilience_core::degradation::{ComponentHealth, DegradationConfig, DegradationManager};
/// let m = DegradationManager::new(resilience_core::presets::workflow_runtime::degradation().unwrap()).unwrap();
/// m.report_by_name("metadata_db_primary", ComponentHealth::Down).unwrap();
/// let snap = m.snapshot();
/// assert_eq!(snap.rule_level.as_ref().unwrap().name(), "read_only");
/// assert_eq!(snap.triggered_rules[0].as_ref(), "primary_db_unavailable");
/// assert_eq!(snap.level.name(), "read_only");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HealthSnapshot {
    /// When the snapshot was taken (on the manager's clock).
    pub at: Instant,
    /// The weighted average of the component scores (1.0 when no
    /// component has weight).
    pub overall: f64,
    /// The level the score alone selects.
    pub score_level: DegradationLevel,
    /// The strictest level among the firing rules, if any fires.
    pub rule_level: Option<DegradationLevel>,
    /// Names of the firing rules.
    pub triggered_rules: Vec<Arc<str>>,
    /// The manual floor, when one is set.
    pub manual_floor: Option<DegradationLevel>,
    /// The level in force after hysteresis.
    pub level: DegradationLevel,
    /// Every component, in name order.
    pub components: Vec<ComponentSnapshot>,
}
