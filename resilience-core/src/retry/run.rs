//! Ready-made retry drivers on top of [`RetryPolicy`]: async (generic over
//! the sleep function, so no runtime is tied in) and blocking.

use std::future::Future;
use std::time::Duration;

use super::classify::{Classification, Classifier, ErrorClass};
use super::policy::{GiveUpReason, RetryDecision, RetryPolicy, RetryState};

/// A call that failed for good, carrying the last error.
///
/// Every variant keeps the original error in `last` (also its
/// [`source`](std::error::Error::source)); [`into_last`](Self::into_last)
/// gets it back.
///
/// ```
/// use std::time::Duration;
/// use resilience_core::retry::{Backoff, ErrorClass, RetryError, RetryPolicy};
///
/// let policy = RetryPolicy::builder(Backoff::constant(Duration::ZERO)).max_attempts(3).build().unwrap();
/// let err = policy
///     .run_blocking_with(&|e: &ErrorClass| (*e).into(), &mut (), |_, _| Err::<(), _>(ErrorClass::Timeout), |_, _| {}, |_| {})
///     .unwrap_err();
/// assert!(matches!(err, RetryError::RetriesExhausted { attempts: 3, last: ErrorClass::Timeout }));
/// assert_eq!(err.to_string(), "gave up after 3 attempts: every attempt failed; raise max_attempts or check the dependency");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RetryError<E> {
    /// The failure is not worth retrying; it is returned after the first
    /// attempt that hit it.
    #[error("failed after {attempts} attempt(s) with a {class} error, which is not retried: {}", class.not_retried_advice())]
    NotRetryable {
        /// Attempts made.
        attempts: u32,
        /// The failure's class.
        class: ErrorClass,
        /// The error.
        #[source]
        last: E,
    },
    /// The operation is not idempotent and the failure does not prove the
    /// request never left, so retrying could duplicate its effect.
    #[error("failed after {attempts} attempt(s) with a {class} error; not retried because the operation is not idempotent and the request may have been processed: use an idempotency key to make it safe to retry")]
    NotIdempotent {
        /// Attempts made.
        attempts: u32,
        /// The failure's class.
        class: ErrorClass,
        /// The error.
        #[source]
        last: E,
    },
    /// Every allowed attempt failed.
    #[error("gave up after {attempts} attempts: every attempt failed; raise max_attempts or check the dependency")]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        #[source]
        last: E,
    },
    /// The retry budget refused a retry: the dependency is failing for many
    /// callers and retries are being limited so as not to overload it.
    #[error("gave up after {attempts} attempt(s): the retry budget is exhausted, so retries are paused to protect a struggling dependency; the call fails fast until calls succeed again")]
    RetryBudgetExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        #[source]
        last: E,
    },
    /// The next wait would have ended past the overall deadline.
    #[error("gave up after {attempts} attempt(s): {}; raise the deadline or shorten the backoff", GiveUpReason::DeadlineExceeded { elapsed: *elapsed, deadline: *deadline })]
    DeadlineExceeded {
        /// Attempts made.
        attempts: u32,
        /// Time since the first attempt started.
        elapsed: Duration,
        /// The policy's deadline.
        deadline: Duration,
        /// The last attempt's error.
        #[source]
        last: E,
    },
    /// The dependency asked for a longer wait than the policy's
    /// `max_retry_after`.
    #[error("gave up after {attempts} attempt(s): the dependency asked to retry after {}, longer than max_retry_after ({}); retry later or raise max_retry_after", crate::config::fmt_wait(*requested), crate::config::fmt_duration(*limit))]
    RetryAfterTooLong {
        /// Attempts made.
        attempts: u32,
        /// The wait asked for.
        requested: Duration,
        /// The policy's limit.
        limit: Duration,
        /// The last attempt's error.
        #[source]
        last: E,
    },
}

