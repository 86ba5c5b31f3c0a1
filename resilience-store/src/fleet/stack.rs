//! A whole [`ResilienceStack`] from one YAML file, with `scope: fleet` on
//! its retry budget and on its circuit breaker (feature `tower`).
//!
//! The YAML is the stack's ([`StackConfig`]) with two optional additions:
//!
//! * in `retry.budget`, `scope: fleet` and a `fleet` block (`url`, `key`,
//!   `key_prefix`, `batch`, `sync_interval`, `store_timeout`: see
//!   [`ScopedBudgetConfig`]): the stack's retries spend a [`FleetBudget`];
//! * in `circuit_breaker`, `scope: fleet` and a `fleet` block: `url`,
//!   `key_prefix` (default `resilience`) and every field of
//!   [`FleetBreakerConfig`] (`key`, `quorum`, `quorum_fraction`,
//!   `poll_interval`, `view_ttl`, `probes`, ...): a [`FleetBreaker`]
//!   steers the stack's breaker from the fleet.
//!
//! Without them (or with `scope: local`) the YAML builds exactly the stack
//! [`StackConfig`] builds, and the [`FleetStack`] holds no fleet handle.
//!
//! # Where this lives, and why
//!
//! This module is in `resilience-store` behind the `tower` feature (which
//! adds `resilience-tower`), and the Redis engine behind `redis`: a service
//! that only uses local state depends on `resilience-tower` (or the
//! facade's `tower` feature) and compiles neither this crate nor a Redis
//! client; one that simulates a fleet in tests needs `tower` alone (the
//! [`InMemoryFleetStore`](super::InMemoryFleetStore)); Redis comes in only
//! with `redis`. The facade enables both with `fleet-stack`.
//!
//! ```
//! use std::sync::Arc;
//! use resilience_core::circuit_breaker::CircuitState;
//! use resilience_core::clock::SystemClock;
//! use resilience_store::fleet::stack::FleetStackConfig;
//! use resilience_store::fleet::{FleetStore, InMemoryFleetStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let config = FleetStackConfig::from_yaml(
//!     r#"
//! name: inventory
//! retry:
//!   backoff: { kind: exponential, initial: 50ms, max: 2s, max_attempts: 3 }
//!   budget:
//!     kind: token_bucket
//!     capacity: 500
//!     scope: fleet
//!     fleet: { url: "redis://127.0.0.1:6379/", key: inventory, batch: 25 }
//! circuit_breaker:
//!   failure_rate_threshold: 0.5
//!   scope: fleet
//!   fleet: { url: "redis://127.0.0.1:6379/", quorum: 2, quorum_fraction: 0.3, poll_interval: 250ms }
//! "#,
//! )
//! .unwrap();
//! assert!(config.is_fleet());
//! // `build()` connects to the URLs (feature `redis`); here one in-memory store serves both.
//! let store: Arc<dyn FleetStore> = Arc::new(InMemoryFleetStore::new());
//! let fleet = config.build_on(store, SystemClock).await.unwrap();
//! assert!(fleet.budget.as_ref().unwrap().is_fleet());
//! let driver = fleet.breaker.as_ref().unwrap();
//! assert_eq!(driver.breaker().name(), "inventory");
//! assert_eq!(fleet.stack.breaker().unwrap().state(), CircuitState::Closed);
//! # }
//! ```

use std::fmt;
use std::sync::Arc;

use resilience_core::clock::{Clock, SystemClock};
use resilience_core::config::ConfigError;
use resilience_tower::retry::CloneAll;
use resilience_tower::stack::{ResilienceStack, StackClassifier, StackConfig};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::{
    BudgetScope, FleetBreaker, FleetBreakerConfig, FleetBudget, FleetScopeConfig, FleetStore,
    ScopedBudgetConfig,
};

/// Where a breaker's state is decided: by this replica alone, or with the
/// fleet (`scope` in a stack's `circuit_breaker` block).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerScope {
    /// By this replica's own window (the default).
    #[default]
    Local,
    /// Steered by a [`FleetBreaker`] from the fleet's views.
    Fleet,
}

