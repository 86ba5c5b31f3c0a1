//! The in-memory dead-letter queue never loses or reorders items: when
//! full, on replay failures, on cancelled or panicking replays, and under
//! concurrent producers. Includes a proptest against a `VecDeque` model.

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use proptest::prelude::*;
use resilience_core::dead_letter::{
    DeadLetter, DeadLetterError, DeadLetterEvent, DeadLetterReason, DeadLetterSink,
    InMemoryDeadLetterQueue, ReplayInProgress,
};
use resilience_core::retry::{ErrorClass, GiveUpReason, RetryError};

fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000_000 {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("future did not complete");
}

/// A future that is pending `n` times, then yields `value`.
struct After<T> {
    pending: usize,
    value: Option<T>,
}

impl<T: Unpin> Future for After<T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<T> {
        if self.pending > 0 {
            self.pending -= 1;
            return Poll::Pending;
        }
        match self.value.take() {
            Some(v) => Poll::Ready(v),
            None => Poll::Pending,
        }
    }
}

fn after<T>(pending: usize, value: T) -> After<T> {
    After {
        pending,
        value: Some(value),
    }
}

#[test]
fn a_full_queue_hands_the_item_back() {
    let q = InMemoryDeadLetterQueue::new("full", 3).unwrap();
    for i in 0..3 {
        q.push(i).unwrap();
    }
    for i in 3..10 {
        match q.push(i) {
            Err(DeadLetterError::Full {
                item,
                queue,
                capacity,
            }) => {
                assert_eq!(item, i);
                assert_eq!(&*queue, "full");
                assert_eq!(capacity, 3);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(q.snapshot(), [0, 1, 2]);
    assert_eq!(q.pop(), Some(0));
    q.push(42).unwrap();
    assert_eq!(q.snapshot(), [1, 2, 42]);
    assert!(InMemoryDeadLetterQueue::<u8>::new("zero", 0).is_err());
}

#[test]
fn replay_stops_at_the_first_failure_and_keeps_it_first() {
    let q = InMemoryDeadLetterQueue::new("q", 10).unwrap();
    for i in 1..=5 {
        q.push(i).unwrap();
    }
    let seen = Mutex::new(Vec::new());
    let report = block_on(q.replay(|i: &u32| {
        seen.lock().unwrap().push(*i);
        let i = *i;
        async move {
            if i == 3 {
                Err("dependency still down")
            } else {
                Ok(())
            }
        }
    }))
    .unwrap();
    assert_eq!(*seen.lock().unwrap(), [1, 2, 3]);
    assert_eq!(report.replayed, 2);
    assert_eq!(report.failed, 1);
    assert_eq!(report.remaining, 3);
    assert_eq!(report.last_error, Some("dependency still down"));
    assert_eq!(q.snapshot(), [3, 4, 5]);
    // Recovered: everything drains in order.
    let order = Mutex::new(Vec::new());
    let report = block_on(q.replay(|i: &u32| {
        order.lock().unwrap().push(*i);
        std::future::ready(Ok::<(), ()>(()))
    }))
    .unwrap();
    assert_eq!(report.replayed, 3);
    assert_eq!(*order.lock().unwrap(), [3, 4, 5]);
    assert!(q.is_empty());
}

#[test]
fn replay_all_keeps_failed_items_in_their_order() {
    let q = InMemoryDeadLetterQueue::new("q", 10).unwrap();
    for i in 1..=6 {
        q.push(i).unwrap();
    }
    let report = block_on(q.replay_all(|i: &u32| {
        let i = *i;
        async move {
            if i % 3 == 0 || i == 1 {
                Err(i)
            } else {
                Ok(())
            }
        }
    }))
    .unwrap();
    assert_eq!(
        (report.replayed, report.failed, report.remaining),
        (3, 3, 3)
    );
    assert_eq!(report.last_error, Some(6));
    assert_eq!(q.snapshot(), [1, 3, 6]);
}

#[test]
fn items_pushed_during_a_replay_wait_for_the_next_one_and_capacity_counts_items_in_flight() {
    let q = InMemoryDeadLetterQueue::new("q", 2).unwrap();
    q.push(1).unwrap();
    q.push(2).unwrap();
    let pushed = Mutex::new(Vec::new());
    let report = block_on(q.replay(|i: &u32| {
        // While item `i` is in flight it still counts: 2 held + 1 new = full.
        pushed
            .lock()
            .unwrap()
            .push(q.push(10 + i).map_err(|e| e.into_item()));
        std::future::ready(Ok::<(), ()>(()))
    }))
    .unwrap();
    assert_eq!(report.replayed, 2);
    // While 1 is in flight the queue holds 1 and 2: full, 11 is refused.
    // While 2 is in flight (1 is done) there is room: 12 is queued, and it
    // waits for the next replay.
    assert_eq!(*pushed.lock().unwrap(), [Err(11), Ok(())]);
    assert_eq!(q.snapshot(), [12]);
}

#[test]
fn a_cancelled_replay_puts_the_item_in_flight_back() {
    let q = InMemoryDeadLetterQueue::new("q", 10).unwrap();
    for i in 1..=4 {
        q.push(i).unwrap();
    }
    {
        let mut fut = pin!(q.replay_all(|i: &u32| {
            let i = *i;
            // 1 fails, 2 hangs (pending forever in this test).
            if i == 2 {
                after(usize::MAX, Ok::<(), u32>(()))
            } else {
                after(0, Err(i))
            }
        }));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        // Meanwhile: another replay is refused, pushes go to the back.
        assert!(matches!(
            block_on(q.replay(|_: &u32| std::future::ready(Ok::<(), ()>(())))),
            Err(ReplayInProgress { .. })
        ));
        q.push(5).unwrap();
        assert_eq!(q.len(), 5);
        assert_eq!(q.snapshot(), [3, 4, 5]); // 1 (failed) and 2 (in flight) are held
    } // dropped: cancelled
    assert_eq!(q.snapshot(), [1, 2, 3, 4, 5]);
    // The replay lock is released.
    let report = block_on(q.replay(|_: &u32| std::future::ready(Ok::<(), ()>(())))).unwrap();
    assert_eq!(report.replayed, 5);
}

#[test]
fn a_panicking_handler_loses_nothing() {
    let q = InMemoryDeadLetterQueue::new("q", 10).unwrap();
    for i in 1..=3 {
        q.push(i).unwrap();
    }
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        q.replay_blocking(|i: &u32| {
            if *i == 2 {
                panic!("handler bug");
            }
            Ok::<(), ()>(())
        })
    }));
    assert!(r.is_err());
    assert_eq!(q.snapshot(), [2, 3]);
    assert!(q.replay_blocking(|_: &u32| Ok::<(), ()>(())).is_ok());
    assert!(q.is_empty());
}

