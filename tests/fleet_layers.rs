//! The tower layers take fleet scope as they are: a `RetryLayer` whose
//! policy spends a `FleetBudget` (and a `ResilienceStack` given one with
//! `with_retry_budget`), and a `CircuitBreakerLayer` (or a
//! `ResilienceStack`'s breaker) driven by a `FleetBreaker`, and a stack's
//! rate limit given a `FleetRateLimiter` with `with_rate_limiter`. Three replicas
//! in one process share an in-memory fleet store, on a paused tokio clock.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitState};
use resilience_core::clock::TokioClock;
use resilience_core::retry::{
    Backoff, RetryBudget, RetryPolicy, TokenBucketBudget, TokenBucketConfig,
};
use resilience_store::fleet::{
    FleetBreaker, FleetBreakerConfig, FleetBudget, FleetBudgetConfig, InMemoryFleetStore,
};
use resilience_tower::circuit_breaker::CircuitBreakerLayer;
use resilience_tower::retry::RetryLayer;
use resilience_tower::stack::ResilienceStack;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

fn bucket() -> TokenBucketConfig {
    // 50 tokens at 5 a retry: 10 retries.
    TokenBucketConfig {
        capacity: 50,
        retry_cost: 5,
        timeout_retry_cost: 10,
        success_refund: 1,
    }
}

fn policy(budget: Arc<dyn RetryBudget>) -> RetryPolicy {
    RetryPolicy::builder(Backoff::constant(Duration::from_millis(10)))
        .name("inventory")
        .max_attempts(3)
        .budget(budget)
        .clock(TokioClock)
        .build()
        .unwrap()
}

/// Three replicas, each making 10 calls to a dependency that refuses
/// every connection, through a retry layer on `budgets[i]`; returns the
/// attempts the dependency saw.
async fn outage(budgets: Vec<Arc<dyn RetryBudget>>) -> u32 {
    let attempts = Arc::new(AtomicU32::new(0));
    for budget in budgets {
        let attempts = attempts.clone();
        let mut svc = ServiceBuilder::new()
            .layer(RetryLayer::new(policy(budget)))
            .service_fn(move |_: ()| {
                attempts.fetch_add(1, Ordering::Relaxed);
                async {
                    Err::<(), BoxError>(
                        std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into(),
                    )
                }
            });
        for _ in 0..10 {
            assert!(svc.ready().await.unwrap().call(()).await.is_err());
        }
    }
    attempts.load(Ordering::Relaxed)
}

#[tokio::test(start_paused = true)]
async fn a_retry_layer_spends_the_fleet_budget() {
    let local: Vec<Arc<dyn RetryBudget>> = (0..3)
        .map(|_| Arc::new(TokenBucketBudget::new(bucket()).unwrap()) as Arc<dyn RetryBudget>)
        .collect();
    let local_attempts = outage(local).await;
    assert_eq!(
        local_attempts,
        30 + 30,
        "3 local budgets of 10 retries: 30 retries"
    );

    let store = Arc::new(InMemoryFleetStore::new());
    let mut fleet: Vec<Arc<dyn RetryBudget>> = Vec::new();
    for _ in 0..3 {
        let config = FleetBudgetConfig::new("inventory", bucket()).with_batch(10);
        fleet.push(Arc::new(
            FleetBudget::start(config, store.clone()).await.unwrap(),
        ));
    }
    let fleet_attempts = outage(fleet).await;
    assert_eq!(
        fleet_attempts,
        30 + 10,
        "one fleet budget of 10 retries, whichever replica spends it"
    );
}

fn breaker_config() -> CircuitBreakerConfig {
    CircuitBreakerConfig::new()
        .name("provider")
        .consecutive_failures(3)
        .open_duration(Duration::from_secs(30))
}

#[tokio::test(start_paused = true)]
async fn a_breaker_layer_and_a_stack_follow_the_fleet() {
    let store = Arc::new(InMemoryFleetStore::with_clock(TokioClock));
    let driver = |breaker: &CircuitBreaker, id: &str| {
        FleetBreaker::with_clock(
            breaker.clone(),
            store.clone(),
            FleetBreakerConfig::new().with_replica(id),
            TokioClock,
        )
        .unwrap()
    };
    // Two replicas with a breaker layer; the third is a whole stack.
    let a = CircuitBreaker::with_clock(breaker_config(), TokioClock).unwrap();
    let b = CircuitBreaker::with_clock(breaker_config(), TokioClock).unwrap();
    let stack = ResilienceStack::from_yaml(
        "name: provider\ncircuit_breaker: { consecutive_failures: 3, open_duration: 30s }",
    )
    .unwrap();
    let c = stack.breaker().unwrap().clone();
    let drivers = [driver(&a, "a"), driver(&b, "b"), driver(&c, "c")];

    let calls = Arc::new(AtomicU32::new(0));
    let failing = |calls: Arc<AtomicU32>| {
        move |_: ()| {
            calls.fetch_add(1, Ordering::Relaxed);
            async { Err::<(), BoxError>("503".into()) }
        }
    };
    for breaker in [&a, &b] {
        let mut svc = ServiceBuilder::new()
            .layer(CircuitBreakerLayer::new(breaker.clone()))
            .service_fn(failing(calls.clone()));
        for _ in 0..3 {
            let _ = svc.ready().await.unwrap().call(()).await;
        }
        assert_eq!(breaker.state(), CircuitState::Open);
    }
    for d in &drivers {
        d.tick().await;
    }
    assert_eq!(
        c.state(),
        CircuitState::ForcedOpen,
        "the stack's breaker follows the quorum of 2"
    );

    let before = calls.load(Ordering::Relaxed);
    let mut svc = ServiceBuilder::new()
        .layer(stack)
        .service_fn(failing(calls.clone()));
    let err = svc.ready().await.unwrap().call(()).await.unwrap_err();
    assert!(err.to_string().to_lowercase().contains("open"), "{err}");
    assert_eq!(
        calls.load(Ordering::Relaxed),
        before,
        "the dependency is not called"
    );
}

