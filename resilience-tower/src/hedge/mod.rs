//! Hedged requests: when a call is slow, send a second copy and take
//! whichever succeeds first.
//!
//! Tail latency is mostly bad luck: one replica pauses for garbage
//! collection, one packet is lost, one disk is busy. A second copy of a
//! slow request, sent to (most likely) another replica, usually finishes
//! long before the first. A [`HedgeLayer`] waits a delay, either fixed or
//! a percentile of recent latencies (e.g. p95: only the slowest 5% are
//! hedged), then sends the copy; the first success is the answer and the
//! other request is dropped (cancelled) at once.
//!
//! Hedging adds load, so it has a budget: hedges are at most
//! `max_hedge_ratio` of requests (default 10%), with at most `burst` unused
//! allowance saved up. A due hedge the budget refuses is skipped and the
//! original request carries on.
//!
//! Only hedge requests that are safe to send twice (reads, idempotent
//! writes). The layer copies requests with a
//! [`CloneRequest`](crate::retry::CloneRequest) hook: return `None` for a
//! request that must not be hedged.
//!
//! Latencies (percentile mode) are kept in a fixed histogram of 280
//! log-linear buckets (8 per power of two: at most 12.5% error), in two
//! generations rotated every `window`; recording is a few atomic
//! increments, the percentile is recomputed every 16 samples and cached.
//! Only successful requests are recorded, each from its own start; a
//! cancelled loser is not, which biases the estimate slightly low (more
//! hedges), and the budget bounds that.
//!
//! ```
//! use std::time::Duration;
//! use resilience_tower::hedge::{Hedge, HedgeConfig, HedgeLayer};
//! use tower::{service_fn, BoxError, Layer, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let hedge = Hedge::new("replicas", HedgeConfig {
//!     max_hedge_ratio: 1.0,
//!     ..HedgeConfig::fixed(Duration::from_millis(50))
//! }).unwrap();
//! // The first copy of each request hits a replica pausing for 1s; the
//! // second copy answers in 10ms.
//! let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
//! let replicas = service_fn(move |q: &'static str| {
//!     let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
//!     async move {
//!         let pause = if n % 2 == 0 { 1000 } else { 10 };
//!         tokio::time::sleep(Duration::from_millis(pause)).await;
//!         Ok::<_, BoxError>(q.len())
//!     }
//! });
//! let mut svc = HedgeLayer::new(hedge.clone()).layer(replicas);
//! let start = tokio::time::Instant::now();
//! assert_eq!(svc.ready().await.unwrap().call("query").await.unwrap(), 5);
//! assert_eq!(start.elapsed(), Duration::from_millis(60)); // 50ms delay + 10ms
//! assert_eq!(hedge.stats().hedge_wins, 1);
//! # }
//! ```
//!
//! # Metrics
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `resilience_hedge_sent_total` | counter | `hedge` | second requests sent |
//! | `resilience_hedge_wins_total` | counter | `hedge`, `winner` = `primary`, `hedge` | which copy answered a hedged call |
//! | `resilience_hedge_skipped_total` | counter | `hedge`, `reason` = `budget`, `not_ready` | hedges due but not sent |
//!
//! [`Hedge::stats`] gives the same counts (plus calls) without a recorder.

mod config;
mod future;
mod histogram;
mod layer;
mod service;

pub use self::config::{HedgeConfig, HedgeDelay};
pub use self::future::ResponseFuture;
pub use self::layer::{Hedge, HedgeLayer, HedgeStats};
pub use self::service::HedgeService;
