//! # resilience-dr
//!
//! Failover primitives: detect an outage for real, move traffic in gated
//! phases, fence the old primary, and recover the work that was in flight.
//!
//! | module | what it gives you |
//! |---|---|
//! | [`health`] | heartbeat monitor (10 s / 30 s / 3 misses), health checks counting failed probes (`/health` every 10 s, unhealthy after 3), liveness vs readiness probes, K-of-N outage confirmation, recovery actions keyed by failure type |
//! | [`failover`] | the phased failover/failback orchestrator: detect → guard (lag vs RPO, before promotion) → prepare (promote) → approve → switch → verify → fence → communicate → reconcile, with a timeline, RTO/RPO accounting per data class, and rollback during validation |
//! | [`recovery`] | reassigning a failed worker's in-flight requests: requeue, retry with backoff, or fail with a message, never lose one |
//! | [`lease`] | lease backends (in-memory; etcd and PostgreSQL behind features) with fencing tokens, leader election, fenced resources |
//!
//! ## How the pieces fit
//!
//! 1. [`health::HeartbeatMonitor`], [`health::HealthChecker`] and
//!    [`health::ProbeSet`] watch members;
//!    [`health::RecoveryPolicy`] runs the host's actions for a member's
//!    failure, and [`recovery::InFlightTracker`] requeues or retries its
//!    requests.
//! 2. For a whole site, probes in several zones feed a
//!    [`health::OutageDetector`]; once it confirms an outage, the host starts
//!    [`failover::Orchestrator::failover`], whose steps are the host's own
//!    async actions (promote the standby, update DNS, set the old primary
//!    read-only, ...).
//! 3. For one active instance among several (a scheduler, a primary), a
//!    [`lease::LeaderElector`] campaigns for a named lease on a
//!    [`lease::LeaseBackend`] (in-memory, etcd or PostgreSQL) and hands the
//!    host a fencing token with each tenure; the protected resource checks
//!    it with a [`lease::FencedResource`], so a deposed leader that has not
//!    noticed yet can never write. The orchestrator's *fence* phase is where
//!    the old primary is set read-only.
//!
//! ```
//! use std::time::Duration;
//! use resilience_dr::failover::{FailoverActions, FailoverConfig, FailoverOutcome, Orchestrator, Trigger};
//! use resilience_dr::health::{OutageConfig, OutageDetector, OutageStatus};
//! use resilience_core::clock::TokioClock;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let cfg = OutageConfig { quorum: 2, sustain: Duration::from_secs(300), ..Default::default() };
//! let outage = OutageDetector::with_clock(cfg, ["zone-a", "zone-b", "zone-c"], TokioClock).unwrap();
//! let failover = Orchestrator::new(
//!     FailoverConfig { require_approval: false, ..Default::default() }, // production: keep the gate
//!     FailoverActions::new(
//!         |ctx| async move { println!("route traffic to {}", ctx.to); Ok::<(), &str>(()) },
//!         |ctx| async move { println!("fence {}", ctx.from); Ok::<(), &str>(()) },
//!     ),
//! )
//! .unwrap();
//!
//! loop {
//!     // each zone's probe reports what it sees of the primary
//!     outage.report(&"zone-a", false).unwrap();
//!     outage.report(&"zone-b", false).unwrap();
//!     outage.report(&"zone-c", true).unwrap();
//!     if let OutageStatus::Confirmed { since, .. } = outage.status() {
//!         let report = failover.failover(Trigger::new("2 of 3 zones").outage_began(since)).await.unwrap();
//!         assert_eq!(report.outcome, FailoverOutcome::Completed);
//!         assert_eq!(report.objectives.detection_time, Some(Duration::from_secs(300)));
//!         break;
//!     }
//!     tokio::time::sleep(Duration::from_secs(30)).await;
//! }
//! # }
//! ```
//!
//! ## Clocks and testing
//!
//! All time-driven parts read a [`Clock`](resilience_core::clock::Clock).
//! The async parts default to [`TokioClock`](resilience_core::clock::TokioClock), so tests run under
//! `tokio::time::pause()` without waiting on the wall clock (the example above
//! waits five virtual minutes for the outage to be confirmed and runs in
//! milliseconds); the synchronous monitors also take a
//! [`ManualClock`](resilience_core::clock::ManualClock). The etcd and
//! PostgreSQL backends are tested against real servers started by the
//! repository's `scripts/test.sh`.
//!
//! ## Configuration, events and metrics
//!
//! Every config ([`health::HeartbeatConfig`], [`health::OutageConfig`],
//! [`lease::ElectorConfig`], [`failover::FailoverConfig`],
//! [`recovery::RecoveryConfig`], ...) is serde data with human durations,
//! validated into a [`ConfigError`](resilience_core::config::ConfigError)
//! naming the field; the elector refuses timings that break Patroni's rule
//! (renew interval + 2 × retry timeout < ttl) before it campaigns. Each piece
//! publishes typed events to its listeners (health transitions, elections and
//! demotions, every failover timeline entry) and reports through the `metrics`
//! facade under `resilience_heartbeat_*`, `resilience_outage_*`,
//! `resilience_probe_*`, `resilience_lease_*`, `resilience_failover_*` and
//! `resilience_recovery_*`; each module's docs have its table.
//!
//! ## Features
//!
//! | feature | enables |
//! |---|---|
//! | `etcd` | `lease::etcd`: the etcd lease backend (etcd leases + transactions) |
//! | `postgres` | `lease::postgres` (a lease table) and `failover::postgres`: SQL helpers for failing over a streaming-replication pair (promote, lag, fence) |
//! | `tracing` | `tracing` events for health transitions, recoveries and every failover timeline entry |
#![forbid(unsafe_code)]
// Every integer and duration operation on configuration or input is
// checked, saturating or argued bounded (see `arith`); the lint keeps it
// that way. Test code is exempt.
#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod arith;
pub mod failover;
pub mod health;
pub mod lease;
pub mod presets;
pub mod recovery;

pub use health::FailureKind;

/// The error type host actions may return: any error, boxed.
///
/// ```
/// use resilience_dr::BoxError;
/// let e: BoxError = "standby unreachable".into();
/// assert_eq!(e.to_string(), "standby unreachable");
/// ```
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Moved: name [`resilience_core::clock::TokioClock`], the one `TokioClock`
/// of the suite (the async parts of this crate default to it).
#[deprecated(since = "0.1.1", note = "use `resilience_core::clock::TokioClock`")]
#[doc(hidden)]
pub type TokioClock = resilience_core::clock::TokioClock;

/// Moved: name [`resilience_core::clock::TokioClock`] (the value of the
/// deprecated `resilience_dr::TokioClock` alias).
#[deprecated(since = "0.1.1", note = "use `resilience_core::clock::TokioClock`")]
#[doc(hidden)]
#[allow(non_upper_case_globals)]
pub const TokioClock: resilience_core::clock::TokioClock = resilience_core::clock::TokioClock;

// The README's code blocks, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
