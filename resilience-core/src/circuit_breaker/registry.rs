//! One breaker per key (per model, per worker, per region, per host, per
//! tenant), created lazily from a shared config, plus an optional global
//! breaker.

use std::borrow::Borrow;
use std::fmt::{self, Display};
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use foldhash::fast::RandomState;
use hashbrown::HashTable;
use parking_lot::{Mutex, RwLock};

use super::event::Metrics;
use super::state::Name;
use super::{
    CircuitBreaker, CircuitBreakerConfig, CircuitOpen, CircuitState, Common, Outcome, OwnedPermit,
};
use crate::clock::{duration_nanos, shared, Clock, SharedClock, SystemClock};
use crate::config::ConfigError;

/// The registry holds `capacity` breakers and none of them is idle (closed,
/// held by no one outside the registry and unused for the idle time), so a
/// breaker for a new key cannot be made without forgetting the state of a
/// dependency that is failing, or of a call in flight.
///
/// ```
/// use resilience_core::circuit_breaker::RegistryFull;
/// assert_eq!(
///     RegistryFull { capacity: 1 }.to_string(),
///     "circuit breaker registry is full: capacity 1, every key open, in use or recently used; \
///      raise the capacity or shorten idle_ttl"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "circuit breaker registry is full: capacity {capacity}, every key open, in use or recently used; raise the capacity or shorten idle_ttl"
)]
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

type OnCreate<K> = Arc<dyn Fn(&K, &CircuitBreaker) + Send + Sync>;

/// Number of shards (a power of two).
const SHARDS: usize = 64;

/// One shard: a table of keys and their breakers behind its own lock, on
/// its own cache lines so that readers of different shards do not share
/// the lock words. The table holds no hasher: a key is hashed once per
/// call, by the registry, and the hash picks both the shard and the slot.
#[repr(align(128))]
struct Shard<K>(RwLock<HashTable<(K, CircuitBreaker)>>);

/// A keyed set of circuit breakers sharing one config.
///
/// Breakers are made on first use of a key and named after it (with the
/// config's `name` as a prefix when set: `llm:model-a`). The registry is
/// bounded by its capacity and, optionally, by an idle time (see the
/// [eviction](CircuitBreakerRegistry#eviction) docs); breakers that are open or half-open are
/// never evicted, since that would forget that their dependency is failing.
///
/// An optional global breaker sees every call and is checked first, for the
/// GPU inference platform's "global failure rate 10 % over 60 s" on top of
/// per-model breakers.
///
/// Cheap to clone: clones share one registry (an `Arc` inside), so hand a
/// clone to every task or layer that needs it.
///
/// ## Cost
///
/// Built for a million keys. The keys live in 64 shards, each a hash table
/// behind its own read-write lock, so lookups of different keys rarely meet
/// on one lock; a call hashes its key once (foldhash), and the hash picks
/// both the shard and the slot. A key's breaker shares its registry's config,
/// clock and (by default for large registries, see
/// [`per_key_metrics`](CircuitBreakerRegistryBuilder::per_key_metrics))
/// metric handles, and holds only its own state: about 250 bytes per key
/// for a count window of 10 calls, map included. A call on an existing key
/// takes the shard's read lock, reads the breaker and reads no clock: the
/// key's "last used" stamp is the registry's *generation*, a counter that
/// the registry's slow paths (making a key, evicting, sweeping) advance
/// with the clock, so the hot path writes the stamp only when the
/// generation moved since the key's last use.
///
/// ## Eviction
///
/// Memory is bounded two ways, both configurable:
///
/// * **capacity** (LRU): making a key in a full registry first evicts the
///   least recently used *idle* breakers (closed or disabled, held by no
///   one outside the registry; with an `idle_ttl`, also unused for that
///   long), a batch of 1/64 of the
///   capacity at a time so that the scan is paid once per batch. A
///   breaker that is open or half-open is never evicted: that would forget
///   that its dependency is failing. When no breaker is idle the new key
///   is refused with [`RegistryFull`].
/// * **idle_ttl** (TTL): with it set, the registry also sweeps breakers
///   unused for the TTL, one shard at a time as keys are made, every shard
///   at least once per half TTL while keys come and go; so under key
///   churn the registry holds about the keys used within the last TTL.
///   [`evict_idle`](CircuitBreakerRegistry::evict_idle) sweeps every shard
///   at once.
///
/// Use times are known to the registry's generation: a key is never judged
/// idle for longer than it was, and is judged idle at most one generation
/// (a slow path, or `idle_ttl / 16`) late.
///
/// A breaker that someone holds is never idle: a call in flight (its
/// [`KeyedPermit`] holds the breaker until it records), or a handle from
/// [`get`](CircuitBreakerRegistry::get) that is still alive. Evicting it
/// would split the key in two: the call's outcome, or the holder's calls,
/// would reach a breaker the registry no longer has, while the key's next
/// call through the registry started a fresh one. So a handle kept for a
/// hot key (its calls then cost what a lone breaker's do, without the
/// shard's lock and the lookup) keeps the key until it is dropped; a
/// handle kept by an [`on_create`](CircuitBreakerRegistryBuilder::on_create)
/// hook keeps its key for good, and counts against the capacity.
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
    /// What every key's breaker shares (config, clock, metric handles).
    common: Arc<Common>,
    global: Option<CircuitBreaker>,
    shards: Box<[Shard<K>]>,
    hasher: RandomState,
    /// Keys held, across shards.
    len: AtomicUsize,
    capacity: usize,
    idle_nanos: Option<u64>,
    per_key_metrics: bool,
    /// The generation: what the hot path stamps a used key with.
    generation: AtomicU64,
    clock_book: Mutex<Generations>,
    on_create: RwLock<Vec<OnCreate<K>>>,
}

