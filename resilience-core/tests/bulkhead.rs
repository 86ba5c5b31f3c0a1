//! Behaviour tests for `resilience_core::bulkhead`: every rule of the issue,
//! driven by hand-polled futures, a test timer and `ManualClock`.

mod common;

use common::{poll, Alarm};

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use resilience_core::bulkhead::{
    Bulkhead, BulkheadConfig, BulkheadEvent, BulkheadSet, BulkheadSetConfig, NoTimer, Priority,
    RejectReason, SharedCapConfig,
};
use resilience_core::clock::ManualClock;
use resilience_core::config::from_yaml_str;
use resilience_core::presets::model_registry;

fn bulkhead(max: u32, wait_ms: u64) -> Bulkhead {
    Bulkhead::new(
        "test",
        BulkheadConfig::new(max)
            .max_wait(Duration::from_millis(wait_ms))
            .max_waiting(16),
    )
    .unwrap()
}

#[test]
fn fails_fast_when_max_wait_is_zero() {
    let b = bulkhead(1, 0);
    let _held = b.try_acquire().unwrap();
    let mut fut = Box::pin(b.acquire(Alarm::default()));
    let Poll::Ready(Err(e)) = poll(&mut fut) else {
        panic!("must fail fast")
    };
    assert_eq!(e.reason(), RejectReason::Full);
    assert_eq!(e.bulkhead(), "test");
    assert_eq!(e.max_concurrent(), 1);
    assert_eq!(b.waiting(), 0);
}

#[test]
fn queued_caller_gets_freed_permit() {
    let b = bulkhead(1, 1000);
    let held = b.try_acquire().unwrap();
    let mut fut = Box::pin(b.acquire(Alarm::default()));
    assert!(poll(&mut fut).is_pending());
    assert_eq!(b.waiting(), 1);
    drop(held);
    let Poll::Ready(Ok(permit)) = poll(&mut fut) else {
        panic!("must be admitted")
    };
    assert_eq!(b.in_flight(), 1);
    assert_eq!(b.waiting(), 0);
    drop(permit);
    assert_eq!(b.in_flight(), 0);
}

#[test]
fn times_out_with_the_callers_timer() {
    let b = bulkhead(1, 250);
    let _held = b.try_acquire().unwrap();
    let alarm = Alarm::default();
    let mut fut = Box::pin(b.acquire(alarm.clone()));
    assert!(poll(&mut fut).is_pending());
    alarm.fire();
    let Poll::Ready(Err(e)) = poll(&mut fut) else {
        panic!("must time out")
    };
    assert!(e.is_timeout());
    assert_eq!(e.max_wait(), Duration::from_millis(250));
    assert!(e.to_string().contains("timed out after waiting 250ms"));
    assert_eq!(b.waiting(), 0);
}

#[test]
fn timer_receives_max_wait_and_starts_only_when_queueing() {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = asked.clone();
    let timer = move |d: Duration| {
        log.lock().unwrap().push(d);
        std::future::pending::<()>()
    };
    let b = bulkhead(1, 5000);
    let mut fast = Box::pin(b.acquire(&timer));
    let Poll::Ready(Ok(p)) = poll(&mut fast) else {
        panic!()
    };
    assert!(
        asked.lock().unwrap().is_empty(),
        "no timer for a free permit"
    );
    let mut slow = Box::pin(b.acquire(&timer));
    assert!(poll(&mut slow).is_pending());
    assert_eq!(*asked.lock().unwrap(), vec![Duration::from_secs(5)]);
    drop(p);
    assert!(poll(&mut slow).is_ready());
}

#[test]
fn grant_racing_the_timeout_is_kept_not_lost() {
    let b = bulkhead(1, 100);
    let held = b.try_acquire().unwrap();
    let alarm = Alarm::default();
    let mut fut = Box::pin(b.acquire(alarm.clone()));
    assert!(poll(&mut fut).is_pending());
    drop(held); // hands the permit over...
    alarm.fire(); // ...and the deadline passes before the next poll
    let Poll::Ready(Ok(permit)) = poll(&mut fut) else {
        panic!("a granted permit wins over the timeout")
    };
    drop(permit);
    assert_eq!(b.in_flight(), 0);
}

