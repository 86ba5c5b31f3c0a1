use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerEventKind, CircuitState};
use resilience_core::dead_letter::{
    DeadLetter, InMemoryDeadLetterQueue, ReplayInProgress, ReplayReport,
};
use resilience_core::events::ListenerId;
use tokio::sync::Notify;
use tower::{BoxError, Service, ServiceExt};

/// Replays a dead-letter queue into a service when a circuit breaker
/// closes: the other half of "queue while the circuit is open,
/// retry from the queue when it closes".
///
/// [`run`](Self::run) is a future to spawn: it waits for the breaker's
/// transition to `Closed`, then replays the queue oldest first, one request
/// at a time, through `service`; an item is removed only once its call
/// succeeded, and a replay stops at the first failure (that item stays at
/// the front, the order is kept) until the next trigger. Triggers: the
/// breaker closing, [`trigger`](Self::trigger) (a handle for an operator
/// endpoint), and optionally a timer ([`also_every`](Self::also_every))
/// for items queued after exhausted retries while the breaker stayed
/// closed. [`replay_now`](Self::replay_now) replays once, on demand.
///
/// Give it the stack *below* the [`DeadLetterLayer`](super::DeadLetterLayer)
/// (with the breaker in it): replayed calls are then counted by the breaker,
/// and a replay stops as soon as it reopens. Replaying through the
/// dead-letter layer itself would queue a failed item a second time.
///
/// ```
/// use std::sync::Arc;
/// use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
/// use resilience_core::dead_letter::{DeadLetter, InMemoryDeadLetterQueue};
/// use resilience_tower::circuit_breaker::CircuitBreakerLayer;
/// use resilience_tower::dead_letter::{DeadLetterLayer, Replayer};
/// use tower::{service_fn, BoxError, Layer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let breaker = CircuitBreaker::new(CircuitBreakerConfig::new().name("retrain")).unwrap();
/// let queue = InMemoryDeadLetterQueue::<DeadLetter<String>>::new("retrain", 10_000).unwrap();
/// let below = CircuitBreakerLayer::new(breaker.clone())
///     .layer(service_fn(|model: String| async move { Ok::<_, BoxError>(format!("retrained {model}")) }));
/// let svc = DeadLetterLayer::new("retrain", queue.clone()).layer(below.clone());
///
/// let replayer = Replayer::new(queue, breaker, below);
/// let trigger = replayer.trigger();
/// let task = tokio::spawn(replayer.run());
/// trigger.notify_one(); // e.g. from an admin endpoint
/// # task.abort();
/// # let _ = svc;
/// # }
/// ```
pub struct Replayer<Req, S> {
    queue: InMemoryDeadLetterQueue<DeadLetter<Req>>,
    breaker: CircuitBreaker,
    service: S,
    every: Option<Duration>,
    wake: Arc<Notify>,
}

impl<Req, S> Replayer<Req, S>
where
    Req: Clone + Send + 'static,
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
{
    /// Replays `queue` into `service` whenever `breaker` closes.
    pub fn new(
        queue: impl Into<InMemoryDeadLetterQueue<DeadLetter<Req>>>,
        breaker: CircuitBreaker,
        service: S,
    ) -> Self {
        Replayer {
            queue: queue.into(),
            breaker,
            service,
            every: None,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Also replays every `period` while the breaker lets calls through
    /// (for requests queued after exhausted retries with the breaker
    /// closed, which no transition will announce).
    pub fn also_every(mut self, period: Duration) -> Self {
        self.every = Some(period);
        self
    }

    /// A handle that starts a replay when notified (if the breaker lets
    /// calls through and the queue is not empty).
    pub fn trigger(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Replays the queue once, now, regardless of the breaker: oldest
    /// first, stopping at the first failure.
    pub async fn replay_now(&self) -> Result<ReplayReport<BoxError>, ReplayInProgress> {
        let service = &self.service;
        self.queue
            .replay(|letter: &DeadLetter<Req>| {
                let request = letter.item.clone();
                let svc = service.clone();
                async move { svc.oneshot(request).await.map(drop).map_err(Into::into) }
            })
            .await
    }

    /// Runs until dropped (spawn it; abort the task to stop): replays the
    /// queue whenever the breaker closes, the [`trigger`](Self::trigger)
    /// is notified, or the optional period elapses, while the breaker is
    /// `Closed` (or `Disabled` / `MetricsOnly`).
    pub async fn run(self) {
        let wake = self.wake.clone();
        let listener = self.breaker.on_event(move |e| {
            if let CircuitBreakerEventKind::StateTransition {
                to: CircuitState::Closed,
                ..
            } = e.kind
            {
                wake.notify_one();
            }
        });
        let _guard = RemoveListener {
            breaker: self.breaker.clone(),
            id: listener,
        };
        loop {
            let flowing = matches!(
                self.breaker.state(),
                CircuitState::Closed | CircuitState::Disabled | CircuitState::MetricsOnly
            );
            if flowing && !self.queue.is_empty() {
                // Another replay of the same queue running is fine: it will
                // do the work.
                let _report = self.replay_now().await;
                #[cfg(feature = "tracing")]
                if let Ok(r) = &_report {
                    tracing::info!(
                        queue = self.queue.name(),
                        replayed = r.replayed,
                        failed = r.failed,
                        remaining = r.remaining,
                        "dead-letter replay finished"
                    );
                }
            }
            match self.every {
                Some(period) => {
                    let _ = tokio::time::timeout(period, self.wake.notified()).await;
                }
                None => self.wake.notified().await,
            }
        }
    }
}

impl<Req, S> fmt::Debug for Replayer<Req, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replayer")
            .field("queue", &self.queue.name())
            .field("breaker", &self.breaker.name())
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

struct RemoveListener {
    breaker: CircuitBreaker,
    id: ListenerId,
}

impl Drop for RemoveListener {
    fn drop(&mut self) {
        self.breaker.remove_listener(self.id);
    }
}
