use resilience_core::circuit_breaker::CircuitBreaker;
use tower_layer::Layer;

use super::CircuitBreakerService;
use crate::classify::ErrorIsFailure;

/// Applies a [`CircuitBreaker`] to a service. Services made by one layer
/// share its breaker.
///
/// ```
/// use resilience_core::circuit_breaker::{CircuitBreaker, Outcome};
/// use resilience_core::presets;
/// use resilience_tower::circuit_breaker::CircuitBreakerLayer;
///
/// let breaker = CircuitBreaker::new(presets::synthetic_data::object_storage_breaker()).unwrap();
/// // Count only timeouts as failures; other errors are the caller's.
/// let layer = CircuitBreakerLayer::new(breaker).with_classifier(|r: &Result<Vec<u8>, std::io::Error>| match r {
///     Ok(_) => Outcome::Success,
///     Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Outcome::Failure,
///     Err(_) => Outcome::Ignored,
/// });
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct CircuitBreakerLayer<C = ErrorIsFailure> {
    breaker: CircuitBreaker,
    classifier: C,
}

impl CircuitBreakerLayer {
    /// A layer using `breaker`, counting `Err` as failure.
    pub fn new(breaker: CircuitBreaker) -> Self {
        CircuitBreakerLayer {
            breaker,
            classifier: ErrorIsFailure,
        }
    }
}

impl<C> CircuitBreakerLayer<C> {
    /// Uses `classifier` to decide each result's outcome.
    pub fn with_classifier<C2>(self, classifier: C2) -> CircuitBreakerLayer<C2> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classifier,
        }
    }

    /// The breaker.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }
}

impl<S, C: Clone> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreakerService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService::new(inner, self.breaker.clone(), self.classifier.clone())
    }
}