/// The `fleet` block of a stack's `circuit_breaker`: the store and the
/// [`FleetBreakerConfig`].
///
/// | field | default | meaning |
/// |---|---|---|
/// | `url` | required | the Redis server (`redis://host:port/db`) |
/// | `key_prefix` | `resilience` | first part of every key |
/// | every field of [`FleetBreakerConfig`] | see there | `key` defaults to the stack's `name` |
#[derive(Debug, Clone, PartialEq)]
pub struct FleetBreakerScopeConfig {
    /// The store's URL.
    pub url: String,
    /// Prefix of every key.
    pub key_prefix: Option<String>,
    /// The quorum rules.
    pub breaker: FleetBreakerConfig,
}

/// A [`StackConfig`] whose retry budget and circuit breaker may have fleet
/// scope; see the [module docs](self) for the YAML.
///
/// Build it with [`from_yaml`](Self::from_yaml) (which checks every
/// field) or deserialise it and call [`validate`](Self::validate).
#[derive(Debug, Clone)]
pub struct FleetStackConfig {
    /// The stack, as [`StackConfig`] reads it (`retry.budget` is the local
    /// rule, which the fleet budget also falls back to).
    pub stack: StackConfig,
    /// `retry.budget.scope`.
    pub budget_scope: BudgetScope,
    /// `retry.budget.fleet`.
    pub budget_fleet: Option<FleetScopeConfig>,
    /// `circuit_breaker.scope`.
    pub breaker_scope: BreakerScope,
    /// `circuit_breaker.fleet`.
    pub breaker_fleet: Option<FleetBreakerScopeConfig>,
}

/// A stack built by a [`FleetStackConfig`], with the handles of its fleet
/// parts.
///
/// * `budget`: the [`FleetBudget`] the stack's retries spend (`None` for a
///   local budget). Its background task runs while any handle on it lives:
///   this one, the stack, and every service the stack made.
/// * `breaker`: the [`FleetBreaker`] steering the stack's breaker (`None`
///   for a local breaker). Its rounds stop when it is dropped: call
///   [`stop_breaker`](Self::stop_breaker) to leave the breaker to its own
///   window again. Read the fleet's view with
///   [`FleetBreaker::status`].
pub struct FleetStack<K = CloneAll, C = StackClassifier> {
    /// The stack: wrap services with it (`ServiceBuilder::layer`).
    pub stack: ResilienceStack<K, C>,
    /// The fleet budget, with `retry.budget.scope: fleet`.
    pub budget: Option<FleetBudget>,
    /// The fleet driver of the stack's breaker, with
    /// `circuit_breaker.scope: fleet`.
    pub breaker: Option<FleetBreaker>,
}

impl<K: fmt::Debug, C: fmt::Debug> fmt::Debug for FleetStack<K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetStack")
            .field("stack", &self.stack)
            .field("budget", &self.budget)
            .field("breaker", &self.breaker.as_ref().map(|b| b.status()))
            .finish()
    }
}

impl<K, C> FleetStack<K, C> {
    /// Stops the fleet driver of the breaker (if any): from now on the
    /// stack's breaker decides on its own window, as with local scope. A
    /// breaker the fleet holds open is let go as a failed store would let
    /// it go, but at once: one that follows the fleet closes, one that
    /// waits for a probe lease goes half-open. Returns the driver's last
    /// status.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use resilience_core::clock::SystemClock;
    /// use resilience_store::fleet::stack::FleetStackConfig;
    /// use resilience_store::fleet::{FleetRole, InMemoryFleetStore};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let config = FleetStackConfig::from_yaml(
    ///     "circuit_breaker: { scope: fleet, fleet: { url: 'redis://127.0.0.1/' } }",
    /// )
    /// .unwrap();
    /// let mut fleet = config.build_on(Arc::new(InMemoryFleetStore::new()), SystemClock).await.unwrap();
    /// let last = fleet.stop_breaker().unwrap();
    /// assert_eq!(last.role, FleetRole::Local);
    /// assert!(fleet.breaker.is_none());
    /// # }
    /// ```
    pub fn stop_breaker(&mut self) -> Option<super::FleetBreakerStatus> {
        let driver = self.breaker.take()?;
        let status = driver.status();
        let breaker = driver.breaker().clone();
        // The rounds stop with the last handle: no round moves it after this.
        drop(driver);
        if breaker.state() == resilience_core::circuit_breaker::CircuitState::ForcedOpen {
            match status.role {
                super::FleetRole::Following => breaker.reset(),
                super::FleetRole::Waiting => breaker.transition_to_half_open(),
                _ => {}
            }
        }
        Some(status)
    }
}

