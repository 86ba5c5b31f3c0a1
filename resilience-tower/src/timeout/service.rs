use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use metrics::Counter;
use pin_project::pin_project;
use tower::timeout::Timeout;
use tower::BoxError;
use tower_service::Service;

use super::{Elapsed, TimeoutScope};

/// A service whose calls are cancelled after a limit: tower's
/// [`Timeout`] plus a typed [`Elapsed`] error and a metric. Made by
/// [`TimeoutLayer`](super::TimeoutLayer) (per attempt) and
/// [`DeadlineLayer`](super::DeadlineLayer) (total).
///
/// ```
/// use std::time::Duration;
/// use resilience_tower::timeout::{TimeoutScope, TimeoutService};
/// use tower::service_fn;
///
/// let svc = TimeoutService::new(
///     service_fn(|x: u32| async move { Ok::<_, tower::BoxError>(x) }),
///     Duration::from_secs(1),
///     TimeoutScope::Attempt,
///     "echo",
/// );
/// assert_eq!(svc.timeout(), Duration::from_secs(1));
/// assert_eq!(svc.scope(), TimeoutScope::Attempt);
/// ```
#[derive(Debug, Clone)]
pub struct TimeoutService<S> {
    inner: Timeout<S>,
    timeout: Duration,
    scope: TimeoutScope,
    elapsed: Counter,
}

impl<S> TimeoutService<S> {
    /// Wraps `inner` with a limit of `timeout`; `name` is the metrics label.
    pub fn new(inner: S, timeout: Duration, scope: TimeoutScope, name: &str) -> Self {
        let elapsed = metrics::counter!(
            "resilience_timeout_elapsed_total",
            "timeout" => name.to_owned(),
            "scope" => scope.as_str(),
        );
        TimeoutService {
            inner: Timeout::new(inner, timeout),
            timeout,
            scope,
            elapsed,
        }
    }

    /// The limit.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// What the limit covers.
    pub fn scope(&self) -> TimeoutScope {
        self.scope
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        self.inner.get_ref()
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        self.inner.get_mut()
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner.into_inner()
    }
}

impl<S, Req> Service<Req> for TimeoutService<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<tower::timeout::future::ResponseFuture<S::Future>>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        ResponseFuture {
            inner: self.inner.call(req),
            timeout: self.timeout,
            scope: self.scope,
            elapsed: Some(self.elapsed.clone()),
        }
    }
}

/// The response future of a [`TimeoutService`]: tower's timeout future,
/// with tower's `Elapsed` replaced by [`Elapsed`].
///
/// A caveat of reusing tower's future: an inner service that is itself a
/// raw `tower::timeout::Timeout` reports its own expiry with tower's error
/// type too, and this future cannot tell the two apart, so it reports it
/// with this layer's limit. Use [`TimeoutLayer`](super::TimeoutLayer) for
/// every timeout in a stack to keep the limits distinct.
#[pin_project]
#[derive(Debug)]
pub struct ResponseFuture<F> {
    #[pin]
    inner: F,
    timeout: Duration,
    scope: TimeoutScope,
    // `None` once the future completed.
    elapsed: Option<Counter>,
}

impl<F, T> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, BoxError>>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(counter) = this.elapsed.as_ref() else {
            return Poll::Ready(Err(crate::error::PolledAfterCompletion.into()));
        };
        let result = ready!(this.inner.poll(cx));
        let result = match result {
            Err(e) if e.is::<tower::timeout::error::Elapsed>() => {
                counter.increment(1);
                #[cfg(feature = "tracing")]
                tracing::debug!(
                    timeout = ?*this.timeout,
                    scope = this.scope.as_str(),
                    "call cancelled: time limit elapsed"
                );
                Err(Elapsed::new(*this.timeout, *this.scope).into())
            }
            other => other,
        };
        *this.elapsed = None;
        Poll::Ready(result)
    }
}
