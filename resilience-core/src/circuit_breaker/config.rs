//! Circuit breaker configuration: the serde data and its validation.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{check_fraction, check_nonzero, check_nonzero_duration, ConfigError};

/// The largest count-based window: the window's packed counters have 21 bits
/// per field and keep headroom for in-flight updates.
pub const MAX_COUNT_WINDOW: u32 = 1_000_000;
/// The most buckets a time-based window keeps. Windows longer than this many
/// seconds use proportionally longer buckets (e.g. a 1 h window has 6 s
/// buckets), so that evaluating a failure never scans more than this.
pub const MAX_TIME_BUCKETS: u32 = 600;
/// The longest time-based window.
pub const MAX_TIME_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// The most trial calls a half-open breaker admits.
pub const MAX_HALF_OPEN_PERMITS: u32 = 10_000;

/// Which recent calls the failure rate is computed over.
///
/// Serialized as `{ "count": 100 }` or `{ "time": "60s" }`.
///
/// ```
/// use resilience_core::circuit_breaker::WindowConfig;
/// let w: WindowConfig = serde_json::from_str(r#"{ "time": "60s" }"#).unwrap();
/// assert_eq!(w, WindowConfig::Time(std::time::Duration::from_secs(60)));
/// let w: WindowConfig = serde_json::from_str(r#"{ "count": 10 }"#).unwrap();
/// assert_eq!(w, WindowConfig::Count(10));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawWindow", into = "RawWindow")]
pub enum WindowConfig {
    /// The last N calls, truly sliding: each new outcome evicts the oldest.
    Count(u32),
    /// The calls of the last duration, in 1-second buckets that expire as time
    /// passes (coarser buckets above [`MAX_TIME_BUCKETS`] seconds). Must be a
    /// whole number of seconds.
    Time(Duration),
}

/// The map form of [`WindowConfig`], which reads the same in JSON and YAML.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    count: Option<u32>,
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    time: Option<Duration>,
}

impl TryFrom<RawWindow> for WindowConfig {
    type Error = String;

    fn try_from(raw: RawWindow) -> Result<Self, Self::Error> {
        match (raw.count, raw.time) {
            (Some(n), None) => Ok(WindowConfig::Count(n)),
            (None, Some(d)) => Ok(WindowConfig::Time(d)),
            _ => Err("window must have exactly one of `count` (calls) or `time` (a duration such as \"60s\")".into()),
        }
    }
}

impl From<WindowConfig> for RawWindow {
    fn from(w: WindowConfig) -> Self {
        match w {
            WindowConfig::Count(n) => RawWindow {
                count: Some(n),
                time: None,
            },
            WindowConfig::Time(d) => RawWindow {
                count: None,
                time: Some(d),
            },
        }
    }
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig::Count(100)
    }
}

/// What makes a half-open breaker reopen.
///
/// ```
/// use resilience_core::circuit_breaker::HalfOpenFailure;
/// let p: HalfOpenFailure = serde_json::from_str(r#""rate""#).unwrap();
/// assert_eq!(p, HalfOpenFailure::Rate);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HalfOpenFailure {
    /// The first failed trial call reopens the breaker (the rule of every platform preset);
    /// `success_threshold` successful trials close it.
    #[default]
    Any,
    /// Wait for all `half_open_permits` trial outcomes, then reopen if their
    /// failure rate reaches `failure_rate_threshold` (0.5 when unset), else
    /// close (Resilience4j's rule). `success_threshold` is not used.
    Rate,
}

/// Growing open durations for a dependency that keeps failing its trials.
///
/// The n-th consecutive opening (n = 1 for the first, counted until the
/// breaker closes again) stays open for
/// `min(max, open_duration * multiplier^(n-1))`.
///
/// ```
/// use resilience_core::circuit_breaker::OpenBackoff;
/// let b: OpenBackoff = serde_json::from_str(r#"{ "multiplier": 2.0, "max": "5m" }"#).unwrap();
/// assert_eq!(b.max.as_secs(), 300);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenBackoff {
    /// Factor applied per consecutive opening; at least 1.
    pub multiplier: f64,
    /// The longest open duration.
    #[serde(with = "humantime_serde")]
    pub max: Duration,
}

