//! The layers of a [`ResilienceStack`](super::ResilienceStack) that a
//! config may leave out, each with a pass-through mode of its own.
//!
//! A stack's layers are chosen at run time, from a config, but its service
//! type is fixed when it is compiled. Wrapping each layer in an enum (the
//! layer's service, or the inner service as it is) works, but every such
//! enum holds the inner service's type twice over, the response futures
//! nest the same way, and each level adds a match to every call, poll,
//! clone and drop: through the benchmark's full stack that cost 40 % more
//! instructions than the same layers composed by hand. These services
//! instead hold the layer's settings as an `Option` and reuse the layer's
//! own response future, which has a pass-through state already (no permit
//! to record, no deadline to arm), so an absent layer costs one test per
//! call and a present one costs what the layer costs by hand. The retry
//! layer's future has no such state (every call it makes may be retried),
//! so [`OptionalRetryFuture`] holds the retry layer's own state machine
//! with what its retries need as an `Option`, and drives it with the same
//! code as [`RetryLayer`](crate::retry::RetryLayer)'s future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use metrics::Counter;
use pin_project::pin_project;
use resilience_core::bulkhead::Bulkhead;
use resilience_core::circuit_breaker::CircuitBreaker;
use tower::BoxError;
use tower_service::Service;

use crate::circuit_breaker::ResponseFuture as BreakerFuture;
use crate::classify::ClassifyOutcome;
use crate::retry::{
    poll_retries, settle, CloneRequest, NoRetryHook, RequestIdempotency, Retries, RetryClassify,
    RetryLayer, Shared, State as RetryState, StateProj as RetryStateProj,
};
use crate::timeout::{ResponseFuture as TimeoutFuture, TimeoutScope};

/// A stack's per-attempt timeout, when its config sets one.
#[derive(Debug, Clone)]
pub struct OptionalTimeout<S> {
    inner: S,
    /// The limit; its scope and counter beside it rather than in the
    /// `Option` with it, so that the clone of the service every retried
    /// call makes copies them as they are instead of testing the `Option`
    /// first (the counter is a no-op one without a limit).
    limit: Option<Duration>,
    scope: TimeoutScope,
    elapsed: Counter,
}

impl<S> OptionalTimeout<S> {
    /// `inner` under `limit` (named `"default"` in metrics, as
    /// [`TimeoutLayer::new`](crate::timeout::TimeoutLayer::new) and
    /// [`DeadlineLayer::new`](crate::timeout::DeadlineLayer::new) name
    /// theirs), or as it is.
    pub(crate) fn new(inner: S, limit: Option<Duration>, scope: TimeoutScope) -> Self {
        OptionalTimeout {
            inner,
            limit,
            scope,
            elapsed: match limit {
                Some(_) => elapsed_counter(scope),
                None => Counter::noop(),
            },
        }
    }
}

/// The elapsed counter of a stack's timeout or deadline, named `"default"`
/// as the layers name theirs.
pub(crate) fn elapsed_counter(scope: TimeoutScope) -> Counter {
    metrics::counter!(
        "resilience_timeout_elapsed_total",
        "timeout" => "default",
        "scope" => scope.as_str(),
    )
}

impl<S, Req> Service<Req> for OptionalTimeout<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = TimeoutFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline(always)]
    fn call(&mut self, req: Req) -> Self::Future {
        // The clock is read before the call, as `TimeoutFuture::limited`
        // reads it; one call of the inner service for both modes.
        let deadline = self.limit.map(crate::timeout::deadline_in);
        TimeoutFuture::with_deadline(
            self.inner.call(req),
            deadline,
            self.limit.unwrap_or(Duration::ZERO),
            self.scope,
            &self.elapsed,
        )
    }
}

/// A stack's bulkhead, when its config sets one.
#[derive(Debug, Clone)]
pub struct OptionalBulkhead<S> {
    inner: S,
    bulkhead: Option<Bulkhead>,
}

impl<S> OptionalBulkhead<S> {
    pub(crate) fn new(inner: S, bulkhead: Option<Bulkhead>) -> Self {
        OptionalBulkhead { inner, bulkhead }
    }
}

impl<S, Req> Service<Req> for OptionalBulkhead<S>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = crate::bulkhead::ResponseFuture<S, Req>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline(always)]
    fn call(&mut self, req: Req) -> Self::Future {
        match &self.bulkhead {
            Some(bulkhead) => crate::bulkhead::start(bulkhead, &mut self.inner, req),
            None => crate::bulkhead::ResponseFuture::unlimited(self.inner.call(req)),
        }
    }
}

/// A stack's circuit breaker, when its config sets one.
#[derive(Debug, Clone)]
pub struct OptionalBreaker<S, C> {
    inner: S,
    breaker: Option<CircuitBreaker>,
    classifier: C,
}

impl<S, C> OptionalBreaker<S, C> {
    pub(crate) fn new(inner: S, breaker: Option<CircuitBreaker>, classifier: C) -> Self {
        OptionalBreaker {
            inner,
            breaker,
            classifier,
        }
    }
}

