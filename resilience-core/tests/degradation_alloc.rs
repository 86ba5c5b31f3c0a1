//! The degradation hot path (feature checks) allocates nothing.

mod common;

use std::hint::black_box;

use resilience_core::degradation::{ComponentHealth, DegradationManager};

#[test]
fn feature_checks_allocate_nothing() {
    common::assert_counting_allocator_active();

    let m =
        DegradationManager::new(resilience_core::presets::data_platform::degradation().unwrap())
            .unwrap();
    let mapping = m.feature("schema_mapping").unwrap();
    m.report_by_name("llm_service", ComponentHealth::Down)
        .unwrap();
    let info = allocation_counter::measure(|| {
        for _ in 0..10_000 {
            black_box(m.is_enabled(black_box(mapping)));
            black_box(m.mode(black_box(mapping)));
            black_box(m.severity());
            black_box(m.is_enabled_by_name(black_box("self_healing")));
        }
    });
    assert_eq!(info.count_total, 0);
    assert_eq!(m.mode(mapping), Some("embedding_only"));
}
