use std::fmt::{self, Display};
use std::hash::Hash;
use std::sync::Arc;
use std::task::{Context, Poll};

use resilience_core::circuit_breaker::CircuitBreakerRegistry;
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

use super::KeyedResponseFuture;
use crate::classify::{ClassifyOutcome, ErrorIsFailure};

/// Applies a breaker chosen per request from a [`CircuitBreakerRegistry`].
///
/// `extract` (a [`KeyExtractor`]: a closure `Fn(&Req) -> K` or your own
/// type) returns the request's key: keep it cheap to produce (an integer,
/// a `&'static str`, an `Arc<str>` clone) and the call path stays free of
/// allocations. When the registry has a global breaker it is asked first.
/// A registry that is full of breakers for failing dependencies rejects a
/// new key with [`RegistryFull`](resilience_core::circuit_breaker::RegistryFull).
///
/// ```
/// use std::sync::Arc;
/// use resilience_core::circuit_breaker::{CircuitBreakerRegistry, CircuitOpen};
/// use resilience_core::presets;
/// use resilience_tower::circuit_breaker::KeyedCircuitBreakerLayer;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// struct Inference { model: &'static str, prompt: String }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let registry = Arc::new(CircuitBreakerRegistry::<&'static str>::new(presets::gpu_inference::per_model_breaker()).unwrap());
/// let mut svc = KeyedCircuitBreakerLayer::new(registry.clone(), |r: &Inference| r.model).layer(service_fn(
///     |r: Inference| async move { if r.model == "sdxl" { Err("gpu error") } else { Ok(r.prompt) } },
/// ));
/// for _ in 0..5 {
///     let _ = svc.ready().await.unwrap().call(Inference { model: "sdxl", prompt: "cat".into() }).await;
/// }
/// let err = svc.ready().await.unwrap().call(Inference { model: "sdxl", prompt: "cat".into() }).await.unwrap_err();
/// assert!(err.downcast_ref::<CircuitOpen>().is_some());
/// let ok = svc.ready().await.unwrap().call(Inference { model: "flux", prompt: "dog".into() }).await;
/// assert_eq!(ok.unwrap(), "dog");
/// # }
/// ```
pub struct KeyedCircuitBreakerLayer<K, X, C = ErrorIsFailure> {
    registry: Arc<CircuitBreakerRegistry<K>>,
    extract: X,
    classifier: C,
}

impl<K, X> KeyedCircuitBreakerLayer<K, X> {
    /// A layer choosing breakers from `registry` by `extract(&request)`.
    ///
    /// A layer does not know its request type until it wraps a service, so a
    /// closure given here needs its parameter type written out
    /// (`|r: &Inference| r.model`); [`for_requests`](Self::for_requests)
    /// names the request type instead and lets the closure be inferred.
    pub fn new(registry: Arc<CircuitBreakerRegistry<K>>, extract: X) -> Self {
        KeyedCircuitBreakerLayer {
            registry,
            extract,
            classifier: ErrorIsFailure,
        }
    }

    /// A layer for requests of type `Req`, choosing breakers from
    /// `registry` by `extract(&request)`. Naming `Req` lets the compiler
    /// infer the closure's parameter and key types, so no annotations are
    /// needed inside it.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use resilience_core::circuit_breaker::CircuitBreakerRegistry;
    /// use resilience_core::presets;
    /// use resilience_tower::circuit_breaker::KeyedCircuitBreakerLayer;
    /// use tower::{service_fn, BoxError, ServiceBuilder, ServiceExt};
    ///
    /// struct Inference { model: &'static str, prompt: String }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let registry = Arc::new(CircuitBreakerRegistry::new(presets::gpu_inference::per_model_breaker()).unwrap());
    /// let svc = ServiceBuilder::new()
    ///     .layer(KeyedCircuitBreakerLayer::for_requests::<Inference>(registry.clone(), |r| r.model))
    ///     .service(service_fn(|r: Inference| async move { Ok::<_, BoxError>(r.prompt) }));
    /// let out = svc.oneshot(Inference { model: "flux", prompt: "a cat".into() }).await.unwrap();
    /// assert_eq!(out, "a cat");
    /// // the registry's key type (&str) was inferred from the closure too
    /// assert_eq!(registry.states().len(), 1);
    /// # }
    /// ```
    pub fn for_requests<Req>(registry: Arc<CircuitBreakerRegistry<K>>, extract: X) -> Self
    where
        X: Fn(&Req) -> K,
    {
        Self::new(registry, extract)
    }
}

impl<K, X, C> KeyedCircuitBreakerLayer<K, X, C> {
    /// Uses `classifier` to decide each result's outcome.
    pub fn with_classifier<C2>(self, classifier: C2) -> KeyedCircuitBreakerLayer<K, X, C2> {
        KeyedCircuitBreakerLayer {
            registry: self.registry,
            extract: self.extract,
            classifier,
        }
    }
}

