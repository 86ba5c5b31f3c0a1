//! The bulkhead layers: limits, waiting on tokio's (paused) clock, where the
//! permit is taken, cancellation, routing to pools, priorities at a shared
//! cap, and no allocation on the uncontended path.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use resilience_core::bulkhead::{
    Bulkhead, BulkheadConfig, BulkheadFull, BulkheadSet, BulkheadSetConfig, Priority, RejectReason,
    SharedCapConfig,
};
use resilience_tower::bulkhead::{BulkheadLayer, BulkheadSetLayer, Pools, UnknownPool};
use resilience_tower::error::PolledAfterCompletion;
use tokio::time::Instant;
use tower::{service_fn, BoxError, Layer, Service, ServiceExt};

fn bulkhead(name: &str, max: u32, wait_ms: u64) -> Bulkhead {
    Bulkhead::new(
        name,
        BulkheadConfig::new(max).max_wait(Duration::from_millis(wait_ms)),
    )
    .unwrap()
}

/// Sleeps `ms` (tokio time) and answers `ms`; counts calls.
fn sleeper(
    calls: Arc<AtomicUsize>,
) -> impl Service<u64, Response = u64, Error = BoxError, Future: Send> + Clone + Send {
    service_fn(move |ms: u64| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, BoxError>(ms)
        }
    })
}

fn full(err: &BoxError) -> &BulkheadFull {
    err.downcast_ref::<BulkheadFull>()
        .unwrap_or_else(|| panic!("expected BulkheadFull, got {err}"))
}

#[tokio::test(start_paused = true)]
async fn rejects_at_the_limit_without_calling_the_inner_service() {
    let b = bulkhead("db", 2, 0);
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = BulkheadLayer::new(b.clone()).layer(sleeper(calls.clone()));
    let running: Vec<_> = (0..2)
        .map(|_| tokio::spawn(svc.clone().oneshot(1_000)))
        .collect();
    tokio::task::yield_now().await;
    assert_eq!(b.in_flight(), 2);
    let started = Instant::now();
    for _ in 0..10 {
        let err = svc.clone().oneshot(5).await.unwrap_err();
        let f = full(&err);
        assert_eq!(f.reason(), RejectReason::Full);
        assert_eq!(f.bulkhead(), "db");
        assert_eq!(f.max_concurrent(), 2);
    }
    assert_eq!(started.elapsed(), Duration::ZERO, "fail fast never waits");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "rejected calls never ran");
    for r in running {
        assert_eq!(r.await.unwrap().unwrap(), 1_000);
    }
    assert_eq!(b.in_flight(), 0);
    assert_eq!(svc.oneshot(5).await.unwrap(), 5);
}

#[tokio::test(start_paused = true)]
async fn waits_up_to_max_wait_then_rejects_with_timed_out() {
    let b = bulkhead("db", 1, 250);
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = BulkheadLayer::new(b.clone()).layer(sleeper(calls.clone()));
    let slow = tokio::spawn(svc.clone().oneshot(10_000));
    tokio::task::yield_now().await;
    let started = Instant::now();
    let err = svc.clone().oneshot(1).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_millis(250));
    let f = full(&err);
    assert!(f.is_timeout());
    assert_eq!(f.max_wait(), Duration::from_millis(250));
    assert!(err.to_string().contains("timed out after waiting 250ms"));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(b.waiting(), 0);
    slow.abort();
}

#[tokio::test(start_paused = true)]
async fn queued_call_runs_when_a_permit_frees_and_never_before() {
    let b = bulkhead("db", 1, 1_000);
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = BulkheadLayer::new(b.clone()).layer(sleeper(calls.clone()));
    let first = tokio::spawn(svc.clone().oneshot(300));
    tokio::task::yield_now().await;
    let started = Instant::now();
    let second = tokio::spawn(svc.clone().oneshot(100));
    tokio::task::yield_now().await;
    assert_eq!(b.waiting(), 1);
    // `call` ran for the queued request, but the inner service was not
    // called: work starts only with a permit.
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(first.await.unwrap().unwrap(), 300);
    assert_eq!(second.await.unwrap().unwrap(), 100);
    assert_eq!(started.elapsed(), Duration::from_millis(400));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(b.in_flight(), 0);
}

/// A service that is unready until `open` is set, and counts `call`s (not
/// polls of the returned future): work that starts eagerly in `call`.
#[derive(Clone, Default)]
struct Gate {
    open: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
    waiter: Arc<Mutex<Option<Waker>>>,
}

impl Gate {
    fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
        if let Some(w) = self.waiter.lock().unwrap().take() {
            w.wake();
        }
    }
}

impl Service<u32> for Gate {
    type Response = u32;
    type Error = BoxError;
    type Future = std::future::Ready<Result<u32, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        *self.waiter.lock().unwrap() = Some(cx.waker().clone());
        if self.open.load(Ordering::SeqCst) {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    fn call(&mut self, x: u32) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok(x))
    }
}

