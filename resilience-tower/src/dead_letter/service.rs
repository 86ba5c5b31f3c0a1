use std::sync::Arc;
use std::task::{Context, Poll};

use tower::BoxError;
use tower_service::Service;

use super::layer::Shared;
use super::{DeadLetterTarget, DeadLetterWhen, ResponseFuture};

/// A service whose rejected work goes to a dead-letter sink; made by
/// [`DeadLetterLayer`](super::DeadLetterLayer).
///
/// ```
/// use std::sync::Arc;
/// use resilience_core::dead_letter::{DeadLetter, InMemoryDeadLetterQueue};
/// use resilience_tower::dead_letter::DeadLetterLayer;
/// use tower::{service_fn, Layer};
///
/// let queue = InMemoryDeadLetterQueue::<DeadLetter<u32>>::new("jobs", 100).unwrap();
/// let svc = DeadLetterLayer::new("jobs", queue).layer(service_fn(|x: u32| async move { Ok::<_, tower::BoxError>(x) }));
/// assert_eq!(svc.queue_name(), "jobs");
/// ```
#[derive(Debug)]
pub struct DeadLetterService<S, Q, W> {
    inner: S,
    shared: Arc<Shared<Q, W>>,
}

impl<S, Q, W> DeadLetterService<S, Q, W> {
    pub(crate) fn from_shared(inner: S, shared: Arc<Shared<Q, W>>) -> Self {
        DeadLetterService { inner, shared }
    }

    /// The queue's name.
    pub fn queue_name(&self) -> &str {
        &self.shared.name
    }

    /// The sink.
    pub fn sink(&self) -> &Q {
        &self.shared.sink
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

impl<S: Clone, Q, W> Clone for DeadLetterService<S, Q, W> {
    fn clone(&self) -> Self {
        DeadLetterService {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S, Req, Q, W> Service<Req> for DeadLetterService<S, Q, W>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    Req: Clone + Send + 'static,
    Q: DeadLetterTarget<Req>,
    W: DeadLetterWhen,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, Req, Q, W>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let copy = req.clone();
        ResponseFuture::new(self.inner.call(req), copy, self.shared.clone())
    }
}
