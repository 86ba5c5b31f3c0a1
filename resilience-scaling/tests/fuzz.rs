//! The fuzz suite: every public parser and every evaluator of this crate fed
//! random and extreme input (0, 1, max, NaN, ±∞, huge and sub-second
//! durations, unknown fields, random bytes). Each target asserts that
//! nothing panics or overflows (the tests run in debug builds, where
//! integer overflow panics), that bad configuration gives an error naming
//! the field, and that the evaluator's invariants hold after every call.
//!
//! `scripts/test.sh` runs this binary with its output shown: every target
//! prints how many cases it ran. `RESILIENCE_FUZZ_CASES` sets the cases per
//! target (default 256, a few seconds for the crate in a debug build).

mod common;

use common::fuzz_cases;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use resilience_core::config::ConfigError;
use resilience_scaling::hpa::{
    Hpa, Limit, MetricReading, MetricsSnapshot, PodInfo, PodMetric, PodPhase, Quantity,
};
use resilience_scaling::lag::{LagReading, LagScaler};
use resilience_scaling::predictive::Predictor;
use resilience_scaling::rules::RuleEngine;
use resilience_scaling::schedule::{Cron, Schedule, UtcTime};
use resilience_scaling::sim::Trace;
use resilience_scaling::spot::SpotManager;
use resilience_scaling::step::StepScaling;
use resilience_scaling::target_tracking::TargetTracking;

// ------------------------------------------------------------------ harness

thread_local! {
    static EXERCISED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Notes that a case got past configuration into the evaluator.
fn exercised() {
    EXERCISED.with(|c| c.set(c.get() + 1));
}

/// Runs `test` on `fuzz_cases()` inputs drawn from `strategy` and prints the
/// count, and how many cases reached the evaluator with a valid config.
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
    let result = runner.run(&strategy, |v| {
        ran.set(ran.get() + 1);
        test(v)
    });
    if let Err(e) = result {
        panic!("fuzz resilience-scaling::{name}: {e}");
    }
    let valid = EXERCISED.with(|c| c.get());
    println!(
        "fuzz resilience-scaling::{name}: {} cases passed (of {n} planned), {valid} with a valid config ran the evaluator, no panic",
        ran.get()
    );
}

/// A config error must say which field is wrong: `Invalid` carries it, and
/// a parse error (a value of the wrong type) names it in its message.
fn names_a_field(e: &ConfigError, fields: &[&str]) -> Result<(), TestCaseError> {
    match e.field() {
        Some(f) => prop_assert!(!f.is_empty(), "empty field in {e}"),
        None => {
            let msg = e.to_string();
            prop_assert!(
                fields.iter().any(|f| msg.contains(f)) || msg.contains("line"),
                "error names no field: {msg}"
            );
        }
    }
    Ok(())
}

fn unsigned() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (0u64..60).prop_map(|v| v.to_string()),
        1 => prop::sample::select(vec![
            "0", "1", "4294967295", "4294967296", "9223372036854775807",
            "18446744073709551615", "-1", "1.5", "null", "'x'",
        ])
        .prop_map(str::to_string),
        1 => any::<u64>().prop_map(|v| v.to_string()),
    ]
}

fn signed() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (-50i64..50).prop_map(|v| v.to_string()),
        1 => prop::sample::select(vec![
            "-9223372036854775808", "9223372036854775807", "-4294967295", "4294967295", "0",
        ])
        .prop_map(str::to_string),
        1 => any::<i64>().prop_map(|v| v.to_string()),
    ]
}

fn float() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (-10.0f64..200.0).prop_map(|v| format!("{v:.3}")),
        1 => prop::sample::select(vec![
            "0", "1", "-1", ".nan", ".inf", "-.inf", "1e308", "-1e308", "5e-324", "100",
        ])
        .prop_map(str::to_string),
        1 => any::<f64>().prop_map(|v| format!("{v:e}")),
    ]
}

fn duration() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (0u64..600).prop_map(|v| format!("{v}s")),
        2 => prop::sample::select(vec![
            "0s", "1ns", "500ms", "1001ms", "1s", "1m", "5m", "1h", "1day", "366days",
            "18446744073709551615s", "584942417355years", "-1s", "x",
        ])
        .prop_map(str::to_string),
        1 => (any::<u64>(), prop::sample::select(vec!["ns", "ms", "s", "m", "h", "days"]))
            .prop_map(|(n, u)| format!("{n}{u}")),
    ]
}

