//! The Redis Streams dead-letter store against a real Redis with AOF on
//! (`scripts/services.sh start`). Skips with a printed reason when
//! `RESILIENCE_REDIS_URL` is unset, unless `RESILIENCE_REQUIRE_SERVERS=1`.
//! Run one test at a time (scripts/test.sh does): the restart test restarts
//! the server.

mod support;

use std::sync::Arc;

use resilience_core::dead_letter::JsonCodec;
use resilience_store::connection::RedisConfig;
use resilience_store::dead_letter::redis::RedisDeadLetterStore;
use resilience_store::dead_letter::QueueConfig;
use support::*;

fn url() -> Option<String> {
    server_env("RESILIENCE_REDIS_URL")
}

fn connect(
    queue: QueueConfig,
    version: u32,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Store> + Send>> {
    Box::pin(async move {
        let url = std::env::var("RESILIENCE_REDIS_URL").expect("RESILIENCE_REDIS_URL");
        let store: RedisDeadLetterStore<Job> = RedisDeadLetterStore::connect_with(
            &RedisConfig::new(url),
            queue,
            "replayers",
            JsonCodec::versioned(version),
        )
        .await
        .expect("connect to Redis");
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
async fn a_dead_consumers_letters_are_claimed_again_after_the_lease() {
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
    eprintln!("redis crash test: {report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_loses_nothing() {
    if url().is_none() {
        return;
    }
    restart_test(connect, "redis").await;
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
