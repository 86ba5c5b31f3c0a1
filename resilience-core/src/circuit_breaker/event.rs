//! Circuit breaker events and metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Histogram};

use super::state::CircuitState;

/// Something that happened to a circuit breaker.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use resilience_core::circuit_breaker::{
///     CircuitBreaker, CircuitBreakerConfig, CircuitBreakerEventKind, CircuitState,
/// };
/// use resilience_core::clock::ManualClock;
///
/// let breaker = CircuitBreaker::with_clock(
///     CircuitBreakerConfig::new().name("payments").consecutive_failures(2),
///     ManualClock::new(),
/// ).unwrap();
/// let transitions = Arc::new(Mutex::new(Vec::new()));
/// let sink = transitions.clone();
/// breaker.on_event(move |e| {
///     if let CircuitBreakerEventKind::StateTransition { from, to, .. } = e.kind {
///         sink.lock().unwrap().push((e.name.to_string(), from, to));
///     }
/// });
/// breaker.try_acquire().unwrap().record_failure();
/// breaker.try_acquire().unwrap().record_failure();
/// assert_eq!(
///     *transitions.lock().unwrap(),
///     vec![("payments".to_string(), CircuitState::Closed, CircuitState::Open)]
/// );
/// ```
#[derive(Debug, Clone)]
pub struct CircuitBreakerEvent {
    /// The breaker's name.
    pub name: Arc<str>,
    /// When it happened, on the breaker's clock.
    pub at: Instant,
    /// What happened.
    pub kind: CircuitBreakerEventKind,
}

/// The kinds of [`CircuitBreakerEvent`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CircuitBreakerEventKind {
    /// The state changed.
    StateTransition {
        /// The previous state.
        from: CircuitState,
        /// The new state.
        to: CircuitState,
        /// Why.
        reason: TransitionReason,
    },
    /// A permitted call succeeded.
    Success {
        /// Its duration, when the breaker measures durations.
        elapsed: Option<Duration>,
        /// Whether it was slower than `slow_call_duration`.
        slow: bool,
    },
    /// A permitted call failed.
    Failure {
        /// Its duration, when the breaker measures durations.
        elapsed: Option<Duration>,
        /// Whether it was slower than `slow_call_duration`.
        slow: bool,
    },
    /// A permitted call's outcome was classified as not the dependency's
    /// fault (e.g. a 4xx) and not counted.
    Ignored,
    /// A call was rejected.
    NotPermitted {
        /// The state that rejected it.
        state: CircuitState,
        /// Time left until trial calls are admitted.
        retry_after: Duration,
    },
    /// In `MetricsOnly`, a trigger fired that would have opened the breaker.
    /// Fired once per entry into the condition, as Resilience4j does: not
    /// again while the thresholds stay exceeded, and again after an
    /// evaluation found them all below.
    ThresholdExceeded {
        /// The trigger.
        reason: TransitionReason,
    },
}

/// Why a breaker changed state.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum TransitionReason {
    /// The failure rate reached its threshold.
    FailureRate {
        /// failures / calls in the window.
        rate: f64,
        /// The configured threshold.
        threshold: f64,
        /// Calls in the window.
        calls: u64,
    },
    /// The slow-call rate reached its threshold.
    SlowCallRate {
        /// slow calls / calls in the window.
        rate: f64,
        /// The configured threshold.
        threshold: f64,
        /// Calls in the window.
        calls: u64,
    },
    /// The window holds `failure_count_threshold` failures.
    FailureCount {
        /// Failures in the window.
        failures: u64,
    },
    /// `consecutive_failures` failures in a row.
    ConsecutiveFailures {
        /// The length of the run.
        failures: u32,
    },
    /// The open duration elapsed; trial calls are admitted.
    OpenDurationElapsed,
    /// Enough trial calls succeeded.
    TrialsSucceeded {
        /// Successful trials.
        successes: u32,
    },
    /// A trial call failed (or, with slow-call detection, was slow).
    TrialFailed,
    /// The trial calls' failure rate reached the threshold
    /// ([`HalfOpenFailure::Rate`](super::HalfOpenFailure::Rate)).
    TrialFailureRate {
        /// failures / trials.
        rate: f64,
    },
    /// The trials' failure rate stayed under the threshold
    /// ([`HalfOpenFailure::Rate`](super::HalfOpenFailure::Rate)).
    TrialFailureRateBelowThreshold {
        /// failures / trials.
        rate: f64,
    },
    /// No trial outcome arrived within `half_open_max_wait`: reopened and
    /// re-armed.
    HalfOpenTimeout,
    /// An operator call (`force_open`, `disable`, `metrics_only`, `reset`).
    Manual,
}

