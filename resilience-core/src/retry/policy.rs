//! The retry decision engine: a shared [`RetryPolicy`] and a per-call
//! [`RetryState`].

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics::{Counter, Histogram};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::backoff::Backoff;
use super::budget::{BudgetConfig, RetryBudget, Withdrawal};
use super::classify::{ClassSet, Classification, ErrorClass, Idempotency};
use super::jitter::JitterRng;
use crate::clock::{shared, Clock, SharedClock, SystemClock};
use crate::config::{check_nonzero_duration, fmt_duration, fmt_elapsed, fmt_wait, ConfigError};
use crate::events::Listeners;

/// Total attempts when neither the backoff nor the policy sets a limit.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// The default [`RetryConfig::max_retry_after`]: 5 minutes.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

fn default_max_retry_after() -> Duration {
    DEFAULT_MAX_RETRY_AFTER
}

fn is_default_retry_on(s: &ClassSet) -> bool {
    *s == ClassSet::DEFAULT_RETRYABLE
}

fn is_default_idempotency(i: &Idempotency) -> bool {
    *i == Idempotency::Idempotent
}

fn is_default_max_retry_after(d: &Duration) -> bool {
    *d == DEFAULT_MAX_RETRY_AFTER
}

/// A retry policy as config data; [`RetryPolicy::from_config`] validates it
/// into a working policy.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `backoff` | required | the [`Backoff`] schedule, with `max_attempts` (default 3) |
/// | `idempotency` | `idempotent` | `non_idempotent`: retry only failures that prove the request never left |
/// | `retry_on` | the default retryable classes | [`ErrorClass`]es worth retrying |
/// | `deadline` | none | overall time budget across all attempts and waits |
/// | `max_retry_after` | `5m` | give up rather than honour a longer `Retry-After` |
/// | `budget` | none | a [`BudgetConfig`] private to this policy |
/// | `jitter_seed` | none (thread RNG) | seed the jitter: call *n* of the policy jitters with [`JitterRng::stream(seed, n)`](JitterRng::stream), so the same seed gives the same delays |
///
/// ```
/// use std::time::Duration;
/// use resilience_core::retry::{RetryConfig, ErrorClass, Idempotency};
///
/// let c: RetryConfig = resilience_core::config::from_yaml_str(r#"
/// backoff: {kind: exponential, initial: 50ms, max: 1s, max_attempts: 4, jitter: full}
/// retry_on: [timeout, transient, connection_reset]
/// deadline: 5s
/// budget: {kind: token_bucket, capacity: 100}
/// "#).unwrap();
/// assert_eq!(c.deadline, Some(Duration::from_secs(5)));
/// assert!(!c.retry_on.contains(ErrorClass::RateLimited));
/// assert_eq!(c.idempotency, Idempotency::Idempotent);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// The delay schedule and attempt limit.
    pub backoff: Backoff,
    /// Whether the operation may be repeated safely.
    #[serde(default, skip_serializing_if = "is_default_idempotency")]
    pub idempotency: Idempotency,
    /// The classes worth retrying.
    #[serde(default, skip_serializing_if = "is_default_retry_on")]
    pub retry_on: ClassSet,
    /// Overall deadline across attempts and waits: a retry whose wait would
    /// end after it is not made.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub deadline: Option<Duration>,
    /// The longest `Retry-After` honoured; a longer one gives up.
    #[serde(
        default = "default_max_retry_after",
        with = "humantime_serde",
        skip_serializing_if = "is_default_max_retry_after"
    )]
    pub max_retry_after: Duration,
    /// A retry budget for this policy alone (share one budget between
    /// policies with [`RetryPolicyBuilder::budget`] instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetConfig>,
    /// Seed for the jitter RNG (default: none, jitter from the thread RNG).
    /// With a seed, the policy's calls are numbered in the order they
    /// [`start`](RetryPolicy::start), and call *n* jitters with
    /// [`JitterRng::stream(seed, n)`](JitterRng::stream): the same seed and
    /// the same order of calls give the same delays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_seed: Option<u64>,
}

impl RetryConfig {
    /// A config with `backoff` and every other field at its default.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::retry::{Backoff, RetryConfig};
    /// let c = RetryConfig::new(Backoff::constant(Duration::from_secs(1)));
    /// assert_eq!(c.deadline, None);
    /// ```
    pub fn new(backoff: Backoff) -> RetryConfig {
        RetryConfig {
            backoff,
            idempotency: Idempotency::Idempotent,
            retry_on: ClassSet::DEFAULT_RETRYABLE,
            deadline: None,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            budget: None,
            jitter_seed: None,
        }
    }
}

