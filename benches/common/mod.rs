//! Shared harness of the side-by-side suites: the no-op inner service, the
//! executor every tower service is driven with, and the multi-thread runner.
//!
//! Every service under test (ours and each peer) wraps the same [`Noop`]
//! service and is driven by the same [`call`]: `poll_ready`, `call`, then
//! poll the response future, all with a no-op waker on the bench thread and
//! inside one entered tokio runtime context (so layers that create tokio
//! timers work). Nothing is spawned, so no scheduler cost is measured; what
//! remains is the cost of the layers themselves.

#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::fmt;
use std::future::{ready, Future, Ready};
use std::hint::black_box;
use std::pin::pin;
use std::sync::Barrier;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use tower::Service;

/// The innermost service of every tower comparison: echoes the request,
/// always ready, response future ready on first poll. The request
/// [`FAIL`] makes it fail (used to trip breakers before the open-path
/// benches); every other request succeeds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Noop;

/// The (never produced) error of [`Noop`]: a real error type so that every
/// layer's `Into<BoxError>`/`Error` bounds hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoopError;

impl fmt::Display for NoopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("noop error")
    }
}

impl std::error::Error for NoopError {}

impl Service<u64> for Noop {
    type Response = u64;
    type Error = NoopError;
    type Future = Ready<Result<u64, NoopError>>;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, req: u64) -> Self::Future {
        ready(if req == FAIL { Err(NoopError) } else { Ok(req) })
    }
}

/// Every error is transient (the retry suites' classifier).
pub fn transient(_: &NoopError) -> resilience::retry::Classification {
    resilience::retry::Classification::new(resilience::retry::ErrorClass::Transient)
}

/// The request that makes [`Noop`] fail.
pub const FAIL: u64 = u64::MAX;

/// The same no-op with an `Infallible` error, for layers that want one.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopInfallible;

impl Service<u64> for NoopInfallible {
    type Response = u64;
    type Error = Infallible;
    type Future = Ready<Result<u64, Infallible>>;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, req: u64) -> Self::Future {
        ready(Ok(req))
    }
}

/// Polls `fut` to completion with a no-op waker. Only a contended async
/// lock in a peer returns `Pending` here; the thread then yields its core
/// (as a parked task would), so the lock holder or the waiter it handed the
/// lock to can run: spinning would convoy on a machine with fewer cores
/// than threads.
#[inline]
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        thread::yield_now();
    }
}

/// One request through `svc`: ready, call, poll the response to completion
/// (yielding the thread on `Pending`, see [`block_on`]).
#[inline]
pub fn call<S: Service<u64>>(svc: &mut S, req: u64) -> Result<S::Response, S::Error> {
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        match svc.poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => break,
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Pending => thread::yield_now(),
        }
    }
    let mut fut = pin!(svc.call(req));
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        thread::yield_now();
    }
}

/// The runtime whose context every tower bench runs in (timers only; no
/// task is spawned on it).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime builds")
}

/// Runs `iters` operations split over `threads` threads (each thread gets
/// its own `make()` state, e.g. a service clone) and returns the wall time
/// from the moment all threads are released until the last one finishes.
pub fn contended<T, M, F>(threads: u64, iters: u64, make: M, op: F) -> Duration
where
    M: Fn() -> T + Sync,
    F: Fn(&mut T) + Sync,
    T: Send,
{
    let threads = threads.max(1);
    let per = (iters / threads).max(1);
    let barrier = Barrier::new(threads as usize + 1);
    thread::scope(|s| {
        for _ in 0..threads {
            let (barrier, make, op) = (&barrier, &make, &op);
            s.spawn(move || {
                let rt = runtime();
                let _guard = rt.enter();
                let mut state = make();
                barrier.wait();
                for _ in 0..per {
                    op(black_box(&mut state));
                }
                barrier.wait();
            });
        }
        barrier.wait();
        let start = Instant::now();
        barrier.wait();
        start.elapsed()
    })
}

/// Benchmarks `svc` called from `threads` threads at once (each thread
/// drives its own clone), as `id` in `group`: wall time / total calls.
pub fn bench_contended_service<S>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: String,
    threads: u64,
    svc: &S,
) where
    S: Service<u64> + Clone + Send + Sync,
{
    group.bench_function(id, |bch| {
        bch.iter_custom(|iters| {
            contended(
                threads,
                iters,
                || svc.clone(),
                |s| {
                    let _ = black_box(call(s, 1));
                },
            )
        })
    });
}

