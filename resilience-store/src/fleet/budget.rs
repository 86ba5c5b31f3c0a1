//! The fleet-wide retry budget: a token bucket in the shared store, spent
//! locally from leased batches.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use metrics::{Counter, Gauge};
use resilience_core::clock::Clock;
use resilience_core::config::{check_nonzero, check_nonzero_duration, ConfigError};
use resilience_core::retry::{
    BudgetConfig, ErrorClass, RetryBudget, TokenBucketBudget, TokenBucketConfig, Withdrawal,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::{FleetError, FleetStore};

const fn default_batch() -> u32 {
    50
}

const fn default_sync_interval() -> Duration {
    Duration::from_millis(250)
}

pub(crate) const fn default_store_timeout() -> Duration {
    Duration::from_millis(50)
}

/// Config of a [`FleetBudget`].
///
/// | field | default | meaning |
/// |---|---|---|
/// | `name` | required | the budget's name: the `name` metrics label, and the bucket's key in the store |
/// | `bucket` | AWS defaults | the fleet's token bucket ([`TokenBucketConfig`]): its `capacity` is the whole fleet's; the same config builds the local fallback budget |
/// | `batch` | 50 | tokens a replica leases at a time (at least `timeout_retry_cost`, at most `capacity`) |
/// | `sync_interval` | `250ms` | how often the background task returns refunds and checks the store while on local state |
/// | `store_timeout` | `50ms` | the longest a store call may take before the replica falls back to local state |
///
/// ```
/// use resilience_core::retry::TokenBucketConfig;
/// use resilience_store::fleet::FleetBudgetConfig;
/// let c = FleetBudgetConfig::new("inventory", TokenBucketConfig::default()).with_batch(0);
/// assert_eq!(c.validate().unwrap_err().field(), Some("batch"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetBudgetConfig {
    /// Name and store key.
    pub name: String,
    /// The fleet's bucket.
    #[serde(default)]
    pub bucket: TokenBucketConfig,
    /// Tokens per lease.
    #[serde(default = "default_batch")]
    pub batch: u32,
    /// Background period.
    #[serde(with = "humantime_serde", default = "default_sync_interval")]
    pub sync_interval: Duration,
    /// Timeout of each store call.
    #[serde(with = "humantime_serde", default = "default_store_timeout")]
    pub store_timeout: Duration,
}

