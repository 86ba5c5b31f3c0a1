//! The breaker under contention: 8 threads acquire and record at once, and
//! every count must come out exact.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use resilience_core::circuit_breaker::{
    CircuitBreaker, CircuitBreakerConfig, CircuitBreakerEventKind, CircuitState,
};
use resilience_core::clock::ManualClock;

const THREADS: u64 = 8;
const PER_THREAD: u64 = 25_000;

fn hammer(breaker: &CircuitBreaker, f: impl Fn(&CircuitBreaker, u64, u64) + Sync) {
    let barrier = Barrier::new(THREADS as usize);
    thread::scope(|s| {
        for t in 0..THREADS {
            let (barrier, f) = (&barrier, &f);
            s.spawn(move || {
                barrier.wait();
                for i in 0..PER_THREAD {
                    f(breaker, t, i);
                }
            });
        }
    });
}

#[test]
fn counts_are_exact_under_contention() {
    let breaker = CircuitBreaker::new(
        CircuitBreakerConfig::new()
            .count_window(1_000_000)
            .failure_rate_threshold(0.5),
    )
    .unwrap();
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (o, f) = (ok.clone(), failed.clone());
    breaker.on_event(move |e| match e.kind {
        CircuitBreakerEventKind::Success { .. } => {
            o.fetch_add(1, Ordering::Relaxed);
        }
        CircuitBreakerEventKind::Failure { .. } => {
            f.fetch_add(1, Ordering::Relaxed);
        }
        _ => {}
    });
    hammer(&breaker, |b, _, i| {
        let p = b.try_acquire().expect("never trips at 10 %");
        if i % 10 == 0 {
            p.record_failure()
        } else {
            p.record_success()
        }
    });
    let total = THREADS * PER_THREAD;
    let m = breaker.metrics();
    assert_eq!(m.state, CircuitState::Closed);
    assert_eq!(m.window.calls, total);
    assert_eq!(m.window.failures, total / 10);
    assert_eq!(ok.load(Ordering::Relaxed), total - total / 10);
    assert_eq!(failed.load(Ordering::Relaxed), total / 10);
}

#[test]
fn small_window_totals_match_slots_after_racing() {
    // 8 threads race on a window of 10 slots (every slot is written by many
    // threads), first with successes, then with failures: the totals must end
    // exactly equal to the slot contents.
    let breaker = CircuitBreaker::new(CircuitBreakerConfig::new().count_window(10)).unwrap();
    breaker.disable(); // record without tripping
    hammer(&breaker, |b, _, _| {
        b.try_acquire().unwrap().record_success()
    });
    let m = breaker.metrics();
    assert_eq!((m.window.calls, m.window.failures), (10, 0));
    hammer(&breaker, |b, _, _| {
        b.try_acquire().unwrap().record_failure()
    });
    let m = breaker.metrics();
    assert_eq!((m.window.calls, m.window.failures), (10, 10));
    hammer(&breaker, |b, t, _| {
        let p = b.try_acquire().unwrap();
        if t % 2 == 0 {
            p.record_success()
        } else {
            p.record_failure()
        }
    });
    let m = breaker.metrics();
    assert_eq!(m.window.calls, 10);
    assert!(m.window.failures <= 10);
    // One more sequential pass of 10 successes overwrites every slot.
    for _ in 0..10 {
        breaker.try_acquire().unwrap().record_success();
    }
    let m = breaker.metrics();
    assert_eq!((m.window.calls, m.window.failures), (10, 0));
}

#[test]
fn concurrent_failures_open_exactly_once() {
    let breaker = CircuitBreaker::new(CircuitBreakerConfig::new().consecutive_failures(5)).unwrap();
    let opened = Arc::new(AtomicU64::new(0));
    let sink = opened.clone();
    breaker.on_event(move |e| {
        if let CircuitBreakerEventKind::StateTransition {
            to: CircuitState::Open,
            ..
        } = e.kind
        {
            sink.fetch_add(1, Ordering::Relaxed);
        }
    });
    hammer(&breaker, |b, _, _| {
        if let Ok(p) = b.try_acquire() {
            p.record_failure();
        }
    });
    assert_eq!(breaker.state(), CircuitState::Open);
    assert_eq!(opened.load(Ordering::Relaxed), 1);
}

