//! Per-operation retry presets from the seeds' retry tables, and
//! [`RetryTable`]: named [`RetryConfig`]s loadable from YAML.
//!
//! Reading of the seeds: a table's "Max Retries" counts retries after the
//! first attempt, so `max_attempts` = retries + 1; its initial (or base)
//! delay is the wait before the first retry. Where a seed gives only code
//! (seeds 002 and 003), the numbers come from the code as written. "Strategy:
//! exponential" is base 2. Jitter follows each seed's own algorithm: seed
//! 000's `delay * (0.5 + random * 0.5)` is [`Jitter::Equal`] (used where
//! its table says "+ jitter"), seeds 001, 002 and 004's "+10%" is
//! `Jitter::Proportional(0.1)`, and an unspecified "with jitter" is
//! [`Jitter::Full`]. The same table ships as YAML in
//! `resilience-core/presets/retry.yaml` ([`SEEDS_YAML`]); a test checks
//! that both agree.
//!
//! | preset | seed | retries | initial | max | schedule | jitter |
//! |---|---|---|---|---|---|---|
//! | [`training_job`] | 000 | 3 | 1 min | 15 min | exponential | equal |
//! | [`generation_batch`] | 000 | 2 | 30 s | 2 min | exponential | none |
//! | [`quality_check`] | 000 | 2 | 1 min | 5 min | exponential | none |
//! | [`api_call`] | 000 | 3 | 1 s | 10 s | exponential | none |
//! | [`db_transaction`] | 000 | 3 | 100 ms | 1 s | exponential | none |
//! | [`model_load`] | 000 | 2 | 5 s | 30 s | linear | none |
//! | [`training_platform_default`] | 000 | 3 | 1 s | 60 s | exponential | equal |
//! | [`data_api_call`] | 001 | 3 | 100 ms | 5 s | exponential | +10% |
//! | [`db_query`] | 001 | 5 | 50 ms | 10 s | exponential | +10% |
//! | [`llm_inference`] | 001 | 3 | 1 s | 30 s | exponential | +10% |
//! | [`cdc_event`] | 001 | 10 | 100 ms | 60 s | exponential | +10% |
//! | [`file_upload`] | 001 | 5 | 500 ms | 30 s | exponential | +10% |
//! | [`retrain_request`] | 002 | 4 | 2 s | 60 s | exponential | +10% |
//! | [`inference_request_recovery`] | 003 | 3 | 2 s | 30 s | exponential | none |
//! | [`idempotent_request`] | 004 | 3 | 100 ms | 2 s | exponential | +10% |
//! | [`non_idempotent_request`] | 004 | 1 | 100 ms | 100 ms | constant | none |
//! | [`database_operation`] | 004 | 3 | 50 ms | 200 ms | exponential | none |
//! | [`external_call`] | 004 | 5 | 1 s | 5 min | exponential | full |
//!
//! ```
//! use resilience_core::retry::presets::{self, RetryTable};
//!
//! let table = RetryTable::from_yaml_str(presets::SEEDS_YAML).unwrap();
//! assert_eq!(table.get("llm_inference"), Some(&presets::llm_inference()));
//! let policy = table.policy("cdc_event").unwrap();
//! assert_eq!(policy.max_attempts(), 11);
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::backoff::{Backoff, BackoffKind};
use super::classify::{ClassSet, ErrorClass, Idempotency};
use super::jitter::Jitter;
use super::policy::{RetryConfig, RetryPolicy};
use crate::clock::{SharedClock, SystemClock};
use crate::config::{self, ConfigError};

/// The seeds' table as YAML (the contents of
/// `resilience-core/presets/retry.yaml`).
pub const SEEDS_YAML: &str = include_str!("../../presets/retry.yaml");

const SEC: Duration = Duration::from_secs(1);
const MIN: Duration = Duration::from_secs(60);
const MS: Duration = Duration::from_millis(1);

