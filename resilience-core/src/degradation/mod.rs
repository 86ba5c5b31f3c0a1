//! Graceful degradation: turn component health into a service-wide
//! degradation level, and answer "is this feature on right now?" cheaply.
//!
//! * **Health.** Named components report a score in [0, 1] or
//!   healthy / degraded / down ([`ComponentHealth`]); the overall score is
//!   their weighted average.
//! * **Levels.** An ordered level set with score thresholds
//!   ([`HealthThresholds`]); the default: score above 0.9
//!   normal, above 0.7 level 1, above 0.5 level 2, above 0.3 level 3, above
//!   0.1 level 4, else read-only (level 5). Any custom set works, such as
//!   the data platform's Full AI, Reduced AI, Minimal, Buffer only.
//! * **Rules.** "database primary down -> read-only": a firing rule puts
//!   the system at least at its level ([`DegradationRuleConfig`]). A manual floor
//!   covers "maintenance mode: manual activation". The strictest of score
//!   level, rule levels and floor wins.
//! * **Hysteresis.** Degrading is immediate; by default recovering goes one
//!   level at a time, each step only after the better level has held for
//!   `recover_after` (optionally with a score margin), measured on the
//!   manager's [`Clock`]; with [`RecoveryMode::Immediate`] the level is
//!   recomputed on every evaluation (the data-platform and workflow-runtime
//!   presets). Call
//!   [`tick`](DegradationManager::tick) periodically so recovery happens
//!   even when no report arrives.
//! * **Feature x level matrix.** [`is_enabled`](DegradationManager::is_enabled)
//!   and [`mode`](DegradationManager::mode) answer for the current level
//!   from a precomputed table: an atomic load and an array read (see
//!   `benches/degradation.rs`).
//! * **Observable.** Every level change emits a [`DegradationEvent`] with
//!   the previous and new level and the [`HealthSnapshot`] that caused it
//!   (an alert and a log line), and sets the level gauge.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use resilience_core::clock::ManualClock;
//! use resilience_core::degradation::{ComponentHealth, DegradationConfig, DegradationManager};
//!
//! let clock = ManualClock::new();
//! let m = DegradationManager::with_clock(resilience_core::presets::data_platform::degradation().unwrap(), clock.clone()).unwrap();
//! let mapping = m.feature("schema_mapping").unwrap();
//! assert_eq!(m.mode(mapping), Some("llm_embedding"));
//!
//! // The LLM provider goes down: reduced AI at once.
//! m.report_by_name("llm_service", ComponentHealth::Down).unwrap();
//! assert_eq!(m.level().name(), "reduced_ai");
//! assert_eq!(m.mode(mapping), Some("embedding_only"));
//!
//! // It comes back: the preset recomputes the level at once.
//! m.report_by_name("llm_service", ComponentHealth::Healthy).unwrap();
//! assert_eq!(m.level().name(), "full_ai");
//!
//! // Stepwise hysteresis is the default for other configs: recovery then
//! // waits for a hold period per level.
//! let mut config = resilience_core::presets::data_platform::degradation().unwrap();
//! config.hysteresis.recovery = resilience_core::degradation::RecoveryMode::Stepwise;
//! config.hysteresis.recover_after = Duration::from_secs(120);
//! let m = DegradationManager::with_clock(config, clock.clone()).unwrap();
//! m.report_by_name("llm_service", ComponentHealth::Down).unwrap();
//! m.report_by_name("llm_service", ComponentHealth::Healthy).unwrap();
//! assert_eq!(m.level().name(), "reduced_ai");
//! clock.advance(Duration::from_secs(120));
//! assert_eq!(m.tick().name(), "full_ai");
//! ```
//!
//! # Metrics
//!
//! Handles are registered when the manager is built: install the `metrics`
//! recorder first. Every series has the label `degradation` (the config's
//! `name`).
//!
//! | name | kind | labels | meaning |
//! |---|---|---|---|
//! | `resilience_degradation_level` | gauge | `degradation` | severity of the level in force (0 = normal) |
//! | `resilience_degradation_health_score` | gauge | `degradation` | the weighted overall score, in [0, 1] |
//! | `resilience_degradation_component_score` | gauge | `degradation`, `component` | each component's last score |
//! | `resilience_degradation_level_changes_total` | counter | `degradation`, `direction` | level changes; `direction` is `degrade` or `recover` |

mod config;
mod health;
mod hysteresis;
mod levels;
mod matrix;

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use metrics::{Counter, Gauge};
use parking_lot::Mutex;

pub use config::{
    ComponentConfig, Condition, CountRuleConfig, DegradationConfig, DegradationRuleConfig,
    HysteresisConfig, RecoveryMode, MAX_RECOVER_AFTER,
};
#[allow(deprecated)]
pub use config::{
    RuleConfig, DATA_PLATFORM_YAML, SYNTHETIC_DATA_PLATFORM_YAML, WORKFLOW_RUNTIME_YAML,
};
pub use health::{ComponentHealth, ComponentId, ComponentSnapshot, HealthSnapshot};
pub use levels::{default_levels, DegradationLevel, HealthThresholds, LevelConfig, MAX_LEVELS};
pub use matrix::{FeatureId, FeatureMatrix, ModeValue, DEFAULT_DISABLED_MODES};

