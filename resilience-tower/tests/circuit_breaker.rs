//! The circuit breaker layer: short-circuiting, classification, cancellation,
//! keyed breakers. Time is a `ManualClock` shared with the breaker.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use resilience_core::circuit_breaker::{
    CircuitBreaker, CircuitBreakerConfig, CircuitBreakerRegistry, CircuitOpen, CircuitState,
    Outcome, RegistryFull,
};
use resilience_core::clock::ManualClock;
use resilience_tower::circuit_breaker::{
    CircuitBreakerLayer, KeyExtractor, KeyedCircuitBreakerLayer,
};
use resilience_tower::error::ErrorKind;
use tower::{service_fn, BoxError, Layer, Service, ServiceBuilder, ServiceExt};

fn counted<F>(
    calls: Arc<AtomicUsize>,
    f: F,
) -> impl Service<
    u32,
    Response = u32,
    Error = &'static str,
    Future = std::future::Ready<Result<u32, &'static str>>,
> + Clone
where
    F: Fn(u32) -> Result<u32, &'static str> + Clone,
{
    service_fn(move |x: u32| {
        calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(f(x))
    })
}

async fn call<S: Service<u32, Error = BoxError>>(
    svc: &mut S,
    x: u32,
) -> Result<S::Response, BoxError> {
    svc.ready().await?.call(x).await
}

#[tokio::test]
async fn open_breaker_does_not_call_the_inner_service() {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::with_clock(
        CircuitBreakerConfig::new().consecutive_failures(3),
        clock.clone(),
    )
    .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc =
        CircuitBreakerLayer::new(breaker.clone()).layer(counted(calls.clone(), |_| Err("down")));
    for _ in 0..3 {
        let err = call(&mut svc, 1).await.unwrap_err();
        assert_eq!(err.to_string(), "down");
    }
    assert_eq!(breaker.state(), CircuitState::Open);
    for _ in 0..100 {
        let err = call(&mut svc, 1).await.unwrap_err();
        let open = err.downcast_ref::<CircuitOpen>().unwrap();
        assert_eq!(open.retry_after(), Duration::from_secs(30));
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "no call reached the dependency while open"
    );
    clock.advance(Duration::from_secs(30));
    let _ = call(&mut svc, 1).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        4,
        "the half-open trial reached it"
    );
}

#[tokio::test]
async fn classifier_decides_what_counts() {
    let breaker = CircuitBreaker::new(CircuitBreakerConfig::new().consecutive_failures(2)).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    // Odd inputs are "not found" (the caller's fault), 0 is a real failure.
    let inner = counted(calls, |x| match x {
        0 => Err("unavailable"),
        x if x % 2 == 1 => Err("not found"),
        x => Ok(x),
    });
    let classify = |r: &Result<u32, &'static str>| match r {
        Ok(_) => Outcome::Success,
        Err("not found") => Outcome::Ignored,
        Err(_) => Outcome::Failure,
    };
    let mut svc = CircuitBreakerLayer::new(breaker.clone())
        .with_classifier(classify)
        .layer(inner);
    for _ in 0..10 {
        let _ = call(&mut svc, 1).await;
    }
    assert_eq!(breaker.state(), CircuitState::Closed);
    let _ = call(&mut svc, 0).await;
    let _ = call(&mut svc, 3).await; // ignored: does not break the run
    let _ = call(&mut svc, 0).await;
    assert_eq!(breaker.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn cancelled_trial_gives_its_slot_back() {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::with_clock(
        CircuitBreakerConfig::new()
            .consecutive_failures(1)
            .half_open_permits(1),
        clock.clone(),
    )
    .unwrap();
    let slow = service_fn(|ms: u64| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok::<_, BoxError>(ms)
    });
    let mut svc = CircuitBreakerLayer::new(breaker.clone()).layer(slow);
    breaker.try_acquire().unwrap().record_failure();
    clock.advance(Duration::from_secs(30));
    // The trial is cancelled by a client timeout...
    let trial = svc.ready().await.unwrap().call(10_000);
    assert!(tokio::time::timeout(Duration::from_millis(5), trial)
        .await
        .is_err());
    // ...and the next request can be the trial.
    assert_eq!(svc.ready().await.unwrap().call(1).await.unwrap(), 1);
    assert_eq!(breaker.state(), CircuitState::Closed);
}

#[tokio::test]
async fn concurrent_trials_are_limited() {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::with_clock(
        CircuitBreakerConfig::new()
            .consecutive_failures(1)
            .half_open_permits(2),
        clock.clone(),
    )
    .unwrap();
    let svc = CircuitBreakerLayer::new(breaker.clone())
        .layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
    breaker.try_acquire().unwrap().record_failure();
    clock.advance(Duration::from_secs(30));
    let mut a = svc.clone();
    let mut b = svc.clone();
    let mut c = svc.clone();
    let fa = a.ready().await.unwrap().call(1);
    let fb = b.ready().await.unwrap().call(2);
    let fc = c.ready().await.unwrap().call(3);
    let err = fc.await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<CircuitOpen>().unwrap().state(),
        CircuitState::HalfOpen
    );
    assert_eq!(fa.await.unwrap() + fb.await.unwrap(), 3);
}

