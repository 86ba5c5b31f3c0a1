//! The lease-backend contract (`common::lease_backend_contract`) on the
//! in-memory backend; `lease_etcd.rs` and `lease_postgres.rs` run the same
//! contract against the real servers.

mod common;

use std::time::Duration;

use resilience_core::clock::TokioClock;
use resilience_dr::lease::{LeaseBackend, MemoryLeaseBackend};

#[tokio::test(start_paused = true)]
async fn backend_contract_in_memory() {
    let b = MemoryLeaseBackend::with_clock(TokioClock);
    common::lease_backend_contract(
        &b,
        "contract",
        Duration::from_secs(2),
        true,
        Duration::from_secs(3),
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn backend_contract_through_a_trait_object() {
    let b: std::sync::Arc<dyn LeaseBackend> =
        std::sync::Arc::new(MemoryLeaseBackend::with_clock(TokioClock));
    common::lease_backend_contract(
        &*b,
        "contract",
        Duration::from_millis(1500),
        true,
        Duration::from_secs(2),
    )
    .await;
}