impl FleetBudgetConfig {
    /// A config for the budget `name` over `bucket`, with the defaults.
    pub fn new(name: impl Into<String>, bucket: TokenBucketConfig) -> Self {
        FleetBudgetConfig {
            name: name.into(),
            bucket,
            batch: default_batch(),
            sync_interval: default_sync_interval(),
            store_timeout: default_store_timeout(),
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

    /// Checks every field; names the offending one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        crate::connection::check_key_part("name", &self.name)?;
        TokenBucketBudget::new(self.bucket.clone()).map_err(|e| e.within("bucket"))?;
        check_nonzero("batch", u64::from(self.batch))?;
        let b = &self.bucket;
        if self.batch < b.retry_cost.max(b.timeout_retry_cost) || self.batch > b.capacity {
            return Err(ConfigError::invalid(
                "batch",
                format!(
                    "must be between the largest retry cost ({}) and capacity ({}), got {}",
                    b.retry_cost.max(b.timeout_retry_cost),
                    b.capacity,
                    self.batch
                ),
            ));
        }
        check_nonzero_duration("sync_interval", self.sync_interval)?;
        check_nonzero_duration("store_timeout", self.store_timeout)?;
        Ok(())
    }
}

/// A retry budget shared by a fleet: a token bucket whose tokens live in a
/// [`FleetStore`], spent locally.
///
/// The hot path never touches the network: a replica spends tokens from a
/// batch it leased (one atomic compare-and-swap), and a background task
/// leases the next batch when fewer than half a batch is left. Successes
/// refund the replica's batch first (up to `batch`) and the rest goes back
/// to the store on the next `sync_interval`. A retry is refused when the
/// leased tokens do not pay for it (the refill is asked for; the call never
/// waits for it).
///
/// When a store call fails or takes longer than `store_timeout`, the
/// budget switches to a local [`TokenBucketBudget`] built from the same
/// bucket config at once, logs a warning and counts
/// `resilience_fleet_fallbacks_total`; the task keeps trying the store
/// every `sync_interval` and switches back when it answers. Fleet-wide, the
/// retries stay within the bucket plus at most one batch per replica.
///
/// Cloning is cheap (a handle); the task ends when the last handle is
/// dropped, after handing the unspent tokens back to the store. Needs a
/// tokio runtime.
///
/// ```
/// use std::sync::Arc;
/// use resilience_core::retry::{ErrorClass, RetryBudget, TokenBucketConfig};
/// use resilience_store::fleet::{FleetBudget, FleetBudgetConfig, InMemoryFleetStore};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = InMemoryFleetStore::new();
/// let bucket = TokenBucketConfig { capacity: 100, retry_cost: 5, ..Default::default() };
/// let budget = FleetBudget::start(FleetBudgetConfig::new("search", bucket).with_batch(20), Arc::new(store.clone()))
///     .await
///     .unwrap();
/// assert_eq!(store.tokens("search"), Some(80), "one batch leased");
/// for _ in 0..3 {
///     assert!(budget.try_withdraw(ErrorClass::Transient).is_some());
/// }
/// assert!(budget.is_fleet());
/// assert_eq!(budget.leased_tokens(), 5, "below half a batch: a refill is due");
///
/// store.set_available(false); // the store goes away
/// budget.sync_now().await; // the refill fails
/// assert!(!budget.is_fleet(), "falls back to local state");
/// assert!(budget.try_withdraw(ErrorClass::Transient).is_some(), "retries still have a budget");
/// store.set_available(true);
/// budget.sync_now().await;
/// assert!(budget.is_fleet(), "resynchronised");
/// # }
/// ```
#[derive(Clone)]
pub struct FleetBudget {
    inner: Arc<Shared>,
}

struct Shared {
    config: FleetBudgetConfig,
    store: Arc<dyn FleetStore>,
    /// Leased tokens this replica may spend.
    local: AtomicU32,
    /// Refunds to hand back to the store.
    refunds: AtomicU32,
    fleet: AtomicBool,
    fallback: TokenBucketBudget,
    wake: Arc<Notify>,
    wake_requested: AtomicBool,
    low_water: u32,
    ops: AtomicU64,
    sync_lock: tokio::sync::Mutex<()>,
    m: Handles,
}

#[derive(Clone)]
pub(crate) struct Handles {
    pub(crate) name: String,
    pub(crate) kind: &'static str,
    pub(crate) up: Gauge,
    pub(crate) fallbacks: Counter,
    pub(crate) resyncs: Counter,
    pub(crate) ops: Counter,
}

impl Handles {
    pub(crate) fn new(name: &str, kind: &'static str) -> Handles {
        let labels = [("name", name.to_string()), ("kind", kind.to_string())];
        Handles {
            name: name.to_string(),
            kind,
            up: metrics::gauge!("resilience_fleet_store_up", &labels),
            fallbacks: metrics::counter!("resilience_fleet_fallbacks_total", &labels),
            resyncs: metrics::counter!("resilience_fleet_resyncs_total", &labels),
            ops: metrics::counter!("resilience_fleet_store_ops_total", &labels),
        }
    }