/// Fills the markers in order from `values`: `$u` a small count, `$U` a
/// larger one (so `min: $u` / `max: $U` is usually valid), `$I` a signed
/// integer, `$F` a number, `$D` a duration.
fn fill(template: &str, values: &[String]) -> String {
    let mut out = String::new();
    let mut it = values.iter();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|n| "uUIFD".contains(*n)) {
            chars.next();
            out.push_str(it.next().map_or("0", String::as_str));
        } else {
            out.push(c);
        }
    }
    out
}

fn sane(kind: char) -> BoxedStrategy<String> {
    match kind {
        'u' => (0u64..8).prop_map(|v| v.to_string()).boxed(),
        'U' => (10u64..100).prop_map(|v| v.to_string()).boxed(),
        'I' => (1i64..100).prop_map(|v| v.to_string()).boxed(),
        'F' => (1u32..100).prop_map(|v| v.to_string()).boxed(),
        _ => (1u64..600).prop_map(|v| format!("{v}s")).boxed(),
    }
}

fn extreme(kind: char) -> BoxedStrategy<String> {
    match kind {
        'u' | 'U' => unsigned().boxed(),
        'I' => signed().boxed(),
        'F' => float().boxed(),
        _ => duration().boxed(),
    }
}

/// Values for a template: every marker gets a plausible value, then up to
/// two of them are replaced by values from the extreme pools, so most
/// cases reach the evaluator and every field is attacked in turn.
fn values_for(template: &'static str) -> impl Strategy<Value = Vec<String>> {
    let kinds: Vec<char> = template
        .match_indices('$')
        .filter_map(|(i, _)| template[i + 1..].chars().next())
        .filter(|c| "uUIFD".contains(*c))
        .collect();
    let n = kinds.len().max(1);
    let sane_values: Vec<_> = kinds.iter().map(|k| sane(*k)).collect();
    let extremes: Vec<_> = kinds.iter().map(|k| extreme(*k)).collect();
    (sane_values, extremes, prop::collection::vec(0..n, 0..3)).prop_map(
        |(mut values, wild, picks)| {
            for i in picks {
                if let (Some(v), Some(w)) = (values.get_mut(i), wild.get(i)) {
                    v.clone_from(w);
                }
            }
            values
        },
    )
}

fn instant_steps() -> impl Strategy<Value = Vec<(u64, f64, u32)>> {
    let value = prop_oneof![
        4 => -10.0f64..500.0,
        1 => prop::sample::select(vec![
            f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, f64::MAX, f64::MIN, 1e-300,
        ]),
    ];
    let current = prop_oneof![4 => 0u32..60, 1 => Just(u32::MAX), 1 => Just(0u32)];
    let step = prop_oneof![4 => 0u64..120_000, 1 => Just(0u64), 1 => 0u64..u64::MAX / 4];
    prop::collection::vec((step, value, current), 1..40)
}

/// Advances `now` by `ms`, capped so the instant stays representable.
fn advance(now: Instant, ms: u64) -> Instant {
    now.checked_add(Duration::from_millis(ms.min(10 * 365 * 86_400_000)))
        .unwrap_or(now)
}

// ------------------------------------------------------------------ parsers

#[test]
fn fuzz_parsers_with_random_text() {
    let text = prop_oneof![
        any::<Vec<u8>>().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        "[ -~\n]{0,200}",
        "(apiVersion|kind|spec|metadata|behavior|metrics|minReplicas|maxReplicas|scaleUp|[:{}\\[\\], \n0-9a-z.-])*",
    ];
    fuzz("parsers_random_text", text, |t| {
        let _ = Hpa::from_manifest_yaml(&t);
        let _ = Schedule::from_yaml(&t);
        let _ = Predictor::from_yaml(&t);
        let _ = StepScaling::from_yaml(&t);
        let _ = RuleEngine::from_yaml(&t);
        let _ = LagScaler::from_yaml(&t);
        let _ = TargetTracking::from_yaml(&t);
        let _ = SpotManager::from_yaml(&t);
        let _ = Quantity::parse(&t);
        let _ = t.parse::<Cron>();
        let _ = Trace::from_csv(&t);
        Ok(())
    });
}