// ---------------------------------------------------------------------------
// Equivalently configured subjects, shared by the criterion suites and the
// instruction-count binary (`benches/instructions.rs`). Each suite's module
// docs say why the configurations are equivalent.
// ---------------------------------------------------------------------------

pub mod subjects {
    use std::future::{ready, Ready};
    use std::task::{Context, Poll};
    use std::time::Duration;

    use resilience::bulkhead::{Bulkhead, BulkheadConfig};
    use resilience::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
    use tower::Service;
    use tower_resilience::circuitbreaker::{
        CircuitBreakerLayer as TrCircuitBreakerLayer, DefaultClassifier, SlidingWindowType,
    };

    /// Breaker window (calls), failure-rate threshold and open duration.
    pub const WINDOW: u32 = 100;
    /// How long an opened breaker stays open.
    pub const OPEN: Duration = Duration::from_secs(30);
    /// Bulkhead / concurrency limit size.
    pub const LIMIT: u32 = 100;
    /// Retry attempts (first call included).
    pub const ATTEMPTS: u32 = 3;
    /// First retry delay.
    pub const INITIAL: Duration = Duration::from_millis(100);
    /// Largest retry delay.
    pub const MAX_DELAY: Duration = Duration::from_secs(10);
    /// Timeout of the timeout layers.
    pub const TIMEOUT: Duration = Duration::from_secs(1);

    pub fn ours_cb_config() -> CircuitBreakerConfig {
        CircuitBreakerConfig::new()
            .count_window(WINDOW)
            .minimum_calls(WINDOW)
            .failure_rate_threshold(0.5)
            .open_duration(OPEN)
    }

    pub fn ours_cb() -> CircuitBreaker {
        CircuitBreaker::new(ours_cb_config()).expect("valid config")
    }

    pub fn tr_cb_layer() -> TrCircuitBreakerLayer<DefaultClassifier> {
        TrCircuitBreakerLayer::builder()
            .sliding_window_type(SlidingWindowType::CountBased)
            .sliding_window_size(WINDOW as usize)
            .minimum_number_of_calls(WINDOW as usize)
            .failure_rate_threshold(0.5)
            .wait_duration_in_open(OPEN)
            .build()
            .expect("valid config")
    }

    pub fn recloser() -> recloser::Recloser {
        recloser::Recloser::custom()
            .closed_len(WINDOW as usize)
            .error_rate(0.5)
            .open_wait(OPEN)
            .build()
    }

    pub fn failsafe_consecutive() -> impl failsafe::CircuitBreaker + Send + Sync {
        failsafe::Config::new()
            .failure_policy(failsafe::failure_policy::consecutive_failures(
                5,
                failsafe::backoff::constant(OPEN),
            ))
            .build()
    }

    /// Ours with a 60 s time window, the same thresholds.
    pub fn ours_time_window_cb() -> CircuitBreaker {
        CircuitBreaker::new(time_window_config()).expect("valid config")
    }

    /// The same on a [`CoarseClock`] (1 ms), one per process.
    ///
    /// [`CoarseClock`]: resilience::clock::CoarseClock
    pub fn ours_time_window_coarse_cb() -> CircuitBreaker {
        static CLOCK: std::sync::OnceLock<resilience::clock::CoarseClock> =
            std::sync::OnceLock::new();
        let clock = CLOCK.get_or_init(|| {
            resilience::clock::CoarseClock::start(Duration::from_millis(1))
                .expect("the coarse clock's thread starts")
        });
        CircuitBreaker::with_clock(time_window_config(), clock.clone()).expect("valid config")
    }

    fn time_window_config() -> CircuitBreakerConfig {
        CircuitBreakerConfig::new()
            .time_window(Duration::from_secs(60))
            .minimum_calls(WINDOW)
            .failure_rate_threshold(0.5)
            .open_duration(OPEN)
    }

    /// The keyed registry of `benches/registry.rs`: count window 10.
    pub fn ours_registry(
        capacity: usize,
    ) -> resilience::circuit_breaker::CircuitBreakerRegistry<u64> {
        resilience::circuit_breaker::CircuitBreakerRegistry::builder(
            CircuitBreakerConfig::new()
                .count_window(10)
                .minimum_calls(10)
                .failure_rate_threshold(0.5),
        )
        .capacity(capacity)
        .per_key_metrics(false)
        .build()
        .expect("valid registry")
    }