    /// Records the outcome of a store call; returns whether the replica is
    /// on fleet state afterwards.
    pub(crate) fn outcome(&self, fleet: &AtomicBool, result: Result<(), &FleetError>) -> bool {
        match result {
            Ok(()) => {
                if !fleet.swap(true, Ordering::AcqRel) {
                    self.resyncs.increment(1);
                    self.up.set(1.0);
                    tracing::info!(name = %self.name, kind = self.kind, "fleet store answers again: back on fleet state");
                }
                true
            }
            Err(e) => {
                if fleet.swap(false, Ordering::AcqRel) {
                    self.fallbacks.increment(1);
                    self.up.set(0.0);
                    tracing::warn!(name = %self.name, kind = self.kind, error = %e, "fleet store unavailable: falling back to local state");
                }
                false
            }
        }
    }
}

/// Runs `f` under `timeout`, as a [`FleetError`].
pub(crate) async fn timed<T>(
    timeout: Duration,
    f: impl std::future::Future<Output = Result<T, FleetError>>,
) -> Result<T, FleetError> {
    match tokio::time::timeout(timeout, f).await {
        Ok(r) => r,
        Err(_) => Err(FleetError::Timeout(timeout)),
    }
}

impl FleetBudget {
    /// Validates `config`, leases the first batch (or falls back to local
    /// state if the store does not answer within `store_timeout`) and
    /// starts the background task. Only a bad config is an error.
    pub async fn start(
        config: FleetBudgetConfig,
        store: Arc<dyn FleetStore>,
    ) -> Result<FleetBudget, ConfigError> {
        config.validate()?;
        let fallback = TokenBucketBudget::new(config.bucket.clone())?;
        let m = Handles::new(&config.name, "budget");
        let low_water = (config.batch / 2).max(config.bucket.timeout_retry_cost);
        let shared = Arc::new(Shared {
            store,
            local: AtomicU32::new(0),
            refunds: AtomicU32::new(0),
            // Counted as a fallback if the first lease fails.
            fleet: AtomicBool::new(true),
            fallback,
            wake: Arc::new(Notify::new()),
            wake_requested: AtomicBool::new(false),
            low_water,
            ops: AtomicU64::new(0),
            sync_lock: tokio::sync::Mutex::new(()),
            m,
            config,
        });
        shared.m.up.set(1.0);
        let _ = shared.sync().await;
        tokio::spawn(run(Arc::downgrade(&shared), shared.wake.clone()));
        Ok(FleetBudget { inner: shared })
    }

    /// Whether the budget runs on fleet state (`false`: on its local
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
    pub fn config(&self) -> &FleetBudgetConfig {
        &self.inner.config
    }

    /// Runs one round of the background task now: leases a batch if fewer
    /// than half a batch is left, returns refunds, switches between fleet
    /// and local state by the store's answer.
    pub async fn sync_now(&self) {
        let _ = self.inner.sync().await;
    }

    #[inline]
    fn request_refill(&self) {
        let s = &self.inner;
        if !s.wake_requested.load(Ordering::Relaxed)
            && !s.wake_requested.swap(true, Ordering::AcqRel)
        {
            s.wake.notify_one();
        }
    }
}

impl Shared {
    /// One round; returns whether the bucket was short (granted less
    /// than asked), so that the next round waits a full `sync_interval`
    /// instead of asking again at every refused retry.
    async fn sync(&self) -> bool {
        let _one = self.sync_lock.lock().await;
        let mut short = false;
        self.wake_requested.store(false, Ordering::Release);
        let cap = self.config.bucket.capacity;
        let key = self.config.name.as_str();
        let local = self.local.load(Ordering::Acquire);
        let fleet = self.fleet.load(Ordering::Acquire);
        let mut result = Ok(());
        // While on local state, a zero-token lease checks the store.
        if local < self.low_water || !fleet {
            let want = self.config.batch.saturating_sub(local);
            self.count_op();
            match timed(
                self.config.store_timeout,
                self.store.lease_tokens(key, want, cap),
            )
            .await
            {
                Ok(granted) => {
                    short = granted < want;
                    self.local.fetch_add(granted, Ordering::AcqRel);
                }
                Err(e) => result = Err(e),
            }
        }
        if result.is_ok() {
            let refunds = self.refunds.swap(0, Ordering::AcqRel);
            if refunds > 0 {
                self.count_op();
                if let Err(e) = timed(
                    self.config.store_timeout,
                    self.store.return_tokens(key, refunds, cap),
                )
                .await
                {
                    // Kept for the next round: a refund is never lost.
                    self.refunds.fetch_add(refunds, Ordering::AcqRel);
                    result = Err(e);
                }
            }
        }
        let on_fleet = self.m.outcome(&self.fleet, result.as_ref().map(|_| ()));
        short || !on_fleet
    }

    fn count_op(&self) {
        self.ops.fetch_add(1, Ordering::Relaxed);
        self.m.ops.increment(1);
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let tokens = self
            .local
            .load(Ordering::Acquire)
            .saturating_add(self.refunds.load(Ordering::Acquire));
        if tokens == 0 {
            return;
        }
        // Hand the unspent tokens back, best effort.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let store = self.store.clone();
            let key = self.config.name.clone();
            let cap = self.config.bucket.capacity;
            let timeout = self.config.store_timeout;
            rt.spawn(async move {
                let _ = timed(timeout, store.return_tokens(&key, tokens, cap)).await;
            });
        }
    }
}

