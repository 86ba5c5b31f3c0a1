//! The fleet-wide rate limiter: a rate bucket in the shared store, spent
//! locally from leased batches.
//!
//! Every replica of a service holds a [`FleetRateLimiter`] on the same key.
//! The bucket in the store holds at most `burst` tokens and gains one every
//! `per / rate` by the *store's* clock (the replicas' clocks need not
//! agree); replicas lease tokens from it in small batches and spend them
//! with one atomic operation per call, so the store is never on the hot
//! path.
//!
//! See [`FleetRateLimiter`] for what the fleet admits and when.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use metrics::Counter;
use resilience_core::clock::{Clock, SystemClock};
use resilience_core::config::{check_nonzero, check_nonzero_duration, ConfigError};
use resilience_core::rate_limit::{RateLimit, RateLimited, RateLimiter, RateLimiterConfig};
use serde::{Deserialize, Serialize};

use super::budget::FleetScopeConfig;
use super::budget::{default_store_timeout, timed, Handles};
use super::{BudgetScope, FleetStore};

const fn default_batch() -> u32 {
    50
}

const fn default_sync_interval() -> Duration {
    Duration::from_millis(250)
}

const fn default_fallback_replicas() -> u32 {
    1
}

/// Config of a [`FleetRateLimiter`].
///
/// | field | default | meaning |
/// |---|---|---|
/// | `name` | required | the limiter's name: the `name` metrics label, and its key in the store |
/// | `limit` | required | the fleet's rate, a [`RateLimiterConfig`] (`rate`, `per`, `burst` for the whole fleet) |
/// | `batch` | 50 ([`new`](Self::new) lowers it to the burst when smaller) | tokens a replica leases at a time; at most `burst` |
/// | `sync_interval` | `250ms` | how often the background task checks the store while on local state, and waits after the bucket ran dry |
/// | `store_timeout` | `50ms` | the longest a store call may take before the replica falls back to local state |
/// | `fallback_replicas` | 1 | the local fallback admits `rate / fallback_replicas` (see [`FleetRateLimiter`]) |
///
/// **Sizing `batch`.** A replica asks for the next batch when half of one
/// is left. To serve calls while that lease is in flight, half a batch
/// must last one store round trip (and, to fall back without refusing,
/// `store_timeout`): `batch ≥ 2 × calls per second per replica ×
/// store_timeout`. A larger batch costs accuracy: each replica may hold
/// one batch the others cannot spend.
///
/// ```
/// use resilience_core::rate_limit::RateLimiterConfig;
/// use resilience_store::fleet::FleetRateLimiterConfig;
/// let c = FleetRateLimiterConfig::new("llm-provider", RateLimiterConfig::per_second(600)).with_batch(20);
/// c.validate().unwrap();
/// let bad = FleetRateLimiterConfig::new("llm-provider", RateLimiterConfig::per_second(10)).with_batch(11);
/// assert_eq!(bad.validate().unwrap_err().field(), Some("batch"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetRateLimiterConfig {
    /// Name and store key.
    pub name: String,
    /// The fleet's rate.
    pub limit: RateLimiterConfig,
    /// Tokens per lease.
    #[serde(default = "default_batch")]
    pub batch: u32,
    /// Background period.
    #[serde(with = "humantime_serde", default = "default_sync_interval")]
    pub sync_interval: Duration,
    /// Timeout of each store call.
    #[serde(with = "humantime_serde", default = "default_store_timeout")]
    pub store_timeout: Duration,
    /// The share of the rate the local fallback admits: `rate / fallback_replicas`.
    #[serde(default = "default_fallback_replicas")]
    pub fallback_replicas: u32,
}

impl FleetRateLimiterConfig {
    /// A config for the limiter `name` at the fleet-wide `limit`, with the
    /// defaults (a batch of 50, or the burst when smaller).
    pub fn new(name: impl Into<String>, limit: RateLimiterConfig) -> Self {
        let batch = default_batch().min(limit.effective_burst().max(1));
        FleetRateLimiterConfig {
            name: name.into(),
            limit,
            batch,
            sync_interval: default_sync_interval(),
            store_timeout: default_store_timeout(),
            fallback_replicas: default_fallback_replicas(),
        }
    }

