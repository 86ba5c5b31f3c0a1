//! Circuit breaker hot paths, ours and the Rust peers side by side in one run.
//!
//! Run: `cargo bench --bench circuit_breaker` (or `scripts/bench-table.sh`,
//! which runs every suite and writes `BENCHMARKS.md`).
//!
//! # Groups
//!
//! * `circuit_breaker/closed`, `circuit_breaker/open`: our core API alone
//!   (count and time windows, consecutive failures, owned permits).
//! * `cb_closed`: one permitted, successful call through each breaker's
//!   synchronous API: ours (`try_acquire` + `record_success`, and
//!   `CircuitBreaker::call`), `recloser::Recloser::call`, `failsafe`'s
//!   `CircuitBreaker::call`.
//! * `cb_layer`: one request through a tower service stack: the bare
//!   [`Noop`](common::Noop) service (the floor), our `CircuitBreakerLayer`,
//!   `tower-resilience`'s `CircuitBreakerLayer`, and `recloser`'s
//!   `AsyncRecloser` wrapped around the inner future by a 20-line adapter
//!   ([`RecloserService`]; recloser ships no tower layer).
//! * `cb_open`: a call rejected by an open breaker, through each API.
//! * `cb_contended`: closed acquire+record (and a 60 s time window's `call`,
//!   ours and failsafe's) from 1, 2 and 4 threads sharing
//!   one breaker (the machine may have fewer cores than threads: read the
//!   core count in `BENCHMARKS.md`). The figure is wall time divided by the
//!   total number of calls over all threads.
//!
//! # Equivalent configuration
//!
//! Every breaker watches the last 100 calls and opens at a 50 % failure
//! rate, stays open 30 s, and classifies `Err` as failure:
//!
//! | crate | config |
//! |---|---|
//! | ours | `count_window(100).minimum_calls(100).failure_rate_threshold(0.5).open_duration(30s)` |
//! | tower-resilience 0.13 | `sliding_window_type(CountBased).sliding_window_size(100).minimum_number_of_calls(100).failure_rate_threshold(0.5).wait_duration_in_open(30s)` |
//! | recloser 1.4 | `closed_len(100).error_rate(0.5).open_wait(30s)` |
//! | failsafe 1.3 | has no count window: compared twice, with `consecutive_failures(5, constant(30s))` against our `consecutive_failures(5)`, and with `success_rate_over_time_window(0.5, 100, 60s, constant(30s))` against our `time_window(60s)` at 50 % |
//!
//! No metrics recorder is installed (our `metrics` handles are no-ops, the
//! peers' `metrics` features are off) and no event listener is registered.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use failsafe::CircuitBreaker as _;
use resilience::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
use resilience_tower::circuit_breaker::CircuitBreakerLayer;
use tower::Layer;

#[path = "common/mod.rs"]
mod common;
use common::subjects::{
    failsafe_consecutive, failsafe_time_window, ours_cb, ours_time_window_cb,
    ours_time_window_coarse_cb, recloser, tr_cb_layer, RecloserService, OPEN, WINDOW,
};
use common::{bench_contended_service, call, contended, runtime, Noop, FAIL};

fn ours() -> CircuitBreaker {
    ours_cb()
}

fn tower_resilience_layer() -> tower_resilience::circuitbreaker::CircuitBreakerLayer<
    tower_resilience::circuitbreaker::DefaultClassifier,
> {
    tr_cb_layer()
}

fn fast(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.throughput(Throughput::Elements(1));
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
}

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

/// Synchronous acquire + record of one successful call.
fn closed_vs_peers(c: &mut Criterion) {
    let mut g = c.benchmark_group("cb_closed");
    fast(&mut g);

    let b = ours();
    g.bench_function("ours/permit", |bch| {
        bch.iter(|| black_box(&b).try_acquire().unwrap().record_success())
    });
    let b = ours();
    g.bench_function("ours/call", |bch| {
        bch.iter(|| black_box(black_box(&b).call(|| Ok::<u64, ()>(black_box(1)))))
    });
    let r = recloser();
    g.bench_function("recloser/call", |bch| {
        bch.iter(|| black_box(black_box(&r).call(|| Ok::<u64, ()>(black_box(1)))))
    });

    let b = CircuitBreaker::new(
        CircuitBreakerConfig::new()
            .consecutive_failures(5)
            .open_duration(OPEN),
    )
    .expect("valid config");
    g.bench_function("ours/consecutive_call", |bch| {
        bch.iter(|| black_box(black_box(&b).call(|| Ok::<u64, ()>(black_box(1)))))
    });
    let f = failsafe_consecutive();
    g.bench_function("failsafe/consecutive_call", |bch| {
        bch.iter(|| black_box(black_box(&f).call(|| Ok::<u64, ()>(black_box(1)))))
    });

    let b = ours_time_window_cb();
    g.bench_function("ours/time_window_call", |bch| {
        bch.iter(|| black_box(black_box(&b).call(|| Ok::<u64, ()>(black_box(1)))))
    });
    let b = ours_time_window_coarse_cb();
    g.bench_function("ours/time_window_coarse_call", |bch| {
        bch.iter(|| black_box(black_box(&b).call(|| Ok::<u64, ()>(black_box(1)))))
    });
    let f = failsafe_time_window();
    g.bench_function("failsafe/time_window_call", |bch| {
        bch.iter(|| black_box(black_box(&f).call(|| Ok::<u64, ()>(black_box(1)))))
    });
    g.finish();
}

