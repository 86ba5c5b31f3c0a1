//! Availability objectives and their error budgets.
//!
//! An availability objective of 99.9 % over 30 days allows 0.1 % of that
//! time to be bad: 43.2 minutes a month (the data platform's "99.9 %
//! (43 min/month downtime)"). That allowance is the **error budget**.
//! [`ErrorBudget`] tracks how much of it is spent and how fast it is being
//! spent:
//!
//! * **Downtime**: [`set_available`](ErrorBudget::set_available) (from a
//!   health check, a breaker's state) accrues unavailable time; the budget
//!   is `period · (1 − objective)`.
//! * **Requests**: [`record`](ErrorBudget::record) counts good and bad
//!   requests; the budget is `(1 − objective)` of all requests.
//!
//! The budget spent is the larger of the two shares. The **burn rate** is
//! how fast it goes: the bad share over the last `burn_window` divided by
//! `1 − objective` (the window is kept in twelfths: it covers the current
//! twelfth and the eleven before it, so a 1 h window spans 55 to 60 min); 1 spends exactly the budget in a period, 14.4 over 1 h
//! spends 2 % of a 30-day budget in that hour (the usual fast-burn page).
//!
//! The tracker is a degradation input: [`health`](ErrorBudget::health) is
//! `Down` once the budget is spent, `Degraded` while the burn rate is at or
//! above `burn_rate_alert`, else `Healthy`; report it to a
//! [`DegradationManager`] component
//! with [`report_to`](ErrorBudget::report_to).
//!
//! ```
//! use std::time::Duration;
//! use resilience_core::clock::ManualClock;
//! use resilience_core::slo::{ErrorBudget, SloConfig};
//!
//! let clock = ManualClock::new();
//! let budget = ErrorBudget::with_clock(SloConfig::availability("data-platform", 0.999), clock.clone()).unwrap();
//! assert_eq!(budget.allowed_downtime().as_secs(), 43 * 60 + 12); // 43.2 min a month
//!
//! budget.set_available(false);
//! clock.advance(Duration::from_secs(10 * 60)); // a 10-minute outage
//! budget.set_available(true);
//! let s = budget.snapshot();
//! assert_eq!(s.downtime, Duration::from_secs(600));
//! assert!((s.remaining - (1.0 - 600.0 / 2592.0)).abs() < 1e-9); // 33.2 of 43.2 min left
//! ```
//!
//! # Metrics
//!
//! Set on each [`snapshot`](ErrorBudget::snapshot) (and so on
//! [`health`](ErrorBudget::health) and [`report_to`](ErrorBudget::report_to)).
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `resilience_slo_objective` | gauge | `slo` | the objective, e.g. 0.999 |
//! | `resilience_slo_error_budget_remaining_ratio` | gauge | `slo` | share of the period's error budget left (1 = untouched, 0 = spent, negative = overspent) |
//! | `resilience_slo_downtime_seconds` | gauge | `slo` | unavailable time within the period |
//! | `resilience_slo_burn_rate` | gauge | `slo` | error-budget burn rate over `burn_window` (1 = spends the budget in exactly one period) |

use std::fmt;
use std::time::{Duration, Instant};

use metrics::Gauge;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::clock::{shared, Clock, SharedClock, SystemClock};
use crate::config::{check_nonzero_duration, ConfigError};
use crate::degradation::{ComponentHealth, DegradationError, DegradationManager};

/// The most buckets an [`ErrorBudget`] keeps (period / bucket).
pub const MAX_BUCKETS: u64 = 100_000;

/// An availability objective: serde data, validated by [`ErrorBudget::new`].
///
/// | field | default | meaning |
/// |---|---|---|
/// | `name` | required | the `slo` label |
/// | `objective` | required | the good share, in (0, 1), e.g. 0.999 |
/// | `period` | `30d` | the window the budget is spent over (rolling) |
/// | `burn_window` | `1h` | the window the burn rate is measured over; the budget is kept in buckets of `burn_window / 12` |
/// | `burn_rate_alert` | 14.4 | burn rate at which [`ErrorBudget::health`] is `Degraded` |
///
/// ```
/// use resilience_core::slo::SloConfig;
/// let c: SloConfig = resilience_core::config::from_yaml_str("name: api\nobjective: 0.999").unwrap();
/// assert_eq!(c.period.as_secs(), 30 * 24 * 3600);
/// assert_eq!(c, SloConfig::availability("api", 0.999));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloConfig {
    /// The `slo` label.
    pub name: String,
    /// The good share, in (0, 1).
    pub objective: f64,
    /// The rolling period the budget covers.
    #[serde(default = "default_period", with = "humantime_serde")]
    pub period: Duration,
    /// The window the burn rate is measured over.
    #[serde(default = "default_burn_window", with = "humantime_serde")]
    pub burn_window: Duration,
    /// The burn rate at which the budget's health is `Degraded`.
    #[serde(default = "default_burn_rate_alert")]
    pub burn_rate_alert: f64,
}

