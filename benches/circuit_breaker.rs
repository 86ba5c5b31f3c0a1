//! Circuit breaker hot paths: closed acquire+record (count and time windows),
//! the open (rejecting) path, and contention from 2 threads.
//!
//! Run: `cargo bench --bench circuit_breaker`.

use std::hint::black_box;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use resilience::core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};

fn closed(c: &mut Criterion) {
    let mut g = c.benchmark_group("circuit_breaker/closed");
    g.throughput(Throughput::Elements(1));

    let count = CircuitBreaker::new(CircuitBreakerConfig::new().count_window(100)).unwrap();
    g.bench_function("acquire+record_success/count_window", |b| {
        b.iter(|| black_box(&count).try_acquire().unwrap().record_success())
    });

    let mixed = CircuitBreaker::new(CircuitBreakerConfig::new().count_window(100)).unwrap();
    let mut i = 0u32;
    g.bench_function("acquire+record/count_window/5pct_failures", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let p = black_box(&mixed).try_acquire().unwrap();
            if i % 20 == 0 {
                p.record_failure()
            } else {
                p.record_success()
            }
        })
    });

    let consecutive =
        CircuitBreaker::new(CircuitBreakerConfig::new().consecutive_failures(5)).unwrap();
    g.bench_function("acquire+record_success/consecutive", |b| {
        b.iter(|| {
            black_box(&consecutive)
                .try_acquire()
                .unwrap()
                .record_success()
        })
    });

    let time =
        CircuitBreaker::new(CircuitBreakerConfig::new().time_window(Duration::from_secs(60)))
            .unwrap();
    g.bench_function("acquire+record_success/time_window", |b| {
        b.iter(|| black_box(&time).try_acquire().unwrap().record_success())
    });

    let owned = CircuitBreaker::new(CircuitBreakerConfig::new().count_window(100)).unwrap();
    g.bench_function("acquire_owned+record_success/count_window", |b| {
        b.iter(|| {
            black_box(&owned)
                .try_acquire_owned()
                .unwrap()
                .record_success()
        })
    });
    g.finish();
}

fn open(c: &mut Criterion) {
    let mut g = c.benchmark_group("circuit_breaker/open");
    g.throughput(Throughput::Elements(1));
    let b = CircuitBreaker::new(
        CircuitBreakerConfig::new()
            .consecutive_failures(1)
            .open_duration(Duration::from_secs(3600)),
    )
    .unwrap();
    b.try_acquire().unwrap().record_failure();
    g.bench_function("reject", |bch| {
        bch.iter(|| black_box(black_box(&b).try_acquire().is_err()))
    });
    g.finish();
}

/// Runs `iters` calls split over `threads` threads; returns the wall time.
fn contended(breaker: &CircuitBreaker, threads: u64, iters: u64) -> Duration {
    let barrier = Barrier::new(threads as usize + 1);
    let per = iters / threads;
    thread::scope(|s| {
        for _ in 0..threads {
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                for _ in 0..per {
                    black_box(breaker).try_acquire().unwrap().record_success();
                }
                barrier.wait();
            });
        }
        barrier.wait();
        let start = Instant::now();
        barrier.wait();
        start.elapsed()
    })
}

fn contention(c: &mut Criterion) {
    let mut g = c.benchmark_group("circuit_breaker/contended");
    g.throughput(Throughput::Elements(1));
    for threads in [1u64, 2, 4] {
        let b = CircuitBreaker::new(CircuitBreakerConfig::new().count_window(100)).unwrap();
        g.bench_function(format!("acquire+record_success/{threads}_threads"), |bch| {
            bch.iter_custom(|iters| contended(&b, threads, iters.max(threads)))
        });
    }
    g.finish();
}

criterion_group!(benches, closed, open, contention);
criterion_main!(benches);