#[test]
fn fuzz_trace_csv() {
    let ts = prop_oneof![
        4 => -1_000i64..1_000,
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
        1 => any::<i64>(),
    ];
    let rows = prop::collection::vec(
        (
            ts,
            prop_oneof![
                Just("1.5".to_string()),
                Just("NaN".to_string()),
                Just("-1".to_string()),
                "[ -~]{0,4}"
            ],
        ),
        0..6,
    );
    fuzz("trace_csv", rows, |rows| {
        let text: String = rows.iter().map(|(t, d)| format!("{t},{d}\n")).collect();
        if let Ok(trace) = Trace::from_csv(&text) {
            exercised();
            let _ = trace.to_csv();
        }
        Ok(())
    });
}

#[test]
fn a_trace_with_extreme_timestamps_is_an_error_not_an_overflow() {
    let e = Trace::from_csv("-9223372036854775808,1\n9223372036854775807,1\n").unwrap_err();
    assert!(e.to_string().contains("too far apart"), "{e}");
}

#[test]
fn fuzz_quantity_and_cron_strings() {
    let quantity = prop_oneof![
        "[-+]?[0-9]{0,25}(\\.[0-9]{0,12})?([eE][-+]?[0-9]{1,4})?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|n|u)?",
        "[ -~]{0,30}",
    ];
    fuzz("quantity_strings", quantity, |q| {
        if let Ok(v) = Quantity::parse(&q) {
            exercised();
            let _ = (v.milli(), v.as_f64(), v.to_string());
        }
        Ok(())
    });
    let field = prop_oneof![
        6 => Just("*".to_string()),
        6 => (0u64..24).prop_map(|v| v.to_string()),
        1 => (0u64..70).prop_map(|v| v.to_string()),
        1 => (0u64..70, 0u64..70).prop_map(|(a, b)| format!("{a}-{b}")),
        1 => (0u64..70).prop_map(|s| format!("*/{s}")),
        1 => Just("*/4294967295".to_string()),
        1 => Just("*/18446744073709551616".to_string()),
        1 => Just("L".to_string()),
        1 => Just("5#5".to_string()),
        1 => Just("mon-fri".to_string()),
        1 => "[0-9a-zA-Z*/,#?LW-]{1,8}",
    ];
    let fields = prop_oneof![
        4 => prop::collection::vec(field.clone(), 5..=5),
        1 => prop::collection::vec(field, 4..7),
    ];
    let cron = (fields, -5_000_000_000i64..5_000_000_000);
    fuzz("cron_expressions", cron, |(fields, secs)| {
        let text = fields.join(" ");
        if let Ok(c) = text.parse::<Cron>() {
            exercised();
            let t = UtcTime::from_unix(secs);
            let _ = c.matches(t);
            if let Some(last) = c.latest_at_or_before(t) {
                prop_assert!(last <= t, "{text}: latest {last} after {t}");
            }
            if let Some(next) = c.next_after(t) {
                prop_assert!(next > t, "{text}: next {next} not after {t}");
            }
        }
        Ok(())
    });
}

// ------------------------------------------------------------------ HPA

const HPA: &str = "apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: fuzz}
spec:
  scaleTargetRef: {kind: Deployment, name: w}
  minReplicas: $u
  maxReplicas: $U
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: $U}}
  - type: External
    external: {metric: {name: queue}, target: {type: AverageValue, averageValue: $F}}
  behavior:
    scaleUp:
      stabilizationWindowSeconds: $I
      selectPolicy: Max
      policies: [{type: Percent, value: $I, periodSeconds: $I}, {type: Pods, value: $I, periodSeconds: 15}]
    scaleDown:
      stabilizationWindowSeconds: $I
      tolerance: $F
      policies: [{type: Percent, value: $I, periodSeconds: $I}]
";

fn hpa_invariant(hpa: &Hpa, current: u32, replicas: u32) -> Result<(), TestCaseError> {
    let (min, max) = (hpa.config().min_replicas, hpa.config().max_replicas);
    if current == 0 && min > 0 {
        prop_assert_eq!(replicas, 0, "scaling disabled keeps 0");
    } else {
        prop_assert!(
            (min..=max).contains(&replicas),
            "{replicas} outside [{min}, {max}]"
        );
    }
    Ok(())
}

