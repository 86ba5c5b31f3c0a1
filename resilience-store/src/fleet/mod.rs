//! State shared across a fleet of replicas: a retry budget whose tokens
//! live in a shared store, and circuit breakers that open together when a
//! quorum of replicas sees a dependency fail.
//!
//! A service that runs as 20 replicas has 20 breakers and 20 budgets: each
//! replica must see failures on its own before it stops calling a dead
//! dependency, and each spends its own retry budget, so during an outage
//! the fleet sends up to 20× the retry load the budget was sized for. This
//! module shares that state through a [`FleetStore`] (Redis is the first
//! engine, [`InMemoryFleetStore`] serves tests and single-process
//! simulations) without putting the store on the hot path:
//!
//! | piece | hot path | shared part |
//! |---|---|---|
//! | [`FleetBudget`] | one atomic compare-and-swap on tokens leased in batches | a token bucket (or a ratio budget's window of calls and retries) in the store, taken from in batches by a Lua script |
//! | [`FleetRateLimiter`] | one atomic operation on permits leased in batches | a rate bucket in the store, refilled by the store's clock |
//! | [`FleetBreaker`] | the local [`CircuitBreaker`](resilience_core::circuit_breaker::CircuitBreaker), untouched | each replica's view (state, window counts) with a TTL; a bounded set of probe leases |
//!
//! Both implement or drive the core types, so the tower layers and the
//! stack take them without any change: a [`FleetBudget`] *is* a
//! [`RetryBudget`](resilience_core::retry::RetryBudget), and a
//! [`FleetBreaker`] steers an ordinary breaker handle that the
//! `CircuitBreakerLayer` already holds.
//!
//! # The store is never a single point of failure
//!
//! Every store call runs in a background task, under a short timeout
//! (`store_timeout`, 50 ms by default). When a call fails or times out, the
//! replica switches to local state at once: the budget spends a local
//! budget built from the same rule, the breaker decides on its own window
//! alone. The
//! switch is logged (`tracing` warn) and metered
//! (`resilience_fleet_fallbacks_total`, `resilience_fleet_store_up`), and
//! the task keeps trying: the first store call that succeeds puts the
//! replica back on fleet state (`resilience_fleet_resyncs_total`). No call
//! ever waits for the store; a budget sized as
//! [`FleetBudgetConfig`] says (half a batch lasts `store_timeout`) refuses
//! no retry because the store went away.
//!
//! # Consistency: what a replica may see, and for how long
//!
//! * **Budget**: a replica spends tokens it already holds. Tokens another
//!   replica leased are invisible until spent or returned, so a replica may
//!   be refused while others still hold tokens (at most one batch each),
//!   and the fleet's retries stay within the bucket plus at most one batch
//!   per replica (a success refunds its replica's batch first, up to one
//!   batch, even when the shared bucket is full). With the ratio rule a
//!   replica's calls reach the shared window at its next round
//!   (`sync_interval`), and leased retries count in the window when leased.
//!   While the store is down, retries are charged to the local fallback
//!   budget and not to the fleet's.
//! * **Breaker views** are at most `poll_interval` old when read (a
//!   replica publishes its own transitions within `poll_interval / 5`,
//!   and every `poll_interval` otherwise), so a replica follows a
//!   fleet-wide opening within about 1.2 × `poll_interval` plus one store
//!   round trip (≤ 1 s with the default 250 ms; about 250 ms measured on
//!   loopback). A replica that stops reporting still counts for
//!   `view_ttl` (3 s by default) and then ages out.
//! * **Quorum**: a replica's breaker is opened by the fleet only when at
//!   least `quorum` replicas (and at least `quorum_fraction` of the live
//!   ones) have it open *by their own window*, or when the failure rate
//!   over every replica's window crosses the threshold *with failures
//!   reported by at least `quorum` replicas*. One replica behind a bad
//!   network path therefore never opens the fleet; the price is that a
//!   dependency that fails for only one replica's traffic (a bad shard) is
//!   left to that replica's own breaker. `quorum` is at least 2. A
//!   replica forced open by the fleet has no vote, and its window (frozen
//!   when it followed) counts towards the rate for one open duration only,
//!   so a fleet opened by its failure rate does not hold itself open.
//! * **Probes**: when a breaker's open duration ends, its replica must
//!   hold one of `probes` probe leases in the store to admit half-open
//!   trials; the others stay open until a lease is free, or until a probe
//!   has closed its breaker and no quorum is open any more (then each runs
//!   its own trials: the fleet has seen the dependency answer). While the
//!   fleet is open it therefore sends at most `probes × half_open_permits`
//!   trial calls at a time, not one set per replica. A replica asks for
//!   the lease from `poll_interval + store_timeout` before its open
//!   duration ends (the latest a round can come), so a breaker whose
//!   rounds run late does not reach the end of its open duration without
//!   one; with the lease it keeps its open duration. A lease expires
//!   after `probe_ttl`, so a replica that dies mid-probe does not block
//!   the others.
//!
//! # Example
//!
//! Three replicas share a budget of 30 tokens through an in-memory store
//! (the Redis store, [`redis::RedisFleetStore`], is used the same way):
//!
//! ```
//! use std::sync::Arc;
//! use resilience_core::retry::{ErrorClass, RetryBudget, TokenBucketConfig};
//! use resilience_store::fleet::{FleetBudget, FleetBudgetConfig, FleetStore, InMemoryFleetStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let store: Arc<dyn FleetStore> = Arc::new(InMemoryFleetStore::new());
//! let bucket = TokenBucketConfig { capacity: 30, retry_cost: 5, ..Default::default() };
//! let config = FleetBudgetConfig::new("inventory", bucket).with_batch(10);
//! let mut replicas = Vec::new();
//! for _ in 0..3 {
//!     replicas.push(FleetBudget::start(config.clone(), store.clone()).await.unwrap());
//! }
//! // Each replica leased 10 tokens at start: two retries each, six in all.
//! let mut retries = 0;
//! for replica in &replicas {
//!     while replica.try_withdraw(ErrorClass::Transient).is_some() {
//!         retries += 1;
//!     }
//! }
//! assert_eq!(retries, 6, "the fleet's 30 tokens pay for 6 retries of 5");
//! # }
//! ```
//!
//! # Metrics
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `resilience_fleet_store_up` | gauge | `name`, `kind` = budget, rate_limit, breaker | 1 while this replica runs on fleet state, 0 while it runs on local state |
//! | `resilience_fleet_fallbacks_total` | counter | `name`, `kind` | switches to local state because a store call failed or timed out |
//! | `resilience_fleet_resyncs_total` | counter | `name`, `kind` | returns to fleet state once the store answered again |
//! | `resilience_fleet_store_ops_total` | counter | `name`, `kind` | store round trips made (leases, returns, view exchanges, probe leases) |
//! | `resilience_fleet_breaker_actions_total` | counter | `name`, `action` = follow, wait, probe, release | changes the fleet made to the local breaker |
//! | `resilience_fleet_replicas` | gauge | `name`, `state` = live, open | replicas reporting, and replicas whose own window has the breaker open |

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use resilience_core::retry::RatioBudgetConfig;
use serde::{Deserialize, Serialize};

