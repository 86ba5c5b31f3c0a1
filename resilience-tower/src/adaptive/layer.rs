use std::sync::Arc;

use resilience_core::config::ConfigError;
use tower_layer::Layer;

use super::service::Measured;
use super::{AdaptiveConcurrencyService, AdaptiveConfig, AdaptiveLimiter};
use crate::classify::ErrorIsFailure;

/// Applies an [`AdaptiveLimiter`] to a service. Services made by one layer
/// share its limiter.
///
/// The classifier decides which results are *drops* (the overload signal
/// that shrinks the limit): [`Outcome::Failure`] is a drop,
/// [`Outcome::Success`] a plain sample, [`Outcome::Ignored`] no sample at
/// all. The default counts every `Err` as a drop; count only timeouts and
/// overload answers when other errors are the caller's fault.
///
/// [`Outcome::Failure`]: resilience_core::circuit_breaker::Outcome::Failure
/// [`Outcome::Success`]: resilience_core::circuit_breaker::Outcome::Success
/// [`Outcome::Ignored`]: resilience_core::circuit_breaker::Outcome::Ignored
///
/// ```
/// use resilience_core::circuit_breaker::Outcome;
/// use resilience_tower::adaptive::{AdaptiveConcurrencyLayer, AdaptiveConfig};
///
/// #[derive(Debug)]
/// enum ApiError { Timeout, Overloaded, NotFound }
///
/// let layer = AdaptiveConcurrencyLayer::from_config(AdaptiveConfig::default())
///     .unwrap()
///     .with_classifier(|r: &Result<String, ApiError>| match r {
///         Ok(_) => Outcome::Success,
///         Err(ApiError::Timeout | ApiError::Overloaded) => Outcome::Failure,
///         Err(ApiError::NotFound) => Outcome::Ignored,
///     });
/// assert_eq!(layer.limiter().limit(), 20);
/// ```
#[derive(Debug, Clone)]
pub struct AdaptiveConcurrencyLayer<C = ErrorIsFailure> {
    limiter: Arc<AdaptiveLimiter>,
    classifier: C,
}

impl AdaptiveConcurrencyLayer {
    /// A layer using `limiter`, counting every `Err` as a drop.
    pub fn new(limiter: Arc<AdaptiveLimiter>) -> Self {
        AdaptiveConcurrencyLayer {
            limiter,
            classifier: ErrorIsFailure,
        }
    }

    /// A layer with a new limiter built from `config`.
    ///
    /// ```
    /// use resilience_tower::adaptive::{AdaptiveConcurrencyLayer, AdaptiveConfig};
    /// let mut config = AdaptiveConfig::default();
    /// config.name = String::new();
    /// assert_eq!(AdaptiveConcurrencyLayer::from_config(config).unwrap_err().field(), Some("name"));
    /// ```
    pub fn from_config(config: AdaptiveConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(AdaptiveLimiter::new(config)?))
    }
}

impl<C> AdaptiveConcurrencyLayer<C> {
    /// Uses `classifier` to decide which results are drops.
    pub fn with_classifier<C2>(self, classifier: C2) -> AdaptiveConcurrencyLayer<C2> {
        AdaptiveConcurrencyLayer {
            limiter: self.limiter,
            classifier,
        }
    }

    /// The limiter.
    pub fn limiter(&self) -> &Arc<AdaptiveLimiter> {
        &self.limiter
    }
}

impl<S, C: Clone> Layer<S> for AdaptiveConcurrencyLayer<C> {
    type Service = AdaptiveConcurrencyService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        AdaptiveConcurrencyService::new(Measured::new(
            inner,
            self.limiter.clone(),
            self.classifier.clone(),
        ))
    }
}
