//! Retry budgets: a cap on how much extra load retries may add, so that
//! retries cannot turn a dependency's bad minute into an outage.
//!
//! Per-call limits (`max_attempts`) bound one call, but when every call is
//! failing, *every* call retries, and three retries per call quadruple the
//! load on a dependency that is already struggling. A budget is shared by
//! all calls to a dependency and refuses retries once they exceed its rule;
//! refused retries fail fast with
//! [`RetryError::RetryBudgetExhausted`](super::RetryError::RetryBudgetExhausted).
//!
//! Two rules are provided:
//!
//! - [`TokenBucketBudget`] (the AWS SDKs' rule): a bucket of tokens; a
//!   retry costs tokens (more after a timeout), a success refunds the cost
//!   of the retry that led to it (or adds a little for a first-try success).
//!   Lock-free: one atomic compare-and-swap per operation.
//! - [`RatioBudget`] (Finagle's rule): over the last `ttl`, retries may be
//!   at most `percent_can_retry` of the calls made plus
//!   `min_retries_per_sec · ttl` (so a quiet service can still retry). Time
//!   comes from a [`Clock`](crate::clock::Clock); the window slides in steps
//!   of `ttl / 10`. One short uncontended lock per operation.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::classify::ErrorClass;
use crate::clock::{duration_nanos, shared, Clock, Origin, SharedClock};
use crate::config::{check_nonzero, fmt_duration, ConfigError};

/// A shared allowance of retries.
///
/// The retry driver calls [`record_request`](Self::record_request) once per
/// call (its first attempt), [`try_withdraw`](Self::try_withdraw) before each
/// retry (a `None` refuses it) and [`record_success`](Self::record_success)
/// when a call succeeds, passing back the receipt of the retry that
/// succeeded, if any. Implementations must be cheap and thread-safe: one
/// budget is shared by every call to a dependency.
///
/// ```
/// use resilience_core::retry::{ErrorClass, RetryBudget, TokenBucketBudget, TokenBucketConfig};
///
/// let budget = TokenBucketBudget::new(TokenBucketConfig {
///     capacity: 10,
///     retry_cost: 5,
///     ..TokenBucketConfig::default()
/// }).unwrap();
/// budget.record_request();
/// let receipt = budget.try_withdraw(ErrorClass::Transient).unwrap();
/// assert!(budget.try_withdraw(ErrorClass::Transient).is_some());
/// assert!(budget.try_withdraw(ErrorClass::Transient).is_none()); // empty
/// budget.record_success(Some(receipt)); // refund 5
/// assert!(budget.try_withdraw(ErrorClass::Transient).is_some());
/// ```
pub trait RetryBudget: Send + Sync + fmt::Debug {
    /// A call is making its first attempt.
    fn record_request(&self);

    /// A retry after a failure of `class` wants to go. `Some` allows it and
    /// is the receipt to hand back on success; `None` refuses it.
    fn try_withdraw(&self, class: ErrorClass) -> Option<Withdrawal>;

    /// A call succeeded. `last` is the receipt of the retry that succeeded
    /// (`None` if the first attempt did).
    fn record_success(&self, last: Option<Withdrawal>);

    /// How many more retries (of the cheapest kind) the budget would allow
    /// right now, for metrics and logs.
    fn available(&self) -> u64;
}

/// A receipt for a retry allowed by a [`RetryBudget`]: what it cost, so a
/// success can refund it.
///
/// ```
/// use resilience_core::retry::{ErrorClass, RetryBudget, TokenBucketBudget, TokenBucketConfig};
/// let b = TokenBucketBudget::new(TokenBucketConfig::default()).unwrap();
/// assert_eq!(b.try_withdraw(ErrorClass::Timeout).unwrap().cost(), 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Withdrawal {
    cost: u32,
}

impl Withdrawal {
    /// A receipt for `cost` units (for custom budgets).
    pub const fn new(cost: u32) -> Withdrawal {
        Withdrawal { cost }
    }

