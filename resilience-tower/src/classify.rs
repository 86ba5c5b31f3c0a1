//! Deciding what a call's result means for the primitive watching it.
//!
//! A circuit breaker must know whether a response is the dependency's
//! failure, a success, or neither. `Err` is not always a failure (a `404` is
//! the caller's problem) and `Ok` is not always a success (an HTTP `503`
//! arrives as `Ok(response)`). A [`ClassifyOutcome`] makes that call.

use resilience_core::circuit_breaker::Outcome;

/// Classifies a call's result as success, failure or ignored.
///
/// Implemented for closures `Fn(&Result<T, E>) -> Outcome`.
///
/// ```
/// use resilience_core::circuit_breaker::Outcome;
/// use resilience_tower::classify::ClassifyOutcome;
///
/// // Timeouts count, "not found" does not.
/// let classify = |r: &Result<u16, String>| match r {
///     Ok(_) => Outcome::Success,
///     Err(e) if e == "not found" => Outcome::Ignored,
///     Err(_) => Outcome::Failure,
/// };
/// assert_eq!(classify.classify(&Err("not found".to_string())), Outcome::Ignored);
/// assert_eq!(classify.classify(&Ok(200)), Outcome::Success);
/// ```
pub trait ClassifyOutcome<T, E> {
    /// The outcome of `result`.
    fn classify(&self, result: &Result<T, E>) -> Outcome;
}

impl<T, E, F> ClassifyOutcome<T, E> for F
where
    F: Fn(&Result<T, E>) -> Outcome,
{
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        self(result)
    }
}

/// Renamed to [`ClassifyOutcome`] (it classifies a result into an
/// [`Outcome`]; the retry layer's classifier is
/// [`RetryClassify`](crate::retry::RetryClassify), core's error classifier
/// `ClassifyError`).
#[deprecated(since = "0.1.1", note = "renamed to `ClassifyOutcome`")]
#[doc(hidden)]
pub use self::ClassifyOutcome as Classify;

/// The default: `Ok` is a success, `Err` is a failure.
///
/// ```
/// use resilience_core::circuit_breaker::Outcome;
/// use resilience_tower::classify::{ClassifyOutcome, ErrorIsFailure};
/// assert_eq!(ErrorIsFailure.classify(&Err::<(), _>("boom")), Outcome::Failure);
/// assert_eq!(ErrorIsFailure.classify(&Ok::<_, ()>(1)), Outcome::Success);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorIsFailure;

impl<T, E> ClassifyOutcome<T, E> for ErrorIsFailure {
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }
}

/// For `http::Response`: 5xx, `408 Request Timeout` and `429 Too Many
/// Requests` are failures (the dependency is down, slow or shedding load),
/// other 4xx are ignored (the caller's fault, not the dependency's),
/// anything else is a success; an `Err` (connection error, timeout) is a
/// failure.
///
/// ```
/// use resilience_core::circuit_breaker::Outcome;
/// use resilience_tower::classify::{ClassifyOutcome, HttpClassifier};
/// let status = |code: u16| {
///     let res = http::Response::builder().status(code).body(()).unwrap();
///     HttpClassifier.classify(&Ok::<_, std::io::Error>(res))
/// };
/// assert_eq!(status(200), Outcome::Success);
/// assert_eq!(status(503), Outcome::Failure);
/// assert_eq!(status(408), Outcome::Failure);
/// assert_eq!(status(429), Outcome::Failure);
/// assert_eq!(status(404), Outcome::Ignored);
/// ```
#[cfg(feature = "http")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpClassifier;

#[cfg(feature = "http")]
impl HttpClassifier {
    /// The outcome of a response with `status`.
    ///
    /// ```
    /// use resilience_core::circuit_breaker::Outcome;
    /// use resilience_tower::classify::HttpClassifier;
    /// assert_eq!(HttpClassifier::outcome_of(http::StatusCode::BAD_GATEWAY), Outcome::Failure);
    /// ```
    #[inline]
    pub fn outcome_of(status: http::StatusCode) -> Outcome {
        if status.is_server_error()
            || status == http::StatusCode::REQUEST_TIMEOUT
            || status == http::StatusCode::TOO_MANY_REQUESTS
        {
            Outcome::Failure
        } else if status.is_client_error() {
            Outcome::Ignored
        } else {
            Outcome::Success
        }
    }
}

#[cfg(feature = "http")]
impl<B, E> ClassifyOutcome<http::Response<B>, E> for HttpClassifier {
    fn classify(&self, result: &Result<http::Response<B>, E>) -> Outcome {
        match result {
            Err(_) => Outcome::Failure,
            Ok(res) => Self::outcome_of(res.status()),
        }
    }
}
