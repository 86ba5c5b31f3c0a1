//! Hot paths allocate nothing: a counting global allocator (thread-local
//! counts, so other test threads do not interfere) measures each path after a
//! warm-up, and any heap allocation fails the test.

use std::time::Duration;

use resilience::core::circuit_breaker::{
    CircuitBreaker, CircuitBreakerConfig, CircuitBreakerRegistry,
};
use resilience::core::clock::ManualClock;

const CALLS: usize = 10_000;

fn assert_no_alloc(what: &str, mut f: impl FnMut()) {
    f(); // warm-up: lazily initialised state may allocate once
    let info = allocation_counter::measure(|| {
        for _ in 0..CALLS {
            f();
        }
    });
    assert_eq!(
        info.count_total, 0,
        "{what}: {} allocations ({} bytes) in {CALLS} calls",
        info.count_total, info.bytes_total
    );
}

#[test]
fn circuit_breaker_hot_paths_do_not_allocate() {
    let count = CircuitBreaker::new(CircuitBreakerConfig::new().count_window(100)).unwrap();
    assert_no_alloc("closed breaker acquire+record (count window)", || {
        count.try_acquire().unwrap().record_success();
    });
    // Metrics-only mode evaluates every failure (and would trip) without
    // changing state, so the failure path can be measured in a loop.
    let failing = CircuitBreaker::new(
        CircuitBreakerConfig::new()
            .count_window(100)
            .minimum_calls(1),
    )
    .unwrap();
    failing.metrics_only();
    assert_no_alloc(
        "closed breaker acquire+record failure with evaluation",
        || {
            failing.try_acquire().unwrap().record_failure();
        },
    );
    assert_no_alloc("owned permit", || {
        count.try_acquire_owned().unwrap().record_success();
    });

    let clock = ManualClock::new();
    let time = CircuitBreaker::with_clock(
        CircuitBreakerConfig::new()
            .time_window(Duration::from_secs(60))
            .slow_calls(Duration::from_secs(1), 0.9),
        clock.clone(),
    )
    .unwrap();
    assert_no_alloc(
        "closed breaker acquire+record (time window, slow calls)",
        || {
            clock.advance(Duration::from_millis(7));
            time.try_acquire().unwrap().record_success();
        },
    );

    let open = CircuitBreaker::new(CircuitBreakerConfig::new().consecutive_failures(1)).unwrap();
    open.try_acquire().unwrap().record_failure();
    assert_no_alloc("open breaker rejection", || {
        assert!(open.try_acquire().is_err());
    });

    let registry = CircuitBreakerRegistry::<String>::new(CircuitBreakerConfig::default())
        .unwrap()
        .with_global(CircuitBreakerConfig::default())
        .unwrap();
    assert_no_alloc("keyed acquire+record for an existing key", || {
        registry.try_acquire("model-a").unwrap().record_success();
    });
}
