use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use pin_project::pin_project;
use std::time::Duration;

use resilience_core::retry::{Classification, RetryDecision, RetryError, RetryPolicy, RetryState};
use tokio::time::Sleep;
use tower::BoxError;
use tower_service::Service;

use super::layer::Shared;
use super::{
    AttemptError, CloneRequest, NoRetryHook, RequestNotCloneable, RetryClassify, RetryHook,
    Retrying,
};
use crate::error::PolledAfterCompletion;
use crate::timeout::{Elapsed, TimeoutScope};

/// The response future of a [`RetryService`](super::RetryService): the
/// current attempt, or the backoff wait before the next one.
///
/// It holds the per-call [`RetryState`] next to an `Arc` of what the
/// service's calls share (policy, classifier, hooks), a clone of the inner
/// service and a copy of the request for the next attempt. When the first
/// attempt succeeds nothing is allocated; a retry allocates its wait (a
/// boxed `tokio::time::Sleep`, kept out of line so that the future every
/// call moves is not larger by a timer only retries use).
///
/// Dropping it cancels the attempt in flight or the wait; no further
/// attempt starts.
#[pin_project]
pub struct ResponseFuture<S, Req, C, K, I, H = NoRetryHook>
where
    S: Service<Req>,
{
    #[pin]
    state: State<S::Future, Req>,
    retries: Retries<S, Req, C, K, I, H>,
}

/// What a retried call keeps next to its attempt: the service to retry on,
/// a copy of the request, what the service's calls share, the policy's
/// per-call state.
pub(crate) struct Retries<S, Req, C, K, I, H> {
    pub(crate) service: S,
    /// A copy of the request for the attempt after the current one.
    pub(crate) request: Option<Req>,
    pub(crate) shared: Arc<Shared<C, K, I, H>>,
    pub(crate) retry: RetryState,
}

#[pin_project(project = StateProj, project_replace = StateOwn)]
pub(crate) enum State<F, Req> {
    /// An attempt is in flight.
    Called {
        #[pin]
        future: F,
    },
    /// Waiting out the backoff before the next attempt. The timer is boxed:
    /// inline, it would make every call's future (and every future that
    /// nests it) larger by a `Sleep`, moved on every call, for the sake of
    /// the retries, which already wait milliseconds.
    Waiting {
        sleep: Pin<Box<Sleep>>,
        request: Req,
    },
    /// Waiting for the service to be ready for the next attempt. When the
    /// policy has a deadline and the service is not ready at once, `guard`
    /// (armed then, boxed: the rare path) ends the wait at the deadline.
    Readying {
        request: Req,
        guard: Option<Pin<Box<Sleep>>>,
    },
    /// The call finished.
    Done,
}

impl<S, Req, C, K, I, H> ResponseFuture<S, Req, C, K, I, H>
where
    S: Service<Req>,
{
    /// The future of a call's first attempt and what its retries need.
    #[inline(always)]
    pub(crate) fn new(future: S::Future, retries: Retries<S, Req, C, K, I, H>) -> Self {
        ResponseFuture {
            state: State::called(future),
            retries,
        }
    }

    /// Attempts started so far (1 while the first is in flight).
    pub fn attempts(&self) -> u32 {
        self.retries.retry.attempts()
    }
}

impl<F, Req> State<F, Req> {
    /// An attempt in flight.
    #[inline(always)]
    pub(crate) fn called(future: F) -> Self {
        State::Called { future }
    }
}

impl<S, Req, C, K, I, H> Future for ResponseFuture<S, Req, C, K, I, H>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: RetryClassify<S::Response>,
    K: CloneRequest<Req>,
    H: RetryHook<Req, S::Response>,
{
    type Output = Result<S::Response, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        poll_attempts(this.state, this.retries, cx)
    }
}

