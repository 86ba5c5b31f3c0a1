//! Bulkhead configuration: plain serde data, validated by the constructors.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::semaphore::MAX_PERMITS;
use crate::config::{fmt_duration, ConfigError};

/// How urgent a pool's callers are when pools compete for a shared cap.
///
/// When the shared cap of a [`BulkheadSet`](super::BulkheadSet) is
/// contended, queued callers of a higher priority are admitted first, and
/// when its wait queue is full a higher-priority caller takes the place of
/// the newest lower-priority one (which is rejected with
/// [`RejectReason::Shed`](super::RejectReason::Shed)): low priority sheds
/// first. Within one priority, callers are served first come, first served.
///
/// In YAML and JSON a priority is written `low`, `medium` or `high`.
///
/// ```
/// use resilience_core::bulkhead::Priority;
/// let p: Priority = serde_json::from_str("\"high\"").unwrap();
/// assert_eq!(p, Priority::High);
/// assert!(Priority::High > Priority::Low);
/// assert_eq!(Priority::default(), Priority::Medium);
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Served last, shed first (dashboard traffic in the model-registry preset).
    Low,
    /// The default (public API traffic in the model-registry preset).
    #[default]
    Medium,
    /// Served first, shed last (internal service calls in the model-registry preset).
    High,
}

impl Priority {
    pub(crate) const LANES: usize = 3;

    #[inline]
    pub(crate) fn lane(self) -> usize {
        match self {
            Priority::Low => 0,
            Priority::Medium => 1,
            Priority::High => 2,
        }
    }

    /// The lowercase name used in configs and metric labels.
    ///
    /// ```
    /// assert_eq!(resilience_core::bulkhead::Priority::Low.as_str(), "low");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Settings of one bulkhead.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `max_concurrent` | 25 | permits: calls allowed in flight at once (1 ..= 2^31-1) |
/// | `max_wait` (alias `max_wait_time`) | `0s` | how long a caller may queue for a permit; `0s` = fail fast, never queue |
/// | `max_waiting` | = `max_concurrent` | how many callers may queue at once; more are rejected at once |
/// | `priority` | `medium` | the pool's priority at a shared cap (see [`Priority`]) |
///
/// The defaults follow Resilience4j's semaphore bulkhead (25 permits, no
/// waiting). `max_wait_time` is accepted so configs written that way load as they are.
///
/// ```
/// use std::time::Duration;
/// use resilience_core::bulkhead::{BulkheadConfig, Priority};
/// use resilience_core::config::from_yaml_str;
///
/// let c: BulkheadConfig = from_yaml_str("max_concurrent: 100\nmax_wait_time: 10s\npriority: medium").unwrap();
/// assert_eq!(c.max_concurrent, 100);
/// assert_eq!(c.max_wait, Duration::from_secs(10));
/// assert_eq!(c.priority, Priority::Medium);
/// assert_eq!(c.effective_max_waiting(), 100);
///
/// let bad: BulkheadConfig = from_yaml_str("max_concurrent: 0").unwrap();
/// assert_eq!(bad.validate().unwrap_err().field(), Some("max_concurrent"));
/// assert!(from_yaml_str::<BulkheadConfig>("max_concurrency: 3").is_err()); // typo: unknown field
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BulkheadConfig {
    /// Calls allowed in flight at once.
    pub max_concurrent: u32,
    /// How long a caller may wait for a permit; zero means fail fast.
    #[serde(with = "humantime_serde", alias = "max_wait_time")]
    pub max_wait: Duration,
    /// How many callers may wait at once; `None` means `max_concurrent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_waiting: Option<u32>,
    /// The pool's priority at a shared cap.
    pub priority: Priority,
}

impl Default for BulkheadConfig {
    fn default() -> Self {
        BulkheadConfig {
            max_concurrent: 25,
            max_wait: Duration::ZERO,
            max_waiting: None,
            priority: Priority::Medium,
        }
    }
}

impl BulkheadConfig {
    /// A config with `max_concurrent` permits and the other defaults.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::bulkhead::{BulkheadConfig, Priority};
    /// let c = BulkheadConfig::new(50)
    ///     .max_wait(Duration::from_secs(5))
    ///     .priority(Priority::Low);
    /// assert!(c.validate().is_ok());
    /// ```
    pub fn new(max_concurrent: u32) -> Self {
        BulkheadConfig {
            max_concurrent,
            ..Self::default()
        }
    }

