//! The feature x level matrix, precomputed for cheap reads.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::levels::HealthThresholds;
use crate::config::ConfigError;

/// A feature's mode at one level, as written in a config: a mode name
/// (`full`, `embedding_only`, `skip`...) or a boolean (`true` = `on`,
/// `false` = `off`).
///
/// ```
/// use resilience_core::degradation::ModeValue;
/// let m: ModeValue = serde_json::from_str("false").unwrap();
/// assert_eq!(m.as_mode(), "off");
/// let m: ModeValue = serde_json::from_str("\"pass_through\"").unwrap();
/// assert_eq!(m.as_mode(), "pass_through");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ModeValue {
    /// `true` is `on`, `false` is `off`.
    Switch(bool),
    /// A named mode.
    Named(String),
}

impl ModeValue {
    /// The mode name this value stands for.
    pub fn as_mode(&self) -> &str {
        match self {
            ModeValue::Switch(true) => "on",
            ModeValue::Switch(false) => "off",
            ModeValue::Named(s) => s,
        }
    }
}

/// The modes that mean "disabled" unless a config says otherwise: `off`,
/// `disabled`, `disable`, `skip` (tables write "Skip" and "Disable").
pub const DEFAULT_DISABLED_MODES: [&str; 4] = ["off", "disabled", "disable", "skip"];

/// A pre-resolved handle to a feature of one matrix, for the hot-path
/// checks [`DegradationManager::is_enabled`](super::DegradationManager::is_enabled)
/// and [`mode`](super::DegradationManager::mode).
///
/// Resolve it once (at start-up) with
/// [`DegradationManager::feature`](super::DegradationManager::feature);
/// checking it then costs an atomic load and an array read. An id carries
/// the identity of its matrix: used with another manager it answers
/// "disabled" and no mode rather than another feature's answer.
///
/// ```
/// use resilience_core::degradation::{DegradationConfig, DegradationManager, FeatureId};
/// let m = DegradationManager::new(resilience_core::presets::data_platform::degradation().unwrap()).unwrap();
/// let id: FeatureId = m.feature("schema_mapping").unwrap();
/// assert_eq!(m.mode(id), Some("llm_embedding"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FeatureId {
    matrix: u32,
    index: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cell {
    enabled: bool,
    mode: u16,
}

static NEXT_MATRIX: AtomicU32 = AtomicU32::new(1);

/// Which features run, and how, at each degradation level.
///
/// Built from a config of the form `feature -> { level -> mode }`, where
/// a level that is not listed inherits the mode of the nearest less
/// degraded listed level, and an unlisted first level is `on`. So
/// `diffusion_models: { level_2: off }` is on at normal and level 1 and off
/// from level 2 down: degradation is cumulative, as in the platform presets' tables.
///
/// The matrix is flattened into one `feature x level` table of `(enabled,
/// mode)` cells at build time; reading it is an index computation.
///
/// ```
/// use resilience_core::degradation::DegradationManager;
///
/// let yaml = "
/// data_ingestion: { full_ai: full, minimal: pass_through, buffer_only: buffer }
/// anomaly_detection: { full_ai: ml_ensemble, reduced_ai: statistical_only, minimal: threshold_only, buffer_only: skip }
/// ";
/// let mut config = resilience_core::presets::data_platform::degradation().unwrap();
/// config.features = resilience_core::config::from_yaml_str(yaml).unwrap();
/// config.disabled_modes = vec!["skip".to_string()];
/// let manager = DegradationManager::new(config).unwrap();
/// let m = manager.matrix();
/// let ingest = m.feature("data_ingestion").unwrap();
/// assert_eq!(m.mode_at(ingest, 1), Some("full")); // inherited from full_ai
/// assert_eq!(m.mode_at(ingest, 3), Some("buffer"));
/// let anomaly = m.feature("anomaly_detection").unwrap();
/// assert!(!m.is_enabled_at(anomaly, 3)); // `skip` counts as disabled
/// ```
pub struct FeatureMatrix {
    tag: u32,
    levels: usize,
    /// Sorted (built from a `BTreeMap`), so lookups are binary searches.
    names: Vec<Arc<str>>,
    modes: Vec<Arc<str>>,
    cells: Vec<Cell>,
}