impl<E> RetryError<E> {
    /// The error for `reason`, wrapping `last`.
    pub fn from_give_up(reason: GiveUpReason, attempts: u32, last: E) -> RetryError<E> {
        match reason {
            GiveUpReason::NotRetryable { class } => RetryError::NotRetryable {
                attempts,
                class,
                last,
            },
            GiveUpReason::NotIdempotent { class } => RetryError::NotIdempotent {
                attempts,
                class,
                last,
            },
            GiveUpReason::Exhausted => RetryError::RetriesExhausted { attempts, last },
            GiveUpReason::BudgetExhausted => RetryError::RetryBudgetExhausted { attempts, last },
            GiveUpReason::DeadlineExceeded { elapsed, deadline } => RetryError::DeadlineExceeded {
                attempts,
                elapsed,
                deadline,
                last,
            },
            GiveUpReason::RetryAfterTooLong { requested, limit } => RetryError::RetryAfterTooLong {
                attempts,
                requested,
                limit,
                last,
            },
        }
    }

    /// The last attempt's error.
    pub fn last(&self) -> &E {
        match self {
            RetryError::NotRetryable { last, .. }
            | RetryError::NotIdempotent { last, .. }
            | RetryError::RetriesExhausted { last, .. }
            | RetryError::RetryBudgetExhausted { last, .. }
            | RetryError::DeadlineExceeded { last, .. }
            | RetryError::RetryAfterTooLong { last, .. } => last,
        }
    }

    /// Takes the last attempt's error out.
    pub fn into_last(self) -> E {
        match self {
            RetryError::NotRetryable { last, .. }
            | RetryError::NotIdempotent { last, .. }
            | RetryError::RetriesExhausted { last, .. }
            | RetryError::RetryBudgetExhausted { last, .. }
            | RetryError::DeadlineExceeded { last, .. }
            | RetryError::RetryAfterTooLong { last, .. } => last,
        }
    }

    /// Attempts made.
    pub fn attempts(&self) -> u32 {
        match self {
            RetryError::NotRetryable { attempts, .. }
            | RetryError::NotIdempotent { attempts, .. }
            | RetryError::RetriesExhausted { attempts, .. }
            | RetryError::RetryBudgetExhausted { attempts, .. }
            | RetryError::DeadlineExceeded { attempts, .. }
            | RetryError::RetryAfterTooLong { attempts, .. } => *attempts,
        }
    }

    /// Why the driver gave up.
    pub fn reason(&self) -> GiveUpReason {
        match self {
            RetryError::NotRetryable { class, .. } => GiveUpReason::NotRetryable { class: *class },
            RetryError::NotIdempotent { class, .. } => {
                GiveUpReason::NotIdempotent { class: *class }
            }
            RetryError::RetriesExhausted { .. } => GiveUpReason::Exhausted,
            RetryError::RetryBudgetExhausted { .. } => GiveUpReason::BudgetExhausted,
            RetryError::DeadlineExceeded {
                elapsed, deadline, ..
            } => GiveUpReason::DeadlineExceeded {
                elapsed: *elapsed,
                deadline: *deadline,
            },
            RetryError::RetryAfterTooLong {
                requested, limit, ..
            } => GiveUpReason::RetryAfterTooLong {
                requested: *requested,
                limit: *limit,
            },
        }
    }
}

/// What the per-retry hook of [`RetryPolicy::run_with`] sees: the attempt
/// that failed, its error and classification, and the wait before the next
/// attempt.
///
/// ```
/// use std::time::Duration;
/// use resilience_core::retry::{Classification, ErrorClass, RetryAttempt};
/// let a = RetryAttempt {
///     attempt: 1,
///     error: &"boom",
///     classification: Classification::new(ErrorClass::Transient),
///     delay: Duration::from_secs(1),
/// };
/// assert_eq!(a.next_attempt(), 2);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RetryAttempt<'a, E> {
    /// The attempt that failed (from 1).
    pub attempt: u32,
    /// Its error.
    pub error: &'a E,
    /// Its classification.
    pub classification: Classification,
    /// The wait before the next attempt.
    pub delay: Duration,
}

impl<E> RetryAttempt<'_, E> {
    /// The number of the attempt that follows.
    pub fn next_attempt(&self) -> u32 {
        self.attempt.saturating_add(1)
    }
}

