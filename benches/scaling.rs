//! Autoscaling evaluator benchmarks.
//!
//! * `hpa/decide_300_history`: `Hpa::decide` at 1 s ticks with the 300 s
//!   scale-down window full (300 recommendations), random desired counts.
//! * `hpa/decide_300_history_worst`: the same with strictly decreasing
//!   recommendations, so every one of the 300 stays relevant.
//! * `rules/gpu_pool_tick`: one tick of the GPU inference platform's GPU pool rule engine
//!   (9 rules over 8 metrics) with metrics that move like real ones
//!   (a slow wave); `rules/gpu_pool_tick_random` draws every metric at
//!   random each tick (a worst case for branch prediction).
//! * `sim/week_1s_rules` and `sim/week_1s_hpa`: a 7-day trace at 1 s
//!   resolution (604 800 ticks, a decision every tick).
//!
//! Run: `cargo bench --bench scaling` (resilience-scaling is a
//! dev-dependency, so no feature flag is needed).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use resilience_scaling::hpa::Hpa;
use resilience_scaling::rules::RuleEngine;
use resilience_scaling::schedule::Schedule;
use resilience_scaling::sim::{
    HpaPolicy, RulePolicy, Scheduled, SimConfig, Simulator, Trace, TraceSpec,
};

const HPA: &str = include_str!("../resilience-scaling/presets/runtime-engine-hpa.yaml");
const GPU: &str = include_str!("../resilience-scaling/presets/gpu-pool-policy.yaml");
const SCHEDULE: &str = include_str!("../resilience-scaling/presets/gpu-pool-schedule.yaml");

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn hpa(c: &mut Criterion) {
    let mut g = c.benchmark_group("hpa");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decide_300_history", |b| {
        let mut h = Hpa::from_manifest_yaml(HPA).unwrap();
        let mut t = Instant::now();
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut current = 50u32;
        for _ in 0..300 {
            t += Duration::from_secs(1);
            current = h.decide(t, current, 40 + (xorshift(&mut rng) % 40) as u32);
        }
        b.iter(|| {
            t += Duration::from_secs(1);
            let desired = 40 + (xorshift(&mut rng) % 40) as u32;
            current = h.decide(black_box(t), black_box(current), black_box(desired));
            current
        })
    });
    g.bench_function("decide_300_history_worst", |b| {
        // Strictly decreasing recommendations keep all 300 in the scale-down window.
        let mut h = Hpa::from_manifest_yaml(HPA).unwrap();
        let mut t = Instant::now();
        let mut k: u32 = 0;
        let desired = |k: u32| 400 - (k % 300);
        for _ in 0..300 {
            t += Duration::from_secs(1);
            h.decide(t, 400, desired(k));
            k += 1;
        }
        assert!(h.history_len().0 >= 299, "{:?}", h.history_len());
        b.iter(|| {
            t += Duration::from_secs(1);
            k += 1;
            h.decide(black_box(t), black_box(400), black_box(desired(k)))
        })
    });
    g.finish();
}

fn rules(c: &mut Criterion) {
    let mut g = c.benchmark_group("rules");
    g.throughput(Throughput::Elements(1));
    g.bench_function("gpu_pool_tick", |b| {
        let mut e = RuleEngine::from_yaml(GPU).unwrap();
        let n = e.metrics().len();
        let mut values = vec![0.0; n];
        let mut t = Instant::now();
        let mut k = 0u64;
        let mut current = 40u32;
        b.iter(|| {
            t += Duration::from_secs(1);
            k += 1;
            // A 20-minute wave between 0 and 100.
            let level = 50.0 + 50.0 * ((k % 1200) as f64 / 1200.0 * std::f64::consts::TAU).sin();
            for (i, v) in values.iter_mut().enumerate() {
                *v = level + i as f64;
            }
            current = e
                .evaluate(black_box(t), black_box(current), black_box(&values))
                .replicas;
            current
        })
    });
    g.bench_function("gpu_pool_tick_random", |b| {
        let mut e = RuleEngine::from_yaml(GPU).unwrap();
        let n = e.metrics().len();
        let mut values = vec![0.0; n];
        let mut t = Instant::now();
        let mut rng = 7u64;
        let mut current = 40u32;
        b.iter(|| {
            t += Duration::from_secs(1);
            for v in values.iter_mut() {
                *v = (xorshift(&mut rng) % 100) as f64;
            }
            current = e
                .evaluate(black_box(t), black_box(current), black_box(&values))
                .replicas;
            current
        })
    });
    g.finish();
}

fn simulate(c: &mut Criterion) {
    let trace = Trace::generate(&TraceSpec::gpu_pool_week_with_spike());
    let sim = Simulator::new(SimConfig {
        capacity_per_replica: 0.6,
        initial_replicas: 20,
        decision_interval: Duration::from_secs(1),
        ..SimConfig::default()
    });
    let mut g = c.benchmark_group("sim");
    g.sample_size(10);
    g.throughput(Throughput::Elements(trace.demand.len() as u64));
    g.bench_function("week_1s_rules", |b| {
        b.iter(|| {
            let mut p = Scheduled::new(
                RulePolicy::new(RuleEngine::from_yaml(GPU).unwrap()),
                Schedule::from_yaml(SCHEDULE).unwrap(),
            );
            sim.run(black_box(&trace), &mut p).shortfall
        })
    });
    g.bench_function("week_1s_hpa", |b| {
        b.iter(|| {
            let mut p = HpaPolicy::new(Hpa::from_manifest_yaml(HPA).unwrap());
            sim.run(black_box(&trace), &mut p).shortfall
        })
    });
    g.finish();
}

criterion_group!(benches, hpa, rules, simulate);
criterion_main!(benches);
