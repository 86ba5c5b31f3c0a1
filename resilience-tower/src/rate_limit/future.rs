use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::pin_project;
use resilience_core::rate_limit::RateLimited;
use tower::BoxError;

use crate::error::PolledAfterCompletion;

/// The response future of a
/// [`RateLimitService`](super::RateLimitService): the inner call, or the
/// refusal, ready at once.
#[pin_project(project = Proj)]
#[derive(Debug)]
pub struct ResponseFuture<F> {
    #[pin]
    state: State<F>,
}

#[pin_project(project = StateProj)]
#[derive(Debug)]
enum State<F> {
    Called(#[pin] F),
    Refused(Option<RateLimited>),
}

impl<F> ResponseFuture<F> {
    pub(crate) fn called(inner: F) -> Self {
        ResponseFuture {
            state: State::Called(inner),
        }
    }

    pub(crate) fn refused(error: RateLimited) -> Self {
        ResponseFuture {
            state: State::Refused(Some(error)),
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Called(f) => f.poll(cx).map_err(Into::into),
            StateProj::Refused(e) => Poll::Ready(Err(match e.take() {
                Some(e) => e.into(),
                None => PolledAfterCompletion.into(),
            })),
        }
    }
}
