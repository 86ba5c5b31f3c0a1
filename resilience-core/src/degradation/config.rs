//! Degradation configuration: plain serde data, validated by
//! [`DegradationManager::new`](super::DegradationManager::new).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::levels::{default_levels, HealthThresholds, LevelConfig};
use super::matrix::{ModeValue, DEFAULT_DISABLED_MODES};
use crate::config::{fmt_duration, ConfigError};

/// One health input: its weight in the overall score and its score before
/// the first report.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `weight` | 1.0 | share of the weighted average; 0 = used by rules only |
/// | `initial` | 1.0 | score assumed until the component first reports |
///
/// ```
/// use resilience_core::degradation::ComponentConfig;
/// let c: ComponentConfig = resilience_core::config::from_yaml_str("weight: 2").unwrap();
/// assert_eq!((c.weight, c.initial), (2.0, 1.0));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ComponentConfig {
    /// Weight in the overall score (finite, at least 0).
    pub weight: f64,
    /// Score until the first report, in [0, 1].
    pub initial: f64,
}

impl Default for ComponentConfig {
    fn default() -> Self {
        ComponentConfig {
            weight: 1.0,
            initial: 1.0,
        }
    }
}

impl ComponentConfig {
    /// A component with this weight, healthy until it reports.
    ///
    /// ```
    /// assert_eq!(resilience_core::degradation::ComponentConfig::weighted(0.3).weight, 0.3);
    /// ```
    pub fn weighted(weight: f64) -> Self {
        ComponentConfig {
            weight,
            initial: 1.0,
        }
    }
}

/// When a rule fires, judged on one component's last report.
///
/// Written `down`, `degraded` or `{ below: 0.5 }`.
///
/// ```
/// use resilience_core::degradation::Condition;
/// let c: Condition = resilience_core::config::from_yaml_str("below: 0.4").unwrap();
/// assert_eq!(c, Condition::Below(0.4));
/// let c: Condition = resilience_core::config::from_yaml_str("down").unwrap();
/// assert_eq!(c, Condition::Down);
/// assert_eq!(serde_json::to_string(&Condition::Below(0.4)).unwrap(), r#"{"below":0.4}"#);
/// assert!(resilience_core::config::from_yaml_str::<Condition>("sideways").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "ConditionRepr", into = "ConditionRepr")]
pub enum Condition {
    /// The component reported `Down`, or a score of 0.
    Down,
    /// The component reported anything less than fully healthy.
    Degraded,
    /// The component's score is strictly below this value.
    Below(f64),
}

/// The written forms of [`Condition`]: a word, or `{ below: x }` (the same
/// in YAML and JSON, without YAML tags).
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum ConditionRepr {
    Word(ConditionWord),
    Below { below: f64 },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ConditionWord {
    Down,
    Degraded,
}

impl From<ConditionRepr> for Condition {
    fn from(r: ConditionRepr) -> Self {
        match r {
            ConditionRepr::Word(ConditionWord::Down) => Condition::Down,
            ConditionRepr::Word(ConditionWord::Degraded) => Condition::Degraded,
            ConditionRepr::Below { below } => Condition::Below(below),
        }
    }
}

impl From<Condition> for ConditionRepr {
    fn from(c: Condition) -> Self {
        match c {
            Condition::Down => ConditionRepr::Word(ConditionWord::Down),
            Condition::Degraded => ConditionRepr::Word(ConditionWord::Degraded),
            Condition::Below(below) => ConditionRepr::Below { below },
        }
    }
}

/// A rule trigger: "when `component` is `when`, be at least at `level`".
///
/// Rules sit beside the score: the workflow runtime's "database primary down ->
/// read-only", "cache down -> cache-degraded", "LLM provider down ->
/// reduced AI". The effective level is the strictest of the score's level
/// and every firing rule's level.
///
/// ```
/// use resilience_core::degradation::{Condition, DegradationRuleConfig};
/// let r: DegradationRuleConfig = resilience_core::config::from_yaml_str(
///     "name: primary_db_down\ncomponent: metadata_db_primary\nwhen: down\nlevel: read_only",
/// ).unwrap();
/// assert_eq!(r.when, Condition::Down);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DegradationRuleConfig {
    /// Names the rule in snapshots and events.
    pub name: String,
    /// The component whose report the rule reads.
    pub component: String,
    /// When the rule fires.
    pub when: Condition,
    /// The level the system is at least at while the rule fires.
    pub level: String,
}

