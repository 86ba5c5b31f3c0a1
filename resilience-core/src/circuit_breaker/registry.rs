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
/// GPU inference platform's "global failure rate 10 % over 60 s" on top of per-model breakers.
///
/// ```
/// use std::time::Duration;
/// use resilience_core::circuit_breaker::{CircuitBreakerConfig, CircuitBreakerRegistry, CircuitState};
/// use resilience_core::clock::ManualClock;
///
/// let clock = ManualClock::new();
/// let per_model = CircuitBreakerConfig::new().name("model").consecutive_failures(5);
/// let registry = CircuitBreakerRegistry::<String>::with_clock(per_model, clock.clone())
///     .unwrap()
///     .with_global(
///         CircuitBreakerConfig::new()
///             .name("global")
///             .time_window(Duration::from_secs(60))
///             .minimum_calls(20)
///             .failure_rate_threshold(0.10),
///     )
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
    config: CircuitBreakerConfig,
    clock: SharedClock,
    origin: Origin,
    global: Option<CircuitBreaker>,
    map: RwLock<HashMap<K, Entry>>,
    capacity: usize,
    idle_nanos: Option<u64>,
    on_create: Option<OnCreate<K>>,
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
        Self::with_clock(config, SystemClock)
    }

    /// A registry whose breakers read `clock`.
    pub fn with_clock(
        config: CircuitBreakerConfig,
        clock: impl Clock,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let clock = shared(clock);
        let origin = Origin::new(clock.now());
        Ok(CircuitBreakerRegistry {
            config,
            clock,
            origin,
            global: None,
            map: RwLock::new(HashMap::new()),
            capacity: Self::DEFAULT_CAPACITY,
            idle_nanos: None,
            on_create: None,
        })
    }

    /// Adds a global breaker, checked before the key's and fed every
    /// outcome. Its name defaults to `global`.
    pub fn with_global(mut self, mut config: CircuitBreakerConfig) -> Result<Self, ConfigError> {
        if config.name.is_none() {
            config.name = Some("global".to_string());
        }
        self.global = Some(CircuitBreaker::with_clock(config, self.clock.clone())?);
        Ok(self)
    }

    /// Sets the most keys held at once (at least 1).
    pub fn with_capacity(mut self, capacity: usize) -> Result<Self, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::invalid(
                "capacity",
                "must be at least 1, got 0",
            ));
        }
        self.capacity = capacity;
        Ok(self)
    }

    /// A closed breaker unused for `ttl` counts as idle (evictable).
    /// Without it, any closed breaker is evictable, least recently used
    /// first.
    pub fn with_idle_ttl(mut self, ttl: Duration) -> Self {
        self.idle_nanos = Some(duration_nanos(ttl));
        self
    }

    /// Calls `f` with each newly made breaker (to attach listeners).
    pub fn on_create<F>(mut self, f: F) -> Self
    where
        F: Fn(&K, &CircuitBreaker) + Send + Sync + 'static,
    {
        self.on_create = Some(Arc::new(f));
        self
    }

    /// The global breaker, if any.
    pub fn global(&self) -> Option<&CircuitBreaker> {
        self.global.as_ref()
    }

    /// The breaker for `key`, made on first use.
    pub fn get<Q>(&self, key: &Q) -> Result<CircuitBreaker, RegistryFull>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let now = self.origin.nanos(self.clock.now());
        {
            let map = self.map.read();
            if let Some(e) = map.get(key) {
                if e.last_used.load(Ordering::Relaxed) != now {
                    e.last_used.store(now, Ordering::Relaxed);
                }
                return Ok(e.breaker.clone());
            }
        }
        self.insert(key.to_owned(), now)
    }

    /// Asks the global breaker (if any), then `key`'s breaker.
    pub fn try_acquire<Q>(&self, key: &Q) -> Result<KeyedPermit, KeyedRejection>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let global = match &self.global {
            Some(g) => Some(g.try_acquire_owned()?),
            None => None,
        };
        let breaker = self.get(key)?;
        let keyed = breaker.try_acquire_owned()?;
        Ok(KeyedPermit { global, keyed })
    }

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
        if let Some(f) = &self.on_create {
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

    /// Removes every idle breaker (see [`with_idle_ttl`](Self::with_idle_ttl));
    /// returns how many were removed.
    pub fn evict_idle(&self) -> usize {
        let now = self.origin.nanos(self.clock.now());
        let mut map = self.map.write();
        let before = map.len();
        map.retain(|_, e| !self.is_idle(e, now));
        before - map.len()
    }

    /// Forgets `key`'s breaker. Returns whether it existed.
    pub fn remove<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.write().remove(key).is_some()
    }

    /// Number of keyed breakers.
    pub fn len(&self) -> usize {
        self.map.read().len()
    }

    /// Whether there is no keyed breaker.
    pub fn is_empty(&self) -> bool {
        self.map.read().is_empty()
    }

    /// Every key with its breaker's state, for status pages.
    pub fn states(&self) -> Vec<(K, CircuitState)> {
        self.map
            .read()
            .iter()
            .map(|(k, e)| (k.clone(), e.breaker.state()))
            .collect()
    }
}

impl<K> fmt::Debug for CircuitBreakerRegistry<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerRegistry")
            .field("keys", &self.map.read().len())
            .field("capacity", &self.capacity)
            .field("global", &self.global)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn registry(capacity: usize) -> (ManualClock, CircuitBreakerRegistry<String>) {
        let clock = ManualClock::new();
        let r = CircuitBreakerRegistry::with_clock(
            CircuitBreakerConfig::new().consecutive_failures(1),
            clock.clone(),
        )
        .unwrap()
        .with_capacity(capacity)
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
        let (clock, r) = registry(1);
        let r = r.with_idle_ttl(Duration::from_secs(60));
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
        let r = CircuitBreakerRegistry::<String>::with_clock(
            CircuitBreakerConfig::new().consecutive_failures(10),
            clock,
        )
        .unwrap()
        .with_global(CircuitBreakerConfig::new().consecutive_failures(3))
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
        let r = CircuitBreakerRegistry::<String>::with_clock(
            CircuitBreakerConfig::new()
                .consecutive_failures(1)
                .half_open_permits(1),
            clock.clone(),
        )
        .unwrap()
        .with_global(
            CircuitBreakerConfig::new()
                .consecutive_failures(1)
                .half_open_permits(2)
                .success_threshold(1),
        )
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
        let r = CircuitBreakerRegistry::<String>::new(CircuitBreakerConfig::default()).unwrap();
        assert_eq!(r.with_capacity(0).unwrap_err().field(), Some("capacity"));
    }
}
