//! The data platform's availability target, 99.9 % (43 min/month of
//! downtime), as an error budget: what is left, how fast it burns, and the
//! budget as a degradation input. Time only moves through `ManualClock`.

use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use resilience_core::clock::ManualClock;
use resilience_core::degradation::{
    ComponentConfig, ComponentHealth, Condition, DegradationConfig, DegradationManager,
    DegradationRuleConfig,
};
use resilience_core::slo::{ErrorBudget, SloConfig};

const MIN: Duration = Duration::from_secs(60);

fn budget(clock: &ManualClock) -> ErrorBudget {
    ErrorBudget::with_clock(
        resilience_core::presets::data_platform::availability_slo(),
        clock.clone(),
    )
    .unwrap()
}

#[test]
fn ninety_nine_point_nine_percent_allows_43_minutes_a_month() {
    let clock = ManualClock::new();
    let b = budget(&clock);
    let allowed = b.allowed_downtime();
    assert!(
        allowed >= 43 * MIN && allowed < 44 * MIN,
        "99.9 % over 30 days allows 43 min of downtime, got {allowed:?}"
    );
    assert_eq!(allowed.as_secs(), 2592, "43.2 min = 2592 s");
    let s = b.snapshot();
    assert_eq!(s.remaining, 1.0, "an untouched budget");
    assert_eq!(s.burn_rate, 0.0);
}

#[test]
fn an_outage_spends_the_budget_and_burns_it_fast() {
    let clock = ManualClock::new();
    let b = budget(&clock);
    clock.advance(2 * 3600 * Duration::from_secs(1));
    b.set_available(false);
    clock.advance(30 * MIN);
    let s = b.snapshot();
    assert_eq!(
        s.downtime,
        30 * MIN,
        "30 min down so far (counted while still down)"
    );
    let left = 1.0 - 1800.0 / 2592.0;
    assert!(
        (s.remaining - left).abs() < 1e-6,
        "30 of 43.2 min spent: {} left, got {}",
        left,
        s.remaining
    );
    // 30 of the last hour down: about a 50 % error share, 500 times the
    // 0.1 % allowed (the window is kept in twelfths, so it spans 55 to 60 min).
    assert!(
        (500.0..=546.0).contains(&s.burn_rate),
        "burn rate about 500 (30 of the last 55-60 min down), got {}",
        s.burn_rate
    );
    assert_eq!(
        b.health(),
        ComponentHealth::Degraded,
        "burning at >= 14.4: degraded"
    );
    clock.advance(14 * MIN);
    b.set_available(true);
    let s = b.snapshot();
    assert_eq!(s.downtime, 44 * MIN);
    assert!(
        s.remaining < 0.0,
        "44 min down overspends the 43.2 min budget"
    );
    assert_eq!(b.health(), ComponentHealth::Down, "a spent budget is down");
    // The burn stops once the outage leaves the 1 h window; the spend stays for 30 days.
    clock.advance(2 * 3600 * Duration::from_secs(1));
    let s = b.snapshot();
    assert_eq!(
        s.burn_rate, 0.0,
        "no downtime in the last hour: burn rate 0"
    );
    assert_eq!(
        s.downtime,
        44 * MIN,
        "the outage still counts within the 30-day period"
    );
    clock.advance(30 * 24 * 3600 * Duration::from_secs(1));
    let s = b.snapshot();
    assert_eq!(
        s.downtime,
        Duration::ZERO,
        "downtime older than 30 days no longer counts"
    );
    assert_eq!(b.health(), ComponentHealth::Healthy);
}

