//! Errors shared by the layers, and one way to handle all of them.
//!
//! Every layer's `Service::Error` is [`tower::BoxError`], as in tower's own
//! middleware, so layers stack without nested error types and axum's
//! `HandleErrorLayer` accepts them. Each layer's own error is a concrete type
//! inside the box, often wrapped by the layers above it: a breaker's
//! `CircuitOpen` that reaches the caller through a retry layer is the
//! source of an `AttemptError`, itself the source of a `RetryError`.
//!
//! [`ErrorKind::of`] walks that chain and says what happened, as one
//! matchable value, whatever the stack looks like:
//!
//! ```
//! use std::time::Duration;
//! use resilience_tower::error::ErrorKind;
//! use resilience_tower::stack::ResilienceStack;
//! use tower::{service_fn, BoxError, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let stack = ResilienceStack::from_yaml(
//!     "retry: { backoff: { kind: constant, initial: 10ms, max_attempts: 3 } }\n\
//!      circuit_breaker: { consecutive_failures: 3, open_duration: 30s }",
//! )?;
//! let mut svc = tower::Layer::layer(&stack, service_fn(|_: ()| async {
//!     Err::<(), BoxError>(std::io::Error::from(std::io::ErrorKind::ConnectionReset).into())
//! }));
//! let first = svc.ready().await?.call(()).await.unwrap_err(); // three attempts, the breaker opens
//! assert_eq!(ErrorKind::of(&first), ErrorKind::Inner);
//! let second = svc.ready().await?.call(()).await.unwrap_err(); // fails fast
//! assert!(matches!(ErrorKind::of(&second), ErrorKind::CircuitOpen { retry_after } if retry_after <= Duration::from_secs(30)));
//! # Ok(())
//! # }
//! ```
//!
//! With feature `http`, [`ErrorKind::status`] and
//! [`ErrorKind::retry_after_header`] give the HTTP answer; with feature
//! `axum`, [`handle_error`] is a ready `HandleErrorLayer` handler and
//! [`ErrorResponse`] an `IntoResponse`.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use resilience_core::bulkhead::BulkheadFull;
use resilience_core::circuit_breaker::{CircuitOpen, RegistryFull};
use resilience_core::rate_limit::RateLimited;
use resilience_core::retry::RetryError;
pub use tower::BoxError;

use crate::dead_letter::DeadLettered;
use crate::degradation::FeatureDisabled;
use crate::fallback::FallbackExhausted;
use crate::retry::AttemptError;
use crate::timeout::{Elapsed, TimeoutScope};

/// A response future was polled again after it completed (a bug in the
/// caller); reported as an error instead of a panic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, thiserror::Error)]
#[error("response future polled after completion")]
pub struct PolledAfterCompletion;

