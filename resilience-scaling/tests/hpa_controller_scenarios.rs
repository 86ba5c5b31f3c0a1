//! The Kubernetes HPA controller's own scenarios (normalize-with-behavior,
//! scaling rules, scale-event storage, replica calculator), ported by
//! behaviour: same inputs, same expected outputs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use resilience_scaling::hpa::{
    Hpa, HpaConfig, HpaOptions, Limit, MetricError, MetricReading, MetricsSnapshot, PodInfo,
    PodMetric, PodPhase, PolicyType, ReadyCondition, ReplicaCalculator, ScalingPolicy,
    ScalingRules, SelectPolicy,
};

fn rules(
    pods: u32,
    pods_period: u64,
    percent: u32,
    percent_period: u64,
    window: u64,
) -> ScalingRules {
    let mut policies = Vec::new();
    if pods != 0 {
        policies.push(ScalingPolicy {
            type_: PolicyType::Pods,
            value: pods,
            period: Duration::from_secs(pods_period),
        });
    }
    if percent != 0 {
        policies.push(ScalingPolicy {
            type_: PolicyType::Percent,
            value: percent,
            period: Duration::from_secs(percent_period),
        });
    }
    ScalingRules {
        stabilization_window: Duration::from_secs(window),
        select_policy: SelectPolicy::Max,
        policies,
        tolerance: 0.1,
    }
}

fn hpa(min: u32, max: u32, up: Option<ScalingRules>, down: Option<ScalingRules>) -> Hpa {
    Hpa::new(HpaConfig {
        name: "test".into(),
        min_replicas: min,
        max_replicas: max,
        metrics: vec![],
        scale_up: up.unwrap_or_else(ScalingRules::default_scale_up),
        scale_down: down.unwrap_or_else(ScalingRules::default_scale_down),
    })
    .unwrap()
}

/// Events spread uniformly over the last `period` seconds, each in the
/// centre of its segment (whole seconds, as the controller's test helper).
fn uniform_events(changes: &[i32], period: u64) -> Vec<(u64, i32)> {
    let seg = period as f64 / changes.len() as f64;
    changes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let ago = (period as f64 - seg * (i as f64 + 1.0) + seg / 2.0) as u64;
            (ago, *c)
        })
        .collect()
}

struct Case {
    name: &'static str,
    up_events: Vec<(u64, i32)>,
    down_events: Vec<(u64, i32)>,
    min: u32,
    max: u32,
    up: Option<ScalingRules>,
    down: Option<ScalingRules>,
    current: u32,
    desired: u32,
    expected: u32,
    reason: &'static str,
}

fn case(
    name: &'static str,
    min: u32,
    max: u32,
    current: u32,
    desired: u32,
    expected: u32,
    reason: &'static str,
) -> Case {
    Case {
        name,
        up_events: vec![],
        down_events: vec![],
        min,
        max,
        up: None,
        down: None,
        current,
        desired,
        expected,
        reason,
    }
}

