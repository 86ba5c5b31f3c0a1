use std::fmt;
use std::future::Future;
use std::pin::Pin;

use resilience_core::dead_letter::{
    DeadLetter, DeadLetterError, DeadLetterSink, DeadLetterStore, NewLetter,
};

/// A store's write of one letter, resolving to the stored-or-refused
/// result.
pub type EnqueueFuture<Req> =
    Pin<Box<dyn Future<Output = Result<(), DeadLetterError<DeadLetter<Req>>>> + Send>>;

/// The outcome of handing a letter to a [`DeadLetterTarget`]: at once (a
/// [`DeadLetterSink`]) or later (a store behind the network).
pub enum Enqueue<Req> {
    /// Stored or refused already.
    Done(Result<(), DeadLetterError<DeadLetter<Req>>>),
    /// Being stored; resolves to the same result.
    Pending(EnqueueFuture<Req>),
}

impl<Req> fmt::Debug for Enqueue<Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Enqueue::Done(r) => f.debug_tuple("Done").field(&r.is_ok()).finish(),
            Enqueue::Pending(_) => f.write_str("Pending"),
        }
    }
}

/// Where a [`DeadLetterLayer`](super::DeadLetterLayer) puts the requests
/// it dead-letters: any [`DeadLetterSink`] of [`DeadLetter<Req>`]
/// (synchronously: the in-memory queue, your own sink), or any
/// [`DeadLetterStore<Req>`] wrapped in a [`StoreTarget`] (asynchronously:
/// the PostgreSQL and Redis stores of `resilience-store`, or the in-memory
/// queue used as a store). Implemented for you; the layer's constructors
/// pick the right one (`new` for a sink, `with_store` for a store).
pub trait DeadLetterTarget<Req>: Send + Sync {
    /// Stores `letter`, or refuses it with the letter inside the error.
    fn enqueue(&self, letter: DeadLetter<Req>) -> Enqueue<Req>;
}

impl<Req, Q> DeadLetterTarget<Req> for Q
where
    Q: DeadLetterSink<DeadLetter<Req>> + ?Sized,
{
    #[inline]
    fn enqueue(&self, letter: DeadLetter<Req>) -> Enqueue<Req> {
        Enqueue::Done(self.push(letter))
    }
}

/// A [`DeadLetterStore`] as the target of a
/// [`DeadLetterLayer`](super::DeadLetterLayer) (made by
/// [`DeadLetterLayer::with_store`](super::DeadLetterLayer::with_store)):
/// each dead-lettered request becomes a
/// [`NewLetter`] with its reason and a random idempotency key, and the
/// caller's answer waits for the store to confirm (or refuse) it, so a
/// `DeadLettered` answer means the request is durably stored.
///
/// ```
/// use std::sync::Arc;
/// use resilience_core::dead_letter::{DeadLetter, InMemoryDeadLetterQueue};
/// use resilience_tower::dead_letter::StoreTarget;
/// let store = Arc::new(InMemoryDeadLetterQueue::<DeadLetter<String>>::new("jobs", 10).unwrap());
/// let target = StoreTarget::new(store);
/// assert_eq!(target.store().len(), 0);
/// ```
#[derive(Debug, Clone)]
pub struct StoreTarget<St, K = NoKeys> {
    store: St,
    keys: K,
}

impl<St> StoreTarget<St> {
    /// Targets `store` (clone-cheap: an `Arc`).
    pub fn new(store: St) -> StoreTarget<St> {
        StoreTarget {
            store,
            keys: NoKeys,
        }
    }

    /// Gives each letter keys taken from its request before it is stored:
    /// `keys` gets the [`NewLetter`] (request in `item`) and returns it with
    /// its idempotency key (e.g. the request's id, so a host deduplicates
    /// by an id it already knows) and ordering key (per-key FIFO on the
    /// stores that keep it).
    pub fn with_keys<F>(self, keys: F) -> StoreTarget<St, F> {
        StoreTarget {
            store: self.store,
            keys,
        }
    }
}

impl<St, K> StoreTarget<St, K> {
    /// The store.
    pub fn store(&self) -> &St {
        &self.store
    }
}

/// No keys from the request: a random idempotency key, no ordering key
/// (the default of a [`StoreTarget`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoKeys;

/// How a [`StoreTarget`] keys a letter: [`NoKeys`], or a closure
/// `Fn(NewLetter<Req>) -> NewLetter<Req>` that sets the keys.
pub trait LetterKeys<Req>: Send + Sync {
    /// The letter with its keys set.
    fn keys(&self, letter: NewLetter<Req>) -> NewLetter<Req>;
}

impl<Req> LetterKeys<Req> for NoKeys {
    #[inline]
    fn keys(&self, letter: NewLetter<Req>) -> NewLetter<Req> {
        letter
    }
}

impl<Req, F> LetterKeys<Req> for F
where
    F: Fn(NewLetter<Req>) -> NewLetter<Req> + Send + Sync,
{
    fn keys(&self, letter: NewLetter<Req>) -> NewLetter<Req> {
        self(letter)
    }
}

impl<Req, St, K> DeadLetterTarget<Req> for StoreTarget<St, K>
where
    St: DeadLetterStore<Req> + Clone + 'static,
    K: LetterKeys<Req>,
    Req: Send + 'static,
{
    fn enqueue(&self, letter: DeadLetter<Req>) -> Enqueue<Req> {
        let store = self.store.clone();
        let DeadLetter { item, reason } = letter;
        let kept = reason.clone();
        let letter = self.keys.keys(NewLetter::new(item, reason));
        Enqueue::Pending(Box::pin(async move {
            store
                .enqueue(letter)
                .await
                .map(drop)
                .map_err(|refused| refused.map_item(|item| DeadLetter::new(item, kept)))
        }))
    }
}
