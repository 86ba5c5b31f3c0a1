//! Rate limiter, ours and governor side by side in one run.
//!
//! Run: `cargo bench --bench rate_limit`.
//!
//! # Groups
//!
//! * `rl_check`: one admitted permit, uncontended: our
//!   `RateLimiter::try_acquire` (GCRA on one `AtomicU64`, `SystemClock`)
//!   and governor's `RateLimiter::direct(..).check()` (GCRA on one
//!   `AtomicU64`, governor's default quanta clock).
//! * `rl_refused`: one refused permit (the limiter is spent): ours builds a
//!   `RateLimited` with `retry_after`, governor a `NotUntil`.
//! * `rl_contended`: admitted permits from 2 threads sharing one limiter
//!   (wall time / total calls).
//!
//! # Equivalent configuration
//!
//! Admitted: 10^9 permits per second with a burst of 10^9 on both, so no
//! call is ever refused. Refused: one permit per hour, spent before the
//! measurement, on both.

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use governor::{Quota, RateLimiter as Governor};
use resilience::rate_limit::{RateLimiter, RateLimiterConfig};

fn fast(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.throughput(Throughput::Elements(1));
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
}

const RATE: u32 = 1_000_000_000;

fn ours_open() -> RateLimiter {
    RateLimiter::new(RateLimiterConfig::new(RATE, Duration::from_secs(1))).expect("valid")
}

fn governor_open() -> governor::DefaultDirectRateLimiter {
    Governor::direct(Quota::per_second(NonZeroU32::new(RATE).expect("non-zero")))
}

fn check(c: &mut Criterion) {
    let mut g = c.benchmark_group("rl_check");
    fast(&mut g);
    let ours = ours_open();
    g.bench_function("ours", |b| b.iter(|| black_box(ours.try_acquire()).is_ok()));
    let gov = governor_open();
    g.bench_function("governor", |b| b.iter(|| black_box(gov.check()).is_ok()));
    g.finish();
}

fn refused(c: &mut Criterion) {
    let mut g = c.benchmark_group("rl_refused");
    fast(&mut g);
    let ours =
        RateLimiter::new(RateLimiterConfig::new(1, Duration::from_secs(3600))).expect("valid");
    let _ = ours.try_acquire();
    g.bench_function("ours", |b| {
        b.iter(|| black_box(ours.try_acquire()).is_err())
    });
    let gov = Governor::direct(Quota::per_hour(NonZeroU32::new(1).expect("non-zero")));
    let _ = gov.check();
    g.bench_function("governor", |b| b.iter(|| black_box(gov.check()).is_err()));
    g.finish();
}

/// Wall time per call with `threads` threads calling `f` `iters` times in all.
fn contended(threads: u64, iters: u64, f: Arc<dyn Fn() + Send + Sync>) -> Duration {
    let per = iters / threads;
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let f = f.clone();
            s.spawn(move || {
                for _ in 0..per {
                    f();
                }
            });
        }
    });
    start.elapsed()
}

fn contention(c: &mut Criterion) {
    let mut g = c.benchmark_group("rl_contended");
    fast(&mut g);
    let ours = ours_open();
    let f: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
        black_box(ours.try_acquire().is_ok());
    });
    g.bench_function("ours/2", |b| b.iter_custom(|n| contended(2, n, f.clone())));
    let gov = governor_open();
    let f: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
        black_box(gov.check().is_ok());
    });
    g.bench_function("governor/2", |b| {
        b.iter_custom(|n| contended(2, n, f.clone()))
    });
    g.finish();
}

criterion_group!(benches, check, refused, contention);
criterion_main!(benches);
