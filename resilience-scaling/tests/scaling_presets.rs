//! The platforms' scaling presets, driven through the rule engine: every
//! row's trigger (strict threshold, hold time), step, bounds and cooldowns
//! as the platform's table gives them.

mod common;

use common::secs;

use std::time::Instant;

use resilience_scaling::lag::{LagReading, LagScaler};
use resilience_scaling::presets::{
    data_platform, gpu_inference, model_registry, synthetic_data, workflow_runtime,
};
use resilience_scaling::rules::{RuleEngine, RulePolicyConfig, RuleReason};

type Values = &'static [(&'static str, f64)];

/// One table row, as the platform writes it.
struct Row {
    /// The trigger, in words, for messages ("queue depth > 50").
    trigger: &'static str,
    /// Readings that fire the trigger.
    fire: Values,
    /// Readings exactly at the threshold (must not fire: thresholds are strict).
    at: Values,
    /// Seconds the trigger must hold.
    hold: u64,
    /// Replicas per scale-up.
    step: u32,
    min: u32,
    max: u32,
    /// Seconds between scale-ups.
    cooldown_up: u64,
    /// Readings that make every scale-down rule fire.
    quiet: Values,
    /// Seconds the scale-down readings must hold.
    down_hold: u64,
    /// Replicas per scale-down.
    down_step: u32,
    /// Seconds after a scaling before a scale-down.
    cooldown_down: u64,
}

fn engine(cfg: &RulePolicyConfig) -> RuleEngine {
    RuleEngine::new(cfg.clone()).expect("the preset validates")
}

fn check(name: &str, cfg: RulePolicyConfig, row: Row) {
    let t0 = Instant::now();
    let (min, max, step) = (row.min, row.max, row.step);

    // Bounds: below the minimum is raised at once, above the maximum lowered.
    let mut e = engine(&cfg);
    if min > 0 {
        let d = e.evaluate_named(t0, min - 1, &[]);
        assert_eq!(d.replicas, min, "{name}: the minimum is {min}");
        assert_eq!(d.reason, RuleReason::RaisedToMinimum, "{name}");
    }
    let d = e.evaluate_named(t0 + secs(1), max + 1, &[]);
    assert_eq!(d.replicas, max, "{name}: the maximum is {max}");

    // A reading exactly at the threshold never fires.
    let mid = min.max(1) + 1;
    let mut e = engine(&cfg);
    for s in [0, row.hold, row.hold + row.cooldown_up + 1] {
        let d = e.evaluate_named(t0 + secs(s), mid, row.at);
        assert_eq!(
            d.replicas, mid,
            "{name}: `{}` is strict: at the threshold nothing fires ({})",
            row.trigger, d.reason
        );
    }

    // Past the threshold: nothing until the hold time, then +step.
    let mut e = engine(&cfg);
    if row.hold > 0 {
        e.evaluate_named(t0, mid, row.fire);
        let d = e.evaluate_named(t0 + secs(row.hold - 1), mid, row.fire);
        assert_eq!(
            d.replicas, mid,
            "{name}: `{}` must hold {} s first",
            row.trigger, row.hold
        );
    }
    let t_up = t0 + secs(row.hold);
    let d = e.evaluate_named(t_up, mid, row.fire);
    assert_eq!(
        d.replicas,
        mid + step,
        "{name}: `{}` held {} s adds {step} ({})",
        row.trigger,
        row.hold,
        d.reason
    );
    assert!(matches!(d.reason, RuleReason::ScaleUp { .. }), "{name}");

    // The next step waits out cooldown_up.
    let now = mid + step;
    if row.cooldown_up > 0 {
        let d = e.evaluate_named(t_up + secs(row.cooldown_up - 1), now, row.fire);
        assert_eq!(
            d.replicas, now,
            "{name}: {} s between scale-ups",
            row.cooldown_up
        );
        assert!(
            matches!(d.reason, RuleReason::CooldownUp { .. }),
            "{name}: {}",
            d.reason
        );
    }
    let d = e.evaluate_named(t_up + secs(row.cooldown_up), now, row.fire);
    assert_eq!(
        d.replicas,
        (now + step).min(max),
        "{name}: after {} s the next +{step}",
        row.cooldown_up
    );

    // Never above the maximum.
    let mut e = engine(&cfg);
    if row.hold > 0 {
        e.evaluate_named(t0, max, row.fire);
    }
    let d = e.evaluate_named(t0 + secs(row.hold), max, row.fire);
    assert_eq!(d.replicas, max, "{name}: capped at {max}");
    assert!(
        matches!(d.reason, RuleReason::AtMaximum { .. }),
        "{name}: {}",
        d.reason
    );

    // Scale-down: the quiet readings for their hold time, then -down_step;
    // the next one waits for cooldown_down; never below the minimum.
    let high = (min + 2 * row.down_step + 1).min(max);
    let mut e = engine(&cfg);
    e.evaluate_named(t0, high, row.quiet);
    let d = e.evaluate_named(t0 + secs(row.down_hold - 1), high, row.quiet);
    assert_eq!(
        d.replicas, high,
        "{name}: quiet for {} s first",
        row.down_hold
    );
    let t_down = t0 + secs(row.down_hold);
    let d = e.evaluate_named(t_down, high, row.quiet);
    let lower = high.saturating_sub(row.down_step).max(min);
    assert_eq!(
        d.replicas, lower,
        "{name}: quiet {} s removes {} ({})",
        row.down_hold, row.down_step, d.reason
    );
    if row.cooldown_down > 0 && lower > min {
        let d = e.evaluate_named(t_down + secs(row.cooldown_down - 1), lower, row.quiet);
        assert_eq!(
            d.replicas, lower,
            "{name}: {} s after a scaling before the next scale-down",
            row.cooldown_down
        );
        let d = e.evaluate_named(t_down + secs(row.cooldown_down), lower, row.quiet);
        assert_eq!(
            d.replicas,
            lower.saturating_sub(row.down_step).max(min),
            "{name}: scale-down after {} s",
            row.cooldown_down
        );
    }
    let mut e = engine(&cfg);
    e.evaluate_named(t0, min.max(1), row.quiet);
    let d = e.evaluate_named(t0 + secs(row.down_hold), min.max(1), row.quiet);
    assert!(d.replicas >= min, "{name}: never below {min}");
}

