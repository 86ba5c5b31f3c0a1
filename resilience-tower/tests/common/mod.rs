//! Helpers shared by resilience-tower's integration tests.
#![allow(dead_code, unreachable_pub)] // each test crate uses a subset

use tower::{BoxError, Service, ServiceExt};

/// Drives `svc` ready and calls it once.
pub async fn call<S, Req>(svc: &mut S, req: Req) -> Result<S::Response, BoxError>
where
    S: Service<Req, Error = BoxError>,
{
    svc.ready().await?.call(req).await
}

/// Guards against a vacuous zero: the counting allocator of this test
/// binary must see a real allocation.
pub fn assert_counting_allocator_active() {
    let info = allocation_counter::measure(|| {
        std::hint::black_box(Box::new(7u64));
    });
    assert_eq!(info.count_total, 1, "the counting allocator must be active");
}

/// Cases per fuzz target: `RESILIENCE_FUZZ_CASES`, default 256 (a few
/// seconds per crate in the test command).
pub fn fuzz_cases() -> u32 {
    std::env::var("RESILIENCE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}
