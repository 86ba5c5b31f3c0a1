//! Fleet scope vs local scope: the per-call cost of a retry budget, a
//! breaker and a rate limiter, and the store operations a fleet makes per 1 000 calls (a
//! `harness = false` benchmark; with `RESILIENCE_REDIS_URL` set the fleet
//! runs on Redis, else on the in-memory store).
//!
//! ```text
//! . .test-services/env && cargo bench -p resilience-store --all-features --bench fleet
//! ```
//!
//! Per-call cost: one thread, 2 000 000 calls per case, the best of 5 runs
//! (the background tasks run on the runtime's other thread). Store
//! operations: 3 replicas, each making 10 000 calls per second for 2 s with
//! one retry per 10 calls (each retry succeeds), a breaker, a budget and a
//! rate limiter per replica. Prints the Markdown tables of BENCHMARKS.md.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
use resilience_core::rate_limit::{RateLimit, RateLimiter, RateLimiterConfig};
use resilience_core::retry::{ErrorClass, RetryBudget, TokenBucketBudget, TokenBucketConfig};
use resilience_store::fleet::{
    FleetBreaker, FleetBreakerConfig, FleetBudget, FleetBudgetConfig, FleetRateLimiter,
    FleetRateLimiterConfig, FleetStore, InMemoryFleetStore,
};

const CALLS: u32 = 2_000_000;
const RUNS: usize = 5;

fn store() -> (Arc<dyn FleetStore>, &'static str) {
    #[cfg(feature = "redis")]
    if let Ok(url) = std::env::var("RESILIENCE_REDIS_URL") {
        use resilience_store::connection::RedisConfig;
        use resilience_store::fleet::redis::RedisFleetStore;
        let config = RedisConfig::new(url).with_key_prefix("fleet-bench");
        return (Arc::new(RedisFleetStore::new(&config).unwrap()), "Redis");
    }
    (Arc::new(InMemoryFleetStore::new()), "in-memory store")
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}", nanos % 1_000_000_000_000)
}

/// ns per call of one run.
fn run(f: &mut impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..CALLS {
        f();
    }
    t.elapsed().as_nanos() as f64 / f64::from(CALLS)
}

/// ns per call of `local` and `fleet`, best of `RUNS` runs each,
/// interleaved so that the load of a shared machine falls on both alike.
fn per_call(mut local: impl FnMut(), mut fleet: impl FnMut()) -> (f64, f64) {
    (0..RUNS).fold((f64::INFINITY, f64::INFINITY), |(l, f), _| {
        (l.min(run(&mut local)), f.min(run(&mut fleet)))
    })
}

fn bucket() -> TokenBucketConfig {
    TokenBucketConfig {
        capacity: 1_000_000,
        retry_cost: 5,
        timeout_retry_cost: 10,
        success_refund: 1,
    }
}

fn budget_call(b: &dyn RetryBudget) {
    // A retry that succeeds: withdraw, then the refund of its cost.
    let w = b.try_withdraw(black_box(ErrorClass::Transient));
    b.record_success(black_box(w));
}

/// A rate that never refuses in a benchmark: a million a second with a
/// burst of four billion (the fleet's store counts microseconds, so a
/// million a second is its highest rate).
fn open_rate() -> RateLimiterConfig {
    RateLimiterConfig::per_second(1_000_000).burst(4_000_000_000)
}

fn rate_call(l: &dyn RateLimit) {
    let _ = black_box(l.try_acquire());
}

fn breaker_call(b: &CircuitBreaker) {
    if let Ok(p) = b.try_acquire() {
        p.record_success();
    }
}