mod breaker;
mod budget;
#[cfg(feature = "etcd")]
pub mod etcd;
mod memory;
#[cfg(feature = "etcd")]
mod rate;
mod rate_limit;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "redis")]
mod redis_keys;
#[cfg(feature = "tower")]
pub mod stack;

pub use self::breaker::{FleetBreaker, FleetBreakerConfig, FleetBreakerStatus, FleetRole};
pub use self::budget::{
    BudgetScope, FleetBudget, FleetBudgetConfig, FleetScopeConfig, ScopedBudgetConfig,
};
pub use self::memory::InMemoryFleetStore;
pub use self::rate_limit::{FleetRateLimiter, FleetRateLimiterConfig, ScopedRateLimitConfig};

/// The future a [`FleetStore`] call returns.
pub type FleetFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, FleetError>> + Send + 'a>>;

/// A store call failed: the callers fall back to local state.
///
/// ```
/// use std::time::Duration;
/// use resilience_store::fleet::FleetError;
/// let e = FleetError::Timeout(Duration::from_millis(50));
/// assert_eq!(e.to_string(), "the fleet store did not answer within 50ms");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// The store could not be reached or refused the command.
    #[error("the fleet store is unavailable: {0}")]
    Unavailable(String),
    /// The store did not answer in time.
    #[error("the fleet store did not answer within {0:?}")]
    Timeout(Duration),
    /// The store answered something this version cannot read.
    #[error("the fleet store sent an unexpected reply: {0}")]
    Protocol(String),
}