/// A rule on several components at once: "when at least `at_least` of
/// `components` (all components if empty) are `when`, be at least at
/// `level`". The data platform's "multiple failures -> level 2" and
/// "critical failure -> emergency" are such rules.
///
/// ```
/// use resilience_core::degradation::{Condition, CountRuleConfig};
/// let r: CountRuleConfig = resilience_core::config::from_yaml_str(
///     "{ name: multiple_failures, at_least: 2, when: down, level: minimal }",
/// ).unwrap();
/// assert_eq!((r.at_least, r.when), (2, Condition::Down));
/// assert!(r.components.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountRuleConfig {
    /// Names the rule in snapshots and events.
    pub name: String,
    /// The components counted; empty (the default) counts every component.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    /// How many of them must meet `when` (at least 1).
    pub at_least: u32,
    /// What each counted component must be.
    pub when: Condition,
    /// The level the system is at least at while the rule fires.
    pub level: String,
}

/// Renamed to [`DegradationRuleConfig`] (distinct from the scaling rules' `RuleConfig`).
#[deprecated(since = "0.1.1", note = "renamed to `DegradationRuleConfig`")]
#[doc(hidden)]
pub type RuleConfig = DegradationRuleConfig;

/// How a degraded manager comes back.
///
/// ```
/// use resilience_core::degradation::RecoveryMode;
/// let m: RecoveryMode = resilience_core::config::from_yaml_str("immediate").unwrap();
/// assert_eq!(m, RecoveryMode::Immediate);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryMode {
    /// One level at a time, each step after the better level has held for
    /// `recover_after` (the default: damps flapping inputs).
    #[default]
    Stepwise,
    /// The level is recomputed on every evaluation: when the inputs allow a
    /// better level, the manager goes there at once, however many levels
    /// away ("all checks healthy -> normal"). `recover_after` is not used;
    /// `margin` still applies. The data-platform and workflow-runtime
    /// presets recover this way, as their platforms' code does.
    Immediate,
}

/// How recovery is damped.
///
/// Degrading is immediate. By default, recovering goes one level at a
/// time, and only after the inputs have allowed the better level
/// continuously for `recover_after`; with a `margin`, the score must clear
/// the better level's threshold by that much. With
/// `recovery: immediate`, the level is recomputed on every evaluation.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `recover_after` | `30s` | how long the better level must hold before each one-level step up (stepwise) |
/// | `margin` | 0.0 | extra score above a threshold needed to recover past it |
/// | `recovery` | `stepwise` | `stepwise` or `immediate`, see [`RecoveryMode`] |
///
/// ```
/// use std::time::Duration;
/// use resilience_core::degradation::{HysteresisConfig, RecoveryMode};
/// let h: HysteresisConfig = resilience_core::config::from_yaml_str("recover_after: 2m\nmargin: 0.05").unwrap();
/// assert_eq!(h.recover_after, Duration::from_secs(120));
/// assert_eq!(h.recovery, RecoveryMode::Stepwise);
/// let h: HysteresisConfig = resilience_core::config::from_yaml_str("recovery: immediate").unwrap();
/// assert_eq!(h.recovery, RecoveryMode::Immediate);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HysteresisConfig {
    /// Hold time before each one-level recovery step.
    #[serde(with = "humantime_serde")]
    pub recover_after: Duration,
    /// Extra score needed to recover past a threshold, in [0, 1).
    pub margin: f64,
    /// Stepwise (default) or immediate recovery.
    pub recovery: RecoveryMode,
}

