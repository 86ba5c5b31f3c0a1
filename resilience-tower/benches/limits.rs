//! Per-call overhead of the concurrency layers over a no-op service, next
//! to `tower::limit::ConcurrencyLimit` in the same run: `poll_ready` +
//! `call` + polling the response future to completion, uncontended (the
//! limit is never reached), on a no-op waker with no runtime.
//!
//! Run: `cargo bench -p resilience-tower --bench limits` (add
//! `--features tsc-clock` for the adaptive layer on the TSC clock).

use std::future::{ready, Future, Ready};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use resilience_core::bulkhead::{Bulkhead, BulkheadConfig, BulkheadSet, SharedCapConfig};
use resilience_core::degradation::DegradationManager;
use resilience_tower::adaptive::{
    AdaptiveConcurrencyLayer, AdaptiveConfig, AimdConfig, Gradient2Config, LimitAlgorithmConfig,
    VegasConfig,
};
use resilience_tower::bulkhead::{BulkheadLayer, BulkheadSetLayer, Pools};
use resilience_tower::degradation::DegradationLayer;
use tower::limit::ConcurrencyLimitLayer;
use tower::{service_fn, BoxError, Layer, Service};

fn noop(
) -> impl Service<u64, Response = u64, Error = BoxError, Future = Ready<Result<u64, BoxError>>> + Clone
{
    service_fn(|x: u64| ready(Ok::<_, BoxError>(x)))
}

/// One request through `svc`, driven by hand.
#[inline]
fn drive<S: Service<u64, Response = u64>>(svc: &mut S, x: u64) -> u64 {
    let mut cx = Context::from_waker(Waker::noop());
    match svc.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        _ => panic!("the bench never fills the limit"),
    }
    let fut = pin!(svc.call(x));
    match fut.poll(&mut cx) {
        Poll::Ready(Ok(v)) => v,
        _ => panic!("a no-op call completes at once"),
    }
}

const LIMIT: u32 = 1_000;

fn bulkhead(wait: Duration) -> Bulkhead {
    Bulkhead::new("bench", BulkheadConfig::new(LIMIT).max_wait(wait)).expect("valid config")
}