#[test]
fn scaling_with_rules() {
    let cases = vec![
        case("within range", 3, 8, 5, 7, 7, "DesiredWithinRange"),
        case("desired < minReplicas", 2, 8, 3, 1, 2, "TooFewReplicas"),
        case(
            "within range when minReplicas is 0",
            0,
            10,
            1,
            0,
            0,
            "DesiredWithinRange",
        ),
        // current 20 > max 10: the controller scales to max before normalizing.
        case(
            "maxReplicas is the limit",
            1,
            10,
            20,
            1000,
            10,
            "CurrentAboveMax",
        ),
        case(
            "desired more than maximum",
            100,
            150,
            100,
            1000,
            150,
            "TooManyReplicas",
        ),
        Case {
            up: Some(rules(0, 0, 1, 60, 0)),
            ..case(
                "scaleUpLimit < maxReplicas with user policies",
                1,
                2000,
                3,
                1000,
                4,
                "ScaleUpLimit",
            )
        },
        Case {
            down: Some(rules(20, 60, 0, 0, 0)),
            ..case(
                "scaleDownLimit > minReplicas with user policies",
                3,
                2000,
                1000,
                3,
                980,
                "ScaleDownLimit",
            )
        },
        case(
            "scaleUp with default behavior",
            1,
            1000,
            10,
            50,
            20,
            "ScaleUpLimit",
        ),
        Case {
            up: Some(rules(100, 60, 100, 60, 0)),
            ..case(
                "pods policy larger than percent",
                1,
                1000,
                10,
                500,
                110,
                "ScaleUpLimit",
            )
        },
        Case {
            up: Some(rules(2, 60, 100, 60, 0)),
            ..case(
                "percent policy larger than pods",
                1,
                1000,
                10,
                500,
                20,
                "ScaleUpLimit",
            )
        },
        Case {
            up: Some(rules(100, 60, 0, 0, 0)),
            ..case(
                "large pod policy",
                1,
                1000,
                10,
                50,
                50,
                "DesiredWithinRange",
            )
        },
        Case {
            up: Some(rules(10000, 60, 0, 0, 0)),
            ..case(
                "large percent policy",
                1,
                1000,
                10,
                50,
                50,
                "DesiredWithinRange",
            )
        },
        Case {
            up: Some(rules(30, 60, 0, 0, 0)),
            ..case("pod policy limitation", 1, 1000, 10, 50, 40, "ScaleUpLimit")
        },
        Case {
            up: Some(rules(0, 0, 200, 60, 0)),
            ..case(
                "percent policy limitation",
                1,
                1000,
                10,
                50,
                30,
                "ScaleUpLimit",
            )
        },
        Case {
            down: Some(rules(20, 60, 1, 60, 300)),
            ..case(
                "down: percent larger than pods",
                1,
                1000,
                100,
                2,
                80,
                "ScaleDownLimit",
            )
        },
        Case {
            down: Some(rules(2, 60, 1, 60, 300)),
            ..case(
                "down: pods larger than percent",
                1,
                1000,
                100,
                2,
                98,
                "ScaleDownLimit",
            )
        },
        Case {
            down: Some(rules(100, 60, 0, 0, 300)),
            ..case(
                "down: minReplicas with large pod policy",
                1,
                1000,
                10,
                0,
                1,
                "TooFewReplicas",
            )
        },
        Case {
            down: Some(rules(0, 0, 100, 60, 300)),
            ..case(
                "down: minReplicas with large percent policy",
                5,
                1000,
                10,
                2,
                5,
                "TooFewReplicas",
            )
        },
        Case {
            down: Some(rules(5, 60, 0, 0, 300)),
            ..case(
                "down: pod policy limitation",
                1,
                1000,
                10,
                2,
                5,
                "ScaleDownLimit",
            )
        },
        Case {
            down: Some(rules(0, 0, 50, 60, 300)),
            ..case(
                "down: percent policy limitation",
                1,
                1000,
                10,
                5,
                5,
                "DesiredWithinRange",
            )
        },
        Case {
            up_events: uniform_events(&[1, 5, 9], 120),
            up: Some(rules(300, 60, 0, 0, 0)),
            ..case(
                "max with large pod policy and events",
                1,
                200,
                100,
                500,
                200,
                "TooManyReplicas",
            )
        },
        Case {
            up_events: uniform_events(&[1, 5, 9], 120),
            up: Some(rules(0, 0, 10000, 60, 0)),
            ..case(
                "max with large percent policy and events",
                1,
                200,
                100,
                500,
                200,
                "TooManyReplicas",
            )
        },
        Case {
            up_events: uniform_events(&[1, 5, 9], 120),
            up: Some(rules(5, 120, 0, 0, 0)),
            ..case(
                "currentReplicas limit after many scale-ups",
                1,
                1000,
                100,
                500,
                100,
                "ScaleUpLimit",
            )
        },
        Case {
            up_events: uniform_events(&[1, 5, 9], 120),
            up: Some(rules(150, 120, 0, 0, 0)),
            ..case(
                "pod policy and previous scale-ups",
                1,
                1000,
                100,
                500,
                235,
                "ScaleUpLimit",
            )
        },
        Case {
            up_events: uniform_events(&[1, 5, 9], 120),
            up: Some(rules(0, 0, 200, 120, 0)),
            ..case(
                "percent policy and previous scale-ups",
                1,
                1000,
                100,
                500,
                255,
                "ScaleUpLimit",
            )
        },
        Case {
            up_events: uniform_events(&[4], 120),
            down_events: uniform_events(&[-2], 120),
            up: Some(rules(0, 0, 300, 300, 0)),
            ..case(
                "percent policy and up and down events",
                1,
                1000,
                6,
                24,
                16,
                "ScaleUpLimit",
            )
        },
        Case {
            down_events: uniform_events(&[-1, -5, -9], 120),
            ..case(
                "down: default policy and previous events",
                1,
                1000,
                10,
                5,
                5,
                "DesiredWithinRange",
            )
        },
        Case {
            down_events: uniform_events(&[-1, -5, -9], 120),
            down: Some(rules(115, 120, 0, 0, 300)),
            ..case(
                "down: min with large pod policy and events",
                1,
                1000,
                100,
                0,
                1,
                "TooFewReplicas",
            )
        },
        Case {
            down_events: uniform_events(&[-1, -5, -9], 120),
            down: Some(rules(130, 120, 0, 0, 300)),
            ..case(
                "down: min 5 with large pod policy and events",
                5,
                1000,
                100,
                0,
                5,
                "TooFewReplicas",
            )
        },
        Case {
            down_events: uniform_events(&[-1, -5, -9], 120),
            down: Some(rules(0, 0, 100, 120, 300)),
            ..case(
                "down: min with large percent policy and events",
                5,
                1000,
                100,
                2,
                5,
                "TooFewReplicas",
            )
        },
        Case {
            down_events: uniform_events(&[-1, -5, -9], 120),
            down: Some(rules(5, 120, 0, 0, 300)),
            ..case(
                "down: pod policy and events",
                1,
                1000,
                100,
                2,
                100,
                "ScaleDownLimit",
            )
        },
        Case {
            down_events: uniform_events(&[-2, -4, -6], 120),
            down: Some(rules(0, 0, 50, 120, 300)),
            ..case(
                "down: percent policy and events",
                1,
                1000,
                100,
                0,
                56,
                "ScaleDownLimit",
            )
        },
        Case {
            up_events: uniform_events(&[2], 120),
            down_events: uniform_events(&[-4], 120),
            down: Some(rules(0, 0, 50, 180, 0)),
            ..case(
                "down: percent policy and up and down events",
                1,
                1000,
                10,
                1,
                6,
                "ScaleDownLimit",
            )
        },
        Case {
            down_events: uniform_events(&[-10, -10, -10], 120),
            down: Some(rules(0, 0, 10, 120, 300)),
            ..case(
                "down: previous events prevent more",
                1,
                1000,
                100,
                0,
                100,
                "ScaleDownLimit",
            )
        },
        Case {
            down_events: uniform_events(&[-10, -10, -10], 120),
            down: Some(rules(0, 0, 1000, 120, 300)),
            ..case(
                "down: events still allow more",
                1,
                1000,
                10,
                5,
                5,
                "DesiredWithinRange",
            )
        },
        Case {
            up_events: uniform_events(&[8, 12, 9, 11], 120),
            up: Some(rules(1000, 60, 0, 0, 0)),
            ..case(
                "outdated events, one policy, up",
                1,
                1000,
                100,
                200,
                200,
                "DesiredWithinRange",
            )
        },
        Case {
            up_events: uniform_events(&[8, 12, 9, 11], 120),
            up: Some(rules(1000, 120, 100, 60, 0)),
            ..case(
                "two policies, up, not outdated",
                1,
                1000,
                100,
                200,
                200,
                "DesiredWithinRange",
            )
        },
        Case {
            up_events: uniform_events(&[8, 12, 9, 11], 120),
            up: Some(rules(1000, 30, 100, 60, 0)),
            ..case(
                "two policies, up, outdated",
                1,
                1000,
                100,
                200,
                200,
                "DesiredWithinRange",
            )
        },
        Case {
            down_events: uniform_events(&[-8, -12, -9, -11], 120),
            down: Some(rules(1000, 60, 0, 0, 300)),
            ..case(
                "outdated events, one policy, down",
                1,
                1000,
                100,
                5,
                5,
                "DesiredWithinRange",
            )
        },
        Case {
            down_events: uniform_events(&[-8, -12, -9, -11], 120),
            down: Some(rules(1000, 120, 100, 60, 300)),
            ..case(
                "two policies, down, not outdated",
                1,
                1000,
                100,
                5,
                5,
                "DesiredWithinRange",
            )
        },
        Case {
            down_events: uniform_events(&[-8, -12, -9, -11], 120),
            down: Some(rules(1000, 30, 100, 60, 300)),
            ..case(
                "two policies, down, outdated",
                1,
                1000,
                100,
                5,
                5,
                "DesiredWithinRange",
            )
        },
    ];
    let now = Instant::now() + Duration::from_secs(10_000);
    for c in cases {
        // The controller's cases exercise the rate limits alone
        // (`convertDesiredReplicasWithBehaviorRate`), with no recommendation
        // history: leave out the initial recommendation.
        let mut options = HpaOptions::default();
        options.skip_initial_recommendation = true;
        let mut h = hpa(c.min, c.max, c.up, c.down).with_options(options);
        for (ago, change) in c.up_events.iter().chain(c.down_events.iter()) {
            h.record_scale_event(now - Duration::from_secs(*ago), *change);
        }
        let d = h.decide_with_reason(now, c.current, c.desired);
        assert_eq!(d.replicas, c.expected, "{}: replicas ({d})", c.name);
        assert_eq!(d.limit.reason(), c.reason, "{}: reason ({d})", c.name);
    }
}

