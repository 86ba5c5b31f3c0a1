//! Helpers shared by resilience-scaling's integration tests.
#![allow(dead_code, unreachable_pub)] // each test crate uses a subset

use std::time::Duration;

/// `n` seconds.
pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Cases per fuzz target: `RESILIENCE_FUZZ_CASES`, default 256 (a few
/// seconds per crate in the test command).
pub fn fuzz_cases() -> u32 {
    std::env::var("RESILIENCE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}