/// How one replica's breaker stands, as it tells the fleet.
///
/// ```
/// use resilience_store::fleet::ViewState;
/// assert!(ViewState::Open.counts_as_open());
/// assert!(!ViewState::Following.counts_as_open()); // opened by the fleet: no vote
/// assert_eq!(ViewState::parse("open"), Some(ViewState::Open));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViewState {
    /// Closed: calls flow.
    Closed,
    /// Open or half-open by this replica's own window, or waiting for a
    /// probe lease after its own window opened it: a vote to open the fleet.
    Open,
    /// Open because the fleet is: no vote, and its window is stale.
    Following,
    /// Admitting half-open trials under a fleet probe lease.
    Probing,
    /// Set by an operator (disabled, forced open, metrics only): no vote.
    Manual,
}

impl ViewState {
    /// Whether this view votes to open the fleet.
    pub const fn counts_as_open(self) -> bool {
        matches!(self, ViewState::Open | ViewState::Probing)
    }

    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ViewState::Closed => "closed",
            ViewState::Open => "open",
            ViewState::Following => "following",
            ViewState::Probing => "probing",
            ViewState::Manual => "manual",
        }
    }

    /// The state named `s`.
    pub fn parse(s: &str) -> Option<ViewState> {
        Some(match s {
            "closed" => ViewState::Closed,
            "open" => ViewState::Open,
            "following" => ViewState::Following,
            "probing" => ViewState::Probing,
            "manual" => ViewState::Manual,
            _ => return None,
        })
    }
}

impl fmt::Display for ViewState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One replica's breaker as the fleet sees it.
///
/// ```
/// use std::time::Duration;
/// use resilience_store::fleet::{BreakerView, ViewState};
/// let v = BreakerView::new("replica-a", ViewState::Closed, 20, 3);
/// let text = v.encode();
/// assert_eq!(BreakerView::decode("replica-a", &text, Duration::ZERO).unwrap(), v);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerView {
    /// The replica's id.
    pub replica: String,
    /// Its breaker's state.
    pub state: ViewState,
    /// Calls in its window.
    pub calls: u64,
    /// Failures in its window.
    pub failures: u64,
    /// How long ago it was published, when read back (zero when written).
    pub age: Duration,
}

impl BreakerView {
    /// A fresh view.
    pub fn new(replica: impl Into<String>, state: ViewState, calls: u64, failures: u64) -> Self {
        BreakerView {
            replica: replica.into(),
            state,
            calls,
            failures,
            age: Duration::ZERO,
        }
    }

    /// The stored form: `v1|state|calls|failures`.
    pub fn encode(&self) -> String {
        format!("v1|{}|{}|{}", self.state, self.calls, self.failures)
    }

    /// Reads the stored form back.
    pub fn decode(replica: &str, text: &str, age: Duration) -> Result<BreakerView, FleetError> {
        let bad = || FleetError::Protocol(format!("breaker view {text:?} of replica {replica:?}"));
        let mut parts = text.split('|');
        if parts.next() != Some("v1") {
            return Err(bad());
        }
        let state = parts.next().and_then(ViewState::parse).ok_or_else(bad)?;
        let calls = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let failures = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        Ok(BreakerView {
            replica: replica.to_string(),
            state,
            calls,
            failures,
            age,
        })
    }
}

