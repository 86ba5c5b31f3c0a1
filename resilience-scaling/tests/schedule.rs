//! Schedules: the GPU pool's daily curve, cron windows, time zones and
//! daylight-saving changes, and properties.

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
        (
            "time_zone: Mars/Olympus\ndaily: [{at: '06:00', replicas: 1}]",
            "time_zone",
        ),
        (
            "cron: [{start: '0 8 * * *', duration: 367days, replicas: 1}]",
            "cron[0].duration",
        ),
    ] {
        let e = Schedule::from_yaml(yaml).unwrap_err();
        assert_eq!(e.field(), Some(field), "{yaml}: {e}");
    }
}

#[test]
fn an_overflowing_cron_step_is_refused_with_the_field() {
    // A hand-written parser once overflowed on `v += step` here.
    assert!("*/4294967295 * * * *".parse::<Cron>().is_err());
    let e =
        Schedule::from_yaml("cron: [{start: '*/4294967295 * * * *', duration: 1h, replicas: 1}]")
            .unwrap_err();
    assert_eq!(e.field(), Some("cron[0].start"));
}

#[test]
fn an_end_that_never_fires_is_refused() {
    // February 30: the window would open and never close.
    let e = Schedule::from_yaml("cron: [{start: '0 8 * * *', end: '0 0 30 2 *', replicas: 1}]")
        .unwrap_err();
    assert_eq!(e.field(), Some("cron[0].end"));
    assert!(e.to_string().contains("never fires"), "{e}");
}

#[test]
fn a_sub_second_duration_is_refused_not_truncated_to_zero() {
    for d in ["500ms", "1500ms", "0s"] {
        let e = Schedule::from_yaml(&format!(
            "cron: [{{start: '0 8 * * *', duration: {d}, replicas: 1}}]"
        ))
        .unwrap_err();
        assert_eq!(e.field(), Some("cron[0].duration"), "{d}");
    }
}

#[test]
fn a_window_ends_at_start_plus_duration_even_inside_a_minute() {
    let mut s =
        Schedule::from_yaml("cron: [{start: '0 10 * * *', duration: 90s, replicas: 7}]").unwrap();
    let t = |h, m, sec| UtcTime::from_ymd_hms(2024, 3, 5, h, m, sec).unwrap();
    assert_eq!(s.floor_at(t(9, 59, 59)).replicas, 0);
    assert_eq!(s.floor_at(t(10, 0, 0)).replicas, 7);
    // Asked at 10:01:00 first: an answer cached for the whole minute would
    // still say 7 at 10:01:30.
    assert_eq!(s.floor_at(t(10, 1, 0)).replicas, 7);
    assert_eq!(s.floor_at(t(10, 1, 29)).replicas, 7);
    assert_eq!(s.floor_at(t(10, 1, 30)).replicas, 0);
    // Going back in time is answered for the instant asked too.
    assert_eq!(s.floor_at(t(10, 1, 29)).replicas, 7);
    // Daily entries at seconds precision likewise.
    let mut d =
        Schedule::from_yaml("daily: [{at: '08:00:30', replicas: 3}, {at: '09:00', replicas: 1}]")
            .unwrap();
    assert_eq!(d.floor_at(t(8, 0, 0)).replicas, 1);
    assert_eq!(d.floor_at(t(8, 0, 29)).replicas, 1);
    assert_eq!(d.floor_at(t(8, 0, 30)).replicas, 3);
}

const NY: &str = "America/New_York";

fn ny(mo: u32, d: u32, h: u32, m: u32) -> UtcTime {
    UtcTime::from_local(NY, 2024, mo, d, h, m, 0).unwrap()
}

#[test]
fn office_hours_follow_local_time_across_the_year() {
    let mut s = Schedule::from_yaml(
        "time_zone: America/New_York\ncron: [{name: office, start: '0 9 * * mon-fri', end: '0 18 * * mon-fri', replicas: 40}]",
    )
    .unwrap();
    // Monday 2024-01-08 (EST, UTC-5) and Monday 2024-07-08 (EDT, UTC-4).
    for (mo, d) in [(1, 8), (7, 8)] {
        assert_eq!(s.floor_at(ny(mo, d, 8, 59)).replicas, 0, "{mo}-{d}");
        assert_eq!(s.floor_at(ny(mo, d, 9, 0)).replicas, 40, "{mo}-{d}");
        assert_eq!(s.floor_at(ny(mo, d, 17, 59)).replicas, 40, "{mo}-{d}");
        assert_eq!(s.floor_at(ny(mo, d, 18, 0)).replicas, 0, "{mo}-{d}");
    }
    assert_eq!(
        ny(1, 8, 9, 0),
        UtcTime::from_ymd_hms(2024, 1, 8, 14, 0, 0).unwrap()
    );
    assert_eq!(
        ny(7, 8, 9, 0),
        UtcTime::from_ymd_hms(2024, 7, 8, 13, 0, 0).unwrap()
    );
}

