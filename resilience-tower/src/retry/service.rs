use std::sync::Arc;
use std::task::{Context, Poll};

use resilience_core::retry::RetryPolicy;
use tower::BoxError;
use tower_service::Service;

use super::future::Retries;
use super::layer::Shared;
use super::{
    CloneAll, CloneRequest, DefaultRetryClassifier, NoRetryHook, PolicyIdempotency,
    RequestIdempotency, ResponseFuture, RetryClassify, RetryHook,
};

/// A service whose failed calls are retried; made by
/// [`RetryLayer`](super::RetryLayer).
///
/// The inner service must be `Clone`: the response future keeps a clone to
/// make the retries (as `tower::retry` does), so keep services cheap to
/// clone.
///
/// ```
/// use std::time::Duration;
/// use resilience_core::retry::{Backoff, RetryPolicy};
/// use resilience_tower::retry::RetryService;
/// use tower::service_fn;
///
/// let policy = RetryPolicy::builder(Backoff::constant(Duration::from_millis(10))).build().unwrap();
/// let svc = RetryService::new(service_fn(|x: u32| async move { Ok::<_, tower::BoxError>(x) }), policy);
/// assert_eq!(svc.policy().max_attempts(), 3);
/// ```
#[derive(Debug)]
pub struct RetryService<
    S,
    C = DefaultRetryClassifier,
    K = CloneAll,
    I = PolicyIdempotency,
    H = NoRetryHook,
> {
    inner: S,
    shared: Arc<Shared<C, K, I, H>>,
}

impl<S> RetryService<S> {
    /// Wraps `inner` with `policy` and the defaults of
    /// [`RetryLayer::new`](super::RetryLayer::new).
    pub fn new(inner: S, policy: impl Into<Arc<RetryPolicy>>) -> Self {
        RetryService::from_shared(
            inner,
            Arc::new(Shared::new(
                policy.into(),
                DefaultRetryClassifier,
                CloneAll,
                PolicyIdempotency,
                NoRetryHook,
            )),
        )
    }
}

impl<S, C, K, I, H> RetryService<S, C, K, I, H> {
    pub(crate) fn from_shared(inner: S, shared: Arc<Shared<C, K, I, H>>) -> Self {
        RetryService { inner, shared }
    }

    /// The policy.
    pub fn policy(&self) -> &Arc<RetryPolicy> {
        &self.shared.policy_arc
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

impl<S: Clone, C, K, I, H> Clone for RetryService<S, C, K, I, H> {
    fn clone(&self) -> Self {
        RetryService {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S, Req, C, K, I, H> Service<Req> for RetryService<S, C, K, I, H>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    C: RetryClassify<S::Response>,
    K: CloneRequest<Req>,
    I: RequestIdempotency<Req>,
    H: RetryHook<Req, S::Response>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, Req, C, K, I, H>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline(always)]
    fn call(&mut self, req: Req) -> Self::Future {
        let (future, retries) = start(&self.shared, &mut self.inner, req);
        ResponseFuture::new(future, retries)
    }
}

/// A started call: its first attempt's future and what its retries need.
pub(crate) type Started<S, Req, C, K, I, H> =
    (<S as Service<Req>>::Future, Retries<S, Req, C, K, I, H>);

/// Starts a retried call: its first attempt on `inner` (which was polled
/// ready), and what its retries need. Shared by [`RetryService`] and the
/// stack's optional retry.
#[inline(always)]
pub(crate) fn start<S, Req, C, K, I, H>(
    shared: &Arc<Shared<C, K, I, H>>,
    inner: &mut S,
    req: Req,
) -> Started<S, Req, C, K, I, H>
where
    S: Service<Req> + Clone,
    K: CloneRequest<Req>,
    I: RequestIdempotency<Req>,
{
    let policy = &shared.policy;
    // The policy reads a call's start time only to enforce its deadline;
    // without one, skip the clock read (the costliest part of the success
    // path on many machines) and start from the service's creation time
    // instead.
    let now = if policy.deadline().is_some() {
        super::now()
    } else {
        shared.created
    };
    let retry = match shared.idempotency.idempotency(&req) {
        Some(idempotency) => policy.start_with(now, idempotency),
        None => policy.start(now),
    };
    // A copy for the second attempt, unless there can be none.
    let request = if shared.retries {
        shared.cloner.clone_request(&req)
    } else {
        None
    };
    // Call the service that was polled ready; keep a fresh clone in its
    // place for the caller's next `poll_ready` (tower's retry does the
    // same).
    let fresh = inner.clone();
    let mut service = std::mem::replace(inner, fresh);
    let future = service.call(req);
    let retries = Retries {
        service,
        request,
        shared: shared.clone(),
        retry,
    };
    (future, retries)
}
