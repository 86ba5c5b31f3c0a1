//! The fleet store contract on etcd (`scripts/services.sh start`, the
//! 3-member cluster), checked beside the in-memory store and (when
//! `RESILIENCE_REDIS_URL` is set) the Redis store, then three replicas
//! sharing a budget and a breaker through etcd. Skips with a printed reason
//! when `RESILIENCE_ETCD_ENDPOINTS` is unset, unless
//! `RESILIENCE_REQUIRE_SERVERS=1`.
//!
//! etcd expires views and probe leases by its own leases, in real time:
//! these tests poll the wall clock against deadlines, as the Redis tests do.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitState};
use resilience_core::retry::{ErrorClass, RatioBudgetConfig, RetryBudget, TokenBucketConfig};
use resilience_store::fleet::etcd::{EtcdFleetConfig, EtcdFleetStore};
use resilience_store::fleet::{
    BreakerView, FleetBreaker, FleetBreakerConfig, FleetBudget, FleetBudgetConfig, FleetRole,
    FleetStore, InMemoryFleetStore, ViewState,
};
use support::{server_env, unique};

async fn etcd() -> Option<Arc<dyn FleetStore>> {
    let endpoints = server_env("RESILIENCE_ETCD_ENDPOINTS")?;
    let config = EtcdFleetConfig::new(endpoints.split(',').map(str::trim))
        .with_key_prefix(format!("/{}/", unique("fleet-test")));
    Some(Arc::new(EtcdFleetStore::connect(config).await.unwrap()))
}

/// Every operation of the trait, as `InMemoryFleetStore` does it.
async fn contract(store: Arc<dyn FleetStore>, engine: &str) {
    // Token bucket: starts full, never goes below 0 or above capacity.
    assert_eq!(
        store.lease_tokens("b", 8, 10).await.unwrap(),
        8,
        "{engine}: 8 of 10"
    );
    assert_eq!(
        store.lease_tokens("b", 8, 10).await.unwrap(),
        2,
        "{engine}: only 2 left"
    );
    assert_eq!(
        store.lease_tokens("b", 8, 10).await.unwrap(),
        0,
        "{engine}: empty"
    );
    store.return_tokens("b", 5, 10).await.unwrap();
    assert_eq!(
        store.lease_tokens("b", 8, 10).await.unwrap(),
        5,
        "{engine}: 5 returned"
    );
    store.return_tokens("b", 100, 10).await.unwrap();
    assert_eq!(
        store.lease_tokens("b", 20, 10).await.unwrap(),
        10,
        "{engine}: capped at capacity"
    );

    // Ratio: 10 % of 50 calls, no reserve: 5 retries.
    let ratio = RatioBudgetConfig {
        percent_can_retry: 0.1,
        min_retries_per_sec: 0,
        ..Default::default()
    };
    assert_eq!(
        store.lease_ratio("r", 50, 8, &ratio).await.unwrap(),
        5,
        "{engine}: 10 % of 50"
    );
    assert_eq!(
        store.lease_ratio("r", 0, 8, &ratio).await.unwrap(),
        0,
        "{engine}: spent"
    );
    assert_eq!(
        store.lease_ratio("r", 20, 8, &ratio).await.unwrap(),
        2,
        "{engine}: 10 % of 20 more"
    );

    // Views: every live replica's, this one's included, by replica.
    let ttl = Duration::from_secs(3);
    let views = store
        .exchange_views("k", &BreakerView::new("a", ViewState::Open, 10, 9), ttl)
        .await
        .unwrap();
    assert_eq!(views.len(), 1, "{engine}");
    let views = store
        .exchange_views("k", &BreakerView::new("b", ViewState::Closed, 20, 1), ttl)
        .await
        .unwrap();
    let seen: Vec<_> = views
        .iter()
        .map(|v| (v.replica.as_str(), v.state, v.calls, v.failures))
        .collect();
    assert_eq!(
        seen,
        [
            ("a", ViewState::Open, 10, 9),
            ("b", ViewState::Closed, 20, 1)
        ],
        "{engine}"
    );
    assert!(views.iter().all(|v| v.age < ttl), "{engine}: fresh views");

    // Probe leases: `slots` holders at a time; the holder renews.
    let lease = Duration::from_secs(5);
    assert!(
        store.acquire_probe("k", "a", 1, lease).await.unwrap(),
        "{engine}"
    );
    assert!(
        !store.acquire_probe("k", "b", 1, lease).await.unwrap(),
        "{engine}: 1 slot"
    );
    assert!(
        store.acquire_probe("k", "a", 1, lease).await.unwrap(),
        "{engine}: renewed"
    );
    store.release_probe("k", "a").await.unwrap();
    assert!(
        store.acquire_probe("k", "b", 1, lease).await.unwrap(),
        "{engine}: released"
    );

    // Rate bucket: a burst of 5, then one token an hour.
    let hour = Duration::from_secs(3600);
    assert_eq!(
        store.lease_rate("q", 3, 5, hour).await.unwrap(),
        3,
        "{engine}: starts full"
    );
    assert_eq!(
        store.lease_rate("q", 3, 5, hour).await.unwrap(),
        2,
        "{engine}: burst of 5"
    );
    assert_eq!(
        store.lease_rate("q", 1, 5, hour).await.unwrap(),
        0,
        "{engine}: empty"
    );
    // One token every 200 ms, at most 2: after 700 ms, 2 again (not 3).
    let tick = Duration::from_millis(200);
    assert_eq!(
        store.lease_rate("q2", 5, 2, tick).await.unwrap(),
        2,
        "{engine}: burst of 2"
    );
    assert_eq!(
        store.lease_rate("q2", 5, 2, tick).await.unwrap(),
        0,
        "{engine}: empty"
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        store.lease_rate("q2", 5, 2, tick).await.unwrap(),
        2,
        "{engine}: refilled at one token per 200 ms, capped at the burst of 2"
    );
}

