use resilience_core::bulkhead::{Bulkhead, BulkheadConfig};
use resilience_core::config::ConfigError;
use tower_layer::Layer;

use super::BulkheadService;

/// Applies a [`Bulkhead`] to a service. Services made by one layer share
/// its bulkhead, so the limit holds across clones (as axum and hyper clone
/// a service per connection).
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use resilience_core::bulkhead::{Bulkhead, BulkheadConfig};
/// use resilience_tower::bulkhead::BulkheadLayer;
/// use tower::ServiceBuilder;
///
/// let bulkhead = Bulkhead::new("search", BulkheadConfig::new(64).max_wait(Duration::from_millis(250))).unwrap();
/// let svc = ServiceBuilder::new()
///     .layer(BulkheadLayer::new(bulkhead.clone()))
///     .service(tower::service_fn(|q: String| async move { Ok::<_, tower::BoxError>(q.len()) }));
/// # let _ = svc;
/// // Or straight from a config:
/// let layer = BulkheadLayer::from_config("search", BulkheadConfig::new(64)).unwrap();
/// assert_eq!(layer.bulkhead().max_concurrent(), 64);
/// ```
#[derive(Debug, Clone)]
pub struct BulkheadLayer {
    bulkhead: Bulkhead,
}

impl BulkheadLayer {
    /// A layer using `bulkhead` (its limit, `max_wait`, queue bound,
    /// listeners and metrics). Takes a [`Bulkhead`] handle (or an
    /// `Arc<Bulkhead>`, the form before bulkheads were handles).
    pub fn new(bulkhead: impl Into<Bulkhead>) -> Self {
        BulkheadLayer {
            bulkhead: bulkhead.into(),
        }
    }

    /// A layer with a new bulkhead called `name`; the error names the bad
    /// field.
    ///
    /// ```
    /// use resilience_core::bulkhead::BulkheadConfig;
    /// use resilience_tower::bulkhead::BulkheadLayer;
    /// let err = BulkheadLayer::from_config("db", BulkheadConfig::new(0)).unwrap_err();
    /// assert_eq!(err.field(), Some("max_concurrent"));
    /// ```
    pub fn from_config(name: &str, config: BulkheadConfig) -> Result<Self, ConfigError> {
        Ok(BulkheadLayer::new(Bulkhead::new(name, config)?))
    }

    /// The bulkhead.
    pub fn bulkhead(&self) -> &Bulkhead {
        &self.bulkhead
    }
}

impl<S> Layer<S> for BulkheadLayer {
    type Service = BulkheadService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BulkheadService::new(inner, self.bulkhead.clone())
    }
}
