//! Bulkhead / concurrency limit, ours and the peers side by side in one run.
//!
//! Run: `cargo bench --bench bulkhead`.
//!
//! # Groups
//!
//! * `bh_permit`: take a permit and give it back, uncontended: our core
//!   `Bulkhead::try_acquire` and drop, and `tokio::sync::Semaphore::try_acquire`
//!   and drop (the primitive under `tower::limit::ConcurrencyLimit` and
//!   `tower-resilience`'s bulkhead).
//! * `bh_layer`: one request through a tower service: the bare no-op
//!   (floor), `tower::limit::ConcurrencyLimit`, `tower-resilience`'s
//!   `BulkheadLayer`, and ours: our tower `BulkheadLayer` (`ours/layer`) and,
//!   for reference, our core bulkhead in front of the no-op by a minimal
//!   adapter ([`CoreBulkheadService`]: `try_acquire_owned` in `call`, permit
//!   dropped when the response is ready).
//! * `bh_contended`: permit take + release from 1, 2 and 4 threads sharing
//!   one limit (wall time / total calls; read the core count in
//!   `BENCHMARKS.md`).
//!
//! # Equivalent configuration
//!
//! 100 permits everywhere, nobody ever waits (the limit is never reached):
//! ours `BulkheadConfig::new(100)` (fail fast, `max_wait` 0),
//! `ConcurrencyLimit::new(svc, 100)` (which would wait in `poll_ready`),
//! tower-resilience `max_concurrent_calls(100).reject_when_full()`.

use std::hint::black_box;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use resilience::bulkhead::{Bulkhead, BulkheadFull, OwnedBulkheadPermit};
use resilience_tower::bulkhead::BulkheadLayer;
use tower::limit::ConcurrencyLimit;
use tower::{Layer, Service};

#[path = "common/mod.rs"]
mod common;
use common::subjects::{ours_bulkhead, tr_bulkhead_layer, LIMIT};
use common::{bench_contended_service, call, contended, runtime, Noop};

fn fast(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.throughput(Throughput::Elements(1));
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
}

/// Our core bulkhead in front of a service, as the tower layer will do it:
/// a permit taken in `call`, held by the response future.
#[derive(Debug, Clone)]
struct CoreBulkheadService<S> {
    inner: S,
    bulkhead: Bulkhead,
}

#[pin_project::pin_project]
struct Guarded<F> {
    #[pin]
    inner: F,
    permit: Option<OwnedBulkheadPermit>,
}

impl<F: std::future::Future> std::future::Future for Guarded<F> {
    type Output = F::Output;
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx));
        this.permit.take();
        Poll::Ready(out)
    }
}

impl<S: Service<u64>> Service<u64> for CoreBulkheadService<S> {
    type Response = S::Response;
    type Error = BulkheadOr<S::Error>;
    type Future = futures_util::future::Either<
        futures_util::future::MapErr<Guarded<S::Future>, fn(S::Error) -> BulkheadOr<S::Error>>,
        std::future::Ready<Result<S::Response, BulkheadOr<S::Error>>>,
    >;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(BulkheadOr::Inner)
    }

    #[inline]
    fn call(&mut self, req: u64) -> Self::Future {
        use futures_util::future::{Either, TryFutureExt};
        match self.bulkhead.try_acquire_owned() {
            Ok(permit) => Either::Left(
                Guarded {
                    inner: self.inner.call(req),
                    permit: Some(permit),
                }
                .map_err(BulkheadOr::Inner as fn(S::Error) -> BulkheadOr<S::Error>),
            ),
            Err(full) => Either::Right(std::future::ready(Err(BulkheadOr::Full(full)))),
        }
    }
}

#[derive(Debug)]
#[allow(dead_code)]
enum BulkheadOr<E> {
    Full(BulkheadFull),
    Inner(E),
}

fn permit(c: &mut Criterion) {
    let mut g = c.benchmark_group("bh_permit");
    fast(&mut g);
    let b = ours_bulkhead();
    g.bench_function("ours/core", |bch| {
        bch.iter(|| drop(black_box(black_box(&b).try_acquire())))
    });
    let b = ours_bulkhead();
    g.bench_function("ours/core_owned", |bch| {
        bch.iter(|| drop(black_box(black_box(&b).try_acquire_owned())))
    });
    let s = Arc::new(tokio::sync::Semaphore::new(LIMIT as usize));
    g.bench_function("tokio_semaphore/try_acquire", |bch| {
        bch.iter(|| drop(black_box(black_box(&s).try_acquire())))
    });
    g.bench_function("tokio_semaphore/try_acquire_owned", |bch| {
        bch.iter(|| drop(black_box(black_box(&s).clone().try_acquire_owned())))
    });
    g.finish();
}

fn layer(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();
    let mut g = c.benchmark_group("bh_layer");
    fast(&mut g);
    let mut floor = Noop;
    g.bench_function("floor/noop", |bch| {
        bch.iter(|| black_box(call(&mut floor, black_box(1))))
    });
    let mut svc = CoreBulkheadService {
        inner: Noop,
        bulkhead: ours_bulkhead(),
    };
    g.bench_function("ours/core_adapter", |bch| {
        bch.iter(|| black_box(call(&mut svc, black_box(1))))
    });
    let mut svc = BulkheadLayer::new(ours_bulkhead()).layer(Noop);
    g.bench_function("ours/layer", |bch| {
        bch.iter(|| black_box(call(&mut svc, black_box(1))))
    });
    let mut svc = ConcurrencyLimit::new(Noop, LIMIT as usize);
    g.bench_function("tower/concurrency_limit", |bch| {
        bch.iter(|| black_box(call(&mut svc, black_box(1))))
    });
    let mut svc = tr_bulkhead_layer().layer(Noop);
    g.bench_function("tower_resilience/layer", |bch| {
        bch.iter(|| black_box(call(&mut svc, black_box(1))))
    });
    g.finish();
}

fn contention(c: &mut Criterion) {
    let mut g = c.benchmark_group("bh_contended");
    fast(&mut g);
    for threads in [1u64, 2, 4] {
        let b = ours_bulkhead();
        g.bench_function(format!("ours/core/{threads}_threads"), |bch| {
            bch.iter_custom(|iters| {
                contended(threads, iters, || &b, |b| drop(black_box(b.try_acquire())))
            })
        });
        let s = tokio::sync::Semaphore::new(LIMIT as usize);
        g.bench_function(format!("tokio_semaphore/{threads}_threads"), |bch| {
            bch.iter_custom(|iters| {
                contended(threads, iters, || &s, |s| drop(black_box(s.try_acquire())))
            })
        });
        let svc = ConcurrencyLimit::new(Noop, LIMIT as usize);
        bench_contended_service(
            &mut g,
            format!("tower/concurrency_limit/{threads}_threads"),
            threads,
            &svc,
        );
        let svc = BulkheadLayer::new(ours_bulkhead()).layer(Noop);
        bench_contended_service(
            &mut g,
            format!("ours/layer/{threads}_threads"),
            threads,
            &svc,
        );
        let svc = CoreBulkheadService {
            inner: Noop,
            bulkhead: ours_bulkhead(),
        };
        bench_contended_service(
            &mut g,
            format!("ours/core_adapter/{threads}_threads"),
            threads,
            &svc,
        );
    }
    g.finish();
}

criterion_group!(benches, permit, layer, contention);
criterion_main!(benches);
