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
use resilience_tower::error::ErrorKind;
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
    // breaker; the fourth (30 ms) meets the open breaker, which is not
    // retried: the call ends there instead of waiting.
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
    assert!(matches!(ErrorKind::of(&err), ErrorKind::CircuitOpen { .. }));
}

/// The README's stack, in front of a dependency that is down: once the
/// breaker is open, every call fails at once with `CircuitOpen` (no wait
/// for the half-open trial, no wait for the deadline).
#[tokio::test(start_paused = true)]
async fn the_readme_stack_fails_fast_once_its_breaker_is_open() {
    let s = stack(
        r#"
name: inventory
deadline: 10s
retry:
  backoff: { kind: exponential, initial: 100ms, max: 2s, max_attempts: 3, jitter: full }
  budget: { kind: token_bucket, capacity: 100 }
circuit_breaker: { window: { count: 20 }, minimum_calls: 10, failure_rate_threshold: 0.5, open_duration: 30s }
bulkhead: { max_concurrent: 64, max_wait: 50ms }
timeout: 2s
"#,
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = s.layer(dependency(calls.clone(), usize::MAX, Duration::ZERO));
    let mut requests = 0;
    while s.breaker().unwrap().state() != CircuitState::Open {
        requests += 1;
        assert!(
            requests <= 10,
            "the breaker opens within 10 failing requests"
        );
        let _ = svc.ready().await.unwrap().call(1).await.unwrap_err();
    }
    let reached = calls.load(Ordering::SeqCst);
    for _ in 0..20 {
        let start = Instant::now();
        let err = svc.ready().await.unwrap().call(1).await.unwrap_err();
        assert_eq!(start.elapsed(), Duration::ZERO, "fails fast: {err}");
        match ErrorKind::of(&err) {
            ErrorKind::CircuitOpen { retry_after } => {
                assert!(retry_after <= Duration::from_secs(30), "{retry_after:?}")
            }
            other => panic!("expected CircuitOpen, got {other:?}: {err}"),
        }
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        reached,
        "the open breaker spared the dependency"
    );
}

#[tokio::test(start_paused = true)]
async fn a_short_breaker_wait_is_honoured_by_the_retry() {
    // With `circuit_open` in `retry_on` and no deadline, a retry waits out
    // the breaker's `retry_after` when it is within `max_retry_after`, and
    // the half-open trial succeeds.
    let s = stack(
        "retry: { backoff: { kind: constant, initial: 10ms, max_attempts: 5 }, max_retry_after: 1m,\n\
         retry_on: [timeout, connection_reset, connect_failed, transient, rate_limited, server_error, circuit_open] }\n\
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
async fn the_retry_stops_when_its_next_wait_cannot_end_before_the_deadline() {
    let s = stack(
        "deadline: 1s\n\
         retry: { backoff: { kind: constant, initial: 400ms, max_attempts: 10 } }",
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = s.layer(dependency(calls.clone(), usize::MAX, Duration::ZERO));
    let start = Instant::now();
    let err = svc.ready().await.unwrap().call(1).await.unwrap_err();
    // Attempts at 0, 400, 800 ms; a fourth would start at 1.2 s, past the
    // deadline, so the caller gets the last error at 800 ms, not a timeout
    // at 1 s.
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "attempts at 0, 400, 800 ms"
    );
    assert_eq!(start.elapsed(), Duration::from_millis(800));
    let gave_up = err
        .downcast_ref::<RetryError<resilience_tower::retry::AttemptError>>()
        .expect("a retry error");
    assert!(
        matches!(gave_up, RetryError::DeadlineExceeded { attempts: 3, .. }),
        "{gave_up}"
    );
    assert_eq!(ErrorKind::of(&err), ErrorKind::DeadlineExceeded);
}

#[tokio::test(start_paused = true)]
async fn deadline_cancels_an_attempt_still_in_flight() {
    let s = stack(
        "deadline: 1s\n\
         retry: { backoff: { kind: constant, initial: 100ms, max_attempts: 10 } }",
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = s.layer(dependency(
        calls.clone(),
        usize::MAX,
        Duration::from_millis(300),
    ));
    let start = Instant::now();
    let err = svc.ready().await.unwrap().call(1).await.unwrap_err();
    // Attempts at 0, 400 and 800 ms; the third is still running at 1 s.
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let elapsed = err
        .downcast_ref::<Elapsed>()
        .expect("the deadline's Elapsed");
    assert!(elapsed.to_string().contains("1s"), "{elapsed}");
    assert_eq!(ErrorKind::of(&err), ErrorKind::DeadlineExceeded);
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

#[tokio::test(start_paused = true)]
async fn no_attempt_starts_that_could_not_finish_before_the_deadline() {
    let s = stack(
        "deadline: 5s\n\
         retry: { backoff: { kind: constant, initial: 100ms, max_attempts: 10 } }\n\
         timeout: 2s",
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = s.layer(dependency(calls.clone(), 0, Duration::from_secs(60)));
    let start = Instant::now();
    let err = svc.ready().await.unwrap().call(1).await.unwrap_err();
    // Attempts at 0 and 2.1 s time out after 2 s each; at 4.1 s a 100 ms
    // wait and a 2 s attempt would end at 6.2 s, past the 5 s deadline, so
    // the call ends there with the last attempt's timeout, not at 5 s in
    // the middle of a third attempt.
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(start.elapsed(), Duration::from_millis(4100));
    let gave_up = err
        .downcast_ref::<RetryError<resilience_tower::retry::AttemptError>>()
        .expect("a retry error");
    assert!(
        matches!(gave_up, RetryError::DeadlineExceeded { attempts: 2, .. }),
        "{gave_up}"
    );
    assert_eq!(ErrorKind::of(&err), ErrorKind::Timeout);
}

/// A service that is ready once, then never again.
#[derive(Clone)]
struct ReadyOnce {
    calls: Arc<AtomicUsize>,
}

impl Service<u32> for ReadyOnce {
    type Response = u32;
    type Error = BoxError;
    type Future = std::future::Ready<Result<u32, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if self.calls.load(Ordering::SeqCst) == 0 {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    fn call(&mut self, _: u32) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Err(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )
        .into()))
    }
}

#[tokio::test(start_paused = true)]
async fn a_service_that_never_gets_ready_for_a_retry_is_cut_at_the_deadline() {
    // The per-attempt timeout bounds attempts, so the stack keeps no
    // separate deadline timer; the retry itself must not wait past the
    // deadline for a service that is not ready.
    let s = stack(
        "deadline: 1s\n\
         retry: { backoff: { kind: constant, initial: 10ms, max_attempts: 3 } }\n\
         timeout: 200ms",
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = s.layer(ReadyOnce {
        calls: calls.clone(),
    });
    let start = Instant::now();
    let call = svc.ready().await.unwrap().call(1);
    let err = tokio::time::timeout(Duration::from_secs(60), call)
        .await
        .expect("the deadline ends the call")
        .unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    let elapsed = err
        .downcast_ref::<Elapsed>()
        .expect("the deadline's Elapsed");
    assert_eq!(
        elapsed.scope(),
        resilience_tower::timeout::TimeoutScope::Total
    );
    assert_eq!(ErrorKind::of(&err), ErrorKind::DeadlineExceeded);
}

#[tokio::test(start_paused = true)]
async fn the_maestro_preset_brings_its_30_s_request_timeout_to_the_stack() {
    let config = StackConfig {
        circuit_breaker: Some(resilience_core::presets::model_registry::maestro_breaker()),
        ..StackConfig::default()
    };
    let s = ResilienceStack::with_clock(config, Arc::new(TokioClock)).unwrap();
    assert_eq!(
        s.timeout(),
        Some(Duration::from_secs(30)),
        "the Maestro preset's request timeout is 30 s"
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = s.layer(dependency(calls.clone(), 0, Duration::from_secs(120)));
    let start = Instant::now();
    let err = svc.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(30),
        "a Maestro call is cut after the 30 s request timeout"
    );
    assert_eq!(ErrorKind::of(&err), ErrorKind::Timeout, "{err}");
    let own = StackConfig {
        timeout: Some(Duration::from_secs(5)),
        circuit_breaker: Some(resilience_core::presets::model_registry::maestro_breaker()),
        ..StackConfig::default()
    };
    let s = ResilienceStack::with_clock(own, Arc::new(TokioClock)).unwrap();
    assert_eq!(
        s.timeout(),
        Some(Duration::from_secs(5)),
        "a stack's own timeout wins over the preset's"
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_retry_a_failing_call_is_made_once_and_its_error_kept() {
    // The stack's retry slot passes calls through when the config has no
    // retry: one attempt, the service's own error, the breaker still
    // counting it, and a pending call driven to its answer as usual.
    let calls = Arc::new(AtomicUsize::new(0));
    let stack = stack(
        "name: once\ncircuit_breaker: { window: { count: 10 }, minimum_calls: 2, failure_rate_threshold: 0.5, open_duration: 30s }\ntimeout: 1s\n",
    );
    let mut svc = stack.layer(dependency(calls.clone(), 2, Duration::from_millis(20)));
    let err = svc.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "no retry configured: one attempt"
    );
    let io = err
        .downcast_ref::<std::io::Error>()
        .expect("the service's own error");
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionReset);
    let _ = svc.ready().await.unwrap().call(2).await.unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // Two failures of two calls: the breaker opened and the next call
    // fails fast without reaching the dependency.
    let err = svc.ready().await.unwrap().call(3).await.unwrap_err();
    assert!(err.downcast_ref::<CircuitOpen>().is_some(), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(stack.breaker().unwrap().state(), CircuitState::Open);

    // A stack of nothing but a retry-less timeout answers slow calls with
    // the timeout's error, once.
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = self::stack("timeout: 10ms\n").layer(dependency(
        calls.clone(),
        0,
        Duration::from_millis(50),
    ));
    let err = svc.ready().await.unwrap().call(4).await.unwrap_err();
    assert!(err.downcast_ref::<Elapsed>().is_some(), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let fut = svc.ready().await.unwrap().call(5);
    assert!(
        format!("{fut:?}").contains("OptionalRetryFuture"),
        "{fut:?}"
    );
}

/// The stack on a `CoarseClock` (the time read from memory, for stacks
/// whose breaker or rate limit reads the time on every call): a time-window
/// breaker still opens on its failure rate, and the open stack fails fast
/// with the time left. No state here waits on time: the breaker opens on
/// failures alone.
#[tokio::test]
async fn a_stack_on_a_coarse_clock_opens_on_its_time_window_and_fails_fast() {
    use resilience_core::clock::CoarseClock;
    let clock = CoarseClock::start(Duration::from_millis(1)).unwrap();
    let config: StackConfig = resilience_core::config::from_yaml_str(
        r#"
name: coarse
rate_limit: { rate: 100000, per: 1s, burst: 100000 }
circuit_breaker: { window: { time: 60s }, minimum_calls: 10, failure_rate_threshold: 0.5, open_duration: 30s }
timeout: 2s
"#,
    )
    .unwrap();
    let s = ResilienceStack::with_clock(config, clock).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = s.layer(dependency(calls.clone(), usize::MAX, Duration::ZERO));
    for _ in 0..10 {
        let _ = svc.ready().await.unwrap().call(1).await.unwrap_err();
    }
    assert_eq!(s.breaker().unwrap().state(), CircuitState::Open);
    let err = svc.ready().await.unwrap().call(1).await.unwrap_err();
    match ErrorKind::of(&err) {
        ErrorKind::CircuitOpen { retry_after } => assert!(
            retry_after <= Duration::from_secs(30) && retry_after > Duration::from_secs(25),
            "{retry_after:?}"
        ),
        other => panic!("expected CircuitOpen, got {other:?}: {err}"),
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        10,
        "the open breaker spared the dependency"
    );
}
