//! Hot paths allocate nothing: a counting global allocator (thread-local
//! counts, so other test threads do not interfere) measures each path after a
//! warm-up, and any heap allocation fails the test.
//!
//! Tower services are driven by hand (`poll_ready`, `call`, poll the
//! response) with a no-op waker inside an entered tokio runtime context, so
//! no executor allocates inside the measured region: what is counted is the
//! layers' own allocations.

mod common;

use common::{assert_no_alloc, CALLS};
use std::future::{ready, Future, Ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use resilience::bulkhead::{Bulkhead, BulkheadConfig};
use resilience::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitBreakerRegistry};
use resilience::clock::ManualClock;
use resilience::rate_limit::{RateLimiter, RateLimiterConfig};
use resilience_tower::circuit_breaker::CircuitBreakerLayer;
use tower::{Layer, Service};

#[test]
fn circuit_breaker_hot_paths_do_not_allocate() {
    let count = CircuitBreaker::new(CircuitBreakerConfig::new().count_window(100)).unwrap();
    assert_no_alloc("closed breaker acquire+record (count window)", || {
        count.try_acquire().unwrap().record_success();
    });
    // Metrics-only mode evaluates every failure (and would trip) without
    // changing state, so the failure path can be measured in a loop.
    let failing = CircuitBreaker::new(
        CircuitBreakerConfig::new()
            .count_window(100)
            .minimum_calls(1),
    )
    .unwrap();
    failing.metrics_only();
    assert_no_alloc(
        "closed breaker acquire+record failure with evaluation",
        || {
            failing.try_acquire().unwrap().record_failure();
        },
    );
    assert_no_alloc("owned permit", || {
        count.try_acquire_owned().unwrap().record_success();
    });

    let clock = ManualClock::new();
    let time = CircuitBreaker::with_clock(
        CircuitBreakerConfig::new()
            .time_window(Duration::from_secs(60))
            .slow_calls(Duration::from_secs(1), 0.9),
        clock.clone(),
    )
    .unwrap();
    assert_no_alloc(
        "closed breaker acquire+record (time window, slow calls)",
        || {
            clock.advance(Duration::from_millis(7));
            time.try_acquire().unwrap().record_success();
        },
    );
    // The untimed time window: successes into a clean window take the
    // short path (a store into the thread's stripe), owned or borrowed.
    let plain =
        CircuitBreaker::new(CircuitBreakerConfig::new().time_window(Duration::from_secs(60)))
            .unwrap();
    assert_no_alloc("closed breaker call (time window)", || {
        plain.call(|| Ok::<(), ()>(())).unwrap();
        plain.try_acquire_owned().unwrap().record_success();
    });

    // The same on a coarse clock (the time read from memory).
    let coarse = CircuitBreaker::with_clock(
        CircuitBreakerConfig::new().time_window(Duration::from_secs(60)),
        resilience::clock::CoarseClock::start(Duration::from_millis(1)).unwrap(),
    )
    .unwrap();
    assert_no_alloc("closed breaker call (time window, coarse clock)", || {
        coarse.call(|| Ok::<(), ()>(())).unwrap();
        coarse.try_acquire_owned().unwrap().record_success();
    });

    let open = CircuitBreaker::new(CircuitBreakerConfig::new().consecutive_failures(1)).unwrap();
    open.try_acquire().unwrap().record_failure();
    assert_no_alloc("open breaker rejection", || {
        assert!(open.try_acquire().is_err());
    });

    let registry = CircuitBreakerRegistry::<String>::builder(CircuitBreakerConfig::default())
        .global(CircuitBreakerConfig::default())
        .build()
        .unwrap();
    assert_no_alloc("keyed acquire+record for an existing key", || {
        registry.try_acquire("model-a").unwrap().record_success();
    });

    // The scalable registry (shared metric handles), a thousand keys:
    // lookups of any existing key, successes and failures, and the
    // rejection by an open key's breaker.
    let keyed = CircuitBreakerRegistry::<u64>::builder(
        CircuitBreakerConfig::new()
            .count_window(10)
            .consecutive_failures(3),
    )
    .capacity(2_000)
    .per_key_metrics(false)
    .build()
    .unwrap();
    for k in 0..1_000u64 {
        keyed.try_acquire(&k).unwrap().record_success();
    }
    for _ in 0..3 {
        keyed.try_acquire(&999).unwrap().record_failure();
    }
    let (mut k, mut i) = (0u64, 0u64);
    assert_no_alloc("registry: acquire+record on existing keys", || {
        k = (k + 7) % 999;
        i += 1;
        let p = keyed.try_acquire(&k).unwrap();
        // One call in ten fails; a key meets a failure at most every
        // tenth visit, so none reaches three in a row and opens.
        if i % 10 == 0 {
            p.record_failure()
        } else {
            p.record_success()
        }
    });
    assert_no_alloc("registry: an open key rejects", || {
        assert!(keyed.try_acquire(&999).is_err());
    });
}

