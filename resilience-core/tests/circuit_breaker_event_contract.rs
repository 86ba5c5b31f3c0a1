//! Resilience4j's event contract: `ThresholdExceeded` in metrics-only mode
//! fires once per entry into the condition, and the slow-call boundary is
//! strict. Time only moves through `ManualClock`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilience_core::circuit_breaker::{
    CircuitBreaker, CircuitBreakerConfig, CircuitBreakerEventKind, CircuitState,
};
use resilience_core::clock::ManualClock;

fn count_threshold_events(b: &CircuitBreaker) -> Arc<Mutex<usize>> {
    let seen = Arc::new(Mutex::new(0));
    let sink = seen.clone();
    b.on_event(move |e| {
        if matches!(e.kind, CircuitBreakerEventKind::ThresholdExceeded { .. }) {
            *sink.lock().unwrap() += 1;
        }
    });
    seen
}

fn call(b: &CircuitBreaker, ok: bool) {
    let p = b.try_acquire().expect("metrics-only never rejects");
    if ok {
        p.record_success()
    } else {
        p.record_failure()
    }
}

#[test]
fn threshold_exceeded_fires_once_per_entry_into_the_condition() {
    let clock = ManualClock::new();
    let cfg = CircuitBreakerConfig::default()
        .count_window(5)
        .minimum_calls(5)
        .failure_rate_threshold(0.5);
    let b = CircuitBreaker::with_clock(cfg, clock).unwrap();
    b.metrics_only();
    let seen = count_threshold_events(&b);
    // 10 failures in a 5-call window: above the threshold from the 5th
    // call on, but one entry into the condition, so one event (it once
    // fired on every evaluation: 6 events).
    for _ in 0..10 {
        call(&b, false);
    }
    assert_eq!(b.state(), CircuitState::MetricsOnly);
    assert_eq!(*seen.lock().unwrap(), 1);
    // Successes bring the rate below 50 %: the condition ends...
    for _ in 0..5 {
        call(&b, true);
    }
    assert_eq!(*seen.lock().unwrap(), 1);
    // ...and entering it again fires again.
    for _ in 0..3 {
        call(&b, false);
    }
    assert_eq!(*seen.lock().unwrap(), 2);
    // Re-entering metrics-only mode starts afresh.
    b.reset();
    b.metrics_only();
    for _ in 0..5 {
        call(&b, false);
    }
    assert_eq!(*seen.lock().unwrap(), 3);
}

#[test]
fn a_call_exactly_as_long_as_the_slow_threshold_is_not_slow() {
    let clock = ManualClock::new();
    let cfg = CircuitBreakerConfig::default()
        .count_window(2)
        .minimum_calls(2)
        .slow_calls(Duration::from_secs(2), 1.0);
    let b = CircuitBreaker::with_clock(cfg, clock.clone()).unwrap();
    for _ in 0..2 {
        let p = b.try_acquire().unwrap();
        clock.advance(Duration::from_secs(2));
        p.record_success();
    }
    // Resilience4j counts a call as slow when it took longer than the
    // threshold: two calls of exactly 2 s leave the breaker closed.
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().window.slow_calls, 0);
    for _ in 0..2 {
        let p = b.try_acquire().unwrap();
        clock.advance(Duration::from_secs(2) + Duration::from_nanos(1));
        p.record_success();
    }
    assert_eq!(b.state(), CircuitState::Open);
}
