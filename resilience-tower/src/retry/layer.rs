use std::fmt;
use std::sync::Arc;

use metrics::Counter;
use resilience_core::retry::RetryPolicy;
use tower_layer::Layer;

use super::{CloneAll, DefaultRetryClassifier, NoRetryHook, PolicyIdempotency, RetryService};

/// Retries failed calls with a core [`RetryPolicy`]: its backoff and
/// jitter, retryable classes, idempotency rule, `Retry-After` limit,
/// deadline and budget. Services made by one layer share the policy (and so
/// its budget).
///
/// Type parameters, each with a builder method and a default:
///
/// | parameter | set with | default | decides |
/// |---|---|---|---|
/// | `C` | [`with_classifier`](Self::with_classifier) | [`DefaultRetryClassifier`] | which results are failures, of what class ([`RetryClassify`](super::RetryClassify)) |
/// | `K` | [`clone_requests_with`](Self::clone_requests_with) | [`CloneAll`] | how a request is copied for the next attempt ([`CloneRequest`](super::CloneRequest)) |
/// | `I` | [`idempotency_with`](Self::idempotency_with) | [`PolicyIdempotency`] | each request's idempotency ([`RequestIdempotency`](super::RequestIdempotency)) |
/// | `H` | [`on_retry`](Self::on_retry) | [`NoRetryHook`] | what changes in the request before a retry ([`RetryHook`](super::RetryHook)) |
///
/// ```
/// use std::time::Duration;
/// use resilience_core::retry::{RetryPolicy, Idempotency, ErrorClass, Classification};
/// use resilience_core::presets;
/// use resilience_tower::retry::{classify_error, RetryLayer};
/// use resilience_core::clock::TokioClock;
/// use tower::{BoxError, ServiceBuilder};
///
/// #[derive(Clone)]
/// struct Charge { amount: u64, idempotency_key: Option<String> }
///
/// let policy = RetryPolicy::from_config("payments", &presets::data_platform::llm_inference_retry(), std::sync::Arc::new(TokioClock)).unwrap();
/// let layer = RetryLayer::new(policy)
///     // a charge is only repeated when it carries an idempotency key
///     .idempotency_with(|c: &Charge| if c.idempotency_key.is_some() {
///         Idempotency::Idempotent
///     } else {
///         Idempotency::NonIdempotent
///     })
///     // "card declined" responses are final, 503s are transient
///     .with_classifier(|r: &Result<u16, BoxError>| -> Option<Classification> {
///         match r {
///             Ok(503) => Some(ErrorClass::Transient.into()),
///             Ok(_) => None,
///             Err(e) => Some(classify_error(&**e)),
///         }
///     });
/// let svc = ServiceBuilder::new()
///     .layer(layer)
///     .service_fn(|c: Charge| async move { Ok::<u16, BoxError>(if c.amount > 0 { 200 } else { 400 }) });
/// # let _ = svc;
/// ```
#[derive(Clone)]
pub struct RetryLayer<
    C = DefaultRetryClassifier,
    K = CloneAll,
    I = PolicyIdempotency,
    H = NoRetryHook,
> {
    policy: Arc<RetryPolicy>,
    classifier: C,
    cloner: K,
    idempotency: I,
    hook: H,
}

impl RetryLayer {
    /// A layer retrying by `policy` (a [`RetryPolicy`] or an
    /// `Arc<RetryPolicy>` shared with other layers), with the default
    /// classifier, `Clone` copies and the policy's idempotency.
    pub fn new(policy: impl Into<Arc<RetryPolicy>>) -> Self {
        RetryLayer {
            policy: policy.into(),
            classifier: DefaultRetryClassifier,
            cloner: CloneAll,
            idempotency: PolicyIdempotency,
            hook: NoRetryHook,
        }
    }
}

impl<C, K, I, H> RetryLayer<C, K, I, H> {
    /// Uses `classifier` to tell failures (and their class) from successes.
    pub fn with_classifier<C2>(self, classifier: C2) -> RetryLayer<C2, K, I, H> {
        RetryLayer {
            policy: self.policy,
            classifier,
            cloner: self.cloner,
            idempotency: self.idempotency,
            hook: self.hook,
        }
    }

    /// Uses `cloner` to copy requests for further attempts; a `None` from
    /// it means the request is sent once (see
    /// [`CloneRequest`](super::CloneRequest)).
    pub fn clone_requests_with<K2>(self, cloner: K2) -> RetryLayer<C, K2, I, H> {
        RetryLayer {
            policy: self.policy,
            classifier: self.classifier,
            cloner,
            idempotency: self.idempotency,
            hook: self.hook,
        }
    }

    /// Uses `idempotency` to decide each request's idempotency.
    pub fn idempotency_with<I2>(self, idempotency: I2) -> RetryLayer<C, K, I2, H> {
        RetryLayer {
            policy: self.policy,
            classifier: self.classifier,
            cloner: self.cloner,
            idempotency,
            hook: self.hook,
        }
    }