struct StabCase {
    name: &'static str,
    recs: Vec<(u32, u64)>, // (recommendation, seconds ago)
    current: u32,
    desired: u32,
    expected: u32,
    up_window: u64,
    down_window: u64,
}

#[test]
fn normalize_desired_replicas_with_behavior() {
    let cases = vec![
        StabCase {
            name: "empty recommendations for scaling down",
            recs: vec![],
            current: 100,
            desired: 5,
            expected: 5,
            up_window: 0,
            down_window: 0,
        },
        StabCase {
            name: "simple scale down stabilization",
            recs: vec![(4, 120), (5, 60)],
            current: 100,
            desired: 3,
            expected: 5,
            up_window: 0,
            down_window: 180,
        },
        StabCase {
            name: "simple scale up stabilization",
            recs: vec![(4, 120), (5, 60)],
            current: 1,
            desired: 7,
            expected: 4,
            up_window: 300,
            down_window: 0,
        },
        StabCase {
            name: "no scale down stabilization",
            recs: vec![(1, 120), (2, 60)],
            current: 100,
            desired: 3,
            expected: 3,
            up_window: 300,
            down_window: 0,
        },
        StabCase {
            name: "no scale up stabilization",
            recs: vec![(4, 120), (5, 60)],
            current: 1,
            desired: 3,
            expected: 3,
            up_window: 0,
            down_window: 300,
        },
        StabCase {
            name: "no scale down stabilization, reuse element",
            recs: vec![(10, 600), (9, 540)],
            current: 100,
            desired: 3,
            expected: 3,
            up_window: 0,
            down_window: 0,
        },
        StabCase {
            name: "no scale up stabilization, reuse element",
            recs: vec![(10, 600), (9, 540)],
            current: 1,
            desired: 100,
            expected: 100,
            up_window: 0,
            down_window: 0,
        },
        StabCase {
            name: "scale down stabilization, reuse obsolete",
            recs: vec![(10, 600), (4, 60), (5, 120), (9, 540)],
            current: 100,
            desired: 3,
            expected: 5,
            up_window: 0,
            down_window: 180,
        },
        StabCase {
            name: "scale up stabilization, reuse obsolete",
            recs: vec![(10, 6000), (6, 60), (5, 120), (9, 180)],
            current: 1,
            desired: 100,
            expected: 5,
            up_window: 300,
            down_window: 300,
        },
        StabCase {
            name: "do not scale up when recommendation goes down",
            recs: vec![(2, 6000), (3, 180)],
            current: 2,
            desired: 1,
            expected: 2,
            up_window: 300,
            down_window: 300,
        },
        StabCase {
            name: "do not scale down when recommendation goes up",
            recs: vec![(2, 6000), (1, 180)],
            current: 2,
            desired: 3,
            expected: 2,
            up_window: 300,
            down_window: 300,
        },
    ];
    let now = Instant::now() + Duration::from_secs(100_000);
    for c in cases {
        let mut up = ScalingRules::default_scale_up();
        up.stabilization_window = Duration::from_secs(c.up_window);
        let mut down = ScalingRules::default_scale_down();
        down.stabilization_window = Duration::from_secs(c.down_window);
        let mut h = hpa(1, 1000, Some(up), Some(down));
        let mut recs = c.recs.clone();
        recs.sort_by_key(|(_, ago)| std::cmp::Reverse(*ago));
        for (rec, ago) in recs {
            // Feeding a recommendation = a decision at that time.
            h.decide(now - Duration::from_secs(ago), rec, rec);
        }
        let d = h.decide_with_reason(now, c.current, c.desired);
        assert_eq!(d.stabilized_replicas, c.expected, "{}", c.name);
    }
}

#[test]
fn store_scale_events_counts_only_events_inside_the_period() {
    // TestStoreScaleEvents: events 61 s old fall out of a 60 s period,
    // events 58-59 s old stay.
    let now = Instant::now() + Duration::from_secs(1000);
    let mut h = hpa(
        1,
        1000,
        Some(rules(10, 60, 0, 0, 0)),
        Some(rules(10, 60, 0, 0, 0)),
    );
    h.record_scale_event(now - Duration::from_secs(61), 7);
    h.record_scale_event(now - Duration::from_secs(59), 6);
    // period start = 20 - 6 = 14, +10 pods = 24.
    assert_eq!(h.decide(now, 20, 100), 24);
    let mut h = hpa(
        1,
        1000,
        Some(rules(10, 60, 0, 0, 0)),
        Some(rules(10, 60, 0, 0, 0)),
    );
    h.record_scale_event(now - Duration::from_secs(61), -7);
    h.record_scale_event(now - Duration::from_secs(58), -6);
    // period start = 20 + 6 = 26, -10 pods = 16.
    assert_eq!(h.decide(now, 20, 1), 16);
}

#[test]
fn decide_records_its_own_scale_events() {
    let t0 = Instant::now();
    let mut h = hpa(1, 1000, None, None);
    assert_eq!(h.decide(t0, 10, 100), 20); // +100 %
    assert_eq!(h.decide(t0 + Duration::from_secs(5), 20, 100), 20); // period still holds 10 -> 20
    assert_eq!(h.decide(t0 + Duration::from_secs(16), 20, 100), 40);
    // Storing the second event replaced the outdated first one, as the
    // controller does.
    assert_eq!(h.history_len().1, 1);
}

