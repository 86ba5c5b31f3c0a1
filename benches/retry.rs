//! Retry and backoff, ours and the peers side by side in one run.
//!
//! Run: `cargo bench --bench retry`.
//!
//! # Groups
//!
//! * `backoff`: computing delays. `sequence10` builds a fresh schedule and
//!   takes its first 10 delays (what one retried call costs in backoff
//!   arithmetic): ours `Backoff::delays_with_rng` vs backon's
//!   `ExponentialBuilder::build()` iterated. `single` is ours alone
//!   (`Backoff::delay(n)`, random access; backon has no equivalent).
//!   `sequence10_jitter` turns jitter on in both; the distributions differ
//!   (ours full jitter draws in `[0, d]`, backon adds `[0, d)` to `d`), the
//!   work (one random draw per delay) is the same.
//! * `retry_call`: a call that succeeds on its first attempt through the
//!   retry driver: ours `RetryPolicy::run` (async) and `run_blocking` vs
//!   backon's `Retryable::retry` (async, tokio sleeper) and
//!   `BlockingRetryable::retry`.
//! * `retry_layer`: one request through a tower retry layer over the no-op
//!   service, first attempt succeeds: the floor, `tower::retry::Retry`
//!   (with the minimal attempts policy in `common::subjects::TowerAttempts`),
//!   `tower-resilience`'s `RetryLayer`, and our `RetryLayer` (`ours/layer`).
//!
//! # Equivalent configuration
//!
//! Exponential backoff, first delay 100 ms, factor 2, capped at 10 s, at
//! most 3 attempts (first call included), every error retryable.

use std::hint::black_box;
use std::time::Duration;

use backon::{BackoffBuilder, BlockingRetryable, ExponentialBuilder, Retryable};
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use rand::rngs::StdRng;
use rand::SeedableRng;
use resilience::retry::{Backoff, Classification, ErrorClass, Jitter, RetryPolicy};
use tower::Layer;

#[path = "common/mod.rs"]
mod common;
use common::subjects::{TowerAttempts, ATTEMPTS, INITIAL, MAX_DELAY};
use common::{block_on, call, runtime, Noop, NoopError};

fn fast(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.throughput(Throughput::Elements(1));
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
}

fn ours_backoff() -> Backoff {
    Backoff::exponential(INITIAL, MAX_DELAY).expect("valid backoff")
}

fn backon_builder() -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(INITIAL)
        .with_max_delay(MAX_DELAY)
        .with_factor(2.0)
        .with_max_times(10)
}

fn ours_policy() -> RetryPolicy {
    RetryPolicy::builder(ours_backoff())
        .max_attempts(ATTEMPTS)
        .build()
        .expect("valid policy")
}

fn transient(_: &NoopError) -> Classification {
    Classification::new(ErrorClass::Transient)
}

fn backoff(c: &mut Criterion) {
    let mut g = c.benchmark_group("backoff");
    fast(&mut g);
    let b = ours_backoff();
    let mut rng = StdRng::seed_from_u64(7);
    g.bench_function("ours/sequence10", |bch| {
        bch.iter(|| {
            let total: Duration = black_box(&b).delays_with_rng(&mut rng).take(10).sum();
            black_box(total)
        })
    });
    let builder = backon_builder();
    g.bench_function("backon/sequence10", |bch| {
        bch.iter(|| {
            let total: Duration = black_box(&builder).build().take(10).sum();
            black_box(total)
        })
    });
    let jb = ours_backoff().with_jitter(Jitter::Full);
    g.bench_function("ours/sequence10_jitter", |bch| {
        bch.iter(|| {
            let total: Duration = black_box(&jb).delays_with_rng(&mut rng).take(10).sum();
            black_box(total)
        })
    });
    let jbuilder = backon_builder().with_jitter().with_jitter_seed(7);
    g.bench_function("backon/sequence10_jitter", |bch| {
        bch.iter(|| {
            let total: Duration = black_box(&jbuilder).build().take(10).sum();
            black_box(total)
        })
    });
    let mut n = 0u32;
    g.bench_function("ours/single", |bch| {
        bch.iter(|| {
            n = n.wrapping_add(1) & 15;
            black_box(b.delay(black_box(n)))
        })
    });
    g.finish();
}

fn retry_call(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();
    let mut g = c.benchmark_group("retry_call");
    fast(&mut g);
    let policy = ours_policy();
    g.bench_function("ours/async", |bch| {
        bch.iter(|| {
            black_box(block_on(policy.run(
                &transient,
                |n| std::future::ready(Ok::<u32, NoopError>(black_box(n))),
                tokio::time::sleep,
            )))
        })
    });
    let builder = backon_builder().with_max_times(ATTEMPTS as usize - 1);
    g.bench_function("backon/async", |bch| {
        bch.iter(|| {
            black_box(block_on(
                (|| std::future::ready(Ok::<u32, NoopError>(black_box(1))))
                    .retry(builder)
                    .sleep(tokio::time::sleep),
            ))
        })
    });
    g.bench_function("ours/blocking", |bch| {
        bch.iter(|| {
            black_box(policy.run_blocking(&transient, |n| Ok::<u32, NoopError>(black_box(n))))
        })
    });
    g.bench_function("backon/blocking", |bch| {
        bch.iter(|| {
            black_box(
                (|| Ok::<u32, NoopError>(black_box(1)))
                    .retry(builder)
                    .sleep(std::thread::sleep)
                    .call(),
            )
        })
    });
    g.finish();
}

fn retry_layer(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();
    let mut g = c.benchmark_group("retry_layer");
    fast(&mut g);
    let mut floor = Noop;
    g.bench_function("floor/noop", |bch| {
        bch.iter(|| black_box(call(&mut floor, black_box(1))))
    });
    let mut svc = resilience_tower::retry::RetryLayer::new(ours_policy()).layer(Noop);
    g.bench_function("ours/layer", |bch| {
        bch.iter(|| black_box(call(&mut svc, black_box(1))))
    });
    let mut svc = tower::retry::RetryLayer::new(TowerAttempts(ATTEMPTS)).layer(Noop);
    g.bench_function("tower/retry", |bch| {
        bch.iter(|| black_box(call(&mut svc, black_box(1))))
    });
    let mut svc =
        tower::retry::RetryLayer::new(common::subjects::TowerEquivalent::new()).layer(Noop);
    g.bench_function("tower/retry_equivalent", |bch| {
        bch.iter(|| black_box(call(&mut svc, black_box(1))))
    });
    let mut svc =
        tower::retry::RetryLayer::new(common::subjects::TowerSharedEquivalent::new()).layer(Noop);
    g.bench_function("tower/retry_equivalent_shared", |bch| {
        bch.iter(|| black_box(call(&mut svc, black_box(1))))
    });
    let mut svc = tower_resilience::retry::RetryLayer::<u64, u64, NoopError>::builder()
        .max_attempts(ATTEMPTS as usize)
        .exponential_backoff(INITIAL)
        .build()
        .layer(Noop);
    g.bench_function("tower_resilience/layer", |bch| {
        bch.iter(|| black_box(call(&mut svc, black_box(1))))
    });
    g.finish();
}

criterion_group!(benches, backoff, retry_call, retry_layer);
criterion_main!(benches);
