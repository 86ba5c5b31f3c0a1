//! Dead letters: work that cannot be done now is queued, not lost, and
//! replayed when the dependency recovers.
//!
//! Services ask for it in two forms: "queue retrain requests to a dead letter
//! queue while the circuit is open, retry from the queue when it closes",
//! and "dead letter queue after max retries" for outbound webhooks. A
//! [`DeadLetterLayer`] sits outside the breaker and retry layers. When a
//! call fails because an open breaker rejected it
//! ([`CircuitOpen`](resilience_core::circuit_breaker::CircuitOpen) anywhere
//! in the error chain) or the retry layer used every attempt
//! (`RetryError::RetriesExhausted`), the request is pushed to a core
//! [`DeadLetterSink`](resilience_core::dead_letter::DeadLetterSink) as a
//! [`DeadLetter`](resilience_core::dead_letter::DeadLetter) (the request
//! plus the reason) and the caller gets:
//!
//! * [`DeadLettered`]: it was queued (the original error is its `source`);
//!   an HTTP handler would answer `202 Accepted`;
//! * or, if the sink refused it (full, unavailable),
//!   [`DeadLetterRefused<Req>`](DeadLetterRefused), which holds the request
//!   and the sink's error, so nothing is dropped silently.
//!
//! Other errors pass through unchanged ([`DeadLetterWhen`] changes the
//! rule; [`QueuedFeature`] queues requests a degradation level puts in a
//! `queued` mode instead of refusing them). A [`Replayer`] replays the queue, oldest first, through the stack
//! below the layer when the breaker closes.
//!
//! # Durable queues
//!
//! The in-memory queue is lost with the process. To keep dead letters
//! across deploys and crashes, give the layer a durable
//! [`DeadLetterStore`](resilience_core::dead_letter::DeadLetterStore) (the
//! PostgreSQL and Redis Streams stores of `resilience-store`) with
//! [`DeadLetterLayer::with_store`], and the same store to the [`Replayer`]:
//! several replayers (in several processes) then share the queue, each
//! claiming batches under a lease; a replayer that dies mid-batch loses its
//! lease and its letters are replayed by another; a letter that keeps
//! failing is parked after [`ReplayConfig::max_replays`]. Delivery is at
//! least once: a replayed request may repeat a call whose acknowledgement
//! was lost, so make the replayed call idempotent.
//!
//! The success path costs the same over any target: the layer only looks
//! at the target when a call fails and is dead-lettered (a store's write is
//! one boxed future then).
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
//! use resilience_core::dead_letter::{DeadLetter, DeadLetterReason, InMemoryDeadLetterQueue};
//! use resilience_tower::circuit_breaker::CircuitBreakerLayer;
//! use resilience_tower::dead_letter::{DeadLetterLayer, DeadLettered};
//! use resilience_core::clock::TokioClock;
//! use tower::{service_fn, BoxError, Layer, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let breaker = CircuitBreaker::with_clock(CircuitBreakerConfig::new().consecutive_failures(1), TokioClock).unwrap();
//! breaker.force_open(); // the training cluster is down
//! let queue = InMemoryDeadLetterQueue::<DeadLetter<String>>::new("retrain", 100).unwrap();
//! let mut svc = DeadLetterLayer::new("retrain", queue.clone()).layer(
//!     CircuitBreakerLayer::new(breaker.clone())
//!         .layer(service_fn(|model: String| async move { Ok::<_, BoxError>(model) })),
//! );
//!
//! let err = svc.ready().await.unwrap().call("llama-7b".to_string()).await.unwrap_err();
//! let queued = err.downcast_ref::<DeadLettered>().expect("queued for replay");
//! assert_eq!(queued.reason(), &DeadLetterReason::CircuitOpen);
//! assert_eq!(queue.snapshot()[0].item, "llama-7b");
//! # }
//! ```
//!
//! # Metrics
//!
//! The in-memory queue records its own (`resilience_dead_letter_enqueued_total`,
//! `_rejected_total`, `_replayed_total`, `_replay_failures_total`, `_depth`;
//! see [`resilience_core::dead_letter`]); the layer adds:
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `resilience_dead_letter_layer_queued_total` | counter | `queue`, `reason` = `circuit_open`, `retry`, `other` | failed calls whose request was queued |
//! | `resilience_dead_letter_layer_refused_total` | counter | `queue`, `reason` | failed calls the sink refused (the request went back to the caller in `DeadLetterRefused`) |
//!
//! Durable stores report the same queue metrics as the in-memory queue,
//! plus parked, reclaimed, in-flight, waiting and oldest-age figures (see
//! [`resilience_core::dead_letter::store`]).

mod error;
mod future;
mod layer;
mod replay;
mod service;
mod target;
mod trigger;

pub use self::error::{DeadLetterRefused, DeadLettered};
pub use self::future::ResponseFuture;
pub use self::layer::DeadLetterLayer;
pub use self::replay::{ReplayConfig, Replayer};
pub use self::service::DeadLetterService;
pub use self::target::{DeadLetterTarget, Enqueue, EnqueueFuture, LetterKeys, NoKeys, StoreTarget};
pub use self::trigger::{DeadLetterWhen, OpenOrExhausted, QueuedFeature};