    /// What the retry cost, in the budget's units.
    pub const fn cost(self) -> u32 {
        self.cost
    }
}

/// Config of a [`TokenBucketBudget`]; defaults are the AWS SDKs' standard
/// retry mode.
///
/// ```
/// use resilience_core::retry::TokenBucketConfig;
/// let c: TokenBucketConfig = serde_json::from_str(r#"{"capacity": 100}"#).unwrap();
/// assert_eq!(c.retry_cost, 5);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenBucketConfig {
    /// Tokens the bucket holds, and starts with (default 500).
    pub capacity: u32,
    /// Cost of a retry (default 5).
    pub retry_cost: u32,
    /// Cost of a retry after a timeout (default 10): timeouts are the most
    /// expensive failures for a struggling dependency.
    pub timeout_retry_cost: u32,
    /// Tokens added when a call succeeds on its first attempt (default 1),
    /// so a healthy stream of calls refills a bucket drained by an outage.
    pub success_refund: u32,
}

impl Default for TokenBucketConfig {
    fn default() -> Self {
        TokenBucketConfig {
            capacity: 500,
            retry_cost: 5,
            timeout_retry_cost: 10,
            success_refund: 1,
        }
    }
}

/// The AWS-style token bucket retry budget; see the [module docs](super).
///
/// Starts full. A retry withdraws `retry_cost` (or `timeout_retry_cost`
/// after a timeout) if that many tokens are left; a success refunds the
/// cost of the retry that succeeded, or `success_refund` for a first-try
/// success; the bucket never holds more than `capacity`. It has no time
/// refill: only successes refill it, so during a full outage retries stop
/// once the bucket is empty, and resume as soon as calls succeed again.
///
/// ```
/// use resilience_core::retry::{ErrorClass, RetryBudget, TokenBucketBudget, TokenBucketConfig};
/// let b = TokenBucketBudget::new(TokenBucketConfig { capacity: 12, ..Default::default() }).unwrap();
/// assert_eq!(b.available(), 2); // 12 tokens / 5 per retry
/// assert!(b.try_withdraw(ErrorClass::Timeout).is_some()); // costs 10
/// assert!(b.try_withdraw(ErrorClass::Transient).is_none()); // 2 left < 5
/// assert_eq!(b.tokens(), 2);
/// ```
#[derive(Debug)]
pub struct TokenBucketBudget {
    config: TokenBucketConfig,
    tokens: AtomicU32,
}

impl TokenBucketBudget {
    /// Validates the config (every cost ≥ 1 and ≤ capacity) and builds a
    /// full bucket.
    pub fn new(config: TokenBucketConfig) -> Result<TokenBucketBudget, ConfigError> {
        check_nonzero("capacity", u64::from(config.capacity))?;
        for (field, cost) in [
            ("retry_cost", config.retry_cost),
            ("timeout_retry_cost", config.timeout_retry_cost),
        ] {
            check_nonzero(field, u64::from(cost))?;
            if cost > config.capacity {
                return Err(ConfigError::invalid(
                    field,
                    format!(
                        "must not exceed capacity ({}), got {cost}: no retry could ever be paid for",
                        config.capacity
                    ),
                ));
            }
        }
        Ok(TokenBucketBudget {
            tokens: AtomicU32::new(config.capacity),
            config,
        })
    }

    /// Tokens currently in the bucket.
    pub fn tokens(&self) -> u32 {
        self.tokens.load(Ordering::Acquire)
    }

    /// The config.
    pub fn config(&self) -> &TokenBucketConfig {
        &self.config
    }

    fn refund(&self, amount: u32) {
        let cap = self.config.capacity;
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_add(amount).min(cap))
            });
    }
}

impl RetryBudget for TokenBucketBudget {
    fn record_request(&self) {}

