//! The one-config stack: order, interplay of the layers, zero allocations.
//! Time is tokio's paused clock, shared with the primitives via `TokioClock`.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use resilience_core::bulkhead::BulkheadFull;
use resilience_core::circuit_breaker::{CircuitOpen, CircuitState};
use resilience_core::clock::TokioClock;
use resilience_core::retry::RetryError;
use resilience_tower::stack::{ResilienceStack, StackConfig};
use resilience_tower::timeout::Elapsed;
use tokio::time::Instant;
use tower::{service_fn, BoxError, Layer, Service, ServiceExt};

fn stack(yaml: &str) -> ResilienceStack {
    let config: StackConfig = resilience_core::config::from_yaml_str(yaml).unwrap();
    ResilienceStack::with_clock(config, Arc::new(TokioClock)).unwrap()
}

/// A dependency that fails its first `fail_first` calls, then answers after
/// `latency`.
fn dependency(
    calls: Arc<AtomicUsize>,
    fail_first: usize,
    latency: Duration,
) -> impl Service<
    u32,
    Response = u32,
    Error = BoxError,
    Future = impl Future<Output = Result<u32, BoxError>> + Send,
> + Clone
       + Send {
    service_fn(move |x: u32| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(latency).await;
            if n < fail_first {
                Err::<u32, BoxError>(
                    std::io::Error::from(std::io::ErrorKind::ConnectionReset).into(),
                )
            } else {
                Ok(x)
            }
        }
    })
}

#[tokio::test(start_paused = true)]
async fn retries_through_a_transient_failure() {
    let s = stack(
        "retry: { backoff: { kind: exponential, initial: 100ms, max: 1s, max_attempts: 3 } }\n\
         circuit_breaker: { consecutive_failures: 5 }",
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = s.layer(dependency(calls.clone(), 2, Duration::ZERO));
    let start = Instant::now();
    assert_eq!(svc.ready().await.unwrap().call(7).await.unwrap(), 7);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(300),
        "waits 100 ms then 200 ms"
    );
    assert_eq!(s.breaker().unwrap().state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_stops_the_retries() {
    let s = stack(
        "retry: { backoff: { kind: constant, initial: 10ms, max_attempts: 10 }, deadline: 10s }\n\
         circuit_breaker: { consecutive_failures: 3, open_duration: 30s }",
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = s.layer(dependency(calls.clone(), usize::MAX, Duration::ZERO));
    let start = Instant::now();
    let err = svc.ready().await.unwrap().call(1).await.unwrap_err();
    // Three attempts (0, 10, 20 ms) reach the dependency and trip the
    // breaker; the fourth (30 ms) meets the open breaker, whose 30 s
    // `retry_after` does not fit the policy's 10 s deadline: the call ends
    // there instead of waiting.
    assert_eq!(start.elapsed(), Duration::from_millis(30));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(s.breaker().unwrap().state(), CircuitState::Open);
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&*err);
    let mut saw_open = false;
    while let Some(e) = source {
        saw_open |= e.is::<CircuitOpen>();
        source = e.source();
    }
    assert!(saw_open, "the error chain names the open breaker: {err}");
    assert!(
        err.is::<RetryError<resilience_tower::retry::AttemptError>>(),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_short_breaker_wait_is_honoured_by_the_retry() {
    // Without a deadline, a retry waits out the breaker's `retry_after` when
    // it is within `max_retry_after`, and the half-open trial succeeds.
    let s = stack(
        "retry: { backoff: { kind: constant, initial: 10ms, max_attempts: 5 }, max_retry_after: 1m }\n\
         circuit_breaker: { consecutive_failures: 2, open_duration: 5s, half_open_permits: 1 }",
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = s.layer(dependency(calls.clone(), 2, Duration::ZERO));
    let start = Instant::now();
    assert_eq!(svc.ready().await.unwrap().call(9).await.unwrap(), 9);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(10) + Duration::from_secs(5)
    );
    assert_eq!(s.breaker().unwrap().state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn per_attempt_timeout_is_retried_and_counted_by_the_breaker() {
    let s = stack(
        "retry: { backoff: { kind: constant, initial: 10ms, max_attempts: 2 } }\n\
         circuit_breaker: { consecutive_failures: 10 }\n\
         timeout: 100ms",
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = s.layer(dependency(calls.clone(), 0, Duration::from_secs(5)));
    let start = Instant::now();
    let err = svc.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(start.elapsed(), Duration::from_millis(210));
    assert_eq!(s.breaker().unwrap().metrics().consecutive_failures, 2);
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&*err);
    let mut saw_elapsed = false;
    while let Some(e) = source {
        saw_elapsed |= e.is::<Elapsed>();
        source = e.source();
    }
    assert!(saw_elapsed, "{err}");
}

#[tokio::test(start_paused = true)]
async fn deadline_caps_the_whole_call() {
    let s = stack(
        "deadline: 1s\n\
         retry: { backoff: { kind: constant, initial: 400ms, max_attempts: 10 } }",
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = s.layer(dependency(calls.clone(), usize::MAX, Duration::ZERO));
    let start = Instant::now();
    let err = svc.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "attempts at 0, 400, 800 ms"
    );
    assert!(err.downcast_ref::<Elapsed>().is_some(), "{err}");
}

#[tokio::test(start_paused = true)]
async fn bulkhead_rejections_do_not_trip_the_breaker() {
    let s = stack(
        "circuit_breaker: { consecutive_failures: 1 }\n\
         bulkhead: { max_concurrent: 1, max_wait: 0s }",
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = s.layer(dependency(calls.clone(), 0, Duration::from_secs(1)));
    let mut a = svc.clone();
    let mut b = svc.clone();
    let first = a.ready().await.unwrap().call(1);
    let second = b.ready().await.unwrap().call(2);
    let (first, second) = tokio::join!(first, second);
    assert_eq!(first.unwrap(), 1);
    assert!(second.unwrap_err().downcast_ref::<BulkheadFull>().is_some());
    assert_eq!(s.breaker().unwrap().state(), CircuitState::Closed);
}

#[test]
fn success_path_does_not_allocate() {
    let s = ResilienceStack::from_yaml(
        "deadline: 10s\n\
         retry: { backoff: { kind: exponential, initial: 100ms, max: 1s, max_attempts: 3 }, budget: { kind: token_bucket, capacity: 100 } }\n\
         circuit_breaker: { window: { count: 100 } }\n\
         bulkhead: { max_concurrent: 100 }\n\
         timeout: 1s",
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let mut svc = s.layer(service_fn(|x: u32| {
        std::future::ready(Ok::<_, BoxError>(x))
    }));
    let mut cx = Context::from_waker(Waker::noop());
    let mut once = || {
        assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
        let mut fut = std::pin::pin!(svc.call(1));
        assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(1))));
    };
    once();
    let info = allocation_counter::measure(|| {
        for _ in 0..1_000 {
            once();
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");
}
