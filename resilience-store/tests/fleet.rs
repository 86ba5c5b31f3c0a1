//! Fleet state on the in-memory store, on a manual clock: the breaker
//! protocol round by round (follow a quorum, wait for a probe lease, probe,
//! release), the fall-back to local state, replicas ageing out, and the
//! budget's metrics. The same rules run on Redis in tests/fleet_redis.rs.

use std::sync::Arc;
use std::time::Duration;

use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitState};
use resilience_core::clock::ManualClock;
use resilience_core::retry::{ErrorClass, RetryBudget, TokenBucketConfig};
use resilience_store::fleet::{
    FleetBreaker, FleetBreakerConfig, FleetBudget, FleetBudgetConfig, FleetRole, InMemoryFleetStore,
};

struct Replica {
    breaker: CircuitBreaker,
    driver: FleetBreaker,
}

fn fleet(clock: &ManualClock, store: &InMemoryFleetStore, n: usize) -> Vec<Replica> {
    let config = CircuitBreakerConfig::new()
        .name("provider")
        .consecutive_failures(3)
        .open_duration(Duration::from_secs(30))
        .half_open_permits(1)
        .success_threshold(1);
    (0..n)
        .map(|i| {
            let breaker = CircuitBreaker::with_clock(config.clone(), clock.clone()).unwrap();
            let driver = FleetBreaker::with_clock(
                breaker.clone(),
                Arc::new(store.clone()),
                FleetBreakerConfig::new().with_replica(format!("r{i}")),
                clock.clone(),
            )
            .unwrap();
            Replica { breaker, driver }
        })
        .collect()
}

async fn round(replicas: &[Replica]) {
    for r in replicas {
        r.driver.tick().await;
    }
}

fn trip(r: &Replica) {
    for _ in 0..3 {
        r.breaker.try_acquire().unwrap().record_failure();
    }
    assert_eq!(r.breaker.state(), CircuitState::Open);
}

fn states(replicas: &[Replica]) -> Vec<CircuitState> {
    replicas.iter().map(|r| r.breaker.state()).collect()
}

/// Three replicas on a manual clock, two of them opened by their own
/// windows and a round run since.
async fn two_of_three_open() -> (ManualClock, Vec<Replica>) {
    let clock = ManualClock::new();
    let store = InMemoryFleetStore::with_clock(clock.clone());
    let fleet = fleet(&clock, &store, 3);
    round(&fleet).await;
    trip(&fleet[0]);
    trip(&fleet[1]);
    round(&fleet).await;
    (clock, fleet)
}

#[tokio::test]
async fn a_quorum_opens_the_fleet_probes_one_at_a_time_and_the_fleet_closes_again() {
    let (clock, fleet) = two_of_three_open().await;
    assert_eq!(
        states(&fleet),
        [
            CircuitState::Open,
            CircuitState::Open,
            CircuitState::ForcedOpen
        ],
        "2 of 3 replicas open: the third follows"
    );
    assert_eq!(fleet[2].driver.status().role, FleetRole::Following);
    assert!(fleet[2].breaker.try_acquire().is_err());

    // The open duration (30 s) ends: one probe lease, so one replica
    // admits its trial and the other waits, held open.
    clock.advance(Duration::from_secs(30));
    round(&fleet).await;
    let roles: Vec<_> = fleet.iter().map(|r| r.driver.status().role).collect();
    assert_eq!(
        roles,
        [FleetRole::Probing, FleetRole::Waiting, FleetRole::Following]
    );
    assert_eq!(
        states(&fleet),
        [
            CircuitState::HalfOpen,
            CircuitState::ForcedOpen,
            CircuitState::ForcedOpen
        ],
        "1 probe fleet-wide"
    );
    assert!(
        fleet[1].breaker.try_acquire().is_err(),
        "the waiting replica sends no trial"
    );

    // The trial succeeds: r0 closes and hands the lease on; r1 probes.
    fleet[0].breaker.try_acquire().unwrap().record_success();
    assert_eq!(fleet[0].breaker.state(), CircuitState::Closed);
    round(&fleet).await;
    assert_eq!(fleet[0].driver.status().role, FleetRole::Local);
    assert_eq!(fleet[1].driver.status().role, FleetRole::Probing);
    fleet[1].breaker.try_acquire().unwrap().record_success();
    round(&fleet).await;
    // The follower closes with the fleet (its open duration has passed and
    // other replicas are closed).
    round(&fleet).await;
    assert_eq!(states(&fleet), [CircuitState::Closed; 3]);
    assert!(fleet
        .iter()
        .all(|r| r.driver.status().role == FleetRole::Local));
}

