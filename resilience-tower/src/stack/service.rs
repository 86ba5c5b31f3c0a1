use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use metrics::Counter;

use pin_project::pin_project;
use resilience_core::bulkhead::BulkheadFull;
use resilience_core::circuit_breaker::Outcome;
use resilience_core::rate_limit::{RateLimit, RateLimited};
use resilience_core::retry::{Classification, Idempotency};
use tower::BoxError;
use tower_service::Service;

use super::optional::{
    OptionalBreaker, OptionalBulkhead, OptionalRetry, OptionalRetryFuture, OptionalTimeout,
};
use super::ResilienceStack;
use crate::classify::ClassifyOutcome;
use crate::retry::{
    classify_error, CloneAll, CloneRequest, RequestIdempotency, RetryClassify, RetryLayer,
};
use crate::timeout::TimeoutScope;

/// What a [`ResilienceStack`] reads from results and requests when it
/// does not know they are HTTP: the default of
/// [`ResilienceStack::new`].
///
/// * **Breaker**: `Ok` is a success; `Err` is a failure, except a
///   [`BulkheadFull`] rejection from the bulkhead below, which is local
///   overload (the dependency was never called) and is ignored.
/// * **Retry**: `Ok` is a success; errors are classified by
///   [`classify_error`](crate::retry::classify_error) (timeouts, I/O
///   errors, full bulkheads are retried; an open breaker fails fast).
/// * **Idempotency**: the retry policy's.
///
/// ```
/// use resilience_core::circuit_breaker::Outcome;
/// use resilience_core::retry::ErrorClass;
/// use resilience_tower::classify::ClassifyOutcome;
/// use resilience_tower::retry::RetryClassify;
/// use resilience_tower::stack::StackClassifier;
/// use tower::BoxError;
/// let timeout: Result<(), BoxError> = Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into());
/// assert_eq!(ClassifyOutcome::classify(&StackClassifier, &timeout), Outcome::Failure);
/// assert_eq!(RetryClassify::classify(&StackClassifier, &timeout).unwrap().class, ErrorClass::Timeout);
/// assert_eq!(RetryClassify::classify(&StackClassifier, &Ok::<_, BoxError>(())), None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StackClassifier;

impl<T> ClassifyOutcome<T, BoxError> for StackClassifier {
    #[inline]
    fn classify(&self, result: &Result<T, BoxError>) -> Outcome {
        breaker_outcome_of_error(result)
    }
}

impl<T> RetryClassify<T> for StackClassifier {
    #[inline]
    fn classify(&self, result: &Result<T, BoxError>) -> Option<Classification> {
        match result {
            Ok(_) => None,
            Err(e) => Some(classify_error(&**e)),
        }
    }
}

impl<Req> RequestIdempotency<Req> for StackClassifier {
    #[inline]
    fn idempotency(&self, _: &Req) -> Option<Idempotency> {
        None
    }
}

#[inline]
fn breaker_outcome_of_error<T>(result: &Result<T, BoxError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Success,
        Err(e) if e.is::<BulkheadFull>() || e.is::<RateLimited>() => Outcome::Ignored,
        Err(_) => Outcome::Failure,
    }
}

/// What a [`ResilienceStack`] built by [`ResilienceStack::http`] reads
/// from `http::Request`s and `http::Response`s (feature `http`).
///
/// | result | breaker | retry |
/// |---|---|---|
/// | a status below 400 | success | success |
/// | 5xx, 408, 429 | failure | retried by class (`server_error`, `transient`, `timeout`, `rate_limited`), waiting at least the upstream's `Retry-After` |
/// | any other 4xx | ignored (the caller's fault) | not retried, returned as is |
/// | `Err(BulkheadFull)` | ignored | retried (`connect_failed`) |
/// | another `Err` | failure | by [`classify_error`](crate::retry::classify_error) |
///
/// With `classify: errors` in the config, statuses are not read (every
/// `Ok` is a success) and only errors count, as with
/// [`StackClassifier`].
///
/// Idempotency is per request, by
/// [`HttpMethodIdempotency`](crate::retry::HttpMethodIdempotency): reads
/// (`GET`, `HEAD`, `OPTIONS`, `TRACE`) and any request with an
/// `Idempotency-Key` header are idempotent; other methods (`POST`, `PUT`,
/// `DELETE`, `PATCH`) are retried only when the failure proves the request
/// never left (connection refused, breaker open). When the retry policy gives up on a failed
/// response, the caller gets that response.
///
/// ```
/// use resilience_core::circuit_breaker::Outcome;
/// use resilience_core::retry::{ErrorClass, Idempotency};
/// use resilience_tower::classify::ClassifyOutcome;
/// use resilience_tower::retry::{RequestIdempotency, RetryClassify};
/// use resilience_tower::stack::HttpStackClassifier;
/// use tower::BoxError;
///
/// let c = HttpStackClassifier::new(true);
/// let status = |code: u16| Ok::<_, BoxError>(http::Response::builder().status(code).body(()).unwrap());
/// assert_eq!(ClassifyOutcome::classify(&c, &status(503)), Outcome::Failure);
/// assert_eq!(ClassifyOutcome::classify(&c, &status(429)), Outcome::Failure);
/// assert_eq!(ClassifyOutcome::classify(&c, &status(404)), Outcome::Ignored);
/// assert_eq!(RetryClassify::classify(&c, &status(500)).unwrap().class, ErrorClass::ServerError);
/// assert_eq!(RetryClassify::classify(&c, &status(200)), None);
/// let post = http::Request::post("/orders").body(()).unwrap();
/// assert_eq!(c.idempotency(&post), Some(Idempotency::NonIdempotent));
/// let keyed = http::Request::post("/orders").header("idempotency-key", "order-7").body(()).unwrap();
/// assert_eq!(c.idempotency(&keyed), Some(Idempotency::Idempotent));
/// ```
#[cfg(feature = "http")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpStackClassifier {
    statuses: bool,
    retry: crate::retry::HttpRetryClassifier,
}

