//! A tower layer that puts a [`CircuitBreaker`] in front of a service.
//!
//! Every call asks the breaker for a permit. When the breaker is open the
//! inner service is **not called**: the response future resolves at once to
//! a [`CircuitOpen`] error (boxed into [`tower::BoxError`], so axum's
//! `HandleErrorLayer` and `downcast_ref::<CircuitOpen>()` both work), which
//! carries `retry_after`. Otherwise the call goes through and its result is
//! classified ([`ClassifyOutcome`](crate::classify::ClassifyOutcome); by default `Err` is a
//! failure) and recorded.
//!
//! The permit is taken in `call`, not in `poll_ready`: a permit is never held
//! while the inner service is not ready, so a slow-to-be-ready service cannot
//! pin half-open trial slots. A response future that is dropped before it
//! completes (a cancelled request) records nothing and gives a half-open
//! trial slot back.
//!
//! ```
//! use std::time::Duration;
//! use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitOpen};
//! use resilience_tower::circuit_breaker::CircuitBreakerLayer;
//! use tower::{service_fn, Layer, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let breaker = CircuitBreaker::new(CircuitBreakerConfig::new().consecutive_failures(2)).unwrap();
//! let mut svc = CircuitBreakerLayer::new(breaker.clone())
//!     .layer(service_fn(|fail: bool| async move { if fail { Err("boom") } else { Ok("ok") } }));
//!
//! assert_eq!(svc.ready().await.unwrap().call(false).await.unwrap(), "ok");
//! for _ in 0..2 {
//!     assert!(svc.ready().await.unwrap().call(true).await.is_err());
//! }
//! let err = svc.ready().await.unwrap().call(false).await.unwrap_err();
//! let open = err.downcast_ref::<CircuitOpen>().expect("rejected by the breaker");
//! assert!(open.retry_after() <= Duration::from_secs(30));
//! # }
//! ```
//!
//! Keyed mode ([`KeyedCircuitBreakerLayer`]) picks a breaker per request from
//! a [`CircuitBreakerRegistry`](resilience_core::circuit_breaker::CircuitBreakerRegistry)
//! by a key extracted from the request (model name, worker id, region,
//! host), with the registry's optional global breaker checked first. The
//! extractor is a [`KeyExtractor`]: a closure (use
//! [`KeyedCircuitBreakerLayer::for_requests`] to have its types inferred) or
//! your own nameable type.

mod future;
mod keyed;
mod layer;
mod service;

pub use self::future::{
    GuardedFuture, IntoRejection, KeyedResponseFuture, RecordOutcome, ResponseFuture,
};
pub use self::keyed::{KeyExtractor, KeyedCircuitBreakerLayer, KeyedCircuitBreakerService};
pub use self::layer::CircuitBreakerLayer;
pub use self::service::CircuitBreakerService;
pub use resilience_core::circuit_breaker::{CircuitBreaker, CircuitOpen, Outcome};
