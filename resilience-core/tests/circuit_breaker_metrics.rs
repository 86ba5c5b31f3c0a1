//! The breaker's `metrics` output: names, labels and values, read back from
//! a debugging recorder installed before the breaker is built.

mod common;

use common::{find, take};

use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;
use resilience_core::circuit_breaker::{metric_names, CircuitBreaker, CircuitBreakerConfig};
use resilience_core::clock::ManualClock;

#[test]
fn breaker_metrics_have_stable_names() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let clock = ManualClock::new();
    let b = CircuitBreaker::with_clock(
        CircuitBreakerConfig::new()
            .name("payments")
            .count_window(4)
            .minimum_calls(4)
            .record_latency(true),
        clock.clone(),
    )
    .unwrap();
    for ok in [true, false, true] {
        let p = b.try_acquire().unwrap();
        clock.advance(Duration::from_millis(250));
        if ok {
            p.record_success()
        } else {
            p.record_failure()
        }
    }
    b.try_acquire().unwrap().record_ignored();
    b.try_acquire().unwrap().record_failure(); // 2 of 4: 50 % → open
    assert!(b.try_acquire().is_err());

    let snap = take(&snapshotter);
    let name = [("name", "payments")];
    let calls = |outcome: &str| {
        find(
            &snap,
            MetricKind::Counter,
            metric_names::CALLS,
            &[("name", "payments"), ("outcome", outcome)],
        )
    };
    assert_eq!(calls("success"), Some(&DebugValue::Counter(2)));
    assert_eq!(calls("failure"), Some(&DebugValue::Counter(2)));
    assert_eq!(calls("ignored"), Some(&DebugValue::Counter(1)));
    assert_eq!(
        find(
            &snap,
            MetricKind::Counter,
            metric_names::NOT_PERMITTED,
            &name
        ),
        Some(&DebugValue::Counter(1))
    );
    assert_eq!(
        find(&snap, MetricKind::Gauge, metric_names::STATE, &name),
        Some(&DebugValue::Gauge(1.0.into()))
    );
    assert_eq!(
        find(&snap, MetricKind::Gauge, metric_names::FAILURE_RATE, &name),
        Some(&DebugValue::Gauge(0.5.into()))
    );
    assert_eq!(
        find(
            &snap,
            MetricKind::Counter,
            metric_names::TRANSITIONS,
            &[("name", "payments"), ("from", "closed"), ("to", "open")]
        ),
        Some(&DebugValue::Counter(1))
    );
    match find(
        &snap,
        MetricKind::Histogram,
        metric_names::CALL_DURATION,
        &name,
    ) {
        Some(DebugValue::Histogram(values)) => {
            assert_eq!(values.len(), 5);
            assert_eq!(values[0].into_inner(), 0.25);
        }
        other => panic!("no duration histogram: {other:?}"),
    }
}
