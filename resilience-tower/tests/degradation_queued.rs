//! The workflow runtime's read-only level queues writes instead of refusing
//! them: a refused write becomes a dead letter, and is replayed once the
//! level allows writes again.

use std::sync::{Arc, Mutex};

use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
use resilience_core::clock::TokioClock;
use resilience_core::dead_letter::{DeadLetter, DeadLetterReason, InMemoryDeadLetterQueue};
use resilience_core::degradation::{ComponentHealth, DegradationManager};
use resilience_tower::dead_letter::{DeadLetterLayer, DeadLettered, QueuedFeature, Replayer};
use resilience_tower::degradation::{DegradationLayer, FeatureDisabled};
use tower::{service_fn, BoxError, Layer, Service, ServiceExt};

#[tokio::test(start_paused = true)]
async fn read_only_queues_writes_in_the_dead_letter_queue_and_replays_them_when_writes_are_back() {
    let levels =
        DegradationManager::new(resilience_core::presets::workflow_runtime::degradation().unwrap())
            .unwrap();
    let writes = levels.feature("writes").unwrap();
    let written = Arc::new(Mutex::new(Vec::new()));
    let sink = written.clone();
    let database = service_fn(move |row: String| {
        let sink = sink.clone();
        async move {
            sink.lock().unwrap().push(row.clone());
            Ok::<_, BoxError>(row)
        }
    });
    let below =
        DegradationLayer::new(levels.clone(), move |_: &String| Some(writes)).layer(database);
    let queue =
        InMemoryDeadLetterQueue::<DeadLetter<String>>::with_clock("writes", 100, TokioClock)
            .unwrap();
    let svc = DeadLetterLayer::new("writes", queue.clone())
        .when(QueuedFeature::new())
        .layer(below.clone());

    assert_eq!(svc.clone().oneshot("row 0".into()).await.unwrap(), "row 0");

    levels
        .report_by_name("metadata_db_primary", ComponentHealth::Down)
        .unwrap();
    assert_eq!(levels.level().name(), "read_only");
    for row in ["row 1", "row 2"] {
        let err = svc.clone().oneshot(row.to_string()).await.unwrap_err();
        let queued = err
            .downcast_ref::<DeadLettered>()
            .unwrap_or_else(|| panic!("read-only: writes are queued, not refused ({err})"));
        assert_eq!(
            queued.reason(),
            &DeadLetterReason::Other("feature `writes` is `queued` at level `read_only`".into())
        );
    }
    assert_eq!(
        queue
            .snapshot()
            .iter()
            .map(|l| l.item.as_str())
            .collect::<Vec<_>>(),
        ["row 1", "row 2"],
        "the queued writes wait in the dead-letter queue"
    );
    assert_eq!(
        *written.lock().unwrap(),
        ["row 0"],
        "nothing reached the database"
    );

    // Maintenance turns writes `off`: refused, not queued.
    levels.set_manual_floor(Some("maintenance")).unwrap();
    let err = svc.clone().oneshot("row 3".into()).await.unwrap_err();
    assert!(err.downcast_ref::<DeadLettered>().is_none(), "{err}");
    assert_eq!(
        err.downcast_ref::<FeatureDisabled>().unwrap().mode(),
        Some("off")
    );
    levels.set_manual_floor(None).unwrap();

    // Still read-only: a replay leaves the letters queued.
    let replayer = Replayer::new(
        queue.clone(),
        CircuitBreaker::new(CircuitBreakerConfig::new().name("writes")).unwrap(),
        below,
    );
    let report = replayer.replay_once().await.unwrap();
    assert_eq!(report.replayed, 0, "still read-only: nothing replayed");
    assert_eq!(queue.len(), 2);

    // The primary is back: the replay writes both, in order.
    levels
        .report_by_name("metadata_db_primary", ComponentHealth::Healthy)
        .unwrap();
    assert_eq!(levels.level().name(), "full_operation");
    tokio::time::advance(std::time::Duration::from_secs(3600)).await;
    let mut replayed = 0;
    for _ in 0..5 {
        replayed += replayer.replay_once().await.unwrap().replayed;
        if queue.is_empty() {
            break;
        }
        tokio::time::advance(std::time::Duration::from_secs(3600)).await;
    }
    assert_eq!(replayed, 2);
    assert_eq!(*written.lock().unwrap(), ["row 0", "row 1", "row 2"]);
    let mut svc = svc;
    assert_eq!(
        svc.ready()
            .await
            .unwrap()
            .call("row 4".into())
            .await
            .unwrap(),
        "row 4"
    );
}