#[test]
fn select_policy_min_and_disabled() {
    let now = Instant::now();
    let mut up = rules(4, 15, 100, 15, 0);
    up.select_policy = SelectPolicy::Min;
    let mut h = hpa(1, 1000, Some(up), None);
    let d = h.decide_with_reason(now, 10, 100);
    assert_eq!(
        (d.replicas, d.limit),
        (14, Limit::ScaleUpLimit { policy: Some(0) })
    );

    let mut up = rules(4, 15, 100, 15, 0);
    up.select_policy = SelectPolicy::Disabled;
    let mut h = hpa(1, 1000, Some(up), None);
    let d = h.decide_with_reason(now, 10, 100);
    assert_eq!(
        (d.replicas, d.limit),
        (10, Limit::ScaleUpLimit { policy: None })
    );

    let mut down = rules(4, 15, 50, 15, 0);
    down.select_policy = SelectPolicy::Min;
    let mut h = hpa(1, 1000, None, Some(down));
    // Min change: -4 pods (16) beats -50 % (10).
    let d = h.decide_with_reason(now, 20, 1);
    assert_eq!(
        (d.replicas, d.limit),
        (16, Limit::ScaleDownLimit { policy: Some(0) })
    );
}

// ---------------------------------------------------------------------------
// Replica calculator scenarios
// ---------------------------------------------------------------------------

fn now() -> Instant {
    Instant::now() + Duration::from_secs(100_000)
}

fn pods(n: usize, at: Instant) -> Vec<PodInfo> {
    (0..n)
        .map(|i| {
            PodInfo::ready(format!("p{i}"), at - Duration::from_secs(3600)).with_request("cpu", 1.0)
        })
        .collect()
}

fn samples(levels_milli: &[(usize, i64)], at: Instant) -> BTreeMap<String, PodMetric> {
    levels_milli
        .iter()
        .map(|(i, m)| (format!("p{i}"), PodMetric::new(*m as f64 / 1000.0, at)))
        .collect()
}

fn levels(ls: &[i64]) -> Vec<(usize, i64)> {
    ls.iter().copied().enumerate().collect()
}

#[test]
fn calc_scale_up() {
    let t = now();
    let c = ReplicaCalculator::default();
    let p = c
        .resource_utilization(
            t,
            3,
            30,
            &pods(3, t),
            &samples(&levels(&[300, 500, 700]), t),
            "cpu",
            true,
        )
        .unwrap();
    assert_eq!((p.replicas, p.usage), (5, 50));
}

#[test]
fn calc_scale_up_unready_less_scale() {
    let t = now();
    let mut ps = pods(3, t);
    // Never became ready since it started.
    let start = t - Duration::from_secs(3600);
    ps[0].ready = Some(ReadyCondition {
        ready: false,
        last_transition: start,
    });
    let p = ReplicaCalculator::default()
        .resource_utilization(
            t,
            3,
            30,
            &ps,
            &samples(&levels(&[300, 500, 700]), t),
            "cpu",
            true,
        )
        .unwrap();
    // Ready pods: 1200 / 2000 = 60 % (ratio 2); the unready pod counts 0 %:
    // 1200 / 3000 = 40 %, ratio 1.33, ceil(1.33 * 3) = 4.
    assert_eq!((p.replicas, p.usage), (4, 60));
}

#[test]
fn calc_scale_up_ignores_failed_and_deleted_pods() {
    let t = now();
    let mut ps = pods(4, t);
    ps[2].phase = PodPhase::Failed;
    ps[3].deleting = true;
    let p = ReplicaCalculator::default()
        .resource_utilization(
            t,
            2,
            30,
            &ps,
            &samples(&levels(&[500, 700]), t),
            "cpu",
            true,
        )
        .unwrap();
    assert_eq!((p.replicas, p.usage), (4, 60));
}

#[test]
fn calc_pending_pod_counts_as_unready_on_scale_up() {
    let t = now();
    let mut ps = pods(3, t);
    ps[2].phase = PodPhase::Pending;
    let p = ReplicaCalculator::default()
        .resource_utilization(
            t,
            3,
            50,
            &ps,
            &samples(&levels(&[900, 900]), t),
            "cpu",
            true,
        )
        .unwrap();
    // Ready: 90 % (ratio 1.8); with the pending pod at 0: 60 %, ratio 1.2 -> ceil(3.6) = 4.
    assert_eq!(p.replicas, 4);
}

#[test]
fn calc_scale_down() {
    let t = now();
    let p = ReplicaCalculator::default()
        .resource_utilization(
            t,
            5,
            50,
            &pods(5, t),
            &samples(&levels(&[100, 300, 500, 250, 250]), t),
            "cpu",
            true,
        )
        .unwrap();
    assert_eq!((p.replicas, p.usage), (3, 28));
}

#[test]
fn calc_scale_down_excludes_unready_pods() {
    let t = now();
    let mut ps = pods(5, t);
    let start = t - Duration::from_secs(3600);
    for i in [0, 3, 4] {
        ps[i].ready = Some(ReadyCondition {
            ready: false,
            last_transition: start,
        });
    }
    let p = ReplicaCalculator::default()
        .resource_utilization(
            t,
            5,
            50,
            &ps,
            &samples(&levels(&[100, 300, 500, 250, 250]), t),
            "cpu",
            true,
        )
        .unwrap();
    // Ready pods 1 and 2: 800 / 2000 = 40 %, ratio 0.8, ceil(0.8 * 2) = 2.
    assert_eq!((p.replicas, p.usage), (2, 40));
}

#[test]
fn calc_tolerance() {
    let t = now();
    let mut ps = pods(3, t);
    ps[0].requests.insert("cpu".into(), 0.9);
    ps[2].requests.insert("cpu".into(), 1.1);
    let p = ReplicaCalculator::default()
        .resource_utilization(
            t,
            3,
            100,
            &ps,
            &samples(&levels(&[1010, 1030, 1020]), t),
            "cpu",
            true,
        )
        .unwrap();
    assert_eq!((p.replicas, p.usage), (3, 102));
}