use crate::circuit_breaker::{CircuitBreaker, CircuitBreakerEventKind, CircuitState};
use crate::clock::{shared, Clock, SharedClock, SystemClock};
use crate::config::ConfigError;
use crate::events::Listeners;
use hysteresis::Hysteresis;

/// A report or command the manager cannot act on. Nothing changes when
/// one is returned.
///
/// ```
/// use resilience_core::degradation::{ComponentHealth, DegradationConfig, DegradationError, DegradationManager};
/// let m = DegradationManager::new(resilience_core::presets::workflow_runtime::degradation().unwrap()).unwrap();
/// let e = m.report_by_name("redis", ComponentHealth::Down).unwrap_err();
/// assert!(matches!(e, DegradationError::UnknownComponent { .. }));
/// assert!(e.to_string().contains("known components: llm_service, metadata_db_primary, redis_cluster"));
/// let e = m.report_by_name("redis_cluster", ComponentHealth::Score(1.5)).unwrap_err();
/// assert!(matches!(e, DegradationError::InvalidScore { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DegradationError {
    /// No component of that name is configured.
    #[error(
        "degradation manager `{manager}` has no component `{name}`; known components: {known}"
    )]
    UnknownComponent {
        /// The manager.
        manager: String,
        /// The name asked for.
        name: String,
        /// The configured components.
        known: String,
    },
    /// A [`ComponentId`] from another manager.
    #[error("degradation manager `{manager}` got a component id from another manager; resolve ids with this manager's `component()`")]
    ForeignComponent {
        /// The manager.
        manager: String,
    },
    /// A score outside [0, 1] (or NaN).
    #[error("component `{component}` reported score {score}, outside [0, 1]; report 0 for down, 1 for healthy")]
    InvalidScore {
        /// The component.
        component: String,
        /// The score reported.
        score: f64,
    },
    /// No level of that name.
    #[error("degradation manager `{manager}` has no level `{name}`; levels are: {known}")]
    UnknownLevel {
        /// The manager.
        manager: String,
        /// The name asked for.
        name: String,
        /// The configured levels.
        known: String,
    },
}

/// A level change, with the inputs that caused it.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use resilience_core::degradation::{ComponentHealth, DegradationConfig, DegradationEvent, DegradationManager};
///
/// let m = DegradationManager::new(resilience_core::presets::workflow_runtime::degradation().unwrap()).unwrap();
/// let alerts = Arc::new(Mutex::new(Vec::new()));
/// let sink = alerts.clone();
/// m.listeners().add_fn(move |e: &DegradationEvent| {
///     sink.lock().unwrap().push(format!("Degradation level changed: {} -> {}", e.previous.name(), e.current.name()));
/// });
/// m.report_by_name("metadata_db_primary", ComponentHealth::Down).unwrap();
/// assert_eq!(alerts.lock().unwrap()[0], "Degradation level changed: full_operation -> read_only");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DegradationEvent {
    /// The manager's name.
    pub manager: Arc<str>,
    /// The level before.
    pub previous: DegradationLevel,
    /// The level now.
    pub current: DegradationLevel,
    /// The inputs at the moment of the change.
    pub snapshot: HealthSnapshot,
    /// The notice for users of the level now in force (its
    /// [`LevelConfig::message`]), if it has one.
    pub message: Option<Arc<str>>,
}

impl DegradationEvent {
    /// Whether this change is a step back towards normal.
    pub fn is_recovery(&self) -> bool {
        self.current.severity() < self.previous.severity()
    }
}

#[derive(Debug)]
struct Component {
    name: Arc<str>,
    weight: f64,
    score_gauge: Gauge,
}

#[derive(Debug)]
enum Scope {
    /// One component's report.
    One(usize),
    /// At least `n` of these components.
    AtLeast { of: Vec<usize>, n: u32 },
}

#[derive(Debug)]
struct Rule {
    name: Arc<str>,
    scope: Scope,
    when: Condition,
    level: u8,
}

impl Rule {
    fn fires(&self, health: ComponentHealth, score: f64) -> bool {
        match self.when {
            Condition::Down => health == ComponentHealth::Down || score <= 0.0,
            Condition::Degraded => match health {
                ComponentHealth::Healthy => false,
                ComponentHealth::Degraded | ComponentHealth::Down => true,
                ComponentHealth::Score(s) => s < 1.0,
            },
            Condition::Below(x) => score < x,
        }
    }

    /// Whether the rule fires on these reports.
    fn fires_on(&self, health: &[ComponentHealth], degraded_score: f64) -> bool {
        let one = |i: usize| {
            health
                .get(i)
                .is_some_and(|&h| self.fires(h, h.score(degraded_score)))
        };
        match &self.scope {
            Scope::One(i) => one(*i),
            Scope::AtLeast { of, n } => of.iter().filter(|&&i| one(i)).count() >= *n as usize,
        }
    }
}

