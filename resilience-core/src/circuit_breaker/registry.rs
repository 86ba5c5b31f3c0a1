//! One breaker per key (per model, per worker, per region, per host), created
//! lazily from a shared config, plus an optional global breaker.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt::{self, Display};
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use super::{
    CircuitBreaker, CircuitBreakerConfig, CircuitOpen, CircuitState, Outcome, OwnedPermit,
};
use crate::clock::{duration_nanos, shared, Clock, Origin, SharedClock, SystemClock};
use crate::config::ConfigError;

/// The registry holds `capacity` breakers and none of them is idle (closed
/// and unused for the idle time), so a breaker for a new key cannot be made
/// without forgetting the state of a dependency that is failing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("circuit breaker registry is full: {capacity} keys, none idle; raise the capacity or shorten idle_ttl")]
pub struct RegistryFull {
    /// The configured capacity.
    pub capacity: usize,
}

/// Why a keyed call was not permitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyedRejection {
    /// The global or the key's breaker is open.
    #[error(transparent)]
    Open(#[from] CircuitOpen),
    /// No breaker could be made for a new key.
    #[error(transparent)]
    Full(#[from] RegistryFull),
}

struct Entry {
    breaker: CircuitBreaker,
    last_used: AtomicU64,
}

type OnCreate<K> = Arc<dyn Fn(&K, &CircuitBreaker) + Send + Sync>;

/// A keyed set of circuit breakers sharing one config.
///
/// Breakers are made on first use of a key and named after it (with the
/// config's `name` as a prefix when set: `llm:model-a`). The registry is
/// bounded: when `capacity` keys exist, making a new one evicts the least
/// recently used *idle* breaker (closed, and unused for `idle_ttl` when one
/// is set); breakers that are open or half-open are never evicted, since that
/// would forget that their dependency is failing.
///
/// An optional global breaker sees every call and is checked first, for the
/// GPU inference platform's "global failure rate 10 % over 60 s" on top of
/// per-model breakers.
///
/// Cheap to clone: clones share one registry (an `Arc` inside), so hand a
/// clone to every task or layer that needs it.
///
/// ```
/// use std::time::Duration;
/// use resilience_core::circuit_breaker::{CircuitBreakerConfig, CircuitBreakerRegistry, CircuitState};
/// use resilience_core::clock::ManualClock;
///
/// let clock = ManualClock::new();
/// let per_model = CircuitBreakerConfig::new().name("model").consecutive_failures(5);
/// let registry = CircuitBreakerRegistry::<String>::builder(per_model)
///     .global(
///         CircuitBreakerConfig::new()
///             .name("global")
///             .time_window(Duration::from_secs(60))
///             .minimum_calls(20)
///             .failure_rate_threshold(0.10),
///     )
///     .clock(clock.clone())
///     .build()
///     .unwrap();
///
/// for _ in 0..5 {
///     registry.try_acquire("sdxl").unwrap().record_failure();
/// }
/// assert_eq!(registry.get("sdxl").unwrap().state(), CircuitState::Open);
/// assert!(registry.try_acquire("sdxl").is_err());
/// // Another model is unaffected.
/// registry.try_acquire("flux").unwrap().record_success();
/// assert_eq!(registry.get("sdxl").unwrap().name(), "model:sdxl");
/// ```
pub struct CircuitBreakerRegistry<K> {
    inner: Arc<Shared<K>>,
}

struct Shared<K> {
    config: CircuitBreakerConfig,
    clock: SharedClock,
    origin: Origin,
    global: Option<CircuitBreaker>,
    map: RwLock<HashMap<K, Entry>>,
    capacity: usize,
    idle_nanos: Option<u64>,
    on_create: RwLock<Vec<OnCreate<K>>>,
}

impl<K> Clone for CircuitBreakerRegistry<K> {
    fn clone(&self) -> Self {
        CircuitBreakerRegistry {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// Builds a [`CircuitBreakerRegistry`]: the per-key config, then optional
/// settings, each with a plain setter named as the setting.
///
/// | setter | default |
/// |---|---|
/// | [`global`](Self::global) | no global breaker |
/// | [`capacity`](Self::capacity) | [`CircuitBreakerRegistry::DEFAULT_CAPACITY`] keys |
/// | [`idle_ttl`](Self::idle_ttl) | none: any closed breaker is evictable, least recently used first |
/// | [`clock`](Self::clock) | [`SystemClock`] |
/// | [`on_create`](Self::on_create) | none |
///
/// ```
/// use std::time::Duration;
/// use resilience_core::circuit_breaker::{CircuitBreakerConfig, CircuitBreakerRegistry};
/// let registry = CircuitBreakerRegistry::<u64>::builder(CircuitBreakerConfig::new())
///     .capacity(1_000)
///     .idle_ttl(Duration::from_secs(600))
///     .build()
///     .unwrap();
/// assert_eq!(registry.capacity(), 1_000);
/// let err = CircuitBreakerRegistry::<u64>::builder(CircuitBreakerConfig::new()).capacity(0).build().unwrap_err();
/// assert_eq!(err.field(), Some("capacity"));
/// ```
#[must_use]
pub struct CircuitBreakerRegistryBuilder<K> {
    config: CircuitBreakerConfig,
    global: Option<CircuitBreakerConfig>,
    capacity: usize,
    idle_ttl: Option<Duration>,
    clock: Option<SharedClock>,
    on_create: Vec<OnCreate<K>>,
}

impl<K> fmt::Debug for CircuitBreakerRegistryBuilder<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerRegistryBuilder")
            .field("config", &self.config)
            .field("global", &self.global)
            .field("capacity", &self.capacity)
            .field("idle_ttl", &self.idle_ttl)
            .finish_non_exhaustive()
    }
}

impl<K> CircuitBreakerRegistryBuilder<K>
where
    K: Hash + Eq + Clone + Display + Send + Sync + 'static,
{
    /// A global breaker, checked before the key's and fed every outcome.
    /// Its name defaults to `global`.
    pub fn global(mut self, config: CircuitBreakerConfig) -> Self {
        self.global = Some(config);
        self
    }

    /// The most keys held at once (at least 1).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// A closed breaker unused for `ttl` counts as idle (evictable).
    pub fn idle_ttl(mut self, ttl: Duration) -> Self {
        self.idle_ttl = Some(ttl);
        self
    }

    /// The clock every breaker of the registry reads.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(shared(clock));
        self
    }

    /// Calls `f` with each newly made breaker (see
    /// [`CircuitBreakerRegistry::on_create`]).
    pub fn on_create<F>(mut self, f: F) -> Self
    where
        F: Fn(&K, &CircuitBreaker) + Send + Sync + 'static,
    {
        self.on_create.push(Arc::new(f));
        self
    }

    /// Validates every setting and builds the registry.
    pub fn build(self) -> Result<CircuitBreakerRegistry<K>, ConfigError> {
        self.config.validate()?;
        if self.capacity == 0 {
            return Err(ConfigError::invalid(
                "capacity",
                "must be at least 1, got 0",
            ));
        }
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let global = match self.global {
            Some(mut config) => {
                if config.name.is_none() {
                    config.name = Some("global".to_string());
                }
                Some(
                    CircuitBreaker::with_clock(config, clock.clone())
                        .map_err(|e| e.within("global"))?,
                )
            }
            None => None,
        };
        let origin = Origin::new(clock.now());
        Ok(CircuitBreakerRegistry {
            inner: Arc::new(Shared {
                config: self.config,
                clock,
                origin,
                global,
                map: RwLock::new(HashMap::new()),
                capacity: self.capacity,
                idle_nanos: self.idle_ttl.map(duration_nanos),
                on_create: RwLock::new(self.on_create),
            }),
        })
    }
}

/// Permission for one call through a [`CircuitBreakerRegistry`]: the key's
/// permit and, when the registry has one, the global breaker's.
#[must_use = "a permit records nothing unless you call record_*"]
#[derive(Debug)]
pub struct KeyedPermit {
    global: Option<OwnedPermit>,
    keyed: OwnedPermit,
}

impl KeyedPermit {
    /// Records `outcome` on the key's breaker and the global one.
    pub fn record(self, outcome: Outcome) {
        if let Some(g) = self.global {
            g.record(outcome);
        }
        self.keyed.record(outcome);
    }

    /// Records a success.
    pub fn record_success(self) {
        self.record(Outcome::Success)
    }

    /// Records a failure.
    pub fn record_failure(self) {
        self.record(Outcome::Failure)
    }

    /// Records a call not counted either way.
    pub fn record_ignored(self) {
        self.record(Outcome::Ignored)
    }

    /// The key's breaker.
    pub fn breaker(&self) -> &CircuitBreaker {
        self.keyed.breaker()
    }
}

impl<K> CircuitBreakerRegistry<K>
where
    K: Hash + Eq + Clone + Display + Send + Sync + 'static,
{
    /// The default capacity: 10 000 keys.
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// A registry on the system clock. The config is validated once, here.
    pub fn new(config: CircuitBreakerConfig) -> Result<Self, ConfigError> {
        Self::builder(config).build()
    }

    /// A registry whose breakers read `clock`.
    pub fn with_clock(
        config: CircuitBreakerConfig,
        clock: impl Clock,
    ) -> Result<Self, ConfigError> {
        Self::builder(config).clock(clock).build()
    }

    /// A builder for a registry with a global breaker, a capacity, an idle
    /// time or creation hooks.
    pub fn builder(config: CircuitBreakerConfig) -> CircuitBreakerRegistryBuilder<K> {
        CircuitBreakerRegistryBuilder {
            config,
            global: None,
            capacity: Self::DEFAULT_CAPACITY,
            idle_ttl: None,
            clock: None,
            on_create: Vec::new(),
        }
    }

    /// Calls `f` with each breaker made from now on, e.g. to attach
    /// listeners. Takes `&self`, so a registry already shared (cloned into
    /// layers and tasks) can still be wired. Hooks run in the order they were
    /// added, on the thread that first uses the key, while the registry's
    /// map is locked: they must not call back into the registry.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use resilience_core::circuit_breaker::{CircuitBreakerConfig, CircuitBreakerRegistry};
    ///
    /// let registry = CircuitBreakerRegistry::<String>::new(CircuitBreakerConfig::new()).unwrap();
    /// let made = Arc::new(AtomicUsize::new(0));
    /// let counter = made.clone();
    /// registry.clone().on_create(move |_key, _breaker| {
    ///     counter.fetch_add(1, Ordering::Relaxed);
    /// });
    /// registry.get("a").unwrap();
    /// registry.get("a").unwrap();
    /// assert_eq!(made.load(Ordering::Relaxed), 1);
    /// ```
    pub fn on_create<F>(&self, f: F)
    where
        F: Fn(&K, &CircuitBreaker) + Send + Sync + 'static,
    {
        self.inner.on_create.write().push(Arc::new(f));
    }

    /// Renamed: [`builder`](Self::builder)`.global(config)`.
    #[deprecated(
        since = "0.1.1",
        note = "use `CircuitBreakerRegistry::builder(config).global(..)`"
    )]
    #[doc(hidden)]
    pub fn with_global(self, mut config: CircuitBreakerConfig) -> Result<Self, ConfigError> {
        if config.name.is_none() {
            config.name = Some("global".to_string());
        }
        let global = CircuitBreaker::with_clock(config, self.inner.clock.clone())?;
        Ok(self.reshaped(|s| s.global = Some(global)))
    }

    /// Renamed: [`builder`](Self::builder)`.capacity(capacity)`.
    #[deprecated(
        since = "0.1.1",
        note = "use `CircuitBreakerRegistry::builder(config).capacity(..)`"
    )]
    #[doc(hidden)]
    pub fn with_capacity(self, capacity: usize) -> Result<Self, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::invalid(
                "capacity",
                "must be at least 1, got 0",
            ));
        }
        Ok(self.reshaped(|s| s.capacity = capacity))
    }

    /// Renamed: [`builder`](Self::builder)`.idle_ttl(ttl)`.
    #[deprecated(
        since = "0.1.1",
        note = "use `CircuitBreakerRegistry::builder(config).idle_ttl(..)`"
    )]
    #[doc(hidden)]
    pub fn with_idle_ttl(self, ttl: Duration) -> Self {
        self.reshaped(|s| s.idle_nanos = Some(duration_nanos(ttl)))
    }

    /// Applies a setting for the deprecated `with_*` forwarders: in place
    /// when this is the only handle, else on a copy that keeps the breakers.
    fn reshaped(self, set: impl FnOnce(&mut Shared<K>)) -> Self {
        let mut inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(shared) => Shared {
                config: shared.config.clone(),
                clock: shared.clock.clone(),
                origin: shared.origin,
                global: shared.global.clone(),
                map: RwLock::new(
                    shared
                        .map
                        .read()
                        .iter()
                        .map(|(k, e)| {
                            let entry = Entry {
                                breaker: e.breaker.clone(),
                                last_used: AtomicU64::new(e.last_used.load(Ordering::Relaxed)),
                            };
                            (k.clone(), entry)
                        })
                        .collect(),
                ),
                capacity: shared.capacity,
                idle_nanos: shared.idle_nanos,
                on_create: RwLock::new(shared.on_create.read().clone()),
            },
        };
        set(&mut inner);
        CircuitBreakerRegistry {
            inner: Arc::new(inner),
        }
    }

    /// The global breaker, if any.
    pub fn global(&self) -> Option<&CircuitBreaker> {
        self.inner.global.as_ref()
    }

    /// The most keys held at once.
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// The breaker for `key`, made on first use.
    pub fn get<Q>(&self, key: &Q) -> Result<CircuitBreaker, RegistryFull>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let inner = &*self.inner;
        let now = inner.origin.nanos(inner.clock.now());
        {
            let map = inner.map.read();
            if let Some(e) = map.get(key) {
                if e.last_used.load(Ordering::Relaxed) != now {
                    e.last_used.store(now, Ordering::Relaxed);
                }
                return Ok(e.breaker.clone());
            }
        }
        inner.insert(key.to_owned(), now)
    }

    /// Asks the global breaker (if any), then `key`'s breaker.
    pub fn try_acquire<Q>(&self, key: &Q) -> Result<KeyedPermit, KeyedRejection>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let global = match &self.inner.global {
            Some(g) => Some(g.try_acquire_owned()?),
            None => None,
        };
        let breaker = self.get(key)?;
        let keyed = breaker.try_acquire_owned()?;
        Ok(KeyedPermit { global, keyed })
    }

    /// Removes every idle breaker (see [`CircuitBreakerRegistryBuilder::idle_ttl`]);
    /// returns how many were removed.
    pub fn evict_idle(&self) -> usize {
        let inner = &*self.inner;
        let now = inner.origin.nanos(inner.clock.now());
        let mut map = inner.map.write();
        let before = map.len();
        map.retain(|_, e| !inner.is_idle(e, now));
        before - map.len()
    }

    /// Forgets `key`'s breaker. Returns whether it existed.
    pub fn remove<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.map.write().remove(key).is_some()
    }

    /// Number of keyed breakers.
    pub fn len(&self) -> usize {
        self.inner.map.read().len()
    }

    /// Whether there is no keyed breaker.
    pub fn is_empty(&self) -> bool {
        self.inner.map.read().is_empty()
    }

    /// Every key with its breaker's state, for status pages.
    pub fn states(&self) -> Vec<(K, CircuitState)> {
        self.inner
            .map
            .read()
            .iter()
            .map(|(k, e)| (k.clone(), e.breaker.state()))
            .collect()
    }

    /// Whether two handles are the same registry.
    pub fn ptr_eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl<K> Shared<K>