/// Custom open duration as a function of the number of consecutive openings
/// (1 for the first). Set with [`CircuitBreakerConfig::open_duration_fn`].
#[derive(Clone)]
pub struct OpenDurationFn(pub(crate) Arc<dyn Fn(u32) -> Duration + Send + Sync>);

impl fmt::Debug for OpenDurationFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpenDurationFn(..)")
    }
}

/// Configuration of a [`CircuitBreaker`](super::CircuitBreaker).
///
/// Every field has a default, so a config names only what it changes. The
/// breaker trips (Closed → Open) when **any** configured trigger fires:
///
/// * `failure_rate_threshold`: failures / calls in the window reaches the
///   fraction, once the window holds at least `minimum_calls` calls;
/// * `slow_call_rate_threshold` (with `slow_call_duration`): same for slow
///   calls;
/// * `failure_count_threshold`: that many failures in the window ("5 failures
///   in 30 s"), regardless of `minimum_calls`;
/// * `consecutive_failures`: that many failures in a row, reset by any
///   success (the classic breaker of the platform presets).
///
/// When none of the failure triggers is set, `failure_rate_threshold`
/// defaults to 0.5, as in Resilience4j.
///
/// ```
/// use resilience_core::circuit_breaker::{CircuitBreakerConfig, WindowConfig};
/// let config: CircuitBreakerConfig = serde_json::from_str(r#"{
///     "window": { "count": 10 },
///     "minimum_calls": 10,
///     "failure_rate_threshold": 0.5,
///     "open_duration": "30s",
///     "half_open_permits": 3,
///     "success_threshold": 3
/// }"#).unwrap();
/// assert_eq!(config.window, WindowConfig::Count(10));
/// config.validate().unwrap();
///
/// let bad: CircuitBreakerConfig =
///     serde_json::from_str(r#"{ "failure_rate_threshold": 1.5 }"#).unwrap();
/// let err = bad.validate().unwrap_err();
/// assert_eq!(err.field(), Some("failure_rate_threshold"));
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CircuitBreakerConfig {
    /// The breaker's name: a label on its metrics and events. Registries set
    /// it from the key. Default `"default"`.
    pub name: Option<String>,
    /// The sliding window rates are computed over. Default 100 calls.
    pub window: WindowConfig,
    /// Calls the window must hold before a rate is computed. Default 100;
    /// a count window smaller than this uses its size instead.
    pub minimum_calls: u32,
    /// Trip when failures / calls ≥ this fraction. See the type docs for the
    /// default.
    pub failure_rate_threshold: Option<f64>,
    /// Trip when the window holds this many failures.
    pub failure_count_threshold: Option<u32>,
    /// Trip after this many failures in a row; any success resets the run
    /// (unless `failures_reset_on_success` is false).
    pub consecutive_failures: Option<u32>,
    /// Whether a success while closed resets the `consecutive_failures`
    /// count. Default true (a run of failures). False makes the count every
    /// failure since the breaker last closed, as the model-registry
    /// platform's Maestro breaker counts them: its pseudo-code resets
    /// `failure_count` only when a half-open breaker closes, so 5 failures
    /// with successes in between still open it.
    pub failures_reset_on_success: bool,
    /// The dependency's request timeout: how long one call may take. The
    /// breaker does not enforce it; it travels with the preset so that the
    /// code that makes the call uses it: `resilience_tower`'s stack takes it
    /// as its per-attempt `timeout` when the stack sets none (the Maestro
    /// preset's 30 s). Default none.
    #[serde(with = "humantime_serde::option")]
    pub call_timeout: Option<Duration>,
    /// A call slower than this counts as slow (strictly: a call that takes
    /// exactly this long is not slow, as in Resilience4j). Unset (the
    /// default) disables
    /// slow-call detection, and the closed path then never reads the clock
    /// with a count window.
    #[serde(with = "humantime_serde::option")]
    pub slow_call_duration: Option<Duration>,
    /// Trip when slow calls / calls ≥ this fraction. Default 1.0.
    pub slow_call_rate_threshold: f64,
    /// How long the breaker stays open before admitting trial calls.
    /// Default 30 s.
    #[serde(with = "humantime_serde")]
    pub open_duration: Duration,
    /// Growing open durations for repeated openings. Default none (fixed).
    pub open_backoff: Option<OpenBackoff>,
    /// Trial calls admitted at once while half-open. Default 3. With
    /// [`HalfOpenFailure::Any`] a trial that succeeds gives its slot to the
    /// next trial, so `success_threshold` may exceed this (the Maestro preset's "1 test
    /// request, close after 3 successes"); with [`HalfOpenFailure::Rate`] it
    /// is the total number of trials judged. A trial whose permit is dropped
    /// without an outcome, or is recorded as ignored, always gives its slot
    /// back.
    pub half_open_permits: u32,
    /// Successful trials that close the breaker
    /// ([`HalfOpenFailure::Any`]). Default: `half_open_permits`.
    pub success_threshold: Option<u32>,
    /// What reopens a half-open breaker. Default [`HalfOpenFailure::Any`].
    pub half_open_failure: HalfOpenFailure,
    /// If a half-open trial in flight reports no outcome for this long
    /// (hung or abandoned), the breaker counts that as a failed trial: it
    /// reopens for the next open duration, then admits fresh trials, so it
    /// can never stick half-open. Without trials in flight (no traffic) it
    /// stays half-open: the next call is the trial. Default 60 s.
    #[serde(with = "humantime_serde")]
    pub half_open_max_wait: Duration,
    /// Measure every call's duration (a clock read at acquire and at record)
    /// for the duration histogram even without slow-call detection.
    /// Default false.
    pub record_latency: bool,
    /// Custom open durations; not serialized. Overrides `open_backoff`.
    #[serde(skip)]
    pub open_duration_fn: Option<OpenDurationFn>,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        CircuitBreakerConfig {
            name: None,
            window: WindowConfig::default(),
            minimum_calls: 100,
            failure_rate_threshold: None,
            failure_count_threshold: None,
            consecutive_failures: None,
            failures_reset_on_success: true,
            call_timeout: None,
            slow_call_duration: None,
            slow_call_rate_threshold: 1.0,
            open_duration: Duration::from_secs(30),
            open_backoff: None,
            half_open_permits: 3,
            success_threshold: None,
            half_open_failure: HalfOpenFailure::Any,
            half_open_max_wait: Duration::from_secs(60),
            record_latency: false,
            open_duration_fn: None,
        }
    }
}