/// Why a retry driver stopped retrying.
///
/// ```
/// use resilience_core::retry::{ErrorClass, GiveUpReason};
/// let r = GiveUpReason::NotRetryable { class: ErrorClass::NotFound };
/// assert_eq!(r.as_str(), "not_retryable");
/// assert!(r.to_string().contains("not_found"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GiveUpReason {
    /// The failure's class is not in the policy's `retry_on` set.
    NotRetryable {
        /// The class of the failure.
        class: ErrorClass,
    },
    /// The operation is not idempotent and the failure does not prove the
    /// request never left.
    NotIdempotent {
        /// The class of the failure.
        class: ErrorClass,
    },
    /// Every allowed attempt was made.
    Exhausted,
    /// The next wait would end after the overall deadline.
    DeadlineExceeded {
        /// Time since the first attempt started.
        elapsed: Duration,
        /// The policy's deadline.
        deadline: Duration,
    },
    /// The retry budget refused the retry.
    BudgetExhausted,
    /// The dependency asked for a longer wait than `max_retry_after`.
    RetryAfterTooLong {
        /// The wait the dependency asked for.
        requested: Duration,
        /// The policy's `max_retry_after`.
        limit: Duration,
    },
}

impl GiveUpReason {
    const LABELS: [&'static str; 6] = [
        "not_retryable",
        "not_idempotent",
        "exhausted",
        "deadline_exceeded",
        "budget_exhausted",
        "retry_after_too_long",
    ];

    fn index(self) -> usize {
        match self {
            GiveUpReason::NotRetryable { .. } => 0,
            GiveUpReason::NotIdempotent { .. } => 1,
            GiveUpReason::Exhausted => 2,
            GiveUpReason::DeadlineExceeded { .. } => 3,
            GiveUpReason::BudgetExhausted => 4,
            GiveUpReason::RetryAfterTooLong { .. } => 5,
        }
    }

    /// The metrics label (`"exhausted"`, `"budget_exhausted"`, ...).
    pub fn as_str(self) -> &'static str {
        Self::LABELS[self.index()]
    }
}

impl fmt::Display for GiveUpReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GiveUpReason::NotRetryable { class } => {
                write!(f, "a {class} failure is not retryable under this policy")
            }
            GiveUpReason::NotIdempotent { class } => write!(
                f,
                "the operation is not idempotent and a {class} failure does not prove \
                 the request never reached the server"
            ),
            GiveUpReason::Exhausted => f.write_str("every allowed attempt failed"),
            GiveUpReason::DeadlineExceeded { elapsed, deadline } => write!(
                f,
                "the next retry would end after the {} deadline ({} elapsed)",
                fmt_duration(*deadline),
                fmt_elapsed(*elapsed)
            ),
            GiveUpReason::BudgetExhausted => f.write_str("the retry budget is exhausted"),
            GiveUpReason::RetryAfterTooLong { requested, limit } => write!(
                f,
                "the dependency asked to retry after {}, longer than max_retry_after {}",
                fmt_wait(*requested),
                fmt_duration(*limit)
            ),
        }
    }
}

/// What to do after a failed attempt.
///
/// ```
/// use std::time::Duration;
/// use resilience_core::retry::{RetryDecision, GiveUpReason};
/// let d = RetryDecision::Retry { after: Duration::from_millis(100), attempt: 2 };
/// assert!(d.is_retry());
/// assert!(!RetryDecision::GiveUp(GiveUpReason::Exhausted).is_retry());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Wait `after`, then make attempt number `attempt` (from 1).
    Retry {
        /// How long to wait first.
        after: Duration,
        /// The number of the attempt to make (2 for the first retry).
        attempt: u32,
    },
    /// Stop and report the failure.
    GiveUp(GiveUpReason),
}

impl RetryDecision {
    /// Whether this is a `Retry`.
    pub fn is_retry(&self) -> bool {
        matches!(self, RetryDecision::Retry { .. })
    }
}

/// What a [`RetryPolicy`] reports to its listeners.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use resilience_core::retry::{Backoff, RetryEvent, RetryPolicy, ErrorClass};
///
/// let policy = RetryPolicy::builder(Backoff::constant(Duration::ZERO)).name("db").build().unwrap();
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = seen.clone();
/// policy.listeners().add_fn(move |e: &RetryEvent| sink.lock().unwrap().push(e.clone()));
/// let now = std::time::Instant::now();
/// let mut call = policy.start(now);
/// policy.next(&mut call, now, ErrorClass::Timeout.into());
/// assert!(matches!(&seen.lock().unwrap()[0], RetryEvent::Retry { attempt: 1, .. }));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RetryEvent {
    /// Attempt `attempt` failed with `class`; the next one follows in `delay`
    /// (a `log_retry` hook).
    Retry {
        /// The policy's name.
        policy: Arc<str>,
        /// The attempt that failed (from 1).
        attempt: u32,
        /// Its failure class.
        class: ErrorClass,
        /// The wait before the next attempt.
        delay: Duration,
    },
    /// The call succeeded after `attempts` attempts.
    Success {
        /// The policy's name.
        policy: Arc<str>,
        /// Attempts made, including the successful one.
        attempts: u32,
    },
    /// The call failed for good.
    GaveUp {
        /// The policy's name.
        policy: Arc<str>,
        /// Attempts made.
        attempts: u32,
        /// The class of the last failure.
        class: ErrorClass,
        /// Why no further attempt is made.
        reason: GiveUpReason,
    },
}

