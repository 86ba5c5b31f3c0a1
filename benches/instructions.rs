//! A plain binary (no criterion) that runs one benchmark case `N` times, for
//! instruction counting under `valgrind --tool=callgrind`
//! (`scripts/callgrind.sh` runs every case with `N` and `2N` iterations
//! and divides the difference by `N`, so set-up cost cancels out).
//!
//! Usage: `<bench binary> count CASE N`, or `<bench binary> list`.
//! Under `cargo bench` (no `count` argument) it prints a note and exits.
//!
//! The case names match the criterion ids of the other suites; the
//! subjects are built by the same `common::subjects` / `common::stacks`
//! functions, and services are driven by the same `common::call`.

use std::hint::black_box;
use std::sync::Arc;

use backon::{BackoffBuilder, ExponentialBuilder};
use failsafe::CircuitBreaker as _;
use rand::rngs::StdRng;
use rand::SeedableRng;
use resilience::retry::Backoff;
use resilience_tower::circuit_breaker::CircuitBreakerLayer;
use tower::limit::ConcurrencyLimit;
use tower::Layer;

#[path = "common/mod.rs"]
mod common;
use common::subjects::{
    failsafe_consecutive, ours_bulkhead, ours_cb, recloser, tr_bulkhead_layer, tr_cb_layer,
    RecloserService, TowerAttempts, ATTEMPTS, INITIAL, LIMIT, MAX_DELAY, TIMEOUT, WINDOW,
};
use common::{call, runtime, stacks, Noop, FAIL};

/// Every case, in report order: (case, closest peer case or "").
pub const CASES: &[(&str, &str)] = &[
    ("floor/noop", ""),
    ("cb_closed/ours/permit", "cb_closed/recloser/call"),
    ("cb_closed/ours/call", "cb_closed/recloser/call"),
    ("cb_closed/recloser/call", ""),
    (
        "cb_closed/ours/consecutive_call",
        "cb_closed/failsafe/consecutive_call",
    ),
    ("cb_closed/failsafe/consecutive_call", ""),
    (
        "cb_closed/ours/time_window_call",
        "cb_closed/failsafe/time_window_call",
    ),
    ("cb_closed/failsafe/time_window_call", ""),
    (
        "cb_closed/ours/time_window_coarse_call",
        "cb_closed/ours/call",
    ),
    ("cb_layer/ours/layer", "cb_layer/tower_resilience/layer"),
    ("cb_layer/tower_resilience/layer", ""),
    ("cb_layer/recloser/async", ""),
    ("cb_open/ours/core", "cb_open/recloser/call"),
    ("cb_open/ours/layer", "cb_open/tower_resilience/layer"),
    ("cb_open/tower_resilience/layer", ""),
    ("cb_open/recloser/call", ""),
    ("cb_open/failsafe/call", ""),
    ("registry/ours/hot_key", "registry/governor/hot_key"),
    ("registry/governor/hot_key", ""),
    ("registry/ours/random_1k", "registry/governor/random_1k"),
    ("registry/governor/random_1k", ""),
    (
        "bh_permit/ours/core",
        "bh_permit/tokio_semaphore/try_acquire",
    ),
    ("bh_permit/tokio_semaphore/try_acquire", ""),
    ("bh_layer/ours/layer", "bh_layer/tower/concurrency_limit"),
    ("bh_layer/tower/concurrency_limit", ""),
    ("bh_layer/tower_resilience/layer", ""),
    ("backoff/ours/sequence10", "backoff/backon/sequence10"),
    ("backoff/backon/sequence10", ""),
    ("retry_call/ours/async", "retry_call/backon/async"),
    ("retry_call/backon/async", ""),
    ("retry_call/ours/blocking", "retry_call/backon/blocking"),
    ("retry_call/backon/blocking", ""),
    (
        "retry_layer/ours/layer",
        "retry_layer/tower/retry_equivalent",
    ),
    ("retry_layer/tower/retry", ""),
    ("retry_layer/tower/retry_equivalent", ""),
    ("retry_layer/tower/retry_equivalent_shared", ""),
    ("retry_layer/tower_resilience/layer", ""),
    ("timeout/ours/layer", "timeout/tower/timeout"),
    ("timeout/tower/timeout", ""),
    ("timeout/tower_resilience/layer", ""),
    ("stack/ours/stack4", "stack/tower_resilience/stack4"),
    ("stack/ours/resilience_stack", "stack/ours/in_stack_order"),
    ("stack/ours/in_stack_order", "stack/tower_resilience/stack4"),
    ("stack/tower_resilience/stack4", ""),
    ("stack/tower/stack3", ""),
    ("stack/mixed/tower3_ours_breaker", "stack/tower/stack3"),
];

