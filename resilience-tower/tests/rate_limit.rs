//! The rate limit layer, alone and as the stack's outermost layer: refusals
//! are immediate, never reach the service, carry `retry_after`, map to 429,
//! and a call takes one permit however many attempts it makes. Time is
//! tokio's paused clock, shared with the limiter through `TokioClock`.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use resilience_core::clock::TokioClock;
use resilience_core::rate_limit::{RateLimit, RateLimited, RateLimiterConfig};
use resilience_tower::error::ErrorKind;
use resilience_tower::rate_limit::RateLimitLayer;
use resilience_tower::stack::{ResilienceStack, StackConfig};
use tokio::time::Instant;
use tower::{service_fn, BoxError, Layer, Service, ServiceExt};

fn counting(
    calls: Arc<AtomicUsize>,
) -> impl Service<u32, Response = u32, Error = BoxError> + Clone {
    service_fn(move |x: u32| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<_, BoxError>(x) }
    })
}

#[tokio::test(start_paused = true)]
async fn the_layer_refuses_beyond_the_burst_at_once_without_calling_the_service() {
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = RateLimitLayer::from_config_with_clock(
        RateLimiterConfig::per_second(10).burst(3).name("geocoder"),
        TokioClock,
    )
    .unwrap();
    let mut svc = layer.layer(counting(calls.clone()));
    for i in 0..3 {
        assert_eq!(svc.ready().await.unwrap().call(i).await.unwrap(), i);
    }
    let start = Instant::now();
    let err = svc.ready().await.unwrap().call(9).await.unwrap_err();
    assert_eq!(Instant::now(), start, "refused at once, no waiting");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "the refused call never reached the service"
    );
    let limited = err
        .downcast_ref::<RateLimited>()
        .expect("a RateLimited error");
    assert_eq!(limited.name(), "geocoder");
    assert_eq!(
        limited.retry_after(),
        Duration::from_millis(100),
        "10 per second: the next permit is 100 ms away"
    );
    assert_eq!(
        ErrorKind::of(&err),
        ErrorKind::RateLimited {
            retry_after: Duration::from_millis(100)
        }
    );
    tokio::time::advance(Duration::from_millis(100)).await;
    assert!(
        svc.ready().await.unwrap().call(10).await.is_ok(),
        "a permit is back after retry_after"
    );
}

#[tokio::test(start_paused = true)]
async fn services_of_one_layer_share_its_permits() {
    let layer =
        RateLimitLayer::from_config_with_clock(RateLimiterConfig::per_second(2), TokioClock)
            .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let mut a = layer.layer(counting(calls.clone()));
    let mut b = layer.layer(counting(calls.clone()));
    assert!(a.ready().await.unwrap().call(1).await.is_ok());
    assert!(b.ready().await.unwrap().call(2).await.is_ok());
    assert!(
        a.ready().await.unwrap().call(3).await.is_err(),
        "2 per second across both services"
    );
    assert!(b.ready().await.unwrap().call(4).await.is_err());
}

fn stack(yaml: &str) -> ResilienceStack {
    let config: StackConfig = resilience_core::config::from_yaml_str(yaml).unwrap();
    ResilienceStack::with_clock(config, Arc::new(TokioClock)).unwrap()
}

