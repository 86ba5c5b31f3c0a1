use std::fmt;
use std::time::Duration;

use resilience_core::retry::Classification;
use tower::BoxError;

/// What a [`RetryHook`] learns about the failed attempt before a retry.
///
/// ```
/// use resilience_tower::retry::Retrying;
/// fn describe<Res>(r: &Retrying<'_, Res>) -> String {
///     format!("attempt {} failed ({}); next in {:?}", r.attempt, r.classification.class, r.delay)
/// }
/// # let _ = describe::<()>;
/// ```
#[non_exhaustive]
pub struct Retrying<'a, Res> {
    /// The attempt that failed (1 = the first).
    pub attempt: u32,
    /// Its result: an error, or a response the classifier called a failure
    /// (an HTTP `503` arrives as `Ok`).
    pub result: &'a Result<Res, BoxError>,
    /// How the failure was classified.
    pub classification: Classification,
    /// The wait before the next attempt.
    pub delay: Duration,
}

impl<Res> fmt::Debug for Retrying<'_, Res> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retrying")
            .field("attempt", &self.attempt)
            .field(
                "result",
                &self
                    .result
                    .as_ref()
                    .map(|_| "response")
                    .map_err(|e| e.to_string()),
            )
            .field("classification", &self.classification)
            .field("delay", &self.delay)
            .finish()
    }
}

/// Runs before each retry of a [`RetryLayer`](super::RetryLayer), with the
/// copy of the request the retry will send, so the next attempt can differ
/// from the failed one: "retry on a different worker" (mark the worker that
/// failed as one to avoid), a smaller batch after an out-of-memory error, a
/// fresh auth token after a `401`, an attempt counter in a header. Also a
/// place to log retries with the request in hand.
///
/// It runs only when the policy decided to retry (never on the success
/// path), before the backoff wait.
///
/// Implemented by [`NoRetryHook`] (the default) and by closures
/// `Fn(&mut Req, &Retrying<'_, Res>)`.
///
/// ```
/// use resilience_tower::retry::{RetryHook, Retrying};
///
/// struct Job { avoid: Option<String> }
///
/// /// Sends the retry elsewhere: the failed attempt's error names its worker.
/// struct AvoidFailedWorker;
/// impl RetryHook<Job, String> for AvoidFailedWorker {
///     fn on_retry(&self, job: &mut Job, retrying: &Retrying<'_, String>) {
///         if let Err(e) = retrying.result {
///             job.avoid = e.to_string().strip_prefix("failed on ").map(str::to_string);
///         }
///     }
/// }
/// # let _ = AvoidFailedWorker;
/// ```
pub trait RetryHook<Req, Res> {
    /// Called with the request of the coming retry and the failed attempt.
    fn on_retry(&self, request: &mut Req, retrying: &Retrying<'_, Res>);
}

impl<Req, Res, F> RetryHook<Req, Res> for F
where
    F: Fn(&mut Req, &Retrying<'_, Res>),
{
    #[inline]
    fn on_retry(&self, request: &mut Req, retrying: &Retrying<'_, Res>) {
        self(request, retrying)
    }
}

/// The default [`RetryHook`]: retries send the request unchanged.
///
/// ```
/// use resilience_tower::retry::{NoRetryHook, RetryHook};
/// let _: &dyn RetryHook<u32, u32> = &NoRetryHook;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoRetryHook;

impl<Req, Res> RetryHook<Req, Res> for NoRetryHook {
    #[inline]
    fn on_retry(&self, _request: &mut Req, _retrying: &Retrying<'_, Res>) {}
}