where
    K: Hash + Eq + Clone + Display + Send + Sync + 'static,
{
    #[cold]
    fn insert(&self, key: K, now: u64) -> Result<CircuitBreaker, RegistryFull> {
        let mut map = self.map.write();
        if let Some(e) = map.get(&key) {
            return Ok(e.breaker.clone());
        }
        if map.len() >= self.capacity {
            let victim = map
                .iter()
                .filter(|(_, e)| self.is_idle(e, now))
                .min_by_key(|(_, e)| e.last_used.load(Ordering::Relaxed))
                .map(|(k, _)| k.clone());
            match victim {
                Some(k) => {
                    map.remove(&k);
                }
                None => {
                    return Err(RegistryFull {
                        capacity: self.capacity,
                    })
                }
            }
        }
        let mut config = self.config.clone();
        config.name = Some(match &self.config.name {
            Some(prefix) => format!("{prefix}:{key}"),
            None => key.to_string(),
        });
        // The config was validated at construction; only the name changed.
        let breaker =
            CircuitBreaker::with_clock(config, self.clock.clone()).map_err(|_| RegistryFull {
                capacity: self.capacity,
            })?;
        for f in self.on_create.read().iter() {
            f(&key, &breaker);
        }
        map.insert(
            key,
            Entry {
                breaker: breaker.clone(),
                last_used: AtomicU64::new(now),
            },
        );
        Ok(breaker)
    }

    fn is_idle(&self, e: &Entry, now: u64) -> bool {
        let calm = matches!(
            e.breaker.state(),
            CircuitState::Closed | CircuitState::Disabled
        );
        let unused = match self.idle_nanos {
            Some(ttl) => now.saturating_sub(e.last_used.load(Ordering::Relaxed)) >= ttl,
            None => true,
        };
        calm && unused
    }
}

