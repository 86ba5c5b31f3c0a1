//! Backoff delay computation and the retry decision engine.
//!
//! `cargo bench -p resilience-core --bench backoff`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use rand::rngs::StdRng;
use rand::SeedableRng;
use resilience_core::clock::{Clock, ManualClock};
use resilience_core::retry::{
    Backoff, BackoffKind, ErrorClass, Jitter, RatioBudget, RatioBudgetConfig, RetryBudget,
    RetryPolicy, TokenBucketBudget, TokenBucketConfig,
};

fn exponential() -> Backoff {
    Backoff::exponential(Duration::from_millis(100), Duration::from_secs(10)).expect("valid")
}

fn delays(c: &mut Criterion) {
    let mut g = c.benchmark_group("backoff/delay");
    let exp = exponential();
    g.bench_function("exponential_single", |b| {
        let mut n = 0u32;
        b.iter(|| {
            n = n.wrapping_add(1) & 15;
            black_box(exp.delay(black_box(n)))
        })
    });
    let linear = Backoff::linear(Duration::from_secs(5), Duration::from_secs(30)).expect("valid");
    g.bench_function("linear_single", |b| {
        let mut n = 0u32;
        b.iter(|| {
            n = n.wrapping_add(1) & 15;
            black_box(linear.delay(black_box(n)))
        })
    });
    let custom = Backoff::builder(BackoffKind::custom(|n| {
        Duration::from_millis(u64::from(n) * 7)
    }))
    .max(Duration::from_secs(1))
    .build()
    .expect("valid");
    g.bench_function("custom_single", |b| {
        let mut n = 0u32;
        b.iter(|| {
            n = n.wrapping_add(1) & 15;
            black_box(custom.delay(black_box(n)))
        })
    });
    g.finish();

    let mut g = c.benchmark_group("backoff/sequence_of_10");
    for jitter in [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::proportional(0.1).expect("valid"),
        Jitter::Decorrelated,
    ] {
        let b = exponential().with_jitter(jitter);
        let mut rng = StdRng::seed_from_u64(7);
        g.bench_function(jitter.name(), |bench| {
            bench.iter(|| {
                let total: Duration = b.delays_with_rng(&mut rng).take(10).sum();
                black_box(total)
            })
        });
    }
    g.finish();
}

fn decisions(c: &mut Criterion) {
    let clock = ManualClock::new();
    let mut g = c.benchmark_group("retry/decision");
    let policy = RetryPolicy::builder(exponential().with_jitter(Jitter::Full))
        .max_attempts(4)
        .clock(clock.clone())
        .build()
        .expect("valid");
    let mut rng = StdRng::seed_from_u64(1);
    g.bench_function("start_fail3_no_budget", |b| {
        b.iter(|| {
            let now = clock.now();
            let mut s = policy.start(now);
            for _ in 0..3 {
                black_box(policy.next_with_rng(
                    &mut s,
                    now,
                    ErrorClass::Transient.into(),
                    &mut rng,
                ));
            }
            black_box(policy.next_with_rng(&mut s, now, ErrorClass::Transient.into(), &mut rng))
        })
    });
    g.bench_function("start_success", |b| {
        b.iter(|| {
            let s = policy.start(clock.now());
            policy.record_success(black_box(&s));
        })
    });
    g.finish();

    let mut g = c.benchmark_group("retry/budget");
    let bucket = TokenBucketBudget::new(TokenBucketConfig::default()).expect("valid");
    g.bench_function("token_bucket_withdraw_refund", |b| {
        b.iter(|| {
            let w = bucket.try_withdraw(black_box(ErrorClass::Transient));
            bucket.record_success(w);
        })
    });
    let ratio =
        RatioBudget::with_clock(RatioBudgetConfig::default(), clock.clone()).expect("valid");
    g.bench_function("ratio_request_withdraw", |b| {
        b.iter(|| {
            ratio.record_request();
            for _ in 0..4 {
                ratio.record_request();
            }
            black_box(ratio.try_withdraw(black_box(ErrorClass::Transient)))
        })
    });
    g.finish();
}

criterion_group!(benches, delays, decisions);
criterion_main!(benches);