impl FeatureMatrix {
    /// Built for you by [`DegradationManager`](super::DegradationManager)
    /// from its config's `features`.
    #[deprecated(
        since = "0.1.1",
        note = "built by DegradationManager from DegradationConfig::features; private in 0.2"
    )]
    #[doc(hidden)]
    pub fn new(
        features: &BTreeMap<String, BTreeMap<String, ModeValue>>,
        levels: &HealthThresholds,
        disabled_modes: &[String],
    ) -> Result<Self, ConfigError> {
        Self::build(features, levels, disabled_modes)
    }

    /// Builds the table. Errors name the field as `features.<feature>.<level>`.
    pub(crate) fn build(
        features: &BTreeMap<String, BTreeMap<String, ModeValue>>,
        levels: &HealthThresholds,
        disabled_modes: &[String],
    ) -> Result<Self, ConfigError> {
        let n_levels = levels.len();
        let mut modes: Vec<Arc<str>> = Vec::new();
        let mut mode_ids: HashMap<String, u16> = HashMap::new();
        let mut intern = |name: &str, field: &str| -> Result<u16, ConfigError> {
            if let Some(&id) = mode_ids.get(name) {
                return Ok(id);
            }
            let id = u16::try_from(modes.len()).map_err(|_| {
                ConfigError::invalid(field.to_string(), "more than 65535 distinct modes")
            })?;
            modes.push(Arc::from(name));
            mode_ids.insert(name.to_string(), id);
            Ok(id)
        };
        let on = intern("on", "features")?;
        let mut cells = Vec::with_capacity(features.len().saturating_mul(n_levels));
        let mut names = Vec::with_capacity(features.len());
        for (i, (feature, by_level)) in features.iter().enumerate() {
            let field = format!("features.{feature}");
            if feature.trim().is_empty() {
                return Err(ConfigError::invalid(
                    "features",
                    "a feature name must not be empty",
                ));
            }
            if u32::try_from(i).is_err() {
                return Err(ConfigError::invalid("features", "too many features"));
            }
            let mut row: Vec<Option<&ModeValue>> = vec![None; n_levels];
            for (level, value) in by_level {
                let lf = format!("{field}.{level}");
                let Some(l) = levels.by_name(level) else {
                    return Err(ConfigError::invalid(
                        lf,
                        format!("unknown level `{level}`; levels are: {}", levels.names()),
                    ));
                };
                if value.as_mode().trim().is_empty() {
                    return Err(ConfigError::invalid(lf, "a mode must not be empty"));
                }
                if let Some(slot) = row.get_mut(l.severity() as usize) {
                    *slot = Some(value);
                }
            }
            let mut current = (on, true);
            for value in row {
                if let Some(v) = value {
                    let name = v.as_mode();
                    let enabled = !disabled_modes.iter().any(|d| d == name);
                    current = (intern(name, &field)?, enabled);
                }
                cells.push(Cell {
                    enabled: current.1,
                    mode: current.0,
                });
            }
            names.push(Arc::from(feature.as_str()));
        }
        Ok(FeatureMatrix {
            tag: NEXT_MATRIX.fetch_add(1, Ordering::Relaxed),
            levels: n_levels,
            names,
            modes,
            cells,
        })
    }

    /// The handle of a feature, by name.
    pub fn feature(&self, name: &str) -> Option<FeatureId> {
        let index = self.names.binary_search_by(|n| (**n).cmp(name)).ok()?;
        Some(FeatureId {
            matrix: self.tag,
            index: u32::try_from(index).ok()?,
        })
    }

    /// Feature names, in sorted order.
    pub fn features(&self) -> impl Iterator<Item = &str> + '_ {
        self.names.iter().map(|n| &**n)
    }

    /// The name of a feature.
    pub fn name(&self, id: FeatureId) -> Option<&str> {
        if id.matrix != self.tag {
            return None;
        }
        self.names.get(id.index as usize).map(|n| &**n)
    }

    #[inline]
    fn cell(&self, id: FeatureId, severity: usize) -> Option<Cell> {
        if id.matrix != self.tag || severity >= self.levels {
            return None;
        }
        self.cells
            .get((id.index as usize) * self.levels + severity)
            .copied()
    }

    /// Whether the feature runs at the level with this severity (false for
    /// a foreign id or an unknown level).
    #[inline]
    pub fn is_enabled_at(&self, id: FeatureId, severity: u8) -> bool {
        self.cell(id, severity as usize).is_some_and(|c| c.enabled)
    }

    /// The feature's mode at the level with this severity.
    #[inline]
    pub fn mode_at(&self, id: FeatureId, severity: u8) -> Option<&str> {
        let c = self.cell(id, severity as usize)?;
        self.modes.get(c.mode as usize).map(|m| &**m)
    }

    /// Number of features.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the matrix has no features.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

impl fmt::Debug for FeatureMatrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (i, name) in self.names.iter().enumerate() {
            let row: Vec<&str> = (0..self.levels)
                .filter_map(|l| self.cells.get(i * self.levels + l))
                .map(|c| self.modes.get(c.mode as usize).map_or("?", |m| &**m))
                .collect();
            m.entry(name, &row);
        }
        m.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(yaml: &str) -> Result<FeatureMatrix, ConfigError> {
        let features: BTreeMap<String, BTreeMap<String, ModeValue>> =
            crate::config::from_yaml_str(yaml).unwrap();
        let disabled: Vec<String> = DEFAULT_DISABLED_MODES
            .iter()
            .map(|s| s.to_string())
            .collect();
        FeatureMatrix::build(&features, &HealthThresholds::default(), &disabled)
    }

    #[test]
    fn cells_inherit_from_less_degraded_levels() {
        let m = matrix("streaming: { level_3: false }\nquality: { normal: full, level_1: core, read_only: skip }").unwrap();
        let s = m.feature("streaming").unwrap();
        assert!((0..3).all(|l| m.is_enabled_at(s, l)));
        assert!((3..6).all(|l| !m.is_enabled_at(s, l)));
        assert_eq!(m.mode_at(s, 0), Some("on"));
        assert_eq!(m.mode_at(s, 4), Some("off"));
        let q = m.feature("quality").unwrap();
        assert_eq!(m.mode_at(q, 0), Some("full"));
        assert_eq!(m.mode_at(q, 4), Some("core"));
        assert_eq!(m.mode_at(q, 5), Some("skip"));
        assert!(!m.is_enabled_at(q, 5));
        assert!(!m.is_enabled_at(q, 6), "unknown level");
        assert_eq!(m.mode_at(q, 6), None);
    }

    #[test]
    fn unknown_levels_are_named() {
        let e = matrix("streaming: { level_9: off }").unwrap_err();
        assert_eq!(e.field(), Some("features.streaming.level_9"));
        assert!(e.to_string().contains("levels are: normal, level_1"));
    }

    #[test]
    fn foreign_ids_answer_nothing() {
        let a = matrix("x: { normal: on }").unwrap();
        let b = matrix("x: { normal: on }").unwrap();
        let id = a.feature("x").unwrap();
        assert!(a.is_enabled_at(id, 0));
        assert!(!b.is_enabled_at(id, 0));
        assert_eq!(b.mode_at(id, 0), None);
        assert_eq!(b.name(id), None);
    }
}
