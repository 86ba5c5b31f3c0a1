//! Health monitoring: heartbeats, probes, quorum-confirmed outages and
//! recovery actions.
//!
//! Four pieces, usable alone or together:
//!
//! | piece | question it answers | default numbers |
//! |---|---|---|
//! | [`HeartbeatMonitor`] | which members went quiet? | interval 10 s, timeout 30 s, unhealthy after 3 misses |
//! | [`HealthChecker`] | which members fail their `/health` probe? | every 10 s, unhealthy after 3 consecutive failed probes |
//! | [`ProbeSet`] | is this member alive (restart it?) and ready (route to it?) | per-probe timeout |
//! | [`OutageDetector`] | do enough independent vantage points agree, for long enough, to fail over? | K of N, sustained 5 min |
//! | [`RecoveryPolicy`] | what do we do about this kind of failure? | timeout / GPU error / OOM / corruption table |
//!
//! A typical GPU worker fleet wires them like this: heartbeats detect a
//! silent worker, its probes tell whether to restart it or only stop routing,
//! the recovery policy runs the host's actions for the failure type, and the
//! [`recovery`](crate::recovery) module requeues its in-flight requests. For
//! a whole region, several [`ProbeSet`]s in different zones feed an
//! [`OutageDetector`], whose confirmation starts the
//! [`failover`](crate::failover) orchestrator.
//!
//! ```
//! use std::time::Duration;
//! use resilience_core::clock::ManualClock;
//! use resilience_dr::health::{HeartbeatConfig, HeartbeatMonitor, HealthState};
//!
//! let clock = ManualClock::new();
//! let hb = HeartbeatMonitor::with_clock(HeartbeatConfig::default(), clock.clone()).unwrap();
//! hb.register("worker-1");
//! clock.advance(Duration::from_secs(30));
//! let changes = hb.check();
//! assert_eq!(changes[0].to, HealthState::Unhealthy);
//! ```
//!
//! # Metrics
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `resilience_heartbeat_members` | gauge | `state` | members per health state at the last `check` |
//! | `resilience_heartbeat_transitions_total` | counter | `to` | health transitions published |
//! | `resilience_health_check_transitions_total` | counter | `to` | health-check transitions published |
//! | `resilience_probe_failures_total` | counter | `probe`, `kind` | probes that failed or timed out |
//! | `resilience_outage_transitions_total` | counter | `to` (`suspected`, `confirmed`, `cleared`) | outage detector transitions |
//! | `resilience_outage_confirmation_seconds` | histogram | | how long the quorum had held when the outage was confirmed |
//! | `resilience_recovery_actions_total` | counter | `failure`, `result`, `escalated` | recovery plans run |
//! | `resilience_recovery_actions_unhandled_total` | counter | `failure` | failures with no plan and no fallback |

mod actions;
mod check;
mod heartbeat;
mod outage;
mod probe;
mod readiness;

pub use actions::{
    ActionContext, ActionReport, FailureKind, Persistence, Plan, RecoveryPolicy,
    RecoveryPolicyBuilder, StepOutcome,
};
pub use check::{CheckStatus, HealthCheckConfig, HealthCheckEvent, HealthChecker};
pub use heartbeat::{HealthState, HeartbeatConfig, HeartbeatEvent, HeartbeatMonitor, MemberStatus};
pub use outage::{OutageConfig, OutageDetector, OutageEvent, OutageStatus, UnknownVantage};
pub use probe::{HealthReport, ProbeKind, ProbeResult, ProbeSet, ProbeStatus, Verdict};
pub use readiness::HeartbeatReadiness;
