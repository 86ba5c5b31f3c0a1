//! Chaos layer behaviour under a paused tokio clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use resilience_tower::chaos::{
    Chaos, ChaosConfig, DelayDistribution, FaultKind, InjectedFault, LatencyFault,
};
use tower::{service_fn, BoxError, Layer, Service, ServiceExt};

fn inner(
    calls: Arc<AtomicUsize>,
) -> impl Service<
    u32,
    Response = u32,
    Error = BoxError,
    Future = impl std::future::Future<Output = Result<u32, BoxError>>,
> + Clone {
    service_fn(move |x: u32| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<_, BoxError>(x) }
    })
}

async fn outcomes(seed: u64) -> (Vec<Result<u32, String>>, usize) {
    let chaos = Chaos::new(ChaosConfig {
        enabled: true,
        seed,
        error_rate: 0.2,
        abort_rate: 0.2,
        latency: None,
    })
    .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = resilience_tower::chaos::ChaosLayer::new(chaos).layer(inner(calls.clone()));
    let mut out = Vec::new();
    for i in 0..200 {
        out.push(
            svc.ready()
                .await
                .unwrap()
                .call(i)
                .await
                .map_err(|e| e.to_string()),
        );
    }
    (out, calls.load(Ordering::SeqCst))
}

#[tokio::test]
async fn same_seed_same_faults() {
    let (a, calls_a) = outcomes(1).await;
    let (b, calls_b) = outcomes(1).await;
    let (c, _) = outcomes(2).await;
    assert_eq!(a, b);
    assert_eq!(calls_a, calls_b);
    assert_ne!(a, c);
}

#[tokio::test]
async fn errors_skip_the_inner_service_and_aborts_do_not() {
    let calls = Arc::new(AtomicUsize::new(0));
    let chaos = Chaos::new(ChaosConfig {
        enabled: true,
        error_rate: 1.0,
        ..ChaosConfig::default()
    })
    .unwrap();
    let mut svc =
        resilience_tower::chaos::ChaosLayer::new(chaos.clone()).layer(inner(calls.clone()));
    let e = svc.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(
        e.downcast_ref::<InjectedFault>().unwrap().kind,
        FaultKind::Error
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    chaos.set_error_rate(0.0).unwrap();
    chaos.set_abort_rate(1.0).unwrap();
    let e = svc.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(
        e.downcast_ref::<InjectedFault>().unwrap().kind,
        FaultKind::Abort
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "an abort happens after the inner call ran"
    );

    chaos.disable();
    assert_eq!(svc.ready().await.unwrap().call(5).await.unwrap(), 5);
    let s = chaos.stats();
    assert_eq!((s.calls, s.errors, s.aborts), (2, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn latency_is_injected_on_the_tokio_clock() {
    let chaos = Chaos::new(ChaosConfig {
        enabled: true,
        latency: Some(LatencyFault::fixed(1.0, Duration::from_millis(500))),
        ..ChaosConfig::default()
    })
    .unwrap();
    let mut svc =
        resilience_tower::chaos::ChaosLayer::new(chaos.clone()).layer(inner(Arc::default()));
    let start = tokio::time::Instant::now();
    assert_eq!(svc.ready().await.unwrap().call(7).await.unwrap(), 7);
    assert_eq!(start.elapsed(), Duration::from_millis(500));

    chaos
        .set_latency(Some(LatencyFault {
            rate: 1.0,
            delay: Duration::from_millis(100),
            max: Some(Duration::from_millis(300)),
            distribution: DelayDistribution::Uniform,
        }))
        .unwrap();
    for _ in 0..50 {
        let start = tokio::time::Instant::now();
        svc.ready().await.unwrap().call(1).await.unwrap();
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(100) && took <= Duration::from_millis(300),
            "{took:?}"
        );
    }
    assert_eq!(chaos.stats().delayed, 51);
}