#[tokio::test(start_paused = true)]
async fn no_permit_is_held_while_the_inner_service_is_unready() {
    let b = bulkhead("db", 1, 1_000);
    let gate = Gate::default();
    let mut svc = BulkheadLayer::new(b.clone()).layer(gate.clone());
    let mut other = svc.clone();
    // One caller is stuck in `ready()` on the unready inner service...
    let stuck = tokio::spawn(async move { other.ready().await.map(|_| ()) });
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(!stuck.is_finished());
    // ...and holds no permit: the bulkhead is untouched.
    assert_eq!(b.in_flight(), 0);
    gate.open();
    stuck.await.unwrap().unwrap();
    assert_eq!(svc.ready().await.unwrap().call(7).await.unwrap(), 7);
    assert_eq!(b.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn eager_services_are_not_called_until_the_permit_is_held() {
    let b = bulkhead("db", 1, 1_000);
    let gate = Gate::default();
    gate.open();
    let mut svc = BulkheadLayer::new(b.clone()).layer(gate.clone());
    let held = b.try_acquire_owned().unwrap();
    let fut = svc.ready().await.unwrap().call(1);
    let waiting = tokio::spawn(fut);
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(
        gate.calls.load(Ordering::SeqCst),
        0,
        "queued: not called yet"
    );
    drop(held);
    assert_eq!(waiting.await.unwrap().unwrap(), 1);
    assert_eq!(gate.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn dropped_response_futures_give_their_permit_and_queue_place_back() {
    let b = bulkhead("db", 1, 1_000);
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = BulkheadLayer::new(b.clone()).layer(sleeper(calls));
    let running = svc.ready().await.unwrap().call(10_000);
    let running = tokio::spawn(running);
    tokio::task::yield_now().await;
    assert_eq!(b.in_flight(), 1);
    let queued = tokio::spawn(svc.clone().oneshot(1));
    tokio::task::yield_now().await;
    assert_eq!(b.waiting(), 1);
    queued.abort();
    let _ = queued.await;
    assert_eq!(b.waiting(), 0, "a cancelled waiter leaves the queue");
    running.abort();
    let _ = running.await;
    assert_eq!(b.in_flight(), 0, "a cancelled call frees its permit");
    assert_eq!(svc.ready().await.unwrap().call(3).await.unwrap(), 3);
}

#[tokio::test]
async fn inner_errors_pass_through_and_free_the_permit() {
    let b = bulkhead("db", 1, 0);
    let mut svc = BulkheadLayer::new(b.clone())
        .layer(service_fn(|_: ()| async { Err::<(), _>("disk on fire") }));
    for _ in 0..3 {
        let err = svc.ready().await.unwrap().call(()).await.unwrap_err();
        assert_eq!(err.to_string(), "disk on fire");
        assert!(err.downcast_ref::<BulkheadFull>().is_none());
    }
    assert_eq!(b.in_flight(), 0);
}

fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn polling_after_completion_is_an_error_not_a_panic() {
    let b = bulkhead("db", 1, 0);
    let mut svc = BulkheadLayer::new(b.clone())
        .layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
    let mut fut = Box::pin(svc.call(1));
    assert!(matches!(poll_once(&mut fut), Poll::Ready(Ok(1))));
    let Poll::Ready(Err(e)) = poll_once(&mut fut) else {
        panic!("expected an error");
    };
    assert!(e.downcast_ref::<PolledAfterCompletion>().is_some());

    let _held = b.try_acquire_owned().unwrap();
    let mut rejected = Box::pin(svc.call(2));
    let Poll::Ready(Err(e)) = poll_once(&mut rejected) else {
        panic!()
    };
    assert!(e.downcast_ref::<BulkheadFull>().is_some());
    let Poll::Ready(Err(e)) = poll_once(&mut rejected) else {
        panic!()
    };
    assert!(e.downcast_ref::<PolledAfterCompletion>().is_some());
}

#[derive(Debug)]
struct Req {
    pool: &'static str,
    ms: u64,
}

fn set(config: BulkheadSetConfig) -> BulkheadSet {
    BulkheadSet::new(config).unwrap()
}

fn routed_sleeper(
    order: Arc<Mutex<Vec<&'static str>>>,
) -> impl Service<Req, Response = &'static str, Error = BoxError, Future: Send> + Clone + Send {
    service_fn(move |r: Req| {
        order.lock().unwrap().push(r.pool);
        async move {
            tokio::time::sleep(Duration::from_millis(r.ms)).await;
            Ok::<_, BoxError>(r.pool)
        }
    })
}

#[tokio::test(start_paused = true)]
async fn set_routes_each_request_to_its_pool_and_isolates_pools() {
    let mut config = resilience_core::presets::model_registry::bulkheads();
    // A tiny dashboard pool, so it fills up.
    config.pools.insert(
        "dashboard".into(),
        BulkheadConfig::new(2).priority(Priority::Low),
    );
    let set = set(config);
    let order = Arc::new(Mutex::new(Vec::new()));
    let svc = BulkheadSetLayer::by_name(Pools::new(set.clone()), |r: &Req| r.pool)
        .layer(routed_sleeper(order.clone()));
    let ui: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(svc.clone().oneshot(Req {
                pool: "dashboard",
                ms: 1_000,
            }))
        })
        .collect();
    tokio::task::yield_now().await;
    let dashboard = set.get("dashboard").unwrap();
    assert_eq!(dashboard.in_flight(), 2);
    // The dashboard is full and fails fast...
    let err = svc
        .clone()
        .oneshot(Req {
            pool: "dashboard",
            ms: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(full(&err).bulkhead(), "dashboard");
    // ...while the API and internal pools are untouched.
    let api = svc
        .clone()
        .oneshot(Req { pool: "api", ms: 1 })
        .await
        .unwrap();
    assert_eq!(api, "api");
    let internal = svc
        .clone()
        .oneshot(Req {
            pool: "internal",
            ms: 1,
        })
        .await
        .unwrap();
    assert_eq!(internal, "internal");
    assert_eq!(set.get("api").unwrap().in_flight(), 0);
    for u in ui {
        assert_eq!(u.await.unwrap().unwrap(), "dashboard");
    }
    // An unknown pool is a clear error, and nothing ran.
    let before = order.lock().unwrap().len();
    let err = svc
        .oneshot(Req {
            pool: "batch",
            ms: 1,
        })
        .await
        .unwrap_err();
    let unknown = err.downcast_ref::<UnknownPool>().unwrap();
    assert_eq!(
        unknown.to_string(),
        "no bulkhead pool `batch` in this set; pools are: api, dashboard, internal"
    );
    assert_eq!(order.lock().unwrap().len(), before);
}

#[tokio::test(start_paused = true)]
async fn set_routes_by_pool_id_and_rejects_foreign_ids() {
    let set = set(resilience_core::presets::model_registry::bulkheads());
    let pools = Pools::new(set.clone());
    let internal = pools.id("internal").unwrap();
    let api = pools.id("api").unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let svc = BulkheadSetLayer::by_id(
        pools,
        move |r: &Req| {
            if r.pool == "internal" {
                internal
            } else {
                api
            }
        },
    )
    .layer(routed_sleeper(order.clone()));
    let running = tokio::spawn(svc.clone().oneshot(Req {
        pool: "internal",
        ms: 100,
    }));
    tokio::task::yield_now().await;
    assert_eq!(set.get("internal").unwrap().in_flight(), 1);
    assert_eq!(set.get("api").unwrap().in_flight(), 0);
    assert_eq!(running.await.unwrap().unwrap(), "internal");
    assert_eq!(
        svc.clone().oneshot(Req { pool: "x", ms: 1 }).await.unwrap(),
        "x",
        "anything else goes to the api pool"
    );

    let other = Pools::new(set).id("api").unwrap();
    let svc = BulkheadSetLayer::by_id(
        Pools::new(
            BulkheadSet::new(resilience_core::presets::model_registry::bulkheads()).unwrap(),
        ),
        move |_: &Req| other,
    )
    .layer(routed_sleeper(order));
    let err = svc.oneshot(Req { pool: "api", ms: 1 }).await.unwrap_err();
    assert!(matches!(
        err.downcast_ref::<UnknownPool>(),
        Some(UnknownPool::ForeignId { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn set_admits_high_priority_first_at_the_shared_cap() {
    let mut config = resilience_core::presets::model_registry::bulkheads();
    config.shared_cap = Some(SharedCapConfig {
        max_waiting: Some(4),
        ..SharedCapConfig::new(1)
    });
    let set = set(config);
    let order = Arc::new(Mutex::new(Vec::new()));
    let svc = BulkheadSetLayer::by_name(Pools::new(set.clone()), |r: &Req| r.pool)
        .layer(routed_sleeper(order.clone()));
    // One API call takes the whole shared cap for 1 s.
    let api = tokio::spawn(svc.clone().oneshot(Req {
        pool: "api",
        ms: 1_000,
    }));
    tokio::task::yield_now().await;
    // A dashboard (low) call queues first, then an internal (high) one.
    let low = tokio::spawn(svc.clone().oneshot(Req {
        pool: "dashboard",
        ms: 10,
    }));
    tokio::task::yield_now().await;
    let high = tokio::spawn(svc.clone().oneshot(Req {
        pool: "internal",
        ms: 10,
    }));
    tokio::task::yield_now().await;
    assert_eq!(set.shared_cap().unwrap().waiting(), 2);
    assert_eq!(api.await.unwrap().unwrap(), "api");
    assert_eq!(high.await.unwrap().unwrap(), "internal");
    assert_eq!(low.await.unwrap().unwrap(), "dashboard");
    assert_eq!(
        *order.lock().unwrap(),
        ["api", "internal", "dashboard"],
        "the high-priority pool is served before the earlier low-priority caller"
    );
}

#[tokio::test(start_paused = true)]
async fn set_sheds_low_priority_when_the_shared_queue_is_full() {
    let mut config = resilience_core::presets::model_registry::bulkheads();
    config.shared_cap = Some(SharedCapConfig {
        name: "gpu".into(),
        max_concurrent: 1,
        max_waiting: Some(1),
    });
    let set = set(config);
    let order = Arc::new(Mutex::new(Vec::new()));
    let svc = BulkheadSetLayer::by_name(Pools::new(set), |r: &Req| r.pool)
        .layer(routed_sleeper(order.clone()));
    let api = tokio::spawn(svc.clone().oneshot(Req {
        pool: "api",
        ms: 1_000,
    }));
    tokio::task::yield_now().await;
    let low = tokio::spawn(svc.clone().oneshot(Req {
        pool: "dashboard",
        ms: 10,
    }));
    tokio::task::yield_now().await;
    let high = tokio::spawn(svc.clone().oneshot(Req {
        pool: "internal",
        ms: 10,
    }));
    let err = low.await.unwrap().unwrap_err();
    let f = full(&err);
    assert_eq!(f.reason(), RejectReason::Shed);
    assert_eq!(f.shared_cap(), Some("gpu"));
    assert_eq!(api.await.unwrap().unwrap(), "api");
    assert_eq!(high.await.unwrap().unwrap(), "internal");
    assert_eq!(*order.lock().unwrap(), ["api", "internal"]);
}

#[test]
fn counting_allocator_is_active() {
    common::assert_counting_allocator_active();
}

#[test]
fn uncontended_calls_allocate_nothing() {
    let b = bulkhead("alloc", 4, 100);
    let mut svc = BulkheadLayer::new(b.clone()).layer(service_fn(|x: u64| {
        std::future::ready(Ok::<_, BoxError>(x))
    }));
    let mut config = resilience_core::presets::model_registry::bulkheads();
    config.shared_cap = Some(SharedCapConfig::new(10));
    let pools = Pools::new(set(config));
    let api = pools.id("api").unwrap();
    let mut by_id =
        BulkheadSetLayer::by_id(pools.clone(), move |_: &u64| api).layer(service_fn(|x: u64| {
            std::future::ready(Ok::<_, BoxError>(x))
        }));
    let mut by_name =
        BulkheadSetLayer::by_name(pools, |_: &u64| "internal").layer(service_fn(|x: u64| {
            std::future::ready(Ok::<_, BoxError>(x))
        }));
    let mut cx = Context::from_waker(Waker::noop());
    let mut run = |i: u64| {
        assert!(svc.poll_ready(&mut cx).is_ready());
        let f = std::pin::pin!(svc.call(i));
        assert!(matches!(f.poll(&mut cx), Poll::Ready(Ok(x)) if x == i));
        assert!(by_id.poll_ready(&mut cx).is_ready());
        let f = std::pin::pin!(by_id.call(i));
        assert!(matches!(f.poll(&mut cx), Poll::Ready(Ok(x)) if x == i));
        assert!(by_name.poll_ready(&mut cx).is_ready());
        let f = std::pin::pin!(by_name.call(i));
        assert!(matches!(f.poll(&mut cx), Poll::Ready(Ok(x)) if x == i));
    };
    run(0); // warm-up outside the measurement
    let info = allocation_counter::measure(|| {
        for i in 0..10_000 {
            run(i);
        }
    });
    assert_eq!(
        info.count_total, 0,
        "the uncontended path must not allocate"
    );
    assert_eq!(b.in_flight(), 0);
}

#[test]
fn name_lookup_finds_every_pool_in_small_and_large_sets() {
    for n in [1usize, 3, 8, 9, 40] {
        let mut config = BulkheadSetConfig::default();
        for i in 0..n {
            config
                .pools
                .insert(format!("pool-{i:02}"), BulkheadConfig::new(1 + i as u32));
        }
        let pools = Pools::new(set(config));
        for i in 0..n {
            let name = format!("pool-{i:02}");
            let b = pools.by_name(&name).unwrap();
            assert_eq!(b.name(), name);
            assert_eq!(b.max_concurrent(), 1 + i as u32);
            let id = pools.id(&name).unwrap();
            assert_eq!(pools.name(id), Some(name.as_str()));
        }
        assert!(pools.by_name("pool-99").is_none());
        assert!(pools.by_name("").is_none());
    }
}
