//! Behaviour tests for the circuit breaker: the issue's contract, the platform presets'
//! breakers, and scenarios ported (by behaviour) from Resilience4j's and
//! Polly's test suites. Time only moves through `ManualClock`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilience_core::circuit_breaker::{
    CircuitBreaker, CircuitBreakerConfig, CircuitBreakerEventKind, CircuitState, HalfOpenFailure,
    TransitionReason,
};
use resilience_core::clock::{Clock, ManualClock};
use resilience_core::presets;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn contract() -> Result<(), Box<dyn std::error::Error>> {
    let clock = ManualClock::new();
    let config: CircuitBreakerConfig = serde_json::from_str(
        r#"{
        "window": { "count": 10 },
        "minimum_calls": 10,
        "failure_rate_threshold": 0.5,
        "consecutive_failures": null,
        "open_duration": "30s",
        "half_open_permits": 3,
        "success_threshold": 3
    }"#,
    )?;
    let breaker = CircuitBreaker::with_clock(config, clock.clone())?;
    match breaker.try_acquire() {
        Ok(permit) => permit.record_success(),
        Err(open) => {
            let _wait: Duration = open.retry_after();
        }
    }
    assert_eq!(breaker.state(), CircuitState::Closed);
    clock.advance(secs(30));

    let time: CircuitBreakerConfig = serde_json::from_str(r#"{ "window": { "time": "60s" } }"#)?;
    assert!(CircuitBreaker::with_clock(time, clock.clone()).is_ok());
    let bad: CircuitBreakerConfig = serde_json::from_str(r#"{ "failure_rate_threshold": 1.5 }"#)?;
    let err = CircuitBreaker::with_clock(bad, clock).unwrap_err();
    assert_eq!(err.field(), Some("failure_rate_threshold"));
    Ok(())
}

/// Drives `breaker` through `n` calls of the given outcome.
fn calls(breaker: &CircuitBreaker, n: usize, ok: bool) {
    for _ in 0..n {
        let p = breaker.try_acquire().expect("breaker should permit");
        if ok {
            p.record_success()
        } else {
            p.record_failure()
        }
    }
}

#[test]
fn llm_provider_preset_full_cycle() {
    // Data platform chapter: 5 failures → open 30 s → 3 successes close.
    let clock = ManualClock::new();
    let b = CircuitBreaker::with_clock(
        presets::data_platform::llm_provider_breaker(),
        clock.clone(),
    )
    .unwrap();
    calls(&b, 4, false);
    assert_eq!(b.state(), CircuitState::Closed);
    calls(&b, 1, false);
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(b.try_acquire().unwrap_err().retry_after(), secs(30));
    clock.advance(secs(30));
    calls(&b, 3, true);
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn llm_provider_preset_rate_trigger() {
    // The alternative trigger: 50 % over the 60 s rolling window, with no run
    // of 5 consecutive failures.
    let clock = ManualClock::new();
    let b = CircuitBreaker::with_clock(
        presets::data_platform::llm_provider_breaker(),
        clock.clone(),
    )
    .unwrap();
    for i in 0..10 {
        clock.advance(secs(1));
        calls(&b, 1, i % 2 == 0);
    }
    assert_eq!(b.state(), CircuitState::Open);
}

#[test]
fn metadata_db_preset_five_failures_in_thirty_seconds() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::with_clock(
        presets::workflow_runtime::metadata_db_breaker(),
        clock.clone(),
    )
    .unwrap();
    // Failures spaced 8 s apart never put 5 inside 30 s...
    for _ in 0..10 {
        calls(&b, 1, false);
        calls(&b, 20, true);
        clock.advance(secs(8));
    }
    assert_eq!(b.state(), CircuitState::Closed);
    // At t = 80 s the window [51 s, 80 s] holds the failures of 56, 64, 72 s.
    assert_eq!(b.metrics().window.failures, 3);
    clock.advance(secs(30));
    // ...5 within 30 s open it, whatever the successes around them.
    for _ in 0..4 {
        calls(&b, 1, false);
        calls(&b, 20, true);
        clock.advance(secs(5));
    }
    calls(&b, 1, false);
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(b.try_acquire().unwrap_err().retry_after(), secs(30));
}

#[test]
fn redis_cache_preset_ten_in_ten_seconds() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::with_clock(
        presets::workflow_runtime::redis_cache_breaker(),
        clock.clone(),
    )
    .unwrap();
    for _ in 0..5 {
        calls(&b, 1, false);
        calls(&b, 20, true);
        clock.advance(secs(5));
    }
    // Failures 5 s apart: at most 2 in any 10 s.
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(
        b.metrics().window.failures,
        1,
        "only t=20 s is inside [16 s, 25 s]"
    );
    calls(&b, 8, false);
    assert_eq!(b.state(), CircuitState::Closed, "9 failures in 10 s");
    calls(&b, 1, false);
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(b.try_acquire().unwrap_err().retry_after(), secs(10));
}

