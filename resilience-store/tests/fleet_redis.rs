//! Fleet state on a real Redis (`scripts/services.sh start`): three
//! replicas, each a task with its own client, share a retry budget and a
//! breaker. Skips with a printed reason when `RESILIENCE_REDIS_URL` is
//! unset, unless `RESILIENCE_REQUIRE_SERVERS=1`. Run one test at a time
//! (scripts/test.sh does): the outage test kills Redis and starts it again.
//!
//! These tests measure wall-clock bounds the fleet promises (a replica
//! follows a quorum within 1 s; no call waits for Redis), so they poll
//! real time against deadlines instead of a manual clock.

mod support;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitState};
use resilience_core::retry::{ErrorClass, RetryBudget, TokenBucketConfig};
use resilience_store::connection::RedisConfig;
use resilience_store::fleet::redis::RedisFleetStore;
use resilience_store::fleet::{
    FleetBreaker, FleetBreakerConfig, FleetBudget, FleetBudgetConfig, FleetRole, FleetStore,
};
use support::{server_env, unique};

fn url() -> Option<String> {
    server_env("RESILIENCE_REDIS_URL")
}

/// A separate client per replica, as separate processes would have.
fn store(url: &str) -> Arc<dyn FleetStore> {
    Arc::new(RedisFleetStore::new(&RedisConfig::new(url).with_key_prefix("fleet-test")).unwrap())
}

/// `scripts/services.sh down|up redis`; false (with a printed reason) when
/// the services script is unknown.
fn redis(action: &str) -> bool {
    let Some(script) = server_env("RESILIENCE_SERVICES_SCRIPT") else {
        return false;
    };
    let status = Command::new("bash")
        .arg(script)
        .args([action, "redis"])
        .status()
        .expect("run services.sh");
    assert!(status.success(), "services.sh {action} redis failed");
    true
}

