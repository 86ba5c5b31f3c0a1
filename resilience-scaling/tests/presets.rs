//! Every YAML file in `presets/` loads into its evaluator and runs one
//! decision; a new preset without a loader here fails the test.

use std::time::{Duration, Instant};

use resilience_scaling::hpa::Hpa;
use resilience_scaling::lag::{LagReading, LagScaler};
use resilience_scaling::predictive::Predictor;
use resilience_scaling::rules::RuleEngine;
use resilience_scaling::schedule::{Schedule, UtcTime};
use resilience_scaling::spot::SpotManager;

#[test]
fn every_preset_loads_and_runs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("presets");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 7, "{names:?}");
    let now = Instant::now();
    let wall = UtcTime::from_ymd_hms(2024, 6, 3, 12, 0, 0).unwrap();
    for name in names {
        let text = std::fs::read_to_string(dir.join(&name)).unwrap();
        match name.as_str() {
            "runtime-engine-hpa.yaml" => {
                let mut h = Hpa::from_manifest_yaml(&text).unwrap();
                // The 60 s scale-up window holds the initial recommendation
                // (the current 10), then lets the scale-up through.
                assert_eq!(h.decide(now, 10, 15), 10);
                assert_eq!(h.decide(now + Duration::from_secs(61), 10, 15), 15);
            }
            "gpu-pool-policy.yaml" | "ingestion-workers.yaml" => {
                let mut e = RuleEngine::from_yaml(&text).unwrap();
                let d = e.evaluate_named(now, 0, &[]);
                assert_eq!(d.replicas, e.effective_min());
            }
            "gpu-pool-schedule.yaml" => {
                let mut s = Schedule::from_yaml(&text).unwrap();
                assert_eq!(s.apply(wall, 10).replicas, 100);
            }
            "ingestion-workers-predictive.yaml" => {
                let mut p = Predictor::from_yaml(&text).unwrap();
                for m in 0..(2 * 24 * 60) {
                    p.observe(wall.add_secs(m * 60), 5000.0);
                }
                let d = p.recommend(wall.add_secs(2 * 86_400)).unwrap();
                assert_eq!(d.replicas, 6); // 5000 * 1.2 / 1000
            }
            "consumer-lag.yaml" => {
                let mut l = LagScaler::from_yaml(&text).unwrap();
                assert_eq!(l.evaluate(now, 4, &LagReading::seconds(600.0)).replicas, 8);
            }
            "spot.yaml" => {
                let s = SpotManager::from_yaml(&text).unwrap();
                assert_eq!(s.plan_fleet(100).on_demand, 30);
                assert!(s.checkpoint_due(Duration::from_secs(900)));
            }
            other => panic!("preset {other} has no loader in tests/presets.rs"),
        }
    }
}
