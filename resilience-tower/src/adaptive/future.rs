use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use pin_project::pin_project;
use resilience_core::circuit_breaker::Outcome;
use tower::BoxError;
use tower_service::Service;

use super::clock::Started;
use super::service::Measured;
use super::AdaptiveLimiter;
use crate::bulkhead;
use crate::classify::ClassifyOutcome;

/// The response future of an
/// [`AdaptiveConcurrencyService`](super::AdaptiveConcurrencyService): the
/// bulkhead's admission (and wait), then the inner call, timed and fed to
/// the limiter when it completes.
///
/// A call that is dropped before it completes (a cancelled request) gives
/// its permit back and feeds no sample.
#[pin_project]
pub struct ResponseFuture<S, C, Req>
where
    S: Service<Req>,
    C: ClassifyOutcome<S::Response, S::Error> + Clone,
{
    #[pin]
    inner: bulkhead::ResponseFuture<Measured<S, C>, Req>,
}

impl<S, C, Req> ResponseFuture<S, C, Req>
where
    S: Service<Req>,
    C: ClassifyOutcome<S::Response, S::Error> + Clone,
{
    pub(super) fn new(inner: bulkhead::ResponseFuture<Measured<S, C>, Req>) -> Self {
        ResponseFuture { inner }
    }
}

impl<S, C, Req> Future for ResponseFuture<S, C, Req>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: ClassifyOutcome<S::Response, S::Error> + Clone,
{
    type Output = Result<S::Response, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl<S, C, Req> fmt::Debug for ResponseFuture<S, C, Req>
where
    S: Service<Req>,
    C: ClassifyOutcome<S::Response, S::Error> + Clone,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("inner", &self.inner)
            .finish()
    }
}

/// The inner call, timed; reports its sample when it completes.
#[pin_project]
pub(crate) struct MeasuredFuture<F, C> {
    #[pin]
    future: F,
    start: Started,
    in_flight: u32,
    limiter: Option<Arc<AdaptiveLimiter>>,
    classifier: C,
}

impl<F, C> MeasuredFuture<F, C> {
    #[inline]
    pub(super) fn new(
        future: F,
        start: Started,
        in_flight: u32,
        limiter: Arc<AdaptiveLimiter>,
        classifier: C,
    ) -> Self {
        MeasuredFuture {
            future,
            start,
            in_flight,
            limiter: Some(limiter),
            classifier,
        }
    }
}

impl<F, C, T, E> Future for MeasuredFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    C: ClassifyOutcome<T, E>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.future.poll(cx));
        if let Some(limiter) = this.limiter.take() {
            match this.classifier.classify(&result) {
                Outcome::Ignored => limiter.record_ignored(),
                outcome => {
                    limiter.record(
                        limiter.timing().elapsed(*this.start),
                        *this.in_flight,
                        outcome == Outcome::Failure,
                    );
                }
            }
        }
        Poll::Ready(result)
    }
}

impl<F, C> fmt::Debug for MeasuredFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeasuredFuture")
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}