#[derive(Debug)]
struct State {
    health: Vec<ComponentHealth>,
    hysteresis: Hysteresis,
    manual_floor: Option<u8>,
}

/// What the inputs call for at one moment.
struct Inputs {
    overall: f64,
    score_level: u8,
    recovery_score_level: u8,
    rule_level: Option<u8>,
}

struct Metrics {
    level: Gauge,
    score: Gauge,
    degrade: Counter,
    recover: Counter,
}

static NEXT_MANAGER: AtomicU32 = AtomicU32::new(1);

/// The degradation state machine for one service: health in, level and
/// feature modes out. Thread-safe.
///
/// Cheap to clone: clones share one manager (an `Arc` inside).
///
/// Reports and ticks take a short lock and evaluate the level; the
/// feature checks ([`is_enabled`](Self::is_enabled), [`mode`](Self::mode),
/// [`severity`](Self::severity)) take no lock. Listeners are called with
/// the lock held, in order; they must not call back into the manager's
/// reporting methods.
///
/// ```
/// use resilience_core::degradation::{ComponentHealth, DegradationConfig, DegradationManager};
///
/// let m = DegradationManager::new(resilience_core::presets::synthetic_data::degradation().unwrap()).unwrap();
/// let diffusion = m.feature("diffusion_models").unwrap();
/// assert!(m.is_enabled(diffusion));
/// // GPU capacity and the quality service both fail: score 0.6 -> level 2.
/// m.report_by_name("gpu_cluster", ComponentHealth::Down).unwrap();
/// m.report_by_name("quality_service", ComponentHealth::Score(0.0)).unwrap();
/// assert_eq!(m.snapshot().overall, 0.6);
/// assert_eq!(m.severity(), 2);
/// assert!(!m.is_enabled(diffusion));
/// assert_eq!(m.is_enabled_by_name("streaming_generation"), Some(true));
/// ```
pub struct DegradationManager {
    inner: Arc<DegradationManagerShared>,
}

impl Clone for DegradationManager {
    fn clone(&self) -> Self {
        DegradationManager {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// For code written when this type was shared as `Arc<DegradationManager>`: a
/// handle to the same one.
impl From<Arc<DegradationManager>> for DegradationManager {
    fn from(shared: Arc<DegradationManager>) -> Self {
        (*shared).clone()
    }
}

struct DegradationManagerShared {
    tag: u32,
    name: Arc<str>,
    thresholds: HealthThresholds,
    /// Sorted by name (built from a `BTreeMap`): lookups are binary searches.
    components: Vec<Component>,
    degraded_score: f64,
    margin: f64,
    rules: Vec<Rule>,
    matrix: FeatureMatrix,
    level: AtomicU8,
    state: Mutex<State>,
    clock: SharedClock,
    listeners: Listeners<DegradationEvent>,
    metrics: Metrics,
    /// Breakers whose state feeds a component ([`DegradationManager::follow_breaker`]):
    /// `tick` asks each for its state, so a lazy open -> half-open
    /// transition is noticed even when no call reaches the breaker.
    followed: Mutex<Vec<CircuitBreaker>>,
    /// Each level's user notice, by severity.
    messages: Vec<Option<Arc<str>>>,
}

impl fmt::Debug for DegradationManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DegradationManager")
            .field("name", &self.inner.name)
            .field("level", &self.level())
            .field("levels", &self.inner.thresholds.names())
            .field("components", &self.inner.components.len())
            .field("rules", &self.inner.rules.len())
            .field("features", &self.inner.matrix)
            .finish()
    }
}

impl Metrics {
    fn new(label: String) -> Metrics {
        Metrics {
            level: metrics::gauge!("resilience_degradation_level", "degradation" => label.clone()),
            score: metrics::gauge!("resilience_degradation_health_score", "degradation" => label.clone()),
            degrade: metrics::counter!(
                "resilience_degradation_level_changes_total",
                "degradation" => label.clone(),
                "direction" => "degrade"
            ),
            recover: metrics::counter!(
                "resilience_degradation_level_changes_total",
                "degradation" => label,
                "direction" => "recover"
            ),
        }
    }
}

impl DegradationManager {
    /// Builds a manager from a config, on the system clock.
    ///
    /// The initial level is the one the initial scores call for, without
    /// hysteresis and without an event.
    ///
    /// ```
    /// use resilience_core::degradation::{DegradationConfig, DegradationManager};
    /// let m = DegradationManager::new(DegradationConfig::default()).unwrap();
    /// assert!(m.level().is_normal());
    /// let mut bad = DegradationConfig::default();
    /// bad.hysteresis.margin = 0.2; // 0.9 + 0.2 >= 1: could never recover to normal
    /// assert_eq!(DegradationManager::new(bad).unwrap_err().field(), Some("hysteresis.margin"));
    /// ```
    pub fn new(config: DegradationConfig) -> Result<Self, ConfigError> {
        Self::with_clock(config, SystemClock)
    }