/// What an error from a layer or a stack means for the caller: one value
/// to match on, found by walking the error's [`source`](Error::source)
/// chain (so it works through any number of retry, fallback and
/// dead-letter wrappers).
///
/// | kind | found when the chain holds | HTTP (feature `http`) |
/// |---|---|---|
/// | `CircuitOpen { retry_after }` | a breaker's `CircuitOpen` | 503, `Retry-After` in whole seconds, rounded up |
/// | `RateLimited { retry_after }` | a rate limiter's `RateLimited` | 429, `Retry-After` in whole seconds, rounded up |
/// | `BulkheadFull` | `BulkheadFull` (no permit within `max_wait`, or shed) | 429 |
/// | `RegistryFull` | a keyed breaker registry's `RegistryFull` (no room for a new key: every key held is failing, in use or recently used) | 503 |
/// | `Timeout` | an attempt's `Elapsed` (scope `attempt`, or tower's own) | 504 |
/// | `DeadlineExceeded` | the total deadline's `Elapsed`, or a retry policy that stopped because the next retry would end past its deadline | 504 |
/// | `FeatureDisabled` | `FeatureDisabled` (shed by the degradation level) | 503 |
/// | `RetryBudgetExhausted` | a retry policy that stopped because its budget refused a retry, when the last attempt's error is none of the above | 503 |
/// | `DeadLettered` | `DeadLettered` (queued for replay) | 202 |
/// | `Inner` | none of these: the service's own error | 502 |
///
/// The first of these met while walking from the outermost error inwards
/// decides, so a request dead-lettered because a breaker was open is
/// `DeadLettered`, and a retry that gave up on an open breaker is
/// `CircuitOpen`. Where a fallback chain failed at every step, the last
/// step's error decides.
///
/// ```
/// use std::time::Duration;
/// use resilience_tower::error::ErrorKind;
/// use resilience_tower::timeout::{Elapsed, TimeoutScope};
/// use tower::BoxError;
///
/// let err: BoxError = Elapsed::new(Duration::from_secs(2), TimeoutScope::Total).into();
/// assert_eq!(ErrorKind::of(&err), ErrorKind::DeadlineExceeded);
/// assert_eq!(ErrorKind::of(&err).as_str(), "deadline_exceeded");
/// let other: BoxError = "connection refused by upstream".into();
/// assert_eq!(ErrorKind::of(&other), ErrorKind::Inner);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A circuit breaker refused the call: the dependency was not called.
    CircuitOpen {
        /// How long until the breaker admits a call again (see
        /// `CircuitOpen::retry_after`).
        retry_after: Duration,
    },
    /// A bulkhead had no permit: local overload, the dependency was not
    /// called.
    BulkheadFull,
    /// A keyed breaker registry had no room for the request's key (every
    /// key it holds is failing, in use, or used within its idle time):
    /// local capacity, the dependency was not called.
    RegistryFull,
    /// A rate limiter refused the call: the dependency was not called.
    RateLimited {
        /// How long until the limiter has a permit again (see
        /// `RateLimited::retry_after`; `Duration::MAX` when the request
        /// can never be admitted).
        retry_after: Duration,
    },
    /// An attempt timed out (and was not, or could no longer be, retried).
    Timeout,
    /// The call's total deadline passed, or no retry could finish before it.
    DeadlineExceeded,
    /// The request's feature is disabled at the current degradation level.
    FeatureDisabled,
    /// The retry budget refused a retry: the dependency is failing for many
    /// callers and retries are shed.
    RetryBudgetExhausted,
    /// The request was put on a dead-letter queue and will be replayed.
    DeadLettered,
    /// The inner service's own error (none of the above).
    Inner,
}

impl ErrorKind {
    /// The kind of `error` (a layer's or a stack's `BoxError`).
    pub fn of(error: &BoxError) -> ErrorKind {
        Self::locate(&**error).0
    }

