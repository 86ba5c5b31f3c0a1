//! Threshold-for-duration rule engine: the platform presets' policies, cooldowns,
//! tier minimums, distribution, and a model-based property test.

mod common;

use common::secs;

use std::time::Instant;

use proptest::prelude::*;
use resilience_scaling::rules::{RuleEngine, RuleReason};

const GPU: &str = include_str!("../presets/gpu-pool-policy.yaml");
const INGEST: &str = include_str!("../presets/ingestion-workers.yaml");

#[test]
fn data_platform_ingestion_rules() {
    let mut e = RuleEngine::from_yaml(INGEST).unwrap();
    let t0 = Instant::now();
    // queue_depth > 1000 for 2 min -> +5.
    for s in (0..120).step_by(10) {
        let d = e.evaluate_named(
            t0 + secs(s),
            10,
            &[("queue_depth", 1500.0), ("cpu_utilization", 50.0)],
        );
        assert_eq!(d.replicas, 10, "at {s}s");
    }
    let d = e.evaluate_named(
        t0 + secs(120),
        10,
        &[("queue_depth", 1500.0), ("cpu_utilization", 50.0)],
    );
    assert_eq!(d.replicas, 15);
    // Still high: the 5 min cooldown holds the next step.
    let d = e.evaluate_named(
        t0 + secs(200),
        15,
        &[("queue_depth", 1500.0), ("cpu_utilization", 50.0)],
    );
    assert!(
        matches!(d.reason, RuleReason::CooldownUp { .. }),
        "{:?}",
        d.reason
    );
    assert_eq!(d.replicas, 15);
    let d = e.evaluate_named(
        t0 + secs(420),
        15,
        &[("queue_depth", 1500.0), ("cpu_utilization", 50.0)],
    );
    assert_eq!(d.replicas, 20);
    // The queue drains: < 100 for 10 min -> -2 (after the cooldown).
    let t1 = t0 + secs(500);
    for s in (0..600).step_by(30) {
        let d = e.evaluate_named(
            t1 + secs(s),
            20,
            &[("queue_depth", 50.0), ("cpu_utilization", 20.0)],
        );
        assert_eq!(d.replicas, 20, "at {s}s: {}", d.reason);
    }
    let d = e.evaluate_named(
        t1 + secs(600),
        20,
        &[("queue_depth", 50.0), ("cpu_utilization", 20.0)],
    );
    assert_eq!(d.replicas, 18, "{}", d.reason);
}

#[test]
fn a_gap_restarts_the_hold_timer() {
    let mut e = RuleEngine::from_yaml(INGEST).unwrap();
    let t0 = Instant::now();
    e.evaluate_named(t0, 10, &[("queue_depth", 1500.0)]);
    e.evaluate_named(t0 + secs(60), 10, &[("queue_depth", 900.0)]);
    e.evaluate_named(t0 + secs(61), 10, &[("queue_depth", 1500.0)]);
    assert_eq!(
        e.evaluate_named(t0 + secs(150), 10, &[("queue_depth", 1500.0)])
            .replicas,
        10
    );
    // A missing reading also restarts it.
    e.evaluate_named(t0 + secs(170), 10, &[]);
    assert_eq!(
        e.evaluate_named(t0 + secs(200), 10, &[("queue_depth", 1500.0)])
            .replicas,
        10
    );
    assert_eq!(
        e.evaluate_named(t0 + secs(320), 10, &[("queue_depth", 1500.0)])
            .replicas,
        15
    );
}