    /// Sets `max_wait`.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// Renamed to [`max_wait`](Self::max_wait).
    #[deprecated(since = "0.1.1", note = "renamed to `BulkheadConfig::max_wait`")]
    #[doc(hidden)]
    pub fn with_max_wait(self, max_wait: Duration) -> Self {
        self.max_wait(max_wait)
    }

    /// Sets `max_waiting`.
    pub fn max_waiting(mut self, max_waiting: u32) -> Self {
        self.max_waiting = Some(max_waiting);
        self
    }

    /// Renamed to [`max_waiting`](Self::max_waiting).
    #[deprecated(since = "0.1.1", note = "renamed to `BulkheadConfig::max_waiting`")]
    #[doc(hidden)]
    pub fn with_max_waiting(self, max_waiting: u32) -> Self {
        self.max_waiting(max_waiting)
    }

    /// Sets `priority`.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Renamed to [`priority`](Self::priority).
    #[deprecated(since = "0.1.1", note = "renamed to `BulkheadConfig::priority`")]
    #[doc(hidden)]
    pub fn with_priority(self, priority: Priority) -> Self {
        self.priority(priority)
    }

    /// The queue bound in force: `max_waiting`, or `max_concurrent` when unset.
    pub fn effective_max_waiting(&self) -> u32 {
        self.max_waiting.unwrap_or(self.max_concurrent)
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_permits("max_concurrent", self.max_concurrent)?;
        if let Some(w) = self.max_waiting {
            if w > MAX_PERMITS {
                return Err(ConfigError::invalid(
                    "max_waiting",
                    format!("must be at most {MAX_PERMITS}, got {w}"),
                ));
            }
        }
        // Deadlines are computed as `Instant + max_wait` by timers: keep it sane.
        if self.max_wait > MAX_WAIT {
            return Err(ConfigError::invalid(
                "max_wait",
                format!(
                    "must be at most {}, got {}",
                    fmt_duration(MAX_WAIT),
                    fmt_duration(self.max_wait)
                ),
            ));
        }
        Ok(())
    }
}

/// The longest `max_wait` accepted: one day. Longer waits are a bug in the
/// config, not a bulkhead.
pub const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

pub(crate) fn check_permits(field: &'static str, value: u32) -> Result<(), ConfigError> {
    if value == 0 {
        Err(ConfigError::invalid(field, "must be at least 1, got 0"))
    } else if value > MAX_PERMITS {
        Err(ConfigError::invalid(
            field,
            format!("must be at most {MAX_PERMITS}, got {value}"),
        ))
    } else {
        Ok(())
    }
}

/// A cap shared by every pool of a [`BulkheadSet`](super::BulkheadSet).
///
/// A call needs a permit from its pool and one from the shared cap. The cap
/// bounds the whole process (say, database connections) while the pools
/// keep one kind of traffic from starving the others. Queued callers at
/// the cap are served by pool [`Priority`].
///
/// | field | default | meaning |
/// |---|---|---|
/// | `name` | `shared` | names the cap in errors and metrics |
/// | `max_concurrent` | required | permits across all pools |
/// | `max_waiting` | = `max_concurrent` | callers that may queue at the cap |
///
/// ```
/// use resilience_core::bulkhead::SharedCapConfig;
/// let c: SharedCapConfig = resilience_core::config::from_yaml_str("max_concurrent: 120").unwrap();
/// assert_eq!(c.name, "shared");
/// assert!(c.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedCapConfig {
    /// Name of the cap in errors and metrics.
    #[serde(default = "default_shared_name")]
    pub name: String,
    /// Permits across all pools.
    pub max_concurrent: u32,
    /// Callers that may queue at the cap; `None` means `max_concurrent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_waiting: Option<u32>,
}

fn default_shared_name() -> String {
    "shared".to_string()
}

