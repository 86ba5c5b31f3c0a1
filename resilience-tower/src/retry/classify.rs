use std::error::Error;
use std::io;

use resilience_core::bulkhead::BulkheadFull;
use resilience_core::circuit_breaker::CircuitOpen;
use resilience_core::rate_limit::RateLimited;
use resilience_core::retry::ClassifyError as _;
use resilience_core::retry::{Classification, Classifier, ErrorClass, IoClassifier, RetryError};
use tower::BoxError;

use super::AttemptError;
use crate::chaos::{FaultKind, InjectedFault};
use crate::timeout::Elapsed;

/// Decides, for a [`RetryLayer`](super::RetryLayer), whether a call's result
/// is a failure worth asking the retry policy about.
///
/// `None` means success: the result is returned and the call ends. `Some`
/// is a failure with its [`Classification`] (class and, when the dependency
/// said so, `Retry-After`); the policy then decides whether to retry. A
/// response can be a failure too (an HTTP `503` arrives as `Ok`); if the
/// policy gives up on a failed *response*, that response is returned as
/// `Ok`, so the caller sees what the dependency said.
///
/// Errors arrive already converted to [`BoxError`]; find your own type with
/// `downcast_ref`, and fall back to [`classify_error`] for the rest.
/// Implemented for closures `Fn(&Result<T, BoxError>) -> Option<Classification>`.
///
/// ```
/// use resilience_core::retry::{Classification, ErrorClass};
/// use resilience_tower::retry::{classify_error, RetryClassify};
/// use tower::BoxError;
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("deadlock detected")]
/// struct Deadlock;
///
/// // Deadlocks are transient; a status-code response of 503 too.
/// let classify = |r: &Result<u16, BoxError>| -> Option<Classification> {
///     match r {
///         Ok(503) => Some(ErrorClass::Transient.into()),
///         Ok(_) => None,
///         Err(e) if e.is::<Deadlock>() => Some(ErrorClass::Transient.into()),
///         Err(e) => Some(classify_error(&**e)),
///     }
/// };
/// assert_eq!(classify.classify(&Ok(200)), None);
/// assert_eq!(classify.classify(&Err(Deadlock.into())).unwrap().class, ErrorClass::Transient);
/// assert_eq!(classify.classify(&Err("odd".into())).unwrap().class, ErrorClass::Permanent);
/// ```
pub trait RetryClassify<T> {
    /// `None` for a success, else the failure's classification.
    fn classify(&self, result: &Result<T, BoxError>) -> Option<Classification>;
}

impl<T, F> RetryClassify<T> for F
where
    F: Fn(&Result<T, BoxError>) -> Option<Classification>,
{
    #[inline]
    fn classify(&self, result: &Result<T, BoxError>) -> Option<Classification> {
        self(result)
    }
}

/// The default: every `Ok` is a success; an error is classified by
/// [`classify_error`].
///
/// ```
/// use resilience_core::retry::ErrorClass;
/// use resilience_tower::retry::{DefaultRetryClassifier, RetryClassify};
/// use tower::BoxError;
///
/// let c = DefaultRetryClassifier;
/// assert_eq!(c.classify(&Ok::<_, BoxError>(1)), None);
/// let refused: BoxError = std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into();
/// assert_eq!(c.classify(&Err::<u8, _>(refused)).unwrap().class, ErrorClass::ConnectFailed);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefaultRetryClassifier;

impl<T> RetryClassify<T> for DefaultRetryClassifier {
    #[inline]
    fn classify(&self, result: &Result<T, BoxError>) -> Option<Classification> {
        match result {
            Ok(_) => None,
            Err(e) => Some(classify_error(&**e)),
        }
    }
}

