//! The platforms' failover runbooks through the orchestrator, under
//! `tokio::time::pause()`: the lag / RPO check before promotion, the
//! communication phase, rollback during validation, per-class recovery
//! objectives, and an empty DR database.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use resilience_dr::failover::*;
use tokio::time::sleep;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

type Log = Arc<Mutex<Vec<String>>>;

fn note(log: &Log, what: impl Into<String>) {
    log.lock().unwrap().push(what.into());
}

/// Switch, fence and a promotion that log themselves; a guard that reports
/// `lags` (one per call, the last repeated).
fn actions(log: &Log, lags: Vec<Duration>) -> FailoverActions {
    let (l1, l2, l3, l4) = (log.clone(), log.clone(), log.clone(), log.clone());
    let calls = Arc::new(Mutex::new(0usize));
    FailoverActions::new(
        move |ctx| {
            let l = l1.clone();
            async move {
                note(&l, format!("switch -> {}", ctx.to));
                Ok::<(), &str>(())
            }
        },
        move |ctx| {
            let l = l2.clone();
            async move {
                note(&l, format!("fence {}", ctx.from));
                Ok::<(), &str>(())
            }
        },
    )
    .prepare("promote_standby", move |_| {
        let l = l3.clone();
        async move {
            note(&l, "promote");
            Ok::<(), &str>(())
        }
    })
    .guard(move |_| {
        let l = l4.clone();
        let mut n = calls.lock().unwrap();
        let lag = lags[(*n).min(lags.len() - 1)];
        *n += 1;
        async move {
            note(&l, format!("guard {}s", lag.as_secs()));
            Ok::<_, &str>(ReplicationStatus::from(vec![DataLag::asynchronous(
                "registry_db",
                lag,
            )]))
        }
    })
    .approve(|_| async { Ok::<_, &str>(Approval::approved("oncall")) })
}

/// The model registry's runbook: "if lag < 5 minutes: proceed".
fn registry_config() -> FailoverConfig {
    FailoverConfig {
        objectives: vec![DataObjective::new("registry_db", secs(300))],
        ..Default::default()
    }
}

#[tokio::test(start_paused = true)]
async fn replication_lag_is_checked_before_the_standby_is_promoted() {
    let log: Log = Arc::default();
    let o = Orchestrator::new(registry_config(), actions(&log, vec![secs(30)])).unwrap();
    let r = o.failover(Trigger::new("region down")).await.unwrap();
    assert_eq!(r.outcome, FailoverOutcome::Completed);
    let log = log.lock().unwrap().clone();
    let guard = log.iter().position(|l| l.starts_with("guard")).unwrap();
    let promote = log.iter().position(|l| l == "promote").unwrap();
    assert!(
        guard < promote,
        "lag < 5 min is checked before promoting the DR database: {log:?}"
    );
    let phases: Vec<Phase> = r.phases.iter().map(|p| p.phase).collect();
    assert_eq!(&phases[..2], &[Phase::Guard, Phase::Prepare]);
}

#[tokio::test(start_paused = true)]
async fn lag_over_the_rpo_is_refused_and_nothing_is_promoted() {
    let log: Log = Arc::default();
    let o = Orchestrator::new(registry_config(), actions(&log, vec![secs(400)])).unwrap();
    let r = o.failover(Trigger::new("region down")).await.unwrap();
    assert!(
        matches!(&r.outcome, FailoverOutcome::Aborted { phase: Phase::Guard, reason } if reason.contains("over its RPO")),
        "lag 6m40s over the 5 min RPO refuses: {}",
        r.outcome
    );
    assert!(
        !log.lock().unwrap().iter().any(|l| l == "promote"),
        "nothing promoted when the lag exceeds the RPO"
    );
    assert_eq!(o.active_site(), "primary");
}