fn plus_10_percent() -> Jitter {
    // 0.1 is a valid proportion; `Proportion::new` cannot fail on it, and a
    // fallback keeps this free of panics all the same.
    Jitter::proportional(0.1).unwrap_or(Jitter::Equal)
}

/// An exponential (base 2) or linear schedule with `retries` retries. The
/// seeds' numbers always have `initial <= max`, which the unit tests check;
/// on an impossible error the cap is raised to `initial`.
fn schedule(
    kind: BackoffKind,
    retries: u32,
    initial: Duration,
    max: Duration,
    jitter: Jitter,
) -> RetryConfig {
    let attempts = retries.saturating_add(1);
    let build = |max| {
        Backoff::builder(kind.clone())
            .initial(initial)
            .max(max)
            .max_attempts(attempts)
            .jitter(jitter)
            .build()
    };
    let backoff = build(max)
        .or_else(|_| build(initial))
        .unwrap_or_else(|_| Backoff::constant(initial));
    RetryConfig::new(backoff)
}

fn exponential(retries: u32, initial: Duration, max: Duration, jitter: Jitter) -> RetryConfig {
    schedule(BackoffKind::DOUBLING, retries, initial, max, jitter)
}

/// Seed 000, training job: 3 retries, 1 min → 15 min, exponential with
/// (equal) jitter: 1 min, 2 min, 4 min before jitter.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::retry::presets::training_job();
/// assert_eq!(c.backoff.max_attempts(), Some(4));
/// assert_eq!(c.backoff.initial(), Duration::from_secs(60));
/// assert_eq!(c.backoff.max(), Duration::from_secs(900));
/// ```
pub fn training_job() -> RetryConfig {
    exponential(3, MIN, 15 * MIN, Jitter::Equal)
}

/// Seed 000, generation batch: 2 retries, 30 s → 2 min, exponential.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::retry::presets::generation_batch();
/// assert_eq!(c.backoff.max_attempts(), Some(3));
/// assert_eq!(c.backoff.initial(), Duration::from_secs(30));
/// assert_eq!(c.backoff.max(), Duration::from_secs(120));
/// ```
pub fn generation_batch() -> RetryConfig {
    exponential(2, 30 * SEC, 2 * MIN, Jitter::None)
}

/// Seed 000, quality check: 2 retries, 1 min → 5 min, exponential.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::retry::presets::quality_check();
/// assert_eq!(c.backoff.max_attempts(), Some(3));
/// assert_eq!(c.backoff.initial(), Duration::from_secs(60));
/// assert_eq!(c.backoff.max(), Duration::from_secs(300));
/// ```
pub fn quality_check() -> RetryConfig {
    exponential(2, MIN, 5 * MIN, Jitter::None)
}

/// Seed 000, API calls: 3 retries, 1 s → 10 s, exponential.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::retry::presets::api_call();
/// assert_eq!(c.backoff.max_attempts(), Some(4));
/// assert_eq!(c.backoff.initial(), Duration::from_secs(1));
/// assert_eq!(c.backoff.max(), Duration::from_secs(10));
/// ```
pub fn api_call() -> RetryConfig {
    exponential(3, SEC, 10 * SEC, Jitter::None)
}

/// Seed 000, DB transactions: 3 retries, 100 ms → 1 s, exponential.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::retry::presets::db_transaction();
/// assert_eq!(c.backoff.max_attempts(), Some(4));
/// assert_eq!(c.backoff.initial(), Duration::from_millis(100));
/// assert_eq!(c.backoff.max(), Duration::from_secs(1));
/// ```
pub fn db_transaction() -> RetryConfig {
    exponential(3, 100 * MS, SEC, Jitter::None)
}

