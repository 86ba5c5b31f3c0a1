//! Bulkhead hot path: uncontended acquire + release (target < 20 ns, zero
//! allocations), borrowed and owned permits, plain and under a shared cap.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use resilience_core::bulkhead::{Bulkhead, BulkheadConfig, BulkheadSet, SharedCapConfig};

fn bench(c: &mut Criterion) {
    let b = Bulkhead::new("bench", BulkheadConfig::new(100)).expect("valid config");

    // Allocation check, printed with the figures (the test in
    // tests/bulkhead_alloc.rs asserts the same).
    let info = allocation_counter::measure(|| {
        for _ in 0..1000 {
            drop(black_box(b.try_acquire()));
        }
    });
    println!(
        "bulkhead try_acquire+release: {} allocations in 1000 iterations",
        info.count_total
    );

    // On a loaded machine criterion's mean is dominated by interference; the
    // minimum over many short runs is a steadier estimate of the cost itself.
    println!(
        "min ns/iter over 200 runs of 100k: floor {:.1}, try_acquire+release {:.1}, owned {:.1}",
        min_ns_per_iter(|| {
            let cur = FLOOR.load(std::sync::atomic::Ordering::Relaxed);
            let _ = black_box(FLOOR.compare_exchange_weak(
                cur,
                cur + 1,
                std::sync::atomic::Ordering::Acquire,
                std::sync::atomic::Ordering::Relaxed,
            ));
            FLOOR.fetch_sub(1, std::sync::atomic::Ordering::Release);
        }),
        min_ns_per_iter(|| drop(black_box(b.try_acquire()))),
        min_ns_per_iter(|| drop(black_box(b.try_acquire_owned()))),
    );

    let mut g = c.benchmark_group("bulkhead");
    // The hardware floor: one CAS and one fetch_sub on an uncontended atomic,
    // which is all the permit accounting does.
    let word = std::sync::atomic::AtomicU64::new(0);
    g.bench_function("floor_cas_plus_fetch_sub", |bench| {
        use std::sync::atomic::Ordering;
        bench.iter(|| {
            let cur = word.load(Ordering::Relaxed);
            let _ = black_box(word.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ));
            word.fetch_sub(1, Ordering::Release);
        })
    });
    g.bench_function("try_acquire_release", |bench| {
        bench.iter(|| drop(black_box(b.try_acquire())))
    });
    g.bench_function("try_acquire_owned_release", |bench| {
        bench.iter(|| drop(black_box(b.try_acquire_owned())))
    });

    let mut config = resilience_core::presets::model_registry::bulkheads();
    config.shared_cap = Some(SharedCapConfig::new(150));
    let set = BulkheadSet::new(config).expect("valid config");
    let api = set.get("api").expect("preset has api").clone();
    g.bench_function("try_acquire_release_with_shared_cap", |bench| {
        bench.iter(|| drop(black_box(api.try_acquire())))
    });
    g.finish();
}

static FLOOR: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn min_ns_per_iter(mut f: impl FnMut()) -> f64 {
    const N: u32 = 100_000;
    (0..200)
        .map(|_| {
            let t = std::time::Instant::now();
            for _ in 0..N {
                f();
            }
            t.elapsed().as_nanos() as f64 / f64::from(N)
        })
        .fold(f64::INFINITY, f64::min)
}

criterion_group!(benches, bench);
criterion_main!(benches);