    /// Like [`new`](Self::new), on the given clock (use
    /// [`ManualClock`](crate::clock::ManualClock) in tests).
    ///
    /// ```
    /// use resilience_core::clock::ManualClock;
    /// use resilience_core::degradation::{DegradationConfig, DegradationManager};
    /// let m = DegradationManager::with_clock(DegradationConfig::default(), ManualClock::new()).unwrap();
    /// assert_eq!(m.name(), "default");
    /// ```
    pub fn with_clock(config: DegradationConfig, clock: impl Clock) -> Result<Self, ConfigError> {
        let clock = shared(clock);
        let thresholds = config.thresholds()?;
        let matrix = FeatureMatrix::build(&config.features, &thresholds, &config.disabled_modes)?;
        let label = config.name.clone();
        let (components, health) = Self::build_components(&config, &label)?;
        let rules = Self::build_rules(&config, &components, &thresholds)?;
        let messages: Vec<Option<Arc<str>>> = config
            .levels
            .iter()
            .map(|l| l.message.as_deref().map(Arc::from))
            .collect();
        let metrics = Metrics::new(label);
        let mut manager = DegradationManagerShared {
            tag: NEXT_MANAGER.fetch_add(1, Ordering::Relaxed),
            name: Arc::from(config.name.as_str()),
            thresholds,
            components,
            degraded_score: config.degraded_score,
            margin: config.hysteresis.margin,
            rules,
            matrix,
            level: AtomicU8::new(0),
            state: Mutex::new(State {
                health,
                hysteresis: Hysteresis::new(0, config.hysteresis.recover_after)
                    .immediate(config.hysteresis.recovery == RecoveryMode::Immediate),
                manual_floor: None,
            }),
            clock,
            listeners: Listeners::new(),
            metrics,
            followed: Mutex::new(Vec::new()),
            messages,
        };
        let initial = {
            let state = manager.state.get_mut();
            let inputs = Self::inputs_of(
                &manager.thresholds,
                &manager.components,
                &manager.rules,
                manager.degraded_score,
                manager.margin,
                state,
            );
            let target = inputs.target(state.manual_floor);
            state.hysteresis = Hysteresis::new(target, config.hysteresis.recover_after)
                .immediate(config.hysteresis.recovery == RecoveryMode::Immediate);
            for (c, h) in manager.components.iter().zip(&state.health) {
                c.score_gauge.set(h.score(manager.degraded_score));
            }
            manager.metrics.score.set(inputs.overall);
            target
        };
        manager.level = AtomicU8::new(initial);
        manager.metrics.level.set(f64::from(initial));
        Ok(DegradationManager {
            inner: Arc::new(manager),
        })
    }

    /// The components in name order with their score gauges, and their
    /// initial health.
    fn build_components(
        config: &DegradationConfig,
        label: &str,
    ) -> Result<(Vec<Component>, Vec<ComponentHealth>), ConfigError> {
        let mut components = Vec::with_capacity(config.components.len());
        let mut health = Vec::with_capacity(config.components.len());
        for (i, (name, c)) in config.components.iter().enumerate() {
            if c.weight > 1e9 {
                return Err(ConfigError::invalid(
                    format!("components.{name}.weight"),
                    format!("must be at most 1e9, got {}", c.weight),
                ));
            }
            let name: Arc<str> = Arc::from(name.as_str());
            if u32::try_from(i).is_err() {
                return Err(ConfigError::invalid("components", "too many components"));
            }
            components.push(Component {
                score_gauge: metrics::gauge!(
                    "resilience_degradation_component_score",
                    "degradation" => label.to_string(),
                    "component" => name.to_string()
                ),
                name,
                weight: c.weight,
            });
            health.push(ComponentHealth::Score(c.initial));
        }
        Ok((components, health))
    }

    /// The score rules and count rules, resolved to component indices and
    /// level severities.
    fn build_rules(
        config: &DegradationConfig,
        components: &[Component],
        thresholds: &HealthThresholds,
    ) -> Result<Vec<Rule>, ConfigError> {
        let mut rules = Vec::with_capacity(config.rules.len());
        for r in &config.rules {
            // Both lookups were checked by `thresholds()`.
            let (Some(component), Some(level)) = (
                components
                    .binary_search_by(|c: &Component| (*c.name).cmp(r.component.as_str()))
                    .ok(),
                thresholds.by_name(&r.level),
            ) else {
                return Err(ConfigError::invalid("rules", "unknown component or level"));
            };
            rules.push(Rule {
                name: Arc::from(r.name.as_str()),
                scope: Scope::One(component),
                when: r.when,
                level: level.severity(),
            });
        }
        for r in &config.count_rules {
            // Checked by `thresholds()`.
            let of: Option<Vec<usize>> = if r.components.is_empty() {
                Some((0..components.len()).collect())
            } else {
                r.components
                    .iter()
                    .map(|name| {
                        components
                            .binary_search_by(|c: &Component| (*c.name).cmp(name.as_str()))
                            .ok()
                    })
                    .collect()
            };
            let (Some(of), Some(level)) = (of, thresholds.by_name(&r.level)) else {
                return Err(ConfigError::invalid(
                    "count_rules",
                    "unknown component or level",
                ));
            };
            rules.push(Rule {
                name: Arc::from(r.name.as_str()),
                scope: Scope::AtLeast { of, n: r.at_least },
                when: r.when,
                level: level.severity(),
            });
        }
        Ok(rules)
    }