#[test]
fn half_open_never_admits_more_trials_than_permits() {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::with_clock(
        CircuitBreakerConfig::new()
            .consecutive_failures(1)
            .half_open_permits(3)
            .success_threshold(3),
        clock.clone(),
    )
    .unwrap();
    breaker.try_acquire().unwrap().record_failure();
    clock.advance(Duration::from_secs(30));
    let in_flight = AtomicU64::new(0);
    let max_seen = AtomicU64::new(0);
    hammer(&breaker, |b, _, i| {
        if let Ok(p) = b.try_acquire() {
            let n = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            max_seen.fetch_max(n, Ordering::SeqCst);
            in_flight.fetch_sub(1, Ordering::SeqCst);
            if i % 3 == 0 {
                drop(p); // cancelled: frees the slot
            } else {
                p.record_ignored();
            }
        }
    });
    assert!(max_seen.load(Ordering::SeqCst) <= 3);
    assert_eq!(breaker.state(), CircuitState::HalfOpen);
    // Every slot came back: three trials can still be taken.
    let trials: Vec<_> = (0..3).map(|_| breaker.try_acquire().unwrap()).collect();
    assert!(breaker.try_acquire().is_err());
    for t in trials {
        t.record_success();
    }
    assert_eq!(breaker.state(), CircuitState::Closed);
}

/// A breaker with a 10-minute time window on a manual clock.
fn ten_minute_window() -> (ManualClock, CircuitBreaker) {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::with_clock(
        CircuitBreakerConfig::new()
            .time_window(Duration::from_secs(600))
            .failure_rate_threshold(0.5),
        clock.clone(),
    )
    .unwrap();
    (clock, breaker)
}

#[test]
fn time_window_counts_are_exact_while_the_clock_moves() {
    let (clock, breaker) = ten_minute_window();
    hammer(&breaker, |b, t, i| {
        if t == 0 && i % 100 == 0 {
            clock.advance(Duration::from_millis(200)); // 50 s in total, inside the window
        }
        let p = b.try_acquire().unwrap();
        if i % 4 == 0 {
            p.record_failure()
        } else {
            p.record_success()
        }
    });
    let m = breaker.metrics();
    assert_eq!(m.window.calls, THREADS * PER_THREAD);
    assert_eq!(m.window.failures, THREADS * PER_THREAD / 4);
}

#[test]
fn time_window_successes_are_all_counted_while_the_clock_crosses_buckets() {
    // Only successes: every record after the first in a bucket takes the
    // short path, racing with the thread that moves the window on.
    let (clock, breaker) = ten_minute_window();
    hammer(&breaker, |b, t, i| {
        if t == 0 && i % 100 == 0 {
            clock.advance(Duration::from_millis(200)); // 50 s in total, inside the window
        }
        if i % 2 == 0 {
            b.try_acquire().unwrap().record_success();
        } else {
            b.call(|| Ok::<_, ()>(())).unwrap();
        }
    });
    let m = breaker.metrics();
    assert_eq!(m.window.calls, THREADS * PER_THREAD);
    assert_eq!(m.window.failures, 0);
}

#[test]
fn time_window_successes_are_all_counted_on_the_system_clock() {
    // The time-stamp counter (compared unscaled with the bucket's end) on
    // a window of 2 s with 1 s buckets: the threads cross bucket
    // boundaries on their own, and every success must land in the window.
    let breaker = CircuitBreaker::new(
        CircuitBreakerConfig::new()
            .time_window(Duration::from_secs(2))
            .failure_rate_threshold(0.5),
    )
    .unwrap();
    let start = std::time::Instant::now();
    hammer(&breaker, |b, _, _| {
        b.try_acquire().unwrap().record_success();
    });
    // Every call made within the last bucket span is in the window; unless
    // the run took longer than that, all of them are.
    if start.elapsed() < Duration::from_millis(900) {
        let m = breaker.metrics();
        assert_eq!(m.window.calls, THREADS * PER_THREAD);
    }
}

#[test]
fn time_window_successes_of_many_short_lived_threads_are_all_counted() {
    // More threads than the window has per-thread stripes (16), in rounds:
    // some count in stripes, the rest add to the bucket, and each round's
    // threads take over the stripes of the last round's, which have
    // exited. No success may be lost or counted twice, while the clock
    // crosses buckets.
    let (clock, breaker) = ten_minute_window();
    let rounds = 3u64;
    let threads = 24u64;
    let per_thread = 4_000u64;
    for _ in 0..rounds {
        let barrier = Barrier::new(threads as usize);
        thread::scope(|s| {
            for t in 0..threads {
                let (breaker, clock, barrier) = (&breaker, &clock, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    for i in 0..per_thread {
                        if t == 0 && i % 1_000 == 0 {
                            clock.advance(Duration::from_millis(700));
                        }
                        breaker.call(|| Ok::<_, ()>(())).unwrap();
                    }
                });
            }
        });
    }
    let m = breaker.metrics();
    assert_eq!(m.window.calls, rounds * threads * per_thread);
    assert_eq!(m.window.failures, 0);
    // A failure now is evaluated against every one of them.
    breaker.try_acquire().unwrap().record_failure();
    let m = breaker.metrics();
    assert_eq!(m.window.calls, rounds * threads * per_thread + 1);
    assert_eq!(m.window.failures, 1);
}