#[test]
fn dropped_waiter_leaves_queue_and_returns_granted_permit() {
    let b = bulkhead(1, 1000);
    let held = b.try_acquire().unwrap();
    let mut a = Box::pin(b.acquire(NoTimer));
    let mut c = Box::pin(b.acquire(NoTimer));
    assert!(poll(&mut a).is_pending());
    assert!(poll(&mut c).is_pending());
    assert_eq!(b.waiting(), 2);
    drop(held); // granted to `a`, which is dropped before it sees it
    drop(a);
    // The permit moved on to `c` instead of being lost.
    let Poll::Ready(Ok(p)) = poll(&mut c) else {
        panic!("permit must pass to the next waiter")
    };
    drop(p);
    drop(c);
    assert_eq!(b.in_flight(), 0);
    assert_eq!(b.waiting(), 0);
    assert!(b.try_acquire().is_ok());
}

#[test]
fn waiters_are_served_first_come_first_served_and_block_barging() {
    let b = bulkhead(1, 1000);
    let held = b.try_acquire().unwrap();
    let mut futs: Vec<_> = (0..3).map(|_| Box::pin(b.acquire(NoTimer))).collect();
    for f in &mut futs {
        assert!(poll(f).is_pending());
    }
    drop(held);
    assert!(
        b.try_acquire().is_err(),
        "a newcomer must not overtake the queue"
    );
    assert!(poll(&mut futs[2]).is_pending());
    assert!(poll(&mut futs[1]).is_pending());
    let Poll::Ready(Ok(p0)) = poll(&mut futs[0]) else {
        panic!("first in line goes first")
    };
    drop(p0);
    assert!(poll(&mut futs[2]).is_pending());
    assert!(matches!(poll(&mut futs[1]), Poll::Ready(Ok(_))));
}

#[test]
fn queue_is_bounded() {
    let b = Bulkhead::new(
        "api",
        BulkheadConfig::new(1)
            .max_wait(Duration::from_secs(1))
            .max_waiting(1),
    )
    .unwrap();
    let _held = b.try_acquire().unwrap();
    let mut a = Box::pin(b.acquire(NoTimer));
    assert!(poll(&mut a).is_pending());
    let mut c = Box::pin(b.acquire(NoTimer));
    let Poll::Ready(Err(e)) = poll(&mut c) else {
        panic!()
    };
    assert_eq!(e.reason(), RejectReason::QueueFull);
}

#[test]
fn default_queue_bound_is_max_concurrent() {
    let b = Bulkhead::new("api", BulkheadConfig::new(2)).unwrap();
    assert_eq!(b.max_waiting(), 2);
}

#[test]
fn growing_the_limit_admits_waiters_and_shrinking_keeps_in_flight() {
    let b = bulkhead(1, 1000);
    let p = b.try_acquire().unwrap();
    let mut w1 = Box::pin(b.acquire(NoTimer));
    let mut w2 = Box::pin(b.acquire(NoTimer));
    assert!(poll(&mut w1).is_pending());
    assert!(poll(&mut w2).is_pending());
    assert_eq!(b.set_max_concurrent(3).unwrap(), 1);
    let Poll::Ready(Ok(q1)) = poll(&mut w1) else {
        panic!()
    };
    let Poll::Ready(Ok(q2)) = poll(&mut w2) else {
        panic!()
    };
    assert_eq!(b.in_flight(), 3);
    b.set_max_concurrent(1).unwrap();
    assert_eq!(b.in_flight(), 3, "shrinking revokes nothing");
    assert_eq!(b.available(), 0);
    drop(p);
    drop(q1);
    assert!(b.try_acquire().is_err());
    drop(q2);
    assert!(b.try_acquire().is_ok());
    assert_eq!(
        b.set_max_concurrent(0).unwrap_err().field(),
        Some("max_concurrent")
    );
    assert!(b.set_max_concurrent(u32::MAX).is_err());
}