fn bench(c: &mut Criterion) {
    let mut bare = noop();
    let mut tower_limit = ConcurrencyLimitLayer::new(LIMIT as usize).layer(noop());
    let mut bh_fail_fast = BulkheadLayer::new(bulkhead(Duration::ZERO)).layer(noop());
    let mut bh_wait = BulkheadLayer::new(bulkhead(Duration::from_secs(1))).layer(noop());
    let mut config = resilience_core::presets::model_registry::bulkheads();
    config.shared_cap = Some(SharedCapConfig::new(LIMIT));
    let pools = Pools::new(BulkheadSet::new(config).expect("valid config"));
    let api = pools.id("api").expect("preset pool");
    let mut set_by_id = BulkheadSetLayer::by_id(pools.clone(), move |_: &u64| api).layer(noop());
    let mut set_by_name = BulkheadSetLayer::by_name(pools, |_: &u64| "api").layer(noop());

    let adaptive = |algorithm| {
        AdaptiveConcurrencyLayer::from_config(AdaptiveConfig::new("bench", algorithm))
            .expect("valid config")
            .layer(noop())
    };
    let mut aimd = adaptive(LimitAlgorithmConfig::Aimd(AimdConfig {
        initial_limit: LIMIT,
        max_limit: LIMIT,
        ..AimdConfig::default()
    }));
    let mut vegas = adaptive(LimitAlgorithmConfig::Vegas(VegasConfig {
        initial_limit: LIMIT,
        max_limit: LIMIT,
        seed: Some(1),
        ..VegasConfig::default()
    }));
    let mut gradient2 = adaptive(LimitAlgorithmConfig::Gradient2(Gradient2Config {
        initial_limit: LIMIT,
        max_limit: LIMIT,
        ..Gradient2Config::default()
    }));
    #[cfg(feature = "tsc-clock")]
    let mut aimd_tsc = AdaptiveConcurrencyLayer::from_config(AdaptiveConfig {
        rtt_clock: resilience_tower::adaptive::RttClock::Tsc,
        ..AdaptiveConfig::new(
            "bench-tsc",
            LimitAlgorithmConfig::Aimd(AimdConfig {
                initial_limit: LIMIT,
                max_limit: LIMIT,
                ..AimdConfig::default()
            }),
        )
    })
    .expect("valid config")
    .layer(noop());
    #[cfg(feature = "tsc-clock")]
    println!(
        "min ns/call: Adaptive AIMD with the TSC clock {:.1}",
        min_ns_per_call(|i| drive(&mut aimd_tsc, i))
    );
    let manager = DegradationManager::new(
        resilience_core::presets::workflow_runtime::degradation().expect("preset"),
    )
    .expect("valid config");
    let reads = manager.feature("reads").expect("preset feature");
    let mut degradation = DegradationLayer::new(manager, move |_: &u64| reads).layer(noop());

    println!(
        "min ns/call over 200 runs of 100k: no-op {:.1}, tower ConcurrencyLimit {:.1}, \
         BulkheadLayer fail-fast {:.1}, BulkheadLayer max_wait 1s {:.1}, \
         BulkheadSetLayer by id (shared cap) {:.1}, by name {:.1}, \
         Adaptive AIMD {:.1}, Vegas {:.1}, Gradient2 {:.1}, DegradationLayer (enabled) {:.1}",
        min_ns_per_call(|i| drive(&mut bare, i)),
        min_ns_per_call(|i| drive(&mut tower_limit, i)),
        min_ns_per_call(|i| drive(&mut bh_fail_fast, i)),
        min_ns_per_call(|i| drive(&mut bh_wait, i)),
        min_ns_per_call(|i| drive(&mut set_by_id, i)),
        min_ns_per_call(|i| drive(&mut set_by_name, i)),
        min_ns_per_call(|i| drive(&mut aimd, i)),
        min_ns_per_call(|i| drive(&mut vegas, i)),
        min_ns_per_call(|i| drive(&mut gradient2, i)),
        min_ns_per_call(|i| drive(&mut degradation, i)),
    );

    let mut g = c.benchmark_group("limits");
    let mut i = 0u64;
    let mut next = move || {
        i = i.wrapping_add(1);
        black_box(i)
    };
    g.bench_function("noop", |b| b.iter(|| drive(&mut bare, next())));
    g.bench_function("tower_concurrency_limit", |b| {
        b.iter(|| drive(&mut tower_limit, next()))
    });
    g.bench_function("bulkhead/fail_fast", |b| {
        b.iter(|| drive(&mut bh_fail_fast, next()))
    });
    g.bench_function("bulkhead/max_wait", |b| {
        b.iter(|| drive(&mut bh_wait, next()))
    });
    g.bench_function("bulkhead_set/by_id_shared_cap", |b| {
        b.iter(|| drive(&mut set_by_id, next()))
    });
    g.bench_function("bulkhead_set/by_name_shared_cap", |b| {
        b.iter(|| drive(&mut set_by_name, next()))
    });
    g.bench_function("adaptive/aimd", |b| b.iter(|| drive(&mut aimd, next())));
    g.bench_function("adaptive/vegas", |b| b.iter(|| drive(&mut vegas, next())));
    g.bench_function("adaptive/gradient2", |b| {
        b.iter(|| drive(&mut gradient2, next()))
    });
    #[cfg(feature = "tsc-clock")]
    g.bench_function("adaptive/aimd_tsc_clock", |b| {
        b.iter(|| drive(&mut aimd_tsc, next()))
    });
    g.bench_function("degradation/enabled", |b| {
        b.iter(|| drive(&mut degradation, next()))
    });
    g.finish();
}

/// On a loaded machine criterion's mean is dominated by interference; the
/// minimum over many short runs is a steadier estimate of the cost itself.
fn min_ns_per_call(mut f: impl FnMut(u64) -> u64) -> f64 {
    const N: u64 = 100_000;
    (0..200)
        .map(|_| {
            let t = std::time::Instant::now();
            for i in 0..N {
                black_box(f(black_box(i)));
            }
            t.elapsed().as_nanos() as f64 / N as f64
        })
        .fold(f64::INFINITY, f64::min)
}

criterion_group! {
    name = benches;
    // Short runs: the figures that matter are printed above as minima.
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
