use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use metrics::Counter;
use pin_project::pin_project;
use tokio::time::{Instant, Sleep};
use tower::BoxError;
use tower_service::Service;

use super::{Elapsed, TimeoutScope};

/// A service whose calls are cancelled after a limit, with a typed
/// [`Elapsed`] error and a metric. Made by
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
    inner: S,
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
            inner,
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
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Req> Service<Req> for TimeoutService<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let inner = &mut self.inner;
        ResponseFuture::limited(self.timeout, self.scope, &self.elapsed, || inner.call(req))
    }
}

impl<F> ResponseFuture<F> {
    /// The future of `call` under a limit of `timeout`, which runs from just
    /// before the call, as tower's
    /// `Timeout` has it; the timer itself is only made if the response is
    /// not ready at once.
    #[inline(always)]
    pub(crate) fn limited(
        timeout: Duration,
        scope: TimeoutScope,
        elapsed: &Counter,
        call: impl FnOnce() -> F,
    ) -> Self {
        let deadline = deadline_in(timeout);
        Self::with_deadline(call(), Some(deadline), timeout, scope, elapsed)
    }

    /// `inner` until `deadline` (from [`deadline_in`]`(timeout)`), or
    /// without a limit; with no deadline, `elapsed` is never counted.
    #[inline(always)]
    pub(crate) fn with_deadline(
        inner: F,
        deadline: Option<Instant>,
        timeout: Duration,
        scope: TimeoutScope,
        elapsed: &Counter,
    ) -> Self {
        ResponseFuture {
            inner,
            sleep: None,
            deadline,
            timeout,
            scope,
            elapsed: Some(elapsed.clone()),
        }
    }
}

/// The deadline `timeout` from now, as [`ResponseFuture::limited`] sets it.
#[inline(always)]
pub(crate) fn deadline_in(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout).unwrap_or_else(|| far_future(now))
}

/// A deadline for a limit too large to add to `now` (about 30 years on, as
/// tokio's own timers have it).
#[cold]
fn far_future(now: Instant) -> Instant {
    now + Duration::from_secs(86_400 * 365 * 30)
}

/// The response future of a [`TimeoutService`]: the inner future, and a
/// timer made the first time the inner future is not ready.
///
/// A response that is ready when first polled costs one clock read (at
/// the call) and no timer: the timer (a `tokio::time::Sleep`, which looks
/// up the runtime and registers with its timer wheel when polled) is only
/// built for a call that has to wait, inline in this future.
#[pin_project]
#[derive(Debug)]
pub struct ResponseFuture<F> {
    #[pin]
    inner: F,
    #[pin]
    sleep: Option<Sleep>,
    /// `None`: no limit (see `unlimited`).
    deadline: Option<Instant>,
    timeout: Duration,
    scope: TimeoutScope,
    // `None` once the future completed.
    elapsed: Option<Counter>,
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if this.elapsed.is_none() {
            return Poll::Ready(Err(crate::error::PolledAfterCompletion.into()));
        }
        if let Poll::Ready(result) = this.inner.poll(cx) {
            *this.elapsed = None;
            return Poll::Ready(result.map_err(Into::into));
        }
        if this.sleep.is_none() {
            let Some(deadline) = *this.deadline else {
                return Poll::Pending;
            };
            this.sleep.set(Some(tokio::time::sleep_until(deadline)));
        }
        if let Some(sleep) = this.sleep.as_pin_mut() {
            ready!(sleep.poll(cx));
        }
        if let Some(counter) = this.elapsed.take() {
            counter.increment(1);
        }
        #[cfg(feature = "tracing")]
        tracing::debug!(
            timeout = ?*this.timeout,
            scope = this.scope.as_str(),
            "call cancelled: time limit elapsed"
        );
        Poll::Ready(Err(Elapsed::new(*this.timeout, *this.scope).into()))
    }
}