/// The per-call bookkeeping of a retry driver: attempts made, start time,
/// previous delay, idempotency and the last budget receipt.
///
/// A plain value (no allocation, no reference to the policy), so a driver
/// such as a tower future can keep it next to its [`RetryPolicy`] handle. Get one
/// from [`RetryPolicy::start`].
///
/// ```
/// use std::time::{Duration, Instant};
/// use resilience_core::retry::{Backoff, RetryPolicy, ErrorClass, RetryDecision};
///
/// let policy = RetryPolicy::builder(Backoff::constant(Duration::from_millis(10)))
///     .deadline(Duration::from_secs(1))
///     .build()
///     .unwrap();
/// let t0 = Instant::now();
/// let mut call = policy.start(t0);
/// assert_eq!(call.attempts(), 1);
/// assert_eq!(call.remaining(t0), Some(Duration::from_secs(1)));
/// let d = policy.next(&mut call, t0, ErrorClass::Transient.into());
/// assert_eq!(d, RetryDecision::Retry { after: Duration::from_millis(10), attempt: 2 });
/// assert_eq!(call.attempts(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct RetryState {
    attempts: u32,
    started: Instant,
    deadline: Option<Duration>,
    prev_delay: Option<Duration>,
    idempotency: Idempotency,
    receipt: Option<Withdrawal>,
    rng: Option<JitterRng>,
}

impl RetryState {
    /// Attempts started so far (1 after [`RetryPolicy::start`]).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// When the first attempt started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Time since the first attempt started.
    pub fn elapsed(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.started)
    }

    /// Time left before the policy's deadline (`None` without a deadline);
    /// a driver can cap each attempt's timeout with it.
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_sub(self.elapsed(now)))
    }

    /// The idempotency this call runs under.
    pub fn idempotency(&self) -> Idempotency {
        self.idempotency
    }

    /// The wait before the current attempt (`None` on the first).
    pub fn last_delay(&self) -> Option<Duration> {
        self.prev_delay
    }

    /// Makes this call jitter with `rng` in [`RetryPolicy::next`] (replacing
    /// the policy's seeded stream or the thread RNG). Seeding each call from
    /// something stable, such as a request id, makes its delays independent
    /// of the order in which concurrent calls started.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use resilience_core::retry::{Backoff, ErrorClass, Jitter, JitterRng, RetryDecision, RetryPolicy};
    ///
    /// let backoff = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(5))
    ///     .unwrap()
    ///     .with_jitter(Jitter::Full);
    /// let policy = RetryPolicy::builder(backoff).max_attempts(5).build().unwrap();
    /// let delays = |request_id: u64| {
    ///     let now = Instant::now();
    ///     let mut call = policy.start(now);
    ///     call.set_jitter_rng(JitterRng::new(request_id));
    ///     let mut out = Vec::new();
    ///     while let RetryDecision::Retry { after, .. } = policy.next(&mut call, now, ErrorClass::Timeout.into()) {
    ///         out.push(after);
    ///     }
    ///     out
    /// };
    /// assert_eq!(delays(1001), delays(1001));
    /// assert_eq!(delays(1001).len(), 4);
    /// ```
    pub fn set_jitter_rng(&mut self, rng: JitterRng) {
        self.rng = Some(rng);
    }
}

/// Metric handles, registered once per policy so the call path does not
/// build keys or allocate.
struct RetryMetrics {
    success: Counter,
    success_after_retry: Counter,
    gave_up: [Counter; 6],
    retries: [Counter; ErrorClass::ALL.len()],
    budget_exhausted: Counter,
    delay: Histogram,
    attempts: Histogram,
}

impl RetryMetrics {
    fn new(policy: &Arc<str>) -> RetryMetrics {
        let calls = |result: &'static str| metrics::counter!("resilience_retry_calls_total", "policy" => policy.clone(), "result" => result);
        RetryMetrics {
            success: calls("success"),
            success_after_retry: calls("success_after_retry"),
            gave_up: GiveUpReason::LABELS.map(calls),
            retries: ErrorClass::ALL.map(|c| {
                metrics::counter!("resilience_retry_retries_total", "policy" => policy.clone(), "class" => c.as_str())
            }),
            budget_exhausted: metrics::counter!("resilience_retry_budget_exhausted_total", "policy" => policy.clone()),
            delay: metrics::histogram!("resilience_retry_delay_seconds", "policy" => policy.clone()),
            attempts: metrics::histogram!("resilience_retry_attempts", "policy" => policy.clone()),
        }
    }
}