#[test]
fn owned_permit_and_future_are_static() {
    let b = bulkhead(1, 1000);
    let held = b.try_acquire_owned().unwrap();
    let mut fut = b.acquire_owned(NoTimer);
    let mut fut = Box::pin(async move { fut_await(&mut fut).await });
    assert!(poll(&mut fut).is_pending());
    let t = std::thread::spawn(move || drop(held));
    t.join().unwrap();
    let Poll::Ready(Ok(p)) = poll(&mut fut) else {
        panic!()
    };
    assert!(p.bulkhead().ptr_eq(&b));
}

async fn fut_await<F: Future + Unpin>(f: &mut F) -> F::Output {
    f.await
}

#[test]
fn wait_time_is_measured_on_the_clock() {
    let clock = ManualClock::new();
    let b = Bulkhead::with_clock(
        "api",
        BulkheadConfig::new(1).max_wait(Duration::from_secs(10)),
        clock.clone(),
    )
    .unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    b.listeners()
        .add_fn(move |e: &BulkheadEvent| sink.lock().unwrap().push(e.clone()));
    let held = b.try_acquire().unwrap();
    let mut fut = Box::pin(b.acquire(NoTimer));
    assert!(poll(&mut fut).is_pending());
    clock.advance(Duration::from_millis(1500));
    drop(held);
    assert!(matches!(poll(&mut fut), Poll::Ready(Ok(_))));
    let events = events.lock().unwrap();
    assert_eq!(
        events.last(),
        Some(&BulkheadEvent::Permitted {
            bulkhead: Arc::from("api"),
            waited: Duration::from_millis(1500)
        })
    );
}

#[test]
fn set_loads_the_model_registry_table_and_isolates_pools() {
    let config: BulkheadSetConfig = from_yaml_str(model_registry::BULKHEADS_YAML).unwrap();
    assert_eq!(
        config,
        resilience_core::presets::model_registry::bulkheads()
    );
    let set = BulkheadSet::new(config).unwrap();
    let dash = set.get("dashboard").unwrap();
    assert_eq!(dash.max_concurrent(), 50);
    assert_eq!(dash.max_wait(), Duration::from_secs(5));
    assert_eq!(dash.priority(), Priority::Low);
    let api = set.get("api").unwrap();
    assert_eq!(
        (api.max_concurrent(), api.max_wait()),
        (100, Duration::from_secs(10))
    );
    let internal = set.get("internal").unwrap();
    assert_eq!(
        (
            internal.max_concurrent(),
            internal.max_wait(),
            internal.priority()
        ),
        (30, Duration::from_secs(3), Priority::High)
    );
    // Exhausting the dashboard pool leaves the others untouched.
    let held: Vec<_> = (0..50).map(|_| dash.try_acquire().unwrap()).collect();
    assert!(dash.try_acquire().is_err());
    assert!(api.try_acquire().is_ok());
    assert!(internal.try_acquire().is_ok());
    drop(held);
}

fn capped_set(cap: u32, cap_queue: u32) -> BulkheadSet {
    let pool = |p| {
        BulkheadConfig::new(10)
            .max_wait(Duration::from_secs(1))
            .priority(p)
    };
    let mut config = BulkheadSetConfig::default();
    config.pools.insert("dashboard".into(), pool(Priority::Low));
    config.pools.insert("api".into(), pool(Priority::Medium));
    config.pools.insert("internal".into(), pool(Priority::High));
    config.shared_cap = Some(SharedCapConfig {
        name: "db".into(),
        max_concurrent: cap,
        max_waiting: Some(cap_queue),
    });
    BulkheadSet::new(config).unwrap()
}