impl CircuitBreakerConfig {
    /// The default config (see the field docs).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Uses a count-based window of the last `calls` calls.
    pub fn count_window(mut self, calls: u32) -> Self {
        self.window = WindowConfig::Count(calls);
        self
    }

    /// Uses a time-based window of the last `span`.
    ///
    /// Every call into a time window reads the clock (the CPU's time-stamp
    /// counter on the [`SystemClock`](crate::clock::SystemClock): about
    /// 9 ns on a virtual machine); a breaker on a
    /// [`CoarseClock`](crate::clock::CoarseClock) reads a stored time
    /// instead (18.6 against 9.9 ns per healthy call in this repository's
    /// benchmarks, where a count window's takes 8.2), at the cost of one
    /// thread and readings up to its resolution late.
    ///
    /// A healthy call's success is counted in a word of the window that
    /// only the calling thread writes (one per thread for the first 16
    /// threads alive at once; later threads share an atomic add), so
    /// threads calling one breaker do not contend on a counter: 14.8 ns
    /// per call from 2 threads, 17.7 from 4. A time window costs its
    /// buckets (24 bytes per second of span, up to 600 buckets) and 256
    /// bytes for those words.
    pub fn time_window(mut self, span: Duration) -> Self {
        self.window = WindowConfig::Time(span);
        self
    }

