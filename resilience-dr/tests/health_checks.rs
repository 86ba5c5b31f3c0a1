//! Active health checks ("/health every 10 s, unhealthy after 3 consecutive
//! failures") and the platforms' outage-detection windows, on a ManualClock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilience_core::clock::ManualClock;
use resilience_dr::health::{HealthCheckEvent, HealthChecker, HealthState, OutageDetector};
use resilience_dr::presets::{self, model_registry, synthetic_data, workflow_runtime};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// One probe round 10 s apart: every due member gets `result(member)`.
fn round(clock: &ManualClock, c: &HealthChecker<&'static str>, result: impl Fn(&str) -> bool) {
    clock.advance(secs(10));
    for m in c.due() {
        c.record(&m, result(m));
    }
}

#[test]
fn health_endpoint_failing_3_consecutive_probes_10s_apart_removes_the_member() {
    let clock = ManualClock::new();
    let c =
        HealthChecker::with_clock(model_registry::registry_health_check(), clock.clone()).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    c.listeners()
        .add_fn(move |e: &HealthCheckEvent<&str>| sink.lock().unwrap().push((e.member, e.to)));
    for m in ["registry-1", "registry-2", "registry-3"] {
        c.register(m);
    }
    // registry-2 answers every probe, but with a failure.
    round(&clock, &c, |m| m != "registry-2");
    assert_eq!(
        c.status(&"registry-2").unwrap().state,
        HealthState::Suspect,
        "1 failed probe: suspect, still routable"
    );
    round(&clock, &c, |m| m != "registry-2");
    assert_eq!(
        c.routable().len(),
        3,
        "2 failed probes: still in the load balancer (unhealthy after 3)"
    );
    round(&clock, &c, |m| m != "registry-2");
    assert_eq!(
        c.unhealthy(),
        vec!["registry-2"],
        "unhealthy after 3 consecutive failures, 10 s apart"
    );
    assert_eq!(c.routable(), vec!["registry-1", "registry-3"]);
    assert_eq!(c.status(&"registry-2").unwrap().consecutive_failures, 3);
    // The member answered every time: silence had nothing to do with it.
    assert!(c.check().is_empty(), "no probe was missed");
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            ("registry-2", HealthState::Suspect),
            ("registry-2", HealthState::Unhealthy)
        ]
    );
    // One passed probe brings it back.
    round(&clock, &c, |_| true);
    assert_eq!(
        c.routable().len(),
        3,
        "healthy again after one passed probe"
    );
}

#[test]
fn a_pass_between_failures_resets_the_count_of_3() {
    let clock = ManualClock::new();
    let c =
        HealthChecker::with_clock(model_registry::registry_health_check(), clock.clone()).unwrap();
    c.register("r");
    for passed in [false, false, true, false, false] {
        round(&clock, &c, |_| passed);
    }
    assert_eq!(
        c.status(&"r").unwrap().state,
        HealthState::Suspect,
        "failures must be 3 consecutive: F F P F F is not unhealthy"
    );
    round(&clock, &c, |_| false);
    assert_eq!(c.status(&"r").unwrap().state, HealthState::Unhealthy);
}

#[test]
fn an_unhealthy_member_needs_healthy_threshold_passes_to_return() {
    let clock = ManualClock::new();
    let mut cfg = model_registry::registry_health_check();
    cfg.healthy_threshold = 2;
    let c = HealthChecker::with_clock(cfg, clock.clone()).unwrap();
    c.register("r");
    for _ in 0..3 {
        round(&clock, &c, |_| false);
    }
    round(&clock, &c, |_| true);
    assert_eq!(
        c.status(&"r").unwrap().state,
        HealthState::Unhealthy,
        "1 of 2 passes: still out of the pool"
    );
    round(&clock, &c, |_| false);
    round(&clock, &c, |_| true);
    assert_eq!(
        c.status(&"r").unwrap().state,
        HealthState::Unhealthy,
        "the passes must be consecutive"
    );
    round(&clock, &c, |_| true);
    assert_eq!(c.status(&"r").unwrap().state, HealthState::Healthy);
}