async fn run(shared: Weak<Shared>, wake: Arc<Notify>) {
    let Some(interval) = shared.upgrade().map(|s| s.config.sync_interval) else {
        return;
    };
    let mut wait_full = false;
    loop {
        if wait_full {
            tokio::time::sleep(interval).await;
        } else {
            let _ = tokio::time::timeout(interval, wake.notified()).await;
        }
        let Some(s) = shared.upgrade() else {
            return;
        };
        wait_full = s.sync().await;
    }
}

impl RetryBudget for FleetBudget {
    #[inline]
    fn record_request(&self) {}

    #[inline]
    fn try_withdraw(&self, class: ErrorClass) -> Option<Withdrawal> {
        let s = &self.inner;
        if !s.fleet.load(Ordering::Relaxed) {
            return s.fallback.try_withdraw(class);
        }
        let b = &s.config.bucket;
        let cost = if class == ErrorClass::Timeout {
            b.timeout_retry_cost
        } else {
            b.retry_cost
        };
        match s
            .local
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| t.checked_sub(cost))
        {
            Ok(before) => {
                if before - cost < s.low_water {
                    self.request_refill();
                }
                Some(Withdrawal::new(cost))
            }
            Err(_) => {
                self.request_refill();
                None
            }
        }
    }

    #[inline]
    fn record_success(&self, last: Option<Withdrawal>) {
        let s = &self.inner;
        if !s.fleet.load(Ordering::Relaxed) {
            return s.fallback.record_success(last);
        }
        let amount = match last {
            Some(w) => w.cost(),
            None => s.config.bucket.success_refund,
        };
        if amount == 0 {
            return;
        }
        let batch = s.config.batch;
        let mut overflow = amount;
        let _ = s
            .local
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                if t >= batch {
                    overflow = amount;
                    return None;
                }
                let new = t.saturating_add(amount).min(batch);
                overflow = amount - (new - t);
                Some(new)
            });
        if overflow > 0 {
            s.refunds.fetch_add(overflow, Ordering::AcqRel);
        }
    }

    fn available(&self) -> u64 {
        let s = &self.inner;
        if !s.fleet.load(Ordering::Relaxed) {
            return s.fallback.available();
        }
        u64::from(s.local.load(Ordering::Acquire) / s.config.bucket.retry_cost.max(1))
    }
}

impl fmt::Debug for FleetBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetBudget")
            .field("name", &self.inner.config.name)
            .field("fleet", &self.is_fleet())
            .field("leased_tokens", &self.leased_tokens())
            .finish_non_exhaustive()
    }
}

/// Where a budget's tokens live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetScope {
    /// In this process (the default).
    #[default]
    Local,
    /// In a store shared by the fleet.
    Fleet,
}

/// The fleet part of a [`ScopedBudgetConfig`].
///
/// | field | default | meaning |
/// |---|---|---|
/// | `url` | required | the Redis server (`redis://host:port/db`) |
/// | `key` | required | the budget's name and key in the store |
/// | `key_prefix` | `resilience` | first part of every key |
/// | `batch`, `sync_interval`, `store_timeout` | see [`FleetBudgetConfig`] | |
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetScopeConfig {
    /// The store's URL.
    pub url: String,
    /// The budget's key.
    pub key: String,
    /// Prefix of every key.
    #[serde(default)]
    pub key_prefix: Option<String>,
    /// Tokens per lease.
    #[serde(default = "default_batch")]
    pub batch: u32,
    /// Background period.
    #[serde(with = "humantime_serde", default = "default_sync_interval")]
    pub sync_interval: Duration,
    /// Timeout of each store call.
    #[serde(with = "humantime_serde", default = "default_store_timeout")]
    pub store_timeout: Duration,
}