    /// Sets `minimum_calls`.
    pub fn minimum_calls(mut self, calls: u32) -> Self {
        self.minimum_calls = calls;
        self
    }

    /// Sets the failure-rate trigger.
    pub fn failure_rate_threshold(mut self, fraction: f64) -> Self {
        self.failure_rate_threshold = Some(fraction);
        self
    }

    /// Sets the failure-count trigger.
    pub fn failure_count_threshold(mut self, failures: u32) -> Self {
        self.failure_count_threshold = Some(failures);
        self
    }

    /// Sets the consecutive-failures trigger.
    pub fn consecutive_failures(mut self, failures: u32) -> Self {
        self.consecutive_failures = Some(failures);
        self
    }

    /// Sets whether a success while closed resets the `consecutive_failures`
    /// count (default true; see the field docs).
    ///
    /// ```
    /// use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitState};
    /// let b = CircuitBreaker::new(
    ///     CircuitBreakerConfig::new().consecutive_failures(2).failures_reset_on_success(false),
    /// ).unwrap();
    /// b.try_acquire().unwrap().record_failure();
    /// b.try_acquire().unwrap().record_success();
    /// b.try_acquire().unwrap().record_failure();
    /// assert_eq!(b.state(), CircuitState::Open);
    /// ```
    pub fn failures_reset_on_success(mut self, reset: bool) -> Self {
        self.failures_reset_on_success = reset;
        self
    }

    /// Sets the dependency's request timeout (see the field docs).
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = Some(timeout);
        self
    }

    /// Enables slow-call detection.
    pub fn slow_calls(mut self, slower_than: Duration, rate_threshold: f64) -> Self {
        self.slow_call_duration = Some(slower_than);
        self.slow_call_rate_threshold = rate_threshold;
        self
    }

    /// Sets the open duration.
    pub fn open_duration(mut self, d: Duration) -> Self {
        self.open_duration = d;
        self
    }

    /// Grows the open duration by `multiplier` per consecutive opening, up to `max`.
    pub fn open_backoff(mut self, multiplier: f64, max: Duration) -> Self {
        self.open_backoff = Some(OpenBackoff { multiplier, max });
        self
    }

    /// Computes the open duration from the number of consecutive openings
    /// (1 for the first). Overrides `open_duration` and `open_backoff`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::circuit_breaker::CircuitBreakerConfig;
    /// let config = CircuitBreakerConfig::new()
    ///     .consecutive_failures(3)
    ///     .open_duration_fn(|n| Duration::from_secs(10 * u64::from(n)));
    /// assert!(config.validate().is_ok());
    /// ```
    pub fn open_duration_fn<F>(mut self, f: F) -> Self
    where
        F: Fn(u32) -> Duration + Send + Sync + 'static,
    {
        self.open_duration_fn = Some(OpenDurationFn(Arc::new(f)));
        self
    }

    /// Sets the number of half-open trial calls.
    pub fn half_open_permits(mut self, permits: u32) -> Self {
        self.half_open_permits = permits;
        self
    }

    /// Sets the successful trials needed to close.
    pub fn success_threshold(mut self, successes: u32) -> Self {
        self.success_threshold = Some(successes);
        self
    }

    /// Sets what reopens a half-open breaker.
    pub fn half_open_failure(mut self, rule: HalfOpenFailure) -> Self {
        self.half_open_failure = rule;
        self
    }

    /// Sets the half-open max wait.
    pub fn half_open_max_wait(mut self, d: Duration) -> Self {
        self.half_open_max_wait = d;
        self
    }

    /// Measures every call's duration.
    pub fn record_latency(mut self, on: bool) -> Self {
        self.record_latency = on;
        self
    }

    /// Checks every rule without building a breaker.
    pub fn validate(&self) -> Result<(), ConfigError> {
        Resolved::from_config(self).map(|_| ())
    }
}

