use std::sync::Arc;
use std::time::Duration;

use resilience_core::bulkhead::{Bulkhead, BulkheadConfig};
use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
use resilience_core::clock::{Clock, SharedClock, SystemClock};
use resilience_core::config::{check_nonzero_duration, ConfigError};
use resilience_core::rate_limit::{RateLimit, RateLimiter, RateLimiterConfig};
use resilience_core::retry::{RetryBudget, RetryConfig, RetryPolicy, RetryPolicyBuilder};
use serde::{Deserialize, Serialize};
use tower_layer::Layer;

use super::{StackClassifier, StackService};
use crate::retry::CloneAll;

/// What a stack reads from a call's result to decide failure, retry and
/// idempotency: the `classify` field of a [`StackConfig`].
///
/// ```
/// use resilience_tower::stack::{StackClassify, StackConfig};
/// let c: StackConfig = resilience_core::config::from_yaml_str("classify: http").unwrap();
/// assert_eq!(c.classify, Some(StackClassify::Http));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StackClassify {
    /// Errors only: every `Ok` is a success, errors are classified by
    /// [`classify_error`](crate::retry::classify_error). The default of
    /// [`ResilienceStack::new`].
    Errors,
    /// HTTP (feature `http`): `http::Response` statuses 5xx, 408 and 429
    /// are failures for the breaker and retried (honouring the upstream's
    /// `Retry-After`), other 4xx are the caller's fault and not counted;
    /// reads (`GET`, `HEAD`, `OPTIONS`, `TRACE`) and requests with an
    /// `Idempotency-Key` header are idempotent, so a `POST` without a key is
    /// only retried when it provably never left.
    /// The default of [`ResilienceStack::http`].
    Http,
}

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
    /// Time for one attempt. When unset, the circuit breaker's
    /// `call_timeout` (a preset's request timeout, such as the Maestro
    /// preset's 30 s) is used.
    #[serde(with = "humantime_serde::option")]
    pub timeout: Option<Duration>,
    /// Rate limit on calls into the stack (see
    /// `resilience_core::rate_limit::RateLimiterConfig`; named after the
    /// stack unless it has a name). Outermost: a refused call costs
    /// nothing below it, and one call takes one permit however many
    /// attempts it makes.
    pub rate_limit: Option<RateLimiterConfig>,
    /// What results mean: `errors` or `http` (see [`StackClassify`]).
    /// Default: `errors` for [`ResilienceStack::new`], `http` for
    /// [`ResilienceStack::http`].
    pub classify: Option<StackClassify>,
}

/// A validated stack, ready to wrap services; see the [module docs](super).
///
/// Services made by one `ResilienceStack` share its breaker, bulkhead and
/// retry budget: build it once per dependency.
///
/// The stack has **one deadline**: `deadline` bounds the whole call, and
/// the retry policy knows it (its own `deadline` is capped by the
/// stack's), so no retry is started whose wait cannot end before it; the
/// caller gets the last attempt's error at once instead of a timeout later.
/// With a per-attempt `timeout`, the policy also knows how long an attempt
/// can take (the timeout plus the bulkhead's `max_wait`) and starts no
/// attempt that could not finish before the deadline; the deadline then
/// holds by construction and costs no timer of its own.
///
/// `K` is how the retry layer copies a request for another attempt:
/// [`CloneAll`] (requests must be `Clone`) by default; use
/// [`with_request_cloning`](Self::with_request_cloning) with
/// [`NoClone`](crate::retry::NoClone) for requests that cannot be cloned
/// (such as axum's `Request<Body>` on the server side), or with a closure
/// that clones only some requests.
///
/// `C` is what the breaker and the retry read from results and requests:
/// [`StackClassifier`] (errors only) from [`new`](Self::new), or
/// [`HttpStackClassifier`](super::HttpStackClassifier) (statuses, methods)
/// from [`http`](Self::http) (feature `http`).
#[derive(Debug, Clone)]
pub struct ResilienceStack<K = CloneAll, C = StackClassifier> {
    pub(crate) deadline: Option<Duration>,
    /// The deadline, when it needs a timer of its own (see `Parts::build`).
    pub(crate) deadline_timer: Option<Duration>,
    pub(crate) retry: Option<Arc<RetryPolicy>>,
    /// How `retry` was built, to build it again with another budget.
    pub(crate) retry_builder: Option<RetryPolicyBuilder>,
    pub(crate) breaker: Option<CircuitBreaker>,
    pub(crate) bulkhead: Option<Arc<Bulkhead>>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) rate_limiter: Option<Arc<dyn RateLimit>>,
    pub(crate) cloner: K,
    pub(crate) classifier: C,
}