    /// Registers a user-notification hook: `f` gets the change and the
    /// notice of the level entered, each time the manager enters a level
    /// whose config has a [`message`](LevelConfig::message) (the
    /// synthetic-data platform's `notify_users(...)` per level). Runs on the
    /// reporting thread with the manager's lock held, like every listener:
    /// hand the notice to a channel, do not call back into the manager.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use resilience_core::degradation::{ComponentHealth, DegradationManager};
    ///
    /// let m = DegradationManager::new(resilience_core::presets::synthetic_data::degradation().unwrap()).unwrap();
    /// let notices = Arc::new(Mutex::new(Vec::new()));
    /// let sink = notices.clone();
    /// m.on_notice(move |_change, message| sink.lock().unwrap().push(message.to_string()));
    /// let sweep: Vec<_> = m.components().map(|n| (m.component(n).unwrap(), ComponentHealth::Score(0.4))).collect();
    /// m.report_all(&sweep).unwrap(); // overall 0.4: level 3
    /// assert_eq!(*notices.lock().unwrap(), ["Streaming generation temporarily disabled"]);
    /// ```
    pub fn on_notice<F>(&self, f: F) -> crate::events::ListenerId
    where
        F: Fn(&DegradationEvent, &str) + Send + Sync + 'static,
    {
        self.inner.listeners.add_fn(move |e: &DegradationEvent| {
            if let Some(message) = &e.message {
                f(e, message)
            }
        })
    }

    /// The manager's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The level set.
    pub fn thresholds(&self) -> &HealthThresholds {
        &self.inner.thresholds
    }

    /// The feature x level matrix.
    pub fn matrix(&self) -> &FeatureMatrix {
        &self.inner.matrix
    }

    /// Event listeners (see [`DegradationEvent`]).
    pub fn listeners(&self) -> &Listeners<DegradationEvent> {
        &self.inner.listeners
    }

    /// Component names, in sorted order.
    pub fn components(&self) -> impl Iterator<Item = &str> + '_ {
        self.inner.components.iter().map(|c| &*c.name)
    }

    /// The handle of a component, by name.
    pub fn component(&self, name: &str) -> Option<ComponentId> {
        let index = self
            .inner
            .components
            .binary_search_by(|c| (*c.name).cmp(name))
            .ok()?;
        Some(ComponentId {
            manager: self.inner.tag,
            index: u32::try_from(index).ok()?,
        })
    }

    /// The handle of a feature, by name. Resolve once, check often.
    pub fn feature(&self, name: &str) -> Option<FeatureId> {
        self.inner.matrix.feature(name)
    }

    /// The severity of the level in force: one atomic load.
    #[inline]
    pub fn severity(&self) -> u8 {
        self.inner.level.load(Ordering::Acquire)
    }

    /// The level in force.
    pub fn level(&self) -> DegradationLevel {
        self.inner.thresholds.level_at(self.severity() as usize)
    }

    /// Whether a feature runs at the current level. The hot-path check: an
    /// atomic load and a table read, no lock. A foreign id answers `false`.
    ///
    /// ```
    /// use resilience_core::degradation::{ComponentHealth, DegradationConfig, DegradationManager};
    /// let m = DegradationManager::new(resilience_core::presets::workflow_runtime::degradation().unwrap()).unwrap();
    /// let writes = m.feature("writes").unwrap();
    /// assert!(m.is_enabled(writes));
    /// m.report_by_name("metadata_db_primary", ComponentHealth::Down).unwrap();
    /// assert!(!m.is_enabled(writes));
    /// assert_eq!(m.mode(writes), Some("queued"));
    /// ```
    #[inline]
    pub fn is_enabled(&self, feature: FeatureId) -> bool {
        self.inner
            .matrix
            .is_enabled_at(feature, self.inner.level.load(Ordering::Relaxed))
    }

    /// The feature's mode at the current level (`None` for a foreign id).
    #[inline]
    pub fn mode(&self, feature: FeatureId) -> Option<&str> {
        self.inner
            .matrix
            .mode_at(feature, self.inner.level.load(Ordering::Relaxed))
    }

    /// [`is_enabled`](Self::is_enabled) by name (a hash lookup first);
    /// `None` for an unknown feature.
    ///
    /// ```
    /// use resilience_core::degradation::{DegradationConfig, DegradationManager};
    /// let m = DegradationManager::new(resilience_core::presets::data_platform::degradation().unwrap()).unwrap();
    /// assert_eq!(m.is_enabled_by_name("self_healing"), Some(true));
    /// assert_eq!(m.is_enabled_by_name("teleport"), None);
    /// ```
    pub fn is_enabled_by_name(&self, feature: &str) -> Option<bool> {
        self.feature(feature).map(|id| self.is_enabled(id))
    }

