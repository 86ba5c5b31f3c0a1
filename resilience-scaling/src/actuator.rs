//! Where a host plugs in its cluster or cloud API.
//!
//! Evaluators in this crate only decide; applying a decision (patching a
//! Deployment's scale, setting an auto-scaling group's desired capacity) is
//! the host's job, behind [`Actuator`]. [`RecordingActuator`] keeps counts in
//! memory for tests, dry runs and the simulator.
//!
//! ```
//! use resilience_scaling::actuator::{Actuator, RecordingActuator};
//! let mut a = RecordingActuator::default();
//! a.scale("gpu-pool", 25).unwrap();
//! assert_eq!(a.current("gpu-pool").unwrap(), 25);
//! assert_eq!(a.history(), &[("gpu-pool".to_string(), 25)]);
//! ```

use std::collections::BTreeMap;
use std::convert::Infallible;

/// Applies replica counts to named targets.
///
/// ```
/// use resilience_scaling::actuator::Actuator;
///
/// /// An actuator that prints instead of scaling (a dry run).
/// #[derive(Debug, Default)]
/// struct DryRun(std::collections::HashMap<String, u32>);
/// impl Actuator for DryRun {
///     type Error = std::convert::Infallible;
///     fn scale(&mut self, target: &str, replicas: u32) -> Result<(), Self::Error> {
///         println!("would scale {target} to {replicas}");
///         self.0.insert(target.to_string(), replicas);
///         Ok(())
///     }
///     fn current(&self, target: &str) -> Result<u32, Self::Error> {
///         Ok(self.0.get(target).copied().unwrap_or(0))
///     }
/// }
/// let mut d = DryRun::default();
/// d.scale("api", 3).unwrap();
/// assert_eq!(d.current("api").unwrap(), 3);
/// ```
pub trait Actuator {
    /// The API's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Sets the desired replica count of `target`.
    fn scale(&mut self, target: &str, replicas: u32) -> Result<(), Self::Error>;

    /// The current desired replica count of `target`.
    fn current(&self, target: &str) -> Result<u32, Self::Error>;
}

/// An in-memory actuator that records every call.
///
/// ```
/// use resilience_scaling::actuator::{Actuator, RecordingActuator};
/// let a = RecordingActuator::default();
/// assert_eq!(a.current("unknown").unwrap(), 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordingActuator {
    replicas: BTreeMap<String, u32>,
    history: Vec<(String, u32)>,
}

impl RecordingActuator {
    /// Every `scale` call, in order.
    pub fn history(&self) -> &[(String, u32)] {
        &self.history
    }
}

impl Actuator for RecordingActuator {
    type Error = Infallible;

    fn scale(&mut self, target: &str, replicas: u32) -> Result<(), Infallible> {
        self.replicas.insert(target.to_string(), replicas);
        self.history.push((target.to_string(), replicas));
        Ok(())
    }

    fn current(&self, target: &str) -> Result<u32, Infallible> {
        Ok(self.replicas.get(target).copied().unwrap_or(0))
    }
}