    /// governor's keyed rate limiter, configured never to refuse.
    pub fn governor_keyed() -> governor::DefaultKeyedRateLimiter<u64> {
        governor::RateLimiter::keyed(governor::Quota::per_second(
            std::num::NonZeroU32::new(1_000_000_000).expect("non-zero"),
        ))
    }

    /// backon's exponential schedule matching [`ours_retry_policy`].
    pub fn backon_builder() -> backon::ExponentialBuilder {
        backon::ExponentialBuilder::new()
            .with_min_delay(INITIAL)
            .with_max_delay(MAX_DELAY)
            .with_factor(2.0)
            .with_max_times(ATTEMPTS as usize - 1)
    }

    pub fn failsafe_time_window() -> impl failsafe::CircuitBreaker + Send + Sync {
        failsafe::Config::new()
            .failure_policy(failsafe::failure_policy::success_rate_over_time_window(
                0.5,
                WINDOW,
                Duration::from_secs(60),
                failsafe::backoff::constant(OPEN),
            ))
            .build()
    }

    /// `recloser`'s future wrapper as a tower service, so it is driven
    /// exactly like the layers (recloser ships no tower layer).
    #[derive(Debug, Clone)]
    pub struct RecloserService<S> {
        pub inner: S,
        pub breaker: recloser::AsyncRecloser,
    }

    impl<S: Service<u64>> Service<u64> for RecloserService<S> {
        type Response = S::Response;
        type Error = recloser::Error<S::Error>;
        type Future = recloser::RecloserFuture<S::Future, recloser::AnyError>;

        #[inline]
        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.inner.poll_ready(cx).map_err(recloser::Error::Inner)
        }

        #[inline]
        fn call(&mut self, req: u64) -> Self::Future {
            self.breaker.call(self.inner.call(req))
        }
    }

    pub fn ours_bulkhead() -> Bulkhead {
        Bulkhead::new("bench", BulkheadConfig::new(LIMIT)).expect("valid config")
    }

    pub fn ours_retry_policy() -> resilience::retry::RetryPolicy {
        resilience::retry::RetryPolicy::builder(
            resilience::retry::Backoff::exponential(INITIAL, MAX_DELAY).expect("valid backoff"),
        )
        .max_attempts(ATTEMPTS)
        .build()
        .expect("valid policy")
    }

    /// tower's own retry doing the work ours does on a call's success
    /// path: a policy that owns a per-call exponential backoff schedule
    /// (tower's `ExponentialBackoff`, 100 ms to 10 s), counts attempts,
    /// copies the request, and counts the success in a `metrics` counter
    /// (a no-op handle without a recorder, as ours is in these runs).
    /// [`TowerAttempts`] is the smallest policy; this one is the same
    /// work as our `RetryLayer`.
    #[derive(Debug, Clone)]
    pub struct TowerEquivalent {
        attempts: u32,
        backoff: tower::retry::backoff::ExponentialBackoff,
        success: metrics::Counter,
    }

    impl TowerEquivalent {
        pub fn new() -> Self {
            use tower::retry::backoff::MakeBackoff;
            let mut maker = tower::retry::backoff::ExponentialBackoffMaker::new(
                INITIAL,
                MAX_DELAY,
                0.0,
                tower::util::rng::HasherRng::default(),
            )
            .expect("valid backoff");
            TowerEquivalent {
                attempts: ATTEMPTS,
                backoff: maker.make_backoff(),
                success: metrics::counter!("bench_tower_retry_success_total"),
            }
        }
    }

    impl<E> tower::retry::Policy<u64, u64, E> for TowerEquivalent {
        type Future = tokio::time::Sleep;

        #[inline]
        fn retry(&mut self, _req: &mut u64, result: &mut Result<u64, E>) -> Option<Self::Future> {
            use tower::retry::backoff::Backoff;
            match result {
                Ok(_) => {
                    self.success.increment(1);
                    None
                }
                Err(_) if self.attempts > 1 => {
                    self.attempts -= 1;
                    Some(self.backoff.next_backoff())
                }
                Err(_) => None,
            }
        }

        #[inline]
        fn clone_request(&mut self, req: &u64) -> Option<u64> {
            Some(*req)
        }
    }

    /// [`TowerEquivalent`] with its state shared by every call, as a
    /// policy with a retry budget, shared metrics or event listeners must
    /// hold it (tower's own `TpsBudget` is held in an `Arc` by the policy
    /// that uses it): the per-call copy of the policy clones one `Arc`
    /// (one atomic increment, and a decrement when the call ends), as our
    /// layer's response future does for the policy shared by its calls.
    #[derive(Debug, Clone)]
    pub struct TowerSharedEquivalent {
        attempts: u32,
        backoff: tower::retry::backoff::ExponentialBackoff,
        shared: std::sync::Arc<metrics::Counter>,
    }

    impl TowerSharedEquivalent {
        pub fn new() -> Self {
            let e = TowerEquivalent::new();
            TowerSharedEquivalent {
                attempts: e.attempts,
                backoff: e.backoff,
                shared: std::sync::Arc::new(e.success),
            }
        }
    }

    impl<E> tower::retry::Policy<u64, u64, E> for TowerSharedEquivalent {
        type Future = tokio::time::Sleep;

        #[inline]
        fn retry(&mut self, _req: &mut u64, result: &mut Result<u64, E>) -> Option<Self::Future> {
            use tower::retry::backoff::Backoff;
            match result {
                Ok(_) => {
                    self.shared.increment(1);
                    None
                }
                Err(_) if self.attempts > 1 => {
                    self.attempts -= 1;
                    Some(self.backoff.next_backoff())
                }
                Err(_) => None,
            }
        }

        #[inline]
        fn clone_request(&mut self, req: &u64) -> Option<u64> {
            Some(*req)
        }
    }

    pub fn tr_bulkhead_layer() -> tower_resilience::bulkhead::BulkheadLayer {
        tower_resilience::bulkhead::BulkheadLayer::builder()
            .max_concurrent_calls(LIMIT as usize)
            .reject_when_full()
            .build()
            .expect("valid config")
    }

    /// tower's own retry with the smallest sensible policy: up to
    /// [`ATTEMPTS`] attempts on `Err`, no backoff (tower ships policies'
    /// building blocks, not a ready policy). On the success path only
    /// `clone_request` and `retry` (returning `None`) run.
    #[derive(Debug, Clone, Copy)]
    pub struct TowerAttempts(pub u32);

    impl<E> tower::retry::Policy<u64, u64, E> for TowerAttempts {
        type Future = Ready<()>;

        #[inline]
        fn retry(&mut self, _req: &mut u64, result: &mut Result<u64, E>) -> Option<Self::Future> {
            match result {
                Ok(_) => None,
                Err(_) if self.0 > 1 => {
                    self.0 -= 1;
                    Some(ready(()))
                }
                Err(_) => None,
            }
        }

        #[inline]
        fn clone_request(&mut self, req: &u64) -> Option<u64> {
            Some(*req)
        }
    }
}