impl SharedCapConfig {
    /// A cap named `shared` with `max_concurrent` permits.
    ///
    /// ```
    /// let c = resilience_core::bulkhead::SharedCapConfig::new(150);
    /// assert_eq!(c.max_concurrent, 150);
    /// ```
    pub fn new(max_concurrent: u32) -> Self {
        SharedCapConfig {
            name: default_shared_name(),
            max_concurrent,
            max_waiting: None,
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_name("name", &self.name)?;
        check_permits("max_concurrent", self.max_concurrent)?;
        if let Some(w) = self.max_waiting {
            if w > MAX_PERMITS {
                return Err(ConfigError::invalid(
                    "max_waiting",
                    format!("must be at most {MAX_PERMITS}, got {w}"),
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn as_bulkhead_config(&self) -> BulkheadConfig {
        BulkheadConfig {
            max_concurrent: self.max_concurrent,
            max_wait: Duration::ZERO,
            max_waiting: self.max_waiting,
            priority: Priority::Medium,
        }
    }
}

pub(crate) fn check_name(field: &'static str, name: &str) -> Result<(), ConfigError> {
    if name.trim().is_empty() {
        Err(ConfigError::invalid(field, "must not be empty"))
    } else {
        Ok(())
    }
}

/// Named pools, optionally under a shared cap: the config of a
/// [`BulkheadSet`](super::BulkheadSet).
///
/// `pools` may also be written `bulkheads`, so a configuration
/// block loads unchanged:
///
/// ```
/// use std::time::Duration;
/// use resilience_core::bulkhead::{BulkheadSetConfig, Priority};
///
/// let yaml = "
/// bulkheads:
///   dashboard: { max_concurrent: 50, max_wait_time: 5s, priority: low }
///   internal: { max_concurrent: 30, max_wait_time: 3s, priority: high }
/// shared_cap: { max_concurrent: 60 }
/// ";
/// let c: BulkheadSetConfig = resilience_core::config::from_yaml_str(yaml).unwrap();
/// assert_eq!(c.pools["dashboard"].max_wait, Duration::from_secs(5));
/// assert_eq!(c.pools["internal"].priority, Priority::High);
/// assert!(c.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkheadSetConfig {
    /// The pools, by name.
    #[serde(alias = "bulkheads")]
    pub pools: BTreeMap<String, BulkheadConfig>,
    /// An optional cap shared by all pools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_cap: Option<SharedCapConfig>,
}

impl BulkheadSetConfig {
    /// Checks every pool and the shared cap; errors name the field as
    /// `pools.<name>.<field>` or `shared_cap.<field>`.
    ///
    /// ```
    /// use resilience_core::bulkhead::{BulkheadConfig, BulkheadSetConfig};
    /// let mut c = BulkheadSetConfig::default();
    /// c.pools.insert("api".into(), BulkheadConfig::new(0));
    /// assert_eq!(c.validate().unwrap_err().field(), Some("pools.api.max_concurrent"));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.pools.is_empty() {
            return Err(ConfigError::invalid("pools", "must name at least one pool"));
        }
        for (name, pool) in &self.pools {
            if name.trim().is_empty() {
                return Err(ConfigError::invalid(
                    "pools",
                    "a pool name must not be empty",
                ));
            }
            pool.validate()
                .map_err(|e| e.within(name).within("pools"))?;
        }
        if let Some(cap) = &self.shared_cap {
            cap.validate().map_err(|e| e.within("shared_cap"))?;
            if self.pools.contains_key(&cap.name) {
                return Err(ConfigError::invalid(
                    "shared_cap.name",
                    format!(
                        "`{}` is also a pool name; give the cap its own name",
                        cap.name
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Moved to [`presets::model_registry::bulkheads`](crate::presets::model_registry::bulkheads).
    #[deprecated(
        since = "0.1.1",
        note = "moved to `resilience_core::presets::model_registry::bulkheads`"
    )]
    #[doc(hidden)]
    pub fn model_registry() -> Self {
        crate::presets::model_registry::bulkheads()
    }
}

/// Moved to [`presets::model_registry::BULKHEADS_YAML`](crate::presets::model_registry::BULKHEADS_YAML).
#[deprecated(
    since = "0.1.1",
    note = "moved to `resilience_core::presets::model_registry::BULKHEADS_YAML`"
)]
#[doc(hidden)]
pub const MODEL_REGISTRY_YAML: &str = crate::presets::model_registry::BULKHEADS_YAML;
