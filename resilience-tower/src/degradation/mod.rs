//! A tower layer that enforces the degradation level: requests for
//! features disabled at the current level are refused at the door (or sent
//! to a degraded alternative), before they reach a struggling dependency.
//!
//! The level comes from a core
//! [`DegradationManager`]
//! (component health, rules, hysteresis, feature x level matrix): the
//! layer only reads it. Each request's feature is given by an extractor
//! closure returning a [`FeatureId`]
//! resolved once at start-up (or `None` for requests no feature gates), so
//! the per-request check is the manager's hot path: one atomic load and a
//! table read, no lock, no allocation.
//!
//! * **Reject** (the default): a disabled request fails with
//!   [`FeatureDisabled`], which names the feature, the level, the manager
//!   and the feature's mode at that level, boxed into [`tower::BoxError`]
//!   (downcastable; map it to a `503` with axum's `HandleErrorLayer`). The
//!   inner service is not called.
//! * **Reroute** ([`DegradationLayer::reroute`]): a disabled request goes
//!   to an alternative service with the same response type (a cache, a
//!   statistical model instead of an LLM, a write queue).
//!
//! ```
//! use std::sync::Arc;
//! use resilience_core::degradation::{ComponentHealth, DegradationConfig, DegradationManager};
//! use resilience_tower::degradation::{DegradationLayer, FeatureDisabled};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! struct Request { path: &'static str }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let manager = DegradationManager::new(resilience_core::presets::workflow_runtime::degradation().unwrap()).unwrap();
//! // Resolve the features once.
//! let (ai, writes) = (manager.feature("ai_query").unwrap(), manager.feature("writes").unwrap());
//! let svc = DegradationLayer::new(manager.clone(), move |r: &Request| match r.path {
//!     "/ai/query" => Some(ai),
//!     "/rows/insert" => Some(writes),
//!     _ => None,
//! })
//! .layer(service_fn(|r: Request| async move { Ok::<_, tower::BoxError>(r.path) }));
//!
//! // The LLM circuit opens: AI features go off, writes stay on.
//! manager.report_by_name("llm_service", ComponentHealth::Down).unwrap();
//! let err = svc.clone().oneshot(Request { path: "/ai/query" }).await.unwrap_err();
//! let off = err.downcast_ref::<FeatureDisabled>().unwrap();
//! assert_eq!((off.feature(), off.level().name()), ("ai_query", "ai_degraded"));
//! assert_eq!(svc.clone().oneshot(Request { path: "/rows/insert" }).await.unwrap(), "/rows/insert");
//! assert_eq!(svc.oneshot(Request { path: "/health" }).await.unwrap(), "/health");
//! # }
//! ```
//!
//! # Metrics
//!
//! Counted on the refusal path only (the pass path records nothing); the
//! manager's own series (`resilience_degradation_level`, ...) are in
//! [`resilience_core::degradation`].
//!
//! | name | kind | labels | meaning |
//! |---|---|---|---|
//! | `resilience_degradation_rejected_total` | counter | `degradation`, `feature`, `level` | requests refused because their feature is disabled |
//! | `resilience_degradation_rerouted_total` | counter | `degradation`, `feature`, `level` | requests sent to the alternative service instead |
//!
//! With the `tracing` feature every refusal is also a `debug` event.

mod error;
mod future;
mod layer;
mod service;

pub use self::error::{FeatureDisabled, UnknownFeature};
pub use self::future::ResponseFuture;
pub use self::layer::{DegradationLayer, Reject, Reroute};
pub use self::service::{DegradationService, RequestFeature};
pub use resilience_core::degradation::{DegradationManager, FeatureId};
