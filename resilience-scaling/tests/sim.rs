//! Simulator: provisioning delay, shortfall, cost, flaps, CSV traces,
//! SVG output and the 7-day timing target.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use resilience_scaling::hpa::Hpa;
use resilience_scaling::rules::RuleEngine;
use resilience_scaling::schedule::Schedule;
use resilience_scaling::sim::{
    FnPolicy, HpaPolicy, RulePolicy, Scheduled, SimConfig, SimError, Simulator, Trace, TraceSpec,
};

fn csv(values: &[f64]) -> Trace {
    let mut s = String::new();
    for (i, v) in values.iter().enumerate() {
        s.push_str(&format!("{i},{v}\n"));
    }
    Trace::from_csv(&s).unwrap()
}

#[test]
fn provisioning_delay_creates_shortfall() {
    // Demand 10 from t=0; 2 replicas of capacity 1; the policy asks for 10 at
    // t=0 and they arrive after 5 s.
    let trace = csv(&[10.0; 20]);
    let sim = Simulator::new(SimConfig {
        initial_replicas: 2,
        provisioning_delay: Duration::from_secs(5),
        decision_interval: Duration::from_secs(1),
        cost_per_replica_hour: 3600.0,
        ..SimConfig::default()
    });
    let r = sim.run(&trace, &mut FnPolicy::new("ten", |_| 10));
    assert_eq!(r.shortfall_seconds, 5.0);
    assert_eq!(r.shortfall, 40.0);
    assert_eq!(r.max_backlog, 40.0);
    assert_eq!((r.scale_ups, r.scale_downs, r.flaps), (1, 0, 0));
    // Billing: 2 replicas for tick 0 (decided after billing), then 10.
    assert_eq!(r.total_cost, 2.0 + 19.0 * 10.0);
    assert_eq!(r.over_provisioning_cost, 0.0);
}

#[test]
fn over_provisioning_and_flaps() {
    let trace = csv(&[1.0; 10]);
    let sim = Simulator::new(SimConfig {
        initial_replicas: 1,
        provisioning_delay: Duration::ZERO,
        decision_interval: Duration::from_secs(1),
        cost_per_replica_hour: 3600.0,
        flap_window: Duration::from_secs(3),
        ..SimConfig::default()
    });
    let mut flip = 0;
    let r = sim.run(
        &trace,
        &mut FnPolicy::new("flip", move |_| {
            flip += 1;
            if flip % 2 == 0 {
                1
            } else {
                3
            }
        }),
    );
    assert_eq!(r.events.len(), 10);
    assert_eq!(r.flaps, 9);
    // 5 ticks with 3 ready (2 idle) after each up-decision... ready changes
    // at the decision, billed next tick.
    assert!(r.over_provisioning_cost > 0.0);
}