impl<K> fmt::Debug for CircuitBreakerRegistry<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerRegistry")
            .field("keys", &self.inner.map.read().len())
            .field("capacity", &self.inner.capacity)
            .field("global", &self.inner.global)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn registry(capacity: usize) -> (ManualClock, CircuitBreakerRegistry<String>) {
        let clock = ManualClock::new();
        let r =
            CircuitBreakerRegistry::builder(CircuitBreakerConfig::new().consecutive_failures(1))
                .clock(clock.clone())
                .capacity(capacity)
                .build()
                .unwrap();
        (clock, r)
    }

    #[test]
    fn same_key_same_breaker() {
        let (_, r) = registry(10);
        let a = r.get("a").unwrap();
        assert!(a.ptr_eq(&r.get("a").unwrap()));
        assert!(!a.ptr_eq(&r.get("b").unwrap()));
        assert_eq!(a.name(), "a");
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn evicts_least_recently_used_closed_breaker() {
        let (clock, r) = registry(2);
        r.get("a").unwrap();
        clock.advance(Duration::from_millis(1));
        r.get("b").unwrap();
        clock.advance(Duration::from_millis(1));
        r.get("a").unwrap(); // a is now more recent than b
        clock.advance(Duration::from_millis(1));
        r.get("c").unwrap();
        let mut keys: Vec<_> = r.states().into_iter().map(|(k, _)| k).collect();
        keys.sort();
        assert_eq!(keys, vec!["a", "c"]);
    }

    #[test]
    fn never_evicts_an_open_breaker() {
        let (_, r) = registry(1);
        r.try_acquire("a").unwrap().record_failure();
        assert_eq!(r.get("a").unwrap().state(), CircuitState::Open);
        assert_eq!(r.get("b").unwrap_err(), RegistryFull { capacity: 1 });
        assert!(matches!(r.try_acquire("b"), Err(KeyedRejection::Full(_))));
        // The open breaker is still there, still open.
        assert!(matches!(r.try_acquire("a"), Err(KeyedRejection::Open(_))));
    }

    #[test]
    fn idle_ttl_protects_recently_used_breakers() {
        let clock = ManualClock::new();
        let r = CircuitBreakerRegistry::<String>::builder(
            CircuitBreakerConfig::new().consecutive_failures(1),
        )
        .clock(clock.clone())
        .capacity(1)
        .idle_ttl(Duration::from_secs(60))
        .build()
        .unwrap();
        r.get("a").unwrap();
        assert!(r.get("b").is_err());
        clock.advance(Duration::from_secs(61));
        assert!(r.get("b").is_ok());
        assert_eq!(r.evict_idle(), 0);
        clock.advance(Duration::from_secs(61));
        assert_eq!(r.evict_idle(), 1);
        assert!(r.is_empty());
    }

    #[test]
    fn global_breaker_is_checked_first_and_sees_all_calls() {
        let clock = ManualClock::new();
        let r = CircuitBreakerRegistry::<String>::builder(
            CircuitBreakerConfig::new().consecutive_failures(10),
        )
        .clock(clock)
        .global(CircuitBreakerConfig::new().consecutive_failures(3))
        .build()
        .unwrap();
        for key in ["a", "b", "c"] {
            r.try_acquire(key).unwrap().record_failure();
        }
        let g = r.global().unwrap();
        assert_eq!(g.name(), "global");
        assert_eq!(g.state(), CircuitState::Open);
        match r.try_acquire("d") {
            Err(KeyedRejection::Open(open)) => assert_eq!(open.name(), "global"),
            other => panic!("expected the global breaker to reject, got {other:?}"),
        }
        // The global rejection happened before a breaker for `d` was made.
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn keyed_rejection_releases_the_global_trial() {
        let clock = ManualClock::new();
        let r = CircuitBreakerRegistry::<String>::builder(
            CircuitBreakerConfig::new()
                .consecutive_failures(1)
                .half_open_permits(1),
        )
        .clock(clock.clone())
        .global(
            CircuitBreakerConfig::new()
                .consecutive_failures(1)
                .half_open_permits(2)
                .success_threshold(1),
        )
        .build()
        .unwrap();
        r.try_acquire("a").unwrap().record_failure();
        clock.advance(Duration::from_secs(30));
        // Both are half-open: global has 2 trials, `a` has 1.
        let first = r.try_acquire("a").unwrap();
        // Global grants its 2nd trial, `a` rejects: the global trial must be
        // given back...
        assert!(matches!(r.try_acquire("a"), Err(KeyedRejection::Open(_))));
        // ...so a call for another key still gets it.
        let second = r.try_acquire("b").unwrap();
        first.record_success();
        second.record_success();
        assert_eq!(r.global().unwrap().state(), CircuitState::Closed);
        assert_eq!(r.get("a").unwrap().state(), CircuitState::Closed);
    }

    #[test]
    fn zero_capacity_is_a_config_error() {
        let err = CircuitBreakerRegistry::<String>::builder(CircuitBreakerConfig::default())
            .capacity(0)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), Some("capacity"));
    }

    #[test]
    #[allow(deprecated)]
    fn deprecated_setters_forward_and_keep_the_breakers() {
        let r = CircuitBreakerRegistry::<String>::new(CircuitBreakerConfig::default()).unwrap();
        assert_eq!(
            r.clone().with_capacity(0).unwrap_err().field(),
            Some("capacity")
        );
        r.get("a").unwrap();
        let held = r.clone();
        let r = r
            .with_capacity(5)
            .unwrap()
            .with_global(CircuitBreakerConfig::new())
            .unwrap()
            .with_idle_ttl(Duration::from_secs(1));
        assert_eq!(r.capacity(), 5);
        assert_eq!(r.global().unwrap().name(), "global");
        assert!(r.get("a").unwrap().ptr_eq(&held.get("a").unwrap()));
    }

    #[test]
    fn on_create_runs_every_hook_once_per_new_breaker() {
        use std::sync::Mutex;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let first = seen.clone();
        let r = CircuitBreakerRegistry::<String>::builder(CircuitBreakerConfig::new())
            .on_create(move |k: &String, _| first.lock().unwrap().push(format!("builder:{k}")))
            .build()
            .unwrap();
        let second = seen.clone();
        r.clone().on_create(move |k, b| {
            second
                .lock()
                .unwrap()
                .push(format!("late:{k}:{}", b.name()))
        });
        r.get("a").unwrap();
        r.get("a").unwrap();
        assert_eq!(*seen.lock().unwrap(), ["builder:a", "late:a:a"]);
    }
}