    /// Sets `batch`.
    pub fn with_batch(mut self, batch: u32) -> Self {
        self.batch = batch;
        self
    }

    /// Sets `sync_interval`.
    pub fn with_sync_interval(mut self, interval: Duration) -> Self {
        self.sync_interval = interval;
        self
    }

    /// Sets `store_timeout`.
    pub fn with_store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout;
        self
    }

    /// Sets `fallback_replicas`.
    pub fn with_fallback_replicas(mut self, replicas: u32) -> Self {
        self.fallback_replicas = replicas;
        self
    }

    /// Checks every field; names the offending one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        crate::connection::check_key_part("name", &self.name)?;
        self.limit.validate().map_err(|e| e.within("limit"))?;
        if self.limit.emission_interval()? < Duration::from_micros(1) {
            return Err(ConfigError::invalid(
                "limit.rate",
                "a fleet-wide rate may be at most one token per microsecond (the store's clock \
                 counts microseconds); lengthen `per` or lower `rate`",
            ));
        }
        check_nonzero("batch", u64::from(self.batch))?;
        let burst = self.limit.effective_burst();
        if self.batch > burst {
            return Err(ConfigError::invalid(
                "batch",
                format!("must be at most the burst ({burst}), got {}", self.batch),
            ));
        }
        check_nonzero_duration("sync_interval", self.sync_interval)?;
        check_nonzero_duration("store_timeout", self.store_timeout)?;
        check_nonzero("fallback_replicas", u64::from(self.fallback_replicas))?;
        Ok(())
    }

    /// The local fallback's config: the fleet's rate and burst divided by
    /// `fallback_replicas`, rounded up.
    ///
    /// ```
    /// use resilience_core::rate_limit::RateLimiterConfig;
    /// use resilience_store::fleet::FleetRateLimiterConfig;
    /// let c = FleetRateLimiterConfig::new("api", RateLimiterConfig::per_second(100).burst(10)).with_batch(5)
    ///     .with_fallback_replicas(3);
    /// let local = c.fallback_config();
    /// assert_eq!((local.rate, local.burst), (34, Some(4)));
    /// ```
    pub fn fallback_config(&self) -> RateLimiterConfig {
        let k = self.fallback_replicas.max(1);
        RateLimiterConfig {
            name: Some(self.name.clone()),
            rate: self.limit.rate.div_ceil(k),
            per: self.limit.per,
            burst: Some(self.limit.effective_burst().div_ceil(k)),
        }
    }
}