/// A validated retry policy: backoff, attempt limit, retryable classes,
/// idempotency, deadline, `Retry-After` limit and an optional shared budget.
///
/// Cheap to clone: clones share one policy (an `Arc` inside), with its
/// metrics, listeners, budget and jitter stream. A policy drives any number of calls at
/// once. The runtime-agnostic core is [`start`](Self::start) /
/// [`next`](Self::next) / [`record_success`](Self::record_success) on a
/// per-call [`RetryState`]: no allocation, no timer, no async runtime; a
/// tower layer or a job scheduler sleeps however it likes. For direct use
/// there are [`run`](Self::run) (async, generic over the sleep function) and
/// [`run_blocking`](Self::run_blocking).
///
/// Decision order after a failed attempt: class not in `retry_on` →
/// `NotRetryable`; non-idempotent and not provably unsent → `NotIdempotent`;
/// all attempts made → `Exhausted`; `Retry-After` over `max_retry_after` →
/// `RetryAfterTooLong`; wait would end past the deadline →
/// `DeadlineExceeded`; budget refuses → `BudgetExhausted` (the budget is
/// only asked once every other check passed, so refused calls cost it
/// nothing). Otherwise retry after `max(backoff delay, Retry-After)`.
///
/// ```
/// use std::time::{Duration, Instant};
/// use resilience_core::retry::{Backoff, ErrorClass, GiveUpReason, RetryDecision, RetryPolicy};
///
/// let backoff = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(1))
///     .unwrap()
///     .with_max_attempts(3)
///     .unwrap();
/// let policy = RetryPolicy::builder(backoff).name("inventory").build().unwrap();
/// let now = Instant::now();
/// let mut call = policy.start(now);
/// let timeout = ErrorClass::Timeout.into();
/// assert_eq!(policy.next(&mut call, now, timeout), RetryDecision::Retry { after: Duration::from_millis(100), attempt: 2 });
/// assert_eq!(policy.next(&mut call, now, timeout), RetryDecision::Retry { after: Duration::from_millis(200), attempt: 3 });
/// assert_eq!(policy.next(&mut call, now, timeout), RetryDecision::GiveUp(GiveUpReason::Exhausted));
/// ```
pub struct RetryPolicy {
    inner: Arc<RetryPolicyShared>,
}

