//! Per-attempt timeouts and the total deadline, alone and around a retry
//! layer, under paused tokio time.

mod common;

use common::call;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilience_core::retry::{Backoff, RetryError, RetryPolicy};
use resilience_tower::retry::{AttemptError, RetryLayer};
use resilience_tower::timeout::{DeadlineLayer, Elapsed, TimeoutLayer, TimeoutScope};
use tokio::time::Instant;
use tower::{service_fn, BoxError, Layer, Service, ServiceBuilder, ServiceExt};

const MS: Duration = Duration::from_millis(1);

/// A service whose n-th call (from 1) takes `latency(n)`; records call times.
fn slow_service(
    start: Instant,
    latency: fn(usize) -> Duration,
    log: Arc<Mutex<Vec<Duration>>>,
) -> impl Service<u32, Response = u32, Error = BoxError, Future = impl Send> + Clone {
    service_fn(move |x: u32| {
        let n = {
            let mut log = log.lock().unwrap();
            log.push(start.elapsed());
            log.len()
        };
        async move {
            tokio::time::sleep(latency(n)).await;
            Ok::<_, BoxError>(x)
        }
    })
}

#[tokio::test(start_paused = true)]
async fn an_attempt_past_its_timeout_is_cancelled_with_a_typed_error() {
    let start = Instant::now();
    let log = Arc::default();
    let mut svc =
        TimeoutLayer::new(500 * MS).layer(slow_service(start, |_| 2000 * MS, Arc::clone(&log)));
    let err = call(&mut svc, 1).await.unwrap_err();
    assert_eq!(start.elapsed(), 500 * MS, "cancelled at the timeout");
    let elapsed = err.downcast_ref::<Elapsed>().unwrap();
    assert_eq!(elapsed.timeout(), 500 * MS);
    assert_eq!(elapsed.scope(), TimeoutScope::Attempt);
    // A fast call goes through untouched.
    let mut fast = TimeoutLayer::new(500 * MS).layer(slow_service(start, |_| 499 * MS, log));
    assert_eq!(call(&mut fast, 7).await.unwrap(), 7);
}

#[tokio::test(start_paused = true)]
async fn inner_errors_pass_through_unchanged() {
    let mut svc = TimeoutLayer::new(500 * MS).layer(service_fn(|_: ()| async {
        Err::<(), _>(io::Error::from(io::ErrorKind::ConnectionRefused))
    }));
    let err = call(&mut svc, ()).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<io::Error>().unwrap().kind(),
        io::ErrorKind::ConnectionRefused
    );
}

#[tokio::test(start_paused = true)]
async fn per_attempt_timeouts_are_retried_inside_a_total_deadline() {
    // Attempts 1 and 2 hang; attempt 3 answers in 100ms.
    let start = Instant::now();
    let log = Arc::new(Mutex::new(Vec::new()));
    let policy = RetryPolicy::builder(Backoff::constant(200 * MS))
        .max_attempts(5)
        .build()
        .unwrap();
    let mut svc = ServiceBuilder::new()
        .layer(DeadlineLayer::new(Duration::from_secs(3)))
        .layer(RetryLayer::new(policy))
        .layer(TimeoutLayer::new(500 * MS))
        .service(slow_service(
            start,
            |n| {
                if n < 3 {
                    Duration::from_secs(60)
                } else {
                    100 * MS
                }
            },
            log.clone(),
        ));
    assert_eq!(call(&mut svc, 42).await.unwrap(), 42);
    // Each hung attempt costs its 500ms timeout plus the 200ms backoff.
    assert_eq!(*log.lock().unwrap(), [0, 700, 1400].map(|ms| ms * MS));
    assert_eq!(start.elapsed(), 1500 * MS);
}