#[test]
fn fuzz_hpa_manifests_and_decisions() {
    let input = (values_for(HPA), any::<bool>(), instant_steps());
    fuzz(
        "hpa_manifest_and_decide",
        input,
        |(values, legacy, steps)| {
            let mut text = fill(HPA, &values);
            if legacy {
                text.truncate(text.find("  behavior:").unwrap_or(text.len()));
            }
            let mut hpa = match Hpa::from_manifest_yaml(&text) {
                Ok(h) => {
                    exercised();
                    h
                }
                Err(e) => {
                    return names_a_field(
                        &e,
                        &[
                            "minReplicas",
                            "maxReplicas",
                            "averageUtilization",
                            "averageValue",
                            "stabilizationWindowSeconds",
                            "value",
                            "periodSeconds",
                            "tolerance",
                        ],
                    )
                }
            };
            let mut now = Instant::now();
            let mut decisions = 0usize;
            for (ms, value, current) in steps {
                now = advance(now, ms);
                let desired = if value.is_finite() {
                    value.abs() as u32
                } else {
                    u32::MAX
                };
                let d = hpa.decide_with_reason(now, current, desired);
                hpa_invariant(&hpa, current, d.replicas)?;
                let d = hpa.evaluate_uniform(now, current, current, &[value, value * 3.0]);
                hpa_invariant(&hpa, current, d.replicas)?;
                decisions += 2;
                // History is pruned: never more entries than decisions made.
                let (recs, events) = hpa.history_len();
                prop_assert!(recs <= decisions + 1 && events <= decisions);
            }
            Ok(())
        },
    );
}

#[test]
fn fuzz_hpa_evaluate_with_random_pods() {
    let pod = (
        0u8..6,
        prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-1.0),
            0.0f64..4.0,
            Just(f64::MAX)
        ],
        0u64..4_000,
        any::<bool>(),
    );
    let input = (
        prop::collection::vec(pod, 0..12),
        0u32..30,
        prop::collection::vec(-1e6f64..1e6, 0..3),
    );
    let hpa_text = include_str!("../presets/runtime-engine-hpa.yaml");
    fuzz(
        "hpa_evaluate_snapshot",
        input,
        |(pods, current, external)| {
            let mut hpa = Hpa::from_manifest_yaml(hpa_text).unwrap();
            exercised();
            let now = Instant::now() + Duration::from_secs(10_000);
            let mut snap = MetricsSnapshot::default();
            let mut cpu = BTreeMap::new();
            let mut queue = BTreeMap::new();
            for (i, (phase, value, age, sampled)) in pods.into_iter().enumerate() {
                let name = format!("p{i}");
                let started = now - Duration::from_secs(age);
                let phase = [
                    PodPhase::Running,
                    PodPhase::Pending,
                    PodPhase::Failed,
                    PodPhase::Succeeded,
                    PodPhase::Unknown,
                    PodPhase::Running,
                ][usize::from(phase)];
                snap.pods.push(
                    PodInfo::ready(&name, started)
                        .with_phase(phase)
                        .with_request("cpu", if value.is_finite() { value } else { 0.0 }),
                );
                if sampled {
                    cpu.insert(name.clone(), PodMetric::new(value, now));
                    queue.insert(name, PodMetric::new(value * 10.0, now));
                }
            }
            snap.readings
                .insert("cpu".into(), MetricReading::PerPod(cpu));
            snap.readings
                .insert("request_queue_length".into(), MetricReading::PerPod(queue));
            snap.readings
                .insert("unused".into(), MetricReading::External(external));
            match hpa.evaluate(now, current, &snap) {
                Ok(d) => hpa_invariant(&hpa, current, d.replicas)?,
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
            Ok(())
        },
    );
}

#[test]
fn hpa_zero_replicas_stay_zero_only_when_min_is_positive() {
    let mut h =
        Hpa::from_manifest_yaml(include_str!("../presets/runtime-engine-hpa.yaml")).unwrap();
    let d = h.decide_with_reason(Instant::now(), 0, 50);
    assert_eq!((d.replicas, d.limit), (0, Limit::ScalingDisabled));
}

// ------------------------------------------------------------------ other evaluators

