//! Many tasks on 8 threads hammer one bulkhead (and a set's shared cap)
//! with queued acquires, timeouts, cancellations and resizes. Checked: the
//! number of calls inside the guarded section never exceeds the limit, and
//! when everything has finished no permit is lost and nobody is queued.
//!
//! Core has no runtime, so each thread runs a small executor of its own:
//! it polls its tasks round-robin and parks until a waker unparks it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

use resilience_core::bulkhead::{
    Bulkhead, BulkheadConfig, BulkheadSet, BulkheadSetConfig, NoTimer, Priority, RejectReason,
    SharedCapConfig, Timer,
};

const THREADS: usize = 8;
const TASKS_PER_THREAD: usize = 64;
const ROUNDS_PER_TASK: usize = 40;

struct ThreadWaker {
    thread: Thread,
    woken: AtomicBool,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// Runs all `tasks` to completion on the current thread.
fn run_all(mut tasks: Vec<Pin<Box<dyn Future<Output = ()>>>>) {
    let waker_state = Arc::new(ThreadWaker {
        thread: thread::current(),
        woken: AtomicBool::new(false),
    });
    let waker = Waker::from(waker_state.clone());
    let mut cx = Context::from_waker(&waker);
    while !tasks.is_empty() {
        waker_state.woken.store(false, Ordering::Release);
        tasks.retain_mut(|t| t.as_mut().poll(&mut cx).is_pending());
        if !tasks.is_empty() && !waker_state.woken.load(Ordering::Acquire) {
            // Liveness only: wakers unpark us; the timeout bounds a lost race.
            thread::park_timeout(Duration::from_millis(5));
        }
    }
}

/// Yields to the executor `n` times (a call "doing work").
struct YieldN(u32);

impl Future for YieldN {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            Poll::Ready(())
        } else {
            self.0 -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// A timer that expires after its sleep has been polled `n` times: a
/// deterministic stand-in for a wall-clock deadline.
#[derive(Clone, Copy)]
struct PollBudget(u32);

struct BudgetSleep(u32);

impl Future for BudgetSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            Poll::Ready(())
        } else {
            self.0 -= 1;
            Poll::Pending
        }
    }
}

impl Timer for PollBudget {
    type Sleep = BudgetSleep;
    fn sleep(&self, _: Duration) -> BudgetSleep {
        BudgetSleep(self.0)
    }
}

/// Polls `fut` at most `polls` times, then drops it (a cancelled caller).
struct GiveUpAfter<F> {
    fut: Pin<Box<F>>,
    polls: u32,
}