fn breaker_config(name: &str) -> CircuitBreakerConfig {
    CircuitBreakerConfig::new()
        .name(name)
        .count_window(100)
        .minimum_calls(20)
        .failure_rate_threshold(0.5)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (store, engine) = store();

    let local_budget = TokenBucketBudget::new(bucket()).unwrap();
    let fleet_budget = FleetBudget::start(
        FleetBudgetConfig::new(unique("bench-budget"), bucket()).with_batch(500),
        store.clone(),
    )
    .await
    .unwrap();
    assert!(fleet_budget.is_fleet(), "the {engine} answers");
    let local_breaker = CircuitBreaker::new(breaker_config("bench-local")).unwrap();
    let fleet_breaker = CircuitBreaker::new(breaker_config(&unique("bench-breaker"))).unwrap();
    let _driver = FleetBreaker::spawn(
        fleet_breaker.clone(),
        store.clone(),
        FleetBreakerConfig::new(),
    )
    .unwrap();

    let local_rate = RateLimiter::new(open_rate()).unwrap();
    let fleet_rate = FleetRateLimiter::start(
        FleetRateLimiterConfig::new(unique("bench-rate"), open_rate()).with_batch(10_000),
        store.clone(),
    )
    .await
    .unwrap();
    assert!(fleet_rate.is_fleet(), "the {engine} answers");

    let rows = tokio::task::spawn_blocking(move || {
        [
            (
                "rate limiter (one admitted permit)",
                per_call(|| rate_call(&local_rate), || rate_call(&fleet_rate)),
            ),
            (
                "retry budget (withdraw + refund)",
                per_call(|| budget_call(&local_budget), || budget_call(&fleet_budget)),
            ),
            (
                "breaker (closed: acquire + success)",
                per_call(
                    || breaker_call(&local_breaker),
                    || breaker_call(&fleet_breaker),
                ),
            ),
        ]
    })
    .await
    .unwrap();
    println!("Per-call cost, fleet scope on the {engine} vs local scope (ns per call, best of {RUNS} interleaved runs of {CALLS} calls):\n");
    println!("| primitive | local | fleet | fleet ÷ local |");
    println!("|---|---:|---:|---:|");
    for (name, (local, fleet)) in rows {
        println!(
            "| {name} | {local:.1} | {fleet:.1} | {:.2}× |",
            fleet / local
        );
    }

    // Store operations of a fleet of 3 at 10 000 calls/s per replica.
    const REPLICAS: usize = 3;
    const RATE: u64 = 10_000;
    const SECONDS: u64 = 2;
    let name = unique("bench-fleet");
    let mut tasks = Vec::new();
    for i in 0..REPLICAS {
        let (store, name) = (store.clone(), name.clone());
        tasks.push(tokio::spawn(async move {
            let budget = FleetBudget::start(
                FleetBudgetConfig::new(name.clone(), bucket()).with_batch(50),
                store.clone(),
            )
            .await
            .unwrap();
            let limiter = FleetRateLimiter::start(
                FleetRateLimiterConfig::new(
                    name.clone(),
                    RateLimiterConfig::per_second(100_000).burst(100_000),
                )
                .with_batch(50),
                store.clone(),
            )
            .await
            .unwrap();
            let breaker = CircuitBreaker::new(breaker_config(&name)).unwrap();
            let driver = FleetBreaker::spawn(
                breaker.clone(),
                store,
                FleetBreakerConfig::new().with_replica(format!("bench-{i}")),
            )
            .unwrap();
            let (b0, d0, r0) = (budget.store_ops(), driver.store_ops(), limiter.store_ops());
            let start = Instant::now();
            let mut calls = 0u64;
            // Batches of 10 calls every millisecond.
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            while start.elapsed() < Duration::from_secs(SECONDS) {
                tick.tick().await;
                for _ in 0..RATE / 1000 {
                    rate_call(&limiter);
                    breaker_call(&breaker);
                    if calls.is_multiple_of(10) {
                        budget_call(&budget);
                    } else {
                        budget.record_success(None);
                    }
                    calls += 1;
                }
            }
            let secs = start.elapsed().as_secs_f64();
            (
                calls,
                budget.store_ops() - b0,
                driver.store_ops() - d0,
                limiter.store_ops() - r0,
                secs,
            )
        }));
    }
    let (mut calls, mut budget_ops, mut breaker_ops, mut rate_ops, mut secs) = (0, 0, 0, 0, 0.0f64);
    for t in tasks {
        let (c, b, d, r, s) = t.await.unwrap();
        calls += c;
        budget_ops += b;
        breaker_ops += d;
        rate_ops += r;
        secs = secs.max(s);
    }
    let per_1000 = |ops: u64| ops as f64 * 1000.0 / calls as f64;
    println!(
        "\nStore operations, {REPLICAS} replicas at {RATE} calls/s each for {SECONDS} s on the {engine} ({calls} calls, one retry per 10 calls):\n"
    );
    println!("| piece | operations | per 1 000 calls | per second (fleet) |");
    println!("|---|---:|---:|---:|");
    for (piece, ops) in [
        ("retry budget", budget_ops),
        ("breaker", breaker_ops),
        ("rate limiter (batches of 50)", rate_ops),
        ("all three", budget_ops + breaker_ops + rate_ops),
    ] {
        println!(
            "| {piece} | {ops} | {:.2} | {:.1} |",
            per_1000(ops),
            ops as f64 / secs
        );
    }
}