/// Replicas racing on one bucket and one probe slot pair: the store's
/// atomicity, not the caller, keeps the totals.
async fn races(store: Arc<dyn FleetStore>, engine: &str) {
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = 0;
            for _ in 0..15 {
                got += store.lease_tokens("race", 1, 30).await.unwrap();
            }
            got
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(
        total, 30,
        "{engine}: 45 requests share the bucket's 30 tokens exactly"
    );

    let mut tasks = Vec::new();
    for i in 0..5 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .acquire_probe("race", &format!("r{i}"), 2, Duration::from_secs(5))
                .await
                .unwrap()
        }));
    }
    let mut granted = 0;
    for t in tasks {
        granted += usize::from(t.await.unwrap());
    }
    assert_eq!(granted, 2, "{engine}: 5 replicas race for 2 probe slots");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_store_keeps_the_fleet_store_contract() {
    contract(Arc::new(InMemoryFleetStore::new()), "memory").await;
    races(Arc::new(InMemoryFleetStore::new()), "memory").await;
    #[cfg(feature = "redis")]
    if let Ok(url) = std::env::var("RESILIENCE_REDIS_URL") {
        let redis = || -> Arc<dyn FleetStore> {
            let config = resilience_store::connection::RedisConfig::new(url.as_str())
                .with_key_prefix(unique("fleet-test"));
            Arc::new(resilience_store::fleet::redis::RedisFleetStore::new(&config).unwrap())
        };
        contract(redis(), "redis").await;
        races(redis(), "redis").await;
    }
    let Some(store) = etcd().await else { return };
    contract(store.clone(), "etcd").await;
    // One replica's round trips, uncontended: what `store_timeout` must cover.
    let start = Instant::now();
    for _ in 0..20 {
        store.lease_tokens("timing", 1, 1000).await.unwrap();
    }
    let lease = start.elapsed() / 20;
    let start = Instant::now();
    for _ in 0..20 {
        let v = BreakerView::new("a", ViewState::Closed, 1, 0);
        store
            .exchange_views("timing", &v, Duration::from_secs(3))
            .await
            .unwrap();
    }
    eprintln!(
        "etcd: lease_tokens {lease:?}, exchange_views {:?} per call",
        start.elapsed() / 20
    );
    let Some(store) = etcd().await else { return };
    races(store, "etcd").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_ages_out_a_silent_replica_and_a_lapsed_probe_lease() {
    let Some(store) = etcd().await else { return };
    let ttl = Duration::from_secs(1);
    store
        .exchange_views(
            "k",
            &BreakerView::new("silent", ViewState::Open, 10, 9),
            ttl,
        )
        .await
        .unwrap();
    assert!(store.acquire_probe("k", "silent", 1, ttl).await.unwrap());
    let start = Instant::now();
    loop {
        let views = store
            .exchange_views("k", &BreakerView::new("live", ViewState::Closed, 1, 0), ttl)
            .await
            .unwrap();
        if views.iter().all(|v| v.replica == "live") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "a silent replica ages out after its 1 s TTL"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "not before its TTL"
    );
    // The probe lease was granted just after the view was written, and etcd
    // revokes expired leases on its leader's next check: the slot frees
    // within the same 1 s TTL plus that check, never before the TTL.
    let probe_start = Instant::now();
    while !store.acquire_probe("k", "live", 1, ttl).await.unwrap() {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "the silent replica's probe lease lapses after its 1 s TTL (waited {:?} after the view aged out)",
            probe_start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_a_budget_and_follow_a_quorum_through_etcd() {
    let Some(_) = etcd().await else { return };
    // etcd writes go through raft and a disk sync: a longer store timeout.
    let timeout = Duration::from_millis(500);
    let name = unique("fleet");
    let bucket = TokenBucketConfig {
        capacity: 300,
        retry_cost: 5,
        timeout_retry_cost: 10,
        success_refund: 1,
    };
    let budget_config = FleetBudgetConfig::new(name.clone(), bucket)
        .with_batch(20)
        .with_store_timeout(timeout);
    let breaker_config = CircuitBreakerConfig::new()
        .name(name.clone())
        .consecutive_failures(3)
        .open_duration(Duration::from_secs(30));
    let fleet_config = FleetBreakerConfig::new()
        .with_store_timeout(timeout)
        .with_poll_interval(Duration::from_millis(250));
    // One prefix for the three replicas, a client each.
    let endpoints = server_env("RESILIENCE_ETCD_ENDPOINTS").unwrap();
    let prefix = format!("/{}/", unique("fleet-test"));
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let config = EtcdFleetConfig::new(endpoints.split(',').map(str::trim))
            .with_key_prefix(prefix.clone());
        let store: Arc<dyn FleetStore> = Arc::new(EtcdFleetStore::connect(config).await.unwrap());
        let budget = FleetBudget::start(budget_config.clone(), store.clone())
            .await
            .unwrap();
        assert!(budget.is_fleet(), "etcd answers within {timeout:?}");
        let breaker = CircuitBreaker::new(breaker_config.clone()).unwrap();
        let driver = FleetBreaker::spawn(breaker.clone(), store, fleet_config.clone()).unwrap();
        replicas.push((budget, breaker, driver));
    }
    // Retries across the fleet: 300 tokens at 5 each is 60, within one batch
    // (4 retries) per replica.
    let mut retries = 0;
    for _ in 0..200 {
        for (budget, _, _) in &replicas {
            if budget.try_withdraw(ErrorClass::Transient).is_some() {
                retries += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(
        (60..=60 + 3 * 4).contains(&retries),
        "the fleet's 300 tokens pay for 60 retries of 5, plus at most a batch per replica: {retries}"
    );

    for (_, breaker, _) in &replicas[..2] {
        for _ in 0..3 {
            breaker.try_acquire().unwrap().record_failure();
        }
        assert_eq!(
            breaker.state(),
            CircuitState::Open,
            "opens after 3 consecutive failures"
        );
    }
    let (_, third, driver) = &replicas[2];
    let start = Instant::now();
    while third.state() != CircuitState::ForcedOpen {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "the third replica follows the quorum of 2 within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!(
        "etcd: the third replica followed after {:?}",
        start.elapsed()
    );
    assert_eq!(driver.status().role, FleetRole::Following);
}

async fn until(deadline: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < deadline,
            "{what}: not within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn record(breaker: &CircuitBreaker, n: usize, success: bool) {
    for _ in 0..n {
        if let Ok(p) = breaker.try_acquire() {
            if success {
                p.record_success();
            } else {
                p.record_failure();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_sends_one_probe_at_a_time_through_etcd() {
    let Some(_) = etcd().await else { return };
    let endpoints = server_env("RESILIENCE_ETCD_ENDPOINTS").unwrap();
    let prefix = format!("/{}/", unique("fleet-test"));
    let mut fleet = Vec::new();
    for i in 0..3 {
        let config = EtcdFleetConfig::new(endpoints.split(',').map(str::trim))
            .with_key_prefix(prefix.clone());
        let store: Arc<dyn FleetStore> = Arc::new(EtcdFleetStore::connect(config).await.unwrap());
        let breaker = CircuitBreaker::new(
            CircuitBreakerConfig::new()
                .name("probe")
                .consecutive_failures(5)
                .open_duration(Duration::from_millis(300))
                .half_open_permits(1)
                .success_threshold(1),
        )
        .unwrap();
        let driver = FleetBreaker::spawn(
            breaker.clone(),
            store,
            FleetBreakerConfig::new()
                .with_replica(format!("p{i}"))
                .with_poll_interval(Duration::from_millis(100))
                .with_store_timeout(Duration::from_millis(500)),
        )
        .unwrap();
        fleet.push((breaker, driver));
    }
    until(Duration::from_secs(3), "every replica reports", || {
        fleet.iter().all(|(_, d)| d.status().live == 3)
    })
    .await;
    for (b, _) in &fleet {
        record(b, 5, false);
    }
    until(Duration::from_secs(3), "one replica probes", || {
        fleet
            .iter()
            .any(|(_, d)| d.status().role == FleetRole::Probing)
    })
    .await;
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(600) {
        let half_open = fleet
            .iter()
            .filter(|(b, _)| b.state() == CircuitState::HalfOpen)
            .count();
        assert!(
            half_open <= 1,
            "at most 1 replica admits trials at a time, saw {half_open}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The dependency is back: the probes succeed and the fleet closes.
    let start = Instant::now();
    while !fleet.iter().all(|(b, _)| b.state() == CircuitState::Closed) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the fleet closes after successful probes"
        );
        for (b, _) in &fleet {
            if b.state() == CircuitState::HalfOpen {
                record(b, 1, true);
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
