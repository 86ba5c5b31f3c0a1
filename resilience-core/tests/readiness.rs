//! Readiness from the degradation level and from closures, combined.

use resilience_core::degradation::DegradationManager;
use resilience_core::readiness::{Readiness, ReadinessCheck, ReadinessChecks, ReadinessState};

fn workflow_runtime() -> DegradationManager {
    DegradationManager::new(resilience_core::presets::workflow_runtime::degradation().unwrap())
        .unwrap()
}

#[test]
fn degradation_levels_map_to_ready_degraded_and_not_ready() {
    let m = workflow_runtime();
    let levels: Vec<String> = m
        .thresholds()
        .levels()
        .iter()
        .map(|l| l.name().to_string())
        .collect();
    assert!(
        levels.len() >= 3,
        "the workflow runtime has several levels: {levels:?}"
    );
    assert_eq!(m.readiness(), Readiness::Ready, "normal operation is ready");
    for (i, name) in levels.iter().enumerate().skip(1) {
        m.set_manual_floor(Some(name)).unwrap();
        let r = m.readiness();
        let expected = if i == levels.len() - 1 {
            ReadinessState::NotReady
        } else {
            ReadinessState::Degraded
        };
        assert_eq!(
            r.state(),
            expected,
            "level `{name}` ({i} of {})",
            levels.len() - 1
        );
        assert!(
            r.reason().unwrap().contains(name.as_str()),
            "{r:?} names the level"
        );
    }
}

#[test]
fn the_worst_check_decides_and_every_check_is_reported() {
    let checks = ReadinessChecks::new()
        .check_fn("a", || Readiness::Ready)
        .check_fn("b", || Readiness::Degraded("slow".into()))
        .check_fn("c", || Readiness::Ready);
    let report = checks.report();
    assert_eq!(report.state, ReadinessState::Degraded);
    assert_eq!(report.checks.len(), 3);
    assert_eq!(
        report.to_json(),
        r#"{"state":"degraded","checks":[{"name":"a","state":"ready"},{"name":"b","state":"degraded","reason":"slow"},{"name":"c","state":"ready"}]}"#
    );
    let with_down = checks.check_fn("d", || Readiness::NotReady("down".into()));
    assert_eq!(with_down.report().state, ReadinessState::NotReady);
    assert_eq!(
        ReadinessChecks::new().report().state,
        ReadinessState::Ready,
        "no checks: ready"
    );
}