    /// Runs `hook` before each retry with the copy of the request the retry
    /// will send, so it can change it (see [`RetryHook`](super::RetryHook)).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use resilience_core::retry::{Backoff, RetryPolicy};
    /// use resilience_tower::retry::{RetryLayer, Retrying};
    /// use tower::{service_fn, BoxError, Layer, ServiceExt};
    ///
    /// #[derive(Clone)]
    /// struct Job { worker: u32 }
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let policy = RetryPolicy::builder(Backoff::constant(Duration::from_millis(10))).max_attempts(3).build().unwrap();
    /// // worker 0 is broken
    /// let svc = service_fn(|job: Job| async move {
    ///     if job.worker == 0 {
    ///         Err::<u32, BoxError>(std::io::Error::from(std::io::ErrorKind::ConnectionReset).into())
    ///     } else {
    ///         Ok(job.worker)
    ///     }
    /// });
    /// let svc = RetryLayer::new(policy)
    ///     .on_retry(|job: &mut Job, r: &Retrying<'_, u32>| {
    ///         assert_eq!(r.attempt, 1);
    ///         job.worker += 1; // retry on the next worker
    ///     })
    ///     .layer(svc);
    /// assert_eq!(svc.oneshot(Job { worker: 0 }).await.unwrap(), 1);
    /// # }
    /// ```
    pub fn on_retry<H2>(self, hook: H2) -> RetryLayer<C, K, I, H2> {
        RetryLayer {
            policy: self.policy,
            classifier: self.classifier,
            cloner: self.cloner,
            idempotency: self.idempotency,
            hook,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &Arc<RetryPolicy> {
        &self.policy
    }
}

impl<C: Clone, K: Clone, I: Clone, H: Clone> RetryLayer<C, K, I, H> {
    /// What the calls of a service made by this layer share: the policy
    /// and the layer's parts (one per service, as [`layer`](Layer::layer)
    /// makes it).
    pub(crate) fn shared(&self) -> Arc<Shared<C, K, I, H>> {
        Arc::new(Shared::new(
            self.policy.clone(),
            self.classifier.clone(),
            self.cloner.clone(),
            self.idempotency.clone(),
            self.hook.clone(),
        ))
    }
}

impl<S, C: Clone, K: Clone, I: Clone, H: Clone> Layer<S> for RetryLayer<C, K, I, H> {
    type Service = RetryService<S, C, K, I, H>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService::from_shared(inner, self.shared())
    }
}

impl<C, K, I, H> fmt::Debug for RetryLayer<C, K, I, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayer")
            .field("policy", &self.policy)
            .field("classifier", &std::any::type_name::<C>())
            .field("cloner", &std::any::type_name::<K>())
            .field("idempotency", &std::any::type_name::<I>())
            .field("hook", &std::any::type_name::<H>())
            .finish()
    }
}

/// What every call of one retry service shares: one `Arc` clone per call.
pub(crate) struct Shared<C, K, I, H> {
    /// The policy's handle, read on every call (one pointer to its state,
    /// where the `Arc` below is two).
    pub(crate) policy: RetryPolicy,
    /// The policy as the layer was given it, for `RetryService::policy`.
    pub(crate) policy_arc: Arc<RetryPolicy>,
    pub(crate) classifier: C,
    pub(crate) cloner: K,
    pub(crate) idempotency: I,
    pub(crate) hook: H,
    pub(crate) not_cloneable: Counter,
    /// Whether the policy allows a second attempt (a call then keeps a
    /// copy of its request): read on every call, here rather than behind
    /// the policy's pointer.
    pub(crate) retries: bool,
    /// When these services were made; the start time given to the policy
    /// for calls when it has no deadline (it reads it for nothing else).
    pub(crate) created: std::time::Instant,
}

impl<C, K, I, H> Shared<C, K, I, H> {
    pub(crate) fn new(
        policy: Arc<RetryPolicy>,
        classifier: C,
        cloner: K,
        idempotency: I,
        hook: H,
    ) -> Self {
        let not_cloneable = metrics::counter!(
            "resilience_retry_not_cloneable_total",
            "policy" => policy.name().to_owned(),
        );
        Shared {
            retries: policy.max_attempts() > 1,
            policy: RetryPolicy::clone(&policy),
            policy_arc: policy,
            classifier,
            cloner,
            idempotency,
            hook,
            not_cloneable,
            created: super::now(),
        }
    }
}

impl<C, K, I, H> fmt::Debug for Shared<C, K, I, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("policy", &self.policy.name())
            .field("classifier", &std::any::type_name::<C>())
            .field("cloner", &std::any::type_name::<K>())
            .field("idempotency", &std::any::type_name::<I>())
            .field("hook", &std::any::type_name::<H>())
            .finish_non_exhaustive()
    }
}