#[test]
fn calc_missing_metrics() {
    let t = now();
    let c = ReplicaCalculator::default();
    // Exactly at target with one pod missing: no change.
    let p = c
        .resource_utilization(
            t,
            2,
            100,
            &pods(2, t),
            &samples(&[(0, 1000)], t),
            "cpu",
            true,
        )
        .unwrap();
    assert_eq!(p.replicas, 2);
    // Scale-up: the missing pod counts 0 %: (1900 + 0) / 2000 = 95 % of 50 -> ratio 1.9 -> 4.
    let p = c
        .resource_utilization(
            t,
            2,
            50,
            &pods(2, t),
            &samples(&[(0, 1900)], t),
            "cpu",
            true,
        )
        .unwrap();
    assert_eq!(p.replicas, 4);
    // Scale-down: 4 pods, one missing counts 100 %: (100+100+100+1000)/4000 = 32 % of 50
    // -> ratio 0.64 -> ceil(2.56) = 3.
    let p = c
        .resource_utilization(
            t,
            4,
            50,
            &pods(4, t),
            &samples(&[(0, 100), (1, 100), (2, 100)], t),
            "cpu",
            true,
        )
        .unwrap();
    assert_eq!(p.replicas, 3);
    // Scale-down that the missing pod would turn into a scale-up: keep.
    let p = c
        .resource_utilization(
            t,
            2,
            100,
            &pods(2, t),
            &samples(&[(0, 850)], t),
            "cpu",
            true,
        )
        .unwrap();
    assert_eq!(p.replicas, 2);
}

#[test]
fn calc_missing_pods_use_target_when_target_above_100() {
    let t = now();
    // Target 200 %: one pod at 100 % (ratio 0.5), the missing one counts 200 %:
    // (1000 + 2000) / 2000 = 150 % -> ratio 0.75 -> ceil(1.5) = 2: no change.
    let p = ReplicaCalculator::default()
        .resource_utilization(
            t,
            2,
            200,
            &pods(2, t),
            &samples(&[(0, 1000)], t),
            "cpu",
            true,
        )
        .unwrap();
    assert_eq!(p.replicas, 2);
}

#[test]
fn calc_cpu_initialization_period() {
    let t = now();
    let mut ps = pods(2, t);
    // Pod 1 started 60 s ago and became ready 10 s ago: its 60 s sample window
    // overlaps the unready time, so it is unready.
    let start = t - Duration::from_secs(60);
    ps[1].start_time = Some(start);
    ps[1].ready = Some(ReadyCondition {
        ready: true,
        last_transition: t - Duration::from_secs(10),
    });
    let p = ReplicaCalculator::default()
        .resource_utilization(
            t,
            2,
            50,
            &ps,
            &samples(&levels(&[1000, 1000]), t),
            "cpu",
            true,
        )
        .unwrap();
    // Ready pod at 100 % (ratio 2), unready at 0: 50 % -> within tolerance -> keep 2.
    assert_eq!(p.replicas, 2);
}

#[test]
fn calc_errors() {
    let t = now();
    let c = ReplicaCalculator::default();
    assert_eq!(
        c.resource_utilization(t, 1, 50, &[], &BTreeMap::new(), "cpu", true),
        Err(MetricError::NoPods)
    );
    assert_eq!(
        c.resource_utilization(t, 2, 50, &pods(2, t), &BTreeMap::new(), "cpu", true),
        Err(MetricError::NoMetricsForReadyPods)
    );
    let mut ps = pods(2, t);
    ps[1].requests.clear();
    assert!(matches!(
        c.resource_utilization(
            t,
            2,
            50,
            &ps,
            &samples(&levels(&[500, 500]), t),
            "cpu",
            true
        ),
        Err(MetricError::MissingRequest { .. })
    ));
}

#[test]
fn calc_custom_pods_metrics() {
    let t = now();
    let c = ReplicaCalculator::default();
    let p = c
        .plain_metric(
            t,
            3,
            15_000,
            &pods(3, t),
            &samples(&levels(&[20_000, 10_000, 30_000]), t),
            false,
        )
        .unwrap();
    assert_eq!((p.replicas, p.usage), (4, 20_000));
    // Readiness is not consulted for custom metrics: unready hot pods count.
    let mut ps = pods(3, t);
    ps[2].ready = Some(ReadyCondition {
        ready: false,
        last_transition: t - Duration::from_secs(3600),
    });
    let p = c
        .plain_metric(
            t,
            3,
            15_000,
            &ps,
            &samples(&levels(&[50_000, 10_000, 30_000]), t),
            false,
        )
        .unwrap();
    assert_eq!((p.replicas, p.usage), (6, 30_000));
    // Missing pods on scale-down count as the target.
    let p = c
        .plain_metric(
            t,
            4,
            10_000,
            &pods(4, t),
            &samples(&levels(&[4_000, 4_000, 4_000]), t),
            false,
        )
        .unwrap();
    // (4+4+4+10)/4 = 5.5 per pod, ratio 0.55 -> ceil(2.2) = 3.
    assert_eq!(p.replicas, 3);
}

#[test]
fn calc_object_and_external() {
    let t = now();
    let c = ReplicaCalculator::default();
    assert_eq!(
        c.value_metric(3, 10_000, 5_000, &pods(3, t))
            .unwrap()
            .replicas,
        6
    );
    assert_eq!(
        c.value_metric(1, 8_600, 4_400, &pods(1, t))
            .unwrap()
            .replicas,
        2
    );
    // From zero replicas: ceil(ratio).
    assert_eq!(c.value_metric(0, 8_600, 4_400, &[]).unwrap().replicas, 2);
    // Within tolerance.
    assert_eq!(
        c.value_metric(3, 5_100, 5_000, &pods(3, t))
            .unwrap()
            .replicas,
        3
    );
    // Per pod: 8600 / 2150 = 4.
    assert_eq!(c.average_value_metric(3, 8_600_000, 2_150_000).replicas, 4);
    assert_eq!(c.average_value_metric(4, 8_600_000, 2_150_000).replicas, 4);
}

#[test]
fn multiple_metrics_take_the_highest_and_refuse_scale_down_on_errors() {
    let yaml = r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: m}
spec:
  scaleTargetRef: {kind: Deployment, name: m}
  minReplicas: 2
  maxReplicas: 6
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 30}}
  - type: External
    external: {metric: {name: qps}, target: {type: Value, value: 100m}}
