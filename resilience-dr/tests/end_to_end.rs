//! The pieces together, as the reference platforms use them, under `tokio::time::pause()`.

mod common;

use common::secs;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilience_core::clock::Clock;
use resilience_core::clock::TokioClock;
use resilience_dr::failover::*;
use resilience_dr::health::*;
use resilience_dr::recovery::{Disposition, InFlightTracker, RecoveryConfig};
use resilience_dr::FailureKind;
use tokio::time::sleep;

/// Region outage: three vantage points probe the primary every 30 s; two of
/// them agreeing for 5 minutes confirms the outage, which starts the
/// failover; the report measures detection time from the outage's start.
#[tokio::test(start_paused = true)]
async fn confirmed_outage_drives_failover_with_detection_time() {
    let detector = Arc::new(
        OutageDetector::with_clock(
            OutageConfig {
                quorum: 2,
                sustain: secs(300),
                max_report_age: secs(90),
            },
            ["zone-a", "zone-b", "zone-c"],
            TokioClock,
        )
        .unwrap(),
    );
    let d = detector.clone();
    let actions = FailoverActions::new(
        |_| async { Ok::<(), &str>(()) },
        |_| async { Ok::<(), &str>(()) },
    )
    .detect(move |_| {
        let confirmed = d.status().is_confirmed();
        async move { Ok::<bool, &str>(confirmed) }
    });
    let orchestrator = Orchestrator::new(
        FailoverConfig {
            require_approval: false,
            ..FailoverConfig::default()
        },
        actions,
    )
    .unwrap();

    // zone-c's probe is flaky-healthy; a and b see the primary down.
    let outage_start = TokioClock.now();
    let since = loop {
        detector.report(&"zone-a", false).unwrap();
        detector.report(&"zone-b", false).unwrap();
        detector.report(&"zone-c", true).unwrap();
        if let OutageStatus::Confirmed { since, .. } = detector.status() {
            break since;
        }
        sleep(secs(30)).await;
    };
    assert_eq!(since, outage_start);
    let report = orchestrator
        .failover(Trigger::new("2/3 zones: primary down for 5m").outage_began(since))
        .await
        .unwrap();
    assert_eq!(report.outcome, FailoverOutcome::Completed);
    assert_eq!(report.objectives.detection_time, Some(secs(300)));
    // switch immediately, then 2 min of propagation before service is verified
    assert_eq!(report.objectives.time_to_switch, Some(secs(300)));
    assert_eq!(report.objectives.recovery_time, Some(secs(420)));
    assert_eq!(report.objectives.rto_met(), Some(true)); // 7 min < 15 min
}

/// A single flaky monitor never starts a failover.
#[tokio::test(start_paused = true)]
async fn one_flaky_probe_does_not_fail_over() {
    let detector = Arc::new(
        OutageDetector::with_clock(OutageConfig::default(), ["a", "b", "c"], TokioClock).unwrap(),
    );
    for _ in 0..40 {
        detector.report(&"a", false).unwrap();
        detector.report(&"b", true).unwrap();
        detector.report(&"c", true).unwrap();
        sleep(secs(30)).await;
    }
    assert_eq!(detector.status(), OutageStatus::Clear);
}

/// GPU worker killed: the heartbeat monitor declares it unhealthy after 30 s,
/// the recovery policy runs the inference platform's timeout plan (mark unhealthy,
/// reassign in-flight, schedule replacement), and its in-progress request is
/// retried on another worker after a 2 s backoff; nothing is lost.
#[tokio::test(start_paused = true)]
async fn killed_worker_is_detected_and_its_request_reassigned() {
    let monitor = HeartbeatMonitor::with_clock(HeartbeatConfig::default(), TokioClock).unwrap();
    let tracker = InFlightTracker::with_clock(RecoveryConfig::default(), TokioClock).unwrap();
    let steps = Arc::new(Mutex::new(Vec::new()));
    let t0 = TokioClock.now();

    let (s1, s2, s3, tr) = (steps.clone(), steps.clone(), steps.clone(), tracker.clone());
    let policy = RecoveryPolicy::builder()
        .on(
            FailureKind::Timeout,
            Plan::new()
                .step("mark_unhealthy", move |ctx: ActionContext<&'static str>| {
                    s1.lock()
                        .unwrap()
                        .push(format!("mark_unhealthy {}", ctx.member));
                    async { Ok::<(), &str>(()) }
                })
                .step(
                    "reassign_in_flight",
                    move |ctx: ActionContext<&'static str>| {
                        let report = tr.fail_worker(&ctx.member, ctx.failure.clone());
                        s2.lock()
                            .unwrap()
                            .push(format!("reassigned {} request(s)", report.outcomes.len()));
                        async { Ok::<(), &str>(()) }
                    },
                )
                .step(
                    "schedule_replacement",
                    move |ctx: ActionContext<&'static str>| {
                        s3.lock().unwrap().push(format!("replace {}", ctx.member));
                        async { Ok::<(), &str>(()) }
                    },
                ),
        )
        .clock(TokioClock)
        .build()
        .unwrap();

    for w in ["gpu-1", "gpu-2"] {
        monitor.register(w);
    }
    tracker.submit(42u64, 0).unwrap();
    tracker.assign(&42, "gpu-1").unwrap();
    tracker.start(&42).unwrap();

    // gpu-1 dies; gpu-2 keeps beating. The host checks every 10 s.
    let mut handled = None;
    for _ in 0..6 {
        sleep(secs(10)).await;
        monitor.heartbeat(&"gpu-2");
        for e in monitor.check() {
            if e.to == HealthState::Unhealthy {
                handled = Some(policy.handle(e.member, FailureKind::Timeout).await);
            }
        }
        if handled.is_some() {
            break;
        }
    }
    let report = handled.expect("gpu-1 declared unhealthy");
    assert!(report.succeeded());
    assert_eq!(
        TokioClock.now() - t0,
        secs(30),
        "detected at the 30 s heartbeat timeout"
    );
    assert_eq!(
        *steps.lock().unwrap(),
        [
            "mark_unhealthy gpu-1",
            "reassigned 1 request(s)",
            "replace gpu-1"
        ]
    );
    let info = tracker.get(&42).unwrap();
    assert_eq!(info.retries, 1);
    assert_eq!(tracker.next_ready(), None, "backing off");
    sleep(secs(2)).await;
    assert_eq!(tracker.next_ready(), Some(42));
    tracker.assign(&42, "gpu-2").unwrap();
    tracker.start(&42).unwrap();
    tracker.complete(&42).unwrap();
    assert!(tracker.is_empty());
}

/// Out of memory three times in a row: batch size 1 on a larger-VRAM worker
/// each time, then a failure message naming the cause after the third retry.
#[tokio::test(start_paused = true)]
async fn repeated_oom_ends_in_a_named_failure() {
    let tracker: InFlightTracker<u64, &str> =
        InFlightTracker::with_clock(RecoveryConfig::default(), TokioClock).unwrap();
    tracker.submit(7, 10).unwrap();
    let mut last = None;
    for worker in ["small-1", "big-1", "big-2", "big-3"] {
        while tracker.next_ready().is_none() {
            sleep(Duration::from_millis(500)).await;
        }
        tracker.assign(&7, worker).unwrap();
        tracker.start(&7).unwrap();
        last = Some(
            tracker
                .fail_worker(&worker, FailureKind::OutOfMemory)
                .outcomes
                .remove(0)
                .disposition,
        );
    }
    match last.unwrap() {
        Disposition::Failed { message } => {
            assert!(
                message.starts_with("failed after 3 retries: out of memory"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(tracker.is_empty());
}
