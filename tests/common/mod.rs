//! Helpers shared by the facade package's integration tests.
#![allow(dead_code, unreachable_pub)] // each test crate uses a subset

/// Calls of `f` per [`assert_no_alloc`] measurement.
pub const CALLS: usize = 10_000;

/// Guards against a vacuous zero: the counting allocator of this test
/// binary must see a real allocation.
pub fn assert_counting_allocator_active() {
    let info = allocation_counter::measure(|| {
        std::hint::black_box(Box::new(7u64));
    });
    assert_eq!(info.count_total, 1, "the counting allocator must be active");
}

/// Runs `f` once (lazily initialised state may allocate then), then
/// [`CALLS`] times under the counting allocator: any allocation fails.
pub fn assert_no_alloc(what: &str, mut f: impl FnMut()) {
    assert_counting_allocator_active();
    f();
    let info = allocation_counter::measure(|| {
        for _ in 0..CALLS {
            f();
        }
    });
    assert_eq!(
        info.count_total, 0,
        "{what}: {} allocations ({} bytes) in {CALLS} calls",
        info.count_total, info.bytes_total
    );
}