// ---------------------------------------------------------------- item: the data platform's ingestion policy

#[test]
fn ingestion_cpu_over_80_percent_for_5_minutes_adds_2_within_3_to_200() {
    let cfg = data_platform::ingestion_workers();
    let t0 = Instant::now();
    let mut e = engine(&cfg);
    let hot = [("cpu_utilization", 85.0), ("queue_depth", 500.0)];
    for s in (0..300).step_by(15) {
        let d = e.evaluate_named(t0 + secs(s), 10, &hot);
        assert_eq!(d.replicas, 10, "CPU > 80 % must hold 5 min; at {s} s");
    }
    let d = e.evaluate_named(t0 + secs(300), 10, &hot);
    assert_eq!(d.replicas, 12, "CPU > 80 % for 5 min adds 2 ({})", d.reason);
    // A dip to 80 % (not above) restarts the 5 minutes.
    let mut e = engine(&cfg);
    e.evaluate_named(t0, 10, &hot);
    e.evaluate_named(t0 + secs(200), 10, &[("cpu_utilization", 80.0)]);
    let d = e.evaluate_named(t0 + secs(300), 10, &hot);
    assert_eq!(d.replicas, 10, "80 % is not above 80 %: the hold restarts");
    let d = e.evaluate_named(t0 + secs(599), 10, &hot);
    assert_eq!(
        d.replicas, 10,
        "CPU > 80 % again since 300 s: not 5 min yet"
    );
    let d = e.evaluate_named(t0 + secs(600), 10, &hot);
    assert_eq!(d.replicas, 12, "5 min above 80 % after the dip: +2");
    // Bounds 3..200.
    let mut e = engine(&cfg);
    assert_eq!(
        e.evaluate_named(t0, 1, &[]).replicas,
        3,
        "minimum 3 instances"
    );
    let mut e = engine(&cfg);
    e.evaluate_named(t0, 199, &hot);
    let d = e.evaluate_named(t0 + secs(300), 199, &hot);
    assert_eq!(
        d.replicas, 200,
        "maximum 200 instances: +2 from 199 stops at 200"
    );
    assert_eq!(
        e.evaluate_named(t0 + secs(900), 200, &hot).replicas,
        200,
        "maximum 200 instances"
    );
    let mut e = engine(&cfg);
    let quiet = [("queue_depth", 10.0), ("cpu_utilization", 5.0)];
    e.evaluate_named(t0, 4, &quiet);
    assert_eq!(
        e.evaluate_named(t0 + secs(600), 4, &quiet).replicas,
        3,
        "queue < 100 for 10 min removes 2, floored at the minimum of 3"
    );
}