/// A validated config with defaults resolved, as the breaker uses it.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub(crate) name: Arc<str>,
    pub(crate) window: WindowConfig,
    pub(crate) minimum_calls: u64,
    pub(crate) failure_rate_threshold: Option<f64>,
    pub(crate) failure_count_threshold: Option<u64>,
    pub(crate) consecutive_failures: Option<u32>,
    pub(crate) failures_reset_on_success: bool,
    pub(crate) slow_call_nanos: Option<u64>,
    pub(crate) slow_call_rate_threshold: f64,
    pub(crate) open_duration: Duration,
    pub(crate) open_backoff: Option<OpenBackoff>,
    pub(crate) open_duration_fn: Option<OpenDurationFn>,
    pub(crate) half_open_permits: u32,
    pub(crate) success_threshold: u32,
    pub(crate) half_open_failure: HalfOpenFailure,
    pub(crate) half_open_max_wait: Duration,
    pub(crate) timed: bool,
}

/// The window: a count within `MAX_COUNT_WINDOW`, or a whole number of
/// seconds within `MAX_TIME_WINDOW`. Returns a count window's size.
fn check_window(window: WindowConfig) -> Result<Option<u64>, ConfigError> {
    match window {
        WindowConfig::Count(n) => {
            check_nonzero("window.count", u64::from(n))?;
            if n > MAX_COUNT_WINDOW {
                return Err(ConfigError::invalid(
                    "window.count",
                    format!("must be at most {MAX_COUNT_WINDOW}, got {n}"),
                ));
            }
            Ok(Some(u64::from(n)))
        }
        WindowConfig::Time(d) => {
            if d < Duration::from_secs(1) || d.subsec_nanos() != 0 {
                return Err(ConfigError::invalid(
                    "window.time",
                    format!(
                        "must be a whole number of seconds, at least 1s, got {}",
                        crate::config::fmt_duration(d)
                    ),
                ));
            }
            if d > MAX_TIME_WINDOW {
                return Err(ConfigError::invalid(
                    "window.time",
                    format!(
                        "must be at most 24h, got {}",
                        crate::config::fmt_duration(d)
                    ),
                ));
            }
            Ok(None)
        }
    }
}

/// What opens the breaker: rates in `[0, 1]`, counts that can be reached.
fn check_triggers(c: &CircuitBreakerConfig, window_size: Option<u64>) -> Result<(), ConfigError> {
    check_nonzero("minimum_calls", u64::from(c.minimum_calls))?;
    if let Some(r) = c.failure_rate_threshold {
        check_fraction("failure_rate_threshold", r)?;
    }
    if let Some(n) = c.failure_count_threshold {
        check_nonzero("failure_count_threshold", u64::from(n))?;
        if let Some(size) = window_size {
            if u64::from(n) > size {
                return Err(ConfigError::invalid(
                    "failure_count_threshold",
                    format!(
                        "{n} failures can never fit in a window of {size} calls; \
                         use a larger window or a smaller threshold"
                    ),
                ));
            }
        }
    }
    if let Some(n) = c.consecutive_failures {
        check_nonzero("consecutive_failures", u64::from(n))?;
    }
    if let Some(d) = c.slow_call_duration {
        check_nonzero_duration("slow_call_duration", d)?;
    }
    if let Some(d) = c.call_timeout {
        check_nonzero_duration("call_timeout", d)?;
    }
    check_fraction("slow_call_rate_threshold", c.slow_call_rate_threshold)
}

/// How long it stays open, and how that grows.
fn check_open(c: &CircuitBreakerConfig) -> Result<(), ConfigError> {
    if c.open_duration_fn.is_none() {
        check_nonzero_duration("open_duration", c.open_duration)?;
    }
    if let Some(b) = c.open_backoff {
        if !(b.multiplier.is_finite() && b.multiplier >= 1.0) {
            return Err(ConfigError::invalid(
                "open_backoff.multiplier",
                format!("must be a finite number >= 1, got {}", b.multiplier),
            ));
        }
        if b.max < c.open_duration {
            return Err(ConfigError::invalid(
                "open_backoff.max",
                format!(
                    "must be at least open_duration ({}), got {}",
                    crate::config::fmt_duration(c.open_duration),
                    crate::config::fmt_duration(b.max)
                ),
            ));
        }
    }
    Ok(())
}

