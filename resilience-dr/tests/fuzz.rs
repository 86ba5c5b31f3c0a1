//! The fuzz suite: resilience-dr's configurations (YAML/JSON, durations at
//! 0, 1 ns, sub-second, `u64::MAX` seconds) and its synchronous evaluators
//! (heartbeat checks, outage votes, in-flight request recovery, lease
//! validation) under random operation sequences with a manual clock that
//! jumps by up to centuries. Each target asserts no panic or overflow,
//! config errors that name the field, and the primitive's invariants after
//! every call.
//!
//! `scripts/test.sh` runs this binary with its output shown: every target
//! prints how many cases it ran. `RESILIENCE_FUZZ_CASES` sets the cases per
//! target (default 256).

mod common;

use common::fuzz_cases;

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use resilience_core::clock::ManualClock;
use resilience_core::config::{self, ConfigError};
use resilience_dr::failover::FailoverConfig;
use resilience_dr::health::{
    HeartbeatConfig, HeartbeatMonitor, OutageConfig, OutageDetector, OutageStatus,
};
use resilience_dr::lease::ElectorConfig;
use resilience_dr::recovery::{InFlightTracker, RecoveryConfig};
use resilience_dr::FailureKind;

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
        panic!("fuzz resilience-dr::{name}: {e}");
    }
    println!(
        "fuzz resilience-dr::{name}: {} cases passed (of {n} planned), no panic",
        ran.get()
    );
}

fn names_a_field(e: &ConfigError) -> Result<(), TestCaseError> {
    match e.field() {
        Some(f) => prop_assert!(!f.is_empty()),
        None => prop_assert!(
            e.to_string().contains("line") || e.to_string().contains("column"),
            "{e}"
        ),
    }
    Ok(())
}

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        4 => (1u64..600).prop_map(Duration::from_secs),
        1 => Just(Duration::ZERO),
        1 => Just(Duration::from_nanos(1)),
        1 => Just(Duration::from_millis(500)),
        1 => Just(Duration::MAX),
        1 => Just(Duration::from_secs(u64::MAX)),
        1 => any::<u64>().prop_map(Duration::from_nanos),
    ]
}

fn duration_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (0u64..600).prop_map(|v| format!("{v}s")),
        1 => prop::sample::select(vec![
            "0s", "1ns", "500ms", "18446744073709551615s", "584942417355years", "-1s", "x", "1day",
        ])
        .prop_map(str::to_string),
    ]
}

/// Clock steps: mostly seconds, sometimes centuries.
fn steps() -> impl Strategy<Value = Vec<(u64, u8, bool)>> {
    let step = prop_oneof![6 => 0u64..120, 1 => Just(0u64), 1 => 0u64..(300 * 365 * 86_400)];
    prop::collection::vec((step, 0u8..4, any::<bool>()), 1..60)
}

#[test]
fn fuzz_config_text() {
    let yaml = prop_oneof![
        any::<Vec<u8>>().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        (duration_text(), duration_text(), 0u64..5, any::<u32>()).prop_map(|(a, b, n, u)| {
            format!(
                "interval: {a}\ntimeout: {b}\nunhealthy_after: {n}\nquorum: {u}\nsustain: {a}\nmax_report_age: {b}\n\
                 max_retries: {u}\nbackoff_base: {a}\nbackoff_cap: {b}\nunknown_field: 1\n"
            )
        }),
    ];
    fuzz("config_text", yaml, |text| {
        // Each config type from the same text: unknown fields are refused,
        // bad durations are parse errors, bad values name their field.
        if let Ok(c) = config::from_yaml_str::<HeartbeatConfig>(&text) {
            if let Err(e) = c.validate() {
                names_a_field(&e)?;
            }
        }
        if let Ok(c) = config::from_yaml_str::<OutageConfig>(&text) {
            if let Err(e) = c.validate(3) {
                names_a_field(&e)?;
            }
        }
        if let Ok(c) = config::from_yaml_str::<RecoveryConfig>(&text) {
            if let Err(e) = c.validate() {
                names_a_field(&e)?;
            }
        }
        let _ = config::from_yaml_str::<FailoverConfig>(&text);
        let _ = config::from_json_str::<FailoverConfig>(&text);
        Ok(())
    });
}

