//! Adaptive concurrency: a concurrency limit that finds itself from
//! measured latency and drops, after Netflix's
//! [concurrency-limits](https://github.com/Netflix/concurrency-limits).
//!
//! A fixed limit is wrong twice: too high and a slow dependency queues
//! work until everything times out; too low and capacity sits idle. An
//! [`AdaptiveConcurrencyLayer`] watches every call's round-trip time and
//! whether it was *dropped* (a classified failure: timeout, overload) and
//! moves the limit of a core
//! [`Bulkhead`](resilience_core::bulkhead::Bulkhead) with
//! [`set_max_concurrent`](resilience_core::bulkhead::Bulkhead::set_max_concurrent).
//! Calls over the limit are rejected with the core
//! [`BulkheadFull`](resilience_core::bulkhead::BulkheadFull) (named after
//! the limiter), or queue for `max_wait` first if configured.
//!
//! Three algorithms, each a pure state machine
//! ([`LimitAlgorithm::on_sample`]) ported by behaviour:
//!
//! | algorithm | signal | use when |
//! |---|---|---|
//! | [`Aimd`] | drops and calls slower than a timeout | the dependency fails (times out, answers 429/503) when overloaded |
//! | [`Vegas`] | RTT against the lowest RTT seen (queueing delay) | latency rises before failures do, and the no-load latency is stable |
//! | [`Gradient2`] | RTT against its long-term average | latency is bursty or varies by request; the default in many services |
//!
//! With AIMD from 30 and a backoff ratio of 0.9, a drop takes the limit to
//! 27; every sample with at least half the limit in use adds one.
//!
//! The permit is taken as in the [`bulkhead`](crate::bulkhead) layer: in
//! `call`, after the inner service is ready, never held across an unready
//! inner service. The time of a call is measured on tokio's clock from the
//! moment the inner service is called with the permit held (queueing time
//! is not part of the dependency's latency), and the in-flight count that
//! goes with the sample is the bulkhead's at that moment, this call
//! included. A cancelled call feeds no sample.
//!
//! ```
//! use std::time::Duration;
//! use resilience_core::bulkhead::BulkheadFull;
//! use resilience_tower::adaptive::{AdaptiveConcurrencyLayer, AdaptiveConfig, AimdConfig, LimitAlgorithmConfig};
//! use tower::{service_fn, Layer, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let aimd = AimdConfig { initial_limit: 30, min_limit: 2, timeout: Duration::from_secs(1), ..AimdConfig::default() };
//! let layer = AdaptiveConcurrencyLayer::from_config(AdaptiveConfig::new("gpu", LimitAlgorithmConfig::Aimd(aimd))).unwrap();
//! let limiter = layer.limiter().clone();
//! let svc = layer.layer(service_fn(|ms: u64| async move {
//!     tokio::time::sleep(Duration::from_millis(ms)).await;
//!     Ok::<_, tower::BoxError>(ms)
//! }));
//! // Calls slower than the 1 s timeout count as drops: 30 -> 27 -> 24.
//! svc.clone().oneshot(1_500).await.unwrap();
//! svc.clone().oneshot(1_500).await.unwrap();
//! assert_eq!(limiter.limit(), 24);
//! // Over the limit: rejected with the bulkhead's error.
//! let running: Vec<_> = (0..24).map(|_| tokio::spawn(svc.clone().oneshot(100))).collect();
//! tokio::task::yield_now().await;
//! let err = svc.clone().oneshot(1).await.unwrap_err();
//! assert_eq!(err.downcast_ref::<BulkheadFull>().unwrap().bulkhead(), "gpu");
//! for r in running { r.await.unwrap().unwrap(); }
//! # }
//! ```
//!
//! # Metrics
//!
//! Registered when the limiter is built; label `limiter` is its name.
//!
//! | name | kind | labels | meaning |
//! |---|---|---|---|
//! | `resilience_adaptive_limit` | gauge | `limiter` | the limit in force |
//! | `resilience_adaptive_samples_total` | counter | `limiter`, `outcome` | completed calls by `outcome`: `success`, `dropped` (fed as drops), `ignored` (no sample) |
//! | `resilience_adaptive_rtt_seconds` | histogram | `limiter` | round-trip time of the sampled calls |
//!
//! The limiter's bulkhead (named after the limiter) adds the core bulkhead
//! series (`resilience_bulkhead_in_flight`, `_max_concurrent`, `_waiting`,
//! `_rejected_total`, `_wait_seconds`, label `bulkhead`); rejections at the
//! limit are counted there.

mod aimd;
mod algorithm;
mod clock;
mod config;
mod future;
mod gradient2;
mod layer;
mod limiter;
mod service;
mod vegas;

pub use self::aimd::{Aimd, AimdConfig};
pub use self::algorithm::{LimitAlgorithm, MAX_LIMIT};
pub use self::clock::RttClock;
pub use self::config::{AdaptiveConfig, LimitAlgorithmConfig};
pub use self::future::ResponseFuture;
pub use self::gradient2::{Gradient2, Gradient2Config, QueueSize};
pub use self::layer::AdaptiveConcurrencyLayer;
pub use self::limiter::AdaptiveLimiter;
pub use self::service::AdaptiveConcurrencyService;
pub use self::vegas::{Vegas, VegasConfig};