#[tokio::test(start_paused = true)]
async fn a_held_guard_waits_for_the_lag_to_come_back_under_the_rpo() {
    let log: Log = Arc::default();
    let config = FailoverConfig {
        rpo_hold: secs(120),
        rpo_recheck: secs(30),
        ..registry_config()
    };
    // 400 s, 350 s, then 200 s behind: the third measurement is under 5 min.
    let o =
        Orchestrator::new(config, actions(&log, vec![secs(400), secs(350), secs(200)])).unwrap();
    let start = tokio::time::Instant::now();
    let r = o.failover(Trigger::new("region down")).await.unwrap();
    assert_eq!(r.outcome, FailoverOutcome::Completed, "{}", r.render());
    let log = log.lock().unwrap().clone();
    let promote = log.iter().position(|l| l == "promote").unwrap();
    assert_eq!(
        &log[..promote],
        &["guard 400s", "guard 350s", "guard 200s"],
        "held (re-measured every 30 s) and promoted only once under the 5 min RPO"
    );
    assert_eq!(
        r.guard.as_ref().unwrap().findings[0].lag,
        Some(secs(200)),
        "the report keeps the measurement that let the run go on"
    );
    assert!(start.elapsed() >= secs(60), "two 30 s rechecks");

    // Still over after the 2 min hold: refused.
    let log: Log = Arc::default();
    let config = FailoverConfig {
        rpo_hold: secs(120),
        rpo_recheck: secs(30),
        ..registry_config()
    };
    let o = Orchestrator::new(config, actions(&log, vec![secs(400)])).unwrap();
    let start = tokio::time::Instant::now();
    let r = o.failover(Trigger::new("region down")).await.unwrap();
    assert!(matches!(
        r.outcome,
        FailoverOutcome::Aborted {
            phase: Phase::Guard,
            ..
        }
    ));
    assert_eq!(start.elapsed(), secs(120), "holds 2 min, then refuses");
    assert_eq!(
        log.lock().unwrap().len(),
        5,
        "5 measurements (0, 30, 60, 90, 120 s), no promotion"
    );
}

#[derive(Debug, Default)]
struct Hooks {
    sent: Mutex<Vec<(String, Notice)>>,
    users_down: bool,
}

impl Communication for Hooks {
    fn status_page(&self, n: &Notice) -> BoxFuture<'static, Result<(), String>> {
        self.sent
            .lock()
            .unwrap()
            .push(("status_page".into(), n.clone()));
        Box::pin(async { Ok(()) })
    }
    fn stakeholders(&self, n: &Notice) -> BoxFuture<'static, Result<(), String>> {
        self.sent
            .lock()
            .unwrap()
            .push(("stakeholders".into(), n.clone()));
        Box::pin(async { Ok(()) })
    }
    fn users(&self, n: &Notice) -> BoxFuture<'static, Result<(), String>> {
        self.sent.lock().unwrap().push(("users".into(), n.clone()));
        let down = self.users_down;
        Box::pin(async move {
            if down {
                Err("mailer unreachable".to_string())
            } else {
                Ok(())
            }
        })
    }
}