#[test]
fn per_worker_and_gpu_cluster_presets() {
    let clock = ManualClock::new();
    let worker =
        CircuitBreaker::with_clock(presets::gpu_inference::per_worker_breaker(), clock.clone())
            .unwrap();
    calls(&worker, 3, false);
    assert_eq!(worker.state(), CircuitState::Open);
    clock.advance(secs(30));
    calls(&worker, 2, true);
    assert_eq!(worker.state(), CircuitState::Closed);

    let gpu = CircuitBreaker::with_clock(
        presets::synthetic_data::gpu_cluster_breaker(),
        clock.clone(),
    )
    .unwrap();
    calls(&gpu, 3, false);
    assert_eq!(gpu.try_acquire().unwrap_err().retry_after(), secs(60));
}

#[test]
fn global_inference_preset_ten_percent() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::with_clock(presets::gpu_inference::global_breaker(), clock.clone())
        .unwrap();
    // 9 failures in 100 calls (9 %): stays closed.
    calls(&b, 9, false);
    calls(&b, 91, true);
    assert_eq!(b.state(), CircuitState::Closed);
    // 10 of 101 is 9.9 %: still closed.
    calls(&b, 1, false);
    assert_eq!(b.state(), CircuitState::Closed);
    // 11 of 102 is 10.8 %: opens.
    calls(&b, 1, false);
    assert_eq!(b.state(), CircuitState::Open);
}

#[test]
fn minimum_calls_reached_by_a_success_trips() {
    // Resilience4j evaluates after every outcome: 3 failures and a success
    // with minimum 4 is 75 %.
    let b = CircuitBreaker::new(
        CircuitBreakerConfig::new()
            .count_window(10)
            .minimum_calls(4),
    )
    .unwrap();
    calls(&b, 3, false);
    assert_eq!(b.state(), CircuitState::Closed);
    calls(&b, 1, true);
    assert_eq!(b.state(), CircuitState::Open);
}

#[test]
fn time_window_minimum_reached_by_a_success_trips() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::with_clock(
        CircuitBreakerConfig::new()
            .time_window(secs(10))
            .minimum_calls(4),
        clock,
    )
    .unwrap();
    calls(&b, 3, false);
    calls(&b, 1, true);
    assert_eq!(b.state(), CircuitState::Open);
}

// Resilience4j: "should not open when failure rate below threshold".
#[test]
fn below_threshold_stays_closed() {
    let b = CircuitBreaker::new(
        CircuitBreakerConfig::new()
            .count_window(10)
            .minimum_calls(10),
    )
    .unwrap();
    for i in 0..1000 {
        calls(&b, 1, i % 10 >= 4); // 40 % failures
    }
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().failure_rate, Some(0.4));
}

// Polly: "should open again if the probe fails", "should reset the failure
// count after the circuit closes".
#[test]
fn closing_starts_a_fresh_window() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::with_clock(
        CircuitBreakerConfig::new()
            .count_window(4)
            .minimum_calls(4)
            .half_open_permits(1),
        clock.clone(),
    )
    .unwrap();
    calls(&b, 2, true);
    calls(&b, 2, false);
    assert_eq!(b.state(), CircuitState::Open);
    clock.advance(secs(30));
    calls(&b, 1, false); // probe fails
    assert_eq!(b.state(), CircuitState::Open);
    clock.advance(secs(30));
    calls(&b, 1, true); // probe succeeds
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().window.calls, 0);
    // One failure after closing is 1 of 1 calls, below minimum: closed.
    calls(&b, 1, false);
    assert_eq!(b.state(), CircuitState::Closed);
}

// Resilience4j: with automatic transition off, the open state becomes
// half-open only when asked; our `state()` asks, as Polly's does.
#[test]
fn open_becomes_half_open_lazily() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::with_clock(
        CircuitBreakerConfig::new().consecutive_failures(1),
        clock.clone(),
    )
    .unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    b.on_event(move |e| {
        if let CircuitBreakerEventKind::StateTransition { to, reason, .. } = e.kind {
            sink.lock().unwrap().push((to, reason));
        }
    });
    calls(&b, 1, false);
    clock.advance(secs(3600));
    assert_eq!(
        log.lock().unwrap().len(),
        1,
        "no transition without a caller"
    );
    assert_eq!(b.state(), CircuitState::HalfOpen);
    assert_eq!(
        log.lock().unwrap()[1],
        (
            CircuitState::HalfOpen,
            TransitionReason::OpenDurationElapsed
        )
    );
}