/// Drives a retried call: the attempt in flight, the backoff wait, the
/// service's readiness for the next attempt. The body of
/// [`ResponseFuture`]'s `poll`, and of the stack's optional retry when it
/// retries. The first attempt's success is decided here; what follows a
/// failure (waits, readiness, further attempts) is out of line, in
/// [`poll_retries`], so that this stays small enough to inline.
#[inline]
pub(crate) fn poll_attempts<S, Req, C, K, I, H>(
    mut state: Pin<&mut State<S::Future, Req>>,
    retries: &mut Retries<S, Req, C, K, I, H>,
    cx: &mut Context<'_>,
) -> Poll<Result<S::Response, BoxError>>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: RetryClassify<S::Response>,
    K: CloneRequest<Req>,
    H: RetryHook<Req, S::Response>,
{
    if let StateProj::Called { future } = state.as_mut().project() {
        let result = ready!(future.poll(cx)).map_err(Into::into);
        if let Some(result) = settle(state.as_mut(), retries, result) {
            return Poll::Ready(result);
        }
    }
    poll_retries(state, retries, cx)
}

/// What the result of the attempt in flight leads to: the call's result
/// (`state` is then done), or `None` when a retry's wait was set.
#[inline]
pub(crate) fn settle<S, Req, C, K, I, H>(
    mut state: Pin<&mut State<S::Future, Req>>,
    retries: &mut Retries<S, Req, C, K, I, H>,
    result: Result<S::Response, BoxError>,
) -> Option<Result<S::Response, BoxError>>
where
    S: Service<Req>,
    C: RetryClassify<S::Response>,
    H: RetryHook<Req, S::Response>,
{
    let shared = &*retries.shared;
    let Some(failure) = shared.classifier.classify(&result) else {
        shared.policy.record_success(&retries.retry);
        state.set(State::Done);
        return Some(result);
    };
    match after_failure(
        shared,
        &mut retries.retry,
        &mut retries.request,
        result,
        failure,
    ) {
        AfterFailure::Retry { after, request } => {
            state.set(State::Waiting {
                sleep: Box::pin(tokio::time::sleep(after)),
                request,
            });
            None
        }
        AfterFailure::Finish(result) => {
            state.set(State::Done);
            Some(result)
        }
    }
}

/// [`poll_attempts`] past the first attempt in flight: waits, readiness,
/// further attempts, driven out of line by [`drive_retries`].
///
/// Why the result comes back through `out` rather than as the return
/// value: an out-of-line function returns a `Poll<Result<..>>` in memory,
/// and the caller's success path, which has its result in registers, then
/// writes it into that same memory to merge the two, only to read it back
/// at once (two 8-byte stores read by one 16-byte load, which the CPU
/// cannot forward: about 6 ns a call in the retry layer's benchmark).
/// Read out of `out` here, the slow path's result joins the success
/// path's in registers.
#[inline(always)]
pub(crate) fn poll_retries<S, Req, C, K, I, H>(
    state: Pin<&mut State<S::Future, Req>>,
    retries: &mut Retries<S, Req, C, K, I, H>,
    cx: &mut Context<'_>,
) -> Poll<Result<S::Response, BoxError>>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: RetryClassify<S::Response>,
    K: CloneRequest<Req>,
    H: RetryHook<Req, S::Response>,
{
    let mut out = None;
    drive_retries(state, retries, cx, &mut out);
    match out {
        Some(result) => Poll::Ready(result),
        None => Poll::Pending,
    }
}

/// [`poll_retries`]'s loop, out of line: leaves the call's result in `out`
/// when it is finished, and `out` empty while it waits.
#[inline(never)]
fn drive_retries<S, Req, C, K, I, H>(
    mut state: Pin<&mut State<S::Future, Req>>,
    retries: &mut Retries<S, Req, C, K, I, H>,
    cx: &mut Context<'_>,
    out: &mut Option<Result<S::Response, BoxError>>,
) where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: RetryClassify<S::Response>,
    K: CloneRequest<Req>,
    H: RetryHook<Req, S::Response>,
{
    let result = loop {
        match state.as_mut().project() {
            StateProj::Called { future } => {
                let Poll::Ready(result) = future.poll(cx) else {
                    return;
                };
                if let Some(result) = settle(state.as_mut(), retries, result.map_err(Into::into)) {
                    break result;
                }
            }
            StateProj::Waiting { sleep, .. } => {
                if sleep.as_mut().poll(cx).is_pending() {
                    return;
                }
                if let StateOwn::Waiting { request, .. } =
                    state.as_mut().project_replace(State::Done)
                {
                    state.set(State::Readying {
                        request,
                        guard: None,
                    });
                }
            }
            StateProj::Readying { guard, .. } => {
                let Retries {
                    service,
                    request: copy,
                    shared,
                    retry,
                } = &mut *retries;
                match service.poll_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => {
                        state.set(State::Done);
                        break Err(e.into());
                    }
                    Poll::Pending => {
                        // The policy only starts a retry that fits its
                        // deadline; a service that is not ready must not
                        // hold the caller past it.
                        if let Some(elapsed) = deadline_passed(&shared.policy, retry, guard, cx) {
                            state.set(State::Done);
                            break Err(elapsed.into());
                        }
                        return;
                    }
                }
                if let StateOwn::Readying { request, .. } =
                    state.as_mut().project_replace(State::Done)
                {
                    *copy = if retry.attempts() < shared.policy.max_attempts() {
                        shared.cloner.clone_request(&request)
                    } else {
                        None
                    };
                    let future = service.call(request);
                    state.set(State::Called { future });
                }
            }
            StateProj::Done => break Err(PolledAfterCompletion.into()),
        }
    };
    *out = Some(result);
}