    /// [`mode`](Self::mode) by name; `None` for an unknown feature.
    ///
    /// ```
    /// use resilience_core::degradation::{DegradationConfig, DegradationManager};
    /// let m = DegradationManager::new(resilience_core::presets::data_platform::degradation().unwrap()).unwrap();
    /// assert_eq!(m.mode_by_name("transformations"), Some("nl_to_sql"));
    /// ```
    pub fn mode_by_name(&self, feature: &str) -> Option<&str> {
        self.mode(self.feature(feature)?)
    }

    /// Records a component's health and re-evaluates the level; returns the
    /// level in force afterwards.
    ///
    /// ```
    /// use resilience_core::degradation::{ComponentHealth, DegradationConfig, DegradationManager};
    /// let m = DegradationManager::new(resilience_core::presets::data_platform::degradation().unwrap()).unwrap();
    /// let compute = m.component("compute").unwrap();
    /// assert_eq!(m.report(compute, ComponentHealth::Down).unwrap().name(), "minimal");
    /// ```
    pub fn report(
        &self,
        component: ComponentId,
        health: ComponentHealth,
    ) -> Result<DegradationLevel, DegradationError> {
        self.report_all(&[(component, health)])
    }

    /// A component's id, or an error naming the known ones.
    fn known_component(&self, component: &str) -> Result<ComponentId, DegradationError> {
        self.component(component)
            .ok_or_else(|| DegradationError::UnknownComponent {
                manager: self.inner.name.to_string(),
                name: component.to_string(),
                known: self.components().collect::<Vec<_>>().join(", "),
            })
    }

    /// [`report`](Self::report) by component name.
    pub fn report_by_name(
        &self,
        component: &str,
        health: ComponentHealth,
    ) -> Result<DegradationLevel, DegradationError> {
        let id = self.known_component(component)?;
        self.report(id, health)
    }

    /// Records several reports at once and evaluates once (a full health
    /// sweep, as a health-check loop does). Either every report is valid and
    /// applied, or none is.
    ///
    /// ```
    /// use resilience_core::degradation::{ComponentHealth, DegradationConfig, DegradationManager};
    /// let m = DegradationManager::new(resilience_core::presets::synthetic_data::degradation().unwrap()).unwrap();
    /// let sweep: Vec<_> = ["gpu_cluster", "quality_service", "database", "storage", "queue_depth"]
    ///     .iter()
    ///     .zip([0.9, 0.2, 1.0, 0.9, 0.5])
    ///     .map(|(n, s)| (m.component(n).unwrap(), ComponentHealth::Score(s)))
    ///     .collect();
    /// let level = m.report_all(&sweep).unwrap(); // mean 0.7 -> level 2
    /// assert_eq!(level.severity(), 2);
    /// ```
    pub fn report_all(
        &self,
        reports: &[(ComponentId, ComponentHealth)],
    ) -> Result<DegradationLevel, DegradationError> {
        for &(id, health) in reports {
            self.check(id, health)?;
        }
        let mut state = self.inner.state.lock();
        for &(id, health) in reports {
            if let Some(slot) = state.health.get_mut(id.index as usize) {
                *slot = health;
            }
            if let Some(c) = self.inner.components.get(id.index as usize) {
                c.score_gauge.set(health.score(self.inner.degraded_score));
            }
        }
        Ok(self.evaluate(&mut state))
    }

    /// Re-evaluates at the clock's current time: call it periodically so a
    /// recovery step happens once its hold period is over, even when no new
    /// report arrives. Returns the level in force.
    pub fn tick(&self) -> DegradationLevel {
        // Followed breakers first (without the state lock: a transition
        // reports into this manager).
        let followed: Vec<CircuitBreaker> = self.inner.followed.lock().clone();
        for breaker in &followed {
            breaker.state();
        }
        let mut state = self.inner.state.lock();
        self.evaluate(&mut state)
    }