impl Clone for RetryPolicy {
    fn clone(&self) -> Self {
        RetryPolicy {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// For code written when this type was shared as `Arc<RetryPolicy>`: a
/// handle to the same one.
impl From<Arc<RetryPolicy>> for RetryPolicy {
    fn from(shared: Arc<RetryPolicy>) -> Self {
        (*shared).clone()
    }
}

struct RetryPolicyShared {
    name: Arc<str>,
    backoff: Backoff,
    max_attempts: u32,
    idempotency: Idempotency,
    retry_on: ClassSet,
    deadline: Option<Duration>,
    /// The longest one attempt can take; with a deadline, a retry is made
    /// only when its wait and a whole attempt fit before it.
    attempt_time_limit: Duration,
    max_retry_after: Duration,
    budget: Option<Arc<dyn RetryBudget>>,
    clock: SharedClock,
    listeners: Listeners<RetryEvent>,
    metrics: RetryMetrics,
    jitter_seed: Option<u64>,
    /// Calls started, numbering the jitter streams (used only with a seed).
    calls: AtomicU64,
    /// Neither a budget nor a jitter seed: starting a call has nothing to
    /// do but fill in its state.
    plain_start: bool,
    /// When the policy was built: the start time the `run` drivers give a
    /// call when the policy has no deadline (the only reader of a call's
    /// start time), so that they read no clock on the success path.
    created: Instant,
}

impl RetryPolicy {
    /// A builder starting from `backoff`, with every other setting at its
    /// default (see [`RetryConfig`]).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_core::retry::{Backoff, Idempotency, RetryPolicy, TokenBucketBudget, TokenBucketConfig};
    ///
    /// let shared_budget = Arc::new(TokenBucketBudget::new(TokenBucketConfig::default()).unwrap());
    /// let policy = RetryPolicy::builder(Backoff::exponential(Duration::from_millis(100), Duration::from_secs(2)).unwrap())
    ///     .name("payments")
    ///     .max_attempts(4)
    ///     .idempotency(Idempotency::NonIdempotent)
    ///     .deadline(Duration::from_secs(10))
    ///     .budget(shared_budget)
    ///     .clock(ManualClock::new())
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(policy.max_attempts(), 4);
    /// ```
    pub fn builder(backoff: Backoff) -> RetryPolicyBuilder {
        RetryPolicyBuilder {
            name: None,
            max_attempts: None,
            attempt_time_limit: Duration::ZERO,
            config: RetryConfig::new(backoff),
            budget: None,
            clock: None,
        }
    }

    /// Validates `config` into a policy named `name` reading `clock` (the
    /// config's budget, if any, is built with the same clock).
    ///
    /// ```
    /// use resilience_core::clock::SystemClock;
    /// use resilience_core::retry::{RetryConfig, RetryPolicy};
    /// let c: RetryConfig = serde_json::from_str(
    ///     r#"{"backoff":{"kind":"constant","initial":"1s","max_attempts":2},"deadline":"0s"}"#,
    /// ).unwrap();
    /// let err = RetryPolicy::from_config("x", &c, SystemClock).unwrap_err();
    /// assert_eq!(err.field(), Some("deadline"));
    /// ```
    pub fn from_config(
        name: &str,
        config: &RetryConfig,
        clock: impl Clock,
    ) -> Result<RetryPolicy, ConfigError> {
        Self::builder_from(config.clone())
            .name(name)
            .clock(clock)
            .build()
    }

    /// A builder starting from `config` (for settings that are not config
    /// data, such as a shared budget or an attempt time limit).
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::retry::{RetryConfig, RetryPolicy};
    /// let config: RetryConfig = resilience_core::config::from_yaml_str(
    ///     "backoff: { kind: constant, initial: 100ms }\ndeadline: 5s",
    /// ).unwrap();
    /// let policy = RetryPolicy::builder_from(config)
    ///     .attempt_time_limit(Duration::from_secs(2))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(policy.attempt_time_limit(), Duration::from_secs(2));
    /// ```
    pub fn builder_from(config: RetryConfig) -> RetryPolicyBuilder {
        RetryPolicyBuilder {
            name: None,
            max_attempts: None,
            attempt_time_limit: Duration::ZERO,
            config,
            budget: None,
            clock: None,
        }
    }

    /// The policy's name (the `policy` label of its metrics).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The backoff schedule.
    pub fn backoff(&self) -> &Backoff {
        &self.inner.backoff
    }

    /// Total attempts allowed per call, including the first.
    pub fn max_attempts(&self) -> u32 {
        self.inner.max_attempts
    }

    /// The default idempotency of calls.
    pub fn idempotency(&self) -> Idempotency {
        self.inner.idempotency
    }

    /// The retryable classes.
    pub fn retry_on(&self) -> ClassSet {
        self.inner.retry_on
    }

    /// The overall deadline per call.
    pub fn deadline(&self) -> Option<Duration> {
        self.inner.deadline
    }

    /// The longest one attempt can take, as set with
    /// [`RetryPolicyBuilder::attempt_time_limit`] (zero when not set).
    pub fn attempt_time_limit(&self) -> Duration {
        self.inner.attempt_time_limit
    }

    /// The budget, if any.
    pub fn budget(&self) -> Option<&Arc<dyn RetryBudget>> {
        self.inner.budget.as_ref()
    }

    /// The clock the `run` helpers read.
    #[deprecated(
        since = "0.1.1",
        note = "internal: the policy's clock is the one given to the builder or `from_config`; private in 0.2"
    )]
    #[doc(hidden)]
    pub fn clock(&self) -> &SharedClock {
        self.shared_clock()
    }

    pub(crate) fn shared_clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    /// Listeners for [`RetryEvent`]s.
    pub fn listeners(&self) -> &Listeners<RetryEvent> {
        &self.inner.listeners
    }

    /// The jitter seed, if the policy has one (see
    /// [`RetryPolicyBuilder::jitter_seed`]).
    pub fn jitter_seed(&self) -> Option<u64> {
        self.inner.jitter_seed
    }

    /// When a call started by a driver begins: the clock's time when the
    /// policy has a deadline (which is measured from it), else the
    /// policy's creation time, since nothing else reads a call's start:
    /// a call that succeeds at once then reads no clock at all.
    #[inline]
    pub(crate) fn driver_start(&self) -> Instant {
        match self.inner.deadline {
            Some(_) => self.inner.clock.now(),
            None => self.inner.created,
        }
    }

    /// Starts a call whose first attempt begins at `now`, with the policy's
    /// idempotency. Counts the call towards the budget.
    #[inline]
    pub fn start(&self, now: Instant) -> RetryState {
        self.start_with(now, self.inner.idempotency)
    }

    /// Starts a call with an explicit idempotency (e.g. from the HTTP
    /// method, see [`Idempotency::for_http_method`]).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use resilience_core::retry::*;
    /// let policy = RetryPolicy::builder(Backoff::constant(Duration::ZERO)).build().unwrap();
    /// let now = Instant::now();
    /// let mut post = policy.start_with(now, Idempotency::for_http_method("POST"));
    /// assert_eq!(
    ///     policy.next(&mut post, now, ErrorClass::ServerError.into()),
    ///     RetryDecision::GiveUp(GiveUpReason::NotIdempotent { class: ErrorClass::ServerError }),
    /// );
    /// ```
    #[inline]
    pub fn start_with(&self, now: Instant, idempotency: Idempotency) -> RetryState {
        let inner = &*self.inner;
        // One test for the usual policy, with neither a budget to count the
        // call in nor a seed to number it by.
        let rng = if inner.plain_start {
            None
        } else {
            if let Some(b) = &inner.budget {
                b.record_request();
            }
            inner
                .jitter_seed
                .map(|seed| JitterRng::stream(seed, inner.calls.fetch_add(1, Ordering::Relaxed)))
        };
        RetryState {
            attempts: 1,
            started: now,
            deadline: inner.deadline,
            prev_delay: None,
            idempotency,
            receipt: None,
            rng,
        }
    }

    /// Decides what follows a failed attempt, jittering with the call's
    /// [`JitterRng`] (from the policy's [`jitter_seed`](Self::jitter_seed)
    /// or [`RetryState::set_jitter_rng`]), else with the thread-local RNG.
    /// See [`next_with_rng`](Self::next_with_rng).
    pub fn next(
        &self,
        state: &mut RetryState,
        now: Instant,
        failure: Classification,
    ) -> RetryDecision {
        match state.rng.take() {
            Some(mut rng) => {
                let decision = self.next_with_rng(state, now, failure, &mut rng);
                state.rng = Some(rng);
                decision
            }
            None => self.next_with_rng(state, now, failure, &mut rand::rng()),
        }
    }

    /// Decides what follows a failed attempt (the current one, number
    /// [`state.attempts()`](RetryState::attempts)), classified as `failure`,
    /// at `now`. On `Retry` the state already counts the next attempt.
    /// Records metrics and emits a [`RetryEvent`].
    pub fn next_with_rng<R: Rng + ?Sized>(
        &self,
        state: &mut RetryState,
        now: Instant,
        failure: Classification,
        rng: &mut R,
    ) -> RetryDecision {
        match self.decide(state, now, failure, rng) {
            Ok(after) => {
                let failed = state.attempts;
                state.attempts = failed.saturating_add(1);
                self.inner.metrics.retries[failure.class.index()].increment(1);
                self.inner.metrics.delay.record(after.as_secs_f64());
                #[cfg(feature = "tracing")]
                tracing::debug!(
                    policy = %self.inner.name,
                    attempt = failed,
                    class = failure.class.as_str(),
                    delay = ?after,
                    "retrying"
                );
                self.inner.listeners.emit_with(|| RetryEvent::Retry {
                    policy: self.inner.name.clone(),
                    attempt: failed,
                    class: failure.class,
                    delay: after,
                });
                RetryDecision::Retry {
                    after,
                    attempt: state.attempts,
                }
            }
            Err(reason) => {
                self.inner.metrics.gave_up[reason.index()].increment(1);
                if reason == GiveUpReason::BudgetExhausted {
                    self.inner.metrics.budget_exhausted.increment(1);
                }
                self.inner
                    .metrics
                    .attempts
                    .record(f64::from(state.attempts));
                #[cfg(feature = "tracing")]
                tracing::debug!(
                    policy = %self.inner.name,
                    attempts = state.attempts,
                    class = failure.class.as_str(),
                    reason = reason.as_str(),
                    "giving up: {reason}"
                );
                self.inner.listeners.emit_with(|| RetryEvent::GaveUp {
                    policy: self.inner.name.clone(),
                    attempts: state.attempts,
                    class: failure.class,
                    reason,
                });
                RetryDecision::GiveUp(reason)
            }
        }
    }

    /// Whether a failure of `class` could still be retried in this call:
    /// the class is in `retry_on`, the call's idempotency allows it and
    /// attempts remain. Changes nothing and does not consult the backoff,
    /// the deadline or the budget (those need [`next`](Self::next)).
    ///
    /// For drivers that must know before committing to a retry, e.g. a
    /// tower layer that could not keep a copy of the request and must not
    /// draw on the budget for a retry it cannot make.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use resilience_core::retry::{Backoff, ErrorClass, Idempotency, RetryPolicy};
    /// let policy = RetryPolicy::builder(Backoff::constant(Duration::ZERO)).max_attempts(2).build().unwrap();
    /// let now = Instant::now();
    /// let mut call = policy.start(now);
    /// assert!(policy.may_retry(&call, ErrorClass::Timeout));
    /// assert!(!policy.may_retry(&call, ErrorClass::NotFound));
    /// let post = policy.start_with(now, Idempotency::NonIdempotent);
    /// assert!(!policy.may_retry(&post, ErrorClass::Timeout));
    /// assert!(policy.may_retry(&post, ErrorClass::ConnectFailed));
    /// policy.next(&mut call, now, ErrorClass::Timeout.into());
    /// assert!(!policy.may_retry(&call, ErrorClass::Timeout)); // 2 of 2 attempts made
    /// ```
    pub fn may_retry(&self, state: &RetryState, class: ErrorClass) -> bool {
        self.precheck(state, class).is_ok()
    }

    /// The checks that need neither time nor randomness, in decision order.
    fn precheck(&self, state: &RetryState, class: ErrorClass) -> Result<(), GiveUpReason> {
        if !self.inner.retry_on.contains(class) {
            return Err(GiveUpReason::NotRetryable { class });
        }
        if !state.idempotency.allows_retry(class) {
            return Err(GiveUpReason::NotIdempotent { class });
        }
        if state.attempts >= self.inner.max_attempts {
            return Err(GiveUpReason::Exhausted);
        }
        Ok(())
    }

    fn decide<R: Rng + ?Sized>(
        &self,
        state: &mut RetryState,
        now: Instant,
        failure: Classification,
        rng: &mut R,
    ) -> Result<Duration, GiveUpReason> {
        let class = failure.class;
        self.precheck(state, class)?;
        let scheduled = self
            .inner
            .backoff
            .jittered_delay(state.attempts, state.prev_delay, rng);
        let mut after = scheduled;
        if let Some(requested) = failure.retry_after {
            if requested > self.inner.max_retry_after {
                return Err(GiveUpReason::RetryAfterTooLong {
                    requested,
                    limit: self.inner.max_retry_after,
                });
            }
            after = after.max(requested);
        }
        if let Some(deadline) = state.deadline {
            let elapsed = state.elapsed(now);
            if elapsed
                .saturating_add(after)
                .saturating_add(self.inner.attempt_time_limit)
                > deadline
            {
                return Err(GiveUpReason::DeadlineExceeded { elapsed, deadline });
            }
        }
        if let Some(budget) = &self.inner.budget {
            match budget.try_withdraw(class) {
                Some(receipt) => state.receipt = Some(receipt),
                None => return Err(GiveUpReason::BudgetExhausted),
            }
        }
        state.prev_delay = Some(scheduled);
        Ok(after)
    }

    /// Records that the current attempt succeeded: refunds the budget,
    /// counts the call and emits [`RetryEvent::Success`].
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use resilience_core::retry::*;
    /// let budget = std::sync::Arc::new(TokenBucketBudget::new(TokenBucketConfig::default()).unwrap());
    /// let policy = RetryPolicy::builder(Backoff::constant(Duration::ZERO)).budget(budget.clone()).build().unwrap();
    /// let now = Instant::now();
    /// let mut call = policy.start(now);
    /// policy.next(&mut call, now, ErrorClass::Transient.into());
    /// assert_eq!(budget.tokens(), 495);
    /// policy.record_success(&call);
    /// assert_eq!(budget.tokens(), 500);
    /// ```
    #[inline]
    pub fn record_success(&self, state: &RetryState) {
        let inner = &*self.inner;
        if state.attempts == 1 && inner.budget.is_none() {
            // The usual case, on every call's success path: the first
            // attempt succeeded and there is no budget to refund. One test
            // of each, and the counter and the attempt count are constants.
            inner.metrics.success.increment(1);
            inner.metrics.attempts.record(1.0);
            inner.listeners.emit_with(|| RetryEvent::Success {
                policy: inner.name.clone(),
                attempts: 1,
            });
        } else {
            record_success_after_retries(inner, state.attempts, state.receipt);
        }
    }
}

/// [`RetryPolicy::record_success`] after retries, or with a budget; out of
/// line, off the usual path. Takes what it reads by value (the policy's
/// shared part, the state's fields): references to the caller's handle or
/// state would make it keep them in memory.
#[cold]
#[inline(never)]
fn record_success_after_retries(
    inner: &RetryPolicyShared,
    attempts: u32,
    receipt: Option<Withdrawal>,
) {
    if let Some(b) = &inner.budget {
        b.record_success(receipt);
    }
    if attempts <= 1 {
        inner.metrics.success.increment(1);
    } else {
        inner.metrics.success_after_retry.increment(1);
    }
    inner.metrics.attempts.record(f64::from(attempts));
    inner.listeners.emit_with(|| RetryEvent::Success {
        policy: inner.name.clone(),
        attempts,
    });
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("name", &self.inner.name)
            .field("backoff", &self.inner.backoff)
            .field("max_attempts", &self.inner.max_attempts)
            .field("idempotency", &self.inner.idempotency)
            .field("retry_on", &self.inner.retry_on)
            .field("deadline", &self.inner.deadline)
            .field("attempt_time_limit", &self.inner.attempt_time_limit)
            .field("max_retry_after", &self.inner.max_retry_after)
            .field("budget", &self.inner.budget)
            .field("jitter_seed", &self.inner.jitter_seed)
            .field("listeners", &self.inner.listeners)
            .finish_non_exhaustive()
    }
}

