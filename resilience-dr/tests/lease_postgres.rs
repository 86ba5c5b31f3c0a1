//! The PostgreSQL lease backend and leader election on a real PostgreSQL
//! primary (`scripts/services.sh start`). Skips with a printed reason when
//! `RESILIENCE_PG_PRIMARY` is unset, unless `RESILIENCE_REQUIRE_SERVERS=1`.
//!
//! These tests use real time: expiry is judged by the database's clock.

mod common;

#[cfg(not(feature = "postgres"))]
#[test]
fn postgres_tests_need_the_postgres_feature() {
    let why = "the PostgreSQL lease tests need `--features postgres` (scripts/test.sh uses --all-features)";
    assert!(!common::require_servers(), "{why}");
    eprintln!("SKIPPED: {why}");
}

#[cfg(feature = "postgres")]
mod postgres {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::common::*;
    use resilience_dr::lease::{
        LeaseBackend, LeaseError, PostgresLeaseBackend, PostgresLeaseConfig,
    };

    const TABLE: &str = "resilience_test_leases";

    fn primary() -> Option<String> {
        server_env("RESILIENCE_PG_PRIMARY")
    }

    fn config(conn: &str) -> PostgresLeaseConfig {
        let mut cfg = PostgresLeaseConfig::new(conn).table(TABLE);
        cfg.statement_timeout = Duration::from_millis(500);
        cfg.connect_timeout = Duration::from_millis(500);
        cfg
    }

    async fn backend(conn: &str) -> PostgresLeaseBackend {
        PostgresLeaseBackend::connect(config(conn))
            .await
            .expect("connect to the PostgreSQL primary")
    }

    async fn sql(conn: &str) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(conn, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        client
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn backend_contract_on_postgres() {
        let Some(conn) = primary() else { return };
        let b = backend(&conn).await;
        // Exact TTLs, expiring by the database's clock.
        lease_backend_contract(
            &b,
            &unique("contract"),
            Duration::from_millis(1500),
            true,
            Duration::from_secs(5),
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn racing_candidates_never_both_win() {
        let Some(conn) = primary() else { return };
        let backends: Vec<Arc<PostgresLeaseBackend>> = {
            let mut v = Vec::new();
            for _ in 0..6 {
                v.push(Arc::new(backend(&conn).await));
            }
            v
        };
        let name = unique("race");
        let mut last = None;
        for round in 0..15 {
            let tasks: Vec<_> = backends
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let (b, name) = (b.clone(), name.clone());
                    tokio::spawn(async move {
                        b.acquire(&name, &format!("c{i}"), Duration::from_millis(100))
                            .await
                    })
                })
                .collect();
            let mut winners = Vec::new();
            for t in tasks {
                match t.await.unwrap() {
                    Ok(lease) => winners.push(lease),
                    Err(LeaseError::Held { .. }) => {}
                    Err(e) => panic!("round {round}: {e}"),
                }
            }
            assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
            let token = winners[0].token;
            assert!(last.is_none_or(|l| token > l), "tokens increase");
            last = Some(token);
            tokio::time::sleep(Duration::from_millis(120)).await; // let it expire
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn crashed_leader_is_replaced_within_ttl_plus_1s_and_fenced() {
        let Some(conn) = primary() else { return };
        takeover(|| backend(&conn), Kill::Crash).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn partitioned_leader_steps_down_and_is_replaced_and_fenced() {
        let Some(conn) = primary() else { return };
        takeover(|| backend(&conn), Kill::Partition).await;
    }

    /// The usual way to fence a database: store the token with the data and
    /// make every write conditional on it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tokens_fence_writes_in_the_database_itself() {
        let Some(conn) = primary() else { return };
        let b = backend(&conn).await;
        let db = sql(&conn).await;
        let table = format!("fenced_{}", unique("t").replace('-', "_"));
        db.batch_execute(&format!(
            "CREATE TABLE {table} (id int PRIMARY KEY, value text, fence bigint NOT NULL);
             INSERT INTO {table} VALUES (1, 'initial', 0);"
        ))
        .await
        .unwrap();
        let write = |token: u64, value: &'static str| {
            let (db, table) = (&db, &table);
            async move {
                db.execute(
                    &format!(
                        "UPDATE {table} SET value = $1, fence = $2 WHERE id = 1 AND fence <= $2"
                    ),
                    &[&value, &i64::try_from(token).unwrap()],
                )
                .await
                .unwrap()
            }
        };
        let name = unique("fence");
        let old = b
            .acquire(&name, "old", Duration::from_millis(200))
            .await
            .unwrap();
        assert_eq!(write(old.token.get(), "from old").await, 1);
        tokio::time::sleep(Duration::from_millis(250)).await;
        let new = b
            .acquire(&name, "new", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(write(new.token.get(), "from new").await, 1);
        // The deposed holder wakes up and writes: refused by the database.
        assert_eq!(write(old.token.get(), "stale").await, 0);
        let row = db
            .query_one(&format!("SELECT value FROM {table} WHERE id = 1"), &[])
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), "from new");
        db.batch_execute(&format!("DROP TABLE {table}"))
            .await
            .unwrap();
        b.release(&new).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_broken_connection_is_replaced() {
        let Some(conn) = primary() else { return };
        let mut cfg = config(&conn);
        cfg.connection = format!("{conn} application_name=lease_reconnect_test");
        let b = PostgresLeaseBackend::connect(cfg).await.unwrap();
        let name = unique("reconnect");
        let lease = b.acquire(&name, "a", Duration::from_secs(5)).await.unwrap();
        let admin = sql(&conn).await;
        let killed = admin
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = 'lease_reconnect_test'",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(killed.len(), 1, "the backend's session was found");
        assert!(killed[0].get::<_, bool>(0), "and terminated");
        // The first call may notice the dead connection; the backend then
        // reconnects and the lease is still ours.
        let deadline = Instant::now() + Duration::from_secs(3);
        let renewed = loop {
            match b.renew(&lease).await {
                Ok(l) => break l,
                Err(e) if e.is_retryable() && Instant::now() < deadline => {}
                Err(e) => panic!("no reconnect: {e}"),
            }
        };
        assert_eq!(renewed.token, lease.token);
        b.release(&renewed).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unreachable_database_is_a_backend_error() {
        let Some(_) = primary() else { return };
        // A port nothing listens on (the test servers use 20000..60000).
        let cfg = config("host=127.0.0.1 port=9 user=postgres dbname=postgres");
        let err = PostgresLeaseBackend::connect(cfg).await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
    }
}