#[cfg(feature = "http")]
impl HttpStackClassifier {
    /// A classifier that reads statuses (`true`, `classify: http`) or only
    /// errors (`false`, `classify: errors`).
    pub fn new(statuses: bool) -> Self {
        HttpStackClassifier {
            statuses,
            retry: crate::retry::HttpRetryClassifier::default(),
        }
    }

    /// Whether response statuses count (`classify: http`).
    pub fn reads_statuses(&self) -> bool {
        self.statuses
    }
}

#[cfg(feature = "http")]
impl<B> ClassifyOutcome<http::Response<B>, BoxError> for HttpStackClassifier {
    #[inline]
    fn classify(&self, result: &Result<http::Response<B>, BoxError>) -> Outcome {
        match result {
            Ok(res) if self.statuses => crate::classify::HttpClassifier::outcome_of(res.status()),
            _ => breaker_outcome_of_error(result),
        }
    }
}

#[cfg(feature = "http")]
impl<B> RetryClassify<http::Response<B>> for HttpStackClassifier {
    #[inline]
    fn classify(&self, result: &Result<http::Response<B>, BoxError>) -> Option<Classification> {
        match result {
            Ok(_) if !self.statuses => None,
            _ => self.retry.classify(result),
        }
    }
}

#[cfg(feature = "http")]
impl<B> RequestIdempotency<http::Request<B>> for HttpStackClassifier {
    #[inline]
    fn idempotency(&self, req: &http::Request<B>) -> Option<Idempotency> {
        crate::retry::HttpMethodIdempotency.idempotency(req)
    }
}

/// The breaker classifier of stacks before 0.1.1: `Err` is a failure,
/// except a [`BulkheadFull`] rejection from the bulkhead below, which is
/// local overload (the dependency was never called) and is ignored.
///
/// ```
/// use resilience_core::circuit_breaker::Outcome;
/// use resilience_tower::classify::ClassifyOutcome;
/// use resilience_tower::stack::StackBreakerClassifier;
/// use tower::BoxError;
/// let timeout: Result<(), BoxError> = Err("timed out".into());
/// assert_eq!(StackBreakerClassifier.classify(&timeout), Outcome::Failure);
/// assert_eq!(StackBreakerClassifier.classify(&Ok::<_, BoxError>(())), Outcome::Success);
/// ```
#[deprecated(
    since = "0.1.1",
    note = "stacks use `StackClassifier` (or `HttpStackClassifier`), which also classifies retries"
)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StackBreakerClassifier;

#[allow(deprecated)]
impl<T> ClassifyOutcome<T, BoxError> for StackBreakerClassifier {
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

/// The response future of a [`StackService`].
#[pin_project(project = StackFutureProj)]
#[derive(Debug)]
pub enum StackFuture<F> {
    /// The call through the stack's layers (the retry layer's future, with
    /// or without retries).
    Called(#[pin] F),
    /// The call was refused before any layer ran (the stack's rate limit):
    /// this error, once. A variant here rather than a future wrapping the
    /// stack's, which would make every call's future larger and add a
    /// level to poll and drop for a check most stacks do not configure.
    Refused(Option<BoxError>),
    /// The call under the stack's deadline, when the deadline needs a
    /// timer of its own (no per-attempt timeout keeps it): boxed, so that
    /// the other stacks' futures carry no deadline level, which cost every
    /// call about 80 instructions to move and drop; a stack with such a
    /// deadline allocates once per call for it.
    Bounded(Pin<Box<crate::timeout::ResponseFuture<F>>>),
}

impl<F, T> Future for StackFuture<F>
where
    F: Future<Output = Result<T, BoxError>>,
{
    type Output = Result<T, BoxError>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            StackFutureProj::Called(f) => f.poll(cx),
            StackFutureProj::Bounded(f) => poll_bounded(f.as_mut(), cx),
            StackFutureProj::Refused(e) => Poll::Ready(Err(e
                .take()
                .unwrap_or_else(|| crate::error::PolledAfterCompletion.into()))),
        }
    }
}

