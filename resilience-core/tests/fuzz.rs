//! The fuzz suite: resilience-core's configurations (JSON and YAML with
//! extreme numbers, durations and unknown fields, and random bytes) and its
//! state machines (breaker, bulkhead, backoff, budgets) under random
//! operations with a manual clock that jumps by up to centuries. Each
//! target asserts no panic or overflow, config errors that name the field,
//! and the primitive's invariants after every call.
//!
//! `scripts/test.sh` runs this binary with its output shown: every target
//! prints how many cases it ran. `RESILIENCE_FUZZ_CASES` sets the cases per
//! target (default 256).

mod common;

use common::fuzz_cases;

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use resilience_core::bulkhead::{Bulkhead, BulkheadConfig};
use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitState};
use resilience_core::clock::{Clock, ManualClock};
use resilience_core::config::{self, ConfigError};
use resilience_core::degradation::DegradationConfig;
use resilience_core::retry::{RetryConfig, RetryPolicy, TokenBucketConfig};

fn fuzz<S: Strategy>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let n = fuzz_cases();
    let mut runner = TestRunner::new(Config {
        cases: n,
        failure_persistence: None,
        ..Config::default()
    });
    let ran = std::cell::Cell::new(0u32);
    if let Err(e) = runner.run(&strategy, |v| {
        ran.set(ran.get() + 1);
        test(v)
    }) {
        panic!("fuzz resilience-core::{name}: {e}");
    }
    println!(
        "fuzz resilience-core::{name}: {} cases passed (of {n} planned), no panic",
        ran.get()
    );
}

fn names_a_field(e: &ConfigError) -> Result<(), TestCaseError> {
    match e.field() {
        Some(f) => prop_assert!(!f.is_empty()),
        None => prop_assert!(!e.to_string().is_empty()),
    }
    Ok(())
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (0u64..100).prop_map(|v| v.to_string()),
        1 => prop::sample::select(vec![
            "0", "1", "-1", "0.5", "1.5", "4294967295", "18446744073709551615", "1e308", "NaN", "null",
        ])
        .prop_map(str::to_string),
    ]
}

fn duration_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (0u64..600).prop_map(|v| format!("\"{v}s\"")),
        1 => prop::sample::select(vec![
            "\"0s\"", "\"1ns\"", "\"500ms\"", "\"18446744073709551615s\"", "\"584942417355years\"", "\"x\"",
        ])
        .prop_map(str::to_string),
    ]
}

#[test]
fn fuzz_config_documents() {
    let breaker = (number(), number(), number(), number(), duration_text(), duration_text(), number()).prop_map(
        |(count, min, rate, consec, open, slow, permits)| {
            format!(
                r#"{{"window": {{"count": {count}}}, "minimum_calls": {min}, "failure_rate_threshold": {rate},
                "consecutive_failures": {consec}, "open_duration": {open}, "slow_call_duration": {slow},
                "half_open_permits": {permits}}}"#
            )
        },
    );
    let text = prop_oneof![
        3 => breaker,
        1 => any::<Vec<u8>>().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        1 => "\\{[ -~]{0,80}\\}",
    ];
    fuzz("config_documents", text, |t| {
        if let Ok(c) = config::from_json_str::<CircuitBreakerConfig>(&t) {
            if let Err(e) = CircuitBreaker::with_clock(c, ManualClock::new()) {
                names_a_field(&e)?;
            }
        }
        if let Ok(c) = config::from_yaml_str::<BulkheadConfig>(&t) {
            if let Err(e) = c.validate() {
                names_a_field(&e)?;
            }
        }
        if let Ok(c) = config::from_json_str::<RetryConfig>(&t) {
            if let Err(e) = RetryPolicy::from_config("fuzz", &c, Arc::new(ManualClock::new())) {
                names_a_field(&e)?;
            }
        }
        let _ = config::from_yaml_str::<DegradationConfig>(&t);
        let _ = config::from_yaml_str::<TokenBucketConfig>(&t);
        Ok(())
    });
}

#[test]
fn fuzz_breaker_operations() {
    let cfg = (
        1u32..12,
        1u32..12,
        0.05f64..1.0,
        prop::option::of(1u32..6),
        prop::option::of(0u64..5_000),
    );
    let ops = prop::collection::vec(
        (
            prop_oneof![6 => 0u64..5_000, 1 => Just(0u64), 1 => 0u64..(200 * 365 * 86_400_000)],
            0u8..6,
        ),
        1..80,
    );
    fuzz(
        "breaker_operations",
        (cfg, ops),
        |((window, min, rate, consec, slow_ms), ops)| {
            let clock = ManualClock::new();
            let mut c = CircuitBreakerConfig::default()
                .count_window(window)
                .minimum_calls(min)
                .failure_rate_threshold(rate);
            if let Some(n) = consec {
                c = c.consecutive_failures(n);
            }
            if let Some(ms) = slow_ms {
                c = c.slow_calls(Duration::from_millis(ms.max(1)), 0.5);
            }
            let b = match CircuitBreaker::with_clock(c, clock.clone()) {
                Ok(b) => b,
                Err(e) => return names_a_field(&e),
            };
            for (ms, op) in ops {
                match op {
                    0..=2 => {
                        if let Ok(p) = b.try_acquire() {
                            clock.advance(Duration::from_millis(ms));
                            if op == 0 {
                                p.record_failure()
                            } else {
                                p.record_success()
                            }
                        } else {
                            clock.advance(Duration::from_millis(ms));
                        }
                    }
                    3 => b.metrics_only(),
                    4 => b.reset(),
                    _ => clock.advance(Duration::from_millis(ms)),
                }
                let m = b.metrics();
                prop_assert!(m.window.failures <= m.window.calls);
                prop_assert!(m.window.calls <= u64::from(window));
                if b.state() == CircuitState::Closed {
                    prop_assert!(b.try_acquire().is_ok());
                }
            }
            Ok(())
        },
    );
}

#[test]
fn fuzz_bulkhead_and_backoff() {
    let input = (
        prop_oneof![Just(0u32), 1u32..16, Just(u32::MAX)],
        prop::collection::vec(any::<bool>(), 1..60),
    );
    fuzz("bulkhead", input, |(max, ops)| {
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new());
        let b = match Bulkhead::with_clock("fuzz", BulkheadConfig::new(max), clock) {
            Ok(b) => b,
            Err(e) => return names_a_field(&e),
        };
        let mut held = Vec::new();
        for acquire in ops {
            if acquire {
                if let Ok(p) = b.try_acquire() {
                    held.push(p);
                }
            } else {
                held.pop();
            }
            prop_assert!(held.len() <= max as usize);
        }
        Ok(())
    });
    let backoff = (
        prop::sample::select(vec!["constant", "linear", "exponential"]),
        duration_text(),
        duration_text(),
        number(),
        any::<u32>(),
    );
    fuzz(
        "backoff_delays",
        backoff,
        |(kind, initial, max, attempts, retry)| {
            let text = format!(
                r#"{{"backoff": {{"kind": "{kind}", "initial": {initial}, "max": {max}, "max_attempts": {attempts}}}}}"#
            );
            if let Ok(c) = config::from_json_str::<RetryConfig>(&text) {
                match RetryPolicy::from_config("fuzz", &c, Arc::new(ManualClock::new())) {
                    Ok(p) => {
                        let d = p.backoff().delay(retry);
                        let _ = p.backoff().delay(u32::MAX);
                        prop_assert!(d <= Duration::MAX);
                    }
                    Err(e) => names_a_field(&e)?,
                }
            }
            Ok(())
        },
    );
}
