use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use resilience_core::bulkhead::Bulkhead;
use tower::BoxError;
use tower_service::Service;

use super::future::MeasuredFuture;
use super::{AdaptiveLimiter, ResponseFuture};
use crate::bulkhead::start;
use crate::classify::ClassifyOutcome;

/// A service behind an [`AdaptiveLimiter`]; made by
/// [`AdaptiveConcurrencyLayer`](super::AdaptiveConcurrencyLayer).
///
/// Admission is exactly the [`BulkheadLayer`](crate::bulkhead::BulkheadLayer)'s
/// (the permit is taken in `call`, after the inner service is ready); each
/// call that got a permit is timed from the moment the inner service is
/// called, on tokio's clock, and fed to the limiter when it completes.
///
/// ```
/// use std::time::Duration;
/// use resilience_tower::adaptive::{AdaptiveConcurrencyLayer, AdaptiveConfig, AimdConfig, LimitAlgorithmConfig};
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let aimd = AimdConfig { initial_limit: 30, min_limit: 1, ..AimdConfig::default() };
/// let layer = AdaptiveConcurrencyLayer::from_config(AdaptiveConfig::new("api", LimitAlgorithmConfig::Aimd(aimd))).unwrap();
/// let mut svc = layer.layer(service_fn(|fail: bool| async move { if fail { Err("overloaded") } else { Ok(()) } }));
/// let _ = svc.ready().await.unwrap().call(true).await;
/// assert_eq!(svc.limiter().limit(), 27);
/// # }
/// ```
pub struct AdaptiveConcurrencyService<S, C> {
    inner: Measured<S, C>,
    /// The limiter's bulkhead, kept beside `inner` so `call` can borrow it
    /// while `inner` is borrowed mutably (no `Arc` clone per call).
    bulkhead: Bulkhead,
}

impl<S: Clone, C: Clone> Clone for AdaptiveConcurrencyService<S, C> {
    fn clone(&self) -> Self {
        AdaptiveConcurrencyService {
            inner: self.inner.clone(),
            bulkhead: self.bulkhead.clone(),
        }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for AdaptiveConcurrencyService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveConcurrencyService")
            .field("inner", &self.inner.inner)
            .field("limiter", &self.inner.limiter)
            .finish_non_exhaustive()
    }
}

impl<S, C> AdaptiveConcurrencyService<S, C> {
    pub(super) fn new(inner: Measured<S, C>) -> Self {
        AdaptiveConcurrencyService {
            bulkhead: inner.limiter.bulkhead().clone(),
            inner,
        }
    }

    /// The limiter.
    pub fn limiter(&self) -> &Arc<AdaptiveLimiter> {
        &self.inner.limiter
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner.inner
    }
}

impl<S, C, Req> Service<Req> for AdaptiveConcurrencyService<S, C>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    C: ClassifyOutcome<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, C, Req>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        ResponseFuture::new(start(&self.bulkhead, &mut self.inner, req))
    }
}

/// The inner service as the bulkhead sees it: it is only called once the
/// call holds its permit, and it times the call and reports the sample.
pub(crate) struct Measured<S, C> {
    inner: S,
    limiter: Arc<AdaptiveLimiter>,
    classifier: C,
}

impl<S, C> Measured<S, C> {
    pub(super) fn new(inner: S, limiter: Arc<AdaptiveLimiter>, classifier: C) -> Self {
        Measured {
            inner,
            limiter,
            classifier,
        }
    }
}

impl<S: Clone, C: Clone> Clone for Measured<S, C> {
    fn clone(&self) -> Self {
        Measured {
            inner: self.inner.clone(),
            limiter: self.limiter.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

impl<S, C, Req> Service<Req> for Measured<S, C>
where
    S: Service<Req>,
    C: ClassifyOutcome<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = MeasuredFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        // The permit is held: the count includes this call, as the
        // algorithms expect.
        let in_flight = self.limiter.bulkhead().in_flight();
        let start = self.limiter.timing().start();
        MeasuredFuture::new(
            self.inner.call(req),
            start,
            in_flight,
            self.limiter.clone(),
            self.classifier.clone(),
        )
    }
}