/// Metric handles, registered once per breaker so the hot path never looks a
/// metric up or allocates a label.
#[derive(Debug)]
pub(crate) struct Metrics {
    pub(crate) success: Counter,
    pub(crate) failure: Counter,
    pub(crate) ignored: Counter,
    pub(crate) slow_success: Counter,
    pub(crate) slow_failure: Counter,
    pub(crate) not_permitted: Counter,
    pub(crate) state: Gauge,
    pub(crate) failure_rate: Gauge,
    pub(crate) slow_call_rate: Gauge,
    pub(crate) duration: Histogram,
}

/// Metric names, stable across releases.
pub mod names {
    /// Gauge, label `name`: the state as a number (0 closed, 1 open,
    /// 2 half_open, 3 disabled, 4 forced_open, 5 metrics_only).
    pub const STATE: &str = "resilience_circuit_breaker_state";
    /// Counter, labels `name`, `outcome` (`success`, `failure`, `ignored`):
    /// permitted calls by outcome.
    pub const CALLS: &str = "resilience_circuit_breaker_calls_total";
    /// Counter, labels `name`, `outcome` (`success`, `failure`): calls slower
    /// than `slow_call_duration`.
    pub const SLOW_CALLS: &str = "resilience_circuit_breaker_slow_calls_total";
    /// Counter, label `name`: calls rejected (open, forced open, or half-open
    /// with every trial permit taken).
    pub const NOT_PERMITTED: &str = "resilience_circuit_breaker_not_permitted_total";
    /// Gauge, label `name`: failure rate (0..1) at the last evaluation.
    pub const FAILURE_RATE: &str = "resilience_circuit_breaker_failure_rate";
    /// Gauge, label `name`: slow-call rate (0..1) at the last evaluation.
    pub const SLOW_CALL_RATE: &str = "resilience_circuit_breaker_slow_call_rate";
    /// Counter, labels `name`, `from`, `to`: state transitions.
    pub const TRANSITIONS: &str = "resilience_circuit_breaker_transitions_total";
    /// Histogram, label `name`: call duration in seconds (only when the
    /// breaker measures durations: slow-call detection or `record_latency`).
    pub const CALL_DURATION: &str = "resilience_circuit_breaker_call_duration_seconds";
}

impl Metrics {
    pub(crate) fn new(name: &str) -> Self {
        let n = name.to_string();
        Metrics {
            success: metrics::counter!(names::CALLS, "name" => n.clone(), "outcome" => "success"),
            failure: metrics::counter!(names::CALLS, "name" => n.clone(), "outcome" => "failure"),
            ignored: metrics::counter!(names::CALLS, "name" => n.clone(), "outcome" => "ignored"),
            slow_success: metrics::counter!(names::SLOW_CALLS, "name" => n.clone(), "outcome" => "success"),
            slow_failure: metrics::counter!(names::SLOW_CALLS, "name" => n.clone(), "outcome" => "failure"),
            not_permitted: metrics::counter!(names::NOT_PERMITTED, "name" => n.clone()),
            state: metrics::gauge!(names::STATE, "name" => n.clone()),
            failure_rate: metrics::gauge!(names::FAILURE_RATE, "name" => n.clone()),
            slow_call_rate: metrics::gauge!(names::SLOW_CALL_RATE, "name" => n.clone()),
            duration: metrics::histogram!(names::CALL_DURATION, "name" => n),
        }
    }

    /// Handles that record nothing.
    pub(crate) fn noop() -> Self {
        Metrics {
            success: Counter::noop(),
            failure: Counter::noop(),
            ignored: Counter::noop(),
            slow_success: Counter::noop(),
            slow_failure: Counter::noop(),
            not_permitted: Counter::noop(),
            state: Gauge::noop(),
            failure_rate: Gauge::noop(),
            slow_call_rate: Gauge::noop(),
            duration: Histogram::noop(),
        }
    }

    pub(crate) fn transition(name: &str, from: CircuitState, to: CircuitState) {
        metrics::counter!(
            names::TRANSITIONS,
            "name" => name.to_string(),
            "from" => from.as_str(),
            "to" => to.as_str()
        )
        .increment(1);
    }
}
