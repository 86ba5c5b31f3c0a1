use std::task::{Context, Poll};

use resilience_core::bulkhead::Bulkhead;
use tower::BoxError;
use tower_service::Service;

use super::future::{start, ResponseFuture};

/// A service behind a [`Bulkhead`]; made by
/// [`BulkheadLayer`](super::BulkheadLayer).
///
/// `poll_ready` is the inner service's; the permit is taken in `call`
/// (see the [module docs](super) for why). The inner service must be
/// `Clone` so that a call which has to queue can keep the ready instance
/// until its permit arrives.
///
/// ```
/// use std::sync::Arc;
/// use resilience_core::bulkhead::{Bulkhead, BulkheadConfig, BulkheadFull};
/// use resilience_tower::bulkhead::BulkheadService;
/// use tower::{service_fn, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let bulkhead = Bulkhead::new("db", BulkheadConfig::new(1)).unwrap();
/// let mut svc = BulkheadService::new(service_fn(|x: u32| async move { Ok::<_, tower::BoxError>(x) }), bulkhead.clone());
/// let held = bulkhead.try_acquire_owned().unwrap(); // someone else holds the only permit
/// let err = svc.ready().await.unwrap().call(1).await.unwrap_err();
/// assert!(err.downcast_ref::<BulkheadFull>().is_some());
/// drop(held);
/// assert_eq!(svc.ready().await.unwrap().call(2).await.unwrap(), 2);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct BulkheadService<S> {
    inner: S,
    bulkhead: Bulkhead,
}

impl<S> BulkheadService<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, bulkhead: impl Into<Bulkhead>) -> Self {
        BulkheadService {
            inner,
            bulkhead: bulkhead.into(),
        }
    }

    /// The bulkhead.
    pub fn bulkhead(&self) -> &Bulkhead {
        &self.bulkhead
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

impl<S, Req> Service<Req> for BulkheadService<S>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, Req>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline(always)]
    fn call(&mut self, req: Req) -> Self::Future {
        start(&self.bulkhead, &mut self.inner, req)
    }
}
