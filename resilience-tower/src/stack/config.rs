use std::sync::Arc;
use std::time::Duration;

use resilience_core::bulkhead::{Bulkhead, BulkheadConfig};
use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
use resilience_core::clock::{SharedClock, SystemClock};
use resilience_core::config::{check_nonzero_duration, ConfigError};
use resilience_core::retry::{RetryConfig, RetryPolicy};
use serde::{Deserialize, Serialize};
use tower_layer::Layer;

use super::StackService;
use crate::retry::CloneAll;

/// The serde config of a [`ResilienceStack`]. Every layer is optional; an
/// absent one is not in the stack at all.
///
/// ```
/// use resilience_tower::stack::StackConfig;
/// let c: StackConfig = resilience_core::config::from_yaml_str("timeout: 250ms").unwrap();
/// assert_eq!(c.timeout.unwrap().as_millis(), 250);
/// assert!(c.retry.is_none());
/// ```
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StackConfig {
    /// Names the breaker, bulkhead and retry policy (metric labels).
    /// Default `"default"`.
    pub name: Option<String>,
    /// Total time for a call, across attempts and waits.
    #[serde(with = "humantime_serde::option")]
    pub deadline: Option<Duration>,
    /// Retry policy (see `resilience_core::retry::RetryConfig`).
    pub retry: Option<RetryConfig>,
    /// Circuit breaker (see `resilience_core::circuit_breaker::CircuitBreakerConfig`).
    pub circuit_breaker: Option<CircuitBreakerConfig>,
    /// Bulkhead (see `resilience_core::bulkhead::BulkheadConfig`).
    pub bulkhead: Option<BulkheadConfig>,
    /// Time for one attempt.
    #[serde(with = "humantime_serde::option")]
    pub timeout: Option<Duration>,
}

/// A validated stack, ready to wrap services; see the [module docs](super).
///
/// Services made by one `ResilienceStack` share its breaker, bulkhead and
/// retry budget: build it once per dependency.
///
/// `K` is how the retry layer copies a request for another attempt:
/// [`CloneAll`] (requests must be `Clone`) by default; use
/// [`with_request_cloning`](Self::with_request_cloning) with
/// [`NoClone`](crate::retry::NoClone) for requests that cannot be cloned
/// (such as axum's `Request<Body>` on the server side), or with a closure
/// that clones only some requests.
#[derive(Debug, Clone)]
pub struct ResilienceStack<K = CloneAll> {
    pub(crate) deadline: Option<Duration>,
    pub(crate) retry: Option<Arc<RetryPolicy>>,
    pub(crate) breaker: Option<CircuitBreaker>,
    pub(crate) bulkhead: Option<Arc<Bulkhead>>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) cloner: K,
}

impl<K> ResilienceStack<K> {
    /// Sets how requests are copied for retries.
    pub fn with_request_cloning<K2>(self, cloner: K2) -> ResilienceStack<K2> {
        ResilienceStack {
            deadline: self.deadline,
            retry: self.retry,
            breaker: self.breaker,
            bulkhead: self.bulkhead,
            timeout: self.timeout,
            cloner,
        }
    }

    /// The stack's breaker, if configured (for status pages and listeners).
    pub fn breaker(&self) -> Option<&CircuitBreaker> {
        self.breaker.as_ref()
    }

    /// The stack's bulkhead, if configured.
    pub fn bulkhead(&self) -> Option<&Arc<Bulkhead>> {
        self.bulkhead.as_ref()
    }

    /// The stack's retry policy, if configured.
    pub fn retry_policy(&self) -> Option<&Arc<RetryPolicy>> {
        self.retry.as_ref()
    }
}

impl ResilienceStack {
    /// Builds the stack on the system clock.
    pub fn new(config: StackConfig) -> Result<Self, ConfigError> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// Builds the stack with `clock` for the breaker, bulkhead and retry
    /// policy (in tests: a clock that follows paused tokio time, such as
    /// `resilience_tower::timeout::TokioClock`).
    pub fn with_clock(config: StackConfig, clock: SharedClock) -> Result<Self, ConfigError> {
        let name = config.name.as_deref().unwrap_or("default");
        if let Some(d) = config.deadline {
            check_nonzero_duration("deadline", d)?;
        }
        if let Some(t) = config.timeout {
            check_nonzero_duration("timeout", t)?;
        }
        let retry = match &config.retry {
            Some(r) => Some(Arc::new(
                RetryPolicy::from_config(name, r, clock.clone()).map_err(|e| e.within("retry"))?,
            )),
            None => None,
        };
        let breaker = match config.circuit_breaker {
            Some(mut c) => {
                c.name.get_or_insert_with(|| name.to_string());
                Some(
                    CircuitBreaker::with_clock(c, clock.clone())
                        .map_err(|e| e.within("circuit_breaker"))?,
                )
            }
            None => None,
        };
        let bulkhead = match config.bulkhead {
            Some(c) => Some(Arc::new(
                Bulkhead::with_clock(name, c, clock).map_err(|e| e.within("bulkhead"))?,
            )),
            None => None,
        };
        Ok(ResilienceStack {
            deadline: config.deadline,
            retry,
            breaker,
            bulkhead,
            timeout: config.timeout,
            cloner: CloneAll,
        })
    }

    /// Parses and builds a YAML config.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        Self::new(resilience_core::config::from_yaml_str(text)?)
    }
}

impl<S, K: Clone> Layer<S> for ResilienceStack<K> {
    type Service = StackService<S, K>;

    fn layer(&self, inner: S) -> Self::Service {
        StackService::new(inner, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_nested_field() {
        let e = ResilienceStack::from_yaml("circuit_breaker: { failure_rate_threshold: 2.0 }")
            .unwrap_err();
        assert_eq!(e.field(), Some("circuit_breaker.failure_rate_threshold"));
        let e = ResilienceStack::from_yaml("bulkhead: { max_concurrent: 0 }").unwrap_err();
        assert_eq!(e.field(), Some("bulkhead.max_concurrent"));
        let e = ResilienceStack::from_yaml("timeout: 0s").unwrap_err();
        assert_eq!(e.field(), Some("timeout"));
        assert!(ResilienceStack::from_yaml("timeot: 1s").is_err());
    }

    #[test]
    fn components_are_named_after_the_stack() {
        let s = ResilienceStack::from_yaml(
            "name: payments\ncircuit_breaker: {}\nbulkhead: { max_concurrent: 4 }",
        )
        .unwrap();
        assert_eq!(s.breaker().unwrap().name(), "payments");
        assert!(s.retry_policy().is_none());
    }
}