    fn try_withdraw(&self, class: ErrorClass) -> Option<Withdrawal> {
        let cost = if class == ErrorClass::Timeout {
            self.config.timeout_retry_cost
        } else {
            self.config.retry_cost
        };
        self.tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| t.checked_sub(cost))
            .ok()
            .map(|_| Withdrawal { cost })
    }

    fn record_success(&self, last: Option<Withdrawal>) {
        match last {
            Some(w) => self.refund(w.cost),
            None if self.config.success_refund > 0 => self.refund(self.config.success_refund),
            None => {}
        }
    }

    fn available(&self) -> u64 {
        u64::from(self.tokens() / self.config.retry_cost.max(1))
    }
}

/// Config of a [`RatioBudget`]; defaults are Finagle's.
///
/// ```
/// use std::time::Duration;
/// use resilience_core::retry::RatioBudgetConfig;
/// let c: RatioBudgetConfig = serde_json::from_str(r#"{"percent_can_retry": 0.1}"#).unwrap();
/// assert_eq!(c.ttl, Duration::from_secs(10));
/// assert_eq!(c.min_retries_per_sec, 10);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RatioBudgetConfig {
    /// How long a call or retry counts towards the budget (default 10 s;
    /// between 10 ms and 1 hour).
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// Retries allowed per second of `ttl` regardless of traffic (default
    /// 10), so low-traffic services can still retry.
    pub min_retries_per_sec: u32,
    /// Retries allowed as a fraction of calls (default 0.2 = 20%); in
    /// `[0, 10]`.
    pub percent_can_retry: f64,
}

impl Default for RatioBudgetConfig {
    fn default() -> Self {
        RatioBudgetConfig {
            ttl: Duration::from_secs(10),
            min_retries_per_sec: 10,
            percent_can_retry: 0.2,
        }
    }
}

/// Number of buckets the ratio budget's window is split into.
const SLOTS: usize = 10;
const PPM: u128 = 1_000_000;

/// The Finagle-style ratio retry budget; see the [module docs](super).
///
/// The rule, over the last `ttl` (in steps of `ttl / 10`): a retry is
/// allowed if, counting it,
/// `retries ≤ min_retries_per_sec · ttl_secs + percent_can_retry · calls`.
/// Calls are counted by [`record_request`](RetryBudget::record_request)
/// (first attempts only); successes do not matter.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use resilience_core::clock::ManualClock;
/// use resilience_core::retry::{ErrorClass, RatioBudget, RatioBudgetConfig, RetryBudget};
///
/// let clock = ManualClock::new();
/// let budget = RatioBudget::with_clock(
///     RatioBudgetConfig { ttl: Duration::from_secs(1), min_retries_per_sec: 0, percent_can_retry: 0.5 },
///     clock.clone(),
/// ).unwrap();
/// for _ in 0..4 { budget.record_request(); }
/// assert!(budget.try_withdraw(ErrorClass::Transient).is_some()); // 1 <= 0.5 * 4
/// assert!(budget.try_withdraw(ErrorClass::Transient).is_some()); // 2 <= 2
/// assert!(budget.try_withdraw(ErrorClass::Transient).is_none()); // 3 > 2
/// clock.advance(Duration::from_secs(1)); // everything expired
/// budget.record_request();
/// budget.record_request();
/// assert!(budget.try_withdraw(ErrorClass::Transient).is_some());
/// ```
pub struct RatioBudget {
    config: RatioBudgetConfig,
    clock: SharedClock,
    origin: Origin,
    slot_nanos: u64,
    /// `min_retries_per_sec · ttl`, in millionths of a retry.
    reserve_ppm: u128,
    /// `percent_can_retry`, in millionths.
    percent_ppm: u128,
    window: Mutex<Window>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    epoch: u64,
    requests: u64,
    retries: u64,
}

#[derive(Debug)]
struct Window {
    slots: [Slot; SLOTS],
}

impl Window {
    /// The slot for `epoch`, reset if it last held an older epoch.
    fn slot(&mut self, epoch: u64) -> &mut Slot {
        let len = self.slots.len() as u64;
        let i = usize::try_from(epoch % len).unwrap_or(0);
        let slot = &mut self.slots[i];
        if slot.epoch != epoch {
            *slot = Slot {
                epoch,
                ..Slot::default()
            };
        }
        slot
    }