impl RetryPolicy {
    /// Runs `op` until it succeeds or the policy gives up, sleeping between
    /// attempts with `sleep` (e.g. `tokio::time::sleep`). `op` receives the
    /// attempt number (from 1). The clock is the policy's.
    ///
    /// ```
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let mut f = std::pin::pin!(f);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
    /// # }
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_core::retry::{Backoff, IoClassifier, RetryPolicy};
    ///
    /// let clock = ManualClock::new();
    /// let policy = RetryPolicy::builder(Backoff::exponential(Duration::from_millis(100), Duration::from_secs(1)).unwrap())
    ///     .max_attempts(4)
    ///     .clock(clock.clone())
    ///     .build()
    ///     .unwrap();
    /// // In a tokio service: `|d| tokio::time::sleep(d)`. Here the sleep moves a test clock.
    /// let sleep = |d| { clock.advance(d); std::future::ready(()) };
    /// let out = block_on(policy.run(&IoClassifier, |attempt| async move {
    ///     if attempt < 3 { Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset)) } else { Ok(attempt) }
    /// }, sleep));
    /// assert_eq!(out.unwrap(), 3);
    /// assert_eq!(clock.elapsed(), Duration::from_millis(300)); // 100ms + 200ms
    /// ```
    pub async fn run<T, E, C, Op, Fut, S, SFut>(
        &self,
        classifier: &C,
        mut op: Op,
        sleep: S,
    ) -> Result<T, RetryError<E>>
    where
        C: Classifier<E> + ?Sized,
        Op: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        S: FnMut(Duration) -> SFut,
        SFut: Future<Output = ()>,
    {
        self.run_with(classifier, &mut (), |_, n| op(n), |_, _| {}, sleep)
            .await
    }