/// The half-open trials, within `MAX_HALF_OPEN_PERMITS` (which keeps the
/// half-open counters within their 16 bits). Returns the success threshold.
fn check_half_open(c: &CircuitBreakerConfig) -> Result<u32, ConfigError> {
    check_nonzero("half_open_permits", u64::from(c.half_open_permits))?;
    if c.half_open_permits > MAX_HALF_OPEN_PERMITS {
        return Err(ConfigError::invalid(
            "half_open_permits",
            format!(
                "must be at most {MAX_HALF_OPEN_PERMITS}, got {}",
                c.half_open_permits
            ),
        ));
    }
    let success_threshold = c.success_threshold.unwrap_or(c.half_open_permits);
    check_nonzero("success_threshold", u64::from(success_threshold))?;
    if success_threshold > MAX_HALF_OPEN_PERMITS {
        return Err(ConfigError::invalid(
            "success_threshold",
            format!("must be at most {MAX_HALF_OPEN_PERMITS}, got {success_threshold}"),
        ));
    }
    check_nonzero_duration("half_open_max_wait", c.half_open_max_wait)?;
    Ok(success_threshold)
}

impl Resolved {
    pub(crate) fn from_config(c: &CircuitBreakerConfig) -> Result<Self, ConfigError> {
        let window_size = check_window(c.window)?;
        check_triggers(c, window_size)?;
        check_open(c)?;
        let success_threshold = check_half_open(c)?;
        let failure_rate_threshold = match c.failure_rate_threshold {
            Some(r) => Some(r),
            None if c.failure_count_threshold.is_none() && c.consecutive_failures.is_none() => {
                Some(0.5)
            }
            None => None,
        };
        let minimum_calls = match window_size {
            Some(size) => u64::from(c.minimum_calls).min(size),
            None => u64::from(c.minimum_calls),
        };
        let name: Arc<str> = Arc::from(c.name.as_deref().unwrap_or("default"));
        Ok(Resolved {
            name,
            window: c.window,
            minimum_calls,
            failure_rate_threshold,
            failure_count_threshold: c.failure_count_threshold.map(u64::from),
            consecutive_failures: c.consecutive_failures,
            failures_reset_on_success: c.failures_reset_on_success,
            slow_call_nanos: c.slow_call_duration.map(crate::clock::duration_nanos),
            slow_call_rate_threshold: c.slow_call_rate_threshold,
            open_duration: c.open_duration,
            open_backoff: c.open_backoff,
            open_duration_fn: c.open_duration_fn.clone(),
            half_open_permits: c.half_open_permits,
            success_threshold,
            half_open_failure: c.half_open_failure,
            half_open_max_wait: c.half_open_max_wait,
            timed: c.slow_call_duration.is_some() || c.record_latency,
        })
    }