const STEP: &str = "min_capacity: $u
max_capacity: $U
adjustment_type: percent_change_in_capacity
min_adjustment_magnitude: $u
alarm: {threshold: $F, comparison: greater_than, for: $D}
steps: [{upper_bound: 0, adjustment: $I}, {lower_bound: 0, upper_bound: 10, adjustment: $I}, {lower_bound: 10, adjustment: $I}]
cooldown: $D
";

const RULES: &str = "min_replicas: $u
max_replicas: $U
cooldown: $D
scale_up:
  - {metric: q, above: $F, for: $D, change: $u}
  - {metric: cpu, above: $F, for: $D, change: $u}
scale_down:
  - {metric: q, below: $F, for: $D, change: $u}
";

const TRACKING: &str = "min_capacity: $u
max_capacity: $U
target_value: $F
scale_out_after: $D
scale_in_after: $D
scale_out_cooldown: $D
scale_in_cooldown: $D
";

const LAG: &str = "min_instances: $u
max_instances: $U
partitions: $U
scale_up_threshold: {consumer_lag_seconds: $F}
scale_down_threshold: {consumer_lag_seconds: $F}
scale_down_step: $u
scale_down_cooldown: $D
";

fn within(replicas: u32, min: u32, max: u32, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        replicas >= min && replicas <= max,
        "{what}: {replicas} outside [{min}, {max}]"
    );
    Ok(())
}

#[test]
fn fuzz_step_rules_tracking_and_lag() {
    fuzz(
        "step_scaling",
        (values_for(STEP), instant_steps()),
        |(v, steps)| {
            let mut p = match StepScaling::from_yaml(&fill(STEP, &v)) {
                Ok(p) => {
                    exercised();
                    p
                }
                Err(e) => {
                    return names_a_field(
                        &e,
                        &[
                            "capacity",
                            "adjustment",
                            "threshold",
                            "for",
                            "cooldown",
                            "bound",
                        ],
                    )
                }
            };
            let (min, max) = (p.config().min_capacity, p.config().max_capacity);
            let mut now = Instant::now();
            for (ms, value, current) in steps {
                now = advance(now, ms);
                within(p.evaluate(now, current, value).replicas, min, max, "step")?;
            }
            Ok(())
        },
    );
    fuzz(
        "rule_engine",
        (values_for(RULES), instant_steps()),
        |(v, steps)| {
            let mut e = match RuleEngine::from_yaml(&fill(RULES, &v)) {
                Ok(e) => {
                    exercised();
                    e
                }
                Err(err) => {
                    return names_a_field(
                        &err,
                        &["replicas", "cooldown", "above", "below", "for", "change"],
                    )
                }
            };
            let mut now = Instant::now();
            for (ms, value, current) in steps {
                now = advance(now, ms);
                let d = e.evaluate_named(now, current, &[("q", value), ("cpu", -value)]);
                within(
                    d.replicas,
                    e.effective_min().min(current),
                    e.config().max_replicas.max(current),
                    "rules",
                )?;
            }
            Ok(())
        },
    );
    fuzz(
        "target_tracking",
        (values_for(TRACKING), instant_steps()),
        |(v, steps)| {
            let mut t = match TargetTracking::from_yaml(&fill(TRACKING, &v)) {
                Ok(t) => {
                    exercised();
                    t
                }
                Err(e) => {
                    return names_a_field(&e, &["capacity", "target_value", "after", "cooldown"])
                }
            };
            let (min, max) = (t.config().min_capacity, t.config().max_capacity);
            let mut now = Instant::now();
            for (ms, value, current) in steps {
                now = advance(now, ms);
                within(
                    t.evaluate(now, current, value).replicas,
                    min,
                    max,
                    "tracking",
                )?;
            }
            Ok(())
        },
    );
    fuzz(
        "lag_scaler",
        (values_for(LAG), instant_steps()),
        |(v, steps)| {
            let mut l = match LagScaler::from_yaml(&fill(LAG, &v)) {
                Ok(l) => {
                    exercised();
                    l
                }
                Err(e) => {
                    return names_a_field(
                        &e,
                        &[
                            "instances",
                            "partitions",
                            "threshold",
                            "step",
                            "cooldown",
                            "lag",
                        ],
                    )
                }
            };
            let mut now = Instant::now();
            for (ms, value, current) in steps {
                now = advance(now, ms);
                let reading = if value.is_nan() {
                    LagReading::messages(u64::MAX)
                } else {
                    LagReading {
                        messages: value.abs() as u64,
                        seconds: Some(value),
                        partitions_with_lag: Some(current),
                    }
                };
                let d = l.evaluate(now, current, &reading);
                let (min, max) = (l.config().min_instances, l.config().max_instances);
                // Scale to zero is allowed below min_instances when idle.
                prop_assert!(
                    d.replicas <= max.max(min),
                    "lag: {} above {max}",
                    d.replicas
                );
            }
            Ok(())
        },
    );
}

