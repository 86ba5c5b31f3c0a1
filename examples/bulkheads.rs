//! Bulkheads: one kind of traffic cannot take the capacity another needs.
//!
//! The model-registry preset's pools: `dashboard` 50 concurrent (wait at most 5 s, low
//! priority), `api` 100 (10 s, medium), `internal` 30 (3 s, high).
//!
//! 1. **Isolation.** A flood of slow dashboard requests fills the dashboard
//!    pool; the overflow waits its 5 s and is turned away with a typed
//!    `BulkheadFull`, while API and internal calls keep getting permits at
//!    once.
//! 2. **Priority under a shared cap.** Add a cap of 40 over all pools (say,
//!    40 GPU slots). When the cap is full, queued callers are admitted by
//!    priority: internal first, then api, then dashboard.
//!
//! Time is tokio's paused clock: waits are real `tokio::time` waits, the
//! example still runs instantly and prints the same thing every time.
//!
//! Run: `cargo run --example bulkheads`

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use resilience::bulkhead::{BulkheadSet, SharedCapConfig};
use tokio::time::Instant;

fn at(start: Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

/// One request: take a permit from `pool` (waiting as the pool allows),
/// hold it for `work`, report what happened.
async fn request(
    set: BulkheadSet,
    pool: &'static str,
    work: Duration,
    log: Arc<Mutex<Vec<String>>>,
    start: Instant,
) {
    let Some(bulkhead) = set.get(pool) else {
        return;
    };
    match bulkhead.acquire_owned(tokio::time::sleep).await {
        Ok(_permit) => {
            log.lock()
                .push(format!("{:>5.1}s  {pool:<9} admitted", at(start)));
            tokio::time::sleep(work).await;
        }
        Err(full) => log
            .lock()
            .push(format!("{:>5.1}s  {pool:<9} rejected: {full}", at(start))),
    }
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // ---- 1. isolation ---------------------------------------------------
    let set = BulkheadSet::new(resilience_core::presets::model_registry::bulkheads())?;
    for (name, b) in set.iter() {
        println!(
            "pool {name:<9} max {:>3} concurrent, waits up to {:?}, priority {}",
            b.max_concurrent(),
            b.max_wait(),
            b.priority()
        );
    }
    println!("\n1. 80 slow dashboard requests (20 s each) arrive at once; api and internal calls follow at 1 s\n");
    let start = Instant::now();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for _ in 0..80 {
        tasks.push(tokio::spawn(request(
            set.clone(),
            "dashboard",
            Duration::from_secs(20),
            log.clone(),
            start,
        )));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for pool in ["api", "internal", "api"] {
        tasks.push(tokio::spawn(request(
            set.clone(),
            pool,
            Duration::from_millis(500),
            log.clone(),
            start,
        )));
    }
    for t in tasks {
        t.await?;
    }
    let lines = log.lock().clone();
    let count = |needle: &str| lines.iter().filter(|l| l.contains(needle)).count();
    for l in lines.iter().filter(|l| !l.contains("dashboard")) {
        println!("{l}");
    }
    if let Some(first) = lines
        .iter()
        .find(|l| l.contains("dashboard") && l.contains("rejected"))
    {
        println!("{first}");
    }
    println!(
        "\n   dashboard: {} admitted, {} rejected after waiting 5 s; api and internal: {} admitted at once",
        count("dashboard admitted"),
        count("dashboard rejected"),
        count("api") + count("internal"),
    );

    // ---- 2. priority under a shared cap ----------------------------------
    let mut config = resilience_core::presets::model_registry::bulkheads();
    config.shared_cap = Some(SharedCapConfig::new(40));
    let set = BulkheadSet::new(config)?;
    println!("\n2. the same pools under a shared cap of 40: 40 dashboard calls hold it for 2 s;\n   meanwhile 4 dashboard, 4 api and 4 internal calls queue, in that order\n");
    let start = Instant::now();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for _ in 0..40 {
        tasks.push(tokio::spawn(request(
            set.clone(),
            "dashboard",
            Duration::from_secs(2),
            Arc::new(Mutex::new(Vec::new())),
            start,
        )));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    for pool in ["dashboard", "api", "internal"] {
        for _ in 0..4 {
            tasks.push(tokio::spawn(request(
                set.clone(),
                pool,
                Duration::from_secs(1),
                log.clone(),
                start,
            )));
            tokio::task::yield_now().await;
        }
    }
    for t in tasks {
        t.await?;
    }
    let order: Vec<String> = log
        .lock()
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
        .collect();
    for l in log.lock().iter() {
        println!("{l}");
    }
    println!(
        "\n   admission order once the cap freed up: {}",
        order.join(", ")
    );
    println!(
        "\nWhy: without pools, the dashboard flood would have taken every slot and the API and\n\
         internal calls would have queued behind it. Each pool bounds its own traffic and its\n\
         own wait, so a caller that cannot be served soon hears so (a typed BulkheadFull with\n\
         the limit and the reason) instead of hanging. Under a shared cap, priority decides who\n\
         gets the next free slot, and low priority is the first to be shed."
    );
    Ok(())
}