#[test]
fn bulkhead_acquire_release_does_not_allocate() {
    let b = Bulkhead::new("api", BulkheadConfig::new(100)).unwrap();
    assert_no_alloc("bulkhead try_acquire + release", || {
        drop(b.try_acquire().unwrap());
    });
    let owned = Bulkhead::new("db", BulkheadConfig::new(100)).unwrap();
    assert_no_alloc("bulkhead try_acquire_owned + release", || {
        drop(owned.try_acquire_owned().unwrap());
    });
    let full = Bulkhead::new("full", BulkheadConfig::new(1)).unwrap();
    let _held = full.try_acquire().unwrap();
    // A rejection carries the bulkhead's name (shared, not copied).
    assert_no_alloc("bulkhead rejection when full", || {
        assert!(full.try_acquire().is_err());
    });
}

#[test]
fn rate_limiter_admit_and_refuse_do_not_allocate() {
    let clock = ManualClock::new();
    let limiter = RateLimiter::with_clock(
        RateLimiterConfig::per_second(1_000)
            .burst(10)
            .name("llm-provider"),
        clock.clone(),
    )
    .unwrap();
    assert_no_alloc("rate limiter admits a permit", || {
        clock.advance(Duration::from_millis(1));
        limiter.try_acquire().unwrap();
    });
    clock.advance(Duration::from_secs(1));
    limiter.try_acquire_n(10).unwrap();
    // A refusal copies the (short) name inline: no allocation, no refcount.
    assert_no_alloc("rate limiter refuses with retry_after", || {
        assert!(limiter.try_acquire().is_err());
    });
}

/// The innermost service: echoes the request, ready at once.
#[derive(Debug, Clone, Copy)]
struct Echo;

#[derive(Debug)]
struct EchoError;

impl std::fmt::Display for EchoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("echo failed")
    }
}

impl std::error::Error for EchoError {}

impl Service<u64> for Echo {
    type Response = u64;
    type Error = EchoError;
    type Future = Ready<Result<u64, EchoError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), EchoError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: u64) -> Self::Future {
        ready(Ok(req))
    }
}

/// One request through `svc` with a no-op waker; every future here is ready
/// at once, so `Pending` is a failure of the test's assumptions.
fn call_once<S: Service<u64>>(svc: &mut S, req: u64) -> Result<S::Response, S::Error> {
    let mut cx = Context::from_waker(Waker::noop());
    match svc.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(e)) => return Err(e),
        Poll::Pending => panic!("service not ready"),
    }
    let mut fut = pin!(svc.call(req));
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(r) => r,
        Poll::Pending => panic!("response not ready"),
    }
}

#[test]
fn tower_circuit_breaker_success_path_does_not_allocate() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let breaker = CircuitBreaker::new(CircuitBreakerConfig::new().count_window(100)).unwrap();
    let mut svc = CircuitBreakerLayer::new(breaker).layer(Echo);
    assert_no_alloc("call through CircuitBreakerLayer (success)", || {
        assert_eq!(call_once(&mut svc, 7).unwrap(), 7);
    });
}

#[test]
fn tower_circuit_breaker_open_path_does_not_allocate() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let breaker = CircuitBreaker::new(CircuitBreakerConfig::new().consecutive_failures(1)).unwrap();
    breaker.try_acquire().unwrap().record_failure();
    let mut svc = CircuitBreakerLayer::new(breaker).layer(Echo);
    // The layer's error type is tower's `BoxError`: the refusal is boxed,
    // one allocation of the `CircuitOpen` itself (the core rejection
    // allocates nothing, see above); nothing else allocates.
    let mut reject = || {
        let mut cx = Context::from_waker(Waker::noop());
        // The open breaker refuses in `poll_ready` or in the response.
        let refused = match svc.poll_ready(&mut cx) {
            Poll::Ready(Err(_)) => true,
            Poll::Ready(Ok(())) => {
                let mut fut = pin!(svc.call(7));
                matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Err(_)))
            }
            Poll::Pending => false,
        };
        assert!(refused);
    };
    reject();
    let info = allocation_counter::measure(|| {
        for _ in 0..CALLS {
            reject();
        }
    });
    assert_eq!(
        (info.count_total, info.bytes_total),
        (
            CALLS as u64,
            (CALLS * std::mem::size_of::<resilience::circuit_breaker::CircuitOpen>()) as u64
        ),
        "call through CircuitBreakerLayer (open: rejected): one boxed CircuitOpen per call"
    );
}