#[tokio::test(start_paused = true)]
async fn stacks_of_three_replicas_spend_one_fleet_budget() {
    let store = Arc::new(InMemoryFleetStore::new());
    let attempts = Arc::new(AtomicU32::new(0));
    for _ in 0..3 {
        let config = FleetBudgetConfig::new("inventory", bucket()).with_batch(10);
        let budget = Arc::new(FleetBudget::start(config, store.clone()).await.unwrap());
        let stack = ResilienceStack::with_clock(
            resilience_core::config::from_yaml_str(
                "name: inventory\nretry: { backoff: { kind: constant, initial: 10ms, max_attempts: 3 } }",
            )
            .unwrap(),
            TokioClock,
        )
        .unwrap()
        .with_retry_budget(budget)
        .unwrap();
        let attempts = attempts.clone();
        let mut svc = ServiceBuilder::new().layer(stack).service_fn(move |_: ()| {
            attempts.fetch_add(1, Ordering::Relaxed);
            async {
                Err::<(), BoxError>(
                    std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into(),
                )
            }
        });
        for _ in 0..10 {
            assert!(svc.ready().await.unwrap().call(()).await.is_err());
        }
    }
    assert_eq!(
        attempts.load(Ordering::Relaxed),
        30 + 10,
        "30 calls and the fleet budget's 10 retries"
    );
}

/// Three replicas, each a stack whose rate limit is one fleet-wide
/// limiter (or, for comparison, its own local limiter of the same rate),
/// each making 30 calls in a row; returns the calls that reached the
/// service.
async fn burst_through(limiters: Vec<Arc<dyn resilience_core::rate_limit::RateLimit>>) -> u32 {
    let served = Arc::new(AtomicU32::new(0));
    for limiter in limiters {
        let served = served.clone();
        let stack = ResilienceStack::from_yaml("timeout: 1s")
            .unwrap()
            .with_rate_limiter(limiter);
        let mut svc = ServiceBuilder::new().layer(stack).service_fn(move |_: ()| {
            served.fetch_add(1, Ordering::Relaxed);
            async { Ok::<_, BoxError>(()) }
        });
        for _ in 0..30 {
            let _ = svc.ready().await.unwrap().call(()).await;
            // Let the limiter's background task run between calls, as a
            // store round trip would between requests of a real service.
            tokio::task::yield_now().await;
        }
    }
    served.load(Ordering::Relaxed)
}

#[tokio::test(start_paused = true)]
async fn a_stack_takes_its_permits_from_the_fleet_rate_limiter() {
    use resilience_core::rate_limit::{RateLimit, RateLimiter, RateLimiterConfig};
    use resilience_store::fleet::{FleetRateLimiter, FleetRateLimiterConfig};

    // 20 calls a minute, bursts of 20.
    let limit = RateLimiterConfig::new(20, Duration::from_secs(60));
    let local: Vec<Arc<dyn RateLimit>> = (0..3)
        .map(|_| {
            Arc::new(RateLimiter::with_clock(limit.clone(), TokioClock).unwrap())
                as Arc<dyn RateLimit>
        })
        .collect();
    assert_eq!(
        burst_through(local).await,
        60,
        "3 local limiters of 20: 60 calls"
    );

    let store = Arc::new(InMemoryFleetStore::with_clock(TokioClock));
    let config = FleetRateLimiterConfig::new("inventory", limit).with_batch(5);
    let mut fleet: Vec<Arc<dyn RateLimit>> = Vec::new();
    for _ in 0..3 {
        let limiter = FleetRateLimiter::start_with_clock(config.clone(), store.clone(), TokioClock)
            .await
            .unwrap();
        fleet.push(Arc::new(limiter));
    }
    let served = burst_through(fleet).await;
    assert_eq!(
        served, 20,
        "one fleet-wide bucket of 20 for the 3 replicas: 20 calls"
    );
}
