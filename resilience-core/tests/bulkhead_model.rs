//! Model test: random sequences of try-acquire, queued acquire, poll,
//! timeout, cancel, release and resize, run against a bulkhead and against a
//! plain reference model. The two must agree on every outcome, and the
//! bulkhead must never admit a call beyond its limit.

mod common;

use common::Alarm;

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use proptest::prelude::*;
use resilience_core::bulkhead::{
    AcquireOwned, Bulkhead, BulkheadConfig, BulkheadFull, BulkheadSet, BulkheadSetConfig,
    OwnedBulkheadPermit, Priority, RejectReason, SharedCapConfig,
};

type Outcome = Poll<Result<(), RejectReason>>;

fn outcome(p: &Poll<Result<OwnedBulkheadPermit, BulkheadFull>>) -> Outcome {
    match p {
        Poll::Pending => Poll::Pending,
        Poll::Ready(Ok(_)) => Poll::Ready(Ok(())),
        Poll::Ready(Err(e)) => Poll::Ready(Err(e.reason())),
    }
}

// ---------------------------------------------------------------- model

#[derive(Debug, Clone, Copy, PartialEq)]
enum WState {
    Queued,
    Granted,
    Shed,
}

#[derive(Debug)]
struct MWaiter {
    lane: usize,
    state: WState,
    fired: bool,
}

/// The reference: a counter, a limit and one FIFO per priority lane.
#[derive(Debug)]
struct Model {
    limit: u32,
    held: u32,
    max_waiting: usize,
    lanes: [VecDeque<usize>; 3],
    waiters: Vec<Option<MWaiter>>,
    /// The most permits that may legally be held: the limit, or more right
    /// after a shrink until the calls in flight finish.
    ceiling: u32,
}

impl Model {
    fn new(limit: u32, max_waiting: usize) -> Self {
        Model {
            limit,
            held: 0,
            max_waiting,
            lanes: Default::default(),
            waiters: Vec::new(),
            ceiling: limit,
        }
    }

    fn queued(&self) -> usize {
        self.lanes.iter().map(VecDeque::len).sum()
    }

    fn admit(&mut self) {
        assert!(self.held < self.limit, "model admitted over the limit");
        self.held += 1;
    }

    fn drain(&mut self) {
        while self.held < self.limit {
            let Some(lane) = (0..3).rev().find(|&l| !self.lanes[l].is_empty()) else {
                break;
            };
            let id = self.lanes[lane].pop_front().unwrap();
            self.admit();
            self.waiters[id].as_mut().unwrap().state = WState::Granted;
        }
    }

    fn release(&mut self) {
        self.held -= 1;
        self.ceiling = self.limit.max(self.ceiling.min(self.held));
        self.drain();
    }

    fn try_acquire(&mut self) -> bool {
        if self.queued() == 0 && self.held < self.limit {
            self.admit();
            true
        } else {
            false
        }
    }

    /// First poll of a new waiter (id = its index).
    fn start(&mut self, lane: usize) -> Outcome {
        let id = self.waiters.len();
        if self.try_acquire() {
            self.waiters.push(None);
            return Poll::Ready(Ok(()));
        }
        if self.queued() >= self.max_waiting {
            let victim = (0..lane).find(|&l| !self.lanes[l].is_empty());
            match victim {
                Some(l) => {
                    let v = self.lanes[l].pop_back().unwrap();
                    self.waiters[v].as_mut().unwrap().state = WState::Shed;
                }
                None => {
                    self.waiters.push(None);
                    return Poll::Ready(Err(RejectReason::QueueFull));
                }
            }
        }
        self.lanes[lane].push_back(id);
        self.waiters.push(Some(MWaiter {
            lane,
            state: WState::Queued,
            fired: false,
        }));
        Poll::Pending
    }

    fn poll(&mut self, id: usize) -> Outcome {
        let w = self.waiters[id].as_mut().unwrap();
        match w.state {
            WState::Granted => {
                self.waiters[id] = None;
                Poll::Ready(Ok(()))
            }
            WState::Shed => {
                self.waiters[id] = None;
                Poll::Ready(Err(RejectReason::Shed))
            }
            WState::Queued if w.fired => {
                let lane = w.lane;
                self.lanes[lane].retain(|&x| x != id);
                self.waiters[id] = None;
                Poll::Ready(Err(RejectReason::TimedOut))
            }
            WState::Queued => Poll::Pending,
        }
    }

    fn cancel(&mut self, id: usize) {
        let w = self.waiters[id].take().unwrap();
        match w.state {
            WState::Queued => self.lanes[w.lane].retain(|&x| x != id),
            WState::Granted => self.release(),
            WState::Shed => {}
        }
    }

    fn resize(&mut self, limit: u32) {
        self.ceiling = limit.max(self.held);
        self.limit = limit;
        self.drain();
    }
}

// ------------------------------------------------------------ operations

#[derive(Debug, Clone)]
enum Op {
    TryAcquire,
    Start(usize),
    Poll(usize),
    Fire(usize),
    Cancel(usize),
    Release(usize),
    Resize(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::TryAcquire),
        4 => (0..3usize).prop_map(Op::Start),
        4 => any::<usize>().prop_map(Op::Poll),
        1 => any::<usize>().prop_map(Op::Fire),
        2 => any::<usize>().prop_map(Op::Cancel),
        4 => any::<usize>().prop_map(Op::Release),
        1 => (1..6u32).prop_map(Op::Resize),
    ]
}

fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(Waker::noop()))
}

struct LiveWaiter {
    id: usize,
    fut: Pin<Box<AcquireOwned<Alarm>>>,
    alarm: Alarm,
}

/// Runs `ops` against `gate` (the semaphore under test: a plain bulkhead, or
/// a set's shared cap reached through `pools`).
fn run(ops: Vec<Op>, limit: u32, max_waiting: usize, pools: [Bulkhead; 3], gate: &Bulkhead) {
    let mut model = Model::new(limit, max_waiting);
    let mut live: Vec<LiveWaiter> = Vec::new();
    let mut permits: Vec<OwnedBulkheadPermit> = Vec::new();
    for op in ops {
        match op {
            Op::TryAcquire => {
                let real = pools[1].try_acquire_owned();
                assert_eq!(real.is_ok(), model.try_acquire(), "try_acquire");
                if let Ok(p) = real {
                    permits.push(p);
                }
            }
            Op::Start(lane) => {
                let alarm = Alarm::default();
                let mut fut = Box::pin(pools[lane].acquire_owned(alarm.clone()));
                let real = poll_once(&mut fut);
                let expected = model.start(lane);
                assert_eq!(outcome(&real), expected, "first poll");
                match real {
                    Poll::Ready(Ok(p)) => permits.push(p),
                    Poll::Ready(Err(_)) => {}
                    Poll::Pending => live.push(LiveWaiter {
                        id: model.waiters.len() - 1,
                        fut,
                        alarm,
                    }),
                }
            }
            Op::Poll(i) if !live.is_empty() => {
                let k = i % live.len();
                let real = poll_once(&mut live[k].fut);
                let expected = model.poll(live[k].id);
                assert_eq!(outcome(&real), expected, "poll");
                match real {
                    Poll::Pending => {}
                    Poll::Ready(r) => {
                        live.swap_remove(k);
                        if let Ok(p) = r {
                            permits.push(p);
                        }
                    }
                }
            }
            Op::Fire(i) if !live.is_empty() => {
                let k = i % live.len();
                live[k].alarm.fire();
                model.waiters[live[k].id].as_mut().unwrap().fired = true;
            }
            Op::Cancel(i) if !live.is_empty() => {
                let w = live.swap_remove(i % live.len());
                drop(w.fut);
                model.cancel(w.id);
            }
            Op::Release(i) if !permits.is_empty() => {
                drop(permits.swap_remove(i % permits.len()));
                model.release();
            }
            Op::Resize(n) => {
                gate.set_max_concurrent(n).unwrap();
                model.resize(n);
            }
            _ => {}
        }
        assert_eq!(gate.in_flight(), model.held, "permits held");
        assert_eq!(gate.waiting(), model.queued(), "callers queued");
        assert!(gate.in_flight() <= model.ceiling, "admitted over the limit");
        assert_eq!(gate.max_concurrent(), model.limit);
    }
    // Tear down: everything given back, nothing lost.
    drop(live);
    drop(permits);
    assert_eq!(gate.in_flight(), 0);
    assert_eq!(gate.waiting(), 0);
    for p in &pools {
        assert_eq!(p.in_flight(), 0, "pool {} leaked a permit", p.name());
    }
    let all: Vec<_> = (0..gate.max_concurrent())
        .map(|_| pools[1].try_acquire().expect("every permit is free again"))
        .collect();
    assert_eq!(all.len() as u32, gate.max_concurrent());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// One bulkhead; every caller has the same priority (pure FIFO).
    #[test]
    fn bulkhead_matches_model(
        limit in 1..5u32,
        max_waiting in 1..5u32,
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        let b = Bulkhead::new(
            "model",
            BulkheadConfig::new(limit)
                .max_wait(Duration::from_secs(1))
                .max_waiting(max_waiting),
        ).unwrap();
        // Map every lane to the same bulkhead and priority.
        let ops = ops.into_iter().map(|o| match o { Op::Start(_) => Op::Start(1), o => o }).collect();
        run(ops, limit, max_waiting as usize, [b.clone(), b.clone(), b.clone()], &b);
    }

    /// Three pools of different priority under a small shared cap: priority
    /// order, shedding of the lowest priority, and the cap's limit.
    #[test]
    fn shared_cap_matches_model(
        limit in 1..4u32,
        max_waiting in 1..4u32,
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        let pool = |p| BulkheadConfig::new(1000)
            .max_wait(Duration::from_secs(1))
            .max_waiting(1000)
            .priority(p);
        let mut config = BulkheadSetConfig::default();
        config.pools.insert("low".into(), pool(Priority::Low));
        config.pools.insert("medium".into(), pool(Priority::Medium));
        config.pools.insert("high".into(), pool(Priority::High));
        config.shared_cap = Some(SharedCapConfig {
            name: "cap".into(),
            max_concurrent: limit,
            max_waiting: Some(max_waiting),
        });
        let set = BulkheadSet::new(config).unwrap();
        let pools = [
            set.get("low").unwrap().clone(),
            set.get("medium").unwrap().clone(),
            set.get("high").unwrap().clone(),
        ];
        let cap = set.shared_cap().unwrap().clone();
        run(ops, limit, max_waiting as usize, pools, &cap);
    }
}