"#;
    let t = now();
    let mut h = Hpa::from_manifest_yaml(yaml).unwrap();
    let mut snap = MetricsSnapshot {
        pods: pods(3, t),
        ..Default::default()
    };
    snap.readings.insert(
        "cpu".into(),
        MetricReading::PerPod(samples(&levels(&[300, 400, 500]), t)),
    );
    // TestScaleUpOneMetricEmpty: the external metric fails, cpu scales up: 3 -> 4.
    let d = h.evaluate(t, 3, &snap).unwrap();
    assert_eq!((d.replicas, d.metric.as_deref()), (4, Some("cpu")));

    // TestNoScaleDownOneMetricEmpty: cpu wants to scale down, the other metric
    // fails: no decision.
    let mut h =
        Hpa::from_manifest_yaml(&yaml.replace("averageUtilization: 30", "averageUtilization: 50"))
            .unwrap();
    let mut snap = MetricsSnapshot {
        pods: pods(5, t),
        ..Default::default()
    };
    snap.readings.insert(
        "cpu".into(),
        MetricReading::PerPod(samples(&levels(&[100, 300, 500, 250, 250]), t)),
    );
    let err = h.evaluate(t, 5, &snap).unwrap_err();
    assert!(err.to_string().contains("1 invalid out of 2"), "{err}");
}

/// One `replica_calculator_test.go` case: pods (readiness, phase, deletion),
/// per-pod levels in milli-units, target, current and expected replicas.
struct CalcCase {
    name: &'static str,
    current: u32,
    ready: Vec<bool>,
    phase: Vec<PodPhase>,
    deleting: Vec<bool>,
    requests: Vec<f64>,
    levels: Vec<i64>,
    target: u32,
    expected: u32,
    utilization: i64,
}

fn calc_case(
    name: &'static str,
    current: u32,
    levels: &[i64],
    target: u32,
    expected: u32,
    utilization: i64,
) -> CalcCase {
    CalcCase {
        name,
        current,
        ready: vec![],
        phase: vec![],
        deleting: vec![],
        requests: vec![],
        levels: levels.to_vec(),
        target,
        expected,
        utilization,
    }
}

#[test]
fn replica_calculator_resource_cases() {
    use PodPhase::{Failed, Pending, Running};
    let cases = vec![
        calc_case("ScaleUp", 3, &[300, 500, 700], 30, 5, 50),
        CalcCase {
            ready: vec![false, true, true],
            ..calc_case("ScaleUpUnreadyLessScale", 3, &[300, 500, 700], 30, 4, 60)
        },
        CalcCase {
            ready: vec![true, false, false],
            ..calc_case("ScaleUpUnreadyNoScale", 3, &[400, 500, 700], 30, 3, 40)
        },
        CalcCase {
            phase: vec![Running, Running, Failed, Failed],
            ..calc_case("ScaleUpIgnoresFailedPods", 2, &[500, 700], 30, 4, 60)
        },
        CalcCase {
            deleting: vec![false, false, true, true],
            ..calc_case("ScaleUpIgnoresDeletionPods", 2, &[500, 700], 30, 4, 60)
        },
        calc_case("ScaleDown", 5, &[100, 300, 500, 250, 250], 50, 3, 28),
        CalcCase {
            ready: vec![true, true, true, false, false],
            ..calc_case(
                "ScaleDownIncludeUnreadyPods",
                5,
                &[100, 300, 500, 250, 250],
                50,
                2,
                30,
            )
        },
        CalcCase {
            ready: vec![true, false, false, false, false],
            phase: vec![Running, Pending, Pending, Pending, Pending],
            ..calc_case("ScaleDownExcludeUnscheduledPods", 5, &[100], 50, 1, 10)
        },
        CalcCase {
            ready: vec![true, true, true, true, true, false, false],
            phase: vec![Running, Running, Running, Running, Running, Failed, Failed],
            ..calc_case(
                "ScaleDownIgnoresFailedPods",
                5,
                &[100, 300, 500, 250, 250],
                50,
                3,
                28,
            )
        },
        CalcCase {
            ready: vec![true, true, true, true, true, false, false],
            deleting: vec![false, false, false, false, false, true, true],
            ..calc_case(
                "ScaleDownIgnoresDeletionPods",
                5,
                &[100, 300, 500, 250, 250],
                50,
                3,
                28,
            )
        },
        CalcCase {
            requests: vec![0.9, 1.0, 1.1],
            ..calc_case("Tolerance", 3, &[1010, 1030, 1020], 100, 3, 102)
        },
        CalcCase {
            requests: vec![1.0; 4],
            ..calc_case(
                "SuperfluousMetrics",
                4,
                &[4000, 9500, 3000, 7000, 3200, 2000],
                100,
                24,
                587,
            )
        },
        CalcCase {
            requests: vec![1.0; 4],
            ..calc_case("MissingMetrics", 4, &[400, 95], 100, 3, 24)
        },
        CalcCase {
            requests: vec![1.0; 2],
            ..calc_case("MissingMetricsNoChangeEq", 2, &[1000], 100, 2, 100)
        },
        CalcCase {
            requests: vec![1.0; 2],
            ..calc_case("MissingMetricsNoChangeGt", 2, &[1900], 100, 2, 190)
        },
        CalcCase {
            requests: vec![1.0; 2],
            ..calc_case("MissingMetricsNoChangeLt", 2, &[600], 100, 2, 60)
        },
        CalcCase {
            ready: vec![false, true, true],
            requests: vec![1.0; 3],
            ..calc_case("MissingMetricsUnreadyChange", 3, &[100, 450], 50, 3, 45)
        },
    ];
    let t = now();
    let start = t - Duration::from_secs(3600);
    for c in cases {
        let n = if c.requests.is_empty() {
            c.levels
                .len()
                .max(c.ready.len())
                .max(c.phase.len())
                .max(c.deleting.len())
        } else {
            c.requests.len()
        };
        let pods: Vec<PodInfo> = (0..n)
            .map(|i| {
                let mut p = PodInfo::ready(format!("p{i}"), start)
                    .with_request("cpu", c.requests.get(i).copied().unwrap_or(1.0));
                if let Some(false) = c.ready.get(i) {
                    p.ready = Some(ReadyCondition {
                        ready: false,
                        last_transition: start,
                    });
                }
                if let Some(ph) = c.phase.get(i) {
                    p.phase = *ph;
                }
                p.deleting = c.deleting.get(i).copied().unwrap_or(false);
                p
            })
            .collect();
        let s = samples(&levels(&c.levels), t);
        let got = ReplicaCalculator::default()
            .resource_utilization(t, c.current, c.target, &pods, &s, "cpu", true)
            .unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert_eq!(
            (got.replicas, got.usage),
            (c.expected, c.utilization),
            "{}",
            c.name
        );
    }
}

