use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower::BoxError;
use tower_service::Service;

use super::layer::Chain;
use super::{ResponseFuture, Served};
use crate::classify::ClassifyOutcome;

/// A service with fallbacks; made by [`FallbackLayer`](super::FallbackLayer).
pub struct FallbackService<S, Req, Res, C> {
    inner: S,
    chain: Arc<Chain<Req, Res>>,
    classifier: C,
}

impl<S, Req, Res, C> FallbackService<S, Req, Res, C> {
    pub(crate) fn new(inner: S, chain: Arc<Chain<Req, Res>>, classifier: C) -> Self {
        FallbackService {
            inner,
            chain,
            classifier,
        }
    }
}

impl<S: Clone, Req, Res, C: Clone> Clone for FallbackService<S, Req, Res, C> {
    fn clone(&self) -> Self {
        FallbackService {
            inner: self.inner.clone(),
            chain: self.chain.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

impl<S: fmt::Debug, Req, Res, C> fmt::Debug for FallbackService<S, Req, Res, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackService")
            .field("inner", &self.inner)
            .field("primary", &self.chain.primary)
            .field("steps", &self.chain.steps.len())
            .finish()
    }
}

impl<S, Req, Res, C> Service<Req> for FallbackService<S, Req, Res, C>
where
    S: Service<Req, Response = Res>,
    S::Error: Into<BoxError>,
    Req: Clone + Send + 'static,
    Res: Send + 'static,
    C: ClassifyOutcome<Res, BoxError> + Clone,
{
    type Response = Served<Res>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, Req, Res, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        // Keep a copy for the alternatives only when there are any.
        let keep = (!self.chain.steps.is_empty()).then(|| req.clone());
        let future = self.inner.call(req);
        ResponseFuture::new(future, keep, self.chain.clone(), self.classifier.clone())
    }
}