/// The full stacks (timeout → retry → breaker → bulkhead → no-op), built
/// once here so the criterion suite, the instruction counter and the
/// zero-allocation test measure the same thing.
pub mod stacks {
    use resilience_tower::circuit_breaker::CircuitBreakerLayer;
    use tower::limit::ConcurrencyLimitLayer;
    use tower::timeout::TimeoutLayer;
    use tower::{Service, ServiceBuilder};

    use super::subjects::{
        ours_cb, tr_bulkhead_layer, tr_cb_layer, TowerAttempts, ATTEMPTS, INITIAL, LIMIT, TIMEOUT,
    };
    use super::Noop;

    /// tower-resilience 0.13: TimeLimiter + Retry + CircuitBreaker + Bulkhead.
    pub fn tower_resilience4() -> impl Service<u64, Response = u64> + Clone + Send {
        type CbErr = tower_resilience::circuitbreaker::CircuitBreakerError<
            tower_resilience::bulkhead::BulkheadServiceError<super::NoopError>,
        >;
        ServiceBuilder::new()
            .layer(
                tower_resilience::timelimiter::TimeLimiterLayer::builder()
                    .timeout_duration(TIMEOUT)
                    .build(),
            )
            .layer(
                tower_resilience::retry::RetryLayer::<u64, u64, CbErr>::builder()
                    .max_attempts(ATTEMPTS as usize)
                    .exponential_backoff(INITIAL)
                    .build(),
            )
            .layer(tr_cb_layer())
            .layer(tr_bulkhead_layer())
            .service(Noop)
    }

    /// Ours: TimeoutLayer + RetryLayer + CircuitBreakerLayer + BulkheadLayer.
    pub fn ours4() -> impl Service<u64, Response = u64> + Clone + Send {
        ServiceBuilder::new()
            .layer(resilience_tower::timeout::TimeoutLayer::new(TIMEOUT))
            .layer(resilience_tower::retry::RetryLayer::new(
                super::subjects::ours_retry_policy(),
            ))
            .layer(CircuitBreakerLayer::new(ours_cb()))
            .layer(resilience_tower::bulkhead::BulkheadLayer::new(
                std::sync::Arc::new(super::subjects::ours_bulkhead()),
            ))
            .service(Noop)
    }

