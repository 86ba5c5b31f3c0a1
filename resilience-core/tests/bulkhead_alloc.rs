//! The uncontended bulkhead path allocates nothing: acquire + release of a
//! free permit, borrowed or owned, alone or under a shared cap.
//!
//! `allocation-counter` installs a counting global allocator for this test
//! binary and counts per thread, so the harness's own threads do not
//! disturb the figure.

mod common;

use std::hint::black_box;

use resilience_core::bulkhead::{Bulkhead, BulkheadConfig, BulkheadSet, SharedCapConfig};

#[test]
fn counting_allocator_is_active() {
    common::assert_counting_allocator_active();
}

#[test]
fn uncontended_acquire_release_allocates_nothing() {
    let b = Bulkhead::new("alloc", BulkheadConfig::new(4)).unwrap();
    let mut config = resilience_core::presets::model_registry::bulkheads();
    config.shared_cap = Some(SharedCapConfig::new(100));
    let set = BulkheadSet::new(config).unwrap();
    let api = set.get("api").unwrap();

    // Warm up (lazy statics, listener list) outside the measurement.
    drop(b.try_acquire());
    drop(api.try_acquire());

    let info = allocation_counter::measure(|| {
        for _ in 0..10_000 {
            let p = black_box(b.try_acquire().unwrap());
            drop(p);
            let p = black_box(b.try_acquire_owned().unwrap());
            drop(p);
            let p = black_box(api.try_acquire().unwrap());
            drop(p);
            let p = black_box(b.start_acquire_owned(resilience_core::bulkhead::NoTimer));
            drop(p);
            // Several held at once, released in a different order.
            let x = b.try_acquire().unwrap();
            let y = b.try_acquire().unwrap();
            drop(x);
            drop(y);
        }
    });
    assert_eq!(info.count_total, 0, "the hot path must not allocate");
    assert_eq!(b.in_flight(), 0);
}

#[test]
fn fail_fast_rejection_allocates_nothing() {
    let b = Bulkhead::new("alloc", BulkheadConfig::new(1)).unwrap();
    let _held = b.try_acquire().unwrap();
    drop(b.try_acquire());
    let info = allocation_counter::measure(|| {
        for _ in 0..1000 {
            assert!(black_box(b.try_acquire()).is_err());
        }
    });
    assert_eq!(info.count_total, 0, "rejecting must not allocate either");
}
