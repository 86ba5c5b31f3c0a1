//! Consumer-lag scaling: the model registry's consumer group, KEDA's messages mode,
//! activation and scale to zero.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use resilience_scaling::lag::{LagReading, LagReason, LagScaler};

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn model_registry_consumer_group_band() {
    let mut l = LagScaler::from_yaml(include_str!("../presets/consumer-lag.yaml")).unwrap();
    let t0 = Instant::now();
    assert_eq!(l.evaluate(t0, 4, &LagReading::seconds(100.0)).replicas, 4); // inside the band
    assert_eq!(l.evaluate(t0, 4, &LagReading::seconds(301.0)).replicas, 5); // at least +1
    assert_eq!(l.evaluate(t0, 4, &LagReading::seconds(900.0)).replicas, 12);
    let d = l.evaluate(t0, 12, &LagReading::seconds(3000.0));
    assert_eq!((d.replicas, d.capped_by_partitions), (16, true));
    // Below 30 s: -1 per minute.
    assert_eq!(
        l.evaluate(t0 + s(10), 16, &LagReading::seconds(10.0))
            .replicas,
        15
    );
    assert_eq!(
        l.evaluate(t0 + s(40), 15, &LagReading::seconds(10.0))
            .reason,
        LagReason::Cooldown
    );
    assert_eq!(
        l.evaluate(t0 + s(70), 15, &LagReading::seconds(10.0))
            .replicas,
        14
    );
    // Never below 4.
    assert_eq!(
        l.evaluate(t0 + s(10_000), 4, &LagReading::seconds(0.0))
            .replicas,
        4
    );
}

#[test]
fn keda_messages_activation_and_scale_to_zero() {
    let mut l = LagScaler::from_yaml(
        "min_instances: 0\nmax_instances: 20\npartitions: 12\nlag_threshold: 100\nactivation_lag_threshold: 10\ncooldown_period: 5m",
    )
    .unwrap();
    let t0 = Instant::now();
    // Idle at zero stays at zero.
    assert_eq!(l.evaluate(t0, 0, &LagReading::messages(5)).replicas, 0);
    // Activation: 11 messages -> 1 instance.
    let d = l.evaluate(t0, 0, &LagReading::messages(11));
    assert_eq!((d.replicas, d.reason), (1, LagReason::Activated));
    assert_eq!(l.evaluate(t0, 1, &LagReading::messages(750)).replicas, 8);
    assert_eq!(l.evaluate(t0, 8, &LagReading::messages(5000)).replicas, 12);
    let d = l.evaluate(
        t0,
        12,
        &LagReading::messages(5000).with_partitions_with_lag(3),
    );
    assert_eq!(d.replicas, 12); // limit_to_partitions_with_lag is off
                                // Inactive: stays at 1 until the cooldown period passes, then zero.
    assert_eq!(
        l.evaluate(t0 + s(10), 1, &LagReading::messages(0)).replicas,
        1
    );
    assert_eq!(
        l.evaluate(t0 + s(309), 1, &LagReading::messages(0))
            .replicas,
        1
    );
    let d = l.evaluate(t0 + s(310), 1, &LagReading::messages(0));
    assert_eq!((d.replicas, d.reason), (0, LagReason::ScaledToZero));

    let mut l = LagScaler::from_yaml(
        "min_instances: 0\nmax_instances: 20\nlag_threshold: 100\nlimit_to_partitions_with_lag: true",
    )
    .unwrap();
    let d = l.evaluate(
        t0,
        2,
        &LagReading::messages(5000).with_partitions_with_lag(3),
    );
    assert_eq!(d.replicas, 3);
}

proptest! {
    #[test]
    fn within_bounds_and_partitions(
        min in 0u32..6, span in 1u32..40, parts in 1u32..40,
        steps in prop::collection::vec((0u64..120, 0u64..100_000, 0.0f64..5000.0, 0u32..80), 1..60),
    ) {
        let max = min + span;
        let mut l = LagScaler::from_yaml(&format!(
            "min_instances: {min}\nmax_instances: {max}\npartitions: {parts}\nlag_threshold: 500\nscale_up_threshold: {{consumer_lag_seconds: 300}}\nscale_down_threshold: {{consumer_lag_seconds: 30}}\nscale_down_cooldown: 30s"
        )).unwrap();
        let t0 = Instant::now();
        let mut t = 0;
        for (dt, msgs, secs, current) in steps {
            t += dt;
            let d = l.evaluate(t0 + s(t), current, &LagReading::messages(msgs).with_seconds(secs));
            let cap = max.min(parts).max(min);
            prop_assert!(d.replicas <= cap, "{d:?} cap {cap}");
            prop_assert!(d.replicas >= min.min(cap));
        }
    }
}