/// A rate limiter shared by a fleet: tokens of a rate bucket in a
/// [`FleetStore`], leased in batches and spent locally; a
/// [`RateLimit`], so the tower `RateLimitLayer` and the stack take it in
/// place of a local [`RateLimiter`].
///
/// The hot path is one relaxed load (is the store up?) and one atomic
/// read-modify-write on the leased tokens; a background task leases the
/// next batch when fewer than half a batch is left, or at once when a call
/// is refused. When a store call fails or times out, the limiter switches
/// to its local fallback at once, logs a warning and counts
/// `resilience_fleet_fallbacks_total`; the task keeps trying every
/// `sync_interval` and switches back when the store answers.
///
/// Cloning is cheap (a handle); the task ends when the last handle is
/// dropped. Needs a tokio runtime.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use resilience_core::clock::ManualClock;
/// use resilience_core::rate_limit::{RateLimit, RateLimiterConfig};
/// use resilience_store::fleet::{FleetRateLimiter, FleetRateLimiterConfig, InMemoryFleetStore};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let clock = ManualClock::new();
/// let store = InMemoryFleetStore::with_clock(clock.clone());
/// // 100 calls a second across the fleet, bursts of 30, leased 10 at a time.
/// let config = FleetRateLimiterConfig::new("geocoder", RateLimiterConfig::per_second(100).burst(30)).with_batch(10);
/// let a = FleetRateLimiter::start(config.clone(), Arc::new(store.clone())).await.unwrap();
/// let b = FleetRateLimiter::start(config, Arc::new(store.clone())).await.unwrap();
/// assert_eq!((a.leased_tokens(), b.leased_tokens()), (10, 10), "one batch each");
/// for _ in 0..10 {
///     a.try_acquire().unwrap();
/// }
/// assert!(a.try_acquire().is_err(), "a spent its batch; the refill is on its way");
/// a.sync_now().await; // what the background task does at once
/// assert_eq!(a.leased_tokens(), 10, "the last 10 of the burst");
///
/// b.try_acquire_n(10).unwrap(); // b spends its batch and needs the next
/// store.set_available(false); // the store goes away
/// b.sync_now().await; // the refill fails
/// assert!(!b.is_fleet(), "falls back to a local limiter");
/// assert!(b.try_acquire().is_ok(), "and keeps serving");
/// # }
/// ```
///
/// # Consistency
///
/// * Over any window of length `t`, the fleet admits at most
///   `burst + rate · t / per` calls from the bucket, plus the tokens the
///   replicas held when the window began (at most one batch each): a
///   leased token spent later counts when leased. Tokens a replica
///   leased but never spent (it stopped, or its traffic moved) are lost to
///   the fleet, at most one batch per replica.
/// * A replica may refuse a call while another still holds tokens (at most
///   one batch each): the refusal asks for a refill at once, and its
///   `retry_after` is the time the bucket takes to gain the missing tokens
///   at the fleet's rate, an estimate.
/// * **While the store is down** (a call failed or took longer than
///   `store_timeout`), each replica switches at once to a local
///   [`RateLimiter`] of `rate / fallback_replicas` (and `burst /
///   fallback_replicas`, both rounded up); no call waits for the store.
///   With the default `fallback_replicas: 1` every replica may admit the
///   full fleet rate on its own, so the fleet admits up to N × `rate`
///   during an outage: availability first, since the store's outage says
///   nothing about the dependency's capacity. Set `fallback_replicas` to the
///   replica count to keep the fleet near `rate` instead, at the price of
///   under-admitting if fewer replicas run. The count is configured, not
///   learned: during an outage the store cannot say who is live. Leased
///   tokens still held are spent after the replica resynchronises.
///
/// # Metrics
///
/// The store's health uses the fleet series with `kind` = `rate_limit`:
///
/// | name | type | labels | meaning |
/// |---|---|---|---|
/// | `resilience_fleet_store_up` | gauge | `name`, `kind` = rate_limit | 1 while this replica spends fleet tokens, 0 while it runs on its local fallback |
/// | `resilience_fleet_fallbacks_total` | counter | `name`, `kind` = rate_limit | switches to the local fallback because a store call failed or timed out |
/// | `resilience_fleet_resyncs_total` | counter | `name`, `kind` = rate_limit | returns to fleet tokens once the store answered again |
/// | `resilience_fleet_store_ops_total` | counter | `name`, `kind` = rate_limit | rate-bucket leases made |
///
/// Admissions and refusals count in the local limiter's series
/// (`resilience_rate_limit_permitted_total`, `resilience_rate_limit_rejected_total`,
/// label `name`), whichever state served them.
#[derive(Clone)]
pub struct FleetRateLimiter {
    inner: Arc<Shared>,
}

struct Shared {
    config: FleetRateLimiterConfig,
    store: Arc<dyn FleetStore>,
    /// Tokens leased and not spent.
    local: AtomicU32,
    /// The largest request refused since the last lease (a lease asks for
    /// at least that many).
    need: AtomicU32,
    fleet: AtomicBool,
    fallback: RateLimiter,
    burst: u32,
    /// The fleet's emission interval.
    per_token: Duration,
    low_water: u32,
    refill: super::Refill,
    ops: AtomicU64,
    sync_lock: tokio::sync::Mutex<()>,
    m: Handles,
    permitted: Counter,
    rejected: Counter,
}

impl FleetRateLimiter {
    /// Validates `config`, leases the first batch (or falls back to local
    /// state if the store does not answer within `store_timeout`) and
    /// starts the background task. Only a bad config is an error.
    pub async fn start(
        config: FleetRateLimiterConfig,
        store: Arc<dyn FleetStore>,
    ) -> Result<FleetRateLimiter, ConfigError> {
        Self::start_with_clock(config, store, SystemClock).await
    }

