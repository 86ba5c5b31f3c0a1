use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use pin_project::pin_project;
use resilience_core::dead_letter::{DeadLetter, DeadLetterError, DeadLetterReason};
use tower::BoxError;

use super::layer::Shared;
use super::target::EnqueueFuture;
use super::{DeadLetterRefused, DeadLetterTarget, DeadLetterWhen, DeadLettered, Enqueue};
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
    /// A store's write in progress (failure path only; boxed so the
    /// success path's future stays small).
    pending: Option<Box<Pending<Req>>>,
}

struct Pending<Req> {
    enqueue: EnqueueFuture<Req>,
    error: BoxError,
    reason: DeadLetterReason,
}

impl<F, Req, Q, W> ResponseFuture<F, Req, Q, W> {
    pub(crate) fn new(future: F, request: Req, shared: Arc<Shared<Q, W>>) -> Self {
        ResponseFuture {
            future,
            request: Some(request),
            shared,
            pending: None,
        }
    }
}

impl<F, T, E, Req, Q, W> Future for ResponseFuture<F, Req, Q, W>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    Req: Send + 'static,
    Q: DeadLetterTarget<Req>,
    W: DeadLetterWhen,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(pending) = this.pending.as_mut() {
            let stored = ready!(pending.enqueue.as_mut().poll(cx));
            let Some(pending) = this.pending.take() else {
                return Poll::Ready(Err(PolledAfterCompletion.into()));
            };
            let Pending { error, reason, .. } = *pending;
            return Poll::Ready(Err(answer(this.shared, stored, error, reason)));
        }
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
        match shared.sink.enqueue(letter) {
            Enqueue::Done(stored) => Poll::Ready(Err(answer(this.shared, stored, error, reason))),
            Enqueue::Pending(mut enqueue) => match enqueue.as_mut().poll(cx) {
                Poll::Ready(stored) => Poll::Ready(Err(answer(this.shared, stored, error, reason))),
                Poll::Pending => {
                    *this.pending = Some(Box::new(Pending {
                        enqueue,
                        error,
                        reason,
                    }));
                    Poll::Pending
                }
            },
        }
    }
}

/// The caller's answer once the target stored or refused the request.
fn answer<Req: Send + 'static, Q, W>(
    shared: &Shared<Q, W>,
    stored: Result<(), DeadLetterError<DeadLetter<Req>>>,
    error: BoxError,
    reason: DeadLetterReason,
) -> BoxError {
    match stored {
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
