//! Degradation levels and the score thresholds that select them.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// The most levels a level set may have.
pub const MAX_LEVELS: usize = 32;

/// One level of a level set: its severity (0 = normal operation, higher =
/// more degraded) and its name.
///
/// Levels compare by severity, so "the strictest of two levels" is `max`.
///
/// ```
/// use resilience_core::degradation::HealthThresholds;
/// let t = HealthThresholds::default();
/// let normal = t.level_for(0.95);
/// let worst = t.level_for(0.05);
/// assert_eq!((normal.severity(), normal.name()), (0, "normal"));
/// assert_eq!((worst.severity(), worst.name()), (5, "read_only"));
/// assert!(normal.is_normal());
/// assert_eq!(std::cmp::max(normal, worst.clone()), worst);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DegradationLevel {
    severity: u8,
    name: Arc<str>,
}

impl DegradationLevel {
    pub(crate) fn new(severity: u8, name: Arc<str>) -> Self {
        DegradationLevel { severity, name }
    }

    /// 0 for normal operation; each level down the set adds one.
    pub fn severity(&self) -> u8 {
        self.severity
    }

    /// The level's name, as written in the config.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this is the first (normal) level.
    pub fn is_normal(&self) -> bool {
        self.severity == 0
    }
}

impl PartialOrd for DegradationLevel {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for DegradationLevel {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.severity
            .cmp(&other.severity)
            .then_with(|| self.name.cmp(&other.name))
    }
}

impl fmt::Display for DegradationLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (level {})", self.name, self.severity)
    }
}

/// One level in a config: a name and the score the overall health must
/// exceed for the system to be at this level or better.
///
/// Levels are listed from normal to most degraded; every level but the
/// last has `above`, strictly decreasing; the last level takes every score
/// at or below the previous threshold.
///
/// ```
/// use resilience_core::degradation::LevelConfig;
/// let l: LevelConfig = resilience_core::config::from_yaml_str("name: reduced_ai\nabove: 0.5").unwrap();
/// assert_eq!(l.above, Some(0.5));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelConfig {
    /// The level's name (unique within the set).
    pub name: String,
    /// The score must be strictly greater than this for this level (or a
    /// better one); `None` only for the last level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<f64>,
    /// What the level means, for people reading the config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The notice users get when the system enters this level (the
    /// synthetic-data platform's `notify_users("Streaming generation
    /// temporarily disabled")`): carried by the [`DegradationEvent`](super::DegradationEvent)
    /// and delivered by [`DegradationManager::on_notice`](super::DegradationManager::on_notice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl LevelConfig {
    /// A level that needs a score above `above`.
    ///
    /// ```
    /// use resilience_core::degradation::LevelConfig;
    /// assert_eq!(LevelConfig::above("normal", 0.9).above, Some(0.9));
    /// ```
    pub fn above(name: &str, above: f64) -> Self {
        LevelConfig {
            name: name.to_string(),
            above: Some(above),
            description: None,
            message: None,
        }
    }

    /// The last level, taking every remaining score.
    ///
    /// ```
    /// use resilience_core::degradation::LevelConfig;
    /// assert_eq!(LevelConfig::last("read_only").above, None);
    /// ```
    pub fn last(name: &str) -> Self {
        LevelConfig {
            name: name.to_string(),
            above: None,
            description: None,
            message: None,
        }
    }

    fn described(mut self, text: &str) -> Self {
        self.description = Some(text.to_string());
        self
    }

    /// Sets the notice users get on entering this level.
    ///
    /// ```
    /// use resilience_core::degradation::LevelConfig;
    /// let l = LevelConfig::above("level_3", 0.3).with_message("Streaming generation temporarily disabled");
    /// assert_eq!(l.message.as_deref(), Some("Streaming generation temporarily disabled"));
    /// ```
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }
}

/// The default level set (the synthetic-data platform's "Graceful Degradation"):
/// score above 0.9 `normal`, above 0.7 `level_1`, above 0.5 `level_2`,
/// above 0.3 `level_3`, above 0.1 `level_4`, else `read_only` (level 5).
///
/// ```
/// let levels = resilience_core::degradation::default_levels();
/// assert_eq!(levels.len(), 6);
/// assert_eq!(levels[5].name, "read_only");
/// ```
pub fn default_levels() -> Vec<LevelConfig> {
    vec![
        LevelConfig::above("normal", 0.9).described("all healthy: full functionality"),
        LevelConfig::above("level_1", 0.7).described("skip optional work (quality checks)"),
        LevelConfig::above("level_2", 0.5).described("disable expensive paths (large models)"),
        LevelConfig::above("level_3", 0.3).described("disable streaming: batch only"),
        LevelConfig::above("level_4", 0.1).described("critical: accept no new heavy work"),
        LevelConfig::last("read_only").described("emergency: view existing data only"),
    ]
}