#[tokio::test(start_paused = true)]
async fn the_total_deadline_cuts_the_retry_loop_and_no_attempt_starts_after_it() {
    let start = Instant::now();
    let log = Arc::new(Mutex::new(Vec::new()));
    let policy = RetryPolicy::builder(Backoff::constant(200 * MS))
        .max_attempts(10)
        .build()
        .unwrap();
    let mut svc = ServiceBuilder::new()
        .layer(DeadlineLayer::new(2000 * MS).name("checkout"))
        .layer(RetryLayer::new(policy))
        .layer(TimeoutLayer::new(500 * MS))
        .service(slow_service(
            start,
            |_| Duration::from_secs(60),
            log.clone(),
        ));
    let err = call(&mut svc, 1).await.unwrap_err();
    assert_eq!(start.elapsed(), 2000 * MS);
    let elapsed = err.downcast_ref::<Elapsed>().expect("the deadline's error");
    assert_eq!(elapsed.scope(), TimeoutScope::Total);
    assert_eq!(elapsed.timeout(), 2000 * MS);
    // Attempts at 0, 700, 1400 (the third cancelled at 2000 by the deadline).
    assert_eq!(*log.lock().unwrap(), [0, 700, 1400].map(|ms| ms * MS));
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        log.lock().unwrap().len(),
        3,
        "nothing ran after the deadline"
    );
}

#[tokio::test(start_paused = true)]
async fn the_policy_deadline_gives_up_early_with_the_last_timeout_kept() {
    // Same deadline in the policy: the retry that could not finish in time
    // is not started, and the caller gets the RetryError (not the layer's
    // cancellation) with the last attempt's timeout inside.
    let start = Instant::now();
    let log = Arc::new(Mutex::new(Vec::new()));
    let policy = RetryPolicy::builder(Backoff::constant(200 * MS))
        .max_attempts(10)
        .deadline(2000 * MS)
        .build()
        .unwrap();
    let mut svc = ServiceBuilder::new()
        .layer(DeadlineLayer::new(2000 * MS))
        .layer(RetryLayer::new(policy))
        .layer(TimeoutLayer::new(500 * MS))
        .service(slow_service(
            start,
            |_| Duration::from_secs(60),
            log.clone(),
        ));
    let err = call(&mut svc, 1).await.unwrap_err();
    // Attempts at 0, 700, 1400 each time out 500ms later; after the third
    // (at 1900) a 200ms wait would end at 2100 > 2000: give up at 1900.
    assert_eq!(start.elapsed(), 1900 * MS);
    match err.downcast_ref::<RetryError<AttemptError>>() {
        Some(RetryError::DeadlineExceeded {
            attempts: 3, last, ..
        }) => {
            let t = last.downcast_ref::<Elapsed>().unwrap();
            assert_eq!(t.scope(), TimeoutScope::Attempt);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn tower_timeout_errors_are_replaced_and_polled_after_completion_is_an_error() {
    use std::future::Future;
    use std::pin::pin;
    let mut svc = TimeoutLayer::new(10 * MS).layer(service_fn(|_: ()| async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok::<_, BoxError>(())
    }));
    let mut fut = pin!(svc.ready().await.unwrap().call(()));
    let err = (&mut fut).await.unwrap_err();
    assert!(err.is::<Elapsed>());
    assert!(!err.is::<tower::timeout::error::Elapsed>());
    let again = std::future::poll_fn(|cx| fut.as_mut().poll(cx)).await;
    assert!(again
        .unwrap_err()
        .is::<resilience_tower::error::PolledAfterCompletion>());
}

#[test]
fn the_in_time_path_allocates_nothing() {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _ctx = rt.enter();
    let mut svc = ServiceBuilder::new()
        .layer(DeadlineLayer::new(Duration::from_secs(2)))
        .layer(TimeoutLayer::new(Duration::from_secs(1)))
        .service_fn(|x: u64| std::future::ready(Ok::<_, BoxError>(x)));
    let mut cx = Context::from_waker(Waker::noop());
    let mut once = |x: u64| {
        assert!(svc.poll_ready(&mut cx).is_ready());
        let mut fut = pin!(svc.call(x));
        assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(y)) if y == x));
    };
    once(0);
    let info = allocation_counter::measure(|| (0..10_000).for_each(&mut once));
    assert_eq!(info.count_total, 0, "{info:?}");
}