/// Takes `scope` and `fleet` out of `block`.
fn take_scope<S: for<'de> Deserialize<'de>>(
    block: &mut Map<String, Value>,
    path: &str,
) -> Result<(Option<S>, Option<Value>), String> {
    let scope = block
        .remove("scope")
        .map(|s| {
            serde_json::from_value::<S>(s)
                .map_err(|e| format!("{path}.scope: {e} (expected `local` or `fleet`)"))
        })
        .transpose()?;
    Ok((scope, block.remove("fleet")))
}

impl FleetStackConfig {
    /// Parses a YAML document and checks every field (the fleet blocks'
    /// included), naming the offending one (`circuit_breaker.fleet.quorum`).
    ///
    /// ```
    /// use resilience_store::fleet::stack::FleetStackConfig;
    /// let e = FleetStackConfig::from_yaml(
    ///     "circuit_breaker: { scope: fleet, fleet: { url: 'redis://127.0.0.1/', quorum: 1 } }",
    /// )
    /// .unwrap_err();
    /// assert_eq!(e.field(), Some("circuit_breaker.fleet.quorum"));
    /// let e = FleetStackConfig::from_yaml("circuit_breaker: { scope: fleet }").unwrap_err();
    /// assert_eq!(e.field(), Some("circuit_breaker.fleet"));
    /// ```
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        let config: FleetStackConfig = resilience_core::config::from_yaml_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Splits a config value into the stack and its scopes.
    fn from_value(mut root: Value) -> Result<Self, String> {
        if root.is_null() {
            root = Value::Object(Map::new());
        }
        let mut budget_scope = None;
        let mut budget_fleet = None;
        let mut budget_block = None;
        if let Some(Value::Object(retry)) = root.get_mut("retry")
            && let Some(budget) = retry.get_mut("budget")
        {
            let original = budget.clone();
            if let Value::Object(b) = budget {
                let (scope, fleet) = take_scope::<BudgetScope>(b, "retry.budget")?;
                budget_scope = scope;
                budget_fleet = fleet;
                budget_block = Some(original);
            }
        }
        let mut breaker_scope = None;
        let mut breaker_fleet = None;
        if let Some(Value::Object(b)) = root.get_mut("circuit_breaker") {
            let (scope, fleet) = take_scope::<BreakerScope>(b, "circuit_breaker")?;
            breaker_scope = scope;
            breaker_fleet = fleet;
        }
        let stack: StackConfig = serde_json::from_value(root).map_err(|e| e.to_string())?;
        // The budget block again, whole, as `ScopedBudgetConfig` reads it.
        let budget_fleet = match (budget_block, budget_fleet) {
            (Some(block), Some(_)) => {
                let scoped: ScopedBudgetConfig = serde_json::from_value(block)
                    .map_err(|e| format!("retry.budget.fleet: {e}"))?;
                scoped.fleet
            }
            _ => None,
        };
        let breaker_fleet = match breaker_fleet {
            None => None,
            Some(Value::Object(mut f)) => {
                let url = match f.remove("url") {
                    None => None,
                    Some(Value::String(s)) => Some(s),
                    Some(other) => {
                        return Err(format!(
                            "circuit_breaker.fleet.url: expected a string, got {other}"
                        ));
                    }
                };
                let key_prefix = match f.remove("key_prefix") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s),
                    Some(other) => {
                        return Err(format!(
                            "circuit_breaker.fleet.key_prefix: expected a string, got {other}"
                        ));
                    }
                };
                let breaker: FleetBreakerConfig = serde_json::from_value(Value::Object(f))
                    .map_err(|e| format!("circuit_breaker.fleet: {e}"))?;
                Some(FleetBreakerScopeConfig {
                    // Checked by `validate`: an empty URL is refused there.
                    url: url.unwrap_or_default(),
                    key_prefix,
                    breaker,
                })
            }
            Some(other) => {
                return Err(format!(
                    "circuit_breaker.fleet: expected a map (url, key, quorum, ...), got {other}"
                ));
            }
        };
        Ok(FleetStackConfig {
            stack,
            budget_scope: budget_scope.unwrap_or_default(),
            budget_fleet,
            breaker_scope: breaker_scope.unwrap_or_default(),
            breaker_fleet,
        })
    }

    /// Whether any part has fleet scope.
    pub fn is_fleet(&self) -> bool {
        self.budget_scope == BudgetScope::Fleet || self.breaker_scope == BreakerScope::Fleet
    }

    /// The retry budget's scope as [`ScopedBudgetConfig`] reads it (`None`
    /// when the stack has no `retry.budget`).
    pub fn scoped_budget(&self) -> Option<ScopedBudgetConfig> {
        let rule = self.stack.retry.as_ref()?.budget.clone()?;
        Some(ScopedBudgetConfig {
            budget: rule,
            scope: self.budget_scope,
            fleet: self.budget_fleet.clone(),
        })
    }

    /// Checks the stack and both scopes: a `fleet` block needs
    /// `scope: fleet` and the reverse, the fleet breaker's rules
    /// ([`FleetBreakerConfig::validate`]: `quorum` at least 2, ...) and its
    /// `url` and `key_prefix`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        // The stack as `StackConfig` builds it (on a clock that is never read).
        ResilienceStack::with_clock(self.stack.clone(), SystemClock)?;
        match self.scoped_budget() {
            Some(scoped) => {
                scoped
                    .fleet_config()
                    .map_err(|e| e.within("retry.budget"))?;
            }
            None if self.budget_scope == BudgetScope::Fleet || self.budget_fleet.is_some() => {
                return Err(ConfigError::invalid(
                    "retry.budget",
                    "`scope: fleet` needs a retry budget rule (`kind: token_bucket` or `kind: ratio`)",
                ));
            }
            None => {}
        }
        match (self.breaker_scope, &self.breaker_fleet) {
            (BreakerScope::Local, None) => {}
            (BreakerScope::Local, Some(_)) => {
                return Err(ConfigError::invalid(
                    "circuit_breaker.fleet",
                    "is only read with `scope: fleet`; remove it or set `scope: fleet` on the breaker",
                ));
            }
            (BreakerScope::Fleet, None) => {
                return Err(ConfigError::invalid(
                    "circuit_breaker.fleet",
                    "is required with `scope: fleet` (the store's `url`, and the quorum rules)",
                ));
            }
            (BreakerScope::Fleet, Some(f)) => {
                let within = |e: ConfigError| e.within("circuit_breaker.fleet");
                if f.url.is_empty() {
                    return Err(ConfigError::invalid(
                        "circuit_breaker.fleet.url",
                        "is required: the store's URL (`redis://host:port/db`)",
                    ));
                }
                if let Some(p) = &f.key_prefix {
                    crate::connection::check_key_part("key_prefix", p).map_err(within)?;
                }
                #[cfg(feature = "redis")]
                crate::connection::RedisConfig::new(f.url.clone())
                    .validate()
                    .map_err(within)?;
                f.breaker.validate().map_err(within)?;
            }
        }
        Ok(())
    }

    /// Builds the stack (classifying errors, on the system clock) with its
    /// fleet parts on the Redis servers the `fleet` blocks name (one
    /// connection per distinct server and key prefix). A server that does
    /// not answer is no error: the fleet parts start on local state and
    /// join the fleet when it answers. Needs a tokio runtime.
    #[cfg(feature = "redis")]
    pub async fn build(&self) -> Result<FleetStack, ConfigError> {
        let stack = ResilienceStack::new(self.stack.clone())?;
        self.attach(stack, redis_store, SystemClock).await
    }

    /// Builds the stack (classifying errors) with every fleet part on
    /// `store`, whatever the `url`s say (tests and single-process
    /// simulations on an [`InMemoryFleetStore`](super::InMemoryFleetStore),
    /// or another engine). `clock` drives the stack, the budget's local
    /// fallback and the breaker driver; the driver's rounds run on tokio
    /// time, so a test under `tokio::time::pause()` with
    /// [`TokioClock`](resilience_core::clock::TokioClock) runs without
    /// waiting. Needs a tokio runtime.
    pub async fn build_on(
        &self,
        store: Arc<dyn FleetStore>,
        clock: impl Clock + Clone,
    ) -> Result<FleetStack, ConfigError> {
        let stack = ResilienceStack::with_clock(self.stack.clone(), clock.clone())?;
        self.attach(stack, |_, _| Ok(store.clone()), clock).await
    }

    /// Adds the fleet parts to a stack built from [`stack`](Self::stack)
    /// (for instance with `ResilienceStack::http`): starts the budget and
    /// gives it to the stack's retries, and spawns the breaker's driver.
    /// `store` gives the store for a `fleet` block's `url` and key prefix.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use resilience_core::clock::SystemClock;
    /// use resilience_store::fleet::stack::FleetStackConfig;
    /// use resilience_store::fleet::{FleetStore, InMemoryFleetStore};
    /// use resilience_tower::stack::ResilienceStack;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let config = FleetStackConfig::from_yaml(
    ///     "name: search\ncircuit_breaker: { scope: fleet, fleet: { url: 'redis://127.0.0.1/', quorum: 3 } }",
    /// )
    /// .unwrap();
    /// // Any constructor of the stack (here with a clock; `ResilienceStack::http` for HTTP).
    /// let stack = ResilienceStack::with_clock(config.stack.clone(), SystemClock).unwrap();
    /// let memory: Arc<dyn FleetStore> = Arc::new(InMemoryFleetStore::new());
    /// let fleet = config
    ///     .attach(stack, |_url, _prefix| Ok(memory.clone()), SystemClock)
    ///     .await
    ///     .unwrap();
    /// assert!(fleet.budget.is_none(), "the retry budget is local (there is none)");
    /// assert_eq!(fleet.breaker.unwrap().status().needed, 3);
    /// # }
    /// ```
    pub async fn attach<K, C>(
        &self,
        stack: ResilienceStack<K, C>,
        mut store: impl FnMut(&str, Option<&str>) -> Result<Arc<dyn FleetStore>, ConfigError>,
        clock: impl Clock + Clone,
    ) -> Result<FleetStack<K, C>, ConfigError> {
        self.validate()?;
        let mut stack = stack;
        let mut budget = None;
        if let (Some(scoped), Some(f)) = (self.scoped_budget(), &self.budget_fleet)
            && let Some(config) = scoped
                .fleet_config()
                .map_err(|e| e.within("retry.budget"))?
        {
            let s = store(&f.url, f.key_prefix.as_deref())
                .map_err(|e| e.within("retry.budget.fleet"))?;
            let b = FleetBudget::start_with_clock(config, s, clock.clone())
                .await
                .map_err(|e| e.within("retry.budget.fleet"))?;
            stack = stack.with_retry_budget(Arc::new(b.clone()))?;
            budget = Some(b);
        }
        let mut breaker = None;
        if let (BreakerScope::Fleet, Some(f)) = (self.breaker_scope, &self.breaker_fleet) {
            let Some(local) = stack.breaker().cloned() else {
                return Err(ConfigError::invalid(
                    "circuit_breaker",
                    "the stack given to `attach` has no breaker: build it from this config's `stack`",
                ));
            };
            let s = store(&f.url, f.key_prefix.as_deref())
                .map_err(|e| e.within("circuit_breaker.fleet"))?;
            breaker = Some(
                FleetBreaker::spawn_with_clock(local, s, f.breaker.clone(), clock)
                    .map_err(|e| e.within("circuit_breaker.fleet"))?,
            );
        }
        Ok(FleetStack {
            stack,
            budget,
            breaker,
        })
    }
}