#[test]
fn ingestion_queue_and_cpu_rules_the_larger_step_wins() {
    let mut e = engine(&data_platform::ingestion_workers());
    let t0 = Instant::now();
    let both = [("cpu_utilization", 95.0), ("queue_depth", 5000.0)];
    e.evaluate_named(t0, 10, &both);
    let d = e.evaluate_named(t0 + secs(120), 10, &both);
    assert_eq!(d.replicas, 15, "queue depth > 1000 for 2 min adds 5");
    let d = e.evaluate_named(t0 + secs(300), 15, &both);
    assert!(
        matches!(d.reason, RuleReason::CooldownUp { .. }),
        "cooldown 5 min: {}",
        d.reason
    );
    let d = e.evaluate_named(t0 + secs(420), 15, &both);
    assert_eq!(
        d.replicas, 20,
        "after the 5 min cooldown, +5 (the larger step)"
    );
}

// ---------------------------------------------------------------- item: the GPU inference platform's pool

fn gpu() -> RuleEngine {
    engine(&gpu_inference::gpu_pool())
}

/// `metric` above its threshold for `hold` s adds 5 to 40 workers, not before.
fn gpu_trigger(metric: &str, value: f64, hold: u64) {
    let t0 = Instant::now();
    let mut e = gpu();
    e.evaluate_named(t0, 40, &[(metric, value)]);
    let d = e.evaluate_named(t0 + secs(hold - 1), 40, &[(metric, value)]);
    assert_eq!(d.replicas, 40, "{metric} must hold {hold} s");
    let d = e.evaluate_named(t0 + secs(hold), 40, &[(metric, value)]);
    assert_eq!(d.replicas, 45, "{metric} = {value} for {hold} s adds 5");
}

#[test]
fn gpu_pool_fast_and_relax_queue_depth_triggers() {
    gpu_trigger("fast_queue_depth", 51.0, 60);
    gpu_trigger("relax_queue_depth", 501.0, 120);
    // At the thresholds (50, 500) nothing fires, however long.
    let t0 = Instant::now();
    let mut e = gpu();
    for s in [0, 60, 200, 600] {
        let d = e.evaluate_named(
            t0 + secs(s),
            40,
            &[("fast_queue_depth", 50.0), ("relax_queue_depth", 500.0)],
        );
        assert_eq!(d.replicas, 40, "fast > 50, relax > 500 are strict");
    }
}

#[test]
fn gpu_pool_fast_and_relax_wait_time_triggers() {
    gpu_trigger("fast_avg_wait", 16.0, 60);
    gpu_trigger("relax_avg_wait", 301.0, 120);
    let t0 = Instant::now();
    let mut e = gpu();
    for s in [0, 120, 600] {
        let d = e.evaluate_named(
            t0 + secs(s),
            40,
            &[("fast_avg_wait", 15.0), ("relax_avg_wait", 300.0)],
        );
        assert_eq!(
            d.replicas, 40,
            "fast wait > 15 s, relax wait > 5 min are strict"
        );
    }
}

