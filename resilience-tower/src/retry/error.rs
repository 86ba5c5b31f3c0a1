use std::error::Error;
use std::fmt;

use resilience_core::retry::{ErrorClass, RetryError};
use tower::BoxError;

/// The error of one attempt, as a [`RetryLayer`](super::RetryLayer) saw it:
/// the `last` error inside the core
/// [`RetryError`](resilience_core::retry::RetryError) that the layer returns
/// (boxed) when it gives up.
///
/// Its [`source`](Error::source) is the original error, so walking the
/// chain (or [`downcast_ref`](Self::downcast_ref)) finds the inner
/// service's own error type.
///
/// ```
/// use std::io;
/// use resilience_tower::retry::AttemptError;
///
/// let e = AttemptError::new(3, io::Error::from(io::ErrorKind::ConnectionReset).into());
/// assert_eq!(e.attempt(), 3);
/// assert_eq!(e.to_string(), "attempt 3 failed");
/// assert_eq!(e.downcast_ref::<io::Error>().unwrap().kind(), io::ErrorKind::ConnectionReset);
/// assert!(std::error::Error::source(&e).unwrap().is::<io::Error>());
/// ```
#[derive(Debug)]
pub struct AttemptError {
    attempt: u32,
    error: BoxError,
}

impl AttemptError {
    /// Attempt number `attempt` (from 1) failed with `error`.
    pub fn new(attempt: u32, error: BoxError) -> AttemptError {
        AttemptError { attempt, error }
    }

    /// The attempt's number, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The original error.
    pub fn get_ref(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.error
    }

    /// Takes the original error out.
    pub fn into_inner(self) -> BoxError {
        self.error
    }

    /// Whether the original error is a `T`.
    pub fn is<T: Error + 'static>(&self) -> bool {
        self.error.is::<T>()
    }

    /// The original error as a `T`, if it is one.
    pub fn downcast_ref<T: Error + 'static>(&self) -> Option<&T> {
        self.error.downcast_ref::<T>()
    }
}

impl fmt::Display for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "attempt {} failed", self.attempt)
    }
}

impl Error for AttemptError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.error)
    }
}

/// A failed request that the retry policy would have retried, but that
/// could not be copied for another attempt (its
/// [`CloneRequest`](super::CloneRequest) hook returned `None`, e.g. a
/// streaming body). It was sent once per copy available, and the original
/// error is kept: it is this error's [`source`](Error::source) and
/// [`last`](Self::last).
///
/// ```
/// use resilience_core::retry::ErrorClass;
/// use resilience_tower::retry::RequestNotCloneable;
///
/// let e = RequestNotCloneable::new(1, ErrorClass::ConnectionReset, "connection reset".into());
/// assert_eq!(e.attempts(), 1);
/// assert_eq!(e.last().to_string(), "connection reset");
/// assert!(e.to_string().starts_with(
///     "attempt 1 failed with a connection_reset error that the retry policy would retry, \
///      but the request could not be copied for another attempt"
/// ));
/// ```
#[derive(Debug)]
pub struct RequestNotCloneable {
    attempts: u32,
    class: ErrorClass,
    last: BoxError,
}

impl RequestNotCloneable {
    /// Attempt `attempts` failed with `last` (classified `class`) and no
    /// copy of the request was left.
    pub fn new(attempts: u32, class: ErrorClass, last: BoxError) -> RequestNotCloneable {
        RequestNotCloneable {
            attempts,
            class,
            last,
        }
    }

    /// Attempts made.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The class of the last failure.
    pub fn class(&self) -> ErrorClass {
        self.class
    }

    /// The original error of the last attempt.
    pub fn last(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.last
    }

    /// Takes the original error out.
    pub fn into_last(self) -> BoxError {
        self.last
    }
}

impl fmt::Display for RequestNotCloneable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "attempt {} failed with a {} error that the retry policy would retry, but the \
             request could not be copied for another attempt (e.g. a streaming body), so it \
             was not retried and its original error is returned; make the request cloneable \
             (buffer the body) to allow retries",
            self.attempts, self.class
        )
    }
}

impl Error for RequestNotCloneable {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.last)
    }
}

/// The original error behind an error from a
/// [`RetryLayer`](super::RetryLayer): the last attempt's error inside a
/// `RetryError<AttemptError>` or a [`RequestNotCloneable`], otherwise
/// `error` itself (e.g. an error from the inner service's `poll_ready`).
///
/// ```
/// use resilience_core::retry::RetryError;
/// use resilience_tower::retry::{original_error, AttemptError};
/// use tower::BoxError;
///
/// let gave_up: BoxError = RetryError::RetriesExhausted {
///     attempts: 3,
///     last: AttemptError::new(3, "503 from upstream".into()),
/// }.into();
/// assert_eq!(original_error(&gave_up).to_string(), "503 from upstream");
/// ```
pub fn original_error(error: &BoxError) -> &(dyn Error + Send + Sync + 'static) {
    if let Some(r) = error.downcast_ref::<RetryError<AttemptError>>() {
        return r.last().get_ref();
    }
    if let Some(n) = error.downcast_ref::<RequestNotCloneable>() {
        return n.last();
    }
    &**error
}