impl<F: Future> Future for GiveUpAfter<F> {
    type Output = Option<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        if self.polls == 0 {
            return Poll::Ready(None);
        }
        self.polls -= 1;
        match self.fut.as_mut().poll(cx) {
            Poll::Ready(v) => Poll::Ready(Some(v)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A tiny deterministic PRNG per task (xorshift), so runs vary by seed value
/// without a dependency.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[derive(Default)]
struct Stats {
    inside: AtomicU32,
    max_inside: AtomicU32,
    admitted: AtomicUsize,
    rejected: AtomicUsize,
    cancelled: AtomicUsize,
}

impl Stats {
    fn enter(&self, limit: u32) {
        let now = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_inside.fetch_max(now, Ordering::SeqCst);
        assert!(
            now <= limit,
            "{now} calls inside a bulkhead limited to {limit}"
        );
    }
    fn exit(&self) {
        self.inside.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One task: `ROUNDS_PER_TASK` calls through `bulkhead`, each acquired in a
/// randomly chosen way, holding the permit for a few yields.
async fn worker(bulkhead: Bulkhead, stats: Arc<Stats>, limit: u32, mut seed: u64) {
    for _ in 0..ROUNDS_PER_TASK {
        let r = next(&mut seed);
        let permit = match r % 4 {
            0 => bulkhead.try_acquire_owned().ok(),
            1 => bulkhead.acquire_owned(NoTimer).await.ok(),
            2 => bulkhead
                .acquire_owned(PollBudget((r >> 8) as u32 % 6))
                .await
                .ok(),
            _ => {
                let fut = GiveUpAfter {
                    fut: Box::pin(bulkhead.acquire_owned(NoTimer)),
                    polls: 1 + (r >> 8) as u32 % 4,
                };
                match fut.await {
                    Some(r) => r.ok(),
                    None => {
                        stats.cancelled.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                }
            }
        };
        match permit {
            Some(p) => {
                stats.admitted.fetch_add(1, Ordering::Relaxed);
                stats.enter(limit);
                YieldN((r >> 16) as u32 % 4).await;
                stats.exit();
                drop(p);
            }
            None => {
                stats.rejected.fetch_add(1, Ordering::Relaxed);
                YieldN(1).await;
            }
        }
    }
}

fn hammer(pools: Vec<Bulkhead>, limit: u32, resize: Option<Bulkhead>) -> Arc<Stats> {
    let stats = Arc::new(Stats::default());
    let barrier = Arc::new(Barrier::new(THREADS + 1));
    let done = Arc::new(AtomicBool::new(false));
    let resizer = resize.map(|b| {
        let done = done.clone();
        thread::spawn(move || {
            let mut seed = 0x9E37_79B9_7F4A_7C15u64;
            let mut changes = 0u32;
            while !done.load(Ordering::Acquire) {
                let n = 1 + (next(&mut seed) % u64::from(limit)) as u32;
                b.set_max_concurrent(n).unwrap();
                changes += 1;
                thread::yield_now();
            }
            b.set_max_concurrent(limit).unwrap();
            changes
        })
    });
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let pools = pools.clone();
            let stats = stats.clone();
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                let tasks: Vec<Pin<Box<dyn Future<Output = ()>>>> = (0..TASKS_PER_THREAD)
                    .map(|i| {
                        let pool = pools[(t + i) % pools.len()].clone();
                        let seed = ((t * 1000 + i + 1) as u64).wrapping_mul(0x2545_F491_4F6C_DD1D);
                        Box::pin(worker(pool, stats.clone(), limit, seed))
                            as Pin<Box<dyn Future<Output = ()>>>
                    })
                    .collect();
                run_all(tasks);
            })
        })
        .collect();
    barrier.wait();
    for t in threads {
        t.join().expect("worker thread panicked");
    }
    done.store(true, Ordering::Release);
    if let Some(r) = resizer {
        let changes = r.join().unwrap();
        assert!(changes > 0);
    }
    stats
}

fn assert_nothing_lost(b: &Bulkhead) {
    assert_eq!(b.in_flight(), 0, "{}: a permit was lost", b.name());
    assert_eq!(b.waiting(), 0, "{}: a waiter was left queued", b.name());
}

#[test]
fn never_over_the_limit_and_nothing_lost() {
    let limit = 5;
    let b = Bulkhead::new(
        "hammer",
        BulkheadConfig::new(limit)
            .max_wait(Duration::from_secs(1))
            .max_waiting(10_000),
    )
    .unwrap();
    let stats = hammer(vec![b.clone()], limit, None);
    assert_nothing_lost(&b);
    assert_eq!(stats.inside.load(Ordering::SeqCst), 0);
    assert_eq!(
        stats.max_inside.load(Ordering::SeqCst),
        limit,
        "the limit was reached"
    );
    let total = stats.admitted.load(Ordering::Relaxed) + stats.rejected.load(Ordering::Relaxed);
    assert_eq!(total, THREADS * TASKS_PER_THREAD * ROUNDS_PER_TASK);
    assert!(
        stats.cancelled.load(Ordering::Relaxed) > 0,
        "cancellations were exercised"
    );
    let all: Vec<_> = (0..limit).map(|_| b.try_acquire().unwrap()).collect();
    assert_eq!(all.len(), limit as usize);
}

#[test]
fn resizing_under_load_never_exceeds_the_largest_limit_and_loses_nothing() {
    let limit = 8;
    let b = Bulkhead::new(
        "resize",
        BulkheadConfig::new(limit)
            .max_wait(Duration::from_secs(1))
            .max_waiting(10_000),
    )
    .unwrap();
    let stats = hammer(vec![b.clone()], limit, Some(b.clone()));
    assert_nothing_lost(&b);
    assert_eq!(b.max_concurrent(), limit);
    assert!(stats.admitted.load(Ordering::Relaxed) > 0);
    let all: Vec<_> = (0..limit).map(|_| b.try_acquire().unwrap()).collect();
    assert!(b.try_acquire().is_err());
    drop(all);
}

#[test]
fn shared_cap_under_load_never_exceeds_its_limit() {
    let cap = 6;
    let pool = |p| {
        BulkheadConfig::new(4)
            .max_wait(Duration::from_secs(1))
            .max_waiting(10_000)
            .priority(p)
    };
    let mut config = BulkheadSetConfig::default();
    config.pools.insert("dashboard".into(), pool(Priority::Low));
    config.pools.insert("api".into(), pool(Priority::Medium));
    config.pools.insert("internal".into(), pool(Priority::High));
    config.shared_cap = Some(SharedCapConfig {
        name: "db".into(),
        max_concurrent: cap,
        max_waiting: Some(3),
    });
    let set = BulkheadSet::new(config).unwrap();
    let pools: Vec<_> = set.iter().map(|(_, b)| b.clone()).collect();
    let shed = Arc::new(AtomicUsize::new(0));
    for p in &pools {
        let shed = shed.clone();
        p.listeners().add_fn(move |e| {
            if let resilience_core::bulkhead::BulkheadEvent::Rejected { error } = e {
                if error.reason() == RejectReason::Shed {
                    shed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    let stats = hammer(pools.clone(), cap, None);
    for p in &pools {
        assert_nothing_lost(p);
    }
    assert_nothing_lost(set.shared_cap().unwrap());
    assert!(stats.max_inside.load(Ordering::SeqCst) <= cap);
    assert!(
        shed.load(Ordering::Relaxed) > 0,
        "a full cap queue shed low-priority callers"
    );
}