#[test]
fn shared_cap_bounds_all_pools_and_names_itself() {
    let set = capped_set(2, 4);
    let a = set.get("api").unwrap().try_acquire().unwrap();
    let d = set.get("dashboard").unwrap().try_acquire().unwrap();
    let e = set.get("internal").unwrap().try_acquire().unwrap_err();
    assert_eq!(e.bulkhead(), "internal");
    assert_eq!(e.shared_cap(), Some("db"));
    assert_eq!(e.max_concurrent(), 2);
    assert!(e.to_string().contains("shared cap `db`"));
    // The pool permit taken on the way was given back.
    assert_eq!(set.get("internal").unwrap().in_flight(), 0);
    assert_eq!(set.shared_cap().unwrap().in_flight(), 2);
    drop((a, d));
    assert_eq!(set.shared_cap().unwrap().in_flight(), 0);
}

#[test]
fn shared_cap_admits_higher_priority_first() {
    let set = capped_set(1, 8);
    let held = set.get("api").unwrap().try_acquire().unwrap();
    let dash = set.get("dashboard").unwrap().clone();
    let api = set.get("api").unwrap().clone();
    let internal = set.get("internal").unwrap().clone();
    let mut low = Box::pin(dash.acquire_owned(NoTimer));
    let mut mid = Box::pin(api.acquire_owned(NoTimer));
    let mut high = Box::pin(internal.acquire_owned(NoTimer));
    assert!(poll(&mut low).is_pending());
    assert!(poll(&mut mid).is_pending());
    assert!(poll(&mut high).is_pending());
    assert_eq!(set.shared_cap().unwrap().waiting(), 3);
    drop(held);
    assert!(poll(&mut low).is_pending());
    assert!(poll(&mut mid).is_pending());
    let Poll::Ready(Ok(p)) = poll(&mut high) else {
        panic!("high priority goes first")
    };
    drop(p);
    assert!(poll(&mut low).is_pending());
    let Poll::Ready(Ok(p)) = poll(&mut mid) else {
        panic!("then medium")
    };
    drop(p);
    assert!(matches!(poll(&mut low), Poll::Ready(Ok(_))));
}

#[test]
fn full_shared_queue_sheds_low_priority_first() {
    let set = capped_set(1, 1);
    let _held = set.get("api").unwrap().try_acquire().unwrap();
    let dash = set.get("dashboard").unwrap().clone();
    let internal = set.get("internal").unwrap().clone();
    let mut low = Box::pin(dash.acquire_owned(NoTimer));
    assert!(poll(&mut low).is_pending());
    assert_eq!(
        dash.in_flight(),
        1,
        "holds its pool permit while queued at the cap"
    );
    let mut high = Box::pin(internal.acquire_owned(NoTimer));
    assert!(poll(&mut high).is_pending());
    let Poll::Ready(Err(e)) = poll(&mut low) else {
        panic!("low priority must be shed")
    };
    assert_eq!(e.reason(), RejectReason::Shed);
    assert_eq!(e.shared_cap(), Some("db"));
    assert_eq!(dash.in_flight(), 0, "pool permit returned on shed");
    // A low-priority newcomer cannot displace the high one.
    let mut low2 = Box::pin(dash.acquire_owned(NoTimer));
    let Poll::Ready(Err(e)) = poll(&mut low2) else {
        panic!()
    };
    assert_eq!(e.reason(), RejectReason::QueueFull);
}

#[test]
fn timeout_at_shared_cap_returns_pool_permit() {
    let set = capped_set(1, 4);
    let _held = set.get("api").unwrap().try_acquire().unwrap();
    let dash = set.get("dashboard").unwrap();
    let alarm = Alarm::default();
    let mut fut = Box::pin(dash.acquire(alarm.clone()));
    assert!(poll(&mut fut).is_pending());
    assert_eq!(dash.in_flight(), 1);
    alarm.fire();
    let Poll::Ready(Err(e)) = poll(&mut fut) else {
        panic!()
    };
    assert!(e.is_timeout());
    assert_eq!(e.shared_cap(), Some("db"));
    drop(fut);
    assert_eq!(dash.in_flight(), 0);
    assert_eq!(set.shared_cap().unwrap().waiting(), 0);
}

