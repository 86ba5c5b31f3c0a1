use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project::pin_project;
use resilience_core::circuit_breaker::{
    CircuitOpen, KeyedPermit, KeyedRejection, Outcome, OwnedPermit,
};
use tower::BoxError;

use crate::classify::ClassifyOutcome;
use crate::error::PolledAfterCompletion;

/// A permission that records the outcome of the call it guards.
pub trait RecordOutcome {
    /// Records `outcome`.
    fn record_outcome(self, outcome: Outcome);
}

impl RecordOutcome for OwnedPermit {
    #[inline(always)]
    fn record_outcome(self, outcome: Outcome) {
        self.record(outcome)
    }
}

impl RecordOutcome for KeyedPermit {
    #[inline]
    fn record_outcome(self, outcome: Outcome) {
        self.record(outcome)
    }
}

/// A breaker's refusal, turned into the error the caller sees.
pub trait IntoRejection {
    /// The boxed error: the concrete rejection type, downcastable.
    fn into_rejection(self) -> BoxError;
}

impl IntoRejection for CircuitOpen {
    fn into_rejection(self) -> BoxError {
        self.into()
    }
}

impl IntoRejection for KeyedRejection {
    fn into_rejection(self) -> BoxError {
        match self {
            KeyedRejection::Open(open) => open.into(),
            KeyedRejection::Full(full) => full.into(),
        }
    }
}

/// The response future of a breaker-guarded call: the inner call,
/// classified and recorded on its permit `P` when it completes, or the
/// rejection `R`. Dropping it before completion drops the permit, which
/// records nothing (and frees a half-open trial slot).
#[pin_project(project = Proj)]
#[derive(Debug)]
pub struct GuardedFuture<F, C, P, R> {
    #[pin]
    state: State<F, C, P, R>,
}

/// The response future of a [`CircuitBreakerService`](super::CircuitBreakerService).
pub type ResponseFuture<F, C> = GuardedFuture<F, C, OwnedPermit, CircuitOpen>;

/// The response future of a
/// [`KeyedCircuitBreakerService`](super::KeyedCircuitBreakerService).
pub type KeyedResponseFuture<F, C> = GuardedFuture<F, C, KeyedPermit, KeyedRejection>;

#[pin_project(project = StateProj)]
#[derive(Debug)]
enum State<F, C, P, R> {
    Called {
        #[pin]
        future: F,
        permit: Option<P>,
        classifier: C,
    },
    Rejected {
        error: Option<R>,
    },
}

impl<F, C, P, R> GuardedFuture<F, C, P, R> {
    pub(crate) fn called(future: F, permit: P, classifier: C) -> Self {
        Self::with_permit(future, Some(permit), classifier)
    }

    /// The call under `permit`, or without one (a stack's absent breaker:
    /// nothing recorded).
    #[inline]
    pub(crate) fn with_permit(future: F, permit: Option<P>, classifier: C) -> Self {
        GuardedFuture {
            state: State::Called {
                future,
                permit,
                classifier,
            },
        }
    }

    pub(crate) fn rejected(error: R) -> Self {
        GuardedFuture {
            state: State::Rejected { error: Some(error) },
        }
    }
}

impl<F, C, P, R, T, E> Future for GuardedFuture<F, C, P, R>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    C: ClassifyOutcome<T, E>,
    P: RecordOutcome,
    R: IntoRejection,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Called {
                future,
                permit,
                classifier,
            } => {
                let result = ready!(future.poll(cx));
                if let Some(permit) = permit.take() {
                    permit.record_outcome(classifier.classify(&result));
                }
                Poll::Ready(result.map_err(Into::into))
            }
            StateProj::Rejected { error } => Poll::Ready(Err(match error.take() {
                Some(rejection) => rejection.into_rejection(),
                None => PolledAfterCompletion.into(),
            })),
        }
    }
}
