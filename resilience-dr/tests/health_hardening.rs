//! Health primitives under extreme configuration: durations near the
//! clock's range, and escalation histories of several failure kinds.

use std::time::Duration;

use resilience_core::clock::ManualClock;
use resilience_dr::health::{OutageConfig, OutageDetector, Persistence, Plan, RecoveryPolicy};
use resilience_dr::FailureKind;

#[test]
fn a_huge_max_report_age_still_confirms_an_outage() {
    // `reported_at + max_report_age` overflows the clock: that expiry is the
    // far future, so the votes stay fresh (they once looked expired at once,
    // and the outage was never confirmed).
    for age in [Duration::MAX, Duration::from_secs(u64::MAX / 2)] {
        let clock = ManualClock::new();
        let cfg = OutageConfig {
            quorum: 2,
            sustain: Duration::from_secs(60),
            max_report_age: age,
        };
        let d = OutageDetector::with_clock(cfg, ["a", "b", "c"], clock.clone()).unwrap();
        d.report(&"a", false).unwrap();
        d.report(&"b", false).unwrap();
        assert!(!d.status().is_confirmed());
        clock.advance(Duration::from_secs(61));
        assert!(
            d.status().is_confirmed(),
            "max_report_age {age:?}: {}",
            d.status()
        );
        // A vote that never expires still yields to a newer healthy report.
        d.report(&"a", true).unwrap();
        assert!(!d.status().is_confirmed());
    }
}

#[tokio::test(flavor = "current_thread")]
async fn each_failure_kinds_escalation_history_ages_out_by_its_own_window() {
    // GPU errors escalate on the 2nd within an hour; timeouts on the 2nd
    // within 10 s. A timeout (short window) must not erase the GPU history.
    let clock = ManualClock::new();
    let ok = |_| async { Ok::<(), &str>(()) };
    let policy: RecoveryPolicy<&str> = RecoveryPolicy::builder()
        .clock(clock.clone())
        .on(
            FailureKind::GpuError,
            Plan::new().step("restart", ok).if_persists(
                Persistence {
                    after: 2,
                    within: Duration::from_secs(3600),
                },
                Plan::new().step("replace", ok),
            ),
        )
        .on(
            FailureKind::Timeout,
            Plan::new().step("mark_unhealthy", ok).if_persists(
                Persistence {
                    after: 2,
                    within: Duration::from_secs(10),
                },
                Plan::new().step("reassign", ok),
            ),
        )
        .build()
        .unwrap();
    let first = policy.handle("gpu-1", FailureKind::GpuError).await;
    assert!(!first.escalated);
    clock.advance(Duration::from_secs(60));
    // 60 s later a timeout: evicting with its 10 s window would drop the
    // GPU error recorded 60 s ago.
    let t = policy.handle("gpu-1", FailureKind::Timeout).await;
    assert!(!t.escalated);
    clock.advance(Duration::from_secs(60));
    let second = policy.handle("gpu-1", FailureKind::GpuError).await;
    assert_eq!(second.occurrence, 2);
    assert!(
        second.escalated,
        "the GPU error of 2 min ago is inside its 1 h window"
    );
    // And the short window still ages out by itself.
    clock.advance(Duration::from_secs(11));
    let t2 = policy.handle("gpu-1", FailureKind::Timeout).await;
    assert_eq!((t2.occurrence, t2.escalated), (1, false));
}
