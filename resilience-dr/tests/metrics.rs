//! The documented metric names are the ones emitted.

use std::collections::BTreeSet;
use std::time::Duration;

use metrics_util::debugging::DebuggingRecorder;
use resilience_core::clock::ManualClock;
use resilience_dr::failover::*;
use resilience_dr::health::*;
use resilience_dr::recovery::{InFlightTracker, RecoveryConfig};
use resilience_dr::FailureKind;

fn names(recorder: &DebuggingRecorder) -> BTreeSet<String> {
    recorder
        .snapshotter()
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(k, ..)| k.key().name().to_string())
        .collect()
}

#[test]
fn every_documented_metric_is_emitted() {
    let recorder = DebuggingRecorder::new();
    metrics::with_local_recorder(&recorder, || {
        let clock = ManualClock::new();
        let hb = HeartbeatMonitor::with_clock(HeartbeatConfig::default(), clock.clone()).unwrap();
        hb.register(1u8);
        clock.advance(Duration::from_secs(30));
        hb.check();

        let det = OutageDetector::with_clock(
            OutageConfig {
                quorum: 1,
                sustain: Duration::ZERO,
                ..Default::default()
            },
            [1u8],
            clock.clone(),
        )
        .unwrap();
        det.report(&1, false).unwrap();
        det.report(&1, true).unwrap();

        let t = InFlightTracker::with_clock(RecoveryConfig::default(), clock.clone()).unwrap();
        t.submit(1u32, 0).unwrap();
        t.assign(&1, "w").unwrap();
        t.fail_worker(&"w", FailureKind::Timeout);

        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let mut probes = ProbeSet::new();
            probes
                .add("p", ProbeKind::Liveness, Duration::from_secs(1), || async {
                    Err::<(), _>("down")
                })
                .unwrap();
            probes.run().await;

            let policy: RecoveryPolicy<u8> = RecoveryPolicy::builder()
                .on(
                    FailureKind::Timeout,
                    Plan::new().step("s", |_| async { Ok::<(), &str>(()) }),
                )
                .build()
                .unwrap();
            policy.handle(1, FailureKind::Timeout).await;
            policy.handle(1, FailureKind::GpuError).await;

            let o = Orchestrator::new(
                FailoverConfig {
                    objectives: vec![DataObjective::new("db", Duration::from_secs(60))
                        .acceptable_lag(Duration::ZERO)],
                    ..Default::default()
                },
                FailoverActions::new(
                    |_| async { Ok::<(), &str>(()) },
                    |_| async { Ok::<(), &str>(()) },
                )
                .guard(|_| async {
                    Ok::<_, &str>(ReplicationStatus::from(vec![DataLag::asynchronous(
                        "db",
                        Duration::from_secs(1),
                    )]))
                })
                .approve(|_| async { Ok::<_, &str>(Approval::approved("op")) })
                .verify(|ctx: StepContext| async move {
                    if ctx.attempt == 1 {
                        Err("warming up")
                    } else {
                        Ok(())
                    }
                }),
            )
            .unwrap();
            let o2 = o.clone();
            let run = tokio::spawn(async move { o2.failover(Trigger::new("t")).await });
            tokio::task::yield_now().await;
            o.pause();
            o.resume();
            run.await.unwrap().unwrap();
            assert!(o.failback(Trigger::new("too soon")).await.is_err());
        });
    });
    let got = names(&recorder);
    for expected in [
        "resilience_heartbeat_members",
        "resilience_heartbeat_transitions_total",
        "resilience_probe_failures_total",
        "resilience_outage_transitions_total",
        "resilience_outage_confirmation_seconds",
        "resilience_recovery_actions_total",
        "resilience_recovery_actions_unhandled_total",
        "resilience_recovery_requests_total",
        "resilience_recovery_worker_failures_total",
        "resilience_failover_started_total",
        "resilience_failover_refused_total",
        "resilience_failover_runs_total",
        "resilience_failover_phase_seconds",
        "resilience_failover_attempt_failures_total",
        "resilience_failover_data_loss_seconds",
        "resilience_failover_recovery_seconds",
        "resilience_failover_paused",
        "resilience_failover_alerts_total",
    ] {
        assert!(
            got.contains(expected),
            "{expected} not emitted; got {got:?}"
        );
    }
    // Nothing undocumented.
    assert!(got.iter().all(|n| n.starts_with("resilience_")), "{got:?}");
}