    /// Like [`start`](Self::start), with the local fallback reading `clock`.
    pub async fn start_with_clock(
        config: FleetRateLimiterConfig,
        store: Arc<dyn FleetStore>,
        clock: impl Clock,
    ) -> Result<FleetRateLimiter, ConfigError> {
        config.validate()?;
        let fallback = RateLimiter::with_clock(config.fallback_config(), clock)
            .map_err(|e| e.within("limit"))?;
        let per_token = config.limit.emission_interval()?;
        let labels = [("name", config.name.clone())];
        let shared = Arc::new(Shared {
            store,
            local: AtomicU32::new(0),
            need: AtomicU32::new(0),
            // Counted as a fallback if the first lease fails.
            fleet: AtomicBool::new(true),
            fallback,
            burst: config.limit.effective_burst(),
            per_token,
            low_water: (config.batch / 2).max(1),
            refill: super::Refill::new(),
            ops: AtomicU64::new(0),
            sync_lock: tokio::sync::Mutex::new(()),
            m: Handles::new(&config.name, "rate_limit"),
            permitted: metrics::counter!("resilience_rate_limit_permitted_total", &labels),
            rejected: metrics::counter!("resilience_rate_limit_rejected_total", &labels),
            config,
        });
        shared.m.up.set(1.0);
        let _ = shared.sync().await;
        tokio::spawn(super::run_rounds(
            Arc::downgrade(&shared),
            shared.refill.waker(),
            shared.config.sync_interval,
            |s: Arc<Shared>| async move { s.sync().await },
        ));
        Ok(FleetRateLimiter { inner: shared })
    }

    /// Whether the limiter spends fleet tokens (`false`: its local
    /// fallback, because the store did not answer).
    pub fn is_fleet(&self) -> bool {
        self.inner.fleet.load(Ordering::Acquire)
    }

    /// Tokens this replica holds from the fleet's bucket.
    pub fn leased_tokens(&self) -> u32 {
        self.inner.local.load(Ordering::Acquire)
    }

    /// Store round trips made so far.
    pub fn store_ops(&self) -> u64 {
        self.inner.ops.load(Ordering::Relaxed)
    }

    /// The config.
    pub fn config(&self) -> &FleetRateLimiterConfig {
        &self.inner.config
    }

    /// The local fallback limiter.
    pub fn fallback(&self) -> &RateLimiter {
        &self.inner.fallback
    }

    /// Runs one round of the background task now: leases a batch if fewer
    /// than half a batch is left (or a call was refused), switches between
    /// fleet and local state by the store's answer.
    pub async fn sync_now(&self) {
        let _ = self.inner.sync().await;
    }
}

impl Shared {
    /// One round; returns how long the task should wait before the next
    /// one regardless of refusals (`None`: until woken or `sync_interval`).
    async fn sync(&self) -> Option<Duration> {
        let _one = self.sync_lock.lock().await;
        self.refill.started();
        let local = self.local.load(Ordering::Acquire);
        let need = self.need.swap(0, Ordering::AcqRel);
        let fleet = self.fleet.load(Ordering::Acquire);
        if fleet && local >= self.low_water && need <= local {
            return None;
        }
        let target = self.config.batch.max(need).min(self.burst);
        let want = target.saturating_sub(local);
        self.ops.fetch_add(1, Ordering::Relaxed);
        self.m.ops.increment(1);
        let lease = self
            .store
            .lease_rate(&self.config.name, want, self.burst, self.per_token);
        match timed(self.config.store_timeout, lease).await {
            Ok(granted) => {
                self.local.fetch_add(granted, Ordering::AcqRel);
                self.m.outcome(&self.fleet, Ok(()));
                if granted < want {
                    // The bucket ran dry: ask again when about half a batch
                    // has refilled, not at every refused call.
                    let refill = self
                        .per_token
                        .saturating_mul(self.low_water)
                        .clamp(Duration::from_millis(1), self.config.sync_interval);
                    Some(refill)
                } else {
                    None
                }
            }
            Err(e) => {
                self.need.fetch_max(need, Ordering::AcqRel);
                self.m.outcome(&self.fleet, Err(&e));
                Some(self.config.sync_interval)
            }
        }
    }
}