    /// Feeds a circuit breaker's state into `component`, so the breaker
    /// drives the level without the host mapping states by hand (the
    /// workflow runtime: "LLM service circuit breaker open -> AI
    /// degraded"). The breaker's current state is reported at once, then
    /// every transition is:
    ///
    /// | breaker state | reported health |
    /// |---|---|
    /// | open, forced open | `Down` |
    /// | half-open | `Degraded` |
    /// | closed, disabled, metrics-only | `Healthy` |
    ///
    /// Half-open is `Degraded`, not `Down`: a `when: down` rule (the
    /// workflow-runtime preset's) then lets traffic through while the
    /// breaker admits its trial request, and a failed trial makes it `Down`
    /// again. Had half-open stayed down, the features the rule disables
    /// would send no trial request and the breaker could never close. Use
    /// [`follow_breaker_with`](Self::follow_breaker_with) for another
    /// mapping.
    ///
    /// An open breaker becomes half-open when it is next asked;
    /// [`tick`](Self::tick) asks every followed breaker, so call `tick`
    /// periodically. The link holds the breaker (a cheap handle) and the
    /// breaker's listener holds this manager weakly: it lasts as long as
    /// the manager.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::circuit_breaker::CircuitBreaker;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_core::degradation::DegradationManager;
    /// use resilience_core::presets::workflow_runtime;
    ///
    /// let clock = ManualClock::new();
    /// let llm = CircuitBreaker::with_clock(workflow_runtime::llm_service_breaker(), clock.clone()).unwrap();
    /// let levels = DegradationManager::with_clock(workflow_runtime::degradation().unwrap(), clock.clone()).unwrap();
    /// levels.follow_breaker("llm_service", &llm).unwrap();
    ///
    /// for _ in 0..3 {
    ///     llm.try_acquire().unwrap().record_failure(); // 3 failures in 60 s: open
    /// }
    /// assert_eq!(levels.level().name(), "ai_degraded");
    /// assert_eq!(levels.is_enabled_by_name("ai_query"), Some(false));
    ///
    /// clock.advance(Duration::from_secs(60)); // open time over
    /// assert_eq!(levels.tick().name(), "full_operation"); // half-open: the trial may go
    /// llm.try_acquire().unwrap().record_success();
    /// assert_eq!(levels.level().name(), "full_operation");
    /// ```
    pub fn follow_breaker(
        &self,
        component: &str,
        breaker: &CircuitBreaker,
    ) -> Result<(), DegradationError> {
        self.follow_breaker_with(component, breaker, default_breaker_health)
    }

    /// [`follow_breaker`](Self::follow_breaker) with your own mapping from
    /// breaker state to component health.
    ///
    /// ```
    /// use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitState};
    /// use resilience_core::degradation::{ComponentHealth, DegradationManager};
    /// use resilience_core::presets::data_platform;
    ///
    /// let llm = CircuitBreaker::new(data_platform::llm_provider_breaker()).unwrap();
    /// let levels = DegradationManager::new(data_platform::degradation().unwrap()).unwrap();
    /// // Only an open breaker counts: half-open is healthy enough here.
    /// levels.follow_breaker_with("llm_service", &llm, |s| match s {
    ///     CircuitState::Open | CircuitState::ForcedOpen => ComponentHealth::Down,
    ///     _ => ComponentHealth::Healthy,
    /// }).unwrap();
    /// llm.force_open();
    /// assert_eq!(levels.level().name(), "reduced_ai");
    /// llm.reset();
    /// assert_eq!(levels.level().name(), "full_ai");
    /// ```
    pub fn follow_breaker_with<F>(
        &self,
        component: &str,
        breaker: &CircuitBreaker,
        map: F,
    ) -> Result<(), DegradationError>
    where
        F: Fn(CircuitState) -> ComponentHealth + Send + Sync + 'static,
    {
        let id = self.known_component(component)?;
        let map = Arc::new(map);
        let on_change = map.clone();
        let weak = Arc::downgrade(&self.inner);
        breaker.on_event(move |e| {
            if let CircuitBreakerEventKind::StateTransition { to, .. } = e.kind {
                if let Some(inner) = weak.upgrade() {
                    // The id is this manager's and the mapping gives a
                    // health; a bad score from a custom mapping is dropped.
                    let _ = DegradationManager { inner }.report(id, on_change(to));
                }
            }
        });
        self.inner.followed.lock().push(breaker.clone());
        // The state now (after registering, so no transition is missed).
        let now = breaker.state();
        self.report(id, map(now)).map(|_| ())
    }

    /// Sets (or, with `None`, clears) a manual floor: the system stays at
    /// least at that level until cleared (the workflow runtime's "maintenance mode:
    /// manual activation"). Setting degrades at once; clearing lets the
    /// level recover through the usual hysteresis.
    ///
    /// ```
    /// use resilience_core::degradation::{DegradationConfig, DegradationManager};
    /// let m = DegradationManager::new(resilience_core::presets::workflow_runtime::degradation().unwrap()).unwrap();
    /// assert_eq!(m.set_manual_floor(Some("maintenance")).unwrap().name(), "maintenance");
    /// assert_eq!(m.is_enabled_by_name("api"), Some(false));
    /// assert!(m.set_manual_floor(Some("panic")).is_err());
    /// ```
    pub fn set_manual_floor(
        &self,
        level: Option<&str>,
    ) -> Result<DegradationLevel, DegradationError> {
        let floor = match level {
            None => None,
            Some(name) => Some(
                self.inner
                    .thresholds
                    .by_name(name)
                    .ok_or_else(|| DegradationError::UnknownLevel {
                        manager: self.inner.name.to_string(),
                        name: name.to_string(),
                        known: self.inner.thresholds.names(),
                    })?
                    .severity(),
            ),
        };
        let mut state = self.inner.state.lock();
        state.manual_floor = floor;
        Ok(self.evaluate(&mut state))
    }

    /// The current inputs and level.
    pub fn snapshot(&self) -> HealthSnapshot {
        let state = self.inner.state.lock();
        self.snapshot_of(&state, self.inner.clock.now())
    }