/// Seed 000, model load: 2 retries, 5 s → 30 s, linear (5 s, 10 s).
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::retry::presets::model_load();
/// assert_eq!(c.backoff.max_attempts(), Some(3));
/// assert_eq!(c.backoff.initial(), Duration::from_secs(5));
/// assert_eq!(c.backoff.max(), Duration::from_secs(30));
/// ```
pub fn model_load() -> RetryConfig {
    schedule(
        BackoffKind::Linear { step: 5 * SEC },
        2,
        5 * SEC,
        30 * SEC,
        Jitter::None,
    )
}

/// Seed 000's `RetryWithBackoff` defaults: 3 retries, 1 s → 60 s, base 2,
/// jitter `delay * (0.5 + random * 0.5)` (equal), retrying timeouts,
/// transient errors and rate limiting.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::retry::presets::training_platform_default();
/// assert_eq!(c.backoff.max_attempts(), Some(4));
/// assert_eq!(c.backoff.initial(), Duration::from_secs(1));
/// assert_eq!(c.backoff.max(), Duration::from_secs(60));
/// ```
pub fn training_platform_default() -> RetryConfig {
    let mut c = exponential(3, SEC, 60 * SEC, Jitter::Equal);
    c.retry_on = [
        ErrorClass::Timeout,
        ErrorClass::Transient,
        ErrorClass::RateLimited,
    ]
    .into_iter()
    .collect();
    c
}

/// Seed 001, API calls: 3 retries, 100 ms → 5 s, exponential, +10%.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::retry::presets::data_api_call();
/// assert_eq!(c.backoff.max_attempts(), Some(4));
/// assert_eq!(c.backoff.initial(), Duration::from_millis(100));
/// assert_eq!(c.backoff.max(), Duration::from_secs(5));
/// ```
pub fn data_api_call() -> RetryConfig {
    exponential(3, 100 * MS, 5 * SEC, plus_10_percent())
}

/// Seed 001, DB queries: 5 retries, 50 ms → 10 s, exponential, +10%.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::retry::presets::db_query();
/// assert_eq!(c.backoff.max_attempts(), Some(6));
/// assert_eq!(c.backoff.initial(), Duration::from_millis(50));
/// assert_eq!(c.backoff.max(), Duration::from_secs(10));
/// ```
pub fn db_query() -> RetryConfig {
    exponential(5, 50 * MS, 10 * SEC, plus_10_percent())
}

/// Seed 001, LLM inference: 3 retries, 1 s → 30 s, exponential, +10%.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::retry::presets::llm_inference();
/// assert_eq!(c.backoff.max_attempts(), Some(4));
/// assert_eq!(c.backoff.initial(), Duration::from_secs(1));
/// assert_eq!(c.backoff.max(), Duration::from_secs(30));
/// ```
pub fn llm_inference() -> RetryConfig {
    exponential(3, SEC, 30 * SEC, plus_10_percent())
}

/// Seed 001, CDC events: 10 retries, 100 ms → 60 s, exponential, +10%.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::retry::presets::cdc_event();
/// assert_eq!(c.backoff.max_attempts(), Some(11));
/// assert_eq!(c.backoff.initial(), Duration::from_millis(100));
/// assert_eq!(c.backoff.max(), Duration::from_secs(60));
/// ```
pub fn cdc_event() -> RetryConfig {
    exponential(10, 100 * MS, 60 * SEC, plus_10_percent())
}

/// Seed 001, file uploads: 5 retries, 500 ms → 30 s, exponential, +10%.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::retry::presets::file_upload();
/// assert_eq!(c.backoff.max_attempts(), Some(6));
/// assert_eq!(c.backoff.initial(), Duration::from_millis(500));
/// assert_eq!(c.backoff.max(), Duration::from_secs(30));
/// ```
pub fn file_upload() -> RetryConfig {
    exponential(5, 500 * MS, 30 * SEC, plus_10_percent())
}

