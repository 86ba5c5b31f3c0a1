//! What flows through the gateway: requests, jobs, images and typed errors.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The models the fleet serves, with the platform's distribution targets
/// (sdxl 60 %, sd3 20 %, flux 15 %; "other" folded into sdxl here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Model {
    Sdxl,
    Sd3,
    Flux,
}

impl Model {
    pub(crate) const ALL: [Model; 3] = [Model::Sdxl, Model::Sd3, Model::Flux];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Model::Sdxl => "sdxl",
            Model::Sd3 => "sd3",
            Model::Flux => "flux",
        }
    }

    /// Typical generation time on a warm worker.
    pub(crate) fn generation_time(self) -> Duration {
        match self {
            Model::Sdxl => Duration::from_millis(2_000),
            Model::Sd3 => Duration::from_millis(2_500),
            Model::Flux => Duration::from_millis(3_500),
        }
    }

    /// Generation time averaged over the traffic mix.
    pub(crate) fn mean_generation_time() -> Duration {
        Model::ALL
            .iter()
            .map(|m| m.generation_time() * m.share())
            .sum::<Duration>()
            / 100
    }

    /// Share of traffic, in percent.
    pub(crate) fn share(self) -> u32 {
        match self {
            Model::Sdxl => 65,
            Model::Sd3 => 20,
            Model::Flux => 15,
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is calling: the model registry's three bulkhead pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TrafficClass {
    /// The web dashboard: lowest priority, shed first.
    Dashboard,
    /// Paying API customers.
    Api,
    /// Internal batch jobs: highest queue priority, own workers only,
    /// dead-lettered (not sent to external providers) when the fleet fails.
    Internal,
}

impl TrafficClass {
    pub(crate) const ALL: [TrafficClass; 3] = [
        TrafficClass::Dashboard,
        TrafficClass::Api,
        TrafficClass::Internal,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TrafficClass::Dashboard => "dashboard",
            TrafficClass::Api => "api",
            TrafficClass::Internal => "internal",
        }
    }

    /// Priority in the worker queue (higher first). Recovered requests get
    /// the platform's +50 on top.
    pub(crate) fn queue_priority(self) -> i64 {
        match self {
            TrafficClass::Dashboard => 0,
            TrafficClass::Api => 10,
            TrafficClass::Internal => 20,
        }
    }

    /// Share of traffic, in percent.
    pub(crate) fn share(self) -> u32 {
        match self {
            TrafficClass::Dashboard => 30,
            TrafficClass::Api => 60,
            TrafficClass::Internal => 10,
        }
    }
}

/// `POST /v1/generate`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GenerateRequest {
    pub(crate) model: Model,
    pub(crate) class: TrafficClass,
    pub(crate) prompt: String,
    #[serde(default)]
    pub(crate) high_res: bool,
}

/// One generation, as the services behind the gateway see it. Cheap to
/// clone (retries and the fallback chain keep copies).
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) model: Model,
    pub(crate) class: TrafficClass,
    pub(crate) prompt: Arc<str>,
    pub(crate) high_res: bool,
    /// A worker the next attempt should not use (set by the retry hook
    /// after a model-load failure: "retry on a different worker").
    pub(crate) avoid: Option<Arc<str>>,
}

/// A generated image (its bytes are not simulated).
#[derive(Debug, Clone)]
pub(crate) struct Image {
    pub(crate) model: Model,
    pub(crate) prompt: Arc<str>,
    /// The worker or provider that made it.
    pub(crate) by: Arc<str>,
    pub(crate) high_res: bool,
}

/// What the worker pool can fail with. Each variant says what happened and
/// what the gateway does about it.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum PoolError {
    /// The worker could not load the model: retry on another worker; counts
    /// against the model's breaker.
    #[error("model {model} failed to load on worker {worker} (checksum mismatch); retry on another worker")]
    ModelLoad { model: Model, worker: Arc<str> },
    /// No worker started the request in time: the fleet is saturated.
    /// Falls back at once; not the model's fault, so no breaker counts it.
    #[error("no worker started the request within {}s; the fleet is saturated, falling back", waited.as_secs())]
    QueueTimeout { waited: Duration },
    /// The request's workers kept dying: out of recovery retries.
    #[error("{message}")]
    RecoveryFailed { message: String },
}
