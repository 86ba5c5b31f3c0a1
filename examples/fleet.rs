//! # A fleet of replicas during an outage: local scope vs fleet scope
//!
//! N replicas of one service (tasks in this process, each with its own
//! store client) call a dependency that goes down for two seconds. Each
//! replica retries through a retry budget and calls through a breaker. Run
//! once with local scope (every replica has its own budget and breaker, as
//! without a fleet) and once with fleet scope (one budget and quorum-driven
//! breakers through Redis, or the in-memory store without `--fleet`), and
//! print the retry load the dependency saw, side by side.
//!
//! ```text
//! cargo run --example fleet                                   # 5 replicas, in-memory store
//! cargo run --example fleet --features store-redis -- --replicas 5 --fleet redis://127.0.0.1:6379/
//! ```
//!
//! Two of the replicas see the outage first (a bad zone); the others see
//! it 1 s later. With fleet scope the others' breakers follow the quorum
//! before their own windows fill with failures.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Arg, Command};
use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
use resilience_core::retry::{ErrorClass, RetryBudget, TokenBucketBudget, TokenBucketConfig};
use resilience_store::fleet::{
    FleetBreaker, FleetBreakerConfig, FleetBudget, FleetBudgetConfig, FleetStore,
    InMemoryFleetStore,
};
#[cfg(feature = "store-redis")]
use resilience_store::{connection::RedisConfig, fleet::redis::RedisFleetStore};

const CALLS_PER_SECOND: u64 = 200;
const RUN: Duration = Duration::from_secs(3);
const OUTAGE: (Duration, Duration) = (Duration::from_millis(500), Duration::from_millis(2500));
const LATE: Duration = Duration::from_millis(1000);

fn bucket() -> TokenBucketConfig {
    // 100 retries' worth of tokens, sized for the whole service.
    TokenBucketConfig {
        capacity: 500,
        retry_cost: 5,
        timeout_retry_cost: 10,
        success_refund: 1,
    }
}

fn breaker_config(name: &str) -> CircuitBreakerConfig {
    CircuitBreakerConfig::new()
        .name(name)
        .count_window(200)
        .minimum_calls(200)
        .failure_rate_threshold(0.5)
        .open_duration(Duration::from_secs(10))
}

#[derive(Debug, Default)]
struct Load {
    calls: AtomicU64,
    retries: AtomicU64,
    refused_by_breaker: AtomicU64,
}

struct Replica {
    budget: Arc<dyn RetryBudget>,
    breaker: CircuitBreaker,
}