#[test]
fn cancelling_at_shared_cap_returns_both_permits() {
    let set = capped_set(1, 4);
    let held = set.get("api").unwrap().try_acquire().unwrap();
    let dash = set.get("dashboard").unwrap();
    let mut fut = Box::pin(dash.acquire(NoTimer));
    assert!(poll(&mut fut).is_pending());
    drop(held); // grants the cap permit to the queued dashboard call
    drop(fut); // which is cancelled before it notices
    assert_eq!(dash.in_flight(), 0);
    assert_eq!(set.shared_cap().unwrap().in_flight(), 0);
    assert!(dash.try_acquire().is_ok());
}

#[test]
fn config_errors_name_the_field() {
    let e = BulkheadSet::new(from_yaml_str("pools:\n  api: { max_concurrent: 0 }\n").unwrap())
        .unwrap_err();
    assert_eq!(e.field(), Some("pools.api.max_concurrent"));
    let e =
        from_yaml_str::<BulkheadSetConfig>("pools:\n  api: { max_concurent: 3 }\n").unwrap_err();
    assert!(e.to_string().contains("max_concurent"), "{e}");
    let e = BulkheadSet::new(
        from_yaml_str("pools:\n  api: {}\nshared_cap: { name: api, max_concurrent: 3 }\n").unwrap(),
    )
    .unwrap_err();
    assert_eq!(e.field(), Some("shared_cap.name"));
    let e = Bulkhead::new(
        "x",
        BulkheadConfig::new(1).max_wait(Duration::from_secs(90_000)),
    )
    .unwrap_err();
    assert_eq!(e.field(), Some("max_wait"));
}

#[test]
fn metrics_follow_the_documented_table() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let b =
            Bulkhead::new("m", BulkheadConfig::new(1).max_wait(Duration::from_secs(1))).unwrap();
        let p = b.try_acquire().unwrap();
        let _ = b.try_acquire();
        let mut fut = Box::pin(b.acquire(NoTimer));
        assert!(poll(&mut fut).is_pending());
        drop(p);
        let Poll::Ready(Ok(p2)) = poll(&mut fut) else {
            panic!()
        };
        b.set_max_concurrent(5).unwrap();
        drop(p2);
    });
    let snap = snapshotter.snapshot().into_vec();
    let find = |name: &str, label: Option<(&str, &str)>| {
        snap.iter()
            .find(|(k, _, _, _)| {
                k.key().name() == name
                    && k.key()
                        .labels()
                        .any(|l| l.key() == "bulkhead" && l.value() == "m")
                    && label.is_none_or(|(lk, lv)| {
                        k.key().labels().any(|l| l.key() == lk && l.value() == lv)
                    })
            })
            .map(|(_, _, _, v)| v)
            .unwrap_or_else(|| panic!("missing metric {name}"))
    };
    assert_eq!(
        find(
            "resilience_bulkhead_rejected_total",
            Some(("reason", "full"))
        ),
        &DebugValue::Counter(1)
    );
    assert_eq!(
        find(
            "resilience_bulkhead_rejected_total",
            Some(("reason", "timed_out"))
        ),
        &DebugValue::Counter(0)
    );
    assert!(
        matches!(find("resilience_bulkhead_in_flight", None), DebugValue::Gauge(g) if g.into_inner() == 0.0)
    );
    assert!(
        matches!(find("resilience_bulkhead_waiting", None), DebugValue::Gauge(g) if g.into_inner() == 0.0)
    );
    assert!(
        matches!(find("resilience_bulkhead_max_concurrent", None), DebugValue::Gauge(g) if g.into_inner() == 5.0)
    );
    let DebugValue::Histogram(h) = find("resilience_bulkhead_wait_seconds", None) else {
        panic!()
    };
    assert_eq!(h.len(), 1, "only the call that waited records a wait");
}

#[test]
fn owned_future_with_tokio_timer_is_send_and_static() {
    fn assert_send_static<T: Send + 'static>(_: &T) {}
    let b = bulkhead(1, 1000);
    let fut = b.acquire_owned(tokio::time::sleep);
    assert_send_static(&fut);
    let permit = b.try_acquire_owned().unwrap();
    assert_send_static(&permit);
}