impl<K> Clone for CircuitBreakerRegistry<K> {
    fn clone(&self) -> Self {
        CircuitBreakerRegistry {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// How many ended generations the registry remembers the end time of.
const HISTORY: usize = 64;

/// When generations ended: the registry's translation of a key's stamp into
/// "last used no later than". Only the slow paths touch it.
struct Generations {
    /// `(last generation of the record, when it ended)`, oldest first;
    /// generations ending within one `quantum` share a record, so the
    /// records span at least `HISTORY` quanta of time.
    ended: std::collections::VecDeque<(u64, u64)>,
    /// Time granularity of the records, in nanoseconds.
    quantum: u64,
    /// When the TTL sweep of the next shard is due, and which shard.
    next_sweep: u64,
    sweep_cursor: usize,
}

impl Generations {
    /// A key stamped `stamp` was last used no later than this (`now` for
    /// the current generation).
    fn last_use_bound(&self, stamp: u64, now: u64) -> u64 {
        let i = self.ended.partition_point(|&(g, _)| g < stamp);
        match self.ended.get(i) {
            Some(&(_, t)) => t,
            None => now,
        }
    }

    fn record_end(&mut self, generation: u64, now: u64) {
        match self.ended.back_mut() {
            Some(last) if now / self.quantum == last.1 / self.quantum => {
                *last = (generation, now.max(last.1));
            }
            _ => {
                if self.ended.len() == HISTORY {
                    self.ended.pop_front();
                }
                self.ended.push_back((generation, now));
            }
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
/// | [`per_key_metrics`](Self::per_key_metrics) | on: each key's breaker has its own metric series |
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
    per_key_metrics: bool,
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
            .field("per_key_metrics", &self.per_key_metrics)
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

    /// A closed breaker unused for `ttl` counts as idle (evictable), and
    /// the registry sweeps such breakers away as keys come and go (see the
    /// [eviction](CircuitBreakerRegistry#eviction) docs).
    pub fn idle_ttl(mut self, ttl: Duration) -> Self {
        self.idle_ttl = Some(ttl);
        self
    }

    /// Whether each key's breaker registers its own metric series, named
    /// after it (`name="model:sdxl"`; the default), or all keys report
    /// through one set of series named after the registry's config
    /// (`name="model"`, or `default`).
    ///
    /// Per-key series are what a dashboard of a few dozen models or
    /// workers wants. For thousands to millions of keys (per tenant, per
    /// host) turn them off: each key would otherwise cost ten metric
    /// registrations when it is made (microseconds) and ten series in the
    /// recorder for as long as it lives, and its breaker 170 more bytes.
    /// Without them, the shared `state` gauge is not set (no one state
    /// describes every key; count transitions instead, or read
    /// [`states`](CircuitBreakerRegistry::states)).
    ///
    /// ```
    /// use resilience_core::circuit_breaker::{CircuitBreakerConfig, CircuitBreakerRegistry};
    /// let per_tenant = CircuitBreakerRegistry::<u64>::builder(CircuitBreakerConfig::new().name("tenant"))
    ///     .capacity(1_000_000)
    ///     .per_key_metrics(false)
    ///     .build()
    ///     .unwrap();
    /// per_tenant.try_acquire(&42).unwrap().record_success();
    /// assert_eq!(per_tenant.get(&42).unwrap().name(), "tenant:42");
    /// ```
    pub fn per_key_metrics(mut self, on: bool) -> Self {
        self.per_key_metrics = on;
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
                let global = CircuitBreaker::with_clock(config, clock.clone());
                Some(global.map_err(|e| e.within("global"))?)
            }
            None => None,
        };
        let common = Arc::new(Common::new(
            self.config,
            clock,
            !self.per_key_metrics,
            !self.per_key_metrics,
        )?);
        let idle_nanos = self.idle_ttl.map(duration_nanos);
        Ok(CircuitBreakerRegistry {
            inner: Arc::new(Shared::new(
                common,
                global,
                self.capacity,
                idle_nanos,
                self.per_key_metrics,
                self.on_create,
            )),
        })
    }
}

impl<K> Shared<K> {
    fn new(
        common: Arc<Common>,
        global: Option<CircuitBreaker>,
        capacity: usize,
        idle_nanos: Option<u64>,
        per_key_metrics: bool,
        on_create: Vec<OnCreate<K>>,
    ) -> Self {
        let hasher = RandomState::default();
        let shards = (0..SHARDS)
            .map(|_| Shard(RwLock::new(HashTable::new())))
            .collect();
        // Generations are told apart at a 16th of the idle time (or a
        // millisecond without one): fine enough for the LRU order of
        // keys used at human timescales, coarse enough that the history
        // spans four idle times.
        let quantum = idle_nanos.map_or(1_000_000, |ttl| (ttl / 16).max(1));
        Shared {
            common,
            global,
            shards,
            hasher,
            len: AtomicUsize::new(0),
            capacity,
            idle_nanos,
            per_key_metrics,
            generation: AtomicU64::new(0),
            clock_book: Mutex::new(Generations {
                ended: std::collections::VecDeque::with_capacity(HISTORY),
                quantum,
                next_sweep: 0,
                sweep_cursor: 0,
            }),
            on_create: RwLock::new(on_create),
        }
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
    #[inline]
    pub fn record(self, outcome: Outcome) {
        if let Some(g) = self.global {
            g.record(outcome);
        }
        self.keyed.record(outcome);
    }

    /// Records a success.
    #[inline]
    pub fn record_success(self) {
        self.record(Outcome::Success)
    }

    /// Records a failure.
    #[inline]
    pub fn record_failure(self) {
        self.record(Outcome::Failure)
    }

    /// Records a call not counted either way.
    #[inline]
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
            per_key_metrics: true,
            clock: None,
            on_create: Vec::new(),
        }
    }

    /// Calls `f` with each breaker made from now on, e.g. to attach
    /// listeners. Takes `&self`, so a registry already shared (cloned into
    /// layers and tasks) can still be wired. Hooks run in the order they were
    /// added, on the thread that first uses the key, while the key's shard
    /// of the registry is locked: they must not call back into the registry.
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
        let global = CircuitBreaker::with_clock(config, self.inner.common.clock.clone())?;
        Ok(self.reshaped(|g, _, _| *g = Some(global)))
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
        Ok(self.reshaped(|_, c, _| *c = capacity))
    }

    /// Renamed: [`builder`](Self::builder)`.idle_ttl(ttl)`.
    #[deprecated(
        since = "0.1.1",
        note = "use `CircuitBreakerRegistry::builder(config).idle_ttl(..)`"
    )]
    #[doc(hidden)]
    pub fn with_idle_ttl(self, ttl: Duration) -> Self {
        self.reshaped(|_, _, idle| *idle = Some(duration_nanos(ttl)))
    }

    /// Applies a setting for the deprecated `with_*` forwarders: a new
    /// registry that keeps the breakers (and the old handle's breakers stay
    /// the same objects).
    fn reshaped(
        self,
        set: impl FnOnce(&mut Option<CircuitBreaker>, &mut usize, &mut Option<u64>),
    ) -> Self {
        let old = &*self.inner;
        let (mut global, mut capacity, mut idle) =
            (old.global.clone(), old.capacity, old.idle_nanos);
        set(&mut global, &mut capacity, &mut idle);
        let shared = Shared::new(
            old.common.clone(),
            global,
            capacity,
            idle,
            old.per_key_metrics,
            old.on_create.read().clone(),
        );
        for from in old.shards.iter() {
            for (k, b) in from.0.read().iter() {
                shared.put(k.clone(), b.clone());
                shared.len.fetch_add(1, Ordering::Relaxed);
            }
        }
        CircuitBreakerRegistry {
            inner: Arc::new(shared),
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
    ///
    /// While the returned handle (or a clone of it) is alive, the key is
    /// not evicted (see [Eviction](CircuitBreakerRegistry#eviction)).
    pub fn get<Q>(&self, key: &Q) -> Result<CircuitBreaker, RegistryFull>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        match self.inner.lookup(key, |b| b.clone()) {
            Some(b) => Ok(b),
            None => self.inner.insert(key.to_owned()),
        }
    }

    /// Asks the global breaker (if any), then `key`'s breaker.
    #[inline]
    pub fn try_acquire<Q>(&self, key: &Q) -> Result<KeyedPermit, KeyedRejection>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let global = match &self.inner.global {
            Some(g) => Some(g.try_acquire_owned()?),
            None => None,
        };
        let keyed = match self.inner.lookup(key, |b| b.try_acquire_owned()) {
            Some(permit) => permit?,
            None => self.inner.insert(key.to_owned())?.try_acquire_owned()?,
        };
        Ok(KeyedPermit { global, keyed })
    }

    /// Removes every idle breaker (see [`CircuitBreakerRegistryBuilder::idle_ttl`]);
    /// returns how many were removed.
    pub fn evict_idle(&self) -> usize {
        let inner = &*self.inner;
        let now = inner.common.now_nanos();
        let book = inner.advance(now);
        (0..SHARDS).map(|i| inner.sweep(i, &book, now)).sum()
    }

    /// Forgets `key`'s breaker. Returns whether it existed.
    pub fn remove<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let inner = &*self.inner;
        let hash = inner.hash(key);
        let removed = match inner.shard(hash).0.write().find_entry(hash, is(key)) {
            Ok(entry) => {
                entry.remove();
                true
            }
            Err(_) => false,
        };
        if removed {
            inner.len.fetch_sub(1, Ordering::Relaxed);
        }
        removed
    }

    /// Number of keyed breakers.
    pub fn len(&self) -> usize {
        self.inner.len.load(Ordering::Relaxed)
    }

    /// Whether there is no keyed breaker.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every key with its breaker's state, for status pages.
    pub fn states(&self) -> Vec<(K, CircuitState)> {
        let mut out = Vec::with_capacity(self.len());
        for shard in self.inner.shards.iter() {
            out.extend(shard.0.read().iter().map(|(k, b)| (k.clone(), b.state())));
        }
        out
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
    #[inline]
    fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The shard of a key hashed to `hash`.
    #[inline]
    fn shard(&self, hash: u64) -> &Shard<K> {
        // The hash's bits mixed once more (a Fibonacci multiply, top six
        // bits): foldhash's own bits of consecutive integer keys (tenant
        // and user ids) move together, so picking the shard from a slice
        // of them sent runs of consecutive keys to one shard, whose table
        // then grew for good (a churn of 50 000 ids through 1 000 places
        // held 219-463 KB, against 219-254 KB picked this way). The
        // tables still use the hash itself: low bits for buckets, the top
        // seven for tags.
        &self.shards[(hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize & (SHARDS - 1)]
    }

    /// Adds `key` (not held yet) with its breaker, without counting it.
    fn put(&self, key: K, breaker: CircuitBreaker) {
        let hash = self.hash(&key);
        self.shard(hash)
            .0
            .write()
            .insert_unique(hash, (key, breaker), |(k, _)| self.hash(k));
    }

    /// Runs `f` on `key`'s breaker, if it exists, and stamps it used.
    #[inline]
    fn lookup<Q, T>(&self, key: &Q, f: impl FnOnce(&CircuitBreaker) -> T) -> Option<T>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let map = self.shard(hash).0.read();
        let (_, b) = map.find(hash, is(key))?;
        let g = self.generation.load(Ordering::Relaxed);
        let stamp = b.last_used();
        if stamp.load(Ordering::Relaxed) != g {
            stamp.store(g, Ordering::Relaxed);
        }
        Some(f(b))
    }

    /// Ends the current generation at `now` (when time moved), so that keys
    /// used from here on are stamped later than every key stamped so far.
    /// Returns the book, locked, for the caller's eviction decisions.
    fn advance(&self, now: u64) -> parking_lot::MutexGuard<'_, Generations> {
        let mut book = self.clock_book.lock();
        let g = self.generation.load(Ordering::Relaxed);
        book.record_end(g, now);
        self.generation.store(g + 1, Ordering::Relaxed);
        book
    }

    /// Whether `b` may be evicted at `now`: closed or disabled, held by
    /// no one but the registry (no handle from `get`, no call in flight)
    /// and, with an idle time, unused for at least that long.
    ///
    /// Only called with `b`'s shard locked for writing, or to pick
    /// candidates that are checked again so before removal: while the
    /// registry's handle is the only one, only the registry can make
    /// another, so the answer cannot go stale before the removal.
    fn is_idle(&self, b: &CircuitBreaker, book: &Generations, now: u64) -> bool {
        if b.held_elsewhere() {
            // Evicting it would split the key in two: the holder's calls
            // (or the outcome of a call in flight) would go to a breaker
            // the registry no longer has, and the key's next call would
            // start a fresh one that knows nothing of them.
            return false;
        }
        let calm = matches!(b.state(), CircuitState::Closed | CircuitState::Disabled);
        let unused = match self.idle_nanos {
            Some(ttl) => {
                let stamp = b.last_used().load(Ordering::Relaxed);
                book.last_use_bound(stamp, now).saturating_add(ttl) <= now
            }
            None => true,
        };
        calm && unused
    }

    /// Removes shard `i`'s idle breakers; returns how many.
    fn sweep(&self, i: usize, book: &Generations, now: u64) -> usize {
        let mut map = self.shards[i].0.write();
        let before = map.len();
        map.retain(|(_, b)| !self.is_idle(b, book, now));
        let removed = before - map.len();
        self.len.fetch_sub(removed, Ordering::Relaxed);
        removed
    }

    /// Makes room for one key in a full registry: evicts the least
    /// recently used idle breakers, a batch of 1/64 of the capacity (at
    /// least one), so the scan over every key is paid once per batch.
    fn make_room(&self, book: &Generations, now: u64) -> bool {
        let batch = (self.capacity / 64).max(1);
        let mut idle: Vec<(u64, usize, K)> = Vec::new();
        for (i, shard) in self.shards.iter().enumerate() {
            for (k, b) in shard.0.read().iter() {
                if self.is_idle(b, book, now) {
                    idle.push((b.last_used().load(Ordering::Relaxed), i, k.clone()));
                }
            }
        }
        if idle.is_empty() {
            return false;
        }
        if idle.len() > batch {
            idle.select_nth_unstable_by_key(batch - 1, |(stamp, _, _)| *stamp);
            idle.truncate(batch);
        }
        for (_, i, k) in idle {
            let mut map = self.shards[i].0.write();
            // Still idle? It may have been used since the scan.
            if let Ok(entry) = map.find_entry(self.hash(&k), is(&k)) {
                if self.is_idle(&entry.get().1, book, now) {
                    entry.remove();
                    self.len.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
        true
    }

    #[cold]
    fn insert(&self, key: K) -> Result<CircuitBreaker, RegistryFull> {
        let hash = self.hash(&key);
        let now = self.common.now_nanos();
        {
            let mut book = self.advance(now);
            if let Some(ttl) = self.idle_nanos {
                if now >= book.next_sweep {
                    let i = book.sweep_cursor;
                    book.sweep_cursor = (i + 1) % SHARDS;
                    book.next_sweep = now.saturating_add((ttl / 2 / SHARDS as u64).max(1));
                    self.sweep(i, &book, now);
                }
            }
            if self.len.load(Ordering::Relaxed) >= self.capacity
                && self.shard(hash).0.read().find(hash, is(&key)).is_none()
                && !self.make_room(&book, now)
            {
                return Err(RegistryFull {
                    capacity: self.capacity,
                });
            }
        }
        let name = match &self.common.raw.name {
            Some(prefix) => Name::from_display(format_args!("{prefix}:{key}")),
            None => Name::from_display(&key),
        };
        let mut map = self.shard(hash).0.write();
        if let Some((_, b)) = map.find(hash, is(&key)) {
            return Ok(b.clone());
        }
        let own_metrics = self.per_key_metrics.then(|| Metrics::new(name.as_str()));
        let breaker = CircuitBreaker::from_common(self.common.clone(), name, own_metrics);
        for f in self.on_create.read().iter() {
            f(&key, &breaker);
        }
        // Stamped with the generation `advance` ended (below every key used
        // from now on), so a key made and never used again is evicted
        // before one used since.
        breaker.last_used().store(
            self.generation.load(Ordering::Relaxed).saturating_sub(1),
            Ordering::Relaxed,
        );
        map.insert_unique(hash, (key, breaker.clone()), |(k, _)| self.hash(k));
        self.len.fetch_add(1, Ordering::Relaxed);
        Ok(breaker)
    }
}

/// Whether a table entry is `key`'s.
#[inline]
fn is<K, Q>(key: &Q) -> impl Fn(&(K, CircuitBreaker)) -> bool + '_
where
    K: Borrow<Q>,
    Q: Eq + ?Sized,
{
    move |(k, _)| k.borrow() == key
}

impl<K> fmt::Debug for CircuitBreakerRegistry<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerRegistry")
            .field("keys", &self.inner.len.load(Ordering::Relaxed))
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
