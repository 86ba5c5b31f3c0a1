use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerEventKind, CircuitState};
use resilience_core::config::ConfigError;
use resilience_core::dead_letter::{
    ClaimOptions, DeadLetter, DeadLetterStore, InMemoryDeadLetterQueue, Release, ReplayInProgress,
    ReplayReport, StoreError,
};
use resilience_core::events::ListenerId;
use resilience_core::retry::{Backoff, Jitter};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tower::{BoxError, Service, ServiceExt};

fn default_batch() -> usize {
    32
}
fn default_lease() -> Duration {
    Duration::from_secs(60)
}
fn default_max_replays() -> u32 {
    10
}
fn default_backoff() -> Backoff {
    Backoff::exponential(Duration::from_secs(1), Duration::from_secs(300))
        .map(|b| b.with_jitter(Jitter::Full))
        .unwrap_or_else(|_| Backoff::constant(Duration::from_secs(5)))
}

/// How a [`Replayer`] takes letters from its store.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `batch` | 32 | letters claimed at once |
/// | `lease` | `60s` | how long a claimed batch is this replayer's: longer than replaying a whole batch takes; after it, another replayer gets the letters |
/// | `max_replays` | 10 | a letter delivered this often without success is parked (kept, never replayed again until an operator acts) |
/// | `backoff` | exponential 1 s to 5 min, full jitter | wait before a failed letter is replayed again, by its replay count |
///
/// ```
/// use resilience_core::config::from_yaml_str;
/// use resilience_tower::dead_letter::ReplayConfig;
/// let cfg: ReplayConfig = from_yaml_str("batch: 100\nlease: 2m\nmax_replays: 5").unwrap();
/// cfg.validate().unwrap();
/// assert_eq!(cfg.batch, 100);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayConfig {
    /// Letters claimed at once.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// The claim's lease.
    #[serde(with = "humantime_serde", default = "default_lease")]
    pub lease: Duration,
    /// Deliveries before a letter is parked.
    #[serde(default = "default_max_replays")]
    pub max_replays: u32,
    /// Backoff between replays of a failing letter.
    #[serde(default = "default_backoff")]
    pub backoff: Backoff,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        ReplayConfig {
            batch: default_batch(),
            lease: default_lease(),
            max_replays: default_max_replays(),
            backoff: default_backoff(),
        }
    }
}

impl ReplayConfig {
    /// Checks every field; names the offending one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.batch == 0 {
            return Err(ConfigError::invalid("batch", "must be at least 1, got 0"));
        }
        resilience_core::config::check_nonzero_duration("lease", self.lease)?;
        if self.max_replays == 0 {
            return Err(ConfigError::invalid(
                "max_replays",
                "must be at least 1, got 0: every letter would be parked unreplayed",
            ));
        }
        Ok(())
    }
}

/// Replays a dead-letter queue into a service when a circuit breaker
/// closes: the other half of "queue while the circuit is open,
/// retry from the queue when it closes".
///
/// [`run`](Self::run) is a future to spawn: it waits for the breaker's
/// transition to `Closed`, then replays the queue oldest first, one request
/// at a time, through `service`; a letter is removed only once its call
/// succeeded, and a pass stops at the first failure (that letter waits for
/// its retry backoff, or is parked after
/// [`max_replays`](ReplayConfig::max_replays) deliveries) until the next
/// trigger. Triggers: the breaker closing, [`trigger`](Self::trigger) (a
/// handle for an operator endpoint), optionally a timer
/// ([`also_every`](Self::also_every)) for items queued after exhausted
/// retries while the breaker stayed closed, and the end of a backoff.
/// [`replay_once`](Self::replay_once) replays once, on demand.
///
/// The queue is any [`DeadLetterStore`]: the in-memory queue (the
/// default type parameter), or a durable store shared with replayers in
/// other processes. Each pass claims batches under a lease
/// ([`ReplayConfig`]), so replayers never replay the same letter at once,
/// and the letters of a replayer that dies are replayed by another after
/// the lease. The in-memory queue judges leases and backoffs by its own
/// clock: build it with `InMemoryDeadLetterQueue::with_clock(name,
/// capacity, TokioClock)` when the replayer runs under
/// `tokio::time::pause()`; durable stores use their server's clock.
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
pub struct Replayer<Req, S, Q = InMemoryDeadLetterQueue<DeadLetter<Req>>> {
    queue: Q,
    breaker: CircuitBreaker,
    service: S,
    every: Option<Duration>,
    wake: Arc<Notify>,
    config: ReplayConfig,
    _request: PhantomData<fn(Req)>,
}