#[test]
fn a_window_across_the_spring_forward_gap() {
    // 2024-03-10 in New York: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
    let utc = |h, m| UtcTime::from_ymd_hms(2024, 3, 10, h, m, 0).unwrap();
    let mut s = Schedule::from_yaml(
        "time_zone: America/New_York\ncron:\n\
         - {name: by-end, start: '30 1 * * *', end: '30 3 * * *', replicas: 5}\n\
         - {name: in-gap, start: '30 2 * * *', duration: 30m, replicas: 9}",
    )
    .unwrap();
    // 01:30 EST = 06:30 UTC opens `by-end`; 03:30 EDT = 07:30 UTC closes it:
    // one hour of real time, since the clock skipped an hour.
    assert_eq!(s.floor_at(utc(6, 29)).replicas, 0);
    assert_eq!(s.floor_at(utc(6, 30)).replicas, 5);
    // 02:30 does not exist that night: `in-gap` opens at the first instant
    // after the gap, 03:00 EDT = 07:00 UTC, and lasts its 30 real minutes.
    assert_eq!(s.floor_at(utc(6, 59)).replicas, 5);
    let f = s.floor_at(utc(7, 0));
    assert_eq!(
        (f.replicas, f.source),
        (9, FloorSource::Cron("in-gap".into()))
    );
    assert_eq!(s.floor_at(utc(7, 29)).replicas, 9);
    assert_eq!(s.floor_at(utc(7, 30)).replicas, 0);
    // The next night, both fire on the wall clock again (EDT).
    let next = |h, m| UtcTime::from_ymd_hms(2024, 3, 11, h, m, 0).unwrap();
    assert_eq!(s.floor_at(next(5, 30)).replicas, 5); // 01:30 EDT
    assert_eq!(s.floor_at(next(6, 30)).replicas, 9); // 02:30 EDT
    assert_eq!(s.floor_at(next(7, 30)).replicas, 0); // 03:30 EDT
}

#[test]
fn a_window_across_the_fall_back_repeat() {
    // 2024-11-03 in New York: 02:00 EDT falls back to 01:00 EST (06:00 UTC),
    // so 01:00-02:00 local happens twice.
    let utc = |h, m| UtcTime::from_ymd_hms(2024, 11, 3, h, m, 0).unwrap();
    let mut s = Schedule::from_yaml(
        "time_zone: America/New_York\ndaily: [{at: '00:00', replicas: 1}, {at: '01:30', replicas: 3}]\ncron:\n\
         - {name: repeat, start: '30 1 * * *', duration: 2h, replicas: 8}\n\
         - {name: to-two, start: '0 0 * * *', end: '0 2 * * *', replicas: 6}",
    )
    .unwrap();
    // `to-two` opens at 00:00 EDT (04:00 UTC) and closes at 02:00 EST
    // (07:00 UTC): three real hours.
    assert_eq!(s.floor_at(utc(4, 0)).replicas, 6);
    // 01:30 fires once, on its first pass (01:30 EDT = 05:30 UTC)...
    assert_eq!(s.floor_at(utc(5, 30)).replicas, 8);
    // ...and lasts 2 real hours, to 07:30 UTC, through the repeated hour:
    // the second 01:30 (EST, 06:30 UTC) neither reopens nor extends it.
    assert_eq!(s.floor_at(utc(6, 30)).replicas, 8);
    assert_eq!(s.floor_at(utc(7, 29)).replicas, 8);
    assert_eq!(s.floor_at(utc(7, 30)).replicas, 3);
    // The daily 01:30 entry stays in force through the repeated hour too.
    let f = s.floor_at(utc(6, 15)); // 01:15 EST, after 01:30 EDT
    assert_eq!(f.replicas, 8);
    let mut daily_only = Schedule::from_yaml(
        "time_zone: America/New_York\ndaily: [{at: '00:00', replicas: 1}, {at: '01:30', replicas: 3}]",
    )
    .unwrap();
    assert_eq!(daily_only.floor_at(utc(5, 29)).replicas, 1);
    assert_eq!(daily_only.floor_at(utc(5, 30)).replicas, 3);
    assert_eq!(daily_only.floor_at(utc(6, 15)).replicas, 3);
    assert_eq!(daily_only.floor_at(utc(6, 45)).replicas, 3);
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