/// The validated parts of a stack, before the classifier is chosen.
struct Parts {
    deadline: Option<Duration>,
    deadline_timer: Option<Duration>,
    retry: Option<Arc<RetryPolicy>>,
    retry_builder: Option<RetryPolicyBuilder>,
    breaker: Option<CircuitBreaker>,
    bulkhead: Option<Arc<Bulkhead>>,
    timeout: Option<Duration>,
    rate_limiter: Option<Arc<dyn RateLimit>>,
}

impl Parts {
    fn build(mut config: StackConfig, clock: SharedClock) -> Result<Parts, ConfigError> {
        // A breaker preset may carry its dependency's request timeout (the
        // Maestro preset's 30 s): it is the per-attempt timeout unless the
        // stack sets its own.
        if config.timeout.is_none() {
            config.timeout = config.circuit_breaker.as_ref().and_then(|b| b.call_timeout);
        }
        let name = config.name.as_deref().unwrap_or("default");
        if let Some(d) = config.deadline {
            check_nonzero_duration("deadline", d)?;
        }
        if let Some(t) = config.timeout {
            check_nonzero_duration("timeout", t)?;
        }
        // The longest one attempt can take, when the stack bounds it: the
        // per-attempt timeout plus the bulkhead's longest wait for a permit.
        let attempt_limit = config.timeout.map(|t| {
            t.saturating_add(
                config
                    .bulkhead
                    .as_ref()
                    .map_or(Duration::ZERO, |b| b.max_wait),
            )
        });
        let mut retry_builder = None;
        let retry = match &config.retry {
            Some(r) => {
                // One deadline for the stack: the retry policy must not
                // start a wait, or an attempt, that the stack's deadline
                // would cut short.
                let mut r = r.clone();
                if let Some(d) = config.deadline {
                    r.deadline = Some(r.deadline.map_or(d, |own| own.min(d)));
                }
                let mut builder = RetryPolicy::builder_from(r).name(name).clock(clock.clone());
                if let (Some(_), Some(limit)) = (config.deadline, attempt_limit) {
                    builder = builder.attempt_time_limit(limit);
                }
                retry_builder = Some(builder.clone());
                Some(Arc::new(builder.build().map_err(|e| e.within("retry"))?))
            }
            None => None,
        };
        // The deadline needs its own timer only when nothing else bounds the
        // call by it: with a per-attempt timeout that fits the deadline, the
        // first attempt ends in time, and the retry policy starts no further
        // attempt that could not (and bounds a service that is slow to get
        // ready); without a retry there is no further attempt. One timer
        // per call fewer is about a fifth of the stack's cost in a real
        // HTTP service (benches/http_gateway.rs).
        let deadline_timer = match (config.deadline, attempt_limit) {
            (Some(d), Some(limit)) if limit <= d => None,
            (d, _) => d,
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
        let rate_limiter = match config.rate_limit {
            Some(mut c) => {
                c.name.get_or_insert_with(|| name.to_string());
                let limiter = RateLimiter::with_clock(c, clock.clone())
                    .map_err(|e| e.within("rate_limit"))?;
                Some(Arc::new(limiter) as Arc<dyn RateLimit>)
            }
            None => None,
        };
        let bulkhead = match config.bulkhead {
            Some(c) => Some(Arc::new(
                Bulkhead::with_clock(name, c, clock).map_err(|e| e.within("bulkhead"))?,
            )),
            None => None,
        };
        Ok(Parts {
            deadline: config.deadline,
            deadline_timer,
            retry,
            retry_builder,
            breaker,
            bulkhead,
            timeout: config.timeout,
            rate_limiter,
        })
    }

    fn with<C>(self, classifier: C) -> ResilienceStack<CloneAll, C> {
        ResilienceStack {
            deadline: self.deadline,
            deadline_timer: self.deadline_timer,
            retry: self.retry,
            retry_builder: self.retry_builder,
            breaker: self.breaker,
            bulkhead: self.bulkhead,
            timeout: self.timeout,
            rate_limiter: self.rate_limiter,
            cloner: CloneAll,
            classifier,
        }
    }
}

impl<K, C> ResilienceStack<K, C> {
    /// Sets how requests are copied for retries.
    pub fn with_request_cloning<K2>(self, cloner: K2) -> ResilienceStack<K2, C> {
        ResilienceStack {
            deadline: self.deadline,
            deadline_timer: self.deadline_timer,
            retry: self.retry,
            retry_builder: self.retry_builder,
            breaker: self.breaker,
            bulkhead: self.bulkhead,
            timeout: self.timeout,
            rate_limiter: self.rate_limiter,
            cloner,
            classifier: self.classifier,
        }
    }