#[test]
fn gpu_pool_policy_of_the_inference_platform() {
    let mut e = RuleEngine::from_yaml(GPU).unwrap();
    assert_eq!(e.effective_min(), 20);
    let t0 = Instant::now();
    // turbo_queue_depth > 10 for 30 s -> +5.
    e.evaluate_named(t0, 40, &[("turbo_queue_depth", 12.0)]);
    let d = e.evaluate_named(t0 + secs(30), 40, &[("turbo_queue_depth", 12.0)]);
    assert_eq!(d.replicas, 45);
    // predicted_traffic > capacity * 0.8 fires at once: 45 * 0.6 * 0.8 = 21.6.
    let d = e.evaluate_named(t0 + secs(200), 45, &[("predicted_traffic", 22.0)]);
    assert_eq!(d.replicas, 50, "{}", d.reason);
    // Scale-down needs all three triggers for the full 10 minutes.
    let low = [
        ("all_queue_depth", 5.0),
        ("gpu_utilization", 20.0),
        ("predicted_traffic", 5.0),
    ];
    let partial = [
        ("all_queue_depth", 5.0),
        ("gpu_utilization", 50.0),
        ("predicted_traffic", 5.0),
    ];
    let t1 = t0 + secs(600);
    e.evaluate_named(t1, 50, &partial);
    assert_eq!(e.evaluate_named(t1 + secs(700), 50, &partial).replicas, 50);
    e.evaluate_named(t1 + secs(701), 50, &low);
    assert_eq!(e.evaluate_named(t1 + secs(1300), 50, &low).replicas, 50);
    assert_eq!(e.evaluate_named(t1 + secs(1301), 50, &low).replicas, 47);
    // Next step down waits for cooldown_down (300 s).
    assert_eq!(e.evaluate_named(t1 + secs(1500), 47, &low).replicas, 47);
    assert_eq!(e.evaluate_named(t1 + secs(1601), 47, &low).replicas, 44);
    // Max 200 caps.
    let mut e = RuleEngine::from_yaml(GPU).unwrap();
    let d = e.evaluate_named(t0, 198, &[("predicted_traffic", 1000.0)]);
    assert_eq!(d.replicas, 200);
    let d = e.evaluate_named(t0 + secs(500), 200, &[("predicted_traffic", 1000.0)]);
    assert!(matches!(d.reason, RuleReason::AtMaximum { .. }));
}

#[test]
fn tiers_and_distribution_sum_exactly() {
    let e = RuleEngine::from_yaml(GPU).unwrap();
    for total in 20..=200 {
        let tiers = e.tier_targets(total, &[3.0, 1.0, 2.0]);
        assert_eq!(tiers.iter().map(|(_, n)| n).sum::<u32>(), total);
        let fast = tiers.iter().find(|(n, _)| n == "fast").unwrap().1;
        assert!(fast >= 10);
        let models = e.distribution_targets(total).unwrap();
        assert_eq!(models.iter().map(|(_, n)| n).sum::<u32>(), total);
    }
    let m = e.distribution_targets(100).unwrap();
    assert_eq!(
        m,
        vec![
            ("flux".into(), 15),
            ("other".into(), 5),
            ("sd3".into(), 20),
            ("sdxl".into(), 60)
        ]
    );
}

#[test]
fn config_errors_name_the_field() {
    let cases = [
        ("min_replicas: 1\nmax_replicas: 5\nscale_up: [{metric: q, above: 1, below: 2}]", "scale_up[0]"),
        ("min_replicas: 1\nmax_replicas: 5\nscale_up: [{metric: q}]", "scale_up[0]"),
        ("min_replicas: 1\nmax_replicas: 5\nscale_up: [{metric: q, above_capacity_fraction: 0.8}]", "capacity_per_replica"),
        ("min_replicas: 1\nmax_replicas: 5\nscale_down: [{metric: q, below: 1, change: 0}]", "scale_down[0].change"),
        ("min_replicas: 1\nmax_replicas: 5\ntier_minimums: {a: 3, b: 3}", "tier_minimums"),
        ("min_replicas: 1\nmax_replicas: 5\ndistribution: {a: 0}", "distribution"),
        ("min_replicas: 1\nmax_replicas: 5\nscale_up_increment: 0", "scale_up_increment"),
    ];
    for (yaml, field) in cases {
        let err = RuleEngine::from_yaml(yaml).unwrap_err();
        assert_eq!(err.field(), Some(field), "{yaml}: {err}");
    }
    assert!(RuleEngine::from_yaml("min_replicas: 1\nmax_replicas: 5\ncooldown: soon").is_err());
    assert!(RuleEngine::from_yaml("min_replicas: 1\nmax_replicas: 5\nbogus: 1").is_err());
}

