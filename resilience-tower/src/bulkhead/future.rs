use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use pin_project::pin_project;
use resilience_core::bulkhead::{AcquireOwned, Bulkhead, OwnedBulkheadPermit, StartAcquire, Timer};
use tower::BoxError;
use tower_service::Service;

use crate::error::PolledAfterCompletion;

/// The bulkhead's wait deadline, on tokio's clock (so `tokio::time::pause()`
/// makes waits instant in tests).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TokioTimer;

impl Timer for TokioTimer {
    type Sleep = tokio::time::Sleep;

    #[inline]
    fn sleep(&self, duration: Duration) -> tokio::time::Sleep {
        tokio::time::sleep(duration)
    }
}

/// Starts a call behind `bulkhead`:
///
/// * a free permit: `inner` (which the caller has driven to ready) is
///   called at once and the permit lives in the response future until the
///   inner future completes;
/// * full and `max_wait` zero: rejected at once, `inner` is not called and
///   keeps its readiness for the next request;
/// * full and the caller may wait: the ready `inner` moves into the
///   response future (a clone takes its place, to be driven ready again by
///   the next `poll_ready`), which waits for the permit and then calls it.
#[inline(always)]
pub(crate) fn start<S, Req>(bulkhead: &Bulkhead, inner: &mut S, req: Req) -> ResponseFuture<S, Req>
where
    S: Service<Req> + Clone,
{
    match bulkhead.start_acquire_owned(TokioTimer) {
        StartAcquire::Acquired(permit) => ResponseFuture::called(inner.call(req), permit),
        StartAcquire::Rejected(full) => ResponseFuture::rejected(full.into()),
        StartAcquire::Wait(acquire) => {
            let fresh = inner.clone();
            let ready = std::mem::replace(inner, fresh);
            ResponseFuture {
                state: State::Waiting {
                    queued: Box::pin(Queued {
                        acquire,
                        service: Some(ready),
                        request: Some(req),
                    }),
                },
            }
        }
    }
}

/// The response future of a [`BulkheadService`](super::BulkheadService) and
/// a [`BulkheadSetService`](super::BulkheadSetService): waits for a permit
/// when it has to, runs the inner call holding it, and releases it when the
/// inner future completes or this future is dropped.
#[pin_project]
pub struct ResponseFuture<S: Service<Req>, Req> {
    #[pin]
    state: State<S, Req>,
}

#[pin_project(project = StateProj)]
enum State<S: Service<Req>, Req> {
    /// Holding the permit, the inner call running.
    Called {
        #[pin]
        future: S::Future,
        permit: Option<OwnedBulkheadPermit>,
    },
    /// Queued for a permit, with the ready inner service and the request.
    /// Boxed: the queued path is the rare one, and inline it would make
    /// every response future (and every future wrapping it) as large as a
    /// tokio timer plus a service plus a request, copied on every call.
    Waiting { queued: Pin<Box<Queued<S, Req>>> },
    /// Turned away (bulkhead full, or no pool for the request).
    Rejected { error: Option<BoxError> },
    /// Completed.
    Done,
}

/// A call queued for a permit: the wait, the ready inner service and the
/// request it will be called with.
#[pin_project]
struct Queued<S, Req> {
    #[pin]
    acquire: AcquireOwned<TokioTimer>,
    service: Option<S>,
    request: Option<Req>,
}

impl<S: Service<Req>, Req> ResponseFuture<S, Req> {
    #[inline]
    pub(crate) fn called(future: S::Future, permit: OwnedBulkheadPermit) -> Self {
        ResponseFuture {
            state: State::Called {
                future,
                permit: Some(permit),
            },
        }
    }

    /// The call without a permit (a stack's absent bulkhead).
    #[inline]
    pub(crate) fn unlimited(future: S::Future) -> Self {
        ResponseFuture {
            state: State::Called {
                future,
                permit: None,
            },
        }
    }

    pub(crate) fn rejected(error: BoxError) -> Self {
        ResponseFuture {
            state: State::Rejected { error: Some(error) },
        }
    }
}

impl<S, Req> Future for ResponseFuture<S, Req>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Called { future, permit } => {
                    let result = ready!(future.poll(cx));
                    // Free the slot as soon as the work is done.
                    drop(permit.take());
                    state.set(State::Done);
                    return Poll::Ready(result.map_err(Into::into));
                }
                StateProj::Waiting { queued } => {
                    let queued = queued.as_mut().project();
                    let (acquire, service, request) =
                        (queued.acquire, queued.service, queued.request);
                    let outcome = ready!(acquire.poll(cx));
                    let (permit, mut service, request) =
                        match (outcome, service.take(), request.take()) {
                            (Ok(permit), Some(s), Some(r)) => (permit, s, r),
                            (Err(full), _, _) => {
                                state.set(State::Done);
                                return Poll::Ready(Err(full.into()));
                            }
                            // The service and request are only taken here, right
                            // before leaving this state.
                            _ => {
                                state.set(State::Done);
                                return Poll::Ready(Err(PolledAfterCompletion.into()));
                            }
                        };
                    let future = service.call(request);
                    state.set(State::Called {
                        future,
                        permit: Some(permit),
                    });
                }
                StateProj::Rejected { error } => {
                    let error = error.take().unwrap_or_else(|| PolledAfterCompletion.into());
                    state.set(State::Done);
                    return Poll::Ready(Err(error));
                }
                StateProj::Done => return Poll::Ready(Err(PolledAfterCompletion.into())),
            }
        }
    }
}

impl<S: Service<Req>, Req> fmt::Debug for ResponseFuture<S, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Called { .. } => "called",
            State::Waiting { .. } => "waiting",
            State::Rejected { .. } => "rejected",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