impl RateLimit for FleetRateLimiter {
    #[inline]
    fn try_acquire_n(&self, n: u32) -> Result<(), RateLimited> {
        let s = &*self.inner;
        if n == 0 {
            return Ok(());
        }
        if !s.fleet.load(Ordering::Relaxed) {
            return s.fallback.try_acquire_n(n);
        }
        if n > s.burst {
            s.rejected.increment(1);
            return Err(RateLimited::exceeding_burst(&s.config.name, n));
        }
        match s
            .local
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| t.checked_sub(n))
        {
            Ok(before) => {
                if before - n < s.low_water {
                    s.refill.request();
                }
                s.permitted.increment(u64::from(n));
                Ok(())
            }
            Err(held) => {
                s.need.fetch_max(n, Ordering::AcqRel);
                s.refill.request();
                s.rejected.increment(1);
                let missing = n - held;
                Err(RateLimited::new(
                    &s.config.name,
                    n,
                    s.per_token.saturating_mul(missing),
                ))
            }
        }
    }

    fn available(&self) -> u32 {
        let s = &*self.inner;
        if s.fleet.load(Ordering::Relaxed) {
            s.local.load(Ordering::Acquire)
        } else {
            s.fallback.available()
        }
    }

    fn name(&self) -> &str {
        &self.inner.config.name
    }
}

impl fmt::Debug for FleetRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetRateLimiter")
            .field("name", &self.inner.config.name)
            .field("fleet", &self.is_fleet())
            .field("leased_tokens", &self.leased_tokens())
            .finish_non_exhaustive()
    }
}

/// A rate limit as config data, local or fleet-wide: the local limiter's
/// YAML ([`RateLimiterConfig`]) plus `scope` and, for `scope: fleet`, the
/// same `fleet` block as a [`ScopedBudgetConfig`](super::ScopedBudgetConfig)
/// (the store's `url`, the `key`, `batch` (at most the burst; the default
/// 50 is lowered to the burst), `sync_interval`, `store_timeout`), plus
/// `fallback_replicas` beside `scope`.
///
/// ```
/// use resilience_core::config::from_yaml_str;
/// use resilience_store::fleet::{BudgetScope, ScopedRateLimitConfig};
/// let c: ScopedRateLimitConfig = from_yaml_str(
///     "rate: 600\nper: 1m\nburst: 20\nscope: fleet\nfallback_replicas: 3\n\
///      fleet:\n  url: redis://127.0.0.1:6379/\n  key: llm-provider\n  batch: 5\n",
/// ).unwrap();
/// assert_eq!(c.scope, BudgetScope::Fleet);
/// let fleet = c.fleet_config().unwrap().unwrap();
/// assert_eq!((fleet.name.as_str(), fleet.batch, fleet.limit.rate), ("llm-provider", 5, 600));
/// assert_eq!(fleet.fallback_config().rate, 200);
///
/// let local: ScopedRateLimitConfig = from_yaml_str("rate: 100\n").unwrap();
/// assert!(local.fleet_config().unwrap().is_none());
/// let bad: ScopedRateLimitConfig = from_yaml_str("rate: 100\nscope: fleet\n").unwrap();
/// assert_eq!(bad.fleet_config().unwrap_err().field(), Some("fleet"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "ScopedRaw", into = "ScopedRaw")]
pub struct ScopedRateLimitConfig {
    /// The rate (the whole fleet's, with `scope: fleet`).
    pub limit: RateLimiterConfig,
    /// Local (default) or fleet.
    pub scope: BudgetScope,
    /// The local fallback's share of the rate while the store is down
    /// (`scope: fleet` only; see [`FleetRateLimiterConfig`]).
    pub fallback_replicas: Option<u32>,
    /// The store, for `scope: fleet`.
    pub fleet: Option<FleetScopeConfig>,
}

/// The serde form of [`ScopedRateLimitConfig`]: the limiter's fields
/// spelled out (serde's `flatten` would let a typo through).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopedRaw {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    rate: u32,
    #[serde(with = "humantime_serde", default = "default_per")]
    per: Duration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    burst: Option<u32>,
    #[serde(default)]
    scope: BudgetScope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fallback_replicas: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fleet: Option<FleetScopeConfig>,
}

fn default_per() -> Duration {
    Duration::from_secs(1)
}