#[test]
fn replica_calculator_metric_cases() {
    let t = now();
    let c = ReplicaCalculator::default();
    let ps = |n| pods(n, t);
    // Pods metrics (milli-units).
    let plain = |current, lv: &[i64], target, n| {
        c.plain_metric(t, current, target, &ps(n), &samples(&levels(lv), t), false)
            .unwrap()
    };
    assert_eq!(plain(3, &[20_000, 10_000, 30_000], 15_000, 3).replicas, 4); // ScaleUpCM
    assert_eq!(plain(5, &[12_000; 5], 20_000, 5).replicas, 3); // ScaleDownCM
    let tol = plain(3, &[20_000, 21_000, 21_000], 20_000, 3);
    assert_eq!((tol.replicas, tol.usage), (3, 20_666)); // ToleranceCM
                                                        // Object Value.
    assert_eq!(
        c.value_metric(5, 12_000, 20_000, &ps(5)).unwrap().replicas,
        3
    ); // ScaleDownCMObject
    assert_eq!(
        c.value_metric(3, 20_666, 20_000, &ps(3)).unwrap().replicas,
        3
    ); // ToleranceCMObject
       // Object AverageValue.
    let p = c.average_value_metric(5, 6_000, 2_000);
    assert_eq!((p.replicas, p.usage), (3, 1_200)); // ScaleDownPerPodCMObject
    let p = c.average_value_metric(4, 20_166, 5_000);
    assert_eq!((p.replicas, p.usage), (4, 5_042)); // TolerancePerPodCMObject
                                                   // External Value: only ready pods count.
    let mut unready = ps(3);
    for i in [0, 2] {
        unready[i].ready = Some(ReadyCondition {
            ready: false,
            last_transition: t,
        });
    }
    assert_eq!(
        c.value_metric(3, 8_600, 4_400, &unready).unwrap().replicas,
        2
    ); // ScaleUpCMExternalIgnoresUnreadyPods
    assert_eq!(
        c.value_metric(5, 8_600, 14_334, &ps(5)).unwrap().replicas,
        3
    ); // ScaleDownCMExternal
    assert_eq!(c.value_metric(3, 8_600, 8_888, &ps(3)).unwrap().replicas, 3); // ToleranceCMExternal
                                                                              // External AverageValue.
    let p = c.average_value_metric(3, 8_600, 2_150);
    assert_eq!((p.replicas, p.usage), (4, 2_867)); // ScaleUpPerPodCMExternal
    let p = c.average_value_metric(5, 8_600, 2_867);
    assert_eq!((p.replicas, p.usage), (3, 1_720)); // ScaleDownPerPodCMExternal
    assert_eq!(c.average_value_metric(3, 8_600, 2_900).replicas, 3); // TolerancePerPodCMExternal
}

// ---------------------------------------------------------------------------
// Reconcile-level behaviour: initial recommendation, zero replicas, the
// legacy rules of a manifest without `behavior`, stored events, grouping
// ---------------------------------------------------------------------------

fn manifest(min: u32, max: u32, behavior: &str) -> Hpa {
    Hpa::from_manifest_yaml(&format!(
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nspec:\n  scaleTargetRef: {{kind: Deployment, name: w}}\n  minReplicas: {min}\n  maxReplicas: {max}\n{behavior}"
    ))
    .unwrap()
}

const WITH_BEHAVIOR: &str = "  behavior:\n    scaleDown: {stabilizationWindowSeconds: 300}\n";

#[test]
fn a_new_hpa_holds_its_current_count_for_the_scale_down_window() {
    // recordInitialRecommendation: the first reconcile stores the current
    // count, so a new (or restarted) HPA does not scale down at once.
    for behavior in [WITH_BEHAVIOR, ""] {
        let t0 = now();
        let mut h = manifest(1, 100, behavior);
        let d = h.decide_with_reason(t0, 10, 2);
        assert_eq!(d.replicas, 10, "behavior: {:?} ({d})", !behavior.is_empty());
        assert_eq!(d.stabilization.reason(), "ScaleDownStabilized");
        assert_eq!(h.decide(t0 + Duration::from_secs(200), 10, 2), 10);
        // After the 300 s window the scale-down goes through.
        assert!(h.decide(t0 + Duration::from_secs(301), 10, 2) < 10);
    }
    // The difference, when asked for, is an explicit option.
    let mut options = HpaOptions::default();
    options.skip_initial_recommendation = true;
    let mut h = manifest(1, 100, WITH_BEHAVIOR).with_options(options);
    assert_eq!(h.decide(now(), 10, 2), 2);
}

#[test]
fn zero_replicas_mean_scaling_is_disabled() {
    // TestZeroReplicas: a workload scaled to 0 by hand stays at 0 when
    // minReplicas is above 0, whatever the metrics say.
    for behavior in [WITH_BEHAVIOR, ""] {
        let mut h = manifest(3, 5, behavior);
        let d = h.decide_with_reason(now(), 0, 4);
        assert_eq!((d.replicas, d.limit), (0, Limit::ScalingDisabled), "{d}");
        assert!(!d.is_rescale());
        assert!(h.scale_up_events().is_empty());
    }
    // With minReplicas 0 (HPAScaleToZero), 0 is an ordinary count.
    let mut h = manifest(0, 5, WITH_BEHAVIOR);
    assert_eq!(h.decide(now(), 0, 4), 4);
    // The difference, as an option: raise to minReplicas.
    let mut options = HpaOptions::default();
    options.scale_up_from_zero = true;
    let mut h = manifest(3, 5, "").with_options(options);
    let d = h.decide_with_reason(now(), 0, 4);
    assert_eq!((d.replicas, d.limit), (3, Limit::CurrentBelowMin));
}

