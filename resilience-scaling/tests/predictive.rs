//! Predictive scaling: seasonal forecasts, trend, pre-scaling lead time and
//! the max-capacity behaviours.

use proptest::prelude::*;
use resilience_scaling::predictive::Predictor;
use resilience_scaling::schedule::UtcTime;

fn day0() -> i64 {
    UtcTime::from_ymd_hms(2024, 1, 1, 0, 0, 0).unwrap().unix()
}

fn diurnal(t: UtcTime) -> f64 {
    // 200/s at night, 1000/s from 09:00 to 17:00.
    if (9..17).contains(&t.hour()) {
        1000.0
    } else {
        200.0
    }
}

fn feed(p: &mut Predictor, days: i64, scale: f64) {
    for s in (0..days * 86_400).step_by(60) {
        let t = UtcTime::from_unix(day0() + s);
        p.observe(t, diurnal(t) * scale);
    }
}

#[test]
fn ingestion_workers_preset_loads() {
    let p =
        Predictor::from_yaml(include_str!("../presets/ingestion-workers-predictive.yaml")).unwrap();
    assert_eq!(p.config().lookback.as_secs(), 7 * 86_400);
    assert_eq!(p.config().forecast.as_secs(), 1800);
    assert_eq!(p.config().scale_buffer_percent, 20.0);
}

#[test]
fn no_forecast_before_min_history_then_prescales_by_latency() {
    let mut p = Predictor::from_yaml(
        "capacity_per_replica: 100\nmin_replicas: 1\nmax_replicas: 100\nscale_up_latency: 15m\nforecast: 30m",
    )
    .unwrap();
    feed(&mut p, 1, 1.0);
    // Exactly one day of history, minus the open interval: not enough.
    assert!(p.recommend(UtcTime::from_unix(day0() + 86_400)).is_none());
    let mut p = Predictor::from_yaml(
        "capacity_per_replica: 100\nmin_replicas: 1\nmax_replicas: 100\nscale_up_latency: 15m\nforecast: 30m",
    )
    .unwrap();
    feed(&mut p, 3, 1.0);
    let at = |h: i64, m: i64| UtcTime::from_unix(day0() + 3 * 86_400 + h * 3600 + m * 60);
    // 08:00: horizon 08:15-08:45, still night: 200 * 1.2 / 100 = 2.4 -> 3.
    assert_eq!(p.recommend(at(8, 0)).unwrap().replicas, 3);
    // 08:30: horizon 08:45-09:15 reaches the 09:00 ramp: 12.
    assert_eq!(p.recommend(at(8, 30)).unwrap().replicas, 12);
    // 16:50: horizon 17:05-17:35 is past the peak.
    assert_eq!(p.recommend(at(16, 50)).unwrap().replicas, 3);
}

#[test]
fn trend_raises_the_forecast() {
    let cfg = "capacity_per_replica: 100\nmin_replicas: 1\nmax_replicas: 100\nscale_buffer_percent: 0\nscale_up_latency: 0s\nforecast: 5m";
    let mut p = Predictor::from_yaml(cfg).unwrap();
    feed(&mut p, 3, 1.0);
    // Day 4 runs 50 % hotter until 12:00.
    for s in (0..12 * 3600).step_by(60) {
        let t = UtcTime::from_unix(day0() + 3 * 86_400 + s);
        p.observe(t, diurnal(t) * 1.5);
    }
    let d = p
        .recommend(UtcTime::from_unix(day0() + 3 * 86_400 + 12 * 3600))
        .unwrap();
    assert!((d.trend - 1.5).abs() < 1e-9, "{d:?}");
    assert_eq!(d.replicas, 15);
}

#[test]
fn max_capacity_behaviours() {
    let base =
        "capacity_per_replica: 100\nmin_replicas: 1\nmax_replicas: 8\nscale_up_latency: 0s\n";
    let noon = UtcTime::from_unix(day0() + 3 * 86_400 + 12 * 3600);
    let mut honor = Predictor::from_yaml(base).unwrap();
    feed(&mut honor, 3, 1.0);
    let d = honor.recommend(noon).unwrap();
    assert_eq!((d.replicas, d.effective_max), (8, 8));
    let mut raise = Predictor::from_yaml(&format!(
        "{base}max_capacity_behavior: increase_max_capacity\nmax_capacity_buffer_percent: 10"
    ))
    .unwrap();
    feed(&mut raise, 3, 1.0);
    let d = raise.recommend(noon).unwrap();
    assert_eq!((d.replicas, d.effective_max), (12, 14));
}

#[test]
fn config_errors() {
    for (yaml, field) in [
        (
            "capacity_per_replica: 1\nmin_replicas: 1\nmax_replicas: 2\ninterval: 7m",
            "interval",
        ),
        (
            "capacity_per_replica: 1\nmin_replicas: 1\nmax_replicas: 2\nlookback: 1h",
            "lookback",
        ),
        (
            "capacity_per_replica: 1\nmin_replicas: 3\nmax_replicas: 2",
            "max_replicas",
        ),
        (
            "capacity_per_replica: 1\nmin_replicas: 1\nmax_replicas: 2\nscale_buffer_percent: -5",
            "scale_buffer_percent",
        ),
    ] {
        assert_eq!(
            Predictor::from_yaml(yaml).unwrap_err().field(),
            Some(field),
            "{yaml}"
        );
    }
}

