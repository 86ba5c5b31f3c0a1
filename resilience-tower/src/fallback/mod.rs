//! Fallback chains: when a call fails, try the next alternative, and tell
//! the caller which one answered.
//!
//! Services degrade this way: LLM provider A → provider B → a cached
//! response; the package registry's graph database → a cache (marked stale)
//! → an empty result with a warning. A [`FallbackLayer`] wraps the primary
//! service and tries each alternative in order when the previous step's
//! result is classified as a failure (by default any `Err`, which includes
//! an open breaker's [`CircuitOpen`](resilience_core::circuit_breaker::CircuitOpen)
//! and a full bulkhead's `BulkheadFull` when those layers sit inside).
//!
//! The response is a [`Served`]: the value plus its [`Source`], the step
//! that produced it, whether that answer is [`Quality::Fresh`],
//! [`Quality::Stale`] or [`Quality::Degraded`] (with a warning), and why the
//! earlier steps failed. A stale answer is therefore always visible to the
//! caller. When every step fails the error is [`FallbackExhausted`], which
//! keeps every step's original error.
//!
//! Requests are cloned once per call, to keep a copy for the alternatives:
//! keep them cheap to clone (`Arc`-backed bodies). The primary's success path
//! does not allocate; alternatives are boxed services, so the fallback path
//! allocates one boxed future per step tried.
//!
//! ```
//! use resilience_tower::fallback::{FallbackLayer, Quality};
//! use tower::{service_fn, BoxError, Layer, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let provider_a = service_fn(|_: String| async { Err::<String, BoxError>("provider A: 503".into()) });
//! let provider_b = service_fn(|_: String| async { Err::<String, BoxError>("provider B: timeout".into()) });
//! let cache = service_fn(|prompt: String| async move { Ok::<_, BoxError>(format!("cached answer to {prompt}")) });
//!
//! let mut svc = FallbackLayer::new("provider_a")
//!     .or("provider_b", provider_b)
//!     .or_stale("cached_response", cache)
//!     .layer(provider_a);
//!
//! let served = svc.ready().await.unwrap().call("hello".to_string()).await.unwrap();
//! assert_eq!(served.response, "cached answer to hello");
//! assert_eq!(served.source.name(), "cached_response");
//! assert_eq!(served.source.quality(), &Quality::Stale);
//! assert_eq!(served.source.failures().len(), 2); // why A and B were skipped
//! # }
//! ```
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `resilience_fallback_served_total` | counter | `chain` (the primary's name), `step` |
//! | `resilience_fallback_exhausted_total` | counter | `chain` |

mod future;
mod layer;
mod service;

pub use self::future::ResponseFuture;
pub use self::layer::FallbackLayer;
pub use self::service::FallbackService;

use std::fmt;
use std::sync::Arc;

use tower::BoxError;

/// How good an answer from a step is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Quality {
    /// As good as the primary's (another provider of the same data).
    Fresh,
    /// Possibly out of date (a cache).
    Stale,
    /// A placeholder with a warning for the user (an empty result).
    Degraded {
        /// What to tell the user.
        warning: Arc<str>,
    },
}

/// Where an answer came from.
pub struct Source {
    pub(crate) step: usize,
    pub(crate) name: Arc<str>,
    pub(crate) quality: Quality,
    pub(crate) failures: Vec<StepFailure>,
}

/// A step that failed before the answer, and why.
pub struct StepFailure {
    /// The step's name.
    pub name: Arc<str>,
    /// Its error (for an `Ok` response classified as a failure, a
    /// [`ClassifiedAsFailure`]).
    pub error: BoxError,
}

/// An `Ok` response that the classifier counted as a failure (for example
/// an HTTP 503), recorded in [`StepFailure::error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the response was classified as a failure")]
pub struct ClassifiedAsFailure;

impl Source {
    /// 0 for the primary, 1 for the first alternative, …
    pub fn step(&self) -> usize {
        self.step
    }

    /// The step's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How good the answer is.
    pub fn quality(&self) -> &Quality {
        &self.quality
    }

    /// Whether the primary answered.
    pub fn is_primary(&self) -> bool {
        self.step == 0
    }

    /// The steps that failed first, in order.
    pub fn failures(&self) -> &[StepFailure] {
        &self.failures
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("step", &self.step)
            .field("name", &self.name)
            .field("quality", &self.quality)
            .field("failures", &self.failures)
            .finish()
    }
}

impl fmt::Debug for StepFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.error)
    }
}

/// A response and the step that produced it.
#[derive(Debug)]
pub struct Served<T> {
    /// The response.
    pub response: T,
    /// Where it came from.
    pub source: Source,
}

impl<T> Served<T> {
    /// The response, dropping its source.
    pub fn into_inner(self) -> T {
        self.response
    }
}

/// Every step failed. Keeps each step's error, in order.
#[derive(Debug)]
pub struct FallbackExhausted {
    /// The steps' failures.
    pub failures: Vec<StepFailure>,
}

impl fmt::Display for FallbackExhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "every fallback step failed")?;
        for (i, s) in self.failures.iter().enumerate() {
            write!(
                f,
                "{} {}: {}",
                if i == 0 { ":" } else { ";" },
                s.name,
                s.error
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for FallbackExhausted {}