    /// Ours from one config: `ResilienceStack` (retry → breaker → bulkhead →
    /// per-attempt timeout; the timeout sits innermost there, which is the
    /// only difference from [`ours4`]), same numbers.
    pub fn ours_resilience_stack() -> impl Service<u64, Response = u64> + Clone + Send {
        let stack = resilience_tower::stack::ResilienceStack::from_yaml(
            r#"
name: bench
retry:
  backoff: { kind: exponential, initial: 100ms, max: 10s, max_attempts: 3 }
circuit_breaker: { window: { count: 100 }, minimum_calls: 100, failure_rate_threshold: 0.5, open_duration: 30s }
bulkhead: { max_concurrent: 100 }
timeout: 1s
"#,
        )
        .expect("valid stack config");
        ServiceBuilder::new().layer(stack).service(Noop)
    }

    /// [`ours_resilience_stack`] with what a gateway's stack adds: a rate
    /// limit (high enough never to refuse) and a 60 s time-window breaker,
    /// both of which read the clock on every call. Over [`NoopInfallible`],
    /// so that its types are its own. Measured by criterion only: added to
    /// the instruction counter, it moved how the compiler inlined
    /// [`ours_resilience_stack`] there (9–13 instructions more), its own
    /// types notwithstanding.
    pub fn ours_resilience_stack_timed() -> impl Service<u64, Response = u64> + Clone + Send {
        let stack = resilience_tower::stack::ResilienceStack::from_yaml(
            r#"
name: bench
rate_limit: { rate: 1000000000, per: 1s, burst: 1000000000 }
retry:
  backoff: { kind: exponential, initial: 100ms, max: 10s, max_attempts: 3 }
circuit_breaker: { window: { time: 60s }, minimum_calls: 100, failure_rate_threshold: 0.1, open_duration: 30s }
bulkhead: { max_concurrent: 100 }
timeout: 1s
"#,
        )
        .expect("valid stack config");
        ServiceBuilder::new()
            .layer(stack)
            .service(super::NoopInfallible)
    }

    /// The layers `ResilienceStack` builds from [`ours_resilience_stack`]'s
    /// config, hand-built in its order and with its classifier: retry →
    /// breaker → bulkhead → per-attempt timeout → no-op. The same work as
    /// the stack from config without its optional-layer wrappers, so the
    /// two differ only by what building from a config costs.
    pub fn ours_in_stack_order() -> impl Service<u64, Response = u64> + Clone + Send {
        use resilience_tower::stack::StackClassifier;
        ServiceBuilder::new()
            .layer(
                resilience_tower::retry::RetryLayer::new(super::subjects::ours_retry_policy())
                    .with_classifier(StackClassifier)
                    .idempotency_with(StackClassifier),
            )
            .layer(CircuitBreakerLayer::new(ours_cb()).with_classifier(StackClassifier))
            .layer(resilience_tower::bulkhead::BulkheadLayer::new(
                super::subjects::ours_bulkhead(),
            ))
            .layer(resilience_tower::timeout::TimeoutLayer::new(TIMEOUT))
            .service(Noop)
    }

    /// tower 0.5's own: Timeout + Retry + ConcurrencyLimit (no breaker).
    pub fn tower3() -> impl Service<u64, Response = u64> + Clone + Send {
        ServiceBuilder::new()
            .layer(TimeoutLayer::new(TIMEOUT))
            .layer(tower::retry::RetryLayer::new(TowerAttempts(ATTEMPTS)))
            .layer(ConcurrencyLimitLayer::new(LIMIT as usize))
            .service(Noop)
    }

    /// tower's Timeout + Retry + our CircuitBreakerLayer + ConcurrencyLimit.
    pub fn tower3_ours_breaker() -> impl Service<u64, Response = u64> + Clone + Send {
        ServiceBuilder::new()
            .layer(TimeoutLayer::new(TIMEOUT))
            .layer(tower::retry::RetryLayer::new(TowerAttempts(ATTEMPTS)))
            .layer(CircuitBreakerLayer::new(ours_cb()))
            .layer(ConcurrencyLimitLayer::new(LIMIT as usize))
            .service(Noop)
    }
}