#[tokio::test]
async fn keyed_layer_isolates_keys_and_checks_global_first() {
    let clock = ManualClock::new();
    let registry = Arc::new(
        CircuitBreakerRegistry::<u32>::builder(CircuitBreakerConfig::new().consecutive_failures(2))
            .clock(clock.clone())
            .global(CircuitBreakerConfig::new().consecutive_failures(5))
            .capacity(3)
            .build()
            .unwrap(),
    );
    let calls = Arc::new(AtomicUsize::new(0));
    // Worker 7 is broken; the others work. The key is the worker id.
    let inner = counted(
        calls.clone(),
        |w| if w == 7 { Err("gpu error") } else { Ok(w) },
    );
    let mut svc = KeyedCircuitBreakerLayer::new(registry.clone(), |w: &u32| *w).layer(inner);
    for _ in 0..2 {
        assert!(call(&mut svc, 7).await.is_err());
    }
    let err = call(&mut svc, 7).await.unwrap_err();
    assert!(err.downcast_ref::<CircuitOpen>().is_some());
    assert_eq!(call(&mut svc, 1).await.unwrap(), 1);
    assert_eq!(call(&mut svc, 2).await.unwrap(), 2);
    // Capacity 3 with worker 7's breaker open: a 4th worker evicts an idle
    // closed breaker (1 or 2), never 7's.
    assert_eq!(call(&mut svc, 3).await.unwrap(), 3);
    assert_eq!(registry.get(&7).unwrap().state(), CircuitState::Open);
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn keyed_layer_reports_a_full_registry() {
    let registry = Arc::new(
        CircuitBreakerRegistry::<u32>::builder(CircuitBreakerConfig::new().consecutive_failures(1))
            .capacity(1)
            .build()
            .unwrap(),
    );
    let mut svc = KeyedCircuitBreakerLayer::new(registry, |w: &u32| *w)
        .layer(service_fn(|_: u32| async { Err::<u32, _>("down") }));
    let _ = call(&mut svc, 1).await; // opens worker 1's breaker
    let err = call(&mut svc, 2).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<RegistryFull>(),
        Some(&RegistryFull { capacity: 1 })
    );
    // Local capacity, not the upstream's failure: its own kind, answered
    // 503 over HTTP (502 would blame the dependency, which was not called).
    assert_eq!(ErrorKind::of(&err), ErrorKind::RegistryFull);
    assert_eq!(ErrorKind::of(&err).as_str(), "registry_full");
    #[cfg(feature = "http")]
    assert_eq!(
        ErrorKind::of(&err).status(),
        http::StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn keyed_layer_infers_an_unannotated_key_closure_from_the_request_type() {
    #[derive(Debug)]
    struct Inference {
        model: String,
        fail: bool,
    }
    // K (String) comes from the closure's return type; neither the registry
    // nor the closure carries an annotation.
    let registry = Arc::new(
        CircuitBreakerRegistry::new(CircuitBreakerConfig::new().consecutive_failures(1)).unwrap(),
    );
    let mut svc = ServiceBuilder::new()
        .layer(KeyedCircuitBreakerLayer::for_requests::<Inference>(
            registry.clone(),
            |r| r.model.clone(),
        ))
        .service(service_fn(|r: Inference| async move {
            if r.fail {
                Err("model load failed")
            } else {
                Ok(r.model)
            }
        }));
    let req = |model: &str, fail| Inference {
        model: model.to_string(),
        fail,
    };
    assert!(call_with(&mut svc, req("sd3", true)).await.is_err());
    let err = call_with(&mut svc, req("sd3", false)).await.unwrap_err();
    assert!(err.downcast_ref::<CircuitOpen>().is_some());
    assert_eq!(
        call_with(&mut svc, req("flux", false)).await.unwrap(),
        "flux"
    );
    assert_eq!(
        registry.get(&"sd3".to_string()).unwrap().state(),
        CircuitState::Open
    );
    assert_eq!(
        registry.get(&"flux".to_string()).unwrap().state(),
        CircuitState::Closed
    );
}

#[tokio::test]
async fn keyed_layer_takes_a_named_key_extractor() {
    /// Routes by the worker id in the high bits of the request.
    #[derive(Debug, Clone, Copy)]
    struct Worker;
    impl KeyExtractor<u32> for Worker {
        type Key = u32;
        fn extract(&self, req: &u32) -> u32 {
            req >> 16
        }
    }
    let registry = Arc::new(
        CircuitBreakerRegistry::<u32>::new(CircuitBreakerConfig::new().consecutive_failures(2))
            .unwrap(),
    );
    let mut svc = KeyedCircuitBreakerLayer::new(registry.clone(), Worker).layer(service_fn(
        |r: u32| async move {
            if r >> 16 == 3 {
                Err("worker 3 is down")
            } else {
                Ok(r & 0xffff)
            }
        },
    ));
    for job in 0..2 {
        assert!(call_with(&mut svc, (3 << 16) | job).await.is_err());
    }
    let err = call_with(&mut svc, 3 << 16).await.unwrap_err();
    assert!(err.downcast_ref::<CircuitOpen>().is_some());
    assert_eq!(call_with(&mut svc, (4 << 16) | 9).await.unwrap(), 9);
    let mut keys: Vec<u32> = registry.states().into_iter().map(|(k, _)| k).collect();
    keys.sort_unstable();
    assert_eq!(keys, [3, 4]);
}

async fn call_with<S, Req>(svc: &mut S, req: Req) -> Result<S::Response, BoxError>
where
    S: Service<Req, Error = BoxError>,
{
    svc.ready().await?.call(req).await
}