/// One request through a tower service: the floor, ours, the peers.
fn layer_vs_peers(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();
    let mut g = c.benchmark_group("cb_layer");
    fast(&mut g);

    let mut floor = Noop;
    g.bench_function("floor/noop", |bch| {
        bch.iter(|| black_box(call(&mut floor, black_box(1))))
    });
    let mut svc = CircuitBreakerLayer::new(ours()).layer(Noop);
    g.bench_function("ours/layer", |bch| {
        bch.iter(|| black_box(call(&mut svc, black_box(1))))
    });
    let mut svc = tower_resilience_layer().layer(Noop);
    g.bench_function("tower_resilience/layer", |bch| {
        bch.iter(|| black_box(call(&mut svc, black_box(1))))
    });
    let mut svc = RecloserService {
        inner: Noop,
        breaker: recloser().into(),
    };
    g.bench_function("recloser/async", |bch| {
        bch.iter(|| black_box(call(&mut svc, black_box(1))))
    });
    g.finish();
}

/// A call rejected by an open breaker.
fn open_vs_peers(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();
    let mut g = c.benchmark_group("cb_open");
    fast(&mut g);

    let b = ours();
    for _ in 0..WINDOW {
        b.try_acquire().expect("closed").record_failure();
    }
    assert!(b.try_acquire().is_err(), "ours is open");
    g.bench_function("ours/core", |bch| {
        bch.iter(|| black_box(black_box(&b).try_acquire().is_err()))
    });
    let mut svc = CircuitBreakerLayer::new(b.clone()).layer(Noop);
    g.bench_function("ours/layer", |bch| {
        bch.iter(|| black_box(call(&mut svc, black_box(1)).is_err()))
    });

    let mut svc = tower_resilience_layer().layer(Noop);
    for _ in 0..WINDOW {
        let _ = call(&mut svc, FAIL);
    }
    assert!(call(&mut svc, 1).is_err(), "tower-resilience is open");
    g.bench_function("tower_resilience/layer", |bch| {
        bch.iter(|| black_box(call(&mut svc, black_box(1)).is_err()))
    });

    let r = recloser();
    // recloser evaluates its ring only once it is full: `closed_len + 1` calls.
    for _ in 0..=WINDOW {
        let _ = r.call(|| Err::<(), ()>(()));
    }
    assert!(matches!(
        r.call(|| Ok::<(), ()>(())),
        Err(recloser::Error::Rejected)
    ));
    g.bench_function("recloser/call", |bch| {
        bch.iter(|| black_box(black_box(&r).call(|| Ok::<u64, ()>(black_box(1))).is_err()))
    });

    let f = failsafe_consecutive();
    for _ in 0..5 {
        let _ = f.call(|| Err::<(), ()>(()));
    }
    assert!(!f.is_call_permitted(), "failsafe is open");
    g.bench_function("failsafe/call", |bch| {
        bch.iter(|| black_box(black_box(&f).call(|| Ok::<u64, ()>(black_box(1))).is_err()))
    });
    g.finish();
}

/// Benchmarks `op` on one `subject` shared by `threads` threads, as `id`.
fn bench_shared<T: Sync>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    id: String,
    threads: u64,
    subject: &T,
    op: impl Fn(&T) + Sync,
) {
    g.bench_function(id, |bch| {
        bch.iter_custom(|iters| contended(threads, iters, || subject, |s: &mut &T| op(s)))
    });
}

fn contention(c: &mut Criterion) {
    let mut g = c.benchmark_group("cb_contended");
    fast(&mut g);
    for threads in [1u64, 2, 4] {
        let id = |name: &str| format!("{name}/{threads}_threads");
        bench_shared(&mut g, id("ours/core"), threads, &ours(), |b| {
            b.try_acquire().unwrap().record_success()
        });
        bench_shared(&mut g, id("recloser/call"), threads, &recloser(), |r| {
            let _ = black_box(r.call(|| Ok::<u64, ()>(1)));
        });
        bench_shared(
            &mut g,
            id("failsafe/call"),
            threads,
            &failsafe_consecutive(),
            |f| {
                let _ = black_box(f.call(|| Ok::<u64, ()>(1)));
            },
        );
        bench_shared(
            &mut g,
            id("ours/time_window"),
            threads,
            &ours_time_window_cb(),
            |b| {
                let _ = black_box(b.call(|| Ok::<u64, ()>(1)));
            },
        );
        bench_shared(
            &mut g,
            id("failsafe/time_window"),
            threads,
            &failsafe_time_window(),
            |f| {
                let _ = black_box(f.call(|| Ok::<u64, ()>(1)));
            },
        );
        let svc = CircuitBreakerLayer::new(ours()).layer(Noop);
        bench_contended_service(
            &mut g,
            format!("ours/layer/{threads}_threads"),
            threads,
            &svc,
        );
        let svc = tower_resilience_layer().layer(Noop);
        bench_contended_service(
            &mut g,
            format!("tower_resilience/layer/{threads}_threads"),
            threads,
            &svc,
        );
    }
    g.finish();
}

criterion_group!(
    benches,
    closed,
    open,
    closed_vs_peers,
    layer_vs_peers,
    open_vs_peers,
    contention
);
criterion_main!(benches);