/// A store the fleet shares: token buckets, breaker views and probe leases.
///
/// Every method is one atomic operation on the store (one round trip for
/// the Redis engine: a Lua script). Callers put their own timeout around
/// each call and treat any error as "the store is unavailable".
/// Implement it to back the fleet by another engine; the contract is what
/// [`InMemoryFleetStore`] does. Redis (`redis::RedisFleetStore`, feature
/// `redis`) and etcd (`etcd::EtcdFleetStore`, feature `etcd`) implement it.
///
/// ```
/// use std::time::Duration;
/// use resilience_store::fleet::{BreakerView, FleetStore, InMemoryFleetStore, ViewState};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = InMemoryFleetStore::new();
/// assert_eq!(store.lease_tokens("budget", 8, 10).await.unwrap(), 8);
/// assert_eq!(store.lease_tokens("budget", 8, 10).await.unwrap(), 2, "only 2 left");
/// // 10 % of 50 calls, no reserve: 5 retries.
/// let ratio = resilience_core::retry::RatioBudgetConfig { percent_can_retry: 0.1, min_retries_per_sec: 0, ..Default::default() };
/// assert_eq!(store.lease_ratio("ratio", 50, 8, &ratio).await.unwrap(), 5);
/// store.return_tokens("budget", 5, 10).await.unwrap();
/// let views = store
///     .exchange_views("breaker", &BreakerView::new("a", ViewState::Open, 10, 9), Duration::from_secs(3))
///     .await
///     .unwrap();
/// assert_eq!(views.len(), 1);
/// assert!(store.acquire_probe("breaker", "a", 1, Duration::from_secs(5)).await.unwrap());
/// assert!(!store.acquire_probe("breaker", "b", 1, Duration::from_secs(5)).await.unwrap());
/// # }
/// ```
pub trait FleetStore: Send + Sync + fmt::Debug + 'static {
    /// Takes up to `want` tokens from the bucket `key`, which holds at most
    /// `capacity` and starts full; returns how many were taken (0 when it
    /// is empty).
    fn lease_tokens<'a>(&'a self, key: &'a str, want: u32, capacity: u32) -> FleetFuture<'a, u32>;

    /// The ratio rule: adds `requests` calls to the window of the budget
    /// `key` (`rule.ttl` long, slid in ten steps) and takes up to `want`
    /// retries that `rule` allows over the window:
    /// `min_retries_per_sec · ttl + percent_can_retry · calls` minus the
    /// retries already taken. Returns how many were taken.
    fn lease_ratio<'a>(
        &'a self,
        key: &'a str,
        requests: u64,
        want: u32,
        rule: &'a RatioBudgetConfig,
    ) -> FleetFuture<'a, u32>;

    /// Puts `tokens` back into the bucket `key` (never above `capacity`).
    fn return_tokens<'a>(&'a self, key: &'a str, tokens: u32, capacity: u32)
        -> FleetFuture<'a, ()>;

    /// Publishes `view` for the breaker `key` (kept for `ttl`, then aged
    /// out) and returns the live views of every replica, this one's
    /// included.
    fn exchange_views<'a>(
        &'a self,
        key: &'a str,
        view: &'a BreakerView,
        ttl: Duration,
    ) -> FleetFuture<'a, Vec<BreakerView>>;

    /// Takes (or renews) one of `slots` probe leases of the breaker `key`
    /// for `replica`, for `ttl`. `true` if the replica holds one now.
    fn acquire_probe<'a>(
        &'a self,
        key: &'a str,
        replica: &'a str,
        slots: u32,
        ttl: Duration,
    ) -> FleetFuture<'a, bool>;

    /// Gives back the probe lease `replica` holds, if any.
    fn release_probe<'a>(&'a self, key: &'a str, replica: &'a str) -> FleetFuture<'a, ()>;

    /// Takes up to `want` tokens from the rate bucket at `key`, which holds at most `burst` tokens, starts full, and gains one token every `per_token` by the store's clock. Returns the number taken (0 when empty).
    fn lease_rate<'a>(
        &'a self,
        key: &'a str,
        want: u32,
        burst: u32,
        per_token: Duration,
    ) -> FleetFuture<'a, u32>;
}

/// How a fleet budget or rate limiter wakes its background task when a
/// caller runs low: at most one wake-up pending at a time, so a burst of
/// low callers costs one notification, not one each.
#[derive(Debug)]
pub(crate) struct Refill {
    wake: std::sync::Arc<tokio::sync::Notify>,
    requested: std::sync::atomic::AtomicBool,
}