#[tokio::test]
async fn a_breaker_whose_last_round_comes_early_still_probes_alone() {
    // Rounds come `poll_interval` (250 ms) apart plus their own store calls;
    // the open duration (30 s) may end between two of them. Two replicas
    // opened by their own windows have their last round 300 ms before the
    // end, and none after it: the lease is taken then (within
    // `poll_interval + store_timeout` of the end), so at the end one
    // replica goes half-open by itself and the other stays held open.
    let (clock, fleet) = two_of_three_open().await;
    clock.advance(Duration::from_millis(29_700));
    round(&fleet).await;
    assert_eq!(
        states(&fleet),
        [
            CircuitState::Open,
            CircuitState::ForcedOpen,
            CircuitState::ForcedOpen
        ],
        "the lease holder keeps its open duration; the other waits, held open"
    );
    assert_eq!(fleet[0].driver.status().role, FleetRole::Probing);
    assert!(
        fleet[0].breaker.try_acquire().is_err(),
        "no trial before the open duration ends"
    );
    clock.advance(Duration::from_millis(400));
    let half_open = states(&fleet)
        .into_iter()
        .filter(|s| *s == CircuitState::HalfOpen)
        .count();
    assert_eq!(
        half_open, 1,
        "one replica admits trials, with no round since"
    );
    // Its trial succeeds; the lease goes to the other at the next round.
    fleet[0].breaker.try_acquire().unwrap().record_success();
    round(&fleet).await;
    assert_eq!(fleet[0].driver.status().role, FleetRole::Local);
    assert_eq!(fleet[1].driver.status().role, FleetRole::Probing);
    assert_eq!(fleet[1].breaker.state(), CircuitState::HalfOpen);
}

#[tokio::test]
async fn one_open_replica_does_not_open_the_others() {
    let clock = ManualClock::new();
    let store = InMemoryFleetStore::with_clock(clock.clone());
    let fleet = fleet(&clock, &store, 3);
    trip(&fleet[0]);
    for _ in 0..5 {
        round(&fleet).await;
        clock.advance(Duration::from_millis(250));
    }
    assert_eq!(
        states(&fleet),
        [
            CircuitState::Open,
            CircuitState::Closed,
            CircuitState::Closed
        ]
    );
    let status = fleet[1].driver.status();
    assert_eq!((status.live, status.open, status.needed), (3, 1, 2));
}

#[tokio::test]
async fn a_failing_store_hands_every_breaker_back_to_local_state() {
    let clock = ManualClock::new();
    let store = InMemoryFleetStore::with_clock(clock.clone());
    let fleet = fleet(&clock, &store, 3);
    trip(&fleet[0]);
    trip(&fleet[1]);
    round(&fleet).await;
    clock.advance(Duration::from_secs(30));
    round(&fleet).await;
    assert_eq!(fleet[1].driver.status().role, FleetRole::Waiting);

    store.set_available(false);
    round(&fleet).await;
    assert!(fleet.iter().all(|r| !r.driver.status().fleet));
    assert_eq!(
        states(&fleet),
        [
            CircuitState::HalfOpen,
            CircuitState::HalfOpen,
            CircuitState::Closed
        ],
        "a waiting replica probes on its own; a follower whose open duration ended closes"
    );

    store.set_available(true);
    round(&fleet).await;
    assert!(
        fleet.iter().all(|r| r.driver.status().fleet),
        "back on fleet state"
    );
}

#[tokio::test]
async fn a_replica_that_stops_reporting_ages_out() {
    let clock = ManualClock::new();
    let store = InMemoryFleetStore::with_clock(clock.clone());
    let fleet = fleet(&clock, &store, 3);
    trip(&fleet[0]);
    trip(&fleet[1]);
    round(&fleet[..2]).await; // r0 and r1 report open, then go silent
    clock.advance(Duration::from_secs(3)); // view_ttl
    fleet[2].driver.tick().await;
    assert_eq!(
        fleet[2].breaker.state(),
        CircuitState::Closed,
        "silent replicas have no vote"
    );
    assert_eq!(fleet[2].driver.status().live, 1);
}