#[test]
fn gpu_pool_cooldown_up_is_120_seconds() {
    let t0 = Instant::now();
    let mut e = gpu();
    let hot = [("fast_queue_depth", 80.0)];
    e.evaluate_named(t0, 40, &hot);
    assert_eq!(e.evaluate_named(t0 + secs(60), 40, &hot).replicas, 45);
    let d = e.evaluate_named(t0 + secs(179), 45, &hot);
    assert_eq!(d.replicas, 45, "cooldown_up 120 s: no second step at 119 s");
    match d.reason {
        RuleReason::CooldownUp { remaining, .. } => {
            assert_eq!(remaining, secs(1), "cooldown_up 120 s: 1 s left at 119 s")
        }
        other => panic!("expected the 120 s cooldown, got {other}"),
    }
    assert_eq!(
        e.evaluate_named(t0 + secs(180), 45, &hot).replicas,
        50,
        "cooldown_up 120 s: the next +5 at 120 s"
    );
}

// ---------------------------------------------------------------- constructors and YAML files agree

#[test]
fn constructors_match_the_yaml_presets() {
    let yaml = |t: &str| -> RulePolicyConfig { resilience_core::config::from_yaml_str(t).unwrap() };
    assert_eq!(
        data_platform::ingestion_workers(),
        yaml(include_str!("../presets/ingestion-workers.yaml"))
    );
    assert_eq!(
        gpu_inference::gpu_pool(),
        yaml(include_str!("../presets/gpu-pool-policy.yaml"))
    );
    let lag: resilience_scaling::lag::LagScalerConfig =
        resilience_core::config::from_yaml_str(include_str!("../presets/consumer-lag.yaml"))
            .unwrap();
    assert_eq!(model_registry::ground_truth_consumers(), lag);
}

// ---------------------------------------------------------------- the synthetic-data platform's matrix

#[test]
fn synthetic_data_api_gateway_request_rate_over_1000_within_3_to_20() {
    check(
        "API gateway",
        synthetic_data::api_gateway(),
        Row {
            trigger: "request rate > 1000/s",
            fire: &[("request_rate", 1200.0)],
            at: &[("request_rate", 1000.0)],
            hold: 0,
            step: 1,
            min: 3,
            max: 20,
            cooldown_up: 60,
            quiet: &[("request_rate", 400.0)],
            down_hold: 600,
            down_step: 1,
            cooldown_down: 300,
        },
    );
}

#[test]
fn synthetic_data_training_workers_queue_over_10_within_0_to_100() {
    check(
        "training workers",
        synthetic_data::training_workers(),
        Row {
            trigger: "queue depth > 10",
            fire: &[("queue_depth", 11.0)],
            at: &[("queue_depth", 10.0)],
            hold: 0,
            step: 1,
            min: 0,
            max: 100,
            cooldown_up: 60,
            quiet: &[("queue_depth", 4.0)],
            down_hold: 600,
            down_step: 1,
            cooldown_down: 300,
        },
    );
}

#[test]
fn synthetic_data_generation_workers_queue_over_50_within_2_to_50() {
    check(
        "generation workers",
        synthetic_data::generation_workers(),
        Row {
            trigger: "queue depth > 50",
            fire: &[("queue_depth", 51.0)],
            at: &[("queue_depth", 50.0)],
            hold: 0,
            step: 1,
            min: 2,
            max: 50,
            cooldown_up: 60,
            quiet: &[("queue_depth", 20.0)],
            down_hold: 600,
            down_step: 1,
            cooldown_down: 300,
        },
    );
}

#[test]
fn synthetic_data_quality_workers_validation_queue_over_20_within_2_to_30() {
    check(
        "quality workers",
        synthetic_data::quality_workers(),
        Row {
            trigger: "validation queue > 20",
            fire: &[("validation_queue_depth", 21.0)],
            at: &[("validation_queue_depth", 20.0)],
            hold: 0,
            step: 1,
            min: 2,
            max: 30,
            cooldown_up: 60,
            quiet: &[("validation_queue_depth", 9.0)],
            down_hold: 600,
            down_step: 1,
            cooldown_down: 300,
        },
    );
}