impl<Req, S, Q> Replayer<Req, S, Q>
where
    Req: Send + 'static,
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    Q: DeadLetterStore<Req>,
{
    /// Replays `queue` (any [`DeadLetterStore`]: the in-memory queue of
    /// [`DeadLetter`]s, or a durable store) into `service` whenever
    /// `breaker` closes, with the default [`ReplayConfig`].
    pub fn new(queue: Q, breaker: CircuitBreaker, service: S) -> Self {
        Replayer {
            queue,
            breaker,
            service,
            every: None,
            wake: Arc::new(Notify::new()),
            config: ReplayConfig::default(),
            _request: PhantomData,
        }
    }

    /// Uses `config` (batch size, lease, poison threshold, backoff).
    pub fn replay_config(mut self, config: ReplayConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        self.config = config;
        Ok(self)
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

    /// Replays the store once, now, regardless of the breaker: claims
    /// batches, oldest first, and replays each letter through the service;
    /// a success acknowledges it. At the first failure the letter goes back
    /// with a backoff (or is parked, past `max_replays`), the rest of its
    /// batch goes back untried, and the pass ends: the dependency is
    /// probably still down. Letters waiting for their backoff are left for
    /// a later pass. `remaining` is the store's depth afterwards.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
    /// use resilience_core::dead_letter::{DeadLetter, DeadLetterReason, DeadLetterStore, InMemoryDeadLetterQueue, NewLetter};
    /// use resilience_tower::dead_letter::Replayer;
    /// use tower::{service_fn, BoxError};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let store = Arc::new(InMemoryDeadLetterQueue::<DeadLetter<u32>>::new("jobs", 100).unwrap());
    /// for n in [1, 2, 3] {
    ///     store.enqueue(NewLetter::new(n, DeadLetterReason::CircuitOpen)).await.unwrap();
    /// }
    /// let breaker = CircuitBreaker::new(CircuitBreakerConfig::new().name("jobs")).unwrap();
    /// let replayer = Replayer::new(store.clone(), breaker, service_fn(|n: u32| async move {
    ///     if n == 2 { Err::<(), BoxError>("still failing".into()) } else { Ok(()) }
    /// }));
    /// let report = replayer.replay_once().await.unwrap();
    /// assert_eq!((report.replayed, report.failed, report.remaining), (1, 1, 2)); // 2 waits for its backoff, 3 untried
    /// # }
    /// ```
    pub async fn replay_once(&self) -> Result<ReplayReport<BoxError>, StoreError> {
        let cfg = &self.config;
        let options = ClaimOptions::new(cfg.batch, cfg.lease).with_max_replays(cfg.max_replays);
        let mut report = ReplayReport {
            replayed: 0,
            failed: 0,
            remaining: 0,
            last_error: None,
        };
        'passes: loop {
            let batch = self.queue.claim(options).await?;
            if batch.is_empty() {
                break;
            }
            let mut letters = batch.into_iter();
            while let Some(claimed) = letters.next() {
                let (letter, receipt) = claimed.into_parts();
                let replays = letter.replays;
                match self.service.clone().oneshot(letter.item).await {
                    Ok(_) => {
                        // A lost lease means another replayer has the letter
                        // too: at least once, as documented.
                        let _ = self.queue.ack(receipt).await;
                        report.replayed += 1;
                    }
                    Err(e) => {
                        let e: BoxError = e.into();
                        let error = e.to_string();
                        let release = if replays >= cfg.max_replays {
                            Release::Park { error }
                        } else {
                            let after = cfg.backoff.jittered_delay(
                                replays.max(1),
                                None,
                                &mut resilience_core::rand::rng(),
                            );
                            Release::Retry { after, error }
                        };
                        let _ = self.queue.release(receipt, release).await;
                        for rest in letters {
                            let _ = self.queue.release(rest.receipt(), Release::Untried).await;
                        }
                        report.failed += 1;
                        report.last_error = Some(e);
                        break 'passes;
                    }
                }
            }
        }
        let stats = self.queue.stats().await?;
        report.remaining = usize::try_from(stats.depth()).unwrap_or(usize::MAX);
        Ok(report)
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
            // Letters waiting for a retry backoff need a later pass even
            // without a trigger.
            let mut waiting = false;
            if flowing {
                // Other replayers of the same store are fine: claims never
                // hand a letter to two of them at once.
                let report = self.replay_once().await;
                #[cfg(feature = "tracing")]
                if let Ok(r) = &report {
                    tracing::info!(
                        queue = self.queue.queue_name(),
                        replayed = r.replayed,
                        failed = r.failed,
                        remaining = r.remaining,
                        "dead-letter replay finished"
                    );
                }
                waiting = report.is_ok_and(|r| r.remaining > 0);
            }
            let period = match (self.every, waiting) {
                (Some(period), true) => Some(period.min(self.config.backoff.initial())),
                (Some(period), false) => Some(period),
                (None, true) => Some(self.config.backoff.initial()),
                (None, false) => None,
            };
            match period {
                Some(period) => {
                    let _ = tokio::time::timeout(period, self.wake.notified()).await;
                }
                None => self.wake.notified().await,
            }
        }
    }
}

impl<Req, S, Q> Replayer<Req, S, Q>
where
    Q: std::borrow::Borrow<InMemoryDeadLetterQueue<DeadLetter<Req>>>,
    Req: Clone + Send + 'static,
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
{
    /// Replays the in-memory queue once, now, regardless of the breaker:
    /// oldest first, stopping at the first failure, through the queue's
    /// exclusive [`replay`](InMemoryDeadLetterQueue::replay) (no leases,
    /// no backoff, nothing parked).
    #[deprecated(
        since = "0.1.1",
        note = "use `replay_once`, which works over every store (claims, backoff, parking)"
    )]
    pub async fn replay_now(&self) -> Result<ReplayReport<BoxError>, ReplayInProgress> {
        let service = &self.service;
        self.queue
            .borrow()
            .replay(|letter: &DeadLetter<Req>| {
                let request = letter.item.clone();
                let svc = service.clone();
                async move { svc.oneshot(request).await.map(drop).map_err(Into::into) }
            })
            .await
    }
}

impl<Req, S, Q: DeadLetterStore<Req>> fmt::Debug for Replayer<Req, S, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replayer")
            .field("queue", &self.queue.queue_name())
            .field("breaker", &self.breaker.name())
            .field("every", &self.every)
            .field("config", &self.config)
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
