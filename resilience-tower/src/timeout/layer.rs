use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::{TimeoutScope, TimeoutService};

/// Cancels an attempt that takes longer than `timeout`, with an
/// [`Elapsed`](super::Elapsed) error of scope
/// [`Attempt`](TimeoutScope::Attempt). Put it inside a
/// [`RetryLayer`](crate::retry::RetryLayer) so each attempt gets its own
/// timer.
///
/// ```
/// use std::time::Duration;
/// use resilience_tower::timeout::TimeoutLayer;
/// use tower::ServiceBuilder;
///
/// let layer = TimeoutLayer::new(Duration::from_millis(500)).name("inventory");
/// assert_eq!(layer.timeout(), Duration::from_millis(500));
/// let svc = ServiceBuilder::new()
///     .layer(layer)
///     .service_fn(|x: u32| async move { Ok::<_, tower::BoxError>(x) });
/// # let _ = svc;
/// ```
#[derive(Debug, Clone)]
pub struct TimeoutLayer {
    timeout: Duration,
    name: Arc<str>,
}

impl TimeoutLayer {
    /// A per-attempt timeout of `timeout`, named `"default"` in metrics.
    pub fn new(timeout: Duration) -> Self {
        TimeoutLayer {
            timeout,
            name: "default".into(),
        }
    }

    /// Sets the `timeout` label of the layer's metrics.
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    /// The timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = TimeoutService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TimeoutService::new(inner, self.timeout, TimeoutScope::Attempt, &self.name)
    }
}

/// Bounds a whole call, waits and retries included, with an
/// [`Elapsed`](super::Elapsed) error of scope [`Total`](TimeoutScope::Total).
/// Put it outside a [`RetryLayer`](crate::retry::RetryLayer): when it fires
/// the retry loop is dropped, so no attempt starts after the caller gave up.
///
/// ```
/// use std::time::Duration;
/// use resilience_core::retry::{Backoff, RetryPolicy};
/// use resilience_tower::retry::RetryLayer;
/// use resilience_tower::timeout::{DeadlineLayer, TimeoutLayer};
/// use tower::ServiceBuilder;
///
/// let total = Duration::from_secs(2);
/// let policy = RetryPolicy::builder(Backoff::exponential(Duration::from_millis(100), Duration::from_secs(1)).unwrap())
///     .max_attempts(4)
///     .deadline(total) // stop scheduling retries that cannot finish in time
///     .build()
///     .unwrap();
/// let svc = ServiceBuilder::new()
///     .layer(DeadlineLayer::new(total)) // hard stop for the caller
///     .layer(RetryLayer::new(policy))
///     .layer(TimeoutLayer::new(Duration::from_millis(500))) // per attempt
///     .service_fn(|x: u32| async move { Ok::<_, tower::BoxError>(x) });
/// # let _ = svc;
/// ```
#[derive(Debug, Clone)]
pub struct DeadlineLayer {
    deadline: Duration,
    name: Arc<str>,
}

impl DeadlineLayer {
    /// A total deadline of `deadline` per call, named `"default"` in
    /// metrics.
    pub fn new(deadline: Duration) -> Self {
        DeadlineLayer {
            deadline,
            name: "default".into(),
        }
    }

    /// Sets the `timeout` label of the layer's metrics.
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    /// The deadline.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = TimeoutService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TimeoutService::new(inner, self.deadline, TimeoutScope::Total, &self.name)
    }
}
