use std::fmt;
use std::task::{Context, Poll};

use tower::BoxError;
use tower_service::Service;

use super::{Hedge, ResponseFuture};
use crate::retry::{CloneAll, CloneRequest};

/// A service whose slow calls are hedged; made by
/// [`HedgeLayer`](super::HedgeLayer).
///
/// The inner service must be `Clone`: a hedged call sends its second
/// request through a clone (polled ready first).
///
/// ```
/// use std::time::Duration;
/// use resilience_tower::hedge::{Hedge, HedgeConfig, HedgeService};
/// use resilience_tower::retry::CloneAll;
/// use tower::service_fn;
///
/// let hedge = Hedge::new("kv", HedgeConfig::fixed(Duration::from_millis(20))).unwrap();
/// let svc = HedgeService::new(service_fn(|k: u64| async move { Ok::<_, tower::BoxError>(k) }), hedge, CloneAll);
/// assert_eq!(svc.hedge().name(), "kv");
/// ```
pub struct HedgeService<S, K = CloneAll> {
    inner: S,
    hedge: Hedge,
    cloner: K,
}

impl<S, K> HedgeService<S, K> {
    /// Wraps `inner`.
    pub fn new(inner: S, hedge: Hedge, cloner: K) -> Self {
        HedgeService {
            inner,
            hedge,
            cloner,
        }
    }

    /// The policy.
    pub fn hedge(&self) -> &Hedge {
        &self.hedge
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

impl<S: Clone, K: Clone> Clone for HedgeService<S, K> {
    fn clone(&self) -> Self {
        HedgeService {
            inner: self.inner.clone(),
            hedge: self.hedge.clone(),
            cloner: self.cloner.clone(),
        }
    }
}

impl<S: fmt::Debug, K> fmt::Debug for HedgeService<S, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgeService")
            .field("inner", &self.inner)
            .field("hedge", &self.hedge)
            .field("cloner", &std::any::type_name::<K>())
            .finish()
    }
}

impl<S, Req, K> Service<Req> for HedgeService<S, K>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    K: CloneRequest<Req>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, Req>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let shared = self.hedge.shared();
        shared.on_call();
        let launch = shared.delay().and_then(|after| {
            let copy = self.cloner.clone_request(&req)?;
            Some((after, self.inner.clone(), copy))
        });
        let primary = self.inner.call(req);
        ResponseFuture::new(primary, launch, shared.clone())
    }
}