#[tokio::test]
async fn replicas_spend_one_bucket_and_fall_back_when_the_store_fails() {
    let store = InMemoryFleetStore::new();
    let bucket = TokenBucketConfig {
        capacity: 100,
        retry_cost: 5,
        timeout_retry_cost: 10,
        success_refund: 1,
    };
    let config = FleetBudgetConfig::new("search", bucket).with_batch(20);
    let mut budgets = Vec::new();
    for _ in 0..3 {
        budgets.push(
            FleetBudget::start(config.clone(), Arc::new(store.clone()))
                .await
                .unwrap(),
        );
    }
    let mut retries = 0;
    for _ in 0..10 {
        for b in &budgets {
            while b.try_withdraw(ErrorClass::Transient).is_some() {
                retries += 1;
            }
            b.sync_now().await;
        }
    }
    assert_eq!(
        retries, 20,
        "100 tokens at 5 a retry: 20 retries for the fleet"
    );
    assert_eq!(store.tokens("search"), Some(0));

    // A success refunds the replica's batch first, then the store.
    budgets[0].record_success(None);
    assert_eq!(budgets[0].leased_tokens(), 1);

    store.set_available(false);
    budgets[1].sync_now().await;
    assert!(!budgets[1].is_fleet());
    assert!(
        budgets[1].try_withdraw(ErrorClass::Transient).is_some(),
        "the local fallback budget (100 tokens) pays while the store is down"
    );
    store.set_available(true);
    budgets[1].sync_now().await;
    assert!(budgets[1].is_fleet());
}

#[test]
fn fallbacks_and_resyncs_are_counted() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = InMemoryFleetStore::new();
            let config = FleetBudgetConfig::new("metered", TokenBucketConfig::default());
            let budget = FleetBudget::start(config, Arc::new(store.clone()))
                .await
                .unwrap();
            while budget.is_fleet() && budget.leased_tokens() >= 25 {
                budget.try_withdraw(ErrorClass::Transient);
            }
            store.set_available(false);
            budget.sync_now().await;
            budget.sync_now().await;
            store.set_available(true);
            budget.sync_now().await;
        });
    });
    let snapshot = snapshotter.snapshot().into_vec();
    let value = |name: &str| {
        snapshot
            .iter()
            .find(|(k, _, _, _)| {
                k.key().name() == name && k.key().labels().any(|l| l.value() == "metered")
            })
            .map(|(_, _, _, v)| v)
            .unwrap_or_else(|| panic!("{name} not recorded"))
    };
    assert!(
        matches!(
            value("resilience_fleet_fallbacks_total"),
            DebugValue::Counter(1)
        ),
        "one outage, one fallback"
    );
    assert!(matches!(
        value("resilience_fleet_resyncs_total"),
        DebugValue::Counter(1)
    ));
    assert!(
        matches!(value("resilience_fleet_store_up"), DebugValue::Gauge(g) if g.into_inner() == 1.0)
    );
    assert!(matches!(value("resilience_fleet_store_ops_total"), DebugValue::Counter(n) if *n >= 4));
}

#[tokio::test]
async fn replicas_share_one_ratio_window() {
    use resilience_core::retry::RatioBudgetConfig;

    let clock = ManualClock::new();
    let store = InMemoryFleetStore::with_clock(clock.clone());
    let rule = RatioBudgetConfig {
        ttl: Duration::from_secs(10),
        min_retries_per_sec: 0,
        percent_can_retry: 0.1,
    };
    let config = FleetBudgetConfig::ratio("llm", rule).with_batch(2);
    let mut budgets = Vec::new();
    for _ in 0..3 {
        let store = Arc::new(store.clone());
        budgets.push(
            FleetBudget::start_with_clock(config.clone(), store, clock.clone())
                .await
                .unwrap(),
        );
    }
    // One replica makes all 100 calls; any replica may spend the retries
    // they allow.
    for _ in 0..100 {
        budgets[0].record_request();
    }
    budgets[0].sync_now().await;
    let mut retries = 0;
    for _ in 0..10 {
        for b in &budgets {
            while b.try_withdraw(ErrorClass::Transient).is_some() {
                retries += 1;
            }
            b.sync_now().await;
        }
    }
    assert_eq!(retries, 10, "10 % of the fleet's 100 calls: 10 retries");

    // 10 s later the calls and retries have left the window.
    clock.advance(Duration::from_secs(10));
    for _ in 0..20 {
        budgets[1].record_request();
    }
    for b in &budgets {
        b.sync_now().await;
    }
    let mut retries = 0;
    for _ in 0..5 {
        for b in &budgets {
            while b.try_withdraw(ErrorClass::Transient).is_some() {
                retries += 1;
            }
            b.sync_now().await;
        }
    }
    assert_eq!(retries, 2, "10 % of the 20 calls in the new window");
}