#[cfg(feature = "redis")]
fn redis_store(url: &str, prefix: Option<&str>) -> Result<Arc<dyn FleetStore>, ConfigError> {
    let mut config = crate::connection::RedisConfig::new(url);
    if let Some(p) = prefix {
        config = config.with_key_prefix(p);
    }
    Ok(Arc::new(super::redis::RedisFleetStore::new(&config)?))
}

impl<'de> Deserialize<'de> for FleetStackConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        FleetStackConfig::from_value(value).map_err(D::Error::custom)
    }
}

impl Serialize for FleetStackConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let mut root = serde_json::to_value(&self.stack).map_err(S::Error::custom)?;
        if let Some(Value::Object(retry)) = root.get_mut("retry")
            && let Some(Value::Object(b)) = retry.get_mut("budget")
        {
            if self.budget_scope != BudgetScope::Local {
                b.insert(
                    "scope".into(),
                    serde_json::to_value(self.budget_scope).map_err(S::Error::custom)?,
                );
            }
            if let Some(f) = &self.budget_fleet {
                b.insert(
                    "fleet".into(),
                    serde_json::to_value(f).map_err(S::Error::custom)?,
                );
            }
        }
        if let Some(Value::Object(b)) = root.get_mut("circuit_breaker") {
            if self.breaker_scope != BreakerScope::Local {
                b.insert(
                    "scope".into(),
                    serde_json::to_value(self.breaker_scope).map_err(S::Error::custom)?,
                );
            }
            if let Some(f) = &self.breaker_fleet {
                let mut m = match serde_json::to_value(&f.breaker).map_err(S::Error::custom)? {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                m.insert("url".into(), Value::String(f.url.clone()));
                if let Some(p) = &f.key_prefix {
                    m.insert("key_prefix".into(), Value::String(p.clone()));
                }
                b.insert("fleet".into(), Value::Object(m));
            }
        }
        root.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fleet_block_without_scope_and_a_scope_without_block_are_refused() {
        let e = FleetStackConfig::from_yaml(
            "circuit_breaker: { fleet: { url: 'redis://127.0.0.1/' } }",
        )
        .unwrap_err();
        assert_eq!(e.field(), Some("circuit_breaker.fleet"));
        assert!(e.to_string().contains("scope: fleet"), "{e}");
        let e = FleetStackConfig::from_yaml(
            "retry: { backoff: { kind: constant, initial: 10ms }, budget: { kind: token_bucket, scope: fleet } }",
        )
        .unwrap_err();
        assert_eq!(e.field(), Some("retry.budget.fleet"));
        let e = FleetStackConfig::from_yaml(
            "retry: { backoff: { kind: constant, initial: 10ms }, budget: { kind: token_bucket, fleet: { url: 'redis://h/', key: k } } }",
        )
        .unwrap_err();
        assert_eq!(e.field(), Some("retry.budget.fleet"));
    }

    #[test]
    fn the_fleet_breaker_rules_are_checked_with_their_path() {
        let e = FleetStackConfig::from_yaml(
            "circuit_breaker: { scope: fleet, fleet: { url: 'redis://127.0.0.1/', quorum: 1 } }",
        )
        .unwrap_err();
        assert_eq!(e.field(), Some("circuit_breaker.fleet.quorum"));
        assert!(e.to_string().contains("at least 2"), "{e}");
        let e =
            FleetStackConfig::from_yaml("circuit_breaker: { scope: fleet, fleet: { quorum: 2 } }")
                .unwrap_err();
        assert_eq!(e.field(), Some("circuit_breaker.fleet.url"));
        let e = FleetStackConfig::from_yaml(
            "circuit_breaker: { scope: fleet, fleet: { url: 'redis://127.0.0.1/', poll_interval: 2s, view_ttl: 3s } }",
        )
        .unwrap_err();
        assert_eq!(e.field(), Some("circuit_breaker.fleet.view_ttl"));
        // A typo in the fleet block is a parse error naming the field.
        let e = FleetStackConfig::from_yaml(
            "circuit_breaker: { scope: fleet, fleet: { url: 'redis://127.0.0.1/', qorum: 3 } }",
        )
        .unwrap_err();
        assert!(e.to_string().contains("qorum"), "{e}");
        let e = FleetStackConfig::from_yaml("circuit_breaker: { scope: global }").unwrap_err();
        assert!(e.to_string().contains("circuit_breaker.scope"), "{e}");
        // A typo in the stack itself is still refused, as `StackConfig` does.
        assert!(FleetStackConfig::from_yaml("timeot: 1s").is_err());
    }

    #[test]
    fn the_config_serialises_back_to_the_same_yaml_shape() {
        let text = "name: inventory\ncircuit_breaker:\n  failure_rate_threshold: 0.5\n  scope: fleet\n  fleet: { url: 'redis://127.0.0.1/', key_prefix: svc, quorum: 3 }\n\
                    retry:\n  backoff: { kind: constant, initial: 10ms }\n  budget: { kind: token_bucket, capacity: 100, scope: fleet, fleet: { url: 'redis://127.0.0.1/', key: inv, batch: 20 } }\n";
        let c = FleetStackConfig::from_yaml(text).unwrap();
        let again: FleetStackConfig =
            serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        again.validate().unwrap();
        assert_eq!(again.breaker_fleet, c.breaker_fleet);
        assert_eq!(again.budget_fleet, c.budget_fleet);
        assert_eq!(again.breaker_fleet.unwrap().breaker.quorum, 3);
        assert_eq!(again.budget_scope, BudgetScope::Fleet);
    }
}