/// An ordered set of levels with the score thresholds that select them.
///
/// `level_for(score)` returns the first level whose threshold the score
/// exceeds, or the last level. A NaN score maps to the last level: an
/// unreadable health signal is never taken for a healthy one.
///
/// ```
/// use resilience_core::degradation::{DegradationLevel, HealthThresholds, LevelConfig};
///
/// let t = HealthThresholds::default();
/// assert_eq!(t.level_for(0.95).severity(), 0);   // Normal
/// assert_eq!(t.level_for(0.9).severity(), 1);    // "> 0.9" is strict
/// assert_eq!(t.level_for(0.05).severity(), 5);   // most degraded
///
/// let ai = HealthThresholds::new(&[
///     LevelConfig::above("full_ai", 0.8),
///     LevelConfig::above("reduced_ai", 0.5),
///     LevelConfig::above("minimal", 0.2),
///     LevelConfig::last("buffer_only"),
/// ]).unwrap();
/// assert_eq!(ai.level_for(0.6).name(), "reduced_ai");
/// assert_eq!(ai.most_severe().name(), "buffer_only");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HealthThresholds {
    levels: Vec<DegradationLevel>,
    above: Vec<f64>,
}

impl Default for HealthThresholds {
    fn default() -> Self {
        let levels = default_levels();
        HealthThresholds {
            above: levels.iter().filter_map(|l| l.above).collect(),
            levels: levels
                .iter()
                .enumerate()
                .map(|(i, l)| DegradationLevel::new(i as u8, Arc::from(l.name.as_str())))
                .collect(),
        }
    }
}

impl HealthThresholds {
    /// Validates a level list (see [`LevelConfig`]); errors name the field
    /// as `levels[i].name` or `levels[i].above`.
    ///
    /// ```
    /// use resilience_core::degradation::{HealthThresholds, LevelConfig};
    /// let err = HealthThresholds::new(&[
    ///     LevelConfig::above("a", 0.5),
    ///     LevelConfig::above("b", 0.7),
    ///     LevelConfig::last("c"),
    /// ]).unwrap_err();
    /// assert_eq!(err.field(), Some("levels[1].above"));
    /// ```
    pub fn new(levels: &[LevelConfig]) -> Result<Self, ConfigError> {
        if levels.is_empty() {
            return Err(ConfigError::invalid(
                "levels",
                "must list at least one level",
            ));
        }
        if levels.len() > MAX_LEVELS {
            return Err(ConfigError::invalid(
                "levels",
                format!("at most {MAX_LEVELS} levels, got {}", levels.len()),
            ));
        }
        let mut names = BTreeSet::new();
        let mut above = Vec::with_capacity(levels.len());
        let last = levels.len() - 1;
        for (i, l) in levels.iter().enumerate() {
            let field = |f: &str| format!("levels[{i}].{f}");
            if l.name.trim().is_empty() {
                return Err(ConfigError::invalid(field("name"), "must not be empty"));
            }
            if !names.insert(l.name.as_str()) {
                return Err(ConfigError::invalid(
                    field("name"),
                    format!("`{}` is listed twice", l.name),
                ));
            }
            match (i == last, l.above) {
                (true, Some(a)) => {
                    return Err(ConfigError::invalid(
                        field("above"),
                        format!(
                        "the last level takes every remaining score and has no threshold, got {a}"
                    ),
                    ))
                }
                (false, None) => {
                    return Err(ConfigError::invalid(
                        field("above"),
                        "every level but the last needs a threshold",
                    ))
                }
                (false, Some(a)) => {
                    if !(a.is_finite() && (0.0..=1.0).contains(&a)) {
                        return Err(ConfigError::invalid(
                            field("above"),
                            format!("must be in [0, 1], got {a}"),
                        ));
                    }
                    if let Some(&prev) = above.last() {
                        if a >= prev {
                            return Err(ConfigError::invalid(
                                field("above"),
                                format!(
                                    "thresholds must decrease from normal to most degraded: {a} is not below {prev}"
                                ),
                            ));
                        }
                    }
                    above.push(a);
                }
                (true, None) => {}
            }
        }
        Ok(HealthThresholds {
            levels: levels
                .iter()
                .enumerate()
                .map(|(i, l)| DegradationLevel::new(i as u8, Arc::from(l.name.as_str())))
                .collect(),
            above,
        })
    }