impl Default for HysteresisConfig {
    fn default() -> Self {
        HysteresisConfig {
            recover_after: Duration::from_secs(30),
            margin: 0.0,
            recovery: RecoveryMode::Stepwise,
        }
    }
}

/// The longest `recover_after` accepted: one week.
pub const MAX_RECOVER_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// Everything a [`DegradationManager`](super::DegradationManager) needs.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `name` | `default` | names the manager in events and metrics |
/// | `levels` | six levels (0.9 / 0.7 / 0.5 / 0.3 / 0.1) | see [`LevelConfig`], [`default_levels`] |
/// | `components` | none | health inputs by name, see [`ComponentConfig`] |
/// | `degraded_score` | 0.5 | the score a component reporting `Degraded` counts as |
/// | `rules` | none | see [`DegradationRuleConfig`] |
/// | `count_rules` | none | see [`CountRuleConfig`] |
/// | `hysteresis` | 30 s, margin 0 | see [`HysteresisConfig`] |
/// | `features` | none | `feature: { level: mode }`, see [`FeatureMatrix`](super::FeatureMatrix) |
/// | `disabled_modes` | `off`, `disabled`, `disable`, `skip` | modes for which `is_enabled` is false |
///
/// ```
/// use resilience_core::degradation::DegradationConfig;
/// let yaml = "
/// name: api
/// components:
///   database: { weight: 0.5 }
///   cache: { weight: 0.2 }
///   llm: { weight: 0.3 }
/// rules:
///   - { name: db_down, component: database, when: down, level: read_only }
/// features:
///   writes: { read_only: off }
/// ";
/// let c: DegradationConfig = resilience_core::config::from_yaml_str(yaml).unwrap();
/// assert_eq!(c.levels.len(), 6);
/// assert!(c.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DegradationConfig {
    /// Names the manager in events and metrics.
    #[serde(default = "default_name")]
    pub name: String,
    /// Levels from normal to most degraded.
    #[serde(default = "default_levels")]
    pub levels: Vec<LevelConfig>,
    /// Health inputs by name.
    #[serde(default)]
    pub components: BTreeMap<String, ComponentConfig>,
    /// The score a `Degraded` report counts as.
    #[serde(default = "default_degraded_score")]
    pub degraded_score: f64,
    /// Rule triggers.
    #[serde(default)]
    pub rules: Vec<DegradationRuleConfig>,
    /// Rules on how many components fail at once (see [`CountRuleConfig`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub count_rules: Vec<CountRuleConfig>,
    /// Recovery damping.
    #[serde(default)]
    pub hysteresis: HysteresisConfig,
    /// Feature x level modes.
    #[serde(default)]
    pub features: BTreeMap<String, BTreeMap<String, ModeValue>>,
    /// Modes that count as disabled.
    #[serde(default = "default_disabled_modes")]
    pub disabled_modes: Vec<String>,
}

fn default_name() -> String {
    "default".to_string()
}

fn default_degraded_score() -> f64 {
    0.5
}

fn default_disabled_modes() -> Vec<String> {
    DEFAULT_DISABLED_MODES
        .iter()
        .map(|s| s.to_string())
        .collect()
}

impl Default for DegradationConfig {
    fn default() -> Self {
        DegradationConfig {
            name: default_name(),
            levels: default_levels(),
            components: BTreeMap::new(),
            degraded_score: default_degraded_score(),
            rules: Vec::new(),
            count_rules: Vec::new(),
            hysteresis: HysteresisConfig::default(),
            features: BTreeMap::new(),
            disabled_modes: default_disabled_modes(),
        }
    }
}