#[tokio::test(start_paused = true)]
async fn communication_phase_updates_status_page_stakeholders_and_users() {
    let log: Log = Arc::default();
    let hooks = Arc::new(Hooks::default());
    let o = Orchestrator::new(
        registry_config(),
        actions(&log, vec![secs(10)]).communication(hooks.clone()),
    )
    .unwrap();
    let r = o
        .failover(Trigger::new("region down").outage_began(tokio::time::Instant::now().into_std()))
        .await
        .unwrap();
    assert_eq!(r.outcome, FailoverOutcome::Completed);
    let sent = hooks.sent.lock().unwrap().clone();
    let names: Vec<&str> = sent.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["status_page", "stakeholders", "users"],
        "status page, stakeholders, users"
    );
    let notice = &sent[0].1;
    assert_eq!(notice.message, "Operating from backup region secondary");
    assert_eq!(
        notice.rto_met,
        Some(true),
        "2 min propagation is within the 15 min RTO"
    );
    let phases: Vec<Phase> = r.phases.iter().map(|p| p.phase).collect();
    let fence = phases.iter().position(|p| *p == Phase::Fence).unwrap();
    assert_eq!(
        phases[fence + 1],
        Phase::Communicate,
        "after validation and fencing"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_notification_alerts_but_does_not_undo_the_failover() {
    let log: Log = Arc::default();
    let hooks = Arc::new(Hooks {
        users_down: true,
        ..Default::default()
    });
    let mut config = registry_config();
    config.steps.communicate = Some(StepPolicy {
        attempts: 2,
        ..Default::default()
    });
    let o = Orchestrator::new(
        config,
        actions(&log, vec![secs(10)]).communication(hooks.clone()),
    )
    .unwrap();
    let r = o.failover(Trigger::new("region down")).await.unwrap();
    assert_eq!(r.outcome, FailoverOutcome::Completed);
    assert_eq!(o.active_site(), "secondary");
    assert!(r.timeline.iter().any(|e| matches!(&e.event,
        FailoverEvent::Alert { severity: Severity::Warning, message } if message.contains("users: mailer unreachable"))));
    let rec = r
        .phases
        .iter()
        .find(|p| p.phase == Phase::Communicate)
        .unwrap();
    assert!(!rec.succeeded);
}

#[tokio::test(start_paused = true)]
async fn on_call_rolls_back_minutes_after_the_switch_without_the_anti_flap_wait() {
    let log: Log = Arc::default();
    let gate = ApprovalGate::new();
    let config = FailoverConfig {
        require_approval: false,
        ..registry_config()
    };
    let o = Orchestrator::new(
        config,
        actions(&log, vec![secs(10)]).approval_gate(gate.clone()),
    )
    .unwrap();
    assert_eq!(
        o.failover(Trigger::new("region down"))
            .await
            .unwrap()
            .outcome,
        FailoverOutcome::Completed
    );
    // Validation: smoke tests fail 3 minutes later; a failback would wait
    // for the 30 min anti-flap window.
    sleep(secs(180)).await;
    assert!(matches!(
        o.failback(Trigger::new("smoke tests failed")).await,
        Err(FailoverError::AntiFlap { .. })
    ));
    let g = gate.clone();
    tokio::spawn(async move {
        while !g.is_waiting() {
            sleep(secs(1)).await;
        }
        g.approve("oncall");
    });
    let r = o
        .rollback(Trigger::new("smoke tests failed"))
        .await
        .unwrap();
    assert_eq!(r.direction, Direction::Rollback);
    assert_eq!(r.outcome, FailoverOutcome::Completed, "{}", r.render());
    assert_eq!(
        o.active_site(),
        "primary",
        "rolled back 3 min after the switch"
    );
    assert!(
        r.timeline
            .iter()
            .any(|e| matches!(&e.event, FailoverEvent::Approved { by } if by == "oncall")),
        "a rollback is approved by on-call"
    );
    assert!(log.lock().unwrap().iter().any(|l| l == "fence secondary"));
}

#[tokio::test(start_paused = true)]
async fn a_rollback_needs_approval_and_a_recent_switch() {
    let log: Log = Arc::default();
    let gate = ApprovalGate::new();
    let config = FailoverConfig {
        require_approval: false,
        ..registry_config()
    };
    let o = Orchestrator::new(
        config,
        actions(&log, vec![secs(10)]).approval_gate(gate.clone()),
    )
    .unwrap();
    assert!(matches!(
        o.rollback(Trigger::new("nothing to undo")).await,
        Err(FailoverError::WrongSite { .. })
    ));
    o.failover(Trigger::new("region down")).await.unwrap();
    // Nobody approves within 10 minutes: stays on the DR site.
    let r = o.rollback(Trigger::new("unsure")).await.unwrap();
    assert!(matches!(r.outcome, FailoverOutcome::NotApproved { .. }));
    assert_eq!(o.active_site(), "secondary");
    // 15 min after the switch the validation window is over: failback.
    sleep(secs(300)).await;
    assert!(matches!(
        o.rollback(Trigger::new("too late")).await,
        Err(FailoverError::RollbackWindowClosed {
            switched_ago: Some(_)
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn recovery_objectives_are_reported_per_data_class() {
    let config = resilience_dr::presets::synthetic_data::failover();
    let o = Orchestrator::new(
        config,
        FailoverActions::new(
            |_| async { Ok::<(), &str>(()) },
            |_| async { Ok::<(), &str>(()) },
        )
        .guard(|_| async {
            Ok::<_, &str>(ReplicationStatus::from(vec![
                DataLag::asynchronous("trained_models", secs(1200)),
                DataLag::asynchronous("metadata", secs(20)),
                DataLag::synchronous("privacy_budgets"),
                DataLag::asynchronous("audit_logs", secs(1800)),
                DataLag::asynchronous("source_datasets", secs(36_000)),
            ]))
        })
        .approve(|_| async {
            sleep(secs(240)).await; // on-call takes 4 minutes
            Ok::<_, &str>(Approval::approved("oncall"))
        }),
    )
    .unwrap();
    let began = tokio::time::Instant::now();
    sleep(secs(300)).await; // detected after 5 minutes
    let r = o
        .failover(Trigger::new("region down").outage_began(began.into_std()))
        .await
        .unwrap();
    assert_eq!(r.outcome, FailoverOutcome::Completed, "{}", r.render());
    let classes = &r.objectives.classes;
    let get = |n: &str| classes.iter().find(|c| c.data_type == n).unwrap();
    // 5 min detection + 4 min approval + 2 min propagation = 11 min.
    assert_eq!(get("metadata").recovery_time, Some(secs(660)));
    let expect = [
        ("privacy_budgets", 300, false),
        ("trained_models", 900, true),
        ("metadata", 1800, true),
        ("audit_logs", 3600, true),
        ("source_datasets", 14_400, true),
    ];
    for (class, rto, met) in expect {
        let c = get(class);
        assert_eq!(c.rto, secs(rto), "{class}: RTO {rto} s");
        assert_eq!(
            c.rto_met(),
            Some(met),
            "{class}: 11 min against its RTO of {rto} s"
        );
        assert_eq!(c.rpo_met(), Some(true), "{class}: within its RPO");
    }
    assert_eq!(
        get("privacy_budgets").rpo,
        Duration::ZERO,
        "privacy budgets: RPO 0"
    );
    assert_eq!(
        get("source_datasets").rpo,
        secs(86_400),
        "source datasets: RPO 24 h"
    );
}

#[tokio::test(start_paused = true)]
async fn an_empty_dr_database_is_a_critical_failure() {
    let config = FailoverConfig {
        require_approval: false,
        ..Default::default()
    };
    let o = Orchestrator::new(
        config,
        FailoverActions::new(
            |_| async { Ok::<(), &str>(()) },
            |_| async { Ok::<(), &str>(()) },
        )
        .reconcile(|_| async {
            Ok::<_, &str>(Reconciliation {
                counts: vec![CountCheck::new("models", 500, 0)],
                consumer_lag: None,
            })
        }),
    )
    .unwrap();
    let r = o.failover(Trigger::new("region down")).await.unwrap();
    assert!(
        matches!(&r.outcome, FailoverOutcome::Failed { phase: Phase::Reconcile, reason } if reason.contains("no models")),
        "zero models in the DR database is critical, not 'completed, not reconciled': {}",
        r.outcome
    );
    assert!(r.timeline.iter().any(|e| matches!(&e.event,
        FailoverEvent::Alert { severity: Severity::Critical, message } if message.contains("no models"))));
    // A count that is merely off (not empty) stays "completed, not reconciled".
    let o = Orchestrator::new(
        FailoverConfig {
            require_approval: false,
            ..Default::default()
        },
        FailoverActions::new(
            |_| async { Ok::<(), &str>(()) },
            |_| async { Ok::<(), &str>(()) },
        )
        .reconcile(|_| async {
            Ok::<_, &str>(Reconciliation {
                counts: vec![CountCheck::new("models", 500, 480)],
                consumer_lag: None,
            })
        }),
    )
    .unwrap();
    let r = o.failover(Trigger::new("region down")).await.unwrap();
    assert!(matches!(
        r.outcome,
        FailoverOutcome::CompletedUnreconciled { .. }
    ));
}

#[tokio::test(start_paused = true)]
async fn a_failed_verification_is_rolled_back_at_once() {
    let log: Log = Arc::default();
    let healthy = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let h = healthy.clone();
    let config = FailoverConfig {
        require_approval: false,
        ..registry_config()
    };
    let o = Orchestrator::new(
        config,
        actions(&log, vec![secs(10)]).verify(move |ctx| {
            let ok = h.load(std::sync::atomic::Ordering::SeqCst) || ctx.to == "primary";
            async move {
                if ok {
                    Ok(())
                } else {
                    Err("smoke tests fail on the DR site")
                }
            }
        }),
    )
    .unwrap();
    let r = o.failover(Trigger::new("region down")).await.unwrap();
    assert!(matches!(
        r.outcome,
        FailoverOutcome::Failed {
            phase: Phase::Verify,
            ..
        }
    ));
    assert_eq!(
        o.active_site(),
        "secondary",
        "traffic moved, the DR site is unhealthy"
    );
    let back = o
        .rollback(Trigger::new("DR unhealthy after failover"))
        .await
        .unwrap();
    assert_eq!(
        back.outcome,
        FailoverOutcome::Completed,
        "{}",
        back.render()
    );
    assert_eq!(
        o.active_site(),
        "primary",
        "rolled back right after the failed validation"
    );
}

#[tokio::test(start_paused = true)]
async fn zero_models_is_critical_even_when_the_old_count_is_unknown() {
    let config = FailoverConfig {
        require_approval: false,
        ..resilience_dr::presets::model_registry::failover()
    };
    let o = Orchestrator::new(
        config,
        FailoverActions::new(
            |_| async { Ok::<(), &str>(()) },
            |_| async { Ok::<(), &str>(()) },
        )
        .guard(|_| async {
            Ok::<_, &str>(ReplicationStatus::from(vec![DataLag::asynchronous(
                "registry_db",
                secs(30),
            )]))
        })
        .reconcile(|_| async {
            // The primary region is down: its count is unknown (0).
            Ok::<_, &str>(Reconciliation {
                counts: vec![CountCheck::new("models", 0, 0)],
                consumer_lag: None,
            })
        }),
    )
    .unwrap();
    let r = o.failover(Trigger::new("region down")).await.unwrap();
    assert!(
        matches!(&r.outcome, FailoverOutcome::Failed { phase: Phase::Reconcile, reason } if reason.contains("no models")),
        "No models in DR database is a critical error: {}",
        r.outcome
    );
}
