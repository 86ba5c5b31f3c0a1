use std::error::Error;
use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;
use resilience_core::dead_letter::{DeadLetter, DeadLetterError, DeadLetterReason};
use tower::BoxError;

/// The request could not be done now and was put on the dead-letter queue
/// for replay: the caller's answer from a
/// [`DeadLetterLayer`](super::DeadLetterLayer) (inside the
/// [`BoxError`]). The error that sent it there (an open breaker's
/// `CircuitOpen`, a `RetryError::RetriesExhausted`) is its
/// [`source`](Error::source).
///
/// An HTTP handler would typically answer `202 Accepted` ("queued") to it.
///
/// ```
/// use resilience_core::dead_letter::DeadLetterReason;
/// use resilience_tower::dead_letter::DeadLettered;
///
/// let e = DeadLettered::new("retrain", DeadLetterReason::CircuitOpen, "circuit open".into());
/// assert_eq!(e.queue(), "retrain");
/// assert_eq!(e.reason(), &DeadLetterReason::CircuitOpen);
/// assert_eq!(
///     e.to_string(),
///     "the request was not processed now (the circuit breaker was open); it was put on \
///      dead-letter queue `retrain` and will be replayed when the dependency recovers"
/// );
/// ```
#[derive(Debug)]
pub struct DeadLettered {
    queue: Arc<str>,
    reason: DeadLetterReason,
    source: BoxError,
}

impl DeadLettered {
    /// A request queued on `queue` because of `source`.
    pub fn new(queue: &str, reason: DeadLetterReason, source: BoxError) -> DeadLettered {
        DeadLettered {
            queue: queue.into(),
            reason,
            source,
        }
    }

    pub(crate) fn with_queue(queue: Arc<str>, reason: DeadLetterReason, source: BoxError) -> Self {
        DeadLettered {
            queue,
            reason,
            source,
        }
    }

    /// The queue's name.
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// Why the request was queued.
    pub fn reason(&self) -> &DeadLetterReason {
        &self.reason
    }

    /// The error that sent the request to the queue.
    pub fn error(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.source
    }
}

impl fmt::Display for DeadLettered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the request was not processed now ({}); it was put on dead-letter queue `{}` \
             and will be replayed when the dependency recovers",
            self.reason, self.queue
        )
    }
}

impl Error for DeadLettered {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.source)
    }
}

/// The request could not be done now *and* the dead-letter sink refused
/// it (full, or unavailable). Nothing is dropped: the request is inside
/// ([`into_request`](Self::into_request)), with the sink's own
/// [`DeadLetterError`] ([`into_refused`](Self::into_refused)); the error
/// that sent it to the sink is the [`source`](Error::source).
///
/// Generic over the request type; downcast with it:
/// `err.downcast::<DeadLetterRefused<MyRequest>>()`. Only `Send` is needed
/// of the request (it is kept behind a lock so the error is `Sync`).
///
/// ```
/// use resilience_core::dead_letter::{DeadLetter, DeadLetterReason, DeadLetterSink, InMemoryDeadLetterQueue};
/// use resilience_tower::dead_letter::DeadLetterRefused;
///
/// let q = InMemoryDeadLetterQueue::new("jobs", 1).unwrap();
/// q.push(DeadLetter::new("job-1", DeadLetterReason::CircuitOpen)).unwrap();
/// let refused = q.push(DeadLetter::new("job-2", DeadLetterReason::CircuitOpen)).unwrap_err();
/// let e = DeadLetterRefused::new(refused, "circuit open".into());
/// assert!(e.to_string().contains("dead-letter queue `jobs` is full"));
/// assert_eq!(e.into_request(), "job-2");
/// ```
pub struct DeadLetterRefused<Req> {
    refused: Mutex<DeadLetterError<DeadLetter<Req>>>,
    reason: DeadLetterReason,
    source: BoxError,
}

impl<Req> DeadLetterRefused<Req> {
    /// The sink refused `refused`, which was sent there because of
    /// `source`.
    pub fn new(refused: DeadLetterError<DeadLetter<Req>>, source: BoxError) -> Self {
        let reason = refused.item().reason.clone();
        DeadLetterRefused {
            refused: Mutex::new(refused),
            reason,
            source,
        }
    }

    /// Why the request was sent to the sink.
    pub fn reason(&self) -> &DeadLetterReason {
        &self.reason
    }

    /// The error that sent the request to the sink.
    pub fn error(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.source
    }

    /// The request, back to the caller.
    pub fn into_request(self) -> Req {
        self.refused.into_inner().into_item().item
    }

    /// The sink's refusal, holding the request.
    pub fn into_refused(self) -> DeadLetterError<DeadLetter<Req>> {
        self.refused.into_inner()
    }
}

impl<Req> fmt::Display for DeadLetterRefused<Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the request was not processed now ({}) and could not be queued for replay: {}",
            self.reason,
            self.refused.lock()
        )
    }
}

impl<Req> fmt::Debug for DeadLetterRefused<Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadLetterRefused")
            .field("refused", &*self.refused.lock())
            .field("reason", &self.reason)
            .field("source", &self.source)
            .finish()
    }
}

impl<Req> Error for DeadLetterRefused<Req> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.source)
    }
}