impl Refill {
    pub(crate) fn new() -> Self {
        Refill {
            wake: std::sync::Arc::new(tokio::sync::Notify::new()),
            requested: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Asks for a round now (a no-op while one is already asked for).
    #[inline]
    pub(crate) fn request(&self) {
        use std::sync::atomic::Ordering;
        if !self.requested.load(Ordering::Relaxed) && !self.requested.swap(true, Ordering::AcqRel) {
            self.wake.notify_one();
        }
    }

    /// What the background task waits on (it holds no strong handle to the
    /// owner, so it gets its own).
    pub(crate) fn waker(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.wake.clone()
    }

    /// Called by a round as it starts: later requests wake the next one.
    pub(crate) fn started(&self) {
        self.requested
            .store(false, std::sync::atomic::Ordering::Release);
    }
}

/// The background task of a fleet budget or rate limiter: a round when a
/// caller asks for one (see [`Refill`]) or every `interval`, or, when the
/// last round asked for a pause (the bucket ran dry, the store failed),
/// after that pause whatever callers ask; ends once the owner is dropped.
pub(crate) async fn run_rounds<T, F, Fut>(
    shared: std::sync::Weak<T>,
    wake: std::sync::Arc<tokio::sync::Notify>,
    interval: Duration,
    round: F,
) where
    F: Fn(std::sync::Arc<T>) -> Fut,
    Fut: Future<Output = Option<Duration>>,
{
    let mut pause = None;
    loop {
        match pause {
            Some(d) => tokio::time::sleep(d).await,
            None => {
                let _ = tokio::time::timeout(interval, wake.notified()).await;
            }
        }
        let Some(s) = shared.upgrade() else {
            return;
        };
        pause = round(s).await;
    }
}

/// One lease from a ratio window of `(step, calls, retries)` entries,
/// as the memory and etcd stores keep it: drops steps older than the
/// window's ten, adds `requests` calls to step `epoch`, grants up to `want`
/// retries within `reserve + percent × calls` (in millionths, from
/// [`ratio_terms`]) less the retries already granted, and counts them.
pub(crate) fn lease_from_window(
    window: &mut Vec<(u64, u64, u64)>,
    epoch: u64,
    requests: u64,
    want: u32,
    reserve_ppm: u128,
    percent_ppm: u128,
) -> u32 {
    let oldest = epoch.saturating_sub(9);
    window.retain(|(e, _, _)| *e >= oldest);
    let i = match window.iter().position(|(e, _, _)| *e == epoch) {
        Some(i) => i,
        None => {
            window.push((epoch, 0, 0));
            window.len() - 1
        }
    };
    window[i].1 = window[i].1.saturating_add(requests);
    let (calls, retries) = window.iter().fold((0u64, 0u64), |(c, r), (_, q, t)| {
        (c.saturating_add(*q), r.saturating_add(*t))
    });
    let allowed = (reserve_ppm + percent_ppm * u128::from(calls)) / 1_000_000;
    let left = allowed.saturating_sub(u128::from(retries));
    let grant = u32::try_from(left.min(u128::from(want))).unwrap_or(want);
    window[i].2 = window[i].2.saturating_add(u64::from(grant));
    grant
}

/// The ratio rule in integers: (slot length in ms, reserve and percent in
/// millionths of a retry), as the stores compute it.
pub(crate) fn ratio_terms(rule: &RatioBudgetConfig) -> (u64, u128, u128) {
    let ttl_ms = u64::try_from(rule.ttl.as_millis())
        .unwrap_or(u64::MAX)
        .max(10);
    let reserve_ppm = u128::from(rule.min_retries_per_sec) * u128::from(ttl_ms) * 1_000;
    let percent_ppm = (rule.percent_can_retry.clamp(0.0, 10.0) * 1e6).round() as u128;
    ((ttl_ms / 10).max(1), reserve_ppm, percent_ppm)
}

/// A replica id for this process: the host name (from `HOSTNAME`) or
/// `replica`, the process id and a random suffix.
///
/// ```
/// let a = resilience_store::fleet::replica_id();
/// assert_ne!(a, resilience_store::fleet::replica_id());
/// ```
pub fn replica_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "replica".to_string());
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(60)
        .collect();
    format!(
        "{host}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}
