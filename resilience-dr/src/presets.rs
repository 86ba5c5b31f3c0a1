//! Ready failover configs of the reference platforms, one module per
//! platform, as in `resilience_core::presets`.
//!
//! ```
//! let c = resilience_dr::presets::synthetic_data::failover();
//! assert_eq!(c.objectives.len(), 5);
//! ```

/// The GPU training and synthetic-data generation platform.
pub mod synthetic_data {
    use std::time::Duration;

    use crate::failover::{DataObjective, FailoverConfig};

    /// The platform's disaster-recovery table: trained models RPO 1 h,
    /// metadata 5 min, privacy budgets 0 (synchronous), audit logs 1 h,
    /// source datasets 24 h; RTO 15 min; approval gate 10 min; DNS TTL 60 s.
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
                DataObjective::new("trained_models", h(1)),
                DataObjective::new("metadata", Duration::from_secs(300)),
                DataObjective::new("privacy_budgets", Duration::ZERO),
                DataObjective::new("audit_logs", h(1)),
                DataObjective::new("source_datasets", h(24)),
            ],
            ..Default::default()
        }
    }
}