/// Builds a [`RetryPolicy`]; see [`RetryPolicy::builder`].
///
/// ```
/// use std::time::Duration;
/// use resilience_core::retry::{Backoff, RetryPolicy};
/// let err = RetryPolicy::builder(Backoff::constant(Duration::ZERO)).max_attempts(0).build().unwrap_err();
/// assert_eq!(err.field(), Some("max_attempts"));
/// ```
#[must_use]
#[derive(Clone)]
pub struct RetryPolicyBuilder {
    name: Option<Arc<str>>,
    max_attempts: Option<u32>,
    attempt_time_limit: Duration,
    config: RetryConfig,
    budget: Option<Arc<dyn RetryBudget>>,
    clock: Option<SharedClock>,
}

impl RetryPolicyBuilder {
    /// The name used in metrics and events (default `"default"`).
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Total attempts per call including the first. This sets the
    /// backoff's `max_attempts` (the one place the limit lives, as in a
    /// YAML config), so [`RetryPolicy::backoff`] and
    /// [`RetryPolicy::max_attempts`] always agree. Default: the backoff's,
    /// else 3.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(n);
        self
    }

    /// The default idempotency of calls (default idempotent).
    pub fn idempotency(mut self, idempotency: Idempotency) -> Self {
        self.config.idempotency = idempotency;
        self
    }

    /// The classes worth retrying (default [`ClassSet::DEFAULT_RETRYABLE`]).
    pub fn retry_on(mut self, classes: ClassSet) -> Self {
        self.config.retry_on = classes;
        self
    }

    /// The overall deadline per call (must be longer than zero).
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.config.deadline = Some(deadline);
        self
    }

    /// The longest one attempt can take: its timeout, plus any wait for a
    /// permit before it (default zero: not known). With a
    /// [`deadline`](Self::deadline), a retry is then made only when its
    /// wait *and* a whole attempt fit before the deadline, so no attempt
    /// is started that the deadline would have to cut short; the caller
    /// gets the last error at once instead
    /// ([`GiveUpReason::DeadlineExceeded`]).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use resilience_core::retry::{Backoff, ErrorClass, GiveUpReason, RetryDecision, RetryPolicy};
    /// let policy = RetryPolicy::builder(Backoff::constant(Duration::from_millis(100)))
    ///     .max_attempts(5)
    ///     .deadline(Duration::from_secs(5))
    ///     .attempt_time_limit(Duration::from_secs(2))
    ///     .build()
    ///     .unwrap();
    /// let t0 = Instant::now();
    /// let mut call = policy.start(t0);
    /// // At 2.9 s, a 100 ms wait and a 2 s attempt end at 5 s: still in time.
    /// assert!(policy.next(&mut call, t0 + Duration::from_millis(2900), ErrorClass::Timeout.into()).is_retry());
    /// // At 3 s they would end at 5.1 s: give up now.
    /// assert!(matches!(
    ///     policy.next(&mut call, t0 + Duration::from_secs(3), ErrorClass::Timeout.into()),
    ///     RetryDecision::GiveUp(GiveUpReason::DeadlineExceeded { .. })
    /// ));
    /// ```
    pub fn attempt_time_limit(mut self, limit: Duration) -> Self {
        self.attempt_time_limit = limit;
        self
    }

    /// The longest `Retry-After` honoured (default 5 minutes).
    pub fn max_retry_after(mut self, limit: Duration) -> Self {
        self.config.max_retry_after = limit;
        self
    }

    /// A retry budget, typically shared by every policy calling the same
    /// dependency. Replaces a budget from the config.
    pub fn budget(mut self, budget: Arc<dyn RetryBudget>) -> Self {
        self.budget = Some(budget);
        self.config.budget = None;
        self
    }

    /// The clock (default [`SystemClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(shared(clock));
        self
    }

    /// Seeds the jitter (default: thread RNG): call *n* of the policy, in
    /// the order calls [`start`](RetryPolicy::start), jitters with
    /// [`JitterRng::stream(seed, n)`](JitterRng::stream), so the same seed
    /// gives the same delays. For simulations, chaos experiments and tests;
    /// in production the thread RNG keeps separate processes apart.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use resilience_core::retry::{Backoff, ErrorClass, Jitter, RetryDecision, RetryPolicy};
    ///
    /// let delays = |seed: u64| {
    ///     let backoff = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(5))
    ///         .unwrap()
    ///         .with_jitter(Jitter::Decorrelated);
    ///     let policy = RetryPolicy::builder(backoff).max_attempts(6).jitter_seed(seed).build().unwrap();
    ///     let now = Instant::now();
    ///     let mut out = Vec::new();
    ///     for _call in 0..3 {
    ///         let mut call = policy.start(now);
    ///         while let RetryDecision::Retry { after, .. } = policy.next(&mut call, now, ErrorClass::Timeout.into()) {
    ///             out.push(after);
    ///         }
    ///     }
    ///     out
    /// };
    /// assert_eq!(delays(7), delays(7));
    /// assert_ne!(delays(7), delays(8));
    /// ```
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.config.jitter_seed = Some(seed);
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<RetryPolicy, ConfigError> {
        let RetryPolicyBuilder {
            name,
            max_attempts,
            attempt_time_limit,
            mut config,
            budget,
            clock,
        } = self;
        match max_attempts {
            Some(0) => {
                return Err(ConfigError::invalid(
                    "max_attempts",
                    "must be at least 1 (it counts the first attempt too), got 0",
                ))
            }
            Some(n) => config.backoff = config.backoff.with_max_attempts(n)?,
            None => {}
        }
        let max_attempts = config
            .backoff
            .max_attempts()
            .unwrap_or(DEFAULT_MAX_ATTEMPTS);
        if let Some(d) = config.deadline {
            check_nonzero_duration("deadline", d)?;
        }
        let clock = clock.unwrap_or_else(|| Arc::new(SystemClock));
        let budget = match (budget, &config.budget) {
            (Some(b), _) => Some(b),
            (None, Some(c)) => Some(c.build(clock.clone()).map_err(|e| e.within("budget"))?),
            (None, None) => None,
        };
        let name: Arc<str> = name.unwrap_or_else(|| "default".into());
        let plain_start = budget.is_none() && config.jitter_seed.is_none();
        Ok(RetryPolicy {
            inner: Arc::new(RetryPolicyShared {
                metrics: RetryMetrics::new(&name),
                name,
                backoff: config.backoff,
                max_attempts,
                idempotency: config.idempotency,
                retry_on: config.retry_on,
                deadline: config.deadline,
                attempt_time_limit,
                max_retry_after: config.max_retry_after,
                budget,
                created: clock.now(),
                clock,
                listeners: Listeners::new(),
                jitter_seed: config.jitter_seed,
                calls: AtomicU64::new(0),
                plain_start,
            }),
        })
    }
}

impl fmt::Debug for RetryPolicyBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicyBuilder")
            .field("name", &self.name)
            .field("max_attempts", &self.max_attempts)
            .field("config", &self.config)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}
