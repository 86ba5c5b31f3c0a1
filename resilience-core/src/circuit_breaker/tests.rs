use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::clock::ManualClock;
use crate::presets;

fn breaker(config: CircuitBreakerConfig) -> (ManualClock, CircuitBreaker) {
    let clock = ManualClock::new();
    let b = CircuitBreaker::with_clock(config, clock.clone()).unwrap();
    (clock, b)
}

fn transitions(
    b: &CircuitBreaker,
) -> Arc<Mutex<Vec<(CircuitState, CircuitState, TransitionReason)>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    b.on_event(move |e| {
        if let CircuitBreakerEventKind::StateTransition { from, to, reason } = e.kind {
            sink.lock().unwrap().push((from, to, reason));
        }
    });
    log
}

#[test]
fn closed_permits_and_records() {
    let (_, b) = breaker(
        CircuitBreakerConfig::new()
            .count_window(10)
            .minimum_calls(10),
    );
    for _ in 0..9 {
        b.try_acquire().unwrap().record_failure();
    }
    // 9 calls < minimum_calls: no rate yet.
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().failure_rate, None);
    b.try_acquire().unwrap().record_failure();
    assert_eq!(b.state(), CircuitState::Open);
}

#[test]
fn dropped_permit_records_nothing() {
    let (_, b) = breaker(CircuitBreakerConfig::default());
    drop(b.try_acquire().unwrap());
    assert_eq!(b.metrics().window.calls, 0);
}