#[test]
fn probes_are_due_every_10_seconds() {
    let clock = ManualClock::new();
    let c =
        HealthChecker::with_clock(model_registry::registry_health_check(), clock.clone()).unwrap();
    c.register("r");
    assert_eq!(c.due(), vec!["r"], "first probe at once");
    c.record(&"r", true);
    clock.advance(secs(9));
    assert!(c.due().is_empty(), "next probe 10 s later, not at 9 s");
    clock.advance(secs(1));
    assert_eq!(c.due(), vec!["r"], "next probe at 10 s");
}

#[test]
fn probes_that_never_come_back_count_as_failures() {
    let clock = ManualClock::new();
    let c =
        HealthChecker::with_clock(model_registry::registry_health_check(), clock.clone()).unwrap();
    c.register("hung");
    c.record(&"hung", true);
    clock.advance(secs(34));
    assert!(
        c.check().is_empty(),
        "3 probes of 10 s + 5 s timeout not yet missed"
    );
    clock.advance(secs(1));
    let events = c.check();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].to, HealthState::Unhealthy);
    assert_eq!(
        events[0].consecutive_failures, 3,
        "3 missed probes count as 3 failures"
    );
}

#[test]
fn health_check_config_errors_name_the_field() {
    let mut bad = model_registry::registry_health_check();
    bad.timeout = secs(11);
    let e = HealthChecker::<u8>::with_clock(bad, ManualClock::new()).unwrap_err();
    assert_eq!(e.field(), Some("timeout"));
    let mut bad = model_registry::registry_health_check();
    bad.interval = Duration::ZERO;
    let e = HealthChecker::<u8>::with_clock(bad, ManualClock::new()).unwrap_err();
    assert_eq!(e.field(), Some("interval"));
}

/// Two of three vantage points report down every 10 s; returns the first
/// elapsed second at which the outage is confirmed.
fn confirm_after(cfg: resilience_dr::health::OutageConfig) -> u64 {
    let clock = ManualClock::new();
    let d = OutageDetector::with_clock(cfg, ["east", "west", "eu"], clock.clone()).unwrap();
    let mut t = 0;
    loop {
        d.report(&"east", false).unwrap();
        let s = d.report(&"west", false).unwrap();
        d.report(&"eu", true).unwrap();
        if s.is_confirmed() {
            return t;
        }
        assert!(t < 3600, "never confirmed");
        clock.advance(secs(10));
        t += 10;
    }
}

#[test]
fn outage_detection_windows_of_the_platforms() {
    assert_eq!(
        confirm_after(presets::region_outage()),
        300,
        "default: confirmed after 5 min of agreement"
    );
    assert_eq!(
        confirm_after(synthetic_data::region_outage()),
        300,
        "the synthetic-data platform: unhealthy for > 5 minutes"
    );
    assert_eq!(
        confirm_after(model_registry::region_outage()),
        180,
        "the model registry: health check failures > 3 minutes"
    );
    assert_eq!(
        confirm_after(workflow_runtime::region_outage()),
        30,
        "the workflow runtime: detection within 30 seconds"
    );
}

#[test]
fn one_vantage_point_never_confirms_an_outage() {
    for cfg in [
        presets::region_outage(),
        model_registry::region_outage(),
        workflow_runtime::region_outage(),
    ] {
        let clock = ManualClock::new();
        let d = OutageDetector::with_clock(cfg, ["a", "b", "c"], clock.clone()).unwrap();
        for _ in 0..60 {
            d.report(&"a", false).unwrap();
            d.report(&"b", true).unwrap();
            d.report(&"c", true).unwrap();
            clock.advance(secs(10));
        }
        assert!(
            !d.status().is_confirmed(),
            "multiple probes must confirm: one vantage point is not enough"
        );
    }
}

#[test]
fn health_checks_feed_the_outage_detector() {
    // Each region's checker is one vantage point's view of the primary.
    let clock = ManualClock::new();
    let d = OutageDetector::with_clock(
        workflow_runtime::region_outage(),
        ["probe-a", "probe-b"],
        clock.clone(),
    )
    .unwrap();
    let checkers: Vec<HealthChecker<&str>> = (0..2)
        .map(|_| {
            HealthChecker::with_clock(model_registry::registry_health_check(), clock.clone())
                .unwrap()
        })
        .collect();
    let mut confirmed_at = None;
    for step in 1..=10u64 {
        clock.advance(secs(10));
        for (c, v) in checkers.iter().zip(["probe-a", "probe-b"]) {
            c.record(&"primary", false);
            let healthy = c.status(&"primary").unwrap().state != HealthState::Unhealthy;
            if d.report(&v, healthy).unwrap().is_confirmed() && confirmed_at.is_none() {
                confirmed_at = Some(step * 10);
            }
        }
    }
    assert_eq!(
        confirmed_at,
        Some(60),
        "3 failed probes (30 s) make each view unhealthy, then 30 s of agreement confirm"
    );
}

