//! Per-call overhead of the retry and timeout layers on a service that
//! answers at once, next to tower's own `retry` (with a trivial policy) and
//! `timeout` middleware in the same run, and the bare service as the floor.
//!
//! Each iteration is one `poll_ready` + `call` + one poll of the (ready)
//! response future with a no-op waker, inside a tokio runtime context.
//!
//! Run: `cargo bench -p resilience-tower --bench retry`.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use resilience_core::retry::{Backoff, RetryPolicy, TokenBucketBudget, TokenBucketConfig};
use resilience_tower::retry::RetryLayer;
use resilience_tower::timeout::TimeoutLayer;
use tower::{service_fn, BoxError, Layer, Service};

/// tower's retry with the simplest policy: retry errors up to `n` times,
/// no wait.
#[derive(Clone)]
struct Attempts(usize);

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for Attempts {
    type Future = std::future::Ready<()>;

    fn retry(&mut self, _: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        match result {
            Err(_) if self.0 > 0 => {
                self.0 -= 1;
                Some(std::future::ready(()))
            }
            _ => None,
        }
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

fn echo() -> impl Service<
    u64,
    Response = u64,
    Error = BoxError,
    Future = std::future::Ready<Result<u64, BoxError>>,
> + Clone {
    service_fn(|x: u64| std::future::ready(Ok::<_, BoxError>(x)))
}

/// One call through `svc`, polled once (the inner future is ready).
#[inline]
fn once<S>(svc: &mut S, x: u64) -> u64
where
    S: Service<u64, Response = u64>,
    S::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    match svc.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        _ => unreachable!("the bench services are always ready"),
    }
    let mut fut = pin!(svc.call(x));
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(y)) => y,
        other => unreachable!("the bench services answer at once: {other:?}"),
    }
}

/// Minimum ns per call over many short runs: on a shared machine the mean
/// carries other processes' noise; the minimum is a steadier estimate.
fn min_ns<S>(svc: &mut S) -> f64
where
    S: Service<u64, Response = u64>,
    S::Error: std::fmt::Debug,
{
    const CALLS: u64 = 20_000;
    (0..100)
        .map(|_| {
            let t = Instant::now();
            for i in 0..CALLS {
                black_box(once(svc, black_box(i)));
            }
            t.elapsed().as_nanos() as f64 / CALLS as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn policy(budget: bool, deadline: bool) -> Arc<RetryPolicy> {
    let mut b = RetryPolicy::builder(
        Backoff::exponential(Duration::from_millis(100), Duration::from_secs(1))
            .expect("valid backoff"),
    )
    .max_attempts(3);
    if deadline {
        b = b.deadline(Duration::from_secs(10));
    }
    if budget {
        b = b.budget(Arc::new(
            TokenBucketBudget::new(TokenBucketConfig::default()).expect("valid budget"),
        ));
    }
    Arc::new(b.build().expect("valid policy"))
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime");
    let _ctx = rt.enter();

    let mut bare = echo();
    let mut ours = RetryLayer::new(policy(false, false)).layer(echo());
    let mut ours_budget = RetryLayer::new(policy(true, false)).layer(echo());
    // A deadline makes every call read the clock.
    let mut ours_deadline = RetryLayer::new(policy(true, true)).layer(echo());
    let mut towers = tower::retry::RetryLayer::new(Attempts(2)).layer(echo());
    let mut our_timeout = TimeoutLayer::new(Duration::from_secs(1)).layer(echo());
    let mut tower_timeout = tower::timeout::TimeoutLayer::new(Duration::from_secs(1)).layer(echo());

    let info = allocation_counter::measure(|| {
        for i in 0..1000 {
            black_box(once(&mut ours, i));
            black_box(once(&mut ours_budget, i));
            black_box(once(&mut ours_deadline, i));
        }
    });
    println!(
        "RetryLayer success path: {} allocations in 3000 calls",
        info.count_total
    );
    println!(
        "min ns/call (100 runs of 20k): bare {:.1} | RetryLayer {:.1}, with budget {:.1}, with budget+deadline {:.1}, tower::retry {:.1} | TimeoutLayer {:.1}, tower::timeout {:.1}",
        min_ns(&mut bare),
        min_ns(&mut ours),
        min_ns(&mut ours_budget),
        min_ns(&mut ours_deadline),
        min_ns(&mut towers),
        min_ns(&mut our_timeout),
        min_ns(&mut tower_timeout),
    );

    let mut g = c.benchmark_group("retry/first_attempt_succeeds");
    g.bench_function("bare_service", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            once(&mut bare, black_box(i))
        })
    });
    g.bench_function("resilience_retry", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            once(&mut ours, black_box(i))
        })
    });
    g.bench_function("resilience_retry_with_budget", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            once(&mut ours_budget, black_box(i))
        })
    });
    g.bench_function("resilience_retry_with_budget_and_deadline", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            once(&mut ours_deadline, black_box(i))
        })
    });
    g.bench_function("tower_retry", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            once(&mut towers, black_box(i))
        })
    });
    g.finish();

    let mut g = c.benchmark_group("timeout/answers_in_time");
    g.bench_function("bare_service", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            once(&mut bare, black_box(i))
        })
    });
    g.bench_function("resilience_timeout", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            once(&mut our_timeout, black_box(i))
        })
    });
    g.bench_function("tower_timeout", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            once(&mut tower_timeout, black_box(i))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
