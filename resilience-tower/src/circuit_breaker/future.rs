use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project::pin_project;
use resilience_core::circuit_breaker::{CircuitOpen, KeyedPermit, KeyedRejection, OwnedPermit};
use tower::BoxError;

use crate::classify::Classify;
use crate::error::PolledAfterCompletion;

/// The response future of a
/// [`CircuitBreakerService`](super::CircuitBreakerService): the inner
/// call, classified and recorded when it completes, or the breaker's
/// rejection.
#[pin_project(project = Proj)]
#[derive(Debug)]
pub struct ResponseFuture<F, C> {
    #[pin]
    state: State<F, C>,
}

#[pin_project(project = StateProj)]
#[derive(Debug)]
enum State<F, C> {
    Called {
        #[pin]
        future: F,
        permit: Option<OwnedPermit>,
        classifier: C,
    },
    Rejected {
        error: Option<CircuitOpen>,
    },
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn called(future: F, permit: OwnedPermit, classifier: C) -> Self {
        ResponseFuture {
            state: State::Called {
                future,
                permit: Some(permit),
                classifier,
            },
        }
    }

    pub(crate) fn rejected(error: CircuitOpen) -> Self {
        ResponseFuture {
            state: State::Rejected { error: Some(error) },
        }
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    C: Classify<T, E>,
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
                    permit.record(classifier.classify(&result));
                }
                Poll::Ready(result.map_err(Into::into))
            }
            StateProj::Rejected { error } => Poll::Ready(Err(match error.take() {
                Some(open) => open.into(),
                None => PolledAfterCompletion.into(),
            })),
        }
    }
}

/// The response future of a
/// [`KeyedCircuitBreakerService`](super::KeyedCircuitBreakerService).
#[pin_project(project = KeyedProj)]
#[derive(Debug)]
pub struct KeyedResponseFuture<F, C> {
    #[pin]
    state: KeyedState<F, C>,
}

#[pin_project(project = KeyedStateProj)]
#[derive(Debug)]
enum KeyedState<F, C> {
    Called {
        #[pin]
        future: F,
        permit: Option<KeyedPermit>,
        classifier: C,
    },
    Rejected {
        error: Option<KeyedRejection>,
    },
}

impl<F, C> KeyedResponseFuture<F, C> {
    pub(crate) fn called(future: F, permit: KeyedPermit, classifier: C) -> Self {
        KeyedResponseFuture {
            state: KeyedState::Called {
                future,
                permit: Some(permit),
                classifier,
            },
        }
    }

    pub(crate) fn rejected(error: KeyedRejection) -> Self {
        KeyedResponseFuture {
            state: KeyedState::Rejected { error: Some(error) },
        }
    }
}

impl<F, C, T, E> Future for KeyedResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    C: Classify<T, E>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            KeyedStateProj::Called {
                future,
                permit,
                classifier,
            } => {
                let result = ready!(future.poll(cx));
                if let Some(permit) = permit.take() {
                    permit.record(classifier.classify(&result));
                }
                Poll::Ready(result.map_err(Into::into))
            }
            KeyedStateProj::Rejected { error } => Poll::Ready(Err(match error.take() {
                Some(KeyedRejection::Open(open)) => open.into(),
                Some(KeyedRejection::Full(full)) => full.into(),
                None => PolledAfterCompletion.into(),
            })),
        }
    }
}
