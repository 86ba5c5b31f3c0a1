//! Behaviour of the failover orchestrator, all under `tokio::time::pause()`.

mod common;

use common::secs;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilience_core::clock::Clock;
use resilience_core::clock::TokioClock;
use resilience_dr::failover::*;
use tokio::time::{advance, sleep, Instant};

type Log = Arc<Mutex<Vec<String>>>;

fn logged(
    log: &Log,
    what: &'static str,
    after: Duration,
) -> impl Fn(StepContext) -> BoxFut + Send + Sync + 'static {
    let log = log.clone();
    move |ctx: StepContext| {
        let log = log.clone();
        Box::pin(async move {
            sleep(after).await;
            log.lock()
                .unwrap()
                .push(format!("{what} {}->{}", ctx.from, ctx.to));
            Ok(())
        })
    }
}

type BoxFut = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(), resilience_dr::BoxError>> + Send>,
>;

fn platform_config() -> FailoverConfig {
    FailoverConfig {
        objectives: vec![
            DataObjective::new("privacy_budgets", Duration::ZERO),
            DataObjective::new("metadata", secs(300)).acceptable_lag(secs(60)),
        ],
        ..Default::default()
    }
}

fn full_actions(log: &Log, gate: &ApprovalGate, metadata_lag: Duration) -> FailoverActions {
    FailoverActions::new(
        logged(log, "switch", secs(5)),
        logged(log, "fence", secs(1)),
    )
    .detect(|_| async { Ok::<bool, &str>(true) })
    .prepare("promote_standby", logged(log, "promote", secs(20)))
    .prepare("scale_dr_compute", logged(log, "scale", secs(45)))
    .guard(move |_| async move {
        Ok::<_, &str>(ReplicationStatus::from(vec![
            DataLag::synchronous("privacy_budgets"),
            DataLag::asynchronous("metadata", metadata_lag),
        ]))
    })
    .approval_gate(gate.clone())
    .verify(logged(log, "verify", secs(3)))
    .reconcile(|_| async {
        Ok::<_, &str>(Reconciliation {
            counts: vec![CountCheck::new("models", 10_000, 9_950)],
            consumer_lag: Some(secs(30)),
        })
    })
}

fn approve_after(gate: &ApprovalGate, after: Duration, by: &'static str) {
    let gate = gate.clone();
    tokio::spawn(async move {
        while !gate.is_waiting() {
            sleep(secs(1)).await;
        }
        sleep(after).await;
        gate.approve(by);
    });
}

#[tokio::test(start_paused = true)]
async fn happy_path_runs_every_phase_in_order_with_rto_accounting() {
    let log: Log = Arc::default();
    let gate = ApprovalGate::new();
    let o = Orchestrator::new(platform_config(), full_actions(&log, &gate, secs(90))).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    o.listeners()
        .add_fn(move |e: &FailoverEvent| ev.lock().unwrap().push(e.clone()));

    let outage_began = TokioClock.now();
    advance(secs(300)).await; // the outage was confirmed after 5 minutes
    approve_after(&gate, secs(120), "alice");
    let start = Instant::now();
    let report = o
        .failover(Trigger::new("3/3 probes down for 5m").outage_began(outage_began))
        .await
        .unwrap();

    assert_eq!(
        report.outcome,
        FailoverOutcome::Completed,
        "{}",
        report.render()
    );
    assert_eq!(o.active_site(), "secondary");
    // Prepare ran in parallel: 45 s, not 65 s.
    let prepare = report
        .phases
        .iter()
        .find(|p| p.phase == Phase::Prepare)
        .unwrap();
    assert_eq!(prepare.took, secs(45));
    let order: Vec<Phase> = report.phases.iter().map(|p| p.phase).collect();
    // Every phase, in order; no communication hooks: Communicate is skipped.
    let expected: Vec<Phase> = Phase::ALL
        .into_iter()
        .filter(|p| *p != Phase::Communicate)
        .collect();
    assert_eq!(order, expected);
    assert_eq!(
        *log.lock().unwrap(),
        [
            "promote primary->secondary",
            "scale primary->secondary",
            "switch primary->secondary",
            "verify primary->secondary",
            "fence primary->secondary"
        ]
    );
    // 45 s prepare + ~121 s approval + 5 s switch + 120 s propagation + 3 s verify + 1 s fence
    let o_ = &report.objectives;
    assert_eq!(o_.detection_time, Some(secs(300)));
    let total = start.elapsed();
    assert_eq!(o_.time_to_switch.unwrap() + secs(124), secs(300) + total);
    assert_eq!(
        o_.recovery_time.unwrap(),
        o_.time_to_switch.unwrap() + secs(123)
    );
    assert_eq!(o_.rto_met(), Some(true));
    assert!(o_.rpo_met());
    let meta = o_
        .data_loss
        .iter()
        .find(|d| d.data_type == "metadata")
        .unwrap();
    assert_eq!(meta.window, secs(90));
    // Lag over the acceptable 60 s (but within RPO): warning alert, not a stop.
    assert!(report.timeline.iter().any(|e| matches!(
        &e.event,
        FailoverEvent::Alert { severity: Severity::Warning, message } if message.contains("Potential data loss")
    )));
    assert!(events
        .lock()
        .unwrap()
        .contains(&FailoverEvent::Approved { by: "alice".into() }));
    assert_eq!(events.lock().unwrap().len(), report.timeline.len());
    assert!(report.render().contains("RTO 15m: met"));
}