    /// (requests, retries) in the window ending at `epoch`.
    fn totals(&self, epoch: u64) -> (u64, u64) {
        let oldest = epoch.saturating_sub(SLOTS as u64 - 1);
        self.slots
            .iter()
            .filter(|s| s.epoch >= oldest && s.epoch <= epoch && (s.requests | s.retries) != 0)
            .fold((0, 0), |(q, r), s| {
                (q.saturating_add(s.requests), r.saturating_add(s.retries))
            })
    }
}

impl RatioBudget {
    /// Renamed: [`with_clock`](Self::with_clock) takes the same arguments
    /// and any clock.
    #[deprecated(
        since = "0.1.1",
        note = "renamed to `RatioBudget::with_clock`, which takes any clock"
    )]
    #[doc(hidden)]
    pub fn new(config: RatioBudgetConfig, clock: SharedClock) -> Result<RatioBudget, ConfigError> {
        Self::with_clock(config, clock)
    }

    /// Validates the config and builds an empty budget reading `clock`
    /// (the window is measured in time).
    pub fn with_clock(
        config: RatioBudgetConfig,
        clock: impl Clock,
    ) -> Result<RatioBudget, ConfigError> {
        let clock = shared(clock);
        if config.ttl < Duration::from_millis(10) || config.ttl > Duration::from_secs(3600) {
            return Err(ConfigError::invalid(
                "ttl",
                format!(
                    "must be between 10ms and 1h, got {}",
                    fmt_duration(config.ttl)
                ),
            ));
        }
        let p = config.percent_can_retry;
        if !(p.is_finite() && (0.0..=10.0).contains(&p)) {
            return Err(ConfigError::invalid(
                "percent_can_retry",
                format!("must be a number in [0, 10] (0.2 = 20% of calls), got {p}"),
            ));
        }
        let ttl_nanos = duration_nanos(config.ttl);
        let reserve_ppm = u128::from(config.min_retries_per_sec) * u128::from(ttl_nanos) / 1_000;
        let percent_ppm = (p * PPM as f64).round() as u128;
        let origin = Origin::new(clock.now());
        Ok(RatioBudget {
            slot_nanos: (ttl_nanos / SLOTS as u64).max(1),
            reserve_ppm,
            percent_ppm,
            origin,
            clock,
            config,
            window: Mutex::new(Window {
                slots: [Slot::default(); SLOTS],
            }),
        })
    }

    /// The config.
    pub fn config(&self) -> &RatioBudgetConfig {
        &self.config
    }

    fn epoch(&self) -> u64 {
        // +1 so that epoch 0 never appears and an all-zero slot is "empty".
        self.origin.nanos(self.clock.now()) / self.slot_nanos + 1
    }

    /// Retries allowed in a window with `requests` calls.
    fn allowance_ppm(&self, requests: u64) -> u128 {
        self.reserve_ppm + self.percent_ppm * u128::from(requests)
    }
}

impl RetryBudget for RatioBudget {
    fn record_request(&self) {
        let epoch = self.epoch();
        let mut w = self.window.lock();
        let s = w.slot(epoch);
        s.requests = s.requests.saturating_add(1);
    }

    fn try_withdraw(&self, _class: ErrorClass) -> Option<Withdrawal> {
        let epoch = self.epoch();
        let mut w = self.window.lock();
        let (requests, retries) = w.totals(epoch);
        if u128::from(retries.saturating_add(1)) * PPM > self.allowance_ppm(requests) {
            return None;
        }
        let s = w.slot(epoch);
        s.retries = s.retries.saturating_add(1);
        Some(Withdrawal { cost: 1 })
    }

    fn record_success(&self, _last: Option<Withdrawal>) {}

