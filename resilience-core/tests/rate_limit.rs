//! The rate limiter from outside: its metrics (read back from a debugging
//! recorder installed before it is built) and its admissions when many
//! threads share it (never more than the burst at one instant, never more
//! than the rate over time).

mod common;

use common::{find, take};

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;
use resilience_core::clock::ManualClock;
use resilience_core::rate_limit::{RateLimiter, RateLimiterConfig};

#[test]
fn permits_refusals_and_the_rate_are_metered_under_the_limiters_name() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let clock = ManualClock::new();
    let limiter = RateLimiter::with_clock(
        RateLimiterConfig::new(600, Duration::from_secs(60))
            .burst(3)
            .name("llm-provider"),
        clock.clone(),
    )
    .unwrap();
    limiter.try_acquire_n(2).unwrap();
    limiter.try_acquire().unwrap();
    assert!(limiter.try_acquire().is_err());
    assert!(limiter.try_acquire_n(2).is_err());

    let snap = take(&snapshotter);
    let name = [("name", "llm-provider")];
    assert_eq!(
        find(
            &snap,
            MetricKind::Counter,
            "resilience_rate_limit_permitted_total",
            &name
        ),
        Some(&DebugValue::Counter(3)),
        "3 permits handed out (a burst of 3)"
    );
    assert_eq!(
        find(
            &snap,
            MetricKind::Counter,
            "resilience_rate_limit_rejected_total",
            &name
        ),
        Some(&DebugValue::Counter(2)),
        "2 refused calls, whatever they asked for"
    );
    match find(
        &snap,
        MetricKind::Gauge,
        "resilience_rate_limit_rate_per_second",
        &name,
    ) {
        Some(DebugValue::Gauge(v)) => {
            assert_eq!(v.into_inner(), 10.0, "600 per minute is 10 per second")
        }
        other => panic!("rate gauge: {other:?}"),
    }
}

#[test]
fn threads_sharing_a_limiter_never_take_more_than_the_burst_at_one_instant() {
    let clock = ManualClock::new();
    let limiter = RateLimiter::with_clock(
        RateLimiterConfig::per_second(1_000).burst(50),
        clock.clone(),
    )
    .unwrap();
    let admitted = Arc::new(AtomicU32::new(0));
    // Time stands still: 4 threads make 10 000 attempts each.
    std::thread::scope(|s| {
        for _ in 0..4 {
            let (limiter, admitted) = (limiter.clone(), admitted.clone());
            s.spawn(move || {
                for _ in 0..10_000 {
                    if limiter.try_acquire().is_ok() {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(
        admitted.load(Ordering::Relaxed),
        50,
        "exactly the burst of 50, from 40 000 attempts"
    );

    // Time moves in steps of 1 ms while 3 threads race for permits until
    // it has moved 1 s: 1 000 permits come due, no more. Each step waits
    // until the permit it brought is taken, so that a racing thread
    // descheduled by a busy machine cannot let permits pile up past the
    // burst and be lost (which would make the count depend on load).
    admitted.store(0, Ordering::Relaxed);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    std::thread::scope(|s| {
        for _ in 0..3 {
            let (limiter, admitted, done) = (limiter.clone(), admitted.clone(), done.clone());
            s.spawn(move || {
                while !done.load(Ordering::Acquire) {
                    if limiter.try_acquire().is_ok() {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                    std::hint::spin_loop();
                }
            });
        }
        let (clock, done, limiter) = (clock.clone(), done.clone(), limiter.clone());
        s.spawn(move || {
            for _ in 0..1_000 {
                clock.advance(Duration::from_millis(1));
                while limiter.available() > 0 {
                    std::thread::yield_now();
                }
            }
            done.store(true, Ordering::Release);
        });
    });
    let n = admitted.load(Ordering::Relaxed);
    let saved = limiter.available();
    assert!(
        n + saved <= 1_000,
        "1 000/s for 1 s: at most 1 000 permits taken or saved, got {n} taken + {saved} saved"
    );
    assert_eq!(n, 1_000, "racing threads take every permit that comes due");
}