/// Moved to [`presets::synthetic_data::DEGRADATION_YAML`](crate::presets::synthetic_data::DEGRADATION_YAML).
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::synthetic_data::DEGRADATION_YAML`"
)]
#[doc(hidden)]
pub const SYNTHETIC_DATA_PLATFORM_YAML: &str = crate::presets::synthetic_data::DEGRADATION_YAML;
/// Moved to [`presets::data_platform::DEGRADATION_YAML`](crate::presets::data_platform::DEGRADATION_YAML).
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::data_platform::DEGRADATION_YAML`"
)]
#[doc(hidden)]
pub const DATA_PLATFORM_YAML: &str = crate::presets::data_platform::DEGRADATION_YAML;
/// Moved to [`presets::workflow_runtime::DEGRADATION_YAML`](crate::presets::workflow_runtime::DEGRADATION_YAML).
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::workflow_runtime::DEGRADATION_YAML`"
)]
#[doc(hidden)]
pub const WORKFLOW_RUNTIME_YAML: &str = crate::presets::workflow_runtime::DEGRADATION_YAML;

impl DegradationConfig {
    /// Checks every field, naming the first bad one (dotted, e.g.
    /// `components.db.weight`, `rules[0].level`, `features.x.level_9`).
    ///
    /// ```
    /// use resilience_core::degradation::{ComponentConfig, DegradationConfig};
    /// let mut c = DegradationConfig::default();
    /// c.components.insert("db".into(), ComponentConfig::weighted(-1.0));
    /// assert_eq!(c.validate().unwrap_err().field(), Some("components.db.weight"));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.thresholds().map(|_| ())
    }

    /// Validates and returns the level set (the manager's first step).
    pub(crate) fn thresholds(&self) -> Result<HealthThresholds, ConfigError> {
        if self.name.trim().is_empty() {
            return Err(ConfigError::invalid("name", "must not be empty"));
        }
        let levels = HealthThresholds::new(&self.levels)?;
        self.check_components()?;
        crate::config::check_unit_interval("degraded_score", self.degraded_score)?;
        let mut rule_names = BTreeSet::new();
        self.check_rules(&levels, &mut rule_names)?;
        self.check_count_rules(&levels, &mut rule_names)?;
        self.check_hysteresis(&levels)?;
        super::matrix::FeatureMatrix::build(&self.features, &levels, &self.disabled_modes)?;
        Ok(levels)
    }

    fn check_components(&self) -> Result<(), ConfigError> {
        for (name, c) in &self.components {
            let field = |f: &str| format!("components.{name}.{f}");
            if name.trim().is_empty() {
                return Err(ConfigError::invalid(
                    "components",
                    "a component name must not be empty",
                ));
            }
            if !(c.weight.is_finite() && c.weight >= 0.0) {
                return Err(ConfigError::invalid(
                    field("weight"),
                    format!("must be a finite number >= 0, got {}", c.weight),
                ));
            }
            if !(c.initial.is_finite() && (0.0..=1.0).contains(&c.initial)) {
                return Err(ConfigError::invalid(
                    field("initial"),
                    format!("must be in [0, 1], got {}", c.initial),
                ));
            }
        }
        Ok(())
    }

    fn check_rules<'a>(
        &'a self,
        levels: &HealthThresholds,
        rule_names: &mut BTreeSet<&'a str>,
    ) -> Result<(), ConfigError> {
        for (i, r) in self.rules.iter().enumerate() {
            let field = |f: &str| format!("rules[{i}].{f}");
            check_rule_name(&r.name, rule_names, &field)?;
            if !self.components.contains_key(&r.component) {
                return Err(ConfigError::invalid(
                    field("component"),
                    format!(
                        "unknown component `{}`; add it under `components` (weight 0 for a rule-only input)",
                        r.component
                    ),
                ));
            }
            check_rule_target(&r.level, r.when, levels, &field)?;
        }
        Ok(())
    }

    fn check_count_rules<'a>(
        &'a self,
        levels: &HealthThresholds,
        rule_names: &mut BTreeSet<&'a str>,
    ) -> Result<(), ConfigError> {
        for (i, r) in self.count_rules.iter().enumerate() {
            let field = |f: &str| format!("count_rules[{i}].{f}");
            check_rule_name(&r.name, rule_names, &field)?;
            for c in &r.components {
                if !self.components.contains_key(c) {
                    return Err(ConfigError::invalid(
                        field("components"),
                        format!("unknown component `{c}`; add it under `components`"),
                    ));
                }
            }
            let counted = if r.components.is_empty() {
                self.components.len()
            } else {
                r.components.len()
            };
            if r.at_least == 0 || r.at_least as usize > counted {
                return Err(ConfigError::invalid(
                    field("at_least"),
                    format!(
                        "must be between 1 and the {counted} component(s) it counts, got {}",
                        r.at_least
                    ),
                ));
            }
            check_rule_target(&r.level, r.when, levels, &field)?;
        }
        Ok(())
    }

    fn check_hysteresis(&self, levels: &HealthThresholds) -> Result<(), ConfigError> {
        let h = &self.hysteresis;
        if !(h.margin.is_finite() && (0.0..1.0).contains(&h.margin)) {
            return Err(ConfigError::invalid(
                "hysteresis.margin",
                format!("must be in [0, 1), got {}", h.margin),
            ));
        }
        if let Some(top) = levels.threshold(0) {
            if top + h.margin >= 1.0 {
                return Err(ConfigError::invalid(
                    "hysteresis.margin",
                    format!(
                        "with the normal level's threshold {top}, a margin of {} makes recovery to normal impossible (threshold + margin must stay below 1)",
                        h.margin
                    ),
                ));
            }
        }
        if h.recover_after > MAX_RECOVER_AFTER {
            return Err(ConfigError::invalid(
                "hysteresis.recover_after",
                format!(
                    "must be at most {}, got {}",
                    fmt_duration(MAX_RECOVER_AFTER),
                    fmt_duration(h.recover_after)
                ),
            ));
        }
        Ok(())
    }

    /// Moved to [`presets::synthetic_data::degradation`](crate::presets::synthetic_data::degradation).
    #[deprecated(
        since = "0.1.1",
        note = "moved to `resilience_core::presets::synthetic_data::degradation`"
    )]
    #[doc(hidden)]
    pub fn synthetic_data_platform() -> Result<Self, ConfigError> {
        crate::presets::synthetic_data::degradation()
    }

    /// Moved to [`presets::data_platform::degradation`](crate::presets::data_platform::degradation).
    #[deprecated(
        since = "0.1.1",
        note = "moved to `resilience_core::presets::data_platform::degradation`"
    )]
    #[doc(hidden)]
    pub fn data_platform() -> Result<Self, ConfigError> {
        crate::presets::data_platform::degradation()
    }

    /// Moved to [`presets::workflow_runtime::degradation`](crate::presets::workflow_runtime::degradation).
    #[deprecated(
        since = "0.1.1",
        note = "moved to `resilience_core::presets::workflow_runtime::degradation`"
    )]
    #[doc(hidden)]
    pub fn workflow_runtime() -> Result<Self, ConfigError> {
        crate::presets::workflow_runtime::degradation()
    }
}

/// A rule's name: not empty, and not used by another rule of either kind.
fn check_rule_name<'a>(
    name: &'a str,
    rule_names: &mut BTreeSet<&'a str>,
    field: &dyn Fn(&str) -> String,
) -> Result<(), ConfigError> {
    if name.trim().is_empty() {
        return Err(ConfigError::invalid(field("name"), "must not be empty"));
    }
    if !rule_names.insert(name) {
        return Err(ConfigError::invalid(
            field("name"),
            format!("`{name}` is used by two rules"),
        ));
    }
    Ok(())
}

/// A rule's level exists and its condition's score is in [0, 1].
fn check_rule_target(
    level: &str,
    when: Condition,
    levels: &HealthThresholds,
    field: &dyn Fn(&str) -> String,
) -> Result<(), ConfigError> {
    if levels.by_name(level).is_none() {
        return Err(ConfigError::invalid(
            field("level"),
            format!("unknown level `{level}`; levels are: {}", levels.names()),
        ));
    }
    if let Condition::Below(x) = when {
        if !(x.is_finite() && (0.0..=1.0).contains(&x)) {
            return Err(ConfigError::invalid(
                field("when.below"),
                format!("must be in [0, 1], got {x}"),
            ));
        }
    }
    Ok(())
}