#[test]
fn a_manifest_without_behavior_takes_the_legacy_scale_up_limit() {
    // normalizeDesiredReplicas / convertDesiredReplicasWithRules: at most
    // max(2 x current, 4), no scale-up stabilization.
    let mut h = manifest(1, 100, "");
    assert!(!h.uses_behavior());
    let d = h.decide_with_reason(now(), 3, 24);
    assert_eq!((d.replicas, d.limit.reason()), (6, "ScaleUpLimit"));
    // Without behavior the controller keeps no scale events.
    assert!(h.scale_up_events().is_empty());
    let mut h = manifest(1, 100, "");
    assert_eq!(h.decide(now(), 1, 10), 4);
    let mut h = manifest(1, 5, "");
    let d = h.decide_with_reason(now(), 3, 24);
    assert_eq!((d.replicas, d.limit.reason()), (5, "TooManyReplicas"));
    let mut h = manifest(2, 100, "");
    let d = h.decide_with_reason(now(), 3, 1);
    // Held by the initial recommendation, then TooFewReplicas raises 1 to 2.
    assert_eq!(d.replicas, 3);
    let later = h.decide_with_reason(now() + Duration::from_secs(400), 3, 1);
    assert_eq!(
        (later.replicas, later.limit.reason()),
        (2, "TooFewReplicas")
    );
    // With behavior, the default policies allow +100 % or +4 pods per 15 s.
    let mut h = manifest(1, 100, WITH_BEHAVIOR);
    assert!(h.uses_behavior());
    assert_eq!(h.decide(now(), 3, 24), 7);
}

#[test]
fn without_behavior_the_scale_down_window_includes_its_oldest_second() {
    // The legacy window keeps a recommendation exactly 300 s old (it drops
    // only older ones); the behavior window drops it. No scale-down rate
    // limit applies without behavior.
    let t0 = now();
    let mut legacy = manifest(1, 100, "");
    let mut with = manifest(1, 100, WITH_BEHAVIOR);
    for h in [&mut legacy, &mut with] {
        assert_eq!(h.decide(t0, 10, 10), 10);
    }
    let at = t0 + Duration::from_secs(300);
    assert_eq!(legacy.decide(at, 10, 2), 10);
    assert_eq!(with.decide(at, 10, 2), 2);
    assert_eq!(legacy.decide(at + Duration::from_nanos(1), 10, 2), 2);
    // The controller flag moves the window.
    let mut options = HpaOptions::default();
    options.downscale_stabilization = Duration::from_secs(60);
    let mut short = manifest(1, 100, "").with_options(options);
    assert_eq!(short.decide(t0, 10, 10), 10);
    assert_eq!(short.decide(t0 + Duration::from_secs(61), 10, 2), 2);
}

#[test]
fn stored_scale_events_keep_the_controllers_outdated_marks() {
    // storeScaleEvent: on each store, events older than the longest policy
    // period are marked outdated and the last outdated slot is reused.
    let t0 = now();
    let s = Duration::from_secs;
    let mut h = hpa(1, 1000, Some(rules(10, 60, 0, 0, 0)), None);
    h.record_scale_event(t0, 5);
    h.record_scale_event(t0 + s(30), 3);
    let ev = |h: &Hpa| {
        h.scale_up_events()
            .iter()
            .map(|e| (e.at.duration_since(t0).as_secs(), e.change, e.outdated))
            .collect::<Vec<_>>()
    };
    assert_eq!(ev(&h), vec![(0, 5, false), (30, 3, false)]);
    h.record_scale_event(t0 + s(90), 2); // t0 is now older than 60 s
    assert_eq!(ev(&h), vec![(90, 2, false), (30, 3, false)]);
    h.record_scale_event(t0 + s(200), 1); // both older: the last one is reused
    assert_eq!(ev(&h), vec![(90, 2, true), (200, 1, false)]);
    assert!(h.scale_down_events().is_empty());
    // A decision stores its own event, in the outdated slot.
    let d = h.decide_with_reason(t0 + s(201), 10, 12);
    assert_eq!(d.replicas, 12);
    assert_eq!(ev(&h), vec![(201, 2, false), (200, 1, false)]);
}

#[test]
fn pod_grouping_sorts_pods_as_the_controller_does() {
    // groupPods, by behaviour: ignored, unready, missing, ready.
    let now = now();
    let min = Duration::from_secs(60);
    let long_ago = now - 60 * min;
    let calc = ReplicaCalculator::default(); // CPU initialization 5 min, readiness delay 30 s
    let pods = vec![
        PodInfo::ready("ready", long_ago),
        PodInfo::ready("no-sample", long_ago),
        PodInfo::pending("pending"),
        PodInfo::ready("failed", long_ago).with_phase(PodPhase::Failed),
        PodInfo::ready("deleting", long_ago).deleting(),
        // Started 1 min ago (in CPU initialization) and not ready yet.
        PodInfo::ready("warming", now - min).ready_since(false, now - min),
        // Started 1 min ago and ready, but its sample's window began before
        // it became ready.
        PodInfo::ready("fresh", now - min).ready_since(true, now - Duration::from_secs(30)),
        // Long started, unready since 10 s after start (within the 30 s
        // readiness delay): it never was ready.
        PodInfo::ready("never-ready", long_ago)
            .ready_since(false, long_ago + Duration::from_secs(10)),
        // Long started, was ready, turned unready later: its sample counts.
        PodInfo::ready("was-ready", long_ago).ready_since(false, now - 10 * min),
    ];
    let sampled = [
        "ready",
        "pending",
        "failed",
        "deleting",
        "warming",
        "fresh",
        "never-ready",
        "was-ready",
    ];
    let samples: BTreeMap<String, PodMetric> = sampled
        .iter()
        .map(|n| (n.to_string(), PodMetric::new(0.5, now)))
        .collect();
    let set = |names: &[&str]| {
        names
            .iter()
            .map(|n| n.to_string())
            .collect::<std::collections::BTreeSet<_>>()
    };
    let cpu = calc.group_pods(now, &pods, &samples, true);
    assert_eq!(cpu.ready, 2, "{cpu:?}"); // ready, was-ready
    assert_eq!(
        cpu.unready,
        set(&["pending", "warming", "fresh", "never-ready"])
    );
    assert_eq!(cpu.missing, set(&["no-sample"]));
    assert_eq!(cpu.ignored, set(&["failed", "deleting"]));
    // Other metrics ignore readiness: only pending pods are unready.
    let other = calc.group_pods(now, &pods, &samples, false);
    assert_eq!(other.ready, 5);
    assert_eq!(other.unready, set(&["pending"]));
}