#[test]
fn outcome_after_state_change_is_not_a_trial() {
    let (clock, b) = breaker(
        CircuitBreakerConfig::new()
            .consecutive_failures(1)
            .half_open_permits(1),
    );
    let slow_call = b.try_acquire().unwrap(); // issued while closed
    b.try_acquire().unwrap().record_failure(); // opens
    clock.advance(Duration::from_secs(30));
    assert_eq!(b.state(), CircuitState::HalfOpen);
    // The old call finishes now: it must not count as the trial.
    slow_call.record_success();
    assert_eq!(b.state(), CircuitState::HalfOpen);
    let trial = b.try_acquire().unwrap();
    trial.record_success();
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn open_rejects_with_time_left() {
    let (clock, b) = breaker(
        CircuitBreakerConfig::new()
            .consecutive_failures(2)
            .open_duration(Duration::from_secs(30)),
    );
    b.try_acquire().unwrap().record_failure();
    b.try_acquire().unwrap().record_failure();
    let e = b.try_acquire().unwrap_err();
    assert_eq!(e.retry_after(), Duration::from_secs(30));
    assert_eq!(e.state(), CircuitState::Open);
    clock.advance(Duration::from_millis(29_999));
    assert_eq!(
        b.try_acquire().unwrap_err().retry_after(),
        Duration::from_millis(1)
    );
    assert_eq!(b.metrics().retry_after, Some(Duration::from_millis(1)));
    clock.advance(Duration::from_millis(1));
    assert!(b.try_acquire().is_ok());
}

#[test]
fn half_open_failure_reopens() {
    let (clock, b) = breaker(CircuitBreakerConfig::new().consecutive_failures(1));
    let log = transitions(&b);
    b.try_acquire().unwrap().record_failure();
    clock.advance(Duration::from_secs(30));
    b.try_acquire().unwrap().record_success();
    b.try_acquire().unwrap().record_failure();
    assert_eq!(b.state(), CircuitState::Open);
    let log = log.lock().unwrap();
    let path: Vec<_> = log.iter().map(|(f, t, _)| (*f, *t)).collect();
    assert_eq!(
        path,
        vec![
            (CircuitState::Closed, CircuitState::Open),
            (CircuitState::Open, CircuitState::HalfOpen),
            (CircuitState::HalfOpen, CircuitState::Open),
        ]
    );
    assert_eq!(log[2].2, TransitionReason::TrialFailed);
}

#[test]
fn half_open_permits_limit_trials_in_flight() {
    let (clock, b) = breaker(
        CircuitBreakerConfig::new()
            .consecutive_failures(1)
            .half_open_permits(2)
            .success_threshold(3),
    );
    b.try_acquire().unwrap().record_failure();
    clock.advance(Duration::from_secs(30));
    let t1 = b.try_acquire().unwrap();
    let t2 = b.try_acquire().unwrap();
    let rejected = b.try_acquire().unwrap_err();
    assert_eq!(rejected.state(), CircuitState::HalfOpen);
    // No trial has finished yet and no slow-call duration is set: the
    // expected time to the trial's outcome is one second, not the 60 s
    // left before half_open_max_wait.
    assert_eq!(rejected.retry_after(), Duration::from_secs(1));
    t1.record_success(); // frees a slot
    let t3 = b.try_acquire().unwrap();
    t2.record_success();
    assert_eq!(b.state(), CircuitState::HalfOpen);
    t3.record_success();
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn maestro_preset_one_probe_three_successes() {
    // The registry chapter's Maestro breaker: 1 trial at a time, 3 to close.
    let (clock, b) = breaker(presets::model_registry::maestro_breaker());
    for _ in 0..5 {
        b.try_acquire().unwrap().record_failure();
    }
    clock.advance(Duration::from_secs(60));
    for i in 0..3 {
        let p = b.try_acquire().unwrap();
        assert!(
            b.try_acquire().is_err(),
            "only one probe at a time (round {i})"
        );
        p.record_success();
    }
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn cancelled_trial_frees_its_slot() {
    let (clock, b) = breaker(
        CircuitBreakerConfig::new()
            .consecutive_failures(1)
            .half_open_permits(1),
    );
    b.try_acquire().unwrap().record_failure();
    clock.advance(Duration::from_secs(30));
    let p = b.try_acquire().unwrap();
    assert!(b.try_acquire().is_err());
    drop(p);
    let p = b.try_acquire().unwrap();
    p.record_ignored(); // ignored frees the slot too
    b.try_acquire().unwrap().record_success();
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn half_open_never_sticks() {
    let (clock, b) = breaker(
        CircuitBreakerConfig::new()
            .consecutive_failures(1)
            .half_open_permits(1)
            .half_open_max_wait(Duration::from_secs(10)),
    );
    let log = transitions(&b);
    b.try_acquire().unwrap().record_failure();
    clock.advance(Duration::from_secs(30));
    // A trial starts and hangs forever (its permit is leaked in a stuck task).
    let stuck = b.try_acquire().unwrap();
    clock.advance(Duration::from_secs(10));
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(
        log.lock().unwrap().last().unwrap().2,
        TransitionReason::HalfOpenTimeout
    );
    clock.advance(Duration::from_secs(30));
    let fresh = b.try_acquire().unwrap();
    fresh.record_success();
    assert_eq!(b.state(), CircuitState::Closed);
    stuck.record_failure(); // too late to matter
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn half_open_rate_mode_judges_all_trials() {
    let (clock, b) = breaker(
        CircuitBreakerConfig::new()
            .consecutive_failures(1)
            .failure_rate_threshold(0.5)
            .half_open_permits(4)
            .half_open_failure(HalfOpenFailure::Rate),
    );
    b.try_acquire().unwrap().record_failure();
    clock.advance(Duration::from_secs(30));
    let trials: Vec<_> = (0..4).map(|_| b.try_acquire().unwrap()).collect();
    assert!(b.try_acquire().is_err());
    let mut it = trials.into_iter();
    it.next().unwrap().record_failure(); // 1 failure: not decided yet
    assert_eq!(b.state(), CircuitState::HalfOpen);
    for p in it {
        p.record_success();
    }
    // 1/4 = 25% < 50%: closes.
    assert_eq!(b.state(), CircuitState::Closed);

    // Open again; this time 2/4 fail: reopens.
    b.try_acquire().unwrap().record_failure();
    clock.advance(Duration::from_secs(30));
    for ok in [true, false, true, false] {
        b.try_acquire().unwrap().record(if ok {
            Outcome::Success
        } else {
            Outcome::Failure
        });
    }
    assert_eq!(b.state(), CircuitState::Open);
}

#[test]
fn consecutive_failures_reset_on_success() {
    let (_, b) = breaker(CircuitBreakerConfig::new().consecutive_failures(3));
    for _ in 0..2 {
        b.try_acquire().unwrap().record_failure();
    }
    b.try_acquire().unwrap().record_success();
    for _ in 0..2 {
        b.try_acquire().unwrap().record_failure();
    }
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().consecutive_failures, 2);
    b.try_acquire().unwrap().record_failure();
    assert_eq!(b.state(), CircuitState::Open);
}

#[test]
fn ignored_outcomes_do_not_count() {
    let (_, b) = breaker(CircuitBreakerConfig::new().consecutive_failures(2));
    b.try_acquire().unwrap().record_failure();
    b.try_acquire().unwrap().record_ignored();
    assert_eq!(b.metrics().consecutive_failures, 1);
    b.try_acquire().unwrap().record_failure();
    assert_eq!(b.state(), CircuitState::Open);
}

#[test]
fn truly_sliding_count_window() {
    let (_, b) = breaker(
        CircuitBreakerConfig::new()
            .count_window(10)
            .minimum_calls(10)
            .failure_rate_threshold(0.5),
    );
    for _ in 0..100 {
        b.try_acquire().unwrap().record_success();
    }
    for i in 1..=5 {
        b.try_acquire().unwrap().record_failure();
        let expect = if i < 5 {
            CircuitState::Closed
        } else {
            CircuitState::Open
        };
        assert_eq!(b.state(), expect, "after {i} failures");
    }
}

#[test]
fn time_window_forgets_old_failures() {
    let (clock, b) = breaker(
        CircuitBreakerConfig::new()
            .time_window(Duration::from_secs(30))
            .failure_count_threshold(5),
    );
    for _ in 0..4 {
        b.try_acquire().unwrap().record_failure();
    }
    clock.advance(Duration::from_secs(30));
    b.try_acquire().unwrap().record_failure();
    assert_eq!(b.state(), CircuitState::Closed, "the first 4 expired");
    for _ in 0..4 {
        clock.advance(Duration::from_secs(5));
        b.try_acquire().unwrap().record_failure();
    }
    assert_eq!(b.state(), CircuitState::Open, "5 failures within 30 s");
}

#[test]
fn slow_calls_trip_on_rate() {
    let (clock, b) = breaker(
        CircuitBreakerConfig::new()
            .count_window(4)
            .minimum_calls(4)
            .slow_calls(Duration::from_secs(2), 0.5),
    );
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    b.on_event(move |e| {
        if let CircuitBreakerEventKind::Success { slow, elapsed } = e.kind {
            sink.lock().unwrap().push((slow, elapsed));
        }
    });
    for _ in 0..2 {
        b.try_acquire().unwrap().record_success();
    }
    for _ in 0..2 {
        let p = b.try_acquire().unwrap();
        clock.advance(Duration::from_secs(3)); // slower than 2 s
        assert_eq!(p.elapsed(), Some(Duration::from_secs(3)));
        p.record_success();
    }
    assert_eq!(b.state(), CircuitState::Open);
    let m = b.metrics();
    assert_eq!((m.window.calls, m.window.slow_calls), (4, 2));
    let events = events.lock().unwrap();
    assert_eq!(events.len(), 4);
    assert_eq!(events[3], (true, Some(Duration::from_secs(3))));
}

#[test]
fn slow_trial_counts_as_failed_trial() {
    let (clock, b) = breaker(
        CircuitBreakerConfig::new()
            .consecutive_failures(1)
            .slow_calls(Duration::from_secs(1), 1.0),
    );
    b.try_acquire().unwrap().record_failure();
    clock.advance(Duration::from_secs(30));
    let p = b.try_acquire().unwrap();
    clock.advance(Duration::from_secs(5));
    p.record_success();
    assert_eq!(b.state(), CircuitState::Open);
}

#[test]
fn open_duration_grows_with_consecutive_openings() {
    let (clock, b) = breaker(
        CircuitBreakerConfig::new()
            .consecutive_failures(1)
            .half_open_permits(1)
            .open_duration(Duration::from_secs(10))
            .open_backoff(2.0, Duration::from_secs(60)),
    );
    b.try_acquire().unwrap().record_failure();
    let mut seen = Vec::new();
    for _ in 0..4 {
        let wait = b.try_acquire().unwrap_err().retry_after();
        seen.push(wait.as_secs());
        clock.advance(wait);
        b.try_acquire().unwrap().record_failure(); // trial fails
    }
    assert_eq!(seen, vec![10, 20, 40, 60]);
    assert_eq!(b.metrics().consecutive_openings, 5);
    // Recovery resets the growth.
    clock.advance(Duration::from_secs(60));
    b.try_acquire().unwrap().record_success();
    assert_eq!(b.state(), CircuitState::Closed);
    b.try_acquire().unwrap().record_failure();
    assert_eq!(b.try_acquire().unwrap_err().retry_after().as_secs(), 10);
}

#[test]
fn open_duration_fn_is_used() {
    let (_, b) = breaker(
        CircuitBreakerConfig::new()
            .consecutive_failures(1)
            .open_duration_fn(|n| Duration::from_millis(100 * u64::from(n))),
    );
    b.try_acquire().unwrap().record_failure();
    assert_eq!(
        b.try_acquire().unwrap_err().retry_after(),
        Duration::from_millis(100)
    );
}

#[test]
fn manual_states() {
    let (_, b) = breaker(CircuitBreakerConfig::new().consecutive_failures(1));
    let log = transitions(&b);

    b.force_open();
    let e = b.try_acquire().unwrap_err();
    assert_eq!(e.state(), CircuitState::ForcedOpen);
    assert_eq!(b.state(), CircuitState::ForcedOpen);

    b.disable();
    for _ in 0..10 {
        b.try_acquire().unwrap().record_failure();
    }
    assert_eq!(b.state(), CircuitState::Disabled);
    assert_eq!(b.metrics().window.failures, 10, "disabled still records");

    b.metrics_only();
    let exceeded = Arc::new(Mutex::new(0));
    let sink = exceeded.clone();
    b.on_event(move |e| {
        if matches!(e.kind, CircuitBreakerEventKind::ThresholdExceeded { .. }) {
            *sink.lock().unwrap() += 1;
        }
    });
    b.try_acquire().unwrap().record_failure();
    assert_eq!(b.state(), CircuitState::MetricsOnly);
    assert_eq!(*exceeded.lock().unwrap(), 1);

    b.reset();
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().window.calls, 0);
    let path: Vec<_> = log
        .lock()
        .unwrap()
        .iter()
        .map(|(f, t, r)| (*f, *t, *r))
        .collect();
    assert_eq!(
        path,
        vec![
            (
                CircuitState::Closed,
                CircuitState::ForcedOpen,
                TransitionReason::Manual
            ),
            (
                CircuitState::ForcedOpen,
                CircuitState::Disabled,
                TransitionReason::Manual
            ),
            (
                CircuitState::Disabled,
                CircuitState::MetricsOnly,
                TransitionReason::Manual
            ),
            (
                CircuitState::MetricsOnly,
                CircuitState::Closed,
                TransitionReason::Manual
            ),
        ]
    );
}

#[test]
fn not_permitted_events_and_call_helper() {
    let (_, b) = breaker(CircuitBreakerConfig::new().consecutive_failures(1));
    let rejected = Arc::new(Mutex::new(0));
    let sink = rejected.clone();
    b.on_event(move |e| {
        if matches!(e.kind, CircuitBreakerEventKind::NotPermitted { .. }) {
            *sink.lock().unwrap() += 1;
        }
    });
    assert!(matches!(
        b.call(|| Err::<(), _>("x")),
        Err(CallError::Inner("x"))
    ));
    assert!(matches!(b.call(|| Ok::<_, ()>(1)), Err(CallError::Open(_))));
    assert_eq!(*rejected.lock().unwrap(), 1);
}

#[test]
fn listener_may_call_back_into_the_breaker() {
    let (_, b) = breaker(CircuitBreakerConfig::new().consecutive_failures(1));
    let handle = b.clone();
    b.on_event(move |e| {
        if let CircuitBreakerEventKind::StateTransition {
            to: CircuitState::Open,
            ..
        } = e.kind
        {
            // An operator hook that pins the breaker open: must not deadlock.
            handle.force_open();
        }
    });
    b.try_acquire().unwrap().record_failure();
    assert_eq!(b.state(), CircuitState::ForcedOpen);
}

#[test]
fn owned_permit_and_debug() {
    let (_, b) = breaker(CircuitBreakerConfig::new().name("x"));
    let p = b.try_acquire().unwrap().into_owned(&b);
    assert!(format!("{p:?}").contains("\"x\""));
    assert!(format!("{b:?}").contains("Closed"));
    p.record_failure();
    assert_eq!(b.metrics().window.failures, 1);
}

#[test]
fn breaker_is_send_sync_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<CircuitBreaker>();
    fn send<T: Send>() {}
    send::<OwnedPermit>();
    send::<Permit<'static>>();
}

#[test]
fn half_open_retry_after_is_the_expected_time_to_the_trial_outcome() {
    let (clock, b) = breaker(
        CircuitBreakerConfig::new()
            .consecutive_failures(1)
            .open_duration(Duration::from_secs(30))
            .half_open_permits(1),
    );
    b.try_acquire().unwrap().record_failure();
    clock.advance(Duration::from_secs(30));
    // First trial: takes 200 ms and fails; the breaker reopens for 30 s.
    let trial = b.try_acquire().unwrap();
    clock.advance(Duration::from_millis(150));
    // Nothing measured yet: the default expectation (1 s) less 150 ms run.
    assert_eq!(
        b.try_acquire().unwrap_err().retry_after(),
        Duration::from_millis(850)
    );
    clock.advance(Duration::from_millis(50));
    trial.record_failure();
    assert_eq!(b.state(), CircuitState::Open);
    // Open: the full open duration, as the client is told on a failed trial.
    assert_eq!(
        b.try_acquire().unwrap_err().retry_after(),
        Duration::from_secs(30)
    );
    clock.advance(Duration::from_secs(30));
    let trial = b.try_acquire().unwrap();
    clock.advance(Duration::from_millis(50));
    // Trials take 200 ms: the one in flight should report in 150 ms.
    let hint = b.try_acquire().unwrap_err().retry_after();
    assert_eq!(hint, Duration::from_millis(150));
    // Overdue (500 ms in): one more average, never the re-arm's 60 s.
    clock.advance(Duration::from_millis(450));
    assert_eq!(
        b.try_acquire().unwrap_err().retry_after(),
        Duration::from_millis(200)
    );
    trial.record_success();
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn half_open_retry_after_is_capped_by_the_open_duration_and_the_re_arm() {
    let (clock, b) = breaker(
        CircuitBreakerConfig::new()
            .consecutive_failures(1)
            .open_duration(Duration::from_millis(500))
            .half_open_max_wait(Duration::from_secs(2))
            .slow_calls(Duration::from_secs(10), 1.0)
            .half_open_permits(1),
    );
    b.try_acquire().unwrap().record_failure();
    clock.advance(Duration::from_millis(500));
    let _trial = b.try_acquire().unwrap();
    // The expectation (slow_call_duration, 10 s) is capped by open_duration.
    assert_eq!(
        b.try_acquire().unwrap_err().retry_after(),
        Duration::from_millis(500)
    );
    clock.advance(Duration::from_millis(1800));
    // 200 ms left before the re-arm reopens the breaker.
    assert_eq!(
        b.try_acquire().unwrap_err().retry_after(),
        Duration::from_millis(200)
    );
}

#[test]
fn a_half_open_breaker_without_traffic_stays_half_open() {
    let (clock, b) = breaker(
        CircuitBreakerConfig::new()
            .consecutive_failures(1)
            .open_duration(Duration::from_secs(30))
            .half_open_max_wait(Duration::from_secs(60)),
    );
    let log = transitions(&b);
    b.try_acquire().unwrap().record_failure();
    clock.advance(Duration::from_secs(30));
    assert_eq!(b.state(), CircuitState::HalfOpen);
    // Hours without a single call: no trial is in flight, so nothing
    // times out; the breaker does not cycle open and half-open by itself.
    for _ in 0..120 {
        clock.advance(Duration::from_secs(60));
        assert_eq!(b.state(), CircuitState::HalfOpen);
    }
    assert_eq!(
        log.lock().unwrap().len(),
        2,
        "closed -> open -> half_open only"
    );
    // The next call is the trial, and it closes the breaker.
    for _ in 0..3 {
        b.try_acquire().unwrap().record_success();
    }
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn a_trial_that_never_reports_reopens_after_half_open_max_wait() {
    let (clock, b) = breaker(
        CircuitBreakerConfig::new()
            .consecutive_failures(1)
            .open_duration(Duration::from_secs(30))
            .half_open_permits(1)
            .half_open_max_wait(Duration::from_secs(60)),
    );
    b.try_acquire().unwrap().record_failure();
    clock.advance(Duration::from_secs(30));
    clock.advance(Duration::from_secs(100)); // idle half-open: the wait has not started
    let hung = b.try_acquire().unwrap();
    clock.advance(Duration::from_secs(59));
    assert_eq!(b.state(), CircuitState::HalfOpen);
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        b.state(),
        CircuitState::Open,
        "60 s after the trial was issued"
    );
    drop(hung);
}

/// A breaker on a [`CoarseClock`](crate::clock::CoarseClock) reads the
/// clock's stored time directly (no trait call); moved in step with a
/// [`ManualClock`], it must behave exactly like a breaker on that clock:
/// same states, window, rates and time left after every step.
mod coarse_clock {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;
    use crate::clock::CoarseClock;

    #[derive(Debug, Clone)]
    enum Op {
        Advance(u64),
        Success,
        Failure,
        Slow(bool),
        Call(bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (1u64..3_000).prop_map(Op::Advance),
            1 => (1u64..20_000).prop_map(Op::Advance),
            6 => Just(Op::Success),
            3 => Just(Op::Failure),
            1 => any::<bool>().prop_map(Op::Slow),
            2 => any::<bool>().prop_map(Op::Call),
        ]
    }

    /// A 10-second window; `timed` adds a slow-call threshold, which
    /// times every call (an untimed success into a clean window takes the
    /// short path).
    fn config(timed: bool) -> CircuitBreakerConfig {
        let config = CircuitBreakerConfig::new()
            .time_window(Duration::from_secs(10))
            .minimum_calls(4)
            .failure_rate_threshold(0.5)
            .open_duration(Duration::from_secs(5));
        if timed {
            config.slow_calls(Duration::from_millis(500), 0.8)
        } else {
            config
        }
    }

    /// Applies `op` to `b`, whose clock `advance` moves; returns what the
    /// caller saw.
    fn apply(b: &CircuitBreaker, op: &Op, advance: &dyn Fn(u64)) -> String {
        match op {
            Op::Advance(ms) => {
                advance(*ms);
                String::new()
            }
            Op::Success | Op::Failure => match b.try_acquire() {
                Ok(p) if matches!(op, Op::Success) => {
                    p.record_success();
                    "ok".into()
                }
                Ok(p) => {
                    p.record_failure();
                    "failed".into()
                }
                Err(e) => format!("rejected {:?}", e.retry_after()),
            },
            Op::Slow(fail) => match b.try_acquire() {
                Ok(p) => {
                    advance(700);
                    if *fail {
                        p.record_failure();
                    } else {
                        p.record_success();
                    }
                    "slow".into()
                }
                Err(e) => format!("rejected {:?}", e.retry_after()),
            },
            Op::Call(ok) => format!("{:?}", b.call(|| if *ok { Ok(()) } else { Err(()) })),
        }
    }

    /// Successes into a window holding only successes take the short path
    /// (placed by the end of the current bucket, read off the coarse
    /// clock): each must leave the window exactly when it would on the
    /// manual clock, whichever side of a bucket boundary it fell on.
    #[test]
    fn clean_successes_leave_the_window_on_time() {
        for gap in [1u64, 250, 999, 1_000, 1_001, 1_700, 2_999] {
            let manual = ManualClock::new();
            let coarse = CoarseClock::stopped(Duration::from_millis(1));
            coarse.set_nanos(987_654_321);
            let on_manual = CircuitBreaker::with_clock(config(false), manual.clone()).unwrap();
            let on_coarse = CircuitBreaker::with_clock(config(false), coarse.clone()).unwrap();
            let advance = |ms: u64| {
                manual.advance(Duration::from_millis(ms));
                coarse.set_nanos(coarse.cell().nanos() + ms * 1_000_000);
            };
            for step in 0..60 {
                on_manual.call(|| Ok::<_, ()>(())).unwrap();
                on_coarse.call(|| Ok::<_, ()>(())).unwrap();
                advance(if step % 2 == 0 {
                    gap
                } else {
                    1_000 - gap % 1_000 + 3
                });
                assert_eq!(
                    on_manual.metrics().window,
                    on_coarse.metrics().window,
                    "gap {gap} ms, step {step}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn a_breaker_on_a_coarse_clock_matches_one_on_a_manual_clock(
            ops in proptest::collection::vec(op(), 1..200),
            timed in any::<bool>(),
        ) {
            let manual = ManualClock::new();
            let coarse = CoarseClock::stopped(Duration::from_millis(1));
            // A clock that has run a while before the breaker reads it.
            coarse.set_nanos(123_456_789_012);
            let on_manual = CircuitBreaker::with_clock(config(timed), manual.clone()).unwrap();
            let on_coarse = CircuitBreaker::with_clock(config(timed), coarse.clone()).unwrap();
            let advance_manual = |ms| manual.advance(Duration::from_millis(ms));
            let advance_coarse = |ms: u64| coarse.set_nanos(coarse.cell().nanos() + ms * 1_000_000);
            for (i, op) in ops.iter().enumerate() {
                let a = apply(&on_manual, op, &advance_manual);
                let b = apply(&on_coarse, op, &advance_coarse);
                prop_assert_eq!(&a, &b, "step {} {:?}", i, op);
                prop_assert_eq!(on_manual.metrics(), on_coarse.metrics(), "step {} {:?}", i, op);
            }
        }
    }
}
