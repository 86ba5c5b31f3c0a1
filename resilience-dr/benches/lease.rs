//! Costs on the paths a leader hits per write or per renewal.
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use resilience_dr::lease::{Fence, FencedResource, FencingToken, MemoryLeaseBackend};

fn fencing(c: &mut Criterion) {
    let fence = Fence::new();
    fence.admit(FencingToken::new(7)).unwrap();
    c.bench_function("fence_admit_current_token", |b| {
        b.iter(|| fence.admit(black_box(FencingToken::new(7))))
    });
    c.bench_function("fence_admit_stale_token", |b| {
        b.iter(|| fence.admit(black_box(FencingToken::new(6))))
    });
    let resource = FencedResource::new(0u64);
    resource.write(FencingToken::new(7), |v| *v += 1).unwrap();
    c.bench_function("fenced_resource_write_accepted", |b| {
        b.iter(|| resource.write(black_box(FencingToken::new(7)), |v| *v += 1))
    });
    c.bench_function("fenced_resource_write_stale", |b| {
        b.iter(|| resource.write(black_box(FencingToken::new(6)), |v| *v += 1))
    });
}

fn memory_backend(c: &mut Criterion) {
    let backend = MemoryLeaseBackend::new();
    let lease = backend
        .try_acquire("bench", "leader", Duration::from_secs(3600))
        .unwrap();
    c.bench_function("memory_backend_renew", |b| {
        b.iter(|| backend.try_renew(black_box(&lease)))
    });
    c.bench_function("memory_backend_acquire_held", |b| {
        b.iter(|| backend.try_acquire(black_box("bench"), "follower", Duration::from_secs(10)))
    });
}

criterion_group!(benches, fencing, memory_backend);
criterion_main!(benches);
