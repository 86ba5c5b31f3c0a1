//! The fleet-wide retry budget: a token bucket (or a ratio window) in the
//! shared store, spent locally from leased batches.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Gauge};
use resilience_core::clock::{Clock, SystemClock};
use resilience_core::config::{check_nonzero, check_nonzero_duration, ConfigError};
use resilience_core::retry::{
    BudgetConfig, ErrorClass, RatioBudgetConfig, RetryBudget, TokenBucketConfig, Withdrawal,
};
use serde::{Deserialize, Serialize};

use super::{FleetError, FleetStore};

fn default_rule() -> BudgetConfig {
    BudgetConfig::TokenBucket(TokenBucketConfig::default())
}

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
/// | `name` | required | the budget's name: the `name` metrics label, and its key in the store |
/// | `rule` | a token bucket with the AWS defaults | the fleet's rule, a [`BudgetConfig`]: `{kind: token_bucket, ...}` (its `capacity` is the whole fleet's) or `{kind: ratio, ...}` (retries as a share of the whole fleet's calls); the same config builds the local fallback budget |
/// | `batch` | 50 | tokens (token bucket: at least `timeout_retry_cost`, at most `capacity`) or retries (ratio) a replica leases at a time |
/// | `sync_interval` | `250ms` | how often the background task returns refunds and checks the store while on local state |
/// | `store_timeout` | `50ms` | the longest a store call may take before the replica falls back to local state |
///
/// **Sizing `batch`.** A replica asks for the next batch when half of
/// one is left, and learns that the store is gone when that request fails
/// (at once, or after `store_timeout`). Until then it can only spend what
/// it holds, so a retry is refused if half a batch does not last
/// `store_timeout`: take `batch ≥ 2 × retries per second × cost ×
/// store_timeout` (a replica retrying 500 times a second at cost 5 with the
/// default 50 ms: 250 tokens). A larger batch costs accuracy: the fleet may
/// exceed the bucket by the unspent batches.
///
/// ```
/// use resilience_core::retry::TokenBucketConfig;
/// use resilience_store::fleet::FleetBudgetConfig;
/// let c = FleetBudgetConfig::new("inventory", TokenBucketConfig::default()).with_batch(0);
/// assert_eq!(c.validate().unwrap_err().field(), Some("batch"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetBudgetConfig {
    /// Name and store key.
    pub name: String,
    /// The fleet's rule.
    #[serde(default = "default_rule")]
    pub rule: BudgetConfig,
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
    /// A config for the budget `name` over the token bucket `bucket`,
    /// with the defaults.
    pub fn new(name: impl Into<String>, bucket: TokenBucketConfig) -> Self {
        Self::with_rule(name, BudgetConfig::TokenBucket(bucket))
    }

    /// A config for the budget `name` following the ratio rule `ratio`
    /// over the whole fleet's calls, with the defaults (batches of 10
    /// retries).
    ///
    /// ```
    /// use resilience_core::retry::RatioBudgetConfig;
    /// use resilience_store::fleet::FleetBudgetConfig;
    /// let c = FleetBudgetConfig::ratio("search", RatioBudgetConfig::default());
    /// assert_eq!(c.batch, 10);
    /// c.validate().unwrap();
    /// ```
    pub fn ratio(name: impl Into<String>, ratio: RatioBudgetConfig) -> Self {
        Self::with_rule(name, BudgetConfig::Ratio(ratio)).with_batch(10)
    }

    /// A config for the budget `name` following `rule`, with the defaults.
    pub fn with_rule(name: impl Into<String>, rule: BudgetConfig) -> Self {
        FleetBudgetConfig {
            name: name.into(),
            rule,
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
        self.rule.build(SystemClock).map_err(|e| e.within("rule"))?;
        check_nonzero("batch", u64::from(self.batch))?;
        if let BudgetConfig::TokenBucket(b) = &self.rule
            && (self.batch < b.retry_cost.max(b.timeout_retry_cost) || self.batch > b.capacity)
        {
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
/// With the ratio rule (`{kind: ratio, ...}`, Finagle's), the window of
/// calls and retries lives in the store, in the same ten steps of `ttl / 10`
/// as the local [`RatioBudget`](resilience_core::retry::RatioBudget): a
/// replica counts its calls locally (one atomic add) and adds them to the
/// fleet's window at each round, leasing retries the rule allows over the
/// *whole fleet's* calls, a batch at a time. A leased retry counts in the
/// window when leased, and is spent within the batch.
///
/// When a store call fails or takes longer than `store_timeout`, the
/// budget switches to a local budget built from the same rule
/// ([`TokenBucketBudget`](resilience_core::retry::TokenBucketBudget) or [`RatioBudget`](resilience_core::retry::RatioBudget)) at once, logs a warning and counts
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
    /// The rule's costs, read on the hot path.
    costs: Costs,
    /// Leased tokens (or retries, for the ratio rule) this replica may spend.
    local: AtomicU32,
    /// Refunds to hand back to the store (token bucket).
    refunds: AtomicU32,
    /// Calls not yet added to the fleet's window (ratio).
    requests: AtomicU64,
    fleet: AtomicBool,
    fallback: Arc<dyn RetryBudget>,
    refill: super::Refill,
    low_water: u32,
    ops: AtomicU64,
    sync_lock: tokio::sync::Mutex<()>,
    m: Handles,
}

/// What a retry costs and a success refunds, in leased units.
#[derive(Debug, Clone, Copy)]
struct Costs {
    ratio: bool,
    retry: u32,
    timeout_retry: u32,
    success_refund: u32,
    capacity: u32,
}

impl Costs {
    fn of(rule: &BudgetConfig) -> Costs {
        match rule {
            BudgetConfig::TokenBucket(b) => Costs {
                ratio: false,
                retry: b.retry_cost,
                timeout_retry: b.timeout_retry_cost,
                success_refund: b.success_refund,
                capacity: b.capacity,
            },
            BudgetConfig::Ratio(_) => Costs {
                ratio: true,
                retry: 1,
                timeout_retry: 1,
                success_refund: 0,
                capacity: 0,
            },
        }
    }
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
        Self::start_with_clock(config, store, SystemClock).await
    }

    /// Like [`start`](Self::start), with the local fallback of a ratio
    /// rule reading `clock`.
    pub async fn start_with_clock(
        config: FleetBudgetConfig,
        store: Arc<dyn FleetStore>,
        clock: impl Clock,
    ) -> Result<FleetBudget, ConfigError> {
        config.validate()?;
        let fallback = config.rule.build(clock).map_err(|e| e.within("rule"))?;
        let m = Handles::new(&config.name, "budget");
        let costs = Costs::of(&config.rule);
        let low_water = (config.batch / 2).max(costs.timeout_retry);
        let shared = Arc::new(Shared {
            store,
            costs,
            local: AtomicU32::new(0),
            refunds: AtomicU32::new(0),
            requests: AtomicU64::new(0),
            // Counted as a fallback if the first lease fails.
            fleet: AtomicBool::new(true),
            fallback,
            refill: super::Refill::new(),
            low_water,
            ops: AtomicU64::new(0),
            sync_lock: tokio::sync::Mutex::new(()),
            m,
            config,
        });
        shared.m.up.set(1.0);
        let _ = shared.sync().await;
        tokio::spawn(super::run_rounds(
            Arc::downgrade(&shared),
            shared.refill.waker(),
            shared.config.sync_interval,
            // A short round waits a full interval before the next.
            |s: Arc<Shared>| async move { s.sync().await.then_some(s.config.sync_interval) },
        ));
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
}

impl Shared {
    /// One round; returns whether the bucket was short (granted less
    /// than asked), so that the next round waits a full `sync_interval`
    /// instead of asking again at every refused retry.
    async fn sync(&self) -> bool {
        let _one = self.sync_lock.lock().await;
        let mut short = false;
        self.refill.started();
        let cap = self.costs.capacity;
        let key = self.config.name.as_str();
        let local = self.local.load(Ordering::Acquire);
        let fleet = self.fleet.load(Ordering::Acquire);
        let mut result = Ok(());
        if let BudgetConfig::Ratio(rule) = &self.config.rule {
            // The calls made since the last round go into the fleet's
            // window with the lease (a zero-retry lease while on local
            // state or with enough retries at hand).
            let requests = self.requests.swap(0, Ordering::AcqRel);
            let want = if local < self.low_water {
                self.config.batch.saturating_sub(local)
            } else {
                0
            };
            if requests > 0 || want > 0 || !fleet {
                self.count_op();
                let lease = self.store.lease_ratio(key, requests, want, rule);
                match timed(self.config.store_timeout, lease).await {
                    Ok(granted) => {
                        short = granted < want;
                        self.local.fetch_add(granted, Ordering::AcqRel);
                    }
                    Err(e) => {
                        self.requests.fetch_add(requests, Ordering::AcqRel);
                        result = Err(e);
                    }
                }
            }
            let on_fleet = self.m.outcome(&self.fleet, result.as_ref().map(|_| ()));
            return short || !on_fleet;
        }
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
        if self.costs.ratio {
            // Leased retries were counted in the fleet's window; they
            // expire with it.
            return;
        }
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
            let cap = self.costs.capacity;
            let timeout = self.config.store_timeout;
            rt.spawn(async move {
                let _ = timed(timeout, store.return_tokens(&key, tokens, cap)).await;
            });
        }
    }
}

impl RetryBudget for FleetBudget {
    #[inline]
    fn record_request(&self) {
        let s = &self.inner;
        if !s.costs.ratio {
            return;
        }
        if s.fleet.load(Ordering::Relaxed) {
            s.requests.fetch_add(1, Ordering::Relaxed);
        } else {
            s.fallback.record_request();
        }
    }

    #[inline]
    fn try_withdraw(&self, class: ErrorClass) -> Option<Withdrawal> {
        let s = &self.inner;
        if !s.fleet.load(Ordering::Relaxed) {
            return s.fallback.try_withdraw(class);
        }
        let cost = if class == ErrorClass::Timeout {
            s.costs.timeout_retry
        } else {
            s.costs.retry
        };
        match s
            .local
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| t.checked_sub(cost))
        {
            Ok(before) => {
                if before - cost < s.low_water {
                    s.refill.request();
                }
                Some(Withdrawal::new(cost))
            }
            Err(_) => {
                s.refill.request();
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
        if s.costs.ratio {
            return;
        }
        let amount = match last {
            Some(w) => w.cost(),
            None => s.costs.success_refund,
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
        u64::from(s.local.load(Ordering::Acquire) / s.costs.retry.max(1))
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
/// assert_eq!((fleet.name.as_str(), fleet.batch), ("inventory", 25));
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
    /// budget), checked: a fleet budget needs a `fleet` block.
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
            (BudgetScope::Fleet, Some(f), rule) => {
                let c = FleetBudgetConfig {
                    name: f.key.clone(),
                    rule: rule.clone(),
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
