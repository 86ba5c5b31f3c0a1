use std::fmt;
use std::sync::Arc;

use metrics::Counter;
use tower::util::BoxCloneSyncService;
use tower::{BoxError, ServiceExt};
use tower_layer::Layer;
use tower_service::Service;

use super::{FallbackService, Quality};
use crate::classify::ErrorIsFailure;

pub(crate) struct Step<Req, Res> {
    pub(crate) name: Arc<str>,
    pub(crate) quality: Quality,
    pub(crate) service: BoxCloneSyncService<Req, Res, BoxError>,
    pub(crate) served: Counter,
}

impl<Req, Res> Clone for Step<Req, Res> {
    fn clone(&self) -> Self {
        Step {
            name: self.name.clone(),
            quality: self.quality.clone(),
            service: self.service.clone(),
            served: self.served.clone(),
        }
    }
}

pub(crate) struct Chain<Req, Res> {
    pub(crate) primary: Arc<str>,
    pub(crate) primary_served: Counter,
    pub(crate) exhausted: Counter,
    pub(crate) steps: Vec<Step<Req, Res>>,
}

impl<Req, Res> Clone for Chain<Req, Res> {
    fn clone(&self) -> Self {
        Chain {
            primary: self.primary.clone(),
            primary_served: self.primary_served.clone(),
            exhausted: self.exhausted.clone(),
            steps: self.steps.clone(),
        }
    }
}

/// Builds a fallback chain around a primary service. See the
/// [module docs](super).
///
/// ```
/// use resilience_tower::fallback::FallbackLayer;
/// use tower::{service_fn, BoxError};
///
/// // The registry chapter's dependency graph: graph DB → cache (stale) →
/// // empty result with a warning.
/// let layer = FallbackLayer::<String, Vec<String>>::new("graph_db")
///     .or_stale("cache", service_fn(|pkg: String| async move { Ok::<_, BoxError>(vec![format!("{pkg}-dep")]) }))
///     .or_degraded(
///         "empty",
///         "dependency graph temporarily unavailable",
///         service_fn(|_: String| async { Ok::<_, BoxError>(Vec::new()) }),
///     );
/// assert_eq!(layer.len(), 2);
/// ```
pub struct FallbackLayer<Req, Res, C = ErrorIsFailure> {
    chain: Arc<Chain<Req, Res>>,
    classifier: C,
}

impl<Req, Res> FallbackLayer<Req, Res>
where
    Req: Send + 'static,
    Res: Send + 'static,
{
    /// A chain whose primary (the service the layer wraps) is called `name`.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        let primary: Arc<str> = name.into();
        FallbackLayer {
            chain: Arc::new(Chain {
                primary_served: served_counter(&primary, &primary),
                exhausted: metrics::counter!(
                    "resilience_fallback_exhausted_total",
                    "chain" => primary.to_string()
                ),
                primary,
                steps: Vec::new(),
            }),
            classifier: ErrorIsFailure,
        }
    }
}

fn served_counter(chain: &str, step: &str) -> Counter {
    metrics::counter!(
        "resilience_fallback_served_total",
        "chain" => chain.to_string(),
        "step" => step.to_string()
    )
}

impl<Req, Res, C> FallbackLayer<Req, Res, C>
where
    Req: Send + 'static,
    Res: Send + 'static,
{
    fn push<S>(mut self, name: impl Into<Arc<str>>, quality: Quality, service: S) -> Self
    where
        S: Service<Req, Response = Res> + Clone + Send + Sync + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        let name: Arc<str> = name.into();
        let chain = Arc::make_mut(&mut self.chain);
        chain.steps.push(Step {
            served: served_counter(&chain.primary, &name),
            name,
            quality,
            service: BoxCloneSyncService::new(service.map_err(Into::into)),
        });
        self
    }

    /// Adds an alternative as good as the primary.
    pub fn or<S>(self, name: impl Into<Arc<str>>, service: S) -> Self
    where
        S: Service<Req, Response = Res> + Clone + Send + Sync + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        self.push(name, Quality::Fresh, service)
    }

    /// Adds an alternative whose answers may be out of date.
    pub fn or_stale<S>(self, name: impl Into<Arc<str>>, service: S) -> Self
    where
        S: Service<Req, Response = Res> + Clone + Send + Sync + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        self.push(name, Quality::Stale, service)
    }

    /// Adds a placeholder alternative whose answers carry `warning`.
    pub fn or_degraded<S>(
        self,
        name: impl Into<Arc<str>>,
        warning: impl Into<Arc<str>>,
        service: S,
    ) -> Self
    where
        S: Service<Req, Response = Res> + Clone + Send + Sync + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        self.push(
            name,
            Quality::Degraded {
                warning: warning.into(),
            },
            service,
        )
    }

    /// Decides which results move on to the next step (default: any `Err`).
    /// The classifier sees every step's result with the error boxed.
    pub fn with_classifier<C2>(self, classifier: C2) -> FallbackLayer<Req, Res, C2> {
        FallbackLayer {
            chain: self.chain,
            classifier,
        }
    }

    /// Number of alternatives.
    pub fn len(&self) -> usize {
        self.chain.steps.len()
    }

    /// Whether there is no alternative.
    pub fn is_empty(&self) -> bool {
        self.chain.steps.is_empty()
    }
}

impl<Req, Res, C: fmt::Debug> fmt::Debug for FallbackLayer<Req, Res, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let steps: Vec<&str> = self.chain.steps.iter().map(|s| &*s.name).collect();
        f.debug_struct("FallbackLayer")
            .field("primary", &self.chain.primary)
            .field("steps", &steps)
            .field("classifier", &self.classifier)
            .finish()
    }
}

impl<Req, Res, C: Clone> Clone for FallbackLayer<Req, Res, C> {
    fn clone(&self) -> Self {
        FallbackLayer {
            chain: self.chain.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

impl<S, Req, Res, C: Clone> Layer<S> for FallbackLayer<Req, Res, C> {
    type Service = FallbackService<S, Req, Res, C>;

    fn layer(&self, inner: S) -> Self::Service {
        FallbackService::new(inner, self.chain.clone(), self.classifier.clone())
    }
}