    fn available(&self) -> u64 {
        let epoch = self.epoch();
        let (requests, retries) = self.window.lock().totals(epoch);
        let allowed = self.allowance_ppm(requests) / PPM;
        u64::try_from(allowed)
            .unwrap_or(u64::MAX)
            .saturating_sub(retries)
    }
}

impl fmt::Debug for RatioBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RatioBudget")
            .field("config", &self.config)
            .field("available", &self.available())
            .finish()
    }
}

/// A retry budget as config data: `{"kind": "token_bucket", ...}` or
/// `{"kind": "ratio", ...}` with the fields of [`TokenBucketConfig`] or
/// [`RatioBudgetConfig`].
///
/// ```
/// use std::sync::Arc;
/// use resilience_core::clock::SystemClock;
/// use resilience_core::retry::BudgetConfig;
/// let c: BudgetConfig = resilience_core::config::from_yaml_str(
///     "kind: ratio\nttl: 10s\nmin_retries_per_sec: 5\npercent_can_retry: 0.1\n",
/// ).unwrap();
/// let budget = c.build(SystemClock).unwrap();
/// assert!(budget.available() >= 50);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BudgetConfig {
    /// A [`TokenBucketBudget`].
    TokenBucket(TokenBucketConfig),
    /// A [`RatioBudget`].
    Ratio(RatioBudgetConfig),
}