#[test]
fn fuzz_heartbeat_monitor() {
    let input = (
        duration(),
        duration(),
        prop_oneof![Just(0u32), 1u32..5, Just(u32::MAX)],
        steps(),
    );
    fuzz(
        "heartbeat_monitor",
        input,
        |(interval, timeout, after, steps)| {
            let cfg = HeartbeatConfig {
                interval,
                timeout,
                unhealthy_after: after,
            };
            let clock = ManualClock::new();
            let m = match HeartbeatMonitor::with_clock(cfg, clock.clone()) {
                Ok(m) => m,
                Err(e) => return names_a_field(&e),
            };
            for (secs, member, beat) in steps {
                clock.advance(Duration::from_secs(secs));
                if beat {
                    m.register(member);
                    let _ = m.heartbeat(&member);
                }
                let _ = m.check();
                prop_assert!(m.len() <= 4);
            }
            Ok(())
        },
    );
}

#[test]
fn fuzz_outage_detector() {
    let input = (0usize..5, duration(), duration(), steps());
    fuzz(
        "outage_detector",
        input,
        |(quorum, sustain, max_report_age, steps)| {
            let cfg = OutageConfig {
                quorum,
                sustain,
                max_report_age,
            };
            let clock = ManualClock::new();
            let d = match OutageDetector::with_clock(cfg, [0u8, 1, 2, 3], clock.clone()) {
                Ok(d) => d,
                Err(e) => return names_a_field(&e),
            };
            for (secs, vantage, healthy) in steps {
                clock.advance(Duration::from_secs(secs));
                let status = d.report(&vantage, healthy).unwrap();
                // Confirmation needs a quorum of down votes.
                if let OutageStatus::Confirmed { down, .. } | OutageStatus::Suspected { down, .. } =
                    status
                {
                    prop_assert!(down >= quorum && down <= 4);
                }
                prop_assert!(
                    d.report(&9, true).is_err(),
                    "unknown vantage points are refused"
                );
            }
            Ok(())
        },
    );
}

#[test]
fn fuzz_in_flight_tracker() {
    let cfg = (
        prop_oneof![Just(0u32), 1u32..5, Just(u32::MAX)],
        duration(),
        duration(),
        any::<i64>(),
    );
    let ops = prop::collection::vec((0u8..6, 0u8..8, 0u8..3, 0u64..100_000), 1..80);
    fuzz(
        "in_flight_tracker",
        (cfg, ops),
        |((max_retries, backoff_base, backoff_cap, boost), ops)| {
            let cfg = RecoveryConfig {
                max_retries,
                backoff_base,
                backoff_cap,
                priority_boost: boost,
            };
            let clock = ManualClock::new();
            let t: InFlightTracker<u8, u8> = match InFlightTracker::with_clock(cfg, clock.clone()) {
                Ok(t) => t,
                Err(e) => return names_a_field(&e),
            };
            for (op, id, worker, secs) in ops {
                clock.advance(Duration::from_secs(secs));
                match op {
                    0 => {
                        let _ = t.submit(id, i64::from(id) - 4);
                    }
                    1 => {
                        let _ = t.take_next_matching(worker, |_, _| true);
                    }
                    2 => {
                        let _ = t.start(&id);
                    }
                    3 => {
                        let _ = t.complete(&id);
                    }
                    4 => {
                        let kind = [
                            FailureKind::Timeout,
                            FailureKind::OutOfMemory,
                            FailureKind::GpuError,
                        ][usize::from(worker)]
                        .clone();
                        let _ = t.fail_worker(&worker, kind);
                    }
                    _ => {
                        let _ = t.cancel(&id);
                    }
                }
                prop_assert!(t.len() <= 8, "at most one entry per id");
            }
            Ok(())
        },
    );
}

#[test]
fn fuzz_elector_config() {
    let input = (
        duration(),
        prop::option::of(duration()),
        prop::option::of(duration()),
        "[ -~]{0,12}",
        "[ -~]{0,12}",
    );
    fuzz("elector_config", input, |(ttl, renew, retry, name, id)| {
        let mut c = ElectorConfig::new(name, id);
        c.ttl = ttl;
        c.renew_interval = renew;
        c.retry_timeout = retry;
        if let Err(e) = c.validate() {
            names_a_field(&e)?;
        }
        Ok(())
    });
}