/// Classifies an error the layers of this crate and common libraries
/// produce, walking its [`source`](Error::source) chain; the first error
/// recognised decides. Anything unrecognised is
/// [`ErrorClass::Permanent`] (fail fast: retrying an error nobody
/// understood is how retry storms start). Give the
/// [`RetryLayer`](super::RetryLayer) a classifier for your own error types.
///
/// | error | class | note |
/// |---|---|---|
/// | [`Elapsed`] (a per-attempt or total timeout) | `timeout` | |
/// | `tower::timeout::error::Elapsed` | `timeout` | |
/// | [`std::io::Error`] | by kind, see [`IoClassifier`] | refused / unreachable = `connect_failed` |
/// | [`CircuitOpen`] | `circuit_open`, `Retry-After` = the breaker's `retry_after` | not retried by default: the open breaker fails fast. With `circuit_open` in `retry_on` the policy waits `retry_after` (within its deadline) and the next attempt is the half-open trial; the request never left, so even a non-idempotent call may |
/// | [`BulkheadFull`] | `connect_failed` | the request never left |
/// | [`RateLimited`] | `rate_limited`, `Retry-After` = the limiter's `retry_after` | a rate limiter inside the retry layer: the retry waits at least until a permit is due |
/// | [`InjectedFault`] | error: `connect_failed`; abort: `connection_reset` | chaos tests see the same retries as real faults |
/// | `RetryError<AttemptError>` (an inner retry layer gave up) | `permanent` | nested retry layers would multiply attempts |
/// | anything else | `permanent` | |
///
/// ```
/// use std::time::Duration;
/// use resilience_core::retry::ErrorClass;
/// use resilience_tower::retry::classify_error;
/// use resilience_tower::timeout::{Elapsed, TimeoutScope};
///
/// let t = Elapsed::new(Duration::from_secs(1), TimeoutScope::Attempt);
/// assert_eq!(classify_error(&t).class, ErrorClass::Timeout);
/// let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
/// assert_eq!(classify_error(&reset).class, ErrorClass::ConnectionReset);
/// ```
pub fn classify_error(error: &(dyn Error + 'static)) -> Classification {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(c) = known(e) {
            return c;
        }
        current = e.source();
    }
    Classification::new(ErrorClass::Permanent)
}

fn known(e: &(dyn Error + 'static)) -> Option<Classification> {
    if e.is::<Elapsed>() || e.is::<tower::timeout::error::Elapsed>() {
        return Some(ErrorClass::Timeout.into());
    }
    if let Some(io) = e.downcast_ref::<io::Error>() {
        return Some(IoClassifier.classify(io));
    }
    if let Some(open) = e.downcast_ref::<CircuitOpen>() {
        return Some(
            Classification::new(ErrorClass::CircuitOpen).with_retry_after(open.retry_after()),
        );
    }
    if e.is::<BulkheadFull>() {
        return Some(ErrorClass::ConnectFailed.into());
    }
    if let Some(limited) = e.downcast_ref::<RateLimited>() {
        return Some(limited.classify());
    }
    if let Some(fault) = e.downcast_ref::<InjectedFault>() {
        return Some(match fault.kind {
            FaultKind::Error => ErrorClass::ConnectFailed.into(),
            FaultKind::Abort => ErrorClass::ConnectionReset.into(),
        });
    }
    if e.is::<RetryError<AttemptError>>() {
        return Some(ErrorClass::Permanent.into());
    }
    None
}

/// For `http::Response`s (feature `http`): statuses through the core
/// [`HttpStatusClassifier`](resilience_core::retry::HttpStatusClassifier)
/// (408/429/500/502/503/504 retried, `Retry-After` honoured in both its
/// forms), other statuses below 400 are successes, and errors go to
/// [`classify_error`].
///
/// ```
/// use std::time::Duration;
/// use resilience_core::retry::ErrorClass;
/// use resilience_tower::retry::{HttpRetryClassifier, RetryClassify};
/// use tower::BoxError;
///
/// let c = HttpRetryClassifier::default();
/// let res = http::Response::builder().status(429).header("retry-after", "3").body(()).unwrap();
/// let got = c.classify(&Ok::<_, BoxError>(res)).unwrap();
/// assert_eq!(got.class, ErrorClass::RateLimited);
/// assert_eq!(got.retry_after, Some(Duration::from_secs(3)));
/// let ok = http::Response::builder().status(200).body(()).unwrap();
/// assert_eq!(c.classify(&Ok::<_, BoxError>(ok)), None);
/// ```
#[cfg(feature = "http")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpRetryClassifier {
    statuses: resilience_core::retry::HttpStatusClassifier,
}

#[cfg(feature = "http")]
impl HttpRetryClassifier {
    /// Uses `statuses` to classify status codes.
    pub fn new(statuses: resilience_core::retry::HttpStatusClassifier) -> Self {
        HttpRetryClassifier { statuses }
    }
}

#[cfg(feature = "http")]
impl<B> RetryClassify<http::Response<B>> for HttpRetryClassifier {
    fn classify(&self, result: &Result<http::Response<B>, BoxError>) -> Option<Classification> {
        match result {
            Ok(res) => {
                let status = res.status().as_u16();
                if status < 400 {
                    return None;
                }
                let retry_after = res
                    .headers()
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok());
                self.statuses
                    .classify(status, retry_after, std::time::SystemTime::now())
            }
            Err(e) => Some(classify_error(&**e)),
        }
    }
}
