//! Costs of the resilience-dr primitives on their busy paths.
//!
//! `cargo bench -p resilience-dr`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use resilience_core::clock::ManualClock;
use resilience_dr::failover::{FailoverActions, FailoverConfig, Orchestrator, Trigger};
use resilience_dr::health::{HeartbeatConfig, HeartbeatMonitor, OutageConfig, OutageDetector};
use resilience_dr::recovery::{InFlightTracker, RecoveryConfig};
use resilience_dr::FailureKind;

fn heartbeat(c: &mut Criterion) {
    let clock = ManualClock::new();
    let m = HeartbeatMonitor::with_clock(HeartbeatConfig::default(), clock.clone()).unwrap();
    for i in 0..10_000u32 {
        m.register(i);
    }
    c.bench_function("heartbeat/record (10k members)", |b| {
        let mut i = 0u32;
        b.iter(|| {
            i = (i + 1) % 10_000;
            black_box(m.heartbeat(&i));
        })
    });
    c.bench_function("heartbeat/check (10k members)", |b| {
        b.iter(|| {
            clock.advance(Duration::from_millis(1));
            black_box(m.check().len())
        })
    });
}

fn outage(c: &mut Criterion) {
    let clock = ManualClock::new();
    let d = OutageDetector::with_clock(OutageConfig::default(), 0..5u8, clock.clone()).unwrap();
    c.bench_function("outage/report (5 vantage points)", |b| {
        let mut v = 0u8;
        b.iter(|| {
            v = (v + 1) % 5;
            clock.advance(Duration::from_millis(10));
            black_box(d.report(&v, v % 2 == 0).unwrap())
        })
    });
}

fn recovery(c: &mut Criterion) {
    c.bench_function("recovery/fail_worker (100 of 10k requests)", |b| {
        b.iter_batched_ref(
            || {
                let t = InFlightTracker::with_clock(RecoveryConfig::default(), ManualClock::new())
                    .unwrap();
                for id in 0..10_000u32 {
                    t.submit(id, 0).unwrap();
                    t.assign(&id, id % 100).unwrap();
                    if id % 2 == 0 {
                        t.start(&id).unwrap();
                    }
                }
                t
            },
            |t| black_box(t.fail_worker(&7, FailureKind::OutOfMemory).outcomes.len()),
            BatchSize::LargeInput,
        )
    });
}

fn failover(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let cfg = FailoverConfig {
        require_approval: false,
        propagation_wait: Duration::ZERO,
        anti_flap_window: Duration::ZERO,
        ..Default::default()
    };
    let o = Orchestrator::new(
        cfg,
        FailoverActions::new(
            |_| async { Ok::<(), &str>(()) },
            |_| async { Ok::<(), &str>(()) },
        )
        .prepare("a", |_| async { Ok::<(), &str>(()) })
        .prepare("b", |_| async { Ok::<(), &str>(()) })
        .verify(|_| async { Ok::<(), &str>(()) }),
    )
    .unwrap();
    c.bench_function("failover/run all phases (no-op actions)", |b| {
        b.iter(|| {
            rt.block_on(async {
                let r = o.failover(Trigger::new("bench")).await.unwrap();
                black_box(r.timeline.len());
                o.restore("primary", None).unwrap();
            })
        })
    });
}

criterion_group!(benches, heartbeat, outage, recovery, failover);
criterion_main!(benches);
