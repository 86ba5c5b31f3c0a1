//! A real PostgreSQL failover driven by the orchestrator's gates.
//!
//! Needs a primary and a streaming-replication standby, given as libpq
//! connection strings (key=value or URL) in `RESILIENCE_PG_PRIMARY` and
//! `RESILIENCE_PG_STANDBY` (exported by `scripts/services.sh`). Without them
//! the test prints why it skips, unless `RESILIENCE_REQUIRE_SERVERS=1`, when
//! it fails.
//!
//! What it proves, on a database of its own (other databases of the servers
//! are not fenced):
//! 1. with asynchronous replication, the RPO-0 guard refuses to fail over
//!    (the standby stays a standby);
//! 2. with synchronous replication, a rejected approval leaves everything
//!    as it was;
//! 3. an approved failover promotes the standby (`pg_promote`) while a
//!    writer keeps committing to the old primary, fences the old primary
//!    (read-only, sessions cut), and **every acknowledged write is on the new
//!    primary**; the old primary refuses writes; counts reconcile within 1 %.
//!
//! It runs on real time (real servers answer in real time; a paused tokio
//! clock would fire every timeout while waiting on the network).

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilience_dr::failover::postgres as pg;
use resilience_dr::failover::*;
use tokio_postgres::{Client, Config, NoTls};

fn require_servers() -> bool {
    std::env::var("RESILIENCE_REQUIRE_SERVERS").is_ok_and(|v| v == "1" || v == "true")
}

/// The two servers' configs, or `None` (after printing why) when absent.
fn servers() -> Option<(Config, Config)> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (get("RESILIENCE_PG_PRIMARY"), get("RESILIENCE_PG_STANDBY")) {
        (Some(p), Some(s)) => Some((
            Config::from_str(&p).expect("RESILIENCE_PG_PRIMARY is not a valid connection string"),
            Config::from_str(&s).expect("RESILIENCE_PG_STANDBY is not a valid connection string"),
        )),
        _ => {
            let why = "RESILIENCE_PG_PRIMARY / RESILIENCE_PG_STANDBY are not set \
                       (start the servers with scripts/services.sh and source .test-services/env)";
            assert!(!require_servers(), "RESILIENCE_REQUIRE_SERVERS=1 but {why}");
            eprintln!("skipping PostgreSQL failover test: {why}");
            None
        }
    }
}

async fn connect(cfg: &Config, db: Option<&str>) -> Result<Client, tokio_postgres::Error> {
    let mut cfg = cfg.clone();
    if let Some(db) = db {
        cfg.dbname(db);
    }
    cfg.connect_timeout(Duration::from_secs(10));
    let (client, conn) = cfg.connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

async fn count_orders(c: &Client) -> Result<u64, tokio_postgres::Error> {
    let n: i64 = c
        .query_one("SELECT count(*) FROM orders", &[])
        .await?
        .get(0);
    Ok(u64::try_from(n).unwrap_or(0))
}

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out after 30s waiting for {what}");
}

async fn set_sync_standbys(admin: &Client, names: &str) {
    admin
        .batch_execute(&format!(
            "ALTER SYSTEM SET synchronous_standby_names = '{names}'"
        ))
        .await
        .unwrap();
    admin
        .batch_execute("SELECT pg_reload_conf()")
        .await
        .unwrap();
}