#[test]
fn request_errors_spend_the_budget_too() {
    let clock = ManualClock::new();
    let b = budget(&clock);
    for i in 0..10_000 {
        b.record(i % 1000 != 0); // 10 bad of 10 000: 0.1 %
    }
    let s = b.snapshot();
    assert_eq!((s.good, s.bad), (9_990, 10));
    assert!(
        s.remaining.abs() < 1e-9,
        "0.1 % bad requests spend the whole 99.9 % budget: {}",
        s.remaining
    );
    assert!(
        (s.burn_rate - 1.0).abs() < 1e-9,
        "0.1 % bad is burn rate 1, got {}",
        s.burn_rate
    );
    b.record(false);
    assert!(
        b.snapshot().remaining < 0.0,
        "one more bad request overspends it"
    );
    assert_eq!(b.health(), ComponentHealth::Down, "a spent budget is down");
}

#[test]
fn the_budget_drives_a_degradation_level() {
    let clock = ManualClock::new();
    let b = budget(&clock);
    let mut config = DegradationConfig::default();
    config
        .components
        .insert("error_budget".into(), ComponentConfig::weighted(0.0));
    config.rules.push(DegradationRuleConfig {
        name: "budget_burning".into(),
        component: "error_budget".into(),
        when: Condition::Degraded,
        level: "level_1".into(),
    });
    config.rules.push(DegradationRuleConfig {
        name: "budget_spent".into(),
        component: "error_budget".into(),
        when: Condition::Down,
        level: "level_3".into(),
    });
    config.hysteresis.recover_after = Duration::ZERO;
    let levels = DegradationManager::with_clock(config, clock.clone()).unwrap();
    assert_eq!(b.report_to(&levels, "error_budget").unwrap().severity(), 0);
    b.set_available(false);
    clock.advance(10 * MIN);
    assert_eq!(
        b.report_to(&levels, "error_budget").unwrap().name(),
        "level_1",
        "fast burn (10 min down in the hour) -> level 1"
    );
    clock.advance(34 * MIN);
    assert_eq!(
        b.report_to(&levels, "error_budget").unwrap().name(),
        "level_3",
        "more than 43 min down: budget spent -> level 3"
    );
    assert!(b.report_to(&levels, "nope").is_err());
}

#[test]
fn the_budget_is_exported_as_metrics() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let clock = ManualClock::new();
        let b =
            ErrorBudget::with_clock(SloConfig::availability("api", 0.999), clock.clone()).unwrap();
        b.set_available(false);
        clock.advance(Duration::from_secs(2592 / 2));
        b.snapshot();
    });
    let values: Vec<(String, f64)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(k, _, _, v)| match v {
            DebugValue::Gauge(g) => Some((k.key().name().to_string(), g.into_inner())),
            _ => None,
        })
        .collect();
    let get = |n: &str| values.iter().find(|(k, _)| k == n).map(|(_, v)| *v);
    assert_eq!(get("resilience_slo_objective"), Some(0.999));
    assert!(
        (get("resilience_slo_error_budget_remaining_ratio").unwrap() - 0.5).abs() < 1e-6,
        "half of 43.2 min spent"
    );
    assert_eq!(get("resilience_slo_downtime_seconds"), Some(1296.0));
    assert!(get("resilience_slo_burn_rate").unwrap() > 14.4);
}

#[test]
fn bad_objectives_are_clear_errors() {
    for (yaml, field) in [
        ("name: a\nobjective: 1.0", "objective"),
        ("name: a\nobjective: 0", "objective"),
        ("name: ''\nobjective: 0.99", "name"),
        ("name: a\nobjective: 0.99\nburn_window: 0s", "burn_window"),
        (
            "name: a\nobjective: 0.99\nperiod: 1h\nburn_window: 2h",
            "burn_window",
        ),
        (
            "name: a\nobjective: 0.99\nperiod: 365d\nburn_window: 1m",
            "burn_window",
        ),
        (
            "name: a\nobjective: 0.99\nburn_rate_alert: -1",
            "burn_rate_alert",
        ),
    ] {
        let c: SloConfig = resilience_core::config::from_yaml_str(yaml).unwrap();
        assert_eq!(
            ErrorBudget::new(c).unwrap_err().field(),
            Some(field),
            "{yaml}"
        );
    }
}