fn default_period() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}

fn default_burn_window() -> Duration {
    Duration::from_secs(3600)
}

fn default_burn_rate_alert() -> f64 {
    14.4
}

impl SloConfig {
    /// An objective with the defaults: 30-day period, 1 h burn window, fast
    /// burn at 14.4.
    pub fn availability(name: &str, objective: f64) -> Self {
        SloConfig {
            name: name.to_string(),
            objective,
            period: default_period(),
            burn_window: default_burn_window(),
            burn_rate_alert: default_burn_rate_alert(),
        }
    }

    /// Checks every field.
    ///
    /// ```
    /// use resilience_core::slo::SloConfig;
    /// assert_eq!(SloConfig::availability("api", 1.0).validate().unwrap_err().field(), Some("objective"));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.name.trim().is_empty() {
            return Err(ConfigError::invalid("name", "must not be empty"));
        }
        if !(self.objective.is_finite() && self.objective > 0.0 && self.objective < 1.0) {
            return Err(ConfigError::invalid(
                "objective",
                format!(
                    "must be in (0, 1), e.g. 0.999 for 99.9 %, got {}",
                    self.objective
                ),
            ));
        }
        check_nonzero_duration("period", self.period)?;
        check_nonzero_duration("burn_window", self.burn_window)?;
        if self.burn_window > self.period {
            return Err(ConfigError::invalid(
                "burn_window",
                "must not be longer than the period",
            ));
        }
        let buckets = self.buckets();
        if buckets > MAX_BUCKETS || self.bucket() < Duration::from_millis(1) {
            return Err(ConfigError::invalid(
                "burn_window",
                format!(
                    "period / (burn_window / 12) must be at most {MAX_BUCKETS} buckets, got {buckets}; use a longer burn window or a shorter period"
                ),
            ));
        }
        if !(self.burn_rate_alert.is_finite() && self.burn_rate_alert > 0.0) {
            return Err(ConfigError::invalid(
                "burn_rate_alert",
                format!("must be a number above 0, got {}", self.burn_rate_alert),
            ));
        }
        Ok(())
    }

    fn bucket(&self) -> Duration {
        self.burn_window / 12
    }

    fn buckets(&self) -> u64 {
        let b = self.bucket().as_nanos().max(1);
        u64::try_from(self.period.as_nanos().div_ceil(b)).unwrap_or(u64::MAX)
    }
}

/// One reading of an [`ErrorBudget`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BudgetSnapshot {
    /// The objective.
    pub objective: f64,
    /// Unavailable time within the period.
    pub downtime: Duration,
    /// The downtime the period allows: `period · (1 − objective)`.
    pub allowed_downtime: Duration,
    /// Good and bad requests within the period.
    pub good: u64,
    /// Bad requests within the period.
    pub bad: u64,
    /// Share of the budget left: 1 untouched, 0 spent, below 0 overspent.
    pub remaining: f64,
    /// Burn rate over the burn window.
    pub burn_rate: f64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Which bucket index (since start) this slot holds.
    index: u64,
    good: u64,
    bad: u64,
    down_nanos: u64,
}

#[derive(Debug)]
struct State {
    slots: Vec<Bucket>,
    /// Unavailable since (accrued up to) this instant.
    down_since: Option<Instant>,
}

/// Tracks an availability objective's error budget: remaining budget and
/// burn rate, from downtime and request outcomes. See the
/// [module docs](self).
///
/// Thread-safe; each record takes one short lock. Cheap to share through an
/// `Arc`.
pub struct ErrorBudget {
    config: SloConfig,
    clock: SharedClock,
    start: Instant,
    bucket: Duration,
    state: Mutex<State>,
    gauges: [Gauge; 4],
}

