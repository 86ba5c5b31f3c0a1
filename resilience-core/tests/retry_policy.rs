//! Every retry rule on a `ManualClock`: classification, idempotency,
//! exhaustion, deadline, Retry-After, budgets, hooks, events and metrics;
//! plus a proptest comparing the policy (and `may_retry`) with a reference model.

mod common;

use common::{counter, histogram, take};

use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use metrics_util::debugging::DebuggingRecorder;
use proptest::prelude::*;
use resilience_core::clock::{Clock, ManualClock};
use resilience_core::retry::{
    Backoff, ClassSet, Classification, DefaultClassifier, ErrorClass, GiveUpReason,
    HttpStatusClassifier, Idempotency, RatioBudget, RatioBudgetConfig, RetryConfig, RetryDecision,
    RetryError, RetryEvent, RetryPolicy, TokenBucketBudget, TokenBucketConfig,
};

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

/// Polls a future to completion; the futures here never wait on anything
/// external (sleeps advance the manual clock and are ready at once).
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000_000 {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("future did not complete");
}

fn exp_policy(clock: &ManualClock, attempts: u32) -> RetryPolicy {
    RetryPolicy::builder(Backoff::exponential(100 * MS, 10 * SEC).unwrap())
        .max_attempts(attempts)
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// Runs `policy` blocking, failing with `errors` in turn and succeeding
/// after them; records the sleeps (which advance `clock`).
fn run_script(
    policy: &RetryPolicy,
    clock: &ManualClock,
    errors: &[ErrorClass],
) -> (Result<u32, RetryError<ErrorClass>>, Vec<Duration>) {
    let sleeps = RefCell::new(Vec::new());
    let out = policy.run_blocking_with(
        &DefaultClassifier,
        &mut (),
        |_, attempt| match errors.get(attempt as usize - 1) {
            Some(e) => Err(*e),
            None => Ok(attempt),
        },
        |_, _| {},
        |d| {
            sleeps.borrow_mut().push(d);
            clock.advance(d);
        },
    );
    (out, sleeps.into_inner())
}

#[test]
fn retryable_classes_are_retried_and_the_rest_fail_fast() {
    let clock = ManualClock::new();
    let policy = exp_policy(&clock, 3);
    for class in ErrorClass::ALL {
        let (out, sleeps) = run_script(&policy, &clock, &[class]);
        if class.is_retryable() {
            assert_eq!(out.unwrap(), 2, "{class}");
            assert_eq!(sleeps, [100 * MS]);
        } else {
            match out {
                Err(RetryError::NotRetryable {
                    attempts: 1,
                    class: c,
                    last,
                }) => {
                    assert_eq!(c, class);
                    assert_eq!(last, class, "the original error comes back");
                }
                other => panic!("{class}: {other:?}"),
            }
            assert!(sleeps.is_empty());
        }
    }
}

#[test]
fn exhaustion_returns_the_last_error_after_max_attempts_with_the_backoff_waits() {
    let clock = ManualClock::new();
    let policy = exp_policy(&clock, 4);
    let errors = [
        ErrorClass::Timeout,
        ErrorClass::Transient,
        ErrorClass::RateLimited,
        ErrorClass::ConnectionReset,
    ];
    let (out, sleeps) = run_script(&policy, &clock, &errors);
    match out {
        Err(RetryError::RetriesExhausted { attempts, last }) => {
            assert_eq!(attempts, 4);
            assert_eq!(last, ErrorClass::ConnectionReset);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sleeps, [100 * MS, 200 * MS, 400 * MS]);
    assert_eq!(clock.elapsed(), 700 * MS);
}

#[test]
fn attempt_limit_comes_from_the_backoff_unless_overridden() {
    let clock = ManualClock::new();
    let b = Backoff::constant(MS).with_max_attempts(5).unwrap();
    let p = RetryPolicy::builder(b.clone()).build().unwrap();
    assert_eq!(p.max_attempts(), 5);
    let p = RetryPolicy::builder(b).max_attempts(2).build().unwrap();
    assert_eq!(p.max_attempts(), 2);
    let p = RetryPolicy::builder(Backoff::constant(MS))
        .clock(clock.clone())
        .build()
        .unwrap();
    assert_eq!(
        p.max_attempts(),
        resilience_core::retry::DEFAULT_MAX_ATTEMPTS
    );
    let (out, _) = run_script(&p, &clock, &[ErrorClass::Timeout; 10]);
    assert_eq!(out.unwrap_err().attempts(), 3);
    // One attempt means no retry at all.
    let p = RetryPolicy::builder(Backoff::constant(MS))
        .max_attempts(1)
        .clock(clock.clone())
        .build()
        .unwrap();
    let (out, sleeps) = run_script(&p, &clock, &[ErrorClass::Timeout]);
    assert!(matches!(
        out,
        Err(RetryError::RetriesExhausted { attempts: 1, .. })
    ));
    assert!(sleeps.is_empty());
}

#[test]
fn non_idempotent_calls_retry_only_when_the_request_never_left() {
    let clock = ManualClock::new();
    let policy = RetryPolicy::builder(Backoff::constant(10 * MS))
        .max_attempts(3)
        .idempotency(Idempotency::NonIdempotent)
        .clock(clock.clone())
        .build()
        .unwrap();
    let (out, _) = run_script(
        &policy,
        &clock,
        &[ErrorClass::ConnectFailed, ErrorClass::ConnectFailed],
    );
    assert_eq!(out.unwrap(), 3);
    for class in [
        ErrorClass::Timeout,
        ErrorClass::ServerError,
        ErrorClass::ConnectionReset,
        ErrorClass::Transient,
        ErrorClass::RateLimited,
    ] {
        let (out, sleeps) = run_script(&policy, &clock, &[class]);
        match out {
            Err(e @ RetryError::NotIdempotent { attempts: 1, .. }) => {
                assert_eq!(e.reason(), GiveUpReason::NotIdempotent { class });
                assert!(e.to_string().contains("idempotency key"));
            }
            other => panic!("{class}: {other:?}"),
        }
        assert!(sleeps.is_empty());
    }
    // A fail-fast class is reported as not retryable, not as non-idempotent.
    let (out, _) = run_script(&policy, &clock, &[ErrorClass::NotFound]);
    assert!(matches!(out, Err(RetryError::NotRetryable { .. })));

    // Per-call idempotency overrides the policy's default.
    let idem = exp_policy(&clock, 3);
    let now = clock.now();
    let mut post = idem.start_with(now, Idempotency::for_http_method("POST"));
    assert_eq!(
        idem.next(&mut post, now, ErrorClass::Timeout.into()),
        RetryDecision::GiveUp(GiveUpReason::NotIdempotent {
            class: ErrorClass::Timeout
        })
    );
    let mut get = idem.start_with(now, Idempotency::for_http_method("GET"));
    assert!(idem
        .next(&mut get, now, ErrorClass::Timeout.into())
        .is_retry());
}

#[test]
fn deadline_stops_a_retry_whose_wait_would_end_too_late() {
    let clock = ManualClock::new();
    let policy = RetryPolicy::builder(Backoff::exponential(SEC, 60 * SEC).unwrap())
        .max_attempts(10)
        .deadline(10 * SEC)
        .clock(clock.clone())
        .build()
        .unwrap();
    // Each attempt itself takes 1s of (manual) time.
    let sleeps = RefCell::new(Vec::new());
    let out: Result<(), _> = policy.run_blocking_with(
        &DefaultClassifier,
        &mut (),
        |_, _| {
            clock.advance(SEC);
            Err(ErrorClass::Timeout)
        },
        |_, _| {},
        |d| {
            sleeps.borrow_mut().push(d);
            clock.advance(d);
        },
    );
    // t=1 fail, wait 1 -> t=2..3 fail, wait 2 -> t=5..6 fail, wait 4 -> t=10..11 fail:
    // after attempt 3 (t=6) the 4s wait ends at t=10 <= 10: allowed.
    // after attempt 4 (t=11) elapsed already exceeds the deadline.
    assert_eq!(*sleeps.borrow(), [SEC, 2 * SEC, 4 * SEC]);
    match out {
        Err(RetryError::DeadlineExceeded {
            attempts,
            elapsed,
            deadline,
            last,
        }) => {
            assert_eq!(attempts, 4);
            assert_eq!(elapsed, 11 * SEC);
            assert_eq!(deadline, 10 * SEC);
            assert_eq!(last, ErrorClass::Timeout);
        }
        other => panic!("{other:?}"),
    }

    // The state reports the time left, for per-attempt timeouts.
    let t0 = clock.now();
    let s = policy.start(t0);
    clock.advance(3 * SEC);
    assert_eq!(s.remaining(clock.now()), Some(7 * SEC));
    clock.advance(30 * SEC);
    assert_eq!(s.remaining(clock.now()), Some(Duration::ZERO));
    assert_eq!(exp_policy(&clock, 2).start(t0).remaining(t0), None);
}

#[test]
fn retry_after_is_honoured_and_bounded() {
    let clock = ManualClock::new();
    let policy = RetryPolicy::builder(Backoff::constant(100 * MS))
        .max_attempts(5)
        .max_retry_after(60 * SEC)
        .clock(clock.clone())
        .build()
        .unwrap();
    let now = clock.now();
    let mut s = policy.start(now);
    let rate_limited = |after| Classification::new(ErrorClass::RateLimited).with_retry_after(after);
    // Longer than the backoff: wait what the server asked.
    assert_eq!(
        policy.next(&mut s, now, rate_limited(3 * SEC)),
        RetryDecision::Retry {
            after: 3 * SEC,
            attempt: 2
        }
    );
    // Shorter than the backoff: the backoff still applies.
    assert_eq!(
        policy.next(&mut s, now, rate_limited(10 * MS)),
        RetryDecision::Retry {
            after: 100 * MS,
            attempt: 3
        }
    );
    // Longer than max_retry_after: give up rather than wait an hour.
    assert_eq!(
        policy.next(&mut s, now, rate_limited(3600 * SEC)),
        RetryDecision::GiveUp(GiveUpReason::RetryAfterTooLong {
            requested: 3600 * SEC,
            limit: 60 * SEC
        })
    );
    // A Retry-After beyond the deadline gives up too.
    let tight = RetryPolicy::builder(Backoff::constant(100 * MS))
        .deadline(5 * SEC)
        .build()
        .unwrap();
    let mut s = tight.start(now);
    assert!(matches!(
        tight.next(&mut s, now, rate_limited(6 * SEC)),
        RetryDecision::GiveUp(GiveUpReason::DeadlineExceeded { .. })
    ));
}

#[derive(Debug, Clone, PartialEq)]
struct HttpFailure {
    status: u16,
    retry_after: Option<&'static str>,
}

#[test]
fn http_statuses_drive_retries_with_both_retry_after_forms() {
    let clock = ManualClock::new();
    let policy = RetryPolicy::builder(Backoff::constant(100 * MS))
        .max_attempts(5)
        .clock(clock.clone())
        .build()
        .unwrap();
    // The wall-clock "now" for HTTP dates is a parameter: fixed here.
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // Wed, 21 Oct 2015 07:28:00 GMT
    let http = HttpStatusClassifier::new();
    let classify = |f: &HttpFailure| -> Classification {
        http.classify(f.status, f.retry_after, wall)
            .unwrap_or(Classification::new(ErrorClass::Permanent))
    };
    let script = [
        HttpFailure {
            status: 503,
            retry_after: Some("Wed, 21 Oct 2015 07:28:02 GMT"),
        },
        HttpFailure {
            status: 429,
            retry_after: Some("1"),
        },
        HttpFailure {
            status: 502,
            retry_after: None,
        },
    ];
    let sleeps = RefCell::new(Vec::new());
    let out = policy.run_blocking_with(
        &classify,
        &mut (),
        |_, n| script.get(n as usize - 1).cloned().map_or(Ok(n), Err),
        |_, _| {},
        |d| {
            sleeps.borrow_mut().push(d);
            clock.advance(d);
        },
    );
    assert_eq!(out.unwrap(), 4);
    assert_eq!(*sleeps.borrow(), [2 * SEC, SEC, 100 * MS]);
    // A 404 fails fast, with the original failure.
    let out: Result<(), _> = policy.run_blocking_with(
        &classify,
        &mut (),
        |_, _| {
            Err(HttpFailure {
                status: 404,
                retry_after: None,
            })
        },
        |_, _| {},
        |d| clock.advance(d),
    );
    assert_eq!(out.unwrap_err().into_last().status, 404);
}

#[test]
fn token_bucket_budget_exhaustion_fails_fast_with_its_own_error_and_metric() {
    let recorder = DebuggingRecorder::new();
    let snap = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let clock = ManualClock::new();
        let budget = Arc::new(
            TokenBucketBudget::new(TokenBucketConfig {
                capacity: 10,
                retry_cost: 5,
                timeout_retry_cost: 10,
                success_refund: 1,
            })
            .unwrap(),
        );
        let policy = RetryPolicy::builder(Backoff::constant(MS))
            .name("inventory")
            .max_attempts(3)
            .budget(budget.clone())
            .clock(clock.clone())
            .build()
            .unwrap();
        // Call 1: two transient failures use both retries (10 tokens).
        let (out, _) = run_script(&policy, &clock, &[ErrorClass::Transient; 2]);
        assert_eq!(out.unwrap(), 3);
        // Its success refunded the last retry's 5 tokens.
        assert_eq!(budget.tokens(), 5);
        // Call 2: one retry (5 tokens), then the budget refuses.
        let (out, sleeps) = run_script(&policy, &clock, &[ErrorClass::Transient; 5]);
        match out {
            Err(e @ RetryError::RetryBudgetExhausted { attempts: 2, .. }) => {
                assert_eq!(*e.last(), ErrorClass::Transient);
                assert!(e.to_string().contains("retry budget is exhausted"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(sleeps.len(), 1);
        assert_eq!(budget.tokens(), 0);
        // Call 3: the budget is empty: no retry at all.
        let (out, sleeps) = run_script(&policy, &clock, &[ErrorClass::Timeout]);
        assert!(matches!(
            out,
            Err(RetryError::RetryBudgetExhausted { attempts: 1, .. })
        ));
        assert!(sleeps.is_empty());
        // First-try successes refill it slowly (1 token each).
        for _ in 0..5 {
            let (out, _) = run_script(&policy, &clock, &[]);
            assert_eq!(out.unwrap(), 1);
        }
        assert_eq!(budget.tokens(), 5);
        let (out, _) = run_script(&policy, &clock, &[ErrorClass::Transient]);
        assert_eq!(out.unwrap(), 2);
    });
    let snap = take(&snap);
    let p = [("policy", "inventory")];
    assert_eq!(
        counter(&snap, "resilience_retry_budget_exhausted_total", &p),
        2
    );
    assert_eq!(
        counter(
            &snap,
            "resilience_retry_calls_total",
            &[("policy", "inventory"), ("result", "budget_exhausted")]
        ),
        2
    );
    assert_eq!(
        counter(
            &snap,
            "resilience_retry_calls_total",
            &[("policy", "inventory"), ("result", "success")]
        ),
        5
    );
    assert_eq!(
        counter(
            &snap,
            "resilience_retry_calls_total",
            &[("policy", "inventory"), ("result", "success_after_retry")]
        ),
        2
    );
    assert_eq!(
        counter(
            &snap,
            "resilience_retry_retries_total",
            &[("policy", "inventory"), ("class", "transient")]
        ),
        4
    );
    let delays = histogram(&snap, "resilience_retry_delay_seconds");
    assert_eq!(delays.len(), 4);
    assert!(delays.iter().all(|d| (*d - 0.001).abs() < 1e-12));
    let attempts = histogram(&snap, "resilience_retry_attempts");
    assert_eq!(attempts.len(), 9); // one per finished call
}

#[test]
fn ratio_budget_caps_retries_across_calls_over_its_ttl() {
    let clock = ManualClock::new();
    let shared: Arc<ManualClock> = Arc::new(clock.clone());
    let budget = Arc::new(
        RatioBudget::with_clock(
            RatioBudgetConfig {
                ttl: 10 * SEC,
                min_retries_per_sec: 0,
                percent_can_retry: 0.1,
            },
            shared.clone(),
        )
        .unwrap(),
    );
    let policy = RetryPolicy::builder(Backoff::constant(Duration::ZERO))
        .max_attempts(2)
        .budget(budget)
        .clock(shared)
        .build()
        .unwrap();
    // 30 calls: each makes one request; each fails once. 10% of calls may retry.
    let mut retried = 0;
    let mut refused = 0;
    for _ in 0..30 {
        match run_script(&policy, &clock, &[ErrorClass::Transient]).0 {
            Ok(2) => retried += 1,
            Err(RetryError::RetryBudgetExhausted { .. }) => refused += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(retried, 3);
    assert_eq!(refused, 27);
    // After the TTL everything has expired; new calls build a new allowance.
    clock.advance(10 * SEC);
    let (out, _) = run_script(&policy, &clock, &[ErrorClass::Transient]);
    assert!(matches!(out, Err(RetryError::RetryBudgetExhausted { .. })));
}

#[test]
fn config_from_yaml_builds_a_policy_with_its_own_budget() {
    let c: RetryConfig = resilience_core::config::from_yaml_str(
        r#"
backoff: {kind: exponential, initial: 50ms, max: 1s, max_attempts: 4}
retry_on: [timeout]
budget: {kind: token_bucket, capacity: 5, retry_cost: 5, timeout_retry_cost: 5}
"#,
    )
    .unwrap();
    let clock = ManualClock::new();
    let policy = RetryPolicy::from_config("yaml", &c, clock.clone()).unwrap();
    assert_eq!(
        policy.retry_on(),
        ClassSet::empty().with(ErrorClass::Timeout)
    );
    // Transient is not in retry_on here.
    let (out, _) = run_script(&policy, &clock, &[ErrorClass::Transient]);
    assert!(matches!(out, Err(RetryError::NotRetryable { .. })));
    // The budget pays for exactly one retry.
    let (out, _) = run_script(&policy, &clock, &[ErrorClass::Timeout; 3]);
    assert!(matches!(
        out,
        Err(RetryError::RetryBudgetExhausted { attempts: 2, .. })
    ));

    let bad: RetryConfig = resilience_core::config::from_yaml_str(
        "backoff: {kind: constant, initial: 1s}\nbudget: {kind: token_bucket, capacity: 0}\n",
    )
    .unwrap();
    let err = RetryPolicy::from_config("bad", &bad, clock).unwrap_err();
    assert_eq!(err.field(), Some("budget.capacity"));
    let err = resilience_core::config::from_yaml_str::<RetryConfig>(
        "backoff: {kind: constant, initial: 1s}\nretries: 3\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("retries"), "{err}");
}

#[derive(Debug, PartialEq)]
enum InferError {
    OutOfMemory,
    Timeout,
}

#[derive(Debug, Clone, PartialEq)]
struct Request {
    batch_size: u32,
    routing_hint: Option<&'static str>,
}

#[test]
fn hooks_log_each_retry_and_can_change_the_next_request() {
    let clock = ManualClock::new();
    let policy = exp_policy(&clock, 4);
    let classify = |e: &InferError| -> Classification {
        match e {
            InferError::OutOfMemory => ErrorClass::Transient,
            InferError::Timeout => ErrorClass::Timeout,
        }
        .into()
    };
    let mut request = Request {
        batch_size: 16,
        routing_hint: None,
    };
    let seen = RefCell::new(Vec::new());
    let log = RefCell::new(Vec::new());
    let out = policy.run_blocking_with(
        &classify,
        &mut request,
        |req, attempt| {
            seen.borrow_mut().push(req.clone());
            match attempt {
                1 => Err(InferError::Timeout),
                _ if req.batch_size > 1 => Err(InferError::OutOfMemory),
                _ => Ok(req.batch_size),
            }
        },
        |req, failed| {
            log.borrow_mut().push((
                failed.attempt,
                failed.next_attempt(),
                failed.delay,
                failed.classification.class,
            ));
            // The GPU inference platform's OOM strategy: batch size 1, larger-VRAM worker.
            if *failed.error == InferError::OutOfMemory {
                req.batch_size = 1;
                req.routing_hint = Some("larger_vram");
            }
        },
        |d| clock.advance(d),
    );
    assert_eq!(out.unwrap(), 1);
    assert_eq!(
        *log.borrow(),
        [
            (1, 2, 100 * MS, ErrorClass::Timeout),
            (2, 3, 200 * MS, ErrorClass::Transient)
        ]
    );
    let seen = seen.into_inner();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[1].batch_size, 16, "a timeout changes nothing");
    assert_eq!(
        seen[2],
        Request {
            batch_size: 1,
            routing_hint: Some("larger_vram")
        }
    );
    assert_eq!(request.batch_size, 1, "the caller sees the final request");
}

#[test]
fn async_run_sleeps_through_the_given_function_and_is_send() {
    let clock = ManualClock::new();
    let policy = Arc::new(exp_policy(&clock, 5));
    let sleeps = Arc::new(Mutex::new(Vec::new()));
    let s = sleeps.clone();
    let c = clock.clone();
    let sleep = move |d: Duration| {
        s.lock().unwrap().push(d);
        c.advance(d);
        std::future::ready(())
    };
    let p = policy.clone();
    let fut = async move {
        p.run(
            &DefaultClassifier,
            |attempt| async move {
                if attempt < 4 {
                    Err(std::io::Error::from(std::io::ErrorKind::TimedOut))
                } else {
                    Ok(attempt)
                }
            },
            sleep,
        )
        .await
    };
    fn assert_send<T: Send>(t: T) -> T {
        t
    }
    let fut = assert_send(fut);
    assert_eq!(block_on(fut).unwrap(), 4);
    assert_eq!(*sleeps.lock().unwrap(), [100 * MS, 200 * MS, 400 * MS]);
    assert_eq!(clock.elapsed(), 700 * MS);

    // A sleep that is pending once still completes (the driver awaits it).
    struct YieldOnce(bool);
    impl Future for YieldOnce {
        type Output = ();
        fn poll(mut self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                Poll::Ready(())
            } else {
                self.0 = true;
                Poll::Pending
            }
        }
    }
    let out: Result<u32, RetryError<ErrorClass>> = block_on(policy.run(
        &DefaultClassifier,
        |n| {
            std::future::ready(if n < 2 {
                Err(ErrorClass::Transient)
            } else {
                Ok(n)
            })
        },
        |_| YieldOnce(false),
    ));
    assert_eq!(out.unwrap(), 2);
}

#[test]
fn events_report_retries_success_and_give_up() {
    let clock = ManualClock::new();
    let policy = RetryPolicy::builder(Backoff::constant(5 * MS))
        .name("events")
        .max_attempts(2)
        .clock(clock.clone())
        .build()
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    policy
        .listeners()
        .add_fn(move |e: &RetryEvent| sink.lock().unwrap().push(e.clone()));
    let _ = run_script(&policy, &clock, &[ErrorClass::Timeout]);
    let _ = run_script(&policy, &clock, &[ErrorClass::Timeout, ErrorClass::Timeout]);
    let name: Arc<str> = "events".into();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            RetryEvent::Retry {
                policy: name.clone(),
                attempt: 1,
                class: ErrorClass::Timeout,
                delay: 5 * MS
            },
            RetryEvent::Success {
                policy: name.clone(),
                attempts: 2
            },
            RetryEvent::Retry {
                policy: name.clone(),
                attempt: 1,
                class: ErrorClass::Timeout,
                delay: 5 * MS
            },
            RetryEvent::GaveUp {
                policy: name,
                attempts: 2,
                class: ErrorClass::Timeout,
                reason: GiveUpReason::Exhausted
            },
        ]
    );
}

#[test]
fn error_messages_say_what_to_do_and_keep_the_source() {
    use std::error::Error as _;
    let io = std::io::Error::other("upstream said no");
    let e = RetryError::RetriesExhausted {
        attempts: 3,
        last: io,
    };
    assert!(e.to_string().contains("raise max_attempts"));
    assert_eq!(e.source().unwrap().to_string(), "upstream said no");
    let e = RetryError::from_give_up(
        GiveUpReason::DeadlineExceeded {
            elapsed: 9 * SEC,
            deadline: 10 * SEC,
        },
        4,
        std::io::Error::other("slow"),
    );
    assert!(e.to_string().contains("raise the deadline"), "{e}");
    assert_eq!(e.attempts(), 4);
    let e = RetryError::from_give_up(
        GiveUpReason::RetryAfterTooLong {
            requested: 3600 * SEC,
            limit: 300 * SEC,
        },
        1,
        (),
    );
    assert!(e.to_string().contains("max_retry_after"));
    assert_eq!(
        e.reason(),
        GiveUpReason::RetryAfterTooLong {
            requested: 3600 * SEC,
            limit: 300 * SEC
        }
    );
}

// ---------------------------------------------------------------- model test

/// The rules written out as plainly as possible: returns the wait or the
/// reason to give up, for failure number `attempt` (from 1).
#[allow(clippy::too_many_arguments)]
fn model_decide(
    attempt: u32,
    max_attempts: u32,
    class: ErrorClass,
    retry_after: Option<Duration>,
    retry_on: ClassSet,
    idempotent: bool,
    elapsed: Duration,
    deadline: Option<Duration>,
    tokens: &mut u32,
    cost: u32,
) -> Result<Duration, &'static str> {
    if !retry_on.contains(class) {
        return Err("not_retryable");
    }
    if !idempotent && class != ErrorClass::ConnectFailed {
        return Err("not_idempotent");
    }
    if attempt >= max_attempts {
        return Err("exhausted");
    }
    // initial 10ms, doubling, cap 1s
    let scheduled = (10 * MS * 2u32.pow((attempt - 1).min(20))).min(SEC);
    let mut wait = scheduled;
    if let Some(ra) = retry_after {
        if ra > 2 * SEC {
            return Err("retry_after_too_long");
        }
        wait = wait.max(ra);
    }
    if let Some(d) = deadline {
        if elapsed + wait > d {
            return Err("deadline_exceeded");
        }
    }
    if *tokens < cost {
        return Err("budget_exhausted");
    }
    *tokens -= cost;
    Ok(wait)
}

fn arb_class() -> impl Strategy<Value = ErrorClass> {
    proptest::sample::select(ErrorClass::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn policy_matches_the_reference_model(
        max_attempts in 1u32..8,
        idempotent in any::<bool>(),
        retry_on_bits in proptest::collection::vec(any::<bool>(), 10),
        deadline_ms in proptest::option::of(1u64..5_000),
        capacity in 1u32..40,
        calls in proptest::collection::vec(
            proptest::collection::vec(
                (arb_class(), proptest::option::of(0u64..3_000), 0u64..500),
                1..10,
            ),
            1..6,
        ),
    ) {
        let retry_on: ClassSet = ErrorClass::ALL
            .iter()
            .zip(&retry_on_bits)
            .filter(|(_, on)| **on)
            .map(|(c, _)| *c)
            .collect();
        let clock = ManualClock::new();
        let budget = Arc::new(TokenBucketBudget::new(TokenBucketConfig {
            capacity,
            retry_cost: 1,
            timeout_retry_cost: 1,
            success_refund: 0,
        }).unwrap());
        let mut b = RetryPolicy::builder(Backoff::exponential(10 * MS, SEC).unwrap())
            .max_attempts(max_attempts)
            .idempotency(if idempotent { Idempotency::Idempotent } else { Idempotency::NonIdempotent })
            .retry_on(retry_on)
            .max_retry_after(2 * SEC)
            .budget(budget.clone())
            .clock(clock.clone());
        if let Some(d) = deadline_ms {
            b = b.deadline(Duration::from_millis(d));
        }
        let policy = b.build().unwrap();
        let mut tokens = capacity;
        for failures in calls {
            let mut state = policy.start(clock.now());
            let start = clock.now();
            for (i, (class, ra, work_ms)) in failures.iter().enumerate() {
                // the attempt takes some time, then fails
                clock.advance(Duration::from_millis(*work_ms));
                let attempt = u32::try_from(i).unwrap() + 1;
                let ra = ra.map(Duration::from_millis);
                let mut c = Classification::new(*class);
                if let Some(ra) = ra { c = c.with_retry_after(ra); }
                let may = policy.may_retry(&state, *class);
                let got = policy.next(&mut state, clock.now(), c);
                let want = model_decide(
                    attempt, max_attempts, *class, ra, retry_on, idempotent,
                    clock.now() - start, deadline_ms.map(Duration::from_millis),
                    &mut tokens, 1,
                );
                // `may_retry` is exactly "not refused by a time-free check".
                let refused_early = matches!(
                    want,
                    Err("not_retryable" | "not_idempotent" | "exhausted")
                );
                prop_assert_eq!(may, !refused_early);
                match (got, want) {
                    (RetryDecision::Retry { after, attempt: next }, Ok(wait)) => {
                        prop_assert_eq!(after, wait);
                        prop_assert_eq!(next, attempt + 1);
                        clock.advance(after);
                    }
                    (RetryDecision::GiveUp(reason), Err(label)) => {
                        prop_assert_eq!(reason.as_str(), label);
                        break;
                    }
                    (got, want) => prop_assert!(false, "policy {:?} vs model {:?}", got, want),
                }
            }
            prop_assert_eq!(budget.tokens(), tokens);
        }
    }
}

#[test]
fn max_attempts_lives_in_one_place() {
    let backoff = Backoff::constant(Duration::from_millis(1))
        .with_max_attempts(3)
        .unwrap();
    let policy = RetryPolicy::builder(backoff)
        .max_attempts(5)
        .build()
        .unwrap();
    assert_eq!(policy.max_attempts(), 5);
    assert_eq!(
        policy.backoff().max_attempts(),
        Some(5),
        "the builder's max_attempts is the backoff's"
    );
    let bad = RetryPolicy::builder(Backoff::constant(Duration::ZERO)).max_attempts(0);
    assert_eq!(bad.build().unwrap_err().field(), Some("max_attempts"));
}

/// `record_success` has a short path (first attempt, no budget) and a long
/// one (after retries, or with a budget): both count, record and report a
/// success the same way.
#[test]
fn successes_are_counted_alike_on_every_path() {
    let recorder = DebuggingRecorder::new();
    let snap = recorder.snapshotter();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let budget = Arc::new(TokenBucketBudget::new(TokenBucketConfig::default()).unwrap());
    metrics::with_local_recorder(&recorder, || {
        let clock = ManualClock::new();
        let plain = RetryPolicy::builder(Backoff::constant(MS))
            .name("plain")
            .clock(clock.clone())
            .build()
            .unwrap();
        let budgeted = RetryPolicy::builder(Backoff::constant(MS))
            .name("budgeted")
            .budget(budget.clone())
            .clock(clock.clone())
            .build()
            .unwrap();
        for policy in [&plain, &budgeted] {
            let sink = seen.clone();
            policy
                .listeners()
                .add_fn(move |e: &RetryEvent| sink.lock().unwrap().push(e.clone()));
            assert_eq!(run_script(policy, &clock, &[]).0.unwrap(), 1);
            assert_eq!(
                run_script(policy, &clock, &[ErrorClass::Transient])
                    .0
                    .unwrap(),
                2
            );
        }
    });
    // The budget saw two calls, one retry refunded and two successes.
    assert_eq!(budget.tokens(), 500);
    let snap = take(&snap);
    for name in ["plain", "budgeted"] {
        for result in ["success", "success_after_retry"] {
            assert_eq!(
                counter(
                    &snap,
                    "resilience_retry_calls_total",
                    &[("policy", name), ("result", result)]
                ),
                1,
                "{name} {result}"
            );
        }
    }
    let mut attempts = histogram(&snap, "resilience_retry_attempts");
    attempts.sort_by(f64::total_cmp);
    assert_eq!(attempts, [1.0, 1.0, 2.0, 2.0]);
    let successes: Vec<(String, u32)> = seen
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            RetryEvent::Success { policy, attempts } => Some((policy.to_string(), *attempts)),
            _ => None,
        })
        .collect();
    assert_eq!(
        successes,
        [
            ("plain".to_owned(), 1),
            ("plain".to_owned(), 2),
            ("budgeted".to_owned(), 1),
            ("budgeted".to_owned(), 2),
        ]
    );
}

#[test]
fn give_up_messages_round_measured_durations() {
    // An elapsed time measured by a real clock, and a wait computed from an
    // HTTP-date `Retry-After`, carry nanoseconds; the messages do not.
    let deadline = RetryError::DeadlineExceeded {
        attempts: 4,
        elapsed: Duration::from_nanos(11_000_466_789),
        deadline: 10 * SEC,
        last: ErrorClass::Timeout,
    };
    assert_eq!(
        deadline.to_string(),
        "gave up after 4 attempt(s): the next retry would end after the 10s deadline \
         (11s elapsed); raise the deadline or shorten the backoff"
    );
    let too_long = RetryError::RetryAfterTooLong {
        attempts: 1,
        requested: Duration::from_nanos(119_734_000_001),
        limit: 60 * SEC,
        last: ErrorClass::Transient,
    };
    assert_eq!(
        too_long.to_string(),
        "gave up after 1 attempt(s): the dependency asked to retry after 2m, longer than \
         max_retry_after (1m); retry later or raise max_retry_after"
    );
    // The durations themselves stay exact.
    assert!(matches!(
        too_long,
        RetryError::RetryAfterTooLong { requested, .. } if requested == Duration::from_nanos(119_734_000_001)
    ));
}
