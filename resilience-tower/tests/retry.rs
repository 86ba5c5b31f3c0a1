//! The retry layer under paused tokio time: exact backoff timings, attempt
//! limits, budgets, Retry-After, idempotency, requests that cannot be
//! cloned, deadlines, cancellation, and zero allocations on the success
//! path.

mod common;

use common::call;

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use proptest::prelude::*;
use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
use resilience_core::retry::{
    parse_retry_after, Backoff, BackoffKind, ClassSet, Classification, ErrorClass, GiveUpReason,
    HttpStatusClassifier, Idempotency, RetryError, RetryPolicy, TokenBucketBudget,
    TokenBucketConfig,
};
use resilience_tower::error::PolledAfterCompletion;
use resilience_tower::retry::{
    classify_error, original_error, AttemptError, RequestNotCloneable, RetryLayer,
};
use tokio::time::Instant;
use tower::{service_fn, BoxError, Layer, Service, ServiceExt};

const MS: Duration = Duration::from_millis(1);

/// An error that carries its own retry class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("failure of class {0}")]
struct Classed(ErrorClass);

fn classed_or_default<T>(r: &Result<T, BoxError>) -> Option<Classification> {
    match r {
        Ok(_) => None,
        Err(e) => Some(match e.downcast_ref::<Classed>() {
            Some(c) => c.0.into(),
            None => classify_error(&**e),
        }),
    }
}

/// Records the tokio time of every attempt, relative to `start`, and
/// answers with `f(attempt number from 1, request)`.
#[derive(Clone)]
struct Recorder {
    start: Instant,
    times: Arc<Mutex<Vec<Duration>>>,
}

impl Recorder {
    fn new() -> Recorder {
        Recorder {
            start: Instant::now(),
            times: Arc::default(),
        }
    }

    fn service<Req, T, F>(
        &self,
        f: F,
    ) -> impl Service<
        Req,
        Response = T,
        Error = BoxError,
        Future = std::future::Ready<Result<T, BoxError>>,
    > + Clone
    where
        F: Fn(u32, Req) -> Result<T, BoxError> + Clone,
    {
        let this = self.clone();
        service_fn(move |req: Req| {
            let mut times = this.times.lock().unwrap();
            times.push(this.start.elapsed());
            let n = u32::try_from(times.len()).unwrap();
            drop(times);
            std::future::ready(f(n, req))
        })
    }

    fn times(&self) -> Vec<Duration> {
        self.times.lock().unwrap().clone()
    }

    fn attempts(&self) -> usize {
        self.times.lock().unwrap().len()
    }
}

fn retry_error(e: &BoxError) -> &RetryError<AttemptError> {
    e.downcast_ref::<RetryError<AttemptError>>()
        .unwrap_or_else(|| panic!("expected a RetryError, got {e:?}"))
}

