//! The heartbeat monitor as a readiness check.

use std::fmt;

use resilience_core::readiness::{Readiness, ReadinessCheck};

use super::heartbeat::HeartbeatMonitor;

/// The workers a [`HeartbeatMonitor`] watches, as a
/// [`ReadinessCheck`](resilience_core::readiness::ReadinessCheck): not ready
/// when fewer than `min_routable` members are routable (healthy or
/// suspect), degraded while any member is not healthy, ready otherwise.
/// Made by [`HeartbeatMonitor::readiness`].
///
/// ```
/// use std::time::Duration;
/// use resilience_core::clock::ManualClock;
/// use resilience_core::readiness::{ReadinessChecks, ReadinessState};
/// use resilience_dr::health::{HeartbeatConfig, HeartbeatMonitor};
///
/// let clock = ManualClock::new();
/// let workers = HeartbeatMonitor::with_clock(HeartbeatConfig::default(), clock.clone()).unwrap();
/// workers.register("w1");
/// workers.register("w2");
/// let checks = ReadinessChecks::new().check(workers.readiness("gpu_workers", 1));
/// assert_eq!(checks.report().state, ReadinessState::Ready);
///
/// // w1 keeps beating, w2 falls silent past the timeout: one routable
/// // worker is enough to serve, with less.
/// clock.advance(Duration::from_secs(31));
/// workers.heartbeat(&"w1");
/// let report = checks.report();
/// assert_eq!(report.state, ReadinessState::Degraded);
/// assert_eq!(report.checks[0].reason.as_deref(), Some("1 of 2 members healthy; unhealthy: \"w2\""));
///
/// // Both silent: nobody to route to.
/// clock.advance(Duration::from_secs(31));
/// assert_eq!(checks.report().state, ReadinessState::NotReady);
/// ```
pub struct HeartbeatReadiness<K> {
    name: String,
    monitor: HeartbeatMonitor<K>,
    min_routable: usize,
}

impl<K> fmt::Debug for HeartbeatReadiness<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeartbeatReadiness")
            .field("name", &self.name)
            .field("min_routable", &self.min_routable)
            .finish_non_exhaustive()
    }
}

impl<K> HeartbeatMonitor<K>
where
    K: Ord + Clone + fmt::Debug + Send + Sync + 'static,
{
    /// This monitor as a readiness check named `name`, not ready below
    /// `min_routable` routable members (at least 1 is required whatever
    /// the value: an instance with no worker to route to cannot serve).
    pub fn readiness(&self, name: impl Into<String>, min_routable: usize) -> HeartbeatReadiness<K> {
        HeartbeatReadiness {
            name: name.into(),
            monitor: self.clone(),
            min_routable: min_routable.max(1),
        }
    }
}

impl<K> ReadinessCheck for HeartbeatReadiness<K>
where
    K: Ord + Clone + fmt::Debug + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn readiness(&self) -> Readiness {
        let (total, healthy, unhealthy) = self.monitor.census();
        let routable = total.saturating_sub(unhealthy.len());
        if routable < self.min_routable {
            return Readiness::NotReady(format!(
                "{routable} of {total} members routable, {} needed",
                self.min_routable
            ));
        }
        if healthy == total {
            return Readiness::Ready;
        }
        let mut reason = format!("{healthy} of {total} members healthy");
        if !unhealthy.is_empty() {
            let names: Vec<String> = unhealthy.iter().map(|k| format!("{k:?}")).collect();
            reason.push_str("; unhealthy: ");
            reason.push_str(&names.join(", "));
        }
        Readiness::Degraded(reason)
    }
}
