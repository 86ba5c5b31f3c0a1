//! Rate limiting as a tower layer: at most `rate` calls per `per` reach the
//! service; the others are refused at once with
//! [`RateLimited`] (and its `retry_after`), without waiting and without
//! calling the service.
//!
//! The limiter is any [`RateLimit`]: the local lock-free
//! [`RateLimiter`] (the default), or a fleet-wide one whose permits are
//! shared by every replica (`resilience_store::fleet::FleetRateLimiter`).
//! [`ErrorKind::of`](crate::error::ErrorKind::of) reports the refusal as
//! [`RateLimited { retry_after }`](crate::error::ErrorKind::RateLimited),
//! answered over HTTP with `429 Too Many Requests` and a `Retry-After` header.
//!
//! ```
//! use std::time::Duration;
//! use resilience_core::rate_limit::{RateLimited, RateLimiterConfig};
//! use resilience_tower::rate_limit::RateLimitLayer;
//! use tower::{service_fn, BoxError, Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let layer = RateLimitLayer::from_config(RateLimiterConfig::per_second(2).name("geocoder"))?;
//! let mut svc = ServiceBuilder::new()
//!     .layer(layer)
//!     .service(service_fn(|q: &'static str| async move { Ok::<_, BoxError>(q.len()) }));
//! assert_eq!(svc.ready().await?.call("paris").await?, 5);
//! assert_eq!(svc.ready().await?.call("rome").await?, 4);
//! let refused = svc.ready().await?.call("oslo").await.unwrap_err();
//! let limited = refused.downcast_ref::<RateLimited>().expect("refused by the limiter");
//! assert!(limited.retry_after() <= Duration::from_millis(500));
//! # Ok(())
//! # }
//! ```
//!
//! # Waiting
//!
//! The layer never waits for a permit. Waiting inside a tower service
//! either holds a clone of the inner service per waiting call or starts
//! the inner call before it may run; both cost more than the refusal they
//! replace. A caller that prefers to wait has the exact time in
//! `retry_after`, and a [`RetryLayer`](crate::retry::RetryLayer) around
//! this one retries `rate_limited` after at least `retry_after`, within
//! its deadline.
//!
//! # Metrics
//!
//! The limiter's own (`resilience_rate_limit_*`, see
//! `resilience_core::rate_limit`); the layer adds none.

mod future;
mod layer;
mod service;

pub use self::future::ResponseFuture;
pub use self::layer::RateLimitLayer;
pub(crate) use self::service::check;
pub use self::service::RateLimitService;
pub use resilience_core::rate_limit::{RateLimit, RateLimited, RateLimiter, RateLimiterConfig};
