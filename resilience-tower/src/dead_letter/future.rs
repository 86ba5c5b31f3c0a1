use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use pin_project::pin_project;
use resilience_core::dead_letter::{DeadLetter, DeadLetterSink};
use tower::BoxError;

use super::layer::Shared;
use super::{DeadLetterRefused, DeadLetterWhen, DeadLettered};
use crate::error::PolledAfterCompletion;

/// The response future of a
/// [`DeadLetterService`](super::DeadLetterService): the inner call, and a
/// copy of the request to queue if it fails the right way.
#[pin_project]
pub struct ResponseFuture<F, Req, Q, W> {
    #[pin]
    future: F,
    /// `None` once the future completed.
    request: Option<Req>,
    shared: Arc<Shared<Q, W>>,
}

impl<F, Req, Q, W> ResponseFuture<F, Req, Q, W> {
    pub(crate) fn new(future: F, request: Req, shared: Arc<Shared<Q, W>>) -> Self {
        ResponseFuture {
            future,
            request: Some(request),
            shared,
        }
    }
}

impl<F, T, E, Req, Q, W> Future for ResponseFuture<F, Req, Q, W>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    Req: Send + 'static,
    Q: DeadLetterSink<DeadLetter<Req>>,
    W: DeadLetterWhen,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if this.request.is_none() {
            return Poll::Ready(Err(PolledAfterCompletion.into()));
        }
        let result = ready!(this.future.poll(cx)).map_err(Into::into);
        let Some(request) = this.request.take() else {
            return Poll::Ready(Err(PolledAfterCompletion.into()));
        };
        let error = match result {
            Ok(response) => return Poll::Ready(Ok(response)),
            Err(error) => error,
        };
        let shared = &**this.shared;
        let Some(reason) = shared.when.reason(&error) else {
            return Poll::Ready(Err(error));
        };
        let letter = DeadLetter::new(request, reason.clone());
        Poll::Ready(Err(match shared.sink.push(letter) {
            Ok(()) => {
                shared.count(true, &reason);
                #[cfg(feature = "tracing")]
                tracing::info!(queue = %shared.name, %reason, "request dead-lettered");
                DeadLettered::with_queue(shared.name.clone(), reason, error).into()
            }
            Err(refused) => {
                shared.count(false, &reason);
                #[cfg(feature = "tracing")]
                tracing::warn!(queue = %shared.name, %reason, "dead-letter sink refused the request; returned to the caller");
                DeadLetterRefused::new(refused, error).into()
            }
        }))
    }
}

impl<F, Req, Q, W> fmt::Debug for ResponseFuture<F, Req, Q, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("queue", &self.shared.name)
            .field("done", &self.request.is_none())
            .finish_non_exhaustive()
    }
}
