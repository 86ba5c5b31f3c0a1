use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::pin_project;
use tower::BoxError;

use crate::error::PolledAfterCompletion;

/// The response future of a [`DegradationService`](super::DegradationService):
/// the inner call, the alternative's (when rerouted), or the refusal.
#[pin_project]
pub struct ResponseFuture<F, O> {
    #[pin]
    state: State<F, O>,
}

#[pin_project(project = StateProj)]
enum State<F, O> {
    Inner {
        #[pin]
        future: F,
    },
    Rerouted {
        #[pin]
        future: O,
    },
    Rejected {
        error: Option<BoxError>,
    },
}

impl<F, O> ResponseFuture<F, O> {
    #[inline]
    pub(super) fn inner(future: F) -> Self {
        ResponseFuture {
            state: State::Inner { future },
        }
    }

    pub(super) fn rerouted(future: O) -> Self {
        ResponseFuture {
            state: State::Rerouted { future },
        }
    }

    pub(super) fn rejected(error: BoxError) -> Self {
        ResponseFuture {
            state: State::Rejected { error: Some(error) },
        }
    }
}

impl<F, O, T, E, E2> Future for ResponseFuture<F, O>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    O: Future<Output = Result<T, E2>>,
    E2: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { future } => future.poll(cx).map_err(Into::into),
            StateProj::Rerouted { future } => future.poll(cx).map_err(Into::into),
            StateProj::Rejected { error } => Poll::Ready(Err(error
                .take()
                .unwrap_or_else(|| PolledAfterCompletion.into()))),
        }
    }
}

impl<F, O> fmt::Debug for ResponseFuture<F, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Inner { .. } => "inner",
            State::Rerouted { .. } => "rerouted",
            State::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