#[test]
fn synthetic_data_metadata_db_replicas_cpu_or_connections_within_1_to_5() {
    for fire in [
        &[("cpu_utilization", 71.0)][..],
        &[("connection_count", 401.0)][..],
    ] {
        check(
            "metadata DB replicas",
            synthetic_data::metadata_db_replicas(70.0, 400.0),
            Row {
                trigger: "CPU > 70 % or connections > 400 (the host's numbers)",
                fire: leak(fire),
                at: &[("cpu_utilization", 70.0), ("connection_count", 400.0)],
                hold: 0,
                step: 1,
                min: 1,
                max: 5,
                cooldown_up: 60,
                quiet: &[("cpu_utilization", 20.0), ("connection_count", 100.0)],
                down_hold: 600,
                down_step: 1,
                cooldown_down: 300,
            },
        );
    }
}

fn leak(v: &[(&'static str, f64)]) -> Values {
    Box::leak(v.to_vec().into_boxed_slice())
}

#[test]
fn synthetic_data_redis_memory_over_80_percent_within_3_to_12() {
    check(
        "Redis cache",
        synthetic_data::redis_cache(),
        Row {
            trigger: "memory > 80 %",
            fire: &[("memory_utilization", 81.0)],
            at: &[("memory_utilization", 80.0)],
            hold: 0,
            step: 1,
            min: 3,
            max: 12,
            cooldown_up: 60,
            quiet: &[("memory_utilization", 30.0)],
            down_hold: 600,
            down_step: 1,
            cooldown_down: 300,
        },
    );
}

// ---------------------------------------------------------------- the data platform's scaling dimensions

#[test]
fn data_platform_api_servers_cpu_70_or_latency_200ms_add_2_within_3_to_50() {
    for fire in [
        &[("cpu_utilization", 71.0)][..],
        &[("latency_ms", 201.0)][..],
    ] {
        check(
            "API servers",
            data_platform::api_servers(),
            Row {
                trigger: "CPU > 70 % or latency > 200 ms",
                fire: leak(fire),
                at: &[("cpu_utilization", 70.0), ("latency_ms", 200.0)],
                hold: 0,
                step: 2,
                min: 3,
                max: 50,
                cooldown_up: 300,
                quiet: &[("cpu_utilization", 30.0), ("latency_ms", 50.0)],
                down_hold: 600,
                down_step: 1,
                cooldown_down: 300,
            },
        );
    }
}

#[test]
fn data_platform_ingestion_workers_queue_over_1000_for_2_minutes_adds_5() {
    check(
        "ingestion workers",
        data_platform::ingestion_workers(),
        Row {
            trigger: "queue depth > 1000 for 2 min",
            fire: &[("queue_depth", 1001.0)],
            at: &[("queue_depth", 1000.0)],
            hold: 120,
            step: 5,
            min: 3,
            max: 200,
            cooldown_up: 300,
            quiet: &[("queue_depth", 99.0)],
            down_hold: 600,
            down_step: 2,
            cooldown_down: 300,
        },
    );
}

#[test]
fn data_platform_transform_workers_job_queue_over_50_adds_3_within_5_to_100() {
    check(
        "transform workers",
        data_platform::transform_workers(),
        Row {
            trigger: "job queue > 50",
            fire: &[("job_queue_depth", 51.0)],
            at: &[("job_queue_depth", 50.0)],
            hold: 0,
            step: 3,
            min: 5,
            max: 100,
            cooldown_up: 300,
            quiet: &[("job_queue_depth", 10.0)],
            down_hold: 600,
            down_step: 1,
            cooldown_down: 300,
        },
    );
}

#[test]
fn data_platform_cdc_lag_over_10s_adds_1_per_lagging_partition_up_to_500() {
    check(
        "CDC processors",
        data_platform::cdc_processors(),
        Row {
            trigger: "consumer lag > 10 s (one lagging partition)",
            fire: &[("consumer_lag_seconds", 11.0), ("partitions_lagging", 1.0)],
            at: &[("consumer_lag_seconds", 10.0), ("partitions_lagging", 1.0)],
            hold: 0,
            step: 1,
            min: 10,
            max: 500,
            cooldown_up: 300,
            quiet: &[("consumer_lag_seconds", 2.0)],
            down_hold: 600,
            down_step: 1,
            cooldown_down: 300,
        },
    );
    // +1 per partition: 24 lagging partitions add 24, capped at 500.
    let t0 = Instant::now();
    let mut e = engine(&data_platform::cdc_processors());
    let lagging = [("consumer_lag_seconds", 40.0), ("partitions_lagging", 24.0)];
    let d = e.evaluate_named(t0, 100, &lagging);
    assert_eq!(
        d.replicas, 124,
        "+1 per lagging partition: 24 partitions add 24"
    );
    let d = e.evaluate_named(t0 + secs(300), 490, &lagging);
    assert_eq!(d.replicas, 500, "up to 500 processors");
}

#[test]
fn data_platform_anomaly_detectors_check_latency_over_5s_add_2_up_to_20() {
    check(
        "anomaly detectors",
        data_platform::anomaly_detectors(),
        Row {
            trigger: "check latency > 5 s",
            fire: &[("check_latency_seconds", 5.5)],
            at: &[("check_latency_seconds", 5.0)],
            hold: 0,
            step: 2,
            min: 1,
            max: 20,
            cooldown_up: 300,
            quiet: &[("check_latency_seconds", 1.0)],
            down_hold: 600,
            down_step: 1,
            cooldown_down: 300,
        },
    );
}

#[test]
fn data_platform_schema_mappers_request_queue_over_20_up_to_10() {
    check(
        "schema mappers",
        data_platform::schema_mappers(),
        Row {
            trigger: "request queue > 20",
            fire: &[("request_queue_depth", 21.0)],
            at: &[("request_queue_depth", 20.0)],
            hold: 0,
            step: 1,
            min: 1,
            max: 10,
            cooldown_up: 300,
            quiet: &[("request_queue_depth", 3.0)],
            down_hold: 600,
            down_step: 1,
            cooldown_down: 300,
        },
    );
}

// ---------------------------------------------------------------- the model registry

#[test]
fn model_registry_service_cpu_70_for_5_minutes_p99_200ms_or_queue_100() {
    let quiet: Values = &[
        ("cpu_utilization", 20.0),
        ("p99_latency_ms", 40.0),
        ("request_queue_depth", 10.0),
    ];
    let at: Values = &[
        ("cpu_utilization", 70.0),
        ("p99_latency_ms", 200.0),
        ("request_queue_depth", 100.0),
    ];
    for (trigger, fire, hold) in [
        (
            "CPU > 70 % for 5 min",
            &[("cpu_utilization", 71.0)][..],
            300,
        ),
        ("p99 latency > 200 ms", &[("p99_latency_ms", 201.0)][..], 0),
        (
            "request queue > 100",
            &[("request_queue_depth", 101.0)][..],
            0,
        ),
    ] {
        check(
            "registry service",
            model_registry::registry_service(),
            Row {
                trigger,
                fire: leak(fire),
                at,
                hold,
                step: 1,
                min: 3,
                max: 8,
                cooldown_up: 60,
                quiet,
                down_hold: 600,
                down_step: 1,
                cooldown_down: 300,
            },
        );
    }
}

#[test]
fn model_registry_read_replicas_read_qps_over_100() {
    check(
        "registry read replicas",
        model_registry::registry_read_replicas(2, 6),
        Row {
            trigger: "read QPS > 100",
            fire: &[("read_qps", 101.0)],
            at: &[("read_qps", 100.0)],
            hold: 0,
            step: 1,
            min: 2,
            max: 6,
            cooldown_up: 60,
            quiet: &[("read_qps", 30.0)],
            down_hold: 600,
            down_step: 1,
            cooldown_down: 300,
        },
    );
}

#[test]
fn model_registry_dependency_service_query_latency_over_200ms() {
    check(
        "dependency service",
        model_registry::dependency_service(3, 7),
        Row {
            trigger: "query latency > 200 ms",
            fire: &[("query_latency_ms", 250.0)],
            at: &[("query_latency_ms", 200.0)],
            hold: 0,
            step: 1,
            min: 3,
            max: 7,
            cooldown_up: 60,
            quiet: &[("query_latency_ms", 50.0)],
            down_hold: 600,
            down_step: 1,
            cooldown_down: 300,
        },
    );
}

#[test]
fn model_registry_retrain_service_concurrent_jobs_over_20() {
    check(
        "retrain service",
        model_registry::retrain_service(1, 6),
        Row {
            trigger: "concurrent jobs > 20",
            fire: &[("concurrent_jobs", 21.0)],
            at: &[("concurrent_jobs", 20.0)],
            hold: 0,
            step: 1,
            min: 1,
            max: 6,
            cooldown_up: 60,
            quiet: &[("concurrent_jobs", 5.0)],
            down_hold: 600,
            down_step: 1,
            cooldown_down: 300,
        },
    );
}

#[test]
fn model_registry_ground_truth_consumers_lag_300s_up_30s_down_4_to_32() {
    let mut s = LagScaler::new(model_registry::ground_truth_consumers()).unwrap();
    let t0 = Instant::now();
    assert_eq!(
        s.evaluate(t0, 8, &LagReading::seconds(300.0)).replicas,
        8,
        "lag of exactly 300 s holds"
    );
    assert_eq!(
        s.evaluate(t0, 8, &LagReading::seconds(450.0)).replicas,
        12,
        "lag over 300 s grows in proportion"
    );
    assert_eq!(
        s.evaluate(t0, 12, &LagReading::seconds(20.0)).replicas,
        11,
        "lag under 30 s removes one"
    );
    assert_eq!(
        s.evaluate(t0 + secs(120), 4, &LagReading::seconds(1.0))
            .replicas,
        4,
        "minimum 4 consumers"
    );
    assert_eq!(
        s.evaluate(t0 + secs(200), 20, &LagReading::seconds(3000.0))
            .replicas,
        16,
        "16 partitions: more consumers would idle (max 32)"
    );
}

// ---------------------------------------------------------------- the workflow runtime

#[test]
fn workflow_runtime_api_gateway_cpu_70_or_latency_100ms() {
    for fire in [
        &[("cpu_utilization", 71.0)][..],
        &[("latency_ms", 101.0)][..],
    ] {
        check(
            "workflow API gateway",
            workflow_runtime::api_gateway(3, 30),
            Row {
                trigger: "CPU > 70 % or latency > 100 ms",
                fire: leak(fire),
                at: &[("cpu_utilization", 70.0), ("latency_ms", 100.0)],
                hold: 0,
                step: 1,
                min: 3,
                max: 30,
                cooldown_up: 60,
                quiet: &[("cpu_utilization", 20.0), ("latency_ms", 20.0)],
                down_hold: 600,
                down_step: 1,
                cooldown_down: 300,
            },
        );
    }
}

#[test]
fn workflow_runtime_engine_cpu_60_or_queue_100_within_10_to_500() {
    for fire in [
        &[("cpu_utilization", 61.0)][..],
        &[("request_queue_depth", 101.0)][..],
    ] {
        check(
            "runtime engine",
            workflow_runtime::runtime_engine(),
            Row {
                trigger: "CPU > 60 % or request queue > 100",
                fire: leak(fire),
                at: &[("cpu_utilization", 60.0), ("request_queue_depth", 100.0)],
                hold: 0,
                step: 1,
                min: 10,
                max: 500,
                cooldown_up: 60,
                quiet: &[("cpu_utilization", 10.0), ("request_queue_depth", 5.0)],
                down_hold: 600,
                down_step: 1,
                cooldown_down: 300,
            },
        );
    }
}

#[test]
fn workflow_runtime_metadata_cache_memory_80_or_hit_rate_under_95() {
    for fire in [
        &[("memory_utilization", 81.0), ("hit_rate", 99.0)][..],
        &[("hit_rate", 94.0)][..],
    ] {
        check(
            "metadata cache",
            workflow_runtime::metadata_cache(12),
            Row {
                trigger: "memory > 80 % or hit rate < 95 %",
                fire: leak(fire),
                at: &[("memory_utilization", 80.0), ("hit_rate", 95.0)],
                hold: 0,
                step: 1,
                min: 6,
                max: 12,
                cooldown_up: 60,
                quiet: &[("memory_utilization", 30.0), ("hit_rate", 99.5)],
                down_hold: 600,
                down_step: 1,
                cooldown_down: 300,
            },
        );
    }
}

#[test]
fn workflow_runtime_metadata_db_cpu_60_or_query_latency_10ms() {
    for fire in [
        &[("cpu_utilization", 61.0)][..],
        &[("query_latency_ms", 11.0)][..],
    ] {
        check(
            "metadata DB",
            workflow_runtime::metadata_db(3, 6),
            Row {
                trigger: "CPU > 60 % or query latency > 10 ms",
                fire: leak(fire),
                at: &[("cpu_utilization", 60.0), ("query_latency_ms", 10.0)],
                hold: 0,
                step: 1,
                min: 3,
                max: 6,
                cooldown_up: 60,
                quiet: &[("cpu_utilization", 10.0), ("query_latency_ms", 2.0)],
                down_hold: 600,
                down_step: 1,
                cooldown_down: 300,
            },
        );
    }
}

#[test]
fn workflow_runtime_flex_store_storage_70_or_10k_qps_per_shard() {
    for fire in [
        &[("storage_utilization", 71.0)][..],
        &[("qps_per_shard", 10_001.0)][..],
    ] {
        check(
            "flex store",
            workflow_runtime::flex_store(32, 64),
            Row {
                trigger: "storage > 70 % or QPS per shard > 10K",
                fire: leak(fire),
                at: &[("storage_utilization", 70.0), ("qps_per_shard", 10_000.0)],
                hold: 0,
                step: 1,
                min: 32,
                max: 64,
                cooldown_up: 60,
                quiet: &[("storage_utilization", 20.0), ("qps_per_shard", 1000.0)],
                down_hold: 600,
                down_step: 1,
                cooldown_down: 300,
            },
        );
    }
}

#[test]
fn workflow_runtime_llm_serving_queue_50_or_ttft_3s() {
    for fire in [&[("queue_depth", 51.0)][..], &[("ttft_seconds", 3.2)][..]] {
        check(
            "LLM serving",
            workflow_runtime::llm_serving(2, 16),
            Row {
                trigger: "queue depth > 50 or TTFT > 3 s",
                fire: leak(fire),
                at: &[("queue_depth", 50.0), ("ttft_seconds", 3.0)],
                hold: 0,
                step: 1,
                min: 2,
                max: 16,
                cooldown_up: 60,
                quiet: &[("queue_depth", 5.0), ("ttft_seconds", 0.5)],
                down_hold: 600,
                down_step: 1,
                cooldown_down: 300,
            },
        );
    }
}

#[test]
fn every_named_preset_builds_an_engine_and_its_component_matches_its_name() {
    let all = resilience_scaling::presets::rule_policies();
    assert_eq!(all.len(), 14);
    for (name, cfg) in all {
        let component = name.split('.').nth(1).unwrap();
        assert_eq!(cfg.component, component, "{name}");
        let e = RuleEngine::new(cfg).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert!(!e.metrics().is_empty(), "{name} reads a metric");
    }
    // The rows whose bounds are arguments validate them.
    let bad = workflow_runtime::llm_serving(5, 2);
    assert_eq!(
        RuleEngine::new(bad).unwrap_err().field(),
        Some("max_replicas"),
        "max below min is a config error"
    );
}