fn exponential(initial: Duration, max: Duration, attempts: u32) -> RetryPolicy {
    RetryPolicy::builder(Backoff::exponential(initial, max).unwrap())
        .max_attempts(attempts)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn retries_follow_the_backoff_delays_exactly_and_stop_at_max_attempts() {
    let rec = Recorder::new();
    let mut svc = RetryLayer::new(exponential(100 * MS, 1000 * MS, 6))
        .with_classifier(classed_or_default::<u32>)
        .layer(rec.service(|_, _: u32| Err(Classed(ErrorClass::Transient).into())));
    let err = call(&mut svc, 1).await.unwrap_err();
    // 100, 200, 400, 800, then capped at 1000.
    assert_eq!(
        rec.times(),
        [0, 100, 300, 700, 1500, 2500].map(|ms| ms * MS)
    );
    assert_eq!(
        rec.start.elapsed(),
        2500 * MS,
        "no wait after the last attempt"
    );
    let gave_up = retry_error(&err);
    assert!(matches!(
        gave_up,
        RetryError::RetriesExhausted { attempts: 6, .. }
    ));
    assert_eq!(gave_up.last().attempt(), 6);
    assert_eq!(
        gave_up.last().downcast_ref::<Classed>(),
        Some(&Classed(ErrorClass::Transient))
    );
    assert_eq!(
        original_error(&err).to_string(),
        "failure of class transient"
    );
    // The chain reads: gave up → attempt 6 failed → the original error.
    let chain: Vec<String> =
        std::iter::successors(Some(&*err as &(dyn std::error::Error + 'static)), |e| {
            e.source()
        })
        .map(ToString::to_string)
        .collect();
    assert_eq!(chain.len(), 3, "{chain:?}");
    assert_eq!(chain[1], "attempt 6 failed");
    assert_eq!(chain[2], "failure of class transient");
}

#[tokio::test(start_paused = true)]
async fn a_success_after_retries_returns_the_response_and_each_call_starts_afresh() {
    let rec = Recorder::new();
    let mut svc =
        RetryLayer::new(exponential(50 * MS, 1000 * MS, 4)).layer(rec.service(|n, x: u32| {
            if n % 3 == 0 {
                Ok(x * 10)
            } else {
                Err(io::Error::from(io::ErrorKind::TimedOut).into())
            }
        }));
    assert_eq!(call(&mut svc, 4).await.unwrap(), 40);
    assert_eq!(rec.times(), [0, 50, 150].map(|ms| ms * MS));
    // The second call's schedule starts again from the initial delay.
    assert_eq!(call(&mut svc, 5).await.unwrap(), 50);
    assert_eq!(
        rec.times()[3..],
        [150, 200, 300].map(|ms| ms * MS),
        "attempts 4..6 at 150ms, +50, +100"
    );
}

#[tokio::test(start_paused = true)]
async fn non_retryable_failures_fail_fast_with_the_original_error() {
    let rec = Recorder::new();
    let mut svc = RetryLayer::new(exponential(100 * MS, 1000 * MS, 5))
        .with_classifier(classed_or_default::<u32>)
        .layer(rec.service(|_, _: u32| Err(Classed(ErrorClass::NotFound).into())));
    let err = call(&mut svc, 1).await.unwrap_err();
    assert_eq!(rec.attempts(), 1);
    assert!(matches!(
        retry_error(&err),
        RetryError::NotRetryable {
            attempts: 1,
            class: ErrorClass::NotFound,
            ..
        }
    ));
    // Unknown errors fail fast by default.
    let rec = Recorder::new();
    let mut svc = RetryLayer::new(exponential(100 * MS, 1000 * MS, 5))
        .layer(rec.service(|_, _: u32| Err::<u32, _>("mystery".into())));
    let err = call(&mut svc, 1).await.unwrap_err();
    assert_eq!(rec.attempts(), 1);
    assert_eq!(
        retry_error(&err).reason(),
        GiveUpReason::NotRetryable {
            class: ErrorClass::Permanent
        }
    );
}

#[tokio::test(start_paused = true)]
async fn the_shared_budget_stops_retries_across_calls() {
    // 10 tokens, 5 per retry, no refund: two retries in total, then none.
    let budget = Arc::new(
        TokenBucketBudget::new(TokenBucketConfig {
            capacity: 10,
            retry_cost: 5,
            timeout_retry_cost: 5,
            success_refund: 0,
        })
        .unwrap(),
    );
    let policy = RetryPolicy::builder(Backoff::constant(10 * MS))
        .max_attempts(3)
        .budget(budget.clone())
        .build()
        .unwrap();
    let rec = Recorder::new();
    let layer = RetryLayer::new(policy).with_classifier(classed_or_default::<u32>);
    let mut svc = layer.layer(rec.service(|_, _: u32| Err(Classed(ErrorClass::Transient).into())));
    // Call 1: attempts 1, 2, 3 (two retries, budget now empty).
    let err = call(&mut svc, 1).await.unwrap_err();
    assert!(matches!(
        retry_error(&err),
        RetryError::RetriesExhausted { attempts: 3, .. }
    ));
    assert_eq!(rec.attempts(), 3);
    assert_eq!(budget.tokens(), 0);
    // Call 2, through another service of the same layer: one attempt, then
    // the budget refuses.
    let mut other =
        layer.layer(rec.service(|_, _: u32| Err(Classed(ErrorClass::Transient).into())));
    let err = call(&mut other, 2).await.unwrap_err();
    let gave_up = retry_error(&err);
    assert!(matches!(
        gave_up,
        RetryError::RetryBudgetExhausted { attempts: 1, .. }
    ));
    assert_eq!(
        gave_up.last().downcast_ref::<Classed>(),
        Some(&Classed(ErrorClass::Transient))
    );
    assert_eq!(rec.attempts(), 4);
}

/// A response with a status code and an optional `Retry-After` value.
#[derive(Debug, Clone, PartialEq)]
struct Response {
    status: u16,
    retry_after: Option<&'static str>,
}

fn http_like(r: &Result<Response, BoxError>) -> Option<Classification> {
    match r {
        Ok(res) => HttpStatusClassifier::new().classify(
            res.status,
            res.retry_after,
            std::time::SystemTime::now(),
        ),
        Err(e) => Some(classify_error(&**e)),
    }
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_and_a_failed_response_is_returned_when_giving_up() {
    let rec = Recorder::new();
    let mut svc = RetryLayer::new(exponential(100 * MS, 1000 * MS, 3))
        .with_classifier(http_like)
        .layer(rec.service(|n, _: ()| {
            Ok(match n {
                1 => Response {
                    status: 429,
                    retry_after: Some("3"),
                },
                2 => Response {
                    status: 503,
                    retry_after: None,
                },
                _ => Response {
                    status: 200,
                    retry_after: None,
                },
            })
        }));
    let res = call(&mut svc, ()).await.unwrap();
    assert_eq!(res.status, 200);
    // Retry-After 3s beats the 100ms backoff; then the 200ms backoff.
    assert_eq!(rec.times(), [0, 3000, 3200].map(|ms| ms * MS));
    assert_eq!(
        parse_retry_after("3", std::time::SystemTime::now()),
        Some(3000 * MS)
    );

    // A Retry-After longer than the policy's max_retry_after (5m) gives up
    // at once; a failed response is returned as the response.
    let rec = Recorder::new();
    let mut svc = RetryLayer::new(exponential(100 * MS, 1000 * MS, 3))
        .with_classifier(http_like)
        .layer(rec.service(|_, _: ()| {
            Ok(Response {
                status: 503,
                retry_after: Some("3600"),
            })
        }));
    let res = call(&mut svc, ()).await.unwrap();
    assert_eq!(res.status, 503);
    assert_eq!(rec.attempts(), 1);
    assert_eq!(rec.start.elapsed(), Duration::ZERO);

    // Exhausted on responses: the last response comes back.
    let rec = Recorder::new();
    let mut svc = RetryLayer::new(exponential(100 * MS, 1000 * MS, 2))
        .with_classifier(http_like)
        .layer(rec.service(|n, _: ()| {
            Ok(Response {
                status: if n == 1 { 502 } else { 504 },
                retry_after: None,
            })
        }));
    assert_eq!(call(&mut svc, ()).await.unwrap().status, 504);
    assert_eq!(rec.times(), [0, 100].map(|ms| ms * MS));
}

#[cfg(feature = "http")]
#[tokio::test(start_paused = true)]
async fn http_responses_with_retry_after_headers() {
    use resilience_tower::retry::{HttpMethodIdempotency, HttpRetryClassifier};
    let rec = Recorder::new();
    let mut svc = RetryLayer::new(exponential(100 * MS, 1000 * MS, 3))
        .with_classifier(HttpRetryClassifier::default())
        .idempotency_with(HttpMethodIdempotency)
        .clone_requests_with(|r: &http::Request<()>| {
            let mut copy = http::Request::new(());
            *copy.method_mut() = r.method().clone();
            *copy.uri_mut() = r.uri().clone();
            Some(copy)
        })
        .layer(rec.service(|n, r: http::Request<()>| {
            let status = if n == 1 || r.uri().path() == "/charge" {
                503
            } else {
                200
            };
            Ok(http::Response::builder()
                .status(status)
                .header("retry-after", "2")
                .body(())
                .unwrap())
        }));
    let get = http::Request::get("/models").body(()).unwrap();
    assert_eq!(call(&mut svc, get).await.unwrap().status(), 200);
    assert_eq!(rec.times(), [0, 2000].map(|ms| ms * MS));
    // A POST answered 503 may have been processed: not retried.
    let post = http::Request::post("/charge").body(()).unwrap();
    assert_eq!(call(&mut svc, post).await.unwrap().status(), 503);
    assert_eq!(rec.attempts(), 3);
}

#[tokio::test(start_paused = true)]
async fn non_idempotent_requests_are_retried_only_when_they_never_left() {
    /// A request failing once with `kind`, then succeeding.
    #[derive(Clone, Debug)]
    struct Req {
        method: &'static str,
        kind: io::ErrorKind,
        failures_left: Arc<AtomicU32>,
    }
    let req = |method, kind| Req {
        method,
        kind,
        failures_left: Arc::new(AtomicU32::new(1)),
    };
    let policy = RetryPolicy::builder(Backoff::constant(10 * MS))
        .max_attempts(3)
        .build()
        .unwrap();
    let rec = Recorder::new();
    let mut svc = RetryLayer::new(policy)
        .idempotency_with(|r: &Req| Idempotency::for_http_method(r.method))
        .layer(rec.service(|n, r: Req| {
            let failing = r
                .failures_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |f| f.checked_sub(1))
                .is_ok();
            if failing {
                Err(io::Error::from(r.kind).into())
            } else {
                Ok(n)
            }
        }));
    // POST + timeout or connection reset: it may have been processed; one
    // attempt only.
    for (kind, class) in [
        (io::ErrorKind::TimedOut, ErrorClass::Timeout),
        (io::ErrorKind::ConnectionReset, ErrorClass::ConnectionReset),
    ] {
        let before = rec.attempts();
        let err = call(&mut svc, req("POST", kind)).await.unwrap_err();
        assert_eq!(rec.attempts(), before + 1);
        let gave_up = retry_error(&err);
        assert_eq!(gave_up.reason(), GiveUpReason::NotIdempotent { class });
        assert_eq!(gave_up.attempts(), 1);
        assert!(gave_up.to_string().contains("not idempotent"));
    }
    // POST + connection refused: provably never sent, so retried.
    assert_eq!(
        call(&mut svc, req("POST", io::ErrorKind::ConnectionRefused))
            .await
            .unwrap(),
        4
    );
    // GET + timeout: idempotent, retried.
    assert_eq!(
        call(&mut svc, req("GET", io::ErrorKind::TimedOut))
            .await
            .unwrap(),
        6
    );
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_inside_the_retry_fails_fast_by_default() {
    let clock = resilience_core::clock::TokioClock;
    let breaker = CircuitBreaker::with_clock(
        CircuitBreakerConfig::new()
            .consecutive_failures(1)
            .open_duration(Duration::from_secs(30)),
        clock,
    )
    .unwrap();
    breaker.try_acquire().unwrap().record_failure();
    let policy = RetryPolicy::builder(Backoff::constant(10 * MS))
        .max_attempts(3)
        .build()
        .unwrap();
    let rec = Recorder::new();
    let mut svc = RetryLayer::new(policy).layer(
        resilience_tower::circuit_breaker::CircuitBreakerLayer::new(breaker.clone())
            .layer(rec.service(|_, x: u32| Ok::<_, BoxError>(x))),
    );
    let start = Instant::now();
    let err = call(&mut svc, 9).await.unwrap_err();
    // Not waited for: the caller learns at once that the breaker is open,
    // and for how long.
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert!(rec.times().is_empty());
    let gave_up = retry_error(&err);
    assert_eq!(
        gave_up.reason(),
        GiveUpReason::NotRetryable {
            class: ErrorClass::CircuitOpen
        }
    );
    assert_eq!(
        resilience_tower::error::ErrorKind::of(&err),
        resilience_tower::error::ErrorKind::CircuitOpen {
            retry_after: Duration::from_secs(30)
        }
    );
    assert!(err.to_string().contains("circuit_open"), "{err}");
    assert!(err.to_string().contains("retry_after"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_is_waited_for_when_circuit_open_is_retryable_even_for_a_post() {
    let clock = resilience_core::clock::TokioClock;
    let breaker = CircuitBreaker::with_clock(
        CircuitBreakerConfig::new()
            .consecutive_failures(1)
            .open_duration(Duration::from_secs(2)),
        clock,
    )
    .unwrap();
    breaker.try_acquire().unwrap().record_failure();
    let policy = RetryPolicy::builder(Backoff::constant(10 * MS))
        .max_attempts(2)
        .idempotency(Idempotency::NonIdempotent)
        .retry_on(ClassSet::DEFAULT_RETRYABLE.with(ErrorClass::CircuitOpen))
        .build()
        .unwrap();
    let rec = Recorder::new();
    let mut svc = RetryLayer::new(policy).layer(
        resilience_tower::circuit_breaker::CircuitBreakerLayer::new(breaker.clone())
            .layer(rec.service(|_, x: u32| Ok::<_, BoxError>(x))),
    );
    let start = Instant::now();
    assert_eq!(call(&mut svc, 9).await.unwrap(), 9);
    // The first attempt was rejected without reaching the service; the
    // retry waited the breaker's 2s and went through as the trial call.
    assert_eq!(rec.times(), [2000 * MS]);
    assert_eq!(start.elapsed(), 2000 * MS);
}

#[tokio::test(start_paused = true)]
async fn a_request_that_cannot_be_cloned_is_sent_once_and_its_error_kept() {
    #[derive(Debug)]
    enum Body {
        Buffered(u32),
        Stream,
    }
    let copy = |b: &Body| match b {
        Body::Buffered(x) => Some(Body::Buffered(*x)),
        Body::Stream => None,
    };
    let rec = Recorder::new();
    let mut svc = RetryLayer::new(exponential(100 * MS, 1000 * MS, 3))
        .with_classifier(classed_or_default::<u32>)
        .clone_requests_with(copy)
        .layer(rec.service(|n, b: Body| match (n, b) {
            (_, Body::Buffered(x)) if n >= 2 => Ok(x),
            (_, Body::Buffered(_)) => Err(Classed(ErrorClass::Transient).into()),
            (4, Body::Stream) => Err(Classed(ErrorClass::NotFound).into()),
            (5, Body::Stream) => Ok(55),
            (_, Body::Stream) => Err(Classed(ErrorClass::Transient).into()),
        }));
    // A buffered body is retried as usual.
    assert_eq!(call(&mut svc, Body::Buffered(7)).await.unwrap(), 7);
    assert_eq!(rec.attempts(), 2);
    // A stream failing with a retryable error: one attempt, a clear error
    // carrying the original one.
    let err = call(&mut svc, Body::Stream).await.unwrap_err();
    assert_eq!(rec.attempts(), 3);
    let not = err
        .downcast_ref::<RequestNotCloneable>()
        .expect("RequestNotCloneable");
    assert_eq!(not.attempts(), 1);
    assert_eq!(not.class(), ErrorClass::Transient);
    assert_eq!(
        not.last().downcast_ref::<Classed>(),
        Some(&Classed(ErrorClass::Transient))
    );
    assert!(not.to_string().contains("could not be copied"));
    assert!(std::error::Error::source(not).unwrap().is::<Classed>());
    assert_eq!(
        original_error(&err).to_string(),
        "failure of class transient"
    );
    // A stream failing with an error that is never retried: the usual error.
    let err = call(&mut svc, Body::Stream).await.unwrap_err();
    assert!(matches!(
        retry_error(&err),
        RetryError::NotRetryable { attempts: 1, .. }
    ));
    // A stream that succeeds: served once, normally.
    assert_eq!(call(&mut svc, Body::Stream).await.unwrap(), 55);
    assert_eq!(rec.attempts(), 5);
    assert_eq!(
        rec.start.elapsed(),
        100 * MS,
        "only the buffered call waited"
    );
}

#[tokio::test(start_paused = true)]
async fn a_copy_hook_that_runs_dry_mid_call_stops_after_the_last_copy() {
    let copies = Arc::new(AtomicU32::new(1));
    let left = copies.clone();
    let rec = Recorder::new();
    let mut svc = RetryLayer::new(exponential(100 * MS, 1000 * MS, 5))
        .clone_requests_with(move |x: &u32| {
            left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .ok()
                .map(|_| *x)
        })
        .layer(
            rec.service(|_, _: u32| Err::<u32, _>(io::Error::from(io::ErrorKind::TimedOut).into())),
        );
    let err = call(&mut svc, 1).await.unwrap_err();
    let not = err.downcast_ref::<RequestNotCloneable>().unwrap();
    assert_eq!(not.attempts(), 2);
    assert_eq!(rec.times(), [0, 100].map(|ms| ms * MS));
}

#[tokio::test(start_paused = true)]
async fn the_policy_deadline_stops_retries_that_would_end_too_late() {
    let policy = RetryPolicy::builder(Backoff::constant(400 * MS))
        .max_attempts(10)
        .deadline(Duration::from_secs(1))
        .build()
        .unwrap();
    let rec = Recorder::new();
    let mut svc = RetryLayer::new(policy).layer(
        rec.service(|_, _: u32| Err::<u32, _>(io::Error::from(io::ErrorKind::TimedOut).into())),
    );
    let err = call(&mut svc, 1).await.unwrap_err();
    // 0, 400, 800; a retry at 1200 would end past the 1s deadline.
    assert_eq!(rec.times(), [0, 400, 800].map(|ms| ms * MS));
    match retry_error(&err) {
        RetryError::DeadlineExceeded {
            attempts: 3,
            elapsed,
            deadline,
            ..
        } => {
            assert_eq!(*elapsed, 800 * MS);
            assert_eq!(*deadline, Duration::from_secs(1));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_cancels_the_retry_loop() {
    let rec = Recorder::new();
    let mut svc = RetryLayer::new(exponential(100 * MS, 1000 * MS, 5)).layer(
        rec.service(|_, _: u32| Err::<u32, _>(io::Error::from(io::ErrorKind::TimedOut).into())),
    );
    let fut = svc.ready().await.unwrap().call(1);
    let _ = tokio::time::timeout(150 * MS, fut).await; // attempts at 0 and 100ms
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(rec.times(), [0, 100].map(|ms| ms * MS));
}

#[tokio::test(start_paused = true)]
async fn a_future_polled_after_completion_returns_an_error() {
    let rec = Recorder::new();
    let mut svc = RetryLayer::new(exponential(100 * MS, 1000 * MS, 2))
        .layer(rec.service(|_, x: u32| Ok::<_, BoxError>(x)));
    let mut fut = pin!(svc.ready().await.unwrap().call(3));
    assert_eq!((&mut fut).await.unwrap(), 3);
    let again = std::future::poll_fn(|cx| fut.as_mut().poll(cx)).await;
    assert!(again.unwrap_err().is::<PolledAfterCompletion>());
}

#[tokio::test(start_paused = true)]
async fn a_service_that_fails_to_become_ready_for_a_retry_returns_its_error() {
    #[derive(Clone)]
    struct FailsReadyAfterFirst {
        polls: Arc<AtomicU32>,
    }
    impl Service<u32> for FailsReadyAfterFirst {
        type Response = u32;
        type Error = BoxError;
        type Future = std::future::Ready<Result<u32, BoxError>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            if self.polls.fetch_add(1, Ordering::SeqCst) == 0 {
                Poll::Ready(Ok(()))
            } else {
                Poll::Ready(Err("service closed".into()))
            }
        }
        fn call(&mut self, _: u32) -> Self::Future {
            std::future::ready(Err(io::Error::from(io::ErrorKind::TimedOut).into()))
        }
    }
    let mut svc =
        RetryLayer::new(exponential(100 * MS, 1000 * MS, 3)).layer(FailsReadyAfterFirst {
            polls: Arc::default(),
        });
    let err = call(&mut svc, 1).await.unwrap_err();
    assert_eq!(err.to_string(), "service closed");
}

#[test]
fn the_success_path_allocates_nothing() {
    let policy =
        RetryPolicy::builder(Backoff::exponential(100 * MS, Duration::from_secs(1)).unwrap())
            .max_attempts(3)
            .budget(Arc::new(
                TokenBucketBudget::new(TokenBucketConfig::default()).unwrap(),
            ))
            .build()
            .unwrap();
    let mut svc = RetryLayer::new(policy).layer(service_fn(|x: u64| {
        std::future::ready(Ok::<_, BoxError>(x + 1))
    }));
    let mut cx = Context::from_waker(Waker::noop());
    let mut once = |x: u64| {
        assert!(svc.poll_ready(&mut cx).is_ready());
        let mut fut = pin!(svc.call(x));
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(Ok(y)) => assert_eq!(y, x + 1),
            other => panic!("{other:?}"),
        }
    };
    once(0); // warm-up
    common::assert_counting_allocator_active();
    let info = allocation_counter::measure(|| {
        for i in 0..10_000 {
            once(i);
        }
    });
    assert_eq!(
        info.count_total, 0,
        "{} allocations ({} bytes) in 10 000 successful calls",
        info.count_total, info.bytes_total
    );
}

fn arb_backoff() -> impl Strategy<Value = Backoff> {
    (0u8..3, 1u32..500, 1u32..5_000).prop_map(|(kind, initial, max)| {
        let initial = initial * MS;
        let max = (max * MS).max(initial);
        let kind = match kind {
            0 => BackoffKind::Constant,
            1 => BackoffKind::Linear { step: initial },
            _ => BackoffKind::DOUBLING,
        };
        Backoff::builder(kind)
            .initial(initial)
            .max(max)
            .build()
            .unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The attempt times of an always-failing call are the running sums of
    /// the core backoff's un-jittered delays, for any schedule and limit,
    /// and the error reports exactly `max_attempts`.
    #[test]
    fn attempt_times_are_the_sums_of_the_backoff_delays(
        backoff in arb_backoff(),
        max_attempts in 1u32..8,
        work_ms in 0u64..50,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let (times, err) = rt.block_on(async {
            let policy = RetryPolicy::builder(backoff.clone()).max_attempts(max_attempts).build().unwrap();
            let start = Instant::now();
            let times = Arc::new(Mutex::new(Vec::new()));
            let seen = times.clone();
            let mut svc = RetryLayer::new(policy).layer(service_fn(move |_: ()| {
                seen.lock().unwrap().push(start.elapsed());
                async move {
                    tokio::time::sleep(Duration::from_millis(work_ms)).await;
                    Err::<(), BoxError>(io::Error::from(io::ErrorKind::TimedOut).into())
                }
            }));
            let err = call(&mut svc, ()).await.unwrap_err();
            let times = times.lock().unwrap().clone();
            (times, err)
        });
        let mut want = vec![Duration::ZERO];
        for retry in 1..max_attempts {
            let prev = *want.last().unwrap();
            want.push(prev + Duration::from_millis(work_ms) + backoff.delay(retry));
        }
        prop_assert_eq!(times, want);
        let gave_up = retry_error(&err);
        prop_assert_eq!(gave_up.attempts(), max_attempts);
        prop_assert_eq!(gave_up.reason(), GiveUpReason::Exhausted);
    }
}

#[tokio::test(start_paused = true)]
async fn a_seeded_policy_makes_the_layer_wait_the_same_jittered_delays() {
    async fn attempt_times(seed: u64) -> Vec<Vec<Duration>> {
        let backoff = Backoff::exponential(100 * MS, 5000 * MS)
            .unwrap()
            .with_jitter(resilience_core::retry::Jitter::Full);
        let policy = RetryPolicy::builder(backoff)
            .max_attempts(5)
            .jitter_seed(seed)
            .build()
            .unwrap();
        let layer = RetryLayer::new(policy).with_classifier(classed_or_default::<u32>);
        let mut out = Vec::new();
        for _ in 0..3 {
            let rec = Recorder::new();
            let mut svc =
                layer.layer(rec.service(|_, _: u32| Err(Classed(ErrorClass::Transient).into())));
            assert!(call(&mut svc, 1).await.is_err());
            out.push(rec.times());
        }
        out
    }
    let a = attempt_times(11).await;
    assert_eq!(a, attempt_times(11).await, "same seed, same attempt times");
    assert_ne!(a, attempt_times(12).await);
    assert!(a.iter().all(|times| times.len() == 5));
    assert_ne!(a[0], a[1], "each call has its own jitter stream");
}

#[tokio::test(start_paused = true)]
async fn the_retry_hook_changes_the_next_attempt_and_only_runs_on_retries() {
    use resilience_tower::retry::Retrying;

    #[derive(Debug, Clone)]
    struct Job {
        worker: u32,
        avoid: Vec<u32>,
    }
    /// (attempt, classification, delay, worker the failed attempt used, Ok?)
    type Seen = Arc<Mutex<Vec<(u32, ErrorClass, Duration, u32, bool)>>>;
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let layer = RetryLayer::new(exponential(100 * MS, 1000 * MS, 4))
        .with_classifier(|r: &Result<u32, BoxError>| match r {
            Ok(503) => Some(ErrorClass::ServerError.into()),
            Ok(_) => None,
            Err(e) => Some(match e.downcast_ref::<Classed>() {
                Some(c) => c.0.into(),
                None => classify_error(&**e),
            }),
        })
        .on_retry(move |job: &mut Job, r: &Retrying<'_, u32>| {
            log.lock().unwrap().push((
                r.attempt,
                r.classification.class,
                r.delay,
                job.worker,
                r.result.is_ok(),
            ));
            // "retry on a different worker"
            job.avoid.push(job.worker);
            job.worker += 1;
        });
    let rec = Recorder::new();
    // Workers 0 and 1 fail (0 with an error, 1 with a 503 response); 2 works.
    let mut svc = layer.layer(rec.service(|_, job: Job| match job.worker {
        0 => Err(Classed(ErrorClass::Transient).into()),
        1 => {
            assert_eq!(job.avoid, [0]);
            Ok(503)
        }
        2 => {
            assert_eq!(job.avoid, [0, 1]);
            Ok(202)
        }
        w => Ok(200 + w),
    }));
    let job = |worker| Job {
        worker,
        avoid: vec![],
    };
    assert_eq!(call(&mut svc, job(0)).await.unwrap(), 202);
    assert_eq!(rec.times(), [0, 100, 300].map(|ms| ms * MS));
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (1, ErrorClass::Transient, 100 * MS, 0, false),
            (2, ErrorClass::ServerError, 200 * MS, 1, true),
        ]
    );
    // No retry, no hook: a first-attempt success and a fail-fast error.
    seen.lock().unwrap().clear();
    assert_eq!(call(&mut svc, job(5)).await.unwrap(), 205);
    let mut fail_fast = layer.layer(service_fn(|_: Job| async {
        Err::<u32, BoxError>(Classed(ErrorClass::NotFound).into())
    }));
    assert!(call(&mut fail_fast, job(0)).await.is_err());
    assert!(seen.lock().unwrap().is_empty());
    // Exhaustion: the hook runs before each of the 3 retries, not after the last failure.
    let mut always_down = layer.layer(service_fn(|_: Job| async {
        Err::<u32, BoxError>(Classed(ErrorClass::Timeout).into())
    }));
    assert!(call(&mut always_down, job(0)).await.is_err());
    let workers: Vec<u32> = seen.lock().unwrap().iter().map(|s| s.3).collect();
    assert_eq!(workers, [0, 1, 2]);
}

#[tokio::test(start_paused = true)]
async fn the_retry_hook_is_a_nameable_type() {
    use resilience_tower::retry::{RetryHook, RetryService, Retrying};

    #[derive(Debug, Clone, Copy)]
    struct CountAttempts;
    impl RetryHook<(u32, u32), u32> for CountAttempts {
        fn on_retry(&self, req: &mut (u32, u32), r: &Retrying<'_, u32>) {
            req.1 = r.attempt + 1;
        }
    }
    type Counted<S> = RetryService<
        S,
        resilience_tower::retry::DefaultRetryClassifier,
        resilience_tower::retry::CloneAll,
        resilience_tower::retry::PolicyIdempotency,
        CountAttempts,
    >;
    let rec = Recorder::new();
    let mut svc: Counted<_> = RetryLayer::new(exponential(10 * MS, 10 * MS, 3))
        .on_retry(CountAttempts)
        .layer(rec.service(|n, (x, seen_attempt): (u32, u32)| {
            // the request carries its attempt number, set by the hook
            assert_eq!(seen_attempt, n);
            if n < 3 {
                Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset).into())
            } else {
                Ok(x)
            }
        }));
    assert_eq!(call(&mut svc, (7, 1)).await.unwrap(), 7);
    assert_eq!(rec.attempts(), 3);
}
