//! Phased failover and failback orchestration.
//!
//! Services fail over regions, databases and schedulers with the same
//! runbook: confirm the outage from several probes, check how much data a
//! switch would lose, prepare (promote) the standby, ask a human, move traffic, check
//! the result, fence the old primary so it cannot take writes, and reconcile.
//! [`Orchestrator`] is that runbook as an explicit state machine whose every
//! step is the host's own async action (see [`FailoverActions`]) run under a
//! timeout and a retry policy.
//!
//! | phase | host action | rule |
//! |---|---|---|
//! | [`Detect`](Phase::Detect) | `detect` → `bool` | `false` aborts (false positive) |
//! | [`Guard`](Phase::Guard) | `guard` → [`ReplicationStatus`] | **before promotion**; per data type: RPO 0 needs synchronous replication; lag > RPO is a breach (refused by default, or held up to `rpo_hold` for the lag to come back under the RPO); lag > acceptable lag alerts |
//! | [`Prepare`](Phase::Prepare) | `prepare(name, ..)`, any number, **in parallel** (promote the standby, scale compute) | any failure aborts |
//! | [`Approve`](Phase::Approve) | `approve` → [`Approval`] (or an [`ApprovalGate`]) | reject or no answer within 10 min = not approved: stay, alert |
//! | [`Switch`](Phase::Switch) | `switch` (gets the DNS TTL, 60 s) | then waits `propagation_wait` (2 min) |
//! | [`Verify`](Phase::Verify) | `verify` | failure: critical alert, stop (no fencing) |
//! | [`Fence`](Phase::Fence) | `fence` (the old primary is `ctx.from`) | failure: critical alert (split-brain risk) |
//! | [`Communicate`](Phase::Communicate) | a [`Communication`] hook: status page, stakeholders, users, each with a [`Notice`] | failure: warning alert, the run goes on |
//! | [`Reconcile`](Phase::Reconcile) | `reconcile` → [`Reconciliation`] | a count that is **zero** on the new primary while the old one had data ("no models in DR database") is a critical failure; counts within 1 %, consumer lag normal, else "completed, not reconciled" |
//!
//! [`Orchestrator::rollback`] undoes a failover during its validation ("on-call
//! confirms or rolls back"): within `rollback_window` (15 min) of the switch,
//! behind the approval gate, without waiting for the anti-flap window. The
//! report's [`RtoRpoReport::classes`] gives each data class's RPO and RTO
//! against what the run achieved.
//!
//! Failback is the same machine with `from`/`to` swapped and the approval
//! gate mandatory (manual validation before traffic returns home). Each run
//! returns a [`FailoverReport`]: outcome, per-phase records, a time-stamped
//! timeline of [`FailoverEvent`]s (also published to listeners as they
//! happen), the guard's findings and the RTO/RPO accounting.
//!
//! All waiting uses tokio's timer and timestamps come from [`TokioClock`],
//! so a whole failover with its 10-minute gate and 2-minute propagation wait
//! runs instantly under `tokio::time::pause()`.
//!
//! ```
//! use std::time::Duration;
//! use resilience_dr::failover::*;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! tokio::time::pause();
//! let actions = FailoverActions::new(
//!         |_| async { Ok::<(), &str>(()) },                      // switch DNS
//!         |_| async { Ok::<(), &str>(()) },                      // fence old primary
//!     )
//!     .guard(|_| async {
//!         Ok::<_, &str>(ReplicationStatus::from(vec![DataLag::asynchronous("privacy_budgets", Duration::from_secs(1))]))
//!     })
//!     .approve(|_| async { Ok::<_, &str>(Approval::approved("oncall")) });
//! let config = FailoverConfig {
//!     objectives: vec![DataObjective::new("privacy_budgets", Duration::ZERO)],
//!     ..Default::default()
//! };
//! let o = Orchestrator::new(config, actions).unwrap();
//! let report = o.failover(Trigger::new("probe quorum")).await.unwrap();
//! // RPO 0 with asynchronous replication: refused before anything moved.
//! assert!(matches!(report.outcome, FailoverOutcome::Aborted { phase: Phase::Guard, .. }));
//! assert_eq!(o.active_site(), "primary");
//! # }
//! ```
//!
//! # Metrics
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `resilience_failover_started_total` | counter | `direction` | runs started |
//! | `resilience_failover_refused_total` | counter | `direction`, `reason` | runs refused (`already_running`, `anti_flap`, `wrong_site`, `no_approval_gate`, `rollback_window_closed`) |
//! | `resilience_failover_runs_total` | counter | `direction`, `outcome` | runs finished, by [`FailoverOutcome::as_str`] |
//! | `resilience_failover_phase_seconds` | histogram | `phase` | time per phase, retries included |
//! | `resilience_failover_attempt_failures_total` | counter | `phase` | failed or timed-out action attempts |
//! | `resilience_failover_alerts_total` | counter | `severity` | alerts raised |
//! | `resilience_failover_data_loss_seconds` | gauge | `data_type` | data-loss window at the last guard (NaN when unknown) |
//! | `resilience_failover_recovery_seconds` | histogram | `direction` | outage (or run) start to verified service: the achieved RTO |
//! | `resilience_failover_paused` | gauge | | 1 while an operator pause is requested |

mod actions;
mod config;
mod orchestrator;
#[cfg(feature = "postgres")]
pub mod postgres;
mod report;
mod retry;

pub use actions::{
    Approval, ApprovalGate, Communication, CountCheck, DataLag, FailoverActions, Notice,
    Reconciliation, ReplicationStatus, StepContext,
};
pub use config::{DataObjective, FailoverConfig, ReconcileConfig, StepPolicies, StepPolicy};
pub use orchestrator::{FailoverError, Orchestrator, Trigger};
pub use report::{
    ClassRecovery, DataLoss, Direction, FailoverEvent, FailoverOutcome, FailoverReport,
    GuardFinding, GuardReport, LagVerdict, Phase, PhaseRecord, RtoRpoReport, Severity,
    TimelineEntry,
};
#[allow(deprecated)]
pub use retry::Backoff;
pub use retry::StepBackoff;

#[allow(unused_imports)] // linked from the docs above
use resilience_core::clock::TokioClock;