async fn until(deadline: Duration, what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < deadline,
            "{what}: not within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_retry_within_one_fleet_budget() {
    let Some(url) = url() else { return };
    // 300 tokens at 5 a retry: 60 retries for the whole fleet (3 local
    // budgets of the same size would allow 180).
    let bucket = TokenBucketConfig {
        capacity: 300,
        retry_cost: 5,
        timeout_retry_cost: 10,
        success_refund: 1,
    };
    let config = FleetBudgetConfig::new(unique("budget"), bucket).with_batch(20);
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let config = config.clone();
        let store = store(&url);
        replicas.push(tokio::spawn(async move {
            let budget = FleetBudget::start(config, store).await.unwrap();
            assert!(budget.is_fleet(), "Redis answers");
            // Every call fails and asks for a retry, until the budget has
            // refused retries for half a second (refills had their chance).
            let mut retries = 0u32;
            let mut last_granted = Instant::now();
            while last_granted.elapsed() < Duration::from_millis(500) {
                if budget.try_withdraw(ErrorClass::Transient).is_some() {
                    retries += 1;
                    last_granted = Instant::now();
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            (retries, budget.store_ops())
        }));
    }
    let mut total = 0;
    let mut ops = 0;
    for r in replicas {
        let (retries, o) = r.await.unwrap();
        assert!(retries > 0, "every replica retried some");
        total += retries;
        ops += o;
    }
    let batch_retries = 20 / 5;
    assert!(
        (60 - batch_retries..=60).contains(&total),
        "the fleet's retries stay within its budget of 60 (±1 batch of {batch_retries}), got {total}"
    );
    eprintln!("fleet budget: {total} retries for a budget of 60 across 3 replicas, {ops} Redis operations");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_retry_within_one_fleet_ratio() {
    let Some(url) = url() else { return };
    // 10 % of the fleet's 300 calls, no reserve: 30 retries for the fleet.
    let rule = resilience_core::retry::RatioBudgetConfig {
        ttl: std::time::Duration::from_secs(60),
        min_retries_per_sec: 0,
        percent_can_retry: 0.1,
    };
    let config = FleetBudgetConfig::ratio(unique("ratio"), rule)
        .with_batch(4)
        .with_sync_interval(Duration::from_millis(50));
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let config = config.clone();
        let store = store(&url);
        replicas.push(tokio::spawn(async move {
            let budget = FleetBudget::start(config, store).await.unwrap();
            for _ in 0..100 {
                budget.record_request();
            }
            let mut retries = 0u32;
            let mut last_granted = Instant::now();
            while last_granted.elapsed() < Duration::from_millis(500) {
                if budget.try_withdraw(ErrorClass::Transient).is_some() {
                    retries += 1;
                    last_granted = Instant::now();
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            retries
        }));
    }
    let mut total = 0;
    for r in replicas {
        total += r.await.unwrap();
    }
    assert!(
        (30 - 4..=30).contains(&total),
        "the fleet's retries stay within 10 % of its 300 calls = 30 (±1 batch of 4), got {total}"
    );
}

#[tokio::test]
async fn a_budget_with_fleet_scope_builds_from_the_local_budgets_yaml() {
    let Some(url) = url() else { return };
    let key = unique("yaml");
    let yaml = format!(
        "kind: token_bucket\ncapacity: 40\nretry_cost: 5\nscope: fleet\nfleet:\n  url: {url}\n  key: {key}\n  key_prefix: fleet-test\n  batch: 20\n"
    );
    let config: resilience_store::fleet::ScopedBudgetConfig =
        resilience_core::config::from_yaml_str(&yaml).unwrap();
    let a = config
        .build(resilience_core::clock::SystemClock)
        .await
        .unwrap();
    let b = config
        .build(resilience_core::clock::SystemClock)
        .await
        .unwrap();
    // Two budgets built from one YAML share the 40 tokens: 8 retries.
    let mut retries = 0;
    for _ in 0..20 {
        for budget in [&a, &b] {
            while budget.try_withdraw(ErrorClass::Transient).is_some() {
                retries += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(retries, 8, "40 tokens at 5 a retry, shared");
}

fn breaker_config(name: &str) -> CircuitBreakerConfig {
    CircuitBreakerConfig::new()
        .name(name)
        .consecutive_failures(5)
        .open_duration(Duration::from_secs(30))
}

struct Replica {
    breaker: CircuitBreaker,
    fleet: FleetBreaker,
}

fn replicas(url: &str, n: usize) -> Vec<Replica> {
    let name = unique("breaker");
    (0..n)
        .map(|i| {
            let breaker = CircuitBreaker::new(breaker_config(&name)).unwrap();
            let fleet = FleetBreaker::spawn(
                breaker.clone(),
                store(url),
                FleetBreakerConfig::new().with_replica(format!("r{i}")),
            )
            .unwrap();
            Replica { breaker, fleet }
        })
        .collect()
}

fn fail(breaker: &CircuitBreaker, n: usize) {
    for _ in 0..n {
        if let Ok(p) = breaker.try_acquire() {
            p.record_failure();
        }
    }
}

fn succeed(breaker: &CircuitBreaker, n: usize) {
    for _ in 0..n {
        if let Ok(p) = breaker.try_acquire() {
            p.record_success();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_quorum_opens_the_other_replicas_open_within_a_second() {
    let Some(url) = url() else { return };
    let fleet = replicas(&url, 3);
    until(Duration::from_secs(3), "every replica reports", || {
        fleet.iter().all(|r| r.fleet.status().live == 3)
    })
    .await;
    fail(&fleet[0].breaker, 5);
    fail(&fleet[1].breaker, 5);
    assert_eq!(fleet[1].breaker.state(), CircuitState::Open);
    let elapsed = until(
        Duration::from_secs(1),
        "the third replica follows the quorum",
        || fleet[2].breaker.state() == CircuitState::ForcedOpen,
    )
    .await;
    assert!(
        fleet[2].breaker.try_acquire().is_err(),
        "its calls fail fast"
    );
    assert_eq!(fleet[2].fleet.status().role, FleetRole::Following);
    eprintln!("a replica followed the quorum after {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_behind_a_bad_path_does_not_open_the_fleet() {
    let Some(url) = url() else { return };
    let fleet = replicas(&url, 3);
    until(Duration::from_secs(3), "every replica reports", || {
        fleet.iter().all(|r| r.fleet.status().live == 3)
    })
    .await;
    fail(&fleet[0].breaker, 5);
    assert_eq!(fleet[0].breaker.state(), CircuitState::Open);
    // Six rounds of the others (250 ms each) with calls that succeed.
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        succeed(&fleet[1].breaker, 5);
        succeed(&fleet[2].breaker, 5);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for r in &fleet[1..] {
        assert_eq!(
            r.breaker.state(),
            CircuitState::Closed,
            "one open replica of 3 is not a quorum of 2"
        );
        let status = r.fleet.status();
        assert_eq!(
            (status.live, status.open, status.fleet_open),
            (3, 1, false),
            "{status:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_sends_one_probe_at_a_time() {
    let Some(url) = url() else { return };
    let name = unique("probe");
    let mut fleet = Vec::new();
    for i in 0..3 {
        let breaker = CircuitBreaker::new(
            breaker_config(&name)
                .open_duration(Duration::from_millis(300))
                .half_open_permits(1)
                .success_threshold(1),
        )
        .unwrap();
        let driver = FleetBreaker::spawn(
            breaker.clone(),
            store(&url),
            FleetBreakerConfig::new()
                .with_replica(format!("p{i}"))
                .with_poll_interval(Duration::from_millis(100)),
        )
        .unwrap();
        fleet.push(Replica {
            breaker,
            fleet: driver,
        });
    }
    until(Duration::from_secs(3), "every replica reports", || {
        fleet.iter().all(|r| r.fleet.status().live == 3)
    })
    .await;
    for r in &fleet {
        fail(&r.breaker, 5);
    }
    // Each breaker's open duration ends; the fleet admits trials on one
    // replica at a time, the others wait.
    until(Duration::from_secs(3), "one replica probes", || {
        fleet
            .iter()
            .any(|r| r.fleet.status().role == FleetRole::Probing)
    })
    .await;
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(600) {
        let half_open = fleet
            .iter()
            .filter(|r| r.breaker.state() == CircuitState::HalfOpen)
            .count();
        assert!(
            half_open <= 1,
            "at most 1 replica admits trials at a time, saw {half_open}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The dependency is back: the probe's trial succeeds, and the
    // replicas close one probe after another.
    let start = Instant::now();
    while !fleet
        .iter()
        .all(|r| r.breaker.state() == CircuitState::Closed)
    {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the fleet closes after successful probes"
        );
        for r in &fleet {
            if r.breaker.state() == CircuitState::HalfOpen {
                succeed(&r.breaker, 1);
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_redis_keeps_every_replica_serving_and_a_restart_resynchronises() {
    let Some(url) = url() else { return };
    if server_env("RESILIENCE_SERVICES_SCRIPT").is_none() {
        return;
    }
    let bucket = TokenBucketConfig {
        capacity: 10_000,
        retry_cost: 5,
        timeout_retry_cost: 10,
        success_refund: 1,
    };
    // Each replica spends 5 tokens every 2 ms (2 500 a second): half a
    // batch of 300 lasts 60 ms, longer than a refill may take before it
    // counts as failed (the 50 ms store timeout), so no retry is refused
    // while the replica finds out that Redis is gone.
    let budget_config = FleetBudgetConfig::new(unique("outage"), bucket).with_batch(300);
    let breakers = replicas(&url, 3);
    let mut budgets = Vec::new();
    for _ in 0..3 {
        budgets.push(
            FleetBudget::start(budget_config.clone(), store(&url))
                .await
                .unwrap(),
        );
    }
    until(Duration::from_secs(3), "every replica reports", || {
        breakers.iter().all(|r| r.fleet.status().live == 3)
    })
    .await;

    // Load: each replica makes a call every millisecond (a breaker permit
    // and, for one call in two, a retry from the budget that fails, so it
    // is not refunded), timing each.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for (r, budget) in breakers.iter().zip(&budgets) {
        let (breaker, budget, stop) = (r.breaker.clone(), budget.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            let (mut calls, mut refused, mut slowest) = (0u64, 0u64, Duration::ZERO);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let t = Instant::now();
                match breaker.try_acquire() {
                    Ok(p) => p.record_success(),
                    Err(_) => refused += 1,
                }
                if calls.is_multiple_of(2) && budget.try_withdraw(ErrorClass::Transient).is_none() {
                    refused += 1;
                }
                slowest = slowest.max(t.elapsed());
                calls += 1;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            (calls, refused, slowest)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(budgets.iter().all(FleetBudget::is_fleet));

    assert!(redis("down"));
    let killed = Instant::now();
    // Every replica notices at its next store call and runs on local state.
    until(
        Duration::from_secs(3),
        "every breaker driver falls back",
        || breakers.iter().all(|r| !r.fleet.status().fleet),
    )
    .await;
    // The load spends the leased batches; the next refill fails.
    until(Duration::from_secs(3), "every budget falls back", || {
        budgets.iter().all(|b| !b.is_fleet())
    })
    .await;
    // A replica that starts while Redis is down starts at once, on local
    // state, and joins the fleet when Redis is back.
    let started = Instant::now();
    let newcomer = FleetBudget::start(budget_config.clone(), store(&url))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "starting does not wait for Redis"
    );
    assert!(!newcomer.is_fleet());
    assert!(newcomer.try_withdraw(ErrorClass::Transient).is_some());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let outage = killed.elapsed();

    assert!(redis("up"));
    let restarted = Instant::now();
    until(
        Duration::from_secs(10),
        "every replica resynchronises",
        || {
            budgets.iter().all(FleetBudget::is_fleet)
                && newcomer.is_fleet()
                && breakers.iter().all(|r| r.fleet.status().fleet)
        },
    )
    .await;
    let resync = restarted.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for (i, l) in load.into_iter().enumerate() {
        let (calls, refused, slowest) = l.await.unwrap();
        assert!(calls > 100, "replica {i} kept serving: {calls} calls");
        assert_eq!(
            refused, 0,
            "replica {i}: no call or retry refused because Redis was down (the fleet bucket of 10 000 never empties)"
        );
        assert!(
            slowest < Duration::from_millis(50),
            "replica {i}: no call waits for Redis (slowest {slowest:?})"
        );
    }
    for r in &breakers {
        assert_eq!(r.breaker.state(), CircuitState::Closed);
        assert_eq!(r.fleet.status().live, 3, "the views are back");
    }
    eprintln!(
        "Redis down for {outage:?}; every replica back on fleet state {resync:?} after the restart"
    );
}

// ---------------------------------------------------------------- rate limit

use resilience_core::rate_limit::{RateLimit, RateLimiterConfig};
use resilience_store::fleet::{FleetRateLimiter, FleetRateLimiterConfig, ScopedRateLimitConfig};

#[tokio::test]
async fn the_rate_bucket_on_redis_starts_full_and_refills_by_the_servers_clock() {
    let Some(url) = url() else { return };
    let s = store(&url);
    let key = unique("rate-contract");
    let per = Duration::from_millis(200);
    assert_eq!(
        s.lease_rate(&key, 6, 10, per).await.unwrap(),
        6,
        "starts full: 10"
    );
    let after_first = Instant::now();
    let second = s.lease_rate(&key, 10, 10, per).await.unwrap();
    assert!(
        (4..=5).contains(&second),
        "4 left (5 if 200 ms passed): {second}"
    );
    assert_eq!(
        s.lease_rate(&key, 0, 10, per).await.unwrap(),
        0,
        "asking for none takes none"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refilled = s.lease_rate(&key, 10, 10, per).await.unwrap();
    let waited = after_first.elapsed().as_millis() as u32;
    assert!(
        refilled >= 2 && refilled <= waited / 200 + 1,
        "one token per 200 ms: {refilled} after {waited} ms"
    );
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        s.lease_rate(&key, 50, 10, per).await.unwrap(),
        10,
        "an idle 2.5 s refills the burst of 10, no more"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_one_rate_on_redis_within_one_batch_each() {
    let Some(url) = url() else { return };
    // 200 calls a second for the fleet, bursts of 20, leased 10 at a time;
    // each replica tries a call every millisecond (15 times the rate).
    let (rate, burst, batch) = (200.0f64, 20.0f64, 10.0f64);
    let config = FleetRateLimiterConfig::new(
        unique("rate-share"),
        RateLimiterConfig::per_second(rate as u32).burst(burst as u32),
    )
    .with_batch(batch as u32);
    let start = Instant::now();
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(
            FleetRateLimiter::start(config.clone(), store(&url))
                .await
                .unwrap(),
        );
    }
    let window = Duration::from_secs(3);
    let mut load = Vec::new();
    for r in &replicas {
        let r = r.clone();
        load.push(tokio::spawn(async move {
            let (mut admitted, mut slowest) = (0u64, Duration::ZERO);
            while start.elapsed() < window {
                let t = Instant::now();
                if r.try_acquire().is_ok() {
                    admitted += 1;
                }
                slowest = slowest.max(t.elapsed());
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            (admitted, slowest)
        }));
    }
    let mut per_replica = Vec::new();
    for l in load {
        let (admitted, slowest) = l.await.unwrap();
        assert!(
            slowest < Duration::from_millis(5),
            "no call waits for Redis (slowest {slowest:?})"
        );
        per_replica.push(admitted);
    }
    let t = start.elapsed().as_secs_f64();
    let total = per_replica.iter().sum::<u64>() as f64;
    let expected = burst + rate * t;
    // Above: nothing but the bucket (2 tokens of slack for the server's
    // and this process's clocks). Below: at most one batch per replica
    // leased and unspent, and what refilled during the last refill pause
    // (half a batch at the fleet rate).
    assert!(
        total <= expected + 2.0 && total >= expected - 3.0 * batch - batch / 2.0 - 2.0,
        "3 replicas sharing 200/s for {t:.2} s admit {expected:.0} (burst 20 + 200/s) within one batch of 10 each: {total} ({per_replica:?})"
    );
    let ops: u64 = replicas.iter().map(FleetRateLimiter::store_ops).sum();
    eprintln!(
        "rate limit on Redis: {total} admitted in {t:.2} s (expected {expected:.0}), {per_replica:?}; {ops} store ops ({:.1} per 1 000 admitted)",
        ops as f64 * 1000.0 / total
    );
}

#[tokio::test]
async fn a_rate_limit_with_fleet_scope_builds_from_the_local_limiters_yaml() {
    let Some(url) = url() else { return };
    let key = unique("rate-yaml");
    let yaml = format!(
        "rate: 100\nper: 1s\nburst: 10\nscope: fleet\nfleet:\n  url: {url}\n  key: {key}\n  key_prefix: fleet-test\n  batch: 5\n"
    );
    let config: ScopedRateLimitConfig = resilience_core::config::from_yaml_str(&yaml).unwrap();
    let limiter = config
        .build(resilience_core::clock::SystemClock)
        .await
        .unwrap();
    assert_eq!(limiter.name(), key);
    assert_eq!(limiter.available(), 5, "one batch of 5 leased from Redis");
    let local: ScopedRateLimitConfig =
        resilience_core::config::from_yaml_str("rate: 100\nburst: 10").unwrap();
    let local = local
        .build(resilience_core::clock::SystemClock)
        .await
        .unwrap();
    assert_eq!(local.available(), 10, "scope: local is the local limiter");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_redis_keeps_every_rate_limited_replica_serving_on_local_state() {
    let Some(url) = url() else { return };
    if server_env("RESILIENCE_SERVICES_SCRIPT").is_none() {
        return;
    }
    // 3 000 calls a second for the fleet; each replica calls every
    // millisecond (about 1 000 a second), so neither the fleet bucket nor
    // the local fallback (the full rate, fallback_replicas: 1) refuses: a
    // refusal would be Redis's fault. A batch of 200 lasts 200 ms, longer
    // than a refill may take before it counts as failed (50 ms).
    let config = FleetRateLimiterConfig::new(
        unique("rate-outage"),
        RateLimiterConfig::per_second(3_000).burst(3_000),
    )
    .with_batch(200);
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(
            FleetRateLimiter::start(config.clone(), store(&url))
                .await
                .unwrap(),
        );
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for r in &replicas {
        let (r, stop) = (r.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            let (mut calls, mut refused, mut slowest) = (0u64, 0u64, Duration::ZERO);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let t = Instant::now();
                if r.try_acquire().is_err() {
                    refused += 1;
                }
                slowest = slowest.max(t.elapsed());
                calls += 1;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            (calls, refused, slowest)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(replicas.iter().all(FleetRateLimiter::is_fleet));
    assert!(redis("down"));
    until(
        Duration::from_secs(3),
        "every replica falls back to its local limiter",
        || replicas.iter().all(|r| !r.is_fleet()),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(redis("up"));
    let restarted = Instant::now();
    until(
        Duration::from_secs(10),
        "every replica resynchronises",
        || replicas.iter().all(FleetRateLimiter::is_fleet),
    )
    .await;
    let resync = restarted.elapsed();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for (i, l) in load.into_iter().enumerate() {
        let (calls, refused, slowest) = l.await.unwrap();
        assert!(calls > 300, "replica {i} kept serving: {calls} calls");
        assert_eq!(
            refused, 0,
            "replica {i}: no call refused because Redis was down"
        );
        assert!(
            slowest < Duration::from_millis(50),
            "replica {i}: no call waits for Redis (slowest {slowest:?})"
        );
    }
    eprintln!("rate limit: every replica back on fleet tokens {resync:?} after the restart");
}