/// Seed 002's `RetryWithBackoff(max_retries=5)` (retrain requests to the
/// training service): 5 attempts in all (4 retries), first wait
/// `1 s · 2^1` = 2 s, cap 60 s, +10%.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::retry::presets::retrain_request();
/// assert_eq!(c.backoff.max_attempts(), Some(5));
/// assert_eq!(c.backoff.initial(), Duration::from_secs(2));
/// assert_eq!(c.backoff.max(), Duration::from_secs(60));
/// ```
pub fn retrain_request() -> RetryConfig {
    exponential(4, 2 * SEC, 60 * SEC, plus_10_percent())
}

/// Seed 003's in-flight request recovery: `MAX_RETRIES = 3`, backoff
/// `min(30, 2^retry_count)` seconds = 2 s, 4 s, 8 s (cap 30 s).
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::retry::presets::inference_request_recovery();
/// assert_eq!(c.backoff.max_attempts(), Some(4));
/// assert_eq!(c.backoff.initial(), Duration::from_secs(2));
/// assert_eq!(c.backoff.max(), Duration::from_secs(30));
/// ```
pub fn inference_request_recovery() -> RetryConfig {
    exponential(3, 2 * SEC, 30 * SEC, Jitter::None)
}

/// Seed 004, idempotent operations (GET, metadata reads): 3 retries,
/// 100 ms → 2 s, exponential (2x), 10% jitter, on 5xx, timeouts and
/// connection errors.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::retry::presets::idempotent_request();
/// assert_eq!(c.backoff.max_attempts(), Some(4));
/// assert_eq!(c.backoff.initial(), Duration::from_millis(100));
/// assert_eq!(c.backoff.max(), Duration::from_secs(2));
/// ```
pub fn idempotent_request() -> RetryConfig {
    let mut c = exponential(3, 100 * MS, 2 * SEC, plus_10_percent());
    c.retry_on = [
        ErrorClass::Timeout,
        ErrorClass::ConnectionReset,
        ErrorClass::ConnectFailed,
        ErrorClass::Transient,
        ErrorClass::ServerError,
    ]
    .into_iter()
    .collect();
    c
}

/// Seed 004, non-idempotent operations (POST, PUT, DELETE): one retry, and
/// only on a connection error before the request was sent; never on 5xx.
/// The seed gives no delay; 100 ms (the idempotent initial delay) is used.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::retry::presets::non_idempotent_request();
/// assert_eq!(c.backoff.max_attempts(), Some(2));
/// assert_eq!(c.backoff.initial(), Duration::from_millis(100));
/// assert_eq!(c.backoff.max(), Duration::from_millis(100));
/// ```
pub fn non_idempotent_request() -> RetryConfig {
    let mut c = schedule(BackoffKind::Constant, 1, 100 * MS, 100 * MS, Jitter::None);
    c.idempotency = Idempotency::NonIdempotent;
    c.retry_on = ClassSet::empty().with(ErrorClass::ConnectFailed);
    c
}

/// Seed 004, database operations: 3 retries from 50 ms, on deadlocks
/// (`transient`), lock timeouts (`timeout`) and lost connections
/// (`connection_reset`, `connect_failed`); never on constraint violations or
/// syntax errors. The seed names no cap: three doublings from 50 ms reach
/// 200 ms, so the cap is 200 ms.
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::retry::presets::database_operation();
/// assert_eq!(c.backoff.max_attempts(), Some(4));
/// assert_eq!(c.backoff.initial(), Duration::from_millis(50));
/// assert_eq!(c.backoff.max(), Duration::from_millis(200));
/// ```
pub fn database_operation() -> RetryConfig {
    let mut c = exponential(3, 50 * MS, 200 * MS, Jitter::None);
    c.retry_on = [
        ErrorClass::Transient,
        ErrorClass::Timeout,
        ErrorClass::ConnectionReset,
        ErrorClass::ConnectFailed,
    ]
    .into_iter()
    .collect();
    c
}

