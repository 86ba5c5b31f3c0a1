use std::task::{Context, Poll};

use resilience_core::rate_limit::{RateLimit, RateLimited, RateLimiter};
use tower::BoxError;
use tower_service::Service;

use super::ResponseFuture;

/// A service behind a [`RateLimitLayer`](super::RateLimitLayer): each call
/// takes one permit, or is refused at once with
/// [`RateLimited`](super::RateLimited) without reaching the inner service.
///
/// Readiness is the inner service's: the limiter is asked in `call`, so a
/// refused call costs one atomic load and never a downstream resource.
///
/// ```
/// use resilience_core::clock::ManualClock;
/// use resilience_core::rate_limit::{RateLimiter, RateLimiterConfig};
/// use resilience_tower::rate_limit::RateLimitService;
/// use tower::{service_fn, BoxError, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let limiter = RateLimiter::with_clock(RateLimiterConfig::per_second(1), ManualClock::new())?;
/// let mut svc = RateLimitService::new(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }), limiter);
/// assert_eq!(svc.ready().await?.call(7).await?, 7);
/// assert!(svc.ready().await?.call(8).await.is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RateLimitService<S, R = RateLimiter> {
    inner: S,
    limiter: R,
}

impl<S, R> RateLimitService<S, R> {
    /// Wraps `inner`, taking permits from `limiter`.
    pub fn new(inner: S, limiter: R) -> Self {
        RateLimitService { inner, limiter }
    }

    /// The limiter.
    pub fn limiter(&self) -> &R {
        &self.limiter
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

impl<S, R, Req> Service<Req> for RateLimitService<S, R>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    R: RateLimit,
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
        match check(&self.limiter) {
            Ok(()) => ResponseFuture::called(self.inner.call(req)),
            Err(refused) => ResponseFuture::refused(refused),
        }
    }
}

/// Takes a permit from `limiter`, or says why not (traced): the rate limit
/// layer's check and the stack's own.
#[inline]
pub(crate) fn check<R: RateLimit + ?Sized>(limiter: &R) -> Result<(), RateLimited> {
    limiter.try_acquire().inspect_err(|_refused| {
        #[cfg(feature = "tracing")]
        tracing::debug!(
            limiter = _refused.name(),
            retry_after = ?_refused.retry_after(),
            "rate limiter refused a call"
        );
    })
}