async fn sync_state(admin: &Client) -> Vec<String> {
    admin
        .query(
            "SELECT sync_state::text FROM pg_stat_replication WHERE state = 'streaming'",
            &[],
        )
        .await
        .map(|rows| rows.iter().map(|r| r.get::<_, String>(0)).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchestrated_failover_of_a_real_primary_loses_no_acknowledged_write() {
    let Some((primary_cfg, standby_cfg)) = servers() else {
        return;
    };
    let primary_admin = Arc::new(
        connect(&primary_cfg, None)
            .await
            .expect("connect to primary"),
    );
    let standby_admin = connect(&standby_cfg, None)
        .await
        .expect("connect to standby");
    assert!(
        !pg::is_in_recovery(&primary_admin).await.unwrap(),
        "RESILIENCE_PG_PRIMARY is not a primary"
    );
    if !pg::is_in_recovery(&standby_admin).await.unwrap() {
        let why = "RESILIENCE_PG_STANDBY is not a standby (promoted by an earlier run?): restart the test servers";
        assert!(!require_servers(), "{why}");
        eprintln!("skipping PostgreSQL failover test: {why}");
        return;
    }

    // A database of our own, replicated to the standby.
    let db = format!("resilience_failover_{}", std::process::id());
    primary_admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .await
        .unwrap();
    set_sync_standbys(&primary_admin, "").await; // start asynchronous
    primary_admin
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    let primary = connect(&primary_cfg, Some(&db)).await.unwrap();
    primary
        .batch_execute(
            "CREATE TABLE orders (id bigint PRIMARY KEY, payload text NOT NULL);
             CREATE TABLE failover_probe (id bigserial PRIMARY KEY, at timestamptz DEFAULT now());",
        )
        .await
        .unwrap();
    wait_until("the test database on the standby", || async {
        match connect(&standby_cfg, Some(&db)).await {
            Ok(c) => c
                .query_one("SELECT count(*) FROM failover_probe", &[])
                .await
                .is_ok(),
            Err(_) => false,
        }
    })
    .await;
    let standby = Arc::new(connect(&standby_cfg, Some(&db)).await.unwrap());

    // A writer that keeps committing to the old primary and records every
    // acknowledged id, until its session is cut off.
    let acked = Arc::new(Mutex::new(Vec::<i64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acked, stop, cfg, db) = (acked.clone(), stop.clone(), primary_cfg.clone(), db.clone());
        tokio::spawn(async move {
            let c = connect(&cfg, Some(&db)).await.unwrap();
            let mut id = 0i64;
            while !stop.load(Ordering::Relaxed) {
                id += 1;
                match c
                    .execute("INSERT INTO orders VALUES ($1, 'order')", &[&id])
                    .await
                {
                    Ok(_) => acked.lock().unwrap().push(id),
                    Err(e) => return e.to_string(),
                }
            }
            "stopped".to_string()
        })
    };

    // The orchestrator, wired to the real servers.
    let gate = ApprovalGate::new();
    let promoted = Arc::new(AtomicBool::new(false));
    let actions = {
        let (st_prep, st_switch, st_verify, st_rec) = (
            standby.clone(),
            standby.clone(),
            standby.clone(),
            standby.clone(),
        );
        let (pr_guard, pr_fence) = (primary_admin.clone(), primary_admin.clone());
        let (p_cfg, db_fence, db_rec) = (primary_cfg.clone(), db.clone(), db.clone());
        let promoted2 = promoted.clone();
        FailoverActions::new(
            move |_ctx| {
                let (st, promoted) = (st_switch.clone(), promoted2.clone());
                async move {
                    // Idempotent: a retry after a promotion that did finish is fine.
                    if pg::is_in_recovery(&st).await? {
                        pg::promote(&st, Duration::from_secs(30)).await?;
                    }
                    promoted.store(true, Ordering::SeqCst);
                    Ok::<(), pg::PgFailoverError>(())
                }
            },
            move |_ctx| {
                let (pr, db) = (pr_fence.clone(), db_fence.clone());
                async move {
                    pg::fence_database(&pr, &db).await?; // cut off waiting commits first
                    pg::release_synchronous_standbys(&pr).await
                }
            },
        )
        .detect(|_| async { Ok::<bool, &str>(true) }) // a drill: the outage is declared
        .prepare("standby_is_replicating", move |_| {
            let st = st_prep.clone();
            async move {
                if pg::is_in_recovery(&st).await? {
                    Ok(())
                } else {
                    Err(resilience_dr::BoxError::from("standby is not in recovery"))
                }
            }
        })
        .guard(move |_| {
            let pr = pr_guard.clone();
            async move {
                let lag = pg::replication_lag(&pr, "orders", None).await?;
                Ok::<_, pg::PgFailoverError>(ReplicationStatus::from(vec![lag]))
            }
        })
        .approval_gate(gate.clone())
        .verify(move |_| {
            let st = st_verify.clone();
            async move {
                if pg::is_in_recovery(&st).await? {
                    return Err(resilience_dr::BoxError::from(
                        "new primary still in recovery",
                    ));
                }
                st.execute("INSERT INTO failover_probe DEFAULT VALUES", &[])
                    .await?;
                Ok(())
            }
        })
        .reconcile(move |_| {
            let (st, cfg, db) = (st_rec.clone(), p_cfg.clone(), db_rec.clone());
            async move {
                let old = connect(&cfg, Some(&db)).await?;
                let (before, after) = (count_orders(&old).await?, count_orders(&st).await?);
                Ok::<_, tokio_postgres::Error>(Reconciliation {
                    counts: vec![CountCheck::new("orders", before, after)],
                    consumer_lag: None,
                })
            }
        })
    };
    let mut config = FailoverConfig {
        primary: "pg-primary".into(),
        secondary: "pg-standby".into(),
        objectives: vec![DataObjective::new("orders", Duration::ZERO)],
        propagation_wait: Duration::from_millis(200),
        anti_flap_window: Duration::from_secs(3600),
        ..Default::default()
    };
    config.steps.default = StepPolicy {
        timeout: Duration::from_secs(30),
        attempts: 3,
        backoff_initial: Duration::from_millis(200),
        backoff_max: Duration::from_secs(2),
    };
    let orchestrator = Orchestrator::new(config, actions).unwrap();

    // 1. Asynchronous replication: the RPO-0 guard refuses.
    let r1 = orchestrator
        .failover(Trigger::new("drill: async"))
        .await
        .unwrap();
    assert!(
        matches!(&r1.outcome, FailoverOutcome::Aborted { phase: Phase::Guard, reason } if reason.contains("synchronous")),
        "{}",
        r1.render()
    );
    assert!(
        pg::is_in_recovery(&standby).await.unwrap(),
        "standby must not be promoted"
    );

    // 2. Synchronous replication, but the approver says no.
    set_sync_standbys(&primary_admin, "*").await;
    wait_until("synchronous replication", || async {
        sync_state(&primary_admin).await.iter().any(|s| s == "sync")
    })
    .await;
    let answer = |approve: bool| {
        let gate = gate.clone();
        tokio::spawn(async move {
            while !gate.is_waiting() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if approve {
                gate.approve("oncall");
            } else {
                gate.reject("oncall", "not during the sale");
            }
        })
    };
    answer(false);
    let r2 = orchestrator
        .failover(Trigger::new("drill: rejected"))
        .await
        .unwrap();
    assert!(
        matches!(r2.outcome, FailoverOutcome::NotApproved { .. }),
        "{}",
        r2.render()
    );
    assert!(pg::is_in_recovery(&standby).await.unwrap());
    assert!(!promoted.load(Ordering::SeqCst));

    // Let the writer commit a good number of synchronous writes first.
    wait_until("200 acknowledged writes", || async {
        acked.lock().unwrap().len() >= 200
    })
    .await;

    // 3. Approved: promote, fence, reconcile, with the writer still running.
    answer(true);
    let r3 = orchestrator
        .failover(Trigger::new("drill: approved"))
        .await
        .unwrap();
    assert_eq!(r3.outcome, FailoverOutcome::Completed, "{}", r3.render());
    assert!(
        !pg::is_in_recovery(&standby).await.unwrap(),
        "standby promoted"
    );
    assert_eq!(orchestrator.active_site(), "pg-standby");
    let loss = &r3.objectives.data_loss;
    assert_eq!(loss.len(), 1);
    assert_eq!(
        loss[0].window,
        Duration::ZERO,
        "synchronous: no data-loss window"
    );
    assert!(r3.objectives.rpo_met());
    eprintln!("{}", r3.render());

    // The fence cut the writer's session off.
    stop.store(true, Ordering::Relaxed);
    let writer_end = tokio::time::timeout(Duration::from_secs(30), writer)
        .await
        .expect("writer must end once fenced")
        .unwrap();
    eprintln!("writer ended: {writer_end}");

    // No acknowledged write is lost.
    let acked = acked.lock().unwrap().clone();
    let on_new: std::collections::HashSet<i64> = standby
        .query("SELECT id FROM orders", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let lost: Vec<i64> = acked
        .iter()
        .copied()
        .filter(|id| !on_new.contains(id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    eprintln!(
        "{} acknowledged writes, all {} present on the new primary ({} rows)",
        acked.len(),
        acked.len(),
        on_new.len()
    );

    // The old primary refuses writes; the new one takes them.
    let old = connect(&primary_cfg, Some(&db)).await.unwrap();
    let err = old
        .execute("INSERT INTO orders VALUES (-1, 'split brain')", &[])
        .await
        .expect_err("the fenced old primary must refuse writes");
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION)
    );
    standby
        .execute("INSERT INTO orders VALUES (-1, 'after failover')", &[])
        .await
        .unwrap();

    // Clean up our database on both (now independent) servers.
    drop(old);
    drop(primary);
    primary_admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .await
        .unwrap();
    let new_admin = connect(&standby_cfg, None).await.unwrap();
    new_admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .await
        .unwrap();
}

/// `fence_database` returns only once the sessions it terminated are gone:
/// `pg_terminate_backend` alone merely signals them, and a session still
/// waiting for a synchronous standby when the wait is released afterwards
/// would acknowledge its commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fencing_returns_after_the_terminated_sessions_exited() {
    let Some((primary_cfg, _)) = servers() else {
        return;
    };
    let admin = connect(&primary_cfg, None)
        .await
        .expect("connect to primary");
    if pg::is_in_recovery(&admin).await.unwrap() {
        let why = "RESILIENCE_PG_PRIMARY is in recovery: restart the test servers";
        assert!(!require_servers(), "{why}");
        eprintln!("skipping fencing test: {why}");
        return;
    }
    let db = format!("resilience_fence_{}", std::process::id());
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .await
        .unwrap();

    // Eight sessions busy in the database, each until it is terminated.
    const SESSIONS: usize = 8;
    let mut busy = Vec::new();
    for _ in 0..SESSIONS {
        let c = connect(&primary_cfg, Some(&db)).await.unwrap();
        busy.push(tokio::spawn(async move {
            c.batch_execute("SELECT pg_sleep(60)").await
        }));
    }
    let sessions = || async {
        let n: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 \
                 AND backend_type = 'client backend'",
                &[&db],
            )
            .await
            .unwrap()
            .get(0);
        n
    };
    wait_until("the busy sessions", || async {
        sessions().await == SESSIONS as i64
    })
    .await;

    let terminated = pg::fence_database(&admin, &db).await.unwrap();
    assert_eq!(terminated, SESSIONS as u64);
    assert_eq!(
        sessions().await,
        0,
        "a terminated session was still running when the fence returned"
    );
    for b in busy {
        assert!(b.await.unwrap().is_err(), "a busy session was not cut off");
    }

    // New sessions in the fenced database are read-only.
    let late = connect(&primary_cfg, Some(&db)).await.unwrap();
    assert!(late.batch_execute("CREATE TABLE t (x int)").await.is_err());
    drop(late);
    admin
        .batch_execute(&format!("DROP DATABASE {db} WITH (FORCE)"))
        .await
        .unwrap();
}
