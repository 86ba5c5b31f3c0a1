//! A whole stack from one YAML with `scope: fleet` on a real Redis
//! (`scripts/services.sh start`): three replicas, each with its own client,
//! built by `FleetStackConfig::build` from the same text. Skips with a
//! printed reason when `RESILIENCE_REDIS_URL` is unset, unless
//! `RESILIENCE_REQUIRE_SERVERS=1`. Measures the wall-clock bound the fleet
//! promises (a replica follows a quorum within 1 s), so it polls real time
//! against a deadline.

mod support;

use std::time::{Duration, Instant};

use resilience_core::circuit_breaker::CircuitState;
use resilience_store::fleet::stack::FleetStackConfig;
use resilience_store::fleet::FleetRole;
use support::{server_env, unique};
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_from_one_yaml_follow_a_quorum_on_redis_within_a_second() {
    let Some(url) = server_env("RESILIENCE_REDIS_URL") else {
        return;
    };
    let name = unique("stack");
    let text = format!(
        r#"
name: {name}
retry:
  backoff: {{ kind: constant, initial: 10ms, max_attempts: 2 }}
  budget:
    kind: token_bucket
    capacity: 100
    scope: fleet
    fleet: {{ url: "{url}", key: {name}, key_prefix: fleet-test, batch: 20 }}
circuit_breaker:
  consecutive_failures: 3
  open_duration: 30s
  scope: fleet
  fleet: {{ url: "{url}", key_prefix: fleet-test, quorum: 2, poll_interval: 250ms }}
"#
    );
    let config = FleetStackConfig::from_yaml(&text).unwrap();
    let mut fleet = Vec::new();
    for _ in 0..3 {
        fleet.push(config.build().await.unwrap());
    }
    for replica in &fleet {
        assert!(replica.budget.as_ref().unwrap().is_fleet(), "Redis answers");
    }
    for replica in &fleet[..2] {
        let mut svc = ServiceBuilder::new()
            .layer(replica.stack.clone())
            .service_fn(|_: ()| async {
                Err::<(), BoxError>(
                    std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into(),
                )
            });
        for _ in 0..3 {
            let _ = svc.ready().await.unwrap().call(()).await;
        }
        assert_eq!(
            replica.stack.breaker().unwrap().state(),
            CircuitState::Open,
            "opens after 3 consecutive failures"
        );
    }
    let third = &fleet[2];
    let start = Instant::now();
    while third.stack.breaker().unwrap().state() != CircuitState::ForcedOpen {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "the third replica follows the quorum of 2 within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!("the third replica followed after {:?}", start.elapsed());
    assert_eq!(
        third.breaker.as_ref().unwrap().status().role,
        FleetRole::Following
    );
}