/// Consumes a result so that the work producing it is not optimised away.
#[inline(always)]
fn sink<T>(t: T) {
    drop(black_box(t));
}

#[inline(never)]
fn run<F: FnMut()>(n: u64, mut f: F) {
    for _ in 0..n {
        f();
    }
}

fn count(case: &str, n: u64) -> Result<(), String> {
    let rt = runtime();
    let _guard = rt.enter();
    match case {
        "floor/noop" => {
            let mut s = Noop;
            run(n, || sink(black_box(call(&mut s, black_box(1)))))
        }
        "cb_closed/ours/permit" => {
            let b = ours_cb();
            run(n, || black_box(&b).try_acquire().unwrap().record_success())
        }
        "cb_closed/ours/call" => {
            let b = ours_cb();
            run(n, || {
                sink(black_box(b.call(|| Ok::<u64, ()>(black_box(1)))))
            })
        }
        "cb_closed/recloser/call" => {
            let r = recloser();
            run(n, || {
                sink(black_box(r.call(|| Ok::<u64, ()>(black_box(1)))))
            })
        }
        "cb_closed/ours/consecutive_call" => {
            let b = resilience::circuit_breaker::CircuitBreaker::new(
                resilience::circuit_breaker::CircuitBreakerConfig::new()
                    .consecutive_failures(5)
                    .open_duration(common::subjects::OPEN),
            )
            .map_err(|e| e.to_string())?;
            run(n, || {
                sink(black_box(b.call(|| Ok::<u64, ()>(black_box(1)))))
            })
        }
        "cb_closed/failsafe/consecutive_call" => {
            let f = failsafe_consecutive();
            run(n, || {
                sink(black_box(f.call(|| Ok::<u64, ()>(black_box(1)))))
            })
        }
        "cb_closed/ours/time_window_call" => {
            let b = common::subjects::ours_time_window_cb();
            run(n, || {
                sink(black_box(b.call(|| Ok::<u64, ()>(black_box(1)))))
            })
        }
        "cb_closed/ours/time_window_coarse_call" => {
            let b = common::subjects::ours_time_window_coarse_cb();
            run(n, || {
                sink(black_box(b.call(|| Ok::<u64, ()>(black_box(1)))))
            })
        }
        "cb_closed/failsafe/time_window_call" => {
            let f = common::subjects::failsafe_time_window();
            run(n, || {
                sink(black_box(f.call(|| Ok::<u64, ()>(black_box(1)))))
            })
        }
        "cb_open/failsafe/call" => {
            let f = failsafe_consecutive();
            for _ in 0..5 {
                let _ = f.call(|| Err::<(), ()>(()));
            }
            run(n, || sink(black_box(f.call(|| Ok::<u64, ()>(1)).is_err())))
        }
        "registry/ours/hot_key" => {
            let r = common::subjects::ours_registry(1_000);
            for k in 0..1_000u64 {
                r.try_acquire(&k)
                    .map_err(|e| e.to_string())?
                    .record_success();
            }
            run(n, || {
                black_box(&r)
                    .try_acquire(black_box(&500))
                    .map(|p| p.record_success())
                    .unwrap_or_default()
            })
        }
        "registry/governor/hot_key" => {
            let g = common::subjects::governor_keyed();
            for k in 0..1_000u64 {
                let _ = g.check_key(&k);
            }
            run(n, || sink(black_box(&g).check_key(black_box(&500)).is_ok()))
        }
        "registry/ours/random_1k" => {
            let r = common::subjects::ours_registry(1_000);
            for k in 0..1_000u64 {
                r.try_acquire(&k)
                    .map_err(|e| e.to_string())?
                    .record_success();
            }
            let mut x = 0x9E37_79B9_7F4A_7C15u64;
            run(n, || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                black_box(&r)
                    .try_acquire(&(x % 1_000))
                    .map(|p| p.record_success())
                    .unwrap_or_default()
            })
        }
        "registry/governor/random_1k" => {
            let g = common::subjects::governor_keyed();
            for k in 0..1_000u64 {
                let _ = g.check_key(&k);
            }
            let mut x = 0x9E37_79B9_7F4A_7C15u64;
            run(n, || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                sink(black_box(&g).check_key(&(x % 1_000)).is_ok())
            })
        }
        "retry_call/ours/async" => {
            let policy = common::subjects::ours_retry_policy();
            run(n, || {
                sink(common::block_on(policy.run(
                    &common::transient,
                    |a| std::future::ready(Ok::<u32, common::NoopError>(black_box(a))),
                    tokio::time::sleep,
                )))
            })
        }
        "retry_call/backon/async" => {
            use backon::Retryable;
            let builder = common::subjects::backon_builder();
            run(n, || {
                sink(common::block_on(
                    (|| std::future::ready(Ok::<u32, common::NoopError>(black_box(1))))
                        .retry(builder)
                        .sleep(tokio::time::sleep),
                ))
            })
        }
        "retry_call/ours/blocking" => {
            let policy = common::subjects::ours_retry_policy();
            run(n, || {
                sink(policy.run_blocking(&common::transient, |a| {
                    Ok::<u32, common::NoopError>(black_box(a))
                }))
            })
        }
        "retry_call/backon/blocking" => {
            use backon::BlockingRetryable;
            let builder = common::subjects::backon_builder();
            run(n, || {
                sink(
                    (|| Ok::<u32, common::NoopError>(black_box(1)))
                        .retry(builder)
                        .sleep(std::thread::sleep)
                        .call(),
                )
            })
        }
        "cb_layer/ours/layer" => {
            let mut s = CircuitBreakerLayer::new(ours_cb()).layer(Noop);
            run(n, || sink(black_box(call(&mut s, black_box(1)))))
        }
        "cb_layer/tower_resilience/layer" => {
            let mut s = tr_cb_layer().layer(Noop);
            run(n, || sink(black_box(call(&mut s, black_box(1)))))
        }
        "cb_layer/recloser/async" => {
            let mut s = RecloserService {
                inner: Noop,
                breaker: recloser().into(),
            };
            run(n, || sink(black_box(call(&mut s, black_box(1)))))
        }
        "cb_open/ours/core" => {
            let b = ours_cb();
            for _ in 0..WINDOW {
                b.try_acquire().map_err(|e| e.to_string())?.record_failure();
            }
            run(n, || sink(black_box(b.try_acquire().is_err())))
        }
        "cb_open/ours/layer" => {
            let b = ours_cb();
            for _ in 0..WINDOW {
                b.try_acquire().map_err(|e| e.to_string())?.record_failure();
            }
            let mut s = CircuitBreakerLayer::new(b).layer(Noop);
            run(n, || sink(black_box(call(&mut s, black_box(1)).is_err())))
        }
        "cb_open/tower_resilience/layer" => {
            let mut s = tr_cb_layer().layer(Noop);
            for _ in 0..WINDOW {
                let _ = call(&mut s, FAIL);
            }
            run(n, || sink(black_box(call(&mut s, black_box(1)).is_err())))
        }
        "cb_open/recloser/call" => {
            let r = recloser();
            for _ in 0..=WINDOW {
                let _ = r.call(|| Err::<(), ()>(()));
            }
            run(n, || sink(black_box(r.call(|| Ok::<u64, ()>(1)).is_err())))
        }
        "bh_permit/ours/core" => {
            let b = ours_bulkhead();
            run(n, || sink(black_box(black_box(&b).try_acquire())))
        }
        "bh_permit/tokio_semaphore/try_acquire" => {
            let s = Arc::new(tokio::sync::Semaphore::new(LIMIT as usize));
            run(n, || sink(black_box(black_box(&s).try_acquire())))
        }
        "retry_layer/ours/layer" => {
            let mut s =
                resilience_tower::retry::RetryLayer::new(common::subjects::ours_retry_policy())
                    .layer(Noop);
            run(n, || sink(black_box(call(&mut s, black_box(1)))))
        }
        "timeout/ours/layer" => {
            let mut s = resilience_tower::timeout::TimeoutLayer::new(TIMEOUT).layer(Noop);
            run(n, || sink(black_box(call(&mut s, black_box(1)))))
        }
        "bh_layer/ours/layer" => {
            let mut s = resilience_tower::bulkhead::BulkheadLayer::new(ours_bulkhead()).layer(Noop);
            run(n, || sink(black_box(call(&mut s, black_box(1)))))
        }
        "stack/ours/resilience_stack" => {
            let mut s = stacks::ours_resilience_stack();
            run(n, || sink(black_box(call(&mut s, black_box(1)))))
        }
        "stack/ours/in_stack_order" => {
            let mut s = stacks::ours_in_stack_order();
            run(n, || sink(black_box(call(&mut s, black_box(1)))))
        }
        "stack/ours/stack4" => {
            let mut s = stacks::ours4();
            run(n, || sink(black_box(call(&mut s, black_box(1)))))
        }
        "bh_layer/tower/concurrency_limit" => {
            let mut s = ConcurrencyLimit::new(Noop, LIMIT as usize);
            run(n, || sink(black_box(call(&mut s, black_box(1)))))
        }
        "bh_layer/tower_resilience/layer" => {
            let mut s = tr_bulkhead_layer().layer(Noop);
            run(n, || sink(black_box(call(&mut s, black_box(1)))))
        }
        "backoff/ours/sequence10" => {
            let b = Backoff::exponential(INITIAL, MAX_DELAY).map_err(|e| e.to_string())?;
            let mut rng = StdRng::seed_from_u64(7);
            run(n, || {
                let total: std::time::Duration = b.delays_with_rng(&mut rng).take(10).sum();
                black_box(total);
            })
        }
        "backoff/backon/sequence10" => {
            let builder = ExponentialBuilder::new()
                .with_min_delay(INITIAL)
                .with_max_delay(MAX_DELAY)
                .with_factor(2.0)
                .with_max_times(10);
            run(n, || {
                let total: std::time::Duration = black_box(&builder).build().take(10).sum();
                black_box(total);
            })
        }
        "retry_layer/tower/retry" => {
            let mut s = tower::retry::RetryLayer::new(TowerAttempts(ATTEMPTS)).layer(Noop);
            run(n, || sink(black_box(call(&mut s, black_box(1)))))
        }
        "retry_layer/tower/retry_equivalent" => {
            let mut s =
                tower::retry::RetryLayer::new(common::subjects::TowerEquivalent::new()).layer(Noop);
            run(n, || sink(black_box(call(&mut s, black_box(1)))))
        }
        "retry_layer/tower/retry_equivalent_shared" => {
            let mut s =
                tower::retry::RetryLayer::new(common::subjects::TowerSharedEquivalent::new())
                    .layer(Noop);
            run(n, || sink(black_box(call(&mut s, black_box(1)))))
        }
        "retry_layer/tower_resilience/layer" => {
            let mut s =
                tower_resilience::retry::RetryLayer::<u64, u64, common::NoopError>::builder()
                    .max_attempts(ATTEMPTS as usize)
                    .exponential_backoff(INITIAL)
                    .build()
                    .layer(Noop);
            run(n, || sink(black_box(call(&mut s, black_box(1)))))
        }
        "timeout/tower/timeout" => {
            let mut s = tower::timeout::TimeoutLayer::new(TIMEOUT).layer(Noop);
            run(n, || sink(black_box(call(&mut s, black_box(1)))))
        }
        "timeout/tower_resilience/layer" => {
            let mut s = tower_resilience::timelimiter::TimeLimiterLayer::builder()
                .timeout_duration(TIMEOUT)
                .build()
                .layer(Noop);
            run(n, || sink(black_box(call(&mut s, black_box(1)))))
        }
        "stack/tower_resilience/stack4" => {
            let mut s = stacks::tower_resilience4();
            run(n, || sink(black_box(call(&mut s, black_box(1)))))
        }
        "stack/tower/stack3" => {
            let mut s = stacks::tower3();
            run(n, || sink(black_box(call(&mut s, black_box(1)))))
        }
        "stack/mixed/tower3_ours_breaker" => {
            let mut s = stacks::tower3_ours_breaker();
            run(n, || sink(black_box(call(&mut s, black_box(1)))))
        }
        other => return Err(format!("unknown case {other:?}; `list` prints the cases")),
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    match args.first().map(String::as_str) {
        Some("list") => {
            for (case, peer) in CASES {
                println!("{case} {peer}");
            }
        }
        Some("count") => {
            let (Some(case), Some(n)) = (args.get(1), args.get(2)) else {
                eprintln!("usage: instructions count CASE N");
                std::process::exit(2);
            };
            let Ok(n) = n.parse::<u64>() else {
                eprintln!("N must be a whole number, got {n:?}");
                std::process::exit(2);
            };
            if let Err(e) = count(case, n) {
                eprintln!("{e}");
                std::process::exit(2);
            }
        }
        _ => println!(
            "instructions: not a criterion suite; scripts/callgrind.sh runs it (`count CASE N` or `list`)"
        ),
    }
}