#[tokio::test]
async fn a_waiting_replica_runs_its_own_trials_once_the_fleet_has_closed() {
    use resilience_store::fleet::FleetStore;

    let clock = ManualClock::new();
    let store = InMemoryFleetStore::with_clock(clock.clone());
    let fleet = fleet(&clock, &store, 3);
    trip(&fleet[0]);
    round(&fleet).await;
    // Another replica (not in this test) holds the fleet's one probe lease.
    assert!(store
        .acquire_probe("provider", "elsewhere", 1, Duration::from_secs(600))
        .await
        .unwrap());
    clock.advance(Duration::from_secs(30));
    round(&fleet).await;
    assert_eq!(fleet[0].driver.status().role, FleetRole::Waiting);
    assert_eq!(fleet[0].breaker.state(), CircuitState::ForcedOpen);
    // No quorum is open and the others are closed: r0's own trial decides.
    round(&fleet).await;
    assert_eq!(fleet[0].driver.status().role, FleetRole::Local);
    assert_eq!(fleet[0].breaker.state(), CircuitState::HalfOpen);
}

#[test]
fn a_scoped_budget_config_names_what_is_missing() {
    use resilience_core::config::from_yaml_str;
    use resilience_store::fleet::ScopedBudgetConfig;

    let no_store: ScopedBudgetConfig = from_yaml_str("kind: token_bucket\nscope: fleet\n").unwrap();
    assert_eq!(no_store.fleet_config().unwrap_err().field(), Some("fleet"));
    let stray: ScopedBudgetConfig =
        from_yaml_str("kind: token_bucket\nfleet: { url: 'redis://x/', key: k }\n").unwrap();
    assert_eq!(stray.fleet_config().unwrap_err().field(), Some("fleet"));
    let bad_batch: ScopedBudgetConfig = from_yaml_str(
        "kind: token_bucket\ncapacity: 100\nscope: fleet\nfleet: { url: 'redis://x/', key: k, batch: 1000 }\n",
    )
    .unwrap();
    let err = bad_batch.fleet_config().unwrap_err();
    assert_eq!(err.field(), Some("fleet.batch"), "{err}");
    let ratio: ScopedBudgetConfig = from_yaml_str(
        "kind: ratio\npercent_can_retry: 0.1\nscope: fleet\nfleet: { url: 'redis://x/', key: llm, batch: 10 }\n",
    )
    .unwrap();
    assert!(ratio.fleet_config().unwrap().is_some());
    assert!(from_yaml_str::<ScopedBudgetConfig>("kind: token_bucket\nscope: galaxy\n").is_err());
}

#[tokio::test]
async fn the_fleet_wide_failure_rate_opens_replicas_whose_own_windows_did_not() {
    let clock = ManualClock::new();
    let store = InMemoryFleetStore::with_clock(clock.clone());
    // Each breaker opens at 50 % of 20 calls; the fleet at 30 % of its
    // replicas' windows, with failures from at least 2 replicas.
    let config = CircuitBreakerConfig::new()
        .name("search")
        .count_window(20)
        .minimum_calls(20)
        .failure_rate_threshold(0.5);
    let replicas: Vec<Replica> = (0..3)
        .map(|i| {
            let breaker = CircuitBreaker::with_clock(config.clone(), clock.clone()).unwrap();
            let driver = FleetBreaker::with_clock(
                breaker.clone(),
                Arc::new(store.clone()),
                FleetBreakerConfig::new()
                    .with_replica(format!("r{i}"))
                    .with_failure_rate_threshold(0.3)
                    .with_minimum_calls(60),
                clock.clone(),
            )
            .unwrap();
            Replica { breaker, driver }
        })
        .collect();
    for (r, failures) in replicas.iter().zip([9, 9, 0]) {
        for n in 0..20 {
            let p = r.breaker.try_acquire().unwrap();
            if n < failures {
                p.record_failure();
            } else {
                p.record_success();
            }
        }
        assert_eq!(
            r.breaker.state(),
            CircuitState::Closed,
            "45 % is under each breaker's 50 %"
        );
    }
    round(&replicas).await;
    round(&replicas).await;
    let status = replicas[2].driver.status();
    assert_eq!(
        status.failure_rate,
        Some(0.3),
        "18 failures in the fleet's 60 calls"
    );
    assert_eq!(
        states(&replicas),
        [CircuitState::ForcedOpen; 3],
        "30 % fleet-wide, from 2 replicas: the fleet opens"
    );

    // One open duration later the followers' frozen windows no longer
    // count: one replica probes under the lease; its trials succeed and
    // the fleet closes. A rate-opened fleet does not hold itself open.
    clock.advance(config.open_duration);
    for _ in 0..3 {
        round(&replicas).await;
        clock.advance(Duration::from_millis(250)); // poll_interval
        for r in &replicas {
            while r.breaker.state() == CircuitState::HalfOpen {
                match r.breaker.try_acquire() {
                    Ok(p) => p.record_success(),
                    Err(_) => break,
                }
            }
        }
    }
    round(&replicas).await;
    assert_eq!(states(&replicas), [CircuitState::Closed; 3]);
}