/// What a failed attempt leads to.
enum AfterFailure<T, Req> {
    /// The call ends with this result.
    Finish(Result<T, BoxError>),
    /// Wait `after`, then send `request`.
    Retry { after: Duration, request: Req },
}

/// Decides what follows a failed attempt: the policy's retry (after the
/// hook has seen the request), or the call's final result.
fn after_failure<T, Req, C, K, I, H>(
    shared: &Shared<C, K, I, H>,
    retry: &mut RetryState,
    request: &mut Option<Req>,
    result: Result<T, BoxError>,
    failure: Classification,
) -> AfterFailure<T, Req>
where
    H: RetryHook<Req, T>,
{
    let attempt = retry.attempts();
    if request.is_none() && shared.policy.may_retry(retry, failure.class) {
        // The policy would retry, but there is no copy of the request to
        // send: say so, keep the error, and do not draw on the budget for a
        // retry that cannot happen.
        return AfterFailure::Finish(match result {
            Ok(response) => Ok(response),
            Err(error) => {
                shared.not_cloneable.increment(1);
                #[cfg(feature = "tracing")]
                tracing::warn!(
                    policy = shared.policy.name(),
                    attempt,
                    class = failure.class.as_str(),
                    "not retrying: the request could not be cloned"
                );
                Err(RequestNotCloneable::new(attempt, failure.class, error).into())
            }
        });
    }
    match shared.policy.next(retry, super::now(), failure) {
        RetryDecision::Retry { after, .. } => match request.take() {
            Some(mut request) => {
                shared.hook.on_retry(
                    &mut request,
                    &Retrying {
                        attempt,
                        result: &result,
                        classification: failure,
                        delay: after,
                    },
                );
                AfterFailure::Retry { after, request }
            }
            // `may_retry` said no retry was possible, so the policy cannot
            // have chosen one; handled anyway.
            None => AfterFailure::Finish(
                result.map_err(|e| RequestNotCloneable::new(attempt, failure.class, e).into()),
            ),
        },
        RetryDecision::GiveUp(reason) => AfterFailure::Finish(result.map_err(|e| {
            RetryError::from_give_up(reason, attempt, AttemptError::new(attempt, e)).into()
        })),
    }
}

/// While the service is not ready for a retry: with a deadline, arms
/// `guard` (once, boxed: the rare path) and says whether the deadline has
/// passed.
fn deadline_passed(
    policy: &RetryPolicy,
    retry: &RetryState,
    guard: &mut Option<Pin<Box<Sleep>>>,
    cx: &mut Context<'_>,
) -> Option<Elapsed> {
    let deadline = policy.deadline()?;
    let guard = guard.get_or_insert_with(|| {
        let left = retry.remaining(super::now()).unwrap_or_default();
        Box::pin(tokio::time::sleep(left))
    });
    guard
        .as_mut()
        .poll(cx)
        .is_ready()
        .then(|| Elapsed::new(deadline, TimeoutScope::Total))
}

impl<S, Req, C, K, I, H> fmt::Debug for ResponseFuture<S, Req, C, K, I, H>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Called { .. } => "called",
            State::Waiting { .. } => "waiting",
            State::Readying { .. } => "readying",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .field("attempts", &self.attempts())
            .field("policy", &self.retries.shared.policy.name())
            .finish_non_exhaustive()
    }
}