/// Runs the fleet for `RUN`; returns the load the dependency saw and
/// when each replica's breaker first refused a call (since the start).
async fn run(replicas: Vec<Replica>) -> (Load, Vec<Option<Duration>>) {
    let load = Arc::new(Load::default());
    let start = Instant::now();
    let opened = Arc::new(parking_lot::Mutex::new(vec![None; replicas.len()]));
    let mut tasks = Vec::new();
    for (i, r) in replicas.into_iter().enumerate() {
        let (load, opened) = (load.clone(), opened.clone());
        tasks.push(tokio::spawn(async move {
            let late = if i < 2 { Duration::ZERO } else { LATE };
            let down = move |t: Duration| t >= OUTAGE.0 + late && t < OUTAGE.1;
            let mut tick =
                tokio::time::interval(Duration::from_micros(1_000_000 / CALLS_PER_SECOND));
            while start.elapsed() < RUN {
                tick.tick().await;
                let t = start.elapsed();
                r.budget.record_request();
                // The first attempt, then up to 2 retries the budget pays for.
                let mut last = None;
                for attempt in 0..3 {
                    if attempt > 0 {
                        match r.budget.try_withdraw(ErrorClass::Transient) {
                            Some(w) => last = Some(w),
                            None => break,
                        }
                        load.retries.fetch_add(1, Ordering::Relaxed);
                    }
                    let Ok(permit) = r.breaker.try_acquire() else {
                        load.refused_by_breaker.fetch_add(1, Ordering::Relaxed);
                        opened.lock()[i].get_or_insert(t);
                        break;
                    };
                    load.calls.fetch_add(1, Ordering::Relaxed);
                    if down(t) {
                        permit.record_failure();
                    } else {
                        permit.record_success();
                        r.budget.record_success(last);
                        break;
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("a replica panicked");
    }
    let load = Arc::try_unwrap(load).unwrap_or_default();
    let opened = opened.lock().clone();
    (load, opened)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Command::new("fleet")
        .about("A fleet of replicas during an outage: local scope vs fleet scope")
        .arg(
            Arg::new("replicas")
                .long("replicas")
                .default_value("5")
                .help("replicas in the fleet (2 to 50)"),
        )
        .arg(
            Arg::new("fleet")
                .long("fleet")
                .help("redis://host:port/ of the fleet store (default: in memory)"),
        )
        .get_matches();
    let n: usize = args
        .get_one::<String>("replicas")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(5);
    if !(2..=50).contains(&n) {
        return Err(format!("--replicas must be between 2 and 50, got {n}").into());
    }
    let url = args.get_one::<String>("fleet").cloned();
    let run_id = std::process::id();

    // Local scope: a budget and a breaker per replica.
    let local = (0..n)
        .map(|_| Replica {
            budget: Arc::new(TokenBucketBudget::new(bucket()).expect("valid bucket")),
            breaker: CircuitBreaker::new(breaker_config("dependency")).expect("valid breaker"),
        })
        .collect();
    let (local_load, local_open) = run(local).await;

    // Fleet scope: one budget and quorum-driven breakers through the store.
    let mut fleet = Vec::new();
    // The drivers run while their handles live: keep them to the end.
    let mut drivers = Vec::new();
    let engine = if url.is_some() {
        "Redis"
    } else {
        "in-memory store"
    };
    let memory: Arc<dyn FleetStore> = Arc::new(InMemoryFleetStore::new());
    for i in 0..n {
        let store: Arc<dyn FleetStore> = match &url {
            Some(url) => redis_store(url)?,
            None => memory.clone(),
        };
        let name = format!("dependency-{run_id}");
        let budget = FleetBudget::start(
            FleetBudgetConfig::new(name.clone(), bucket()).with_batch(25),
            store.clone(),
        )
        .await?;
        if !budget.is_fleet() {
            eprintln!("warning: the fleet store does not answer: replica {i} runs on local state");
        }
        let breaker = CircuitBreaker::new(breaker_config(&name))?;
        let driver = FleetBreaker::spawn(
            breaker.clone(),
            store,
            FleetBreakerConfig::new().with_replica(format!("replica-{i}")),
        )?;
        drivers.push(driver);
        fleet.push(Replica {
            budget: Arc::new(budget),
            breaker,
        });
    }
    // Let every replica report once before the outage.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (fleet_load, fleet_open) = run(fleet).await;
    drop(drivers);

    println!(
        "{n} replicas, {CALLS_PER_SECOND} requests/s each, dependency down from {:?} to {:?} \
         (for {} of them from {:?}); each request may retry twice\n",
        OUTAGE.0,
        OUTAGE.1,
        n.saturating_sub(2),
        OUTAGE.0 + LATE
    );
    println!("| scope | calls reaching the dependency | retries | refused by a breaker | breakers opened | last breaker opened at |");
    println!("|---|---:|---:|---:|---:|---:|");
    let fleet_scope = format!("fleet ({engine})");
    for (scope, load, opened) in [
        ("local", &local_load, &local_open),
        (fleet_scope.as_str(), &fleet_load, &fleet_open),
    ] {
        let last = opened.iter().flatten().max();
        println!(
            "| {scope} | {} | {} | {} | {} of {n} | {} |",
            load.calls.load(Ordering::Relaxed),
            load.retries.load(Ordering::Relaxed),
            load.refused_by_breaker.load(Ordering::Relaxed),
            opened.iter().flatten().count(),
            last.map_or("-".to_string(), |d| format!("{d:?}")),
        );
    }
    println!(
        "\nThe retry budget ({} retries' worth of tokens) was sized for the whole service: with local \
         scope every replica spends one. With fleet scope the replicas that see the outage late follow \
         the quorum instead of filling their own windows with failures.",
        bucket().capacity / bucket().retry_cost
    );
    Ok(())
}

/// The Redis fleet store at `url` (the feature `store-redis`).
#[cfg(feature = "store-redis")]
fn redis_store(url: &str) -> Result<Arc<dyn FleetStore>, Box<dyn std::error::Error>> {
    Ok(Arc::new(RedisFleetStore::new(
        &RedisConfig::new(url.to_string()).with_key_prefix("fleet-example"),
    )?))
}

/// Without the feature `store-redis` this build has no Redis client.
#[cfg(not(feature = "store-redis"))]
fn redis_store(url: &str) -> Result<Arc<dyn FleetStore>, Box<dyn std::error::Error>> {
    Err(format!("{url}: this build has no Redis client; run with `--features store-redis`").into())
}