/// A direct model of the documented semantics.
struct Model {
    min: u32,
    max: u32,
    cd_up: u64,
    cd_down: u64,
    up: Vec<(f64, u64, u32, Option<u64>)>, // threshold (above), hold, change, since
    down: Vec<(f64, u64, u32, Option<u64>)>, // threshold (below)
    last_up: Option<u64>,
    last_any: Option<u64>,
}

impl Model {
    fn step(&mut self, t: u64, current: u32, v: f64) -> u32 {
        for r in &mut self.up {
            if v > r.0 {
                r.3.get_or_insert(t);
            } else {
                r.3 = None;
            }
        }
        for r in &mut self.down {
            if v < r.0 {
                r.3.get_or_insert(t);
            } else {
                r.3 = None;
            }
        }
        let fire = |r: &(f64, u64, u32, Option<u64>)| r.3.is_some_and(|s| t - s >= r.1);
        let out = if current < self.min {
            self.min
        } else if current > self.max {
            self.max
        } else if let Some(ch) = self.up.iter().filter(|r| fire(r)).map(|r| r.2).max() {
            if self.last_up.is_some_and(|l| t - l < self.cd_up) {
                current
            } else {
                (current + ch).min(self.max)
            }
        } else if let Some(ch) = self.down.iter().filter(|r| fire(r)).map(|r| r.2).max() {
            if self.last_any.is_some_and(|l| t - l < self.cd_down) {
                current
            } else {
                current.saturating_sub(ch).max(self.min)
            }
        } else {
            current
        };
        if out > current {
            self.last_up = Some(t);
            self.last_any = Some(t);
        }
        if out < current {
            self.last_any = Some(t);
        }
        out
    }
}

proptest! {
    #[test]
    fn engine_matches_model(
        min in 0u32..10, span in 0u32..50,
        cd_up in 0u64..300, cd_down in 0u64..600,
        up in prop::collection::vec((0.0f64..100.0, 0u64..200, 1u32..6), 0..3),
        down in prop::collection::vec((0.0f64..100.0, 0u64..400, 1u32..6), 0..3),
        ticks in prop::collection::vec((1u64..90, 0.0f64..100.0, prop::option::of(0u32..80)), 1..120),
    ) {
        let max = min + span;
        let rule = |(th, hold, ch): &(f64, u64, u32), key: &str| format!("{{metric: m, {key}: {th}, for: {hold}s, change: {ch}}}");
        let yaml = format!(
            "min_replicas: {min}\nmax_replicas: {max}\ncooldown_up: {cd_up}s\ncooldown_down: {cd_down}s\nscale_up: [{}]\nscale_down: [{}]\n",
            up.iter().map(|r| rule(r, "above")).collect::<Vec<_>>().join(", "),
            down.iter().map(|r| rule(r, "below")).collect::<Vec<_>>().join(", "),
        );
        let mut e = RuleEngine::from_yaml(&yaml).unwrap();
        let mut m = Model {
            min, max, cd_up, cd_down,
            up: up.iter().map(|(a, b, c)| (*a, *b, *c, None)).collect(),
            down: down.iter().map(|(a, b, c)| (*a, *b, *c, None)).collect(),
            last_up: None, last_any: None,
        };
        let t0 = Instant::now();
        let (mut t, mut current) = (0u64, min);
        for (dt, v, jump) in ticks {
            t += dt;
            if let Some(j) = jump { current = j; }
            let got = e.evaluate(t0 + secs(t), current, &[v]).replicas;
            let want = m.step(t, current, v);
            prop_assert_eq!(got, want, "t={} v={} current={}", t, v, current);
            prop_assert!(got >= min && got <= max);
            current = got;
        }
    }
}
