//! Typed event listeners.
//!
//! Every primitive publishes what happens to it (state transitions, call
//! outcomes, rejections) as a typed event. A host registers listeners to
//! alert, log or feed its own telemetry; the `metrics` facade output is
//! separate and always on (see each primitive's metric table).
//!
//! Listeners are called synchronously on the thread that caused the event, so
//! they must be quick and must not block; hand heavy work to a channel. When
//! no listener is registered, publishing costs one relaxed atomic load and the
//! event value is never built.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use resilience_core::events::Listeners;
//!
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let listeners: Listeners<u32> = Listeners::new();
//! let sink = seen.clone();
//! let id = listeners.add_fn(move |e: &u32| sink.lock().unwrap().push(*e));
//! listeners.emit_with(|| 7);
//! listeners.remove(id);
//! listeners.emit_with(|| 8);
//! assert_eq!(*seen.lock().unwrap(), vec![7]);
//! ```

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

/// Receives events of type `E`.
///
/// Implemented for every `Fn(&E) + Send + Sync`, so a closure is a listener.
///
/// ```
/// use resilience_core::events::{EventListener, Listeners};
///
/// #[derive(Debug)]
/// struct Printer;
/// impl EventListener<String> for Printer {
///     fn on_event(&self, event: &String) {
///         println!("event: {event}");
///     }
/// }
/// let l: Listeners<String> = Listeners::new();
/// l.add(std::sync::Arc::new(Printer));
/// l.emit_with(|| "opened".to_string());
/// ```
pub trait EventListener<E>: Send + Sync {
    /// Called once for each event, on the thread that produced it.
    fn on_event(&self, event: &E);
}

impl<E, F> EventListener<E> for F
where
    F: Fn(&E) + Send + Sync,
{
    fn on_event(&self, event: &E) {
        self(event)
    }
}

/// Identifies a registered listener, for [`Listeners::remove`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

type Entry<E> = (ListenerId, Arc<dyn EventListener<E>>);

/// A set of listeners for events of type `E`.
///
/// Registration and removal take a short write lock; publishing with no
/// listener registered is a single atomic load.
pub struct Listeners<E> {
    any: AtomicBool,
    next_id: AtomicU64,
    list: RwLock<Vec<Entry<E>>>,
}

impl<E> Listeners<E> {
    /// An empty set.
    pub fn new() -> Self {
        Listeners {
            any: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            list: RwLock::new(Vec::new()),
        }
    }

    /// Registers a listener; returns its id.
    pub fn add(&self, listener: Arc<dyn EventListener<E>>) -> ListenerId {
        let id = ListenerId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let mut list = self.list.write();
        list.push((id, listener));
        self.any.store(true, Ordering::Release);
        id
    }

    /// Registers a closure as a listener; returns its id.
    pub fn add_fn<F>(&self, f: F) -> ListenerId
    where
        F: Fn(&E) + Send + Sync + 'static,
        E: 'static,
    {
        self.add(Arc::new(f))
    }

    /// Removes a listener. Returns whether it was registered.
    pub fn remove(&self, id: ListenerId) -> bool {
        let mut list = self.list.write();
        let before = list.len();
        list.retain(|(i, _)| *i != id);
        self.any.store(!list.is_empty(), Ordering::Release);
        list.len() != before
    }

    /// Whether any listener is registered.
    #[inline]
    pub fn is_empty(&self) -> bool {
        !self.any.load(Ordering::Relaxed)
    }

    /// Number of registered listeners.
    pub fn len(&self) -> usize {
        self.list.read().len()
    }

    /// Builds the event with `make` and delivers it, only if anyone listens.
    #[inline]
    pub fn emit_with(&self, make: impl FnOnce() -> E) {
        if self.is_empty() {
            return;
        }
        self.emit_slow(make());
    }

    /// Delivers an already built event.
    pub fn emit(&self, event: &E) {
        if self.is_empty() {
            return;
        }
        for (_, l) in self.list.read().iter() {
            l.on_event(event);
        }
    }

    #[cold]
    fn emit_slow(&self, event: E) {
        self.emit(&event);
    }
}

impl<E> Default for Listeners<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> fmt::Debug for Listeners<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listeners")
            .field("count", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn no_listener_never_builds_event() {
        let l: Listeners<u32> = Listeners::new();
        let built = AtomicUsize::new(0);
        l.emit_with(|| {
            built.fetch_add(1, Ordering::Relaxed);
            1
        });
        assert_eq!(built.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn every_listener_sees_every_event_in_order() {
        let l: Listeners<u32> = Listeners::new();
        let a = Arc::new(RwLock::new(Vec::new()));
        let b = Arc::new(RwLock::new(Vec::new()));
        let (ac, bc) = (a.clone(), b.clone());
        l.add_fn(move |e| ac.write().push(*e));
        let id = l.add_fn(move |e| bc.write().push(*e));
        assert_eq!(l.len(), 2);
        l.emit_with(|| 1);
        l.emit(&2);
        assert!(l.remove(id));
        assert!(!l.remove(id));
        l.emit(&3);
        assert_eq!(*a.read(), vec![1, 2, 3]);
        assert_eq!(*b.read(), vec![1, 2]);
        assert!(!l.is_empty());
    }
}