#[test]
fn tower_retry_success_path_does_not_allocate() {
    use resilience::retry::{Backoff, RetryPolicy};
    use resilience_tower::retry::RetryLayer;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let policy = RetryPolicy::builder(
        Backoff::exponential(Duration::from_millis(100), Duration::from_secs(10)).unwrap(),
    )
    .max_attempts(3)
    .build()
    .unwrap();
    let mut svc = RetryLayer::new(policy).layer(Echo);
    assert_no_alloc("call through RetryLayer (first attempt succeeds)", || {
        assert_eq!(call_once(&mut svc, 7).unwrap(), 7);
    });
    // The drivers too.
    let policy = RetryPolicy::builder(Backoff::constant(Duration::from_millis(1)))
        .max_attempts(3)
        .build()
        .unwrap();
    let classify = |_: &EchoError| resilience::retry::ErrorClass::Transient.into();
    assert_no_alloc("RetryPolicy::run_blocking (first attempt succeeds)", || {
        assert_eq!(
            policy
                .run_blocking(&classify, Ok::<u32, EchoError>)
                .unwrap(),
            1
        );
    });
    assert_no_alloc("RetryPolicy::run (first attempt succeeds)", || {
        let fut = pin!(policy.run(
            &classify,
            |n| ready(Ok::<u32, EchoError>(n)),
            tokio::time::sleep
        ));
        let mut fut = fut;
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(1))));
    });
}

#[test]
fn tower_timeout_ready_path_does_not_allocate() {
    use resilience_tower::timeout::TimeoutLayer;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let mut svc = TimeoutLayer::new(Duration::from_secs(1)).layer(Echo);
    assert_no_alloc("call through TimeoutLayer (ready at once)", || {
        assert_eq!(call_once(&mut svc, 7).unwrap(), 7);
    });
}

#[test]
fn full_tower_stack_success_path_does_not_allocate() {
    use resilience::retry::{Backoff, RetryPolicy};
    use resilience_tower::bulkhead::BulkheadLayer;
    use resilience_tower::retry::RetryLayer;
    use resilience_tower::timeout::TimeoutLayer;
    use tower::ServiceBuilder;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let policy = RetryPolicy::builder(
        Backoff::exponential(Duration::from_millis(100), Duration::from_secs(10)).unwrap(),
    )
    .max_attempts(3)
    .build()
    .unwrap();
    let breaker = CircuitBreaker::new(CircuitBreakerConfig::new().count_window(100)).unwrap();
    let bulkhead = Bulkhead::new("stack", BulkheadConfig::new(100)).unwrap();
    // timeout -> retry -> breaker -> bulkhead -> service, outermost first.
    let mut svc = ServiceBuilder::new()
        .layer(TimeoutLayer::new(Duration::from_secs(1)))
        .layer(RetryLayer::new(policy))
        .layer(CircuitBreakerLayer::new(breaker.clone()))
        .layer(BulkheadLayer::new(bulkhead.clone()))
        .service(Echo);
    assert_no_alloc(
        "call through timeout+retry+breaker+bulkhead (success)",
        || {
            assert_eq!(call_once(&mut svc, 7).unwrap(), 7);
        },
    );
    assert_eq!(bulkhead.in_flight(), 0);
    assert!(breaker.metrics().window.calls > 0);
}

#[test]
fn tower_bulkhead_uncontended_path_does_not_allocate() {
    use resilience_tower::bulkhead::BulkheadLayer;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let bulkhead = Bulkhead::new("layer", BulkheadConfig::new(100)).unwrap();
    let mut svc = BulkheadLayer::new(bulkhead.clone()).layer(Echo);
    assert_no_alloc("call through BulkheadLayer (permit free)", || {
        assert_eq!(call_once(&mut svc, 7).unwrap(), 7);
    });
    assert_eq!(bulkhead.in_flight(), 0);
}