#[tokio::test(start_paused = true)]
async fn approval_timeout_means_not_approved_and_traffic_stays() {
    let log: Log = Arc::default();
    let gate = ApprovalGate::new();
    let o = Orchestrator::new(platform_config(), full_actions(&log, &gate, secs(1))).unwrap();
    let start = Instant::now();
    let report = o.failover(Trigger::new("outage")).await.unwrap();
    assert!(
        matches!(report.outcome, FailoverOutcome::NotApproved { ref reason } if reason.contains("10m"))
    );
    // 45 s of preparation, then exactly the 10 minute gate.
    assert_eq!(start.elapsed(), secs(45) + secs(600));
    assert_eq!(o.active_site(), "primary");
    assert!(!gate.is_waiting());
    assert!(!log.lock().unwrap().iter().any(|l| l.starts_with("switch")));
    assert!(report.timeline.iter().any(|e| matches!(
        &e.event,
        FailoverEvent::Alert { message, .. } if message.contains("staying on primary")
    )));
    // Not switched: the anti-flap window does not apply, a new attempt may start.
    approve_after(&gate, secs(0), "bob");
    let again = o.failover(Trigger::new("retry")).await.unwrap();
    assert_eq!(again.outcome, FailoverOutcome::Completed);
}

#[tokio::test(start_paused = true)]
async fn rejection_is_not_approved() {
    let log: Log = Arc::default();
    let gate = ApprovalGate::new();
    let o = Orchestrator::new(platform_config(), full_actions(&log, &gate, secs(1))).unwrap();
    let g = gate.clone();
    tokio::spawn(async move {
        while !g.is_waiting() {
            sleep(secs(1)).await;
        }
        g.reject("carol", "primary is recovering");
    });
    let report = o.failover(Trigger::new("outage")).await.unwrap();
    assert_eq!(
        report.outcome,
        FailoverOutcome::NotApproved {
            reason: "rejected by carol: primary is recovering".into()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn rpo_zero_needs_synchronous_replication_and_lag_over_rpo_aborts() {
    let gate = ApprovalGate::new();
    let mk = |lags: Vec<DataLag>| {
        let lags = Arc::new(lags);
        FailoverActions::new(
            |_| async { Ok::<(), &str>(()) },
            |_| async { Ok::<(), &str>(()) },
        )
        .guard(move |_| {
            let lags = lags.clone();
            async move { Ok::<_, &str>(ReplicationStatus::from((*lags).clone())) }
        })
        .approval_gate(gate.clone())
    };
    let o = Orchestrator::new(
        platform_config(),
        mk(vec![
            DataLag::asynchronous("privacy_budgets", Duration::ZERO),
            DataLag::asynchronous("metadata", secs(1)),
        ]),
    )
    .unwrap();
    let r = o.failover(Trigger::new("t")).await.unwrap();
    match &r.outcome {
        FailoverOutcome::Aborted {
            phase: Phase::Guard,
            reason,
        } => {
            assert!(
                reason.contains("requires synchronous replication"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(r.guard.unwrap().breached());

    let o = Orchestrator::new(
        platform_config(),
        mk(vec![
            DataLag::synchronous("privacy_budgets"),
            DataLag::asynchronous("metadata", secs(301)),
        ]),
    )
    .unwrap();
    let r = o.failover(Trigger::new("t")).await.unwrap();
    assert!(
        matches!(&r.outcome, FailoverOutcome::Aborted { phase: Phase::Guard, reason } if reason.contains("over its RPO"))
    );
    assert!(!r.objectives.rpo_met());

    // Missing status for a configured data type is a breach, never a pass.
    let o = Orchestrator::new(
        platform_config(),
        mk(vec![DataLag::synchronous("privacy_budgets")]),
    )
    .unwrap();
    let r = o.failover(Trigger::new("t")).await.unwrap();
    assert!(
        matches!(&r.outcome, FailoverOutcome::Aborted { reason, .. } if reason.contains("no replication status"))
    );

    // With abort_on_rpo_breach off, the approver decides (and sees the findings).
    let seen = Arc::new(Mutex::new(None));
    let s2 = seen.clone();
    let cfg = FailoverConfig {
        abort_on_rpo_breach: false,
        ..platform_config()
    };
    let actions = FailoverActions::new(
        |_| async { Ok::<(), &str>(()) },
        |_| async { Ok::<(), &str>(()) },
    )
    .guard(|_| async {
        Ok::<_, &str>(ReplicationStatus::from(vec![
            DataLag::synchronous("privacy_budgets"),
            DataLag::asynchronous("metadata", secs(400)),
        ]))
    })
    .approve(move |ctx: StepContext| {
        *s2.lock().unwrap() = ctx.guard.clone();
        async { Ok::<_, &str>(Approval::approved("dave")) }
    });
    let o = Orchestrator::new(cfg, actions).unwrap();
    let r = o.failover(Trigger::new("t")).await.unwrap();
    assert_eq!(r.outcome, FailoverOutcome::Completed);
    assert!(seen.lock().unwrap().as_ref().unwrap().breached());
    assert!(!r.objectives.rpo_met());
}

#[tokio::test(start_paused = true)]
async fn retries_with_backoff_then_abort_before_switch() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let mut cfg = FailoverConfig {
        require_approval: false,
        ..Default::default()
    };
    cfg.steps.prepare = Some(StepPolicy {
        timeout: secs(10),
        attempts: 3,
        backoff_initial: secs(2),
        backoff_max: secs(30),
    });
    let actions = FailoverActions::new(
        |_| async { Ok::<(), &str>(()) },
        |_| async { Ok::<(), &str>(()) },
    )
    .prepare("promote_standby", move |ctx: StepContext| {
        c.fetch_add(1, Ordering::SeqCst);
        async move {
            if ctx.attempt == 2 {
                std::future::pending::<()>().await; // hangs: timeout
            }
            Err::<(), _>(format!("standby unreachable (attempt {})", ctx.attempt))
        }
    });
    let o = Orchestrator::new(cfg, actions).unwrap();
    let start = Instant::now();
    let r = o.failover(Trigger::new("t")).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // attempt 1 fails at 0 s, backoff 2 s, attempt 2 times out after 10 s, backoff 4 s, attempt 3 fails.
    assert_eq!(start.elapsed(), secs(16));
    match &r.outcome {
        FailoverOutcome::Aborted {
            phase: Phase::Prepare,
            reason,
        } => {
            assert!(
                reason.contains("promote_standby: standby unreachable (attempt 3)"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    let failures: Vec<_> = r
        .timeline
        .iter()
        .filter_map(|e| match &e.event {
            FailoverEvent::AttemptFailed {
                attempt,
                retry_in,
                error,
                ..
            } => Some((*attempt, *retry_in, error.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(failures.len(), 3);
    assert_eq!(failures[0].1, Some(secs(2)));
    assert_eq!(failures[1].2, "timed out after 10s");
    assert_eq!(failures[2].1, None);
    assert_eq!(o.active_site(), "primary");
}

#[tokio::test(start_paused = true)]
async fn verify_failure_does_not_fence_and_alerts() {
    let log: Log = Arc::default();
    let cfg = FailoverConfig {
        require_approval: false,
        ..Default::default()
    };
    let actions = FailoverActions::new(
        logged(&log, "switch", secs(0)),
        logged(&log, "fence", secs(0)),
    )
    .verify(|_| async { Err::<(), _>("health check 503") });
    let o = Orchestrator::new(cfg, actions).unwrap();
    let r = o.failover(Trigger::new("t")).await.unwrap();
    assert!(matches!(
        &r.outcome,
        FailoverOutcome::Failed {
            phase: Phase::Verify,
            ..
        }
    ));
    assert!(r.outcome.switched());
    assert_eq!(o.active_site(), "secondary");
    assert_eq!(*log.lock().unwrap(), ["switch primary->secondary"]);
    assert!(r.timeline.iter().any(|e| matches!(
        &e.event,
        FailoverEvent::Alert { severity: Severity::Critical, message } if message.contains("unhealthy after failover")
    )));
    assert_eq!(r.objectives.recovery_time, None);
    assert_eq!(r.objectives.rto_met(), None);
}

#[tokio::test(start_paused = true)]
async fn fence_failure_is_critical_and_reconcile_out_of_tolerance_is_reported() {
    let cfg = FailoverConfig {
        require_approval: false,
        propagation_wait: Duration::ZERO,
        ..Default::default()
    };
    let o = Orchestrator::new(
        cfg.clone(),
        FailoverActions::new(
            |_| async { Ok::<(), &str>(()) },
            |_| async { Err::<(), _>("old primary unreachable") },
        ),
    )
    .unwrap();
    let r = o.failover(Trigger::new("t")).await.unwrap();
    assert!(matches!(
        &r.outcome,
        FailoverOutcome::Failed {
            phase: Phase::Fence,
            ..
        }
    ));
    assert!(r.render().contains("split-brain"));

    let attempts = Arc::new(AtomicU32::new(0));
    let a = attempts.clone();
    let o = Orchestrator::new(
        cfg,
        FailoverActions::new(
            |_| async { Ok::<(), &str>(()) },
            |_| async { Ok::<(), &str>(()) },
        )
        .reconcile(move |_| {
            let n = a.fetch_add(1, Ordering::SeqCst);
            async move {
                // converges on the third look
                let actual = if n < 2 { 9_800 } else { 9_990 };
                Ok::<_, &str>(Reconciliation {
                    counts: vec![CountCheck::new("models", 10_000, actual)],
                    consumer_lag: None,
                })
            }
        }),
    )
    .unwrap();
    let r = o.failover(Trigger::new("t")).await.unwrap();
    assert_eq!(r.outcome, FailoverOutcome::Completed);
    assert_eq!(r.phases.last().unwrap().attempts, 3);
    let first_failure = r
        .timeline
        .iter()
        .find_map(|e| match &e.event {
            FailoverEvent::AttemptFailed { error, .. } => Some(error.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        first_failure.contains("models differs by 2.00%"),
        "{first_failure}"
    );
}

#[tokio::test(start_paused = true)]
async fn pause_resume_and_abort() {
    let cfg = FailoverConfig {
        require_approval: false,
        ..Default::default()
    };
    let actions = || {
        FailoverActions::new(
            |_| async { Ok::<(), &str>(()) },
            |_| async { Ok::<(), &str>(()) },
        )
        .prepare("slow", |_| async {
            sleep(secs(10)).await;
            Ok::<(), &str>(())
        })
    };
    let o = Orchestrator::new(cfg.clone(), actions()).unwrap();
    assert!(!o.pause(), "nothing running");
    let o2 = o.clone();
    let run = tokio::spawn(async move { o2.failover(Trigger::new("t")).await });
    sleep(secs(5)).await;
    assert!(o.pause());
    assert_eq!(o.running(), Some(Direction::Failover));
    sleep(secs(3600)).await; // stays paused (before Guard) for an hour
    assert!(!run.is_finished());
    assert!(o.resume());
    let r = run.await.unwrap().unwrap();
    assert_eq!(r.outcome, FailoverOutcome::Completed);
    assert_eq!(r.objectives.paused_for, secs(3595));
    assert!(r.timeline.iter().any(|e| e.event == FailoverEvent::Paused));
    assert_eq!(o.running(), None);

    let o = Orchestrator::new(cfg, actions()).unwrap();
    let o2 = o.clone();
    let run = tokio::spawn(async move { o2.failover(Trigger::new("t")).await });
    sleep(secs(1)).await;
    assert!(matches!(
        o.failover(Trigger::new("second")).await,
        Err(FailoverError::AlreadyRunning {
            running: Direction::Failover
        })
    ));
    assert!(o.abort("operator changed their mind"));
    let r = run.await.unwrap().unwrap();
    assert!(
        matches!(&r.outcome, FailoverOutcome::Aborted { reason, .. } if reason.contains("changed their mind"))
    );
    assert_eq!(o.active_site(), "primary");
}

#[tokio::test(start_paused = true)]
async fn anti_flap_and_failback_with_manual_validation() {
    let log: Log = Arc::default();
    let gate = ApprovalGate::new();
    let cfg = FailoverConfig {
        require_approval: false, // automatic failover...
        ..Default::default()
    };
    let actions = FailoverActions::new(
        logged(&log, "switch", secs(0)),
        logged(&log, "fence", secs(0)),
    )
    .approval_gate(gate.clone()); // ...but failback still waits for validation
    let o = Orchestrator::new(cfg, actions).unwrap();
    let r = o.failover(Trigger::new("t")).await.unwrap();
    assert_eq!(r.outcome, FailoverOutcome::Completed);
    assert!(r.phases.iter().all(|p| p.phase != Phase::Approve));
    assert!(matches!(
        o.failover(Trigger::new("again")).await,
        Err(FailoverError::WrongSite { .. })
    ));
    match o.failback(Trigger::new("home healthy")).await {
        Err(FailoverError::AntiFlap { retry_in }) => assert_eq!(retry_in, secs(1800 - 120)),
        other => panic!("{other:?}"),
    }
    advance(secs(1800)).await;
    approve_after(&gate, secs(30), "validator");
    let back = o.failback(Trigger::new("home healthy")).await.unwrap();
    assert_eq!(back.outcome, FailoverOutcome::Completed);
    assert_eq!(
        (back.from.as_str(), back.to.as_str()),
        ("secondary", "primary")
    );
    assert!(back
        .phases
        .iter()
        .any(|p| p.phase == Phase::Approve && p.succeeded));
    assert_eq!(o.active_site(), "primary");
    assert_eq!(
        log.lock().unwrap()[2..],
        ["switch secondary->primary", "fence secondary->primary"]
    );

    // Without any approve action, failback is refused outright.
    let o = Orchestrator::new(
        FailoverConfig {
            require_approval: false,
            anti_flap_window: Duration::ZERO,
            ..Default::default()
        },
        FailoverActions::new(
            |_| async { Ok::<(), &str>(()) },
            |_| async { Ok::<(), &str>(()) },
        ),
    )
    .unwrap();
    o.failover(Trigger::new("t")).await.unwrap();
    assert_eq!(
        o.failback(Trigger::new("t")).await.unwrap_err(),
        FailoverError::NoApprovalGate
    );
}

#[tokio::test(start_paused = true)]
async fn detect_false_positive_aborts_without_side_effects() {
    let log: Log = Arc::default();
    let cfg = FailoverConfig {
        require_approval: false,
        ..Default::default()
    };
    let actions = FailoverActions::new(
        logged(&log, "switch", secs(0)),
        logged(&log, "fence", secs(0)),
    )
    .detect(|_| async { Ok::<bool, &str>(false) })
    .prepare("promote", logged(&log, "promote", secs(0)));
    let o = Orchestrator::new(cfg, actions).unwrap();
    let r = o.failover(Trigger::new("one flaky probe")).await.unwrap();
    assert!(matches!(
        &r.outcome,
        FailoverOutcome::Aborted {
            phase: Phase::Detect,
            ..
        }
    ));
    assert!(log.lock().unwrap().is_empty());
    assert_eq!(o.last_switch(), None);
}
