//! The dead-letter layer under paused tokio time: what is queued and why,
//! a full queue hands the request back, and the replayer replays in order
//! when the breaker closes.

mod common;

use common::call;

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilience_core::circuit_breaker::{
    CircuitBreaker, CircuitBreakerConfig, CircuitOpen, CircuitState,
};
use resilience_core::clock::TokioClock;
use resilience_core::dead_letter::{DeadLetter, DeadLetterReason, InMemoryDeadLetterQueue};
use resilience_core::retry::{Backoff, GiveUpReason, RetryError, RetryPolicy};
use resilience_tower::circuit_breaker::CircuitBreakerLayer;
use resilience_tower::dead_letter::{
    DeadLetterLayer, DeadLetterRefused, DeadLettered, ReplayConfig, Replayer,
};
use resilience_tower::retry::{AttemptError, RetryLayer};
use tower::{service_fn, BoxError, Layer, Service};

type Queue = InMemoryDeadLetterQueue<DeadLetter<String>>;

/// A dependency that records every request it sees and fails while `down`.
#[derive(Clone, Default)]
struct Dependency {
    down: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Dependency {
    fn service(
        self,
    ) -> impl Service<String, Response = String, Error = BoxError, Future = impl Send> + Clone {
        let this = self;
        service_fn(move |req: String| {
            this.seen.lock().unwrap().push(req.clone());
            let down = this.down.load(Ordering::SeqCst);
            async move {
                if down {
                    Err::<String, BoxError>(io::Error::from(io::ErrorKind::TimedOut).into())
                } else {
                    Ok(format!("done {req}"))
                }
            }
        })
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn breaker(open_for: Duration) -> CircuitBreaker {
    CircuitBreaker::with_clock(
        CircuitBreakerConfig::new()
            .name("retrain")
            .consecutive_failures(1)
            .open_duration(open_for)
            .half_open_permits(1)
            .success_threshold(1),
        TokioClock,
    )
    .unwrap()
}

fn queue(capacity: usize) -> Queue {
    // Leases and retry backoffs follow tokio's (paused) clock.
    InMemoryDeadLetterQueue::with_clock("retrain", capacity, TokioClock).unwrap()
}

#[tokio::test(start_paused = true)]
async fn requests_rejected_by_an_open_breaker_are_queued_and_replayed_in_order_when_it_closes() {
    let dep = Dependency::default();
    let breaker = breaker(Duration::from_secs(30));
    let q = queue(100);
    let below = CircuitBreakerLayer::new(breaker.clone()).layer(dep.clone().service());
    let mut svc = DeadLetterLayer::new("retrain", q.clone()).layer(below.clone());
    let replay_task = tokio::spawn(Replayer::new(q.clone(), breaker.clone(), below).run());

    // The dependency fails once: the breaker opens. That failure is the
    // caller's (a timeout, not a rejection): returned, not queued.
    dep.down.store(true, Ordering::SeqCst);
    let err = call(&mut svc, "warmup".to_string()).await.unwrap_err();
    assert!(err.is::<io::Error>(), "{err}");
    assert_eq!(breaker.state(), CircuitState::Open);
    assert!(q.is_empty());

    // While open: every request is rejected without reaching the
    // dependency, queued, and the caller is told so.
    for model in ["a", "b", "c"] {
        let err = call(&mut svc, model.to_string()).await.unwrap_err();
        let queued = err.downcast_ref::<DeadLettered>().expect("queued");
        assert_eq!(queued.reason(), &DeadLetterReason::CircuitOpen);
        assert_eq!(queued.queue(), "retrain");
        assert!(queued.error().is::<CircuitOpen>());
        assert!(std::error::Error::source(queued)
            .unwrap()
            .is::<CircuitOpen>());
    }
    assert_eq!(dep.seen(), ["warmup"]);
    let queued: Vec<_> = q.snapshot().into_iter().map(|l| l.item).collect();
    assert_eq!(queued, ["a", "b", "c"]);

    // Nothing is replayed while open, however long we wait short of the
    // open duration.
    tokio::time::sleep(Duration::from_secs(29)).await;
    assert_eq!(dep.seen(), ["warmup"]);
    assert_eq!(q.len(), 3);

    // The dependency recovers; after the open duration a trial call goes
    // through and closes the breaker; the replayer then replays a, b, c in
    // order.
    dep.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        call(&mut svc, "trial".to_string()).await.unwrap(),
        "done trial"
    );
    assert_eq!(breaker.state(), CircuitState::Closed);
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(dep.seen(), ["warmup", "trial", "a", "b", "c"]);
    assert!(q.is_empty());
    replay_task.abort();
}

#[tokio::test(start_paused = true)]
async fn a_replay_stops_at_the_first_failure_and_keeps_the_order() {
    let dep = Dependency::default();
    let breaker = breaker(Duration::from_secs(10));
    let q = queue(100);
    for item in ["a", "b", "c"] {
        q.push(DeadLetter::new(
            item.to_string(),
            DeadLetterReason::CircuitOpen,
        ))
        .unwrap();
    }
    // Fails on "b" only.
    let flaky = {
        let seen = dep.seen.clone();
        service_fn(move |req: String| {
            seen.lock().unwrap().push(req.clone());
            async move {
                if req == "b" {
                    Err::<(), BoxError>("still failing".into())
                } else {
                    Ok(())
                }
            }
        })
    };
    let replayer = Replayer::new(q.clone(), breaker.clone(), flaky.clone());
    let report = replayer.replay_once().await.unwrap();
    assert_eq!(
        (report.replayed, report.failed, report.remaining),
        (1, 1, 2)
    );
    assert_eq!(report.last_error.unwrap().to_string(), "still failing");
    let left: Vec<_> = q.snapshot().into_iter().map(|l| l.item).collect();
    assert_eq!(left, ["b", "c"]);
    assert_eq!(dep.seen(), ["a", "b"]);

    // The former entry point still works on the in-memory queue.
    #[allow(deprecated)]
    let report = Replayer::new(q.clone(), breaker.clone(), flaky)
        .replay_now()
        .await
        .unwrap();
    assert_eq!((report.replayed, report.failed), (0, 1));
    assert_eq!(dep.seen(), ["a", "b", "b"]);
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_hands_the_request_back_with_the_sinks_error() {
    let dep = Dependency::default();
    let breaker = breaker(Duration::from_secs(30));
    breaker.force_open();
    let q = queue(2);
    let mut svc = DeadLetterLayer::new("retrain", q.clone())
        .layer(CircuitBreakerLayer::new(breaker.clone()).layer(dep.clone().service()));
    for model in ["a", "b"] {
        let err = call(&mut svc, model.to_string()).await.unwrap_err();
        assert!(err.is::<DeadLettered>());
    }
    let err = call(&mut svc, "c".to_string()).await.unwrap_err();
    assert!(err
        .to_string()
        .contains("could not be queued for replay: dead-letter queue `retrain` is full (2 items)"));
    let refused = err
        .downcast::<DeadLetterRefused<String>>()
        .expect("refused");
    assert_eq!(refused.reason(), &DeadLetterReason::CircuitOpen);
    assert!(refused.error().is::<CircuitOpen>());
    assert_eq!(refused.into_request(), "c", "the request comes back");
    assert_eq!(q.len(), 2);
    assert!(dep.seen().is_empty());
}

#[tokio::test(start_paused = true)]
async fn exhausted_retries_are_queued_with_their_attempts_and_other_failures_are_not() {
    let dep = Dependency::default();
    dep.down.store(true, Ordering::SeqCst);
    let q = queue(10);
    let policy = RetryPolicy::builder(Backoff::constant(Duration::from_millis(100)))
        .max_attempts(3)
        .build()
        .unwrap();
    let mut svc = DeadLetterLayer::new("webhooks", q.clone())
        .layer(RetryLayer::new(policy).layer(dep.clone().service()));
    let start = tokio::time::Instant::now();
    let err = call(&mut svc, "hook-1".to_string()).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_millis(200));
    let queued = err.downcast_ref::<DeadLettered>().unwrap();
    assert_eq!(
        queued.reason(),
        &DeadLetterReason::Retry {
            attempts: 3,
            reason: GiveUpReason::Exhausted
        }
    );
    // The retry error, with every attempt's detail, is the source.
    let retry = queued
        .error()
        .downcast_ref::<RetryError<AttemptError>>()
        .unwrap();
    assert_eq!(retry.attempts(), 3);
    assert_eq!(q.snapshot()[0].item, "hook-1");
    assert_eq!(dep.seen(), ["hook-1"; 3]);

    // A failure that is not retried (unknown error: fails fast) is the
    // caller's: returned unchanged, not queued.
    let mut plain = DeadLetterLayer::new("webhooks", q.clone()).layer(
        RetryLayer::new(
            RetryPolicy::builder(Backoff::constant(Duration::ZERO))
                .build()
                .unwrap(),
        )
        .layer(service_fn(|_: String| async {
            Err::<(), BoxError>("400 bad request".into())
        })),
    );
    let err = call(&mut plain, "hook-2".to_string()).await.unwrap_err();
    assert!(matches!(
        err.downcast_ref::<RetryError<AttemptError>>(),
        Some(RetryError::NotRetryable { .. })
    ));
    assert_eq!(q.len(), 1);

    // Successes pass through untouched.
    dep.down.store(false, Ordering::SeqCst);
    assert_eq!(
        call(&mut svc, "hook-3".to_string()).await.unwrap(),
        "done hook-3"
    );
    assert_eq!(q.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_replayer_also_runs_on_its_trigger_and_on_a_period_while_closed() {
    let dep = Dependency::default();
    let breaker = breaker(Duration::from_secs(30));
    let q = queue(10);
    q.push(DeadLetter::new(
        "x".to_string(),
        DeadLetterReason::Retry {
            attempts: 3,
            reason: GiveUpReason::Exhausted,
        },
    ))
    .unwrap();
    dep.down.store(true, Ordering::SeqCst);
    let config = ReplayConfig {
        backoff: Backoff::constant(Duration::from_secs(60)),
        ..ReplayConfig::default()
    };
    let replayer = Replayer::new(q.clone(), breaker.clone(), dep.clone().service())
        .also_every(Duration::from_secs(300))
        .replay_config(config)
        .unwrap();
    let trigger = replayer.trigger();
    let task = tokio::spawn(replayer.run());
    // The breaker is closed: the first pass runs at once and fails.
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(dep.seen(), ["x"]);
    assert_eq!(q.len(), 1);
    // The failed letter waits for its backoff (60 s), not for the period.
    tokio::time::sleep(Duration::from_secs(59)).await;
    assert_eq!(dep.seen().len(), 1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(dep.seen().len(), 2);
    // A trigger runs a pass at once: a new letter is replayed, the failed
    // one keeps waiting for its backoff.
    dep.down.store(false, Ordering::SeqCst);
    q.push(DeadLetter::new(
        "y".to_string(),
        DeadLetterReason::CircuitOpen,
    ))
    .unwrap();
    trigger.notify_one();
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(dep.seen(), ["x", "x", "y"]);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(dep.seen(), ["x", "x", "y", "x"]);
    assert!(q.is_empty());
    task.abort();
}

/// A letter that keeps failing is parked after `max_replays`, not replayed
/// forever; the others go on.
#[tokio::test(start_paused = true)]
async fn a_letter_failing_max_replays_times_is_parked() {
    use resilience_core::dead_letter::DeadLetterStore;
    let breaker = breaker(Duration::from_secs(30));
    let q = queue(10);
    for item in ["poison", "fine"] {
        q.push(DeadLetter::new(
            item.to_string(),
            DeadLetterReason::CircuitOpen,
        ))
        .unwrap();
    }
    let svc = service_fn(|req: String| async move {
        if req == "poison" {
            Err::<(), BoxError>("HTTP 400".into())
        } else {
            Ok(())
        }
    });
    let config = ReplayConfig {
        max_replays: 3,
        backoff: Backoff::constant(Duration::from_secs(1)),
        ..ReplayConfig::default()
    };
    let replayer = Replayer::new(q.clone(), breaker, svc)
        .replay_config(config)
        .unwrap();
    let mut replayed = 0;
    for _ in 0..3 {
        replayed += replayer.replay_once().await.unwrap().replayed;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let report = replayer.replay_once().await.unwrap();
    replayed += report.replayed;
    assert_eq!(replayed, 1, "the fine letter went through once");
    assert_eq!(report.remaining, 0);
    let parked = q.parked(10).await.unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].item, "poison");
    assert_eq!(parked[0].replays, 3);
    assert_eq!(parked[0].last_error.as_deref(), Some("HTTP 400"));
}

/// The layer and the replayer over a store behind `Arc<dyn DeadLetterStore>`
/// (what a durable store looks like to them).
#[tokio::test(start_paused = true)]
async fn the_layer_and_the_replayer_work_over_any_store() {
    use resilience_core::dead_letter::DeadLetterStore;
    let dep = Dependency::default();
    let breaker = breaker(Duration::from_secs(10));
    breaker.force_open();
    let q = queue(10);
    let store: Arc<dyn DeadLetterStore<String>> = Arc::new(q.clone());
    let below = CircuitBreakerLayer::new(breaker.clone()).layer(dep.clone().service());
    let mut svc = DeadLetterLayer::with_store(store.clone()).layer(below.clone());
    let err = call(&mut svc, "a".to_string()).await.unwrap_err();
    let queued = err.downcast_ref::<DeadLettered>().expect("queued");
    assert_eq!(queued.queue(), "retrain");
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.ready, 1);
    breaker.reset();
    let replayer = Replayer::new(store.clone(), breaker, below);
    let report = replayer.replay_once().await.unwrap();
    assert_eq!((report.replayed, report.remaining), (1, 0));
    assert_eq!(dep.seen(), ["a"]);
    // A full store hands the request back.
    let small: Arc<dyn DeadLetterStore<String>> =
        Arc::new(InMemoryDeadLetterQueue::<DeadLetter<String>>::new("small", 1).unwrap());
    let open = breaker_open();
    let mut svc = DeadLetterLayer::with_store(small)
        .layer(CircuitBreakerLayer::new(open).layer(dep.clone().service()));
    assert!(call(&mut svc, "b".to_string())
        .await
        .unwrap_err()
        .is::<DeadLettered>());
    let refused = call(&mut svc, "c".to_string()).await.unwrap_err();
    let refused = refused
        .downcast::<DeadLetterRefused<String>>()
        .expect("refused");
    assert_eq!(refused.into_request(), "c");
}

fn breaker_open() -> CircuitBreaker {
    let b = breaker(Duration::from_secs(10));
    b.force_open();
    b
}

#[tokio::test(start_paused = true)]
async fn a_custom_rule_decides_what_is_queued() {
    let q = queue(10);
    let mut svc = DeadLetterLayer::new("jobs", q.clone())
        .when(|e: &BoxError| {
            e.is::<io::Error>()
                .then(|| DeadLetterReason::Other("I/O failure".into()))
        })
        .layer(service_fn(|req: String| async move {
            if req == "io" {
                Err::<(), BoxError>(io::Error::from(io::ErrorKind::BrokenPipe).into())
            } else {
                Err("other".into())
            }
        }));
    let err = call(&mut svc, "io".to_string()).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<DeadLettered>().unwrap().reason(),
        &DeadLetterReason::Other("I/O failure".into())
    );
    let err = call(&mut svc, "other".to_string()).await.unwrap_err();
    assert_eq!(err.to_string(), "other");
    assert_eq!(q.len(), 1);
}

#[test]
fn the_success_path_allocates_nothing() {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};
    let q: InMemoryDeadLetterQueue<DeadLetter<u64>> =
        InMemoryDeadLetterQueue::new("q", 10).unwrap();
    let mut svc = DeadLetterLayer::new("q", q).layer(service_fn(|x: u64| {
        std::future::ready(Ok::<_, BoxError>(x))
    }));
    let mut cx = Context::from_waker(Waker::noop());
    let mut once = |x: u64| {
        assert!(svc.poll_ready(&mut cx).is_ready());
        let mut fut = pin!(svc.call(x));
        assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(y)) if y == x));
    };
    once(0);
    let info = allocation_counter::measure(|| (0..10_000).for_each(&mut once));
    assert_eq!(info.count_total, 0, "{info:?}");

    // The same over a store (what a durable store looks like to the
    // layer): a store is only written to on the failure path.
    let store: Arc<dyn resilience_core::dead_letter::DeadLetterStore<u64>> =
        Arc::new(InMemoryDeadLetterQueue::<DeadLetter<u64>>::new("s", 10).unwrap());
    let mut svc = DeadLetterLayer::with_store(store).layer(service_fn(|x: u64| {
        std::future::ready(Ok::<_, BoxError>(x))
    }));
    let mut once = |x: u64| {
        assert!(svc.poll_ready(&mut cx).is_ready());
        let mut fut = pin!(svc.call(x));
        assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(y)) if y == x));
    };
    once(0);
    let info = allocation_counter::measure(|| (0..10_000).for_each(&mut once));
    assert_eq!(info.count_total, 0, "over a store: {info:?}");
}