impl<K, X: Clone, C: Clone> Clone for KeyedCircuitBreakerLayer<K, X, C> {
    fn clone(&self) -> Self {
        KeyedCircuitBreakerLayer {
            registry: self.registry.clone(),
            extract: self.extract.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

impl<K, X, C> fmt::Debug for KeyedCircuitBreakerLayer<K, X, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreakerLayer")
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl<S, K, X: Clone, C: Clone> Layer<S> for KeyedCircuitBreakerLayer<K, X, C> {
    type Service = KeyedCircuitBreakerService<S, K, X, C>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedCircuitBreakerService {
            inner,
            registry: self.registry.clone(),
            extract: self.extract.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

/// A service behind per-key breakers; made by [`KeyedCircuitBreakerLayer`].
pub struct KeyedCircuitBreakerService<S, K, X, C> {
    inner: S,
    registry: Arc<CircuitBreakerRegistry<K>>,
    extract: X,
    classifier: C,
}

impl<S: Clone, K, X: Clone, C: Clone> Clone for KeyedCircuitBreakerService<S, K, X, C> {
    fn clone(&self) -> Self {
        KeyedCircuitBreakerService {
            inner: self.inner.clone(),
            registry: self.registry.clone(),
            extract: self.extract.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

impl<S: fmt::Debug, K, X, C> fmt::Debug for KeyedCircuitBreakerService<S, K, X, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreakerService")
            .field("inner", &self.inner)
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl<S, K, X, C> KeyedCircuitBreakerService<S, K, X, C> {
    /// The registry.
    pub fn registry(&self) -> &Arc<CircuitBreakerRegistry<K>> {
        &self.registry
    }
}

impl<S, K, X, C, Req> Service<Req> for KeyedCircuitBreakerService<S, K, X, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    K: Hash + Eq + Clone + Display + Send + Sync + 'static,
    X: KeyExtractor<Req, Key = K>,
    C: ClassifyOutcome<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = KeyedResponseFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let key = self.extract.extract(&req);
        match self.registry.try_acquire(&key) {
            Ok(permit) => {
                KeyedResponseFuture::called(self.inner.call(req), permit, self.classifier.clone())
            }
            Err(rejection) => KeyedResponseFuture::rejected(rejection),
        }
    }
}

/// Picks the breaker key of a request for a [`KeyedCircuitBreakerLayer`].
///
/// Implemented for every closure or function `Fn(&Req) -> K`. Implement it
/// on your own type when the extractor must be nameable (a field or a type
/// alias; closure types have no name) or must serve several request types.
///
/// ```
/// use std::sync::Arc;
/// use resilience_core::circuit_breaker::CircuitBreakerRegistry;
/// use resilience_core::presets;
/// use resilience_tower::circuit_breaker::{KeyExtractor, KeyedCircuitBreakerLayer, KeyedCircuitBreakerService};
/// use resilience_tower::classify::ErrorIsFailure;
/// use tower::{service_fn, BoxError, Layer, ServiceExt};
///
/// struct Generate { model: &'static str }
/// struct Embed { model: &'static str, texts: usize }
///
/// /// One extractor for every request type that names a model.
/// #[derive(Debug, Clone, Copy)]
/// struct ByModel;
/// impl KeyExtractor<Generate> for ByModel {
///     type Key = &'static str;
///     fn extract(&self, r: &Generate) -> &'static str { r.model }
/// }
/// impl KeyExtractor<Embed> for ByModel {
///     type Key = &'static str;
///     fn extract(&self, r: &Embed) -> &'static str { r.model }
/// }
///
/// /// A nameable service type.
/// type PerModel<S> = KeyedCircuitBreakerService<S, &'static str, ByModel, ErrorIsFailure>;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let registry = Arc::new(CircuitBreakerRegistry::new(presets::gpu_inference::per_model_breaker()).unwrap());
/// let layer = KeyedCircuitBreakerLayer::new(registry.clone(), ByModel);
/// let embed: PerModel<_> = layer.layer(service_fn(|r: Embed| async move { Ok::<_, BoxError>(r.texts) }));
/// let generate = layer.layer(service_fn(|_: Generate| async { Ok::<_, BoxError>(()) }));
/// assert_eq!(embed.oneshot(Embed { model: "e5", texts: 3 }).await.unwrap(), 3);
/// generate.oneshot(Generate { model: "sdxl" }).await.unwrap();
/// assert_eq!(registry.len(), 2); // one breaker per model
/// assert_eq!(ByModel.extract(&Embed { model: "e5", texts: 0 }), "e5");
/// # }
/// ```
pub trait KeyExtractor<Req> {
    /// The key type (the registry's key).
    type Key;

    /// The key of `request`.
    fn extract(&self, request: &Req) -> Self::Key;
}

impl<Req, K, F> KeyExtractor<Req> for F
where
    F: Fn(&Req) -> K,
{
    type Key = K;

    #[inline]
    fn extract(&self, request: &Req) -> K {
        self(request)
    }
}