impl<S, C, Req> Service<Req> for OptionalBreaker<S, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: ClassifyOutcome<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BreakerFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline(always)]
    fn call(&mut self, req: Req) -> Self::Future {
        // One call of the inner service for both modes: its inlined call
        // chain appears once here.
        let permit = match &self.breaker {
            Some(breaker) => match breaker.try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(open) => return BreakerFuture::rejected(open),
            },
            None => None,
        };
        BreakerFuture::with_permit(self.inner.call(req), permit, self.classifier.clone())
    }
}

/// A stack's retry, when its config sets one: the retry layer's service
/// with a pass-through mode. Without a retry a call is made once and its
/// future is the retry layer's own, holding nothing but the inner future.
pub struct OptionalRetry<S, C, K> {
    inner: S,
    shared: Option<Arc<Shared<C, K, C, NoRetryHook>>>,
}

impl<S, C: Clone, K: Clone> OptionalRetry<S, C, K> {
    /// `inner` retried as `layer` would retry it (the stack's classifier
    /// deciding what to retry and which requests are idempotent), or as it
    /// is.
    pub(crate) fn new(inner: S, layer: Option<RetryLayer<C, K, C>>) -> Self {
        OptionalRetry {
            inner,
            shared: layer.map(|l| l.shared()),
        }
    }
}

impl<S: Clone, C, K> Clone for OptionalRetry<S, C, K> {
    fn clone(&self) -> Self {
        OptionalRetry {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: fmt::Debug, C, K> fmt::Debug for OptionalRetry<S, C, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OptionalRetry")
            .field("inner", &self.inner)
            .field("policy", &self.shared.as_ref().map(|s| s.policy.name()))
            .finish()
    }
}

impl<S, C, K, Req> Service<Req> for OptionalRetry<S, C, K>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    C: RetryClassify<S::Response> + RequestIdempotency<Req>,
    K: CloneRequest<Req>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = OptionalRetryFuture<S, Req, C, K>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline(always)]
    fn call(&mut self, req: Req) -> Self::Future {
        self.call_into(req, |f| f)
    }
}

impl<S, C, K> OptionalRetry<S, C, K> {
    /// [`call`](Service::call), its future handed to `wrap` where it is
    /// made, so that a future wrapping it is built in place.
    #[inline(always)]
    pub(crate) fn call_into<Req, W>(
        &mut self,
        req: Req,
        wrap: impl FnOnce(OptionalRetryFuture<S, Req, C, K>) -> W,
    ) -> W
    where
        S: Service<Req> + Clone,
        C: RequestIdempotency<Req>,
        K: CloneRequest<Req>,
    {
        match &self.shared {
            Some(shared) => {
                let (future, retries) = crate::retry::start(shared, &mut self.inner, req);
                wrap(OptionalRetryFuture {
                    state: RetryState::called(future),
                    retries: Some(retries),
                })
            }
            None => wrap(OptionalRetryFuture {
                state: RetryState::called(self.inner.call(req)),
                retries: None,
            }),
        }
    }
}

/// The response future of an [`OptionalRetry`]: the retry layer's, when the
/// stack retries; the inner call's alone, when it does not.
#[pin_project]
pub struct OptionalRetryFuture<S, Req, C, K>
where
    S: Service<Req>,
{
    #[pin]
    state: RetryState<S::Future, Req>,
    retries: Option<Retries<S, Req, C, K, C, NoRetryHook>>,
}

impl<S, Req, C, K> Future for OptionalRetryFuture<S, Req, C, K>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: RetryClassify<S::Response>,
    K: CloneRequest<Req>,
{
    type Output = Result<S::Response, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut state = this.state;
        // One poll of the attempt in flight for both modes, so that the
        // inner future's `poll` has one call site here (two kept it out of
        // line).
        if let RetryStateProj::Called { future } = state.as_mut().project() {
            let result = ready!(future.poll(cx)).map_err(Into::into);
            match this.retries {
                None => {
                    state.set(RetryState::Done);
                    return Poll::Ready(result);
                }
                Some(retries) => {
                    if let Some(result) = settle(state.as_mut(), retries, result) {
                        return Poll::Ready(result);
                    }
                }
            }
        }
        match this.retries {
            Some(retries) => poll_retries(state, retries, cx),
            // Only a retry waits or readies; a call without retries is
            // called or done.
            None => Poll::Ready(Err(crate::error::PolledAfterCompletion.into())),
        }
    }
}

impl<S, Req, C, K> fmt::Debug for OptionalRetryFuture<S, Req, C, K>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OptionalRetryFuture")
            .field(
                "attempts",
                &self.retries.as_ref().map_or(1, |r| r.retry.attempts()),
            )
            .field(
                "policy",
                &self.retries.as_ref().map(|r| r.shared.policy.name()),
            )
            .finish_non_exhaustive()
    }
}