impl BudgetConfig {
    /// Validates and builds the budget (the ratio budget reads `clock`).
    pub fn build(&self, clock: impl Clock) -> Result<Arc<dyn RetryBudget>, ConfigError> {
        Ok(match self {
            BudgetConfig::TokenBucket(c) => Arc::new(TokenBucketBudget::new(c.clone())?),
            BudgetConfig::Ratio(c) => Arc::new(RatioBudget::with_clock(c.clone(), clock)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn token_bucket_costs_and_refunds() {
        let b = TokenBucketBudget::new(TokenBucketConfig {
            capacity: 20,
            retry_cost: 5,
            timeout_retry_cost: 10,
            success_refund: 1,
        })
        .unwrap();
        let t = b.try_withdraw(ErrorClass::Timeout).unwrap();
        assert_eq!(t.cost(), 10);
        let r = b.try_withdraw(ErrorClass::RateLimited).unwrap();
        assert_eq!(r.cost(), 5);
        assert_eq!(b.tokens(), 5);
        assert!(b.try_withdraw(ErrorClass::Timeout).is_none());
        assert_eq!(b.tokens(), 5, "a refused withdrawal takes nothing");
        b.record_success(Some(t));
        assert_eq!(b.tokens(), 15);
        b.record_success(None);
        assert_eq!(b.tokens(), 16);
        b.record_success(Some(Withdrawal::new(100)));
        assert_eq!(b.tokens(), 20, "never above capacity");
        assert_eq!(b.available(), 4);
    }

    #[test]
    fn token_bucket_validation() {
        let bad = |c: TokenBucketConfig| {
            TokenBucketBudget::new(c)
                .unwrap_err()
                .field()
                .map(str::to_owned)
        };
        let d = TokenBucketConfig::default();
        assert_eq!(
            bad(TokenBucketConfig {
                capacity: 0,
                ..d.clone()
            })
            .as_deref(),
            Some("capacity")
        );
        assert_eq!(
            bad(TokenBucketConfig {
                retry_cost: 0,
                ..d.clone()
            })
            .as_deref(),
            Some("retry_cost")
        );
        assert_eq!(
            bad(TokenBucketConfig {
                timeout_retry_cost: 501,
                ..d.clone()
            })
            .as_deref(),
            Some("timeout_retry_cost")
        );
        assert!(serde_json::from_str::<TokenBucketConfig>(r#"{"capasity": 1}"#).is_err());
    }

    #[test]
    fn ratio_budget_reserve_and_expiry() {
        let clock = ManualClock::new();
        let b = RatioBudget::with_clock(
            RatioBudgetConfig {
                ttl: Duration::from_secs(10),
                min_retries_per_sec: 1,
                percent_can_retry: 0.0,
            },
            clock.clone(),
        )
        .unwrap();
        // Reserve: 1/s * 10s = 10 retries, no calls needed.
        assert_eq!(b.available(), 10);
        for _ in 0..10 {
            assert!(b.try_withdraw(ErrorClass::Transient).is_some());
        }
        assert!(b.try_withdraw(ErrorClass::Transient).is_none());
        // 9.999s later the retries still count ...
        clock.advance(Duration::from_millis(9_999));
        assert!(b.try_withdraw(ErrorClass::Transient).is_none());
        // ... at 10s they have expired.
        clock.advance(Duration::from_millis(1));
        assert_eq!(b.available(), 10);
        assert!(b.try_withdraw(ErrorClass::Transient).is_some());
    }

    #[test]
    fn ratio_budget_percent() {
        let clock = ManualClock::new();
        let b = RatioBudget::with_clock(
            RatioBudgetConfig {
                ttl: Duration::from_secs(10),
                min_retries_per_sec: 0,
                percent_can_retry: 0.2,
            },
            clock.clone(),
        )
        .unwrap();
        assert!(b.try_withdraw(ErrorClass::Transient).is_none());
        for _ in 0..10 {
            b.record_request();
        }
        // 20% of 10 = 2
        assert!(b.try_withdraw(ErrorClass::Transient).is_some());
        assert!(b.try_withdraw(ErrorClass::Transient).is_some());
        assert!(b.try_withdraw(ErrorClass::Transient).is_none());
        // Calls 5s later extend the allowance; old calls expire at 10s.
        clock.advance(Duration::from_secs(5));
        for _ in 0..5 {
            b.record_request();
        }
        assert!(b.try_withdraw(ErrorClass::Transient).is_some()); // 3 <= 3
        assert!(b.try_withdraw(ErrorClass::Transient).is_none());
        clock.advance(Duration::from_secs(5)); // first 10 calls and 2 retries expire
        assert_eq!(b.available(), 0); // 0.2 * 5 = 1, minus the retry at 5s
        b.record_success(None);
        assert!(format!("{b:?}").contains("RatioBudget"));
    }

    #[test]
    fn ratio_budget_validation() {
        let clock: SharedClock = Arc::new(ManualClock::new());
        let bad = |c: RatioBudgetConfig| {
            RatioBudget::with_clock(c, clock.clone())
                .unwrap_err()
                .field()
                .map(str::to_owned)
        };
        let d = RatioBudgetConfig::default();
        assert_eq!(
            bad(RatioBudgetConfig {
                ttl: Duration::from_millis(1),
                ..d.clone()
            })
            .as_deref(),
            Some("ttl")
        );
        assert_eq!(
            bad(RatioBudgetConfig {
                percent_can_retry: f64::NAN,
                ..d.clone()
            })
            .as_deref(),
            Some("percent_can_retry")
        );
        assert_eq!(
            bad(RatioBudgetConfig {
                percent_can_retry: -1.0,
                ..d
            })
            .as_deref(),
            Some("percent_can_retry")
        );
    }

    #[test]
    fn budget_config_builds_both() {
        let clock: SharedClock = Arc::new(ManualClock::new());
        let c: BudgetConfig =
            serde_json::from_str(r#"{"kind":"token_bucket","capacity":10}"#).unwrap();
        assert_eq!(c.build(clock.clone()).unwrap().available(), 2);
        let c: BudgetConfig = serde_json::from_str(r#"{"kind":"ratio"}"#).unwrap();
        assert_eq!(c.build(clock.clone()).unwrap().available(), 100);
        assert!(serde_json::from_str::<BudgetConfig>(r#"{"kind":"leaky"}"#).is_err());
        let c: BudgetConfig =
            serde_json::from_str(r#"{"kind":"token_bucket","capacity":0}"#).unwrap();
        assert!(c.build(clock).is_err());
    }
}
