//! Dead-letter store throughput: enqueue and claim+ack per second, in
//! memory vs PostgreSQL vs Redis (a `harness = false` benchmark; the
//! servers come from `scripts/services.sh start`, environment in
//! `.test-services/env`; a backend whose server is not configured is
//! skipped).
//!
//! ```text
//! . .test-services/env && cargo bench -p resilience-store --all-features --bench dead_letter
//! ```
//!
//! Enqueue: 8 concurrent producers. Claim+ack: 4 concurrent replayers,
//! each claiming batches of 100 and acknowledging every letter one by one
//! (one round trip per ack, as a replayer does after each replayed call).
//! Prints a Markdown table (the one in BENCHMARKS.md).

use std::sync::Arc;
use std::time::{Duration, Instant};

use resilience_core::dead_letter::{
    ClaimOptions, DeadLetter, DeadLetterReason, DeadLetterStore, InMemoryDeadLetterQueue,
    NewLetter, Purge,
};
#[cfg(feature = "postgres")]
use resilience_store::connection::PostgresConfig;
#[cfg(feature = "redis")]
use resilience_store::connection::RedisConfig;
use resilience_store::dead_letter::QueueConfig;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Job {
    id: u64,
    model: String,
    prompt: String,
}

type Store = Arc<dyn DeadLetterStore<Job>>;

const PRODUCERS: usize = 8;
const REPLAYERS: usize = 4;
const BATCH: usize = 100;

fn job(id: u64) -> Job {
    Job {
        id,
        model: "sdxl".into(),
        prompt: "a lighthouse at dusk, oil on canvas, with a red boat in the harbour".into(),
    }
}

async fn enqueue_rate(store: &Store, n: usize) -> f64 {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..PRODUCERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in (p..n).step_by(PRODUCERS) {
                let letter = NewLetter::new(job(i as u64), DeadLetterReason::CircuitOpen);
                store.enqueue(letter).await.expect("enqueue");
            }
        }));
    }
    for t in tasks {
        t.await.expect("producer");
    }
    n as f64 / start.elapsed().as_secs_f64()
}

async fn claim_ack_rate(store: &Store, n: usize) -> f64 {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..REPLAYERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0usize;
            loop {
                let batch = store
                    .claim(ClaimOptions::new(BATCH, Duration::from_secs(60)))
                    .await
                    .expect("claim");
                if batch.is_empty() {
                    return done;
                }
                for letter in batch {
                    store.ack(letter.receipt()).await.expect("ack");
                    done += 1;
                }
            }
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("replayer");
    }
    assert_eq!(total, n, "every letter claimed and acknowledged once");
    n as f64 / start.elapsed().as_secs_f64()
}

async fn measure(name: &str, store: Store, n: usize, rows: &mut Vec<String>) {
    store.purge(Purge::All).await.expect("purge");
    // Warm-up: connections, prepared statements, scripts.
    enqueue_rate(&store, 200).await;
    claim_ack_rate(&store, 200).await;
    let enq = enqueue_rate(&store, n).await;
    let ack = claim_ack_rate(&store, n).await;
    let stats = store.stats().await.expect("stats");
    assert_eq!(stats.depth(), 0);
    eprintln!("{name}: enqueue {enq:.0}/s, claim+ack {ack:.0}/s ({n} letters)");
    rows.push(format!("| {name} | {n} | {enq:.0} | {ack:.0} |"));
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let quick = std::env::args().any(|a| a == "--test"); // `cargo test --benches`: a smoke run
    let scale = if quick { 20 } else { 1 };
    rt.block_on(async {
        let mut rows = Vec::new();
        let memory: Store = Arc::new(
            InMemoryDeadLetterQueue::<DeadLetter<Job>>::new("bench-memory", 1_000_000).expect("queue"),
        );
        measure("in memory", memory, 100_000 / scale, &mut rows).await;

        #[cfg(feature = "postgres")]
        match std::env::var("RESILIENCE_PG_PRIMARY") {
            Ok(url) => {
                let store = resilience_store::dead_letter::postgres::PostgresDeadLetterStore::<Job>::connect(
                    &PostgresConfig::new(url).with_connections(4),
                    QueueConfig::new("bench"),
                )
                .await
                .expect("connect to PostgreSQL");
                measure("PostgreSQL", Arc::new(store), 20_000 / scale, &mut rows).await;
            }
            Err(_) => eprintln!("PostgreSQL skipped: RESILIENCE_PG_PRIMARY is not set"),
        }

        #[cfg(feature = "redis")]
        match std::env::var("RESILIENCE_REDIS_URL") {
            Ok(url) => {
                let store = resilience_store::dead_letter::redis::RedisDeadLetterStore::<Job>::connect(
                    &RedisConfig::new(url),
                    QueueConfig::new("bench"),
                )
                .await
                .expect("connect to Redis");
                measure("Redis Streams", Arc::new(store), 20_000 / scale, &mut rows).await;
            }
            Err(_) => eprintln!("Redis skipped: RESILIENCE_REDIS_URL is not set"),
        }

        println!("| store | letters | enqueue / s | claim+ack / s |");
        println!("|---|---:|---:|---:|");
        for row in rows {
            println!("{row}");
        }
    });
}
