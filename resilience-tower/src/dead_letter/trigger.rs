use std::error::Error;

use resilience_core::circuit_breaker::CircuitOpen;
use resilience_core::dead_letter::DeadLetterReason;
use resilience_core::retry::{GiveUpReason, RetryError};
use tower::BoxError;

use crate::retry::AttemptError;

/// Decides which failures a [`DeadLetterLayer`](super::DeadLetterLayer)
/// queues for replay, and why. `None` returns the error to the caller
/// unchanged.
///
/// Implemented by [`OpenOrExhausted`] (the default) and by closures
/// `Fn(&BoxError) -> Option<DeadLetterReason>`.
///
/// ```
/// use resilience_core::dead_letter::DeadLetterReason;
/// use resilience_core::retry::{GiveUpReason, RetryError};
/// use resilience_tower::dead_letter::{DeadLetterWhen, OpenOrExhausted};
/// use resilience_tower::retry::AttemptError;
/// use tower::BoxError;
///
/// // Also queue calls the retry budget refused.
/// let when = |e: &BoxError| OpenOrExhausted.reason(e).or_else(|| {
///     let r = e.downcast_ref::<RetryError<AttemptError>>()?;
///     (r.reason() == GiveUpReason::BudgetExhausted)
///         .then(|| DeadLetterReason::Retry { attempts: r.attempts(), reason: r.reason() })
/// });
/// let refused: BoxError = RetryError::RetryBudgetExhausted { attempts: 1, last: AttemptError::new(1, "503".into()) }.into();
/// assert!(when.reason(&refused).is_some());
/// assert!(when.reason(&"bad request".into()).is_none());
/// ```
pub trait DeadLetterWhen {
    /// Why `error`'s request goes to the queue, or `None` to return it.
    fn reason(&self, error: &BoxError) -> Option<DeadLetterReason>;
}

impl<F> DeadLetterWhen for F
where
    F: Fn(&BoxError) -> Option<DeadLetterReason>,
{
    fn reason(&self, error: &BoxError) -> Option<DeadLetterReason> {
        self(error)
    }
}

/// The default trigger: the two cases services ask for. Walks the error's
/// [`source`](Error::source) chain and queues the request when it finds
///
/// * a [`CircuitOpen`]: an open breaker rejected the call (also when a
///   retry layer gave up on it, e.g. because the breaker's `retry_after` was
///   past the retry deadline), reason [`DeadLetterReason::CircuitOpen`];
/// * a `RetryError::RetriesExhausted` from a
///   [`RetryLayer`](crate::retry::RetryLayer): every allowed attempt failed,
///   reason [`DeadLetterReason::Retry`].
///
/// Any other error (a bad request, a non-idempotent failure that may have
/// been processed) is returned to the caller: replaying those later would
/// fail again, or do the work twice.
///
/// ```
/// use resilience_core::dead_letter::DeadLetterReason;
/// use resilience_core::retry::{GiveUpReason, RetryError};
/// use resilience_tower::dead_letter::{DeadLetterWhen, OpenOrExhausted};
/// use resilience_tower::retry::AttemptError;
/// use tower::BoxError;
///
/// let exhausted: BoxError = RetryError::RetriesExhausted { attempts: 4, last: AttemptError::new(4, "503".into()) }.into();
/// assert_eq!(
///     OpenOrExhausted.reason(&exhausted),
///     Some(DeadLetterReason::Retry { attempts: 4, reason: GiveUpReason::Exhausted }),
/// );
/// let not_retryable: BoxError = RetryError::NotRetryable {
///     attempts: 1,
///     class: resilience_core::retry::ErrorClass::InvalidRequest,
///     last: AttemptError::new(1, "400".into()),
/// }.into();
/// assert_eq!(OpenOrExhausted.reason(&not_retryable), None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenOrExhausted;

impl DeadLetterWhen for OpenOrExhausted {
    fn reason(&self, error: &BoxError) -> Option<DeadLetterReason> {
        let mut current: Option<&(dyn Error + 'static)> = Some(&**error);
        while let Some(e) = current {
            if e.is::<CircuitOpen>() {
                return Some(DeadLetterReason::CircuitOpen);
            }
            if let Some(r) = e.downcast_ref::<RetryError<AttemptError>>() {
                if r.reason() == GiveUpReason::Exhausted {
                    return Some(DeadLetterReason::Retry {
                        attempts: r.attempts(),
                        reason: r.reason(),
                    });
                }
            }
            current = e.source();
        }
        None
    }
}