mod model {
    //! The health checker against a direct model of its documented rules.

    use std::collections::BTreeMap;
    use std::time::Duration;

    use proptest::prelude::*;
    use resilience_core::clock::ManualClock;
    use resilience_dr::health::{HealthCheckConfig, HealthChecker, HealthState};

    #[derive(Debug, Clone)]
    enum Op {
        Record(u8, bool),
        Advance(u64),
        Check,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..3, any::<bool>()).prop_map(|(m, p)| Op::Record(m, p)),
            2 => (0u64..25).prop_map(Op::Advance),
            1 => Just(Op::Check),
        ]
    }

    #[derive(Debug, Clone, Copy)]
    struct M {
        state: HealthState,
        failures: u32,
        successes: u32,
        last: u64,
    }

    proptest! {
        #[test]
        fn checker_matches_the_model(
            unhealthy in 1u32..5,
            healthy in 1u32..4,
            ops in prop::collection::vec(op(), 1..80),
        ) {
            let cfg = HealthCheckConfig {
                unhealthy_threshold: unhealthy,
                healthy_threshold: healthy,
                ..HealthCheckConfig::default()
            };
            let limit = u64::from(unhealthy) * 10 + 5;
            let clock = ManualClock::new();
            let c = HealthChecker::with_clock(cfg, clock.clone()).unwrap();
            let mut model: BTreeMap<u8, M> = BTreeMap::new();
            let mut now = 0u64;
            for op in ops {
                match op {
                    Op::Advance(s) => {
                        clock.advance(Duration::from_secs(s));
                        now += s;
                    }
                    Op::Record(k, passed) => {
                        let m = model.entry(k).or_insert(M {
                            state: HealthState::Healthy, failures: 0, successes: 0, last: now,
                        });
                        m.last = now;
                        let before = m.state;
                        if passed {
                            m.successes += 1;
                            if before == HealthState::Suspect
                                || (before == HealthState::Unhealthy && m.successes >= healthy)
                            {
                                m.state = HealthState::Healthy;
                                m.failures = 0;
                            } else if before == HealthState::Healthy {
                                m.failures = 0;
                            }
                        } else {
                            m.successes = 0;
                            m.failures += 1;
                            m.state = if m.failures >= unhealthy || before == HealthState::Unhealthy {
                                HealthState::Unhealthy
                            } else {
                                HealthState::Suspect
                            };
                        }
                        let event = c.record(&k, passed);
                        prop_assert_eq!(event.map(|e| e.to), (m.state != before).then_some(m.state));
                    }
                    Op::Check => {
                        let mut expected = Vec::new();
                        for (k, m) in model.iter_mut() {
                            let silent = now - m.last;
                            if silent >= limit && m.state != HealthState::Unhealthy {
                                m.failures = (m.failures + (silent / 10) as u32).max(unhealthy);
                                m.successes = 0;
                                m.state = HealthState::Unhealthy;
                                expected.push(*k);
                            }
                        }
                        let got: Vec<u8> = c.check().into_iter().map(|e| e.member).collect();
                        prop_assert_eq!(got, expected);
                    }
                }
                for (k, m) in &model {
                    let s = c.status(k).unwrap();
                    prop_assert_eq!(s.state, m.state, "member {}", k);
                    prop_assert_eq!(s.consecutive_failures, m.failures);
                    // Never routable while unhealthy; unhealthy only with enough failures.
                    prop_assert_eq!(c.routable().contains(k), m.state != HealthState::Unhealthy);
                    if s.state == HealthState::Unhealthy {
                        prop_assert!(s.consecutive_failures >= unhealthy);
                    }
                }
            }
        }
    }
}