impl fmt::Debug for ErrorBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorBudget")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ErrorBudget {
    /// A tracker on the system clock.
    pub fn new(config: SloConfig) -> Result<Self, ConfigError> {
        Self::with_clock(config, SystemClock)
    }

    /// A tracker on `clock` (a `ManualClock` in tests).
    ///
    /// ```
    /// use resilience_core::clock::ManualClock;
    /// use resilience_core::slo::{ErrorBudget, SloConfig};
    /// let err = ErrorBudget::with_clock(SloConfig::availability("api", 0.0), ManualClock::new()).unwrap_err();
    /// assert_eq!(err.field(), Some("objective"));
    /// ```
    pub fn with_clock(config: SloConfig, clock: impl Clock) -> Result<Self, ConfigError> {
        config.validate()?;
        let clock = shared(clock);
        let buckets = usize::try_from(config.buckets())
            .map_err(|_| ConfigError::invalid("period", "too many buckets"))?;
        let label = config.name.clone();
        let gauge = |name: &'static str| -> Gauge { metrics::gauge!(name, "slo" => label.clone()) };
        let gauges = [
            gauge("resilience_slo_objective"),
            gauge("resilience_slo_error_budget_remaining_ratio"),
            gauge("resilience_slo_downtime_seconds"),
            gauge("resilience_slo_burn_rate"),
        ];
        gauges[0].set(config.objective);
        Ok(ErrorBudget {
            start: clock.now(),
            bucket: config.bucket(),
            clock,
            state: Mutex::new(State {
                slots: vec![
                    Bucket {
                        index: u64::MAX,
                        ..Bucket::default()
                    };
                    buckets
                ],
                down_since: None,
            }),
            config,
            gauges,
        })
    }

    /// The config.
    pub fn config(&self) -> &SloConfig {
        &self.config
    }

    /// The downtime the period allows: `period · (1 − objective)`.
    pub fn allowed_downtime(&self) -> Duration {
        self.config.period.mul_f64(1.0 - self.config.objective)
    }

    /// Records one request's outcome.
    pub fn record(&self, good: bool) {
        let now = self.clock.now();
        let mut state = self.state.lock();
        let slot = self.slot(&mut state, now);
        if good {
            slot.good = slot.good.saturating_add(1);
        } else {
            slot.bad = slot.bad.saturating_add(1);
        }
    }

    /// The service became unavailable (`false`) or available again
    /// (`true`). Unavailable time accrues until it is available again.
    pub fn set_available(&self, available: bool) {
        let now = self.clock.now();
        let mut state = self.state.lock();
        self.accrue(&mut state, now);
        state.down_since = if available { None } else { Some(now) };
    }

    /// Whether the tracker counts the service as unavailable now.
    pub fn is_down(&self) -> bool {
        self.state.lock().down_since.is_some()
    }

    /// The budget now; also sets the gauges.
    pub fn snapshot(&self) -> BudgetSnapshot {
        let now = self.clock.now();
        let mut state = self.state.lock();
        self.accrue(&mut state, now);
        let current = self.index_of(now);
        let period_buckets = state.slots.len() as u64;
        let burn_buckets = 12u64.min(period_buckets);
        let (mut good, mut bad, mut down) = (0u64, 0u64, 0u64);
        let (mut wg, mut wb, mut wd) = (0u64, 0u64, 0u64);
        for b in &state.slots {
            if b.index == u64::MAX || b.index > current || current - b.index >= period_buckets {
                continue;
            }
            good = good.saturating_add(b.good);
            bad = bad.saturating_add(b.bad);
            down = down.saturating_add(b.down_nanos);
            if current - b.index < burn_buckets {
                wg = wg.saturating_add(b.good);
                wb = wb.saturating_add(b.bad);
                wd = wd.saturating_add(b.down_nanos);
            }
        }
        drop(state);
        let allowed_share = 1.0 - self.config.objective;
        let downtime = Duration::from_nanos(down);
        let allowed_downtime = self.allowed_downtime();
        let time_spent = downtime.as_secs_f64() / allowed_downtime.as_secs_f64();
        let total = good.saturating_add(bad);
        let request_spent = if total == 0 {
            0.0
        } else {
            bad as f64 / (total as f64 * allowed_share)
        };
        let remaining = 1.0 - time_spent.max(request_spent);
        // The burn window is the current bucket and the ones before it,
        // back to `burn_buckets` (fewer right after start): measure its span.
        let window_start = self.bucket_start(current.saturating_sub(burn_buckets - 1));
        let window = now
            .saturating_duration_since(window_start)
            .max(Duration::from_nanos(1));
        let time_burn =
            Duration::from_nanos(wd).as_secs_f64() / window.as_secs_f64() / allowed_share;
        let window_total = wg.saturating_add(wb);
        let request_burn = if window_total == 0 {
            0.0
        } else {
            wb as f64 / window_total as f64 / allowed_share
        };
        let burn_rate = time_burn.max(request_burn);
        self.gauges[1].set(remaining);
        self.gauges[2].set(downtime.as_secs_f64());
        self.gauges[3].set(burn_rate);
        BudgetSnapshot {
            objective: self.config.objective,
            downtime,
            allowed_downtime,
            good,
            bad,
            remaining,
            burn_rate,
        }
    }

    /// The budget as a degradation input: `Down` once it is spent
    /// (`remaining <= 0`), `Degraded` while the burn rate is at or above
    /// `burn_rate_alert`, else `Healthy`.
    pub fn health(&self) -> ComponentHealth {
        let s = self.snapshot();
        if s.remaining <= 0.0 {
            ComponentHealth::Down
        } else if s.burn_rate >= self.config.burn_rate_alert {
            ComponentHealth::Degraded
        } else {
            ComponentHealth::Healthy
        }
    }

    /// Reports [`health`](Self::health) to `manager`'s `component` (call it
    /// with the manager's periodic `tick`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_core::degradation::{ComponentConfig, DegradationConfig, DegradationManager, DegradationRuleConfig, Condition};
    /// use resilience_core::slo::{ErrorBudget, SloConfig};
    ///
    /// let clock = ManualClock::new();
    /// let budget = ErrorBudget::with_clock(SloConfig::availability("api", 0.999), clock.clone()).unwrap();
    /// let mut config = DegradationConfig::default();
    /// config.components.insert("error_budget".into(), ComponentConfig::weighted(0.0));
    /// config.rules.push(DegradationRuleConfig {
    ///     name: "budget_spent".into(), component: "error_budget".into(), when: Condition::Down, level: "level_3".into(),
    /// });
    /// let levels = DegradationManager::with_clock(config, clock.clone()).unwrap();
    ///
    /// budget.set_available(false);
    /// clock.advance(Duration::from_secs(44 * 60)); // more than 43.2 min down
    /// assert_eq!(budget.report_to(&levels, "error_budget").unwrap().name(), "level_3");
    /// ```
    pub fn report_to(
        &self,
        manager: &DegradationManager,
        component: &str,
    ) -> Result<crate::degradation::DegradationLevel, DegradationError> {
        manager.report_by_name(component, self.health())
    }

    /// When bucket `index` starts (saturating far in the future).
    fn bucket_start(&self, index: u64) -> Instant {
        let offset = u32::try_from(index)
            .ok()
            .and_then(|i| self.bucket.checked_mul(i))
            .and_then(|d| self.start.checked_add(d));
        offset.unwrap_or(self.start)
    }

    fn index_of(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.start).as_nanos();
        u64::try_from(since / self.bucket.as_nanos().max(1)).unwrap_or(u64::MAX - 1)
    }

    /// The slot for bucket `index`, cleared if it held an older bucket.
    fn slot_at<'a>(&self, state: &'a mut State, index: u64) -> &'a mut Bucket {
        let len = state.slots.len() as u64;
        let i = (index % len) as usize;
        let slot = &mut state.slots[i];
        if slot.index != index {
            *slot = Bucket {
                index,
                ..Bucket::default()
            };
        }
        slot
    }

    fn slot<'a>(&self, state: &'a mut State, now: Instant) -> &'a mut Bucket {
        let index = self.index_of(now);
        self.slot_at(state, index)
    }

    /// Adds the unavailable time up to `now` to the buckets it fell in.
    fn accrue(&self, state: &mut State, now: Instant) {
        let Some(since) = state.down_since else {
            return;
        };
        // Only the last period matters: older downtime would be evicted.
        let from = since.max(now.checked_sub(self.config.period).unwrap_or(since));
        let mut t = from;
        while t < now {
            let index = self.index_of(t);
            let end = self.bucket_start(index.saturating_add(1)).min(now);
            let add =
                u64::try_from(end.saturating_duration_since(t).as_nanos()).unwrap_or(u64::MAX);
            let slot = self.slot_at(state, index);
            slot.down_nanos = slot.down_nanos.saturating_add(add);
            if end <= t {
                break;
            }
            t = end;
        }
        state.down_since = Some(now);
    }
}
