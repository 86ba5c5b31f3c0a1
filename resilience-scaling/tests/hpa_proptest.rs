//! Property tests for the HPA: a direct model of the controller's lists,
//! bounds, policy limits, determinism and robustness against any manifest.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use resilience_scaling::hpa::{
    Hpa, HpaConfig, PolicyType, ScalingPolicy, ScalingRules, SelectPolicy,
};

/// The controller's algorithm, written the way the controller keeps its
/// state: a list of timestamped recommendations (the last entry older than
/// both windows is overwritten) and lists of scale events with outdated
/// flags.
struct Model {
    cfg: HpaConfig,
    recs: Vec<(Instant, u32)>,
    up: Vec<(Instant, u32, bool)>,
    down: Vec<(Instant, u32, bool)>,
    /// `recordInitialRecommendation` ran (the first reconcile).
    started: bool,
}

fn change(events: &[(Instant, u32, bool)], now: Instant, period: Duration) -> i64 {
    let cutoff = now.checked_sub(period);
    events
        .iter()
        .filter(|(t, _, _)| cutoff.is_none_or(|c| *t > c))
        .map(|(_, c, _)| i64::from(*c))
        .sum()
}

fn store(events: &mut Vec<(Instant, u32, bool)>, now: Instant, change: u32, longest: Duration) {
    let cutoff = now.checked_sub(longest);
    let mut old = None;
    for (i, e) in events.iter_mut().enumerate() {
        if cutoff.is_some_and(|c| e.0 < c) {
            e.2 = true;
        }
        if e.2 {
            old = Some(i);
        }
    }
    match old {
        Some(i) => events[i] = (now, change, false),
        None => events.push((now, change, false)),
    }
}

impl Model {
    fn limit(&self, now: Instant, current: i64, rules: &ScalingRules, up: bool) -> i64 {
        let mut result: Option<i64> = None;
        if rules.select_policy == SelectPolicy::Disabled {
            return current;
        }
        for p in &rules.policies {
            let start =
                current - change(&self.up, now, p.period) + change(&self.down, now, p.period);
            let proposed = match (p.type_, up) {
                (PolicyType::Pods, true) => start + i64::from(p.value),
                (PolicyType::Pods, false) => start - i64::from(p.value),
                (PolicyType::Percent, true) => {
                    (start as f64 * (1.0 + f64::from(p.value) / 100.0)).ceil() as i64
                }
                (PolicyType::Percent, false) => {
                    (start as f64 * (1.0 - f64::from(p.value) / 100.0)) as i64
                }
            };
            let take_max = (rules.select_policy == SelectPolicy::Max) == up;
            result = Some(match result {
                None => proposed,
                Some(r) if take_max => r.max(proposed),
                Some(r) => r.min(proposed),
            });
        }
        result.unwrap_or(current)
    }

    fn decide(&mut self, now: Instant, current: u32, desired: u32) -> u32 {
        let (min, max) = (self.cfg.min_replicas, self.cfg.max_replicas);
        if !self.started {
            self.started = true;
            self.recs.push((now, current));
        }
        let result = if current == 0 && min != 0 {
            0 // scaling disabled
        } else if current > max {
            max
        } else if current < min {
            min
        } else {
            let up_cut = now.checked_sub(self.cfg.scale_up.stabilization_window);
            let down_cut = now.checked_sub(self.cfg.scale_down.stabilization_window);
            let (mut up_rec, mut down_rec) = (desired, desired);
            let mut old = None;
            for (i, (t, r)) in self.recs.iter().enumerate() {
                let in_up = up_cut.is_none_or(|c| *t > c);
                let in_down = down_cut.is_none_or(|c| *t > c);
                if in_up {
                    up_rec = up_rec.min(*r);
                }
                if in_down {
                    down_rec = down_rec.max(*r);
                }
                if up_cut.is_some_and(|c| *t < c) && down_cut.is_some_and(|c| *t < c) {
                    old = Some(i);
                }
            }
            let mut rec = current;
            if rec < up_rec {
                rec = up_rec;
            }
            if rec > down_rec {
                rec = down_rec;
            }
            match old {
                Some(i) => self.recs[i] = (now, desired),
                None => self.recs.push((now, desired)),
            }
            let (cur, des) = (i64::from(current), i64::from(rec));
            let out = if des > cur {
                let limit = self
                    .limit(now, cur, &self.cfg.scale_up.clone(), true)
                    .max(cur);
                des.min(i64::from(max).min(limit))
            } else if des < cur {
                let limit = self
                    .limit(now, cur, &self.cfg.scale_down.clone(), false)
                    .min(cur);
                des.max(i64::from(min).max(limit))
            } else {
                des
            };
            out as u32
        };
        if result > current {
            let longest = self.cfg.scale_up.longest_period();
            store(&mut self.up, now, result - current, longest);
        } else if result < current {
            let longest = self.cfg.scale_down.longest_period();
            store(&mut self.down, now, current - result, longest);
        }
        result
    }
}