/// A retry budget as config data, local or fleet-wide: the local budget's
/// YAML ([`BudgetConfig`]) plus `scope` and, for `scope: fleet`, a `fleet`
/// block with the store's URL and the key.
///
/// ```
/// use resilience_core::config::from_yaml_str;
/// use resilience_store::fleet::{BudgetScope, ScopedBudgetConfig};
/// let c: ScopedBudgetConfig = from_yaml_str(
///     "kind: token_bucket\ncapacity: 500\nscope: fleet\nfleet:\n  url: redis://127.0.0.1:6379/\n  key: inventory\n  batch: 25\n",
/// ).unwrap();
/// assert_eq!(c.scope, BudgetScope::Fleet);
/// let fleet = c.fleet_config().unwrap().unwrap();
/// assert_eq!((fleet.name.as_str(), fleet.bucket.capacity, fleet.batch), ("inventory", 500, 25));
///
/// let local: ScopedBudgetConfig = from_yaml_str("kind: token_bucket\ncapacity: 100\n").unwrap();
/// assert_eq!(local.scope, BudgetScope::Local);
/// assert!(local.fleet_config().unwrap().is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScopedBudgetConfig {
    /// The budget's rule.
    #[serde(flatten)]
    pub budget: BudgetConfig,
    /// Local (default) or fleet.
    #[serde(default)]
    pub scope: BudgetScope,
    /// The store, for `scope: fleet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetScopeConfig>,
}

impl ScopedBudgetConfig {
    /// The [`FleetBudgetConfig`] for `scope: fleet` (`None` for a local
    /// budget), checked: a fleet budget needs a `fleet` block and a token
    /// bucket.
    pub fn fleet_config(&self) -> Result<Option<FleetBudgetConfig>, ConfigError> {
        match (self.scope, &self.fleet, &self.budget) {
            (BudgetScope::Local, None, _) => Ok(None),
            (BudgetScope::Local, Some(_), _) => Err(ConfigError::invalid(
                "fleet",
                "is only read with `scope: fleet`; remove it or set the scope",
            )),
            (BudgetScope::Fleet, None, _) => Err(ConfigError::invalid(
                "fleet",
                "is required with `scope: fleet` (the store's `url` and the budget's `key`)",
            )),
            (BudgetScope::Fleet, Some(_), BudgetConfig::Ratio(_)) => Err(ConfigError::invalid(
                "kind",
                "`scope: fleet` supports `kind: token_bucket`; a ratio budget is local only",
            )),
            (BudgetScope::Fleet, Some(f), BudgetConfig::TokenBucket(b)) => {
                let c = FleetBudgetConfig {
                    name: f.key.clone(),
                    bucket: b.clone(),
                    batch: f.batch,
                    sync_interval: f.sync_interval,
                    store_timeout: f.store_timeout,
                };
                c.validate().map_err(|e| e.within("fleet"))?;
                Ok(Some(c))
            }
        }
    }

    /// Builds the budget: the local one for `scope: local`; for
    /// `scope: fleet`, a [`FleetBudget`] on the Redis store at `fleet.url`
    /// (which starts on local state if Redis does not answer). Needs a
    /// tokio runtime for `scope: fleet`.
    #[cfg(feature = "redis")]
    pub async fn build(&self, clock: impl Clock) -> Result<Arc<dyn RetryBudget>, ConfigError> {
        let Some(config) = self.fleet_config()? else {
            return self.budget.build(clock);
        };
        let Some(f) = &self.fleet else {
            return self.budget.build(clock);
        };
        let mut redis = crate::connection::RedisConfig::new(f.url.clone());
        if let Some(prefix) = &f.key_prefix {
            redis = redis.with_key_prefix(prefix.clone());
        }
        let store = super::redis::RedisFleetStore::new(&redis).map_err(|e| e.within("fleet"))?;
        Ok(Arc::new(FleetBudget::start(config, Arc::new(store)).await?))
    }

    /// Builds the local budget; `scope: fleet` needs the `redis` feature.
    #[cfg(not(feature = "redis"))]
    pub async fn build(&self, clock: impl Clock) -> Result<Arc<dyn RetryBudget>, ConfigError> {
        match self.fleet_config()? {
            None => self.budget.build(clock),
            Some(_) => Err(ConfigError::invalid(
                "scope",
                "`scope: fleet` needs resilience-store's `redis` feature",
            )),
        }
    }
}