    /// Like [`run`](Self::run), with a request value that a hook may change
    /// between attempts (the GPU inference platform's "OOM: retry with a smaller batch") and
    /// that observes every retry (a `log_retry` hook).
    ///
    /// `op` gets `&request` and the attempt number and returns a future that
    /// does not borrow the request (copy what it needs into the future).
    /// `hook` runs after each failure that will be retried, before the
    /// wait, with `&mut request` and the [`RetryAttempt`].
    ///
    /// ```
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let mut f = std::pin::pin!(f);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
    /// # }
    /// use std::time::Duration;
    /// use resilience_core::retry::{Backoff, Classification, ErrorClass, RetryPolicy};
    ///
    /// #[derive(Debug)]
    /// enum GpuError { OutOfMemory, Timeout }
    /// struct Generate { batch_size: u32 }
    ///
    /// let policy = RetryPolicy::builder(Backoff::constant(Duration::ZERO)).max_attempts(3).build().unwrap();
    /// let classify = |e: &GpuError| -> Classification {
    ///     match e { GpuError::OutOfMemory => ErrorClass::Transient, GpuError::Timeout => ErrorClass::Timeout }.into()
    /// };
    /// let mut request = Generate { batch_size: 8 };
    /// let mut log = Vec::new();
    /// let out = block_on(policy.run_with(
    ///     &classify,
    ///     &mut request,
    ///     |req, _attempt| {
    ///         let batch = req.batch_size;
    ///         async move { if batch > 1 { Err(GpuError::OutOfMemory) } else { Ok(batch) } }
    ///     },
    ///     |req, failed| {
    ///         log.push(format!("retry {} after {:?}: {:?}", failed.attempt, failed.delay, failed.error));
    ///         if matches!(failed.error, GpuError::OutOfMemory) {
    ///             req.batch_size = 1; // the inference platform's OOM strategy
    ///         }
    ///     },
    ///     |_| std::future::ready(()),
    /// ));
    /// assert_eq!(out.unwrap(), 1);
    /// assert_eq!(request.batch_size, 1);
    /// assert_eq!(log, ["retry 1 after 0ns: OutOfMemory"]);
    /// ```
    pub async fn run_with<R, T, E, C, Op, Fut, H, S, SFut>(
        &self,
        classifier: &C,
        request: &mut R,
        mut op: Op,
        mut hook: H,
        mut sleep: S,
    ) -> Result<T, RetryError<E>>
    where
        R: ?Sized,
        C: Classifier<E> + ?Sized,
        Op: FnMut(&R, u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        H: FnMut(&mut R, &RetryAttempt<'_, E>),
        S: FnMut(Duration) -> SFut,
        SFut: Future<Output = ()>,
    {
        let mut state = self.start(self.driver_start());
        loop {
            let attempt = state.attempts();
            match op(request, attempt).await {
                Ok(value) => {
                    self.record_success(&state);
                    return Ok(value);
                }
                Err(error) => {
                    let after =
                        self.after_failure(&mut state, classifier, request, &mut hook, error)?;
                    sleep(after).await;
                }
            }
        }
    }

    /// Blocking [`run`](Self::run): sleeps with [`std::thread::sleep`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_core::retry::{Backoff, ErrorClass, RetryError, RetryPolicy};
    /// let policy = RetryPolicy::builder(Backoff::constant(Duration::from_millis(1))).max_attempts(2).build().unwrap();
    /// let out: Result<(), _> = policy.run_blocking(&|e: &ErrorClass| (*e).into(), |_| Err(ErrorClass::NotFound));
    /// assert!(matches!(out, Err(RetryError::NotRetryable { attempts: 1, .. })));
    /// ```
    pub fn run_blocking<T, E, C, Op>(&self, classifier: &C, mut op: Op) -> Result<T, RetryError<E>>
    where
        C: Classifier<E> + ?Sized,
        Op: FnMut(u32) -> Result<T, E>,
    {
        self.run_blocking_with(
            classifier,
            &mut (),
            |_, n| op(n),
            |_, _| {},
            std::thread::sleep,
        )
    }

    /// Blocking [`run_with`](Self::run_with), with an explicit `sleep`
    /// (tests pass one that advances a [`ManualClock`](crate::clock::ManualClock)).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use resilience_core::clock::ManualClock;
    /// use resilience_core::retry::{Backoff, ErrorClass, RetryError, RetryPolicy};
    /// let clock = ManualClock::new();
    /// let policy = RetryPolicy::builder(Backoff::constant(Duration::from_secs(4)))
    ///     .max_attempts(10)
    ///     .deadline(Duration::from_secs(10))
    ///     .clock(clock.clone())
    ///     .build()
    ///     .unwrap();
    /// let out: Result<(), _> = policy.run_blocking_with(
    ///     &|e: &ErrorClass| (*e).into(),
    ///     &mut (),
    ///     |_, _| Err(ErrorClass::Timeout),
    ///     |_, _| {},
    ///     |d| clock.advance(d),
    /// );
    /// // 0s, 4s, 8s: a third wait would end at 12s > 10s.
    /// assert!(matches!(out, Err(RetryError::DeadlineExceeded { attempts: 3, .. })));
    /// ```
    pub fn run_blocking_with<R, T, E, C, Op, H, S>(
        &self,
        classifier: &C,
        request: &mut R,
        mut op: Op,
        mut hook: H,
        mut sleep: S,
    ) -> Result<T, RetryError<E>>
    where
        R: ?Sized,
        C: Classifier<E> + ?Sized,
        Op: FnMut(&R, u32) -> Result<T, E>,
        H: FnMut(&mut R, &RetryAttempt<'_, E>),
        S: FnMut(Duration),
    {
        let mut state = self.start(self.driver_start());
        loop {
            let attempt = state.attempts();
            match op(request, attempt) {
                Ok(value) => {
                    self.record_success(&state);
                    return Ok(value);
                }
                Err(error) => {
                    let after =
                        self.after_failure(&mut state, classifier, request, &mut hook, error)?;
                    sleep(after);
                }
            }
        }
    }

    /// One failed attempt: classifies `error`, asks the policy, and either
    /// runs the hook and returns the delay before the next attempt, or
    /// returns the final error (carrying `error`). Shared by the async and
    /// blocking drivers so both follow exactly the same rules.
    fn after_failure<R, E, C, H>(
        &self,
        state: &mut RetryState,
        classifier: &C,
        request: &mut R,
        hook: &mut H,
        error: E,
    ) -> Result<Duration, RetryError<E>>
    where
        R: ?Sized,
        C: Classifier<E> + ?Sized,
        H: FnMut(&mut R, &RetryAttempt<'_, E>),
    {
        let attempt = state.attempts();
        let classification = classifier.classify(&error);
        match self.next(state, self.shared_clock().now(), classification) {
            RetryDecision::Retry { after, .. } => {
                hook(
                    request,
                    &RetryAttempt {
                        attempt,
                        error: &error,
                        classification,
                        delay: after,
                    },
                );
                Ok(after)
            }
            RetryDecision::GiveUp(reason) => Err(RetryError::from_give_up(reason, attempt, error)),
        }
    }
}