#[test]
fn events_and_metrics() {
    let recorder = DebuggingRecorder::new();
    let snap = recorder.snapshotter();
    let events = Arc::new(Mutex::new(Vec::new()));
    metrics::with_local_recorder(&recorder, || {
        let q = InMemoryDeadLetterQueue::new("webhooks", 2).unwrap();
        let sink = events.clone();
        q.listeners()
            .add_fn(move |e: &DeadLetterEvent| sink.lock().unwrap().push(e.clone()));
        q.push("a").unwrap();
        q.push("b").unwrap();
        let _ = q.push("c");
        let failing = Cell::new(true);
        q.replay_all_blocking(|_: &&str| {
            if failing.replace(false) {
                Err(())
            } else {
                Ok(())
            }
        })
        .unwrap();
    });
    let name: Arc<str> = "webhooks".into();
    assert_eq!(
        *events.lock().unwrap(),
        [
            DeadLetterEvent::Enqueued {
                queue: name.clone(),
                depth: 1
            },
            DeadLetterEvent::Enqueued {
                queue: name.clone(),
                depth: 2
            },
            DeadLetterEvent::Rejected {
                queue: name.clone(),
                capacity: 2
            },
            DeadLetterEvent::ReplayFinished {
                queue: name,
                replayed: 1,
                failed: 1,
                depth: 1
            },
        ]
    );
    let values: Vec<(String, f64)> = snap
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(k, _, _, v)| {
            let n = k.key().name().to_string();
            let v = match v {
                DebugValue::Counter(c) => c as f64,
                DebugValue::Gauge(g) => g.into_inner(),
                DebugValue::Histogram(h) => h.len() as f64,
            };
            (n, v)
        })
        .collect();
    let get = |n: &str| {
        values
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| *v)
            .unwrap_or(-1.0)
    };
    assert_eq!(get("resilience_dead_letter_enqueued_total"), 2.0);
    assert_eq!(get("resilience_dead_letter_rejected_total"), 1.0);
    assert_eq!(get("resilience_dead_letter_replayed_total"), 1.0);
    assert_eq!(get("resilience_dead_letter_replay_failures_total"), 1.0);
    assert_eq!(get("resilience_dead_letter_depth"), 1.0);
}

