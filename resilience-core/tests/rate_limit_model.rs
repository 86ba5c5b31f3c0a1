//! Model test: random sequences of clock advances and `try_acquire_n`
//! calls, run against a rate limiter and against a plain token bucket
//! whose credit is kept in nanoseconds of 128-bit integers (refilled by the
//! time that passed, capped at `burst` emission intervals, spending `n`
//! intervals per `n` permits). GCRA and that bucket are the same algorithm
//! written two ways, so the two must agree exactly on every admission,
//! every `retry_after` and every `available`.

use std::time::Duration;

use proptest::prelude::*;
use resilience_core::clock::ManualClock;
use resilience_core::rate_limit::{RateLimiter, RateLimiterConfig};

#[derive(Debug, Clone)]
enum Op {
    Advance(u64),
    Acquire(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u64..3_000_000_000).prop_map(Op::Advance),
        (0u64..5_000).prop_map(Op::Advance),
        (0u32..8).prop_map(Op::Acquire),
        (0u32..60).prop_map(Op::Acquire),
    ]
}

/// The reference: credit in nanoseconds, `burst * interval` when full.
struct Bucket {
    interval: u128,
    burst: u32,
    credit: u128,
}

impl Bucket {
    fn capacity(&self) -> u128 {
        self.interval * u128::from(self.burst)
    }

    fn advance(&mut self, nanos: u64) {
        self.credit = (self.credit + u128::from(nanos)).min(self.capacity());
    }

    /// `Ok` when admitted; `Err(None)` when `n` exceeds the burst,
    /// `Err(Some(wait))` otherwise.
    fn acquire(&mut self, n: u32) -> Result<(), Option<u128>> {
        if n == 0 {
            return Ok(());
        }
        if n > self.burst {
            return Err(None);
        }
        let cost = self.interval * u128::from(n);
        if cost <= self.credit {
            self.credit -= cost;
            Ok(())
        } else {
            Err(Some(cost - self.credit))
        }
    }

    fn available(&self) -> u32 {
        u32::try_from(self.credit / self.interval).unwrap()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn limiter_agrees_with_a_token_bucket_model(
        rate in 1u32..2_000,
        per_ms in 1u64..20_000,
        burst in 1u32..50,
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        let per = Duration::from_millis(per_ms);
        let config = RateLimiterConfig::new(rate, per).burst(burst);
        let clock = ManualClock::new();
        let limiter = RateLimiter::with_clock(config.clone(), clock.clone()).unwrap();
        let interval = config.emission_interval().unwrap().as_nanos();
        prop_assert_eq!(interval, per.as_nanos() / u128::from(rate));
        let mut model = Bucket { interval, burst, credit: interval * u128::from(burst) };
        prop_assert_eq!(limiter.available(), burst, "a new limiter holds its whole burst");
        for op in ops {
            match op {
                Op::Advance(nanos) => {
                    clock.advance(Duration::from_nanos(nanos));
                    model.advance(nanos);
                }
                Op::Acquire(n) => {
                    let got = limiter.try_acquire_n(n);
                    let want = model.acquire(n);
                    match (&got, want) {
                        (Ok(()), Ok(())) => {}
                        (Err(e), Err(None)) => prop_assert!(e.exceeds_burst(), "{e}"),
                        (Err(e), Err(Some(wait))) => {
                            prop_assert!(!e.exceeds_burst());
                            prop_assert_eq!(e.retry_after().as_nanos(), wait, "retry_after of {} permits", n);
                            prop_assert_eq!(e.requested(), n);
                        }
                        (got, want) => prop_assert!(false, "limiter {:?}, model {:?} for {} permits", got, want, n),
                    }
                }
            }
            prop_assert_eq!(limiter.available(), model.available());
        }
    }

    #[test]
    fn waiting_retry_after_is_always_enough_and_never_more(
        rate in 1u32..1_000,
        per_ms in 1u64..10_000,
        burst in 1u32..20,
        spend in 1u32..20,
        n in 1u32..20,
    ) {
        let clock = ManualClock::new();
        let limiter = RateLimiter::with_clock(
            RateLimiterConfig::new(rate, Duration::from_millis(per_ms)).burst(burst),
            clock.clone(),
        ).unwrap();
        let _ = limiter.try_acquire_n(spend.min(burst));
        if let Err(e) = limiter.try_acquire_n(n) {
            if !e.exceeds_burst() {
                let wait = e.retry_after();
                prop_assert!(wait > Duration::ZERO);
                clock.advance(wait - Duration::from_nanos(1));
                prop_assert!(limiter.try_acquire_n(n).is_err(), "one nanosecond early is refused");
                clock.advance(Duration::from_nanos(1));
                prop_assert!(limiter.try_acquire_n(n).is_ok(), "after retry_after the permits are there");
            } else {
                prop_assert!(n > burst);
            }
        }
    }
}
