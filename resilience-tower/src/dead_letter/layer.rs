use std::fmt;
use std::sync::Arc;

use metrics::Counter;
use tower_layer::Layer;

use super::{DeadLetterService, OpenOrExhausted, StoreTarget};

/// Sends the requests of calls rejected by an open breaker or given up by
/// the retry layer to a dead-letter sink or store
/// ([`with_store`](DeadLetterLayer::with_store) for a durable one; `new` for any
/// [`DeadLetterSink`](resilience_core::dead_letter::DeadLetterSink) of
/// [`DeadLetter<Req>`](resilience_core::dead_letter::DeadLetter), e.g. an
/// `Arc<InMemoryDeadLetterQueue<DeadLetter<Req>>>`), and answers the caller
/// with [`DeadLettered`](super::DeadLettered), or
/// [`DeadLetterRefused`](super::DeadLetterRefused) (holding the request) if
/// the sink would not take it.
///
/// Requests must be `Clone`: each call keeps a copy until it completes, to
/// have something to queue. Keep them cheap to clone.
///
/// ```
/// use std::sync::Arc;
/// use resilience_core::dead_letter::{DeadLetter, InMemoryDeadLetterQueue};
/// use resilience_tower::dead_letter::DeadLetterLayer;
///
/// let queue = InMemoryDeadLetterQueue::<DeadLetter<String>>::new("retrain", 10_000).unwrap();
/// let layer = DeadLetterLayer::new("retrain", queue.clone());
/// assert_eq!(layer.queue_name(), "retrain");
/// ```
#[derive(Clone)]
pub struct DeadLetterLayer<Q, W = OpenOrExhausted> {
    name: Arc<str>,
    sink: Q,
    when: W,
}

impl<Q> DeadLetterLayer<Q> {
    /// A layer queueing to `sink`, named `name` in metrics and errors (use
    /// the queue's name), with the default trigger [`OpenOrExhausted`].
    pub fn new(name: &str, sink: Q) -> Self {
        DeadLetterLayer {
            name: name.into(),
            sink,
            when: OpenOrExhausted,
        }
    }
}

impl<St> DeadLetterLayer<StoreTarget<St>> {
    /// A layer queueing to a [`DeadLetterStore`](resilience_core::dead_letter::DeadLetterStore)
    /// (PostgreSQL, Redis Streams, or the in-memory queue as a store),
    /// named after the store's queue. A failed call's answer waits until
    /// the store has the request (`DeadLettered`) or refused it
    /// (`DeadLetterRefused`, request inside).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use resilience_core::dead_letter::{DeadLetter, DeadLetterStore, InMemoryDeadLetterQueue};
    /// use resilience_tower::dead_letter::DeadLetterLayer;
    ///
    /// // Any store: here the in-memory one, behind the trait object a
    /// // durable store would also fit.
    /// let store: Arc<dyn DeadLetterStore<String>> =
    ///     Arc::new(InMemoryDeadLetterQueue::<DeadLetter<String>>::new("retrain", 10_000).unwrap());
    /// let layer = DeadLetterLayer::with_store(store);
    /// assert_eq!(layer.queue_name(), "retrain");
    /// ```
    pub fn with_store<Req>(store: St) -> Self
    where
        St: resilience_core::dead_letter::DeadLetterStore<Req>,
    {
        DeadLetterLayer {
            name: store.queue_name().into(),
            sink: StoreTarget::new(store),
            when: OpenOrExhausted,
        }
    }
}

impl<St, W> DeadLetterLayer<StoreTarget<St>, W> {
    /// Keys each letter from its request before it is stored
    /// ([`StoreTarget::with_keys`]): an idempotency key the host already
    /// knows (a request id), an ordering key for per-key FIFO replay.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use resilience_core::dead_letter::{DeadLetter, DeadLetterStore, InMemoryDeadLetterQueue, NewLetter};
    /// use resilience_tower::dead_letter::DeadLetterLayer;
    ///
    /// #[derive(Clone)]
    /// struct Webhook { id: String, customer: String }
    ///
    /// let store: Arc<dyn DeadLetterStore<Webhook>> =
    ///     Arc::new(InMemoryDeadLetterQueue::<DeadLetter<Webhook>>::new("webhooks", 10_000).unwrap());
    /// let layer = DeadLetterLayer::with_store(store).with_keys(|l: NewLetter<Webhook>| {
    ///     let (id, customer) = (l.item.id.clone(), l.item.customer.clone());
    ///     l.with_idempotency_key(id).with_ordering_key(customer)
    /// });
    /// assert_eq!(layer.queue_name(), "webhooks");
    /// ```
    pub fn with_keys<F>(self, keys: F) -> DeadLetterLayer<StoreTarget<St, F>, W> {
        DeadLetterLayer {
            name: self.name,
            sink: self.sink.with_keys(keys),
            when: self.when,
        }
    }
}

impl<Q, W> DeadLetterLayer<Q, W> {
    /// Uses `when` to decide which failures are queued
    /// ([`DeadLetterWhen`](super::DeadLetterWhen)).
    pub fn when<W2>(self, when: W2) -> DeadLetterLayer<Q, W2> {
        DeadLetterLayer {
            name: self.name,
            sink: self.sink,
            when,
        }
    }

    /// The queue's name.
    pub fn queue_name(&self) -> &str {
        &self.name
    }

    /// The sink.
    pub fn sink(&self) -> &Q {
        &self.sink
    }
}

impl<S, Q: Clone, W: Clone> Layer<S> for DeadLetterLayer<Q, W> {
    type Service = DeadLetterService<S, Q, W>;

    fn layer(&self, inner: S) -> Self::Service {
        DeadLetterService::from_shared(
            inner,
            Arc::new(Shared::new(
                self.name.clone(),
                self.sink.clone(),
                self.when.clone(),
            )),
        )
    }
}

impl<Q, W> fmt::Debug for DeadLetterLayer<Q, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadLetterLayer")
            .field("name", &self.name)
            .field("sink", &std::any::type_name::<Q>())
            .field("when", &std::any::type_name::<W>())
            .finish()
    }
}

pub(crate) struct Shared<Q, W> {
    pub(crate) name: Arc<str>,
    pub(crate) sink: Q,
    pub(crate) when: W,
    queued: [Counter; 3],
    refused: [Counter; 3],
}

impl<Q, W> Shared<Q, W> {
    pub(crate) fn new(name: Arc<str>, sink: Q, when: W) -> Self {
        let label = |metric: &'static str, reason: &'static str| metrics::counter!(metric, "queue" => name.to_string(), "reason" => reason);
        let reasons = ["circuit_open", "retry", "other"];
        Shared {
            queued: reasons.map(|r| label("resilience_dead_letter_layer_queued_total", r)),
            refused: reasons.map(|r| label("resilience_dead_letter_layer_refused_total", r)),
            name,
            sink,
            when,
        }
    }

    pub(crate) fn count(
        &self,
        queued: bool,
        reason: &resilience_core::dead_letter::DeadLetterReason,
    ) {
        use resilience_core::dead_letter::DeadLetterReason as R;
        let i = match reason {
            R::CircuitOpen => 0,
            R::Retry { .. } => 1,
            _ => 2,
        };
        let counters = if queued { &self.queued } else { &self.refused };
        if let Some(c) = counters.get(i) {
            c.increment(1);
        }
    }
}

impl<Q, W> fmt::Debug for Shared<Q, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