    /// The kind of any error, as [`of`](Self::of) does for a `BoxError`.
    ///
    /// ```
    /// use resilience_tower::error::ErrorKind;
    /// let io = std::io::Error::other("boom");
    /// assert_eq!(ErrorKind::of_error(&io), ErrorKind::Inner);
    /// ```
    pub fn of_error(error: &(dyn Error + 'static)) -> ErrorKind {
        Self::locate(error).0
    }

    /// The kind, and the error in the chain that decided it (`None` for
    /// [`Inner`](Self::Inner) unless a retry reason decided).
    fn locate<'e>(
        error: &'e (dyn Error + 'static),
    ) -> (ErrorKind, Option<&'e (dyn Error + 'static)>) {
        let mut retry_reason = None;
        let mut current = Some(error);
        while let Some(e) = current {
            if let Some(kind) = Self::direct(e) {
                return (kind, Some(e));
            }
            if let Some(retry) = e.downcast_ref::<RetryError<AttemptError>>() {
                let reason = match retry {
                    RetryError::RetryBudgetExhausted { .. } => {
                        Some(ErrorKind::RetryBudgetExhausted)
                    }
                    RetryError::DeadlineExceeded { .. } => Some(ErrorKind::DeadlineExceeded),
                    _ => None,
                };
                if let (None, Some(reason)) = (&retry_reason, reason) {
                    retry_reason = Some((reason, e));
                }
            }
            current = match e.downcast_ref::<FallbackExhausted>() {
                Some(exhausted) => exhausted
                    .failures
                    .last()
                    .map(|step| &*step.error as &(dyn Error + 'static)),
                None => e.source(),
            };
        }
        match retry_reason {
            Some((kind, e)) => (kind, Some(e)),
            None => (ErrorKind::Inner, None),
        }
    }

    fn direct(e: &(dyn Error + 'static)) -> Option<ErrorKind> {
        if let Some(open) = e.downcast_ref::<CircuitOpen>() {
            return Some(ErrorKind::CircuitOpen {
                retry_after: open.retry_after(),
            });
        }
        if let Some(elapsed) = e.downcast_ref::<Elapsed>() {
            return Some(match elapsed.scope() {
                TimeoutScope::Attempt => ErrorKind::Timeout,
                TimeoutScope::Total => ErrorKind::DeadlineExceeded,
            });
        }
        if e.is::<tower::timeout::error::Elapsed>() {
            return Some(ErrorKind::Timeout);
        }
        if e.is::<BulkheadFull>() {
            return Some(ErrorKind::BulkheadFull);
        }
        if e.is::<RegistryFull>() {
            return Some(ErrorKind::RegistryFull);
        }
        if let Some(limited) = e.downcast_ref::<RateLimited>() {
            return Some(ErrorKind::RateLimited {
                retry_after: limited.retry_after(),
            });
        }
        if e.is::<FeatureDisabled>() {
            return Some(ErrorKind::FeatureDisabled);
        }
        if e.is::<DeadLettered>() {
            return Some(ErrorKind::DeadLettered);
        }
        None
    }

    /// How long the caller should wait before trying again, when the error
    /// says (an open breaker's or a rate limiter's `retry_after`; none for
    /// a request a limiter can never admit).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ErrorKind::CircuitOpen { retry_after } => Some(*retry_after),
            ErrorKind::RateLimited { retry_after } if *retry_after != Duration::MAX => {
                Some(*retry_after)
            }
            _ => None,
        }
    }

    /// A stable label: `circuit_open`, `rate_limited`, `bulkhead_full`,
    /// `registry_full`, `timeout`,
    /// `deadline_exceeded`, `feature_disabled`, `retry_budget_exhausted`,
    /// `dead_lettered` or `inner` (for logs and metric labels).
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorKind::CircuitOpen { .. } => "circuit_open",
            ErrorKind::BulkheadFull => "bulkhead_full",
            ErrorKind::RegistryFull => "registry_full",
            ErrorKind::RateLimited { .. } => "rate_limited",
            ErrorKind::Timeout => "timeout",
            ErrorKind::DeadlineExceeded => "deadline_exceeded",
            ErrorKind::FeatureDisabled => "feature_disabled",
            ErrorKind::RetryBudgetExhausted => "retry_budget_exhausted",
            ErrorKind::DeadLettered => "dead_lettered",
            ErrorKind::Inner => "inner",
        }
    }

    /// The HTTP status to answer with (feature `http`); see the table on
    /// [`ErrorKind`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_tower::error::ErrorKind;
    /// let open = ErrorKind::CircuitOpen { retry_after: Duration::from_millis(1500) };
    /// assert_eq!(open.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    /// assert_eq!(open.retry_after_header().unwrap(), "2");
    /// assert_eq!(ErrorKind::BulkheadFull.status(), http::StatusCode::TOO_MANY_REQUESTS);
    /// assert_eq!(ErrorKind::RegistryFull.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    /// let limited = ErrorKind::RateLimited { retry_after: Duration::from_millis(200) };
    /// assert_eq!(limited.status(), http::StatusCode::TOO_MANY_REQUESTS);
    /// assert_eq!(limited.retry_after_header().unwrap(), "1");
    /// assert_eq!(ErrorKind::Inner.status(), http::StatusCode::BAD_GATEWAY);
    /// ```
    #[cfg(feature = "http")]
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            ErrorKind::CircuitOpen { .. }
            | ErrorKind::RegistryFull
            | ErrorKind::FeatureDisabled
            | ErrorKind::RetryBudgetExhausted => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::BulkheadFull | ErrorKind::RateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ErrorKind::Timeout | ErrorKind::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            ErrorKind::DeadLettered => StatusCode::ACCEPTED,
            ErrorKind::Inner => StatusCode::BAD_GATEWAY,
        }
    }

    /// The `Retry-After` header value (feature `http`): whole seconds,
    /// rounded up so that a client never comes back early; `None` when the
    /// error gives no wait.
    #[cfg(feature = "http")]
    pub fn retry_after_header(&self) -> Option<http::HeaderValue> {
        self.retry_after().map(|d| {
            let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            http::HeaderValue::from(secs)
        })
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An HTTP answer for a layer's or stack's error (feature `axum`): the
/// [`ErrorKind`]'s status, a `Retry-After` header when the error gives a
/// wait, and a one-line plain-text body saying what happened. The body of
/// an [`Inner`](ErrorKind::Inner) error does not repeat the inner error's
/// text (it may hold internal details); log [`error`](Self::error) for that.
///
/// ```
/// use axum_core::response::IntoResponse;
/// use resilience_tower::error::ErrorResponse;
/// use resilience_tower::timeout::{Elapsed, TimeoutScope};
///
/// let err = Elapsed::new(std::time::Duration::from_secs(2), TimeoutScope::Attempt);
/// let response = ErrorResponse::from(tower::BoxError::from(err)).into_response();
/// assert_eq!(response.status(), http::StatusCode::GATEWAY_TIMEOUT);
/// ```
#[cfg(feature = "axum")]
#[derive(Debug)]
pub struct ErrorResponse {
    kind: ErrorKind,
    message: String,
    error: BoxError,
}

#[cfg(feature = "axum")]
impl ErrorResponse {
    /// The kind of the error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The body's text.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The original error.
    pub fn error(&self) -> &BoxError {
        &self.error
    }

    /// Takes the original error out.
    pub fn into_error(self) -> BoxError {
        self.error
    }
}

#[cfg(feature = "axum")]
impl From<BoxError> for ErrorResponse {
    fn from(error: BoxError) -> Self {
        let (kind, decided_by) = ErrorKind::locate(&*error);
        let message = match (kind, decided_by) {
            (ErrorKind::Inner, _) | (_, None) => {
                "the upstream service failed to answer the request".to_string()
            }
            (_, Some(e)) => e.to_string(),
        };
        ErrorResponse {
            kind,
            message,
            error,
        }
    }
}

#[cfg(feature = "axum")]
impl axum_core::response::IntoResponse for ErrorResponse {
    fn into_response(self) -> axum_core::response::Response {
        let mut response = (self.kind.status(), self.message).into_response();
        if let Some(value) = self.kind.retry_after_header() {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, value);
        }
        response
    }
}

