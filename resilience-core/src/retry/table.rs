//! [`RetryTable`]: named [`RetryConfig`]s, e.g. a service's per-operation
//! retry table loaded from YAML.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::policy::{RetryConfig, RetryPolicy};
use crate::clock::{Clock, SystemClock};
use crate::config::{self, ConfigError};

/// Named retry configs, e.g. a service's per-operation table loaded from
/// YAML: a map from operation name to [`RetryConfig`].
///
/// ```
/// use resilience_core::retry::RetryTable;
/// let table = RetryTable::from_yaml_str(r#"
/// checkout:
///   backoff: {kind: exponential, initial: 200ms, max: 2s, max_attempts: 3, jitter: full}
///   idempotency: non_idempotent
/// "#).unwrap();
/// assert_eq!(table.names().collect::<Vec<_>>(), ["checkout"]);
/// let err = table.policy("refund").unwrap_err();
/// assert!(err.to_string().contains("refund"));
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RetryTable {
    entries: BTreeMap<String, RetryConfig>,
}

impl RetryTable {
    /// Parses a YAML map of name → config. Every backoff is validated while
    /// parsing; the rest when a policy is built.
    pub fn from_yaml_str(text: &str) -> Result<RetryTable, ConfigError> {
        config::from_yaml_str(text)
    }

    /// Parses a JSON object of name → config.
    pub fn from_json_str(text: &str) -> Result<RetryTable, ConfigError> {
        config::from_json_str(text)
    }

    /// The config named `name`.
    pub fn get(&self, name: &str) -> Option<&RetryConfig> {
        self.entries.get(name)
    }

    /// Adds or replaces an entry.
    pub fn insert(&mut self, name: impl Into<String>, config: RetryConfig) {
        self.entries.insert(name.into(), config);
    }

    /// The names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A policy named `name` from its config, on the system clock.
    pub fn policy(&self, name: &str) -> Result<RetryPolicy, ConfigError> {
        self.policy_with_clock(name, SystemClock)
    }

    /// A policy named `name` from its config, reading `clock`. Errors name
    /// the entry (`training_job.deadline`); an unknown name is an error.
    pub fn policy_with_clock(
        &self,
        name: &str,
        clock: impl Clock,
    ) -> Result<RetryPolicy, ConfigError> {
        let config = self.get(name).ok_or_else(|| {
            ConfigError::invalid(
                name.to_owned(),
                format!(
                    "no retry config of that name; known: {}",
                    self.names().collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
        RetryPolicy::from_config(name, config, clock).map_err(|e| e.within(name))
    }
}

impl FromIterator<(String, RetryConfig)> for RetryTable {
    fn from_iter<I: IntoIterator<Item = (String, RetryConfig)>>(iter: I) -> Self {
        RetryTable {
            entries: iter.into_iter().collect(),
        }
    }
}