    /// The level for an overall health score.
    pub fn level_for(&self, score: f64) -> DegradationLevel {
        self.level_at(self.index_for(score))
    }

    #[inline]
    pub(crate) fn index_for(&self, score: f64) -> usize {
        self.above
            .iter()
            .position(|&a| score > a)
            .unwrap_or(self.above.len())
    }

    pub(crate) fn level_at(&self, index: usize) -> DegradationLevel {
        match self.levels.get(index).or(self.levels.last()) {
            Some(l) => l.clone(),
            None => DegradationLevel::new(0, Arc::from("normal")),
        }
    }

    /// The levels, from normal to most degraded.
    pub fn levels(&self) -> &[DegradationLevel] {
        &self.levels
    }

    /// The level with this severity.
    pub fn level(&self, severity: u8) -> Option<&DegradationLevel> {
        self.levels.get(severity as usize)
    }

    /// The level with this name.
    ///
    /// ```
    /// let t = resilience_core::degradation::HealthThresholds::default();
    /// assert_eq!(t.by_name("level_2").unwrap().severity(), 2);
    /// assert!(t.by_name("level_9").is_none());
    /// ```
    pub fn by_name(&self, name: &str) -> Option<&DegradationLevel> {
        self.levels.iter().find(|l| &*l.name == name)
    }

    /// The threshold of the level with this severity: the score must be
    /// strictly above it for that level (or a better one). `None` for the
    /// last level.
    ///
    /// ```
    /// let t = resilience_core::degradation::HealthThresholds::default();
    /// assert_eq!(t.threshold(0), Some(0.9));
    /// assert_eq!(t.threshold(5), None);
    /// ```
    pub fn threshold(&self, severity: u8) -> Option<f64> {
        self.above.get(severity as usize).copied()
    }

    /// The normal level (severity 0).
    pub fn normal(&self) -> DegradationLevel {
        self.level_at(0)
    }

    /// The last, most degraded level.
    pub fn most_severe(&self) -> DegradationLevel {
        self.level_at(self.levels.len().saturating_sub(1))
    }

    /// Number of levels.
    pub fn len(&self) -> usize {
        self.levels.len()
    }

    /// Always false for a validated set (it has at least one level).
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// A names list for error messages.
    pub(crate) fn names(&self) -> String {
        self.levels
            .iter()
            .map(|l| l.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_thresholds_are_the_documented_ones() {
        let t = HealthThresholds::default();
        let cases = [
            (1.0, 0),
            (0.91, 0),
            (0.9, 1),
            (0.71, 1),
            (0.7, 2),
            (0.51, 2),
            (0.5, 3),
            (0.31, 3),
            (0.3, 4),
            (0.11, 4),
            (0.1, 5),
            (0.0, 5),
            (f64::NAN, 5),
        ];
        for (score, severity) in cases {
            assert_eq!(t.level_for(score).severity(), severity, "score {score}");
        }
        assert_eq!(t, HealthThresholds::new(&default_levels()).unwrap());
    }

    #[test]
    fn invalid_level_sets_are_rejected_with_the_field() {
        let e = HealthThresholds::new(&[]).unwrap_err();
        assert_eq!(e.field(), Some("levels"));
        let e = HealthThresholds::new(&[LevelConfig::above("a", 0.5)]).unwrap_err();
        assert_eq!(e.field(), Some("levels[0].above"));
        let e =
            HealthThresholds::new(&[LevelConfig::last("a"), LevelConfig::last("b")]).unwrap_err();
        assert_eq!(e.field(), Some("levels[0].above"));
        let e = HealthThresholds::new(&[LevelConfig::above("a", 1.5), LevelConfig::last("b")])
            .unwrap_err();
        assert_eq!(e.field(), Some("levels[0].above"));
        let e = HealthThresholds::new(&[LevelConfig::above("a", 0.5), LevelConfig::last("a")])
            .unwrap_err();
        assert_eq!(e.field(), Some("levels[1].name"));
        let single = HealthThresholds::new(&[LevelConfig::last("only")]).unwrap();
        assert_eq!(single.level_for(0.0).severity(), 0);
    }
}
