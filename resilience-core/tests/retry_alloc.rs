//! The retry decision path allocates nothing per call: `start`, `next` and
//! `record_success` on a shared policy (with jitter from the thread RNG and
//! a budget), and iterating a backoff's delays.
//!
//! Counts with `allocation-counter`, whose counts are per thread, so the test
//! harness's own threads cannot disturb the measurement.

mod common;

use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use resilience_core::clock::{Clock, ManualClock};
use resilience_core::retry::{
    Backoff, ErrorClass, Jitter, RatioBudget, RatioBudgetConfig, RetryPolicy, TokenBucketBudget,
    TokenBucketConfig,
};
#[test]
fn the_decision_path_does_not_allocate() {
    common::assert_counting_allocator_active();
    let clock = ManualClock::new();
    let backoff = Backoff::exponential(Duration::from_millis(10), Duration::from_secs(1))
        .unwrap()
        .with_jitter(Jitter::Full);
    let bucket = RetryPolicy::builder(backoff.clone())
        .max_attempts(4)
        .deadline(Duration::from_secs(60))
        .budget(Arc::new(
            TokenBucketBudget::new(TokenBucketConfig::default()).unwrap(),
        ))
        .clock(clock.clone())
        .build()
        .unwrap();
    let ratio = RetryPolicy::builder(backoff.clone().with_jitter(Jitter::Decorrelated))
        .max_attempts(4)
        .budget(Arc::new(
            RatioBudget::with_clock(RatioBudgetConfig::default(), clock.clone()).unwrap(),
        ))
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);

    let mut calls = |n: usize| {
        let mut retries = 0;
        for _ in 0..n {
            for policy in [&bucket, &ratio] {
                let now = clock.now();
                let mut s = policy.start(now);
                for _ in 0..3 {
                    if policy
                        .next(&mut s, now, ErrorClass::Transient.into())
                        .is_retry()
                    {
                        retries += 1;
                    }
                }
                policy.record_success(&s);
            }
            let total: Duration = backoff.delays_with_rng(&mut rng).take(10).sum();
            assert!(total <= Duration::from_secs(10));
            clock.advance(Duration::from_millis(1));
        }
        retries
    };
    // Warm up (the thread-local RNG is created on first use).
    assert!(calls(10) > 0);
    let mut retries = 0;
    let info = allocation_counter::measure(|| retries = calls(1_000));
    assert!(retries > 1_000, "the loop did retry ({retries})");
    assert_eq!(info.count_total, 0, "{info:?}");
}
