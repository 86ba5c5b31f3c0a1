//! Full resilience stacks, ours and the peers side by side in one run.
//!
//! Run: `cargo bench --bench stack`.
//!
//! Every stack is timeout → retry → circuit breaker → bulkhead → no-op
//! service (outermost first), the order a client usually wants: the timeout
//! bounds the whole retried call, each attempt asks the breaker, and only a
//! permitted attempt takes a bulkhead permit. One request goes through on
//! the success path (the first attempt succeeds), driven like every other
//! tower bench (`common::call`: ready, call, poll with a no-op waker inside
//! one entered tokio runtime context).
//!
//! * `floor/noop`: the bare no-op service.
//! * `tower_resilience/stack4`: `TimeLimiterLayer` + `RetryLayer` +
//!   `CircuitBreakerLayer` + `BulkheadLayer` from tower-resilience 0.13.
//! * `tower/stack3`: tower's own `TimeoutLayer` + `RetryLayer` (minimal
//!   attempts policy) + `ConcurrencyLimitLayer` (tower has no breaker).
//! * `mixed/tower3_ours_breaker`: `tower/stack3` with our
//!   `CircuitBreakerLayer` in the breaker slot, so the breaker's share of a
//!   stack built from tower's own layers is visible.
//! * `ours/stack4`: our `TimeoutLayer`, `RetryLayer`, `CircuitBreakerLayer`
//!   and `BulkheadLayer`.
//! * `ours/resilience_stack`: the same from one config with our
//!   `ResilienceStack` (its per-attempt timeout sits innermost).
//! * `ours/resilience_stack_timed`: `ours/resilience_stack` with what a
//!   gateway's stack adds, a rate limit (never refusing) and a 60 s
//!   time-window breaker, both reading the clock on every call.
//! * `ours/in_stack_order`: the layers `ResilienceStack` builds, hand-built
//!   in its order (retry → breaker → bulkhead → per-attempt timeout) with
//!   its classifier: the same work as `ours/resilience_stack` without the
//!   wrappers that make each layer optional.
//!
//! The `timeout` group measures a timeout layer alone: tower's `Timeout`,
//! tower-resilience's `TimeLimiterLayer` and our `TimeoutLayer`.
//!
//! Equivalent configuration: timeout 1 s, 3 attempts with exponential
//! backoff from 100 ms (never reached: the first attempt succeeds), breaker
//! on the last 100 calls at 50 %, 30 s open, bulkhead of 100 (never full).

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

#[path = "common/mod.rs"]
mod common;
use common::subjects::TIMEOUT;
use common::{call, runtime, stacks, Noop};
use tower::Layer;

fn fast(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.throughput(Throughput::Elements(1));
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
}

fn stack(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();
    let mut g = c.benchmark_group("stack");
    fast(&mut g);
    let mut floor = Noop;
    g.bench_function("floor/noop", |bch| {
        bch.iter(|| black_box(call(&mut floor, black_box(1))))
    });
    let mut svc = stacks::ours4();
    g.bench_function("ours/stack4", |bch| {
        bch.iter(|| black_box(call(&mut svc, black_box(1))))
    });
    let mut svc = stacks::ours_resilience_stack();
    g.bench_function("ours/resilience_stack", |bch| {
        bch.iter(|| black_box(call(&mut svc, black_box(1))))
    });
    let mut svc = stacks::ours_resilience_stack_timed();
    g.bench_function("ours/resilience_stack_timed", |bch| {
        bch.iter(|| black_box(call(&mut svc, black_box(1))))
    });
    let mut svc = stacks::ours_in_stack_order();
    g.bench_function("ours/in_stack_order", |bch| {
        bch.iter(|| black_box(call(&mut svc, black_box(1))))
    });
    let mut svc = stacks::tower_resilience4();
    g.bench_function("tower_resilience/stack4", |bch| {
        bch.iter(|| black_box(call(&mut svc, black_box(1))))
    });
    let mut svc = stacks::tower3();
    g.bench_function("tower/stack3", |bch| {
        bch.iter(|| black_box(call(&mut svc, black_box(1))))
    });
    let mut svc = stacks::tower3_ours_breaker();
    g.bench_function("mixed/tower3_ours_breaker", |bch| {
        bch.iter(|| black_box(call(&mut svc, black_box(1))))
    });
    g.finish();
}

/// A timeout layer alone over the no-op (the timer is created, never fires).
fn timeout(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();
    let mut g = c.benchmark_group("timeout");
    fast(&mut g);
    let mut floor = Noop;
    g.bench_function("floor/noop", |bch| {
        bch.iter(|| black_box(call(&mut floor, black_box(1))))
    });
    let mut svc = resilience_tower::timeout::TimeoutLayer::new(TIMEOUT).layer(Noop);
    g.bench_function("ours/layer", |bch| {
        bch.iter(|| black_box(call(&mut svc, black_box(1))))
    });
    let mut svc = tower::timeout::TimeoutLayer::new(TIMEOUT).layer(Noop);
    g.bench_function("tower/timeout", |bch| {
        bch.iter(|| black_box(call(&mut svc, black_box(1))))
    });
    let mut svc = tower_resilience::timelimiter::TimeLimiterLayer::builder()
        .timeout_duration(TIMEOUT)
        .build()
        .layer(Noop);
    g.bench_function("tower_resilience/layer", |bch| {
        bch.iter(|| black_box(call(&mut svc, black_box(1))))
    });
    g.finish();
}

criterion_group!(benches, stack, timeout);
criterion_main!(benches);
