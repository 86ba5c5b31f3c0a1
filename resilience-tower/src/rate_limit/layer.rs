use resilience_core::clock::Clock;
use resilience_core::config::ConfigError;
use resilience_core::rate_limit::{RateLimit, RateLimiter, RateLimiterConfig};
use tower_layer::Layer;

use super::RateLimitService;

/// Refuses calls beyond the limiter's rate at once, with
/// [`RateLimited`](super::RateLimited); see the [module docs](super).
///
/// Services made by one layer share its limiter (`R` is a cheap-clone
/// handle: a [`RateLimiter`], an `Arc<dyn RateLimit>`, a fleet limiter).
///
/// ```
/// use std::sync::Arc;
/// use resilience_core::rate_limit::{RateLimit, RateLimiter, RateLimiterConfig};
/// use resilience_tower::rate_limit::RateLimitLayer;
///
/// let limiter = RateLimiter::new(RateLimiterConfig::per_second(100).burst(10))?;
/// let layer = RateLimitLayer::new(limiter.clone());
/// assert_eq!(layer.limiter().burst(), 10);
/// // Any `RateLimit` stands in, type-erased or not.
/// let erased: RateLimitLayer<Arc<dyn RateLimit>> = RateLimitLayer::new(Arc::new(limiter));
/// # let _ = erased;
/// # Ok::<(), resilience_core::config::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RateLimitLayer<R = RateLimiter> {
    limiter: R,
}

impl<R: RateLimit + Clone> RateLimitLayer<R> {
    /// A layer taking its permits from `limiter`.
    pub fn new(limiter: R) -> Self {
        RateLimitLayer { limiter }
    }

    /// The limiter.
    pub fn limiter(&self) -> &R {
        &self.limiter
    }
}

impl RateLimitLayer {
    /// A layer with a new local limiter built from `config` on the system
    /// clock.
    ///
    /// ```
    /// use resilience_core::rate_limit::RateLimiterConfig;
    /// use resilience_tower::rate_limit::RateLimitLayer;
    /// let err = RateLimitLayer::from_config(RateLimiterConfig::per_second(0)).unwrap_err();
    /// assert_eq!(err.field(), Some("rate"));
    /// ```
    pub fn from_config(config: RateLimiterConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(RateLimiter::new(config)?))
    }

    /// [`from_config`](Self::from_config) reading time from `clock`.
    pub fn from_config_with_clock(
        config: RateLimiterConfig,
        clock: impl Clock,
    ) -> Result<Self, ConfigError> {
        Ok(Self::new(RateLimiter::with_clock(config, clock)?))
    }
}

impl<S, R: RateLimit + Clone> Layer<S> for RateLimitLayer<R> {
    type Service = RateLimitService<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService::new(inner, self.limiter.clone())
    }
}
