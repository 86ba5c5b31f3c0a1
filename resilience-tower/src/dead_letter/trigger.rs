use std::error::Error;

use resilience_core::circuit_breaker::CircuitOpen;
use resilience_core::dead_letter::DeadLetterReason;
use resilience_core::retry::{GiveUpReason, RetryError};
use tower::BoxError;

use crate::degradation::FeatureDisabled;
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

/// Queues requests that a [`DegradationLayer`](crate::degradation::DegradationLayer)
/// refused because their feature's mode at the current level is a
/// "queue it" mode (`queued` by default): the workflow runtime's read-only
/// level, where "write operations are queued", not refused.
///
/// Put a [`DeadLetterLayer`](super::DeadLetterLayer) with this trigger
/// outside the degradation layer: a refused write is stored as a dead
/// letter (reason `DeadLetterReason::Other("feature `writes` is `queued`
/// at level `read_only`")`) and the caller gets
/// [`DeadLettered`](super::DeadLettered) (a `202 Accepted`), and a
/// [`Replayer`](super::Replayer) over the stack below replays the queue once
/// the level allows the feature again (while it does not, a replayed
/// request is refused again and stays queued). Features whose mode is
/// anything else (`off`, `service_unavailable`) are still refused.
///
/// Combine it with the default trigger in a closure:
/// `|e: &BoxError| OpenOrExhausted.reason(e).or_else(|| QueuedFeature::new().reason(e))`.
///
/// ```
/// use resilience_core::degradation::{ComponentHealth, DegradationManager};
/// use resilience_core::dead_letter::{DeadLetter, InMemoryDeadLetterQueue};
/// use resilience_tower::dead_letter::{DeadLetterLayer, DeadLettered, QueuedFeature};
/// use resilience_tower::degradation::DegradationLayer;
/// use tower::{service_fn, BoxError, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let levels = DegradationManager::new(resilience_core::presets::workflow_runtime::degradation().unwrap()).unwrap();
/// let writes = levels.feature("writes").unwrap();
/// let queue = InMemoryDeadLetterQueue::<DeadLetter<String>>::new("writes", 1000).unwrap();
/// let svc = DeadLetterLayer::new("writes", queue.clone())
///     .when(QueuedFeature::new())
///     .layer(DegradationLayer::new(levels.clone(), move |_: &String| Some(writes))
///         .layer(service_fn(|row: String| async move { Ok::<_, BoxError>(row) })));
///
/// levels.report_by_name("metadata_db_primary", ComponentHealth::Down).unwrap(); // read-only
/// let err = svc.oneshot("row 1".to_string()).await.unwrap_err();
/// assert!(err.downcast_ref::<DeadLettered>().is_some());
/// assert_eq!(queue.snapshot()[0].item, "row 1");
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedFeature {
    modes: Vec<String>,
}

impl QueuedFeature {
    /// Queues features whose mode is `queued`.
    pub fn new() -> Self {
        QueuedFeature {
            modes: vec!["queued".to_string()],
        }
    }

    /// Queues features whose mode is any of `modes` instead.
    ///
    /// ```
    /// let t = resilience_tower::dead_letter::QueuedFeature::with_modes(["queued", "buffer"]);
    /// assert_eq!(t.modes(), ["queued", "buffer"]);
    /// ```
    pub fn with_modes<I, M>(modes: I) -> Self
    where
        I: IntoIterator<Item = M>,
        M: Into<String>,
    {
        QueuedFeature {
            modes: modes.into_iter().map(Into::into).collect(),
        }
    }

    /// The modes that queue.
    pub fn modes(&self) -> &[String] {
        &self.modes
    }
}

impl Default for QueuedFeature {
    fn default() -> Self {
        Self::new()
    }
}

impl DeadLetterWhen for QueuedFeature {
    fn reason(&self, error: &BoxError) -> Option<DeadLetterReason> {
        let mut current: Option<&(dyn Error + 'static)> = Some(&**error);
        while let Some(e) = current {
            if let Some(off) = e.downcast_ref::<FeatureDisabled>() {
                let mode = off.mode()?;
                return self.modes.iter().any(|m| m == mode).then(|| {
                    DeadLetterReason::Other(format!(
                        "feature `{}` is `{mode}` at level `{}`",
                        off.feature(),
                        off.level().name()
                    ))
                });
            }
            current = e.source();
        }
        None
    }
}
