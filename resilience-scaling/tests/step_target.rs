//! Step scaling and target tracking: bounds, rounding and alarm timing
//! properties.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use resilience_scaling::step::{apply_adjustment, AdjustmentType, StepScaling};
use resilience_scaling::target_tracking::{TargetTracking, TrackingAction};

proptest! {
    #[test]
    fn percent_adjustment_rounds_toward_zero_but_never_to_zero(current in 0u32..10_000, pct in -300i64..300, mag in 0u32..5) {
        let new = apply_adjustment(AdjustmentType::PercentChangeInCapacity, current, pct, mag);
        let raw = f64::from(current) * pct as f64 / 100.0;
        let change = new - i64::from(current);
        if raw == 0.0 {
            prop_assert_eq!(change, 0);
        } else {
            prop_assert!(change != 0);
            prop_assert_eq!(change.signum(), raw.signum() as i64);
            prop_assert!(change.abs() as f64 <= raw.abs().max(1.0).max(f64::from(mag)));
            prop_assert!(change.abs() >= i64::from(mag));
        }
    }

    #[test]
    fn step_policy_stays_within_bounds_and_waits_for_the_alarm(
        min in 0u32..10, span in 0u32..50, hold in 0u64..120,
        values in prop::collection::vec((1u64..60, -50.0f64..150.0), 1..80),
        kind in prop::sample::select(vec!["change_in_capacity", "exact_capacity", "percent_change_in_capacity"]),
    ) {
        let max = min + span;
        let mut p = StepScaling::from_yaml(&format!(
            "min_capacity: {min}\nmax_capacity: {max}\nadjustment_type: {kind}\nmin_adjustment_magnitude: 1\nalarm: {{threshold: 50, comparison: greater_than, for: {hold}s}}\nsteps: [{{lower_bound: 0, upper_bound: 25, adjustment: 20}}, {{lower_bound: 25, adjustment: 60}}]"
        )).unwrap();
        let t0 = Instant::now();
        let (mut t, mut current, mut above_since) = (0u64, min, None::<u64>);
        for (dt, v) in values {
            t += dt;
            if v > 50.0 { above_since.get_or_insert(t); } else { above_since = None; }
            let d = p.evaluate(t0 + Duration::from_secs(t), current, v);
            prop_assert!(d.replicas >= min && d.replicas <= max);
            let alarm = above_since.is_some_and(|s| t - s >= hold);
            prop_assert_eq!(d.breached, alarm);
            if !alarm { prop_assert_eq!(d.replicas, current.clamp(min, max)); }
            current = d.replicas;
        }
    }

    #[test]
    fn target_tracking_bounds_and_disabled_scale_in(
        min in 1u32..10, span in 0u32..60, disable in any::<bool>(),
        values in prop::collection::vec((1u64..400, 0.0f64..200.0), 1..80),
    ) {
        let max = min + span;
        let mut tt = TargetTracking::from_yaml(&format!(
            "min_capacity: {min}\nmax_capacity: {max}\ntarget_value: 50\ndisable_scale_in: {disable}"
        )).unwrap();
        let t0 = Instant::now();
        let (mut t, mut current) = (0u64, min);
        for (dt, v) in values {
            t += dt;
            let d = tt.evaluate(t0 + Duration::from_secs(t), current, v);
            prop_assert!(d.replicas >= min && d.replicas <= max);
            if disable { prop_assert!(d.action != TrackingAction::ScaleIn); }
            if d.action == TrackingAction::ScaleOut { prop_assert!(d.replicas > current && v > 50.0); }
            if d.action == TrackingAction::ScaleIn { prop_assert!(d.replicas < current && v < 45.0); }
            current = d.replicas;
        }
    }
}

#[test]
fn an_i64_min_adjustment_is_refused_and_the_arithmetic_never_overflows() {
    let yaml = |kind: &str, adj: i64| {
        format!(
            "min_capacity: 1\nmax_capacity: 10\nadjustment_type: {kind}\nmin_adjustment_magnitude: 3\n\
             alarm: {{threshold: 50, comparison: greater_than}}\nsteps: [{{lower_bound: 0, adjustment: {adj}}}]"
        )
    };
    for kind in [
        "change_in_capacity",
        "exact_capacity",
        "percent_change_in_capacity",
    ] {
        for adj in [i64::MIN, i64::MAX] {
            let e = StepScaling::from_yaml(&yaml(kind, adj)).unwrap_err();
            assert_eq!(e.field(), Some("steps[0].adjustment"), "{kind} {adj}");
        }
    }
    // The public helper is total: it saturates instead of panicking on abs().
    for kind in [
        AdjustmentType::ChangeInCapacity,
        AdjustmentType::ExactCapacity,
        AdjustmentType::PercentChangeInCapacity,
    ] {
        for current in [0, 1, u32::MAX] {
            for adj in [i64::MIN, -1, 0, 1, i64::MAX] {
                let _ = apply_adjustment(kind, current, adj, u32::MAX);
            }
        }
    }
    assert_eq!(
        apply_adjustment(
            AdjustmentType::PercentChangeInCapacity,
            u32::MAX,
            i64::MIN,
            3
        ),
        i64::MIN + i64::from(u32::MAX)
    );
}