proptest! {
    #[test]
    fn no_panic_at_any_time(times in prop::collection::vec(any::<i64>(), 1..20), load in 0.0f64..1e9) {
        let mut p = Predictor::from_yaml("capacity_per_replica: 1\nmin_replicas: 0\nmax_replicas: 10\nmin_history: 1h\nlookback: 1day").unwrap();
        for t in times {
            p.observe(UtcTime::from_unix(t), load);
            if let Some(d) = p.recommend(UtcTime::from_unix(t)) {
                prop_assert!(d.replicas <= 10);
            }
        }
    }

    #[test]
    fn recommendations_stay_in_bounds(loads in prop::collection::vec(0.0f64..1e6, 10..400), step in 60i64..3600, min in 0u32..5, span in 0u32..50) {
        let mut p = Predictor::from_yaml(&format!(
            "capacity_per_replica: 10\nmin_replicas: {min}\nmax_replicas: {}\nmin_history: 1h\nlookback: 1day",
            min + span
        )).unwrap();
        let mut t = day0();
        for l in loads {
            p.observe(UtcTime::from_unix(t), l);
            t += step;
            if let Some(d) = p.recommend(UtcTime::from_unix(t)) {
                prop_assert!(d.replicas >= min && d.replicas <= min + span);
            }
        }
    }
}

fn predictor_with(extra: &str) -> Result<Predictor, resilience_core::config::ConfigError> {
    Predictor::from_yaml(&format!(
        "capacity_per_replica: 10\nmin_replicas: 1\nmax_replicas: 9\n{extra}"
    ))
}

#[test]
fn an_interval_of_u64_max_seconds_is_refused_not_wrapped() {
    // `as i64` once turned this into -1 and then asked for a huge Vec.
    let e = predictor_with("interval: 18446744073709551615s").unwrap_err();
    assert_eq!(e.field(), Some("interval"));
}

#[test]
fn a_sub_second_part_is_refused_where_the_unit_is_whole_seconds() {
    for (yaml, field) in [
        ("interval: 1001ms", "interval"),
        ("interval: 500ms", "interval"),
        ("forecast: 1500ms", "forecast"),
        ("scale_up_latency: 10ms", "scale_up_latency"),
        ("lookback: 86400001ms", "lookback"),
    ] {
        let e = predictor_with(yaml).unwrap_err();
        assert_eq!(e.field(), Some(field), "{yaml}");
        assert!(e.to_string().contains("whole"), "{yaml}: {e}");
    }
    assert!(predictor_with("interval: 1s\nlookback: 1day").is_ok());
}

#[test]
fn a_lookback_needing_more_slots_than_the_cap_is_refused() {
    // 366 days at 1 s would be 31.6 million slots (about half a gigabyte).
    let e = predictor_with("lookback: 366days\ninterval: 1s").unwrap_err();
    assert_eq!(e.field(), Some("lookback"));
    assert!(
        e.to_string().contains(&Predictor::MAX_SLOTS.to_string()),
        "{e}"
    );
    // The cap's documented examples fit.
    assert!(predictor_with("lookback: 7days\ninterval: 5s").is_ok());
    assert!(predictor_with("lookback: 90days\ninterval: 1m").is_ok());
    assert!(predictor_with("lookback: 366days\ninterval: 5m").is_ok());
}

#[test]
fn a_recommendation_answers_for_the_instant_asked_not_its_interval() {
    // 5-minute intervals, 100 s lead time, 60 s horizon: at the start of an
    // interval the forecast covers this interval, 250 s into it the next one.
    let mut p = Predictor::from_yaml(
        "capacity_per_replica: 10\nmin_replicas: 1\nmax_replicas: 100\nmin_history: 1h\n\
         trend: false\nforecast: 60s\nscale_up_latency: 100s\nscale_buffer_percent: 0",
    )
    .unwrap();
    let t0 = day0();
    for s in (0..86_400).step_by(300) {
        let load = if (s / 300) % 2 == 0 { 100.0 } else { 500.0 };
        p.observe(UtcTime::from_unix(t0 + s), load);
    }
    let today = t0 + 86_400;
    p.observe(UtcTime::from_unix(today), 100.0);
    assert_eq!(p.recommend(UtcTime::from_unix(today)).unwrap().replicas, 10);
    // A per-interval cache answered 10 here, for a moment it was not asked.
    assert_eq!(
        p.recommend(UtcTime::from_unix(today + 250))
            .unwrap()
            .replicas,
        50
    );
    // New samples are seen at once, even within the same interval and instant.
    let now = UtcTime::from_unix(today + 250);
    p.observe(UtcTime::from_unix(t0 + 86_400 - 300 + 300), 100.0);
    assert_eq!(p.recommend(now).unwrap().replicas, 50);
}
