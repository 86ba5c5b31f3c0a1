use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::pin_project;
use resilience_core::bulkhead::BulkheadFull;
use resilience_core::circuit_breaker::Outcome;
use tower::util::Either;
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

use super::ResilienceStack;
use crate::bulkhead::{BulkheadLayer, BulkheadService};
use crate::circuit_breaker::{CircuitBreakerLayer, CircuitBreakerService};
use crate::classify::Classify;
use crate::retry::{CloneAll, DefaultRetryClassifier, RetryLayer, RetryService};
use crate::timeout::{DeadlineLayer, TimeoutLayer, TimeoutService};

/// The stack's breaker classifier: `Err` is a failure, except a
/// [`BulkheadFull`] rejection from the bulkhead below, which is local
/// overload (the dependency was never called) and is ignored.
///
/// ```
/// use resilience_core::circuit_breaker::Outcome;
/// use resilience_tower::classify::Classify;
/// use resilience_tower::stack::StackBreakerClassifier;
/// use tower::BoxError;
/// let timeout: Result<(), BoxError> = Err("timed out".into());
/// assert_eq!(StackBreakerClassifier.classify(&timeout), Outcome::Failure);
/// assert_eq!(StackBreakerClassifier.classify(&Ok::<_, BoxError>(())), Outcome::Success);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StackBreakerClassifier;

impl<T> Classify<T, BoxError> for StackBreakerClassifier {
    #[inline]
    fn classify(&self, result: &Result<T, BoxError>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(e) if e.is::<BulkheadFull>() => Outcome::Ignored,
            Err(_) => Outcome::Failure,
        }
    }
}

/// Boxes a service's errors into [`BoxError`], so that every optional layer
/// of the stack has the same error type whether or not it is present.
#[derive(Debug, Clone)]
pub struct BoxErr<S> {
    inner: S,
}

impl<S> BoxErr<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        BoxErr { inner }
    }
}

impl<S, Req> Service<Req> for BoxErr<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxErrFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        BoxErrFuture {
            inner: self.inner.call(req),
        }
    }
}

/// The response future of [`BoxErr`].
#[pin_project]
#[derive(Debug)]
pub struct BoxErrFuture<F> {
    #[pin]
    inner: F,
}

impl<F, T, E> Future for BoxErrFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx).map_err(Into::into)
    }
}

type L0<S> = BoxErr<S>;
type L1<S> = Either<TimeoutService<L0<S>>, L0<S>>;
type L2<S> = Either<BulkheadService<L1<S>>, L1<S>>;
type L3<S> = Either<CircuitBreakerService<L2<S>, StackBreakerClassifier>, L2<S>>;
type L4<S, K> = Either<RetryService<L3<S>, DefaultRetryClassifier, K>, L3<S>>;
type L5<S, K> = Either<TimeoutService<L4<S, K>>, L4<S, K>>;

fn maybe<L: Layer<S>, S>(layer: Option<L>, inner: S) -> Either<L::Service, S> {
    match layer {
        Some(l) => Either::Left(l.layer(inner)),
        None => Either::Right(inner),
    }
}

/// A service wrapped by a [`ResilienceStack`]: deadline → retry → circuit
/// breaker → bulkhead → per-attempt timeout → the service. Absent layers
/// cost one enum match per call.
#[derive(Debug, Clone)]
pub struct StackService<S, K = CloneAll> {
    inner: L5<S, K>,
}

impl<S, K: Clone> StackService<S, K> {
    pub(crate) fn new(service: S, stack: &ResilienceStack<K>) -> Self {
        let l0 = BoxErr::new(service);
        let l1 = maybe(stack.timeout.map(TimeoutLayer::new), l0);
        let l2 = maybe(stack.bulkhead.clone().map(BulkheadLayer::new), l1);
        let l3 = maybe(
            stack
                .breaker
                .clone()
                .map(|b| CircuitBreakerLayer::new(b).with_classifier(StackBreakerClassifier)),
            l2,
        );
        let l4 = maybe(
            stack
                .retry
                .clone()
                .map(|p| RetryLayer::new(p).clone_requests_with(stack.cloner.clone())),
            l3,
        );
        let l5 = maybe(stack.deadline.map(DeadlineLayer::new), l4);
        StackService { inner: l5 }
    }
}

impl<S, K, Req> Service<Req> for StackService<S, K>
where
    L5<S, K>: Service<Req, Error = BoxError>,
{
    type Response = <L5<S, K> as Service<Req>>::Response;
    type Error = BoxError;
    type Future = <L5<S, K> as Service<Req>>::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        self.inner.call(req)
    }
}
