use std::fmt;

use resilience_core::degradation::DegradationManager;
use tower_layer::Layer;

use super::DegradationService;

/// Requests whose feature is disabled are rejected with
/// [`FeatureDisabled`](super::FeatureDisabled) (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct Reject;

/// Requests whose feature is disabled go to this alternative service
/// instead (a cache, a simpler model, a queue).
#[derive(Debug, Clone)]
pub struct Reroute<A>(pub(super) A);

/// Gates requests by feature on a [`DegradationManager`]: a request whose
/// feature is disabled at the current level is rejected, or rerouted to an
/// alternative service.
///
/// `extract` gives the request's feature as a [`FeatureId`] resolved once
/// at start-up with [`DegradationManager::feature`], or `None` for a
/// request that no feature gates (any `Fn(&Req) -> FeatureId` or
/// `Fn(&Req) -> Option<FeatureId>`). The check is the manager's lock-free
/// read: an atomic load and a table lookup.
///
/// [`FeatureId`]: resilience_core::degradation::FeatureId
///
/// ```
/// use std::sync::Arc;
/// use resilience_core::degradation::{ComponentHealth, DegradationConfig, DegradationManager};
/// use resilience_tower::degradation::DegradationLayer;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// enum Job { Diffusion, Ctgan }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let m = DegradationManager::new(resilience_core::presets::synthetic_data::degradation().unwrap()).unwrap();
/// let diffusion = m.feature("diffusion_models").unwrap();
/// let layer = DegradationLayer::new(m.clone(), move |j: &Job| match j {
///     Job::Diffusion => Some(diffusion),
///     Job::Ctgan => None, // always allowed
/// });
/// let svc = layer.layer(service_fn(|_: Job| async { Ok::<_, tower::BoxError>("generated") }));
/// // GPUs and the quality service fail: level 2, diffusion models off.
/// m.report_by_name("gpu_cluster", ComponentHealth::Down).unwrap();
/// m.report_by_name("quality_service", ComponentHealth::Down).unwrap();
/// assert!(svc.clone().oneshot(Job::Diffusion).await.is_err());
/// assert_eq!(svc.oneshot(Job::Ctgan).await.unwrap(), "generated");
/// # }
/// ```
#[derive(Clone)]
pub struct DegradationLayer<X, A = Reject> {
    manager: DegradationManager,
    extract: X,
    alternative: A,
}

impl<X, A: fmt::Debug> fmt::Debug for DegradationLayer<X, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DegradationLayer")
            .field("manager", &self.manager.name())
            .field("alternative", &self.alternative)
            .finish_non_exhaustive()
    }
}

impl<X> DegradationLayer<X, Reject> {
    /// Gates requests on `manager`, with `extract` giving each request's
    /// feature; disabled requests are rejected.
    pub fn new(manager: impl Into<DegradationManager>, extract: X) -> Self {
        let manager = manager.into();
        DegradationLayer {
            manager,
            extract,
            alternative: Reject,
        }
    }

    /// Sends requests whose feature is disabled to `alternative` instead of
    /// rejecting them. The alternative must answer with the inner service's
    /// response type; it is cloned per rerouted request and driven ready
    /// then called (so its readiness is never held while unused).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use resilience_core::degradation::{DegradationConfig, DegradationManager};
    /// use resilience_tower::degradation::DegradationLayer;
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let m = DegradationManager::new(resilience_core::presets::workflow_runtime::degradation().unwrap()).unwrap();
    /// let ai = m.feature("ai_query").unwrap();
    /// let manual = service_fn(|q: String| async move { Ok::<_, tower::BoxError>(format!("manual: {q}")) });
    /// let svc = DegradationLayer::new(m.clone(), move |_: &String| ai)
    ///     .reroute(manual)
    ///     .layer(service_fn(|q: String| async move { Ok::<_, tower::BoxError>(format!("ai: {q}")) }));
    /// assert_eq!(svc.clone().oneshot("top users".into()).await.unwrap(), "ai: top users");
    /// m.set_manual_floor(Some("ai_degraded")).unwrap();
    /// assert_eq!(svc.oneshot("top users".into()).await.unwrap(), "manual: top users");
    /// # }
    /// ```
    pub fn reroute<A>(self, alternative: A) -> DegradationLayer<X, Reroute<A>> {
        DegradationLayer {
            manager: self.manager,
            extract: self.extract,
            alternative: Reroute(alternative),
        }
    }
}

impl<X, A> DegradationLayer<X, A> {
    /// The degradation manager.
    pub fn manager(&self) -> &DegradationManager {
        &self.manager
    }
}

impl<S, X: Clone, A: Clone> Layer<S> for DegradationLayer<X, A> {
    type Service = DegradationService<S, X, A>;

    fn layer(&self, inner: S) -> Self::Service {
        DegradationService::new(
            inner,
            self.manager.clone(),
            self.extract.clone(),
            self.alternative.clone(),
        )
    }
}