#[tokio::test(start_paused = true)]
async fn in_the_stack_a_call_takes_one_permit_however_many_attempts_it_makes() {
    let s = stack(
        "name: inventory\n\
         rate_limit: { rate: 2, per: 1s }\n\
         retry: { backoff: { kind: constant, initial: 10ms, max_attempts: 3 } }",
    );
    assert_eq!(
        s.rate_limiter().unwrap().name(),
        "inventory",
        "named after the stack"
    );
    // Fails twice, then answers: three attempts for the first call.
    let attempts = Arc::new(AtomicU32::new(0));
    let seen = attempts.clone();
    let mut svc = s.layer(service_fn(move |x: u32| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        async move {
            if n < 2 {
                Err::<u32, BoxError>(
                    std::io::Error::from(std::io::ErrorKind::ConnectionReset).into(),
                )
            } else {
                Ok(x)
            }
        }
    }));
    assert_eq!(svc.ready().await.unwrap().call(1).await.unwrap(), 1);
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    // The three attempts took one permit: the second call of the second gets through.
    assert_eq!(svc.ready().await.unwrap().call(2).await.unwrap(), 2);
    let err = svc.ready().await.unwrap().call(3).await.unwrap_err();
    assert!(
        matches!(ErrorKind::of(&err), ErrorKind::RateLimited { retry_after } if retry_after <= Duration::from_millis(500)),
        "the third call in the second is refused by the 2-per-second limit: {err}"
    );
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        4,
        "and never reached the service"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_call_is_not_retried_and_does_not_touch_the_breaker() {
    let s = stack(
        "rate_limit: { rate: 1, per: 1m }\n\
         retry: { backoff: { kind: constant, initial: 10ms, max_attempts: 5 } }\n\
         circuit_breaker: { consecutive_failures: 1, open_duration: 30s }",
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = s.clone().layer(counting(calls.clone()));
    svc.ready().await.unwrap().call(1).await.unwrap();
    let start = Instant::now();
    for _ in 0..5 {
        let err = svc.ready().await.unwrap().call(2).await.unwrap_err();
        assert!(matches!(ErrorKind::of(&err), ErrorKind::RateLimited { .. }));
    }
    assert_eq!(
        Instant::now(),
        start,
        "no backoff was slept: the retry layer never saw the refusals"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        s.breaker().unwrap().state(),
        resilience_core::circuit_breaker::CircuitState::Closed,
        "a breaker that opens after 1 failure stays closed: refusals are not the dependency's failures"
    );
}

/// A stand-in for a fleet-wide limiter: refuses everything, counts asks.
#[derive(Debug, Default)]
struct Closed {
    asked: AtomicU32,
}

impl RateLimit for Closed {
    fn try_acquire_n(&self, n: u32) -> Result<(), RateLimited> {
        self.asked.fetch_add(n, Ordering::SeqCst);
        Err(RateLimited::new("fleet", n, Duration::from_secs(2)))
    }
    fn available(&self) -> u32 {
        0
    }
    fn name(&self) -> &str {
        "fleet"
    }
}

#[tokio::test(start_paused = true)]
async fn any_rate_limit_implementation_stands_in_for_the_local_one() {
    let fleet = Arc::new(Closed::default());
    let s = stack("rate_limit: { rate: 1000 }").with_rate_limiter(fleet.clone());
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = s.layer(counting(calls.clone()));
    let err = svc.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(
        ErrorKind::of(&err),
        ErrorKind::RateLimited {
            retry_after: Duration::from_secs(2)
        }
    );
    assert_eq!(fleet.asked.load(Ordering::SeqCst), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn a_bad_rate_limit_config_names_its_field() {
    let e = ResilienceStack::from_yaml("rate_limit: { rate: 0 }").unwrap_err();
    assert_eq!(e.field(), Some("rate_limit.rate"));
    let e = ResilienceStack::from_yaml("rate_limit: { rate: 5, burst: 0 }").unwrap_err();
    assert_eq!(e.field(), Some("rate_limit.burst"));
}

#[cfg(feature = "axum")]
#[tokio::test(start_paused = true)]
async fn over_http_a_refusal_is_a_429_with_retry_after_rounded_up() {
    use axum_core::response::IntoResponse;
    use resilience_tower::error::ErrorResponse;

    let layer = RateLimitLayer::from_config_with_clock(
        RateLimiterConfig::new(1, Duration::from_secs(3)),
        TokioClock,
    )
    .unwrap();
    let mut svc = layer.layer(counting(Arc::new(AtomicUsize::new(0))));
    svc.ready().await.unwrap().call(1).await.unwrap();
    tokio::time::advance(Duration::from_millis(500)).await;
    let err = svc.ready().await.unwrap().call(2).await.unwrap_err();
    let response = ErrorResponse::from(err).into_response();
    assert_eq!(response.status(), http::StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        response.headers()[http::header::RETRY_AFTER],
        "3",
        "2.5 s until the next permit (one per 3 s), rounded up"
    );
}