    /// The total deadline of a call, if configured.
    pub fn deadline(&self) -> Option<Duration> {
        self.deadline
    }

    /// The per-attempt timeout, if configured.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// What the breaker and the retry read from results and requests.
    pub fn classifier(&self) -> &C {
        &self.classifier
    }

    /// The stack's breaker, if configured (for status pages and listeners).
    pub fn breaker(&self) -> Option<&CircuitBreaker> {
        self.breaker.as_ref()
    }

    /// The stack's bulkhead, if configured.
    pub fn bulkhead(&self) -> Option<&Arc<Bulkhead>> {
        self.bulkhead.as_ref()
    }

    /// The stack's rate limiter, if configured (or set by
    /// [`with_rate_limiter`](Self::with_rate_limiter)).
    pub fn rate_limiter(&self) -> Option<&Arc<dyn RateLimit>> {
        self.rate_limiter.as_ref()
    }

    /// Makes the stack take its permits from `limiter` instead of the
    /// config's `rate_limit` (or adds a rate limit to a stack without
    /// one): one limiter shared by several stacks, or a fleet-wide one
    /// (`resilience_store::fleet::FleetRateLimiter`, shared by every
    /// replica). Services made before keep the limiter they had.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use resilience_core::rate_limit::{RateLimiter, RateLimiterConfig};
    /// use resilience_tower::stack::ResilienceStack;
    /// let shared = RateLimiter::new(RateLimiterConfig::per_second(100).name("provider")).unwrap();
    /// let stack = ResilienceStack::from_yaml("timeout: 2s").unwrap().with_rate_limiter(Arc::new(shared));
    /// assert_eq!(stack.rate_limiter().unwrap().name(), "provider");
    /// ```
    pub fn with_rate_limiter(mut self, limiter: Arc<dyn RateLimit>) -> Self {
        self.rate_limiter = Some(limiter);
        self
    }

    /// The stack's retry policy, if configured.
    pub fn retry_policy(&self) -> Option<&Arc<RetryPolicy>> {
        self.retry.as_ref()
    }

    /// Makes the stack's retries spend `budget` instead of the config's
    /// `retry.budget`: one budget shared by the stacks of several services
    /// calling the same dependency, or a fleet-wide one
    /// (`resilience_store::fleet::FleetBudget`, shared by every replica).
    /// A stack without `retry` is returned as it is. Services made before
    /// keep the budget they had.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use resilience_core::retry::{TokenBucketBudget, TokenBucketConfig};
    /// use resilience_tower::stack::ResilienceStack;
    /// let shared = Arc::new(TokenBucketBudget::new(TokenBucketConfig::default()).unwrap());
    /// let stack = ResilienceStack::from_yaml("retry: { backoff: { kind: constant, initial: 10ms } }")
    ///     .unwrap()
    ///     .with_retry_budget(shared.clone())
    ///     .unwrap();
    /// let budget = stack.retry_policy().unwrap().budget().unwrap();
    /// assert!(Arc::ptr_eq(budget, &(shared as Arc<dyn resilience_core::retry::RetryBudget>)));
    /// ```
    pub fn with_retry_budget(mut self, budget: Arc<dyn RetryBudget>) -> Result<Self, ConfigError> {
        if let Some(builder) = &self.retry_builder {
            let builder = builder.clone().budget(budget);
            let policy = builder.clone().build().map_err(|e| e.within("retry"))?;
            self.retry = Some(Arc::new(policy));
            self.retry_builder = Some(builder);
        }
        Ok(self)
    }
}

impl ResilienceStack {
    /// Builds the stack on the system clock, classifying errors only (see
    /// [`StackClassify::Errors`]; for HTTP services use
    /// [`http`](Self::http)).
    pub fn new(config: StackConfig) -> Result<Self, ConfigError> {
        Self::with_clock(config, SystemClock)
    }

    /// Builds the stack with `clock` for the breaker, bulkhead and retry
    /// policy (in tests: a clock that follows paused tokio time, such as
    /// [`TokioClock`](resilience_core::clock::TokioClock)).
    pub fn with_clock(config: StackConfig, clock: impl Clock) -> Result<Self, ConfigError> {
        if config.classify == Some(StackClassify::Http) {
            return Err(ConfigError::invalid(
                "classify",
                "`http` reads `http::Response` statuses, so the stack must be typed for HTTP: \
                 build it with `ResilienceStack::http`, `http_with_clock` or `http_from_yaml` \
                 (feature `http`)",
            ));
        }
        Ok(Parts::build(config, resilience_core::clock::shared(clock))?.with(StackClassifier))
    }

