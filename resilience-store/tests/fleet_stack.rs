//! A whole stack from one YAML file with `scope: fleet` on its retry
//! budget and its breaker (`fleet::stack`): three replicas built from the
//! same text share an in-memory fleet store, on a paused tokio clock; and
//! a YAML without fleet scope builds the very stack `StackConfig` builds.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use resilience_core::circuit_breaker::CircuitState;
use resilience_core::clock::TokioClock;
use resilience_core::config::from_yaml_str;
use resilience_store::fleet::stack::{FleetStack, FleetStackConfig};
use resilience_store::fleet::{FleetRole, FleetStore, InMemoryFleetStore};
use resilience_tower::stack::{ResilienceStack, StackConfig};
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

/// The inventory service's stack: a fleet budget of 50 tokens at 5 a retry
/// (10 retries for the whole fleet) and a breaker that opens after
/// `failures` consecutive failures, fleet-wide when 2 replicas have it open.
fn yaml(failures: u32) -> String {
    format!(
        r#"
name: inventory
retry:
  backoff: {{ kind: constant, initial: 10ms, max_attempts: 3 }}
  budget:
    kind: token_bucket
    capacity: 50
    retry_cost: 5
    timeout_retry_cost: 10
    success_refund: 1
    scope: fleet
    fleet: {{ url: "redis://127.0.0.1:1/", key: inventory, batch: 10 }}
circuit_breaker:
  consecutive_failures: {failures}
  open_duration: 30s
  scope: fleet
  fleet: {{ url: "redis://127.0.0.1:1/", quorum: 2, poll_interval: 250ms, view_ttl: 3s, probes: 1 }}
"#
    )
}

async fn replicas(text: &str, store: &Arc<dyn FleetStore>) -> Vec<FleetStack> {
    let config = FleetStackConfig::from_yaml(text).unwrap();
    let mut out = Vec::new();
    for _ in 0..3 {
        out.push(config.build_on(store.clone(), TokioClock).await.unwrap());
    }
    out
}

/// Calls `stack` `n` times with a dependency that refuses every connection;
/// counts the attempts in `attempts`.
async fn refused(stack: &FleetStack, attempts: &Arc<AtomicU32>, n: usize) {
    let attempts = attempts.clone();
    let mut svc = ServiceBuilder::new()
        .layer(stack.stack.clone())
        .service_fn(move |_: ()| {
            attempts.fetch_add(1, Ordering::Relaxed);
            async {
                Err::<(), BoxError>(
                    std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into(),
                )
            }
        });
    for _ in 0..n {
        assert!(svc.ready().await.unwrap().call(()).await.is_err());
    }
}

#[tokio::test(start_paused = true)]
async fn three_replicas_from_one_yaml_spend_one_fleet_retry_budget() {
    let store: Arc<dyn FleetStore> = Arc::new(InMemoryFleetStore::with_clock(TokioClock));
    // A breaker that never opens here: the budget alone bounds the retries.
    let fleet = replicas(&yaml(1000), &store).await;
    let attempts = Arc::new(AtomicU32::new(0));
    for replica in &fleet {
        assert!(replica.budget.as_ref().unwrap().is_fleet());
        refused(replica, &attempts, 10).await;
    }
    assert_eq!(
        attempts.load(Ordering::Relaxed),
        30 + 10,
        "30 calls and the fleet budget's 10 retries (3 local budgets would allow 30)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_quorum_of_two_replicas_opens_the_third_replicas_stack() {
    let store: Arc<dyn FleetStore> = Arc::new(InMemoryFleetStore::with_clock(TokioClock));
    let fleet = replicas(&yaml(3), &store).await;
    let attempts = Arc::new(AtomicU32::new(0));
    // Replicas 0 and 1 see the dependency refuse; replica 2 has no traffic.
    for replica in &fleet[..2] {
        refused(replica, &attempts, 3).await;
        assert_eq!(
            replica.stack.breaker().unwrap().state(),
            CircuitState::Open,
            "opens after 3 consecutive failures"
        );
    }
    let third = &fleet[2];
    assert_eq!(third.stack.breaker().unwrap().state(), CircuitState::Closed);
    // One poll interval (250 ms) and a round: the driver follows the fleet.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        third.stack.breaker().unwrap().state(),
        CircuitState::ForcedOpen,
        "the third replica opens within 1 s once a quorum of 2 is open"
    );
    let status = third.breaker.as_ref().unwrap().status();
    assert_eq!(status.role, FleetRole::Following);
    assert_eq!((status.live, status.open, status.needed), (3, 2, 2));

    // Its stack now fails fast: the dependency is not called.
    let before = attempts.load(Ordering::Relaxed);
    refused(third, &attempts, 1).await;
    assert_eq!(
        attempts.load(Ordering::Relaxed),
        before,
        "no call leaves an open stack"
    );
}

