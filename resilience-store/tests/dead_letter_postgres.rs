//! The PostgreSQL dead-letter store against a real PostgreSQL primary
//! (`scripts/services.sh start`). Skips with a printed reason when
//! `RESILIENCE_PG_PRIMARY` is unset, unless `RESILIENCE_REQUIRE_SERVERS=1`.
//! Run one test at a time (scripts/test.sh does): the restart test restarts
//! the server.

mod support;

use std::sync::Arc;

use resilience_core::dead_letter::JsonCodec;
use resilience_store::connection::PostgresConfig;
use resilience_store::dead_letter::postgres::PostgresDeadLetterStore;
use resilience_store::dead_letter::QueueConfig;
use support::*;

fn url() -> Option<String> {
    server_env("RESILIENCE_PG_PRIMARY")
}

fn connect(
    queue: QueueConfig,
    version: u32,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Store> + Send>> {
    Box::pin(async move {
        let url = std::env::var("RESILIENCE_PG_PRIMARY").expect("RESILIENCE_PG_PRIMARY");
        let store: PostgresDeadLetterStore<Job> = PostgresDeadLetterStore::connect_with_codec(
            &PostgresConfig::new(url),
            queue,
            JsonCodec::versioned(version),
        )
        .await
        .expect("connect to PostgreSQL");
        Arc::new(store) as Store
    })
}

#[tokio::test]
async fn claims_acks_retries_and_untried_releases() {
    if url().is_none() {
        return;
    }
    contract_basics(connect).await;
}

#[tokio::test]
async fn a_dead_replayers_letters_are_claimed_again_after_the_lease() {
    if url().is_none() {
        return;
    }
    contract_lease_expiry(connect).await;
}

#[tokio::test]
async fn poison_letters_are_parked_and_purged() {
    if url().is_none() {
        return;
    }
    contract_poison(connect).await;
}

#[tokio::test]
async fn limits_refuse_with_the_letter_and_undecodable_letters_are_parked() {
    if url().is_none() {
        return;
    }
    contract_limits_and_codec(connect).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayers_killed_mid_batch_lose_nothing() {
    if url().is_none() {
        return;
    }
    let report = crash_test(connect, "crash_replayer_child", 16).await;
    eprintln!("postgres crash test: {report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_loses_nothing() {
    if url().is_none() {
        return;
    }
    restart_test(connect, "pg-primary").await;
}

#[test]
fn metrics_report_counts_depth_and_oldest_age() {
    if url().is_none() {
        return;
    }
    metrics_contract(connect);
}

/// The replayer process of the crash test (spawned by it; does nothing
/// when run on its own).
#[tokio::test]
#[ignore = "the crash test's replayer child process; run by replayers_killed_mid_batch_lose_nothing"]
async fn crash_replayer_child() {
    crash_child(connect).await;
}

/// Letters with the same ordering key are delivered one at a time, in
/// enqueue order, across replayers.
#[tokio::test]
async fn letters_with_one_ordering_key_are_delivered_in_order() {
    use resilience_core::dead_letter::{ClaimOptions, DeadLetterReason, NewLetter, Release};
    use std::time::Duration;
    if url().is_none() {
        return;
    }
    let queue = QueueConfig::new(unique("ordering"));
    let a = connect(queue.clone(), 1).await;
    let b = connect(queue, 1).await;
    for (n, key) in [
        (1, "customer-a"),
        (2, "customer-a"),
        (3, "customer-b"),
        (4, "customer-a"),
    ] {
        a.enqueue(NewLetter::new(job(n), DeadLetterReason::CircuitOpen).with_ordering_key(key))
            .await
            .unwrap();
    }
    let opts = ClaimOptions::new(10, Duration::from_secs(30));
    let first = a.claim(opts).await.unwrap();
    assert_eq!(first.iter().map(|l| l.item.n).collect::<Vec<_>>(), [1, 3]);
    assert_eq!(first[0].ordering_key.as_deref(), Some("customer-a"));
    assert!(
        b.claim(opts).await.unwrap().is_empty(),
        "2 waits for 1, 4 for 2"
    );
    // 1 fails and waits for its retry: 2 still waits.
    let retry = Release::Retry {
        after: Duration::from_millis(200),
        error: "503".into(),
    };
    a.release(first[0].receipt(), retry).await.unwrap();
    assert!(b.claim(opts).await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = b.claim(opts).await.unwrap();
    assert_eq!(again.iter().map(|l| l.item.n).collect::<Vec<_>>(), [1]);
    b.ack(again[0].receipt()).await.unwrap();
    let next = a.claim(opts).await.unwrap();
    assert_eq!(next.iter().map(|l| l.item.n).collect::<Vec<_>>(), [2]);
    // A parked letter no longer holds its key back.
    a.release(
        next[0].receipt(),
        Release::Park {
            error: "bad".into(),
        },
    )
    .await
    .unwrap();
    let last = b.claim(opts).await.unwrap();
    assert_eq!(last.iter().map(|l| l.item.n).collect::<Vec<_>>(), [4]);
}