impl From<ScopedRaw> for ScopedRateLimitConfig {
    fn from(r: ScopedRaw) -> Self {
        ScopedRateLimitConfig {
            limit: RateLimiterConfig {
                name: r.name,
                rate: r.rate,
                per: r.per,
                burst: r.burst,
            },
            scope: r.scope,
            fallback_replicas: r.fallback_replicas,
            fleet: r.fleet,
        }
    }
}

impl From<ScopedRateLimitConfig> for ScopedRaw {
    fn from(c: ScopedRateLimitConfig) -> Self {
        ScopedRaw {
            name: c.limit.name,
            rate: c.limit.rate,
            per: c.limit.per,
            burst: c.limit.burst,
            scope: c.scope,
            fallback_replicas: c.fallback_replicas,
            fleet: c.fleet,
        }
    }
}

impl ScopedRateLimitConfig {
    /// The [`FleetRateLimiterConfig`] for `scope: fleet` (`None` for a
    /// local limiter), checked: a fleet limiter needs a `fleet` block.
    pub fn fleet_config(&self) -> Result<Option<FleetRateLimiterConfig>, ConfigError> {
        match (self.scope, &self.fleet) {
            (BudgetScope::Local, None) => {
                if self.fallback_replicas.is_some() {
                    return Err(ConfigError::invalid(
                        "fallback_replicas",
                        "is only read with `scope: fleet`; remove it or set the scope",
                    ));
                }
                self.limit.validate()?;
                Ok(None)
            }
            (BudgetScope::Local, Some(_)) => Err(ConfigError::invalid(
                "fleet",
                "is only read with `scope: fleet`; remove it or set the scope",
            )),
            (BudgetScope::Fleet, None) => Err(ConfigError::invalid(
                "fleet",
                "is required with `scope: fleet` (the store's `url` and the limiter's `key`)",
            )),
            (BudgetScope::Fleet, Some(f)) => {
                self.limit.validate()?;
                let mut limit = self.limit.clone();
                limit.name.get_or_insert_with(|| f.key.clone());
                let batch = if f.batch == default_batch() {
                    f.batch.min(limit.effective_burst())
                } else {
                    f.batch
                };
                let c = FleetRateLimiterConfig {
                    name: f.key.clone(),
                    limit,
                    batch,
                    sync_interval: f.sync_interval,
                    store_timeout: f.store_timeout,
                    fallback_replicas: self
                        .fallback_replicas
                        .unwrap_or(default_fallback_replicas()),
                };
                c.validate().map_err(|e| match e.field() {
                    Some("fallback_replicas") => e,
                    _ => e.within("fleet"),
                })?;
                Ok(Some(c))
            }
        }
    }

    /// Builds the limiter: a local [`RateLimiter`] for `scope: local`; for
    /// `scope: fleet`, a [`FleetRateLimiter`] on the Redis store at
    /// `fleet.url` (which starts on its local fallback if Redis does not
    /// answer). Needs a tokio runtime for `scope: fleet`.
    #[cfg(feature = "redis")]
    pub async fn build(&self, clock: impl Clock) -> Result<Arc<dyn RateLimit>, ConfigError> {
        let (Some(config), Some(f)) = (self.fleet_config()?, &self.fleet) else {
            return Ok(Arc::new(RateLimiter::with_clock(
                self.limit.clone(),
                clock,
            )?));
        };
        let mut redis = crate::connection::RedisConfig::new(f.url.clone());
        if let Some(prefix) = &f.key_prefix {
            redis = redis.with_key_prefix(prefix.clone());
        }
        let store = super::redis::RedisFleetStore::new(&redis).map_err(|e| e.within("fleet"))?;
        Ok(Arc::new(
            FleetRateLimiter::start_with_clock(config, Arc::new(store), clock).await?,
        ))
    }

    /// Builds the local limiter; `scope: fleet` needs the `redis` feature.
    #[cfg(not(feature = "redis"))]
    pub async fn build(&self, clock: impl Clock) -> Result<Arc<dyn RateLimit>, ConfigError> {
        match self.fleet_config()? {
            None => Ok(Arc::new(RateLimiter::with_clock(
                self.limit.clone(),
                clock,
            )?)),
            Some(_) => Err(ConfigError::invalid(
                "scope",
                "`scope: fleet` needs resilience-store's `redis` feature",
            )),
        }
    }
}