#[tokio::test(start_paused = true)]
async fn tokio_sleep_enforces_max_wait() {
    let b = bulkhead(1, 10_000);
    let held = b.try_acquire_owned().unwrap();
    let start = tokio::time::Instant::now();
    let err = b.acquire_owned(tokio::time::sleep).await.unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    // A waiter admitted by a release before its deadline.
    let waiter = tokio::spawn({
        let b = b.clone();
        async move { b.acquire_owned(tokio::time::sleep).await.map(|_| ()) }
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    drop(held);
    waiter.await.unwrap().unwrap();
    assert_eq!(b.in_flight(), 0);
}

#[test]
fn set_config_round_trips_through_yaml() {
    let mut c = resilience_core::presets::model_registry::bulkheads();
    c.shared_cap = Some(SharedCapConfig::new(150));
    let text = serde_norway::to_string(&c).unwrap();
    let back: BulkheadSetConfig = from_yaml_str(&text).unwrap();
    assert_eq!(back, c);
}

#[test]
fn start_acquire_owned_takes_free_permits_rejects_fast_and_waits_uncounted() {
    use resilience_core::bulkhead::StartAcquire;
    let waits = bulkhead(1, 100);
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    waits
        .listeners()
        .add_fn(move |e: &BulkheadEvent| sink.lock().unwrap().push(e.clone()));
    let alarm = Alarm::default();
    let StartAcquire::Acquired(held) = waits.start_acquire_owned(alarm.clone()) else {
        panic!("a free permit is taken at once");
    };
    let StartAcquire::Wait(mut fut) = waits.start_acquire_owned(alarm.clone()) else {
        panic!("a caller that may wait gets the future");
    };
    // Going on to wait is not a rejection.
    assert!(!events
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, BulkheadEvent::Rejected { .. })));
    assert!(poll(&mut fut).is_pending());
    assert_eq!(waits.waiting(), 1);
    drop(held);
    let Poll::Ready(Ok(permit)) = poll(&mut fut) else {
        panic!("the freed permit goes to the waiter");
    };
    assert_eq!(waits.in_flight(), 1);
    drop(permit);
    // Timing out is counted once, by the future.
    let _held = waits.try_acquire_owned().unwrap();
    let StartAcquire::Wait(mut fut) = waits.start_acquire_owned(alarm.clone()) else {
        panic!()
    };
    assert!(poll(&mut fut).is_pending());
    alarm.fire();
    let Poll::Ready(Err(e)) = poll(&mut fut) else {
        panic!()
    };
    assert!(e.is_timeout());
    let rejected = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, BulkheadEvent::Rejected { .. }))
        .count();
    assert_eq!(rejected, 1);

    // Fail fast: the rejection comes at once.
    let fast = bulkhead(1, 0);
    let _p = fast.try_acquire_owned().unwrap();
    let StartAcquire::Rejected(full) = fast.start_acquire_owned(NoTimer) else {
        panic!("max_wait zero never waits");
    };
    assert_eq!(full.reason(), RejectReason::Full);
}

#[test]
fn start_acquire_owned_under_a_full_shared_cap_waits_without_holding_the_pool_permit() {
    use resilience_core::bulkhead::StartAcquire;
    let set = capped_set(1, 4);
    let a = set.get("api").unwrap().clone();
    let b = set.get("internal").unwrap().clone();
    let held = a.try_acquire_owned().unwrap();
    let StartAcquire::Wait(mut fut) = b.start_acquire_owned(NoTimer) else {
        panic!("the cap is full: wait");
    };
    assert_eq!(
        b.in_flight(),
        0,
        "no pool permit is kept while not admitted"
    );
    assert!(poll(&mut fut).is_pending());
    drop(held);
    let Poll::Ready(Ok(permit)) = poll(&mut fut) else {
        panic!("the freed cap permit goes to the waiter");
    };
    assert_eq!(set.shared_cap().unwrap().in_flight(), 1);
    assert_eq!(b.in_flight(), 1);
    drop(permit);
    assert_eq!(set.shared_cap().unwrap().in_flight(), 0);
}