    /// The open duration for the n-th consecutive opening (n ≥ 1).
    pub(crate) fn open_duration_for(&self, n: u32) -> Duration {
        if let Some(f) = &self.open_duration_fn {
            return (f.0)(n.max(1));
        }
        match self.open_backoff {
            None => self.open_duration,
            Some(b) => {
                let exp = i32::try_from(n.saturating_sub(1)).unwrap_or(i32::MAX);
                let factor = b.multiplier.powi(exp);
                let secs = self.open_duration.as_secs_f64() * factor;
                if !secs.is_finite() || secs >= b.max.as_secs_f64() {
                    b.max
                } else {
                    Duration::from_secs_f64(secs).min(b.max)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> ConfigError {
        let c: CircuitBreakerConfig = serde_json::from_str(json).unwrap();
        c.validate().unwrap_err()
    }

    #[test]
    fn defaults_are_valid_and_resolved() {
        let r = Resolved::from_config(&CircuitBreakerConfig::default()).unwrap();
        assert_eq!(r.failure_rate_threshold, Some(0.5));
        assert_eq!(r.success_threshold, 3);
        assert_eq!(r.minimum_calls, 100);
        assert!(!r.timed);
        assert_eq!(&*r.name, "default");
    }

    #[test]
    fn consecutive_only_has_no_rate_trigger() {
        let r =
            Resolved::from_config(&CircuitBreakerConfig::new().consecutive_failures(5)).unwrap();
        assert_eq!(r.failure_rate_threshold, None);
    }

    #[test]
    fn bad_values_name_their_field() {
        assert_eq!(
            err(r#"{"failure_rate_threshold": 1.5}"#).field(),
            Some("failure_rate_threshold")
        );
        assert_eq!(
            err(r#"{"window": {"count": 0}}"#).field(),
            Some("window.count")
        );
        assert_eq!(
            err(r#"{"window": {"time": "0s"}}"#).field(),
            Some("window.time")
        );
        assert_eq!(
            err(r#"{"window": {"time": "1500ms"}}"#).field(),
            Some("window.time")
        );
        assert_eq!(
            err(r#"{"half_open_permits": 0}"#).field(),
            Some("half_open_permits")
        );
        assert_eq!(
            err(r#"{"success_threshold": 0}"#).field(),
            Some("success_threshold")
        );
        assert_eq!(
            err(r#"{"half_open_permits": 20000}"#).field(),
            Some("half_open_permits")
        );
        assert_eq!(
            err(r#"{"open_duration": "0s"}"#).field(),
            Some("open_duration")
        );
        assert_eq!(
            err(r#"{"minimum_calls": 0}"#).field(),
            Some("minimum_calls")
        );
        assert_eq!(
            err(r#"{"window": {"count": 5}, "failure_count_threshold": 6}"#).field(),
            Some("failure_count_threshold")
        );
        assert_eq!(
            err(r#"{"open_backoff": {"multiplier": 0.5, "max": "1m"}}"#).field(),
            Some("open_backoff.multiplier")
        );
        assert_eq!(
            err(r#"{"open_backoff": {"multiplier": 2, "max": "1s"}}"#).field(),
            Some("open_backoff.max")
        );
        assert_eq!(
            err(r#"{"slow_call_rate_threshold": 0}"#).field(),
            Some("slow_call_rate_threshold")
        );
        assert_eq!(
            err(r#"{"window": {"count": 2000000}}"#).field(),
            Some("window.count")
        );
    }

    #[test]
    fn unknown_fields_and_bad_durations_fail_to_parse() {
        assert!(
            serde_json::from_str::<CircuitBreakerConfig>(r#"{"open_duraton": "30s"}"#).is_err()
        );
        assert!(
            serde_json::from_str::<CircuitBreakerConfig>(r#"{"open_duration": "soon"}"#).is_err()
        );
        assert!(
            serde_json::from_str::<CircuitBreakerConfig>(r#"{"window": {"size": 3}}"#).is_err()
        );
        let both = serde_json::from_str::<CircuitBreakerConfig>(
            r#"{"window": {"count": 3, "time": "1s"}}"#,
        )
        .unwrap_err();
        assert!(both.to_string().contains("exactly one"), "{both}");
    }

    #[test]
    fn open_backoff_grows_and_caps() {
        let r = Resolved::from_config(
            &CircuitBreakerConfig::new()
                .open_duration(Duration::from_secs(10))
                .open_backoff(2.0, Duration::from_secs(60)),
        )
        .unwrap();
        let got: Vec<u64> = (1..=5).map(|n| r.open_duration_for(n).as_secs()).collect();
        assert_eq!(got, vec![10, 20, 40, 60, 60]);
        assert_eq!(r.open_duration_for(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn config_round_trips_through_yaml() {
        let c = CircuitBreakerConfig::new()
            .time_window(Duration::from_secs(60))
            .failure_rate_threshold(0.5)
            .slow_calls(Duration::from_secs(2), 0.8);
        let text = serde_norway::to_string(&c).unwrap();
        let back: CircuitBreakerConfig = crate::config::from_yaml_str(&text).unwrap();
        assert_eq!(back.window, c.window);
        assert_eq!(back.slow_call_duration, Some(Duration::from_secs(2)));
        back.validate().unwrap();
    }
}
