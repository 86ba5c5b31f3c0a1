//! Long-run soak: the evaluators driven once per simulated second with
//! random metrics (bursts, NaN, ±∞, zeros) for `RESILIENCE_SOAK_DAYS` days
//! (default 1 in the regular test run; `scripts/test.sh` runs a full year in
//! a release build). Asserts no panic, every decision within its bounds,
//! and memory that stays bounded: each evaluator's history is pruned, so
//! its size at the end is no larger than after the first simulated day.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use resilience_scaling::hpa::Hpa;
use resilience_scaling::lag::{LagReading, LagScaler};
use resilience_scaling::predictive::Predictor;
use resilience_scaling::rules::RuleEngine;
use resilience_scaling::schedule::{Schedule, UtcTime};
use resilience_scaling::step::StepScaling;

fn days() -> u64 {
    std::env::var("RESILIENCE_SOAK_DAYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

fn metric(rng: &mut StdRng, t: u64) -> f64 {
    match rng.random_range(0..1000) {
        0 => f64::NAN,
        1 => f64::INFINITY,
        2 => f64::NEG_INFINITY,
        3 => 0.0,
        4..=20 => rng.random_range(0.0..10_000.0), // bursts
        _ => {
            // A daily wave with noise.
            let phase = (t % 86_400) as f64 / 86_400.0 * std::f64::consts::TAU;
            (50.0 + 40.0 * phase.sin() + rng.random_range(-10.0..10.0)).max(0.0)
        }
    }
}

#[test]
fn evaluators_run_for_a_simulated_span_at_one_second_resolution() {
    let days = days();
    let seconds = days * 86_400;
    let mut rng = StdRng::seed_from_u64(days);
    let mut hpa =
        Hpa::from_manifest_yaml(include_str!("../presets/runtime-engine-hpa.yaml")).unwrap();
    let mut rules =
        RuleEngine::from_yaml(include_str!("../presets/ingestion-workers.yaml")).unwrap();
    let mut step = StepScaling::from_yaml(
        "min_capacity: 2\nmax_capacity: 50\nadjustment_type: change_in_capacity\ncooldown: 60s\n\
         alarm: {threshold: 70, comparison: greater_than, for: 30s}\n\
         steps: [{lower_bound: 0, upper_bound: 100, adjustment: 2}, {lower_bound: 100, adjustment: 5}]",
    )
    .unwrap();
    let mut schedule = Schedule::from_yaml(
        "time_zone: America/New_York\nreference_capacity: 100\nmax_replicas: 500\n\
         daily: [{at: '06:00', percent: 50}, {at: '22:00', percent: 20}]\n\
         cron: [{name: office, start: '0 9 * * mon-fri', end: '0 18 * * mon-fri', replicas: 80},\n\
                {name: batch, start: '*/30 * * * *', duration: 90s, replicas: 60}]",
    )
    .unwrap();
    let mut predictor =
        Predictor::from_yaml(include_str!("../presets/ingestion-workers-predictive.yaml")).unwrap();
    let mut lag = LagScaler::from_yaml(include_str!("../presets/consumer-lag.yaml")).unwrap();

    let t0 = Instant::now();
    let wall0 = UtcTime::from_ymd_hms(2024, 1, 1, 0, 0, 0).unwrap().unix();
    let (mut h_cur, mut r_cur, mut s_cur, mut l_cur) = (10u32, 3u32, 2u32, 4u32);
    let mut after_first_day = None;
    let started = std::time::Instant::now();
    for s in 0..seconds {
        let now = t0 + Duration::from_secs(s);
        let wall = UtcTime::from_unix(wall0 + s as i64);
        let m = metric(&mut rng, s);

        let d = hpa.evaluate_uniform(now, h_cur, h_cur, &[m, m / 2.0]);
        assert!((10..=500).contains(&d.replicas), "hpa {d}");
        h_cur = d.replicas;

        let d = rules.evaluate_named(
            now,
            r_cur,
            &[("queue_depth", m * 20.0), ("cpu_utilization", m)],
        );
        assert!(d.replicas >= 3 && d.replicas <= 200, "rules {}", d.replicas);
        r_cur = d.replicas;

        let d = step.evaluate(now, s_cur, m);
        assert!((2..=50).contains(&d.replicas), "step {}", d.replicas);
        s_cur = d.replicas;

        let d = schedule.apply(wall, h_cur);
        assert!(d.replicas <= 500 && d.replicas >= h_cur.min(500));

        predictor.observe(wall, m * 10.0);
        if s % 15 == 0 {
            if let Some(d) = predictor.recommend(wall) {
                let c = predictor.config();
                assert!(
                    d.replicas >= c.min_replicas
                        && d.replicas <= d.effective_max.max(c.min_replicas)
                );
            }
        }

        let reading = LagReading {
            messages: (m.clamp(0.0, 1e12) as u64) * 10, // NaN casts to 0
            seconds: Some(m * 3.0),
            partitions_with_lag: Some(8),
        };
        let d = lag.evaluate(now, l_cur, &reading);
        assert!(d.replicas <= 32, "lag {}", d.replicas);
        l_cur = d.replicas;

        if s == 86_400 {
            after_first_day = Some(hpa.history_len());
        }
    }
    // Histories are pruned: after a year they are no longer than after a day
    // (the stabilization windows and policy periods are minutes long).
    let (recs, events) = hpa.history_len();
    if let Some((r1, e1)) = after_first_day {
        assert!(
            recs <= r1.max(400) && events <= e1.max(50),
            "hpa history grew: {recs}/{events} vs {r1}/{e1}"
        );
    }
    assert!(
        recs <= 400 && events <= 50,
        "hpa history: {recs} recommendations, {events} events"
    );
    println!(
        "soak: {days} simulated day(s) = {seconds} ticks through hpa, rules, step, schedule, predictive, lag in {:.1?}; \
         hpa history {recs} recommendations / {events} events at the end",
        started.elapsed()
    );
}