#[test]
fn resilience_stack_success_path_does_not_allocate() {
    use resilience_tower::stack::ResilienceStack;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let stack = ResilienceStack::from_yaml(
        r#"
name: zero-alloc
retry:
  backoff: { kind: exponential, initial: 100ms, max: 10s, max_attempts: 3 }
circuit_breaker: { window: { count: 100 }, minimum_calls: 100, failure_rate_threshold: 0.5, open_duration: 30s }
bulkhead: { max_concurrent: 100 }
timeout: 1s
"#,
    )
    .unwrap();
    let mut svc = stack.layer(Echo);
    assert_no_alloc("call through ResilienceStack (success)", || {
        assert_eq!(call_once(&mut svc, 7).unwrap(), 7);
    });
    // Without a retry the stack's retry slot passes calls through.
    let once = ResilienceStack::from_yaml(
        "circuit_breaker: { window: { count: 100 }, minimum_calls: 100, failure_rate_threshold: 0.5, open_duration: 30s }\ntimeout: 1s\n",
    )
    .unwrap();
    let mut svc = once.layer(Echo);
    assert_no_alloc("call through ResilienceStack without a retry", || {
        assert_eq!(call_once(&mut svc, 7).unwrap(), 7);
    });
    // A deadline that the per-attempt timeout keeps (10 s against 1 s
    // attempts, as in the README's config) needs no timer: nothing more.
    let kept = ResilienceStack::from_yaml(
        "deadline: 10s\nretry: { backoff: { kind: constant, initial: 100ms, max_attempts: 3 } }\ntimeout: 1s\n",
    )
    .unwrap();
    let mut svc = kept.layer(Echo);
    assert_no_alloc(
        "call through ResilienceStack (deadline kept by the timeout)",
        || {
            assert_eq!(call_once(&mut svc, 7).unwrap(), 7);
        },
    );
    // A deadline with no per-attempt timeout needs a timer of its own; its
    // future is boxed (so other stacks' futures carry no deadline level):
    // exactly one allocation per call, and nothing else.
    let timed = ResilienceStack::from_yaml(
        "deadline: 10s\nretry: { backoff: { kind: constant, initial: 100ms, max_attempts: 3 } }\n",
    )
    .unwrap();
    let mut svc = timed.layer(Echo);
    assert_eq!(call_once(&mut svc, 7).unwrap(), 7);
    let info = allocation_counter::measure(|| {
        for _ in 0..CALLS {
            assert_eq!(call_once(&mut svc, 7).unwrap(), 7);
        }
    });
    assert_eq!(
        info.count_total, CALLS as u64,
        "call through ResilienceStack whose deadline has its own timer: one box per call"
    );
}

#[test]
fn rate_limited_stack_and_layer_admit_without_allocating() {
    use resilience_tower::rate_limit::RateLimitLayer;
    use resilience_tower::stack::ResilienceStack;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    // Far more permits than the measured calls take.
    let stack = ResilienceStack::from_yaml(
        "name: zero-alloc\nrate_limit: { rate: 1000000000, per: 1s }\n\
         retry: { backoff: { kind: constant, initial: 100ms, max_attempts: 3 } }\ntimeout: 1s",
    )
    .unwrap();
    let mut svc = stack.layer(Echo);
    assert_no_alloc(
        "call through a rate-limited ResilienceStack (admitted)",
        || {
            assert_eq!(call_once(&mut svc, 7).unwrap(), 7);
        },
    );
    let mut layer = RateLimitLayer::from_config(RateLimiterConfig::new(
        1_000_000_000,
        Duration::from_secs(1),
    ))
    .unwrap()
    .layer(Echo);
    assert_no_alloc("call through RateLimitLayer (admitted)", || {
        assert_eq!(call_once(&mut layer, 7).unwrap(), 7);
    });
}

#[test]
fn fleet_rate_limiter_admit_and_refuse_do_not_allocate() {
    use resilience::rate_limit::RateLimit;
    use resilience_store::fleet::{FleetRateLimiter, FleetRateLimiterConfig, InMemoryFleetStore};
    use std::sync::Arc;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let store = Arc::new(InMemoryFleetStore::new());
    // A batch far larger than the measured calls: no refill is due.
    let open = rt
        .block_on(FleetRateLimiter::start(
            FleetRateLimiterConfig::new(
                "fleet-open",
                RateLimiterConfig::per_second(1_000_000).burst(4_000_000),
            )
            .with_batch(1_000_000),
            store.clone(),
        ))
        .unwrap();
    assert_no_alloc("fleet rate limiter admits a leased permit", || {
        open.try_acquire().unwrap();
    });
    let spent = rt
        .block_on(FleetRateLimiter::start(
            FleetRateLimiterConfig::new(
                "fleet-spent",
                RateLimiterConfig::new(1, Duration::from_secs(3600)),
            )
            .with_batch(1),
            store,
        ))
        .unwrap();
    spent.try_acquire().unwrap();
    // A refusal asks the background task for a refill (a notification)
    // and copies the short name inline.
    assert_no_alloc("fleet rate limiter refuses with retry_after", || {
        assert!(spent.try_acquire().is_err());
    });
}