fn policy() -> impl Strategy<Value = ScalingPolicy> {
    (prop::bool::ANY, 1u32..200, 1u64..120).prop_map(|(pods, value, secs)| ScalingPolicy {
        type_: if pods {
            PolicyType::Pods
        } else {
            PolicyType::Percent
        },
        value,
        period: Duration::from_secs(secs),
    })
}

fn rules() -> impl Strategy<Value = ScalingRules> {
    (
        0u64..150,
        prop::sample::select(vec![
            SelectPolicy::Max,
            SelectPolicy::Min,
            SelectPolicy::Disabled,
        ]),
        prop::collection::vec(policy(), 1..4),
    )
        .prop_map(|(w, select_policy, policies)| ScalingRules {
            stabilization_window: Duration::from_secs(w),
            select_policy,
            policies,
            tolerance: 0.1,
        })
}

fn config() -> impl Strategy<Value = HpaConfig> {
    (0u32..6, 0u32..60, rules(), rules()).prop_map(|(min, extra, up, down)| HpaConfig {
        name: "p".into(),
        min_replicas: min,
        max_replicas: (min + extra).max(1),
        metrics: vec![],
        scale_up: up,
        scale_down: down,
    })
}

#[derive(Debug, Clone)]
enum Op {
    Decide {
        dt_ms: u64,
        current: u32,
        desired: u32,
    },
    Event {
        ago_s: u64,
        change: i32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..40_000, 0u32..70, 0u32..90).prop_map(|(dt_ms, current, desired)| Op::Decide { dt_ms, current, desired }),
        1 => (0u64..200, -20i32..20).prop_map(|(ago_s, change)| Op::Event { ago_s, change }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn matches_the_controller_model(cfg in config(), ops in prop::collection::vec(op(), 1..60)) {
        let mut hpa = Hpa::new(cfg.clone()).unwrap();
        let mut model = Model { cfg: cfg.clone(), recs: vec![], up: vec![], down: vec![], started: false };
        let mut now = Instant::now() + Duration::from_secs(1_000);
        for op in ops {
            match op {
                Op::Decide { dt_ms, current, desired } => {
                    now += Duration::from_millis(dt_ms);
                    let got = hpa.decide(now, current, desired);
                    let want = model.decide(now, current, desired);
                    prop_assert_eq!(got, want);
                    let disabled = current == 0 && cfg.min_replicas > 0;
                    prop_assert!(disabled || (got >= cfg.min_replicas && got <= cfg.max_replicas));
                }
                Op::Event { ago_s, change } => {
                    let at = now - Duration::from_secs(ago_s);
                    hpa.record_scale_event(at, change);
                    if change > 0 {
                        store(&mut model.up, at, change as u32, cfg.scale_up.longest_period());
                    } else if change < 0 {
                        store(&mut model.down, at, change.unsigned_abs(), cfg.scale_down.longest_period());
                    }
                }
            }
        }
    }

    #[test]
    fn result_is_within_bounds_and_deterministic(
        cfg in config(),
        steps in prop::collection::vec((0u64..30_000, any::<u32>(), any::<u32>()), 1..80),
    ) {
        let mut a = Hpa::new(cfg.clone()).unwrap();
        let mut b = Hpa::new(cfg.clone()).unwrap();
        let mut now = Instant::now();
        for (dt, current, desired) in steps {
            now += Duration::from_millis(dt);
            let da = a.decide_with_reason(now, current, desired);
            let db = b.decide_with_reason(now, current, desired);
            prop_assert_eq!(&da, &db);
            if current == 0 && cfg.min_replicas > 0 {
                prop_assert_eq!(da.replicas, 0, "scaling disabled at 0 replicas: {}", da);
            } else {
                prop_assert!(da.replicas >= cfg.min_replicas && da.replicas <= cfg.max_replicas, "{}", da);
            }
        }
    }

    #[test]
    fn without_events_a_scale_up_never_exceeds_the_policy_limit(
        cfg in config(),
        current in 0u32..60,
        desired in 0u32..10_000,
    ) {
        let mut hpa = Hpa::new(cfg.clone()).unwrap();
        let current = current.clamp(cfg.min_replicas, cfg.max_replicas);
        let got = hpa.decide(Instant::now(), current, desired);
        if got > current {
            let limits = cfg.scale_up.policies.iter().map(|p| match p.type_ {
                PolicyType::Pods => i64::from(current) + i64::from(p.value),
                PolicyType::Percent => (f64::from(current) * (1.0 + f64::from(p.value) / 100.0)).ceil() as i64,
            });
            let limit = match cfg.scale_up.select_policy {
                SelectPolicy::Max => limits.max().unwrap(),
                SelectPolicy::Min => limits.min().unwrap(),
                SelectPolicy::Disabled => i64::from(current),
            };
            prop_assert!(i64::from(got) <= limit, "{got} > {limit}");
            prop_assert!(got <= desired);
        }
    }

    #[test]
    fn no_panic_on_arbitrary_text(text in ".{0,300}") {
        let _ = Hpa::from_manifest_yaml(&text);
    }

    #[test]
    fn no_panic_on_arbitrary_values(
        min in any::<i64>(), max in any::<i64>(), window in any::<i64>(),
        value in any::<i64>(), period in any::<i64>(), util in any::<i64>(),
        ptype in prop::sample::select(vec!["Pods", "Percent", "Bogus"]),
        target in prop::sample::select(vec!["averageUtilization: UTIL", "averageValue: \"UTILm\"", "value: -3", "averageValue: 1e400"]),
        select in prop::sample::select(vec!["Max", "Min", "Disabled", "Most"]),
    ) {
        let yaml = format!(r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
spec:
  scaleTargetRef: {{kind: Deployment, name: w}}
  minReplicas: {min}
  maxReplicas: {max}
  metrics:
  - type: Resource
    resource: {{name: cpu, target: {{type: Utilization, {target}}}}}
  behavior:
    scaleUp:
      stabilizationWindowSeconds: {window}
      selectPolicy: {select}
      policies: [{{type: {ptype}, value: {value}, periodSeconds: {period}}}]
"#).replace("UTIL", &util.to_string());
        if let Ok(mut hpa) = Hpa::from_manifest_yaml(&yaml) {
            let c = hpa.config().clone();
            let r = hpa.decide(Instant::now(), u32::MAX, 0);
            prop_assert!(r >= c.min_replicas && r <= c.max_replicas);
            let r = hpa.evaluate_uniform(Instant::now(), c.min_replicas, c.min_replicas, &[f64::MAX]);
            prop_assert!(r.replicas <= c.max_replicas);
        }
    }
}

#[test]
fn manifest_errors_name_the_field() {
    let base = |spec: &str| {
        format!("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nspec:\n  scaleTargetRef: {{kind: Deployment, name: w}}\n{spec}")
    };
    let cases = [
        ("  maxReplicas: 0", "spec.maxReplicas"),
        ("  minReplicas: -1\n  maxReplicas: 3", "spec.minReplicas"),
        ("  maxReplicas: 3\n  behavior:\n    scaleUp:\n      policies: [{type: Pods, value: 1, periodSeconds: 1801}]", "spec.behavior.scaleUp.policies[0].periodSeconds"),
        ("  maxReplicas: 3\n  behavior:\n    scaleDown:\n      policies: []", "spec.behavior.scaleDown.policies"),
        ("  maxReplicas: 3\n  behavior:\n    scaleDown:\n      stabilizationWindowSeconds: 3601", "spec.behavior.scaleDown.stabilizationWindowSeconds"),
        ("  maxReplicas: 3\n  behavior:\n    scaleUp:\n      policies: [{type: Percent, value: 0, periodSeconds: 15}]", "spec.behavior.scaleUp.policies[0].value"),
        ("  maxReplicas: 3\n  metrics:\n  - type: Pods\n    pods: {metric: {name: q}, target: {type: Utilization, averageUtilization: 5}}", "spec.metrics[0].pods.target.type"),
        ("  maxReplicas: 3\n  metrics:\n  - type: Resource\n    pods: {metric: {name: q}, target: {type: AverageValue, averageValue: 5}}", "spec.metrics[0].resource"),
        ("  maxReplicas: 3\n  metrics:\n  - type: External\n    external: {metric: {name: q}, target: {type: Value}}", "spec.metrics[0].external.target.value"),
    ];
    for (spec, field) in cases {
        let err = Hpa::from_manifest_yaml(&base(spec)).unwrap_err();
        assert_eq!(err.field(), Some(field), "{spec}: {err}");
    }
    let err = Hpa::from_manifest_yaml("apiVersion: apps/v1\nkind: Deployment\nspec: {scaleTargetRef: {kind: D, name: w}, maxReplicas: 1}").unwrap_err();
    assert_eq!(err.field(), Some("apiVersion"));
    let err = Hpa::from_manifest_yaml("spec: [").unwrap_err();
    assert!(
        err.to_string().starts_with("cannot parse yaml config"),
        "{err}"
    );
    let err = Hpa::from_manifest_yaml(&base("  maxReplicas: 3\n  maxReplica: 4")).unwrap_err();
    assert!(err.to_string().contains("maxReplica"), "{err}");
}

#[test]
fn runtime_engine_preset_loads_with_its_numbers() {
    let hpa = Hpa::from_manifest_yaml(include_str!("../presets/runtime-engine-hpa.yaml")).unwrap();
    let c = hpa.config();
    assert_eq!(
        (c.name.as_str(), c.min_replicas, c.max_replicas),
        ("runtime-engine-hpa", 10, 500)
    );
    assert_eq!(c.metrics.len(), 2);
    assert_eq!(c.scale_up.stabilization_window, Duration::from_secs(60));
    assert_eq!(c.scale_down.policies[0].value, 10);
    assert_eq!(c.scale_down.policies[0].period, Duration::from_secs(120));
}