/// A handler for axum's `HandleErrorLayer` (feature `axum`): maps any
/// error of a layer or stack to its HTTP answer (see [`ErrorKind`] and
/// [`ErrorResponse`]).
///
/// ```
/// use axum::{body::Body, error_handling::HandleErrorLayer, Router};
/// use resilience_tower::error::handle_error;
/// use resilience_tower::retry::NoClone;
/// use resilience_tower::stack::ResilienceStack;
/// use tower::{service_fn, BoxError, ServiceBuilder};
///
/// let stack = ResilienceStack::http_from_yaml(
///     "circuit_breaker: { consecutive_failures: 5, open_duration: 30s }\ntimeout: 2s",
/// )?;
/// // Your upstream client; here, a stand-in that always answers.
/// let upstream = service_fn(|_req: http::Request<Body>| async {
///     Ok::<_, BoxError>(http::Response::new(Body::from("ok")))
/// });
/// let app: Router = Router::new().route_service(
///     "/v1/orders",
///     ServiceBuilder::new()
///         .layer(HandleErrorLayer::new(handle_error)) // 503 + Retry-After, 429, 504, 502
///         .layer(stack.with_request_cloning(NoClone)) // a server-side body is read once
///         .service(upstream),
/// );
/// # let _ = app;
/// # Ok::<(), resilience_core::config::ConfigError>(())
/// ```
#[cfg(feature = "axum")]
pub async fn handle_error(error: BoxError) -> ErrorResponse {
    ErrorResponse::from(error)
}
