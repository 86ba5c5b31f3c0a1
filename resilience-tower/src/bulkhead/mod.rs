//! Tower layers that bound how many calls run at once: one
//! [`Bulkhead`] ([`BulkheadLayer`]), or
//! named pools of a [`BulkheadSet`]
//! chosen per request ([`BulkheadSetLayer`]).
//!
//! A slow dependency, or a flood of one kind of traffic, otherwise takes
//! every connection and task the host has. A call that finds the bulkhead
//! full queues for at most the bulkhead's `max_wait` (on tokio's clock) and
//! is then turned away with the core's
//! [`BulkheadFull`], boxed into
//! [`tower::BoxError`] (`downcast_ref::<BulkheadFull>()` finds it, axum's
//! `HandleErrorLayer` accepts it). A rejected call never reached the inner
//! service: it is always safe to retry or fall back.
//!
//! # Where the permit is taken
//!
//! `poll_ready` is the inner service's own, and the permit is taken in
//! `call`, after the inner service is ready. So a permit is **never held
//! while the inner service is unready** (a service stuck on back-pressure
//! cannot pin bulkhead slots it is not using), and readiness does not
//! depend on the bulkhead (a full bulkhead rejects or queues the call
//! instead of stalling the caller's `ready()`, which would make `max_wait`
//! meaningless). Then:
//!
//! * **a permit is free** (the hot path): the inner service is called at
//!   once and the permit travels in the response future until the inner
//!   future completes (or the response future is dropped). One
//!   compare-and-swap, one `Arc` clone, no allocation, no clock read;
//! * **full, `max_wait` zero**: rejected at once; the inner service is not
//!   called and keeps its readiness for the next request;
//! * **full, the caller may wait**: the ready inner service moves into the
//!   response future together with the request (a clone takes its place in
//!   the service, to be driven ready by the next `poll_ready`, which is why
//!   the inner service must be `Clone`: every axum / hyper service is). The
//!   response future queues for the permit and calls the service only once
//!   it holds one. Work never starts without a permit, even for services
//!   whose `call` starts work eagerly. This path allocates once per queued
//!   call (the wait, the service and the request are boxed), which keeps
//!   the response future of the hot path small.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use resilience_core::bulkhead::{Bulkhead, BulkheadConfig, BulkheadFull};
//! use resilience_tower::bulkhead::BulkheadLayer;
//! use tower::{service_fn, Layer, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let db = Bulkhead::new("db", BulkheadConfig::new(1).max_wait(Duration::from_millis(100))).unwrap();
//! let svc = BulkheadLayer::new(db.clone()).layer(service_fn(|ms: u64| async move {
//!     tokio::time::sleep(Duration::from_millis(ms)).await;
//!     Ok::<_, tower::BoxError>(ms)
//! }));
//! let slow = tokio::spawn(svc.clone().oneshot(1_000)); // takes the only permit for 1 s
//! tokio::task::yield_now().await;
//! let err = svc.clone().oneshot(1).await.unwrap_err(); // waits 100 ms, then gives up
//! let full = err.downcast_ref::<BulkheadFull>().unwrap();
//! assert!(full.is_timeout());
//! assert_eq!(slow.await.unwrap().unwrap(), 1_000);
//! assert_eq!(svc.oneshot(1).await.unwrap(), 1);
//! # }
//! ```
//!
//! # Metrics
//!
//! The layers add no series of their own: the bulkheads they use publish
//! the core's (label `bulkhead` = pool name), registered when the bulkhead
//! is built.
//!
//! | name | kind | labels | meaning |
//! |---|---|---|---|
//! | `resilience_bulkhead_in_flight` | gauge | `bulkhead` | calls holding a permit |
//! | `resilience_bulkhead_max_concurrent` | gauge | `bulkhead` | the current limit |
//! | `resilience_bulkhead_waiting` | gauge | `bulkhead` | calls queued for a permit |
//! | `resilience_bulkhead_rejected_total` | counter | `bulkhead`, `reason` | rejected calls (`full`, `queue_full`, `timed_out`, `shed`); a call that queues and is then admitted is not counted |
//! | `resilience_bulkhead_wait_seconds` | histogram | `bulkhead` | time queued by calls that waited and were admitted |
//!
//! A request routed to a pool the set does not have fails with
//! [`UnknownPool`] and is not counted in these series.

mod future;
mod layer;
mod service;
mod set;

pub(crate) use self::future::start;
pub use self::future::ResponseFuture;
pub use self::layer::BulkheadLayer;
pub use self::service::BulkheadService;
pub use self::set::{
    BulkheadSetLayer, BulkheadSetService, ById, ByName, PoolId, Pools, Route, UnknownPool,
};
pub use resilience_core::bulkhead::{
    Bulkhead, BulkheadConfig, BulkheadFull, BulkheadSet, BulkheadSetConfig, Priority, RejectReason,
};
