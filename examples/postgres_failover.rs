//! Fail a real PostgreSQL primary over to its streaming standby, through the
//! orchestrator's gates, while a client keeps writing.
//!
//! ```text
//! scripts/services.sh start && . .test-services/env
//! cargo run --example postgres_failover --features dr-postgres
//! ```
//!
//! It needs `RESILIENCE_PG_PRIMARY` and `RESILIENCE_PG_STANDBY` (libpq
//! connection strings, key=value or URL) for a primary and its standby. The
//! run is destructive for the pair: the standby is promoted and the demo
//! database on the old primary is left read-only (restart the test servers
//! to run it again). Everything happens in a database of its own,
//! `resilience_failover_demo`.
//!
//! Phases, as the host wires them:
//! - Guard (before anything else moves): the `orders` data type has RPO 0,
//!   so replication must be synchronous (read from `pg_stat_replication`).
//! - Prepare: check the standby is still replicating.
//! - Approve: an [`ApprovalGate`]; here a task plays the on-call engineer.
//! - Switch: `pg_promote()` on the standby.
//! - Verify: the new primary is out of recovery and takes a write.
//! - Fence: the demo database on the old primary becomes read-only and its
//!   sessions are cut; then the old primary stops waiting for its lost
//!   synchronous standby.
//! - Reconcile: row counts on both sides within 1 %.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilience::dr::failover::postgres as pg;
use resilience::dr::failover::*;
use resilience::dr::BoxError;
use tokio_postgres::{Client, Config, NoTls};

const DB: &str = "resilience_failover_demo";

