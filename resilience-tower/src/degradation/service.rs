use std::fmt;
use std::future::Pending;
use std::sync::Arc;
use std::task::{Context, Poll};

use resilience_core::degradation::{DegradationManager, FeatureId};
use tower::util::Oneshot;
use tower::{BoxError, ServiceExt};
use tower_service::Service;

use super::{FeatureDisabled, Reject, Reroute, ResponseFuture, UnknownFeature};

/// What an extractor returns for a request: its feature, or `None` when no
/// feature gates it. Implemented for [`FeatureId`] and `Option<FeatureId>`.
///
/// ```
/// use resilience_tower::degradation::RequestFeature;
/// assert_eq!(None.feature(), None);
/// ```
pub trait RequestFeature {
    /// The feature gating the request, if any.
    fn feature(self) -> Option<FeatureId>;
}

impl RequestFeature for FeatureId {
    #[inline]
    fn feature(self) -> Option<FeatureId> {
        Some(self)
    }
}

impl RequestFeature for Option<FeatureId> {
    #[inline]
    fn feature(self) -> Option<FeatureId> {
        self
    }
}

/// A service gated by feature on a [`DegradationManager`]; made by
/// [`DegradationLayer`](super::DegradationLayer).
///
/// `poll_ready` is the inner service's. A rerouted request does not use
/// the inner service's readiness: it stays for the next request.
///
/// ```
/// use std::sync::Arc;
/// use resilience_core::degradation::{DegradationConfig, DegradationManager};
/// use resilience_tower::degradation::{DegradationService, Reject};
/// use tower::{service_fn, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let m = DegradationManager::new(resilience_core::presets::workflow_runtime::degradation().unwrap()).unwrap();
/// let reads = m.feature("reads").unwrap();
/// let mut svc = DegradationService::new(
///     service_fn(|k: u32| async move { Ok::<_, tower::BoxError>(k) }),
///     m.clone(),
///     move |_: &u32| reads,
///     Reject,
/// );
/// assert_eq!(svc.ready().await.unwrap().call(7).await.unwrap(), 7);
/// # }
/// ```
#[derive(Clone)]
pub struct DegradationService<S, X, A> {
    inner: S,
    manager: DegradationManager,
    extract: X,
    alternative: A,
}

impl<S: fmt::Debug, X, A: fmt::Debug> fmt::Debug for DegradationService<S, X, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DegradationService")
            .field("inner", &self.inner)
            .field("manager", &self.manager.name())
            .field("alternative", &self.alternative)
            .finish_non_exhaustive()
    }
}

impl<S, X, A> DegradationService<S, X, A> {
    /// Wraps `inner`; `alternative` is [`Reject`] or a [`Reroute`].
    pub fn new(
        inner: S,
        manager: impl Into<DegradationManager>,
        extract: X,
        alternative: A,
    ) -> Self {
        let manager = manager.into();
        DegradationService {
            inner,
            manager,
            extract,
            alternative,
        }
    }

    /// The degradation manager.
    pub fn manager(&self) -> &DegradationManager {
        &self.manager
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

/// Why a request may not go to the inner service.
pub(super) enum Refusal {
    Disabled(FeatureDisabled),
    Unknown(UnknownFeature),
}

impl Refusal {
    pub(super) fn into_error(self) -> BoxError {
        match self {
            Refusal::Disabled(e) => e.into(),
            Refusal::Unknown(e) => e.into(),
        }
    }
}

/// The hot path: `Ok` when the request may go to the inner service.
#[inline]
fn check(manager: &DegradationManager, feature: Option<FeatureId>) -> Result<(), Refusal> {
    match feature {
        None => Ok(()),
        Some(id) if manager.is_enabled(id) => Ok(()),
        Some(id) => Err(refuse(manager, id)),
    }
}

#[cold]
fn refuse(manager: &DegradationManager, id: FeatureId) -> Refusal {
    let Some(feature) = manager.matrix().name(id) else {
        return Refusal::Unknown(UnknownFeature {
            manager: manager.name().to_string(),
        });
    };
    let level = manager.level();
    let disabled = FeatureDisabled {
        manager: Arc::from(manager.name()),
        feature: Arc::from(feature),
        id,
        mode: manager
            .matrix()
            .mode_at(id, level.severity())
            .map(Arc::from),
        level,
    };
    Refusal::Disabled(disabled)
}

fn count(name: &'static str, d: &FeatureDisabled) {
    metrics::counter!(
        name,
        "degradation" => d.manager.to_string(),
        "feature" => d.feature.to_string(),
        "level" => d.level.name().to_string()
    )
    .increment(1);
    #[cfg(feature = "tracing")]
    tracing::debug!(
        degradation = %d.manager,
        feature = %d.feature,
        level = d.level.name(),
        action = if name.ends_with("rerouted_total") { "rerouted" } else { "rejected" },
        "request refused by degradation level"
    );
}

impl<S, X, F, Req> Service<Req> for DegradationService<S, X, Reject>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    X: Fn(&Req) -> F,
    F: RequestFeature,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, Pending<Result<S::Response, BoxError>>>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        match check(&self.manager, (self.extract)(&req).feature()) {
            Ok(()) => ResponseFuture::inner(self.inner.call(req)),
            Err(refusal) => {
                if let Refusal::Disabled(d) = &refusal {
                    count("resilience_degradation_rejected_total", d);
                }
                ResponseFuture::rejected(refusal.into_error())
            }
        }
    }
}

impl<S, X, F, A, Req> Service<Req> for DegradationService<S, X, Reroute<A>>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    X: Fn(&Req) -> F,
    F: RequestFeature,
    A: Service<Req, Response = S::Response> + Clone,
    A::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, Oneshot<A, Req>>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        match check(&self.manager, (self.extract)(&req).feature()) {
            Ok(()) => ResponseFuture::inner(self.inner.call(req)),
            Err(Refusal::Disabled(d)) => {
                count("resilience_degradation_rerouted_total", &d);
                ResponseFuture::rerouted(self.alternative.0.clone().oneshot(req))
            }
            Err(unknown) => ResponseFuture::rejected(unknown.into_error()),
        }
    }
}
