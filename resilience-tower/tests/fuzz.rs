//! The fuzz suite: resilience-tower's configurations (a whole stack as
//! YAML with extreme durations and counts, hedging and fault-injection
//! configs) and the stack itself called under tokio's paused clock with
//! random outcomes and latencies. Each target asserts no panic or
//! overflow, config errors that name the field, and that every call ends
//! (a response or a typed error) once time has moved past its deadline.
//!
//! `scripts/test.sh` runs this binary with its output shown: every target
//! prints how many cases it ran. `RESILIENCE_FUZZ_CASES` sets the cases per
//! target (default 256).

mod common;

use common::fuzz_cases;

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use resilience_core::config::{self, ConfigError};
use resilience_tower::chaos::ChaosConfig;
use resilience_tower::hedge::HedgeConfig;
use resilience_tower::stack::ResilienceStack;
use tower::{service_fn, BoxError, Layer, Service, ServiceExt};

thread_local! {
    static EXERCISED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

fn fuzz<S: Strategy>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    EXERCISED.with(|c| c.set(0));
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
        panic!("fuzz resilience-tower::{name}: {e}");
    }
    let valid = EXERCISED.with(|c| c.get());
    println!(
        "fuzz resilience-tower::{name}: {} cases passed (of {n} planned), {valid} with a valid config were run, no panic",
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

fn duration_text() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => (1u64..900).prop_map(|v| format!("{v}ms")),
        1 => prop::sample::select(vec![
            "0s", "1ns", "500ms", "18446744073709551615s", "584942417355years", "x", "1h",
        ])
        .prop_map(str::to_string),
    ]
}

fn count_text() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => (1u64..20).prop_map(|v| v.to_string()),
        1 => prop::sample::select(vec!["0", "4294967295", "4294967296", "-1", "1.5"])
            .prop_map(str::to_string),
    ]
}

fn stack_yaml() -> impl Strategy<Value = String> {
    (
        duration_text(),
        duration_text(),
        duration_text(),
        count_text(),
        count_text(),
        count_text(),
        count_text(),
    )
        .prop_map(|(deadline, initial, timeout, attempts, window, permits, capacity)| {
            format!(
                "deadline: {deadline}\n\
                 retry: {{ backoff: {{ kind: exponential, initial: {initial}, max: 1s, max_attempts: {attempts} }}, \
                 budget: {{ kind: token_bucket, capacity: {capacity} }} }}\n\
                 circuit_breaker: {{ window: {{ count: {window} }}, minimum_calls: {window} }}\n\
                 bulkhead: {{ max_concurrent: {permits} }}\n\
                 timeout: {timeout}\n"
            )
        })
}

#[test]
fn fuzz_stack_configs_and_calls() {
    let calls = prop::collection::vec((any::<bool>(), 0u64..3_000), 1..20);
    fuzz(
        "stack_config_and_calls",
        (stack_yaml(), calls),
        |(yaml, calls)| {
            let stack = match ResilienceStack::from_yaml(&yaml) {
                Ok(s) => {
                    EXERCISED.with(|c| c.set(c.get() + 1));
                    s
                }
                Err(e) => return names_a_field(&e),
            };
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap();
            rt.block_on(async {
                let mut svc = stack.layer(service_fn(|(ok, ms): (bool, u64)| async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    if ok {
                        Ok::<_, BoxError>(ms)
                    } else {
                        Err::<u64, BoxError>("boom".into())
                    }
                }));
                for (ok, ms) in calls {
                    // Every call ends: paused time auto-advances to the next
                    // timer, so a wedged call would hang this test.
                    let ready = svc.ready().await;
                    if let Ok(s) = ready {
                        let _ = s.call((ok, ms)).await;
                    }
                }
            });
            Ok(())
        },
    );
}

#[test]
fn fuzz_hedge_and_chaos_configs() {
    let text = prop_oneof![
        (duration_text(), count_text())
            .prop_map(|(d, n)| format!("delay: {{ fixed: {d} }}\nmax_hedged_attempts: {n}\n")),
        (-1.0f64..2.0, duration_text())
            .prop_map(|(r, d)| format!("error_rate: {r}\nlatency: {{ rate: {r}, delay: {d} }}\n")),
        any::<Vec<u8>>().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ];
    fuzz("hedge_and_chaos_configs", text, |t| {
        if let Ok(c) = config::from_yaml_str::<HedgeConfig>(&t) {
            EXERCISED.with(|n| n.set(n.get() + 1));
            if let Err(e) = c.validate() {
                names_a_field(&e)?;
            }
        }
        if let Ok(c) = config::from_yaml_str::<ChaosConfig>(&t) {
            EXERCISED.with(|n| n.set(n.get() + 1));
            if let Err(e) = c.validate() {
                names_a_field(&e)?;
            }
        }
        Ok(())
    });
}