#[tokio::test(start_paused = true)]
async fn one_replica_alone_does_not_open_the_stacks_of_the_others() {
    let store: Arc<dyn FleetStore> = Arc::new(InMemoryFleetStore::with_clock(TokioClock));
    let fleet = replicas(&yaml(3), &store).await;
    let attempts = Arc::new(AtomicU32::new(0));
    refused(&fleet[0], &attempts, 3).await;
    assert_eq!(
        fleet[0].stack.breaker().unwrap().state(),
        CircuitState::Open
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    for replica in &fleet[1..] {
        assert_eq!(
            replica.stack.breaker().unwrap().state(),
            CircuitState::Closed,
            "a quorum of 2 is needed: one replica behind a bad path opens only itself"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn stopping_the_driver_lets_a_following_breaker_close() {
    let store: Arc<dyn FleetStore> = Arc::new(InMemoryFleetStore::with_clock(TokioClock));
    let mut fleet = replicas(&yaml(3), &store).await;
    let attempts = Arc::new(AtomicU32::new(0));
    for replica in &fleet[..2] {
        refused(replica, &attempts, 3).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let third = &mut fleet[2];
    assert_eq!(
        third.stack.breaker().unwrap().state(),
        CircuitState::ForcedOpen
    );
    let last = third.stop_breaker().unwrap();
    assert_eq!(last.role, FleetRole::Following);
    assert_eq!(
        third.stack.breaker().unwrap().state(),
        CircuitState::Closed,
        "without the fleet, its own window (no failures) decides"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        third.stack.breaker().unwrap().state(),
        CircuitState::Closed,
        "no round runs after the stop"
    );
}

/// Stacks as local YAML describes them, from the plain to the full.
const LOCAL: &[&str] = &[
    "",
    "timeout: 250ms",
    "name: payments\ndeadline: 10s\ntimeout: 2s\nbulkhead: { max_concurrent: 4, max_wait: 50ms }\n\
     retry: { backoff: { kind: exponential, initial: 100ms, max: 2s, max_attempts: 4 } }",
    "name: llm\ncircuit_breaker: { failure_rate_threshold: 0.5, minimum_calls: 20, window: { time: 60s }, open_duration: 30s }\n\
     retry: { backoff: { kind: constant, initial: 10ms }, budget: { kind: token_bucket, capacity: 100 } }",
    "circuit_breaker: { consecutive_failures: 5, scope: local }\n\
     retry: { backoff: { kind: constant, initial: 10ms }, budget: { kind: ratio, percent_can_retry: 0.2, scope: local } }",
];

fn without_scope_lines(text: &str) -> String {
    text.replace(", scope: local", "")
}

#[tokio::test]
async fn local_scope_yaml_builds_exactly_the_stack_config_stack() {
    for text in LOCAL {
        let fleet_config = FleetStackConfig::from_yaml(text).unwrap();
        assert!(!fleet_config.is_fleet(), "{text:?} has no fleet part");
        let plain: StackConfig = from_yaml_str(&without_scope_lines(text)).unwrap();
        assert_eq!(
            serde_json::to_value(&fleet_config.stack).unwrap(),
            serde_json::to_value(&plain).unwrap(),
            "{text:?} reads as StackConfig reads it"
        );
        let store: Arc<dyn FleetStore> = Arc::new(InMemoryFleetStore::new());
        let built = fleet_config
            .build_on(store.clone(), TokioClock)
            .await
            .unwrap();
        assert!(built.budget.is_none() && built.breaker.is_none());
        let expected = ResilienceStack::with_clock(plain, TokioClock).unwrap();
        assert_eq!(
            format!("{:?}", built.stack),
            format!("{expected:?}"),
            "{text:?} builds the same stack"
        );
        // The breaker's Debug names only its state: compare its whole config.
        assert_eq!(
            built
                .stack
                .breaker()
                .map(|b| serde_json::to_value(b.config()).unwrap()),
            expected
                .breaker()
                .map(|b| serde_json::to_value(b.config()).unwrap()),
            "{text:?} builds the same breaker"
        );
        assert_eq!(
            store
                .exchange_views(
                    "inventory",
                    &resilience_store::fleet::BreakerView::new(
                        "probe",
                        resilience_store::fleet::ViewState::Closed,
                        0,
                        0
                    ),
                    Duration::from_secs(3)
                )
                .await
                .unwrap()
                .len(),
            1,
            "a local stack publishes nothing to the store"
        );
    }
}

#[tokio::test]
async fn a_fleet_yaml_builds_the_local_stack_plus_the_fleet_parts() {
    let text = yaml(3);
    let fleet_config = FleetStackConfig::from_yaml(&text).unwrap();
    // The same YAML with the fleet lines taken out.
    let local: String = text
        .lines()
        .filter(|l| !l.contains("scope: fleet") && !l.contains("fleet: {"))
        .collect::<Vec<_>>()
        .join("\n");
    let plain: StackConfig = from_yaml_str(&local).unwrap();
    assert_eq!(
        serde_json::to_value(&fleet_config.stack).unwrap(),
        serde_json::to_value(&plain).unwrap()
    );
    let store: Arc<dyn FleetStore> = Arc::new(InMemoryFleetStore::new());
    let built = fleet_config.build_on(store, TokioClock).await.unwrap();
    let budget = built.budget.clone().unwrap();
    let spent = built.stack.retry_policy().unwrap().budget().unwrap();
    assert_eq!(
        format!("{spent:?}"),
        format!("{budget:?}"),
        "the stack's retries spend the fleet budget"
    );
    let driver = built.breaker.as_ref().unwrap();
    assert_eq!(
        driver.breaker().name(),
        "inventory",
        "the breaker's key is the stack's name"
    );
}