/// Letters queued through a store carry the keys the host gives them: an
/// idempotency key it can deduplicate by, an ordering key for per-key FIFO.
#[tokio::test(start_paused = true)]
async fn a_store_target_keys_letters_from_their_requests() {
    use resilience_core::dead_letter::{ClaimOptions, DeadLetterStore, NewLetter};
    let breaker = breaker_open();
    let q = queue(10);
    let store: Arc<dyn DeadLetterStore<String>> = Arc::new(q.clone());
    let dep = Dependency::default();
    let mut svc = DeadLetterLayer::with_store(store.clone())
        .with_keys(|l: NewLetter<String>| {
            let customer = l.item.split('/').next().unwrap_or("").to_string();
            let id = l.item.clone();
            l.with_idempotency_key(id).with_ordering_key(customer)
        })
        .layer(CircuitBreakerLayer::new(breaker).layer(dep.clone().service()));
    for req in ["acme/1", "acme/2", "globex/1"] {
        assert!(call(&mut svc, req.to_string())
            .await
            .unwrap_err()
            .is::<DeadLettered>());
    }
    let claimed = store
        .claim(ClaimOptions::new(10, Duration::from_secs(30)))
        .await
        .unwrap();
    // One letter per customer in flight: acme/2 waits for acme/1.
    let got: Vec<_> = claimed
        .iter()
        .map(|l| {
            (
                l.item.as_str(),
                l.idempotency_key.as_str(),
                l.ordering_key.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("acme/1", "acme/1", Some("acme")),
            ("globex/1", "globex/1", Some("globex"))
        ]
    );
}