    fn check(&self, id: ComponentId, health: ComponentHealth) -> Result<(), DegradationError> {
        if id.manager != self.inner.tag {
            return Err(DegradationError::ForeignComponent {
                manager: self.inner.name.to_string(),
            });
        }
        let Some(c) = self.inner.components.get(id.index as usize) else {
            return Err(DegradationError::ForeignComponent {
                manager: self.inner.name.to_string(),
            });
        };
        if let ComponentHealth::Score(s) = health {
            if !(s.is_finite() && (0.0..=1.0).contains(&s)) {
                return Err(DegradationError::InvalidScore {
                    component: c.name.to_string(),
                    score: s,
                });
            }
        }
        Ok(())
    }

    fn inputs_of(
        thresholds: &HealthThresholds,
        components: &[Component],
        rules: &[Rule],
        degraded_score: f64,
        margin: f64,
        state: &State,
    ) -> Inputs {
        let mut weighted = 0.0;
        let mut total = 0.0;
        for (c, h) in components.iter().zip(&state.health) {
            weighted += c.weight * h.score(degraded_score);
            total += c.weight;
        }
        let overall = if total > 0.0 {
            (weighted / total).clamp(0.0, 1.0)
        } else {
            1.0
        };
        let rule_level = rules
            .iter()
            .filter(|r| r.fires_on(&state.health, degraded_score))
            .map(|r| r.level)
            .max();
        Inputs {
            overall,
            score_level: thresholds.index_for(overall) as u8,
            recovery_score_level: thresholds.index_for(overall - margin) as u8,
            rule_level,
        }
    }

    fn evaluate(&self, state: &mut State) -> DegradationLevel {
        let now = self.inner.clock.now();
        let inputs = Self::inputs_of(
            &self.inner.thresholds,
            &self.inner.components,
            &self.inner.rules,
            self.inner.degraded_score,
            self.inner.margin,
            state,
        );
        self.inner.metrics.score.set(inputs.overall);
        let target = inputs.target(state.manual_floor);
        let recovery_target = inputs
            .recovery_score_level
            .max(inputs.rule_level.unwrap_or(0))
            .max(state.manual_floor.unwrap_or(0))
            .max(target);
        if let Some((from, to)) = state.hysteresis.step(target, recovery_target, now) {
            self.inner.level.store(to, Ordering::Release);
            self.inner.metrics.level.set(f64::from(to));
            if to > from {
                self.inner.metrics.degrade.increment(1);
            } else {
                self.inner.metrics.recover.increment(1);
            }
            #[cfg(feature = "tracing")]
            tracing::warn!(
                degradation = %self.inner.name,
                previous = %self.inner.thresholds.level_at(from as usize),
                current = %self.inner.thresholds.level_at(to as usize),
                overall = inputs.overall,
                "degradation level changed"
            );
            self.inner.listeners.emit_with(|| DegradationEvent {
                manager: self.inner.name.clone(),
                previous: self.inner.thresholds.level_at(from as usize),
                current: self.inner.thresholds.level_at(to as usize),
                snapshot: self.snapshot_of(state, now),
                message: self.inner.messages.get(to as usize).cloned().flatten(),
            });
        }
        self.inner
            .thresholds
            .level_at(state.hysteresis.current() as usize)
    }

    fn snapshot_of(&self, state: &State, at: Instant) -> HealthSnapshot {
        let inputs = Self::inputs_of(
            &self.inner.thresholds,
            &self.inner.components,
            &self.inner.rules,
            self.inner.degraded_score,
            self.inner.margin,
            state,
        );
        let triggered_rules = self
            .inner
            .rules
            .iter()
            .filter(|r| r.fires_on(&state.health, self.inner.degraded_score))
            .map(|r| r.name.clone())
            .collect();
        HealthSnapshot {
            at,
            overall: inputs.overall,
            score_level: self.inner.thresholds.level_at(inputs.score_level as usize),
            rule_level: inputs
                .rule_level
                .map(|l| self.inner.thresholds.level_at(l as usize)),
            triggered_rules,
            manual_floor: state
                .manual_floor
                .map(|l| self.inner.thresholds.level_at(l as usize)),
            level: self
                .inner
                .thresholds
                .level_at(state.hysteresis.current() as usize),
            components: self
                .inner
                .components
                .iter()
                .zip(&state.health)
                .map(|(c, &h)| ComponentSnapshot {
                    name: c.name.clone(),
                    health: h,
                    score: h.score(self.inner.degraded_score),
                    weight: c.weight,
                })
                .collect(),
        }
    }
}

/// The mapping of [`DegradationManager::follow_breaker`].
fn default_breaker_health(state: CircuitState) -> ComponentHealth {
    match state {
        CircuitState::Open | CircuitState::ForcedOpen => ComponentHealth::Down,
        CircuitState::HalfOpen => ComponentHealth::Degraded,
        CircuitState::Closed | CircuitState::Disabled | CircuitState::MetricsOnly => {
            ComponentHealth::Healthy
        }
    }
}

impl Inputs {
    fn target(&self, manual_floor: Option<u8>) -> u8 {
        self.score_level
            .max(self.rule_level.unwrap_or(0))
            .max(manual_floor.unwrap_or(0))
    }
}