// ---------------------------------------------------------------- rate limit

use resilience_core::rate_limit::{RateLimit, RateLimiterConfig};
use resilience_store::fleet::{FleetRateLimiter, FleetRateLimiterConfig, FleetStore};

#[tokio::test]
async fn the_rate_bucket_starts_full_refills_one_token_per_interval_and_caps_at_the_burst() {
    let clock = ManualClock::new();
    let store = InMemoryFleetStore::with_clock(clock.clone());
    let per = Duration::from_millis(100);
    assert_eq!(
        store.lease_rate("r", 6, 10, per).await.unwrap(),
        6,
        "starts full: 10"
    );
    assert_eq!(
        store.lease_rate("r", 6, 10, per).await.unwrap(),
        4,
        "4 left"
    );
    assert_eq!(store.lease_rate("r", 1, 10, per).await.unwrap(), 0, "empty");
    clock.advance(Duration::from_millis(99));
    assert_eq!(
        store.lease_rate("r", 5, 10, per).await.unwrap(),
        0,
        "not before 100 ms"
    );
    clock.advance(Duration::from_millis(1));
    assert_eq!(
        store.lease_rate("r", 5, 10, per).await.unwrap(),
        1,
        "one token per 100 ms"
    );
    clock.advance(Duration::from_millis(250));
    assert_eq!(
        store.lease_rate("r", 5, 10, per).await.unwrap(),
        2,
        "250 ms: two whole tokens"
    );
    assert_eq!(
        store.lease_rate("r", 0, 10, per).await.unwrap(),
        0,
        "asking for none takes none"
    );
    clock.advance(Duration::from_secs(3600));
    assert_eq!(
        store.lease_rate("r", 50, 10, per).await.unwrap(),
        10,
        "an idle hour refills the burst of 10, no more"
    );
    assert_eq!(
        store.lease_rate("other", 3, 3, per).await.unwrap(),
        3,
        "keys are independent"
    );
    store.set_available(false);
    assert!(store.lease_rate("r", 1, 10, per).await.is_err());
}

/// `n` replicas of one fleet-wide limiter, each on its own handle of `store`.
async fn rate_replicas(
    store: &InMemoryFleetStore,
    clock: &ManualClock,
    config: &FleetRateLimiterConfig,
    n: usize,
) -> Vec<FleetRateLimiter> {
    let mut out = Vec::new();
    for _ in 0..n {
        let store: Arc<dyn FleetStore> = Arc::new(store.clone());
        out.push(
            FleetRateLimiter::start_with_clock(config.clone(), store, clock.clone())
                .await
                .unwrap(),
        );
    }
    out
}

#[tokio::test]
async fn three_replicas_share_one_rate_within_one_batch_each() {
    let clock = ManualClock::new();
    let store = InMemoryFleetStore::with_clock(clock.clone());
    // 100 calls a second for the fleet, bursts of 10, leased 5 at a time.
    let (rate, burst, batch) = (100u64, 10u64, 5u64);
    let config = FleetRateLimiterConfig::new(
        "geocoder",
        RateLimiterConfig::per_second(rate as u32).burst(burst as u32),
    )
    .with_batch(batch as u32);
    let replicas = rate_replicas(&store, &clock, &config, 3).await;
    // Each replica tries a call every millisecond for 10 s (30 times the rate).
    let mut admitted = [0u64; 3];
    for step in 0..10_000 {
        // Who asks first turns round, as it would between processes.
        for k in 0..3 {
            let i = (step + k) % 3;
            let r = &replicas[i];
            if r.try_acquire().is_ok() {
                admitted[i] += 1;
            }
            r.sync_now().await; // the background task, promptly
        }
        clock.advance(Duration::from_millis(1));
    }
    let total: u64 = admitted.iter().sum();
    let bound = burst + rate * 10;
    assert!(
        total <= bound && total + 3 * batch >= bound,
        "3 replicas sharing 100/s for 10 s admit 1 010 (burst 10 + 1 000) less at most one batch of 5 each: {total} ({admitted:?})"
    );
    assert!(
        admitted.iter().all(|&n| n > 0),
        "every replica got tokens: {admitted:?}"
    );
    assert!(replicas.iter().all(FleetRateLimiter::is_fleet));
}