#[test]
fn envelopes_record_why_and_the_sink_trait_is_object_safe() {
    let q: Arc<dyn DeadLetterSink<DeadLetter<&str>>> =
        Arc::new(InMemoryDeadLetterQueue::new("envelopes", 4).unwrap());
    let err: RetryError<ErrorClass> = RetryError::RetriesExhausted {
        attempts: 6,
        last: ErrorClass::Timeout,
    };
    q.push(DeadLetter::from_retry_error("webhook-1", &err))
        .unwrap();
    q.push(DeadLetter::new("retrain-7", DeadLetterReason::CircuitOpen))
        .unwrap();
    let letter = DeadLetter::from_retry_error("x", &err);
    assert_eq!(
        letter.reason,
        DeadLetterReason::Retry {
            attempts: 6,
            reason: GiveUpReason::Exhausted
        }
    );
    assert_eq!(
        DeadLetterReason::CircuitOpen.to_string(),
        "the circuit breaker was open"
    );
    let shared = Arc::clone(&q);
    assert!(shared
        .push(DeadLetter::new(
            "z",
            DeadLetterReason::Other("manual".into())
        ))
        .is_ok());
}

// ---------------------------------------------------------------- model test

#[derive(Debug, Clone)]
enum Op {
    Push,
    Pop,
    Drain,
    /// Replay; the handler fails on items whose pattern bit is set.
    Replay {
        all: bool,
        pattern: u64,
    },
    /// Replay that is cancelled while the `at`-th item is in flight.
    CancelledReplay {
        at: usize,
        pattern: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Push),
        1 => Just(Op::Pop),
        1 => Just(Op::Drain),
        3 => (any::<bool>(), any::<u64>()).prop_map(|(all, pattern)| Op::Replay { all, pattern }),
        1 => (0usize..8, any::<u64>()).prop_map(|(at, pattern)| Op::CancelledReplay { at, pattern }),
    ]
}