    /// Parses and builds a YAML config.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        Self::new(resilience_core::config::from_yaml_str(text)?)
    }
}

#[cfg(feature = "http")]
impl ResilienceStack<CloneAll, super::HttpStackClassifier> {
    /// Builds a stack for HTTP services (`http::Request` in,
    /// `http::Response` out) on the system clock: `classify` defaults to
    /// [`http`](StackClassify::Http), so 5xx, 408 and 429 responses trip
    /// the breaker and are retried, 4xx are not counted, and non-idempotent
    /// methods are retried only when the request never left.
    ///
    /// ```
    /// use resilience_tower::stack::ResilienceStack;
    /// let stack = ResilienceStack::http_from_yaml("retry: { backoff: { kind: constant, initial: 10ms } }").unwrap();
    /// assert!(stack.classifier().reads_statuses());
    /// let errors_only = ResilienceStack::http_from_yaml("classify: errors").unwrap();
    /// assert!(!errors_only.classifier().reads_statuses());
    /// ```
    pub fn http(config: StackConfig) -> Result<Self, ConfigError> {
        Self::http_with_clock(config, SystemClock)
    }

    /// [`http`](Self::http) with `clock` for the breaker, bulkhead and
    /// retry policy.
    pub fn http_with_clock(config: StackConfig, clock: impl Clock) -> Result<Self, ConfigError> {
        let statuses = config.classify != Some(StackClassify::Errors);
        Ok(Parts::build(config, resilience_core::clock::shared(clock))?
            .with(super::HttpStackClassifier::new(statuses)))
    }

    /// Parses and builds a YAML config for HTTP services.
    pub fn http_from_yaml(text: &str) -> Result<Self, ConfigError> {
        Self::http(resilience_core::config::from_yaml_str(text)?)
    }
}

impl<S, K: Clone, C: Clone> Layer<S> for ResilienceStack<K, C> {
    type Service = StackService<S, K, C>;

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
        let e = ResilienceStack::from_yaml("classify: http").unwrap_err();
        assert_eq!(e.field(), Some("classify"));
        assert!(e.to_string().contains("http_from_yaml"), "{e}");
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

#[cfg(test)]
mod deadline_tests {
    use super::*;

    #[test]
    fn the_retry_policy_knows_the_stack_deadline() {
        let s = ResilienceStack::from_yaml(
            "deadline: 10s\nretry: { backoff: { kind: constant, initial: 1s } }",
        )
        .unwrap();
        assert_eq!(
            s.retry_policy().unwrap().deadline(),
            Some(Duration::from_secs(10))
        );
        // A shorter deadline of the policy's own is kept; a longer one is capped.
        let s = ResilienceStack::from_yaml(
            "deadline: 10s\nretry: { deadline: 3s, backoff: { kind: constant, initial: 1s } }",
        )
        .unwrap();
        assert_eq!(
            s.retry_policy().unwrap().deadline(),
            Some(Duration::from_secs(3))
        );
        let s = ResilienceStack::from_yaml(
            "deadline: 2s\nretry: { deadline: 30s, backoff: { kind: constant, initial: 1s } }",
        )
        .unwrap();
        assert_eq!(
            s.retry_policy().unwrap().deadline(),
            Some(Duration::from_secs(2))
        );
        assert_eq!(s.deadline(), Some(Duration::from_secs(2)));
    }

    #[test]
    fn the_deadline_costs_no_timer_when_the_attempts_are_bounded_within_it() {
        let bounded = ResilienceStack::from_yaml(
            "deadline: 10s\ntimeout: 2s\nbulkhead: { max_concurrent: 4, max_wait: 50ms }\n\
             retry: { backoff: { kind: constant, initial: 1s } }",
        )
        .unwrap();
        assert_eq!(bounded.deadline(), Some(Duration::from_secs(10)));
        assert_eq!(bounded.deadline_timer, None);
        assert_eq!(
            bounded.retry_policy().unwrap().attempt_time_limit(),
            Duration::from_millis(2050)
        );
        // No per-attempt timeout: nothing else bounds the call.
        let unbounded = ResilienceStack::from_yaml(
            "deadline: 10s\nretry: { backoff: { kind: constant, initial: 1s } }",
        )
        .unwrap();
        assert_eq!(unbounded.deadline_timer, Some(Duration::from_secs(10)));
        // A timeout longer than the deadline: the first attempt could run past it.
        let longer = ResilienceStack::from_yaml("deadline: 1s\ntimeout: 2s").unwrap();
        assert_eq!(longer.deadline_timer, Some(Duration::from_secs(1)));
    }
}