#[tokio::test]
async fn with_the_store_down_every_replica_serves_on_its_local_share_and_resynchronises() {
    let clock = ManualClock::new();
    let store = InMemoryFleetStore::with_clock(clock.clone());
    let config = FleetRateLimiterConfig::new("search", RateLimiterConfig::per_second(90).burst(30))
        .with_batch(5)
        .with_fallback_replicas(3);
    let replicas = rate_replicas(&store, &clock, &config, 3).await;
    store.set_available(false);
    for r in &replicas {
        // Spending the leased batch makes the replica ask for the next one.
        r.try_acquire_n(r.leased_tokens()).unwrap();
        r.sync_now().await;
        assert!(!r.is_fleet(), "falls back at the first failed store call");
    }
    // One second of calls every millisecond: each replica admits its local
    // share, 90 / 3 = 30 per second plus its burst of 30 / 3 = 10.
    let mut admitted = [0u32; 3];
    for _ in 0..=1_000 {
        for (i, r) in replicas.iter().enumerate() {
            if r.try_acquire().is_ok() {
                admitted[i] += 1;
            }
        }
        clock.advance(Duration::from_millis(1));
    }
    assert_eq!(
        admitted,
        [40, 40, 40],
        "30/s + a burst of 10 each while the store is down"
    );
    store.set_available(true);
    for r in &replicas {
        r.sync_now().await;
        assert!(r.is_fleet(), "back on fleet tokens once the store answers");
        assert!(r.leased_tokens() > 0);
    }
}

#[tokio::test]
async fn a_refused_call_asks_for_a_refill_and_says_when_tokens_are_due() {
    let clock = ManualClock::new();
    let store = InMemoryFleetStore::with_clock(clock.clone());
    let config =
        FleetRateLimiterConfig::new("provider", RateLimiterConfig::per_second(10).burst(4))
            .with_batch(2);
    let r = &rate_replicas(&store, &clock, &config, 1).await[0];
    r.try_acquire_n(2).unwrap();
    let refused = r.try_acquire_n(3).unwrap_err();
    assert_eq!(
        refused.retry_after(),
        Duration::from_millis(300),
        "3 missing tokens at 10/s"
    );
    r.sync_now().await;
    assert_eq!(
        r.leased_tokens(),
        2,
        "the lease asked for 3; the bucket held 2"
    );
    assert!(
        r.try_acquire_n(5).unwrap_err().exceeds_burst(),
        "more than the burst of 4, ever"
    );
}

#[test]
fn a_scoped_rate_limit_config_names_what_is_missing() {
    use resilience_store::fleet::ScopedRateLimitConfig;
    let parse =
        |y: &str| resilience_core::config::from_yaml_str::<ScopedRateLimitConfig>(y).unwrap();
    let e = parse("rate: 10\nfleet: { url: 'redis://127.0.0.1/', key: k }")
        .fleet_config()
        .unwrap_err();
    assert_eq!(e.field(), Some("fleet"));
    let e =
        parse("rate: 10\nscope: fleet\nfleet: { url: 'redis://127.0.0.1/', key: k, batch: 11 }")
            .fleet_config()
            .unwrap_err();
    assert_eq!(e.field(), Some("fleet.batch"));
    let e = parse("rate: 0\nscope: fleet\nfleet: { url: 'redis://127.0.0.1/', key: k }")
        .fleet_config()
        .unwrap_err();
    assert_eq!(e.field(), Some("rate"));
    let c = parse("rate: 10\nscope: fleet\nfleet: { url: 'redis://127.0.0.1/', key: k }")
        .fleet_config()
        .unwrap()
        .unwrap();
    assert_eq!(
        c.batch, 10,
        "the default batch of 50 is lowered to the burst"
    );
    assert!(
        resilience_core::config::from_yaml_str::<ScopedRateLimitConfig>("rate: 10\nbrust: 3")
            .is_err(),
        "a typo is an unknown field"
    );
}
