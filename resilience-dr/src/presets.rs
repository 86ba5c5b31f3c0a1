//! Ready failover and detection configs of the reference platforms, one
//! module per platform, as in `resilience_core::presets`.
//!
//! ```
//! let c = resilience_dr::presets::synthetic_data::failover();
//! assert_eq!(c.objectives.len(), 5);
//! ```
//!
//! # Outage detection windows
//!
//! The platforms disagree on how long a region must look down before a
//! failover starts: five minutes (the synthetic-data platform: "unhealthy
//! for > 5 minutes"), three minutes (the model registry's runbook: "health
//! check failures > 3 minutes") and thirty seconds (the workflow runtime:
//! "Detection: 0-30 seconds"). Each platform's module ships its own window,
//! and [`region_outage`] — the one to start from — uses **5 minutes**: a
//! region failover costs up to the RPO in lost writes and a failback, so a
//! detector should not fire on a blip that heals by itself; the longest
//! window is the one no platform's own text calls too eager, and a platform
//! with a tighter RTO picks its shorter preset knowingly. All of them
//! require two agreeing vantage points ("confirm outage from multiple
//! probes").

use std::time::Duration;

use crate::health::{HealthCheckConfig, OutageConfig};

/// The default region-outage detector: 2 vantage points agreeing for
/// **5 minutes** (see the [module docs](self) for why 5 min rather than
/// 3 min or 30 s); a report counts for 90 s.
///
/// ```
/// let c = resilience_dr::presets::region_outage();
/// assert_eq!((c.quorum, c.sustain.as_secs()), (2, 300));
/// ```
pub fn region_outage() -> OutageConfig {
    OutageConfig {
        quorum: 2,
        sustain: Duration::from_secs(300),
        max_report_age: Duration::from_secs(90),
    }
}

/// The GPU training and synthetic-data generation platform.
pub mod synthetic_data {
    use std::time::Duration;

    use crate::failover::{DataObjective, FailoverConfig};
    use crate::health::OutageConfig;

    /// "primary_region_unhealthy(duration > 5 minutes)", confirmed "from
    /// multiple probes": 2 vantage points for 5 min.
    ///
    /// ```
    /// let c = resilience_dr::presets::synthetic_data::region_outage();
    /// assert_eq!(c.sustain.as_secs(), 300);
    /// ```
    pub fn region_outage() -> OutageConfig {
        super::region_outage()
    }

    /// The platform's disaster-recovery table, per data class (RPO / RTO):
    /// trained models 1 h / 15 min, metadata 5 min / 30 min, privacy
    /// budgets 0 (synchronous) / 5 min, audit logs 1 h / 1 h, source
    /// datasets 24 h / 4 h (generated datasets are regeneratable: no
    /// objective). The run's RTO is 15 min; approval gate 10 min; DNS TTL
    /// 60 s.
    ///
    /// ```
    /// let c = resilience_dr::presets::synthetic_data::failover();
    /// assert!(c.validate().is_ok());
    /// assert!(c.objective("privacy_budgets").unwrap().requires_synchronous());
    /// ```
    pub fn failover() -> FailoverConfig {
        let h = |n: u64| Duration::from_secs(n.saturating_mul(3600));
        FailoverConfig {
            primary: "us-east-1".into(),
            secondary: "us-west-2".into(),
            objectives: vec![
                DataObjective::new("trained_models", h(1)).rto(Duration::from_secs(900)),
                DataObjective::new("metadata", Duration::from_secs(300))
                    .rto(Duration::from_secs(1800)),
                DataObjective::new("privacy_budgets", Duration::ZERO).rto(Duration::from_secs(300)),
                DataObjective::new("audit_logs", h(1)).rto(h(1)),
                DataObjective::new("source_datasets", h(24)).rto(h(4)),
            ],
            ..Default::default()
        }
    }
}

/// The ML model registry platform.
pub mod model_registry {
    use std::time::Duration;

    use super::{HealthCheckConfig, OutageConfig};
    use crate::failover::{DataObjective, FailoverConfig, ReconcileConfig};

    /// The registry's disaster-recovery runbook: detection after 3 minutes
    /// of failed health checks (see [`region_outage`]), failover only when
    /// the replication lag is under the 5-minute RPO (checked before the DR
    /// database is promoted), RTO 1 hour, a manual approval gate, and the
    /// post-failover validation: zero models in the DR database is a
    /// critical failure (`required_counts: [models]`); the graph and the
    /// registry agree within 1 %; ground-truth consumer lag under 1 hour.
    ///
    /// ```
    /// let c = resilience_dr::presets::model_registry::failover();
    /// assert!(c.validate().is_ok());
    /// assert_eq!(c.objective("registry_db").unwrap().rpo.as_secs(), 300);
    /// assert_eq!(c.reconcile.required_counts, ["models"]);
    /// ```
    pub fn failover() -> FailoverConfig {
        FailoverConfig {
            primary: "us-east-1".into(),
            secondary: "us-west-2".into(),
            rto: Duration::from_secs(3600),
            objectives: vec![DataObjective::new("registry_db", Duration::from_secs(300))],
            reconcile: ReconcileConfig {
                required_counts: vec!["models".into()],
                ..ReconcileConfig::default()
            },
            ..FailoverConfig::default()
        }
    }

    /// The registry service's health check: `/health` every 10 s,
    /// unhealthy (removed from the load balancer) after 3 consecutive
    /// failures; a probe times out after 5 s (the platform gives no probe
    /// timeout: half the interval, so probes never overlap); one passed
    /// probe brings a member back.
    ///
    /// ```
    /// let c = resilience_dr::presets::model_registry::registry_health_check();
    /// assert_eq!((c.path.as_str(), c.interval.as_secs(), c.unhealthy_threshold), ("/health", 10, 3));
    /// ```
    pub fn registry_health_check() -> HealthCheckConfig {
        HealthCheckConfig {
            path: "/health".into(),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            unhealthy_threshold: 3,
            healthy_threshold: 1,
        }
    }

    /// The runbook's detection: "health check failures > 3 minutes" — 2
    /// vantage points agreeing for 3 min.
    ///
    /// ```
    /// let c = resilience_dr::presets::model_registry::region_outage();
    /// assert_eq!(c.sustain.as_secs(), 180);
    /// ```
    pub fn region_outage() -> OutageConfig {
        OutageConfig {
            sustain: Duration::from_secs(180),
            ..super::region_outage()
        }
    }
}

/// The workflow runtime.
pub mod workflow_runtime {
    use std::time::Duration;

    use super::OutageConfig;

    /// "Phase 1: Detection (0-30 seconds) — health checks fail for primary
    /// region, multiple monitoring systems confirm": 2 vantage points for
    /// 30 s. A report counts for 30 s too: with a window this short, an
    /// older vote would outlive the window it votes in.
    ///
    /// ```
    /// let c = resilience_dr::presets::workflow_runtime::region_outage();
    /// assert_eq!((c.sustain.as_secs(), c.max_report_age.as_secs()), (30, 30));
    /// ```
    pub fn region_outage() -> OutageConfig {
        OutageConfig {
            quorum: 2,
            sustain: Duration::from_secs(30),
            max_report_age: Duration::from_secs(30),
        }
    }
}