/// Seed 004, external calls (webhooks, outbound messages): 5 retries,
/// 1 s → 5 min, exponential with (full) jitter; the seed sends exhausted
/// work to a dead-letter queue (see [`crate::dead_letter`]).
///
/// ```
/// use std::time::Duration;
/// let c = resilience_core::retry::presets::external_call();
/// assert_eq!(c.backoff.max_attempts(), Some(6));
/// assert_eq!(c.backoff.initial(), Duration::from_secs(1));
/// assert_eq!(c.backoff.max(), Duration::from_secs(300));
/// ```
pub fn external_call() -> RetryConfig {
    exponential(5, SEC, 5 * MIN, Jitter::Full)
}

/// Every preset, by name (the names used in [`SEEDS_YAML`]).
pub fn all() -> Vec<(&'static str, RetryConfig)> {
    vec![
        ("training_job", training_job()),
        ("generation_batch", generation_batch()),
        ("quality_check", quality_check()),
        ("api_call", api_call()),
        ("db_transaction", db_transaction()),
        ("model_load", model_load()),
        ("training_platform_default", training_platform_default()),
        ("data_api_call", data_api_call()),
        ("db_query", db_query()),
        ("llm_inference", llm_inference()),
        ("cdc_event", cdc_event()),
        ("file_upload", file_upload()),
        ("retrain_request", retrain_request()),
        ("inference_request_recovery", inference_request_recovery()),
        ("idempotent_request", idempotent_request()),
        ("non_idempotent_request", non_idempotent_request()),
        ("database_operation", database_operation()),
        ("external_call", external_call()),
    ]
}

/// Named retry configs, e.g. a service's per-operation table loaded from
/// YAML: a map from operation name to [`RetryConfig`].
///
/// ```
/// use resilience_core::retry::presets::RetryTable;
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
    /// The seeds' presets ([`all`]).
    pub fn seeds() -> RetryTable {
        all().into_iter().map(|(n, c)| (n.to_owned(), c)).collect()
    }

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
        self.policy_with_clock(name, Arc::new(SystemClock))
    }

    /// A policy named `name` from its config, reading `clock`. Errors name
    /// the entry (`training_job.deadline`); an unknown name is an error.
    pub fn policy_with_clock(
        &self,
        name: &str,
        clock: SharedClock,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_builds_a_policy_with_the_seed_numbers() {
        for (name, c) in all() {
            let b = &c.backoff;
            assert!(b.initial() <= b.max(), "{name}");
            assert!(b.max_attempts().is_some(), "{name}");
            let p = RetryPolicy::from_config(name, &c, Arc::new(SystemClock)).unwrap();
            assert_eq!(p.name(), name);
        }
        let t = training_job().backoff;
        assert_eq!(t.max_attempts(), Some(4));
        assert_eq!(t.delay(1), MIN);
        assert_eq!(t.delay(3), 4 * MIN);
        assert_eq!(t.jitter(), Jitter::Equal);
        let m = model_load().backoff;
        let d: Vec<_> = m.delays().collect();
        assert_eq!(d, [5 * SEC, 10 * SEC]);
        let r = inference_request_recovery().backoff;
        let d: Vec<_> = r.delays().collect();
        assert_eq!(d, [2 * SEC, 4 * SEC, 8 * SEC]);
        let cdc = cdc_event().backoff;
        assert_eq!(cdc.max_attempts(), Some(11));
        assert_eq!(cdc.delay(10), 51_200 * MS);
        assert_eq!(cdc.delay(11), 60 * SEC);
        let db = database_operation().backoff;
        assert_eq!(
            db.delays().collect::<Vec<_>>(),
            [50 * MS, 100 * MS, 200 * MS]
        );
        assert_eq!(
            non_idempotent_request().idempotency,
            Idempotency::NonIdempotent
        );
    }

    #[test]
    fn names_are_unique() {
        let t = RetryTable::seeds();
        assert_eq!(t.len(), all().len());
        assert!(!t.is_empty());
    }
}