#[test]
fn csv_errors_name_the_line() {
    let cases = [
        ("0,1\n1,x\n", 2),
        ("0,1\n1,2\n3,2\n", 3),
        ("0,1,2\n", 1),
        ("5,1\n5,1\n", 2),
        ("0,-1\n", 1),
    ];
    for (text, line) in cases {
        match Trace::from_csv(text) {
            Err(SimError::Csv { line: l, .. }) => assert_eq!(l, line, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
    assert!(Trace::from_csv("unix_seconds,demand\n").is_err());
    let t = Trace::generate(&TraceSpec {
        duration: Duration::from_secs(120),
        step: Duration::from_secs(60),
        ..TraceSpec::default()
    });
    assert_eq!(Trace::from_csv(&t.to_csv()).unwrap().demand.len(), 2);
}

#[test]
fn generated_trace_has_the_gpu_pool_spike() {
    let t = Trace::generate(&TraceSpec::gpu_pool_week_with_spike());
    assert_eq!(t.demand.len(), 604_800);
    let spike_at = 2 * 86_400 + 11 * 3600 + 60;
    let before = t.demand[spike_at - 3600];
    assert!(
        t.demand[spike_at] > 5.0 * before,
        "{} vs {}",
        t.demand[spike_at],
        before
    );
    let peak = t.demand.iter().cloned().fold(0.0, f64::max);
    assert!(peak > 300.0);
}

fn gpu_rules() -> Scheduled<RulePolicy> {
    let engine = RuleEngine::from_yaml(include_str!("../presets/gpu-pool-policy.yaml")).unwrap();
    let schedule = Schedule::from_yaml(include_str!("../presets/gpu-pool-schedule.yaml")).unwrap();
    Scheduled::new(RulePolicy::new(engine), schedule)
}

fn week_config() -> SimConfig {
    SimConfig {
        capacity_per_replica: 0.6,
        initial_replicas: 20,
        provisioning_delay: Duration::from_secs(180),
        decision_interval: Duration::from_secs(1),
        ..SimConfig::default()
    }
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "timing target applies to release builds: cargo test --release"
)]
fn seven_days_at_one_second_under_half_a_second() {
    let trace = Trace::generate(&TraceSpec::gpu_pool_week_with_spike());
    let sim = Simulator::new(week_config());
    let mut rules = gpu_rules();
    let t = Instant::now();
    let r = sim.run(&trace, &mut rules);
    let rules_time = t.elapsed();
    let mut hpa = HpaPolicy::new(
        Hpa::from_manifest_yaml(include_str!("../presets/runtime-engine-hpa.yaml")).unwrap(),
    );
    let t = Instant::now();
    let h = sim.run(&trace, &mut hpa);
    let hpa_time = t.elapsed();
    println!(
        "rules: {rules_time:?} ({})\nhpa: {hpa_time:?} ({})",
        r.summary(),
        h.summary()
    );
    assert_eq!(r.ticks, 604_800);
    assert!(rules_time < Duration::from_millis(500), "{rules_time:?}");
    assert!(hpa_time < Duration::from_millis(500), "{hpa_time:?}");
}

#[test]
fn one_day_comparison_and_svg_file() {
    let trace = Trace::generate(&TraceSpec {
        duration: Duration::from_secs(86_400),
        step: Duration::from_secs(5),
        ..TraceSpec::default()
    });
    let sim = Simulator::new(SimConfig {
        decision_interval: Duration::from_secs(15),
        ..week_config()
    });
    let r = sim.run(&trace, &mut gpu_rules());
    let h = sim.run(
        &trace,
        &mut HpaPolicy::new(
            Hpa::from_manifest_yaml(include_str!("../presets/runtime-engine-hpa.yaml")).unwrap(),
        ),
    );
    assert!(
        r.min_replicas >= 20 && r.max_replicas <= 200,
        "{}",
        r.summary()
    );
    assert!(
        h.min_replicas >= 10 && h.max_replicas <= 500,
        "{}",
        h.summary()
    );
    // The schedule keeps the rules policy at or above 100 % (100 replicas) from 10:00 to 22:00.
    let noon = r.series.iter().find(|p| p.t_hours >= 12.0).unwrap();
    assert!(noon.replicas >= 100.0, "{noon:?}");
    #[cfg(feature = "svg")]
    {
        let dir = std::env::temp_dir().join(format!("resilience-scaling-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("day.svg");
        resilience_scaling::sim::chart::write_svg(&path, "one day", &[&r, &h], (1200, 700))
            .unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("<polyline") || svg.contains("<path"));
        assert!(svg.contains(&r.policy) && svg.contains(&h.policy));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

proptest! {
    #[test]
    fn accounting_is_consistent(
        demand in prop::collection::vec(0.0f64..50.0, 1..300),
        decisions in prop::collection::vec(0u32..40, 1..300),
        delay in 0u64..20, every in 1u64..10, initial in 0u32..20,
    ) {
        let trace = csv(&demand);
        let sim = Simulator::new(SimConfig {
            initial_replicas: initial,
            provisioning_delay: Duration::from_secs(delay),
            decision_interval: Duration::from_secs(every),
            series_points: 50,
            ..SimConfig::default()
        });
        let mut k = 0usize;
        let d2 = decisions.clone();
        let r = sim.run(&trace, &mut FnPolicy::new("p", move |_| { k += 1; d2[(k - 1) % d2.len()] }));
        prop_assert_eq!(r.events.len(), r.scale_ups + r.scale_downs);
        prop_assert!(r.flaps <= r.events.len().saturating_sub(1));
        prop_assert!(r.shortfall >= 0.0 && r.over_provisioning_cost >= 0.0);
        prop_assert!(r.shortfall_seconds <= demand.len() as f64);
        prop_assert!(r.series.len() <= 51);
        for w in r.events.windows(2) {
            prop_assert_eq!(w[0].to, w[1].from);
        }
        let total: f64 = demand.iter().sum();
        prop_assert!(r.shortfall <= total + 1e-9);
    }
}