#[test]
fn half_open_rate_mode_uses_resilience4j_rule() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::with_clock(
        CircuitBreakerConfig::new()
            .consecutive_failures(1)
            .failure_rate_threshold(0.5)
            .half_open_permits(10)
            .half_open_failure(HalfOpenFailure::Rate),
        clock.clone(),
    )
    .unwrap();
    calls(&b, 1, false);
    clock.advance(secs(30));
    for i in 0..10 {
        calls(&b, 1, i >= 4); // 4 of 10 fail
    }
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn events_carry_name_and_clock_time() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::with_clock(
        CircuitBreakerConfig::new()
            .name("db")
            .consecutive_failures(1),
        clock.clone(),
    )
    .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    b.on_event(move |e| sink.lock().unwrap().push((e.name.to_string(), e.at)));
    clock.advance(secs(5));
    calls(&b, 1, false);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2); // failure + transition
    assert!(seen.iter().all(|(n, at)| n == "db" && *at == clock.now()));
}

#[test]
fn registry_breaks_per_model_with_a_global_breaker() {
    use resilience_core::circuit_breaker::{CircuitBreakerRegistry, KeyedRejection};
    let clock = ManualClock::new();
    let registry =
        CircuitBreakerRegistry::<String>::builder(presets::gpu_inference::per_model_breaker())
            .global(presets::gpu_inference::global_breaker())
            .clock(clock.clone())
            .build()
            .unwrap();
    // sdxl fails 5 times: its breaker opens; flux keeps serving.
    for _ in 0..5 {
        registry.try_acquire("sdxl").unwrap().record_failure();
    }
    for _ in 0..95 {
        registry.try_acquire("flux").unwrap().record_success();
    }
    match registry.try_acquire("sdxl") {
        Err(KeyedRejection::Open(open)) => {
            assert_eq!(open.name(), "per_model:sdxl");
            assert_eq!(open.retry_after(), secs(60));
        }
        other => panic!("sdxl should be open, got {other:?}"),
    }
    // 5 % globally: the global breaker stays closed.
    assert_eq!(registry.global().unwrap().state(), CircuitState::Closed);
    assert!(registry.try_acquire("flux").is_ok());
}

/// A breaker, a keyed registry and a rate limiter all run on one shared
/// `CoarseClock` (what a service reading time on every call would do).
/// Only what needs no wait is checked here; that a breaker on a coarse
/// clock behaves exactly as on a manual one is checked in the crate's unit
/// tests, with the coarse clock moved by hand.
#[test]
fn breakers_registries_and_rate_limiters_share_one_coarse_clock() {
    use resilience_core::circuit_breaker::CircuitBreakerRegistry;
    use resilience_core::clock::CoarseClock;
    use resilience_core::rate_limit::{RateLimiter, RateLimiterConfig};

    let clock = CoarseClock::start(Duration::from_millis(1)).unwrap();
    let breaker = CircuitBreaker::with_clock(
        CircuitBreakerConfig::new()
            .time_window(secs(60))
            .minimum_calls(4)
            .failure_rate_threshold(0.5)
            .open_duration(secs(60)),
        clock.clone(),
    )
    .unwrap();
    for _ in 0..3 {
        breaker.call(|| Ok::<_, ()>(())).unwrap();
    }
    for _ in 0..3 {
        let _ = breaker.call(|| Err::<(), _>(()));
    }
    // 3 failures in 6 calls: 50 % reaches the threshold.
    assert_eq!(breaker.state(), CircuitState::Open);
    let open = breaker.try_acquire().unwrap_err();
    assert!(open.retry_after() <= secs(60) && open.retry_after() > secs(50));

    let registry =
        CircuitBreakerRegistry::<u64>::builder(CircuitBreakerConfig::new().count_window(10))
            .clock(clock.clone())
            .build()
            .unwrap();
    registry.try_acquire(&7).unwrap().record_success();
    assert_eq!(registry.get(&7).unwrap().metrics().window.calls, 1);

    let limiter =
        RateLimiter::with_clock(RateLimiterConfig::new(1, secs(60)), clock.clone()).unwrap();
    limiter.try_acquire().unwrap();
    let refused = limiter.try_acquire().unwrap_err();
    assert!(refused.retry_after() <= secs(60) && refused.retry_after() > secs(50));
}