fn fails(pattern: u64, item: u64) -> bool {
    pattern >> (item % 64) & 1 == 1
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Against a `VecDeque` model: same contents after every operation, and
    /// every pushed item is accounted for exactly once (queued, refused,
    /// replayed, popped or drained).
    #[test]
    fn never_loses_or_reorders(capacity in 1usize..12, ops in proptest::collection::vec(op(), 0..80)) {
        let q = InMemoryDeadLetterQueue::new("model", capacity).unwrap();
        let mut model: VecDeque<u64> = VecDeque::new();
        let mut next = 0u64;
        let mut out: Vec<u64> = Vec::new(); // refused + replayed + popped + drained
        for op in ops {
            match op {
                Op::Push => {
                    let id = next;
                    next += 1;
                    match q.push(id) {
                        Ok(()) => {
                            prop_assert!(model.len() < capacity);
                            model.push_back(id);
                        }
                        Err(e) => {
                            prop_assert_eq!(model.len(), capacity);
                            out.push(e.into_item());
                        }
                    }
                }
                Op::Pop => {
                    let got = q.pop();
                    prop_assert_eq!(got, model.pop_front());
                    out.extend(got);
                }
                Op::Drain => {
                    let got = q.drain();
                    prop_assert_eq!(&got, &model.drain(..).collect::<Vec<_>>());
                    out.extend(got);
                }
                Op::Replay { all, pattern } => {
                    let delivered = Mutex::new(Vec::new());
                    let handler = |i: &u64| {
                        let i = *i;
                        let ok = !fails(pattern, i);
                        if ok { delivered.lock().unwrap().push(i); }
                        std::future::ready(if ok { Ok(()) } else { Err(i) })
                    };
                    let report = if all {
                        block_on(q.replay_all(handler)).unwrap()
                    } else {
                        block_on(q.replay(handler)).unwrap()
                    };
                    // model
                    let mut kept = VecDeque::new();
                    let mut want = Vec::new();
                    let mut stopped = false;
                    while let Some(i) = model.pop_front() {
                        if stopped { kept.push_back(i); continue; }
                        if fails(pattern, i) {
                            kept.push_back(i);
                            if !all { stopped = true; }
                        } else {
                            want.push(i);
                        }
                    }
                    model = kept;
                    let delivered = delivered.into_inner().unwrap();
                    prop_assert_eq!(&delivered, &want);
                    prop_assert_eq!(report.replayed, want.len());
                    prop_assert_eq!(report.remaining, model.len());
                    out.extend(delivered);
                }
                Op::CancelledReplay { at, pattern } => {
                    let delivered = Mutex::new(Vec::new());
                    let count = Cell::new(0usize);
                    {
                        let mut fut = pin!(q.replay_all(|i: &u64| {
                            let i = *i;
                            let n = count.replace(count.get() + 1);
                            if n == at {
                                after(usize::MAX, Ok::<(), u64>(()))
                            } else if fails(pattern, i) {
                                after(0, Err(i))
                            } else {
                                delivered.lock().unwrap().push(i);
                                after(0, Ok(()))
                            }
                        }));
                        let mut cx = Context::from_waker(Waker::noop());
                        let _ = fut.as_mut().poll(&mut cx);
                    }
                    // model: the first `at` items are handled, the rest stay.
                    let delivered = delivered.into_inner().unwrap();
                    let mut kept = VecDeque::new();
                    let mut want = Vec::new();
                    for (n, i) in model.drain(..).enumerate() {
                        if n < at && !fails(pattern, i) { want.push(i) } else { kept.push_back(i) }
                    }
                    model = kept;
                    prop_assert_eq!(&delivered, &want);
                    out.extend(delivered);
                }
            }
            prop_assert_eq!(q.snapshot(), model.iter().copied().collect::<Vec<_>>());
            prop_assert_eq!(q.len(), model.len());
            // Ledger: every id appears exactly once in queue + out.
            let mut all_ids: Vec<u64> = out.iter().copied().chain(model.iter().copied()).collect();
            all_ids.sort_unstable();
            prop_assert_eq!(all_ids, (0..next).collect::<Vec<_>>());
        }
    }
}

#[test]
fn concurrent_producers_and_replays_lose_nothing_and_keep_per_producer_order() {
    const PRODUCERS: u64 = 4;
    const EACH: u64 = 2_000;
    let q = InMemoryDeadLetterQueue::new("concurrent", 64).unwrap();
    let refused = Arc::new(Mutex::new(Vec::new()));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let q = q.clone();
            let refused = refused.clone();
            thread::spawn(move || {
                for n in 0..EACH {
                    let item = (p, n);
                    // On Full, hand the item to the "caller's" fallback.
                    if let Err(e) = q.push(item) {
                        refused.lock().unwrap().push(e.into_item());
                    }
                }
            })
        })
        .collect();
    let delivered = Arc::new(Mutex::new(Vec::new()));
    let consumer = {
        let q = q.clone();
        let delivered = delivered.clone();
        thread::spawn(move || {
            let mut flip = 0u64;
            for _ in 0..2_000 {
                // Replays fail every few items; failures stop the replay.
                let _ = q.replay_blocking(|item: &(u64, u64)| {
                    flip += 1;
                    if flip % 7 == 0 {
                        Err(())
                    } else {
                        delivered.lock().unwrap().push(*item);
                        Ok(())
                    }
                });
                thread::yield_now();
            }
        })
    };
    for p in producers {
        p.join().unwrap();
    }
    consumer.join().unwrap();
    let mut delivered = Arc::try_unwrap(delivered).unwrap().into_inner().unwrap();
    delivered.extend(q.drain());
    // Per producer, delivered items are in push order.
    for p in 0..PRODUCERS {
        let seq: Vec<u64> = delivered
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, n)| *n)
            .collect();
        assert!(
            seq.windows(2).all(|w| w[0] < w[1]),
            "producer {p} reordered"
        );
    }
    let mut all: Vec<(u64, u64)> = delivered;
    all.extend(refused.lock().unwrap().iter().copied());
    all.sort_unstable();
    let want: Vec<(u64, u64)> = (0..PRODUCERS)
        .flat_map(|p| (0..EACH).map(move |n| (p, n)))
        .collect();
    assert_eq!(
        all, want,
        "every item delivered, queued or refused exactly once"
    );
}
