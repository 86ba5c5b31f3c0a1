//! Fallback chains: order, stale marker, classification, exhaustion, and an
//! open breaker falling through to the next provider.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use resilience_core::circuit_breaker::{
    CircuitBreaker, CircuitBreakerConfig, CircuitOpen, Outcome,
};
use resilience_tower::circuit_breaker::CircuitBreakerLayer;
use resilience_tower::fallback::{ClassifiedAsFailure, FallbackExhausted, FallbackLayer, Quality};
use tower::{service_fn, BoxError, Layer, Service, ServiceBuilder, ServiceExt};

#[derive(Clone, Debug, PartialEq)]
struct Reply {
    status: u16,
    body: &'static str,
}

fn provider(
    calls: Arc<AtomicUsize>,
    reply: Result<Reply, &'static str>,
) -> impl Service<
    u32,
    Response = Reply,
    Error = BoxError,
    Future = impl std::future::Future<Output = Result<Reply, BoxError>> + Send,
> + Clone
       + Send
       + Sync {
    service_fn(move |_: u32| {
        calls.fetch_add(1, Ordering::SeqCst);
        let reply = reply.clone();
        async move { reply.map_err(BoxError::from) }
    })
}

fn ok(body: &'static str) -> Result<Reply, &'static str> {
    Ok(Reply { status: 200, body })
}

#[tokio::test]
async fn primary_success_skips_the_chain() {
    let b_calls = Arc::new(AtomicUsize::new(0));
    let mut svc = FallbackLayer::new("a")
        .or("b", provider(b_calls.clone(), ok("b")))
        .layer(provider(Arc::default(), ok("a")));
    let served = svc.ready().await.unwrap().call(1).await.unwrap();
    assert_eq!(served.response.body, "a");
    assert!(served.source.is_primary());
    assert_eq!(served.source.quality(), &Quality::Fresh);
    assert!(served.source.failures().is_empty());
    assert_eq!(b_calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn steps_are_tried_in_order_and_the_stale_marker_shows() {
    let calls: Vec<Arc<AtomicUsize>> = (0..4).map(|_| Arc::default()).collect();
    let mut svc = FallbackLayer::new("graph_db")
        .or("replica", provider(calls[1].clone(), Err("replica down")))
        .or_stale("cache", provider(calls[2].clone(), ok("cached")))
        .or_degraded(
            "empty",
            "graph unavailable",
            provider(calls[3].clone(), ok("")),
        )
        .layer(provider(calls[0].clone(), Err("graph db down")));
    let served = svc.ready().await.unwrap().call(7).await.unwrap();
    assert_eq!(served.response.body, "cached");
    assert_eq!(served.source.step(), 2);
    assert_eq!(served.source.name(), "cache");
    assert_eq!(served.source.quality(), &Quality::Stale);
    let why: Vec<String> = served
        .source
        .failures()
        .iter()
        .map(|f| format!("{f:?}"))
        .collect();
    assert_eq!(
        why,
        vec!["graph_db: graph db down", "replica: replica down"]
    );
    let counts: Vec<usize> = calls.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    assert_eq!(counts, vec![1, 1, 1, 0]);
}

#[tokio::test]
async fn degraded_step_carries_its_warning() {
    let mut svc = FallbackLayer::new("a")
        .or_degraded(
            "empty",
            "showing no results",
            provider(Arc::default(), ok("")),
        )
        .layer(provider(Arc::default(), Err("down")));
    let served = svc.ready().await.unwrap().call(1).await.unwrap();
    match served.source.quality() {
        Quality::Degraded { warning } => assert_eq!(&**warning, "showing no results"),
        other => panic!("expected degraded, got {other:?}"),
    }
}

#[tokio::test]
async fn classifier_moves_on_from_ok_503() {
    let classify = |r: &Result<Reply, BoxError>| match r {
        Ok(reply) if reply.status >= 500 => Outcome::Failure,
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Failure,
    };
    let mut svc = FallbackLayer::new("a")
        .or("b", provider(Arc::default(), ok("b")))
        .with_classifier(classify)
        .layer(provider(
            Arc::default(),
            Ok(Reply {
                status: 503,
                body: "overloaded",
            }),
        ));
    let served = svc.ready().await.unwrap().call(1).await.unwrap();
    assert_eq!(served.response.body, "b");
    assert!(served.source.failures()[0]
        .error
        .downcast_ref::<ClassifiedAsFailure>()
        .is_some());
}

#[tokio::test]
async fn exhausted_keeps_every_error() {
    let mut svc = FallbackLayer::new("a")
        .or("b", provider(Arc::default(), Err("b down")))
        .layer(provider(Arc::default(), Err("a down")));
    let err = svc.ready().await.unwrap().call(1).await.unwrap_err();
    let exhausted = err.downcast_ref::<FallbackExhausted>().unwrap();
    assert_eq!(exhausted.failures.len(), 2);
    assert_eq!(
        err.to_string(),
        "every fallback step failed: a: a down; b: b down"
    );
}

#[tokio::test]
async fn open_breaker_falls_through_to_provider_b() {
    let breaker = CircuitBreaker::new(CircuitBreakerConfig::new().consecutive_failures(2)).unwrap();
    let a_calls = Arc::new(AtomicUsize::new(0));
    let primary = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(breaker.clone()))
        .service(provider(a_calls.clone(), Err("a: 503")));
    let mut svc = FallbackLayer::new("provider_a")
        .or("provider_b", provider(Arc::default(), ok("b")))
        .layer(primary);
    for _ in 0..10 {
        let served = svc.ready().await.unwrap().call(1).await.unwrap();
        assert_eq!(served.source.name(), "provider_b");
    }
    // After two failures the breaker opened: provider A was not called again.
    assert_eq!(a_calls.load(Ordering::SeqCst), 2);
    let served = svc.ready().await.unwrap().call(1).await.unwrap();
    assert!(served.source.failures()[0]
        .error
        .downcast_ref::<CircuitOpen>()
        .is_some());
}
