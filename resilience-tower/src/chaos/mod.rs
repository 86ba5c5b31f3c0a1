//! Fault injection, for tests and game days.
//!
//! A [`ChaosLayer`] in front of a service injects, per request and at
//! configured rates:
//!
//! * **errors**: the request fails with an [`InjectedFault`] and the inner
//!   service is *not* called (a dependency that refuses work);
//! * **aborts**: the inner service *is* called and its response is thrown
//!   away for an [`InjectedFault`] (a connection reset after the server did
//!   the work: what makes retrying a non-idempotent request dangerous);
//! * **latency**: the call is delayed, by a fixed amount or a uniform or
//!   exponential distribution.
//!
//! It is off unless enabled, and switchable at run time through the
//! [`Chaos`] handle shared by every service the layer made. Decisions are
//! seeded: the n-th call under seed `s` gets the same faults in every run, so
//! a chaos experiment is reproducible. Disabled, the layer costs one atomic
//! load per call.
//!
//! ```
//! use std::time::Duration;
//! use resilience_tower::chaos::{Chaos, ChaosConfig, ChaosLayer, InjectedFault};
//! use tower::{service_fn, Layer, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let chaos = Chaos::new(ChaosConfig { seed: 7, error_rate: 0.5, ..ChaosConfig::default() }).unwrap();
//! let mut svc = ChaosLayer::new(chaos.clone()).layer(service_fn(|x: u32| async move { Ok::<_, tower::BoxError>(x) }));
//!
//! // Off by default: everything passes.
//! for i in 0..10 {
//!     assert_eq!(svc.ready().await.unwrap().call(i).await.unwrap(), i);
//! }
//! chaos.enable();
//! let mut failed = 0;
//! for i in 0..1000 {
//!     if let Err(e) = svc.ready().await.unwrap().call(i).await {
//!         assert!(e.downcast_ref::<InjectedFault>().is_some());
//!         failed += 1;
//!     }
//! }
//! assert!((400..600).contains(&failed), "{failed}");
//! assert_eq!(chaos.stats().errors, failed);
//! # }
//! ```
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `resilience_chaos_injected_total` | counter | `fault` = error, abort, latency |

mod config;
mod future;
mod layer;

pub use self::config::{ChaosConfig, DelayDistribution, LatencyFault};
pub use self::future::ResponseFuture;
pub use self::layer::{Chaos, ChaosLayer, ChaosService, ChaosStats, FaultKind, InjectedFault};