const SCHEDULE: &str = "reference_capacity: $U
max_replicas: $U
daily: [{at: '06:00', percent: $F}, {at: '22:00:30', replicas: $U}]
cron:
  - {name: a, start: '*/7 * * * *', duration: $D, replicas: $U}
  - {name: b, start: '0 9 * * mon-fri', end: '0 18 * * mon-fri', percent: $F}
";

#[test]
fn fuzz_schedule_and_predictor() {
    let zone = prop::sample::select(vec![
        "UTC",
        "America/New_York",
        "Europe/Berlin",
        "Australia/Lord_Howe",
        "Pacific/Chatham",
        "Nowhere/Else",
        "",
    ]);
    let times = prop::collection::vec(
        prop_oneof![4 => 0i64..4_000_000_000, 1 => any::<i64>(), 1 => Just(i64::MIN), 1 => Just(i64::MAX)],
        1..30,
    );
    fuzz(
        "schedule",
        (values_for(SCHEDULE), zone, times, any::<u32>()),
        |(v, zone, times, reactive)| {
            let text = format!("time_zone: '{zone}'\n{}", fill(SCHEDULE, &v));
            let mut s = match Schedule::from_yaml(&text) {
                Ok(s) => {
                    exercised();
                    s
                }
                Err(e) => {
                    return names_a_field(
                        &e,
                        &[
                            "time_zone",
                            "reference_capacity",
                            "max_replicas",
                            "percent",
                            "replicas",
                            "duration",
                        ],
                    )
                }
            };
            let mut fresh = s.clone();
            for secs in times {
                let t = UtcTime::from_unix(secs);
                let d = s.apply(t, reactive);
                prop_assert!(d.replicas >= reactive.min(d.replicas));
                // The cache never answers for another instant: a fresh schedule
                // asked the same instant agrees.
                let f = fresh.floor_at(t);
                prop_assert_eq!(&d.floor, &f, "at {}", t);
                fresh = s.clone();
            }
            Ok(())
        },
    );
    // lookback and interval have their own unit tests; here they are fixed
    // so that most cases reach the evaluator.
    const PREDICTOR: &str =
        "lookback: 2days\nforecast: $D\ninterval: 5m\nscale_up_latency: $D\nmin_history: $D\n\
        scale_buffer_percent: $F\ncapacity_per_replica: $F\nmin_replicas: $u\nmax_replicas: $U\n";
    let samples = prop::collection::vec(
        (
            0i64..200_000,
            prop_oneof![4 => 0.0f64..1e4, 1 => Just(f64::NAN), 1 => Just(f64::INFINITY), 1 => Just(-5.0)],
        ),
        1..60,
    );
    fuzz(
        "predictor",
        (values_for(PREDICTOR), samples),
        |(v, samples)| {
            let mut p = match Predictor::from_yaml(&fill(PREDICTOR, &v)) {
                Ok(p) => {
                    exercised();
                    p
                }
                Err(e) => {
                    return names_a_field(
                        &e,
                        &[
                            "lookback", "forecast", "interval", "latency", "history", "percent",
                            "capacity", "replicas",
                        ],
                    )
                }
            };
            let mut t = 1_700_000_000i64;
            for (dt, load) in samples {
                t = t.saturating_add(dt);
                p.observe(UtcTime::from_unix(t), load);
                if let Some(d) = p.recommend(UtcTime::from_unix(t)) {
                    let c = p.config();
                    prop_assert!(
                        d.replicas >= c.min_replicas
                            && d.replicas <= d.effective_max.max(c.min_replicas)
                    );
                }
            }
            Ok(())
        },
    );
}