async fn connect(cfg: &Config, db: Option<&str>) -> Result<Client, BoxError> {
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

async fn count(c: &Client) -> Result<u64, tokio_postgres::Error> {
    let n: i64 = c
        .query_one("SELECT count(*) FROM orders", &[])
        .await?
        .get(0);
    Ok(u64::try_from(n).unwrap_or(0))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let (Ok(p), Ok(s)) = (
        std::env::var("RESILIENCE_PG_PRIMARY"),
        std::env::var("RESILIENCE_PG_STANDBY"),
    ) else {
        println!(
            "set RESILIENCE_PG_PRIMARY and RESILIENCE_PG_STANDBY to a primary and its \
             streaming standby (scripts/services.sh start && . .test-services/env)"
        );
        return Ok(());
    };
    let (primary_cfg, standby_cfg) = (Config::from_str(&p)?, Config::from_str(&s)?);
    let primary_admin = Arc::new(connect(&primary_cfg, None).await?);
    let standby_admin = connect(&standby_cfg, None).await?;
    if pg::is_in_recovery(&primary_admin).await? || !pg::is_in_recovery(&standby_admin).await? {
        return Err(
            "need a primary and a standby (was the standby already promoted? restart the servers)"
                .into(),
        );
    }

    println!("setting up `{DB}` with synchronous replication");
    primary_admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {DB} WITH (FORCE)"))
        .await?;
    primary_admin
        .batch_execute(&format!("CREATE DATABASE {DB}"))
        .await?;
    connect(&primary_cfg, Some(DB))
        .await?
        .batch_execute("CREATE TABLE orders (id bigint PRIMARY KEY, at timestamptz DEFAULT now())")
        .await?;
    primary_admin
        .batch_execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
        .await?;
    primary_admin
        .batch_execute("SELECT pg_reload_conf()")
        .await?;
    let standby = loop {
        // wait for the database to replicate and the standby to turn synchronous
        tokio::time::sleep(Duration::from_millis(200)).await;
        let Ok(c) = connect(&standby_cfg, Some(DB)).await else {
            continue;
        };
        if c.query("SELECT 1 FROM orders LIMIT 1", &[]).await.is_err() {
            continue; // not replicated yet
        }
        if pg::replication_lag(&primary_admin, "orders", None)
            .await?
            .synchronous
        {
            break Arc::new(c);
        }
    };

    // A client writing orders to the primary, recording acknowledged ids.
    let acked = Arc::new(Mutex::new(Vec::<i64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acked, stop, cfg) = (acked.clone(), stop.clone(), primary_cfg.clone());
        tokio::spawn(async move {
            let Ok(c) = connect(&cfg, Some(DB)).await else {
                return;
            };
            for id in 1i64.. {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                match c
                    .execute("INSERT INTO orders (id) VALUES ($1)", &[&id])
                    .await
                {
                    Ok(_) => acked.lock().unwrap_or_else(|p| p.into_inner()).push(id),
                    Err(e) => {
                        println!("writer: cut off by the fence ({e})");
                        return;
                    }
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;

    let gate = ApprovalGate::new();
    let actions = {
        let (st1, st2, st3, st4) = (
            standby.clone(),
            standby.clone(),
            standby.clone(),
            standby.clone(),
        );
        let (pr1, pr2) = (primary_admin.clone(), primary_admin.clone());
        let pcfg = primary_cfg.clone();
        FailoverActions::new(
            move |ctx| {
                let st = st1.clone();
                async move {
                    println!("switch: promoting {} (pg_promote)", ctx.to);
                    if pg::is_in_recovery(&st).await? {
                        pg::promote(&st, Duration::from_secs(30)).await?;
                    }
                    Ok::<(), pg::PgFailoverError>(())
                }
            },
            move |ctx| {
                let pr = pr1.clone();
                async move {
                    println!("fence: {} becomes read-only for `{DB}`", ctx.from);
                    pg::fence_database(&pr, DB).await?;
                    pg::release_synchronous_standbys(&pr).await
                }
            },
        )
        .prepare("standby_is_replicating", move |_| {
            let st = st2.clone();
            async move {
                match pg::is_in_recovery(&st).await? {
                    true => Ok(()),
                    false => Err(BoxError::from("standby is not in recovery")),
                }
            }
        })
        .guard(move |_| {
            let pr = pr2.clone();
            async move {
                let lag = pg::replication_lag(&pr, "orders", None).await?;
                println!(
                    "guard: orders replicate {}",
                    if lag.synchronous {
                        "synchronously"
                    } else {
                        "asynchronously"
                    }
                );
                Ok::<_, pg::PgFailoverError>(ReplicationStatus::from(vec![lag]))
            }
        })
        .approval_gate(gate.clone())
        .verify(move |_| {
            let st = st3.clone();
            async move {
                if pg::is_in_recovery(&st).await? {
                    return Err(BoxError::from("new primary still in recovery"));
                }
                st.execute("INSERT INTO orders (id) VALUES (-1)", &[])
                    .await?;
                Ok(())
            }
        })
        .reconcile(move |_| {
            let (st, cfg) = (st4.clone(), pcfg.clone());
            async move {
                let old = connect(&cfg, Some(DB)).await?;
                let (before, after) = (count(&old).await?, count(&st).await?);
                Ok::<_, BoxError>(Reconciliation {
                    counts: vec![CountCheck::new("orders", before, after)],
                    consumer_lag: None,
                })
            }
        })
    };
    let config = FailoverConfig {
        primary: "pg-primary".into(),
        secondary: "pg-standby".into(),
        objectives: vec![DataObjective::new("orders", Duration::ZERO)],
        propagation_wait: Duration::from_millis(500),
        ..Default::default()
    };
    let orchestrator = Orchestrator::new(config, actions)?;
    orchestrator.listeners().add_fn(|e: &FailoverEvent| {
        if let FailoverEvent::AwaitingApproval { timeout } = e {
            println!("approve: waiting for the on-call engineer (up to {timeout:?})");
        }
    });
    tokio::spawn(async move {
        while !gate.is_waiting() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        println!("approve: on-call approves");
        gate.approve("oncall");
    });

    let report = orchestrator
        .failover(Trigger::new("primary declared down (demo)"))
        .await?;
    stop.store(true, Ordering::Relaxed);
    let _ = writer.await;
    println!("\n--- timeline ---\n{}", report.render());

    let acked = acked.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let present: std::collections::HashSet<i64> = standby
        .query("SELECT id FROM orders", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let lost = acked.iter().filter(|id| !present.contains(id)).count();
    println!(
        "outcome: {}; {} acknowledged writes, {} missing on the new primary",
        report.outcome,
        acked.len(),
        lost
    );
    if lost > 0 || report.outcome != FailoverOutcome::Completed {
        return Err("failover did not complete cleanly".into());
    }
    Ok(())
}
