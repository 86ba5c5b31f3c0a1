//! Schedules: the GPU pool's daily curve, cron windows, and properties.

use proptest::prelude::*;
use resilience_scaling::schedule::{Cron, FloorSource, Schedule, UtcTime};

fn at(d: u32, h: u32, m: u32) -> UtcTime {
    UtcTime::from_ymd_hms(2024, 3, d, h, m, 0).unwrap()
}

#[test]
fn gpu_pool_daily_curve_wraps_past_midnight() {
    let mut s = Schedule::from_yaml(include_str!("../presets/gpu-pool-schedule.yaml")).unwrap();
    let expect = [
        (0, 0, 70),
        (1, 59, 70),
        (2, 0, 30),
        (5, 59, 30),
        (6, 0, 50),
        (10, 0, 100),
        (15, 0, 100),
        (22, 0, 70),
    ];
    for (h, m, r) in expect {
        assert_eq!(s.floor_at(at(5, h, m)).replicas, r, "{h:02}:{m:02}");
    }
    assert_eq!(
        s.floor_at(at(5, 6, 0)).source,
        FloorSource::Daily("06:00".into())
    );
    let d = s.apply(at(5, 12, 0), 130);
    assert_eq!(d.replicas, 130);
    assert!(!d.schedule_won());
    let d = s.apply(at(5, 12, 0), 500);
    assert_eq!(d.replicas, 200); // max_replicas caps
}

#[test]
fn cron_windows() {
    let mut s = Schedule::from_yaml(
        r#"
daily: [{at: "00:00", replicas: 2}]
cron:
  - { name: office-hours, start: "0 8 * * mon-fri", end: "0 18 * * mon-fri", replicas: 40 }
  - { name: nightly-batch, start: "30 1 * * *", duration: 90m, replicas: 25 }
"#,
    )
    .unwrap();
    // 2024-03-04 is a Monday.
    assert_eq!(s.floor_at(at(4, 7, 59)).replicas, 2);
    let f = s.floor_at(at(4, 8, 0));
    assert_eq!(
        (f.replicas, f.source),
        (40, FloorSource::Cron("office-hours".into()))
    );
    assert_eq!(s.floor_at(at(4, 17, 59)).replicas, 40);
    assert_eq!(s.floor_at(at(4, 18, 0)).replicas, 2);
    assert_eq!(s.floor_at(at(9, 12, 0)).replicas, 2); // Saturday
    assert_eq!(s.floor_at(at(9, 1, 30)).replicas, 25);
    assert_eq!(s.floor_at(at(9, 2, 59)).replicas, 25);
    assert_eq!(s.floor_at(at(9, 3, 0)).replicas, 2);
}

#[test]
fn config_errors() {
    for (yaml, field) in [
        ("daily: [{at: '6am', replicas: 1}]", "daily[0].at"),
        ("daily: [{at: '06:00', percent: 50}]", "reference_capacity"),
        ("daily: [{at: '06:00'}]", "daily[0]"),
        (
            "cron: [{start: '0 8 * *', duration: 1h, replicas: 1}]",
            "cron[0].start",
        ),
        (
            "cron: [{start: '0 8 30 2 *', duration: 1h, replicas: 1}]",
            "cron[0].start",
        ),
        ("cron: [{start: '0 8 * * *', replicas: 1}]", "cron[0]"),
    ] {
        let e = Schedule::from_yaml(yaml).unwrap_err();
        assert_eq!(e.field(), Some(field), "{yaml}: {e}");
    }
}

proptest! {
    #[test]
    fn latest_firing_is_a_match_and_nothing_later_matches(secs in 0i64..4_000_000_000, min in 0u32..60, step in 1u32..7) {
        let c: Cron = format!("{min} */{step} * * *").parse().unwrap();
        let t = UtcTime::from_unix(secs);
        let last = c.latest_at_or_before(t).unwrap();
        prop_assert!(c.matches(last));
        prop_assert!(last <= t);
        let mut probe = last.add_secs(60);
        while probe <= t {
            prop_assert!(!c.matches(probe));
            probe = probe.add_secs(60);
        }
    }

    #[test]
    fn no_panic_at_any_time(secs in any::<i64>(), reactive in any::<u32>()) {
        let mut s = Schedule::from_yaml(
            "reference_capacity: 10\ndaily: [{at: '06:00', percent: 50}]\ncron: [{start: '*/5 * * * *', duration: 1m, replicas: 9}, {start: '0 8 * * 1', end: '0 9 * * 1', replicas: 7}]",
        ).unwrap();
        let t = UtcTime::from_unix(secs);
        let _ = t.to_string();
        let d = s.apply(t, reactive);
        prop_assert!(d.replicas >= reactive);
    }

    #[test]
    fn apply_is_the_max_of_floor_and_reactive(secs in 0i64..4_000_000_000, reactive in 0u32..300) {
        let mut s = Schedule::from_yaml(include_str!("../presets/gpu-pool-schedule.yaml")).unwrap();
        let t = UtcTime::from_unix(secs);
        let d = s.apply(t, reactive);
        prop_assert_eq!(d.replicas, reactive.max(d.floor.replicas).min(200));
        prop_assert!([30, 50, 70, 100].contains(&d.floor.replicas));
    }
}