type L0<S> = BoxErr<S>;
/// The poll of a call under the stack's deadline timer, out of line: the
/// layers' future's `poll` then has one call site in [`StackFuture`]'s, where
/// it can be inlined.
#[inline(never)]
fn poll_bounded<F, T>(
    f: Pin<&mut crate::timeout::ResponseFuture<F>>,
    cx: &mut Context<'_>,
) -> Poll<Result<T, BoxError>>
where
    F: Future<Output = Result<T, BoxError>>,
{
    f.poll(cx)
}

type L1<S> = OptionalTimeout<L0<S>>;
type L2<S> = OptionalBulkhead<L1<S>>;
type L3<S, C> = OptionalBreaker<L2<S>, C>;
type L4<S, K, C> = OptionalRetry<L3<S, C>, C, K>;

/// A service wrapped by a [`ResilienceStack`]: rate limit → deadline →
/// retry → circuit breaker → bulkhead → per-attempt timeout → the service.
/// An absent layer costs one test per call: the retry, breaker, bulkhead
/// and timeout have a pass-through mode, the rate limit is a check in
/// `call`, and a deadline that needs a timer of its own is the boxed
/// [`StackFuture::Bounded`].
#[derive(Debug, Clone)]
pub struct StackService<S, K = CloneAll, C = StackClassifier> {
    /// The rate limit and the deadline's own timer, when the stack has
    /// either: one test per call for a stack with neither.
    guards: Option<Arc<Guards>>,
    inner: L4<S, K, C>,
}

/// What a [`StackService`] checks before its layers run.
#[derive(Debug)]
struct Guards {
    rate_limiter: Option<Arc<dyn RateLimit>>,
    /// The deadline, when it needs a timer of its own, and its counter.
    deadline: Option<(Duration, Counter)>,
}

impl<S, K: Clone, C: Clone> StackService<S, K, C> {
    pub(crate) fn new(service: S, stack: &ResilienceStack<K, C>) -> Self {
        let l0 = BoxErr::new(service);
        let l1 = OptionalTimeout::new(l0, stack.timeout, TimeoutScope::Attempt);
        let l2 = OptionalBulkhead::new(l1, stack.bulkhead.as_deref().cloned());
        let l3 = OptionalBreaker::new(l2, stack.breaker.clone(), stack.classifier.clone());
        let l4 = OptionalRetry::new(
            l3,
            stack.retry.clone().map(|p| {
                RetryLayer::new(p)
                    .with_classifier(stack.classifier.clone())
                    .idempotency_with(stack.classifier.clone())
                    .clone_requests_with(stack.cloner.clone())
            }),
        );
        StackService {
            guards: match (&stack.rate_limiter, stack.deadline_timer) {
                (None, None) => None,
                (rate_limiter, deadline) => Some(Arc::new(Guards {
                    rate_limiter: rate_limiter.clone(),
                    deadline: deadline
                        .map(|d| (d, super::optional::elapsed_counter(TimeoutScope::Total))),
                })),
            },
            inner: l4,
        }
    }
}

impl<S, K, C, Req> Service<Req> for StackService<S, K, C>
where
    L3<S, C>: Service<Req> + Clone,
    <L3<S, C> as Service<Req>>::Error: Into<BoxError>,
    C: RetryClassify<<L3<S, C> as Service<Req>>::Response> + RequestIdempotency<Req>,
    K: CloneRequest<Req>,
{
    type Response = <L4<S, K, C> as Service<Req>>::Response;
    type Error = BoxError;
    type Future = StackFuture<OptionalRetryFuture<L3<S, C>, Req, C, K>>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        match &self.guards {
            None => self.inner.call_into(req, StackFuture::Called),
            Some(guards) => guarded_call(guards, &mut self.inner, req),
        }
    }
}

/// A call through a stack with a rate limit or a deadline timer of its
/// own: refused, bounded by the deadline, or made as it is.
#[inline(never)]
fn guarded_call<S, K, C, Req>(
    guards: &Guards,
    inner: &mut L4<S, K, C>,
    req: Req,
) -> StackFuture<OptionalRetryFuture<L3<S, C>, Req, C, K>>
where
    L3<S, C>: Service<Req> + Clone,
    <L3<S, C> as Service<Req>>::Error: Into<BoxError>,
    C: RetryClassify<<L3<S, C> as Service<Req>>::Response> + RequestIdempotency<Req>,
    K: CloneRequest<Req>,
{
    if let Some(limiter) = &guards.rate_limiter {
        if let Err(refused) = crate::rate_limit::check(&**limiter) {
            return StackFuture::Refused(Some(refused.into()));
        }
    }
    match &guards.deadline {
        None => inner.call_into(req, StackFuture::Called),
        Some((deadline, elapsed)) => {
            StackFuture::Bounded(Box::pin(crate::timeout::ResponseFuture::limited(
                *deadline,
                TimeoutScope::Total,
                elapsed,
                || inner.call(req),
            )))
        }
    }
}
